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
 * checker classified, whatever surrounds it. MS_FUZZ_SQL_SPLIT=0 in the
 * environment turns that second check off (to explore the rest past a
 * known open split finding, docs/testing.md).
 */
#include "fuzzutil.h"
#include "sqlcheck.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *const roles[] = { "app", "modoboa", "", NULL };

static void recheck_alone(const struct ms_sqlcheck *c, const struct ms_sql_stmt *st)
{
	struct ms_sql_script one = { 0 };
	char *text = malloc(st->len + 2);

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
			for (size_t i = 0; i < s.n; i++)
				recheck_alone(&c, &s.v[i]);
	} else {
		FZ_ASSERT(s.n == 0); /* *out empty on refusal */
	}
	ms_sql_script_clear(&s);
	free(text);
	return 0;
}
