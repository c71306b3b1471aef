-- Thin helpers shared by the specs: temporary folders, running the gt binary, and real git
-- repositories made with the git CLI (an independent witness of what gt did).
local fs = require("gt.fs")
local proc = require("gt.proc")

local helpers = {}

local tmp_root = os.getenv("TMPDIR") or "/tmp"
local counter = 0

--- Makes a new empty temporary directory and returns its real path.
function helpers.tmpdir(label)
  counter = counter + 1
  local path = string.format("%s/gt-test-%d-%d-%s", tmp_root, require("gt.sys").pid(), counter,
    label or "d")
  if fs.stat(path) then assert(fs.remove_tree(path)) end
  assert(fs.mkdir_p(path))
  return assert(fs.realpath(path))
end

--- Writes `data` to `path`, creating parent folders.
function helpers.write(path, data)
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then assert(fs.mkdir_p(dir)) end
  local f = assert(io.open(path, "wb"))
  assert(f:write(data))
  assert(f:close())
end

--- Returns the content of `path`, or nil if it cannot be read.
function helpers.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local data = f:read("a")
  f:close()
  return data
end

--- True if something exists at `path` (links are not followed).
function helpers.exists(path)
  return fs.lstat(path) ~= nil
end

return helpers
