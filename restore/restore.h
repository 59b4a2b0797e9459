/*
 * The restore engine, the mirror of the snapshot engine
 * (snapshot/snapshot.h): brings an installation back from a snapshot —
 * the instance directory, the Postfix files and the databases. The steps
 * are plan -> safety snapshot -> components -> proof: ms_restore_open
 * picks the archive and locks its destination, ms_restore_prepare
 * verifies the whole archive and decides every target before the first
 * write (the caller shows the plan from the fields below),
 * ms_restore_check makes sure the run can finish (space, connections,
 * signing key), and ms_restore_run takes the safety snapshot, restores
 * each component atomically and proves the result by recomputing every
 * file hash and table digest from the live system. docs/restore.md is the
 * user's guide.
 */
#ifndef MS_RESTORE_H
#define MS_RESTORE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/util.h"
#include "discover/instance.h"
#include "formats/verify.h"
#include "restore/files.h"
#include "restore/progress.h"
#include "restore/targets.h"

struct ms_config;
struct ms_sign_key;
struct ms_table_count;

/* How a step ended; the command line turns it into its exit code. */
enum ms_restore_status {
	MS_RESTORE_OK = 0,
	MS_RESTORE_FAILED,   /* logged; nothing or a consistent part was changed */
	MS_RESTORE_USAGE,    /* --only names a component the snapshot lacks */
	MS_RESTORE_LOCKED,   /* another run holds the destination */
	MS_RESTORE_VERIFY,   /* the archive failed verification or trust, or is hostile */
};

/* What to restore, built by the command line. Everything borrowed for
 * the life of the run. */
struct ms_restore_request {
	const struct ms_config *config;   /* targets, [db:ALIAS] settings, keys, label */
	const char *dest;                 /* the destination directory */
	const char *selector;             /* which snapshot of dest (ms_dest_select) */
	const struct ms_strv *only;       /* --only COMPONENT...; empty: every one */
	const char *root;                 /* --root DIR, or NULL */
	const char *lock_holder;          /* recorded in the lock file (ms_dest_lock_wait) */
	struct ms_instance_opts inst;     /* --instance, --postfix-dir */
	bool dry_run;                     /* plan only: no lock, no write */
	bool no_safety;                   /* --no-safety-snapshot */
	bool plan_unseen;                 /* the plan is shown to no one (-q --yes): its tables are
	                                     counted, their rows not read for digests */
	bool allow_unsigned;              /* --allow-unsigned */
	bool accept_snapshot;             /* --accept-snapshot-targets */
	const char *system_root;          /* --system-root DIR, or NULL (the config's, else "/") */
	struct ms_progress *progress;     /* NULL, or what ms_restore_run is doing, for a progress
	                                     line drawn by another thread (its total set there) */
};

/* One database component of the plan. */
struct ms_restore_db {
	char *alias;                      /* owned */
	const struct ms_manifest_db *mdb; /* borrowed from the manifest */
	const struct ms_dbconf *conf;     /* borrowed from `dbs_from` or `snap_dbs` */
	const struct ms_dbconf *snap;     /* the snapshot's settings for it (shown), or NULL */
	bool from_snapshot;               /* conf is the snapshot's, accepted */
	bool reachable;                   /* the live database answered the plan's query */
};

/* Everything one restore run knows. The fields are the plan the caller
 * shows; only the engine writes them. Zero it before ms_restore_open. */
struct ms_restore {
	const struct ms_restore_request *req;
	const char *archive;              /* the snapshot's path (owned) */
	int lock;                         /* the destination's lock, or -1 */
	struct ms_verify_result vr;
	bool trusted;                     /* signed by a trusted key (not only accepted by --allow-unsigned) */
	bool do_instance, do_postfix;
	char *instance_target, *postfix_target; /* where the files go (decided here, not by the archive) */
	enum ms_target_origin instance_origin, postfix_origin;
	char *live_instance, *live_postfix;     /* this machine's installation, before --root */
	struct ms_restore_db *dbs;
	size_t n_dbs;
	struct ms_instance *dbs_from;     /* this machine's database settings (owned) */
	struct ms_instance *snap_dbs;     /* the snapshot's settings.py, merged with the config (owned) */
	struct ms_instance *snap_raw;     /* the snapshot's settings.py as it is, for the plan (owned) */
	bool snap_read;                   /* snap_raw and snap_dbs were looked for */
	struct ms_instance *live;         /* the live installation when discoverable (owned) */
	char *safety_path;                /* the safety snapshot written */
	/* the whole-server components (restore/server.c), decided by this
	 * machine like the instance and Postfix targets */
	bool do_venv, do_dkim, do_system, do_mail;
	char *venv_target, *mail_target;  /* where the trees go (mail: the store's root) */
	enum ms_target_origin venv_origin, mail_origin;
	struct ms_strv mailboxes;         /* --only mail:USER@DOMAIN; empty: the whole store */
	struct ms_strv mailbox_prefixes;  /* their members ("files/mail/example.org/alice") */
	struct ms_strv mailbox_targets;   /* and where each goes */
	char *system_root;                /* where system files go ("/" on a running server) */
	char *dkim_dir;                   /* the DKIM directory this machine names, and who names it */
	const char *dkim_from;
	struct ms_root_target *dkim, *system; /* every root and its target (strings owned) */
	size_t n_dkim, n_system;
	struct ms_sign_key *sign_key;     /* signs the safety snapshot (owned) */
};

/* Selects the archive and, unless dry_run, prepares and locks the
 * destination (the safety snapshot goes there). `req` is borrowed until
 * ms_restore_clear. */
enum ms_restore_status ms_restore_open(struct ms_restore *r, const struct ms_restore_request *req);

/* Verifies the archive (integrity, trust, hostile content), decides the
 * targets and database settings and discovers the live installation.
 * Nothing is written. */
enum ms_restore_status ms_restore_prepare(struct ms_restore *r);

/* The current tables of database s (table counts, *now owned by the
 * caller: ms_table_counts_free), for the plan; sets s->reachable. Muted:
 * 0, or -1 when the database cannot be read now. */
int ms_restore_db_now(const struct ms_restore *r, struct ms_restore_db *s, struct ms_table_count **now,
		      size_t *n);

/* Before the first write: room for the files, every connection the
 * restore needs, the key that signs the safety snapshot. */
enum ms_restore_status ms_restore_check(struct ms_restore *r);

/* The safety snapshot, then every component, then the proof. Prints
 * what it did on stdout. */
enum ms_restore_status ms_restore_run(struct ms_restore *r);

/* Releases the lock and everything the run holds. */
void ms_restore_clear(struct ms_restore *r);

#endif
