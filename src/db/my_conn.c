/*
 * MariaDB/MySQL through mariadb-connector-c: connecting from an ms_dbconf,
 * the small query helpers the dumper and the restore engine share
 * (my_conn.h), reading a table's rows in the dump's line format, and
 * probing server version, size and applied migrations for `inspect`.
 */
#include "db/db.h"
#include "db/my_conn.h"

#include <mysql.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/strbuf.h"
#include "base/util.h"

/* HOST "" or "localhost" means the default socket; "/..." is a socket path. */
struct st_mysql *ms_my_connect(const struct ms_dbconf *db, const char *user, const char *password,
			       unsigned flags)
{
	const char *host = NULL, *sock = NULL;
	unsigned long port = 0;
	unsigned int timeout = 10;
	my_bool local = (flags & MS_MY_LOCAL_INFILE) ? 1 : 0;
	MYSQL *m = mysql_init(NULL);

	if (!m) {
		ms_log_error("unable to connect to database '%s' (mysql): out of memory", db->alias);
		return NULL;
	}
	if (db->host[0] == '/')
		sock = db->host;
	else if (*db->host)
		host = db->host;
	if (*db->port && ms_parse_ulong(db->port, 1, 65535, &port) < 0) {
		ms_log_error("database '%s' (mysql): invalid port '%s'", db->alias, db->port);
		mysql_close(m);
		return NULL;
	}
	if (!user) {
		user = *db->user ? db->user : NULL;
		password = db->password;
	}
	mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_options(m, MYSQL_OPT_LOCAL_INFILE, &local);
	if (!mysql_real_connect(m, host, user, password, (flags & MS_MY_NO_DB) ? NULL : db->name,
				(unsigned int)port, sock, 0)) {
		char *where = ms_db_describe(db);

		char *msg = ms_xasprintf("unable to connect to database '%s' (mysql, %s%s%s): %s", db->alias, where,
					 user && strcmp(user, db->user) ? " as " : "",
					 user && strcmp(user, db->user) ? user : "", mysql_error(m));

		if (flags & MS_MY_QUIET)
			ms_log_debug("%s", msg);
		else
			ms_log_error("%s", msg);
		free(msg);
		free(where);
		mysql_close(m);
		return NULL;
	}
	return m;
}

void ms_my_close(struct st_mysql *m)
{
	if (m)
		mysql_close(m);
}

static int my_fail(MYSQL *m, const char *alias, const char *what)
{
	return ms_log_error("database '%s': %s failed: %s", alias, what, mysql_error(m));
}

/* Reads and frees every result of the last statement(s). */
static int drain_results(MYSQL *m, const char *alias, const char *what)
{
	int st;

	do {
		MYSQL_RES *res = mysql_store_result(m);

		if (res)
			mysql_free_result(res);
		else if (mysql_field_count(m) != 0)
			return my_fail(m, alias, what);
		st = mysql_next_result(m);
		if (st > 0)
			return my_fail(m, alias, what);
	} while (st == 0);
	return 0;
}

int ms_my_exec_len(struct st_mysql *m, const char *alias, const char *sql, size_t len, const char *what)
{
	if (mysql_real_query(m, sql, (unsigned long)len) != 0)
		return my_fail(m, alias, what);
	return drain_results(m, alias, what);
}

int ms_my_exec(struct st_mysql *m, const char *alias, const char *sql, const char *what)
{
	return ms_my_exec_len(m, alias, sql, strlen(sql), what);
}

int ms_my_select(struct st_mysql *m, const char *alias, const char *sql, const char *what, struct ms_my_rows *out)
{
	MYSQL_RES *res;
	MYSQL_ROW row;
	size_t r = 0;

	memset(out, 0, sizeof(*out));
	if (mysql_query(m, sql) != 0 || !(res = mysql_store_result(m)))
		return my_fail(m, alias, what);
	out->n_rows = (size_t)mysql_num_rows(res);
	out->n_cols = mysql_num_fields(res);
	out->cell = ms_xcalloc(out->n_rows * out->n_cols + 1, sizeof(*out->cell));
	while ((row = mysql_fetch_row(res)) && r < out->n_rows) {
		unsigned long *lens = mysql_fetch_lengths(res);

		for (size_t c = 0; c < out->n_cols; c++)
			out->cell[r * out->n_cols + c] = row[c] ? ms_xstrndup(row[c], lens[c]) : NULL;
		r++;
	}
	mysql_free_result(res);
	return 0;
}

const char *ms_my_cell(const struct ms_my_rows *r, size_t row, size_t col)
{
	return r->cell[row * r->n_cols + col];
}

void ms_my_rows_clear(struct ms_my_rows *r)
{
	for (size_t i = 0; r->cell && i < r->n_rows * r->n_cols; i++)
		free(r->cell[i]);
	free(r->cell);
	memset(r, 0, sizeof(*r));
}

char *ms_my_ident(const char *ident)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;

	ms_strbuf_addch(&sb, '`');
	for (const char *p = ident; *p; p++) {
		if (*p == '`')
			ms_strbuf_addch(&sb, '`');
		ms_strbuf_addch(&sb, *p);
	}
	ms_strbuf_addch(&sb, '`');
	return ms_strbuf_detach(&sb);
}

char *ms_my_qualified(const char *schema, const char *name)
{
	char *s = ms_my_ident(schema), *n = ms_my_ident(name), *q = ms_xasprintf("%s.%s", s, n);

	free(s);
	free(n);
	return q;
}

char *ms_my_literal(struct st_mysql *m, const char *text)
{
	size_t len = strlen(text);
	char *out = ms_xmalloc(2 * len + 3);
	unsigned long n;

	out[0] = '\'';
	n = mysql_real_escape_string(m, out + 1, text, (unsigned long)len);
	out[n + 1] = '\'';
	out[n + 2] = '\0';
	return out;
}

int ms_my_table_columns(struct st_mysql *m, const char *alias, const char *schema, const char *table,
			struct ms_my_columns *out)
{
	struct ms_my_rows r;
	char *s = ms_my_literal(m, schema), *t = ms_my_literal(m, table);
	char *sql = ms_xasprintf("SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS "
				 "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND EXTRA NOT LIKE '%%VIRTUAL GENERATED%%' "
				 "AND EXTRA NOT LIKE '%%STORED GENERATED%%' AND EXTRA NOT LIKE '%%PERSISTENT GENERATED%%' "
				 "ORDER BY ORDINAL_POSITION", s, t);
	char *what = ms_xasprintf("table '%s.%s': reading its columns", schema, table);
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (ms_my_select(m, alias, sql, what, &r) < 0)
		goto out;
	if (r.n_rows == 0) {
		ms_log_error("database '%s': table '%s.%s' has no stored columns", alias, schema, table);
		ms_my_rows_clear(&r);
		goto out;
	}
	out->v = ms_xcalloc(r.n_rows, sizeof(*out->v));
	for (size_t i = 0; i < r.n_rows; i++) {
		out->v[i].name = ms_xstrdup(ms_my_cell(&r, i, 0) ? ms_my_cell(&r, i, 0) : "");
		out->v[i].kind = ms_my_kind_of(ms_my_cell(&r, i, 1) ? ms_my_cell(&r, i, 1) : "");
	}
	out->n = r.n_rows;
	ms_my_rows_clear(&r);
	ret = 0;
out:
	free(s);
	free(t);
	free(sql);
	free(what);
	return ret;
}

void ms_my_columns_clear(struct ms_my_columns *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].name);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

static char *select_sql(const char *schema, const char *table, const struct ms_my_columns *cols)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	char *s = ms_my_ident(schema), *t = ms_my_ident(table);

	ms_strbuf_addstr(&sb, "SELECT ");
	for (size_t i = 0; i < cols->n; i++) {
		char *c = ms_my_ident(cols->v[i].name);

		if (cols->v[i].kind == MS_MY_FLOAT)
			ms_strbuf_addf(&sb, "%sCAST(%s AS DOUBLE)", i ? ", " : "", c);
		else
			ms_strbuf_addf(&sb, "%s%s", i ? ", " : "", c);
		free(c);
	}
	ms_strbuf_addf(&sb, " FROM %s.%s", s, t);
	free(s);
	free(t);
	return ms_strbuf_detach(&sb);
}

long long ms_my_stream_rows(struct st_mysql *m, const char *alias, const char *schema, const char *table,
			    const struct ms_my_columns *cols, ms_my_line_cb cb, void *ctx)
{
	struct ms_strbuf line = MS_STRBUF_INIT;
	char *sql = select_sql(schema, table, cols);
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	long long rows = 0;
	int failed = 0;

	if (mysql_query(m, sql) != 0 || !(res = mysql_use_result(m))) {
		rows = ms_log_error("database '%s': reading table '%s.%s' failed: %s", alias, schema, table,
				    mysql_error(m));
		goto out;
	}
	if (mysql_num_fields(res) != cols->n) {
		rows = ms_log_error("database '%s': table '%s.%s': unexpected column count", alias, schema, table);
		goto out;
	}
	while ((row = mysql_fetch_row(res))) {
		unsigned long *lens = mysql_fetch_lengths(res);

		ms_strbuf_reset(&line);
		for (size_t i = 0; i < cols->n; i++) {
			if (i)
				ms_strbuf_addch(&line, '\t');
			ms_my_field_append(&line, row[i], row[i] ? lens[i] : 0, cols->v[i].kind);
		}
		ms_strbuf_addch(&line, '\n');
		if (!failed && cb(ctx, line.buf, line.len) < 0)
			failed = 1; /* keep fetching: the result must be read to its end */
		rows++;
	}
	if (mysql_errno(m)) {
		rows = ms_log_error("database '%s': reading table '%s.%s' failed: %s", alias, schema, table,
				    mysql_error(m));
		goto out;
	}
	if (failed)
		rows = -1;
out:
	if (res)
		mysql_free_result(res);
	ms_strbuf_release(&line);
	free(sql);
	return rows;
}

char *ms_my_load_sql(struct st_mysql *m, const char *file, const char *schema, const char *table,
		     const struct ms_my_columns *cols)
{
	struct ms_strbuf sb = MS_STRBUF_INIT, set = MS_STRBUF_INIT;
	char *lit = ms_my_literal(m, file), *t = ms_my_ident(table);

	ms_strbuf_addf(&sb, "LOAD DATA LOCAL INFILE %s INTO TABLE ", lit);
	if (schema) {
		char *s = ms_my_ident(schema);

		ms_strbuf_addf(&sb, "%s.", s);
		free(s);
	}
	ms_strbuf_addf(&sb, "%s CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' "
			    "LINES TERMINATED BY '\\n' (", t);
	for (size_t i = 0; i < cols->n; i++) {
		char *c = ms_my_ident(cols->v[i].name);

		if (i)
			ms_strbuf_addstr(&sb, ", ");
		if (cols->v[i].kind == MS_MY_TEXT || cols->v[i].kind == MS_MY_FLOAT) {
			ms_strbuf_addstr(&sb, c);
		} else {
			ms_strbuf_addf(&sb, "@c%zu", i + 1);
			ms_strbuf_addf(&set, set.len ? ", %s = " : " SET %s = ", c);
			if (cols->v[i].kind == MS_MY_HEX)
				ms_strbuf_addf(&set, "UNHEX(@c%zu)", i + 1);
			else
				ms_strbuf_addf(&set, "CAST(CONV(@c%zu, 16, 10) AS UNSIGNED)", i + 1);
		}
		free(c);
	}
	ms_strbuf_addch(&sb, ')');
	if (set.len)
		ms_strbuf_add(&sb, set.buf, set.len);
	ms_strbuf_release(&set);
	free(lit);
	free(t);
	return ms_strbuf_detach(&sb);
}

int ms_my_pin_session(struct st_mysql *m, const char *alias, const char *extra_mode)
{
	char *sql = ms_xasprintf("SET SESSION time_zone = '+00:00', SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO%s%s', "
				 "SESSION net_read_timeout = 3600, SESSION net_write_timeout = 3600, "
				 "SESSION wait_timeout = 28800 /*M!100108 , SESSION max_statement_time = 0 */",
				 extra_mode ? "," : "", extra_mode ? extra_mode : "");
	int ret = ms_my_exec(m, alias, sql, "pinning session settings");

	free(sql);
	return ret;
}

/* Runs a query and stores its result; NULL after logging. */
static MYSQL_RES *my_query(MYSQL *m, const char *alias, const char *sql)
{
	MYSQL_RES *res;

	if (mysql_query(m, sql) != 0 || !(res = mysql_store_result(m))) {
		ms_log_error("query on database '%s' (mysql) failed: %s", alias, mysql_error(m));
		return NULL;
	}
	return res;
}

static int my_probe_migrations(MYSQL *m, const char *alias, struct ms_db_probe *out)
{
	MYSQL_RES *res;
	MYSQL_ROW row;
	size_t n = 0;

	res = my_query(m, alias,
		       "SELECT m.app, m.name, (SELECT COUNT(*) FROM django_migrations) "
		       "FROM django_migrations m "
		       "WHERE m.id = (SELECT MAX(x.id) FROM django_migrations x WHERE x.app = m.app) "
		       "ORDER BY m.app");
	if (!res)
		return -1;
	out->heads = ms_xcalloc(mysql_num_rows(res), sizeof(*out->heads));
	while ((row = mysql_fetch_row(res))) {
		out->heads[n].app = ms_xstrdup(row[0] ? row[0] : "");
		out->heads[n].name = ms_xstrdup(row[1] ? row[1] : "");
		out->n_migrations = row[2] ? strtoll(row[2], NULL, 10) : 0;
		n++;
	}
	out->n_heads = n;
	mysql_free_result(res);
	return 0;
}

static int my_probe(const struct ms_dbconf *db, struct ms_db_probe *out)
{
	MYSQL *m = ms_my_connect(db, NULL, NULL, 0);
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	int ret = -1;

	if (!m)
		return -1;
	res = my_query(m, db->alias,
		       "SELECT VERSION(), "
		       "(SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables "
		       " WHERE table_schema = DATABASE()), "
		       "(SELECT default_character_set_name FROM information_schema.schemata "
		       " WHERE schema_name = DATABASE()), "
		       "(SELECT COUNT(*) FROM information_schema.tables "
		       " WHERE table_schema = DATABASE() AND table_name = 'django_migrations')");
	if (!res)
		goto out;
	row = mysql_fetch_row(res);
	if (!row || !row[0]) {
		ms_log_error("database '%s' (mysql): unable to read the server version", db->alias);
		goto out;
	}
	out->server_version = ms_xstrdup(row[0]);
	out->size_bytes = row[1] ? strtoll(row[1], NULL, 10) : 0;
	out->encoding = ms_xstrdup(row[2] ? row[2] : "");
	out->has_migrations = row[3] && strcmp(row[3], "0") != 0;
	if (out->has_migrations && my_probe_migrations(m, db->alias, out) < 0)
		goto out;
	ret = 0;
out:
	if (res)
		mysql_free_result(res);
	mysql_close(m);
	if (ret < 0)
		ms_db_probe_clear(out);
	return ret;
}

const struct ms_db_ops ms_my_ops = {
	.engine = "mysql",
	.probe = my_probe,
};
