/*
 * What the database restore engines (pg_restore.c, my_restore.c) share:
 * streaming an archive once and handing them the members of one alias,
 * parsing data chunk member names against the manifest, and checking that
 * every table's chunks arrived.
 */
#ifndef MS_DBREPLAY_H
#define MS_DBREPLAY_H

#include <stdatomic.h>
#include <stddef.h>

#include "formats/manifest.h"
#include "formats/snaparchive.h"
#include "restore/progress.h"

/* The manifest's record of `alias`, or NULL. Borrowed. */
const struct ms_manifest_db *ms_db_find(const struct ms_manifest *m, const char *alias);

/* Called for each file member under the prefix, in archive order, with
 * the reader positioned at its data. 0, or -1 (logged) to stop. */
typedef int (*ms_replay_cb)(void *ctx, struct ms_archive_reader *r, const char *path);

/* Opens and streams the archive at `archive_path` once, handing every
 * member whose path starts with `prefix` ("db/<alias>/") to cb. With
 * `alias` set, a non-file member there is an error naming it and the
 * alias (database dumps hold files only); with alias NULL every kind is
 * handed over. The bytes read count into progress->bytes (progress may
 * be NULL). 0, or -1 after logging. */
int ms_db_replay(const char *archive_path, const char *prefix, const char *alias, ms_replay_cb cb, void *ctx,
		 struct ms_progress *progress);

/* The same, stopping quietly (-1) at the next member once *stop is set
 * (another thread's failure). */
int ms_db_replay_until(const char *archive_path, const char *prefix, const char *alias, ms_replay_cb cb, void *ctx,
		       struct ms_progress *progress, const atomic_bool *stop);
/* Parses `rel` = "data/<schema>.<table>/NNNNNN<ext>" (path minus the
 * prefix): the table's index in mdb and the chunk number, which must be
 * seen[table] + 1 (seen[] is then advanced). 0, or -1 after logging an
 * error naming `path`. */
int ms_db_chunk(const struct ms_manifest_db *mdb, const char *alias, const char *path, const char *rel,
		const char *ext, unsigned long *seen, size_t *table);

/* The table a chunk member names, parsed as ms_db_chunk does but without
 * its checks or its logging: 0 and *table, or -1. */
int ms_db_chunk_table(const struct ms_manifest_db *mdb, const char *rel, const char *ext, size_t *table);
/* Every table got exactly the chunks the manifest lists. 0 or -1 after
 * logging the first table that did not. */
/* Which of `loaders` connections loads each table of mdb (owner[i], 0 to
 * loaders - 1): the largest first, each to the one with the least work so
 * far. A table's work is estimated from its rows and its chunks (16 MiB
 * of text each): in a MariaDB restore at 500 000 msgs rows, msgrcpt
 * (625 000 rows, 6 chunks), msgs (500 000, 8) and quarantine (125 000,
 * 17) loaded in about 5, 6 and 5.5 s, about 5 s per million rows plus
 * 0.3 s per chunk, so one chunk weighs as much as 54 000 rows. */
void ms_db_assign_lanes(const struct ms_manifest_db *mdb, unsigned loaders, unsigned char *owner);
/* The pid in a side database's name "KIND_<pid>_<rest>" (msrestore_,
 * msold_, msverify_), or -1 when `name` is not of that kind and shape. */
long ms_db_side_pid(const char *name, const char *kind);
int ms_db_check_chunks(const struct ms_manifest_db *mdb, const char *alias, const unsigned long *seen);

/* A live table and its row count (restore's plan). */
struct ms_table_count {
	char *schema; /* schema (PostgreSQL) or database (MySQL) */
	char *name;
	long long rows;
	char digest[65]; /* content digest (FORMAT.md §7.4) of a table the snapshot
	                    also has, read like the dumper; "" for the others */
};
void ms_table_counts_free(struct ms_table_count *t, size_t n);

#endif
