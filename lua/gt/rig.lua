--- gt.rig: a rig, one project's container in a town (docs/design.md §2): its bare clone of
--- origin, its config and locks, the folder of its polecats (where: gt.layout).
local fs = require("gt.fs")
local git = require("gt.git")
local lock = require("gt.lock")
local sys = require("gt.sys")
local errors = require("gt.errors")
local luafile = require("gt.luafile")
local names = require("gt.names")
local output = require("gt.output")
local progress = require("gt.progress")
local store = require("gt.store")
local fault = require("gt.fault")
local layout = require("gt.layout")
local trust = require("gt.trust")

local rig = {}

local CONFIG_COMMENT = "gt rig configuration. Options (defaults): fetch_on_spawn = true, fetch_ttl_ms = 10000,\n" ..
  "lock_timeout_ms = 10000, keep_ignored = { \".env*\" } (ignored files remove --force saves),\n" ..
  "reuse = true (polecat add takes an idle polecat's worktree when there is one)."

--- Options a rig's .gt/rig.lua may set, with their defaults.
rig.defaults = {
  fetch_on_spawn = true,  -- fetch origin before branching a new polecat
  fetch_ttl_ms = 10000,   -- ...unless the last fetch is more recent than this
  lock_timeout_ms = 10000, -- how long a command waits for a busy lock
  keep_ignored = { ".env*" }, -- ignored files that remove --force saves (.gitignore patterns)
  reuse = true,           -- polecat add takes an idle polecat's worktree when there is one
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
  local db = town:ledger()
  local root = layout.rig_root(town.root, name)
  local row = store.rig_get(db, name)
  local shared = store.backend(db) == "postgresql"
  local config, err = luafile.read(layout.rig_config(root))
  if not config and row and fs.lstat(layout.rig_config(root)) then
    errors.raise("failure", "reading the config of rig %s: %s", name, err)
  elseif not config and row and shared then
    errors.raise("notfound", "rig %s of the shared ledger has no folder on this host (%s): gt rig " ..
      "add %s URL clones it here", errors.quote(name), store.host(), name)
  elseif not config or not row then
    errors.raise("notfound", "no rig %s in town %s", errors.quote(name), town.root)
  end
  -- On a ledger several hosts share, the default branch is the ledger's: another host may have
  -- changed it (gt rig set-default) since this one wrote its config.
  if shared then config.default_branch = row.default_branch end
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
  if not self._repo then self._repo = errors.check(git.open(layout.repo(self.root))) end
  return self._repo
end

--- The remote-tracking ref polecats start from: refs/remotes/origin/<default_branch>.
function Rig:start_ref()
  return "refs/remotes/origin/" .. self.config.default_branch
end

--- Folder of polecat `name` (it holds the worktree).
function Rig:home(name) return layout.home(self.root, name) end

--- Worktree of polecat `name`: <rig>/polecats/<name>/<rig>.
function Rig:worktree_path(name) return layout.worktree(self.root, self.name, name) end

--- A polecat's lock file together with the server's lock on its name (store.name_lock), for a
--- ledger that several hosts share: one lock to the caller.
local NameLock = {}
NameLock.__index = NameLock
function NameLock:release()
  if self.key then
    pcall(store.name_unlock, self.db, self.key) -- a lost connection took it already
    self.key = nil
  end
  if self.file then
    self.file:release()
    self.file = nil
  end
  return true
end
NameLock.__close = NameLock.release

--- Adds to `lk`, the lock file of polecat `name`, the server's lock on the name when the ledger
--- is shared by several hosts, waiting up to `timeout_ms`. Returns the lock to use (`lk` itself
--- on a ledger of one machine), or nil when another host holds the name (`lk` is released then).
function Rig:name_lock(lk, name, timeout_ms)
  local db = self.town:ledger()
  if store.backend(db) ~= "postgresql" then return lk end
  local key = layout.id(self.name, name)
  local ok, got = pcall(store.name_lock, db, key, timeout_ms)
  if not ok or not got then
    lk:release()
    if not ok then error(got, 0) end
    return nil
  end
  return setmetatable({ file = lk, db = db, key = key }, NameLock)
end

--- Takes lock `<rig>/.gt/locks/<lockname>.lock`, waiting up to the rig's lock timeout; a
--- polecat's lock (layout.polecat_lock) takes the server's lock on its name too (Rig:name_lock).
--- Raises a gt error (exit 5) when it stays busy. Use as `local lk <close> = rig:lock(...)`.
---@return gt.Lock
function Rig:lock(lockname, what, timeout_ms)
  local path = layout.lock(self.root, lockname)
  local opts = { timeout_ms = timeout_ms or self:option("lock_timeout_ms"), what = what or "gt" }
  local lk, err, code = lock.acquire(path, opts)
  if not lk and code == "ENOTFOUND" and fs.stat(layout.rig_config(self.root)) then
    -- The locks folder is gt's own scratch space: made again if someone deleted it.
    local dir = layout.locks(self.root)
    errors.check_doing("creating " .. dir, fs.mkdir_p(dir))
    lk, err, code = lock.acquire(path, opts)
  end
  lk = errors.check_doing(lockname, lk, err, code)
  local name = layout.polecat_of_lock(lockname)
  if not name then return lk end
  local both = self:name_lock(lk, name, opts.timeout_ms)
  if not both then
    local who = store.name_lock_holder(self.town:ledger(), layout.id(self.name, name))
    errors.raise("busy", "polecat %s of rig %s is busy: %s holds its name on the ledger server (for " ..
      "more than %d ms); try again when it is done", name, self.name, who or "another host", opts.timeout_ms)
  end
  return both
end

--- Fetches origin into the bare repository (pruning), with its progress on a terminal
--- (gt.progress): returns what repo:fetch returns (true, origin's HEAD | nil, err, code).
function Rig:fetch_origin()
  local bar <close> = progress.transfer("Fetching origin")
  return self:repo():fetch("origin", { prune = true, progress = bar.callback })
end

--- Fetches origin into the bare repository, best effort: a failure is a warning, since the
--- polecat can still start from the last fetched state. Concurrent fetches of one rig are
--- serialised, and one that finished less than fetch_ttl_ms ago is reused.
function Rig:fetch(what)
  local db = self.town:ledger()
  local lk <close>, err = lock.acquire(layout.lock(self.root, "fetch"),
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
  local ok, head = self:fetch_origin()
  if not ok then
    output.warn("could not fetch origin (%s); using origin/%s as last fetched", head,
      self.config.default_branch)
    return false
  end
  self:follow_origin_head(head)
  store.rig_fetched(db, self.name, now)
  return true
end

--- After a fetch: points refs/remotes/origin/HEAD at the branch origin's HEAD names (`head`,
--- "refs/heads/x"), and when the rig's default branch is gone from origin, makes that branch
--- the rig's default (said on stderr). Returns the branch origin's HEAD names, or nil.
function Rig:follow_origin_head(head)
  local repo = self:repo()
  local b = head and head:match("^refs/heads/(.+)$")
  if not b or not repo:ref_lookup("refs/remotes/origin/" .. b) then return nil end
  if repo:symref("refs/remotes/origin/HEAD") ~= "refs/remotes/origin/" .. b then
    errors.check(repo:symref_set("refs/remotes/origin/HEAD", "refs/remotes/origin/" .. b, "gt: fetch"))
  end
  local current = self.config.default_branch
  if b ~= current and not repo:ref_lookup(self:start_ref()) then
    self:set_default(b)
    output.note("gt: origin's branch %s is gone and its default is now %s: rig %s follows it",
      current, b, self.name)
  end
  return b
end

--- Makes `branch` (a branch of origin, fetched) the rig's default: polecats start from it and
--- their commits count as merged when they are in it.
function Rig:set_default(branch)
  if not self:repo():ref_lookup("refs/remotes/origin/" .. branch) then
    errors.raise("notfound", "origin has no branch %s (as last fetched)", errors.quote(branch))
  end
  local config = {}
  for k, v in pairs(self.config) do config[k] = v end
  config.default_branch = branch
  local ok, err = luafile.write(layout.rig_config(self.root), config, CONFIG_COMMENT)
  if not ok then errors.raise("failure", "writing rig config: %s", err) end
  self.config = config
  local db = self.town:ledger()
  store.tx(db, function() store.rig_set_default(db, self.name, branch) end)
end

--- Fetches origin, then makes `branch` the rig's default, or, when it is nil, the branch
--- origin's HEAD names (gt rig set-default). Returns the branch.
function Rig:change_default(branch)
  local ok, head = self:fetch_origin()
  if not ok then output.warn("could not fetch origin (%s); using what was fetched last", head) end
  branch = branch or (ok and self:follow_origin_head(head)) or nil
  if not branch then
    local sym = self:repo():symref("refs/remotes/origin/HEAD")
    branch = sym and sym:match("^refs/remotes/origin/(.+)$")
  end
  if not branch then
    errors.raise("failure", "origin did not say which branch is its default; " ..
      "name it: gt rig set-default %s BRANCH", self.name)
  end
  self:set_default(branch)
  return branch
end

--- What is wrong with the rig's default branch, or nil: origin's branch it names is gone (after
--- origin renamed it), with the branch origin's HEAD names now, when it is known.
function Rig:stale_default()
  local repo = self:repo()
  if repo:ref_lookup(self:start_ref()) then return nil end
  local head = repo:symref("refs/remotes/origin/HEAD")
  if head and not repo:ref_lookup(head) then head = nil end
  return { branch = self.config.default_branch, origin_head = head and head:match("^refs/remotes/origin/(.+)$") }
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

--- The names of what `gt rig add` makes in a rig's folder, and nothing else may be there for
--- a half-made rig to be rolled back: .repo.git (a clone of origin, so nothing in it is unique
--- work), .gt (config, locks) and an empty polecats folder.
local function only_rig_layout(root)
  for _, n in ipairs(fs.dir(root) or {}) do
    if n == "polecats" then
      local inside = fs.dir(layout.polecats(root))
      if inside and #inside > 0 then return false, layout.polecats(root) .. " is not empty" end
    elseif n == ".gt" then
      for _, m in ipairs(fs.dir(layout.dotgt(root)) or {}) do
        if m ~= "rig.lua" and m ~= "rig.lua.tmp" and m ~= "locks" then
          return false, layout.dotgt(root) .. "/" .. m .. " is not gt's"
        end
      end
    elseif n ~= ".repo.git" then
      return false, root .. "/" .. n .. " is not gt's"
    end
  end
  return true
end

--- Whether `<town>/<name>` looks like what a `gt rig add` killed half-way leaves: a folder with a
--- clone in it, and no ledger row.
function rig.half_made(town, name)
  local root = layout.rig_root(town.root, name)
  return not store.rig_get(town:ledger(), name) and fs.lstat(layout.repo(root)) ~= nil
end

--- Why the repository at `gitdir` holds something a fresh clone does not (a salvage, a
--- polecat's branch, a stash), or nil.
function rig.holds_work(gitdir)
  local repo <close> = git.open(gitdir, { bare = true })
  if not repo then return nil end -- a clone killed before it was a repository
  for _, glob in ipairs({ "refs/gt/*", "refs/heads/polecat/*", "refs/stash" }) do
    local refs = repo:refs(glob)
    if refs and #refs > 0 then return gitdir .. " holds " .. refs[1].name end
  end
  return nil
end

--- Rolls back what a killed `gt rig add NAME` left, as its journal operation records it; the
--- caller holds the rig's lock in the town. The folder is deleted only if it holds nothing but
--- what rig add makes there (and its clone nothing but origin's branches); else this refuses
--- (exit 3). Returns true if it rolled back.
function rig.recover(town, name)
  local db = town:ledger()
  local ops = {}
  for _, op in ipairs(store.ops_running(db, name)) do
    if store.is_local(db, op) then ops[#ops + 1] = op end -- another host's is that host's to end
  end
  if #ops == 0 then return false end
  local root = layout.rig_root(town.root, name)
  -- A rig add of a shared ledger's rig (joined) is half made here until its config is written.
  if fs.lstat(root) and (not store.rig_get(db, name) or not fs.lstat(layout.rig_config(root))) then
    local ok, why = only_rig_layout(root)
    if ok then why = rig.holds_work(layout.repo(root)) end
    if not ok or why then
      errors.raise("refused", "a rig add of %s was interrupted, and %s: gt will not delete it; " ..
        "move it away first", name, why)
    end
    errors.check_doing("removing " .. root, fs.remove_tree(root))
  end
  store.tx(db, function()
    for _, op in ipairs(ops) do store.op_finish(db, op.id, "rolled_back") end
  end)
  output.note("gt: rolled back an interrupted rig add of %s", name)
  return true
end

--- Takes the town's lock for rig `name` (held by rig add and by its recovery).
local function rig_lock(town, name, what)
  errors.check(fs.mkdir_p(layout.town_locks(town.root)))
  local lk, err, code = lock.acquire(layout.rig_add_lock(town.root, name),
    { timeout_ms = 10000, what = what })
  return errors.check_doing("rig " .. name, lk, err, code)
end
rig.lock = rig_lock

--- Adds rig `name` to `town`: a bare clone of `source` (URL or path) into <rig>/.repo.git, its
--- config and its registration in the ledger (last). Refuses bad names, existing rigs and empty
--- repositories; any failure removes everything it made, and so does the next rig add of the
--- name (or gt doctor --fix) when the command was killed: the journal records it first.
--- opts.branch overrides the default branch; opts.progress is a function(stats) for clone progress.
---@return gt.Rig
function rig.add(town, name, source, opts)
  opts = opts or {}
  names.check(name, "rig name")
  if opts.branch and (not opts.branch:match("^[%w_][%w._/-]*$") or opts.branch:find("..", 1, true)
      or opts.branch:find("//", 1, true) or opts.branch:match("[./]$") or opts.branch:match("%.lock$")) then
    errors.raise("usage", "invalid branch name %s", errors.quote(opts.branch))
  end
  local db = town:ledger()
  local lk <close> = rig_lock(town, name, "gt rig add " .. name)
  rig.recover(town, name)
  local root = layout.rig_root(town.root, name)
  -- On a ledger several hosts share, another host's rig is cloned here too: one rig, a folder
  -- on each host (docs/design.md §3.7).
  local joined = store.rig_get(db, name)
  if joined and (fs.lstat(root) or store.backend(db) ~= "postgresql") then
    errors.raise("failure", "rig %s already exists", name)
  end
  if fs.lstat(root) then
    errors.raise("failure", "%s already exists; choose another rig name", root)
  end
  local url = resolve_source(source)
  if joined and url ~= joined.url then
    errors.raise("failure", "rig %s of the shared ledger clones %s, not %s", name, joined.url, url)
  elseif joined and opts.branch and opts.branch ~= joined.default_branch then
    errors.raise("failure", "rig %s of the shared ledger starts polecats from %s, not %s", name,
      joined.default_branch, opts.branch)
  end
  opts.branch = opts.branch or (joined and joined.default_branch)
  local op
  store.tx(db, function()
    op = store.op_begin(db, "rig_add", name, { "folder", "clone", "config", "register" },
      { root = root, url = url })
  end)
  -- Creating the folder claims the name; from here on, failure removes it.
  local ok, err, code = fs.mkdir(root)
  if not ok then
    store.tx(db, function() store.op_finish(db, op, "rolled_back") end)
    errors.check_doing("creating " .. root, ok, err, code)
  end
  local r
  local done, e = xpcall(function()
    fault.point("rig_add.folder")
    local repo = errors.check(git.clone(url, layout.repo(root),
      { bare = true, progress = opts.progress }))
    fault.point("rig_add.clone")
    local branch, available = default_branch_of(repo, opts.branch)
    if branch == nil then
      errors.raise("failure", "repository %s is empty (no commits): push at least one commit first", url)
    elseif branch == false then
      errors.raise("notfound", "branch %s not found in %s (it has: %s)", opts.branch or "HEAD", url,
        table.concat(available, ", "))
    end
    repo:close()
    errors.check(fs.mkdir_p(layout.locks(root)))
    errors.check(fs.mkdir_p(layout.polecats(root)))
    local config = { name = name, url = url, default_branch = branch, created_at = sys.now_ms() }
    local wok, werr = luafile.write(layout.rig_config(root), config, CONFIG_COMMENT)
    if not wok then errors.raise("failure", "writing rig config: %s", werr) end
    store.tx(db, function()
      if not joined then store.rig_add(db, { name = name, url = url, default_branch = branch, path = root }) end
      store.op_finish(db, op, "done")
    end)
    r = setmetatable({ town = town, name = name, root = root, config = config }, Rig)
  end, errors.handler)
  if not done then
    fs.remove_tree(root)
    store.tx(db, function() store.op_finish(db, op, "rolled_back") end)
    error(e, 0)
  end
  -- Its init files and module overrides are the user's own code (gt.trust).
  trust.own(root)
  return r
end

--- Lists the town's rigs with their live polecat counts (of every host): { name, url,
--- default_branch, path (its folder here), polecats, added_at, missing (its folder is gone),
--- elsewhere (a shared ledger's rig not cloned on this host) }.
function rig.list(town)
  local db = town:ledger()
  local counts = store.agent_counts(db)
  local shared = store.backend(db) == "postgresql"
  local list = {}
  for _, row in ipairs(store.rigs(db)) do
    -- Its folder in this town (the ledger's path is the first host's, on a shared ledger).
    local root = layout.rig_root(town.root, row.name)
    local missing = fs.stat(root) == nil
    list[#list + 1] = { name = row.name, url = row.url, default_branch = row.default_branch,
      path = root, polecats = counts[row.name] or 0, added_at = row.added_at,
      missing = missing and not shared, elsewhere = missing and shared }
  end
  return list
end

return rig
