--- gt.town: a town, the folder that holds rigs and the ledger (docs/design.md §2; where
--- things are: gt.layout).
local fs = require("gt.fs")
local sys = require("gt.sys")
local errors = require("gt.errors")
local luafile = require("gt.luafile")
local store = require("gt.store")
local locate = require("gt.locate")
local layout = require("gt.layout")
local trust = require("gt.trust")
local rig = require("gt.rig")

local town = {}

---@class gt.Town
---@field root string real path of the town folder
---@field config table contents of .gt/town.lua
local Town = {}
Town.__index = Town
Town.__tostring = function(t) return "gt.Town (" .. t.root .. ")" end

--- Returns the folder `gt init` uses when none is given: $GT_TOWN, else ~/gt.
function town.default_root()
  local env = os.getenv("GT_TOWN")
  if env and env ~= "" then return env end
  return (os.getenv("HOME") or "") .. "/gt"
end

--- True if `dir` is a town.
town.is_town = locate.is_town

--- Returns the outermost folder holding `start` that is a town, or nil.
town.discover = locate.discover_town

--- Opens the town at `root`; raises a gt error if it is not one.
---@return gt.Town
function town.open(root)
  local real = fs.realpath(root)
  if not real or not town.is_town(real) then
    errors.raise("notfound", "%s is not a town (run gt init %s)", root, root)
  end
  local config, err = luafile.read(layout.town_config(real))
  if not config then errors.raise("failure", "reading town config: %s", err) end
  return setmetatable({ root = real, config = config }, Town)
end

--- Finds the town of a command: `explicit` (--town), else $GT_TOWN, else the outermost town
--- holding the current directory. Raises a gt error when there is none.
---@return gt.Town
function town.find(explicit)
  local root = locate.town(explicit)
  if not root then
    errors.raise("notfound", "not inside a town (use --town DIR or GT_TOWN, or create one with gt init)")
  end
  return town.open(root)
end

--- Creates a town at `dir` (made if missing). Returns the town and whether it already existed.
---@return gt.Town, boolean existed
function town.init(dir)
  if town.is_town(dir) then return town.open(dir), true end
  errors.check(fs.mkdir_p(layout.dotgt(dir)))
  local real = errors.check(fs.realpath(dir))
  local ok, err = luafile.write(layout.town_config(real), { created_at = sys.now_ms(), version = 1 },
    "gt town configuration (see gt help)")
  if not ok then errors.raise("failure", "writing %s: %s", layout.town_config(real), err) end
  local t = town.open(real)
  t._db = store.open(layout.ledger(real), { create = true })
  -- Its init files and module overrides are the user's own code (gt.trust).
  trust.own(real)
  errors.check(fs.mkdir_p(layout.town_locks(real)))
  return t, false
end

--- Returns the town's ledger, opened (and migrated) on first use.
---@return gt.Ledger
function Town:ledger()
  if not self._db then self._db = store.open(layout.ledger(self.root)) end
  return self._db
end

--- Returns the name of the rig whose folder holds `path` (also from deep inside a polecat's
--- worktree), or nil.
function Town:rig_of_path(path)
  return locate.rig_of_path(self.root, path)
end

--- Returns the rig a command works on: `explicit` (--rig), else $GT_RIG, else the rig holding
--- the current directory. Raises a gt error when there is none.
---@return gt.Rig
function Town:find_rig(explicit)
  local name = locate.rig(self.root, explicit)
  if not name then
    errors.raise("usage", "no rig given (use --rig NAME or GT_RIG, or run gt inside a rig)")
  end
  return rig.open(self, name)
end

--- Returns the town's rigs (gt.rig.list rows).
function Town:rigs()
  return rig.list(self)
end

--- Closes the ledger, if open.
function Town:close()
  if self._db then self._db:close(); self._db = nil end
end

return town
