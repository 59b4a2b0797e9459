/*
 * base/hashpipe: SHA-256 in a second thread gives the same digests as
 * base/hash, for any split of the input and across the buffer boundaries,
 * digest after digest; freed in the middle of one, it stops cleanly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/hashpipe.h"
#include "base/util.h"

static unsigned char *pattern(size_t n)
{
	unsigned char *b = ms_xmalloc(n ? n : 1);
	uint32_t x = 2463534242u;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		b[i] = (unsigned char)x;
	}
	return b;
}

static void expect_same(struct ms_hashpipe *p, const unsigned char *data, size_t len, size_t step)
{
	char want[MS_HASH_HEX_MAX], got[MS_HASH_HEX_MAX];
	struct ms_hash *h = ms_hash_new(MS_HASH_SHA256);

	ms_hash_update(h, data, len);
	ms_hash_final_hex(h, want);
	ms_hash_free(h);
	for (size_t off = 0; off < len; off += step)
		ms_hashpipe_update(p, data + off, len - off < step ? len - off : step);
	ms_hashpipe_final_hex(p, got);
	assert_string_equal(got, want);
}

static void test_digests(void **state)
{
	const size_t S = MS_HASHPIPE_SLOT;
	const size_t sizes[] = { 0, 1, 65536, S - 1, S, S + 1, 3 * S, MS_HASHPIPE_SLOTS * S + 7, 9 * S + 12345 };
	const size_t steps[] = { 1 << 16, 7, S, 3 * S };
	unsigned char *data = pattern(9 * S + 12345);
	struct ms_hashpipe *p = ms_hashpipe_new();

	(void)state;
	assert_non_null(p);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++)
			if (sizes[i] / steps[k] < 100000) /* 7-byte steps only on the small ones */
				expect_same(p, data, sizes[i], steps[k]);
	ms_hashpipe_free(p);
	free(data);
}

/* Freed with a digest under way (an error while reading a member). */
static void test_free_midway(void **state)
{
	unsigned char *data = pattern(5 * MS_HASHPIPE_SLOT);
	struct ms_hashpipe *p = ms_hashpipe_new();

	(void)state;
	assert_non_null(p);
	ms_hashpipe_update(p, data, 5 * MS_HASHPIPE_SLOT);
	ms_hashpipe_free(p);
	ms_hashpipe_free(NULL);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digests),
		cmocka_unit_test(test_free_midway),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
