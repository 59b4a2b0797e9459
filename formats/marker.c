/*
 * Markers of complete copies (see marker.h).
 */
#include "formats/marker.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/strbuf.h"

#define MARKER_HEAD "modosnap-remote 1\nsha256 "

/* The optional lines after the size, each printable and ending in '\n',
 * copied into m. 0 or -1. */
static int parse_meta(const char *p, struct ms_marker *m)
{
	while (*p) {
		const char *nl = strchr(p, '\n');
		char *line;

		if (!nl || (strncmp(p, "snapshot ", 9) && strncmp(p, "created ", 8) && strncmp(p, "tag ", 4)))
			return -1;
		for (const char *c = p; c < nl; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				return -1;
		line = ms_xstrndup(p, (size_t)(nl - p));
		if (!strncmp(line, "snapshot ", 9) && !m->snapshot_id)
			m->snapshot_id = ms_xstrdup(line + 9);
		else if (!strncmp(line, "created ", 8) && !m->created)
			m->created = ms_xstrdup(line + 8);
		else if (!strncmp(line, "tag ", 4))
			ms_strv_push(&m->tags, line + 4);
		free(line);
		p = nl + 1;
	}
	return 0;
}

int ms_marker_parse(const char *text, struct ms_marker *m)
{
	const char *p = text;
	unsigned long size;
	char digits[24];
	size_t k = 0;

	memset(m, 0, sizeof(*m));
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
	if (*p != '\n' || ms_parse_ulong(digits, 0, (unsigned long)LLONG_MAX, &size) < 0)
		return -1;
	m->size = (long long)size;
	if (parse_meta(p + 1, m) < 0) {
		ms_marker_clear(m);
		return -1;
	}
	return 0;
}

static bool one_line(const char *s)
{
	return s && !strpbrk(s, "\n\r");
}

char *ms_marker_format(const struct ms_marker *m)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;

	ms_strbuf_addf(&sb, MARKER_HEAD "%s\nsize %lld\n", m->sha256, m->size);
	if (one_line(m->snapshot_id))
		ms_strbuf_addf(&sb, "snapshot %s\n", m->snapshot_id);
	if (one_line(m->created))
		ms_strbuf_addf(&sb, "created %s\n", m->created);
	for (size_t i = 0; i < m->tags.n; i++)
		if (one_line(m->tags.v[i]))
			ms_strbuf_addf(&sb, "tag %s\n", m->tags.v[i]);
	return ms_strbuf_detach(&sb);
}

void ms_marker_clear(struct ms_marker *m)
{
	free(m->snapshot_id);
	free(m->created);
	ms_strv_clear(&m->tags);
	memset(m, 0, sizeof(*m));
}

int ms_marker_read_file(const char *path, struct ms_marker *m)
{
	char *mk = ms_xasprintf("%s%s", path, MS_MARKER_SUFFIX), buf[MS_MARKER_MAX + 1];
	int fd = open(mk, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), ret = -1;
	ssize_t n = 0, r = 0;

	memset(m, 0, sizeof(*m));
	if (fd < 0) {
		ms_log_error("cannot read the marker '%s': %s", mk, strerror(errno));
		goto out;
	}
	while (n < MS_MARKER_MAX && (r = read(fd, buf + n, (size_t)(MS_MARKER_MAX - n))) > 0)
		n += r;
	close(fd);
	if (r < 0) {
		ms_log_error("cannot read the marker '%s': %s", mk, strerror(errno));
		goto out;
	}
	buf[n] = '\0';
	ret = 0;
	if ((size_t)n != strlen(buf) || ms_marker_parse(buf, m) < 0) {
		ms_log_warn("'%s' is not a modosnap marker", mk);
		ret = 1;
	}
out:
	free(mk);
	return ret;
}

int ms_marker_write_file(const char *path, const struct ms_marker *m)
{
	char *mk = ms_xasprintf("%s%s", path, MS_MARKER_SUFFIX), *text = ms_marker_format(m);
	int ret = ms_write_file_replace(mk, text, strlen(text));

	free(text);
	free(mk);
	return ret;
}
