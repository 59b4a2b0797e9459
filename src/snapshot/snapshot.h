/*
 * The snapshot engine of `create`: builds the header, captures each
 * component into a new archive written atomically in the destination
 * directory (`NAME.partial`, fsync, link to the final name, fsync the
 * directory), and appends the manifest. Database components plug in here
 * in later issues.
 */
#ifndef MS_SNAPSHOT_H
#define MS_SNAPSHOT_H

#include "formats/snaparchive.h"
#include "snapshot/capture.h"
#include "formats/sign.h"
#include "db/db.h"
#include "discover/instance.h"
#include "base/util.h"

struct ms_create_opts {
	const char *dest;                /* destination directory (must exist, locked) */
	const char *label;               /* archive name label; NULL = host name */
	const struct ms_strv *tags;
	const char *note;                /* NULL = none */
	const char *upgrade_to;          /* header upgrade_to; NULL = none */
	int level;                       /* zstd level (0 = default) */
	const struct ms_strv *excludes;  /* capture exclude patterns */
	const struct ms_db_probe *probes; /* one per instance db, for the versions; NULL = not probed */
	bool dump_dbs;                   /* dump the PostgreSQL databases (component db:ALIAS) */
	size_t chunk_size;               /* data chunk size (0 = MS_CHUNK_SIZE) */
	const struct ms_strv *only;      /* components to take ("instance", "postfix",
	                                    "db:ALIAS"); NULL = all (restore's safety snapshots) */
	const struct ms_sign_key *sign_key; /* signs MANIFEST.json (member MANIFEST.json.sig),
	                                       loaded by the caller before any work; NULL =
	                                       an unsigned archive */
	_Atomic uint64_t *progress;      /* NULL, or counts the content bytes written (read by
	                                    a progress display in another thread) */
	/* The whole-server components (FORMAT.md §4.3), each taken when its
	 * path is given and the component is wanted: */
	const char *venv_dir;            /* "venv": the virtualenv, as files/venv */
	const char *mail_dir;            /* "mail": the Maildir root, as files/mail (Maildir mode) */
	const char *mail_layout;         /* recorded with it ("%d/%n") */
	const char *dkim_dir;            /* recorded in the header (the roots below hold it) */
	const struct ms_strv *dkim_roots; /* "dkim": absolute paths, each as files/dkim/PATH */
	const char *system_root;         /* recorded in the header ("/" when NULL) */
	const struct ms_strv *system_roots; /* "system": logical paths (relative to the
	                                      system root), each as files/system/PATH, */
	const struct ms_strv *system_files; /* read from the file at the same index */
	bool to_fd;                      /* write the archive to output_fd (create --output -)
	                                    instead of DEST/NAME: no partial file, nothing
	                                    published, dest unused; res->path stays NULL */
	int output_fd;
};

#define MS_CHUNK_SIZE ((size_t)16 << 20)

struct ms_create_result {
	char *path;            /* final archive path */
	char *snapshot_id;
	struct ms_strv components;
	struct ms_archive_stats archive;
	struct ms_capture_stats capture;
};

/* Creates one snapshot. Returns 0 (warnings such as changed files are
 * logged and counted), or -1 after logging; on failure no file is left
 * under a final name and the partial file is removed. */
int ms_snapshot_create(const struct ms_instance *inst, const struct ms_create_opts *o,
		       struct ms_create_result *res);
void ms_create_result_clear(struct ms_create_result *res);

/* Installs SIGINT/SIGTERM/SIGHUP handlers that remove the partial file of
 * the snapshot being written before exiting (SIGKILL leaves it for the next
 * run's clean-up). */
void ms_snapshot_install_signal_cleanup(void);

/* create's handling of SIGINT/SIGTERM/SIGHUP (installs the handlers): the
 * first one removes the partial file and is recorded instead of ending the
 * process; the writer then fails at its next call, and ms_snapshot_create
 * fails without publishing, logging "interrupted by SIGTERM before the
 * snapshot was published: no archive written in 'DEST'". A signal held
 * pending by a blocked mask counts the same. The caller ends the run as a
 * failure (on_error hook, exit 1). A second signal ends the process at
 * once (partial removed), e.g. when a database stalls between writes. */
void ms_snapshot_interrupt_gracefully(void);
/* While `path` (a published pre-upgrade archive not verified yet) is set,
 * a signal that ends the process (the second one in graceful mode) first
 * renames it to PATH.unverified, never replacing a file; NULL clears it.
 * SIGKILL cannot be caught: guard and restore still require the
 * verification record such an archive never got. */
void ms_snapshot_set_aside_on_signal(const char *path);
/* While `path` (a decrypted copy in a private directory) is set, a signal
 * that ends the process removes it, its PATH.partial and the directory
 * first (installs the handlers); NULL clears it. SIGKILL cannot be
 * caught: the private directory is 0700 in a 0700 destination. */
void ms_snapshot_remove_on_signal(const char *path);
/* The interrupting signal (recorded, or pending while blocked), 0 if none. */
int ms_snapshot_interrupted(void);
/* "SIGINT", "SIGTERM", "SIGHUP" (else "a signal"): static text. */
const char *ms_snapshot_signal_name(int sig);

#endif
