/*
 * Unit tests for formats/age.c: interoperability both ways with the stock
 * age binaries (age-keygen makes the keys; modosnap encrypts and `age -d`
 * decrypts, `age -r` encrypts and modosnap decrypts) at the chunk
 * boundaries 0, 1, 65535, 65536, 65537 bytes and 3 MiB; two recipients;
 * the bech32 codec against age-keygen's output; identity files with
 * comments and their refusals; and every failure of the reader with its
 * exact message: a wrong identity, a flipped bit in the header, the MAC
 * and a chunk, truncation, data after the end. No message may hold a
 * secret key. Skipped when age or age-keygen is not installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/strbuf.h"
#include "base/util.h"
#include "formats/age.h"
#include "testutil.h"

#define MiB (1024 * 1024)
#define CHUNK_ENC 65552 /* 64 KiB of plaintext and its 16-byte tag */

struct fx {
	char *dir;
	char *id[3];        /* identity files of age-keygen */
	char *rcpt[3];      /* their recipients, from age-keygen -y */
	char *secret[3];    /* their AGE-SECRET-KEY-1... lines */
	struct ms_strbuf errors; /* every message the tests captured */
};

static bool have_age(void)
{
	return access("/usr/bin/age", X_OK) == 0 && access("/usr/bin/age-keygen", X_OK) == 0;
}

/* The line of text that starts with prefix, without its newline. */
static char *line_with(const char *text, const char *prefix)
{
	const char *p = strstr(text, prefix);

	assert_non_null(p);
	return ms_xstrndup(p, strcspn(p, "\n"));
}

static int setup(void **state)
{
	struct fx *f = ms_xcalloc(1, sizeof(*f));

	*state = f;
	if (!have_age())
		return 0;
	f->dir = test_mkdtemp("test_age");
	for (int i = 0; i < 3; i++) {
		char *pub, *text;

		f->id[i] = ms_xasprintf("%s/id%d", f->dir, i);
		pub = ms_xasprintf("%s.pub", f->id[i]);
		if (test_run("age-keygen -o '%s' 2>/dev/null && age-keygen -y -o '%s' '%s'", f->id[i], pub, f->id[i]))
			return -1;
		text = test_slurp(pub);
		f->rcpt[i] = ms_xstrndup(text, strcspn(text, "\n"));
		free(text);
		text = test_slurp(f->id[i]);
		f->secret[i] = line_with(text, "AGE-SECRET-KEY-1");
		free(text);
		free(pub);
	}
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	/* No message of any test may hold a secret key, in either case. */
	for (int i = 0; i < 3 && f->secret[i]; i++) {
		char *lower = ms_xstrdup(f->secret[i]);

		for (char *c = lower; *c; c++)
			*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
		if (f->errors.len) {
			assert_null(strstr(f->errors.buf, f->secret[i]));
			assert_null(strstr(f->errors.buf, lower));
			assert_null(strstr(f->errors.buf, f->secret[i] + 15)); /* the data part alone */
		}
		free(lower);
	}
	if (f->dir)
		test_rmtree(f->dir);
	for (int i = 0; i < 3; i++) {
		free(f->id[i]);
		free(f->rcpt[i]);
		free(f->secret[i]);
	}
	ms_strbuf_release(&f->errors);
	free(f->dir);
	free(f);
	return 0;
}

#define NEED_AGE()                                                                                 \
	do {                                                                                       \
		if (!have_age()) {                                                                 \
			print_message("age or age-keygen not installed (Debian package 'age')\n"); \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

static char *path_in(const struct fx *f, const char *name)
{
	return ms_path_join(f->dir, name);
}

/* A file of `size` pseudo-random bytes (the same for the same size). */
static char *make_plain(const struct fx *f, const char *name, size_t size)
{
	char *path = path_in(f, name);
	unsigned char *data = ms_xmalloc(size ? size : 1);
	uint32_t x = 2463534242u ^ (uint32_t)size;

	for (size_t i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		data[i] = (unsigned char)x;
	}
	test_write_file(path, data, size, 0644);
	free(data);
	return path;
}

static struct ms_age_key key_of(const char *rcpt)
{
	struct ms_age_key k;
	const char *why = NULL;

	assert_int_equal(ms_age_parse_recipient(rcpt, &k, &why), 0);
	return k;
}

static struct ms_age_identity *load_identity(const char *path)
{
	struct ms_age_identity *id = ms_age_identity_load(path);

	assert_non_null(id);
	return id;
}

static bool same_file(const char *a, const char *b)
{
	return test_run("cmp -s '%s' '%s'", a, b) == 0;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* ms_age_decrypt_file of in with the identity file `idf` into OUT: its
 * return value; *msg (caller frees) what it logged. */
static int decrypt_capture(struct fx *f, const char *in, const char *idf, const char *out, char **msg)
{
	struct ms_age_identity *id = load_identity(idf);
	int rc;

	capture_start();
	rc = ms_age_decrypt_file(in, out, id);
	*msg = capture_end();
	ms_strbuf_addstr(&f->errors, *msg);
	ms_age_identity_free(id);
	return rc;
}

/* --- keys --------------------------------------------------------------------------- */

static void test_bech32(void **state)
{
	struct fx *f = *state;
	char text[MS_AGE_RECIPIENT_LEN];

	NEED_AGE();
	for (int i = 0; i < 3; i++) {
		struct ms_age_key k = key_of(f->rcpt[i]), from_id;
		struct ms_age_identity *id = load_identity(f->id[i]);

		ms_age_format_recipient(&k, text);
		assert_string_equal(text, f->rcpt[i]);
		/* the public half of the identity is what age-keygen -y says */
		assert_int_equal(ms_age_identity_count(id), 1);
		ms_age_identity_recipient(id, 0, &from_id);
		ms_age_format_recipient(&from_id, text);
		assert_string_equal(text, f->rcpt[i]);
		ms_age_identity_free(id);
	}
}

static void test_bad_recipients(void **state)
{
	struct fx *f = *state;
	char *upper, *typo, *cut, *mixed;
	struct ms_age_key k;
	const char *why;
	const struct {
		const char *text;
		const char *why;
	} rows[] = {
		{ "", "not bech32 (no separator or too short)" },
		{ "age1", "not bech32 (no separator or too short)" },
		{ "age1 qqqqqq", "not bech32 (a character outside the printable range)" },
		{ "age1bqqqqqqq", "not bech32 (a character outside its alphabet)" },
		{ "ssh-ed25519 AAAA", "not bech32 (a character outside the printable range)" },
	};

	NEED_AGE();
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		why = NULL;
		assert_int_equal(ms_age_parse_recipient(rows[i].text, &k, &why), -1);
		assert_string_equal(why, rows[i].why);
	}
	/* uppercase is the same key; mixed case, a typo, a cut key, or an
	 * identity given as a recipient are refused */
	upper = ms_xstrdup(f->rcpt[0]);
	for (char *c = upper; *c; c++)
		*c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
	{
		struct ms_age_key a = key_of(f->rcpt[0]), b = key_of(upper);

		assert_memory_equal(a.pub, b.pub, sizeof(a.pub));
	}
	mixed = ms_xstrdup(f->rcpt[0]);
	mixed[10] = (char)(mixed[10] >= 'a' ? mixed[10] - 32 : 'A');
	typo = ms_xstrdup(f->rcpt[0]);
	typo[20] = typo[20] == 'q' ? 'p' : 'q';
	cut = ms_xstrndup(f->rcpt[0], strlen(f->rcpt[0]) - 1);
	assert_int_equal(ms_age_parse_recipient(typo, &k, &why), -1);
	assert_string_equal(why, "bad bech32 checksum (a typo?)");
	assert_int_equal(ms_age_parse_recipient(cut, &k, &why), -1);
	assert_string_equal(why, "bad bech32 checksum (a typo?)");
	assert_int_equal(ms_age_parse_recipient(f->secret[0], &k, &why), -1);
	assert_string_equal(why, "wrong prefix (not age1...)");
	if (strcmp(mixed, f->rcpt[0]) != 0) {
		assert_int_equal(ms_age_parse_recipient(mixed, &k, &why), -1);
		assert_string_equal(why, "not bech32 (mixed case)");
	}
	free(upper);
	free(mixed);
	free(typo);
	free(cut);
}

static void test_identity_file(void **state)
{
	struct fx *f = *state;
	char *path, *text, *msg, *bad;
	struct ms_age_identity *id;
	struct ms_age_key k;
	char out[MS_AGE_RECIPIENT_LEN];

	NEED_AGE();
	path = path_in(f, "ids");
	/* comments, blank lines, indentation, CRLF, two keys */
	text = ms_xasprintf("# created by hand\n\n   # indented comment\r\n  %s  \r\n\n# the escrow key\n%s", f->secret[0],
			    f->secret[1]);
	test_write_file(path, text, strlen(text), 0600);
	free(text);
	id = load_identity(path);
	assert_int_equal(ms_age_identity_count(id), 2);
	ms_age_identity_recipient(id, 1, &k);
	ms_age_format_recipient(&k, out);
	assert_string_equal(out, f->rcpt[1]);
	ms_age_identity_free(id);

	/* refusals name the file and the line, never the key */
	bad = ms_xstrdup(f->secret[0]);
	bad[30] = bad[30] == 'Q' ? 'P' : 'Q';
	text = ms_xasprintf("# one\n%s\n%s\n", f->secret[1], bad);
	test_write_file(path, text, strlen(text), 0600);
	capture_start();
	assert_null(ms_age_identity_load(path));
	msg = capture_end();
	ms_strbuf_addstr(&f->errors, msg);
	{
		char *want = ms_xasprintf("modosnap: error: '%s': line 3: not an age identity: bad bech32 checksum (a typo?)\n",
					  path);

		assert_string_equal(msg, want);
		free(want);
	}
	assert_null(strstr(msg, bad));
	free(msg);
	free(text);
	free(bad);

	text = ms_xasprintf("# only comments\n%s\n", f->rcpt[0]);
	test_write_file(path, text, strlen(text), 0600);
	capture_start();
	assert_null(ms_age_identity_load(path));
	msg = capture_end();
	{
		char *want = ms_xasprintf(
			"modosnap: error: '%s': line 2: not an age identity: wrong prefix (not AGE-SECRET-KEY-1...)\n",
			path);

		assert_string_equal(msg, want);
		free(want);
	}
	free(msg);
	free(text);

	test_write_file(path, "# nothing\n\n", 11, 0600);
	capture_start();
	assert_null(ms_age_identity_load(path));
	msg = capture_end();
	{
		char *want = ms_xasprintf("modosnap: error: '%s': no age identity in it (AGE-SECRET-KEY-1... lines)\n", path);

		assert_string_equal(msg, want);
		free(want);
	}
	free(msg);
	free(path);
}

/* --- interoperability ------------------------------------------------------------------ */

static const size_t sizes[] = { 0, 1, 65535, 65536, 65537, 3 * MiB };

/* Both ways at every chunk boundary: modosnap encrypts and age -d
 * decrypts; age -r encrypts and modosnap decrypts. */
static void test_interop(void **state)
{
	struct fx *f = *state;
	char *enc, *dec;
	struct ms_age_key k;

	NEED_AGE();
	enc = path_in(f, "x.age");
	dec = path_in(f, "x.dec");
	k = key_of(f->rcpt[0]);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char name[32], *plain, *msg;
		struct stat st;

		snprintf(name, sizeof(name), "plain-%zu", sizes[i]);
		plain = make_plain(f, name, sizes[i]);
		assert_int_equal(ms_age_encrypt_file(plain, enc, &k, 1), 0);
		assert_int_equal(stat(enc, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
		/* header, nonce, and one tag per 64 KiB chunk (at least one) */
		assert_true((size_t)st.st_size > sizes[i] + 16 + 16 * (sizes[i] / 65536 + 1));
		/* (age -d -o creates no file for an empty plaintext: hence '>') */
		assert_int_equal(test_run("age -d -i '%s' '%s' >'%s'", f->id[0], enc, dec), 0);
		assert_true(same_file(plain, dec));
		unlink(dec);

		assert_int_equal(test_run("age -r '%s' -o '%s' '%s'", f->rcpt[0], enc, plain), 0);
		assert_int_equal(decrypt_capture(f, enc, f->id[0], dec, &msg), 0);
		assert_string_equal(msg, "");
		assert_true(same_file(plain, dec));
		free(msg);
		unlink(dec);
		unlink(enc);
		free(plain);
	}
	free(enc);
	free(dec);
}

/* A source that hands out at most 1..7 bytes per call, a sink that
 * gathers: the streaming API with odd sizes both ways. */
struct mem {
	struct ms_strbuf sb;
	size_t pos;
	unsigned step;
};

static int mem_sink(void *ctx, const void *buf, size_t len)
{
	ms_strbuf_add(&((struct mem *)ctx)->sb, buf, len);
	return 0;
}

static ssize_t mem_source(void *ctx, void *buf, size_t len)
{
	struct mem *m = ctx;
	size_t n = m->sb.len - m->pos;

	m->step = m->step % 7 + 1;
	if (n > m->step)
		n = m->step;
	if (n > len)
		n = len;
	memcpy(buf, m->sb.buf + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

static void test_streaming(void **state)
{
	struct fx *f = *state;
	struct ms_age_key k[2];
	struct mem enc = { MS_STRBUF_INIT, 0, 0 };
	struct ms_strbuf plain = MS_STRBUF_INIT, back = MS_STRBUF_INIT;
	struct ms_age_writer *w;
	struct ms_age_reader *r;
	struct ms_age_identity *id;
	unsigned char buf[1000];
	ssize_t n;

	NEED_AGE();
	k[0] = key_of(f->rcpt[0]);
	k[1] = key_of(f->rcpt[1]);
	for (size_t i = 0; i < 200000; i++)
		ms_strbuf_addch(&plain, (char)(i * 7 + i / 300));
	w = ms_age_writer_new(k, 2, mem_sink, &enc);
	assert_non_null(w);
	for (size_t off = 0, step = 1; off < plain.len; off += step, step = step * 3 % 9973 + 1)
		assert_int_equal(ms_age_write(w, plain.buf + off, off + step > plain.len ? plain.len - off : step), 0);
	assert_int_equal(ms_age_finish(w), 0);
	assert_int_equal(ms_age_finish(w), -1); /* finished once */
	ms_age_writer_free(w);

	id = load_identity(f->id[1]);
	r = ms_age_reader_new(id, mem_source, &enc, "mem");
	while ((n = ms_age_read(r, buf, 1 + back.len % sizeof(buf))) > 0)
		ms_strbuf_add(&back, buf, (size_t)n);
	assert_int_equal(n, 0);
	assert_int_equal(ms_age_read(r, buf, sizeof(buf)), 0); /* still the end */
	assert_int_equal(back.len, plain.len);
	assert_memory_equal(back.buf, plain.buf, plain.len);
	ms_age_reader_free(r);
	ms_age_identity_free(id);
	ms_strbuf_release(&enc.sb);
	ms_strbuf_release(&plain);
	ms_strbuf_release(&back);

	/* a recipient count out of range */
	capture_start();
	assert_null(ms_age_writer_new(k, 0, mem_sink, &enc));
	assert_null(ms_age_writer_new(k, MS_AGE_RECIPIENT_MAX + 1, mem_sink, &enc));
	{
		char *msg = capture_end();

		assert_string_equal(msg, "modosnap: error: age: a file is encrypted to 1 to 8 recipients, not 0\n"
					 "modosnap: error: age: a file is encrypted to 1 to 8 recipients, not 9\n");
		free(msg);
	}
}

static void test_two_recipients(void **state)
{
	struct fx *f = *state;
	char *plain, *enc, *dec, *msg;
	struct ms_age_key k[2];

	NEED_AGE();
	enc = path_in(f, "two.age");
	dec = path_in(f, "two.dec");
	plain = make_plain(f, "two", 100000);
	k[0] = key_of(f->rcpt[0]);
	k[1] = key_of(f->rcpt[1]);
	assert_int_equal(ms_age_encrypt_file(plain, enc, k, 2), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(test_run("age -d -i '%s' '%s' >'%s'", f->id[i], enc, dec), 0);
		assert_true(same_file(plain, dec));
		unlink(dec);
		assert_int_equal(decrypt_capture(f, enc, f->id[i], dec, &msg), 0);
		assert_true(same_file(plain, dec));
		unlink(dec);
		free(msg);
	}
	/* age with two recipients, read by either identity */
	assert_int_equal(test_run("age -r '%s' -r '%s' -o '%s' '%s'", f->rcpt[1], f->rcpt[0], enc, plain), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(decrypt_capture(f, enc, f->id[i], dec, &msg), 0);
		assert_true(same_file(plain, dec));
		unlink(dec);
		free(msg);
	}
	free(plain);
	free(enc);
	free(dec);
}

/* --- failures ------------------------------------------------------------------------- */

/* The file's bytes (caller frees), *len its size. */
static unsigned char *slurp(const char *path, size_t *len)
{
	char *text = ms_read_file(path, 16 * MiB, len);

	assert_non_null(text);
	return (unsigned char *)text;
}

/* Offset of the payload's first chunk: after "--- MAC\n" and the nonce. */
static size_t payload_start(const unsigned char *data, size_t len)
{
	const unsigned char *p = memmem(data, len, "\n--- ", 5);

	assert_non_null(p);
	p = memchr(p + 1, '\n', len - (size_t)(p + 1 - data));
	assert_non_null(p);
	return (size_t)(p + 1 - data) + 16;
}

/* What `age -r` makes of `size` fresh bytes for the first key: the
 * ciphertext (caller frees), its length and where its payload starts. */
static unsigned char *age_encrypted(struct fx *f, size_t size, size_t *len, size_t *start)
{
	char *plain = make_plain(f, "plain", size), *enc = path_in(f, "plain.age");
	unsigned char *data;

	assert_int_equal(test_run("age -r '%s' -o '%s' '%s'", f->rcpt[0], enc, plain), 0);
	data = slurp(enc, len);
	*start = payload_start(data, *len);
	free(plain);
	free(enc);
	return data;
}

/* Decrypting `data` (written to a file) with identity idf fails with
 * exactly "'FILE': what" and leaves neither OUT nor OUT.partial. */
static void expect_failure(struct fx *f, const void *data, size_t len, const char *idf, const char *what)
{
	char *in = path_in(f, "bad.age"), *out = path_in(f, "bad.out"), *partial = ms_xasprintf("%s.partial", out),
	     *msg, *want = ms_xasprintf("modosnap: error: '%s': %s\n", in, what);

	test_write_file(in, data, len, 0600);
	assert_int_equal(decrypt_capture(f, in, idf, out, &msg), -1);
	assert_string_equal(msg, want);
	assert_false(exists(out));
	assert_false(exists(partial));
	free(msg);
	free(want);
	free(in);
	free(out);
	free(partial);
}

static void test_wrong_identity(void **state)
{
	struct fx *f = *state;
	unsigned char *data;
	size_t len, start;

	NEED_AGE();
	data = age_encrypted(f, 1000, &len, &start);
	expect_failure(f, data, len, f->id[2], "no identity matches a recipient of this file");
	expect_failure(f, "", 0, f->id[0], "not an age file");
	expect_failure(f, "hello\n", 6, f->id[0], "not an age file");
	expect_failure(f, "age-encryption.org/v2\n", 22, f->id[0], "not an age file");
	expect_failure(f, data, 10, f->id[0], "not an age file");
	free(data);
}

static void test_flipped_bits(void **state)
{
	struct fx *f = *state;
	char *plain, *enc, *what;
	struct ms_age_key k[2];
	unsigned char *data;
	size_t len, start, mac, second;
	unsigned char saved;

	NEED_AGE();
	plain = make_plain(f, "flip", 3 * 65536 + 100);
	enc = path_in(f, "flip.age");
	k[0] = key_of(f->rcpt[0]);
	k[1] = key_of(f->rcpt[1]);
	assert_int_equal(ms_age_encrypt_file(plain, enc, k, 2), 0);
	data = slurp(enc, &len);
	start = payload_start(data, len);
	mac = (size_t)((unsigned char *)memmem(data, len, "\n--- ", 5) - data) + 5;
	/* the second recipient's stanza: the first identity unwraps its
	 * own, and the header MAC then catches the change */
	second = (size_t)((unsigned char *)memmem(data + 30, len - 30, "-> X25519 ", 10) - data) + 12;

	saved = data[second];
	data[second] = saved == 'A' ? 'B' : 'A'; /* still canonical base64 */
	expect_failure(f, data, len, f->id[0], "the header is not authentic (tampered, or the wrong identity)");
	/* the same change seen by the identity of that stanza */
	expect_failure(f, data, len, f->id[1], "no identity matches a recipient of this file");
	data[second] = saved;
	data[3] ^= 0x20;
	expect_failure(f, data, len, f->id[0], "not an age file");
	data[3] ^= 0x20;
	data[mac + 3] ^= 0x02;
	expect_failure(f, data, len, f->id[0], "the header is not authentic (tampered, or the wrong identity)");
	data[mac + 3] ^= 0x02;
	/* a flip in the nonce changes every key: chunk 0 fails */
	data[start - 3] ^= 0x80;
	what = ms_xasprintf("damaged or tampered at byte %zu (chunk 0 fails authentication)", start);
	expect_failure(f, data, len, f->id[0], what);
	free(what);
	data[start - 3] ^= 0x80;
	for (size_t chunk = 0; chunk < 4; chunk++) {
		size_t at = start + chunk * CHUNK_ENC + 50;

		data[at] ^= 0x10;
		what = ms_xasprintf("damaged or tampered at byte %zu (chunk %zu fails authentication)",
				    start + chunk * CHUNK_ENC, chunk);
		expect_failure(f, data, len, f->id[0], what);
		free(what);
		data[at] ^= 0x10;
	}
	/* the untouched file still reads */
	{
		char *dec = path_in(f, "flip.dec"), *msg;

		test_write_file(enc, data, len, 0600);
		assert_int_equal(decrypt_capture(f, enc, f->id[1], dec, &msg), 0);
		assert_true(same_file(plain, dec));
		free(msg);
		free(dec);
	}
	free(data);
	free(plain);
	free(enc);
}

static void test_truncated_and_extended(void **state)
{
	struct fx *f = *state;
	unsigned char *data, *more;
	size_t len, start;
	char *what;

	NEED_AGE();
	data = age_encrypted(f, 3 * MiB, &len, &start);
	assert_int_equal(len, start + 48 * CHUNK_ENC); /* 48 full chunks, the last one full too */
	/* cut at a chunk boundary: the last chunk is missing */
	expect_failure(f, data, len - CHUNK_ENC, f->id[0], "truncated (the last chunk is missing)");
	expect_failure(f, data, start + CHUNK_ENC, f->id[0], "truncated (the last chunk is missing)");
	/* header only, without or with the nonce */
	expect_failure(f, data, start - 16, f->id[0], "truncated (the last chunk is missing)");
	expect_failure(f, data, start - 5, f->id[0], "truncated (the last chunk is missing)");
	expect_failure(f, data, start, f->id[0], "truncated (the last chunk is missing)");
	/* cut inside a chunk: that chunk does not authenticate */
	what = ms_xasprintf("damaged or tampered at byte %zu (chunk 47 fails authentication)", start + 47 * CHUNK_ENC);
	expect_failure(f, data, len - 100, f->id[0], what);
	free(what);
	/* inside the header: no longer a header */
	expect_failure(f, data, start - 30, f->id[0], "the header is not authentic (tampered, or the wrong identity)");
	/* data after the last chunk */
	more = ms_xmalloc(len + 20);
	memcpy(more, data, len);
	memset(more + len, 'x', 20);
	what = ms_xasprintf("damaged or tampered at byte %zu (chunk 48 fails authentication)", start + 48 * CHUNK_ENC);
	expect_failure(f, more, len + 20, f->id[0], what);
	expect_failure(f, more, len + 1, f->id[0], what);
	free(what);
	free(more);
	free(data);
}

/* A short last chunk followed by more data fails as that chunk. */
static void test_short_chunk_extended(void **state)
{
	struct fx *f = *state;
	unsigned char *data, *more;
	size_t len, start;
	char *what;

	NEED_AGE();
	data = age_encrypted(f, 10, &len, &start);
	more = ms_xmalloc(len + 1);
	memcpy(more, data, len);
	more[len] = '\n';
	what = ms_xasprintf("damaged or tampered at byte %zu (chunk 0 fails authentication)", start);
	expect_failure(f, more, len + 1, f->id[0], what);
	free(what);
	free(more);
	free(data);
}

static void test_file_errors(void **state)
{
	struct fx *f = *state;
	char *missing, *out, *msg, *want;
	struct ms_age_key k;

	NEED_AGE();
	missing = path_in(f, "missing");
	out = path_in(f, "o.age");
	k = key_of(f->rcpt[0]);
	capture_start();
	assert_int_equal(ms_age_encrypt_file(missing, out, &k, 1), -1);
	msg = capture_end();
	want = ms_xasprintf("modosnap: error: unable to open '%s': No such file or directory\n", missing);
	assert_string_equal(msg, want);
	assert_false(exists(out));
	free(msg);
	free(want);
	free(missing);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bech32, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_recipients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_streaming, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_recipients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flipped_bits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_and_extended, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_chunk_extended, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);

	/* the interoperability cases skipped: reported as skipped (77,
	 * SKIP_RETURN_CODE in tests/CMakeLists.txt), never as passed */
	return failed ? failed : have_age() ? 0 : 77;
}
