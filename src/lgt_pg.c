/*
** lgt_pg.c: gt.pg, a town ledger kept in PostgreSQL: the same shape as gt.ledger (exec, rows,
** row, changes, tx, migrate, user_version, close) so that gt.store runs its queries on both.
**
**   local db <close>, err, code = pg.open("postgresql://gt@db.example/gt", {busy_timeout_ms = 5000})
**   assert(db:migrate({"CREATE TABLE agents (id TEXT PRIMARY KEY, state TEXT)"}))
**   assert(db:tx(function(db) assert(db:exec("INSERT INTO agents VALUES (?, ?)", id, "idle")) end))
**   for row in db:rows("SELECT id FROM agents WHERE state = ?", "idle") do ... end
**
** libpq is not linked: it pulls in libssl, GSSAPI, LDAP..., which would slow down every gt start.
** It is dlopen()ed by the soname gt was built against (GT_LIBPQ_SONAME, found at configure time)
** the first time pg.open or pg.libpq_version is called; its functions are called through `pq`.
**
** Transactions are SERIALIZABLE; one that fails with a serialization failure or a deadlock
** (SQLSTATE 40001, 40P01) is run again with growing pauses. Passwords never reach a message:
** every message names the connection by its redacted conninfo (pg.redact).
*/
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "gt.h"

#ifndef GT_LIBPQ_SONAME
#define GT_LIBPQ_SONAME "libpq.so.5"
#endif

#define PG_TYPE   "gt.Pg"
#define RES_TYPE  "gt.PgResult"
#define STMT_TYPE "gt.PgStatement"
#define ROWS_TYPE "gt.PgRows"
#define MAX_PARAM 65535 /* the protocol's limit */
/* pg_advisory_xact_lock key of migrate: "gtschema" */
#define MIGRATE_LOCK "7455587393127165281"

/* ---- libpq, loaded at first use ------------------------------------------------------------ */

#define PQ_FUNCTIONS(X)                                                                            \
	X(PQconnectdbParams)                                                                       \
	X(PQconninfoParse)                                                                         \
	X(PQconninfoFree)                                                                          \
	X(PQfreemem)                                                                               \
	X(PQstatus)                                                                                \
	X(PQerrorMessage)                                                                          \
	X(PQfinish)                                                                                \
	X(PQsetNoticeProcessor)                                                                    \
	X(PQserverVersion)                                                                         \
	X(PQlibVersion)                                                                            \
	X(PQtransactionStatus)                                                                     \
	X(PQexec)                                                                                  \
	X(PQexecParams)                                                                            \
	X(PQprepare)                                                                               \
	X(PQexecPrepared)                                                                          \
	X(PQresultStatus)                                                                          \
	X(PQresultErrorField)                                                                      \
	X(PQresultErrorMessage)                                                                    \
	X(PQclear)                                                                                 \
	X(PQntuples)                                                                               \
	X(PQnfields)                                                                               \
	X(PQfname)                                                                                 \
	X(PQftype)                                                                                 \
	X(PQgetisnull)                                                                             \
	X(PQgetvalue)                                                                              \
	X(PQgetlength)                                                                             \
	X(PQcmdStatus)                                                                             \
	X(PQcmdTuples)

static struct {
#define PQ_POINTER(f) __typeof__(f) *f;
	PQ_FUNCTIONS(PQ_POINTER)
#undef PQ_POINTER
} pq;

static void *pq_handle;

/* Loads libpq once; 0, or -1 with nil, message, "ENOTSUP" pushed. */
static int load_libpq(lua_State *L)
{
	void *h;
	if (pq_handle != NULL)
		return 0;
	h = dlopen(GT_LIBPQ_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		gt_pushfail(L, "ENOTSUP", "cannot load libpq (%s): %s", GT_LIBPQ_SONAME, dlerror());
		return -1;
	}
#define PQ_LOAD(f)                                                                                 \
	if ((*(void **)&pq.f = dlsym(h, #f)) == NULL) {                                            \
		dlclose(h);                                                                        \
		gt_pushfail(L, "ENOTSUP", "cannot load libpq (%s): it has no %s", GT_LIBPQ_SONAME, \
			    #f);                                                                   \
		return -1;                                                                         \
	}
	PQ_FUNCTIONS(PQ_LOAD)
#undef PQ_LOAD
	pq_handle = h; /* kept for the life of the process, like a linked library */
	return 0;
}

/* ---- conninfo redaction -------------------------------------------------------------------- */

/* Secrets found while redacting (spans of the conninfo), to scrub from libpq's messages. */
typedef struct {
	const char *p[8];
	size_t len[8];
	int n;
} Secrets;

static void add_secret(Secrets *s, const char *p, size_t len)
{
	if (s != NULL && s->n < 8 && len > 0) {
		s->p[s->n] = p;
		s->len[s->n] = len;
		s->n++;
	}
}

static int is_uri(const char *s)
{
	return strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0;
}

static int hexval(int c)
{
	return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

/* Whether the URL query key [k, k+len) percent-decodes to "password". */
static int is_password_key(const char *k, size_t len)
{
	const char *want = "password";
	size_t i = 0, j = 0;
	for (; i < len; j++) {
		int c = (unsigned char)k[i];
		if (c == '%' && i + 2 < len && hexval((unsigned char)k[i + 1]) >= 0 &&
		    hexval((unsigned char)k[i + 2]) >= 0) {
			c = hexval((unsigned char)k[i + 1]) * 16 + hexval((unsigned char)k[i + 2]);
			i += 3;
		} else {
			i++;
		}
		if (want[j] == '\0' || want[j] != c)
			return 0;
	}
	return want[j] == '\0';
}

static void redact_uri(luaL_Buffer *b, const char *s, Secrets *secrets)
{
	const char *p = strstr(s, "://") + 3;
	const char *auth_end = p + strcspn(p, "/?#");
	const char *at = NULL, *q, *colon;
	for (q = p; q < auth_end; q++)
		if (*q == '@')
			at = q;
	luaL_addlstring(b, s, (size_t)(p - s));
	if (at != NULL) {
		colon = memchr(p, ':', (size_t)(at - p));
		if (colon != NULL) {
			add_secret(secrets, colon + 1, (size_t)(at - colon - 1));
			luaL_addlstring(b, p, (size_t)(colon - p));
			luaL_addlstring(b, at, (size_t)(auth_end - at));
		} else {
			luaL_addlstring(b, p, (size_t)(auth_end - p));
		}
	} else {
		luaL_addlstring(b, p, (size_t)(auth_end - p));
	}
	p = auth_end;
	q = strchr(p, '?');
	if (q == NULL) {
		luaL_addstring(b, p);
		return;
	}
	luaL_addlstring(b, p, (size_t)(q - p)); /* the path */
	{
		const char *item = q + 1;
		int first = 1;
		for (;;) {
			size_t len = strcspn(item, "&#");
			const char *eq = memchr(item, '=', len);
			size_t klen = eq ? (size_t)(eq - item) : len;
			if (is_password_key(item, klen)) {
				if (eq != NULL)
					add_secret(secrets, eq + 1, len - klen - 1);
			} else if (len > 0) {
				luaL_addchar(b, first ? '?' : '&');
				luaL_addlstring(b, item, len);
				first = 0;
			}
			item += len;
			if (*item != '&')
				break;
			item++;
		}
		luaL_addstring(b, item); /* a fragment, if any */
	}
}

/* The keyword=value form: the pairs but password, separated by one space. A part that does not
** parse is replaced by "...", so that nothing after a syntax error can leak. */
static void redact_keywords(luaL_Buffer *b, const char *s, Secrets *secrets)
{
	const char *p = s;
	int first = 1;
	for (;;) {
		const char *start, *key, *val;
		size_t klen;
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			return;
		start = key = p;
		while (*p != '\0' && *p != '=' && !isspace((unsigned char)*p))
			p++;
		klen = (size_t)(p - key);
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '=' || klen == 0) {
			if (!first)
				luaL_addchar(b, ' ');
			luaL_addstring(b, "...");
			return;
		}
		p++;
		while (isspace((unsigned char)*p))
			p++;
		val = p;
		if (*p == '\'') {
			p++;
			while (*p != '\0' && *p != '\'') {
				if (*p == '\\' && p[1] != '\0')
					p++;
				p++;
			}
			if (*p != '\'') {
				if (!first)
					luaL_addchar(b, ' ');
				luaL_addstring(b, "...");
				return;
			}
			p++;
		} else {
			while (*p != '\0' && !isspace((unsigned char)*p)) {
				if (*p == '\\' && p[1] != '\0')
					p++;
				p++;
			}
		}
		if (klen == 8 && memcmp(key, "password", 8) == 0) {
			if (*val == '\'' && p - val >= 2)
				add_secret(secrets, val + 1, (size_t)(p - val - 2));
			else
				add_secret(secrets, val, (size_t)(p - val));
			continue;
		}
		if (!first)
			luaL_addchar(b, ' ');
		luaL_addlstring(b, start, (size_t)(p - start));
		first = 0;
	}
}

/* Pushes conninfo without its password. */
static const char *push_redacted(lua_State *L, const char *conninfo, Secrets *secrets)
{
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	if (is_uri(conninfo))
		redact_uri(&b, conninfo, secrets);
	else if (strchr(conninfo, '=') != NULL)
		redact_keywords(&b, conninfo, secrets);
	else
		luaL_addstring(&b, conninfo); /* a database name */
	luaL_pushresult(&b);
	return lua_tostring(L, -1);
}

/* Pushes libpq's message on one line (whitespace runs collapsed), without any secret. */
static const char *push_oneline(lua_State *L, const char *msg, const Secrets *secrets)
{
	luaL_Buffer b;
	const char *p = msg != NULL ? msg : "";
	int space = 0;
	while (isspace((unsigned char)*p))
		p++;
	luaL_buffinit(L, &b);
	while (*p != '\0') {
		int i, hit = 0;
		for (i = 0; secrets != NULL && i < secrets->n; i++)
			if (strncmp(p, secrets->p[i], secrets->len[i]) == 0) {
				hit = 1;
				p += secrets->len[i];
				break;
			}
		if (hit) {
			if (space)
				luaL_addchar(&b, ' ');
			space = 0;
			luaL_addstring(&b, "***");
			continue;
		}
		if (isspace((unsigned char)*p)) {
			space = 1;
		} else {
			if (space)
				luaL_addchar(&b, ' ');
			space = 0;
			luaL_addchar(&b, *p);
		}
		p++;
	}
	luaL_pushresult(&b);
	return lua_tostring(L, -1);
}

/* pg.redact(conninfo) -> string */
static int pg_redact(lua_State *L)
{
	push_redacted(L, luaL_checkstring(L, 1), NULL);
	return 1;
}

/* ---- the connection ------------------------------------------------------------------------ */

typedef struct {
	PGconn *conn; /* NULL once closed */
	int busy_timeout_ms;
	int serial;            /* a serialization failure or deadlock since the flag was reset */
	const char *last_code; /* of the latest failure; its message is user value 1 */
	long long changes;     /* rows changed by the latest INSERT, UPDATE, DELETE or MERGE */
	char path[];           /* the redacted conninfo, for messages */
} Pg;

/* A result, owned by a userdata so that an error never leaks it; also the state of rows(). */
typedef struct {
	PGresult *res; /* NULL once cleared */
	int next;      /* the row rows() returns next */
} Res;

static Pg *topg(lua_State *L)
{
	return (Pg *)luaL_checkudata(L, 1, PG_TYPE);
}

static Pg *toopen(lua_State *L)
{
	Pg *pg = topg(L);
	if (pg->conn == NULL)
		luaL_error(L, "attempt to use a closed ledger");
	return pg;
}

static Res *newres(lua_State *L)
{
	Res *r = (Res *)lua_newuserdatauv(L, sizeof *r, 0);
	r->res = NULL;
	r->next = 0;
	luaL_setmetatable(L, RES_TYPE);
	return r;
}

static void clear(Res *r)
{
	if (r->res != NULL) {
		pq.PQclear(r->res);
		r->res = NULL;
	}
}

static int res_gc(lua_State *L)
{
	clear((Res *)luaL_checkudata(L, 1, RES_TYPE));
	return 0;
}

static int ok(PGresult *res)
{
	ExecStatusType s = res != NULL ? pq.PQresultStatus(res) : PGRES_FATAL_ERROR;
	return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK || s == PGRES_EMPTY_QUERY;
}

static const char *sqlstate_code(const char *state)
{
	if (state == NULL || strlen(state) != 5)
		return "EIO";
	if (strncmp(state, "23", 2) == 0)
		return "ECONSTRAINT";
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
		return "ESERIAL";
	if (strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0)
		return "EBUSY";
	if (strcmp(state, "53100") == 0)
		return "ENOSPC";
	if (strncmp(state, "28", 2) == 0 || strcmp(state, "42501") == 0)
		return "EACCES";
	if (strcmp(state, "3D000") == 0)
		return "ENOTFOUND";
	if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P0", 4) == 0)
		return "ECONN";
	if (strncmp(state, "42", 2) == 0 || strncmp(state, "22", 2) == 0 ||
	    strncmp(state, "0A", 2) == 0)
		return "ESQL";
	return "EIO";
}

/* Pushes the message of the failed result res (may be NULL) of the connection at index pg_index
** (absolute), "<redacted conninfo>: <message>", and returns its code. Remembers the failure in the
** connection (not a "current transaction is aborted", which only repeats an earlier one). */
static const char *push_failure_at(lua_State *L, Pg *pg, PGresult *res, int pg_index)
{
	const char *state = res != NULL ? pq.PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *code;
	luaL_checkstack(L, 6, NULL);
	if (pq.PQstatus(pg->conn) == CONNECTION_BAD) {
		code = "ECONN";
		push_oneline(L, pq.PQerrorMessage(pg->conn), NULL);
		lua_pushfstring(L, "%s: lost the connection to the ledger server (%s)", pg->path,
				lua_tostring(L, -1));
		lua_remove(L, -2);
	} else {
		const char *primary =
		    res != NULL ? pq.PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
		if (primary == NULL)
			primary = res != NULL ? pq.PQresultErrorMessage(res) : "";
		if (primary == NULL || *primary == '\0')
			primary = pq.PQerrorMessage(pg->conn);
		code = sqlstate_code(state);
		push_oneline(L, primary, NULL);
		lua_pushfstring(L, "%s: %s", pg->path, lua_tostring(L, -1));
		lua_remove(L, -2);
	}
	if (strcmp(code, "ESERIAL") == 0)
		pg->serial = 1;
	if (state == NULL || strcmp(state, "25P02") != 0) {
		pg->last_code = code;
		lua_pushvalue(L, -1);
		lua_setiuservalue(L, pg_index, 1);
	}
	return code;
}

/* push_failure_at for the connection at index 1, as in its methods. */
static const char *push_failure(lua_State *L, Pg *pg, PGresult *res)
{
	return push_failure_at(L, pg, res, 1);
}

/* Pushes nil, message, code for the failed result res of the connection at pg_index; returns 3. */
static int fail_at(lua_State *L, Pg *pg, PGresult *res, int pg_index)
{
	const char *code = push_failure_at(L, pg, res, pg_index);
	luaL_pushfail(L);
	lua_insert(L, -2);
	lua_pushstring(L, code);
	return 3;
}

static int fail(lua_State *L, Pg *pg, PGresult *res)
{
	return fail_at(L, pg, res, 1);
}

static void note_changes(Pg *pg, PGresult *res)
{
	const char *status = pq.PQcmdStatus(res);
	if (status != NULL &&
	    (strncmp(status, "INSERT ", 7) == 0 || strncmp(status, "UPDATE ", 7) == 0 ||
	     strncmp(status, "DELETE ", 7) == 0 || strncmp(status, "MERGE ", 6) == 0))
		pg->changes = strtoll(pq.PQcmdTuples(res), NULL, 10);
}

/* Runs sql (no parameters, any number of statements); the result is in the Res pushed. */
static Res *run(lua_State *L, Pg *pg, const char *sql)
{
	Res *r = newres(L);
	r->res = pq.PQexec(pg->conn, sql);
	if (ok(r->res))
		note_changes(pg, r->res);
	return r;
}

/* Runs sql and drops its result: for BEGIN, COMMIT, SET... 1 if it succeeded, else 0 with the
** message and code of the failure as push_failure leaves them (message pushed). */
static int run_simple(lua_State *L, Pg *pg, const char *sql, const char **code)
{
	Res *r = run(L, pg, sql);
	if (ok(r->res)) {
		clear(r);
		lua_pop(L, 1);
		return 1;
	}
	*code = push_failure(L, pg, r->res);
	clear(r);
	lua_remove(L, -2);
	return 0;
}

static void rollback(lua_State *L, Pg *pg)
{
	Res *r = newres(L);
	r->res = pq.PQexec(pg->conn, "ROLLBACK"); /* the first error is the one to report */
	clear(r);
	lua_pop(L, 1);
}

/* ---- parameters ---------------------------------------------------------------------------- */

static int is_ident(int c)
{
	return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

/*
** Pushes sql with its ?/?NNN parameters written $N (as sqlite numbers them: ? is one more than
** the largest number so far) and returns the number of parameters (the largest number). String
** literals ('...', E'...'), quoted identifiers, dollar-quoted strings and comments are copied
** as they are. Raises on named parameters (:name) and numbers out of range.
*/
static int translate(lua_State *L, const char *sql, size_t len, int *marks)
{
	luaL_Buffer b;
	const char *p = sql, *end = sql + len;
	int max = 0;
	*marks = 0;
	luaL_buffinit(L, &b);
	while (p < end) {
		const char *s = p;
		char c = *p;
		if (c == '\'') {
			int escapes = p > sql && (p[-1] == 'E' || p[-1] == 'e') &&
				      (p - 1 == sql || !is_ident((unsigned char)p[-2]));
			for (p++; p < end && *p != '\''; p++)
				if (escapes && *p == '\\' && p + 1 < end)
					p++;
			if (p < end)
				p++;
		} else if (c == '"') {
			for (p++; p < end && *p != '"'; p++)
				;
			if (p < end)
				p++;
		} else if (c == '-' && p + 1 < end && p[1] == '-') {
			while (p < end && *p != '\n')
				p++;
		} else if (c == '/' && p + 1 < end && p[1] == '*') {
			int depth = 1;
			p += 2;
			while (p < end && depth > 0) {
				if (*p == '*' && p + 1 < end && p[1] == '/')
					depth--, p += 2;
				else if (*p == '/' && p + 1 < end && p[1] == '*')
					depth++, p += 2;
				else
					p++;
			}
		} else if (c == '$' && (p == sql || !is_ident((unsigned char)p[-1])) &&
			   !(p + 1 < end && isdigit((unsigned char)p[1]))) {
			/* $tag$ ... $tag$, tag possibly empty */
			const char *t = p + 1;
			while (t < end && (isalnum((unsigned char)*t) || *t == '_'))
				t++;
			p++;
			if (t < end && *t == '$') {
				size_t taglen = (size_t)(t + 1 - s);
				const char *q = t + 1;
				while (q + taglen <= end && memcmp(q, s, taglen) != 0)
					q++;
				p = q + taglen <= end ? q + taglen : end;
			}
		} else if (c == '?') {
			long n;
			p++;
			if (p < end && isdigit((unsigned char)*p)) {
				n = 0;
				while (p < end && isdigit((unsigned char)*p)) {
					if (n <= MAX_PARAM)
						n = n * 10 + (*p - '0');
					p++;
				}
				if (n < 1 || n > MAX_PARAM)
					luaL_error(L, "gt.pg: parameter number out of range: ?%d",
						   (int)(n > MAX_PARAM ? MAX_PARAM + 1 : n));
			} else {
				n = max + 1;
				if (n > MAX_PARAM)
					luaL_error(L, "gt.pg: too many parameters");
			}
			if (n > max)
				max = (int)n;
			(*marks)++;
			luaL_addchar(&b, '$');
			lua_pushinteger(L, n);
			luaL_addvalue(&b);
			continue;
		} else if (c == ':' && p + 1 < end &&
			   (isalpha((unsigned char)p[1]) || p[1] == '_') &&
			   (p == sql || p[-1] != ':')) {
			luaL_error(L, "gt.pg: named parameters are not supported");
		} else {
			p++;
		}
		luaL_addlstring(&b, s, (size_t)(p - s));
	}
	luaL_pushresult(&b);
	return max;
}

/* Converts the value at idx to the text of parameter i (pushed, or nothing pushed for NULL);
** returns whether it is NULL. */
static int param_text(lua_State *L, int idx, int i, int arg)
{
	switch (lua_type(L, idx)) {
	case LUA_TNIL: return 1;
	case LUA_TBOOLEAN: lua_pushstring(L, lua_toboolean(L, idx) ? "1" : "0"); return 0;
	case LUA_TNUMBER: {
		char buf[64];
		if (lua_isinteger(L, idx))
			snprintf(buf, sizeof buf, "%lld", (long long)lua_tointeger(L, idx));
		else
			snprintf(buf, sizeof buf, "%.17g", (double)lua_tonumber(L, idx));
		lua_pushstring(L, buf);
		return 0;
	}
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(L, idx, &len);
		if (memchr(s, '\0', len) != NULL)
			luaL_argerror(L, arg,
				      lua_pushfstring(L,
						      "parameter %d holds a zero byte, which text "
						      "cannot",
						      i));
		lua_pushvalue(L, idx);
		return 0;
	}
	default:
		luaL_argerror(L, arg,
			      lua_pushfstring(L, "unsupported parameter type: %s for ?%d",
					      luaL_typename(L, idx), i));
		return 1;
	}
}

/* Builds the parameter values for count parameters from the arguments first..last (values in
** order, or one table whose t[i] binds parameter i). The texts are kept alive by a table pushed
** on the stack; values[] (count entries, a userdata pushed too) points into them. */
static const char *const *bind_params(lua_State *L, int count, int first, int last)
{
	const char **values;
	int keep, i, n = last - first + 1;
	int intable = n == 1 && lua_type(L, first) == LUA_TTABLE;
	if (!intable && n > count)
		luaL_argerror(
		    L, first + count,
		    lua_pushfstring(L, "more values than the statement's %d parameters", count));
	values = (const char **)lua_newuserdatauv(L, (count > 0 ? count : 1) * sizeof *values, 0);
	lua_createtable(L, count, 0);
	keep = lua_gettop(L);
	for (i = 1; i <= count; i++) {
		int idx, null;
		if (intable) {
			lua_geti(L, first, i);
			idx = lua_gettop(L);
		} else {
			idx = i <= n ? first + i - 1 : 0;
		}
		null = idx == 0 ? 1 : param_text(L, idx, i, intable ? first : idx);
		if (null) {
			values[i - 1] = NULL;
		} else {
			values[i - 1] = lua_tostring(L, -1);
			lua_rawseti(L, keep, i);
		}
		if (intable)
			lua_pop(L, 1);
	}
	return (const char *const *)values;
}

/*
** Runs the statement sql (argument 2) with the parameters first..last: PQexecParams when it has
** ?-marks or parameters are given, or when one is forced (rows, row); else PQexec (any number
** of statements). Returns the Res holding the result, pushed.
*/
static Res *execute(lua_State *L, Pg *pg, int first, int last, int one)
{
	size_t len;
	const char *sql = luaL_checklstring(L, 2, &len);
	int marks, count = translate(L, sql, len, &marks);
	const char *text = lua_tostring(L, -1);
	Res *r;
	if (count == 0 && marks == 0 && last < first && !one) {
		r = newres(L);
		r->res = pq.PQexec(pg->conn, text);
	} else {
		const char *const *values = bind_params(L, count, first, last);
		r = newres(L);
		r->res = pq.PQexecParams(pg->conn, text, count, NULL, values, NULL, NULL, 0);
	}
	if (ok(r->res))
		note_changes(pg, r->res);
	return r;
}

/* ---- rows ---------------------------------------------------------------------------------- */

static int integer_text(const char *s, long long *out)
{
	char *end;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno == 0 && end != s && *end == '\0';
}

/* Pushes row i of res as a table keyed by column name; NULL columns stay absent. */
static void push_row(lua_State *L, PGresult *res, int i)
{
	int n = pq.PQnfields(res), j;
	lua_createtable(L, 0, n);
	for (j = 0; j < n; j++) {
		const char *v;
		long long iv;
		if (pq.PQgetisnull(res, i, j))
			continue;
		v = pq.PQgetvalue(res, i, j);
		switch (pq.PQftype(res, j)) {
		case 20: /* int8 */
		case 21: /* int2 */
		case 23: /* int4 */ lua_pushinteger(L, (lua_Integer)strtoll(v, NULL, 10)); break;
		case 700: /* float4 */
		case 701: /* float8 */ lua_pushnumber(L, (lua_Number)strtod(v, NULL)); break;
		case 1700: /* numeric */
			if (integer_text(v, &iv))
				lua_pushinteger(L, (lua_Integer)iv);
			else
				lua_pushnumber(L, (lua_Number)strtod(v, NULL));
			break;
		case 16: /* bool */ lua_pushboolean(L, v[0] == 't'); break;
		default: lua_pushlstring(L, v, (size_t)pq.PQgetlength(res, i, j)); break;
		}
		lua_setfield(L, -2, pq.PQfname(res, j));
	}
}

static int rows_iter(lua_State *L)
{
	Res *r = (Res *)luaL_checkudata(L, 1, RES_TYPE);
	if (r->res == NULL || r->next >= pq.PQntuples(r->res)) {
		clear(r);
		lua_pushnil(L);
		return 1;
	}
	push_row(L, r->res, r->next++);
	return 1;
}

/* ---- module functions ---------------------------------------------------------------------- */

static void drop_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static int has_keyword(PQconninfoOption *opts, const char *keyword)
{
	for (; opts != NULL && opts->keyword != NULL; opts++)
		if (strcmp(opts->keyword, keyword) == 0)
			return opts->val != NULL && opts->val[0] != '\0';
	return 0;
}

/* The code of a connection that failed, from libpq's message (no SQLSTATE is given then). */
static const char *connect_code(const char *msg)
{
	if (strstr(msg, "database \"") != NULL && strstr(msg, "does not exist") != NULL)
		return "ENOTFOUND";
	if (strstr(msg, "authentication failed") != NULL ||
	    strstr(msg, "no password supplied") != NULL || strstr(msg, "pg_hba.conf") != NULL ||
	    strstr(msg, "permission denied") != NULL ||
	    (strstr(msg, "role \"") != NULL && strstr(msg, "does not exist") != NULL))
		return "EACCES";
	return "ECONN";
}

/* pg.open(conninfo [, {busy_timeout_ms = 5000, application_name = "gt"}]) -> gt.Pg | nil, err,
** code */
static int pg_open(lua_State *L)
{
	const char *conninfo = luaL_checkstring(L, 1);
	lua_Integer timeout = gt_optfield_integer(L, 2, "busy_timeout_ms", 5000);
	/* Kept alive by the options table, at index 2 until the connection is made. */
	const char *appname = gt_optfield_string(L, 2, "application_name", "gt");
	const char *keywords[4], *values[4];
	const char *redacted, *env, *code = NULL;
	PQconninfoOption *parsed = NULL;
	Secrets secrets = {{NULL}, {0}, 0};
	char set[96];
	size_t rlen;
	int k = 0;
	Pg *pg;
	luaL_argcheck(L, timeout >= 0, 2, "busy_timeout_ms must be >= 0");
	luaL_argcheck(L, timeout <= INT_MAX / 2, 2, "busy_timeout_ms too large");
	lua_settop(L, 2);
	redacted = push_redacted(L, conninfo, &secrets); /* 3 */
	if (*redacted == '\0')
		redacted = "(the default PostgreSQL connection)";
	if (load_libpq(L) != 0)
		return 3;
	if (is_uri(conninfo) || strchr(conninfo, '=') != NULL) {
		char *err = NULL;
		parsed = pq.PQconninfoParse(conninfo, &err);
		if (parsed == NULL) {
			push_oneline(L, err != NULL ? err : "out of memory", &secrets);
			if (err != NULL)
				pq.PQfreemem(err);
			return gt_pushfail(L, "EINVALID", "%s: %s", redacted, lua_tostring(L, -1));
		}
	}
	/* Before dbname: what the conninfo says overrides them (PQconnectdbParams' rule). */
	env = getenv("PGCONNECT_TIMEOUT");
	if (!has_keyword(parsed, "connect_timeout") && (env == NULL || *env == '\0')) {
		keywords[k] = "connect_timeout";
		values[k++] = "10";
	}
	env = getenv("PGAPPNAME");
	if (!has_keyword(parsed, "application_name") && (env == NULL || *env == '\0')) {
		keywords[k] = "application_name";
		values[k++] = appname;
	}
	if (parsed != NULL)
		pq.PQconninfoFree(parsed);
	keywords[k] = "dbname";
	values[k++] = conninfo;
	keywords[k] = values[k] = NULL;

	rlen = strlen(redacted);
	pg = (Pg *)lua_newuserdatauv(L, sizeof *pg + rlen + 1, 1);
	pg->conn = NULL; /* closed first, so __gc always sees a consistent object */
	pg->busy_timeout_ms = (int)timeout;
	pg->serial = 0;
	pg->last_code = NULL;
	pg->changes = 0;
	memcpy(pg->path, redacted, rlen + 1);
	luaL_setmetatable(L, PG_TYPE);
	lua_insert(L, 1); /* at index 1, as in its methods; conninfo stays on the stack */
	pg->conn = pq.PQconnectdbParams(keywords, values, 1);
	if (pg->conn == NULL)
		return gt_pushfail(L, "ENOMEM", "%s: out of memory", pg->path);
	if (pq.PQstatus(pg->conn) != CONNECTION_OK) {
		const char *msg = push_oneline(L, pq.PQerrorMessage(pg->conn), &secrets);
		code = connect_code(msg);
		pq.PQfinish(pg->conn);
		pg->conn = NULL;
		return gt_pushfail(L, code, "%s: %s", pg->path, msg);
	}
	pq.PQsetNoticeProcessor(pg->conn, drop_notice, NULL);
	/* lock_timeout 0 would wait forever; sqlite's busy timeout 0 gives up at once. */
	snprintf(set, sizeof set, "SET lock_timeout = %d; SET client_min_messages = warning",
		 pg->busy_timeout_ms > 0 ? pg->busy_timeout_ms : 1);
	if (!run_simple(L, pg, set, &code)) {
		pq.PQfinish(pg->conn);
		pg->conn = NULL;
		luaL_pushfail(L);
		lua_insert(L, -2);
		lua_pushstring(L, code);
		return 3;
	}
	lua_settop(L, 1);
	return 1;
}

static void push_version(lua_State *L, int v)
{
	if (v >= 100000)
		lua_pushfstring(L, "%d.%d", v / 10000, v % 10000);
	else
		lua_pushfstring(L, "%d.%d.%d", v / 10000, (v / 100) % 100, v % 100);
}

/* pg.libpq_version() -> "15.18" | nil, err, "ENOTSUP" */
static int pg_libpq_version(lua_State *L)
{
	if (load_libpq(L) != 0)
		return 3;
	push_version(L, pq.PQlibVersion());
	return 1;
}

/* ---- methods ------------------------------------------------------------------------------- */

/* db:exec(sql [, params...]) -> true | nil, err, code */
static int l_exec(lua_State *L)
{
	Pg *pg = toopen(L);
	Res *r = execute(L, pg, 3, lua_gettop(L), 0);
	if (!ok(r->res)) {
		fail(L, pg, r->res);
		clear(r);
		return 3;
	}
	clear(r);
	lua_pushboolean(L, 1);
	return 1;
}

/* db:rows(sql [, params...]) -> iterator, state, nil, closing; raises "ledger: <message>". */
static int l_rows(lua_State *L)
{
	Pg *pg = toopen(L);
	Res *r = execute(L, pg, 3, lua_gettop(L), 1);
	if (!ok(r->res)) {
		push_failure(L, pg, r->res);
		clear(r);
		return luaL_error(L, "ledger: %s", lua_tostring(L, -1));
	}
	lua_pushcfunction(L, rows_iter);
	lua_pushvalue(L, -2);
	lua_pushnil(L);
	lua_pushvalue(L, -4);
	return 4;
}

/* db:row(sql [, params...]) -> first row | nil when there is none | nil, err, code */
static int l_row(lua_State *L)
{
	Pg *pg = toopen(L);
	Res *r = execute(L, pg, 3, lua_gettop(L), 1);
	if (!ok(r->res)) {
		fail(L, pg, r->res);
		clear(r);
		return 3;
	}
	if (pq.PQresultStatus(r->res) == PGRES_TUPLES_OK && pq.PQntuples(r->res) > 0)
		push_row(L, r->res, 0);
	else
		luaL_pushfail(L);
	clear(r);
	return 1;
}

/* db:changes() -> integer */
static int l_changes(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)toopen(L)->changes);
	return 1;
}

static void check_no_tx(lua_State *L, Pg *pg)
{
	PGTransactionStatusType s = pq.PQtransactionStatus(pg->conn);
	if (s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE)
		luaL_error(L, "ledger: transaction already open");
}

/* Pushes the remembered failure: nil, message, code; returns 3. */
static int last_failure(lua_State *L, Pg *pg)
{
	luaL_pushfail(L);
	if (lua_getiuservalue(L, 1, 1) != LUA_TSTRING) {
		lua_pop(L, 1);
		lua_pushfstring(L, "%s: the transaction failed", pg->path);
	}
	lua_pushstring(L, pg->last_code != NULL ? pg->last_code : "EIO");
	return 3;
}

static unsigned next_random(void)
{
	static unsigned state;
	if (state == 0)
		state = ((unsigned)(unsigned long long)gt_monotonic_ms() * 2654435761u) ^
			((unsigned)getpid() | 1u);
	state ^= state << 13;
	state ^= state >> 17;
	state ^= state << 5;
	return state;
}

/* Waits before the next try; 0 when the deadline has passed (or an interrupt came). */
static int backoff(long long deadline, long long *pause)
{
	long long left = deadline - (long long)gt_monotonic_ms(), ms;
	if (left <= 0 || gt_interrupted)
		return 0;
	ms = *pause + (long long)(next_random() % (unsigned)(*pause + 1));
	gt_sleep_ms(ms < left ? ms : left);
	*pause = *pause * 2 < 50 ? *pause * 2 : 50;
	return !gt_interrupted && deadline - (long long)gt_monotonic_ms() > 0;
}

static int gave_up(lua_State *L, Pg *pg, int tries)
{
	last_failure(L, pg);
	lua_pushfstring(L, "%s (gave up after %d tries)", lua_tostring(L, -2), tries);
	lua_replace(L, -3);
	lua_pop(L, 1);
	lua_pushliteral(L, "EBUSY");
	return 3;
}

/*
** db:tx(fn, ...) -> what fn returns (true if nothing) | nil, err, code
** BEGIN ISOLATION LEVEL SERIALIZABLE, fn(db, ...), COMMIT; run again after a serialization
** failure or deadlock until 2 x busy_timeout_ms have passed.
*/
static int l_tx(lua_State *L)
{
	Pg *pg = toopen(L);
	int top = lua_gettop(L);
	long long deadline, pause = 1;
	int i, nres, tries = 0;
	const char *code = NULL;
	luaL_checktype(L, 2, LUA_TFUNCTION);
	check_no_tx(L, pg);
	luaL_checkstack(L, top + 4, "too many arguments");
	deadline = (long long)gt_monotonic_ms() + 2 * (long long)pg->busy_timeout_ms;
	for (;;) {
		lua_settop(L, top);
		tries++;
		pg->serial = 0;
		if (!run_simple(L, pg, "BEGIN ISOLATION LEVEL SERIALIZABLE", &code)) {
			luaL_pushfail(L);
			lua_insert(L, -2);
			lua_pushstring(L, code);
			return 3;
		}
		lua_pushvalue(L, 2);
		lua_pushvalue(L, 1);
		for (i = 3; i <= top; i++)
			lua_pushvalue(L, i);
		if (lua_pcall(L, top - 1, LUA_MULTRET, 0) != LUA_OK) {
			if (pg->conn == NULL)
				return lua_error(L);
			rollback(L, pg);
			if (!pg->serial)
				return lua_error(L); /* the very same value */
			if (!backoff(deadline, &pause))
				return gave_up(L, pg, tries);
			continue;
		}
		if (pg->conn == NULL)
			return luaL_error(L, "attempt to use a closed ledger");
		nres = lua_gettop(L) - top;
		switch (pq.PQtransactionStatus(pg->conn)) {
		case PQTRANS_IDLE: return luaL_error(L, "ledger: the transaction ended inside tx");
		case PQTRANS_INERROR:
			rollback(L, pg);
			if (!pg->serial)
				return last_failure(L, pg);
			if (!backoff(deadline, &pause))
				return gave_up(L, pg, tries);
			continue;
		case PQTRANS_INTRANS: break;
		default: /* the connection is gone */ return fail(L, pg, NULL);
		}
		if (run_simple(L, pg, "COMMIT", &code)) {
			if (nres > 0)
				return nres;
			lua_pushboolean(L, 1);
			return 1;
		}
		if (pq.PQtransactionStatus(pg->conn) != PQTRANS_IDLE)
			rollback(L, pg);
		if (!pg->serial) {
			luaL_pushfail(L);
			lua_insert(L, -2);
			lua_pushstring(L, code);
			return 3;
		}
		if (!backoff(deadline, &pause))
			return gave_up(L, pg, tries);
	}
}

/* Reads the schema version: 0 without a gt_schema table. 1, or 0 with nil, err, code pushed. */
static int read_version(lua_State *L, Pg *pg, lua_Integer *version)
{
	Res *r = run(L, pg, "SELECT to_regclass('gt_schema') IS NOT NULL AS present");
	int present;
	if (!ok(r->res) || pq.PQntuples(r->res) != 1) {
		fail(L, pg, r->res);
		clear(r);
		return 0;
	}
	present = pq.PQgetvalue(r->res, 0, 0)[0] == 't';
	clear(r);
	lua_pop(L, 1);
	*version = 0;
	if (!present)
		return 1;
	r = run(L, pg, "SELECT max(version) AS version FROM gt_schema");
	if (!ok(r->res) || pq.PQntuples(r->res) != 1) {
		fail(L, pg, r->res);
		clear(r);
		return 0;
	}
	if (!pq.PQgetisnull(r->res, 0, 0))
		*version = (lua_Integer)strtoll(pq.PQgetvalue(r->res, 0, 0), NULL, 10);
	clear(r);
	lua_pop(L, 1);
	return 1;
}

/* db:user_version() -> integer | nil, err, code */
static int l_user_version(lua_State *L)
{
	Pg *pg = toopen(L);
	lua_Integer version;
	lua_settop(L, 1);
	if (!read_version(L, pg, &version))
		return 3;
	lua_pushinteger(L, version);
	return 1;
}

/* Runs sql inside migrate's transaction; on failure rolls back and pushes nil, err, code. */
static int migrate_step(lua_State *L, Pg *pg, const char *sql)
{
	const char *code = NULL;
	if (run_simple(L, pg, sql, &code))
		return 1;
	rollback(L, pg);
	luaL_pushfail(L);
	lua_insert(L, -2);
	lua_pushstring(L, code);
	return 0;
}

/* Runs migration i (at the top of the stack, popped) inside the open transaction: 1, or 0 with
** nil, err, code pushed. */
static int run_migration(lua_State *L, Pg *pg, lua_Integer i)
{
	if (lua_type(L, -1) == LUA_TSTRING) {
		Res *r = run(L, pg, lua_tostring(L, -1));
		if (!ok(r->res)) {
			const char *code = push_failure(L, pg, r->res);
			clear(r);
			rollback(L, pg);
			gt_pushfail(L, code, "%s: migration %I: %s", pg->path, i,
				    lua_tostring(L, -1) + strlen(pg->path) + 2);
			return 0;
		}
		clear(r);
		lua_pop(L, 2);
	} else {
		lua_pushvalue(L, 1);
		if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
			if (pg->conn != NULL)
				rollback(L, pg);
			return lua_error(L);
		}
		if (pg->conn == NULL)
			return luaL_error(L, "attempt to use a closed ledger");
	}
	switch (pq.PQtransactionStatus(pg->conn)) {
	case PQTRANS_IDLE: return luaL_error(L, "ledger: migration %I ended its transaction", i);
	case PQTRANS_INTRANS: return 1;
	default:
		rollback(L, pg);
		last_failure(L, pg);
		lua_pushfstring(L, "%s: migration %I: %s", pg->path, i,
				lua_tostring(L, -2) +
				    (strncmp(lua_tostring(L, -2), pg->path, strlen(pg->path)) == 0
					 ? strlen(pg->path) + 2
					 : 0));
		lua_replace(L, -3);
		return 0;
	}
}

/*
** db:migrate(migrations) -> true | nil, err, code
** Each migration i > version runs in its own transaction holding an advisory lock, so that
** several processes can migrate at once; the version is read again under the lock.
*/
static int l_migrate(lua_State *L)
{
	Pg *pg = toopen(L);
	lua_Integer n, i, version;
	char sql[96];
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
	check_no_tx(L, pg);
	if (!read_version(L, pg, &version))
		return 3;
	while (version < n) {
		if (!migrate_step(L, pg, "BEGIN"))
			return 3;
		if (!migrate_step(
			L, pg,
			"SELECT pg_advisory_xact_lock(" MIGRATE_LOCK "); "
			"CREATE TABLE IF NOT EXISTS gt_schema (version INTEGER NOT NULL)"))
			return 3;
		if (!read_version(L, pg, &version)) {
			rollback(L, pg);
			return 3;
		}
		if (version >= n) { /* another process got there first */
			rollback(L, pg);
			break;
		}
		i = version + 1;
		lua_geti(L, 2, i);
		if (!run_migration(L, pg, i))
			return 3;
		snprintf(sql, sizeof sql,
			 "DELETE FROM gt_schema; INSERT INTO gt_schema (version) VALUES (%lld)",
			 (long long)i);
		if (!migrate_step(L, pg, sql) || !migrate_step(L, pg, "COMMIT"))
			return 3;
		version = i;
	}
	if (version > n)
		return gt_pushfail(L, "ENEWER",
				   "%s: schema version %I is newer than this gt knows (%I)",
				   pg->path, version, n);
	lua_pushboolean(L, 1);
	return 1;
}

/* db:server_version() -> "15.18" */
static int l_server_version(lua_State *L)
{
	push_version(L, pq.PQserverVersion(toopen(L)->conn));
	return 1;
}

static void release(Pg *pg)
{
	if (pg->conn != NULL) {
		pq.PQfinish(pg->conn); /* an open transaction rolls back */
		pg->conn = NULL;
	}
}

static int l_close(lua_State *L)
{
	release(toopen(L));
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
	release(topg(L));
	return 0;
}

static int l_tostring(lua_State *L)
{
	Pg *pg = topg(L);
	if (pg->conn == NULL)
		lua_pushliteral(L, "gt.Pg (closed)");
	else
		lua_pushfstring(L, "gt.Pg (%s)", pg->path);
	return 1;
}

/* ---- prepared statements ------------------------------------------------------------------- */

/*
** A statement prepared on the server under a name of its own (PQprepare), run by
** PQexecPrepared. User values: 1 the connection (which the statement keeps alive), 2 the table
** of the bound parameter texts (t[i] for parameter i, absent for NULL), 3 the SQL as given.
** step() runs the statement at its first call and then walks the whole result, kept in res.
*/
typedef struct {
	Pg *pg;        /* kept alive by user value 1 */
	PGresult *res; /* the result step() walks; NULL when the next step runs the statement */
	int next;      /* the row step() returns next */
	int count;     /* the number of parameters */
	int live;      /* 0 once finalized (or before it is prepared) */
	char name[32]; /* "gt_s<N>", unique in the process */
} Stmt;

/* The state and to-be-closed value of a stmt:rows() loop. */
typedef struct {
	Stmt *st; /* kept alive by the user value */
	int done;
} StmtRows;

static Stmt *tostmt(lua_State *L)
{
	return (Stmt *)luaL_checkudata(L, 1, STMT_TYPE);
}

static void check_live(lua_State *L, Stmt *st)
{
	if (!st->live)
		luaL_error(L, "attempt to use a finalized statement");
	if (st->pg->conn == NULL)
		luaL_error(L, "attempt to use a closed ledger");
}

static Stmt *tolivestmt(lua_State *L)
{
	Stmt *st = tostmt(L);
	check_live(L, st);
	return st;
}

/* Drops the result being walked: the next step runs the statement again. */
static void stmt_reset(Stmt *st)
{
	if (st->res != NULL) {
		pq.PQclear(st->res);
		st->res = NULL;
	}
	st->next = 0;
}

static void stmt_finalize(Stmt *st)
{
	stmt_reset(st);
	if (st->live) {
		char sql[48];
		st->live = 0;
		if (st->pg->conn != NULL) { /* else the server dropped it with the session */
			PGresult *res;
			snprintf(sql, sizeof sql, "DEALLOCATE %s", st->name);
			/* a failure only leaves it to the end of the session */
			res = pq.PQexec(st->pg->conn, sql);
			if (res != NULL)
				pq.PQclear(res);
		}
	}
}

/* Binds the arguments first..last (values, or one table) as the statement's parameters; no
** arguments bind NULL to all of them. The statement is at index 1. */
static void stmt_bind_params(lua_State *L, Stmt *st, int first, int last)
{
	(void)bind_params(L, st->count, first, last); /* pushes the pointers, then the texts */
	lua_setiuservalue(L, 1, 2);
	lua_pop(L, 1);
}

/* Runs the statement at index 1 with its bound values; its result is in st->res (checked by
** the caller with ok()). Pushes the connection, at the returned index. */
static int stmt_run(lua_State *L, Stmt *st)
{
	const char **values = NULL;
	int i, pg_index;
	stmt_reset(st);
	lua_getiuservalue(L, 1, 1);
	pg_index = lua_gettop(L);
	if (st->count > 0) {
		int texts;
		values = (const char **)lua_newuserdatauv(L, (size_t)st->count * sizeof *values, 0);
		lua_getiuservalue(L, 1, 2);
		texts = lua_gettop(L);
		for (i = 0; i < st->count; i++) {
			/* the strings stay alive in the table, which stays on the stack */
			values[i] =
			    lua_istable(L, texts) && lua_rawgeti(L, texts, i + 1) == LUA_TSTRING
				? lua_tostring(L, -1)
				: NULL;
			lua_settop(L, texts);
		}
	}
	st->res = pq.PQexecPrepared(st->pg->conn, st->name, st->count, (const char *const *)values,
				    NULL, NULL, 0);
	st->next = 0;
	if (ok(st->res))
		note_changes(st->pg, st->res);
	lua_settop(L, pg_index);
	return pg_index;
}

/* Pushes nil, message, code for the failed run of the statement at index 1 (its connection at
** pg_index) and resets it; returns 3. */
static int stmt_fail(lua_State *L, Stmt *st, int pg_index)
{
	fail_at(L, st->pg, st->res, pg_index);
	stmt_reset(st);
	return 3;
}

/* Runs the statement at index 1 if it is not running, and pushes its next row: 1, or 0 with
** false pushed at the end (the statement reset), or -1 with nil, err, code pushed. */
static int stmt_next(lua_State *L, Stmt *st)
{
	if (st->res == NULL) {
		int pg_index = stmt_run(L, st);
		if (!ok(st->res)) {
			stmt_fail(L, st, pg_index);
			return -1;
		}
		lua_pop(L, 1);
	}
	if (pq.PQresultStatus(st->res) == PGRES_TUPLES_OK && st->next < pq.PQntuples(st->res)) {
		push_row(L, st->res, st->next++);
		return 1;
	}
	stmt_reset(st);
	lua_pushboolean(L, 0);
	return 0;
}

/* db:prepare(sql) -> gt.PgStatement | nil, err, code */
static int l_prepare(lua_State *L)
{
	static unsigned long long serial;
	Pg *pg = toopen(L);
	size_t len;
	const char *sql = luaL_checklstring(L, 2, &len);
	int marks, count;
	const char *text;
	Stmt *st;
	Res *r;
	lua_settop(L, 2);
	count = translate(L, sql, len, &marks); /* 3 */
	text = lua_tostring(L, 3);
	st = (Stmt *)lua_newuserdatauv(L, sizeof *st, 3); /* 4 */
	st->pg = pg;
	st->res = NULL;
	st->next = 0;
	st->count = count;
	st->live = 0; /* until the server has it, so that __gc always sees a consistent object */
	snprintf(st->name, sizeof st->name, "gt_s%llu", ++serial);
	luaL_setmetatable(L, STMT_TYPE);
	lua_pushvalue(L, 1);
	lua_setiuservalue(L, 4, 1); /* the connection outlives its statements */
	lua_pushvalue(L, 2);
	lua_setiuservalue(L, 4, 3);
	r = newres(L);
	r->res = pq.PQprepare(pg->conn, st->name, text, count, NULL);
	if (!ok(r->res)) {
		fail(L, pg, r->res);
		clear(r);
		return 3;
	}
	clear(r);
	st->live = 1;
	lua_settop(L, 4);
	return 1;
}

/* stmt:bind(params...) -> stmt: resets, clears the old values, binds the new ones. */
static int st_bind(lua_State *L)
{
	Stmt *st = tolivestmt(L);
	stmt_reset(st);
	stmt_bind_params(L, st, 2, lua_gettop(L));
	lua_settop(L, 1);
	return 1;
}

/* stmt:step() -> row | false when done (the next step starts over) | nil, err, code */
static int st_step(lua_State *L)
{
	Stmt *st = tolivestmt(L);
	lua_settop(L, 1);
	return stmt_next(L, st) < 0 ? 3 : 1;
}

/* stmt:exec([params...]) -> true | nil, err, code: binds (if given), runs, resets. */
static int st_exec(lua_State *L)
{
	Stmt *st = tolivestmt(L);
	int top = lua_gettop(L), pg_index;
	stmt_reset(st);
	if (top >= 2)
		stmt_bind_params(L, st, 2, top);
	pg_index = stmt_run(L, st);
	if (!ok(st->res))
		return stmt_fail(L, st, pg_index);
	stmt_reset(st);
	lua_pushboolean(L, 1);
	return 1;
}

static void end_stmt_rows(StmtRows *r)
{
	r->done = 1;
	if (r->st->live)
		stmt_reset(r->st);
}

/* The iterator of stmt:rows(): a row table, nil at the end; raises "ledger: <message>". */
static int stmt_rows_iter(lua_State *L)
{
	StmtRows *r = (StmtRows *)luaL_checkudata(L, 1, ROWS_TYPE);
	Stmt *st = r->st;
	if (r->done) {
		lua_pushnil(L);
		return 1;
	}
	check_live(L, st);
	if (st->res == NULL || pq.PQresultStatus(st->res) != PGRES_TUPLES_OK ||
	    st->next >= pq.PQntuples(st->res)) {
		end_stmt_rows(r);
		lua_pushnil(L);
		return 1;
	}
	push_row(L, st->res, st->next++);
	return 1;
}

static int stmt_rows_close(lua_State *L)
{
	StmtRows *r = (StmtRows *)luaL_checkudata(L, 1, ROWS_TYPE);
	if (!r->done)
		end_stmt_rows(r);
	return 0;
}

/* stmt:rows([params...]) -> iterator, state, nil, closing, as db:rows; runs the statement at
** once, and resets it at the end of the loop (break and errors included). */
static int st_rows(lua_State *L)
{
	Stmt *st = tolivestmt(L);
	int top = lua_gettop(L), pg_index;
	StmtRows *r;
	stmt_reset(st);
	if (top >= 2)
		stmt_bind_params(L, st, 2, top);
	lua_settop(L, 1);
	pg_index = stmt_run(L, st);
	if (!ok(st->res)) {
		push_failure_at(L, st->pg, st->res, pg_index);
		stmt_reset(st);
		return luaL_error(L, "ledger: %s", lua_tostring(L, -1));
	}
	r = (StmtRows *)lua_newuserdatauv(L, sizeof *r, 1);
	r->st = st;
	r->done = 0;
	luaL_setmetatable(L, ROWS_TYPE);
	lua_pushvalue(L, 1);
	lua_setiuservalue(L, -2, 1);
	lua_pushcfunction(L, stmt_rows_iter);
	lua_pushvalue(L, -2);
	lua_pushnil(L);
	lua_pushvalue(L, -4);
	return 4;
}

/* stmt:reset() -> stmt: ready to run again, with the same values bound. */
static int st_reset(lua_State *L)
{
	stmt_reset(tolivestmt(L));
	lua_settop(L, 1);
	return 1;
}

/* stmt:finalize() -> true; allowed after the connection is closed. */
static int st_finalize(lua_State *L)
{
	Stmt *st = tostmt(L);
	if (!st->live)
		return luaL_error(L, "attempt to use a finalized statement");
	stmt_finalize(st);
	lua_pushboolean(L, 1);
	return 1;
}

static int st_gc(lua_State *L)
{
	stmt_finalize(tostmt(L));
	return 0;
}

static int st_tostring(lua_State *L)
{
	Stmt *st = tostmt(L);
	if (!st->live) {
		lua_pushliteral(L, "gt.PgStatement (finalized)");
	} else {
		lua_getiuservalue(L, 1, 3);
		lua_pushfstring(L, "gt.PgStatement (%s)", lua_tostring(L, -1));
	}
	return 1;
}

static const luaL_Reg funcs[] = {
    {"open", pg_open},
    {"redact", pg_redact},
    {"libpq_version", pg_libpq_version},
    {NULL, NULL},
};

static const luaL_Reg methods[] = {
    {"exec", l_exec},
    {"rows", l_rows},
    {"row", l_row},
    {"prepare", l_prepare},
    {"changes", l_changes},
    {"tx", l_tx},
    {"migrate", l_migrate},
    {"user_version", l_user_version},
    {"server_version", l_server_version},
    {"close", l_close},
    {"path", l_path},
    {NULL, NULL},
};

static const luaL_Reg metamethods[] = {
    {"__index", NULL}, /* placeholder */
    {"__gc", l_gc},    {"__close", l_gc}, {"__tostring", l_tostring}, {NULL, NULL},
};

static const luaL_Reg stmt_methods[] = {
    {"bind", st_bind},   {"step", st_step},         {"exec", st_exec}, {"rows", st_rows},
    {"reset", st_reset}, {"finalize", st_finalize}, {NULL, NULL},
};

static const luaL_Reg stmt_metamethods[] = {
    {"__index", NULL}, /* placeholder */
    {"__gc", st_gc},   {"__close", st_gc}, {"__tostring", st_tostring}, {NULL, NULL},
};

static const luaL_Reg stmt_rows_metamethods[] = {
    {"__close", stmt_rows_close},
    {NULL, NULL},
};

static const luaL_Reg res_metamethods[] = {
    {"__gc", res_gc},
    {"__close", res_gc},
    {NULL, NULL},
};

int luaopen_gt_pg(lua_State *L)
{
	luaL_newlib(L, funcs);
	gt_createmeta(L, PG_TYPE, metamethods, methods);
	gt_createmeta(L, RES_TYPE, res_metamethods, NULL);
	gt_createmeta(L, STMT_TYPE, stmt_metamethods, stmt_methods);
	gt_createmeta(L, ROWS_TYPE, stmt_rows_metamethods, NULL);
	return 1;
}
