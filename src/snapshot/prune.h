/*
 * Pruning a destination directory: the retention policy (retention.h)
 * applied to its snapshots, and the crash-safe deletion of the others.
 * A deletion renames the archive to "<name>.deleting" (no longer a
 * snapshot name, so never listed), then removes its verification record,
 * then the renamed file; ms_prune_clean_leftovers finishes whatever a
 * crash left behind. Used by `prune` and `create --nightly`; the caller
 * holds the destination's lock for anything that deletes.
 */
#ifndef MS_PRUNE_H
#define MS_PRUNE_H

#include <stdbool.h>
#include <stddef.h>

#include "formats/manifest.h"
#include "snapshot/dest.h"
#include "snapshot/retention.h"

struct ms_config;

/* One archive of the destination and the policy's decision on it. */
struct ms_prune_item {
	const struct ms_dest_item *it;   /* borrowed from the plan's list */
	struct ms_header h;              /* when ok */
	bool ok;                         /* the header was read; else the archive is kept */
	struct ms_retention_snap *snap;  /* the decision when ok, else NULL */
	bool removed;                    /* out of ms_prune_apply: it was deleted */
};

/* Every archive of a destination, newest first, with the decisions. */
struct ms_prune_plan {
	struct ms_dest_item *list;
	struct ms_prune_item *items;     /* n, in list order */
	size_t n;
	struct ms_retention_snap *snaps; /* n_snaps: the readable ones */
	size_t n_snaps;
};

/* The config's [retention] rules as of now (keep_tag borrowed from cfg).
 * Unless it says otherwise, the newest 3 pre-upgrade and the newest 3 apt
 * snapshots are protected, and safety snapshots for 7 days. */
void ms_prune_policy_from_config(const struct ms_config *cfg, struct ms_retention_policy *p);

/* Lists dest, reads every header (an unreadable one is a warning and
 * kept) and applies p. 0, or -1 when dest could not be listed (logged).
 * Nothing is deleted. */
int ms_prune_plan(const char *dest, const struct ms_retention_policy *p, struct ms_prune_plan *out);
void ms_prune_plan_clear(struct ms_prune_plan *plan);

/* Whether the plan keeps the item (an unreadable archive always stays). */
bool ms_prune_keeps(const struct ms_prune_item *pi);

/* The item's line in a printed plan, as `prune` shows it (owned by the
 * caller): "keep   ID  CREATED  TAGS  (REASONS)", "remove ID  CREATED
 * TAGS", or "keep   NAME  -  -  (unreadable)"; text made printable. */
char *ms_prune_item_line(const struct ms_prune_item *pi);

/* Removes one archive crash-safely (see above). 0 or -1 after logging. */
int ms_prune_remove(const char *path);

/* Makes the removals in dest durable (a warning when it cannot). */
void ms_prune_sync(const char *dest);

/* Finishes deletions a crash interrupted: every "*.tar.zst.deleting" and
 * its archive's verification record. Returns the number of failures
 * (logged). */
int ms_prune_clean_leftovers(const char *dest);

/* create --nightly's prune: leftovers, plan, deletions, nothing printed.
 * *plan is the plan executed (items[].removed say what was deleted; the
 * caller clears it, also after a failure). 0, or -1 when something could
 * not be listed or removed (logged). */
int ms_prune_apply(const char *dest, const struct ms_retention_policy *p, struct ms_prune_plan *plan);

#endif
