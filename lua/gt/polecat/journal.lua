--- gt.polecat.journal: finishing or undoing what a command on a polecat did not finish
--- (docs/design.md §4, docs/design-notes.md "The journal").
--
-- Every multi-step command records an operation in the ledger before it changes anything, and
-- the facts it learns (the branch's start, where the folder was moved) as it goes. A command
-- killed half-way leaves its operation `running`; the next command on the polecat (holding the
-- polecat's lock, as the killed one did) or gt doctor --fix ends it: an add is rolled back (or
-- finished, when its folder holds work), a remove is carried to its end. Whatever is deleted
-- goes through gt.reap, which proves first that nothing unsaved goes.
local fs = require("gt.fs")
local errors = require("gt.errors")
local layout = require("gt.layout")
local output = require("gt.output")
local store = require("gt.store")
local salvage = require("gt.salvage")
local reap = require("gt.reap")
local fault = require("gt.fault")
local spawn = require("gt.polecat.spawn")
local idle = require("gt.polecat.idle")

local journal = {}

--- A function that keeps `facts` in the data of journal operation `op` of `db` (gt.reap calls
--- it as it learns them).
function journal.persister(db, op)
  return function(facts)
    store.tx(db, function() store.op_update(db, op, facts) end)
  end
end

--- Runs the undo functions of the steps named in `done` that have one (steps users add; the
--- built-in ones are taken apart by gt.reap), newest first. Returns the errors as messages.
local function undo_steps(ctx, done)
  local problems = {}
  local by_name = {}
  for _, s in ipairs(spawn.steps) do by_name[s.name] = s end
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
    data.id, data.name, data.delete_branch = layout.id(rig.name, name), name, true
    return data
  end
  local repo = rig:repo()
  local start = data.start
  if not start and data.branch then start = repo:branch_lookup(data.branch) end
  local covered = {}
  if start then covered[1] = repo:tree_of(start) end
  return { id = layout.id(rig.name, name), name = name, home = data.home, trash = data.trash,
    path = data.path, branch = data.branch, tip = start, head = start, covered = covered,
    delete_branch = true }
end

--- Says on stderr where the work of polecat `name` was saved, and how to get it back.
local function note_salvages(rig, name, salvages)
  for _, saved in ipairs(salvages or {}) do
    output.note("gt: the unsaved work of %s was saved to %s; get it back with: %s", name, saved.ref,
      salvage.restore_hint(rig, saved.ref))
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
  local id = layout.id(rig.name, name)
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
  local result = reap.run(rig, facts, "salvage", journal.persister(db, op.id))
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
  local id = layout.id(rig.name, name)
  local facts = op.data
  facts.id, facts.name = id, name
  facts.covered = facts.covered or {}
  local result = reap.run(rig, facts, facts.discard and "refuse" or "salvage", journal.persister(db, op.id))
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
--- finished, see recover_add), a remove is carried to its end, a reuse of an idle polecat's
--- worktree (on either name) is finished or rolled back and an idle transition finished
--- (gt.polecat.idle). The caller holds the polecat's lock, which the killed command held for
--- all of its operation: so whatever pid the journal names, its operation is abandoned.
--- Operations of other hosts are left to them. opts: force, discard (as for remove). Returns
--- { add = "rolled_back"|"finished", remove = true, reused = "rolled_back"|"finished",
--- salvages = {...} } for what it did.
function journal.recover(rig, name, opts)
  opts = opts or {}
  local recovered = { salvages = {} }
  local db = rig.town:ledger()
  for _, op in ipairs(store.ops_running(db, layout.id(rig.name, name))) do
    -- Another host's operation (a shared ledger) changed that host's disk: only it can finish
    -- it. It holds the name (its polecat is live there), so nothing here touches it.
    if store.is_local(db, op) then
      local salvages
      if op.kind == "add" then
        recovered.add, salvages = recover_add(rig, name, op, opts)
      elseif op.kind == "remove" then
        salvages = recover_remove(rig, name, op)
        recovered.remove = true
      elseif op.kind == "reuse" then -- an add that took an idle polecat's worktree (gt.polecat.idle)
        recovered.add = idle.recover_reuse(rig, op, name)
      elseif op.kind == "idle" then
        idle.recover_idle(rig, op)
      elseif op.kind == "restore" then -- gt salvage restore (gt.salvage)
        local gone
        salvages, gone = salvage.recover_restore(rig, name, op)
        if gone then recovered.add = "rolled_back" end
      end
      for _, s in ipairs(salvages or {}) do recovered.salvages[#recovered.salvages + 1] = s end
    end
  end
  -- A reuse of this polecat's worktree by another name (its operation is keyed by that name).
  for _, op in ipairs(idle.reusing(db, rig, name)) do
    recovered.reused = idle.recover_reuse(rig, op, name)
  end
  return recovered
end

--- Takes apart, in-process, what a failed add made (`ctx`, the spawn's facts; `op`, its journal
--- operation; `done`, the steps that ran): work found in it (a file a post_spawn hook or the
--- user wrote) is saved first. Returns the problems met (the
--- operation stays running when there are any, for the next command or gt doctor --fix).
function journal.roll_back(ctx, op, done)
  local db = ctx.rig.town:ledger()
  local problems = undo_steps(ctx, done)
  local facts = add_facts(ctx.rig, ctx.name, { branch = ctx.branch, home = ctx.home, path = ctx.path,
    start = ctx.start })
  local ok, result = xpcall(reap.run, errors.handler, ctx.rig, facts, "salvage", journal.persister(db, op))
  if not ok then
    problems[#problems + 1] = tostring(errors.is(result) and result.message or result)
  else
    note_salvages(ctx.rig, ctx.name, result.salvages)
  end
  return problems, ok
end

return journal
