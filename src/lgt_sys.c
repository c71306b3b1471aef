/*
** lgt_sys.c: gt.sys, the few facts about the process and the machine that Lua's os library
** does not give: wall and monotonic milliseconds, sleeping, pids, terminals, host name.
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "gt.h"

/* sys.now_ms() -> integer: Unix time in milliseconds. */
static int sys_now_ms(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)gt_now_ms());
	return 1;
}

/* sys.clock_ms() -> number: monotonic milliseconds (with fractions), for measuring durations. */
static int sys_clock_ms(lua_State *L)
{
	lua_pushnumber(L, (lua_Number)gt_monotonic_ms());
	return 1;
}

/* sys.sleep_ms(ms) */
static int sys_sleep_ms(lua_State *L)
{
	lua_Integer ms = luaL_checkinteger(L, 1);
	luaL_argcheck(L, ms >= 0, 1, "must be >= 0");
	gt_sleep_ms((long long)ms);
	return 0;
}

/* sys.pid() -> integer */
static int sys_pid(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)getpid());
	return 1;
}

/* sys.pid_alive(pid) -> boolean: whether a process with that pid exists on this machine. */
static int sys_pid_alive(lua_State *L)
{
	lua_Integer pid = luaL_checkinteger(L, 1);
	luaL_argcheck(L, pid > 0 && pid <= INT_MAX, 1, "not a process id");
	lua_pushboolean(L, kill((pid_t)pid, 0) == 0 || errno == EPERM);
	return 1;
}

/* sys.kill(pid, signal) -> true | nil, err, code: sends a signal (a number, as kill(2)) to a
** process, or to process group -pid when pid is negative. */
static int sys_kill(lua_State *L)
{
	lua_Integer pid = luaL_checkinteger(L, 1);
	lua_Integer sig = luaL_checkinteger(L, 2);
	/* pid_t is narrower: 2^32 - 1 would become -1, every process of the user; -1 itself and 0
	** (gt's own group) are not asked for either. */
	luaL_argcheck(L, (pid > 0 && pid <= INT_MAX) || (pid < -1 && pid >= -INT_MAX), 1,
		      "not a process id (nor -pgid)");
	luaL_argcheck(L, sig >= 0 && sig < 65, 2, "not a signal number");
	if (kill((pid_t)pid, (int)sig) != 0)
		return gt_pusherrno(L, errno, "kill %d", (int)pid);
	lua_pushboolean(L, 1);
	return 1;
}

/* sys.proc_start(pid) -> string | nil: the start time of process `pid` (field 22 of
** /proc/<pid>/stat, clock ticks since boot), which a later process reusing the pid cannot
** have; nil when there is no such process, or it has exited (a zombie). */
static int sys_proc_start(lua_State *L)
{
	lua_Integer pid = luaL_checkinteger(L, 1);
	char path[64], buf[2048];
	const char *p;
	ssize_t n;
	int fd, field;
	luaL_argcheck(L, pid > 0 && pid <= INT_MAX, 1, "not a process id");
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT || errno == ESRCH)
			goto none;
		return gt_pusherrno(L, errno, "%s", path);
	}
	while ((n = read(fd, buf, sizeof buf - 1)) < 0 && errno == EINTR)
		;
	if (n < 0) {
		int err = errno;
		close(fd);
		if (err == ESRCH) /* it exited between the open and the read */
			goto none;
		return gt_pusherrno(L, err, "%s", path);
	}
	close(fd);
	buf[n] = '\0';
	/* "pid (comm) state ...": comm may hold spaces and parentheses, so fields are counted from
	** the last ')'. Field 3 is the state; field 22 the start time. */
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return gt_pushfail(L, "EINVALID", "%s: cannot parse", path);
	p += 2;
	if (*p == 'Z' || *p == 'X' || *p == 'x')
		goto none;
	for (field = 3; field < 22 && *p != '\0'; field++) {
		p = strchr(p, ' ');
		if (p == NULL)
			return gt_pushfail(L, "EINVALID", "%s: cannot parse", path);
		p++;
	}
	n = (ssize_t)strcspn(p, " \n");
	if (n == 0)
		return gt_pushfail(L, "EINVALID", "%s: cannot parse", path);
	lua_pushlstring(L, p, (size_t)n);
	return 1;
none:
	luaL_pushfail(L);
	return 1;
}

/* sys.open_by(path) -> pid | nil: a process of this machine that has the file at `path` open
** (found through /proc/<pid>/fd), or nil when none has. A lock file nobody has open is one its
** writer left when it died. Processes whose descriptors gt may not read are not seen. */
static int sys_open_by(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	struct stat want, st;
	DIR *procs;
	struct dirent *p;
	if (stat(path, &want) != 0)
		return gt_pusherrno(L, errno, "%s", path);
	if ((procs = opendir("/proc")) == NULL)
		return gt_pusherrno(L, errno, "/proc");
	while ((p = readdir(procs)) != NULL) {
		char dir[300], fd[600];
		DIR *fds;
		struct dirent *f;
		if (p->d_name[0] < '0' || p->d_name[0] > '9')
			continue;
		snprintf(dir, sizeof dir, "/proc/%s/fd", p->d_name);
		if ((fds = opendir(dir)) == NULL)
			continue;
		while ((f = readdir(fds)) != NULL) {
			if (f->d_name[0] == '.')
				continue;
			snprintf(fd, sizeof fd, "%s/%s", dir, f->d_name);
			if (stat(fd, &st) == 0 && st.st_dev == want.st_dev &&
			    st.st_ino == want.st_ino) {
				closedir(fds);
				closedir(procs);
				lua_pushinteger(L, (lua_Integer)strtol(p->d_name, NULL, 10));
				return 1;
			}
		}
		closedir(fds);
	}
	closedir(procs);
	luaL_pushfail(L);
	return 1;
}

/* sys.hostname() -> string */
static int sys_hostname(lua_State *L)
{
	char host[256];
	if (gethostname(host, sizeof host) != 0)
		return gt_pusherrno(L, errno, "gethostname");
	host[sizeof host - 1] = '\0';
	lua_pushstring(L, host);
	return 1;
}

static int checkfd(lua_State *L, int arg)
{
	static const char *const names[] = {"stdin", "stdout", "stderr", NULL};
	return luaL_checkoption(L, arg, NULL, names);
}

/* sys.isatty("stdin"|"stdout"|"stderr") -> boolean */
static int sys_isatty(lua_State *L)
{
	lua_pushboolean(L, isatty(checkfd(L, 1)));
	return 1;
}

/* sys.term_width("stdout"|"stderr") -> integer | nil: columns of the terminal, if it is one. */
static int sys_term_width(lua_State *L)
{
	struct winsize ws;
	if (ioctl(checkfd(L, 1), TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0) {
		luaL_pushfail(L);
		return 1;
	}
	lua_pushinteger(L, ws.ws_col);
	return 1;
}

static const luaL_Reg funcs[] = {
    {"now_ms", sys_now_ms}, {"clock_ms", sys_clock_ms},     {"sleep_ms", sys_sleep_ms},
    {"pid", sys_pid},       {"pid_alive", sys_pid_alive},   {"hostname", sys_hostname},
    {"kill", sys_kill},     {"proc_start", sys_proc_start}, {"open_by", sys_open_by},
    {"isatty", sys_isatty}, {"term_width", sys_term_width}, {NULL, NULL},
};

int luaopen_gt_sys(lua_State *L)
{
	luaL_newlib(L, funcs);
	return 1;
}
