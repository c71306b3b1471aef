/*
** lgt_aux.c: helpers shared by gt's C modules, in the spirit of lauxlib.c. This is the one place
** where errno values, libgit2 errors and sqlite result codes become gt's stable error codes, and
** where C reads the clocks.
*/
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include <sqlite3.h>

#include "gt.h"
#include "git2_lazy.h"

/* ---------------------------------------------------------------------------------------- */
/* Failures: nil, message, CODE */

int gt_pushfail(lua_State *L, const char *code, const char *fmt, ...)
{
	va_list ap;
	luaL_pushfail(L);
	va_start(ap, fmt);
	lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	lua_pushstring(L, code);
	return 3;
}

int gt_pusherrno(lua_State *L, int err, const char *fmt, ...)
{
	va_list ap;
	luaL_pushfail(L);
	va_start(ap, fmt);
	lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	lua_pushfstring(L, ": %s", strerror(err));
	lua_concat(L, 2);
	lua_pushstring(L, gt_errno_code(err));
	return 3;
}

volatile sig_atomic_t gt_interrupted = 0;

int gt_pushinterrupted(lua_State *L)
{
	return gt_pushfail(L, "EINTR", "interrupted");
}

const char *gt_errno_code(int err)
{
	switch (err) {
	case ENOENT: return "ENOTFOUND";
	case EEXIST: return "EEXISTS";
	case ENOTEMPTY: return "ENOTEMPTY";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EACCES:
	case EPERM:
	case EROFS: return "EACCES";
	case EWOULDBLOCK: return "ELOCKED";
	case EINVAL:
	case ENAMETOOLONG: return "EINVALID";
	case ETIMEDOUT: return "ETIMEDOUT";
	case ENOSPC:
	case EDQUOT: return "ENOSPC";
	case EINTR: return "EINTR";
	case EXDEV: return "EXDEV";
	default: return "EIO";
	}
}

const char *gt_git_code(int error)
{
	switch (error) {
	case GIT_ENOTFOUND: return "ENOTFOUND";
	case GIT_EEXISTS: return "EEXISTS";
	case GIT_ELOCKED: return "ELOCKED";
	case GIT_EUNBORNBRANCH: return "EUNBORN";
	case GIT_EINVALIDSPEC:
	case GIT_EINVALID: return "EINVALID";
	case GIT_ECONFLICT:
	case GIT_EMERGECONFLICT:
	case GIT_EUNMERGED: return "ECONFLICT";
	case GIT_EAMBIGUOUS: return "EAMBIGUOUS";
	case GIT_EBAREREPO: return "EBARE";
	case GIT_EUSER: return "EUSER";
	default: return "EGIT";
	}
}

const char *gt_sqlite_code(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return "EBUSY";
	case SQLITE_CONSTRAINT: return "ECONSTRAINT";
	case SQLITE_CANTOPEN: return "ENOTFOUND";
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH: return "EACCES";
	case SQLITE_FULL: return "ENOSPC";
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB: return "ECORRUPT";
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
	case SQLITE_TOOBIG: return "EINVALID";
	default: return "ESQL";
	}
}

/* True when the file system holding `path` has no room left: libgit2 often reports a failed
** write as "callback returned -1" or a short write, which would tell a user nothing. */
static int disk_full(const char *path)
{
	struct statvfs vfs;
	return path != NULL && statvfs(path, &vfs) == 0 && vfs.f_bavail == 0;
}

int gt_pushgiterror(lua_State *L, int error, const char *context, const char *path)
{
	const git_error *e = git_error_last();
	const char *msg = e && e->message ? e->message : "unknown libgit2 error";
	/* libgit2 1.5.1 reports a repository owned by another user as "config value
	** 'safe.directory' was not found", with GIT_ENOTFOUND. */
	if (error == GIT_EOWNER || strstr(msg, "'safe.directory'") != NULL)
		return gt_pushfail(L, "EOWNER",
				   "%s: the repository is owned by another user; if you trust it: "
				   "git config --global --add safe.directory %s",
				   context, context);
	if (gt_interrupted)
		return gt_pushinterrupted(L);
	if (disk_full(path))
		return gt_pushfail(L, "ENOSPC", "%s: no space left on the device holding %s",
				   context, path);
	return gt_pushfail(L, gt_git_code(error), "%s: %s", context, msg);
}

/* ---------------------------------------------------------------------------------------- */
/* Clocks */

long long gt_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double gt_monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void gt_sleep_ms(long long ms)
{
	struct timespec ts;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !gt_interrupted)
		;
}

/* ---------------------------------------------------------------------------------------- */
/* Lua from C */

int gt_cpcall(lua_State *L, lua_CFunction f, int arg, void *ud, int nresults)
{
	arg = lua_absindex(L, arg);
	lua_pushcfunction(L, f);
	lua_pushvalue(L, arg);
	lua_pushlightuserdata(L, ud);
	return lua_pcall(L, 2, nresults, 0) == LUA_OK ? 0 : -1;
}

void gt_append(lua_State *L, int t, const char *list, const char *s)
{
	lua_getfield(L, t, list);
	lua_pushstring(L, s);
	lua_seti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
	lua_pop(L, 1);
}

void gt_createmeta(lua_State *L, const char *tname, const luaL_Reg *meta, const luaL_Reg *methods)
{
	luaL_newmetatable(L, tname);
	luaL_setfuncs(L, meta, 0);
	if (methods != NULL) {
		lua_newtable(L);
		luaL_setfuncs(L, methods, 0);
		lua_setfield(L, -2, "__index");
	}
	lua_pop(L, 1);
}

/* ---------------------------------------------------------------------------------------- */
/* Options and paths */

static int optfield(lua_State *L, int opts, const char *field, int type)
{
	if (opts == 0 || lua_isnoneornil(L, opts))
		return 0;
	luaL_checktype(L, opts, LUA_TTABLE);
	if (lua_getfield(L, opts, field) == LUA_TNIL) {
		lua_pop(L, 1);
		return 0;
	}
	if (lua_type(L, -1) != type && !(type == LUA_TNUMBER && lua_isinteger(L, -1)))
		luaL_error(L, "bad option '%s' (%s expected, got %s)", field, lua_typename(L, type),
			   luaL_typename(L, -1));
	return 1;
}

lua_Integer gt_optfield_integer(lua_State *L, int opts, const char *field, lua_Integer def)
{
	lua_Integer v;
	int isint;
	if (!optfield(L, opts, field, LUA_TNUMBER))
		return def;
	v = lua_tointegerx(L, -1, &isint);
	if (!isint)
		luaL_error(L, "bad option '%s' (number has no integer representation)", field);
	lua_pop(L, 1);
	return v;
}

const char *gt_optfield_string(lua_State *L, int opts, const char *field, const char *def)
{
	const char *s;
	if (!optfield(L, opts, field, LUA_TSTRING))
		return def;
	/* The string stays referenced by the options table, which the caller keeps on the stack. */
	s = lua_tostring(L, -1);
	lua_pop(L, 1);
	return s;
}

int gt_optfield_boolean(lua_State *L, int opts, const char *field, int def)
{
	int b;
	if (!optfield(L, opts, field, LUA_TBOOLEAN))
		return def;
	b = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return b;
}

int gt_path_join(gt_PathBuf *b, const char *dir, const char *rel)
{
	size_t dl = strlen(dir), rl = strlen(rel);
	size_t slash = dl > 0 && dir[dl - 1] != '/' && rl > 0;
	size_t need = dl + slash + rl + 1;
	if (need > b->cap) {
		int alias = dir == b->ptr;
		char *p = (char *)realloc(b->ptr, need * 2);
		if (p == NULL)
			return -1;
		if (alias)
			dir = p;
		b->ptr = p;
		b->cap = need * 2;
	}
	memmove(b->ptr, dir, dl); /* dir may be b->ptr itself */
	if (slash)
		b->ptr[dl] = '/';
	memcpy(b->ptr + dl + slash, rel, rl + 1);
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* libgit2 string arrays, owned by gt (malloc) */

void gt_strarray_free(git_strarray *a)
{
	for (size_t i = 0; i < a->count; i++)
		free(a->strings[i]);
	free(a->strings);
	a->strings = NULL;
	a->count = 0;
}

int gt_strarray_add(git_strarray *a, const char *s)
{
	char **grown = (char **)realloc(a->strings, (a->count + 1) * sizeof *grown);
	if (grown == NULL)
		return -1;
	a->strings = grown;
	if ((a->strings[a->count] = strdup(s)) == NULL)
		return -1;
	a->count++;
	return 0;
}

int gt_optfield_strarray(lua_State *L, int opts, const char *field, git_strarray *a)
{
	lua_Integer n;
	gt_strarray_free(a);
	if (!optfield(L, opts, field, LUA_TTABLE))
		return 0;
	n = (lua_Integer)lua_rawlen(L, -1);
	for (lua_Integer i = 1; i <= n; i++) {
		if (lua_rawgeti(L, -1, i) != LUA_TSTRING) {
			gt_strarray_free(a);
			luaL_error(L, "bad option '%s' (entry #%d: string expected, got %s)", field,
				   (int)i, luaL_typename(L, -1));
		}
		if (gt_strarray_add(a, lua_tostring(L, -1)) < 0) {
			gt_strarray_free(a);
			luaL_error(L, "not enough memory");
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	return 1;
}
