--- gt.polecat: the lifecycle of polecats (docs/design.md §4, docs/design-notes.md).
--
-- add:    validate the name → per-name lock → finish or roll back what a killed command left →
--         refuse if a live polecat has the name → record the intent (`spawning`, and an
--         operation in the journal) → the spawn steps (gt.polecat.spawn) → `working`.
-- remove: per-name locks → classify what would be lost → pre_remove hooks → refuse, or save
--         it (unless --discard) → journal → gt.reap takes it apart (folder, git's record,
--         branch), proving first that nothing unsaved goes → `removed` → post_remove hooks.
--
-- Whatever a killed command left is finished or undone by gt.polecat.journal first.
local fs = require("gt.fs")
local sys = require("gt.sys")
local errors = require("gt.errors")
local names = require("gt.names")
local layout = require("gt.layout")
local output = require("gt.output")
local store = require("gt.store")
local hooks = require("gt.hooks")
local usercode = require("gt.usercode")
local safety = require("gt.safety")
local salvage = require("gt.salvage")
local reap = require("gt.reap")
local trash = require("gt.trash")
local namepool = require("gt.namepool")
local fault = require("gt.fault")
local spawn = require("gt.polecat.spawn")
local journal = require("gt.polecat.journal")
local idle = require("gt.polecat.idle")
local session = require("gt.session")

local polecat = {}

--- The steps of a spawn, in order (gt.polecat.spawn): a user may add steps of their own.
polecat.spawn_steps = spawn.steps

--- Finishes what a killed command left on polecat `name` of `rig` (gt.polecat.journal.recover).
polecat.recover = journal.recover

--- Returns the ledger row of live polecat `name` of `rig`; raises a gt error (exit 4) when
--- there is none, or when its worktree is on another host (a shared ledger: docs/design.md
--- §3.7).
function polecat.get(rig, name)
  names.check(name, "polecat name")
  local db = rig.town:ledger()
  local agent = store.agent_get(db, layout.id(rig.name, name))
  if not agent or not store.LIVE[agent.state] then
    errors.raise("notfound", "no polecat %s in rig %s", name, rig.name)
  end
  store.check_local(db, agent)
  return agent
end

--- Spawns polecat `name` in `rig` (nil: the next free name of the rig's pool, gt.namepool,
--- claimed as it is chosen). opts: issue (id), fetch (default: the rig's
--- fetch_on_spawn), start_ref (default: refs/remotes/origin/<default_branch>), fresh (never
--- reuse an idle polecat's worktree; else one is reused when the rig's `reuse` option is on:
--- gt.polecat.idle). Returns { name, branch, path, issue, start, reused }. Every failure rolls
--- back what was done.
function polecat.add(rig, name, opts)
  opts = opts or {}
  if name ~= nil then names.check(name, "polecat name") end
  if opts.issue then names.check(opts.issue, "issue id") end
  hooks.check_loaded()
  local db = rig.town:ledger()
  local ctx
  -- Without a name: chosen, locked and claimed at once; a failure before the journal frees it.
  local claim <close> = name == nil and namepool.claim(rig, function(n)
    ctx = spawn.context(rig, n, opts.issue, sys.now_ms())
    return { id = ctx.id, rig = rig.name, name = n, branch = ctx.branch, worktree = ctx.path,
      issue = opts.issue }
  end, "gt polecat add") or nil
  name = name or claim.name
  if claim then fault.point("add.named") end
  local lk <close> = not claim and rig:lock(layout.polecat_lock(name), "gt polecat add " .. name) or nil
  journal.recover(rig, name)
  trash.resume(rig) -- a background deletion that was killed goes on (gt.trash)

  ctx = ctx or spawn.context(rig, name, opts.issue, sys.now_ms())
  ctx.start_ref = opts.start_ref
  if opts.fetch == nil then ctx.fetch = rig:option("fetch_on_spawn") else ctx.fetch = opts.fetch end

  local function refuse_live(live)
    errors.raise("failure", "polecat %s already exists in rig %s (%s on %s%s)", name, rig.name,
      live.state, live.branch or "no branch", store.is_local(db, live) and "" or ", host " .. live.host)
  end
  local existing = store.agent_get(db, ctx.id)
  if existing and store.LIVE[existing.state] and not claim then refuse_live(existing) end
  local repo = rig:repo()
  if fs.lstat(ctx.home) then
    errors.raise("failure", "%s exists but no live polecat %s does; move it away first", ctx.home, name)
  end
  local record = spawn.worktree_record(repo, name)
  if record and record.broken then
    errors.raise("failure", "git has a worktree record named %s that it cannot read (%s); " ..
      "move it away first", name, layout.worktree_admin(repo:commondir(), name))
  elseif record then
    errors.raise("failure", "git already has a worktree named %s (at %s); remove it first", name,
      record.path)
  end
  -- An idle polecat's worktree is reused when there is one (gt.polecat.idle): locked from here.
  local reuse <close> = not opts.fresh and idle.candidate(rig, ctx) or nil
  local pre = spawn.hook_context(ctx)
  pre.reused = reuse and reuse.name or nil
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
  if reuse then return idle.reuse(rig, ctx, reuse, { issue = opts.issue, claim = claim }) end

  local plan = spawn.step_names(polecat.spawn_steps)
  local op
  store.tx(db, function()
    local claimed, live = claim ~= nil, nil
    if not claim then
      claimed, live = store.agent_claim(db, { id = ctx.id, rig = rig.name, name = name,
        branch = ctx.branch, worktree = ctx.path, issue = opts.issue })
    end
    if not claimed then refuse_live(live) end
    op = store.op_begin(db, "add", ctx.id, plan, { branch = ctx.branch, home = ctx.home,
      path = ctx.path })
  end)
  if claim then claim.journaled = true end
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
      local problems, rolled_back = journal.roll_back(ctx, op, done)
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
    locks[#locks + 1] = rig:lock(layout.polecat_lock(name), "gt polecat remove " .. name)
    local recovered = journal.recover(rig, name, { force = opts.force, discard = opts.discard })
    local agent = store.agent_get(db, layout.id(rig.name, name))
    if (recovered.remove or recovered.add == "rolled_back") and agent and not store.LIVE[agent.state] then
      -- The killed command was removing it, or adding it, and now it is gone: that is the
      -- removal asked for.
      finished[#finished + 1] = { name = name, safe = #recovered.salvages == 0, recovered = true,
        salvage = recovered.salvages[#recovered.salvages] }
    else
      agent = polecat.get(rig, name)
      local home = layout.home(rig.root, name)
      if cwd and inside(cwd, home) then
        errors.raise("failure", "polecat %s: the current directory is inside its worktree; cd out of %s first",
          name, home)
      end
      -- A running session (gt.session) could change the worktree under the removal: refused,
      -- or with --force stopped first.
      local running = session.current(rig, name)
      if running and not opts.dry_run then
        if not opts.force then
          errors.raise("refused", "polecat %s has a session running (pid %d): stop it first (gt " ..
            "polecat stop %s), or remove --force to stop it; nothing was removed", name, running.pid, name)
        end
        session.stop_session(rig, running, session.stop_timeout(rig))
        running = nil
      end
      plan[#plan + 1] = { name = name, agent = agent, home = home, session = running }
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
  if entry.session and not opts.force then
    return { ("refuse: a session is running (pid %d); stop it first, or use --force"):format(entry.session.pid) }
  elseif entry.session then
    steps[1] = ("stop the session (pid %d): SIGTERM, then SIGKILL after %g s"):format(entry.session.pid,
      session.stop_timeout(rig) / 1000)
  end
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
    steps[#steps + 1] = "save unsaved work under " .. layout.salvage_prefix(rig.name, entry.name) .. "/<stamp>"
  end
  if entry.background then
    steps[#steps + 1] = ("move %s and git's worktree record %s into %s"):format(entry.home, entry.name,
      layout.trash_entry(rig.root, entry.name, "<stamp>"))
  else
    steps[#steps + 1] = "delete " .. entry.home
    steps[#steps + 1] = "prune git's worktree record " .. entry.name
  end
  if entry.agent.branch then steps[#steps + 1] = "delete branch " .. entry.agent.branch end
  steps[#steps + 1] = "mark " .. layout.id(rig.name, entry.name) .. " removed in the ledger"
  if entry.background then
    steps[#steps + 1] = "delete the trash in the background: prove what it holds, save what " ..
      "appeared since, delete the rest"
  end
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
  -- back. A --force remove saves that too. Returning at once (entry.background), the folder is
  -- only moved into the trash here, proven and deleted later (gt.trash): what appeared since
  -- is saved then.
  local policy = opts.force and "salvage" or "restore"
  local persist = journal.persister(db, op)
  local ok, result
  if entry.background then
    ok, result = xpcall(reap.detach, errors.handler, rig, facts, persist)
    if ok and not result then entry.background = false end -- not movable: taken apart here
  end
  if not entry.background then
    ok, result = xpcall(reap.run, errors.handler, rig, facts, policy, persist)
  end
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
      { salvage = facts.salvage, discarded = discard, kept_branch = result.kept_branch,
        trash = entry.background and facts.entry or nil })
    store.op_finish(db, op, "done")
    if entry.background then trash.journal(db, rig, facts) end
  end)
  local last = result.salvages[#result.salvages]
  return { name = name, safe = report.safe, report = report, discarded = discard,
    salvage = last and { ref = last.ref, commit = last.commit } or saved,
    trash = entry.background and facts.entry or nil }
end

--- Removes polecats `list` (names) of `rig`. opts: force (save unsaved work, then remove),
--- discard (with force: do not save it), dry_run (return the plan, change nothing), background
--- (return once each polecat's folder and record are moved into the rig's trash, its branch
--- deleted and it is marked removed; a detached gt deletes the trash: gt.trash. Else, and for
--- a polecat with submodules or whose folder cannot be moved, all is done before returning).
--- Without force, refuses (exit 3) if any of them holds work that exists nowhere else; with it,
--- refuses when some of that work cannot be saved (a nested repository, a submodule's work,
--- what cannot be read) unless discard. Nothing is removed then. A name whose interrupted
--- operation recovery ends counts as removed. Returns a list of { name, safe, salvage =
--- {ref, commit} | nil, report, steps (dry run), recovered, trash (the entry deleted in the
--- background) }.
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
  if not opts.dry_run then trash.resume(rig) end -- a background deletion that was killed goes on
  local locks <close> = lock_set()
  local plan, finished = plan_remove(rig, unique, locks, opts)
  for _, entry in ipairs(plan) do
    entry.background = opts.background and reap.detachable(rig, entry.name, entry.home, entry.agent.worktree) or nil
  end

  for _, entry in ipairs(plan) do
    if not entry.report.worktree_missing then
      usercode.load_repo_hooks(entry.agent.worktree, entry.agent.id)
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
  local detached = {}
  for _, entry in ipairs(plan) do
    local r = remove_one(rig, entry, opts)
    results[#results + 1] = r
    if r.trash then detached[#detached + 1] = r.trash:match("[^/]+$") end
    local post = remove_context(rig, entry, opts)
    post.salvage = r.salvage and r.salvage.ref
    local ok, err = pcall(hooks.run, "post_remove", post, { scope = entry.agent.id })
    if not ok then hook_errors[#hook_errors + 1] = entry.name .. ": " .. tostring(err) end
  end
  if #detached > 0 then
    local pid, err = trash.start(rig, detached)
    if not pid then
      output.warn("could not start deleting the trash (%s): the next gt polecat add or remove in " ..
        "rig %s, or gt doctor --fix, deletes it", err, rig.name)
    end
  end
  if #hook_errors > 0 then
    results.hook_errors = hook_errors
  end
  return results
end

-- List ---------------------------------------------------------------------------------------

--- Lists live polecats of `rig` (or of every rig of `town` when rig is nil), from the ledger
--- and a stat of each worktree on this host (no git status); of host `host` only (a name, or
--- true: this host, store.agents).
--- Returns rows { rig, name, state, branch, issue, path, host, here (on this host),
--- created_at, updated_at, missing, session (gt.session.info of its last session) }; state is
--- the effective one (a working polecat whose session ended is `stalled`).
function polecat.list(town, rig, host)
  local rows = {}
  local db = town:ledger()
  local sessions = session.all_last(town, rig and rig.name or nil)
  for _, a in ipairs(store.agents(db, rig and rig.name or nil, false, host)) do
    local here = store.is_local(db, a)
    local info = session.info(sessions[a.id], a)
    rows[#rows + 1] = { rig = a.rig, name = a.name, state = session.effective_state(a.state, info),
      branch = a.branch, issue = a.issue, path = a.worktree, host = a.host or store.host(), here = here,
      created_at = a.created_at, updated_at = a.updated_at,
      missing = here and (a.worktree == nil or fs.stat(a.worktree) == nil), session = info }
  end
  return rows
end

--- Hands the work of polecat `name` of `rig` in (gt polecat done): pushed if opts.push, then
--- idle, or removed with opts.remove; refuses (exit 3) while it holds unsaved work
--- (gt.polecat.idle.done).
function polecat.done(rig, name, opts) return idle.done(rig, name, opts, polecat) end

--- Keeps opts.size idle polecats ready in `rig` (gt polecat pool; gt.polecat.idle.pool).
function polecat.pool(rig, opts) return idle.pool(rig, opts, polecat) end

--- Returns the history of polecat `name` of `rig`: its events, oldest first.
function polecat.history(rig, name, limit)
  names.check(name, "polecat name")
  return store.events(rig.town:ledger(), layout.id(rig.name, name), limit)
end

return polecat
