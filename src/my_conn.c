/*
 * MariaDB/MySQL through mariadb-connector-c (the only module, with the
 * future dumper and loader, that includes mysql.h): connecting from an
 * ms_dbconf and probing server version, size and applied migrations.
 */
#include "db.h"

#include <mysql.h>
#include <stdlib.h>
#include <string.h>

/* HOST "" or "localhost" means the default socket; "/..." is a socket path. */
static MYSQL *my_connect(const struct ms_dbconf *db)
{
	const char *host = NULL, *sock = NULL;
	unsigned long port = 0;
	unsigned int timeout = 10;
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
	mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (!mysql_real_connect(m, host, *db->user ? db->user : NULL, db->password, db->name,
				(unsigned int)port, sock, 0)) {
		char *where = ms_db_describe(db);

		ms_log_error("unable to connect to database '%s' (mysql, %s): %s", db->alias, where, mysql_error(m));
		free(where);
		mysql_close(m);
		return NULL;
	}
	return m;
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
	MYSQL *m = my_connect(db);
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
