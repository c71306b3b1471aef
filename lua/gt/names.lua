--- gt.names: what a polecat, rig or issue name may be (docs/design.md §2.5).
--
-- A name becomes a folder, a git ref component and a worktree record, so it is checked before
-- anything is touched: ^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$, no "..", and not ending in "." or
-- ".lock" (git refuses such ref components).
local errors = require("gt.errors")

local names = {}

names.MAX_LENGTH = 63

--- Returns nil if `name` is valid, else the reason it is not.
---@param name any
---@return string? reason
function names.problem(name)
  if type(name) ~= "string" then return "must be a string" end
  if name == "" then return "must not be empty" end
  if #name > names.MAX_LENGTH then
    return ("is %d characters long; the limit is %d"):format(#name, names.MAX_LENGTH)
  end
  if not name:match("^[A-Za-z0-9]") then return "must start with a letter or a digit" end
  local bad = name:match("[^A-Za-z0-9._-]")
  if bad then
    return ("must contain only letters, digits, '.', '_' and '-' (found %s)"):format(errors.quote(bad))
  end
  if name:find("..", 1, true) then return "must not contain '..'" end
  if name:sub(-1) == "." then return "must not end in '.'" end
  if name:sub(-5) == ".lock" then return "must not end in '.lock'" end
  return nil
end

--- Raises a usage error unless `name` is valid; `what` is "polecat name", "rig name"...
function names.check(name, what)
  local reason = names.problem(name)
  if reason then
    errors.raise("usage", "invalid %s %s: %s", what, errors.quote(name), reason)
  end
  return name
end

return names
