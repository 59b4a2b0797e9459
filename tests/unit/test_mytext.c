/*
 * Unit tests for src/db/my_text.c: the data-line encoding of every column
 * kind (table-driven), the kind of each information_schema DATA_TYPE, and
 * the schema scripts' `;;` framing, including the refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "db/my_conn.h"
#include "db/my_text.h"
#include "base/strbuf.h"

struct field_case {
	const char *data; /* NULL: SQL NULL */
	size_t len;
	enum ms_my_kind kind;
	const char *want;
};

static void test_fields(void **state)
{
	static const struct field_case cases[] = {
		{ NULL, 0, MS_MY_TEXT, "\\N" },
		{ NULL, 0, MS_MY_HEX, "\\N" },
		{ "", 0, MS_MY_TEXT, "" },
		{ "", 0, MS_MY_HEX, "" },
		{ "plain text", 10, MS_MY_TEXT, "plain text" },
		{ "\\N", 2, MS_MY_TEXT, "\\\\N" },
		{ "a\tb\nc\rd\\e", 9, MS_MY_TEXT, "a\\tb\\nc\\rd\\\\e" },
		{ "x\0y", 3, MS_MY_TEXT, "x\\0y" },
		{ "gr\xc3\xbc\xc3\x9f\x65 \xf0\x9f\xa6\x8a", 12, MS_MY_TEXT, "gr\xc3\xbc\xc3\x9f\x65 \xf0\x9f\xa6\x8a" },
		{ "\x00\x01\xfe\xff\t", 5, MS_MY_HEX, "0001feff09" },
		{ "\x02\xaa", 2, MS_MY_BIT, "02aa" },
		{ "0.10000000149011612", 19, MS_MY_FLOAT, "0.10000000149011612" },
		{ "'quoted' ;; `tick`", 18, MS_MY_TEXT, "'quoted' ;; `tick`" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ms_strbuf sb = MS_STRBUF_INIT;

		ms_my_field_append(&sb, cases[i].data, cases[i].len, cases[i].kind);
		assert_int_equal(sb.len, strlen(cases[i].want));
		assert_memory_equal(sb.len ? sb.buf : "", cases[i].want, sb.len);
		ms_strbuf_release(&sb);
	}
}

static void test_long_hex(void **state)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	char data[1000];

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i % 256);
	ms_my_field_append(&sb, data, sizeof(data), MS_MY_HEX);
	assert_int_equal(sb.len, 2000);
	assert_memory_equal(sb.buf, "000102", 6);
	assert_memory_equal(sb.buf + 2 * 255, "ff00", 4);
	assert_memory_equal(sb.buf + 1996, "e6e7", 4);
	ms_strbuf_release(&sb);
}

static void test_kinds(void **state)
{
	(void)state;
	assert_int_equal(ms_my_kind_of("varbinary"), MS_MY_HEX);
	assert_int_equal(ms_my_kind_of("BINARY"), MS_MY_HEX);
	assert_int_equal(ms_my_kind_of("longblob"), MS_MY_HEX);
	assert_int_equal(ms_my_kind_of("tinyblob"), MS_MY_HEX);
	assert_int_equal(ms_my_kind_of("point"), MS_MY_HEX);
	assert_int_equal(ms_my_kind_of("geometry"), MS_MY_HEX);
	assert_int_equal(ms_my_kind_of("bit"), MS_MY_BIT);
	assert_int_equal(ms_my_kind_of("float"), MS_MY_FLOAT);
	assert_int_equal(ms_my_kind_of("double"), MS_MY_TEXT);
	assert_int_equal(ms_my_kind_of("longtext"), MS_MY_TEXT);
	assert_int_equal(ms_my_kind_of("varchar"), MS_MY_TEXT);
	assert_int_equal(ms_my_kind_of("json"), MS_MY_TEXT);
	assert_int_equal(ms_my_kind_of("blobby"), MS_MY_TEXT);
}

static void test_script_round_trip(void **state)
{
	static const char *stmts[] = {
		"SET NAMES utf8mb4",
		"CREATE TABLE `t` (\n  `a` int\n) ENGINE=InnoDB",
		"CREATE TRIGGER x BEFORE INSERT ON t FOR EACH ROW SET @a = ';;'",
		"",
		"SELECT 1;;",
	};
	struct ms_strbuf sb = MS_STRBUF_INIT;
	const char *stmt;
	size_t pos = 0, len, n = 0;

	(void)state;
	ms_strbuf_addstr(&sb, "-- a comment\n\n" MS_MY_SCRIPT_HEAD);
	for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++)
		assert_int_equal(ms_my_script_add(&sb, stmts[i], strlen(stmts[i])), 0);
	ms_strbuf_addstr(&sb, "DELIMITER ;\n");
	while (ms_my_script_next(sb.buf, sb.len, &pos, &stmt, &len) == 1) {
		assert_true(n < 5);
		assert_int_equal(len, strlen(stmts[n]));
		assert_memory_equal(stmt, stmts[n], len);
		n++;
	}
	assert_int_equal(n, 5);
	assert_int_equal(ms_my_script_next(sb.buf, sb.len, &pos, &stmt, &len), 0);
	ms_strbuf_release(&sb);
}

static void test_script_refusals(void **state)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	const char *stmt, *cut = "DELIMITER ;;\nSELECT 1\n;;\nSELECT 2\n";
	size_t pos = 0, len;

	(void)state;
	assert_int_equal(ms_my_script_add(&sb, "a\n;;\nb", 6), -1);
	assert_int_equal(ms_my_script_add(&sb, ";;", 2), -1);
	assert_int_equal(sb.len, 0);
	assert_int_equal(ms_my_script_add(&sb, "a\n;; x\nb", 8), 0);
	ms_strbuf_release(&sb);
	assert_int_equal(ms_my_script_next(cut, strlen(cut), &pos, &stmt, &len), 1);
	assert_int_equal(len, 8);
	assert_int_equal(ms_my_script_next(cut, strlen(cut), &pos, &stmt, &len), -1);
}

/* Identifiers as the dumper and the restore engine quote them (one
 * implementation in db/my_conn.c). */
static void test_identifiers(void **state)
{
	char *s;

	(void)state;
	s = ms_my_ident("mail`box");
	assert_string_equal(s, "`mail``box`");
	free(s);
	s = ms_my_qualified("amavis", "msg`rcpt");
	assert_string_equal(s, "`amavis`.`msg``rcpt`");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_long_hex),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_script_round_trip),
		cmocka_unit_test(test_script_refusals),
		cmocka_unit_test(test_identifiers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
