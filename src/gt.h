/*
** gt.h: what gt's C files share: the module openers, the runtime, and the one mapping of
** system, libgit2 and sqlite failures to gt's stable error codes.
*/
#ifndef GT_H
#define GT_H

#include <signal.h>
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
int luaopen_gt_snapshot(lua_State *L);
int luaopen_gt_sys(lua_State *L);
int luaopen_gt_git(lua_State *L);

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

/*
** Set by gt's SIGINT/SIGTERM handler (main.c). C loops that can run long (walking or deleting a
** tree, hashing, copying) check it and return nil, "interrupted", "EINTR", so that control gets
** back to Lua, where the interrupt is raised as an error at the next instruction.
*/
extern volatile sig_atomic_t gt_interrupted;
int gt_pushinterrupted(lua_State *L); /* nil, "interrupted", "EINTR"; returns 3 */

/* Reads an optional integer field of the options table at index `opts` (0 = no table). */
lua_Integer gt_optfield_integer(lua_State *L, int opts, const char *field, lua_Integer def);
/* Reads an optional string field; returns def when absent. */
const char *gt_optfield_string(lua_State *L, int opts, const char *field, const char *def);
/* Reads an optional boolean field; returns def when absent. */
int gt_optfield_boolean(lua_State *L, int opts, const char *field, int def);

/* A path in a growing heap buffer; free(ptr) when done. */
typedef struct {
	char *ptr;
	size_t cap;
} gt_PathBuf;
/* Sets b to dir + "/" + rel (no second "/" when dir ends with one; rel "" gives dir). Returns
** 0, or -1 when out of memory. */
int gt_path_join(gt_PathBuf *b, const char *dir, const char *rel);

/*
** Shared by gt.git and gt.snapshot (libgit2 types, declared without git2.h).
*/
struct git_repository;
struct git_index;
struct git_oid;
/* The repository of the gt.Repo at `arg`; raises if it is not one or is closed. */
struct git_repository *gt_checkrepo(lua_State *L, int arg);
void gt_pushoid(lua_State *L, const struct git_oid *oid);
/* Ignores, in memory, the assume-unchanged and skip-worktree flags of the entries whose file
** exists under workdir (and forgets their stat data), so that their edits are seen. 0 or a
** libgit2 error. */
int gt_unhide_flagged(struct git_index *index, const char *workdir);

#endif
