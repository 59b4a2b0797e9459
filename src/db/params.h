/*
 * What the `default` database says about files outside the instance
 * directory: the DKIM key directory and key files, the rspamd DKIM maps
 * and the state directories of pdfcredentials and maillog
 * (core_localconfig._parameters, shaped {app: {param: value}}, and
 * admin_domain). The JSON is taken apart by the server (PostgreSQL's #>>,
 * MariaDB/MySQL's JSON_EXTRACT), so no JSON library is needed here. A
 * database without those tables (fresh, or not Modoboa's) is not an
 * error: the fields stay NULL/empty.
 */
#ifndef MS_DB_PARAMS_H
#define MS_DB_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

#include "db/dbconf.h"

/* One row of admin_domain. */
struct ms_dkim_domain {
	char *name;
	char *key_path; /* dkim_private_key_path; NULL when empty */
	bool enabled;   /* enable_dkim */
};

/* Every string is owned; NULL when the database does not set it (an
 * empty string counts as not set). */
struct ms_modoboa_params {
	char *dkim_dir;            /* admin.dkim_keys_storage_dir */
	char *rspamd_key_map;      /* rspamd.key_map_path */
	char *rspamd_selector_map; /* rspamd.selector_map_path */
	char *pdf_dir;             /* pdfcredentials.storage_dir */
	char *rrd_dir;             /* maillog.rrd_rootdir */
	struct ms_dkim_domain *domains; /* admin_domain, by name */
	size_t n_domains;
};

/* Connects to `db` (PostgreSQL or MariaDB/MySQL) and reads its
 * parameters into *out (zeroed first). 0, or -1 after logging the
 * connection or query failure (naming db->alias); *out is then empty. */
int ms_db_read_params(const struct ms_dbconf *db, struct ms_modoboa_params *out);
/* Seconds the read waits for a table another session holds (a migration,
 * a long transaction) before it gives up with an error naming the lock. */
#define MS_PARAMS_LOCK_TIMEOUT "5"
/* Frees every field and zeroes *p. */
void ms_modoboa_params_clear(struct ms_modoboa_params *p);

/* --- for the engine readers (pg_params.c; MariaDB's is in params.c) --- */

/* The queries' values by position: the five parameters in the order of
 * the struct (dkim_dir .. rrd_dir). */
#define MS_PARAMS_N 5
/* {app, param} of each, e.g. {"admin", "dkim_keys_storage_dir"}. */
extern const char *const ms_params_keys[MS_PARAMS_N][2];
/* Sets the i-th parameter (i < MS_PARAMS_N) to a copy of value; NULL or
 * "" leaves it NULL. */
void ms_params_set(struct ms_modoboa_params *p, size_t i, const char *value);
/* Appends a domain (key_path NULL or "" is stored as NULL). */
void ms_params_add_domain(struct ms_modoboa_params *p, const char *name, const char *key_path, bool enabled);
/* PostgreSQL's reader (pg_params.c): as ms_db_read_params. */
int ms_pg_read_params(const struct ms_dbconf *db, struct ms_modoboa_params *out);

#endif
