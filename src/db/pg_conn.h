/*
 * Helpers shared by the PostgreSQL modules (pg_conn.c, pg_dump.c,
 * restore/pg_restore.c, restore/pg_scratch.c): connecting, running
 * statements and queries with one error convention, and the session
 * settings that fix the text of every row a dump reads and a restore
 * recomputes. Only those modules include libpq-fe.h; `struct pg_conn` and
 * `struct pg_result` are libpq's PGconn and PGresult, named here without
 * including it, as my_conn.h does for the MariaDB connector.
 */
#ifndef MS_PG_CONN_H
#define MS_PG_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include "db/dbconf.h"

struct pg_conn;
struct pg_result;

/* Connects with db's parameters (the password never goes into a
 * connection string). Server notices are logged naming db->alias, which
 * must outlive the connection. NULL after logging "unable to connect to
 * database 'A' (postgresql, WHERE): <libpq message>". */
struct pg_conn *ms_pg_connect(const struct ms_dbconf *db);
/* The same, but a refused connection is logged at debug level only: for
 * an extra connection the caller can do without. */
struct pg_conn *ms_pg_connect_quiet(const struct ms_dbconf *db);

/* msg with every whitespace run collapsed to one space and no leading or
 * trailing whitespace (libpq messages span lines). Caller frees. */
char *ms_pg_one_line(const char *msg);

/* The one-line message of a failed result, or of the connection's last
 * error when res is NULL or carries none. Caller frees. */
char *ms_pg_message(struct pg_conn *conn, const struct pg_result *res);

/* Reports a failed statement or query: logs one error and returns -1.
 * `res` is the failed result (NULL, or one without a message: the
 * connection's last error is shown instead); it is not cleared. */
typedef int (*ms_pg_report_fn)(struct pg_conn *conn, const char *alias, const char *what,
			       const struct pg_result *res);

/* The usual report: "database 'A': WHAT failed: <libpq message>", on one
 * line. Returns -1. */
int ms_pg_error(struct pg_conn *conn, const char *alias, const char *what, const struct pg_result *res);

/* Runs SQL that returns no rows, or rows that are discarded (possibly
 * several statements, through the simple protocol). 0, or -1 after
 * `report` (NULL: ms_pg_error) has logged the failure. */
int ms_pg_exec(struct pg_conn *conn, const char *alias, const char *sql, const char *what,
	       ms_pg_report_fn report);
/* Like ms_pg_exec for exactly one statement: the extended protocol
 * refuses a text holding several, so what a checker split is what runs. */
int ms_pg_exec_one(struct pg_conn *conn, const char *alias, const char *sql, const char *what,
		   ms_pg_report_fn report);

/* Runs a query expected to return rows, with `n` text parameters $1..$n
 * (n = 0: none). Returns the result (caller PQclears it), or NULL after
 * `report` (NULL: ms_pg_error) has logged the failure. */
struct pg_result *ms_pg_rows(struct pg_conn *conn, const char *alias, const char *sql, int n,
			     const char *const *params, const char *what, ms_pg_report_fn report);

/* Runs a query without parameters that returns one row and reads its
 * first column: a copy (caller frees), or NULL after `report` (NULL:
 * ms_pg_error) has logged the failure (no row is one). */
char *ms_pg_value(struct pg_conn *conn, const char *alias, const char *sql, const char *what,
		  ms_pg_report_fn report);

/* Runs `sql`, a COPY ... TO STDOUT, and hands every row's text line
 * (ending in '\n') to cb, in order. 0 once the COPY completed, or -1
 * after logging as ms_pg_error (naming `what`), or cb's -1 (the
 * connection is then still inside the COPY: finish it). */
typedef int (*ms_pg_row_cb)(void *ctx, const char *row, size_t len);
int ms_pg_copy_out(struct pg_conn *conn, const char *alias, const char *sql, const char *what, ms_pg_row_cb cb,
		   void *ctx);

/* Pins the settings that change the text of rows (DateStyle ISO,
 * IntervalStyle postgres, extra_float_digits 3, TimeZone UTC, bytea_output
 * hex, standard_conforming_strings on) — a dump's digests and a restore's
 * recomputed ones agree only under the same ones — with no
 * statement_timeout and no idle_in_transaction_session_timeout (a dump
 * idles while pg_dump runs, a restore while the archive is read), and
 * lock_timeout `lock_timeout_s` seconds (0: none). With `check_client`,
 * on PostgreSQL 14 and later, client_connection_check_interval lets the
 * server notice a killed client within seconds and end its backend,
 * releasing its locks. Then sets the client encoding to `encoding` when
 * not NULL or empty. 0, or -1 after `report` (NULL: ms_pg_error) has
 * logged "pinning session settings" or "setting client_encoding". */
int ms_pg_pin_session(struct pg_conn *conn, const char *alias, int lock_timeout_s, bool check_client,
		      const char *encoding, ms_pg_report_fn report);

#endif
