/*
 * libFuzzer target: the archive reader and verifier (formats/archive.c,
 * formats/verify.c) on arbitrary tar streams inside a valid zstd frame.
 * The harness compresses the input with libzstd (content checksum on, as
 * modosnap writes it), puts it in an anonymous memory file and runs
 * ms_verify_archive and ms_read_header on /proc/self/fd/N, then reads every
 * member with the plain reader (as restore does).
 *
 * Input: one flag byte, then the tar stream.
 *   bit 0  recompute the checksum of every tar header block (so mutations
 *          of the metadata get past libarchive's header check)
 *   bit 1  write the zstd frame without a content checksum
 */
#include "fuzzutil.h"
#include "formats/snaparchive.h"
#include "formats/verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#define BLOCK 512

static uint64_t octal(const unsigned char *p, size_t n)
{
	uint64_t v = 0;

	if (p[0] & 0x80) { /* base-256 */
		for (size_t i = 1; i < n; i++)
			v = v << 8 | p[i];
		return v;
	}
	for (size_t i = 0; i < n && p[i] >= '0' && p[i] <= '7'; i++)
		v = v * 8 + (uint64_t)(p[i] - '0');
	return v;
}

/* Walks the header blocks as a tar reader would and rewrites each one's
 * checksum field. */
static void fix_checksums(unsigned char *tar, size_t len)
{
	static const unsigned char zero[BLOCK];
	size_t at = 0;

	while (at + BLOCK <= len && memcmp(tar + at, zero, BLOCK) != 0) {
		unsigned char *h = tar + at;
		unsigned sum = 0;
		uint64_t size = octal(h + 124, 12);
		char field[8];

		memset(h + 148, ' ', 8);
		for (size_t i = 0; i < BLOCK; i++)
			sum += h[i];
		snprintf(field, sizeof(field), "%06o", sum & 0777777);
		memcpy(h + 148, field, 7); /* six digits and a NUL, then the space */
		if (size > len)
			break;
		at += BLOCK + (size + BLOCK - 1) / BLOCK * BLOCK;
	}
}

static void *compress(const void *src, size_t len, bool checksum, size_t *out_len)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(len), n;
	void *out = malloc(cap);

	if (!c || !out)
		abort();
	ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 1);
	ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, checksum);
	n = ZSTD_compress2(c, out, cap, src, len);
	if (ZSTD_isError(n))
		abort();
	ZSTD_freeCCtx(c);
	*out_len = n;
	return out;
}

/* Every member's metadata and data, as restore reads them. */
static void read_all(int fd, const char *path)
{
	struct ms_archive_reader *r;
	const struct ms_entry *e;
	char buf[4096];

	if (lseek(fd, 0, SEEK_SET) < 0)
		abort();
	r = ms_archive_reader_open(fd, path);
	if (!r)
		return;
	while (ms_archive_reader_next(r, &e) == 1) {
		uint64_t got = 0;
		ssize_t n;

		FZ_ASSERT(e->path != NULL);
		FZ_ASSERT(e->type != MS_ENTRY_SYMLINK || e->link != NULL);
		FZ_ASSERT(e->type != MS_ENTRY_HARDLINK || e->link != NULL);
		for (size_t i = 0; i < e->n_xattrs; i++)
			FZ_ASSERT(e->xattrs[i].name != NULL);
		while ((n = ms_archive_reader_read(r, buf, sizeof(buf))) > 0)
			got += (uint64_t)n;
		if (n == 0 && e->type == MS_ENTRY_FILE)
			FZ_ASSERT(got == e->size);
		if (n < 0)
			break;
	}
	ms_archive_reader_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *tar;
	void *zst;
	size_t tar_len, zst_len;
	char path[32];
	int fd;
	struct ms_verify_result res;
	struct ms_header h;

	if (size < 1)
		return 0;
	tar_len = size - 1;
	tar = malloc(tar_len ? tar_len : 1);
	if (!tar)
		abort();
	memcpy(tar, data + 1, tar_len);
	if (data[0] & 1)
		fix_checksums(tar, tar_len);
	zst = compress(tar, tar_len, !(data[0] & 2), &zst_len);
	fd = fz_memfd(zst, zst_len, 0600, path);

	memset(&res, 0, sizeof(res));
	if (ms_verify_archive(path, &res) == MS_VERIFY_OK) {
		FZ_ASSERT(res.header_ok && res.manifest_ok);
		FZ_ASSERT(strcmp(res.header.snapshot_id, res.manifest.snapshot_id) == 0);
	}
	ms_verify_result_clear(&res);
	if (ms_read_header(path, &h) == 0)
		ms_header_clear(&h);
	read_all(fd, path);

	close(fd);
	free(zst);
	free(tar);
	return 0;
}
