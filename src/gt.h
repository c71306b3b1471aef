/*
** gt.h: what gt's C files share: the module openers, the runtime, and the one mapping of
** system, libgit2 and sqlite failures to gt's stable error codes.
*/
#ifndef GT_H
#define GT_H

#include <stddef.h>

#include <lauxlib.h>
#include <lua.h>

/* C modules, one file each, loaded with require "gt.<name>" from package.preload. */
int luaopen_gt_fs(lua_State *L);
int luaopen_gt_hash(lua_State *L);
int luaopen_gt_ledger(lua_State *L);
int luaopen_gt_lock(lua_State *L);
int luaopen_gt_proc(lua_State *L);
int luaopen_gt_readline(lua_State *L);
int luaopen_gt_sys(lua_State *L);
int luaopen_gt_worktree(lua_State *L);

/* The built-in Lua, generated from lua/ by cmake/embed_lua.cmake. */
struct gt_module {
	const char *name;      /* "gt.commands.rig" */
	const char *chunkname; /* "@gt/commands/rig.lua" */
	const unsigned char *source;
	size_t len;
};
extern const struct gt_module gt_modules[];

/*
** runtime.c: creates the global `gt`, preloads the C modules, installs the searcher for the
** built-in Lua (or GT_RUNTIME), and removes relative entries from package.path/cpath.
*/
void gt_runtime_open(lua_State *L, int argc, char **argv);

/*
** lgt_aux.c, gt's lauxlib. Operational failures return `nil, message, CODE`, CODE being a
** stable string such as "ENOTFOUND"; gt_pushfail pushes those three values and returns 3.
*/
int gt_pushfail(lua_State *L, const char *code, const char *fmt, ...);
const char *gt_errno_code(int err); /* errno value -> code */
const char *gt_git_code(int error); /* libgit2 return value -> code */
const char *gt_sqlite_code(int rc); /* sqlite result code -> code */

/* Reads an optional integer field of the options table at index `opts` (0 = no table). */
lua_Integer gt_optfield_integer(lua_State *L, int opts, const char *field, lua_Integer def);
/* Reads an optional string field; returns def when absent. */
const char *gt_optfield_string(lua_State *L, int opts, const char *field, const char *def);
/* Reads an optional boolean field; returns def when absent. */
int gt_optfield_boolean(lua_State *L, int opts, const char *field, int def);

#endif
