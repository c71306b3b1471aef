/*
** lgt_lock.c: gt.lock, advisory file locks (flock) that say who holds them.
**
**   local lk <close>, err, code = lock.acquire(path, {timeout_ms = 5000, what = "gt polecat add"})
**
** The holder writes "pid", "what", "since" (Unix ms) and "host" lines into the file, so a busy
** lock is reported as "lock busy: held by pid 1234 (gt polecat remove) for 42s". The kernel
** releases the lock when the process dies; files are never unlinked (unlinking a lock file
** races with a process that has just opened it).
*/
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "gt.h"

#define LOCK_TYPE "gt.Lock"

typedef struct {
	int fd; /* -1 once released */
} Lock;

static Lock *tolock(lua_State *L)
{
	return (Lock *)luaL_checkudata(L, 1, LOCK_TYPE);
}

static Lock *toheld(lua_State *L)
{
	Lock *lk = tolock(L);
	if (lk->fd < 0)
		luaL_error(L, "attempt to use a released lock");
	return lk;
}

static void release(Lock *lk)
{
	if (lk->fd >= 0) {
		/* Clear the holder lines while still holding the lock. A failure is harmless: the
		** next holder rewrites them. */
		if (ftruncate(lk->fd, 0) != 0)
			errno = 0;
		close(lk->fd); /* closing the last descriptor releases the flock */
		lk->fd = -1;
	}
}

/* Parses the holder lines of an open lock file into a table on the stack; returns 0 if the
** file holds none (its holder has not written them yet, or released it). */
static int push_holder(lua_State *L, int fd)
{
	char buf[1024];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	char *line, *save = NULL;
	int found = 0;
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	lua_createtable(L, 0, 4);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *value = strchr(line, ' ');
		if (value == NULL)
			continue;
		*value++ = '\0';
		if (strcmp(line, "pid") == 0 || strcmp(line, "since") == 0) {
			lua_pushinteger(L, strtoll(value, NULL, 10));
			lua_setfield(L, -2, strcmp(line, "pid") == 0 ? "pid" : "since_ms");
			found = 1;
		} else if (strcmp(line, "what") == 0 || strcmp(line, "host") == 0) {
			lua_pushstring(L, value);
			lua_setfield(L, -2, line);
		}
	}
	if (!found)
		lua_pop(L, 1);
	return found;
}

static int busy(lua_State *L, int fd, const char *path)
{
	if (push_holder(L, fd)) {
		lua_Integer pid, since;
		const char *what;
		lua_getfield(L, -1, "pid");
		lua_getfield(L, -2, "since_ms");
		lua_getfield(L, -3, "what");
		pid = lua_tointeger(L, -3);
		since = lua_tointeger(L, -2);
		what = lua_isstring(L, -1) ? lua_tostring(L, -1) : "?";
		return gt_pushfail(L, "ELOCKED", "lock busy: held by pid %I (%s) for %Is", pid,
				   what, (lua_Integer)((gt_now_ms() - since) / 1000));
	}
	return gt_pushfail(L, "ELOCKED", "lock busy: %s is held by another process", path);
}

static void write_holder(int fd, const char *what)
{
	char host[256] = "?";
	char buf[1024];
	int n;
	gethostname(host, sizeof host - 1);
	host[sizeof host - 1] = '\0';
	n = snprintf(buf, sizeof buf, "pid %ld\nwhat %s\nsince %lld\nhost %s\n", (long)getpid(),
		     what, gt_now_ms(), host);
	if (n > (int)sizeof buf - 1)
		n = (int)sizeof buf - 1;
	/* The holder lines are information only: a failed write does not weaken the lock. */
	if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n)
		errno = 0;
}

/* Waits for the lock with growing pauses (1 ms up to 50 ms) until the deadline. */
static int lock_fd(int fd, lua_Integer timeout_ms)
{
	double deadline = gt_monotonic_ms() + (double)timeout_ms;
	long long pause_ms = 1;
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		if (gt_interrupted) {
			errno = EINTR;
			return -1;
		}
		if (gt_monotonic_ms() >= deadline) {
			errno = EWOULDBLOCK;
			return -1;
		}
		gt_sleep_ms(pause_ms);
		if (pause_ms < 50)
			pause_ms *= 2;
	}
}

static int acquire(lua_State *L, lua_Integer default_timeout)
{
	const char *path = luaL_checkstring(L, 1);
	lua_Integer timeout = gt_optfield_integer(L, 2, "timeout_ms", default_timeout);
	const char *what = gt_optfield_string(L, 2, "what", "gt");
	Lock *lk;
	luaL_argcheck(L, timeout >= 0, 2, "timeout_ms must be >= 0");
	luaL_argcheck(L, strchr(what, '\n') == NULL, 2, "'what' must be one line");
	lk = (Lock *)lua_newuserdatauv(L, sizeof *lk, 1);
	lk->fd = -1; /* closed first, so __gc always sees a consistent object */
	luaL_setmetatable(L, LOCK_TYPE);
	lua_pushvalue(L, 1);
	lua_setiuservalue(L, -2, 1); /* remember the path */
	lk->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lk->fd < 0)
		return gt_pusherrno(L, errno, "%s", path);
	if (lock_fd(lk->fd, timeout) != 0) {
		int err = errno;
		int n =
		    err == EWOULDBLOCK ? busy(L, lk->fd, path) : gt_pusherrno(L, err, "%s", path);
		close(lk->fd);
		lk->fd = -1;
		return n;
	}
	write_holder(lk->fd, what);
	return 1;
}

/* lock.acquire(path [, {timeout_ms = 5000, what = "..."}]) -> gt.Lock | nil, err, code */
static int lock_acquire(lua_State *L)
{
	return acquire(L, 5000);
}

/* lock.try(path [, {what = "..."}]) -> gt.Lock | nil, err, "ELOCKED": never waits. */
static int lock_try(lua_State *L)
{
	return acquire(L, 0);
}

/* lock.holder(path) -> {pid, what, since_ms, host} | nil: who holds (or last held) the lock. */
static int lock_holder(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int found;
	if (fd < 0) {
		if (errno == ENOENT) {
			luaL_pushfail(L);
			return 1;
		}
		return gt_pusherrno(L, errno, "%s", path);
	}
	found = push_holder(L, fd);
	close(fd);
	if (!found)
		luaL_pushfail(L);
	return 1;
}

static int l_release(lua_State *L)
{
	release(toheld(L));
	lua_pushboolean(L, 1);
	return 1;
}

static int l_path(lua_State *L)
{
	toheld(L);
	lua_getiuservalue(L, 1, 1);
	return 1;
}

static int l_gc(lua_State *L)
{
	release(tolock(L));
	return 0;
}

static int l_tostring(lua_State *L)
{
	Lock *lk = tolock(L);
	if (lk->fd < 0) {
		lua_pushliteral(L, "gt.Lock (released)");
	} else {
		lua_getiuservalue(L, 1, 1);
		lua_pushfstring(L, "gt.Lock (%s)", lua_tostring(L, -1));
	}
	return 1;
}

static const luaL_Reg funcs[] = {
    {"acquire", lock_acquire},
    {"try", lock_try},
    {"holder", lock_holder},
    {NULL, NULL},
};

static const luaL_Reg methods[] = {
    {"release", l_release},
    {"path", l_path},
    {NULL, NULL},
};

static const luaL_Reg metamethods[] = {
    {"__index", NULL}, /* placeholder */
    {"__gc", l_gc},    {"__close", l_gc}, {"__tostring", l_tostring}, {NULL, NULL},
};

int luaopen_gt_lock(lua_State *L)
{
	luaL_newlib(L, funcs);
	gt_createmeta(L, LOCK_TYPE, metamethods, methods);
	return 1;
}
