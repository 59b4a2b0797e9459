/*
 * UTF-8 and base64 (see text.h).
 */
#include "base/text.h"

#include <limits.h>
#include <openssl/evp.h>
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

/* The transforms are libcrypto's (EVP_EncodeBlock, EVP_DecodeBlock);
 * what is ours is the strictness EVP_DecodeBlock lacks (it skips
 * whitespace and accepts non-canonical input): one spelling per byte
 * string, as signatures and manifests need. */
void ms_b64_add(struct ms_strbuf *sb, const void *data, size_t len, bool pad)
{
	unsigned char *out;
	size_t n;

	if (len == 0)
		return;
	if (len > (size_t)INT_MAX / 4 * 3 - 3)
		MS_BUG("base64 input too large");
	out = ms_xmalloc((len + 2) / 3 * 4 + 1);
	n = (size_t)EVP_EncodeBlock(out, data, (int)len);
	while (!pad && n > 0 && out[n - 1] == '=')
		n--;
	ms_strbuf_add(sb, out, n);
	free(out);
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
	unsigned char *buf;
	int got;

	if (n % 4 != 0 || n > (size_t)INT_MAX)
		return -1;
	for (size_t i = 0; i < n - pad; i++)
		if (ms_b64_value(s[i]) < 0)
			return -1;
	/* the bits after the last byte must be zero (RFC 4648 3.5) */
	if ((pad == 1 && (ms_b64_value(s[n - 2]) & 0x3)) || (pad == 2 && (ms_b64_value(s[n - 3]) & 0xf)))
		return -1;
	buf = ms_xmalloc(n / 4 * 3 + 1);
	got = n ? EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n) : 0;
	if (got < 0 || (size_t)got != n / 4 * 3) {
		free(buf);
		return -1;
	}
	*out_len = (size_t)got - pad;
	buf[*out_len] = '\0';
	*out = buf;
	return 0;
}
