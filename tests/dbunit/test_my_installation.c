/*
 * The MariaDB round trip on generated Modoboa installations
 * (scripts/mkfixture): one with both databases on MariaDB, one mixed
 * (`default` on PostgreSQL, `amavis` on MariaDB). The real `modosnap
 * create` takes the snapshot; a bad upgrade then changes and deletes rows,
 * drops a table, adds a table and a migration row and moves an
 * AUTO_INCREMENT counter; the restore engines put each database back from
 * the verified archive. The oracle is independent of our digests:
 * `mariadb-dump --skip-dump-date --order-by-primary` (schema, data,
 * triggers, routines) before and after must be identical, as must
 * pg_dump's for the PostgreSQL side.
 *
 * The atomicity cases restore tampered archives (verify accepts them,
 * the row digests do not match, or a trigger cannot be created after the
 * swap) and require the live database to be byte-identical by
 * mariadb-dump afterwards, with no staging or retired database left.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "discover/instance.h"
#include "formats/manifest.h"
#include "restore/my_restore.h"
#include "restore/pg_restore.h"
#include "pgtest.h"
#include "testutil.h"
#include "base/util.h"
#include "formats/verify.h"

static char *my_env, *mx_env; /* fixture.env of the MariaDB and the mixed site */

static char *load_fixture(const char *engine, const char *site)
{
	char *envf, *text;

	if (run("'%s/scripts/mkfixture' --root '%s/%s' --servers '%s' --engine %s --prefix %s%ld "
		">'%s/mkfixture-%s.log' 2>&1", getenv("MS_SOURCE_DIR"), tmpdir, site, getenv("MS_TESTSRV_ENV"),
		engine, site, (long)getpid(), tmpdir, site) != 0)
		return NULL;
	envf = ms_xasprintf("%s/%s/fixture.env", tmpdir, site);
	text = ms_read_file(envf, 1 << 20, NULL);
	free(envf);
	return text;
}

static int setup(void **state)
{
	(void)state;
	if (read_server_env() < 0)
		return -1;
	if (make_tmpdir("test_my_installation") < 0 || run("chmod 0755 '%s'", tmpdir) != 0)
		return -1;
	/* the snapshots are signed with a key of the test's own, never /etc/modosnap's */
	/* the system root: the test's directory, never the host's /etc */
	if (run("printf '[modosnap]\\nsigning_key = %s/keys/signing.key\\ntrusted_keys = %s/keys/trusted_keys\\n"
		"system_root = %s\\n' >'%s/keys.conf'", tmpdir, tmpdir, tmpdir, tmpdir) != 0)
		return -1;
	my_env = load_fixture("mariadb", "myi");
	mx_env = load_fixture("mixed", "mxi");
	return my_env && mx_env ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	run("'%s/scripts/mkfixture' --remove --root '%s/myi' --servers '%s' >/dev/null 2>&1", getenv("MS_SOURCE_DIR"),
	    tmpdir, getenv("MS_TESTSRV_ENV"));
	run("'%s/scripts/mkfixture' --remove --root '%s/mxi' --servers '%s' >/dev/null 2>&1", getenv("MS_SOURCE_DIR"),
	    tmpdir, getenv("MS_TESTSRV_ENV"));
	run("rm -rf '%s'", tmpdir);
	free(my_env);
	free(mx_env);
	return 0;
}

/* root over the local socket, as on a Debian host */
static const struct ms_db_admin root_admin = { .user = "root" };

/* `modosnap create` of a site; returns the archive path (caller frees)
 * and fills *vr from verify. */
static char *snapshot(const char *env, const char *dest, struct ms_verify_result *vr)
{
	char *inst = fx_value(env, "MS_FX_INSTANCE"), *pf = fx_value(env, "MS_FX_POSTFIX"), *list, *archive;

	/* exit 3: the MyISAM tables are reported as not covered by the snapshot */
	assert_int_equal(run("MODOSNAP_CONFIG='%s/keys.conf' '%s' create --instance '%s' --postfix-dir '%s' --dest '%s/%s' >/dev/null "
			     "2>'%s/create.err'; test $? -eq 3", tmpdir, getenv("MODOSNAP"), inst, pf, tmpdir, dest, tmpdir),
			 0);
	assert_int_equal(run("grep -q \"uses the non-transactional engine MyISAM\" '%s/create.err'", tmpdir), 0);
	assert_int_equal(run("ls '%s/%s'/*.tar.zst >'%s/archive.txt'", tmpdir, dest, tmpdir), 0);
	list = ms_xasprintf("%s/archive.txt", tmpdir);
	archive = ms_read_file(list, 4096, NULL);
	free(list);
	assert_non_null(archive);
	archive[strcspn(archive, "\n")] = '\0';
	assert_int_equal(ms_verify_archive(archive, vr), MS_VERIFY_OK);
	free(inst);
	free(pf);
	return archive;
}

static const struct ms_manifest_db *mdb_of(const struct ms_manifest *m, const char *alias)
{
	for (size_t i = 0; i < m->n_dbs; i++)
		if (!strcmp(m->dbs[i].alias, alias))
			return &m->dbs[i];
	fail_msg("no database '%s' in the manifest", alias);
	return NULL;
}

/* A bad upgrade of the MariaDB Modoboa database. */
static void break_default(const char *db)
{
	assert_int_equal(my_sql(db, "SET foreign_key_checks = 0;"
				    "UPDATE core_user SET first_name = 'changed' ORDER BY id LIMIT 5;"
				    "DELETE FROM admin_alias ORDER BY id LIMIT 3;"
				    "DROP TABLE core_localconfig;"
				    "CREATE TABLE upgrade_new (id int AUTO_INCREMENT PRIMARY KEY, x text);"
				    "INSERT INTO django_migrations (app, name, applied) "
				    "VALUES ('core', '9999_bad_upgrade', NOW());"
				    "ALTER TABLE django_migrations AUTO_INCREMENT = 100000;"),
			 0);
}

/* ... and of the Amavis database: rows changed and deleted, a table and
 * the view dropped, a trigger replaced. */
static void break_amavis(const char *db)
{
	assert_int_equal(my_sql(db, "SET foreign_key_checks = 0; DELETE FROM msgrcpt;"
				    "UPDATE msgs SET spam_level = 99; DELETE FROM quarantine ORDER BY mail_id LIMIT 2;"
				    "DROP TABLE wblist; DROP VIEW IF EXISTS quarantine_summary;"
				    "DROP TRIGGER IF EXISTS release_log_stamp;"
				    "CREATE TRIGGER other BEFORE INSERT ON policy FOR EACH ROW SET NEW.virus_lover = 'Y';"
				    "INSERT INTO stats_daily VALUES ('2030-01-01', 'x', 1, 2, 3);"),
			 0);
}

/* No staging, retired or scratch database of this test's sites is left on
 * the server (other tests may be restoring their own at the same time). */
static void no_side_databases(void)
{
	char *sql = ms_xasprintf("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA "
				 "WHERE SCHEMA_NAME REGEXP '^ms(restore|old|verify)_[0-9]+_(myi|mxi)%ld_'",
				 (long)getpid());
	char *s = my_out(sql);

	assert_string_equal(s, "");
	free(s);
	free(sql);
}

static void test_mariadb_round_trip(void **state)
{
	struct ms_dbconf def = fx_dbconf(my_env, "default", "DEFAULT"), am = fx_dbconf(my_env, "amavis", "AMAVIS");
	char *before_def = my_dump_of(def.name), *before_am = my_dump_of(am.name), *archive, *s;
	struct ms_verify_result vr;
	const struct ms_manifest_db *mdb;

	(void)state;
	archive = snapshot(my_env, "dest-my", &vr);
	assert_int_equal(vr.manifest.n_dbs, 2);
	mdb = mdb_of(&vr.manifest, "amavis");
	assert_string_equal(mdb->engine, "mysql");
	assert_string_equal(mdb->encoding, "utf8mb4");
	assert_string_equal(mdb->collation, "utf8mb4_general_ci");
	assert_int_equal(mdb->shared_snapshot.n, 0); /* two logins: two transactions */

	break_default(def.name);
	break_amavis(am.name);
	s = my_dump_of(am.name);
	assert_true(strcmp(s, before_am) != 0); /* the oracle sees the damage */
	free(s);

	assert_int_equal(ms_my_restore_database(&def, &root_admin, archive, &vr.manifest, "default", NULL), 0);
	assert_int_equal(ms_my_restore_database(&am, &root_admin, archive, &vr.manifest, "amavis", NULL), 0);
	s = my_dump_of(def.name);
	assert_string_equal(s, before_def);
	free(s);
	s = my_dump_of(am.name);
	assert_string_equal(s, before_am);
	free(s);
	no_side_databases();
	assert_int_equal(ms_my_check_database(&am, &root_admin, mdb), 0);

	/* A row changed afterwards: the check names the table. */
	assert_int_equal(my_sql(am.name, "UPDATE policy SET policy_name = 'x' WHERE id = 1"), 0);
	capture_start();
	assert_int_equal(ms_my_check_database(&am, &root_admin, mdb), -1);
	s = capture_end();
	assert_true(strstr(s, "database 'amavis': table '") && strstr(s, ".policy': digest differs from the snapshot "
								      "(rows 4, expected 4)\n"));
	free(s);

	/* Onto a server where the database does not exist yet. */
	s = ms_xasprintf("DROP DATABASE `%s`", am.name);
	assert_int_equal(my_sql("mysql", s), 0);
	free(s);
	assert_int_equal(ms_my_restore_database(&am, &root_admin, archive, &vr.manifest, "amavis", NULL), 0);
	s = my_dump_of(am.name);
	assert_string_equal(s, before_am);
	free(s);
	no_side_databases();

	ms_verify_result_clear(&vr);
	free(archive);
	free(before_def);
	free(before_am);
	fx_dbconf_free(&def);
	fx_dbconf_free(&am);
}

/* Restores `bad` (an archive tampered in one member, which verify still
 * accepts) over the live amavis database: it must fail, leave the live
 * database as `before` by mariadb-dump, and leave no side database.
 * Returns what it logged (caller frees). */
static char *refused_restore(const struct ms_dbconf *am, const char *bad, const char *before)
{
	struct ms_verify_result bvr;
	char *s, *now;
	int rc;

	assert_int_equal(ms_verify_archive(bad, &bvr), MS_VERIFY_OK);
	capture_start();
	rc = ms_my_restore_database(am, &root_admin, bad, &bvr.manifest, "amavis", NULL);
	s = capture_end();
	ms_verify_result_clear(&bvr);
	if (rc != -1)
		fail_msg("the tampered archive was restored: %s", s);
	now = my_dump_of(am->name);
	assert_string_equal(now, before);
	free(now);
	no_side_databases();
	return s;
}

/* refused_restore, whose whole output must be `expect` (freed here). */
static void expect_refused(const struct ms_dbconf *am, const char *bad, const char *before, char *expect)
{
	char *s = refused_restore(am, bad, before);

	assert_string_equal(s, expect);
	free(s);
	free(expect);
}

/* Restores that fail before or after the swap leave the live database
 * byte-identical; the error names the table or statement. */
static void test_mariadb_atomic(void **state)
{
	struct ms_dbconf am = fx_dbconf(my_env, "amavis", "AMAVIS");
	char *archive, *bad = tpath("bad.tar.zst"), *before, *s, *member, *expect;
	struct ms_verify_result vr, bvr;

	(void)state;
	archive = snapshot(my_env, "dest-atomic", &vr);
	break_amavis(am.name);
	before = my_dump_of(am.name);

	/* Rows that differ from the manifest's digest: refused before the swap. */
	member = ms_xasprintf("db/amavis/data/%s.policy/000001.tsv", am.name);
	tamper(archive, bad, member, "\tSpam lovers\t", "\tSpam_lovers\t");
	expect_refused(&am, bad, before,
		       ms_xasprintf("modosnap: error: database 'amavis': table '%s.policy': digest differs from the "
				    "snapshot (rows 4, expected 4)\n",
				    am.name));

	/* A line with one field too many: the load's warning stops it. */
	tamper(archive, bad, member, "\tSpam lovers\t", "\tSpam\tlovers\t");
	expect_refused(&am, bad, before,
		       ms_xasprintf("modosnap: error: database 'amavis': table '%s.policy': loading '%s' gave 4 "
				    "warning(s), the first: Data truncated for column 'virus_lover' at row 2\n",
				    am.name, member));

	/* A duplicate primary key (InnoDB's bulk load skips it with a
	 * warning, as LOAD DATA LOCAL does any duplicate): refused. */
	tamper(archive, bad, member, "\n2\tSpam lovers\t", "\n1\tSpam lovers\t");
	expect_refused(&am, bad, before,
		       ms_xasprintf("modosnap: error: database 'amavis': table '%s.policy': loading '%s' gave 1 "
				    "warning(s), the first: Duplicate entry '1' for key 'PRIMARY'\n",
				    am.name, member));

	/* A trigger that cannot be created after the swap: everything is
	 * renamed back and the previous objects recreated. */
	tamper(archive, bad, "db/amavis/schema-post.sql", "ON release_log FOR", "ON release_lug FOR");
	s = refused_restore(&am, bad, before);
	assert_non_null(strstr(s, "modosnap: error: database 'amavis': 'db/amavis/schema-post.sql': statement 6 "
				  "(CREATE DEFINER="));
	assert_non_null(strstr(s, "failed: Table '"));
	assert_non_null(strstr(s, "modosnap: warning: database 'amavis': putting the previous tables back\n"));
	free(s);

	/* A schema script holding a statement a dump never writes: refused
	 * before it runs, whatever privileges the restore has. */
	tamper(archive, bad, "db/amavis/schema-pre.sql", "CREATE TABLE `maddr`", "DROP   TABLE `maddr`");
	s = refused_restore(&am, bad, before);
	assert_string_equal(s, "modosnap: error: database 'amavis': 'db/amavis/schema-pre.sql': statement 3 refused: "
			       "DROP TABLE (dump SQL may only create and alter the database's own objects)\n");
	free(s);

	/* A schema-post.sql that would replace a table after the proof (it
	 * runs in the live database after the swap), forged with every hash
	 * recomputed: refused before anything is loaded, so the proof of the
	 * staging tables is the proof of the live ones. */
	forge(archive, bad, "db/amavis/schema-post.sql", "CREATE DEFINER=",
	      "CREATE OR REPLACE TABLE `policy` (id int);\nCREATE DEFINER=");
	s = refused_restore(&am, bad, before);
	assert_string_equal(s, "modosnap: error: database 'amavis': 'db/amavis/schema-post.sql': statement 6 refused: "
			       "CREATE TABLE (schema-post.sql may not create tables)\n");
	free(s);

	/* Without admin_user, Modoboa's own user may not create the staging
	 * database: the error says what to configure. */
	capture_start();
	assert_int_equal(ms_my_restore_database(&am, NULL, archive, &vr.manifest, "amavis", NULL), -1);
	s = capture_end();
	expect = ms_xasprintf("modosnap: error: database 'amavis': creating the staging database "
			      "'msrestore_%ld_%s' failed: Access denied for user '%s'@'localhost' to database "
			      "'msrestore_%ld_%s' (a restore needs CREATE and DROP on new databases: set admin_user "
			      "in the [db:amavis] section of the configuration, e.g. root over the local socket)\n",
			      (long)getpid(), am.name, am.user, (long)getpid(), am.name);
	assert_string_equal(s, expect);
	free(s);
	free(expect);

	/* verify --deep's scratch load accepts the good archive only. */
	assert_int_equal(ms_my_verify_scratch(&am, &root_admin, archive, &vr.manifest, "amavis", NULL), 0);
	tamper(archive, bad, member, "\tSpam lovers\t", "\tSpam_lovers\t");
	assert_int_equal(ms_verify_archive(bad, &bvr), MS_VERIFY_OK);
	capture_start();
	assert_int_equal(ms_my_verify_scratch(&am, &root_admin, bad, &bvr.manifest, "amavis", NULL), -1);
	free(capture_end());
	ms_verify_result_clear(&bvr);
	s = my_dump_of(am.name);
	assert_string_equal(s, before);
	free(s);
	no_side_databases();

	ms_verify_result_clear(&vr);
	free(member);
	free(archive);
	free(bad);
	free(before);
	fx_dbconf_free(&am);
}

/* `default` on PostgreSQL, `amavis` on MariaDB, one snapshot. */
static void test_mixed_round_trip(void **state)
{
	struct ms_dbconf def = fx_dbconf(mx_env, "default", "DEFAULT"), am = fx_dbconf(mx_env, "amavis", "AMAVIS");
	char *schema_def = schema_of(def.name), *before_am = my_dump_of(am.name), *archive, *s, *sql;
	struct ms_verify_result vr;

	(void)state;
	assert_int_equal(def.engine, MS_DB_POSTGRESQL);
	assert_int_equal(am.engine, MS_DB_MYSQL);
	archive = snapshot(mx_env, "dest-mixed", &vr);
	assert_string_equal(mdb_of(&vr.manifest, "default")->engine, "postgresql");
	assert_string_equal(mdb_of(&vr.manifest, "amavis")->engine, "mysql");

	sql = ms_xasprintf("SET ROLE \"%s\"; DROP TABLE core_localconfig CASCADE;"
			   "UPDATE core_user SET first_name = 'changed';", def.user);
	assert_int_equal(psql_sql(def.name, sql), 0);
	free(sql);
	break_amavis(am.name);

	assert_int_equal(ms_pg_restore_database(&def, NULL, archive, &vr.manifest, "default", NULL), 0);
	assert_int_equal(ms_my_restore_database(&am, &root_admin, archive, &vr.manifest, "amavis", NULL), 0);
	s = schema_of(def.name);
	assert_string_equal(s, schema_def);
	free(s);
	s = my_dump_of(am.name);
	assert_string_equal(s, before_am);
	free(s);
	no_side_databases();

	ms_verify_result_clear(&vr);
	free(archive);
	free(schema_def);
	free(before_am);
	fx_dbconf_free(&def);
	fx_dbconf_free(&am);
}

/* A pid this machine no longer has: a child that exited. */
static pid_t dead_pid(void)
{
	pid_t p = fork();

	assert_true(p >= 0);
	if (p == 0)
		_exit(0);
	assert_int_equal(waitpid(p, NULL, 0), p);
	return p;
}

/* A restore of the amavis database that succeeds and says, as its one
 * line, that it dropped side database `name`. */
static void restore_drops(const struct ms_dbconf *am, const char *archive, const struct ms_verify_result *vr,
			  const char *name)
{
	char *err, *expect;
	int rc;

	capture_start();
	rc = ms_my_restore_database(am, &root_admin, archive, &vr->manifest, "amavis", NULL);
	err = capture_end();
	if (rc != 0)
		fail_msg("the restore failed: %s", err);
	expect = ms_xasprintf("modosnap: warning: database 'amavis': dropping '%s', left behind by an interrupted run\n",
			      name);
	assert_string_equal(err, expect);
	free(expect);
	free(err);
}

/* Side databases a run left: the next restore drops the one whose run is
 * gone (its pid absent, its user lock free), with a warning, and leaves
 * the one whose run still holds its lock, as a run on another host or
 * container with a pid this machine does not have would (the lock is held
 * here by a mariadb client); once the lock is released, the next restore
 * drops that one too. */
static void test_mariadb_stale_side_databases(void **state)
{
	struct ms_dbconf am = fx_dbconf(my_env, "amavis", "AMAVIS");
	struct ms_verify_result vr;
	char *archive, *err, *expect, *sql, *s;
	char *stale = ms_xasprintf("msrestore_%ld_%s", (long)dead_pid(), am.name);
	char *held = ms_xasprintf("msrestore_%ld_%s", (long)dead_pid(), am.name);
	int i;

	(void)state;
	archive = snapshot(my_env, "dest-stale", &vr);
	sql = ms_xasprintf("CREATE DATABASE `%s`; CREATE DATABASE `%s`;", stale, held);
	assert_int_equal(my_sql("mysql", sql), 0);
	free(sql);
	assert_int_equal(run("(mariadb --no-defaults -uroot -S '%s' -e \"SELECT GET_LOCK('%s', 0), SLEEP(300)\" "
			     ">/dev/null 2>&1 &)", mysock, held),
			 0);
	sql = ms_xasprintf("SELECT IS_FREE_LOCK('%s')", held);
	for (i = 0; i < 300; i++) {
		s = my_out(sql);
		if (!strcmp(s, "0\n")) {
			free(s);
			break;
		}
		free(s);
		usleep(100 * 1000);
	}
	assert_true(i < 300);
	free(sql);

	restore_drops(&am, archive, &vr, stale);
	sql = ms_xasprintf("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN ('%s', '%s')", stale,
			   held);
	s = my_out(sql);
	expect = ms_xasprintf("%s\n", held);
	assert_string_equal(s, expect);
	free(expect);
	free(s);

	/* the holder goes: its database is stale now */
	s = ms_xasprintf("SELECT CONCAT('KILL ', IS_USED_LOCK('%s'), ';')", held);
	err = my_out(s);
	free(s);
	assert_int_equal(my_sql("mysql", err), 0);
	free(err);
	restore_drops(&am, archive, &vr, held);
	s = my_out(sql);
	assert_string_equal(s, "");
	free(s);
	free(sql);
	no_side_databases();
	ms_verify_result_clear(&vr);
	free(archive);
	free(stale);
	free(held);
	fx_dbconf_free(&am);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mariadb_stale_side_databases), /* first: on the site as made */
		cmocka_unit_test(test_mariadb_round_trip),
		cmocka_unit_test(test_mariadb_atomic),
		cmocka_unit_test(test_mixed_round_trip),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
