--- gt.errors: the errors gt reports to users, each with its exit status.
--
-- A gt error is a table with a message and an exit status; main() prints it as
-- "gt: <message>" without a traceback and exits with its status. Any other error (a bug) is
-- printed with a traceback and exits 1. Exit statuses are API (docs/design.md §6):
-- 0 success, 1 failure, 2 usage, 3 refused to protect work, 4 not found, 5 lock busy;
-- 130 when gt was interrupted (SIGINT or SIGTERM) and rolled back what it was doing.
local errors = {}

local Error = {}
Error.__index = Error
Error.__tostring = function(e) return e.message end

--- Exit status of each kind of error.
errors.exit = { failure = 1, usage = 2, refused = 3, notfound = 4, busy = 5, interrupted = 130 }

--- Error codes of the C modules that map to a kind other than "failure".
local kind_of_code = { ELOCKED = "busy", EBUSY = "busy", ENOTFOUND = "notfound", EINTR = "interrupted" }

--- Creates an error of `kind` ("failure", "usage", "refused", "notfound", "busy").
---@return table
function errors.new(kind, fmt, ...)
  local status = errors.exit[kind]
  assert(status, "unknown error kind " .. tostring(kind))
  local message = select("#", ...) > 0 and fmt:format(...) or fmt
  return setmetatable({ kind = kind, exit = status, message = message }, Error)
end

--- Raises an error of `kind` with a formatted message.
function errors.raise(kind, fmt, ...)
  error(errors.new(kind, fmt, ...), 0)
end

--- True if `e` is a gt error.
function errors.is(e)
  return getmetatable(e) == Error
end

local function fail(context, message, code)
  local kind = kind_of_code[code] or "failure"
  if context then errors.raise(kind, "%s: %s", context, tostring(message)) end
  errors.raise(kind, "%s", tostring(message))
end

--- Returns `value` unless it is nil or false; then raises a gt error for the
--- `nil, message, code` a C module returned: `local repo = errors.check(git.open(path))`.
function errors.check(value, message, code)
  if value == nil or value == false then fail(nil, message, code) end
  return value
end

--- As errors.check, saying what gt was doing in front of the message ("creating branch x:
--- ..."). The call being checked comes last, so that all of its results arrive:
--- `errors.check_doing("creating " .. path, fs.mkdir(path))`.
function errors.check_doing(doing, value, message, code)
  if value == nil or value == false then fail(doing, message, code) end
  return value
end

--- Message handler for xpcall: keeps gt errors as they are and turns any other error (a bug)
--- into a gt error whose message carries the traceback, so that it can be given context and
--- raised again without a second traceback.
function errors.handler(e)
  if errors.is(e) then return e end
  local err = errors.new("failure", "%s", debug.traceback(tostring(e), 2))
  err.bug = true
  return err
end

--- Prefixes the message of a gt error with `context` and re-raises it; other errors pass
--- through unchanged.
function errors.rethrow(e, context)
  if errors.is(e) and context then
    e.message = context .. ": " .. e.message
  end
  error(e, 0)
end

--- Restores the full path of file `path` in an error message where Lua shortened it to
--- "...<end of path>:<line>:" (Lua keeps at most 60 characters of a chunk name).
function errors.full_path(message, path)
  if type(message) ~= "string" or message:sub(1, 3) ~= "..." then return message end
  local tail, rest = message:match("^%.%.%.([^:]*)(:.*)$")
  if tail and path:sub(-#tail) == tail then return path .. rest end
  return message
end

--- Quotes a user-supplied string for an error message, so that control characters, spaces
--- and non-ASCII bytes are visible ('a\tb', '').
function errors.quote(s)
  s = tostring(s)
  local escaped = s:gsub("[%c\128-\255\\']", function(c)
    if c == "\t" then return "\\t" elseif c == "\n" then return "\\n" end
    if c == "\\" or c == "'" then return "\\" .. c end
    return ("\\x%02x"):format(c:byte())
  end)
  return "'" .. escaped .. "'"
end

return errors
