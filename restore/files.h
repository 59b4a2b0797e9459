/*
 * The file restore engine: puts the file components of a verified
 * snapshot back (docs/dev/design.md §5). A directory component
 * ("files/instance") is extracted into a staging directory beside its
 * target, every file's content checked against the manifest as it is
 * written, then swapped in with one atomic rename (renameat2
 * RENAME_EXCHANGE when the target exists) and the old tree removed
 * afterwards. The Postfix component is a set of single files, each
 * replaced by write + fsync + rename, all written before the first is
 * renamed. The rooted components (files/dkim, files/system) put each root
 * back at its own target, like a tree or like a single file (rooted.c).
 * Nothing is ever written through a symlink: every path is resolved
 * below a directory this engine created or opened, with O_NOFOLLOW.
 */
#ifndef MS_FILES_H
#define MS_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/util.h"
#include "formats/manifest.h"
#include "restore/progress.h"

struct ms_files_stats {
	unsigned long files, dirs, symlinks, hardlinks;
	unsigned long owners_by_id; /* entries whose owner or group name does not exist here */
	unsigned long unsafe_modes; /* entries restored without setuid/setgid/world-writable bits */
	unsigned long dropped_xattrs; /* extended attributes not restored (security.*, trusted.*) */
	unsigned long long bytes;
};

/* Refuses a hostile manifest before anything is written: a member path
 * that is not safe (restore/safepath.h), a member outside modosnap.json,
 * the trees files/instance, files/venv and files/mail, files/postfix/<name>,
 * the rooted files/dkim/... and files/system/..., db/ and versions/; a
 * member whose parent is not a directory member listed before it (writing
 * through a symlink) — in a rooted component, a root has no member among
 * its ancestors instead, and is a file, a symlink or a directory; a
 * hardlink to anything but an earlier file of the same component (of the
 * same root, in a rooted one); a Postfix member that is not a plain file;
 * a tree's top that is not a directory; the prefix of a rooted component
 * as a member. Returns 0, or -1 after logging "refusing member 'PATH': WHY". */
int ms_files_check_manifest(const struct ms_manifest *m);

/* Extracts the members under `prefix` ("files/instance": the prefix
 * member is the directory itself; or a directory inside a tree, such as
 * the mailbox "files/mail/example.org/alice") of the archive at `archive` (whose
 * verified manifest is m) into `staging`, which must not exist. Owners
 * and groups by name when the name exists here, else by id (counted in
 * stats); only root restores owners. Modes, nanosecond mtimes, xattrs
 * and ACLs are set, directories last. The bytes extracted count into
 * progress (may be NULL). Returns 0, or -1 after logging (the partial
 * staging tree is removed). */
int ms_files_stage(const char *archive, const struct ms_manifest *m, const char *prefix, const char *staging,
		   struct ms_files_stats *stats, struct ms_progress *progress);

/* Puts `staging` in the place of `target` (same filesystem; the parent
 * of target exists): exchanged atomically when target exists, then the
 * old tree (now at `staging`) removed; renamed when it does not. The root's times are set again from
 * `root` (its manifest entry; may be NULL) afterwards, since a rename
 * may touch them. 0, or -1 after logging with target unchanged. */
int ms_files_swap(const char *staging, const char *target, const struct ms_manifest_entry *root);

/* Replaces each file member "<prefix>/<name>" as "<dir>/<name>": every
 * file is first written to a temporary name in dir and synced, then all
 * are renamed over their targets and dir is synced. Files of dir that
 * the snapshot does not hold are left alone. The bytes written count into
 * progress (may be NULL). 0, or -1 after logging (no target replaced
 * when writing failed). */
int ms_files_replace_each(const char *archive, const struct ms_manifest *m, const char *prefix, const char *dir,
			  struct ms_files_stats *stats, struct ms_progress *progress);

/* Whether restore sets extended attribute `name`: user.* and the POSIX
 * ACLs (whose "other" entry loses write, like the mode); never security.*
 * (file capabilities, SELinux labels) nor trusted.*. */
bool ms_files_xattr_ok(const char *name);

/* The permission bits restore gives member e: ms_entry_safe_mode, and no
 * group or other write for Postfix files (which also always belong to
 * root). */
uint32_t ms_files_restored_mode(const struct ms_entry *e);

/* Counts, among the members under `prefix`, those whose mode or owner
 * restore changes (ms_files_restored_mode, Postfix files to root) and the
 * extended attributes it leaves out, for the plan's warning. */
void ms_files_unsafe_count(const struct ms_manifest *m, const char *prefix, unsigned long *modes,
			   unsigned long *xattrs);

/* Removes a tree without following symlinks; 0 or -1 after logging. A
 * missing path is not an error. */
int ms_files_remove_tree(const char *path);

/* Recomputes what restore wrote: each member under prefix against the
 * file at target (prefix member = target itself; with `each_file`, the
 * members are "<prefix>/<name>" files in directory target): type, size,
 * SHA-256, mode, mtime, and as root the owner and group. *checked
 * counts the members compared. 0 when all match, or -1 after logging the
 * first difference. */
int ms_files_check_live(const struct ms_manifest *m, const char *prefix, const char *target, bool each_file,
			unsigned long *checked);

/* The roots of rooted component `prefix` ("files/dkim" or
 * "files/system"): the members whose parent is not a member, in archive
 * order, pushed onto *roots. m passed ms_files_check_manifest. */
void ms_files_roots(const struct ms_manifest *m, const char *prefix, struct ms_strv *roots);

struct ms_root_target {
	const char *member; /* a root member path, e.g. "files/system/etc/cron.d/modoboa" */
	const char *target; /* absolute path where it goes on this machine (decided by the caller) */
};

/* Restores every root t[0..n) in ONE pass over the archive (whose
 * verified manifest is m): a directory is staged beside its target
 * (".NAME.modosnap-restore", ms_files_stage rules), a file or symlink
 * written to a temporary name in the target's directory and synced; only
 * when all are written are they renamed over (or exchanged with) their
 * targets, then each directory synced. A missing parent directory is
 * created (0755, root's when running as root) once ms_target_parents_ok
 * accepts the existing ancestors; nothing is written through a symlink.
 * Owners, modes, times and xattrs as ms_files_stage. Other files in those
 * directories are never touched. Each member must be a root of files/dkim
 * or files/system, each target absolute, normalised and apart from the
 * others. The bytes read count into progress (may be NULL). 0, or -1
 * after logging (when writing failed no target is replaced, temporaries
 * and the directories made are removed). */
int ms_files_restore_roots(const char *archive, const struct ms_manifest *m, const struct ms_root_target *t,
			   size_t n, struct ms_files_stats *stats, struct ms_progress *progress);

/* The proof for the same roots: every member at or below each root
 * against the live file at its target (ms_files_check_live's rules).
 * *checked counts the members compared. 0, or -1 after logging the first
 * difference. */
int ms_files_check_roots(const struct ms_manifest *m, const struct ms_root_target *t, size_t n,
			 unsigned long *checked);

/* The content of file member `path` (at most max bytes), or NULL when the
 * archive has no such file member (nothing logged) or on a read error
 * (logged). Caller frees; *len gets the size. */
char *ms_files_read_member(const char *archive, const char *path, size_t max, size_t *len);

#endif
