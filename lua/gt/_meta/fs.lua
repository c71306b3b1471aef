---@meta
-- gt.fs (src/lgt_fs.c): file system operations Lua's io and os libraries lack. Failures return
-- nil, "<path>: <reason>", CODE with CODE from errno: "ENOTFOUND", "EEXISTS", "ENOTDIR",
-- "ENOTEMPTY", "EISDIR", "EACCES", "EINVALID", "ENOSPC", "EIO".

---@class gt.fs
local fs = {}

---@class gt.fs.Stat
---@field type "file"|"directory"|"link"|"other"
---@field size integer
---@field mode integer Permission bits (07777).
---@field mtime_ms integer
---@field ino integer

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
