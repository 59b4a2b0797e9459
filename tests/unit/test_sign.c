/*
 * Unit tests for formats/sign.c and the signature rules of formats/verify.c:
 * key creation (modes, .pub line, refusals), sign/verify round trips,
 * tampered messages and signatures, a table of malformed signatures built
 * byte by byte (wrong magic, version, lengths, huge lengths, trailing
 * data, broken armor), the trusted-keys file with its exact error
 * messages, the trust decision, and archives written with the project's
 * own writer whose signature member is missing, misplaced, oversized or
 * followed by another member. The cross-check with OpenSSH's ssh-keygen
 * is in tests/cli/test_signing.sh.
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
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "formats/manifest.h"
#include "formats/sign.h"
#include "formats/snaparchive.h"
#include "base/strbuf.h"
#include "testutil.h"
#include "base/util.h"
#include "formats/verify.h"

#define MSG "{\n  \"format_version\": 2,\n  \"entries\": []\n}\n"

/* --- fixture: a temporary directory and a key in it ------------------------ */

struct fx {
	char *dir;
	char *key_path;
	struct ms_sign_key *key;
};

static int setup(void **state)
{
	struct fx *f = ms_xcalloc(1, sizeof(*f));

	f->dir = test_mkdtemp("test_sign");
	f->key_path = ms_xasprintf("%s/keys/signing.key", f->dir);
	capture_start();
	f->key = ms_sign_key_load_or_create(f->key_path);
	free(capture_end());
	*state = f;
	return f->key ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	ms_sign_key_free(f->key);
	test_rmtree(f->dir);
	free(f->dir);
	free(f->key_path);
	free(f);
	return 0;
}

/* --- helpers ----------------------------------------------------------------- */

static char *path_in(const struct fx *f, const char *name)
{
	return ms_path_join(f->dir, name);
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

/* The test's own base64 (RFC 4648 with padding), independent of sign.c. */
static char *b64(const unsigned char *p, size_t len)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct ms_strbuf sb = MS_STRBUF_INIT;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0) |
			     (i + 2 < len ? p[i + 2] : 0);

		ms_strbuf_addch(&sb, a[v >> 18]);
		ms_strbuf_addch(&sb, a[(v >> 12) & 63]);
		ms_strbuf_addch(&sb, i + 1 < len ? a[(v >> 6) & 63] : '=');
		ms_strbuf_addch(&sb, i + 2 < len ? a[v & 63] : '=');
	}
	return ms_strbuf_detach(&sb);
}

static int unb64_char(char c)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = strchr(a, c);

	return c && p ? (int)(p - a) : -1;
}

/* Decodes the base64 lines of an armored signature (test side). */
static unsigned char *dearmor(const char *armored, size_t *len)
{
	const char *s = strchr(armored, '\n') + 1, *end = strstr(armored, "-----END");
	unsigned char *out = ms_xmalloc(strlen(armored)), *o = out;
	uint32_t acc = 0;
	int bits = 0;

	for (; s < end; s++) {
		int v = unb64_char(*s);

		if (v < 0)
			continue;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			*o++ = (unsigned char)(acc >> bits);
		}
	}
	*len = (size_t)(o - out);
	return out;
}

/* Wraps a blob like ssh-keygen: 70 columns between the armor lines. */
static char *armor(const unsigned char *blob, size_t len)
{
	char *body = b64(blob, len);
	struct ms_strbuf sb = MS_STRBUF_INIT;
	size_t n = strlen(body);

	ms_strbuf_addstr(&sb, "-----BEGIN SSH SIGNATURE-----\n");
	for (size_t i = 0; i < n; i += 70) {
		ms_strbuf_add(&sb, body + i, n - i < 70 ? n - i : 70);
		ms_strbuf_addch(&sb, '\n');
	}
	ms_strbuf_addstr(&sb, "-----END SSH SIGNATURE-----\n");
	free(body);
	return ms_strbuf_detach(&sb);
}

static void put_u32(struct ms_strbuf *sb, uint32_t v)
{
	unsigned char b[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
			       (unsigned char)v };

	ms_strbuf_add(sb, b, 4);
}

static void put_str(struct ms_strbuf *sb, const void *p, size_t len)
{
	put_u32(sb, (uint32_t)len);
	ms_strbuf_add(sb, p, len);
}

static void verify_text(const char *sig, const char *ns, const char *msg, struct ms_sig_state *st)
{
	ms_sign_verify(sig, strlen(sig), ns, msg, strlen(msg), st);
}

/* --- keys ---------------------------------------------------------------------- */

static void test_key_created(void **state)
{
	struct fx *f = *state;
	char *dir = path_in(f, "keys"), *pub = ms_xasprintf("%s.pub", f->key_path), *text, *line;
	unsigned char pk[MS_SIGN_PK_LEN], pk2[MS_SIGN_PK_LEN];
	struct ms_sign_key *again;
	const char *why;
	char host[256];

	assert_int_equal(mode_of(dir), 0700);
	assert_int_equal(mode_of(f->key_path), 0600);
	assert_int_equal(mode_of(pub), 0644);
	text = ms_read_file(f->key_path, 4096, NULL);
	assert_non_null(text);
	assert_true(strncmp(text, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
	free(text);
	/* PATH.pub: one OpenSSH line "ssh-ed25519 AAAA... modosnap@HOST" */
	text = ms_read_file(pub, 4096, NULL);
	ms_sign_key_public(f->key, pk);
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	host[sizeof(host) - 1] = '\0';
	line = ms_sign_public_line(pk, NULL);
	{
		char *expect = ms_xasprintf("%s modosnap@%s\n", line, host);

		assert_string_equal(text, expect);
		free(expect);
	}
	assert_true(strncmp(line, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", 37) == 0);
	assert_int_equal(ms_sign_parse_public_line(text, pk2, &why), 0);
	assert_memory_equal(pk, pk2, MS_SIGN_PK_LEN);
	assert_int_equal(ms_sign_own_public(f->key_path, pk2), 1);
	assert_memory_equal(pk, pk2, MS_SIGN_PK_LEN);
	/* a second load finds the same key and creates nothing */
	again = ms_sign_key_load_or_create(f->key_path);
	assert_non_null(again);
	ms_sign_key_public(again, pk2);
	assert_memory_equal(pk, pk2, MS_SIGN_PK_LEN);
	ms_sign_key_free(again);
	ms_sign_key_free(NULL);
	free(line);
	free(text);
	free(pub);
	free(dir);
}

static void expect_key_refused(const char *path, bool create, const char *expect)
{
	struct ms_sign_key *k;
	char *err;

	capture_start();
	k = create ? ms_sign_key_load_or_create(path) : ms_sign_key_load(path);
	err = capture_end();
	assert_null(k);
	assert_string_equal(err, expect);
	free(err);
}

static void test_key_refusals(void **state)
{
	struct fx *f = *state;
	char *pub = ms_xasprintf("%s.pub", f->key_path), *exp, *other, *link;
	const char *garbage;

	/* readable by group or others: refused, with the fix */
	assert_int_equal(chmod(f->key_path, 0644), 0);
	exp = ms_xasprintf("modosnap: error: signing key '%s' is accessible by other users (mode 0644); chmod 600 '%s'\n",
			   f->key_path, f->key_path);
	expect_key_refused(f->key_path, true, exp);
	free(exp);
	assert_int_equal(chmod(f->key_path, 0640), 0);
	exp = ms_xasprintf("modosnap: error: signing key '%s' is accessible by other users (mode 0640); chmod 600 '%s'\n",
			   f->key_path, f->key_path);
	expect_key_refused(f->key_path, false, exp);
	free(exp);
	assert_int_equal(chmod(f->key_path, 0600), 0);

	/* a .pub that belongs to another key */
	other = path_in(f, "other.key");
	{
		struct ms_sign_key *k;

		capture_start();
		k = ms_sign_key_load_or_create(other);
		free(capture_end());
		assert_non_null(k);
		ms_sign_key_free(k);
	}
	{
		char *opub = ms_xasprintf("%s.pub", other), *text = ms_read_file(opub, 4096, NULL);

		test_write_file(pub, text, strlen(text), 0644);
		free(text);
		free(opub);
	}
	exp = ms_xasprintf("modosnap: error: public key '%s' does not belong to the signing key '%s'\n", pub,
			   f->key_path);
	expect_key_refused(f->key_path, true, exp);
	free(exp);

	/* a .pub left without its key: never silently replaced by a new key */
	assert_int_equal(unlink(f->key_path), 0);
	exp = ms_xasprintf("modosnap: error: public key '%s' exists but its signing key '%s' does not: put the private "
			   "key back, or remove '%s' to create a new key\n", pub, f->key_path, pub);
	expect_key_refused(f->key_path, true, exp);
	free(exp);
	assert_false(ms_is_file(f->key_path));

	/* a symbolic link, garbage, a missing key without creation, a relative path */
	link = path_in(f, "link.key");
	assert_int_equal(symlink(other, link), 0);
	exp = ms_xasprintf("modosnap: error: signing key '%s' is a symbolic link\n", link);
	expect_key_refused(link, true, exp);
	free(exp);
	garbage = "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n";
	test_write_file(f->key_path, garbage, strlen(garbage), 0600);
	exp = ms_xasprintf("modosnap: error: signing key '%s' is not an unencrypted PEM private key\n", f->key_path);
	expect_key_refused(f->key_path, false, exp);
	free(exp);
	assert_int_equal(unlink(f->key_path), 0);
	exp = ms_xasprintf("modosnap: error: signing key '%s' does not exist\n", f->key_path);
	expect_key_refused(f->key_path, false, exp);
	free(exp);
	expect_key_refused("keys/signing.key", true,
			   "modosnap: error: signing key 'keys/signing.key' must be an absolute path\n");
	free(link);
	free(other);
	free(pub);
}

/* A key whose directory does not exist yet gets it 0700; the .pub is
 * rewritten when only it is missing. */
static void test_key_missing_pub(void **state)
{
	struct fx *f = *state;
	char *path = path_in(f, "new/dir.key"), *dir = path_in(f, "new"), *pub = ms_xasprintf("%s.pub", path);
	struct ms_sign_key *k;
	unsigned char a[MS_SIGN_PK_LEN], b[MS_SIGN_PK_LEN];

	capture_start();
	k = ms_sign_key_load_or_create(path);
	free(capture_end());
	assert_non_null(k);
	assert_int_equal(mode_of(dir), 0700);
	ms_sign_key_public(k, a);
	ms_sign_key_free(k);
	assert_int_equal(unlink(pub), 0);
	assert_int_equal(ms_sign_own_public(path, b), 1); /* derived from the key itself */
	assert_memory_equal(a, b, MS_SIGN_PK_LEN);
	k = ms_sign_key_load_or_create(path);
	assert_non_null(k);
	assert_true(ms_is_file(pub));
	ms_sign_key_free(k);
	assert_int_equal(unlink(pub), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(ms_sign_own_public(path, b), 0); /* neither file: nothing trusted */
	free(pub);
	free(dir);
	free(path);
}

/* --- signatures ------------------------------------------------------------------ */

static void test_round_trip(void **state)
{
	struct fx *f = *state;
	unsigned char pk[MS_SIGN_PK_LEN];
	char fp[MS_SIGN_FP_MAX], *sig, *line, *nl;
	struct ms_sig_state st;
	size_t len = 0;

	sig = ms_sign_message(f->key, MS_SIGN_NAMESPACE, MSG, strlen(MSG), &len);
	assert_non_null(sig);
	assert_int_equal(len, strlen(sig));
	/* ssh-keygen's armor: 70 columns, final newline */
	assert_true(strncmp(sig, "-----BEGIN SSH SIGNATURE-----\n", 30) == 0);
	assert_string_equal(sig + len - 28, "-----END SSH SIGNATURE-----\n");
	for (line = strchr(sig, '\n') + 1; (nl = strchr(line, '\n')) != NULL && strncmp(line, "-----", 5); line = nl + 1)
		assert_true(nl - line <= 70);
	assert_int_equal(len, 302); /* 178 bytes of blob: 240 base64 characters on 4 lines */
	verify_text(sig, MS_SIGN_NAMESPACE, MSG, &st);
	assert_int_equal(st.status, MS_SIG_VALID);
	assert_null(st.problem);
	ms_sign_key_public(f->key, pk);
	assert_memory_equal(st.pubkey, pk, MS_SIGN_PK_LEN);
	ms_sign_fingerprint(pk, fp);
	assert_string_equal(st.fingerprint, fp);
	assert_int_equal(strlen(fp), 50);
	assert_true(strncmp(fp, "SHA256:", 7) == 0);
	/* Ed25519 is deterministic: the same message, the same signature */
	{
		char *again = ms_sign_message(f->key, MS_SIGN_NAMESPACE, MSG, strlen(MSG), &len);

		assert_string_equal(again, sig);
		free(again);
	}
	/* the empty message too */
	free(sig);
	sig = ms_sign_message(f->key, MS_SIGN_NAMESPACE, "", 0, &len);
	verify_text(sig, MS_SIGN_NAMESPACE, "", &st);
	assert_int_equal(st.status, MS_SIG_VALID);
	free(sig);
}

static void test_tampered_message(void **state)
{
	struct fx *f = *state;
	size_t len;
	char *sig = ms_sign_message(f->key, MS_SIGN_NAMESPACE, MSG, strlen(MSG), &len), *msg = ms_xstrdup(MSG);
	struct ms_sig_state st;
	unsigned char pk[MS_SIGN_PK_LEN];

	msg[strlen(msg) - 3] = ' '; /* one byte */
	verify_text(sig, MS_SIGN_NAMESPACE, msg, &st);
	assert_int_equal(st.status, MS_SIG_BAD);
	assert_string_equal(st.problem, "it does not match MANIFEST.json");
	ms_sign_key_public(f->key, pk);
	assert_memory_equal(st.pubkey, pk, MS_SIGN_PK_LEN); /* who claims to have signed */
	verify_text(sig, MS_SIGN_NAMESPACE, MSG "\n", &st);
	assert_int_equal(st.status, MS_SIG_BAD);
	free(msg);
	free(sig);
}

static void test_tampered_signature(void **state)
{
	struct fx *f = *state;
	size_t len, blen;
	char *sig = ms_sign_message(f->key, MS_SIGN_NAMESPACE, MSG, strlen(MSG), &len), *forged;
	unsigned char *blob = dearmor(sig, &blen);
	struct ms_sig_state st;

	assert_int_equal(blen, 178);
	for (size_t pos = blen - 64; pos < blen; pos += 9) { /* bytes of the Ed25519 signature itself */
		blob[pos] ^= 0x01;
		forged = armor(blob, blen);
		verify_text(forged, MS_SIGN_NAMESPACE, MSG, &st);
		assert_int_equal(st.status, MS_SIG_BAD);
		free(forged);
		blob[pos] ^= 0x01;
	}
	/* the public key inside replaced by another one: still BAD, never VALID */
	blob[6 + 4 + 4 + 4 + 11 + 4] ^= 0x80;
	forged = armor(blob, blen);
	verify_text(forged, MS_SIGN_NAMESPACE, MSG, &st);
	assert_true(st.status == MS_SIG_BAD || st.status == MS_SIG_MALFORMED);
	free(forged);
	free(blob);
	free(sig);
}

static void test_wrong_namespace(void **state)
{
	struct fx *f = *state;
	size_t len;
	char *sig = ms_sign_message(f->key, "file", MSG, strlen(MSG), &len);
	struct ms_sig_state st;

	verify_text(sig, MS_SIGN_NAMESPACE, MSG, &st);
	assert_int_equal(st.status, MS_SIG_MALFORMED);
	assert_string_equal(st.problem, "wrong namespace (not a modosnap signature)");
	verify_text(sig, "file", MSG, &st);
	assert_int_equal(st.status, MS_SIG_VALID);
	free(sig);
}

/* --- malformed signatures, built field by field -------------------------------- */

/* The fields of an SSHSIG blob; a case changes some of them. */
struct blob_spec {
	const char *magic;
	uint32_t version;
	const char *keytype;
	size_t pklen;
	uint32_t pklen_field; /* 0: the real length */
	const char *ns;
	const char *hash;
	const char *sigtype;
	size_t siglen;
	uint32_t siglen_field;
	const char *trailing;
	size_t cut;           /* bytes removed from the end */
};

struct mal_case {
	const char *name;
	struct blob_spec b;
	const char *problem;
};

#define GOOD "SSHSIG", 1, "ssh-ed25519", 32, 0, "modosnap", "sha512", "ssh-ed25519", 64, 0

static const struct mal_case mal_cases[] = {
	{ "wrong magic", { "SSHSIH", 1, "ssh-ed25519", 32, 0, "modosnap", "sha512", "ssh-ed25519", 64, 0, "", 0 },
	  "not an SSH signature: wrong magic" },
	{ "version 2", { "SSHSIG", 2, "ssh-ed25519", 32, 0, "modosnap", "sha512", "ssh-ed25519", 64, 0, "", 0 },
	  "unsupported SSHSIG version" },
	{ "rsa key", { "SSHSIG", 1, "ssh-rsa", 32, 0, "modosnap", "sha512", "ssh-ed25519", 64, 0, "", 0 },
	  "the key is not an ssh-ed25519 key" },
	{ "public key of 31 bytes", { "SSHSIG", 1, "ssh-ed25519", 31, 0, "modosnap", "sha512", "ssh-ed25519", 64, 0,
				       "", 0 },
	  "wrong ssh-ed25519 public key length" },
	{ "public key of 33 bytes", { "SSHSIG", 1, "ssh-ed25519", 33, 0, "modosnap", "sha512", "ssh-ed25519", 64, 0,
				       "", 0 },
	  "wrong ssh-ed25519 public key length" },
	{ "huge public key length", { "SSHSIG", 1, "ssh-ed25519", 32, 0xffffffffu, "modosnap", "sha512",
				       "ssh-ed25519", 64, 0, "", 0 },
	  "truncated public key" },
	{ "hash md5", { "SSHSIG", 1, "ssh-ed25519", 32, 0, "modosnap", "md5", "ssh-ed25519", 64, 0, "", 0 },
	  "unsupported hash algorithm" },
	{ "wrong namespace", { "SSHSIG", 1, "ssh-ed25519", 32, 0, "modosnap2", "sha512", "ssh-ed25519", 64, 0, "", 0 },
	  "wrong namespace (not a modosnap signature)" },
	{ "signature type rsa", { "SSHSIG", 1, "ssh-ed25519", 32, 0, "modosnap", "sha512", "rsa-sha2-512", 64, 0, "",
				   0 },
	  "the signature is not an ssh-ed25519 signature" },
	{ "signature of 63 bytes", { "SSHSIG", 1, "ssh-ed25519", 32, 0, "modosnap", "sha512", "ssh-ed25519", 63, 0,
				      "", 0 },
	  "wrong ssh-ed25519 signature length" },
	{ "huge signature length", { "SSHSIG", 1, "ssh-ed25519", 32, 0, "modosnap", "sha512", "ssh-ed25519", 64,
				      0x7fffffffu, "", 0 },
	  "truncated signature blob" },
	{ "trailing data", { GOOD, "x", 0 }, "trailing data after the signature" },
	{ "truncated by one byte", { GOOD, "", 1 }, "truncated signature" },
	{ "truncated to the magic", { GOOD, "", 178 - 6 }, "truncated signature" },
	{ "only half the magic", { GOOD, "", 178 - 3 }, "not an SSH signature: wrong magic" },
};

static unsigned char *build_blob(const struct blob_spec *b, size_t *len)
{
	struct ms_strbuf sb = MS_STRBUF_INIT, key = MS_STRBUF_INIT, sig = MS_STRBUF_INIT;
	unsigned char zeros[128] = { 0 };

	ms_strbuf_add(&sb, b->magic, 6);
	put_u32(&sb, b->version);
	put_str(&key, b->keytype, strlen(b->keytype));
	if (b->pklen_field) {
		put_u32(&key, b->pklen_field);
		ms_strbuf_add(&key, zeros, b->pklen);
	} else {
		put_str(&key, zeros, b->pklen);
	}
	put_str(&sb, key.buf, key.len);
	put_str(&sb, b->ns, strlen(b->ns));
	put_str(&sb, "", 0);
	put_str(&sb, b->hash, strlen(b->hash));
	put_str(&sig, b->sigtype, strlen(b->sigtype));
	if (b->siglen_field) {
		put_u32(&sig, b->siglen_field);
		ms_strbuf_add(&sig, zeros, b->siglen);
	} else {
		put_str(&sig, zeros, b->siglen);
	}
	put_str(&sb, sig.buf, sig.len);
	ms_strbuf_addstr(&sb, b->trailing);
	*len = sb.len - b->cut;
	ms_strbuf_release(&key);
	ms_strbuf_release(&sig);
	return (unsigned char *)ms_strbuf_detach(&sb);
}

static void test_malformed_blob(void **state)
{
	const struct mal_case *c = *state;
	size_t len;
	unsigned char *blob = build_blob(&c->b, &len);
	char *sig = armor(blob, len);
	struct ms_sig_state st;

	verify_text(sig, MS_SIGN_NAMESPACE, MSG, &st);
	if (st.status != MS_SIG_MALFORMED || strcmp(st.problem, c->problem) != 0)
		fail_msg("%s: status %d problem '%s', expected MALFORMED '%s'", c->name, st.status,
			 st.problem ? st.problem : "(null)", c->problem);
	free(sig);
	free(blob);
}

/* An all-zero Ed25519 signature over well-formed fields is BAD, not MALFORMED. */
static void test_zero_signature(void **state)
{
	const struct blob_spec b = { GOOD, "", 0 };
	size_t len;
	unsigned char *blob = build_blob(&b, &len);
	char *sig = armor(blob, len);
	struct ms_sig_state st;

	(void)state;
	assert_int_equal(len, 178);
	verify_text(sig, MS_SIGN_NAMESPACE, MSG, &st);
	assert_true(st.status == MS_SIG_BAD || st.status == MS_SIG_MALFORMED);
	assert_int_not_equal(st.status, MS_SIG_VALID);
	free(sig);
	free(blob);
}

/* Broken armor around a valid signature. */
static void test_malformed_armor(void **state)
{
	struct fx *f = *state;
	size_t len;
	char *sig = ms_sign_message(f->key, MS_SIGN_NAMESPACE, MSG, strlen(MSG), &len), *bad;
	struct ms_sig_state st;
	struct { const char *name; char *text; const char *problem; } cases[10];
	size_t n = 0;
	char *body = strchr(sig, '\n') + 1, *end = strstr(sig, "-----END");

#define CASE(nm, txt, pb) (cases[n].name = (nm), cases[n].text = (txt), cases[n].problem = (pb), n++)
	CASE("no BEGIN line", ms_xstrdup(body), "not an armored SSH signature");
	CASE("no END line", ms_xstrndup(sig, (size_t)(end - sig)), "not an armored SSH signature");
	CASE("truncated base64", ms_xasprintf("-----BEGIN SSH SIGNATURE-----\n%.*s\n%s", (int)(end - body - 2), body,
					      end),
	     "bad base64 in the signature");
	CASE("a character outside base64", ms_xstrdup(sig), "not an armored SSH signature");
	cases[n - 1].text[40] = '*';
	CASE("an empty line", ms_xasprintf("-----BEGIN SSH SIGNATURE-----\n\n%s", body), "not an armored SSH signature");
	CASE("empty body", ms_xstrdup("-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----\n"),
	     "not an armored SSH signature");
	CASE("text after END", ms_xasprintf("%sx\n", sig), "not an armored SSH signature");
	CASE("a PGP signature", ms_xstrdup("-----BEGIN PGP SIGNATURE-----\nAAAA\n-----END PGP SIGNATURE-----\n"),
	     "not an armored SSH signature");
	CASE("empty", ms_xstrdup(""), "not an armored SSH signature");
	for (size_t i = 0; i < n; i++) {
		verify_text(cases[i].text, MS_SIGN_NAMESPACE, MSG, &st);
		if (st.status != MS_SIG_MALFORMED || strcmp(st.problem, cases[i].problem) != 0)
			fail_msg("%s: status %d problem '%s'", cases[i].name, st.status, st.problem ? st.problem : "");
		free(cases[i].text);
	}
	/* a NUL byte, and more than MS_SIGNATURE_MAX bytes */
	ms_sign_verify(sig, len + 1, MS_SIGN_NAMESPACE, MSG, strlen(MSG), &st);
	assert_int_equal(st.status, MS_SIG_MALFORMED);
	bad = ms_xmalloc(MS_SIGNATURE_MAX + 2);
	memset(bad, 'A', MS_SIGNATURE_MAX + 1);
	bad[MS_SIGNATURE_MAX + 1] = '\0';
	verify_text(bad, MS_SIGN_NAMESPACE, MSG, &st);
	assert_int_equal(st.status, MS_SIG_MALFORMED);
	free(bad);
	/* a CRLF or unwrapped variant is not what we write, but any line length is read */
	{
		size_t blen;
		unsigned char *blob = dearmor(sig, &blen);
		char *flat = b64(blob, blen), *one = ms_xasprintf("-----BEGIN SSH SIGNATURE-----\n%s\n-----END SSH "
								   "SIGNATURE-----", flat);

		verify_text(one, MS_SIGN_NAMESPACE, MSG, &st);
		assert_int_equal(st.status, MS_SIG_VALID);
		free(one);
		free(flat);
		free(blob);
	}
	free(sig);
#undef CASE
}

/* --- public key lines and the trusted-keys file ------------------------------- */

static void test_public_line(void **state)
{
	struct fx *f = *state;
	unsigned char pk[MS_SIGN_PK_LEN], back[MS_SIGN_PK_LEN];
	char *line;
	const char *why;

	ms_sign_key_public(f->key, pk);
	line = ms_sign_public_line(pk, "a comment with spaces");
	assert_int_equal(ms_sign_parse_public_line(line, back, &why), 0);
	assert_memory_equal(pk, back, MS_SIGN_PK_LEN);
	free(line);
	assert_int_equal(ms_sign_parse_public_line("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC", back, &why), -1);
	assert_string_equal(why, "not an ssh-ed25519 public key (only ssh-ed25519 keys are accepted)");
	assert_int_equal(ms_sign_parse_public_line("ssh-ed25519", back, &why), -1);
	assert_string_equal(why, "malformed public key (bad base64)");
	assert_int_equal(ms_sign_parse_public_line("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", back, &why), -1);
	assert_string_equal(why, "malformed public key (bad base64)");
	/* a well-encoded blob of the wrong type or length */
	{
		struct ms_strbuf sb = MS_STRBUF_INIT;
		unsigned char z[33] = { 0 };
		char *enc, *l;

		put_str(&sb, "ssh-ed25519", 11);
		put_str(&sb, z, 33);
		enc = b64((unsigned char *)sb.buf, sb.len);
		l = ms_xasprintf("ssh-ed25519 %s x", enc);
		assert_int_equal(ms_sign_parse_public_line(l, back, &why), -1);
		assert_string_equal(why, "wrong ssh-ed25519 public key length");
		free(l);
		free(enc);
		ms_strbuf_reset(&sb);
		put_str(&sb, "ssh-dss", 7);
		put_str(&sb, z, 32);
		enc = b64((unsigned char *)sb.buf, sb.len);
		l = ms_xasprintf("ssh-ed25519 %s", enc);
		assert_int_equal(ms_sign_parse_public_line(l, back, &why), -1);
		assert_string_equal(why, "the key is not an ssh-ed25519 key");
		free(l);
		free(enc);
		ms_strbuf_release(&sb);
	}
}

struct tk_case {
	const char *name;
	const char *text; /* @K@: a valid key line (the fixture's key) */
	mode_t mode;
	const char *expect; /* stderr after "modosnap: error: '<file>'", "" = loads */
};

static const struct tk_case tk_cases[] = {
	{ "comments, blanks, CRLF", "# old server\n\n   \n@K@ old@mail0\r\n\t# indented comment\n", 0644, "" },
	{ "no final newline", "@K@", 0600, "" },
	{ "an rsa key", "# c\n@K@\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC x\n", 0644,
	  ":3: not an ssh-ed25519 public key (only ssh-ed25519 keys are accepted)" },
	{ "options before the key", "from=\"10.0.0.1\" @K@\n", 0644,
	  ":1: not an ssh-ed25519 public key (only ssh-ed25519 keys are accepted)" },
	{ "bad base64", "ssh-ed25519 AAAA!!!!\n", 0644, ":1: malformed public key (bad base64)" },
	{ "key type alone", "\nssh-ed25519\n", 0644, ":2: malformed public key (bad base64)" },
	{ "group-writable", "@K@\n", 0664, "" /* filled in by the test */ },
};

static void test_trusted_keys(void **state)
{
	struct fx *f = *state;
	unsigned char pk[MS_SIGN_PK_LEN], other[MS_SIGN_PK_LEN] = { 1 };
	char *keyline, *path = path_in(f, "trusted_keys");

	ms_sign_key_public(f->key, pk);
	keyline = ms_sign_public_line(pk, NULL);
	for (size_t i = 0; i < sizeof(tk_cases) / sizeof(tk_cases[0]); i++) {
		const struct tk_case *c = &tk_cases[i];
		struct ms_strbuf text = MS_STRBUF_INIT;
		struct ms_sign_keyring *kr;
		char *err, *expect;

		for (const char *t = c->text; *t; t++) {
			if (strncmp(t, "@K@", 3) == 0) {
				ms_strbuf_addstr(&text, keyline);
				t += 2;
			} else {
				ms_strbuf_addch(&text, *t);
			}
		}
		test_write_file(path, ms_strbuf_str(&text), text.len, c->mode);
		ms_strbuf_release(&text);
		if (c->mode & 022)
			expect = ms_xasprintf("modosnap: error: trusted keys '%s' is writable by other users (mode %04o); "
					      "chmod go-w '%s'\n", path, (unsigned)c->mode, path);
		else
			expect = *c->expect ? ms_xasprintf("modosnap: error: '%s'%s\n", path, c->expect) : ms_xstrdup("");
		capture_start();
		kr = ms_sign_keyring_load(path);
		err = capture_end();
		if (strcmp(err, expect) != 0)
			fail_msg("%s: stderr '%s', expected '%s'", c->name, err, expect);
		if (*expect) {
			assert_null(kr);
		} else {
			assert_non_null(kr);
			assert_true(ms_sign_keyring_has(kr, pk));
			assert_false(ms_sign_keyring_has(kr, other));
		}
		ms_sign_keyring_free(kr);
		free(err);
		free(expect);
	}
	/* a NUL byte names its line; a missing file is an empty keyring */
	{
		int fd = open(path, O_WRONLY | O_TRUNC);
		char *err, *expect = ms_xasprintf("modosnap: error: '%s':2: the line contains a NUL byte\n", path);

		assert_int_equal(write(fd, "# a\nssh-\0ed25519\n", 17), 17);
		assert_int_equal(fchmod(fd, 0644), 0);
		close(fd);
		capture_start();
		assert_null(ms_sign_keyring_load(path));
		err = capture_end();
		assert_string_equal(err, expect);
		free(err);
		free(expect);
	}
	assert_int_equal(unlink(path), 0);
	{
		struct ms_sign_keyring *kr = ms_sign_keyring_load(path);

		assert_non_null(kr);
		assert_false(ms_sign_keyring_has(kr, pk));
		ms_sign_keyring_free(kr);
	}
	free(keyline);
	free(path);
}

/* --- the trust decision ------------------------------------------------------------ */

static void expect_trust(const struct ms_verify_result *vr, const char *key_path, const char *trusted,
			 bool allow, int rc, const char *err_expect)
{
	char *err;

	capture_start();
	assert_int_equal(ms_sign_check_trust(vr, key_path, trusted, allow, "A.tar.zst"), rc);
	err = capture_end();
	assert_string_equal(err, err_expect);
	free(err);
}

static void test_check_trust(void **state)
{
	struct fx *f = *state;
	struct ms_verify_result vr;
	struct ms_sign_key *other;
	char *other_path = path_in(f, "other/signing.key"), *trusted = path_in(f, "trusted_keys"), *exp, *line;
	char *nokey = path_in(f, "nokey/signing.key");
	size_t len;
	char *sig;

	memset(&vr, 0, sizeof(vr));
	expect_trust(&vr, f->key_path, trusted, false, -1,
		     "modosnap: error: 'A.tar.zst': snapshot is not signed (use --allow-unsigned to accept it)\n");
	expect_trust(&vr, f->key_path, trusted, true, 0,
		     "modosnap: warning: 'A.tar.zst': snapshot is not signed; accepted because of --allow-unsigned\n");

	/* signed by our own key: trusted through signing.key.pub, silently */
	sig = ms_sign_message(f->key, MS_SIGN_NAMESPACE, MSG, strlen(MSG), &len);
	ms_sign_verify(sig, len, MS_SIGN_NAMESPACE, MSG, strlen(MSG), &vr.signature);
	free(sig);
	expect_trust(&vr, f->key_path, trusted, false, 0, "");
	/* ... but not on a machine with another key and no trusted_keys */
	exp = ms_xasprintf("modosnap: error: 'A.tar.zst': signature by key %s, which is not trusted (add it to '%s' or use "
			   "--allow-unsigned)\n", vr.signature.fingerprint, trusted);
	expect_trust(&vr, nokey, trusted, false, -1, exp);
	free(exp);
	exp = ms_xasprintf("modosnap: warning: 'A.tar.zst': signature by key %s, which is not trusted; accepted because "
			   "of --allow-unsigned\n", vr.signature.fingerprint);
	expect_trust(&vr, nokey, trusted, true, 0, exp);
	free(exp);

	/* another server's key, added to trusted_keys */
	capture_start();
	other = ms_sign_key_load_or_create(other_path);
	free(capture_end());
	assert_non_null(other);
	sig = ms_sign_message(other, MS_SIGN_NAMESPACE, MSG, strlen(MSG), &len);
	ms_sign_verify(sig, len, MS_SIGN_NAMESPACE, MSG, strlen(MSG), &vr.signature);
	free(sig);
	assert_int_equal(vr.signature.status, MS_SIG_VALID);
	exp = ms_xasprintf("modosnap: error: 'A.tar.zst': signature by key %s, which is not trusted (add it to '%s' or use "
			   "--allow-unsigned)\n", vr.signature.fingerprint, trusted);
	expect_trust(&vr, f->key_path, trusted, false, -1, exp);
	free(exp);
	{
		unsigned char pk[MS_SIGN_PK_LEN];
		char *text;

		ms_sign_key_public(other, pk);
		line = ms_sign_public_line(pk, "old@mail0");
		text = ms_xasprintf("# the old server\n%s\n", line);
		test_write_file(trusted, text, strlen(text), 0644);
		free(text);
		free(line);
	}
	expect_trust(&vr, f->key_path, trusted, false, 0, "");
	/* a broken trusted_keys is an error, even with --allow-unsigned */
	test_write_file(trusted, "ssh-rsa AAAA\n", 13, 0644);
	exp = ms_xasprintf("modosnap: error: '%s':1: not an ssh-ed25519 public key (only ssh-ed25519 keys are accepted)\n",
			   trusted);
	expect_trust(&vr, f->key_path, trusted, true, -1, exp);
	free(exp);

	/* bad and malformed signatures: refused even with --allow-unsigned */
	vr.signature.status = MS_SIG_BAD;
	vr.signature.problem = "it does not match MANIFEST.json";
	expect_trust(&vr, f->key_path, trusted, true, -1,
		     "modosnap: error: 'A.tar.zst': bad signature (it does not match MANIFEST.json)\n");
	vr.signature.status = MS_SIG_MALFORMED;
	vr.signature.problem = "not an armored SSH signature";
	expect_trust(&vr, f->key_path, trusted, false, -1,
		     "modosnap: error: 'A.tar.zst': bad signature (not an armored SSH signature)\n");
	ms_sign_key_free(other);
	free(nokey);
	free(trusted);
	free(other_path);
}

/* --- archives: the signature member's place ------------------------------------------ */

enum sig_layout {
	SIG_AFTER,          /* header, file, manifest, signature */
	SIG_NONE,           /* version 1 layout: no signature */
	SIG_THEN_MEMBER,    /* a data member after the signature */
	SIG_TWICE,          /* two signature members */
	SIG_DIR,            /* the signature member is a directory */
	SIG_HUGE,           /* over MS_SIGNATURE_MAX */
	SIG_BEFORE_MANIFEST, /* the signature member before the manifest */
	SIG_GARBAGE,        /* a regular file that is no signature */
};

static void write_member(struct ms_archive_writer *w, enum ms_entry_type type, const char *name, const char *data,
			 size_t len, struct ms_manifest *mf)
{
	struct ms_entry e;
	char sha[MS_HASH_HEX_MAX];

	memset(&e, 0, sizeof(e));
	e.path = (char *)name;
	e.type = type;
	e.size = type == MS_ENTRY_FILE ? len : 0;
	e.mode = type == MS_ENTRY_DIR ? 0755 : 0644;
	e.uid = (uint32_t)getuid();
	e.gid = (uint32_t)getgid();
	e.mtime_sec = 1796014403;
	assert_int_equal(ms_archive_write_buffer(w, &e, data, e.size, sha), 0);
	if (mf)
		ms_manifest_add(mf, &e, sha, 0);
}

/* An archive written with the project's writer, signed with key. */
static char *make_archive(const struct fx *f, const char *name, enum sig_layout layout)
{
	char *path = path_in(f, name), *text, *sig = NULL;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	struct ms_archive_writer *w;
	struct ms_manifest mf;
	struct ms_header h;
	size_t slen = 0;

	assert_true(fd >= 0);
	w = ms_archive_writer_open(fd, path, NULL);
	assert_non_null(w);
	memset(&h, 0, sizeof(h));
	memset(&mf, 0, sizeof(mf));
	h.format_version = mf.format_version = layout == SIG_NONE ? 1 : MS_FORMAT_VERSION;
	ms_header_new_id(1796014403, &h.snapshot_id, &h.created);
	h.host = ms_xstrdup("mail1.example.org");
	h.tool_version = ms_xstrdup("0.3.0");
	h.instance = ms_xstrdup("/srv/modoboa/instance");
	ms_strv_push(&h.components, "instance");
	mf.snapshot_id = ms_xstrdup(h.snapshot_id);
	text = ms_header_encode(&h);
	write_member(w, MS_ENTRY_FILE, MS_HEADER_NAME, text, strlen(text), &mf);
	free(text);
	write_member(w, MS_ENTRY_DIR, "files/instance", "", 0, &mf);
	write_member(w, MS_ENTRY_FILE, "files/instance/settings.py", "SECRET_KEY = 'x'\n", 17, &mf);
	text = ms_manifest_encode(&mf);
	sig = ms_sign_message(f->key, MS_SIGN_NAMESPACE, text, strlen(text), &slen);
	if (layout == SIG_BEFORE_MANIFEST)
		write_member(w, MS_ENTRY_FILE, MS_SIGNATURE_NAME, sig, slen, NULL);
	write_member(w, MS_ENTRY_FILE, MS_MANIFEST_NAME, text, strlen(text), NULL);
	switch (layout) {
	case SIG_AFTER: write_member(w, MS_ENTRY_FILE, MS_SIGNATURE_NAME, sig, slen, NULL); break;
	case SIG_THEN_MEMBER:
		write_member(w, MS_ENTRY_FILE, MS_SIGNATURE_NAME, sig, slen, NULL);
		write_member(w, MS_ENTRY_FILE, "files/instance/evil.py", "import os\n", 10, NULL);
		break;
	case SIG_TWICE:
		write_member(w, MS_ENTRY_FILE, MS_SIGNATURE_NAME, sig, slen, NULL);
		write_member(w, MS_ENTRY_FILE, MS_SIGNATURE_NAME, sig, slen, NULL);
		break;
	case SIG_DIR: write_member(w, MS_ENTRY_DIR, MS_SIGNATURE_NAME, "", 0, NULL); break;
	case SIG_HUGE: {
		char *big = ms_xmalloc(MS_SIGNATURE_MAX + 1);

		memset(big, 'A', MS_SIGNATURE_MAX + 1);
		write_member(w, MS_ENTRY_FILE, MS_SIGNATURE_NAME, big, MS_SIGNATURE_MAX + 1, NULL);
		free(big);
		break;
	}
	case SIG_GARBAGE: write_member(w, MS_ENTRY_FILE, MS_SIGNATURE_NAME, "not a signature\n", 16, NULL); break;
	case SIG_NONE:
	case SIG_BEFORE_MANIFEST: break;
	}
	assert_int_equal(ms_archive_writer_close(w, NULL), 0);
	ms_archive_writer_free(w);
	assert_int_equal(close(fd), 0);
	free(text);
	free(sig);
	ms_header_clear(&h);
	ms_manifest_clear(&mf);
	return path;
}

static bool want_instance(const char *path, void *ctx)
{
	(void)ctx;
	return !strncmp(path, "files/instance", 14);
}

/* ms_verify_archive_keeping: the wanted file members' bytes, within the
 * budget (a member over it is marked, not kept, and verification still
 * reads and proves it); directories are never kept. */
static void test_verify_keeping(void **state)
{
	struct fx *f = *state;
	char *a = make_archive(f, "kept.tar.zst", SIG_AFTER);
	struct ms_verify_keep keep = { want_instance, NULL, 1024 };
	struct ms_verify_result vr;
	uint64_t hashed;

	assert_int_equal(ms_verify_archive_keeping(a, &vr, &keep), MS_VERIFY_OK);
	hashed = vr.data_bytes;
	assert_int_equal(vr.n_kept, 1);
	assert_string_equal(vr.kept[0].path, "files/instance/settings.py");
	assert_int_equal(vr.kept[0].len, 17);
	assert_memory_equal(vr.kept[0].data, "SECRET_KEY = 'x'\n", 17);
	ms_verify_result_clear(&vr);
	assert_null(vr.kept);

	keep.budget = 16; /* one byte short */
	assert_int_equal(ms_verify_archive_keeping(a, &vr, &keep), MS_VERIFY_OK);
	assert_int_equal(vr.n_kept, 1);
	assert_null(vr.kept[0].data);
	assert_int_equal(vr.data_bytes, hashed); /* read and hashed all the same */
	ms_verify_result_clear(&vr);

	assert_int_equal(ms_verify_archive(a, &vr), MS_VERIFY_OK); /* keeps nothing */
	assert_int_equal(vr.n_kept, 0);
	ms_verify_result_clear(&vr);
	free(a);
}

static void test_archive_signed(void **state)
{
	struct fx *f = *state;
	char *a = make_archive(f, "signed.tar.zst", SIG_AFTER), *b = make_archive(f, "v1.tar.zst", SIG_NONE);
	char *c = make_archive(f, "garbage.tar.zst", SIG_GARBAGE);
	struct ms_verify_result vr;
	struct ms_sig_state st;
	unsigned char pk[MS_SIGN_PK_LEN];

	ms_sign_key_public(f->key, pk);
	assert_int_equal(ms_verify_archive(a, &vr), MS_VERIFY_OK);
	assert_int_equal(vr.signature.status, MS_SIG_VALID);
	assert_memory_equal(vr.signature.pubkey, pk, MS_SIGN_PK_LEN);
	assert_int_equal(vr.entries, 5);
	expect_trust(&vr, f->key_path, "/nonexistent/trusted_keys", false, 0, "");
	ms_verify_result_clear(&vr);
	assert_int_equal(ms_read_signature(a, &st), 0);
	assert_int_equal(st.status, MS_SIG_VALID);

	/* a truncated archive: ms_read_signature fails, after saying why */
	{
		char *cut = path_in(f, "cut.tar.zst"), *cmd = ms_xasprintf("head -c 60 '%s' >'%s'", a, cut), *err;

		assert_int_equal(system(cmd), 0);
		capture_start();
		assert_int_equal(ms_read_signature(cut, &st), -1);
		err = capture_end();
		assert_true(strstr(err, "truncated archive") != NULL);
		free(err);
		free(cmd);
		free(cut);
	}

	/* a version-1 archive still reads: unsigned */
	assert_int_equal(ms_verify_archive(b, &vr), MS_VERIFY_OK);
	assert_int_equal(vr.signature.status, MS_SIG_NONE);
	assert_int_equal(vr.header.format_version, 1);
	ms_verify_result_clear(&vr);
	assert_int_equal(ms_read_signature(b, &st), 0);
	assert_int_equal(st.status, MS_SIG_NONE);

	/* a signature member that is no signature: structurally fine, refused by the trust check */
	assert_int_equal(ms_verify_archive(c, &vr), MS_VERIFY_OK);
	assert_int_equal(vr.signature.status, MS_SIG_MALFORMED);
	ms_verify_result_clear(&vr);
	free(a);
	free(b);
	free(c);
}

struct layout_case {
	const char *name;
	enum sig_layout layout;
	const char *expect; /* after "modosnap: error: '<archive>': " */
};

static const struct layout_case layout_cases[] = {
	{ "a member after the signature", SIG_THEN_MEMBER,
	  "entry 'files/instance/evil.py': found after MANIFEST.json.sig" },
	{ "two signatures", SIG_TWICE, "entry 'MANIFEST.json.sig': found after MANIFEST.json.sig" },
	{ "signature is a directory", SIG_DIR, "entry 'MANIFEST.json.sig': not a regular file" },
	{ "signature too large", SIG_HUGE, "entry 'MANIFEST.json.sig': too large for a signature" },
	{ "signature before the manifest", SIG_BEFORE_MANIFEST,
	  "entry 'MANIFEST.json.sig': not listed in the manifest" },
};

static void test_archive_layout(void **state)
{
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(layout_cases) / sizeof(layout_cases[0]); i++) {
		const struct layout_case *c = &layout_cases[i];
		char *a = make_archive(f, "bad.tar.zst", c->layout), *err, *expect;
		struct ms_verify_result vr;
		enum ms_verify_status st;

		expect = ms_xasprintf("modosnap: error: '%s': %s\n", a, c->expect);
		capture_start();
		st = ms_verify_archive(a, &vr);
		err = capture_end();
		if (st != MS_VERIFY_BAD || strncmp(err, expect, strlen(expect)) != 0)
			fail_msg("%s: status %d, stderr:\n%sexpected:\n%s", c->name, st, err, expect);
		ms_verify_result_clear(&vr);
		free(err);
		free(expect);
		free(a);
	}
}

/* --- main --------------------------------------------------------------------- */

int main(void)
{
	static struct CMUnitTest tests[64];
	static char names[32][96];
	size_t n = 0;
	static const struct { const char *name; CMUnitTestFunction fn; } plain[] = {
		{ "key created 0600 in a 0700 directory with its .pub", test_key_created },
		{ "key refusals with exact messages", test_key_refusals },
		{ "key directory created, .pub rewritten", test_key_missing_pub },
		{ "sign and verify", test_round_trip },
		{ "tampered message", test_tampered_message },
		{ "tampered signature", test_tampered_signature },
		{ "wrong namespace", test_wrong_namespace },
		{ "zero signature", test_zero_signature },
		{ "malformed armor", test_malformed_armor },
		{ "public key lines", test_public_line },
		{ "trusted keys file", test_trusted_keys },
		{ "trust decision", test_check_trust },
		{ "signed, unsigned and garbage signature archives", test_archive_signed },
		{ "verification keeping members", test_verify_keeping },
		{ "signature member misplaced", test_archive_layout },
	};

	ms_log_set_level(MS_LOG_INFO);
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		tests[n++] = (struct CMUnitTest){ plain[i].name, plain[i].fn, setup, teardown, NULL };
	for (size_t i = 0; i < sizeof(mal_cases) / sizeof(mal_cases[0]); i++) {
		snprintf(names[i], sizeof(names[i]), "malformed: %s", mal_cases[i].name);
		tests[n++] = (struct CMUnitTest){ names[i], test_malformed_blob, NULL, NULL, (void *)&mal_cases[i] };
	}
	return _cmocka_run_group_tests("sign", tests, n, NULL, NULL);
}
