/*
 * The file restore engine: puts the file components of a verified
 * snapshot back (docs/dev/design.md §5). A directory component
 * ("files/instance") is extracted into a staging directory beside its
 * target, every file's content checked against the manifest as it is
 * written, then swapped in with one atomic rename (renameat2
 * RENAME_EXCHANGE when the target exists) and the old tree removed
 * afterwards. The Postfix component is a set of single files, each
 * replaced by write + fsync + rename, all written before the first is
 * renamed. Nothing is ever written through a symlink: every path is
 * resolved below a directory this engine created, with O_NOFOLLOW.
 */
#ifndef MS_FILES_H
#define MS_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
 * files/instance, files/postfix/<name>, db/ and versions/, a member whose
 * parent is not a directory member listed before it (writing through a
 * symlink), a hardlink to anything but an earlier file of the same
 * component, a Postfix member that is not a plain file, a component root
 * that is not a directory. Returns 0, or -1 after logging
 * "refusing member 'PATH': WHY". */
int ms_files_check_manifest(const struct ms_manifest *m);

/* Extracts the members under `prefix` ("files/instance": the prefix
 * member is the directory itself) of the archive at `archive` (whose
 * verified manifest is m) into `staging`, which must not exist. Owners
 * and groups by name when the name exists here, else by id (counted in
 * stats); only root restores owners. Modes, nanosecond mtimes, xattrs
 * and ACLs are set, directories last. The bytes extracted count into
 * progress (may be NULL). Returns 0, or -1 after logging (the partial
 * staging tree is removed). */
int ms_files_stage(const char *archive, const struct ms_manifest *m, const char *prefix, const char *staging,
		   struct ms_files_stats *stats, struct ms_progress *progress);

/* Puts `staging` in the place of `target` (same filesystem): exchanged
 * atomically when target exists, then the old tree (now at `staging`)
 * removed; renamed when it does not. The root's times are set again from
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

/* The content of file member `path` (at most max bytes), or NULL when the
 * archive has no such file member (nothing logged) or on a read error
 * (logged). Caller frees; *len gets the size. */
char *ms_files_read_member(const char *archive, const char *path, size_t max, size_t *len);

#endif
