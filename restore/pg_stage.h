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
#include <stddef.h>

#include "db/dbconf.h"

struct pg_conn;

struct ms_pg_stage {
	const char *alias;    /* for messages (borrowed) */
	struct pg_conn *ctl;  /* the control connection (owned) */
	char *live;           /* the live database's name (owned) */
	char *name;           /* the staging database: msrestore_<pid>_<live> (owned) */
	char *old;            /* the live one after the swap: msold_<pid>_<live> (owned) */
	char *live_public;    /* the live public schema's properties (owned) */
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
 * The run holds an advisory lock (on the control connection) named after
 * its staging database; msrestore_<pid>_<live> and msold_<pid>_<live>
 * owned by the live database's owner whose lock nobody holds (an
 * interrupted run) are dropped first, with a warning. A failure to create
 * the staging database or give it the live one's GRANTs is a warning:
 * the restore goes on in place.
 * 1: created, st filled (ms_pg_stage_close releases it); 0: not possible,
 * the reason logged at debug level, st released; -1 after logging an
 * error (st released). */
int ms_pg_stage_open(struct ms_pg_stage *st, const struct ms_dbconf *db, const struct ms_db_admin *admin,
		     struct pg_conn *live, int lock_timeout_s);

/* After schema-pre.sql: whether the staging database's public schema has
 * the live one's owner, privileges and comment, as a restore in place
 * would have kept them. 1, 0 (the reason at debug level: restore in
 * place), -1 after logging. */
int ms_pg_stage_same_public(struct ms_pg_stage *st, struct pg_conn *staging);

/* Before the proof: no new session may connect to the staging database
 * (ALLOW_CONNECTIONS false, until the swap), and none but ours (`pids`,
 * the backends of our n connections) is there: what the proof reads is
 * then what the rename makes live. 0; 1 when another session is there
 * (a warning logged: restore in place); -1 after logging. */
int ms_pg_stage_seal(struct ms_pg_stage *st, const int *pids, size_t n);

/* Whether none but our backends (`pids`) is connected to the staging
 * database: once more after the proof, since a session that was starting
 * when it was closed may show only then. 0 alone, 1 not (a warning
 * logged: restore in place), -1 after logging. */
int ms_pg_stage_alone(struct ms_pg_stage *st, const int *pids, size_t n);

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

/* Tests' hooks, called by ms_pg_stage_swap before its transaction with
 * the live database's name, and by ms_pg_stage_seal before it closes the
 * staging database with that one's (NULL in the product). */
extern void (*ms_pg_stage_test_before_swap)(const char *live);
extern void (*ms_pg_stage_test_before_seal)(const char *staging);

#endif
