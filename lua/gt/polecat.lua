--- gt.polecat: the lifecycle of polecats (DESIGN §4).
--
-- add:    validate the name → per-name lock → finish or roll back what a killed command left →
--         refuse if a live polecat has the name → record the intent (`spawning`, and an
--         operation in the journal) → the spawn steps below → `working`.
-- remove: per-name locks → classify what would be lost → pre_remove hooks → refuse, or save
--         it (unless --discard) → journal → delete the folder → prune git's record → delete
--         the branch → `removed` → post_remove hooks.
--
-- The spawn steps are data: {name, run = fn(ctx), undo = fn(ctx)}. A failing step undoes the
-- steps before it in reverse order; undo functions are idempotent, because the same ones roll
-- back an add that a killed process left half done (from the journal's record of it).
local fs = require("gt.fs")
local sys = require("gt.sys")
local errors = require("gt.errors")
local names = require("gt.names")
local branch = require("gt.branch")
local output = require("gt.output")
local store = require("gt.store")
local hooks = require("gt.hooks")

local polecat = {}

local check, checked = errors.check, errors.checked

--- Reason recorded in git's worktree lock while a polecat works: an outside
--- `git worktree prune` cannot reap it.
function polecat.lock_reason(rig, name)
  return ("gt: %s/%s"):format(rig.name, name)
end

--- The facts of one spawn, all decided before anything is touched, so that the journal can
--- undo it later from them alone.
local function spawn_context(rig, name, issue, ms)
  return {
    rig = rig,
    name = name,
    issue = issue,
    id = rig.name .. "/" .. name,
    branch = branch.format(name, issue, ms),
    home = rig:home(name),
    path = rig:worktree_path(name),
  }
end

local function branch_exists(repo, name)
  return repo:branch_lookup(name) ~= nil
end

local function worktree_record(repo, name)
  for _, wt in ipairs(check(repo:worktrees())) do
    if wt.name == name then return wt end
  end
  return nil
end

--- Removes git's record of worktree `name` (unlocking it first), if there is one. Held under
--- the rig's git lock by the caller.
local function prune_record(repo, name)
  if worktree_record(repo, name) then
    checked("unlocking worktree " .. name, repo:worktree_unlock(name))
    checked("pruning worktree " .. name, repo:worktree_prune(name, { valid = true, locked = true }))
  end
end

--- Deletes local branch `name` if it exists; returns true if it did.
local function delete_branch(repo, name)
  if not branch_exists(repo, name) then return false end
  checked("deleting branch " .. name, repo:branch_delete(name))
  return true
end

polecat.spawn_steps = {
  {
    name = "fetch",
    run = function(ctx)
      if ctx.fetch then ctx.rig:fetch("gt polecat add " .. ctx.name) end
    end,
  },
  {
    name = "branch",
    run = function(ctx)
      local repo = ctx.rig:repo()
      local start_ref = ctx.start_ref or ctx.rig:start_ref()
      ctx.start = repo:resolve(start_ref)
      if not ctx.start then
        errors.raise("failure", "%s not found in %s/.repo.git (is origin's %s branch gone?)",
          start_ref, ctx.rig.root, ctx.rig.config.default_branch)
      end
      checked("creating branch " .. ctx.branch, repo:branch_create(ctx.branch, ctx.start))
    end,
    undo = function(ctx)
      local lk <close> = ctx.rig:lock("git", "gt polecat add " .. ctx.name)
      delete_branch(ctx.rig:repo(), ctx.branch)
    end,
  },
  {
    name = "folder",
    run = function(ctx)
      check(fs.mkdir_p(ctx.rig.root .. "/polecats"))
      checked("creating " .. ctx.home, fs.mkdir(ctx.home))
    end,
    undo = function(ctx)
      if fs.lstat(ctx.home) then checked("removing " .. ctx.home, fs.remove_tree(ctx.home)) end
    end,
  },
  {
    name = "worktree",
    run = function(ctx)
      -- Only git's metadata is written under the rig lock; the checkout comes next, outside it.
      local lk <close> = ctx.rig:lock("git", "gt polecat add " .. ctx.name)
      checked("adding worktree " .. ctx.path, ctx.rig:repo():worktree_add(ctx.name, ctx.path,
        ctx.branch, { lock = polecat.lock_reason(ctx.rig, ctx.name), checkout = false }))
    end,
    undo = function(ctx)
      local lk <close> = ctx.rig:lock("git", "gt polecat add " .. ctx.name)
      prune_record(ctx.rig:repo(), ctx.name)
    end,
  },
  {
    name = "checkout",
    run = function(ctx)
      local worktree = require("gt.worktree")
      local filters = require("gt.filters")
      local needs = filters.needed(ctx.rig:repo(), ctx.start, ctx.rig.town:ledger())
      local w <close> = checked("opening worktree", worktree.open(ctx.path))
      checked("checking out " .. ctx.branch,
        w:checkout_head({ force = true, disable_filters = not needs }))
    end,
  },
  {
    -- A .gt/hooks.lua the project commits runs only if the user trusts it (gt.trust).
    name = "repo_hooks",
    run = function(ctx)
      require("gt.trust").load_repo_hooks(ctx.path, ctx.id)
    end,
  },
  {
    name = "working",
    run = function(ctx)
      local db = ctx.rig.town:ledger()
      store.tx(db, function()
        store.agent_set_state(db, ctx.id, "working", "spawned",
          { branch = ctx.branch, worktree = ctx.path, start = ctx.start })
      end)
    end,
  },
  {
    name = "post_spawn",
    run = function(ctx)
      hooks.run("post_spawn", polecat.hook_context(ctx), { cwd = ctx.path, scope = ctx.id })
    end,
  },
}

--- The table hooks receive for a spawn: rig, name, path (the worktree), branch, issue, start
--- (the revision it starts from; a pre_spawn hook may change it), start_commit (its id, from
--- post_spawn on), town and rig_root (folders).
function polecat.hook_context(ctx)
  return { rig = ctx.rig.name, name = ctx.name, path = ctx.path, branch = ctx.branch,
    issue = ctx.issue, start = ctx.start_ref or ctx.rig:start_ref(), start_commit = ctx.start,
    town = ctx.rig.town.root, rig_root = ctx.rig.root }
end

local function step_names(steps)
  local list = {}
  for i, s in ipairs(steps) do list[i] = s.name end
  return list
end

--- Undoes the steps named in `done` (newest first). Returns the undo errors as messages.
local function undo_steps(ctx, done)
  local problems = {}
  local by_name = {}
  for _, s in ipairs(polecat.spawn_steps) do by_name[s.name] = s end
  for i = #done, 1, -1 do
    local step = by_name[done[i]]
    if step and step.undo then
      local ok, err = pcall(step.undo, ctx)
      if not ok then problems[#problems + 1] = ("%s: %s"):format(step.name, tostring(err)) end
    end
  end
  return problems
end

--- Finishes what a killed command left on polecat `name` of `rig`: an add is rolled back, a
--- remove is carried to its end. The caller holds the polecat's lock, so every operation still
--- marked running on this host is abandoned. Returns the set of the kinds of operation it
--- finished ({add = true, remove = true}).
function polecat.recover(rig, name)
  local recovered = {}
  local db = rig.town:ledger()
  local id = rig.name .. "/" .. name
  local host = sys.hostname()
  for _, op in ipairs(store.ops_running(db, id)) do
    if op.host ~= host then
      errors.raise("busy", "polecat %s: a %s started on host %s (pid %d) is unfinished", name,
        op.kind, op.host, op.pid)
    end
    if op.kind == "add" then
      local ctx = { rig = rig, name = name, id = id, branch = op.data.branch, home = op.data.home,
        path = op.data.path }
      -- Undo every planned step: a step may have started without being recorded as done.
      local problems = undo_steps(ctx, op.steps_planned)
      if #problems > 0 then
        errors.raise("failure", "polecat %s: rolling back an interrupted add failed: %s", name,
          table.concat(problems, "; "))
      end
      store.tx(db, function()
        store.agent_set_state(db, id, "failed", "recovered",
          { operation = op.id, pid = op.pid, action = "rolled back interrupted add" })
        store.op_finish(db, op.id, "rolled_back")
      end)
      output.note("gt: rolled back an interrupted add of %s (pid %d)", name, op.pid)
      recovered.add = true
    elseif op.kind == "remove" then
      polecat._finish_remove(rig, name, op.data)
      store.tx(db, function()
        store.agent_set_state(db, id, "removed", "recovered",
          { operation = op.id, pid = op.pid, action = "finished interrupted remove" })
        store.op_finish(db, op.id, "done")
      end)
      output.note("gt: finished an interrupted remove of %s (pid %d)", name, op.pid)
      recovered.remove = true
    end
  end
  return recovered
end

--- Spawns polecat `name` in `rig`. opts: issue (id), fetch (default: the rig's
--- fetch_on_spawn), start_ref (default: refs/remotes/origin/<default_branch>). Returns
--- { name, branch, path, issue, start }. Every failure rolls back what was done.
function polecat.add(rig, name, opts)
  opts = opts or {}
  names.check(name, "polecat name")
  if opts.issue then names.check(opts.issue, "issue id") end
  local db = rig.town:ledger()
  local lk <close> = rig:lock("polecat-" .. name, "gt polecat add " .. name)
  polecat.recover(rig, name)

  local ctx = spawn_context(rig, name, opts.issue, sys.now_ms())
  ctx.start_ref = opts.start_ref
  if opts.fetch == nil then ctx.fetch = rig:option("fetch_on_spawn") else ctx.fetch = opts.fetch end

  local function refuse_live(live)
    errors.raise("failure", "polecat %s already exists in rig %s (%s on %s)", name, rig.name,
      live.state, live.branch or "no branch")
  end
  local existing = store.agent_get(db, rig.name, name)
  if existing and store.LIVE[existing.state] then refuse_live(existing) end
  local repo = rig:repo()
  if fs.lstat(ctx.home) then
    errors.raise("failure", "%s exists but no live polecat %s does; move it away first", ctx.home, name)
  end
  local record = worktree_record(repo, name)
  if record then
    errors.raise("failure", "git already has a worktree named %s (at %s); remove it first", name,
      record.path)
  end
  local pre = polecat.hook_context(ctx)
  -- Named like a post_spawn error ("a: pre_spawn hook (file:line): ...").
  local pre_ok, pre_err = xpcall(hooks.run, errors.handler, "pre_spawn", pre)
  if not pre_ok then errors.rethrow(pre_err, name) end
  if type(pre.start) ~= "string" or pre.start == "" then
    errors.raise("failure", "pre_spawn hooks set start to %s; it must be a revision", tostring(pre.start))
  end
  ctx.start_ref = pre.start

  local plan = step_names(polecat.spawn_steps)
  local op
  store.tx(db, function()
    local claimed, live = store.agent_claim(db, { id = ctx.id, rig = rig.name, name = name,
      branch = ctx.branch, worktree = ctx.path, issue = opts.issue })
    if not claimed then refuse_live(live) end
    op = store.op_begin(db, "add", ctx.id, plan, { branch = ctx.branch, home = ctx.home,
      path = ctx.path })
  end)

  local done = {}
  for _, step in ipairs(polecat.spawn_steps) do
    local ok, err = xpcall(function()
      step.run(ctx)
      done[#done + 1] = step.name
      store.op_step(db, op, step.name)
    end, errors.handler)
    if not ok then
      -- The failing step may have done part of its work (a branch made, then an error): undo
      -- it too, as recover() does.
      if done[#done] ~= step.name then done[#done + 1] = step.name end
      local problems = undo_steps(ctx, done)
      store.tx(db, function()
        store.agent_set_state(db, ctx.id, "failed", "failed",
          { step = step.name, error = tostring(err), undo_problems = problems })
        store.op_finish(db, op, #problems == 0 and "rolled_back" or "failed")
      end)
      for _, p in ipairs(problems) do output.warn("rollback of %s: %s", name, p) end
      -- A hook's error already names its event ("post_spawn hook (file:line): ...").
      local said = errors.is(err) and err.message:find("^" .. step.name .. " hook")
      errors.rethrow(err, said and name or ("%s: %s"):format(name, step.name))
    end
  end
  store.tx(db, function() store.op_finish(db, op, "done") end)
  return { name = name, branch = ctx.branch, path = ctx.path, issue = opts.issue, start = ctx.start,
    rig = rig.name }
end

-- Remove -----------------------------------------------------------------------------------

--- The destructive end of a remove, from the journal's data (also used to finish a remove a
--- killed process left): delete the folder, prune git's record, delete the branch.
function polecat._finish_remove(rig, name, data)
  if data.home and fs.lstat(data.home) then
    checked("removing " .. data.home, fs.remove_tree(data.home))
  end
  local lk <close> = rig:lock("git", "gt polecat remove " .. name)
  local repo = rig:repo()
  prune_record(repo, name)
  if data.delete_branch and data.branch then
    local ok, err, code = repo:branch_delete(data.branch)
    if not ok and code == "ECHECKEDOUT" then
      output.warn("keeping branch %s: another worktree has it checked out", data.branch)
    elseif not ok and code ~= "ENOTFOUND" then
      checked("deleting branch " .. data.branch, nil, err, code)
    end
  end
end

local function inside(path, dir)
  return path == dir or path:sub(1, #dir + 1) == dir .. "/"
end

--- A set of locks released together (to-be-closed).
local function lock_set()
  return setmetatable({}, { __close = function(set)
    for i = #set, 1, -1 do set[i]:release() end
  end })
end

--- Plans the removal of polecats `list` (names) of `rig`: takes their locks (into `locks`),
--- finishes interrupted operations and classifies each. Returns the plan entries
--- { name, agent, report }, and the names whose interrupted remove it finished (they are
--- removed already). Raises for unknown names.
local function plan_remove(rig, list, locks)
  local db = rig.town:ledger()
  local plan, finished = {}, {}
  local cwd = fs.cwd()
  cwd = cwd and fs.realpath(cwd) or cwd
  for _, name in ipairs(list) do
    locks[#locks + 1] = rig:lock("polecat-" .. name, "gt polecat remove " .. name)
    local recovered = polecat.recover(rig, name)
    local agent = store.agent_get(db, rig.name, name)
    if recovered.remove and agent and agent.state == "removed" then
      -- The killed command was removing it, and now has: that is the removal asked for.
      finished[#finished + 1] = name
    else
      agent = polecat.get(rig, name)
      local home = rig:home(name)
      if cwd and inside(cwd, home) then
        errors.raise("failure", "polecat %s: the current directory is inside its worktree; cd out of %s first",
          name, home)
      end
      plan[#plan + 1] = { name = name, agent = agent, home = home }
    end
  end
  for _, entry in ipairs(plan) do
    entry.report = require("gt.safety").classify(rig, entry.agent)
  end
  return plan, finished
end

--- The table remove hooks receive: rig, name, path, branch, issue, force, discard, report (the
--- safety classification, gt.safety), town, rig_root; post_remove also gets salvage (the ref
--- the work was saved under, if it was).
local function remove_context(rig, entry, opts)
  local a = entry.agent
  return { rig = rig.name, name = entry.name, path = a.worktree, branch = a.branch, issue = a.issue,
    force = opts.force == true, discard = opts.discard == true, report = entry.report,
    town = rig.town.root, rig_root = rig.root }
end

--- Describes the steps a remove would take (what --dry-run prints).
function polecat.describe_plan(rig, entry, opts)
  local steps = {}
  if not entry.report.safe and not opts.force then
    return { "refuse: it holds work that exists nowhere else (" ..
      table.concat(require("gt.safety").describe(entry.report), "; ") .. ")" }
  end
  if not entry.report.safe then
    if opts.discard then
      steps[#steps + 1] = "discard unsaved work (--discard)"
    else
      steps[#steps + 1] = ("save unsaved work under refs/gt/salvage/%s/%s/<stamp>"):format(rig.name, entry.name)
    end
  end
  steps[#steps + 1] = "delete " .. entry.home
  steps[#steps + 1] = "prune git's worktree record " .. entry.name
  if entry.agent.branch then steps[#steps + 1] = "delete branch " .. entry.agent.branch end
  steps[#steps + 1] = "mark " .. rig.name .. "/" .. entry.name .. " removed in the ledger"
  return steps
end

--- Removes polecats `list` (names) of `rig`. opts: force (save unsaved work, then remove),
--- discard (with force: do not save it), dry_run (return the plan, change nothing).
--- Without force, refuses (exit 3) if any of them holds work that exists nowhere else; nothing
--- is removed then. A name whose interrupted remove this finishes counts as removed. Returns a
--- list of { name, safe, salvage = {ref, commit} | nil, report, steps (dry run), recovered }.
function polecat.remove(rig, list, opts)
  opts = opts or {}
  if opts.discard and not opts.force then
    errors.raise("usage", "--discard only makes sense with --force")
  end
  local unique, seen = {}, {}
  for _, name in ipairs(list) do
    names.check(name, "polecat name")
    if not seen[name] then seen[name] = true; unique[#unique + 1] = name end
  end
  table.sort(unique) -- locks are always taken in the same order
  local locks <close> = lock_set()
  local plan, finished = plan_remove(rig, unique, locks)

  for _, entry in ipairs(plan) do
    if not entry.report.worktree_missing then
      require("gt.trust").load_repo_hooks(entry.agent.worktree, entry.agent.id)
    end
    -- Named, as several polecats may be removed at once ("a: pre_remove hook (file:line): ...").
    local ok, err = xpcall(hooks.run, errors.handler, "pre_remove", remove_context(rig, entry, opts),
      { scope = entry.agent.id, kind = "refused" })
    if not ok then errors.rethrow(err, entry.name) end
  end

  local unsafe = {}
  for _, entry in ipairs(plan) do
    if not entry.report.safe then unsafe[#unsafe + 1] = entry end
  end
  if #unsafe > 0 and not opts.force and not opts.dry_run then
    local lines = {}
    for _, entry in ipairs(unsafe) do
      lines[#lines + 1] = ("polecat %s holds work that exists nowhere else:"):format(entry.name)
      for _, l in ipairs(require("gt.safety").describe(entry.report)) do
        lines[#lines + 1] = "  " .. l
      end
    end
    lines[#lines + 1] = "nothing was removed; use --force to save this work under " ..
      "refs/gt/salvage/ and remove, or --force --discard to drop it"
    errors.raise("refused", "refusing to remove: %s", table.concat(lines, "\n"))
  end

  local results = {}
  for _, name in ipairs(finished) do
    results[#results + 1] = { name = name, safe = true, recovered = true }
  end
  if opts.dry_run then
    for _, entry in ipairs(plan) do
      results[#results + 1] = { name = entry.name, safe = entry.report.safe, report = entry.report,
        steps = polecat.describe_plan(rig, entry, opts), dry_run = true }
    end
    return results
  end

  local db = rig.town:ledger()
  local hook_errors = {}
  for _, entry in ipairs(plan) do
    local name, agent = entry.name, entry.agent
    local saved
    if not entry.report.safe and not opts.discard then
      saved = require("gt.salvage").save(rig, agent, entry.report)
      store.tx(db, function()
        store.event(db, agent.id, "salvaged", { ref = saved.ref, commit = saved.commit,
          lost = require("gt.safety").describe(entry.report) })
      end)
    end
    local data = { home = entry.home, path = agent.worktree, branch = agent.branch,
      delete_branch = true, salvage = saved and saved.ref }
    local op
    store.tx(db, function()
      store.agent_set_state(db, agent.id, "removing", "removing",
        { force = opts.force == true, discard = opts.discard == true, salvage = data.salvage })
      op = store.op_begin(db, "remove", agent.id, { "folder", "prune", "branch", "removed" }, data)
    end)
    polecat._finish_remove(rig, name, data)
    store.tx(db, function()
      store.agent_set_state(db, agent.id, "removed", "removed",
        { salvage = data.salvage, discarded = opts.discard == true and not entry.report.safe })
      store.op_finish(db, op, "done")
    end)
    results[#results + 1] = { name = name, safe = entry.report.safe, report = entry.report,
      salvage = saved, discarded = opts.discard == true and not entry.report.safe }
    local post = remove_context(rig, entry, opts)
    post.salvage = saved and saved.ref
    local ok, err = pcall(hooks.run, "post_remove", post, { scope = agent.id })
    if not ok then hook_errors[#hook_errors + 1] = name .. ": " .. tostring(err) end
  end
  if #hook_errors > 0 then
    results.hook_errors = hook_errors
  end
  return results
end

--- Returns the ledger row of live polecat `name` of `rig`; raises a gt error (exit 4) when
--- there is none.
function polecat.get(rig, name)
  names.check(name, "polecat name")
  local agent = store.agent_get(rig.town:ledger(), rig.name, name)
  if not agent or not store.LIVE[agent.state] then
    errors.raise("notfound", "no polecat %s in rig %s", name, rig.name)
  end
  return agent
end

-- List ---------------------------------------------------------------------------------------

--- Lists live polecats of `rig` (or of every rig of `town` when rig is nil), from the ledger
--- and a stat of each worktree (no git status). Returns rows { rig, name, state, branch, issue,
--- path, created_at, updated_at, missing }.
function polecat.list(town, rig)
  local rows = {}
  for _, a in ipairs(store.agents(town:ledger(), rig and rig.name or nil, false)) do
    rows[#rows + 1] = { rig = a.rig, name = a.name, state = a.state, branch = a.branch,
      issue = a.issue, path = a.worktree, created_at = a.created_at, updated_at = a.updated_at,
      missing = a.worktree == nil or fs.stat(a.worktree) == nil }
  end
  return rows
end

--- Returns the history of polecat `name` of `rig`: its events, oldest first.
function polecat.history(rig, name, limit)
  names.check(name, "polecat name")
  return store.events(rig.town:ledger(), rig.name .. "/" .. name, limit)
end

return polecat
