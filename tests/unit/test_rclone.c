/*
 * Tests of src/remote against the real rclone: a local-path remote and an
 * SFTP remote served on localhost by `rclone serve sftp` (its password
 * obscured in the test's own rclone config). Push, list, fetch, delete; a
 * push killed during its upload (slowed by the test seam
 * MODOSNAP_TEST_RCLONE_BWLIMIT) leaves no complete pair and the next push
 * completes it; a remote that is down fails naming the remote; no secret
 * in the child's argv or environment; the kill bound. Everything lives
 * under one scratch directory; without rclone every test is skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"
#include "remote/push.h"
#include "base/log.h"
#include "remote/rclone.h"
#include "testutil.h"

#define PASSWORD "Sftp-Secret-4711"
#define SNAP "modosnap-20260101T000000Z-host.tar.zst"

extern char **environ;

/* The scratch tree shared by the tests (group setup / teardown). */
static struct {
	char *dir;       /* everything below it */
	char *config;    /* rclone.conf: loc, sf, down */
	char *obscured;  /* the password as rclone obscure writes it */
	pid_t server;    /* rclone serve sftp */
	bool have_rclone;
} g;

/* One remote of a table-driven test. */
struct remote_case {
	const char *name;
	const char *url;  /* after "loc:" + the scratch directory, or whole */
	bool in_dir;      /* url is below the scratch directory */
};

static const struct remote_case cases[] = {
	{ "loc", "/loc-remote/sub", true },
	{ "sf", "sf:sf-remote/sub", false },
};

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A TCP port of localhost nobody listens on (bound, then released). */
static int closed_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* First line printed by a shell command; caller frees. */
static char *command_line(const char *cmd)
{
	char buf[512] = "";
	FILE *f = popen(cmd, "r");

	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	pclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return ms_xstrdup(buf);
}

/* Starts rclone serve sftp on 127.0.0.1:0 and returns the port it took. */
static int start_sftp(void)
{
	char *root = ms_path_join(g.dir, "sftp-root"), *cache = ms_path_join(g.dir, "cache");
	char *log = ms_path_join(g.dir, "serve.log"), *keys = ms_path_join(g.dir, "authorized-keys");
	char *argv[] = { "rclone", "serve", "sftp", root, "--addr", "127.0.0.1:0", "--user", "modosnap", "--pass",
			 PASSWORD, "--cache-dir", cache, "--authorized-keys", keys, "--config", "/dev/null", NULL };
	posix_spawn_file_actions_t fa;
	int port = 0;

	test_mkdirs(root, NULL);
	test_write_file(keys, "", 0, 0600);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(posix_spawnp(&g.server, "rclone", &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	for (int i = 0; i < 300 && !port; i++) {
		char *text = ms_read_file(log, 1 << 20, NULL);
		const char *at = text ? strstr(text, "listening on 127.0.0.1:") : NULL;

		if (at)
			port = atoi(at + strlen("listening on 127.0.0.1:"));
		free(text);
		if (!port && waitpid(g.server, NULL, WNOHANG) == g.server)
			fail_msg("rclone serve sftp has stopped (see %s)", log);
		if (!port)
			sleep_ms(100);
	}
	assert_true(port > 0);
	free(root);
	free(cache);
	free(log);
	free(keys);
	return port;
}

static int group_setup(void **state)
{
	char *conf;
	int port;

	(void)state;
	signal(SIGPIPE, SIG_IGN); /* as main does */
	g.have_rclone = test_run("rclone version >/dev/null 2>&1") == 0;
	if (!g.have_rclone)
		return 0;
	g.dir = test_mkdtemp("rclone");
	g.obscured = command_line("rclone obscure '" PASSWORD "'");
	port = start_sftp();
	conf = ms_xasprintf("[loc]\ntype = local\n\n"
			    "[sf]\ntype = sftp\nhost = 127.0.0.1\nport = %d\nuser = modosnap\npass = %s\n"
			    "shell_type = none\n\n"
			    "[down]\ntype = sftp\nhost = 127.0.0.1\nport = %d\nuser = modosnap\npass = %s\n"
			    "shell_type = none\n",
			    port, g.obscured, closed_port(), g.obscured);
	test_put_file(g.dir, "rclone.conf", conf, 0600);
	g.config = ms_path_join(g.dir, "rclone.conf");
	free(conf);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (g.server > 0) {
		kill(g.server, SIGTERM);
		waitpid(g.server, NULL, 0);
	}
	if (g.dir)
		test_rmtree(g.dir);
	free(g.dir);
	free(g.config);
	free(g.obscured);
	return 0;
}

static void need_rclone(void)
{
	if (!g.have_rclone)
		skip();
}

/* A remote of the table; rc->url points into *url (caller frees). */
static struct ms_rclone remote_of(const struct remote_case *c, char **url)
{
	*url = c->in_dir ? ms_xasprintf("%s:%s%s", c->name, g.dir, c->url) : ms_xstrdup(c->url);
	return (struct ms_rclone){ .config = g.config, .name = c->name, .url = *url };
}

/* A file of `size` pseudo-random bytes (seeded) at dir/name; caller frees the path. */
static char *make_archive(const char *sub, const char *name, size_t size, unsigned seed)
{
	char *dir = ms_path_join(g.dir, sub), *path;
	unsigned char *buf = ms_xmalloc(size ? size : 1);

	srand(seed);
	for (size_t i = 0; i < size; i++)
		buf[i] = (unsigned char)rand();
	test_mkdirs(dir, NULL);
	test_put_data(dir, name, buf, size, 0600);
	path = ms_path_join(dir, name);
	free(buf);
	free(dir);
	return path;
}

static void expect_listing(const struct ms_rclone *rc, bool complete_only, size_t want, const char *first)
{
	struct ms_remote_file *f = NULL;
	size_t n = 99;

	if (complete_only)
		assert_int_equal(ms_remote_list(rc, &f, &n), 0);
	else
		assert_int_equal(ms_rclone_list(rc, &f, &n), 0);
	assert_int_equal(n, want);
	if (first)
		assert_string_equal(f[0].name, first);
	ms_remote_files_free(f, n);
}

static void test_push_list_fetch_delete(void **state)
{
	const struct remote_case *c = *state;
	char *url, *archive, *other, *marker, *fetch_dir, *fetched, *text, *err, hex[65], want[65];
	struct ms_rclone rc = remote_of(c, &url);
	struct ms_remote_file *f;
	struct stat st;
	size_t n;

	need_rclone();
	archive = make_archive(c->name, SNAP, 300 * 1024 + 7, 1);
	test_sha256sum(archive, want);
	/* a remote that was never written to is empty */
	expect_listing(&rc, false, 0, NULL);
	assert_int_equal(ms_remote_push(&rc, archive), 0);
	expect_listing(&rc, false, 2, SNAP);
	marker = ms_rclone_get_text(&rc, SNAP ".ok", 4096);
	assert_non_null(marker);
	text = ms_xasprintf("modosnap-remote 1\nsha256 %s\nsize %d\n", want, 300 * 1024 + 7);
	assert_string_equal(marker, text);
	assert_int_equal(ms_rclone_sha256(&rc, SNAP, hex), 0);
	assert_string_equal(hex, want);
	assert_int_equal(ms_remote_list(&rc, &f, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].name, SNAP);
	assert_int_equal(f[0].size, 300 * 1024 + 7);
	ms_remote_files_free(f, n);

	/* the same push again: nothing to do (said with -v only: create and
	 * push print what they pushed themselves) */
	capture_start();
	ms_log_set_level(MS_LOG_DEBUG);
	assert_int_equal(ms_remote_push(&rc, archive), 0);
	ms_log_set_level(MS_LOG_INFO);
	err = capture_end();
	free(text);
	text = ms_xasprintf("modosnap: debug: remote '%s': '" SNAP "' is there already\n", c->name);
	assert_non_null(strstr(err, text));
	assert_null(strstr(err, "uploading")); /* nothing sent again */
	free(err);
	/* another archive of the same name is never put over it */
	other = make_archive("other", SNAP, 1000, 2);
	capture_start();
	assert_int_equal(ms_remote_push(&rc, other), -1);
	err = capture_end();
	assert_non_null(strstr(err, "(its SHA-256 differs): not replaced"));
	free(err);

	/* fetch: verified, 0600, never over an existing file */
	fetch_dir = ms_xasprintf("%s/fetched-%s", g.dir, c->name);
	test_mkdirs(fetch_dir, NULL);
	assert_int_equal(ms_remote_fetch(&rc, SNAP, fetch_dir), 0);
	fetched = ms_path_join(fetch_dir, SNAP);
	test_sha256sum(fetched, hex);
	assert_string_equal(hex, want);
	assert_int_equal(stat(fetched, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* fetched again: the identical copy there is used, not replaced */
	capture_start();
	assert_int_equal(ms_remote_fetch(&rc, SNAP, fetch_dir), 0);
	err = capture_end();
	assert_string_equal(err, "");
	free(err);
	test_sha256sum(fetched, hex);
	assert_string_equal(hex, want);
	/* another file of that name: refused, left as it is */
	test_write_file(fetched, "not the snapshot", 16, 0600);
	capture_start();
	assert_int_equal(ms_remote_fetch(&rc, SNAP, fetch_dir), -1);
	err = capture_end();
	free(text);
	text = ms_xasprintf("modosnap: error: cannot fetch '" SNAP "': '%s' already exists, with other content\n",
			    fetched);
	assert_string_equal(err, text);
	free(err);
	free(text);
	text = test_slurp(fetched);
	assert_string_equal(text, "not the snapshot");

	/* delete: marker first, then the archive */
	assert_int_equal(ms_remote_delete(&rc, SNAP), 0);
	expect_listing(&rc, false, 0, NULL);
	capture_start();
	assert_int_equal(ms_remote_delete(&rc, SNAP), -1);
	assert_int_equal(ms_remote_fetch(&rc, SNAP, fetch_dir), -1);
	err = capture_end();
	free(text);
	text = ms_xasprintf("modosnap: error: remote '%s' has no '" SNAP "'\n"
			    "modosnap: error: remote '%s' has no complete snapshot '" SNAP "'\n",
			    c->name, c->name);
	assert_string_equal(err, text);
	free(err);
	free(text);
	free(marker);
	free(fetched);
	free(fetch_dir);
	free(other);
	free(archive);
	free(url);
}

/* A half-uploaded archive: no marker, so not listed; fetch refuses it. */
static void test_half_uploaded(void **state)
{
	const struct remote_case *c = *state;
	char *url, *archive, *dir, *err, *want;
	struct ms_rclone rc = remote_of(c, &url);

	need_rclone();
	rc.url = ms_xasprintf("%s-half", url);
	archive = make_archive(c->name, "half.tar.zst", 5000, 3);
	assert_int_equal(ms_rclone_upload(&rc, archive, "half.tar.zst"), 0);
	expect_listing(&rc, false, 1, "half.tar.zst");
	expect_listing(&rc, true, 0, NULL);
	/* a marker that does not name the archive's size: left out too */
	assert_int_equal(ms_rclone_put_text(&rc, "half.tar.zst.ok",
					    "modosnap-remote 1\nsha256 "
					    "0000000000000000000000000000000000000000000000000000000000000000\nsize 4\n"),
			 0);
	expect_listing(&rc, true, 0, NULL);
	dir = ms_xasprintf("%s/half-fetch-%s", g.dir, c->name);
	test_mkdirs(dir, NULL);
	capture_start();
	assert_int_equal(ms_remote_fetch(&rc, "half.tar.zst", dir), -1);
	err = capture_end();
	want = ms_xasprintf("modosnap: error: remote '%s': 'half.tar.zst' arrived with 5000 bytes, its marker says 4\n",
			    c->name);
	assert_string_equal(err, want);
	free(want);
	want = ms_path_join(dir, "half.tar.zst.partial");
	assert_false(ms_is_file(want));
	/* the next push replaces both */
	assert_int_equal(ms_remote_push(&rc, archive), 0);
	expect_listing(&rc, true, 1, "half.tar.zst");
	assert_int_equal(ms_remote_fetch(&rc, "half.tar.zst", dir), 0);
	free(want);
	free(err);
	free(dir);
	free(archive);
	free((char *)rc.url);
	free(url);
}

/* SIGKILL of the pushing process (and its rclone, one process group, as
 * systemd kills a unit) in the middle of the upload. */
static void test_kill_during_upload(void **state)
{
	const struct remote_case *c = *state;
	char *url, *archive;
	struct ms_rclone rc = remote_of(c, &url);
	pid_t pid;
	int st;

	need_rclone();
	rc.url = ms_xasprintf("%s-kill", url);
	archive = make_archive(c->name, "kill.tar.zst", 2 * 1024 * 1024, 4);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setpgid(0, 0);
		setenv("MODOSNAP_TEST_RCLONE_BWLIMIT", "100k", 1);
		_exit(ms_remote_push(&rc, archive) == 0 ? 0 : 1);
	}
	setpgid(pid, pid);
	sleep_ms(2500);
	assert_int_equal(kill(-pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	/* killed in the middle, not finished before */
	assert_true(WIFSIGNALED(st));
	sleep_ms(200);
	expect_listing(&rc, true, 0, NULL);
	assert_int_equal(ms_remote_push(&rc, archive), 0);
	expect_listing(&rc, true, 1, "kill.tar.zst");
	expect_listing(&rc, false, 2, "kill.tar.zst");
	free(archive);
	free((char *)rc.url);
	free(url);
}

static void test_remote_down(void **state)
{
	char *archive, *err;
	struct ms_rclone rc = { .name = "down", .url = "down:somewhere" };
	struct ms_remote_file *f;
	size_t n;

	(void)state;
	need_rclone();
	rc.config = g.config;
	archive = make_archive("down", SNAP, 100, 5);
	capture_start();
	assert_int_equal(ms_remote_push(&rc, archive), -1);
	assert_int_equal(ms_remote_list(&rc, &f, &n), -1);
	err = capture_end();
	assert_non_null(strstr(err, "modosnap: error: remote 'down': listing failed (rclone exit "));
	assert_non_null(strstr(err, "connection refused"));
	assert_null(strstr(err, "\\x0a"));
	assert_true(ms_is_file(archive));
	free(err);
	/* no rclone at all */
	rc.binary = "/nonexistent/rclone";
	capture_start();
	assert_int_equal(ms_rclone_list(&rc, &f, &n), -1);
	err = capture_end();
	assert_string_equal(err, "modosnap: error: remote 'down': listing: cannot run '/nonexistent/rclone': "
				 "No such file or directory\n");
	free(err);
	free(archive);
}

/* Every file of dir whose name starts with prefix, concatenated; caller frees. */
static char *slurp_all(const char *dir, const char *prefix, int *count)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char *all = ms_xstrdup("");

	assert_non_null(d);
	*count = 0;
	while ((e = readdir(d))) {
		char *p, *t, *cat;

		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		p = ms_path_join(dir, e->d_name);
		t = test_slurp(p);
		cat = ms_xasprintf("%s%s\n--\n", all, t);
		free(all);
		all = cat;
		free(t);
		free(p);
		(*count)++;
	}
	closedir(d);
	return all;
}

/* The child sees no password: argv and environment recorded by a wrapper. */
static void test_no_secret_in_child(void **state)
{
	char *spydir, *script, *spy, *archive, *url, *argvs, *envs, *fetch_dir;
	struct ms_rclone rc = remote_of(&cases[1], &url);
	int nargv, nenv;

	(void)state;
	need_rclone();
	spydir = ms_path_join(g.dir, "spy");
	test_mkdirs(spydir, NULL);
	script = ms_xasprintf("#!/bin/sh\n"
			      "n=$$.$(date +%%s%%N)\n"
			      "tr '\\000' '\\n' </proc/$$/cmdline >'%s/argv.'$n\n"
			      "tr '\\000' '\\n' </proc/$$/environ >'%s/env.'$n\n"
			      "exec rclone \"$@\"\n",
			      spydir, spydir);
	test_put_file(g.dir, "rclone-spy", script, 0755);
	spy = ms_path_join(g.dir, "rclone-spy");
	rc.binary = spy;
	rc.url = "sf:spy-remote";
	setenv("RCLONE_SFTP_PASS", g.obscured, 1);
	setenv("PGPASSWORD", PASSWORD, 1);
	setenv("MODOSNAP_SECRET_TEST", PASSWORD, 1);
	archive = make_archive("spy", SNAP, 4096, 6);
	assert_int_equal(ms_remote_push(&rc, archive), 0);
	fetch_dir = ms_path_join(g.dir, "spy-fetch");
	test_mkdirs(fetch_dir, NULL);
	assert_int_equal(ms_remote_fetch(&rc, SNAP, fetch_dir), 0);
	assert_int_equal(ms_remote_delete(&rc, SNAP), 0);
	unsetenv("RCLONE_SFTP_PASS");
	unsetenv("PGPASSWORD");
	unsetenv("MODOSNAP_SECRET_TEST");
	argvs = slurp_all(spydir, "argv.", &nargv);
	envs = slurp_all(spydir, "env.", &nenv);
	assert_true(nargv >= 8);
	assert_int_equal(nargv, nenv);
	assert_null(strstr(argvs, PASSWORD));
	assert_null(strstr(argvs, g.obscured));
	assert_null(strstr(envs, PASSWORD));
	assert_null(strstr(envs, g.obscured));
	assert_non_null(strstr(argvs, "--config\n"));
	/* exactly PATH, HOME and LANG=C in each */
	for (char *p = envs; *p;) {
		char *e = strchr(p, '\n');

		*e = '\0';
		assert_true(!strncmp(p, "PATH=", 5) || !strncmp(p, "HOME=", 5) || !strcmp(p, "LANG=C") ||
			    !strcmp(p, "--") || !*p);
		p = e + 1;
	}
	free(argvs);
	free(envs);
	free(archive);
	free(fetch_dir);
	free(spy);
	free(script);
	free(spydir);
	free(url);
}

/* Refused before rclone runs: a connection string (never printed) and a
 * name that is not a plain file name. */
static void test_refused(void **state)
{
	struct ms_rclone rc = { .name = "cs", .url = ":sftp,host=x,pass=hunter2:path" };
	struct ms_remote_file *f;
	char *err;
	size_t n;

	(void)state;
	capture_start();
	assert_int_equal(ms_rclone_list(&rc, &f, &n), -1);
	rc.url = "ok:path";
	assert_int_equal(ms_rclone_delete(&rc, "../etc"), -1);
	assert_int_equal(ms_rclone_upload(&rc, "/dev/null", "a/b"), -1);
	assert_null(ms_rclone_get_text(&rc, "a\nb", 10));
	err = capture_end();
	assert_string_equal(err, "modosnap: error: remote 'cs': its url must be REMOTE:PATH with REMOTE defined in "
				 "rclone's config file (no connection string)\n"
				 "modosnap: error: remote 'cs': '../etc' is not a plain file name\n"
				 "modosnap: error: remote 'cs': 'a/b' is not a plain file name\n"
				 "modosnap: error: remote 'cs': 'a\\x0ab' is not a plain file name\n");
	free(err);
}

/* The kill bound, and the last lines of stderr in the message. */
static void test_bound_and_message(void **state)
{
	struct ms_rclone rc = { .name = "fake", .url = "fake:x", .kill_after_s = 1 };
	struct ms_remote_file *f;
	char *err;
	size_t n;
	time_t t0;

	(void)state;
	need_rclone();
	test_put_file(g.dir, "rclone-sleep", "#!/bin/sh\nexec sleep 30\n", 0755);
	test_put_file(g.dir, "rclone-fail",
		      "#!/bin/sh\nfor i in 1 2 3 4; do echo \"2026/01/01 10:00:0$i ERROR : line $i\" >&2; done\n"
		      "echo >&2\necho 'last one' >&2\nexit 7\n",
		      0755);
	rc.binary = ms_path_join(g.dir, "rclone-sleep");
	t0 = time(NULL);
	capture_start();
	assert_int_equal(ms_rclone_list(&rc, &f, &n), -1);
	err = capture_end();
	assert_true(time(NULL) - t0 < 5);
	assert_string_equal(err, "modosnap: error: remote 'fake': listing did not finish within 1 s (rclone killed)\n");
	free(err);
	free((char *)rc.binary);
	rc.binary = ms_path_join(g.dir, "rclone-fail");
	capture_start();
	assert_int_equal(ms_rclone_delete(&rc, "x"), -1);
	err = capture_end();
	assert_string_equal(err, "modosnap: error: remote 'fake': deleting 'x' failed (rclone exit 7): "
				 "ERROR : line 3; ERROR : line 4; last one\n");
	free(err);
	free((char *)rc.binary);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(test_push_list_fetch_delete, (void *)&cases[0]),
		cmocka_unit_test_prestate(test_push_list_fetch_delete, (void *)&cases[1]),
		cmocka_unit_test_prestate(test_half_uploaded, (void *)&cases[0]),
		cmocka_unit_test_prestate(test_half_uploaded, (void *)&cases[1]),
		cmocka_unit_test_prestate(test_kill_during_upload, (void *)&cases[0]),
		cmocka_unit_test_prestate(test_kill_during_upload, (void *)&cases[1]),
		cmocka_unit_test(test_remote_down),
		cmocka_unit_test(test_no_secret_in_child),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_bound_and_message),
	};

	int failed = cmocka_run_group_tests(tests, group_setup, group_teardown);

	/* without rclone every case was skipped: 77 (SKIP_RETURN_CODE), not a pass */
	return failed ? failed : g.have_rclone ? 0 : 77;
}
