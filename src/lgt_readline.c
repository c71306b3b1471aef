/*
** lgt_readline.c: gt.readline, line editing for `gt repl`, on libedit (BSD-licensed) through its
** readline-compatible interface. Only the editing is C: the REPL itself is Lua
** (lua/gt/repl.lua), as lua.c keeps its loop apart from readline.
**
** A line is read with the callback interface around select(), so that Ctrl-C cancels the line
** being edited (read returns false) instead of killing gt, and Ctrl-D on an empty line ends the
** input (read returns nil). Tab completion asks a Lua function for candidates. The history
** file is read and written here, one entry a line as GNU readline wrote it: libedit's own
** format (a "_HiStOrY_V2_" first line, entries vis(3)-encoded) cannot read the files gt wrote
** before, and libedit reads no file without that first line.
*/
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wchar.h>

#include <editline/readline.h>

#include "gt.h"

static lua_State *reading_L;          /* the state in a read(), for the completer */
static int completer_ref = LUA_NOREF; /* registry reference to the Lua completer */
static char *line_read;               /* what the callback received */
static int line_done;
static volatile sig_atomic_t interrupted, resized;

/* The newest history entry, for append_history, is kept in the registry under this key. */
#define NEWEST_KEY "gt.readline.newest"

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

static void on_signal(int sig)
{
	if (sig == SIGINT)
		interrupted = 1;
	else
		resized = 1;
}

/* As GNU readline did on its first use: take the character set from the environment (LANG,
** LC_ALL, LC_CTYPE), so that UTF-8 is edited as characters. Before libedit starts. */
static void init_once(void)
{
	static int done;
	if (!done) {
		done = 1;
		setlocale(LC_CTYPE, "");
	}
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

/* The byte where character `chars` of the line s starts: libedit counts characters, Lua
** bytes. */
static size_t byte_offset(const char *s, int chars)
{
	const char *p = s;
	mbstate_t st;
	memset(&st, 0, sizeof st);
	for (int i = 0; i < chars && *p != '\0'; i++) {
		size_t n = mbrlen(p, MB_CUR_MAX, &st);
		if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
			memset(&st, 0, sizeof st); /* not a character: one byte */
			n = 1;
		}
		p += n;
	}
	return (size_t)(p - s);
}

/* Calls completer(word, line, start) under lua_pcall; it returns a list of candidates. */
static int call_completer(lua_State *L)
{
	const char *text = (const char *)lua_touserdata(L, 1);
	int start = (int)lua_tointeger(L, 2);
	const char *line = rl_line_buffer != NULL ? rl_line_buffer : "";
	size_t n;
	lua_rawgeti(L, LUA_REGISTRYINDEX, completer_ref);
	lua_pushstring(L, text);
	lua_pushstring(L, line);
	lua_pushinteger(L, (lua_Integer)byte_offset(line, start) + 1); /* Lua positions from 1 */
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
	rl_completion_append_character = '\0'; /* nothing after a single match (default ' ') */
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

/* Whether the terminal at fd has reached its end (select says it can be read, nothing can). */
static int at_end(int fd)
{
	int n = 0;
	return ioctl(fd, FIONREAD, &n) == 0 && n == 0;
}

/* readline.read(prompt) -> line | nil at the end of input (Ctrl-D) | false when Ctrl-C
** cancelled the line. */
static int l_read(lua_State *L)
{
	const char *prompt = luaL_checkstring(L, 1);
	struct sigaction sa, old_int, old_winch;
	int fd = fileno(rl_instream ? rl_instream : stdin);
	int cancelled = 0, failed = 0, typed = 0, hung_up = 0;
	FILE *out = rl_outstream ? rl_outstream : stdout;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal; /* no SA_RESTART: select returns EINTR */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, &old_int) != 0)
		return gt_pusherrno(L, errno, "sigaction");
	if (sigaction(SIGWINCH, &sa, &old_winch) != 0) {
		failed = errno;
		sigaction(SIGINT, &old_int, NULL);
		return gt_pusherrno(L, failed, "sigaction");
	}
	init_once();
	interrupted = 0;
	resized = 0;
	line_done = 0;
	line_read = NULL;
	reading_L = L;
	rl_callback_handler_install(prompt, on_line); /* shows the prompt, on an empty line */
	while (!line_done && !interrupted) {
		fd_set fds;
		FD_ZERO(&fds);
		FD_SET(fd, &fds);
		if (select(fd + 1, &fds, NULL, NULL, NULL) < 0) {
			if (errno != EINTR) {
				failed = errno;
				break;
			}
			if (resized) { /* libedit handles no signal itself (rl_catch_signals) */
				resized = 0;
				rl_resize_terminal();
			}
			continue;
		}
		if (at_end(fd)) { /* libedit would wait for more: the end of the input */
			rl_callback_handler_remove();
			line_done = hung_up = 1;
			break;
		}
		rl_callback_read_char();
		typed = 1;
	}
	if (!line_done) {
		/* Give the terminal back; the next read starts an empty line. */
		rl_callback_handler_remove();
		if (interrupted && !failed) {
			/* Show ^C after what was typed: writing the rest of the line again moves the
			** cursor to its end (rl_point and rl_end count bytes of rl_line_buffer). */
			cancelled = 1;
			if (typed && rl_line_buffer != NULL && rl_point >= 0 && rl_point < rl_end)
				fputs(rl_line_buffer + rl_point, out);
			fputs("^C\n", out);
			fflush(out);
		}
	} else if (line_read == NULL && !hung_up) {
		/* Ctrl-D: libedit showed "^D" where GNU readline showed nothing; erase it. */
		fputs("\b\b  \b\b", out);
		fflush(out);
	}
	reading_L = NULL;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGWINCH, &old_winch, NULL);
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

/* Adds line to libedit's history and keeps it as the newest entry (for append_history). */
static void remember(lua_State *L, const char *line, size_t len)
{
	add_history(line);
	lua_pushlstring(L, line, len);
	lua_setfield(L, LUA_REGISTRYINDEX, NEWEST_KEY);
}

/* readline.add_history(line) */
static int l_add_history(lua_State *L)
{
	size_t len;
	const char *line = luaL_checklstring(L, 1, &len);
	init_once();
	remember(L, line, len);
	return 0;
}

/* Writes all of buf to fd. Returns 0, or an errno. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads the history file at path, a regular file, into a new buffer (*text, *len; the caller
** frees it), with its mode in *mode. Returns 0, or an errno (EINVAL: not a regular file). */
static int read_file(const char *path, char **text, size_t *len, mode_t *mode)
{
	struct stat st;
	char *buf = NULL;
	size_t cap = 0, used = 0;
	int err = 0, fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (fstat(fd, &st) != 0)
		err = errno;
	else if (!S_ISREG(st.st_mode))
		err = EINVAL; /* a folder, a device: not a history file (as GNU readline said) */
	while (err == 0) {
		ssize_t n;
		if (cap - used < 4096) {
			char *more = realloc(buf, cap + 65536);
			if (more == NULL) {
				err = ENOMEM;
				break;
			}
			buf = more;
			cap += 65536;
		}
		n = read(fd, buf + used, cap - used - 1);
		if (n < 0 && errno != EINTR)
			err = errno;
		else if (n == 0)
			break;
		else if (n > 0)
			used += (size_t)n;
	}
	close(fd);
	if (err != 0) {
		free(buf);
		return err;
	}
	buf[used] = '\0';
	*text = buf;
	*len = used;
	*mode = st.st_mode & 07777;
	return 0;
}

/* readline.read_history(path) -> true | nil, err, code: one entry a line, empty lines
** skipped. */
static int l_read_history(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	char *text, *line, *end;
	size_t len;
	mode_t mode;
	int err;
	init_once();
	err = read_file(path, &text, &len, &mode);
	if (err != 0)
		return gt_pusherrno(L, err, "%s", path);
	for (line = text; line < text + len; line = end + 1) {
		end = memchr(line, '\n', (size_t)(text + len - line));
		if (end == NULL)
			end = text + len; /* the last line, with no newline */
		*end = '\0';
		if (end > line && end[-1] == '\r')
			end[-1] = '\0';
		if (*line != '\0')
			remember(L, line, strlen(line));
	}
	free(text);
	lua_pushboolean(L, 1);
	return 1;
}

/* readline.append_history(path) -> true | nil, err, code: appends the newest entry to the
** file (which must exist), so that history survives a killed session. */
static int l_append_history(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	int err = 0, fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return gt_pusherrno(L, errno, "%s", path);
	lua_getfield(L, LUA_REGISTRYINDEX, NEWEST_KEY);
	if (lua_isstring(L, -1)) {
		size_t len;
		const char *entry;
		lua_pushliteral(L, "\n");
		lua_concat(L, 2);
		entry = lua_tolstring(L, -1, &len);
		err = write_all(fd, entry, len); /* one write: two sessions do not mix */
	}
	lua_pop(L, 1);
	if (close(fd) != 0 && err == 0)
		err = errno;
	if (err != 0)
		return gt_pusherrno(L, err, "%s", path);
	lua_pushboolean(L, 1);
	return 1;
}

/* readline.truncate_history(path, lines) -> true | nil, err, code: keeps the newest lines. The
** file is replaced by a new one (renamed over it, at its real path, with its mode): an
** interrupted truncation leaves the old file whole. */
static int l_truncate_history(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	lua_Integer lines = luaL_checkinteger(L, 2);
	char *text, *real = NULL, *tmp = NULL;
	size_t len, cut, end, kept = 0;
	mode_t mode;
	int fd, err = read_file(path, &text, &len, &mode);
	if (err != 0)
		return gt_pusherrno(L, err, "%s", path);
	/* cut: where the newest `lines` lines start (0: the file is short enough). */
	end = len > 0 && text[len - 1] == '\n' ? len - 1 : len;
	cut = lines <= 0 ? len : 0;
	for (size_t i = end; lines > 0 && i > 0; i--) {
		if (text[i - 1] == '\n' && (lua_Integer)++kept == lines) {
			cut = i;
			break;
		}
	}
	if (cut == 0)
		goto done;
	real = realpath(path, NULL);
	if (real == NULL) {
		err = errno;
		goto done;
	}
	tmp = malloc(strlen(real) + sizeof "-XXXXXX");
	if (tmp == NULL) {
		err = ENOMEM;
		goto done;
	}
	strcpy(tmp, real);
	strcat(tmp, "-XXXXXX");
	fd = mkstemp(tmp);
	if (fd < 0) {
		err = errno;
		goto done;
	}
	if (fchmod(fd, mode) != 0 || (err = write_all(fd, text + cut, len - cut)) != 0) {
		if (err == 0)
			err = errno;
		close(fd);
	} else if (close(fd) != 0 || rename(tmp, real) != 0) {
		err = errno;
	}
	if (err != 0)
		unlink(tmp);
done:
	free(text);
	free(real);
	free(tmp);
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
	rl_readline_name = "gt"; /* "gt:" lines of ~/.editrc are for gt */
	rl_catch_signals = 0;    /* read() handles SIGINT and SIGWINCH itself */
	rl_attempted_completion_function = attempt_completion;
	/* libedit breaks words at these (GNU readline: at rl_completer_word_break_characters) */
	rl_basic_word_break_characters = " \t\n\"\\'`@$><=;|&{(,[+-*/%^~#)";
	completer_ref = LUA_NOREF;
	luaL_newlib(L, funcs);
	return 1;
}
