/*
 * Markers of complete copies (formats/marker.h): the text written last by a
 * push and by the local encryption, read back as untrusted input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "formats/marker.h"
#include "base/util.h"
#include "testutil.h"

#define HEX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_round_trip(void **state)
{
	struct ms_marker m = { 0 }, back;
	char *text;

	(void)state;
	memcpy(m.sha256, HEX, 65);
	m.size = 1234;
	m.snapshot_id = "20261207T101010Z-0a1b2c3d";
	m.created = "2026-12-07T10:10:10Z";
	ms_strv_push(&m.tags, "pre-upgrade");
	ms_strv_push(&m.tags, "bad\ntag"); /* a line break would forge a line: left out */
	text = ms_marker_format(&m);
	assert_string_equal(text, "modosnap-remote 1\nsha256 " HEX "\nsize 1234\nsnapshot 20261207T101010Z-0a1b2c3d\n"
				  "created 2026-12-07T10:10:10Z\ntag pre-upgrade\n");
	assert_int_equal(ms_marker_parse(text, &back), 0);
	assert_string_equal(back.sha256, HEX);
	assert_int_equal(back.size, 1234);
	assert_string_equal(back.snapshot_id, m.snapshot_id);
	assert_string_equal(back.created, m.created);
	assert_int_equal(back.tags.n, 1);
	assert_string_equal(back.tags.v[0], "pre-upgrade");
	ms_marker_clear(&back);
	assert_null(back.snapshot_id);
	free(text);
	ms_strv_clear(&m.tags);
}

/* Written by an older modosnap: no meta lines. */
static void test_without_meta(void **state)
{
	struct ms_marker m;

	(void)state;
	assert_int_equal(ms_marker_parse("modosnap-remote 1\nsha256 " HEX "\nsize 0\n", &m), 0);
	assert_int_equal(m.size, 0);
	assert_null(m.snapshot_id);
	assert_null(m.created);
	assert_int_equal(m.tags.n, 0);
	ms_marker_clear(&m);
}

static void test_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"modosnap-remote 2\nsha256 " HEX "\nsize 1\n",
		"modosnap-remote 1\nsha256 " HEX "\nsize 1", /* no final line break */
		"modosnap-remote 1\nsha256 0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\nsize 1\n",
		"modosnap-remote 1\nsha256 " HEX "0\nsize 1\n",
		"modosnap-remote 1\nsha256 " HEX "\nsize -1\n",
		"modosnap-remote 1\nsha256 " HEX "\nsize 99999999999999999999999\n",
		"modosnap-remote 1\nsha256 " HEX "\nsize 1\nowner root\n", /* an unknown line */
		"modosnap-remote 1\nsha256 " HEX "\nsize 1\ntag a\x1b[2Jb\n", /* a control character */
		"modosnap-remote 1\nsha256 " HEX "\nsize 1\ntag x", /* unterminated */
	};
	struct ms_marker m;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&m, 0x5a, sizeof(m));
		assert_int_equal(ms_marker_parse(bad[i], &m), -1);
		assert_null(m.snapshot_id); /* nothing to clear */
		assert_int_equal(m.tags.n, 0);
	}
}

static void test_files(void **state)
{
	static const char with_nul[] = "modosnap-remote 1\nsha256 " HEX "\nsize 7\n\0tag x\n";
	const struct test_fixture *fx = *state;
	char *path = ms_path_join(fx->dir, "x.tar.zst.age"), *mk = ms_xasprintf("%s.ok", path), *err;
	struct ms_marker m = { 0 }, back;
	struct stat st;
	FILE *f;

	memcpy(m.sha256, HEX, 65);
	m.size = 7;
	ms_strv_push(&m.tags, "nightly");
	assert_int_equal(ms_marker_write_file(path, &m), 0);
	assert_int_equal(stat(mk, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(ms_marker_read_file(path, &back), 0);
	assert_string_equal(back.tags.v[0], "nightly");
	ms_marker_clear(&back);

	/* a NUL inside: not a marker (warned), nothing to clear */
	f = fopen(mk, "wb");
	assert_non_null(f);
	fwrite(with_nul, 1, sizeof(with_nul) - 1, f);
	fclose(f);
	capture_start();
	assert_int_equal(ms_marker_read_file(path, &back), 1);
	err = capture_end();
	assert_non_null(strstr(err, "is not a modosnap marker"));
	free(err);

	unlink(mk);
	capture_start();
	assert_int_equal(ms_marker_read_file(path, &back), -1);
	err = capture_end();
	assert_non_null(strstr(err, "cannot read the marker"));
	free(err);

	ms_strv_clear(&m.tags);
	free(mk);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_without_meta),
		cmocka_unit_test(test_refused),
		cmocka_unit_test_setup_teardown(test_files, test_fixture_setup, test_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
