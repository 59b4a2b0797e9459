/*
 * The retention policy of `prune` (see retention.h). A period is named by
 * strftime over the snapshot's local time (localtime_r, so the TZ of the
 * process decides): "%Y-%m-%d-%H" an hour, "%Y-%m-%d" a day, "%G-%V" an
 * ISO 8601 week, "%Y-%m" a month, "%Y" a year; a snapshot starts a new
 * period when its name differs from the previous (newer) one's.
 */
#include "snapshot/retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum period { P_LAST, P_HOUR, P_DAY, P_WEEK, P_MONTH, P_YEAR };

#define KEY_LEN 32

/* The name of the period of t (P_LAST: every snapshot is its own, rank). */
static void period_key(enum period p, time_t t, size_t rank, char key[KEY_LEN])
{
	struct tm tm;
	size_t len = 0;

	if (p == P_LAST) {
		snprintf(key, KEY_LEN, "%zu", rank);
		return;
	}
	if (localtime_r(&t, &tm)) {
		switch (p) {
		case P_HOUR: len = strftime(key, KEY_LEN, "%Y-%m-%d-%H", &tm); break;
		case P_DAY: len = strftime(key, KEY_LEN, "%Y-%m-%d", &tm); break;
		case P_WEEK: len = strftime(key, KEY_LEN, "%G-%V", &tm); break;
		case P_MONTH: len = strftime(key, KEY_LEN, "%Y-%m", &tm); break;
		case P_YEAR: len = strftime(key, KEY_LEN, "%Y", &tm); break;
		case P_LAST: break;
		}
	}
	if (len == 0)
		snprintf(key, KEY_LEN, "?%lld", (long long)t); /* out of struct tm's range: its own period */
}

static bool has_tag(const struct ms_retention_snap *s, const char *tag)
{
	return s->tags && ms_strv_contains(s->tags, tag);
}

/* Newest first; equal times by id, descending. */
static const struct ms_retention_snap *sort_base;

static int newer_first(const void *a, const void *b)
{
	const struct ms_retention_snap *x = &sort_base[*(const size_t *)a], *y = &sort_base[*(const size_t *)b];

	if (x->created != y->created)
		return x->created < y->created ? 1 : -1;
	return -strcmp(x->id ? x->id : "", y->id ? y->id : "");
}

static void keep(struct ms_retention_snap *s, const char *reason)
{
	s->keep = true;
	ms_strv_push(&s->reasons, reason);
}

/* Keeps the newest snapshot of each of the `count` most recent periods. */
static void apply_period(struct ms_retention_snap *snaps, const size_t *order, size_t n, enum period p, int count,
			 const char *reason)
{
	char last[KEY_LEN] = "", key[KEY_LEN];
	int used = 0;

	for (size_t i = 0; i < n && used < count; i++) {
		period_key(p, snaps[order[i]].created, i, key);
		if (used > 0 && strcmp(key, last) == 0)
			continue;
		keep(&snaps[order[i]], reason);
		memcpy(last, key, sizeof(last));
		used++;
	}
}

/* restic's --keep-within: every snapshot less than keep_within older than
 * the newest one (not than now: a destination no longer written to keeps
 * its last stretch). */
static void apply_within(const struct ms_retention_policy *p, struct ms_retention_snap *snaps, const size_t *order,
			 size_t n)
{
	char dur[32], *reason;
	long long newest;

	if (p->keep_within <= 0 || n == 0)
		return;
	newest = (long long)snaps[order[0]].created;
	ms_retention_format_duration(p->keep_within, dur, sizeof(dur));
	reason = ms_xasprintf("within:%s", dur);
	for (size_t i = 0; i < n && newest - (long long)snaps[order[i]].created < (long long)p->keep_within; i++)
		keep(&snaps[order[i]], reason);
	free(reason);
}

static void apply_tags(const struct ms_retention_policy *p, struct ms_retention_snap *snaps, const size_t *order,
		       size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; p->keep_tag && k < p->keep_tag->n; k++)
			if (has_tag(&snaps[order[i]], p->keep_tag->v[k])) {
				char *r = ms_xasprintf("tag:%s", p->keep_tag->v[k]);

				keep(&snaps[order[i]], r);
				free(r);
			}
}

static void apply_pre_upgrade(const struct ms_retention_policy *p, struct ms_retention_snap *snaps,
			      const size_t *order, size_t n)
{
	int kept = 0;
	bool verified_done = false;

	for (size_t i = 0; i < n; i++) {
		struct ms_retention_snap *s = &snaps[order[i]];

		if (!has_tag(s, MS_TAG_PRE_UPGRADE))
			continue;
		if (kept < p->keep_pre_upgrade) {
			keep(s, "pre-upgrade");
			kept++;
		}
		if (!verified_done && s->verified) {
			keep(s, "verified-pre-upgrade");
			verified_done = true;
		}
	}
}

/* The newest `count` snapshots tagged `tag`. */
static void apply_newest_tagged(struct ms_retention_snap *snaps, const size_t *order, size_t n, const char *tag,
				int count)
{
	int kept = 0;

	for (size_t i = 0; i < n && kept < count; i++)
		if (has_tag(&snaps[order[i]], tag)) {
			keep(&snaps[order[i]], tag);
			kept++;
		}
}

/* Every safety snapshot younger than keep_safety, whatever the counted
 * rules say: it may be the only way back from a restore just made. One
 * dated in the future (a clock set back) is young too. */
static void apply_safety(const struct ms_retention_policy *p, struct ms_retention_snap *snaps, size_t n)
{
	char dur[32], *reason;

	if (p->keep_safety <= 0)
		return;
	ms_retention_format_duration(p->keep_safety, dur, sizeof(dur));
	reason = ms_xasprintf("safety:%s", dur);
	for (size_t i = 0; i < n; i++)
		if (has_tag(&snaps[i], MS_TAG_SAFETY) && (long long)p->now - (long long)snaps[i].created <
								 (long long)p->keep_safety)
			keep(&snaps[i], reason);
	free(reason);
}

void ms_retention_format_duration(long secs, char *buf, size_t len)
{
	static const struct { char unit; long secs; } units[] = { { 'd', 86400 }, { 'h', 3600 }, { 'm', 60 } };

	for (size_t i = 0; secs > 0 && i < sizeof(units) / sizeof(units[0]); i++)
		if (secs % units[i].secs == 0) {
			snprintf(buf, len, "%ld%c", secs / units[i].secs, units[i].unit);
			return;
		}
	snprintf(buf, len, secs > 0 ? "%lds" : "%ld", secs);
}

bool ms_retention_has_rule(const struct ms_retention_policy *p)
{
	return p->keep_last > 0 || p->keep_hourly > 0 || p->keep_daily > 0 || p->keep_weekly > 0 ||
	       p->keep_monthly > 0 || p->keep_yearly > 0 || p->keep_within > 0 || (p->keep_tag && p->keep_tag->n > 0);
}

void ms_retention_apply(const struct ms_retention_policy *p, struct ms_retention_snap *snaps, size_t n)
{
	size_t *order = ms_xcalloc(n ? n : 1, sizeof(*order));

	ms_retention_clear(snaps, n);
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	sort_base = snaps;
	qsort(order, n, sizeof(*order), newer_first);
	sort_base = NULL;
	apply_period(snaps, order, n, P_LAST, p->keep_last, "last");
	apply_period(snaps, order, n, P_HOUR, p->keep_hourly, "hourly");
	apply_period(snaps, order, n, P_DAY, p->keep_daily, "daily");
	apply_period(snaps, order, n, P_WEEK, p->keep_weekly, "weekly");
	apply_period(snaps, order, n, P_MONTH, p->keep_monthly, "monthly");
	apply_period(snaps, order, n, P_YEAR, p->keep_yearly, "yearly");
	apply_within(p, snaps, order, n);
	apply_tags(p, snaps, order, n);
	apply_pre_upgrade(p, snaps, order, n);
	apply_newest_tagged(snaps, order, n, MS_TAG_APT, p->keep_apt);
	apply_safety(p, snaps, n);
	free(order);
}

void ms_retention_clear(struct ms_retention_snap *snaps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		snaps[i].keep = false;
		ms_strv_clear(&snaps[i].reasons);
	}
}

int ms_retention_parse_time(const char *s, time_t *out)
{
	struct tm tm, back;
	int y, mo, d, h, mi, se, len = 0;
	time_t t;

	if (!s || strlen(s) != 20)
		return -1;
	for (int i = 0; i < 20; i++) {
		bool digit = s[i] >= '0' && s[i] <= '9';

		if (digit != !(i == 4 || i == 7 || i == 10 || i == 13 || i == 16 || i == 19))
			return -1;
	}
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &se, &len) != 6 || len != 20)
		return -1;
	tm = (struct tm){ .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi,
			  .tm_sec = se };
	t = timegm(&tm);
	/* timegm normalises 02-30 into 03-01 and 24:00 into the next day:
	 * only a date that comes back unchanged is one */
	if (!gmtime_r(&t, &back) || back.tm_year != y - 1900 || back.tm_mon != mo - 1 ||
	    back.tm_mday != d || back.tm_hour != h || back.tm_min != mi || back.tm_sec != se)
		return -1;
	*out = t;
	return 0;
}
