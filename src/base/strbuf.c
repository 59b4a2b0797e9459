/*
 * Growable string buffer (see strbuf.h).
 */
#include "base/strbuf.h"
#include "base/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void grow(struct ms_strbuf *sb, size_t extra)
{
	size_t need = sb->len + extra + 1;

	if (need < sb->len)
		MS_BUG("string buffer size overflow");
	if (need <= sb->alloc)
		return;
	size_t alloc = sb->alloc ? sb->alloc : 64;
	while (alloc < need)
		alloc *= 2;
	sb->buf = ms_xrealloc(sb->buf, alloc);
	sb->alloc = alloc;
}

void ms_strbuf_add(struct ms_strbuf *sb, const void *data, size_t len)
{
	grow(sb, len);
	if (len)
		memcpy(sb->buf + sb->len, data, len);
	sb->len += len;
	sb->buf[sb->len] = '\0';
}

void ms_strbuf_addstr(struct ms_strbuf *sb, const char *s)
{
	ms_strbuf_add(sb, s, strlen(s));
}

void ms_strbuf_addch(struct ms_strbuf *sb, char c)
{
	ms_strbuf_add(sb, &c, 1);
}

void ms_strbuf_addf(struct ms_strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	grow(sb, 64);
	va_start(ap, fmt);
	n = vsnprintf(sb->buf + sb->len, sb->alloc - sb->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		MS_BUG("vsnprintf failed");
	if ((size_t)n >= sb->alloc - sb->len) {
		grow(sb, (size_t)n);
		va_start(ap, fmt);
		n = vsnprintf(sb->buf + sb->len, sb->alloc - sb->len, fmt, ap);
		va_end(ap);
	}
	sb->len += (size_t)n;
}

void ms_strbuf_reset(struct ms_strbuf *sb)
{
	sb->len = 0;
	if (sb->buf)
		sb->buf[0] = '\0';
}

const char *ms_strbuf_str(const struct ms_strbuf *sb)
{
	return sb->buf ? sb->buf : "";
}

char *ms_strbuf_detach(struct ms_strbuf *sb)
{
	char *s = sb->buf ? sb->buf : ms_xstrdup("");

	sb->buf = NULL;
	sb->len = sb->alloc = 0;
	return s;
}

void ms_strbuf_release(struct ms_strbuf *sb)
{
	free(sb->buf);
	sb->buf = NULL;
	sb->len = sb->alloc = 0;
}
