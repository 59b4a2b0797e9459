/*
 * Snapshot signatures in OpenSSH's SSHSIG format (see sign.h and
 * FORMAT.md §10). Everything read from an archive or a key file is
 * parsed with explicit bounds: a length field is checked against what is
 * left before it is used. Private key bytes only ever live in libcrypto's
 * EVP_PKEY and in buffers cleansed before they are freed.
 */
#include "formats/sign.h"
#include "formats/manifest.h"
#include "base/hash.h"
#include "base/strbuf.h"
#include "base/text.h"
#include "base/util.h"
#include "formats/verify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#define SSHSIG_MAGIC "SSHSIG"
#define SSHSIG_MAGIC_LEN 6
#define SSHSIG_VERSION 1
#define KEY_TYPE "ssh-ed25519"
#define HASH_ALG "sha512"
#define ARMOR_BEGIN "-----BEGIN SSH SIGNATURE-----\n"
#define ARMOR_END "-----END SSH SIGNATURE-----"
#define ARMOR_WRAP 70
#define SIG_LEN 64
#define KEY_FILE_MAX 16384
#define TRUSTED_FILE_MAX (1024 * 1024)
#define PUB_SUFFIX ".pub"

struct ms_sign_key {
	EVP_PKEY *pkey;
	unsigned char pk[MS_SIGN_PK_LEN];
};

struct ms_sign_keyring {
	unsigned char (*keys)[MS_SIGN_PK_LEN];
	size_t n;
};


/* base64 (RFC 4648): base/text.h. An empty text is malformed here: every
 * key and signature blob has content. */
static unsigned char *b64_decode(const char *s, size_t len, size_t *out_len)
{
	unsigned char *out;

	if (len == 0 || ms_b64_decode(s, len, &out, out_len) < 0)
		return NULL;
	return out;
}

/* --- SSH wire encoding -------------------------------------------------------- */

static void put_u32(struct ms_strbuf *sb, uint32_t v)
{
	unsigned char b[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
			       (unsigned char)v };

	ms_strbuf_add(sb, b, 4);
}

static void put_string(struct ms_strbuf *sb, const void *data, size_t len)
{
	put_u32(sb, (uint32_t)len);
	ms_strbuf_add(sb, data, len);
}

static void put_cstring(struct ms_strbuf *sb, const char *s)
{
	put_string(sb, s, strlen(s));
}

/* A read cursor over untrusted bytes. */
struct cursor {
	const unsigned char *p;
	size_t left;
};

static bool get_u32(struct cursor *c, uint32_t *v)
{
	if (c->left < 4)
		return false;
	*v = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 | (uint32_t)c->p[2] << 8 | c->p[3];
	c->p += 4;
	c->left -= 4;
	return true;
}

/* A string's bytes, borrowed from the cursor; false when its length runs
 * past the end. */
static bool get_string(struct cursor *c, const unsigned char **data, size_t *len)
{
	uint32_t n;

	if (!get_u32(c, &n) || n > c->left)
		return false;
	*data = c->p;
	*len = n;
	c->p += n;
	c->left -= n;
	return true;
}

static bool str_is(const unsigned char *data, size_t len, const char *s)
{
	return len == strlen(s) && memcmp(data, s, len) == 0;
}

/* The public key blob: string "ssh-ed25519", string pk. */
static void put_key_blob(struct ms_strbuf *sb, const unsigned char pk[MS_SIGN_PK_LEN])
{
	put_cstring(sb, KEY_TYPE);
	put_string(sb, pk, MS_SIGN_PK_LEN);
}

/* Parses a key blob; NULL and pk set, or the reason. */
static const char *parse_key_blob(const unsigned char *blob, size_t len, unsigned char pk[MS_SIGN_PK_LEN])
{
	struct cursor c = { blob, len };
	const unsigned char *type, *key;
	size_t tlen, klen;

	if (!get_string(&c, &type, &tlen))
		return "truncated public key";
	if (!str_is(type, tlen, KEY_TYPE))
		return "the key is not an ssh-ed25519 key";
	if (!get_string(&c, &key, &klen))
		return "truncated public key";
	if (klen != MS_SIGN_PK_LEN)
		return "wrong ssh-ed25519 public key length";
	if (c.left)
		return "trailing data after the public key";
	memcpy(pk, key, MS_SIGN_PK_LEN);
	return NULL;
}

/* --- public keys ------------------------------------------------------------- */

void ms_sign_fingerprint(const unsigned char pk[MS_SIGN_PK_LEN], char fp[MS_SIGN_FP_MAX])
{
	struct ms_strbuf blob = MS_STRBUF_INIT, out = MS_STRBUF_INIT;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	put_key_blob(&blob, pk);
	if (EVP_Digest(blob.buf, blob.len, md, &mdlen, EVP_sha256(), NULL) != 1)
		MS_BUG("SHA-256 failed");
	ms_strbuf_addstr(&out, "SHA256:");
	ms_b64_add(&out, md, mdlen, false);
	snprintf(fp, MS_SIGN_FP_MAX, "%s", ms_strbuf_str(&out));
	ms_strbuf_release(&blob);
	ms_strbuf_release(&out);
}

char *ms_sign_public_line(const unsigned char pk[MS_SIGN_PK_LEN], const char *comment)
{
	struct ms_strbuf blob = MS_STRBUF_INIT, out = MS_STRBUF_INIT;

	put_key_blob(&blob, pk);
	ms_strbuf_addstr(&out, KEY_TYPE " ");
	ms_b64_add(&out, (const unsigned char *)blob.buf, blob.len, true);
	if (comment && *comment)
		ms_strbuf_addf(&out, " %s", comment);
	ms_strbuf_release(&blob);
	return ms_strbuf_detach(&out);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

int ms_sign_parse_public_line(const char *line, unsigned char pk[MS_SIGN_PK_LEN], const char **why)
{
	const char *s = line, *b64;
	unsigned char *blob;
	size_t len, blen;

	while (is_space(*s))
		s++;
	len = strcspn(s, " \t");
	if (len != strlen(KEY_TYPE) || strncmp(s, KEY_TYPE, len) != 0) {
		*why = "not an ssh-ed25519 public key (only ssh-ed25519 keys are accepted)";
		return -1;
	}
	s += len;
	while (is_space(*s))
		s++;
	b64 = s;
	len = strcspn(s, " \t");
	blob = b64_decode(b64, len, &blen);
	if (!blob) {
		*why = "malformed public key (bad base64)";
		return -1;
	}
	*why = parse_key_blob(blob, blen, pk);
	free(blob);
	return *why ? -1 : 0;
}

/* --- signing ------------------------------------------------------------------ */

/* The bytes an SSHSIG signature covers (PROTOCOL.sshsig). */
static int signed_data(struct ms_strbuf *sb, const unsigned char *ns, size_t ns_len, const unsigned char *reserved,
		       size_t reserved_len, const char *hash_alg, const void *msg, size_t msg_len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	const EVP_MD *alg = strcmp(hash_alg, "sha512") == 0 ? EVP_sha512() : EVP_sha256();

	if (EVP_Digest(msg, msg_len, md, &mdlen, alg, NULL) != 1)
		return -1;
	ms_strbuf_add(sb, SSHSIG_MAGIC, SSHSIG_MAGIC_LEN);
	put_string(sb, ns, ns_len);
	put_string(sb, reserved, reserved_len);
	put_cstring(sb, hash_alg);
	put_string(sb, md, mdlen);
	return 0;
}

static void armor(struct ms_strbuf *out, const struct ms_strbuf *blob)
{
	struct ms_strbuf b64 = MS_STRBUF_INIT;

	ms_b64_add(&b64, (const unsigned char *)blob->buf, blob->len, true);
	ms_strbuf_addstr(out, ARMOR_BEGIN);
	for (size_t i = 0; i < b64.len; i += ARMOR_WRAP) {
		size_t n = b64.len - i < ARMOR_WRAP ? b64.len - i : ARMOR_WRAP;

		ms_strbuf_add(out, b64.buf + i, n);
		ms_strbuf_addch(out, '\n');
	}
	ms_strbuf_addstr(out, ARMOR_END "\n");
	ms_strbuf_release(&b64);
}

char *ms_sign_message(const struct ms_sign_key *k, const char *ns, const void *msg, size_t msg_len, size_t *len)
{
	struct ms_strbuf data = MS_STRBUF_INIT, blob = MS_STRBUF_INIT, sigblob = MS_STRBUF_INIT;
	struct ms_strbuf out = MS_STRBUF_INIT;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sig[SIG_LEN];
	size_t siglen = sizeof(sig);
	char *ret = NULL;

	if (!ctx || signed_data(&data, (const unsigned char *)ns, strlen(ns), NULL, 0, HASH_ALG, msg, msg_len) < 0 ||
	    EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) != 1 ||
	    EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)data.buf, data.len) != 1 || siglen != SIG_LEN) {
		ms_log_error("unable to sign the manifest: %s", ms_crypto_error());
		goto out;
	}
	ms_strbuf_add(&blob, SSHSIG_MAGIC, SSHSIG_MAGIC_LEN);
	put_u32(&blob, SSHSIG_VERSION);
	{
		struct ms_strbuf kb = MS_STRBUF_INIT;

		put_key_blob(&kb, k->pk);
		put_string(&blob, kb.buf, kb.len);
		ms_strbuf_release(&kb);
	}
	put_cstring(&blob, ns);
	put_cstring(&blob, "");
	put_cstring(&blob, HASH_ALG);
	put_cstring(&sigblob, KEY_TYPE);
	put_string(&sigblob, sig, SIG_LEN);
	put_string(&blob, sigblob.buf, sigblob.len);
	armor(&out, &blob);
	*len = out.len;
	ret = ms_strbuf_detach(&out);
out:
	EVP_MD_CTX_free(ctx);
	ms_strbuf_release(&data);
	ms_strbuf_release(&blob);
	ms_strbuf_release(&sigblob);
	return ret;
}

/* --- verification --------------------------------------------------------------- */

/* The base64 body between the armor lines, without line breaks; NULL when
 * the armor is malformed. Accepts any line length (ssh-keygen writes 70),
 * and one final newline after the end line. */
static char *dearmor(const char *text, size_t len, size_t *b64_len)
{
	const size_t blen = strlen(ARMOR_BEGIN), elen = strlen(ARMOR_END);
	struct ms_strbuf sb = MS_STRBUF_INIT;
	size_t end = len, i;

	if (len && text[len - 1] == '\n')
		end--;
	if (len < blen + elen || memcmp(text, ARMOR_BEGIN, blen) != 0 || end < blen + elen ||
	    memcmp(text + end - elen, ARMOR_END, elen) != 0)
		return NULL;
	end -= elen;
	if (end == blen || text[end - 1] != '\n')
		return NULL;
	for (i = blen; i < end; i++) {
		char c = text[i];

		if (c == '\n') {
			if (text[i - 1] == '\n') /* no empty lines */
				break;
			continue;
		}
		if (ms_b64_value(c) < 0 && c != '=')
			break;
		ms_strbuf_addch(&sb, c);
	}
	if (i != end || sb.len == 0) {
		ms_strbuf_release(&sb);
		return NULL;
	}
	*b64_len = sb.len;
	return ms_strbuf_detach(&sb);
}

static void set_problem(struct ms_sig_state *st, enum ms_sig_status status, const char *problem)
{
	st->status = status;
	st->problem = problem;
}

/* Checks the Ed25519 signature blob over data. */
static const char *check_ed25519(const unsigned char pk[MS_SIGN_PK_LEN], const unsigned char *sigblob,
				 size_t sblen, const struct ms_strbuf *data)
{
	struct cursor c = { sigblob, sblen };
	const unsigned char *type, *sig;
	size_t tlen, slen;
	EVP_PKEY *pkey;
	EVP_MD_CTX *ctx;
	int ok;

	if (!get_string(&c, &type, &tlen) || !get_string(&c, &sig, &slen))
		return "truncated signature blob";
	if (!str_is(type, tlen, KEY_TYPE))
		return "the signature is not an ssh-ed25519 signature";
	if (slen != SIG_LEN)
		return "wrong ssh-ed25519 signature length";
	if (c.left)
		return "trailing data after the signature";
	pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, MS_SIGN_PK_LEN);
	ctx = EVP_MD_CTX_new();
	ok = pkey && ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
	     EVP_DigestVerify(ctx, sig, slen, (const unsigned char *)data->buf, data->len) == 1;
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return ok ? NULL : "";
}

/* Parses and checks the decoded SSHSIG blob. */
static void verify_blob(const unsigned char *blob, size_t len, const char *ns, const void *msg, size_t msg_len,
			struct ms_sig_state *st)
{
	struct cursor c = { blob, len };
	const unsigned char *keyblob, *nsp, *reserved, *alg, *sigblob;
	size_t kblen, nslen, rlen, alen, sblen;
	struct ms_strbuf data = MS_STRBUF_INIT;
	uint32_t version;
	const char *why;

	if (len < SSHSIG_MAGIC_LEN || memcmp(blob, SSHSIG_MAGIC, SSHSIG_MAGIC_LEN) != 0)
		return set_problem(st, MS_SIG_MALFORMED, "not an SSH signature: wrong magic");
	c.p += SSHSIG_MAGIC_LEN;
	c.left -= SSHSIG_MAGIC_LEN;
	if (!get_u32(&c, &version))
		return set_problem(st, MS_SIG_MALFORMED, "truncated signature");
	if (version != SSHSIG_VERSION)
		return set_problem(st, MS_SIG_MALFORMED, "unsupported SSHSIG version");
	if (!get_string(&c, &keyblob, &kblen) || !get_string(&c, &nsp, &nslen) ||
	    !get_string(&c, &reserved, &rlen) || !get_string(&c, &alg, &alen) ||
	    !get_string(&c, &sigblob, &sblen))
		return set_problem(st, MS_SIG_MALFORMED, "truncated signature");
	if (c.left)
		return set_problem(st, MS_SIG_MALFORMED, "trailing data after the signature");
	if ((why = parse_key_blob(keyblob, kblen, st->pubkey)) != NULL)
		return set_problem(st, MS_SIG_MALFORMED, why);
	ms_sign_fingerprint(st->pubkey, st->fingerprint);
	if (!str_is(nsp, nslen, ns))
		return set_problem(st, MS_SIG_MALFORMED, "wrong namespace (not a modosnap signature)");
	if (!str_is(alg, alen, "sha512") && !str_is(alg, alen, "sha256"))
		return set_problem(st, MS_SIG_MALFORMED, "unsupported hash algorithm");
	if (signed_data(&data, nsp, nslen, reserved, rlen, str_is(alg, alen, "sha512") ? "sha512" : "sha256", msg,
			msg_len) < 0) {
		ms_strbuf_release(&data);
		return set_problem(st, MS_SIG_MALFORMED, "unable to hash the manifest");
	}
	why = check_ed25519(st->pubkey, sigblob, sblen, &data);
	ms_strbuf_release(&data);
	if (why && *why)
		return set_problem(st, MS_SIG_MALFORMED, why);
	if (why)
		return set_problem(st, MS_SIG_BAD, "it does not match " MS_MANIFEST_NAME);
	set_problem(st, MS_SIG_VALID, NULL);
}

void ms_sign_verify(const void *sig, size_t sig_len, const char *ns, const void *msg, size_t msg_len,
		    struct ms_sig_state *st)
{
	unsigned char *blob;
	size_t b64_len = 0, blen = 0;
	char *b64;

	memset(st, 0, sizeof(*st));
	if (sig_len > MS_SIGNATURE_MAX || memchr(sig, '\0', sig_len))
		return set_problem(st, MS_SIG_MALFORMED, "not an armored SSH signature");
	b64 = dearmor(sig, sig_len, &b64_len);
	if (!b64)
		return set_problem(st, MS_SIG_MALFORMED, "not an armored SSH signature");
	blob = b64_decode(b64, b64_len, &blen);
	free(b64);
	if (!blob)
		return set_problem(st, MS_SIG_MALFORMED, "bad base64 in the signature");
	verify_blob(blob, blen, ns, msg, msg_len, st);
	free(blob);
}

/* --- key files ------------------------------------------------------------------ */

/* Never prompts: an encrypted key is refused instead. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads the PEM key from an open descriptor, after the mode checks. */
static struct ms_sign_key *read_key_fd(int fd, const char *path)
{
	char *buf = ms_xmalloc(KEY_FILE_MAX + 1);
	struct ms_sign_key *k = NULL;
	EVP_PKEY *pkey = NULL;
	size_t len = 0, pklen = MS_SIGN_PK_LEN;
	struct stat st;
	BIO *bio = NULL;

	if (fstat(fd, &st) < 0) {
		ms_log_error("unable to stat signing key '%s': %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ms_log_error("signing key '%s' is not a regular file", path);
		goto out;
	}
	if (st.st_mode & 077) {
		ms_log_error("signing key '%s' is accessible by other users (mode %04o); chmod 600 '%s'", path,
			     (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	if (ms_read_fd(fd, buf, KEY_FILE_MAX + 1, &len) < 0) {
		ms_log_error("unable to read signing key '%s': %s", path, strerror(errno));
		goto out;
	}
	if (len > KEY_FILE_MAX) {
		ms_log_error("signing key '%s' is too large to be a key", path);
		goto out;
	}
	bio = BIO_new_mem_buf(buf, (int)len);
	pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
	if (!pkey) {
		ERR_clear_error();
		ms_log_error("signing key '%s' is not an unencrypted PEM private key", path);
		goto out;
	}
	if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_ED25519) {
		ms_log_error("signing key '%s' is not an Ed25519 key", path);
		goto out;
	}
	k = ms_xcalloc(1, sizeof(*k));
	if (EVP_PKEY_get_raw_public_key(pkey, k->pk, &pklen) != 1 || pklen != MS_SIGN_PK_LEN) {
		ms_log_error("signing key '%s': %s", path, ms_crypto_error());
		free(k);
		k = NULL;
		goto out;
	}
	k->pkey = pkey;
	pkey = NULL;
out:
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	OPENSSL_cleanse(buf, KEY_FILE_MAX + 1);
	free(buf);
	return k;
}

/* Opens and reads the key; errno-style result in *err for ENOENT. */
static struct ms_sign_key *open_key(const char *path, bool *missing)
{
	struct ms_sign_key *k;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);

	*missing = false;
	if (fd < 0) {
		if (errno == ENOENT)
			*missing = true;
		else if (errno == ELOOP)
			ms_log_error("signing key '%s' is a symbolic link", path);
		else
			ms_log_error("unable to open signing key '%s': %s", path, strerror(errno));
		return NULL;
	}
	k = read_key_fd(fd, path);
	close(fd);
	return k;
}

struct ms_sign_key *ms_sign_key_load(const char *path)
{
	bool missing;
	struct ms_sign_key *k = open_key(path, &missing);

	if (missing)
		ms_log_error("signing key '%s' does not exist", path);
	return k;
}

void ms_sign_key_free(struct ms_sign_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

void ms_sign_key_public(const struct ms_sign_key *k, unsigned char pk[MS_SIGN_PK_LEN])
{
	memcpy(pk, k->pk, MS_SIGN_PK_LEN);
}

static void fsync_parent(const char *path)
{
	char *dir = ms_path_dirname(path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

/* Writes a new file (O_EXCL, O_NOFOLLOW) with mode, synced: 0, -2 when
 * it already exists (not logged), -1 after logging. */
static int write_new_file(const char *path, const char *data, size_t len, mode_t mode, const char *what)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);

	if (fd < 0 && errno == EEXIST)
		return -2;
	if (fd < 0)
		return ms_log_error("unable to create %s '%s': %s", what, path, strerror(errno));
	if (fchmod(fd, mode) < 0 || write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		ms_log_error("unable to write %s '%s': %s", what, path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	if (close(fd) < 0) {
		ms_log_error("unable to write %s '%s': %s", what, path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

static int write_public(const struct ms_sign_key *k, const char *pub)
{
	char host[256], *comment, *line, *text;
	int ret;

	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	comment = ms_xasprintf("modosnap@%s", host);
	line = ms_sign_public_line(k->pk, comment);
	text = ms_xasprintf("%s\n", line);
	ret = write_new_file(pub, text, strlen(text), 0644, "public key");
	free(text);
	free(line);
	free(comment);
	return ret;
}

static EVP_PKEY *generate_ed25519(void)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	EVP_PKEY *pkey = NULL;

	if (!ctx || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &pkey) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

/* Creates the key file and its .pub; -1 after logging, 1 when another
 * process created the key first (the caller loads it). */
static int create_key(const char *path, const char *pub)
{
	char *dir = ms_path_dirname(path), *pem = NULL;
	struct ms_sign_key k = { 0 };
	BIO *bio = NULL;
	long pemlen = 0;
	int ret = -1;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		ms_log_error("unable to create directory '%s' for the signing key: %s", dir, strerror(errno));
		goto out;
	}
	k.pkey = generate_ed25519();
	bio = BIO_new(BIO_s_mem());
	if (!k.pkey || !bio || !PEM_write_bio_PrivateKey(bio, k.pkey, NULL, NULL, 0, NULL, NULL) ||
	    (pemlen = BIO_get_mem_data(bio, &pem)) <= 0) {
		ms_log_error("unable to generate a signing key: %s", ms_crypto_error());
		goto out;
	}
	{
		size_t pklen = MS_SIGN_PK_LEN;

		if (EVP_PKEY_get_raw_public_key(k.pkey, k.pk, &pklen) != 1) {
			ms_log_error("unable to generate a signing key: %s", ms_crypto_error());
			goto out;
		}
	}
	switch (write_new_file(path, pem, (size_t)pemlen, 0600, "signing key")) {
	case 0: break;
	case -2: ret = 1; goto out; /* another run was first */
	default: goto out;
	}
	switch (write_public(&k, pub)) {
	case 0: break;
	case -2:
		ms_log_error("public key '%s' appeared while its signing key was being created", pub);
		/* fall through */
	default:
		unlink(path);
		goto out;
	}
	fsync_parent(path);
	if (isatty(STDERR_FILENO))
		ms_log_info("created the signing key '%s' and its public half '%s': keep copies off this server "
			    "(see signing.md)", path, pub);
	ret = 0;
out:
	if (pem && pemlen > 0)
		OPENSSL_cleanse(pem, (size_t)pemlen);
	BIO_free(bio);
	EVP_PKEY_free(k.pkey);
	free(dir);
	return ret;
}

/* Reads a one-line public key file (PATH.pub): 1 and pk, 0 when it does
 * not exist, -1 after logging. */
static int read_public_file(const char *pub, unsigned char pk[MS_SIGN_PK_LEN])
{
	char *text, *nl;
	const char *why;
	size_t len = 0;
	int ret;

	if (access(pub, F_OK) < 0 && errno == ENOENT)
		return 0;
	text = ms_read_file(pub, KEY_FILE_MAX, &len);
	if (!text)
		return -1;
	if (memchr(text, '\0', len)) {
		free(text);
		return ms_log_error("'%s':1: not an ssh-ed25519 public key (only ssh-ed25519 keys are accepted)",
				    pub);
	}
	nl = strchr(text, '\n');
	if (nl)
		*nl = '\0';
	ret = ms_sign_parse_public_line(text, pk, &why) == 0 ? 1 : ms_log_error("'%s':1: %s", pub, why);
	free(text);
	return ret;
}

/* PATH.pub beside a loaded key: written when missing, else it must match. */
static int check_public(const struct ms_sign_key *k, const char *path, const char *pub)
{
	unsigned char pk[MS_SIGN_PK_LEN];
	int rc = read_public_file(pub, pk);

	if (rc < 0)
		return -1;
	if (rc == 0)
		return write_public(k, pub) == -1 ? -1 : 0; /* -2: written meanwhile, fine */
	if (memcmp(pk, k->pk, MS_SIGN_PK_LEN) != 0)
		return ms_log_error("public key '%s' does not belong to the signing key '%s'", pub, path);
	return 0;
}

struct ms_sign_key *ms_sign_key_load_or_create(const char *path)
{
	char *pub = ms_xasprintf("%s" PUB_SUFFIX, path);
	struct ms_sign_key *k = NULL;
	bool missing;

	if (path[0] != '/') {
		ms_log_error("signing key '%s' must be an absolute path", path);
		goto out;
	}
	for (int tries = 0; !k && tries < 2; tries++) {
		k = open_key(path, &missing);
		if (k || !missing)
			break;
		if (access(pub, F_OK) == 0) {
			ms_log_error("public key '%s' exists but its signing key '%s' does not: put the private key "
				     "back, or remove '%s' to create a new key", pub, path, pub);
			goto out;
		}
		if (create_key(path, pub) < 0)
			goto out;
	}
	if (k && check_public(k, path, pub) < 0) {
		ms_sign_key_free(k);
		k = NULL;
	}
out:
	free(pub);
	return k;
}

int ms_sign_own_public(const char *signing_key_path, unsigned char pk[MS_SIGN_PK_LEN])
{
	char *pub = ms_xasprintf("%s" PUB_SUFFIX, signing_key_path);
	struct ms_sign_key *k;
	bool missing;
	int rc = read_public_file(pub, pk);

	free(pub);
	if (rc != 0)
		return rc;
	if (access(signing_key_path, F_OK) < 0)
		return 0;
	k = open_key(signing_key_path, &missing);
	if (!k)
		return missing ? 0 : -1;
	memcpy(pk, k->pk, MS_SIGN_PK_LEN);
	ms_sign_key_free(k);
	return 1;
}

/* --- trusted keys ----------------------------------------------------------------- */

/* text[len] is writable (a NUL). */
static int keyring_parse(struct ms_sign_keyring *kr, const char *path, char *text, size_t len)
{
	char *line = text, *end = text + len, *nul = memchr(text, '\0', len);

	if (nul) {
		int lineno = 1;

		for (const char *c = text; c < nul; c++)
			lineno += *c == '\n';
		return ms_log_error("'%s':%d: the line contains a NUL byte", path, lineno);
	}

	for (int lineno = 1; line < end; lineno++) {
		char *nl = memchr(line, '\n', (size_t)(end - line)), *s = line;
		unsigned char pk[MS_SIGN_PK_LEN];
		const char *why;

		if (nl)
			*nl = '\0';
		else
			*end = '\0';
		if (nl && nl > line && nl[-1] == '\r')
			nl[-1] = '\0';
		while (is_space(*s))
			s++;
		if (*s && *s != '#') {
			if (ms_sign_parse_public_line(s, pk, &why) < 0)
				return ms_log_error("'%s':%d: %s", path, lineno, why);
			kr->keys = ms_xrealloc(kr->keys, (kr->n + 1) * sizeof(*kr->keys));
			memcpy(kr->keys[kr->n++], pk, MS_SIGN_PK_LEN);
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	return 0;
}

struct ms_sign_keyring *ms_sign_keyring_load(const char *path)
{
	struct ms_sign_keyring *kr = ms_xcalloc(1, sizeof(*kr));
	char *text = ms_xmalloc(TRUSTED_FILE_MAX + 1);
	struct stat st;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0 && errno == ENOENT)
		goto done;
	if (fd < 0) {
		ms_log_error("unable to open trusted keys '%s': %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ms_log_error("trusted keys '%s' is not a regular file", path);
		goto fail;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		ms_log_error("trusted keys '%s' is writable by other users (mode %04o); chmod go-w '%s'", path,
			     (unsigned)(st.st_mode & 07777), path);
		goto fail;
	}
	if (ms_read_fd(fd, text, TRUSTED_FILE_MAX + 1, &len) < 0) {
		ms_log_error("unable to read trusted keys '%s': %s", path, strerror(errno));
		goto fail;
	}
	if (len > TRUSTED_FILE_MAX) {
		ms_log_error("trusted keys '%s' is too large (limit %d bytes)", path, TRUSTED_FILE_MAX);
		goto fail;
	}
	text[len] = '\0';
	if (keyring_parse(kr, path, text, len) < 0)
		goto fail;
done:
	if (fd >= 0)
		close(fd);
	free(text);
	return kr;
fail:
	if (fd >= 0)
		close(fd);
	free(text);
	ms_sign_keyring_free(kr);
	return NULL;
}

bool ms_sign_keyring_has(const struct ms_sign_keyring *kr, const unsigned char pk[MS_SIGN_PK_LEN])
{
	for (size_t i = 0; kr && i < kr->n; i++)
		if (CRYPTO_memcmp(kr->keys[i], pk, MS_SIGN_PK_LEN) == 0)
			return true;
	return false;
}

void ms_sign_keyring_free(struct ms_sign_keyring *kr)
{
	if (!kr)
		return;
	free(kr->keys);
	free(kr);
}

/* --- the trust decision ------------------------------------------------------------ */

/* 1 when pk is trusted, 0 when not, -1 after logging (a bad file). */
static int is_trusted(const unsigned char pk[MS_SIGN_PK_LEN], const char *signing_key_path,
		      const char *trusted_keys_path)
{
	unsigned char own[MS_SIGN_PK_LEN];
	struct ms_sign_keyring *kr;
	int rc = ms_sign_own_public(signing_key_path, own), trusted;

	if (rc < 0)
		return -1;
	if (rc == 1 && memcmp(own, pk, MS_SIGN_PK_LEN) == 0)
		return 1;
	kr = ms_sign_keyring_load(trusted_keys_path);
	if (!kr)
		return -1;
	trusted = ms_sign_keyring_has(kr, pk);
	ms_sign_keyring_free(kr);
	return trusted;
}

int ms_sign_check_trust(const struct ms_verify_result *vr, const char *signing_key_path,
			const char *trusted_keys_path, bool allow_unsigned, const char *archive_name)
{
	const struct ms_sig_state *st = &vr->signature;
	int rc;

	switch (st->status) {
	case MS_SIG_NONE:
		if (!allow_unsigned)
			return ms_log_error("'%s': snapshot is not signed (use --allow-unsigned to accept it)",
					    archive_name);
		ms_log_warn("'%s': snapshot is not signed; accepted because of --allow-unsigned", archive_name);
		return 0;
	case MS_SIG_MALFORMED:
	case MS_SIG_BAD:
		return ms_log_error("'%s': bad signature (%s)", archive_name, st->problem);
	case MS_SIG_VALID:
		break;
	}
	rc = is_trusted(st->pubkey, signing_key_path, trusted_keys_path);
	if (rc < 0)
		return -1;
	if (rc == 1)
		return 0;
	if (!allow_unsigned)
		return ms_log_error("'%s': signature by key %s, which is not trusted (add it to '%s' or use "
				    "--allow-unsigned)", archive_name, st->fingerprint, trusted_keys_path);
	ms_log_warn("'%s': signature by key %s, which is not trusted; accepted because of --allow-unsigned",
		    archive_name, st->fingerprint);
	return 0;
}
