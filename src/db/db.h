/*
 * The engine-neutral database interface. Each engine (pg_conn.c for
 * PostgreSQL through libpq, my_conn.c for MariaDB/MySQL through
 * mariadb-connector-c) fills one ms_db_ops table; callers dispatch through
 * ms_db_ops_for(). Only the engine modules include their client library;
 * what the PostgreSQL and MariaDB modules share among themselves is in
 * pg_conn.h and my_conn.h.
 */
#ifndef MS_DB_H
#define MS_DB_H

#include <stdbool.h>
#include <stddef.h>

#include "db/dbconf.h"

/* The latest applied migration of one Django app. */
struct ms_migration_head {
	char *app;
	char *name;
};

/* What `inspect` learns from a live database. */
struct ms_db_probe {
	char *server_version;  /* e.g. "15.18" or "10.11.19-MariaDB-0+deb12u1" */
	long long size_bytes;  /* pg_database_size / sum of data and index length */
	char *encoding;        /* database encoding (pg) or default charset (mysql) */
	bool has_migrations;   /* a django_migrations table exists */
	long long n_migrations;
	struct ms_migration_head *heads; /* sorted by app */
	size_t n_heads;
};

struct ms_db_ops {
	const char *engine;
	/* Connects with `db`'s parameters and fills *out. Returns 0, or -1
	 * after logging an error naming the alias with the client library's
	 * message. *out is cleared on failure. */
	int (*probe)(const struct ms_dbconf *db, struct ms_db_probe *out);
};

const struct ms_db_ops *ms_db_ops_for(enum ms_db_engine engine);

/* Convenience: dispatches to the engine's probe. */
int ms_db_probe(const struct ms_dbconf *db, struct ms_db_probe *out);
void ms_db_probe_clear(struct ms_db_probe *p);

/* "modoboa@/run/postgresql:5432"-style description without the password,
 * for messages; caller frees. */
char *ms_db_describe(const struct ms_dbconf *db);

/* Engine tables (defined by the engine modules). */
extern const struct ms_db_ops ms_pg_ops;
extern const struct ms_db_ops ms_my_ops;

#endif
