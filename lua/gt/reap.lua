--- gt.reap: the one way gt takes a polecat apart: its folder, git's record of its worktree and
--- its branch. A remove, the rollback of a failed add, the recovery of a killed command and
--- gt doctor all come here, so that every deletion is proven safe the same way
--- (docs/design-notes.md, "Deleting without losing work"):
---
---  1. move: the polecat's folder is renamed aside (polecats/.trash-<name>-<stamp>) in one
---     step, so that nothing reaches it by its old path any more. The journal learns the new
---     name first, so a killed command's next run finds it.
---  2. prove: what the folder holds is taken as trees (gt.snapshot) and compared with what is
---     known to be saved elsewhere (facts.covered: the trees of a salvage, of HEAD, of the start
---     commit). Anything else is saved now, in a new salvage, or the folder is put back and the
---     command refuses, as the caller's policy says.
---  3. delete: only files exactly as they were taken go. A file that changes or appears meanwhile
---     stops the deletion, and the next command (or gt doctor --fix) starts again at 2.
---  4. git's record of the worktree is pruned, and the branch is deleted only while it is at the
---     commit that was proven safe; a tip that moved meanwhile is saved first.
---
--- The facts are a plain table, kept in the journal (the operation's data), so that a killed
--- command can be finished from them alone: { id, name, home, trash, branch, tip, head,
--- covered = {tree ids}, strays_covered, keep, salvage, salvage_commit, discard, delete_branch }.
local fs = require("gt.fs")
local sys = require("gt.sys")
local errors = require("gt.errors")
local output = require("gt.output")
local branch = require("gt.branch")
local store = require("gt.store")
local worktree = require("gt.worktree")
local snapshot = require("gt.snapshot")
local salvage = require("gt.salvage")
local fault = require("gt.fault")

local reap = {}

local checked = errors.checked

--- A new name for polecat `name`'s folder while it is taken apart; it cannot be a polecat's
--- (names start with a letter or digit).
function reap.trash_path(rig, name)
  return ("%s/polecats/.trash-%s-%s"):format(rig.root, name, branch.base36(sys.now_ms()))
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
    for _, d in ipairs(checked("comparing trees", repo:diff_trees(base or nil, tree))) do
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
  local commits, total, code = repo:commits_not_on(tip, "refs/remotes/*", 1)
  checked("listing commits of " .. tip, commits, total, code)
  if total > 0 and base and require("gt.safety").absorbed(repo, base, tip) then return 0 end
  return total
end

local function some(list, max)
  local shown = {}
  for i = 1, math.min(#list, max) do shown[i] = list[i] end
  local s = table.concat(shown, ", ")
  if #list > max then s = s .. (", and %d more"):format(#list - max) end
  return s
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

--- Proves the submodules checked out in the worktree folder `wt` (open as `w`) hold nothing
--- their own remote does not have (gt cannot save a submodule's work), deepest last in `found`:
--- each entry is { path, dir, snap } with the submodule's files taken, to be removed later.
--- Raises a refusal naming the first that holds work.
local function prove_submodules(w, wt, found, depth)
  for _, sub in ipairs(w and w:submodules() or {}) do
    local dir = wt .. "/" .. sub.path
    local gitdir = reap.gitdir_of(dir)
    if gitdir then
      -- Opened bare, with its folder given: its core.worktree names where the folder was
      -- before it was moved aside.
      local r <close> = checked("opening submodule " .. sub.path,
        worktree.open(gitdir, { bare = true, workdir = dir }))
      local s = checked("reading " .. dir, snapshot.open(r, dir, { index = r:gitdir() .. "index" }))
      found[#found + 1] = { path = sub.path, dir = dir, snap = s }
      local tree = checked("reading " .. dir, s:take())
      local head = r:head()
      local held = {}
      if head and head.oid then
        local lost = reap.uncovered(r, tree, { errors.check(r:tree_of(head.oid)) })
        if #lost > 0 then held[#held + 1] = "uncommitted files: " .. some(lost, 3) end
      end
      -- Its repository goes with the worktree: every local branch must be on a remote.
      local tips = { head and head.oid or nil }
      for _, b in ipairs(errors.check(r:refs("refs/heads/*"))) do tips[#tips + 1] = b.oid end
      for _, tip in ipairs(tips) do
        if unpushed_count(r, tip) > 0 then
          held[#held + 1] = "commits on no remote"
          break
        end
      end
      if #errors.check(r:stashes()) > 0 then held[#held + 1] = "stashes" end
      if #held > 0 then
        errors.raise("refused", "submodule %s holds work gt cannot save (%s): commit and push it from %s",
          sub.path, table.concat(held, "; "), dir)
      end
      if depth < 8 then prove_submodules(r, dir, found, depth + 1) end
    end
  end
  return found
end

--- Deletes the submodules `found` proved, deepest first.
local function delete_submodules(found, finish)
  table.sort(found, function(a, b) return #a.dir > #b.dir end)
  for _, sub in ipairs(found) do
    finish(sub.snap:remove({ dotgit = true }))
    local gitdir = fs.lstat(sub.dir .. "/.git")
    if gitdir and gitdir.type == "directory" then
      -- An old-style submodule keeps its repository here; all of it is on its remote.
      finish(fs.remove_tree(sub.dir .. "/.git"))
    end
  end
end

--- Raised when the folder could not be proven safe and was put back where it was: nothing of
--- the polecat was deleted.
local function refuse_restored(facts, lines)
  local e = errors.new("refused", "polecat %s changed while it was being removed:\n  %s\n" ..
    "nothing was removed; run the command again (with --force to save this work)", facts.name,
    table.concat(lines, "\n  "))
  e.restored = true
  error(e, 0)
end

--- Proves that folder `dir` (the polecat's folder, moved aside or not) holds nothing unsaved,
--- saving it first if the policy says so, then deletes it.
local function prove_and_delete(rig, facts, dir, policy, persist, result, state)
  local function finish(ok, err, code)
    if ok then return end
    if code == "EINTR" then errors.raise("interrupted", "interrupted") end
    errors.raise("failure", "removing polecat %s: %s; nothing unsaved was deleted: run the " ..
      "command again (or gt doctor --fix) to finish", facts.name, err)
  end
  if facts.discard then
    checked("removing " .. dir, fs.remove_tree(dir))
    return
  end
  local repo = rig:repo()
  local wt = dir .. "/" .. rig.name
  local lines = {}
  -- The snapshots stay open until the end: removing uses what they saw.
  local open <close> = setmetatable({}, { __close = function(list)
    for _, s in ipairs(list) do s:close() end
  end })
  local wsnap, tree, index_tree, ssnap, strays
  local subs = {}
  if fs.lstat(wt) then
    local ok, err = pcall(function()
      local w <close> = worktree.open(wt)
      prove_submodules(w, wt, subs, 1)
    end)
    for _, sub in ipairs(subs) do open[#open + 1] = sub.snap end
    if not ok then error(err, 0) end
    -- Proven to hold nothing their remotes lack, the submodules go first: taking the worktree
    -- would open them, and their config names the folder as it was before it moved aside.
    delete_submodules(subs, finish)
    wsnap, tree, index_tree = salvage.take_worktree(rig, facts.name, wt, facts.keep, true)
    open[#open + 1] = wsnap
    -- A submodule's gitlink may differ from HEAD's: its own files were proven above.
    local is_sub = {}
    for _, sub in ipairs(subs) do is_sub[sub.path] = true end
    local lost = {}
    for _, p in ipairs(reap.uncovered(repo, tree, facts.covered)) do
      if not is_sub[p] then lost[#lost + 1] = p end
    end
    if #lost > 0 then lines[#lines + 1] = "files not saved: " .. some(lost, 5) end
    if index_tree then
      local staged = {}
      for _, p in ipairs(reap.uncovered(repo, index_tree, { tree, table.unpack(facts.covered) })) do
        if not is_sub[p] then staged[#staged + 1] = p end
      end
      if #staged > 0 then lines[#lines + 1] = "staged changes: " .. some(staged, 5) end
    end
  end
  local names = {}
  for _, n in ipairs(checked("reading " .. dir, fs.dir(dir))) do
    if n ~= rig.name then names[#names + 1] = n end
  end
  table.sort(names)
  if #names > 0 then
    ssnap, strays = salvage.take_strays(rig, facts.name, dir, names)
    open[#open + 1] = ssnap
    local lost = reap.uncovered(repo, strays, { facts.strays_covered })
    if #lost > 0 then lines[#lines + 1] = "files beside the worktree: " .. some(lost, 5) end
  end
  if #lines > 0 then
    if policy == "salvage" then
      local also = facts.salvage_commit and { { oid = facts.salvage_commit,
        what = "an earlier salvage of this removal" } } or nil
      local saved = salvage.write(rig, facts.name, facts.branch, { tree = tree,
        index = index_tree, strays = strays, head = facts.head, tip = facts.tip, also = also,
        what = lines })
      if tree then facts.covered[#facts.covered + 1] = tree end
      if index_tree then facts.covered[#facts.covered + 1] = index_tree end
      facts.strays_covered = strays
      facts.salvage, facts.salvage_commit = saved.ref, saved.commit
      persist(facts)
      result.salvages[#result.salvages + 1] = saved
      if facts.id then
        local db = rig.town:ledger()
        store.tx(db, function()
          store.event(db, facts.id, "salvaged", { ref = saved.ref, commit = saved.commit, lost = lines })
        end)
      end
    elseif policy == "restore" and dir ~= facts.home and not fs.lstat(facts.home) then
      for _, s in ipairs(open) do s:close() end
      checked("putting " .. facts.home .. " back", fs.rename(dir, facts.home))
      facts.trash = nil
      persist(facts)
      refuse_restored(facts, lines)
    else
      errors.raise("refused", "polecat %s holds work that is not saved:\n  %s\nnothing more was " ..
        "deleted; gt polecat remove --force %s saves it", facts.name, table.concat(lines, "\n  "),
        facts.name)
    end
  end
  fault.point("reap.delete")
  state.deleting = true
  if wsnap then
    finish(wsnap:remove({ dotgit = true }))
    finish(fs.rmdir(wt))
  end
  if ssnap then finish(ssnap:remove()) end
  finish(fs.rmdir(dir))
end

--- prove_and_delete, and when it fails before it deleted anything, the folder goes back where
--- it was (the error is marked `restored`): a command that stops before deleting changes
--- nothing.
local function prove_or_put_back(rig, facts, dir, policy, persist, result)
  local state = {}
  local ok, err = xpcall(prove_and_delete, errors.handler, rig, facts, dir, policy, persist, result, state)
  if ok then return end
  if not state.deleting and dir ~= facts.home and fs.lstat(dir) and not fs.lstat(facts.home) and
      errors.is(err) and not err.restored and fs.rename(dir, facts.home) then
    facts.trash = nil
    persist(facts)
    err.message = err.message:gsub(dir:gsub("%p", "%%%0"), (facts.home:gsub("%%", "%%%%")))
    err.restored = true
  end
  error(err, 0)
end

--- Calls `method` of repo (a call that returns true | nil, err, code); when it fails on a lock
--- file no process has open (its writer died: a gt or git killed while writing), removes that
--- file, says so, and calls it once more.
function reap.unstale(repo, method, ...)
  local ok, err, code = repo[method](repo, ...)
  if ok or type(err) ~= "string" then return ok, err, code end
  local lockfile = err:match("'([^']+%.lock)'")
  if not lockfile or not fs.lstat(lockfile) or sys.open_by(lockfile) then return ok, err, code end
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
      local admin = repo:commondir() .. "worktrees/" .. name
      checked("removing " .. admin, fs.remove_tree(admin))
      return true
    elseif wt.name == name then
      checked("unlocking worktree " .. name, reap.unstale(repo, "worktree_unlock", name))
      checked("pruning worktree " .. name, reap.unstale(repo, "worktree_prune", name,
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
    checked("deleting branch " .. facts.branch, nil, err, code)
  end
end

--- Takes polecat facts.name of `rig` apart: its folder (and a trash folder an earlier attempt
--- left), git's record of its worktree, and (with facts.delete_branch) its branch. policy, for
--- work that is not in facts.covered: "salvage" saves it first; "restore" puts the folder back
--- and raises a refusal marked `restored` (nothing was deleted); "refuse" raises a refusal.
--- persist(facts) is called whenever the facts change (to keep the journal up to date).
--- Returns { salvages = {{ref, commit}...}, kept_branch }.
function reap.run(rig, facts, policy, persist)
  persist = persist or function() end
  facts.covered = facts.covered or {}
  local result = { salvages = {} }
  if facts.trash and fs.lstat(facts.trash) then
    prove_or_put_back(rig, facts, facts.trash, policy, persist, result)
  end
  if fs.lstat(facts.home) then
    local dir = facts.home
    facts.trash = reap.trash_path(rig, facts.name)
    persist(facts)
    fault.point("reap.move")
    local ok, err, code = fs.rename(facts.home, facts.trash)
    if ok then
      dir = facts.trash
    elseif code == "EXDEV" or code == "EBUSY" or code == "EINVALID" then
      facts.trash = nil -- another file system (a mount): prove and delete it where it is
      persist(facts)
    else
      checked("moving " .. facts.home .. " aside", nil, err, code)
    end
    prove_or_put_back(rig, facts, dir, policy, persist, result)
  end
  fault.point("reap.prune")
  local lk <close> = rig:lock("git", "gt polecat remove " .. facts.name)
  reap.prune_record(rig:repo(), facts.name)
  if facts.delete_branch and facts.branch then
    fault.point("reap.branch")
    delete_branch(rig, facts, result)
  end
  return result
end

--- What taking polecat facts.name apart would lose, found without changing anything: returns a
--- list of lines (empty when nothing would be lost) and whether the folder could be read.
function reap.inspect(rig, facts)
  local repo = rig:repo()
  local lines = {}
  for _, dir in ipairs({ facts.trash or false, facts.home }) do
    if dir and fs.lstat(dir) then
      local wt = dir .. "/" .. rig.name
      if fs.lstat(wt) then
        local ok, err = pcall(function()
          local _ <close>, tree, index_tree = salvage.take_worktree(rig, facts.name, wt, nil)
          local lost = reap.uncovered(repo, tree, facts.covered or {})
          if #lost > 0 then lines[#lines + 1] = "files not saved: " .. some(lost, 5) end
          if index_tree and #reap.uncovered(repo, index_tree, { tree, table.unpack(facts.covered or {}) }) > 0 then
            lines[#lines + 1] = "staged changes"
          end
        end)
        if not ok then lines[#lines + 1] = tostring(err) end
      end
      local names = {}
      for _, n in ipairs(fs.dir(dir) or {}) do
        if n ~= rig.name then names[#names + 1] = n end
      end
      if #names > 0 then
        table.sort(names)
        lines[#lines + 1] = "entries beside the worktree: " .. some(names, 5)
      end
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
