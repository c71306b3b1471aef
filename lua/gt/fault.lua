--- gt.fault: named points in gt's multi-step commands where the fault-injection tests make it
--- fail (tests/functional/fault_spec.lua). The environment says which point fails, and how:
---
---   GT_FAULT=reap.delete=kill   die at once with SIGKILL at that point (a crash: no cleanup)
---   GT_FAULT=add.checkout=error raise an error there (the command's own rollback runs)
---   GT_FAULT=reap.delete=pause  only sleep there, GT_FAULT_PAUSE_MS (default 200), and go on
---   GT_FAULT_PAUSE_MS=200       first sleep that long at the point (another process acts)
---   GT_FAULT_SIGNAL=/tmp/x      first create that file, telling another process gt is there
---
--- Without GT_FAULT a point costs a table lookup. Every point is listed in fault.POINTS, so
--- that the tests can go through all of them.
local sys = require("gt.sys")
local errors = require("gt.errors")

local fault = {}

--- Every fault point, in the order a command meets them.
fault.POINTS = {
  -- gt polecat add: a name chosen from the pool (no name given) and claimed, before the
  -- journal; after the name is claimed, then after each spawn step has done its work
  "add.named", "add.claimed", "add.fetch", "add.branch", "add.folder", "add.worktree", "add.checkout",
  "add.repo_hooks", "add.working", "add.post_spawn",
  -- gt polecat remove: classified, saved, journaled; then gt.reap's steps; then marked removed
  "remove.classified", "remove.salvaged", "remove.journaled",
  "reap.move", "reap.delete", "reap.prune", "reap.branch",
  -- (a remove that returns at once: its folder and record moved into the trash, gt.reap.detach)
  "remove.moved",
  "remove.done",
  -- the background deleter of a removed polecat's trash (gt.trash): before its proof, then
  -- half-way through the deletion (the worktree's files gone, the rest not)
  "trash.prove", "trash.delete",
  -- gt polecat done: the idle transition journaled, then HEAD detached
  "done.journaled", "done.detached",
  -- gt polecat add reusing an idle polecat: journaled, branch made, worktree moved, checked out
  "reuse.journaled", "reuse.branch", "reuse.moved", "reuse.checkout",
  -- gt salvage restore: the files and index written, then the stashes stored
  "restore.files", "restore.stashes",
  -- recovery of what a killed command left, before it finishes or rolls it back
  "recover.add", "recover.remove", "recover.reuse",
  -- gt rig add: the folder made, then the clone done
  "rig_add.folder", "rig_add.clone",
}

local known = {}
for _, p in ipairs(fault.POINTS) do known[p] = true end

local armed -- point name -> action, from GT_FAULT
local function arm()
  armed = {}
  local spec = os.getenv("GT_FAULT")
  for item in (spec or ""):gmatch("[^,%s]+") do
    local point, action = item:match("^([%w_.]+)=(%a+)$")
    if point and (action == "kill" or action == "error" or action == "pause") then
      armed[point] = action
    end
  end
end

--- Whether `name` is a fault point.
function fault.is_point(name)
  return known[name] == true
end

--- Fails here if GT_FAULT names this point. Raises when `name` is not in fault.POINTS (a typo
--- would make a test pass without testing anything).
function fault.point(name)
  if not known[name] then error("unknown fault point " .. tostring(name), 2) end
  if not armed then arm() end
  local action = armed[name]
  if not action then return end
  local signal = os.getenv("GT_FAULT_SIGNAL")
  if signal and signal ~= "" then
    local f = io.open(signal, "w")
    if f then f:close() end
  end
  local pause = math.tointeger(tonumber(os.getenv("GT_FAULT_PAUSE_MS") or ""))
  if action == "pause" then pause = pause or 200 end
  if pause and pause > 0 then sys.sleep_ms(pause) end
  if action == "pause" then return end
  if action == "kill" then
    io.stdout:flush()
    io.stderr:flush()
    sys.kill(sys.pid(), 9)
  end
  error(errors.new("failure", "injected fault at %s", name), 0)
end

return fault
