/*
 * The zstd stream under the tar layer (libzstd, private to formats/): a
 * compressing sink and a decompressing source over a file descriptor,
 * with frame content checksums written and verified. archive.c plugs these
 * into libarchive's client callbacks; nothing else should use them.
 */
#ifndef MS_ZSTD_IO_H
#define MS_ZSTD_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ms_zstd_out; /* opaque */

/* Compresses into fd (not closed) at `level` with `threads` workers (0 =
 * in the caller's thread) and content checksums on. `name` (copied) is used
 * in messages. NULL after logging. */
struct ms_zstd_out *ms_zstd_out_new(int fd, const char *name, int level, int threads);
/* Compresses len bytes and writes what is ready; 0, or -1 after logging. */
int ms_zstd_out_write(struct ms_zstd_out *z, const void *buf, size_t len);
/* Ends the frame and writes everything still buffered; 0, or -1 after
 * logging. */
int ms_zstd_out_finish(struct ms_zstd_out *z);
/* True once an error was logged: later failures need no second message. */
bool ms_zstd_out_failed(const struct ms_zstd_out *z);
/* Uncompressed bytes accepted and compressed bytes written so far. */
void ms_zstd_out_counts(const struct ms_zstd_out *z, uint64_t *in, uint64_t *out);
void ms_zstd_out_free(struct ms_zstd_out *z);

struct ms_zstd_in; /* opaque */

/* Decompresses from fd (not closed); NULL after logging. */
struct ms_zstd_in *ms_zstd_in_new(int fd, const char *name);
/* Stops verifying frame content checksums. Only for locating which member
 * a checksum failure corrupted (the data read is then untrusted and must be
 * compared with the manifest); call before the first read. */
void ms_zstd_in_ignore_checksums(struct ms_zstd_in *z);
/* Next piece of decompressed data: *buf (borrowed, valid until the next
 * call) and its length; 0 at the clean end of the input (after one or more
 * complete frames); -1 after logging "'NAME': truncated archive",
 * "'NAME': corrupt archive: ..." (libzstd's message, e.g. a checksum
 * mismatch), "'NAME': trailing data after the archive" or a read error. */
ssize_t ms_zstd_in_read(struct ms_zstd_in *z, const void **buf);
/* Reads to the end of the input once the tar layer is done: every frame
 * must end cleanly and nothing may be left to decode (the tar archive's
 * end marker is the last byte of the content; no padding). 0, or -1 after
 * logging "'NAME': data after the end of the tar archive" or one of
 * ms_zstd_in_read's messages. */
int ms_zstd_in_drain(struct ms_zstd_in *z);
/* True when ms_zstd_in_drain failed because content followed. */
bool ms_zstd_in_data_after_end(const struct ms_zstd_in *z);
/* True once an error was logged. */
bool ms_zstd_in_failed(const struct ms_zstd_in *z);
/* True once the clean end of the input was reported to the caller. */
bool ms_zstd_in_ended(const struct ms_zstd_in *z);
/* Compressed bytes read and decompressed bytes produced so far. */
void ms_zstd_in_counts(const struct ms_zstd_in *z, uint64_t *in, uint64_t *out);
void ms_zstd_in_free(struct ms_zstd_in *z);

#endif
