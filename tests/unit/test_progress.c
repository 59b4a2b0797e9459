/*
 * Unit tests for the progress line of create, restore and verify --deep
 * (src/cli/progress.h): the smoothed rate and the text, from given
 * elapsed times and byte counts (no clock, no terminal), and what the
 * engine side names (restore/progress.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cli/progress.h"
#include "restore/progress.h"

#define MIB 1048576ull

static void text_is(const char *what, double secs, uint64_t done, uint64_t total, bool estimate, double rate,
		    const char *want)
{
	char buf[256];

	ms_progress_text(buf, sizeof(buf), what, secs, done, total, estimate, rate);
	assert_string_equal(buf, want);
}

/* No time left before 5 s and 5 %: at 0 % any rate is a guess. */
static void test_no_eta_at_start(void **state)
{
	(void)state;
	text_is("db:default core_user", 1.0, 1 * MIB, 100 * MIB, false, 1.0,
		"db:default core_user  1.0 MiB of 100.0 MiB (1%), 1.0 MiB/s");
	text_is("instance", 4.9, 4 * MIB, 100 * MIB, false, 0.8, "instance  4.0 MiB of 100.0 MiB (4%), 0.8 MiB/s");
	/* 5 % done after one second */
	text_is("instance", 1.0, 5 * MIB, 100 * MIB, false, 5.0,
		"instance  5.0 MiB of 100.0 MiB (5%), 5.0 MiB/s, 19 s left");
	/* 5 s elapsed, little done */
	text_is("instance", 5.0, 1 * MIB, 100 * MIB, false, 0.2,
		"instance  1.0 MiB of 100.0 MiB (1%), 0.2 MiB/s, 8 min 15 s left");
	/* nothing moving yet: no time left, however long */
	text_is("postfix", 60.0, 10 * MIB, 100 * MIB, false, 0.0, "postfix  10.0 MiB of 100.0 MiB (10%), 0.0 MiB/s");
}

static void test_text_forms(void **state)
{
	(void)state;
	/* create: an estimate, nothing named */
	text_is("", 10.0, 50 * MIB, 100 * MIB, true, 5.0, "50.0 MiB of ~100.0 MiB (50%), 5.0 MiB/s, ~10 s left");
	/* past the estimate: 99 %, nothing left */
	text_is("", 30.0, 120 * MIB, 100 * MIB, true, 4.0, "120.0 MiB of ~100.0 MiB (99%), 4.0 MiB/s, ~0 s left");
	/* an exact total reached */
	text_is("checking the result", 30.0, 100 * MIB, 100 * MIB, false, 3.0,
		"checking the result  100.0 MiB of 100.0 MiB (100%), 3.0 MiB/s, 0 s left");
	/* almost done is not done */
	text_is("", 30.0, 100 * MIB - 1, 100 * MIB, false, 3.0,
		"100.0 MiB of 100.0 MiB (99%), 3.0 MiB/s, 0 s left");
	/* unknown total */
	text_is("db:amavis", 3.0, 3 * MIB, 0, false, 1.0, "db:amavis  3.0 MiB, 1.0 MiB/s");
	/* hours */
	text_is("", 60.0, 60 * MIB, 30000 * MIB, false, 1.0, "60.0 MiB of 30000.0 MiB (0%), 1.0 MiB/s, 8 h 19 min left");
	/* a long name is cut */
	text_is("db:default a_table_with_a_name_far_too_long_for_the_line", 1.0, 0, 10 * MIB, false, 0.0,
		"db:default a_table_with_a_name_far_to...  0.0 MiB of 10.0 MiB (0%), 0.0 MiB/s");
}

/* The smoothed rate follows a change of pace gradually: one fast tick
 * does not make the time left jump. */
static void test_rate_smoothing(void **state)
{
	struct ms_progress_rate r;
	double before;

	(void)state;
	memset(&r, 0, sizeof(r));
	ms_progress_rate_tick(&r, 0.5, 5 * MIB); /* first tick: the measurement itself */
	assert_true(r.primed);
	assert_float_equal(r.mib_s, 10.0, 1e-9);
	for (int i = 2; i <= 20; i++)
		ms_progress_rate_tick(&r, 0.5 * i, 5 * MIB * (uint64_t)i); /* steady 10 MiB/s */
	assert_float_equal(r.mib_s, 10.0, 1e-9);
	ms_progress_rate_tick(&r, 10.5, 5 * MIB * 20 + 50 * MIB); /* one burst at 100 MiB/s */
	assert_float_equal(r.mib_s, 10.0 + MS_PROGRESS_SMOOTHING * 90.0, 1e-9);
	before = r.mib_s;
	ms_progress_rate_tick(&r, 10.5, 500 * MIB); /* no time passed: ignored */
	assert_float_equal(r.mib_s, before, 1e-9);
	ms_progress_rate_tick(&r, 11.0, 150 * MIB); /* a stall: decays, not zero */
	assert_float_equal(r.mib_s, before * (1 - MS_PROGRESS_SMOOTHING), 1e-9);
	for (int i = 0; i < 60; i++) /* the stall goes on: the rate goes to zero */
		ms_progress_rate_tick(&r, 11.5 + 0.5 * i, 150 * MIB);
	assert_true(r.mib_s < 0.01);
}

/* What the engine names, as the line shows it. */
static void test_describe(void **state)
{
	struct ms_manifest_table tables[2] = { { .schema = "public", .name = "core_user" },
					       { .schema = "public", .name = "admin_domain" } };
	struct ms_manifest_db db = { .alias = "default", .tables = tables, .n_tables = 2 };
	struct ms_progress p;
	char buf[64];

	(void)state;
	ms_progress_init(&p);
	ms_progress_describe(&p, buf, sizeof(buf));
	assert_string_equal(buf, "");
	ms_progress_component(&p, "instance");
	ms_progress_describe(&p, buf, sizeof(buf));
	assert_string_equal(buf, "instance");
	ms_progress_db(&p, &db);
	ms_progress_describe(&p, buf, sizeof(buf));
	assert_string_equal(buf, "db:default");
	ms_progress_table(&p, 1);
	ms_progress_describe(&p, buf, sizeof(buf));
	assert_string_equal(buf, "db:default admin_domain");
	ms_progress_table(&p, 7); /* out of range: the database only */
	ms_progress_describe(&p, buf, sizeof(buf));
	assert_string_equal(buf, "db:default");
	ms_progress_component(NULL, "postfix"); /* nobody watching: a no-op */
}

/* The total of a component: its file members' sizes. */
static void test_member_bytes(void **state)
{
	struct ms_manifest_entry e[4] = { 0 };
	struct ms_manifest m = { 0 };

	(void)state;
	e[0].e.path = "files/instance";
	e[0].e.type = MS_ENTRY_DIR;
	e[1].e.path = "files/instance/manage.py";
	e[1].e.type = MS_ENTRY_FILE;
	e[1].e.size = 100;
	e[2].e.path = "db/default/data/public.core_user/000001.copy";
	e[2].e.type = MS_ENTRY_FILE;
	e[2].e.size = 1000;
	e[3].e.path = "db/defaultx/schema-pre.sql";
	e[3].e.type = MS_ENTRY_FILE;
	e[3].e.size = 7;
	m.entries = e;
	m.n_entries = 4;
	assert_int_equal(ms_progress_member_bytes(&m, "files/instance/"), 100);
	assert_int_equal(ms_progress_member_bytes(&m, "db/default/"), 1000);
	assert_int_equal(ms_progress_member_bytes(&m, "db/"), 1007);
	assert_int_equal(ms_progress_member_bytes(&m, "files/postfix/"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_eta_at_start), cmocka_unit_test(test_text_forms),
		cmocka_unit_test(test_rate_smoothing), cmocka_unit_test(test_describe),
		cmocka_unit_test(test_member_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
