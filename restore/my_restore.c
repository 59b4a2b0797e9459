/*
 * The MariaDB/MySQL restore engine (see my_restore.h): staging database,
 * digests, one RENAME TABLE, then routines, views and triggers.
 */
#include "restore/my_restore.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <mysql.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "restore/dbreplay.h"
#include "restore/my_keys.h"
#include "base/log.h"
#include "db/my_conn.h"
#include "db/my_text.h"
#include "db/rowdigest.h"
#include "formats/snaparchive.h"
#include "restore/sqlcheck.h"
#include "base/strbuf.h"
#include "base/util.h"

/* [modosnap] lock_timeout: the RENAME must not queue behind a long
 * transaction for hours while the live views and triggers are gone. */
static int my_lock_timeout_s = 60;

void ms_my_restore_set_lock_timeout(int seconds)
{
	my_lock_timeout_s = seconds > 0 ? seconds : 60;
}

#define SCRIPT_MAX ((size_t)256 << 20) /* schema text we accept */
#define NAME_MAX_MY 64                /* MariaDB identifier length */

/* Where the member stream stands (my_dump.h gives the order). */
enum phase {
	PH_START, /* schema-pre.sql next */
	PH_DATA,  /* data chunks or load.sql next */
	PH_LOAD,  /* load.sql seen: schema-post.sql next */
	PH_DONE,
};

/* Tables of this many rows or more have their plain secondary keys built
 * after the data (my_keys.h); MODOSNAP_TEST_MY_DEFER_MIN_ROWS lowers it
 * so that small test tables take that path. */
#define DEFER_MIN_ROWS 50000LL

#define NO_TABLE ((size_t)-1)

/* Lanes loading at once besides the main thread's (struct lane): Amavis'
 * three large tables (msgs, msgrcpt, quarantine) each get one. */
#define EXTRA_LANES 2

/* What one LOAD DATA LOCAL reads: the current member, from the archive. */
struct infile_src {
	const char *name;            /* the file name our statement gave, NULL between loads */
	struct ms_archive_reader *r; /* positioned at the member's data (borrowed) */
	char err[512];               /* handler failure, for the server's error */
};

/* More lanes: each has its own connection (the application's login, like
 * `a`) and its own reader of the archive, in a thread, and loads the
 * tables assigned to it (owner[] is its number, from 1) while the main
 * thread loads the others (owner[] 0) on `a` from its reader, so that the
 * server parses and inserts several tables at once. Each table is loaded by one connection only: two LOAD DATA into
 * one InnoDB table can deadlock (seen at 1 M msgs rows), and InnoDB's bulk
 * load (rs->bulk) keeps a table's transaction open from its first chunk
 * to its last. The thread logs its own errors (base/log.c is
 * thread-safe); it stops at the next member once `stop` is set, and the
 * main thread stops once `failed` is. */
struct restorer;

struct lane {
	struct restorer *rs;    /* the run (borrowed) */
	MYSQL *c;               /* owned; NULL when not opened */
	pthread_t thread;
	atomic_bool started;    /* running or not yet joined (read by every lane) */
	atomic_bool failed;     /* the thread stopped on an error (logged) */
	atomic_bool stop;       /* the main thread failed: stop */
	struct infile_src src;  /* what c's LOAD DATA reads */
	size_t open;            /* bulk: the table whose transaction is open on c, or NO_TABLE */
	const char *archive;    /* borrowed */
};

/* One restore (or scratch verify) run, passed to every step. */
struct restorer {
	const struct ms_dbconf *db;       /* borrowed */
	const char *alias;                /* borrowed */
	const struct ms_manifest_db *mdb; /* borrowed */
	MYSQL *m;                         /* admin_user's, or the application's (owned) */
	MYSQL *a;                         /* the application's account: runs the dump's SQL
	                                     and loads; owned when != m */
	char *app_user, *app_host;        /* a's CURRENT_USER() (owned) */
	const char *live;                 /* the live database's name (borrowed) */
	char *granted;                    /* side database a was granted (owned), NULL when none */
	struct ms_archive_reader *r;      /* borrowed while replaying */
	char *prefix;                     /* "db/<alias>/" (owned) */
	char *target;                     /* database loaded into (owned) */
	enum phase phase;
	unsigned long *seen;              /* chunks loaded per table (owned) */
	struct ms_my_columns *cols;       /* per table, read on its first chunk (owned) */
	char *post;                       /* schema-post.sql text (owned) */
	char *post_path;                  /* its member path (owned) */
	size_t post_len;
	struct infile_src src;            /* what a's LOAD DATA reads */
	struct lane ld[EXTRA_LANES];      /* the other lanes: owner[] k + 1 is ld[k] */
	unsigned char *owner;             /* per table: the lane that loads it, 0 for `a` (owned) */
	bool *passed;                     /* per table: its chunks are behind us in the archive (owned) */
	size_t last_table;                /* the table of the last data member, or NO_TABLE */
	pthread_mutex_t ready_mu;         /* the lanes wait for the tables to exist: */
	pthread_cond_t ready_cv;
	bool ready;                       /* schema-pre.sql has run, keys are set aside */
	bool bulk;                        /* one transaction per table, unique_checks off: InnoDB's
	                                     bulk load into an empty table (bulk_load_ok) */
	size_t a_open;                    /* bulk: the table open on `a`, or NO_TABLE */
	char **keys_add;                  /* per table: the ALTER TABLE that builds the keys set
	                                     aside for the load, or NULL (owned) */
	char **keys_show;                 /* per table: its definition before (normalised, owned) */
	struct ms_progress *progress;     /* the bytes and table loaded, or NULL (borrowed) */
};

/* --- small helpers -------------------------------------------------------- */

static int side_grant(struct restorer *rs, const char *name, bool grant, bool quiet);
static int pin(MYSQL *m, const char *alias);

static int fail(struct restorer *rs, const char *what)
{
	return ms_log_error("database '%s': %s failed: %s", rs->alias, what, mysql_error(rs->m));
}

/* "<prefix>_<pid>_<name>", at most 64 bytes. Caller frees. */
static char *side_name(const char *prefix, const char *name)
{
	char *s = ms_xasprintf("%s_%ld_%s", prefix, (long)getpid(), name);

	if (strlen(s) > NAME_MAX_MY) {
		size_t n = NAME_MAX_MY;

		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--; /* never cut a UTF-8 character */
		s[n] = '\0';
	}
	return s;
}

static int drop_database(struct restorer *rs, const char *name)
{
	char *q = ms_my_ident(name), *sql = ms_xasprintf("DROP DATABASE IF EXISTS %s", q);
	char *what = ms_xasprintf("dropping database '%s'", name);
	int ret = ms_my_exec(rs->m, rs->alias, sql, what);

	free(q);
	free(sql);
	free(what);
	return ret;
}

/* CREATE DATABASE with the snapshot's charset; a refusal explains the
 * privileges a restore needs. */
static int create_database(struct restorer *rs, const char *name, const char *role, bool if_missing)
{
	char *q = ms_my_ident(name);
	struct ms_strbuf sb = MS_STRBUF_INIT;
	bool ok = true;
	int ret = 0;

	for (const char *p = rs->mdb->encoding; p && *p; p++)
		ok = ok && (isalnum((unsigned char)*p) || *p == '_');
	for (const char *p = rs->mdb->collation; p && *p; p++)
		ok = ok && (isalnum((unsigned char)*p) || *p == '_');
	if (!ok) {
		free(q);
		return ms_log_error("database '%s': the snapshot's character set or collation is not a name",
				    rs->alias);
	}
	ms_strbuf_addf(&sb, "CREATE DATABASE %s%s", if_missing ? "IF NOT EXISTS " : "", q);
	if (rs->mdb->encoding && *rs->mdb->encoding)
		ms_strbuf_addf(&sb, " CHARACTER SET %s", rs->mdb->encoding);
	if (rs->mdb->collation && *rs->mdb->collation)
		ms_strbuf_addf(&sb, " COLLATE %s", rs->mdb->collation);
	if (mysql_query(rs->m, sb.buf) != 0)
		ret = ms_log_error("database '%s': creating the %s database '%s' failed: %s (a restore needs CREATE "
				   "and DROP on new databases: set admin_user in the [db:%s] section of the "
				   "configuration, e.g. root over the local socket)",
				   rs->alias, role, name, mysql_error(rs->m), rs->alias);
	ms_strbuf_release(&sb);
	free(q);
	return ret;
}

/* --- LOAD DATA LOCAL through the archive ---------------------------------- */

/* The server names the file it wants; we only stream the member we are
 * on, and only when the name is the one our statement gave. */
static int infile_init(void **ptr, const char *filename, void *userdata)
{
	struct infile_src *src = userdata;

	*ptr = src;
	if (!src->name || strcmp(filename, src->name) != 0) {
		snprintf(src->err, sizeof(src->err), "the server asked for file '%s', refused", filename);
		return 1;
	}
	src->err[0] = '\0';
	return 0;
}

static int infile_read(void *ptr, char *buf, unsigned int len)
{
	struct infile_src *src = ptr;
	ssize_t n;

	if (!src->r)
		return 0;
	n = ms_archive_reader_read(src->r, buf, len);
	if (n < 0) {
		snprintf(src->err, sizeof(src->err), "reading '%s' from the archive failed", src->name);
		return -1;
	}
	return (int)n;
}

static void infile_end(void *ptr)
{
	(void)ptr;
}

static int infile_error(void *ptr, char *msg, unsigned int len)
{
	struct infile_src *src = ptr;

	snprintf(msg, len, "%s", src->err[0] ? src->err : "local infile failed");
	return 2000; /* CR_UNKNOWN_ERROR */
}

/* After a LOAD DATA: any warning (truncation, a duplicate LOCAL skipped,
 * a conversion) means the rows are not what was dumped. */
static int check_warnings(struct restorer *rs, MYSQL *c, const char *table, const char *member)
{
	unsigned int n = mysql_warning_count(c);
	struct ms_my_rows w;

	if (n == 0)
		return 0;
	if (ms_my_select(c, rs->alias, "SHOW WARNINGS LIMIT 1", "reading the load's warnings", &w) < 0)
		return -1;
	ms_log_error("database '%s': table '%s': loading '%s' gave %u warning(s), the first: %s", rs->alias, table,
		     member, n, w.n_rows && w.n_cols > 2 && ms_my_cell(&w, 0, 2) ? ms_my_cell(&w, 0, 2) : "?");
	ms_my_rows_clear(&w);
	return -1;
}

/* --- the member stream ---------------------------------------------------- */

/* The whole member in memory (schema scripts). NULL after logging. */
static char *read_member(struct restorer *rs, const char *path, size_t *len)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	char buf[65536];
	ssize_t n;

	while ((n = ms_archive_reader_read(rs->r, buf, sizeof(buf))) > 0) {
		if (sb.len + (size_t)n > SCRIPT_MAX) {
			ms_strbuf_release(&sb);
			ms_log_error("database '%s': '%s' is larger than %zu MiB", rs->alias, path, SCRIPT_MAX >> 20);
			return NULL;
		}
		ms_strbuf_add(&sb, buf, (size_t)n);
	}
	if (n < 0) {
		ms_strbuf_release(&sb);
		return NULL;
	}
	*len = sb.len;
	return sb.buf ? ms_strbuf_detach(&sb) : ms_xstrdup("");
}

/* Checks a schema script (sqlcheck.h) and runs its statements one by
 * one on the application's connection (which does not allow several
 * statements in one call); `what` names it in errors. */
static int run_script(struct restorer *rs, const char *text, size_t len, const char *what)
{
	struct ms_sqlcheck chk = { MS_SQL_MYSQL, rs->alias, what, rs->app_user, rs->live };
	struct ms_sql_script script;
	int ret = -1;

	if (ms_sqlcheck_script(&chk, text, len, &script) < 0)
		return -1;
	for (size_t i = 0; i < script.n; i++) {
		const struct ms_sql_stmt *st = &script.v[i];

		if (mysql_real_query(rs->a, st->text, (unsigned long)st->len) != 0) {
			char *head = ms_xstrndup(st->text, st->len > 60 ? 60 : st->len), *p;

			for (p = head; *p; p++)
				if (*p == '\n' || *p == '\t')
					*p = ' ';
			p = ms_printable(head);
			ms_log_error("database '%s': '%s': statement %zu (%s%s) failed: %s", rs->alias, what, i + 1, p,
				     st->len > 60 ? "..." : "", mysql_error(rs->a));
			free(head);
			free(p);
			goto out;
		}
		do {
			MYSQL_RES *res = mysql_store_result(rs->a);

			if (res)
				mysql_free_result(res);
		} while (mysql_next_result(rs->a) == 0);
	}
	ret = 0;
out:
	ms_sql_script_clear(&script);
	return ret;
}

/* schema-post.sql runs after the swap: it is checked as soon as it is
 * read, before anything live is touched. */
static int check_post(struct restorer *rs)
{
	struct ms_sqlcheck chk = { MS_SQL_MYSQL, rs->alias, rs->post_path, rs->app_user, rs->live };
	struct ms_sql_script script;
	int ret = ms_sqlcheck_script(&chk, rs->post, rs->post_len, &script);

	ms_sql_script_clear(&script);
	return ret;
}

/* A LOAD DATA's outcome on connection c, reported naming the table and
 * the member: its error, or any warning. */
static int load_result(struct restorer *rs, MYSQL *c, bool failed, const struct ms_manifest_table *t,
		       const char *path)
{
	char *tn;
	int ret;

	if (failed)
		return ms_log_error("database '%s': table '%s.%s': loading '%s' failed: %s%s", rs->alias, t->schema,
				    t->name, path, mysql_error(c),
				    (mysql_errno(c) == 1148 || mysql_errno(c) == 4166)
					    ? " (the server's local_infile setting is OFF)" : "");
	tn = ms_xasprintf("%s.%s", t->schema, t->name);
	ret = check_warnings(rs, c, tn, path);
	free(tn);
	return ret;
}

/* Bulk mode: starts or commits the transaction that loads table t on c. */
static int table_txn(struct restorer *rs, MYSQL *c, const struct ms_manifest_table *t, bool begin)
{
	char *what = ms_xasprintf("table '%s.%s': %s", t->schema, t->name,
				  begin ? "starting its load" : "committing its load");
	int ret = ms_my_exec(c, rs->alias, begin ? "START TRANSACTION" : "COMMIT", what);

	free(what);
	return ret;
}

/* The session settings of every loading connection: no foreign key
 * checks; unique checks off only for InnoDB's bulk load. */
static const char *load_settings(const struct restorer *rs)
{
	return rs->bulk ? "SET SESSION foreign_key_checks = 0, SESSION unique_checks = 0"
			: "SET SESSION foreign_key_checks = 0, SESSION unique_checks = 1";
}

/* A table whose chunks stopped before the manifest's count. */
static int chunks_missing(struct restorer *rs, size_t ti)
{
	const struct ms_manifest_table *t = &rs->mdb->tables[ti];

	return ms_log_error("database '%s': table '%s.%s': %lu data members, the manifest lists %lu", rs->alias,
			    t->schema, t->name, rs->seen[ti], t->chunks);
}

/* Loads data member `path` (rel below the prefix) on c, streaming it from
 * r through *src; *open is the table whose bulk transaction c holds. The
 * member's name is rel, which is also the only file name the server may
 * ask for. Only the lane that owns the table calls this for it, so the
 * lanes never share an element of seen[] or cols[]. */
static int load_member(struct restorer *rs, MYSQL *c, struct infile_src *src, struct ms_archive_reader *r,
		       size_t *open, const char *path, const char *rel)
{
	const struct ms_manifest_table *t;
	bool last;
	char *sql;
	size_t ti;
	int ret = 0;

	if (ms_db_chunk(rs->mdb, rs->alias, path, rel, ".tsv", rs->seen, &ti) < 0)
		return -1;
	t = &rs->mdb->tables[ti];
	if (rs->seen[ti] > t->chunks)
		return chunks_missing(rs, ti);
	if (*open != NO_TABLE && *open != ti)
		return chunks_missing(rs, *open);
	last = rs->seen[ti] == t->chunks;
	ms_progress_table(rs->progress, ti);
	if (!rs->cols[ti].n && ms_my_table_columns(c, rs->alias, rs->target, t->name, &rs->cols[ti]) < 0)
		return -1;
	sql = ms_my_load_sql(c, rel, rs->target, t->name, &rs->cols[ti]);
	*src = (struct infile_src){ .name = rel, .r = r };
	if (rs->bulk && *open != ti)
		ret = table_txn(rs, c, t, true);
	if (ret == 0)
		ret = load_result(rs, c, mysql_query(c, sql) != 0, t, path);
	*open = rs->bulk && ret == 0 && !last ? ti : NO_TABLE;
	if (ret == 0 && rs->bulk && last)
		ret = table_txn(rs, c, t, false);
	*src = (struct infile_src){ 0 }; /* the reader is the caller's, gone after this member */
	free(sql);
	return ret;
}

/* The lane whose thread loads a chunk member's table, or NULL when the
 * main thread does (its own tables, and those of a lane that did not
 * start). */
static struct lane *lane_of(struct restorer *rs, const char *rel)
{
	struct lane *l;
	size_t ti;

	if (ms_db_chunk_table(rs->mdb, rel, ".tsv", &ti) < 0 || !rs->owner[ti])
		return NULL;
	l = &rs->ld[rs->owner[ti] - 1];
	return l->started ? l : NULL;
}

/* A data member, for the main thread, which sees them all: a table's
 * chunks must follow each other (FORMAT.md §4.3; a table is loaded in
 * one transaction). Loaded on `a` unless another lane's reader loads it. */
static int load_chunk(struct restorer *rs, const char *path, const char *rel)
{
	size_t ti;

	if (ms_db_chunk_table(rs->mdb, rel, ".tsv", &ti) == 0 && ti != rs->last_table) {
		if (rs->passed[ti])
			return ms_log_error("database '%s': member '%s' is out of order", rs->alias, path);
		if (rs->last_table != NO_TABLE)
			rs->passed[rs->last_table] = true;
		rs->last_table = ti;
	}
	if (lane_of(rs, rel))
		return 0;
	return load_member(rs, rs->a, &rs->src, rs->r, &rs->a_open, path, rel);
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
	struct lane *l = ctx;
	struct restorer *rs = l->rs;
	const char *rel = path + strlen(rs->prefix);

	if (atomic_load(&l->stop))
		return -1;
	/* anything else is another lane's to load, or the main thread's to
	 * load or to report */
	if (lane_of(rs, rel) != l)
		return 0;
	pthread_mutex_lock(&rs->ready_mu);
	while (!rs->ready)
		pthread_cond_wait(&rs->ready_cv, &rs->ready_mu);
	pthread_mutex_unlock(&rs->ready_mu);
	if (atomic_load(&l->stop))
		return -1;
	return load_member(rs, l->c, &l->src, r, &l->open, path, rel);
}

static void *lane_run(void *arg)
{
	struct lane *l = arg;

	mysql_thread_init();
	if (ms_db_replay_until(l->archive, l->rs->prefix, l->rs->alias, lane_member, l, l->rs->progress, &l->stop) <
	    0) {
		/* what it holds must not keep the staging database from being dropped */
		mysql_query(l->c, "ROLLBACK");
		atomic_store(&l->failed, !atomic_load(&l->stop));
	}
	mysql_thread_end();
	return NULL;
}

/* Starts the other lanes with the main thread's replay: they read through
 * the members before db/ (files, possibly mail) as it does, and wait at
 * their first table's first chunk until the tables exist (lanes_release).
 * The main thread loads the tables of a lane that cannot start. `started`
 * is set before a lane's thread exists and cleared after it is joined.
 * Their threads start with every signal blocked, so that signals keep
 * reaching the main thread. */
static void lanes_start(struct restorer *rs)
{
	for (size_t k = 0; k < EXTRA_LANES; k++) {
		struct lane *l = &rs->ld[k];

		l->started = l->c && l->archive;
		if (l->started && ms_thread_start(&l->thread, lane_run, l) < 0)
			l->started = false;
	}
}

/* Waits for the other lanes; with `stop`, tells them to stop first. 0, or
 * -1 when one failed (it logged why). */
static int lanes_join(struct restorer *rs, bool stop)
{
	int ret = 0;

	/* lanes that would wait for tables that will never exist stop too */
	stop = stop || !rs->ready;
	for (size_t k = 0; stop && k < EXTRA_LANES; k++)
		atomic_store(&rs->ld[k].stop, true);
	if (stop)
		lanes_release(rs); /* wakes a lane waiting for the tables */
	for (size_t k = 0; k < EXTRA_LANES; k++) {
		struct lane *l = &rs->ld[k];

		if (!l->started)
			continue;
		pthread_join(l->thread, NULL);
		l->started = false;
		if (atomic_load(&l->failed))
			ret = -1;
	}
	return ret;
}

static bool lane_failed(struct restorer *rs)
{
	for (size_t k = 0; k < EXTRA_LANES; k++)
		if (atomic_load(&rs->ld[k].failed))
			return true;
	return false;
}


/* --- secondary keys after the data (my_keys.h) ---------------------------- */

/* SHOW CREATE TABLE of `quoted` (in a's database), or NULL; logs nothing. */
static char *show_create(MYSQL *c, const char *quoted)
{
	char *sql = ms_xasprintf("SHOW CREATE TABLE %s", quoted), *text = NULL;
	MYSQL_RES *res;
	MYSQL_ROW row;

	if (mysql_query(c, sql) == 0 && (res = mysql_store_result(c)) != NULL) {
		if (mysql_num_fields(res) >= 2 && (row = mysql_fetch_row(res)) != NULL && row[1])
			text = ms_xstrdup(row[1]);
		mysql_free_result(res);
	}
	free(sql);
	return text;
}

/* Whether dropping and adding k's keys on an empty temporary copy of the
 * table gives its definition back. Anything that fails here only means
 * the keys are built during the load, as they always were. */
static bool probe_keys(struct restorer *rs, const char *quoted, const struct ms_my_keys *k)
{
	static const char probe[] = "`modosnap_keys_probe`";
	char *sql = ms_xasprintf("CREATE TEMPORARY TABLE %s LIKE %s", probe, quoted);
	char *before = NULL, *after = NULL;
	bool same = false;

	if (mysql_query(rs->a, sql) == 0) {
		before = show_create(rs->a, probe);
		free(sql);
		sql = ms_xasprintf("ALTER TABLE %s %s", probe, k->drop);
		if (before && mysql_query(rs->a, sql) == 0) {
			free(sql);
			sql = ms_xasprintf("ALTER TABLE %s %s", probe, k->add);
			if (mysql_query(rs->a, sql) == 0)
				after = show_create(rs->a, probe);
		}
		same = before && after && !strcmp(before, after);
		mysql_query(rs->a, "DROP TEMPORARY TABLE IF EXISTS `modosnap_keys_probe`");
	}
	free(sql);
	free(before);
	free(after);
	return same;
}

/* After schema-pre.sql: the plain secondary keys of every large InnoDB
 * table are dropped for the load, to be built by keys_and_proof. */
static int defer_keys(struct restorer *rs)
{
	const char *env = getenv("MODOSNAP_TEST_MY_DEFER_MIN_ROWS");
	unsigned long v;
	long long min = env && ms_parse_ulong(env, 0, 1UL << 62, &v) == 0 ? (long long)v : DEFER_MIN_ROWS;

	for (size_t i = 0; i < rs->mdb->n_tables; i++) {
		const struct ms_manifest_table *t = &rs->mdb->tables[i];
		struct ms_my_keys k = { 0 };
		char *q, *text, *sql, *what;
		int ret = 0;

		if (t->rows < min)
			continue;
		q = ms_my_ident(t->name);
		text = show_create(rs->a, q);
		if (!text)
			ret = ms_log_error("database '%s': table '%s.%s': reading its definition failed: %s", rs->alias,
					   t->schema, t->name, mysql_error(rs->a));
		else
			ms_my_keys_parse(text, &k);
		if (k.n && probe_keys(rs, q, &k)) {
			sql = ms_xasprintf("ALTER TABLE %s %s", q, k.drop);
			what = ms_xasprintf("table '%s.%s': setting its secondary keys aside for the load", t->schema,
					    t->name);
			/* MySQL refuses to drop a key a foreign key uses, even with
			 * the checks off (the probe's copy has no foreign keys):
			 * the keys are then built during the load */
			if (mysql_query(rs->a, sql) != 0) {
				ms_log_debug("database '%s': %s refused: %s", rs->alias, what, mysql_error(rs->a));
			} else {
				char *full = ms_my_qualified(rs->target, t->name);

				/* qualified: a lane's connection has no database */
				rs->keys_add[i] = ms_xasprintf("ALTER TABLE %s %s", full, k.add);
				free(full);
				rs->keys_show[i] = ms_my_show_create_normal(text);
				ms_log_debug("database '%s': table '%s.%s': %zu secondary key(s) built after the data",
					     rs->alias, t->schema, t->name, k.n);
			}
			free(sql);
			free(what);
		} else if (k.n) {
			ms_log_debug("database '%s': table '%s.%s': secondary keys built during the load (dropping and "
				     "adding them does not give the same definition)", rs->alias, t->schema, t->name);
		}
		ms_my_keys_clear(&k);
		free(text);
		free(q);
		if (ret < 0)
			return -1;
	}
	return 0;
}

/* After its keys are built: table i's definition must be the snapshot's
 * again (what schema-pre.sql created, the AUTO_INCREMENT counter aside). */
static int check_definition(struct restorer *rs, size_t i)
{
	const struct ms_manifest_table *t = &rs->mdb->tables[i];
	char *q = ms_my_ident(t->name), *text = show_create(rs->a, q), *norm = text ? ms_my_show_create_normal(text) : NULL;
	int ret = 0;

	if (!norm || strcmp(norm, rs->keys_show[i]) != 0)
		ret = ms_log_error("database '%s': table '%s.%s': %s", rs->alias, t->schema, t->name,
				   norm ? "its definition after building its keys differs from the snapshot's"
					: "reading its definition failed");
	free(norm);
	free(text);
	free(q);
	return ret;
}

static int bad_order(struct restorer *rs, const char *path)
{
	return ms_log_error("database '%s': member '%s' is out of order", rs->alias, path);
}

static int restore_member(struct restorer *rs, const char *path)
{
	const char *rel = path + strlen(rs->prefix);
	size_t len;
	char *text;
	int ret;

	if (!strcmp(rel, "schema-pre.sql")) {
		if (rs->phase != PH_START)
			return bad_order(rs, path);
		rs->phase = PH_DATA;
		if (!(text = read_member(rs, path, &len)))
			return -1;
		ret = run_script(rs, text, len, path);
		free(text);
		/* the script sets the checks (ours turn both off, as
		 * mariadb-dump's do): the load's own settings again */
		if (ret == 0)
			ret = ms_my_exec(rs->a, rs->alias, load_settings(rs), "pinning session settings");
		if (ret < 0 || defer_keys(rs) < 0)
			return -1;
		lanes_release(rs);
		return 0;
	}
	if (!strncmp(rel, "data/", 5)) {
		if (rs->phase != PH_DATA)
			return bad_order(rs, path);
		return load_chunk(rs, path, rel);
	}
	if (!strcmp(rel, "load.sql")) {
		if (rs->phase != PH_DATA)
			return bad_order(rs, path);
		rs->phase = PH_LOAD; /* for the stock client; we built our own statements */
		return 0;
	}
	if (!strcmp(rel, "schema-post.sql")) {
		if (rs->phase != PH_LOAD)
			return bad_order(rs, path);
		rs->phase = PH_DONE;
		rs->post = read_member(rs, path, &rs->post_len);
		rs->post_path = ms_xstrdup(path);
		return rs->post ? check_post(rs) : -1;
	}
	return ms_log_error("database '%s': unexpected member '%s'", rs->alias, path);
}

static int on_member(void *ctx, struct ms_archive_reader *r, const char *path)
{
	struct restorer *rs = ctx;

	if (lane_failed(rs))
		return -1; /* another lane failed, and said why */
	rs->r = r;
	return restore_member(rs, path);
}

/* Streams the archive once, loading our alias' members into rs->target. */
static int replay_archive(struct restorer *rs, const char *archive_path)
{
	int rc;

	if (mysql_select_db(rs->a, rs->target) != 0) {
		char *what = ms_xasprintf("selecting database '%s'", rs->target);

		rc = ms_log_error("database '%s': %s failed: %s", rs->alias, what, mysql_error(rs->a));
		free(what);
		return rc;
	}
	for (size_t k = 0; k < EXTRA_LANES; k++)
		rs->ld[k].archive = archive_path;
	/* the lanes read the archive too: damage found by each (the file
	 * changed after it was verified) is reported once */
	ms_log_dedupe(1);
	lanes_start(rs);
	rc = ms_db_replay(archive_path, rs->prefix, rs->alias, on_member, rs, rs->progress);
	rs->r = NULL;
	if (rc < 0)
		mysql_query(rs->a, "ROLLBACK"); /* nothing of ours holds a lane up */
	rc = lanes_join(rs, rc < 0) < 0 || rc < 0 ? -1 : 0;
	ms_log_dedupe(0);
	if (rc < 0)
		return -1;
	if (rs->phase != PH_DONE)
		return ms_log_error("database '%s': the snapshot's dump is incomplete", rs->alias);
	return ms_db_check_chunks(rs->mdb, rs->alias, rs->seen);
}

/* --- digests -------------------------------------------------------------- */

static int digest_line(void *ctx, const char *line, size_t len)
{
	ms_rowdigest_add(ctx, line, len);
	return 0;
}

/* Rows (or -1 after logging) and digest (hex, 65 bytes) of table `name`
 * in database `schema`, read as the dumper reads it. */
static long long table_digest(MYSQL *m, const char *alias, const char *schema, const char *name, char *hex)
{
	struct ms_my_columns cols;
	struct ms_rowdigest dg;
	long long rows;

	if (ms_my_table_columns(m, alias, schema, name, &cols) < 0)
		return -1;
	ms_rowdigest_init(&dg);
	rows = ms_my_stream_rows(m, alias, schema, name, &cols, digest_line, &dg);
	ms_my_columns_clear(&cols);
	ms_rowdigest_hex(&dg, hex);
	return rows;
}

/* Rows and digest of every manifest table as found in database `schema`;
 * the table is named by its snapshot name in messages. */
static int check_table(MYSQL *m, const char *alias, const char *schema, const struct ms_manifest_table *t)
{
	char hex[65];
	long long rows = table_digest(m, alias, schema, t->name, hex);

	if (rows < 0)
		return -1;
	if (rows != t->rows || strcmp(hex, t->digest) != 0)
		return ms_log_error("database '%s': table '%s.%s': digest differs from the snapshot "
				    "(rows %lld, expected %lld)", alias, t->schema, t->name, rows, t->rows);
	return 0;
}

static int check_tables(MYSQL *m, const char *alias, const char *schema, const struct ms_manifest_db *mdb)
{
	for (size_t i = 0; i < mdb->n_tables; i++)
		if (check_table(m, alias, schema, &mdb->tables[i]) < 0)
			return -1;
	return 0;
}

/* --- keys and proof after the load ---------------------------------------- */

/* The keys set aside for the load are built by the first lane's connection
 * in a thread, one ALTER TABLE after the other in table order, while `a`
 * proves the tables that need none; each table with rebuilt keys is then
 * checked and proved as soon as they are built. The thread logs nothing:
 * the main thread reports its failure. No open transaction exists by
 * then, so the ALTER TABLEs wait for nothing but the proof's reads. */
struct keys_job {
	struct restorer *rs;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t built;      /* tables below this index are done (built or failed) */
	size_t failed;     /* the table whose ALTER TABLE failed, or NO_TABLE */
	char err[512];     /* its error */
	atomic_bool stop;  /* the proof failed: no more ALTER TABLE */
};

static void *keys_run(void *arg)
{
	struct keys_job *kj = arg;
	struct restorer *rs = kj->rs;
	size_t n = rs->mdb->n_tables;

	mysql_thread_init();
	for (size_t i = 0; i < n; i++) {
		bool ok = !rs->keys_add[i] || (!atomic_load(&kj->stop) && mysql_query(rs->ld[0].c, rs->keys_add[i]) == 0);

		pthread_mutex_lock(&kj->mu);
		if (!ok) {
			kj->failed = i;
			snprintf(kj->err, sizeof(kj->err), "%s",
				 atomic_load(&kj->stop) ? "not started" : mysql_error(rs->ld[0].c));
		}
		kj->built = ok ? i + 1 : n;
		pthread_cond_broadcast(&kj->cv);
		pthread_mutex_unlock(&kj->mu);
		if (!ok)
			break;
	}
	mysql_thread_end();
	return NULL;
}

/* Table i, whose keys the thread builds: waits for them, then checks its
 * definition and proves its rows. */
static int check_rebuilt(struct restorer *rs, struct keys_job *kj, size_t i)
{
	const struct ms_manifest_table *t = &rs->mdb->tables[i];
	size_t failed;

	pthread_mutex_lock(&kj->mu);
	while (kj->built <= i)
		pthread_cond_wait(&kj->cv, &kj->mu);
	failed = kj->failed;
	pthread_mutex_unlock(&kj->mu);
	if (failed == i)
		return ms_log_error("database '%s': table '%s.%s': building its secondary keys failed: %s", rs->alias,
				    t->schema, t->name, kj->err);
	if (failed < i)
		return -1; /* an earlier table's, reported there */
	ms_progress_table(rs->progress, i);
	if (check_definition(rs, i) < 0)
		return -1;
	return check_table(rs->a, rs->alias, rs->target, t);
}

/* The same in one thread, on `a` (no thread could start). */
static int keys_and_proof_inline(struct restorer *rs)
{
	for (size_t i = 0; i < rs->mdb->n_tables; i++) {
		const struct ms_manifest_table *t = &rs->mdb->tables[i];
		char *what;
		int ret = 0;

		if (rs->keys_add[i]) {
			what = ms_xasprintf("table '%s.%s': building its secondary keys", t->schema, t->name);
			ret = ms_my_exec(rs->a, rs->alias, rs->keys_add[i], what);
			free(what);
			if (ret == 0)
				ret = check_definition(rs, i);
		}
		if (ret < 0 || check_table(rs->a, rs->alias, rs->target, t) < 0)
			return -1;
	}
	return 0;
}

/* Builds the keys set aside (if any) and proves every table. */
static int keys_and_proof(struct restorer *rs)
{
	struct keys_job kj = { .rs = rs, .failed = NO_TABLE };
	pthread_t thread;
	bool any = false;
	int ret = 0;

	for (size_t i = 0; i < rs->mdb->n_tables; i++)
		any = any || rs->keys_add[i];
	if (!any)
		return check_tables(rs->a, rs->alias, rs->target, rs->mdb);
	if (!rs->ld[0].c)
		return keys_and_proof_inline(rs);
	pthread_mutex_init(&kj.mu, NULL);
	pthread_cond_init(&kj.cv, NULL);
	if (ms_thread_start(&thread, keys_run, &kj) < 0) {
		ret = keys_and_proof_inline(rs);
		goto out;
	}
	for (size_t i = 0; ret == 0 && i < rs->mdb->n_tables; i++)
		if (!rs->keys_add[i])
			ret = check_table(rs->a, rs->alias, rs->target, &rs->mdb->tables[i]);
	for (size_t i = 0; ret == 0 && i < rs->mdb->n_tables; i++)
		if (rs->keys_add[i])
			ret = check_rebuilt(rs, &kj, i);
	if (ret < 0)
		atomic_store(&kj.stop, true); /* the ALTER TABLE under way still ends */
	pthread_join(thread, NULL);
out:
	pthread_cond_destroy(&kj.cv);
	pthread_mutex_destroy(&kj.mu);
	return ret;
}

/* A lane's connection, in the session our dumps' scripts set
 * on `a` (time zone, sql_mode, no foreign key checks, unique checks off
 * for a bulk load); its statements name the target database. */
static int lane_open(struct restorer *rs, struct lane *l)
{
	l->rs = rs;
	l->open = NO_TABLE;
	/* a server that refuses another connection of the account
	 * (max_user_connections, max_connections) gets fewer lanes: the main
	 * thread loads that lane's tables */
	l->c = ms_my_connect(rs->db, NULL, NULL, MS_MY_NO_DB | MS_MY_LOCAL_INFILE | MS_MY_QUIET);
	if (!l->c) {
		ms_log_debug("database '%s': one loading lane fewer (no connection)", rs->alias);
		return 0;
	}
	if (pin(l->c, rs->alias) < 0 || ms_my_exec(l->c, rs->alias, load_settings(rs), "pinning session settings") < 0)
		return -1;
	mysql_set_local_infile_handler(l->c, infile_init, infile_read, infile_end, infile_error, &l->src);
	return 0;
}

/* Whether the server loads an empty InnoDB table in bulk (sorted index
 * builds, one undo record) inside a transaction with unique_checks and
 * foreign_key_checks off: MariaDB from 10.6; LOAD DATA in bulk could
 * fail when the temporary directory filled up until 10.11.11, 11.4.5 and
 * 11.7.2 (MDEV-34703), so only those and later, as mariadb-import does.
 * MODOSNAP_TEST_MY_NO_BULK=1 turns it off for the tests of the other
 * path. */
static bool bulk_load_ok(MYSQL *c)
{
	unsigned long v = mysql_get_server_version(c);
	const char *info = mysql_get_server_info(c);
	const char *env = getenv("MODOSNAP_TEST_MY_NO_BULK");

	if ((env && *env == '1') || !info || !strstr(info, "MariaDB"))
		return false;
	return v >= 110702 || (v >= 110405 && v < 110500) || (v >= 101111 && v < 101200);
}

/* Ends whatever load transaction is still open (after a failure): the
 * staging database can then be dropped without waiting for their locks. */
static void abort_loads(struct restorer *rs)
{
	lanes_join(rs, true);
	for (size_t k = 0; k < EXTRA_LANES; k++) {
		/* closed, not only rolled back: a broken connection's locks
		 * would otherwise last until finish(), after the DROP */
		ms_my_close(rs->ld[k].c);
		rs->ld[k].c = NULL;
		rs->ld[k].open = NO_TABLE;
	}
	mysql_query(rs->a, "ROLLBACK");
	rs->a_open = NO_TABLE;
}

/* Loads the dump into rs->target (created here) and checks it. */
static int load_and_check(struct restorer *rs, const char *archive_path)
{
	int rc;

	rs->bulk = bulk_load_ok(rs->a);
	ms_log_debug("database '%s': %s", rs->alias,
		     rs->bulk ? "each table is loaded in one transaction (InnoDB bulk load)"
			      : "each data member is loaded in a transaction of its own");
	if (ms_my_exec(rs->a, rs->alias, load_settings(rs), "pinning session settings") < 0)
		return -1;
	for (size_t k = 0; k < EXTRA_LANES; k++)
		if (lane_open(rs, &rs->ld[k]) < 0)
			return -1;
	ms_db_assign_lanes(rs->mdb, EXTRA_LANES + 1, rs->owner);
	rc = replay_archive(rs, archive_path);
	if (rc < 0) {
		abort_loads(rs);
		return -1;
	}
	return keys_and_proof(rs);
}

/* --- the swap ------------------------------------------------------------- */

/* A live view, trigger or routine, kept to recreate it. */
struct saved_obj {
	char *kind;  /* "VIEW", "TRIGGER", "PROCEDURE", "FUNCTION" */
	char *name;
	char *mode;  /* its sql_mode */
	char *ddl;   /* SHOW CREATE text */
	bool done;   /* recreated */
};

/* What the live database holds. */
struct live_objects {
	struct ms_strv tables;    /* base tables (and, for drops, nothing else) */
	struct saved_obj *objs;   /* routines, views, triggers */
	size_t n_objs;
};

static void live_objects_clear(struct live_objects *lo)
{
	for (size_t i = 0; i < lo->n_objs; i++) {
		free(lo->objs[i].kind);
		free(lo->objs[i].name);
		free(lo->objs[i].mode);
		free(lo->objs[i].ddl);
	}
	free(lo->objs);
	ms_strv_clear(&lo->tables);
	memset(lo, 0, sizeof(*lo));
}

/* Lists the live database's tables, views, triggers and routines; with
 * `save`, reads each object's definition to recreate it. */
static int read_live(struct restorer *rs, const char *live, struct live_objects *lo, bool save)
{
	char *lit = ms_my_literal(rs->m, live);
	char *sql = ms_xasprintf(
		"SELECT TABLE_NAME, IF(TABLE_TYPE = 'VIEW', 'VIEW', 'T') FROM information_schema.TABLES "
		"WHERE TABLE_SCHEMA = %s "
		"UNION ALL SELECT TRIGGER_NAME, 'TRIGGER' FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s "
		"UNION ALL SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES "
		"WHERE ROUTINE_SCHEMA = %s AND ROUTINE_TYPE IN ('PROCEDURE', 'FUNCTION')", lit, lit, lit);
	struct ms_my_rows r;
	int ret = ms_my_select(rs->m, rs->alias, sql, "listing the live database's objects", &r);

	lo->objs = ms_xcalloc(r.n_rows + 1, sizeof(*lo->objs));
	for (size_t i = 0; ret == 0 && i < r.n_rows; i++) {
		const char *name = ms_my_cell(&r, i, 0), *kind = ms_my_cell(&r, i, 1);
		struct saved_obj *o;

		if (!strcmp(kind, "T")) {
			ms_strv_push(&lo->tables, name);
			continue;
		}
		o = &lo->objs[lo->n_objs++];
		o->kind = ms_xstrdup(kind);
		o->name = ms_xstrdup(name);
		if (save) {
			char *q = ms_my_qualified(live, name), *show = ms_xasprintf("SHOW CREATE %s %s", kind, q);
			size_t col = strcmp(kind, "VIEW") ? 2 : 1;
			struct ms_my_rows d;

			ret = ms_my_select(rs->m, rs->alias, show, "reading the live database's objects", &d);
			if (ret == 0 && (d.n_rows != 1 || d.n_cols <= col || !ms_my_cell(&d, 0, col)))
				ret = ms_log_error("database '%s': the definition of %s '%s' is not readable", rs->alias,
						   kind, name);
			if (ret == 0) {
				o->ddl = ms_xstrdup(ms_my_cell(&d, 0, col));
				o->mode = ms_xstrdup(col == 2 && ms_my_cell(&d, 0, 1) ? ms_my_cell(&d, 0, 1)
										     : "NO_AUTO_VALUE_ON_ZERO");
			}
			ms_my_rows_clear(&d);
			free(q);
			free(show);
		}
	}
	ms_my_rows_clear(&r);
	free(lit);
	free(sql);
	return ret;
}

/* Drops the live views, triggers and routines listed in lo. */
static int drop_objects(struct restorer *rs, const char *live, const struct live_objects *lo)
{
	for (size_t i = 0; i < lo->n_objs; i++) {
		char *q = ms_my_qualified(live, lo->objs[i].name);
		char *sql = ms_xasprintf("DROP %s IF EXISTS %s", lo->objs[i].kind, q);
		int ret = ms_my_exec(rs->m, rs->alias, sql, "dropping the live views, triggers and routines");

		free(q);
		free(sql);
		if (ret < 0)
			return -1;
	}
	return 0;
}

static int create_saved(struct restorer *rs, struct saved_obj *o, bool quiet)
{
	char *mode = ms_my_literal(rs->m, o->mode), *set = ms_xasprintf("SET SESSION sql_mode = %s", mode);
	int ret = ms_my_exec(rs->m, rs->alias, set, "setting sql_mode");

	if (ret == 0 && mysql_real_query(rs->m, o->ddl, (unsigned long)strlen(o->ddl)) != 0) {
		if (!quiet)
			ms_log_error("database '%s': recreating %s '%s' failed: %s", rs->alias, o->kind, o->name,
				     mysql_error(rs->m));
		ret = -1;
	}
	o->done = ret == 0;
	free(mode);
	free(set);
	return ret;
}

/* Recreates the saved objects in the live database: routines, then views
 * (in passes, so a view that names another comes after it), then
 * triggers. 0, or -1 after logging each object that could not be made. */
static int recreate(struct restorer *rs, const char *live, struct live_objects *lo)
{
	static const char *const order[] = { "PROCEDURE", "FUNCTION", "VIEW", "TRIGGER" };
	int failed = 0;

	if (mysql_select_db(rs->m, live) != 0)
		return fail(rs, "selecting the live database");
	for (size_t k = 0; k < 4; k++) {
		bool views = !strcmp(order[k], "VIEW"), progress = true;

		while (views && progress) {
			progress = false;
			for (size_t i = 0; i < lo->n_objs; i++)
				if (!lo->objs[i].done && !strcmp(lo->objs[i].kind, "VIEW") &&
				    create_saved(rs, &lo->objs[i], true) == 0)
					progress = true;
		}
		for (size_t i = 0; i < lo->n_objs; i++)
			if (!lo->objs[i].done && !strcmp(lo->objs[i].kind, order[k]))
				failed += create_saved(rs, &lo->objs[i], false) < 0;
	}
	ms_my_pin_session(rs->m, rs->alias, "NO_ENGINE_SUBSTITUTION");
	return failed ? -1 : 0;
}

/* schema-post.sql in the live database, as the application. */
static int post_script(struct restorer *rs, const char *live)
{
	if (mysql_select_db(rs->a, live) != 0)
		return ms_log_error("database '%s': selecting the live database failed: %s", rs->alias,
				    mysql_error(rs->a));
	if (run_script(rs, rs->post, rs->post_len, rs->post_path) < 0)
		return -1;
	return ms_my_pin_session(rs->a, rs->alias, "NO_ENGINE_SUBSTITUTION");
}

/* RENAME TABLE moving `out` (live -> retired) then the snapshot's tables
 * (staging -> live); `back` reverses it. NULL when there is nothing to
 * move. */
static char *rename_sql(const char *live, const char *staging, const char *retired, const struct ms_strv *out,
			const struct ms_manifest_db *mdb, bool back)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;

	if (out->n == 0 && mdb->n_tables == 0)
		return NULL;
	ms_strbuf_addstr(&sb, "RENAME TABLE ");
	for (size_t pass = 0; pass < 2; pass++) {
		bool moving_out = (pass == 0) != back;

		for (size_t i = 0; moving_out ? i < out->n : i < mdb->n_tables; i++) {
			const char *name = moving_out ? out->v[i] : mdb->tables[i].name;
			const char *from = moving_out ? live : staging, *to = moving_out ? retired : live;
			char *a = ms_my_qualified(back ? to : from, name), *b = ms_my_qualified(back ? from : to, name);

			ms_strbuf_addf(&sb, "%s%s TO %s", sb.len > 13 ? ", " : "", a, b);
			free(a);
			free(b);
		}
	}
	return ms_strbuf_detach(&sb);
}

/* After a failed schema-post: what was created is dropped, the tables
 * renamed back, the previous objects recreated. 0, or -1 when the
 * previous state could not be put back entirely (logged). */
static int roll_back(struct restorer *rs, const char *live, const char *undo, struct live_objects *lo)
{
	struct live_objects now;
	int ret;

	memset(&now, 0, sizeof(now));
	ms_log_warn("database '%s': putting the previous tables back", rs->alias);
	ret = read_live(rs, live, &now, false);
	if (ret == 0)
		ret = drop_objects(rs, live, &now);
	live_objects_clear(&now);
	if (ret == 0 && undo)
		ret = ms_my_exec(rs->m, rs->alias, undo, "renaming the previous tables back");
	if (ret < 0)
		return -1;
	return recreate(rs, live, lo);
}

/* The swap and what follows it; rs->target is the staging database.
 * Returns 0; -1 with the live database as it was (the caller drops the
 * staging database); -2 when the previous state could not be restored:
 * the retired and staging databases are kept and named. */
static int swap_in(struct restorer *rs, const char *live, const char *retired)
{
	struct live_objects lo;
	char *sql = NULL, *undo = NULL;
	int ret = -1;

	memset(&lo, 0, sizeof(lo));
	if (create_database(rs, live, "live", true) < 0 || read_live(rs, live, &lo, true) < 0)
		goto out;
	if (create_database(rs, retired, "retired", false) < 0)
		goto out;
	sql = rename_sql(live, rs->target, retired, &lo.tables, rs->mdb, false);
	undo = rename_sql(live, rs->target, retired, &lo.tables, rs->mdb, true);
	/* Views, triggers and routines cannot move to another database: they
	 * are dropped just before the RENAME and recreated if it fails. */
	if (drop_objects(rs, live, &lo) < 0 || (sql && ms_my_exec(rs->m, rs->alias, sql, "replacing the live tables") < 0)) {
		if (recreate(rs, live, &lo) < 0)
			ms_log_error("database '%s': some previous views, triggers or routines could not be recreated "
				     "(the safety snapshot has them)", rs->alias);
		drop_database(rs, retired);
		goto out;
	}
	if (post_script(rs, live) < 0) {
		if (roll_back(rs, live, undo, &lo) < 0) {
			ms_log_error("database '%s': the previous state could not be put back entirely: the previous "
				     "tables are in database '%s', the snapshot's in '%s' or '%s'", rs->alias, retired,
				     live, rs->target);
			ret = -2;
			goto out;
		}
		drop_database(rs, retired);
		goto out;
	}
	ms_my_exec(rs->m, rs->alias, "SET SESSION foreign_key_checks = 0", "pinning session settings");
	if (drop_database(rs, retired) < 0)
		ms_log_warn("database '%s': the previous tables are left in database '%s'", rs->alias, retired);
	ret = 0;
out:
	free(sql);
	free(undo);
	live_objects_clear(&lo);
	return ret;
}

/* The user lock (GET_LOCK: server-wide) a run holds on its admin
 * connection while its side databases may exist, named after its
 * msrestore_ or msverify_ database: a run on another host, or in another
 * container with the same pid, keeps its own. With `take`, GET_LOCK
 * (1: now ours); else IS_FREE_LOCK (1: nobody holds it). 1, 0, or -1 after
 * logging. */
static int side_lock(struct restorer *rs, bool take, const char *name)
{
	char *lit = ms_my_literal(rs->m, name);
	char *sql = take ? ms_xasprintf("SELECT GET_LOCK(%s, 0)", lit) : ms_xasprintf("SELECT IS_FREE_LOCK(%s)", lit);
	struct ms_my_rows r;
	int ret = -1;

	if (ms_my_select(rs->m, rs->alias, sql, "taking a user lock", &r) == 0) {
		const char *v = ms_my_cell(&r, 0, 0);

		ret = v && !strcmp(v, "1");
		ms_my_rows_clear(&r);
	}
	free(sql);
	free(lit);
	return ret;
}

/* Takes this run's lock (side_lock) for its side database `target`:
 * 0, or -1 after logging (another run holds it: same pid elsewhere). */
static int hold_side_lock(struct restorer *rs, const char *target)
{
	int rc = side_lock(rs, true, target);

	if (rc == 0)
		ms_log_error("database '%s': another restore holds the lock named '%s' (a process with this pid on "
			     "another host or container?): try again", rs->alias, target);
	return rc == 1 ? 0 : -1;
}

/* Side databases of this database left by a run that was killed: its
 * lock is free, and its pid no longer exists here (or is ours: a process
 * before us had it): dropped, with a warning. */
static void drop_stale(struct restorer *rs, const char *name)
{
	static const char *const kinds[] = { "msrestore", "msold", "msverify" };
	struct ms_my_rows r;

	if (ms_my_select(rs->m, rs->alias, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE "
			 "SCHEMA_NAME LIKE 'msrestore\\_%' OR SCHEMA_NAME LIKE 'msold\\_%' "
			 "OR SCHEMA_NAME LIKE 'msverify\\_%'", "listing databases", &r) < 0)
		return;
	for (size_t i = 0; i < r.n_rows; i++) {
		const char *s = ms_my_cell(&r, i, 0);

		for (size_t k = 0; s && k < 3; k++) {
			long pid = ms_db_side_pid(s, kinds[k]);
			char *expect, *lock;

			if (pid < 0)
				continue;
			expect = ms_xasprintf("%s_%ld_%s", kinds[k], pid, name);
			if (strlen(expect) > NAME_MAX_MY)
				expect[NAME_MAX_MY] = '\0';
			lock = ms_xasprintf("%s_%ld_%s", k == 1 ? "msrestore" : kinds[k], pid, name);
			if (strlen(lock) > NAME_MAX_MY)
				lock[NAME_MAX_MY] = '\0';
			if (!strcmp(expect, s) && side_lock(rs, false, lock) == 1 &&
			    (pid == (long)getpid() || (kill((pid_t)pid, 0) < 0 && errno == ESRCH))) {
				ms_log_warn("database '%s': dropping '%s', left behind by an interrupted run", rs->alias, s);
				drop_database(rs, s);
				side_grant(rs, s, false, true);
			}
			free(expect);
			free(lock);
		}
	}
	ms_my_rows_clear(&r);
}

/* On a fresh server the application's account may not exist yet: with an
 * administrator connection, it is created for the local socket (or the
 * loopback address settings.py names) with settings.py's password and
 * given all privileges on its database. Any other host is left to the
 * administrator (the account's host part is the application server's).
 * Best effort: a failure is a warning, the data is restored. */
static void ensure_user(struct restorer *rs, const struct ms_dbconf *db, const struct ms_db_admin *admin)
{
	const char *host;
	char *u, *h, *sql, *pw, *q;
	struct ms_my_rows r;
	bool exists;

	if (!admin || !admin->user || !*db->user || !db->password)
		return;
	if (!*db->host || db->host[0] == '/' || !strcmp(db->host, "localhost"))
		host = "localhost";
	else if (!strcmp(db->host, "127.0.0.1") || !strcmp(db->host, "::1"))
		host = db->host;
	else
		return;
	u = ms_my_literal(rs->m, db->user);
	h = ms_my_literal(rs->m, host);
	sql = ms_xasprintf("SELECT COUNT(*) FROM mysql.user WHERE User = %s AND Host = %s", u, h);
	if (ms_my_select(rs->m, rs->alias, sql, "looking the account up", &r) < 0) {
		free(sql);
		goto out;
	}
	exists = r.n_rows == 1 && ms_my_cell(&r, 0, 0) && strcmp(ms_my_cell(&r, 0, 0), "0") != 0;
	ms_my_rows_clear(&r);
	free(sql);
	if (exists)
		goto out;
	pw = ms_my_literal(rs->m, db->password);
	sql = ms_xasprintf("CREATE USER %s@%s IDENTIFIED BY %s", u, h, pw); /* never logged */
	ms_free_secret(pw);
	if (ms_my_exec(rs->m, rs->alias, sql, "creating the application's account") < 0) {
		ms_free_secret(sql);
		ms_log_warn("database '%s': create the account '%s'@'%s' by hand", rs->alias, db->user, host);
		goto out;
	}
	ms_free_secret(sql);
	q = ms_my_ident(db->name);
	sql = ms_xasprintf("GRANT ALL PRIVILEGES ON %s.* TO %s@%s", q, u, h);
	if (ms_my_exec(rs->m, rs->alias, sql, "granting the application's account its database") == 0)
		ms_log_info("database '%s': created user '%s'@'%s' with all privileges on '%s'", rs->alias, db->user,
			    host, db->name);
	free(q);
	free(sql);
out:
	free(u);
	free(h);
}

/* --- entry points --------------------------------------------------------- */

/* The application account as the server knows it (CURRENT_USER()). */
static int read_app_account(struct restorer *rs)
{
	struct ms_my_rows r;
	const char *cu, *at;

	if (ms_my_select(rs->a, rs->alias, "SELECT CURRENT_USER()", "reading the application's account", &r) < 0)
		return -1;
	cu = r.n_rows == 1 ? ms_my_cell(&r, 0, 0) : NULL;
	at = cu ? strrchr(cu, '@') : NULL;
	if (!at) {
		ms_my_rows_clear(&r);
		return ms_log_error("database '%s': unable to read the application's account", rs->alias);
	}
	rs->app_user = ms_xstrndup(cu, (size_t)(at - cu));
	rs->app_host = ms_xstrdup(at + 1);
	ms_my_rows_clear(&r);
	return 0;
}

static int pin(MYSQL *m, const char *alias)
{
	if (ms_my_pin_session(m, alias, "NO_ENGINE_SUBSTITUTION") < 0)
		return -1;
	/* the RENAME must not queue behind a long transaction for hours
	 * while the live views and triggers are gone */
	{
		char sql[64];

		snprintf(sql, sizeof(sql), "SET SESSION lock_wait_timeout = %d", my_lock_timeout_s);
		return ms_my_exec(m, alias, sql, "pinning session settings");
	}
}

/* Two connections: rs->m (admin_user when set) creates and drops the
 * side databases and swaps the tables; rs->a, the application's own
 * account, runs the dump's SQL and loads its rows, so that the snapshot's
 * statements never run with an administrator's rights. Without
 * admin_user both are the application's login. With `make_user` (a
 * restore), a missing application account is created first. */
static int start(struct restorer *rs, const struct ms_dbconf *db, const struct ms_db_admin *admin,
		 const struct ms_manifest *m, const char *alias, bool make_user, struct ms_progress *progress)
{
	bool as_admin = admin && admin->user;

	memset(rs, 0, sizeof(*rs));
	pthread_mutex_init(&rs->ready_mu, NULL);
	pthread_cond_init(&rs->ready_cv, NULL);
	rs->last_table = NO_TABLE;
	rs->db = db;
	rs->alias = alias;
	rs->live = db->name;
	rs->mdb = ms_db_find(m, alias);
	if (!rs->mdb)
		return ms_log_error("database '%s': not in the snapshot", alias);
	if (!rs->mdb->engine || strcmp(rs->mdb->engine, "mysql") != 0)
		return ms_log_error("database '%s': the snapshot holds a %s dump, not a mysql one", alias,
				    rs->mdb->engine ? rs->mdb->engine : "unknown");
	rs->prefix = ms_xasprintf("db/%s/", alias);
	rs->seen = ms_xcalloc(rs->mdb->n_tables + 1, sizeof(*rs->seen));
	rs->cols = ms_xcalloc(rs->mdb->n_tables + 1, sizeof(*rs->cols));
	rs->keys_add = ms_xcalloc(rs->mdb->n_tables + 1, sizeof(*rs->keys_add));
	rs->keys_show = ms_xcalloc(rs->mdb->n_tables + 1, sizeof(*rs->keys_show));
	rs->owner = ms_xcalloc(rs->mdb->n_tables + 1, sizeof(*rs->owner));
	rs->passed = ms_xcalloc(rs->mdb->n_tables + 1, sizeof(*rs->passed));
	rs->a_open = NO_TABLE;
	rs->progress = progress;
	ms_progress_db(progress, rs->mdb);
	rs->m = ms_my_connect(db, as_admin ? admin->user : NULL, as_admin ? admin->password : NULL,
			      MS_MY_NO_DB | (as_admin ? 0 : MS_MY_LOCAL_INFILE));
	if (!rs->m || pin(rs->m, alias) < 0)
		return -1;
	if (as_admin) {
		if (make_user)
			ensure_user(rs, db, admin);
		rs->a = ms_my_connect(db, NULL, NULL, MS_MY_NO_DB | MS_MY_LOCAL_INFILE);
		if (!rs->a || pin(rs->a, alias) < 0)
			return -1;
	} else {
		rs->a = rs->m;
	}
	mysql_set_local_infile_handler(rs->a, infile_init, infile_read, infile_end, infile_error, &rs->src);
	return read_app_account(rs);
}

/* `name` quoted for GRANT/REVOKE: '_' and '%' are wildcards there. */
static char *grant_ident(const char *name)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	char *q;

	for (const char *p = name; *p; p++) {
		if (*p == '_' || *p == '%')
			ms_strbuf_addch(&sb, '\\');
		ms_strbuf_addch(&sb, *p);
	}
	q = ms_my_ident(ms_strbuf_str(&sb));
	ms_strbuf_release(&sb);
	return q;
}

/* GRANT or REVOKE the application account's rights on side database
 * `name` (nothing when it is the admin connection itself). */
static int side_grant(struct restorer *rs, const char *name, bool grant, bool quiet)
{
	char *q, *u, *h, *sql;
	int ret;

	if (rs->a == rs->m)
		return 0;
	q = grant_ident(name);
	u = ms_my_literal(rs->m, rs->app_user);
	h = ms_my_literal(rs->m, rs->app_host);
	sql = ms_xasprintf(grant ? "GRANT ALL PRIVILEGES ON %s.* TO %s@%s" : "REVOKE ALL PRIVILEGES ON %s.* FROM %s@%s",
			   q, u, h);
	if (quiet)
		ret = mysql_query(rs->m, sql) ? -1 : 0;
	else
		ret = ms_my_exec(rs->m, rs->alias, sql, grant ? "granting the application's account the side database"
								: "revoking the application's account's rights on the side database");
	free(q);
	free(u);
	free(h);
	free(sql);
	return ret;
}

/* Creates the staging or scratch database rs->target for the
 * application's account. */
static int create_target(struct restorer *rs, const char *role)
{
	if (create_database(rs, rs->target, role, false) < 0)
		return -1;
	if (side_grant(rs, rs->target, true, false) < 0) {
		drop_database(rs, rs->target);
		return -1;
	}
	return 0;
}

/* Drops rs->target and the application account's rights on it. */
static int drop_target(struct restorer *rs)
{
	int ret = drop_database(rs, rs->target);

	if (side_grant(rs, rs->target, false, false) < 0)
		ret = -1;
	return ret;
}

static void finish(struct restorer *rs)
{
	lanes_join(rs, true);
	for (size_t k = 0; k < EXTRA_LANES; k++)
		ms_my_close(rs->ld[k].c);
	pthread_cond_destroy(&rs->ready_cv);
	pthread_mutex_destroy(&rs->ready_mu);
	free(rs->owner);
	free(rs->passed);
	if (rs->a != rs->m)
		ms_my_close(rs->a);
	ms_my_close(rs->m);
	for (size_t i = 0; rs->cols && i < rs->mdb->n_tables; i++)
		ms_my_columns_clear(&rs->cols[i]);
	for (size_t i = 0; rs->keys_add && i < rs->mdb->n_tables; i++) {
		free(rs->keys_add[i]);
		free(rs->keys_show[i]);
	}
	free(rs->keys_add);
	free(rs->keys_show);
	free(rs->cols);
	free(rs->seen);
	free(rs->prefix);
	free(rs->target);
	free(rs->post);
	free(rs->post_path);
	free(rs->app_user);
	free(rs->app_host);
	memset(rs, 0, sizeof(*rs));
}

/* The dump's database name (the manifest's table schema), or NULL. */
static const char *dumped_name(const struct ms_manifest_db *mdb)
{
	return mdb->n_tables ? mdb->tables[0].schema : NULL;
}

int ms_my_restore_database(const struct ms_dbconf *db, const struct ms_db_admin *admin, const char *archive_path,
			   const struct ms_manifest *m, const char *alias, struct ms_progress *progress)
{
	struct restorer rs;
	char *retired = NULL;
	int ret = -1, rc;

	if (start(&rs, db, admin, m, alias, true, progress) < 0)
		goto out;
	if (dumped_name(rs.mdb) && strcmp(dumped_name(rs.mdb), db->name) != 0) {
		/* SHOW CREATE VIEW names the database in every view: restoring
		 * under another name would create them in the old one. */
		ms_log_error("database '%s': the snapshot holds database '%s', not '%s': restoring under another "
			     "name is not supported", alias, dumped_name(rs.mdb), db->name);
		goto out;
	}
	rs.target = side_name("msrestore", db->name);
	retired = side_name("msold", db->name);
	if (hold_side_lock(&rs, rs.target) < 0)
		goto out;
	drop_stale(&rs, db->name);
	if (create_target(&rs, "staging") < 0)
		goto out;
	if (load_and_check(&rs, archive_path) < 0) {
		drop_target(&rs);
		goto out;
	}
	ms_test_stall("db-load");
	rc = swap_in(&rs, db->name, retired);
	if (rc < 0) {
		if (rc == -1)
			drop_target(&rs);
		goto out;
	}
	ret = drop_target(&rs) < 0 ? -1 : 0;
out:
	finish(&rs);
	free(retired);
	return ret;
}

int ms_my_verify_scratch(const struct ms_dbconf *db, const struct ms_db_admin *admin, const char *archive_path,
			 const struct ms_manifest *m, const char *alias, struct ms_progress *progress)
{
	struct restorer rs;
	int ret = -2;

	if (start(&rs, db, admin, m, alias, false, progress) < 0)
		goto out;
	rs.target = side_name("msverify", db->name);
	if (hold_side_lock(&rs, rs.target) < 0)
		goto out;
	drop_stale(&rs, db->name);
	if (create_target(&rs, "scratch") < 0)
		goto out;
	ret = load_and_check(&rs, archive_path) < 0 ? -1 : 0;
	if (drop_target(&rs) < 0)
		ret = -1;
out:
	finish(&rs);
	return ret;
}

/* A read-only transaction on one consistent snapshot, with the dumper's
 * session settings (what every digest depends on). */
static int begin_consistent_read(MYSQL *m, const char *alias)
{
	if (ms_my_pin_session(m, alias, NULL) < 0 ||
	    ms_my_exec(m, alias, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
		       "setting the isolation level") < 0 ||
	    ms_my_exec(m, alias, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY", "starting the transaction") < 0)
		return -1;
	return 0;
}

int ms_my_check_database(const struct ms_dbconf *db, const struct ms_db_admin *admin,
			 const struct ms_manifest_db *mdb)
{
	MYSQL *m = ms_my_connect(db, admin && admin->user ? admin->user : NULL,
				 admin && admin->user ? admin->password : NULL, MS_MY_NO_DB);
	int ret = -1;

	if (!m)
		return -1;
	if (begin_consistent_read(m, mdb->alias) < 0)
		goto out;
	if (check_tables(m, mdb->alias, db->name, mdb) < 0)
		goto out;
	ret = ms_my_exec(m, mdb->alias, "COMMIT", "ending the transaction");
out:
	ms_my_close(m);
	return ret;
}

static bool in_manifest(const struct ms_manifest_db *mdb, const char *name)
{
	for (size_t i = 0; mdb && i < mdb->n_tables; i++)
		if (!strcmp(mdb->tables[i].name, name))
			return true;
	return false;
}

/* One live table for the plan: its digest when the snapshot has it, else
 * its row count. */
static int count_table(MYSQL *m, const struct ms_dbconf *db, const struct ms_manifest_db *mdb,
		       struct ms_table_count *tc)
{
	char *q, *count;
	struct ms_my_rows c;
	int rc;

	if (in_manifest(mdb, tc->name)) {
		tc->rows = table_digest(m, db->alias, db->name, tc->name, tc->digest);
		return tc->rows < 0 ? -1 : 0;
	}
	q = ms_my_qualified(db->name, tc->name);
	count = ms_xasprintf("SELECT COUNT(*) FROM %s", q);
	rc = ms_my_select(m, db->alias, count, "counting rows", &c);
	free(q);
	free(count);
	if (rc < 0)
		return -1;
	tc->rows = c.n_rows && ms_my_cell(&c, 0, 0) ? strtoll(ms_my_cell(&c, 0, 0), NULL, 10) : 0;
	ms_my_rows_clear(&c);
	return 0;
}

int ms_my_table_counts(const struct ms_dbconf *db, const struct ms_db_admin *admin, const struct ms_manifest_db *mdb,
		       struct ms_table_count **out, size_t *n)
{
	MYSQL *m = ms_my_connect(db, admin && admin->user ? admin->user : NULL,
				 admin && admin->user ? admin->password : NULL, MS_MY_NO_DB);
	struct ms_my_rows r = { 0 };
	char *lit, *sql;
	int ret = -1;

	*out = NULL;
	*n = 0;
	if (!m)
		return -1;
	lit = ms_my_literal(m, db->name);
	sql = ms_xasprintf("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", lit);
	if (ms_my_select(m, db->alias, sql, "looking the database up", &r) < 0)
		goto out;
	if (r.n_rows == 0) {
		ms_log_error("database '%s': database '%s' does not exist", db->alias, db->name);
		goto out;
	}
	ms_my_rows_clear(&r);
	free(sql);
	sql = ms_xasprintf("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
			   "AND TABLE_TYPE = 'BASE TABLE' ORDER BY BINARY TABLE_NAME", lit);
	if (begin_consistent_read(m, db->alias) < 0 || ms_my_select(m, db->alias, sql, "listing the tables", &r) < 0)
		goto out;
	*out = ms_xcalloc(r.n_rows + 1, sizeof(**out));
	for (size_t i = 0; i < r.n_rows; i++) {
		struct ms_table_count *tc = &(*out)[(*n)++];

		tc->schema = ms_xstrdup(db->name);
		tc->name = ms_xstrdup(ms_my_cell(&r, i, 0));
		if (count_table(m, db, mdb, tc) < 0)
			goto out;
	}
	ret = ms_my_exec(m, db->alias, "COMMIT", "ending the transaction");
out:
	ms_my_rows_clear(&r);
	free(lit);
	free(sql);
	ms_my_close(m);
	if (ret < 0) {
		ms_table_counts_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return ret;
}
