/*
** lgt_snapshot.c: gt.snapshot, a folder as git sees it, for saving what is in it and for
** deleting it without losing anything. A snapshot is opened on a folder against a repository,
** whose ignore rules and index (what is tracked, with the stat data of each file) it uses:
**
**   local s <close> = snapshot.open(repo, dir, {index = admin .. "index"})
**   local found = s:scan({keep = {".env*"}})   -- unreadable folders, ignored content, ...
**   local tree, index_tree = s:take({keep = {".env*"}})  -- the folder as a tree object
**   s:remove()                                 -- delete what take saw, and nothing else
**
** take writes the whole folder (tracked and untracked files; ignored ones only when a keep
** pattern names them) as a tree into the repository, touching neither the folder nor the index
** file. remove deletes a file only while it is as take saw it (same size, times and inode; or,
** only touched, the same content), and an ignored one; anything that changed or appeared since,
** and any repository inside, stops it with "ECHANGED", so a folder that changes while gt deletes
** it fails safe. The folder may have been moved, as a whole, between take and remove. Edits that
** an index hides with the assume-unchanged or skip-worktree flags are seen: those flags are
** ignored, in memory.
**
** Mechanism only: which folder, which patterns, and what to do about a change is decided in Lua.
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gt.h"
#include "git2_lazy.h"

#define SNAPSHOT_TYPE "gt.Snapshot"

typedef struct {
	git_repository *repo; /* private handle, working tree = dir; NULL once closed */
	git_index *index;     /* what is tracked; after take, everything take saw */
	char *dir;            /* with a final "/" */
	int all;              /* no ignore rules: every file counts (a folder git does not own) */
	int taken;
	int index_tree_state; /* 0: not computed yet, 1: index_tree holds it, -1: there is none */
	git_oid index_tree;   /* the index as it was opened */
	git_strarray only;    /* top-level names the snapshot is limited to; count 0: everything */
	git_strarray keep;    /* patterns of ignored files that take keeps (as of the last take) */
} Snapshot;

/* ---------------------------------------------------------------------------------------- */
/* Helpers */

/* Matches text `t` against .gitignore pattern `p` (`start`: the pattern's first character):
** "*" and "?" stop at "/", "[...]" is a set ("!" or "^" negates, "a-z" a range), "\" quotes,
** and "**" as a whole component matches any number of components. */
static int wild(const char *start, const char *p, const char *t)
{
	while (*p) {
		if (p[0] == '*' && p[1] == '*' && (p == start || p[-1] == '/') &&
		    (p[2] == '/' || p[2] == '\0')) {
			if (p[2] == '\0')
				return 1; /* "dir" then "**": everything in it */
			p += 3;           /* "**" "/": no component, or any */
			for (;;) {
				if (wild(start, p, t))
					return 1;
				if ((t = strchr(t, '/')) == NULL)
					return 0;
				t++;
			}
		}
		if (*p == '*') {
			p++;
			for (;; t++) {
				if (wild(start, p, t))
					return 1;
				if (*t == '\0' || *t == '/')
					return 0;
			}
		}
		if (*t == '\0')
			return 0;
		if (*p == '[') {
			const char *q = p + 1;
			int negate = *q == '!' || *q == '^', hit = 0;
			if (negate)
				q++;
			do {
				if (q[1] == '-' && q[2] != ']' && q[2] != '\0') {
					hit |= (unsigned char)*t >= (unsigned char)q[0] &&
					       (unsigned char)*t <= (unsigned char)q[2];
					q += 3;
				} else {
					hit |= *q == *t;
					q++;
				}
			} while (*q && *q != ']');
			if (*q != ']') /* no closing "]": a plain character */
				goto literal;
			if (hit == negate || *t == '/')
				return 0;
			p = q + 1;
			t++;
			continue;
		}
		if (*p == '?') {
			if (*t == '/')
				return 0;
			p++;
			t++;
			continue;
		}
	literal:
		if (*p == '\\' && p[1] != '\0')
			p++;
		if (*p != *t)
			return 0;
		p++;
		t++;
	}
	return *t == '\0';
}

/* Whether `rel` (a file's path) matches a keep pattern as .gitignore would match it: a pattern
** with no "/" but a trailing one matches the name of any file or folder on the path
** (".env*" matches "a/.env.local" and ".env.d/x"); one with a "/" is anchored at the top ("/"
** at its start is dropped); one that ends with "/" matches folders only; a folder that
** matches takes everything in it. */
static int keep_match(const git_strarray *keep, const char *rel)
{
	char pat[1024], part[1024];
	for (size_t i = 0; i < keep->count; i++) {
		const char *p = keep->strings[i];
		size_t n = strlen(p);
		int dir_only, anchored;
		if (n == 0 || n >= sizeof pat)
			continue;
		memcpy(pat, p, n + 1);
		dir_only = pat[n - 1] == '/';
		if (dir_only)
			pat[--n] = '\0';
		anchored = strchr(pat, '/') != NULL;
		p = pat[0] == '/' ? pat + 1 : pat;
		for (const char *c = rel;;) {
			const char *end = strchr(c, '/');
			size_t upto = end ? (size_t)(end - rel) : strlen(rel);
			size_t len = end ? (size_t)(end - c) : strlen(c);
			if (anchored && upto < sizeof part) { /* the path up to this component */
				memcpy(part, rel, upto);
				part[upto] = '\0';
				if ((end || !dir_only) && wild(p, p, part))
					return 1;
			} else if (!anchored && len < sizeof part) { /* this component's name */
				memcpy(part, c, len);
				part[len] = '\0';
				if ((end || !dir_only) && wild(p, p, part))
					return 1;
			}
			if (end == NULL)
				break;
			c = end + 1;
		}
	}
	return 0;
}

int gt_keep_match(const struct git_strarray *keep, const char *rel)
{
	return keep_match(keep, rel);
}

static int in_list(const git_strarray *a, const char *name)
{
	for (size_t i = 0; i < a->count; i++)
		if (strcmp(a->strings[i], name) == 0)
			return 1;
	return 0;
}

/* Whether something (a file or a folder) named .git is in the folder `rel_slash` ("a/b/"). */
static int holds_dotgit(gt_PathBuf *scratch, const char *dir, const char *rel_slash)
{
	struct stat st;
	return gt_path_join(scratch, dir, rel_slash) == 0 &&
	       gt_path_join(scratch, scratch->ptr, ".git") == 0 && lstat(scratch->ptr, &st) == 0;
}

/* Whether the index tracks anything under the folder `rel_slash` ("a/b/"). */
static int tracks_under(git_index *index, const char *rel_slash)
{
	size_t pos;
	return git_index_find_prefix(&pos, index, rel_slash) == 0;
}

/* The stat data an index entry records, compared as git does to tell a file unchanged. */
static int stat_matches(const git_index_entry *e, const struct stat *st)
{
	if (S_ISLNK(st->st_mode) != (e->mode == GIT_FILEMODE_LINK))
		return 0;
	if (S_ISREG(st->st_mode) &&
	    ((st->st_mode & 0100) != 0) != (e->mode == GIT_FILEMODE_BLOB_EXECUTABLE))
		return 0;
	return e->file_size == (uint32_t)st->st_size &&
	       e->mtime.seconds == (int32_t)st->st_mtim.tv_sec &&
	       e->mtime.nanoseconds == (uint32_t)st->st_mtim.tv_nsec &&
	       e->ctime.seconds == (int32_t)st->st_ctim.tv_sec &&
	       e->ctime.nanoseconds == (uint32_t)st->st_ctim.tv_nsec &&
	       e->ino == (uint32_t)st->st_ino;
}

/* Whether the file at `abs` (lstat `st`) holds what index entry `e` says, read again: for an
** entry whose stat data is stale (a file touched, or checked out in the instant its index was
** written), the content decides, as git's does. */
static int content_matches(Snapshot *s, const git_index_entry *e, const char *abs,
			   const struct stat *st)
{
	git_oid oid;
	if (S_ISLNK(st->st_mode)) {
		char target[4096];
		ssize_t n = readlink(abs, target, sizeof target);
		if (e->mode != GIT_FILEMODE_LINK || n < 0 || (size_t)n >= sizeof target ||
		    git_odb_hash(&oid, target, (size_t)n, GIT_OBJECT_BLOB) < 0)
			return 0;
	} else if (!S_ISREG(st->st_mode) ||
		   ((st->st_mode & 0100) != 0) != (e->mode == GIT_FILEMODE_BLOB_EXECUTABLE) ||
		   git_repository_hashfile(&oid, s->repo, abs, GIT_OBJECT_BLOB, e->path) < 0) {
		git_error_clear();
		return 0;
	}
	return git_oid_equal(&oid, &e->id);
}

/* Whether `rel` (a folder when it ends with "/") is ignored by the repository's rules. */
static int is_ignored(Snapshot *s, const char *rel)
{
	int ignored = 0;
	if (s->all)
		return 0;
	if (git_ignore_path_is_ignored(&ignored, s->repo, rel) < 0) {
		git_error_clear();
		return 0; /* when in doubt, a file is work */
	}
	return ignored;
}

int gt_unhide_flagged(git_index *index, const char *workdir)
{
	size_t n = git_index_entrycount(index);
	gt_PathBuf path = {NULL, 0};
	int error = 0;
	for (size_t i = 0; i < n && error == 0; i++) {
		const git_index_entry *e = git_index_get_byindex(index, i);
		git_index_entry copy;
		struct stat st;
		if (!(e->flags & GIT_INDEX_ENTRY_VALID) &&
		    !(e->flags_extended & GIT_INDEX_ENTRY_SKIP_WORKTREE))
			continue;
		if (gt_path_join(&path, workdir, e->path) < 0) {
			git_error_set_oom();
			error = -1;
			break;
		}
		if (lstat(path.ptr, &st) != 0)
			continue;
		copy = *e;
		copy.flags &= (uint16_t)~GIT_INDEX_ENTRY_VALID;
		copy.flags_extended &= (uint16_t)~GIT_INDEX_ENTRY_SKIP_WORKTREE;
		memset(&copy.mtime, 0, sizeof copy.mtime);
		memset(&copy.ctime, 0, sizeof copy.ctime);
		copy.file_size = 0;
		copy.ino = 0;
		error = git_index_add(index, &copy);
	}
	free(path.ptr);
	return error;
}

/* Pushes nil, "<context>: <message>", CODE for a libgit2 failure while saving into the
** repository: a full disk is said as such (libgit2 reports it as "callback returned -1"). */
static int fail_git(lua_State *L, Snapshot *s, int error, const char *context)
{
	return gt_pushgiterror(L, error, context,
			       s->repo != NULL ? git_repository_commondir(s->repo) : NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* The walk: what git's own iterators skip or swallow (unreadable folders, ignored content) */

enum { W_IGNORED, W_KEPT, W_FILE, W_UNREADABLE, W_NESTED, W_SPECIAL };

typedef struct Walk Walk;
struct Walk {
	Snapshot *s;
	const git_strarray *keep;
	const git_strarray *skip; /* folders not to walk (repositories proven apart), or NULL */
	gt_PathBuf abs, scratch;
	char *rel; /* relative path of the current entry (folders end with "/") */
	size_t rel_cap;
	/* Called for each entry of interest: kind W_*, st (NULL for W_UNREADABLE), err (errno
	** for W_UNREADABLE). Returns 0 to go on, < 0 to stop the walk with that error. */
	int (*visit)(Walk *w, int kind, const char *rel, const struct stat *st, int err);
	void *ud;
	int stop_code; /* errno of a system failure that stopped the walk, or 0 */
};

/* Sets the relative path in *buf (capacity *cap) to its first `at` characters, then name and
** suffix ("/" for a folder): the walks build each entry's path on their folder's. -1 when out
** of memory. */
static int put_at(char **buf, size_t *cap, size_t at, const char *name, const char *suffix)
{
	size_t nl = strlen(name), sl = strlen(suffix), need = at + nl + sl + 1;
	if (need > *cap) {
		char *p = (char *)realloc(*buf, need * 2);
		if (p == NULL)
			return -1;
		*buf = p;
		*cap = need * 2;
	}
	memcpy(*buf + at, name, nl);
	memcpy(*buf + at + nl, suffix, sl + 1);
	return 0;
}

static int rel_set(Walk *w, size_t at, const char *name, const char *suffix)
{
	if (put_at(&w->rel, &w->rel_cap, at, name, suffix) == 0)
		return 0;
	git_error_set_oom();
	return -1;
}

/* Walks the folder w->rel (length len, "" or ending with "/"); in_ignored: the folder is
** ignored, so is everything in it. */
static int walk_dir(Walk *w, size_t len, int in_ignored)
{
	Snapshot *s = w->s;
	DIR *d;
	struct dirent *de;
	int error = 0;
	if (gt_path_join(&w->abs, s->dir, w->rel) < 0) {
		git_error_set_oom();
		return -1;
	}
	d = opendir(w->abs.ptr);
	if (d == NULL) {
		if (errno == ENOENT)
			return 0; /* removed while we walk */
		return w->visit(w, W_UNREADABLE, w->rel, NULL, errno);
	}
	while (error == 0) {
		struct stat st;
		int type, have_st;
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno != 0) {
				w->rel[len] = '\0';
				error = w->visit(w, W_UNREADABLE, w->rel, NULL, errno);
			}
			break;
		}
		if (gt_interrupted) {
			w->stop_code = EINTR;
			error = -1;
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (len == 0 && ((!s->all && strcmp(de->d_name, ".git") == 0) ||
				 (s->only.count > 0 && !in_list(&s->only, de->d_name))))
			continue;
		if (rel_set(w, len, de->d_name, "") < 0 ||
		    gt_path_join(&w->abs, s->dir, w->rel) < 0) {
			git_error_set_oom();
			error = -1;
			break;
		}
		/* The type readdir gives spares an lstat of every tracked file: one is made only
		** where the size counts (ignored files) or the type is unknown. */
		have_st = 0;
		type = de->d_type;
		if (type == DT_UNKNOWN) {
			if (lstat(w->abs.ptr, &st) != 0) {
				if (errno != ENOENT)
					error = w->visit(w, W_UNREADABLE, w->rel, NULL, errno);
				continue;
			}
			have_st = 1;
			type = S_ISDIR(st.st_mode)   ? DT_DIR
			       : S_ISREG(st.st_mode) ? DT_REG
			       : S_ISLNK(st.st_mode) ? DT_LNK
						     : DT_FIFO;
		}
		if (type == DT_DIR) {
			size_t sub = len + strlen(de->d_name) + 1;
			int ignored = in_ignored;
			if (rel_set(w, len, de->d_name, "/") < 0) {
				error = -1;
				break;
			}
			if (strcmp(de->d_name, ".git") == 0) {
				/* a repository's own folder where no worktree's link is expected */
				w->rel[sub - 1] = '\0';
				error = w->visit(w, W_NESTED, w->rel, NULL, 0);
				continue;
			}
			if (w->skip != NULL) {
				w->rel[sub - 1] = '\0';
				if (in_list(w->skip, w->rel))
					continue;
				w->rel[sub - 1] = '/';
			}
			/* Ignored or not: a repository in an ignored folder is still a repository. */
			if (holds_dotgit(&w->scratch, s->dir, w->rel)) {
				/* A submodule (the index has its gitlink) is for the caller to
				** walk with a snapshot of its own; anything else is a repository
				** nested in this one. */
				const git_index_entry *e;
				w->rel[sub - 1] = '\0';
				e = s->all || in_ignored
					? NULL
					: git_index_get_bypath(s->index, w->rel, 0);
				if (e == NULL || e->mode != GIT_FILEMODE_COMMIT)
					error = w->visit(w, W_NESTED, w->rel, NULL, 0);
				continue;
			}
			if (!in_ignored && !s->all && !tracks_under(s->index, w->rel))
				ignored = is_ignored(s, w->rel);
			error = walk_dir(w, sub, ignored);
		} else if (type == DT_REG || type == DT_LNK) {
			if (s->all) {
				error = w->visit(w, W_FILE, w->rel, NULL, 0);
			} else if (in_ignored ||
				   (git_index_get_bypath(s->index, w->rel, 0) == NULL &&
				    is_ignored(s, w->rel))) {
				if (!have_st && lstat(w->abs.ptr, &st) != 0) {
					if (errno != ENOENT)
						error =
						    w->visit(w, W_UNREADABLE, w->rel, NULL, errno);
					continue;
				}
				error = w->visit(
				    w, w->keep && keep_match(w->keep, w->rel) ? W_KEPT : W_IGNORED,
				    w->rel, &st, 0);
			}
		} else if (!in_ignored) {
			error = w->visit(w, W_SPECIAL, w->rel, NULL, 0);
		}
	}
	closedir(d);
	return error;
}

static int walk(Walk *w)
{
	int error;
	w->abs.ptr = w->scratch.ptr = NULL;
	w->abs.cap = w->scratch.cap = 0;
	w->rel = NULL;
	w->rel_cap = 0;
	w->stop_code = 0;
	if (rel_set(w, 0, "", "") < 0)
		return -1;
	error = walk_dir(w, 0, 0);
	free(w->abs.ptr);
	free(w->scratch.ptr);
	free(w->rel);
	return error;
}

/* ---------------------------------------------------------------------------------------- */
/* Module function */

static Snapshot *tosnapshot(lua_State *L)
{
	return (Snapshot *)luaL_checkudata(L, 1, SNAPSHOT_TYPE);
}

static Snapshot *checksnapshot(lua_State *L)
{
	Snapshot *s = tosnapshot(L);
	if (s->repo == NULL)
		luaL_error(L, "attempt to use a closed snapshot");
	return s;
}

static void release(Snapshot *s)
{
	git_index_free(s->index);
	git_repository_free(s->repo);
	free(s->dir);
	gt_strarray_free(&s->only);
	gt_strarray_free(&s->keep);
	s->index = NULL;
	s->repo = NULL;
	s->dir = NULL;
}

/* Gives the snapshot a new handle on its repository, with working tree `dir` (where its folder
** s->dir was moved) and its index. A git folder that was inside the folder (a repository nested
** in a worktree) moved with it. */
static int reopen(Snapshot *s, const char *dir)
{
	git_repository *repo = NULL;
	const char *common = git_repository_commondir(s->repo);
	size_t old = strlen(s->dir);
	gt_PathBuf moved = {NULL, 0};
	int error;
	if (strncmp(common, s->dir, old) == 0) {
		if (gt_path_join(&moved, dir, common + old) < 0) {
			git_error_set_oom();
			return -1;
		}
		common = moved.ptr;
	}
	error = git_repository_open_ext(
	    &repo, common, GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE, NULL);
	free(moved.ptr);
	if (error == 0)
		error = git_repository_set_workdir(repo, dir, 0);
	if (error < 0) {
		git_repository_free(repo);
		return error;
	}
	/* The old handle lets go of the index (it drops the index's owner) before the new one
	** takes it; the snapshot keeps a reference of its own throughout. */
	git_repository_free(s->repo);
	s->repo = repo;
	return git_repository_set_index(repo, s->index);
}

static int s_close(lua_State *L)
{
	release(tosnapshot(L));
	return 0;
}

/* snapshot.open(repo, dir [, {index = path, all = false, only = {names}}]) -> gt.Snapshot |
** nil, err, code. Opens the folder dir against repo (a gt.Repo; its shared repository is used,
** through a handle of the snapshot's own). index: an index file saying what is tracked (a
** worktree's, in its git folder; absent or missing: nothing is). all: no ignore rules apply,
** every file counts (for a folder git does not manage). only: the top-level names to consider
** (with all). */
static int snapshot_open(lua_State *L)
{
	git_repository *base = gt_checkrepo(L, 1);
	size_t dlen;
	const char *dir = luaL_checklstring(L, 2, &dlen);
	const char *index_path = gt_optfield_string(L, 3, "index", NULL);
	int all = gt_optfield_boolean(L, 3, "all", 0);
	Snapshot *s;
	int error;
	luaL_argcheck(L, dlen > 0 && dir[0] == '/', 2, "an absolute path expected");
	s = (Snapshot *)lua_newuserdatauv(L, sizeof *s, 0);
	memset(s, 0, sizeof *s);
	luaL_setmetatable(L, SNAPSHOT_TYPE);
	s->all = all;
	gt_optfield_strarray(L, lua_istable(L, 3) ? 3 : 0, "only", &s->only);
	s->dir = (char *)malloc(dlen + 2);
	if (s->dir == NULL)
		return luaL_error(L, "not enough memory");
	memcpy(s->dir, dir, dlen + 1);
	if (dir[dlen - 1] != '/')
		memcpy(s->dir + dlen, "/", 2);
	/* Bare, whatever its config says: the working tree is the one given (a submodule's
	** core.worktree may name where the folder was before it was moved aside). */
	error =
	    git_repository_open_ext(&s->repo, git_repository_commondir(base),
				    GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE, NULL);
	if (error == 0)
		error = git_repository_set_workdir(s->repo, s->dir, 0);
	if (error == 0) {
		if (index_path != NULL && !all && access(index_path, F_OK) == 0)
			error = git_index_open(&s->index, index_path);
		else
			error = git_index_new(&s->index);
	}
	if (error == 0)
		error = git_repository_set_index(s->repo, s->index);
	if (error == 0)
		error = gt_unhide_flagged(s->index, s->dir);
	if (error < 0) {
		int n = fail_git(L, s, error, dir);
		release(s);
		return n;
	}
	return 1;
}

/* ---------------------------------------------------------------------------------------- */
/* scan */

typedef struct {
	lua_State *L;
	int result; /* stack index of the result table */
	lua_Integer ignored_files, ignored_bytes;
	int failed; /* a Lua error (out of memory) stopped the walk; it is on top of the stack */
	/* the entry add_entry adds */
	int kind;
	const char *rel;
	int err;
} ScanOut;

/* Adds the entry o (ud) to its list in the result table (argument 1). Runs under gt_cpcall: a
** Lua error must not jump through the walk, which holds folders open and buffers. */
static int add_entry(lua_State *L)
{
	ScanOut *o = (ScanOut *)lua_touserdata(L, 2);
	switch (o->kind) {
	case W_KEPT: gt_append(L, 1, "kept", o->rel); break;
	case W_UNREADABLE:
		lua_getfield(L, 1, "unreadable");
		lua_createtable(L, 0, 2);
		lua_pushstring(L, o->rel[0] ? o->rel : ".");
		lua_setfield(L, -2, "path");
		lua_pushstring(L, strerror(o->err));
		lua_setfield(L, -2, "reason");
		lua_seti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
		break;
	case W_NESTED: gt_append(L, 1, "nested", o->rel); break;
	case W_SPECIAL: gt_append(L, 1, "special", o->rel); break;
	case W_FILE: gt_append(L, 1, "files", o->rel); break;
	}
	return 0;
}

static int scan_visit(Walk *w, int kind, const char *rel, const struct stat *st, int err)
{
	ScanOut *o = (ScanOut *)w->ud;
	if (kind == W_IGNORED || kind == W_KEPT) {
		o->ignored_files++;
		o->ignored_bytes += (lua_Integer)st->st_size;
		if (kind == W_IGNORED)
			return 0;
	}
	o->kind = kind;
	o->rel = rel;
	o->err = err;
	if (gt_cpcall(o->L, add_entry, o->result, o, 0) != 0) {
		o->failed = 1;
		return -1;
	}
	return 0;
}

/* snapshot:scan([{keep = {patterns}}]) -> {unreadable = {{path, reason}}, ignored_files,
** ignored_bytes, kept = {paths}, nested = {paths}, special = {paths}, files = {paths}} |
** nil, err, code. What git's status does not say: folders that cannot be read (git skips them
** without a word), how much ignored content there is, which ignored files match a keep
** pattern, folders holding a repository that is not a submodule, and FIFOs, sockets and
** devices. files lists every file, for a snapshot opened with all. The lists are in no set
** order. Tables are built as the walk goes, each entry under gt_cpcall. */
static int s_scan(lua_State *L)
{
	Snapshot *s = checksnapshot(L);
	git_strarray keep = {NULL, 0};
	Walk w;
	ScanOut o;
	int error;
	static const char *const lists[] = {"unreadable", "kept", "nested", "special", "files"};
	/* Everything that can raise comes before keep is allocated. */
	luaL_checkstack(L, 8, NULL);
	lua_createtable(L, 0, 8);
	memset(&o, 0, sizeof o);
	o.L = L;
	o.result = lua_gettop(L);
	for (int i = 0; i < 5; i++) {
		lua_newtable(L);
		lua_setfield(L, o.result, lists[i]);
	}
	gt_optfield_strarray(L, lua_istable(L, 2) ? 2 : 0, "keep", &keep);
	memset(&w, 0, sizeof w);
	w.s = s;
	w.keep = &keep;
	w.visit = scan_visit;
	w.ud = &o;
	error = walk(&w);
	gt_strarray_free(&keep);
	if (o.failed)
		return lua_error(L);
	if (error < 0) {
		if (w.stop_code == EINTR)
			return gt_pushinterrupted(L);
		return fail_git(L, s, error, s->dir);
	}
	lua_pushinteger(L, o.ignored_files);
	lua_setfield(L, o.result, "ignored_files");
	lua_pushinteger(L, o.ignored_bytes);
	lua_setfield(L, o.result, "ignored_bytes");
	return 1;
}

/* ---------------------------------------------------------------------------------------- */
/* take */

typedef struct {
	char *path; /* the first problem met, for the message */
	int err;    /* why it cannot be read (errno), or 0: it is a repository of its own */
} TakeOut;

static int take_visit(Walk *w, int kind, const char *rel, const struct stat *st, int err)
{
	TakeOut *o = (TakeOut *)w->ud;
	(void)st;
	switch (kind) {
	case W_FILE:
	case W_KEPT: return git_index_add_bypath(w->s->index, rel);
	case W_UNREADABLE: o->err = err; break;
	case W_NESTED: o->err = 0; break;
	default: return 0;
	}
	o->path = strdup(rel[0] ? rel : ".");
	return -1;
}

/* add_all's callback: stops at an interrupt; skips what is inside the folders `payload` (a
** git_strarray) names: repositories of their own, proven apart. */
static int matched(const char *path, const char *spec, void *payload)
{
	const git_strarray *skip = (const git_strarray *)payload;
	(void)spec;
	if (gt_interrupted)
		return -1;
	for (size_t i = 0; i < skip->count; i++) {
		size_t n = strlen(skip->strings[i]);
		if (strncmp(path, skip->strings[i], n) == 0 && (path[n] == '/' || path[n] == '\0'))
			return 1;
	}
	return 0;
}

/* snapshot:take([{keep = {patterns}, skip = {folders}}]) -> tree id, index tree id | nil, err,
** code. Writes the folder as a tree into the repository: tracked files as they are on disk,
** untracked ones that are not ignored, and ignored ones that match a keep pattern (with all:
** every file); nothing inside the `skip` folders (repositories of their own, proven apart).
** The index tree is the index as the snapshot was opened (nil when it has conflicts or no
** entries). Fails ("EACCES", "ENESTED") on a folder that cannot be read and on a repository
** nested in the folder, naming it: what cannot be read cannot be saved. A snapshot can be taken
** again; remove uses the last one. */
static int s_take(lua_State *L)
{
	Snapshot *s = checksnapshot(L);
	char *all[] = {"*"};
	git_strarray everything = {all, 1};
	git_oid tree;
	int error = 0;
	Walk w;
	TakeOut o = {NULL, 0};
	git_strarray skip = {NULL, 0};
	gt_optfield_strarray(L, lua_istable(L, 2) ? 2 : 0, "keep", &s->keep);
	gt_optfield_strarray(L, lua_istable(L, 2) ? 2 : 0, "skip", &skip);
	s->taken = 0;
	if (s->index_tree_state == 0) {
		s->index_tree_state = -1;
		if (git_index_entrycount(s->index) > 0 && !git_index_has_conflicts(s->index) &&
		    git_index_write_tree_to(&s->index_tree, s->index, s->repo) == 0)
			s->index_tree_state = 1;
		git_error_clear();
	}
	if (!s->all) {
		/* add_all also drops the entries of files gone from the folder. */
		error =
		    git_index_add_all(s->index, &everything, GIT_INDEX_ADD_DEFAULT, matched, &skip);
	}
	if (error == 0 && (s->all || s->keep.count > 0)) {
		memset(&w, 0, sizeof w);
		w.s = s;
		w.keep = &s->keep;
		w.skip = &skip;
		w.visit = take_visit;
		w.ud = &o;
		error = walk(&w);
		if (error < 0 && o.path != NULL) {
			int n;
			gt_strarray_free(&skip);
			n = o.err != 0 ? gt_pusherrno(L, o.err, "%s%s", s->dir, o.path)
				       : gt_pushfail(L, "ENESTED",
						     "%s%s: a repository of its own, which a "
						     "snapshot cannot hold",
						     s->dir, o.path);
			free(o.path);
			return n;
		}
		if (error < 0 && w.stop_code == EINTR) {
			gt_strarray_free(&skip);
			return gt_pushinterrupted(L);
		}
	}
	gt_strarray_free(&skip);
	if (error == 0 && git_index_has_conflicts(s->index))
		git_index_conflict_cleanup(s->index); /* left by files deleted since */
	if (error == 0)
		error = git_index_write_tree_to(&tree, s->index, s->repo);
	if (error < 0)
		return fail_git(L, s, error, s->dir);
	s->taken = 1;
	gt_pushoid(L, &tree);
	if (s->index_tree_state == 1)
		gt_pushoid(L, &s->index_tree);
	else
		lua_pushnil(L);
	return 2;
}

/* ---------------------------------------------------------------------------------------- */
/* remove */

typedef struct {
	Snapshot *s;
	char *rel; /* path of the current entry, relative to the folder */
	size_t rel_cap;
	const char *problem; /* why it stopped: "changed", "appeared", ... */
	int err;             /* errno of a system failure, or 0 */
	char *where;         /* path of the problem */
	lua_State *L;        /* for the progress function (stack index fn; 0: none) */
	int fn;
	int raised;         /* it raised: its error is on top of the stack */
	size_t deleted;     /* files deleted */
	double reported_at; /* gt_monotonic_ms of the last call */
} Remover;

static int stop(Remover *r, const char *problem, int err)
{
	gt_PathBuf abs = {NULL, 0};
	r->problem = problem;
	r->err = err;
	if (r->where == NULL && gt_path_join(&abs, r->s->dir, r->rel ? r->rel : "") == 0)
		r->where = abs.ptr;
	return -1;
}

/* Calls the progress function (argument 1) with the count (ud: size_t), under gt_cpcall. */
static int call_rm_progress(lua_State *L)
{
	lua_Integer deleted = (lua_Integer) * (const size_t *)lua_touserdata(L, 2);
	lua_settop(L, 1);
	lua_pushinteger(L, deleted);
	lua_call(L, 1, 0);
	return 0;
}

/* Counts a file deleted; calls the progress function every 100 ms at most (`force`: now).
** Returns -1 when it raised. */
static int rm_progress(Remover *r, int force)
{
	double now;
	if (!force)
		r->deleted++;
	if (r->fn == 0 || r->raised || (!force && r->deleted % 64 != 0))
		return 0;
	now = gt_monotonic_ms();
	if (!force && now - r->reported_at < 100)
		return 0;
	r->reported_at = now;
	if (gt_cpcall(r->L, call_rm_progress, r->fn, &r->deleted, 0) != 0) {
		r->raised = 1;
		return stop(r, NULL, 0);
	}
	return 0;
}

static int rm_rel_set(Remover *r, size_t at, const char *name, const char *suffix)
{
	return put_at(&r->rel, &r->rel_cap, at, name, suffix) == 0 ? 0 : stop(r, NULL, ENOMEM);
}

/* Whether the file r->rel (lstat `st`) is as the snapshot has it, reading it again when only
** its stat data differs. */
static int as_taken(Remover *r, const git_index_entry *e, const struct stat *st)
{
	gt_PathBuf abs = {NULL, 0};
	int same;
	if (stat_matches(e, st))
		return 1;
	if (gt_path_join(&abs, r->s->dir, r->rel) < 0)
		return 0;
	same = content_matches(r->s, e, abs.ptr, st);
	free(abs.ptr);
	return same;
}

/* Deletes what the folder r->rel (length len, open as `dfd`, which this closes) holds, as take
** saw it. Every call is relative to the folder's descriptor, as rm -rf's are: no path is
** looked up again from the top for each of thousands of files. */
static int rm_dir(Remover *r, int dfd, size_t len, int in_ignored)
{
	Snapshot *s = r->s;
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int error = 0;
	int gitignore = 0; /* this folder's .gitignore, deleted last: its rules apply until then */
	if (d == NULL) {
		int err = errno;
		close(dfd);
		return stop(r, NULL, err);
	}
	while (error == 0) {
		struct stat st;
		const git_index_entry *e;
		const char *name;
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno != 0)
				error = stop(r, NULL, errno);
			break;
		}
		if (gt_interrupted) {
			error = stop(r, NULL, EINTR);
			break;
		}
		name = de->d_name;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		if (len == 0 && ((!s->all && strcmp(name, ".git") == 0) ||
				 (s->only.count > 0 && !in_list(&s->only, name))))
			continue;
		if ((error = rm_rel_set(r, len, name, "")) < 0)
			break;
		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno != ENOENT)
				error = stop(r, NULL, errno);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			size_t sub = len + strlen(name) + 1;
			int ignored = in_ignored, subfd;
			/* A submodule's folder (a gitlink in the index) has been emptied by the
			** caller, with a snapshot of the submodule's own. */
			int gitlink = !in_ignored && !s->all &&
				      (e = git_index_get_bypath(s->index, r->rel, 0)) != NULL &&
				      e->mode == GIT_FILEMODE_COMMIT;
			if (!gitlink) {
				if ((error = rm_rel_set(r, len, name, "/")) < 0)
					break;
				if (!in_ignored && !s->all && !tracks_under(s->index, r->rel))
					ignored = is_ignored(s, r->rel);
				subfd = openat(dfd, name,
					       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (subfd < 0 && errno == EACCES && ignored &&
				    fchmodat(dfd, name, st.st_mode | S_IRWXU, 0) == 0)
					/* ignored content is disposable: open it up, as rm -rf would */
					subfd =
					    openat(dfd, name,
						   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (subfd < 0) {
					error = errno == ENOENT ? 0 : stop(r, NULL, errno);
					if (error < 0)
						break;
					continue;
				}
				/* A repository (its own folder, or one holding it) is never deleted
				** here, ignored or not: its caller proves and empties it first. */
				if (strcmp(name, ".git") == 0 ||
				    fstatat(subfd, ".git", &st, AT_SYMLINK_NOFOLLOW) == 0) {
					close(subfd);
					rm_rel_set(r, len, name, "");
					error = stop(r, "holds a repository of its own", 0);
					break;
				}
				if ((error = rm_dir(r, subfd, sub, ignored)) < 0)
					break;
				if ((error = rm_rel_set(r, len, name, "")) < 0)
					break;
			}
			if (unlinkat(dfd, name, AT_REMOVEDIR) != 0)
				error =
				    errno == ENOTEMPTY || errno == EEXIST
					? stop(r, "holds files that appeared since it was saved", 0)
					: stop(r, NULL, errno);
			continue;
		}
		if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
			/* FIFOs, sockets, devices: no content to lose */
		} else if ((e = git_index_get_bypath(s->index, r->rel, 0)) != NULL) {
			if (!as_taken(r, e, &st)) {
				error = stop(r, "changed since it was saved", 0);
				break;
			}
		} else if (s->keep.count > 0 && keep_match(&s->keep, r->rel)) {
			error = stop(r, "appeared since it was saved", 0);
			break;
		} else if (!in_ignored && !is_ignored(s, r->rel)) {
			error = stop(r, "appeared since it was saved", 0);
			break;
		}
		if (strcmp(name, ".gitignore") == 0 && !in_ignored)
			gitignore = 1;
		else if (unlinkat(dfd, name, 0) != 0 && errno != ENOENT)
			error = stop(r, NULL, errno);
		else
			error = rm_progress(r, 0);
	}
	if (error == 0 && gitignore && (error = rm_rel_set(r, len, ".gitignore", "")) == 0 &&
	    unlinkat(dfd, ".gitignore", 0) != 0 && errno != ENOENT)
		error = stop(r, NULL, errno);
	else if (error == 0 && gitignore)
		error = rm_progress(r, 0);
	closedir(d); /* closes dfd */
	return error;
}

/* snapshot:remove([{dotgit = false, dir = nil}]) -> true | nil, err, code. Deletes the files of
** the folder that are as the last take saw them, and ignored ones, and the folders they empty;
** the folder itself stays. A file that changed since, or a file that appeared (unless ignored),
** stops it: "ECHANGED", naming the file; so does a folder that new files keep from being removed,
** and a repository (a .git inside), ignored or not. What was deleted before the stop stays
** deleted (it was saved). dotgit: also delete a top-level .git *file* (a worktree's or a
** submodule's link to its git folder; a .git folder is never deleted). dir: where the folder is
** now, when it was moved since it was taken. progress: fn(deleted), called with the files
** deleted so far every 100 ms at most, and once at the end when any were; an error it raises
** stops the deletion and is raised again. Raises when nothing was taken. */
static int s_remove(lua_State *L)
{
	Snapshot *s = checksnapshot(L);
	int dotgit = gt_optfield_boolean(L, 2, "dotgit", 0);
	const char *moved = gt_optfield_string(L, 2, "dir", NULL);
	Remover r;
	int error, fn = 0;
	luaL_argcheck(L, s->taken, 1, "nothing was taken: call take() first");
	if (lua_istable(L, 2) && lua_getfield(L, 2, "progress") != LUA_TNIL) {
		luaL_argcheck(L, lua_isfunction(L, -1), 2, "progress must be a function");
		luaL_checkstack(L, 4, NULL);
		fn = lua_gettop(L);
	}
	if (moved != NULL) {
		/* The folder was moved (as a whole) since it was taken: its files keep their stat
		** data, and its ignore rules are read where it is now. */
		size_t n = strlen(moved);
		char *dir;
		luaL_argcheck(L, n > 0 && moved[0] == '/', 2, "dir: an absolute path expected");
		if ((dir = (char *)malloc(n + 2)) == NULL)
			return luaL_error(L, "not enough memory");
		memcpy(dir, moved, n + 1);
		if (moved[n - 1] != '/')
			memcpy(dir + n, "/", 2);
		/* A handle of its own there: libgit2 caches ignore rules by where they were read. */
		if ((error = reopen(s, dir)) < 0) {
			free(dir);
			return fail_git(L, s, error, moved);
		}
		free(s->dir);
		s->dir = dir;
	}
	memset(&r, 0, sizeof r);
	r.s = s;
	r.L = L;
	r.fn = fn;
	r.reported_at = gt_monotonic_ms();
	error = rm_rel_set(&r, 0, "", "");
	if (error == 0) {
		int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			error = errno == ENOENT ? 0 : stop(&r, NULL, errno);
		else
			error = rm_dir(&r, dfd, 0, 0);
	}
	if (error == 0 && dotgit) {
		struct stat st;
		gt_PathBuf git = {NULL, 0};
		if (gt_path_join(&git, s->dir, ".git") < 0)
			error = stop(&r, NULL, ENOMEM);
		else if (lstat(git.ptr, &st) == 0 && S_ISREG(st.st_mode) && unlink(git.ptr) != 0) {
			int err = errno;
			rm_rel_set(&r, 0, ".git", "");
			error = stop(&r, NULL, err);
		}
		free(git.ptr);
	}
	if (error == 0 && r.deleted > 0)
		error = rm_progress(&r, 1);
	free(r.rel);
	if (r.raised) {
		free(r.where);
		return lua_error(L); /* the progress function's error, on top */
	}
	if (error < 0) {
		int n;
		if (r.err == EINTR)
			n = gt_pushinterrupted(L);
		else if (r.problem != NULL)
			n = gt_pushfail(L, "ECHANGED", "%s %s", r.where, r.problem);
		else
			n = gt_pusherrno(L, r.err, "%s", r.where);
		free(r.where);
		return n;
	}
	lua_pushboolean(L, 1);
	return 1;
}

static int s_tostring(lua_State *L)
{
	Snapshot *s = tosnapshot(L);
	if (s->repo == NULL)
		lua_pushliteral(L, "gt.Snapshot (closed)");
	else
		lua_pushfstring(L, "gt.Snapshot (%s)", s->dir);
	return 1;
}

static const luaL_Reg funcs[] = {
    {"open", snapshot_open},
    {NULL, NULL},
};

static const luaL_Reg methods[] = {
    {"scan", s_scan}, {"take", s_take}, {"remove", s_remove}, {"close", s_close}, {NULL, NULL},
};

static const luaL_Reg metamethods[] = {
    {"__index", NULL}, /* placeholder */
    {"__gc", s_close}, {"__close", s_close}, {"__tostring", s_tostring}, {NULL, NULL},
};

int luaopen_gt_snapshot(lua_State *L)
{
	lua_getglobal(L, "require"); /* libgit2 is initialised by gt.git */
	lua_pushliteral(L, "gt.git");
	lua_call(L, 1, 0);
	luaL_newlib(L, funcs);
	gt_createmeta(L, SNAPSHOT_TYPE, metamethods, methods);
	return 1;
}
