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
#include <stdatomic.h>
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
#include "restore/pg_stage.h"
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

/* After a restore: every page of the tables all-frozen in the
 * visibility map (the extension exists for this check only), and column
 * statistics (only ANALYZE writes them). */
static void assert_frozen_analyzed(void)
{
	char *s;

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
	s = psql_out(livedb, "SELECT count(*) > 0 FROM pg_stats WHERE schemaname = 'app' AND tablename = 'msgs'");
	assert_string_equal(s, "t\n");
	free(s);
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
	assert_int_equal(ms_pg_restore_database(&c, NULL, arch, &vr.manifest, "testpg", NULL), 0);
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
	assert_frozen_analyzed();
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
	assert_int_equal(ms_pg_restore_database(&c, NULL, arch, &vr.manifest, "testpg", NULL), 0);
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
	assert_int_equal(ms_pg_restore_database(&c, NULL, bad, &vr.manifest, "testpg", NULL), -1);
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
	assert_int_equal(ms_pg_restore_database(&c, NULL, bad, &vr.manifest, "testpg", NULL), -1);
	err = capture_end();
	assert_string_equal(err, "modosnap: error: database 'testpg': 'db/testpg/schema-pre.sql': statement 1 "
				 "refused: \\\\rastrict (psql meta-commands are not allowed)\n");
	free(err);
	after = live_state();
	assert_string_equal(before, after);
	free(after);

	/* An alias the snapshot does not hold. */
	capture_start();
	assert_int_equal(ms_pg_restore_database(&c, NULL, bad, &vr.manifest, "other", NULL), -1);
	err = capture_end();
	assert_string_equal(err, "modosnap: error: database 'other': not in the snapshot\n");
	free(err);
	ms_verify_result_clear(&vr);

	/* The good archive still restores over the changed database. */
	memset(&vr, 0, sizeof(vr));
	assert_int_equal(ms_verify_archive(arch, &vr), MS_VERIFY_OK);
	assert_int_equal(ms_pg_restore_database(&c, NULL, arch, &vr.manifest, "testpg", NULL), 0);
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
		assert_int_equal(ms_pg_restore_database(&c, NULL, bad, &vr.manifest, "testpg", NULL), -1);
		err = capture_end();
		assert_string_equal(err, expect);
		free(err);

		/* verify --deep's scratch restore */
		scratch = ms_pg_scratch_create(&sc, &admin, vr.manifest.dbs[0].encoding);
		assert_non_null(scratch);
		sd.name = scratch;
		capture_start();
		assert_int_equal(ms_pg_restore_database(&sd, NULL, bad, &vr.manifest, "testpg", NULL), -1);
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
		assert_int_equal(ms_pg_restore_database(&sd, NULL, arch, &vr.manifest, "testpg", NULL), 0);
		assert_int_equal(ms_pg_scratch_drop(&sc, &admin, scratch), 0);
		free(scratch);
	}
	assert_int_equal(ms_pg_restore_database(&c, NULL, arch, &vr.manifest, "testpg", NULL), 0);
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
	assert_int_equal(ms_pg_restore_database(&c, NULL, arch, &vr.manifest, "testpg", NULL), -1);
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
		_exit(ms_pg_restore_database(&c, NULL, arch, &vr.manifest, "testpg", NULL) == 0 ? 0 : 1);
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
	assert_int_equal(ms_pg_restore_database(&c, NULL, arch, &vr.manifest, "testpg", NULL), 0);
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

/* --- the staged (parallel) restore --------------------------------------- */

/* Lets the role create databases (a staged restore needs it, or
 * admin_user) or not (the default here). */
static void set_createdb(bool on)
{
	char *sql = ms_xasprintf("ALTER ROLE %s %s", role, on ? "CREATEDB" : "NOCREATEDB");

	assert_int_equal(psql_sql("postgres", sql), 0);
	free(sql);
}

/* The live database's OID: a staged restore makes a new database. */
static char *live_oid(void)
{
	char *sql = ms_xasprintf("SELECT oid FROM pg_database WHERE datname = '%s'", livedb);
	char *s = psql_out("postgres", sql);

	free(sql);
	return s;
}

/* Staging and retired databases of this test's live database: "" when
 * none is left. */
static char *side_dbs(void)
{
	char *sql = ms_xasprintf("SELECT datname FROM pg_database WHERE datname ~ '^ms(restore|old)_' "
				 "AND datname LIKE '%%\\_%s' ORDER BY 1", livedb);
	char *s = psql_out("postgres", sql);

	free(sql);
	return s;
}

static void restore_debug(const struct ms_dbconf *c, const char *arch, const struct ms_verify_result *vr, int want,
			  char **err)
{
	ms_log_set_level(MS_LOG_DEBUG);
	capture_start();
	assert_int_equal(ms_pg_restore_database(c, NULL, arch, &vr->manifest, "testpg", NULL), want);
	*err = capture_end();
	ms_log_set_level(MS_LOG_INFO);
}

/* A role with CREATEDB and nobody else connected: the restore goes
 * through a staging database (three connections loading at once), which
 * becomes the live one; the result is the snapshot, by the same oracle as
 * test_restore_round_trip, with every table frozen and analyzed, owned by
 * the role, and no staging or retired database left. A tampered archive
 * and a forged SQL statement fail with the in-place restore's messages,
 * the live database untouched (the same OID) and the staging one gone. */
static void test_staged_round_trip(void **state)
{
	struct ms_dbconf c = dbconf();
	struct ms_pg_dump d;
	struct ms_verify_result vr;
	char *arch = tpath("staged.tar.zst"), *bad = tpath("staged-bad.tar.zst"), *before, *changed, *after, *err;
	char *oid0, *oid1, *s, *line, *stage;

	(void)state;
	before = live_state();
	write_snapshot(arch, &d);
	set_createdb(true);
	assert_int_equal(as_owner(change_sql), 0);
	changed = live_state();
	oid0 = live_oid();
	memset(&vr, 0, sizeof(vr));
	assert_int_equal(ms_verify_archive(arch, &vr), MS_VERIFY_OK);
	restore_debug(&c, arch, &vr, 0, &err);
	stage = ms_pg_side_name("msrestore", (long)getpid(), livedb);
	line = ms_xasprintf("modosnap: debug: database 'testpg': restoring through the staging database '%s'\n", stage);
	if (!strstr(err, line))
		fail_msg("no '%s' in [%s]", line, err);
	free(line);
	/* three connections did load tables, and built keys */
	if (!strstr(err, "modosnap: debug: database 'testpg': the tables loaded on 3 connection(s) at once\n") ||
	    !strstr(err, "the keys and indexes of ") || !strstr(err, " table(s) built on 3 connection(s)\n"))
		fail_msg("not 3 connections in [%s]", err);
	for (size_t i = 0; i < d.n_tables; i++) {
		line = ms_xasprintf("modosnap: debug: database 'testpg': table '%s.%s': loaded frozen\n",
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
	oid1 = live_oid();
	assert_string_not_equal(oid0, oid1); /* a new database, swapped in */
	s = side_dbs();
	assert_string_equal(s, "");
	free(s);
	s = ms_xasprintf("SELECT pg_get_userbyid(datdba) = '%s' FROM pg_database WHERE datname = '%s'", role, livedb);
	after = (free(after), psql_out("postgres", s));
	assert_string_equal(after, "t\n");
	free(s);
	assert_frozen_analyzed();
	s = psql_out(livedb, "SELECT nextval('app.counter'), nextval('core_mailbox_id_seq'), nextval('core_user_id_seq')");
	assert_string_equal(s, "42|250|101\n");
	free(s);
	ms_verify_result_clear(&vr);

	/* rows that differ from their digest: refused by the proof (the
	 * sequences moved since: the state to keep is taken again) */
	assert_int_equal(as_owner(change_sql), 0);
	changed = (free(changed), live_state());
	free(oid0);
	oid0 = live_oid();
	tamper(arch, bad, "db/testpg/data/public.core_user/000001.copy", "\talice\t", "\talicf\t");
	memset(&vr, 0, sizeof(vr));
	assert_int_equal(ms_verify_archive(bad, &vr), MS_VERIFY_OK);
	restore_debug(&c, bad, &vr, -1, &err);
	line = ms_xasprintf("modosnap: debug: database 'testpg': restoring through the staging database '%s'\n", stage);
	if (!strstr(err, line) || !strstr(err, "modosnap: error: database 'testpg': table 'public.core_user': digest "
					       "differs from the snapshot (rows 3, expected 3)\n"))
		fail_msg("not a staged restore failing on its proof: [%s]", err);
	assert_null(strstr(err, "modosnap: warning"));
	free(err);
	ms_verify_result_clear(&vr);
	/* a statement the checker refuses */
	forge(arch, bad, "db/testpg/schema-pre.sql", "SET row_security = off;\n",
	      "SET row_security = off;\nALTER ROLE CURRENT_USER PASSWORD 'pwned';\n");
	memset(&vr, 0, sizeof(vr));
	assert_int_equal(ms_verify_archive(bad, &vr), MS_VERIFY_OK);
	restore_debug(&c, bad, &vr, -1, &err);
	if (!strstr(err, line) ||
	    !strstr(err, "modosnap: error: database 'testpg': 'db/testpg/schema-pre.sql': statement 11 refused: ALTER "
			 "ROLE (dump SQL may only create and alter the database's own objects)\n"))
		fail_msg("not a staged restore refusing the statement: [%s]", err);
	free(line);
	free(err);
	ms_verify_result_clear(&vr);
	after = (free(after), live_state());
	assert_string_equal(after, changed);
	free(oid1);
	oid1 = live_oid();
	assert_string_equal(oid0, oid1);
	s = side_dbs();
	assert_string_equal(s, "");
	free(s);
	/* back to the snapshot for the next tests */
	memset(&vr, 0, sizeof(vr));
	assert_int_equal(ms_verify_archive(arch, &vr), MS_VERIFY_OK);
	assert_int_equal(ms_pg_restore_database(&c, NULL, arch, &vr.manifest, "testpg", NULL), 0);
	ms_verify_result_clear(&vr);

	set_createdb(false);
	ms_pg_dump_clear(&d);
	free(stage);
	free(oid0);
	free(oid1);
	free(before);
	free(changed);
	free(after);
	free(arch);
	free(bad);
}

/* Where a staging database would not be the same database, or the swap
 * could not happen, the restore is done in place (one transaction), and
 * says why at debug level: a role without CREATEDB (and no admin_user),
 * a database with a setting of its own, another session connected. */
static void test_staged_not_possible(void **state)
{
	struct ms_dbconf c = dbconf();
	struct ms_pg_dump d;
	struct ms_verify_result vr;
	char *arch = tpath("inplace.tar.zst"), *before, *after, *err, *oid0, *oid1, *sql, *s;

	(void)state;
	before = live_state();
	write_snapshot(arch, &d);
	ms_pg_dump_clear(&d);
	memset(&vr, 0, sizeof(vr));
	assert_int_equal(ms_verify_archive(arch, &vr), MS_VERIFY_OK);
	for (size_t k = 0; k < 3; k++) {
		char *w = k == 0 ? ms_xasprintf("role '%s' may not create and rename databases owned by '%s' (grant it "
						"CREATEDB, or set admin_user in [db:testpg], for a parallel restore)",
						role, role)
			  : k == 1 ? ms_xstrdup("the database has properties or objects a dump does not hold (ALTER "
						"DATABASE ... SET, comment, connection limit, tablespace, ICU locale, "
						"default privileges, event triggers, publications, subscriptions, "
						"replication slots, foreign servers or extensions in pg_catalog) that a "
						"new database would lack")
				   : ms_xstrdup("1 other session(s) are connected to it (stop the application, amavis, "
						"Postfix and Dovecot for a parallel restore)");
		char *line;

		line = ms_xasprintf("modosnap: debug: database 'testpg': restoring in place, in one transaction: %s\n", w);
		if (k >= 1)
			set_createdb(true);
		if (k == 1) {
			sql = ms_xasprintf("ALTER DATABASE %s SET work_mem = '8MB'", livedb);
			assert_int_equal(psql_sql("postgres", sql), 0);
			free(sql);
		}
		if (k == 2)
			start_idle_session(livedb, "msidle", 300);
		assert_int_equal(as_owner(change_sql), 0);
		oid0 = live_oid();
		restore_debug(&c, arch, &vr, 0, &err);
		if (!strstr(err, line))
			fail_msg("no '%s' in [%s]", line, err);
		assert_null(strstr(err, "modosnap: error"));
		assert_null(strstr(err, "modosnap: warning"));
		free(err);
		after = live_state();
		assert_string_equal(before, after);
		free(after);
		oid1 = live_oid();
		assert_string_equal(oid0, oid1);
		if (k == 1) { /* the database's own setting is still there */
			sql = ms_xasprintf("SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_database d "
					   "ON d.oid = s.setdatabase WHERE d.datname = '%s'", livedb);
			s = psql_out("postgres", sql);
			assert_string_equal(s, "{work_mem=8MB}\n");
			free(s);
			free(sql);
			sql = ms_xasprintf("ALTER DATABASE %s RESET ALL", livedb);
			assert_int_equal(psql_sql("postgres", sql), 0);
			free(sql);
		}
		if (k == 2)
			stop_locker("msidle");
		free(oid0);
		free(oid1);
		free(line);
		free(w);
	}
	set_createdb(false);
	ms_verify_result_clear(&vr);
	free(before);
	free(arch);
}

/* A session that connects after the staging database was loaded keeps
 * the rename from happening: the live database is left as it was, the
 * staging one dropped, and the restore is done in place instead, with a
 * warning. */
static void connect_before_swap(const char *live)
{
	start_idle_session(live, "msbusy", 300);
}

static void test_staged_swap_busy(void **state)
{
	struct ms_dbconf c = dbconf();
	struct ms_pg_dump d;
	struct ms_verify_result vr;
	char *arch = tpath("busy.tar.zst"), *before, *after, *err, *oid0, *oid1, *s, *expect;
	struct ms_progress pg, pg_in_place;

	(void)state;
	before = live_state();
	write_snapshot(arch, &d);
	ms_pg_dump_clear(&d);
	memset(&vr, 0, sizeof(vr));
	assert_int_equal(ms_verify_archive(arch, &vr), MS_VERIFY_OK);
	set_createdb(true);
	assert_int_equal(as_owner(change_sql), 0);
	oid0 = live_oid();
	ms_pg_stage_test_before_swap = connect_before_swap;
	ms_progress_init(&pg);
	capture_start();
	assert_int_equal(ms_pg_restore_database(&c, NULL, arch, &vr.manifest, "testpg", &pg), 0);
	err = capture_end();
	ms_pg_stage_test_before_swap = NULL;
	stop_locker("msbusy");
	/* the progress counted the restore that happened, in place, once */
	ms_progress_init(&pg_in_place);
	set_createdb(false);
	assert_int_equal(ms_pg_restore_database(&c, NULL, arch, &vr.manifest, "testpg", &pg_in_place), 0);
	assert_true(atomic_load(&pg_in_place.bytes) > 0);
	assert_int_equal(atomic_load(&pg.bytes), atomic_load(&pg_in_place.bytes));
	expect = ms_xasprintf("modosnap: warning: database 'testpg': another session was connected during the swap "
			      "(ERROR: database \"%s\" is being accessed by other users DETAIL: There is 1 other session "
			      "using the database.): the database is restored in place instead, in one transaction\n",
			      livedb);
	assert_string_equal(err, expect);
	free(expect);
	free(err);
	after = live_state();
	assert_string_equal(before, after);
	oid1 = live_oid();
	assert_string_equal(oid0, oid1);
	s = side_dbs();
	assert_string_equal(s, "");
	free(s);
	set_createdb(false);
	ms_verify_result_clear(&vr);
	free(oid0);
	free(oid1);
	free(after);
	free(before);
	free(arch);
}

/* Killed (SIGKILL) with the staging database loaded and proved, just
 * before the swap: the live database is untouched, and the next restore
 * drops the staging database left behind, with a warning, and completes. */
static void test_staged_killed(void **state)
{
	struct ms_dbconf c = dbconf();
	struct ms_pg_dump d;
	struct ms_verify_result vr;
	char *arch = tpath("skill.tar.zst"), *log = tpath("skill.err"), *before, *changed, *after, *err, *s;
	char *stage, *expect;
	pid_t child;
	int i, st;

	(void)state;
	before = live_state();
	write_snapshot(arch, &d);
	ms_pg_dump_clear(&d);
	memset(&vr, 0, sizeof(vr));
	assert_int_equal(ms_verify_archive(arch, &vr), MS_VERIFY_OK);
	set_createdb(true);
	assert_int_equal(as_owner(change_sql), 0);
	changed = live_state();
	test_write_file(log, "", 0, 0600);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		int fd = open(log, O_WRONLY | O_TRUNC);

		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(2);
		setenv("MODOSNAP_TEST_STALL", "db-load", 1);
		_exit(ms_pg_restore_database(&c, NULL, arch, &vr.manifest, "testpg", NULL) == 0 ? 0 : 1);
	}
	for (i = 0; i < 1200; i++) {
		char *text = test_slurp(log);
		bool stalled = text && strstr(text, "modosnap: test: stalled at db-load\n");

		free(text);
		if (stalled)
			break;
		usleep(100 * 1000);
	}
	assert_true(i < 1200);
	assert_int_equal(kill(child, SIGKILL), 0);
	assert_int_equal(waitpid(child, &st, 0), child);
	after = live_state();
	assert_string_equal(changed, after);
	free(after);
	stage = ms_pg_side_name("msrestore", (long)child, livedb);
	expect = ms_xasprintf("%s\n", stage);
	s = side_dbs();
	assert_string_equal(s, expect);
	free(s);
	free(expect);

	capture_start();
	assert_int_equal(ms_pg_restore_database(&c, NULL, arch, &vr.manifest, "testpg", NULL), 0);
	err = capture_end();
	expect = ms_xasprintf("modosnap: warning: database 'testpg': dropping '%s', left behind by an interrupted run\n",
			      stage);
	assert_string_equal(err, expect);
	free(expect);
	free(err);
	after = live_state();
	assert_string_equal(before, after);
	s = side_dbs();
	assert_string_equal(s, "");
	free(s);
	set_createdb(false);
	ms_verify_result_clear(&vr);
	free(stage);
	free(after);
	free(changed);
	free(before);
	free(arch);
	free(log);
}

/* The live database's own GRANTs (an installer revoked PUBLIC's CONNECT)
 * are given to the staging database: after a staged restore the live
 * database has the same privileges. */
static void test_staged_keeps_acl(void **state)
{
	struct ms_dbconf c = dbconf();
	struct ms_pg_dump d;
	struct ms_verify_result vr;
	char *arch = tpath("acl.tar.zst"), *sql, *acl0, *acl1, *oid0, *oid1, *err;

	(void)state;
	write_snapshot(arch, &d);
	ms_pg_dump_clear(&d);
	memset(&vr, 0, sizeof(vr));
	assert_int_equal(ms_verify_archive(arch, &vr), MS_VERIFY_OK);
	sql = ms_xasprintf("REVOKE ALL ON DATABASE %s FROM PUBLIC; GRANT CONNECT ON DATABASE %s TO pg_monitor", livedb,
			   livedb);
	assert_int_equal(psql_sql("postgres", sql), 0);
	free(sql);
	sql = ms_xasprintf("SELECT datacl FROM pg_database WHERE datname = '%s'", livedb);
	acl0 = psql_out("postgres", sql);
	assert_non_null(strstr(acl0, "pg_monitor=c/"));
	set_createdb(true);
	oid0 = live_oid();
	restore_debug(&c, arch, &vr, 0, &err);
	assert_non_null(strstr(err, "restoring through the staging database"));
	assert_null(strstr(err, "modosnap: warning"));
	free(err);
	oid1 = live_oid();
	assert_string_not_equal(oid0, oid1);
	acl1 = psql_out("postgres", sql);
	assert_string_equal(acl0, acl1);
	free(sql);
	sql = ms_xasprintf("GRANT ALL ON DATABASE %s TO PUBLIC; REVOKE ALL ON DATABASE %s FROM pg_monitor", livedb,
			   livedb);
	assert_int_equal(psql_sql("postgres", sql), 0);
	set_createdb(false);
	free(sql);
	free(acl0);
	free(acl1);
	free(oid0);
	free(oid1);
	ms_verify_result_clear(&vr);
	free(arch);
}

/* A privilege on the live public schema that the snapshot does not have
 * (granted since): a restore in place keeps it, so the staged restore
 * notices that its public schema differs and restores in place. */
static void test_staged_public_differs(void **state)
{
	struct ms_dbconf c = dbconf();
	struct ms_pg_dump d;
	struct ms_verify_result vr;
	char *arch = tpath("public.tar.zst"), *oid0, *oid1, *err, *s;

	(void)state;
	write_snapshot(arch, &d);
	ms_pg_dump_clear(&d);
	memset(&vr, 0, sizeof(vr));
	assert_int_equal(ms_verify_archive(arch, &vr), MS_VERIFY_OK);
	assert_int_equal(psql_sql(livedb, "GRANT USAGE ON SCHEMA public TO pg_monitor;\n"), 0);
	set_createdb(true);
	oid0 = live_oid();
	restore_debug(&c, arch, &vr, 0, &err);
	if (!strstr(err, "modosnap: debug: database 'testpg': restoring in place, in one transaction: the public schema "
			 "differs from the live one's after schema-pre.sql (") ||
	    !strstr(err, "pg_monitor=U/"))
		fail_msg("no in-place line naming the difference in [%s]", err);
	assert_null(strstr(err, "modosnap: warning"));
	free(err);
	oid1 = live_oid();
	assert_string_equal(oid0, oid1);
	s = side_dbs();
	assert_string_equal(s, "");
	free(s);
	s = psql_out(livedb, "SELECT has_schema_privilege('pg_monitor', 'public', 'USAGE')");
	assert_string_equal(s, "t\n");
	free(s);
	assert_int_equal(psql_sql(livedb, "REVOKE USAGE ON SCHEMA public FROM pg_monitor;\n"), 0);
	set_createdb(false);
	free(oid0);
	free(oid1);
	ms_verify_result_clear(&vr);
	free(arch);
}

/* A session that connected to the staging database (any role may, as to
 * the live one) is found when the staging database is closed to new
 * sessions before the proof: the proof could not vouch for what it does,
 * so the restore is done in place, with a warning. */
static void connect_before_seal(const char *staging)
{
	start_idle_session(staging, "msintruder", 300);
}

static void test_staged_intruder(void **state)
{
	struct ms_dbconf c = dbconf();
	struct ms_pg_dump d;
	struct ms_verify_result vr;
	char *arch = tpath("intruder.tar.zst"), *before, *after, *err, *oid0, *oid1, *s, *stage, *expect;

	(void)state;
	before = live_state();
	write_snapshot(arch, &d);
	ms_pg_dump_clear(&d);
	memset(&vr, 0, sizeof(vr));
	assert_int_equal(ms_verify_archive(arch, &vr), MS_VERIFY_OK);
	set_createdb(true);
	assert_int_equal(as_owner(change_sql), 0);
	oid0 = live_oid();
	ms_pg_stage_test_before_seal = connect_before_seal;
	capture_start();
	assert_int_equal(ms_pg_restore_database(&c, NULL, arch, &vr.manifest, "testpg", NULL), 0);
	err = capture_end();
	ms_pg_stage_test_before_seal = NULL;
	stop_locker("msintruder");
	stage = ms_pg_side_name("msrestore", (long)getpid(), livedb);
	/* the intruder here is a superuser session, which the application's
	 * role may not end: the staging database stays, for the next run */
	expect = ms_xasprintf(") connected to the staging database '%s': restoring in place instead, in one "
			      "transaction\nmodosnap: warning: database 'testpg': dropping the staging database '%s' "
			      "failed: ERROR: must be a superuser to terminate superuser process\n", stage, stage);
	if (strncmp(err, "modosnap: warning: database 'testpg': another session (pid ", 59) != 0 ||
	    !strstr(err, expect) || strlen(strstr(err, expect)) != strlen(expect))
		fail_msg("not the warnings expected: [%s]", err);
	free(err);
	free(expect);
	after = live_state();
	assert_string_equal(before, after);
	oid1 = live_oid();
	assert_string_equal(oid0, oid1);
	/* the next run drops it */
	capture_start();
	assert_int_equal(ms_pg_restore_database(&c, NULL, arch, &vr.manifest, "testpg", NULL), 0);
	err = capture_end();
	expect = ms_xasprintf("modosnap: warning: database 'testpg': dropping '%s', left behind by an interrupted run\n",
			      stage);
	assert_string_equal(err, expect);
	free(expect);
	free(err);
	free(stage);
	s = side_dbs();
	assert_string_equal(s, "");
	free(s);
	set_createdb(false);
	ms_verify_result_clear(&vr);
	free(oid0);
	free(oid1);
	free(after);
	free(before);
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
		cmocka_unit_test(test_staged_round_trip),
		cmocka_unit_test(test_staged_not_possible),
		cmocka_unit_test(test_staged_swap_busy),
		cmocka_unit_test(test_staged_killed),
		cmocka_unit_test(test_staged_keeps_acl),
		cmocka_unit_test(test_staged_public_differs),
		cmocka_unit_test(test_staged_intruder),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
