/*
 * What a Modoboa server holds outside the instance directory, the Postfix
 * maps and the databases: the DKIM keys (where the `default` database
 * says), the service configuration an upgrade touches (found by content
 * in the well-known system locations, looked up under a system root),
 * the side files main.cf and master.cf name, the state directories of
 * core_localconfig, the Maildir store (from Dovecot's mail_location) and
 * MODOBOA_ENCRYPTION_KEY. Nothing here reads a file's content into a
 * result: only paths and the reasons they are taken.
 */
#ifndef MS_SERVER_H
#define MS_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "db/params.h"
#include "base/util.h"

struct ms_config;
struct ms_instance;

/* One root of the dkim or system component. */
struct ms_found {
	char *path;   /* logical absolute path: the archive's name for it
	                 (files/system/<path without '/'>) */
	char *reason; /* why it is captured, e.g. "names the instance directory" */
	char *file;   /* where it is on this machine: system_root + path for
	                 what was found in a well-known location, path itself
	                 for a path named by the database, a configuration
	                 file or [paths] include (used as written) */
};

struct ms_server {
	char *system_root;          /* "/" by default */
	char *dkim_dir;             /* NULL when none */
	char *dkim_from;            /* "database (admin.dkim_keys_storage_dir)" or "config"; NULL with dkim_dir */
	struct ms_found *dkim;      /* roots: the directory (when it exists), key files named by
	                               admin_domain outside it, the rspamd map files (as written) */
	size_t n_dkim;
	size_t dkim_keys;           /* key files named by admin_domain that are present */
	struct ms_strv dkim_missing; /* "example.org: /var/lib/dkim/example.org.pem" for each
	                                ENABLED domain whose key file is missing */
	struct ms_found *system;    /* roots, sorted by path; no root inside another */
	size_t n_system;
	char *mail_dir;             /* the Maildir root, e.g. "/srv/vmail"; NULL when not found */
	char *mail_from;            /* "dovecot mail_location in /etc/dovecot/conf.d/10-mail.conf",
	                               "dovecot mail_home in ..." or "config" */
	char *mail_layout;          /* below mail_dir, e.g. "%d/%n"; NULL when unknown */
	bool has_amavis;            /* an "amavis" alias exists (Modoboa 2.3-2.9 may have none) */
	char *encryption_key;       /* secret: MODOBOA_ENCRYPTION_KEY from settings.py (a literal)
	                               or the instance's .env; NULL when neither sets it */
};

/* Discovers the server around `inst` into *out (zeroed first).
 * `system_root` (NULL: cfg's system_root, else "/") is where the
 * well-known locations are looked up; `params` may be NULL (database
 * unreachable): then DKIM comes from [modosnap] dkim_dir only, which
 * otherwise wins over the database too (config > discovery). Unreadable
 * files and directories are skipped with a warning; a [paths] include
 * that does not exist is a warning. 0, or -1 after logging (a system
 * root that is not a directory). */
int ms_server_discover(const struct ms_instance *inst, const struct ms_config *cfg, const char *system_root,
		       const struct ms_modoboa_params *params, struct ms_server *out);
/* MODOBOA_ENCRYPTION_KEY as settings.py text says it (a string literal),
 * else as .env text does (KEY=value, optional `export ` and quotes); either
 * text may be NULL (a snapshot's members, read into memory). NULL when
 * neither sets it. Caller frees (a secret: ms_free_secret). */
char *ms_encryption_key_from_text(const char *name, const char *settings, size_t len, const char *env);
/* The same for the installation on disk (its settings.py, then the
 * instance's .env). */
char *ms_encryption_key(const struct ms_instance *inst);
/* Frees everything (the encryption key zeroed) and zeroes *s. */
void ms_server_clear(struct ms_server *s);

/* Whether logical path `path` may be a root of the system component on
 * this machine (restore's live-side rule): inside one of the well-known
 * locations, a [paths] include, or the Postfix directory `postfix_dir`
 * (may be NULL). */
bool ms_server_system_allowed(const struct ms_config *cfg, const char *postfix_dir, const char *path);
/* The same, also allowing the state directories `params` names
 * (pdfcredentials.storage_dir, maillog.rrd_rootdir); params may be NULL. */
bool ms_server_system_allowed_params(const struct ms_config *cfg, const char *postfix_dir,
				     const struct ms_modoboa_params *params, const char *path);

#endif
