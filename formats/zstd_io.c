/*
 * libzstd streaming over a file descriptor (see zstd_io.h). The writer owns
 * its frame parameters (level, workers, checksum flag) so that the archive
 * carries content checksums, which libarchive's zstd filter cannot write.
 * The reader checks frame boundaries itself: the input must end exactly at
 * the end of a frame, and anything after the last frame that is not
 * another frame is refused rather than ignored.
 */
#include "formats/zstd_io.h"
#include "base/util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_d_forceIgnoreChecksum (libzstd >= 1.4.7) */
#include <zstd.h>

struct ms_zstd_out {
	ZSTD_CCtx *cctx;
	int fd;          /* borrowed */
	char *name;      /* for messages */
	void *buf;       /* compressed output staging, cap bytes */
	size_t cap;
	uint64_t in;     /* uncompressed bytes accepted */
	uint64_t out;    /* compressed bytes written to fd */
	bool failed;     /* an error was logged */
};

static int out_error(struct ms_zstd_out *z, const char *what, size_t code)
{
	z->failed = true;
	return ms_log_error("'%s': %s: %s", z->name, what, ZSTD_getErrorName(code));
}

static int set_param(struct ms_zstd_out *z, ZSTD_cParameter p, int value, const char *what)
{
	size_t r = ZSTD_CCtx_setParameter(z->cctx, p, value);

	if (ZSTD_isError(r))
		return out_error(z, what, r);
	return 0;
}

static size_t compress_step(struct ms_zstd_out *z, ZSTD_inBuffer *in, ZSTD_EndDirective op);

/* Compression workers, started now with every signal blocked: the threads
 * inherit that mask, so SIGINT/SIGTERM/SIGHUP always reach the thread
 * that runs the snapshot (whose handlers and blocked windows decide what
 * an interrupt does), never a compressor. A libzstd built without
 * threads compresses in the calling thread instead (same output format). */
static int start_workers(struct ms_zstd_out *z, int threads)
{
	ZSTD_inBuffer none = { NULL, 0, 0 };
	sigset_t all, old;
	size_t r = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_nbWorkers, threads);

	if (ZSTD_isError(r)) {
		ms_log_debug("'%s': compressing in one thread (%s)", z->name, ZSTD_getErrorName(r));
		return 0;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = compress_step(z, &none, ZSTD_e_continue); /* creates the worker pool */
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r == (size_t)-1 ? -1 : 0;
}

struct ms_zstd_out *ms_zstd_out_new(int fd, const char *name, int level, int threads)
{
	struct ms_zstd_out *z = ms_xcalloc(1, sizeof(*z));

	z->fd = fd;
	z->name = ms_xstrdup(name);
	z->cap = ZSTD_CStreamOutSize();
	z->buf = ms_xmalloc(z->cap);
	z->cctx = ZSTD_createCCtx();
	if (!z->cctx)
		MS_BUG("ZSTD_createCCtx failed");
	if (set_param(z, ZSTD_c_compressionLevel, level, "unable to set the compression level") < 0 ||
	    set_param(z, ZSTD_c_checksumFlag, 1, "unable to enable frame checksums") < 0 ||
	    (threads > 0 && start_workers(z, threads) < 0)) {
		ms_zstd_out_free(z);
		return NULL;
	}
	return z;
}

/* write(2) until everything is out, across EINTR and short writes. */
static int write_all(struct ms_zstd_out *z, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = write(z->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			z->failed = true;
			return ms_log_error("unable to write '%s': %s", z->name,
					    strerror(n < 0 ? errno : EIO));
		}
		p += n;
		len -= (size_t)n;
		z->out += (uint64_t)n;
	}
	return 0;
}

/* One ZSTD_compressStream2 step; returns libzstd's "still to flush" hint,
 * or (size_t)-1 after logging. */
static size_t compress_step(struct ms_zstd_out *z, ZSTD_inBuffer *in, ZSTD_EndDirective op)
{
	ZSTD_outBuffer out = { z->buf, z->cap, 0 };
	size_t r = ZSTD_compressStream2(z->cctx, &out, in, op);

	if (ZSTD_isError(r)) {
		out_error(z, "compression failed", r);
		return (size_t)-1;
	}
	if (write_all(z, z->buf, out.pos) < 0)
		return (size_t)-1;
	return r;
}

int ms_zstd_out_write(struct ms_zstd_out *z, const void *buf, size_t len)
{
	ZSTD_inBuffer in = { buf, len, 0 };

	if (z->failed)
		return -1;
	while (in.pos < in.size) {
		if (compress_step(z, &in, ZSTD_e_continue) == (size_t)-1)
			return -1;
	}
	z->in += len;
	return 0;
}

int ms_zstd_out_finish(struct ms_zstd_out *z)
{
	ZSTD_inBuffer in = { NULL, 0, 0 };
	size_t left;

	if (z->failed)
		return -1;
	do {
		left = compress_step(z, &in, ZSTD_e_end);
		if (left == (size_t)-1)
			return -1;
	} while (left > 0);
	return 0;
}

bool ms_zstd_out_failed(const struct ms_zstd_out *z)
{
	return z->failed;
}

void ms_zstd_out_counts(const struct ms_zstd_out *z, uint64_t *in, uint64_t *out)
{
	*in = z->in;
	*out = z->out;
}

void ms_zstd_out_free(struct ms_zstd_out *z)
{
	if (!z)
		return;
	ZSTD_freeCCtx(z->cctx);
	free(z->buf);
	free(z->name);
	free(z);
}

struct ms_zstd_in {
	ZSTD_DCtx *dctx;
	int fd;              /* borrowed */
	char *name;          /* for messages */
	unsigned char *in;   /* compressed input: [pos, len) not yet decoded */
	size_t in_cap, in_pos, in_len;
	unsigned char *out;  /* decompressed output handed to the caller */
	size_t out_cap;
	bool in_eof;         /* read(2) returned 0 */
	bool mid_frame;      /* inside a frame: more input is required */
	bool out_full;       /* last step filled out: libzstd may hold more */
	bool ended;          /* the clean end was reported */
	bool failed;         /* an error was logged */
	bool after_end;      /* failed: content after the tar archive (drain) */
	uint64_t frames;     /* complete frames decoded */
	uint64_t n_in;       /* compressed bytes read */
	uint64_t n_out;      /* decompressed bytes produced */
};

struct ms_zstd_in *ms_zstd_in_new(int fd, const char *name)
{
	struct ms_zstd_in *z = ms_xcalloc(1, sizeof(*z));

	z->fd = fd;
	z->name = ms_xstrdup(name);
	z->in_cap = ZSTD_DStreamInSize();
	z->in = ms_xmalloc(z->in_cap);
	z->out_cap = ZSTD_DStreamOutSize();
	z->out = ms_xmalloc(z->out_cap);
	z->dctx = ZSTD_createDCtx();
	if (!z->dctx)
		MS_BUG("ZSTD_createDCtx failed");
	return z;
}

void ms_zstd_in_ignore_checksums(struct ms_zstd_in *z)
{
	size_t r = ZSTD_DCtx_setParameter(z->dctx, ZSTD_d_forceIgnoreChecksum, ZSTD_d_ignoreChecksum);

	if (ZSTD_isError(r))
		MS_BUG("ZSTD_d_forceIgnoreChecksum refused");
}

static ssize_t in_fail(struct ms_zstd_in *z, const char *what)
{
	z->failed = true;
	return ms_log_error("'%s': %s", z->name, what);
}

/* Moves unread input to the front and reads more after it; sets in_eof at
 * the end of the file. 0, or -1 after logging. */
static int fill(struct ms_zstd_in *z)
{
	ssize_t n;

	if (z->in_pos > 0) {
		memmove(z->in, z->in + z->in_pos, z->in_len - z->in_pos);
		z->in_len -= z->in_pos;
		z->in_pos = 0;
	}
	do
		n = read(z->fd, z->in + z->in_len, z->in_cap - z->in_len);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		z->failed = true;
		return ms_log_error("unable to read '%s': %s", z->name, strerror(errno));
	}
	if (n == 0)
		z->in_eof = true;
	z->in_len += (size_t)n;
	z->n_in += (uint64_t)n;
	return 0;
}

/* True when p (avail bytes) starts with a zstd or skippable frame magic. */
static bool frame_magic(const unsigned char *p, size_t avail)
{
	uint32_t m;

	if (avail < 4)
		return false;
	m = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	return m == ZSTD_MAGICNUMBER ||
	       (m & ZSTD_MAGIC_SKIPPABLE_MASK) == ZSTD_MAGIC_SKIPPABLE_START;
}

/* Between frames: 1 when another frame follows, 0 at the clean end of the
 * input, -1 after logging. Only the first frame may be unrecognisable as
 * such (libzstd then names the problem); after a complete frame, bytes that
 * do not start a frame are trailing data. */
static int at_boundary(struct ms_zstd_in *z)
{
	size_t avail;

	while (z->in_len - z->in_pos < 4 && !z->in_eof)
		if (fill(z) < 0)
			return -1;
	avail = z->in_len - z->in_pos;
	if (avail == 0)
		return z->frames > 0 ? 0 : (int)in_fail(z, "truncated archive");
	if (z->frames > 0 && !frame_magic(z->in + z->in_pos, avail))
		return (int)in_fail(z, "trailing data after the archive");
	return 1;
}

/* One ZSTD_decompressStream step into z->out; returns the bytes produced,
 * or -1 after logging. */
static ssize_t decompress_step(struct ms_zstd_in *z)
{
	ZSTD_inBuffer in = { z->in, z->in_len, z->in_pos };
	ZSTD_outBuffer out = { z->out, z->out_cap, 0 };
	size_t r = ZSTD_decompressStream(z->dctx, &out, &in);

	z->in_pos = in.pos;
	if (ZSTD_isError(r)) {
		z->failed = true;
		return ms_log_error("'%s': corrupt archive: %s", z->name, ZSTD_getErrorName(r));
	}
	/* 0 means the frame is decoded and fully flushed */
	z->out_full = r != 0 && out.pos == out.size;
	if (r == 0) {
		z->mid_frame = false;
		z->frames++;
	}
	z->n_out += out.pos;
	return (ssize_t)out.pos;
}

ssize_t ms_zstd_in_read(struct ms_zstd_in *z, const void **buf)
{
	if (z->failed)
		return -1;
	for (;;) {
		ssize_t n;

		if (!z->mid_frame) {
			int r = at_boundary(z);

			if (r <= 0) {
				z->ended = r == 0;
				return r;
			}
			z->mid_frame = true;
		}
		if (z->in_pos == z->in_len && !z->out_full) {
			if (z->in_eof)
				return in_fail(z, "truncated archive");
			if (fill(z) < 0)
				return -1;
			continue;
		}
		n = decompress_step(z);
		if (n != 0) {
			*buf = z->out;
			return n;
		}
	}
}

int ms_zstd_in_drain(struct ms_zstd_in *z)
{
	const void *p;
	ssize_t n = ms_zstd_in_read(z, &p);

	/* the writer pads nothing (FORMAT.md §3): even zero bytes are data
	 * that no tar reader should be trusted to skip */
	if (n > 0) {
		z->after_end = true;
		return (int)in_fail(z, "data after the end of the tar archive");
	}
	return (int)n;
}

bool ms_zstd_in_data_after_end(const struct ms_zstd_in *z)
{
	return z->after_end;
}

bool ms_zstd_in_failed(const struct ms_zstd_in *z)
{
	return z->failed;
}

bool ms_zstd_in_ended(const struct ms_zstd_in *z)
{
	return z->ended;
}

void ms_zstd_in_counts(const struct ms_zstd_in *z, uint64_t *in, uint64_t *out)
{
	*in = z->n_in;
	*out = z->n_out;
}

void ms_zstd_in_free(struct ms_zstd_in *z)
{
	if (!z)
		return;
	ZSTD_freeDCtx(z->dctx);
	free(z->in);
	free(z->out);
	free(z->name);
	free(z);
}
