/*
 * Unit tests for restore/safepath: the member-path check that keeps
 * hostile archives from writing outside their target.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <string.h>

#include "formats/entry.h"
#include "restore/safepath.h"

static void test_safe(void **state)
{
	static const char *good[] = {
		"modosnap.json", "files/instance/manage.py", "files/instance/media/", "a/b/c/d",
		"files/instance/.env", "files/instance/..hidden", "db/default/data/public.t/000001.copy",
		"files/instance/media/caf\xc3\xa9.png",
		/* legal Linux names: restored, and printed escaped */
		"files/x\n", "files/\x1b[2Jx", "files/tab\there",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (ms_safepath_check(good[i], NULL) != 0)
			fail_msg("refused '%s'", good[i]);
}

static void test_hostile(void **state)
{
	static const struct {
		const char *path;
		const char *why;
	} bad[] = {
		{ "", "empty path" },
		{ "/etc/passwd", "absolute path" },
		{ "../x", "'..' component" },
		{ "files/../../x", "'..' component" },
		{ "files/..", "'..' component" },
		{ "files/./x", "'.' component" },
		{ ".", "'.' component" },
		{ "files//x", "empty path component" },
	};
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(ms_safepath_check(bad[i].path, &why), -1);
		assert_string_equal(why, bad[i].why);
	}
}

/* The limit create also applies (FORMAT.md §4.3): what one writes, the
 * other accepts. */
static void test_too_long(void **state)
{
	static char path[MS_MEMBER_PATH_MAX + 2];
	const char *why;

	(void)state;
	memset(path, 'a', MS_MEMBER_PATH_MAX + 1);
	assert_int_equal(ms_safepath_check(path, &why), -1);
	assert_string_equal(why, "path too long");
	path[MS_MEMBER_PATH_MAX] = '\0';
	assert_int_equal(ms_safepath_check(path, &why), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_safe),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_too_long),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
