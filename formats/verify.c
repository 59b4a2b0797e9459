/*
 * Whole-archive verification against the manifest (see verify.h). The
 * archive is read once, front to back: each member's digest and metadata
 * are kept (bounded by the member count, not their size) until the
 * manifest — the last member — arrives, then compared in order.
 */
#include "formats/verify.h"
#include "base/hashpipe.h"
#include "base/strbuf.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Size limits for the JSON documents, so a tiny hostile archive cannot
 * make us allocate gigabytes: the header is small by nature; the manifest
 * grows with the entries already read (an entry's record is well under
 * 64 KiB even with its xattrs). */
#define MS_HEADER_MAX ((uint64_t)1 << 20)
#define MS_MANIFEST_BASE ((uint64_t)16 << 20)
#define MS_MANIFEST_PER_ENTRY ((uint64_t)64 << 10)

/* What was read for one member. */
struct seen {
	struct ms_entry e;
	char sha256[MS_HASH_HEX_MAX];
};

struct vctx {
	const char *path;
	struct ms_archive_reader *r;
	struct seen *seen;
	size_t n_seen;
	struct ms_verify_result *res;
	bool saw_manifest;     /* a MANIFEST.json member was reached */
	char *manifest_text;   /* its exact bytes, for the signature check */
	size_t manifest_len;
	bool saw_signature;    /* a MANIFEST.json.sig member was read */
	bool misplaced;        /* reading stopped at a member in the wrong place: a
	                          verdict on the layout, not a damaged stream */
	const struct ms_verify_keep *keep; /* members to keep, or NULL */
	size_t kept_bytes;     /* of keep->budget */
	struct ms_hashpipe *pipe; /* hashes large members beside the reading thread, or NULL */
};

/* Members from this size on are hashed in the pipe's thread (a smaller
 * one costs more in hand-offs than it gains). */
#define PIPE_FROM ((uint64_t)1 << 20)

static uint64_t doc_limit(const struct vctx *v, const struct ms_entry *e)
{
	if (strcmp(e->path, MS_HEADER_NAME) == 0)
		return MS_HEADER_MAX;
	if (strcmp(e->path, MS_SIGNATURE_NAME) == 0)
		return MS_SIGNATURE_MAX;
	return MS_MANIFEST_BASE + (uint64_t)v->n_seen * MS_MANIFEST_PER_ENTRY;
}

/* Reads the current member fully, hashing it; with keep, also returns the
 * content (for the JSON documents: more than the document limit is an
 * error). With `limit` instead (a member the caller keeps), the content
 * when it is at most `limit` bytes, else *keep NULL. -1 after logging. */
static int read_member_up_to(struct vctx *v, const struct ms_entry *e, char sha[MS_HASH_HEX_MAX], char **keep,
			     size_t *keep_len, const size_t *limit)
{
	struct ms_hashpipe *pipe = v->pipe && e->size >= PIPE_FROM ? v->pipe : NULL;
	struct ms_hash *h = pipe ? NULL : ms_hash_new(MS_HASH_SHA256);
	struct ms_strbuf sb = MS_STRBUF_INIT;
	char buf[65536];
	uint64_t total = 0;
	bool over = false;
	ssize_t n;
	int ret = -1;

	for (;;) {
		size_t room = sizeof(buf);
		/* a large member is read straight into the hashing thread's buffer */
		char *dst = pipe ? ms_hashpipe_space(pipe, &room) : buf;

		n = ms_archive_reader_read(v->r, dst, room);
		if (n <= 0)
			break;
		total += (uint64_t)n;
		if (keep && limit && !over && total > *limit) {
			over = true; /* not kept: the caller reads it again */
			ms_strbuf_release(&sb);
		} else if (keep && !limit && total > doc_limit(v, e)) {
			ms_log_error("'%s': entry '%s' is too large", v->path, e->path);
			goto out;
		}
		if (keep && !over)
			ms_strbuf_add(&sb, dst, (size_t)n);
		if (pipe)
			ms_hashpipe_commit(pipe, (size_t)n);
		else
			ms_hash_update(h, dst, (size_t)n);
	}
	if (n < 0)
		goto out;
	if (pipe)
		ms_hashpipe_final_hex(pipe, sha);
	else
		ms_hash_final_hex(h, sha);
	v->res->data_bytes += total;
	if (keep) {
		*keep_len = over ? 0 : sb.len;
		*keep = over ? NULL : ms_strbuf_detach(&sb);
	}
	ret = 0;
out:
	if (pipe && ret < 0)
		ms_hashpipe_final_hex(pipe, sha); /* ends the unfinished digest, not used */
	ms_strbuf_release(&sb);
	ms_hash_free(h);
	return ret;
}

static int read_member(struct vctx *v, const struct ms_entry *e, char sha[MS_HASH_HEX_MAX], char **keep,
		       size_t *keep_len)
{
	return read_member_up_to(v, e, sha, keep, keep_len, NULL);
}

/* A member the caller wants kept: read into res->kept within the budget. */
static int read_kept_member(struct vctx *v, const struct ms_entry *e, char sha[MS_HASH_HEX_MAX])
{
	struct ms_verify_result *res = v->res;
	size_t left = v->keep->budget - v->kept_bytes;
	struct ms_kept_member *k;

	res->kept = ms_xrealloc(res->kept, (res->n_kept + 1) * sizeof(*res->kept));
	k = &res->kept[res->n_kept++];
	k->path = ms_xstrdup(e->path);
	if (read_member_up_to(v, e, sha, &k->data, &k->len, &left) < 0)
		return -1;
	v->kept_bytes += k->len;
	return 0;
}

static void remember(struct vctx *v, const struct ms_entry *e, const char *sha)
{
	v->seen = ms_xrealloc(v->seen, (v->n_seen + 1) * sizeof(*v->seen));
	ms_entry_copy(&v->seen[v->n_seen].e, e);
	memcpy(v->seen[v->n_seen].sha256, sha, MS_HASH_HEX_MAX);
	v->n_seen++;
}

static int bad(const struct vctx *v, const char *member, const char *what)
{
	if (member) {
		char *m = ms_printable(member);

		ms_log_error("'%s': entry '%s': %s", v->path, m, what);
		free(m);
	} else
		ms_log_error("'%s': %s", v->path, what);
	return -1;
}

/* A member where none may be (after the manifest or its signature). */
static int misplaced(struct vctx *v, const char *member, const char *what)
{
	v->misplaced = true;
	return bad(v, member, what);
}

static bool same_xattrs(const struct ms_entry *a, const struct ms_entry *b)
{
	if (a->n_xattrs != b->n_xattrs)
		return false;
	for (size_t i = 0; i < a->n_xattrs; i++) {
		const struct ms_xattr *x = &a->xattrs[i], *y = &b->xattrs[i];

		if (strcmp(x->name, y->name) != 0 || x->size != y->size ||
		    (x->size && memcmp(x->value, y->value, x->size) != 0))
			return false;
	}
	return true;
}

/* Compares one member as read with its manifest record. */
static int compare_one(const struct vctx *v, const struct seen *s, const struct ms_manifest_entry *me)
{
	const struct ms_entry *a = &s->e, *b = &me->e;
	char msg[200];

	if (strcmp(a->path, b->path) != 0) {
		snprintf(msg, sizeof(msg), "manifest expects '%.150s' here", b->path);
		return bad(v, a->path, msg);
	}
	if (a->type != b->type)
		return bad(v, a->path, "type differs from the manifest");
	if (a->size != b->size) {
		snprintf(msg, sizeof(msg), "size %llu differs from the manifest's %llu",
			 (unsigned long long)a->size, (unsigned long long)b->size);
		return bad(v, a->path, msg);
	}
	if (a->type == MS_ENTRY_FILE && strcmp(s->sha256, me->sha256) != 0)
		return bad(v, a->path, "sha256 differs from the manifest");
	if (a->mode != b->mode || a->uid != b->uid || a->gid != b->gid)
		return bad(v, a->path, "mode or owner differs from the manifest");
	if (a->mtime_sec != b->mtime_sec || a->mtime_nsec != b->mtime_nsec)
		return bad(v, a->path, "mtime differs from the manifest");
	if ((a->link || b->link) && (!a->link || !b->link || strcmp(a->link, b->link) != 0))
		return bad(v, a->path, "link target differs from the manifest");
	if (!same_xattrs(a, b))
		return bad(v, a->path, "extended attributes differ from the manifest");
	return 0;
}

static int cmp_seen_path(const void *x, const void *y)
{
	return strcmp(((const struct seen *)x)->e.path, ((const struct seen *)y)->e.path);
}

/* Every member once, in the manifest's order, and nothing else. */
static int compare_all(struct vctx *v)
{
	const struct ms_manifest *m = &v->res->manifest;
	size_t n = v->n_seen < m->n_entries ? v->n_seen : m->n_entries;
	struct seen *sorted;

	for (size_t i = 0; i < n; i++)
		if (compare_one(v, &v->seen[i], &m->entries[i]) < 0)
			return -1;
	if (v->n_seen > m->n_entries)
		return bad(v, v->seen[n].e.path, "not listed in the manifest");
	if (v->n_seen < m->n_entries)
		return bad(v, m->entries[n].e.path, "listed in the manifest but missing from the archive");
	sorted = ms_xmalloc((v->n_seen + 1) * sizeof(*sorted));
	memcpy(sorted, v->seen, v->n_seen * sizeof(*sorted));
	qsort(sorted, v->n_seen, sizeof(*sorted), cmp_seen_path);
	for (size_t i = 1; i < v->n_seen; i++) {
		if (strcmp(sorted[i].e.path, sorted[i - 1].e.path) == 0) {
			bad(v, sorted[i].e.path, "duplicated in the archive");
			free(sorted);
			return -1;
		}
	}
	free(sorted);
	if (strcmp(v->res->header.snapshot_id, m->snapshot_id) != 0)
		return bad(v, NULL, "header and manifest name different snapshots");
	return 0;
}

/* The first member must be the header. */
static int read_header_member(struct vctx *v)
{
	const struct ms_entry *e;
	char sha[MS_HASH_HEX_MAX], *text = NULL;
	size_t len = 0;
	int rc = ms_archive_reader_next(v->r, &e);

	if (rc == 0)
		return bad(v, NULL, "truncated archive");
	if (rc < 0)
		return -1;
	if (strcmp(e->path, MS_HEADER_NAME) != 0 || e->type != MS_ENTRY_FILE)
		return bad(v, e->path, "first entry is not " MS_HEADER_NAME);
	if (read_member(v, e, sha, &text, &len) < 0)
		return -1;
	remember(v, e, sha);
	rc = ms_header_decode(v->path, text, len, &v->res->header);
	free(text);
	if (rc < 0)
		return -1;
	v->res->header_ok = true;
	return 0;
}

/* The optional member right after the manifest (FORMAT.md §10): a small
 * regular file whose content is checked against the manifest's bytes. */
static int read_signature_member(struct vctx *v, const struct ms_entry *e)
{
	char sha[MS_HASH_HEX_MAX], *text = NULL;
	size_t len = 0;

	if (e->type != MS_ENTRY_FILE)
		return misplaced(v, e->path, "not a regular file");
	if (e->size > MS_SIGNATURE_MAX)
		return misplaced(v, e->path, "too large for a signature");
	if (read_member(v, e, sha, &text, &len) < 0)
		return -1;
	v->saw_signature = true;
	ms_sign_verify(text, len, MS_SIGN_NAMESPACE, v->manifest_text, v->manifest_len, &v->res->signature);
	free(text);
	return 0;
}

/* Reads every following member up to and including the manifest and its
 * optional signature. */
static int read_rest(struct vctx *v)
{
	const struct ms_entry *e;
	char sha[MS_HASH_HEX_MAX];
	int rc;

	while ((rc = ms_archive_reader_next(v->r, &e)) == 1) {
		v->res->entries++;
		if (v->saw_signature)
			return misplaced(v, e->path, "found after " MS_SIGNATURE_NAME);
		if (v->res->manifest_ok && strcmp(e->path, MS_SIGNATURE_NAME) == 0) {
			if (read_signature_member(v, e) < 0)
				return -1;
			continue;
		}
		if (v->res->manifest_ok)
			return misplaced(v, e->path, "found after " MS_MANIFEST_NAME);
		if (strcmp(e->path, MS_MANIFEST_NAME) == 0) {
			v->saw_manifest = true;

			if (read_member(v, e, sha, &v->manifest_text, &v->manifest_len) < 0)
				return -1;
			rc = ms_manifest_decode(v->path, v->manifest_text, v->manifest_len, &v->res->manifest);
			if (rc < 0)
				return -1;
			v->res->manifest_ok = true;
			continue;
		}
		if (v->keep && e->type == MS_ENTRY_FILE && v->keep->want(e->path, v->keep->ctx) ? read_kept_member(v, e, sha)
			: read_member(v, e, sha, NULL, NULL))
			return -1;
		remember(v, e, sha);
	}
	if (rc < 0)
		return -1;
	if (!v->res->manifest_ok)
		return bad(v, NULL, "truncated archive (no " MS_MANIFEST_NAME ")");
	return 0;
}

static void vctx_release(struct vctx *v)
{
	for (size_t i = 0; i < v->n_seen; i++)
		ms_entry_clear(&v->seen[i].e);
	free(v->seen);
	free(v->manifest_text);
	ms_hashpipe_free(v->pipe);
	v->pipe = NULL;
}

/* Rereads what could be read without checksum verification and returns
 * the index of the first member that differs from the manifest, or the
 * count read when all of those matched (the damage is in the next one);
 * -1 when the manifest itself could not be read. */
static long first_mismatch(struct vctx *v)
{
	const struct ms_manifest *m = &v->res->manifest;
	size_t i;

	if (!v->res->manifest_ok)
		return -1;
	for (i = 0; i < v->n_seen && i < m->n_entries; i++) {
		const struct ms_entry *a = &v->seen[i].e, *b = &m->entries[i].e;

		if (strcmp(a->path, b->path) != 0 || a->type != b->type || a->size != b->size ||
		    (a->type == MS_ENTRY_FILE && strcmp(v->seen[i].sha256, m->entries[i].sha256) != 0))
			return (long)i;
	}
	return (long)i;
}

/* After the stream failed (checksum, corrupt data, truncation), a second
 * pass that ignores zstd checksums finds the first member whose content
 * disagrees with the manifest, so the message can name it. Its own
 * errors are muted: the first pass already reported the failure. */
static void locate_damage(const char *path)
{
	struct ms_verify_result res;
	struct vctx v = { .path = path, .res = &res };
	const char *what = "content differs from the manifest";
	long i = -1;
	int fd;

	memset(&res, 0, sizeof(res));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ms_log_mute(1);
	v.r = ms_archive_reader_open_unchecked(fd, path);
	if (v.r && read_header_member(&v) == 0)
		read_rest(&v);
	ms_log_mute(0);
	i = first_mismatch(&v);
	if (i >= 0 && (size_t)i < res.manifest.n_entries) {
		if ((size_t)i >= v.n_seen)
			what = "unreadable";
		ms_log_error("'%s': entry '%s': %s (the first damaged entry)", path,
			     res.manifest.entries[i].e.path, what);
	} else if (i >= 0) {
		ms_log_error("'%s': every entry matches the manifest: the damage is in the zstd framing "
			     "or checksum itself", path);
	} else if (!res.header_ok && v.n_seen > 0) {
		ms_log_error("'%s': entry '%s': damaged", path, MS_HEADER_NAME);
	} else if (v.saw_manifest) {
		ms_log_error("'%s': entry '%s': damaged", path, MS_MANIFEST_NAME);
	} else if (v.n_seen > 0) {
		ms_log_error("'%s': the damage follows entry '%s' (the manifest could not be reached)", path,
			     v.seen[v.n_seen - 1].e.path);
	}
	ms_archive_reader_free(v.r);
	close(fd);
	vctx_release(&v);
	ms_verify_result_clear(&res);
}

enum ms_verify_status ms_verify_archive(const char *path, struct ms_verify_result *res)
{
	return ms_verify_archive_keeping(path, res, NULL);
}

enum ms_verify_status ms_verify_archive_keeping(const char *path, struct ms_verify_result *res,
						const struct ms_verify_keep *keep)
{
	struct vctx v = { .path = path, .res = res, .keep = keep, .pipe = ms_hashpipe_new() };
	enum ms_verify_status st = MS_VERIFY_BAD;
	int fd;

	memset(res, 0, sizeof(*res));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ms_log_error("unable to open '%s': %s", path, strerror(errno));
		return MS_VERIFY_ERROR;
	}
	v.r = ms_archive_reader_open(fd, path);
	if (!v.r) {
		close(fd);
		return MS_VERIFY_BAD; /* the file opened: what failed is its content */
	}
	res->entries = 1;
	if (read_header_member(&v) == 0 && read_rest(&v) == 0) {
		if (compare_all(&v) == 0)
			st = MS_VERIFY_OK;
	} else if (!v.misplaced && !(v.r && ms_archive_reader_data_after_end(v.r))) {
		locate_damage(path); /* the stream itself failed: say which member */
	}
	ms_archive_reader_stats(v.r, &res->stats);
	ms_archive_reader_free(v.r);
	close(fd);
	vctx_release(&v);
	return st;
}

int ms_read_header(const char *path, struct ms_header *h)
{
	struct ms_verify_result res;
	struct vctx v = { .path = path, .res = &res };
	int fd, ret = -1;

	memset(&res, 0, sizeof(res));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ms_log_error("unable to open '%s': %s", path, strerror(errno));
	v.r = ms_archive_reader_open(fd, path);
	if (v.r && read_header_member(&v) == 0) {
		*h = res.header;
		ret = 0;
	}
	ms_archive_reader_free(v.r);
	close(fd);
	vctx_release(&v);
	return ret;
}

int ms_read_signature(const char *path, struct ms_sig_state *st)
{
	struct ms_archive_reader *r;
	const struct ms_entry *e;
	char *manifest = NULL, *sig = NULL;
	size_t mlen = 0, slen = 0;
	uint64_t members = 0;
	int fd, rc, ret = -1;

	memset(st, 0, sizeof(*st));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ms_log_error("unable to open '%s': %s", path, strerror(errno));
	r = ms_archive_reader_open(fd, path);
	if (!r)
		goto out;
	while ((rc = ms_archive_reader_next(r, &e)) == 1) {
		char **keep = NULL;
		size_t *klen = NULL;
		uint64_t cap;

		members++;
		if (strcmp(e->path, MS_MANIFEST_NAME) == 0 && e->type == MS_ENTRY_FILE && !manifest) {
			keep = &manifest, klen = &mlen, cap = MS_MANIFEST_BASE + members * MS_MANIFEST_PER_ENTRY;
		} else if (strcmp(e->path, MS_SIGNATURE_NAME) == 0 && e->type == MS_ENTRY_FILE && manifest && !sig) {
			keep = &sig, klen = &slen, cap = MS_SIGNATURE_MAX;
		} else {
			continue; /* skipped unread by the next call */
		}
		if (e->size > cap) {
			ms_log_error("'%s': entry '%s' is too large", path, e->path);
			goto out;
		}
		*keep = ms_xmalloc(e->size + 1);
		for (ssize_t n; *klen < e->size; *klen += (size_t)n)
			if ((n = ms_archive_reader_read(r, *keep + *klen, e->size - *klen)) <= 0) {
				if (n == 0)
					ms_log_error("'%s': entry '%s' is shorter than its size", path, e->path);
				goto out;
			}
	}
	if (rc < 0)
		goto out;
	if (sig)
		ms_sign_verify(sig, slen, MS_SIGN_NAMESPACE, manifest, mlen, st);
	ret = 0;
out:
	ms_archive_reader_free(r);
	close(fd);
	free(manifest);
	free(sig);
	return ret;
}

void ms_verify_result_clear(struct ms_verify_result *res)
{
	if (res->header_ok)
		ms_header_clear(&res->header);
	if (res->manifest_ok)
		ms_manifest_clear(&res->manifest);
	for (size_t i = 0; i < res->n_kept; i++) {
		free(res->kept[i].path);
		free(res->kept[i].data);
	}
	free(res->kept);
	memset(res, 0, sizeof(*res));
}
