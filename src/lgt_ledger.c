/*
** lgt_ledger.c: gt.ledger, the town's sqlite3 database: WAL, busy timeouts, scoped transactions
** retried on busy, forward migrations numbered by PRAGMA user_version, prepared statements.
**
**   local db <close>, err, code = ledger.open(path, {busy_timeout_ms = 5000})
**   assert(db:migrate({"CREATE TABLE agents (id TEXT PRIMARY KEY, state TEXT)"}))
**   assert(db:tx(function(db) assert(db:exec("INSERT INTO agents VALUES (?, ?)", id, "idle")) end))
**   for row in db:rows("SELECT id FROM agents WHERE state = :state", {state = "idle"}) do ... end
**
** Mechanism only: the SQL comes from lua/gt/ledger and stays portable. The only SQL this file
** sends itself is the PRAGMAs that set a connection up, user_version, BEGIN IMMEDIATE, COMMIT and
** ROLLBACK. Every sqlite3_stmt lives in a gt.Statement userdata while Lua code can raise, so an
** error never leaks one.
*/
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "gt.h"

#define LEDGER_TYPE    "gt.Ledger"
#define STATEMENT_TYPE "gt.Statement"
#define ROWS_TYPE      "gt.Rows"

typedef struct {
	sqlite3 *db; /* NULL once closed */
	int busy_timeout_ms;
	char path[]; /* for messages */
} Ledger;

typedef struct {
	sqlite3_stmt *stmt; /* NULL once finalized */
	Ledger *lg;         /* kept alive by the statement's user value */
} Statement;

/* The state and to-be-closed value of a rows() loop. */
typedef struct {
	Statement *st; /* kept alive by the user value */
	int owned;     /* db:rows finalizes its own statement; stmt:rows only resets the caller's */
	int done;
} Rows;

static Ledger *toledger(lua_State *L)
{
	return (Ledger *)luaL_checkudata(L, 1, LEDGER_TYPE);
}

static Ledger *toopen(lua_State *L)
{
	Ledger *lg = toledger(L);
	if (lg->db == NULL)
		luaL_error(L, "attempt to use a closed ledger");
	return lg;
}

static Statement *tostatement(lua_State *L)
{
	return (Statement *)luaL_checkudata(L, 1, STATEMENT_TYPE);
}

static Statement *tolive(lua_State *L)
{
	Statement *st = tostatement(L);
	if (st->stmt == NULL)
		luaL_error(L, "attempt to use a finalized statement");
	if (st->lg->db == NULL)
		luaL_error(L, "attempt to use a closed ledger");
	return st;
}

/* sqlite's message for the failure rc of the latest call on the ledger. */
static const char *errmsg(Ledger *lg, int rc)
{
	return sqlite3_extended_errcode(lg->db) == rc ? sqlite3_errmsg(lg->db) : sqlite3_errstr(rc);
}

/* Pushes nil, "<path>: <sqlite's message>", CODE; call it before anything else touches the db. */
static int fail(lua_State *L, Ledger *lg, int rc)
{
	luaL_checkstack(L, 3, NULL);
	return gt_pushfail(L, gt_sqlite_code(rc), "%s: %s", lg->path, errmsg(lg, rc));
}

/* Rolls back the transaction that is open, if any (sqlite ends it itself after some errors).
** Should ROLLBACK fail too, the first error is the one to report, and closing the connection
** rolls back anyway. */
static void rollback(Ledger *lg)
{
	if (!sqlite3_get_autocommit(lg->db))
		(void)sqlite3_exec(lg->db, "ROLLBACK", NULL, NULL, NULL);
}

static int fail_rollback(lua_State *L, Ledger *lg, int rc)
{
	fail(L, lg, rc);
	rollback(lg);
	return 3;
}

static void check_no_tx(lua_State *L, Ledger *lg)
{
	if (!sqlite3_get_autocommit(lg->db))
		luaL_error(L, "ledger: transaction already open");
}

static int release(Ledger *lg)
{
	if (lg->db != NULL) {
		/* close_v2 succeeds while statements are open: the connection lingers until the last
		** one is finalized (or collected). It fails only on a handle that is not one. */
		int rc = sqlite3_close_v2(lg->db);
		if (rc != SQLITE_OK)
			return rc;
		lg->db = NULL;
	}
	return SQLITE_OK;
}

static void finalize(Statement *st)
{
	if (st->stmt != NULL) {
		/* sqlite3_finalize repeats the error of the last step, which was reported when it
		** happened; the statement is freed in every case. */
		(void)sqlite3_finalize(st->stmt);
		st->stmt = NULL;
	}
}

/* sqlite3_reset repeats the error of the last step, which was reported when it happened. */
static void reset(sqlite3_stmt *stmt)
{
	(void)sqlite3_reset(stmt);
}

/* Runs one PRAGMA in C (no Lua call can raise in between); copies the text of its first result
** column, if it has one, into out. */
static int pragma(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
	sqlite3_stmt *stmt;
	int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW && out != NULL) {
		const unsigned char *text = sqlite3_column_text(stmt, 0);
		snprintf(out, outlen, "%s", text ? (const char *)text : "");
	}
	while (rc == SQLITE_ROW)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE) {
		(void)sqlite3_finalize(stmt); /* keeps the step's error for errmsg() */
		return rc;
	}
	return sqlite3_finalize(stmt);
}

static int read_user_version(sqlite3 *db, lua_Integer *version)
{
	char buf[32] = "0";
	int rc = pragma(db, "PRAGMA user_version", buf, sizeof buf);
	*version = (lua_Integer)strtoll(buf, NULL, 10);
	return rc;
}

/* Runs BEGIN IMMEDIATE or COMMIT. When another writer holds the database past the busy timeout,
** tries again after pauses of 10 ms doubling up to 200 ms, until 2 x busy_timeout_ms have passed
** since the first try; no try waits beyond that deadline. */
static int exec_retry(Ledger *lg, const char *sql)
{
	long long deadline = (long long)gt_monotonic_ms() + 2 * (long long)lg->busy_timeout_ms;
	long long pause = 10, left;
	int rc, rc2;
	while ((rc = sqlite3_exec(lg->db, sql, NULL, NULL, NULL)) != SQLITE_OK) {
		if ((rc & 0xff) != SQLITE_BUSY ||
		    (left = deadline - (long long)gt_monotonic_ms()) <= 0 || gt_interrupted)
			break;
		gt_sleep_ms(pause < left ? pause : left);
		pause = pause * 2 < 200 ? pause * 2 : 200;
		left = deadline - (long long)gt_monotonic_ms();
		if (left > lg->busy_timeout_ms)
			left = lg->busy_timeout_ms;
		rc2 = sqlite3_busy_timeout(lg->db, (int)left);
		if (rc2 != SQLITE_OK)
			return rc2;
	}
	rc2 = sqlite3_busy_timeout(lg->db, lg->busy_timeout_ms);
	return rc != SQLITE_OK ? rc : rc2;
}

/* Pushes a new statement of the ledger at index 1, created finalized so that __gc always sees a
** consistent object; prepare_one fills it in. */
static Statement *newstatement(lua_State *L, Ledger *lg)
{
	Statement *st = (Statement *)lua_newuserdatauv(L, sizeof *st, 1);
	st->stmt = NULL;
	st->lg = lg;
	luaL_setmetatable(L, STATEMENT_TYPE);
	lua_pushvalue(L, 1);
	lua_setiuservalue(L, -2, 1); /* the ledger outlives its statements */
	return st;
}

/* Prepares sql, which must be exactly one statement (argument arg), into st. */
static int prepare_one(lua_State *L, Statement *st, const char *sql, size_t len, int arg)
{
	const char *tail, *end = sql + len;
	int rc;
	luaL_argcheck(L, len < INT_MAX, arg, "SQL too long");
	rc = sqlite3_prepare_v2(st->lg->db, sql, (int)len, &st->stmt, &tail);
	if (rc != SQLITE_OK)
		return rc;
	if (st->stmt == NULL)
		luaL_argerror(L, arg, "no SQL statement");
	while (tail < end && (*tail == ' ' || (*tail >= '\t' && *tail <= '\r')))
		tail++;
	if (tail < end)
		luaL_argerror(L, arg, "more than one SQL statement");
	return SQLITE_OK;
}

/* Binds the value at idx to parameter i; intable: the value comes from a table at argument arg,
** so messages name the parameter. */
static void bind_value(lua_State *L, sqlite3_stmt *stmt, int i, int idx, int arg, int intable)
{
	int rc;
	switch (lua_type(L, idx)) {
	case LUA_TNIL: rc = sqlite3_bind_null(stmt, i); break;
	case LUA_TBOOLEAN: rc = sqlite3_bind_int(stmt, i, lua_toboolean(L, idx)); break;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			rc = sqlite3_bind_int64(stmt, i, (sqlite3_int64)lua_tointeger(L, idx));
		else
			rc = sqlite3_bind_double(stmt, i, (double)lua_tonumber(L, idx));
		break;
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(L, idx, &len);
		rc = sqlite3_bind_text64(stmt, i, s, len, SQLITE_TRANSIENT, SQLITE_UTF8);
		break;
	}
	default: {
		const char *type = luaL_typename(L, idx);
		const char *name = sqlite3_bind_parameter_name(stmt, i);
		if (!intable)
			lua_pushfstring(L, "unsupported parameter type: %s", type);
		else if (name != NULL)
			lua_pushfstring(L, "unsupported parameter type: %s for %s", type, name);
		else
			lua_pushfstring(L, "unsupported parameter type: %s for ?%d", type, i);
		luaL_argerror(L, arg, lua_tostring(L, -1));
		return;
	}
	}
	if (rc != SQLITE_OK)
		luaL_argerror(L, arg, sqlite3_errstr(rc));
}

/*
** Binds the arguments first..last: positional values to ?/?NNN in order, or one table whose t[i]
** binds parameter i and whose t.name binds :name, @name or $name. Parameters given no value are
** NULL, as in SQL. Raises on misuse.
*/
static void bind_params(lua_State *L, sqlite3_stmt *stmt, int first, int last)
{
	int count = sqlite3_bind_parameter_count(stmt);
	int i;
	if (last == first && lua_type(L, first) == LUA_TTABLE) {
		for (i = 1; i <= count; i++) {
			const char *name = sqlite3_bind_parameter_name(stmt, i);
			if (name == NULL || name[0] == '?')
				lua_geti(L, first, i);
			else
				lua_getfield(L, first, name + 1);
			bind_value(L, stmt, i, lua_gettop(L), first, 1);
			lua_pop(L, 1);
		}
		return;
	}
	if (last - first + 1 > count)
		luaL_argerror(
		    L, first + count,
		    lua_pushfstring(L, "more values than the statement's %d parameters", count));
	for (i = first; i <= last; i++)
		bind_value(L, stmt, i - first + 1, i, i, 0);
}

/* Resets the statement and binds new values, or keeps the old ones when there are none. */
static void rebind(lua_State *L, Statement *st, int first, int last)
{
	reset(st->stmt);
	if (last >= first) {
		(void)sqlite3_clear_bindings(st->stmt); /* always SQLITE_OK */
		bind_params(L, st->stmt, first, last);
	}
}

/* Pushes the current row as a table keyed by column name; NULL columns stay absent. */
static void push_row(lua_State *L, sqlite3_stmt *stmt)
{
	int n = sqlite3_column_count(stmt);
	int i;
	lua_createtable(L, 0, n);
	for (i = 0; i < n; i++) {
		const char *name;
		switch (sqlite3_column_type(stmt, i)) {
		case SQLITE_INTEGER:
			lua_pushinteger(L, (lua_Integer)sqlite3_column_int64(stmt, i));
			break;
		case SQLITE_FLOAT:
			lua_pushnumber(L, (lua_Number)sqlite3_column_double(stmt, i));
			break;
		case SQLITE_TEXT:
		case SQLITE_BLOB: {
			const void *p = sqlite3_column_blob(stmt, i);
			int len = sqlite3_column_bytes(stmt, i);
			if (p == NULL && sqlite3_errcode(sqlite3_db_handle(stmt)) == SQLITE_NOMEM)
				luaL_error(L, "ledger: out of memory");
			lua_pushlstring(L, p ? (const char *)p : "", p ? (size_t)len : 0);
			break;
		}
		default: continue;
		}
		name = sqlite3_column_name(stmt, i);
		if (name == NULL)
			luaL_error(L, "ledger: out of memory");
		lua_setfield(L, -2, name);
	}
}

static int step_all(sqlite3_stmt *stmt)
{
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		;
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void end_rows(Rows *r)
{
	r->done = 1;
	if (r->owned)
		finalize(r->st);
	else if (r->st->stmt != NULL)
		reset(r->st->stmt);
}

/* The iterator of rows(): a row table, nil at the end; raises "ledger: <message>" on failure. */
static int rows_iter(lua_State *L)
{
	Rows *r = (Rows *)luaL_checkudata(L, 1, ROWS_TYPE);
	Statement *st = r->st;
	int rc;
	if (r->done) {
		lua_pushnil(L);
		return 1;
	}
	if (st->stmt == NULL)
		luaL_error(L, "attempt to use a finalized statement");
	if (st->lg->db == NULL)
		luaL_error(L, "attempt to use a closed ledger");
	rc = sqlite3_step(st->stmt);
	if (rc == SQLITE_ROW) {
		push_row(L, st->stmt);
		return 1;
	}
	if (rc == SQLITE_DONE) {
		end_rows(r);
		lua_pushnil(L);
		return 1;
	}
	luaL_where(L, 1); /* as luaL_error, but the statement ends before the error is raised */
	lua_pushfstring(L, "ledger: %s", errmsg(st->lg, rc));
	lua_concat(L, 2);
	end_rows(r);
	return lua_error(L);
}

static int rows_close(lua_State *L)
{
	Rows *r = (Rows *)luaL_checkudata(L, 1, ROWS_TYPE);
	if (!r->done)
		end_rows(r);
	return 0;
}

/* Returns the generic-for values for the statement at index st_index: iterator, state, nil, and
** the state again as the to-be-closed value, so that break, return or an error ends it at once. */
static int push_rows(lua_State *L, int st_index, int owned)
{
	Rows *r = (Rows *)lua_newuserdatauv(L, sizeof *r, 1);
	r->st = (Statement *)lua_touserdata(L, st_index);
	r->owned = owned;
	r->done = 0;
	luaL_setmetatable(L, ROWS_TYPE);
	lua_pushvalue(L, st_index);
	lua_setiuservalue(L, -2, 1);
	lua_pushcfunction(L, rows_iter);
	lua_pushvalue(L, -2);
	lua_pushnil(L);
	lua_pushvalue(L, -4);
	return 4;
}

/* Sets up a connection just opened; returns -1 when the database cannot use WAL (mode says
** what it uses instead). */
static int configure(Ledger *lg, const char *synchronous, int readonly, char *mode, size_t modelen)
{
	int rc = sqlite3_extended_result_codes(lg->db, 1);
	if (rc == SQLITE_OK)
		rc = sqlite3_busy_timeout(lg->db, lg->busy_timeout_ms);
	/* Short-lived processes: the last one to close would otherwise checkpoint and fsync. */
	if (rc == SQLITE_OK)
		rc = sqlite3_db_config(lg->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
	/* A read-only connection cannot change the journal mode; it reads a WAL database as is. */
	if (rc == SQLITE_OK && !readonly) {
		rc = pragma(lg->db, "PRAGMA journal_mode=WAL", mode, modelen);
		if (rc == SQLITE_OK && strcmp(mode, "wal") != 0)
			return -1;
	}
	if (rc == SQLITE_OK)
		rc = pragma(lg->db,
			    strcmp(synchronous, "NORMAL") == 0 ? "PRAGMA synchronous=NORMAL"
							       : "PRAGMA synchronous=FULL",
			    NULL, 0);
	if (rc == SQLITE_OK)
		rc = pragma(lg->db, "PRAGMA foreign_keys=ON", NULL, 0);
	return rc;
}

/* ledger.open(path [, {busy_timeout_ms = 5000, synchronous = "FULL", readonly = false,
** create = true}]) -> gt.Ledger | nil, err, code */
static int ledger_open(lua_State *L)
{
	size_t len;
	const char *path = luaL_checklstring(L, 1, &len);
	lua_Integer timeout = gt_optfield_integer(L, 2, "busy_timeout_ms", 5000);
	const char *synchronous = gt_optfield_string(L, 2, "synchronous", "FULL");
	int readonly = gt_optfield_boolean(L, 2, "readonly", 0);
	int create = gt_optfield_boolean(L, 2, "create", 1);
	char mode[32] = "";
	Ledger *lg;
	int rc;
	luaL_argcheck(L, timeout >= 0, 2, "busy_timeout_ms must be >= 0");
	luaL_argcheck(L, timeout <= INT_MAX / 2, 2, "busy_timeout_ms too large");
	luaL_argcheck(L, strcmp(synchronous, "FULL") == 0 || strcmp(synchronous, "NORMAL") == 0, 2,
		      "synchronous must be \"FULL\" or \"NORMAL\"");
	lg = (Ledger *)lua_newuserdatauv(L, sizeof *lg + len + 1, 0);
	lg->db = NULL; /* closed first, so __gc always sees a consistent object */
	lg->busy_timeout_ms = (int)timeout;
	memcpy(lg->path, path, len + 1);
	luaL_setmetatable(L, LEDGER_TYPE);
	rc = sqlite3_open_v2(path, &lg->db,
			     readonly ? SQLITE_OPEN_READONLY
				      : SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0),
			     NULL);
	if (rc == SQLITE_OK)
		rc = configure(lg, synchronous, readonly, mode, sizeof mode);
	if (rc == SQLITE_OK)
		return 1;
	if (rc == -1)
		gt_pushfail(L, "EIO", "%s: cannot use WAL (journal_mode is %s)", path, mode);
	else if (lg->db == NULL) /* sqlite could not even allocate the handle */
		gt_pushfail(L, gt_sqlite_code(rc), "%s: %s", path, sqlite3_errstr(rc));
	else
		fail(L, lg, rc);
	(void)release(lg); /* fails only on a handle that is not one */
	return 3;
}

/* ledger.sqlite_version() -> string: the version of the sqlite library in use, "3.40.1". */
static int ledger_sqlite_version(lua_State *L)
{
	lua_pushstring(L, sqlite3_libversion());
	return 1;
}

/* db:exec(sql [, params...]) -> true | nil, err, code */
static int l_exec(lua_State *L)
{
	Ledger *lg = toopen(L);
	size_t len;
	const char *sql = luaL_checklstring(L, 2, &len);
	int top = lua_gettop(L);
	Statement *st;
	int rc;
	if (top == 2) { /* no parameters: every statement in sql (migrations, DDL) */
		rc = sqlite3_exec(lg->db, sql, NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			return fail(L, lg, rc);
		lua_pushboolean(L, 1);
		return 1;
	}
	st = newstatement(L, lg);
	rc = prepare_one(L, st, sql, len, 2);
	if (rc == SQLITE_OK) {
		bind_params(L, st->stmt, 3, top);
		rc = step_all(st->stmt);
	}
	if (rc != SQLITE_OK)
		fail(L, lg, rc);
	finalize(st);
	if (rc != SQLITE_OK)
		return 3;
	lua_pushboolean(L, 1);
	return 1;
}

/* db:rows(sql [, params...]) -> iterator for a generic for; raises "ledger: <message>". */
static int l_rows(lua_State *L)
{
	Ledger *lg = toopen(L);
	size_t len;
	const char *sql = luaL_checklstring(L, 2, &len);
	int top = lua_gettop(L);
	Statement *st = newstatement(L, lg);
	int rc = prepare_one(L, st, sql, len, 2);
	if (rc != SQLITE_OK)
		return luaL_error(L, "ledger: %s", errmsg(lg, rc));
	bind_params(L, st->stmt, 3, top);
	return push_rows(L, top + 1, 1);
}

/* db:row(sql [, params...]) -> first row | nil when there is none | nil, err, code */
static int l_row(lua_State *L)
{
	Ledger *lg = toopen(L);
	size_t len;
	const char *sql = luaL_checklstring(L, 2, &len);
	int top = lua_gettop(L);
	Statement *st = newstatement(L, lg);
	int rc = prepare_one(L, st, sql, len, 2);
	if (rc == SQLITE_OK) {
		bind_params(L, st->stmt, 3, top);
		rc = sqlite3_step(st->stmt);
	}
	if (rc == SQLITE_ROW) {
		push_row(L, st->stmt);
	} else if (rc == SQLITE_DONE) {
		luaL_pushfail(L);
	} else {
		fail(L, lg, rc);
		finalize(st);
		return 3;
	}
	finalize(st);
	return 1;
}

/* db:prepare(sql) -> gt.Statement | nil, err, code */
static int l_prepare(lua_State *L)
{
	Ledger *lg = toopen(L);
	size_t len;
	const char *sql = luaL_checklstring(L, 2, &len);
	Statement *st;
	int rc;
	lua_settop(L, 2);
	st = newstatement(L, lg);
	rc = prepare_one(L, st, sql, len, 2);
	if (rc != SQLITE_OK)
		return fail(L, lg, rc);
	return 1;
}

/* db:changes() -> integer: rows changed by the latest INSERT, UPDATE or DELETE. */
static int l_changes(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)sqlite3_changes64(toopen(L)->db));
	return 1;
}

/* db:last_insert_id() -> integer: the rowid of the latest INSERT. */
static int l_last_insert_id(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)sqlite3_last_insert_rowid(toopen(L)->db));
	return 1;
}

/*
** db:tx(fn, ...) -> what fn returns (true if nothing) | nil, err, code
** BEGIN IMMEDIATE (retried on busy), fn(db, ...), COMMIT (retried on busy). An error raised by fn
** rolls back and is raised again, the very same value.
*/
static int l_tx(lua_State *L)
{
	Ledger *lg = toopen(L);
	int top = lua_gettop(L);
	int i, nres, rc;
	luaL_checktype(L, 2, LUA_TFUNCTION);
	check_no_tx(L, lg);
	luaL_checkstack(L, top, "too many arguments");
	rc = exec_retry(lg, "BEGIN IMMEDIATE");
	if (rc != SQLITE_OK)
		return fail(L, lg, rc);
	lua_pushvalue(L, 2);
	lua_pushvalue(L, 1);
	for (i = 3; i <= top; i++)
		lua_pushvalue(L, i);
	if (lua_pcall(L, top - 1, LUA_MULTRET, 0) != LUA_OK) {
		if (lg->db != NULL)
			rollback(lg);
		return lua_error(L);
	}
	if (lg->db == NULL)
		return luaL_error(L, "attempt to use a closed ledger");
	/* fn ran COMMIT or ROLLBACK, or ignored a failure after which sqlite rolled back. */
	if (sqlite3_get_autocommit(lg->db))
		return luaL_error(L, "ledger: the transaction ended inside tx");
	nres = lua_gettop(L) - top;
	rc = exec_retry(lg, "COMMIT");
	if (rc != SQLITE_OK)
		return fail_rollback(L, lg, rc);
	if (nres > 0)
		return nres;
	lua_pushboolean(L, 1);
	return 1;
}

/* db:user_version() -> integer | nil, err, code */
static int l_user_version(lua_State *L)
{
	Ledger *lg = toopen(L);
	lua_Integer version;
	int rc = read_user_version(lg->db, &version);
	if (rc != SQLITE_OK)
		return fail(L, lg, rc);
	lua_pushinteger(L, version);
	return 1;
}

static int newer(lua_State *L, Ledger *lg, lua_Integer version, lua_Integer known)
{
	return gt_pushfail(L, "ENEWER", "%s: schema version %I is newer than this gt knows (%I)",
			   lg->path, version, known);
}

/* Runs migration i (at the top of the stack, popped) inside the open transaction. */
static int run_migration(lua_State *L, Ledger *lg, lua_Integer i)
{
	int rc = SQLITE_OK;
	if (lua_type(L, -1) == LUA_TSTRING) {
		rc = sqlite3_exec(lg->db, lua_tostring(L, -1), NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			gt_pushfail(L, gt_sqlite_code(rc), "%s: migration %I: %s", lg->path, i,
				    errmsg(lg, rc));
			rollback(lg);
			return 3;
		}
		lua_pop(L, 1);
	} else {
		lua_pushvalue(L, 1);
		if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
			if (lg->db != NULL)
				rollback(lg);
			return lua_error(L);
		}
		if (lg->db == NULL)
			return luaL_error(L, "attempt to use a closed ledger");
	}
	if (sqlite3_get_autocommit(lg->db))
		return luaL_error(L, "ledger: migration %I ended its transaction", i);
	return 0;
}

/*
** db:migrate(migrations) -> true | nil, err, code
** Applies migrations[user_version + 1 ..], each in its own BEGIN IMMEDIATE transaction together
** with PRAGMA user_version = i. Another process may migrate at the same time: the version is read
** again inside each transaction.
*/
static int l_migrate(lua_State *L)
{
	Ledger *lg = toopen(L);
	lua_Integer n, i, version;
	char sql[64];
	int rc;
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);
	n = luaL_len(L, 2);
	for (i = 1; i <= n; i++) {
		int t = lua_geti(L, 2, i);
		if (t != LUA_TSTRING && t != LUA_TFUNCTION)
			luaL_argerror(
			    L, 2,
			    lua_pushfstring(L, "migration %I is a %s, expected string or function",
					    i, lua_typename(L, t)));
		lua_pop(L, 1);
	}
	check_no_tx(L, lg);
	rc = read_user_version(lg->db, &version);
	if (rc != SQLITE_OK)
		return fail(L, lg, rc);
	while (version < n) {
		rc = exec_retry(lg, "BEGIN IMMEDIATE");
		if (rc != SQLITE_OK)
			return fail(L, lg, rc);
		rc = read_user_version(lg->db, &version);
		if (rc != SQLITE_OK)
			return fail_rollback(L, lg, rc);
		if (version >= n) { /* another process got there first */
			rollback(lg);
			break;
		}
		i = version + 1;
		lua_geti(L, 2, i);
		if (run_migration(L, lg, i) != 0)
			return 3;
		snprintf(sql, sizeof sql, "PRAGMA user_version = %lld", (long long)i);
		rc = sqlite3_exec(lg->db, sql, NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			rc = exec_retry(lg, "COMMIT");
		if (rc != SQLITE_OK)
			return fail_rollback(L, lg, rc);
		version = i;
	}
	if (version > n)
		return newer(L, lg, version, n);
	lua_pushboolean(L, 1);
	return 1;
}

static int l_close(lua_State *L)
{
	Ledger *lg = toopen(L);
	int rc = release(lg);
	if (rc != SQLITE_OK)
		return gt_pushfail(L, gt_sqlite_code(rc), "%s: %s", lg->path, sqlite3_errstr(rc));
	lua_pushboolean(L, 1);
	return 1;
}

static int l_path(lua_State *L)
{
	lua_pushstring(L, toopen(L)->path);
	return 1;
}

static int l_gc(lua_State *L)
{
	(void)release(toledger(L)); /* fails only on a handle that is not one */
	return 0;
}

static int l_tostring(lua_State *L)
{
	Ledger *lg = toledger(L);
	if (lg->db == NULL)
		lua_pushliteral(L, "gt.Ledger (closed)");
	else
		lua_pushfstring(L, "gt.Ledger (%s)", lg->path);
	return 1;
}

/* stmt:bind(params...) -> stmt: resets, clears the old values, binds the new ones. */
static int st_bind(lua_State *L)
{
	Statement *st = tolive(L);
	reset(st->stmt);
	(void)sqlite3_clear_bindings(st->stmt); /* always SQLITE_OK */
	bind_params(L, st->stmt, 2, lua_gettop(L));
	lua_settop(L, 1);
	return 1;
}

/* stmt:step() -> row | false when done | nil, err, code */
static int st_step(lua_State *L)
{
	Statement *st = tolive(L);
	int rc = sqlite3_step(st->stmt);
	if (rc == SQLITE_ROW) {
		push_row(L, st->stmt);
		return 1;
	}
	if (rc == SQLITE_DONE) {
		lua_pushboolean(L, 0);
		return 1;
	}
	fail(L, st->lg, rc);
	reset(st->stmt);
	return 3;
}

/* stmt:exec([params...]) -> true | nil, err, code: binds (if given), runs to the end, resets. */
static int st_exec(lua_State *L)
{
	Statement *st = tolive(L);
	int rc;
	rebind(L, st, 2, lua_gettop(L));
	rc = step_all(st->stmt);
	if (rc != SQLITE_OK) {
		fail(L, st->lg, rc);
		reset(st->stmt);
		return 3;
	}
	reset(st->stmt);
	lua_pushboolean(L, 1);
	return 1;
}

/* stmt:rows([params...]) -> iterator, as db:rows; resets the statement at the end. */
static int st_rows(lua_State *L)
{
	Statement *st = tolive(L);
	rebind(L, st, 2, lua_gettop(L));
	return push_rows(L, 1, 0);
}

/* stmt:reset() -> stmt: ready to run again, with the same values bound. */
static int st_reset(lua_State *L)
{
	reset(tolive(L)->stmt);
	lua_settop(L, 1);
	return 1;
}

/* stmt:finalize() -> true; allowed after the ledger is closed. */
static int st_finalize(lua_State *L)
{
	Statement *st = tostatement(L);
	if (st->stmt == NULL)
		return luaL_error(L, "attempt to use a finalized statement");
	finalize(st);
	lua_pushboolean(L, 1);
	return 1;
}

static int st_gc(lua_State *L)
{
	finalize(tostatement(L));
	return 0;
}

static int st_tostring(lua_State *L)
{
	Statement *st = tostatement(L);
	if (st->stmt == NULL)
		lua_pushliteral(L, "gt.Statement (finalized)");
	else
		lua_pushfstring(L, "gt.Statement (%s)", sqlite3_sql(st->stmt));
	return 1;
}

static const luaL_Reg funcs[] = {
    {"open", ledger_open},
    {"sqlite_version", ledger_sqlite_version},
    {NULL, NULL},
};

static const luaL_Reg methods[] = {
    {"exec", l_exec},       {"rows", l_rows},       {"row", l_row},
    {"prepare", l_prepare}, {"changes", l_changes}, {"last_insert_id", l_last_insert_id},
    {"tx", l_tx},           {"migrate", l_migrate}, {"user_version", l_user_version},
    {"close", l_close},     {"path", l_path},       {NULL, NULL},
};

static const luaL_Reg metamethods[] = {
    {"__index", NULL}, /* placeholder */
    {"__gc", l_gc},    {"__close", l_gc}, {"__tostring", l_tostring}, {NULL, NULL},
};

static const luaL_Reg statement_methods[] = {
    {"bind", st_bind},   {"step", st_step},         {"exec", st_exec}, {"rows", st_rows},
    {"reset", st_reset}, {"finalize", st_finalize}, {NULL, NULL},
};

static const luaL_Reg statement_metamethods[] = {
    {"__index", NULL}, /* placeholder */
    {"__gc", st_gc},   {"__close", st_gc}, {"__tostring", st_tostring}, {NULL, NULL},
};

static const luaL_Reg rows_metamethods[] = {
    {"__close", rows_close},
    {NULL, NULL},
};

int luaopen_gt_ledger(lua_State *L)
{
	luaL_newlib(L, funcs);
	gt_createmeta(L, LEDGER_TYPE, metamethods, methods);
	gt_createmeta(L, STATEMENT_TYPE, statement_metamethods, statement_methods);
	gt_createmeta(L, ROWS_TYPE, rows_metamethods, NULL);
	return 1;
}
