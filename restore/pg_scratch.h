/*
 * Scratch databases for `verify --deep`: an empty database beside the
 * live one, owned by the same role, into which a snapshot's dump is
 * restored and checked, then dropped. Nothing here touches the live
 * database.
 */
#ifndef MS_PG_SCRATCH_H
#define MS_PG_SCRATCH_H

#include "db/dbconf.h"

/* "KIND_<pid>_<live database name>", lowercased, every character but
 * a-z and 0-9 as '_', at most 60 bytes: the name of a database a run
 * makes beside the live one, which says whose it is and which process
 * made it (a stale one is found by name and pid). Caller frees. */
char *ms_pg_side_name(const char *kind, long pid, const char *live);

/* Creates "msverify_<pid>_<live database name>" (lowercased, other
 * characters as '_', at most 60 bytes; TEMPLATE template0, the given
 * encoding, C collation). With admin->user set (`admin` may be NULL),
 * as that role connected to db's database, the new database OWNER db's
 * role (the snapshot's SQL is then restored into it as that role, never
 * as the administrator); without, as db's own role (which then needs
 * CREATEDB). Returns the new database's name (caller frees), or NULL
 * after logging an error that says which privilege is missing. */
char *ms_pg_scratch_create(const struct ms_dbconf *db, const struct ms_db_admin *admin, const char *encoding);
/* Drops it again, connected the same way; 0, or -1 after logging. */
int ms_pg_scratch_drop(const struct ms_dbconf *db, const struct ms_db_admin *admin, const char *name);

/* Makes sure db's database exists before a restore onto a fresh server.
 * When db's own connection works, nothing is done. Otherwise, with
 * admin->user set (the config section's admin_user; `admin` may be NULL),
 * connects as that role to the maintenance database "postgres" on the same host and
 * port, creates db's role (LOGIN, with db's password) if missing and its
 * database (OWNER that role, TEMPLATE template0, `encoding`; C collation
 * for encodings other than UTF8) if missing. Without admin_user: an error
 * saying which config keys would do it. 0, or -1 after logging. */
int ms_pg_ensure_database(const struct ms_dbconf *db, const struct ms_db_admin *admin, const char *encoding);

#endif
