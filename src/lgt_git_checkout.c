/*
** lgt_git_checkout.c: repo:write_tree_into, part of gt.git (see lgt_git.c): writing a tree
** into a new working tree, in parallel, converting only the paths attributes match.
*/
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <iconv.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lgt_git.h"

/* Only the entries a converting attribute rule may match (FreshEntry.match; the rules come
** from gt.filters: a superset of what git would match is safe) pay for an attribute lookup
** (libgit2, reading the commit's .gitattributes files, info/attributes, the global and system
** files). Their content then goes through git's steps: ident, LF to CRLF, working-tree-encoding
** and a filter driver's smudge command; when no driver, encoding or auto-CRLF applies git writes
** through its streaming ident and LF-to-CRLF filters, whose ident differs in corner cases, so
** that variant is reproduced too. Smudge commands run on the calling thread, after the workers. */

enum {
	CRLF_UNDEFINED,
	CRLF_BINARY,
	CRLF_TEXT,
	CRLF_TEXT_INPUT,
	CRLF_TEXT_CRLF,
	CRLF_AUTO,
	CRLF_AUTO_INPUT,
	CRLF_AUTO_CRLF
};
enum { EOL_UNSET, EOL_LF, EOL_CRLF };
enum { AUTOCRLF_FALSE, AUTOCRLF_TRUE, AUTOCRLF_INPUT };

/* A filter driver of the configuration (filter.<name>.*); a command is NULL when unset. */
typedef struct {
	char *name, *smudge, *clean, *process;
	int required;
} FreshDriver;

/* A rule of a gitattributes file that may make content convert: its pattern (a view into the
** Lua string, leading and trailing '/' left out) and the folder of its file ("" or "a/b/"). */
typedef struct {
	const char *pat, *base;
	size_t patlen, baselen;
	int basename; /* no '/' in the pattern: it matches the last component of a path */
} FreshRule;

/* What converts a file's content, decided from its attributes as git's convert_attrs does. */
typedef struct {
	int crlf_action, ident;
	const FreshDriver *drv;
	char *enc; /* working-tree-encoding, or NULL */
} FreshConv;

typedef struct {
	char *p;
	size_t len, cap;
	int oom;
} FBuf;

static void fbuf_add(FBuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;
		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (p == NULL) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void fbuf_addc(FBuf *b, char c)
{
	fbuf_add(b, &c, 1);
}

static void fbuf_addstr(FBuf *b, const char *s)
{
	fbuf_add(b, s, strlen(s));
}

/* Whether path `s` may match glob [p, pe) as git's wildmatch would, or more: '*' also crosses
** '/', a bracket expression matches any one character, and "**" followed by '/' also matches
** nothing. An over-match only costs an attribute lookup. */
static int fresh_glob(const char *p, const char *pe, const char *s, int icase)
{
	while (p < pe) {
		char c = *p;
		if (c == '*') {
			if (pe - p >= 3 && p[1] == '*' && p[2] == '/' &&
			    fresh_glob(p + 3, pe, s, icase))
				return 1;
			while (p < pe && *p == '*')
				p++;
			if (p == pe)
				return 1;
			for (;; s++) {
				if (fresh_glob(p, pe, s, icase))
					return 1;
				if (*s == '\0')
					return 0;
			}
		}
		if (*s == '\0')
			return 0;
		if (c == '[') {
			const char *q = p + 1;
			if (q < pe && (*q == '!' || *q == '^'))
				q++;
			if (q < pe && *q == ']')
				q++;
			while (q < pe && *q != ']') {
				const char *end = NULL;
				if (*q == '[' && q + 1 < pe && q[1] == ':')
					for (end = q + 2;
					     end + 1 < pe && !(end[0] == ':' && end[1] == ']');)
						end++;
				if (end != NULL && end + 1 < pe)
					q = end + 2;
				else
					q += (*q == '\\' && q + 1 < pe) ? 2 : 1;
			}
			p = q < pe ? q + 1
				   : p + 1; /* no closing ']': one character, whatever it is */
		} else if (c == '?') {
			p++;
		} else {
			if (c == '\\' && p + 1 < pe)
				c = *++p;
			if (icase ? tolower((unsigned char)c) != tolower((unsigned char)*s)
				  : c != *s)
				return 0;
			p++;
		}
		s++;
	}
	return *s == '\0';
}

static int fresh_rule_matches(const FreshRule *r, const char *path, int icase)
{
	const char *rel = path;
	if (r->baselen > 0) {
		if ((icase ? strncasecmp(path, r->base, r->baselen)
			   : strncmp(path, r->base, r->baselen)) != 0)
			return 0;
		rel = path + r->baselen;
	}
	if (r->basename) {
		const char *slash = strrchr(rel, '/');
		if (slash != NULL)
			rel = slash + 1;
	}
	return fresh_glob(r->pat, r->pat + r->patlen, rel, icase);
}

/* git's text_eol_is_crlf and output_eol (the native end of line is LF). */
static int fresh_text_eol_is_crlf(int autocrlf, int core_eol)
{
	if (autocrlf == AUTOCRLF_TRUE)
		return 1;
	if (autocrlf == AUTOCRLF_INPUT)
		return 0;
	return core_eol == EOL_CRLF;
}

static int fresh_output_eol(int action, int autocrlf, int core_eol)
{
	switch (action) {
	case CRLF_BINARY: return EOL_UNSET;
	case CRLF_TEXT_CRLF:
	case CRLF_UNDEFINED:
	case CRLF_AUTO_CRLF: return EOL_CRLF;
	case CRLF_TEXT_INPUT:
	case CRLF_AUTO_INPUT: return EOL_LF;
	default: /* CRLF_TEXT, CRLF_AUTO */
		return fresh_text_eol_is_crlf(autocrlf, core_eol) ? EOL_CRLF : EOL_LF;
	}
}

static int fresh_check_crlf(const char *v)
{
	switch (git_attr_value(v)) {
	case GIT_ATTR_VALUE_TRUE: return CRLF_TEXT;
	case GIT_ATTR_VALUE_FALSE: return CRLF_BINARY;
	case GIT_ATTR_VALUE_STRING:
		if (strcmp(v, "input") == 0)
			return CRLF_TEXT_INPUT;
		if (strcmp(v, "auto") == 0)
			return CRLF_AUTO;
		return CRLF_UNDEFINED;
	default: return CRLF_UNDEFINED;
	}
}

/* git's same_utf_encoding and same_encoding(value, "UTF-8"). */
static int fresh_same_utf(const char *a, const char *b)
{
	if (strncasecmp(a, "utf", 3) != 0 || strncasecmp(b, "utf", 3) != 0)
		return 0;
	a += 3;
	b += 3;
	if (*a == '-')
		a++;
	if (*b == '-')
		b++;
	return strcasecmp(a, b) == 0;
}

/* git's count_ident: how many "$Id$" or "$Id: ... $" (no newline inside) `cp` holds. */
static int fresh_count_ident(const char *cp, size_t size)
{
	int cnt = 0;
	char ch;
	while (size) {
		ch = *cp++;
		size--;
		if (ch != '$')
			continue;
		if (size < 3)
			break;
		if (memcmp("Id", cp, 2) != 0)
			continue;
		ch = cp[2];
		cp += 3;
		size -= 3;
		if (ch == '$')
			cnt++;
		if (ch != ':')
			continue;
		while (size) {
			ch = *cp++;
			size--;
			if (ch == '$') {
				cnt++;
				break;
			}
			if (ch == '\n')
				break;
		}
	}
	return cnt;
}

/* git's ident_to_worktree (in core): "$Id$" and git-style "$Id: ... $" become
** "$Id: <blob id> $". Returns 1 if `out` holds the result, 0 for no change. */
static int fresh_ident_incore(const char *src, size_t len, const char *hex, FBuf *out)
{
	const char *dollar, *spc;
	if (fresh_count_ident(src, len) == 0)
		return 0;
	for (;;) {
		dollar = len > 0 ? memchr(src, '$', len) : NULL;
		if (dollar == NULL)
			break;
		fbuf_add(out, src, (size_t)(dollar + 1 - src));
		len -= (size_t)(dollar + 1 - src);
		src = dollar + 1;
		if (len < 3 || memcmp("Id", src, 2) != 0)
			continue;
		if (src[2] == '$') {
			src += 3;
			len -= 3;
		} else if (src[2] == ':') {
			dollar = memchr(src + 3, '$', len - 3);
			if (dollar == NULL)
				break; /* an incomplete keyword: the rest is copied */
			if (memchr(src + 3, '\n', (size_t)(dollar - src - 3)) != NULL)
				continue;
			spc = dollar - src > 4 ? memchr(src + 4, ' ', (size_t)(dollar - src - 4))
					       : NULL;
			if (spc != NULL && spc < dollar - 1)
				continue; /* another system's id: kept */
			len -= (size_t)(dollar + 1 - src);
			src = dollar + 1;
		} else {
			continue;
		}
		fbuf_addstr(out, "Id: ");
		fbuf_addstr(out, hex);
		fbuf_addstr(out, " $");
	}
	fbuf_add(out, src, len);
	return 1;
}

/* git's is_foreign_ident: "$Id: " followed by a blank that is not just before a '$'. */
static int fresh_foreign_ident(const char *s, size_t len)
{
	if (len < 5 || memcmp(s, "$Id: ", 5) != 0)
		return 0;
	for (size_t i = 5; i < len; i++)
		if (isspace((unsigned char)s[i]) && (i + 1 >= len || s[i + 1] != '$'))
			return 1;
	return 0;
}

#define IDENT_DRAINING (-1)
#define IDENT_SKIPPING (-2)

/* git's streaming ident filter (ident_filter_fn) over the whole blob, output unbounded. */
static void fresh_ident_stream(const char *in, size_t len, const char *hex, FBuf *out)
{
	static const char head[] = "$Id";
	FBuf left = {NULL, 0, 0, 0};
	int state = 0;
	char ident[GIT_OID_HEXSZ + 5];
	snprintf(ident, sizeof ident, ": %s $", hex);
	for (size_t i = 0; i < len || state == IDENT_DRAINING;) {
		char ch;
		if (state == IDENT_DRAINING) {
			fbuf_add(out, left.p, left.len);
			left.len = 0;
			state = 0;
			continue;
		}
		ch = in[i++];
		if (state == IDENT_SKIPPING) {
			fbuf_addc(&left, ch);
			if (ch != '\n' && ch != '$')
				continue;
			if (ch == '$' && !left.oom && !fresh_foreign_ident(left.p, left.len)) {
				left.len = sizeof head - 1;
				fbuf_addstr(&left, ident);
			}
			state = IDENT_DRAINING;
			continue;
		}
		if (state < (int)sizeof head && head[state] == ch) {
			state++;
			continue;
		}
		if (state)
			fbuf_add(&left, head, (size_t)state);
		if (state == (int)sizeof head - 1) {
			if (ch != ':' && ch != '$') {
				fbuf_addc(&left, ch);
				state = 0;
				continue;
			}
			if (ch == ':') {
				fbuf_addc(&left, ch);
				state = IDENT_SKIPPING;
			} else {
				fbuf_addstr(&left, ident);
				state = IDENT_DRAINING;
			}
			continue;
		}
		fbuf_addc(&left, ch);
		state = IDENT_DRAINING;
	}
	if (state > 0) /* drain upon end of file */
		fbuf_add(&left, head, (size_t)state);
	fbuf_add(out, left.p, left.len);
	if (left.oom)
		out->oom = 1;
	free(left.p);
}

/* git's streaming LF-to-CRLF filter: every LF becomes CRLF, a CR just before it is kept as it
** is (the same bytes as git's in-core crlf_to_worktree for "text eol=crlf"). */
static void fresh_lf_to_crlf(const char *in, size_t len, FBuf *out)
{
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		if (in[i] != '\n')
			continue;
		if (i > 0 && in[i - 1] == '\r')
			continue;
		fbuf_add(out, in + start, i - start);
		fbuf_add(out, "\r\n", 2);
		start = i + 1;
	}
	fbuf_add(out, in + start, len - start);
}

/* git's gather_stats, the counts its in-core CRLF conversion decides by. */
typedef struct {
	unsigned nul, lonecr, lonelf, crlf, printable, nonprintable;
} FreshStats;

static void fresh_stats(const char *buf, size_t size, FreshStats *st)
{
	memset(st, 0, sizeof *st);
	for (size_t i = 0; i < size; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (c == '\r') {
			if (i + 1 < size && buf[i + 1] == '\n') {
				st->crlf++;
				i++;
			} else {
				st->lonecr++;
			}
			continue;
		}
		if (c == '\n') {
			st->lonelf++;
			continue;
		}
		if (c == 127) {
			st->nonprintable++;
		} else if (c < 32) {
			switch (c) {
			case '\b':
			case '\t':
			case '\033':
			case '\014': st->printable++; break;
			case 0:
				st->nul++;
				/* fall through */
			default: st->nonprintable++;
			}
		} else {
			st->printable++;
		}
	}
	if (size >= 1 && buf[size - 1] == '\032')
		st->nonprintable--;
}

/* git's crlf_to_worktree (in core). Returns 1 if `out` holds the result. */
static int fresh_crlf_incore(const char *src, size_t len, int action, int autocrlf, int core_eol,
			     FBuf *out)
{
	FreshStats st;
	if (len == 0 || fresh_output_eol(action, autocrlf, core_eol) != EOL_CRLF)
		return 0;
	fresh_stats(src, len, &st);
	if (st.lonelf == 0)
		return 0;
	if (action == CRLF_AUTO || action == CRLF_AUTO_INPUT || action == CRLF_AUTO_CRLF) {
		if (st.lonecr || st.crlf)
			return 0;
		/* convert_is_binary */
		if (st.lonecr || st.nul || (st.printable >> 7) < st.nonprintable)
			return 0;
	}
	fresh_lf_to_crlf(src, len, out);
	return 1;
}

/* git's encode_to_worktree (reencode_string_len from UTF-8 to `enc`, glibc's iconv adding the
** BOM for UTF-16 and UTF-32 itself). Returns 1 if `out` holds the result, 0 if unchanged (git
** keeps the content when the conversion fails, with an error message: *failed is set). */
static int fresh_encode(const char *src, size_t len, const char *enc, FBuf *out, int *failed)
{
	static const char le_bom[] = {'\xFF', '\xFE'}, be_bom[] = {'\xFE', '\xFF'};
	const char *bom = NULL, *to = enc, *from = "UTF-8";
	iconv_t cd;
	char *inp = (char *)src;
	size_t inleft = len;
	if (enc == NULL || len == 0)
		return 0;
	if (fresh_same_utf("UTF-16LE-BOM", enc)) {
		bom = le_bom;
		to = "UTF-16LE";
	} else if (fresh_same_utf("UTF-16BE-BOM", enc)) {
		bom = be_bom;
		to = "UTF-16BE";
	}
	cd = iconv_open(to, from);
	if (cd == (iconv_t)-1) {
		/* git's fallback_encoding */
		if (fresh_same_utf("utf-8", to))
			to = "UTF-8";
		else if (strcasecmp(to, "latin-1") == 0)
			to = "ISO-8859-1";
		cd = iconv_open(to, from);
		if (cd == (iconv_t)-1) {
			*failed = 1;
			return 0;
		}
	}
	if (bom != NULL)
		fbuf_add(out, bom, 2);
	while (inleft > 0 && !out->oom) {
		char chunk[8192], *outp = chunk;
		size_t outleft = sizeof chunk;
		size_t rc = iconv(cd, &inp, &inleft, &outp, &outleft);
		fbuf_add(out, chunk, sizeof chunk - outleft);
		if (rc == (size_t)-1 && errno != E2BIG) {
			iconv_close(cd);
			out->len = 0;
			*failed = 1;
			return 0;
		}
	}
	iconv_close(cd);
	return 1;
}

/* git's sq_quote_buf: 'path', with ' and ! as '\'' and '\!'. */
static void fresh_sq_quote(FBuf *b, const char *s)
{
	fbuf_addc(b, '\'');
	for (; *s; s++) {
		if (*s == '\'' || *s == '!') {
			fbuf_add(b, "'\\", 2);
			fbuf_addc(b, *s);
			fbuf_addc(b, '\'');
		} else {
			fbuf_addc(b, *s);
		}
	}
	fbuf_addc(b, '\'');
}

/* One file, symlink or gitlink of the tree: its path (relative to the working tree), mode and
** object, and the stat data of what was written (filled by the worker that wrote it). */
typedef struct {
	char *path;
	git_filemode_t mode;
	git_oid id;
	struct stat st;
	unsigned char match; /* a converting attribute rule may match the path: look them up */
	unsigned char defer; /* a filter command converts it: written after the workers */
} FreshEntry;

/* The shared state of one write: entries[next...] are still to be written. Workers take
** entries by an atomic counter, write only their own entry's st, and keep the first error. */
typedef struct FreshWrite {
	const char *gitdir;   /* the common dir, opened by each worker: handles are not shared */
	const char *workdir;  /* ends with '/' */
	const char *wgitdir;  /* the working tree's own git dir (a filter command's GIT_DIR) */
	git_oid commit;       /* whose attributes apply (when an entry is matched) */
	int autocrlf;         /* AUTOCRLF_*: core.autocrlf */
	int core_eol;         /* EOL_*: core.eol */
	FreshDriver *drivers; /* filter.<name>.* of the configuration */
	size_t ndrivers;
	char **warnings; /* what git would print as errors and go on: a failed filter... */
	size_t nwarnings;
	const char *code; /* the code of an error kept as a message (failed = 3) */
	FreshEntry *entries;
	size_t count;
	atomic_size_t next;
	atomic_size_t done; /* entries the workers are through with (for progress) */
	atomic_int stop;
	pthread_mutex_t lock; /* guards the error below, and running */
	pthread_cond_t ended; /* signalled when the last worker ends */
	int running;          /* workers not ended yet */
	int failed;           /* 0, or 1 for a libgit2 error, 2 for errno, 3 for a message */
	int error;            /* libgit2 error code or errno */
	int klass;            /* libgit2 error class */
	char *message;        /* libgit2 message */
	char *where;          /* the path concerned */
} FreshWrite;

typedef struct {
	FreshEntry *list;
	size_t count, cap;
	char **dirs;
	size_t ndirs, dcap;
	const FreshRule *rules; /* the rules that may convert content; all: every file */
	size_t nrules;
	int all, icase;
	size_t matched;
} FreshWalk;

/* Keeps the first error of any worker; later ones are dropped. kind 1: libgit2 (error and
** git_error_last()), 2: errno `error`. */
static void fresh_fail(FreshWrite *fw, int kind, int error, const char *where)
{
	const git_error *e = kind == 1 ? git_error_last() : NULL;
	atomic_store(&fw->stop, 1);
	pthread_mutex_lock(&fw->lock);
	if (!fw->failed) {
		fw->failed = kind;
		fw->error = error;
		fw->klass = e ? e->klass : GIT_ERROR_NONE;
		fw->message = e && e->message ? strdup(e->message) : NULL;
		fw->where = where ? strdup(where) : NULL;
	}
	pthread_mutex_unlock(&fw->lock);
}

/* Writes all of `buf` to fd; 0 or -1 with errno. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR && !gt_interrupted)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Keeps a message (not a libgit2 or system error) as the write's first error. */
static void fresh_fail_msg(FreshWrite *fw, const char *code, const char *msg)
{
	atomic_store(&fw->stop, 1);
	pthread_mutex_lock(&fw->lock);
	if (!fw->failed) {
		fw->failed = 3;
		fw->code = code;
		fw->message = strdup(msg);
	}
	pthread_mutex_unlock(&fw->lock);
}

/* Adds a warning (what git prints as "error: ..." and goes on) to the write's list. */
static void fresh_warn(FreshWrite *fw, const char *msg)
{
	char **w;
	pthread_mutex_lock(&fw->lock);
	w = realloc(fw->warnings, (fw->nwarnings + 1) * sizeof *w);
	if (w != NULL) {
		fw->warnings = w;
		w[fw->nwarnings] = strdup(msg);
		if (w[fw->nwarnings] != NULL)
			fw->nwarnings++;
	}
	pthread_mutex_unlock(&fw->lock);
}

/* The attributes of `path` that convert content, decided as git's convert_attrs. 0, or -1 with
** the error kept in fw. */
static int fresh_conv_attrs(FreshWrite *fw, git_repository *wrepo, const char *path, FreshConv *ca)
{
	static const char *names[] = {"crlf", "ident", "filter",
				      "eol",  "text",  "working-tree-encoding"};
	const char *v[6];
	git_attr_options opts;
	int error, eol = EOL_UNSET;
	memset(ca, 0, sizeof *ca);
	memset(&opts, 0, sizeof opts);
	opts.version = GIT_ATTR_OPTIONS_VERSION;
	/* The commit's .gitattributes, as git reads them from the index it checks out. */
	opts.flags = GIT_ATTR_CHECK_INDEX_ONLY | GIT_ATTR_CHECK_INCLUDE_COMMIT;
	git_oid_cpy(&opts.attr_commit_id, &fw->commit);
	error = git_attr_get_many_ext(v, wrepo, &opts, path, 6, names);
	if (error < 0) {
		fresh_fail(fw, 1, error, path);
		return -1;
	}
	ca->crlf_action = fresh_check_crlf(v[4]);
	if (ca->crlf_action == CRLF_UNDEFINED)
		ca->crlf_action = fresh_check_crlf(v[0]);
	ca->ident = git_attr_value(v[1]) == GIT_ATTR_VALUE_TRUE;
	if (git_attr_value(v[2]) == GIT_ATTR_VALUE_STRING)
		for (size_t i = 0; i < fw->ndrivers; i++)
			if (strcmp(fw->drivers[i].name, v[2]) == 0)
				ca->drv = &fw->drivers[i];
	if (ca->crlf_action != CRLF_BINARY) {
		if (git_attr_value(v[3]) == GIT_ATTR_VALUE_STRING && strcmp(v[3], "lf") == 0)
			eol = EOL_LF;
		else if (git_attr_value(v[3]) == GIT_ATTR_VALUE_STRING && strcmp(v[3], "crlf") == 0)
			eol = EOL_CRLF;
		if (ca->crlf_action == CRLF_AUTO && eol == EOL_LF)
			ca->crlf_action = CRLF_AUTO_INPUT;
		else if (ca->crlf_action == CRLF_AUTO && eol == EOL_CRLF)
			ca->crlf_action = CRLF_AUTO_CRLF;
		else if (eol == EOL_LF)
			ca->crlf_action = CRLF_TEXT_INPUT;
		else if (eol == EOL_CRLF)
			ca->crlf_action = CRLF_TEXT_CRLF;
	}
	switch (git_attr_value(v[5])) {
	case GIT_ATTR_VALUE_TRUE:
	case GIT_ATTR_VALUE_FALSE:
		fresh_fail_msg(fw, "EINVALID", "true/false are no valid working-tree-encodings");
		return -1;
	case GIT_ATTR_VALUE_STRING:
		if (v[5][0] != '\0' && !fresh_same_utf(v[5], "UTF-8") &&
		    strcasecmp(v[5], "UTF-8") != 0) {
			ca->enc = strdup(v[5]);
			if (ca->enc == NULL) {
				fresh_fail(fw, 2, ENOMEM, path);
				return -1;
			}
		}
		break;
	default: break;
	}
	if (ca->crlf_action == CRLF_TEXT)
		ca->crlf_action = fresh_text_eol_is_crlf(fw->autocrlf, fw->core_eol)
				      ? CRLF_TEXT_CRLF
				      : CRLF_TEXT_INPUT;
	if (ca->crlf_action == CRLF_UNDEFINED && fw->autocrlf == AUTOCRLF_FALSE)
		ca->crlf_action = CRLF_BINARY;
	if (ca->crlf_action == CRLF_UNDEFINED && fw->autocrlf == AUTOCRLF_TRUE)
		ca->crlf_action = CRLF_AUTO_CRLF;
	if (ca->crlf_action == CRLF_UNDEFINED && fw->autocrlf == AUTOCRLF_INPUT)
		ca->crlf_action = CRLF_AUTO_INPUT;
	return 0;
}

/* The command that smudges for a driver, or NULL. git prefers a long-running `process` when
** both are set; a driver that also has `smudge` (git-lfs sets both) gives the same bytes
** through it, so gt runs that. A driver with only `process` sets *process (refused). */
static const char *fresh_smudge_command(const FreshDriver *drv, int *process)
{
	*process = 0;
	if (drv == NULL)
		return NULL;
	if (drv->smudge != NULL && drv->smudge[0] != '\0')
		return drv->smudge;
	if (drv->process != NULL && drv->process[0] != '\0') {
		*process = 1;
		return drv->process;
	}
	return NULL;
}

/* Runs a smudge command as git does: through sh in the working tree (the worktree's GIT_DIR,
** GIT_WORK_TREE=. in its environment), %f replaced by the quoted path, `in` on its stdin, its
** stdout into `out`. 0 if all went well and it exited 0; else -1 with a message in msg. Runs on
** the calling thread only (no worker is running then). */
static int fresh_run_filter(const FreshWrite *fw, const char *cmd, const char *path, const char *in,
			    size_t len, FBuf *out, char *msg, size_t msgcap)
{
	extern char **environ;
	FBuf c = {NULL, 0, 0, 0}, gd = {NULL, 0, 0, 0};
	size_t nenv = 0, written = 0;
	char **envp = NULL;
	int inp[2] = {-1, -1}, outp[2] = {-1, -1}, status = 0, rc = -1, was_pending;
	sigset_t pipe_set, old, pending;
	pid_t pid = -1;
	for (const char *p = cmd; *p; p++) {
		if (p[0] == '%' && p[1] == '%') {
			fbuf_addc(&c, '%');
			p++;
		} else if (p[0] == '%' && p[1] == 'f') {
			fresh_sq_quote(&c, path);
			p++;
		} else {
			fbuf_addc(&c, *p);
		}
	}
	fbuf_addstr(&gd, "GIT_DIR=");
	fbuf_addstr(&gd, fw->wgitdir);
	for (char **e = environ; *e; e++)
		nenv++;
	envp = calloc(nenv + 4, sizeof *envp);
	if (c.oom || gd.oom || envp == NULL || c.p == NULL) {
		snprintf(msg, msgcap, "out of memory");
		goto done;
	}
	nenv = 0;
	for (char **e = environ; *e; e++)
		if (strncmp(*e, "GIT_DIR=", 8) != 0 && strncmp(*e, "GIT_WORK_TREE=", 14) != 0 &&
		    strncmp(*e, "GIT_PREFIX=", 11) != 0)
			envp[nenv++] = *e;
	envp[nenv++] = gd.p;
	envp[nenv++] = "GIT_WORK_TREE=.";
	envp[nenv++] = "GIT_PREFIX=";
	if (pipe(inp) < 0 || pipe(outp) < 0 || fcntl(inp[0], F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(inp[1], F_SETFD, FD_CLOEXEC) < 0 || fcntl(outp[0], F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(outp[1], F_SETFD, FD_CLOEXEC) < 0) {
		snprintf(msg, msgcap, "cannot fork to run external filter '%s': %s", cmd,
			 strerror(errno));
		goto done;
	}
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE) == 1;
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	pid = fork();
	if (pid == 0) {
		sigset_t none;
		char *argv[] = {"sh", "-c", c.p, NULL};
		sigemptyset(&none);
		signal(SIGPIPE, SIG_DFL);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(inp[0], 0) < 0 || dup2(outp[1], 1) < 0 || chdir(fw->workdir) < 0)
			_exit(127);
		execve("/bin/sh", argv, envp);
		_exit(127);
	}
	close(inp[0]);
	close(outp[1]);
	inp[0] = outp[1] = -1;
	if (pid < 0) {
		snprintf(msg, msgcap, "cannot fork to run external filter '%s': %s", cmd,
			 strerror(errno));
	} else {
		struct pollfd pf[2];
		int write_err = 0, read_err = 0;
		fcntl(inp[1], F_SETFL, O_NONBLOCK);
		if (len == 0) {
			close(inp[1]);
			inp[1] = -1;
		}
		while (outp[0] >= 0) {
			pf[0].fd = outp[0];
			pf[0].events = POLLIN;
			pf[1].fd = inp[1];
			pf[1].events = POLLOUT;
			if (poll(pf, inp[1] >= 0 ? 2 : 1, -1) < 0) {
				if (errno == EINTR)
					continue;
				read_err = errno;
				break;
			}
			if (inp[1] >= 0 && (pf[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
				ssize_t w = write(inp[1], in + written,
						  len - written > 65536 ? 65536 : len - written);
				if (w > 0)
					written += (size_t)w;
				else if (w < 0 && errno != EAGAIN && errno != EINTR)
					write_err =
					    errno == EPIPE ? 0 : errno; /* git: EPIPE is fine */
				if (written == len ||
				    (w < 0 && errno != EAGAIN && errno != EINTR)) {
					close(inp[1]);
					inp[1] = -1;
				}
			}
			if (pf[0].revents & (POLLIN | POLLERR | POLLHUP)) {
				char chunk[65536];
				ssize_t r = read(outp[0], chunk, sizeof chunk);
				if (r > 0) {
					fbuf_add(out, chunk, (size_t)r);
				} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
					if (r < 0)
						read_err = errno;
					close(outp[0]);
					outp[0] = -1;
				}
			}
		}
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (write_err != 0)
			snprintf(msg, msgcap, "cannot feed the input to external filter '%s'", cmd);
		else if (read_err != 0 || out->oom)
			snprintf(msg, msgcap, "read from external filter '%s' failed", cmd);
		else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			snprintf(msg, msgcap, "external filter '%s' failed %d", cmd,
				 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		else
			rc = 0;
	}
	if (!was_pending) {
		struct timespec zero = {0, 0};
		while (sigtimedwait(&pipe_set, NULL, &zero) > 0 || errno == EINTR)
			; /* the SIGPIPE a write raised, if any */
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
done:
	for (int i = 0; i < 2; i++) {
		if (inp[i] >= 0)
			close(inp[i]);
		if (outp[i] >= 0)
			close(outp[i]);
	}
	free(envp);
	free(c.p);
	free(gd.p);
	return rc;
}

/* The content of entry `e` (its blob: data, len) as git checks it out, into *out (*converted
** set when it differs). With external = 0 (a worker) an entry whose driver runs a command is
** marked e->defer and left; the calling thread runs it later with external = 1. 0, or -1 with
** the error kept in fw. */
static int fresh_convert(FreshWrite *fw, git_repository *wrepo, FreshEntry *e, const char *data,
			 size_t len, FBuf *out, int *converted, int external)
{
	FreshConv ca;
	FBuf a = {NULL, 0, 0, 0}, b = {NULL, 0, 0, 0};
	const char *src = data, *cmd;
	char hex[GIT_OID_HEXSZ + 1], msg[1024];
	int process = 0, rc = 0, ret = 0, streamable;
	*converted = 0;
	if (fresh_conv_attrs(fw, wrepo, e->path, &ca) < 0)
		return -1;
	git_oid_tostr(hex, sizeof hex, &e->id);
	cmd = fresh_smudge_command(ca.drv, &process);
	if (cmd != NULL && !external) {
		e->defer = 1;
		goto done;
	}
	streamable = !(ca.drv && (ca.drv->process || ca.drv->smudge || ca.drv->clean)) &&
		     ca.enc == NULL && ca.crlf_action != CRLF_AUTO &&
		     ca.crlf_action != CRLF_AUTO_CRLF;
	if (streamable) { /* git's get_stream_filter_ca: ident, then LF to CRLF */
		if (ca.ident) {
			fresh_ident_stream(src, len, hex, &a);
			src = a.p ? a.p : "";
			len = a.len;
			ret = 1;
		}
		if (fresh_output_eol(ca.crlf_action, fw->autocrlf, fw->core_eol) == EOL_CRLF) {
			fresh_lf_to_crlf(src, len, &b);
			src = b.p ? b.p : "";
			len = b.len;
			ret = 1;
		}
	} else { /* git's convert_to_working_tree_ca */
		int failed = 0;
		if (ca.ident && fresh_ident_incore(src, len, hex, &a)) {
			src = a.p ? a.p : "";
			len = a.len;
			ret = 1;
		}
		if (fresh_crlf_incore(src, len, ca.crlf_action, fw->autocrlf, fw->core_eol, &b)) {
			src = b.p ? b.p : "";
			len = b.len;
			ret = 1;
			free(a.p);
			a = b;
			memset(&b, 0, sizeof b);
		}
		if (fresh_encode(src, len, ca.enc, &b, &failed)) {
			src = b.p ? b.p : "";
			len = b.len;
			ret = 1;
			free(a.p);
			a = b;
			memset(&b, 0, sizeof b);
		} else if (failed) {
			snprintf(msg, sizeof msg, "failed to encode '%s' from UTF-8 to %s", e->path,
				 ca.enc);
			fresh_warn(fw, msg);
		}
		if (cmd != NULL && process) {
			snprintf(
			    msg, sizeof msg,
			    "%s: filter.%s.process is a long-running filter, which gt does not run "
			    "(git would; configure filter.%s.smudge instead)",
			    e->path, ca.drv->name, ca.drv->name);
			fresh_fail_msg(fw, "EINVALID", msg);
			rc = -1;
			goto done;
		}
		if (cmd != NULL) {
			FBuf f = {NULL, 0, 0, 0};
			if (fresh_run_filter(fw, cmd, e->path, src, len, &f, msg, sizeof msg) ==
			    0) {
				free(b.p);
				b = f;
				src = b.p ? b.p : "";
				len = b.len;
				ret = 1;
			} else {
				free(f.p);
				if (!ca.drv->required)
					fresh_warn(fw, msg);
				cmd = NULL;
			}
		}
		if (cmd == NULL && ca.drv != NULL && ca.drv->required) {
			snprintf(msg, sizeof msg, "%s: smudge filter %s failed", e->path,
				 ca.drv->name);
			fresh_fail_msg(fw, "EGIT", msg);
			rc = -1;
			goto done;
		}
	}
	if (a.oom || b.oom) {
		fresh_fail(fw, 2, ENOMEM, e->path);
		rc = -1;
		goto done;
	}
	if (ret) {
		fbuf_add(out, src, len);
		*converted = 1;
		if (out->oom) {
			fresh_fail(fw, 2, ENOMEM, e->path);
			rc = -1;
		}
	}
done:
	free(a.p);
	free(b.p);
	free(ca.enc);
	return rc;
}

/* Writes one entry below workdir (its folder exists), converted as git would if it is matched
** (wrepo: the working tree's repository, for its attributes; external: run filter commands, else
** leave such an entry marked e->defer); 0, or -1 with the error kept in fw. */
static int fresh_write_one(FreshWrite *fw, git_odb *odb, git_repository *wrepo, FreshEntry *e,
			   char *full, size_t cap, int external)
{
	git_odb_object *obj = NULL;
	const char *data;
	size_t len;
	FBuf conv = {NULL, 0, 0, 0};
	int error, fd, rc = 0, converted = 0;
	if ((size_t)snprintf(full, cap, "%s%s", fw->workdir, e->path) >= cap) {
		fresh_fail(fw, 2, ENAMETOOLONG, e->path);
		return -1;
	}
	if (e->mode == GIT_FILEMODE_COMMIT) { /* a submodule: an empty folder, as git leaves it */
		if (mkdir(full, 0777) < 0 || lstat(full, &e->st) < 0) {
			fresh_fail(fw, 2, errno, full);
			return -1;
		}
		return 0;
	}
	error = git_odb_read(&obj, odb, &e->id);
	if (error == 0 && git_odb_object_type(obj) != GIT_OBJECT_BLOB) {
		git_error_set_str(GIT_ERROR_OBJECT, "the object of a file is not a blob");
		error = GIT_EINVALID;
	}
	if (error < 0) {
		git_odb_object_free(obj);
		fresh_fail(fw, 1, error, e->path);
		return -1;
	}
	data = (const char *)git_odb_object_data(obj);
	len = git_odb_object_size(obj);
	if (e->match && e->mode != GIT_FILEMODE_LINK) {
		if (fresh_convert(fw, wrepo, e, data, len, &conv, &converted, external) < 0 ||
		    e->defer) {
			git_odb_object_free(obj);
			free(conv.p);
			return e->defer && !atomic_load(&fw->stop) ? 0 : -1;
		}
		if (converted) {
			data = conv.p ? conv.p : "";
			len = conv.len;
		}
	}
	if (e->mode == GIT_FILEMODE_LINK) {
		char *target = malloc(len + 1);
		if (target == NULL) {
			rc = ENOMEM;
		} else {
			memcpy(target, data, len);
			target[len] = '\0';
			if (symlink(target, full) < 0 || lstat(full, &e->st) < 0)
				rc = errno;
			free(target);
		}
	} else {
		/* O_EXCL: nothing already there is ever overwritten. */
		fd = open(full, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			  e->mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0777 : 0666);
		if (fd < 0) {
			rc = errno;
		} else {
			if (write_all(fd, data, len) < 0 || fstat(fd, &e->st) < 0)
				rc = errno;
			if (close(fd) < 0 && rc == 0)
				rc = errno;
		}
	}
	git_odb_object_free(obj);
	free(conv.p);
	if (rc != 0) {
		fresh_fail(fw, 2, rc, full);
		return -1;
	}
	return 0;
}

static void *fresh_worker(void *arg)
{
	FreshWrite *fw = (FreshWrite *)arg;
	git_repository *repo = NULL, *wrepo = NULL;
	git_odb *odb = NULL;
	size_t cap = strlen(fw->workdir) + 4096;
	char *full = malloc(cap);
	int error = 0;
	if (full == NULL) {
		fresh_fail(fw, 2, ENOMEM, NULL);
		error = -1;
	} else if ((error = git_repository_open_bare(&repo, fw->gitdir)) < 0 ||
		   (error = git_repository_odb(&odb, repo)) < 0) {
		fresh_fail(fw, 1, error, fw->gitdir);
	}
	while (error == 0 && !atomic_load(&fw->stop)) {
		size_t i = atomic_fetch_add(&fw->next, 1);
		if (i >= fw->count)
			break;
		if (gt_interrupted) {
			fresh_fail(fw, 2, EINTR, NULL);
			break;
		}
		/* The working tree's own handle, for attributes: opened when first needed. */
		if (fw->entries[i].match && wrepo == NULL &&
		    (error = git_repository_open_ext(&wrepo, fw->workdir,
						     GIT_REPOSITORY_OPEN_NO_SEARCH, NULL)) < 0) {
			fresh_fail(fw, 1, error, fw->workdir);
			break;
		}
		if (fresh_write_one(fw, odb, wrepo, &fw->entries[i], full, cap, 0) < 0)
			break;
		atomic_fetch_add_explicit(&fw->done, 1, memory_order_relaxed);
	}
	git_odb_free(odb);
	git_repository_free(wrepo);
	git_repository_free(repo);
	free(full);
	pthread_mutex_lock(&fw->lock);
	if (--fw->running == 0)
		pthread_cond_signal(&fw->ended);
	pthread_mutex_unlock(&fw->lock);
	return NULL;
}

/* A tree entry's name git refuses to check out: ".", "..", ".git" (any case) or one with '/'. */
static int fresh_bad_name(const char *name)
{
	return strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strcasecmp(name, ".git") == 0 ||
	       strchr(name, '/') != NULL || name[0] == '\0';
}

/* git_tree_walk callback: collects folders and entries (C data only). */
static int on_fresh_entry(const char *root, const git_tree_entry *entry, void *payload)
{
	FreshWalk *w = (FreshWalk *)payload;
	const char *name = git_tree_entry_name(entry);
	git_filemode_t mode = git_tree_entry_filemode(entry);
	size_t len = strlen(root) + strlen(name) + 1;
	char *path;
	if (fresh_bad_name(name)) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s%s: a path git does not check out", root, name);
		git_error_set_str(GIT_ERROR_TREE, msg);
		return GIT_EINVALID;
	}
	path = malloc(len);
	if (path == NULL) {
		git_error_set_oom();
		return -1;
	}
	snprintf(path, len, "%s%s", root, name);
	if (mode == GIT_FILEMODE_TREE) {
		if (w->ndirs == w->dcap) {
			size_t cap = w->dcap ? w->dcap * 2 : 64;
			char **d = realloc(w->dirs, cap * sizeof *d);
			if (d == NULL)
				goto oom;
			w->dirs = d;
			w->dcap = cap;
		}
		w->dirs[w->ndirs++] = path;
		return 0;
	}
	if (w->count == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 256;
		FreshEntry *l = realloc(w->list, cap * sizeof *l);
		if (l == NULL)
			goto oom;
		w->list = l;
		w->cap = cap;
	}
	memset(&w->list[w->count], 0, sizeof w->list[w->count]);
	w->list[w->count].path = path;
	w->list[w->count].mode = mode;
	if (mode == GIT_FILEMODE_BLOB || mode == GIT_FILEMODE_BLOB_EXECUTABLE) {
		int match = w->all;
		for (size_t i = 0; !match && i < w->nrules; i++) {
			match = fresh_rule_matches(&w->rules[i], path, w->icase);
			/* libgit2 matches attribute patterns with regard to case, whatever
			** core.ignorecase says: where git alone would match, gt cannot be git. */
			if (match && w->icase && !fresh_rule_matches(&w->rules[i], path, 0)) {
				char msg[512];
				snprintf(msg, sizeof msg,
					 "%s: core.ignorecase is set and an attribute pattern "
					 "matches it only "
					 "without regard to case, which libgit2 does not do: gt "
					 "would write "
					 "other bytes than git",
					 path);
				free(path);
				git_error_set_str(GIT_ERROR_INVALID, msg);
				return GIT_EINVALID;
			}
		}
		w->list[w->count].match = (unsigned char)match;
		w->matched += w->list[w->count].match;
	}
	git_oid_cpy(&w->list[w->count].id, git_tree_entry_id(entry));
	w->count++;
	return 0;
oom:
	free(path);
	git_error_set_oom();
	return -1;
}

static void fresh_walk_free(FreshWalk *w)
{
	for (size_t i = 0; i < w->count; i++)
		free(w->list[i].path);
	for (size_t i = 0; i < w->ndirs; i++)
		free(w->dirs[i]);
	free(w->list);
	free(w->dirs);
}

/* Makes the index the written entries, with their stat data; 0 or a libgit2 error. */
static int fresh_index(git_repository *repo, FreshWalk *w)
{
	git_index *index = NULL;
	int error = git_repository_index(&index, repo);
	if (error == 0)
		error = git_index_clear(index);
	for (size_t i = 0; error == 0 && i < w->count; i++) {
		const FreshEntry *e = &w->list[i];
		git_index_entry ie;
		memset(&ie, 0, sizeof ie);
		ie.ctime.seconds = (int32_t)e->st.st_ctim.tv_sec;
		ie.ctime.nanoseconds = (uint32_t)e->st.st_ctim.tv_nsec;
		ie.mtime.seconds = (int32_t)e->st.st_mtim.tv_sec;
		ie.mtime.nanoseconds = (uint32_t)e->st.st_mtim.tv_nsec;
		ie.dev = (uint32_t)e->st.st_dev;
		ie.ino = (uint32_t)e->st.st_ino;
		ie.mode = e->mode;
		ie.uid = (uint32_t)e->st.st_uid;
		ie.gid = (uint32_t)e->st.st_gid;
		ie.file_size = e->mode == GIT_FILEMODE_COMMIT ? 0 : (uint32_t)e->st.st_size;
		git_oid_cpy(&ie.id, &e->id);
		ie.path = e->path;
		error = git_index_add(index, &ie);
	}
	if (error == 0)
		error = git_index_write(index);
	git_index_free(index);
	return error;
}

/* Reads opts.filters = {all = true | rules = {{base = "a/", pattern = "*.x"}...}} into w (the
** rules that may make content convert, from gt.filters): the rules are a userdata left on the
** stack, their strings those of the options table. */
static void fresh_read_rules(lua_State *L, int opts, FreshWalk *w)
{
	int t;
	if (!lua_istable(L, opts))
		return;
	if (lua_getfield(L, opts, "filters") != LUA_TTABLE) {
		luaL_argcheck(L, lua_isnil(L, -1), opts, "filters: a table expected");
		return;
	}
	t = lua_gettop(L);
	lua_getfield(L, t, "all");
	w->all = lua_toboolean(L, -1);
	if (lua_getfield(L, t, "rules") == LUA_TTABLE) {
		size_t n = (size_t)lua_rawlen(L, -1);
		FreshRule *r = lua_newuserdatauv(L, (n > 0 ? n : 1) * sizeof *r, 0);
		for (size_t i = 0; i < n; i++) {
			const char *pat, *base;
			size_t len, baselen;
			int anchored = 0;
			luaL_argcheck(L, lua_rawgeti(L, -2, (lua_Integer)i + 1) == LUA_TTABLE, opts,
				      "filters.rules: tables {base, pattern} expected");
			lua_getfield(L, -1, "pattern");
			lua_getfield(L, -2, "base");
			pat = lua_tolstring(L, -2, &len);
			base = lua_tolstring(L, -1, &baselen);
			luaL_argcheck(L, pat != NULL, opts, "filters.rules: a pattern expected");
			lua_pop(L, 3); /* the strings stay in the rule's table */
			while (len > 0 && pat[len - 1] == '/')
				len--;
			if (len > 0 && pat[0] == '/') {
				anchored = 1;
				pat++;
				len--;
			}
			if (len == 0)
				continue; /* git ignores it */
			r[w->nrules].pat = pat;
			r[w->nrules].patlen = len;
			r[w->nrules].base = base ? base : "";
			r[w->nrules].baselen = base ? baselen : 0;
			r[w->nrules].basename = !anchored && memchr(pat, '/', len) == NULL;
			w->nrules++;
		}
		w->rules = r;
	}
}

static void fresh_warnings_free(FreshWrite *fw)
{
	for (size_t i = 0; i < fw->nwarnings; i++)
		free(fw->warnings[i]);
	free(fw->warnings);
	fw->warnings = NULL;
	fw->nwarnings = 0;
}

/* Writes the entries the workers left to the calling thread (their filter runs a command). */
static void fresh_write_deferred(FreshWrite *fw, git_repository *repo, FreshWalk *w)
{
	git_odb *odb = NULL;
	size_t cap = strlen(fw->workdir) + 4096;
	char *full = NULL;
	int error;
	for (size_t i = 0; !fw->failed && i < w->count; i++) {
		FreshEntry *e = &w->list[i];
		if (!e->defer)
			continue;
		if (gt_interrupted) {
			fresh_fail(fw, 2, EINTR, NULL);
			break;
		}
		if (odb == NULL && (error = git_repository_odb(&odb, repo)) < 0) {
			fresh_fail(fw, 1, error, fw->gitdir);
			break;
		}
		if (full == NULL && (full = malloc(cap)) == NULL) {
			fresh_fail(fw, 2, ENOMEM, NULL);
			break;
		}
		e->defer = 0;
		if (fresh_write_one(fw, odb, repo, e, full, cap, 1) < 0)
			break;
	}
	free(full);
	git_odb_free(odb);
}

static void fresh_drivers_free(FreshWrite *fw)
{
	for (size_t i = 0; i < fw->ndrivers; i++) {
		free(fw->drivers[i].name);
		free(fw->drivers[i].smudge);
		free(fw->drivers[i].clean);
		free(fw->drivers[i].process);
	}
	free(fw->drivers);
	fw->drivers = NULL;
	fw->ndrivers = 0;
}

/* A string setting, copied; NULL when unset. -1 on a failure other than "not set". */
static int fresh_config_string(char **out, git_config *cfg, const char *driver, const char *key)
{
	char name[1024];
	const char *v;
	int error;
	*out = NULL;
	snprintf(name, sizeof name, "filter.%s.%s", driver, key);
	error = git_config_get_string(&v, cfg, name);
	if (error == GIT_ENOTFOUND) {
		git_error_clear();
		return 0;
	}
	if (error < 0)
		return error;
	*out = strdup(v);
	if (*out == NULL) {
		git_error_set_oom();
		return -1;
	}
	return 0;
}

/* Reads what git's conversion depends on: core.autocrlf, core.eol, core.ignorecase and the
** filter drivers (git's read_convert_config). 0 or a libgit2 error. */
static int fresh_read_config(git_repository *repo, FreshWrite *fw, int *icase)
{
	git_config *cfg = NULL;
	git_config_iterator *it = NULL;
	git_config_entry *ent;
	const char *v;
	char key[1024];
	int b, error = git_repository_config_snapshot(&cfg, repo);
	if (error < 0)
		return error;
	fw->autocrlf = AUTOCRLF_FALSE;
	if (git_config_get_string(&v, cfg, "core.autocrlf") == 0) {
		if (strcasecmp(v, "input") == 0)
			fw->autocrlf = AUTOCRLF_INPUT;
		else if (git_config_parse_bool(&b, v) == 0 && b)
			fw->autocrlf = AUTOCRLF_TRUE;
	}
	fw->core_eol = EOL_UNSET;
	if (git_config_get_string(&v, cfg, "core.eol") == 0) {
		if (strcasecmp(v, "crlf") == 0)
			fw->core_eol = EOL_CRLF;
		else if (strcasecmp(v, "lf") == 0 || strcasecmp(v, "native") == 0)
			fw->core_eol = EOL_LF;
	}
	*icase = git_config_get_bool(&b, cfg, "core.ignorecase") == 0 && b;
	git_error_clear();
	error = git_config_iterator_glob_new(&it, cfg, "^filter\\..*\\.[a-z]+$");
	while (error == 0 && (error = git_config_next(&ent, it)) == 0) {
		const char *name = ent->name + 7, *dot = strrchr(name, '.');
		size_t len = (size_t)(dot - name), i;
		FreshDriver *d;
		for (i = 0; i < fw->ndrivers; i++)
			if (strlen(fw->drivers[i].name) == len &&
			    memcmp(fw->drivers[i].name, name, len) == 0)
				break;
		if (i < fw->ndrivers)
			continue;
		d = realloc(fw->drivers, (fw->ndrivers + 1) * sizeof *d);
		if (d == NULL) {
			git_error_set_oom();
			error = -1;
			break;
		}
		fw->drivers = d;
		memset(&d[fw->ndrivers], 0, sizeof *d);
		d[fw->ndrivers].name = strndup(name, len);
		if (d[fw->ndrivers].name == NULL) {
			git_error_set_oom();
			error = -1;
			break;
		}
		fw->ndrivers++;
	}
	if (error == GIT_ITEROVER)
		error = 0;
	git_config_iterator_free(it);
	for (size_t i = 0; error == 0 && i < fw->ndrivers; i++) {
		FreshDriver *d = &fw->drivers[i];
		if ((error = fresh_config_string(&d->smudge, cfg, d->name, "smudge")) < 0 ||
		    (error = fresh_config_string(&d->clean, cfg, d->name, "clean")) < 0 ||
		    (error = fresh_config_string(&d->process, cfg, d->name, "process")) < 0)
			break;
		snprintf(key, sizeof key, "filter.%s.required", d->name);
		d->required = git_config_get_bool(&b, cfg, key) == 0 && b;
		git_error_clear();
	}
	git_config_free(cfg);
	return error;
}

/* Calls the progress function (argument 1) with the counts (ud: size_t[2]), under gt_cpcall. */
static int call_write_progress(lua_State *L)
{
	const size_t *counts = (const size_t *)lua_touserdata(L, 2);
	lua_settop(L, 1);
	lua_pushinteger(L, (lua_Integer)counts[0]);
	lua_pushinteger(L, (lua_Integer)counts[1]);
	lua_call(L, 2, 0);
	return 0;
}

/* Calls progress(done, total) (stack index fn) from the calling thread; -1 when it raised (its
** error on top of the stack). */
static int write_progress(lua_State *L, int fn, size_t done, size_t total)
{
	size_t counts[2];
	counts[0] = done;
	counts[1] = total;
	return gt_cpcall(L, call_write_progress, fn, counts, 0);
}

/* Waits for the workers of fw to end, calling progress(done, total) every 100 ms meanwhile. -1
** when it raised (the workers are told to stop; its error is on top of the stack). */
static int fresh_wait(lua_State *L, FreshWrite *fw, int fn)
{
	int rc = 0;
	pthread_mutex_lock(&fw->lock);
	while (fw->running > 0) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 100000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&fw->ended, &fw->lock, &until);
		if (fw->running == 0 || rc < 0)
			continue;
		pthread_mutex_unlock(&fw->lock);
		rc = write_progress(L, fn, atomic_load(&fw->done), fw->count);
		if (rc < 0)
			atomic_store(&fw->stop, 1);
		pthread_mutex_lock(&fw->lock);
	}
	pthread_mutex_unlock(&fw->lock);
	return rc;
}

/* repo:write_tree_into(spec [, {jobs = n, filters = {all = bool, rules = {{base, pattern}...}},
** progress = fn(done, total)}]) -> files written [, warnings] | nil, err, code. Writes the tree
** of `spec` (a commit or tree)
** into the repository's working tree, which must be new (it holds none of the tree's paths:
** nothing is overwritten), with `jobs` threads (default: the online CPUs), each reading objects
** through its own handle; then writes the index, with the stat data of every file written, so
** that a status hashes nothing. Content is converted as git converts it (ident, CRLF,
** working-tree-encoding, filter drivers' smudge commands) for the files the filter rules may
** match (all: every file); the others are written as they are (spec must then be a commit).
** Smudge commands run on the calling thread; a required driver's failure fails the write, a
** failure git would only report is one of the warnings. Submodules become empty folders. On
** error (or an interrupt: "EINTR") what was written stays: the caller removes it. progress is
** called on the calling thread (never by the workers) with the files written and their total:
** once before, every 100 ms while they are written, and once after; an error it raises stops
** the write and is raised again. */
int gt_repo_write_tree_into(lua_State *L)
{
	git_repository *repo = checkrepo(L);
	const char *spec = luaL_checkstring(L, 2);
	lua_Integer jobs = gt_optfield_integer(L, 3, "jobs", 0);
	const char *workdir = git_repository_workdir(repo);
	FreshWalk w;
	FreshWrite fw;
	pthread_t *threads = NULL;
	size_t started = 0, n;
	git_tree *tree = NULL;
	char *full = NULL;
	int error, progress = 0, raised = 0;
	if (workdir == NULL)
		return gt_pushfail(L, "EINVALID", "%s: a bare repository has no working tree",
				   git_repository_path(repo));
	if (lua_istable(L, 3) && lua_getfield(L, 3, "progress") != LUA_TNIL) {
		luaL_argcheck(L, lua_isfunction(L, -1), 3, "progress must be a function");
		luaL_checkstack(L, 6, NULL);
		progress = lua_gettop(L);
	}
	memset(&w, 0, sizeof w);
	memset(&fw, 0, sizeof fw);
	fresh_read_rules(L, 3, &w); /* before anything is acquired: it may raise an error */
	if (jobs <= 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		jobs = cpus > 0 ? cpus : 1;
	}
	if (jobs > 64)
		jobs = 64;
	if (!(git_libgit2_features() & GIT_FEATURE_THREADS))
		jobs = 1; /* a libgit2 built without threads: one worker, the caller waiting */
	if (w.all || w.nrules > 0) {
		git_object *obj = NULL;
		error = git_revparse_single(&obj, repo, spec);
		if (error == 0) {
			error = git_object_peel((git_object **)&tree, obj, GIT_OBJECT_COMMIT);
			if (error == 0)
				git_oid_cpy(&fw.commit, git_object_id((git_object *)tree));
			git_object_free((git_object *)tree);
			tree = NULL;
		}
		git_object_free(obj);
		if (error == 0)
			error = fresh_read_config(repo, &fw, &w.icase);
		if (error < 0) {
			fresh_drivers_free(&fw);
			return fail_git(L, error, spec);
		}
	}
	error = gt_lookup_tree(&tree, repo, spec);
	if (error < 0)
		return fail_git(L, error, spec);
	error = git_tree_walk(tree, GIT_TREEWALK_PRE, on_fresh_entry, &w);
	git_tree_free(tree);
	if (error < 0) {
		fresh_walk_free(&w);
		fresh_drivers_free(&fw);
		return fail_git(L, error, spec);
	}
	/* Folders first, parents before children (the walk's order), on this thread only. */
	for (size_t i = 0; i < w.ndirs; i++) {
		size_t len = strlen(workdir) + strlen(w.dirs[i]) + 1;
		char *p = realloc(full, len);
		if (p == NULL) {
			error = ENOMEM;
			break;
		}
		full = p;
		snprintf(full, len, "%s%s", workdir, w.dirs[i]);
		if (gt_interrupted) {
			error = EINTR;
			break;
		}
		if (mkdir(full, 0777) < 0) {
			error = errno;
			break;
		}
	}
	if (error != 0) {
		fresh_walk_free(&w);
		fresh_drivers_free(&fw);
		if (error == EINTR) {
			free(full);
			return gt_pushinterrupted(L);
		}
		n = (size_t)gt_pusherrno(L, error, "%s", full ? full : workdir);
		free(full);
		return (int)n;
	}
	free(full);
	fw.gitdir = git_repository_commondir(repo);
	fw.workdir = workdir;
	fw.wgitdir = git_repository_path(repo);
	fw.entries = w.list;
	fw.count = w.count;
	atomic_init(&fw.next, 0);
	atomic_init(&fw.done, 0);
	atomic_init(&fw.stop, 0);
	pthread_mutex_init(&fw.lock, NULL);
	pthread_cond_init(&fw.ended, NULL);
	if ((size_t)jobs > w.count)
		jobs = w.count > 0 ? (lua_Integer)w.count : 1;
	if (progress && write_progress(L, progress, 0, w.count) < 0)
		raised = 1;
	threads = raised ? NULL : calloc((size_t)jobs, sizeof *threads);
	if (threads == NULL && !raised)
		fresh_fail(&fw, 2, ENOMEM, NULL);
	for (lua_Integer i = 0; threads != NULL && i < jobs; i++) {
		int rc;
		pthread_mutex_lock(&fw.lock);
		fw.running++;
		pthread_mutex_unlock(&fw.lock);
		rc = pthread_create(&threads[started], NULL, fresh_worker, &fw);
		if (rc != 0) {
			pthread_mutex_lock(&fw.lock);
			fw.running--;
			pthread_mutex_unlock(&fw.lock);
			fresh_fail(&fw, 2, rc, NULL);
			break;
		}
		started++;
	}
	if (progress && started > 0 && fresh_wait(L, &fw, progress) < 0)
		raised = 1;
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	if (!raised)
		fresh_write_deferred(&fw, repo, &w);
	pthread_cond_destroy(&fw.ended);
	pthread_mutex_destroy(&fw.lock);
	if (!fw.failed && !raised && progress && write_progress(L, progress, w.count, w.count) < 0)
		raised = 1;
	if (raised) {
		fresh_walk_free(&w);
		fresh_drivers_free(&fw);
		fresh_warnings_free(&fw);
		free(fw.message);
		free(fw.where);
		return lua_error(L); /* the progress function's error, on top */
	}
	if (!fw.failed) {
		error = fresh_index(repo, &w);
		if (error < 0)
			fresh_fail(&fw, 1, error, git_repository_path(repo));
	}
	n = w.count;
	fresh_walk_free(&w);
	fresh_drivers_free(&fw);
	if (fw.failed) {
		int ret;
		fresh_warnings_free(&fw);
		if (fw.failed == 3) {
			ret = gt_pushfail(L, fw.code, "%s",
					  fw.message ? fw.message : "out of memory");
		} else if (fw.failed == 2 && fw.error == EINTR) {
			ret = gt_pushinterrupted(L);
		} else if (fw.failed == 2) {
			ret = gt_pusherrno(L, fw.error, "%s", fw.where ? fw.where : workdir);
		} else {
			git_error_set_str(fw.klass,
					  fw.message ? fw.message : "unknown libgit2 error");
			ret = gt_pushgiterror(L, fw.error, fw.where ? fw.where : spec, workdir);
		}
		free(fw.message);
		free(fw.where);
		return ret;
	}
	lua_pushinteger(L, (lua_Integer)n);
	if (fw.nwarnings == 0)
		return 1;
	lua_createtable(L, (int)fw.nwarnings, 0);
	for (size_t i = 0; i < fw.nwarnings; i++) {
		lua_pushstring(L, fw.warnings[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	fresh_warnings_free(&fw);
	return 2;
}
