/*
 * The staging database of a parallel PostgreSQL restore (pg_restore.c):
 * whether one may be used, creating it beside the live database, swapping
 * it in by renaming both databases in one transaction, and dropping what
 * is left. Everything here runs on a "control" connection to the
 * maintenance database `postgres`, as admin_user when the config sets
 * one, else as the application's role; the dump itself is loaded into the
 * staging database by pg_restore.c as the application's role, as in a
 * restore in place. See docs/dev/perf-pg.md ("Parallel restore").
 */
#ifndef MS_PG_STAGE_H
#define MS_PG_STAGE_H

#include <stdbool.h>

#include "db/dbconf.h"

struct pg_conn;

struct ms_pg_stage {
	const char *alias;    /* for messages (borrowed) */
	struct pg_conn *ctl;  /* the control connection (owned) */
	char *live;           /* the live database's name (owned) */
	char *name;           /* the staging database: msrestore_<pid>_<live> (owned) */
	char *old;            /* the live one after the swap: msold_<pid>_<live> (owned) */
	bool created;         /* `name` exists and is ours to drop */
};

/* Decides whether the restore of db may go through a staging database and,
 * if so, creates it. `live` is the application's connection to the live
 * database (it is not closed); lock_timeout_s bounds the control
 * connection's lock waits. A staged restore
 * needs PostgreSQL 15 or later; a live database whose database-level
 * state a new one can be given: its owner, encoding, collation and
 * privileges (GRANT ... ON DATABASE, checked to come out the same), but
 * no ALTER DATABASE ... SET, comment, security label, connection limit,
 * tablespace other than the default or ICU locale; no other client session connected to it (the rename needs
 * none); and a control role allowed to create databases for that owner
 * and rename them (superuser, or CREATEDB and a member of the owner).
 * Databases msrestore_<pid>_<live> and msold_<pid>_<live> whose process
 * is gone (an interrupted run) are dropped first, with a warning.
 * 1: created, st filled (ms_pg_stage_close releases it); 0: not possible,
 * the reason logged at debug level, st released; -1 after logging an
 * error (st released). */
int ms_pg_stage_open(struct ms_pg_stage *st, const struct ms_dbconf *db, const struct ms_db_admin *admin,
		     struct pg_conn *live, int lock_timeout_s);

/* The swap: in one transaction, the live database is renamed to st->old
 * and the staging one to the live name; then st->old is dropped. Every
 * connection to the staging database must be closed before. 0 done; 1
 * when another session was connected to either database (the live one
 * unchanged, a warning logged; the caller may restore in place); -1 after
 * logging an error (the live one unchanged, unless the message says
 * otherwise). */
int ms_pg_stage_swap(struct ms_pg_stage *st);

/* Drops the staging database if it still exists (a failed or abandoned
 * run; every connection to it closed or ended by DROP ... WITH (FORCE)),
 * closes the control connection and frees st. */
void ms_pg_stage_close(struct ms_pg_stage *st);

/* A test's hook, called by ms_pg_stage_swap before its transaction
 * (NULL in the product). */
extern void (*ms_pg_stage_test_before_swap)(const char *live);

#endif
