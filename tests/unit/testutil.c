/*
 * Shared unit-test helpers (see testutil.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <stdio.h>
#include <ftw.h>
#include <stdlib.h>
#include <unistd.h>

#include "testutil.h"

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

char *capture_end(void)
{
	off_t size;
	char *text;

	fflush(stderr);
	dup2(cap_saved, 2);
	close(cap_saved);
	size = lseek(cap_fd, 0, SEEK_END);
	assert_true(size >= 0);
	text = calloc(1, (size_t)size + 1);
	assert_non_null(text);
	assert_int_equal(pread(cap_fd, text, (size_t)size, 0), size);
	close(cap_fd);
	return text;
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
