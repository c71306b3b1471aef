--- gt.files: copying files git does not carry (ignored ones, like .env) into a polecat's
--- worktree, from a template folder or another checkout. Blocks are shared (reflinks) where
--- the file system can, so copying a large node_modules costs almost nothing there.
local fs = require("gt.fs")
local errors = require("gt.errors")

local files = {}

local function walk(root, rel, out)
  local dir = rel == "" and root or root .. "/" .. rel
  local names = errors.check_doing("listing " .. dir, fs.dir(dir))
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

--- Raises if a folder on the way from `dest` to `dest/rel` is a symbolic link.
local function refuse_links(dest, rel)
  local path = dest
  for part in rel:gmatch("([^/]+)/") do
    path = path .. "/" .. part
    local st = fs.lstat(path)
    if not st then return end
    if st.type == "link" then
      errors.raise("refused", "copy_into: %s is a symbolic link; not copying through it", path)
    end
  end
end

--- Copies files from folder `opts.from` into folder `dest`: the relative paths `opts.paths`,
--- or every regular file under `from` (a .git folder excepted). Parent folders are made. A file
--- that exists in `dest` is skipped unless `opts.overwrite`. A path missing in `from` is an
--- error unless `opts.optional`; such errors come before anything is copied. A symbolic link at
--- a file's place in `dest` is replaced, never written through; one on the way to it is an
--- error (kind "refused"). Returns the copied paths ({path, how = "reflink"|"copy"}) and the
--- skipped ones.
---@param dest string
---@param opts {from: string, paths: string[]?, overwrite: boolean?, optional: boolean?}
function files.copy_into(dest, opts)
  assert(type(dest) == "string", "copy_into: dest must be a folder")
  assert(type(opts) == "table" and type(opts.from) == "string", "copy_into: opts.from is required")
  local list = opts.paths or walk(opts.from, "", {})
  -- Every path is checked before anything is copied: a bad list copies nothing.
  local missing = {}
  for _, rel in ipairs(list) do
    -- A ".." component leaves the folder; a name like "notes..txt" does not.
    if rel:sub(1, 1) == "/" or ("/" .. rel .. "/"):find("/%.%./") then
      errors.raise("usage", "copy_into: %s must be a relative path inside %s", rel, opts.from)
    end
    if not fs.stat(opts.from .. "/" .. rel) then
      if not opts.optional then errors.raise("notfound", "copy_into: no file %s/%s", opts.from, rel) end
      missing[rel] = true
    end
  end
  local copied, skipped = {}, {}
  for _, rel in ipairs(list) do
    local src, dst = opts.from .. "/" .. rel, dest .. "/" .. rel
    if missing[rel] then
      skipped[#skipped + 1] = rel
    elseif fs.lstat(dst) and not opts.overwrite then
      skipped[#skipped + 1] = rel
    else
      -- The worktree is the project's: a link it commits must not send the copy elsewhere.
      refuse_links(dest, rel)
      local parent = dst:match("^(.*)/[^/]*$")
      errors.check_doing("copy_into", fs.mkdir_p(parent))
      local st = fs.lstat(dst)
      if st and st.type == "link" then errors.check_doing("copy_into", os.remove(dst)) end
      local how = errors.check_doing("copy_into", fs.copy_file(src, dst, { overwrite = opts.overwrite }))
      copied[#copied + 1] = { path = rel, how = how }
    end
  end
  return copied, skipped
end

return files
