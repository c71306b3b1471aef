--- gt.luafile: configuration files that are Lua tables (`return { ... }`), read in text mode
--- with an empty environment, and written back in a stable, readable form.
local errors = require("gt.errors")

local luafile = {}

--- Reads the table returned by the Lua file at `path`: table | nil, err.
function luafile.read(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local src = f:read("a")
  f:close()
  local chunk, perr = load(src, "@" .. path, "t", {})
  if not chunk then return nil, errors.full_path(perr, path) end
  local ok, value = pcall(chunk)
  if not ok then return nil, errors.full_path(tostring(value), path) end
  if type(value) ~= "table" then return nil, path .. ": does not return a table" end
  return value
end

local KEYWORDS = {}
for w in ("and break do else elseif end false for function goto if in local nil not or repeat " ..
    "return then true until while"):gmatch("%a+") do
  KEYWORDS[w] = true
end

--- A literal that reads back as exactly `n`: tostring keeps 14 digits, too few for some floats,
--- and writes inf and nan, which read back as nil.
local function number_literal(n)
  if math.type(n) == "integer" then return tostring(n) end
  if n ~= n then return "0/0" end
  if n == math.huge then return "1e999" elseif n == -math.huge then return "-1e999" end
  local s = tostring(n)
  if tonumber(s) ~= n then s = ("%.17g"):format(n) end
  if not s:find("[.eE]") then s = s .. ".0" end -- stays a float
  return s
end

local function serialize(value, indent, out)
  local t = type(value)
  if t == "string" then
    out[#out + 1] = ("%q"):format(value)
  elseif t == "number" then
    out[#out + 1] = number_literal(value)
  elseif t == "boolean" then
    out[#out + 1] = tostring(value)
  elseif t == "table" then
    local keys = {}
    for k in pairs(value) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    out[#out + 1] = "{\n"
    for _, k in ipairs(keys) do
      out[#out + 1] = indent .. "  "
      if type(k) == "string" and k:match("^[%a_][%w_]*$") and not KEYWORDS[k] then
        out[#out + 1] = k
      else
        out[#out + 1] = "["
        serialize(k, "", out)
        out[#out + 1] = "]"
      end
      out[#out + 1] = " = "
      serialize(value[k], indent .. "  ", out)
      out[#out + 1] = ",\n"
    end
    out[#out + 1] = indent .. "}"
  else
    error("cannot write a " .. t .. " into a Lua file")
  end
end

--- Writes `tbl` to `path` as `return { ... }`, atomically (write a temporary file, rename it),
--- with `comment` lines on top: true | nil, err.
function luafile.write(path, tbl, comment)
  local out = {}
  for line in (comment or ""):gmatch("[^\n]+") do out[#out + 1] = "-- " .. line .. "\n" end
  out[#out + 1] = "return "
  serialize(tbl, "", out)
  out[#out + 1] = "\n"
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then return nil, err end
  local ok, werr = f:write(table.concat(out))
  if not ok then f:close(); os.remove(tmp); return nil, werr end
  ok, werr = f:close()
  if not ok then os.remove(tmp); return nil, werr end
  return os.rename(tmp, path)
end

return luafile
