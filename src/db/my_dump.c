/*
 * The MariaDB/MySQL dumper (see my_dump.h). One connection pins the
 * settings that fix the text of every row (utf8mb4, time_zone '+00:00',
 * sql_mode), starts one REPEATABLE READ transaction WITH CONSISTENT
 * SNAPSHOT, and reads every alias of the group inside it: the DDL from
 * SHOW CREATE, the rows with mysql_use_result into row-aligned chunks
 * (memory: one chunk), the routines, views and triggers last. No
 * mariadb-dump process, so no password on any command line.
 */
#include "db/my_dump.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db/dbmember.h"
#include "base/hash.h"
#include "base/log.h"
#include "db/my_conn.h"
#include "db/my_text.h"
#include "db/rowdigest.h"
#include "base/strbuf.h"
#include "base/util.h"

/* The sql_mode the schema scripts and loads run under. */
#define MY_RESTORE_MODE "NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION"

/* One dump run over a group of aliases, passed to every step. */
struct dumper {
	struct st_mysql *m;          /* the one connection (owned) */
	const struct ms_dbconf *db;  /* alias being dumped (borrowed) */
	const char *alias;           /* db->alias */
	char *prefix;                /* "db/<alias>" (owned) */
	struct ms_archive_writer *w; /* borrowed */
	ms_member_cb on_member;
	void *ctx;
	struct ms_rowchunks rc;      /* the current table's chunks (owned) */
	struct ms_rowdigest dg;      /* its digest so far */
	struct ms_my_dump *out;      /* the alias' result (borrowed) */
	char *server_version;        /* VERSION() (owned) */
};

/* --- archive members ------------------------------------------------------ */

static int write_member(struct dumper *d, const char *path, const void *buf, size_t len)
{
	return ms_db_write_member(d->w, path, buf, len, d->on_member, d->ctx);
}

static int write_script(struct dumper *d, const char *name, struct ms_strbuf *sb)
{
	char *path = ms_xasprintf("%s/%s", d->prefix, name);
	int ret;

	ms_strbuf_addstr(sb, "DELIMITER ;\n");
	ret = write_member(d, path, sb->buf, sb->len);
	free(path);
	return ret;
}

/* Appends a statement; a statement the `;;` framing cannot carry is an
 * error naming the object. */
static int add_stmt(struct dumper *d, struct ms_strbuf *sb, const char *stmt, const char *what)
{
	if (ms_my_script_add(sb, stmt, strlen(stmt)) < 0)
		return ms_log_error("database '%s': %s: its definition holds a line ';;', which the dump cannot frame",
				    d->alias, what);
	return 0;
}

/* The first lines of every script: the session the statements need. */
static void script_head(struct dumper *d, struct ms_strbuf *sb, const char *what)
{
	ms_strbuf_addf(sb, "-- modosnap: %s of MariaDB/MySQL database `%s` (DATABASES alias '%s')\n", what,
		       d->db->name, d->alias);
	ms_strbuf_addstr(sb, MS_MY_SCRIPT_HEAD);
	ms_my_script_add(sb, "SET NAMES utf8mb4", 17);
	ms_strbuf_addstr(sb, "SET SESSION time_zone = '+00:00', SESSION sql_mode = '" MY_RESTORE_MODE
			     "', SESSION foreign_key_checks = 0, SESSION unique_checks = 0\n;;\n");
}

/* --- tables and their DDL ------------------------------------------------- */

/* Reads the database's charset and its tables (name order, byte-wise). */
static int list_tables(struct dumper *d, struct ms_my_rows *tabs)
{
	struct ms_my_rows r;
	char *lit = ms_my_literal(d->m, d->db->name);
	char *sql = ms_xasprintf("SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM "
				 "information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", lit);
	int ret = -1;

	if (ms_my_select(d->m, d->alias, sql, "reading the database's character set", &r) < 0)
		goto out;
	if (r.n_rows != 1) {
		ms_log_error("database '%s': database '%s' not found on the server", d->alias, d->db->name);
		ms_my_rows_clear(&r);
		goto out;
	}
	d->out->charset = ms_xstrdup(ms_my_cell(&r, 0, 0) ? ms_my_cell(&r, 0, 0) : "");
	d->out->collation = ms_xstrdup(ms_my_cell(&r, 0, 1) ? ms_my_cell(&r, 0, 1) : "");
	ms_my_rows_clear(&r);
	free(sql);
	sql = ms_xasprintf("SELECT t.TABLE_NAME, t.TABLE_TYPE, COALESCE(t.ENGINE, ''), COALESCE(e.TRANSACTIONS, '') "
			   "FROM information_schema.TABLES t LEFT JOIN information_schema.ENGINES e "
			   "ON e.ENGINE = t.ENGINE WHERE t.TABLE_SCHEMA = %s ORDER BY BINARY t.TABLE_NAME", lit);
	ret = ms_my_select(d->m, d->alias, sql, "listing the tables", tabs);
out:
	free(lit);
	free(sql);
	return ret;
}

/* "TRIGGER" -> "trigger", for messages; caller frees. */
static char *lowercase(const char *s)
{
	char *l = ms_xstrdup(s);

	for (char *p = l; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return l;
}

/* "SHOW CREATE <kind> `db`.`name`": column `col` of its one row. */
static char *show_create(struct dumper *d, const char *kind, const char *name, size_t col, char **mode)
{
	struct ms_my_rows r;
	char *s = ms_my_ident(d->db->name), *n = ms_my_ident(name);
	char *sql = ms_xasprintf("SHOW CREATE %s %s.%s", kind, s, n);
	char *lower = lowercase(kind), *what;
	char *text = NULL;

	what = ms_xasprintf("reading the definition of %s '%s'", lower, name);
	free(lower);
	if (ms_my_select(d->m, d->alias, sql, what, &r) == 0) {
		if (r.n_rows != 1 || r.n_cols <= col || !ms_my_cell(&r, 0, col))
			ms_log_error("database '%s': %s failed: not visible to user '%s' (missing privilege?)",
				     d->alias, what, d->db->user);
		else
			text = ms_xstrdup(ms_my_cell(&r, 0, col));
		if (text && mode)
			*mode = ms_xstrdup(ms_my_cell(&r, 0, 1) ? ms_my_cell(&r, 0, 1) : "");
		ms_my_rows_clear(&r);
	}
	free(s);
	free(n);
	free(sql);
	free(what);
	return text;
}

/* Fills out->tables from the listing, refusing kinds we cannot restore,
 * and writes schema-pre.sql. */
static int dump_schema_pre(struct dumper *d, const struct ms_my_rows *tabs)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	int ret = -1;

	d->out->tables = ms_xcalloc(tabs->n_rows + 1, sizeof(*d->out->tables));
	script_head(d, &sb, "schema before the data");
	for (size_t i = 0; i < tabs->n_rows; i++) {
		const char *name = ms_my_cell(tabs, i, 0), *type = ms_my_cell(tabs, i, 1);
		struct ms_my_table *t;
		char *ddl;

		if (!strcmp(type, "VIEW"))
			continue;
		if (strcmp(type, "BASE TABLE") != 0) {
			ms_log_error("database '%s': '%s.%s' is a %s, which modosnap cannot dump", d->alias,
				     d->db->name, name, type);
			goto out;
		}
		if (strchr(name, '/')) {
			ms_log_error("database '%s': table '%s.%s': a name with '/' cannot be stored", d->alias,
				     d->db->name, name);
			goto out;
		}
		t = &d->out->tables[d->out->n_tables++];
		t->schema = ms_xstrdup(d->db->name);
		t->name = ms_xstrdup(name);
		t->engine = ms_xstrdup(ms_my_cell(tabs, i, 2));
		t->transactional = !strcmp(ms_my_cell(tabs, i, 3), "YES");
		ddl = show_create(d, "TABLE", name, 1, NULL);
		if (!ddl)
			goto out;
		{
			char *what = ms_xasprintf("table '%s.%s'", d->db->name, name);
			int rc = add_stmt(d, &sb, ddl, what);

			free(what);
			free(ddl);
			if (rc < 0)
				goto out;
		}
	}
	ret = write_script(d, "schema-pre.sql", &sb);
out:
	ms_strbuf_release(&sb);
	return ret;
}

/* --- table data ----------------------------------------------------------- */

/* One data line into the digest and the row-aligned chunks (ms_my_line_cb). */
static int add_line(void *ctx, const char *line, size_t len)
{
	struct dumper *d = ctx;

	ms_rowdigest_add(&d->dg, line, len);
	return ms_rowchunks_add(&d->rc, line, len);
}

static int dump_table(struct dumper *d, struct ms_my_table *t, const struct ms_my_columns *cols)
{
	char *dir = ms_xasprintf("%s/data/%s.%s", d->prefix, t->schema, t->name);
	long long rows;

	if (!t->transactional)
		ms_log_warn("database '%s': table '%s.%s' uses the non-transactional engine %s: its rows are "
			    "not covered by the consistent snapshot", d->alias, t->schema, t->name, t->engine);
	ms_rowchunks_begin(&d->rc, dir, ".tsv");
	free(dir);
	ms_rowdigest_init(&d->dg);
	rows = ms_my_stream_rows(d->m, d->alias, t->schema, t->name, cols, add_line, d);
	if (rows < 0 || ms_rowchunks_end(&d->rc) < 0)
		return -1;
	t->rows = rows;
	t->chunks = d->rc.chunks;
	ms_rowdigest_hex(&d->dg, t->digest);
	return 0;
}

/* Every table's chunks, then load.sql with the statements that load them. */
static int dump_data(struct dumper *d)
{
	struct ms_strbuf load = MS_STRBUF_INIT;
	int ret = -1;

	script_head(d, &load, "data loading statements (run from db/<alias>/ with mariadb --local-infile=1)");
	for (size_t i = 0; i < d->out->n_tables; i++) {
		struct ms_my_table *t = &d->out->tables[i];
		struct ms_my_columns cols;
		int rc;

		if (ms_my_table_columns(d->m, d->alias, t->schema, t->name, &cols) < 0)
			goto out;
		rc = dump_table(d, t, &cols);
		for (unsigned long c = 1; rc == 0 && c <= t->chunks; c++) {
			char *file = ms_xasprintf("data/%s.%s/%06lu.tsv", t->schema, t->name, c);
			char *sql = ms_my_load_sql(d->m, file, NULL, t->name, &cols);

			if (ms_my_script_add(&load, sql, strlen(sql)) < 0)
				rc = ms_log_error("database '%s': table '%s.%s': its name cannot be framed in load.sql",
						  d->alias, t->schema, t->name);
			free(sql);
			free(file);
		}
		ms_my_columns_clear(&cols);
		if (rc < 0)
			goto out;
	}
	ret = write_script(d, "load.sql", &load);
out:
	ms_strbuf_release(&load);
	return ret;
}

/* --- routines, views, triggers -------------------------------------------- */

/* `SET SESSION sql_mode = '<mode>'` + the object's CREATE statement. */
static int add_with_mode(struct dumper *d, struct ms_strbuf *sb, const char *mode, const char *ddl,
			 const char *what)
{
	char *lit = ms_my_literal(d->m, mode ? mode : "");
	char *set = ms_xasprintf("SET SESSION sql_mode = %s", lit);
	int ret = add_stmt(d, sb, set, what);

	if (ret == 0)
		ret = add_stmt(d, sb, ddl, what);
	free(set);
	free(lit);
	return ret;
}

/* Each object that `list_sql` names (column 0; its SHOW CREATE kind in
 * column 1, or `kind` for all): its sql_mode and CREATE statement. */
static int dump_listed(struct dumper *d, struct ms_strbuf *sb, const char *list_sql, const char *listing,
		       const char *kind)
{
	struct ms_my_rows r;
	int ret = ms_my_select(d->m, d->alias, list_sql, listing, &r);

	for (size_t i = 0; ret == 0 && i < r.n_rows; i++) {
		const char *k = kind ? kind : ms_my_cell(&r, i, 1), *name = ms_my_cell(&r, i, 0);
		char *lower = lowercase(k), *mode = NULL, *what = ms_xasprintf("%s '%s'", lower, name);
		char *ddl = show_create(d, k, name, 2, &mode);

		free(lower);
		ret = ddl ? add_with_mode(d, sb, mode, ddl, what) : -1;
		free(ddl);
		free(mode);
		free(what);
	}
	ms_my_rows_clear(&r);
	return ret;
}

static int dump_routines(struct dumper *d, struct ms_strbuf *sb, const char *lit)
{
	char *sql = ms_xasprintf("SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES "
				 "WHERE ROUTINE_SCHEMA = %s AND ROUTINE_TYPE IN ('PROCEDURE', 'FUNCTION') "
				 "ORDER BY ROUTINE_TYPE, BINARY ROUTINE_NAME", lit);
	int ret = dump_listed(d, sb, sql, "listing the routines", NULL);

	free(sql);
	return ret;
}

static int dump_triggers(struct dumper *d, struct ms_strbuf *sb, const char *lit)
{
	char *sql = ms_xasprintf("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s "
				 "ORDER BY BINARY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER",
				 lit);
	int ret = dump_listed(d, sb, sql, "listing the triggers", "TRIGGER");

	free(sql);
	return ret;
}

/* Views in an order where each comes after the views it names: a view
 * depends on another when its definition holds that view's qualified
 * name `db`.`view` (a false match, e.g. in a string literal, only adds an
 * ordering constraint; on a cycle the rest follows in name order). */
static int dump_views(struct dumper *d, struct ms_strbuf *sb, const struct ms_my_rows *tabs)
{
	size_t n = 0, done = 0;
	char **names = ms_xcalloc(tabs->n_rows + 1, sizeof(char *));
	char **ddl = ms_xcalloc(tabs->n_rows + 1, sizeof(char *));
	char **quoted = ms_xcalloc(tabs->n_rows + 1, sizeof(char *));
	bool *out = ms_xcalloc(tabs->n_rows + 1, sizeof(bool));
	int ret = 0;

	for (size_t i = 0; i < tabs->n_rows && ret == 0; i++) {
		if (strcmp(ms_my_cell(tabs, i, 1), "VIEW") != 0)
			continue;
		names[n] = (char *)ms_my_cell(tabs, i, 0);
		/* SHOW CREATE VIEW qualifies every reference: `db`.`name` */
		quoted[n] = ms_my_qualified(d->db->name, names[n]);
		ddl[n] = show_create(d, "VIEW", names[n], 1, NULL);
		if (!ddl[n++])
			ret = -1;
	}
	while (ret == 0 && done < n) {
		size_t pick = n;

		for (size_t i = 0; i < n && pick == n; i++) {
			bool ready = !out[i];

			for (size_t j = 0; ready && j < n; j++)
				if (j != i && !out[j] && strstr(ddl[i], quoted[j]))
					ready = false;
			if (ready)
				pick = i;
		}
		for (size_t i = 0; i < n && pick == n; i++)
			if (!out[i])
				pick = i;
		{
			char *what = ms_xasprintf("view '%s'", names[pick]);

			ret = add_with_mode(d, sb, "NO_AUTO_VALUE_ON_ZERO", ddl[pick], what);
			free(what);
		}
		out[pick] = true;
		done++;
	}
	for (size_t i = 0; i < n; i++) {
		free(ddl[i]);
		free(quoted[i]);
	}
	free(names);
	free(ddl);
	free(quoted);
	free(out);
	return ret;
}

/* Events run on a schedule and are not part of a restore: say so. */
static int warn_events(struct dumper *d, const char *lit)
{
	struct ms_my_rows r;
	char *sql = ms_xasprintf("SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s", lit);
	int ret = ms_my_select(d->m, d->alias, sql, "listing the events", &r);

	if (ret == 0 && r.n_rows == 1 && ms_my_cell(&r, 0, 0) && strcmp(ms_my_cell(&r, 0, 0), "0") != 0)
		ms_log_warn("database '%s': %s scheduled event(s) are not in the snapshot", d->alias,
			    ms_my_cell(&r, 0, 0));
	ms_my_rows_clear(&r);
	free(sql);
	return ret;
}

static int dump_schema_post(struct dumper *d, const struct ms_my_rows *tabs)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	char *lit = ms_my_literal(d->m, d->db->name);
	int ret = -1;

	script_head(d, &sb, "schema after the data (routines, views, triggers)");
	if (dump_routines(d, &sb, lit) < 0 || dump_views(d, &sb, tabs) < 0 || dump_triggers(d, &sb, lit) < 0 ||
	    warn_events(d, lit) < 0)
		goto out;
	ret = write_script(d, "schema-post.sql", &sb);
out:
	ms_strbuf_release(&sb);
	free(lit);
	return ret;
}

/* --- the whole dump ------------------------------------------------------- */

static int dump_one(struct dumper *d)
{
	struct ms_my_rows tabs;
	int ret = -1;

	memset(&tabs, 0, sizeof(tabs));
	d->out->server_version = ms_xstrdup(d->server_version);
	d->prefix = ms_xasprintf("db/%s", d->alias);
	if (list_tables(d, &tabs) < 0)
		goto out;
	if (dump_schema_pre(d, &tabs) < 0 || dump_data(d) < 0 || dump_schema_post(d, &tabs) < 0)
		goto out;
	ret = 0;
out:
	ms_my_rows_clear(&tabs);
	free(d->prefix);
	d->prefix = NULL;
	return ret;
}

static int start_snapshot(struct dumper *d)
{
	struct ms_my_rows r;

	if (ms_my_pin_session(d->m, d->alias, NULL) < 0)
		return -1;
	if (ms_my_exec(d->m, d->alias, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
		       "setting the isolation level") < 0 ||
	    ms_my_exec(d->m, d->alias, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
		       "starting the transaction") < 0)
		return -1;
	if (ms_my_select(d->m, d->alias, "SELECT VERSION()", "reading the server version", &r) < 0)
		return -1;
	d->server_version = ms_xstrdup(r.n_rows == 1 && ms_my_cell(&r, 0, 0) ? ms_my_cell(&r, 0, 0) : "");
	ms_my_rows_clear(&r);
	return 0;
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

bool ms_my_same_login(const struct ms_dbconf *a, const struct ms_dbconf *b)
{
	return a->engine == MS_DB_MYSQL && b->engine == MS_DB_MYSQL && same_str(a->host, b->host) &&
	       same_str(a->port, b->port) && same_str(a->user, b->user) && same_str(a->password, b->password);
}

int ms_my_dump_databases(const struct ms_dbconf *const *dbs, size_t n, struct ms_archive_writer *w,
			 size_t chunk_size, ms_member_cb on_member, void *ctx, struct ms_my_dump *out)
{
	struct dumper d;
	int ret = -1;

	for (size_t i = 0; i < n; i++)
		memset(&out[i], 0, sizeof(out[i]));
	if (n == 0)
		return 0;
	if (chunk_size == 0)
		return ms_log_error("database '%s': chunk size must be positive", dbs[0]->alias);
	memset(&d, 0, sizeof(d));
	d.db = dbs[0];
	d.alias = dbs[0]->alias;
	d.w = w;
	d.on_member = on_member;
	d.ctx = ctx;
	d.out = &out[0];
	d.m = ms_my_connect(dbs[0], NULL, NULL, MS_MY_NO_DB);
	if (!d.m)
		return -1;
	ms_rowchunks_init(&d.rc, w, chunk_size, on_member, ctx);
	if (start_snapshot(&d) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		d.db = dbs[i];
		d.alias = dbs[i]->alias;
		d.out = &out[i];
		if (dump_one(&d) < 0)
			goto out;
	}
	if (ms_my_exec(d.m, d.alias, "COMMIT", "ending the transaction") < 0)
		goto out;
	ret = 0;
out:
	ms_my_close(d.m);
	ms_rowchunks_release(&d.rc);
	free(d.server_version);
	if (ret < 0)
		for (size_t i = 0; i < n; i++)
			ms_my_dump_clear(&out[i]);
	return ret;
}

void ms_my_dump_clear(struct ms_my_dump *d)
{
	free(d->server_version);
	free(d->charset);
	free(d->collation);
	for (size_t i = 0; i < d->n_tables; i++) {
		free(d->tables[i].schema);
		free(d->tables[i].name);
		free(d->tables[i].engine);
	}
	free(d->tables);
	memset(d, 0, sizeof(*d));
}
