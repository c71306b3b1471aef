/*
** lgt_git.c: gt.git, the git mechanism gt needs, on libgit2. Repositories are opened
** at explicit paths with no upward search, so no operation can land in an enclosing repository.
** Everything here is mechanism: which branch a polecat gets and what counts as safe to delete
** is decided in Lua.
**
** libgit2 is initialised when a repository is first opened or cloned (only commands that touch
** git do that), with strict hash verification off: with it on, libgit2 hashes every object it
** reads again, which is more than half of the time a checkout takes.
**
** No Lua error may jump through libgit2's frames: a libgit2 callback does its Lua work under
** gt_cpcall, and an error raised there stops the libgit2 call and is raised again once it has
** returned (see "libgit2 callbacks" below).
**
** gt.git is three files: this one (the handle, refs, worktrees, history, stashes, trees,
** submodules, and the registration of every method), lgt_git_status.c (repo:status and the
** index reader) and lgt_git_checkout.c (repo:write_tree_into); lgt_git.h is what they share.
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lgt_git.h"

typedef struct {
	git_repository *repo; /* NULL once closed */
} Repo;

/* ---------------------------------------------------------------------------------------- */
/* Error helpers */

/* Parses a hex object id; pushes nil, err, "EINVALID" and returns 3 when it is not one. */
static int parse_oid(lua_State *L, git_oid *out, const char *hex)
{
	if (strlen(hex) != GIT_OID_HEXSZ || git_oid_fromstr(out, hex) < 0)
		return gt_pushfail(L, "EINVALID", "%s: not an object id", hex);
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The gt.Repo userdata, object ids and revisions */

static Repo *torepo(lua_State *L)
{
	return (Repo *)luaL_checkudata(L, 1, REPO_TYPE);
}

git_repository *gt_checkrepo(lua_State *L, int arg)
{
	Repo *r = (Repo *)luaL_checkudata(L, arg, REPO_TYPE);
	if (r->repo == NULL)
		luaL_error(L, "attempt to use a closed repository");
	return r->repo;
}

static Repo *newrepo(lua_State *L)
{
	Repo *r = (Repo *)lua_newuserdatauv(L, sizeof *r, 0);
	r->repo = NULL;
	luaL_setmetatable(L, REPO_TYPE);
	return r;
}

void gt_pushoid(lua_State *L, const git_oid *oid)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof hex, oid);
	lua_pushstring(L, hex);
}

/* Resolves a revision (name, ref, hex id) to a commit id; 0 or a libgit2 error. */
static int resolve_commit(git_oid *out, git_repository *repo, const char *spec)
{
	git_object *obj = NULL, *commit = NULL;
	int error = git_revparse_single(&obj, repo, spec);
	if (error == 0)
		error = git_object_peel(&commit, obj, GIT_OBJECT_COMMIT);
	if (error == 0)
		git_oid_cpy(out, git_object_id(commit));
	git_object_free(commit);
	git_object_free(obj);
	return error;
}

/* ---------------------------------------------------------------------------------------- */
/* libgit2 callbacks
**
** A callback that touches Lua does it all (tables and strings included: memory errors too) in a
** small C function run by gt_cpcall, never directly: a Lua error that jumped through libgit2's
** frames would leak what they hold and leave it locked. When that function raises, the callback
** records it and returns -1, which stops the libgit2 call; the method frees what it holds and
** raises the error (left on top of the stack) again. Callbacks that only collect C data
** (collect_submodule) need none of this. */

/* A progress callback (clone, fetch) calling a Lua function. */
typedef struct {
	lua_State *L;
	int fn;     /* stack index of the Lua function, 0 for none */
	int failed; /* the callback raised; its error object is at the top of the stack */
} Callback;

/* Builds the stats table (ud) and calls the Lua function (argument 1), under gt_cpcall. */
static int call_progress(lua_State *L)
{
	const git_indexer_progress *stats = (const git_indexer_progress *)lua_touserdata(L, 2);
	lua_createtable(L, 0, 6);
	lua_pushinteger(L, stats->received_objects);
	lua_setfield(L, -2, "received_objects");
	lua_pushinteger(L, stats->indexed_objects);
	lua_setfield(L, -2, "indexed_objects");
	lua_pushinteger(L, stats->total_objects);
	lua_setfield(L, -2, "total_objects");
	lua_pushinteger(L, (lua_Integer)stats->received_bytes);
	lua_setfield(L, -2, "received_bytes");
	lua_pushinteger(L, stats->indexed_deltas);
	lua_setfield(L, -2, "indexed_deltas");
	lua_pushinteger(L, stats->total_deltas);
	lua_setfield(L, -2, "total_deltas");
	lua_remove(L, 2); /* [fn, stats] */
	lua_call(L, 1, 0);
	return 0;
}

static int on_transfer(const git_indexer_progress *stats, void *payload)
{
	Callback *cb = (Callback *)payload;
	lua_State *L = cb->L;
	if (cb->failed)
		return -1;
	if (cb->fn == 0)
		return 0;
	if (gt_cpcall(L, call_progress, cb->fn, (void *)stats, 0) != 0) {
		cb->failed = 1; /* the error object stays on top of the stack */
		return -1;
	}
	return 0;
}

/* Reads the function opts[field] into cb, and makes room on the stack for the calls. */
static void callback_init(Callback *cb, lua_State *L, int opts, const char *field)
{
	cb->L = L;
	cb->fn = 0;
	cb->failed = 0;
	luaL_checkstack(L, 4, NULL);
	if (opts != 0 && lua_istable(L, opts)) {
		lua_getfield(L, opts, field);
		if (lua_isnil(L, -1)) {
			lua_pop(L, 1);
		} else {
			luaL_checktype(L, -1, LUA_TFUNCTION);
			cb->fn = lua_gettop(L);
		}
	}
}

/* repo:stashes() walking the stashes into a list. */
typedef struct {
	lua_State *L;
	int list;           /* stack index of the list */
	const char *branch; /* NULL: all stashes */
	size_t branch_len;
	int failed; /* a Lua error stopped the walk; it is on top of the stack */
	/* the stash add_stash adds */
	size_t index;
	const char *message;
	const git_oid *oid;
} StashWalk;

/* Stash messages name the branch they were made on: "WIP on <b>: ..." or "On <b>: ...". */
static int names_branch(const char *msg, const char *branch, size_t len)
{
	if (strncmp(msg, "WIP on ", 7) == 0)
		msg += 7;
	else if (strncmp(msg, "On ", 3) == 0)
		msg += 3;
	else
		return 0;
	return strncmp(msg, branch, len) == 0 && msg[len] == ':';
}

/* Appends the stash w (ud) to the list (argument 1), under gt_cpcall. */
static int add_stash(lua_State *L)
{
	const StashWalk *w = (const StashWalk *)lua_touserdata(L, 2);
	lua_createtable(L, 0, 3);
	lua_pushinteger(L, (lua_Integer)w->index);
	lua_setfield(L, -2, "index");
	lua_pushstring(L, w->message);
	lua_setfield(L, -2, "message");
	gt_pushoid(L, w->oid);
	lua_setfield(L, -2, "oid");
	lua_seti(L, 1, (lua_Integer)lua_rawlen(L, 1) + 1);
	return 0;
}

static int on_stash(size_t index, const char *message, const git_oid *oid, void *payload)
{
	StashWalk *w = (StashWalk *)payload;
	if (w->branch != NULL && !names_branch(message, w->branch, w->branch_len))
		return 0;
	w->index = index;
	w->message = message;
	w->oid = oid;
	if (gt_cpcall(w->L, add_stash, w->list, w, 0) != 0) {
		w->failed = 1;
		return -1;
	}
	return 0;
}

/* repo:tree_find() walking a tree for the files of one name. */
typedef struct {
	lua_State *L;
	int list; /* stack index of the list */
	const char *name;
	lua_Integer found;
	int failed; /* a Lua error stopped the walk; it is on top of the stack */
	/* the file add_tree_entry adds */
	const char *root;
	const git_tree_entry *entry;
} TreeFind;

/* Appends the file f (ud) to the list (argument 1), under gt_cpcall. */
static int add_tree_entry(lua_State *L)
{
	TreeFind *f = (TreeFind *)lua_touserdata(L, 2);
	lua_createtable(L, 0, 2);
	lua_pushfstring(L, "%s%s", f->root, f->name);
	lua_setfield(L, -2, "path");
	gt_pushoid(L, git_tree_entry_id(f->entry));
	lua_setfield(L, -2, "oid");
	lua_seti(L, 1, ++f->found);
	return 0;
}

static int on_tree_entry(const char *root, const git_tree_entry *entry, void *payload)
{
	TreeFind *f = (TreeFind *)payload;
	if (git_tree_entry_type(entry) != GIT_OBJECT_BLOB ||
	    strcmp(git_tree_entry_name(entry), f->name) != 0)
		return 0;
	f->root = root;
	f->entry = entry;
	if (gt_cpcall(f->L, add_tree_entry, f->list, f, 0) != 0) {
		f->failed = 1;
		return -1;
	}
	return 0;
}

/* Collects the submodules' names in C (a git_strarray of gt's): their tables are made once
** git_submodule_foreach has returned. */
static int collect_submodule(git_submodule *sm, const char *name, void *payload)
{
	(void)sm;
	if (gt_strarray_add((git_strarray *)payload, name) < 0) {
		git_error_set_oom();
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Module functions */

/* libgit2 is shut down when the Lua state closes, after every repository has been freed. */
static int shutdown_libgit2(lua_State *L)
{
	(void)L;
	git_libgit2_shutdown();
	return 0;
}

void gt_libgit2_load(lua_State *L)
{
	static int ready = 0;
	if (ready)
		return;
	gt_libgit2_open(L);
	if (git_libgit2_init() < 0)
		luaL_error(L, "libgit2: %s",
			   git_error_last() ? git_error_last()->message : "init failed");
	/* Re-hashing every object read is over half a spawn's instructions (docs/design.md §1.5). */
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0);
	/* A sentinel whose finalizer runs after the repositories' (it is marked first). */
	lua_newuserdatauv(L, 0, 0);
	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, shutdown_libgit2);
	lua_setfield(L, -2, "__gc");
	lua_setmetatable(L, -2);
	lua_setfield(L, LUA_REGISTRYINDEX, "gt.git.libgit2");
	ready = 1;
}

/* git.open(path [, {bare = false, workdir = nil}]) -> gt.Repo | nil, err, code. Never
** searches parent folders. bare: open the git folder `path` as a bare repository, whatever its
** config says of a working tree (a submodule's git folder whose core.worktree names a folder
** that was moved); workdir, with bare: the working tree to give it instead. */
static int l_open(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	const char *workdir = gt_optfield_string(L, 2, "workdir", NULL);
	unsigned int flags = GIT_REPOSITORY_OPEN_NO_SEARCH;
	Repo *r;
	int error;
	if (gt_optfield_boolean(L, 2, "bare", 0))
		flags |= GIT_REPOSITORY_OPEN_BARE;
	luaL_argcheck(L, workdir == NULL || (flags & GIT_REPOSITORY_OPEN_BARE), 2,
		      "workdir needs bare = true");
	gt_libgit2_load(L);
	r = newrepo(L);
	error = git_repository_open_ext(&r->repo, path, flags, NULL);
	if (error == 0 && workdir != NULL)
		error = git_repository_set_workdir(r->repo, workdir, 0);
	if (error < 0)
		return fail_git(L, error, path);
	return 1;
}

/* git.clone(url, path [, {bare = true, progress = fn(stats)}]) -> gt.Repo | nil, err, code.
** origin's branches land under refs/remotes/origin/. */
static int l_clone(lua_State *L)
{
	const char *url = luaL_checkstring(L, 1);
	const char *path = luaL_checkstring(L, 2);
	git_clone_options opts;
	Callback cb;
	Repo *r;
	int error;
	gt_libgit2_load(L);
	git_clone_options_init(&opts, GIT_CLONE_OPTIONS_VERSION);
	opts.bare = gt_optfield_boolean(L, 3, "bare", 1);
	callback_init(&cb, L, lua_istable(L, 3) ? 3 : 0, "progress");
	opts.fetch_opts.callbacks.transfer_progress = on_transfer;
	opts.fetch_opts.callbacks.payload = &cb;
	r = newrepo(L);
	error = git_clone(&r->repo, url, path, &opts);
	if (cb.failed)
		return lua_error(L); /* the callback's error, on top */
	if (error < 0)
		return fail_git(L, error, url);
	return 1;
}

/* git.libgit2_version() -> "1.5.1" */
static int l_libgit2_version(lua_State *L)
{
	int major, minor, rev;
	gt_libgit2_load(L);
	git_libgit2_version(&major, &minor, &rev);
	lua_pushfstring(L, "%d.%d.%d", major, minor, rev);
	return 1;
}

/* ---------------------------------------------------------------------------------------- */
/* Repository methods: the handle, config and remotes */

static int r_close(lua_State *L)
{
	Repo *r = torepo(L);
	if (r->repo != NULL) {
		git_repository_free(r->repo);
		r->repo = NULL;
	}
	return 0;
}

static int r_tostring(lua_State *L)
{
	Repo *r = torepo(L);
	if (r->repo == NULL)
		lua_pushliteral(L, "gt.Repo (closed)");
	else
		lua_pushfstring(L, "gt.Repo (%s)", git_repository_path(r->repo));
	return 1;
}

/* repo:gitdir() -> path of the repository's git folder (a worktree's own admin folder). */
static int r_gitdir(lua_State *L)
{
	lua_pushstring(L, git_repository_path(checkrepo(L)));
	return 1;
}

/* repo:commondir() -> path of the folder shared by all worktrees of the repository. */
static int r_commondir(lua_State *L)
{
	lua_pushstring(L, git_repository_commondir(checkrepo(L)));
	return 1;
}

/* repo:workdir() -> path of the working tree, or nil for a bare repository. */
static int r_workdir(lua_State *L)
{
	const char *wd = git_repository_workdir(checkrepo(L));
	if (wd == NULL)
		luaL_pushfail(L);
	else
		lua_pushstring(L, wd);
	return 1;
}

/* repo:config(key) -> string | nil when unset. */
static int r_config(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *key = luaL_checkstring(L, 2);
	git_config *cfg = NULL;
	git_buf value = GIT_BUF_INIT;
	int error = git_repository_config_snapshot(&cfg, repo);
	if (error == 0)
		error = git_config_get_string_buf(&value, cfg, key);
	git_config_free(cfg);
	if (error == GIT_ENOTFOUND) {
		luaL_pushfail(L);
		return 1;
	}
	if (error < 0)
		return fail_git(L, error, key);
	lua_pushlstring(L, value.ptr, value.size);
	git_buf_dispose(&value);
	return 1;
}

/* repo:fetch(remote [, {prune = false, progress = fn(stats)}]) -> true, head | nil, err, code.
** Uses the remote's configured refspecs. head is the branch the remote's HEAD names
** ("refs/heads/main"), or nil when it did not say. */
static int r_fetch(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *name = luaL_checkstring(L, 2);
	git_fetch_options opts;
	git_remote *remote = NULL;
	git_buf head = GIT_BUF_INIT;
	Callback cb;
	int error;
	git_fetch_options_init(&opts, GIT_FETCH_OPTIONS_VERSION);
	opts.prune = gt_optfield_boolean(L, 3, "prune", 0) ? GIT_FETCH_PRUNE : GIT_FETCH_NO_PRUNE;
	callback_init(&cb, L, lua_istable(L, 3) ? 3 : 0, "progress");
	opts.callbacks.transfer_progress = on_transfer;
	opts.callbacks.payload = &cb;
	error = git_remote_lookup(&remote, repo, name);
	if (error == 0)
		error = git_remote_fetch(remote, NULL, &opts, "gt: fetch");
	if (cb.failed) {
		git_remote_free(remote);
		return lua_error(L);
	}
	if (error < 0) {
		git_remote_free(remote);
		return fail_git(L, error, name);
	}
	lua_pushboolean(L, 1);
	/* The remote's HEAD, as it said while connected (it stays known after the fetch). */
	if (git_remote_default_branch(&head, remote) == 0)
		lua_pushlstring(L, head.ptr, head.size);
	else
		lua_pushnil(L);
	git_error_clear();
	git_buf_dispose(&head);
	git_remote_free(remote);
	return 2;
}

/* repo:push() reporting: the progress function, the refs the remote rejected (collected in C:
** the first one's message is kept, the others counted) and which credentials were tried. */
typedef struct {
	Callback cb;
	size_t rejected;   /* refs the remote refused */
	char first[512];   /* "refs/heads/x: <the remote's reason>" of the first */
	int tried_agent;   /* ssh-agent was asked once */
	int tried_user;    /* a user name was given once */
	int no_credential; /* the transport wanted credentials gt cannot give */
} Push;

/* Builds {current, total, bytes} from the counts (ud) and calls the Lua function (argument
** 1), under gt_cpcall. */
static int call_push_progress(lua_State *L)
{
	const size_t *counts = (const size_t *)lua_touserdata(L, 2);
	lua_createtable(L, 0, 3);
	lua_pushinteger(L, (lua_Integer)counts[0]);
	lua_setfield(L, -2, "current");
	lua_pushinteger(L, (lua_Integer)counts[1]);
	lua_setfield(L, -2, "total");
	lua_pushinteger(L, (lua_Integer)counts[2]);
	lua_setfield(L, -2, "bytes");
	lua_remove(L, 2); /* [fn, stats] */
	lua_call(L, 1, 0);
	return 0;
}

static int on_push_transfer(unsigned int current, unsigned int total, size_t bytes, void *payload)
{
	Push *p = (Push *)payload;
	size_t counts[3];
	if (p->cb.failed)
		return -1;
	if (p->cb.fn == 0)
		return 0;
	counts[0] = current;
	counts[1] = total;
	counts[2] = bytes;
	if (gt_cpcall(p->cb.L, call_push_progress, p->cb.fn, counts, 0) != 0) {
		p->cb.failed = 1; /* the error object stays on top of the stack */
		return -1;
	}
	return 0;
}

static int on_push_update(const char *refname, const char *status, void *payload)
{
	Push *p = (Push *)payload;
	if (status != NULL && p->rejected++ == 0)
		snprintf(p->first, sizeof p->first, "%s: %s", refname, status);
	return 0;
}

/* Credentials as git would find them where libgit2 can: an ssh URL gets the keys of the
** ssh-agent ($SSH_AUTH_SOCK), once; anything else (https's user and password, which git asks
** its credential helpers for) is refused with a message saying so. */
static int on_push_credentials(git_credential **out, const char *url, const char *user,
			       unsigned int allowed, void *payload)
{
	Push *p = (Push *)payload;
	(void)url;
	if (user == NULL || user[0] == '\0')
		user = "git";
	if ((allowed & GIT_CREDENTIAL_SSH_KEY) && !p->tried_agent) {
		p->tried_agent = 1;
		return git_credential_ssh_key_from_agent(out, user);
	}
	if ((allowed & GIT_CREDENTIAL_USERNAME) && !p->tried_user) {
		p->tried_user = 1;
		return git_credential_username_new(out, user);
	}
	p->no_credential = 1;
	git_error_set_str(
	    GIT_ERROR_NET,
	    (allowed & GIT_CREDENTIAL_SSH_KEY)
		? "authentication failed: the ssh-agent's keys were refused (is a key "
		  "loaded? ssh-add -l)"
		: "authentication required: gt gives only ssh-agent keys (ssh URLs); "
		  "git's credential helpers are out of its reach: push yourself, or use "
		  "an ssh URL");
	return GIT_EAUTH;
}

/* libgit2's last error message. */
static const char *last_message(void)
{
	const git_error *e = git_error_last();
	return e && e->message ? e->message : "unknown libgit2 error";
}

/* repo:push(remote, refspecs [, {progress = fn({current, total, bytes})}]) -> true | nil, err,
** code. Pushes with explicit refspecs ({"refs/heads/x:refs/heads/x"}); the remote-tracking refs
** the remote's fetch refspecs map them to are updated. "EREJECTED" when the remote refused a
** ref (its reason in the message) or a push was not a fast-forward; "EAUTH" when credentials
** were needed that gt cannot give (see on_push_credentials). */
static int r_push(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *name = luaL_checkstring(L, 2);
	git_strarray specs = {NULL, 0};
	git_push_options opts;
	git_remote *remote = NULL;
	Push p;
	lua_Integer n;
	int error;
	luaL_checktype(L, 3, LUA_TTABLE);
	n = (lua_Integer)lua_rawlen(L, 3);
	luaL_argcheck(L, n > 0, 3, "no refspec");
	for (lua_Integer i = 1; i <= n; i++) {
		luaL_argcheck(L, lua_rawgeti(L, 3, i) == LUA_TSTRING, 3,
			      "refspecs must be strings");
		lua_pop(L, 1);
	}
	for (lua_Integer i = 1; i <= n; i++) {
		lua_rawgeti(L, 3, i);
		if (gt_strarray_add(&specs, lua_tostring(L, -1)) < 0) {
			gt_strarray_free(&specs);
			return luaL_error(L, "not enough memory");
		}
		lua_pop(L, 1);
	}
	memset(&p, 0, sizeof p);
	callback_init(&p.cb, L, lua_istable(L, 4) ? 4 : 0, "progress");
	git_push_options_init(&opts, GIT_PUSH_OPTIONS_VERSION);
	opts.callbacks.push_transfer_progress = on_push_transfer;
	opts.callbacks.push_update_reference = on_push_update;
	opts.callbacks.credentials = on_push_credentials;
	opts.callbacks.payload = &p;
	error = git_remote_lookup(&remote, repo, name);
	if (error == 0)
		error = git_remote_push(remote, &specs, &opts);
	git_remote_free(remote);
	gt_strarray_free(&specs);
	if (p.cb.failed)
		return lua_error(L); /* the progress function's error, on top */
	if (error == GIT_ENONFASTFORWARD)
		return gt_pushfail(L, "EREJECTED", "%s: %s", name, last_message());
	if (error < 0 && p.no_credential)
		return gt_pushfail(L, "EAUTH", "%s: %s", name, last_message());
	if (error < 0)
		return fail_git(L, error, name);
	if (p.rejected > 1)
		return gt_pushfail(L, "EREJECTED", "%s: rejected %s (and %d more)", name, p.first,
				   (int)(p.rejected - 1));
	if (p.rejected == 1)
		return gt_pushfail(L, "EREJECTED", "%s: rejected %s", name, p.first);
	lua_pushboolean(L, 1);
	return 1;
}

/* ---------------------------------------------------------------------------------------- */
/* Repository methods: refs and branches */

/* repo:head() -> {ref = "refs/heads/x" | nil, oid = hex | nil, detached, unborn}. */
static int r_head(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	git_reference *head = NULL, *resolved = NULL;
	int error = git_reference_lookup(&head, repo, "HEAD");
	if (error < 0)
		return fail_git(L, error, "HEAD");
	lua_createtable(L, 0, 4);
	if (git_reference_type(head) == GIT_REFERENCE_SYMBOLIC) {
		lua_pushstring(L, git_reference_symbolic_target(head));
		lua_setfield(L, -2, "ref");
		error = git_reference_resolve(&resolved, head);
		if (error == 0) {
			gt_pushoid(L, git_reference_target(resolved));
			lua_setfield(L, -2, "oid");
		} else if (error != GIT_ENOTFOUND) {
			git_reference_free(head);
			return fail_git(L, error, "HEAD");
		}
		lua_pushboolean(L, error == GIT_ENOTFOUND);
		lua_setfield(L, -2, "unborn");
		lua_pushboolean(L, 0);
	} else {
		gt_pushoid(L, git_reference_target(head));
		lua_setfield(L, -2, "oid");
		lua_pushboolean(L, 0);
		lua_setfield(L, -2, "unborn");
		lua_pushboolean(L, 1);
	}
	lua_setfield(L, -2, "detached");
	git_reference_free(resolved);
	git_reference_free(head);
	return 1;
}

/* repo:ref_create(name, id [, {force = false, message = "..."}]) -> true | nil, err, code
** ("EEXISTS" when it exists and force is not set). */
static int r_ref_create(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *name = luaL_checkstring(L, 2);
	const char *hex = luaL_checkstring(L, 3);
	int force = gt_optfield_boolean(L, 4, "force", 0);
	const char *message = gt_optfield_string(L, 4, "message", "gt: ref");
	git_oid oid;
	git_reference *ref = NULL;
	int error;
	if (parse_oid(L, &oid, hex) != 0)
		return 3;
	error = git_reference_create(&ref, repo, name, &oid, force, message);
	git_reference_free(ref);
	if (error < 0)
		return fail_git(L, error, name);
	lua_pushboolean(L, 1);
	return 1;
}

/* repo:ref_lookup(name) -> id the ref points at (peeled through symbolic refs) | nil, err,
** "ENOTFOUND". */
static int r_ref_lookup(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *name = luaL_checkstring(L, 2);
	git_oid oid;
	int error = git_reference_name_to_id(&oid, repo, name);
	if (error < 0)
		return fail_git(L, error, name);
	gt_pushoid(L, &oid);
	return 1;
}

/* repo:refs([glob]) -> {{name, oid}...}, in no set order (symbolic refs are skipped). */
static int r_refs(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *glob = luaL_optstring(L, 2, NULL);
	git_reference_iterator *it = NULL;
	git_reference *ref = NULL;
	lua_Integer n = 0;
	int error = glob ? git_reference_iterator_glob_new(&it, repo, glob)
			 : git_reference_iterator_new(&it, repo);
	if (error < 0)
		return fail_git(L, error, glob ? glob : "refs");
	lua_newtable(L);
	while ((error = git_reference_next(&ref, it)) == 0) {
		if (git_reference_type(ref) == GIT_REFERENCE_DIRECT) {
			lua_createtable(L, 0, 2);
			lua_pushstring(L, git_reference_name(ref));
			lua_setfield(L, -2, "name");
			gt_pushoid(L, git_reference_target(ref));
			lua_setfield(L, -2, "oid");
			lua_seti(L, -2, ++n);
		}
		git_reference_free(ref);
	}
	git_reference_iterator_free(it);
	if (error != GIT_ITEROVER)
		return fail_git(L, error, glob ? glob : "refs");
	return 1;
}

/* repo:ref_delete(name) -> true | nil, err, "ENOTFOUND" */
static int r_ref_delete(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *name = luaL_checkstring(L, 2);
	git_reference *ref = NULL;
	int error = git_reference_lookup(&ref, repo, name); /* removing a missing ref "succeeds" */
	git_reference_free(ref);
	if (error == 0)
		error = git_reference_remove(repo, name);
	if (error < 0)
		return fail_git(L, error, name);
	lua_pushboolean(L, 1);
	return 1;
}

/* repo:symref(name) -> the ref a symbolic ref names ("refs/remotes/origin/main") | nil when
** it is not symbolic or does not exist. */
static int r_symref(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *name = luaL_checkstring(L, 2);
	git_reference *ref = NULL;
	if (git_reference_lookup(&ref, repo, name) < 0 ||
	    git_reference_type(ref) != GIT_REFERENCE_SYMBOLIC) {
		git_error_clear();
		git_reference_free(ref);
		luaL_pushfail(L);
		return 1;
	}
	lua_pushstring(L, git_reference_symbolic_target(ref));
	git_reference_free(ref);
	return 1;
}

/* repo:symref_set(name, target [, message]) -> true | nil, err, code: makes name a symbolic ref
** to target (replacing what was there). */
static int r_symref_set(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *name = luaL_checkstring(L, 2);
	const char *target = luaL_checkstring(L, 3);
	const char *message = luaL_optstring(L, 4, "gt: symref");
	git_reference *ref = NULL;
	int error = git_reference_symbolic_create(&ref, repo, name, target, 1, message);
	git_reference_free(ref);
	if (error < 0)
		return fail_git(L, error, name);
	lua_pushboolean(L, 1);
	return 1;
}

/* repo:set_head(ref) -> true | nil, err, code: HEAD names branch `ref` ("refs/heads/x"), as
** git symbolic-ref does; the working tree and index are not touched. */
static int r_set_head(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *ref = luaL_checkstring(L, 2);
	int error = git_repository_set_head(repo, ref);
	if (error < 0)
		return fail_git(L, error, ref);
	lua_pushboolean(L, 1);
	return 1;
}

/* repo:detach_head([spec]) -> commit id | nil, err, code: HEAD detached at the commit `spec`
** names (default: where HEAD is); the working tree and index are not touched. */
static int r_detach_head(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *spec = luaL_optstring(L, 2, "HEAD");
	git_oid oid;
	int error = resolve_commit(&oid, repo, spec);
	if (error == 0)
		error = git_repository_set_head_detached(repo, &oid);
	if (error < 0)
		return fail_git(L, error, spec);
	gt_pushoid(L, &oid);
	return 1;
}

/* repo:branch_create(name, start [, {force = false}]) -> commit id | nil, err, code
** ("EEXISTS" when the branch exists). start is any revision; no upstream is configured. */
static int r_branch_create(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *name = luaL_checkstring(L, 2);
	const char *start = luaL_checkstring(L, 3);
	int force = gt_optfield_boolean(L, 4, "force", 0);
	git_oid oid;
	git_commit *commit = NULL;
	git_reference *ref = NULL;
	int error = resolve_commit(&oid, repo, start);
	if (error < 0)
		return fail_git(L, error, start);
	error = git_commit_lookup(&commit, repo, &oid);
	if (error == 0)
		error = git_branch_create(&ref, repo, name, commit, force);
	git_reference_free(ref);
	git_commit_free(commit);
	if (error < 0)
		return fail_git(L, error, name);
	gt_pushoid(L, &oid);
	return 1;
}

/* repo:branch_lookup(name) -> commit id of the local branch | nil, err, "ENOTFOUND". */
static int r_branch_lookup(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *name = luaL_checkstring(L, 2);
	git_reference *ref = NULL;
	int error = git_branch_lookup(&ref, repo, name, GIT_BRANCH_LOCAL);
	if (error < 0)
		return fail_git(L, error, name);
	gt_pushoid(L, git_reference_target(ref));
	git_reference_free(ref);
	return 1;
}

/* repo:branch_is_checked_out(name) -> boolean | nil, err, code: by HEAD of any worktree. */
static int r_branch_is_checked_out(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *name = luaL_checkstring(L, 2);
	git_reference *ref = NULL;
	int error = git_branch_lookup(&ref, repo, name, GIT_BRANCH_LOCAL);
	if (error == 0)
		error = git_branch_is_checked_out(ref);
	git_reference_free(ref);
	if (error < 0)
		return fail_git(L, error, name);
	lua_pushboolean(L, error);
	return 1;
}

/* repo:branch_delete(name [, {expect = id}]) -> true | nil, err, code ("ENOTFOUND"; "ECHECKEDOUT"
** when a worktree has it checked out; "ECHANGED" when it is not at `expect`, or moved while it
** was being deleted). */
static int r_branch_delete(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *name = luaL_checkstring(L, 2);
	const char *expect = gt_optfield_string(L, 3, "expect", NULL);
	git_reference *ref = NULL;
	git_oid want;
	int error;
	if (expect != NULL && parse_oid(L, &want, expect) != 0)
		return 3;
	error = git_branch_lookup(&ref, repo, name, GIT_BRANCH_LOCAL);
	if (error < 0)
		return fail_git(L, error, name);
	if (expect != NULL && (git_reference_target(ref) == NULL ||
			       !git_oid_equal(git_reference_target(ref), &want))) {
		git_reference_free(ref);
		return gt_pushfail(L, "ECHANGED", "%s: branch is no longer at %s", name, expect);
	}
	error = git_branch_is_checked_out(ref);
	if (error == 1) {
		git_reference_free(ref);
		return gt_pushfail(L, "ECHECKEDOUT", "%s: branch is checked out in a worktree",
				   name);
	}
	/* git_branch_delete checks, under the ref's lock, that it did not move. */
	if (error == 0)
		error = git_branch_delete(ref);
	git_reference_free(ref);
	if (error == GIT_EMODIFIED)
		return gt_pushfail(L, "ECHANGED", "%s: branch moved while it was being deleted",
				   name);
	if (error < 0)
		return fail_git(L, error, name);
	lua_pushboolean(L, 1);
	return 1;
}

/* ---------------------------------------------------------------------------------------- */
/* Repository methods: worktrees */

/* repo:worktree_add(name, path, branch [, {lock = reason, checkout = true}]) -> true | nil,
** err, code. Registers worktree `name` (git's admin folder .git/worktrees/<name>) at `path`,
** whose parent must exist and which must not, on the existing local branch. With
** checkout = false only the metadata is written; repo:checkout_head() on the new worktree then
** fills it, which lets callers keep a repository-wide lock short. A failure here may leave the
** admin folder and a partial folder behind: the caller rolls back. */
static int r_worktree_add(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *name = luaL_checkstring(L, 2);
	const char *path = luaL_checkstring(L, 3);
	const char *branch = luaL_checkstring(L, 4);
	const char *reason = gt_optfield_string(L, 5, "lock", NULL);
	int checkout = gt_optfield_boolean(L, 5, "checkout", 1);
	git_worktree_add_options opts;
	git_reference *ref = NULL;
	git_worktree *wt = NULL;
	int error = git_branch_lookup(&ref, repo, branch, GIT_BRANCH_LOCAL);
	git_worktree_add_options_init(&opts, GIT_WORKTREE_ADD_OPTIONS_VERSION);
	if (error < 0)
		return fail_git(L, error, branch);
	opts.ref = ref;
	opts.checkout_options.checkout_strategy = checkout ? GIT_CHECKOUT_SAFE : GIT_CHECKOUT_NONE;
	error = git_worktree_add(&wt, repo, name, path, &opts);
	if (error == 0 && reason != NULL)
		error = git_worktree_lock(wt, reason);
	git_worktree_free(wt);
	git_reference_free(ref);
	if (error < 0)
		return fail_git(L, error, path);
	lua_pushboolean(L, 1);
	return 1;
}

/* repo:checkout_head([{force = false, disable_filters = false}]) -> true | nil, err, code.
** Writes HEAD's tree into the working tree and index. force overwrites local changes (for a
** freshly added, empty worktree); disable_filters skips the per-file attribute lookup, which is
** only correct when no eol/crlf/ident/filter attribute or setting applies. */
static int r_checkout_head(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	git_checkout_options opts;
	int error;
	git_checkout_options_init(&opts, GIT_CHECKOUT_OPTIONS_VERSION);
	opts.checkout_strategy =
	    gt_optfield_boolean(L, 2, "force", 0) ? GIT_CHECKOUT_FORCE : GIT_CHECKOUT_SAFE;
	opts.disable_filters = gt_optfield_boolean(L, 2, "disable_filters", 0);
	error = git_checkout_head(repo, &opts);
	if (error < 0)
		return fail_git(L, error, "checkout");
	lua_pushboolean(L, 1);
	return 1;
}

/* Counts the files a checkout writes or removes (C data only). */
static void on_checkout_progress(const char *path, size_t done, size_t total, void *payload)
{
	(void)done;
	(void)total;
	if (path != NULL)
		(*(size_t *)payload)++;
}

/* Looks up the tree a revision or tree id names; 0 or a libgit2 error. */
int gt_lookup_tree(git_tree **out, git_repository *repo, const char *spec)
{
	git_object *obj = NULL;
	int error = git_revparse_single(&obj, repo, spec);
	if (error == 0)
		error = git_object_peel((git_object **)out, obj, GIT_OBJECT_TREE);
	git_object_free(obj);
	return error;
}

/* repo:checkout_tree(spec [, {baseline = tree, force = false, remove_untracked = false,
** disable_filters = false, paths = {...}}]) -> files written | nil, err, code. Makes the working
** tree and the index those of commit `spec`; HEAD is left as it is (repo:set_head). Safe unless
** force: only the files that differ between the baseline (a tree or revision: what the working
** tree is known to hold; default HEAD's tree) and the target are written or removed, and a file
** that is not as the baseline has it where the target changes it is a conflict ("ECONFLICT",
** nothing written). Untracked and ignored files are left alone, unless remove_untracked (not
** ignored ones). paths: the only paths to look at (exact paths, no patterns; a non-empty list):
** libgit2 then reads only their folders, not the whole working tree. */
static int r_checkout_tree(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *spec = luaL_checkstring(L, 2);
	const char *baseline = gt_optfield_string(L, 3, "baseline", NULL);
	git_checkout_options opts;
	git_object *target = NULL;
	git_tree *base = NULL;
	git_strarray paths = {NULL, 0};
	size_t written = 0;
	int error;
	git_checkout_options_init(&opts, GIT_CHECKOUT_OPTIONS_VERSION);
	opts.checkout_strategy =
	    gt_optfield_boolean(L, 3, "force", 0) ? GIT_CHECKOUT_FORCE : GIT_CHECKOUT_SAFE;
	if (gt_optfield_boolean(L, 3, "remove_untracked", 0))
		opts.checkout_strategy |= GIT_CHECKOUT_REMOVE_UNTRACKED;
	opts.disable_filters = gt_optfield_boolean(L, 3, "disable_filters", 0);
	/* Read last: nothing can raise once it holds strings. libgit2 reads an empty list as every
	** path. */
	luaL_argcheck(L, !gt_optfield_strarray(L, 3, "paths", &paths) || paths.count > 0, 3,
		      "paths is empty (it would mean every path)");
	opts.progress_cb = on_checkout_progress;
	opts.progress_payload = &written;
	if (paths.count > 0) {
		opts.paths = paths;
		opts.checkout_strategy |= GIT_CHECKOUT_DISABLE_PATHSPEC_MATCH;
	}
	error = git_revparse_single(&target, repo, spec);
	if (error == 0 && baseline != NULL && (error = gt_lookup_tree(&base, repo, baseline)) < 0) {
		git_object_free(target);
		gt_strarray_free(&paths);
		return fail_git(L, error, baseline);
	}
	opts.baseline = base;
	if (error == 0)
		error = git_checkout_tree(repo, target, &opts);
	git_tree_free(base);
	git_object_free(target);
	gt_strarray_free(&paths);
	if (error < 0)
		return fail_git(L, error, spec);
	lua_pushinteger(L, (lua_Integer)written);
	return 1;
}

/* Looks up worktree `name`; pushes nil, err, code and returns 3 on failure ("ENOTFOUND" when
** the repository has no such worktree: libgit2 1.5 reports that as a generic error). */
static int lookup_worktree(lua_State *L, git_worktree **out, git_repository *repo, const char *name)
{
	int error = git_worktree_lookup(out, repo, name);
	if (error < 0) {
		git_strarray names = {0};
		int known = 0;
		if (git_worktree_list(&names, repo) == 0) {
			for (size_t i = 0; i < names.count; i++)
				known |= strcmp(names.strings[i], name) == 0;
			git_strarray_dispose(&names);
			if (!known)
				return gt_pushfail(L, "ENOTFOUND", "%s: no such worktree", name);
		}
		return fail_git(L, error, name);
	}
	return 0;
}

static void push_broken(lua_State *L, const char *name)
{
	lua_createtable(L, 0, 3);
	lua_pushstring(L, name);
	lua_setfield(L, -2, "name");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "valid");
	lua_pushboolean(L, 1);
	lua_setfield(L, -2, "broken");
	lua_seti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
}

/* Appends to the list on top the folders of <commondir>/worktrees that git does not list (a
** record half-written by a killed command): git_worktree_list skips them. */
static void push_broken_records(lua_State *L, git_repository *repo, const git_strarray *listed)
{
	gt_PathBuf dir = {NULL, 0};
	DIR *d;
	struct dirent *de;
	if (gt_path_join(&dir, git_repository_commondir(repo), "worktrees") < 0 ||
	    (d = opendir(dir.ptr)) == NULL) {
		free(dir.ptr);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		int known = de->d_name[0] == '.';
		for (size_t i = 0; !known && i < listed->count; i++)
			known = strcmp(listed->strings[i], de->d_name) == 0;
		if (!known)
			push_broken(L, de->d_name);
	}
	closedir(d);
	free(dir.ptr);
}

/* repo:worktrees() -> {{name, path, locked = reason | false, valid}...}; a record git cannot
** read (half-written) is {name, valid = false, broken = true}. */
static int r_worktrees(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	git_strarray names = {0};
	int error = git_worktree_list(&names, repo);
	if (error < 0)
		return fail_git(L, error, "worktrees");
	lua_createtable(L, (int)names.count, 0);
	for (size_t i = 0; i < names.count; i++) {
		git_worktree *wt = NULL;
		git_buf reason = GIT_BUF_INIT;
		int locked;
		if (git_worktree_lookup(&wt, repo, names.strings[i]) < 0) {
			/* Removed while we were listing, or left half-written (a killed add): the
			** latter is listed, as broken. */
			struct stat st;
			gt_PathBuf admin = {NULL, 0};
			int there = gt_path_join(&admin, git_repository_commondir(repo),
						 "worktrees") == 0 &&
				    gt_path_join(&admin, admin.ptr, names.strings[i]) == 0 &&
				    stat(admin.ptr, &st) == 0;
			free(admin.ptr);
			git_error_clear();
			if (there)
				push_broken(L, names.strings[i]);
			continue;
		}
		lua_createtable(L, 0, 4);
		lua_pushstring(L, git_worktree_name(wt));
		lua_setfield(L, -2, "name");
		lua_pushstring(L, git_worktree_path(wt));
		lua_setfield(L, -2, "path");
		locked = git_worktree_is_locked(&reason, wt);
		if (locked > 0)
			lua_pushlstring(L, reason.ptr ? reason.ptr : "", reason.size);
		else
			lua_pushboolean(L, 0);
		lua_setfield(L, -2, "locked");
		lua_pushboolean(L, git_worktree_validate(wt) == 0);
		lua_setfield(L, -2, "valid");
		lua_seti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
		git_buf_dispose(&reason);
		git_worktree_free(wt);
	}
	push_broken_records(L, repo, &names);
	git_strarray_dispose(&names);
	return 1;
}

/* repo:worktree_lock(name, reason) -> true | nil, err, code ("ELOCKED" if already locked). */
static int r_worktree_lock(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *name = luaL_checkstring(L, 2);
	const char *reason = luaL_checkstring(L, 3);
	git_worktree *wt = NULL;
	int error;
	if (lookup_worktree(L, &wt, repo, name) != 0)
		return 3;
	error = git_worktree_lock(wt, reason);
	git_worktree_free(wt);
	if (error < 0)
		return fail_git(L, error, name);
	lua_pushboolean(L, 1);
	return 1;
}

/* repo:worktree_unlock(name) -> true (also when it was not locked) | nil, err, code. */
static int r_worktree_unlock(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *name = luaL_checkstring(L, 2);
	git_worktree *wt = NULL;
	int error;
	if (lookup_worktree(L, &wt, repo, name) != 0)
		return 3;
	error = git_worktree_unlock(wt);
	git_worktree_free(wt);
	if (error < 0)
		return fail_git(L, error, name);
	lua_pushboolean(L, 1);
	return 1;
}

/* repo:worktree_prune(name [, {valid = false, locked = false, working_tree = false}])
** -> true | nil, err, code. Removes git's record of the worktree; by default only when its
** folder is gone and it is not locked. working_tree also deletes the folder. */
static int r_worktree_prune(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *name = luaL_checkstring(L, 2);
	git_worktree_prune_options opts;
	git_worktree *wt = NULL;
	int error;
	git_worktree_prune_options_init(&opts, GIT_WORKTREE_PRUNE_OPTIONS_VERSION);
	if (gt_optfield_boolean(L, 3, "valid", 0))
		opts.flags |= GIT_WORKTREE_PRUNE_VALID;
	if (gt_optfield_boolean(L, 3, "locked", 0))
		opts.flags |= GIT_WORKTREE_PRUNE_LOCKED;
	if (gt_optfield_boolean(L, 3, "working_tree", 0))
		opts.flags |= GIT_WORKTREE_PRUNE_WORKING_TREE;
	if (lookup_worktree(L, &wt, repo, name) != 0)
		return 3;
	error = git_worktree_prune(wt, &opts);
	git_worktree_free(wt);
	if (error < 0)
		return fail_git(L, error, name);
	lua_pushboolean(L, 1);
	return 1;
}

/* ---------------------------------------------------------------------------------------- */
/* Repository methods: history */

/* Hides the commits of every ref matching glob from walk. Unlike git_revwalk_hide_glob, a
** symbolic ref whose target is gone (origin/HEAD after origin renamed its default branch) and
** a ref to something that is not a commit are skipped, not an error: what remains still
** counts. */
static int hide_refs(git_revwalk *walk, git_repository *repo, const char *glob)
{
	git_reference_iterator *it = NULL;
	git_reference *ref = NULL;
	int error = git_reference_iterator_glob_new(&it, repo, glob);
	while (error == 0 && (error = git_reference_next(&ref, it)) == 0) {
		git_object *obj = NULL, *commit = NULL;
		if (git_reference_peel(&obj, ref, GIT_OBJECT_ANY) == 0 &&
		    git_object_peel(&commit, obj, GIT_OBJECT_COMMIT) == 0)
			error = git_revwalk_hide(walk, git_object_id(commit));
		git_object_free(commit);
		git_object_free(obj);
		git_reference_free(ref);
	}
	git_reference_iterator_free(it);
	if (error != GIT_ITEROVER)
		return error;
	git_error_clear(); /* a skipped ref leaves its error behind */
	return 0;
}

/* Starts a walk, newest first, from the commit `spec` names, hiding the refs matching
** `hide_glob` (NULL: none). Returns 0, or pushes nil, err, code and returns 3. */
static int start_walk(lua_State *L, git_revwalk **walk, git_repository *repo, const char *spec,
		      const char *hide_glob)
{
	git_oid oid;
	int error = resolve_commit(&oid, repo, spec);
	*walk = NULL;
	if (error == 0)
		error = git_revwalk_new(walk, repo);
	if (error == 0)
		error = git_revwalk_push(*walk, &oid);
	if (error == 0 && hide_glob != NULL)
		error = hide_refs(*walk, repo, hide_glob);
	if (error < 0) {
		git_revwalk_free(*walk);
		*walk = NULL;
		return fail_git(L, error, spec);
	}
	git_revwalk_sorting(*walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
	return 0;
}

/* repo:commits_not_on(spec, glob [, limit = 100]) -> {{oid, summary}...}, total | nil, err,
** code. Lists commits reachable from spec and from no ref matching glob (for example
** refs/remotes/ followed by a star: commits on no remote-tracking branch), newest first; the list
** stops at limit, total counts them all. */
static int r_commits_not_on(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *spec = luaL_checkstring(L, 2);
	const char *glob = luaL_checkstring(L, 3);
	lua_Integer limit = luaL_optinteger(L, 4, 100);
	git_revwalk *walk;
	git_oid oid;
	lua_Integer total = 0;
	int error;
	if (start_walk(L, &walk, repo, spec, glob) != 0)
		return 3;
	lua_newtable(L);
	while ((error = git_revwalk_next(&oid, walk)) == 0) {
		git_commit *commit = NULL;
		if (++total > limit)
			continue;
		error = git_commit_lookup(&commit, repo, &oid);
		if (error < 0)
			break;
		lua_createtable(L, 0, 2);
		gt_pushoid(L, &oid);
		lua_setfield(L, -2, "oid");
		lua_pushstring(L, git_commit_summary(commit) ? git_commit_summary(commit) : "");
		lua_setfield(L, -2, "summary");
		lua_seti(L, -2, total);
		git_commit_free(commit);
	}
	git_revwalk_free(walk);
	if (error != GIT_ITEROVER)
		return fail_git(L, error, spec);
	lua_pushinteger(L, total);
	return 2;
}

/* repo:log(spec [, limit = 100]) -> {{oid, summary, message, author, email, time}...} | nil,
** err, code: the commits reachable from spec, newest first (time is Unix seconds). */
static int r_log(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *spec = luaL_checkstring(L, 2);
	lua_Integer limit = luaL_optinteger(L, 3, 100);
	git_revwalk *walk;
	git_oid oid;
	lua_Integer n = 0;
	int error = 0;
	if (start_walk(L, &walk, repo, spec, NULL) != 0)
		return 3;
	lua_newtable(L);
	while (n < limit && (error = git_revwalk_next(&oid, walk)) == 0) {
		git_commit *commit = NULL;
		const git_signature *author;
		error = git_commit_lookup(&commit, repo, &oid);
		if (error < 0)
			break;
		author = git_commit_author(commit);
		lua_createtable(L, 0, 6);
		gt_pushoid(L, &oid);
		lua_setfield(L, -2, "oid");
		lua_pushstring(L, git_commit_summary(commit) ? git_commit_summary(commit) : "");
		lua_setfield(L, -2, "summary");
		lua_pushstring(L, git_commit_message(commit) ? git_commit_message(commit) : "");
		lua_setfield(L, -2, "message");
		lua_pushstring(L, author->name);
		lua_setfield(L, -2, "author");
		lua_pushstring(L, author->email);
		lua_setfield(L, -2, "email");
		lua_pushinteger(L, (lua_Integer)git_commit_time(commit));
		lua_setfield(L, -2, "time");
		lua_seti(L, -2, ++n);
		git_commit_free(commit);
	}
	git_revwalk_free(walk);
	if (error < 0 && error != GIT_ITEROVER)
		return fail_git(L, error, spec);
	return 1;
}

/* repo:ahead_behind(local, upstream) -> ahead, behind | nil, err, code */
static int r_ahead_behind(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *a = luaL_checkstring(L, 2);
	const char *b = luaL_checkstring(L, 3);
	git_oid oa, ob;
	size_t ahead, behind;
	int error = resolve_commit(&oa, repo, a);
	if (error < 0)
		return fail_git(L, error, a);
	error = resolve_commit(&ob, repo, b);
	if (error < 0)
		return fail_git(L, error, b);
	error = git_graph_ahead_behind(&ahead, &behind, repo, &oa, &ob);
	if (error < 0)
		return fail_git(L, error, a);
	lua_pushinteger(L, (lua_Integer)ahead);
	lua_pushinteger(L, (lua_Integer)behind);
	return 2;
}

/* ---------------------------------------------------------------------------------------- */
/* Repository methods: stashes */

/* repo:stashes([branch]) -> {{index, message, oid}...}: the repository's stashes (shared by all
** its worktrees), or only those whose message names the branch (its short name). */
static int r_stashes(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	StashWalk w;
	int error;
	memset(&w, 0, sizeof w);
	w.L = L;
	w.branch = luaL_optlstring(L, 2, NULL, &w.branch_len);
	luaL_checkstack(L, 4, NULL);
	lua_newtable(L);
	w.list = lua_gettop(L);
	error = git_stash_foreach(repo, on_stash, &w);
	if (w.failed)
		return lua_error(L);
	if (error < 0 && error != GIT_ENOTFOUND)
		return fail_git(L, error, "stash");
	return 1;
}

/* How many entries the reflog of refs/stash has (0 when there is none); a libgit2 error. */
static int stash_count(git_repository *repo, size_t *n)
{
	git_reflog *log = NULL;
	int error = git_reflog_read(&log, repo, "refs/stash");
	if (error == 0)
		*n = git_reflog_entrycount(log);
	git_reflog_free(log);
	return error;
}

/* Appends entry `oid`, `message` to the reflog of refs/stash, by the repository's user. */
static int stash_log(git_repository *repo, const git_oid *oid, const char *message)
{
	git_reflog *log = NULL;
	git_signature *sig = NULL;
	int error = git_reflog_read(&log, repo, "refs/stash");
	if (error == 0 && git_signature_default(&sig, repo) < 0) {
		git_error_clear();
		error = git_signature_now(&sig, "gt", "gt@localhost");
	}
	if (error == 0)
		error = git_reflog_append(log, oid, sig, message);
	if (error == 0)
		error = git_reflog_write(log);
	git_signature_free(sig);
	git_reflog_free(log);
	return error;
}

/* repo:stash_store(commit, message) -> true | nil, err, code: commit `commit` (one git stash
** made) becomes stash@{0}, with `message` in refs/stash's reflog, as git stash store does; the
** stashes before it move down one. The stash list is that reflog: it is written whether or not
** the repository logs ref updates (a bare one does not, by default). */
static int r_stash_store(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *spec = luaL_checkstring(L, 2);
	const char *message = luaL_checkstring(L, 3);
	git_oid oid;
	git_reference *ref = NULL;
	size_t before = 0, after = 0;
	int error = resolve_commit(&oid, repo, spec);
	if (error < 0)
		return fail_git(L, error, spec);
	error = git_reference_ensure_log(repo, "refs/stash");
	if (error == 0)
		error = stash_count(repo, &before);
	if (error == 0)
		error = git_reference_create(&ref, repo, "refs/stash", &oid, 1, message);
	git_reference_free(ref);
	if (error == 0)
		error = stash_count(repo, &after);
	if (error == 0 && after == before)
		error = stash_log(repo, &oid, message);
	if (error < 0)
		return gt_pushgiterror(L, error, "refs/stash", git_repository_commondir(repo));
	lua_pushboolean(L, 1);
	return 1;
}

/* Drops entry `index` of refs/stash's reflog (its entry count `n`), and points refs/stash at
** the newest entry left (deletes it when none is), logging nothing: what git_stash_drop does,
** whether or not the repository logs ref updates. */
static int stash_drop(git_repository *repo, size_t index, size_t n)
{
	git_reflog *log = NULL;
	git_reference *ref = NULL;
	git_oid top;
	size_t now = 0;
	int error = git_reflog_read(&log, repo, "refs/stash");
	if (error == 0)
		error = git_reflog_drop(log, index, 1);
	if (error == 0)
		error = git_reflog_write(log);
	if (error == 0 && n > 1 && index == 0)
		git_oid_cpy(&top, git_reflog_entry_id_new(git_reflog_entry_byindex(log, 0)));
	git_reflog_free(log);
	if (error < 0 || (n > 1 && index > 0))
		return error;
	if (n == 1)
		return git_reference_remove(repo, "refs/stash");
	error = git_reference_create(&ref, repo, "refs/stash", &top, 1, NULL);
	git_reference_free(ref);
	if (error == 0)
		error = stash_count(repo, &now);
	if (error == 0 && now == n) { /* the update was logged: that entry goes too */
		error = git_reflog_read(&log, repo, "refs/stash");
		if (error == 0)
			error = git_reflog_drop(log, 0, 1);
		if (error == 0)
			error = git_reflog_write(log);
		git_reflog_free(log);
	}
	return error;
}

/* repo:stash_drop(index, expect) -> true | nil, err, code: drops stash@{index} while it is
** commit `expect` ("ECHANGED" when it is another one, "ENOTFOUND" when there is none). */
static int r_stash_drop(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	lua_Integer index = luaL_checkinteger(L, 2);
	const char *hex = luaL_checkstring(L, 3);
	git_oid expect;
	git_reflog *reflog = NULL;
	const git_reflog_entry *entry;
	size_t n;
	int same, error;
	luaL_argcheck(L, index >= 0, 2, "a stash index is not negative");
	if (parse_oid(L, &expect, hex) != 0)
		return 3;
	error = git_reflog_read(&reflog, repo, "refs/stash");
	if (error < 0)
		return fail_git(L, error, "refs/stash");
	n = git_reflog_entrycount(reflog);
	entry = git_reflog_entry_byindex(reflog, (size_t)index);
	same = entry != NULL && git_oid_equal(git_reflog_entry_id_new(entry), &expect);
	git_reflog_free(reflog);
	if (entry == NULL)
		return gt_pushfail(L, "ENOTFOUND", "stash@{%d}: no such stash", (int)index);
	if (!same)
		return gt_pushfail(L, "ECHANGED", "stash@{%d}: not %s any more", (int)index, hex);
	error = stash_drop(repo, (size_t)index, n);
	if (error < 0)
		return gt_pushgiterror(L, error, "refs/stash", git_repository_commondir(repo));
	lua_pushboolean(L, 1);
	return 1;
}

/* ---------------------------------------------------------------------------------------- */
/* Repository methods: trees and commits */

/* repo:resolve(spec) -> commit id (hex) | nil, err, code ("ENOTFOUND" for an unknown name). */
static int r_resolve(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *spec = luaL_checkstring(L, 2);
	git_oid oid;
	int error = resolve_commit(&oid, repo, spec);
	if (error < 0)
		return fail_git(L, error, spec);
	gt_pushoid(L, &oid);
	return 1;
}

/* repo:tree_of(spec) -> id of the commit's tree | nil, err, code. */
static int r_tree_of(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *spec = luaL_checkstring(L, 2);
	git_oid oid;
	git_commit *commit = NULL;
	int error = resolve_commit(&oid, repo, spec);
	if (error == 0)
		error = git_commit_lookup(&commit, repo, &oid);
	if (error < 0)
		return fail_git(L, error, spec);
	gt_pushoid(L, git_commit_tree_id(commit));
	git_commit_free(commit);
	return 1;
}

/* repo:commit_create{tree = id, parents = {ids}, message = s, author = {name, email}}
** -> commit id | nil, err, code. Creates a commit object and updates no ref. Without author,
** the repository's user.name/user.email are used, else "gt <gt@localhost>". */
static int r_commit_create(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *tree_hex, *message, *name, *email;
	git_oid tree_oid, commit_oid;
	git_tree *tree = NULL;
	git_signature *sig = NULL;
	const git_commit *parents[16];
	git_commit *owned[16];
	size_t nparents = 0;
	int error;
	luaL_checktype(L, 2, LUA_TTABLE);
	tree_hex = gt_optfield_string(L, 2, "tree", NULL);
	message = gt_optfield_string(L, 2, "message", NULL);
	luaL_argcheck(L, tree_hex != NULL, 2, "'tree' is required");
	luaL_argcheck(L, message != NULL, 2, "'message' is required");
	if (lua_getfield(L, 2, "parents") != LUA_TNIL) {
		luaL_checktype(L, -1, LUA_TTABLE);
		nparents = (size_t)lua_rawlen(L, -1);
		luaL_argcheck(L, nparents <= 16, 2, "at most 16 parents");
		for (size_t i = 1; i <= nparents; i++) { /* check before anything is allocated */
			lua_geti(L, -1, (lua_Integer)i);
			luaL_argcheck(L, lua_type(L, -1) == LUA_TSTRING, 2,
				      "parents must be commit ids");
			lua_pop(L, 1);
		}
	}
	if (lua_getfield(L, 2, "author") != LUA_TNIL) {
		luaL_checktype(L, -1, LUA_TTABLE);
		name = gt_optfield_string(L, lua_gettop(L), "name", "gt");
		email = gt_optfield_string(L, lua_gettop(L), "email", "gt@localhost");
		error = git_signature_now(&sig, name, email);
	} else if (git_signature_default(&sig, repo) < 0) {
		error = git_signature_now(&sig, "gt", "gt@localhost");
	} else {
		error = 0;
	}
	if (error < 0)
		return fail_git(L, error, "signature");
	if (parse_oid(L, &tree_oid, tree_hex) != 0) {
		git_signature_free(sig);
		return 3;
	}
	error = git_tree_lookup(&tree, repo, &tree_oid);
	for (size_t i = 0; error == 0 && i < nparents; i++) {
		git_oid oid;
		lua_geti(L, -2, (lua_Integer)i + 1);
		error = git_oid_fromstr(&oid, lua_tostring(L, -1));
		lua_pop(L, 1);
		if (error == 0)
			error = git_commit_lookup(&owned[i], repo, &oid);
		if (error < 0) {
			nparents = i; /* free only what was looked up */
			break;
		}
		parents[i] = owned[i];
	}
	if (error == 0)
		error = git_commit_create(&commit_oid, repo, NULL, sig, sig, NULL, message, tree,
					  nparents, parents);
	for (size_t i = 0; i < nparents; i++)
		git_commit_free(owned[i]);
	git_tree_free(tree);
	git_signature_free(sig);
	if (error < 0)
		return fail_git(L, error, "commit");
	gt_pushoid(L, &commit_oid);
	return 1;
}

/* repo:merge_trees(ours, theirs) -> tree id of the merge | nil, err, "ECONFLICT". Merges in
** memory only; nothing is written but tree objects. */
static int r_merge_trees(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *ours_spec = luaL_checkstring(L, 2);
	const char *theirs_spec = luaL_checkstring(L, 3);
	git_oid ours_oid, theirs_oid, tree;
	git_commit *ours = NULL, *theirs = NULL;
	git_index *index = NULL;
	int error = resolve_commit(&ours_oid, repo, ours_spec);
	if (error < 0)
		return fail_git(L, error, ours_spec);
	error = resolve_commit(&theirs_oid, repo, theirs_spec);
	if (error < 0)
		return fail_git(L, error, theirs_spec);
	error = git_commit_lookup(&ours, repo, &ours_oid);
	if (error == 0)
		error = git_commit_lookup(&theirs, repo, &theirs_oid);
	if (error == 0)
		error = git_merge_commits(&index, repo, ours, theirs, NULL);
	if (error == 0 && git_index_has_conflicts(index)) {
		git_index_free(index);
		git_commit_free(ours);
		git_commit_free(theirs);
		return gt_pushfail(L, "ECONFLICT", "%s: merging %s conflicts", ours_spec,
				   theirs_spec);
	}
	if (error == 0)
		error = git_index_write_tree_to(&tree, index, repo);
	git_index_free(index);
	git_commit_free(ours);
	git_commit_free(theirs);
	if (error < 0)
		return fail_git(L, error, theirs_spec);
	gt_pushoid(L, &tree);
	return 1;
}

/* repo:tree_find(spec, name) -> {{path, oid}...}: the files called `name` anywhere in the tree
** of the commit spec (for example every .gitattributes). */
static int r_tree_find(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *spec = luaL_checkstring(L, 2);
	TreeFind f;
	git_oid oid;
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	int error;
	memset(&f, 0, sizeof f);
	f.L = L;
	f.name = luaL_checkstring(L, 3);
	luaL_checkstack(L, 4, NULL);
	lua_newtable(L); /* before anything is acquired */
	f.list = lua_gettop(L);
	error = resolve_commit(&oid, repo, spec);
	if (error == 0)
		error = git_commit_lookup(&commit, repo, &oid);
	if (error == 0)
		error = git_commit_tree(&tree, commit);
	if (error == 0)
		error = git_tree_walk(tree, GIT_TREEWALK_PRE, on_tree_entry, &f);
	git_tree_free(tree);
	git_commit_free(commit);
	if (f.failed)
		return lua_error(L);
	if (error < 0)
		return fail_git(L, error, spec);
	return 1;
}

/* repo:blob(id) -> content | nil, err, code */
static int r_blob(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *hex = luaL_checkstring(L, 2);
	git_oid oid;
	git_blob *blob = NULL;
	int error;
	if (parse_oid(L, &oid, hex) != 0)
		return 3;
	error = git_blob_lookup(&blob, repo, &oid);
	if (error < 0)
		return fail_git(L, error, hex);
	lua_pushlstring(L, (const char *)git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
	git_blob_free(blob);
	return 1;
}

static const char *delta_name(git_delta_t status)
{
	switch (status) {
	case GIT_DELTA_ADDED: return "added";
	case GIT_DELTA_DELETED: return "deleted";
	case GIT_DELTA_MODIFIED: return "modified";
	case GIT_DELTA_TYPECHANGE: return "typechange";
	default: return "other";
	}
}

/* repo:diff_trees(old, new) -> {{path, status}...} | nil, err, code: the files that differ
** between two trees (ids; old nil: the empty tree), status "added", "deleted", "modified" or
** "typechange" (a gitlink is compared by the commit it names; no rename detection). */
static int r_diff_trees(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *a = lua_toboolean(L, 2) ? luaL_checkstring(L, 2) : NULL;
	const char *b = luaL_checkstring(L, 3);
	git_oid oa, ob;
	git_tree *ta = NULL, *tb = NULL;
	git_diff *diff = NULL;
	git_diff_options opts;
	size_t n;
	int error = 0;
	if ((a != NULL && parse_oid(L, &oa, a) != 0) || parse_oid(L, &ob, b) != 0)
		return 3;
	git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
	opts.flags = GIT_DIFF_INCLUDE_TYPECHANGE;
	opts.ignore_submodules = GIT_SUBMODULE_IGNORE_NONE;
	if (a != NULL)
		error = git_tree_lookup(&ta, repo, &oa);
	if (error == 0)
		error = git_tree_lookup(&tb, repo, &ob);
	if (error == 0)
		error = git_diff_tree_to_tree(&diff, repo, ta, tb, &opts);
	git_tree_free(ta);
	git_tree_free(tb);
	if (error < 0)
		return fail_git(L, error, "diff");
	n = git_diff_num_deltas(diff);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		lua_createtable(L, 0, 2);
		lua_pushstring(L, d->new_file.path ? d->new_file.path : d->old_file.path);
		lua_setfield(L, -2, "path");
		lua_pushstring(L, delta_name(d->status));
		lua_setfield(L, -2, "status");
		lua_seti(L, -2, (lua_Integer)i + 1);
	}
	git_diff_free(diff);
	return 1;
}

/* repo:commit(spec) -> {oid, tree, parents = {ids}, message, summary, author, email, time} |
** nil, err, code: one commit (time is Unix seconds). */
static int r_commit(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *spec = luaL_checkstring(L, 2);
	git_oid oid;
	git_commit *commit = NULL;
	const git_signature *author;
	unsigned int n;
	int error = resolve_commit(&oid, repo, spec);
	if (error == 0)
		error = git_commit_lookup(&commit, repo, &oid);
	if (error < 0)
		return fail_git(L, error, spec);
	author = git_commit_author(commit);
	n = git_commit_parentcount(commit);
	lua_createtable(L, 0, 8);
	gt_pushoid(L, &oid);
	lua_setfield(L, -2, "oid");
	gt_pushoid(L, git_commit_tree_id(commit));
	lua_setfield(L, -2, "tree");
	lua_createtable(L, (int)n, 0);
	for (unsigned int i = 0; i < n; i++) {
		gt_pushoid(L, git_commit_parent_id(commit, i));
		lua_seti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, "parents");
	lua_pushstring(L, git_commit_message(commit) ? git_commit_message(commit) : "");
	lua_setfield(L, -2, "message");
	lua_pushstring(L, git_commit_summary(commit) ? git_commit_summary(commit) : "");
	lua_setfield(L, -2, "summary");
	lua_pushstring(L, author->name);
	lua_setfield(L, -2, "author");
	lua_pushstring(L, author->email);
	lua_setfield(L, -2, "email");
	lua_pushinteger(L, (lua_Integer)git_commit_time(commit));
	lua_setfield(L, -2, "time");
	git_commit_free(commit);
	return 1;
}

/* repo:index_read_tree(spec) -> true | nil, err, code: the index of the repository (a
** worktree's own) becomes tree `spec` (a tree, or a commit's), written to disk; the working
** tree is not touched. Entries whose path, mode and object stay keep their stat data. */
static int r_index_read_tree(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *spec = luaL_checkstring(L, 2);
	git_tree *tree = NULL;
	git_index *index = NULL;
	int error = gt_lookup_tree(&tree, repo, spec);
	if (error < 0)
		return fail_git(L, error, spec);
	error = git_repository_index(&index, repo);
	if (error == 0)
		error = git_index_read(index, 0);
	if (error == 0)
		error = git_index_read_tree(index, tree);
	if (error == 0)
		error = git_index_write(index);
	git_index_free(index);
	git_tree_free(tree);
	if (error < 0)
		return gt_pushgiterror(L, error, "index", git_repository_path(repo));
	lua_pushboolean(L, 1);
	return 1;
}

/* repo:checkout_to(spec, dir [, {force = false, disable_filters = false}]) -> files written |
** nil, err, code: writes the files of tree `spec` (a tree, or a commit's) into the folder `dir`
** (absolute; made if missing), which need not be the repository's working tree: no index or HEAD is
** written, and nothing the tree does not name is touched. A file of the tree that is already
** in dir is a conflict ("ECONFLICT": nothing is written), unless force. */
static int r_checkout_to(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *spec = luaL_checkstring(L, 2);
	const char *dir = luaL_checkstring(L, 3);
	git_checkout_options opts;
	git_tree *tree = NULL;
	git_index *empty = NULL;
	luaL_argcheck(L, dir[0] == '/', 3, "an absolute path is required");
	git_strarray paths = {NULL, 0};
	size_t written = 0;
	int error;
	git_checkout_options_init(&opts, GIT_CHECKOUT_OPTIONS_VERSION);
	opts.checkout_strategy =
	    (gt_optfield_boolean(L, 4, "force", 0) ? GIT_CHECKOUT_FORCE : GIT_CHECKOUT_SAFE) |
	    GIT_CHECKOUT_DONT_UPDATE_INDEX | GIT_CHECKOUT_DISABLE_PATHSPEC_MATCH;
	opts.disable_filters = gt_optfield_boolean(L, 4, "disable_filters", 0);
	opts.target_directory = dir;
	opts.progress_cb = on_checkout_progress;
	opts.progress_payload = &written;
	error = gt_lookup_tree(&tree, repo, spec);
	if (error < 0)
		return fail_git(L, error, spec);
	/* Only the tree's own entries are looked at in dir (not, say, a worktree beside them);
	** against an empty baseline, nothing is removed. */
	for (size_t i = 0; error == 0 && i < git_tree_entrycount(tree); i++) {
		const git_tree_entry *entry = git_tree_entry_byindex(tree, i);
		if (gt_strarray_add(&paths, git_tree_entry_name(entry)) < 0) {
			git_error_set_oom();
			error = -1;
		}
	}
	if (error == 0)
		error = git_index_new(&empty);
	if (error == 0 && paths.count > 0) {
		opts.paths = paths;
		opts.baseline_index = empty;
		error = git_checkout_tree(repo, (git_object *)tree, &opts);
	}
	git_index_free(empty);
	gt_strarray_free(&paths);
	git_tree_free(tree);
	if (error < 0)
		return gt_pushgiterror(L, error, dir, dir);
	lua_pushinteger(L, (lua_Integer)written);
	return 1;
}

/* ---------------------------------------------------------------------------------------- */
/* Repository methods: submodules */

static void push_optional_oid(lua_State *L, const git_oid *oid, const char *field)
{
	if (oid != NULL) {
		gt_pushoid(L, oid);
		lua_setfield(L, -2, field);
	}
}

/* repo:submodules() -> {{name, path, url, head, index, workdir}...} | nil, err, code: the
** submodules of a repository with a working tree, whatever .gitmodules says about ignoring
** them. head and index are the commits the superproject's HEAD and index name for it; workdir is
** the commit checked out in its folder (nil when it is not checked out). */
static int any_config_entry(const git_config_entry *entry, void *payload)
{
	(void)entry;
	*(int *)payload = 1;
	return 1;
}

/* Whether the repository can have no submodule at all: no gitlink and no .gitmodules in its
** index, no .gitmodules in its working tree nor in HEAD's tree, no submodule in its config.
** git_submodule_foreach reads the whole of HEAD's tree to know; this reads one tree. */
static int has_no_submodules(git_repository *repo)
{
	const char *workdir = git_repository_workdir(repo);
	gt_PathBuf path = {NULL, 0};
	git_object *tree = NULL;
	git_config *cfg = NULL;
	StIndex ix;
	int none = 0, in_config = 0, error;
	if (workdir == NULL || gt_path_join(&path, git_repository_path(repo), "index") < 0)
		goto done;
	if (gt_index_read(path.ptr, &ix) != 0) {
		gt_index_free(&ix);
		goto done;
	}
	none = 1;
	for (size_t i = 0; i < ix.n && none; i++)
		none = ix.ents[i].mode != GIT_FILEMODE_COMMIT &&
		       strcmp(ix.ents[i].path, ".gitmodules") != 0;
	gt_index_free(&ix);
	if (!none || gt_path_join(&path, workdir, ".gitmodules") < 0 ||
	    access(path.ptr, F_OK) == 0 || errno != ENOENT) {
		none = 0;
		goto done;
	}
	if (git_repository_config_snapshot(&cfg, repo) < 0 ||
	    git_config_foreach_match(cfg, "^submodule\\.", any_config_entry, &in_config) < 0 ||
	    in_config) {
		none = 0;
		goto done;
	}
	error = git_revparse_single(&tree, repo, "HEAD^{tree}");
	if (error == 0)
		none = git_tree_entry_byname((git_tree *)tree, ".gitmodules") == NULL;
	else /* an unborn HEAD has no tree; for another failure, git_submodule_foreach says */
		none = error == GIT_ENOTFOUND || error == GIT_EUNBORNBRANCH;
done:
	git_error_clear();
	git_object_free(tree);
	git_config_free(cfg);
	free(path.ptr);
	return none;
}

static int r_submodules(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	git_strarray names = {NULL, 0};
	int error;
	if (has_no_submodules(repo)) {
		lua_newtable(L);
		return 1;
	}
	error = git_submodule_foreach(repo, collect_submodule, &names);
	if (error < 0) {
		gt_strarray_free(&names);
		return fail_git(L, error, "submodules");
	}
	lua_createtable(L, (int)names.count, 0);
	for (size_t i = 0; i < names.count; i++) {
		git_submodule *sm = NULL;
		if (git_submodule_lookup(&sm, repo, names.strings[i]) < 0) {
			git_error_clear();
			continue;
		}
		lua_createtable(L, 0, 6);
		lua_pushstring(L, git_submodule_name(sm));
		lua_setfield(L, -2, "name");
		lua_pushstring(L, git_submodule_path(sm));
		lua_setfield(L, -2, "path");
		if (git_submodule_url(sm) != NULL) {
			lua_pushstring(L, git_submodule_url(sm));
			lua_setfield(L, -2, "url");
		}
		push_optional_oid(L, git_submodule_head_id(sm), "head");
		push_optional_oid(L, git_submodule_index_id(sm), "index");
		push_optional_oid(L, git_submodule_wd_id(sm), "workdir");
		lua_seti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
		git_submodule_free(sm);
	}
	gt_strarray_free(&names);
	return 1;
}

/* ---------------------------------------------------------------------------------------- */
/* Registration */

static const luaL_Reg funcs[] = {
    {"open", l_open},
    {"clone", l_clone},
    {"libgit2_version", l_libgit2_version},
    {NULL, NULL},
};

static const luaL_Reg methods[] = {
    /* the handle, config and remotes */
    {"close", r_close},
    {"gitdir", r_gitdir},
    {"commondir", r_commondir},
    {"workdir", r_workdir},
    {"config", r_config},
    {"fetch", r_fetch},
    {"push", r_push},
    /* refs and branches */
    {"head", r_head},
    {"ref_create", r_ref_create},
    {"ref_lookup", r_ref_lookup},
    {"refs", r_refs},
    {"ref_delete", r_ref_delete},
    {"symref", r_symref},
    {"symref_set", r_symref_set},
    {"set_head", r_set_head},
    {"detach_head", r_detach_head},
    {"branch_create", r_branch_create},
    {"branch_lookup", r_branch_lookup},
    {"branch_is_checked_out", r_branch_is_checked_out},
    {"branch_delete", r_branch_delete},
    /* worktrees */
    {"worktree_add", r_worktree_add},
    {"checkout_head", r_checkout_head},
    {"checkout_tree", r_checkout_tree},
    {"worktrees", r_worktrees},
    {"worktree_lock", r_worktree_lock},
    {"worktree_unlock", r_worktree_unlock},
    {"worktree_prune", r_worktree_prune},
    /* status */
    {"status", gt_repo_status},
    /* history */
    {"commits_not_on", r_commits_not_on},
    {"log", r_log},
    {"ahead_behind", r_ahead_behind},
    /* stashes */
    {"stashes", r_stashes},
    {"stash_store", r_stash_store},
    {"stash_drop", r_stash_drop},
    /* trees and commits */
    {"resolve", r_resolve},
    {"tree_of", r_tree_of},
    {"commit_create", r_commit_create},
    {"merge_trees", r_merge_trees},
    {"tree_find", r_tree_find},
    {"blob", r_blob},
    {"diff_trees", r_diff_trees},
    {"commit", r_commit},
    {"index_read_tree", r_index_read_tree},
    {"checkout_to", r_checkout_to},
    {"write_tree_into", gt_repo_write_tree_into},
    /* submodules */
    {"submodules", r_submodules},
    {NULL, NULL},
};

static const luaL_Reg metamethods[] = {
    {"__index", NULL}, /* placeholder */
    {"__gc", r_close}, {"__close", r_close}, {"__tostring", r_tostring}, {NULL, NULL},
};

int luaopen_gt_git(lua_State *L)
{
	luaL_newlib(L, funcs);
	/* Known without loading libgit2 (gt --version); the soname pins the ABI. */
	lua_pushliteral(L, LIBGIT2_VERSION);
	lua_setfield(L, -2, "LIBGIT2_BUILT");
	gt_createmeta(L, REPO_TYPE, metamethods, methods);
	return 1;
}
