/*
 * Helpers shared by the MariaDB/MySQL modules (my_conn.c, my_dump.c,
 * restore/my_restore.c): the only code that includes mysql.h. `struct
 * st_mysql` is the client library's MYSQL handle, named here without
 * including mysql.h, as db.h does for libpq.
 */
#ifndef MS_MY_CONN_H
#define MS_MY_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include "db/dbconf.h"
#include "db/my_text.h"

struct st_mysql;

enum {
	MS_MY_NO_DB = 1 << 0,        /* connect without selecting db->name */
	MS_MY_LOCAL_INFILE = 1 << 1, /* allow LOAD DATA LOCAL (restore only) */
	MS_MY_QUIET = 1 << 2,        /* a refused connection is a debug line: the
	                                caller carries on without it */
};

/* Connects with db's host/port/socket, utf8mb4, as `user` with `password`
 * (NULL user: db's own user and password). The password is given to the
 * client library only, never put in a string. NULL after logging
 * "unable to connect to database 'A' (mysql, WHERE): <mysql_error>". */
struct st_mysql *ms_my_connect(const struct ms_dbconf *db, const char *user, const char *password,
			       unsigned flags);
void ms_my_close(struct st_mysql *m);

/* Runs statements that return no rows (results are discarded). 0, or -1
 * after logging "database 'A': WHAT failed: <mysql_error>". */
int ms_my_exec(struct st_mysql *m, const char *alias, const char *sql, const char *what);
/* Like ms_my_exec for a statement of len bytes (may contain NULs). */
int ms_my_exec_len(struct st_mysql *m, const char *alias, const char *sql, size_t len, const char *what);

/* A whole result in memory, as strings (NULL for SQL NULL). */
struct ms_my_rows {
	size_t n_rows, n_cols;
	char **cell; /* n_rows * n_cols, row-major; owned */
};
/* Runs a query and keeps its result; 0 or -1 after logging as ms_my_exec. */
int ms_my_select(struct st_mysql *m, const char *alias, const char *sql, const char *what, struct ms_my_rows *out);
const char *ms_my_cell(const struct ms_my_rows *r, size_t row, size_t col);
void ms_my_rows_clear(struct ms_my_rows *r);

/* `ident` with backticks doubled; caller frees. */
char *ms_my_ident(const char *ident);
/* `schema`.`name`, each quoted as by ms_my_ident; caller frees. */
char *ms_my_qualified(const char *schema, const char *name);
/* 'text' as an SQL string literal for this connection; caller frees. */
char *ms_my_literal(struct st_mysql *m, const char *text);

/* One column of a table as dumped: generated columns are left out. */
struct ms_my_column {
	char *name;
	enum ms_my_kind kind;
};
struct ms_my_columns {
	struct ms_my_column *v;
	size_t n;
};
/* The stored columns of `schema`.`table` in ordinal order; 0 or -1 after
 * logging. A table without stored columns is an error naming it. */
int ms_my_table_columns(struct st_mysql *m, const char *alias, const char *schema, const char *table,
			struct ms_my_columns *out);
void ms_my_columns_clear(struct ms_my_columns *c);

/* Streams every row of `schema`.`table` (mysql_use_result, so memory is
 * one row) and hands its data line — the fields of `cols` in the my_text
 * encoding, '\t'-separated, ending in '\n' — to cb. Returns the number of
 * rows, or -1 after logging (naming the table), or cb's -1. */
typedef int (*ms_my_line_cb)(void *ctx, const char *line, size_t len);
long long ms_my_stream_rows(struct st_mysql *m, const char *alias, const char *schema, const char *table,
			    const struct ms_my_columns *cols, ms_my_line_cb cb, void *ctx);

/* The LOAD DATA LOCAL INFILE statement that loads one chunk of data
 * lines of `table` (in `schema`, or unqualified when schema is NULL) from
 * `file`: CHARACTER SET utf8mb4, the line format of my_text.h, hex
 * columns through user variables and UNHEX()/CONV(). Caller frees. */
char *ms_my_load_sql(struct st_mysql *m, const char *file, const char *schema, const char *table,
		     const struct ms_my_columns *cols);

/* The session settings every dump and restore pins (time_zone '+00:00',
 * sql_mode NO_AUTO_VALUE_ON_ZERO plus `extra_mode` when not NULL, long
 * network timeouts). 0 or -1 after logging. */
int ms_my_pin_session(struct st_mysql *m, const char *alias, const char *extra_mode);

#endif
