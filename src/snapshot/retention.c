/*
 * The retention policy of `prune` (see retention.h). Periods are computed
 * arithmetically from the epoch seconds: a day number, a week number
 * counted from a Monday (an ISO 8601 week is exactly a Monday-to-Sunday
 * week, so consecutive numbers identify ISO weeks), and year * 12 + month.
 */
#include "snapshot/retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum period { P_LAST, P_DAY, P_WEEK, P_MONTH };

static long long floor_div(long long a, long long b)
{
	long long q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil). */
static long long days_from_civil(long long y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The inverse: year and month of a day number. */
static long long month_of_day(long long z)
{
	long long era, doe, yoe, doy, mp, y, m;

	z += 719468;
	era = floor_div(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	return y * 12 + (m - 1);
}

static long long period_key(enum period p, time_t t, size_t rank)
{
	long long day = floor_div((long long)t, 86400);

	switch (p) {
	case P_LAST: return (long long)rank;
	case P_DAY: return day;
	case P_WEEK: return floor_div(day + 3, 7); /* day 0 was a Thursday; day 4 a Monday */
	case P_MONTH: return month_of_day(day);
	}
	MS_BUG("unknown retention period");
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
	long long last = 0;
	int used = 0;

	for (size_t i = 0; i < n && used < count; i++) {
		long long key = period_key(p, snaps[order[i]].created, i);

		if (used > 0 && key == last)
			continue;
		keep(&snaps[order[i]], reason);
		last = key;
		used++;
	}
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
	return p->keep_last > 0 || p->keep_daily > 0 || p->keep_weekly > 0 || p->keep_monthly > 0 ||
	       (p->keep_tag && p->keep_tag->n > 0);
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
	apply_period(snaps, order, n, P_DAY, p->keep_daily, "daily");
	apply_period(snaps, order, n, P_WEEK, p->keep_weekly, "weekly");
	apply_period(snaps, order, n, P_MONTH, p->keep_monthly, "monthly");
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

static int days_in_month(long long y, int m)
{
	static const int dm[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dm[m - 1];
}

int ms_retention_parse_time(const char *s, time_t *out)
{
	int y, mo, d, h, mi, se, len = 0;

	if (!s || strlen(s) != 20)
		return -1;
	for (int i = 0; i < 20; i++) {
		bool digit = s[i] >= '0' && s[i] <= '9';

		if (digit != !(i == 4 || i == 7 || i == 10 || i == 13 || i == 16 || i == 19))
			return -1;
	}
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &se, &len) != 6 || len != 20)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 59)
		return -1;
	*out = (time_t)(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se);
	return 0;
}
