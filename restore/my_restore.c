/*
 * The MariaDB/MySQL restore engine (see my_restore.h): staging database,
 * digests, one RENAME TABLE, then routines, views and triggers.
 */
#include "my_restore.h"

#include <errno.h>
#include <fcntl.h>
#include <mysql.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbreplay.h"
#include "log.h"
#include "my_conn.h"
#include "my_text.h"
#include "rowdigest.h"
#include "snaparchive.h"
#include "strbuf.h"
#include "util.h"

#define SCRIPT_MAX ((size_t)256 << 20) /* schema text we accept */
#define NAME_MAX_MY 64                /* MariaDB identifier length */

/* Where the member stream stands (my_dump.h gives the order). */
enum phase {
	PH_START, /* schema-pre.sql next */
	PH_DATA,  /* data chunks or load.sql next */
	PH_LOAD,  /* load.sql seen: schema-post.sql next */
	PH_DONE,
};

/* One restore (or scratch verify) run, passed to every step. */
struct restorer {
	const char *alias;                /* borrowed */
	const struct ms_manifest_db *mdb; /* borrowed */
	MYSQL *m;                         /* owned */
	struct ms_archive_reader *r;      /* borrowed while replaying */
	char *prefix;                     /* "db/<alias>/" (owned) */
	char *target;                     /* database loaded into (owned) */
	enum phase phase;
	unsigned long *seen;              /* chunks loaded per table (owned) */
	struct ms_my_columns *cols;       /* per table, read on its first chunk (owned) */
	char *post;                       /* schema-post.sql text (owned) */
	size_t post_len;
	const char *infile;               /* the file name our LOAD DATA names */
	char infile_err[512];             /* handler failure, for the server's error */
};

/* --- small helpers -------------------------------------------------------- */

static int fail(struct restorer *rs, const char *what)
{
	return ms_log_error("database '%s': %s failed: %s", rs->alias, what, mysql_error(rs->m));
}

/* "<prefix>_<pid>_<name>", at most 64 bytes. Caller frees. */
static char *side_name(const char *prefix, const char *name)
{
	char *s = ms_xasprintf("%s_%ld_%s", prefix, (long)getpid(), name);

	if (strlen(s) > NAME_MAX_MY)
		s[NAME_MAX_MY] = '\0';
	return s;
}

static char *qualified(const char *schema, const char *table)
{
	char *s = ms_my_ident(schema), *t = ms_my_ident(table), *q = ms_xasprintf("%s.%s", s, t);

	free(s);
	free(t);
	return q;
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
	int ret = 0;

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
	struct restorer *rs = userdata;

	*ptr = rs;
	if (!rs->infile || strcmp(filename, rs->infile) != 0) {
		snprintf(rs->infile_err, sizeof(rs->infile_err), "the server asked for file '%s', refused", filename);
		return 1;
	}
	rs->infile_err[0] = '\0';
	return 0;
}

static int infile_read(void *ptr, char *buf, unsigned int len)
{
	struct restorer *rs = ptr;
	ssize_t n = ms_archive_reader_read(rs->r, buf, len);

	if (n < 0) {
		snprintf(rs->infile_err, sizeof(rs->infile_err), "reading '%s' from the archive failed", rs->infile);
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
	struct restorer *rs = ptr;

	snprintf(msg, len, "%s", rs->infile_err[0] ? rs->infile_err : "local infile failed");
	return 2000; /* CR_UNKNOWN_ERROR */
}

/* After a LOAD DATA: any warning (truncation, a duplicate LOCAL skipped,
 * a conversion) means the rows are not what was dumped. */
static int check_warnings(struct restorer *rs, const char *table, const char *member)
{
	unsigned int n = mysql_warning_count(rs->m);
	struct ms_my_rows w;

	if (n == 0)
		return 0;
	if (ms_my_select(rs->m, rs->alias, "SHOW WARNINGS LIMIT 1", "reading the load's warnings", &w) < 0)
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

/* Runs every statement of a script; `what` names it in errors. */
static int run_script(struct restorer *rs, const char *text, size_t len, const char *what)
{
	size_t pos = 0, n = 0, slen;
	const char *stmt;
	int rc;

	while ((rc = ms_my_script_next(text, len, &pos, &stmt, &slen)) == 1) {
		n++;
		if (mysql_real_query(rs->m, stmt, (unsigned long)slen) != 0) {
			char *head = ms_xstrndup(stmt, slen > 60 ? 60 : slen);

			for (char *p = head; *p; p++)
				if (*p == '\n')
					*p = ' ';
			ms_log_error("database '%s': '%s': statement %zu (%s%s) failed: %s", rs->alias, what, n, head,
				     slen > 60 ? "..." : "", mysql_error(rs->m));
			free(head);
			return -1;
		}
		{
			MYSQL_RES *res = mysql_store_result(rs->m);

			if (res)
				mysql_free_result(res);
		}
	}
	if (rc < 0)
		return ms_log_error("database '%s': '%s': the last statement has no closing ';;' line", rs->alias,
				    what);
	return 0;
}

static int load_chunk(struct restorer *rs, const char *path, const char *rel)
{
	const struct ms_manifest_table *t;
	char *sql;
	size_t ti;
	int ret = 0;

	if (ms_db_chunk(rs->mdb, rs->alias, path, rel, ".tsv", rs->seen, &ti) < 0)
		return -1;
	t = &rs->mdb->tables[ti];
	if (!rs->cols[ti].n && ms_my_table_columns(rs->m, rs->alias, rs->target, t->name, &rs->cols[ti]) < 0)
		return -1;
	rs->infile = rel;
	sql = ms_my_load_sql(rs->m, rel, rs->target, t->name, &rs->cols[ti]);
	if (mysql_query(rs->m, sql) != 0) {
		ret = ms_log_error("database '%s': table '%s.%s': loading '%s' failed: %s%s", rs->alias, t->schema,
				   t->name, path, mysql_error(rs->m),
				   mysql_errno(rs->m) == 1148 ? " (the server's local_infile setting is OFF)" : "");
	} else {
		char *tn = ms_xasprintf("%s.%s", t->schema, t->name);

		ret = check_warnings(rs, tn, path);
		free(tn);
	}
	rs->infile = NULL;
	free(sql);
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
		return ret;
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
		return rs->post ? 0 : -1;
	}
	return ms_log_error("database '%s': unexpected member '%s'", rs->alias, path);
}

static int on_member(void *ctx, struct ms_archive_reader *r, const char *path)
{
	struct restorer *rs = ctx;

	rs->r = r;
	return restore_member(rs, path);
}

/* Streams the archive once, loading our alias' members into rs->target. */
static int replay_archive(struct restorer *rs, const char *archive_path)
{
	int rc;

	if (mysql_select_db(rs->m, rs->target) != 0) {
		char *what = ms_xasprintf("selecting database '%s'", rs->target);

		rc = fail(rs, what);
		free(what);
		return rc;
	}
	rc = ms_db_replay(archive_path, rs->prefix, rs->alias, on_member, rs);
	rs->r = NULL;
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

/* Rows and digest of every manifest table as found in database `schema`;
 * the table is named by its snapshot name in messages. */
static int check_tables(MYSQL *m, const char *alias, const char *schema, const struct ms_manifest_db *mdb)
{
	for (size_t i = 0; i < mdb->n_tables; i++) {
		const struct ms_manifest_table *t = &mdb->tables[i];
		struct ms_my_columns cols;
		struct ms_rowdigest dg;
		char hex[65];
		long long rows;

		if (ms_my_table_columns(m, alias, schema, t->name, &cols) < 0)
			return -1;
		ms_rowdigest_init(&dg);
		rows = ms_my_stream_rows(m, alias, schema, t->name, &cols, digest_line, &dg);
		ms_my_columns_clear(&cols);
		if (rows < 0)
			return -1;
		ms_rowdigest_hex(&dg, hex);
		if (rows != t->rows || strcmp(hex, t->digest) != 0)
			return ms_log_error("database '%s': table '%s.%s': digest differs from the snapshot "
					    "(rows %lld, expected %lld)", alias, t->schema, t->name, rows, t->rows);
	}
	return 0;
}

/* Loads the dump into rs->target (created here) and checks it. */
static int load_and_check(struct restorer *rs, const char *archive_path)
{
	if (ms_my_exec(rs->m, rs->alias, "SET SESSION foreign_key_checks = 0", "pinning session settings") < 0)
		return -1;
	if (replay_archive(rs, archive_path) < 0)
		return -1;
	return check_tables(rs->m, rs->alias, rs->target, rs->mdb);
}

/* --- the swap ------------------------------------------------------------- */

/* What the live database holds beside its tables, kept to recreate it. */
struct live_objects {
	struct ms_strv tables;  /* base tables */
	struct ms_strv views;   /* names */
	struct ms_strbuf saved; /* a script recreating its views, triggers, routines */
	struct ms_strv drops;   /* DROP statements for them */
};

static void live_objects_clear(struct live_objects *lo)
{
	ms_strv_clear(&lo->tables);
	ms_strv_clear(&lo->views);
	ms_strv_clear(&lo->drops);
	ms_strbuf_release(&lo->saved);
}

/* Appends SET sql_mode + the CREATE statement from SHOW CREATE. */
static int save_object(struct restorer *rs, struct live_objects *lo, const char *live, const char *kind,
		       const char *name, size_t col, bool has_mode)
{
	char *q = qualified(live, name), *sql = ms_xasprintf("SHOW CREATE %s %s", kind, q);
	struct ms_my_rows r;
	int ret = ms_my_select(rs->m, rs->alias, sql, "reading the live database's objects", &r);

	if (ret == 0 && (r.n_rows != 1 || !ms_my_cell(&r, 0, col)))
		ret = ms_log_error("database '%s': the definition of %s '%s' is not readable", rs->alias, kind, name);
	if (ret == 0) {
		char *mode = ms_my_literal(rs->m, has_mode && ms_my_cell(&r, 0, 1) ? ms_my_cell(&r, 0, 1) : "");
		char *set = ms_xasprintf("SET SESSION sql_mode = %s", mode);

		ms_my_script_add(&lo->saved, set, strlen(set));
		ms_my_script_add(&lo->saved, ms_my_cell(&r, 0, col), strlen(ms_my_cell(&r, 0, col)));
		ms_strv_push_owned(&lo->drops, ms_xasprintf("DROP %s IF EXISTS %s", kind, q));
		free(set);
		free(mode);
	}
	ms_my_rows_clear(&r);
	free(q);
	free(sql);
	return ret;
}

/* Lists and saves the live database's tables, views, triggers, routines. */
static int read_live(struct restorer *rs, const char *live, struct live_objects *lo)
{
	char *lit = ms_my_literal(rs->m, live);
	char *sql = ms_xasprintf(
		"SELECT TABLE_NAME, TABLE_TYPE, 'T' FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
		"UNION ALL SELECT TRIGGER_NAME, 'TRIGGER', 'X' FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s "
		"UNION ALL SELECT ROUTINE_NAME, ROUTINE_TYPE, 'R' FROM information_schema.ROUTINES "
		"WHERE ROUTINE_SCHEMA = %s AND ROUTINE_TYPE IN ('PROCEDURE', 'FUNCTION')", lit, lit, lit);
	struct ms_my_rows r;
	int ret = ms_my_select(rs->m, rs->alias, sql, "listing the live database's objects", &r);

	ms_strbuf_addstr(&lo->saved, MS_MY_SCRIPT_HEAD);
	for (size_t i = 0; ret == 0 && i < r.n_rows; i++) {
		const char *name = ms_my_cell(&r, i, 0), *type = ms_my_cell(&r, i, 1);

		if (!strcmp(type, "VIEW")) {
			ms_strv_push(&lo->views, name);
			ret = save_object(rs, lo, live, "VIEW", name, 1, false);
		} else if (!strcmp(type, "TRIGGER")) {
			ret = save_object(rs, lo, live, "TRIGGER", name, 2, true);
		} else if (!strcmp(type, "PROCEDURE") || !strcmp(type, "FUNCTION")) {
			ret = save_object(rs, lo, live, type, name, 2, true);
		} else {
			ms_strv_push(&lo->tables, name);
		}
	}
	ms_my_rows_clear(&r);
	free(lit);
	free(sql);
	return ret;
}

/* Runs the DROP statements for the live views, triggers and routines. */
static int drop_objects(struct restorer *rs, const struct ms_strv *drops)
{
	for (size_t i = 0; i < drops->n; i++)
		if (ms_my_exec(rs->m, rs->alias, drops->v[i], "dropping the live views, triggers and routines") < 0)
			return -1;
	return 0;
}

/* RENAME TABLE moving `out` (live -> retired) then `in` (staging -> live);
 * `back` reverses it. */
static char *rename_sql(const char *live, const char *staging, const char *retired, const struct ms_strv *out,
			const struct ms_manifest_db *mdb, bool back)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;

	ms_strbuf_addstr(&sb, "RENAME TABLE ");
	for (size_t pass = 0; pass < 2; pass++) {
		bool moving_out = (pass == 0) != back;

		for (size_t i = 0; moving_out ? i < out->n : i < mdb->n_tables; i++) {
			const char *name = moving_out ? out->v[i] : mdb->tables[i].name;
			const char *from = moving_out ? live : staging, *to = moving_out ? retired : live;
			char *a = qualified(back ? to : from, name), *b = qualified(back ? from : to, name);

			ms_strbuf_addf(&sb, "%s%s TO %s", sb.len > 13 ? ", " : "", a, b);
			free(a);
			free(b);
		}
	}
	return ms_strbuf_detach(&sb);
}

/* After a failed schema-post: views, triggers and routines made so far
 * are dropped, the tables renamed back, the saved objects recreated. */
static void roll_back(struct restorer *rs, const char *live, const char *undo, const struct live_objects *lo)
{
	struct live_objects now;

	memset(&now, 0, sizeof(now));
	ms_log_warn("database '%s': putting the previous tables back", rs->alias);
	if (read_live(rs, live, &now) == 0)
		drop_objects(rs, &now.drops);
	live_objects_clear(&now);
	if (ms_my_exec(rs->m, rs->alias, undo, "renaming the previous tables back") < 0)
		return;
	if (mysql_select_db(rs->m, live) == 0)
		run_script(rs, lo->saved.buf, lo->saved.len, "the previous views, triggers and routines");
}

/* The swap and what follows it; rs->target is the staging database. */
static int swap_in(struct restorer *rs, const char *live, const char *retired)
{
	struct live_objects lo;
	char *sql = NULL, *undo = NULL;
	int ret = -1;

	memset(&lo, 0, sizeof(lo));
	if (create_database(rs, live, "live", true) < 0 || read_live(rs, live, &lo) < 0)
		goto out;
	if (create_database(rs, retired, "retired", false) < 0)
		goto out;
	sql = rename_sql(live, rs->target, retired, &lo.tables, rs->mdb, false);
	undo = rename_sql(live, rs->target, retired, &lo.tables, rs->mdb, true);
	/* Views and triggers cannot move to another database: drop them just
	 * before the RENAME, recreate them if it fails. */
	if (drop_objects(rs, &lo.drops) < 0 || ms_my_exec(rs->m, rs->alias, sql, "replacing the live tables") < 0) {
		if (mysql_select_db(rs->m, live) == 0)
			run_script(rs, lo.saved.buf, lo.saved.len, "the previous views, triggers and routines");
		drop_database(rs, retired);
		goto out;
	}
	if (mysql_select_db(rs->m, live) != 0 ||
	    run_script(rs, rs->post, rs->post_len, "schema-post.sql") < 0 ||
	    ms_my_pin_session(rs->m, rs->alias, NULL) < 0) {
		roll_back(rs, live, undo, &lo);
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

/* --- entry points --------------------------------------------------------- */

static int start(struct restorer *rs, const struct ms_dbconf *db, const struct ms_config_db *admin,
		 const struct ms_manifest *m, const char *alias)
{
	memset(rs, 0, sizeof(*rs));
	rs->alias = alias;
	rs->mdb = ms_db_find(m, alias);
	if (!rs->mdb)
		return ms_log_error("database '%s': not in the snapshot", alias);
	if (!rs->mdb->engine || strcmp(rs->mdb->engine, "mysql") != 0)
		return ms_log_error("database '%s': the snapshot holds a %s dump, not a mysql one", alias,
				    rs->mdb->engine ? rs->mdb->engine : "unknown");
	rs->prefix = ms_xasprintf("db/%s/", alias);
	rs->seen = ms_xcalloc(rs->mdb->n_tables + 1, sizeof(*rs->seen));
	rs->cols = ms_xcalloc(rs->mdb->n_tables + 1, sizeof(*rs->cols));
	rs->m = ms_my_connect(db, admin && admin->admin_user ? admin->admin_user : NULL,
			      admin && admin->admin_user ? admin->admin_password : NULL, MS_MY_NO_DB | MS_MY_LOCAL_INFILE);
	if (!rs->m)
		return -1;
	mysql_set_local_infile_handler(rs->m, infile_init, infile_read, infile_end, infile_error, rs);
	return ms_my_pin_session(rs->m, alias, "NO_ENGINE_SUBSTITUTION");
}

static void finish(struct restorer *rs)
{
	ms_my_close(rs->m);
	for (size_t i = 0; rs->mdb && i < rs->mdb->n_tables; i++)
		ms_my_columns_clear(&rs->cols[i]);
	free(rs->cols);
	free(rs->seen);
	free(rs->prefix);
	free(rs->target);
	free(rs->post);
	memset(rs, 0, sizeof(*rs));
}

/* The dump's database name (the manifest's table schema), or NULL. */
static const char *dumped_name(const struct ms_manifest_db *mdb)
{
	return mdb->n_tables ? mdb->tables[0].schema : NULL;
}

int ms_my_restore_database(const struct ms_dbconf *db, const struct ms_config_db *admin, const char *archive_path,
			   const struct ms_manifest *m, const char *alias)
{
	struct restorer rs;
	char *retired = NULL;
	int ret = -1;

	if (start(&rs, db, admin, m, alias) < 0)
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
	if (create_database(&rs, rs.target, "staging", false) < 0)
		goto out;
	if (load_and_check(&rs, archive_path) < 0 || swap_in(&rs, db->name, retired) < 0) {
		drop_database(&rs, rs.target);
		goto out;
	}
	ret = drop_database(&rs, rs.target) < 0 ? -1 : 0;
out:
	finish(&rs);
	free(retired);
	return ret;
}

int ms_my_verify_scratch(const struct ms_dbconf *db, const struct ms_config_db *admin, const char *archive_path,
			 const struct ms_manifest *m, const char *alias)
{
	struct restorer rs;
	int ret = -2;

	if (start(&rs, db, admin, m, alias) < 0)
		goto out;
	rs.target = side_name("msverify", db->name);
	if (create_database(&rs, rs.target, "scratch", false) < 0)
		goto out;
	ret = load_and_check(&rs, archive_path) < 0 ? -1 : 0;
	if (drop_database(&rs, rs.target) < 0)
		ret = -1;
out:
	finish(&rs);
	return ret;
}

int ms_my_check_database(const struct ms_dbconf *db, const struct ms_config_db *admin,
			 const struct ms_manifest_db *mdb)
{
	MYSQL *m = ms_my_connect(db, admin && admin->admin_user ? admin->admin_user : NULL,
				 admin && admin->admin_user ? admin->admin_password : NULL, MS_MY_NO_DB);
	int ret = -1;

	if (!m)
		return -1;
	if (ms_my_pin_session(m, mdb->alias, NULL) < 0 ||
	    ms_my_exec(m, mdb->alias, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
		       "setting the isolation level") < 0 ||
	    ms_my_exec(m, mdb->alias, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
		       "starting the transaction") < 0)
		goto out;
	if (check_tables(m, mdb->alias, db->name, mdb) < 0)
		goto out;
	ret = ms_my_exec(m, mdb->alias, "COMMIT", "ending the transaction");
out:
	ms_my_close(m);
	return ret;
}
