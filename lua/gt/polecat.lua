--- gt.polecat: the lifecycle of polecats (DESIGN §4, docs/design-notes.md).
--
-- add:    validate the name → per-name lock → finish or roll back what a killed command left →
--         refuse if a live polecat has the name → record the intent (`spawning`, and an
--         operation in the journal) → the spawn steps below → `working`.
-- remove: per-name locks → classify what would be lost → pre_remove hooks → refuse, or save
--         it (unless --discard) → journal → gt.reap takes it apart (folder, git's record,
--         branch), proving first that nothing unsaved goes → `removed` → post_remove hooks.
--
-- The spawn steps are data: {name, run = fn(ctx), undo = fn(ctx)}. run may return facts to
-- keep in the journal. What the built-in steps make (branch, folder, worktree) is taken apart
-- by gt.reap, through the same safety gate as a remove, whether the add fails in-process or was
-- killed; a step a user adds may bring an undo of its own, run newest first before that.
local fs = require("gt.fs")
local sys = require("gt.sys")
local errors = require("gt.errors")
local names = require("gt.names")
local branch = require("gt.branch")
local output = require("gt.output")
local store = require("gt.store")
local hooks = require("gt.hooks")
local safety = require("gt.safety")
local salvage = require("gt.salvage")
local reap = require("gt.reap")
local fault = require("gt.fault")
local layout = require("gt.layout")

local polecat = {}

local check, check_doing = errors.check, errors.check_doing

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

local function worktree_record(repo, name)
  for _, wt in ipairs(check(repo:worktrees())) do
    if wt.name == name then return wt end
  end
  return nil
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
      if not ctx.start and start_ref == ctx.rig:start_ref() then
        errors.raise("failure", "%s not found in %s/.repo.git (is origin's %s branch gone? " ..
          "gt rig set-default %s follows origin's new default)", start_ref, ctx.rig.root,
          ctx.rig.config.default_branch, ctx.rig.name)
      elseif not ctx.start then
        errors.raise("failure", "%s not found in %s/.repo.git", start_ref, ctx.rig.root)
      end
      check_doing("creating branch " .. ctx.branch, repo:branch_create(ctx.branch, ctx.start))
      return { start = ctx.start } -- the journal's proof of what the branch holds
    end,
  },
  {
    name = "folder",
    run = function(ctx)
      check(fs.mkdir_p(ctx.rig.root .. "/polecats"))
      check_doing("creating " .. ctx.home, fs.mkdir(ctx.home))
    end,
  },
  {
    name = "worktree",
    run = function(ctx)
      -- Only git's metadata is written under the rig lock; the checkout comes next, outside it.
      local lk <close> = ctx.rig:lock("git", "gt polecat add " .. ctx.name)
      check_doing("adding worktree " .. ctx.path, ctx.rig:repo():worktree_add(ctx.name, ctx.path,
        ctx.branch, { lock = polecat.lock_reason(ctx.rig, ctx.name), checkout = false }))
    end,
  },
  {
    name = "checkout",
    run = function(ctx)
      local git = require("gt.git")
      local filters = require("gt.filters")
      local needs = filters.needed(ctx.rig:repo(), ctx.start, ctx.rig.town:ledger())
      local w <close> = check_doing("opening worktree", git.open(ctx.path))
      check_doing("checking out " .. ctx.branch,
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

--- Runs the undo functions of the steps named in `done` that have one (steps users add; the
--- built-in ones are taken apart by gt.reap), newest first. Returns the errors as messages.
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

--- The facts gt.reap needs to take apart what an add made, from its journal data: the branch
--- was made at the start commit, so what is in the start commit's tree is saved (on origin).
--- Once a rollback began, the journal holds gt.reap's own facts.
local function add_facts(rig, name, data)
  if data.covered then -- a rollback began: its facts, as it kept them in the journal
    data.id, data.name, data.delete_branch = rig.name .. "/" .. name, name, true
    return data
  end
  local repo = rig:repo()
  local start = data.start
  if not start and data.branch then start = repo:branch_lookup(data.branch) end
  local covered = {}
  if start then covered[1] = repo:tree_of(start) end
  return { id = rig.name .. "/" .. name, name = name, home = data.home, trash = data.trash,
    path = data.path, branch = data.branch, tip = start, head = start, covered = covered,
    delete_branch = true }
end

--- A function that keeps `facts` in the data of journal operation `op`.
local function persister(db, op)
  return function(facts)
    store.tx(db, function() store.op_update(db, op, facts) end)
  end
end

--- How to get back the work saved in a salvage.
function polecat.restore_hint(rig, ref)
  return ("git -C %s/.repo.git worktree add <folder> %s"):format(rig.root, ref)
end

local function note_salvages(rig, name, salvages)
  for _, saved in ipairs(salvages or {}) do
    output.note("gt: the unsaved work of %s was saved to %s; get it back with: %s", name, saved.ref,
      polecat.restore_hint(rig, saved.ref))
  end
end

--- Finishes or rolls back an add that a killed command left (journal operation `op`). Rolling
--- it back goes through the safety gate: when its folder or branch holds work, an add whose
--- checkout had finished is finished instead (the polecat stays, `working`); otherwise
--- opts.force saves the work and rolls back, opts.discard (with force) drops it, and without
--- them this refuses (exit 3), changing nothing. Returns "rolled_back" or "finished", and the
--- salvages made.
local function recover_add(rig, name, op, opts)
  fault.point("recover.add")
  local db = rig.town:ledger()
  local id = rig.name .. "/" .. name
  local facts = add_facts(rig, name, op.data)
  -- A step may have started without being recorded as done: undo every planned one.
  local problems = undo_steps({ rig = rig, name = name, id = id, branch = facts.branch,
    home = facts.home, path = op.data.path }, op.steps_planned)
  if #problems > 0 then
    errors.raise("failure", "polecat %s: rolling back an interrupted add failed: %s", name,
      table.concat(problems, "; "))
  end
  local lost = opts.discard and {} or reap.inspect(rig, facts)
  local checked_out = false
  for _, s in ipairs(op.steps_done) do checked_out = checked_out or s == "checkout" end
  -- A rollback that had begun (the folder moved aside) is carried on, saving what it holds.
  local rolling_back = facts.trash ~= nil and fs.lstat(facts.trash) ~= nil
  if #lost > 0 and checked_out and not rolling_back then
    store.tx(db, function()
      store.agent_set_state(db, id, "working", "recovered", { operation = op.id, pid = op.pid,
        action = "finished interrupted add: its folder holds work", holds = lost })
      store.op_finish(db, op.id, "done")
    end)
    output.note("gt: finished an interrupted add of %s (pid %d): its folder holds work, so it " ..
      "was kept (%s)", name, op.pid, table.concat(lost, "; "))
    return "finished", {}
  end
  if #lost > 0 and not opts.force and not rolling_back then
    errors.raise("refused", "polecat %s: an add that was interrupted (pid %d) before its checkout " ..
      "finished left work in its folder:\n  %s\nnothing was changed; gt polecat remove --force %s " ..
      "saves it and removes the polecat", name, op.pid, table.concat(lost, "\n  "), name)
  end
  facts.discard = opts.discard and opts.force
  local result = reap.run(rig, facts, "salvage", persister(db, op.id))
  store.tx(db, function()
    store.agent_set_state(db, id, "failed", "recovered", { operation = op.id, pid = op.pid,
      action = "rolled back interrupted add", salvage = facts.salvage })
    store.op_finish(db, op.id, "rolled_back")
  end)
  output.note("gt: rolled back an interrupted add of %s (pid %d)", name, op.pid)
  note_salvages(rig, name, result.salvages)
  return "rolled_back", result.salvages
end

--- Finishes a remove that a killed command left (journal operation `op`): gt.reap proves again
--- what the folder holds now, saving what appeared since (unless the remove was --discard).
local function recover_remove(rig, name, op)
  fault.point("recover.remove")
  local db = rig.town:ledger()
  local id = rig.name .. "/" .. name
  local facts = op.data
  facts.id, facts.name = id, name
  facts.covered = facts.covered or {}
  local result = reap.run(rig, facts, facts.discard and "refuse" or "salvage", persister(db, op.id))
  store.tx(db, function()
    store.agent_set_state(db, id, "removed", "recovered",
      { operation = op.id, pid = op.pid, action = "finished interrupted remove", salvage = facts.salvage })
    store.op_finish(db, op.id, "done")
  end)
  output.note("gt: finished an interrupted remove of %s (pid %d)", name, op.pid)
  note_salvages(rig, name, result.salvages)
  return result.salvages
end

--- Finishes what a killed command left on polecat `name` of `rig`: an add is rolled back (or
--- finished, see recover_add), a remove is carried to its end. The caller holds the polecat's
--- lock, which the killed command held for all of its operation: so whatever host or pid the
--- journal names, its operation is abandoned. opts: force, discard (as for remove). Returns
--- { add = "rolled_back"|"finished", remove = true, salvages = {...} } for what it did.
function polecat.recover(rig, name, opts)
  opts = opts or {}
  local recovered = { salvages = {} }
  local db = rig.town:ledger()
  for _, op in ipairs(store.ops_running(db, rig.name .. "/" .. name)) do
    local salvages
    if op.kind == "add" then
      recovered.add, salvages = recover_add(rig, name, op, opts)
    elseif op.kind == "remove" then
      salvages = recover_remove(rig, name, op)
      recovered.remove = true
    end
    for _, s in ipairs(salvages or {}) do recovered.salvages[#recovered.salvages + 1] = s end
  end
  return recovered
end

--- Takes apart, in-process, what a failed add made (the journal's facts): work found in it
--- (a file a post_spawn hook or the user wrote) is saved first. Returns the problems met (the
--- operation stays running when there are any, for the next command or gt doctor --fix).
local function roll_back(ctx, op, done)
  local db = ctx.rig.town:ledger()
  local problems = undo_steps(ctx, done)
  local facts = add_facts(ctx.rig, ctx.name, { branch = ctx.branch, home = ctx.home, path = ctx.path,
    start = ctx.start })
  local ok, result = xpcall(reap.run, errors.handler, ctx.rig, facts, "salvage", persister(db, op))
  if not ok then
    problems[#problems + 1] = tostring(errors.is(result) and result.message or result)
  else
    note_salvages(ctx.rig, ctx.name, result.salvages)
  end
  return problems, ok
end

--- Spawns polecat `name` in `rig`. opts: issue (id), fetch (default: the rig's
--- fetch_on_spawn), start_ref (default: refs/remotes/origin/<default_branch>). Returns
--- { name, branch, path, issue, start }. Every failure rolls back what was done.
function polecat.add(rig, name, opts)
  opts = opts or {}
  names.check(name, "polecat name")
  if opts.issue then names.check(opts.issue, "issue id") end
  hooks.check_loaded()
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
  local existing = store.agent_get(db, layout.id(rig.name, name))
  if existing and store.LIVE[existing.state] then refuse_live(existing) end
  local repo = rig:repo()
  if fs.lstat(ctx.home) then
    errors.raise("failure", "%s exists but no live polecat %s does; move it away first", ctx.home, name)
  end
  local record = worktree_record(repo, name)
  if record and record.broken then
    errors.raise("failure", "git has a worktree record named %s that it cannot read (%sworktrees/%s); " ..
      "move it away first", name, repo:commondir(), name)
  elseif record then
    errors.raise("failure", "git already has a worktree named %s (at %s); remove it first", name,
      record.path)
  end
  local pre = polecat.hook_context(ctx)
  local proposed = pre.start
  -- Named like a post_spawn error ("a: pre_spawn hook (file:line): ...").
  local pre_ok, pre_err = xpcall(hooks.run, errors.handler, "pre_spawn", pre)
  if not pre_ok then errors.rethrow(pre_err, name) end
  if type(pre.start) ~= "string" or pre.start == "" then
    errors.raise("failure", "pre_spawn hooks set start to %s; it must be a revision", tostring(pre.start))
  end
  -- Left as it was, the start is the rig's default as the fetch leaves it (origin may have
  -- renamed its default branch, which the fetch follows).
  if pre.start ~= proposed then ctx.start_ref = pre.start end

  local plan = step_names(polecat.spawn_steps)
  local op
  store.tx(db, function()
    local claimed, live = store.agent_claim(db, { id = ctx.id, rig = rig.name, name = name,
      branch = ctx.branch, worktree = ctx.path, issue = opts.issue })
    if not claimed then refuse_live(live) end
    op = store.op_begin(db, "add", ctx.id, plan, { branch = ctx.branch, home = ctx.home,
      path = ctx.path })
  end)
  fault.point("add.claimed")

  local done = {}
  for _, step in ipairs(polecat.spawn_steps) do
    local ok, err = xpcall(function()
      local facts = step.run(ctx)
      local point = "add." .. step.name
      if fault.is_point(point) then fault.point(point) end
      done[#done + 1] = step.name
      store.op_step(db, op, step.name, facts)
    end, errors.handler)
    if not ok then
      -- The failing step may have done part of its work (a branch made, then an error): undo
      -- it too, as recover() does.
      if done[#done] ~= step.name then done[#done + 1] = step.name end
      local problems, rolled_back = roll_back(ctx, op, done)
      store.tx(db, function()
        if rolled_back then
          store.agent_set_state(db, ctx.id, "failed", "failed",
            { step = step.name, error = tostring(err), undo_problems = problems })
          store.op_finish(db, op, #problems == 0 and "rolled_back" or "failed")
        else
          -- Left for the next command on the name, or gt doctor --fix, to finish.
          store.event(db, ctx.id, "failed", { step = step.name, error = tostring(err),
            undo_problems = problems })
        end
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
--- { name, agent, report }, and the results of the names whose removal recovery did (an
--- interrupted remove it finished, an interrupted add it rolled back). Raises for unknown names.
local function plan_remove(rig, list, locks, opts)
  local db = rig.town:ledger()
  local plan, finished = {}, {}
  local cwd = fs.cwd()
  cwd = cwd and fs.realpath(cwd) or cwd
  for _, name in ipairs(list) do
    locks[#locks + 1] = rig:lock("polecat-" .. name, "gt polecat remove " .. name)
    local recovered = polecat.recover(rig, name, { force = opts.force, discard = opts.discard })
    local agent = store.agent_get(db, layout.id(rig.name, name))
    if (recovered.remove or recovered.add == "rolled_back") and agent and not store.LIVE[agent.state] then
      -- The killed command was removing it, or adding it, and now it is gone: that is the
      -- removal asked for.
      finished[#finished + 1] = { name = name, safe = #recovered.salvages == 0, recovered = true,
        salvage = recovered.salvages[#recovered.salvages] }
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
    entry.report = safety.classify(rig, entry.agent)
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

--- Whether a --force remove of `entry` saves something: unsaved work, or ignored files the
--- rig keeps (keep_ignored).
local function saves(entry, opts)
  return opts.force and not opts.discard and
    (not entry.report.safe or #entry.report.ignored.kept > 0)
end

--- Describes the steps a remove would take (what --dry-run prints).
function polecat.describe_plan(rig, entry, opts)
  local steps = {}
  if not entry.report.safe and not opts.force then
    return { "refuse: it holds work that exists nowhere else (" ..
      table.concat(safety.describe(entry.report), "; ") .. ")" }
  end
  if not entry.report.savable and not opts.discard then
    return { "refuse: it holds work gt cannot save (" ..
      table.concat(safety.describe(entry.report), "; ") .. ")" }
  end
  if not entry.report.safe and opts.discard then
    steps[#steps + 1] = "discard unsaved work (--discard)"
  elseif saves(entry, opts) then
    steps[#steps + 1] = ("save unsaved work under refs/gt/salvage/%s/%s/<stamp>"):format(rig.name, entry.name)
  end
  steps[#steps + 1] = "delete " .. entry.home
  steps[#steps + 1] = "prune git's worktree record " .. entry.name
  if entry.agent.branch then steps[#steps + 1] = "delete branch " .. entry.agent.branch end
  steps[#steps + 1] = "mark " .. rig.name .. "/" .. entry.name .. " removed in the ledger"
  return steps
end

--- The refusal of a remove: what each polecat holds, and what to do.
local function refusal(entries)
  local lines, savable = {}, true
  for _, entry in ipairs(entries) do
    savable = savable and entry.report.savable
    lines[#lines + 1] = entry.report.savable
      and ("polecat %s holds work that exists nowhere else:"):format(entry.name)
      or ("polecat %s holds work gt cannot save:"):format(entry.name)
    for _, l in ipairs(safety.describe(entry.report)) do lines[#lines + 1] = "  " .. l end
    local ignored = safety.describe_ignored(entry.report)
    if ignored then lines[#lines + 1] = "  (" .. ignored .. ")" end
  end
  if savable then
    lines[#lines + 1] = "nothing was removed; use --force to save this work under " ..
      "refs/gt/salvage/ and remove, or --force --discard to drop it"
  else
    lines[#lines + 1] = "nothing was removed; save that work yourself, or use --force --discard to drop it"
  end
  return table.concat(lines, "\n")
end

--- Removes one planned polecat: saves what needs saving, journals the removal, and has gt.reap
--- take it apart. Returns its result.
local function remove_one(rig, entry, opts)
  local db = rig.town:ledger()
  local name, agent, report = entry.name, entry.agent, entry.report
  local saved
  if saves(entry, opts) then
    saved = salvage.save(rig, agent, report)
    store.tx(db, function()
      store.event(db, agent.id, "salvaged", { ref = saved.ref, commit = saved.commit,
        lost = safety.describe(report) })
    end)
  end
  fault.point("remove.salvaged")
  local repo = rig:repo()
  local covered = {}
  if report.head then covered[#covered + 1] = repo:tree_of(report.head) end
  if saved then
    covered[#covered + 1] = saved.tree
    if saved.index then covered[#covered + 1] = saved.index end
  end
  local discard = opts.force and opts.discard and not report.safe
  local facts = { id = agent.id, name = name, home = entry.home, branch = agent.branch,
    tip = report.branch_tip, head = report.head, covered = covered,
    strays_covered = saved and saved.strays, keep = saved and rig:option("keep_ignored") or nil,
    salvage = saved and saved.ref, salvage_commit = saved and saved.commit,
    discard = discard, delete_branch = true }
  local op
  store.tx(db, function()
    store.agent_set_state(db, agent.id, "removing", "removing",
      { force = opts.force == true, discard = opts.discard == true, salvage = facts.salvage })
    op = store.op_begin(db, "remove", agent.id, { "move", "prove", "delete", "prune", "branch" }, facts)
  end)
  fault.point("remove.journaled")
  -- A plain remove found it safe: anything found now appeared since, and the folder is put
  -- back. A --force remove saves that too.
  local policy = opts.force and "salvage" or "restore"
  local ok, result = xpcall(reap.run, errors.handler, rig, facts, policy, persister(db, op))
  if not ok then
    if errors.is(result) and result.restored then
      -- Nothing was deleted: the polecat is as it was.
      store.tx(db, function()
        store.agent_set_state(db, agent.id, agent.state, "remove_undone", { reason = result.message })
        store.op_finish(db, op, "rolled_back")
      end)
      if not result.message:find("nothing was removed", 1, true) then
        result.message = result.message .. "; nothing was removed"
      end
    end
    errors.rethrow(result, name)
  end
  fault.point("remove.done")
  store.tx(db, function()
    store.agent_set_state(db, agent.id, "removed", "removed",
      { salvage = facts.salvage, discarded = discard, kept_branch = result.kept_branch })
    store.op_finish(db, op, "done")
  end)
  local last = result.salvages[#result.salvages]
  return { name = name, safe = report.safe, report = report, discarded = discard,
    salvage = last and { ref = last.ref, commit = last.commit } or saved }
end

--- Removes polecats `list` (names) of `rig`. opts: force (save unsaved work, then remove),
--- discard (with force: do not save it), dry_run (return the plan, change nothing).
--- Without force, refuses (exit 3) if any of them holds work that exists nowhere else; with it,
--- refuses when some of that work cannot be saved (a nested repository, a submodule's work,
--- what cannot be read) unless discard. Nothing is removed then. A name whose interrupted
--- operation recovery ends counts as removed. Returns a list of { name, safe, salvage =
--- {ref, commit} | nil, report, steps (dry run), recovered }.
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
  if not opts.dry_run then hooks.check_loaded() end
  local locks <close> = lock_set()
  local plan, finished = plan_remove(rig, unique, locks, opts)

  for _, entry in ipairs(plan) do
    if not entry.report.worktree_missing then
      require("gt.trust").load_repo_hooks(entry.agent.worktree, entry.agent.id)
    end
    -- Named, as several polecats may be removed at once ("a: pre_remove hook (file:line): ...").
    local ok, err = xpcall(hooks.run, errors.handler, "pre_remove", remove_context(rig, entry, opts),
      { scope = entry.agent.id, kind = "refused" })
    if not ok then errors.rethrow(err, entry.name) end
  end
  fault.point("remove.classified")

  local unsafe, unsavable = {}, {}
  for _, entry in ipairs(plan) do
    if not entry.report.safe then unsafe[#unsafe + 1] = entry end
    if not entry.report.savable then unsavable[#unsavable + 1] = entry end
  end
  if not opts.dry_run then
    if #unsafe > 0 and not opts.force then
      errors.raise("refused", "refusing to remove: %s", refusal(unsafe))
    end
    if #unsavable > 0 and not opts.discard then
      errors.raise("refused", "refusing to remove: %s", refusal(unsavable))
    end
  end

  local results = {}
  for _, r in ipairs(finished) do results[#results + 1] = r end
  if opts.dry_run then
    for _, entry in ipairs(plan) do
      results[#results + 1] = { name = entry.name, safe = entry.report.safe, report = entry.report,
        steps = polecat.describe_plan(rig, entry, opts), dry_run = true }
    end
    return results
  end

  local hook_errors = {}
  for _, entry in ipairs(plan) do
    local r = remove_one(rig, entry, opts)
    results[#results + 1] = r
    local post = remove_context(rig, entry, opts)
    post.salvage = r.salvage and r.salvage.ref
    local ok, err = pcall(hooks.run, "post_remove", post, { scope = entry.agent.id })
    if not ok then hook_errors[#hook_errors + 1] = entry.name .. ": " .. tostring(err) end
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
  local agent = store.agent_get(rig.town:ledger(), layout.id(rig.name, name))
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
