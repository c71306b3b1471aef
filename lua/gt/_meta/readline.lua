---@meta
-- gt.readline (src/lgt_readline.c): line editing for `gt repl`, on libedit (BSD-licensed, through
-- its readline-compatible interface; key bindings from ~/.editrc): reading a line with editing,
-- history and Tab completion. Only the editing is C; the REPL is Lua (lua/gt/repl.lua). There is
-- one line editor per process: the history and the completer are global. History files hold one
-- entry a line, as GNU readline writes them (not libedit's own format), and are read and written
-- by this module. History file failures return nil, "<path>: <reason>", CODE with CODE from errno:
-- "ENOTFOUND", "EACCES", "EINVALID" (not a history file: a directory), "ENOSPC", "EIO"...
-- Misuse (arguments of the wrong type) raises.

---@class gt.readline
local readline = {}

--- Reads one line from the terminal (stdin), showing `prompt`, with line editing and Tab
--- completion (see set_completer). Returns the line without its newline; nil at the end of
--- the input (Ctrl-D on an empty line, which libedit shows as "^D"); false when Ctrl-C
--- cancelled the line (what was typed is shown followed by "^C" and dropped; gt is not
--- interrupted). The line is not added to the history (add_history). Fails with nil, "reading the terminal: <reason>", CODE (or
--- "sigaction: <reason>") when the terminal cannot be read: tell that from the end of the input
--- by the message.
---@param prompt string
---@return string|false|nil line
---@return string? err
---@return string? code
function readline.read(prompt) end

--- Adds `line` to the history in memory (the newest entry); see append_history to keep it.
---@param line string
function readline.add_history(line) end

--- Adds the lines of the history file at `path` to the history in memory (empty lines are
--- skipped). A path that is not a regular file is "EINVALID".
---@param path string
---@return true? ok
---@return string? err
---@return string? code
function readline.read_history(path) end

--- Appends the newest history entry to the file at `path`, which must exist ("ENOTFOUND"
--- otherwise), so that history written line by line survives a session that is killed.
---@param path string
---@return true? ok
---@return string? err
---@return string? code
function readline.append_history(path) end

--- Truncates the history file at `path` to its newest `lines` lines.
---@param path string
---@param lines integer
---@return true? ok
---@return string? err
---@return string? code
function readline.truncate_history(path, lines) end

--- Sets the function Tab completion asks for candidates (nil removes it: Tab completes
--- nothing). `fn(word, line, start)` gets the word before the cursor, the whole line and the
--- position (from 1) where the word starts in it, and returns the list of strings that may
--- replace the word: it does the matching itself, they are offered as given, with no space
--- after the one that is taken. Words are broken at spaces and at most operators and brackets,
--- not at "." or ":", so "gt.git.op" and "rig:po" are one word each. A completer that raises
--- or returns no table completes nothing; there is never a fallback to file names.
---@param fn? fun(word: string, line: string, start: integer): string[]
function readline.set_completer(fn) end

return readline
