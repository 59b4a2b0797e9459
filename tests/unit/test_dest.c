/*
 * Unit tests for src/dest: creating the destination directory, the run
 * lock, stale partial clean-up, listing order, verification records, the
 * ownership/mode check, files created in it, set-aside archive clean-up.
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

#include "snapshot/dest.h"
#include "base/util.h"
#include "testutil.h"

static char *root; /* scratch directory of one test */

static int setup(void **state)
{
	(void)state;
	root = test_mkdtemp("ms-test-dest");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	test_rmtree(root);
	free(root);
	return 0;
}

static void test_prepare(void **state)
{
	char *dest = ms_path_join(root, "a/b/dest");
	struct stat st;

	(void)state;
	assert_int_equal(ms_dest_prepare(dest), 0);
	assert_int_equal(stat(dest, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(ms_dest_prepare(dest), 0); /* existing: fine */
	free(dest);
}

static void test_lock(void **state)
{
	int a, b;

	(void)state;
	a = ms_dest_lock(root);
	assert_true(a >= 0);
	b = ms_dest_lock(root); /* a second open file description: refused */
	assert_int_equal(b, -2);
	close(a);
	b = ms_dest_lock(root); /* released with its holder */
	assert_true(b >= 0);
	close(b);
}

static void test_partials_and_list(void **state)
{
	struct ms_dest_item *items;
	size_t n;

	(void)state;
	test_put_file(root, "h_20260101T000000Z_modoboa-2.3.2.tar.zst", "a", 0644);
	test_put_file(root, "h_20260301T000000Z_modoboa-2.3.2.tar.zst", "bbb", 0644);
	test_put_file(root, "h_20260201T000000Z_modoboa-2.3.2.tar.zst", "cc", 0644);
	test_put_file(root, "h_20260401T000000Z_modoboa-2.3.2.tar.zst.partial", "x", 0644);
	test_put_file(root, "notes.txt", "x", 0644);
	test_put_file(root, "mydata.tar.zst.partial", "not ours: not a snapshot name", 0644);
	{
		char *dir = ms_path_join(root, "h_20260501T000000Z_modoboa-2.3.2.tar.zst.partial");

		assert_int_equal(mkdir(dir, 0700), 0); /* not a regular file: left alone */
		free(dir);
	}
	assert_int_equal(ms_dest_clean_partials(root), 1);
	{
		char *other = ms_path_join(root, "mydata.tar.zst.partial");

		assert_true(ms_is_file(other));
		free(other);
	}
	assert_int_equal(ms_dest_clean_partials(root), 0);
	assert_int_equal(ms_dest_list(root, &items, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(items[0].stamp, "20260301T000000Z");
	assert_string_equal(items[1].stamp, "20260201T000000Z");
	assert_string_equal(items[2].stamp, "20260101T000000Z");
	assert_int_equal(items[0].size, 3);
	ms_dest_items_free(items, n);
}

/* Who may write into the destination: the user or root, nobody else. */
static void test_check(void **state)
{
	char *link = ms_path_join(root, "link");

	(void)state;
	assert_int_equal(ms_dest_check(root), 0);
	assert_int_equal(chmod(root, 0755), 0);
	assert_int_equal(ms_dest_check(root), 0);
	assert_int_equal(chmod(root, 0777), 0);
	assert_int_equal(ms_dest_check(root), -1);
	assert_int_equal(ms_dest_prepare(root), -1);
	assert_int_equal(ms_dest_lock(root), -1);
	assert_int_equal(ms_dest_clean_partials(root), -1);
	assert_int_equal(ms_dest_clean_unverified(root, 3), -1);
	assert_int_equal(chmod(root, 0720), 0);
	assert_int_equal(ms_dest_check(root), -1);
	assert_int_equal(chmod(root, 0700), 0);
	assert_int_equal(symlink(root, link), 0);
	assert_int_equal(ms_dest_check(link), 0); /* the directory it names is checked */
	test_put_file(root, "file", "x", 0644);
	free(link);
	link = ms_path_join(root, "file");
	assert_int_equal(ms_dest_check(link), -1);
	free(link);
}

/* 0600 whatever the umask; a planted symlink or hard link is replaced,
 * never written through. */
static void test_create_file(void **state)
{
	char *victim = ms_path_join(root, "victim"), *path = ms_path_join(root, "f.tmp");
	struct stat st;
	mode_t old = umask(0277);
	int fd;

	(void)state;
	test_put_file(root, "victim", "precious", 0644);
	assert_int_equal(symlink(victim, path), 0);
	fd = ms_dest_create_file(path);
	umask(old);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "new", 3), 3);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	close(fd);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(link(victim, path), 0);
	fd = ms_dest_create_file(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "new", 3), 3);
	close(fd);
	{
		char *text = ms_read_file(victim, 100, NULL);

		assert_string_equal(text, "precious");
		free(text);
	}
	free(victim);
	free(path);
}

/* The newest 3 set-aside archives stay; nothing else is touched. */
static void test_clean_unverified(void **state)
{
	static const char *const names[] = {
		"h_20260101T000000Z_modoboa-2.3.2.tar.zst.unverified",
		"h_20260501T000000Z_modoboa-2.3.2.tar.zst.unverified",
		"h_20260201T000000Z_modoboa-2.3.2.tar.zst.unverified",
		"h_20260401T000000Z_modoboa-2.3.2.tar.zst.unverified",
		"h_20260301T000000Z_modoboa-2.3.2.tar.zst.unverified",
	};
	char *p;

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		test_put_file(root, names[i], "x", 0644);
	test_put_file(root, "notes.unverified", "x", 0644);
	test_put_file(root, "h_20250101T000000Z_modoboa-2.3.2.tar.zst", "an archive", 0644);
	p = ms_path_join(root, "h_20240101T000000Z_modoboa-2.3.2.tar.zst.unverified");
	assert_int_equal(symlink("/etc/hostname", p), 0);
	free(p);
	assert_int_equal(ms_dest_clean_unverified(root, 3), 2);
	assert_int_equal(ms_dest_clean_unverified(root, 3), 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		p = ms_path_join(root, names[i]);
		/* 2026-01 and 2026-02 are the oldest two */
		assert_int_equal(ms_is_file(p), strstr(names[i], "20260101") == NULL &&
							 strstr(names[i], "20260201") == NULL);
		free(p);
	}
	p = ms_path_join(root, "notes.unverified");
	assert_true(ms_is_file(p));
	free(p);
	p = ms_path_join(root, "h_20240101T000000Z_modoboa-2.3.2.tar.zst.unverified");
	{
		struct stat st;

		assert_int_equal(lstat(p, &st), 0);
		assert_true(S_ISLNK(st.st_mode)); /* not ours to remove */
	}
	free(p);
}

static void test_verified_record(void **state)
{
	char *a = ms_path_join(root, "h_20260101T000000Z_modoboa-2.3.2.tar.zst");
	char when[32];

	(void)state;
	test_put_file(root, "h_20260101T000000Z_modoboa-2.3.2.tar.zst", "data", 0644);
	assert_int_equal(ms_dest_verified_at(a, when), 0);
	assert_int_equal(ms_dest_mark_verified(a), 0);
	assert_int_equal(ms_dest_verified_at(a, when), 1);
	assert_int_equal(strlen(when), 20);
	test_put_file(root, "h_20260101T000000Z_modoboa-2.3.2.tar.zst", "changed!", 0644); /* size differs: stale */
	assert_int_equal(ms_dest_verified_at(a, when), 0);
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_prepare, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partials_and_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verified_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clean_unverified, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
