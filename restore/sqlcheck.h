/*
 * The statement checker for the SQL members of a snapshot
 * (docs/dev/design.md §5). An archive is untrusted input: its schema scripts
 * are split into statements by a real tokenizer for each dialect, and
 * every statement must be of a kind our dumpers write (pg_dump
 * --schema-only --section=pre-data/post-data as run by src/db/pg_dump.c, the
 * setval() lines of sequences.sql, and the scripts of src/db/my_dump.c); the
 * restore engines then run exactly the statements the checker split, one
 * per call, so the server never sees text the checker did not classify.
 *
 * PostgreSQL: single quotes with '' doubling, E'' strings with backslash
 * escapes (standard_conforming_strings is on and may not be turned off),
 * "identifiers", dollar quotes ($$ and $tag$), -- and nested comments,
 * psql's BEGIN ATOMIC ... END tracking, pg_dump's \restrict/\unrestrict
 * lines (skipped; any other meta-command is refused).
 * MariaDB/MySQL: single and double quotes with backslash escapes (as the
 * sql_mode the script sets says), `backticks`, --, # and comments,
 * executable comments (treated as code) and DELIMITER lines.
 */
#ifndef MS_SQLCHECK_H
#define MS_SQLCHECK_H

#include <stdbool.h>
#include <stddef.h>

struct ms_manifest_db;
struct ms_verify_result;

enum ms_sql_dialect {
	MS_SQL_POSTGRESQL,
	MS_SQL_MYSQL,
};

/* How a statement may be scheduled (PostgreSQL; MariaDB statements are
 * all MS_SQL_IN_ORDER): what lets a restore into a database nobody else
 * sees run schema-post.sql on several connections. */
enum ms_sql_kind {
	MS_SQL_IN_ORDER, /* anything else: run in the script's order */
	MS_SQL_SETTING,  /* SET, or set_config(): a session setting */
	MS_SQL_ON_TABLE, /* CREATE INDEX on, or ALTER TABLE ONLY ... ADD CONSTRAINT
	                    of a primary key, unique, check or exclusion constraint
	                    to, the one table `on` names (a plain table, which the
	                    restore checks): it needs that table, and the settings
	                    and statements of this kind before it */
	MS_SQL_COMMENT,  /* COMMENT ON: needs the object it names, changes nothing
	                    another statement depends on */
};

/* One statement to run, borrowed from the checked text. */
struct ms_sql_stmt {
	const char *text; /* without its delimiter and surrounding blanks */
	size_t len;
	bool skip;        /* allowed, but the restore's own setting wins (timeouts) */
	enum ms_sql_kind kind;
	char *on;         /* MS_SQL_ON_TABLE: the table, as schema "\x1f" name with
	                     unquoted names folded to lower case (owned); else NULL */
};

/* The statements of one script, in order. */
struct ms_sql_script {
	struct ms_sql_stmt *v; /* owned */
	size_t n;
};

/* What a check needs to know; every string borrowed. */
struct ms_sqlcheck {
	enum ms_sql_dialect dialect;
	const char *alias;    /* the database alias, for messages */
	const char *member;   /* the member's path, for messages */
	const char *app_role; /* the application's role (PostgreSQL) or user name (MariaDB);
	                         NULL or "" refuses every OWNER TO, GRANT and DEFINER */
	const char *database; /* MariaDB: the one database a name may be qualified with
	                         (SHOW CREATE VIEW qualifies); NULL: none */
};

/* Splits text[0, len) and checks every statement. Returns 0 with *out
 * filled (free with ms_sql_script_clear; its statements point into text),
 * or -1 after logging one line such as "database 'A': 'M': statement 12
 * refused: ALTER ROLE (dump SQL may only create and alter the database's
 * own objects)" with *out empty. */
int ms_sqlcheck_script(const struct ms_sqlcheck *c, const char *text, size_t len, struct ms_sql_script *out);

void ms_sql_script_clear(struct ms_sql_script *s);

/* Checks every SQL member of `mdb`'s dump in the archive at `archive`
 * (streamed once; nothing is written anywhere): schema-pre.sql,
 * sequences.sql and schema-post.sql of a PostgreSQL dump, schema-pre.sql
 * and schema-post.sql of a MariaDB one (load.sql is never run: the restore
 * builds its own LOAD statements). `app_role` is the live application's
 * role or user name (the alias' ms_dbconf user; NULL or "": the operating
 * system user, as the client libraries do). Call it before the first
 * write of a restore and before verify --deep. 0, or -1 after logging. */
int ms_sqlcheck_archive(const char *archive, const struct ms_manifest_db *mdb, const char *app_role);
/* The same checks on the SQL members a verification of `archive` kept
 * (ms_verify_archive_keeping with MS_SQLCHECK_KEEP: one read of the
 * archive for both); a member over the keeping budget is read from the
 * archive again. 0, or -1 after logging. */
#define MS_SQLCHECK_KEEP_BUDGET ((size_t)64 << 20) /* a Modoboa schema is well under 1 MiB */
bool ms_sqlcheck_wanted(const char *path, void *ctx); /* every db/ALIAS/NAME.sql member */
#define MS_SQLCHECK_KEEP { ms_sqlcheck_wanted, NULL, MS_SQLCHECK_KEEP_BUDGET }
int ms_sqlcheck_verified(const char *archive, const struct ms_verify_result *vr, const struct ms_manifest_db *mdb,
			 const char *app_role);

#endif
