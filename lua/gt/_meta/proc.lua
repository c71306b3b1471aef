---@meta
-- gt.proc (src/lgt_proc.c): runs programs without a shell and collects their outcome.

---@class gt.proc
local proc = {}

---@alias gt.proc.Output
---| "capture" # collects the stream into the result (the default)
---| "inherit" # the program writes to gt's own stdout or stderr
---| fun(chunk: string) # receives each chunk as it arrives; nothing is kept

--- Options of `proc.run`. A program name without "/" is searched on PATH: opts.env's PATH if it
--- sets one, else gt's (also with clear_env); only absolute entries are searched, relative and
--- empty ones ("." in effect) are skipped, as gt runs inside repositories it does not trust.
---@class gt.proc.RunOpts
---@field argv string[] Program and arguments, at least one.
---@field cwd? string Directory the program runs in.
---@field env? table<string, string|false> Variables added or overridden; `false` removes one.
---@field clear_env? boolean Starts from an empty environment instead of gt's.
---@field stdin? string Data for stdin; `"inherit"`: gt's stdin; absent: /dev/null.
---@field stdout? gt.proc.Output
---@field stderr? gt.proc.Output
---@field timeout_ms? integer Then SIGTERM to the process group, SIGKILL 1000 ms later.
---@field foreground? boolean The program stays in gt's process group (it can read the terminal
--- and gets the terminal's Ctrl-C itself, as a shell's foreground job); while it runs, SIGINT,
--- SIGTERM, SIGHUP and SIGQUIT that other processes send gt are passed on to it instead of
--- interrupting gt, so the program decides how it ends. A timeout signals the program alone.
---@field started? fun(pid: integer) Called once the program runs (after its exec), with its pid;
--- if it raises, the program gets SIGKILL, is reaped, and the error propagates.

---@class gt.proc.Result
---@field code integer? Exit status, or nil if a signal killed the program.
---@field signal integer? Signal that killed the program, or nil.
---@field ok boolean Whether the program exited with status 0.
---@field stdout string? Captured stdout (absent unless captured).
---@field stderr string? Captured stderr (absent unless captured).
---@field timed_out boolean Whether timeout_ms ended the run.
---@field pid integer Process id the program had.

--- Runs a program and waits until it has exited and closed its stdout and stderr (a background
--- process that keeps them open keeps run waiting, up to timeout_ms).
---
--- The program runs in its own process group: a timeout signals the whole group, and so does an
--- interrupt of gt (SIGINT or SIGTERM), which sends it SIGTERM (SIGKILL 1000 ms later) and waits
--- for it before gt's own interrupt handling runs. Descriptors other than 0, 1 and 2 are not
--- passed on. A non-zero exit or a death by signal is a result, not a failure.
---
--- When the program cannot be started, returns nil, a message and a code: "ENOTFOUND" for
--- "nosuchprog: No such file or directory" or "<cwd>: No such file or directory", "EACCES" for
--- "<path>: Permission denied", another errno code for "fork: <reason>", "pipe: <reason>".
---
--- If an output callback raises, the process group gets SIGKILL, the program is reaped and the
--- error propagates unchanged.
---
--- Raises on misuse: argv missing, empty or holding a non-string; an unknown option; an option of
--- the wrong type; a timeout_ms that is not > 0.
---
--- ```lua
--- local r, err, code = proc.run({ argv = { "git", "status", "--short" }, cwd = dir })
--- if not r then return nil, err, code end
--- if not r.ok then print(r.stderr) end
--- ```
---@param opts gt.proc.RunOpts
---@return gt.proc.Result? result The outcome, or nil when the program could not be started.
---@return string? err Why it could not be started.
---@return string? code "ENOTFOUND", "EACCES", or another code from errno.
function proc.run(opts) end

--- Options of `proc.start`: argv, cwd, env and clear_env as for `proc.run`, and where the
--- program's output and its exit status go.
---@class gt.proc.StartOpts
---@field argv string[] Program and arguments, at least one.
---@field cwd? string Directory the program runs in.
---@field env? table<string, string|false> Variables added or overridden; `false` removes one.
---@field clear_env? boolean Starts from an empty environment instead of gt's.
---@field log string File that stdout and stderr are appended to (created if missing).
---@field status? string File (truncated at the start) that gets "<pid> <status>\n" when the
--- program has ended: the supervisor's pid, and the exit status or 128 + the killing signal.

--- Starts a program detached from gt and returns at once. A supervisor, forked from gt, makes
--- a session and process group of its own (setsid), with stdin /dev/null and stdout and stderr
--- appended to opts.log; it starts the program in that group and waits for it, then writes
--- opts.status and exits. The pid returned is the supervisor's, which is also the session's
--- and process group's id: `sys.kill(-pid, sig)` signals the program and all it started. The
--- supervisor ignores SIGINT, SIGTERM, SIGHUP and SIGQUIT (so it can record how a signalled
--- program ended) and holds no descriptor of gt's; SIGKILL ends it. It is gt's child until gt
--- exits (a zombie once it ends, if gt is still running: `sys.proc_start` counts it gone).
---
--- When the program cannot be started, returns nil, a message and a code as `proc.run` does
--- ("nosuchprog: No such file or directory", "<cwd>: ...", "<log>: ..." for a log that cannot
--- be opened); nothing is left running then.
---
--- Raises on misuse as `proc.run`, and when opts.log is missing.
---
--- ```lua
--- local pid, err, code = proc.start({ argv = { "make" }, cwd = dir, log = dir .. "/make.log" })
--- ```
---@param opts gt.proc.StartOpts
---@return integer? pid The supervisor's pid (the session's and process group's id).
---@return string? err Why the program could not be started.
---@return string? code "ENOTFOUND", "EACCES", or another code from errno.
function proc.start(opts) end

--- Finds the executable file that `proc.run` would run for `name`: `name` itself if it holds a
--- "/", else the first executable regular file `<dir>/<name>` for the absolute entries `dir` of
--- `path` (relative and empty entries are skipped).
---
--- Raises if `name` is not a string or is empty.
---@param name string
---@param path? string A PATH-like list of directories; defaults to gt's PATH.
---@return string? path The executable's path, or nil if none is found.
---@return string? err "<name>: not found on PATH"
---@return string? code "ENOTFOUND"
function proc.which(name, path) end

return proc
