/*
 * Helpers shared by the cmocka unit tests: capturing what the code under
 * test writes to stderr (so tests can assert exact messages), scratch
 * directories, and writing and reading the files a test sets up. Every
 * helper fails the running test (cmocka assert) instead of returning an
 * error; returned strings are the caller's to free.
 */
#ifndef MS_TESTUTIL_H
#define MS_TESTUTIL_H

#include <stddef.h>
#include <sys/types.h>

struct ms_kv;

/* Redirects fd 2 to a temporary file until capture_end(). */
void capture_start(void);
/* Bytes written to the captured stderr so far. */
long capture_size(void);
/* What was written to the captured stderr from byte `offset` on (caller
 * frees); the capture goes on. */
char *capture_since(long offset);
/* Restores stderr and returns what was written to it (caller frees). */
char *capture_end(void);

/* State of a test run by test_fixture_setup/_teardown. */
struct test_fixture {
	const void *row; /* the table row given as the test's initial state, or NULL */
	char *dir;       /* a fresh scratch directory, removed by the teardown */
};
/* cmocka setup: *state (a table row or NULL) becomes a struct test_fixture
 * holding it and a new scratch directory. */
int test_fixture_setup(void **state);
/* cmocka teardown: removes the directory, frees the fixture and sets the
 * log level back to the default (a test may have changed it). */
int test_fixture_teardown(void **state);

/* A new empty directory <base>/<name>.XXXXXX, base being $MS_TEST_TMP
 * (set by CTest, created 0755 when missing) or /tmp; caller frees. */
char *test_mkdtemp(const char *name);
/* Removes a directory tree without following symlinks (test clean-up). */
void test_rmtree(const char *dir);
/* mkdir -p of dir/sub (or of dir when sub is NULL): every missing
 * directory, 0755. */
void test_mkdirs(const char *dir, const char *sub);

/* Writes len bytes to path (created or truncated), then sets `mode`
 * exactly (after the write, so neither umask nor the write changes it). */
void test_write_file(const char *path, const void *data, size_t len, mode_t mode);
/* test_write_file to dir/name. */
void test_put_data(const char *dir, const char *name, const void *data, size_t len, mode_t mode);
/* test_put_data of the string text. */
void test_put_file(const char *dir, const char *name, const char *text, mode_t mode);
/* Creates the directory dir/name with exactly `mode`. */
void test_put_dir(const char *dir, const char *name, mode_t mode);
/* Creates the symlink dir/name -> target. */
void test_put_symlink(const char *dir, const char *name, const char *target);
/* The whole file (up to 16 MiB) as a NUL-terminated string; caller frees. */
char *test_slurp(const char *path);
/* SHA-256 of a file by sha256sum(1), as 64 hex digits. */
void test_sha256sum(const char *path, char hex[65]);

/* t with every "@D@" replaced by dir and every "@F@" by file (file may be
 * NULL when t has none); caller frees. */
char *test_subst(const char *t, const char *dir, const char *file);
/* Appends a copy of key/value (value may be NULL) to the array *kv of *n. */
void test_kv_add(struct ms_kv **kv, size_t *n, const char *key, const char *value);
/* Runs the shell command printf(fmt, ...) and returns system()'s status
 * (0 when it exited 0). */
int test_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Both NULL, or equal strings. */
void assert_str_or_null(const char *a, const char *b);

#endif
