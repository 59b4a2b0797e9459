/*
 * Unit tests for src/base: string buffer, string vector, paths, number
 * parsing, file reading, the digests (known-answer vectors) and the log's
 * journal priorities.
 */
#include <errno.h>
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

#include "base/hash.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "testutil.h"

static void test_strbuf(void **state)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	char *s;

	(void)state;
	assert_string_equal(ms_strbuf_str(&sb), "");
	ms_strbuf_addstr(&sb, "abc");
	ms_strbuf_addch(&sb, '-');
	for (int i = 0; i < 200; i++)
		ms_strbuf_addf(&sb, "%d,", i);
	assert_true(sb.len > 500);
	assert_memory_equal(sb.buf, "abc-0,1,2,", 10);
	assert_int_equal(strlen(sb.buf), sb.len);
	ms_strbuf_add(&sb, "\0x", 2);
	assert_int_equal(sb.buf[sb.len - 2], '\0');
	ms_strbuf_reset(&sb);
	assert_int_equal(sb.len, 0);
	ms_strbuf_addf(&sb, "%s", "long enough to need a second vsnprintf pass in the first chunk: "
			       "0123456789012345678901234567890123456789");
	s = ms_strbuf_detach(&sb);
	assert_string_equal(s + 62, ": 0123456789012345678901234567890123456789");
	assert_null(sb.buf);
	free(s);
	s = ms_strbuf_detach(&sb);
	assert_string_equal(s, "");
	free(s);
}

static void test_paths(void **state)
{
	static const struct {
		const char *a, *b, *join;
	} joins[] = {
		{ "/srv", "x", "/srv/x" }, { "/srv/", "/x", "/srv/x" }, { "/", "x", "/x" },
		{ "a", "b/c", "a/b/c" }, { "/srv//", "x/", "/srv/x/" },
	};
	static const struct {
		const char *path, *dir, *base;
	} parts[] = {
		{ "/srv/modoboa/env/bin/python", "/srv/modoboa/env/bin", "python" },
		{ "python", ".", "python" }, { "/python", "/", "python" }, { "a//b", "a", "b" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(joins) / sizeof(joins[0]); i++) {
		char *j = ms_path_join(joins[i].a, joins[i].b);

		assert_string_equal(j, joins[i].join);
		free(j);
	}
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		char *d = ms_path_dirname(parts[i].path);

		assert_string_equal(d, parts[i].dir);
		assert_string_equal(ms_path_basename(parts[i].path), parts[i].base);
		free(d);
	}
}

static void test_parse_ulong(void **state)
{
	unsigned long v = 7;

	(void)state;
	assert_int_equal(ms_parse_ulong("5432", 1, 65535, &v), 0);
	assert_int_equal(v, 5432);
	assert_int_equal(ms_parse_ulong("65536", 1, 65535, &v), -1);
	assert_int_equal(ms_parse_ulong("0", 1, 65535, &v), -1);
	assert_int_equal(ms_parse_ulong("", 0, 10, &v), -1);
	assert_int_equal(ms_parse_ulong("-1", 0, 10, &v), -1);
	assert_int_equal(ms_parse_ulong(" 1", 0, 10, &v), -1);
	assert_int_equal(ms_parse_ulong("1x", 0, 10, &v), -1);
	assert_int_equal(ms_parse_ulong("99999999999999999999999", 0, (unsigned long)-1, &v), -1);
	assert_int_equal(v, 5432);
}

static void test_strv(void **state)
{
	struct ms_strv sv = { 0 };

	(void)state;
	ms_strv_push(&sv, "b");
	ms_strv_push_owned(&sv, ms_xstrdup("a"));
	for (int i = 0; i < 20; i++)
		ms_strv_push(&sv, "c");
	ms_strv_sort(&sv);
	assert_int_equal(sv.n, 22);
	assert_null(sv.v[sv.n]);
	assert_string_equal(sv.v[0], "a");
	assert_string_equal(sv.v[1], "b");
	assert_true(ms_strv_contains(&sv, "c"));
	assert_false(ms_strv_contains(&sv, "d"));
	ms_strv_clear(&sv);
	assert_int_equal(sv.n, 0);
}

/* Known answers: `printf 'abc' | md5sum` and `| sha256sum`. */
static void test_hash(void **state)
{
	char hex[MS_HASH_HEX_MAX];
	char path[] = "/tmp/ms-test-hash.XXXXXX";
	struct ms_hash *h;
	int fd;

	(void)state;
	ms_hash_buf_hex(MS_HASH_MD5, "abc", 3, hex);
	assert_string_equal(hex, "900150983cd24fb0d6963f7d28e17f72");
	ms_hash_buf_hex(MS_HASH_SHA256, "abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	h = ms_hash_new(MS_HASH_SHA256);
	ms_hash_update(h, "a", 1);
	ms_hash_update(h, "bc", 2);
	ms_hash_final_hex(h, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	ms_hash_final_hex(h, hex); /* reset after final: digest of "" */
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	ms_hash_free(h);
	ms_hash_free(NULL);
	{
		unsigned char raw[32];

		ms_sha256_raw("abc", 3, raw);
		assert_int_equal(raw[0], 0xba);
		assert_int_equal(raw[31], 0xad);
		ms_sha256_raw("", 0, raw); /* the context is reused */
		assert_int_equal(raw[0], 0xe3);
		assert_int_equal(raw[31], 0x55);
	}
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "abc", 3), 3);
	close(fd);
	assert_int_equal(ms_hash_file_hex(MS_HASH_MD5, path, hex), 0);
	assert_string_equal(hex, "900150983cd24fb0d6963f7d28e17f72");
	unlink(path);
	assert_int_equal(ms_hash_file_hex(MS_HASH_MD5, path, hex), -1);
}

static void test_read_file(void **state)
{
	char path[] = "/tmp/ms-test-read.XXXXXX";
	size_t len = 0;
	char *s;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello\0world", 11), 11);
	close(fd);
	s = ms_read_file(path, 100, &len);
	assert_non_null(s);
	assert_int_equal(len, 11);
	assert_memory_equal(s, "hello\0world", 12);
	free(s);
	assert_null(ms_read_file(path, 10, NULL)); /* over the limit */
	assert_null(ms_read_file("/", 10, NULL));  /* not a regular file */
	unlink(path);
	assert_null(ms_read_file(path, 10, NULL)); /* missing */
}

static void test_printable(void **state)
{
	char *p;

	(void)state;
	p = ms_printable("plain caf\xc3\xa9 text");
	assert_string_equal(p, "plain caf\xc3\xa9 text");
	free(p);
	p = ms_printable("a\x1b[2Jb\n\x7f\\");
	assert_string_equal(p, "a\\x1b[2Jb\\x0a\\x7f\\\\");
	free(p);
}

/* ms_mkdir_p: every missing level, an existing tree, and the exact error
 * when a component is a file. */
static void test_mkdir_p(void **state)
{
	char *dir = test_mkdtemp("mkdirp"), *deep = ms_path_join(dir, "a/b/c"), *file = ms_path_join(dir, "f");
	char *under = ms_path_join(file, "x/y"), *err, *want;
	FILE *f;

	(void)state;
	assert_int_equal(ms_mkdir_p(deep), 0);
	assert_true(ms_is_dir(deep));
	assert_int_equal(ms_mkdir_p(deep), 0); /* already there */
	f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	capture_start();
	assert_int_equal(ms_mkdir_p(under), -1);
	err = capture_end();
	want = ms_xasprintf("modosnap: error: unable to create directory '%s/x': Not a directory\n", file);
	assert_string_equal(err, want);
	free(want);
	free(err);
	test_rmtree(dir);
	free(under);
	free(file);
	free(deep);
	free(dir);
}

/* One line of each level, a message with a newline in it, as written with
 * stderr the journal (prefixed) or not (unchanged). */
static void log_each_level(void)
{
	ms_log_error("no snapshot '%s' in '%s'", "x", "/d");
	ms_log_warn("disk %d%% full", 91);
	ms_log_info("wrote '%s'", "s.tar.zst");
	ms_log_debug("two\nlines");
}

#define LOG_LINES(p3, p4, p6, p7)                                                                   \
	p3 "modosnap: error: no snapshot 'x' in '/d'\n" p4 "modosnap: warning: disk 91% full\n" p6      \
	   "modosnap: wrote 's.tar.zst'\n" p7 "modosnap: debug: two\\x0alines\n"

/* While deduplication is on, an error line printed already is not printed
 * again (warnings and other errors are); off, everything is printed. */
static void test_log_dedupe(void **state)
{
	char *err;

	(void)state;
	capture_start();
	ms_log_dedupe(1);
	ms_log_error("'%s': corrupt archive: %s", "a.tar.zst", "checksum");
	ms_log_warn("between");
	ms_log_error("'%s': corrupt archive: %s", "a.tar.zst", "checksum");
	ms_log_error("another");
	ms_log_error("'%s': corrupt archive: %s", "a.tar.zst", "checksum");
	ms_log_dedupe(0);
	ms_log_error("another");
	ms_log_error("another");
	err = capture_end();
	assert_string_equal(err, "modosnap: error: 'a.tar.zst': corrupt archive: checksum\n"
				 "modosnap: warning: between\n"
				 "modosnap: error: another\n"
				 "modosnap: error: another\n"
				 "modosnap: error: another\n");
	free(err);
}

/* JOURNAL_STREAM: "<dev>:<inode>" of stderr (systemd.exec(5)) gives every
 * line its syslog priority; any other value, or none, changes nothing. */
static void test_log_journal(void **state)
{
	static const struct {
		const char *stream; /* @D@, @F@: stderr's st_dev, st_ino; NULL: unset */
		int journal;
	} rows[] = {
		{ "@D@:@F@", 1 },  { NULL, 0 },       { "@D@:@F@1", 0 }, { "1@D@:@F@", 0 },
		{ "@D@:@F@:", 0 }, { "@D@:", 0 },     { " @D@:@F@", 0 }, { "@D@:+@F@", 0 },
		{ "@D@ @F@", 0 },  { "", 0 },         { "@F@:@D@", 0 },
	};
	const char *plain = LOG_LINES("", "", "", "");
	const char *journal = LOG_LINES("<3>", "<4>", "<6>", "<7>");

	(void)state;
	ms_log_set_level(MS_LOG_DEBUG);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct stat st;
		char dev[32], ino[32], *err, *val;

		capture_start();
		assert_int_equal(fstat(2, &st), 0);
		snprintf(dev, sizeof(dev), "%llu", (unsigned long long)st.st_dev);
		snprintf(ino, sizeof(ino), "%llu", (unsigned long long)st.st_ino);
		if (rows[i].stream) {
			val = test_subst(rows[i].stream, dev, ino);
			assert_int_equal(setenv("JOURNAL_STREAM", val, 1), 0);
			free(val);
		} else {
			unsetenv("JOURNAL_STREAM");
		}
		errno = ENOSPC; /* a caller may read errno after logging */
		log_each_level();
		assert_int_equal(errno, ENOSPC);
		err = capture_end();
		assert_string_equal(err, rows[i].journal ? journal : plain);
		free(err);
	}
	unsetenv("JOURNAL_STREAM");
	ms_log_set_level(MS_LOG_INFO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strbuf),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_parse_ulong),
		cmocka_unit_test(test_strv),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_read_file),
		cmocka_unit_test(test_printable),
		cmocka_unit_test(test_mkdir_p),
		cmocka_unit_test(test_log_journal),
		cmocka_unit_test(test_log_dedupe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
