--- gt.files: copying files git does not carry (ignored ones, like .env) into a polecat's
--- worktree, from a template folder or another checkout. Blocks are shared (reflinks) where
--- the file system can, so copying a large node_modules costs almost nothing there.
local fs = require("gt.fs")
local errors = require("gt.errors")

local files = {}

local function walk(root, rel, out)
  local dir = rel == "" and root or root .. "/" .. rel
  local names = errors.checked("listing " .. dir, fs.dir(dir))
  table.sort(names)
  for _, name in ipairs(names) do
    local path = rel == "" and name or rel .. "/" .. name
    local st = fs.lstat(root .. "/" .. path)
    if st and st.type == "directory" then
      if name ~= ".git" then walk(root, path, out) end
    elseif st and st.type == "file" then
      out[#out + 1] = path
    end
  end
  return out
end

--- Copies files from folder `opts.from` into folder `dest`: the relative paths `opts.paths`,
--- or every regular file under `from` (a .git folder excepted). Parent folders are made. A file
--- that exists in `dest` is skipped unless `opts.overwrite`. A path missing in `from` is an
--- error unless `opts.optional`. Returns the copied paths ({path, how = "reflink"|"copy"}) and
--- the skipped ones.
---@param dest string
---@param opts {from: string, paths: string[]?, overwrite: boolean?, optional: boolean?}
function files.copy_into(dest, opts)
  assert(type(dest) == "string", "copy_into: dest must be a folder")
  assert(type(opts) == "table" and type(opts.from) == "string", "copy_into: opts.from is required")
  local list = opts.paths or walk(opts.from, "", {})
  local copied, skipped = {}, {}
  for _, rel in ipairs(list) do
    if rel:sub(1, 1) == "/" or rel:find("%.%.") then
      errors.raise("usage", "copy_into: %s must be a relative path inside %s", rel, opts.from)
    end
    local src, dst = opts.from .. "/" .. rel, dest .. "/" .. rel
    if not fs.stat(src) then
      if not opts.optional then errors.raise("notfound", "copy_into: no file %s", src) end
      skipped[#skipped + 1] = rel
    elseif fs.lstat(dst) and not opts.overwrite then
      skipped[#skipped + 1] = rel
    else
      local parent = dst:match("^(.*)/[^/]*$")
      errors.checked("copy_into", fs.mkdir_p(parent))
      local how = errors.checked("copy_into", fs.copy_file(src, dst, { overwrite = opts.overwrite }))
      copied[#copied + 1] = { path = rel, how = how }
    end
  end
  return copied, skipped
end

return files
