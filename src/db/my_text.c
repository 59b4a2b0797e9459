/*
 * Text forms of MariaDB/MySQL dumps (see my_text.h).
 */
#include "db/my_text.h"

#include <string.h>
#include <strings.h>

enum ms_my_kind ms_my_kind_of(const char *t)
{
	static const char *const hex[] = {
		"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob",
		"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
		"multipolygon", "geometrycollection", "geomcollection",
	};

	if (!strcasecmp(t, "bit"))
		return MS_MY_BIT;
	if (!strcasecmp(t, "float"))
		return MS_MY_FLOAT;
	for (size_t i = 0; i < sizeof(hex) / sizeof(hex[0]); i++)
		if (!strcasecmp(t, hex[i]))
			return MS_MY_HEX;
	return MS_MY_TEXT;
}

/* Hex digits written a byte at a time through a 4 KiB block: one buffer
 * append per block, not per byte (quarantined mail is mostly blob). */
static void append_hex(struct ms_strbuf *sb, const unsigned char *p, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char buf[4096];
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		buf[n] = digits[p[i] >> 4];
		buf[n + 1] = digits[p[i] & 15];
		n += 2;
		if (n == sizeof(buf)) {
			ms_strbuf_add(sb, buf, n);
			n = 0;
		}
	}
	ms_strbuf_add(sb, buf, n);
}

/* The letter after the backslash for each byte LOAD DATA must see
 * escaped, 0 for every other byte (a table: this runs for every byte of
 * every text column). */
static const char escape_letter[256] = {
	[0] = '0', ['\\'] = '\\', ['\t'] = 't', ['\n'] = 'n', ['\r'] = 'r',
};

/* LOAD DATA's escapes: only what would break the line structure or be
 * read as an escape; every other byte is copied as is, in runs. */
static void append_escaped(struct ms_strbuf *sb, const char *p, size_t len)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t start = 0;

	for (size_t i = 0; i < len; i++) {
		char esc[2] = { '\\', escape_letter[u[i]] };

		if (!esc[1])
			continue;
		ms_strbuf_add(sb, p + start, i - start);
		ms_strbuf_add(sb, esc, 2);
		start = i + 1;
	}
	ms_strbuf_add(sb, p + start, len - start);
}

void ms_my_field_append(struct ms_strbuf *sb, const char *data, size_t len, enum ms_my_kind kind)
{
	if (!data)
		ms_strbuf_add(sb, "\\N", 2);
	else if (kind == MS_MY_TEXT || kind == MS_MY_FLOAT)
		append_escaped(sb, data, len);
	else
		append_hex(sb, (const unsigned char *)data, len);
}

/* Does [p, p+len) contain a line that is exactly ";;"? */
static bool has_delimiter_line(const char *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		const char *nl = memchr(p + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - p) : len;

		if (end - i == 2 && p[i] == ';' && p[i + 1] == ';')
			return true;
		i = end + 1;
	}
	return false;
}

int ms_my_script_add(struct ms_strbuf *sb, const char *stmt, size_t len)
{
	if (has_delimiter_line(stmt, len))
		return -1;
	ms_strbuf_add(sb, stmt, len);
	ms_strbuf_addstr(sb, "\n;;\n");
	return 0;
}

/* The line starting at i: its length without the newline. */
static size_t line_len(const char *text, size_t len, size_t i)
{
	const char *nl = memchr(text + i, '\n', len - i);

	return nl ? (size_t)(nl - (text + i)) : len - i;
}

static bool is_skippable(const char *line, size_t n)
{
	return n == 0 || (n >= 2 && line[0] == '-' && line[1] == '-') ||
	       (n == 12 && !memcmp(line, "DELIMITER ;;", 12)) || (n == 11 && !memcmp(line, "DELIMITER ;", 11));
}

int ms_my_script_next(const char *text, size_t len, size_t *pos, const char **stmt, size_t *stmt_len)
{
	size_t i = *pos, start;

	while (i < len) {
		size_t n = line_len(text, len, i);

		if (!is_skippable(text + i, n))
			break;
		i += n + 1;
	}
	if (i >= len) {
		*pos = len;
		return 0;
	}
	start = i;
	while (i < len) {
		size_t n = line_len(text, len, i);

		if (n == 2 && text[i] == ';' && text[i + 1] == ';') {
			*stmt = text + start;
			*stmt_len = i > start ? i - start - 1 : 0;
			*pos = i + n + 1 > len ? len : i + n + 1;
			return 1;
		}
		i += n + 1;
	}
	return -1;
}
