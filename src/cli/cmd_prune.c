/*
 * `modosnap prune`: applies the retention rules (snapshot/retention.h) to
 * the snapshots of a destination directory and deletes the others, under
 * the destination's lock, crash-safely (snapshot/prune.h). This file
 * reads the options and prints the plan (text or JSON).
 */
#include "cli/cli.h"
#include "base/strbuf.h"
#include "cli/offhost.h"
#include "remote/push.h"
#include "cli/options.h"
#include "discover/config.h"
#include "snapshot/dest.h"
#include "snapshot/prune.h"
#include "formats/manifest.h"
#include "snapshot/retention.h"
#include "formats/verify.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct prune_args {
	const char *dest;
	/* -1: not given on the command line */
	int keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly, keep_pre_upgrade;
	long keep_within;
	struct ms_strv keep_tag;
	bool keep_tag_given;
	bool dry_run;
	bool json;
	char *remote;      /* --remote NAME: prune that remote's copies instead (owned) */
};

static int parse_prune(int argc, char **argv, struct prune_args *a)
{
	struct ms_opts o = { .keep_last = -1, .keep_hourly = -1, .keep_daily = -1, .keep_weekly = -1,
			     .keep_monthly = -1, .keep_yearly = -1, .keep_within = -1, .keep_pre_upgrade = -1 };
	int ret = ms_opts_parse(MS_OPTS_PRUNE, argc, argv, &o);

	/* keep_tag moves to *a (cmd_prune frees it) */
	a->dest = o.dest;
	a->keep_last = (int)o.keep_last;
	a->keep_hourly = (int)o.keep_hourly;
	a->keep_daily = (int)o.keep_daily;
	a->keep_weekly = (int)o.keep_weekly;
	a->keep_monthly = (int)o.keep_monthly;
	a->keep_yearly = (int)o.keep_yearly;
	a->keep_within = o.keep_within;
	a->keep_pre_upgrade = (int)o.keep_pre_upgrade;
	a->keep_tag = o.keep_tag;
	a->keep_tag_given = o.keep_tag.n > 0;
	a->dry_run = o.dry_run;
	a->json = o.json;
	a->remote = o.remotes.n ? ms_xstrdup(o.remotes.v[0]) : NULL;
	if (ret == 0 && o.remotes.n > 1)
		ret = ms_cli_usage_error("prune", "prune takes one --remote NAME");
	ms_strv_clear(&o.remotes);
	return ret;
}

static void pick(int cli_value, int *out)
{
	if (cli_value >= 0)
		*out = cli_value;
}

/* The command line over the config's [retention]; keep_tag is borrowed
 * from one of them. */
static void resolve_policy(const struct prune_args *a, const struct ms_config *cfg, struct ms_retention_policy *p)
{
	ms_prune_policy_from_config(cfg, p);
	pick(a->keep_last, &p->keep_last);
	pick(a->keep_hourly, &p->keep_hourly);
	pick(a->keep_daily, &p->keep_daily);
	pick(a->keep_weekly, &p->keep_weekly);
	pick(a->keep_monthly, &p->keep_monthly);
	pick(a->keep_yearly, &p->keep_yearly);
	if (a->keep_within >= 0)
		p->keep_within = a->keep_within;
	pick(a->keep_pre_upgrade, &p->keep_pre_upgrade);
	if (a->keep_tag_given)
		p->keep_tag = &a->keep_tag;
}

static void print_text(const struct ms_prune_item *pi)
{
	char *line = ms_prune_item_line(pi);

	printf("%s\n", line);
	free(line);
}

static ms_json *item_json(const struct ms_prune_item *pi, const struct ms_retention_snap *s)
{
	ms_json *o = ms_json_object();

	ms_json_set(o, "id", pi->ok ? ms_json_str(pi->h.snapshot_id) : ms_json_null());
	ms_json_set(o, "path", ms_json_str(pi->it->path));
	ms_json_set(o, "created", pi->ok ? ms_json_str(pi->h.created) : ms_json_null());
	ms_json_set(o, "tags", pi->ok ? ms_json_strs(pi->h.tags.v, pi->h.tags.n) : ms_json_array());
	ms_json_set(o, "keep", ms_json_bool(!pi->ok || s->keep));
	if (pi->ok) {
		ms_json_set(o, "reasons", ms_json_strs(s->reasons.v, s->reasons.n));
	} else {
		ms_json_set(o, "reasons", ms_json_push(ms_json_array(), ms_json_str("unreadable")));
	}
	return o;
}

/* Prints the plan (text or JSON) and, unless dry_run, deletes. Returns
 * the number of failed deletions. */
static int execute(const struct prune_args *a, const char *dest, const struct ms_prune_plan *plan)
{
	static const struct ms_retention_snap unread = { 0 };
	ms_json *arr = a->json ? ms_json_array() : NULL;
	size_t kept = 0, removed = 0;
	int failed = 0;

	for (size_t i = 0; i < plan->n; i++) {
		const struct ms_prune_item *pi = &plan->items[i];
		const struct ms_retention_snap *s = pi->ok ? pi->snap : &unread;

		if (arr)
			ms_json_push(arr, item_json(pi, s));
		else if (ms_log_get_level() >= MS_LOG_INFO)
			print_text(pi);
		if (ms_prune_keeps(pi)) {
			kept++;
			continue;
		}
		removed++;
		if (!a->dry_run && ms_prune_remove(pi->it->path) < 0)
			failed++;
	}
	if (!a->dry_run && removed)
		ms_prune_sync(dest);
	if (arr) {
		ms_json_print(arr);
	} else if (ms_log_get_level() >= MS_LOG_INFO) {
		printf("%zu kept, %zu %s\n", kept, removed, a->dry_run ? "would be removed" : "removed");
	}
	return failed;
}

/* Lists, decides and executes; the caller holds the lock unless dry_run.
 * Returns an exit code. */
static int prune_dest(const struct prune_args *a, const struct ms_retention_policy *p, const char *dest)
{
	struct ms_prune_plan plan;
	int failed;

	if (ms_prune_plan(dest, p, &plan) < 0)
		return MS_EXIT_FAILURE;
	failed = execute(a, dest, &plan);
	ms_prune_plan_clear(&plan);
	return ms_cli_exit_code(failed);
}

/* "a,b,c" (caller frees). */
static char *join(const struct ms_strv *sv)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	char *out;

	for (size_t i = 0; i < sv->n; i++)
		ms_strbuf_addf(&sb, "%s%s", i ? "," : "", sv->v[i]);
	out = ms_xstrdup(sb.buf ? sb.buf : "");
	ms_strbuf_release(&sb);
	return out;
}

/* The time a remote copy was taken: its marker's `created`, else the
 * stamp of its name (LABEL_YYYYMMDDTHHMMSSZ_...); 0 when neither says. */
static time_t remote_time(const char *name, const struct ms_marker *info)
{
	const char *u = strchr(name, '_');
	struct tm tm;
	time_t t;

	if (info->created && ms_retention_parse_time(info->created, &t) == 0)
		return t;
	memset(&tm, 0, sizeof(tm));
	if (u && strptime(u + 1, "%Y%m%dT%H%M%SZ", &tm))
		return timegm(&tm);
	return 0;
}

/* prune --remote NAME: the same rules and pre-upgrade protections applied
 * to the remote's complete copies (their markers record id, time and
 * tags); a copy whose marker cannot be read is kept. Text lines "keep
 * NAME (REASONS)" / "remove NAME", or JSON [{"name", "keep", "reasons"}].
 * Deleting removes the marker first, so a half-deleted copy is never
 * listed. */
static int prune_remote(struct ms_cli *cli, const struct prune_args *a, const struct ms_retention_policy *p)
{
	const struct ms_config_remote *r = ms_offhost_remote(cli->config, a->remote);
	struct ms_remote_file *files = NULL;
	struct ms_marker *info;
	struct ms_retention_snap *snaps;
	struct ms_rclone rc;
	ms_json *arr = a->json ? ms_json_array() : NULL;
	size_t n = 0, kept = 0, removed = 0;
	int failed = 0;

	if (!r || (ms_offhost_rclone(cli->config, r, &rc), ms_remote_list(&rc, &files, &n) < 0)) {
		ms_json_free(arr);
		return MS_EXIT_FAILURE;
	}
	info = ms_xcalloc(n + 1, sizeof(*info));
	snaps = ms_xcalloc(n + 1, sizeof(*snaps));
	for (size_t i = 0; i < n; i++) {
		if (ms_remote_info(&rc, files[i].name, &info[i]) != 0)
			failed++;
		snaps[i].id = info[i].snapshot_id ? info[i].snapshot_id : files[i].name;
		snaps[i].created = remote_time(files[i].name, &info[i]);
		snaps[i].tags = &info[i].tags;
		snaps[i].verified = true; /* a remote only ever receives a verified snapshot */
	}
	if (!failed)
		ms_retention_apply(p, snaps, n);
	for (size_t i = n; i-- > 0;) { /* newest first, as prune shows a destination */
		bool keep = failed || snaps[i].keep;
		char *why = join(&snaps[i].reasons);
		char *shown = ms_printable(files[i].name);

		if (arr)
			ms_json_push(arr, ms_json_obj("name", ms_json_str(files[i].name), "keep", ms_json_bool(keep),
						      "reasons", ms_json_strs(snaps[i].reasons.v, snaps[i].reasons.n), NULL));
		else if (keep)
			printf("keep   %s  (%s)\n", shown, failed ? "not pruned: a marker could not be read" : why);
		else
			printf("remove %s\n", shown);
		if (keep)
			kept++;
		else if (a->dry_run || ms_remote_delete(&rc, files[i].name) == 0)
			removed++;
		else
			failed++;
		free(why);
		free(shown);
	}
	if (arr)
		failed += ms_json_print(arr) < 0;
	else
		printf("%zu kept, %zu %s on remote '%s'\n", kept, removed, a->dry_run ? "would be removed" : "removed",
		       r->name);
	for (size_t i = 0; i < n; i++)
		ms_marker_clear(&info[i]);
	ms_retention_clear(snaps, n);
	free(snaps);
	free(info);
	ms_remote_files_free(files, n);
	return ms_cli_exit_code(failed);
}

int cmd_prune(struct ms_cli *cli, int argc, char **argv)
{
	struct prune_args a = { 0 };
	struct ms_retention_policy p;
	const char *dest;
	int lock = -1, ret = parse_prune(argc, argv, &a);

	if (ret != 0)
		goto out;
	if (ms_cli_load_config(cli) < 0) {
		ret = MS_EXIT_FAILURE;
		goto out;
	}
	resolve_policy(&a, cli->config, &p);
	if (!ms_retention_has_rule(&p)) {
		ret = ms_cli_usage_error("prune", "no retention rule given (--keep-last, --keep-daily, ...) "
					 "and none in the config");
		goto out;
	}
	if (a.remote) {
		ret = prune_remote(cli, &a, &p);
		goto out;
	}
	dest = a.dest ? a.dest : cli->config->dest ? cli->config->dest : MS_DEFAULT_DEST;
	if (!a.dry_run) {
		lock = ms_dest_lock_wait(dest, 0, cli->command);
		if (lock < 0) {
			ret = lock == -2 ? MS_EXIT_LOCKED : MS_EXIT_FAILURE;
			goto out;
		}
		if (ms_prune_clean_leftovers(dest) > 0) {
			ret = MS_EXIT_FAILURE;
			goto out;
		}
	}
	ret = prune_dest(&a, &p, dest);
out:
	if (lock >= 0)
		close(lock);
	ms_strv_clear(&a.keep_tag);
	free(a.remote);
	return ret;
}
