/*
 * The MariaDB/MySQL dumper: the databases of one or more DATABASES
 * aliases on one server, read through one connection inside one
 * `START TRANSACTION WITH CONSISTENT SNAPSHOT` (REPEATABLE READ), written
 * as archive members per alias (FORMAT.md §7.5):
 *   db/<alias>/schema-pre.sql   SET lines and SHOW CREATE TABLE of every table
 *   db/<alias>/data/<db>.<table>/NNNNNN.tsv   rows in LOAD DATA text format,
 *       row-aligned chunks of at most chunk_size bytes (a larger row gets
 *       its own chunk); none for an empty table
 *   db/<alias>/load.sql         the LOAD DATA LOCAL statements that load those
 *       chunks with the stock `mariadb` client (docs/mariadb.md)
 *   db/<alias>/schema-post.sql  routines, views (dependencies first), triggers
 * Tables of a non-transactional engine (MyISAM, Aria, ...) are read in
 * the same session but outside the snapshot's guarantees: each is
 * reported with a warning (exit 3).
 */
#ifndef MS_MY_DUMP_H
#define MS_MY_DUMP_H

#include <stdbool.h>
#include <stddef.h>

#include "db/dbconf.h"
#include "formats/snaparchive.h"

/* One table's data as dumped. */
struct ms_my_table {
	char *schema;         /* the database name (owned) */
	char *name;           /* owned */
	char *engine;         /* storage engine (owned) */
	bool transactional;
	long long rows;
	char digest[65];      /* ms_rowdigest hex of its data lines */
	unsigned long chunks; /* chunk members written */
};

/* What the dumper learned about one alias; strings owned. */
struct ms_my_dump {
	char *server_version; /* VERSION() */
	char *charset;        /* the database's default character set */
	char *collation;      /* and collation */
	struct ms_my_table *tables; /* in name order */
	size_t n_tables;
};

/* True when a and b (both mysql) reach the same server with the same
 * credentials, so that one connection and one transaction can read both. */
bool ms_my_same_login(const struct ms_dbconf *a, const struct ms_dbconf *b);

/* Dumps dbs[0..n) (all ms_my_same_login with dbs[0]) through one
 * connection and one consistent snapshot, alias by alias, into members
 * under "db/<alias>", reporting each to on_member (mode 0600, the
 * caller's uid/gid, mtime now). Memory is bounded by chunk_size plus the
 * schema text. Returns 0 with out[0..n) filled (clear each with
 * ms_my_dump_clear), or -1 after logging an error naming the alias (and
 * table) with every out[i] empty. */
int ms_my_dump_databases(const struct ms_dbconf *const *dbs, size_t n, struct ms_archive_writer *w,
			 size_t chunk_size, ms_member_cb on_member, void *ctx, struct ms_my_dump *out);

/* Frees what hangs off d and zeroes it; a zeroed d is a no-op. */
void ms_my_dump_clear(struct ms_my_dump *d);

#endif
