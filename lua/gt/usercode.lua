--- gt.usercode: reading and running a user's Lua file (an init file, a module override, a
--- repository's trusted hook file). One way for all of them (docs/hooks.md):
---
---  * the file is read once, whole, as a regular file of at most 1 MiB (a FIFO, a device or
---    /dev/zero is refused, not read forever), so that the bytes whose hash was trusted are the
---    bytes that run;
---  * it is loaded in text mode (no bytecode) with an environment of its own whose missing names
---    come from _G;
---  * if it fails, what it registered (hooks, commands) is dropped, and the error is one line
---    naming the file and line.
local fs = require("gt.fs")
local errors = require("gt.errors")

local usercode = {}

--- Largest user file gt reads.
usercode.MAX_BYTES = 1024 * 1024

--- Reads the user file at `path`: its content | nil, message, code ("ENOTREG" for anything
--- but a regular file, "ETOOBIG" above usercode.MAX_BYTES, or an errno code).
function usercode.read(path)
  return fs.read_file(path, { max_bytes = usercode.MAX_BYTES })
end

--- The first line of an error message, without what Lua appends after it (require's list of
--- the places it searched), with the file's full path where Lua shortened it.
function usercode.one_line(message, path)
  message = errors.full_path(tostring(message), path)
  local first = message:match("^[^\n]*")
  if message:find("\n", 1, true) then first = first:gsub(":%s*$", "") end
  if not first:find(path, 1, true) then first = path .. ": " .. first end
  return first
end

--- Runs `data`, the content of the user file `path`, in an environment of its own. opts.scope:
--- the polecat its hooks apply to (a repository's hook file). opts.check(value): called with
--- what the file returned; returns nil, or why that value is wrong. Returns true and that value,
--- or false and a one-line message (and then nothing it registered stays).
function usercode.run(path, data, opts)
  opts = opts or {}
  local hooks = require("gt.hooks")
  local commands = require("gt.commands")
  local saved_hooks, saved_commands = hooks._snapshot(), commands._snapshot()
  local env = setmetatable({}, { __index = _G })
  local chunk, err = load(data, "@" .. path, "t", env)
  local ok, value = chunk ~= nil, err
  if ok then
    hooks._scope = opts.scope
    ok, value = xpcall(chunk, function(e)
      if errors.is(e) then return e.message end
      return tostring(e)
    end)
    hooks._scope = nil
    if ok and opts.check then
      local wrong = opts.check(value)
      if wrong then ok, value = false, wrong end
    end
  end
  if ok then return true, value end
  hooks._restore(saved_hooks)
  commands._restore(saved_commands)
  return false, usercode.one_line(value, path)
end

return usercode
