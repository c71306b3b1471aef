--- gt.namepool: the names `gt polecat add` gives when none is asked for (docs/design.md §2.5).
--
-- A rig's pool is a list of names: a built-in theme (mad-max, minerals, wasteland, 50 names
-- each), or a list of the rig's own, from `names` in <rig>/.gt/rig.lua:
--
--   names = { theme = "minerals" }          -- a built-in theme
--   names = { list = { "ada", "grace" } }   -- the rig's own names (theme: the overflow's prefix)
--
-- Without it, the theme is chosen by a stable hash of the rig's name. Reserved words (witness,
-- mayor, deacon, refinery, crew, polecats) are never given. The first name of the list that no
-- live polecat holds, with no folder and no git worktree record, and that no command has
-- locked is taken;
-- when all are taken, `<theme>-N`, N from the rig's counter in the ledger (51, 52, ...: a
-- number is never given twice, even after its polecat is removed).
--
-- The name is chosen, locked and claimed (`spawning`) in one ledger transaction, so processes
-- adding at once get different names; the lock is held from before the claim is visible.
local fs = require("gt.fs")
local lock = require("gt.lock")
local errors = require("gt.errors")
local names = require("gt.names")
local layout = require("gt.layout")
local store = require("gt.store")

local namepool = {}

--- The built-in themes, in their order (the pool is taken in list order).
namepool.THEMES = {
  ["mad-max"] = { "furiosa", "nux", "slit", "rictus", "dementus", "capable", "toast", "dag",
    "cheedo", "valkyrie", "keeper", "morsov", "ace", "warboy", "imperator", "organic", "coma",
    "splendid", "angharad", "max", "immortan", "bullet", "toecutter", "goose", "nightrider",
    "glory", "scrotus", "chumbucket", "corpus", "dinki", "prime", "vuvalini", "rockryder",
    "wretched", "buzzard", "gastown", "bullet-farmer", "citadel", "wasteland", "fury",
    "road-warrior", "interceptor", "blackfinger", "wraith", "witness", "chrome", "shiny",
    "mediocre", "guzzoline", "aqua-cola" },
  minerals = { "obsidian", "quartz", "jasper", "onyx", "opal", "topaz", "garnet", "ruby", "amber",
    "jade", "pearl", "flint", "granite", "basalt", "marble", "shale", "slate", "pyrite", "mica",
    "agate", "malachite", "turquoise", "lapis", "emerald", "sapphire", "diamond", "amethyst",
    "citrine", "zircon", "peridot", "coral", "jet", "moonstone", "sunstone", "bloodstone",
    "rhodonite", "sodalite", "hematite", "magnetite", "calcite", "fluorite", "selenite", "kyanite",
    "labradorite", "amazonite", "chalcedony", "carnelian", "aventurine", "chrysoprase", "heliodor" },
  wasteland = { "rust", "chrome", "nitro", "guzzle", "witness", "shiny", "fury", "thunder", "dust",
    "scavenger", "radrat", "ghoul", "mutant", "raider", "vault", "pipboy", "nuka", "brahmin",
    "deathclaw", "mirelurk", "synth", "institute", "enclave", "brotherhood", "minuteman",
    "railroad", "atom", "crater", "foundation", "refuge", "settler", "wanderer", "courier", "lone",
    "chosen", "tribal", "khan", "legion", "ncr", "ranger", "overseer", "sentinel", "paladin",
    "scribe", "initiate", "elder", "lancer", "knight", "squire", "proctor" },
}

--- The themes' names, sorted (the hash of a rig's name picks one of them).
namepool.THEME_NAMES = { "mad-max", "minerals", "wasteland" }

--- Words never given as names (they name other things in a town).
namepool.RESERVED = { witness = true, mayor = true, deacon = true, refinery = true, crew = true,
  polecats = true }

--- The first overflow number (after the 50 names of a theme).
namepool.OVERFLOW_FIRST = 51

--- The built-in theme of a rig without a `names` setting: a stable hash of its name
--- (h = h * 31 + byte, 32 bits) picks one of the sorted themes.
function namepool.theme_for(rig_name)
  local h = 0
  for i = 1, #rig_name do h = (h * 31 + rig_name:byte(i)) & 0xffffffff end
  return namepool.THEME_NAMES[h % #namepool.THEME_NAMES + 1]
end

--- The pool of rig `rig_name` with `config` (its `names` setting, or nil): { theme, names }
--- (the names to give in order: reserved words and repeats dropped). Raises a usage error
--- (exit 2) for a setting that is not one.
function namepool.pool(rig_name, config)
  local function bad(fmt, ...)
    errors.raise("usage", "rig %s: names in .gt/rig.lua: " .. fmt, rig_name, ...)
  end
  if config ~= nil and type(config) ~= "table" then bad("must be a table, got %s", type(config)) end
  config = config or {}
  for k in pairs(config) do
    if k ~= "theme" and k ~= "list" then bad("unknown key %s (keys: theme, list)", errors.quote(tostring(k))) end
  end
  local theme = config.theme
  if theme == nil then
    theme = namepool.theme_for(rig_name)
  elseif not namepool.THEMES[theme] then
    bad("unknown theme %s (themes: %s)", errors.quote(tostring(theme)),
      table.concat(namepool.THEME_NAMES, ", "))
  end
  local source = config.list
  if source == nil then
    source = namepool.THEMES[theme]
  elseif type(source) ~= "table" or #source == 0 then
    bad("list is not a list of names")
  end
  local list, seen = {}, {}
  for i, n in ipairs(source) do
    local why = names.problem(n)
    if why then bad("list[%d] %s is not a valid name: %s", i, errors.quote(tostring(n)), why) end
    if not namepool.RESERVED[n:lower()] and not seen[n] then
      seen[n] = true
      list[#list + 1] = n
    end
  end
  return { theme = theme, names = list }
end

--- The first name of `pool` that `accept(name)` takes, else the first overflow name
--- `<theme>-N` it takes, N from `overflow()` (called for each one tried). Pure: `accept` says
--- whether a name is free (and takes it).
function namepool.pick(pool, accept, overflow)
  for _, n in ipairs(pool.names) do
    if accept(n) then return n end
  end
  for _ = 1, 10000 do
    local n = ("%s-%d"):format(pool.theme, overflow())
    if not names.problem(n) and accept(n) then return n end
  end
  errors.raise("failure", "no free name in the pool of theme %s", pool.theme)
end

--- Takes the lock of polecat `name` of `rig` without waiting; nil when it is busy.
local function try_lock(rig, name, what)
  local path = layout.lock(rig.root, layout.polecat_lock(name))
  local lk, err, code = lock.try(path, { what = what .. " " .. name })
  if not lk and code == "ENOTFOUND" then
    errors.check_doing("creating " .. layout.locks(rig.root), fs.mkdir_p(layout.locks(rig.root)))
    lk, err, code = lock.try(path, { what = what .. " " .. name })
  end
  if not lk and code == "ELOCKED" then return nil end
  lk = errors.check_doing(layout.polecat_lock(name), lk, err, code)
  return rig:name_lock(lk, name, 0) -- nil when another host works on the name
end

--- A claim: its name, id and lock. Closing it (a to-be-closed variable) releases the lock;
--- while it is not `journaled` (its command's operation recorded), closing it also marks the
--- name failed, which frees it: a command that fails before its journal gives the name back.
local Claim = {}
Claim.__index = Claim
Claim.__close = function(self, err)
  if not self.journaled and self.id then
    local db = self.rig.town:ledger()
    local ok = pcall(store.tx, db, function()
      store.agent_set_state(db, self.id, "failed", "failed", { step = "claim",
        error = err ~= nil and tostring(errors.is(err) and err.message or err) or "not journaled" })
    end)
    self.journaled = ok
  end
  if self.lock then
    self.lock:release()
    self.lock = nil
  end
end

--- Chooses the next free name of `rig`'s pool, locks it and claims it in the ledger
--- (store.agent_claim, state `spawning`) in one transaction. `fields(name)` returns the row to
--- claim ({id, rig, name, branch, worktree, issue}); `what` says who holds the lock ("gt
--- polecat add"). A live polecat's name is skipped, except one only claimed by a command that
--- died before it made anything (`spawning`, no journal, its lock free, no folder). Returns the
--- claim { name, id, lock }, a to-be-closed value (see Claim).
function namepool.claim(rig, fields, what)
  local db = rig.town:ledger()
  local pool = namepool.pool(rig.name, rig.config.names)
  local claim = setmetatable({ rig = rig }, Claim)
  local ok, err = pcall(store.tx, db, function()
    if claim.lock then -- a server's transaction runs again after a conflict: start afresh
      claim.lock:release()
      claim.lock = nil
    end
    local live = {}
    for _, a in ipairs(store.agents(db, rig.name, false)) do live[a.name] = a end
    local commondir = rig:repo():commondir()
    local function accept(n)
      -- A folder or a git record of that name would make the add fail: not free.
      if fs.lstat(layout.home(rig.root, n)) or fs.lstat(layout.worktree_admin(commondir, n)) then
        return false
      end
      local a = live[n]
      if a and (a.state ~= "spawning" or #store.ops_running(db, a.id) > 0) then return false end
      claim.lock = try_lock(rig, n, what)
      if not claim.lock then return false end
      local row = fields(n)
      if a then -- an abandoned claim (see above): its lock was free, nothing was made
        store.agent_set_state(db, a.id, "failed", "recovered", { action = "released the name " ..
          "claimed by a command that died before it made anything" })
      end
      if not store.agent_claim(db, row) then
        claim.lock:release()
        claim.lock = nil
        return false
      end
      claim.name, claim.id = n, row.id
      return true
    end
    namepool.pick(pool, accept, function()
      return store.name_overflow_next(db, rig.name, namepool.OVERFLOW_FIRST)
    end)
  end)
  if not ok then
    if claim.lock then claim.lock:release() end
    error(err, 0)
  end
  return claim
end

return namepool
