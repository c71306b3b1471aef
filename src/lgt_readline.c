/*
** lgt_readline.c: gt.readline, line editing for `gt repl` (GNU readline). Only the editing is
** C: the REPL itself is Lua (lua/gt/repl.lua), as lua.c keeps its loop apart from readline.
**
** A line is read with readline's callback interface around select(), so that Ctrl-C cancels
** the line being edited (read returns false) instead of killing gt, and Ctrl-D on an empty
** line ends the input (read returns nil). Tab completion asks a Lua function for candidates.
*/
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "gt.h"

static lua_State *reading_L;          /* the state in a read(), for the completer */
static int completer_ref = LUA_NOREF; /* registry reference to the Lua completer */
static char *line_read;               /* what the callback received */
static int line_done;
static volatile sig_atomic_t interrupted;

/* Candidates of the completion in progress, NULL-terminated, owned here. */
static char **candidates;
static size_t candidate_next;

static void free_candidates(void)
{
	if (candidates != NULL) {
		for (size_t i = 0; candidates[i] != NULL; i++)
			free(candidates[i]);
		free(candidates);
		candidates = NULL;
	}
}

static void on_line(char *line)
{
	line_read = line;
	line_done = 1;
	rl_callback_handler_remove();
}

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

static char *next_candidate(const char *text, int state)
{
	(void)text; /* the Lua completer already kept only the matching ones */
	if (state == 0)
		candidate_next = 0;
	if (candidates == NULL || candidates[candidate_next] == NULL)
		return NULL;
	return strdup(candidates[candidate_next++]);
}

/* Calls completer(word, line, start) under lua_pcall; it returns a list of candidates. */
static int call_completer(lua_State *L)
{
	const char *text = (const char *)lua_touserdata(L, 1);
	int start = (int)lua_tointeger(L, 2);
	size_t n;
	lua_rawgeti(L, LUA_REGISTRYINDEX, completer_ref);
	lua_pushstring(L, text);
	lua_pushstring(L, rl_line_buffer);
	lua_pushinteger(L, start + 1); /* Lua positions start at 1 */
	lua_call(L, 3, 1);
	if (!lua_istable(L, -1))
		return 0;
	n = (size_t)lua_rawlen(L, -1);
	candidates = (char **)calloc(n + 1, sizeof *candidates);
	if (candidates == NULL)
		return 0;
	for (size_t i = 0; i < n; i++) {
		lua_rawgeti(L, -1, (lua_Integer)i + 1);
		candidates[i] = lua_isstring(L, -1) ? strdup(lua_tostring(L, -1)) : strdup("");
		lua_pop(L, 1);
	}
	return 0;
}

static char **attempt_completion(const char *text, int start, int end)
{
	char **matches = NULL;
	lua_State *L = reading_L;
	(void)end;
	rl_attempted_completion_over = 1;      /* never fall back to file names */
	rl_completion_append_character = '\0'; /* readline resets it to ' ' before each attempt */
	if (L == NULL || completer_ref == LUA_NOREF || !lua_checkstack(L, 8))
		return NULL;
	lua_pushcfunction(L, call_completer);
	lua_pushlightuserdata(L, (void *)text);
	lua_pushinteger(L, start);
	if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
		lua_pop(L, 1); /* a broken completer completes nothing */
		free_candidates();
		return NULL;
	}
	if (candidates != NULL && candidates[0] != NULL)
		matches = rl_completion_matches(text, next_candidate);
	free_candidates();
	return matches;
}

/* readline.read(prompt) -> line | nil at the end of input (Ctrl-D) | false when Ctrl-C
** cancelled the line. */
static int l_read(lua_State *L)
{
	const char *prompt = luaL_checkstring(L, 1);
	struct sigaction sa, old;
	int fd = fileno(rl_instream ? rl_instream : stdin);
	int cancelled = 0, failed = 0;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_interrupt; /* no SA_RESTART: select returns EINTR */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, &old) != 0)
		return gt_pusherrno(L, errno, "sigaction");
	interrupted = 0;
	line_done = 0;
	line_read = NULL;
	reading_L = L;
	rl_callback_handler_install(prompt, on_line);
	while (!line_done) {
		fd_set fds;
		FD_ZERO(&fds);
		FD_SET(fd, &fds);
		if (select(fd + 1, &fds, NULL, NULL, NULL) < 0) {
			if (errno != EINTR) {
				failed = errno;
				break;
			}
			if (interrupted) {
				cancelled = 1;
				break;
			}
			continue;
		}
		rl_callback_read_char();
	}
	if (!line_done) {
		/* Show ^C after what was typed, then drop the line and give the terminal back. */
		if (cancelled) {
			rl_point = rl_end;
			rl_redisplay();
			fputs("^C\n", rl_outstream ? rl_outstream : stdout);
		}
		rl_free_line_state();
		rl_callback_sigcleanup();
		rl_callback_handler_remove();
	}
	reading_L = NULL;
	sigaction(SIGINT, &old, NULL);
	if (failed)
		return gt_pusherrno(L, failed, "reading the terminal");
	if (cancelled) {
		lua_pushboolean(L, 0);
		return 1;
	}
	if (line_read == NULL) {
		lua_pushnil(L);
		return 1;
	}
	lua_pushstring(L, line_read);
	free(line_read);
	return 1;
}

/* readline.add_history(line) */
static int l_add_history(lua_State *L)
{
	add_history(luaL_checkstring(L, 1));
	return 0;
}

/* readline.read_history(path) -> true | nil, err, code */
static int l_read_history(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	int err = read_history(path);
	if (err != 0)
		return gt_pusherrno(L, err, "%s", path);
	lua_pushboolean(L, 1);
	return 1;
}

/* readline.append_history(path) -> true | nil, err, code: appends the newest entry to the
** file (which must exist), so that history survives a killed session. */
static int l_append_history(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	int err = append_history(1, path);
	if (err != 0)
		return gt_pusherrno(L, err, "%s", path);
	lua_pushboolean(L, 1);
	return 1;
}

/* readline.truncate_history(path, lines) -> true | nil, err, code: keeps the newest lines. */
static int l_truncate_history(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	int lines = (int)luaL_checkinteger(L, 2);
	int err = history_truncate_file(path, lines);
	if (err != 0)
		return gt_pusherrno(L, err, "%s", path);
	lua_pushboolean(L, 1);
	return 1;
}

/* readline.set_completer(fn | nil): fn(word, line, start) returns the candidates for word,
** which starts at position start of line. */
static int l_set_completer(lua_State *L)
{
	if (!lua_isnoneornil(L, 1))
		luaL_checktype(L, 1, LUA_TFUNCTION);
	luaL_unref(L, LUA_REGISTRYINDEX, completer_ref);
	completer_ref = LUA_NOREF;
	if (!lua_isnoneornil(L, 1)) {
		lua_pushvalue(L, 1);
		completer_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	}
	return 0;
}

static const luaL_Reg funcs[] = {
    {"read", l_read},
    {"add_history", l_add_history},
    {"read_history", l_read_history},
    {"append_history", l_append_history},
    {"truncate_history", l_truncate_history},
    {"set_completer", l_set_completer},
    {NULL, NULL},
};

int luaopen_gt_readline(lua_State *L)
{
	rl_readline_name = "gt";
	rl_catch_signals = 0; /* read() handles SIGINT itself */
	rl_attempted_completion_function = attempt_completion;
	rl_completer_word_break_characters = " \t\n\"\\'`@$><=;|&{(,[+-*/%^~#)";
	completer_ref = LUA_NOREF;
	luaL_newlib(L, funcs);
	return 1;
}
