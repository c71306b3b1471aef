--- gt.reap: the one way gt takes a polecat apart: its folder, git's record of its worktree and
--- its branch. A remove, the rollback of a failed add, the recovery of a killed command and
--- gt doctor all come here, so that every deletion is proven safe the same way
--- (docs/design-notes.md, "Deleting without losing work"):
---
---  1. prove: what the folder holds is taken as trees (gt.snapshot), where it is, and compared
---     with what is known to be saved elsewhere (facts.covered: the trees of a salvage, of HEAD,
---     of the start commit). Every repository in it (a submodule's, one nested in the worktree,
---     a submodule's git folder kept in git's record of the worktree) must hold nothing its own
---     remotes lack: gt cannot save those. Anything else unsaved is saved now, in a new salvage,
---     or the command refuses, having changed nothing, as the caller's policy says.
---  2. move: the folder is renamed aside (polecats/.trash-<name>-<stamp>) in one step, so that
---     nothing reaches it by its old path any more. The journal learns the new name first.
---  3. delete: only files exactly as they were taken go. A file that changes or appears after
---     the proof stops the deletion, and the next command (or gt doctor --fix) starts again at 1,
---     on the folder where it was moved.
---  4. git's record of the worktree is pruned, and the branch is deleted only while it is at the
---     commit that was proven safe; a tip that moved meanwhile is saved first.
---
--- The facts are a plain table, kept in the journal (the operation's data), so that a killed
--- command can be finished from them alone: { id, name, home, trash, branch, tip, head,
--- covered = {tree ids}, strays_covered, keep, salvage, salvage_commit, discard, delete_branch,
--- entry, record }.
---
--- A removal that returns at once (gt polecat remove) splits this: reap.detach moves the folder
--- and git's record into a trash entry (<rig>/.gt/trash/<name>-<stamp>/home and record) and
--- deletes the branch (4); reap.empty, in a background deleter (gt.trash), does 1 and 3 there.
local fs = require("gt.fs")
local sys = require("gt.sys")
local errors = require("gt.errors")
local output = require("gt.output")
local progress = require("gt.progress")
local branch = require("gt.branch")
local store = require("gt.store")
local git = require("gt.git")
local snapshot = require("gt.snapshot")
local salvage = require("gt.salvage")
local safety = require("gt.safety")
local fault = require("gt.fault")
local layout = require("gt.layout")

local reap = {}

local check_doing = errors.check_doing

--- A new name for polecat `name`'s folder while it is taken apart; it cannot be a polecat's
--- (names start with a letter or digit).
function reap.trash_path(rig, name)
  return layout.trash(rig.root, name, branch.base36(sys.now_ms()))
end

--- The paths of tree `tree` that are in none of the trees `covered` (added or changed there;
--- a path that is only gone is not work). Sorted.
function reap.uncovered(repo, tree, covered)
  local result
  for _, c in ipairs(covered) do
    if c == tree then return {} end
  end
  for _, base in ipairs(#covered > 0 and covered or { false }) do
    local set = {}
    for _, d in ipairs(check_doing("comparing trees", repo:diff_trees(base or nil, tree))) do
      if d.status ~= "deleted" then set[d.path] = true end
    end
    if result then
      for p in pairs(result) do
        if not set[p] then result[p] = nil end
      end
    else
      result = set
    end
  end
  local list = {}
  for p in pairs(result or {}) do list[#list + 1] = p end
  table.sort(list)
  return list
end

--- Whether `tip` (a commit of repo) holds anything no remote-tracking ref has: returns the
--- number of such commits (0 when all are pushed, or merged into `base`).
local function unpushed_count(repo, tip, base)
  local _, total, absorbed = safety.unpushed(repo, { tip }, base, 1)
  return absorbed and 0 or total
end

--- The git folder of the checkout in `dir`: its .git folder, or the one its .git file names
--- (relative to `dir`), or nil when there is none.
function reap.gitdir_of(dir)
  local st = fs.lstat(dir .. "/.git")
  if not st then return nil end
  if st.type == "directory" then return dir .. "/.git" end
  local text = fs.read_file(dir .. "/.git", { max_bytes = 4096 })
  local target = text and text:match("^gitdir: ([^\n]+)")
  if not target then return nil end
  return target:sub(1, 1) == "/" and target or (dir .. "/" .. target)
end

--- What the repository open as `r` holds that its remotes lack, besides its working tree: its
--- commits on no remote-tracking ref (from HEAD and every local branch), and its stashes.
local function repository_holds(r, held)
  local head = r:head()
  local tips = { head and head.oid or nil }
  for _, b in ipairs(errors.check(r:refs("refs/heads/*"))) do tips[#tips + 1] = b.oid end
  for _, tip in ipairs(tips) do
    if unpushed_count(r, tip) > 0 then
      held[#held + 1] = "commits on no remote"
      break
    end
  end
  if #errors.check(r:stashes()) > 0 then held[#held + 1] = "stashes" end
  return head
end

local prove_worktree -- defined below: a repository's working tree may hold repositories too

--- Proves the repository whose working tree is `dir` (git folder `gitdir`; `path`, for
--- messages) holds nothing its own remotes lack, its files taken to be removed later: appends
--- { dir, snap, gitdir } entries to `found`, deepest last. Raises a refusal naming it otherwise.
local function prove_repository(path, dir, gitdir, found, depth)
  -- Opened bare, with its folder given: a submodule's core.worktree may name where the folder
  -- was before it was moved aside.
  local r <close> = check_doing("opening repository " .. path, git.open(gitdir, { bare = true, workdir = dir }))
  local held = {}
  local head = repository_holds(r, held)
  local entry = { dir = dir, gitdir = r:gitdir() }
  found[#found + 1] = entry
  local tree, index_tree
  entry.snap, tree, index_tree = prove_worktree(r, r, dir, r:gitdir() .. "index", found, depth)
  local saved = { head and head.oid and errors.check(r:tree_of(head.oid)) or nil }
  local lost = reap.uncovered(r, tree, saved)
  if #lost > 0 then held[#held + 1] = "files not committed: " .. output.some(lost, 3) end
  if index_tree and #reap.uncovered(r, index_tree, { tree, saved[1] }) > 0 then
    held[#held + 1] = "staged changes"
  end
  if #held > 0 then
    errors.raise("refused", "the repository %s holds work gt cannot save (%s): commit and push it " ..
      "from %s", path, table.concat(held, "; "), dir)
  end
end

--- Takes the working tree `dir` of repository `repo` (its index file `index`; `checkout`: the
--- same repository open with that working tree, which lists its submodules), after proving the
--- repositories in it (its submodules, and any nested in it, ignored folders included), which
--- go in `found`. `keep`: the ignored files to take too. Returns the open snapshot, the tree and
--- the index tree.
function prove_worktree(repo, checkout, dir, index, found, depth, keep)
  local s, err, code = snapshot.open(repo, dir, { index = index })
  if not s then check_doing("reading " .. dir, s, err, code) end
  local ok, tree, index_tree = pcall(function()
    local scanned = errors.check(s:scan())
    if #scanned.unreadable > 0 then
      errors.raise("refused", "%s/%s could not be read (%s): gt cannot tell what it holds", dir,
        scanned.unreadable[1].path, scanned.unreadable[1].reason)
    end
    if depth < 8 then
      for _, sub in ipairs(checkout and checkout:submodules() or {}) do
        local subdir = dir .. "/" .. sub.path
        local gitdir = reap.gitdir_of(subdir)
        if gitdir then prove_repository(sub.path, subdir, gitdir, found, depth + 1) end
      end
      for _, path in ipairs(scanned.nested) do
        local nested = dir .. "/" .. path
        prove_repository(path, nested, reap.gitdir_of(nested) or (nested .. "/.git"), found, depth + 1)
      end
    end
    local t, it, tcode = s:take({ keep = keep, skip = scanned.nested })
    if not t then
      if tcode == "EINTR" then errors.raise("interrupted", "interrupted") end
      errors.raise("refused", "could not save what %s holds: %s", dir, it)
    end
    return t, it
  end)
  if not ok then
    s:close()
    error(tree, 0)
  end
  return s, tree, index_tree
end

--- Where git's record of polecat facts.name's worktree is: in the trash entry, once a removal
--- that returns at once moved it there (facts.record), else in the repository.
local function record_of(rig, facts)
  if facts.record and fs.lstat(facts.record) then return facts.record, true end
  return layout.worktree_admin(rig:repo():commondir(), facts.name), false
end

--- The git folders under git's record of polecat facts.name's worktree (`modules/`: the
--- repositories of its submodules, checked out or not), each proven to hold nothing its
--- remotes lack, unless `proven` (a set of git folders) has it. Raises a refusal otherwise.
local function prove_modules(rig, facts, proven)
  for _, m in ipairs(safety.module_gitdirs((record_of(rig, facts)))) do
    if not proven[fs.realpath(m.gitdir) or m.gitdir] then
      local r <close> = check_doing("opening " .. m.gitdir, git.open(m.gitdir, { bare = true }))
      local held = {}
      repository_holds(r, held)
      if #held > 0 then
        errors.raise("refused", "the repository of submodule %s (%s) holds work gt cannot " ..
          "save (%s): check it out and push it, or push from it: git --git-dir=%s push",
          m.path, m.gitdir, table.concat(held, "; "), m.gitdir)
      end
    end
  end
end

--- Proves what polecat facts.name's folder `dir` holds (see the top of this file). Returns the
--- proof: { dir, wsnap, tree, index_tree, ssnap, strays, found (repositories), lines (what is
--- not saved), open (snapshots to close) }. `moved`: the folder was moved aside already.
local function prove(rig, facts, dir, moved)
  local repo = rig:repo()
  local proof = { dir = dir, lines = {}, found = {} }
  proof.open = setmetatable({}, { __close = function(list)
    for _, s in ipairs(list) do s:close() end
  end })
  -- A record moved into the trash is read from there; the worktree's .git file names where it
  -- was, which a new polecat of the name may have by now: it is never followed then.
  local record, record_moved = record_of(rig, facts)
  local function open_checkout(wt)
    if record_moved then return nil end
    return git.open(wt)
  end
  local ok, err = pcall(function()
    local wt = dir .. "/" .. rig.name
    if fs.lstat(wt) then
      if moved then
        -- Where the folder was moved, a submodule's config names the folder as it was: taking
        -- the worktree would open it. Proven to hold nothing their remotes lack, they go first.
        local w <close> = open_checkout(wt)
        for _, sub in ipairs(w and w:submodules() or {}) do
          local subdir = wt .. "/" .. sub.path
          local gitdir = reap.gitdir_of(subdir)
          if gitdir then
            local found = {}
            local pok, perr = pcall(prove_repository, sub.path, subdir, gitdir, found, 2)
            for _, e in ipairs(found) do proof.open[#proof.open + 1] = e.snap end
            if not pok then error(perr, 0) end
            reap.delete_repositories(found)
          end
        end
      end
      local found = proof.found
      local w <close> = open_checkout(wt)
      local pok, s, tree, index_tree = pcall(prove_worktree, repo, w, wt, record .. "/index", found, 1,
        facts.keep)
      for _, e in ipairs(found) do proof.open[#proof.open + 1] = e.snap end
      if not pok then error(s, 0) end
      proof.open[#proof.open + 1] = s
      proof.wt, proof.wsnap, proof.tree, proof.index_tree = wt, s, tree, index_tree
      local proven = {}
      for _, e in ipairs(found) do proven[fs.realpath(e.gitdir) or e.gitdir] = true end
      prove_modules(rig, facts, proven)
      local lost = reap.uncovered(repo, tree, facts.covered)
      local is_repo = {}
      for _, e in ipairs(found) do is_repo[e.dir:sub(#wt + 2)] = true end
      local unsaved = {}
      for _, p in ipairs(lost) do
        if not is_repo[p] then unsaved[#unsaved + 1] = p end -- a gitlink: proven above
      end
      if #unsaved > 0 then proof.lines[#proof.lines + 1] = "files not saved: " .. output.some(unsaved, 5) end
      if index_tree then
        local staged = {}
        for _, p in ipairs(reap.uncovered(repo, index_tree, { tree, table.unpack(facts.covered) })) do
          if not is_repo[p] then staged[#staged + 1] = p end
        end
        if #staged > 0 then proof.lines[#proof.lines + 1] = "staged changes: " .. output.some(staged, 5) end
      end
    else
      prove_modules(rig, facts, {})
    end
    local names = {}
    for _, n in ipairs(check_doing("reading " .. dir, fs.dir(dir))) do
      if n ~= rig.name then names[#names + 1] = n end
    end
    table.sort(names)
    if #names > 0 then
      proof.ssnap, proof.strays = salvage.take_strays(rig, facts.name, dir, names)
      proof.open[#proof.open + 1] = proof.ssnap
      local lost = reap.uncovered(repo, proof.strays, { facts.strays_covered })
      if #lost > 0 then proof.lines[#proof.lines + 1] = "files beside the worktree: " .. output.some(lost, 5) end
    end
  end)
  if not ok then
    getmetatable(proof.open).__close(proof.open)
    error(err, 0)
  end
  return proof
end

--- Deletes the repositories `found` proved (their files, as taken; their git folder when it is
--- inside), deepest first. `moved`: a function giving where a folder is now.
function reap.delete_repositories(found, moved, finish)
  finish = finish or function(ok, err, code) return check_doing("removing", ok, err, code) end
  moved = moved or function(d) return d end
  local list = { table.unpack(found) }
  table.sort(list, function(a, b) return #a.dir > #b.dir end)
  for _, e in ipairs(list) do
    local dir = moved(e.dir)
    finish(e.snap:remove({ dotgit = true, dir = dir }))
    local gitdir = fs.lstat(dir .. "/.git")
    if gitdir and gitdir.type == "directory" then
      -- Its repository lives here; all of it is on its remotes.
      finish(fs.remove_tree(dir .. "/.git"))
    end
  end
end

--- Saves what `proof` says is unsaved, or refuses, as `policy` says ("salvage", "restore":
--- the folder was not moved, so refusing changes nothing, "refuse").
local function settle(rig, facts, proof, policy, persist, result)
  local lines = proof.lines
  if #lines == 0 then return end
  if policy == "salvage" then
    local also = facts.salvage_commit and { { oid = facts.salvage_commit,
      what = salvage.LEGEND.earlier } } or nil
    local saved = salvage.write(rig, facts.name, facts.branch, { tree = proof.tree,
      index = proof.index_tree, strays = proof.strays, head = facts.head, tip = facts.tip,
      also = also, what = lines })
    if proof.tree then facts.covered[#facts.covered + 1] = proof.tree end
    if proof.index_tree then facts.covered[#facts.covered + 1] = proof.index_tree end
    facts.strays_covered = proof.strays
    facts.salvage, facts.salvage_commit = saved.ref, saved.commit
    persist(facts)
    result.salvages[#result.salvages + 1] = saved
    if facts.id then
      local db = rig.town:ledger()
      store.tx(db, function()
        store.event(db, facts.id, "salvaged", { ref = saved.ref, commit = saved.commit, lost = lines })
      end)
    end
  elseif policy == "restore" then
    local e = errors.new("refused", "polecat %s changed while it was being removed:\n  %s\n" ..
      "nothing was removed; run the command again (with --force to save this work)", facts.name,
      table.concat(lines, "\n  "))
    e.restored = true
    error(e, 0)
  else
    errors.raise("refused", "polecat %s holds work that is not saved:\n  %s\nnothing more was " ..
      "deleted; gt polecat remove --force %s saves it", facts.name, table.concat(lines, "\n  "),
      facts.name)
  end
end

--- Deletes what `proof` proved, the folder being at `dir` now. `midway`: called once the
--- worktree's files are gone, before what is beside it (a fault point of the background).
local function delete(facts, proof, dir, midway)
  local function finish(ok, err, code)
    if ok then return end
    if code == "EINTR" then errors.raise("interrupted", "interrupted") end
    errors.raise("failure", "removing polecat %s: %s; nothing unsaved was deleted: run the " ..
      "command again (or gt doctor --fix) to finish", facts.name, err)
  end
  local function moved(d) return dir .. d:sub(#proof.dir + 1) end
  -- The files deleted, counted on a terminal (gt.progress) across the removes below.
  local bar <close> = progress.start("Deleting files")
  local deleted = 0
  local function counted(opts)
    if not bar.callback then return opts end
    local before = deleted
    opts.progress = function(n)
      deleted = before + n
      bar:update(deleted)
    end
    return opts
  end
  reap.delete_repositories(proof.found, moved, finish)
  if proof.wsnap then
    finish(proof.wsnap:remove(counted({ dotgit = true, dir = moved(proof.wt) })))
    finish(fs.rmdir(moved(proof.wt)))
  end
  if midway then midway() end
  if proof.ssnap then finish(proof.ssnap:remove(counted({ dir = dir }))) end
  finish(fs.rmdir(dir))
end

--- Whether git's lock file at `path` was left by a process that died: no process has it open
--- and nothing touched it for 10 s (git holds a lock for a moment only; the lock holds no work,
--- only a write that never finished).
function reap.stale_lock(path)
  local st = fs.lstat(path)
  return st ~= nil and st.type == "file" and sys.now_ms() - st.mtime_ms >= 10000 and not sys.open_by(path)
end

--- Calls `method` of repo (a call that returns true | nil, err, code); when it fails on a stale
--- lock file (reap.stale_lock), removes that file, says so, and calls it once more.
function reap.unstale(repo, method, ...)
  local ok, err, code = repo[method](repo, ...)
  if ok or type(err) ~= "string" then return ok, err, code end
  local lockfile = err:match("'([^']+%.lock)'")
  if not lockfile or not reap.stale_lock(lockfile) then return ok, err, code end
  os.remove(lockfile)
  output.note("gt: removed %s, a lock file left by a process that died", lockfile)
  return repo[method](repo, ...)
end

--- Removes git's record of worktree `name` (unlocking it first), if there is one. The caller
--- holds the rig's git lock.
function reap.prune_record(repo, name)
  for _, wt in ipairs(errors.check(repo:worktrees())) do
    if wt.name == name and wt.broken then
      -- Half-written by a killed add; its index, if any, was proven saved with the folder.
      local admin = layout.worktree_admin(repo:commondir(), name)
      check_doing("removing " .. admin, fs.remove_tree(admin))
      return true
    elseif wt.name == name then
      check_doing("unlocking worktree " .. name, reap.unstale(repo, "worktree_unlock", name))
      check_doing("pruning worktree " .. name, reap.unstale(repo, "worktree_prune", name,
        { valid = true, locked = true }))
      return true
    end
  end
  return false
end

--- Deletes the branch while it is where it was proven safe; when it moved since (a commit made
--- during the removal) and its commits are not all on a remote, its tip is saved first.
local function delete_branch(rig, facts, result)
  local repo = rig:repo()
  local tip = repo:branch_lookup(facts.branch)
  if not tip then return end
  if tip ~= facts.tip and not facts.discard and unpushed_count(repo, tip, rig:start_ref()) > 0 then
    -- Commits made while the polecat was taken apart: saved as they are, like any salvage.
    local saved = salvage.keep_commit(rig, facts.name, tip)
    result.salvages[#result.salvages + 1] = saved
    if facts.id then
      local db = rig.town:ledger()
      store.tx(db, function()
        store.event(db, facts.id, "salvaged", { ref = saved.ref, commit = saved.commit,
          lost = { "commits made on " .. facts.branch .. " during the removal" } })
      end)
    end
  end
  local ok, err, code = reap.unstale(repo, "branch_delete", facts.branch, { expect = tip })
  if not ok and code == "ECHECKEDOUT" then
    output.warn("keeping branch %s: another worktree has it checked out", facts.branch)
    result.kept_branch = facts.branch
  elseif not ok and code == "ECHANGED" then
    output.warn("keeping branch %s: it moved while it was being deleted", facts.branch)
    result.kept_branch = facts.branch
  elseif not ok and code ~= "ENOTFOUND" then
    check_doing("deleting branch " .. facts.branch, nil, err, code)
  end
end

--- Takes apart what a removal moved aside: the folder at facts.trash (proven again, what is
--- unsaved settled by `policy`, then deleted as proven), git's record moved to facts.record
--- (once the repositories of its submodules are proven) and the trash entry facts.entry that
--- held them. at = { proven = fn (before the deletion), midway = fn (see delete) }.
local function empty_trash(rig, facts, policy, persist, result, at)
  if facts.trash and fs.lstat(facts.trash) then
    if facts.discard then
      check_doing("removing " .. facts.trash, fs.remove_tree(facts.trash))
    else
      local p = prove(rig, facts, facts.trash, true)
      local _ <close> = p.open
      settle(rig, facts, p, policy == "restore" and "refuse" or policy, persist, result)
      if at.proven then at.proven() end
      delete(facts, p, facts.trash, at.midway)
    end
  end
  if facts.record and fs.lstat(facts.record) then
    if not facts.discard then prove_modules(rig, facts, {}) end
    check_doing("removing " .. facts.record, fs.remove_tree(facts.record))
  end
  if facts.entry and fs.lstat(facts.entry) then
    -- Its lock file goes too (a deleter holding it keeps its hold): a later one finds no entry.
    os.remove(facts.entry .. "/lock")
    check_doing("removing " .. facts.entry, fs.rmdir(facts.entry))
  end
end

--- Takes polecat facts.name of `rig` apart: its folder (and a trash folder an earlier attempt
--- left), git's record of its worktree, and (with facts.delete_branch) its branch. policy, for
--- work that is not in facts.covered: "salvage" saves it first; "restore" refuses, marked
--- `restored` when nothing was moved or deleted; "refuse" refuses. A refusal because of a
--- repository gt cannot save is raised whatever the policy (facts.discard aside); so is a
--- refusal before anything was moved, marked `restored`. persist(facts) is called whenever the
--- facts change (to keep the journal up to date). Returns { salvages = {{ref, commit}...},
--- kept_branch }.
function reap.run(rig, facts, policy, persist)
  persist = persist or function() end
  facts.covered = facts.covered or {}
  local result = { salvages = {} }
  empty_trash(rig, facts, policy, persist, result, { proven = function() fault.point("reap.delete") end })
  if fs.lstat(facts.home) then
    if facts.discard then
      check_doing("removing " .. facts.home, fs.remove_tree(facts.home))
    else
      local checking <close> = progress.start("Reading the files of polecat " .. facts.name)
      checking:update() -- the label alone: the proof reads every file, and counts none
      local ok, p = xpcall(prove, errors.handler, rig, facts, facts.home, false)
      checking:finish()
      if ok then ok, p = xpcall(function()
        settle(rig, facts, p, policy, persist, result)
        return p
      end, errors.handler) end
      if not ok then
        if errors.is(p) then p.restored = true end -- nothing was moved or deleted
        error(p, 0)
      end
      local _ <close> = p.open
      facts.trash = reap.trash_path(rig, facts.name)
      persist(facts)
      fault.point("reap.move")
      local dir = facts.home
      local mok, err, code = fs.rename(facts.home, facts.trash)
      if mok then
        dir = facts.trash
      elseif code == "EXDEV" or code == "EBUSY" or code == "EINVALID" then
        facts.trash = nil -- another file system (a mount): deleted where it is
        persist(facts)
      else
        check_doing("moving " .. facts.home .. " aside", nil, err, code)
      end
      fault.point("reap.delete")
      delete(facts, p, dir)
    end
  end
  fault.point("reap.prune")
  local lk <close> = rig:lock("git", "gt polecat remove " .. facts.name)
  if not facts.discard then prove_modules(rig, facts, {}) end
  reap.prune_record(rig:repo(), facts.name)
  if facts.delete_branch and facts.branch then
    fault.point("reap.branch")
    delete_branch(rig, facts, result)
  end
  return result
end

--- Whether polecat `name`'s removal can return at once (reap.detach): its folder `home` is
--- there, holding the worktree `classified` (the path gt.safety.classify read: what is moved
--- is what the gate saw), and git's record of it holds no submodule's repository (those are
--- proven before anything moves, by reap.run: their config names the folder where it was). A
--- project with submodules that were never initialised (git.git's) holds none.
function reap.detachable(rig, name, home, classified)
  local admin = layout.worktree_admin(rig:repo():commondir(), name)
  return classified == layout.worktree(rig.root, rig.name, name) and
    fs.lstat(home) ~= nil and fs.lstat(admin .. "/gitdir") ~= nil and
    fs.lstat(admin .. "/modules") == nil
end

--- The part of a removal that cannot wait (gt polecat remove, which returns at once): polecat
--- facts.name's folder and git's record of its worktree are each renamed, in one step, into a
--- new trash entry (facts.entry, learnt by the journal first), and its branch is deleted while
--- it is at the commit proven safe (as reap.run does). Nothing is proven here: gt.safety.classify
--- (and the salvage of --force) was the gate; the folder is proven when the trash entry is
--- emptied (reap.empty), and anything written since is saved then. Returns { salvages,
--- kept_branch }, or nil when the folder cannot be renamed there (another file system): nothing
--- was moved, and reap.run takes it apart instead.
function reap.detach(rig, facts, persist)
  persist = persist or function() end
  facts.covered = facts.covered or {}
  local result = { salvages = {} }
  local entry = layout.trash_entry(rig.root, facts.name, branch.base36(sys.now_ms()))
  facts.entry, facts.trash, facts.record = entry, entry .. "/home", entry .. "/record"
  persist(facts)
  check_doing("creating " .. entry, fs.mkdir_p(entry))
  local ok, err, code = fs.rename(facts.home, facts.trash)
  if not ok then
    fs.rmdir(entry)
    facts.entry, facts.trash, facts.record = nil, nil, nil
    persist(facts)
    if code == "EXDEV" or code == "EBUSY" or code == "EINVALID" then return nil end
    check_doing("moving " .. facts.home .. " aside", nil, err, code)
  end
  local lk <close> = rig:lock("git", "gt polecat remove " .. facts.name)
  local repo = rig:repo()
  ok = fs.rename(layout.worktree_admin(repo:commondir(), facts.name), facts.record)
  if not ok then
    -- Not movable (or gone): pruned where it is; the proof then reads every file.
    facts.record = nil
    persist(facts)
    reap.prune_record(repo, facts.name)
  end
  fault.point("remove.moved")
  if facts.delete_branch and facts.branch then
    delete_branch(rig, facts, result)
  end
  return result
end

--- Empties the trash entry reap.detach made for facts.name (the background deleter of
--- gt.trash, holding the entry's lock, or recovery): what the folder holds is proven, and
--- anything unsaved (written after the polecat was classified) is saved in a salvage before
--- the folder is deleted, file by file as proven; a file that changes meanwhile stops it
--- (ECHANGED), to be proven again by the next attempt. With facts.discard, deleted unproven.
--- Returns { salvages }.
function reap.empty(rig, facts, persist)
  facts.covered = facts.covered or {}
  local result = { salvages = {} }
  fault.point("trash.prove")
  empty_trash(rig, facts, "salvage", persist or function() end, result,
    { midway = function() fault.point("trash.delete") end })
  return result
end

--- What taking polecat facts.name apart would lose, found without changing anything: returns a
--- list of lines (empty when nothing would be lost).
function reap.inspect(rig, facts)
  local repo = rig:repo()
  local lines = {}
  for _, dir in ipairs({ facts.trash or false, facts.home }) do
    if dir and fs.lstat(dir) then
      local ok, err = pcall(function()
        -- (Never as moved: proving a moved folder deletes its submodules first.)
        local p = prove(rig, facts, dir, false)
        local _ <close> = p.open
        for _, l in ipairs(p.lines) do lines[#lines + 1] = l end
      end)
      if not ok then lines[#lines + 1] = errors.is(err) and err.message or tostring(err) end
    end
  end
  if facts.branch then
    local tip = repo:branch_lookup(facts.branch)
    if tip and tip ~= facts.tip then
      local n = unpushed_count(repo, tip, rig:start_ref())
      if n > 0 then lines[#lines + 1] = ("%d commits on no remote, on %s"):format(n, facts.branch) end
    end
  end
  return lines
end

return reap
