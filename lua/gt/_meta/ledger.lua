---@meta gt.ledger

--- The town's sqlite3 database (src/lgt_ledger.c): WAL, busy timeouts, scoped transactions that
--- retry on busy, forward migrations numbered by `PRAGMA user_version`, prepared statements.
---
--- Errors come in two forms. Operational failures (sqlite says no: busy, constraint, bad SQL,
--- missing file) return `nil, message, code`, the message being `"<path>: <sqlite message>"` and
--- the code a stable string: `"EBUSY"` (also for a locked table), `"ECONSTRAINT"`, `"ESQL"`,
--- `"ENOTFOUND"`, `"EACCES"`, `"ENOSPC"`, `"ECORRUPT"`, `"EINVALID"`, `"ENEWER"`, `"EIO"`.
--- Misuse raises: a closed ledger ("attempt to use a closed ledger"), a finalized statement
--- ("attempt to use a finalized statement"), arguments of the wrong type, a parameter value that
--- is not nil, boolean, number or string, more values than parameters, or SQL that must be one
--- statement and is not. `rows` iterators raise on every failure (see `gt.Ledger:rows`).
---
--- Parameters, wherever `...` is taken: either values bound in order to `?` and `?NNN`, or one
--- table whose `t[i]` binds parameter i and whose `t.name` binds `:name`, `@name` and `$name`.
--- Parameters given no value are NULL; table keys the statement does not use are ignored.
--- Values: nil is NULL, booleans are 1 and 0, integers are 64-bit integers, floats are reals,
--- strings are text (any bytes, zero bytes included).
---
--- Rows are tables keyed by column name: INTEGER gives a Lua integer, REAL a float, TEXT and BLOB a
--- string; NULL columns are absent.
---
--- The module sends no SQL of its own but the PRAGMAs that set a connection up, `user_version`,
--- `BEGIN IMMEDIATE`, `COMMIT` and `ROLLBACK`; keeping the rest portable is the caller's job.
---
--- ```lua
--- local db <close> = assert(ledger.open(town .. "/.gt/ledger.db"))
--- assert(db:migrate(schema))
--- assert(db:tx(function(tx)
---   assert(tx:exec("INSERT INTO agents (id, state) VALUES (?, ?)", id, "spawning"))
--- end))
--- for row in db:rows("SELECT id FROM agents WHERE state = :state", { state = "idle" }) do
---   print(row.id)
--- end
--- ```
local ledger = {}

--- Returns the version of the sqlite library gt runs with, such as "3.40.1".
---@return string
function ledger.sqlite_version() end

---@class gt.Ledger
local Ledger = {}

---@class gt.Statement
local Statement = {}

---@class gt.LedgerOpenOptions
---@field busy_timeout_ms? integer how long one statement waits for another writer (default 5000)
---@field synchronous? "FULL"|"NORMAL" durability of commits (default "FULL")
---@field readonly? boolean open without write access and without creating the file (default false)
---@field create? boolean create the file when it is missing (default true; false: "ENOTFOUND")

--- Opens the database at `path`, creating it unless `readonly` or `create = false`, and sets it
--- up: the busy timeout,
--- `PRAGMA journal_mode=WAL` (refused with `"EIO"` if the database cannot use WAL), `synchronous`,
--- `foreign_keys=ON`, and no checkpoint on close (short-lived processes leave that to sqlite's
--- automatic checkpoints). A missing file opened `readonly` fails with `"ENOTFOUND"`; a file that
--- is not a database with `"ECORRUPT"`. Raises on bad options.
---@param path string
---@param opts? gt.LedgerOpenOptions
---@return gt.Ledger? db
---@return string? err
---@return string? code
function ledger.open(path, opts) end

--- Runs `sql`. Without parameters it runs every statement in `sql` (a migration or a script of
--- DDL); with parameters `sql` must be exactly one statement (raises otherwise). Statements that
--- return rows run to the end and their rows are dropped.
---@param sql string
---@param ... any parameters
---@return true? ok
---@return string? err
---@return string? code
function Ledger:exec(sql, ...) end

--- Iterates over the rows of one statement: `for row in db:rows(sql, ...) do ... end`.
--- The fourth value it returns is to-be-closed, so leaving the loop early (break, return, error)
--- finalizes the statement at once. Any sqlite failure, when preparing or while stepping, raises
--- an error `"ledger: <sqlite message>"`: a for loop has no other way to report one.
---@param sql string exactly one statement
---@param ... any parameters
---@return fun(state: any): table? iterator
---@return any state
---@return nil control
---@return any closing
function Ledger:rows(sql, ...) end

--- Returns the first row of one statement, or nil when there is none.
---@param sql string exactly one statement
---@param ... any parameters
---@return table? row nil both when there is no row and on failure (then err is set)
---@return string? err
---@return string? code
function Ledger:row(sql, ...) end

--- Prepares one statement to run many times. It keeps the ledger from being collected; it is
--- finalized by `finalize`, `<close>` or the garbage collector.
---@param sql string exactly one statement
---@return gt.Statement? stmt
---@return string? err
---@return string? code
function Ledger:prepare(sql) end

--- Returns the number of rows the latest INSERT, UPDATE or DELETE changed.
---@return integer
function Ledger:changes() end

--- Returns the rowid of the latest successful INSERT on this connection.
---@return integer
function Ledger:last_insert_id() end

--- Runs `fn(db, ...)` in a `BEGIN IMMEDIATE` transaction. When another process holds the write
--- lock past the busy timeout, BEGIN (and COMMIT) are tried again with growing pauses until twice
--- the busy timeout has passed, then `tx` returns `nil, err, "EBUSY"`. When `fn` returns, the
--- transaction commits and `tx` returns what `fn` returned (`true` if nothing); a failed COMMIT
--- rolls back and returns `nil, err, code`. When `fn` raises, the transaction rolls back and the
--- very same error value is raised again: use `assert` inside `fn` to roll back on a failed
--- statement. Raises "ledger: transaction already open" when a transaction is open already, and
--- "ledger: the transaction ended inside tx" when `fn` ends it itself (COMMIT, ROLLBACK).
---@param fn fun(db: gt.Ledger, ...): ...
---@param ... any passed on to fn
---@return any ... what fn returned, or true
---@return string? err
---@return string? code
function Ledger:tx(fn, ...) end

--- Brings the schema up to `#migrations`. Migration i is SQL (run as by `exec` without
--- parameters) or a function called with the ledger; each one the database has not seen
--- (i > `user_version`) runs in its own `BEGIN IMMEDIATE` transaction together with
--- `PRAGMA user_version = i`, so a failure leaves the version of the last good one. A failing SQL
--- migration returns `nil, "<path>: migration i: <sqlite message>", code`; a migration function
--- that raises rolls back and its error is raised again (one that ends the transaction itself
--- raises "ledger: migration i ended its transaction"). A database whose version is above
--- `#migrations` is refused: `nil, "<path>: schema version N is newer than this gt knows (M)",
--- "ENEWER"`. Safe to run from several processes at once.
---@param migrations (string|fun(db: gt.Ledger))[]
---@return true? ok
---@return string? err
---@return string? code
function Ledger:migrate(migrations) end

--- Returns the schema version, `PRAGMA user_version` (0 for a new database).
---@return integer? version
---@return string? err
---@return string? code
function Ledger:user_version() end

--- Closes the connection (an open transaction rolls back). Statements still open keep working
--- until they are finalized. `<close>` and the garbage collector close it too. Returns true.
---@return true
function Ledger:close() end

--- Returns the path the ledger was opened with.
---@return string
function Ledger:path() end

--- Resets the statement, clears its old values and binds new ones. Returns the statement.
---@param ... any parameters
---@return gt.Statement
function Statement:bind(...) end

--- Runs the statement to its next row. Returns the row, `false` when there are no more rows (a
--- further `step` starts over), or `nil, err, code` on failure.
---@return table|false|nil row
---@return string? err
---@return string? code
function Statement:step() end

--- Binds `...` when given (otherwise keeps the values bound), runs the statement to the end and
--- resets it.
---@param ... any parameters
---@return true? ok
---@return string? err
---@return string? code
function Statement:exec(...) end

--- Iterates over the rows, as `gt.Ledger:rows` (raising on failure), binding `...` when given.
--- Leaving the loop resets the statement instead of finalizing it.
---@param ... any parameters
---@return fun(state: any): table? iterator
---@return any state
---@return nil control
---@return any closing
function Statement:rows(...) end

--- Resets the statement so that it runs again from the start, with the same values bound.
--- Returns the statement.
---@return gt.Statement
function Statement:reset() end

--- Frees the statement; allowed after its ledger is closed. Returns true. `<close>` and the
--- garbage collector finalize it too.
---@return true
function Statement:finalize() end

return ledger
