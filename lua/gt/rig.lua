--- gt.rig: a rig, one project's container in a town (DESIGN §2).
--
--   <rig>/.repo.git/              bare clone; origin's branches at refs/remotes/origin/*
--   <rig>/.gt/rig.lua             config: url, default_branch, options
--   <rig>/.gt/locks/              polecat-<name>.lock, git.lock, fetch.lock
--   <rig>/polecats/<name>/<rig>/  a polecat's worktree
local fs = require("gt.fs")
local lock = require("gt.lock")
local sys = require("gt.sys")
local errors = require("gt.errors")
local luafile = require("gt.luafile")
local names = require("gt.names")
local output = require("gt.output")
local store = require("gt.store")

local rig = {}

--- Options a rig's .gt/rig.lua may set, with their defaults.
rig.defaults = {
  fetch_on_spawn = true,  -- fetch origin before branching a new polecat
  fetch_ttl_ms = 10000,   -- ...unless the last fetch is more recent than this
  lock_timeout_ms = 10000, -- how long a command waits for a busy lock
}

---@class gt.Rig
---@field town gt.Town
---@field name string
---@field root string
---@field config table
local Rig = {}
Rig.__index = Rig
Rig.__tostring = function(r) return "gt.Rig (" .. r.name .. ")" end

--- Opens rig `name` of `town`; raises a gt error if there is no such rig.
---@return gt.Rig
function rig.open(town, name)
  names.check(name, "rig name")
  local root = town.root .. "/" .. name
  local config = luafile.read(root .. "/.gt/rig.lua")
  if not config or not store.rig_get(town:ledger(), name) then
    errors.raise("notfound", "no rig %s in town %s", errors.quote(name), town.root)
  end
  return setmetatable({ town = town, name = name, root = root, config = config }, Rig)
end

--- Returns option `key` of the rig's config, or its default. GT_LOCK_TIMEOUT_MS overrides
--- lock_timeout_ms (for scripts and tests).
function Rig:option(key)
  if key == "lock_timeout_ms" then
    local env = tonumber(os.getenv("GT_LOCK_TIMEOUT_MS") or "")
    if env then return math.tointeger(env) end
  end
  local v = self.config[key]
  if v == nil then v = rig.defaults[key] end
  return v
end

--- The bare repository, opened on first use.
---@return gt.Repo
function Rig:repo()
  if not self._repo then
    local worktree = require("gt.worktree")
    self._repo = errors.check(worktree.open(self.root .. "/.repo.git"))
  end
  return self._repo
end

--- The remote-tracking ref polecats start from: refs/remotes/origin/<default_branch>.
function Rig:start_ref()
  return "refs/remotes/origin/" .. self.config.default_branch
end

--- Folder of polecat `name` (it holds the worktree).
function Rig:home(name) return self.root .. "/polecats/" .. name end

--- Worktree of polecat `name`: <rig>/polecats/<name>/<rig>.
function Rig:worktree_path(name) return self.root .. "/polecats/" .. name .. "/" .. self.name end

--- Takes lock `<rig>/.gt/locks/<lockname>.lock`, waiting up to the rig's lock timeout. Raises
--- a gt error (exit 5) when it stays busy. Use as `local lk <close> = rig:lock(...)`.
---@return gt.Lock
function Rig:lock(lockname, what, timeout_ms)
  local path = self.root .. "/.gt/locks/" .. lockname .. ".lock"
  local lk, err, code = lock.acquire(path, { timeout_ms = timeout_ms or self:option("lock_timeout_ms"),
    what = what or "gt" })
  return errors.checked(lockname, lk, err, code)
end

--- Fetches origin into the bare repository, best effort: a failure is a warning, since the
--- polecat can still start from the last fetched state. Concurrent fetches of one rig are
--- serialised, and one that finished less than fetch_ttl_ms ago is reused.
function Rig:fetch(what)
  local db = self.town:ledger()
  local lk <close>, err = lock.acquire(self.root .. "/.gt/locks/fetch.lock",
    { timeout_ms = 60000, what = what or "gt fetch" })
  if not lk then
    output.warn("not fetching origin: %s", err)
    return false
  end
  local row = store.rig_get(db, self.name)
  local now = sys.now_ms()
  if row and row.fetched_at and now - row.fetched_at < self:option("fetch_ttl_ms") then
    return true
  end
  local ok, ferr = self:repo():fetch("origin", { prune = true })
  if not ok then
    output.warn("could not fetch origin (%s); using origin/%s as last fetched", ferr,
      self.config.default_branch)
    return false
  end
  store.rig_fetched(db, self.name, now)
  return true
end

--- Returns the rig's live polecats (gt.polecat.list rows).
function Rig:polecats()
  return require("gt.polecat").list(self.town, self)
end

--- Closes the repository handle, if open.
function Rig:close()
  if self._repo then self._repo:close(); self._repo = nil end
end

-- Adding a rig -----------------------------------------------------------------------------

--- Classifies the source of a rig: a URL (scheme://..., user@host:path) is kept as given; a
--- local path must exist and becomes absolute.
local function resolve_source(source)
  if source == "" then errors.raise("usage", "empty repository URL or path") end
  if source:match("^%a[%w+.-]*://") or source:match("^[%w._-]+@[%w.-]+:") then return source end
  local real = fs.realpath(source)
  if not real then errors.raise("notfound", "no repository at %s", source) end
  return real
end

local function default_branch_of(repo, wanted)
  local remote_branches = {}
  for _, ref in ipairs(errors.check(repo:refs("refs/remotes/origin/*"))) do
    local b = ref.name:match("^refs/remotes/origin/(.+)$")
    if b and b ~= "HEAD" then remote_branches[#remote_branches + 1] = b end
  end
  if #remote_branches == 0 then return nil, remote_branches end
  local branch = wanted
  if not branch then
    -- The clone points HEAD at origin's HEAD.
    local head = errors.check(repo:head())
    branch = head.ref and head.ref:match("^refs/heads/(.+)$")
  end
  for _, b in ipairs(remote_branches) do
    if b == branch then return branch, remote_branches end
  end
  return false, remote_branches
end

--- Adds rig `name` to `town`: a bare clone of `source` (URL or path) into <rig>/.repo.git, its
--- config and its registration in the ledger (last). Refuses bad names, existing rigs and empty
--- repositories; any failure removes everything it made. opts.branch overrides the default
--- branch; opts.progress is a function(stats) for clone progress.
---@return gt.Rig
function rig.add(town, name, source, opts)
  opts = opts or {}
  names.check(name, "rig name")
  if opts.branch and (not opts.branch:match("^[%w_][%w._/-]*$") or opts.branch:find("..", 1, true)
      or opts.branch:find("//", 1, true) or opts.branch:match("[./]$") or opts.branch:match("%.lock$")) then
    errors.raise("usage", "invalid branch name %s", errors.quote(opts.branch))
  end
  local db = town:ledger()
  if store.rig_get(db, name) then errors.raise("failure", "rig %s already exists", name) end
  local root = town.root .. "/" .. name
  if fs.lstat(root) then
    errors.raise("failure", "%s already exists; choose another rig name", root)
  end
  local url = resolve_source(source)
  -- Creating the folder claims the name; from here on, failure removes it.
  local ok, err, code = fs.mkdir(root)
  errors.checked("creating " .. root, ok, err, code)
  local r
  local done, e = xpcall(function()
    local worktree = require("gt.worktree")
    local repo = errors.check(worktree.clone(url, root .. "/.repo.git",
      { bare = true, progress = opts.progress }))
    local branch, available = default_branch_of(repo, opts.branch)
    if branch == nil then
      errors.raise("failure", "repository %s is empty (no commits): push at least one commit first", url)
    elseif branch == false then
      errors.raise("notfound", "branch %s not found in %s (it has: %s)", opts.branch or "HEAD", url,
        table.concat(available, ", "))
    end
    repo:close()
    errors.check(fs.mkdir_p(root .. "/.gt/locks"))
    errors.check(fs.mkdir_p(root .. "/polecats"))
    local config = { name = name, url = url, default_branch = branch, created_at = sys.now_ms() }
    local wok, werr = luafile.write(root .. "/.gt/rig.lua", config,
      "gt rig configuration. Options (defaults): fetch_on_spawn = true, fetch_ttl_ms = 10000,\n" ..
      "lock_timeout_ms = 10000.")
    if not wok then errors.raise("failure", "writing rig config: %s", werr) end
    store.rig_add(db, { name = name, url = url, default_branch = branch, path = root })
    r = setmetatable({ town = town, name = name, root = root, config = config }, Rig)
  end, errors.handler)
  if not done then
    fs.remove_tree(root)
    error(e, 0)
  end
  return r
end

--- Lists the town's rigs with their live polecat counts.
function rig.list(town)
  local db = town:ledger()
  local counts = {}
  for _, a in ipairs(store.agents(db, nil, false)) do counts[a.rig] = (counts[a.rig] or 0) + 1 end
  local list = {}
  for _, row in ipairs(store.rigs(db)) do
    list[#list + 1] = { name = row.name, url = row.url, default_branch = row.default_branch,
      path = row.path, polecats = counts[row.name] or 0, added_at = row.added_at,
      missing = fs.stat(row.path) == nil }
  end
  return list
end

return rig
