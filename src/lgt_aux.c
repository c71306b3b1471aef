/*
** lgt_aux.c: helpers shared by gt's C modules, in the spirit of lauxlib.c. This is the one place
** where errno values, libgit2 errors and sqlite result codes become gt's stable error codes.
*/
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>
#include <sqlite3.h>

#include "gt.h"

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
