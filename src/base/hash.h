/*
 * Message digests (OpenSSL libcrypto, the only module that includes it):
 * SHA-256 for archive content and MD5 for Postfix's map checksum file.
 */
#ifndef MS_HASH_H
#define MS_HASH_H

#include <stddef.h>

enum ms_hash_algo { MS_HASH_MD5, MS_HASH_SHA256 };

#define MS_HASH_HEX_MAX 65 /* 64 hex digits + NUL */

struct ms_hash; /* opaque incremental context */

struct ms_hash *ms_hash_new(enum ms_hash_algo algo);
void ms_hash_update(struct ms_hash *h, const void *data, size_t len);
/* Writes the lowercase hex digest into hex (MS_HASH_HEX_MAX bytes) and
 * resets the context for reuse. */
void ms_hash_final_hex(struct ms_hash *h, char hex[MS_HASH_HEX_MAX]);
void ms_hash_free(struct ms_hash *h);

/* SHA-256 of a buffer as 32 raw bytes, reusing one context per thread:
 * for hashing millions of small rows without an allocation each. */
void ms_sha256_raw(const void *data, size_t len, unsigned char out[32]);
/* Frees the calling thread's ms_sha256_raw context: a thread that used
 * it calls this before it ends (the main thread's lives to exit). */
void ms_sha256_thread_end(void);

/* One-shot digest of a buffer. */
void ms_hash_buf_hex(enum ms_hash_algo algo, const void *data, size_t len, char hex[MS_HASH_HEX_MAX]);
/* Digest of a file's content; returns 0, or -1 after logging an error that
 * names the path. */
int ms_hash_file_hex(enum ms_hash_algo algo, const char *path, char hex[MS_HASH_HEX_MAX]);

/* libcrypto's reason for its last failure, verbatim (static text, for a
 * message); clears its error queue. Shared by the users of libcrypto
 * (formats/sign.c, formats/age.c). */
const char *ms_crypto_error(void);

#endif
