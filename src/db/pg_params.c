/*
 * PostgreSQL's reader of Modoboa's parameters (params.h): the JSON of
 * core_localconfig._parameters (jsonb, or text in old schemas: cast) is
 * taken apart by the server with #>>.
 */
#include "db/params.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "db/pg_conn.h"
#include "base/strbuf.h"
#include "base/util.h"

static const char *cell(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static int pg_localconfig(PGconn *conn, const char *alias, struct ms_modoboa_params *out)
{
	struct ms_strbuf sql = MS_STRBUF_INIT;
	PGresult *res;

	ms_strbuf_addstr(&sql, "SELECT ");
	for (size_t i = 0; i < MS_PARAMS_N; i++)
		ms_strbuf_addf(&sql, "%sp #>> '{%s,%s}'", i ? ", " : "", ms_params_keys[i][0], ms_params_keys[i][1]);
	ms_strbuf_addstr(&sql, " FROM (SELECT _parameters::jsonb AS p FROM core_localconfig ORDER BY id LIMIT 1) c");
	res = ms_pg_rows(conn, alias, ms_strbuf_str(&sql), 0, NULL, "reading core_localconfig._parameters", NULL);
	ms_strbuf_release(&sql);
	if (!res)
		return -1;
	for (size_t i = 0; PQntuples(res) > 0 && i < MS_PARAMS_N; i++)
		ms_params_set(out, i, cell(res, 0, (int)i));
	PQclear(res);
	return 0;
}

static int pg_domains(PGconn *conn, const char *alias, struct ms_modoboa_params *out)
{
	PGresult *res = ms_pg_rows(conn, alias,
				   "SELECT name, dkim_private_key_path, enable_dkim FROM admin_domain ORDER BY name", 0,
				   NULL, "reading admin_domain", NULL);

	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++)
		ms_params_add_domain(out, PQgetvalue(res, i, 0), cell(res, i, 1), strcmp(PQgetvalue(res, i, 2), "t") == 0);
	PQclear(res);
	return 0;
}

int ms_pg_read_params(const struct ms_dbconf *db, struct ms_modoboa_params *out)
{
	PGconn *conn = ms_pg_connect(db);
	PGresult *res = NULL;
	int ret = -1;

	if (!conn)
		return -1;
	/* a session holding Modoboa's tables (a migration, a locker) must not
	 * hold up the snapshot: the dump itself waits, and says why */
	if (ms_pg_exec(conn, db->alias, "SET lock_timeout = '" MS_PARAMS_LOCK_TIMEOUT "s'", "setting lock_timeout",
		       NULL) < 0)
		goto out;
	res = ms_pg_rows(conn, db->alias,
			 "SELECT to_regclass('core_localconfig') IS NOT NULL, to_regclass('admin_domain') IS NOT NULL", 0,
			 NULL, "looking for Modoboa's parameter tables", NULL);
	if (!res)
		goto out;
	if (strcmp(PQgetvalue(res, 0, 0), "t") == 0 && pg_localconfig(conn, db->alias, out) < 0)
		goto out;
	if (strcmp(PQgetvalue(res, 0, 1), "t") == 0 && pg_domains(conn, db->alias, out) < 0)
		goto out;
	ret = 0;
out:
	PQclear(res);
	PQfinish(conn);
	return ret;
}
