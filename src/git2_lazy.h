/*
** git2_lazy.h: libgit2 for gt's C modules, loaded when first used.
**
** libgit2 and what it links (TLS, ssh, kerberos, pcre: 14 libraries) cost gt about 2 ms of
** dynamic loading on every run, a command that touches no git included (docs/design.md §7).
** So gt does not link it: each libgit2 function gt calls is reached through a pointer in
** `gt_libgit2`, filled by gt_libgit2_load() with dlopen/dlsym the first time gt.git is used.
** The list of functions is made at build time from the sources (cmake/libgit2_functions.cmake),
** so C code calls git_*() as usual. Include this instead of <git2.h>, after every other header.
** Built with -DGT_LAZY_LIBGIT2=OFF, gt links libgit2 and nothing is redirected.
*/
#ifndef GT_GIT2_LAZY_H
#define GT_GIT2_LAZY_H

#include <git2.h>
#include <git2/sys/repository.h>

#include <lua.h>

#if defined(GT_LAZY_LIBGIT2) && !defined(GT_LIBGIT2_LOADER)
#define GT_LIBGIT2_REDIRECT
#endif
#include "gt_libgit2_functions.h"

/* Fills gt_libgit2 (once); raises a Lua error naming the library if it cannot (git2_lazy.c). */
void gt_libgit2_open(lua_State *L);
/* Loads libgit2 (once) and initialises it, shut down when the Lua state closes (lgt_git.c).
** Every entry point into libgit2 calls it first. */
void gt_libgit2_load(lua_State *L);

#endif
