/*
 * What the database layer needs to reach one database: the engine and the
 * resolved connection parameters of one DATABASES alias. Discovery
 * (discover/instance.c) fills it from settings.py and the config file;
 * every module of src/db/ and the engine files of restore/ take it (and,
 * where they create databases, an ms_db_admin) as their only description
 * of a database.
 */
#ifndef MS_DB_DBCONF_H
#define MS_DB_DBCONF_H

enum ms_db_engine {
	MS_DB_POSTGRESQL,
	MS_DB_MYSQL,
};

/* One DATABASES alias with every connection parameter resolved. */
struct ms_dbconf {
	char *alias;
	enum ms_db_engine engine;
	char *engine_setting; /* the ENGINE string from settings.py, or the config's engine */
	char *name;
	char *user;           /* "" when unset */
	char *host;           /* "" = default local socket; "/..." = socket dir (pg) or path (mysql) */
	char *port;           /* "" = default */
	char *password;       /* secret; NULL when none is set */
	const char *password_source; /* "settings.py", "config", "password_file" or NULL */
};

/* The administrator account of a database's server ([db:ALIAS]
 * admin_user and admin_password_file): what restore and verify --deep use
 * to create a missing database, its role or account, and scratch copies.
 * Both strings are borrowed from the caller, which owns (and zeroes) the
 * password; nothing here copies it. `user` NULL: none is configured. */
struct ms_db_admin {
	const char *user;
	const char *password; /* secret; NULL when none is set */
};

/* "postgresql" or "mysql". */
const char *ms_db_engine_name(enum ms_db_engine e);

#endif
