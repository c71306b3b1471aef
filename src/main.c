/*
** main.c: the gt executable. As lua.c does, main() only sets up and reports: everything runs in
** protected mode under one message handler, errors print as "gt: <message>", and the command
** itself is Lua (gt.main).
*/
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <lualib.h>

#include "gt.h"

static lua_State *globalL = NULL;

/* Hook set by the signal handler: raises an error at the next Lua instruction, so that
** to-be-closed locks are released and half-done commands roll back. The error is the one
** gt._interrupted() makes (a user error, reported without a traceback), when gt.main has
** defined it. */
static void lstop(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	lua_sethook(L, NULL, 0, 0);
	gt_interrupted = 0; /* it is being raised now */
	if (lua_getglobal(L, "gt") == LUA_TTABLE &&
	    lua_getfield(L, -1, "_interrupted") == LUA_TFUNCTION) {
		lua_call(L, 0, 1);
		lua_error(L);
	}
	luaL_error(L, "interrupted");
}

static void laction(int sig)
{
	int flag = LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT;
	signal(sig, SIG_DFL); /* a second signal ends the process at once */
	gt_interrupted = 1;   /* for C loops, which the hook cannot stop */
	lua_sethook(globalL, lstop, flag, 1);
}

/* Adds a traceback to string errors. gt's own error objects (tables with __tostring, raised
** for refusals and bad input) pass through unchanged: they are messages for users, and they
** carry the exit status. */
static int msghandler(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);
	if (msg == NULL) {
		if (luaL_getmetafield(L, 1, "__tostring") != LUA_TNIL) {
			lua_pop(L, 1);
			return 1;
		}
		msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
	}
	luaL_traceback(L, L, msg, 1);
	return 1;
}

static int docall(lua_State *L, int narg, int nres)
{
	int status;
	int base = lua_gettop(L) - narg;
	lua_pushcfunction(L, msghandler);
	lua_insert(L, base);
	globalL = L;
	signal(SIGINT, laction);
	signal(SIGTERM, laction);
	status = lua_pcall(L, narg, nres, base);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	lua_remove(L, base);
	return status;
}

/* gt._arm_interrupt(): makes the next SIGINT or SIGTERM interrupt the running Lua code again
** (the first one restores the default action, so that a second one ends gt at once). The REPL
** calls it after each interrupted statement. */
static int arm_interrupt(lua_State *L)
{
	globalL = L;
	gt_interrupted = 0;
	signal(SIGINT, laction);
	signal(SIGTERM, laction);
	return 0;
}

static void report(const char *msg)
{
	fprintf(stderr, "gt: %s\n", msg);
	fflush(stderr);
}

/* Exit status for the error object on top of the stack: its integer `exit` field, else 1. */
static int exit_status(lua_State *L)
{
	int status = 1;
	if (lua_istable(L, -1)) {
		if (lua_getfield(L, -1, "exit") == LUA_TNUMBER && lua_isinteger(L, -1))
			status = (int)lua_tointeger(L, -1);
		lua_pop(L, 1);
	}
	return status;
}

/* pmain(argc, argv): runs gt.main(argv[1..]) and leaves its exit status on the stack. */
static int pmain(lua_State *L)
{
	int argc = (int)lua_tointeger(L, 1);
	char **argv = (char **)lua_touserdata(L, 2);
	int status;
	luaL_checkversion(L);
	luaL_openlibs(L);
	gt_runtime_open(L, argc, argv);
	lua_getglobal(L, "gt");
	lua_pushcfunction(L, arm_interrupt);
	lua_setfield(L, -2, "_arm_interrupt");
	lua_pop(L, 1);
	lua_getglobal(L, "require");
	lua_pushliteral(L, "gt.main");
	status = docall(L, 1, 1); /* [main] */
	if (status == LUA_OK) {
		luaL_checkstack(L, argc, "too many arguments");
		for (int i = 1; i < argc; i++)
			lua_pushstring(L, argv[i]);
		status = docall(L, argc - 1, 1); /* [result] */
	}
	if (status != LUA_OK) {
		int code = exit_status(L);
		report(luaL_tolstring(L, -1, NULL));
		lua_pushinteger(L, code);
		return 1;
	}
	lua_pushinteger(L, lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0);
	return 1;
}

int main(int argc, char **argv)
{
	int status, code;
	lua_State *L = luaL_newstate();
	if (L == NULL) {
		report("cannot create the Lua state: not enough memory");
		return EXIT_FAILURE;
	}
	lua_pushcfunction(L, pmain);
	lua_pushinteger(L, argc);
	lua_pushlightuserdata(L, argv);
	status = lua_pcall(L, 2, 1, 0);
	if (status == LUA_OK) {
		code = (int)lua_tointeger(L, -1);
	} else {
		report(lua_tostring(L, -1) ? lua_tostring(L, -1) : "error in error handling");
		code = EXIT_FAILURE;
	}
	lua_close(L);
	return code;
}
