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

--- The ledger a new town gets: `given` (gt init --ledger), else $GT_LEDGER, else nil (sqlite in
--- the town).
local function ledger_wanted(given)
  if given and given ~= "" then return given end
  local env = os.getenv("GT_LEDGER")
  return env ~= "" and env or nil
end

--- Creates a town at `dir` (made if missing), its ledger in it, or on the server of
--- opts.ledger or $GT_LEDGER (a URL, docs/design.md §3.7), which may already hold the ledger
--- of other hosts' towns. Returns the town and whether it already existed. A failure leaves
--- nothing behind.
---@return gt.Town, boolean existed
function town.init(dir, opts)
  if town.is_town(dir) then return town.open(dir), true end
  local url = ledger_wanted(opts and opts.ledger)
  if url and store.backend_of(url) ~= "postgresql" then
    errors.raise("usage", "--ledger %s is not a PostgreSQL URL (postgresql://...)", url)
  end
  -- The server first: one that cannot be reached leaves no half-made town.
  local db = url and store.open(url, { create = true })
  local made = not fs.lstat(dir) and dir or not fs.lstat(layout.dotgt(dir)) and layout.dotgt(dir)
  local ok, real = pcall(function()
    errors.check(fs.mkdir_p(layout.dotgt(dir)))
    local path = errors.check(fs.realpath(dir))
    local config = { created_at = sys.now_ms(), version = 1, ledger = url }
    local wrote, err = luafile.write(layout.town_config(path), config, "gt town configuration (see gt help)")
    if not wrote then errors.raise("failure", "writing %s: %s", layout.town_config(path), err) end
    return path
  end)
  if not ok then -- `real` is the error
    if db then db:close() end
    if made then fs.remove_tree(made) end
    error(real, 0)
  end
  local t = town.open(real)
  t._db = db or store.open(layout.ledger(real), { create = true })
  -- Its init files and module overrides are the user's own code (gt.trust).
  trust.own(real)
  errors.check(fs.mkdir_p(layout.town_locks(real)))
  return t, false
end

--- Where the town's ledger is: $GT_LEDGER, else `ledger` of .gt/town.lua (a server's URL), else
--- the sqlite file in the town. Shown with store.describe (never a password).
function Town:ledger_target()
  local env = os.getenv("GT_LEDGER")
  if env and env ~= "" then return env end
  if type(self.config.ledger) == "string" and self.config.ledger ~= "" then return self.config.ledger end
  return layout.ledger(self.root)
end

--- Returns the town's ledger, opened (and migrated) on first use.
---@return gt.Ledger
function Town:ledger()
  if not self._db then
    store.host() -- a bad GT_HOST is refused before anything is done, not at the first write
    self._db = store.open(self:ledger_target())
  end
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

--- Moves the town's ledger from its sqlite file to the PostgreSQL database `url` (gt ledger
--- migrate): every row is copied in one server transaction, each table's count and digest
--- checked, and only then does .gt/town.lua name the server. The sqlite file stays as it was,
--- sealed against changes (store.seal), as a backup. The server's database must hold no rigs,
--- agents or events yet. opts.dry_run: check and count, change nothing. Returns { from, to,
--- tables = { {table, rows, digest} } }.
function Town:move_ledger(url, opts)
  opts = opts or {}
  if store.backend_of(url) ~= "postgresql" then
    errors.raise("usage", "--to %s is not a PostgreSQL URL (postgresql://...)", url)
  end
  local from = self:ledger_target()
  if store.backend_of(from) ~= "sqlite" then
    errors.raise("failure", "the town's ledger is on a server already (%s)", store.describe(from))
  end
  local src = self:ledger()
  local result = { from = from, to = store.describe(url), tables = {} }
  local dst <close> = store.open(url, { create = not opts.dry_run, probe = opts.dry_run })
  local held = dst:user_version() == 0 and {} or store.counts(dst)
  for _, t in ipairs({ "rigs", "agents", "events" }) do
    if (held[t] or 0) > 0 then
      errors.raise("failure", "the server's ledger %s holds %d %s already: gt ledger migrate copies " ..
        "into an empty one; nothing was changed", result.to, held[t], t)
    end
  end
  if opts.dry_run then
    for _, t in ipairs(store.TABLES) do
      local n, digest = store.table_digest(src, t)
      result.tables[#result.tables + 1] = { table = t.name, rows = n, digest = digest }
    end
    return result
  end
  -- The sqlite ledger's write lock is held from before the copy until it is sealed: no gt
  -- changes it meanwhile, and none afterwards.
  store.tx(src, function()
    store.tx(dst, function() result.tables = store.copy(src, dst) end)
    self.config.ledger = url
    local ok, err = luafile.write(layout.town_config(self.root), self.config,
      "gt town configuration (see gt help)")
    if not ok then
      -- The server's copy is complete but unused: the town goes on with its sqlite ledger.
      self.config.ledger = nil
      errors.raise("failure", "writing %s: %s (the town keeps its sqlite ledger; the server holds " ..
        "a copy: empty its database before trying again)", layout.town_config(self.root), err)
    end
    store.seal(src, result.to)
  end)
  self:close()
  return result
end

--- What gt ledger status shows: { backend ("sqlite"|"postgresql"), ledger (where, without a
--- password), schema_version, schema_latest, latency_ms (a round trip, store.latency_ms),
--- server_version (PostgreSQL's), host (this one's name), hosts ({[host] = live polecats}),
--- counts ({[table] = rows}) }.
function Town:ledger_status()
  local db = self:ledger()
  local backend = store.backend(db)
  return { backend = backend, ledger = store.describe(self:ledger_target()),
    schema_version = errors.check(db:user_version()), schema_latest = #store.migrations,
    latency_ms = store.latency_ms(db), server_version = backend == "postgresql" and db:server_version() or nil,
    host = store.host(), hosts = store.hosts(db), counts = store.counts(db) }
end

--- Closes the ledger, if open.
function Town:close()
  if self._db then self._db:close(); self._db = nil end
end

return town
