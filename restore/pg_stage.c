/*
 * The staging database of a parallel PostgreSQL restore (see pg_stage.h).
 */
#include "restore/pg_stage.h"

#include <errno.h>
#include <limits.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "db/pg_conn.h"
#include "restore/dbreplay.h"
#include "restore/pg_scratch.h"

void (*ms_pg_stage_test_before_swap)(const char *live);
void (*ms_pg_stage_test_before_seal)(const char *staging);

#define SWAP_TRIES 3
/* The first key of the advisory locks named after staging databases
 * (side_lock): "msnp", apart from other users of one-key locks */
#define SIDE_LOCK_KEY "1836281456" /* renames refused because a session is connected, 1 s apart */

/* What the live database is: read on the application's connection. */
struct live_state {
	char *name, *owner, *encoding, *collate, *ctype;
};

static void live_state_clear(struct live_state *ls)
{
	free(ls->name);
	free(ls->owner);
	free(ls->encoding);
	free(ls->collate);
	free(ls->ctype);
	memset(ls, 0, sizeof(*ls));
}

/* "Why not" at debug level: a restore in place is not a failure. 0. */
static int not_staged(const char *alias, const char *why)
{
	ms_log_debug("database '%s': restoring in place, in one transaction: %s", alias, why);
	return 0;
}

/* 1 with ls filled, 0 (logged) when the live database's state rules the
 * staging database out, -1 after an error. Other sessions are counted
 * by their role: an ordinary role sees another role's session with its
 * backend type hidden, and autovacuum workers (which the rename ends
 * itself) have none. */
static int read_live(PGconn *live, const char *alias, struct live_state *ls)
{
	static const char sql[] =
		"SELECT d.datname, pg_catalog.pg_get_userbyid(d.datdba), pg_catalog.pg_encoding_to_char(d.encoding), "
		"d.datcollate, d.datctype, "
		"d.datconnlimit = -1 AND t.spcname = 'pg_default' AND d.datlocprovider = 'c' "
		"AND NOT d.datistemplate AND d.datallowconn "
		"AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_db_role_setting s WHERE s.setdatabase = d.oid) "
		"AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_shdescription c WHERE c.objoid = d.oid "
		"AND c.classoid = 'pg_catalog.pg_database'::pg_catalog.regclass) "
		"AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_shseclabel l WHERE l.objoid = d.oid "
		"AND l.classoid = 'pg_catalog.pg_database'::pg_catalog.regclass) "
		/* what lives in the database, outside the dump, that a restore in
		 * place keeps: default privileges (the checker refuses ALTER
		 * DEFAULT PRIVILEGES), event triggers, publications, subscriptions,
		 * replication slots, foreign servers, extensions in pg_catalog */
		"AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_default_acl) "
		"AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger) "
		"AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication) "
		"AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_subscription u WHERE u.subdbid = d.oid) "
		"AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots r WHERE r.datoid = d.oid) "
		"AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_foreign_server) "
		"AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extname <> 'plpgsql' "
		"AND e.extnamespace = 'pg_catalog'::pg_catalog.regnamespace), "
		"(SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_activity a WHERE a.datid = d.oid "
		"AND a.pid <> pg_catalog.pg_backend_pid() AND a.usesysid IS NOT NULL) "
		"FROM pg_catalog.pg_database d JOIN pg_catalog.pg_tablespace t ON t.oid = d.dattablespace "
		"WHERE d.datname = pg_catalog.current_database()";
	PGresult *res;
	const char *name;
	long others;
	int ret = 1;

	if (PQserverVersion(live) < 150000)
		return not_staged(alias, "the server is older than PostgreSQL 15");
	res = ms_pg_rows(live, alias, sql, 0, NULL, "reading the database's properties", NULL);
	if (!res)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return ms_log_error("database '%s': reading the database's properties: no row for the current database",
				    alias);
	}
	name = PQgetvalue(res, 0, 0);
	others = strtol(PQgetvalue(res, 0, 6), NULL, 10);
	if (!strcmp(name, "postgres") || !strcmp(name, "template0") || !strcmp(name, "template1")) {
		ret = not_staged(alias, "the database is a maintenance or template database");
	} else if (strcmp(PQgetvalue(res, 0, 5), "t") != 0) {
		ret = not_staged(alias, "the database has properties or objects a dump does not hold (ALTER DATABASE "
					"... SET, comment, connection limit, tablespace, ICU locale, default privileges, event "
					"triggers, publications, subscriptions, replication slots, foreign servers or "
					"extensions in pg_catalog) that a new database would lack");
	} else if (others > 0) {
		char *why = ms_xasprintf("%ld other session(s) are connected to it (stop the application, amavis, "
					 "Postfix and Dovecot for a parallel restore)", others);

		ret = not_staged(alias, why);
		free(why);
	} else {
		ls->owner = ms_xstrdup(PQgetvalue(res, 0, 1));
		ls->encoding = ms_xstrdup(PQgetvalue(res, 0, 2));
		ls->collate = ms_xstrdup(PQgetvalue(res, 0, 3));
		ls->ctype = ms_xstrdup(PQgetvalue(res, 0, 4));
		ls->name = ms_xstrdup(name);
	}
	PQclear(res);
	return ret;
}

/* Whether the control role may create databases owned by `owner` and
 * rename them: 1, 0 (logged), -1. */
static int may_create(PGconn *ctl, const char *alias, const char *owner)
{
	const char *params[1] = { owner };
	/* CREATE DATABASE ... OWNER needs the right to SET ROLE to the owner
	 * (an option of its own from PostgreSQL 16), RENAME its ownership */
	char *sql = ms_xasprintf("SELECT current_user, r.rolsuper OR (r.rolcreatedb "
				 "AND pg_catalog.pg_has_role(current_user, $1, '%s') "
				 "AND pg_catalog.pg_has_role(current_user, $1, 'USAGE')) "
				 "FROM pg_catalog.pg_roles r WHERE r.rolname = current_user",
				 PQserverVersion(ctl) >= 160000 ? "SET" : "MEMBER");
	PGresult *res = ms_pg_rows(ctl, alias, sql, 1, params, "reading the role's rights", NULL);
	int ret;

	free(sql);
	if (!res)
		return -1;
	ret = PQntuples(res) == 1 && !strcmp(PQgetvalue(res, 0, 1), "t");
	if (!ret) {
		char *why = ms_xasprintf("role '%s' may not create and rename databases owned by '%s' (grant it "
					 "CREATEDB, or set admin_user in [db:%s], for a parallel restore)",
					 PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "?", owner, alias);

		not_staged(alias, why);
		free(why);
	}
	PQclear(res);
	return ret;
}

/* DROP DATABASE name WITH (FORCE): 0, or -1 after logging at `warn`
 * (else error) level with `what`. */
static int drop_db(PGconn *ctl, const char *alias, const char *name, const char *what, bool warn)
{
	char *q = PQescapeIdentifier(ctl, name, strlen(name));
	char *sql = ms_xasprintf("DROP DATABASE IF EXISTS %s", q ? q : "?");
	PGresult *res = PQexec(ctl, sql);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	int ret = 0;

	/* Plainly first: the server ends autovacuum workers there itself
	 * and waits a few seconds for backends that are going (ours, just
	 * closed); WITH (FORCE) would refuse to end an autovacuum worker for
	 * a role that is not a superuser. Then, when a session stays,
	 * forcibly. */
	if (PQresultStatus(res) != PGRES_COMMAND_OK && state && !strcmp(state, "55006")) {
		PQclear(res);
		free(sql);
		sql = ms_xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", q ? q : "?");
		res = PQexec(ctl, sql);
	}
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		char *msg = ms_pg_message(ctl, res);

		if (warn)
			ms_log_warn("database '%s': %s '%s' failed: %s", alias, what, name, msg);
		else
			ms_log_error("database '%s': %s '%s' failed: %s", alias, what, name, msg);
		free(msg);
		ret = -1;
	}
	PQclear(res);
	free(sql);
	PQfreemem(q);
	return ret;
}

/* The lock a run holds on its control connection while its staging
 * database may exist (both runs connect to `postgres`, where advisory
 * locks are shared); `name` is msrestore_<pid>_<live>. */
static int side_lock(PGconn *ctl, const char *alias, const char *name, bool try)
{
	const char *params[1] = { name };
	PGresult *res = ms_pg_rows(ctl, alias, try ? "SELECT pg_catalog.pg_try_advisory_lock(" SIDE_LOCK_KEY ", "
						     "pg_catalog.hashtext($1))"
						   : "SELECT pg_catalog.pg_advisory_lock(" SIDE_LOCK_KEY ", pg_catalog.hashtext($1))",
				   1, params, "taking an advisory lock", NULL);
	int ret;

	if (!res)
		return -1;
	ret = !try || !strcmp(PQgetvalue(res, 0, 0), "t");
	PQclear(res);
	return ret;
}

static void side_unlock(PGconn *ctl, const char *name)
{
	const char *params[1] = { name };

	PQclear(PQexecParams(ctl, "SELECT pg_catalog.pg_advisory_unlock(" SIDE_LOCK_KEY ", pg_catalog.hashtext($1))",
			     1, NULL, params, NULL, NULL, 0));
}

/* Drops msrestore_<pid>_<live> and msold_<pid>_<live> that an interrupted
 * run left: owned by the live database's owner, and whose run holds no
 * lock (side_lock) any more: a run on another host, or in another
 * container with the same pid, keeps its own. */
static void drop_stale(struct ms_pg_stage *st, const char *owner)
{
	static const char *const kinds[] = { "msrestore", "msold" };
	const char *params[2] = { owner, st->live };
	PGresult *res = ms_pg_rows(st->ctl, st->alias,
				   "SELECT datname FROM pg_catalog.pg_database WHERE (datname LIKE 'msrestore\\_%' "
				   "OR datname LIKE 'msold\\_%') AND datdba = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1) "
				   "AND datname <> $2",
				   2, params, "listing databases", NULL);

	for (int i = 0; res && i < PQntuples(res); i++) {
		const char *s = PQgetvalue(res, i, 0);

		for (size_t k = 0; k < 2; k++) {
			long pid = ms_db_side_pid(s, kinds[k]);
			char *expect, *lock;

			if (pid < 0)
				continue;
			expect = ms_pg_side_name(kinds[k], pid, st->live);
			lock = ms_pg_side_name("msrestore", pid, st->live);
			if (!strcmp(expect, s) && side_lock(st->ctl, st->alias, lock, true) == 1) {
				ms_log_warn("database '%s': dropping '%s', left behind by an interrupted run", st->alias, s);
				drop_db(st->ctl, st->alias, s, "dropping", true);
				side_unlock(st->ctl, lock);
			}
			free(expect);
			free(lock);
		}
	}
	PQclear(res);
}

/* A step of the staging database's set-up failed: the restore goes on in
 * place (a warning, not an error). */
static int warn_in_place(PGconn *conn, const char *alias, const char *what, const PGresult *res)
{
	char *msg = ms_pg_message(conn, res);

	ms_log_warn("database '%s': %s failed (%s): restoring in place, in one transaction", alias, what, msg);
	free(msg);
	return -1;
}

/* 0 created, -1 (a warning logged: restore in place). */
static int create_staging(struct ms_pg_stage *st, const struct live_state *ls)
{
	char *name = PQescapeIdentifier(st->ctl, st->name, strlen(st->name));
	char *owner = PQescapeIdentifier(st->ctl, ls->owner, strlen(ls->owner));
	char *enc = PQescapeLiteral(st->ctl, ls->encoding, strlen(ls->encoding));
	char *coll = PQescapeLiteral(st->ctl, ls->collate, strlen(ls->collate));
	char *ctype = PQescapeLiteral(st->ctl, ls->ctype, strlen(ls->ctype));
	char *sql = NULL, *what;
	int ret = -1;

	if (name && owner && enc && coll && ctype) {
		sql = ms_xasprintf("CREATE DATABASE %s OWNER %s TEMPLATE template0 ENCODING %s LOCALE_PROVIDER libc "
				   "LC_COLLATE %s LC_CTYPE %s", name, owner, enc, coll, ctype);
		what = ms_xasprintf("creating the staging database '%s'", st->name);
		ret = ms_pg_exec(st->ctl, st->alias, sql, what, warn_in_place);
		free(what);
	} else {
		ms_pg_error(st->ctl, st->alias, "quoting the staging database's properties", NULL);
	}
	if (ret == 0) {
		st->created = true;
		ms_log_debug("database '%s': restoring through the staging database '%s'", st->alias, st->name);
	}
	free(sql);
	PQfreemem(name);
	PQfreemem(owner);
	PQfreemem(enc);
	PQfreemem(coll);
	PQfreemem(ctype);
	return ret;
}

/* Gives the staging database the live one's privileges (GRANT ... ON
 * DATABASE: a Modoboa installer may have revoked PUBLIC's CONNECT), and
 * checks that both now hold the same entries. 1 same, 0 not (logged),
 * -1 after an error. */
static int copy_acl(struct ms_pg_stage *st, const char *owner)
{
	const char *params[2] = { st->live, st->name };
	PGresult *res = ms_pg_rows(st->ctl, st->alias,
				   "SELECT d.datacl IS NULL, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE "
				   "pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END, a.privilege_type, "
				   "a.is_grantable FROM pg_catalog.pg_database d LEFT JOIN LATERAL "
				   "pg_catalog.aclexplode(d.datacl) a ON true WHERE d.datname = $1",
				   1, params, "reading the database's privileges", NULL);
	char *name = PQescapeIdentifier(st->ctl, st->name, strlen(st->name));
	char *own = PQescapeIdentifier(st->ctl, owner, strlen(owner));
	int ret = -1;

	if (!res || !name || !own)
		goto out;
	if (PQntuples(res) >= 1 && strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		char *sql = ms_xasprintf("REVOKE ALL ON DATABASE %s FROM PUBLIC, %s", name, own);

		ret = ms_pg_exec(st->ctl, st->alias, sql, "copying the database's privileges", warn_in_place);
		free(sql);
		for (int i = 0; ret == 0 && i < PQntuples(res); i++) {
			sql = ms_xasprintf("GRANT %s ON DATABASE %s TO %s%s", PQgetvalue(res, i, 2), name,
					   PQgetvalue(res, i, 1),
					   !strcmp(PQgetvalue(res, i, 3), "t") ? " WITH GRANT OPTION" : "");
			ret = ms_pg_exec(st->ctl, st->alias, sql, "copying the database's privileges", warn_in_place);
			free(sql);
		}
		if (ret < 0) {
			ret = 0; /* said: in place */
			goto out;
		}
	}
	PQclear(res);
	res = ms_pg_rows(st->ctl, st->alias,
			 "SELECT (SELECT pg_catalog.array_agg(x::pg_catalog.text ORDER BY x::pg_catalog.text) "
			 "FROM pg_catalog.pg_database d, pg_catalog.unnest(d.datacl) x WHERE d.datname = $1) "
			 "IS NOT DISTINCT FROM (SELECT pg_catalog.array_agg(x::pg_catalog.text ORDER BY "
			 "x::pg_catalog.text) FROM pg_catalog.pg_database d, pg_catalog.unnest(d.datacl) x "
			 "WHERE d.datname = $2)", 2, params, "comparing the database's privileges", NULL);
	if (!res)
		goto out;
	ret = !strcmp(PQgetvalue(res, 0, 0), "t");
	if (!ret)
		not_staged(st->alias, "the database's GRANTs could not be given to a new database as they are");
out:
	PQclear(res);
	PQfreemem(name);
	PQfreemem(own);
	return ret;
}

/* The public schema's owner, privileges and comment as one line ("-"
 * when there is none): what template0 gives a new database, and what a
 * dump changes only when the source's differed. NULL after logging. */
static char *public_state(PGconn *conn, const char *alias)
{
	return ms_pg_value(conn, alias,
			   "SELECT coalesce((SELECT pg_catalog.format('%s %s %s', "
			   "pg_catalog.pg_get_userbyid(n.nspowner), n.nspacl, "
			   "pg_catalog.obj_description(n.oid, 'pg_namespace')) FROM pg_catalog.pg_namespace n "
			   "WHERE n.nspname = 'public'), '-')",
			   "reading the public schema's properties", NULL);
}

int ms_pg_stage_same_public(struct ms_pg_stage *st, struct pg_conn *staging)
{
	char *now = public_state(staging, st->alias);
	int ret;

	if (!now)
		return -1;
	ret = !strcmp(now, st->live_public);
	if (!ret) {
		char *why = ms_xasprintf("the public schema differs from the live one's after schema-pre.sql (%s, not "
					 "%s)", now, st->live_public);

		not_staged(st->alias, why);
		free(why);
	}
	free(now);
	return ret;
}

int ms_pg_stage_alone(struct ms_pg_stage *st, const int *pids, size_t n)
{
	const char *params[1] = { st->name };
	PGresult *res = ms_pg_rows(st->ctl, st->alias,
				   "SELECT a.pid FROM pg_catalog.pg_stat_activity a JOIN pg_catalog.pg_database d "
				   "ON d.oid = a.datid WHERE d.datname = $1 AND a.usesysid IS NOT NULL",
				   1, params, "listing the staging database's sessions", NULL);
	int ret = 0;

	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res) && ret == 0; i++) {
		unsigned long pid = 0;
		bool ours = false;

		ms_parse_ulong(PQgetvalue(res, i, 0), 1, INT_MAX, &pid); /* 0 if not a pid: not ours */
		for (size_t k = 0; k < n; k++)
			ours = ours || (unsigned long)pids[k] == pid;
		if (!ours) {
			ms_log_warn("database '%s': another session (pid %lu) connected to the staging database '%s': "
				    "restoring in place instead, in one transaction", st->alias, pid, st->name);
			ret = 1;
		}
	}
	PQclear(res);
	return ret;
}

int ms_pg_stage_seal(struct ms_pg_stage *st, const int *pids, size_t n)
{
	char *name = PQescapeIdentifier(st->ctl, st->name, strlen(st->name));
	char *sql = ms_xasprintf("ALTER DATABASE %s ALLOW_CONNECTIONS false", name ? name : "?");
	int ret = -1;

	if (!name) {
		ms_pg_error(st->ctl, st->alias, "quoting a database name", NULL);
		goto out;
	}
	if (ms_pg_stage_test_before_seal)
		ms_pg_stage_test_before_seal(st->name);
	if (ms_pg_exec(st->ctl, st->alias, sql, "closing the staging database to new sessions", NULL) < 0)
		goto out;
	ret = ms_pg_stage_alone(st, pids, n);
out:
	free(sql);
	PQfreemem(name);
	return ret;
}

int ms_pg_stage_open(struct ms_pg_stage *st, const struct ms_dbconf *db, const struct ms_db_admin *admin,
		     PGconn *live, int lock_timeout_s)
{
	struct live_state ls = { 0 };
	struct ms_dbconf as = *db;
	int rc;

	memset(st, 0, sizeof(*st));
	st->alias = db->alias;
	rc = read_live(live, db->alias, &ls);
	if (rc <= 0)
		return rc;
	as.name = (char *)"postgres";
	if (admin && admin->user) {
		as.user = (char *)admin->user;
		as.password = (char *)admin->password;
	}
	st->ctl = ms_pg_connect_quiet(&as);
	if (!st->ctl) {
		rc = not_staged(db->alias, "no connection to the maintenance database 'postgres' for the swap");
		goto out;
	}
	rc = ms_pg_pin_session(st->ctl, db->alias, lock_timeout_s, true, NULL, NULL);
	if (rc == 0)
		rc = may_create(st->ctl, db->alias, ls.owner);
	if (rc <= 0)
		goto out;
	st->live = ms_xstrdup(ls.name);
	st->name = ms_pg_side_name("msrestore", (long)getpid(), st->live);
	st->old = ms_pg_side_name("msold", (long)getpid(), st->live);
	if (!strcmp(st->name, st->live) || !strcmp(st->old, st->live)) {
		rc = not_staged(db->alias, "the database's name is one a staging database would have");
		goto out;
	}
	st->live_public = public_state(live, db->alias);
	if (!st->live_public || side_lock(st->ctl, db->alias, st->name, false) < 0) {
		rc = -1;
		goto out;
	}
	drop_stale(st, ls.owner);
	rc = create_staging(st, &ls) < 0 ? 0 : copy_acl(st, ls.owner);
out:
	live_state_clear(&ls);
	if (rc <= 0)
		ms_pg_stage_close(st);
	return rc;
}

/* Runs one statement of the swap; its SQLSTATE in *state (or ""). */
static int swap_step(struct ms_pg_stage *st, const char *sql, char *state, size_t cap, char **msg)
{
	PGresult *res = PQexec(st->ctl, sql);
	const char *s;
	int ret = 0;

	*state = '\0';
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		snprintf(state, cap, "%s", s ? s : "");
		*msg = ms_pg_message(st->ctl, res);
		ret = -1;
	}
	PQclear(res);
	return ret;
}

int ms_pg_stage_swap(struct ms_pg_stage *st)
{
	char *live = PQescapeIdentifier(st->ctl, st->live, strlen(st->live));
	char *name = PQescapeIdentifier(st->ctl, st->name, strlen(st->name));
	char *old = PQescapeIdentifier(st->ctl, st->old, strlen(st->old));
	char *sql = NULL, *msg = NULL;
	char state[8];
	int ret = -1;

	if (!live || !name || !old) {
		ms_pg_error(st->ctl, st->alias, "quoting database names", NULL);
		goto out;
	}
	if (ms_pg_stage_test_before_swap)
		ms_pg_stage_test_before_swap(st->live);
	sql = ms_xasprintf("BEGIN; ALTER DATABASE %s ALLOW_CONNECTIONS true; ALTER DATABASE %s RENAME TO %s; "
			   "ALTER DATABASE %s RENAME TO %s; COMMIT", name, live, old, name, live);
	for (int i = 0; i < SWAP_TRIES; i++) {
		free(msg);
		msg = NULL;
		if (i > 0)
			sleep(1);
		if (swap_step(st, sql, state, sizeof(state), &msg) == 0)
			break;
		if (PQtransactionStatus(st->ctl) != PQTRANS_IDLE)
			PQclear(PQexec(st->ctl, "ROLLBACK"));
		if (strcmp(state, "55006") != 0)
			break;
	}
	if (msg && !strcmp(state, "55006")) {
		ms_log_warn("database '%s': another session was connected during the swap (%s): the database is "
			    "restored in place instead, in one transaction", st->alias, msg);
		ret = 1;
		goto out;
	}
	if (msg && PQstatus(st->ctl) == CONNECTION_BAD) {
		/* the COMMIT may or may not have happened */
		st->created = false;
		ms_log_error("database '%s': the connection was lost during the swap (%s): '%s' is now either the "
			     "restored database or the one before; the other one is '%s' or '%s' (drop it by hand)",
			     st->alias, msg, st->live, st->name, st->old);
		goto out;
	}
	if (msg) {
		ms_log_error("database '%s': swapping in the staging database '%s' failed (the live database is "
			     "unchanged): %s", st->alias, st->name, msg);
		goto out;
	}
	st->created = false;
	ms_log_debug("database '%s': '%s' is now '%s'; dropping the previous content ('%s')", st->alias, st->name,
		     st->live, st->old);
	drop_db(st->ctl, st->alias, st->old, "dropping the previous database (the restore is complete; drop it by "
		"hand)", true);
	ret = 0;
out:
	free(msg);
	free(sql);
	PQfreemem(live);
	PQfreemem(name);
	PQfreemem(old);
	return ret;
}

void ms_pg_stage_close(struct ms_pg_stage *st)
{
	if (st->ctl && st->created)
		drop_db(st->ctl, st->alias, st->name, "dropping the staging database", true);
	if (st->ctl)
		PQfinish(st->ctl);
	free(st->live);
	free(st->name);
	free(st->old);
	free(st->live_public);
	memset(st, 0, sizeof(*st));
}
