/*
 * Unit tests for src/discover/distinfo.c: virtualenv discovery in order of
 * precedence, the Python version from each source, METADATA parsing, PEP
 * 503 names and site-packages scanning. Each case builds its directory
 * tree in a fresh temporary directory.
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

#include "discover/distinfo.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "testutil.h"

/* --- building trees --------------------------------------------------------- */

/* Creates one entry under dir: "a/b/" is a directory, "a/f|TEXT" a file
 * holding TEXT, "a/l->TARGET" a symlink; @D@ is dir in all parts. */
static void put(const char *dir, const char *spec)
{
	char *s = test_subst(spec, dir, NULL);
	char *bar = strchr(s, '|'), *arrow = strstr(s, "->");
	char *path, *parent;

	if (bar)
		*bar = '\0';
	else if (arrow)
		*arrow = '\0';
	path = ms_path_join(dir, s);
	if (!bar && !arrow) {
		test_mkdirs(path, NULL);
	} else {
		parent = ms_path_dirname(path);
		test_mkdirs(parent, NULL);
		free(parent);
		if (arrow)
			assert_int_equal(symlink(arrow + 2, path), 0);
		else
			test_write_file(path, bar + 1, strlen(bar + 1), 0644);
	}
	free(path);
	free(s);
}

static void put_all(const char *dir, const char *const *specs)
{
	for (; specs && *specs; specs++)
		put(dir, *specs);
}

/* --- virtualenv discovery --------------------------------------------------- */

#define INSTANCE "@D@/srv/instance"
#define PYVENV_CFG "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.2\n"
#define VENV(dir) dir "/pyvenv.cfg|" PYVENV_CFG, dir "/lib/python3.11/site-packages/"

struct venv_case {
	const char *name;
	const char *files[8];   /* put() specs */
	const char *instance;   /* @D@ substituted */
	const char *override;   /* NULL or, @D@ substituted, the config's venv */
	const char *path;       /* expected virtualenv, NULL when none is found */
	const char *found_by;
	const char *error;      /* expected stderr when path is NULL */
};

static const struct venv_case venv_cases[] = {
	{ "config override wins", { VENV("custom"), VENV("venv2"), VENV("srv/env"),
	  "srv/instance/manage.py|#!@D@/venv2/bin/python3\n" },
	  INSTANCE, "@D@/custom", "@D@/custom", "config", NULL },
	{ "config override without a virtualenv", { "custom/", VENV("srv/env") },
	  INSTANCE, "@D@/custom", NULL, NULL,
	  "modosnap: error: virtualenv '@D@/custom' set in the config file has neither pyvenv.cfg "
	  "nor lib/python3.*/site-packages\n" },
	{ "manage.py before sibling env/", { VENV("venv2"), VENV("srv/env"),
	  "srv/instance/manage.py|#!@D@/venv2/bin/python3\nimport os\n" },
	  INSTANCE, NULL, "@D@/venv2", "manage.py", NULL },
	{ "manage.py with blanks and arguments", { VENV("venv2"), VENV("srv/env"),
	  "srv/instance/manage.py|#! @D@/venv2/bin/python3 -u\n" },
	  INSTANCE, NULL, "@D@/venv2", "manage.py", NULL },
	{ "manage.py with CRLF", { VENV("venv2"),
	  "srv/instance/manage.py|#!@D@/venv2/bin/python\r\nimport os\r\n" },
	  INSTANCE, NULL, "@D@/venv2", "manage.py", NULL },
	{ "manage.py interpreter is a symlink out of the venv", { VENV("venv2"),
	  "venv2/bin/python3->/usr/bin/python3", "srv/instance/manage.py|#!@D@/venv2/bin/python3\n" },
	  INSTANCE, NULL, "@D@/venv2", "manage.py", NULL },
	{ "manage.py venv with only site-packages", { "venv2/lib/python3.11/site-packages/",
	  "srv/instance/manage.py|#!@D@/venv2/bin/python3\n" },
	  INSTANCE, NULL, "@D@/venv2", "manage.py", NULL },
	{ "/usr/bin/env gives nothing: sibling env/", { VENV("srv/env"),
	  "srv/instance/manage.py|#!/usr/bin/env python3\n" },
	  INSTANCE, NULL, "@D@/srv/env", "sibling env/", NULL },
	{ "no manage.py: sibling env/", { VENV("srv/env"), "srv/instance/" },
	  INSTANCE, NULL, "@D@/srv/env", "sibling env/", NULL },
	{ "manage.py names no virtualenv: sibling env/", { VENV("srv/env"),
	  "srv/instance/manage.py|#!@D@/x/bin/python\n" },
	  INSTANCE, NULL, "@D@/srv/env", "sibling env/", NULL },
	{ "interpreter outside bin/: sibling env/", { VENV("srv/env"), VENV("venv2"),
	  "srv/instance/manage.py|#!@D@/venv2/sbin/python3\n" },
	  INSTANCE, NULL, "@D@/srv/env", "sibling env/", NULL },
	{ "instance with a trailing slash", { VENV("srv/env"), "srv/instance/" },
	  INSTANCE "//", NULL, "@D@/srv/env", "sibling env/", NULL },
	{ "nothing found", { "srv/instance/manage.py|#!@D@/x/bin/python\n", "srv/env/" },
	  INSTANCE, NULL, NULL, NULL,
	  "modosnap: error: no virtualenv found for instance '@D@/srv/instance' (looked at: "
	  "manage.py interpreter '@D@/x/bin/python', '@D@/srv/env'); set 'venv' in the config file\n" },
	{ "nothing found, no manage.py", { "srv/instance/" },
	  INSTANCE, NULL, NULL, NULL,
	  "modosnap: error: no virtualenv found for instance '@D@/srv/instance' (looked at: "
	  "'@D@/srv/instance/manage.py' (No such file or directory), '@D@/srv/env'); "
	  "set 'venv' in the config file\n" },
	{ "nothing found, env interpreter", { "srv/instance/manage.py|#!/usr/bin/env python3\n" },
	  INSTANCE, NULL, NULL, NULL,
	  "modosnap: error: no virtualenv found for instance '@D@/srv/instance' (looked at: "
	  "manage.py interpreter '/usr/bin/env python3', '@D@/srv/env'); set 'venv' in the config file\n" },
	{ "nothing found, no #! line", { "srv/instance/manage.py|import os\n" },
	  INSTANCE, NULL, NULL, NULL,
	  "modosnap: error: no virtualenv found for instance '@D@/srv/instance' (looked at: "
	  "'@D@/srv/instance/manage.py' (no #! line), '@D@/srv/env'); set 'venv' in the config file\n" },
	{ "pyvenv.cfg but no site-packages", { "srv/env/pyvenv.cfg|" PYVENV_CFG, "srv/instance/" },
	  INSTANCE, NULL, NULL, NULL,
	  "modosnap: error: virtualenv '@D@/srv/env' (found by sibling env/) has no "
	  "lib/python3.*/site-packages directory\n" },
};

static void test_venv(void **state)
{
	const struct test_fixture *fx = *state;
	const struct venv_case *c = fx->row;
	char *instance = test_subst(c->instance, fx->dir, NULL);
	char *override = c->override ? test_subst(c->override, fx->dir, NULL) : NULL;
	struct ms_venv v = { 0 };
	char *err;
	int ret;

	put_all(fx->dir, c->files);
	capture_start();
	ret = ms_venv_find(instance, override, &v);
	err = capture_end();
	if (c->path) {
		char *path = test_subst(c->path, fx->dir, NULL);
		char *site = ms_path_join(path, "lib/python3.11/site-packages");

		assert_string_equal(err, "");
		assert_int_equal(ret, 0);
		assert_string_equal(v.path, path);
		assert_string_equal(v.found_by, c->found_by);
		assert_string_equal(v.site_packages, site);
		assert_non_null(v.python_version);
		free(site);
		free(path);
	} else {
		char *expect = test_subst(c->error, fx->dir, NULL);

		assert_int_equal(ret, -1);
		assert_string_equal(err, expect);
		assert_null(v.path); /* untouched on failure */
		free(expect);
	}
	ms_venv_clear(&v);
	assert_null(v.path);
	free(err);
	free(override);
	free(instance);
}

/* --- Python version and site-packages --------------------------------------- */

struct pyver_case {
	const char *name;
	const char *files[6]; /* put() specs under the sibling env/ */
	const char *version;  /* expected python_version */
	const char *site;     /* expected site-packages, below env/lib/ */
	const char *debug;    /* expected in the debug output, or NULL */
};

#define SP(v) "srv/env/lib/python" v "/site-packages/"

static const struct pyver_case pyver_cases[] = {
	{ "pyvenv.cfg version", { "srv/env/pyvenv.cfg|home = /usr/bin\nversion = 3.11.2\n", SP("3.11") },
	  "3.11.2", "python3.11", NULL },
	{ "pyvenv.cfg version_info", { "srv/env/pyvenv.cfg|home = /usr/bin\nimplementation = CPython\n"
	  "version_info = 3.11.2.final.0\nvirtualenv = 20.24.1\n", SP("3.11") },
	  "3.11.2", "python3.11", NULL },
	{ "version preferred to version_info", { "srv/env/pyvenv.cfg|version_info = 3.12.1.final.0\n"
	  "version = 3.11.4\n", SP("3.11") }, "3.11.4", "python3.11", NULL },
	{ "uv's version_info", { "srv/env/pyvenv.cfg|home = /usr/bin\nversion_info = 3.12.1\n", SP("3.12") },
	  "3.12.1", "python3.12", NULL },
	{ "key case and no blanks", { "srv/env/pyvenv.cfg|Version=3.9.2\r\n", SP("3.9") },
	  "3.9.2", "python3.9", NULL },
	{ "pre-release truncated", { "srv/env/pyvenv.cfg|version = 3.13.0rc2\n", SP("3.13") },
	  "3.13.0", "python3.13", NULL },
	{ "pyvenv.cfg without version: lib dir", { "srv/env/pyvenv.cfg|home = /usr/bin\n", SP("3.11") },
	  "3.11", "python3.11", NULL },
	{ "unparsable version: lib dir", { "srv/env/pyvenv.cfg|version = unknown\n", SP("3.10") },
	  "3.10", "python3.10", NULL },
	{ "no pyvenv.cfg: lib dir", { SP("3.11") }, "3.11", "python3.11", NULL },
	/* 3.11 is neither first nor last in creation (or directory) order, and
	 * 3.9 sorts last as a string. */
	{ "highest of several, compared as numbers", { "srv/env/pyvenv.cfg|version = 3.11.2\n",
	  SP("3.9"), SP("3.11"), SP("3.10"), SP("3.8") }, "3.11.2", "python3.11",
	  "has 4 lib/python3.*/site-packages directories: using python3.11" },
	{ "lib dir without site-packages ignored", { SP("3.11"), "srv/env/lib/python3.12/",
	  "srv/env/lib/python3.x/site-packages/" }, "3.11", "python3.11", NULL },
};

static void test_pyver(void **state)
{
	const struct test_fixture *fx = *state;
	const struct pyver_case *c = fx->row;
	char *instance = test_subst(INSTANCE, fx->dir, NULL);
	char *site = ms_xasprintf("%s/srv/env/lib/%s/site-packages", fx->dir, c->site);
	struct ms_venv v = { 0 };
	char *err;

	put_all(fx->dir, c->files);
	ms_log_set_level(MS_LOG_DEBUG);
	capture_start();
	assert_int_equal(ms_venv_find(instance, NULL, &v), 0);
	err = capture_end();
	assert_null(strstr(err, "error"));
	if (c->debug)
		assert_non_null(strstr(err, c->debug));
	else
		assert_null(strstr(err, "site-packages directories"));
	assert_string_equal(v.found_by, "sibling env/");
	assert_non_null(v.python_version);
	assert_string_equal(v.python_version, c->version);
	assert_string_equal(v.site_packages, site);
	ms_venv_clear(&v);
	free(err);
	free(site);
	free(instance);
}

/* --- METADATA --------------------------------------------------------------- */

struct meta_case {
	const char *name;
	const char *text;
	const char *dist;    /* expected Name, NULL when parsing fails */
	const char *version;
};

static const struct meta_case meta_cases[] = {
	{ "typical", "Metadata-Version: 2.1\nName: modoboa\nVersion: 2.2.4\nSummary: Mail hosting\n"
	  "Requires-Dist: Django\n\nModoboa\n=======\n", "modoboa", "2.2.4" },
	{ "CRLF", "Metadata-Version: 2.1\r\nName: modoboa-amavis\r\nVersion: 1.5.0\r\n\r\nbody\r\n",
	  "modoboa-amavis", "1.5.0" },
	{ "missing Version", "Metadata-Version: 2.1\nName: modoboa\nSummary: x\n", NULL, NULL },
	{ "missing Name", "Metadata-Version: 2.1\nVersion: 1.0\n", NULL, NULL },
	{ "header names ignore case", "NAME: Django\nversion: 4.2.11\n", "Django", "4.2.11" },
	{ "Version only in the body", "Name: a\nSummary: b\n\nVersion: 9.9\n", NULL, NULL },
	{ "Version in the body ignored", "Name: a\nVersion: 1.0\n\nVersion: 9.9\n", "a", "1.0" },
	{ "CRLF blank line ends the headers", "Name: a\r\n\r\nVersion: 1.0\r\n", NULL, NULL },
	{ "Metadata-Version is not Version", "Metadata-Version: 2.1\nName: a\n", NULL, NULL },
	{ "folded header skipped", "Name: a\nDescription: x\n  Version: 5\n\tName: b\nVersion: 1.0\n",
	  "a", "1.0" },
	{ "blanks around values", "Name:   a b  \nVersion:\t1.0 \n", "a b", "1.0" },
	{ "empty value is missing", "Name:\nVersion: 1.0\n", NULL, NULL },
	{ "first occurrence wins", "Name: a\nName: b\nVersion: 1\nVersion: 2\n", "a", "1" },
	{ "no final newline", "Name: a\nVersion: 1.0", "a", "1.0" },
	{ "empty text", "", NULL, NULL },
	{ "line without a colon tolerated", "Name: a\ngarbage\nVersion: 3\n", "a", "3" },
};

static void test_metadata(void **state)
{
	const struct test_fixture *fx = *state;
	const struct meta_case *c = fx->row;
	char *name = NULL, *version = NULL;
	int ret = ms_distinfo_parse_metadata(c->text, &name, &version);

	if (!c->dist) {
		assert_int_equal(ret, -1);
		assert_null(name);
		assert_null(version);
		return;
	}
	assert_int_equal(ret, 0);
	assert_string_equal(name, c->dist);
	assert_string_equal(version, c->version);
	free(name);
	free(version);
}

/* --- PEP 503 names ---------------------------------------------------------- */

static const struct { const char *in, *out; } norm_cases[] = {
	{ "modoboa", "modoboa" },
	{ "Modoboa-Amavis", "modoboa-amavis" },
	{ "modoboa_amavis", "modoboa-amavis" },
	{ "modoboa.amavis", "modoboa-amavis" },
	{ "Django", "django" },
	{ "zope.interface", "zope-interface" },
	{ "a._-b", "a-b" },
	{ "a--b__c..d", "a-b-c-d" },
	{ "-x_", "-x-" },
	{ "Py3DNS", "py3dns" },
	{ "", "" },
};

static void test_normalize(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(norm_cases) / sizeof(norm_cases[0]); i++) {
		char *got = ms_pkg_normalize(norm_cases[i].in);

		assert_string_equal(got, norm_cases[i].out);
		free(got);
	}
}

/* --- scanning site-packages ------------------------------------------------- */

static const char *const scan_tree[] = {
	"sp/Django-4.2.11.dist-info/METADATA|Metadata-Version: 2.1\nName: Django\nVersion: 4.2.11\n",
	"sp/broken-1.0.dist-info/",
	"sp/dangling-1.0.dist-info/METADATA->@D@/nowhere",
	"sp/dirmeta-1.0.dist-info/METADATA/",
	"sp/modoboa-2.2.4.dist-info/METADATA|Metadata-Version: 2.1\r\nName: modoboa\r\n"
	"Version: 2.2.4\r\n\r\nbody\r\n",
	"sp/modoboa_amavis-1.5.0.dist-info/METADATA|Metadata-Version: 2.1\nName: modoboa-amavis\n"
	"Version: 1.5.0\n",
	"sp/notadir-1.0.dist-info|just a file\n",
	"sp/noversion-1.0.dist-info/METADATA|Metadata-Version: 2.1\nName: noversion\n",
	"sp/zope.interface-6.0.dist-info/METADATA|Name: zope.interface\nVersion: 6.0\n",
	"sp/modoboa/__init__.py|\n",
	"sp/foo-1.0.egg-info/PKG-INFO|Name: foo\nVersion: 1.0\n",
	"sp/.dist-info/METADATA|Name: hidden\nVersion: 1.0\n",
	NULL,
};

static void test_scan(void **state)
{
	const struct test_fixture *fx = *state;
	char *sp = ms_path_join(fx->dir, "sp");
	char *expect = ms_xasprintf(
		"modosnap: debug: skipping '%1$s/broken-1.0.dist-info/METADATA': No such file or directory\n"
		"modosnap: debug: skipping '%1$s/dangling-1.0.dist-info/METADATA': No such file or directory\n"
		"modosnap: debug: skipping '%1$s/dirmeta-1.0.dist-info/METADATA': Is a directory\n"
		"modosnap: debug: skipping '%1$s/notadir-1.0.dist-info/METADATA': Not a directory\n"
		"modosnap: debug: skipping '%1$s/noversion-1.0.dist-info/METADATA': no Name or Version header\n"
		"modosnap: debug: '%1$s': 4 installed distributions\n", sp);
	struct ms_distinfo *d;
	char *err;

	put_all(fx->dir, scan_tree);
	ms_log_set_level(MS_LOG_DEBUG);
	capture_start();
	d = ms_distinfo_scan(sp);
	err = capture_end();
	assert_non_null(d);
	assert_string_equal(err, expect);
	assert_int_equal(ms_distinfo_count(d), 4);
	assert_string_equal(ms_distinfo_version(d, "modoboa_amavis"), "1.5.0");
	assert_string_equal(ms_distinfo_version(d, "Modoboa-Amavis"), "1.5.0");
	assert_string_equal(ms_distinfo_version(d, "modoboa.amavis"), "1.5.0");
	assert_string_equal(ms_distinfo_version(d, "modoboa"), "2.2.4");
	assert_string_equal(ms_distinfo_version(d, "django"), "4.2.11");
	assert_string_equal(ms_distinfo_version(d, "zope_interface"), "6.0");
	assert_null(ms_distinfo_version(d, "noversion"));
	assert_null(ms_distinfo_version(d, "foo"));
	assert_null(ms_distinfo_version(d, "hidden"));
	assert_null(ms_distinfo_version(d, "modoboa-webmail"));
	ms_distinfo_free(d);
	ms_distinfo_free(NULL);
	free(err);
	free(expect);
	free(sp);
}

static void test_scan_quiet(void **state)
{
	const struct test_fixture *fx = *state;
	char *sp = ms_path_join(fx->dir, "sp");
	struct ms_distinfo *d;
	char *err;

	put_all(fx->dir, scan_tree);
	capture_start();
	d = ms_distinfo_scan(sp);
	err = capture_end();
	assert_string_equal(err, ""); /* skipped entries are debug messages only */
	assert_int_equal(ms_distinfo_count(d), 4);
	ms_distinfo_free(d);
	free(err);
	free(sp);
}

static void test_scan_twice_installed(void **state)
{
	const struct test_fixture *fx = *state;
	static const char *const tree[] = {
		"sp/modoboa_amavis-1.4.0.dist-info/METADATA|Name: modoboa-amavis\nVersion: 1.4.0\n",
		"sp/modoboa_amavis-1.5.0.dist-info/METADATA|Name: modoboa_amavis\nVersion: 1.5.0\n",
		NULL,
	};
	char *sp = ms_path_join(fx->dir, "sp");
	char *expect = ms_xasprintf("modosnap: warning: 'modoboa-amavis' is installed twice in '%s' "
				    "(versions 1.4.0 and 1.5.0); using 1.4.0\n", sp);
	struct ms_distinfo *d;
	char *err;

	put_all(fx->dir, tree);
	capture_start();
	d = ms_distinfo_scan(sp);
	err = capture_end();
	assert_string_equal(err, expect);
	assert_int_equal(ms_distinfo_count(d), 1);
	assert_string_equal(ms_distinfo_version(d, "modoboa-amavis"), "1.4.0");
	ms_distinfo_free(d);
	free(err);
	free(expect);
	free(sp);
}

static void test_scan_missing_dir(void **state)
{
	const struct test_fixture *fx = *state;
	char *sp = ms_path_join(fx->dir, "nope");
	char *expect = ms_xasprintf("modosnap: error: unable to read directory '%s': "
				    "No such file or directory\n", sp);
	struct ms_distinfo *d;
	char *err;

	capture_start();
	d = ms_distinfo_scan(sp);
	err = capture_end();
	assert_null(d);
	assert_string_equal(err, expect);
	free(err);
	free(expect);
	free(sp);
}

static void test_scan_empty(void **state)
{
	const struct test_fixture *fx = *state;
	struct ms_distinfo *d = ms_distinfo_scan(fx->dir);

	assert_non_null(d);
	assert_int_equal(ms_distinfo_count(d), 0);
	assert_null(ms_distinfo_version(d, "modoboa"));
	ms_distinfo_free(d);
}

/* Discovery and scanning together, on the layout of docs/dev/modoboa.md. */
static void test_end_to_end(void **state)
{
	const struct test_fixture *fx = *state;
	static const char *const tree[] = {
		"srv/modoboa/env/pyvenv.cfg|home = /usr/bin\nversion = 3.11.2\n",
		"srv/modoboa/env/lib/python3.11/site-packages/modoboa-2.2.4.dist-info/METADATA|"
		"Name: modoboa\nVersion: 2.2.4\n",
		"srv/modoboa/instance/manage.py|#!@D@/srv/modoboa/env/bin/python\n",
		"srv/modoboa/instance/instance/settings.py|DATABASES = {}\n",
		NULL,
	};
	char *instance = ms_path_join(fx->dir, "srv/modoboa/instance");
	struct ms_venv v = { 0 };
	struct ms_distinfo *d;

	put_all(fx->dir, tree);
	assert_int_equal(ms_venv_find(instance, NULL, &v), 0);
	assert_string_equal(v.found_by, "manage.py");
	assert_string_equal(v.python_version, "3.11.2");
	d = ms_distinfo_scan(v.site_packages);
	assert_non_null(d);
	assert_string_equal(ms_distinfo_version(d, "Modoboa"), "2.2.4");
	ms_distinfo_free(d);
	ms_venv_clear(&v);
	ms_venv_clear(NULL);
	free(instance);
}

/* --- main ------------------------------------------------------------------- */

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const struct { const char *name; CMUnitTestFunction fn; } plain_tests[] = {
	{ "PEP 503 normalisation", test_normalize },
	{ "scan: names, CRLF, skipped entries", test_scan },
	{ "scan: skipped entries are silent by default", test_scan_quiet },
	{ "scan: a distribution installed twice", test_scan_twice_installed },
	{ "scan: missing directory", test_scan_missing_dir },
	{ "scan: empty directory", test_scan_empty },
	{ "discovery and scan together", test_end_to_end },
};

#define N_TESTS (N_OF(venv_cases) + N_OF(pyver_cases) + N_OF(meta_cases) + N_OF(plain_tests))

int main(void)
{
	static struct CMUnitTest tests[N_TESTS];
	static char names[N_TESTS][160];
	size_t n = 0;

	for (size_t i = 0; i < N_OF(venv_cases); i++, n++) {
		snprintf(names[n], sizeof(names[n]), "venv: %s", venv_cases[i].name);
		tests[n] = (struct CMUnitTest){ names[n], test_venv, test_fixture_setup, test_fixture_teardown,
						(void *)&venv_cases[i] };
	}
	for (size_t i = 0; i < N_OF(pyver_cases); i++, n++) {
		snprintf(names[n], sizeof(names[n]), "python: %s", pyver_cases[i].name);
		tests[n] = (struct CMUnitTest){ names[n], test_pyver, test_fixture_setup, test_fixture_teardown,
						(void *)&pyver_cases[i] };
	}
	for (size_t i = 0; i < N_OF(meta_cases); i++, n++) {
		snprintf(names[n], sizeof(names[n]), "metadata: %s", meta_cases[i].name);
		tests[n] = (struct CMUnitTest){ names[n], test_metadata, test_fixture_setup, test_fixture_teardown,
						(void *)&meta_cases[i] };
	}
	for (size_t i = 0; i < N_OF(plain_tests); i++, n++)
		tests[n] = (struct CMUnitTest){ plain_tests[i].name, plain_tests[i].fn, test_fixture_setup,
						test_fixture_teardown, NULL };
	return _cmocka_run_group_tests("distinfo", tests, n, NULL, NULL);
}
