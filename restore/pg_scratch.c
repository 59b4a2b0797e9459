/*
 * Scratch databases for verify --deep (see pg_scratch.h).
 */
#include "pg_scratch.h"
#include "db.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Runs one command on db's own database; -1 after logging. */
static int run(const struct ms_dbconf *db, const char *sql, const char *what)
{
	PGconn *conn = (PGconn *)ms_pg_connect(db);
	PGresult *res;
	int ret = 0;

	if (!conn)
		return -1;
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		char *msg = ms_pg_one_line(PQresultErrorMessage(res));

		ret = ms_log_error("database '%s': %s: %s", db->alias, what, msg);
		free(msg);
	}
	PQclear(res);
	PQfinish(conn);
	return ret;
}

/* Identifier/literal quoting without a connection: names we generate are
 * plain; the encoding comes from the manifest and is checked. */
static bool plain(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

char *ms_pg_scratch_create(const struct ms_dbconf *db, const char *encoding)
{
	char *name, *sql;
	int ret;

	if (!encoding || !plain(encoding)) {
		ms_log_error("database '%s': invalid encoding in the snapshot", db->alias);
		return NULL;
	}
	/* the live database's name in it tells whose scratch database it is */
	name = ms_xasprintf("msverify_%ld_%s", (long)getpid(), db->name);
	for (char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			*p = '_';
	name[strlen(name) > 60 ? 60 : strlen(name)] = '\0';
	sql = ms_xasprintf("CREATE DATABASE \"%s\" TEMPLATE template0 ENCODING '%s' LC_COLLATE 'C' LC_CTYPE 'C'",
			   name, encoding);
	ret = run(db, sql, "verify --deep needs a scratch database (grant CREATEDB to the role, or run it "
			   "with an administrator's connection in the config file)");
	free(sql);
	if (ret < 0) {
		free(name);
		return NULL;
	}
	return name;
}

int ms_pg_scratch_drop(const struct ms_dbconf *db, const char *name)
{
	char *sql = ms_xasprintf("DROP DATABASE IF EXISTS \"%s\"", name);
	int ret = run(db, sql, "unable to drop the scratch database");

	free(sql);
	return ret;
}
