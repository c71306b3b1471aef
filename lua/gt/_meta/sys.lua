---@meta
-- gt.sys (src/lgt_sys.c): facts about the process and the machine that Lua's os library lacks.

---@class gt.sys
local sys = {}

--- Returns Unix time in milliseconds.
---@return integer
function sys.now_ms() end

--- Returns monotonic milliseconds (with fractions), for measuring durations.
---@return number
function sys.clock_ms() end

--- Sleeps for `ms` milliseconds.
function sys.sleep_ms(ms) end

--- Returns gt's process id.
---@return integer
function sys.pid() end

--- Returns whether a process with id `pid` exists on this machine.
---@return boolean
function sys.pid_alive(pid) end

--- Sends signal `sig` (a number, as kill(2)) to process `pid`, or to process group `-pid` when
--- `pid` is negative (below -1: -1, every process, and 0, gt's own group, are refused).
---@return true? ok
---@return string? err
---@return string? code
function sys.kill(pid, sig) end

--- Returns the start time of process `pid` (field 22 of /proc/<pid>/stat: clock ticks after
--- boot, as a string), which no later process reusing the pid has; nil when there is no such
--- process or it has exited (a zombie).
---@return string? start
---@return string? err
---@return string? code
function sys.proc_start(pid) end

--- Returns the id of a process of this machine that has the file at `path` open (seen through
--- /proc), or nil when none has: a lock file nobody has open was left by a writer that died.
---@return integer? pid
---@return string? err
---@return string? code
function sys.open_by(path) end

--- Returns the host name.
---@return string? name
---@return string? err
---@return string? code
function sys.hostname() end

--- Returns whether the stream is a terminal.
---@param stream "stdin"|"stdout"|"stderr"
---@return boolean
function sys.isatty(stream) end

--- Returns the width of the terminal on `stream`, or nil when it is not one.
---@param stream "stdin"|"stdout"|"stderr"
---@return integer?
function sys.term_width(stream) end
