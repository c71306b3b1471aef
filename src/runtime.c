/*
** runtime.c: gt's Lua runtime. Preloads the C modules (as linit.c suggests to embedders),
** creates the one global C makes, `gt`, installs the searcher that finds the built-in Lua
** (compiled in, or under $GT_RUNTIME for development), and strips relative entries from
** package.path and package.cpath: gt runs inside repositories it does not trust, and Lua's
** default "./?.lua" would let any of them plant code that require picks up.
*/
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gt.h"

static const luaL_Reg preloaded[] = {
    {"gt.fs", luaopen_gt_fs},
    {"gt.hash", luaopen_gt_hash},
    {"gt.ledger", luaopen_gt_ledger},
    {"gt.lock", luaopen_gt_lock},
    {"gt.pg", luaopen_gt_pg},
    {"gt.proc", luaopen_gt_proc},
    {"gt.readline", luaopen_gt_readline},
    {"gt.snapshot", luaopen_gt_snapshot},
    {"gt.sys", luaopen_gt_sys},
    {"gt.git", luaopen_gt_git},
    {NULL, NULL},
};

static const struct gt_module *find_builtin(const char *name)
{
	for (const struct gt_module *m = gt_modules; m->name != NULL; m++)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

/* package.searchers entry for gt's own Lua modules. Built-ins are compiled in as bytecode
** (cmake/embed_lua.c) and loaded in binary mode only; files under GT_RUNTIME in text mode only. */
static int searcher_builtin(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	const char *runtime = getenv("GT_RUNTIME");
	if (runtime != NULL && *runtime != '\0') {
		luaL_Buffer b;
		const char *path;
		luaL_buffinit(L, &b);
		luaL_addstring(&b, runtime);
		luaL_addchar(&b, '/');
		luaL_addgsub(&b, name, ".", "/");
		luaL_addstring(&b, ".lua");
		luaL_pushresult(&b); /* [name, path] */
		path = lua_tostring(L, -1);
		if (access(path, R_OK) != 0) {
			lua_pushfstring(L, "no file '%s' (GT_RUNTIME)", path);
			return 1;
		}
		if (luaL_loadfilex(L, path, "t") != LUA_OK)
			return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s",
					  name, path, lua_tostring(L, -1));
		lua_insert(L, -2); /* [name, loader, path] */
		return 2;
	}
	const struct gt_module *m = find_builtin(name);
	if (m == NULL) {
		lua_pushfstring(L, "no built-in module '%s'", name);
		return 1;
	}
	if (luaL_loadbufferx(L, (const char *)m->source, m->len, m->chunkname, "b") != LUA_OK)
		return luaL_error(L, "error loading built-in module '%s':\n\t%s", name,
				  lua_tostring(L, -1));
	lua_pushstring(L, m->chunkname + 1);
	return 2;
}

/* gt._modules() -> the names of gt's built-in modules, C and Lua (for completion, gt doctor). */
static int builtin_modules(lua_State *L)
{
	lua_Integer n = 0;
	lua_newtable(L);
	for (const luaL_Reg *lib = preloaded; lib->name != NULL; lib++) {
		lua_pushstring(L, lib->name);
		lua_seti(L, -2, ++n);
	}
	for (const struct gt_module *m = gt_modules; m->name != NULL; m++) {
		lua_pushstring(L, m->name);
		lua_seti(L, -2, ++n);
	}
	return 1;
}

/* Keeps only the absolute templates of package[field]. */
static void strip_relative(lua_State *L, const char *field)
{
	luaL_Buffer b;
	const char *path, *end;
	lua_getfield(L, -1, field); /* [package, path] */
	path = lua_tostring(L, -1);
	luaL_buffinit(L, &b);
	for (; path != NULL && *path != '\0'; path = *end ? end + 1 : end) {
		end = strchr(path, ';');
		if (end == NULL)
			end = path + strlen(path);
		if (*path != '/')
			continue;
		if (luaL_bufflen(&b) > 0)
			luaL_addchar(&b, ';');
		luaL_addlstring(&b, path, (size_t)(end - path));
	}
	luaL_pushresult(&b); /* [package, path, clean] */
	lua_setfield(L, -3, field);
	lua_pop(L, 1);
}

void gt_runtime_open(lua_State *L, int argc, char **argv)
{
	char exe[PATH_MAX];
	ssize_t n;

	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
	for (const luaL_Reg *lib = preloaded; lib->name != NULL; lib++) {
		lua_pushcfunction(L, lib->func);
		lua_setfield(L, -2, lib->name);
	}
	lua_pop(L, 1);

	lua_getglobal(L, "package"); /* [package] */
	strip_relative(L, "path");
	strip_relative(L, "cpath");
	lua_getfield(L, -1, "searchers"); /* [package, searchers] */
	for (lua_Integer i = (lua_Integer)luaL_len(L, -1); i >= 2; i--) {
		lua_geti(L, -1, i);
		lua_seti(L, -2, i + 1);
	}
	lua_pushcfunction(L, searcher_builtin);
	lua_seti(L, -2, 2); /* after package.preload, before the file searchers */
	lua_pop(L, 2);

	lua_createtable(L, 0, 8); /* [gt] */
	lua_pushliteral(L, GT_VERSION);
	lua_setfield(L, -2, "version");
	lua_pushstring(L, gt_commit);
	lua_setfield(L, -2, "commit");
	lua_pushinteger(L, 1);
	lua_setfield(L, -2, "api_version");
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		lua_pushlstring(L, exe, (size_t)n);
	} else {
		lua_pushstring(L, argc > 0 ? argv[0] : "gt");
	}
	lua_setfield(L, -2, "executable");
	lua_pushcfunction(L, builtin_modules);
	lua_setfield(L, -2, "_modules");
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	lua_pushvalue(L, -2);
	lua_setfield(L, -2, "gt"); /* require("gt") returns it */
	lua_pop(L, 1);
	lua_setglobal(L, "gt");
}
