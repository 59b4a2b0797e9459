/*
 * Pruning a destination directory (prune.h): the plan, the crash-safe
 * deletion and the leftovers of an interrupted one.
 */
#include "snapshot/prune.h"
#include "base/strbuf.h"
#include "discover/config.h"
#include "formats/snapname.h"
#include "formats/verify.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DELETING_SUFFIX ".deleting"

void ms_prune_policy_from_config(const struct ms_config *cfg, struct ms_retention_policy *p)
{
	p->keep_last = cfg->keep_last > 0 ? cfg->keep_last : 0;
	p->keep_hourly = cfg->keep_hourly > 0 ? cfg->keep_hourly : 0;
	p->keep_daily = cfg->keep_daily > 0 ? cfg->keep_daily : 0;
	p->keep_weekly = cfg->keep_weekly > 0 ? cfg->keep_weekly : 0;
	p->keep_monthly = cfg->keep_monthly > 0 ? cfg->keep_monthly : 0;
	p->keep_yearly = cfg->keep_yearly > 0 ? cfg->keep_yearly : 0;
	p->keep_within = cfg->keep_within > 0 ? cfg->keep_within : 0;
	p->keep_pre_upgrade = cfg->keep_pre_upgrade >= 0 ? cfg->keep_pre_upgrade : 3;
	p->keep_apt = cfg->keep_apt >= 0 ? cfg->keep_apt : 3;
	p->keep_safety = cfg->keep_safety >= 0 ? cfg->keep_safety : 7 * 86400L;
	p->now = time(NULL);
	p->keep_tag = &cfg->keep_tag;
}

/* Reads every header (muted: a broken archive is reported once, as a
 * warning, and kept) and fills the policy input. Returns the number of
 * snapshots in `snaps` (a prefix-compacted copy of the readable items,
 * `map[k]` the item of snaps[k]). */
static size_t read_items(struct ms_prune_item *items, size_t n, struct ms_retention_snap *snaps, size_t *map)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		const char *path = items[i].it->path;
		char when[32];
		time_t t;

		ms_log_mute(1);
		items[i].ok = ms_dest_read_header(path, &items[i].h) == 0;
		ms_log_mute(0);
		if (items[i].ok && ms_retention_parse_time(items[i].h.created, &t) < 0) {
			ms_header_clear(&items[i].h);
			items[i].ok = false;
		}
		if (!items[i].ok) {
			ms_log_warn("'%s': header unreadable; kept (check it with 'modosnap verify')", path);
			continue;
		}
		snaps[k] = (struct ms_retention_snap){ .id = items[i].h.snapshot_id, .created = t,
						       .tags = &items[i].h.tags };
		snaps[k].verified = ms_dest_verified_at(path, when) == 1;
		map[k++] = i;
	}
	return k;
}

int ms_prune_remove(const char *path)
{
	char *del = ms_xasprintf("%s%s", path, DELETING_SUFFIX), *rec = ms_xasprintf("%s.verified", path);
	int ret = -1;

	if (rename(path, del) < 0) {
		ms_log_error("unable to rename '%s': %s", path, strerror(errno));
		goto out;
	}
	ms_test_stall("prune-renamed");
	if (unlink(rec) < 0 && errno != ENOENT) {
		ms_log_error("unable to remove '%s': %s", rec, strerror(errno));
		goto out;
	}
	if (ms_dest_is_encrypted(path) && ms_dest_remove_sidecars(path) < 0) /* now that it is not listed */
		goto out;
	if (unlink(del) < 0) {
		ms_log_error("unable to remove '%s': %s", del, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	free(del);
	free(rec);
	return ret;
}

static bool ends_with(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	return n > s && strcmp(name + n - s, suffix) == 0;
}

static bool is_leftover(const char *name)
{
	return ends_with(name, MS_SNAPNAME_SUFFIX DELETING_SUFFIX) ||
	       ends_with(name, MS_SNAPNAME_SUFFIX MS_ENCRYPTED_SUFFIX DELETING_SUFFIX);
}

int ms_prune_clean_leftovers(const char *dest)
{
	DIR *d = opendir(dest);
	struct dirent *de;
	int failed = 0;

	if (!d) {
		ms_log_error("unable to read directory '%s': %s", dest, strerror(errno));
		return 1;
	}
	while ((de = readdir(d)) != NULL) {
		char *path, *rec, *enc;
		int base;

		if (!is_leftover(de->d_name))
			continue;
		path = ms_path_join(dest, de->d_name);
		base = (int)(strlen(path) - strlen(DELETING_SUFFIX));
		rec = ms_xasprintf("%.*s.verified", base, path);
		enc = ms_xstrndup(path, (size_t)base);
		if (unlink(rec) < 0 && errno != ENOENT)
			failed -= ms_log_error("unable to remove '%s': %s", rec, strerror(errno));
		else if (ms_dest_is_encrypted(enc) && ms_dest_remove_sidecars(enc) < 0)
			failed--;
		else if (unlink(path) < 0 && errno != ENOENT)
			failed -= ms_log_error("unable to remove '%s': %s", path, strerror(errno));
		else
			ms_log_info("removed '%s', left by an interrupted prune", path);
		free(path);
		free(rec);
		free(enc);
	}
	closedir(d);
	return failed;
}

void ms_prune_sync(const char *dest)
{
	int fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		if (fsync(fd) < 0)
			ms_log_warn("unable to sync directory '%s': %s", dest, strerror(errno));
		close(fd);
	}
}

int ms_prune_plan(const char *dest, const struct ms_retention_policy *p, struct ms_prune_plan *out)
{
	size_t *map;

	memset(out, 0, sizeof(*out));
	if (ms_dest_list(dest, &out->list, &out->n) < 0)
		return -1;
	out->items = ms_xcalloc(out->n + 1, sizeof(*out->items));
	out->snaps = ms_xcalloc(out->n + 1, sizeof(*out->snaps));
	map = ms_xcalloc(out->n + 1, sizeof(*map));
	for (size_t i = 0; i < out->n; i++)
		out->items[i].it = &out->list[i];
	out->n_snaps = read_items(out->items, out->n, out->snaps, map);
	for (size_t k = 0; k < out->n_snaps; k++)
		out->items[map[k]].snap = &out->snaps[k];
	ms_retention_apply(p, out->snaps, out->n_snaps);
	free(map);
	return 0;
}

void ms_prune_plan_clear(struct ms_prune_plan *plan)
{
	ms_retention_clear(plan->snaps, plan->n_snaps);
	for (size_t i = 0; i < plan->n; i++)
		if (plan->items[i].ok)
			ms_header_clear(&plan->items[i].h);
	free(plan->items);
	free(plan->snaps);
	ms_dest_items_free(plan->list, plan->n);
	memset(plan, 0, sizeof(*plan));
}

bool ms_prune_keeps(const struct ms_prune_item *pi)
{
	return !pi->ok || pi->snap->keep;
}

static void join_strv(struct ms_strbuf *sb, const struct ms_strv *sv, const char *sep, const char *empty)
{
	if (sv->n == 0)
		ms_strbuf_addstr(sb, empty);
	for (size_t i = 0; i < sv->n; i++) {
		char *p = ms_printable(sv->v[i]);

		ms_strbuf_addf(sb, "%s%s", i ? sep : "", p);
		free(p);
	}
}

char *ms_prune_item_line(const struct ms_prune_item *pi)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	char *text;

	if (!pi->ok) {
		text = ms_printable(pi->it->name);
		ms_strbuf_addf(&sb, "keep   %s  -  -  (unreadable)", text);
		free(text);
		return ms_strbuf_detach(&sb);
	}
	ms_strbuf_addstr(&sb, pi->snap->keep ? "keep   " : "remove ");
	text = ms_printable(pi->h.snapshot_id);
	ms_strbuf_addf(&sb, "%s  ", text);
	free(text);
	text = ms_printable(pi->h.created);
	ms_strbuf_addf(&sb, "%s  ", text);
	free(text);
	join_strv(&sb, &pi->h.tags, ",", "-");
	if (pi->snap->keep) {
		ms_strbuf_addstr(&sb, "  (");
		join_strv(&sb, &pi->snap->reasons, ",", "");
		ms_strbuf_addch(&sb, ')');
	}
	return ms_strbuf_detach(&sb);
}

int ms_prune_apply(const char *dest, const struct ms_retention_policy *p, struct ms_prune_plan *plan)
{
	size_t removed = 0;
	int failed = 0;

	memset(plan, 0, sizeof(*plan));
	if (ms_prune_clean_leftovers(dest) > 0 || ms_prune_plan(dest, p, plan) < 0)
		return -1;
	for (size_t i = 0; i < plan->n; i++) {
		if (ms_prune_keeps(&plan->items[i]))
			continue;
		removed++;
		if (ms_prune_remove(plan->items[i].it->path) < 0)
			failed++;
		else
			plan->items[i].removed = true;
	}
	if (removed)
		ms_prune_sync(dest);
	return failed ? -1 : 0;
}
