/*
 * PostgreSQL through libpq: connecting from an ms_dbconf, the statement,
 * query and session helpers every PostgreSQL module uses (pg_conn.h), and
 * the engine's probe (server version, size and applied Django migrations)
 * for the engine-neutral interface (db.h).
 */
#include "db/pg_conn.h"

#include "db/db.h"
#include "base/log.h"
#include "base/util.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

/* libpq messages span lines ("...failed: X\n\tIs the server running...");
 * errors here are one line: whitespace runs become one space. Caller frees. */
char *ms_pg_one_line(const char *msg)
{
	char *out = ms_xmalloc(strlen(msg) + 1), *o = out;
	bool space = false;

	for (const char *p = msg; *p; p++) {
		if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') {
			space = o != out;
			continue;
		}
		if (space)
			*o++ = ' ';
		space = false;
		*o++ = *p;
	}
	*o = '\0';
	return out;
}

/* Server notices of every connection: WARNING (and worse) through
 * ms_log_warn naming the database alias, the rest at debug level; never
 * libpq's raw lines on stderr. `arg` is the alias, which outlives the
 * connection (it belongs to the ms_dbconf). */
static void notice_receiver(void *arg, const PGresult *res)
{
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	char *line = ms_pg_one_line(PQresultErrorMessage(res));

	if (sev && (!strcmp(sev, "WARNING") || !strcmp(sev, "ERROR") || !strcmp(sev, "FATAL") ||
		    !strcmp(sev, "PANIC")))
		ms_log_warn("database '%s': server: %s", (const char *)arg, line);
	else
		ms_log_debug("database '%s': server: %s", (const char *)arg, line);
	free(line);
}

/* Connects without ever putting the password in a connection string (so
 * it cannot leak through a message) and without expanding dbname as a
 * connection string. Returns NULL after logging (at debug level when
 * quiet). */
static PGconn *pg_connect(const struct ms_dbconf *db, bool quiet)
{
	const char *keys[8], *vals[8];
	int n = 0;
	PGconn *conn;

	keys[n] = "dbname", vals[n++] = db->name;
	if (*db->user)
		keys[n] = "user", vals[n++] = db->user;
	if (*db->host)
		keys[n] = "host", vals[n++] = db->host;
	if (*db->port)
		keys[n] = "port", vals[n++] = db->port;
	if (db->password)
		keys[n] = "password", vals[n++] = db->password;
	keys[n] = "connect_timeout", vals[n++] = "10";
	keys[n] = "application_name", vals[n++] = "modosnap";
	keys[n] = NULL, vals[n] = NULL;
	conn = PQconnectdbParams(keys, vals, 0);
	if (!conn) {
		ms_log_error("unable to connect to database '%s' (postgresql): out of memory", db->alias);
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		char *where = ms_db_describe(db);
		char *msg = ms_pg_one_line(PQerrorMessage(conn));

		if (quiet)
			ms_log_debug("unable to connect to database '%s' (postgresql, %s): %s", db->alias, where, msg);
		else
			ms_log_error("unable to connect to database '%s' (postgresql, %s): %s", db->alias, where, msg);
		free(where);
		free(msg);
		PQfinish(conn);
		return NULL;
	}
	PQsetNoticeReceiver(conn, notice_receiver, (void *)db->alias);
	return conn;
}

PGconn *ms_pg_connect(const struct ms_dbconf *db)
{
	return pg_connect(db, false);
}

PGconn *ms_pg_connect_quiet(const struct ms_dbconf *db)
{
	return pg_connect(db, true);
}

/* --- statements and queries (pg_conn.h) ---------------------------------- */

char *ms_pg_message(PGconn *conn, const PGresult *res)
{
	const char *msg = PQresultErrorMessage(res);

	return ms_pg_one_line(*msg ? msg : PQerrorMessage(conn));
}

int ms_pg_error(PGconn *conn, const char *alias, const char *what, const PGresult *res)
{
	char *line = ms_pg_message(conn, res);

	ms_log_error("database '%s': %s failed: %s", alias, what, line);
	free(line);
	return -1;
}

/* Clears res and returns 0 when it is a success of a statement that
 * returns no rows (or rows nobody reads); else reports it first. */
static int finish_exec(PGconn *conn, const char *alias, const char *what, ms_pg_report_fn report,
		       PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);
	int ret = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY)
		ret = (report ? report : ms_pg_error)(conn, alias, what, res);
	PQclear(res);
	return ret;
}

int ms_pg_exec(PGconn *conn, const char *alias, const char *sql, const char *what, ms_pg_report_fn report)
{
	return finish_exec(conn, alias, what, report, PQexec(conn, sql));
}

int ms_pg_exec_one(PGconn *conn, const char *alias, const char *sql, const char *what, ms_pg_report_fn report)
{
	return finish_exec(conn, alias, what, report, PQexecParams(conn, sql, 0, NULL, NULL, NULL, NULL, 0));
}

PGresult *ms_pg_rows(PGconn *conn, const char *alias, const char *sql, int n, const char *const *params,
		     const char *what, ms_pg_report_fn report)
{
	PGresult *res = n ? PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0) : PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		(report ? report : ms_pg_error)(conn, alias, what, res);
		PQclear(res);
		return NULL;
	}
	return res;
}

int ms_pg_copy_out(PGconn *conn, const char *alias, const char *sql, const char *what, ms_pg_row_cb cb,
		   void *ctx)
{
	PGresult *res = PQexec(conn, sql);
	int n, ret = -1;

	if (PQresultStatus(res) != PGRES_COPY_OUT) {
		ms_pg_error(conn, alias, what, res);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	for (;;) {
		char *row = NULL;
		int rc;

		n = PQgetCopyData(conn, &row, 0);
		if (n < 0)
			break;
		rc = cb(ctx, row, (size_t)n);
		PQfreemem(row);
		if (rc < 0)
			return -1;
	}
	if (n != -1)
		return ms_pg_error(conn, alias, what, NULL);
	res = PQgetResult(conn);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		ms_pg_error(conn, alias, what, res);
	else
		ret = 0;
	/* Drain: PQgetResult returns NULL once the command is done. */
	do
		PQclear(res);
	while ((res = PQgetResult(conn)) != NULL);
	return ret;
}

int ms_pg_pin_session(PGconn *conn, const char *alias, int lock_timeout_s, bool check_client,
		      const char *encoding, ms_pg_report_fn report)
{
	char *lock = lock_timeout_s > 0 ? ms_xasprintf("'%ds'", lock_timeout_s) : ms_xstrdup("0");
	char *sql = ms_xasprintf("SET DateStyle = ISO; SET IntervalStyle = postgres; SET extra_float_digits = 3; "
				 "SET TimeZone = 'UTC'; SET bytea_output = hex; SET standard_conforming_strings = on; "
				 "SET statement_timeout = 0; SET lock_timeout = %s; "
				 "SET idle_in_transaction_session_timeout = 0%s",
				 lock, check_client && PQserverVersion(conn) >= 140000
					       ? "; SET client_connection_check_interval = '2s'" : "");
	int rc = ms_pg_exec(conn, alias, sql, "pinning session settings", report);

	free(lock);
	free(sql);
	if (rc < 0)
		return -1;
	if (encoding && *encoding && PQsetClientEncoding(conn, encoding) != 0)
		return (report ? report : ms_pg_error)(conn, alias, "setting client_encoding", NULL);
	return 0;
}

/* --- the probe (db.h) ----------------------------------------------------- */

/* inspect's wording for a failed probe query. */
static int probe_error(PGconn *conn, const char *alias, const char *what, const PGresult *res)
{
	char *line = ms_pg_message(conn, res);

	(void)what;
	ms_log_error("query on database '%s' (postgresql) failed: %s", alias, line);
	free(line);
	return -1;
}

static PGresult *pg_query(PGconn *conn, const char *alias, const char *sql)
{
	return ms_pg_rows(conn, alias, sql, 0, NULL, NULL, probe_error);
}

static int pg_probe_migrations(PGconn *conn, const char *alias, struct ms_db_probe *out)
{
	PGresult *res;
	int rows;

	res = pg_query(conn, alias,
		       "SELECT m.app, m.name, (SELECT count(*) FROM django_migrations) "
		       "FROM django_migrations m "
		       "WHERE m.id = (SELECT max(id) FROM django_migrations x WHERE x.app = m.app) "
		       "ORDER BY m.app");
	if (!res)
		return -1;
	rows = PQntuples(res);
	out->heads = ms_xcalloc((size_t)rows, sizeof(*out->heads));
	for (int i = 0; i < rows; i++) {
		out->heads[i].app = ms_xstrdup(PQgetvalue(res, i, 0));
		out->heads[i].name = ms_xstrdup(PQgetvalue(res, i, 1));
		out->n_migrations = strtoll(PQgetvalue(res, i, 2), NULL, 10);
	}
	out->n_heads = (size_t)rows;
	PQclear(res);
	return 0;
}

static int pg_probe(const struct ms_dbconf *db, struct ms_db_probe *out)
{
	PGconn *conn = ms_pg_connect(db);
	PGresult *res = NULL;
	int ret = -1;

	if (!conn)
		return -1;
	res = pg_query(conn, db->alias,
		       "SELECT current_setting('server_version'), pg_database_size(current_database()), "
		       "pg_encoding_to_char(encoding), to_regclass('django_migrations') IS NOT NULL "
		       "FROM pg_database WHERE datname = current_database()");
	if (!res)
		goto out;
	if (PQntuples(res) != 1) {
		ms_log_error("database '%s' (postgresql): unable to read the server version", db->alias);
		goto out;
	}
	out->server_version = ms_xstrdup(PQgetvalue(res, 0, 0));
	out->size_bytes = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	out->encoding = ms_xstrdup(PQgetvalue(res, 0, 2));
	out->has_migrations = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
	if (out->has_migrations && pg_probe_migrations(conn, db->alias, out) < 0)
		goto out;
	ret = 0;
out:
	PQclear(res);
	PQfinish(conn);
	if (ret < 0)
		ms_db_probe_clear(out);
	return ret;
}

const struct ms_db_ops ms_pg_ops = {
	.engine = "postgresql",
	.probe = pg_probe,
};

char *ms_pg_value(PGconn *conn, const char *alias, const char *sql, const char *what, ms_pg_report_fn report)
{
	PGresult *res = ms_pg_rows(conn, alias, sql, 0, NULL, what, report);
	char *v = NULL;

	if (!res)
		return NULL;
	if (PQntuples(res) < 1 || PQnfields(res) < 1)
		(report ? report : ms_pg_error)(conn, alias, what, res);
	else
		v = ms_xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}
