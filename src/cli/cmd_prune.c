/*
 * `modosnap prune`: applies the retention rules (retention.h) to the
 * snapshots of a destination directory and deletes the others, under the
 * destination's lock. A deletion is crash-safe: the archive is first
 * renamed to "<name>.deleting" (no longer a snapshot name, so never
 * listed), then its verification record is removed, then the renamed
 * file; the next prune removes whatever a crash left behind.
 */
#include "cli/cli.h"
#include "discover/config.h"
#include "snapshot/dest.h"
#include "formats/manifest.h"
#include "snapshot/retention.h"
#include "formats/snapname.h"
#include "base/strbuf.h"
#include "formats/verify.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DELETING_SUFFIX ".deleting"
#define MAX_KEEP 1000000UL

struct prune_args {
	const char *dest;
	/* -1: not given on the command line */
	int keep_last, keep_daily, keep_weekly, keep_monthly, keep_pre_upgrade;
	struct ms_strv keep_tag;
	bool keep_tag_given;
	bool dry_run;
	bool json;
};

/* One archive of the destination; `ok` when its header was read. */
struct prune_item {
	const struct ms_dest_item *it;
	struct ms_header h;
	bool ok;
};

static int parse_count(const char *opt, const char *val, int *out)
{
	unsigned long v;

	if (ms_parse_ulong(val, 0, MAX_KEEP, &v) < 0)
		return ms_cli_usage_error("prune", "invalid value '%s' for %s (expected 0-%lu)", val, opt, MAX_KEEP);
	*out = (int)v;
	return 0;
}

static int parse_prune(int argc, char **argv, struct prune_args *a)
{
	static const struct option longopts[] = {
		{ "dest", required_argument, NULL, 'd' },
		{ "keep-last", required_argument, NULL, 'l' },
		{ "keep-daily", required_argument, NULL, 'D' },
		{ "keep-weekly", required_argument, NULL, 'w' },
		{ "keep-monthly", required_argument, NULL, 'm' },
		{ "keep-tag", required_argument, NULL, 't' },
		{ "keep-pre-upgrade", required_argument, NULL, 'p' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int c, ret = 0;

	optind = 0;
	opterr = 0;
	while (ret == 0 && (c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': a->dest = optarg; break;
		case 'l': ret = parse_count("--keep-last", optarg, &a->keep_last); break;
		case 'D': ret = parse_count("--keep-daily", optarg, &a->keep_daily); break;
		case 'w': ret = parse_count("--keep-weekly", optarg, &a->keep_weekly); break;
		case 'm': ret = parse_count("--keep-monthly", optarg, &a->keep_monthly); break;
		case 'p': ret = parse_count("--keep-pre-upgrade", optarg, &a->keep_pre_upgrade); break;
		case 't':
			if (!*optarg)
				return ms_cli_usage_error("prune", "empty --keep-tag");
			ms_strv_push(&a->keep_tag, optarg);
			a->keep_tag_given = true;
			break;
		case 'n': a->dry_run = true; break;
		case 'j': a->json = true; break;
		default:
			return ms_cli_usage_error("prune", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (ret != 0)
		return ret;
	if (optind < argc)
		return ms_cli_usage_error("prune", "unexpected argument '%s'", argv[optind]);
	return 0;
}

static int pick(int cli_value, int config_value)
{
	if (cli_value >= 0)
		return cli_value;
	return config_value > 0 ? config_value : 0;
}

/* The command line over the config's [retention]; keep_tag is borrowed
 * from one of them. */
static void resolve_policy(const struct prune_args *a, const struct ms_config *cfg, struct ms_retention_policy *p)
{
	p->keep_last = pick(a->keep_last, cfg->keep_last);
	p->keep_daily = pick(a->keep_daily, cfg->keep_daily);
	p->keep_weekly = pick(a->keep_weekly, cfg->keep_weekly);
	p->keep_monthly = pick(a->keep_monthly, cfg->keep_monthly);
	if (a->keep_pre_upgrade >= 0)
		p->keep_pre_upgrade = a->keep_pre_upgrade;
	else
		p->keep_pre_upgrade = cfg->keep_pre_upgrade >= 0 ? cfg->keep_pre_upgrade : 3;
	p->keep_tag = a->keep_tag_given ? &a->keep_tag : &cfg->keep_tag;
}

/* Reads every header (muted: a broken archive is reported once, as a
 * warning, and kept) and fills the policy input. Returns the number of
 * snapshots in `snaps` (a prefix-compacted copy of the readable items,
 * `map[k]` the item of snaps[k]). */
static size_t read_items(struct prune_item *items, size_t n, struct ms_retention_snap *snaps, size_t *map)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		const char *path = items[i].it->path;
		char when[32];
		time_t t;

		ms_log_mute(1);
		items[i].ok = ms_read_header(path, &items[i].h) == 0;
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

static void print_text(const struct prune_item *pi, const struct ms_retention_snap *s)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	char *id, *created;

	if (!pi->ok) {
		char *name = ms_printable(pi->it->name);

		printf("keep   %s  -  -  (unreadable)\n", name);
		free(name);
		return;
	}
	id = ms_printable(pi->h.snapshot_id);
	created = ms_printable(pi->h.created);
	join_strv(&sb, &pi->h.tags, ",", "-");
	if (s->keep) {
		ms_strbuf_addstr(&sb, "  (");
		join_strv(&sb, &s->reasons, ",", "");
		ms_strbuf_addch(&sb, ')');
	}
	printf("%s %s  %s  %s\n", s->keep ? "keep  " : "remove", id, created, ms_strbuf_str(&sb));
	ms_strbuf_release(&sb);
	free(id);
	free(created);
}

static json_t *strv_json(const struct ms_strv *sv)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < sv->n; i++)
		json_array_append_new(arr, json_string(sv->v[i]));
	return arr;
}

static json_t *item_json(const struct prune_item *pi, const struct ms_retention_snap *s)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", pi->ok ? json_string(pi->h.snapshot_id) : json_null());
	json_object_set_new(o, "path", json_string(pi->it->path));
	json_object_set_new(o, "created", pi->ok ? json_string(pi->h.created) : json_null());
	json_object_set_new(o, "tags", pi->ok ? strv_json(&pi->h.tags) : json_array());
	json_object_set_new(o, "keep", json_boolean(!pi->ok || s->keep));
	if (pi->ok) {
		json_object_set_new(o, "reasons", strv_json(&s->reasons));
	} else {
		json_t *r = json_array();

		json_array_append_new(r, json_string("unreadable"));
		json_object_set_new(o, "reasons", r);
	}
	return o;
}

/* Removes one archive crash-safely (see the file comment). 0 or -1 after
 * logging. */
static int remove_archive(const char *path)
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

static bool is_leftover(const char *name)
{
	size_t n = strlen(name), s = strlen(MS_SNAPNAME_SUFFIX DELETING_SUFFIX);

	return n > s && strcmp(name + n - s, MS_SNAPNAME_SUFFIX DELETING_SUFFIX) == 0;
}

/* Finishes deletions a crash interrupted: every "*.tar.zst.deleting" and
 * its archive's verification record. Returns the number of failures. */
static int clean_leftovers(const char *dest)
{
	DIR *d = opendir(dest);
	struct dirent *de;
	int failed = 0;

	if (!d) {
		ms_log_error("unable to read directory '%s': %s", dest, strerror(errno));
		return 1;
	}
	while ((de = readdir(d)) != NULL) {
		char *path, *rec;

		if (!is_leftover(de->d_name))
			continue;
		path = ms_path_join(dest, de->d_name);
		rec = ms_xasprintf("%.*s.verified", (int)(strlen(path) - strlen(DELETING_SUFFIX)), path);
		if (unlink(rec) < 0 && errno != ENOENT)
			failed -= ms_log_error("unable to remove '%s': %s", rec, strerror(errno));
		else if (unlink(path) < 0 && errno != ENOENT)
			failed -= ms_log_error("unable to remove '%s': %s", path, strerror(errno));
		else
			ms_log_info("removed '%s', left by an interrupted prune", path);
		free(path);
		free(rec);
	}
	closedir(d);
	return failed;
}

static void sync_dir(const char *dest)
{
	int fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		if (fsync(fd) < 0)
			ms_log_warn("unable to sync directory '%s': %s", dest, strerror(errno));
		close(fd);
	}
}

/* Prints the plan (text or JSON) and, unless dry_run, deletes. Returns
 * the number of failed deletions. */
static int execute(const struct prune_args *a, const char *dest, struct prune_item *items, size_t n,
		   struct ms_retention_snap *snaps, const size_t *snap_of)
{
	static const struct ms_retention_snap unread = { 0 };
	json_t *arr = a->json ? json_array() : NULL;
	size_t kept = 0, removed = 0;
	int failed = 0;

	for (size_t i = 0; i < n; i++) {
		const struct ms_retention_snap *s = items[i].ok ? &snaps[snap_of[i]] : &unread;
		bool keep = !items[i].ok || s->keep;

		if (arr)
			json_array_append_new(arr, item_json(&items[i], s));
		else if (ms_log_get_level() >= MS_LOG_INFO)
			print_text(&items[i], s);
		if (keep) {
			kept++;
			continue;
		}
		removed++;
		if (!a->dry_run && remove_archive(items[i].it->path) < 0)
			failed++;
	}
	if (!a->dry_run && removed)
		sync_dir(dest);
	if (arr) {
		json_dumpf(arr, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(arr);
	} else if (ms_log_get_level() >= MS_LOG_INFO) {
		printf("%zu kept, %zu %s\n", kept, removed, a->dry_run ? "would be removed" : "removed");
	}
	return failed;
}

/* Lists, decides and executes; the caller holds the lock unless dry_run.
 * Returns the number of snapshots that could not be removed, or -1 when
 * the destination could not be listed (logged). */
static int prune_count(const struct prune_args *a, const struct ms_retention_policy *p, const char *dest)
{
	struct ms_dest_item *list = NULL;
	struct prune_item *items;
	struct ms_retention_snap *snaps;
	size_t n = 0, ns, *map, *snap_of;
	int failed;

	if (ms_dest_list(dest, &list, &n) < 0)
		return -1;
	items = ms_xcalloc(n + 1, sizeof(*items));
	snaps = ms_xcalloc(n + 1, sizeof(*snaps));
	map = ms_xcalloc(n + 1, sizeof(*map));
	snap_of = ms_xcalloc(n + 1, sizeof(*snap_of));
	for (size_t i = 0; i < n; i++)
		items[i].it = &list[i];
	ns = read_items(items, n, snaps, map);
	for (size_t k = 0; k < ns; k++)
		snap_of[map[k]] = k;
	ms_retention_apply(p, snaps, ns);
	failed = execute(a, dest, items, n, snaps, snap_of);
	ms_retention_clear(snaps, ns);
	for (size_t i = 0; i < n; i++)
		if (items[i].ok)
			ms_header_clear(&items[i].h);
	free(items);
	free(snaps);
	free(map);
	free(snap_of);
	ms_dest_items_free(list, n);
	return failed;
}

/* Lists, decides and executes; the caller holds the lock unless dry_run.
 * Returns an exit code. */
static int prune_dest(const struct prune_args *a, const struct ms_retention_policy *p, const char *dest)
{
	int failed = prune_count(a, p, dest);

	return failed < 0 ? MS_EXIT_FAILURE : ms_cli_exit_code(failed);
}

int cmd_prune(struct ms_cli *cli, int argc, char **argv)
{
	struct prune_args a = { .keep_last = -1, .keep_daily = -1, .keep_weekly = -1, .keep_monthly = -1,
				.keep_pre_upgrade = -1 };
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
	dest = a.dest ? a.dest : cli->config->dest ? cli->config->dest : MS_DEFAULT_DEST;
	if (!a.dry_run) {
		lock = ms_dest_lock(dest);
		if (lock < 0) {
			ret = lock == -2 ? MS_EXIT_LOCKED : MS_EXIT_FAILURE;
			goto out;
		}
		if (clean_leftovers(dest) > 0) {
			ret = MS_EXIT_FAILURE;
			goto out;
		}
	}
	ret = prune_dest(&a, &p, dest);
out:
	if (lock >= 0)
		close(lock);
	ms_strv_clear(&a.keep_tag);
	return ret;
}

int ms_cli_prune_with_config(struct ms_cli *cli, const char *dest)
{
	struct prune_args a = { .keep_last = -1, .keep_daily = -1, .keep_weekly = -1, .keep_monthly = -1,
				.keep_pre_upgrade = -1 };
	struct ms_retention_policy p;
	int level = ms_log_get_level(), ret;

	resolve_policy(&a, cli->config, &p);
	if (!ms_retention_has_rule(&p))
		return MS_EXIT_USAGE;
	if (clean_leftovers(dest) > 0)
		return MS_EXIT_FAILURE;
	/* create --nightly's output stays one line: the plan is not printed */
	if (level > MS_LOG_WARN)
		ms_log_set_level(MS_LOG_WARN);
	ret = prune_count(&a, &p, dest);
	ms_log_set_level(level);
	return ret == 0 ? MS_EXIT_OK : MS_EXIT_FAILURE;
}
