/*
 * Unit tests for src/retention: the prune policy. The main test builds a
 * synthetic history of 400 snapshots over 13 months (irregular spacing,
 * several a day, gaps of days, pre-upgrade/release/safety tags, verified
 * flags) and, for several policies, compares the module's decision snapshot
 * by snapshot with an oracle written differently: periods bucketed by
 * strftime keys, each bucket's newest found by a linear maximum, buckets
 * ranked by that maximum; within by a plain difference to the maximum
 * time. The policies run under several time zones (TZ is set here: the
 * periods are local time), UTC included. Smaller cases by hand: local days
 * and hours against UTC, a DST change, the safety window, the apt count
 * apart from pre-upgrade, the reasons' duration text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snapshot/retention.h"
#include "base/strbuf.h"
#include "base/util.h"

#define N_SNAPS 400

struct history {
	struct ms_retention_snap s[N_SNAPS];
	char ids[N_SNAPS][32];
	struct ms_strv tags[N_SNAPS];
};

static uint32_t rng = 12345;

static uint32_t next_rand(void)
{
	rng = rng * 1103515245u + 12345u;
	return (rng >> 8) & 0xffffff;
}

static time_t utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi,
			 .tm_sec = s };

	return timegm(&tm);
}

/* Irregular: 40% a few minutes to hours later (several a day), 40% about
 * a day later, 20% a gap of 2-5 days; two snapshots share a second. */
static void make_history(struct history *hs)
{
	time_t t = utc(2024, 11, 20, 3, 0, 0);

	rng = 12345;
	for (int i = 0; i < N_SNAPS; i++) {
		uint32_t r = next_rand() % 10;
		struct tm tm;

		if (i == 200)
			; /* same second as the previous one: ties are ordered by id */
		else if (r < 4)
			t += 600 + (time_t)(next_rand() % (3 * 3600));
		else if (r < 8)
			t += 20 * 3600 + (time_t)(next_rand() % (10 * 3600));
		else
			t += 2 * 86400 + (time_t)(next_rand() % (3 * 86400));
		gmtime_r(&t, &tm);
		strftime(hs->ids[i], sizeof(hs->ids[i]), "%Y%m%dT%H%M%SZ", &tm);
		snprintf(hs->ids[i] + 16, sizeof(hs->ids[i]) - 16, "-%08x", (unsigned)i);
		memset(&hs->tags[i], 0, sizeof(hs->tags[i]));
		if (i % 17 == 5 || i == 398)
			ms_strv_push(&hs->tags[i], "pre-upgrade");
		if (i % 23 == 7)
			ms_strv_push(&hs->tags[i], "release");
		if (i % 31 == 3)
			ms_strv_push(&hs->tags[i], "safety");
		hs->s[i] = (struct ms_retention_snap){ .id = hs->ids[i], .created = t, .tags = &hs->tags[i] };
		/* verified: some pre-upgrade ones (not the newest), and others */
		hs->s[i].verified = (i % 17 == 5 && i % 3 == 0) || next_rand() % 5 == 0;
	}
	hs->s[398].verified = false;
	/* shuffle, so the module cannot rely on input order */
	for (int i = N_SNAPS - 1; i > 0; i--) {
		int j = (int)(next_rand() % (uint32_t)(i + 1));
		struct ms_retention_snap tmp = hs->s[i];

		hs->s[i] = hs->s[j];
		hs->s[j] = tmp;
	}
}

static void free_history(struct history *hs)
{
	ms_retention_clear(hs->s, N_SNAPS);
	for (int i = 0; i < N_SNAPS; i++)
		ms_strv_clear(&hs->tags[i]);
}

/* ---- the oracle ---- */

static bool newer(const struct ms_retention_snap *a, const struct ms_retention_snap *b)
{
	return a->created != b->created ? a->created > b->created : strcmp(a->id, b->id) > 0;
}

enum bucket { B_LAST, B_HOUR, B_DAY, B_WEEK, B_MONTH, B_YEAR };

/* The periods are those of the local time (TZ). */
static void bucket_key(enum bucket b, time_t t, char key[32])
{
	struct tm tm;

	localtime_r(&t, &tm);
	switch (b) {
	case B_HOUR: strftime(key, 32, "%Y%m%d %H", &tm); break;
	case B_DAY: strftime(key, 32, "%Y-%m-%d", &tm); break;
	case B_WEEK: strftime(key, 32, "%G-W%V", &tm); break;
	case B_MONTH: strftime(key, 32, "%Y-%m", &tm); break;
	case B_YEAR: strftime(key, 32, "year %Y", &tm); break;
	case B_LAST: key[0] = '\0'; break;
	}
}

/* Sets the process's time zone (a POSIX TZ string: no tzdata needed). */
static void set_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

/* Marks `reason` in want[] on the newest snapshot of each of the `count`
 * buckets whose newest snapshots are the most recent. B_LAST: every
 * snapshot is its own bucket. */
static void oracle_period(const struct history *hs, enum bucket kind, int count, struct ms_strv *want)
{
	static char keys[N_SNAPS][32];
	int best[N_SNAPS], nb = 0;
	bool taken[N_SNAPS] = { false };
	static const char *const names[] = { "last", "hourly", "daily", "weekly", "monthly", "yearly" };

	for (int i = 0; i < N_SNAPS; i++) {
		char key[32];
		int b;

		if (kind != B_LAST)
			bucket_key(kind, hs->s[i].created, key);
		else
			snprintf(key, sizeof(key), "%s", hs->s[i].id);
		for (b = 0; b < nb && strcmp(keys[b], key) != 0; b++)
			;
		if (b == nb) {
			snprintf(keys[nb], sizeof(keys[nb]), "%s", key);
			best[nb++] = i;
		} else if (newer(&hs->s[i], &hs->s[best[b]])) {
			best[b] = i;
		}
	}
	for (int round = 0; round < count && round < nb; round++) {
		int top = -1;

		for (int b = 0; b < nb; b++)
			if (!taken[b] && (top < 0 || newer(&hs->s[best[b]], &hs->s[best[top]])))
				top = b;
		taken[top] = true;
		ms_strv_push(&want[best[top]], names[kind]);
	}
}

/* Everything less than `within` seconds older than the newest snapshot. */
static void oracle_within(const struct history *hs, long within, struct ms_strv *want)
{
	time_t newest = hs->s[0].created;
	char dur[32], *reason;

	if (within <= 0)
		return;
	for (int i = 1; i < N_SNAPS; i++)
		newest = hs->s[i].created > newest ? hs->s[i].created : newest;
	ms_retention_format_duration(within, dur, sizeof(dur));
	reason = ms_xasprintf("within:%s", dur);
	for (int i = 0; i < N_SNAPS; i++)
		if (difftime(newest, hs->s[i].created) < (double)within)
			ms_strv_push(&want[i], reason);
	free(reason);
}

static void oracle(const struct history *hs, const struct ms_retention_policy *p, struct ms_strv *want)
{
	bool used[N_SNAPS] = { false };
	int verified_best = -1;

	oracle_period(hs, B_LAST, p->keep_last, want);
	oracle_period(hs, B_HOUR, p->keep_hourly, want);
	oracle_period(hs, B_DAY, p->keep_daily, want);
	oracle_period(hs, B_WEEK, p->keep_weekly, want);
	oracle_period(hs, B_MONTH, p->keep_monthly, want);
	oracle_period(hs, B_YEAR, p->keep_yearly, want);
	oracle_within(hs, p->keep_within, want);
	for (int i = 0; i < N_SNAPS; i++)
		for (size_t k = 0; p->keep_tag && k < p->keep_tag->n; k++)
			if (ms_strv_contains(hs->s[i].tags, p->keep_tag->v[k])) {
				char *r = ms_xasprintf("tag:%s", p->keep_tag->v[k]);

				ms_strv_push_owned(&want[i], r);
			}
	for (int round = 0; round < p->keep_pre_upgrade; round++) {
		int top = -1;

		for (int i = 0; i < N_SNAPS; i++)
			if (!used[i] && ms_strv_contains(hs->s[i].tags, "pre-upgrade") &&
			    (top < 0 || newer(&hs->s[i], &hs->s[top])))
				top = i;
		if (top < 0)
			break;
		used[top] = true;
		ms_strv_push(&want[top], "pre-upgrade");
	}
	for (int i = 0; i < N_SNAPS; i++)
		if (ms_strv_contains(hs->s[i].tags, "pre-upgrade") && hs->s[i].verified &&
		    (verified_best < 0 || newer(&hs->s[i], &hs->s[verified_best])))
			verified_best = i;
	if (verified_best >= 0)
		ms_strv_push(&want[verified_best], "verified-pre-upgrade");
}

static char *joined(const struct ms_strv *sv)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;

	for (size_t i = 0; i < sv->n; i++)
		ms_strbuf_addf(&sb, "%s%s", i ? "," : "", sv->v[i]);
	return ms_strbuf_detach(&sb);
}

/* Runs module and oracle on the history; returns the number kept. */
static int compare(struct history *hs, const struct ms_retention_policy *p)
{
	struct ms_strv want[N_SNAPS];
	int kept = 0;

	memset(want, 0, sizeof(want));
	ms_retention_apply(p, hs->s, N_SNAPS);
	oracle(hs, p, want);
	for (int i = 0; i < N_SNAPS; i++) {
		char *got = joined(&hs->s[i].reasons), *exp = joined(&want[i]);

		if (strcmp(got, exp) != 0 || hs->s[i].keep != (want[i].n > 0))
			fail_msg("snapshot %s: module kept=%d (%s), oracle (%s)", hs->s[i].id, hs->s[i].keep, got, exp);
		kept += hs->s[i].keep;
		free(got);
		free(exp);
		ms_strv_clear(&want[i]);
	}
	return kept;
}

static void test_history_shape(void **state)
{
	struct history *hs = ms_xcalloc(1, sizeof(*hs));
	struct ms_strv days = { 0 };
	time_t lo = 0, hi = 0;
	int same_day = 0, gaps, pre = 0;

	(void)state;
	make_history(hs);
	for (int i = 0; i < N_SNAPS; i++) {
		char day[32];

		lo = i == 0 || hs->s[i].created < lo ? hs->s[i].created : lo;
		hi = hs->s[i].created > hi ? hs->s[i].created : hi;
		pre += ms_strv_contains(hs->s[i].tags, "pre-upgrade");
		bucket_key(B_DAY, hs->s[i].created, day);
		if (ms_strv_contains(&days, day))
			same_day++;
		else
			ms_strv_push(&days, day);
	}
	gaps = (int)((hi - lo) / 86400 + 1) - (int)days.n;
	ms_strv_clear(&days);
	print_message("history: %lld days, %d on days already seen, %d days without a snapshot\n",
		      (long long)((hi - lo) / 86400), same_day, gaps);
	assert_true(hi - lo > 390 * 86400);  /* over 13 months */
	assert_true(hi - lo < 430 * 86400);
	assert_true(same_day > 50);          /* several snapshots on some days */
	assert_true(gaps > 30);              /* days without any snapshot */
	assert_true(pre > 20);
	free_history(hs);
	free(hs);
}

static void test_policies_against_oracle(void **state)
{
	struct ms_strv release = { 0 }, two = { 0 };
	struct ms_retention_policy policies[] = {
		{ .keep_last = 7, .keep_daily = 14, .keep_weekly = 8, .keep_monthly = 12, .keep_pre_upgrade = 3 },
		{ .keep_daily = 30, .keep_pre_upgrade = 3 },
		{ .keep_weekly = 80, .keep_pre_upgrade = 3 },          /* more weeks than the history has */
		{ .keep_monthly = 3, .keep_pre_upgrade = 0, .keep_tag = &release },
		{ .keep_last = 1, .keep_pre_upgrade = 0 },             /* only the verified protection */
		{ .keep_last = 5, .keep_pre_upgrade = 10 },
		{ .keep_weekly = 5, .keep_daily = 3, .keep_pre_upgrade = 2, .keep_tag = &two },
		{ .keep_monthly = 100, .keep_pre_upgrade = 1000 },
		{ .keep_tag = &release, .keep_pre_upgrade = 3 },
		{ .keep_last = 400, .keep_pre_upgrade = 3 },           /* everything */
		{ .keep_hourly = 40, .keep_pre_upgrade = 0 },
		{ .keep_yearly = 5, .keep_pre_upgrade = 0 },            /* more years than the history has */
		{ .keep_within = 10 * 86400, .keep_pre_upgrade = 0 },
		{ .keep_hourly = 100, .keep_daily = 7, .keep_yearly = 1, .keep_within = 36 * 3600,
		  .keep_pre_upgrade = 3, .keep_tag = &release },
	};
	/* UTC, Central Europe (DST), New Zealand (DST, south), a fixed -03:30 */
	static const char *const zones[] = { "UTC0", "CET-1CEST,M3.5.0,M10.5.0/3", "NZST-12NZDT,M9.5.0,M4.1.0/3",
					      "<-0330>3:30" };
	struct history *hs = ms_xcalloc(1, sizeof(*hs));
	int kept[sizeof(policies) / sizeof(policies[0])];

	(void)state;
	ms_strv_push(&release, "release");
	ms_strv_push(&two, "release");
	ms_strv_push(&two, "safety");
	make_history(hs);
	for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
		set_tz(zones[z]);
		for (size_t k = 0; k < sizeof(policies) / sizeof(policies[0]); k++)
			kept[k] = compare(hs, &policies[k]);
		/* sanity on the oracle itself: not everything kept, not nothing */
		assert_true(kept[0] > 25 && kept[0] < 7 + 14 + 8 + 12 + 3 + 1);
		assert_true(kept[4] == 2);       /* the newest snapshot + the newest verified pre-upgrade */
		assert_int_equal(kept[9], N_SNAPS);
		/* each also keeps the newest verified pre-upgrade snapshot */
		assert_true(kept[10] >= 40 && kept[10] <= 41);
		assert_true(kept[11] >= 2 && kept[11] <= 4); /* 2024, 2025 and perhaps 2026 */
		assert_true(kept[12] > 3 && kept[12] < 30);
	}
	set_tz("UTC0");
	free_history(hs);
	free(hs);
	ms_strv_clear(&release);
	ms_strv_clear(&two);
}

/* A small history by hand, with the reasons printed by prune. */
static void test_reasons_by_hand(void **state)
{
	struct ms_strv pre = { 0 }, rel = { 0 }, keep_tags = { 0 };
	struct ms_retention_snap s[] = {
		{ .id = "a", .created = utc(2025, 3, 1, 10, 0, 0) },
		{ .id = "b", .created = utc(2025, 3, 1, 12, 0, 0), .tags = &pre },
		{ .id = "c", .created = utc(2025, 3, 2, 9, 0, 0) },
		{ .id = "d", .created = utc(2025, 2, 27, 9, 0, 0), .tags = &pre, .verified = true },
		{ .id = "e", .created = utc(2025, 1, 10, 9, 0, 0), .tags = &rel },
	};
	struct ms_retention_policy p = { .keep_daily = 2, .keep_pre_upgrade = 1, .keep_tag = &keep_tags };

	(void)state;
	ms_strv_push(&pre, "pre-upgrade");
	ms_strv_push(&rel, "release");
	ms_strv_push(&keep_tags, "release");
	ms_retention_apply(&p, s, 5);
	assert_false(s[0].keep);
	assert_true(s[1].keep);
	assert_string_equal(s[1].reasons.v[0], "daily");
	assert_string_equal(s[1].reasons.v[1], "pre-upgrade");
	assert_int_equal(s[1].reasons.n, 2);
	assert_true(s[2].keep);
	assert_string_equal(s[2].reasons.v[0], "daily");
	assert_true(s[3].keep);
	assert_int_equal(s[3].reasons.n, 1);
	assert_string_equal(s[3].reasons.v[0], "verified-pre-upgrade");
	assert_true(s[4].keep);
	assert_string_equal(s[4].reasons.v[0], "tag:release");
	ms_retention_clear(s, 5);
	assert_int_equal(s[1].reasons.n, 0);
	ms_strv_clear(&pre);
	ms_strv_clear(&rel);
	ms_strv_clear(&keep_tags);
}

/* ISO weeks across year ends: 2024-12-30 (Mon) .. 2025-01-05 (Sun) is
 * 2025-W01; 2020-12-31 and 2021-01-03 are both 2020-W53. */
static void test_iso_week_edges(void **state)
{
	struct ms_retention_snap s[] = {
		{ .id = "1", .created = utc(2024, 12, 29, 23, 59, 59) }, /* Sun, 2024-W52 */
		{ .id = "2", .created = utc(2024, 12, 30, 0, 0, 0) },
		{ .id = "3", .created = utc(2025, 1, 5, 23, 59, 59) },
		{ .id = "4", .created = utc(2020, 12, 31, 8, 0, 0) },
		{ .id = "5", .created = utc(2021, 1, 3, 8, 0, 0) },
		{ .id = "6", .created = utc(1969, 12, 31, 23, 0, 0) },  /* before the epoch: week of Mon 1969-12-29 */
		{ .id = "7", .created = utc(1970, 1, 4, 23, 0, 0) },    /* Sun, same week */
	};
	struct ms_retention_policy p = { .keep_weekly = 100 };

	(void)state;
	ms_retention_apply(&p, s, 7);
	assert_true(s[0].keep);
	assert_false(s[1].keep);
	assert_true(s[2].keep);
	assert_false(s[3].keep);
	assert_true(s[4].keep);
	assert_false(s[5].keep);
	assert_true(s[6].keep);
	ms_retention_clear(s, 7);
}

/* reasons of s joined with ',' (asserted against in the cases below) */
static void assert_reasons(const struct ms_retention_snap *s, const char *want)
{
	char *got = joined(&s->reasons);

	if (strcmp(got, want) != 0)
		fail_msg("snapshot %s: reasons '%s', expected '%s'", s->id, got, want);
	assert_int_equal(s->keep, *want != '\0');
	free(got);
}

/* Safety snapshots (restore's) stay for keep_safety whatever keep_last
 * says; older ones are left to the rules; 0 turns the protection off. */
static void test_safety_window(void **state)
{
	struct ms_strv safety = { 0 };
	time_t now = utc(2026, 12, 7, 12, 0, 0);
	struct ms_retention_snap s[] = {
		{ .id = "new", .created = now - 60 },
		{ .id = "s-1h", .created = now - 3600, .tags = &safety },
		{ .id = "s-6d23h", .created = now - 7 * 86400 + 3600, .tags = &safety },
		{ .id = "s-7d", .created = now - 7 * 86400, .tags = &safety },     /* the window is open at its end */
		{ .id = "s-30d", .created = now - 30 * 86400, .tags = &safety },
		{ .id = "s-future", .created = now + 600, .tags = &safety },     /* a clock set back */
		{ .id = "plain", .created = now - 2 * 86400 },
	};
	struct ms_retention_policy p = { .keep_last = 1, .keep_safety = 7 * 86400, .now = now };

	(void)state;
	ms_strv_push(&safety, MS_TAG_SAFETY);
	ms_retention_apply(&p, s, 7);
	assert_reasons(&s[0], "");
	assert_reasons(&s[1], "safety:7d");
	assert_reasons(&s[2], "safety:7d");
	assert_reasons(&s[3], "");
	assert_reasons(&s[4], "");
	assert_reasons(&s[5], "last,safety:7d");
	assert_reasons(&s[6], "");
	p.keep_safety = 12 * 3600;
	ms_retention_apply(&p, s, 7);
	assert_reasons(&s[1], "safety:12h");
	assert_reasons(&s[2], "");
	p.keep_safety = 0;
	ms_retention_apply(&p, s, 7);
	assert_reasons(&s[1], "");
	assert_false(ms_retention_has_rule(&(struct ms_retention_policy){ .keep_safety = 86400, .keep_apt = 3 }));
	ms_retention_clear(s, 7);
	ms_strv_clear(&safety);
}

/* The APT hook's snapshots (tag apt) have their own count: many of them
 * never push a real pre-upgrade snapshot out of keep_pre_upgrade, and
 * they are not pre-upgrade snapshots for the verified protection. */
static void test_apt_apart_from_pre_upgrade(void **state)
{
	struct ms_strv apt = { 0 }, pre = { 0 };
	struct ms_retention_snap s[6];
	struct ms_retention_policy p = { .keep_last = 1, .keep_pre_upgrade = 1, .keep_apt = 2 };
	char ids[6][8];

	(void)state;
	ms_strv_push(&apt, MS_TAG_APT);
	ms_strv_push(&pre, MS_TAG_PRE_UPGRADE);
	for (int i = 0; i < 6; i++) {
		snprintf(ids[i], sizeof(ids[i]), "%d", i);
		/* 0 the oldest: a real (unverified) pre-upgrade one; then verified apt runs */
		s[i] = (struct ms_retention_snap){ .id = ids[i], .created = utc(2025, 3, 1 + i, 8, 0, 0),
						   .tags = i == 0 ? &pre : &apt, .verified = i > 0 };
	}
	ms_retention_apply(&p, s, 6);
	assert_reasons(&s[0], "pre-upgrade");
	assert_reasons(&s[1], "");
	assert_reasons(&s[2], "");
	assert_reasons(&s[3], "");
	assert_reasons(&s[4], "apt");
	assert_reasons(&s[5], "last,apt");
	p.keep_apt = 0;
	ms_retention_apply(&p, s, 6);
	assert_reasons(&s[4], "");
	assert_reasons(&s[0], "pre-upgrade");
	ms_retention_clear(s, 6);
	ms_strv_clear(&apt);
	ms_strv_clear(&pre);
}

static void test_format_duration(void **state)
{
	static const struct { long secs; const char *text; } cases[] = {
		{ 7 * 86400, "7d" }, { 14 * 86400, "14d" }, { 12 * 3600, "12h" }, { 36 * 3600, "36h" },
		{ 90 * 60, "90m" }, { 45, "45s" }, { 3601, "3601s" }, { 0, "0" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[32];

		ms_retention_format_duration(cases[i].secs, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].text);
	}
}

static void test_has_rule(void **state)
{
	struct ms_strv tags = { 0 };
	struct ms_retention_policy p = { .keep_pre_upgrade = 3 };

	(void)state;
	assert_false(ms_retention_has_rule(&p));
	p.keep_tag = &tags;
	assert_false(ms_retention_has_rule(&p));
	ms_strv_push(&tags, "x");
	assert_true(ms_retention_has_rule(&p));
	p.keep_tag = NULL;
	p.keep_monthly = 1;
	assert_true(ms_retention_has_rule(&p));
	ms_retention_apply(&p, NULL, 0); /* empty destination */
	ms_strv_clear(&tags);
}

/* Periods are local days and hours: two snapshots an hour apart around
 * midnight UTC are two UTC days but one day at UTC+02:00, and at the end
 * of summer time the repeated local hour 02:xx is one hourly period (as
 * in restic, which names periods by local wall-clock time). */
static void test_local_time_periods(void **state)
{
	struct ms_retention_snap s[] = {
		{ .id = "a", .created = utc(2025, 3, 1, 23, 30, 0) },
		{ .id = "b", .created = utc(2025, 3, 2, 0, 30, 0) },
	};
	struct ms_retention_snap dst[] = {
		{ .id = "c", .created = utc(2025, 10, 26, 0, 30, 0) }, /* 02:30 CEST */
		{ .id = "d", .created = utc(2025, 10, 26, 1, 30, 0) }, /* 02:30 CET */
		{ .id = "e", .created = utc(2025, 10, 26, 2, 30, 0) }, /* 03:30 CET */
	};
	struct ms_retention_policy daily = { .keep_daily = 10 }, hourly = { .keep_hourly = 10 };

	(void)state;
	set_tz("UTC0");
	ms_retention_apply(&daily, s, 2);
	assert_reasons(&s[0], "daily");
	assert_reasons(&s[1], "daily");
	set_tz("EET-2");
	ms_retention_apply(&daily, s, 2);
	assert_reasons(&s[0], "");
	assert_reasons(&s[1], "daily");
	set_tz("CET-1CEST,M3.5.0,M10.5.0/3");
	ms_retention_apply(&hourly, dst, 3);
	assert_reasons(&dst[0], "");
	assert_reasons(&dst[1], "hourly");
	assert_reasons(&dst[2], "hourly");
	set_tz("UTC0");
	ms_retention_clear(s, 2);
	ms_retention_clear(dst, 3);
}

/* keep_within counts back from the newest snapshot, not from now, and
 * keeps what is strictly younger than the window; yearly keeps the newest
 * of each year. */
static void test_within_and_yearly(void **state)
{
	struct ms_retention_snap s[] = {
		{ .id = "a", .created = utc(2023, 6, 1, 0, 0, 0) },
		{ .id = "b", .created = utc(2023, 12, 31, 23, 0, 0) },
		{ .id = "c", .created = utc(2024, 5, 1, 0, 0, 0) },
		{ .id = "d", .created = utc(2024, 5, 2, 0, 0, 0) },  /* exactly 2d before f */
		{ .id = "e", .created = utc(2024, 5, 2, 0, 0, 1) },
		{ .id = "f", .created = utc(2024, 5, 4, 0, 0, 0) },
	};
	struct ms_retention_policy p = { .keep_within = 2 * 86400, .keep_yearly = 1,
					 .now = utc(2030, 1, 1, 0, 0, 0) };

	(void)state;
	set_tz("UTC0");
	assert_true(ms_retention_has_rule(&(struct ms_retention_policy){ .keep_within = 60 }));
	assert_true(ms_retention_has_rule(&(struct ms_retention_policy){ .keep_hourly = 1 }));
	assert_true(ms_retention_has_rule(&(struct ms_retention_policy){ .keep_yearly = 1 }));
	ms_retention_apply(&p, s, 6);
	assert_reasons(&s[0], "");
	assert_reasons(&s[1], "");
	assert_reasons(&s[2], "");
	assert_reasons(&s[3], "");
	assert_reasons(&s[4], "within:2d");
	assert_reasons(&s[5], "yearly,within:2d");
	p.keep_yearly = 2;
	ms_retention_apply(&p, s, 6);
	assert_reasons(&s[1], "yearly");
	assert_reasons(&s[0], "");
	ms_retention_clear(s, 6);
}

static void test_parse_time(void **state)
{
	static const struct {
		const char *text;
		int ok;
		time_t want;
	} cases[] = {
		{ "2025-03-01T10:00:00Z", 1, 1740823200 },
		{ "1970-01-01T00:00:00Z", 1, 0 },
		{ "2024-02-29T23:59:59Z", 1, 1709251199 },
		{ "2025-02-29T00:00:00Z", 0, 0 },
		{ "2025-13-01T00:00:00Z", 0, 0 },
		{ "2025-03-01T24:00:00Z", 0, 0 },
		{ "2025-03-01 10:00:00Z", 0, 0 },
		{ "2025-03-01T10:00:00", 0, 0 },
		{ "2025-03-01T10:00:00Z ", 0, 0 },
		{ "+025-03-01T10:00:00Z", 0, 0 },
		{ "", 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		time_t t = 42;
		int rc = ms_retention_parse_time(cases[i].text, &t);

		if ((rc == 0) != cases[i].ok || (cases[i].ok && t != cases[i].want))
			fail_msg("'%s': rc %d, t %lld", cases[i].text, rc, (long long)t);
	}
	assert_int_equal(ms_retention_parse_time(NULL, &(time_t){ 0 }), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_history_shape),
		cmocka_unit_test(test_policies_against_oracle),
		cmocka_unit_test(test_reasons_by_hand),
		cmocka_unit_test(test_iso_week_edges),
		cmocka_unit_test(test_safety_window),
		cmocka_unit_test(test_apt_apart_from_pre_upgrade),
		cmocka_unit_test(test_format_duration),
		cmocka_unit_test(test_has_rule),
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_local_time_periods),
		cmocka_unit_test(test_within_and_yearly),
	};

	set_tz("UTC0"); /* the cases by hand are written in UTC days */

	return cmocka_run_group_tests(tests, NULL, NULL);
}
