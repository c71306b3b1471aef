/*
** lgt_proc.c: gt.proc, running a program without a shell and collecting its outcome.
**
**   local r, err, code = proc.run({argv = {"git", "status"}, cwd = dir, timeout_ms = 5000})
**   -- r = {code = 0, ok = true, stdout = "...", stderr = "", timed_out = false, pid = 1234}
**
** The child runs in its own process group, so that a timeout or an interrupt ends what it started
** too. A failed chdir or exec in the child reaches the parent through a close-on-exec pipe that
** carries the failed step and its errno; a program that ran and exited non-zero is a result, not a
** failure. One poll loop feeds stdin and drains stdout and stderr, so no size of input or output
** can deadlock. Everything the run owns (the child, descriptors, buffers) belongs to a
** to-be-closed userdata, so an error raised anywhere kills and reaps the child and frees the rest;
** an output callback's error does so at once, before it propagates.
**
** With `foreground`, the program stays in gt's process group (it can read the terminal and gets
** the terminal's Ctrl-C itself, as a shell's foreground job does) and gt passes on to it the
** SIGINT, SIGTERM, SIGHUP and SIGQUIT other processes send gt, until it has exited: the program
** decides how it ends, and its outcome is the result.
**
**   local pid, err, code = proc.start({argv = {"make"}, cwd = dir, log = path, status = path})
**
** proc.start starts a program detached from gt: a supervisor, forked from gt, makes a session
** and process group of its own (setsid), points stdin at /dev/null and stdout and stderr at the
** log (appended), forks the program and waits for it, then writes the program's pid and exit
** status to the status file. The supervisor ignores the signals that stop a session (SIGINT,
** SIGTERM, SIGHUP, SIGQUIT), so that signalling the group ends the program and still leaves its
** status; SIGKILL ends them both. A failed chdir or exec reaches gt as in proc.run.
*/
#define _GNU_SOURCE /* pipe2, close_range */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gt.h"

#define RUN_TYPE      "gt.ProcRun"
#define CHUNK         (64 * 1024) /* bytes read or written at a time */
#define KILL_AFTER_MS 1000        /* SIGTERM, then SIGKILL this much later */
#define DEFAULT_PATH  "/usr/bin:/bin"

extern char **environ;

enum { IN, OUT, ERR };                                       /* the child's standard streams */
enum { S_NULL, S_STRING, S_INHERIT, S_CAPTURE, S_CALLBACK }; /* modes; stdin's: the first three */
/* The step the child failed at, and its name in messages. */
enum { STEP_SETPGID = 1, STEP_SIGNALS, STEP_DUP, STEP_CHDIR, STEP_EXEC, STEP_SETSID, STEP_FORK };

static const char *const step_names[] = {"",      "setpgid", "signals", "dup2",
					 "chdir", "exec",    "setsid",  "fork"};

/* The signals a foreground program is passed (and a detached session's supervisor ignores). */
static const int passed_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define NPASSED ((int)(sizeof passed_signals / sizeof passed_signals[0]))

/* What the child sends back when it cannot get to the program. */
struct report {
	int step;
	int err;
};

typedef struct {
	char *data;
	size_t len, cap;
} Buf;

/* Everything one run owns. Created clean before anything is acquired; run_release undoes it all. */
typedef struct {
	pid_t pid;        /* the child until it is reaped, else -1 */
	int fd[3];        /* gt's ends of the stdin, stdout and stderr pipes, -1 when closed */
	int child_fd[3];  /* the child's ends (or /dev/null), closed in gt after the fork */
	int report_fd[2]; /* the child's failure report: read end, write end */
	int status_fd;    /* proc.start: the status file, for the supervisor; else -1 */
	int own_group;    /* the child leads a process group of its own (signalled as a group) */
	int passing;      /* foreground: gt's handlers of passed_signals are replaced */
	struct sigaction saved[NPASSED]; /* ...and these are gt's own, put back after the run */
	Buf buf[3]; /* stdout and stderr: captured data, or the read area for callbacks */
} Run;

/* The run's settings, read from the options before anything is acquired. */
typedef struct {
	const char *const *argv;  /* NULL-terminated */
	const char *const *envp;  /* NULL-terminated */
	const char *const *paths; /* where to look for argv[0], NULL-terminated */
	const char *cwd;
	const char *input; /* stdin data */
	size_t input_len;
	int mode[3];
	int callback[3];        /* stack index of the stdout/stderr callbacks */
	int started;            /* stack index of the `started` callback, or 0 */
	int foreground;         /* the child stays in gt's process group; signals are passed on */
	lua_Integer timeout_ms; /* LUA_MAXINTEGER: none */
} Spec;

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* Moves fd above the standard descriptors, so the child's dup2 onto 0, 1 and 2 cannot clobber
** it (they are free in gt only if gt was started with them closed). Keeps close-on-exec. */
static int above_std(int fd)
{
	int moved;
	if (fd < 0 || fd > 2)
		return fd;
	moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return moved;
}

static int pipe_cloexec(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	fds[0] = above_std(fds[0]);
	fds[1] = above_std(fds[1]);
	if (fds[0] < 0 || fds[1] < 0) {
		int err = errno;
		close_fd(&fds[0]);
		close_fd(&fds[1]);
		errno = err;
		return -1;
	}
	return 0;
}

static void signal_child(const Run *run, int sig)
{
	/* The leader is not reaped yet (a zombie still holds its group), so kill can fail only
	** with ESRCH, once every member has exited: the wanted outcome. A foreground child is in
	** gt's group: only it is signalled. */
	if (kill(run->own_group ? -run->pid : run->pid, sig) != 0)
		errno = 0;
}

/* The foreground child that gt passes signals on to, while it runs; 0: none. */
static volatile sig_atomic_t pass_to = 0;

/* Handler of passed_signals during a foreground run. A signal the terminal sent (si_code
** SI_KERNEL) reached the child too, as it is in gt's process group; one that another process
** sent gt (kill, sigqueue: si_code <= 0) is passed on. */
static void pass_on(int sig, siginfo_t *info, void *context)
{
	int err = errno;
	(void)context;
	if (pass_to > 0 && info != NULL && info->si_code <= 0)
		kill((pid_t)pass_to, sig);
	errno = err;
}

/* Blocks the passed signals; *old gets the mask to put back. Returns 0 or -1 with errno set. */
static int block_passed(sigset_t *old)
{
	sigset_t set;
	if (sigemptyset(&set) != 0)
		return -1;
	for (int i = 0; i < NPASSED; i++)
		if (sigaddset(&set, passed_signals[i]) != 0)
			return -1;
	return sigprocmask(SIG_BLOCK, &set, old);
}

/* Puts back gt's handlers of the passed signals. */
static void passing_end(Run *run)
{
	if (!run->passing)
		return;
	pass_to = 0;
	for (int i = 0; i < NPASSED; i++)
		if (sigaction(passed_signals[i], &run->saved[i], NULL) != 0)
			errno = 0; /* cannot fail: the signal and the saved action are valid */
	run->passing = 0;
}

/* Replaces gt's handlers of the passed signals by pass_on; returns 0 or -1 with errno set. */
static int passing_begin(Run *run)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = pass_on;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	if (sigemptyset(&sa.sa_mask) != 0)
		return -1;
	for (int i = 0; i < NPASSED; i++) {
		if (sigaction(passed_signals[i], &sa, &run->saved[i]) != 0) {
			int err = errno;
			for (int j = 0; j < i; j++)
				if (sigaction(passed_signals[j], &run->saved[j], NULL) != 0)
					errno = 0;
			errno = err;
			return -1;
		}
	}
	run->passing = 1;
	return 0;
}

static int reap(pid_t pid, int *status)
{
	pid_t r;
	while ((r = waitpid(pid, status, 0)) < 0 && errno == EINTR)
		;
	return r == pid ? 0 : -1;
}

static void run_release(Run *run)
{
	for (int i = 0; i < 3; i++) {
		close_fd(&run->fd[i]);
		close_fd(&run->child_fd[i]);
		free(run->buf[i].data);
		run->buf[i].data = NULL;
		run->buf[i].len = run->buf[i].cap = 0;
	}
	close_fd(&run->report_fd[0]);
	close_fd(&run->report_fd[1]);
	close_fd(&run->status_fd);
	if (run->pid > 0) { /* an error ended the run early: leave nothing running, no zombie */
		int status;
		signal_child(run, SIGKILL);
		reap(run->pid, &status);
		run->pid = -1;
	}
	passing_end(run);
}

static int run_gc(lua_State *L)
{
	run_release((Run *)luaL_checkudata(L, 1, RUN_TYPE));
	return 0;
}

/* Makes room for one more chunk at the end of b. */
static void buf_reserve(lua_State *L, Buf *b)
{
	if (b->cap - b->len < CHUNK) {
		size_t cap = b->cap ? b->cap : CHUNK;
		char *data;
		while (cap - b->len < CHUNK)
			cap *= 2;
		data = realloc(b->data, cap);
		if (data == NULL)
			luaL_error(L, "not enough memory"); /* the run's __close frees the rest */
		b->data = data;
		b->cap = cap;
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Reading the options */

static const char *const option_names[] = {"argv",       "cwd",     "env",    "clear_env",
					   "stdin",      "stdout",  "stderr", "timeout_ms",
					   "foreground", "started", NULL};
static const char *const start_option_names[] = {"argv", "cwd",    "env", "clear_env",
						 "log",  "status", NULL};

static void check_option_names(lua_State *L, const char *const *names)
{
	lua_pushnil(L);
	while (lua_next(L, 1) != 0) {
		int known = 0;
		lua_pop(L, 1);
		if (lua_type(L, -1) == LUA_TSTRING)
			for (int i = 0; names[i] != NULL; i++)
				known = known || strcmp(lua_tostring(L, -1), names[i]) == 0;
		if (!known)
			luaL_error(L, "unknown option '%s'", luaL_tolstring(L, -1, NULL));
	}
}

/* A string that C can pass to exec: no embedded NUL. */
static const char *check_cstring(lua_State *L, int idx, const char *what)
{
	size_t len;
	const char *s = lua_tolstring(L, idx, &len);
	if (strlen(s) != len)
		luaL_error(L, "bad option '%s' (contains a NUL byte)", what);
	return s;
}

/* Pushes a userdata of n + 1 pointers, the last NULL; the caller anchors what they point to. */
static const char **new_vector(lua_State *L, size_t n)
{
	const char **v = (const char **)lua_newuserdatauv(L, (n + 1) * sizeof *v, 0);
	v[n] = NULL;
	return v;
}

/* Pushes opts.argv and the vector of its strings. */
static const char *const *read_argv(lua_State *L)
{
	lua_Integer n = 0;
	const char **argv;
	if (lua_getfield(L, 1, "argv") == LUA_TTABLE)
		n = luaL_len(L, -1);
	if (n < 1)
		luaL_argerror(L, 1, "'argv' must be a non-empty array of strings");
	argv = new_vector(L, (size_t)n); /* [argv, vector] */
	for (lua_Integer i = 1; i <= n; i++) {
		lua_rawgeti(L, -2, i);
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_argerror(L, 1,
				      lua_pushfstring(L, "argv[%I] must be a string, got %s", i,
						      luaL_typename(L, -1)));
		argv[i - 1] = check_cstring(L, -1, "argv");
		lua_pop(L, 1);
	}
	if (argv[0][0] == '\0')
		luaL_argerror(L, 1, "argv[1] must not be empty");
	return argv; /* [argv, vector] */
}

/* Pushes a table name -> "name=value" holding the child's environment, and returns the PATH to
** search: opts.env's if it sets one, else gt's own. */
static const char *read_env(lua_State *L)
{
	const char *path = getenv("PATH");
	lua_newtable(L); /* [merged] */
	if (!gt_optfield_boolean(L, 1, "clear_env", 0)) {
		for (char **e = environ; *e != NULL; e++) {
			const char *eq = strchr(*e, '=');
			if (eq == NULL)
				continue;
			lua_pushlstring(L, *e, (size_t)(eq - *e));
			if (lua_rawget(L, -2) ==
			    LUA_TNIL) { /* the first of duplicates wins, as getenv */
				lua_pushlstring(L, *e, (size_t)(eq - *e));
				lua_pushstring(L, *e);
				lua_rawset(L, -4);
			}
			lua_pop(L, 1);
		}
	}
	if (lua_getfield(L, 1, "env") != LUA_TNIL) { /* [merged, env] */
		luaL_argcheck(L, lua_istable(L, -1), 1, "'env' must be a table");
		lua_pushnil(L);
		while (lua_next(L, -2) != 0) { /* [merged, env, name, value] */
			const char *name;
			if (lua_type(L, -2) != LUA_TSTRING)
				luaL_argerror(L, 1, "'env' keys must be strings");
			name = check_cstring(L, -2, "env");
			if (name[0] == '\0' || strchr(name, '=') != NULL)
				luaL_argerror(
				    L, 1,
				    lua_pushfstring(L, "bad environment variable name '%s'", name));
			lua_pushvalue(L, -2);
			if (lua_type(L, -2) == LUA_TSTRING) {
				const char *value = check_cstring(L, -2, "env");
				if (strcmp(name, "PATH") == 0)
					path = value; /* anchored by opts.env */
				lua_pushfstring(L, "%s=%s", name, value);
			} else if (lua_type(L, -2) == LUA_TBOOLEAN && !lua_toboolean(L, -2)) {
				lua_pushnil(L);
			} else {
				luaL_argerror(
				    L, 1,
				    lua_pushfstring(L, "env.%s must be a string or false, got %s",
						    name, luaL_typename(L, -2)));
			}
			lua_rawset(L, -6); /* merged[name] = "name=value" or nil */
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1); /* [merged] */
	return path != NULL ? path : DEFAULT_PATH;
}

/* Pushes the environment vector; the table below it keeps its strings alive. */
static const char *const *env_vector(lua_State *L)
{
	size_t n = 0;
	const char **envp;
	lua_pushnil(L);
	while (lua_next(L, -2) != 0) {
		n++;
		lua_pop(L, 1);
	}
	envp = new_vector(L, n); /* [merged, vector] */
	n = 0;
	lua_pushnil(L);
	while (lua_next(L, -3) != 0) {
		envp[n++] = lua_tostring(L, -1);
		lua_pop(L, 1);
	}
	return envp;
}

/* Pushes a table of the places to try for `name`: itself if it has a slash, else name under each
** absolute directory of `path`. Relative and empty entries (an empty one means ".") are skipped:
** gt runs inside repositories it does not trust. */
static void push_candidates(lua_State *L, const char *name, const char *path)
{
	lua_Integer n = 0;
	lua_newtable(L);
	if (strchr(name, '/') != NULL) {
		lua_pushstring(L, name);
		lua_rawseti(L, -2, ++n);
		return;
	}
	while (*path != '\0') {
		const char *end = strchr(path, ':');
		size_t len = end ? (size_t)(end - path) : strlen(path);
		if (len > 0 && path[0] == '/') {
			lua_pushlstring(L, path, len);
			lua_pushfstring(L, "/%s", name);
			lua_concat(L, 2);
			lua_rawseti(L, -2, ++n);
		}
		path += len + (end ? 1 : 0);
	}
}

/* Pushes the vector of a table of strings; the table below it keeps them alive. */
static const char *const *table_vector(lua_State *L)
{
	size_t n = (size_t)lua_rawlen(L, -1);
	const char **v = new_vector(L, n);
	for (size_t i = 0; i < n; i++) {
		lua_rawgeti(L, -2, (lua_Integer)i + 1);
		v[i] = lua_tostring(L, -1);
		lua_pop(L, 1);
	}
	return v;
}

static int read_output_mode(lua_State *L, const char *field, int *callback)
{
	int type = lua_getfield(L, 1, field);
	if (type == LUA_TNIL) {
		lua_pop(L, 1);
		return S_CAPTURE;
	}
	if (type == LUA_TFUNCTION) {
		*callback =
		    lua_gettop(L); /* stays on the stack, out of reach of the callback's changes */
		return S_CALLBACK;
	}
	if (type == LUA_TSTRING && strcmp(lua_tostring(L, -1), "capture") == 0) {
		lua_pop(L, 1);
		return S_CAPTURE;
	}
	if (type == LUA_TSTRING && strcmp(lua_tostring(L, -1), "inherit") == 0) {
		lua_pop(L, 1);
		return S_INHERIT;
	}
	return luaL_error(
	    L, "bad option '%s' (\"capture\", \"inherit\" or a function expected, got %s)", field,
	    type == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, -1));
}

/* An optional string option, anchored on the stack; NULL when absent. */
static const char *opt_cstring(lua_State *L, const char *field)
{
	if (gt_optfield_string(L, 1, field, NULL) == NULL)
		return NULL;
	lua_getfield(L, 1, field);
	return check_cstring(L, -1, field); /* anchored by this stack slot */
}

/* Reads what proc.run and proc.start share: argv, cwd, the environment and where to find the
** program. Leaves on the stack what spec's pointers point into. */
static void read_command(lua_State *L, Spec *spec, const char *const *names)
{
	const char *path;
	memset(spec, 0, sizeof *spec);
	luaL_checktype(L, 1, LUA_TTABLE);
	check_option_names(L, names);
	spec->argv = read_argv(L);
	spec->cwd = opt_cstring(L, "cwd");
	spec->timeout_ms = LUA_MAXINTEGER;
	path = read_env(L);         /* [..., merged] */
	spec->envp = env_vector(L); /* [..., merged, envp] */
	push_candidates(L, spec->argv[0], path);
	spec->paths = table_vector(L); /* [..., merged, envp, candidates, paths] */
}

/* Reads opts (at index 1) into spec, leaving on the stack what spec's pointers point into. */
static void read_spec(lua_State *L, Spec *spec)
{
	read_command(L, spec, option_names);
	spec->timeout_ms = gt_optfield_integer(L, 1, "timeout_ms", LUA_MAXINTEGER);
	luaL_argcheck(L, spec->timeout_ms > 0, 1, "timeout_ms must be > 0");
	spec->foreground = gt_optfield_boolean(L, 1, "foreground", 0);
	switch (lua_getfield(L, 1, "started")) {
	case LUA_TNIL: lua_pop(L, 1); break;
	case LUA_TFUNCTION: spec->started = lua_gettop(L); break; /* stays on the stack */
	default:
		luaL_error(L, "bad option 'started' (function expected, got %s)",
			   luaL_typename(L, -1));
	}
	switch (lua_getfield(L, 1, "stdin")) {
	case LUA_TNIL: spec->mode[IN] = S_NULL; break;
	case LUA_TSTRING:
		spec->input =
		    lua_tolstring(L, -1, &spec->input_len); /* anchored by this stack slot */
		spec->mode[IN] = (spec->input_len == 7 && memcmp(spec->input, "inherit", 7) == 0)
				     ? S_INHERIT
				     : S_STRING;
		break;
	default:
		luaL_error(L, "bad option 'stdin' (string expected, got %s)", luaL_typename(L, -1));
	}
	spec->mode[OUT] = read_output_mode(L, "stdout", &spec->callback[OUT]);
	spec->mode[ERR] = read_output_mode(L, "stderr", &spec->callback[ERR]);
}

/* ---------------------------------------------------------------------------------------- */
/* The child */

/* From here to exec only async-signal-safe calls: the child of a fork must not allocate. */
static void child_fail(int fd, int step, int err)
{
	struct report rep = {step, err};
	while (write(fd, &rep, sizeof rep) < 0 && errno == EINTR)
		;
	_exit(127);
}

/* The child: a process group of its own unless the run is in the foreground (or the child of
** a detached session's supervisor, which leads the group), then the program. */
static void child_exec(const Run *run, const Spec *spec)
{
	int report = run->report_fd[1];
	int err = ENOENT, denied = 0;
	struct sigaction dfl;
	sigset_t none;
	if (run->own_group && setpgid(0, 0) != 0)
		child_fail(report, STEP_SETPGID, errno);
	/* The program starts with default signal handling, whatever gt set up or blocked. */
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP && sigaction(sig, &dfl, NULL) != 0 &&
		    errno != EINVAL)
			child_fail(report, STEP_SIGNALS, errno);
	if (sigemptyset(&none) != 0 || sigprocmask(SIG_SETMASK, &none, NULL) != 0)
		child_fail(report, STEP_SIGNALS, errno);
	for (int i = 0; i < 3; i++) /* the sources are above 2 (above_std), so never equal i */
		if (run->child_fd[i] >= 0 && dup2(run->child_fd[i], i) < 0)
			child_fail(report, STEP_DUP, errno);
	/* Descriptors that gt or its libraries opened without O_CLOEXEC do not reach the program.
	** Older kernels lack close_range: gt's own descriptors are close-on-exec anyway. */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
		errno = 0;
	if (spec->cwd != NULL && chdir(spec->cwd) != 0)
		child_fail(report, STEP_CHDIR, errno);
	/* execvp's search, without its fallback of running a non-executable file with /bin/sh. */
	for (const char *const *p = spec->paths; *p != NULL; p++) {
		execve(*p, (char *const *)spec->argv, (char *const *)spec->envp);
		switch (errno) {
		case EACCES: denied = 1; break;
		case ENOENT:
		case ENOTDIR:
		case ESTALE:
		case ENODEV:
		case ETIMEDOUT: err = errno; break;
		default: child_fail(report, STEP_EXEC, errno);
		}
	}
	child_fail(report, STEP_EXEC, denied ? EACCES : err);
}

/* ---------------------------------------------------------------------------------------- */
/* The parent */

/* Opens the pipes (or /dev/null) each stream needs. Returns 0, or -1 with errno set. */
static int open_streams(Run *run, const Spec *spec)
{
	int fds[2];
	if (spec->mode[IN] == S_NULL) {
		run->child_fd[IN] = above_std(open("/dev/null", O_RDONLY | O_CLOEXEC));
		if (run->child_fd[IN] < 0)
			return -1;
	} else if (spec->mode[IN] == S_STRING) {
		if (pipe_cloexec(fds) != 0)
			return -1;
		run->child_fd[IN] = fds[0];
		run->fd[IN] = fds[1];
		/* Only gt's end is non-blocking: the program reads its stdin as usual. */
		if (fcntl(run->fd[IN], F_SETFL, O_NONBLOCK) != 0)
			return -1;
	}
	for (int i = OUT; i <= ERR; i++) {
		if (spec->mode[i] == S_INHERIT)
			continue;
		if (pipe_cloexec(fds) != 0)
			return -1;
		run->fd[i] = fds[0];
		run->child_fd[i] = fds[1];
	}
	return pipe_cloexec(run->report_fd);
}

/* Waits for exec: returns 0 once the program runs, or the child's report of why it cannot. */
static int read_report(Run *run, struct report *rep)
{
	ssize_t n;
	while ((n = read(run->report_fd[0], rep, sizeof *rep)) < 0 && errno == EINTR)
		;
	close_fd(&run->report_fd[0]);
	if (n == (ssize_t)sizeof *rep)
		return -1;
	if (n != 0) { /* cannot happen with a pipe write this small; treat it as an exec failure */
		rep->step = STEP_EXEC;
		rep->err = n < 0 ? errno : EIO;
		return -1;
	}
	return 0;
}

/* write(), except that a reader gone away yields EPIPE without a SIGPIPE killing gt. */
static ssize_t write_nosigpipe(int fd, const char *data, size_t len)
{
	sigset_t pipe_set, old, pending;
	ssize_t n;
	int err, was_pending;
	if (sigemptyset(&pipe_set) != 0 || sigaddset(&pipe_set, SIGPIPE) != 0 ||
	    sigpending(&pending) != 0)
		return -1;
	was_pending = sigismember(&pending, SIGPIPE) == 1;
	if (sigprocmask(SIG_BLOCK, &pipe_set, &old) != 0)
		return -1;
	n = write(fd, data, len);
	err = errno;
	if (n < 0 && err == EPIPE && !was_pending) {
		struct timespec zero = {0, 0};
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			; /* consume the SIGPIPE this write raised */
	}
	if (sigprocmask(SIG_SETMASK, &old, NULL) != 0)
		return -1;
	errno = err;
	return n;
}

/* Feeds more of the input to the child's stdin; closes it when all is written or the child
** stopped reading (a program may well exit without reading its input: not an error). */
static void feed_stdin(Run *run, const Spec *spec, size_t *written)
{
	size_t left = spec->input_len - *written;
	ssize_t n =
	    write_nosigpipe(run->fd[IN], spec->input + *written, left < CHUNK ? left : CHUNK);
	if (n > 0)
		*written += (size_t)n;
	else if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0 || *written == spec->input_len)
		close_fd(&run->fd[IN]);
}

/* Reads one chunk of stdout or stderr: keeps it, or hands it to the callback. */
static void drain(lua_State *L, Run *run, const Spec *spec, int i)
{
	Buf *b = &run->buf[i];
	ssize_t n;
	buf_reserve(L, b);
	n = read(run->fd[i], b->data + b->len, CHUNK);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) { /* end of output (a read error ends it too) */
		close_fd(&run->fd[i]);
		return;
	}
	if (spec->mode[i] == S_CAPTURE) {
		b->len += (size_t)n;
	} else {
		lua_pushvalue(L, spec->callback[i]);
		lua_pushlstring(L, b->data + b->len, (size_t)n);
		/* Not left to __close alone: in a coroutine that dies of the error, that would wait for
		** coroutine.close or the collector. */
		if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
			run_release(run); /* SIGKILL to the group, reap, close, free */
			lua_error(L);
		}
	}
}

/* How the run ends: the timeout, and the SIGTERM-then-SIGKILL sequence once it is started. */
struct ending {
	long long term_at; /* when the timeout sends SIGTERM; 0: no timeout */
	long long kill_at; /* when SIGKILL follows; 0: no SIGTERM sent yet */
	int killed;        /* SIGKILL was sent */
	int timed_out;
	int status; /* from waitpid */
};

static void terminate(Run *run, struct ending *end, long long now)
{
	if (end->kill_at == 0) {
		signal_child(run, SIGTERM);
		end->kill_at = now + KILL_AFTER_MS;
	}
}

/* The poll timeout: milliseconds until the next timed step, at most `cap` (-1: no limit). */
static int next_wait(const struct ending *end, long long now, int cap)
{
	long long at = end->kill_at ? (end->killed ? 0 : end->kill_at) : end->term_at;
	long long ms;
	if (at == 0)
		return cap;
	ms = at > now ? at - now : 0;
	return (cap >= 0 && ms > cap) ? cap : (int)ms;
}

/* Feeds stdin and drains stdout and stderr until they are closed and the child is reaped.
** Returns 0, or -1 with errno set and *what naming the call that failed. */
static int collect(lua_State *L, Run *run, const Spec *spec, struct ending *end, const char **what)
{
	size_t written = 0;
	int pause_ms = 1; /* once the pipes are closed, waitpid is polled: 1 ms up to 50 ms */
	if (spec->mode[IN] == S_STRING && spec->input_len == 0)
		close_fd(&run->fd[IN]);
	for (;;) {
		struct pollfd pfd[3];
		int stream[3], nfds = 0, ready;
		long long now;
		for (int i = 0; i < 3; i++) {
			if (run->fd[i] < 0)
				continue;
			pfd[nfds].fd = run->fd[i];
			pfd[nfds].events = i == IN ? POLLOUT : POLLIN;
			pfd[nfds].revents = 0;
			stream[nfds++] = i;
		}
		if (nfds == 0) {
			/* A blocking waitpid would be restarted after gt's signal handlers (SA_RESTART)
			** and miss an interrupt; poll() never is. */
			pid_t r = waitpid(run->pid, &end->status, WNOHANG);
			if (r == run->pid) {
				run->pid = -1;
				if (run->passing)
					pass_to =
					    0; /* its pid is free: nothing more is passed on */
				return 0;
			}
			if (r < 0 && errno != EINTR) {
				if (errno == ECHILD)
					run->pid =
					    -1; /* reaped elsewhere (SIGCHLD ignored): nothing to kill */
				*what = "waitpid";
				return -1;
			}
		}
		ready =
		    poll(pfd, (nfds_t)nfds,
			 next_wait(end, (long long)gt_monotonic_ms(), nfds > 0 ? -1 : pause_ms));
		if (nfds == 0 && pause_ms < 50)
			pause_ms *= 2;
		now = (long long)gt_monotonic_ms();
		if (ready < 0) {
			if (errno != EINTR) {
				*what = "poll";
				return -1;
			}
			/* gt handles SIGINT and SIGTERM only (main.c), and raises "interrupted" once back
			** in Lua: end the child first, so that nothing is left running. In the
			** foreground, signals are passed on to the child, which decides. */
			if (!spec->foreground)
				terminate(run, end, now);
		}
		if (end->term_at != 0 && now >= end->term_at && end->kill_at == 0) {
			end->timed_out = 1;
			terminate(run, end, now);
		}
		if (end->kill_at != 0 && !end->killed && now >= end->kill_at) {
			signal_child(run, SIGKILL);
			end->killed = 1;
		}
		for (int k = 0; ready > 0 && k < nfds; k++) {
			if (pfd[k].revents == 0)
				continue;
			if (stream[k] == IN)
				feed_stdin(run, spec, &written);
			else
				drain(L, run, spec, stream[k]);
		}
	}
}

static void push_output(lua_State *L, const Buf *b, const char *field)
{
	lua_pushlstring(L, b->data != NULL ? b->data : "", b->len);
	lua_setfield(L, -2, field);
}

static void push_result(lua_State *L, const Run *run, const Spec *spec, pid_t pid,
			const struct ending *end)
{
	lua_createtable(L, 0, 7);
	if (WIFEXITED(end->status)) {
		lua_pushinteger(L, WEXITSTATUS(end->status));
		lua_setfield(L, -2, "code");
	} else if (WIFSIGNALED(end->status)) {
		lua_pushinteger(L, WTERMSIG(end->status));
		lua_setfield(L, -2, "signal");
	}
	lua_pushboolean(L, WIFEXITED(end->status) && WEXITSTATUS(end->status) == 0);
	lua_setfield(L, -2, "ok");
	if (spec->mode[OUT] == S_CAPTURE)
		push_output(L, &run->buf[OUT], "stdout");
	if (spec->mode[ERR] == S_CAPTURE)
		push_output(L, &run->buf[ERR], "stderr");
	lua_pushboolean(L, end->timed_out);
	lua_setfield(L, -2, "timed_out");
	lua_pushinteger(L, (lua_Integer)pid);
	lua_setfield(L, -2, "pid");
}

/* The failure the child reported, as nil, message, code. */
static int push_report(lua_State *L, const Spec *spec, const struct report *rep)
{
	if (rep->step == STEP_CHDIR)
		return gt_pusherrno(L, rep->err, "%s", spec->cwd);
	if (rep->step == STEP_EXEC || rep->step < 1 || rep->step > STEP_EXEC)
		return gt_pusherrno(L, rep->err, "%s", spec->argv[0]);
	return gt_pusherrno(L, rep->err, "%s: %s", spec->argv[0], step_names[rep->step]);
}

/* Starts the child and collects its outcome; returns the number of results pushed. Whatever
** it leaves acquired, the caller releases (or, on an error, the run's __close). */
static int spawn(lua_State *L, Run *run, const Spec *spec)
{
	struct report rep;
	struct ending end = {0, 0, 0, 0, 0};
	const char *what = "";
	sigset_t old_mask;
	pid_t pid;
	if (open_streams(run, spec) != 0)
		return gt_pusherrno(L, errno, "pipe");
	/* What gt wrote before comes before what the program writes to the same place. A failed
	** flush shows again at gt's next write. */
	if ((spec->mode[OUT] == S_INHERIT || spec->mode[ERR] == S_INHERIT) && fflush(NULL) != 0)
		errno = 0;
	run->own_group = !spec->foreground;
	/* Signals to pass on are blocked until the child's pid is known (the child unblocks them
	** once its handlers are the defaults). */
	if (spec->foreground) {
		if (block_passed(&old_mask) != 0)
			return gt_pusherrno(L, errno, "sigprocmask");
		if (passing_begin(run) != 0) {
			int err = errno;
			if (sigprocmask(SIG_SETMASK, &old_mask, NULL) != 0)
				errno = 0;
			return gt_pusherrno(L, err, "sigaction");
		}
	}
	pid = fork();
	if (pid == 0)
		child_exec(run, spec);
	if (pid > 0)
		run->pid = pid;
	if (spec->foreground) {
		int err = errno;
		pass_to = pid > 0 ? pid : 0;
		if (sigprocmask(SIG_SETMASK, &old_mask, NULL) != 0)
			errno = 0;
		errno = err;
	}
	if (pid < 0)
		return gt_pusherrno(L, errno, "fork");
	/* Also here, so the group exists before gt may signal it. EACCES: the child has exec'd,
	** after doing it itself; ESRCH: it has died, and reports why. */
	if (run->own_group && setpgid(pid, pid) != 0 && errno != EACCES && errno != ESRCH)
		errno = 0;
	for (int i = 0; i < 3; i++)
		close_fd(&run->child_fd[i]);
	close_fd(&run->report_fd[1]);
	if (read_report(run, &rep) != 0) {
		int status;
		reap(run->pid, &status); /* fails only if the child is gone already */
		run->pid = -1;
		return push_report(L, spec, &rep);
	}
	if (spec->started != 0) {
		lua_pushvalue(L, spec->started);
		lua_pushinteger(L, (lua_Integer)pid);
		if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
			run_release(run); /* as an output callback's error: kill, reap, close */
			lua_error(L);
		}
	}
	/* A timeout beyond any real run is no timeout (and now + timeout must not overflow). */
	if (spec->timeout_ms < LUA_MAXINTEGER / 2)
		end.term_at = (long long)gt_monotonic_ms() + spec->timeout_ms;
	if (collect(L, run, spec, &end, &what) != 0)
		return gt_pusherrno(L, errno, "%s", what);
	push_result(L, run, spec, pid, &end);
	return 1;
}

/* Pushes a clean run, to be closed: on any error (out of memory, an interrupt), __close kills,
** reaps, frees. */
static Run *new_run(lua_State *L)
{
	Run *run = (Run *)lua_newuserdatauv(L, sizeof *run, 0);
	run->pid = -1; /* clean first, so __close and __gc always see a consistent object */
	for (int i = 0; i < 3; i++) {
		run->fd[i] = run->child_fd[i] = -1;
		run->buf[i].data = NULL;
		run->buf[i].len = run->buf[i].cap = 0;
	}
	run->report_fd[0] = run->report_fd[1] = -1;
	run->status_fd = -1;
	run->own_group = 1;
	run->passing = 0;
	luaL_setmetatable(L, RUN_TYPE);
	lua_toclose(L, -1);
	return run;
}

/* proc.run(opts) -> {code, signal, ok, stdout, stderr, timed_out, pid} | nil, err, code */
static int proc_run(lua_State *L)
{
	Spec spec;
	Run *run;
	int n;
	read_spec(L, &spec);
	run = new_run(L);
	n = spawn(L, run, &spec);
	run_release(
	    run); /* here too, not only in __close: gt's interrupt hook may raise on that call */
	return n;
}

/* ---------------------------------------------------------------------------------------- */
/* Detached sessions */

/* Closes every descriptor from `from` on, but `keep` (-1: none). Async-signal-safe. */
static void close_from(int from, int keep)
{
	struct rlimit rl;
	int max = 65536;
	if (keep >= from) {
		close_from(keep + 1, -1);
		if (keep > from && close_range((unsigned)from, (unsigned)keep - 1, 0) != 0)
			for (int fd = from; fd < keep; fd++)
				close(fd);
		return;
	}
	if (close_range((unsigned)from, ~0U, 0) == 0)
		return;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)max)
		max = (int)rl.rlim_cur;
	for (int fd = from; fd < max; fd++)
		close(fd);
}

/* Writes "<n>" to buf (at least 12 bytes); returns its length. Async-signal-safe. */
static size_t format_int(char *buf, long n)
{
	char tmp[24];
	size_t len = 0, i = 0;
	int negative = n < 0;
	unsigned long u = negative ? 0UL - (unsigned long)n : (unsigned long)n;
	do {
		tmp[i++] = (char)('0' + u % 10);
		u /= 10;
	} while (u > 0 && i < sizeof tmp);
	if (negative)
		buf[len++] = '-';
	while (i > 0)
		buf[len++] = tmp[--i];
	return len;
}

/* The supervisor of a detached session, forked from gt (so from here on only async-signal-safe
** calls): leads a session and process group of its own, starts the program in it, and writes
** "<own pid> <exit status, or 128 + the signal that killed it>" to the status file once the
** program has ended. Every signal is blocked on entry. */
static void supervise(const Run *run, const Spec *spec)
{
	int report = run->report_fd[1];
	struct sigaction sa;
	sigset_t none;
	pid_t child;
	int status, code;
	char line[64];
	size_t len;
	if (setsid() < 0)
		child_fail(report, STEP_SETSID, errno);
	for (int i = 0; i < 3; i++) /* the sources are above 2 (above_std), so never equal i */
		if (dup2(run->child_fd[i], i) < 0)
			child_fail(report, STEP_DUP, errno);
	/* Stopping the session signals its group: the supervisor outlives the program to record
	** how it ended (SIGKILL ends both). Other signals take their default action (SIGCHLD's
	** before the fork: ignored, it would reap the program before waitpid could). The program
	** sets its own (child_exec). */
	memset(&sa, 0, sizeof sa);
	for (int sig = 1; sig < NSIG; sig++) {
		sa.sa_handler = SIG_DFL;
		for (int i = 0; i < NPASSED; i++)
			if (sig == passed_signals[i])
				sa.sa_handler = SIG_IGN;
		if (sig != SIGKILL && sig != SIGSTOP && sigaction(sig, &sa, NULL) != 0)
			errno = 0;
	}
	child = fork();
	if (child < 0)
		child_fail(report, STEP_FORK, errno);
	if (child == 0)
		child_exec(run, spec); /* run->own_group is 0: the program stays in this group */
	close(report);
	if (sigemptyset(&none) == 0 && sigprocmask(SIG_SETMASK, &none, NULL) != 0)
		errno = 0;
	if (chdir("/") != 0) /* holds no folder of gt's, nor one of the polecat's, in use */
		errno = 0;
	close_from(3, run->status_fd);
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			_exit(1);
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	len = format_int(line, (long)getpid());
	line[len++] = ' ';
	len += format_int(line + len, code);
	line[len++] = '\n';
	if (run->status_fd >= 0 && write(run->status_fd, line, len) < 0)
		_exit(1);
	_exit(0);
}

/* Starts the supervisor; returns the number of results pushed. Whatever it leaves acquired,
** the caller releases. */
static int start(lua_State *L, Run *run, const Spec *spec, const char *log, const char *status)
{
	struct report rep;
	sigset_t all, old;
	pid_t pid;
	int err;
	run->own_group = 0; /* the program runs in its supervisor's group */
	if ((run->child_fd[IN] = above_std(open("/dev/null", O_RDONLY | O_CLOEXEC))) < 0)
		return gt_pusherrno(L, errno, "/dev/null");
	run->child_fd[OUT] =
	    above_std(open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0666));
	if (run->child_fd[OUT] < 0)
		return gt_pusherrno(L, errno, "%s", log);
	if ((run->child_fd[ERR] = fcntl(run->child_fd[OUT], F_DUPFD_CLOEXEC, 3)) < 0)
		return gt_pusherrno(L, errno, "%s", log);
	if (status != NULL) {
		run->status_fd = above_std(
		    open(status, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0666));
		if (run->status_fd < 0)
			return gt_pusherrno(L, errno, "%s", status);
	}
	if (pipe_cloexec(run->report_fd) != 0)
		return gt_pusherrno(L, errno, "pipe");
	/* No handler of gt's may run in the supervisor: everything is blocked across the fork. */
	if (sigfillset(&all) != 0 || sigprocmask(SIG_BLOCK, &all, &old) != 0)
		return gt_pusherrno(L, errno, "sigprocmask");
	pid = fork();
	if (pid == 0)
		supervise(run, spec);
	err = errno;
	if (sigprocmask(SIG_SETMASK, &old, NULL) != 0)
		errno = 0;
	if (pid < 0)
		return gt_pusherrno(L, err, "fork");
	for (int i = 0; i < 3; i++)
		close_fd(&run->child_fd[i]);
	close_fd(&run->status_fd);
	close_fd(&run->report_fd[1]);
	if (read_report(run, &rep) != 0) {
		int st;
		reap(pid, &st); /* the supervisor ends once the failed child has */
		return push_report(L, spec, &rep);
	}
	lua_pushinteger(L, (lua_Integer)pid);
	return 1;
}

/* proc.start(opts) -> pid | nil, err, code: starts opts.argv detached, under a supervisor whose
** pid (its session and process group) is returned; see the header comment. */
static int proc_start(lua_State *L)
{
	Spec spec;
	Run *run;
	const char *log, *status;
	int n;
	read_command(L, &spec, start_option_names);
	log = opt_cstring(L, "log");
	luaL_argcheck(L, log != NULL, 1, "'log' must be a path");
	status = opt_cstring(L, "status");
	run = new_run(L);
	n = start(L, run, &spec, log, status);
	run_release(run);
	return n;
}

/* Whether path names an executable regular file. */
static int is_executable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* proc.which(name [, path]) -> string | nil, err, "ENOTFOUND": where run would find name. */
static int proc_which(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	const char *path = luaL_optstring(L, 2, getenv("PATH"));
	lua_Integer n;
	luaL_argcheck(L, name[0] != '\0', 1, "must not be empty");
	push_candidates(L, name, path ? path : DEFAULT_PATH);
	n = (lua_Integer)lua_rawlen(L, -1);
	for (lua_Integer i = 1; i <= n; i++) {
		lua_rawgeti(L, -1, i);
		if (is_executable(lua_tostring(L, -1)))
			return 1;
		lua_pop(L, 1);
	}
	return gt_pushfail(L, "ENOTFOUND", "%s: not found on PATH", name);
}

static const luaL_Reg funcs[] = {
    {"run", proc_run},
    {"start", proc_start},
    {"which", proc_which},
    {NULL, NULL},
};

static const luaL_Reg metamethods[] = {
    {"__gc", run_gc},
    {"__close", run_gc},
    {NULL, NULL},
};

int luaopen_gt_proc(lua_State *L)
{
	luaL_newlib(L, funcs);
	gt_createmeta(L, RUN_TYPE, metamethods, NULL);
	return 1;
}
