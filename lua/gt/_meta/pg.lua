---@meta gt.pg

--- A town ledger kept in PostgreSQL (src/lgt_pg.c), with the shape of `gt.ledger` so that
--- `gt.store` runs the same queries on both: `exec`, `rows`, `row`, `prepare` (statements with
--- the API of `gt.Statement`), `changes`, `tx`, `migrate`, `user_version`, `close`, `path`. It
--- has no `last_insert_id` (use `INSERT ... RETURNING id` with `row`).
---
--- libpq is not linked into gt: it is loaded (dlopen, by the soname gt was built against) the
--- first time `pg.open` or `pg.libpq_version` is called; when it cannot be, they return
--- `nil, "cannot load libpq (libpq.so.5): ...", "ENOTSUP"`.
---
--- Errors: operational failures return `nil, message, code`, the message being
--- `"<redacted conninfo>: <the server's message>"` on one line, and the code a stable string from
--- the SQLSTATE: `"ECONSTRAINT"` (class 23), `"ESERIAL"` (40001 serialization failure, 40P01
--- deadlock), `"EBUSY"` (55P03 lock timeout, 57014 statement canceled), `"ESQL"` (classes 42,
--- 22, 0A: bad SQL or values), `"ENOSPC"` (53100), `"EACCES"` (class 28, 42501),
--- `"ENOTFOUND"` (3D000), `"ECONN"` (class 08, 57P0x, or a connection found broken: the message
--- is then "<conninfo>: lost the connection to the ledger server (<libpq message>)"),
--- `"EINVALID"` (a conninfo libpq cannot parse), `"ENEWER"`, else `"EIO"`. A broken connection
--- is not reconnected: every later statement fails with `"ECONN"`. Misuse raises as in
--- `gt.ledger` ("attempt to use a closed ledger", "attempt to use a finalized statement", bad
--- arguments, parameter values).
---
--- Passwords never appear in a message or in `path()`: the conninfo is shown as `pg.redact`
--- gives it, and a password quoted back by libpq is written `***`.
---
--- Parameters, wherever `...` is taken: either values bound in order to `?` and `?NNN` (written
--- `$N` for the server; marks inside '...' strings, "..." identifiers, $$...$$ strings and
--- comments are left alone), or one table whose `t[i]` binds parameter i. Parameters given no
--- value are NULL. Named parameters (`:name`) raise "gt.pg: named parameters are not
--- supported". Values are sent as text and typed by the server: nil is NULL, booleans are 1 and
--- 0, integers `%lld`, floats `%.17g`, strings as they are (a zero byte in one raises).
---
--- Rows are tables keyed by column name: int2/int4/int8 give Lua integers, float4/float8
--- floats, numeric an integer when it is one that fits else a float, bool a boolean, anything
--- else the text of the value; NULL columns are absent.
---
--- ```lua
--- local db <close> = assert(pg.open("postgresql://gt@db.example/town"))
--- assert(db:migrate(schema))
--- local row = assert(db:tx(function(tx)
---   return assert(tx:row("INSERT INTO agents (name) VALUES (?) RETURNING id", name))
--- end))
--- ```
local pg = {}

--- Returns the conninfo (URL or keyword=value form) without its password: `user:pw@` becomes
--- `user@`, and `password=...` is dropped from a URL's query or the keyword form. A keyword form
--- that does not parse is cut at the part that does not (written "...").
---@param conninfo string
---@return string
function pg.redact(conninfo) end

--- Returns the version of the libpq gt loads, such as "15.18" (loading it).
---@return string? version
---@return string? err
---@return string? code "ENOTSUP"
function pg.libpq_version() end

---@class gt.Pg
local Pg = {}

---@class gt.PgStatement
local PgStatement = {}

---@class gt.PgOpenOptions
---@field busy_timeout_ms? integer how long a statement waits for a lock (`lock_timeout`, default 5000; 0 is 1 ms); tx retries serialization failures for twice as long
---@field application_name? string what the server shows of the connection (`pg_stat_activity`; default "gt")

--- Connects with libpq (`PQconnectdbParams`, the conninfo expanded as psql does, so libpq's
--- environment works: PGHOST, PGPASSFILE, PGSSLMODE...). Adds `connect_timeout=10` unless the
--- conninfo or PGCONNECT_TIMEOUT sets one, and `application_name` (opts.application_name, "gt")
--- unless the conninfo or PGAPPNAME does. Then sets `lock_timeout` to busy_timeout_ms and `client_min_messages` to
--- warning, and drops notices. Fails with `"ECONN"` when the server cannot be reached,
--- `"EACCES"` when authentication fails or the role does not exist, `"ENOTFOUND"` when the
--- database does not exist, `"EINVALID"` for a conninfo that does not parse, `"ENOTSUP"` when
--- libpq cannot be loaded. Raises on bad options.
---@param conninfo string a URL (postgresql://...) or keyword=value string, or a database name
---@param opts? gt.PgOpenOptions
---@return gt.Pg? db
---@return string? err
---@return string? code
function pg.open(conninfo, opts) end

--- Runs `sql`. Without parameters and without `?` marks it runs every statement in `sql` (the
--- simple protocol: a migration, a script of DDL); otherwise `sql` must be exactly one statement
--- (the server refuses more, `"ESQL"`). Rows are dropped.
---@param sql string
---@param ... any parameters
---@return true? ok
---@return string? err
---@return string? code
function Pg:exec(sql, ...) end

--- Iterates over the rows of one statement: `for row in db:rows(sql, ...) do ... end`. The
--- statement runs at once and its whole result is kept until the loop ends; the fourth value is
--- to-be-closed, so leaving the loop early frees it at once. A failure raises
--- `"ledger: <conninfo>: <message>"` (the code is remembered for `tx`).
---@param sql string exactly one statement
---@param ... any parameters
---@return fun(state: any): table? iterator
---@return any state
---@return nil control
---@return any closing
function Pg:rows(sql, ...) end

--- Returns the first row of one statement, or nil when there is none.
---@param sql string exactly one statement
---@param ... any parameters
---@return table? row nil both when there is no row and on failure (then err is set)
---@return string? err
---@return string? code
function Pg:row(sql, ...) end

--- Prepares one statement to run many times: `PQprepare` under a name of its own ("gt_s<N>"),
--- its `?` marks written `$N` as for `exec`, the parameter types inferred by the server. Returns
--- `nil, err, code` when the server refuses the SQL (`"ESQL"` for bad SQL or more than one
--- statement). The statement keeps the connection from being collected; it is finalized
--- (`DEALLOCATE`d while the connection is open) by `finalize`, `<close>` or the garbage
--- collector. It is not transactional: one prepared in a transaction that rolls back stays
--- valid. Its API is that of `gt.Statement` (`gt.ledger`).
---@param sql string exactly one statement
---@return gt.PgStatement? stmt
---@return string? err
---@return string? code
function Pg:prepare(sql) end

--- Returns the number of rows the latest INSERT, UPDATE, DELETE or MERGE changed (with
--- several statements in one `exec`, the last one's).
---@return integer
function Pg:changes() end

--- Runs `fn(db, ...)` in a `BEGIN ISOLATION LEVEL SERIALIZABLE` transaction. When `fn` returns,
--- the transaction commits and `tx` returns what `fn` returned (`true` if nothing). When `fn`
--- raises, the transaction rolls back and the very same error value is raised again. A statement
--- that failed and was ignored by `fn` leaves the transaction failed: it rolls back and `tx`
--- returns that failure's `nil, err, code`; so does a failed COMMIT.
--- When the attempt met a serialization failure or a deadlock (40001, 40P01: whether `fn` raised
--- it, ignored it or COMMIT failed with it), the transaction rolls back and `fn` runs again
--- after pauses growing from 1 ms to 50 ms (with jitter), until twice busy_timeout_ms have passed;
--- then `tx` returns `nil, "<message> (gave up after N tries)", "EBUSY"`. `fn` must therefore
--- be safe to run more than once. Raises "ledger: transaction already open" inside a
--- transaction, and "ledger: the transaction ended inside tx" when `fn` ends it itself.
---@param fn fun(db: gt.Pg, ...): ...
---@param ... any passed on to fn
---@return any ... what fn returned, or true
---@return string? err
---@return string? code
function Pg:tx(fn, ...) end

--- Brings the schema up to `#migrations`, as `gt.ledger`'s migrate does. The version is kept in
--- the table `gt_schema (version INTEGER NOT NULL)`. Each migration i > version runs in its own
--- transaction that first takes an advisory lock (`pg_advisory_xact_lock`, so several
--- processes migrate safely), creates gt_schema if needed and reads the version again; then the
--- migration (SQL run as `exec` without parameters, or a function called with the connection),
--- then the new version, then COMMIT. A failing SQL migration returns
--- `nil, "<conninfo>: migration i: <message>", code` and leaves the version of the last good
--- one; a migration function that raises rolls back and its error is raised again. A version
--- above `#migrations` is refused with `"ENEWER"`.
---@param migrations (string|fun(db: gt.Pg))[]
---@return true? ok
---@return string? err
---@return string? code
function Pg:migrate(migrations) end

--- Returns the schema version kept in gt_schema (0 when there is no such table).
---@return integer? version
---@return string? err
---@return string? code
function Pg:user_version() end

--- Returns the server's version, such as "15.18".
---@return string
function Pg:server_version() end

--- Closes the connection (an open transaction rolls back). Its statements then raise
--- "attempt to use a closed ledger" but may still be finalized. `<close>` and the garbage
--- collector close it too. Returns true.
---@return true
function Pg:close() end

--- Returns the conninfo the connection was opened with, redacted (no password).
---@return string
function Pg:path() end

--- Resets the statement, clears its old values and binds new ones (none: all NULL). Returns the
--- statement.
---@param ... any parameters
---@return gt.PgStatement
function PgStatement:bind(...) end

--- The first step after `prepare`, `bind` or `reset` runs the statement (`PQexecPrepared`) and
--- returns its first row; later steps walk the result, kept whole by the statement. Returns the
--- row, `false` when there are no more rows (a further `step` starts over), or `nil, err, code`
--- on failure (then the statement is reset; a serialization failure is remembered for `tx` as
--- one of `exec`).
---@return table|false|nil row
---@return string? err
---@return string? code
function PgStatement:step() end

--- Binds `...` when given (otherwise keeps the values bound), runs the statement, drops its rows
--- and resets it. `changes` counts what it changed.
---@param ... any parameters
---@return true? ok
---@return string? err
---@return string? code
function PgStatement:exec(...) end

--- Iterates over the rows, as `gt.Pg:rows` (the statement runs at once; a failure raises
--- `"ledger: <conninfo>: <message>"`), binding `...` when given. Leaving the loop resets the
--- statement instead of finalizing it.
---@param ... any parameters
---@return fun(state: any): table? iterator
---@return any state
---@return nil control
---@return any closing
function PgStatement:rows(...) end

--- Resets the statement so that the next `step` runs it again, with the same values bound.
--- Returns the statement.
---@return gt.PgStatement
function PgStatement:reset() end

--- Frees the statement, and `DEALLOCATE`s it when the connection is open (a failure of that is
--- ignored: the server drops it with the session); allowed after the connection is closed.
--- Returns true. `<close>` and the garbage collector finalize it too.
---@return true
function PgStatement:finalize() end

return pg
