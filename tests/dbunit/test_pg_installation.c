/*
 * The PostgreSQL round trip on a generated Modoboa installation
 * (scripts/mkfixture, both databases on PostgreSQL): the real `modosnap
 * create` takes the snapshot; the installation then goes through a bad
 * upgrade (rows changed and deleted, a table dropped, a table and a
 * migration added, a sequence moved); the restore engine puts each
 * database back from the verified archive. The oracle is independent of
 * our digests: pg_dump --schema-only, and pg_dump's data (as sorted INSERT
 * lines plus sequence values) before and after must be identical.
 * The second case restores onto a "fresh server": a database and role that
 * do not exist yet, created through the config's admin_user.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "discover/instance.h"
#include "formats/manifest.h"
#include "restore/pg_restore.h"
#include "restore/pg_scratch.h"
#include "pgtest.h"
#include "testutil.h"
#include "base/util.h"
#include "formats/verify.h"

static char *fx_env; /* text of fixture.env */

static char *fx(const char *key)
{
	return fx_value(fx_env, key);
}

/* pg_dump's data of db as sorted lines: row order is physical, so sort. */
static char *data_of(const char *db)
{
	char *out = tpath("data.out"), *s;

	assert_int_equal(run("%s/pg_dump -h '%s' -p '%s' -U '%s' --data-only --column-inserts '%s' | "
			     "grep -v -E '^\\\\(un)?restrict ' | LC_ALL=C sort >'%s'",
			     bindir, sockdir, port, superuser, db, out),
			 0);
	s = ms_read_file(out, (size_t)1 << 30, NULL);
	assert_non_null(s);
	free(out);
	return s;
}

static int setup(void **state)
{
	char *envf;

	(void)state;
	if (read_server_env() < 0)
		return -1;
	if (make_tmpdir("test_pg_installation") < 0 || run("chmod 0755 '%s'", tmpdir) != 0)
		return -1;
	/* the snapshots are signed with a key of the test's own, never /etc/modosnap's */
	/* the system root: the test's directory, never the host's /etc */
	if (run("printf '[modosnap]\\nsigning_key = %s/keys/signing.key\\ntrusted_keys = %s/keys/trusted_keys\\n"
		"system_root = %s\\n' >'%s/keys.conf'", tmpdir, tmpdir, tmpdir, tmpdir) != 0)
		return -1;
	if (run("'%s/scripts/mkfixture' --root '%s/site' --servers '%s' --engine pg --prefix pginst%ld "
		">'%s/mkfixture.log' 2>&1", getenv("MS_SOURCE_DIR"), tmpdir, getenv("MS_TESTSRV_ENV"),
		(long)getpid(), tmpdir) != 0)
		return -1;
	envf = ms_xasprintf("%s/site/fixture.env", tmpdir);
	fx_env = ms_read_file(envf, 1 << 20, NULL);
	free(envf);
	return fx_env ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	/* a failed kill test may leave its lock holder */
	free(psql_out("postgres", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
				  "WHERE application_name = 'mslocker_inst'"));
	run("'%s/scripts/mkfixture' --remove --root '%s/site' --servers '%s' >/dev/null 2>&1",
	    getenv("MS_SOURCE_DIR"), tmpdir, getenv("MS_TESTSRV_ENV"));
	run("rm -rf '%s'", tmpdir);
	free(fx_env);
	return 0;
}

/* A bad upgrade, run as each database's owner. */
static void break_things(const struct ms_dbconf *def, const struct ms_dbconf *am)
{
	char *sql = ms_xasprintf(
		"SET ROLE \"%s\";"
		"UPDATE core_user SET first_name = 'changed' WHERE id IN (SELECT id FROM core_user LIMIT 5);"
		"DELETE FROM maillog_maillog WHERE id IN (SELECT id FROM maillog_maillog LIMIT 10);"
		"DROP TABLE core_localconfig CASCADE;"
		"CREATE TABLE upgrade_new (id serial PRIMARY KEY, x text);"
		"INSERT INTO django_migrations (app, name, applied) VALUES ('core', '9999_bad_upgrade', now());"
		"SELECT setval(pg_get_serial_sequence('django_migrations', 'id'), 100000);", def->user);

	assert_int_equal(psql_sql(def->name, sql), 0);
	free(sql);
	sql = ms_xasprintf("SET ROLE \"%s\"; DELETE FROM msgrcpt; UPDATE msgs SET spam_level = 99;", am->user);
	assert_int_equal(psql_sql(am->name, sql), 0);
	free(sql);
}

static void test_installation_round_trip(void **state)
{
	struct ms_dbconf def = fx_dbconf(fx_env, "default", "DEFAULT"), am = fx_dbconf(fx_env, "amavis", "AMAVIS");
	char *schema_def = schema_of(def.name), *data_def = data_of(def.name);
	char *schema_am = schema_of(am.name), *data_am = data_of(am.name);
	char *inst = fx("MS_FX_INSTANCE"), *pf = fx("MS_FX_POSTFIX"), *archive, *s;
	struct ms_verify_result vr;

	(void)state;
	assert_int_equal(run("MODOSNAP_CONFIG='%s/keys.conf' '%s' -q create --instance '%s' --postfix-dir '%s' --dest '%s/dest'",
			     tmpdir, getenv("MODOSNAP"), inst, pf, tmpdir),
			 0);
	assert_int_equal(run("ls '%s'/dest/*.tar.zst >'%s/archive.txt'", tmpdir, tmpdir), 0);
	s = ms_xasprintf("%s/archive.txt", tmpdir);
	archive = ms_read_file(s, 4096, NULL);
	free(s);
	assert_non_null(archive);
	archive[strcspn(archive, "\n")] = '\0';
	assert_int_equal(ms_verify_archive(archive, &vr), MS_VERIFY_OK);
	assert_int_equal(vr.manifest.n_dbs, 2);

	break_things(&def, &am);
	s = schema_of(def.name);
	assert_true(strcmp(s, schema_def) != 0); /* the oracle sees the damage */
	free(s);

	assert_int_equal(ms_pg_restore_database(&def, NULL, archive, &vr.manifest, "default", NULL), 0);
	assert_int_equal(ms_pg_restore_database(&am, NULL, archive, &vr.manifest, "amavis", NULL), 0);

	s = schema_of(def.name);
	assert_string_equal(s, schema_def);
	free(s);
	s = data_of(def.name);
	assert_string_equal(s, data_def);
	free(s);
	s = schema_of(am.name);
	assert_string_equal(s, schema_am);
	free(s);
	s = data_of(am.name);
	assert_string_equal(s, data_am);
	free(s);
	assert_int_equal(ms_pg_check_database(&def, &vr.manifest.dbs[0]), 0);

	ms_verify_result_clear(&vr);
	free(archive);
	free(inst);
	free(pf);
	free(schema_def);
	free(data_def);
	free(schema_am);
	free(data_am);
	fx_dbconf_free(&def);
	fx_dbconf_free(&am);
}


/* The newest archive in tmpdir/DIR; caller frees. */
static char *archive_in(const char *dir)
{
	char *list = ms_xasprintf("%s/%s.txt", tmpdir, dir), *a;

	assert_int_equal(run("ls '%s/%s'/*.tar.zst | tail -n 1 >'%s'", tmpdir, dir, list), 0);
	a = ms_read_file(list, 4096, NULL);
	assert_non_null(a);
	a[strcspn(a, "\n")] = '\0';
	free(list);
	return a;
}

static void test_fresh_server(void **state)
{
	struct ms_dbconf def = fx_dbconf(fx_env, "default", "DEFAULT"), fresh;
	struct ms_db_admin admin = { 0 };
	char *inst = fx("MS_FX_INSTANCE"), *pf = fx("MS_FX_POSTFIX"), *archive, *err, *expect, *a, *b;
	char name[64], sql[512];
	struct ms_verify_result vr;

	(void)state;
	assert_int_equal(run("MODOSNAP_CONFIG='%s/keys.conf' '%s' -q create --instance '%s' --postfix-dir '%s' --dest '%s/dest2'",
			     tmpdir, getenv("MODOSNAP"), inst, pf, tmpdir),
			 0);
	archive = archive_in("dest2");
	assert_int_equal(ms_verify_archive(archive, &vr), MS_VERIFY_OK);
	/* A fresh server has neither the database nor the role. Here the
	 * role must exist to restore objects owned by it (the dump's owner,
	 * as on the real server), so: a missing database with the existing
	 * role, restored; and a missing role and database, created. */
	snprintf(name, sizeof(name), "fresh_%ld", (long)getpid());
	fresh = def;
	fresh.name = name;

	capture_start();
	assert_int_equal(ms_pg_ensure_database(&fresh, NULL, vr.manifest.dbs[0].encoding), -1);
	err = capture_end();
	expect = ms_xasprintf("modosnap: error: database 'default': cannot connect to '%s' as '%s' (missing database "
			      "or role?); to create them, set admin_user and admin_password_file in [db:default]\n",
			      name, def.user);
	assert_string_equal(err, expect);
	free(err);
	free(expect);

	admin.user = superuser; /* trusted over the harness socket */
	assert_int_equal(ms_pg_ensure_database(&fresh, &admin, vr.manifest.dbs[0].encoding), 0);
	assert_int_equal(ms_pg_ensure_database(&fresh, NULL, vr.manifest.dbs[0].encoding), 0); /* exists now */
	assert_int_equal(ms_pg_restore_database(&fresh, NULL, archive, &vr.manifest, "default", NULL), 0);
	a = data_of(def.name);
	b = data_of(name);
	assert_string_equal(a, b);
	free(a);
	free(b);
	a = schema_of(def.name);
	b = schema_of(name);
	assert_string_equal(a, b);
	free(a);
	free(b);
	snprintf(sql, sizeof(sql), "DROP DATABASE %s", name);
	assert_int_equal(psql_sql("postgres", sql), 0);

	/* neither role nor database: both created, the role with the password */
	fresh.user = name;
	assert_int_equal(ms_pg_ensure_database(&fresh, &admin, "LATIN1"), 0);
	snprintf(sql, sizeof(sql),
		 "SELECT pg_encoding_to_char(encoding) || ' ' || pg_get_userbyid(datdba) || ' ' || "
		 "(SELECT rolpassword IS NOT NULL FROM pg_authid WHERE rolname = '%s') "
		 "FROM pg_database WHERE datname = '%s'", name, name);
	a = psql_out("postgres", sql);
	expect = ms_xasprintf("LATIN1 %s true\n", name);
	assert_string_equal(a, expect);
	free(a);
	free(expect);
	snprintf(sql, sizeof(sql), "DROP DATABASE %s", name);
	assert_int_equal(psql_sql("postgres", sql), 0);
	snprintf(sql, sizeof(sql), "DROP ROLE %s", name);
	assert_int_equal(psql_sql("postgres", sql), 0);
	ms_verify_result_clear(&vr);
	free(archive);
	free(inst);
	free(pf);
	free(def.alias);
	free(def.engine_setting);
	free(def.name);
	free(def.user);
	free(def.host);
	free(def.port);
	ms_free_secret(def.password);
}

/* A create killed with `sig` while pg_dump runs (held up by a lock
 * another session holds on admin_domain) leaves no password
 * anywhere in TMPDIR or /tmp: the passfile pg_dump reads is a memory
 * file, never on a disk. Before the kill, pg_dump holds it as its
 * descriptor 3 (a memfd). After SIGTERM the run ends once pg_dump
 * returns (the lock is released), after SIGKILL at once. */
static void killed_create(int sig)
{
	struct ms_dbconf def = fx_dbconf(fx_env, "default", "DEFAULT");
	char *inst = fx("MS_FX_INSTANCE"), *pf = fx("MS_FX_POSTFIX");
	char *tmp = ms_xasprintf("%s/tmp-%d", tmpdir, sig), *pidf = ms_xasprintf("%s/kill.pid", tmpdir);
	char *errf = ms_xasprintf("%s/kill.err", tmpdir), *pid, *sql;

	assert_non_null(def.password);
	assert_true(strlen(def.password) >= 8 && !strchr(def.password, '\''));
	assert_int_equal(run("mkdir -p '%s' && rm -f '%s' '%s'", tmp, pidf, errf), 0);
	/* the locker: an idle transaction holding admin_domain */
	start_locker(def.name, "mslocker_inst", "admin_domain", 300);
	assert_int_equal(run("(MODOSNAP_CONFIG='%s/keys.conf' TMPDIR='%s' '%s' -q create --instance '%s' "
			     "--postfix-dir '%s' --dest '%s/dest-kill' >/dev/null 2>'%s' & echo $! >'%s')",
			     tmpdir, tmp, getenv("MODOSNAP"), inst, pf, tmpdir, errf, pidf),
			 0);
	pid = ms_read_file(pidf, 64, NULL);
	assert_non_null(pid);
	pid[strcspn(pid, "\n")] = '\0';
	/* pg_dump (a child of the create) waits for the lock with the
	 * passfile as its descriptor 3, a memory file */
	assert_int_equal(run("for i in $(seq 300); do ls -l /proc/$(pgrep -P %s pg_dump)/fd/3 2>/dev/null | "
			     "grep -q 'memfd:modosnap-pgpass' && exit 0; sleep 0.1; done; exit 1", pid),
			 0);
	assert_int_equal(run("test -z \"$(ls -A /tmp '%s' | grep modosnap-pgpass)\"", tmp), 0);
	assert_int_equal(run("kill -%d %s", sig, pid), 0);
	usleep(500 * 1000);
	sql = ms_xasprintf("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
			   "WHERE application_name = 'mslocker_inst'");
	free(psql_out("postgres", sql));
	free(sql);
	assert_int_equal(run("for i in $(seq 300); do kill -0 %s 2>/dev/null || exit 0; sleep 0.1; done; exit 1", pid), 0);
	assert_int_equal(run("test -z \"$(ls -A /tmp '%s' | grep modosnap-pgpass)\"", tmp), 0);
	assert_int_equal(run("! grep -rqF -e '%s' '%s' /tmp/modosnap-pgpass.* 2>/dev/null", def.password, tmp), 0);
	if (sig == 15)
		assert_int_equal(run("grep -q 'SIGTERM' '%s'", errf), 0);
	free(pid);
	free(tmp);
	free(pidf);
	free(errf);
	free(inst);
	free(pf);
	fx_dbconf_free(&def);
}

static void test_killed_create_sigterm(void **state)
{
	(void)state;
	killed_create(15);
}

static void test_killed_create_sigkill(void **state)
{
	(void)state;
	killed_create(9);
}

/* The real `verify --deep` on a forged snapshot (an ALTER ROLE added to
 * default's schema-pre.sql, manifest recomputed, so unsigned): exit 5,
 * the checker's one-line error, and the role's password as it was: the
 * check runs before any scratch database is made. amavis, whose dump is
 * intact, is restored into a scratch database that admin_user makes (over
 * the socket) and passes, but no "ok" line is printed for it either: the
 * archive as a whole failed. */
static void test_verify_deep_forged(void **state)
{
	struct ms_dbconf def = fx_dbconf(fx_env, "default", "DEFAULT");
	char *inst = fx("MS_FX_INSTANCE"), *pf = fx("MS_FX_POSTFIX"), *archive, *bad = tpath("forged.tar.zst");
	char *out = tpath("deep.out"), *errf = tpath("deep.err"), *s, *sql, *pw_before, *pw_after, *q;

	(void)state;
	assert_int_equal(run("MODOSNAP_CONFIG='%s/keys.conf' '%s' -q create --instance '%s' --postfix-dir '%s' --dest '%s/dest-deep'",
			     tmpdir, getenv("MODOSNAP"), inst, pf, tmpdir),
			 0);
	archive = archive_in("dest-deep");
	forge(archive, bad, "db/default/schema-pre.sql", "SET row_security = off;\n",
	      "SET row_security = off;\nALTER ROLE CURRENT_USER PASSWORD 'pwned';\n");
	sql = ms_xasprintf("SELECT rolpassword FROM pg_authid WHERE rolname = '%s'", def.user);
	pw_before = psql_out("postgres", sql);
	assert_int_equal(run("cp '%s/keys.conf' '%s/deep.conf' && printf '[db:amavis]\\nhost = %s\\nadmin_user = %s\\n' "
			     ">>'%s/deep.conf'", tmpdir, tmpdir, sockdir, superuser, tmpdir),
			 0);
	/* the intact archive passes, amavis and default */
	assert_int_equal(run("cp '%s/deep.conf' '%s/deep-ok.conf' && printf '[db:default]\\nhost = %s\\nadmin_user = %s\\n' "
			     ">>'%s/deep-ok.conf'", tmpdir, tmpdir, sockdir, superuser, tmpdir),
			 0);
	assert_int_equal(run("MODOSNAP_CONFIG='%s/deep-ok.conf' '%s' verify --deep --instance '%s' '%s' >'%s' 2>'%s'",
			     tmpdir, getenv("MODOSNAP"), inst, archive, out, errf),
			 0);
	s = ms_read_file(out, 1 << 20, NULL);
	assert_non_null(strstr(s, "ok: database 'default': "));
	assert_non_null(strstr(s, "ok: database 'amavis': "));
	free(s);
	assert_int_equal(run("MODOSNAP_CONFIG='%s/deep.conf' '%s' verify --deep --allow-unsigned --instance '%s' '%s' "
			     ">'%s' 2>'%s'", tmpdir, getenv("MODOSNAP"), inst, bad, out, errf),
			 5 << 8);
	s = ms_read_file(errf, 1 << 20, NULL);
	assert_non_null(s);
	assert_non_null(strstr(s, "modosnap: error: database 'default': 'db/default/schema-pre.sql': statement 11 "
				  "refused: ALTER ROLE (dump SQL may only create and alter the database's own objects)\n"));
	assert_null(strstr(s, "database 'amavis'")); /* amavis passed */
	free(s);
	s = ms_read_file(out, 1 << 20, NULL);
	assert_non_null(s);
	assert_null(strstr(s, "ok:"));
	free(s);
	pw_after = psql_out("postgres", sql);
	assert_string_equal(pw_before, pw_after);
	/* this test's scratch databases only: others verify at the same time */
	q = ms_xasprintf("SELECT count(*) FROM pg_database WHERE datname LIKE 'msverify%%pginst%ld\\_%%'",
			 (long)getpid());
	s = psql_out("postgres", q);
	free(q);
	assert_string_equal(s, "0\n");
	free(s);
	free(pw_before);
	free(pw_after);
	free(sql);
	free(out);
	free(errf);
	free(bad);
	free(archive);
	free(inst);
	free(pf);
	fx_dbconf_free(&def);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_installation_round_trip),
		cmocka_unit_test(test_killed_create_sigterm),
		cmocka_unit_test(test_killed_create_sigkill),
		cmocka_unit_test(test_fresh_server),
		cmocka_unit_test(test_verify_deep_forged),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
