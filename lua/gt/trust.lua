--- gt.trust: code inside a managed repository runs only when the user trusts it (DESIGN §5).
--
-- A project may commit a .gt/hooks.lua; gt finds it in a polecat's worktree and runs it (for
-- that polecat's post_spawn, pre_remove and post_remove) only when `gt trust <file>` recorded
-- its real path and SHA-256 in $XDG_STATE_HOME/gt/trust, one "<sha256> <path>" line per file,
-- as Neovim's vim.secure does. A changed file needs new trust; an untrusted one is reported,
-- never run. Trust given to the file in one polecat's worktree also covers the same file, with
-- the same content, in the other polecats of that rig (their worktrees are the same checkout at
-- another path).
local fs = require("gt.fs")
local hash = require("gt.hash")
local errors = require("gt.errors")
local locate = require("gt.locate")

local trust = {}

--- Path of the repository hook file in a worktree.
trust.HOOKS_FILE = ".gt/hooks.lua"

--- The trust database: $XDG_STATE_HOME/gt/trust.
function trust.db_path()
  return locate.state_home() .. "/gt/trust"
end

--- Reads the database: { {sha = ..., path = ...}... }.
function trust.entries()
  local list = {}
  local f = io.open(trust.db_path(), "r")
  if not f then return list end
  for line in f:lines() do
    local sha, path = line:match("^(%x+) (.+)$")
    if sha and #sha == 64 then list[#list + 1] = { sha = sha, path = path } end
  end
  f:close()
  return list
end

local function save(list)
  local path = trust.db_path()
  errors.checked("creating " .. path:match("^(.*)/"), fs.mkdir_p(path:match("^(.*)/")))
  local lines = {}
  for i, e in ipairs(list) do lines[i] = e.sha .. " " .. e.path .. "\n" end
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "w")
  if not f then errors.raise("failure", "writing %s: %s", tmp, err) end
  f:write(table.concat(lines))
  f:close()
  local ok, rerr = os.rename(tmp, path)
  if not ok then errors.raise("failure", "writing %s: %s", path, rerr) end
end

--- The place a file stands for: a polecat's worktree file <rig>/polecats/<name>/<rig>/<file>
--- stands for that file in every polecat of the rig.
function trust.scope(path)
  local head, tail = path:match("^(.*/polecats/)[^/]+(/[^/]+/.+)$")
  if head then return head .. "*" .. tail end
  return path
end

--- Returns "trusted", "changed" (trusted once, with other content) or "untrusted" for the file
--- at `path`, with its real path and SHA-256. Raises if it cannot be read.
function trust.check(path)
  local real = errors.checked("trust", fs.realpath(path))
  local sha = errors.checked("trust", hash.sha256_file(real))
  local scope = trust.scope(real)
  local known = false
  for _, e in ipairs(trust.entries()) do
    if e.path == real or trust.scope(e.path) == scope then
      if e.sha == sha then return "trusted", real, sha end
      known = true
    end
  end
  return known and "changed" or "untrusted", real, sha
end

--- Trusts the file at `path` as it is now; returns its real path and SHA-256.
function trust.add(path)
  -- No "trust: " in these messages: the command's name comes in front of them already.
  if not fs.stat(path) then errors.raise("notfound", "no file %s", path) end
  local real = errors.check(fs.realpath(path))
  local sha = errors.check(hash.sha256_file(real))
  local list = {}
  for _, e in ipairs(trust.entries()) do
    if e.path ~= real then list[#list + 1] = e end
  end
  list[#list + 1] = { sha = sha, path = real }
  save(list)
  return real, sha
end

--- Withdraws the trust given to `path`, and to the same file in the other polecats of its rig
--- (the trust that covers it, see trust.check); returns how many entries were removed (raises
--- when there were none). The file may be gone (its polecat removed).
function trust.revoke(path)
  local real = fs.realpath(path)
  if not real then
    -- Entries hold absolute paths: a gone file's relative path starts at the current folder.
    real = path:sub(1, 1) == "/" and path or (fs.realpath(".") .. "/" .. path:gsub("^%./", ""))
  end
  local scope = trust.scope(real)
  local list, removed = {}, 0
  for _, e in ipairs(trust.entries()) do
    if e.path == real or trust.scope(e.path) == scope then
      removed = removed + 1
    else
      list[#list + 1] = e
    end
  end
  if removed == 0 then errors.raise("notfound", "%s is not trusted", real) end
  save(list)
  return removed
end

--- Loads the repository hook file of the worktree at `worktree`, when there is one and it is
--- trusted: its hooks apply to polecat `scope` (an agent id) only. Returns "none", "trusted"
--- (loaded), "untrusted"/"changed" (reported on stderr, not run) or "failed" (reported).
function trust.load_repo_hooks(worktree, scope)
  if require("gt.startup").clean then return "none" end
  local path = worktree .. "/" .. trust.HOOKS_FILE
  if not fs.stat(path) then return "none" end
  local status, real = trust.check(path)
  if status ~= "trusted" then
    require("gt.output").warn("%s is %s, so it was not run (read it, then: gt trust %s)", real,
      status == "changed" and "changed since it was trusted" or "not trusted", real)
    return status
  end
  local hooks = require("gt.hooks")
  local commands = require("gt.commands")
  local saved_hooks, saved_commands = hooks._snapshot(), commands._snapshot()
  local env = setmetatable({}, { __index = _G })
  local chunk, err = loadfile(real, "t", env)
  local ok = chunk ~= nil
  if ok then
    hooks._scope = scope
    ok, err = pcall(chunk)
    hooks._scope = nil
  end
  if not ok then
    -- "Going on without them": what the file registered before its error is dropped too.
    hooks._restore(saved_hooks)
    commands._restore(saved_commands)
    require("gt.output").warn("repository hooks %s failed to load, going on without them: %s", real,
      errors.full_path(tostring(err), real))
    return "failed"
  end
  return "trusted"
end

return trust
