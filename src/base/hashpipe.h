/*
 * SHA-256 of a byte stream computed in a second thread, so that reading it
 * (decompression, the tar layer) and hashing it overlap on two cores: the
 * caller's chunks are copied into a few bounded buffers and the digest is
 * collected at the end. Memory: MS_HASHPIPE_SLOTS x MS_HASHPIPE_SLOT bytes.
 */
#ifndef MS_BASE_HASHPIPE_H
#define MS_BASE_HASHPIPE_H

#include <stddef.h>

#include "base/hash.h"

#define MS_HASHPIPE_SLOTS 4
#define MS_HASHPIPE_SLOT ((size_t)1 << 20)

struct ms_hashpipe; /* opaque */

/* A hashing thread (started with every signal blocked, so signals keep
 * reaching the caller's thread), or NULL when none could start: the caller
 * hashes in its own thread then. */
struct ms_hashpipe *ms_hashpipe_new(void);
/* Adds bytes to the current digest (copied: the caller may reuse data). */
void ms_hashpipe_update(struct ms_hashpipe *p, const void *data, size_t len);
/* The same without the copy: the free part of the buffer being filled (at
 * least one byte; *len says how many), for the caller to write into and
 * then hand over with ms_hashpipe_commit (at most *len bytes). */
void *ms_hashpipe_space(struct ms_hashpipe *p, size_t *len);
void ms_hashpipe_commit(struct ms_hashpipe *p, size_t len);
/* Ends the current digest (the next update starts a new one). */
void ms_hashpipe_final_hex(struct ms_hashpipe *p, char hex[MS_HASH_HEX_MAX]);
/* Stops the thread; NULL is a no-op. */
void ms_hashpipe_free(struct ms_hashpipe *p);

#endif
