/*
 * The MariaDB/MySQL restore engine: replaces a live database with the
 * dump my_dump.c wrote into a snapshot (db/<alias>/schema-pre.sql, data
 * chunks, load.sql, schema-post.sql). MariaDB has no transactional DDL,
 * so the dump is loaded into a staging database beside the live one
 * ("msrestore_<pid>_<name>"), every table's rows and content digest are
 * recomputed there and compared with the manifest, and only then are the
 * live tables replaced, all at once, by one multi-table RENAME TABLE that
 * moves the live tables into a retired database ("msold_<pid>_<name>")
 * and the staging tables into the live one; the routines, views and
 * triggers are then created from schema-post.sql and the retired and
 * staging databases dropped. Any failure before the RENAME leaves the
 * live database untouched and drops the staging database; a failure
 * while creating the routines, views and triggers renames everything
 * back (see docs/mariadb.md for the one window that cannot be made
 * atomic: views and triggers cannot move between databases, so the live
 * ones are dropped just before the RENAME and recreated on failure).
 *
 * Privileges: CREATE and DROP on the staging and retired databases, and
 * ALTER, DROP, CREATE, INSERT on the live one (plus CREATE VIEW, TRIGGER,
 * CREATE ROUTINE, and SET USER/SUPER for definers other than oneself) —
 * what root has over the local socket on a Debian host. Modoboa's own
 * database user usually lacks the first: set `admin_user` in the
 * alias' config section. Data is loaded with LOAD DATA LOCAL INFILE
 * through a client-side handler that streams the archive member itself
 * (or a chunk read whole into one bounded buffer, loaded on a second
 * connection of the application's account in a thread meanwhile); the
 * file name the server asks for is only checked, never opened.
 */
#ifndef MS_MY_RESTORE_H
#define MS_MY_RESTORE_H

#include "db/dbconf.h"
#include "formats/manifest.h"
#include "restore/progress.h"

/* Replaces database db->name with the dump of `alias` in the archive at
 * `archive_path`, whose manifest `m` was already verified. Connects as
 * admin->user when `admin` (may be NULL) names one, else with db's
 * own login. Creates db->name (the snapshot's character set and
 * collation) when it does not exist, and with admin_user also db's
 * account when it does not exist (for the local socket or a loopback
 * HOST: created with db's password and all privileges on db->name). Returns 0, or -1 after logging an
 * error naming the alias (and the table or object), with the live
 * database as it was and no staging database left behind. */
/* Seconds a restore waits for a metadata lock (lock_wait_timeout) before
 * it gives up and puts everything back: [modosnap] lock_timeout, 60 by
 * default. */
void ms_my_restore_set_lock_timeout(int seconds);

int ms_my_restore_database(const struct ms_dbconf *db, const struct ms_db_admin *admin, const char *archive_path,
			   const struct ms_manifest *m, const char *alias, struct ms_progress *progress);

/* verify --deep: loads the dump's tables and data into a scratch
 * database "msverify_<pid>_<name>", compares every table's rows and
 * digest, and drops it (routines, views and triggers are not created).
 * Returns 0, -1 when the dump did not load or match (logged), or -2 when
 * no scratch database could be made (logged; not a verdict). progress
 * (may be NULL) counts the bytes loaded, like ms_my_restore_database's. */
int ms_my_verify_scratch(const struct ms_dbconf *db, const struct ms_db_admin *admin, const char *archive_path,
			 const struct ms_manifest *m, const char *alias, struct ms_progress *progress);

/* Recomputes the rows and digest of every table of `mdb` in the live
 * database db->name, inside one consistent snapshot (the tests' oracle
 * for a restored database; a restore itself proves the staging tables
 * before the swap and does not read them again). Returns 0 when all match, -1 after logging the first mismatch
 * or error. */
int ms_my_check_database(const struct ms_dbconf *db, const struct ms_db_admin *admin,
			 const struct ms_manifest_db *mdb);

struct ms_table_count;
/* The live database's base tables and their exact row counts (restore's
 * plan), connecting like ms_my_restore_database; a table `mdb` also has
 * gets its content digest too (every row read, inside one consistent
 * snapshot, as the dumper reads them). 0 with *out (free with
 * ms_table_counts_free) and *n, or -1 after logging. */
int ms_my_table_counts(const struct ms_dbconf *db, const struct ms_db_admin *admin, const struct ms_manifest_db *mdb,
		       struct ms_table_count **out, size_t *n);

#endif
