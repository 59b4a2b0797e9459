/*
 * The PostgreSQL dumper: one database, read inside one exported snapshot,
 * written as archive members — the pre-data schema and post-data schema
 * from pg_dump, every ordinary table's rows as COPY text chunks, and the
 * sequences' values as setval() calls. See docs/dev/design.md §3–§4.
 */
#ifndef MS_PG_DUMP_H
#define MS_PG_DUMP_H

#include <stddef.h>

#include "formats/entry.h"
#include "db/dbconf.h"
#include "formats/snaparchive.h"

/* One table's data as dumped. */
struct ms_pg_table {
	char *schema;          /* owned */
	char *name;            /* owned */
	long long rows;
	char digest[65];       /* ms_rowdigest hex of its COPY text lines */
	unsigned long chunks;  /* chunk members written (0 for no rows) */
};

/* What the dumper learned; every string owned (ms_pg_dump_clear frees). */
struct ms_pg_dump {
	char *server_version;  /* current_setting('server_version') */
	char *encoding;        /* the database's encoding (= client encoding used) */
	char *snapshot_id;     /* the exported snapshot */
	char *pg_dump_path;    /* the pg_dump binary used */
	struct ms_pg_table *tables; /* in schema/name order */
	size_t n_tables;
};

/* Dumps database `db` into archive members under `prefix` ("db/<alias>"):
 *   prefix/schema-pre.sql   pg_dump --schema-only --section=pre-data (exact bytes)
 *   prefix/data/<schema>.<table>/NNNNNN.copy  COPY text rows in row-aligned
 *       chunks of at most chunk_size bytes (a larger single row gets its own
 *       chunk), numbered from 000001, no "\." terminator; none for no rows
 *   prefix/sequences.sql    one `SELECT pg_catalog.setval('<name>', N, true|false);` per sequence
 *   prefix/schema-post.sql  pg_dump --schema-only --section=post-data
 * all from one REPEATABLE READ, READ ONLY transaction and its exported
 * snapshot. With parts > 1, a table whose heap holds 64 MiB or more (as
 * pg_class.relpages counted it at its last VACUUM or ANALYZE) is read on
 * `parts` more connections that import that snapshot, each reading a
 * range of its heap blocks (PostgreSQL 14 or later: pg_parcopy.h), once
 * all of them hold its lock (else, on the one connection); its chunks, of at most chunk_size/parts bytes, then
 * follow one another in the order the parts fill them, so its rows are in
 * another order than one COPY's, with the same digest. Each member is
 * reported to on_member (mode 0600, the caller's uid/gid, mtime now).
 * Memory is bounded by twice chunk_size plus the schema size. Returns 0 and fills *out (clear it with ms_pg_dump_clear), or -1
 * after logging an error naming the alias (and table/sequence where
 * relevant) with *out left empty. */
/* How long pg_dump waits for one table lock before it fails (its
 * --lock-wait-timeout): the configuration's lock_timeout; 60 s unless
 * set. */
void ms_pg_dump_set_lock_timeout(int seconds);

int ms_pg_dump_database(const struct ms_dbconf *db, struct ms_archive_writer *w, const char *prefix,
			size_t chunk_size, int parts, ms_member_cb on_member, void *ctx, struct ms_pg_dump *out);

/* Frees what hangs off d and zeroes it; a zeroed d is a no-op. */
void ms_pg_dump_clear(struct ms_pg_dump *d);

#endif
