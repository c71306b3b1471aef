/* TEMPORARY placeholder while the module is written. */
#include "gt.h"
int luaopen_gt_worktree(lua_State *L) { lua_newtable(L); return 1; }
