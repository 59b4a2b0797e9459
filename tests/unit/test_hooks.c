/*
 * Unit tests for src/snapshot/hooks.c: a hook sees the MODOSNAP_* variables of its
 * event (and none left over from the caller's environment), reads
 * /dev/null, starts with no signal blocked; failures and kills are
 * reported with the exact message; a NULL command is nothing to do.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapshot/hooks.h"
#include "testutil.h"
#include "base/util.h"

static char *dir; /* scratch directory of the whole run */

static char *out_path(void)
{
	return ms_path_join(dir, "out");
}

/* What the hook wrote to out_path(), which is removed (caller frees). */
static char *read_out(void)
{
	char *p = out_path(), *s = test_slurp(p);

	unlink(p);
	free(p);
	return s;
}

static void test_environment(void **state)
{
	char *p = out_path();
	char *cmd = ms_xasprintf("env | grep '^MODOSNAP_' | LC_ALL=C sort >'%s'; cat >>'%s'", p, p);
	struct ms_hook_env env = { "after", "/var/backups/modosnap", "20261130T045323Z-1a2b3c4d",
				   "/var/backups/modosnap/x.tar.zst", 0 };
	char *s;

	(void)state;
	setenv("MODOSNAP_SNAPSHOT_ID", "stale", 1);
	setenv("MODOSNAP_CONFIG", "/etc/other.conf", 1);
	assert_int_equal(ms_hook_run(cmd, &env), 0);
	s = read_out();
	assert_string_equal(s, "MODOSNAP_CONFIG=/etc/other.conf\n"
			       "MODOSNAP_DEST=/var/backups/modosnap\n"
			       "MODOSNAP_EXIT_STATUS=0\n"
			       "MODOSNAP_HOOK=after\n"
			       "MODOSNAP_SNAPSHOT_ID=20261130T045323Z-1a2b3c4d\n"
			       "MODOSNAP_SNAPSHOT_PATH=/var/backups/modosnap/x.tar.zst\n");
	free(s);
	unsetenv("MODOSNAP_SNAPSHOT_ID");
	unsetenv("MODOSNAP_CONFIG");
	free(cmd);
	free(p);
}

static void test_unknown_fields_left_out(void **state)
{
	char *p = out_path(), *cmd = ms_xasprintf("env | grep '^MODOSNAP_' | LC_ALL=C sort >'%s'", p);
	struct ms_hook_env env = { "before", NULL, NULL, NULL, -1 };
	char *s;

	(void)state;
	assert_int_equal(ms_hook_run(cmd, &env), 0);
	s = read_out();
	assert_string_equal(s, "MODOSNAP_HOOK=before\n");
	free(s);
	free(cmd);
	free(p);
}

static void test_failures(void **state)
{
	struct ms_hook_env env = { "before", NULL, NULL, NULL, -1 };
	char *err;

	(void)state;
	assert_int_equal(ms_hook_run(NULL, &env), 0);
	capture_start();
	assert_int_equal(ms_hook_run("exit 7", &env), -1);
	err = capture_end();
	assert_string_equal(err, "modosnap: error: hook 'before' failed (exit 7): exit 7\n");
	free(err);
	capture_start();
	assert_int_equal(ms_hook_run("kill -TERM $$", &env), -1);
	err = capture_end();
	assert_string_equal(err, "modosnap: error: hook 'before' was killed by signal 15: kill -TERM $$\n");
	free(err);
}

/* A hook started while create holds signals blocked gets none blocked. */
static void test_signals_unblocked(void **state)
{
	struct ms_hook_env env = { "pause", NULL, NULL, NULL, -1 };
	char *p = out_path(), *cmd = ms_xasprintf("grep '^SigBlk' /proc/self/status >'%s' </dev/null; "
						 "read x; echo \"stdin:$x.\" >>'%s'", p, p);
	sigset_t block, old;
	char *s;

	(void)state;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old);
	assert_int_equal(ms_hook_run(cmd, &env), 0);
	sigprocmask(SIG_SETMASK, &old, NULL);
	s = read_out();
	assert_string_equal(s, "SigBlk:\t0000000000000000\nstdin:.\n");
	free(s);
	free(cmd);
	free(p);
}

static int setup(void **state)
{
	(void)state;
	dir = test_mkdtemp("test_hooks");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	test_rmtree(dir);
	free(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_environment),
		cmocka_unit_test(test_unknown_fields_left_out),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_signals_unblocked),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
