/*
 * Restore targets come from the live side (restore/targets.h): the
 * path checks every target passes, and the choice between command line,
 * config, default and the snapshot's recorded path, with the exact
 * messages an administrator sees.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/entry.h"
#include "restore/targets.h"
#include "testutil.h"
#include "base/util.h"

static void test_check_accepts(void **state)
{
	static const struct {
		const char *component, *path;
	} good[] = {
		{ "instance", "/srv/modoboa/instance" },
		{ "instance", "/opt/modoboa/instance" },
		{ "instance", "/home/mail/modoboa" },
		{ "instance", "/tmp/restore-test/instance" },
		{ "postfix", "/etc/postfix" },
		{ "postfix", "/etc/postfix-out" },
		{ "postfix", "/srv/test/etc/postfix" },
	};
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (ms_target_check(good[i].component, good[i].path, &why) != 0)
			fail_msg("%s target '%s' refused: %s", good[i].component, good[i].path, why);
}

static void test_check_refuses(void **state)
{
	static const struct {
		const char *component, *path, *why;
	} bad[] = {
		{ "instance", "", "empty path" },
		{ "instance", "/", "the root directory" },
		{ "instance", "srv/modoboa", "not an absolute path" },
		{ "instance", "/srv/modoboa/", "not normalised (trailing '/')" },
		{ "instance", "/srv//modoboa", "not normalised (empty, '.' or '..' component)" },
		{ "instance", "/srv/./modoboa", "not normalised (empty, '.' or '..' component)" },
		{ "instance", "/srv/modoboa/../../etc", "not normalised (empty, '.' or '..' component)" },
		{ "instance", "/srv/mod\noboa", "control character in path" },
		{ "instance", "/etc", "a system directory" },
		{ "instance", "/etc/cron.d", "a system directory" },
		{ "instance", "/root/.ssh", "a system directory" },
		{ "instance", "/usr/bin", "a system directory" },
		{ "instance", "/boot", "a system directory" },
		{ "instance", "/srv", "a system directory" },
		{ "instance", "/home", "a system directory" },
		{ "instance", "/var/lib", "a system directory" },
		{ "instance", "/usr/local", "a system directory" },
		{ "instance", "/etc/postfix", "a system directory" },
		{ "instance", "/usr/local/bin", "a system directory" },
		{ "instance", "/usr/local/lib/python3.11/dist-packages/sitecustomize", "a system directory" },
		{ "instance", "/var/run/systemd/system", "a system directory" },
		{ "instance", "/var/spool/postfix", "a system directory" },
		{ "postfix", "/root/.ssh",
		  "a system directory (Postfix targets there are /etc/postfix or /etc/postfix-NAME)" },
		{ "postfix", "/etc/cron.d",
		  "a system directory (Postfix targets there are /etc/postfix or /etc/postfix-NAME)" },
		{ "postfix", "/etc/postfix/sasl",
		  "a system directory (Postfix targets there are /etc/postfix or /etc/postfix-NAME)" },
		{ "postfix", "/etc", "a system directory (Postfix targets there are /etc/postfix or /etc/postfix-NAME)" },
		{ "postfix", "/usr/local/etc", "a system directory (Postfix targets there are /etc/postfix or "
					       "/etc/postfix-NAME)" },
	};
	char long_path[MS_TARGET_MAX + 2];
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (ms_target_check(bad[i].component, bad[i].path, &why) != -1)
			fail_msg("%s target '%s' accepted", bad[i].component, bad[i].path);
		assert_string_equal(why, bad[i].why);
	}
	long_path[0] = '/';
	memset(long_path + 1, 'a', MS_TARGET_MAX);
	long_path[MS_TARGET_MAX + 1] = '\0';
	assert_int_equal(ms_target_check("instance", long_path, &why), -1);
	assert_string_equal(why, "longer than 240 bytes");
	long_path[MS_TARGET_MAX] = '\0';
	assert_int_equal(ms_target_check("instance", long_path, &why), 0);
}

/* One choice: the path chosen (NULL: refused) and stderr. */
static void expect_choice(const struct ms_target_choice *c, const char *want, enum ms_target_origin want_origin,
			  const char *want_err)
{
	enum ms_target_origin o = MS_TARGET_CLI;
	char *got, *err;

	capture_start();
	got = ms_target_choose(c, &o);
	err = capture_end();
	assert_string_equal(err, want_err);
	if (!want) {
		assert_null(got);
	} else {
		assert_non_null(got);
		assert_string_equal(got, want);
		assert_int_equal(o, want_origin);
	}
	free(got);
	free(err);
}

static void test_choose(void **state)
{
	struct ms_target_choice c = { "postfix", "--postfix-dir", "[modosnap] postfix_dir", NULL, NULL, "/etc/postfix", NULL, false,
				      false };

	(void)state;
	/* nothing recorded, nothing named: this machine's default */
	expect_choice(&c, "/etc/postfix", MS_TARGET_DEFAULT, "");
	/* the snapshot agrees with the default */
	c.snapshot = "/etc/postfix";
	expect_choice(&c, "/etc/postfix", MS_TARGET_DEFAULT, "");
	/* the snapshot says elsewhere: refused until the administrator decides */
	c.snapshot = "/root/.ssh";
	expect_choice(&c, NULL, MS_TARGET_CLI,
		      "modosnap: error: the snapshot's postfix directory is '/root/.ssh', not this machine's default "
		      "'/etc/postfix': name the target with --postfix-dir or [modosnap] postfix_dir in the config, or "
		      "pass --accept-snapshot-targets to restore into '/root/.ssh'\n");
	/* accepted, the snapshot's path is still checked */
	c.accept_snapshot = true;
	expect_choice(&c, NULL, MS_TARGET_CLI,
		      "modosnap: error: postfix target '/root/.ssh' refused: a system directory (Postfix targets there "
		      "are /etc/postfix or /etc/postfix-NAME)\n");
	c.snapshot = "/srv/old/postfix";
	expect_choice(&c, "/srv/old/postfix", MS_TARGET_SNAPSHOT, "");
	/* the config, then the command line, win over everything */
	c.config = "/etc/postfix-in";
	expect_choice(&c, "/etc/postfix-in", MS_TARGET_CONFIG, "");
	c.cli = "/srv/test/postfix";
	expect_choice(&c, "/srv/test/postfix", MS_TARGET_CLI, "");
	/* and are checked too */
	c.cli = "relative/dir";
	expect_choice(&c, NULL, MS_TARGET_CLI,
		      "modosnap: error: postfix target 'relative/dir' refused: not an absolute path\n");
	/* a hostile recorded path is printed escaped */
	c.cli = c.config = NULL;
	c.accept_snapshot = false;
	c.snapshot = "/x\x1b[2J";
	expect_choice(&c, NULL, MS_TARGET_CLI,
		      "modosnap: error: the snapshot's postfix directory is '/x\\x1b[2J', not this machine's default "
		      "'/etc/postfix': name the target with --postfix-dir or [modosnap] postfix_dir in the config, or "
		      "pass --accept-snapshot-targets to restore into '/x\\x1b[2J'\n");
}

/* What the snapshot alone may propose is narrower than what an
 * administrator may name. */
static void test_snapshot_only_rules(void **state)
{
	struct ms_target_choice c = { "instance", "--instance", "[modosnap] instance", NULL, NULL, "/srv/modoboa/instance",
				      NULL, true, false };
	char *t = test_mkdtemp("test_targets"), *inst, *other, *p;

	(void)state;
	c.snapshot = "/home/alice/.ssh";
	expect_choice(&c, NULL, MS_TARGET_CLI, "modosnap: error: instance target '/home/alice/.ssh' refused: a hidden "
		      "directory (only a path named on this machine may be one)\n");
	c.snapshot = "/var/www/html";
	expect_choice(&c, NULL, MS_TARGET_CLI, "modosnap: error: instance target '/var/www/html' refused: under /var or "
		      "/usr (only a path named on this machine may be there)\n");
	/* named on the command line, the same path is the administrator's choice */
	c.cli = "/var/www/html";
	expect_choice(&c, "/var/www/html", MS_TARGET_CLI, "");
	c.cli = NULL;
	/* an existing directory that is not an instance is not replaced ... */
	other = ms_path_join(t, "other");
	assert_int_equal(mkdir(other, 0755), 0);
	c.snapshot = other;
	p = ms_xasprintf("modosnap: error: instance target '%s' refused: an existing directory that does not hold the "
			 "component (only a path named on this machine may replace it)\n", other);
	expect_choice(&c, NULL, MS_TARGET_CLI, p);
	free(p);
	/* ... unless below --root, where nothing live is touched */
	c.under_root = true;
	expect_choice(&c, other, MS_TARGET_SNAPSHOT, "");
	c.under_root = false;
	/* one that holds an instance is */
	inst = ms_path_join(t, "inst");
	assert_int_equal(mkdir(inst, 0755), 0);
	p = ms_path_join(inst, "manage.py");
	test_write_file(p, "x", 1, 0644);
	free(p);
	c.snapshot = inst;
	expect_choice(&c, inst, MS_TARGET_SNAPSHOT, "");
	test_rmtree(t);
	free(t);
	free(inst);
	free(other);
}

/* Nothing on a target's way may be a link or writable by others. */
static void test_parents(void **state)
{
	char *t = test_mkdtemp("test_targets"), *at = NULL, *p, *q;
	const char *why = NULL;

	(void)state;
	p = ms_path_join(t, "a/b/instance");
	assert_int_equal(ms_target_parents_ok(p, &why, &at), 0); /* nothing exists yet below t */
	free(p);
	q = ms_path_join(t, "real");
	assert_int_equal(mkdir(q, 0755), 0);
	p = ms_path_join(t, "link");
	assert_int_equal(symlink(q, p), 0);
	free(p);
	p = ms_path_join(t, "link/instance");
	assert_int_equal(ms_target_parents_ok(p, &why, &at), -1);
	assert_string_equal(why, "a symbolic link (give the real path)");
	assert_true(strstr(at, "/link") != NULL);
	free(at);
	free(p);
	assert_int_equal(chmod(q, 0777), 0);
	p = ms_path_join(q, "instance");
	assert_int_equal(ms_target_parents_ok(p, &why, &at), -1);
	assert_string_equal(why, "writable by group or others");
	free(at);
	assert_int_equal(chmod(q, 01777), 0); /* sticky, like /tmp */
	assert_int_equal(ms_target_parents_ok(p, &why, &at), 0);
	free(p);
	if (geteuid() == 0) {
		assert_int_equal(chmod(q, 0755), 0);
		assert_int_equal(chown(q, 65534, 65534), 0);
		p = ms_path_join(q, "instance");
		assert_int_equal(ms_target_parents_ok(p, &why, &at), -1);
		assert_string_equal(why, "owned by another user");
		free(at);
		free(p);
	}
	free(q);
	test_rmtree(t);
	free(t);
}

static void test_safe_mode(void **state)
{
	(void)state;
	assert_int_equal(ms_entry_safe_mode(MS_ENTRY_FILE, 0644), 0644);
	assert_int_equal(ms_entry_safe_mode(MS_ENTRY_FILE, 04755), 0755);
	assert_int_equal(ms_entry_safe_mode(MS_ENTRY_FILE, 02755), 0755);
	assert_int_equal(ms_entry_safe_mode(MS_ENTRY_FILE, 0666), 0664);
	assert_int_equal(ms_entry_safe_mode(MS_ENTRY_HARDLINK, 06777), 0775);
	assert_int_equal(ms_entry_safe_mode(MS_ENTRY_DIR, 02775), 02775); /* group inheritance stays */
	assert_int_equal(ms_entry_safe_mode(MS_ENTRY_DIR, 01777), 01775);
	assert_int_equal(ms_entry_safe_mode(MS_ENTRY_SYMLINK, 0777), 0777);
}

static void test_postfix_names(void **state)
{
	static const char *good[] = { "main.cf", "master.cf", "modoboa-postfix-maps.chk", "sql-domains.cf",
				      "sql-relay_recipient.v2.cf" };
	static const char *bad[] = { "authorized_keys", ".x.cf", "sql-domains.cf.bak", "a b.cf", ".cf",
				     "modoboa-postfix-maps.chk.old", "sql-\n.cf", "sasl_passwd" };

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!ms_entry_postfix_name_ok(good[i]))
			fail_msg("'%s' refused", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ms_entry_postfix_name_ok(bad[i]))
			fail_msg("'%s' accepted", bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_accepts),
		cmocka_unit_test(test_check_refuses),
		cmocka_unit_test(test_choose),
		cmocka_unit_test(test_snapshot_only_rules),
		cmocka_unit_test(test_parents),
		cmocka_unit_test(test_safe_mode),
		cmocka_unit_test(test_postfix_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
