/*
 * The PostgreSQL restore engine (see pg_restore.h). One libpq connection
 * pins the settings the dumper pinned, opens one transaction, empties the
 * database, replays the dump's members as it streams the archive once,
 * recomputes every table's content digest, and commits only when all of
 * them match the manifest. Any failure rolls the transaction back, so the
 * live database is either fully replaced or untouched.
 */
#include "restore/pg_restore.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/pg_conn.h"
#include "restore/dbreplay.h"
#include "restore/pg_stage.h"
#include "base/hash.h"
#include "base/log.h"
#include "db/rowdigest.h"
#include "formats/snaparchive.h"
#include "restore/sqlcheck.h"
#include "base/strbuf.h"
#include "base/util.h"

#define SCHEMA_MAX ((size_t)256 << 20) /* schema text we accept (as the dumper) */
#define READ_BUF ((size_t)64 << 10)    /* archive read buffer: bounds memory for data */

/* Longest wait for one lock ([modosnap] lock_timeout, as MariaDB's
 * lock_wait_timeout): set once by the command before any restore. */
static int lock_timeout_s = MS_LOCK_TIMEOUT_DEFAULT;

void ms_pg_restore_set_lock_timeout(int seconds)
{
	lock_timeout_s = seconds > 0 ? seconds : MS_LOCK_TIMEOUT_DEFAULT;
}

/* Where the member stream stands: the members of db/<alias>/ come in
 * this order (pg_dump.h). */
enum phase {
	PH_START,     /* nothing seen yet: schema-pre.sql next */
	PH_DATA,      /* schema-pre done: data chunks or sequences.sql next */
	PH_SEQUENCES, /* sequences done: schema-post.sql next */
	PH_DONE,      /* schema-post done: nothing else of ours may follow */
};

/* Connections that load tables besides the main one in a staged restore
 * (pg_stage.h): three tables load at once, as in my_restore.c. */
#define EXTRA_LANES 2
#define NO_TABLE ((size_t)-1)

struct restorer;

/* One connection that loads tables: the main one (its reader is the
 * replay's) or a lane, which has its own thread and its own reader of
 * the archive, and loads the tables assigned to it (owner[] is its number,
 * from 1). Each table is loaded by one connection only, in a transaction
 * of its own in a staged restore. A lane logs its own errors (base/log.c
 * is thread-safe); it stops at its next member once `stop` is set. */
struct loader {
	struct restorer *rs;         /* the run (borrowed) */
	PGconn *conn;                /* owned (the main loader's: rs's) */
	size_t cur;                  /* table whose COPY is open on conn, or NO_TABLE */
	char *buf;                   /* READ_BUF bytes (owned) */
	struct ms_archive_reader *r; /* borrowed while replaying */
	pthread_t thread;            /* lanes: */
	atomic_bool started;         /* running or not yet joined */
	atomic_bool failed;          /* stopped on an error (logged) */
	atomic_bool stop;            /* the main thread failed: stop */
	bool finished;               /* lanes: every chunk of its tables is in (it stops reading) */
	size_t tables;               /* tables loaded */
};

/* One restore run, passed to every step. */
struct restorer {
	const char *alias;                /* for messages, borrowed */
	const struct ms_manifest_db *mdb; /* the alias' record, borrowed */
	const char *archive;              /* borrowed */
	struct loader main;               /* the main connection: the live database's, or the staging one's */
	bool staged;                      /* loading a staging database (one transaction per step) */
	struct loader ld[EXTRA_LANES];    /* staged: the lanes (owner[] k + 1 is ld[k]) */
	unsigned char *owner;             /* per table: the loader that loads it, 0 for main (owned) */
	bool *passed;                     /* per table: its chunks are behind the main reader (owned) */
	size_t last_table;                /* the table of the main reader's last data member, or NO_TABLE */
	pthread_mutex_t ready_mu;         /* the lanes wait for the tables to exist: */
	pthread_cond_t ready_cv;
	bool ready;                       /* schema-pre.sql is committed (or the run is stopping) */
	const char *prefix;               /* "db/<alias>/" (owned by the caller) */
	char *role;                       /* current_user of the connection (owned) */
	enum phase phase;
	unsigned long *seen;              /* chunks loaded per table (owned) */
	bool *done;                       /* tables whose COPY has ended (owned) */
	struct ms_progress *progress;     /* the bytes and table loaded, or NULL (borrowed) */
	struct prover *pv;                /* staged: the proof's connections (owned, EXTRA_LANES + 1) */
	unsigned char *pown;              /* per table: the prover that reads it (owned) */
	unsigned n_provers;
	bool proving;                     /* proof_start'ed, not yet proof_finish'ed */
	bool main_proves;                 /* pv[0] is the main connection */
	atomic_bool proof_stop;
	struct ms_pg_stage *st;           /* staged: the staging database (borrowed) */
	bool in_place;                    /* staged: stopped to restore in place instead (said why) */
};

/* --- libpq helpers -------------------------------------------------------- */

/* Reports a failed result as ms_pg_error does, except that a lock wait
 * that lock_timeout ended says so (SQLSTATE 55P03). */
static int pg_res_error(PGconn *conn, const char *alias, const char *what, const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (state && !strcmp(state, "55P03")) {
		char *line = ms_pg_message(conn, res);

		ms_log_error("database '%s': %s: gave up after waiting %d s for a lock that another session holds "
			     "(see pg_stat_activity and pg_locks): %s", alias, what, lock_timeout_s, line);
		free(line);
		return -1;
	}
	return ms_pg_error(conn, alias, what, res);
}

/* Runs SQL returning no rows (possibly several statements): 0 or -1. */
static int pg_command(PGconn *conn, const char *alias, const char *sql, const char *what)
{
	return ms_pg_exec(conn, alias, sql, what, pg_res_error);
}

/* "schema"."name" quoted for SQL; caller frees. */
static char *qualified(PGconn *conn, const struct ms_manifest_table *t)
{
	char *s = PQescapeIdentifier(conn, t->schema, strlen(t->schema));
	char *n = PQescapeIdentifier(conn, t->name, strlen(t->name));
	char *q = s && n ? ms_xasprintf("%s.%s", s, n) : NULL;

	PQfreemem(s);
	PQfreemem(n);
	return q;
}

/* The dumper's session settings (ms_pg_pin_session) plus the client
 * encoding the rows were dumped in (NULL: the database's). A large COPY
 * may take hours and the session idles while the archive is read past
 * other members, but lock_timeout bounds each lock wait (an
 * idle-in-transaction session must not hold the restore, and the
 * application with it, forever), and a killed modosnap leaves no backend
 * holding locks (client_connection_check_interval). */
static int pin_session(PGconn *conn, const char *alias, const char *encoding)
{
	return ms_pg_pin_session(conn, alias, lock_timeout_s, true, encoding, pg_res_error);
}

/* --- digests -------------------------------------------------------------- */

static int digest_row(void *ctx, const char *row, size_t len)
{
	ms_rowdigest_add(ctx, row, len);
	return 0;
}

/* Reads every row of table t as the dumper did: *rows and hex (65 bytes). */
static int table_digest(PGconn *conn, const char *alias, const struct ms_manifest_table *t, long long *rows,
			char *hex)
{
	char *q = qualified(conn, t);
	char *sql = ms_xasprintf("COPY %s TO STDOUT", q ? q : "?");
	char *what = ms_xasprintf("table '%s.%s': reading", t->schema, t->name);
	struct ms_rowdigest dg;
	int ret;

	ms_rowdigest_init(&dg);
	/* a row-level security policy must not hide rows from the proof: with
	 * row_security off, a read it would filter fails instead (the dump's
	 * SQL may set it, to off only: sqlcheck.c) */
	ret = pg_command(conn, alias, "SET row_security = off", "setting row_security");
	if (ret == 0)
		ret = ms_pg_copy_out(conn, alias, sql, what, digest_row, &dg);
	ms_rowdigest_hex(&dg, hex);
	*rows = dg.rows;
	free(q);
	free(sql);
	free(what);
	return ret;
}

/* Recomputes one table's rows and digest and compares with the manifest. */
static int check_table(PGconn *conn, const char *alias, const struct ms_manifest_table *t)
{
	char hex[65];
	long long rows;

	if (table_digest(conn, alias, t, &rows, hex) < 0)
		return -1;
	if (rows != t->rows || strcmp(hex, t->digest) != 0)
		return ms_log_error("database '%s': table '%s.%s': digest differs from the snapshot (rows %lld, "
				    "expected %lld)", alias, t->schema, t->name, rows, t->rows);
	return 0;
}

static int check_tables(PGconn *conn, const struct ms_manifest_db *mdb)
{
	for (size_t i = 0; i < mdb->n_tables; i++)
		if (check_table(conn, mdb->alias, &mdb->tables[i]) < 0)
			return -1;
	return 0;
}

/* --- schema-post.sql on several connections (staged) --------------------- */

static int begin(struct loader *l);

/* Runs statement i of a checked script on conn (its timeouts skipped). */
static int run_stmt(struct restorer *rs, PGconn *conn, const char *path, const struct ms_sql_script *script, size_t i)
{
	char *stmt, *what;
	int rc;

	if (script->v[i].skip)
		return 0;
	stmt = ms_xstrndup(script->v[i].text, script->v[i].len);
	what = ms_xasprintf("'%s': statement %zu", path, i + 1);
	rc = ms_pg_exec_one(conn, rs->alias, stmt, what, pg_res_error);
	free(stmt);
	free(what);
	return rc;
}

/* The statements on one table (MS_SQL_ON_TABLE), in the script's order. */
struct post_group {
	const char *on;   /* borrowed from the script */
	size_t *stmt;     /* their indexes (owned) */
	size_t n;
	long long rows;   /* the table's rows in the manifest: the largest go first */
};

/* One run of the groups: each connection takes the next group until none
 * is left or one failed. */
struct post_run {
	struct restorer *rs;
	const char *path;
	const struct ms_sql_script *script;
	struct post_group *g;
	size_t ng;
	atomic_size_t next;
	atomic_bool failed;
};

struct post_worker {
	struct post_run *pr;
	PGconn *conn; /* borrowed */
	pthread_t thread;
};

static int pin_session(PGconn *conn, const char *alias, const char *encoding);

/* Every connection of a staged restore starts each step from the same
 * session: RESET ALL, the dumper's settings, and ours (begin() sets the
 * same per transaction). 0, or -1 after logging. */
static int fresh_session(struct restorer *rs, PGconn *conn)
{
	if (pg_command(conn, rs->alias, "RESET ALL", "resetting the session") < 0 ||
	    pin_session(conn, rs->alias, rs->mdb->encoding) < 0)
		return -1;
	return pg_command(conn, rs->alias, "SET search_path = pg_catalog; SET client_min_messages = warning; "
			  "SET check_function_bodies = false; SET row_security = off", "setting session options");
}

/* Before each statement of a group, the connection gets the settings the
 * script made before it (from a fresh session for each group: the session
 * then is as the script's order has it at that point, whichever
 * connection runs the group). */
static void *post_work(void *arg)
{
	struct post_worker *w = arg;
	struct post_run *pr = w->pr;
	const struct ms_sql_script *sc = pr->script;

	while (!atomic_load(&pr->failed)) {
		size_t gi = atomic_fetch_add(&pr->next, 1), from = 0;
		const struct post_group *g;

		if (gi >= pr->ng)
			break;
		g = &pr->g[gi];
		if (fresh_session(pr->rs, w->conn) < 0) {
			atomic_store(&pr->failed, true);
			break;
		}
		for (size_t j = 0; j < g->n && !atomic_load(&pr->failed); j++) {
			int rc = 0;

			for (size_t i = from; rc == 0 && i < g->stmt[j]; i++)
				if (sc->v[i].kind == MS_SQL_SETTING)
					rc = run_stmt(pr->rs, w->conn, pr->path, sc, i);
			if (rc == 0)
				rc = run_stmt(pr->rs, w->conn, pr->path, sc, g->stmt[j]);
			if (rc < 0)
				atomic_store(&pr->failed, true);
			from = g->stmt[j] + 1;
		}
	}
	return NULL;
}

static int cmp_group(const void *a, const void *b)
{
	const struct post_group *x = a, *y = b;

	return x->rows < y->rows ? 1 : x->rows > y->rows ? -1 : 0;
}

/* The manifest's rows for the table a group is on (0 when unknown). */
static long long group_rows(const struct ms_manifest_db *mdb, const char *on)
{
	for (size_t i = 0; i < mdb->n_tables; i++) {
		const struct ms_manifest_table *t = &mdb->tables[i];
		size_t sl = strlen(t->schema);

		if (!strncmp(on, t->schema, sl) && on[sl] == '\x1f' && !strcmp(on + sl + 1, t->name))
			return t->rows;
	}
	return 0;
}

/* Staged: the indexes and the constraints on one table each (primary
 * keys, unique, check and exclusion constraints: MS_SQL_ON_TABLE) are
 * built on the three connections at once, a table's statements on one
 * connection in their order, each statement committed alone (the staging
 * database is nobody else's, and a failure drops it); pg_restore -j does
 * the same with pg_dump's dependencies. The rest of the script (foreign
 * keys, triggers, comments, ...) then runs in its order in the caller's
 * transaction: nothing of that kind is needed by the statements moved
 * ahead, which need their table only. 0, or -1 after logging. */
/* The staging database's plain tables that no inheritance ties to another
 * (neither partitioned, nor a partition, nor a parent or child), as
 * "schema\x1fname" lines: a statement on one of them touches that table
 * alone. NULL after logging. */
static char *plain_tables(struct restorer *rs)
{
	char *list = ms_pg_value(rs->main.conn, rs->alias,
				 "SELECT coalesce(pg_catalog.string_agg(n.nspname || chr(31) || c.relname || chr(10), ''), '') "
				 "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
				 "WHERE c.relkind = 'r' AND NOT c.relispartition AND NOT c.relhassubclass "
				 "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid "
				 "OR i.inhparent = c.oid)",
				 "listing the tables", pg_res_error);
	char *s = list ? ms_xasprintf("\n%s", list) : NULL;

	free(list);
	return s;
}

/* Whether statement i is one the groups run: MS_SQL_ON_TABLE, on a table
 * of `plain` ("\n" + lines), and before the script's first statement that
 * is neither that, a setting nor a comment (what follows such a statement
 * may depend on it, or it on what went before: it all runs in order). */
static bool grouped(const struct ms_sql_script *script, size_t i, const char *plain, size_t barrier)
{
	char *line;
	bool in;

	if (i >= barrier || script->v[i].kind != MS_SQL_ON_TABLE)
		return false;
	line = ms_xasprintf("\n%s\n", script->v[i].on);
	in = strstr(plain, line) != NULL;
	free(line);
	return in;
}

static int run_post_parallel(struct restorer *rs, const char *path, const struct ms_sql_script *script, bool *ran)
{
	struct post_run pr = { .rs = rs, .path = path, .script = script };
	struct post_worker w[EXTRA_LANES + 1];
	bool threaded[EXTRA_LANES + 1] = { false };
	int conns = 1;
	size_t barrier = 0;
	char *plain = plain_tables(rs);

	if (!plain)
		return -1;
	while (barrier < script->n && (script->v[barrier].kind == MS_SQL_ON_TABLE ||
				       script->v[barrier].kind == MS_SQL_SETTING ||
				       script->v[barrier].kind == MS_SQL_COMMENT))
		barrier++;
	for (size_t i = 0; i < script->n; i++) {
		size_t k;

		ran[i] = grouped(script, i, plain, barrier);
		if (!ran[i])
			continue;
		for (k = 0; k < pr.ng && strcmp(pr.g[k].on, script->v[i].on) != 0; k++)
			;
		if (k == pr.ng) {
			pr.g = ms_xrealloc(pr.g, (pr.ng + 1) * sizeof(*pr.g));
			pr.g[k] = (struct post_group){ .on = script->v[i].on, .rows = group_rows(rs->mdb, script->v[i].on) };
			pr.ng++;
		}
		pr.g[k].stmt = ms_xrealloc(pr.g[k].stmt, (pr.g[k].n + 1) * sizeof(*pr.g[k].stmt));
		pr.g[k].stmt[pr.g[k].n++] = i;
	}
	if (pr.ng > 1)
		qsort(pr.g, pr.ng, sizeof(*pr.g), cmp_group);
	atomic_init(&pr.next, 0);
	atomic_init(&pr.failed, false);
	for (size_t k = 1; k <= EXTRA_LANES && pr.ng > 1; k++) {
		w[k] = (struct post_worker){ .pr = &pr, .conn = rs->ld[k - 1].conn };
		threaded[k] = w[k].conn && ms_thread_start(&w[k].thread, post_work, &w[k]) == 0;
	}
	w[0] = (struct post_worker){ .pr = &pr, .conn = rs->main.conn };
	post_work(&w[0]);
	for (size_t k = 1; k <= EXTRA_LANES; k++)
		if (threaded[k]) {
			pthread_join(w[k].thread, NULL);
			conns++;
		}
	for (size_t k = 0; k < pr.ng; k++)
		free(pr.g[k].stmt);
	free(pr.g);
	free(plain);
	/* the in-order rest starts from a fresh session too */
	if (!atomic_load(&pr.failed) && fresh_session(rs, rs->main.conn) < 0)
		return -1;
	if (pr.ng)
		ms_log_debug("database '%s': '%s': the keys and indexes of %zu table(s) built on %d connection(s)",
			     rs->alias, path, pr.ng, conns);
	return atomic_load(&pr.failed) ? -1 : 0;
}

/* --- schema members ------------------------------------------------------- */

/* Reads the current member (at most SCHEMA_MAX bytes), checks it
 * (sqlcheck.h) and runs its statements one by one, on the main
 * connection, inside its transaction. With `parallel` (staged
 * schema-post.sql), the statements on one table each are run first, on
 * several connections, outside it (run_post_parallel). */
static int run_sql_member(struct restorer *rs, const char *path, bool parallel)
{
	struct loader *l = &rs->main;
	struct ms_strbuf sb = MS_STRBUF_INIT;
	struct ms_sql_script script = { 0 };
	struct ms_sqlcheck chk = { MS_SQL_POSTGRESQL, rs->alias, path, rs->role, NULL };
	bool *ran = NULL; /* statements the parallel part ran */
	ssize_t n;
	int ret = -1;

	while ((n = ms_archive_reader_read(l->r, l->buf, READ_BUF)) > 0) {
		if (sb.len + (size_t)n > SCHEMA_MAX) {
			ms_log_error("database '%s': '%s' exceeds %zu MiB", rs->alias, path, SCHEMA_MAX >> 20);
			goto out;
		}
		ms_strbuf_add(&sb, l->buf, (size_t)n);
	}
	if (n < 0)
		goto out;
	if (ms_sqlcheck_script(&chk, ms_strbuf_str(&sb), sb.len, &script) < 0)
		goto out;
	ran = ms_xcalloc(script.n + 1, sizeof(*ran));
	if (parallel && (pg_command(l->conn, rs->alias, "COMMIT", "committing sequences.sql") < 0 ||
			 run_post_parallel(rs, path, &script, ran) < 0 || begin(l) < 0))
		goto out;
	for (size_t i = 0; i < script.n; i++) {
		if (ran[i])
			continue;
		if (run_stmt(rs, l->conn, path, &script, i) < 0)
			goto out;
		/* The checker lets no COMMIT through; make sure all the same. */
		if (PQtransactionStatus(l->conn) != PQTRANS_INTRANS) {
			ms_log_error("database '%s': '%s' ended the restore transaction", rs->alias, path);
			goto out;
		}
	}
	ret = 0;
out:
	free(ran);
	ms_sql_script_clear(&script);
	ms_strbuf_release(&sb);
	return ret;
}

/* The transaction every step of ours runs in (in place: the whole
 * restore). search_path: the drop list's regprocedure/regtype text is
 * then schema-qualified; pg_dump's SQL sets its own. */
static int begin(struct loader *l)
{
	if (pg_command(l->conn, l->rs->alias, "BEGIN ISOLATION LEVEL READ COMMITTED, READ WRITE",
		       "starting the transaction") < 0)
		return -1;
	return pg_command(l->conn, l->rs->alias,
			  "SET LOCAL search_path = pg_catalog; SET LOCAL client_min_messages = warning; "
			  "SET LOCAL check_function_bodies = false; SET LOCAL row_security = off",
			  "setting transaction options");
}

/* --- table data ----------------------------------------------------------- */

/* ANALYZE of a table loaded, after the data and before schema-post: the
 * planner then knows the new tables (row counts, and pages all-visible
 * after COPY FREEZE) when it plans schema-post's foreign key checks;
 * without, it probed msgs' key once per msgrcpt row (20 s at 4 M msgs)
 * rather than merge both keys (2.4 s). The statistics are committed with
 * the restore, so the application does not start on a database without
 * any, as it does after pg_restore. */
static int analyze(struct loader *l, size_t ti)
{
	const struct ms_manifest_table *t = &l->rs->mdb->tables[ti];
	char *q = qualified(l->conn, t), *sql, *what;
	int rc;

	if (!q)
		return ms_pg_error(l->conn, l->rs->alias, "quoting a table name", NULL);
	sql = ms_xasprintf("ANALYZE %s", q);
	what = ms_xasprintf("table '%s.%s': analyzing", t->schema, t->name);
	rc = pg_command(l->conn, l->rs->alias, sql, what);
	free(q);
	free(sql);
	free(what);
	return rc;
}

/* Ends the COPY in progress on l, if any; in a staged restore, commits
 * the table's transaction and analyzes it. */
static int end_copy(struct loader *l)
{
	struct restorer *rs = l->rs;
	const struct ms_manifest_table *t;
	size_t ti = l->cur;
	PGresult *res;
	int ret = 0;

	if (ti == NO_TABLE)
		return 0;
	t = &rs->mdb->tables[ti];
	rs->done[ti] = true;
	l->cur = NO_TABLE;
	if (PQputCopyEnd(l->conn, NULL) != 1)
		ret = -1;
	while ((res = PQgetResult(l->conn)) != NULL) {
		if (ret == 0 && PQresultStatus(res) != PGRES_COMMAND_OK)
			ret = -1;
		if (ret < 0 && PQresultStatus(res) == PGRES_FATAL_ERROR) {
			char *what = ms_xasprintf("table '%s.%s': loading", t->schema, t->name);

			ms_pg_error(l->conn, rs->alias, what, res);
			free(what);
			PQclear(res);
			while ((res = PQgetResult(l->conn)) != NULL)
				PQclear(res);
			return -1;
		}
		PQclear(res);
	}
	if (ret < 0) {
		char *what = ms_xasprintf("table '%s.%s': loading", t->schema, t->name);

		ms_pg_error(l->conn, rs->alias, what, NULL);
		free(what);
		return -1;
	}
	if (rs->staged) {
		char *what = ms_xasprintf("table '%s.%s': committing its load", t->schema, t->name);

		ret = pg_command(l->conn, rs->alias, "COMMIT", what);
		free(what);
		if (ret == 0)
			ret = analyze(l, ti);
	}
	return ret;
}

/* Aborts a COPY in progress after a failure on our side. */
static void abort_copy(struct loader *l)
{
	PGresult *res;

	if (l->cur == NO_TABLE || !l->conn)
		return;
	l->cur = NO_TABLE;
	if (PQputCopyEnd(l->conn, "restore aborted") == 1)
		while ((res = PQgetResult(l->conn)) != NULL)
			PQclear(res);
}

/* Whether table q (quoted, qualified) is a plain table (relkind 'r') that
 * no extension owns and, with `created`, whose pg_class row this
 * transaction wrote (it created the table, or emptied it with TRUNCATE).
 * Such a table may be loaded with COPY ... FREEZE: its rows are then
 * written frozen and the pages all-visible, so the foreign key checks of
 * schema-post.sql and the proof read the table's indexes without
 * visiting its heap for every row (docs/performance.md: msgrcpt's key to
 * msgs, 4.4 s -> 0.5 s at scale 1; PostgreSQL 13 and older freeze the
 * rows but set no visibility map bits). No other session can see a table
 * created by an uncommitted transaction before the commit (after it, as
 * for any table the restore dropped and made again, an older snapshot
 * sees the new rows). An extension's table is left to a plain COPY by
 * choice (and is never emptied: CREATE EXTENSION may have filled it).
 * 1 yes, 0 no, -1 after logging. */
static int freezable(struct loader *l, const char *q, const char *what, bool created)
{
	const char *params[1] = { q };
	char *sql = ms_xasprintf("SELECT c.relkind = 'r'%s AND NOT EXISTS ("
				 "SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = "
				 "'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid AND d.deptype = 'e') "
				 "FROM pg_catalog.pg_class c WHERE c.oid = $1::pg_catalog.regclass",
				 created ? " AND c.xmin::pg_catalog.text = "
					   "(pg_catalog.txid_current() % 4294967296)::pg_catalog.text" : "");
	PGresult *res = ms_pg_rows(l->conn, l->rs->alias, sql, 1, params, what, pg_res_error);
	int ret;

	free(sql);
	if (!res)
		return -1;
	ret = PQntuples(res) == 1 && !strcmp(PQgetvalue(res, 0, 0), "t");
	PQclear(res);
	return ret;
}

/* Opens the COPY of table ti on l. In a staged restore the table gets a
 * transaction of its own, emptied first (it is empty: schema-pre.sql
 * made it) so that the COPY may FREEZE. */
static int start_copy(struct loader *l, size_t ti)
{
	struct restorer *rs = l->rs;
	const struct ms_manifest_table *t = &rs->mdb->tables[ti];
	char *q = qualified(l->conn, t), *sql = NULL;
	char *what = ms_xasprintf("table '%s.%s': loading", t->schema, t->name);
	PGresult *res;
	int freeze = 0, ok = 0;

	if (!q) {
		ms_pg_error(l->conn, rs->alias, "quoting a table name", NULL);
		goto out;
	}
	if (rs->staged) {
		if (begin(l) < 0 || (freeze = freezable(l, q, what, false)) < 0)
			goto out;
		if (freeze) {
			sql = ms_xasprintf("TRUNCATE ONLY %s", q);
			if (pg_command(l->conn, rs->alias, sql, what) < 0)
				goto out;
			free(sql);
		}
	} else if ((freeze = freezable(l, q, what, true)) < 0) {
		goto out;
	}
	sql = ms_xasprintf("COPY %s FROM STDIN%s", q, freeze ? " (FREEZE)" : "");
	res = PQexec(l->conn, sql);
	ok = PQresultStatus(res) == PGRES_COPY_IN;
	if (!ok)
		pg_res_error(l->conn, rs->alias, what, res);
	else if (freeze)
		ms_log_debug("database '%s': table '%s.%s': loaded frozen", rs->alias, t->schema, t->name);
	PQclear(res);
	if (ok) {
		l->cur = ti;
		l->tables++;
	}
out:
	free(q);
	free(sql);
	free(what);
	return ok ? 0 : -1;
}

/* rel is "data/<schema>.<name>/NNNNNN.copy": stream it into its table on
 * l (a chunk of another table ends the current COPY first). */
static int load_chunk(struct loader *l, const char *path, const char *rel)
{
	struct restorer *rs = l->rs;
	size_t ti;
	ssize_t n;

	if (ms_db_chunk(rs->mdb, rs->alias, path, rel, ".copy", rs->seen, &ti) < 0)
		return -1;
	ms_progress_table(rs->progress, ti);
	if (ti != l->cur) {
		if (end_copy(l) < 0)
			return -1;
		if (rs->done[ti])
			return ms_log_error("database '%s': member '%s' is out of order", rs->alias, path);
		if (start_copy(l, ti) < 0)
			return -1;
	}
	while ((n = ms_archive_reader_read(l->r, l->buf, READ_BUF)) > 0) {
		if (PQputCopyData(l->conn, l->buf, (int)n) != 1) {
			char *what = ms_xasprintf("table '%s.%s': loading", rs->mdb->tables[ti].schema,
						  rs->mdb->tables[ti].name);

			ms_pg_error(l->conn, rs->alias, what, NULL);
			free(what);
			return -1;
		}
	}
	return n < 0 ? -1 : 0;
}

/* --- lanes (staged restore) ----------------------------------------------- */

/* The lane that loads the table of data member rel, or NULL (main). */
static struct loader *lane_of(struct restorer *rs, const char *rel)
{
	struct loader *l;
	size_t ti;

	if (!rs->staged || ms_db_chunk_table(rs->mdb, rel, ".copy", &ti) < 0 || !rs->owner[ti])
		return NULL;
	l = &rs->ld[rs->owner[ti] - 1];
	return atomic_load(&l->started) ? l : NULL;
}

/* Lets the lanes load (the tables exist), or wakes them to stop. */
static void lanes_release(struct restorer *rs)
{
	pthread_mutex_lock(&rs->ready_mu);
	rs->ready = true;
	pthread_cond_broadcast(&rs->ready_cv);
	pthread_mutex_unlock(&rs->ready_mu);
}

static int lane_member(void *ctx, struct ms_archive_reader *r, const char *path)
{
	struct loader *l = ctx;
	struct restorer *rs = l->rs;
	const char *rel = path + strlen(rs->prefix);

	if (atomic_load(&l->stop))
		return -1;
	/* anything else is another loader's, or the main thread's to report */
	if (strncmp(rel, "data/", 5) != 0 || lane_of(rs, rel) != l)
		return 0;
	pthread_mutex_lock(&rs->ready_mu);
	while (!rs->ready)
		pthread_cond_wait(&rs->ready_cv, &rs->ready_mu);
	pthread_mutex_unlock(&rs->ready_mu);
	if (atomic_load(&l->stop))
		return -1;
	l->r = r;
	if (load_chunk(l, path, rel) < 0)
		return -1;
	/* the rest of the archive is not this lane's: stop reading it */
	for (size_t i = 0; i < rs->mdb->n_tables; i++)
		if (rs->owner[i] == (unsigned char)(l - rs->ld + 1) && rs->seen[i] < rs->mdb->tables[i].chunks)
			return 0;
	l->finished = true;
	atomic_store(&l->stop, true);
	return 0;
}

static void *lane_run(void *arg)
{
	struct loader *l = arg;
	struct restorer *rs = l->rs;

	int rc = ms_db_replay_until(rs->archive, rs->prefix, rs->alias, lane_member, l, rs->progress, &l->stop);

	l->r = NULL;
	if (rc < 0 && !l->finished)
		atomic_store(&l->failed, !atomic_load(&l->stop));
	else if (end_copy(l) < 0)
		atomic_store(&l->failed, true);
	return NULL;
}

/* Starts the lanes with the main thread's replay (see my_restore.c): they
 * wait at their first table's first chunk until schema-pre.sql is
 * committed. The main thread loads the tables of a lane that cannot
 * start. Their threads start with every signal blocked. */
static void lanes_start(struct restorer *rs)
{
	for (size_t k = 0; k < EXTRA_LANES; k++) {
		struct loader *l = &rs->ld[k];

		atomic_store(&l->started, l->conn != NULL);
		if (l->conn && ms_thread_start(&l->thread, lane_run, l) < 0)
			atomic_store(&l->started, false);
	}
}

/* Waits for the lanes; with `stop`, tells them to stop first. 0, or -1
 * when one failed (it logged why). */
static int lanes_join(struct restorer *rs, bool stop)
{
	int ret = 0;

	stop = stop || !rs->ready;
	for (size_t k = 0; stop && k < EXTRA_LANES; k++)
		atomic_store(&rs->ld[k].stop, true);
	if (stop)
		lanes_release(rs);
	for (size_t k = 0; k < EXTRA_LANES; k++) {
		struct loader *l = &rs->ld[k];

		if (!atomic_load(&l->started))
			continue;
		pthread_join(l->thread, NULL);
		atomic_store(&l->started, false);
		if (atomic_load(&l->failed))
			ret = -1;
	}
	return ret;
}


/* --- the member stream ---------------------------------------------------- */

/* In place: ANALYZE of every table loaded (see analyze()), in the
 * restore's transaction. */
static int analyze_loaded(struct restorer *rs)
{
	for (size_t i = 0; i < rs->mdb->n_tables; i++)
		if (rs->done[i] && analyze(&rs->main, i) < 0)
			return -1;
	return 0;
}

static int bad_order(struct restorer *rs, const char *path)
{
	return ms_log_error("database '%s': member '%s' is out of order", rs->alias, path);
}

/* A data member, for the main thread, which sees them all: a table's
 * chunks must follow each other (FORMAT.md §4.3). Loaded on main unless
 * a lane loads it. */
static int main_chunk(struct restorer *rs, const char *path, const char *rel)
{
	size_t ti;

	if (rs->staged && ms_db_chunk_table(rs->mdb, rel, ".copy", &ti) == 0 && ti != rs->last_table) {
		if (rs->passed[ti])
			return bad_order(rs, path);
		if (rs->last_table != NO_TABLE)
			rs->passed[rs->last_table] = true;
		rs->last_table = ti;
	}
	if (lane_of(rs, rel))
		return 0;
	return load_chunk(&rs->main, path, rel);
}

/* The data is in: in place, analyze it in the transaction; staged, wait
 * for the lanes and open the transaction of sequences.sql and
 * schema-post.sql. */
static int data_done(struct restorer *rs)
{
	if (end_copy(&rs->main) < 0)
		return -1;
	int conns = rs->main.tables > 0;

	if (!rs->staged)
		return analyze_loaded(rs);
	if (lanes_join(rs, false) < 0)
		return -1;
	for (size_t k = 0; k < EXTRA_LANES; k++)
		conns += rs->ld[k].tables > 0;
	ms_log_debug("database '%s': the tables loaded on %d connection(s) at once", rs->alias, conns);
	return begin(&rs->main);
}

/* What a staging check said (0 go on, 1 restore in place: said why, -1
 * failed: logged): 0 to go on, else -1 with rs->in_place set for 1. */
static int stage_check(struct restorer *rs, int rc)
{
	if (rc == 1)
		rs->in_place = true;
	return rc == 0 ? 0 : -1;
}

/* Staged schema-pre.sql: committed, the public schema compared with the
 * live one's, then the lanes may load. */
static int staged_pre(struct restorer *rs, const char *path)
{
	int same;

	if (begin(&rs->main) < 0 || run_sql_member(rs, path, false) < 0 ||
	    pg_command(rs->main.conn, rs->alias, "COMMIT", "committing schema-pre.sql") < 0)
		return -1;
	same = ms_pg_stage_same_public(rs->st, rs->main.conn);
	if (stage_check(rs, same < 0 ? -1 : !same) < 0)
		return -1;
	lanes_release(rs);
	return 0;
}

/* One member of ours (path starts with rs->prefix). */
static int restore_member(struct restorer *rs, const char *path)
{
	const char *rel = path + strlen(rs->prefix);

	if (!strcmp(rel, "schema-pre.sql")) {
		if (rs->phase != PH_START)
			return bad_order(rs, path);
		rs->phase = PH_DATA;
		return rs->staged ? staged_pre(rs, path) : run_sql_member(rs, path, false);
	}
	if (!strncmp(rel, "data/", 5)) {
		if (rs->phase != PH_DATA)
			return bad_order(rs, path);
		return main_chunk(rs, path, rel);
	}
	if (!strcmp(rel, "sequences.sql")) {
		if (rs->phase != PH_DATA)
			return bad_order(rs, path);
		if (data_done(rs) < 0)
			return -1;
		rs->phase = PH_SEQUENCES;
		return run_sql_member(rs, path, false);
	}
	if (!strcmp(rel, "schema-post.sql")) {
		if (rs->phase != PH_SEQUENCES)
			return bad_order(rs, path);
		rs->phase = PH_DONE;
		return run_sql_member(rs, path, rs->staged);
	}
	return ms_log_error("database '%s': unexpected member '%s'", rs->alias, path);
}

static int on_member(void *ctx, struct ms_archive_reader *r, const char *path)
{
	struct restorer *rs = ctx;

	for (size_t k = 0; rs->staged && k < EXTRA_LANES; k++)
		if (atomic_load(&rs->ld[k].failed))
			return -1; /* it said why */
	rs->main.r = r;
	return restore_member(rs, path);
}

/* Streams the archive once, replaying the members of our alias. */
static int replay_archive(struct restorer *rs)
{
	int rc;

	if (rs->staged)
		lanes_start(rs);
	rc = ms_db_replay(rs->archive, rs->prefix, rs->alias, on_member, rs, rs->progress);
	rs->main.r = NULL;
	if (rc < 0)
		return -1;
	if (rs->phase != PH_DONE)
		return ms_log_error("database '%s': the snapshot's dump is incomplete", rs->alias);
	return ms_db_check_chunks(rs->mdb, rs->alias, rs->seen);
}

/* --- the proof of a staged restore ---------------------------------------- */

/* One connection proving the tables whose rs->pown[] is its number. */
struct prover {
	struct restorer *rs;
	PGconn *conn;  /* borrowed; NULL: no thread (proved by proof_finish) */
	unsigned num;
	pthread_t thread;
	int ret;
};

static void *prove_run(void *arg)
{
	struct prover *p = arg;
	struct restorer *rs = p->rs;

	p->ret = fresh_session(rs, p->conn); /* what schema-post.sql set is gone */
	for (size_t i = 0; i < rs->mdb->n_tables && p->ret == 0 && !atomic_load(&rs->proof_stop); i++)
		if (rs->pown[i] == p->num)
			p->ret = check_table(p->conn, rs->alias, &rs->mdb->tables[i]);
	return NULL;
}

/* A prover's thread: its row hashing's per-thread context goes with it. */
static void *prove_thread(void *arg)
{
	prove_run(arg);
	ms_sha256_thread_end();
	return NULL;
}

/* Starts the proof of every table, the tables shared out over the lanes'
 * connections (each in a thread) and, with `main_too`, the main one
 * (proved in proof_finish). Staged only: the data is committed. A lane's
 * tables go to the others when it has no connection. Nothing started
 * (no lane, and not main_too): rs->proving stays false. */
static void proof_start(struct restorer *rs, bool main_too)
{
	unsigned n = 0;

	rs->n_provers = 0;
	if (main_too)
		rs->pv[n++] = (struct prover){ .rs = rs, .conn = rs->main.conn, .num = 0, .ret = -1 };
	for (size_t k = 0; k < EXTRA_LANES; k++)
		if (rs->ld[k].conn) {
			rs->pv[n] = (struct prover){ .rs = rs, .conn = rs->ld[k].conn, .num = n, .ret = -1 };
			n++;
		}
	if (n == 0)
		return;
	ms_db_assign_lanes(rs->mdb, n, rs->pown);
	atomic_store(&rs->proof_stop, false);
	for (unsigned k = main_too ? 1 : 0; k < n; k++)
		if (ms_thread_start(&rs->pv[k].thread, prove_thread, &rs->pv[k]) < 0)
			rs->pv[k].conn = NULL;
	rs->n_provers = n;
	rs->main_proves = main_too;
	rs->proving = true;
}

/* Waits for the proof: the main connection proves its share (and that of
 * a lane whose thread did not start) unless `stop`, which ends the proof
 * early (a failure elsewhere). 0 when every table matched, -1 after the
 * first mismatch or error (logged). */
static int proof_finish(struct restorer *rs, bool stop)
{
	int ret = 0;

	if (!rs->proving)
		return -1;
	if (stop)
		atomic_store(&rs->proof_stop, true);
	for (unsigned k = 0; k < rs->n_provers; k++) {
		struct prover *p = &rs->pv[k];

		if (rs->main_proves && k == 0) {
			if (!stop)
				prove_run(p);
		} else if (p->conn) {
			pthread_join(p->thread, NULL);
		} else if (!stop) {
			struct prover here = { .rs = rs, .conn = rs->main.conn, .num = p->num, .ret = -1 };

			prove_run(&here);
			p->ret = here.ret;
		}
		if (p->ret < 0)
			ret = -1;
	}
	rs->proving = false;
	return stop ? -1 : ret;
}

/* --- emptying the database ------------------------------------------------ */

/* DROP statements for what the database holds (see pg_restore.h), in an
 * order where CASCADE and IF EXISTS absorb the dependencies: non-system
 * schemas but public, then in public extensions, tables, views,
 * unowned sequences, routines, types. */
static const char drop_list_sql[] =
	"WITH pub AS (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'public'), "
	"ext AS (SELECT objid, classid FROM pg_catalog.pg_depend WHERE deptype = 'e') "
	"SELECT 0, pg_catalog.format('DROP SCHEMA %I CASCADE', nspname) FROM pg_catalog.pg_namespace "
	"WHERE nspname <> 'public' AND nspname <> 'information_schema' AND nspname !~ '^pg_' "
	"UNION ALL "
	"SELECT 1, pg_catalog.format('DROP EXTENSION IF EXISTS %I CASCADE', extname) FROM pg_catalog.pg_extension "
	"WHERE extnamespace IN (SELECT oid FROM pub) "
	"UNION ALL "
	"SELECT CASE WHEN c.relkind IN ('r', 'p', 'f') THEN 2 WHEN c.relkind IN ('v', 'm') THEN 3 ELSE 4 END, "
	"pg_catalog.format('DROP %s IF EXISTS %I.%I CASCADE', CASE c.relkind WHEN 'v' THEN 'VIEW' "
	"WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' "
	"ELSE 'TABLE' END, 'public', c.relname) "
	"FROM pg_catalog.pg_class c WHERE c.relnamespace IN (SELECT oid FROM pub) "
	"AND c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S') AND NOT c.relispartition "
	"AND (c.oid, 'pg_catalog.pg_class'::pg_catalog.regclass) NOT IN (SELECT objid, classid FROM ext) "
	"AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.objid = c.oid "
	"AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype IN ('a', 'i'))) "
	"UNION ALL "
	"SELECT 5, pg_catalog.format('DROP ROUTINE IF EXISTS %s CASCADE', p.oid::pg_catalog.regprocedure) "
	"FROM pg_catalog.pg_proc p WHERE p.pronamespace IN (SELECT oid FROM pub) "
	"AND (p.oid, 'pg_catalog.pg_proc'::pg_catalog.regclass) NOT IN (SELECT objid, classid FROM ext) "
	"UNION ALL "
	"SELECT 6, pg_catalog.format('DROP %s IF EXISTS %s CASCADE', "
	"CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.oid::pg_catalog.regtype) "
	"FROM pg_catalog.pg_type t WHERE t.typnamespace IN (SELECT oid FROM pub) "
	"AND (t.typtype IN ('d', 'e', 'r') OR (t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_catalog.pg_class c "
	"WHERE c.oid = t.typrelid AND c.relkind = 'c'))) "
	"AND (t.oid, 'pg_catalog.pg_type'::pg_catalog.regclass) NOT IN (SELECT objid, classid FROM ext) "
	"ORDER BY 1, 2";

static int drop_everything(PGconn *conn, const char *alias)
{
	PGresult *res = ms_pg_rows(conn, alias, drop_list_sql, 0, NULL, "listing what to drop", NULL);
	int ret = 0;

	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res) && ret == 0; i++) {
		char *what = ms_xasprintf("dropping the current content (%s)", PQgetvalue(res, i, 1));

		ret = pg_command(conn, alias, PQgetvalue(res, i, 1), what);
		free(what);
	}
	PQclear(res);
	return ret;
}

/* --- entry points --------------------------------------------------------- */

/* The role the dump's SQL runs as (for the checker's OWNER TO and GRANT
 * rules); a superuser is allowed but warned about: only the checker
 * then stands between the snapshot's SQL and the whole server. */
static int read_role(struct restorer *rs, PGconn *conn)
{
	const char *what = "reading the current role";
	PGresult *res = ms_pg_rows(conn, rs->alias, "SELECT current_user, rolsuper FROM pg_catalog.pg_roles "
				   "WHERE rolname = current_user", 0, NULL, what, NULL);

	if (!res)
		return -1;
	if (PQntuples(res) != 1) {
		ms_pg_error(conn, rs->alias, what, res);
		PQclear(res);
		return -1;
	}
	rs->role = ms_xstrdup(PQgetvalue(res, 0, 0));
	if (!strcmp(PQgetvalue(res, 0, 1), "t"))
		ms_log_warn("database '%s': role '%s' is a superuser: the snapshot's SQL runs with every right on the "
			    "server, checked by modosnap's statement filter only (make the application's role an "
			    "ordinary one owning its database)", rs->alias, rs->role);
	PQclear(res);
	return 0;
}

/* In place: everything between BEGIN and COMMIT, on the live database. */
static int restore_in_place(struct restorer *rs)
{
	if (begin(&rs->main) < 0 || drop_everything(rs->main.conn, rs->alias) < 0)
		return -1;
	if (replay_archive(rs) < 0)
		return -1;
	if (check_tables(rs->main.conn, rs->mdb) < 0)
		return -1;
	ms_test_stall("db-load");
	return pg_command(rs->main.conn, rs->alias, "COMMIT", "committing the restore");
}

/* Connects a lane to the staging database; a lane the server refuses is
 * done without (its tables are loaded on the main connection). */
static void lane_open(struct restorer *rs, const struct ms_dbconf *staging, struct loader *l)
{
	l->rs = rs;
	l->cur = NO_TABLE;
	l->conn = ms_pg_connect_quiet(staging);
	if (l->conn && pin_session(l->conn, rs->alias, rs->mdb->encoding) < 0) {
		PQfinish(l->conn);
		l->conn = NULL;
	}
	if (l->conn)
		l->buf = ms_xmalloc(READ_BUF);
}

static void lanes_close(struct restorer *rs)
{
	for (size_t k = 0; k < EXTRA_LANES; k++) {
		abort_copy(&rs->ld[k]);
		if (rs->ld[k].conn)
			PQfinish(rs->ld[k].conn);
		rs->ld[k].conn = NULL;
		free(rs->ld[k].buf);
		rs->ld[k].buf = NULL;
	}
}

/* Staged: schema-pre.sql committed, the tables loaded on three
 * connections at once (each in its own transaction, FREEZE, ANALYZE),
 * sequences.sql and schema-post.sql in one transaction, the proof on the
 * three connections, then every connection to the staging database
 * closed and the swap. Until the swap the live database is untouched;
 * a failure leaves the staging database to ms_pg_stage_close. 0, 1 (a
 * session kept the swap from happening: restore in place), -1. */
static int restore_staged(struct restorer *rs, const struct ms_dbconf *db, struct ms_pg_stage *st)
{
	struct ms_dbconf staging = *db;
	int pids[EXTRA_LANES + 1];
	size_t npids = 0;
	int ret = -1;

	staging.name = st->name;
	rs->staged = true;
	rs->st = st;
	rs->in_place = false;
	rs->main.conn = ms_pg_connect(&staging);
	if (!rs->main.conn || pin_session(rs->main.conn, rs->alias, rs->mdb->encoding) < 0)
		goto out;
	pids[npids++] = PQbackendPID(rs->main.conn);
	if (fresh_session(rs, rs->main.conn) < 0)
		goto out;
	for (size_t k = 0; k < EXTRA_LANES; k++)
		lane_open(rs, &staging, &rs->ld[k]);
	ms_db_assign_lanes(rs->mdb, EXTRA_LANES + 1, rs->owner);
	if (replay_archive(rs) < 0 ||
	    pg_command(rs->main.conn, rs->alias, "COMMIT", "committing schema-post.sql") < 0)
		goto out;
	for (size_t k = 0; k < EXTRA_LANES; k++)
		if (rs->ld[k].conn)
			pids[npids++] = PQbackendPID(rs->ld[k].conn);
	if (stage_check(rs, ms_pg_stage_seal(st, pids, npids)) < 0)
		goto out;
	proof_start(rs, true);
	if (proof_finish(rs, false) < 0 || stage_check(rs, ms_pg_stage_alone(st, pids, npids)) < 0)
		goto out;
	lanes_close(rs);
	PQfinish(rs->main.conn);
	rs->main.conn = NULL;
	ms_test_stall("db-load");
	ret = ms_pg_stage_swap(st);
out:
	if (rs->proving)
		proof_finish(rs, true);
	lanes_join(rs, true);
	lanes_close(rs);
	if (rs->main.conn) {
		abort_copy(&rs->main);
		PQfinish(rs->main.conn); /* an open transaction is rolled back by the server */
		rs->main.conn = NULL;
	}
	rs->staged = false;
	rs->st = NULL;
	return rs->in_place ? 1 : ret;
}

/* Resets the per-attempt state (a staged attempt may precede the one in
 * place). */
static void restorer_reset(struct restorer *rs)
{
	size_t n = rs->mdb->n_tables + 1;

	rs->phase = PH_START;
	rs->main.cur = NO_TABLE;
	rs->last_table = NO_TABLE;
	rs->ready = false;
	memset(rs->seen, 0, n * sizeof(*rs->seen));
	memset(rs->done, 0, n * sizeof(*rs->done));
	memset(rs->owner, 0, n * sizeof(*rs->owner));
	memset(rs->passed, 0, n * sizeof(*rs->passed));
	rs->main.tables = 0;
	for (size_t k = 0; k < EXTRA_LANES; k++) {
		rs->ld[k].rs = rs;
		rs->ld[k].cur = NO_TABLE;
		rs->ld[k].finished = false;
		rs->ld[k].tables = 0;
		atomic_store(&rs->ld[k].started, false);
		atomic_store(&rs->ld[k].failed, false);
		atomic_store(&rs->ld[k].stop, false);
	}
}

/* The live database's connection, pinned, its role read: NULL after
 * logging. */
static PGconn *connect_live(struct restorer *rs, const struct ms_dbconf *db)
{
	PGconn *conn = ms_pg_connect(db);

	if (conn && (pin_session(conn, rs->alias, rs->mdb->encoding) < 0 || (!rs->role && read_role(rs, conn) < 0))) {
		PQfinish(conn);
		conn = NULL;
	}
	return conn;
}

int ms_pg_restore_database(const struct ms_dbconf *db, const struct ms_db_admin *admin, const char *archive_path,
			   const struct ms_manifest *m, const char *alias, struct ms_progress *progress)
{
	struct restorer rs;
	struct ms_pg_stage st;
	uint64_t bytes0;
	int ret = -1, rc;

	memset(&rs, 0, sizeof(rs));
	rs.alias = alias;
	rs.archive = archive_path;
	rs.mdb = ms_db_find(m, alias);
	if (!rs.mdb)
		return ms_log_error("database '%s': not in the snapshot", alias);
	if (!rs.mdb->engine || strcmp(rs.mdb->engine, "postgresql") != 0)
		return ms_log_error("database '%s': the snapshot holds a %s dump, not a postgresql one", alias,
				    rs.mdb->engine ? rs.mdb->engine : "unknown");
	rs.prefix = ms_xasprintf("db/%s/", alias);
	rs.seen = ms_xcalloc(rs.mdb->n_tables + 1, sizeof(*rs.seen));
	rs.done = ms_xcalloc(rs.mdb->n_tables + 1, sizeof(*rs.done));
	rs.owner = ms_xcalloc(rs.mdb->n_tables + 1, sizeof(*rs.owner));
	rs.passed = ms_xcalloc(rs.mdb->n_tables + 1, sizeof(*rs.passed));
	rs.pown = ms_xcalloc(rs.mdb->n_tables + 1, sizeof(*rs.pown));
	rs.pv = ms_xcalloc(EXTRA_LANES + 1, sizeof(*rs.pv));
	atomic_init(&rs.proof_stop, false);
	rs.main.rs = &rs;
	rs.main.buf = ms_xmalloc(READ_BUF);
	rs.progress = progress;
	pthread_mutex_init(&rs.ready_mu, NULL);
	pthread_cond_init(&rs.ready_cv, NULL);
	restorer_reset(&rs);
	ms_progress_db(progress, rs.mdb);
	bytes0 = progress ? atomic_load(&progress->bytes) : 0;
	rs.main.conn = connect_live(&rs, db);
	if (!rs.main.conn)
		goto out;
	rc = ms_pg_stage_open(&st, db, admin, rs.main.conn, lock_timeout_s);
	if (rc < 0)
		goto out;
	if (rc == 1) {
		PQfinish(rs.main.conn); /* the swap needs no session on the live database */
		rs.main.conn = NULL;
		rc = restore_staged(&rs, db, &st);
		ms_pg_stage_close(&st);
		if (rc != 1) {
			ret = rc;
			goto out;
		}
		restorer_reset(&rs);
		ms_progress_db(progress, rs.mdb);
		if (progress) /* the bytes are counted again, in place */
			atomic_store(&progress->bytes, bytes0);
		rs.main.conn = connect_live(&rs, db);
		if (!rs.main.conn)
			goto out;
	}
	ret = restore_in_place(&rs);
	if (ret < 0) {
		abort_copy(&rs.main);
		if (PQtransactionStatus(rs.main.conn) != PQTRANS_IDLE)
			pg_command(rs.main.conn, alias, "ROLLBACK", "rolling back");
	}
out:
	if (rs.main.conn)
		PQfinish(rs.main.conn); /* a transaction still open is rolled back by the server */
	pthread_mutex_destroy(&rs.ready_mu);
	pthread_cond_destroy(&rs.ready_cv);
	free((char *)rs.prefix);
	free(rs.role);
	free(rs.seen);
	free(rs.done);
	free(rs.owner);
	free(rs.passed);
	free(rs.pown);
	free(rs.pv);
	free(rs.main.buf);
	return ret;
}

int ms_pg_check_database(const struct ms_dbconf *db, const struct ms_manifest_db *mdb)
{
	PGconn *conn = ms_pg_connect(db);
	int ret = -1;

	if (!conn)
		return -1;
	if (pin_session(conn, mdb->alias, mdb->encoding) < 0)
		goto out;
	if (pg_command(conn, mdb->alias, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
		       "starting the transaction") < 0)
		goto out;
	if (check_tables(conn, mdb) < 0)
		goto out;
	ret = pg_command(conn, mdb->alias, "COMMIT", "ending the transaction");
out:
	PQfinish(conn);
	return ret;
}

/* The manifest's table schema.name, or NULL. */
static const struct ms_manifest_table *manifest_table(const struct ms_manifest_db *mdb, const char *schema,
						      const char *name)
{
	for (size_t i = 0; mdb && i < mdb->n_tables; i++)
		if (!strcmp(mdb->tables[i].schema, schema) && !strcmp(mdb->tables[i].name, name))
			return &mdb->tables[i];
	return NULL;
}

/* One live table for the plan: its row count, and its digest when the
 * snapshot has the table with that same count (the plan needs the digest
 * only then, to tell "content differs" from "unchanged"; a count that
 * differs says enough, and counting costs a fraction of reading every
 * row's text back). Both read in the caller's one snapshot. */
static int count_table(PGconn *conn, const struct ms_dbconf *db, const struct ms_manifest_db *mdb,
		       const char *quoted, struct ms_table_count *tc)
{
	const struct ms_manifest_table *t = manifest_table(mdb, tc->schema, tc->name);
	char *sql = ms_xasprintf("SELECT count(*) FROM %s", quoted);
	PGresult *c = ms_pg_rows(conn, db->alias, sql, 0, NULL, "counting rows", NULL);

	free(sql);
	if (!c)
		return -1;
	tc->rows = strtoll(PQgetvalue(c, 0, 0), NULL, 10);
	PQclear(c);
	if (t && tc->rows == t->rows)
		return table_digest(conn, db->alias, t, &tc->rows, tc->digest);
	return 0;
}

int ms_pg_table_counts(const struct ms_dbconf *db, const struct ms_manifest_db *mdb, struct ms_table_count **out,
		       size_t *n)
{
	PGconn *conn = ms_pg_connect(db);
	PGresult *res = NULL;
	int ret = -1;

	*out = NULL;
	*n = 0;
	if (!conn)
		return -1;
	if (pin_session(conn, db->alias, mdb ? mdb->encoding : NULL) < 0 ||
	    pg_command(conn, db->alias, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
		       "starting the transaction") < 0)
		goto out;
	res = ms_pg_rows(conn, db->alias,
			 "SELECT n.nspname, c.relname, pg_catalog.format('%I.%I', n.nspname, c.relname) "
			 "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
			 "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
			 "AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' ORDER BY 1, 2",
			 0, NULL, "listing the tables", NULL);
	if (!res)
		goto out;
	*out = ms_xcalloc((size_t)PQntuples(res) + 1, sizeof(**out));
	for (int i = 0; i < PQntuples(res); i++) {
		struct ms_table_count *tc = &(*out)[(*n)++];

		tc->schema = ms_xstrdup(PQgetvalue(res, i, 0));
		tc->name = ms_xstrdup(PQgetvalue(res, i, 1));
		if (count_table(conn, db, mdb, PQgetvalue(res, i, 2), tc) < 0)
			goto out;
	}
	ret = pg_command(conn, db->alias, "COMMIT", "ending the transaction");
out:
	PQclear(res);
	PQfinish(conn);
	if (ret < 0) {
		ms_table_counts_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return ret;
}
