/*
** lgt_git_status.c: repo:status, part of gt.git (see lgt_git.c), and the index reader it and
** repo:submodules use.
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lgt_git.h"

/*
** repo:status is git status's own method, not a tree-to-index diff: the working tree is walked
** once, each folder listed once (by a few threads), each tracked file lstat'ed relative to its
** folder and compared with the stat data its index entry records; only an entry whose stat data
** differs, or that is racily clean (modified in the second the index was written, as far as its
** time stamp can tell), has its content hashed (with the filters its attributes ask for). The
** ignore rules are asked about untracked names only. What is staged is the index's tree against
** HEAD's: equal trees (the common case) need no tree read at all. libgit2 is called under one
** lock: a worker thread does system calls on its own.
*/

static uint32_t st_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void gt_index_free(StIndex *ix)
{
	for (size_t i = 0; ix->owned && i < ix->n; i++)
		free((char *)ix->ents[i].path);
	free(ix->ents);
	if (ix->map != NULL)
		munmap(ix->map, ix->maplen);
	memset(ix, 0, sizeof *ix);
}

/* Reads the cache tree extension (data, len): its first entry is the whole tree's. */
static void st_read_tree_ext(StIndex *ix, const unsigned char *p, size_t len)
{
	const unsigned char *end = p + len, *nul = memchr(p, '\0', len);
	long count;
	char *after;
	if (nul == NULL || nul != p) /* the root's path is "" */
		return;
	p = nul + 1;
	if (p >= end)
		return;
	count = strtol((const char *)p, &after, 10);
	p = memchr(p, '\n', (size_t)(end - p));
	if (p == NULL || count < 0 || end - (p + 1) < GIT_OID_RAWSZ ||
	    (const unsigned char *)after > p)
		return;
	memcpy(ix->tree.id, p + 1, GIT_OID_RAWSZ);
	ix->have_tree = 1;
}

/* 0: read (a missing file is an empty index); 1: for libgit2 (a form this does not read);
** -1: out of memory or a system failure (errno set). */
int gt_index_read(const char *path, StIndex *ix)
{
	struct stat s;
	const unsigned char *p, *end;
	uint32_t version, count;
	size_t plen = 0, pcap = 0;
	char *prev = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	memset(ix, 0, sizeof *ix);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &s) != 0) {
		close(fd);
		return -1;
	}
	ix->mtime = s.st_mtim;
	if (s.st_size < 12 + GIT_OID_RAWSZ) {
		close(fd);
		return 1;
	}
	ix->maplen = (size_t)s.st_size;
	ix->map = (unsigned char *)mmap(NULL, ix->maplen, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (ix->map == MAP_FAILED) {
		ix->map = NULL;
		return -1;
	}
	p = ix->map;
	end = ix->map + ix->maplen - GIT_OID_RAWSZ;
	version = st_be32(p + 4);
	count = st_be32(p + 8);
	if (memcmp(p, "DIRC", 4) != 0 || version < 2 || version > 4 || count > ix->maplen / 62)
		return 1;
	ix->ents = (git_index_entry *)calloc(count ? count : 1, sizeof *ix->ents);
	if (ix->ents == NULL)
		return -1;
	p += 12;
	ix->owned = version == 4;
	for (uint32_t i = 0; i < count; i++) {
		git_index_entry *e = &ix->ents[i];
		size_t fixed = 62, nl;
		uint16_t flags;
		if (end - p < 62)
			goto other;
		e->ctime.seconds = (int32_t)st_be32(p);
		e->ctime.nanoseconds = st_be32(p + 4);
		e->mtime.seconds = (int32_t)st_be32(p + 8);
		e->mtime.nanoseconds = st_be32(p + 12);
		e->dev = st_be32(p + 16);
		e->ino = st_be32(p + 20);
		e->mode = st_be32(p + 24);
		e->uid = st_be32(p + 28);
		e->gid = st_be32(p + 32);
		e->file_size = st_be32(p + 36);
		memcpy(e->id.id, p + 40, GIT_OID_RAWSZ);
		flags = (uint16_t)(p[60] << 8 | p[61]);
		e->flags = flags;
		if (flags & 0x4000) { /* extended */
			if (version < 3 || end - p < 64)
				goto other;
			e->flags_extended = (uint16_t)(p[62] << 8 | p[63]);
			fixed = 64;
		}
		p += fixed;
		if (version < 4) {
			const unsigned char *nul = memchr(p, '\0', (size_t)(end - p));
			size_t on;
			if (nul == NULL)
				goto other;
			nl = (size_t)(nul - p);
			e->path = (const char *)p;
			on = (fixed + nl + 8) & ~(size_t)7; /* padded with 1 to 8 NULs */
			if ((size_t)(end - (p - fixed)) < on)
				goto other;
			p = p - fixed + on;
		} else {
			size_t strip = 0, keep;
			const unsigned char *nul;
			unsigned char c;
			char *np;
			do { /* git's offset varint */
				if (p >= end)
					goto other;
				c = *p++;
				strip = (strip << 7) | (c & 127);
				if (c & 128)
					strip++;
			} while (c & 128);
			if (strip > plen || (nul = memchr(p, '\0', (size_t)(end - p))) == NULL)
				goto other;
			keep = plen - strip;
			nl = keep + (size_t)(nul - p);
			np = (char *)malloc(nl + 1);
			if (np == NULL)
				goto oom;
			if (keep > 0)
				memcpy(np, prev, keep);
			memcpy(np + keep, p, (size_t)(nul - p) + 1);
			e->path = np;
			ix->n = i + 1;
			if (nl + 1 > pcap) {
				char *b = (char *)realloc(prev, (nl + 1) * 2);
				if (b == NULL)
					goto oom;
				prev = b;
				pcap = (nl + 1) * 2;
			}
			memcpy(prev, np, nl + 1);
			plen = nl;
			p = nul + 1;
		}
		ix->n = i + 1;
	}
	if (ix->n != count)
		goto other;
	free(prev);
	prev = NULL;
	while (end - p >= 8) { /* extensions */
		uint32_t sz = st_be32(p + 4);
		if ((size_t)(end - p - 8) < sz)
			goto other;
		if (memcmp(p, "TREE", 4) == 0)
			st_read_tree_ext(ix, p + 8, sz);
		else if (p[0] < 'A' || p[0] > 'Z') /* "link" (split), "sdir" (sparse)... */
			goto other;
		p += 8 + sz;
	}
	return 0;
other:
	free(prev);
	return 1;
oom:
	free(prev);
	errno = ENOMEM;
	return -1;
}

/* A list of malloc'd strings (paths), with an errno each for `blocked`. */
typedef struct {
	char **v;
	int *err;
	size_t n, cap;
} StList;

static int stlist_add(StList *l, const char *s, size_t len, int err)
{
	char *copy;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **v = (char **)realloc(l->v, cap * sizeof *v);
		int *e;
		if (v == NULL)
			return -1;
		l->v = v;
		e = (int *)realloc(l->err, cap * sizeof *e);
		if (e == NULL)
			return -1;
		l->err = e;
		l->cap = cap;
	}
	copy = (char *)malloc(len + 1);
	if (copy == NULL)
		return -1;
	memcpy(copy, s, len);
	copy[len] = '\0';
	l->err[l->n] = err;
	l->v[l->n++] = copy;
	return 0;
}

static void stlist_free(StList *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l->err);
	memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A folder to walk: its path relative to the working tree ("" or ending with "/"), whether it
** is ignored (so is everything in it), and whether the index tracks anything in it. */
typedef struct StDir {
	struct StDir *next;
	int ignored, tracked;
	size_t len;
	char rel[];
} StDir;

enum { ST_UNSTAGED, ST_UNTRACKED, ST_NESTED, ST_UNREADABLE, ST_BLOCKED, ST_KEPT, ST_NLISTS };

typedef struct {
	git_repository *repo;
	const char *workdir;
	int rootfd;
	const git_index_entry **ents; /* the stage-0 entries, in the index's (path) order */
	size_t n;
	unsigned char *seen;          /* per entry of ents: its path was found in the walk */
	const git_index_entry **conf; /* conflicted entries (stages 1-3), in path order */
	size_t nconf;
	struct timespec index_mtime;
	int filemode, symlinks, trustctime, want_ignored;
	const git_strarray *keep;
	pthread_mutex_t mu; /* the queue, the lists, and every libgit2 call */
	pthread_cond_t cv;
	StDir *queue;
	int busy, stop;
	StList lists[ST_NLISTS];
	long long ignored_files, ignored_bytes;
} St;

/* Adds a path to a list, under the lock. */
static int st_add(St *st, int list, const char *path, size_t len, int err)
{
	int rc;
	pthread_mutex_lock(&st->mu);
	rc = stlist_add(&st->lists[list], path, len, err);
	pthread_mutex_unlock(&st->mu);
	if (rc < 0)
		git_error_set_oom();
	return rc;
}

/* The first entry in [lo, hi) whose path is not below key (strcmp order). */
static size_t st_lower(const git_index_entry **v, size_t lo, size_t hi, const char *key)
{
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(v[mid]->path, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The entries of [lo, hi) under the folder prefix ("a/b/"): [*plo, *phi). */
static void st_range(const git_index_entry **v, size_t lo, size_t hi, const char *prefix,
		     size_t plen, size_t *plo, size_t *phi)
{
	size_t a = st_lower(v, lo, hi, prefix), b = hi;
	size_t l = a;
	while (l < b) {
		size_t mid = l + (b - l) / 2;
		if (strncmp(v[mid]->path, prefix, plen) <= 0)
			l = mid + 1;
		else
			b = mid;
	}
	*plo = a;
	*phi = l;
}

/* The index of the entry at path in [lo, hi), or (size_t)-1. */
static size_t st_find(const git_index_entry **v, size_t lo, size_t hi, const char *path)
{
	size_t i = st_lower(v, lo, hi, path);
	return i < hi && strcmp(v[i]->path, path) == 0 ? i : (size_t)-1;
}

/* Whether the rules ignore rel (a folder when it ends with "/"); when in doubt, not. */
static int st_ignored(St *st, const char *rel)
{
	int ignored = 0;
	pthread_mutex_lock(&st->mu);
	if (git_ignore_path_is_ignored(&ignored, st->repo, rel) < 0) {
		git_error_clear();
		ignored = 0;
	}
	pthread_mutex_unlock(&st->mu);
	return ignored;
}

/* Whether the file `name` in the folder dirfd (path rel) holds what entry e records, by its
** content: 1 it differs, 0 the same, -1 it cannot be read. */
static int st_content_differs(St *st, const git_index_entry *e, int dirfd, const char *name,
			      const char *rel, const struct stat *s)
{
	git_oid oid;
	int error;
	if (S_ISLNK(s->st_mode)) {
		char target[4096];
		ssize_t n = readlinkat(dirfd, name, target, sizeof target);
		if (n < 0 || (size_t)n >= sizeof target)
			return -1;
		pthread_mutex_lock(&st->mu);
		error = git_odb_hash(&oid, target, (size_t)n, GIT_OBJECT_BLOB);
	} else {
		gt_PathBuf abs = {NULL, 0};
		if (gt_path_join(&abs, st->workdir, rel) < 0)
			return -1;
		pthread_mutex_lock(&st->mu);
		error = git_repository_hashfile(&oid, st->repo, abs.ptr, GIT_OBJECT_BLOB, rel);
		free(abs.ptr);
	}
	if (error < 0)
		git_error_clear();
	pthread_mutex_unlock(&st->mu);
	if (error < 0)
		return -1;
	return !git_oid_equal(&oid, &e->id);
}

/* Whether the file (lstat s) differs from its index entry e, as git tells: 1, 0, or -1 when it
** cannot be read. Edits hidden by assume-unchanged or skip-worktree flags are seen: the content
** of a flagged entry is always compared. */
static int st_modified(St *st, const git_index_entry *e, int dirfd, const char *name,
		       const char *rel, const struct stat *s)
{
	int is_link = S_ISLNK(s->st_mode), e_link = e->mode == GIT_FILEMODE_LINK;
	int racy;
	if (!S_ISREG(s->st_mode) && !is_link)
		return 1;
	if (is_link != e_link) {
		if (e_link && !st->symlinks) /* links checked out as files */
			return st_content_differs(st, e, dirfd, name, rel, s);
		return 1;
	}
	if (!is_link && st->filemode &&
	    ((s->st_mode & 0100) != 0) != (e->mode == GIT_FILEMODE_BLOB_EXECUTABLE))
		return 1;
	if ((e->flags & GIT_INDEX_ENTRY_VALID) ||
	    (e->flags_extended & (GIT_INDEX_ENTRY_SKIP_WORKTREE | GIT_INDEX_ENTRY_INTENT_TO_ADD)))
		return st_content_differs(st, e, dirfd, name, rel, s);
	if (e->file_size != (uint32_t)s->st_size && e->file_size != 0)
		return 1;
	racy = (int64_t)e->mtime.seconds > (int64_t)st->index_mtime.tv_sec ||
	       ((int64_t)e->mtime.seconds == (int64_t)st->index_mtime.tv_sec &&
		(long)e->mtime.nanoseconds >= st->index_mtime.tv_nsec);
	if (!racy && e->file_size == (uint32_t)s->st_size &&
	    e->mtime.seconds == (int32_t)s->st_mtim.tv_sec &&
	    e->mtime.nanoseconds == (uint32_t)s->st_mtim.tv_nsec &&
	    (!st->trustctime || (e->ctime.seconds == (int32_t)s->st_ctim.tv_sec &&
				 e->ctime.nanoseconds == (uint32_t)s->st_ctim.tv_nsec)) &&
	    e->ino == (uint32_t)s->st_ino && e->uid == (uint32_t)s->st_uid &&
	    e->gid == (uint32_t)s->st_gid)
		return 0;
	return st_content_differs(st, e, dirfd, name, rel, s);
}

/* Queues the folders of `subs` (a chain), waking the waiting workers. */
static void st_push(St *st, StDir *subs)
{
	if (subs == NULL)
		return;
	pthread_mutex_lock(&st->mu);
	while (subs != NULL) {
		StDir *next = subs->next;
		subs->next = st->queue;
		st->queue = subs;
		subs = next;
	}
	pthread_cond_broadcast(&st->cv);
	pthread_mutex_unlock(&st->mu);
}

/* Walks one folder: compares its tracked files, sorts out its untracked ones, and queues its
** subfolders. 0, or -1: out of memory, or gt was interrupted. */
static int st_folder(St *st, StDir *d, char **buf, size_t *cap)
{
	char **names = NULL;
	unsigned char *types = NULL;
	size_t nn = 0, ncap = 0, lo = 0, hi = 0;
	StDir *subs = NULL;
	DIR *dir;
	struct dirent *de;
	int fd, has_git = 0, rc = 0;
	if (d->len > 0) {
		d->rel[d->len - 1] = '\0'; /* no final "/": a link in its place is not followed */
		fd = openat(st->rootfd, d->rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		d->rel[d->len - 1] = '/';
	} else {
		fd = openat(st->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0 || (dir = fdopendir(fd)) == NULL) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		if (err == ENOENT || err == ENOTDIR || err == ELOOP)
			return 0; /* gone, or replaced, while we walk */
		return st_add(st, ST_BLOCKED, d->len ? d->rel : ".", d->len ? d->len : 1, err);
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(dir)) == NULL) {
			if (errno != 0)
				rc = st_add(st, ST_BLOCKED, d->len ? d->rel : ".",
					    d->len ? d->len : 1, errno);
			break;
		}
		if (de->d_name[0] == '.' &&
		    (de->d_name[1] == '\0' || (de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		if (strcmp(de->d_name, ".git") == 0) {
			has_git = 1;
			continue;
		}
		if (nn == ncap) {
			size_t c = ncap ? ncap * 2 : 32;
			char **nv = (char **)realloc(names, c * sizeof *nv);
			unsigned char *tv;
			if (nv == NULL)
				goto oom;
			names = nv;
			tv = (unsigned char *)realloc(types, c);
			if (tv == NULL)
				goto oom;
			types = tv;
			ncap = c;
		}
		if ((names[nn] = strdup(de->d_name)) == NULL)
			goto oom;
		types[nn++] = de->d_type;
	}
	if (rc < 0)
		goto done;
	if (d->len > 0 && has_git) {
		/* A repository of its own (submodules, tracked as gitlinks, are not walked). */
		if ((rc = st_add(st, ST_NESTED, d->rel, d->len, 0)) < 0)
			goto done;
		if (!d->tracked || d->ignored)
			goto done;
	}
	if (d->tracked) {
		if (d->len == 0)
			hi = st->n;
		else
			st_range(st->ents, 0, st->n, d->rel, d->len, &lo, &hi);
	}
	for (size_t i = 0; i < nn && rc == 0; i++) {
		const char *name = names[i];
		size_t nl = strlen(name), plen = d->len + nl, at = (size_t)-1;
		const git_index_entry *e = NULL;
		struct stat s;
		int type = types[i], have_st = 0;
		if (gt_interrupted) {
			rc = -1;
			break;
		}
		if (plen + 2 > *cap) {
			char *nb = (char *)realloc(*buf, (plen + 2) * 2);
			if (nb == NULL)
				goto oom;
			*buf = nb;
			*cap = (plen + 2) * 2;
		}
		memcpy(*buf, d->rel, d->len);
		memcpy(*buf + d->len, name, nl + 1);
		if (type == DT_UNKNOWN) {
			if (fstatat(fd, name, &s, AT_SYMLINK_NOFOLLOW) != 0) {
				if (errno != ENOENT)
					rc = st_add(st, ST_BLOCKED, *buf, plen, errno);
				continue;
			}
			have_st = 1;
			type = S_ISDIR(s.st_mode)   ? DT_DIR
			       : S_ISREG(s.st_mode) ? DT_REG
			       : S_ISLNK(s.st_mode) ? DT_LNK
						    : DT_FIFO;
		}
		if (hi > lo && (at = st_find(st->ents, lo, hi, *buf)) != (size_t)-1) {
			e = st->ents[at];
			st->seen[at] = 1;
		}
		if (type == DT_DIR) {
			size_t slo = 0, shi = 0;
			int ignored = d->ignored;
			StDir *sub;
			if (e != NULL) {
				if (e->mode == GIT_FILEMODE_COMMIT)
					continue; /* a submodule: repo:submodules() is for it */
				/* a tracked file replaced by a folder */
				if ((rc = st_add(st, ST_UNSTAGED, *buf, plen, 0)) < 0)
					break;
			}
			(*buf)[plen] = '/';
			(*buf)[plen + 1] = '\0';
			if (hi > lo)
				st_range(st->ents, lo, hi, *buf, plen + 1, &slo, &shi);
			if (!ignored && shi == slo)
				ignored = st_ignored(st, *buf);
			if (ignored && !st->want_ignored)
				continue;
			sub = (StDir *)malloc(sizeof *sub + plen + 2);
			if (sub == NULL)
				goto oom;
			sub->ignored = ignored;
			sub->tracked = shi > slo;
			sub->len = plen + 1;
			memcpy(sub->rel, *buf, plen + 2);
			sub->next = subs;
			subs = sub;
		} else if (type == DT_REG || type == DT_LNK) {
			int m;
			if (e != NULL) {
				if (e->mode == GIT_FILEMODE_COMMIT)
					continue; /* a submodule's path: repo:submodules() is for it */
				if (!have_st && fstatat(fd, name, &s, AT_SYMLINK_NOFOLLOW) != 0) {
					if (errno == ENOENT)
						st->seen[at] = 0; /* deleted while we walk */
					else
						rc = st_add(st, ST_UNREADABLE, *buf, plen, 0);
					continue;
				}
				m = st_modified(st, e, fd, name, *buf, &s);
				if (m != 0)
					rc = st_add(st, m < 0 ? ST_UNREADABLE : ST_UNSTAGED, *buf,
						    plen, 0);
			} else if (st->nconf > 0 &&
				   st_find(st->conf, 0, st->nconf, *buf) != (size_t)-1) {
				continue; /* conflicted: listed as such */
			} else if (d->ignored || st_ignored(st, *buf)) {
				if (!st->want_ignored)
					continue;
				if (!have_st && fstatat(fd, name, &s, AT_SYMLINK_NOFOLLOW) != 0) {
					if (errno != ENOENT)
						rc = st_add(st, ST_BLOCKED, *buf, plen, errno);
					continue;
				}
				pthread_mutex_lock(&st->mu);
				st->ignored_files++;
				st->ignored_bytes += (long long)s.st_size;
				pthread_mutex_unlock(&st->mu);
				if (st->keep != NULL && gt_keep_match(st->keep, *buf))
					rc = st_add(st, ST_KEPT, *buf, plen, 0);
			} else {
				rc = st_add(st, ST_UNTRACKED, *buf, plen, 0);
			}
		} else if (e != NULL && e->mode != GIT_FILEMODE_COMMIT) {
			rc = st_add(st, ST_UNSTAGED, *buf, plen, 0); /* now a FIFO, a socket... */
		}
	}
	goto done;
oom:
	git_error_set_oom();
	rc = -1;
done:
	closedir(dir);
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	free(types);
	if (rc < 0) {
		while (subs != NULL) {
			StDir *next = subs->next;
			free(subs);
			subs = next;
		}
		return -1;
	}
	st_push(st, subs);
	return 0;
}

static void *st_worker(void *arg)
{
	St *st = (St *)arg;
	char *buf = NULL;
	size_t cap = 0;
	for (;;) {
		StDir *d;
		int rc;
		pthread_mutex_lock(&st->mu);
		while (st->queue == NULL && st->busy > 0 && !st->stop)
			pthread_cond_wait(&st->cv, &st->mu);
		if (st->queue == NULL || st->stop) {
			pthread_cond_broadcast(&st->cv);
			pthread_mutex_unlock(&st->mu);
			break;
		}
		d = st->queue;
		st->queue = d->next;
		st->busy++;
		pthread_mutex_unlock(&st->mu);
		rc = st_folder(st, d, &buf, &cap);
		free(d);
		pthread_mutex_lock(&st->mu);
		st->busy--;
		if (rc < 0)
			st->stop = 1; /* out of memory, or interrupted */
		if (st->busy == 0 || st->stop)
			pthread_cond_broadcast(&st->cv);
		pthread_mutex_unlock(&st->mu);
	}
	free(buf);
	return NULL;
}

/* The id of the tree the index entries [lo, hi) under a folder (its path: their first plen
** characters) make, as git write-tree would make it: into out. 0 or -1 (out of memory). */
static int st_tree(const git_index_entry **v, size_t lo, size_t hi, size_t plen, git_oid *out)
{
	char *b = NULL;
	size_t len = 0, cap = 0, i = lo;
	int error = 0;
	while (i < hi) {
		const char *rest = v[i]->path + plen, *slash = strchr(rest, '/');
		const char *mode;
		git_oid sub;
		const git_oid *id;
		size_t nl, ml, need;
		if (slash != NULL) { /* a subfolder: the run of entries under it */
			size_t j = i + 1, sl = (size_t)(slash - v[i]->path) + 1;
			while (j < hi && strncmp(v[j]->path, v[i]->path, sl) == 0)
				j++;
			if ((error = st_tree(v, i, j, sl, &sub)) < 0)
				break;
			nl = (size_t)(slash - rest);
			mode = "40000";
			id = &sub;
			i = j;
		} else {
			nl = strlen(rest);
			mode = v[i]->mode == GIT_FILEMODE_BLOB_EXECUTABLE ? "100755"
			       : v[i]->mode == GIT_FILEMODE_LINK          ? "120000"
			       : v[i]->mode == GIT_FILEMODE_COMMIT        ? "160000"
									  : "100644";
			id = &v[i]->id;
			i++;
		}
		ml = strlen(mode);
		need = len + ml + 1 + nl + 1 + GIT_OID_RAWSZ;
		if (need > cap) {
			size_t c = need * 2 + 256;
			char *nb = (char *)realloc(b, c);
			if (nb == NULL) {
				git_error_set_oom();
				error = -1;
				break;
			}
			b = nb;
			cap = c;
		}
		memcpy(b + len, mode, ml);
		len += ml;
		b[len++] = ' ';
		memcpy(b + len, rest, nl);
		len += nl;
		b[len++] = '\0';
		memcpy(b + len, id->id, GIT_OID_RAWSZ);
		len += GIT_OID_RAWSZ;
	}
	if (error == 0)
		error = git_odb_hash(out, b != NULL ? b : "", len, GIT_OBJECT_TREE);
	free(b);
	return error;
}

/* Lists in out what the index (its entries in st) stages against HEAD. When the tree of the
** index is HEAD's, nothing is staged and no tree is read; otherwise (and for an index holding
** conflicts or intent-to-add entries, which make no tree) libgit2's diff, as git status's, says
** what. 0 or a libgit2 error. */
static int st_staged(St *st, git_index **index, const char *ipath, const git_oid *cached,
		     int has_ita, StList *out)
{
	git_object *obj = NULL;
	git_diff *diff = NULL;
	git_diff_options o;
	git_oid itree;
	int error = git_revparse_single(&obj, st->repo, "HEAD^{tree}");
	if (error == GIT_ENOTFOUND || error == GIT_EUNBORNBRANCH) {
		git_error_clear();
		obj = NULL;
		error = 0;
	}
	if (error < 0)
		return error;
	if (st->nconf == 0 && !has_ita) {
		if (obj == NULL && st->n == 0)
			return 0;
		if (obj != NULL) {
			if (cached != NULL) {
				itree = *cached; /* the cache tree's, when valid */
			} else if ((error = st_tree(st->ents, 0, st->n, 0, &itree)) < 0) {
				git_object_free(obj);
				return error;
			}
			if (git_oid_equal(&itree, git_object_id(obj))) {
				git_object_free(obj);
				return 0;
			}
		}
	}
	git_diff_options_init(&o, GIT_DIFF_OPTIONS_VERSION);
	o.flags = GIT_DIFF_IGNORE_SUBMODULES;
	if (*index == NULL && (error = git_index_open(index, ipath)) < 0) {
		git_object_free(obj);
		return error;
	}
	error = git_diff_tree_to_index(&diff, st->repo, (git_tree *)obj, *index, &o);
	git_object_free(obj);
	if (error < 0)
		return error;
	for (size_t i = 0, n = git_diff_num_deltas(diff); i < n && error == 0; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		const char *path = d->new_file.path ? d->new_file.path : d->old_file.path;
		if (d->status == GIT_DELTA_CONFLICTED ||
		    (st->nconf > 0 && st_find(st->conf, 0, st->nconf, path) != (size_t)-1))
			continue;
		if (stlist_add(out, path, strlen(path), 0) < 0) {
			git_error_set_oom();
			error = -1;
		}
	}
	git_diff_free(diff);
	return error;
}

/* What gt_repo_status pushes: its lists, sorted. */
typedef struct {
	St *st;
	StList *staged, *conflicted;
} StOut;

static void st_pushlist(lua_State *L, int t, const char *field, StList *l)
{
	if (l->n > 1)
		qsort(l->v, l->n, sizeof *l->v, cmp_str);
	lua_createtable(L, (int)l->n, 0);
	for (size_t i = 0; i < l->n; i++) {
		lua_pushstring(L, l->v[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, t, field);
}

/* Pushes the result table; under gt_cpcall (ud: an StOut), a Lua error must not leak the lists. */
static int st_result(lua_State *L)
{
	StOut *o = (StOut *)lua_touserdata(L, 2);
	St *st = o->st;
	StList *blocked = &st->lists[ST_BLOCKED];
	int t;
	lua_createtable(L, 0, 8);
	t = lua_gettop(L);
	st_pushlist(L, t, "staged", o->staged);
	st_pushlist(L, t, "unstaged", &st->lists[ST_UNSTAGED]);
	st_pushlist(L, t, "untracked", &st->lists[ST_UNTRACKED]);
	st_pushlist(L, t, "conflicted", o->conflicted);
	st_pushlist(L, t, "unreadable", &st->lists[ST_UNREADABLE]);
	st_pushlist(L, t, "nested", &st->lists[ST_NESTED]);
	if (st->want_ignored) {
		lua_createtable(L, (int)blocked->n, 0);
		for (size_t i = 0; i < blocked->n; i++) {
			lua_createtable(L, 0, 2);
			lua_pushstring(L, blocked->v[i]);
			lua_setfield(L, -2, "path");
			lua_pushstring(L, strerror(blocked->err[i]));
			lua_setfield(L, -2, "reason");
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		lua_setfield(L, t, "blocked");
		lua_createtable(L, 0, 3);
		lua_pushinteger(L, st->ignored_files);
		lua_setfield(L, -2, "files");
		lua_pushinteger(L, st->ignored_bytes);
		lua_setfield(L, -2, "bytes");
		st_pushlist(L, lua_gettop(L), "kept", &st->lists[ST_KEPT]);
		lua_setfield(L, t, "ignored");
	}
	return 1;
}

static int st_config(git_config *cfg, const char *name, int def)
{
	int v = def;
	if (cfg == NULL || git_config_get_bool(&v, cfg, name) < 0) {
		git_error_clear();
		v = def;
	}
	return v;
}

/* repo:status([{ignored = false, keep = {patterns}}]) -> {staged, unstaged, untracked,
** conflicted, unreadable, nested = {paths}} for a repository with a working tree, as git status
** says it with the index's stat data (see above). Untracked folders are listed file by file;
** ignored files are not reported; a folder holding a repository of its own that is not a
** submodule is listed in nested ("dir/") and not walked, files that cannot be read in
** unreadable. Submodules are left to repo:submodules(), whatever .gitmodules says about them.
** Edits hidden by assume-unchanged or skip-worktree flags are seen (a skip-worktree file that is
** absent is not an edit). A path may be both staged and unstaged. Lists are sorted. With
** ignored, ignored folders are walked too: the result's ignored = {files, bytes, kept = {paths
** of ignored files that match a keep pattern, as .gitignore would}}, nested also lists the
** repositories in ignored folders, and blocked = {{path, reason}} the folders (and entries) that
** could not be listed or lstat'ed, which git status skips without a word. Nothing is written. */
int gt_repo_status(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *workdir = git_repository_workdir(repo);
	git_strarray keep = {NULL, 0};
	git_index *index = NULL;
	git_config *cfg = NULL;
	gt_PathBuf ipath = {NULL, 0};
	StList staged = {NULL, NULL, 0, 0}, conflicted = {NULL, NULL, 0, 0};
	StOut out;
	St st;
	StDir *root;
	pthread_t threads[7];
	struct stat is;
	StIndex ix;
	int has_ita = 0, error = 0, nthreads = 0, ret, rc;
	long cpus;
	if (workdir == NULL)
		return gt_pushfail(L, "EBARE", "status: the repository has no working tree");
	memset(&st, 0, sizeof st);
	memset(&ix, 0, sizeof ix);
	st.want_ignored = lua_istable(L, 2) && gt_optfield_boolean(L, 2, "ignored", 0);
	gt_optfield_strarray(L, 2, "keep", &keep); /* the last that can raise */
	st.repo = repo;
	st.workdir = workdir;
	st.rootfd = -1;
	st.keep = keep.count > 0 ? &keep : NULL;
	pthread_mutex_init(&st.mu, NULL);
	pthread_cond_init(&st.cv, NULL);
	if (gt_path_join(&ipath, git_repository_path(repo), "index") < 0) {
		git_error_set_oom();
		error = -1;
		goto done;
	}
	rc = gt_index_read(ipath.ptr, &ix);
	if (rc < 0) {
		ret = gt_pusherrno(L, errno, "%s", ipath.ptr);
		goto out;
	}
	if (rc > 0) { /* a form only libgit2 reads */
		gt_index_free(&ix);
		/* Taken before the index is read: an entry as new as it is compared by content. */
		if (stat(ipath.ptr, &is) == 0)
			st.index_mtime = is.st_mtim;
		if ((error = git_index_open(&index, ipath.ptr)) < 0)
			goto done;
	} else {
		st.index_mtime = ix.mtime;
	}
	if (git_repository_config_snapshot(&cfg, repo) < 0) {
		git_error_clear();
		cfg = NULL;
	}
	st.filemode = st_config(cfg, "core.filemode", 1);
	st.symlinks = st_config(cfg, "core.symlinks", 1);
	st.trustctime = st_config(cfg, "core.trustctime", 1);
	{
		size_t n = index != NULL ? git_index_entrycount(index) : ix.n;
		st.ents = (const git_index_entry **)malloc((n ? n : 1) * sizeof *st.ents);
		st.conf = (const git_index_entry **)malloc((n ? n : 1) * sizeof *st.conf);
		st.seen = (unsigned char *)calloc(n ? n : 1, 1);
		if (st.ents == NULL || st.conf == NULL || st.seen == NULL) {
			git_error_set_oom();
			error = -1;
			goto done;
		}
		for (size_t i = 0; i < n; i++) {
			const git_index_entry *e =
			    index != NULL ? git_index_get_byindex(index, i) : &ix.ents[i];
			if (git_index_entry_stage(e) > 0)
				st.conf[st.nconf++] = e;
			else
				st.ents[st.n++] = e;
			if (e->flags_extended & GIT_INDEX_ENTRY_INTENT_TO_ADD)
				has_ita = 1;
		}
	}
	st.rootfd = open(workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st.rootfd < 0) {
		ret = gt_pusherrno(L, errno, "%s", workdir);
		goto out;
	}
	root = (StDir *)calloc(1, sizeof *root + 1);
	if (root == NULL) {
		git_error_set_oom();
		error = -1;
		goto done;
	}
	root->tracked = st.n > 0;
	st.queue = root;
	/* The walk: this thread and a few more (folders are listed and files lstat'ed in
	** parallel; each folder by one thread). */
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (git_libgit2_features() & GIT_FEATURE_THREADS) {
		for (long i = 1; i < cpus && i < 8; i++) {
			if (pthread_create(&threads[nthreads], NULL, st_worker, &st) != 0)
				break;
			nthreads++;
		}
	}
	st_worker(&st);
	for (int i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	while (st.queue != NULL) { /* left by a stop */
		StDir *next = st.queue->next;
		free(st.queue);
		st.queue = next;
	}
	if (st.stop) {
		if (gt_interrupted) {
			ret = gt_pushinterrupted(L);
			goto out;
		}
		git_error_set_oom();
		error = -1;
		goto done;
	}
	/* Tracked files the walk did not find are deleted; absent skip-worktree files are a sparse
	** checkout's, and assume-unchanged ones are as git status sees them. */
	for (size_t i = 0; i < st.n; i++) {
		const git_index_entry *e = st.ents[i];
		if (st.seen[i] || e->mode == GIT_FILEMODE_COMMIT ||
		    (e->flags & GIT_INDEX_ENTRY_VALID) ||
		    (e->flags_extended & GIT_INDEX_ENTRY_SKIP_WORKTREE))
			continue;
		if (stlist_add(&st.lists[ST_UNSTAGED], e->path, strlen(e->path), 0) < 0) {
			git_error_set_oom();
			error = -1;
			goto done;
		}
	}
	for (size_t i = 0; i < st.nconf; i++) {
		if (i > 0 && strcmp(st.conf[i]->path, st.conf[i - 1]->path) == 0)
			continue;
		if (stlist_add(&conflicted, st.conf[i]->path, strlen(st.conf[i]->path), 0) < 0) {
			git_error_set_oom();
			error = -1;
			goto done;
		}
	}
	if ((error = st_staged(&st, &index, ipath.ptr, ix.have_tree ? &ix.tree : NULL, has_ita,
			       &staged)) < 0)
		goto done;
	out.st = &st;
	out.staged = &staged;
	out.conflicted = &conflicted;
	ret = gt_cpcall(L, st_result, 1, &out, 1) == 0 ? 1 : -1;
	goto out;
done:
	ret = fail_git(L, error, "status");
out:
	if (st.rootfd >= 0)
		close(st.rootfd);
	for (int i = 0; i < ST_NLISTS; i++)
		stlist_free(&st.lists[i]);
	stlist_free(&staged);
	stlist_free(&conflicted);
	free(st.ents);
	free(st.conf);
	free(st.seen);
	git_config_free(cfg);
	git_index_free(index);
	gt_index_free(&ix);
	free(ipath.ptr);
	gt_strarray_free(&keep);
	pthread_mutex_destroy(&st.mu);
	pthread_cond_destroy(&st.cv);
	if (ret < 0)
		return lua_error(L);
	return ret;
}
