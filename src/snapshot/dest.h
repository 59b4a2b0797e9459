/*
 * The destination directory of snapshots: creating it (0700), locking it
 * for the duration of a run (flock, released when the process dies, so no
 * stale locks), removing stale `.partial` files left by an interrupted run,
 * and listing the snapshot archives it holds.
 */
#ifndef MS_DEST_H
#define MS_DEST_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define MS_DEFAULT_DEST "/var/backups/modosnap"
#define MS_PARTIAL_SUFFIX ".partial"
#define MS_LOCK_NAME ".modosnap.lock"

/* Creates `dest` (mode 0700; missing parents 0755) when absent, then
 * checks it (ms_dest_check). 0 or -1 after logging. */
int ms_dest_prepare(const char *dest);

/* Whoever can write into the destination can plant the archive that
 * `restore latest` picks, or a symlink where modosnap writes: the
 * directory (open on dfd; `dest` names it in messages) must be owned by
 * the effective user or root and not be writable by group or others.
 * 0, or -1 after logging exactly one of
 *   unsafe destination 'DEST': writable by others (mode 0777); run chmod 0700 'DEST'
 *   unsafe destination 'DEST': owned by 'nobody' (uid 65534), not by root; run
 *   chown 0 'DEST' && chmod 0700 'DEST'
 * (for another user: "..., neither by 'alice' (uid 1000) nor by root; run
 * chown 1000 'DEST' && chmod 0700 'DEST' as root"),
 * ("its group" for a group-writable one), or "destination 'DEST' is not a
 * directory". Every function below that reads or writes the destination
 * (lock, clean-up, listing, selection) checks it first. */
int ms_dest_check_fd(int dfd, const char *dest);
int ms_dest_check(const char *dest); /* opens dest (following a symlink) and checks it */

/* Creates `path` (a file in a checked destination) for writing, mode
 * 0600 whatever the umask: a stale file, symlink or hard link of that name
 * is unlinked first (never followed), then O_CREAT|O_EXCL|O_NOFOLLOW. The
 * fd, or -1 with errno set (nothing logged). */
int ms_dest_create_file(const char *path);

/* Takes the run lock of `dest`, waiting up to wait_seconds (0: not at
 * all) while another run holds it. The holder's pid and `holder` (its
 * command line, ms_dest_command_line; NULL: "modosnap") are written into
 * the lock file for the next one's message. Returns the lock fd (keep it open for the whole run; the lock
 * dies with the process), -2 when another run holds it after the wait
 * (logged: "another modosnap run holds the lock on 'DEST' (pid N: CMD)"),
 * or -1 on other errors (logged). */
int ms_dest_lock_wait(const char *dest, unsigned wait_seconds, const char *holder);
int ms_dest_lock(const char *dest); /* ms_dest_lock_wait(dest, 0, NULL) */
/* The command line as a lock file records it (program name without its
 * directory, control characters as spaces, at most 511 bytes); the
 * caller frees. */
char *ms_dest_command_line(int argc, char **argv);


/* Removes `*.tar.zst.partial` files in dest (call with the lock held);
 * returns the number removed, -1 on error. */
int ms_dest_clean_partials(const char *dest);

/* A pre-upgrade snapshot that failed verification is set aside as
 * `ARCHIVE.unverified` (create). Removes all but the newest `keep` of them
 * (by the time in their names) that are regular files of ours, logging
 * "removed old unverified snapshot 'DEST/NAME' (the newest N are kept)"
 * for each (call with the lock held). Returns the number removed, -1 when
 * dest cannot be read. */
#define MS_UNVERIFIED_SUFFIX ".unverified"
#define MS_UNVERIFIED_KEEP 3
int ms_dest_clean_unverified(const char *dest, unsigned keep);

/* A snapshot archive found in dest. */
struct ms_dest_item {
	char *name;  /* base name */
	char *path;  /* full path */
	char stamp[17];
	long long size;
	bool encrypted; /* NAME.age ([encrypt] local = yes): read with an identity */
};

/* [encrypt] local = yes keeps a snapshot NAME as NAME.age (the age format,
 * formats/age.h), beside it NAME.age.header (a copy of its header, JSON:
 * what list, prune, select and guard read without the key),
 * NAME.age.verified (the plaintext was verified before it was encrypted)
 * and, written last, its marker NAME.age.ok (formats/marker.h: the
 * ciphertext's SHA-256 and size, the snapshot's id, time and tags). */
#define MS_ENCRYPTED_SUFFIX ".age"
#define MS_HEADER_SUFFIX ".header"
#define MS_HEADER_SIDE_MAX (16u << 20)
bool ms_dest_is_encrypted(const char *path); /* the name ends in ".age" */
/* The header of a snapshot for listing, selecting, pruning and guard:
 * read from the archive, or for an encrypted one from NAME.age.header.
 * 0 or -1 after logging. */
struct ms_header;
int ms_dest_read_header(const char *path, struct ms_header *h);
/* Removes an encrypted snapshot's marker, header copy and verification
 * record (its marker first: it is no longer complete). 0, or -1 after
 * logging. */
int ms_dest_remove_sidecars(const char *path);
/* Encrypts the snapshot `archive` of a destination to the n recipients:
 * ARCHIVE.age (through .partial), its header copy, its verification
 * record when the plaintext had one, and its marker last; then the
 * plaintext and its record are removed. On failure nothing of the
 * encrypted copy is left and the plaintext stays. The new path (caller
 * frees), or NULL after logging. */
struct ms_age_key;
char *ms_dest_encrypt(const char *archive, const struct ms_age_key *rcpt, size_t n);

/* Lists the archives in dest whose names parse as snapshot names, and the
 * complete encrypted ones (NAME.age with its marker), newest first.
 * Returns 0 or -1 after logging; free with ms_dest_items_free. */
int ms_dest_list(const char *dest, struct ms_dest_item **items, size_t *n);
void ms_dest_items_free(struct ms_dest_item *items, size_t n);


/* Verification records live beside the archive, never inside it:
 * `<archive>.verified` holds "<UTC time> <archive size> <archive mtime>
 * deep|shallow" (deep: the database dumps were also loaded into scratch
 * databases, verify --deep). ms_dest_mark_verified_as writes it
 * atomically (0600); ms_dest_verified_record fills `when` (20 chars + NUL)
 * and *deep (may be NULL) and returns 1 when a record exists and still
 * matches the archive's size and mtime, 0 otherwise (*deep false). A
 * record written before the fourth field existed reads as shallow. */
int ms_dest_mark_verified_as(const char *archive, bool deep);
int ms_dest_verified_record(const char *archive, char when[32], bool *deep);
/* The same, shallow; ignoring how deep. */
int ms_dest_mark_verified(const char *archive);
int ms_dest_verified_at(const char *archive, char when[32]);

/* Resolves a snapshot selector (docs/dev/design.md §2): a path to an archive;
 * or, inside dest, `latest`, `tag:NAME` (newest with that tag), a snapshot
 * id or unique id prefix, or an archive file name. Returns the archive path
 * (caller frees) or NULL after logging; ambiguous selectors list the
 * candidates. */
char *ms_dest_select(const char *dest, const char *selector);

#endif
