--- gt.trash: what a removal that returns at once left to delete (docs/design.md §4.2, §4.5).
--
-- gt polecat remove moves a polecat's folder and git's record of its worktree into a trash
-- entry, <rig>/.gt/trash/<name>-<stamp>/ (gt.reap.detach), and, in the transaction that records
-- the polecat `removed`, journals a `trash` operation (keyed layout.trash_key, its data the
-- reap facts). A deleter then empties the entry through gt.reap.empty (proven, what appeared
-- since saved, deleted as proven): a detached gt (`gt polecat empty-trash NAME`, in a session
-- of its own, its output appended to <town>/.gt/logs/trash.log), or the caller itself. Every
-- deleter holds the entry's lock (its `lock` file) while it works, so that two never work on
-- the same entry; the lock file goes with the entry. A deleter killed half-way leaves its
-- operation running and its lock free: the next gt polecat add or remove in the rig starts a
-- new detached deleter for it (trash.resume), gt doctor --fix empties it itself.
local fs = require("gt.fs")
local lock = require("gt.lock")
local proc = require("gt.proc")
local errors = require("gt.errors")
local output = require("gt.output")
local layout = require("gt.layout")
local store = require("gt.store")
local reap = require("gt.reap")

local trash = {}

--- The operation kind of a trash entry's deletion.
trash.KIND = "trash"

--- The name of trash entry `path` (its folder's name).
local function entry_name(path) return path:match("[^/]+$") end

--- Journals the deletion of the trash entry that reap.detach made (facts.entry), with `facts`
--- as its data; called inside the caller's transaction. Returns the operation id.
function trash.journal(db, rig, facts)
  return store.op_begin(db, trash.KIND, layout.trash_key(rig.name, entry_name(facts.entry)),
    { "prove", "delete" }, facts)
end

--- The trash entries of `rig` whose deletion is journaled and unfinished: { {name, path, op} },
--- oldest first.
function trash.pending(rig)
  local list = {}
  local db = rig.town:ledger()
  for _, op in ipairs(store.ops_running(db)) do
    if op.kind == trash.KIND and store.is_local(db, op) then -- another host's trash is on its disk
      local rig_name, rest = layout.split_id(op.agent)
      local name = rest and rest:match("^%.trash/(.+)$")
      if rig_name == rig.name and name then
        list[#list + 1] = { name = name, path = op.data.entry or (layout.trash_root(rig.root) .. "/" .. name),
          op = op }
      end
    end
  end
  return list
end

--- Whether a deleter is at work on trash entry `item` (trash.pending): who ({pid, what, ...},
--- gt.lock.holder), or nil.
function trash.busy(item)
  local path = item.path .. "/lock"
  local lk, _, code = lock.try(path, { what = "gt: is a deleter at work?" })
  if lk then
    lk:release()
    return nil
  end
  return code == "ELOCKED" and (lock.holder(path) or { pid = 0, what = "?" }) or nil
end

--- Starts a detached deleter of the trash entries `names` of `rig`: gt polecat empty-trash, in
--- a session of its own, stdin /dev/null, stdout and stderr appended to the town's trash log.
--- Returns its pid, or nil and why it could not start (the entries wait for the next command).
function trash.start(rig, names)
  local log = layout.trash_log(rig.town.root)
  local ok, err, code = fs.mkdir_p(log:match("^(.*)/[^/]*$"))
  if not ok then return nil, err, code end
  local argv = { gt.executable, "--town", rig.town.root, "--rig", rig.name, "polecat", "empty-trash",
    "--skip-busy" }
  for _, n in ipairs(names) do argv[#argv + 1] = n end
  return proc.start({ argv = argv, cwd = rig.town.root, log = log })
end

--- Starts a detached deleter for every entry of `rig` whose deletion is unfinished and that no
--- deleter is at work on (one killed, or never started). Never raises: a problem is warned
--- about. Returns the names it started one for.
function trash.resume(rig)
  local ok, names = pcall(function()
    local list = {}
    for _, item in ipairs(trash.pending(rig)) do
      if not trash.busy(item) then list[#list + 1] = item.name end
    end
    if #list > 0 then errors.check_doing("starting a deleter of the trash", trash.start(rig, list)) end
    return list
  end)
  if not ok then
    output.warn("the trash of rig %s is left for later: %s", rig.name, errors.is(names) and names.message or
      tostring(names))
    return {}
  end
  return names
end

--- Empties trash entry `item` (trash.pending) of `rig` under its lock: without opts.wait, a
--- deleter at work on it is left alone. Returns "deleted", "busy" (another deleter has it) or
--- "gone" (another deleter finished it). Raises what reap.empty raised (a refusal, a file that
--- changed under it), after recording it as an event `trash_failed` of the polecat; the
--- operation stays running then, for the next attempt.
function trash.empty(rig, item, opts)
  opts = opts or {}
  local db = rig.town:ledger()
  local key = layout.trash_key(rig.name, item.name)
  local what = "gt polecat empty-trash " .. item.name
  local lk, err, code
  if opts.wait then
    lk, err, code = lock.acquire(item.path .. "/lock", { timeout_ms = opts.timeout_ms or 600000, what = what })
  else
    lk, err, code = lock.try(item.path .. "/lock", { what = what })
  end
  local function running()
    for _, op in ipairs(store.ops_running(db, key)) do
      if op.kind == trash.KIND and store.is_local(db, op) then return op end
    end
    return nil
  end
  if not lk then
    if code == "ELOCKED" then return "busy" end
    if code ~= "ENOTFOUND" or fs.lstat(item.path) then errors.check_doing(item.path, nil, err, code) end
    -- The entry is gone: a deleter emptied it, and perhaps died before it said so.
    local op = running()
    if op then store.tx(db, function() store.op_finish(db, op.id, "done") end) end
    return "gone"
  end
  local _ <close> = lk
  local op = running() -- another deleter may have finished it while this one waited
  if not op then return "gone" end
  local facts = op.data
  local ok, result = xpcall(reap.empty, errors.handler, rig, facts, function(f)
    store.tx(db, function() store.op_update(db, op.id, f) end)
  end)
  if not ok then
    local message = errors.is(result) and result.message or tostring(result)
    store.tx(db, function()
      store.event(db, facts.id, "trash_failed", { entry = item.path, error = message })
    end)
    errors.rethrow(result, "trash " .. item.name)
  end
  store.tx(db, function() store.op_finish(db, op.id, "done") end)
  return "deleted", result.salvages
end

return trash
