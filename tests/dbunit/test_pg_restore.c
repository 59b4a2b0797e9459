/*
 * Tests for restore/pg_restore against a real PostgreSQL server (the
 * `dbservers` harness; MS_TESTSRV_ENV names its env file — without it the
 * test fails, it never skips). A scratch database owned by an ordinary
 * role (no superuser) holds the shapes a Modoboa database has (identity
 * and serial keys with advanced sequences, a deferrable FK, a view, a
 * trigger and its function, jsonb, bytea with every byte value, NULL vs
 * '', non-ASCII text, no primary key, an empty table, a second schema, a
 * partitioned and an unlogged table). It is dumped with ms_pg_dump_database
 * into an archive verify accepts, changed, and restored as that role; the
 * oracle is pg_dump --schema-only, sorted COPY output and the sequences'
 * values before and after. A tampered archive whose member digests are
 * consistent but whose rows differ must fail naming the table and leave
 * the live database as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/hash.h"
#include "discover/instance.h"
#include "formats/manifest.h"
#include "db/pg_dump.h"
#include "restore/pg_restore.h"
#include "restore/pg_scratch.h"
#include "restore/sqlcheck.h"
#include "formats/snaparchive.h"
#include "base/strbuf.h"
#include "pgtest.h"
#include "testutil.h"
#include "base/util.h"
#include "formats/verify.h"

#define CHUNK (16 * 1024)
#define PASSWORD "p:w\\o'rd s3cr3t"

static char livedb[64], role[64];

/* --- helpers ------------------------------------------------------------- */


/* Changes made to the live database after the snapshot: rows updated and
 * deleted, a table dropped, objects added, sequences moved. */
static const char change_sql[] =
	"UPDATE core_user SET quota = 7 WHERE username = 'alice';\n"
	"DELETE FROM many WHERE id % 7 = 0;\n"
	"DELETE FROM app.msgs WHERE partition_tag = 1;\n"
	"DROP TABLE texts;\n"
	"DROP VIEW dkim;\n"
	"CREATE TABLE added (x integer PRIMARY KEY);\n"
	"INSERT INTO added VALUES (1), (2);\n"
	"CREATE SCHEMA newschema;\n"
	"CREATE TABLE newschema.t (y text);\n"
	"CREATE FUNCTION added_fn(integer) RETURNS integer LANGUAGE sql AS 'SELECT $1 + 1';\n"
	"CREATE TYPE added_type AS (a int, b text);\n"
	"SELECT nextval('core_user_id_seq'), nextval('core_user_id_seq');\n"
	"SELECT setval('app.counter', 999);\n"
	"INSERT INTO core_mailbox (user_id, address) VALUES (1, 'new@example.org');\n";

static int setup(void **state)
{
	char *sql, *src;
	int rc;

	(void)state;
	if (read_server_env() < 0)
		return -1;
	if (make_tmpdir("test_pg_restore") < 0)
		return -1;
	setenv("TMPDIR", tmpdir, 1);
	snprintf(livedb, sizeof(livedb), "ms_pgr_live_%d", (int)getpid());
	snprintf(role, sizeof(role), "ms_pgr_%d", (int)getpid());
	sql = ms_xasprintf("CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD 'p:w\\o''rd s3cr3t';\n"
			   "CREATE DATABASE %s OWNER %s TEMPLATE template0 ENCODING 'UTF8';\n",
			   role, livedb, role);
	rc = psql_sql("postgres", sql);
	free(sql);
	if (rc != 0)
		return -1;
	/* Run as the owner role: every object belongs to it, as in Modoboa. */
	sql = pg_source_sql(100 * 1024, true);
	src = ms_xasprintf("SET ROLE %s;\n%s", role, sql);
	rc = psql_sql(livedb, src);
	free(sql);
	free(src);
	return rc == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	char *sql;

	(void)state;
	if (!bindir)
		return 0;
	sql = ms_xasprintf("DROP DATABASE IF EXISTS %s;\nDROP ROLE IF EXISTS %s;\n", livedb, role);
	psql_sql("postgres", sql);
	free(sql);
	if (!getenv("MS_KEEP_TMP"))
		run("rm -rf '%s'", tmpdir);
	free(bindir);
	free(sockdir);
	free(port);
	free(superuser);
	return 0;
}

/* The owner role over TCP with its password: no superuser anywhere. */
static struct ms_dbconf dbconf(void)
{
	struct ms_dbconf db;

	memset(&db, 0, sizeof(db));
	db.alias = "testpg";
	db.engine = MS_DB_POSTGRESQL;
	db.name = livedb;
	db.user = role;
	db.host = "127.0.0.1";
	db.port = port;
	db.password = PASSWORD;
	return db;
}

/* Runs SQL in the live database as the owner role. */
static int as_owner(const char *sql)
{
	char *s = ms_xasprintf("SET ROLE %s;\n%s", role, sql);
	int rc = psql_sql(livedb, s);

	free(s);
	return rc;
}

/* --- building an archive ------------------------------------------------- */

/* Writes a snapshot of the live database that ms_verify_archive accepts:
 * modosnap.json, the dump's members, MANIFEST.json with "databases". */
static void write_snapshot(const char *arch, struct ms_pg_dump *d)
{
	struct ms_dbconf c = dbconf();
	struct ms_manifest mf;
	struct ms_manifest_db *mdb;
	int fd;
	struct ms_archive_writer *w = snapshot_begin(arch, "db:testpg", &mf, &fd);

	assert_int_equal(ms_pg_dump_database(&c, w, "db/testpg", CHUNK, 1, member_cb, &mf, d), 0);
	mdb = ms_manifest_add_db(&mf);
	mdb->alias = ms_xstrdup("testpg");
	mdb->engine = ms_xstrdup("postgresql");
	mdb->server_version = ms_xstrdup(d->server_version);
	mdb->encoding = ms_xstrdup(d->encoding);
	for (size_t i = 0; i < d->n_tables; i++)
		ms_manifest_db_add_table(mdb, d->tables[i].schema, d->tables[i].name, d->tables[i].rows,
					 d->tables[i].digest, d->tables[i].chunks);
	snapshot_end(w, fd, &mf);
}

/* --- the oracle ---------------------------------------------------------- */

/* Schema, every table's rows (sorted), and the sequences' values, as
 * seen by pg_dump and psql as the superuser; caller frees. */
static char *live_state(void)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	char *s, *tabs;

	s = schema_of(livedb);
	ms_strbuf_addstr(&sb, s);
	free(s);
	tabs = psql_out(livedb, "SELECT format('%I.%I', n.nspname, c.relname) COLLATE \"C\" FROM pg_class c "
				"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' "
				"AND n.nspname !~ '^(pg_|information_schema)' ORDER BY 1");
	for (char *p = tabs, *nl; *p; p = nl + 1) {
		char *sql;

		nl = strchr(p, '\n');
		assert_non_null(nl);
		*nl = '\0';
		sql = ms_xasprintf("COPY (SELECT * FROM %s x ORDER BY x::text COLLATE \"C\") TO STDOUT", p);
		s = psql_out(livedb, sql);
		ms_strbuf_addf(&sb, "-- table %s\n%s", p, s);
		free(s);
		free(sql);
	}
	free(tabs);
	s = psql_out(livedb, "SELECT schemaname, sequencename, last_value FROM pg_sequences ORDER BY 1, 2");
	ms_strbuf_addf(&sb, "-- sequences\n%s", s);
	free(s);
	return ms_strbuf_detach(&sb);
}

/* --- tests --------------------------------------------------------------- */

/* Restore as the owner role after the live database changed; the result
 * equals the original by pg_dump, sorted rows and sequence values. Then
 * ms_pg_check_database agrees, and names the table once a row changes. */
static void test_restore_round_trip(void **state)
{
	struct ms_dbconf c = dbconf();
	struct ms_pg_dump d;
	struct ms_verify_result vr;
	char *arch = tpath("snap.tar.zst"), *before, *changed, *after, *err, *s, *sql;

	(void)state;
	before = live_state();
	write_snapshot(arch, &d);
	assert_true(d.n_tables >= 10);
	for (size_t i = 0; i < d.n_tables; i++)
		if (!strcmp(d.tables[i].name, "many"))
			assert_true(d.tables[i].chunks > 1);

	assert_int_equal(as_owner(change_sql), 0);
	changed = live_state();
	assert_string_not_equal(before, changed);

	memset(&vr, 0, sizeof(vr));
	assert_int_equal(ms_verify_archive(arch, &vr), MS_VERIFY_OK);
	assert_true(vr.manifest_ok);
	ms_log_set_level(MS_LOG_DEBUG);
	capture_start();
	assert_int_equal(ms_pg_restore_database(&c, arch, &vr.manifest, "testpg", NULL), 0);
	err = capture_end();
	ms_log_set_level(MS_LOG_INFO);
	/* every table was created in the restore's transaction: loaded frozen */
	for (size_t i = 0; i < d.n_tables; i++) {
		char *line = ms_xasprintf("modosnap: debug: database 'testpg': table '%s.%s': loaded frozen\n",
					  d.tables[i].schema, d.tables[i].name);

		if (d.tables[i].rows > 0 && !strstr(err, line))
			fail_msg("no '%s' in [%s]", line, err);
		free(line);
	}
	assert_null(strstr(err, "modosnap: error"));
	assert_null(strstr(err, "modosnap: warning"));
	free(err);
	after = live_state();
	assert_string_equal(before, after);
	/* and so they are: every page all-frozen in the visibility map (the
	 * extension exists for this check only) */
	assert_int_equal(psql_sql(livedb, "CREATE EXTENSION pg_visibility;\n"), 0);
	s = psql_out(livedb, "SELECT count(*) > 0, count(*) FILTER (WHERE NOT all_frozen) "
			     "FROM pg_visibility_map('app.msgs')");
	assert_string_equal(s, "t|0\n");
	free(s);
	s = psql_out(livedb, "SELECT count(*) > 0, count(*) FILTER (WHERE NOT all_frozen) "
			     "FROM pg_visibility_map('public.core_user')");
	assert_string_equal(s, "t|0\n");
	free(s);
	assert_int_equal(psql_sql(livedb, "DROP EXTENSION pg_visibility;\n"), 0);
	/* analyzed before schema-post, in the same transaction: column
	 * statistics exist (only ANALYZE writes them) */
	s = psql_out(livedb, "SELECT count(*) > 0 FROM pg_stats WHERE schemaname = 'app' AND tablename = 'msgs'");
	assert_string_equal(s, "t\n");
	free(s);
	/* The objects added after the snapshot are gone. */
	assert_null(strstr(after, "TABLE public.added "));
	assert_null(strstr(after, "added_fn"));
	assert_null(strstr(after, "added_type"));
	assert_null(strstr(after, "newschema"));
	s = psql_out(livedb, "SELECT nextval('app.counter'), nextval('core_mailbox_id_seq'), nextval('core_user_id_seq')");
	assert_string_equal(s, "42|250|101\n");
	free(s);
	/* Objects belong to the owner again (no superuser involved). */
	sql = ms_xasprintf("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
			   "WHERE n.nspname IN ('public', 'app') AND pg_get_userbyid(c.relowner) <> '%s'", role);
	s = psql_out(livedb, sql);
	assert_string_equal(s, "0\n");
	free(s);
	free(sql);

	/* (3) the live check. */
	capture_start();
	assert_int_equal(ms_pg_check_database(&c, &vr.manifest.dbs[0]), 0);
	err = capture_end();
	assert_string_equal(err, "");
	free(err);
	assert_int_equal(as_owner("UPDATE core_user SET username = 'bobby' WHERE username = 'bob';"), 0);
	capture_start();
	assert_int_equal(ms_pg_check_database(&c, &vr.manifest.dbs[0]), -1);
	err = capture_end();
	assert_string_equal(err, "modosnap: error: database 'testpg': table 'public.core_user': digest differs "
				 "from the snapshot (rows 3, expected 3)\n");
	free(err);
	assert_int_equal(as_owner("DELETE FROM app.msgs WHERE mail_id = sha256('3'::bytea);"), 0);
	capture_start();
	assert_int_equal(ms_pg_check_database(&c, &vr.manifest.dbs[0]), -1);
	err = capture_end();
	assert_string_equal(err, "modosnap: error: database 'testpg': table 'app.msgs': digest differs "
				 "from the snapshot (rows 299, expected 300)\n");
	free(err);

	/* Restoring again over that repairs it. */
	assert_int_equal(ms_pg_restore_database(&c, arch, &vr.manifest, "testpg", NULL), 0);
	after = (free(after), live_state());
	assert_string_equal(before, after);

	ms_verify_result_clear(&vr);
	ms_pg_dump_clear(&d);
	free(before);
	free(changed);
	free(after);
	free(arch);
}

/* (2) A consistent archive whose rows do not match their digest: restore
 * fails naming the table and the live database is exactly as before. */
static void test_restore_atomic(void **state)
{
	struct ms_dbconf c = dbconf();
	struct ms_pg_dump d;
	struct ms_verify_result vr;
	char *arch = tpath("good.tar.zst"), *bad = tpath("bad.tar.zst"), *before, *after, *err;

	(void)state;
	write_snapshot(arch, &d);
	tamper(arch, bad, "db/testpg/data/public.core_user/000001.copy", "\talice\t", "\talicf\t");
	assert_int_equal(as_owner(change_sql), 0);
	before = live_state();

	memset(&vr, 0, sizeof(vr));
	assert_int_equal(ms_verify_archive(bad, &vr), MS_VERIFY_OK);
	capture_start();
	assert_int_equal(ms_pg_restore_database(&c, bad, &vr.manifest, "testpg", NULL), -1);
	err = capture_end();
	assert_string_equal(err, "modosnap: error: database 'testpg': table 'public.core_user': digest differs "
				 "from the snapshot (rows 3, expected 3)\n");
	free(err);
	after = live_state();
	assert_string_equal(before, after);
	free(after);

	/* A psql meta-command other than `\restrict` or `\unrestrict` is refused. */
	tamper(arch, bad, "db/testpg/schema-pre.sql", "\\restrict ", "\\rastrict ");
	ms_verify_result_clear(&vr);
	memset(&vr, 0, sizeof(vr));
	assert_int_equal(ms_verify_archive(bad, &vr), MS_VERIFY_OK);
	capture_start();
	assert_int_equal(ms_pg_restore_database(&c, bad, &vr.manifest, "testpg", NULL), -1);
	err = capture_end();
	assert_string_equal(err, "modosnap: error: database 'testpg': 'db/testpg/schema-pre.sql': statement 1 "
				 "refused: \\\\rastrict (psql meta-commands are not allowed)\n");
	free(err);
	after = live_state();
	assert_string_equal(before, after);
	free(after);

	/* An alias the snapshot does not hold. */
	capture_start();
	assert_int_equal(ms_pg_restore_database(&c, bad, &vr.manifest, "other", NULL), -1);
	err = capture_end();
	assert_string_equal(err, "modosnap: error: database 'other': not in the snapshot\n");
	free(err);
	ms_verify_result_clear(&vr);

	/* The good archive still restores over the changed database. */
	memset(&vr, 0, sizeof(vr));
	assert_int_equal(ms_verify_archive(arch, &vr), MS_VERIFY_OK);
	assert_int_equal(ms_pg_restore_database(&c, arch, &vr.manifest, "testpg", NULL), 0);
	after = live_state();
	assert_string_not_equal(before, after);
	ms_verify_result_clear(&vr);

	ms_pg_dump_clear(&d);
	free(before);
	free(after);
	free(arch);
	free(bad);
}

/* --- forged archives: confined SQL ------------------------------------- */

/* What an attack through the dump's SQL would change outside the data:
 * the password and attributes of this test's role and of the superusers,
 * the server's max_connections, this test's databases,
 * and in the live database its functions, and the privileges on its
 * schemas and relations; plus the live data. (Other tests run on the same
 * server at the same time and create and drop their own roles and
 * databases: those are left out so that only this test's run counts.) */
static char *guarded_state(void)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	char *s, *sql;

	/* this test's role, the server's superuser and the built-in roles
	 * (not "every superuser": test_pg_dump creates and drops one of its
	 * own meanwhile); this test's databases (the checker refuses CREATE
	 * ROLE and CREATE DATABASE outright: test_sqlcheck) */
	sql = ms_xasprintf("SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, coalesce(rolpassword, '-') "
			   "FROM pg_authid WHERE rolname IN ('%s', '%s') OR rolname ~ '^pg_' ORDER BY 1; "
			   "SHOW max_connections; "
			   "SELECT datname FROM pg_database WHERE datname ~ '_%d' ORDER BY 1",
			   role, superuser, (int)getpid());
	s = psql_out("postgres", sql);
	free(sql);
	ms_strbuf_addstr(&sb, s);
	free(s);
	s = psql_out(livedb, "SELECT p.oid::regprocedure, p.prosecdef, p.proacl FROM pg_proc p "
			     "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname !~ '^(pg_|information_schema)' "
			     "ORDER BY 1::text; "
			     "SELECT nspname, nspacl FROM pg_namespace ORDER BY 1; "
			     "SELECT c.oid::regclass, c.relacl FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
			     "WHERE n.nspname !~ '^(pg_|information_schema)' ORDER BY 1::text");
	ms_strbuf_addstr(&sb, s);
	free(s);
	s = live_state();
	ms_strbuf_addstr(&sb, s);
	free(s);
	return ms_strbuf_detach(&sb);
}

struct attack {
	const char *member, *anchor, *insert; /* `insert` added after `anchor` in `member` ("": at its start) */
	const char *error;                    /* after "database 'testpg': '<member>': "; @ROLE@: the role */
};

/* Each forged archive (members rewritten, manifest recomputed: verify
 * accepts it) is refused by the checker before verify --deep, by the
 * restore engine, and by the engine restoring into a scratch database
 * (what verify --deep does), each with the same one-line error; and
 * nothing outside changed: roles and passwords, server settings,
 * functions, privileges, databases, the live tables. The application's
 * role is an ordinary one, which could have changed its own password,
 * granted its tables to PUBLIC and made a SECURITY DEFINER function. */
static void test_restore_hostile_sql(void **state)
{
	static const struct attack attacks[] = {
		{ "schema-pre.sql", "SET row_security = off;\n", "ALTER ROLE CURRENT_USER PASSWORD 'pwned';\n",
		  "statement 11 refused: ALTER ROLE (dump SQL may only create and alter the database's own objects)" },
		{ "schema-post.sql", "SET row_security = off;\n", "GRANT ALL ON ALL TABLES IN SCHEMA public TO PUBLIC;\n",
		  "statement 11 refused: GRANT ... TO PUBLIC (privileges may only be granted to the application role "
		  "'@ROLE@')" },
		{ "schema-pre.sql", "SET row_security = off;\n",
		  "CREATE FUNCTION public.run(text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER\n"
		  "    AS $$BEGIN EXECUTE $1; END$$;\n",
		  "statement 11 refused: CREATE FUNCTION (SECURITY DEFINER routines are not allowed)" },
		{ "schema-pre.sql", "SET row_security = off;\n",
		  "COMMENT ON SCHEMA public IS 'x'; -- ';\nALTER ROLE CURRENT_USER PASSWORD 'pwned';\n",
		  "statement 12 refused: ALTER ROLE (dump SQL may only create and alter the database's own objects)" },
		{ "sequences.sql", "", "DO $$BEGIN EXECUTE 'ALTER ROLE CURRENT_USER PASSWORD ''pwned'''; END$$;\n",
		  "statement 1 refused: DO (dump SQL may only create and alter the database's own objects)" },
		{ "schema-pre.sql", "SET row_security = off;\n", "SET ROLE postgres;\n",
		  "statement 11 refused: SET ROLE (only the session settings a dump writes may be set)" },
	};
	struct ms_dbconf c = dbconf(), sc = dbconf();
	struct ms_db_admin admin = { 0 };
	struct ms_pg_dump d;
	struct ms_verify_result vr;
	char *arch = tpath("hostile-src.tar.zst"), *bad = tpath("hostile.tar.zst"), *before;

	(void)state;
	write_snapshot(arch, &d);
	ms_pg_dump_clear(&d);
	before = guarded_state();
	/* verify --deep's connection: admin_user over the harness socket */
	sc.host = sockdir;
	sc.password = NULL;
	admin.user = superuser;
	for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
		const struct attack *a = &attacks[i];
		char *member = ms_xasprintf("db/testpg/%s", a->member), *insert = ms_xasprintf("%s%s", a->anchor, a->insert);
		const char *at = strstr(a->error, "@ROLE@");
		char *why = at ? ms_xasprintf("%.*s%s%s", (int)(at - a->error), a->error, role, at + 6) : ms_xstrdup(a->error);
		char *err, *after, *scratch;
		char *expect = ms_xasprintf("modosnap: error: database 'testpg': '%s': %s\n", member, why);
		struct ms_dbconf sd = sc;

		forge(arch, bad, member, a->anchor, insert);
		memset(&vr, 0, sizeof(vr));
		assert_int_equal(ms_verify_archive(bad, &vr), MS_VERIFY_OK);

		/* before verify --deep or a restore writes anything */
		capture_start();
		assert_int_equal(ms_sqlcheck_archive(bad, &vr.manifest.dbs[0], role), -1);
		err = capture_end();
		assert_string_equal(err, expect);
		free(err);

		/* the restore engine */
		capture_start();
		assert_int_equal(ms_pg_restore_database(&c, bad, &vr.manifest, "testpg", NULL), -1);
		err = capture_end();
		assert_string_equal(err, expect);
		free(err);

		/* verify --deep's scratch restore */
		scratch = ms_pg_scratch_create(&sc, &admin, vr.manifest.dbs[0].encoding);
		assert_non_null(scratch);
		sd.name = scratch;
		capture_start();
		assert_int_equal(ms_pg_restore_database(&sd, bad, &vr.manifest, "testpg", NULL), -1);
		err = capture_end();
		assert_string_equal(err, expect);
		free(err);
		assert_int_equal(ms_pg_scratch_drop(&sc, &admin, scratch), 0);

		after = guarded_state();
		assert_string_equal(before, after);
		free(after);
		free(scratch);
		free(expect);
		free(why);
		free(insert);
		free(member);
		ms_verify_result_clear(&vr);
	}

	/* The unforged archive restores, also into a scratch database owned
	 * by the role that admin_user made (no CREATEDB needed): the
	 * refusals above are the attacks' doing. */
	memset(&vr, 0, sizeof(vr));
	assert_int_equal(ms_verify_archive(arch, &vr), MS_VERIFY_OK);
	assert_int_equal(ms_sqlcheck_archive(arch, &vr.manifest.dbs[0], role), 0);
	{
		char *scratch = ms_pg_scratch_create(&sc, &admin, vr.manifest.dbs[0].encoding), *owner, *sql;
		struct ms_dbconf sd = sc;

		assert_non_null(scratch);
		sql = ms_xasprintf("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '%s'", scratch);
		owner = psql_out("postgres", sql);
		free(sql);
		sql = ms_xasprintf("%s\n", role);
		assert_string_equal(owner, sql);
		free(sql);
		free(owner);
		sd.name = scratch;
		assert_int_equal(ms_pg_restore_database(&sd, arch, &vr.manifest, "testpg", NULL), 0);
		assert_int_equal(ms_pg_scratch_drop(&sc, &admin, scratch), 0);
		free(scratch);
	}
	assert_int_equal(ms_pg_restore_database(&c, arch, &vr.manifest, "testpg", NULL), 0);
	ms_verify_result_clear(&vr);
	free(before);
	free(arch);
	free(bad);
}

/* --- lock waits ---------------------------------------------------------- */

/* The lock holder: start_locker(livedb, "mslocker", "public.big", 300)
 * (pgtest.c). */

/* Restore's backends and their locks in the live database: "" when none. */
static char *restore_backends(void)
{
	char *sql = ms_xasprintf("SELECT a.pid, a.state, a.wait_event_type FROM pg_stat_activity a "
				 "WHERE a.datname = '%s' AND a.application_name = 'modosnap' "
				 "UNION ALL SELECT l.pid, l.mode, 'lock' FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
				 "WHERE a.datname = '%s' AND a.application_name = 'modosnap'", livedb, livedb);
	char *s = psql_out("postgres", sql);

	free(sql);
	return s;
}

/* An idle-in-transaction session holding a lock the restore needs: the
 * restore gives up after lock_timeout (60 s by default, 3 s here) with an error naming the
 * statement and its table, and the live database is unchanged. */
static void test_restore_lock_timeout(void **state)
{
	struct ms_dbconf c = dbconf();
	struct ms_pg_dump d;
	struct ms_verify_result vr;
	char *arch = tpath("lock.tar.zst"), *before, *after, *err;
	time_t t0;

	(void)state;
	write_snapshot(arch, &d);
	ms_pg_dump_clear(&d);
	assert_int_equal(ms_verify_archive(arch, &vr), MS_VERIFY_OK);
	before = live_state();
	start_locker(livedb, "mslocker", "public.big", 300);
	ms_pg_restore_set_lock_timeout(3); /* [modosnap] lock_timeout; 60 s by default */
	t0 = time(NULL);
	capture_start();
	assert_int_equal(ms_pg_restore_database(&c, arch, &vr.manifest, "testpg", NULL), -1);
	err = capture_end();
	ms_pg_restore_set_lock_timeout(0); /* back to the default */
	assert_true(time(NULL) - t0 >= 2); /* it did wait for the lock */
	assert_string_equal(err, "modosnap: error: database 'testpg': dropping the current content (DROP TABLE IF EXISTS "
				 "public.big CASCADE): gave up after waiting 3 s for a lock that another session holds "
				 "(see pg_stat_activity and pg_locks): ERROR: canceling statement due to lock timeout\n");
	free(err);
	stop_locker("mslocker");
	after = live_state();
	assert_string_equal(before, after);
	free(after);
	free(before);
	ms_verify_result_clear(&vr);
	free(arch);
}

/* A restore killed (SIGKILL) while it waits for a lock leaves no backend
 * behind: client_connection_check_interval makes the server notice the
 * dead client within seconds, although the lock it waits for is still
 * held, and the backend's own locks go with it. */
static void test_restore_killed_leaves_no_backend(void **state)
{
	struct ms_dbconf c = dbconf();
	struct ms_pg_dump d;
	struct ms_verify_result vr;
	char *arch = tpath("kill.tar.zst"), *s = NULL;
	pid_t child;
	int i, st;

	(void)state;
	write_snapshot(arch, &d);
	ms_pg_dump_clear(&d);
	assert_int_equal(ms_verify_archive(arch, &vr), MS_VERIFY_OK);
	start_locker(livedb, "mslocker", "public.big", 300);
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(ms_pg_restore_database(&c, arch, &vr.manifest, "testpg", NULL) == 0 ? 0 : 1);
	/* the restore's backend waits for the lock, holding its own (drops
	 * done so far); counted in this test's database only: other suites
	 * run beside this one, and their modosnap sessions may wait too */
	s = ms_xasprintf("SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' AND application_name = 'modosnap' "
			 "AND wait_event_type = 'Lock'", livedb);
	for (i = 0; i < 300; i++) {
		char *n = psql_out("postgres", s);
		bool waiting = !strcmp(n, "1\n");

		free(n);
		if (waiting)
			break;
		usleep(100 * 1000);
	}
	free(s);
	assert_true(i < 300);
	s = restore_backends();
	assert_string_not_equal(s, "");
	free(s);
	assert_int_equal(kill(child, SIGKILL), 0);
	assert_int_equal(waitpid(child, &st, 0), child);
	/* within a few seconds (the interval is 2 s), with the lock still held */
	for (i = 0; i < 100; i++) {
		s = restore_backends();
		if (!strcmp(s, ""))
			break;
		free(s);
		s = NULL;
		usleep(100 * 1000);
	}
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
	s = psql_out("postgres", "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'mslocker'");
	assert_string_equal(s, "1\n");
	free(s);
	stop_locker("mslocker");
	ms_verify_result_clear(&vr);
	free(arch);
}

/* A superuser application role restores, but with a warning: only the
 * statement checker then stands between the snapshot's SQL and the
 * server. */
static void test_restore_superuser_warned(void **state)
{
	struct ms_dbconf c = dbconf();
	struct ms_pg_dump d;
	struct ms_verify_result vr;
	char *arch = tpath("su.tar.zst"), *err, *expect, *sql;

	(void)state;
	write_snapshot(arch, &d);
	ms_pg_dump_clear(&d);
	assert_int_equal(ms_verify_archive(arch, &vr), MS_VERIFY_OK);
	sql = ms_xasprintf("ALTER ROLE %s SUPERUSER", role);
	assert_int_equal(psql_sql("postgres", sql), 0);
	free(sql);
	capture_start();
	assert_int_equal(ms_pg_restore_database(&c, arch, &vr.manifest, "testpg", NULL), 0);
	err = capture_end();
	sql = ms_xasprintf("ALTER ROLE %s NOSUPERUSER", role);
	assert_int_equal(psql_sql("postgres", sql), 0);
	free(sql);
	expect = ms_xasprintf("modosnap: warning: database 'testpg': role '%s' is a superuser: the snapshot's SQL runs "
			      "with every right on the server, checked by modosnap's statement filter only (make the "
			      "application's role an ordinary one owning its database)\n", role);
	assert_string_equal(err, expect);
	free(err);
	free(expect);
	ms_verify_result_clear(&vr);
	free(arch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_restore_round_trip),
		cmocka_unit_test(test_restore_atomic),
		cmocka_unit_test(test_restore_hostile_sql),
		cmocka_unit_test(test_restore_lock_timeout),
		cmocka_unit_test(test_restore_killed_leaves_no_backend),
		cmocka_unit_test(test_restore_superuser_warned),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
