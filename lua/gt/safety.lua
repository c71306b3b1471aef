--- gt.safety: what removing a polecat would lose (docs/design.md §4.3; docs/design-notes.md).
--
-- Work is safe when it exists somewhere else. A polecat holds unsaved work when its worktree has
-- uncommitted changes (staged, unstaged, conflicted; edits hidden by assume-unchanged or
-- skip-worktree flags included), untracked files (ignored ones are disposable by definition),
-- stashes made on its branch (stashes are shared by every worktree of the repository, so only
-- those naming the branch count), or commits on no remote-tracking branch; when one of its
-- submodules holds any of these; or when files were put beside the worktree, in the polecat's
-- folder. A branch whose changes are already in origin/<default> counts as safe, squash-merged
-- included: it is merged into the default tip in memory, and if the result is the default tip's
-- own tree, nothing would be lost.
--
-- What the classification cannot read is not safe: a folder or file it cannot open, a
-- worktree it cannot open at all. Some work cannot be saved by a salvage (a repository nested
-- in the worktree, a submodule's commits and files, what cannot be read): `savable` is false
-- then, and even --force refuses. The managed repository's own settings (a submodule's
-- `ignore = dirty` in .gitmodules) never lower this gate.
local fs = require("gt.fs")
local errors = require("gt.errors")
local output = require("gt.output")
local git = require("gt.git")
local snapshot = require("gt.snapshot")
local layout = require("gt.layout")

local safety = {}

local function append_unique(list, seen, items)
  for _, item in ipairs(items) do
    if not seen[item.oid] then
      seen[item.oid] = true
      list[#list + 1] = item
    end
  end
end

local function unreadable(report, path, reason)
  report.unreadable[#report.unreadable + 1] = { path = path, reason = reason }
end

--- Returns true if every change of commit `tip` is already in `base` (both revisions of repo);
--- false when base does not resolve.
function safety.absorbed(repo, base, tip)
  if not repo:resolve(base) then return false end
  local merged = repo:merge_trees(base, tip)
  return merged ~= nil and merged == repo:tree_of(base)
end

--- Commits reachable from `tips` (commit ids of `repo`) and from no remote-tracking ref:
--- the list (at most `limit`, newest first), their total, and whether all are absorbed into
--- `base` (a revision; nil: never).
function safety.unpushed(repo, tips, base, limit)
  local list, seen, total, all_absorbed = {}, {}, 0, true
  local counted = {}
  for _, tip in ipairs(tips) do
    if counted[tip] then goto next_tip end
    counted[tip] = true
    local commits, n, code = repo:commits_not_on(tip, "refs/remotes/*", limit)
    errors.check_doing("listing commits of " .. tip, commits, n, code)
    if n > 0 then
      append_unique(list, seen, commits)
      total = total + n
      if not (base and safety.absorbed(repo, base, tip)) then all_absorbed = false end
    end
    ::next_tip::
  end
  return list, total, total > 0 and all_absorbed
end

--- Reads the status of the worktree open as `w` into report (a classification), with
--- `keep` the patterns of ignored files --force keeps: one walk of the worktree, ignored folders
--- included (what git's status skips without a word: folders it cannot read, ignored content).
--- The repositories nested in it (ignored folders included) go in report.repos. Returns the
--- worktree's HEAD.
local function read_worktree(report, w, keep)
  local status, serr = w:status({ ignored = true, keep = keep })
  if not status then
    unreadable(report, ".", serr)
  else
    report.staged, report.unstaged = status.staged, status.unstaged
    report.untracked, report.conflicted = status.untracked, status.conflicted
    for _, p in ipairs(status.unreadable) do unreadable(report, p, "cannot be read") end
    for _, u in ipairs(status.blocked) do unreadable(report, u.path, u.reason) end
    for _, p in ipairs(status.nested) do report.repos[#report.repos + 1] = (p:gsub("/$", "")) end
    report.ignored = status.ignored
  end
  table.sort(report.repos)
  return w:head()
end

--- A classification of a repository inside a worktree (a submodule's, or one nested in it).
local function repo_entry(path)
  return { path = path, staged = {}, unstaged = {}, untracked = {}, conflicted = {}, stashes = {},
    unpushed = {}, unpushed_total = 0, unreadable = {}, repos = {}, nested = {}, submodules = {},
    ignored = { files = 0, bytes = 0, kept = {} } }
end

local read_repositories -- below: a repository may hold repositories too

--- Classifies the repository open as `r`, whose working tree is `dir`, into `entry`: what it
--- holds that its own remotes lack. `gitlinks`: commits its superproject names for it.
local function read_repository(entry, r, dir, gitlinks, depth, gitdirs)
  gitdirs[fs.realpath(r:gitdir()) or r:gitdir()] = true
  local head = read_worktree(entry, r, nil)
  entry.stashes = errors.check(r:stashes())
  local tips = {}
  for _, oid in ipairs({ head and head.oid or false, table.unpack(gitlinks) }) do
    if oid and r:resolve(oid) then tips[#tips + 1] = oid end
  end
  for _, b in ipairs(errors.check(r:refs("refs/heads/*"))) do tips[#tips + 1] = b.oid end
  entry.unpushed, entry.unpushed_total = safety.unpushed(r, tips, nil, 3)
  if depth < 8 then read_repositories(entry, r, dir, depth + 1, gitdirs) end
  entry.held = #entry.staged + #entry.unstaged + #entry.untracked + #entry.conflicted +
    #entry.stashes + entry.unpushed_total + #entry.unreadable + #entry.nested +
    #entry.submodules > 0
end

--- Classifies the repositories in the worktree `w` (at `path`): its submodules (whatever
--- .gitmodules says about ignoring them) into report.submodules and the repositories nested in
--- it (report.repos) into report.nested, those that hold anything their own remotes lack.
--- `gitdirs` collects the git folders classified.
function read_repositories(report, w, path, depth, gitdirs)
  local subs, err = w:submodules()
  if not subs then return unreadable(report, ".gitmodules", err) end
  for _, sub in ipairs(subs) do
    local dir = path .. "/" .. sub.path
    local entry = repo_entry(sub.path)
    local r = sub.workdir and git.open(dir)
    if r then
      read_repository(entry, r, dir, { sub.head or false, sub.index or false }, depth, gitdirs)
      r:close()
    elseif fs.dir(dir) and #fs.dir(dir) > 0 then
      -- Not checked out, yet something is there: git's status would not show it.
      entry.untracked = { sub.path .. "/" }
      entry.held = true
    end
    if entry.held then report.submodules[#report.submodules + 1] = entry end
  end
  for _, p in ipairs(report.repos) do
    local dir = path .. "/" .. p
    local entry = repo_entry(p)
    local r, rerr = git.open(dir)
    if r then
      read_repository(entry, r, dir, {}, depth, gitdirs)
      r:close()
    else
      unreadable(entry, ".", rerr)
      entry.held = true
    end
    if entry.held then report.nested[#report.nested + 1] = entry end
  end
end

--- The repositories of submodules that git keeps in its record of a worktree (the folder
--- `admin`, .repo.git/worktrees/<name>), checked out or not: { {gitdir, path}... }, a submodule
--- named a/b kept as modules/a/b, one of a submodule under its modules/.
function safety.module_gitdirs(admin)
  local list = {}
  local function walk(dir, prefix)
    for _, n in ipairs(fs.dir(dir) or {}) do
      local gitdir = dir .. "/" .. n
      if fs.stat(gitdir .. "/HEAD") and fs.stat(gitdir .. "/objects") then
        list[#list + 1] = { gitdir = gitdir, path = prefix .. n }
        walk(gitdir .. "/modules", prefix .. n .. "/")
      elseif fs.stat(gitdir) and fs.stat(gitdir).type == "directory" then
        walk(gitdir, prefix .. n .. "/")
      end
    end
  end
  walk(admin .. "/modules", "")
  return list
end

--- Classifies the repositories of submodules that git keeps in its record of the worktree
--- (`admin`/modules) and that were not classified through a checkout (`gitdirs`): one
--- deinitialised, say, is pruned with the record. Those that hold anything go in
--- report.submodules.
local function read_modules(report, admin, gitdirs)
  for _, m in ipairs(safety.module_gitdirs(admin)) do
    if not gitdirs[fs.realpath(m.gitdir) or m.gitdir] then
      local r <close>, err = git.open(m.gitdir, { bare = true })
      local entry = repo_entry(m.path .. " (not checked out)")
      if not r then
        unreadable(entry, m.gitdir, err)
      else
        entry.stashes = errors.check(r:stashes())
        local tips = {}
        for _, b in ipairs(errors.check(r:refs("refs/heads/*"))) do tips[#tips + 1] = b.oid end
        local head = r:head()
        if head and head.oid then tips[#tips + 1] = head.oid end
        entry.unpushed, entry.unpushed_total = safety.unpushed(r, tips, nil, 3)
      end
      if #entry.stashes + entry.unpushed_total + #entry.unreadable > 0 then
        entry.where = m.gitdir
        report.submodules[#report.submodules + 1] = entry
      end
    end
  end
end

--- Classifies the worktree, folder and branch of `agent` (a ledger row) in `rig`. Returns a
--- report: { safe, savable, staged, unstaged, untracked, conflicted (paths), stashes ({index,
--- message, oid}), unpushed ({oid, summary}), unpushed_total, absorbed, head, branch_tip,
--- worktree_missing, unreadable ({path, reason}), repos (paths of the repositories nested in the
--- worktree), nested and submodules (the classifications of those nested repositories and
--- submodules that hold work: {path, staged, unstaged, untracked, stashes, unpushed_total, ...}),
--- strays (names of what is beside the worktree in the polecat's folder), ignored ({files,
--- bytes, kept}: ignored content, and the ignored files that match the rig's keep_ignored
--- patterns, which --force saves) }.
function safety.classify(rig, agent)
  local repo = rig:repo()
  local report = { name = agent.name, branch = agent.branch, path = agent.worktree, staged = {},
    unstaged = {}, untracked = {}, conflicted = {}, stashes = {}, unpushed = {}, unpushed_total = 0,
    absorbed = false, worktree_missing = false, unreadable = {}, repos = {}, nested = {},
    submodules = {}, strays = {}, ignored = { files = 0, bytes = 0, kept = {} } }
  local gitdirs = {}
  local short = agent.branch and agent.branch:match("^refs/heads/(.+)$") or agent.branch
  local head_branch
  local path = agent.worktree
  if path and fs.stat(path) then
    local w <close>, err = git.open(path)
    if not w then
      unreadable(report, ".", err)
    else
      local head = read_worktree(report, w, rig:option("keep_ignored"))
      if head then
        report.head = head.oid
        head_branch = head.ref and head.ref:match("^refs/heads/(.+)$")
      end
      read_repositories(report, w, path, 1, gitdirs)
    end
  else
    report.worktree_missing = true
  end
  read_modules(report, layout.worktree_admin(repo:commondir(), agent.name), gitdirs)
  local home = rig:home(agent.name)
  if fs.lstat(home) then
    local names, derr = fs.dir(home)
    if not names then unreadable(report, home, derr) end
    for _, n in ipairs(names or {}) do
      if n ~= rig.name then report.strays[#report.strays + 1] = n end
    end
    table.sort(report.strays)
    if #report.strays > 0 then
      local s <close> = errors.check(snapshot.open(repo, home, { all = true, only = report.strays }))
      local found = errors.check(s:scan())
      for _, u in ipairs(found.unreadable) do unreadable(report, home .. "/" .. u.path, u.reason) end
      for _, p in ipairs(found.nested) do
        -- A repository beside the worktree: a salvage cannot hold it.
        local entry = repo_entry(home .. "/" .. p)
        entry.beside = true
        report.nested[#report.nested + 1] = entry
      end
    end
  end

  local seen_stash = {}
  if short then append_unique(report.stashes, seen_stash, errors.check(repo:stashes(short))) end
  if head_branch and head_branch ~= short then
    append_unique(report.stashes, seen_stash, errors.check(repo:stashes(head_branch)))
  end

  local tips = {}
  if report.head then tips[#tips + 1] = report.head end
  report.branch_tip = short and repo:branch_lookup(short) or nil
  if report.branch_tip and report.branch_tip ~= report.head then tips[#tips + 1] = report.branch_tip end
  report.unpushed, report.unpushed_total, report.absorbed = safety.unpushed(repo, tips, rig:start_ref(), 20)

  report.savable = #report.unreadable == 0 and #report.nested == 0 and #report.submodules == 0
  report.safe = report.savable and #report.staged == 0 and #report.unstaged == 0 and
    #report.untracked == 0 and #report.conflicted == 0 and #report.stashes == 0 and
    #report.strays == 0 and (report.unpushed_total == 0 or report.absorbed)
  return report
end

local count = output.count

--- What a submodule entry holds, in a few words.
local function held(entry)
  local parts = {}
  local function add(n, one, many) if n > 0 then parts[#parts + 1] = count(n, one, many) end end
  add(entry.unpushed_total, "commit on no remote", "commits on no remote")
  add(#entry.staged + #entry.unstaged + #entry.conflicted, "uncommitted change", "uncommitted changes")
  add(#entry.untracked, "untracked file", "untracked files")
  add(#entry.stashes, "stash", "stashes")
  add(#entry.unreadable, "unreadable path", "unreadable paths")
  add(#entry.nested, "nested repository", "nested repositories")
  add(#entry.submodules, "submodule with work", "submodules with work")
  return table.concat(parts, ", ")
end

--- Describes what a report says would be lost, one line per kind (empty when safe).
function safety.describe(report)
  local lines = {}
  for _, u in ipairs(report.unreadable) do
    lines[#lines + 1] = ("%s could not be read (%s): gt cannot tell what it holds"):format(
      u.path == "." and "the worktree" or u.path, u.reason)
  end
  for _, n in ipairs(report.nested) do
    if n.beside then
      lines[#lines + 1] = ("repository beside the worktree: %s (gt cannot save it: move it " ..
        "out of the polecat's folder)"):format(n.path)
    else
      lines[#lines + 1] = ("repository nested in the worktree: %s/: %s (gt cannot save it: commit " ..
        "and push its work from %s/%s, or move it out)"):format(n.path, held(n), report.path or "", n.path)
    end
  end
  for _, sub in ipairs(report.submodules) do
    lines[#lines + 1] = ("submodule %s: %s (gt cannot save a submodule's work: commit and push " ..
      "it from %s)"):format(sub.path, held(sub), sub.where or ((report.path or "") .. "/" .. sub.path))
  end
  if #report.staged > 0 then
    lines[#lines + 1] = count(#report.staged, "staged change", "staged changes") .. ": " ..
      output.some(report.staged, 5)
  end
  if #report.unstaged > 0 then
    lines[#lines + 1] = count(#report.unstaged, "uncommitted change", "uncommitted changes") ..
      ": " .. output.some(report.unstaged, 5)
  end
  if #report.untracked > 0 then
    lines[#lines + 1] = count(#report.untracked, "untracked file", "untracked files") .. ": " ..
      output.some(report.untracked, 5)
  end
  if #report.conflicted > 0 then
    lines[#lines + 1] = count(#report.conflicted, "conflicted file", "conflicted files") .. ": " ..
      output.some(report.conflicted, 5)
  end
  if #report.strays > 0 then
    lines[#lines + 1] = count(#report.strays, "entry", "entries") .. " beside the worktree, in its " ..
      "polecat's folder: " .. output.some(report.strays, 5)
  end
  if #report.stashes > 0 then
    local msgs = {}
    for i, s in ipairs(report.stashes) do msgs[i] = ("stash@{%d} %s"):format(s.index, s.message) end
    lines[#lines + 1] = count(#report.stashes, "stash", "stashes") .. ": " .. output.some(msgs, 3)
  end
  if report.unpushed_total > 0 and not report.absorbed then
    local msgs = {}
    for i, c in ipairs(report.unpushed) do msgs[i] = c.oid:sub(1, 10) .. " " .. c.summary end
    lines[#lines + 1] = count(report.unpushed_total, "commit on no remote", "commits on no remote") ..
      ": " .. output.some(msgs, 3)
  end
  return lines
end

--- A size in bytes for people ("12.3 MB").
local function size(bytes)
  local units, i = { "bytes", "kB", "MB", "GB", "TB" }, 1
  local n = bytes
  while n >= 1000 and i < #units do n, i = n / 1000, i + 1 end
  return i == 1 and ("%d %s"):format(n, units[i]) or ("%.1f %s"):format(n, units[i])
end

--- Describes the ignored content a removal deletes (nil when there is none): how much, and
--- which files --force keeps.
function safety.describe_ignored(report)
  local ig = report.ignored
  if not ig or ig.files == 0 then return nil end
  local line = ("ignored files, deleted by a remove: %s (%s)"):format(
    count(ig.files, "file", "files"), size(ig.bytes))
  if #ig.kept > 0 then line = line .. "; --force saves " .. output.some(ig.kept, 5) end
  return line
end

return safety
