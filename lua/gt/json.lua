--- gt.json: JSON for `--json` output and the ledger's JSON columns (lua-dkjson).
--
-- dkjson rather than lua-cjson: Debian's cjson (2.1.0) cannot encode an empty array as [],
-- which every `--json` listing needs.
local dkjson = require("dkjson")

local json = {}

local array_mt = { __jsontype = "array" }
local object_mt = { __jsontype = "object" }

--- Marks table `t` as an array (encodes as [] when empty); returns it.
function json.array(t)
  return setmetatable(t or {}, array_mt)
end

--- Marks table `t` as an object (encodes as {} when empty); returns it.
function json.object(t)
  return setmetatable(t or {}, object_mt)
end

--- Encodes a value; raises on values JSON cannot hold (functions, userdata).
function json.encode(value)
  local s, err = dkjson.encode(value)
  if not s then error("json: " .. tostring(err), 2) end
  return s
end

--- Decodes a JSON document: value | nil, err.
function json.decode(s)
  local value, _, err = dkjson.decode(s, 1, nil, object_mt, array_mt)
  if err then return nil, err end
  return value
end

return json
