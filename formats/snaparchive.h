/*
 * The snapshot archive's byte layer: pax tar (libarchive) inside one zstd
 * stream (libzstd, frame content checksums on). The only module that
 * includes archive.h or zstd.h. Writers stream to a file descriptor (a
 * regular file or a pipe); readers stream from one. Entries are written and
 * read strictly in order; memory use is bounded by the chunk size.
 */
#ifndef MS_SNAPARCHIVE_H
#define MS_SNAPARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "formats/entry.h"
#include "base/hash.h"

struct ms_archive_stats {
	uint64_t entries;
	uint64_t bytes_in;  /* uncompressed tar bytes */
	uint64_t bytes_out; /* compressed bytes written / read */
};

struct ms_archive_writer; /* opaque */

/* The zstd level when none is asked for. Level 1 on this project's data
 * (dump text, measured in docs/performance.md): about 40 % less
 * compression CPU and 30 % faster decompression than level 3, and an
 * archive no larger (a file tree of Python sources: about 10 % larger). */
#define MS_ZSTD_LEVEL_DEFAULT 1

struct ms_writer_opts {
	int level;   /* zstd level, 1..19 (0 = MS_ZSTD_LEVEL_DEFAULT) */
	int threads; /* zstd worker threads, 0 = single-threaded */
	/* NULL, or polled before every header, data and finish call: once it
	 * returns true, that call and every later one fail without a message
	 * (the archive is unusable; whoever cancelled says why). create uses
	 * it to stop at the next write after an interrupt. */
	bool (*cancelled)(void);
	/* NULL, or a counter the writer adds every content byte to; another
	 * thread may read it meanwhile (create's progress line). */
	_Atomic uint64_t *progress;
};

/* Starts an archive on fd (not closed by the writer). `name` is used in
 * messages. NULL after logging. */
struct ms_archive_writer *ms_archive_writer_open(int fd, const char *name, const struct ms_writer_opts *opts);

/* Begins entry e. For MS_ENTRY_FILE exactly e->size bytes must then be
 * given to ms_archive_write_data before ms_archive_finish_entry. */
int ms_archive_write_header(struct ms_archive_writer *w, const struct ms_entry *e);
int ms_archive_write_data(struct ms_archive_writer *w, const void *buf, size_t len);
/* Ends the current entry; fails (naming the entry) when fewer or more bytes
 * than declared were written. sha256 receives the SHA-256 hex of the data
 * ("" digest of nothing for non-FILE entries). */
int ms_archive_finish_entry(struct ms_archive_writer *w, char sha256[MS_HASH_HEX_MAX]);
/* Header + data + finish for an entry whose content is in memory. */
int ms_archive_write_buffer(struct ms_archive_writer *w, const struct ms_entry *e, const void *buf,
			    size_t len, char sha256[MS_HASH_HEX_MAX]);
/* Writes the tar end marker and ends the zstd frame, flushing everything
 * to fd (no fsync: that is the caller's job). 0 or -1 after logging. */
int ms_archive_writer_close(struct ms_archive_writer *w, struct ms_archive_stats *stats);
/* Frees the writer; aborts an unfinished archive. NULL is a no-op. */
void ms_archive_writer_free(struct ms_archive_writer *w);

/* Data of unknown total length as a sequence of bounded chunk entries
 * `<dir>/000001<ext>`, `<dir>/000002<ext>`, ... each at most chunk_size
 * bytes, buffered in memory (no temp files). Every chunk written is
 * reported through `on_chunk` (for the manifest). */
struct ms_chunker;
typedef int (*ms_chunk_cb)(void *ctx, const struct ms_entry *e, const char sha256[MS_HASH_HEX_MAX]);
struct ms_chunker *ms_chunker_new(struct ms_archive_writer *w, const char *dir, const char *ext,
				  size_t chunk_size, const struct ms_entry *proto, ms_chunk_cb on_chunk, void *ctx);
int ms_chunker_write(struct ms_chunker *c, const void *buf, size_t len);
/* Flushes the last partial chunk (an empty stream yields no entry) and
 * frees c. Returns the number of chunks written, or -1. */
long ms_chunker_close(struct ms_chunker *c);
void ms_chunker_free(struct ms_chunker *c);

/* Called by the database dumpers once per member written, for the
 * manifest; sha256 is its hex digest. Returns 0, or -1 (after logging) to
 * abort the dump. */
typedef int (*ms_member_cb)(void *ctx, const struct ms_entry *e, const char *sha256);

struct ms_archive_reader; /* opaque */

/* Starts reading an archive from fd (not closed). NULL after logging. */
struct ms_archive_reader *ms_archive_reader_open(int fd, const char *name);
/* Like ms_archive_reader_open, but zstd frame checksums are not verified:
 * only for locating the member a checksum failure corrupted, by comparing
 * what is read with the manifest. */
struct ms_archive_reader *ms_archive_reader_open_unchecked(int fd, const char *name);
/* Advances to the next entry: 1 and *e set (borrowed until the next call),
 * 0 at the clean end of the archive, -1 after logging an error: a zstd
 * checksum mismatch, corrupt data, or "'NAME': truncated archive". */
int ms_archive_reader_next(struct ms_archive_reader *r, const struct ms_entry **e);
/* Reads the current entry's data: bytes read, 0 at its end, -1 after
 * logging (naming the entry). */
ssize_t ms_archive_reader_read(struct ms_archive_reader *r, void *buf, size_t len);
/* From now on adds every content byte ms_archive_reader_read returns to
 * *progress (NULL: stop counting); another thread may read it meanwhile
 * (the progress line of restore and verify --deep). */
void ms_archive_reader_count(struct ms_archive_reader *r, _Atomic uint64_t *progress);
void ms_archive_reader_stats(const struct ms_archive_reader *r, struct ms_archive_stats *stats);
/* True when the reader failed because something follows the tar
 * end-of-archive marker ("data after the end of the tar archive"): every
 * member before it was read intact, so there is no damaged member to
 * look for. */
bool ms_archive_reader_data_after_end(const struct ms_archive_reader *r);
void ms_archive_reader_free(struct ms_archive_reader *r);

#endif
