/*
 * The order-independent table digest (see rowdigest.h): SHA-256 per row
 * through base/hash, summed as 256-bit big-endian integers modulo 2^256.
 */
#include "db/rowdigest.h"

#include <string.h>

#include "base/hash.h"

void ms_rowdigest_init(struct ms_rowdigest *d)
{
	memset(d, 0, sizeof(*d));
}

void ms_rowdigest_add(struct ms_rowdigest *d, const void *line, size_t len)
{
	unsigned char md[32];
	unsigned carry = 0;

	ms_sha256_raw(line, len, md);
	/* Least significant byte last: add from the end, carrying leftwards;
	 * a carry out of byte 0 is the 2^256 wrap-around and is dropped. */
	for (int i = 31; i >= 0; i--) {
		unsigned sum = d->acc[i] + md[i] + carry;

		d->acc[i] = (unsigned char)(sum & 0xff);
		carry = sum >> 8;
	}
	d->rows++;
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
