/*
 * The retention policy of `prune`, as pure computation: given the
 * snapshots of a destination (id, creation time, tags, whether a valid
 * verification record exists) and the rules, decide which to keep and
 * why. No I/O here, so the policy is tested on synthetic histories.
 *
 * Rules keep the newest snapshot of each of the N most recent periods
 * that have snapshots: `last` (each snapshot is its own period), `hourly`,
 * `daily`, `weekly` (ISO 8601 week), `monthly` and `yearly`, all in local
 * time as restic counts them (the process's TZ: the days of the server's
 * administrator, while snapshot ids stay UTC); `within` keeps every
 * snapshot less than keep_within older than the newest one, and
 * `tag:NAME` every snapshot carrying NAME. Four
 * protections always apply: the newest `keep_pre_upgrade` snapshots
 * tagged `pre-upgrade`, the newest `pre-upgrade` snapshot that passed
 * verify, the newest `keep_apt` snapshots tagged `apt` (the APT hook's,
 * which never count against keep_pre_upgrade), and every `safety`
 * snapshot (what restore took before replacing anything) younger than
 * `keep_safety` seconds. A snapshot kept by any rule stays.
 */
#ifndef MS_RETENTION_H
#define MS_RETENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "base/util.h"

#define MS_TAG_PRE_UPGRADE "pre-upgrade"
#define MS_TAG_APT "apt"       /* the APT hook's automatic pre-upgrade snapshots */
#define MS_TAG_SAFETY "safety" /* restore's snapshot of what it replaces */

/* The rules; 0 turns a counted rule off. Borrowed strings. */
struct ms_retention_policy {
	int keep_last;
	int keep_hourly;
	int keep_daily;
	int keep_weekly;
	int keep_monthly;
	int keep_yearly;
	long keep_within;              /* seconds back from the newest snapshot; 0 = off */
	int keep_pre_upgrade;          /* newest pre-upgrade snapshots always kept */
	int keep_apt;                  /* newest apt snapshots always kept */
	long keep_safety;              /* seconds a safety snapshot is always kept; 0 = off */
	time_t now;                    /* what keep_safety counts back from */
	const struct ms_strv *keep_tag; /* NULL or empty: no tag rule */
};

/* One snapshot: the caller fills the inputs, ms_retention_apply the
 * outputs. */
struct ms_retention_snap {
	const char *id;                /* snapshot id, borrowed; orders equal times */
	time_t created;                /* UTC */
	const struct ms_strv *tags;    /* borrowed; NULL = none */
	bool verified;                 /* a valid verification record exists */
	bool keep;                     /* out */
	struct ms_strv reasons;        /* out: "last", "hourly", "daily", "weekly",
	                                  "monthly", "yearly", "within:DURATION"
	                                  (e.g. "within:2d"), "tag:NAME", "pre-upgrade",
	                                  "verified-pre-upgrade", "apt",
	                                  "safety:DURATION" (e.g. "safety:7d"),
	                                  in that order */
};

/* True when the policy has at least one rule (a counted rule above 0 or a
 * tag); the protections (pre-upgrade, apt, safety) alone are not a rule. */
bool ms_retention_has_rule(const struct ms_retention_policy *p);

/* Decides keep and reasons for each of the n snapshots (any order; ties
 * in time are ordered by id). Earlier outputs are cleared first. The
 * periods are those of the local time (localtime_r: TZ). */
void ms_retention_apply(const struct ms_retention_policy *p, struct ms_retention_snap *snaps, size_t n);

/* Clears the outputs of n snapshots (frees the reasons). */
void ms_retention_clear(struct ms_retention_snap *snaps, size_t n);

/* Writes secs as the largest unit that divides it exactly: "7d", "12h",
 * "90m", "45s" ("0" for 0). Used in the "safety:DURATION" and
 * "within:DURATION" reasons. */
void ms_retention_format_duration(long secs, char *buf, size_t len);

/* Parses a header's "YYYY-MM-DDTHH:MM:SSZ" (UTC) into *out. 0, or -1
 * (nothing logged) when malformed or out of range. */
int ms_retention_parse_time(const char *s, time_t *out);

#endif
