/*
 * File capture (see capture.h). The walk is relative to directory file
 * descriptors: every object is looked at with fstatat(AT_SYMLINK_NOFOLLOW)
 * and opened with openat(O_NOFOLLOW) under its parent's descriptor, so a
 * symlink is never followed and a path swapped during the walk cannot
 * redirect it out of the tree. Names are sorted so that the same tree
 * always gives the same archive. Files up to buffer_limit are read into
 * one reused buffer and read again while fstat before and after disagree;
 * larger files are streamed under the size first seen and only flagged
 * when they change. Memory: that buffer, the hardlink and owner-name
 * tables, and one open directory (with its sorted names) per level.
 * Maildir mode only acts when a message vanished: it then reads the
 * directories it may have been renamed into once more, and looks the
 * candidates up in the manifest back to their directory's member.
 */
#include "snapshot/capture.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/log.h"
#include "base/strbuf.h"

#define DEFAULT_RETRIES 3
#define DEFAULT_BUFFER_LIMIT ((size_t)16 << 20)
#define PIECE_SIZE ((size_t)1 << 20) /* streaming read size */
#define PW_BUF_MAX ((size_t)1 << 20) /* getpwuid_r/getgrgid_r buffer ceiling */

/* Helpers return CAP_GONE when the object disappeared (or changed type)
 * between being listed and being read: the caller warns and moves on. */
#define CAP_GONE 1
#define CAP_FOUND 2 /* a Maildir message found under its new name (or excluded there) */
#define MAILDIR_TRIES 3 /* searches for a message renamed again meanwhile */

/* One captured inode with more than one link. */
struct link_slot {
	dev_t dev;
	ino_t ino;
	char *member; /* member path it was archived under; NULL = free slot */
};

struct owner {
	uint32_t id;
	char *name; /* NULL when the id has no name */
};

struct owner_cache {
	struct owner *v;
	size_t n, alloc;
};

/* Where the extended attributes of an object are read from. */
struct xattr_src {
	int fd;           /* >= 0: f*xattr on it */
	const char *path; /* otherwise: l*xattr on this path (never followed) */
};

struct ms_capture {
	struct ms_archive_writer *w;     /* borrowed */
	struct ms_manifest *m;           /* borrowed */
	const struct ms_strv *excludes;  /* borrowed, may be NULL */
	int max_retries;
	size_t buffer_limit;
	unsigned char *buf;              /* lazily allocated, buf_size bytes */
	size_t buf_size;                 /* max(buffer_limit + 1, PIECE_SIZE) */
	struct link_slot *links;         /* open addressing, links_cap a power of 2 */
	size_t links_cap, links_n;
	struct owner_cache users, groups;
	struct ms_strbuf src;            /* source path of the current object (messages) */
	struct ms_strbuf mem;            /* member path of the current object */
	size_t rel_off;                  /* start of the root-relative path in mem */
	struct ms_strbuf scope;          /* member path of this call's root: hardlinks stay below */
	bool single_file;                /* ms_capture_file: no hardlink member */
	bool maildir;                    /* opts->maildir */
	bool quiet_gone;                 /* a Maildir message is read: gone() returns CAP_GONE */
	void (*listed)(void *, const char *); /* opts->listed (test hook) */
	void *listed_arg;
	bool proc_fd;                    /* /proc/self/fd usable (symlink xattrs) */
	struct ms_capture_stats stats;
};

static int capture_dir_fd(struct ms_capture *c, int fd);

/* --- paths ---------------------------------------------------------------- */

static void sb_truncate(struct ms_strbuf *sb, size_t len)
{
	sb->len = len;
	if (sb->buf)
		sb->buf[len] = '\0';
}

/* Sets sb to s without trailing slashes (but keeps a lone "/"). */
static void sb_set_path(struct ms_strbuf *sb, const char *s)
{
	size_t len = strlen(s);

	while (len > 1 && s[len - 1] == '/')
		len--;
	ms_strbuf_reset(sb);
	ms_strbuf_add(sb, s, len);
}

static void sb_push_name(struct ms_strbuf *sb, const char *name)
{
	if (sb->len == 0 || sb->buf[sb->len - 1] != '/')
		ms_strbuf_addch(sb, '/');
	ms_strbuf_addstr(sb, name);
}

/* --- owner names ------------------------------------------------------------ */

/* The name of a user (or group) id, NULL when it has none; caller frees. */
static char *lookup_owner(uint32_t id, bool group)
{
	size_t size = 1024;
	char *name = NULL;

	for (;;) {
		char *buf = ms_xmalloc(size);
		struct passwd pw, *pwp = NULL;
		struct group gr, *grp = NULL;
		int err;

		if (group) {
			err = getgrgid_r((gid_t)id, &gr, buf, size, &grp);
			if (!err && grp)
				name = ms_xstrdup(grp->gr_name);
		} else {
			err = getpwuid_r((uid_t)id, &pw, buf, size, &pwp);
			if (!err && pwp)
				name = ms_xstrdup(pwp->pw_name);
		}
		free(buf);
		if (err != ERANGE || size >= PW_BUF_MAX)
			return name;
		size *= 2;
	}
}

/* Cached name of id; borrowed from the cache, NULL when it has none. */
static const char *owner_name(struct owner_cache *oc, uint32_t id, bool group)
{
	for (size_t i = 0; i < oc->n; i++)
		if (oc->v[i].id == id)
			return oc->v[i].name;
	if (oc->n == oc->alloc) {
		oc->alloc = oc->alloc ? oc->alloc * 2 : 8;
		oc->v = ms_xrealloc(oc->v, oc->alloc * sizeof(*oc->v));
	}
	oc->v[oc->n].id = id;
	oc->v[oc->n].name = lookup_owner(id, group);
	return oc->v[oc->n++].name;
}

static void owner_cache_clear(struct owner_cache *oc)
{
	for (size_t i = 0; i < oc->n; i++)
		free(oc->v[i].name);
	free(oc->v);
}

/* --- hardlinks -------------------------------------------------------------- */

static struct link_slot *link_slot(struct link_slot *tab, size_t cap, dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ULL ^ (uint64_t)dev * 0xC2B2AE3D27D4EB4FULL;
	size_t i = (size_t)(h ^ (h >> 31)) & (cap - 1);

	while (tab[i].member && (tab[i].dev != dev || tab[i].ino != ino))
		i = (i + 1) & (cap - 1);
	return &tab[i];
}

/* Member path an inode was already archived under by this call (below
 * c->scope), or NULL. */
static const char *link_find(const struct ms_capture *c, const struct stat *st)
{
	const char *member;

	if (st->st_nlink < 2 || !c->links)
		return NULL;
	member = link_slot(c->links, c->links_cap, st->st_dev, st->st_ino)->member;
	if (!member || strncmp(member, c->scope.buf, c->scope.len) != 0 || member[c->scope.len] != '/')
		return NULL;
	return member;
}

static void link_grow(struct ms_capture *c)
{
	size_t cap = c->links_cap ? c->links_cap * 2 : 64;
	struct link_slot *tab = ms_xcalloc(cap, sizeof(*tab));

	for (size_t i = 0; i < c->links_cap; i++) {
		struct link_slot *old = &c->links[i];

		if (old->member)
			*link_slot(tab, cap, old->dev, old->ino) = *old;
	}
	free(c->links);
	c->links = tab;
	c->links_cap = cap;
}

static void link_remember(struct ms_capture *c, const struct stat *st, const char *member)
{
	struct link_slot *s;

	if (2 * (c->links_n + 1) > c->links_cap)
		link_grow(c);
	s = link_slot(c->links, c->links_cap, st->st_dev, st->st_ino);
	if (s->member) /* archived by an earlier call: later links name this copy */
		free(s->member);
	else
		c->links_n++;
	s->dev = st->st_dev;
	s->ino = st->st_ino;
	s->member = ms_xstrdup(member);
}

/* --- extended attributes -------------------------------------------------- */

/* Lists names (name == NULL) or reads one value, like the syscalls. */
static ssize_t xattr_call(const struct xattr_src *x, const char *name, void *buf, size_t size)
{
	if (name)
		return x->fd >= 0 ? fgetxattr(x->fd, name, buf, size) : lgetxattr(x->path, name, buf, size);
	return x->fd >= 0 ? flistxattr(x->fd, buf, size) : llistxattr(x->path, buf, size);
}

/* xattr_call into a buffer of the right size (caller frees *out, NULL
 * when empty), retrying when it grew in between. Length or -1 (errno). */
static ssize_t xattr_alloc(const struct xattr_src *x, const char *name, char **out)
{
	*out = NULL;
	for (;;) {
		ssize_t size = xattr_call(x, name, NULL, 0), n;
		char *buf;

		if (size <= 0)
			return size;
		buf = ms_xmalloc((size_t)size);
		n = xattr_call(x, name, buf, (size_t)size);
		if (n >= 0) {
			*out = buf;
			return n;
		}
		free(buf);
		if (errno != ERANGE)
			return -1;
	}
}

static int cmp_xattr(const void *a, const void *b)
{
	return strcmp(((const struct ms_xattr *)a)->name, ((const struct ms_xattr *)b)->name);
}

/* Appends one attribute to e; 0 (also when it vanished meanwhile) or -1. */
static int read_xattr(const struct xattr_src *x, const char *name, struct ms_entry *e)
{
	char *value;
	ssize_t n = xattr_alloc(x, name, &value);
	struct ms_xattr *xa;

	if (n < 0)
		return errno == ENODATA ? 0 : -1;
	e->xattrs = ms_xrealloc(e->xattrs, (e->n_xattrs + 1) * sizeof(*e->xattrs));
	xa = &e->xattrs[e->n_xattrs++];
	xa->name = ms_xstrdup(name);
	xa->value = value;
	xa->size = (size_t)n;
	return 0;
}

/* Fills e->xattrs, sorted by name; none where the filesystem has no
 * xattr support. 0, or -1 after logging an error naming `shown`. */
static int read_xattrs(const struct xattr_src *x, const char *shown, struct ms_entry *e)
{
	char *names;
	ssize_t len = xattr_alloc(x, NULL, &names);
	int ret = -1;

	if (len < 0) {
		if (errno == ENOTSUP)
			return 0;
		return ms_log_error("unable to read extended attributes of '%s': %s", shown,
				    strerror(errno));
	}
	/* len 0 comes with names NULL: no pointer arithmetic on it (UB) */
	for (char *p = names; len > 0 && p < names + len; p += strlen(p) + 1) {
		if (read_xattr(x, p, e) < 0) {
			ms_log_error("unable to read extended attribute '%s' of '%s': %s", p, shown,
				     strerror(errno));
			goto out;
		}
	}
	if (e->n_xattrs > 1)
		qsort(e->xattrs, e->n_xattrs, sizeof(*e->xattrs), cmp_xattr);
	ret = 0;
out:
	free(names);
	return ret;
}

/* --- entries -------------------------------------------------------------- */

/* Fills e from st for the current member; strings are borrowed (from c),
 * only e->xattrs is allocated: release with entry_release(). */
static void entry_init(struct ms_capture *c, struct ms_entry *e, enum ms_entry_type type,
		       const struct stat *st)
{
	memset(e, 0, sizeof(*e));
	e->path = c->mem.buf;
	e->type = type;
	e->mode = (uint32_t)(st->st_mode & 07777);
	e->uid = (uint32_t)st->st_uid;
	e->gid = (uint32_t)st->st_gid;
	e->uname = (char *)owner_name(&c->users, e->uid, false);
	e->gname = (char *)owner_name(&c->groups, e->gid, true);
	e->mtime_sec = (int64_t)st->st_mtim.tv_sec;
	e->mtime_nsec = (int32_t)st->st_mtim.tv_nsec;
}

static void entry_release(struct ms_entry *e)
{
	for (size_t i = 0; i < e->n_xattrs; i++) {
		free(e->xattrs[i].name);
		free(e->xattrs[i].value);
	}
	free(e->xattrs);
	e->xattrs = NULL;
	e->n_xattrs = 0;
}

/* Records a written entry in the manifest and the stats; warns when it
 * is flagged as changed. */
static void entry_done(struct ms_capture *c, const struct ms_entry *e, const char *sha256,
		       uint32_t flags)
{
	ms_manifest_add(c->m, e, sha256, flags);
	c->stats.entries++;
	if (flags & MS_MF_CHANGED) {
		c->stats.changed++;
		ms_log_warn("'%s' changed while being read; archived as last read", c->src.buf);
	}
}

/* Writes an entry without data (dir, symlink, hardlink). 0 or -1. */
static int write_meta_entry(struct ms_capture *c, const struct ms_entry *e)
{
	char sha256[MS_HASH_HEX_MAX];

	if (ms_archive_write_header(c->w, e) < 0 || ms_archive_finish_entry(c->w, sha256) < 0)
		return -1;
	entry_done(c, e, sha256, 0);
	return 0;
}

/* An object gone since it was listed: a warning, or CAP_GONE for a Maildir
 * message (capture_children then looks for its new name). */
static int gone(struct ms_capture *c)
{
	if (c->quiet_gone)
		return CAP_GONE;
	c->stats.vanished++;
	ms_log_warn("'%s' disappeared before it could be read; not archived", c->src.buf);
	return 0;
}

static int skip_special(struct ms_capture *c, const char *reason)
{
	ms_log_debug("skipping %s '%s'", reason, c->src.buf);
	ms_manifest_add_skipped(c->m, c->src.buf, reason);
	c->stats.skipped++;
	return 0;
}

/* --- regular files -------------------------------------------------------- */

static void ensure_buffer(struct ms_capture *c)
{
	if (c->buf)
		return;
	c->buf_size = c->buffer_limit + 1 > PIECE_SIZE ? c->buffer_limit + 1 : PIECE_SIZE;
	c->buf = ms_xmalloc(c->buf_size);
}

/* Reads up to len bytes at off (fewer only at end of file) into *got.
 * 0, or -1 after logging. */
static int read_at(struct ms_capture *c, int fd, void *buf, size_t len, off_t off, size_t *got)
{
	size_t done = 0;

	*got = 0; /* set on failure too: GCC -O3 warns otherwise */
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ms_log_error("unable to read '%s': %s", c->src.buf, strerror(errno));
		if (n == 0)
			break;
		done += (size_t)n;
	}
	*got = done;
	return 0;
}

static bool same_times(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static bool stat_settled(const struct stat *before, const struct stat *after)
{
	return before->st_size == after->st_size && same_times(&before->st_mtim, &after->st_mtim) &&
	       same_times(&before->st_ctim, &after->st_ctim);
}

static int stat_fd(struct ms_capture *c, int fd, struct stat *st)
{
	if (fstat(fd, st) < 0)
		return ms_log_error("unable to stat '%s': %s", c->src.buf, strerror(errno));
	return 0;
}

/* Writes the buffered content (n bytes) as a FILE entry. */
static int write_buffered(struct ms_capture *c, int fd, const struct stat *st, size_t n,
			  uint32_t flags)
{
	struct xattr_src x = { fd, NULL };
	char sha256[MS_HASH_HEX_MAX];
	struct ms_entry e;
	int ret = -1;

	entry_init(c, &e, MS_ENTRY_FILE, st);
	e.size = n;
	if (read_xattrs(&x, c->src.buf, &e) < 0)
		goto out;
	if (ms_archive_write_buffer(c->w, &e, c->buf, n, sha256) < 0)
		goto out;
	c->stats.bytes += n;
	entry_done(c, &e, sha256, flags);
	ret = 0;
out:
	entry_release(&e);
	return ret;
}

/* A file of at most buffer_limit bytes (at open): read whole, again while
 * it changes, up to max_retries times; then archived as last read. */
static int capture_buffered(struct ms_capture *c, int fd, struct stat *st)
{
	bool settled = false;
	size_t n = 0;

	ensure_buffer(c);
	for (int attempt = 0; attempt <= c->max_retries && !settled; attempt++) {
		size_t size = (size_t)st->st_size;
		struct stat after;

		if (size > c->buffer_limit)
			size = c->buffer_limit;
		/* one byte more than expected, to notice growth */
		if (read_at(c, fd, c->buf, size + 1, 0, &n) < 0 || stat_fd(c, fd, &after) < 0)
			return -1;
		settled = n == (size_t)st->st_size && stat_settled(st, &after);
		*st = after;
	}
	if (n > c->buffer_limit)
		n = c->buffer_limit;
	return write_buffered(c, fd, st, n, settled ? 0 : MS_MF_CHANGED);
}

/* Streams `declared` bytes from fd into the current entry, zero-padding
 * what is missing. Sets *short_read when the file ended early. */
static int stream_data(struct ms_capture *c, int fd, uint64_t declared, bool *short_read)
{
	uint64_t off = 0;

	*short_read = false;
	while (off < declared) {
		size_t want = declared - off < PIECE_SIZE ? (size_t)(declared - off) : PIECE_SIZE;
		size_t got;

		if (read_at(c, fd, c->buf, want, (off_t)off, &got) < 0)
			return -1;
		if (got < want) {
			memset(c->buf + got, 0, want - got);
			*short_read = true;
		}
		c->stats.bytes += got;
		if (ms_archive_write_data(c->w, c->buf, want) < 0)
			return -1;
		off += want;
	}
	return 0;
}

/* After streaming: did the file grow past `declared`, or change at all? */
static int stream_changed(struct ms_capture *c, int fd, const struct stat *before, bool *changed)
{
	struct stat after;
	size_t got;
	char byte;

	if (read_at(c, fd, &byte, 1, before->st_size, &got) < 0 || stat_fd(c, fd, &after) < 0)
		return -1;
	if (got > 0 || !stat_settled(before, &after))
		*changed = true;
	return 0;
}

/* A file larger than buffer_limit: streamed in pieces under the size seen
 * at open (tar needs it first); a change can only be flagged. */
static int capture_streamed(struct ms_capture *c, int fd, const struct stat *st)
{
	struct xattr_src x = { fd, NULL };
	char sha256[MS_HASH_HEX_MAX];
	bool changed = false;
	struct ms_entry e;
	int ret = -1;

	ensure_buffer(c);
	entry_init(c, &e, MS_ENTRY_FILE, st);
	e.size = (uint64_t)st->st_size;
	if (read_xattrs(&x, c->src.buf, &e) < 0 || ms_archive_write_header(c->w, &e) < 0)
		goto out;
	if (stream_data(c, fd, e.size, &changed) < 0 || stream_changed(c, fd, st, &changed) < 0)
		goto out;
	if (ms_archive_finish_entry(c->w, sha256) < 0)
		goto out;
	entry_done(c, &e, sha256, changed ? MS_MF_CHANGED : 0);
	ret = 0;
out:
	entry_release(&e);
	return ret;
}

static int write_hardlink(struct ms_capture *c, const struct stat *st, const char *target)
{
	struct ms_entry e;

	entry_init(c, &e, MS_ENTRY_HARDLINK, st);
	e.link = (char *)target;
	return write_meta_entry(c, &e);
}

/* Opens a regular file for reading into *fd without following a symlink
 * and without touching its atime where allowed. 0, CAP_GONE when it is no
 * longer there, or -1 after logging. */
static int open_file(struct ms_capture *c, int dfd, const char *name, int *fd)
{
	int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;

	*fd = openat(dfd, name, flags | O_NOATIME);
	if (*fd < 0 && errno == EPERM) /* O_NOATIME needs ownership or CAP_FOWNER */
		*fd = openat(dfd, name, flags);
	if (*fd >= 0)
		return 0;
	if (errno == ENOENT || errno == ELOOP || errno == ENXIO)
		return CAP_GONE;
	return ms_log_error("unable to open '%s': %s", c->src.buf, strerror(errno));
}

static int capture_regular(struct ms_capture *c, int dfd, const char *name)
{
	const char *target;
	struct stat st;
	int fd, ret;

	ret = open_file(c, dfd, name, &fd);
	if (ret != 0)
		return ret == CAP_GONE ? gone(c) : -1;
	ret = -1;
	if (stat_fd(c, fd, &st) < 0)
		goto out;
	target = c->single_file ? NULL : link_find(c, &st);
	if (!S_ISREG(st.st_mode))
		ret = gone(c); /* replaced by something else since listed */
	else if (target)
		ret = write_hardlink(c, &st, target);
	else if ((uint64_t)st.st_size <= c->buffer_limit)
		ret = capture_buffered(c, fd, &st);
	else
		ret = capture_streamed(c, fd, &st);
	if (ret == 0 && S_ISREG(st.st_mode) && !target && st.st_nlink > 1 && !c->single_file)
		link_remember(c, &st, c->mem.buf);
out:
	close(fd);
	return ret;
}

/* --- symlinks ------------------------------------------------------------- */

/* The exact target bytes of symlink name (caller frees), NULL with errno
 * set on failure. */
static char *read_link(int dfd, const char *name, off_t hint)
{
	size_t size = hint > 0 ? (size_t)hint + 1 : 256;

	for (;;) {
		char *buf = ms_xmalloc(size);
		ssize_t n = readlinkat(dfd, name, buf, size);

		if (n >= 0 && (size_t)n < size) {
			buf[n] = '\0';
			return buf;
		}
		free(buf);
		if (n < 0)
			return NULL;
		size *= 2;
	}
}

/* Symlinks cannot be opened, so their xattrs are read by path: through
 * /proc/self/fd/DFD/NAME, which stays under the parent's descriptor, or
 * (without /proc) the full path. */
static int capture_symlink(struct ms_capture *c, int dfd, const char *name, const struct stat *st)
{
	char *proc = c->proc_fd ? ms_xasprintf("/proc/self/fd/%d/%s", dfd, name) : NULL;
	struct xattr_src x = { -1, proc ? proc : c->src.buf };
	char *target = read_link(dfd, name, st->st_size);
	struct ms_entry e;
	int ret = -1;

	entry_init(c, &e, MS_ENTRY_SYMLINK, st);
	if (!target) {
		if (errno == ENOENT || errno == EINVAL)
			ret = gone(c);
		else
			ms_log_error("unable to read symlink '%s': %s", c->src.buf, strerror(errno));
		goto out;
	}
	e.link = target;
	if (read_xattrs(&x, c->src.buf, &e) < 0)
		goto out;
	ret = write_meta_entry(c, &e);
out:
	entry_release(&e);
	free(target);
	free(proc);
	return ret;
}

/* --- directories ---------------------------------------------------------- */

static bool is_excluded(const struct ms_capture *c, const char *name)
{
	const char *rel = c->mem.buf + c->rel_off;

	if (!c->excludes)
		return false;
	for (size_t i = 0; i < c->excludes->n; i++) {
		const char *pat = c->excludes->v[i];

		if (!strchr(pat, '/')) {
			if (fnmatch(pat, name, 0) == 0)
				return true;
		} else if (fnmatch(pat[0] == '/' ? pat + 1 : pat, rel, FNM_PATHNAME) == 0) {
			return true;
		}
	}
	return false;
}

static int capture_subdir(struct ms_capture *c, int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd >= 0)
		return capture_dir_fd(c, fd);
	if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR)
		return gone(c);
	return ms_log_error("unable to open '%s': %s", c->src.buf, strerror(errno));
}

/* Archives the object `name` under dfd, whose lstat is st. */
static int capture_object(struct ms_capture *c, int dfd, const char *name, const struct stat *st)
{
	switch (st->st_mode & S_IFMT) {
	case S_IFREG:
		return capture_regular(c, dfd, name);
	case S_IFDIR:
		return capture_subdir(c, dfd, name);
	case S_IFLNK:
		return capture_symlink(c, dfd, name, st);
	case S_IFSOCK:
		return skip_special(c, "socket");
	case S_IFIFO:
		return skip_special(c, "fifo");
	default:
		return skip_special(c, "device");
	}
}

/* Whether the current object is excluded or its member path too long,
 * after saying why at the right level. */
static bool left_out(const struct ms_capture *c, const char *name)
{
	char *p;

	if (is_excluded(c, name)) {
		ms_log_debug("excluding '%s'", c->src.buf);
		return true;
	}
	if (c->mem.len <= MS_MEMBER_PATH_MAX)
		return false;
	/* restore could not recreate it under any target (FORMAT.md §4.3) */
	p = ms_printable(c->src.buf);
	ms_log_warn("'%.200s...': path too long to be restored (%zu bytes in the archive, at most %d); "
		    "not archived", p, c->mem.len, MS_MEMBER_PATH_MAX);
	free(p);
	return true;
}

/* One directory child: excluded, gone, or captured. */
static int capture_child(struct ms_capture *c, int dfd, const char *name)
{
	struct stat st;

	if (left_out(c, name))
		return 0;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return capture_object(c, dfd, name, &st);
	if (errno == ENOENT)
		return gone(c);
	return ms_log_error("unable to stat '%s': %s", c->src.buf, strerror(errno));
}

/* The names in d except "." and "..", sorted bytewise. 0 or -1. */
static int list_names(struct ms_capture *c, DIR *d, struct ms_strv *names)
{
	struct dirent *de;

	errno = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			ms_strv_push(names, de->d_name);
		errno = 0;
	}
	if (errno)
		return ms_log_error("unable to read directory '%s': %s", c->src.buf, strerror(errno));
	ms_strv_sort(names);
	return 0;
}

/* --- Maildir ---------------------------------------------------------------- */

/* Whether the children of the current directory are Maildir messages:
 * maildir mode, below the walk's root, and named new or cur. */
static bool message_dir(const struct ms_capture *c)
{
	const char *base;

	if (!c->maildir || c->mem.len < c->rel_off)
		return false;
	base = ms_path_basename(c->mem.buf);
	return !strcmp(base, "new") || !strcmp(base, "cur");
}

/* Whether `member` was archived after the directory member `dir`: 1 yes,
 * 0 no, -1 when `dir` was not archived either. Everything below dir came
 * after it, so the scan back stops there. */
static int archived_since(const struct ms_capture *c, const char *dir, const char *member)
{
	for (size_t i = c->m->n_entries; i-- > 0;) {
		const char *p = c->m->entries[i].e.path;

		if (!strcmp(p, member))
			return 1;
		if (!strcmp(p, dir))
			return 0;
	}
	return -1;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether name is one of later->v[from..] (sorted): still to come. */
static bool still_to_come(const struct ms_strv *later, size_t from, const char *name)
{
	if (!later || from >= later->n)
		return false;
	return bsearch(&name, later->v + from, later->n - from, sizeof(*later->v), cmp_name) != NULL;
}

/* A name in the directory fd (member path c->mem) whose unique part (up
 * to the first ':') is uniq's, neither archived already nor still to
 * come; the smallest such (caller frees), NULL when none. fd stays open. */
static char *find_renamed(struct ms_capture *c, int fd, const char *uniq, size_t ulen,
			  const struct ms_strv *later, size_t from)
{
	int lfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* a listing of its own */
	DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
	size_t mem_len = c->mem.len;
	char *dir, *best = NULL;
	struct dirent *de;

	if (!d) {
		if (lfd >= 0)
			close(lfd);
		return NULL;
	}
	dir = ms_xstrdup(c->mem.buf);
	while ((de = readdir(d))) {
		bool fits;

		if (strncmp(de->d_name, uniq, ulen) != 0 || (de->d_name[ulen] && de->d_name[ulen] != ':') ||
		    (best && strcmp(de->d_name, best) >= 0) || still_to_come(later, from, de->d_name))
			continue;
		sb_push_name(&c->mem, de->d_name);
		fits = archived_since(c, dir, c->mem.buf) == 0;
		sb_truncate(&c->mem, mem_len);
		if (fits) {
			free(best);
			best = ms_xstrdup(de->d_name);
		}
	}
	free(dir);
	closedir(d);
	return best;
}

/* Looks in the directory `sub` of dfd (paths c->src and c->mem) for the
 * message `name` under a new name, and captures it. CAP_FOUND when done,
 * 0 when not there, CAP_GONE when it vanished again meanwhile, -1 on error. */
static int rescue_in(struct ms_capture *c, int dfd, const char *sub, const char *name,
		     const struct ms_strv *later, size_t from)
{
	int fd = openat(dfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), ret = 0;
	size_t src_len = c->src.len, mem_len = c->mem.len;
	struct stat st;
	char *found;

	if (fd < 0)
		return 0; /* no such directory (any more) */
	found = find_renamed(c, fd, name, strcspn(name, ":"), later, from);
	if (found) {
		sb_push_name(&c->src, found);
		sb_push_name(&c->mem, found);
		if (left_out(c, found))
			ret = CAP_FOUND;
		else if (fstatat(fd, found, &st, AT_SYMLINK_NOFOLLOW) < 0)
			ret = errno == ENOENT ? CAP_GONE
					      : ms_log_error("unable to stat '%s': %s", c->src.buf, strerror(errno));
		else if (S_ISREG(st.st_mode) && (ret = capture_regular(c, fd, found)) == 0) {
			ms_log_debug("'%s': Maildir message renamed while read, archived under this name", c->src.buf);
			c->stats.renamed++;
			ret = CAP_FOUND;
		}
		sb_truncate(&c->src, src_len);
		sb_truncate(&c->mem, mem_len);
	}
	free(found);
	close(fd);
	return ret;
}

/* Swaps the last three bytes of sb ("new" <-> "cur"). */
static void sb_swap_tail(struct ms_strbuf *sb, const char *tail)
{
	sb_truncate(sb, sb->len - 3);
	ms_strbuf_addstr(sb, tail);
}

/* The Maildir message names->v[i] of the directory dfd (the current
 * object, named new or cur) vanished before it was read: captured under
 * its new name when found in the sibling cur/ or its own directory, else
 * counted as vanished, without a warning (Dovecot deletes messages all
 * the time; the caller sums them up). 0 or -1. */
static int rescue_message(struct ms_capture *c, int dfd, const struct ms_strv *names, size_t i)
{
	bool in_new = !strcmp(ms_path_basename(c->mem.buf), "new");
	int r = CAP_GONE;

	for (int n = 0; n < MAILDIR_TRIES && r == CAP_GONE; n++) {
		r = 0;
		if (in_new) { /* cur/ was walked already: nothing there is still to come */
			sb_swap_tail(&c->src, "cur");
			sb_swap_tail(&c->mem, "cur");
			r = rescue_in(c, dfd, "../cur", names->v[i], NULL, 0);
			sb_swap_tail(&c->src, "new");
			sb_swap_tail(&c->mem, "new");
		}
		if (r == 0)
			r = rescue_in(c, dfd, ".", names->v[i], names, i + 1);
	}
	if (r < 0)
		return -1;
	if (r != CAP_FOUND) {
		c->stats.vanished++;
		ms_log_debug("Maildir message '%s/%s' vanished before it could be read; not archived", c->src.buf,
			     names->v[i]);
	}
	return 0;
}

/* Captures every child of the open directory d, in name order. */
static int capture_children(struct ms_capture *c, DIR *d)
{
	struct ms_strv names = { 0 };
	bool messages = message_dir(c);
	int ret = -1;

	if (list_names(c, d, &names) < 0)
		goto out;
	if (c->listed)
		c->listed(c->listed_arg, c->src.buf);
	for (size_t i = 0; i < names.n; i++) {
		size_t src_len = c->src.len, mem_len = c->mem.len;
		int r;

		sb_push_name(&c->src, names.v[i]);
		sb_push_name(&c->mem, names.v[i]);
		c->quiet_gone = messages;
		r = capture_child(c, dirfd(d), names.v[i]);
		sb_truncate(&c->src, src_len);
		sb_truncate(&c->mem, mem_len);
		if (r == CAP_GONE)
			r = rescue_message(c, dirfd(d), &names, i);
		c->quiet_gone = false;
		if (r < 0)
			goto out;
	}
	ret = 0;
out:
	ms_strv_clear(&names);
	return ret;
}

/* Writes the directory entry for fd (the current object), then its
 * children. Takes ownership of fd. */
static int capture_dir_fd(struct ms_capture *c, int fd)
{
	struct xattr_src x = { fd, NULL };
	struct ms_entry e;
	struct stat st;
	DIR *d = NULL;
	int ret = -1;

	memset(&e, 0, sizeof(e));
	if (stat_fd(c, fd, &st) < 0)
		goto out;
	entry_init(c, &e, MS_ENTRY_DIR, &st);
	if (read_xattrs(&x, c->src.buf, &e) < 0 || write_meta_entry(c, &e) < 0)
		goto out;
	d = fdopendir(fd);
	if (!d) {
		ms_log_error("unable to read directory '%s': %s", c->src.buf, strerror(errno));
		goto out;
	}
	fd = -1; /* owned by d now */
	ret = capture_children(c, d);
out:
	entry_release(&e);
	if (d)
		closedir(d);
	if (fd >= 0)
		close(fd);
	return ret;
}

/* --- public --------------------------------------------------------------- */

struct ms_capture *ms_capture_new(struct ms_archive_writer *w, struct ms_manifest *m,
				  const struct ms_capture_opts *opts)
{
	struct ms_capture *c = ms_xcalloc(1, sizeof(*c));

	c->w = w;
	c->m = m;
	c->max_retries = DEFAULT_RETRIES;
	c->buffer_limit = DEFAULT_BUFFER_LIMIT;
	c->proc_fd = access("/proc/self/fd", X_OK) == 0;
	if (opts) {
		c->excludes = opts->excludes;
		if (opts->max_retries != 0)
			c->max_retries = opts->max_retries < 0 ? 0 : opts->max_retries;
		if (opts->buffer_limit != 0)
			c->buffer_limit = opts->buffer_limit;
		c->maildir = opts->maildir;
		c->listed = opts->listed;
		c->listed_arg = opts->listed_arg;
	}
	return c;
}

/* Starts a call capturing `path` as member `member` (root-relative paths
 * for excludes, the scope of hardlinks). */
static void start_root(struct ms_capture *c, const char *path, const char *member)
{
	sb_set_path(&c->src, path);
	sb_set_path(&c->mem, member);
	sb_set_path(&c->scope, member);
	c->rel_off = c->mem.len + 1;
}

int ms_capture_tree(struct ms_capture *c, const char *root, const char *prefix)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return ms_log_error("unable to open '%s': %s", root, strerror(errno));
	start_root(c, root, prefix);
	return capture_dir_fd(c, fd);
}

int ms_capture_path(struct ms_capture *c, const char *path, const char *member)
{
	char *dir;
	const char *name;
	int dfd, fd, ret = -1;
	struct stat st;

	start_root(c, path, member);
	dir = ms_path_dirname(c->src.buf);
	name = ms_path_basename(c->src.buf);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 && errno != ENOENT && errno != ENOTDIR) {
		ms_log_error("unable to open '%s': %s", dir, strerror(errno));
		goto out;
	}
	if (dfd < 0 || fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		ms_log_error("unable to stat '%s': %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		ret = capture_object(c, dfd, name, &st);
		goto out;
	}
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		ms_log_error("unable to open '%s': %s", path, strerror(errno));
	else
		ret = capture_dir_fd(c, fd);
out:
	if (dfd >= 0)
		close(dfd);
	free(dir);
	return ret;
}

int ms_capture_file(struct ms_capture *c, const char *path, const char *member)
{
	/* a single-file member is always the file's content: a symlink is
	 * followed and a hardlink stays a file (restore accepts nothing else
	 * there) */
	char *real = realpath(path, NULL);
	int real_errno = errno;
	char *dir = ms_path_dirname(real ? real : path);
	const char *name = ms_path_basename(real ? real : path);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret = -1;
	struct stat st;

	sb_set_path(&c->src, path);
	sb_set_path(&c->mem, member);
	if (!real) { /* missing, or a dangling link */
		ms_log_error("unable to stat '%s': %s", path, strerror(real_errno));
		goto out;
	}
	if (dfd < 0) {
		ms_log_error("unable to open '%s': %s", dir, strerror(errno));
		goto out;
	}
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		ms_log_error("unable to stat '%s': %s", path, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		ms_log_error("unable to capture '%s': %s", path, strerror(EISDIR));
		goto out;
	}
	c->single_file = true;
	ret = capture_object(c, dfd, name, &st);
	c->single_file = false;
out:
	if (dfd >= 0)
		close(dfd);
	free(dir);
	free(real);
	return ret;
}

void ms_capture_stats(const struct ms_capture *c, struct ms_capture_stats *st)
{
	*st = c->stats;
}

void ms_capture_free(struct ms_capture *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->links_cap; i++)
		free(c->links[i].member);
	free(c->links);
	owner_cache_clear(&c->users);
	owner_cache_clear(&c->groups);
	ms_strbuf_release(&c->src);
	ms_strbuf_release(&c->mem);
	ms_strbuf_release(&c->scope);
	free(c->buf);
	free(c);
}
