/*
 * The PostgreSQL restore engine: replaces a live database with the dump
 * pg_dump.c wrote into a snapshot (db/<alias>/schema-pre.sql, data chunks,
 * sequences.sql, schema-post.sql) and recomputes every table's content
 * digest (FORMAT.md §7.4) before the result becomes live. Two ways: in
 * place, in one transaction on one connection, committing only when the
 * digests match; or staged (pg_stage.h), when a new database can be the
 * live one's equal: loaded on three connections into a staging database,
 * proved there, and renamed over the live one in one transaction. See
 * docs/dev/design.md §5 and docs/restore.md.
 *
 * What is dropped before loading, and why not DROP OWNED BY: DROP OWNED
 * also revokes the role's privileges on shared objects such as other
 * databases, and it fails outright for a superuser (objects required by
 * the system). Instead, inside the transaction, every schema outside the
 * system ones (pg_catalog, information_schema, pg_toast*, pg_temp*) is
 * dropped with CASCADE, except `public`, which pg_dump does not recreate
 * (it belongs to pg_database_owner): in it, the extensions, relations
 * (tables, views, materialized views, foreign tables, sequences),
 * routines (functions, procedures, aggregates) and types (domains, enums,
 * ranges, composite types) that are not members of an extension are
 * dropped with CASCADE. This needs only the rights of the database owner
 * that owns those objects (the usual Modoboa setup), no superuser. Objects
 * owned by another role, or of kinds not listed (operators, collations,
 * text search objects in `public`), make the drop or the load fail, and
 * the transaction is rolled back: the live database is never left half
 * replaced.
 */
#ifndef MS_PG_RESTORE_H
#define MS_PG_RESTORE_H

#include "db/dbconf.h"
#include "formats/manifest.h"
#include "restore/progress.h"

/* Replaces the content of the live database `db` with the dump of alias
 * `alias` in the archive at `archive_path`, whose manifest `m` was already
 * verified (ms_verify_archive); all arguments are borrowed. Staged when
 * ms_pg_stage_open allows it (as admin->user when set; `admin` may be
 * NULL), falling back to the restore in place when a check there fails.
 * In place, one transaction: pin the dumper's session settings (lock_timeout 60 s, and
 * client_connection_check_interval so that a killed modosnap leaves no
 * backend holding locks), drop what is there (see above), run
 * schema-pre.sql (every statement checked first by sqlcheck.h against
 * the connection's role, then run alone; pg_dump's `\restrict` lines
 * skipped), COPY every table's chunks streamed from the archive (memory
 * bounded by one read buffer plus the schema text), sequences.sql,
 * schema-post.sql, then recompute every table's rows and digest and
 * compare them with the manifest. Commits only when all match.
 * Returns 0, or -1 after logging an error naming the alias (and the table
 * where relevant, e.g. "database 'A': table 'S.N': digest differs from the
 * snapshot (rows N, expected M)"), with the transaction rolled back and
 * the live database unchanged. progress (may be NULL) counts the bytes
 * loaded and names the table being loaded. */
/* Seconds a restore waits for one lock before it gives up (the live
 * database unchanged): [modosnap] lock_timeout, 60 by default. */
#define MS_LOCK_TIMEOUT_DEFAULT 60
void ms_pg_restore_set_lock_timeout(int seconds);

int ms_pg_restore_database(const struct ms_dbconf *db, const struct ms_db_admin *admin, const char *archive_path,
			   const struct ms_manifest *m, const char *alias, struct ms_progress *progress);

/* Recomputes the rows and digest of every table of `mdb` in the live
 * database `db` (a check of a live database at any time; a restore does
 * not call it: ms_pg_restore_database proves inside its transaction what
 * its COMMIT makes visible), reading in
 * one REPEATABLE READ, READ ONLY transaction with the dumper's settings.
 * Returns 0 when all match, -1 after logging the first mismatch or error
 * (naming mdb->alias and the table). */
int ms_pg_check_database(const struct ms_dbconf *db, const struct ms_manifest_db *mdb);

struct ms_table_count;
/* The live database's ordinary tables (outside the system schemas) and
 * their exact row counts, for restore's plan; a table `mdb` also has with
 * the same count gets its content digest too (every row read; digest ""
 * otherwise), so that the plan shows content that changed while the count
 * did not. One REPEATABLE READ, READ ONLY transaction with the dumper's
 * settings. 0 with *out (free with ms_table_counts_free) and *n, or -1
 * after logging (e.g. no such database yet). */
int ms_pg_table_counts(const struct ms_dbconf *db, const struct ms_manifest_db *mdb, struct ms_table_count **out,
		       size_t *n);

#endif
