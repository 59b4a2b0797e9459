/*
 * PostgreSQL through libpq (the only module, with the future dumper and
 * loader, that includes libpq-fe.h): connecting from an ms_dbconf and
 * probing server version, size and applied Django migrations.
 */
#include "db/db.h"

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
 * connection string. Returns NULL after logging. */
PGconn *ms_pg_connect(const struct ms_dbconf *db)
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

		ms_log_error("unable to connect to database '%s' (postgresql, %s): %s", db->alias, where, msg);
		free(where);
		free(msg);
		PQfinish(conn);
		return NULL;
	}
	PQsetNoticeReceiver(conn, notice_receiver, (void *)db->alias);
	return conn;
}

/* Runs a query expected to return tuples; NULL after logging. */
static PGresult *pg_query(PGconn *conn, const char *alias, const char *sql)
{
	PGresult *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		const char *msg = PQresultErrorMessage(res);

		char *line = ms_pg_one_line(msg);

		ms_log_error("query on database '%s' (postgresql) failed: %s", alias, line);
		free(line);
		PQclear(res);
		return NULL;
	}
	return res;
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
