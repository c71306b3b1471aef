--- gt.rig_remove: taking a rig out of its town without losing work (gt rig remove).
--
-- 1. Every live polecat is removed through gt.polecat.remove, all or nothing: without force a
--    polecat holding work that exists nowhere else makes the whole command refuse (exit 3),
--    changing nothing; with force that work is saved in salvages first, as remove --force does.
-- 2. The rig's folder is moved in one step to <town>/.gt/removed/<rig>-<stamp>.
-- 3. The ledger forgets the rig (its polecats' history stays).
-- 4. The moved folder is deleted only when its repository holds nothing a fresh clone of origin
--    would not (no salvage, no polecat branch kept, no stash): else it is kept, and said where.
-- Each step can be run again: a command killed half-way is finished by running it again.
local fs = require("gt.fs")
local sys = require("gt.sys")
local errors = require("gt.errors")
local layout = require("gt.layout")
local branch = require("gt.branch")
local store = require("gt.store")
local rig = require("gt.rig")
local polecat = require("gt.polecat")
local trash = require("gt.trash")

local rig_remove = {}

--- The plan of removing rig `name` of `town`: { rig, root, polecats = {names}, archive (where the
--- folder goes), steps = {text} }.
function rig_remove.plan(town, name, opts)
  opts = opts or {}
  local r = rig.open(town, name)
  local names = {}
  for _, p in ipairs(polecat.list(town, r)) do names[#names + 1] = p.name end
  local archive = layout.removed_rig(town.root, name, branch.base36(sys.now_ms()))
  local steps = {}
  if #names > 0 then
    steps[#steps + 1] = ("remove polecats %s%s"):format(table.concat(names, ", "),
      opts.force and " (saving their unsaved work under refs/gt/salvage/)" or "")
  end
  steps[#steps + 1] = ("move %s to %s"):format(r.root, archive)
  steps[#steps + 1] = "forget rig " .. name .. " in the ledger"
  steps[#steps + 1] = "delete " .. archive .. " unless its repository holds work a clone of origin lacks"
  return { rig = r, root = r.root, polecats = names, archive = archive, steps = steps }
end

--- Removes rig `name` of `town` (see the module's header). opts: force. Returns the plan, with
--- `kept` set to why the moved folder was kept (nil when it was deleted).
function rig_remove.run(town, name, opts)
  opts = opts or {}
  local lk <close> = rig.lock(town, name, "gt rig remove " .. name)
  local db = town:ledger()
  local root = layout.rig_root(town.root, name)
  local shared = store.backend(db) == "postgresql"
  if shared and store.rig_get(db, name) then
    -- On a ledger several hosts share, the rig is forgotten only when no other host works in it.
    local others = {}
    for _, a in ipairs(store.agents(db, name, false)) do
      if not store.is_local(db, a) then others[#others + 1] = a.name .. " on " .. a.host end
    end
    if #others > 0 then
      errors.raise("refused", "rig %s has polecats on other hosts (%s): remove them there first; " ..
        "nothing was removed", name, table.concat(others, ", "))
    end
    if not fs.lstat(root) then
      errors.raise("notfound", "rig %s has no folder on this host (%s); nothing was removed", name,
        store.host())
    end
  end
  if store.rig_get(db, name) and not fs.lstat(root) then
    -- A remove killed after it moved the folder (or a folder deleted by hand): what is left
    -- is the ledger's row.
    store.tx(db, function() store.rig_delete(db, name) end)
    return { root = root, polecats = {}, steps = { "forget rig " .. name .. " in the ledger" }, forgot = true }
  end
  local plan = rig_remove.plan(town, name, opts)
  local r = plan.rig
  if #plan.polecats > 0 then
    polecat.remove(r, plan.polecats, { force = opts.force })
  end
  -- What earlier removes left to delete in the background is deleted (proven) first: the
  -- moved folder may be deleted whole.
  for _, item in ipairs(trash.pending(r)) do trash.empty(r, item, { wait = true }) end
  r:close()
  errors.check_doing("creating " .. layout.dotgt(town.root) .. "/removed",
    fs.mkdir_p(layout.dotgt(town.root) .. "/removed"))
  errors.check_doing("moving " .. plan.root, fs.rename(plan.root, plan.archive))
  store.tx(db, function() store.rig_delete(db, name) end)
  plan.kept = rig.holds_work(layout.repo(plan.archive))
  if not plan.kept then
    errors.check_doing("removing " .. plan.archive, fs.remove_tree(plan.archive))
  end
  return plan
end

return rig_remove
