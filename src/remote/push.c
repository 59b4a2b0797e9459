/*
 * The push protocol (see push.h): upload, read back, marker last; listing
 * and fetching trust only an archive whose marker names it.
 */
#include "remote/push.h"
#include "base/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/hash.h"
#include "base/log.h"
#include "base/util.h"

#define MARKER_MAX 4096
#define MARKER_HEAD "modosnap-remote 1\nsha256 "

/* What a marker says of its archive. */
struct marker {
	char sha256[MS_HASH_HEX_MAX];
	long long size;
	const char *meta; /* in the parsed text: the lines after the size (may be "") */
};

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && !strcmp(s + n - k, suffix);
}

/* The optional lines after the size: "snapshot ID", "created TIME",
 * "tag T" (repeatable), each printable and ending in '\n'. 0 or -1. */
static int meta_check(const char *p)
{
	while (*p) {
		const char *nl = strchr(p, '\n');

		if (!nl || (strncmp(p, "snapshot ", 9) && strncmp(p, "created ", 8) && strncmp(p, "tag ", 4)))
			return -1;
		for (const char *c = p; c < nl; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				return -1;
		p = nl + 1;
	}
	return 0;
}

/* "modosnap-remote 1\nsha256 HEX\nsize N\n", then the optional meta
 * lines. 0, or -1 (nothing logged). */
static int marker_parse(const char *text, struct marker *m)
{
	const char *p = text;
	unsigned long size;
	char digits[24];
	size_t k = 0;

	if (strncmp(p, MARKER_HEAD, strlen(MARKER_HEAD)) != 0)
		return -1;
	p += strlen(MARKER_HEAD);
	for (int i = 0; i < 64; i++, p++) {
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return -1;
		m->sha256[i] = *p;
	}
	m->sha256[64] = '\0';
	if (strncmp(p, "\nsize ", 6) != 0)
		return -1;
	for (p += 6; *p >= '0' && *p <= '9' && k < sizeof(digits) - 1; p++)
		digits[k++] = *p;
	digits[k] = '\0';
	if (*p != '\n' || ms_parse_ulong(digits, 0, (unsigned long)LLONG_MAX, &size) < 0 || meta_check(p + 1) < 0)
		return -1;
	m->size = (long long)size;
	m->meta = p + 1;
	return 0;
}

static const struct ms_remote_file *find(const struct ms_remote_file *f, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(f[i].name, name))
			return &f[i];
	return NULL;
}

/* NAME's marker read and parsed: 0, 1 when it is not a marker (warned
 * about), -1 when it could not be read (logged). */
static int marker_read(const struct ms_rclone *rc, const char *name, struct marker *m)
{
	char *mk = ms_xasprintf("%s%s", name, MS_REMOTE_MARKER);
	char *text = ms_rclone_get_text(rc, mk, MARKER_MAX);
	int ret = -1;

	if (text) {
		ret = marker_parse(text, m) < 0 ? 1 : 0;
		if (ret)
			ms_log_warn("remote '%s': '%s' is not a modosnap marker", rc->name, mk);
	}
	free(text);
	free(mk);
	return ret;
}

/* The archive and marker of NAME as the remote lists them; either may be
 * NULL. Owns the listing. */
struct pair {
	struct ms_remote_file *files;
	size_t n;
	const struct ms_remote_file *archive, *marker;
};

static int pair_look(const struct ms_rclone *rc, const char *name, struct pair *p)
{
	char *mk;

	if (ms_rclone_list(rc, &p->files, &p->n) < 0)
		return -1;
	mk = ms_xasprintf("%s%s", name, MS_REMOTE_MARKER);
	p->archive = find(p->files, p->n, name);
	p->marker = find(p->files, p->n, mk);
	free(mk);
	return 0;
}

static void pair_release(struct pair *p)
{
	ms_remote_files_free(p->files, p->n);
	memset(p, 0, sizeof(*p));
}

static int delete_marker(const struct ms_rclone *rc, const char *name)
{
	char *mk = ms_xasprintf("%s%s", name, MS_REMOTE_MARKER);
	int ret = ms_rclone_delete(rc, mk);

	free(mk);
	return ret;
}

/* Before an upload: 1 when a complete pair of the same content is there
 * already, 0 when the upload may go on (a stale marker removed first),
 * -1 when it must not. */
static int push_prepare(const struct ms_rclone *rc, const char *name, const struct marker *local)
{
	struct pair p = { 0 };
	struct marker m;
	int ret = -1, r;

	if (pair_look(rc, name, &p) < 0)
		return -1;
	if (!p.marker) {
		ret = 0;
		goto out;
	}
	r = marker_read(rc, name, &m);
	if (r < 0)
		goto out;
	if (r == 0 && p.archive && p.archive->size == m.size) {
		if (!strcmp(m.sha256, local->sha256) && m.size == local->size) {
			ms_log_debug("remote '%s': '%s' is there already", rc->name, name);
			ret = 1;
		} else {
			ms_log_error("remote '%s' holds another '%s' (its SHA-256 differs): not replaced", rc->name,
				     name);
		}
		goto out;
	}
	/* a marker without its archive: it goes first, as in a delete */
	ret = delete_marker(rc, name);
out:
	pair_release(&p);
	return ret;
}

/* After the upload: the remote's size and SHA-256 are the local ones. */
static int push_check(const struct ms_rclone *rc, const char *name, const struct marker *local)
{
	struct pair p = { 0 };
	char hex[MS_HASH_HEX_MAX];
	int ret = -1;

	if (pair_look(rc, name, &p) < 0)
		return -1;
	if (!p.archive)
		ms_log_error("remote '%s': '%s' is not there after its upload", rc->name, name);
	else if (p.archive->size != local->size)
		ms_log_error("remote '%s': '%s' has %lld bytes after its upload, not %lld", rc->name, name,
			     p.archive->size, local->size);
	else if (ms_rclone_sha256(rc, name, hex) == 0) {
		if (strcmp(hex, local->sha256) != 0)
			ms_log_error("remote '%s': '%s' reads back with another SHA-256 than the local file", rc->name,
				     name);
		else
			ret = 0;
	}
	pair_release(&p);
	return ret;
}

/* The meta lines for a marker ("" for none); only printable values. */
static char *meta_text(const struct ms_remote_meta *meta)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	char *out;

	if (meta && meta->snapshot_id && !strpbrk(meta->snapshot_id, "\n\r"))
		ms_strbuf_addf(&sb, "snapshot %s\n", meta->snapshot_id);
	if (meta && meta->created && !strpbrk(meta->created, "\n\r"))
		ms_strbuf_addf(&sb, "created %s\n", meta->created);
	for (size_t i = 0; meta && meta->tags && i < meta->tags->n; i++)
		if (!strpbrk(meta->tags->v[i], "\n\r"))
			ms_strbuf_addf(&sb, "tag %s\n", meta->tags->v[i]);
	out = ms_xstrdup(sb.buf ? sb.buf : "");
	ms_strbuf_release(&sb);
	return out;
}

int ms_remote_push(const struct ms_rclone *rc, const char *path)
{
	return ms_remote_push_meta(rc, path, NULL);
}

int ms_remote_push_meta(const struct ms_rclone *rc, const char *path, const struct ms_remote_meta *meta)
{
	char *extra;
	const char *name = ms_path_basename(path);
	struct marker local;
	struct stat st;
	char *text, *mk;
	int r;

	if (ends_with(name, MS_REMOTE_MARKER))
		return ms_log_error("remote '%s': cannot push '%s': the name ends in '%s', the marker's suffix",
				    rc->name, path, MS_REMOTE_MARKER);
	if (stat(path, &st) < 0)
		return ms_log_error("cannot push '%s': %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return ms_log_error("cannot push '%s': not a regular file", path);
	local.size = (long long)st.st_size;
	if (ms_hash_file_hex(MS_HASH_SHA256, path, local.sha256) < 0)
		return -1;
	r = push_prepare(rc, name, &local);
	if (r != 0)
		return r > 0 ? 0 : -1;
	if (ms_rclone_upload(rc, path, name) < 0 || push_check(rc, name, &local) < 0)
		return -1;
	extra = meta_text(meta);
	text = ms_xasprintf(MARKER_HEAD "%s\nsize %lld\n%s", local.sha256, local.size, extra);
	free(extra);
	mk = ms_xasprintf("%s%s", name, MS_REMOTE_MARKER);
	r = ms_rclone_put_text(rc, mk, text);
	free(text);
	free(mk);
	if (r == 0)
		ms_log_debug("remote '%s': pushed '%s' (%lld bytes)", rc->name, name, local.size);
	return r;
}

int ms_remote_list(const struct ms_rclone *rc, struct ms_remote_file **out, size_t *n)
{
	struct ms_remote_file *all, *good;
	size_t nall, k = 0;
	int ret = -1;

	if (ms_rclone_list(rc, &all, &nall) < 0)
		return -1;
	good = ms_xcalloc(nall ? nall : 1, sizeof(*good));
	for (size_t i = 0; i < nall; i++) {
		char *mk = ms_xasprintf("%s%s", all[i].name, MS_REMOTE_MARKER);
		bool paired = !ends_with(all[i].name, MS_REMOTE_MARKER) && find(all, nall, mk);
		struct marker m;
		int r = paired ? marker_read(rc, all[i].name, &m) : 1;

		free(mk);
		if (r < 0)
			goto out;
		if (r > 0)
			continue;
		if (m.size != all[i].size) {
			ms_log_debug("remote '%s': '%s' has %lld bytes, its marker says %lld: left out", rc->name,
				     all[i].name, all[i].size, m.size);
			continue;
		}
		good[k].name = ms_xstrdup(all[i].name);
		good[k++].size = all[i].size;
	}
	*out = good;
	*n = k;
	good = NULL;
	ret = 0;
out:
	ms_remote_files_free(good, k);
	ms_remote_files_free(all, nall);
	return ret;
}

/* Downloads into `partial` (made 0600 before rclone writes it) and checks
 * it against the marker. 0 / -1. */
static int fetch_check(const struct ms_rclone *rc, const char *name, const char *partial, const struct marker *m)
{
	char hex[MS_HASH_HEX_MAX];
	struct stat st;
	int fd;

	if (unlink(partial) < 0 && errno != ENOENT)
		return ms_log_error("cannot remove '%s': %s", partial, strerror(errno));
	fd = open(partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return ms_log_error("cannot create '%s': %s", partial, strerror(errno));
	close(fd);
	if (ms_rclone_download(rc, name, partial) < 0)
		return -1;
	if (chmod(partial, 0600) < 0 || stat(partial, &st) < 0)
		return ms_log_error("'%s': %s", partial, strerror(errno));
	if ((long long)st.st_size != m->size)
		return ms_log_error("remote '%s': '%s' arrived with %lld bytes, its marker says %lld", rc->name, name,
				    (long long)st.st_size, m->size);
	if (ms_hash_file_hex(MS_HASH_SHA256, partial, hex) < 0)
		return -1;
	if (strcmp(hex, m->sha256) != 0)
		return ms_log_error("remote '%s': '%s' arrived with another SHA-256 than its marker says", rc->name,
				    name);
	return 0;
}

int ms_remote_fetch(const struct ms_rclone *rc, const char *name, const char *dir)
{
	char *final = ms_path_join(dir, name), *partial = ms_xasprintf("%s.partial", final);
	struct pair p = { 0 };
	struct marker m;
	struct stat st;
	int ret = -1, r;

	if (lstat(final, &st) == 0) {
		ms_log_error("cannot fetch '%s': '%s' already exists", name, final);
		goto out;
	}
	if (pair_look(rc, name, &p) < 0)
		goto out;
	if (!p.archive || !p.marker || ends_with(name, MS_REMOTE_MARKER)) {
		ms_log_error("remote '%s' has no complete snapshot '%s'", rc->name, name);
		goto out;
	}
	r = marker_read(rc, name, &m);
	if (r != 0)
		goto out;
	if (fetch_check(rc, name, partial, &m) < 0) {
		unlink(partial);
		goto out;
	}
	if (rename(partial, final) < 0) {
		ms_log_error("cannot rename '%s' to '%s': %s", partial, final, strerror(errno));
		unlink(partial);
		goto out;
	}
	ret = 0;
out:
	pair_release(&p);
	free(partial);
	free(final);
	return ret;
}

int ms_remote_delete(const struct ms_rclone *rc, const char *name)
{
	struct pair p = { 0 };
	int ret = -1;

	if (pair_look(rc, name, &p) < 0)
		return -1;
	if (!p.archive && !p.marker)
		ms_log_error("remote '%s' has no '%s'", rc->name, name);
	else if ((!p.marker || delete_marker(rc, name) == 0) && (!p.archive || ms_rclone_delete(rc, name) == 0))
		ret = 0;
	pair_release(&p);
	return ret;
}

int ms_remote_info(const struct ms_rclone *rc, const char *name, struct ms_remote_info *out)
{
	char *mk = ms_xasprintf("%s%s", name, MS_REMOTE_MARKER);
	char *text = ms_rclone_get_text(rc, mk, MARKER_MAX);
	struct marker m;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (text && marker_parse(text, &m) < 0) {
		ms_log_warn("remote '%s': '%s' is not a modosnap marker", rc->name, mk);
		ret = 1;
	} else if (text) {
		out->size = m.size;
		for (const char *p = m.meta; *p;) {
			const char *nl = strchr(p, '\n');
			char *line = ms_xstrndup(p, (size_t)(nl - p));

			if (!strncmp(line, "snapshot ", 9) && !out->snapshot_id)
				out->snapshot_id = ms_xstrdup(line + 9);
			else if (!strncmp(line, "created ", 8) && !out->created)
				out->created = ms_xstrdup(line + 8);
			else if (!strncmp(line, "tag ", 4))
				ms_strv_push(&out->tags, line + 4);
			free(line);
			p = nl + 1;
		}
		ret = 0;
	}
	free(text);
	free(mk);
	return ret;
}

void ms_remote_info_clear(struct ms_remote_info *info)
{
	free(info->snapshot_id);
	free(info->created);
	ms_strv_clear(&info->tags);
	memset(info, 0, sizeof(*info));
}
