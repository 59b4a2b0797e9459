/*
 * Archive members of a database dump, shared by the engine dumpers
 * (pg_dump.c, my_dump.c): one in-memory member, and a table's rows as
 * row-aligned chunk members db/<alias>/data/<schema>.<table>/NNNNNN<ext>
 * (FORMAT.md §4.3), memory bounded by the chunk size.
 */
#ifndef MS_DBMEMBER_H
#define MS_DBMEMBER_H

#include <stddef.h>

#include "formats/snaparchive.h"

/* Writes member `path` with the len bytes of buf (mode 0600, the
 * caller's uid/gid, mtime now) and reports it to cb (may be NULL).
 * 0, or -1 after logging. */
int ms_db_write_member(struct ms_archive_writer *w, const char *path, const void *buf, size_t len,
		       ms_member_cb cb, void *ctx);

/* Row-aligned chunks of one table at a time: a row never straddles two
 * chunks, and a row larger than the chunk size is a chunk of its own. */
struct ms_rowchunks {
	struct ms_archive_writer *w; /* borrowed */
	ms_member_cb cb;             /* may be NULL */
	void *ctx;
	char *buf;                   /* size bytes (owned) */
	size_t size, len;
	char *dir;                   /* current table's member directory (owned) */
	const char *ext;             /* ".copy", ".tsv" (borrowed) */
	unsigned long chunks;        /* written for the current table */
};

/* Allocates the chunk buffer; nothing is written yet. */
void ms_rowchunks_init(struct ms_rowchunks *rc, struct ms_archive_writer *w, size_t size, ms_member_cb cb,
		       void *ctx);
/* Starts a table whose chunks are "<dir>/NNNNNN<ext>" from 000001. */
void ms_rowchunks_begin(struct ms_rowchunks *rc, const char *dir, const char *ext);
/* Adds one row (len bytes, its newline included). 0 or -1 after logging. */
int ms_rowchunks_add(struct ms_rowchunks *rc, const void *row, size_t len);
/* Writes the len bytes at buf, whole rows gathered elsewhere, as the
 * table's next chunk (after the partial chunk rc holds, if any). 0 or -1
 * after logging. */
int ms_rowchunks_put(struct ms_rowchunks *rc, const void *buf, size_t len);
/* Writes the last partial chunk; rc->chunks is then the table's count. */
int ms_rowchunks_end(struct ms_rowchunks *rc);
/* Frees the buffer and directory; a zeroed rc is a no-op. */
void ms_rowchunks_release(struct ms_rowchunks *rc);

#endif
