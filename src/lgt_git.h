/*
** lgt_git.h: what the three files of gt.git share (see lgt_git.c): the userdata's name, error
** and argument helpers, the index reader (lgt_git_status.c) and the methods registered by
** lgt_git.c but written elsewhere. Private to gt.git.
*/
#ifndef GT_LGT_GIT_H
#define GT_LGT_GIT_H

#include <time.h>

#include "gt.h"
#include "git2_lazy.h"

#define REPO_TYPE "gt.Repo"

/* Pushes nil, "<context>: <libgit2 message>", CODE (gt_pushgiterror). */
static inline int fail_git(lua_State *L, int error, const char *context)
{
	return gt_pushgiterror(L, error, context, NULL);
}

/* The repository of the method's self. */
static inline git_repository *checkrepo(lua_State *L)
{
	return gt_checkrepo(L, 1);
}

/* Looks up the tree a revision or tree id names; 0 or a libgit2 error (lgt_git.c). */
int gt_lookup_tree(git_tree **out, git_repository *repo, const char *spec);

/* The index, read as git's status reads it: the entries (their stat data, id, flags) and the
** cache tree's id of the whole tree when it is valid. Versions 2 to 4; a split or sparse index,
** or anything unexpected, is left to libgit2 (st_read_index returns 1). */
typedef struct {
	git_index_entry *ents;
	size_t n;
	int owned; /* the paths are malloc'd (a version 4 index compresses them) */
	unsigned char *map;
	size_t maplen;
	int have_tree;
	git_oid tree;
	struct timespec mtime;
} StIndex;

/* Reads the index file at `path` into ix: 0; 1 when it is one libgit2 must read (split, sparse,
** unexpected); -1 on a system error. gt_index_free(ix) in every case. */
int gt_index_read(const char *path, StIndex *ix);
void gt_index_free(StIndex *ix);

/* Methods (lua_CFunction) */
int gt_repo_status(lua_State *L);          /* lgt_git_status.c */
int gt_repo_write_tree_into(lua_State *L); /* lgt_git_checkout.c */

#endif
