/*
 * Scratch databases for verify --deep (see pg_scratch.h).
 */
#include "restore/pg_scratch.h"
#include "db/pg_conn.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/strbuf.h"
#include "base/util.h"

/* This module's wording for a failed statement: "database 'A': WHAT:
 * <libpq message>", or without WHAT when it is NULL. */
static int admin_error(PGconn *conn, const char *alias, const char *what, const PGresult *res)
{
	char *msg = ms_pg_message(conn, res);

	if (what)
		ms_log_error("database '%s': %s: %s", alias, what, msg);
	else
		ms_log_error("database '%s': %s", alias, msg);
	free(msg);
	return -1;
}

/* Runs one command on db's own database, as admin->user when set;
 * -1 after logging. */
static int run(const struct ms_dbconf *db, const struct ms_db_admin *admin, const char *sql, const char *what)
{
	struct ms_dbconf as = *db;
	PGconn *conn;
	int ret;

	if (admin && admin->user) {
		as.user = (char *)admin->user;
		as.password = (char *)admin->password;
	}
	conn = ms_pg_connect(&as);
	if (!conn)
		return -1;
	ret = ms_pg_exec(conn, db->alias, sql, what, admin_error);
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

char *ms_pg_side_name(const char *kind, long pid, const char *live)
{
	char *name = ms_xasprintf("%s_%ld_%s", kind, pid, live);

	for (char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			*p = '_';
	name[strlen(name) > 60 ? 60 : strlen(name)] = '\0';
	return name;
}

char *ms_pg_scratch_create(const struct ms_dbconf *db, const struct ms_db_admin *admin, const char *encoding)
{
	char *name, *sql, *owner = NULL;
	int ret;

	if (!encoding || !plain(encoding)) {
		ms_log_error("database '%s': invalid encoding in the snapshot", db->alias);
		return NULL;
	}
	/* the live database's name in it tells whose scratch database it is */
	name = ms_pg_side_name("msverify", (long)getpid(), db->name);
	if (admin && admin->user && *db->user) {
		/* the role's name as an identifier: "" doubled */
		struct ms_strbuf sb = MS_STRBUF_INIT;

		ms_strbuf_addstr(&sb, " OWNER \"");
		for (const char *p = db->user; *p; p++) {
			if (*p == '"')
				ms_strbuf_addch(&sb, '"');
			ms_strbuf_addch(&sb, *p);
		}
		ms_strbuf_addch(&sb, '"');
		owner = ms_strbuf_detach(&sb);
	}
	sql = ms_xasprintf("CREATE DATABASE \"%s\"%s TEMPLATE template0 ENCODING '%s' LC_COLLATE 'C' LC_CTYPE 'C'",
			   name, owner ? owner : "", encoding);
	ret = run(db, admin, sql, admin && admin->user
					  ? "verify --deep needs a scratch database (admin_user could not create it)"
					  : "verify --deep needs a scratch database (grant CREATEDB to the role, or set "
					    "admin_user and admin_password_file in the database's [db:ALIAS] section)");
	free(sql);
	free(owner);
	if (ret < 0) {
		free(name);
		return NULL;
	}
	return name;
}

int ms_pg_scratch_drop(const struct ms_dbconf *db, const struct ms_db_admin *admin, const char *name)
{
	char *sql = ms_xasprintf("DROP DATABASE IF EXISTS \"%s\"", name);
	int ret = run(db, admin, sql, "unable to drop the scratch database");

	free(sql);
	return ret;
}

/* Does `sql` (one $1 parameter) return a row? 1, 0, or -1 after logging. */
static int exists(PGconn *conn, const char *alias, const char *sql, const char *param)
{
	PGresult *res = ms_pg_rows(conn, alias, sql, 1, &param, NULL, admin_error);
	int ret;

	if (!res)
		return -1;
	ret = PQntuples(res) > 0;
	PQclear(res);
	return ret;
}

static int exec_admin(PGconn *conn, const char *alias, const char *sql)
{
	return ms_pg_exec(conn, alias, sql, NULL, admin_error);
}

static int create_role(PGconn *conn, const struct ms_dbconf *db)
{
	char *ident = PQescapeIdentifier(conn, db->user, strlen(db->user)), *lit = NULL, *sql;
	int ret;

	if (db->password)
		lit = PQescapeLiteral(conn, db->password, strlen(db->password));
	if (!ident || (db->password && !lit)) {
		PQfreemem(ident);
		return ms_log_error("database '%s': out of memory", db->alias);
	}
	sql = ms_xasprintf("CREATE ROLE %s LOGIN%s%s", ident, lit ? " PASSWORD " : "", lit ? lit : "");
	ret = exec_admin(conn, db->alias, sql);
	if (ret == 0)
		ms_log_info("database '%s': created role '%s'", db->alias, db->user);
	ms_secure_zero(sql, strlen(sql));
	free(sql);
	if (lit) {
		ms_secure_zero(lit, strlen(lit));
		PQfreemem(lit);
	}
	PQfreemem(ident);
	return ret;
}

static int create_database(PGconn *conn, const struct ms_dbconf *db, const char *encoding)
{
	char *name = PQescapeIdentifier(conn, db->name, strlen(db->name));
	char *owner = PQescapeIdentifier(conn, db->user, strlen(db->user));
	char *sql;
	int ret;

	if (!name || !owner) {
		PQfreemem(name);
		PQfreemem(owner);
		return ms_log_error("database '%s': out of memory", db->alias);
	}
	sql = ms_xasprintf("CREATE DATABASE %s OWNER %s TEMPLATE template0 ENCODING '%s'%s", name, owner, encoding,
			   strcmp(encoding, "UTF8") ? " LC_COLLATE 'C' LC_CTYPE 'C'" : "");
	ret = exec_admin(conn, db->alias, sql);
	if (ret == 0)
		ms_log_info("database '%s': created database '%s' owned by '%s'", db->alias, db->name, db->user);
	free(sql);
	PQfreemem(name);
	PQfreemem(owner);
	return ret;
}

int ms_pg_ensure_database(const struct ms_dbconf *db, const struct ms_db_admin *admin, const char *encoding)
{
	struct ms_dbconf as_admin = *db;
	PGconn *conn;
	int ret = -1, has;

	ms_log_mute(1);
	conn = ms_pg_connect(db);
	ms_log_mute(0);
	if (conn) {
		PQfinish(conn);
		return 0;
	}
	if (!admin || !admin->user)
		return ms_log_error("database '%s': cannot connect to '%s' as '%s' (missing database or role?); to "
				    "create them, set admin_user and admin_password_file in [db:%s]",
				    db->alias, db->name, *db->user ? db->user : "(default user)", db->alias);
	if (!encoding || !plain(encoding) || !*db->user)
		return ms_log_error("database '%s': cannot create it without a user and an encoding", db->alias);
	as_admin.name = (char *)"postgres";
	as_admin.user = (char *)admin->user;
	as_admin.password = (char *)admin->password;
	conn = ms_pg_connect(&as_admin);
	if (!conn)
		return -1;
	has = exists(conn, db->alias, "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1", db->user);
	if (has < 0 || (has == 0 && create_role(conn, db) < 0))
		goto out;
	has = exists(conn, db->alias, "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1", db->name);
	if (has < 0 || (has == 0 && create_database(conn, db, encoding) < 0))
		goto out;
	ret = 0;
out:
	PQfinish(conn);
	return ret;
}
