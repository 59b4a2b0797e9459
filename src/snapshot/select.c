/*
 * Snapshot selectors (see ms_dest_select in dest.h). Headers are read only
 * when the selector needs them (ids and tags), and only the first member
 * of each archive.
 */
#include "snapshot/dest.h"
#include "formats/manifest.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "formats/verify.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool has_tag(const struct ms_header *h, const char *tag)
{
	return ms_strv_contains(&h->tags, tag);
}

/* Does item i match an id / id prefix / file name selector? */
static bool matches_id(const struct ms_dest_item *it, const struct ms_header *h, const char *sel)
{
	return strcmp(it->name, sel) == 0 || strncmp(h->snapshot_id, sel, strlen(sel)) == 0;
}

static char *select_in(const struct ms_dest_item *items, size_t n, const char *dest, const char *sel)
{
	const char *tag = strncmp(sel, "tag:", 4) == 0 ? sel + 4 : NULL;
	struct ms_strbuf cands = MS_STRBUF_INIT, avail = MS_STRBUF_INIT;
	size_t n_avail = 0;
	const struct ms_dest_item *found = NULL;
	size_t hits = 0;
	char *ret = NULL;

	for (size_t i = 0; i < n; i++) {
		struct ms_header h;
		bool m;

		if (ms_dest_read_header(items[i].path, &h) < 0)
			continue; /* reported; a broken archive is never selected implicitly */
		m = tag ? has_tag(&h, tag) : matches_id(&items[i], &h, sel);
		if (n_avail++ < 5)
			ms_strbuf_addf(&avail, "%s%s", n_avail > 1 ? ", " : "", h.snapshot_id);
		if (m) {
			if (!found)
				found = &items[i];
			ms_strbuf_addf(&cands, "%s%s", hits ? ", " : "", h.snapshot_id);
			hits++;
		}
		ms_header_clear(&h);
		if (m && tag)
			break; /* newest first: the first hit is the newest */
	}
	if (hits == 0 && n_avail == 0)
		ms_log_error("no snapshot matches '%s' in '%s' (it holds none)", sel, dest);
	else if (hits == 0)
		ms_log_error("no snapshot matches '%s' in '%s'; newest: %s%s", sel, dest, ms_strbuf_str(&avail),
			     n_avail > 5 ? ", ..." : "");
	else if (hits > 1)
		ms_log_error("'%s' is ambiguous in '%s': it matches %s", sel, dest, ms_strbuf_str(&cands));
	else
		ret = ms_xstrdup(found->path);
	ms_strbuf_release(&cands);
	ms_strbuf_release(&avail);
	return ret;
}

/* "latest": the newest snapshot that is not a restore's safety snapshot
 * (re-running `restore latest` must not pick the state it replaced). */
static char *select_latest(const struct ms_dest_item *items, size_t n, const char *dest)
{
	size_t safety = 0;

	for (size_t i = 0; i < n; i++) {
		struct ms_header h;
		bool skip;

		if (ms_dest_read_header(items[i].path, &h) < 0)
			continue; /* reported; a broken archive is never selected implicitly */
		skip = has_tag(&h, "safety");
		ms_header_clear(&h);
		if (!skip)
			return ms_xstrdup(items[i].path);
		safety++;
	}
	if (safety)
		ms_log_error("no snapshots in '%s' but %zu safety snapshot(s) of restores (select them with "
			     "tag:safety)", dest, safety);
	else
		ms_log_error("no snapshots in '%s'", dest);
	return NULL;
}

/* What a path that is not a regular file is, for the message. */
static const char *kind_of(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISFIFO(m))
		return "a fifo";
	if (S_ISSOCK(m))
		return "a socket";
	return "not a regular file";
}

/* A path selector: an existing regular file (a symlink to one is fine:
 * the archive is verified before anything trusts it). */
static char *select_path(const char *selector)
{
	struct stat st;

	if (stat(selector, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			ms_log_error("snapshot '%s' not found", selector);
		else
			ms_log_error("unable to read snapshot '%s': %s", selector, strerror(errno));
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		ms_log_error("snapshot '%s' is %s, not an archive file", selector, kind_of(st.st_mode));
		return NULL;
	}
	return ms_xstrdup(selector);
}

char *ms_dest_select(const char *dest, const char *selector)
{
	struct ms_dest_item *items = NULL;
	size_t n = 0;
	char *ret = NULL;

	if (!*selector) {
		ms_log_error("empty snapshot selector");
		return NULL;
	}
	/* Only a selector with a '/' is a path ("./x.tar.zst"): a file named
	 * "latest" in the current directory must not hijack the selection. */
	if (strchr(selector, '/'))
		return select_path(selector);
	if (ms_dest_list(dest, &items, &n) < 0)
		return NULL;
	if (strcmp(selector, "latest") == 0) {
		ret = select_latest(items, n, dest);
	} else {
		ret = select_in(items, n, dest, selector);
	}
	ms_dest_items_free(items, n);
	return ret;
}
