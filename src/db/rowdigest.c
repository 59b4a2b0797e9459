/*
 * The order-independent table digest (see rowdigest.h): SHA-256 per row
 * through base/hash, summed as 256-bit big-endian integers modulo 2^256.
 */
#include "db/rowdigest.h"

#include <stdint.h>
#include <string.h>

#include "base/hash.h"

void ms_rowdigest_init(struct ms_rowdigest *d)
{
	memset(d, 0, sizeof(*d));
}

/* The 64-bit word of a big-endian byte string at p. */
static uint64_t load_be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void store_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)(v & 0xff);
}

/* acc += v modulo 2^256, both big-endian: four 64-bit words rather than
 * 32 bytes (fewer steps per row), least significant word last, carrying
 * leftwards; a carry out of word 0 is the wrap-around and is dropped. */
static void add256(unsigned char acc[32], const unsigned char v[32])
{
	uint64_t carry = 0;

	for (int w = 3; w >= 0; w--) {
		uint64_t a = load_be64(acc + 8 * w), sum = a + load_be64(v + 8 * w);
		uint64_t out = sum < a;

		sum += carry;
		out |= sum < carry;
		store_be64(acc + 8 * w, sum);
		carry = out;
	}
}

void ms_rowdigest_add(struct ms_rowdigest *d, const void *line, size_t len)
{
	unsigned char md[32];

	ms_sha256_raw(line, len, md);
	add256(d->acc, md);
	d->rows++;
}

void ms_rowdigest_merge(struct ms_rowdigest *d, const struct ms_rowdigest *other)
{
	add256(d->acc, other->acc);
	d->rows += other->rows;
}

void ms_rowdigest_hex(const struct ms_rowdigest *d, char hex[65])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < 32; i++) {
		hex[2 * i] = digits[d->acc[i] >> 4];
		hex[2 * i + 1] = digits[d->acc[i] & 0x0f];
	}
	hex[64] = '\0';
}
