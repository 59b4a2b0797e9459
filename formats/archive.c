/*
 * The snapshot archive's tar layer (see snaparchive.h): libarchive writes and
 * reads pax tar through client callbacks, with no libarchive filter; the
 * zstd stream underneath is ours (zstd_io.c) so that frames carry content
 * checksums and nothing pads the output when it goes to a pipe. Entry
 * sizes are enforced here rather than left to libarchive, which would
 * silently zero-pad or drop bytes, and every file's SHA-256 is computed as
 * its data streams through.
 *
 * libarchive converts names between the current locale and the UTF-8 that
 * pax stores; modosnap never calls setlocale, so every call that may
 * convert runs under a thread-local C.UTF-8 locale: UTF-8 names are stored
 * as standard pax UTF-8, other byte strings as hdrcharset=BINARY, and both
 * read back byte for byte.
 */
#include "formats/snaparchive.h"
#include "base/util.h"
#include "formats/zstd_io.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <archive.h>
#include <archive_entry.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#define MS_CHUNK_MAX 999999L /* six digits in chunk names */

/* --- shared helpers ------------------------------------------------------ */

static const char *ar_msg(struct archive *a)
{
	const char *s = archive_error_string(a);

	return s ? s : "unknown libarchive error";
}

/* C.UTF-8 for libarchive's name conversions, or (locale_t)0 when the C
 * library has none (names then fall back to hdrcharset=BINARY). */
static locale_t utf8_locale_new(void)
{
	return newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

static locale_t utf8_enter(locale_t l)
{
	return l ? uselocale(l) : (locale_t)0;
}

static void utf8_leave(locale_t previous)
{
	if (previous)
		uselocale(previous);
}

static void utf8_locale_free(locale_t l)
{
	if (l)
		freelocale(l);
}

/* --- writer -------------------------------------------------------------- */

struct ms_archive_writer {
	struct archive *a;          /* libarchive pax writer, no filter */
	struct ms_zstd_out *z;      /* zstd sink behind libarchive's write callback */
	struct archive_entry *ae;   /* reused for every header */
	struct ms_hash *hash;       /* SHA-256 of the current entry's data */
	char *name;                 /* archive name for messages */
	char *path;                 /* current entry's path; NULL between entries */
	uint64_t declared;          /* current entry's data size */
	uint64_t written;           /* data bytes given for it so far */
	uint64_t entries;           /* entries finished */
	locale_t utf8;              /* see the file comment; may be 0 */
	bool failed;                /* an error was logged: the archive is unusable */
	bool closed;                /* end marker and zstd frame end written */
	bool discard;               /* freeing an unfinished archive: drop output */
	bool (*cancelled)(void);    /* ms_writer_opts.cancelled, may be NULL */
	_Atomic uint64_t *progress; /* ms_writer_opts.progress, may be NULL */
};

/* Never reports failure to libarchive: in its FATAL state libarchive 3.6
 * leaks its output block when freed. A zstd or write error is remembered
 * by the zstd layer (which logged it) and checked after every call; from
 * then on, and while an unfinished archive is being discarded, output is
 * dropped. */
static la_ssize_t write_cb(struct archive *a, void *ctx, const void *buf, size_t len)
{
	struct ms_archive_writer *w = ctx;

	(void)a;
	if (!w->discard && !ms_zstd_out_failed(w->z))
		ms_zstd_out_write(w->z, buf, len);
	return (la_ssize_t)len;
}

/* After a libarchive call that succeeded: did the output fail under it? */
static int output_ok(struct ms_archive_writer *w)
{
	if (!ms_zstd_out_failed(w->z))
		return 0;
	w->failed = true;
	return -1;
}

/* Logs libarchive's error for the archive (and entry, when path is set),
 * unless the zstd layer under it already reported the cause. */
static int writer_fail(struct ms_archive_writer *w, const char *path)
{
	w->failed = true;
	if (ms_zstd_out_failed(w->z))
		return -1;
	if (path)
		return ms_log_error("'%s': entry '%s': %s", w->name, path, ar_msg(w->a));
	return ms_log_error("'%s': %s", w->name, ar_msg(w->a));
}

static int writer_setup(struct ms_archive_writer *w)
{
	w->a = archive_write_new();
	if (!w->a)
		MS_BUG("archive_write_new failed");
	/* full pax (not pax_restricted) keeps sub-second mtimes; SCHILY
	 * xattr records are what GNU tar reads, and libarchive would
	 * otherwise write every xattr twice */
	if (archive_write_set_format_pax(w->a) != ARCHIVE_OK ||
	    archive_write_set_options(w->a, "xattrheader=SCHILY") != ARCHIVE_OK ||
	    archive_write_add_filter_none(w->a) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(w->a, 1) != ARCHIVE_OK ||
	    archive_write_open2(w->a, w, NULL, write_cb, NULL, NULL) != ARCHIVE_OK)
		return writer_fail(w, NULL);
	return 0;
}

struct ms_archive_writer *ms_archive_writer_open(int fd, const char *name, const struct ms_writer_opts *opts)
{
	int level = opts && opts->level ? opts->level : MS_ZSTD_LEVEL_DEFAULT;
	int threads = opts ? opts->threads : 0;
	struct ms_archive_writer *w;

	if (level < 1 || level > 19 || threads < 0) {
		ms_log_error("'%s': invalid compression settings (level %d, threads %d)", name, level,
			     threads);
		return NULL;
	}
	w = ms_xcalloc(1, sizeof(*w));
	w->name = ms_xstrdup(name);
	w->cancelled = opts ? opts->cancelled : NULL;
	w->progress = opts ? opts->progress : NULL;
	w->hash = ms_hash_new(MS_HASH_SHA256);
	w->utf8 = utf8_locale_new();
	w->ae = archive_entry_new();
	if (!w->ae)
		MS_BUG("archive_entry_new failed");
	w->z = ms_zstd_out_new(fd, name, level, threads);
	if (!w->z || writer_setup(w) < 0) {
		ms_archive_writer_free(w);
		return NULL;
	}
	return w;
}

/* Refuses calls that make no sense in the writer's current state. */
static int writer_usable(struct ms_archive_writer *w, bool want_entry)
{
	if (w->failed)
		return -1;
	if (w->cancelled && w->cancelled()) {
		w->failed = true; /* silently: the canceller reports */
		return -1;
	}
	if (w->closed) {
		w->failed = true;
		return ms_log_error("'%s': archive already closed", w->name);
	}
	if (want_entry && !w->path) {
		w->failed = true;
		return ms_log_error("'%s': no entry started", w->name);
	}
	if (!want_entry && w->path) {
		w->failed = true;
		return ms_log_error("'%s': entry '%s' not finished", w->name, w->path);
	}
	return 0;
}

static int check_entry(struct ms_archive_writer *w, const struct ms_entry *e)
{
	if (!e->path || !*e->path)
		return ms_log_error("'%s': entry without a path", w->name);
	if ((unsigned)e->type > MS_ENTRY_HARDLINK)
		return ms_log_error("'%s': entry '%s': unsupported entry type", w->name, e->path);
	if ((e->type == MS_ENTRY_SYMLINK || e->type == MS_ENTRY_HARDLINK) && !e->link)
		return ms_log_error("'%s': entry '%s': no link target", w->name, e->path);
	if (e->type == MS_ENTRY_FILE && e->size > INT64_MAX)
		return ms_log_error("'%s': entry '%s': size too large", w->name, e->path);
	return 0;
}

static void fill_archive_entry(struct archive_entry *ae, const struct ms_entry *e)
{
	archive_entry_clear(ae);
	archive_entry_set_pathname(ae, e->path);
	archive_entry_set_perm(ae, e->mode & 07777);
	archive_entry_set_uid(ae, e->uid);
	archive_entry_set_gid(ae, e->gid);
	if (e->uname)
		archive_entry_set_uname(ae, e->uname);
	if (e->gname)
		archive_entry_set_gname(ae, e->gname);
	archive_entry_set_mtime(ae, e->mtime_sec, e->mtime_nsec);
	archive_entry_set_size(ae, e->type == MS_ENTRY_FILE ? (la_int64_t)e->size : 0);
	switch (e->type) {
	case MS_ENTRY_FILE:
		archive_entry_set_filetype(ae, AE_IFREG);
		break;
	case MS_ENTRY_DIR:
		archive_entry_set_filetype(ae, AE_IFDIR);
		break;
	case MS_ENTRY_SYMLINK:
		archive_entry_set_filetype(ae, AE_IFLNK);
		archive_entry_set_symlink(ae, e->link);
		break;
	case MS_ENTRY_HARDLINK:
		archive_entry_set_filetype(ae, AE_IFREG);
		archive_entry_set_hardlink(ae, e->link);
		break;
	}
	for (size_t i = 0; i < e->n_xattrs; i++)
		archive_entry_xattr_add_entry(ae, e->xattrs[i].name, e->xattrs[i].value,
					      e->xattrs[i].size);
}

int ms_archive_write_header(struct ms_archive_writer *w, const struct ms_entry *e)
{
	locale_t previous;
	int r;

	if (writer_usable(w, false) < 0)
		return -1;
	if (check_entry(w, e) < 0) {
		w->failed = true;
		return -1;
	}
	fill_archive_entry(w->ae, e);
	previous = utf8_enter(w->utf8);
	r = archive_write_header(w->a, w->ae);
	utf8_leave(previous);
	if (r < ARCHIVE_WARN)
		return writer_fail(w, e->path);
	if (output_ok(w) < 0)
		return -1;
	if (r == ARCHIVE_WARN)
		ms_log_debug("'%s': entry '%s': %s", w->name, e->path, ar_msg(w->a));
	w->path = ms_xstrdup(e->path);
	w->declared = e->type == MS_ENTRY_FILE ? e->size : 0;
	w->written = 0;
	return 0;
}

static int size_mismatch(struct ms_archive_writer *w, uint64_t wrote)
{
	w->failed = true;
	return ms_log_error("'%s': entry '%s': wrote %" PRIu64 " bytes, declared %" PRIu64, w->name,
			    w->path, wrote, w->declared);
}

int ms_archive_write_data(struct ms_archive_writer *w, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	if (writer_usable(w, true) < 0)
		return -1;
	if (len > w->declared - w->written)
		return size_mismatch(w, w->written + len);
	while (len > 0) {
		la_ssize_t n = archive_write_data(w->a, p, len);

		if (n < 0)
			return writer_fail(w, w->path);
		if (output_ok(w) < 0)
			return -1;
		if (n == 0)
			MS_BUG("libarchive accepted no data within the declared size");
		ms_hash_update(w->hash, p, (size_t)n);
		p += n;
		len -= (size_t)n;
		w->written += (uint64_t)n;
		if (w->progress)
			atomic_fetch_add_explicit(w->progress, (uint64_t)n, memory_order_relaxed);
	}
	return 0;
}


/* sha256 may be NULL when the caller does not want the digest. */
int ms_archive_finish_entry(struct ms_archive_writer *w, char sha256[MS_HASH_HEX_MAX])
{
	char hex[MS_HASH_HEX_MAX];

	if (writer_usable(w, true) < 0)
		return -1;
	if (w->written != w->declared)
		return size_mismatch(w, w->written);
	if (archive_write_finish_entry(w->a) < ARCHIVE_WARN)
		return writer_fail(w, w->path);
	if (output_ok(w) < 0)
		return -1;
	ms_hash_final_hex(w->hash, sha256 ? sha256 : hex);
	free(w->path);
	w->path = NULL;
	w->entries++;
	return 0;
}

int ms_archive_write_buffer(struct ms_archive_writer *w, const struct ms_entry *e, const void *buf,
			    size_t len, char sha256[MS_HASH_HEX_MAX])
{
	if (ms_archive_write_header(w, e) < 0)
		return -1;
	if (len > 0 && ms_archive_write_data(w, buf, len) < 0)
		return -1;
	return ms_archive_finish_entry(w, sha256);
}

int ms_archive_writer_close(struct ms_archive_writer *w, struct ms_archive_stats *stats)
{
	if (writer_usable(w, false) < 0)
		return -1;
	if (archive_write_close(w->a) < ARCHIVE_WARN)
		return writer_fail(w, NULL);
	if (output_ok(w) < 0 || ms_zstd_out_finish(w->z) < 0) {
		w->failed = true;
		return -1;
	}
	w->closed = true;
	if (stats) {
		stats->entries = w->entries;
		ms_zstd_out_counts(w->z, &stats->bytes_in, &stats->bytes_out);
	}
	return 0;
}

void ms_archive_writer_free(struct ms_archive_writer *w)
{
	if (!w)
		return;
	/* archive_write_free closes an open archive: the end marker of one
	 * that was never completed goes nowhere */
	w->discard = true;
	archive_write_free(w->a);
	archive_entry_free(w->ae);
	ms_zstd_out_free(w->z);
	ms_hash_free(w->hash);
	utf8_locale_free(w->utf8);
	free(w->path);
	free(w->name);
	free(w);
}

/* --- chunker ------------------------------------------------------------- */

struct ms_chunker {
	struct ms_archive_writer *w; /* borrowed */
	char *dir;                   /* member directory of the chunks */
	char *ext;                   /* name suffix, "" when none */
	size_t chunk_size;           /* bytes per full chunk */
	struct ms_entry proto;       /* owner, mode and mtime given to every chunk */
	ms_chunk_cb on_chunk;        /* may be NULL */
	void *ctx;
	unsigned char *buf;          /* chunk_size bytes, allocated on first use */
	size_t len;                  /* bytes buffered */
	long count;                  /* chunks written */
	bool failed;                 /* an error was logged */
};

/* proto may be NULL (mode 0600, root, mtime 0); only its mode, owner and
 * mtime are used. */
struct ms_chunker *ms_chunker_new(struct ms_archive_writer *w, const char *dir, const char *ext,
				  size_t chunk_size, const struct ms_entry *proto, ms_chunk_cb on_chunk, void *ctx)
{
	struct ms_chunker *c;

	if (chunk_size == 0)
		MS_BUG("chunk size 0");
	c = ms_xcalloc(1, sizeof(*c));
	c->w = w;
	c->dir = ms_xstrdup(dir);
	c->ext = ms_xstrdup(ext ? ext : "");
	c->chunk_size = chunk_size;
	if (proto) {
		c->proto.mode = proto->mode;
		c->proto.uid = proto->uid;
		c->proto.gid = proto->gid;
		c->proto.uname = proto->uname ? ms_xstrdup(proto->uname) : NULL;
		c->proto.gname = proto->gname ? ms_xstrdup(proto->gname) : NULL;
		c->proto.mtime_sec = proto->mtime_sec;
		c->proto.mtime_nsec = proto->mtime_nsec;
	} else {
		c->proto.mode = 0600;
	}
	c->on_chunk = on_chunk;
	c->ctx = ctx;
	return c;
}

/* Writes buf as the next chunk entry and reports it. */
static int write_chunk(struct ms_chunker *c, const void *buf, size_t len)
{
	char sha[MS_HASH_HEX_MAX];
	struct ms_entry e = c->proto; /* shallow: strings stay c->proto's */
	int ret = -1;

	if (c->count >= MS_CHUNK_MAX) {
		c->failed = true;
		return ms_log_error("'%s': more than %ld chunks in '%s'", c->w->name, MS_CHUNK_MAX, c->dir);
	}
	e.path = ms_xasprintf("%s/%06ld%s", c->dir, c->count + 1, c->ext);
	e.type = MS_ENTRY_FILE;
	e.size = len;
	if (ms_archive_write_buffer(c->w, &e, buf, len, sha) < 0)
		goto out;
	c->count++;
	if (c->on_chunk && c->on_chunk(c->ctx, &e, sha) != 0)
		goto out;
	ret = 0;
out:
	if (ret)
		c->failed = true;
	free(e.path);
	return ret;
}

int ms_chunker_write(struct ms_chunker *c, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	if (c->failed)
		return -1;
	while (len > 0) {
		size_t n;

		/* whole chunks straight from the caller's buffer */
		if (c->len == 0 && len >= c->chunk_size) {
			if (write_chunk(c, p, c->chunk_size) < 0)
				return -1;
			p += c->chunk_size;
			len -= c->chunk_size;
			continue;
		}
		if (!c->buf)
			c->buf = ms_xmalloc(c->chunk_size);
		n = c->chunk_size - c->len < len ? c->chunk_size - c->len : len;
		memcpy(c->buf + c->len, p, n);
		c->len += n;
		p += n;
		len -= n;
		if (c->len == c->chunk_size) {
			if (write_chunk(c, c->buf, c->len) < 0)
				return -1;
			c->len = 0;
		}
	}
	return 0;
}

long ms_chunker_close(struct ms_chunker *c)
{
	long ret = -1;

	if (!c->failed && (c->len == 0 || write_chunk(c, c->buf, c->len) == 0))
		ret = c->count;
	ms_chunker_free(c);
	return ret;
}

void ms_chunker_free(struct ms_chunker *c)
{
	if (!c)
		return;
	ms_entry_clear(&c->proto);
	free(c->buf);
	free(c->dir);
	free(c->ext);
	free(c);
}

/* --- reader -------------------------------------------------------------- */

struct ms_archive_reader {
	struct archive *a;     /* libarchive tar reader, no filter */
	struct ms_zstd_in *z;  /* zstd source behind libarchive's read callback */
	char *name;            /* archive name for messages */
	struct ms_entry cur;   /* current entry (owned); cur.path NULL when none */
	uint64_t entries;      /* entries returned */
	locale_t utf8;         /* see the file comment; may be 0 */
	bool failed;           /* an error was logged */
	bool at_end;           /* clean end reached and verified */
	bool after_end;        /* failed: data after the tar end marker */
	_Atomic uint64_t *progress; /* ms_archive_reader_count, may be NULL */
};

static la_ssize_t read_cb(struct archive *a, void *ctx, const void **buf)
{
	struct ms_archive_reader *r = ctx;

	(void)a;
	return ms_zstd_in_read(r->z, buf);
}

/* Logs libarchive's error unless the zstd layer already reported the
 * cause; a tar-level failure after the zstd input ended cleanly means the
 * tar stream stops early. */
static int reader_fail(struct ms_archive_reader *r, const char *path)
{
	r->failed = true;
	if (ms_zstd_in_failed(r->z))
		return -1;
	if (ms_zstd_in_ended(r->z))
		return ms_log_error("'%s': truncated archive", r->name);
	if (path)
		return ms_log_error("'%s': entry '%s': %s", r->name, path, ar_msg(r->a));
	return ms_log_error("'%s': %s", r->name, ar_msg(r->a));
}

static struct ms_archive_reader *reader_open(int fd, const char *name, bool checked)
{
	struct ms_archive_reader *r = ms_xcalloc(1, sizeof(*r));
	locale_t previous;
	int rc;

	r->name = ms_xstrdup(name);
	r->utf8 = utf8_locale_new();
	r->z = ms_zstd_in_new(fd, name);
	if (!checked)
		ms_zstd_in_ignore_checksums(r->z);
	r->a = archive_read_new();
	if (!r->a)
		MS_BUG("archive_read_new failed");
	/* tar formats only and no filter: decompression is ours */
	archive_read_support_format_tar(r->a);
	previous = utf8_enter(r->utf8);
	rc = archive_read_open2(r->a, r, NULL, read_cb, NULL, NULL);
	utf8_leave(previous);
	if (rc != ARCHIVE_OK) {
		reader_fail(r, NULL);
		ms_archive_reader_free(r);
		return NULL;
	}
	return r;
}

struct ms_archive_reader *ms_archive_reader_open(int fd, const char *name)
{
	return reader_open(fd, name, true);
}

struct ms_archive_reader *ms_archive_reader_open_unchecked(int fd, const char *name)
{
	return reader_open(fd, name, false);
}

static int entry_fail(struct ms_archive_reader *r, const char *what)
{
	r->failed = true;
	return ms_log_error("'%s': entry '%s': %s", r->name, r->cur.path, what);
}

/* Sets cur's type, size and link target from ae. */
static int convert_type(struct ms_archive_reader *r, struct archive_entry *ae)
{
	const char *hard = archive_entry_hardlink(ae);
	const char *sym;

	if (hard) {
		r->cur.type = MS_ENTRY_HARDLINK;
		r->cur.link = ms_xstrdup(hard);
		return 0;
	}
	switch (archive_entry_filetype(ae)) {
	case AE_IFREG:
		r->cur.type = MS_ENTRY_FILE;
		if (archive_entry_size(ae) < 0)
			return entry_fail(r, "negative size");
		r->cur.size = (uint64_t)archive_entry_size(ae);
		return 0;
	case AE_IFDIR:
		r->cur.type = MS_ENTRY_DIR;
		return 0;
	case AE_IFLNK:
		sym = archive_entry_symlink(ae);
		if (!sym)
			return entry_fail(r, "symbolic link without a target");
		r->cur.type = MS_ENTRY_SYMLINK;
		r->cur.link = ms_xstrdup(sym);
		return 0;
	default:
		return entry_fail(r, "unsupported entry type");
	}
}

static void convert_xattrs(struct ms_entry *e, struct archive_entry *ae)
{
	const char *name;
	const void *value;
	size_t size, i = 0;
	int n = archive_entry_xattr_reset(ae);

	if (n <= 0)
		return;
	e->xattrs = ms_xcalloc((size_t)n, sizeof(*e->xattrs));
	while (i < (size_t)n && archive_entry_xattr_next(ae, &name, &value, &size) == ARCHIVE_OK) {
		struct ms_xattr *x = &e->xattrs[i++];

		x->name = ms_xstrdup(name);
		x->value = ms_xcalloc(1, size + 1); /* NUL-terminated for text values */
		if (size)
			memcpy(x->value, value, size);
		x->size = size;
	}
	e->n_xattrs = i;
}

static char *name_or_null(const char *s)
{
	return s && *s ? ms_xstrdup(s) : NULL;
}

/* Fills r->cur from libarchive's entry. */
static int convert_entry(struct ms_archive_reader *r, struct archive_entry *ae)
{
	const char *path = archive_entry_pathname(ae);
	size_t len;

	if (!path || !*path) {
		r->failed = true;
		return ms_log_error("'%s': entry without a usable path", r->name);
	}
	r->cur.path = ms_xstrdup(path);
	len = strlen(r->cur.path);
	while (len > 1 && r->cur.path[len - 1] == '/')
		r->cur.path[--len] = '\0';
	if (convert_type(r, ae) < 0)
		return -1;
	if (archive_entry_uid(ae) < 0 || archive_entry_uid(ae) > UINT32_MAX ||
	    archive_entry_gid(ae) < 0 || archive_entry_gid(ae) > UINT32_MAX)
		return entry_fail(r, "owner out of range");
	r->cur.mode = (uint32_t)archive_entry_perm(ae) & 07777;
	r->cur.uid = (uint32_t)archive_entry_uid(ae);
	r->cur.gid = (uint32_t)archive_entry_gid(ae);
	r->cur.uname = name_or_null(archive_entry_uname(ae));
	r->cur.gname = name_or_null(archive_entry_gname(ae));
	r->cur.mtime_sec = archive_entry_mtime(ae);
	r->cur.mtime_nsec = (int32_t)archive_entry_mtime_nsec(ae);
	convert_xattrs(&r->cur, ae);
	return 0;
}

/* libarchive accepts a stream that stops at a block boundary without the
 * end marker; we do not. The marker (one or two zero blocks) is consumed
 * by the EOF-returning call, so the stream position then lies past the
 * point where that call started. Nothing may follow the marker (FORMAT.md
 * §3, §4.1): libarchive stops at the first zero block and may already
 * hold, unconsumed, what follows it (a member that `tar -i` would list),
 * so every byte handed to libarchive must have been consumed; the rest of
 * the zstd input must decode to nothing, which also verifies the checksum
 * of the last frame. */
static int finish_reading(struct ms_archive_reader *r)
{
	uint64_t in, out;
	int64_t consumed = archive_filter_bytes(r->a, 0);

	if (consumed <= archive_read_header_position(r->a)) {
		r->failed = true;
		return ms_log_error("'%s': truncated archive", r->name);
	}
	ms_zstd_in_counts(r->z, &in, &out);
	if (consumed < 0 || (uint64_t)consumed != out) {
		r->failed = r->after_end = true;
		return ms_log_error("'%s': data after the end of the tar archive", r->name);
	}
	if (ms_zstd_in_drain(r->z) < 0) {
		r->failed = true;
		r->after_end = ms_zstd_in_data_after_end(r->z);
		return -1;
	}
	r->at_end = true;
	return 0;
}

int ms_archive_reader_next(struct ms_archive_reader *r, const struct ms_entry **e)
{
	struct archive_entry *ae;
	locale_t previous;
	int rc;

	if (r->failed)
		return -1;
	if (r->at_end)
		return 0;
	ms_entry_clear(&r->cur);
	previous = utf8_enter(r->utf8);
	rc = archive_read_next_header(r->a, &ae);
	utf8_leave(previous);
	if (rc == ARCHIVE_EOF)
		return finish_reading(r);
	if (rc < ARCHIVE_WARN)
		return reader_fail(r, NULL);
	if (rc == ARCHIVE_WARN)
		ms_log_debug("'%s': %s", r->name, ar_msg(r->a));
	if (convert_entry(r, ae) < 0)
		return -1;
	r->entries++;
	*e = &r->cur;
	return 1;
}

ssize_t ms_archive_reader_read(struct ms_archive_reader *r, void *buf, size_t len)
{
	la_ssize_t n;

	if (r->failed)
		return -1;
	if (!r->cur.path) {
		r->failed = true;
		return ms_log_error("'%s': no current entry", r->name);
	}
	if (r->cur.type != MS_ENTRY_FILE || len == 0)
		return 0;
	n = archive_read_data(r->a, buf, len);
	if (n < 0)
		return reader_fail(r, r->cur.path);
	if (r->progress)
		atomic_fetch_add_explicit(r->progress, (uint64_t)n, memory_order_relaxed);
	return (ssize_t)n;
}

void ms_archive_reader_count(struct ms_archive_reader *r, _Atomic uint64_t *progress)
{
	r->progress = progress;
}

void ms_archive_reader_stats(const struct ms_archive_reader *r, struct ms_archive_stats *stats)
{
	stats->entries = r->entries;
	ms_zstd_in_counts(r->z, &stats->bytes_out, &stats->bytes_in);
}

bool ms_archive_reader_data_after_end(const struct ms_archive_reader *r)
{
	return r->after_end;
}

void ms_archive_reader_free(struct ms_archive_reader *r)
{
	if (!r)
		return;
	archive_read_free(r->a);
	ms_zstd_in_free(r->z);
	ms_entry_clear(&r->cur);
	utf8_locale_free(r->utf8);
	free(r->name);
	free(r);
}
