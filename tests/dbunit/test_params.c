/*
 * src/db/params.c and pg_params.c against the harness's servers: the
 * parameters of core_localconfig._parameters (jsonb on PostgreSQL, JSON
 * on MariaDB) and the rows of admin_domain, read with the servers' own
 * JSON functions; JSON nulls, empty strings and missing apps are "not
 * set"; a database without Modoboa's tables gives empty parameters, not
 * an error; a failed connection or query is one error naming the alias.
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

#include "db/params.h"
#include "pgtest.h"
#include "testutil.h"
#include "base/util.h"

static char pg_full[64], pg_empty[64], my_full[64], my_empty[64];

/* The schema of Modoboa 2.3 (the columns read, and a few beside them). */
static const char pg_schema[] =
	"CREATE TABLE core_localconfig (id serial PRIMARY KEY, api_pk varchar(100), api_versions jsonb NOT NULL,"
	"  _parameters jsonb NOT NULL, need_dovecot_update boolean NOT NULL);"
	"CREATE TABLE admin_domain (id serial PRIMARY KEY, name varchar(100) NOT NULL UNIQUE,"
	"  enable_dkim boolean NOT NULL, dkim_key_selector varchar(30) NOT NULL,"
	"  dkim_private_key_path varchar(254) NOT NULL);"
	"INSERT INTO core_localconfig (api_versions, _parameters, need_dovecot_update) VALUES ('{}',"
	"  '{\"core\": {\"password_scheme\": \"sha512crypt\"},"
	"    \"admin\": {\"dkim_keys_storage_dir\": \"/var/lib/dkim\", \"dkim_default_key_length\": 2048},"
	"    \"rspamd\": {\"key_map_path\": \"/var/lib/rspamd/dkim.map\", \"selector_map_path\": \"\"},"
	"    \"pdfcredentials\": {\"storage_dir\": \"/srv/modoboa/pdf credentials \\u00e9\"},"
	"    \"maillog\": {\"rrd_rootdir\": null}}', false);"
	"INSERT INTO admin_domain (name, enable_dkim, dkim_key_selector, dkim_private_key_path) VALUES"
	"  ('example.test', true, 'modoboa', '/var/lib/dkim/example.test.pem'),"
	"  ('example.org', false, 'mail', '/elsewhere/example.org.pem'),"
	"  ('nodkim.example', false, '', '');";

static const char my_schema[] =
	"CREATE TABLE core_localconfig (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, api_pk varchar(100) NULL,"
	"  api_versions json NOT NULL, _parameters json NOT NULL, need_dovecot_update bool NOT NULL) ENGINE=InnoDB;"
	"CREATE TABLE admin_domain (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, name varchar(100) NOT NULL UNIQUE,"
	"  enable_dkim bool NOT NULL, dkim_key_selector varchar(30) NOT NULL,"
	"  dkim_private_key_path varchar(254) NOT NULL) ENGINE=InnoDB;"
	"INSERT INTO core_localconfig (api_versions, _parameters, need_dovecot_update) VALUES ('{}',"
	"  JSON_OBJECT('core', JSON_OBJECT('password_scheme', 'sha512crypt'),"
	"    'admin', JSON_OBJECT('dkim_keys_storage_dir', '/var/lib/dkim', 'dkim_default_key_length', 2048),"
	"    'rspamd', JSON_OBJECT('key_map_path', '/var/lib/rspamd/dkim.map', 'selector_map_path', ''),"
	"    'pdfcredentials', JSON_OBJECT('storage_dir', '/srv/modoboa/pdf credentials \xc3\xa9'),"
	"    'maillog', JSON_OBJECT('rrd_rootdir', NULL)), 0);"
	"INSERT INTO admin_domain (name, enable_dkim, dkim_key_selector, dkim_private_key_path) VALUES"
	"  ('example.test', 1, 'modoboa', '/var/lib/dkim/example.test.pem'),"
	"  ('example.org', 0, 'mail', '/elsewhere/example.org.pem'),"
	"  ('nodkim.example', 0, '', '');";

static int setup(void **state)
{
	long pid = (long)getpid();

	(void)state;
	if (read_server_env() < 0 || make_tmpdir("test_params") < 0)
		return -1;
	snprintf(pg_full, sizeof(pg_full), "msparams_%ld_full", pid);
	snprintf(pg_empty, sizeof(pg_empty), "msparams_%ld_empty", pid);
	snprintf(my_full, sizeof(my_full), "msparams_%ld_full", pid);
	snprintf(my_empty, sizeof(my_empty), "msparams_%ld_empty", pid);
	if (run(PSQL " -d postgres -c 'CREATE DATABASE %s' -c 'CREATE DATABASE %s' >/dev/null", PSQL_ARGS, pg_full,
		pg_empty) != 0 ||
	    psql_sql(pg_full, pg_schema) != 0)
		return -1;
	{
		char *sql = ms_xasprintf("CREATE DATABASE %s CHARACTER SET utf8mb4; CREATE DATABASE %s;", my_full,
					 my_empty);
		int rc = my_sql("mysql", sql);

		free(sql);
		if (rc != 0 || my_sql(my_full, my_schema) != 0)
			return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	char *sql = ms_xasprintf("DROP DATABASE IF EXISTS %s; DROP DATABASE IF EXISTS %s;", my_full, my_empty);

	(void)state;
	run(PSQL " -d postgres -c 'DROP DATABASE IF EXISTS %s' -c 'DROP DATABASE IF EXISTS %s' >/dev/null", PSQL_ARGS,
	    pg_full, pg_empty);
	my_sql("mysql", sql);
	free(sql);
	run("rm -rf '%s'", tmpdir);
	return 0;
}

static struct ms_dbconf pg_conf(const char *name)
{
	return (struct ms_dbconf){ .alias = "default", .engine = MS_DB_POSTGRESQL, .name = (char *)name,
				   .user = superuser, .host = sockdir, .port = port };
}

static struct ms_dbconf my_conf(const char *name)
{
	return (struct ms_dbconf){ .alias = "default", .engine = MS_DB_MYSQL, .name = (char *)name, .user = "root",
				   .host = mysock, .port = "" };
}

/* What both engines read from the same content. */
static void check_full(const struct ms_dbconf *db)
{
	struct ms_modoboa_params p;

	assert_int_equal(ms_db_read_params(db, &p), 0);
	assert_string_equal(p.dkim_dir, "/var/lib/dkim");
	assert_string_equal(p.rspamd_key_map, "/var/lib/rspamd/dkim.map");
	assert_null(p.rspamd_selector_map); /* "" */
	assert_string_equal(p.pdf_dir, "/srv/modoboa/pdf credentials \xc3\xa9");
	assert_null(p.rrd_dir);             /* JSON null */
	assert_int_equal(p.n_domains, 3);
	assert_string_equal(p.domains[0].name, "example.org");
	assert_string_equal(p.domains[0].key_path, "/elsewhere/example.org.pem");
	assert_false(p.domains[0].enabled);
	assert_string_equal(p.domains[1].name, "example.test");
	assert_string_equal(p.domains[1].key_path, "/var/lib/dkim/example.test.pem");
	assert_true(p.domains[1].enabled);
	assert_string_equal(p.domains[2].name, "nodkim.example");
	assert_null(p.domains[2].key_path);
	ms_modoboa_params_clear(&p);
	assert_null(p.domains);
	assert_null(p.dkim_dir);
}

static void check_empty(const struct ms_dbconf *db)
{
	struct ms_modoboa_params p;
	char *err;

	capture_start();
	assert_int_equal(ms_db_read_params(db, &p), 0);
	err = capture_end();
	assert_string_equal(err, "");
	free(err);
	assert_null(p.dkim_dir);
	assert_null(p.pdf_dir);
	assert_int_equal(p.n_domains, 0);
	ms_modoboa_params_clear(&p);
}

static void test_pg_full(void **state)
{
	struct ms_dbconf db = pg_conf(pg_full);

	(void)state;
	check_full(&db);
}

static void test_my_full(void **state)
{
	struct ms_dbconf db = my_conf(my_full);

	(void)state;
	check_full(&db);
}

static void test_pg_no_tables(void **state)
{
	struct ms_dbconf db = pg_conf(pg_empty);

	(void)state;
	check_empty(&db);
}

static void test_my_no_tables(void **state)
{
	struct ms_dbconf db = my_conf(my_empty);

	(void)state;
	check_empty(&db);
}

/* core_localconfig without a row, and a text _parameters (older schemas). */
static void test_pg_text_and_no_row(void **state)
{
	struct ms_dbconf db = pg_conf(pg_empty);
	struct ms_modoboa_params p;

	(void)state;
	assert_int_equal(psql_sql(pg_empty, "CREATE TABLE core_localconfig (id serial PRIMARY KEY, _parameters text);"),
			 0);
	check_empty(&db);
	assert_int_equal(psql_sql(pg_empty, "INSERT INTO core_localconfig (_parameters) VALUES "
					    "('{\"admin\": {\"dkim_keys_storage_dir\": \"/srv/dkim\"}, \"rspamd\": 3}');"),
			 0);
	assert_int_equal(ms_db_read_params(&db, &p), 0);
	assert_string_equal(p.dkim_dir, "/srv/dkim");
	assert_null(p.rspamd_key_map); /* "rspamd" is not an object */
	ms_modoboa_params_clear(&p);
	assert_int_equal(psql_sql(pg_empty, "DROP TABLE core_localconfig;"), 0);
}

/* A broken table: one error naming the alias and what was read. */
static void test_errors(void **state)
{
	struct ms_dbconf db = my_conf(my_empty), pg = pg_conf("msparams_no_such_db");
	struct ms_modoboa_params p;
	char *err;

	(void)state;
	assert_int_equal(my_sql(my_empty, "CREATE TABLE admin_domain (id int PRIMARY KEY, name varchar(10));"), 0);
	capture_start();
	assert_int_equal(ms_db_read_params(&db, &p), -1);
	err = capture_end();
	assert_non_null(strstr(err, "modosnap: error: database 'default': reading admin_domain failed: Unknown column "
				    "'dkim_private_key_path'"));
	free(err);
	assert_null(p.domains);
	assert_int_equal(my_sql(my_empty, "DROP TABLE admin_domain;"), 0);

	capture_start();
	assert_int_equal(ms_db_read_params(&pg, &p), -1);
	err = capture_end();
	assert_non_null(strstr(err, "modosnap: error: unable to connect to database 'default' (postgresql"));
	assert_non_null(strstr(err, "msparams_no_such_db"));
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pg_full),
		cmocka_unit_test(test_my_full),
		cmocka_unit_test(test_pg_no_tables),
		cmocka_unit_test(test_my_no_tables),
		cmocka_unit_test(test_pg_text_and_no_row),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
