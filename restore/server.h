/*
 * The whole-server components of a restore (docs/restore.md): the
 * virtualenv and the mail store (trees, swapped in atomically like the
 * instance; one mailbox alone with --only mail:USER@DOMAIN), the DKIM keys
 * and the service configuration (rooted components: each root put back at
 * its own path, files beside it untouched). As for the instance, this
 * machine decides where each goes, never the archive:
 *  - venv: [modosnap] venv, else the live instance's virtualenv, else
 *    /srv/modoboa/env when the snapshot's is the same; the snapshot's only
 *    with --accept-snapshot-targets;
 *  - mail: [mail] dir, else the root Dovecot's mail_location names here,
 *    else /srv/vmail, likewise;
 *  - dkim: each root must lie in the DKIM directory this machine names
 *    ([modosnap] dkim_dir, else the live default database's
 *    admin.dkim_keys_storage_dir, else /var/lib/dkim), or be a key or map
 *    file the live database names; with --accept-snapshot-targets any
 *    path ms_target_check allows;
 *  - system: each root goes to the system root here (--system-root,
 *    [modosnap] system_root, else /) joined with its path, and only into a
 *    place the system component captures from (ms_server_system_allowed:
 *    the well-known service directories, [paths] include, the Postfix
 *    directory).
 */
#ifndef MS_RESTORE_SERVER_H
#define MS_RESTORE_SERVER_H

#include <stdint.h>

#include "restore/restore.h"
#include "snapshot/snapshot.h"

/* Decides every target of the whole-server components the run restores
 * (after the instance and Postfix targets). 0, or -1 after logging why a
 * target is refused. */
int ms_restore_server_choose(struct ms_restore *r);

/* The safety snapshot's part: what exists now and will be replaced
 * (components pushed to *only, paths set in *o, the root lists filled;
 * the caller clears them after the snapshot). */
void ms_restore_server_safety(const struct ms_restore *r, struct ms_strv *only, struct ms_create_opts *o,
			      struct ms_strv *dkim_roots, struct ms_strv *system_roots, struct ms_strv *system_files);

/* Restores them: 0, or -1 after logging (each one as before or complete). */
int ms_restore_server_run(struct ms_restore *r);

/* The proof: each restored component against the snapshot; the number
 * that differ (each logged). */
int ms_restore_server_report(struct ms_restore *r);

/* The bytes restoring them reads, for the progress line. */
uint64_t ms_restore_server_bytes(const struct ms_restore *r);

/* Frees what ms_restore_server_choose set. */
void ms_restore_server_clear(struct ms_restore *r);

/* Helpers of the engine (restore.c) that this part shares. */
bool ms_restore_selected(const struct ms_restore_request *q, const char *component);
char *ms_restore_under_root(const char *root, const char *path);
int ms_restore_check_place(const struct ms_restore *r, const char *component, const char *target);
char *ms_restore_staging_of(const char *target);
void ms_restore_say(const struct ms_restore *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ms_restore_tree(struct ms_restore *r, const char *component, const char *prefix, const char *target);
void ms_restore_say_owners(const struct ms_restore *r, const struct ms_files_stats *st);

#endif
