/*
 * libFuzzer target: the age reader (formats/age.c): the header parser
 * (stanzas, base64, the MAC line), the X25519 unwrap and the STREAM
 * chunks, read through a source that hands out the bytes in small,
 * varying pieces; and the identity file and recipient parsers.
 * Input: a flag byte, then an age file (or key text).
 *   bits 0-2  the source's largest piece is 1 << (2 * bits) bytes
 *   bit 7     also read the bytes as an identity file and a recipient
 * The identity is a fixed test key (FUZZ_KEY below); the seeds in
 * corpus/fuzz_age/ are encrypted to it by the stock age.
 * Checked: a read never returns more than asked; after -1 every read is
 * -1; no more plaintext than ciphertext; a file that authenticated
 * encrypts again with the writer and reads back to the same plaintext.
 */
#include "fuzzutil.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "formats/age.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A throwaway key for this harness only, protecting nothing. */
#define FUZZ_KEY "AGE-SECRET-KEY-1EA9U88QE20CWVMKRZLQ3GLRQZ06EP2D6VZVA2NXGEA9VHP4Z5DRS0DEDDE"
#define FUZZ_RECIPIENT "age1vjjmcac34qk8zm07cew4zn3pmedn2vxly3yytjy6jc82hx5wc3rss8n3s9"

struct src {
	const uint8_t *p;
	size_t left;
	size_t piece; /* the largest piece handed out */
	unsigned turn;
};

static ssize_t src_read(void *ctx, void *buf, size_t len)
{
	struct src *s = ctx;
	size_t n = s->left < len ? s->left : len;

	s->turn = s->turn * 5 + 3;
	if (n > s->piece)
		n = 1 + s->turn % s->piece;
	memcpy(buf, s->p, n);
	s->p += n;
	s->left -= n;
	return (ssize_t)n;
}

static int sb_sink(void *ctx, const void *buf, size_t len)
{
	ms_strbuf_add(ctx, buf, len);
	return 0;
}

/* Decrypts data with id through a source of the given piece size: 0 and
 * *plain filled, or -1. */
static int decrypt(const struct ms_age_identity *id, const uint8_t *data, size_t size, size_t piece,
		   struct ms_strbuf *plain)
{
	struct src s = { data, size, piece, 0 };
	struct ms_age_reader *r = ms_age_reader_new(id, src_read, &s, "fuzz");
	unsigned char buf[3000];
	ssize_t n;
	size_t ask = 1;

	while ((n = ms_age_read(r, buf, ask)) > 0) {
		FZ_ASSERT((size_t)n <= ask);
		ms_strbuf_add(plain, buf, (size_t)n);
		ask = ask * 7 % sizeof(buf) + 1;
	}
	if (n < 0)
		FZ_ASSERT(ms_age_read(r, buf, sizeof(buf)) == -1);
	else
		FZ_ASSERT(ms_age_read(r, buf, sizeof(buf)) == 0);
	ms_age_reader_free(r);
	return n < 0 ? -1 : 0;
}

/* The plaintext encrypted again by the writer reads back the same. */
static void round_trip(const struct ms_age_identity *id, const struct ms_strbuf *plain)
{
	struct ms_strbuf enc = MS_STRBUF_INIT, back = MS_STRBUF_INIT;
	struct ms_age_key k;
	const char *why;
	struct ms_age_writer *w;

	FZ_ASSERT(ms_age_parse_recipient(FUZZ_RECIPIENT, &k, &why) == 0);
	w = ms_age_writer_new(&k, 1, sb_sink, &enc);
	FZ_ASSERT(w != NULL);
	FZ_ASSERT(ms_age_write(w, plain->buf, plain->len) == 0);
	FZ_ASSERT(ms_age_finish(w) == 0);
	ms_age_writer_free(w);
	FZ_ASSERT(decrypt(id, (const uint8_t *)enc.buf, enc.len, 65537, &back) == 0);
	FZ_ASSERT(back.len == plain->len && (!plain->len || memcmp(back.buf, plain->buf, plain->len) == 0));
	ms_strbuf_release(&enc);
	ms_strbuf_release(&back);
}

static void parse_keys(const uint8_t *data, size_t size)
{
	char path[32], *text = fz_strndup(data, size);
	int fd = fz_memfd(data, size, 0600, path);
	struct ms_age_identity *id = ms_age_identity_load(path);
	struct ms_age_key k, again;
	char back[MS_AGE_RECIPIENT_LEN];
	const char *why = NULL;

	if (id)
		FZ_ASSERT(ms_age_identity_count(id) >= 1);
	ms_age_identity_free(id);
	close(fd);
	if (ms_age_parse_recipient(text, &k, &why) == 0) {
		ms_age_format_recipient(&k, back);
		FZ_ASSERT(ms_age_parse_recipient(back, &again, &why) == 0);
		FZ_ASSERT(memcmp(k.pub, again.pub, sizeof(k.pub)) == 0);
	} else {
		FZ_ASSERT(why != NULL);
	}
	free(text);
}

static struct ms_age_identity *fuzz_identity(void)
{
	static const char text[] = "# fuzz\n" FUZZ_KEY "\n";
	char path[32];
	int fd = fz_memfd(text, sizeof(text) - 1, 0600, path);
	struct ms_age_identity *id = ms_age_identity_load(path);

	close(fd);
	FZ_ASSERT(id != NULL);
	return id;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ms_age_identity *id;
	struct ms_strbuf plain = MS_STRBUF_INIT;
	uint8_t *copy;

	if (size < 1)
		return 0;
	if (!id) {
		ms_log_set_level(MS_LOG_QUIET);
		id = fuzz_identity();
	}
	/* an exact-size copy: an overread shows */
	copy = malloc(size - 1 ? size - 1 : 1);
	if (!copy)
		abort();
	memcpy(copy, data + 1, size - 1);
	if (decrypt(id, copy, size - 1, (size_t)1 << (2 * (data[0] & 7)), &plain) == 0) {
		FZ_ASSERT(plain.len <= size - 1);
		round_trip(id, &plain);
	}
	if (data[0] & 0x80)
		parse_keys(copy, size - 1);
	ms_strbuf_release(&plain);
	free(copy);
	return 0;
}
