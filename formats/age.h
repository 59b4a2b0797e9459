/*
 * Encryption at rest in the age v1 format (age-encryption.org/v1, the
 * C2SP spec), X25519 recipients only, so that the stock `age -d` decrypts
 * what modosnap writes and modosnap reads what `age -r` writes. Built on
 * libcrypto (X25519, HKDF-SHA-256, HMAC-SHA-256, ChaCha20-Poly1305) with
 * a small bech32 codec for "age1..." recipients and "AGE-SECRET-KEY-1..."
 * identities. Streaming with bounded memory: one 64 KiB chunk at a time
 * each way. A private key is never logged and is zeroed before it is freed.
 */
#ifndef MS_AGE_H
#define MS_AGE_H

#include <stddef.h>
#include <sys/types.h>

/* The most recipients one file is encrypted to (the admin's key plus an
 * escrow key or a few more). */
#define MS_AGE_RECIPIENT_MAX 8

/* A recipient: an X25519 public key. */
struct ms_age_key {
	unsigned char pub[32];
};

struct ms_age_identity; /* opaque: one or more X25519 private keys */

/* Parses "age1..." (bech32, lowercase or uppercase, not mixed) into *out.
 * 0, or -1 with *why a static reason (nothing logged). */
int ms_age_parse_recipient(const char *s, struct ms_age_key *out, const char **why);

/* The length of "age1..." for an X25519 key (62) plus its NUL. */
#define MS_AGE_RECIPIENT_LEN 63
/* Writes k as "age1..." (lowercase bech32) into out. */
void ms_age_format_recipient(const struct ms_age_key *k, char out[MS_AGE_RECIPIENT_LEN]);

/* Loads an identity file as age-keygen writes it: '#' comment lines,
 * blank lines, and one or more AGE-SECRET-KEY-1... lines. NULL after
 * logging "'FILE': ..." (an I/O error, or "line N: REASON"); the key
 * itself is never part of a message. */
struct ms_age_identity *ms_age_identity_load(const char *path);
/* How many keys id holds (at least 1), and the recipient (public key) of
 * its key i, as `age-keygen -y` prints it. */
size_t ms_age_identity_count(const struct ms_age_identity *id);
void ms_age_identity_recipient(const struct ms_age_identity *id, size_t i, struct ms_age_key *out);
/* Zeroes and frees; NULL is a no-op. */
void ms_age_identity_free(struct ms_age_identity *id);

/* --- writing ------------------------------------------------------------------ */

/* Where a writer puts its ciphertext: writes all len bytes and returns 0,
 * or -1 after logging its own error. */
typedef int (*ms_age_sink)(void *ctx, const void *buf, size_t len);

struct ms_age_writer; /* opaque */

/* A writer encrypting to the n recipients rcpt[0..n) (1 <= n <=
 * MS_AGE_RECIPIENT_MAX; borrowed, copied). The header and the payload
 * nonce go to the sink at once. NULL after logging (a wrong n, a failing
 * random source), or when the sink failed (it logged). */
struct ms_age_writer *ms_age_writer_new(const struct ms_age_key *rcpt, size_t n, ms_age_sink sink, void *ctx);
/* Encrypts len bytes; full chunks go to the sink. 0, or -1 (the sink's
 * error, or a libcrypto error logged here). */
int ms_age_write(struct ms_age_writer *w, const void *buf, size_t len);
/* Seals the last chunk and hands it to the sink; the stream is complete
 * only after this returned 0. -1 otherwise. */
int ms_age_finish(struct ms_age_writer *w);
/* Zeroes the keys and frees; NULL is a no-op. */
void ms_age_writer_free(struct ms_age_writer *w);

/* --- reading ------------------------------------------------------------------ */

/* Where a reader gets its ciphertext: up to len bytes into buf, returning
 * how many, 0 at the end, or -1 after logging its own error. */
typedef ssize_t (*ms_age_source)(void *ctx, void *buf, size_t len);

struct ms_age_reader; /* opaque */

/* A reader decrypting from src with the keys of id (borrowed: it must
 * outlive the reader). `name` (borrowed, copied) names the file in
 * messages. Nothing is read yet; never NULL. */
struct ms_age_reader *ms_age_reader_new(const struct ms_age_identity *id, ms_age_source src, void *ctx,
					const char *name);
/* Up to len plaintext bytes into buf: how many (only from chunks that
 * authenticated), 0 at the authenticated end of the file, or -1 after
 * logging one of these (or the source's own error):
 *   'NAME': not an age file
 *   'NAME': no identity matches a recipient of this file
 *   'NAME': the header is not authentic (tampered, or the wrong identity)
 *   'NAME': damaged or tampered at byte N (chunk K fails authentication)
 *   'NAME': truncated (the last chunk is missing)
 * N is the offset in the file of chunk K's first byte (K counts from 0);
 * data after the last chunk is reported as a chunk that fails
 * authentication. Once -1 was returned, every later call returns -1. */
ssize_t ms_age_read(struct ms_age_reader *r, void *buf, size_t len);
/* Zeroes the keys and buffers and frees; NULL is a no-op. */
void ms_age_reader_free(struct ms_age_reader *r);

/* --- whole files --------------------------------------------------------------- */

/* Encrypts the file `in` to the n recipients into `out` (mode 0600),
 * written as OUT.partial, fsynced and renamed; nothing is left at either
 * name on failure. 0, or -1 after logging naming the file at fault. */
int ms_age_encrypt_file(const char *in, const char *out, const struct ms_age_key *rcpt, size_t n);
/* Decrypts `in` into `out` the same way: OUT appears only when the whole
 * file authenticated. 0, or -1 after logging (ms_age_read's messages). */
int ms_age_decrypt_file(const char *in, const char *out, const struct ms_age_identity *id);

#endif
