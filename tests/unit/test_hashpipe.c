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

/* Written in place (ms_hashpipe_space/commit, as verify reads a member
 * straight into the buffer), in pieces of at most `step` bytes that may
 * fall short of the space offered, as a read does. */
static void test_in_place(void **state)
{
	const size_t S = MS_HASHPIPE_SLOT;
	const size_t sizes[] = { 0, 1, S - 1, S, S + 1, MS_HASHPIPE_SLOTS * S + 7 };
	const size_t steps[] = { 1000, 65536, 3 * S };
	unsigned char *data = pattern(MS_HASHPIPE_SLOTS * S + 7);
	struct ms_hashpipe *p = ms_hashpipe_new();

	(void)state;
	assert_non_null(p);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
			char want[MS_HASH_HEX_MAX], got[MS_HASH_HEX_MAX];
			struct ms_hash *h = ms_hash_new(MS_HASH_SHA256);

			ms_hash_update(h, data, sizes[i]);
			ms_hash_final_hex(h, want);
			ms_hash_free(h);
			for (size_t off = 0; off < sizes[i];) {
				size_t room, n;
				unsigned char *dst = ms_hashpipe_space(p, &room);

				assert_true(room > 0 && room <= S);
				n = sizes[i] - off < room ? sizes[i] - off : room;
				n = n < steps[k] ? n : steps[k];
				memcpy(dst, data + off, n);
				/* bytes written past what is committed are not hashed */
				if (n < room)
					dst[n] = 0xaa;
				ms_hashpipe_commit(p, n);
				off += n;
			}
			ms_hashpipe_final_hex(p, got);
			if (strcmp(got, want) != 0)
				fail_msg("size %zu, step %zu: %s, want %s", sizes[i], steps[k], got, want);
		}
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
		cmocka_unit_test(test_in_place),
		cmocka_unit_test(test_free_midway),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
