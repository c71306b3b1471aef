--- gt.usercode: the one loader of a user's Lua files: init files, module overrides (gt.startup)
--- and a repository's trusted hook file (docs/hooks.md). For all of them:
---
---  * the code of a folder the user does not own runs only if the file is trusted (gt.trust);
---  * the file is read once, whole, as a regular file of bounded size (gt.trust.read), so that
---    the bytes whose hash was trusted are the bytes that run;
---  * it is loaded in text mode (no bytecode), in an environment of its own whose missing names
---    come from _G;
---  * what it registered (hooks, commands) is recorded; if it fails, that is dropped, and the
---    error is one line naming the file's full path and line.
---
--- With gt --clean (usercode.enabled = false) no user code runs at all. Problems met are kept
--- in usercode.problems for gt doctor.
local fs = require("gt.fs")
local errors = require("gt.errors")
local output = require("gt.output")
local layout = require("gt.layout")
local trust = require("gt.trust")
local hooks = require("gt.hooks")

local usercode = {}

--- False when gt --clean was given: no user code runs.
usercode.enabled = true

--- Problems met while loading user code: { kind = "init"|"override"|"untrusted", path, message }.
usercode.problems = {}

-- Registries user code adds to (hooks, commands): a file that fails leaves nothing in them.
-- Each has checkpoint() -> state and rollback(state).
local registries = { hooks }

--- Has what user files add to `registry` dropped when they fail: `registry` has checkpoint()
--- and rollback(state). (The command table registers itself so, from gt.startup: it belongs
--- to the layer above this one.)
function usercode.track(registry)
  for _, r in ipairs(registries) do
    if r == registry then return end
  end
  registries[#registries + 1] = registry
end

--- Reads the user file at `path`: its content | nil, message, code (gt.trust.read).
usercode.read = trust.read

--- The first line of an error message, without what Lua appends after it (require's list of
--- the places it searched), with the file's full path where Lua shortened it.
function usercode.one_line(message, path)
  message = errors.full_path(tostring(message), path)
  local first = message:match("^[^\n]*")
  if message:find("\n", 1, true) then first = first:gsub(":%s*$", "") end
  if not first:find(path, 1, true) then first = path .. ": " .. first end
  return first
end

--- Records a problem for gt doctor.
function usercode.problem(kind, path, message)
  usercode.problems[#usercode.problems + 1] = { kind = kind, path = path, message = message }
end

local reported = {}

--- The content of the user file `path` if it may run: read when its folder is the user's own
--- (`owned`), else only when the file is trusted (a refusal is recorded, and said once on stderr).
--- Returns the content | nil, message (unreadable) | nil, nil, refusal (not trusted).
function usercode.content(path, owned)
  if owned then
    local data, err = usercode.read(path)
    if not data then return nil, usercode.one_line(err, path) end
    return data
  end
  local status, real, _, data = trust.check(path)
  if status == "trusted" then return data end
  local message
  if status then
    local folder = path:gsub("/%.gt/.*$", "")
    message = ("%s was not run: %s is not a town or rig you made here (gt init, gt rig add); " ..
      "if it is yours: gt trust %s"):format(path, folder, folder)
  else
    message = ("%s was not run: %s"):format(path, real)
  end
  if not reported[path] then
    reported[path] = true
    usercode.problem("untrusted", path, message)
    io.stderr:write("gt: ", message, "\n")
  end
  return nil, nil, message
end

--- Runs `data`, the content of the user file `path`, in an environment of its own. opts.scope:
--- the polecat id its hooks apply to (a repository's hook file). opts.check(value): called with
--- what the file returned; returns nil, or why that value is wrong. opts.args: what the chunk
--- receives as `...` (a table.pack; require's module name for an override). Returns true and
--- that value, or false and a one-line message (and then nothing it registered stays).
function usercode.run(path, data, opts)
  opts = opts or {}
  local saved = {}
  for i, r in ipairs(registries) do saved[i] = r.checkpoint() end
  local env = setmetatable({}, { __index = _G })
  local chunk, err = load(data, "@" .. path, "t", env)
  local ok, value = chunk ~= nil, err
  if ok then
    local args = opts.args or { n = 0 }
    ok, value = xpcall(chunk, function(e)
      if errors.is(e) then return e.message end
      return tostring(e)
    end, table.unpack(args, 1, args.n))
    if ok and opts.check then
      local wrong = opts.check(value)
      if wrong then ok, value = false, wrong end
    end
  end
  if ok then
    if opts.scope then hooks.restrict(hooks.added_since(saved[1]), opts.scope) end -- [1]: hooks
    return true, value
  end
  for i, r in ipairs(registries) do r.rollback(saved[i]) end
  return false, usercode.one_line(value, path)
end

--- Loads the init file at `path` if it exists; `owned`: its folder is the user's own (else it
--- runs only if trusted). A failure never locks the user out: it is said in one line with the
--- path and line, what the file registered is dropped, the problem is recorded, and the hooks
--- it would have registered are known to be missing (gt.hooks.check_loaded). Returns true,
--- false (failed or not run), or nil (no such file).
function usercode.load_init(path, owned)
  if not usercode.enabled or not fs.lstat(path) then return nil end
  local data, err, refusal = usercode.content(path, owned)
  if refusal then -- not trusted: said
    hooks.load_failed(path, refusal)
    return false
  end
  local ok = data ~= nil
  if ok then ok, err = usercode.run(path, data) end
  if ok then return true end
  usercode.problem("init", path, err)
  hooks.load_failed(path, err)
  io.stderr:write("gt: init file failed, going on without it: ", err, "\n")
  return false
end

--- Loads the repository hook file of the worktree at `worktree`, when there is one and it is
--- trusted (a project's own code never runs merely because it is checked out): its hooks apply
--- to polecat `scope` (an id) only. Returns "none", "trusted" (loaded), "untrusted"/"changed"
--- (said on stderr, not run), "skipped" (not a regular file, too large, unreadable: said) or
--- "failed" (said).
function usercode.load_repo_hooks(worktree, scope)
  if not usercode.enabled then return "none" end
  local path = worktree .. "/" .. layout.HOOKS_FILE
  if not fs.lstat(path) then return "none" end
  local status, real, _, data = trust.check(path)
  if not status then
    output.warn("%s was not run: %s", path, real)
    return "skipped"
  end
  if status ~= "trusted" then
    output.warn("%s is %s, so it was not run (read it, then: gt trust %s)", real,
      status == "changed" and "changed since it was trusted" or "not trusted", real)
    return status
  end
  local ok, err = usercode.run(real, data, { scope = scope })
  if not ok then
    -- "Going on without them": what the file registered before its error is dropped too.
    output.warn("repository hooks %s failed to load, going on without them: %s", real, err)
    return "failed"
  end
  return "trusted"
end

return usercode
