--- gt.polecat.idle: handing a polecat's work in, idle polecats, and reusing their worktrees
--- (docs/design.md §4.11).
--
-- done:  (optionally) push the polecat's branch to origin under its own name, fetch, classify
--        (gt.safety): anything unsafe refuses (exit 3) and changes nothing; else the polecat
--        becomes `idle` (or is removed, through gt.polecat.remove).
-- idle:  the worktree stays, HEAD detached at the commit it was on, unlocked in git; its branch
--        is deleted when all of its commits are on a remote (pushed or merged), else kept.
-- reuse: gt polecat add takes the least recently used idle polecat of the rig: what its worktree
--        holds that is nowhere else is saved first (gt.salvage), the folder and git's record of it
--        are renamed to the new polecat's, and the new branch, from origin's default branch as
--        just fetched, is checked out writing only the files that differ. The old identity
--        becomes `removed`, the new one `working`.
-- pool:  keeps N idle polecats ready.
--
-- The idle transition and the reuse are journaled (operations "idle" and "reuse"): a killed one
-- is finished by the next command on either name, or gt doctor --fix (gt.polecat.journal calls
-- recover_idle and recover_reuse here). This module does not require gt.polecat (which requires
-- it): what it needs of the lifecycle (get, recover, add, remove) is given as `lc`.
local fs = require("gt.fs")
local git = require("gt.git")
local lock = require("gt.lock")
local sys = require("gt.sys")
local errors = require("gt.errors")
local names = require("gt.names")
local layout = require("gt.layout")
local output = require("gt.output")
local store = require("gt.store")
local hooks = require("gt.hooks")
local usercode = require("gt.usercode")
local filters = require("gt.filters")
local fault = require("gt.fault")
local safety = require("gt.safety")
local salvage = require("gt.salvage")
local reap = require("gt.reap")
local spawn = require("gt.polecat.spawn")

local idle = {}

local check, check_doing = errors.check, errors.check_doing

--- The steps a reuse journals, in order.
idle.REUSE_STEPS = { "branch", "move", "checkout", "old_branch", "working", "post_spawn" }

-- Shared ---------------------------------------------------------------------------------

--- Fetches origin now, whatever fetch_ttl_ms says (after a push: the remote-tracking ref must
--- be what origin has). Returns whether it fetched.
local function fetch_now(rig, what)
  local db = rig.town:ledger()
  local lk <close> = rig:lock("fetch", what, 60000)
  local ok, head = rig:fetch_origin()
  if not ok then
    output.warn("could not fetch origin (%s)", head)
    return false
  end
  rig:follow_origin_head(head)
  store.rig_fetched(db, rig.name, sys.now_ms())
  return true
end

--- Writes `text` into the file `path` (small files of git's: a worktree's links).
local function write_file(path, text)
  local f, err = io.open(path, "wb")
  if not f then errors.raise("failure", "writing %s: %s", path, err) end
  local ok, werr = f:write(text)
  local cok, cerr = f:close()
  if not ok or not cok then errors.raise("failure", "writing %s: %s", path, werr or cerr) end
end

--- Deletes branch `b` while it is at `tip` (its commits proven on a remote, merged, or saved).
--- A tip that moved since is kept when `strict`; else it is saved first (under polecat
--- `owner`'s salvages) if it has commits on no remote, and deleted. The caller holds the git
--- lock. Returns true when the branch is gone.
local function delete_branch(rig, b, tip, owner, strict)
  local repo = rig:repo()
  local now = repo:branch_lookup(b)
  if not now then return true end
  if now ~= tip and strict then
    output.warn("keeping branch %s: it moved to %s since it was found on origin", b, now:sub(1, 12))
    return false
  elseif now ~= tip then
    local _, total, absorbed = safety.unpushed(repo, { now }, rig:start_ref(), 1)
    if total > 0 and not absorbed then
      local saved = salvage.keep_commit(rig, owner, now)
      output.note("gt: branch %s moved to %s; kept under %s", b, now:sub(1, 12), saved.ref)
    end
  end
  local ok, err, code = reap.unstale(repo, "branch_delete", b, { expect = now })
  if ok or code == "ENOTFOUND" then return true end
  if code == "ECHECKEDOUT" or code == "ECHANGED" then
    output.warn("keeping branch %s: %s", b, err)
    return false
  end
  check_doing("deleting branch " .. b, ok, err, code)
end

--- The idle polecats of `rig` on this host (their worktrees are here), least recently used
--- first.
function idle.members(rig)
  local list = {}
  for _, a in ipairs(store.agents(rig.town:ledger(), rig.name, false, true)) do
    if a.state == "idle" then list[#list + 1] = a end
  end
  table.sort(list, function(a, b)
    if a.updated_at ~= b.updated_at then return a.updated_at < b.updated_at end
    return a.name < b.name
  end)
  return list
end

--- The running reuse operations of `rig` on this host that take polecat `name`'s worktree (they
--- are keyed by the new polecat's id).
function idle.reusing(db, rig, name)
  local list = {}
  for _, op in ipairs(store.ops_running(db)) do
    if op.kind == "reuse" and op.data.old == name and layout.split_id(op.agent) == rig.name and
        store.is_local(db, op) then
      list[#list + 1] = op
    end
  end
  return list
end

-- The idle transition ----------------------------------------------------------------------

--- Makes polecat facts.name idle (also what recovery finishes): HEAD detached, git's record
--- unlocked, the branch deleted when facts.delete_branch (while at facts.tip), then the ledger.
--- Returns whether the branch was deleted.
local function finish_idle(rig, op, facts, event)
  local db = rig.town:ledger()
  local id = layout.id(rig.name, facts.name)
  if fs.stat(facts.path) then
    local w <close> = check_doing("opening worktree " .. facts.path, git.open(facts.path))
    local head = check_doing("reading HEAD of " .. facts.path, w:head())
    if not head.detached then check_doing("detaching HEAD of " .. facts.name, w:detach_head()) end
  end
  fault.point("done.detached")
  local deleted = false
  do
    local lk <close> = rig:lock("git", "gt polecat done " .. facts.name)
    local repo = rig:repo()
    if spawn.worktree_record(repo, facts.name) then
      check_doing("unlocking worktree " .. facts.name, reap.unstale(repo, "worktree_unlock", facts.name))
    end
    if facts.delete_branch and facts.branch then
      deleted = delete_branch(rig, facts.branch, facts.tip, facts.name, true)
    end
  end
  store.tx(db, function()
    if deleted then store.agent_set_branch(db, id, nil) end
    if event then store.event(db, id, event.kind, event.data) end
    store.agent_set_state(db, id, "idle", "idle", { head = facts.head, branch = facts.branch,
      branch_deleted = deleted })
    store.op_finish(db, op, "done")
  end)
  return deleted
end

--- Undoes a failed idle transition, in-process: HEAD back on the branch, git's record locked
--- again. Returns true when it did.
local function undo_idle(rig, facts)
  if facts.branch and rig:repo():branch_lookup(facts.branch) and fs.stat(facts.path) then
    local w <close> = check(git.open(facts.path))
    local head = check(w:head())
    if head.detached and head.oid == rig:repo():branch_lookup(facts.branch) then
      check(w:set_head("refs/heads/" .. facts.branch))
    end
  end
  local lk <close> = rig:lock("git", "gt polecat done " .. facts.name)
  local ok, err, code = rig:repo():worktree_lock(facts.name, spawn.lock_reason(rig, facts.name))
  if not ok and code ~= "ELOCKED" then check(ok, err, code) end
  return true
end

--- Makes `agent` (a working polecat of `rig`, classified safe as `report`) idle; journaled as
--- an operation "idle". A failure puts it back as it was; a kill is finished by the next
--- command (idle.recover_idle).
function idle.settle(rig, agent, report)
  local db = rig.town:ledger()
  local facts = { name = agent.name, path = agent.worktree, branch = agent.branch,
    tip = report.branch_tip, head = report.head,
    delete_branch = report.branch_tip ~= nil and (report.unpushed_total == 0 or report.absorbed) }
  local op
  store.tx(db, function()
    op = store.op_begin(db, "idle", agent.id, { "detach", "unlock", "branch" }, facts)
  end)
  local ok, err = xpcall(function()
    fault.point("done.journaled")
    return finish_idle(rig, op, facts, { kind = "done", data = { safe = true, absorbed = report.absorbed } })
  end, errors.handler)
  if ok then return err end
  local undone = pcall(undo_idle, rig, facts)
  if undone then
    pcall(store.tx, db, function() store.op_finish(db, op, "rolled_back") end)
  else
    err.message = err.message .. "; the next command on " .. agent.name ..
      " (or gt doctor --fix) finishes making it idle"
  end
  errors.rethrow(err, agent.name)
end

--- Finishes an idle transition that a killed command left (journal operation `op`).
function idle.recover_idle(rig, op)
  local _, name = layout.split_id(op.agent)
  local facts = op.data
  facts.name = name
  finish_idle(rig, op.id, facts, { kind = "recovered", data = { operation = op.id, pid = op.pid,
    action = "finished interrupted done" } })
  output.note("gt: finished an interrupted done of %s (pid %d): it is idle", name, op.pid)
end

-- done ---------------------------------------------------------------------------------------

--- The branch origin's HEAD names, as last fetched (nil when unknown).
local function origin_head(rig)
  local sym = rig:repo():symref("refs/remotes/origin/HEAD")
  return sym and sym:match("^refs/remotes/origin/(.+)$")
end

--- What gt polecat done would do to `agent`: { name, state, branch, tip, push, remove, report,
--- steps (lines) }; classified as it is now for a dry run (a real run classifies after its push
--- and fetch). Raises when it cannot push.
local function plan_done(rig, agent, opts)
  local repo = rig:repo()
  local plan = { name = agent.name, state = agent.state, branch = agent.branch, push = opts.push == true,
    remove = opts.remove == true, steps = {} }
  local steps = plan.steps
  plan.tip = agent.branch and repo:branch_lookup(agent.branch) or nil
  if agent.state == "idle" then
    plan.push = false
    if opts.remove then
      steps[#steps + 1] = "remove it (gt polecat remove " .. agent.name .. ")"
    else
      steps[#steps + 1] = "nothing: it is idle already"
    end
    return plan
  end
  if opts.push then
    if not plan.tip then
      errors.raise("failure", "polecat %s has no branch to push (%s)", agent.name, agent.branch or "none")
    end
    if agent.branch == rig.config.default_branch or agent.branch == origin_head(rig) then
      errors.raise("refused", "polecat %s is on %s, origin's default branch: gt pushes a polecat's " ..
        "branch only under its own name", agent.name, agent.branch)
    end
    steps[#steps + 1] = ("push %s (%s) to origin as refs/heads/%s"):format(agent.branch,
      plan.tip:sub(1, 12), agent.branch)
  end
  if opts.push or opts.fetch ~= false then steps[#steps + 1] = "fetch origin" end
  if not opts.dry_run then return plan end
  plan.report = safety.classify(rig, agent)
  local lines = safety.describe(plan.report)
  if opts.push and plan.report.unpushed_total > 0 and not plan.report.absorbed then
    table.remove(lines) -- the commits: the push puts them on origin (if HEAD is on the branch)
  end
  if #lines > 0 then
    steps[#steps + 1] = "refuse (exit 3): it holds work that exists nowhere else (" ..
      table.concat(lines, "; ") .. ")"
    return plan
  end
  if opts.remove then
    steps[#steps + 1] = "remove it (gt polecat remove " .. agent.name .. ")"
  else
    steps[#steps + 1] = "detach its worktree's HEAD at " .. (plan.report.head or "?"):sub(1, 12)
    steps[#steps + 1] = "unlock git's worktree record " .. agent.name
    if agent.branch then
      steps[#steps + 1] = "delete branch " .. agent.branch .. " (its commits are on origin)"
    end
    steps[#steps + 1] = "mark " .. agent.id .. " idle in the ledger"
  end
  return plan
end

--- The refusal of a done: what the polecat holds.
local function refusal(name, report, pushed)
  local lines = { ("polecat %s holds work that exists nowhere else:"):format(name) }
  for _, l in ipairs(safety.describe(report)) do lines[#lines + 1] = "  " .. l end
  lines[#lines + 1] = ("nothing was changed%s; commit and push it (gt polecat done --push %s), or " ..
    "gt polecat remove --force %s saves it and removes the polecat"):format(
    pushed and " (but its branch was pushed)" or "", name, name)
  return table.concat(lines, "\n")
end

--- Hands the work of polecat `name` of `rig` in. opts: push (push its branch to origin under
--- its own name first), fetch (false: do not fetch origin before classifying; a push always
--- fetches), remove (remove it instead of making it idle), dry_run (return the plan, change
--- nothing). `lc` is gt.polecat (get, recover, remove). Refuses (exit 3),
--- changing nothing, when it holds work that exists nowhere else. Returns the plan { name,
--- branch, push, remove, steps, report }, with pushed ({branch, commit}), state ("idle" or
--- "removed"), branch_deleted, removed (gt.polecat.remove's result) after a real run.
function idle.done(rig, name, opts, lc)
  opts = opts or {}
  names.check(name, "polecat name")
  local db = rig.town:ledger()
  local plan
  do
    local lk <close> = rig:lock(layout.polecat_lock(name), "gt polecat done " .. name)
    lc.recover(rig, name)
    local agent = lc.get(rig, name)
    if agent.state ~= "working" and agent.state ~= "idle" then
      errors.raise("failure", "polecat %s is %s; gt polecat done takes a working polecat", name,
        agent.state)
    end
    plan = plan_done(rig, agent, opts)
    if opts.dry_run or agent.state == "idle" then
      if agent.state == "idle" then plan.state = "idle" end
      if opts.dry_run or not opts.remove then return plan end
    else
      if plan.push then
        local repo = rig:repo()
        local b = plan.branch
        local commit = check_doing("reading branch " .. b, repo:branch_lookup(b))
        check_doing("pushing " .. b .. " to origin",
          repo:push("origin", { ("refs/heads/%s:refs/heads/%s"):format(b, b) }))
        plan.pushed = { branch = b, commit = commit }
        store.tx(db, function()
          store.event(db, agent.id, "pushed", { branch = b, commit = commit, remote = "origin" })
        end)
        fetch_now(rig, "gt polecat done " .. name)
        if repo:ref_lookup("refs/remotes/origin/" .. b) ~= commit then
          errors.raise("failure", "pushed %s, but refs/remotes/origin/%s is not at %s after a fetch",
            b, b, commit:sub(1, 12))
        end
      elseif opts.fetch ~= false then
        -- What origin merged since (a squash merge of this branch, say) counts.
        fetch_now(rig, "gt polecat done " .. name)
      end
      local report = safety.classify(rig, agent)
      plan.report = report
      if not report.safe then errors.raise("refused", "%s", refusal(name, report, plan.pushed)) end
      if report.worktree_missing and not opts.remove then
        errors.raise("failure", "polecat %s: its worktree %s is gone: an idle polecat keeps its " ..
          "worktree; gt polecat done --remove %s ends it", name, agent.worktree or "?", name)
      end
      if not opts.remove then
        plan.branch_deleted = idle.settle(rig, agent, report)
        plan.state = "idle"
        return plan
      end
      store.tx(db, function()
        store.event(db, agent.id, "done", { safe = true, absorbed = report.absorbed, remove = true })
      end)
    end
  end
  -- Removed as gt polecat remove does (its own lock, classification and hooks).
  plan.removed = lc.remove(rig, { name }, {})
  plan.state = "removed"
  return plan
end

-- Reuse --------------------------------------------------------------------------------------

--- Why the idle polecat `agent` (classified as `report`) cannot be reused, or nil.
local function unreusable(rig, agent, report)
  if report.worktree_missing then return "its worktree is gone" end
  if not report.savable then return "it holds work gt cannot save" end
  if #report.strays > 0 then return "files were put beside its worktree" end
  if #report.conflicted > 0 then return "its worktree has conflicted files" end
  local record = spawn.worktree_record(rig:repo(), agent.name)
  if not record or record.broken or record.path ~= agent.worktree then
    return "git's record of its worktree is missing or elsewhere"
  end
  if #store.sessions_open(rig.town:ledger(), agent.id) > 0 then return "a session runs in it" end
  return nil
end

local Candidate = {}
Candidate.__index = Candidate
Candidate.__close = function(c)
  if c.lock then c.lock:release(); c.lock = nil end
end

--- Takes idle polecat `a` of `rig` for new polecat `new` if it can be reused: returns the
--- candidate { name, agent, report, lock } (to-be-closed: it releases the lock), or nil.
local function try_candidate(rig, a, new)
  local db = rig.town:ledger()
  local lk = lock.try(layout.lock(rig.root, layout.polecat_lock(a.name)),
    { what = "gt polecat add " .. new .. " (reusing " .. a.name .. ")" })
  lk = lk and rig:name_lock(lk, a.name, 0)
  if not lk then return nil end
  local ok, c = xpcall(function()
    local agent = store.agent_get(db, a.id)
    if not agent or agent.state ~= "idle" or #store.ops_running(db, a.id) > 0 or
        #idle.reusing(db, rig, a.name) > 0 then
      return nil
    end
    local report = safety.classify(rig, agent)
    local why = unreusable(rig, agent, report)
    if why then
      output.verbose("not reusing idle polecat %s: %s", a.name, why)
      return nil
    end
    return setmetatable({ name = a.name, agent = agent, report = report, lock = lk }, Candidate)
  end, errors.handler)
  if ok and c then return c end
  lk:release()
  if not ok then output.verbose("not reusing idle polecat %s: %s", a.name, tostring(c)) end
  return nil
end

--- The idle polecat gt polecat add `ctx` (gt.polecat.spawn's context) takes, when the rig's
--- `reuse` option is on: the least recently used one that can be reused, locked (its lock is
--- held until the candidate is closed) and classified after a fetch (when ctx.fetch), or nil.
function idle.candidate(rig, ctx)
  if not rig:option("reuse") then return nil end
  local members = idle.members(rig)
  if #members == 0 then return nil end
  -- Classified after the fetch: a remote branch gone since must not count as a copy.
  if ctx.fetch then rig:fetch("gt polecat add " .. ctx.name) end
  for _, a in ipairs(members) do
    if a.name ~= ctx.name then
      local c = try_candidate(rig, a, ctx.name)
      if c then return c end
    end
  end
  return nil
end

--- Points git's record `admin` and the worktree `path` at each other, as git worktree move
--- does (the files libgit2 and git read: <admin>/gitdir, <path>/.git).
local function link(admin, path)
  write_file(admin .. "/gitdir", path .. "/.git\n")
  write_file(path .. "/.git", "gitdir: " .. admin .. "/\n")
end

--- Whether the reuse `data` moved the folder: the new polecat's worktree is there.
local function moved(data)
  return fs.lstat(data.home) ~= nil and fs.lstat(data.path .. "/.git") ~= nil
end

--- Moves the idle polecat's folder and git's record of its worktree to the new polecat's names,
--- locked with the new polecat's reason (also what recovery finishes: each part is done only if
--- it was not). Under the git lock.
local function move(rig, data)
  local repo = rig:repo()
  local old_admin = layout.worktree_admin(repo:commondir(), data.old)
  local new_admin = layout.worktree_admin(repo:commondir(), data.new)
  local lk <close> = rig:lock("git", "gt polecat add " .. data.new)
  if fs.lstat(old_admin) and not fs.lstat(new_admin) then
    -- Locked first: an outside git worktree prune cannot take the record while its folder moves.
    check_doing("unlocking worktree " .. data.old, reap.unstale(repo, "worktree_unlock", data.old))
    check_doing("locking worktree " .. data.old,
      repo:worktree_lock(data.old, spawn.lock_reason(rig, data.new)))
  end
  if not moved(data) then
    check_doing("moving " .. data.old_home .. " to " .. data.home, fs.rename(data.old_home, data.home))
  end
  if fs.lstat(old_admin) and not fs.lstat(new_admin) then
    check_doing("renaming " .. old_admin, fs.rename(old_admin, new_admin))
  end
  link(new_admin, data.path)
  local ok, err, code = repo:worktree_lock(data.new, spawn.lock_reason(rig, data.new))
  if not ok and code ~= "ELOCKED" then check_doing("locking worktree " .. data.new, ok, err, code) end
end

--- The tree the moved worktree holds when its status (stat data against the index: no file
--- read) finds it exactly as HEAD: nothing staged, changed, untracked, conflicted, unreadable
--- or nested, and HEAD where it was classified. Else nil: prove takes it file by file.
local function clean_tree(repo, data)
  local w <close> = git.open(data.path)
  local st = w and w:status()
  if not st or #st.staged + #st.unstaged + #st.untracked + #st.conflicted + #st.unreadable +
      #st.nested > 0 then
    return nil
  end
  local head = w:head()
  if not head or head.oid ~= data.old_head then return nil end
  return repo:tree_of(head.oid)
end

--- Saves, in a salvage of the old polecat, what the moved worktree holds that no tree of
--- data.covered (nor the start commit's) has: what was written into it since it was classified,
--- or since a killed reuse. Returns the tree of the worktree as it is now (to check out from).
local function prove(rig, data, persist)
  local repo = rig:repo()
  -- The common case: still as classified; HEAD's tree is covered (idle.reuse).
  local clean = clean_tree(repo, data)
  if clean then return clean, true end
  local _ <close>, tree, index_tree = salvage.take_worktree(rig, data.new, data.path, nil, nil)
  local covered = { table.unpack(data.covered) }
  covered[#covered + 1] = check(repo:tree_of(data.start))
  local lost = reap.uncovered(repo, tree, covered)
  local staged = index_tree and reap.uncovered(repo, index_tree, { tree, table.unpack(covered) }) or {}
  if #lost + #staged > 0 then
    local what = {}
    if #lost > 0 then what[#what + 1] = "files not saved: " .. output.some(lost, 5) end
    if #staged > 0 then what[#what + 1] = "staged changes: " .. output.some(staged, 5) end
    local saved = salvage.write(rig, data.old, data.old_branch, { tree = tree, index = index_tree,
      head = data.old_head, tip = data.old_tip, what = what, also = data.salvage_commit and
        { { oid = data.salvage_commit, what = "an earlier salvage of this worktree" } } or nil })
    data.covered[#data.covered + 1] = tree
    if index_tree then data.covered[#data.covered + 1] = index_tree end
    data.salvage, data.salvage_commit = saved.ref, saved.commit
    persist(data)
    local db = rig.town:ledger()
    store.tx(db, function()
      store.event(db, layout.id(rig.name, data.old), "salvaged", { ref = saved.ref,
        commit = saved.commit, lost = what })
    end)
    output.note("gt: the unsaved work in the worktree of %s was saved to %s; get it back with: %s",
      data.old, saved.ref, salvage.restore_hint(rig, saved.ref))
  end
  return tree
end

--- Checks the new branch out in the moved worktree: only the files that differ between what
--- the worktree holds (proven saved) and the start commit are written or removed; then HEAD.
local function checkout(rig, data, persist)
  local repo = rig:repo()
  local tree, clean = prove(rig, data, persist)
  -- A clean worktree (its index is HEAD's tree): only the paths that differ are looked at, so
  -- that libgit2 reads their folders alone, not the whole working tree (docs/design.md §4.11).
  -- Otherwise all of it, so that the index becomes the start's everywhere.
  local paths
  if clean then
    paths = {}
    for _, c in ipairs(check_doing("comparing trees",
      repo:diff_trees(tree, check(repo:tree_of(data.start))))) do
      paths[#paths + 1] = c.path
    end
  end
  local w <close> = check_doing("opening worktree " .. data.path, git.open(data.path))
  data.written = 0
  if not paths or #paths > 0 then
    local needs = filters.needed(repo, data.start, rig.town:ledger())
    data.written = check_doing("checking out " .. data.branch, w:checkout_tree(data.start,
      { baseline = tree, disable_filters = not needs, paths = paths }))
  end
  check_doing("checking out " .. data.branch, w:set_head("refs/heads/" .. data.branch))
end

--- Creates the new polecat's branch at data.start (resolving the start first when it is not
--- known yet).
local function make_branch(rig, data)
  local repo = rig:repo()
  if not data.start then
    data.start = repo:resolve(data.start_ref)
    if not data.start then
      errors.raise("failure", "%s not found in %s/.repo.git", data.start_ref, rig.root)
    end
  end
  if not repo:branch_lookup(data.branch) then
    check_doing("creating branch " .. data.branch, repo:branch_create(data.branch, data.start))
  end
end

--- The old polecat's branch goes (its commits are on a remote, merged, or in the salvage made
--- before the reuse).
local function drop_old_branch(rig, data)
  if not data.old_branch then return end
  local lk <close> = rig:lock("git", "gt polecat add " .. data.new)
  delete_branch(rig, data.old_branch, data.old_tip, data.old)
end

--- The ledger: the old identity `removed`, the new one `working`; the operation done.
local function mark(rig, op, data, new_event)
  local db = rig.town:ledger()
  local old_id, new_id = layout.id(rig.name, data.old), layout.id(rig.name, data.new)
  store.tx(db, function()
    local old = store.agent_get(db, old_id)
    if old and old.state == "idle" then
      store.agent_set_state(db, old_id, "removed", "reused", { as = data.new, salvage = data.salvage })
    end
    store.agent_set_state(db, new_id, "working", new_event.kind, new_event.data)
    if new_event.finish then store.op_finish(db, op, "done") else store.op_step(db, op, "working") end
  end)
end

--- Undoes a reuse whose folder was not moved: the new branch goes, the old record is unlocked
--- again (idle worktrees are), the new name is freed. The idle polecat stays as it was.
local function roll_back(rig, op, data, event)
  local db = rig.town:ledger()
  local repo = rig:repo()
  do
    local lk <close> = rig:lock("git", "gt polecat add " .. data.new)
    local admin_new = layout.worktree_admin(repo:commondir(), data.new)
    if fs.lstat(admin_new) and not fs.lstat(layout.worktree_admin(repo:commondir(), data.old)) then
      check_doing("renaming " .. admin_new, fs.rename(admin_new, layout.worktree_admin(repo:commondir(), data.old)))
      link(layout.worktree_admin(repo:commondir(), data.old), data.old_path)
    end
    if spawn.worktree_record(repo, data.old) then
      check_doing("unlocking worktree " .. data.old, reap.unstale(repo, "worktree_unlock", data.old))
    end
    if repo:branch_lookup(data.branch) then
      delete_branch(rig, data.branch, data.start or repo:branch_lookup(data.branch), data.new)
    end
  end
  store.tx(db, function()
    store.agent_set_state(db, layout.id(rig.name, data.new), "failed", event.kind, event.data)
    store.op_finish(db, op, "rolled_back")
  end)
end

--- The facts gt.reap needs to take the new polecat apart (a post_spawn hook failed): as for an
--- add, the start commit's tree is saved (on origin); what else the folder holds is saved, the
--- ignored files the rig keeps (.env) included: the idle worktree may have had them.
local function reap_facts(rig, data)
  return { id = layout.id(rig.name, data.new), name = data.new, home = data.home, path = data.path,
    branch = data.branch, tip = data.start, head = data.start,
    covered = { check(rig:repo():tree_of(data.start)) }, keep = rig:option("keep_ignored"),
    delete_branch = true }
end

--- Reuses the idle polecat `cand` (from idle.candidate, locked and classified) as the new
--- polecat of `ctx` (gt.polecat.add's context, its pre_spawn hooks run). opts: issue, claim
--- (the name pool's claim, when the name was claimed already: marked journaled once it is).
--- Returns what gt.polecat.add returns, with reused (the old name) and salvage (a ref, when the
--- idle worktree held unsaved work).
function idle.reuse(rig, ctx, cand, opts)
  opts = opts or {}
  local db = rig.town:ledger()
  local repo = rig:repo()
  local old, report = cand.agent, cand.report
  local saved
  if not report.safe then
    saved = salvage.save(rig, old, report)
    store.tx(db, function()
      store.event(db, old.id, "salvaged", { ref = saved.ref, commit = saved.commit,
        lost = safety.describe(report) })
    end)
    output.note("gt: the unsaved work of idle polecat %s was saved to %s before its worktree was " ..
      "reused; get it back with: %s", old.name, saved.ref, salvage.restore_hint(rig, saved.ref))
  end
  local covered = {}
  if report.head then covered[#covered + 1] = check(repo:tree_of(report.head)) end
  if saved then
    covered[#covered + 1] = saved.tree
    if saved.index then covered[#covered + 1] = saved.index end
  end
  local data = { old = old.name, old_home = layout.home(rig.root, old.name), old_path = old.worktree,
    old_branch = old.branch, old_tip = report.branch_tip, old_head = report.head, covered = covered,
    salvage = saved and saved.ref, salvage_commit = saved and saved.commit,
    new = ctx.name, branch = ctx.branch, home = ctx.home, path = ctx.path,
    start_ref = ctx.start_ref or rig:start_ref() }
  local op
  store.tx(db, function()
    if not opts.claim then
      local claimed, live = store.agent_claim(db, { id = ctx.id, rig = rig.name, name = ctx.name,
        branch = ctx.branch, worktree = ctx.path, issue = opts.issue })
      if not claimed then
        errors.raise("failure", "polecat %s already exists in rig %s (%s on %s)", ctx.name, rig.name,
          live.state, live.branch or "no branch")
      end
    end
    op = store.op_begin(db, "reuse", ctx.id, idle.REUSE_STEPS, data)
  end)
  if opts.claim then opts.claim.journaled = true end
  local function persist(d) store.tx(db, function() store.op_update(db, op, d) end) end
  local step
  local ok, err = xpcall(function()
    fault.point("reuse.journaled")
    step = "branch"
    make_branch(rig, data)
    store.tx(db, function() store.op_step(db, op, "branch", { start = data.start }) end)
    fault.point("reuse.branch")
    step = "move"
    move(rig, data)
    store.tx(db, function() store.op_step(db, op, "move") end)
    fault.point("reuse.moved")
    step = "checkout"
    checkout(rig, data, persist)
    store.tx(db, function() store.op_step(db, op, "checkout", { written = data.written }) end)
    fault.point("reuse.checkout")
    step = "old_branch"
    drop_old_branch(rig, data)
    store.tx(db, function() store.op_step(db, op, "old_branch") end)
    step = "working"
    mark(rig, op, data, { kind = "spawned", data = { branch = data.branch, worktree = data.path,
      start = data.start, reused = data.old } })
  end, errors.handler)
  if not ok then
    if not moved(data) then
      -- Nothing of the idle polecat was touched: the new name is given back.
      local rok, rerr = pcall(roll_back, rig, op, data, { kind = "failed", data = { step = step,
        error = tostring(err) } })
      if not rok then
        err.message = err.message .. "; undoing it failed (" .. tostring(rerr) .. "): the next " ..
          "command on " .. ctx.name .. " (or gt doctor --fix) finishes it"
      end
    else
      err.message = err.message .. "; the reuse of " .. data.old .. "'s worktree was interrupted: " ..
        "the next command on " .. ctx.name .. " (or gt doctor --fix) finishes it"
    end
    errors.rethrow(err, ("%s: %s"):format(ctx.name, step))
  end

  -- As a spawn: the project's trusted hooks, then post_spawn hooks (an error takes it apart).
  ctx.start = data.start
  local hok, herr = xpcall(function()
    usercode.load_repo_hooks(ctx.path, ctx.id)
    local hc = spawn.hook_context(ctx)
    hc.reused = data.old
    hooks.run("post_spawn", hc, { cwd = ctx.path, scope = ctx.id })
  end, errors.handler)
  if not hok then
    -- (gt.reap's facts are not kept in the journal: a reuse operation's data stays its own.)
    local rok, result = xpcall(reap.run, errors.handler, rig, reap_facts(rig, data), "salvage")
    store.tx(db, function()
      store.agent_set_state(db, ctx.id, "failed", "failed", { step = "post_spawn", error = tostring(herr) })
      store.op_finish(db, op, rok and "rolled_back" or "failed")
    end)
    if not rok then output.warn("rollback of %s: %s", ctx.name, tostring(result)) end
    errors.rethrow(herr, ctx.name)
  end
  store.tx(db, function() store.op_finish(db, op, "done") end)
  return { name = ctx.name, branch = ctx.branch, path = ctx.path, issue = opts.issue, start = data.start,
    rig = rig.name, reused = data.old, salvage = data.salvage, written = data.written }
end

--- Finishes or rolls back a reuse that a killed command left (journal operation `op`, keyed by
--- the new polecat): rolled forward when the folder was moved (the worktree proven and saved
--- again before the checkout), else rolled back (the idle polecat stays). The caller holds the
--- lock of `held` (either name): the other one is taken here (without waiting, from the old
--- name's side, so that two recoveries cannot wait on each other). Returns "finished",
--- "rolled_back", or nil when another command ended it meanwhile.
function idle.recover_reuse(rig, op, held)
  local db = rig.town:ledger()
  local data = op.data
  local other = held == data.new and data.old or data.new
  local path = layout.lock(rig.root, layout.polecat_lock(other))
  local what = "gt: finishing an interrupted reuse of " .. data.old .. " as " .. data.new
  local taken, err, code
  if other == data.old then
    taken = rig:lock(layout.polecat_lock(other), what)
  else
    taken, err, code = lock.try(path, { what = what })
    if not taken and code == "ELOCKED" then
      errors.raise("busy", "an interrupted reuse of %s as %s is being finished by another command " ..
        "(%s); try again", data.old, data.new, err)
    end
    check_doing(layout.polecat_lock(other), taken, err, code)
    taken = rig:name_lock(taken, other, 0)
    if not taken then
      errors.raise("busy", "an interrupted reuse of %s as %s is being finished by another command; " ..
        "try again", data.old, data.new)
    end
  end
  local lk <close> = taken
  local still = false
  for _, o in ipairs(store.ops_running(db, op.agent)) do still = still or o.id == op.id end
  if not still then return nil end
  fault.point("recover.reuse")
  local event = { operation = op.id, pid = op.pid }
  if not moved(data) then
    event.action = "rolled back interrupted reuse of " .. data.old
    roll_back(rig, op.id, data, { kind = "recovered", data = event })
    output.note("gt: rolled back an interrupted reuse of %s as %s (pid %d)", data.old, data.new, op.pid)
    return "rolled_back"
  end
  local function persist(d) store.tx(db, function() store.op_update(db, op.id, d) end) end
  local done = {}
  for _, s in ipairs(op.steps_done) do done[s] = true end
  make_branch(rig, data)
  move(rig, data)
  -- A checkout that finished is not done again: post_spawn hooks may have changed the worktree.
  if not done.checkout then checkout(rig, data, persist) end
  drop_old_branch(rig, data)
  event.action = "finished interrupted reuse of " .. data.old
  event.salvage = data.salvage
  if done.working then
    store.tx(db, function()
      store.event(db, layout.id(rig.name, data.new), "recovered", event)
      store.op_finish(db, op.id, "done")
    end)
  else
    mark(rig, op.id, data, { kind = "recovered", data = event, finish = true })
  end
  output.note("gt: finished an interrupted reuse of %s as %s (pid %d)", data.old, data.new, op.pid)
  return "finished"
end

-- Pool ---------------------------------------------------------------------------------------

--- Keeps `opts.size` (default 1) idle polecats ready in `rig`: makes new ones, named by the rig's
--- name pool (gt.namepool), each spawned fresh and made idle at once. opts.dry_run returns the
--- plan only; opts.fetch as for add. `lc` is gt.polecat (add, get, recover, remove). Returns
--- { rig, size, idle = {names}, create = n, created = {names} }.
function idle.pool(rig, opts, lc)
  opts = opts or {}
  local size = opts.size or 1
  if math.type(size) ~= "integer" or size < 0 then
    errors.raise("usage", "--size needs a number of polecats (0 or more), got %s", errors.quote(size))
  end
  local members = idle.members(rig)
  local plan = { rig = rig.name, size = size, idle = {}, create = math.max(0, size - #members),
    created = {} }
  for i, a in ipairs(members) do plan.idle[i] = a.name end
  if opts.dry_run then return plan end
  for _ = 1, plan.create do
    local p = lc.add(rig, nil, { fresh = true, fetch = opts.fetch })
    plan.created[#plan.created + 1] = p.name
    idle.done(rig, p.name, { fetch = false }, lc) -- the add fetched
  end
  return plan
end

return idle
