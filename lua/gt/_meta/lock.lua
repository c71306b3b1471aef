---@meta
-- gt.lock (src/lgt_lock.c): advisory file locks (flock) that say who holds them.

---@class gt.lock
local lock = {}

---@class gt.lock.Opts
---@field timeout_ms? integer How long to wait for a busy lock (acquire: 5000; try: 0).
---@field what? string One line saying what the holder does ("gt polecat add fixer-bot").

---@class gt.lock.Holder
---@field pid integer
---@field what string
---@field since_ms integer Unix ms when it was taken.
---@field host string

--- Takes the lock on file `path` (created if missing; its folder must exist), waiting up to
--- opts.timeout_ms, and writes the holder lines (pid, what, since, host) into it. The kernel
--- releases it when the process dies. Use it as a to-be-closed variable:
---
--- ```lua
--- local lk <close>, err, code = lock.acquire(path, { timeout_ms = 5000, what = "gt polecat add x" })
--- if not lk then return nil, err, code end
--- ```
---
--- A lock that stays busy returns nil, "lock busy: held by pid 1234 (gt polecat remove) for 42s",
--- "ELOCKED". A file that cannot be opened returns nil, "<path>: <reason>" and an errno code
--- ("ENOTFOUND", "EACCES"...). Raises on misuse (path not a string, timeout_ms < 0, a 'what'
--- with a newline, options of the wrong type).
---@param path string
---@param opts? gt.lock.Opts
---@return gt.Lock? lock
---@return string? err
---@return string? code
function lock.acquire(path, opts) end

--- As `acquire`, but never waits.
---@param path string
---@param opts? gt.lock.Opts
---@return gt.Lock? lock
---@return string? err
---@return string? code
function lock.try(path, opts) end

--- Returns who holds the lock on `path`, from its holder lines; nil when nobody holds it (or the
--- file does not exist).
---@param path string
---@return gt.lock.Holder? holder
function lock.holder(path) end

---@class gt.Lock
local Lock = {}

--- Releases the lock (also done by `__close` and `__gc`). Using it afterwards raises.
---@return true
function Lock:release() end

--- Returns the path of the lock file.
---@return string
function Lock:path() end
