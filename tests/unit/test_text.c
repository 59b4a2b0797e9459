/*
 * Unit tests for src/base/text: strict UTF-8 (RFC 3629), the U+FFFD repair
 * and base64 (RFC 4648, strict decoding), shared by the settings.py reader,
 * the manifest, signatures and the JSON output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"
#include "base/text.h"

static bool valid(const char *s)
{
	return ms_utf8_valid(s, strlen(s));
}

static void test_utf8_valid(void **state)
{
	(void)state;
	assert_true(valid(""));
	assert_true(valid("plain ascii"));
	assert_true(valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
	assert_true(valid("\xf4\x8f\xbf\xbf"));          /* U+10FFFF */
	assert_false(valid("\xff"));
	assert_false(valid("caf\xe9"));                    /* Latin-1 */
	assert_false(valid("\xc0\xaf"));                   /* overlong '/' */
	assert_false(valid("\xe0\x80\xaf"));               /* overlong, 3 bytes */
	assert_false(valid("\xed\xa0\x80"));               /* surrogate U+D800 */
	assert_false(valid("\xf4\x90\x80\x80"));           /* above U+10FFFF */
	assert_false(valid("\xe2\x82"));                   /* truncated */
	assert_false(valid("\xe2\x28\xa1"));               /* bad continuation */
	/* the length is what counts, not a NUL */
	assert_true(ms_utf8_valid("a\0b", 3));
	assert_false(ms_utf8_valid("\xc3\xa9", 1));
}

static void test_utf8_lossy(void **state)
{
	char *s;

	(void)state;
	s = ms_utf8_lossy("caf\xe9!");
	assert_string_equal(s, "caf\xef\xbf\xbd!");
	free(s);
	s = ms_utf8_lossy("\xe2\x82\xac\xff\xfe");
	assert_string_equal(s, "\xe2\x82\xac\xef\xbf\xbd\xef\xbf\xbd");
	free(s);
	s = ms_utf8_lossy("ok");
	assert_string_equal(s, "ok");
	free(s);
}

static void test_utf8_add(void **state)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	const unsigned long cps[] = { 0x41, 0xe9, 0x20ac, 0x1f600, 0x10ffff };
	const char *want = "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf";

	(void)state;
	for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]); i++)
		ms_utf8_add(&sb, cps[i]);
	assert_string_equal(ms_strbuf_str(&sb), want);
	assert_true(ms_utf8_valid(sb.buf, sb.len));
	ms_strbuf_release(&sb);
}

/* RFC 4648 section 10 test vectors, both ways. */
static void test_b64_vectors(void **state)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };

	(void)state;
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		char *e = ms_b64_encode(plain[i], strlen(plain[i]));
		unsigned char *d;
		size_t n;

		assert_string_equal(e, enc[i]);
		free(e);
		assert_int_equal(ms_b64_decode(enc[i], strlen(enc[i]), &d, &n), 0);
		assert_int_equal(n, strlen(plain[i]));
		assert_memory_equal(d, plain[i], n);
		assert_int_equal(d[n], '\0');
		free(d);
	}
}

static void test_b64_unpadded_and_binary(void **state)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	unsigned char bytes[256], *d;
	size_t n;

	(void)state;
	ms_b64_add(&sb, "fo", 2, false);
	assert_string_equal(ms_strbuf_str(&sb), "Zm8");
	ms_strbuf_release(&sb);
	for (int i = 0; i < 256; i++)
		bytes[i] = (unsigned char)i;
	ms_b64_add(&sb, bytes, sizeof(bytes), true);
	assert_int_equal(ms_b64_decode(sb.buf, sb.len, &d, &n), 0);
	assert_int_equal(n, sizeof(bytes));
	assert_memory_equal(d, bytes, n);
	free(d);
	ms_strbuf_release(&sb);
}

static void test_b64_strict(void **state)
{
	static const char *const bad[] = {
		"Zg=",      /* not a multiple of 4 */
		"Zh==",     /* unused bits set (not canonical) */
		"Zm9=",     /* unused bits set */
		"Zm 9",     /* whitespace */
		"Z===",     /* too much padding */
		"====",
		"Zg==Zm9v", /* padding in the middle */
		"Zm9v\n",
		"Zm-_",     /* URL alphabet */
	};
	unsigned char *d = NULL;
	size_t n = 7;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ms_b64_decode(bad[i], strlen(bad[i]), &d, &n) == 0)
			fail_msg("accepted '%s'", bad[i]);
	}
	assert_null(d);
	assert_int_equal(n, 7);
	assert_int_equal(ms_b64_value('A'), 0);
	assert_int_equal(ms_b64_value('/'), 63);
	assert_int_equal(ms_b64_value('='), -1);
	assert_int_equal(ms_b64_value('\0'), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_utf8_lossy),
		cmocka_unit_test(test_utf8_add),
		cmocka_unit_test(test_b64_vectors),
		cmocka_unit_test(test_b64_unpadded_and_binary),
		cmocka_unit_test(test_b64_strict),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
