/*
 * The age v1 format (see age.h): a text header of recipient stanzas that
 * each wrap the 16-byte file key, closed by an HMAC over the header, then
 * a 16-byte nonce and the payload in STREAM chunks of 64 KiB of plaintext
 * sealed with ChaCha20-Poly1305 (11-byte big-endian counter, last-chunk
 * flag). Everything read is untrusted: header lines and stanza bodies are
 * bounded, base64 must be canonical, and no plaintext is handed out before
 * its chunk authenticated. Private keys, file keys and derived keys live
 * in buffers zeroed before they are freed.
 */
#include "formats/age.h"
#include "base/hash.h"
#include "base/strbuf.h"
#include "base/text.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#define INTRO "age-encryption.org/v1"
#define X25519_LABEL "age-encryption.org/v1/X25519"
#define KEY_LEN 32      /* X25519 keys, derived keys, HMAC */
#define FILE_KEY_LEN 16
#define TAG_LEN 16      /* Poly1305 */
#define NONCE_LEN 16    /* the payload nonce */
#define CHUNK 65536     /* plaintext per STREAM chunk */
#define ENC_CHUNK (CHUNK + TAG_LEN)
#define COLUMNS 64      /* a stanza body's line width */
#define HEADER_MAX (256 * 1024)
#define IDENTITY_FILE_MAX (1024 * 1024)
#define RECIPIENT_HRP "age"
#define IDENTITY_HRP "age-secret-key-"

/* --- libcrypto ------------------------------------------------------------------ */


/* HKDF-SHA-256 (RFC 5869) with a 32-byte output; an empty salt is left
 * unset, which RFC 5869 defines as the same thing. 0 or -1. */
static int hkdf(const unsigned char *ikm, size_t ikm_len, const unsigned char *salt, size_t salt_len,
		const char *info, unsigned char out[KEY_LEN])
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kc = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[5], *p = params;
	int rc = -1;

	if (!kc)
		goto out;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
	if (salt_len)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info));
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kc, out, KEY_LEN, params) == 1)
		rc = 0;
out:
	EVP_KDF_CTX_free(kc);
	EVP_KDF_free(kdf);
	return rc;
}

/* ChaCha20-Poly1305 (RFC 7539) with a 12-byte nonce. Sealing writes
 * len + TAG_LEN bytes; opening takes len >= TAG_LEN bytes (ciphertext and
 * tag) and writes len - TAG_LEN. 0, or -1 (a failed open is simply not
 * authentic; nothing logged). */
static int aead(EVP_CIPHER_CTX *c, bool seal, const unsigned char key[KEY_LEN], const unsigned char nonce[12],
		const unsigned char *in, size_t len, unsigned char *out)
{
	size_t body = seal ? len : len - TAG_LEN;
	int n = 0, fin = 0;

	if (!seal && len < TAG_LEN)
		return -1;
	if (EVP_CipherInit_ex(c, EVP_chacha20_poly1305(), NULL, key, nonce, seal ? 1 : 0) != 1)
		return -1;
	if (!seal && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, (void *)(in + body)) != 1)
		return -1;
	if (body && EVP_CipherUpdate(c, out, &n, in, (int)body) != 1)
		return -1;
	if (EVP_CipherFinal_ex(c, out + n, &fin) != 1)
		return -1;
	if (seal && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, out + body) != 1)
		return -1;
	return 0;
}

/* X25519(priv, peer) into shared. -1 when libcrypto refuses (a low-order
 * peer point gives the all-zero secret, which it rejects). */
static int x25519(const unsigned char priv[KEY_LEN], const unsigned char peer[KEY_LEN],
		  unsigned char shared[KEY_LEN])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, KEY_LEN);
	EVP_PKEY *p = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, KEY_LEN);
	EVP_PKEY_CTX *c = k ? EVP_PKEY_CTX_new(k, NULL) : NULL;
	size_t len = KEY_LEN;
	int rc = -1;
	static const unsigned char zero[KEY_LEN];

	if (c && p && EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_derive_set_peer(c, p) == 1 &&
	    EVP_PKEY_derive(c, shared, &len) == 1 && len == KEY_LEN && CRYPTO_memcmp(shared, zero, KEY_LEN) != 0)
		rc = 0;
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(p);
	EVP_PKEY_free(k);
	ERR_clear_error();
	return rc;
}

/* The public half of an X25519 private key. 0 or -1. */
static int x25519_public(const unsigned char priv[KEY_LEN], unsigned char pub[KEY_LEN])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, KEY_LEN);
	size_t len = KEY_LEN;
	int rc = k && EVP_PKEY_get_raw_public_key(k, pub, &len) == 1 && len == KEY_LEN ? 0 : -1;

	EVP_PKEY_free(k);
	return rc;
}

/* The wrap key of an X25519 stanza: HKDF(shared, share || recipient). */
static int wrap_key(const unsigned char shared[KEY_LEN], const unsigned char share[KEY_LEN],
		    const unsigned char rcpt[KEY_LEN], unsigned char key[KEY_LEN])
{
	unsigned char salt[2 * KEY_LEN];

	memcpy(salt, share, KEY_LEN);
	memcpy(salt + KEY_LEN, rcpt, KEY_LEN);
	return hkdf(shared, KEY_LEN, salt, sizeof(salt), X25519_LABEL, key);
}

/* The header MAC: HMAC-SHA-256 under HKDF(file key, "", "header") of the
 * header up to and including "---". */
static int header_mac(const unsigned char fk[FILE_KEY_LEN], const void *hdr, size_t len,
		      unsigned char mac[KEY_LEN])
{
	unsigned char key[KEY_LEN];
	unsigned int mlen = 0;
	int rc = -1;

	if (hkdf(fk, FILE_KEY_LEN, NULL, 0, "header", key) == 0 &&
	    HMAC(EVP_sha256(), key, KEY_LEN, hdr, len, mac, &mlen) && mlen == KEY_LEN)
		rc = 0;
	ms_secure_zero(key, sizeof(key));
	return rc;
}

/* A STREAM chunk nonce: the 11-byte big-endian counter, then the flag. */
static void chunk_nonce(uint64_t counter, bool last, unsigned char nonce[12])
{
	memset(nonce, 0, 12);
	for (int i = 10; i >= 3; i--, counter >>= 8)
		nonce[i] = (unsigned char)counter;
	nonce[11] = last ? 1 : 0;
}

/* --- base64 without padding (the spec's encoding) ------------------------------ */

/* Strict decoding of n characters of canonical unpadded base64. *out
 * (caller frees) only on success. */
static int b64_raw_decode(const char *s, size_t n, unsigned char **out, size_t *out_len)
{
	size_t pad = (4 - n % 4) % 4;
	char *padded;
	int rc;

	if (n % 4 == 1 || memchr(s, '=', n))
		return -1;
	padded = ms_xmalloc(n + pad);
	memcpy(padded, s, n);
	memset(padded + n, '=', pad);
	rc = ms_b64_decode(padded, n + pad, out, out_len);
	ms_secure_zero(padded, n + pad);
	free(padded);
	return rc;
}

/* Decodes exactly `want` bytes into out. */
static int b64_raw_decode_to(const char *s, size_t n, unsigned char *out, size_t want)
{
	unsigned char *d;
	size_t len;
	int rc = -1;

	if (b64_raw_decode(s, n, &d, &len) < 0)
		return -1;
	if (len == want) {
		memcpy(out, d, want);
		rc = 0;
	}
	ms_secure_zero(d, len);
	free(d);
	return rc;
}

/* --- bech32 (BIP 173) -------------------------------------------------------------- */

static const char B32[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

static uint32_t polymod_step(uint32_t chk, unsigned v)
{
	static const uint32_t gen[5] = { 0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3 };
	uint32_t top = chk >> 25;

	chk = (chk & 0x1ffffff) << 5 ^ v;
	for (int i = 0; i < 5; i++)
		if (top >> i & 1)
			chk ^= gen[i];
	return chk;
}

/* The checksum state after the expanded human-readable part (lowercase). */
static uint32_t polymod_hrp(const char *hrp, size_t n)
{
	uint32_t chk = 1;

	for (size_t i = 0; i < n; i++)
		chk = polymod_step(chk, (unsigned char)hrp[i] >> 5);
	chk = polymod_step(chk, 0);
	for (size_t i = 0; i < n; i++)
		chk = polymod_step(chk, (unsigned char)hrp[i] & 31);
	return chk;
}

/* Decodes bech32 text s whose human-readable part must be hrp (lowercase;
 * s may be all lowercase or all uppercase) into exactly `want` bytes.
 * NULL on success, else the static reason. */
static const char *bech32_decode(const char *s, const char *hrp, unsigned char *out, size_t want)
{
	size_t len = strlen(s), sep, nout = 0, hlen = strlen(hrp);
	const char *p = strrchr(s, '1');
	bool lower = false, upper = false;
	uint32_t chk, acc = 0;
	unsigned bits = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 33 || c > 126)
			return "not bech32 (a character outside the printable range)";
		lower |= c >= 'a' && c <= 'z';
		upper |= c >= 'A' && c <= 'Z';
	}
	if (lower && upper)
		return "not bech32 (mixed case)";
	if (!p || (sep = (size_t)(p - s)) == 0 || len - sep - 1 < 6)
		return "not bech32 (no separator or too short)";
	if (sep != hlen || strncasecmp(s, hrp, hlen) != 0)
		return strcmp(hrp, RECIPIENT_HRP) == 0 ? "wrong prefix (not age1...)"
						       : "wrong prefix (not AGE-SECRET-KEY-1...)";
	chk = polymod_hrp(hrp, hlen);
	for (size_t i = sep + 1; i < len; i++) {
		const char *q = strchr(B32, s[i] | 0x20);
		unsigned v;

		if (!q || !*q)
			return "not bech32 (a character outside its alphabet)";
		v = (unsigned)(q - B32);
		chk = polymod_step(chk, v);
		if (i >= len - 6)
			continue;
		acc = (acc << 5 | v) & 0xfff;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			if (nout == want)
				return "wrong key length";
			out[nout++] = (unsigned char)(acc >> bits);
		}
	}
	if (chk != 1)
		return "bad bech32 checksum (a typo?)";
	if (nout != want || bits >= 5 || (acc & ((1u << bits) - 1)) != 0)
		return "wrong key length";
	return NULL;
}

/* Encodes n bytes as lowercase bech32 with hrp into out (size enough). */
static void bech32_encode(const char *hrp, const unsigned char *data, size_t n, struct ms_strbuf *out)
{
	uint32_t chk = polymod_hrp(hrp, strlen(hrp)), acc = 0;
	unsigned bits = 0;

	ms_strbuf_addstr(out, hrp);
	ms_strbuf_addch(out, '1');
	for (size_t i = 0; i <= n; i++) {
		if (i < n) {
			acc = (acc << 8 | data[i]) & 0xfff;
			bits += 8;
		} else if (bits) {
			acc <<= 5 - bits; /* zero padding of the last group */
			bits = 5;
		}
		while (bits >= 5) {
			unsigned v = acc >> (bits - 5) & 31;

			bits -= 5;
			chk = polymod_step(chk, v);
			ms_strbuf_addch(out, B32[v]);
		}
	}
	for (int i = 0; i < 6; i++)
		chk = polymod_step(chk, 0);
	chk ^= 1;
	for (int i = 0; i < 6; i++)
		ms_strbuf_addch(out, B32[chk >> (5 * (5 - i)) & 31]);
}

/* --- keys ---------------------------------------------------------------------------- */

struct age_secret {
	unsigned char priv[KEY_LEN];
	unsigned char pub[KEY_LEN];
};

struct ms_age_identity {
	struct age_secret *keys; /* n of them, zeroed before they are freed */
	size_t n;
};

int ms_age_parse_recipient(const char *s, struct ms_age_key *out, const char **why)
{
	struct ms_age_key k;
	const char *err = bech32_decode(s, RECIPIENT_HRP, k.pub, sizeof(k.pub));

	if (err) {
		*why = err;
		return -1;
	}
	*out = k;
	return 0;
}

void ms_age_format_recipient(const struct ms_age_key *k, char out[MS_AGE_RECIPIENT_LEN])
{
	struct ms_strbuf sb = MS_STRBUF_INIT;

	bech32_encode(RECIPIENT_HRP, k->pub, sizeof(k->pub), &sb);
	snprintf(out, MS_AGE_RECIPIENT_LEN, "%s", ms_strbuf_str(&sb));
	ms_strbuf_release(&sb);
}

/* One non-comment line of an identity file (trimmed, NUL-terminated in
 * place) added to id; NULL, or the static reason. */
static const char *identity_add(struct ms_age_identity *id, const char *line)
{
	struct age_secret k;
	const char *err;

	if (strncasecmp(line, "AGE-PLUGIN-", 11) == 0)
		return "a plugin identity (only X25519 identities are supported)";
	err = bech32_decode(line, IDENTITY_HRP, k.priv, sizeof(k.priv));
	if (!err && x25519_public(k.priv, k.pub) < 0)
		err = "not a usable X25519 key";
	if (!err) {
		id->keys = ms_xrealloc(id->keys, (id->n + 1) * sizeof(*id->keys));
		id->keys[id->n++] = k;
	}
	ms_secure_zero(&k, sizeof(k));
	return err;
}

struct ms_age_identity *ms_age_identity_load(const char *path)
{
	struct ms_age_identity *id = ms_xcalloc(1, sizeof(*id));
	size_t len = 0, lineno = 0;
	char *text = ms_read_file(path, IDENTITY_FILE_MAX, &len), *p, *end;

	if (!text)
		goto fail;
	for (p = text; p < text + len; p = end + 1) {
		char *s = p, *e;
		const char *err;

		end = memchr(p, '\n', (size_t)(text + len - p));
		if (!end)
			end = text + len; /* the NUL ms_read_file put there */
		*end = '\0';
		lineno++;
		while (*s == ' ' || *s == '\t')
			s++;
		for (e = end; e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'); e--)
			;
		*e = '\0';
		if (!*s || *s == '#')
			continue;
		err = memchr(p, '\0', (size_t)(e - p)) ? "a NUL byte in the line" : identity_add(id, s);
		if (err) {
			ms_log_error("'%s': line %zu: not an age identity: %s", path, lineno, err);
			goto fail;
		}
	}
	if (id->n == 0) {
		ms_log_error("'%s': no age identity in it (AGE-SECRET-KEY-1... lines)", path);
		goto fail;
	}
	ms_secure_zero(text, len);
	free(text);
	return id;
fail:
	if (text)
		ms_secure_zero(text, len);
	free(text);
	ms_age_identity_free(id);
	return NULL;
}

size_t ms_age_identity_count(const struct ms_age_identity *id)
{
	return id->n;
}

void ms_age_identity_recipient(const struct ms_age_identity *id, size_t i, struct ms_age_key *out)
{
	if (i >= id->n)
		MS_BUG("identity key index out of range");
	memcpy(out->pub, id->keys[i].pub, KEY_LEN);
}

void ms_age_identity_free(struct ms_age_identity *id)
{
	if (!id)
		return;
	ms_secure_zero(id->keys, id->n * sizeof(*id->keys));
	free(id->keys);
	free(id);
}

/* --- writing -------------------------------------------------------------------------- */

struct ms_age_writer {
	ms_age_sink sink;
	void *ctx;
	EVP_CIPHER_CTX *cc;
	unsigned char key[KEY_LEN];   /* the payload key */
	uint64_t counter;             /* the next chunk's number */
	bool done;                    /* finished, or failed: no more writes */
	size_t len;                   /* plaintext bytes in buf */
	unsigned char buf[CHUNK];     /* the chunk being filled */
	unsigned char enc[ENC_CHUNK]; /* a sealed chunk */
};

/* Appends one X25519 stanza wrapping fk for rcpt. 0, or -1 after logging. */
static int add_stanza(struct ms_strbuf *hdr, const unsigned char fk[FILE_KEY_LEN], const struct ms_age_key *rcpt,
		      size_t i, EVP_CIPHER_CTX *cc)
{
	static const unsigned char zero_nonce[12];
	unsigned char eph[KEY_LEN], share[KEY_LEN], shared[KEY_LEN], key[KEY_LEN], body[FILE_KEY_LEN + TAG_LEN];
	int rc = -1;

	if (RAND_bytes(eph, KEY_LEN) != 1 || x25519_public(eph, share) < 0) {
		ms_log_error("age: unable to make an ephemeral key: %s", ms_crypto_error());
		goto out;
	}
	if (x25519(eph, rcpt->pub, shared) < 0) {
		ms_log_error("age: recipient %zu is not a usable X25519 public key", i + 1);
		goto out;
	}
	if (wrap_key(shared, share, rcpt->pub, key) < 0 || aead(cc, true, key, zero_nonce, fk, FILE_KEY_LEN, body) < 0) {
		ms_log_error("age: unable to wrap the file key: %s", ms_crypto_error());
		goto out;
	}
	ms_strbuf_addstr(hdr, "-> X25519 ");
	ms_b64_add(hdr, share, KEY_LEN, false);
	ms_strbuf_addch(hdr, '\n');
	ms_b64_add(hdr, body, sizeof(body), false); /* 43 characters: one line */
	ms_strbuf_addch(hdr, '\n');
	rc = 0;
out:
	ms_secure_zero(eph, sizeof(eph));
	ms_secure_zero(shared, sizeof(shared));
	ms_secure_zero(key, sizeof(key));
	return rc;
}

/* The header for w's recipients and the payload nonce, sent to the sink;
 * sets w->key. 0 or -1. */
static int write_header(struct ms_age_writer *w, const struct ms_age_key *rcpt, size_t n)
{
	struct ms_strbuf hdr = MS_STRBUF_INIT;
	unsigned char fk[FILE_KEY_LEN], mac[KEY_LEN], nonce[NONCE_LEN];
	int rc = -1;

	if (RAND_bytes(fk, sizeof(fk)) != 1 || RAND_bytes(nonce, sizeof(nonce)) != 1) {
		ms_log_error("age: no random bytes: %s", ms_crypto_error());
		goto out;
	}
	ms_strbuf_addstr(&hdr, INTRO "\n");
	for (size_t i = 0; i < n; i++)
		if (add_stanza(&hdr, fk, &rcpt[i], i, w->cc) < 0)
			goto out;
	ms_strbuf_addstr(&hdr, "---");
	if (header_mac(fk, hdr.buf, hdr.len, mac) < 0 || hkdf(fk, sizeof(fk), nonce, sizeof(nonce), "payload", w->key) < 0) {
		ms_log_error("age: unable to derive the keys: %s", ms_crypto_error());
		goto out;
	}
	ms_strbuf_addch(&hdr, ' ');
	ms_b64_add(&hdr, mac, sizeof(mac), false);
	ms_strbuf_addch(&hdr, '\n');
	ms_strbuf_add(&hdr, nonce, sizeof(nonce));
	rc = w->sink(w->ctx, hdr.buf, hdr.len);
out:
	ms_secure_zero(fk, sizeof(fk));
	ms_strbuf_release(&hdr);
	return rc;
}

struct ms_age_writer *ms_age_writer_new(const struct ms_age_key *rcpt, size_t n, ms_age_sink sink, void *ctx)
{
	struct ms_age_writer *w;

	if (n == 0 || n > MS_AGE_RECIPIENT_MAX) {
		ms_log_error("age: a file is encrypted to 1 to %d recipients, not %zu", MS_AGE_RECIPIENT_MAX, n);
		return NULL;
	}
	w = ms_xcalloc(1, sizeof(*w));
	w->sink = sink;
	w->ctx = ctx;
	w->cc = EVP_CIPHER_CTX_new();
	if (!w->cc)
		abort(); /* allocation failure, as ms_x* */
	if (write_header(w, rcpt, n) < 0) {
		ms_age_writer_free(w);
		return NULL;
	}
	return w;
}

/* Seals the buffered chunk and sends it. */
static int flush_chunk(struct ms_age_writer *w, bool last)
{
	unsigned char nonce[12];

	chunk_nonce(w->counter, last, nonce);
	if (aead(w->cc, true, w->key, nonce, w->buf, w->len, w->enc) < 0) {
		w->done = true;
		return ms_log_error("age: unable to encrypt: %s", ms_crypto_error());
	}
	w->counter++;
	if (w->sink(w->ctx, w->enc, w->len + TAG_LEN) < 0) {
		w->done = true;
		return -1;
	}
	w->len = 0;
	return 0;
}

int ms_age_write(struct ms_age_writer *w, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	if (w->done)
		return -1;
	while (len) {
		size_t n;

		/* A full chunk is sealed only once more data follows: the last
		 * chunk, sealed by ms_age_finish, is never empty unless the
		 * whole file is. */
		if (w->len == CHUNK && flush_chunk(w, false) < 0)
			return -1;
		n = CHUNK - w->len < len ? CHUNK - w->len : len;
		memcpy(w->buf + w->len, p, n);
		w->len += n;
		p += n;
		len -= n;
	}
	return 0;
}

int ms_age_finish(struct ms_age_writer *w)
{
	int rc;

	if (w->done)
		return -1;
	rc = flush_chunk(w, true);
	w->done = true;
	return rc;
}

void ms_age_writer_free(struct ms_age_writer *w)
{
	if (!w)
		return;
	EVP_CIPHER_CTX_free(w->cc);
	ms_secure_zero(w, sizeof(*w));
	free(w);
}

/* --- reading -------------------------------------------------------------------------- */

#define IN_CAP (ENC_CHUNK + 1) /* a chunk and one byte more: is it the last? */

enum reader_state { R_HEADER, R_PAYLOAD, R_END, R_FAILED };

struct ms_age_reader {
	const struct ms_age_identity *id;
	ms_age_source src;
	void *ctx;
	char *name;
	EVP_CIPHER_CTX *cc;
	enum reader_state state;
	unsigned char key[KEY_LEN];   /* the payload key */
	uint64_t counter;             /* the next chunk's number */
	unsigned long long start;     /* offset of chunk 0: header and nonce */
	bool eof;                     /* the source returned 0 */
	struct ms_strbuf hdr;         /* the header read so far */
	size_t in_pos, in_len;        /* ciphertext in[in_pos..in_len) */
	size_t out_pos, out_len;      /* plaintext out[out_pos..out_len) */
	unsigned char in[IN_CAP];
	unsigned char out[CHUNK];
};

struct ms_age_reader *ms_age_reader_new(const struct ms_age_identity *id, ms_age_source src, void *ctx,
					const char *name)
{
	struct ms_age_reader *r = ms_xcalloc(1, sizeof(*r));

	r->id = id;
	r->src = src;
	r->ctx = ctx;
	r->name = ms_xstrdup(name);
	r->cc = EVP_CIPHER_CTX_new();
	if (!r->cc)
		abort(); /* allocation failure, as ms_x* */
	return r;
}

void ms_age_reader_free(struct ms_age_reader *r)
{
	if (!r)
		return;
	EVP_CIPHER_CTX_free(r->cc);
	free(r->name);
	ms_strbuf_release(&r->hdr);
	ms_secure_zero(r, sizeof(*r));
	free(r);
}

static int fail(struct ms_age_reader *r, const char *what)
{
	r->state = R_FAILED;
	return ms_log_error("'%s': %s", r->name, what);
}

#define NOT_AGE "not an age file"
#define NO_MATCH "no identity matches a recipient of this file"
#define NOT_AUTHENTIC "the header is not authentic (tampered, or the wrong identity)"
#define TRUNCATED "truncated (the last chunk is missing)"

static int fail_chunk(struct ms_age_reader *r, uint64_t k)
{
	r->state = R_FAILED;
	return ms_log_error("'%s': damaged or tampered at byte %llu (chunk %llu fails authentication)", r->name,
			    r->start + (unsigned long long)k * ENC_CHUNK, (unsigned long long)k);
}

/* Reads until `want` bytes (at most IN_CAP) are buffered or the source
 * ends. 0, or -1 when the source failed (it logged). */
static int in_fill(struct ms_age_reader *r, size_t want)
{
	if (r->in_len - r->in_pos < want && r->in_pos) {
		memmove(r->in, r->in + r->in_pos, r->in_len - r->in_pos);
		r->in_len -= r->in_pos;
		r->in_pos = 0;
	}
	while (!r->eof && r->in_len - r->in_pos < want) {
		ssize_t n = r->src(r->ctx, r->in + r->in_len, IN_CAP - r->in_len);

		if (n < 0) {
			r->state = R_FAILED;
			return -1;
		}
		if ((size_t)n > IN_CAP - r->in_len)
			MS_BUG("age source returned more than asked");
		r->eof = n == 0;
		r->in_len += (size_t)n;
	}
	return 0;
}

/* The next header line, appended to r->hdr with its '\n': 1 and *line
 * (its offset in hdr) and *len (without the '\n'); 0 when the source ends
 * first or the header grows past HEADER_MAX; -1 after a source error. */
static int next_line(struct ms_age_reader *r, size_t *line, size_t *len)
{
	for (;;) {
		size_t avail = r->in_len - r->in_pos;
		unsigned char *nl = memchr(r->in + r->in_pos, '\n', avail);

		if (nl) {
			size_t n = (size_t)(nl - (r->in + r->in_pos));

			if (r->hdr.len + n + 1 > HEADER_MAX)
				return 0;
			*line = r->hdr.len;
			*len = n;
			ms_strbuf_add(&r->hdr, r->in + r->in_pos, n + 1);
			r->in_pos += n + 1;
			return 1;
		}
		if (r->eof || avail >= IN_CAP)
			return 0;
		if (in_fill(r, avail + 1) < 0)
			return -1;
	}
}

static bool is_b64_char(char c)
{
	return ms_b64_value(c) >= 0;
}

/* Tries every key of the identity on an X25519 stanza; true and fk set
 * when one unwraps it. */
static bool unwrap(struct ms_age_reader *r, const unsigned char share[KEY_LEN], const unsigned char body[32],
		   unsigned char fk[FILE_KEY_LEN])
{
	static const unsigned char zero_nonce[12];
	unsigned char shared[KEY_LEN], key[KEY_LEN];
	bool ok = false;

	for (size_t i = 0; i < r->id->n && !ok; i++) {
		const struct age_secret *k = &r->id->keys[i];

		ok = x25519(k->priv, share, shared) == 0 && wrap_key(shared, share, k->pub, key) == 0 &&
		     aead(r->cc, false, key, zero_nonce, body, FILE_KEY_LEN + TAG_LEN, fk) == 0;
	}
	ms_secure_zero(shared, sizeof(shared));
	ms_secure_zero(key, sizeof(key));
	return ok;
}

/* The stanza whose "-> " line is hdr[line..line+len) and the body lines
 * after it; an X25519 one is tried when no file key was found yet
 * (*found). 0, 1 when the header is malformed, -1 after a source error. */
static int read_stanza(struct ms_age_reader *r, size_t line, size_t len, unsigned char fk[FILE_KEY_LEN],
		       bool *found)
{
	struct ms_strbuf b64 = MS_STRBUF_INIT;
	char *args = ms_xstrndup(r->hdr.buf + line + 3, len - 3), *share_arg = NULL;
	unsigned char share[KEY_LEN], body[FILE_KEY_LEN + TAG_LEN];
	size_t nargs = 0, bl, blen;
	int rc = 1, got;
	bool x25519_stanza;

	if (memchr(r->hdr.buf + line, '\0', len))
		goto out;
	for (char *a = args, *sp;; a = sp + 1) {
		sp = strchr(a, ' ');
		if (sp)
			*sp = '\0';
		if (!*a)
			goto out;
		for (char *c = a; *c; c++)
			if (*c < 33 || *c > 126)
				goto out;
		if (++nargs == 2)
			share_arg = a;
		if (!sp)
			break;
	}
	do {
		got = next_line(r, &bl, &blen);
		if (got <= 0 || blen > COLUMNS) {
			rc = got < 0 ? -1 : 1;
			goto out;
		}
		for (size_t i = 0; i < blen; i++)
			if (!is_b64_char(r->hdr.buf[bl + i]))
				goto out;
		ms_strbuf_add(&b64, r->hdr.buf + bl, blen);
	} while (blen == COLUMNS);
	x25519_stanza = strcmp(args, "X25519") == 0;
	if (!x25519_stanza) {
		unsigned char *ignored;
		size_t n;

		if (b64_raw_decode(ms_strbuf_str(&b64), b64.len, &ignored, &n) == 0) {
			free(ignored);
			rc = 0; /* another kind of recipient: not ours */
		}
		goto out;
	}
	if (nargs != 2 || b64_raw_decode_to(share_arg, strlen(share_arg), share, KEY_LEN) < 0 ||
	    b64_raw_decode_to(ms_strbuf_str(&b64), b64.len, body, sizeof(body)) < 0)
		goto out;
	if (!*found)
		*found = unwrap(r, share, body, fk);
	rc = 0;
out:
	ms_strbuf_release(&b64);
	free(args);
	return rc;
}

/* Whether hdr[line..line+len) starts with the text `prefix`. */
static bool line_is(const struct ms_age_reader *r, size_t line, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(r->hdr.buf + line, prefix, n) == 0;
}

/* Checks the MAC line hdr[line..line+len) ("--- " and 43 characters). */
static bool mac_ok(struct ms_age_reader *r, size_t line, size_t len, const unsigned char fk[FILE_KEY_LEN])
{
	unsigned char want[KEY_LEN], mac[KEY_LEN];

	return len == 4 + 43 && b64_raw_decode_to(r->hdr.buf + line + 4, 43, want, KEY_LEN) == 0 &&
	       header_mac(fk, r->hdr.buf, line + 3, mac) == 0 && CRYPTO_memcmp(mac, want, KEY_LEN) == 0;
}

/* Reads and checks the header and the payload nonce; sets r->key. 0, or
 * -1 after logging. */
static int read_header(struct ms_age_reader *r)
{
	unsigned char fk[FILE_KEY_LEN], nonce[NONCE_LEN];
	size_t line, len, stanzas = 0;
	bool found = false;
	int got, rc = -1;

	got = next_line(r, &line, &len);
	if (got < 0)
		return -1;
	if (got == 0 || len != strlen(INTRO) || !line_is(r, line, len, INTRO))
		return fail(r, NOT_AGE);
	for (;;) {
		got = next_line(r, &line, &len);
		if (got < 0)
			goto out;
		if (got == 0)
			goto malformed;
		if (line_is(r, line, len, "--- "))
			break;
		if (!line_is(r, line, len, "-> ") || (got = read_stanza(r, line, len, fk, &found)) > 0)
			goto malformed;
		if (got < 0)
			goto out;
		stanzas++;
	}
	if (!stanzas)
		goto malformed;
	if (!found) {
		rc = fail(r, NO_MATCH);
		goto out;
	}
	if (!mac_ok(r, line, len, fk))
		goto malformed;
	if (in_fill(r, NONCE_LEN) < 0)
		goto out;
	if (r->in_len - r->in_pos < NONCE_LEN) {
		rc = fail(r, TRUNCATED);
		goto out;
	}
	memcpy(nonce, r->in + r->in_pos, NONCE_LEN);
	r->in_pos += NONCE_LEN;
	r->start = r->hdr.len + NONCE_LEN;
	if (hkdf(fk, sizeof(fk), nonce, sizeof(nonce), "payload", r->key) < 0) {
		rc = ms_log_error("'%s': unable to derive the payload key: %s", r->name, ms_crypto_error());
		r->state = R_FAILED;
		goto out;
	}
	ms_strbuf_release(&r->hdr);
	r->state = R_PAYLOAD;
	rc = 0;
	goto out;
malformed:
	rc = fail(r, NOT_AUTHENTIC);
out:
	ms_secure_zero(fk, sizeof(fk));
	return rc;
}

/* Opens chunk r->counter (len bytes at in_pos) into out. */
static bool open_chunk(struct ms_age_reader *r, size_t len, bool last)
{
	unsigned char nonce[12];

	chunk_nonce(r->counter, last, nonce);
	return aead(r->cc, false, r->key, nonce, r->in + r->in_pos, len, r->out) == 0;
}

/* Reads and authenticates the next chunk into out. 0 or -1 (logged). */
static int next_chunk(struct ms_age_reader *r)
{
	size_t avail;

	if (in_fill(r, IN_CAP) < 0)
		return -1;
	avail = r->in_len - r->in_pos;
	if (avail == 0)
		return fail(r, TRUNCATED);
	if (avail > ENC_CHUNK) {
		/* More follows, so this is not the last chunk; when it opens only
		 * as the last one, what follows is data after the end. */
		if (!open_chunk(r, ENC_CHUNK, false))
			return fail_chunk(r, open_chunk(r, ENC_CHUNK, true) ? r->counter + 1 : r->counter);
	} else if ((avail == TAG_LEN && r->counter > 0) || !open_chunk(r, avail, true)) {
		/* A full chunk that opens as a middle one: the file stops
		 * exactly at a chunk boundary, before its last chunk. An empty
		 * last chunk is only allowed for an empty file. */
		if (avail == ENC_CHUNK && open_chunk(r, avail, false))
			return fail(r, TRUNCATED);
		return fail_chunk(r, r->counter);
	} else {
		r->state = R_END;
	}
	r->in_pos += avail > ENC_CHUNK ? ENC_CHUNK : avail;
	r->out_pos = 0;
	r->out_len = (avail > ENC_CHUNK ? ENC_CHUNK : avail) - TAG_LEN;
	r->counter++;
	return 0;
}

ssize_t ms_age_read(struct ms_age_reader *r, void *buf, size_t len)
{
	size_t n;

	if (r->state == R_FAILED)
		return -1;
	if (r->state == R_HEADER && read_header(r) < 0)
		return -1;
	while (r->out_pos == r->out_len) {
		if (r->state == R_END)
			return 0;
		if (next_chunk(r) < 0)
			return -1;
	}
	n = r->out_len - r->out_pos < len ? r->out_len - r->out_pos : len;
	if (n > SSIZE_MAX)
		n = SSIZE_MAX;
	memcpy(buf, r->out + r->out_pos, n);
	r->out_pos += n;
	return (ssize_t)n;
}

/* --- whole files ------------------------------------------------------------------------ */

struct fd_io {
	int fd;
	const char *path; /* for messages */
};

static int fd_sink(void *ctx, const void *buf, size_t len)
{
	struct fd_io *io = ctx;
	const char *p = buf;

	while (len) {
		ssize_t n = write(io->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ms_log_error("unable to write '%s': %s", io->path, strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static ssize_t fd_source(void *ctx, void *buf, size_t len)
{
	struct fd_io *io = ctx;

	for (;;) {
		ssize_t n = read(io->fd, buf, len);

		if (n >= 0)
			return n;
		if (errno != EINTR)
			return ms_log_error("unable to read '%s': %s", io->path, strerror(errno));
	}
}

/* An output file being written as OUT.partial. */
struct partial {
	struct fd_io io;
	char *tmp;
	const char *out;
};

/* Creates OUT.partial (0600, replacing a leftover of a killed run).
 * 0, or -1 after logging. */
static int partial_open(struct partial *p, const char *out)
{
	p->out = out;
	p->tmp = ms_xasprintf("%s.partial", out);
	p->io.path = p->tmp;
	if (unlink(p->tmp) < 0 && errno != ENOENT)
		return ms_log_error("unable to remove '%s': %s", p->tmp, strerror(errno));
	p->io.fd = open(p->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (p->io.fd < 0)
		return ms_log_error("unable to create '%s': %s", p->tmp, strerror(errno));
	return 0;
}

/* Fsyncs and renames OUT.partial to OUT (ok), or removes it; frees p.
 * Returns ok ? 0 : -1, -1 also after logging a failed fsync or rename. */
static int partial_close(struct partial *p, bool ok)
{
	int rc = ok ? 0 : -1;

	if (p->io.fd >= 0) {
		if (ok && fsync(p->io.fd) < 0)
			rc = ms_log_error("unable to write '%s': %s", p->tmp, strerror(errno));
		if (close(p->io.fd) < 0 && rc == 0)
			rc = ms_log_error("unable to write '%s': %s", p->tmp, strerror(errno));
		if (rc == 0 && rename(p->tmp, p->out) < 0)
			rc = ms_log_error("unable to rename '%s' to '%s': %s", p->tmp, p->out, strerror(errno));
		if (rc < 0)
			unlink(p->tmp);
	}
	free(p->tmp);
	return rc;
}

static int open_input(const char *in, struct fd_io *io)
{
	io->path = in;
	io->fd = open(in, O_RDONLY | O_CLOEXEC);
	if (io->fd < 0)
		return ms_log_error("unable to open '%s': %s", in, strerror(errno));
	return 0;
}

int ms_age_encrypt_file(const char *in, const char *out, const struct ms_age_key *rcpt, size_t n)
{
	struct fd_io src = { -1, in };
	struct partial dst = { { -1, NULL }, NULL, NULL };
	struct ms_age_writer *w = NULL;
	unsigned char *buf = ms_xmalloc(CHUNK);
	bool ok = false;

	if (open_input(in, &src) < 0 || partial_open(&dst, out) < 0)
		goto out;
	w = ms_age_writer_new(rcpt, n, fd_sink, &dst.io);
	if (!w)
		goto out;
	for (;;) {
		ssize_t got = fd_source(&src, buf, CHUNK);

		if (got < 0 || (got > 0 && ms_age_write(w, buf, (size_t)got) < 0))
			goto out;
		if (got == 0)
			break;
	}
	ok = ms_age_finish(w) == 0;
out:
	ms_age_writer_free(w);
	if (src.fd >= 0)
		close(src.fd);
	ms_secure_zero(buf, CHUNK);
	free(buf);
	return partial_close(&dst, ok);
}

int ms_age_decrypt_file(const char *in, const char *out, const struct ms_age_identity *id)
{
	struct fd_io src = { -1, in };
	struct partial dst = { { -1, NULL }, NULL, NULL };
	struct ms_age_reader *r = NULL;
	unsigned char *buf = ms_xmalloc(CHUNK);
	bool ok = false;

	if (open_input(in, &src) < 0 || partial_open(&dst, out) < 0)
		goto out;
	r = ms_age_reader_new(id, fd_source, &src, in);
	for (;;) {
		ssize_t got = ms_age_read(r, buf, CHUNK);

		if (got < 0 || (got > 0 && fd_sink(&dst.io, buf, (size_t)got) < 0))
			goto out;
		if (got == 0)
			break;
	}
	ok = true;
out:
	ms_age_reader_free(r);
	if (src.fd >= 0)
		close(src.fd);
	ms_secure_zero(buf, CHUNK);
	free(buf);
	return partial_close(&dst, ok);
}
