/*
 * The configuration file (/etc/modosnap.conf or -c FILE): INI syntax read
 * with inih. Every value discovery would find can be overridden here.
 *
 *   [modosnap]
 *   instance = /srv/modoboa/instance
 *   postfix_dir = /etc/postfix
 *   dest = /var/backups/modosnap
 *   venv = /srv/modoboa/env
 *   label = mail1
 *   lock_timeout = 60       ; seconds a restore waits for one database lock
 *   signing_key = /etc/modosnap/signing.key    ; created 0600 on first use
 *   trusted_keys = /etc/modosnap/trusted_keys  ; other servers' public keys
 *   exclude = *.pyc          ; repeatable: files `create` leaves out
 *   system_root = /          ; well-known system locations are looked up under it
 *   capture_venv = no        ; yes: every snapshot holds the virtualenv
 *   components = instance postfix db dkim system   ; the default set (space/comma list)
 *   dkim_dir = /var/lib/dkim ; the DKIM key directory when the database does not say
 *
 *   [paths]                 ; the system component
 *   include = /etc/foo.conf  ; repeatable: a file or directory added (as written)
 *   exclude = /etc/cron.d/x  ; repeatable: a discovered path left out
 *
 *   [mail]
 *   dir = /srv/vmail         ; the Maildir root (overrides Dovecot's mail_location)
 *   enabled = no             ; yes: every snapshot holds the mail store
 *
 *   [remote]                ; off-host copies through rclone (docs/offhost.md)
 *   rclone_config = /etc/modosnap/rclone.conf
 *   [remote:offsite]        ; one section per remote
 *   url = s3remote:bucket/modosnap
 *   push = always            ; always | nightly | pre-upgrade | never
 *   encrypt = yes            ; age-encrypt the copy (needs [encrypt] recipient)
 *
 *   [encrypt]
 *   recipient = age1...      ; repeatable: public keys only, never an identity
 *   local = no               ; yes: keep the snapshots of the destination encrypted too
 *
 *   [monitor]
 *   ping_url = https://hc-ping.com/UUID
 *   kind = healthchecks      ; healthchecks | uptime-kuma | ntfy (default: from the URL)
 *
 *   [db:default]            ; one section per DATABASES alias
 *   engine = postgresql     ; postgresql | mysql
 *   name = modoboa
 *   user = modoboa
 *   host = /run/postgresql  ; host name, IP, or socket dir/path
 *   port = 5432
 *   password_file = /etc/modosnap/default.pass   ; or: password = ...
 *   admin_user = postgres                        ; optional: creates a missing
 *   admin_password_file = /etc/modosnap/admin.pass ; database and role on restore
 *
 *   [retention]             ; prune's defaults (and create --nightly's)
 *   keep_last = 7
 *   keep_hourly = 24        ; periods are local time (TZ), as in restic
 *   keep_daily = 14
 *   keep_weekly = 8
 *   keep_monthly = 12
 *   keep_yearly = 3
 *   keep_within = 2d        ; everything younger than the newest snapshot - 2d
 *   keep_tag = release      ; repeatable
 *   keep_pre_upgrade = 3    ; newest pre-upgrade snapshots always kept
 *   keep_apt = 3            ; newest apt snapshots (the APT hook's) always kept
 *   keep_safety = 7d        ; restore's safety snapshots kept this long (0: off)
 *
 *   [hooks]                 ; shell commands run by create
 *   before = ...            ; a failure aborts the run
 *   after = ...
 *   on_error = ...
 *   pause = systemctl stop amavis     ; around the database snapshots
 *   resume = systemctl start amavis   ; and the file reads
 *
 * Unknown sections or keys, malformed lines, bad values and duplicate keys
 * are errors reported as "'FILE':LINE: ...".
 */
#ifndef MS_CONFIG_H
#define MS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "base/util.h"
#include "db/dbconf.h"

/* Per-alias database parameters; NULL fields are not set in the file. */
struct ms_config_db {
	char *alias;
	char *engine;        /* "postgresql" or "mysql" (validated) */
	char *name;
	char *user;
	char *host;
	char *port;          /* validated 1..65535 */
	char *password;      /* secret: from `password`, or read from password_file
	                        (one trailing newline stripped) */
	char *password_file; /* path, for messages */
	char *admin_user;    /* a role allowed to create the database and its role
	                        (restore onto a fresh server); NULL when not set */
	char *admin_password; /* secret, read from admin_password_file */
	char *admin_password_file;
	int line;            /* line of the section header */
};

/* One [remote:NAME] section: an rclone remote that receives copies. */
enum ms_push_when { MS_PUSH_NEVER, MS_PUSH_ALWAYS, MS_PUSH_NIGHTLY, MS_PUSH_PRE_UPGRADE };
struct ms_config_remote {
	char *name;          /* NAME: letters, digits, '_' or '-' */
	char *url;           /* `url = myremote:bucket/modosnap` (rclone's remote:path), no trailing '/' */
	int push;            /* `push = always|nightly|pre-upgrade|never`: enum ms_push_when; -1 when
	                        not set (always) */
	int encrypt;         /* `encrypt = yes|no`: 1 or 0; -1 when not set (yes) */
	int line;            /* line of the section header */
};

/* One `key = value` line of the file, for `modosnap config`. */
struct ms_config_origin {
	char *section;       /* "modosnap", "db:ALIAS", "retention", "hooks", "paths" or "mail" */
	char *key;
	int line;
	char *value;         /* as written; NULL for `password` and `ping_url` (secrets) */
};

struct ms_config {
	char *path;          /* file read, NULL for an empty config */
	char *instance;
	char *postfix_dir;
	char *dest;
	char *venv;
	char *label;
	char *signing_key;       /* Ed25519 private key that signs snapshots; NULL = not set
	                            (MS_DEFAULT_SIGNING_KEY, see ms_config_signing_key) */
	char *trusted_keys;      /* file of trusted public keys; NULL = not set */
	struct ms_strv exclude;  /* `exclude = PATTERN`, repeatable */
	long long min_free;      /* `min_free = SIZE`: bytes that must stay free on the
	                            destination's filesystem; -1 when not set */
	int lock_timeout;        /* `lock_timeout = SECONDS` (1..86400): longest wait of a
	                            restore for one database lock; -1 when not set (60) */
	char *system_root;       /* `system_root = DIR`; NULL = not set ("/") */
	int capture_venv;        /* `capture_venv = yes|no`: 1 or 0; -1 when not set */
	struct ms_strv components; /* `components = LIST`: the default set, each name
	                            checked ("instance", "postfix", "db", "db:ALIAS",
	                            "venv", "dkim", "system", "mail"), in file order
	                            without repeats; empty when not set */
	char *dkim_dir;          /* `dkim_dir = DIR`; NULL = not set */
	/* [paths]: absolute paths, repeatable */
	struct ms_strv paths_include, paths_exclude;
	/* [mail] */
	char *mail_dir;          /* `dir = DIR`; NULL = not set */
	int mail_enabled;        /* `enabled = yes|no`: 1 or 0; -1 when not set */
	/* [remote]: rclone itself */
	char *rclone_config;     /* `rclone_config = FILE`: rclone's own config (the credentials stay
	                            there); NULL = rclone's default */
	char *rclone;            /* `rclone = PATH`: the binary; NULL = rclone from PATH */
	struct ms_config_remote *remotes; /* [remote:NAME] sections, in file order */
	size_t n_remotes;
	/* [encrypt] */
	struct ms_strv recipients; /* `recipient = age1...`, repeatable (public keys only) */
	int encrypt_local;       /* `local = yes|no`: snapshots kept encrypted in the destination
	                            (NAME.age, docs/offhost.md); -1 when not set (no) */
	int encrypt_local_line;  /* its line, for the missing-recipient error */
	/* [monitor] */
	char *ping_url;          /* `ping_url = URL` (holds a token: a secret in output) */
	char *ping_kind;         /* `kind = healthchecks|uptime-kuma|ntfy`; NULL = from the URL */
	/* [retention]: -1 when not set */
	int keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly;
	int keep_pre_upgrade, keep_apt;
	long keep_within;        /* `keep_within = DURATION`, in seconds (0 = off) */
	long keep_safety;        /* `keep_safety = DURATION`, in seconds (0 = off) */
	struct ms_strv keep_tag; /* repeatable */
	/* [hooks]: shell command lines, NULL when not set */
	char *hook_before, *hook_after, *hook_on_error, *hook_pause, *hook_resume;
	struct ms_config_db *dbs;
	size_t n_dbs;
	struct ms_config_origin *origins; /* every key set, in file order */
	size_t n_origins;
};

/* Returns an empty configuration (no file). */
struct ms_config *ms_config_new(void);
/* Loads `path`. Returns NULL after logging an error naming file and line.
 * A password_file must be a regular file not readable by "other"; a
 * `password` set in a config file readable by "other" is refused. */
struct ms_config *ms_config_load(const char *path);
/* The signing key and trusted-keys paths: the configured ones, else
 * MS_DEFAULT_SIGNING_KEY / MS_DEFAULT_TRUSTED_KEYS (formats/sign.h).
 * Borrowed. */
const char *ms_config_signing_key(const struct ms_config *cfg);
const char *ms_config_trusted_keys(const struct ms_config *cfg);
/* [remote:NAME] for `name`, or NULL. Borrowed. */
const struct ms_config_remote *ms_config_remote(const struct ms_config *cfg, const char *name);
/* Section for `alias`, or NULL. Borrowed. */
const struct ms_config_db *ms_config_db(const struct ms_config *cfg, const char *alias);
/* What the database engines get of [db:ALIAS]: admin_user and
 * admin_password, borrowed from cfg (both NULL without the section). */
struct ms_db_admin ms_config_db_admin(const struct ms_config *cfg, const char *alias);
/* The keys the file accepts in a section kind ("modosnap", "db",
 * "retention", "hooks", "paths" or "mail"), in the table's order: the i-th name, NULL past
 * the last. Borrowed. */
const char *ms_config_key_name(const char *kind, size_t i);
/* The last line of the file that set `key` in `section` ("db:ALIAS" for a
 * database), or NULL when the file does not set it. Borrowed. */
const struct ms_config_origin *ms_config_origin(const struct ms_config *cfg, const char *section, const char *key);
/* Whether `name` is a component name the config and the command line
 * accept ("instance", "postfix", "db", "db:ALIAS", "venv", "dkim",
 * "system", "mail"; "mail:..." is a restore selector, not a component). */
bool ms_config_component_valid(const char *name);
/* Parses a duration of the config: a number with a unit s, m, h, d or w
 * ("7d", "12h"), or "0"; up to 100 years. 0 and *secs set, or -1
 * (nothing logged). */
int ms_config_parse_duration(const char *s, long *secs);
/* Frees everything; passwords are zeroed first. NULL is a no-op. */
void ms_config_free(struct ms_config *cfg);

#endif
