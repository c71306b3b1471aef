/*
** lgt_fs.c: gt.fs, the file system operations that Lua's io and os libraries lack: stat,
** realpath, directories, bounded reads of regular files, renames, and removing a whole tree
** without following symbolic links.
*/
#define _GNU_SOURCE /* copy_file_range, nftw */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gt.h"

static const char *type_name(mode_t mode)
{
	if (S_ISREG(mode))
		return "file";
	if (S_ISDIR(mode))
		return "directory";
	if (S_ISLNK(mode))
		return "link";
	return "other";
}

static int push_stat(lua_State *L, const char *path, int follow)
{
	struct stat st;
	if ((follow ? stat(path, &st) : lstat(path, &st)) != 0)
		return gt_pusherrno(L, errno, "%s", path);
	lua_createtable(L, 0, 6);
	lua_pushstring(L, type_name(st.st_mode));
	lua_setfield(L, -2, "type");
	lua_pushinteger(L, (lua_Integer)st.st_size);
	lua_setfield(L, -2, "size");
	lua_pushinteger(L, (lua_Integer)(st.st_mode & 07777));
	lua_setfield(L, -2, "mode");
	lua_pushinteger(L, (lua_Integer)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000);
	lua_setfield(L, -2, "mtime_ms");
	lua_pushinteger(L, (lua_Integer)st.st_ino);
	lua_setfield(L, -2, "ino");
	lua_pushinteger(L, (lua_Integer)st.st_uid);
	lua_setfield(L, -2, "uid");
	return 1;
}

/* fs.stat(path) -> {type, size, mode, mtime_ms, ino, uid} | nil, err, code (follows links) */
static int fs_stat(lua_State *L)
{
	return push_stat(L, luaL_checkstring(L, 1), 1);
}

/* fs.lstat(path): as fs.stat, but a symbolic link is reported as type "link". */
static int fs_lstat(lua_State *L)
{
	return push_stat(L, luaL_checkstring(L, 1), 0);
}

/* fs.realpath(path) -> absolute path with no links | nil, err, code */
static int fs_realpath(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	char *real = realpath(path, NULL);
	if (real == NULL)
		return gt_pusherrno(L, errno, "%s", path);
	lua_pushstring(L, real);
	free(real);
	return 1;
}

/* fs.cwd() -> string */
static int fs_cwd(lua_State *L)
{
	char buf[PATH_MAX];
	if (getcwd(buf, sizeof buf) == NULL)
		return gt_pusherrno(L, errno, "%s", ".");
	lua_pushstring(L, buf);
	return 1;
}

/* fs.mkdir(path [, mode]) -> true | nil, err, code ("EEXISTS" when it exists) */
static int fs_mkdir(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	mode_t mode = (mode_t)luaL_optinteger(L, 2, 0777);
	if (mkdir(path, mode) != 0)
		return gt_pusherrno(L, errno, "%s", path);
	lua_pushboolean(L, 1);
	return 1;
}

/* fs.mkdir_p(path [, mode]) -> true | nil, err, code: creates missing parents; an existing
** directory is success. */
static int fs_mkdir_p(lua_State *L)
{
	size_t len;
	const char *path = luaL_checklstring(L, 1, &len);
	mode_t mode = (mode_t)luaL_optinteger(L, 2, 0777);
	char *buf;
	struct stat st;
	luaL_argcheck(L, len > 0, 1, "empty path");
	buf = (char *)lua_newuserdatauv(L, len + 1, 0);
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, mode) != 0 && errno != EEXIST)
				return gt_pusherrno(L, errno, "%s", buf);
			*p = c;
			if (c == '\0')
				break;
		}
	}
	if (stat(path, &st) != 0)
		return gt_pusherrno(L, errno, "%s", path);
	if (!S_ISDIR(st.st_mode))
		return gt_pushfail(L, "ENOTDIR", "%s: not a directory", path);
	lua_pushboolean(L, 1);
	return 1;
}

/* fs.rmdir(path) -> true | nil, err, code (the directory must be empty) */
static int fs_rmdir(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	if (rmdir(path) != 0)
		return gt_pusherrno(L, errno, "%s", path);
	lua_pushboolean(L, 1);
	return 1;
}

/* An open folder being listed into a table. */
typedef struct {
	DIR *d;
	int err; /* readdir's errno, or 0 */
} Listing;

/* Adds the names of the folder (ud) to the list (argument 1), under gt_cpcall: a Lua error
** (out of memory) must not leave the folder open. */
static int list_names(lua_State *L)
{
	Listing *ls = (Listing *)lua_touserdata(L, 2);
	struct dirent *e;
	lua_Integer n = 0;
	errno = 0;
	while ((e = readdir(ls->d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		lua_pushstring(L, e->d_name);
		lua_seti(L, 1, ++n);
	}
	ls->err = errno;
	return 0;
}

/* fs.dir(path) -> {names...} (unsorted, without "." and "..") | nil, err, code */
static int fs_dir(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	Listing ls = {NULL, 0};
	int status;
	lua_newtable(L);
	if ((ls.d = opendir(path)) == NULL)
		return gt_pusherrno(L, errno, "%s", path);
	status = gt_cpcall(L, list_names, -1, &ls, 0);
	closedir(ls.d);
	if (status != 0)
		return lua_error(L);
	if (ls.err != 0)
		return gt_pusherrno(L, ls.err, "%s", path);
	return 1;
}

/* nftw callbacks have no payload: the first failure is kept here. */
static char failed_path[PATH_MAX];
static int failed_errno;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (gt_interrupted) {
		failed_errno = EINTR;
	} else if (flag == FTW_DNR || flag == FTW_NS) {
		failed_errno = EACCES;
	} else if ((flag == FTW_DP ? rmdir(path) : unlink(path)) == 0) {
		return 0;
	} else {
		failed_errno = errno;
	}
	strncpy(failed_path, path, sizeof failed_path - 1);
	return 1;
}

/* Unreadable directories the last open pass made readable: nftw could not enter them, so
** what they hold needs another pass. */
static int opened_unreadable;

/* Pre-order pass: gives the owner rwx on every directory, so its entries can be removed. */
static int open_directory(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if ((flag == FTW_D || flag == FTW_DNR) && (st->st_mode & S_IRWXU) != S_IRWXU &&
	    chmod(path, st->st_mode | S_IRWXU) == 0 && flag == FTW_DNR)
		opened_unreadable++;
	return 0;
}

/* fs.remove_tree(path) -> true | nil, err, code: removes path and everything under it, like
** rm -rf, without following symbolic links; read-only directories are made writable first. */
static int fs_remove_tree(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	struct stat st;
	if (lstat(path, &st) != 0)
		return gt_pusherrno(L, errno, "%s", path);
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(path) != 0)
			return gt_pusherrno(L, errno, "%s", path);
		lua_pushboolean(L, 1);
		return 1;
	}
	failed_path[0] = '\0';
	if (nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS) != 0) {
		if (failed_errno == EINTR)
			return gt_pushinterrupted(L);
		if (failed_errno == EACCES || failed_errno == EPERM) {
			do { /* each pass opens one more level of unreadable directories */
				opened_unreadable = 0;
				nftw(path, open_directory, 32, FTW_PHYS);
			} while (opened_unreadable > 0);
			failed_path[0] = '\0';
			if (nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS) == 0)
				goto done;
		}
		return gt_pusherrno(L, failed_errno, "%s", failed_path[0] ? failed_path : path);
	}
done:
	lua_pushboolean(L, 1);
	return 1;
}

/* fs.chdir(path) -> true | nil, err, code */
static int fs_chdir(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	if (chdir(path) != 0)
		return gt_pusherrno(L, errno, "%s", path);
	lua_pushboolean(L, 1);
	return 1;
}

/* Copies the bytes of in to out: a reflink (shared extents) where the file system has them,
** else copy_file_range, else read and write. Returns "reflink" or "copy", NULL on failure. */
static const char *copy_fd(int in, int out, off_t size)
{
	char buf[65536];
	ssize_t n;
	if (ioctl(out, FICLONE, in) == 0)
		return "reflink";
	while (size > 0 && !gt_interrupted) {
		n = copy_file_range(in, NULL, out, NULL, (size_t)size, 0);
		if (n <= 0)
			break;
		size -= n;
	}
	if (size == 0)
		return "copy";
	if (gt_interrupted) {
		errno = EINTR;
		return NULL;
	}
	/* copy_file_range is not available here (old kernel, other file systems): plain copy. */
	if (lseek(in, 0, SEEK_SET) < 0 || lseek(out, 0, SEEK_SET) < 0 || ftruncate(out, 0) < 0)
		return NULL;
	while ((n = read(in, buf, sizeof buf)) != 0) {
		if (gt_interrupted) {
			errno = EINTR;
			return NULL;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno != EINTR)
				return NULL;
			if (w > 0)
				off += w;
		}
	}
	return "copy";
}

/* fs.copy_file(src, dst [, {overwrite = false}]) -> "reflink" | "copy" | nil, err, code.
** Copies a regular file with its permission bits, sharing its blocks (a reflink) where the file
** system can; an existing dst is an error ("EEXISTS") unless overwrite is set. A failed copy
** leaves no dst behind. */
static int fs_copy_file(lua_State *L)
{
	const char *src = luaL_checkstring(L, 1);
	const char *dst = luaL_checkstring(L, 2);
	int overwrite = gt_optfield_boolean(L, 3, "overwrite", 0);
	struct stat st;
	const char *how;
	int in, out, err;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused right after. */
	in = open(src, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (in < 0)
		return gt_pusherrno(L, errno, "%s", src);
	if (fstat(in, &st) != 0) {
		err = errno;
		close(in);
		return gt_pusherrno(L, err, "%s", src);
	}
	if (!S_ISREG(st.st_mode)) {
		close(in);
		return gt_pushfail(L, "EINVALID", "%s: not a regular file", src);
	}
	out = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL),
		   st.st_mode & 07777);
	if (out < 0) {
		err = errno;
		close(in);
		return gt_pusherrno(L, err, "%s", dst);
	}
	how = copy_fd(in, out, st.st_size);
	err = errno;
	close(in);
	if (how != NULL && fchmod(out, st.st_mode & 07777) != 0) {
		how = NULL;
		err = errno;
	}
	/* close releases the descriptor even when it fails (a write error reported late). */
	if (close(out) != 0 && how != NULL) {
		how = NULL;
		err = errno;
	}
	if (how == NULL) {
		unlink(dst);
		return err == EINTR && gt_interrupted ? gt_pushinterrupted(L)
						      : gt_pusherrno(L, err, "%s", dst);
	}
	lua_pushstring(L, how);
	return 1;
}

/* A regular file being read whole. */
typedef struct {
	int fd;
	lua_Integer max;
	int err;     /* read's errno (EINTR: gt was interrupted), or 0 */
	int too_big; /* it grew past max since fstat */
} Reading;

/* Pushes the content of the file (ud), or nil with err or too_big set. Runs under gt_cpcall: a
** Lua error (out of memory) must not leave the file open. */
static int read_all(lua_State *L)
{
	Reading *r = (Reading *)lua_touserdata(L, 2);
	luaL_Buffer b;
	size_t got = 0;
	luaL_buffinit(L, &b);
	for (;;) {
		char *p = luaL_prepbuffer(&b);
		ssize_t n = read(r->fd, p, LUAL_BUFFERSIZE);
		if (n < 0 && errno == EINTR && !gt_interrupted)
			continue;
		if (n < 0 || gt_interrupted) {
			r->err = n < 0 ? errno : EINTR;
			lua_pushnil(L);
			return 1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if ((lua_Integer)got > r->max) {
			r->too_big = 1;
			lua_pushnil(L);
			return 1;
		}
		luaL_addsize(&b, (size_t)n);
	}
	luaL_pushresult(&b);
	return 1;
}

/* fs.read_file(path [, {max_bytes = 1048576}]) -> content | nil, err, code. Reads a regular file
** (after following links) whole, refusing anything else ("ENOTREG": a directory, a device, a
** FIFO) and files larger than max_bytes ("ETOOBIG"), so that what is read is bounded and can be
** hashed and loaded as the same bytes. */
static int fs_read_file(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	lua_Integer max = gt_optfield_integer(L, 2, "max_bytes", 1048576);
	Reading r = {-1, max, 0, 0};
	struct stat st;
	int status, err;
	luaL_argcheck(L, max >= 0, 2, "max_bytes must be >= 0");
	/* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused right after. */
	r.fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (r.fd < 0)
		return gt_pusherrno(L, errno, "%s", path);
	if (fstat(r.fd, &st) != 0) {
		err = errno;
		close(r.fd);
		return gt_pusherrno(L, err, "%s", path);
	}
	if (!S_ISREG(st.st_mode)) {
		close(r.fd);
		return gt_pushfail(L, "ENOTREG", "%s: not a regular file (%s)", path,
				   type_name(st.st_mode));
	}
	if (st.st_size > max) {
		close(r.fd);
		return gt_pushfail(L, "ETOOBIG", "%s: larger than %I bytes", path, max);
	}
	status = gt_cpcall(L, read_all, 1, &r, 1);
	close(r.fd);
	if (status != 0)
		return lua_error(L);
	if (r.err == EINTR)
		return gt_pushinterrupted(L);
	if (r.err != 0)
		return gt_pusherrno(L, r.err, "%s", path);
	if (r.too_big) /* it grew since fstat */
		return gt_pushfail(L, "ETOOBIG", "%s: larger than %I bytes", path, max);
	return 1;
}

/* fs.rename(from, to) -> true | nil, err, code: rename(2), atomic on one file system ("EXDEV"
** across file systems; an existing empty directory `to` is replaced). */
static int fs_rename(lua_State *L)
{
	const char *from = luaL_checkstring(L, 1);
	const char *to = luaL_checkstring(L, 2);
	if (rename(from, to) != 0)
		return gt_pusherrno(L, errno, "%s", from); /* "EXDEV" across file systems */
	lua_pushboolean(L, 1);
	return 1;
}

static const luaL_Reg funcs[] = {
    {"stat", fs_stat},
    {"lstat", fs_lstat},
    {"realpath", fs_realpath},
    {"cwd", fs_cwd},
    {"mkdir", fs_mkdir},
    {"mkdir_p", fs_mkdir_p},
    {"rmdir", fs_rmdir},
    {"dir", fs_dir},
    {"remove_tree", fs_remove_tree},
    {"chdir", fs_chdir},
    {"copy_file", fs_copy_file},
    {"read_file", fs_read_file},
    {"rename", fs_rename},
    {NULL, NULL},
};

int luaopen_gt_fs(lua_State *L)
{
	luaL_newlib(L, funcs);
	return 1;
}
