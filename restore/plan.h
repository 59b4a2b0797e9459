/*
 * What a restore would change in a file component, for `restore
 * --dry-run` and the confirmation prompt: the snapshot's members under a
 * prefix compared with the live tree (type, size, content, mode, mtime,
 * symlink target), without writing anything.
 */
#ifndef MS_PLAN_H
#define MS_PLAN_H

#include <stdbool.h>

#include "formats/manifest.h"
#include "restore/files.h"
#include "base/util.h"

struct ms_tree_plan {
	bool target_exists;
	unsigned long added, replaced, removed, unchanged;
	struct ms_strv added_v, replaced_v, removed_v; /* paths relative to the target */
};

/* Compares the members under `prefix` ("files/instance", or with
 * `each_file` the single files "files/postfix/<name>" of directory
 * target) with what is at `target`. Live entries the snapshot lacks are
 * "removed" (never with each_file: restore leaves them alone). 0, or -1
 * after logging an error reading the live tree. */
int ms_plan_tree(const struct ms_manifest *m, const char *prefix, const char *target, bool each_file,
		 struct ms_tree_plan *p);
/* The same for the roots of a rooted component (files/dkim, files/system),
 * each compared with its target: a missing target is one "added" (its
 * whole tree), a file or symlink root "replaced" or "unchanged", a
 * directory root as ms_plan_tree. Paths in the lists are the targets'. */
int ms_plan_roots(const struct ms_manifest *m, const struct ms_root_target *t, size_t n, struct ms_tree_plan *p);
void ms_tree_plan_clear(struct ms_tree_plan *p);

#endif
