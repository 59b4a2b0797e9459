/*
 * Unit tests for formats/snapname: formatting, sanitising and parsing of
 * snapshot archive names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "formats/snapname.h"

static void test_format(void **state)
{
	(void)state;
	/* 2026-11-30T04:53:23Z */
	char *s = ms_snapname_format("mail1.example.org", 1796014403, "2.3.2");

	assert_string_equal(s, "mail1.example.org_20261130T045323Z_modoboa-2.3.2.tar.zst");
	free(s);
	s = ms_snapname_format("my_host name", 0, NULL);
	assert_string_equal(s, "my-host-name_19700101T000000Z_modoboa-unknown.tar.zst");
	free(s);
	s = ms_snapname_format(NULL, 0, "2.4.0rc1+local_x");
	assert_string_equal(s, "modoboa_19700101T000000Z_modoboa-2.4.0rc1+local-x.tar.zst");
	free(s);
}

static void test_round_trip(void **state)
{
	struct ms_snapname n;
	char *s = ms_snapname_format("h_ost/../x", 1796014403, "2.3.2");

	(void)state;
	assert_int_equal(ms_snapname_parse(s, &n), 0);
	assert_string_equal(n.label, "h-ost-..-x");
	assert_string_equal(n.stamp, "20261130T045323Z");
	assert_string_equal(n.version, "2.3.2");
	ms_snapname_clear(&n);
	free(s);
}

static void test_parse_rejects(void **state)
{
	static const char *bad[] = {
		"",
		".tar.zst",
		"host_20261130T045323Z_modoboa-2.3.2.tar.gz",
		"host_20261130T045323Z_modoboa-2.3.2.tar.zst.partial",
		"_20261130T045323Z_modoboa-2.3.2.tar.zst",
		"host_20261130X045323Z_modoboa-2.3.2.tar.zst",
		"host_2026113T045323Z_modoboa-2.3.2.tar.zst",
		"host_20261130T045323Z_modoboa-.tar.zst",
		"host_20261130T045323Z_django-2.3.2.tar.zst",
		"ho st_20261130T045323Z_modoboa-2.3.2.tar.zst",
		"host_20261130T045323Z_modoboa-2_3.tar.zst",
		"host_20261130T045323Z.tar.zst",
	};
	struct ms_snapname n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ms_snapname_parse(bad[i], &n) == 0)
			fail_msg("accepted '%s'", bad[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_parse_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
