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
int luaopen_gt_pg(lua_State *L);
int luaopen_gt_proc(lua_State *L);
int luaopen_gt_readline(lua_State *L);
int luaopen_gt_snapshot(lua_State *L);
int luaopen_gt_sys(lua_State *L);
int luaopen_gt_git(lua_State *L);

/* The built-in Lua, compiled from lua/ to bytecode (`source`) by cmake/embed_lua.c. */
struct gt_module {
	const char *name;      /* "gt.commands.rig" */
	const char *chunkname; /* "@gt/commands/rig.lua" */
	const unsigned char *source;
	size_t len;
};
extern const struct gt_module gt_modules[];

/* The commit gt is built from ("abc1234", "abc1234-dirty" or "unknown"): gt_commit.c, written
** at build time by cmake/commit.cmake. */
extern const char gt_commit[];

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
/* A failed system call, as luaL_fileresult reports one: pushes nil, "<context>: <strerror(err)>",
** gt_errno_code(err) and returns 3. The context is a lua_pushfstring format ("%s", path). */
int gt_pusherrno(lua_State *L, int err, const char *fmt, ...);
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

/* Unix time in milliseconds (CLOCK_REALTIME). */
long long gt_now_ms(void);
/* Milliseconds, with fractions, of a clock that never jumps (CLOCK_MONOTONIC): for deadlines and
** durations. */
double gt_monotonic_ms(void);
/* Sleeps ms milliseconds; a signal cuts it short only when it set gt_interrupted. */
void gt_sleep_ms(long long ms);

/* Calls the C function f with two arguments, the value at index `arg` and the light userdata ud,
** in protected mode (as Lua 5.1's lua_cpcall), keeping nresults of its results: for C code that
** a Lua error must not jump through, such as a libgit2 callback (libgit2's frames would leak and
** stay locked) or a loop holding a file or folders open. Returns 0, or -1 with the error object
** on top of the stack, to raise with lua_error once the C code has freed what it holds. Needs 3
** free stack slots. */
int gt_cpcall(lua_State *L, lua_CFunction f, int arg, void *ud, int nresults);
/* Appends the string s to the list t[list] (t: a stack index). */
void gt_append(lua_State *L, int t, const char *list, const char *s);
/* Creates the metatable tname of a userdata type: the metamethods `meta`, and a table of the
** `methods` (NULL: none) as __index. */
void gt_createmeta(lua_State *L, const char *tname, const luaL_Reg *meta, const luaL_Reg *methods);

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
struct git_strarray;
/* Pushes nil, "<context>: <what happened>", CODE for the libgit2 failure `error`, with libgit2's
** message turned into one a user can act on where its own is misleading (a repository owned by
** another user, an interrupt, a full disk). `path` (may be NULL) is where objects or files were
** being written, to tell a full disk. Returns 3. */
int gt_pushgiterror(lua_State *L, int error, const char *context, const char *path);
/* Frees the strings of a (malloc'd by gt, not by libgit2) and empties it. */
void gt_strarray_free(struct git_strarray *a);
/* Appends a copy of s to a; 0, or -1 when out of memory. */
int gt_strarray_add(struct git_strarray *a, const char *s);
/* Reads the optional list of strings `field` of the options table at index `opts` (0 = no table)
** into a, emptied first. Returns 1 if the field is there (0: a stays empty); raises, a emptied,
** on an entry that is not a string. */
int gt_optfield_strarray(lua_State *L, int opts, const char *field, struct git_strarray *a);
/* The repository of the gt.Repo at `arg`; raises if it is not one or is closed. */
struct git_repository *gt_checkrepo(lua_State *L, int arg);
void gt_pushoid(lua_State *L, const struct git_oid *oid);
/* Ignores, in memory, the assume-unchanged and skip-worktree flags of the entries whose file
** exists under workdir (and forgets their stat data), so that their edits are seen. 0 or a
** libgit2 error. */
int gt_unhide_flagged(struct git_index *index, const char *workdir);
/* Whether rel (a file's path) matches one of the keep patterns as .gitignore would match it
** (lgt_snapshot.c). */
int gt_keep_match(const struct git_strarray *keep, const char *rel);

#endif
