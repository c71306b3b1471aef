/*
** git2_lazy.c: loads libgit2 on first use (see git2_lazy.h): dlopen of the library gt was built
** against (its soname, found at configure time), then every function gt calls (gt_libgit2_load
** in lgt_git.c then initialises it). A library that cannot be loaded, or lacks a function, is
** one clear error.
*/
#include <dlfcn.h>

#include <lauxlib.h>

#define GT_LIBGIT2_LOADER /* the pointers are filled here, not called */
#include "git2_lazy.h"

struct gt_libgit2 gt_libgit2;

#ifdef GT_LAZY_LIBGIT2
static void load_symbols(lua_State *L)
{
	static void *handle;
	if (handle != NULL)
		return;
	void *h = dlopen(GT_LIBGIT2_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL)
		luaL_error(L, "cannot load libgit2 (%s): %s", GT_LIBGIT2_SONAME, dlerror());
#define GT_LOAD(f)                                                                                 \
	if ((*(void **)&gt_libgit2.f = dlsym(h, #f)) == NULL) {                                    \
		dlclose(h);                                                                        \
		luaL_error(L, "%s has no %s: gt was built against another libgit2",                \
			   GT_LIBGIT2_SONAME, #f);                                                 \
	}
	GT_LIBGIT2_FUNCTIONS(GT_LOAD)
#undef GT_LOAD
	handle = h; /* kept for the life of the process, like a linked library */
}
#else
#define load_symbols(L) ((void)(L))
#endif

void gt_libgit2_open(lua_State *L)
{
	load_symbols(L);
}
