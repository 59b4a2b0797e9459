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
#include "formats/marker.h"

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && !strcmp(s + n - k, suffix);
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
static int marker_read(const struct ms_rclone *rc, const char *name, struct ms_marker *m)
{
	char *mk = ms_xasprintf("%s%s", name, MS_REMOTE_MARKER);
	char *text = ms_rclone_get_text(rc, mk, MS_MARKER_MAX);
	int ret = -1;

	if (text) {
		ret = ms_marker_parse(text, m) < 0 ? 1 : 0;
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
static int push_prepare(const struct ms_rclone *rc, const char *name, const struct ms_marker *local)
{
	struct pair p = { 0 };
	struct ms_marker m;
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
		ms_marker_clear(&m);
		goto out;
	}
	if (r == 0)
		ms_marker_clear(&m);
	/* a marker without its archive: it goes first, as in a delete */
	ret = delete_marker(rc, name);
out:
	pair_release(&p);
	return ret;
}

/* After the upload: the remote's size and SHA-256 are the local ones. */
static int push_check(const struct ms_rclone *rc, const char *name, const struct ms_marker *local)
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

int ms_remote_push(const struct ms_rclone *rc, const char *path)
{
	return ms_remote_push_meta(rc, path, NULL);
}

int ms_remote_push_meta(const struct ms_rclone *rc, const char *path, const struct ms_marker *meta)
{
	const char *name = ms_path_basename(path);
	struct ms_marker local = { 0 };
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
	if (meta) {
		local.snapshot_id = meta->snapshot_id;
		local.created = meta->created;
		local.tags = meta->tags;
	}
	text = ms_marker_format(&local);
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
		struct ms_marker m;
		int r = paired ? marker_read(rc, all[i].name, &m) : 1;
		long long size;

		free(mk);
		if (r < 0)
			goto out;
		if (r > 0)
			continue;
		size = m.size;
		ms_marker_clear(&m);
		if (size != all[i].size) {
			ms_log_debug("remote '%s': '%s' has %lld bytes, its marker says %lld: left out", rc->name,
				     all[i].name, all[i].size, size);
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
static int fetch_check(const struct ms_rclone *rc, const char *name, const char *partial, const struct ms_marker *m)
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

/* Whether the regular file `path` (its lstat in st) has the marker's size
 * and SHA-256: 1 yes, 0 no, -1 after logging (unreadable). */
static int same_as_marker(const char *path, const struct stat *st, const struct ms_marker *m)
{
	char hex[MS_HASH_HEX_MAX];

	if (!S_ISREG(st->st_mode) || (long long)st->st_size != m->size)
		return 0;
	if (ms_hash_file_hex(MS_HASH_SHA256, path, hex) < 0)
		return -1;
	return strcmp(hex, m->sha256) == 0;
}

int ms_remote_fetch(const struct ms_rclone *rc, const char *name, const char *dir)
{
	char *final = ms_path_join(dir, name), *partial = ms_xasprintf("%s.partial", final);
	struct pair p = { 0 };
	struct ms_marker m;
	struct stat st;
	int ret = -1, r;

	if (pair_look(rc, name, &p) < 0)
		goto out;
	if (!p.archive || !p.marker || ends_with(name, MS_REMOTE_MARKER)) {
		ms_log_error("remote '%s' has no complete snapshot '%s'", rc->name, name);
		goto out;
	}
	r = marker_read(rc, name, &m);
	if (r != 0)
		goto out;
	if (lstat(final, &st) == 0) {
		/* an earlier fetch's copy (e.g. kept encrypted for want of an
		 * identity): used again when it is the marker's, never replaced */
		r = same_as_marker(final, &st, &m);
		ms_marker_clear(&m);
		if (r == 1)
			ms_log_debug("'%s' is there already: not fetched again", final);
		else if (r == 0)
			ms_log_error("cannot fetch '%s': '%s' already exists, with other content", name, final);
		ret = r == 1 ? 0 : -1;
		goto out;
	}
	r = fetch_check(rc, name, partial, &m);
	ms_marker_clear(&m);
	if (r < 0) {
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

int ms_remote_info(const struct ms_rclone *rc, const char *name, struct ms_marker *out)
{
	int r = marker_read(rc, name, out);

	if (r != 0)
		memset(out, 0, sizeof(*out));
	return r;
}
