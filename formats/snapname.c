/*
 * Snapshot archive file names (see snapname.h).
 */
#include "formats/snapname.h"
#include "base/strbuf.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

static bool safe_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '+' || c == '-';
}

static void add_sanitised(struct ms_strbuf *sb, const char *s)
{
	for (; *s; s++)
		ms_strbuf_addch(sb, safe_char(*s) ? *s : '-');
}

char *ms_snapname_format(const char *label, time_t when, const char *version)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	char stamp[MS_SNAPNAME_STAMP_LEN + 1];
	struct tm tm;

	gmtime_r(&when, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	add_sanitised(&sb, label && *label ? label : "modoboa");
	ms_strbuf_addf(&sb, "_%s_modoboa-", stamp);
	add_sanitised(&sb, version && *version ? version : "unknown");
	ms_strbuf_addstr(&sb, MS_SNAPNAME_SUFFIX);
	return ms_strbuf_detach(&sb);
}

static bool valid_stamp(const char *s)
{
	for (int i = 0; i < MS_SNAPNAME_STAMP_LEN; i++) {
		char c = s[i];

		if (i == 8 ? c != 'T' : i == 15 ? c != 'Z' : (c < '0' || c > '9'))
			return false;
	}
	return true;
}

static bool all_safe(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!safe_char(s[i]))
			return false;
	return true;
}

int ms_snapname_parse(const char *name, struct ms_snapname *out)
{
	static const char mid[] = "_modoboa-";
	size_t len = strlen(name), slen = strlen(MS_SNAPNAME_SUFFIX);
	const char *u1, *stamp, *ver;
	size_t vlen;

	if (len <= slen || strcmp(name + len - slen, MS_SNAPNAME_SUFFIX) != 0)
		return -1;
	u1 = strchr(name, '_');
	if (!u1 || !all_safe(name, (size_t)(u1 - name)))
		return -1;
	stamp = u1 + 1;
	if ((size_t)(stamp - name) + MS_SNAPNAME_STAMP_LEN + sizeof(mid) - 1 > len - slen ||
	    !valid_stamp(stamp) || strncmp(stamp + MS_SNAPNAME_STAMP_LEN, mid, sizeof(mid) - 1) != 0)
		return -1;
	ver = stamp + MS_SNAPNAME_STAMP_LEN + sizeof(mid) - 1;
	vlen = (size_t)(name + len - slen - ver);
	if (!all_safe(ver, vlen))
		return -1;
	out->label = ms_xstrndup(name, (size_t)(u1 - name));
	memcpy(out->stamp, stamp, MS_SNAPNAME_STAMP_LEN);
	out->stamp[MS_SNAPNAME_STAMP_LEN] = '\0';
	out->version = ms_xstrndup(ver, vlen);
	return 0;
}

void ms_snapname_clear(struct ms_snapname *n)
{
	free(n->label);
	free(n->version);
	n->label = n->version = NULL;
	n->stamp[0] = '\0';
}
