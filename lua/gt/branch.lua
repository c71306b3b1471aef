--- gt.branch: the branch names of polecats, in Gas Town's two forms, with an exact inverse.
--
--   polecat/<name>-<base36 ms>            without an issue
--   polecat/<name>/<issue>@<base36 ms>    with one
local names = require("gt.names")

local branch = {}

local DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"

--- Encodes a non-negative integer in base 36 (lower case).
function branch.base36(n)
  assert(math.type(n) == "integer" and n >= 0, "base36 needs a non-negative integer")
  if n == 0 then return "0" end
  local out = {}
  while n > 0 do
    local d = n % 36
    table.insert(out, 1, DIGITS:sub(d + 1, d + 1))
    n = n // 36
  end
  return table.concat(out)
end

--- Decodes a base-36 string as branch.base36 writes it; nil if it is not one (leading zeros
--- and values beyond math.maxinteger included, so that decoding is an exact inverse).
function branch.from_base36(s)
  if type(s) ~= "string" or not s:match("^[0-9a-z]+$") then return nil end
  local n = tonumber(s, 36) -- wraps around on overflow
  if n < 0 or branch.base36(n) ~= s then return nil end
  return n
end

--- Returns the branch name for polecat `name`, optional `issue`, at Unix time `ms`.
function branch.format(name, issue, ms)
  if issue then
    return ("polecat/%s/%s@%s"):format(name, issue, branch.base36(ms))
  end
  return ("polecat/%s-%s"):format(name, branch.base36(ms))
end

--- Parses a polecat branch name into name, issue (or nil) and ms; nil if it is not one, so
--- also when the name or the issue is not a valid name (gt.names).
function branch.parse(ref)
  if type(ref) ~= "string" then return nil end
  local rest = ref:match("^polecat/(.+)$")
  if not rest then return nil end
  local name, tail = rest:match("^([^/]+)/(.+)$")
  if name then
    local issue, stamp = tail:match("^(.+)@([0-9a-z]+)$")
    local ms = branch.from_base36(stamp)
    if not issue or not ms or names.problem(name) or names.problem(issue) then return nil end
    return name, issue, ms
  end
  local plain, stamp = rest:match("^(.+)-([0-9a-z]+)$")
  local ms = branch.from_base36(stamp)
  if not plain or not ms or names.problem(plain) then return nil end
  return plain, nil, ms
end

return branch
