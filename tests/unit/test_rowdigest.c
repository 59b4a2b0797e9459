/*
 * Unit tests for src/db/rowdigest.c: the order-independent table digest, checked
 * against sums computed here independently (OpenSSL SHA-256 and a 32-bit
 * limb adder), plus the empty digest, order independence, and carries
 * across every byte including the 2^256 wrap-around.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/rowdigest.h"

/* Independent oracle: 256-bit sum in eight little-endian 32-bit limbs. */
struct oracle {
	uint32_t limb[8]; /* limb[0] least significant */
};

static void oracle_add(struct oracle *o, const char *line, size_t len)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	uint64_t carry = 0;

	SHA256((const unsigned char *)line, len, md);
	for (int i = 0; i < 8; i++) {
		/* limb i holds bytes 31-4i-3 .. 31-4i of the big-endian number */
		const unsigned char *b = md + 28 - 4 * i;
		uint32_t v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
		uint64_t s = (uint64_t)o->limb[i] + v + carry;

		o->limb[i] = (uint32_t)s;
		carry = s >> 32;
	}
}

static void oracle_hex(const struct oracle *o, char hex[65])
{
	for (int i = 0; i < 8; i++)
		snprintf(hex + 8 * i, 9, "%08x", o->limb[7 - i]);
}

static void sha_hex(const char *s, char hex[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)s, strlen(s), md);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void digest_of(const char *const *rows, size_t n, char hex[65], long long *count)
{
	struct ms_rowdigest d;

	ms_rowdigest_init(&d);
	for (size_t i = 0; i < n; i++)
		ms_rowdigest_add(&d, rows[i], strlen(rows[i]));
	ms_rowdigest_hex(&d, hex);
	if (count)
		*count = d.rows;
}

static void test_empty(void **state)
{
	char hex[65];
	long long n;

	(void)state;
	digest_of(NULL, 0, hex, &n);
	assert_string_equal(hex, "0000000000000000000000000000000000000000000000000000000000000000");
	assert_int_equal(n, 0);
}

static void test_single_row_is_its_sha256(void **state)
{
	const char *rows[] = { "abc" };
	char hex[65];

	(void)state;
	digest_of(rows, 1, hex, NULL);
	/* SHA-256("abc"), the FIPS 180-2 known answer */
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_known_sums(void **state)
{
	static const char *const sets[][4] = {
		{ "1\tfoo\n", "2\tbar\n", NULL, NULL },
		{ "1\t\\N\n", "2\t\n", "3\t\\\\x00ff\n", NULL },
		{ "\n", "\n", "\n", "\n" },
		{ "1\tgrüße\n", "2\t{\"a\": [1, 2]}\n", "3\t2024-01-01 00:00:00+00\n", "" },
	};

	(void)state;
	for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
		struct oracle o;
		char want[65], got[65];
		long long n;
		size_t k = 0;

		memset(&o, 0, sizeof(o));
		while (k < 4 && sets[s][k]) {
			oracle_add(&o, sets[s][k], strlen(sets[s][k]));
			k++;
		}
		oracle_hex(&o, want);
		digest_of(sets[s], k, got, &n);
		assert_string_equal(got, want);
		assert_int_equal(n, (long long)k);
	}
}

static void test_order_independent(void **state)
{
	const char *a[] = { "1\talpha\n", "2\tbeta\n", "3\tgamma\n", "4\tdelta\n" };
	const char *b[] = { "3\tgamma\n", "1\talpha\n", "4\tdelta\n", "2\tbeta\n" };
	const char *c[] = { "3\tgamma\n", "1\talpha\n", "4\tdelta\n", "2\tbetA\n" };
	char ha[65], hb[65], hc[65];

	(void)state;
	digest_of(a, 4, ha, NULL);
	digest_of(b, 4, hb, NULL);
	digest_of(c, 4, hc, NULL);
	assert_string_equal(ha, hb);
	assert_string_not_equal(ha, hc);
}

/* 256 copies of one row sum to its SHA-256 shifted left by one byte, the
 * top byte lost: every byte carries into the next and the sum wraps. */
static void test_carry_shift(void **state)
{
	const char *line = "carry\n";
	struct ms_rowdigest d;
	char h[65], want[65], got[65];

	(void)state;
	sha_hex(line, h);
	memcpy(want, h + 2, 62);
	memcpy(want + 62, "00", 3);
	ms_rowdigest_init(&d);
	for (int i = 0; i < 256; i++)
		ms_rowdigest_add(&d, line, strlen(line));
	ms_rowdigest_hex(&d, got);
	assert_string_equal(got, want);
	assert_int_equal(d.rows, 256);
	/* 2^16 copies: shifted by two bytes */
	memcpy(want, h + 4, 60);
	memcpy(want + 60, "0000", 5);
	ms_rowdigest_init(&d);
	for (int i = 0; i < 65536; i++)
		ms_rowdigest_add(&d, line, strlen(line));
	ms_rowdigest_hex(&d, got);
	assert_string_equal(got, want);
}

/* A sum whose words are preset so that a carry comes into a word whose
 * own sum is exactly 2^64 - 1 and leaves it again (the adder works in
 * 64-bit words): the oracle, given the same start, agrees. */
static void test_carry_across_words(void **state)
{
	const char *line = "words\n";
	unsigned char md[SHA256_DIGEST_LENGTH];
	struct ms_rowdigest d;
	struct oracle o;
	char want[65], got[65];

	(void)state;
	SHA256((const unsigned char *)line, strlen(line), md);
	ms_rowdigest_init(&d);
	memset(d.acc + 24, 0xff, 8);           /* word 3: carries out (md's word 3 is not 0) */
	for (int i = 16; i < 24; i++)          /* word 2: plus md's is 2^64 - 1 */
		d.acc[i] = (unsigned char)~md[i];
	memset(&o, 0, sizeof(o));
	for (int i = 0; i < 8; i++) {          /* the same start in the oracle's limbs */
		const unsigned char *b = d.acc + 28 - 4 * i;

		o.limb[i] = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	}
	ms_rowdigest_add(&d, line, strlen(line));
	oracle_add(&o, line, strlen(line));
	ms_rowdigest_hex(&d, got);
	oracle_hex(&o, want);
	assert_string_equal(got, want);
	assert_memory_equal(got + 32, "0000000000000000", 16); /* word 2 wrapped to 0 */
}

/* Many distinct rows against the oracle: carries everywhere. */
static void test_many_rows(void **state)
{
	struct ms_rowdigest d;
	struct oracle o;
	char line[64], want[65], got[65];

	(void)state;
	memset(&o, 0, sizeof(o));
	ms_rowdigest_init(&d);
	for (int i = 0; i < 20000; i++) {
		int n = snprintf(line, sizeof(line), "%d\trow %d\t\\N\n", i, i * 7);

		ms_rowdigest_add(&d, line, (size_t)n);
		oracle_add(&o, line, (size_t)n);
	}
	ms_rowdigest_hex(&d, got);
	oracle_hex(&o, want);
	assert_string_equal(got, want);
	assert_int_equal(d.rows, 20000);
}

/* A table read in parts (src/db/pg_parcopy.c): merging the parts'
 * digests gives the digest of all rows, however they were split (every
 * row in one part, alternate rows, a part with none), checked against
 * the oracle; sums that carry across words merge with their carries. */
static void test_merge(void **state)
{
	static const int splits[] = { 1, 2, 3, 20001 };
	char line[64], want[65], got[65];
	struct oracle o;

	(void)state;
	memset(&o, 0, sizeof(o));
	for (int i = 0; i < 20000; i++) {
		int n = snprintf(line, sizeof(line), "%d\tpart\n", i);

		oracle_add(&o, line, (size_t)n);
	}
	oracle_hex(&o, want);
	for (size_t s = 0; s < sizeof(splits) / sizeof(splits[0]); s++) {
		struct ms_rowdigest part[3], all;

		for (int k = 0; k < 3; k++)
			ms_rowdigest_init(&part[k]);
		for (int i = 0; i < 20000; i++) {
			int n = snprintf(line, sizeof(line), "%d\tpart\n", i);

			/* rows i go to part (i / splits[s]) % 3 */
			ms_rowdigest_add(&part[(i / splits[s]) % 3], line, (size_t)n);
		}
		ms_rowdigest_init(&all);
		for (int k = 0; k < 3; k++)
			ms_rowdigest_merge(&all, &part[k]);
		ms_rowdigest_hex(&all, got);
		assert_string_equal(got, want);
		assert_int_equal(all.rows, 20000);
	}
}

/* Bytes are hashed as given: embedded NULs and high bytes count. */
static void test_binary_line(void **state)
{
	const char line[] = { 'a', '\0', (char)0xff, '\n' };
	struct ms_rowdigest d;
	struct oracle o;
	char want[65], got[65];

	(void)state;
	memset(&o, 0, sizeof(o));
	oracle_add(&o, line, sizeof(line));
	oracle_hex(&o, want);
	ms_rowdigest_init(&d);
	ms_rowdigest_add(&d, line, sizeof(line));
	ms_rowdigest_hex(&d, got);
	assert_string_equal(got, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_single_row_is_its_sha256),
		cmocka_unit_test(test_known_sums),
		cmocka_unit_test(test_order_independent),
		cmocka_unit_test(test_carry_shift),
		cmocka_unit_test(test_carry_across_words),
		cmocka_unit_test(test_many_rows),
		cmocka_unit_test(test_binary_line),
		cmocka_unit_test(test_merge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
