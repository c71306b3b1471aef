---@meta
-- gt.fs (src/lgt_fs.c): file system operations Lua's io and os libraries lack. Failures return
-- nil, "<path>: <reason>", CODE with CODE from errno: "ENOTFOUND", "EEXISTS", "ENOTDIR",
-- "ENOTEMPTY", "EISDIR", "EACCES", "EINVALID", "ENOSPC", "EINTR" (gt was interrupted: long
-- loops stop), "EIO"; and "ENOTREG", "ETOOBIG" (read_file), "EXDEV" (rename).

---@class gt.fs
local fs = {}

---@class gt.fs.Stat
---@field type "file"|"directory"|"link"|"other"
---@field size integer
---@field mode integer Permission bits (07777).
---@field mtime_ms integer
---@field ino integer
---@field uid integer Owner.

--- Returns the status of `path`, following symbolic links.
---@return gt.fs.Stat? stat
---@return string? err
---@return string? code
function fs.stat(path) end

--- Returns the status of `path` itself: a symbolic link is type "link".
---@return gt.fs.Stat? stat
---@return string? err
---@return string? code
function fs.lstat(path) end

--- Returns the absolute path of `path` with no symbolic links or "..".
---@return string? path
---@return string? err
---@return string? code
function fs.realpath(path) end

--- Returns the current directory.
---@return string? path
function fs.cwd() end

--- Creates a directory ("EEXISTS" when something is there).
---@param mode? integer default 0777 (less the umask)
---@return true? ok
---@return string? err
---@return string? code
function fs.mkdir(path, mode) end

--- Creates a directory and its missing parents; an existing directory is success.
---@return true? ok
---@return string? err
---@return string? code
function fs.mkdir_p(path, mode) end

--- Removes an empty directory.
---@return true? ok
---@return string? err
---@return string? code
function fs.rmdir(path) end

--- Lists the names in a directory (unsorted, without "." and "..").
---@return string[]? names
---@return string? err
---@return string? code
function fs.dir(path) end

--- Removes `path` and everything under it, like rm -rf, without following symbolic links;
--- read-only directories are made writable first. A missing path returns "ENOTFOUND".
---@return true? ok
---@return string? err
---@return string? code
function fs.remove_tree(path) end

--- Changes the current directory.
---@return true? ok
---@return string? err
---@return string? code
function fs.chdir(path) end

--- Copies a regular file with its permission bits, sharing its blocks (a reflink) where the file
--- system can; an existing `dst` is an error ("EEXISTS") unless overwrite is set. A failed copy
--- leaves no `dst` behind.
---@param opts? {overwrite: boolean?}
---@return "reflink"|"copy"|nil how
---@return string? err
---@return string? code
function fs.copy_file(src, dst, opts) end

--- Reads a regular file (after following links) whole. Anything else is refused ("ENOTREG": a
--- directory, a FIFO, a device such as /dev/zero), and so is a file larger than max_bytes
--- ("ETOOBIG"): what is read is bounded, and can be hashed and loaded as the same bytes.
---@param opts? {max_bytes: integer?} default 1 MiB
---@return string? content
---@return string? err
---@return string? code
function fs.read_file(path, opts) end

--- Renames `from` to `to` (rename(2): atomic on one file system; "EXDEV" across file systems).
---@return true? ok
---@return string? err
---@return string? code
function fs.rename(from, to) end
