/*
 * EVP wrappers for SHA-256 and MD5 (see hash.h).
 */
#include "base/hash.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ms_hash {
	EVP_MD_CTX *ctx;
	const EVP_MD *md;
};

/* SHA-256 and MD5 from the default provider, fetched once for the
 * process and kept for its life. EVP_sha256() would make every
 * EVP_DigestInit_ex look the provider's implementation up again (a lock
 * and a name lookup in OpenSSL 3): for a row of 150 bytes that took
 * longer than the hashing itself (docs/dev/perf-pg.md). */
static EVP_MD *fetched[2];
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_mds(void)
{
	fetched[0] = EVP_MD_fetch(NULL, "MD5", NULL);
	fetched[1] = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *fetched_md(enum ms_hash_algo algo)
{
	const EVP_MD *md;

	pthread_once(&fetch_once, fetch_mds);
	md = fetched[algo == MS_HASH_MD5 ? 0 : 1];
	if (!md)
		MS_BUG("EVP_MD_fetch failed");
	return md;
}

struct ms_hash *ms_hash_new(enum ms_hash_algo algo)
{
	struct ms_hash *h = ms_xcalloc(1, sizeof(*h));

	h->md = fetched_md(algo);
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex2(h->ctx, h->md, NULL) != 1)
		MS_BUG("EVP digest initialisation failed");
	return h;
}

void ms_hash_update(struct ms_hash *h, const void *data, size_t len)
{
	if (EVP_DigestUpdate(h->ctx, data, len) != 1)
		MS_BUG("EVP_DigestUpdate failed");
}

void ms_hash_final_hex(struct ms_hash *h, char hex[MS_HASH_HEX_MAX])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_DigestFinal_ex(h->ctx, md, &n) != 1 || n * 2 >= MS_HASH_HEX_MAX)
		MS_BUG("EVP_DigestFinal_ex failed");
	for (unsigned int i = 0; i < n; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[2 * n] = '\0';
	if (EVP_DigestInit_ex2(h->ctx, h->md, NULL) != 1)
		MS_BUG("EVP digest re-initialisation failed");
}

void ms_hash_free(struct ms_hash *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

/* ms_sha256_raw's context, one per thread, kept between calls */
static __thread EVP_MD_CTX *raw_ctx;

void ms_sha256_thread_end(void)
{
	EVP_MD_CTX_free(raw_ctx);
	raw_ctx = NULL;
}

void ms_sha256_raw(const void *data, size_t len, unsigned char out[32])
{
	EVP_MD_CTX *ctx = raw_ctx;
	unsigned int n = 0;

	if (!ctx && !(ctx = raw_ctx = EVP_MD_CTX_new()))
		MS_BUG("EVP_MD_CTX_new failed");
	if (EVP_DigestInit_ex2(ctx, fetched_md(MS_HASH_SHA256), NULL) != 1 || EVP_DigestUpdate(ctx, data, len) != 1 ||
	    EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != 32)
		MS_BUG("SHA-256 failed");
}

void ms_hash_buf_hex(enum ms_hash_algo algo, const void *data, size_t len, char hex[MS_HASH_HEX_MAX])
{
	struct ms_hash *h = ms_hash_new(algo);

	ms_hash_update(h, data, len);
	ms_hash_final_hex(h, hex);
	ms_hash_free(h);
}

int ms_hash_file_hex(enum ms_hash_algo algo, const char *path, char hex[MS_HASH_HEX_MAX])
{
	unsigned char buf[65536];
	struct ms_hash *h;
	int fd, ret = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ms_log_error("unable to open '%s': %s", path, strerror(errno));
	h = ms_hash_new(algo);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ms_log_error("unable to read '%s': %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		ms_hash_update(h, buf, (size_t)n);
	}
	ms_hash_final_hex(h, hex);
	ret = 0;
out:
	ms_hash_free(h);
	close(fd);
	return ret;
}

const char *ms_crypto_error(void)
{
	static char buf[256];
	unsigned long e = ERR_get_error();

	if (!e)
		return "unknown libcrypto error";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}
