/*
 * Table content digest shared by the dumpers and the restore engines: a
 * multiset hash over canonical row text, so rows may stream in any order.
 * The digest is the sum modulo 2^256 of SHA-256(line) over all rows, each
 * SHA-256 read as a 256-bit big-endian integer, where `line` is the row's
 * canonical text including its trailing '\n' (for PostgreSQL, the COPY text
 * line). Printed as 64 lowercase hex digits; all zeros for no rows.
 * No database client library here, so every engine can use it.
 */
#ifndef MS_ROWDIGEST_H
#define MS_ROWDIGEST_H

#include <stddef.h>

struct ms_rowdigest {
	unsigned char acc[32]; /* running sum, big-endian */
	long long rows;        /* rows added */
};

/* Starts an empty digest (sum 0, no rows). */
void ms_rowdigest_init(struct ms_rowdigest *d);
/* Adds one row's line (len bytes, including its trailing '\n'). */
void ms_rowdigest_add(struct ms_rowdigest *d, const void *line, size_t len);
/* Adds the rows of `other` to d: the digest of both sets of rows (a
 * table read in parts sums its parts' digests). */
void ms_rowdigest_merge(struct ms_rowdigest *d, const struct ms_rowdigest *other);
/* Writes the sum as 64 lowercase hex digits plus NUL. */
void ms_rowdigest_hex(const struct ms_rowdigest *d, char hex[65]);

#endif
