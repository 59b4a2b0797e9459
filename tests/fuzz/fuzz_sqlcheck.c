/*
 * libFuzzer target: the SQL statement checker (restore/sqlcheck.c), the
 * gate between an untrusted archive's schema scripts and the database
 * server. Input: one flag byte, then the script.
 *   bit 0     dialect: 0 PostgreSQL, 1 MariaDB/MySQL
 *   bits 1-2  the application role: "app", "modoboa", "" or none (NULL)
 * Checked: accepted statements lie inside the text, in order, without
 * overlapping; and (PostgreSQL, whose lexing does not depend on earlier
 * statements) each accepted statement, checked again on its own, is
 * accepted as exactly the same single statement: the server runs what the
 * checker classified, whatever surrounds it (statements left with open
 * parentheses excepted: the server cannot run those at all); and a ';'
 * inside an accepted statement is only followed by what a BEGIN ATOMIC
 * body holds (check_segments).
 * MS_FUZZ_SQL_SPLIT=0 in the environment turns that second check off (to
 * explore the rest past a known open split finding, docs/testing.md).
 */
#include "fuzzutil.h"
#include "restore/sqlcheck.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const roles[] = { "app", "modoboa", "", NULL };

/* Parentheses left open at the end of a statement (quotes skipped,
 * roughly): the checker then lets ';' pass as psql does, and the server
 * refuses the text as a syntax error whatever the protocol, so such a
 * statement says nothing about splitting. */
static bool open_parens(const char *s, size_t n)
{
	long depth = 0;
	char q = 0;

	for (size_t i = 0; i < n; i++) {
		if (q) {
			q = s[i] == q ? 0 : q;
		} else if (s[i] == '\'' || s[i] == '"') {
			q = s[i];
		} else {
			depth += s[i] == '(';
			depth -= s[i] == ')' && depth > 0;
		}
	}
	return depth > 0 || q;
}

static bool word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '$' || (unsigned char)c >= 0x80;
}

/* End of the token starting at s[i] (the index just past it), as
 * PostgreSQL's scanner reads it: identifiers and numbers whole (they may
 * hold '$'), parameters ($1), quoted strings and identifiers (E'' with
 * backslash escapes), comments and dollar bodies; a single character
 * otherwise. */
static size_t pg_token_end(const char *s, size_t n, size_t i)
{
	char q;
	bool esc = false;

	if (word_char(s[i]) && s[i] != '$') {
		size_t j = i;

		while (j < n && word_char(s[j]))
			j++;
		if (j - i == 1 && (s[i] == 'E' || s[i] == 'e') && j < n && s[j] == '\'') {
			esc = true;
			i = j;
		} else if (j - i == 1 && (s[i] == 'U' || s[i] == 'u') && j + 1 < n && s[j] == '&' &&
			   (s[j + 1] == '\'' || s[j + 1] == '"')) {
			i = j + 1;
		} else {
			return j;
		}
	}
	if (s[i] == '\'' || s[i] == '"') {
		q = s[i];
		for (i++; i < n; i++) {
			if (esc && s[i] == '\\')
				i++;
			else if (s[i] == q && i + 1 < n && s[i + 1] == q)
				i++;
			else if (s[i] == q)
				return i + 1;
		}
		return n;
	}
	if (s[i] == '-' && i + 1 < n && s[i + 1] == '-') {
		while (i < n && s[i] != '\n')
			i++;
		return i;
	}
	if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
		int depth = 0;

		while (i < n) {
			if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
				depth++;
				i += 2;
			} else if (s[i] == '*' && i + 1 < n && s[i + 1] == '/') {
				i += 2;
				if (--depth == 0)
					return i;
			} else {
				i++;
			}
		}
		return n;
	}
	if (s[i] == '$') {
		size_t j = i + 1;

		if (j < n && s[j] >= '0' && s[j] <= '9') {
			while (j < n && s[j] >= '0' && s[j] <= '9')
				j++;
			return j; /* a parameter */
		}
		while (j < n && word_char(s[j]) && s[j] != '$' && !(j == i + 1 && s[j] >= '0' && s[j] <= '9'))
			j++;
		if (j < n && s[j] == '$') {
			const char *end = memmem(s + j + 1, n - j - 1, s + i, j + 1 - i);

			return end ? (size_t)(end - s) + (j + 1 - i) : n;
		}
	}
	return i + 1;
}

/* What follows a top-level ';' inside one accepted PostgreSQL statement
 * can only be the next statement of a BEGIN ATOMIC body (pg_dump writes
 * SELECT, INSERT, UPDATE, DELETE, MERGE, WITH, VALUES, TABLE or RETURN
 * there) or the body's END: anything else is a statement riding along
 * with the one the checker classified. */
static void check_segments(const char *s, size_t n)
{
	static const char *const body[] = { "SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "WITH",
					    "VALUES", "TABLE", "RETURN", "END" };
	long depth = 0;

	for (size_t i = 0; i < n;) {
		size_t k, w;
		bool ok = false;

		depth += s[i] == '(';
		depth -= s[i] == ')';
		if (s[i] != ';' || depth != 0) {
			i = pg_token_end(s, n, i);
			continue;
		}
		/* the first word after the ';', comments skipped */
		for (k = i + 1; k < n;) {
			if (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r' || s[k] == '\f' || s[k] == '\v')
				k++;
			else if ((s[k] == '-' && k + 1 < n && s[k + 1] == '-') || (s[k] == '/' && k + 1 < n && s[k + 1] == '*'))
				k = pg_token_end(s, n, k);
			else
				break;
		}
		if (k == n || s[k] == '(')
			ok = true; /* nothing after it, or a parenthesised query */
		for (w = k; w < n && word_char(s[w]); w++)
			;
		for (size_t b = 0; !ok && b < sizeof(body) / sizeof(body[0]); b++)
			ok = w - k == strlen(body[b]) && strncasecmp(s + k, body[b], w - k) == 0;
		FZ_ASSERT(ok);
		i++;
	}
}

static void recheck_alone(const struct ms_sqlcheck *c, const struct ms_sql_stmt *st)
{
	struct ms_sql_script one = { 0 };
	char *text;

	if (open_parens(st->text, st->len))
		return;
	text = malloc(st->len + 2);
	if (!text)
		abort();
	memcpy(text, st->text, st->len);
	memcpy(text + st->len, ";\n", 2);
	FZ_ASSERT(ms_sqlcheck_script(c, text, st->len + 2, &one) == 0);
	FZ_ASSERT(one.n == 1);
	FZ_ASSERT(one.v[0].len == st->len && memcmp(one.v[0].text, st->text, st->len) == 0);
	FZ_ASSERT(one.v[0].skip == st->skip);
	ms_sql_script_clear(&one);
	free(text);
}

static bool split_check = true;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *v = getenv("MS_FUZZ_SQL_SPLIT");

	(void)argc;
	(void)argv;
	split_check = !(v && strcmp(v, "0") == 0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ms_sqlcheck c = { 0 };
	struct ms_sql_script s = { 0 };
	size_t len;
	char *text;

	if (size < 1)
		return 0;
	c.dialect = (data[0] & 1) ? MS_SQL_MYSQL : MS_SQL_POSTGRESQL;
	c.app_role = roles[(data[0] >> 1) & 3];
	c.alias = "default";
	c.member = "db/default/schema-pre.sql";
	/* The script's bytes and a NUL after them, as the callers hand over a
	 * strbuf (the checker reads past `len` without it: docs/testing.md). */
	len = size - 1;
	text = fz_strndup(data + 1, len);
	if (ms_sqlcheck_script(&c, text, len, &s) == 0) {
		const char *prev_end = text;

		for (size_t i = 0; i < s.n; i++) {
			const struct ms_sql_stmt *st = &s.v[i];

			FZ_ASSERT(st->text >= prev_end);
			FZ_ASSERT(st->len > 0 && st->text + st->len <= text + len);
			prev_end = st->text + st->len;
		}
		if (c.dialect == MS_SQL_POSTGRESQL && split_check)
			for (size_t i = 0; i < s.n; i++) {
				recheck_alone(&c, &s.v[i]);
				check_segments(s.v[i].text, s.v[i].len);
			}
	} else {
		FZ_ASSERT(s.n == 0); /* *out empty on refusal */
	}
	ms_sql_script_clear(&s);
	free(text);
	return 0;
}
