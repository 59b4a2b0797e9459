/*
 * Tests for src/db/my_dump.c and restore/my_restore.c against the harness's
 * real MariaDB server (MS_TESTSRV_ENV; without it the test fails, it never
 * skips). A database owned by an ordinary user reached over TCP with a
 * password holds the column types and objects the fixture does not: every
 * escape a text column needs (tab, newline, CR, backslash, NUL, the text
 * "\N"), binary columns with every byte value, BIT, DECIMAL, FLOAT and
 * DOUBLE extremes, fractional DATETIME/TIMESTAMP/TIME, YEAR, ENUM/SET,
 * JSON, generated columns (virtual and stored), a LATIN1 column, a table
 * without a primary key holding duplicate rows, an empty table, a MyISAM
 * table, a view on a view whose name sorts first, a procedure, a function,
 * a trigger and a scheduled event, plain, unique, prefix and foreign-key
 * indexes. It is dumped with a 4 KiB chunk size (so tables span several
 * chunks and one row is larger than a chunk), changed, and restored;
 * mariadb-dump before and after must be identical. The restore runs three
 * ways: as configured, with every plain key built after the data, and
 * without InnoDB's bulk load (the path for servers before MariaDB
 * 10.11.11); each time two lanes load the tables, each from its own
 * reader of the archive.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/hash.h"
#include "base/log.h"
#include "discover/instance.h"
#include "formats/manifest.h"
#include "db/my_dump.h"
#include "restore/my_restore.h"
#include "restore/sqlcheck.h"
#include "pgtest.h"
#include "formats/snaparchive.h"
#include "base/strbuf.h"
#include "testutil.h"
#include "base/util.h"
#include "formats/verify.h"

#define CHUNK 4096
#define PASSWORD "p:w\\o'rd \"s3cr3t"

static char livedb[64], user[64], *myport;

static const char source_sql[] =
	"CREATE TABLE kinds (id int AUTO_INCREMENT PRIMARY KEY, t text, vb varbinary(300), bl longblob,\n"
	"  b bit(10), d decimal(30,10), f float, dbl double, dt datetime(6), ts timestamp(3) NULL DEFAULT NULL,\n"
	"  tm time(2), y year, e enum('a','b','\xc3\xbc'), st set('x','y','z'), j json,\n"
	"  g_virt int AS (y * 2) VIRTUAL, g_stored decimal(32,10) AS (d * 2) STORED,\n"
	"  l1 varchar(50) CHARACTER SET latin1, c char(5), KEY `kinds, e``y` (e, y) COMMENT 'two, cols',\n"
	"  UNIQUE KEY kinds_c (c, id)) ENGINE=InnoDB AUTO_INCREMENT=1000;\n"
	"SET @all = (SELECT UNHEX(GROUP_CONCAT(LPAD(HEX(seq), 2, '0') ORDER BY seq SEPARATOR '')) FROM seq_0_to_255);\n"
	"SET time_zone = '+02:00';\n"
	"INSERT INTO kinds (t, vb, bl, b, d, f, dbl, dt, ts, tm, y, e, st, j, l1, c) VALUES\n"
	"  (CONCAT('tab\\there\\nnl\\\\back\\rcr', CHAR(0), 'nul'), @all, @all, b'1010101010',\n"
	"   12345678901234567890.0123456789, 0.1, 1e308, '2024-02-29 23:59:59.123456', '2024-03-01 10:00:00.5',\n"
	"   '-838:59:59.00', 2024, '\xc3\xbc', 'x,z', '{\"a\": [1, 2.5, null], \"k\": \"gr\xc3\xbc\xc3\x9f\x65\"}',\n"
	"   'caf\xc3\xa9', 'ab'),\n"
	"  ('\\\\N', '', '', b'0', 0, -0, -1.5e-300, '1000-01-01 00:00:00', '1970-01-01 02:00:01', '00:00:00', 1901,\n"
	"   'a', '', '[]', '', ''),\n"
	"  (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),\n"
	"  ('\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\xa6\x8a \xe2\x9c\x93', 'x', REPEAT(@all, 100), b'1111111111',\n"
	"   -0.0000000001, 1.2345678, 2.2250738585072014e-308, '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999',\n"
	"   '838:59:59.99', 2155, 'b', 'x,y,z', '\"s\"', '\xc3\xa0\xc3\xa9\xc3\xae\xc3\xb5\xc3\xbc', NULL);\n"
	"CREATE TABLE big (id int PRIMARY KEY, payload longtext, KEY big_payload (payload(20)) USING BTREE)\n"
	"  ENGINE=InnoDB;\n"
	"INSERT INTO big SELECT seq, REPEAT(MD5(seq), 3) FROM seq_1_to_300;\n"
	"INSERT INTO big VALUES (1000, REPEAT('0123456789', 2000)), (1001, 'after');\n"
	"CREATE TABLE nopk (a int, b varchar(10)) ENGINE=InnoDB;\n"
	"INSERT INTO nopk VALUES (1, 'dup'), (1, 'dup'), (2, NULL), (NULL, '');\n"
	"CREATE TABLE empty_t (id int PRIMARY KEY) ENGINE=InnoDB;\n"
	"CREATE TABLE parent (id int PRIMARY KEY) ENGINE=InnoDB;\n"
	"CREATE TABLE child (id int PRIMARY KEY, pid int, CONSTRAINT child_parent_named_fk FOREIGN KEY (pid)\n"
	"  REFERENCES parent (id) ON DELETE CASCADE) ENGINE=InnoDB;\n"
	"INSERT INTO parent SELECT seq FROM seq_1_to_20;\n"
	"INSERT INTO child SELECT seq, 1 + seq % 20 FROM seq_1_to_40;\n"
	"CREATE TABLE myisam_t (id int PRIMARY KEY, v varchar(20)) ENGINE=MyISAM;\n"
	"INSERT INTO myisam_t VALUES (1, 'one'), (2, 'two');\n"
	"CREATE VIEW z_base AS SELECT id, t FROM kinds WHERE id > 0;\n"
	"CREATE VIEW a_top AS SELECT id FROM z_base;\n"
	"CREATE VIEW vy AS SELECT 1 AS vx;\n"
	"CREATE VIEW vx AS SELECT vy.vx FROM vy;\n"
	"DELIMITER //\n"
	"CREATE PROCEDURE bump() BEGIN UPDATE kinds SET c = 'bump' WHERE id < 0; END//\n"
	"CREATE FUNCTION twice(x int) RETURNS int DETERMINISTIC RETURN x * 2//\n"
	"CREATE TRIGGER kinds_bi BEFORE INSERT ON kinds FOR EACH ROW SET NEW.c = COALESCE(NEW.c, 'trg')//\n"
	"DELIMITER ;\n"
	"CREATE EVENT ev ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM empty_t;\n";

/* Changes after the snapshot: rows, a table, a view, a routine, columns. */
static const char change_sql[] =
	"SET foreign_key_checks = 0;\n"
	"DELETE FROM big WHERE id % 3 = 0;\n"
	"UPDATE kinds SET vb = 'changed' WHERE id = 1000;\n"
	"DELETE FROM parent WHERE id = 1;\n"
	"DROP TABLE nopk;\n"
	"DROP VIEW a_top;\n"
	"DROP PROCEDURE bump;\n"
	"ALTER TABLE child ADD COLUMN extra int;\n"
	"CREATE TABLE added (x int PRIMARY KEY);\n"
	"CREATE VIEW added_v AS SELECT x FROM added;\n"
	"INSERT INTO empty_t VALUES (1);\n"
	"INSERT INTO myisam_t VALUES (3, 'three');\n";

/* `sql` with the application's account as the definer of every view,
 * routine and trigger, as when Modoboa's user creates them: a restore
 * refuses any other definer. Caller frees. */
static char *with_definer(const char *sql)
{
	static const char *const kinds[] = { "VIEW ", "PROCEDURE ", "FUNCTION ", "TRIGGER " };
	struct ms_strbuf sb = MS_STRBUF_INIT;

	for (const char *p = sql; *p;) {
		bool done = false;

		for (size_t k = 0; k < 4 && !done; k++) {
			size_t n = strlen(kinds[k]);

			if (!strncmp(p, "CREATE ", 7) && !strncmp(p + 7, kinds[k], n)) {
				ms_strbuf_addf(&sb, "CREATE DEFINER='%s'@'127.0.0.1' %s", user, kinds[k]);
				p += 7 + n;
				done = true;
			}
		}
		if (!done)
			ms_strbuf_addch(&sb, *p++);
	}
	return ms_strbuf_detach(&sb);
}

static int setup(void **state)
{
	char *sql;
	int rc;

	(void)state;
	if (read_server_env() < 0)
		return -1;
	{
		const char *f = getenv("MS_TESTSRV_ENV");
		char *text = ms_read_file(f, 1 << 20, NULL);

		myport = text ? env_value(text, "MS_MY_PORT") : NULL;
		free(text);
		if (!myport)
			return -1;
	}
	if (make_tmpdir("test_my_dump") < 0)
		return -1;
	snprintf(livedb, sizeof(livedb), "ms_myd_live_%d", (int)getpid());
	snprintf(user, sizeof(user), "ms_myd_%d", (int)getpid());
	sql = ms_xasprintf("CREATE DATABASE %s CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n"
			   "CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY 'p:w\\\\o''rd \"s3cr3t';\n"
			   "CREATE USER '%s'@'localhost' IDENTIFIED BY 'p:w\\\\o''rd \"s3cr3t';\n"
			   "GRANT ALL ON %s.* TO '%s'@'127.0.0.1';\nGRANT ALL ON %s.* TO '%s'@'localhost';\n",
			   livedb, user, user, livedb, user, livedb, user);
	rc = my_sql("mysql", sql);
	free(sql);
	if (rc != 0)
		return -1;
	sql = with_definer(source_sql);
	rc = my_sql(livedb, sql);
	free(sql);
	return rc == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	char *sql;

	(void)state;
	if (!mysock)
		return 0;
	sql = ms_xasprintf("DROP DATABASE IF EXISTS %s;\nDROP USER IF EXISTS '%s'@'127.0.0.1';\n"
			   "DROP USER IF EXISTS '%s'@'localhost';\n", livedb, user, user);
	my_sql("mysql", sql);
	free(sql);
	if (!getenv("MS_KEEP_TMP"))
		run("rm -rf '%s'", tmpdir);
	return 0;
}

/* The owner over TCP with its password. */
static struct ms_dbconf dbconf(void)
{
	struct ms_dbconf db;

	memset(&db, 0, sizeof(db));
	db.alias = "testmy";
	db.engine = MS_DB_MYSQL;
	db.name = livedb;
	db.user = user;
	db.host = "127.0.0.1";
	db.port = myport;
	db.password = PASSWORD;
	return db;
}

static const struct ms_db_admin root_admin = { .user = "root" };

/* Writes a snapshot of the live database that ms_verify_archive accepts;
 * the dump's result in *d (caller clears), its messages in *err. */
static void write_snapshot(const char *arch, struct ms_my_dump *d, char **err)
{
	struct ms_dbconf c = dbconf();
	const struct ms_dbconf *group[1] = { &c };
	struct ms_manifest mf;
	struct ms_manifest_db *mdb;
	int fd, rc;
	struct ms_archive_writer *w = snapshot_begin(arch, "db:testmy", &mf, &fd);

	capture_start();
	rc = ms_my_dump_databases(group, 1, w, CHUNK, member_cb, &mf, d);
	*err = capture_end();
	if (rc != 0)
		fail_msg("dump failed: %s", *err);
	mdb = ms_manifest_add_db(&mf);
	mdb->alias = ms_xstrdup("testmy");
	mdb->engine = ms_xstrdup("mysql");
	mdb->server_version = ms_xstrdup(d->server_version);
	mdb->encoding = ms_xstrdup(d->charset);
	mdb->collation = ms_xstrdup(d->collation);
	for (size_t i = 0; i < d->n_tables; i++)
		ms_manifest_db_add_table(mdb, d->tables[i].schema, d->tables[i].name, d->tables[i].rows,
					 d->tables[i].digest, d->tables[i].chunks);
	snapshot_end(w, fd, &mf);
}

static const struct ms_my_table *table_of(const struct ms_my_dump *d, const char *name)
{
	for (size_t i = 0; i < d->n_tables; i++)
		if (!strcmp(d->tables[i].name, name))
			return &d->tables[i];
	fail_msg("no table '%s' in the dump", name);
	return NULL;
}

/* Size of member `name` in the archive (-1 when absent). */
static long long member_size(const struct ms_manifest *m, const char *name)
{
	for (size_t i = 0; i < m->n_entries; i++)
		if (!strcmp(m->entries[i].e.path, name))
			return (long long)m->entries[i].e.size;
	return -1;
}

/* Changes the live database, restores it with debug output and checks it
 * is `before` again by mariadb-dump; returns what was logged. */
static char *change_and_restore(const struct ms_dbconf *c, const char *arch, const struct ms_verify_result *vr,
				const char *before)
{
	char *err, *after;

	assert_int_equal(my_sql(livedb, change_sql), 0);
	ms_log_set_level(MS_LOG_DEBUG);
	capture_start();
	assert_int_equal(ms_my_restore_database(c, &root_admin, arch, &vr->manifest, "testmy", NULL), 0);
	err = capture_end();
	ms_log_set_level(MS_LOG_INFO);
	after = my_dump_of(livedb);
	assert_string_equal(before, after);
	free(after);
	return err;
}

static void test_dump_and_restore(void **state)
{
	struct ms_dbconf c = dbconf();
	struct ms_my_dump d;
	struct ms_verify_result vr;
	char *arch = tpath("good.tar.zst"), *before = my_dump_of(livedb), *after, *err, *expect, *p, *sql_reset;

	char *floats_sql = ms_xasprintf("SELECT id, CAST(f AS DOUBLE) FROM %s.kinds ORDER BY id", livedb);
	char *floats = my_out(floats_sql);

	(void)state;
	write_snapshot(arch, &d, &err);
	expect = ms_xasprintf("modosnap: warning: database 'testmy': table '%s.myisam_t' uses the non-transactional "
			      "engine MyISAM: its rows are not covered by the consistent snapshot\n"
			      "modosnap: warning: database 'testmy': 1 scheduled event(s) are not in the snapshot\n",
			      livedb);
	assert_string_equal(err, expect);
	free(err);
	free(expect);
	assert_string_equal(d.charset, "utf8mb4");
	assert_string_equal(d.collation, "utf8mb4_unicode_ci");
	assert_int_equal(d.n_tables, 7); /* views are not tables */
	assert_int_equal(table_of(&d, "kinds")->rows, 4);
	assert_int_equal(table_of(&d, "nopk")->rows, 4);
	assert_int_equal(table_of(&d, "empty_t")->rows, 0);
	assert_int_equal(table_of(&d, "empty_t")->chunks, 0);
	assert_false(table_of(&d, "myisam_t")->transactional);
	assert_true(table_of(&d, "big")->chunks >= 6);

	assert_int_equal(ms_verify_archive(arch, &vr), MS_VERIFY_OK);
	/* kinds' 25600-byte blob row is a chunk of its own, beyond CHUNK */
	p = ms_xasprintf("db/testmy/data/%s.kinds/000002.tsv", livedb);
	assert_true(member_size(&vr.manifest, p) > CHUNK);
	free(p);

	/* the views are ordered by dependency, not by name */
	assert_int_equal(run("tar --zstd -xOf '%s' db/testmy/schema-post.sql >'%s/post.sql'", arch, tmpdir), 0);
	assert_int_equal(run("grep -n 'VIEW `%s`.`z_base`' '%s/post.sql' | cut -d: -f1 >'%s/z' && "
			     "grep -n 'VIEW `%s`.`a_top`' '%s/post.sql' | cut -d: -f1 >'%s/a' && "
			     "test $(cat '%s/z') -lt $(cat '%s/a')",
			     livedb, tmpdir, tmpdir, livedb, tmpdir, tmpdir, tmpdir, tmpdir),
			 0);

	assert_int_equal(my_sql(livedb, change_sql), 0);
	assert_int_equal(my_sql(livedb, "UPDATE kinds SET f = 2.5 WHERE f IS NOT NULL"), 0);
	after = my_dump_of(livedb);
	assert_string_not_equal(before, after);
	free(after);
	assert_int_equal(ms_my_restore_database(&c, &root_admin, arch, &vr.manifest, "testmy", NULL), 0);
	after = my_dump_of(livedb);
	assert_string_equal(before, after);
	free(after);
	/* FLOAT values exactly (mariadb-dump's text shows 6 digits only) */
	after = my_out(floats_sql);
	assert_string_equal(floats, after);
	assert_non_null(strstr(floats, "1.2345677614212036"));
	free(after);
	free(floats);
	free(floats_sql);
	assert_int_equal(ms_my_check_database(&c, NULL, &vr.manifest.dbs[0]), 0);

	/* Every plain key set aside for the load and built afterwards (the
	 * foreign key's index too), while the proof reads the other tables. */
	setenv("MODOSNAP_TEST_MY_DEFER_MIN_ROWS", "1", 1);
	err = change_and_restore(&c, arch, &vr, before);
	unsetenv("MODOSNAP_TEST_MY_DEFER_MIN_ROWS");
	assert_non_null(strstr(err, "modosnap: debug: database 'testmy': each table is loaded in one transaction "
				    "(InnoDB bulk load)\n"));
	for (size_t i = 0; i < 3; i++) {
		static const char *const keyed[] = { "big", "child", "kinds" };

		p = ms_xasprintf("modosnap: debug: database 'testmy': table '%s.%s': 1 secondary key(s) built after "
				 "the data\n", livedb, keyed[i]);
		if (!strstr(err, p))
			fail_msg("no '%s' in:\n%s", p, err);
		free(p);
	}
	free(err);

	/* Without InnoDB's bulk load: each member in its own transaction. */
	setenv("MODOSNAP_TEST_MY_NO_BULK", "1", 1);
	err = change_and_restore(&c, arch, &vr, before);
	unsetenv("MODOSNAP_TEST_MY_NO_BULK");
	assert_non_null(strstr(err, "modosnap: debug: database 'testmy': each data member is loaded in a transaction "
				    "of its own\n"));
	free(err);

	/* A server that allows the account fewer connections: two, then one
	 * (the main connection alone, keys built on it too). Fewer lanes, the
	 * same result, no error. */
	for (int allowed = 2; allowed >= 1; allowed--) {
		char *sql = ms_xasprintf("ALTER USER '%s'@'127.0.0.1' WITH MAX_USER_CONNECTIONS %d", user, allowed);
		const char *p1, *p2;

		assert_int_equal(my_sql("mysql", sql), 0);
		free(sql);
		setenv("MODOSNAP_TEST_MY_DEFER_MIN_ROWS", "1", 1);
		err = change_and_restore(&c, arch, &vr, before);
		unsetenv("MODOSNAP_TEST_MY_DEFER_MIN_ROWS");
		p1 = strstr(err, "modosnap: debug: database 'testmy': one loading lane fewer (no connection)\n");
		p2 = p1 ? strstr(p1 + strlen("modosnap: debug: database 'testmy': one"), "one loading lane fewer") : NULL;
		if (!p1 || (allowed == 2) != !p2 || strstr(err, "error"))
			fail_msg("%d connection(s) allowed: [%zu bytes] %.3000s", allowed, strlen(err), err);
		free(err);
	}
	sql_reset = ms_xasprintf("ALTER USER '%s'@'127.0.0.1' WITH MAX_USER_CONNECTIONS 0", user);
	assert_int_equal(my_sql("mysql", sql_reset), 0);
	free(sql_reset);

	/* restoring under another database name is refused */
	c.name = "other_name";
	capture_start();
	assert_int_equal(ms_my_restore_database(&c, &root_admin, arch, &vr.manifest, "testmy", NULL), -1);
	err = capture_end();
	expect = ms_xasprintf("modosnap: error: database 'testmy': the snapshot holds database '%s', not "
			      "'other_name': restoring under another name is not supported\n", livedb);
	assert_string_equal(err, expect);
	free(err);
	free(expect);

	ms_verify_result_clear(&vr);
	ms_my_dump_clear(&d);
	free(before);
	free(arch);
}

/* Objects the dump cannot carry are refused by name; a wrong password or
 * a missing database is an error naming the alias. */
static void test_dump_refusals(void **state)
{
	struct ms_dbconf c = dbconf();
	const struct ms_dbconf *group[1] = { &c };
	struct ms_my_dump d;
	struct ms_archive_writer *w;
	char *arch = tpath("refused.tar.zst"), *err, *expect, *sql;
	int fd;

	(void)state;
	/* Routines made by root: their body is not visible to the owner
	 * until it may read mysql.proc. */
	assert_int_equal(my_sql(livedb, "CREATE DEFINER=root@localhost FUNCTION rootfn() RETURNS int RETURN 1"), 0);
	fd = open(arch, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	w = ms_archive_writer_open(fd, arch, NULL);
	capture_start();
	assert_int_equal(ms_my_dump_databases(group, 1, w, CHUNK, NULL, NULL, &d), -1);
	err = capture_end();
	assert_non_null(strstr(err, "modosnap: error: database 'testmy': reading the definition of function 'rootfn' "
				    "failed: not visible to user '"));
	free(err);
	ms_archive_writer_free(w);
	close(fd);
	assert_int_equal(my_sql(livedb, "DROP FUNCTION rootfn"), 0);
	sql = ms_xasprintf("GRANT SELECT ON mysql.proc TO '%s'@'127.0.0.1'; GRANT SELECT ON mysql.proc TO '%s'@'localhost'",
			   user, user);
	assert_int_equal(my_sql("mysql", sql), 0);
	free(sql);

	sql = ms_xasprintf("CREATE TRIGGER framed BEFORE INSERT ON %s.parent FOR EACH ROW SET @x = 'a\n;;\nb'", livedb);
	assert_int_equal(my_sql(livedb, sql), 0);
	free(sql);
	fd = open(arch, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	w = ms_archive_writer_open(fd, arch, NULL);
	capture_start();
	assert_int_equal(ms_my_dump_databases(group, 1, w, CHUNK, NULL, NULL, &d), -1);
	err = capture_end();
	assert_non_null(strstr(err, "modosnap: error: database 'testmy': trigger 'framed': its definition holds a "
				    "line ';;', which the dump cannot frame\n"));
	free(err);
	ms_archive_writer_free(w);
	close(fd);
	assert_int_equal(my_sql(livedb, "DROP TRIGGER framed"), 0);

	c.password = "wrong";
	capture_start();
	assert_int_equal(ms_my_dump_databases(group, 1, NULL, CHUNK, NULL, NULL, &d), -1);
	err = capture_end();
	expect = ms_xasprintf("modosnap: error: unable to connect to database 'testmy' (mysql, %s@127.0.0.1:%s): "
			      "Access denied for user '%s'@'localhost' (using password: YES)\n", user, myport, user);
	assert_non_null(strstr(err, "modosnap: error: unable to connect to database 'testmy' (mysql, "));
	assert_non_null(strstr(err, "Access denied for user"));
	assert_null(strstr(err, "wrong"));
	free(expect);
	free(err);
	free(arch);
}

/* --- forged archives: confined SQL ------------------------------------- */

/* `col` names this test's own objects (its process id is in their names)
 * or, with `system` set, the server's own accounts or schemas as well.
 * Other tests run on the same server at the same time with accounts and
 * databases of their own: only this test's run must count. (The checker
 * refuses CREATE USER, CREATE DATABASE and qualified names outright:
 * test_sqlcheck.) */
static char *mine(const char *col, const char *system)
{
	return ms_xasprintf("(%s REGEXP '_%d' OR %s IN (%s))", col, (int)getpid(), col, system);
}

static char *guarded_state(void)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	static const char *const accounts = "'root', 'mariadb.sys', 'mysql', 'PUBLIC', ''";
	static const char *const schemas = "'mysql', 'sys', 'information_schema', 'performance_schema'";
	char *u = mine("User", accounts), *r = mine("ROUTINE_SCHEMA", schemas), *t = mine("TRIGGER_SCHEMA", schemas),
	     *d = mine("Db", schemas), *n = mine("SCHEMA_NAME", schemas);
	char *sql = ms_xasprintf(
		"SELECT User, Host, authentication_string, plugin FROM mysql.user WHERE %s ORDER BY 1, 2;\n"
		"SELECT @@global.max_connections, @@global.local_infile, @@global.sql_mode;\n"
		"SELECT ROUTINE_SCHEMA, ROUTINE_NAME, DEFINER, SECURITY_TYPE FROM information_schema.ROUTINES "
		"WHERE %s ORDER BY 1, 2;\n"
		"SELECT TRIGGER_SCHEMA, TRIGGER_NAME, DEFINER FROM information_schema.TRIGGERS WHERE %s ORDER BY 1, 2;\n"
		"SELECT * FROM mysql.db WHERE %s OR %s ORDER BY Host, Db, User;\n"
		"SELECT * FROM mysql.tables_priv WHERE %s ORDER BY Host, Db, User, Table_name;\n"
		"SELECT * FROM mysql.global_priv WHERE %s ORDER BY Host, User;\n"
		"SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE %s ORDER BY 1;\n",
		u, r, t, u, d, u, u, n);
	char *s = my_out(sql);

	free(sql);
	free(u);
	free(r);
	free(t);
	free(d);
	free(n);
	ms_strbuf_addstr(&sb, s);
	free(s);
	s = my_dump_of(livedb);
	ms_strbuf_addstr(&sb, s);
	free(s);
	return ms_strbuf_detach(&sb);
}

struct attack {
	const char *member, *insert; /* `insert` added after the script's SET NAMES statement */
	const char *error;           /* after "database 'testmy': '<member>': "; @USER@: the account */
};

/* Each forged archive (members rewritten, manifest recomputed: verify
 * accepts it) is refused by the checker before verify --deep or a
 * restore writes anything, by the restore engine (run with root as
 * admin_user, as in the field) and by verify --deep's scratch load, with
 * the same one-line error; nothing outside changed: passwords, global
 * settings, routines, privileges, databases, the live tables. */
static void test_restore_hostile_sql(void **state)
{
	static const struct attack attacks[] = {
		{ "schema-pre.sql", "SET PASSWORD FOR 'root'@'localhost' = PASSWORD('pwned')\n;;\n",
		  "statement 2 refused: SET PASSWORD (dump SQL may only create and alter the database's own objects)" },
		{ "schema-pre.sql", "SET GLOBAL max_connections = 7\n;;\n",
		  "statement 2 refused: SET GLOBAL (only the session settings a dump writes may be set)" },
		{ "schema-pre.sql", "SET SESSION foreign_key_checks = 0 /*!, GLOBAL max_connections = 7 */\n;;\n",
		  "statement 2 refused: SET GLOBAL (only the session settings a dump writes may be set)" },
		{ "schema-pre.sql", "SET SESSION time_zone = '+00:00' -- ;;\n, @@global.max_connections = 7\n;;\n",
		  "statement 2 refused: SET GLOBAL (only the session settings a dump writes may be set)" },
		{ "schema-post.sql",
		  "CREATE DEFINER=`root`@`localhost` PROCEDURE `run`(q text) SQL SECURITY DEFINER\n"
		  "BEGIN PREPARE s FROM q; EXECUTE s; END\n;;\n",
		  "statement 2 refused: CREATE DEFINER=... PROCEDURE (the definer must be the application account "
		  "'@USER@')" },
		{ "schema-post.sql", "GRANT ALL PRIVILEGES ON *.* TO '@USER@'@'127.0.0.1'\n;;\n",
		  "statement 2 refused: GRANT ALL (dump SQL may only create and alter the database's own objects)" },
		{ "schema-pre.sql", "CREATE USER 'evil'@'%' IDENTIFIED BY 'x'\n;;\n",
		  "statement 2 refused: CREATE USER (dump SQL may only create and alter the database's own objects)" },
		/* a trigger made before the data would fire while the lanes load:
		 * one connection's rows writing a table another one loads */
		{ "schema-pre.sql",
		  "CREATE TABLE `side` (a int)\n;;\nCREATE DEFINER=`@USER@`@`%` TRIGGER `t1` AFTER INSERT ON `side` "
		  "FOR EACH ROW INSERT INTO `t2` VALUES (NEW.a)\n;;\n",
		  "statement 3 refused: CREATE TRIGGER (schema-pre.sql holds tables only; routines, views and triggers "
		  "belong in schema-post.sql)" },
	};
	struct ms_dbconf c = dbconf();
	struct ms_my_dump d;
	struct ms_verify_result vr;
	char *arch = tpath("hostile-src.tar.zst"), *bad = tpath("hostile.tar.zst"), *before, *err;

	(void)state;
	write_snapshot(arch, &d, &err);
	free(err);
	ms_my_dump_clear(&d);
	before = guarded_state();
	for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
		const struct attack *a = &attacks[i];
		char *member = ms_xasprintf("db/testmy/%s", a->member);
		const char *anchor = "SET NAMES utf8mb4\n;;\n";
		char *insert, *why, *expect, *after;
		const char *at;
		struct ms_strbuf ib = MS_STRBUF_INIT;

		/* @USER@ in the attack and the error: the application's account */
		for (const char *p = a->insert; *p; p++) {
			if (!strncmp(p, "@USER@", 6)) {
				ms_strbuf_addstr(&ib, user);
				p += 5;
			} else {
				ms_strbuf_addch(&ib, *p);
			}
		}
		insert = ms_xasprintf("%s%s", anchor, ms_strbuf_str(&ib));
		ms_strbuf_release(&ib);
		at = strstr(a->error, "@USER@");
		why = at ? ms_xasprintf("%.*s%s%s", (int)(at - a->error), a->error, user, at + 6) : ms_xstrdup(a->error);
		expect = ms_xasprintf("modosnap: error: database 'testmy': '%s': %s\n", member, why);

		forge(arch, bad, member, anchor, insert);
		memset(&vr, 0, sizeof(vr));
		assert_int_equal(ms_verify_archive(bad, &vr), MS_VERIFY_OK);

		capture_start();
		assert_int_equal(ms_sqlcheck_archive(bad, &vr.manifest.dbs[0], user), -1);
		err = capture_end();
		assert_string_equal(err, expect);
		free(err);

		capture_start();
		assert_int_equal(ms_my_restore_database(&c, &root_admin, bad, &vr.manifest, "testmy", NULL), -1);
		err = capture_end();
		assert_string_equal(err, expect);
		free(err);

		capture_start();
		assert_int_equal(ms_my_verify_scratch(&c, &root_admin, bad, &vr.manifest, "testmy", NULL), -1);
		err = capture_end();
		assert_string_equal(err, expect);
		free(err);

		after = guarded_state();
		assert_string_equal(before, after);
		free(after);
		free(expect);
		free(why);
		free(insert);
		free(member);
		ms_verify_result_clear(&vr);
	}

	/* the unforged archive passes all three */
	memset(&vr, 0, sizeof(vr));
	assert_int_equal(ms_verify_archive(arch, &vr), MS_VERIFY_OK);
	assert_int_equal(ms_sqlcheck_archive(arch, &vr.manifest.dbs[0], user), 0);
	assert_int_equal(ms_my_verify_scratch(&c, &root_admin, arch, &vr.manifest, "testmy", NULL), 0);
	assert_int_equal(ms_my_restore_database(&c, &root_admin, arch, &vr.manifest, "testmy", NULL), 0);
	ms_verify_result_clear(&vr);
	err = guarded_state();
	assert_string_equal(before, err);
	free(err);
	free(before);
	free(arch);
	free(bad);
}

/* A table's chunks interleaved with another table's (each table loads in
 * one transaction on one connection; FORMAT.md §4.3 says the writer keeps
 * them together): moved by an attacker who rewrote the archive with every
 * hash recomputed, the chunk is refused by name, with or without InnoDB's
 * bulk load, before anything live changes. */
static void test_restore_interleaved(void **state)
{
	struct ms_dbconf c = dbconf();
	struct ms_my_dump d;
	struct ms_verify_result vr;
	char *arch = tpath("il.tar.zst"), *bad = tpath("il-bad.tar.zst"), *before, *err, *expect, *moved;
	static const char *const tail[] = { "myisam_t/000001.tsv", "kinds/000002.tsv", "nopk/000001.tsv",
					    "parent/000001.tsv" };
	struct ms_strbuf cmd = MS_STRBUF_INIT;

	(void)state;
	write_snapshot(arch, &d, &err);
	free(err);
	assert_int_equal(table_of(&d, "kinds")->chunks, 2);
	before = my_dump_of(livedb);
	/* ... kinds/000001, myisam_t/000001, kinds/000002, nopk, parent, load.sql, schema-post.sql */
	ms_strbuf_addf(&cmd, "mkdir -p '%s/il' && tar --zstd -xf '%s' -C '%s/il' db/testmy && '%s/tests/forge' '%s' '%s'",
		       tmpdir, arch, tmpdir, getenv("MS_SOURCE_DIR"), arch, bad);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < sizeof(tail) / sizeof(tail[0]); i++)
			ms_strbuf_addf(&cmd, pass ? " --add db/testmy/data/%s.%s=%s/il/db/testmy/data/%s.%s"
						  : " --remove db/testmy/data/%s.%s",
				       livedb, tail[i], tmpdir, livedb, tail[i]);
		ms_strbuf_addf(&cmd, pass ? " --add db/testmy/load.sql=%s/il/db/testmy/load.sql"
					    " --add db/testmy/schema-post.sql=%s/il/db/testmy/schema-post.sql"
					  : " --remove db/testmy/load.sql --remove db/testmy/schema-post.sql",
			       tmpdir, tmpdir);
	}
	ms_strbuf_addstr(&cmd, " >/dev/null");
	assert_int_equal(run("%s", cmd.buf), 0);
	assert_int_equal(ms_verify_archive(bad, &vr), MS_VERIFY_OK);
	moved = ms_xasprintf("db/testmy/data/%s.kinds/000002.tsv", livedb);
	expect = ms_xasprintf("modosnap: error: database 'testmy': member '%s' is out of order\n", moved);
	for (int bulk = 0; bulk < 2; bulk++) {
		char *after;

		if (!bulk)
			setenv("MODOSNAP_TEST_MY_NO_BULK", "1", 1);
		capture_start();
		assert_int_equal(ms_my_restore_database(&c, &root_admin, bad, &vr.manifest, "testmy", NULL), -1);
		err = capture_end();
		unsetenv("MODOSNAP_TEST_MY_NO_BULK");
		assert_string_equal(err, expect);
		free(err);
		after = my_dump_of(livedb);
		assert_string_equal(before, after);
		free(after);
	}
	ms_verify_result_clear(&vr);
	ms_my_dump_clear(&d);
	ms_strbuf_release(&cmd);
	free(moved);
	free(expect);
	free(before);
	free(arch);
	free(bad);
}

/* The archive damaged after it was verified (the restore's own
 * verification came first): the main reader and both lanes' readers meet
 * the damage, each error line is printed once, the live database is
 * unchanged. */
static void test_restore_damaged_once(void **state)
{
	struct ms_dbconf c = dbconf();
	struct ms_my_dump d;
	struct ms_verify_result vr;
	char *arch = tpath("dm.tar.zst"), *bad = tpath("dm-bad.tar.zst"), *before, *after, *err, *data;
	const char *p;
	size_t len;
	int found = 0;

	(void)state;
	write_snapshot(arch, &d, &err);
	free(err);
	memset(&vr, 0, sizeof(vr));
	assert_int_equal(ms_verify_archive(arch, &vr), MS_VERIFY_OK);
	before = my_dump_of(livedb);
	data = ms_read_file(arch, 1 << 30, &len);
	assert_non_null(data);
	data[len / 2] ^= 0xff;
	write_file(bad, data, len);
	capture_start();
	assert_int_equal(ms_my_restore_database(&c, &root_admin, bad, &vr.manifest, "testmy", NULL), -1);
	err = capture_end();
	/* what the damage looks like depends on the byte (a zstd error, a
	 * checksum, a tar header made of garbage): whatever it is, no error
	 * line is printed twice */
	for (p = err; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p)) {
		size_t n = strcspn(p, "\n");
		const char *q;

		if (strncmp(p, "modosnap: error: ", 17) != 0)
			continue;
		found++;
		for (q = p + n; (q = strstr(q, "\n")) != NULL && q[1]; q++)
			if (!strncmp(q + 1, p, n) && (q[1 + n] == '\n' || !q[1 + n]))
				fail_msg("printed twice: [%.*s] in [%s]", (int)n, p, err);
	}
	if (found < 1)
		fail_msg("no error: [%s]", err);
	after = my_dump_of(livedb);
	assert_string_equal(before, after);
	free(after);
	free(err);
	free(data);
	ms_verify_result_clear(&vr);
	ms_my_dump_clear(&d);
	free(before);
	free(arch);
	free(bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dump_refusals),
		cmocka_unit_test(test_dump_and_restore),
		cmocka_unit_test(test_restore_hostile_sql),
		cmocka_unit_test(test_restore_interleaved),
		cmocka_unit_test(test_restore_damaged_once),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
