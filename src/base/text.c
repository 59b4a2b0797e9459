/*
 * UTF-8 and base64 (see text.h).
 */
#include "base/text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

size_t ms_utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

bool ms_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	while (n > 0) {
		size_t k = ms_utf8_seq(p, n);

		if (k == 0)
			return false;
		p += k;
		n -= k;
	}
	return true;
}

char *ms_utf8_lossy(const char *s)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	while (n > 0) {
		size_t k = ms_utf8_seq(p, n);

		if (k)
			ms_strbuf_add(&sb, p, k);
		else
			ms_strbuf_addstr(&sb, "\xef\xbf\xbd");
		k = k ? k : 1;
		p += k;
		n -= k;
	}
	return ms_strbuf_detach(&sb);
}

void ms_utf8_add(struct ms_strbuf *sb, unsigned long cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	ms_strbuf_add(sb, b, n);
}

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void ms_b64_add(struct ms_strbuf *sb, const void *data, size_t len, bool pad)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i += 3) {
		size_t rest = len - i;
		uint32_t v = (uint32_t)p[i] << 16;

		if (rest > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (rest > 2)
			v |= p[i + 2];
		ms_strbuf_addch(sb, b64_alphabet[v >> 18]);
		ms_strbuf_addch(sb, b64_alphabet[(v >> 12) & 63]);
		if (rest > 1)
			ms_strbuf_addch(sb, b64_alphabet[(v >> 6) & 63]);
		else if (pad)
			ms_strbuf_addch(sb, '=');
		if (rest > 2)
			ms_strbuf_addch(sb, b64_alphabet[v & 63]);
		else if (pad)
			ms_strbuf_addch(sb, '=');
	}
}

char *ms_b64_encode(const void *data, size_t len)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;

	ms_b64_add(&sb, data, len, true);
	return ms_strbuf_detach(&sb);
}

int ms_b64_value(char c)
{
	const char *p = c ? strchr(b64_alphabet, c) : NULL;

	return p ? (int)(p - b64_alphabet) : -1;
}

int ms_b64_decode(const char *s, size_t n, unsigned char **out, size_t *out_len)
{
	size_t pad = n >= 1 && s[n - 1] == '=' ? (n >= 2 && s[n - 2] == '=' ? 2 : 1) : 0;
	unsigned char *buf, *o;

	if (n % 4 != 0)
		return -1;
	buf = o = ms_xmalloc(n / 4 * 3 + 1);
	for (size_t i = 0; i < n; i += 4) {
		uint32_t v = 0;
		size_t keep = i + 4 == n ? 3 - pad : 3;

		for (size_t k = 0; k < 4; k++) {
			int d = (i + k >= n - pad) ? 0 : ms_b64_value(s[i + k]);

			if (d < 0)
				goto fail;
			v = (v << 6) | (uint32_t)d;
		}
		if ((keep == 1 && (v & 0xffff)) || (keep == 2 && (v & 0xff)))
			goto fail;
		for (size_t k = 0; k < keep; k++)
			*o++ = (unsigned char)(v >> (16 - 8 * k));
	}
	*o = '\0';
	*out = buf;
	*out_len = (size_t)(o - buf);
	return 0;
fail:
	free(buf);
	return -1;
}
