/*
 * libFuzzer target: snapshot selection and retention, the pure parsing and
 * policy code behind `restore/verify/show SELECTOR` and `prune`:
 *   - snapshot file names (formats/snapname.c): any name parses safely,
 *     and every name ms_snapname_format writes parses back to its parts;
 *   - header times (ms_retention_parse_time): accepted times print back
 *     unchanged;
 *   - the retention policy (ms_retention_apply) over a history built from
 *     the input, with its documented guarantees checked;
 *   - selectors (ms_dest_select) against a fixed destination directory of
 *     three small archives written at start-up (for inputs whose last
 *     byte is a multiple of 4).
 * Input: NUL-separated fields; field 0 is the selector / name / time,
 * fields 1 and 2 the label and version for the format round trip, and
 * the bytes after field 2 describe the history and the policy.
 */
#include "snapshot/dest.h"
#include "fuzzutil.h"
#include "formats/manifest.h"
#include "snapshot/retention.h"
#include "formats/snaparchive.h"
#include "formats/snapname.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dest[64];

/* Writes DEST/<label>_<stamp>_modoboa-2.3.2.tar.zst holding only a header
 * (ms_dest_select reads nothing else). */
static void make_archive(const char *id, const char *created, const char *tag, const char *stamp)
{
	struct ms_header h = { 0 };
	struct ms_entry e = { 0 };
	struct ms_archive_writer *w;
	char sha[MS_HASH_HEX_MAX], path[256], *json;
	int fd;

	snprintf(path, sizeof(path), "%s/mail1_%s_modoboa-2.3.2.tar.zst", dest, stamp);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		abort();
	h.format_version = MS_FORMAT_VERSION;
	h.snapshot_id = (char *)id;
	h.created = (char *)created;
	h.host = (char *)"mail1";
	h.tool_version = (char *)"0.1.0";
	h.instance = (char *)"/srv/modoboa/instance";
	if (tag)
		ms_strv_push(&h.tags, tag);
	ms_strv_push(&h.components, "instance");
	json = ms_header_encode(&h);
	e.path = (char *)MS_HEADER_NAME;
	e.type = MS_ENTRY_FILE;
	e.size = strlen(json);
	e.mode = 0600;
	w = ms_archive_writer_open(fd, path, NULL);
	if (!w || ms_archive_write_buffer(w, &e, json, strlen(json), sha) < 0 ||
	    ms_archive_writer_close(w, NULL) < 0)
		abort();
	ms_archive_writer_free(w);
	close(fd);
	free(json);
	ms_strv_clear(&h.tags);
	ms_strv_clear(&h.components);
}

static void remove_dest(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dest);
	if (system(cmd) != 0)
		fprintf(stderr, "unable to remove '%s'\n", dest);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(dest, sizeof(dest), "/tmp/modosnap-fuzz-select.XXXXXX");
	if (!mkdtemp(dest))
		abort();
	atexit(remove_dest);
	make_archive("20260101T020000Z-0a1b2c3d", "2026-01-01T02:00:00Z", "pre-upgrade", "20260101T020000Z");
	make_archive("20260102T020000Z-0a1b9999", "2026-01-02T02:00:00Z", "release", "20260102T020000Z");
	make_archive("20260103T020000Z-deadbeef", "2026-01-03T02:00:00Z", "safety", "20260103T020000Z");
	return 0;
}

/* The n-th NUL-separated field of [p, end) ("" past the end), copied. */
static char *field(const uint8_t *p, size_t size, int n, size_t *after)
{
	size_t i = 0, start;

	for (int k = 0; k < n && i <= size; k++) {
		const uint8_t *z = i < size ? memchr(p + i, '\0', size - i) : NULL;

		i = z ? (size_t)(z - p) + 1 : size + 1;
	}
	if (i > size) {
		*after = size;
		return fz_strndup(p, 0);
	}
	start = i;
	while (i < size && p[i])
		i++;
	*after = i < size ? i + 1 : size;
	return fz_strndup(p + start, i - start);
}

static void check_snapname(const char *name, const char *label, const char *version, const uint8_t *t)
{
	struct ms_snapname sn;
	time_t when;
	char *formatted;

	if (ms_snapname_parse(name, &sn) == 0) {
		FZ_ASSERT(strlen(sn.stamp) == MS_SNAPNAME_STAMP_LEN);
		ms_snapname_clear(&sn);
	}
	/* 1970-01-01 .. 9999-12-31 */
	when = (time_t)((((uint64_t)t[0] << 24 | (uint64_t)t[1] << 16 | (uint64_t)t[2] << 8 | t[3]) * 59ULL)
			% 253402300800ULL);
	formatted = ms_snapname_format(label, when, version);
	FZ_ASSERT(ms_snapname_parse(formatted, &sn) == 0);
	FZ_ASSERT(strchr(formatted, '/') == NULL);
	{
		char *again = ms_snapname_format(sn.label, when, sn.version);

		FZ_ASSERT(strcmp(again, formatted) == 0); /* sanitising is idempotent */
		free(again);
	}
	ms_snapname_clear(&sn);
	free(formatted);
}

static void check_time(const char *s)
{
	time_t t;
	struct tm tm;
	char back[64];

	if (ms_retention_parse_time(s, &t) < 0)
		return;
	FZ_ASSERT(gmtime_r(&t, &tm) != NULL);
	snprintf(back, sizeof(back), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	FZ_ASSERT(strcmp(back, s) == 0);
}

#define MAX_SNAPS 48
static const char *const tag_names[] = { "pre-upgrade", "release", "safety", "nightly" };

static void check_retention(const uint8_t *p, size_t size)
{
	struct ms_retention_snap snaps[MAX_SNAPS];
	struct ms_strv tags[MAX_SNAPS], keep_tag = { 0 };
	char ids[MAX_SNAPS][16];
	struct ms_retention_policy pol = { 0 };
	time_t t = 1767225600; /* 2026-01-01 */
	size_t n = 0, kept_last = 0;

	if (size < 6)
		return;
	pol.keep_last = p[0] % 12;
	pol.keep_daily = p[1] % 12;
	pol.keep_weekly = p[2] % 8;
	pol.keep_monthly = p[3] % 8;
	pol.keep_pre_upgrade = p[4] % 5;
	for (int i = 0; i < 4; i++)
		if (p[5] & (1u << i))
			ms_strv_push(&keep_tag, tag_names[i]);
	pol.keep_tag = &keep_tag;
	p += 6;
	size -= 6;
	memset(tags, 0, sizeof(tags));
	for (; size >= 2 && n < MAX_SNAPS; p += 2, size -= 2, n++) {
		/* a step back or forward in time of up to ~45 days, in hours */
		t += ((time_t)(p[0] & 0x7f) * 3600 * 9) * ((p[0] & 0x80) ? -1 : 1) / 2;
		snprintf(ids[n], sizeof(ids[n]), "s%02zu", n);
		for (int i = 0; i < 4; i++)
			if (p[1] & (1u << i))
				ms_strv_push(&tags[n], tag_names[i]);
		snaps[n] = (struct ms_retention_snap){ .id = ids[n], .created = t, .tags = &tags[n],
						       .verified = (p[1] & 0x10) != 0 };
	}
	ms_retention_has_rule(&pol);
	for (int round = 0; round < 2; round++) { /* earlier outputs are cleared first */
		ms_retention_apply(&pol, snaps, n);
		kept_last = 0;
		for (size_t i = 0; i < n; i++) {
			FZ_ASSERT(snaps[i].keep == (snaps[i].reasons.n > 0));
			kept_last += ms_strv_contains(&snaps[i].reasons, "last");
			for (size_t k = 0; k < keep_tag.n; k++)
				if (ms_strv_contains(&tags[i], keep_tag.v[k]))
					FZ_ASSERT(snaps[i].keep);
		}
		FZ_ASSERT(kept_last == ((size_t)pol.keep_last < n ? (size_t)pol.keep_last : n));
	}
	ms_retention_clear(snaps, n);
	for (size_t i = 0; i < n; i++)
		ms_strv_clear(&tags[i]);
	ms_strv_clear(&keep_tag);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t after;
	char *sel = field(data, size, 0, &after);
	char *label = field(data, size, 1, &after);
	char *version = field(data, size, 2, &after);
	uint8_t t[4] = { 0 };
	char *path;

	memcpy(t, data, size < 4 ? size : 4);
	check_snapname(sel, label, version, t);
	check_snapname(sel, *label ? label : NULL, *version ? version : NULL, t);
	check_time(sel);
	check_retention(data + after, size - after);
	/* Paths are taken as given (only checked to be a file): stay in dest.
	 * Selection reads three archive headers: one input in four does, to
	 * keep the rest fast. */
	if (!strchr(sel, '/') && size && data[size - 1] % 4 == 0) {
		path = ms_dest_select(dest, sel);
		if (path)
			FZ_ASSERT(strncmp(path, dest, strlen(dest)) == 0);
		free(path);
	}
	free(sel);
	free(label);
	free(version);
	return 0;
}
