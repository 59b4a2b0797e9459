/*
 * Tests for restore/sqlcheck: table-driven scripts for both dialects.
 * Each case gives a script, the statements the checker must hand back
 * (joined by "|", skipped ones marked "~"), or the exact error line. The
 * cases cover quotes, E'' strings, dollar quotes, nested comments,
 * BEGIN ATOMIC bodies, backslashes, DELIMITER, executable comments and a
 * ';' inside each; refused statements hidden after a comment or inside a
 * string do not count, one hidden in an executable comment does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "restore/sqlcheck.h"
#include "formats/manifest.h"
#include "base/strbuf.h"
#include "testutil.h"
#include "base/util.h"

struct tcase {
	const char *name;
	enum ms_sql_dialect d;
	const char *sql;
	const char *want;  /* statements joined by "|", or NULL when refused */
	const char *error; /* the exact error (without "modosnap: error: "), when refused */
};

/* A case named "my post: ..." is checked as schema-post.sql (MariaDB's
 * routines, views and triggers); every other as schema-pre.sql. */
#define POST "my post: "

#define PG MS_SQL_POSTGRESQL
#define MY MS_SQL_MYSQL
#define E(n, what) "database 'default': 'db/default/schema-pre.sql': statement " #n " refused: " what

static const struct tcase cases[] = {
	/* --- PostgreSQL: splitting --- */
	{ "pg plain", PG, "CREATE TABLE public.t (a int);\nALTER TABLE public.t OWNER TO app;\n",
	  "CREATE TABLE public.t (a int)|ALTER TABLE public.t OWNER TO app", NULL },
	{ "pg ; in a string and '' doubling", PG, "COMMENT ON TABLE t IS 'a;b''c; ALTER ROLE x';\nCREATE TABLE u (a int);",
	  "COMMENT ON TABLE t IS 'a;b''c; ALTER ROLE x'|CREATE TABLE u (a int)", NULL },
	{ "pg backslash is literal in a standard string", PG, "COMMENT ON TABLE t IS 'x\\';\nCREATE TABLE u (a int);",
	  "COMMENT ON TABLE t IS 'x\\'|CREATE TABLE u (a int)", NULL },
	{ "pg E'' string with backslash escapes", PG, "COMMENT ON TABLE t IS E'it\\'s; ALTER ROLE x';\nCREATE TABLE u ();",
	  "COMMENT ON TABLE t IS E'it\\'s; ALTER ROLE x'|CREATE TABLE u ()", NULL },
	{ "pg quoted identifier with ;", PG, "CREATE TABLE \"a;\"\"b\" (x int);", "CREATE TABLE \"a;\"\"b\" (x int)", NULL },
	{ "pg dollar quotes", PG,
	  "CREATE FUNCTION public.g() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN; ALTER ROLE x; END $$;\n"
	  "CREATE FUNCTION public.h() RETURNS int LANGUAGE sql AS $f$ SELECT 1; $$ ; $f$;",
	  "CREATE FUNCTION public.g() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN; ALTER ROLE x; END $$|"
	  "CREATE FUNCTION public.h() RETURNS int LANGUAGE sql AS $f$ SELECT 1; $$ ; $f$", NULL },
	{ "pg nested comments", PG, "/* a /* b; */ ALTER ROLE x; */ CREATE TABLE t (a int); -- GRANT x TO PUBLIC;\n",
	  "CREATE TABLE t (a int)", NULL },
	{ "pg BEGIN ATOMIC body", PG,
	  "CREATE FUNCTION public.f(integer) RETURNS integer\n    LANGUAGE sql\n    BEGIN ATOMIC\n SELECT ($1 + 1);\n"
	  " SELECT CASE WHEN $1 > 0 THEN 1 ELSE 0 END;\nEND;\nALTER FUNCTION public.f(integer) OWNER TO app;",
	  "CREATE FUNCTION public.f(integer) RETURNS integer\n    LANGUAGE sql\n    BEGIN ATOMIC\n SELECT ($1 + 1);\n"
	  " SELECT CASE WHEN $1 > 0 THEN 1 ELSE 0 END;\nEND|ALTER FUNCTION public.f(integer) OWNER TO app", NULL },
	{ "pg dump header", PG,
	  "--\n-- PostgreSQL database dump\n--\n\n\\restrict abcDEF123\n\nSET statement_timeout = 0;\nSET lock_timeout = 0;\n"
	  "SET idle_in_transaction_session_timeout = 0;\nSET client_encoding = 'UTF8';\n"
	  "SET standard_conforming_strings = on;\nSELECT pg_catalog.set_config('search_path', '', false);\n"
	  "SET check_function_bodies = false;\nSET xmloption = content;\nSET client_min_messages = warning;\n"
	  "SET row_security = off;\nSET default_tablespace = '';\nSET default_table_access_method = heap;\n"
	  "\\unrestrict abcDEF123\n",
	  "~SET statement_timeout = 0|~SET lock_timeout = 0|~SET idle_in_transaction_session_timeout = 0|"
	  "SET client_encoding = 'UTF8'|SET standard_conforming_strings = on|"
	  "SELECT pg_catalog.set_config('search_path', '', false)|SET check_function_bodies = false|"
	  "SET xmloption = content|SET client_min_messages = warning|SET row_security = off|"
	  "SET default_tablespace = ''|SET default_table_access_method = heap", NULL },
	{ "pg sequences", PG, "SELECT pg_catalog.setval('public.t_id_seq', 100, true);\n"
	  "SELECT pg_catalog.setval(E'public.\"a\\\\b\"', -5, false);\n",
	  "SELECT pg_catalog.setval('public.t_id_seq', 100, true)|SELECT pg_catalog.setval(E'public.\"a\\\\b\"', -5, false)",
	  NULL },
	{ "pg post-data", PG, "ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id);\n"
	  "CREATE INDEX t_expr_idx ON public.t USING btree (((a || 'x'::text)));\n"
	  "CREATE TRIGGER tr BEFORE INSERT ON public.t FOR EACH ROW EXECUTE FUNCTION public.g();\n"
	  "GRANT SELECT ON TABLE public.t TO app;\n",
	  "ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id)|"
	  "CREATE INDEX t_expr_idx ON public.t USING btree (((a || 'x'::text)))|"
	  "CREATE TRIGGER tr BEFORE INSERT ON public.t FOR EACH ROW EXECUTE FUNCTION public.g()|"
	  "GRANT SELECT ON TABLE public.t TO app", NULL },
	{ "pg schema and mat view", PG, "CREATE SCHEMA s;\nALTER SCHEMA s OWNER TO app;\n"
	  "CREATE MATERIALIZED VIEW public.mv AS\n SELECT 1 AS x\n  WITH NO DATA;",
	  "CREATE SCHEMA s|ALTER SCHEMA s OWNER TO app|CREATE MATERIALIZED VIEW public.mv AS\n SELECT 1 AS x\n  WITH NO DATA",
	  NULL },
	{ "pg a bare begin opens no block", PG,
	  "CREATE FUNCTION public.f() RETURNS integer LANGUAGE sql AS 'SELECT 1' SET search_path = begin;\n"
	  "ALTER ROLE app PASSWORD 'owned';", NULL,
	  E(2, "ALTER ROLE (dump SQL may only create and alter the database's own objects)") },
	{ "pg BEGIN /* */ ATOMIC opens one", PG,
	  "CREATE PROCEDURE public.p() LANGUAGE sql BEGIN /* x */ ATOMIC SELECT 1; END;\nCREATE TABLE t ();",
	  "CREATE PROCEDURE public.p() LANGUAGE sql BEGIN /* x */ ATOMIC SELECT 1; END|CREATE TABLE t ()", NULL },
	{ "pg a ) hides the options", PG, "CREATE FUNCTION public.x)T (RETURNS int LANGUAGE c AS '/tmp/x.so', 'x';",
	  NULL, E(1, "unbalanced parentheses") },
	{ "pg ( to the end", PG, "CREATE TABLE t (a int;\nALTER ROLE app SUPERUSER;", NULL, E(1, "unbalanced parentheses") },
	{ "pg BEGIN ATOMIC to the end", PG,
	  "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1;\nALTER ROLE app SUPERUSER;", NULL,
	  E(1, "a BEGIN ATOMIC body holding something other than queries, RETURN and END") },
	{ "pg BEGIN ATOMIC without END", PG,
	  "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1", NULL,
	  E(1, "BEGIN ATOMIC without END") },
	{ "pg CASE as a label, closed by a later body's END (fuzz finding)", PG,
	  "CREATE FUNCTION public.f() RETURNS integer LANGUAGE sql BEGIN ATOMIC SELECT 1 AS case; END;\n"
	  "ALTER ROLE app PASSWORD 'owned';\n"
	  "CREATE FUNCTION public.g() RETURNS integer LANGUAGE sql BEGIN ATOMIC SELECT 1 AS end; END;\n", NULL,
	  E(1, "a BEGIN ATOMIC body holding something other than queries, RETURN and END") },
	{ "pg an exponent sign needs a digit (fuzz finding)", PG, "CREATE TABLE 0e--$$\n;$$", NULL,
	  E(2, "unterminated dollar-quoted string") },
	{ "pg a body of several queries and RETURN", PG,
	  "CREATE FUNCTION public.f() RETURNS integer LANGUAGE sql BEGIN ATOMIC\n INSERT INTO t VALUES (1);\n"
	  " (SELECT 1);\n RETURN 2;\nEND;\nCREATE TABLE t ();",
	  "CREATE FUNCTION public.f() RETURNS integer LANGUAGE sql BEGIN ATOMIC\n INSERT INTO t VALUES (1);\n"
	  " (SELECT 1);\n RETURN 2;\nEND|CREATE TABLE t ()", NULL },
	{ "my ( across the delimiter", MY, "CREATE TABLE t (a int;\nSET GLOBAL max_connections = 7);", NULL,
	  E(1, "unbalanced parentheses") },
	{ "pg lone backslash", PG, "\\", NULL, E(1, "\\\\ (psql meta-commands are not allowed)") },
	{ "pg last statement without ;", PG, "CREATE TABLE t (a int)\n-- end\n", "CREATE TABLE t (a int)", NULL },

	/* --- PostgreSQL: refusals --- */
	{ "pg ALTER ROLE", PG, "CREATE TABLE t (a int);\nALTER ROLE CURRENT_USER PASSWORD 'x';\n", NULL,
	  E(2, "ALTER ROLE (dump SQL may only create and alter the database's own objects)") },
	{ "pg ALTER ROLE after a comment", PG, "/* hidden */ -- still\nALTER ROLE app SUPERUSER;", NULL,
	  E(1, "ALTER ROLE (dump SQL may only create and alter the database's own objects)") },
	{ "pg ALTER ROLE after an E'' string", PG, "COMMENT ON TABLE t IS E'x\\';ALTER ROLE app SUPERUSER;--';\nSELECT 1;",
	  NULL, E(2, "SELECT (only set_config('search_path') and setval() calls may be selected)") },
	{ "pg standard string ends at the backslash-quote", PG, "COMMENT ON TABLE t IS 'x\\';ALTER ROLE app SUPERUSER;--';",
	  NULL, E(2, "ALTER ROLE (dump SQL may only create and alter the database's own objects)") },
	{ "pg GRANT to PUBLIC", PG, "GRANT ALL ON TABLE public.t TO PUBLIC;", NULL,
	  E(1, "GRANT ... TO PUBLIC (privileges may only be granted to the application role 'app')") },
	{ "pg GRANT to another role", PG, "GRANT ALL ON TABLE public.t TO app, postgres;", NULL,
	  E(1, "GRANT (privileges may only be granted to the application role 'app')") },
	{ "pg GRANT role membership", PG, "GRANT pg_read_server_files TO app;", NULL,
	  E(1, "GRANT (role memberships may not be granted)") },
	{ "pg REVOKE", PG, "REVOKE ALL ON SCHEMA public FROM PUBLIC;", NULL,
	  E(1, "REVOKE ALL (dump SQL may only create and alter the database's own objects)") },
	{ "pg SECURITY DEFINER", PG,
	  "CREATE FUNCTION public.run(text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER AS $$ BEGIN EXECUTE $1; END $$;",
	  NULL, E(1, "CREATE FUNCTION (SECURITY DEFINER routines are not allowed)") },
	{ "pg ALTER FUNCTION SECURITY DEFINER", PG, "ALTER FUNCTION public.f() SECURITY DEFINER;", NULL,
	  E(1, "ALTER FUNCTION (SECURITY DEFINER routines are not allowed)") },
	{ "pg LANGUAGE c", PG, "CREATE FUNCTION public.x() RETURNS int LANGUAGE c AS '/tmp/x.so', 'x';", NULL,
	  E(1, "CREATE FUNCTION (routines may only be written in sql or plpgsql)") },
	{ "pg DO", PG, "DO $$ BEGIN PERFORM 1; END $$;", NULL,
	  E(1, "DO (dump SQL may only create and alter the database's own objects)") },
	{ "pg COPY PROGRAM", PG, "COPY public.t FROM PROGRAM 'id';", NULL,
	  E(1, "COPY PUBLIC (dump SQL may only create and alter the database's own objects)") },
	{ "pg SET ROLE", PG, "SET ROLE postgres;", NULL, E(1, "SET ROLE (only the session settings a dump writes may be set)") },
	{ "pg SET SESSION AUTHORIZATION", PG, "SET SESSION AUTHORIZATION postgres;", NULL,
	  E(1, "SET SESSION AUTHORIZATION (dump SQL may only create and alter the database's own objects)") },
	{ "pg standard_conforming_strings off", PG, "SET standard_conforming_strings = off;", NULL,
	  E(1, "SET STANDARD_CONFORMING_STRINGS (standard_conforming_strings must stay on)") },
	{ "pg unsafe client encoding", PG, "SET client_encoding = 'SJIS';", NULL,
	  E(1, "SET CLIENT_ENCODING (client encoding 'SJIS' is not allowed)") },
	{ "pg OWNER TO someone else", PG, "ALTER TABLE public.t OWNER TO postgres;", NULL,
	  E(1, "ALTER TABLE (objects may only be owned by the application role 'app')") },
	{ "pg CREATE ROLE", PG, "CREATE ROLE evil SUPERUSER;", NULL,
	  E(1, "CREATE ROLE (dump SQL may only create and alter the database's own objects)") },
	{ "pg ALTER SYSTEM", PG, "ALTER SYSTEM SET max_connections = 7;", NULL,
	  E(1, "ALTER SYSTEM (dump SQL may only create and alter the database's own objects)") },
	{ "pg CREATE DATABASE", PG, "CREATE DATABASE x;", NULL,
	  E(1, "CREATE DATABASE (dump SQL may only create and alter the database's own objects)") },
	{ "pg arbitrary SELECT", PG, "SELECT pg_catalog.set_config('role', 'postgres', false);", NULL,
	  E(1, "SELECT (only set_config('search_path') and setval() calls may be selected)") },
	{ "pg other meta-command", PG, "\\! id\nCREATE TABLE t (a int);", NULL,
	  E(1, "\\\\! (psql meta-commands are not allowed)") },
	{ "pg backslash inside a statement", PG, "CREATE TABLE t (a int) \\g\n", NULL,
	  E(1, "a backslash outside a quoted string (psql meta-command)") },
	{ "pg unterminated dollar quote", PG, "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $x$ SELECT 1;", NULL,
	  E(1, "unterminated dollar-quoted string") },
	{ "pg unterminated comment", PG, "CREATE TABLE t (a int); /* /* */", NULL, E(2, "unterminated comment") },
	{ "pg CREATE TABLE AS", PG, "CREATE TABLE t AS SELECT * FROM pg_authid;", NULL,
	  E(1, "CREATE TABLE (CREATE TABLE AS runs a query)") },
	{ "pg CREATE SCHEMA AUTHORIZATION other", PG, "CREATE SCHEMA s AUTHORIZATION postgres;", NULL,
	  E(1, "CREATE SCHEMA (a schema may only be created for the application role 'app')") },
	{ "pg COMMENT ON ROLE", PG, "COMMENT ON ROLE app IS 'x';", NULL,
	  E(1, "COMMENT ON ROLE (dump SQL may only create and alter the database's own objects)") },
	{ "pg transaction control", PG, "COMMIT;", NULL,
	  E(1, "COMMIT (dump SQL may only create and alter the database's own objects)") },

	/* --- MariaDB: splitting --- */
	{ "my dump script", MY,
	  "-- modosnap: schema of `d`\nDELIMITER ;;\nSET NAMES utf8mb4\n;;\n"
	  "SET SESSION time_zone = '+00:00', SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION', "
	  "SESSION foreign_key_checks = 0, SESSION unique_checks = 0\n;;\n"
	  "CREATE TABLE `t;;x` (\n  `a` varchar(10) DEFAULT 'x;y\\';;z'\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4\n;;\n"
	  "DELIMITER ;\n",
	  "SET NAMES utf8mb4|SET SESSION time_zone = '+00:00', SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,"
	  "NO_ENGINE_SUBSTITUTION', SESSION foreign_key_checks = 0, SESSION unique_checks = 0|"
	  "CREATE TABLE `t;;x` (\n  `a` varchar(10) DEFAULT 'x;y\\';;z'\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4", NULL },
	{ POST "routine body with ;", MY,
	  "DELIMITER ;;\nSET SESSION sql_mode = 'STRICT_TRANS_TABLES'\n;;\n"
	  "CREATE DEFINER=`app`@`localhost` PROCEDURE `p`()\nBEGIN\n  SELECT \"a;;b\"; -- x;;\n  # y;;\n"
	  "  /* z;; */ SELECT 2;\nEND\n;;\nDELIMITER ;\n",
	  "SET SESSION sql_mode = 'STRICT_TRANS_TABLES'|"
	  "CREATE DEFINER=`app`@`localhost` PROCEDURE `p`()\nBEGIN\n  SELECT \"a;;b\"; -- x;;\n  # y;;\n"
	  "  /* z;; */ SELECT 2;\nEND", NULL },
	{ POST "view and trigger", MY,
	  "DELIMITER ;;\nCREATE ALGORITHM=UNDEFINED DEFINER=`app`@`%` SQL SECURITY DEFINER VIEW `v` AS select 1 AS `x`\n;;\n"
	  "CREATE DEFINER='app'@'localhost' TRIGGER `tr` BEFORE INSERT ON `t` FOR EACH ROW SET NEW.a = 1\n;;\n",
	  "CREATE ALGORITHM=UNDEFINED DEFINER=`app`@`%` SQL SECURITY DEFINER VIEW `v` AS select 1 AS `x`|"
	  "CREATE DEFINER='app'@'localhost' TRIGGER `tr` BEFORE INSERT ON `t` FOR EACH ROW SET NEW.a = 1", NULL },
	{ "my executable comment that is harmless", MY,
	  "CREATE TABLE t (a int) /*!50100 PARTITION BY HASH (a) PARTITIONS 2 */;", 
	  "CREATE TABLE t (a int) /*!50100 PARTITION BY HASH (a) PARTITIONS 2 */", NULL },
	{ "my -- needs a blank after it", MY, "SET SESSION unique_checks = 1--1;", NULL,
	  E(1, "SET SESSION (a setting's value must be a plain literal)") },
	{ POST "NO_BACKSLASH_ESCAPES changes the lexing", MY,
	  "DELIMITER ;;\nSET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'\n;;\n"
	  "CREATE DEFINER=`app`@`localhost` VIEW `v` AS select 'a\\' AS `x`\n;;\n",
	  "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'|CREATE DEFINER=`app`@`localhost` VIEW `v` AS select 'a\\' AS `x`",
	  NULL },

	{ POST "view qualified with its own database", MY,
	  "CREATE DEFINER=`app`@`localhost` VIEW `d`.`v` AS select `d`.`t`.`a` AS `a` from `d`.`t`;",
	  "CREATE DEFINER=`app`@`localhost` VIEW `d`.`v` AS select `d`.`t`.`a` AS `a` from `d`.`t`", NULL },

	/* --- MariaDB: refusals --- */
	{ "my table qualified, even with the restored database", MY, "CREATE TABLE `d`.`t` (a int);", NULL,
	  E(1, "CREATE TABLE (objects may only be created in the restored database)") },
	{ "my view in another database", MY, "CREATE DEFINER=`app`@`localhost` VIEW `mysql`.`v` AS select 1;", NULL,
	  E(1, "CREATE VIEW (objects may only be created in the restored database)") },
	{ "my SET PASSWORD", MY, "DELIMITER ;;\nSET PASSWORD FOR 'root'@'localhost' = PASSWORD('x')\n;;\n", NULL,
	  E(1, "SET PASSWORD (dump SQL may only create and alter the database's own objects)") },
	{ "my SET GLOBAL", MY, "SET GLOBAL max_connections = 7;", NULL,
	  E(1, "SET GLOBAL (only the session settings a dump writes may be set)") },
	{ "my SET @@global", MY, "SET SESSION sql_mode = '', @@global.max_connections = 7;", NULL,
	  E(1, "SET GLOBAL (only the session settings a dump writes may be set)") },
	{ "my SET GLOBAL in an executable comment", MY, "SET SESSION sql_mode = '' /*!, GLOBAL max_connections = 7 */;",
	  NULL, E(1, "SET GLOBAL (only the session settings a dump writes may be set)") },
	{ "my statement hidden in an executable comment", MY,
	  "DELIMITER ;\nCREATE TABLE t (a int); /*!99999 SET GLOBAL max_connections = 7 */;", NULL,
	  E(2, "SET GLOBAL (only the session settings a dump writes may be set)") },
	{ "my statement in a comment does not count", MY,
	  "/* SET GLOBAL max_connections = 7; */ # SET PASSWORD = 'x';\n-- DROP DATABASE x;\nCREATE TABLE t (a int);",
	  "CREATE TABLE t (a int)", NULL },
	{ "my statement in a string does not count", MY,
	  "CREATE TABLE t (a varchar(9) DEFAULT 'x\\'; SET GLOBAL max_connections = 7; --');", 
	  "CREATE TABLE t (a varchar(9) DEFAULT 'x\\'; SET GLOBAL max_connections = 7; --')", NULL },
	{ "my definer root", MY,
	  "DELIMITER ;;\nCREATE DEFINER=`root`@`localhost` PROCEDURE `run`(q text) SQL SECURITY DEFINER\n"
	  "BEGIN PREPARE s FROM q; EXECUTE s; END\n;;\n", NULL,
	  E(1, "CREATE DEFINER=... PROCEDURE (the definer must be the application account 'app')") },
	{ "my definer after SQL SECURITY", MY,
	  "CREATE SQL SECURITY DEFINER DEFINER=root@localhost VIEW v AS SELECT 1;", NULL,
	  E(1, "CREATE DEFINER=... VIEW (the definer must be the application account 'app')") },
	{ "my routine without a definer", MY, "CREATE PROCEDURE p() SELECT 1;", NULL,
	  E(1, "CREATE PROCEDURE (the definer must be the application account 'app')") },
	{ "my routine in another database", MY, "CREATE DEFINER=app@localhost PROCEDURE mysql.p() SELECT 1;", NULL,
	  E(1, "CREATE PROCEDURE (objects may only be created in the restored database)") },
	{ "my CREATE USER", MY, "CREATE USER x IDENTIFIED BY 'y';", NULL,
	  E(1, "CREATE USER (dump SQL may only create and alter the database's own objects)") },
	{ "my GRANT", MY, "GRANT ALL ON *.* TO app;", NULL,
	  E(1, "GRANT ALL (dump SQL may only create and alter the database's own objects)") },
	{ "my table in a file", MY, "CREATE TABLE t (a int) ENGINE=MyISAM DATA DIRECTORY='/etc';", NULL,
	  E(1, "CREATE TABLE (a table may not name files, servers or other tables)") },
	{ "my CONNECT engine", MY, "CREATE TABLE t (a text) ENGINE=CONNECT TABLE_TYPE=DOS FILE_NAME='/etc/shadow';", NULL,
	  E(1, "CREATE TABLE (storage engine 'CONNECT' is not allowed)") },
	{ "my user variable", MY, "SET @x = (SELECT 1);", NULL,
	  E(1, "SET @variable (only the session settings a dump writes may be set)") },
	{ "my backslash command", MY, "CREATE TABLE t (a int);\n\\! id\n;", NULL,
	  E(2, "a backslash outside a quoted string (client command)") },
	{ "my unterminated string", MY, "CREATE TABLE t (a varchar(3) DEFAULT 'x);", NULL,
	  E(1, "unterminated quoted string") },
	{ "my unterminated executable comment", MY, "CREATE TABLE t (a int) /*!50100 x", NULL,
	  E(1, "unterminated executable comment") },
	{ "my LOAD DATA INFILE", MY, "LOAD DATA INFILE '/etc/passwd' INTO TABLE t;", NULL,
	  E(1, "LOAD DATA (dump SQL may only create and alter the database's own objects)") },
};

/* The statements as "a|~b|c". */
static char *joined(const struct ms_sql_script *s)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;

	for (size_t i = 0; i < s->n; i++) {
		if (i)
			ms_strbuf_addch(&sb, '|');
		if (s->v[i].skip)
			ms_strbuf_addch(&sb, '~');
		ms_strbuf_add(&sb, s->v[i].text, s->v[i].len);
	}
	return sb.buf ? ms_strbuf_detach(&sb) : ms_xstrdup("");
}

static void test_cases(void **state)
{
	int failed = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tcase *tc = &cases[i];
		struct ms_sqlcheck c = { tc->d, "default",
					 !strncmp(tc->name, POST, strlen(POST)) ? "db/default/schema-post.sql" : "db/default/schema-pre.sql", "app", "d" };
		struct ms_sql_script s;
		char *err, *got = NULL, *want_err = NULL;
		int rc;

		capture_start();
		rc = ms_sqlcheck_script(&c, tc->sql, strlen(tc->sql), &s);
		err = capture_end();
		if (tc->want) {
			got = joined(&s);
			if (rc != 0 || strcmp(got, tc->want) != 0) {
				fprintf(stderr, "case '%s': rc %d\n got: [%s]\nwant: [%s]\n err: %s\n", tc->name, rc, got,
					tc->want, err);
				failed++;
			}
		} else {
			want_err = ms_xasprintf("modosnap: error: %s\n", tc->error);
			if (rc != -1 || s.n != 0 || strcmp(err, want_err) != 0) {
				fprintf(stderr, "case '%s': rc %d, %zu statements\n got: %s\nwant: %s", tc->name, rc, s.n,
					err, want_err);
				failed++;
			}
		}
		ms_sql_script_clear(&s);
		free(got);
		free(want_err);
		free(err);
	}
	assert_int_equal(failed, 0);
}

/* A MariaDB schema-post.sql runs after the proof, in the live database:
 * no CREATE TABLE there (a replaced table would not be the proven one),
 * while schema-pre.sql creates its tables and schema-post.sql its views,
 * routines and triggers as before. */
static void test_my_pre_tables_post_the_rest(void **state)
{
	static const char *const tables[] = {
		"CREATE TABLE t (a int);",
		"CREATE OR REPLACE TABLE `msgs` (a int);",
		"SET SESSION sql_mode = '';\nCREATE TABLE IF NOT EXISTS t (a int);",
	};
	struct ms_sqlcheck pre = { MY, "amavis", "db/amavis/schema-pre.sql", "app", "d" };
	struct ms_sqlcheck post = { MY, "amavis", "db/amavis/schema-post.sql", "app", "d" };
	const char *view = "CREATE DEFINER=`app`@`localhost` VIEW `v` AS select 1 AS `a`;\n"
			   "CREATE DEFINER=`app`@`%` TRIGGER `tr` BEFORE INSERT ON `t` FOR EACH ROW SET NEW.a = 1;";
	static const struct {
		const char *kind, *sql;
	} objects[] = {
		{ "TRIGGER", "CREATE TABLE t (a int);\n"
			     "CREATE DEFINER=`app`@`%` TRIGGER `tr` AFTER INSERT ON `t` FOR EACH ROW "
			     "INSERT INTO `u` VALUES (NEW.a);" },
		{ "VIEW", "CREATE TABLE t (a int);\nCREATE DEFINER=`app`@`localhost` VIEW `v` AS select 1 AS `a`;" },
		{ "PROCEDURE", "CREATE TABLE t (a int);\nCREATE DEFINER=`app`@`localhost` PROCEDURE `p`() SELECT 1;" },
		{ "FUNCTION", "CREATE TABLE t (a int);\n"
			      "CREATE DEFINER=`app`@`localhost` FUNCTION `f`() RETURNS int RETURN 1;" },
	};
	struct ms_sql_script s;
	char *err, *want;

	(void)state;
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		capture_start();
		assert_int_equal(ms_sqlcheck_script(&pre, tables[i], strlen(tables[i]), &s), 0);
		ms_sql_script_clear(&s);
		assert_int_equal(ms_sqlcheck_script(&post, tables[i], strlen(tables[i]), &s), -1);
		err = capture_end();
		want = ms_xasprintf("modosnap: error: database 'amavis': 'db/amavis/schema-post.sql': statement %d "
				    "refused: CREATE TABLE (schema-post.sql may not create tables)\n", i == 2 ? 2 : 1);
		assert_string_equal(err, want);
		assert_int_equal(s.n, 0);
		free(err);
		free(want);
	}
	capture_start();
	assert_int_equal(ms_sqlcheck_script(&post, view, strlen(view), &s), 0);
	err = capture_end();
	assert_string_equal(err, "");
	assert_int_equal(s.n, 2);
	ms_sql_script_clear(&s);
	free(err);
	/* and schema-pre.sql, loaded by several connections at once, holds
	 * tables only: a trigger there would fire during the load */
	for (size_t i = 0; i < sizeof(objects) / sizeof(objects[0]); i++) {
		capture_start();
		assert_int_equal(ms_sqlcheck_script(&pre, objects[i].sql, strlen(objects[i].sql), &s), -1);
		err = capture_end();
		want = ms_xasprintf("modosnap: error: database 'amavis': 'db/amavis/schema-pre.sql': statement 2 "
				    "refused: CREATE %s (schema-pre.sql holds tables only; routines, views and triggers "
				    "belong in schema-post.sql)\n", objects[i].kind);
		assert_string_equal(err, want);
		free(err);
		free(want);
		capture_start();
		assert_int_equal(ms_sqlcheck_script(&post, objects[i].sql + strlen("CREATE TABLE t (a int);\n"),
						    strlen(objects[i].sql) - strlen("CREATE TABLE t (a int);\n"), &s), 0);
		err = capture_end();
		assert_string_equal(err, "");
		assert_int_equal(s.n, 1);
		ms_sql_script_clear(&s);
		free(err);
	}
}

/* A PostgreSQL data member is loaded with COPY into the table the
 * manifest names, and a superuser may write a system catalog that way:
 * a table in a system schema refuses the archive before it is read. */
static void test_pg_system_schema_refused(void **state)
{
	static const char *const schemas[] = { "pg_catalog", "pg_toast", "information_schema" };
	struct ms_manifest_table t[2] = { { .schema = "public", .name = "msgs" } };
	struct ms_manifest_db mdb = { .alias = "default", .engine = "postgresql", .tables = t, .n_tables = 2 };
	char *err, *want;

	(void)state;
	for (size_t i = 0; i < sizeof(schemas) / sizeof(schemas[0]); i++) {
		t[1].schema = (char *)schemas[i];
		t[1].name = "pg_authid";
		capture_start();
		assert_int_equal(ms_sqlcheck_archive("/nonexistent/archive.tar.zst", &mdb, "app"), -1);
		err = capture_end();
		want = ms_xasprintf("modosnap: error: database 'default': table '%s.pg_authid' is in a system schema, "
				    "which a dump never holds\n", schemas[i]);
		assert_string_equal(err, want);
		free(err);
		free(want);
	}
	/* a MariaDB table's schema is its database, restored under its own name */
	mdb.engine = "mysql";
	t[1].schema = "pg_catalog";
	capture_start();
	assert_int_equal(ms_sqlcheck_archive("/nonexistent/archive.tar.zst", &mdb, "app"), -1);
	err = capture_end();
	assert_null(strstr(err, "system schema"));
	free(err);
}

/* Without a known application role, ownership and definers are refused. */
static void test_no_role(void **state)
{
	struct ms_sqlcheck c = { PG, "default", "db/default/schema-pre.sql", NULL, NULL };
	struct ms_sql_script s;
	char *err;

	(void)state;
	capture_start();
	assert_int_equal(ms_sqlcheck_script(&c, "ALTER TABLE t OWNER TO app;", 27, &s), -1);
	err = capture_end();
	assert_string_equal(err, "modosnap: error: " E(1, "ALTER TABLE (objects may only be owned by the application "
							 "role '(unknown)')") "\n");
	free(err);
}

/* Quoted role names compare exactly, unquoted ones fold to lowercase. */
static void test_role_case(void **state)
{
	struct ms_sqlcheck c = { PG, "default", "m", "App", NULL };
	struct ms_sql_script s;
	char *err;

	(void)state;
	assert_int_equal(ms_sqlcheck_script(&c, "ALTER TABLE t OWNER TO \"App\";", 29, &s), 0);
	assert_int_equal(s.n, 1);
	ms_sql_script_clear(&s);
	capture_start();
	assert_int_equal(ms_sqlcheck_script(&c, "ALTER TABLE t OWNER TO App;", 27, &s), -1);
	err = capture_end();
	assert_non_null(strstr(err, "objects may only be owned by the application role 'App'"));
	free(err);
}

/* A NUL byte could end the text the server sees early. */
static void test_nul(void **state)
{
	struct ms_sqlcheck c = { PG, "default", "m", "app", NULL };
	struct ms_sql_script s;
	char *err;

	(void)state;
	capture_start();
	assert_int_equal(ms_sqlcheck_script(&c, "CREATE TABLE t (a int);\0ALTER ROLE x;", 38, &s), -1);
	err = capture_end();
	assert_string_equal(err, "modosnap: error: database 'default': 'm': contains a NUL byte\n");
	free(err);
}

/* How schema-post.sql's statements may be scheduled (sqlcheck.h): the
 * settings, the statements on one table each (run on several connections
 * in a staged restore) with their table, and the rest in order; anything
 * not recognised exactly (a second action, a foreign key, an unqualified
 * name) stays in order. And row_security may only be set off: a policy
 * could otherwise hide rows from the proof. */
static void test_pg_kinds(void **state)
{
	static const struct {
		const char *sql;
		enum ms_sql_kind kind;
		const char *on;
	} kinds[] = {
		{ "SET default_tablespace = ''", MS_SQL_SETTING, NULL },
		{ "SELECT pg_catalog.set_config('search_path', '', false)", MS_SQL_SETTING, NULL },
		{ "ALTER TABLE ONLY public.msgs\n    ADD CONSTRAINT msgs_pkey PRIMARY KEY (partition_tag, mail_id)",
		  MS_SQL_ON_TABLE, "public\x1fmsgs" },
		{ "ALTER TABLE ONLY \"App\".\"Msgs\" ADD CONSTRAINT u UNIQUE (a)", MS_SQL_ON_TABLE, "App\x1fMsgs" },
		{ "ALTER TABLE ONLY public.t ADD CONSTRAINT c CHECK (a > 0) NOT VALID", MS_SQL_ON_TABLE, "public\x1ft" },
		{ "ALTER TABLE public.t ADD CONSTRAINT c CHECK (a > 0) NOT VALID", MS_SQL_IN_ORDER, NULL },
		{ "CREATE INDEX CONCURRENTLY ON public.t (a)", MS_SQL_IN_ORDER, NULL },
		{ "CREATE INDEX i ON public.\"t\\x\" (a)", MS_SQL_IN_ORDER, NULL },
		{ "CREATE INDEX i ON public.\"\xc3\xa9t\xc3\xa9\" (a)", MS_SQL_IN_ORDER, NULL },
		{ "CREATE INDEX i ON public.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa (a)", MS_SQL_IN_ORDER,
		  NULL },
		{ "COMMENT ON INDEX public.i IS 'x'", MS_SQL_COMMENT, NULL },
		{ "CREATE INDEX msgs_idx_sid ON public.msgs USING btree (sid)", MS_SQL_ON_TABLE, "public\x1fmsgs" },
		{ "CREATE UNIQUE INDEX u ON ONLY public.parted USING btree (a)", MS_SQL_ON_TABLE, "public\x1fparted" },
		{ "CREATE INDEX i ON public.t (a)", MS_SQL_ON_TABLE, "public\x1ft" },
		{ "ALTER TABLE ONLY public.msgrcpt ADD CONSTRAINT f FOREIGN KEY (mail_id) REFERENCES public.msgs(mail_id)",
		  MS_SQL_IN_ORDER, NULL },
		{ "ALTER TABLE ONLY public.t ADD CONSTRAINT p PRIMARY KEY (a), ALTER COLUMN b TYPE text", MS_SQL_IN_ORDER,
		  NULL },
		{ "ALTER TABLE ONLY t ADD CONSTRAINT p PRIMARY KEY (a)", MS_SQL_IN_ORDER, NULL },
		{ "CREATE TRIGGER tr BEFORE INSERT ON public.t FOR EACH ROW EXECUTE FUNCTION public.f()", MS_SQL_IN_ORDER,
		  NULL },
		{ "ALTER INDEX public.p ATTACH PARTITION public.c", MS_SQL_IN_ORDER, NULL },
		{ "SELECT pg_catalog.setval('public.s', 42, true)", MS_SQL_IN_ORDER, NULL },
	};
	struct ms_sqlcheck c = { MS_SQL_POSTGRESQL, "default", "db/default/schema-post.sql", "app", NULL };
	struct ms_sql_script s;
	char *err;

	(void)state;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		capture_start();
		if (ms_sqlcheck_script(&c, kinds[i].sql, strlen(kinds[i].sql), &s) != 0 || s.n != 1)
			fail_msg("case %zu refused: %s", i, capture_end());
		free(capture_end());
		if (s.v[0].kind != kinds[i].kind)
			fail_msg("case %zu: kind %d, not %d", i, (int)s.v[0].kind, (int)kinds[i].kind);
		if (kinds[i].on ? !s.v[0].on || strcmp(s.v[0].on, kinds[i].on) : s.v[0].on != NULL)
			fail_msg("case %zu: on '%s', not '%s'", i, s.v[0].on ? s.v[0].on : "(null)",
				 kinds[i].on ? kinds[i].on : "(null)");
		ms_sql_script_clear(&s);
	}
	capture_start();
	assert_int_equal(ms_sqlcheck_script(&c, "SET row_security = on;", 22, &s), -1);
	err = capture_end();
	assert_string_equal(err, "modosnap: error: database 'default': 'db/default/schema-post.sql': statement 1 refused: "
				 "SET ROW_SECURITY (row_security must stay off)\n");
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_no_role),
		cmocka_unit_test(test_pg_system_schema_refused),
		cmocka_unit_test(test_my_pre_tables_post_the_rest),
		cmocka_unit_test(test_role_case),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_pg_kinds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
