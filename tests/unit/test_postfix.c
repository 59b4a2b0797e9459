/*
 * Unit tests for src/discover/postfix.c: checksum file parsing (valid and malformed
 * lines, with the exact error), and scanning a Postfix directory: map
 * states against MD5s computed independently with md5sum(1), sorting,
 * main.cf/master.cf presence and directory errors. Each case works in a
 * fresh temporary directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/log.h"
#include "discover/postfix.h"
#include "base/util.h"
#include "testutil.h"

/* Map contents and their MD5, from `printf '...' | md5sum`. */
#define MAP_DOMAINS "user = modoboa\npassword = s3cr3t\ndbname = modoboa\nhosts = 127.0.0.1\n" \
	"query = SELECT name FROM admin_domain\n"
#define MD5_DOMAINS "03c2a4ec788231dc852d0e8cdb9ad3b3"
#define MAP_ALIASES "user = modoboa\npassword = s3cr3t\ndbname = modoboa\nhosts = 127.0.0.1\n" \
	"query = SELECT address FROM aliases\n"
#define MD5_ALIASES "fd12680ed4dab644cfa5d5ad6b4dc2c9"
#define MAP_EDITED "edited by hand\n"
#define MD5_EDITED "525d944c39742ab2bcf8691629809e41"
#define MD5_EMPTY "d41d8cd98f00b204e9800998ecf8427e"

/* --- checksum file parsing -------------------------------------------------- */

struct chk_case {
	const char *name;
	const char *text;
	int bad_line;        /* 0: valid; else the line warned about as malformed */
	size_t n;            /* well-formed entries expected */
	const char *file;    /* expected last entry */
	const char *dbtype;
	const char *md5;
};

static const struct chk_case chk_cases[] = {
	{ "one line", "sql-domains.cf:postgres:" MD5_DOMAINS "\n", 0, 1,
	  "sql-domains.cf", "postgres", MD5_DOMAINS },
	{ "uppercase md5 stored lowercase", "sql-domains.cf:mysql:03C2A4EC788231DC852D0E8CDB9AD3B3\n",
	  0, 1, "sql-domains.cf", "mysql", MD5_DOMAINS },
	{ "mixed-case md5", "a.cf:sqlite:03c2A4EC788231dc852d0e8cdb9ad3B3\n", 0, 1,
	  "a.cf", "sqlite", MD5_DOMAINS },
	{ "blank lines ignored", "\nsql-a.cf:postgres:" MD5_EMPTY "\n\n  \t\nsql-b.cf:postgres:"
	  MD5_ALIASES "\n\n", 0, 2, "sql-b.cf", "postgres", MD5_ALIASES },
	{ "CRLF", "sql-a.cf:postgres:" MD5_EMPTY "\r\nsql-b.cf:postgres:" MD5_EDITED "\r\n", 0, 2,
	  "sql-b.cf", "postgres", MD5_EDITED },
	{ "surrounding blanks", "  sql-a.cf:postgres:" MD5_EMPTY " \t\n", 0, 1,
	  "sql-a.cf", "postgres", MD5_EMPTY },
	{ "no final newline", "sql-a.cf:postgres:" MD5_EMPTY, 0, 1, "sql-a.cf", "postgres", MD5_EMPTY },
	{ "empty file", "", 0, 0, NULL, NULL, NULL },
	{ "only blank lines", "\n\r\n \n", 0, 0, NULL, NULL, NULL },
	{ "two fields", "sql-a.cf:" MD5_EMPTY "\n", 1, 0, NULL, NULL, NULL },
	{ "one field", "sql-a.cf\n", 1, 0, NULL, NULL, NULL },
	{ "31 hex digits", "sql-a.cf:postgres:d41d8cd98f00b204e9800998ecf8427\n", 1, 0, NULL, NULL, NULL },
	{ "33 hex digits", "sql-a.cf:postgres:d41d8cd98f00b204e9800998ecf8427ee\n", 1, 0, NULL, NULL, NULL },
	{ "not hex", "sql-a.cf:postgres:g41d8cd98f00b204e9800998ecf8427e\n", 1, 0, NULL, NULL, NULL },
	{ "empty file name", ":postgres:" MD5_EMPTY "\n", 1, 0, NULL, NULL, NULL },
	{ "empty dbtype", "sql-a.cf::" MD5_EMPTY "\n", 1, 0, NULL, NULL, NULL },
	{ "four fields", "sql-a.cf:postgres:x:" MD5_EMPTY "\n", 1, 0, NULL, NULL, NULL },
	{ "Modoboa's dict for an edited map", "sql-a.cf:postgres:" MD5_EMPTY "\n"
	  "sql-domains.cf:postgres:{'dbtype': 'postgres', 'checksum': '" MD5_DOMAINS "'}\n",
	  0, 2, "sql-domains.cf", "postgres", MD5_DOMAINS },
	{ "dict without a checksum", "sql-domains.cf:postgres:{'dbtype': 'postgres'}\n",
	  1, 0, NULL, NULL, NULL },
	{ "dict with a short checksum", "sql-domains.cf:postgres:{'checksum': 'abc'}\n",
	  1, 0, NULL, NULL, NULL },
	{ "dict not closed", "sql-domains.cf:postgres:{'checksum': '" MD5_DOMAINS "'\n",
	  1, 0, NULL, NULL, NULL },
	{ "path instead of a base name", "../main.cf:postgres:" MD5_EMPTY "\n", 1, 0, NULL, NULL, NULL },
	{ "absolute path", "/etc/postfix/sql-a.cf:postgres:" MD5_EMPTY "\n", 1, 0, NULL, NULL, NULL },
	{ "dot-dot", "..:postgres:" MD5_EMPTY "\n", 1, 0, NULL, NULL, NULL },
	{ "error line counts blank lines", "sql-a.cf:postgres:" MD5_EMPTY "\n\nsql-b.cf:postgres:"
	  MD5_EMPTY "\nsql-c.cf:postgres\n", 4, 2, "sql-b.cf", "postgres", MD5_EMPTY },
	{ "garbage between good lines", "sql-a.cf:postgres:" MD5_EMPTY "\n\x01\xff garbage \xfe\n"
	  "sql-b.cf:mysql:" MD5_ALIASES "\n", 2, 2, "sql-b.cf", "mysql", MD5_ALIASES },
};

static void test_chk(void **state)
{
	const struct test_fixture *fx = *state;
	const struct chk_case *c = fx->row;
	struct ms_chk_entry *e = NULL;
	size_t n = 99;
	char *err;
	int ret;

	capture_start();
	ret = ms_chk_parse("/etc/postfix/" MS_POSTFIX_CHK_NAME, c->text, &e, &n);
	err = capture_end();
	/* a malformed line is a warning (exit 3), never a failure: the rest
	 * of the file is still used */
	assert_int_equal(ret, 0);
	if (c->bad_line) {
		char *expect = ms_xasprintf("modosnap: warning: '/etc/postfix/" MS_POSTFIX_CHK_NAME
					    "':%d: malformed line in checksum file "
					    "(expected FILE:DBTYPE:MD5); ignored\n", c->bad_line);

		assert_string_equal(err, expect);
		free(expect);
	} else {
		assert_string_equal(err, "");
	}
	assert_int_equal(n, c->n);
	if (n) {
		assert_string_equal(e[n - 1].file, c->file);
		assert_string_equal(e[n - 1].dbtype, c->dbtype);
		assert_string_equal(e[n - 1].md5, c->md5);
	} else {
		assert_null(e);
	}
	ms_chk_entries_free(e, n);
	free(err);
}

/* --- scanning --------------------------------------------------------------- */

static const struct ms_postfix_map *map_at(const struct ms_postfix *p, size_t i, const char *name)
{
	assert_true(i < p->n_maps);
	assert_string_equal(p->maps[i].name, name);
	return &p->maps[i];
}

static void expect_map(const struct ms_postfix *p, size_t i, const char *name,
		       enum ms_map_state st, const char *dbtype, const char *md5)
{
	const struct ms_postfix_map *m = map_at(p, i, name);
	char *path = ms_path_join(p->dir, name);

	assert_string_equal(m->path, path);
	assert_string_equal(ms_map_state_name(m->state), ms_map_state_name(st));
	if (dbtype)
		assert_string_equal(m->dbtype, dbtype);
	else
		assert_null(m->dbtype);
	assert_string_equal(m->md5, md5);
	free(path);
}

static struct ms_postfix *scan_ok(const char *dir)
{
	struct ms_postfix *p;
	char *err;

	capture_start();
	p = ms_postfix_scan(dir);
	err = capture_end();
	assert_string_equal(err, "");
	assert_non_null(p);
	free(err);
	return p;
}

static void test_scan_states(void **state)
{
	const struct test_fixture *fx = *state;
	const char *d = fx->dir;
	struct ms_postfix *p;
	char *chk = ms_path_join(d, MS_POSTFIX_CHK_NAME), *main_cf = ms_path_join(d, "main.cf");

	test_put_file(d, "sql-transport.cf", MAP_ALIASES, 0644); /* not in the .chk file */
	test_put_file(d, "sql-domains.cf", MAP_DOMAINS, 0644);   /* as generated */
	test_put_file(d, "sql-aliases.cf", MAP_EDITED, 0644);    /* edited since */
	test_put_file(d, "custom-map.cf", "", 0644);             /* only the .chk file names it */
	test_put_file(d, "main.cf", "virtual_mailbox_domains = proxy:pgsql:/etc/postfix/sql-domains.cf\n", 0644);
	test_put_file(d, "other.cf", "", 0644);
	test_put_file(d, "sql-domains.cf.bak", MAP_DOMAINS, 0644);
	test_put_dir(d, "sql-dir.cf", 0700);
	test_put_symlink(d, "sql-dangling.cf", "nowhere");
	test_put_file(d, MS_POSTFIX_CHK_NAME,
		      "sql-domains.cf:postgres:" "03C2A4EC788231DC852D0E8CDB9AD3B3\n"
		      "sql-aliases.cf:postgres:" MD5_ALIASES "\n"
		      "sql-maintain.cf:postgres:" MD5_ALIASES "\n"
		      "custom-map.cf:mysql:" MD5_EMPTY "\n", 0644);
	p = scan_ok(d);
	assert_string_equal(p->dir, d);
	assert_int_equal(p->n_maps, 5);
	expect_map(p, 0, "custom-map.cf", MS_MAP_MATCHES, "mysql", MD5_EMPTY);
	expect_map(p, 1, "sql-aliases.cf", MS_MAP_EDITED, "postgres", MD5_EDITED);
	expect_map(p, 2, "sql-domains.cf", MS_MAP_MATCHES, "postgres", MD5_DOMAINS);
	expect_map(p, 3, "sql-maintain.cf", MS_MAP_MISSING, "postgres", "");
	expect_map(p, 4, "sql-transport.cf", MS_MAP_UNRECORDED, NULL, MD5_ALIASES);
	assert_string_equal(p->chk_path, chk);
	assert_string_equal(p->main_cf, main_cf);
	assert_null(p->master_cf);
	ms_postfix_free(p);
	free(main_cf);
	free(chk);
}

static void test_scan_no_chk(void **state)
{
	const struct test_fixture *fx = *state;
	const char *d = fx->dir;
	struct ms_postfix *p;
	char *main_cf = ms_path_join(d, "main.cf"), *master_cf = ms_path_join(d, "master.cf");

	test_put_file(d, "sql-domains.cf", MAP_DOMAINS, 0644);
	test_put_file(d, "sql-aliases.cf", MAP_ALIASES, 0644);
	test_put_symlink(d, "sql-linked.cf", "sql-domains.cf");
	test_put_file(d, "main.cf", "", 0644);
	test_put_file(d, "master.cf", "", 0644);
	p = scan_ok(d);
	assert_int_equal(p->n_maps, 3);
	expect_map(p, 0, "sql-aliases.cf", MS_MAP_UNRECORDED, NULL, MD5_ALIASES);
	expect_map(p, 1, "sql-domains.cf", MS_MAP_UNRECORDED, NULL, MD5_DOMAINS);
	expect_map(p, 2, "sql-linked.cf", MS_MAP_UNRECORDED, NULL, MD5_DOMAINS);
	assert_null(p->chk_path);
	assert_string_equal(p->main_cf, main_cf);
	assert_string_equal(p->master_cf, master_cf);
	ms_postfix_free(p);
	free(master_cf);
	free(main_cf);
}

static void test_scan_empty(void **state)
{
	const struct test_fixture *fx = *state;
	struct ms_postfix *p = scan_ok(fx->dir);

	assert_int_equal(p->n_maps, 0);
	assert_null(p->chk_path);
	assert_null(p->main_cf);
	assert_null(p->master_cf);
	ms_postfix_free(p);
	ms_postfix_free(NULL);
}

static void test_scan_only_chk(void **state)
{
	const struct test_fixture *fx = *state;
	struct ms_postfix *p;

	test_put_file(fx->dir, MS_POSTFIX_CHK_NAME, "sql-b.cf:postgres:" MD5_EMPTY "\n"
		      "sql-a.cf:postgres:" MD5_EMPTY "\n", 0644);
	test_put_file(fx->dir, "master.cf", "", 0644);
	p = scan_ok(fx->dir);
	assert_int_equal(p->n_maps, 2);
	expect_map(p, 0, "sql-a.cf", MS_MAP_MISSING, "postgres", "");
	expect_map(p, 1, "sql-b.cf", MS_MAP_MISSING, "postgres", "");
	assert_null(p->main_cf);
	assert_non_null(p->master_cf);
	ms_postfix_free(p);
}

static void expect_scan_error(const char *dir, const char *expect)
{
	struct ms_postfix *p;
	char *err;

	capture_start();
	p = ms_postfix_scan(dir);
	err = capture_end();
	assert_null(p);
	assert_string_equal(err, expect);
	free(err);
}

static void test_scan_missing_dir(void **state)
{
	const struct test_fixture *fx = *state;
	char *dir = ms_path_join(fx->dir, "postfix");
	char *expect = ms_xasprintf("modosnap: error: postfix directory '%s' not found: "
				    "No such file or directory\n", dir);

	expect_scan_error(dir, expect);
	free(expect);
	free(dir);
}

static void test_scan_not_a_dir(void **state)
{
	const struct test_fixture *fx = *state;
	char *dir = ms_path_join(fx->dir, "main.cf");
	char *expect = ms_xasprintf("modosnap: error: unable to read postfix directory '%s': "
				    "Not a directory\n", dir);

	test_put_file(fx->dir, "main.cf", "", 0644);
	expect_scan_error(dir, expect);
	free(expect);
	free(dir);
}

/* One garbage line: a warning naming the file and line, the scan goes on
 * with the good lines (the checksum file is still there to capture). */
static void test_scan_bad_chk(void **state)
{
	const struct test_fixture *fx = *state;
	char *expect = ms_xasprintf("modosnap: warning: '%s/" MS_POSTFIX_CHK_NAME "':2: malformed line "
				    "in checksum file (expected FILE:DBTYPE:MD5); ignored\n", fx->dir);
	char *chk = ms_path_join(fx->dir, MS_POSTFIX_CHK_NAME), *err;
	struct ms_postfix *p;
	unsigned long warnings = ms_log_warning_count();

	test_put_file(fx->dir, "sql-domains.cf", MAP_DOMAINS, 0644);
	test_put_file(fx->dir, MS_POSTFIX_CHK_NAME, "sql-domains.cf:postgres:" MD5_DOMAINS "\nbroken\n", 0644);
	capture_start();
	p = ms_postfix_scan(fx->dir);
	err = capture_end();
	assert_non_null(p);
	assert_string_equal(err, expect);
	assert_true(ms_log_warning_count() == warnings + 1);
	assert_non_null(p->chk_path);
	assert_string_equal(p->chk_path, chk);
	expect_map(p, 0, "sql-domains.cf", MS_MAP_MATCHES, "postgres", MD5_DOMAINS);
	ms_postfix_free(p);
	free(err);
	free(chk);
	free(expect);
}

/* Many garbage lines: five named, the rest counted in one line. */
static void test_scan_many_bad_lines(void **state)
{
	const struct test_fixture *fx = *state;
	char *chk = ms_path_join(fx->dir, MS_POSTFIX_CHK_NAME), *err, *expect;
	struct ms_postfix *p;

	test_put_file(fx->dir, MS_POSTFIX_CHK_NAME, "a\nb\nc\nd\ne\nf\ng\n", 0644);
	capture_start();
	p = ms_postfix_scan(fx->dir);
	err = capture_end();
	assert_non_null(p);
	expect = ms_xasprintf("modosnap: warning: '%1$s':1: malformed line in checksum file (expected "
			      "FILE:DBTYPE:MD5); ignored\n"
			      "modosnap: warning: '%1$s':2: malformed line in checksum file (expected "
			      "FILE:DBTYPE:MD5); ignored\n"
			      "modosnap: warning: '%1$s':3: malformed line in checksum file (expected "
			      "FILE:DBTYPE:MD5); ignored\n"
			      "modosnap: warning: '%1$s':4: malformed line in checksum file (expected "
			      "FILE:DBTYPE:MD5); ignored\n"
			      "modosnap: warning: '%1$s':5: malformed line in checksum file (expected "
			      "FILE:DBTYPE:MD5); ignored\n"
			      "modosnap: warning: '%1$s': 2 more malformed lines ignored\n", chk);
	assert_string_equal(err, expect);
	assert_int_equal(p->n_maps, 0);
	ms_postfix_free(p);
	free(err);
	free(chk);
	free(expect);
}

static void test_state_names(void **state)
{
	(void)state;
	assert_string_equal(ms_map_state_name(MS_MAP_MATCHES), "matches");
	assert_string_equal(ms_map_state_name(MS_MAP_EDITED), "edited");
	assert_string_equal(ms_map_state_name(MS_MAP_UNRECORDED), "unrecorded");
	assert_string_equal(ms_map_state_name(MS_MAP_MISSING), "missing");
}

/* --- main ------------------------------------------------------------------- */

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const struct { const char *name; CMUnitTestFunction fn; } plain_tests[] = {
	{ "scan: every state, sorted", test_scan_states },
	{ "scan: no checksum file", test_scan_no_chk },
	{ "scan: empty directory", test_scan_empty },
	{ "scan: checksum file only", test_scan_only_chk },
	{ "scan: missing directory", test_scan_missing_dir },
	{ "scan: not a directory", test_scan_not_a_dir },
	{ "scan: malformed checksum file", test_scan_bad_chk },
	{ "scan: many malformed lines", test_scan_many_bad_lines },
	{ "state names", test_state_names },
};

#define N_TESTS (N_OF(chk_cases) + N_OF(plain_tests))

int main(void)
{
	static struct CMUnitTest tests[N_TESTS];
	static char names[N_TESTS][160];
	size_t n = 0;

	for (size_t i = 0; i < N_OF(chk_cases); i++, n++) {
		snprintf(names[n], sizeof(names[n]), "chk: %s", chk_cases[i].name);
		tests[n] = (struct CMUnitTest){ names[n], test_chk, test_fixture_setup, test_fixture_teardown,
						(void *)&chk_cases[i] };
	}
	for (size_t i = 0; i < N_OF(plain_tests); i++, n++)
		tests[n] = (struct CMUnitTest){ plain_tests[i].name, plain_tests[i].fn, test_fixture_setup,
						test_fixture_teardown, NULL };
	return _cmocka_run_group_tests("postfix", tests, n, NULL, NULL);
}
