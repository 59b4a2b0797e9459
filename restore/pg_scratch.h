/*
 * Scratch databases for `verify --deep`: an empty database beside the
 * live one, owned by the same role, into which a snapshot's dump is
 * restored and checked, then dropped. Nothing here touches the live
 * database.
 */
#ifndef MS_PG_SCRATCH_H
#define MS_PG_SCRATCH_H

#include "instance.h"

/* Creates "msverify_<pid>_<live database name>" (lowercased, other
 * characters as '_', at most 60 bytes; TEMPLATE template0, the given encoding,
 * C collation) while connected to db's own database. Returns the new
 * database's name (caller frees), or NULL after logging an error that says
 * which privilege is missing. */
char *ms_pg_scratch_create(const struct ms_dbconf *db, const char *encoding);
/* Drops it again; 0, or -1 after logging. */
int ms_pg_scratch_drop(const struct ms_dbconf *db, const char *name);

#endif
