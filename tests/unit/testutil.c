/*
 * Shared unit-test helpers (see testutil.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "formats/manifest.h"

static int cap_fd = -1, cap_saved = -1;

void capture_start(void)
{
	char tmpl[] = "/tmp/ms-test-stderr.XXXXXX";

	fflush(stderr);
	cap_fd = mkstemp(tmpl);
	assert_true(cap_fd >= 0);
	unlink(tmpl);
	cap_saved = dup(2);
	assert_true(cap_saved >= 0);
	assert_true(dup2(cap_fd, 2) >= 0);
}

long capture_size(void)
{
	off_t size;

	fflush(stderr);
	size = lseek(cap_fd, 0, SEEK_END);
	assert_true(size >= 0);
	return (long)size;
}

char *capture_since(long offset)
{
	long size = capture_size();
	char *text;

	assert_true(offset >= 0 && offset <= size);
	text = calloc(1, (size_t)(size - offset) + 1);
	assert_non_null(text);
	assert_int_equal(pread(cap_fd, text, (size_t)(size - offset), offset), size - offset);
	return text;
}

char *capture_end(void)
{
	char *text = capture_since(0);

	dup2(cap_saved, 2);
	close(cap_saved);
	close(cap_fd);
	return text;
}

char *test_mkdtemp(const char *name)
{
	const char *base = getenv("MS_TEST_TMP");
	char *tmpl;

	if (!base || !*base)
		base = "/tmp";
	/* shared with CLI tests that may run as another user */
	assert_true(mkdir(base, 0755) == 0 || errno == EEXIST);
	tmpl = ms_xasprintf("%s/%s.XXXXXX", base, name);
	assert_non_null(mkdtemp(tmpl));
	return tmpl;
}

int test_fixture_setup(void **state)
{
	struct test_fixture *fx = ms_xcalloc(1, sizeof(*fx));

	fx->row = *state;
	fx->dir = test_mkdtemp("ms-test");
	*state = fx;
	return 0;
}

int test_fixture_teardown(void **state)
{
	struct test_fixture *fx = *state;

	test_rmtree(fx->dir);
	free(fx->dir);
	free(fx);
	ms_log_set_level(MS_LOG_INFO);
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void test_rmtree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void test_mkdirs(const char *dir, const char *sub)
{
	char *copy = sub ? ms_path_join(dir, sub) : ms_xstrdup(dir);

	for (char *s = copy + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		assert_true(mkdir(copy, 0755) == 0 || errno == EEXIST);
		*s = '/';
	}
	assert_true(mkdir(copy, 0755) == 0 || errno == EEXIST);
	free(copy);
}

void test_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0); /* after the write, which may clear setuid */
	assert_int_equal(close(fd), 0);
}

void test_put_data(const char *dir, const char *name, const void *data, size_t len, mode_t mode)
{
	char *path = ms_path_join(dir, name);

	test_write_file(path, data, len, mode);
	free(path);
}

void test_put_file(const char *dir, const char *name, const char *text, mode_t mode)
{
	test_put_data(dir, name, text, strlen(text), mode);
}

void test_put_dir(const char *dir, const char *name, mode_t mode)
{
	char *path = ms_path_join(dir, name);

	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(chmod(path, mode), 0);
	free(path);
}

void test_put_symlink(const char *dir, const char *name, const char *target)
{
	char *path = ms_path_join(dir, name);

	assert_int_equal(symlink(target, path), 0);
	free(path);
}

char *test_slurp(const char *path)
{
	char *text = ms_read_file(path, (size_t)16 << 20, NULL);

	assert_non_null(text);
	return text;
}

void test_sha256sum(const char *path, char hex[65])
{
	struct ms_strbuf cmd = MS_STRBUF_INIT;
	char out[128] = "";
	FILE *p;

	ms_strbuf_addstr(&cmd, "sha256sum < '");
	for (const char *s = path; *s; s++)
		ms_strbuf_addstr(&cmd, *s == '\'' ? "'\\''" : (char[]){ *s, 0 });
	ms_strbuf_addch(&cmd, '\'');
	p = popen(cmd.buf, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, sizeof(out), p));
	assert_int_equal(pclose(p), 0);
	assert_true(strlen(out) >= 64);
	memcpy(hex, out, 64);
	hex[64] = '\0';
	ms_strbuf_release(&cmd);
}

char *test_subst(const char *t, const char *dir, const char *file)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;

	while (*t) {
		if (strncmp(t, "@D@", 3) == 0) {
			ms_strbuf_addstr(&sb, dir);
			t += 3;
		} else if (strncmp(t, "@F@", 3) == 0) {
			assert_non_null(file);
			ms_strbuf_addstr(&sb, file);
			t += 3;
		} else {
			ms_strbuf_addch(&sb, *t++);
		}
	}
	return ms_strbuf_detach(&sb);
}

void test_kv_add(struct ms_kv **kv, size_t *n, const char *key, const char *value)
{
	*kv = ms_xrealloc(*kv, (*n + 1) * sizeof(**kv));
	(*kv)[*n].key = ms_xstrdup(key);
	(*kv)[*n].value = value ? ms_xstrdup(value) : NULL;
	(*n)++;
}

int test_run(const char *fmt, ...)
{
	char *cmd = NULL;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	assert_true(rc >= 0);
	rc = system(cmd);
	free(cmd);
	return rc;
}

void assert_str_or_null(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}
