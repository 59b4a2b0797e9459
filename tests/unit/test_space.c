/*
 * Unit tests for src/space: byte counting of a tree (symlinks, hard links,
 * subdirectories), the compression ratio learned from a real archive and
 * its default, the estimate's arithmetic, the default floor, formatting,
 * and the free-space check both through the test seam and real statvfs,
 * with its exact message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "formats/manifest.h"
#include "formats/snaparchive.h"
#include "snapshot/space.h"
#include "testutil.h"
#include "base/util.h"

#define MIB (1024LL * 1024)
#define GIB (1024LL * MIB)

static char *root; /* scratch directory of one test */

static int setup(void **state)
{
	(void)state;
	root = test_mkdtemp("ms-test-space");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unsetenv(MS_SPACE_TEST_FREE_ENV);
	test_rmtree(root);
	free(root);
	return 0;
}

/* Creates root/name holding `len` bytes of `c`. */
static void make_file(const char *name, size_t len, char c)
{
	char *buf = ms_xmalloc(len + 1);

	memset(buf, c, len);
	test_put_data(root, name, buf, len, 0644);
	free(buf);
}

static void make_symlink(const char *target, const char *name)
{
	char *p = ms_path_join(root, name);

	assert_int_equal(symlink(target, p), 0);
	free(p);
}

/* --- ms_space_tree_bytes ------------------------------------------------- */

static void test_tree_bytes(void **state)
{
	char *tree = ms_path_join(root, "tree");
	char *a, *b, *missing, *err;

	(void)state;
	test_put_dir(root, "tree", 0700);
	test_put_dir(root, "tree/sub", 0700);
	test_put_dir(root, "tree/sub/deeper", 0700);
	test_put_dir(root, "outside", 0700);
	make_file("tree/a.txt", 10, 'a');
	make_file("tree/sub/b.bin", 1000, 'b');
	make_file("tree/sub/deeper/c", 5, 'c');
	make_file("tree/empty", 0, 'x');
	make_file("outside/big", 100000, 'o');
	make_symlink("a.txt", "tree/link-to-file");          /* not followed: counts nothing */
	make_symlink("../outside", "tree/link-to-dir");      /* not followed */
	make_symlink("/nonexistent", "tree/dangling");
	a = ms_path_join(root, "tree/sub/b.bin");
	b = ms_path_join(root, "tree/b.hardlink");
	assert_int_equal(link(a, b), 0);                     /* one inode: counted once */
	free(a);
	free(b);
	a = ms_path_join(root, "tree/fifo");
	assert_int_equal(mkfifo(a, 0600), 0);                /* not a regular file */
	free(a);
	assert_int_equal(ms_space_tree_bytes(tree), 10 + 1000 + 5);

	/* the root itself is not followed when it is a symlink */
	make_symlink("tree", "tree-link");
	a = ms_path_join(root, "tree-link");
	capture_start();
	assert_int_equal(ms_space_tree_bytes(a), -1);
	free(capture_end());
	free(a);

	missing = ms_path_join(root, "missing");
	capture_start();
	assert_int_equal(ms_space_tree_bytes(missing), -1);
	err = capture_end();
	b = ms_xasprintf("modosnap: error: unable to open directory '%s': No such file or directory\n", missing);
	assert_string_equal(err, b);
	free(b);
	free(err);
	free(missing);
	free(tree);
}

/* Counts tree as the current user; 7 bytes expected, nothing logged. */
static void count_unreadable(const char *tree)
{
	char *err;

	capture_start();
	assert_int_equal(ms_space_tree_bytes(tree), 7); /* skipped quietly (debug only) */
	err = capture_end();
	assert_string_equal(err, "");
	free(err);
}

static void test_tree_bytes_unreadable(void **state)
{
	char *tree = ms_path_join(root, "tree");
	char *locked = ms_path_join(root, "tree/locked");

	(void)state;
	test_put_dir(root, "tree", 0700);
	test_put_dir(root, "tree/locked", 0700);
	make_file("tree/ok", 7, 'k');
	make_file("tree/locked/hidden", 50, 'h');
	assert_int_equal(chmod(locked, 0), 0);
	if (geteuid() != 0) {
		count_unreadable(tree);
	} else {
		/* root reads everything: count as nobody in a child */
		pid_t pid;
		int st;

		assert_int_equal(chmod(root, 0755), 0);
		assert_int_equal(chmod(tree, 0755), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			if (setgid(65534) < 0 || setuid(65534) < 0)
				_exit(2);
			_exit(ms_space_tree_bytes(tree) == 7 ? 0 : 1);
		}
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	assert_int_equal(chmod(locked, 0700), 0);
	free(locked);
	free(tree);
}

/* --- ms_space_ratio ------------------------------------------------------ */

static void entry_of(struct ms_entry *e, const char *path, size_t len)
{
	memset(e, 0, sizeof(*e));
	e->path = (char *)path;
	e->type = MS_ENTRY_FILE;
	e->size = len;
	e->mode = 0644;
	e->uid = (uint32_t)getuid();
	e->gid = (uint32_t)getgid();
	e->mtime_sec = (int64_t)time(NULL);
}

static void write_member(struct ms_archive_writer *w, struct ms_manifest *mf, const char *path, const void *data,
			 size_t len, long long *sum)
{
	struct ms_entry e;
	char sha[MS_HASH_HEX_MAX];

	entry_of(&e, path, len);
	assert_int_equal(ms_archive_write_buffer(w, &e, data, len, sha), 0);
	if (mf)
		ms_manifest_add(mf, &e, sha, 0);
	*sum += (long long)len;
}

/* Writes a complete snapshot archive root/dest/name (header, members of
 * `zeros` zero bytes and `noise` pseudo-random bytes, manifest). Returns
 * the sum of its members' sizes. */
static long long make_archive(const char *name, size_t zeros, size_t noise)
{
	char *dir = ms_path_join(root, "dest"), *path = ms_path_join(dir, name);
	struct ms_manifest mf = { 0 };
	struct ms_header h = { 0 };
	struct ms_archive_writer *w;
	unsigned char *buf = ms_xcalloc(1, zeros > noise ? zeros : noise);
	unsigned seed = 12345;
	long long sum = 0;
	char *text;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	w = ms_archive_writer_open(fd, path, NULL);
	assert_non_null(w);
	h.format_version = MS_FORMAT_VERSION;
	ms_header_new_id((long long)time(NULL), &h.snapshot_id, &h.created);
	h.host = ms_xstrdup("test.example.org");
	h.tool_version = ms_xstrdup("0.1.0");
	h.instance = ms_xstrdup("/srv/modoboa/instance");
	ms_strv_push(&h.components, "instance");
	text = ms_header_encode(&h);
	mf.format_version = MS_FORMAT_VERSION;
	mf.snapshot_id = ms_xstrdup(h.snapshot_id);
	write_member(w, &mf, MS_HEADER_NAME, text, strlen(text), &sum);
	free(text);
	write_member(w, &mf, "files/instance/zeros", buf, zeros, &sum);
	for (size_t i = 0; i < noise; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (unsigned char)(seed >> 16);
	}
	write_member(w, &mf, "files/instance/noise", buf, noise, &sum);
	text = ms_manifest_encode(&mf);
	write_member(w, NULL, MS_MANIFEST_NAME, text, strlen(text), &sum);
	free(text);
	assert_int_equal(ms_archive_writer_close(w, NULL), 0);
	ms_archive_writer_free(w);
	assert_int_equal(close(fd), 0);
	ms_manifest_clear(&mf);
	ms_header_clear(&h);
	free(buf);
	free(path);
	free(dir);
	return sum;
}

static long long file_size(const char *rel)
{
	char *p = ms_path_join(root, rel);
	struct stat st;

	assert_int_equal(stat(p, &st), 0);
	free(p);
	return (long long)st.st_size;
}

static void test_ratio_default(void **state)
{
	char *dest = ms_path_join(root, "dest"), *missing = ms_path_join(root, "missing"), *err;

	(void)state;
	test_put_dir(root, "dest", 0700);
	assert_true(ms_space_ratio(dest) == MS_SPACE_DEFAULT_RATIO);     /* empty */
	make_file("dest/notes.txt", 200000, 'n');                        /* not a snapshot name */
	assert_true(ms_space_ratio(dest) == MS_SPACE_DEFAULT_RATIO);
	make_file("dest/h_20260101T000000Z_modoboa-2.3.2.tar.zst", 200000, 'g'); /* not an archive */
	capture_start();
	assert_true(ms_space_ratio(dest) == MS_SPACE_DEFAULT_RATIO);
	assert_true(ms_space_ratio(missing) == MS_SPACE_DEFAULT_RATIO);  /* no dest at all */
	err = capture_end();
	assert_string_equal(err, "");                                    /* silent */
	free(err);
	free(missing);
	free(dest);
}

static void test_ratio_learned(void **state)
{
	char *dest = ms_path_join(root, "dest");
	const char *older = "dest/h_20260101T000000Z_modoboa-2.3.2.tar.zst";
	const char *newer = "dest/h_20260201T000000Z_modoboa-2.3.2.tar.zst";
	long long sum_old, sum_new;
	double r;

	(void)state;
	test_put_dir(root, "dest", 0700);
	sum_old = make_archive("h_20260101T000000Z_modoboa-2.3.2.tar.zst", 64 * 1024, 256 * 1024);
	r = ms_space_ratio(dest);
	assert_true(fabs(r - (double)file_size(older) / (double)sum_old) < 1e-12);
	assert_true(r > 0.6 && r < 1.0); /* mostly noise */

	/* the newest snapshot wins */
	sum_new = make_archive("h_20260201T000000Z_modoboa-2.3.2.tar.zst", 512 * 1024, 64 * 1024);
	r = ms_space_ratio(dest);
	assert_true(fabs(r - (double)file_size(newer) / (double)sum_new) < 1e-12);
	assert_true(r > 0.05 && r < 0.2); /* mostly zeros */

	/* an unreadable newest one is skipped for the next older */
	make_file("dest/h_20260301T000000Z_modoboa-2.3.2.tar.zst", 100000, 'x');
	r = ms_space_ratio(dest);
	assert_true(fabs(r - (double)file_size(newer) / (double)sum_new) < 1e-12);

	/* a newest one too small to learn from gives the default */
	make_archive("h_20260401T000000Z_modoboa-2.3.2.tar.zst", 100, 100);
	assert_true(ms_space_ratio(dest) == MS_SPACE_DEFAULT_RATIO);
	free(dest);
}

/* --- arithmetic and formatting ------------------------------------------- */

static void test_estimate(void **state)
{
	static const struct {
		long long files, db;
		double ratio;
		long long want;
	} cases[] = {
		{ 1000, 0, 0.5, 500 + MS_SPACE_OVERHEAD },
		{ 3, 4, 0.5, 4 + MS_SPACE_OVERHEAD },            /* 3.5 rounds up */
		{ 1000, 1000, 1.0, 2000 + MS_SPACE_OVERHEAD },
		{ 10 * GIB, 2 * GIB, 0.25, 3 * GIB + MS_SPACE_OVERHEAD },
		{ 1, 0, 0.001, 1 + MS_SPACE_OVERHEAD },           /* any fraction of a byte is a byte */
		{ 0, 0, 0.5, MS_SPACE_OVERHEAD },
		{ -1, -1, 0.5, MS_SPACE_OVERHEAD },               /* unknown counts as nothing */
		{ 1000, 0, 0.0, 500 + MS_SPACE_OVERHEAD },        /* no ratio: the default */
		{ 1000, 0, -2.0, 500 + MS_SPACE_OVERHEAD },
		{ LLONG_MAX, LLONG_MAX, 1.0, LLONG_MAX },         /* saturates */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(ms_space_estimate(cases[i].files, cases[i].db, cases[i].ratio), cases[i].want);
	assert_int_equal(ms_space_estimate(1000, 0, NAN), 500 + MS_SPACE_OVERHEAD);
	assert_int_equal(ms_space_estimate(0, 0, INFINITY), MS_SPACE_OVERHEAD);
}

static void test_default_floor(void **state)
{
	(void)state;
	assert_int_equal(ms_space_default_floor(10 * GIB), 512 * MIB);  /* 5% */
	assert_int_equal(ms_space_default_floor(20 * GIB), GIB);        /* 5% == 1 GiB */
	assert_int_equal(ms_space_default_floor(2000 * GIB), GIB);      /* capped */
	assert_int_equal(ms_space_default_floor(0), 0);
}

static void test_fmt(void **state)
{
	static const struct {
		long long bytes;
		const char *want;
	} cases[] = {
		{ 0, "0.0 MiB" },
		{ -5, "0.0 MiB" },
		{ 512 * 1024, "0.5 MiB" },
		{ 1536 * 1024, "1.5 MiB" },
		{ 1023 * MIB, "1023.0 MiB" },
		{ GIB, "1.0 GiB" },
		{ 5 * GIB / 2, "2.5 GiB" },
		{ 3 * 1024 * GIB, "3.0 TiB" },
		{ 4096 * 1024 * GIB, "4096.0 TiB" },
	};
	char buf[MS_SPACE_FMT_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(ms_space_fmt(cases[i].bytes, buf), cases[i].want);
}

/* --- ms_space_check ------------------------------------------------------ */

static void test_check_seam(void **state)
{
	char *err, *want;

	(void)state;
	assert_int_equal(setenv(MS_SPACE_TEST_FREE_ENV, "2147483648", 1), 0); /* 2 GiB */
	assert_int_equal(ms_space_check(root, 512 * MIB, GIB), 0);
	assert_int_equal(ms_space_check(root, GIB, GIB), 0);                  /* exactly the floor: fine */
	assert_int_equal(ms_space_check(root, 0, 2 * GIB), 0);
	capture_start();
	assert_int_equal(ms_space_check(root, GIB + 1, GIB), -1);
	assert_int_equal(ms_space_check(root, 1536 * MIB, 700 * MIB), -1);
	err = capture_end();
	want = ms_xasprintf("modosnap: error: not enough space in '%s': the snapshot needs about 1.0 GiB and "
			    "1.0 GiB must stay free (min_free), but only 2.0 GiB is free\n"
			    "modosnap: error: not enough space in '%s': the snapshot needs about 1.5 GiB and "
			    "700.0 MiB must stay free (min_free), but only 2.0 GiB is free\n", root, root);
	assert_string_equal(err, want);
	free(want);
	free(err);

	/* no floor configured: the default (at most 1 GiB) applies */
	assert_int_equal(ms_space_check(root, GIB, -1), 0);
	capture_start();
	assert_int_equal(ms_space_check(root, 2 * GIB, -1), -1); /* nothing left: any floor > 0 fails */
	free(capture_end());

	assert_int_equal(setenv(MS_SPACE_TEST_FREE_ENV, "0", 1), 0);
	assert_int_equal(ms_space_check(root, 0, 0), 0);
	capture_start();
	assert_int_equal(ms_space_check(root, 1, 0), -1);
	free(capture_end());

	assert_int_equal(setenv(MS_SPACE_TEST_FREE_ENV, "12x", 1), 0);
	capture_start();
	assert_int_equal(ms_space_check(root, 0, 0), -1);
	err = capture_end();
	assert_string_equal(err, "modosnap: error: invalid MODOSNAP_TEST_FREE_BYTES '12x': not a byte count\n");
	free(err);
}

static void test_check_statvfs(void **state)
{
	char *missing = ms_path_join(root, "missing"), *err, *want;

	(void)state;
	unsetenv(MS_SPACE_TEST_FREE_ENV);
	assert_int_equal(ms_space_check(root, 0, 0), 0);
	capture_start();
	assert_int_equal(ms_space_check(root, LLONG_MAX / 2, 0), -1); /* no filesystem is that large */
	err = capture_end();
	want = ms_xasprintf("modosnap: error: not enough space in '%s': the snapshot needs about ", root);
	assert_true(strncmp(err, want, strlen(want)) == 0);
	assert_non_null(strstr(err, " must stay free (min_free), but only "));
	free(want);
	free(err);

	capture_start();
	assert_int_equal(ms_space_check(missing, 0, 0), -1);
	err = capture_end();
	want = ms_xasprintf("modosnap: error: unable to read the free space of '%s': No such file or directory\n",
			    missing);
	assert_string_equal(err, want);
	free(want);
	free(err);
	free(missing);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tree_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tree_bytes_unreadable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ratio_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ratio_learned, setup, teardown),
		cmocka_unit_test(test_estimate),
		cmocka_unit_test(test_default_floor),
		cmocka_unit_test(test_fmt),
		cmocka_unit_test_setup_teardown(test_check_seam, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_statvfs, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
