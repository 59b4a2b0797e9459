/*
 * `modosnap diff SNAPSHOT SNAPSHOT`: what changed from the first snapshot
 * to the second. Both archives are read whole and verified (a damaged one
 * is exit 5, as for verify); the comparison itself is snapdiff.c's, this
 * file only selects, reads and prints (text, or one JSON object).
 * Differences are the report, not a failure: the exit status is 0 either way.
 */
#include "cli/cli.h"
#include "cli/options.h"
#include "cli/output.h"
#include "discover/config.h"
#include "snapshot/dest.h"
#include "formats/manifest.h"
#include "snapshot/snapdiff.h"
#include "base/strbuf.h"
#include "formats/verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct diff_args {
	const char *dest;     /* --dest, or NULL for the config's / the default */
	const char *sel[2];   /* the two SNAPSHOT selectors, first = "from" */
	bool json;
};

static int parse_diff(int argc, char **argv, struct diff_args *a)
{
	struct ms_opts o = { 0 };
	int ret = ms_opts_parse(MS_OPTS_DIFF, argc, argv, &o);

	a->dest = o.dest;
	a->sel[0] = o.args[0];
	a->sel[1] = o.args[1];
	a->json = o.json;
	ms_opts_clear(&o);
	return ret;
}

/* --- text output ------------------------------------------------------------- */

/* Archive text is untrusted: printed through ms_printable, the copies
 * kept in `pool` until the caller clears it. NULL prints as "unknown". */
static const char *P(struct ms_strv *pool, const char *s)
{
	ms_strv_push_owned(pool, ms_printable(s ? s : "unknown"));
	return pool->v[pool->n - 1];
}

static void print_value(struct ms_strv *pool, const char *what, const struct ms_diff_value *v)
{
	printf("  %s%s: ", what, P(pool, v->name));
	if (v->change == MS_DIFF_ADDED)
		printf("added (%s)\n", P(pool, v->to));
	else if (v->change == MS_DIFF_REMOVED)
		printf("removed (was %s)\n", P(pool, v->from));
	else
		printf("%s -> %s\n", P(pool, v->from), P(pool, v->to));
}

static const char *count_text(char buf[32], long long n)
{
	if (n < 0)
		return "unknown";
	snprintf(buf, 32, "%lld", n);
	return buf;
}

static void print_dbver(struct ms_strv *pool, const struct ms_diff_dbver *v)
{
	const char *alias = P(pool, v->alias);
	char b1[32], b2[32];

	if (v->change != MS_DIFF_CHANGED) {
		printf("  database %s: %s (server %s)\n", alias, ms_diff_change_name(v->change),
		       P(pool, v->change == MS_DIFF_ADDED ? v->server_to : v->server_from));
		return;
	}
	if (v->server_changed)
		printf("  database %s: server %s -> %s\n", alias, P(pool, v->server_from), P(pool, v->server_to));
	if (v->migrations_changed)
		printf("  database %s: migrations applied %s -> %s\n", alias, count_text(b1, v->migrations_from),
		       count_text(b2, v->migrations_to));
	for (size_t i = 0; i < v->n_latest; i++) {
		char *what = ms_xasprintf("database %s: app ", alias);

		print_value(pool, what, &v->latest[i]);
		free(what);
	}
}

static void print_versions(struct ms_strv *pool, const struct ms_snapdiff *d)
{
	if (!d->n_packages && !d->n_extensions && !d->n_dbvers)
		return;
	printf("versions:\n");
	for (size_t i = 0; i < d->n_packages; i++)
		print_value(pool, "", &d->packages[i]);
	for (size_t i = 0; i < d->n_extensions; i++)
		print_value(pool, "extension ", &d->extensions[i]);
	for (size_t i = 0; i < d->n_dbvers; i++)
		print_dbver(pool, &d->dbvers[i]);
}

/* Every installed distribution that differs: "  modoboa 2.4.0 -> 2.3.2". */
static void print_installed(const struct ms_snapdiff *d)
{
	if (!d->n_installed)
		return;
	printf("packages:\n");
	for (size_t i = 0; i < d->n_installed; i++) {
		char *line = ms_diff_value_line(&d->installed[i]);

		printf("  %s\n", line);
		free(line);
	}
}

static void print_components(struct ms_strv *pool, const struct ms_snapdiff *d)
{
	if (!d->components_added.n && !d->components_removed.n)
		return;
	printf("components:\n");
	for (size_t i = 0; i < d->components_added.n; i++)
		printf("  %s: added\n", P(pool, d->components_added.v[i]));
	for (size_t i = 0; i < d->components_removed.n; i++)
		printf("  %s: removed\n", P(pool, d->components_removed.v[i]));
}

static void print_files(struct ms_strv *pool, const struct ms_snapdiff *d)
{
	bool verbose = ms_log_get_level() > MS_LOG_INFO, title = false;

	for (size_t i = 0; i < d->n_files; i++) {
		const struct ms_diff_files *f = &d->files[i];

		if (f->n_paths == 0)
			continue;
		if (!title)
			printf("files:\n");
		title = true;
		printf("  %s: %zu added, %zu removed, %zu changed, %zu metadata only\n", P(pool, f->component),
		       f->added, f->removed, f->changed, f->metadata);
		for (size_t k = 0; verbose && k < f->n_paths; k++)
			printf("    %-8s %s\n", ms_diff_change_name(f->paths[k].change), P(pool, f->paths[k].path));
	}
}

static void print_table(struct ms_strv *pool, const struct ms_diff_table *t)
{
	printf("    %s: ", P(pool, t->name));
	if (t->change == MS_DIFF_ADDED)
		printf("added (%lld %s)\n", t->rows_to, ms_cli_rows(t->rows_to));
	else if (t->change == MS_DIFF_REMOVED)
		printf("removed (was %lld %s)\n", t->rows_from, ms_cli_rows(t->rows_from));
	else
		printf("%lld -> %lld (%+lld)%s\n", t->rows_from, t->rows_to, t->rows_to - t->rows_from,
		       t->digest_changed ? ", content changed" : "");
}

static void print_databases(struct ms_strv *pool, const struct ms_snapdiff *d)
{
	if (!d->n_dbs)
		return;
	printf("databases:\n");
	for (size_t i = 0; i < d->n_dbs; i++) {
		printf("  %s:\n", P(pool, d->dbs[i].alias));
		for (size_t k = 0; k < d->dbs[i].n_tables; k++)
			print_table(pool, &d->dbs[i].tables[k]);
	}
}

static void print_text(const struct ms_header *ha, const struct ms_header *hb, const struct ms_snapdiff *d)
{
	struct ms_strv pool = { 0 };

	printf("from %s (%s) to %s (%s)\n", P(&pool, ha->snapshot_id), P(&pool, ha->created),
	       P(&pool, hb->snapshot_id), P(&pool, hb->created));
	if (ms_snapdiff_empty(d)) {
		printf("no differences\n");
	} else {
		print_versions(&pool, d);
		print_installed(d);
		print_components(&pool, d);
		print_files(&pool, d);
		print_databases(&pool, d);
	}
	ms_strv_clear(&pool);
}

/* --- JSON output --------------------------------------------------------------- */

static ms_json *from_to(ms_json *from, ms_json *to)
{
	return ms_json_obj("from", from, "to", to, NULL);
}

static ms_json *snapshot_json(const char *path, const struct ms_header *h)
{
	return ms_json_obj("snapshot_id", ms_json_str(h->snapshot_id), "created", ms_json_str(h->created),
			   "path", ms_json_str(path), NULL);
}

static ms_json *values_json(const struct ms_diff_value *v, size_t n, const char *key)
{
	ms_json *arr = ms_json_array();

	for (size_t i = 0; i < n; i++)
		ms_json_push(arr, ms_json_obj(key, ms_json_str(v[i].name), "change",
					      ms_json_str(ms_diff_change_name(v[i].change)), "from", ms_json_str(v[i].from),
					      "to", ms_json_str(v[i].to), NULL));
	return arr;
}

static ms_json *dbver_json(const struct ms_diff_dbver *v)
{
	bool whole = v->change != MS_DIFF_CHANGED;
	ms_json *o = ms_json_object();

	ms_json_set(o, "alias", ms_json_str(v->alias));
	ms_json_set(o, "change", ms_json_str(ms_diff_change_name(v->change)));
	ms_json_set(o, "server_version", whole || v->server_changed ?
			    from_to(ms_json_str(v->server_from), ms_json_str(v->server_to)) : ms_json_null());
	ms_json_set(o, "migrations_applied", whole || v->migrations_changed ?
			    from_to(ms_json_count(v->migrations_from), ms_json_count(v->migrations_to)) : ms_json_null());
	ms_json_set(o, "latest", values_json(v->latest, v->n_latest, "app"));
	return o;
}

static ms_json *versions_json(const struct ms_snapdiff *d)
{
	ms_json *o = ms_json_object(), *dbs = ms_json_array();
	const char *names[] = { "modoboa", "django", "python" };

	for (size_t i = 0; i < 3; i++)
		ms_json_set(o, names[i], ms_json_null());
	for (size_t i = 0; i < d->n_packages; i++)
		ms_json_set(o, d->packages[i].name,
				    from_to(ms_json_str(d->packages[i].from), ms_json_str(d->packages[i].to)));
	ms_json_set(o, "extensions", values_json(d->extensions, d->n_extensions, "name"));
	for (size_t i = 0; i < d->n_dbvers; i++)
		ms_json_push(dbs, dbver_json(&d->dbvers[i]));
	ms_json_set(o, "databases", dbs);
	return o;
}

static ms_json *files_json(const struct ms_snapdiff *d)
{
	ms_json *o = ms_json_object();

	for (size_t i = 0; i < d->n_files; i++) {
		const struct ms_diff_files *f = &d->files[i];
		ms_json *lists[4], *paths;

		for (int c = 0; c < 4; c++)
			lists[c] = ms_json_array();
		for (size_t k = 0; k < f->n_paths; k++)
			ms_json_push(lists[f->paths[k].change], ms_json_str(f->paths[k].path));
		paths = ms_json_obj("added", lists[MS_DIFF_ADDED], "removed", lists[MS_DIFF_REMOVED], "changed",
				    lists[MS_DIFF_CHANGED], "metadata", lists[MS_DIFF_METADATA], NULL);
		ms_json_set(o, f->component,
			    ms_json_obj("added", ms_json_int((long long)f->added), "removed",
					ms_json_int((long long)f->removed), "changed", ms_json_int((long long)f->changed),
					"metadata", ms_json_int((long long)f->metadata), "paths", paths, NULL));
	}
	return o;
}

static ms_json *table_json(const struct ms_diff_table *t)
{
	ms_json *o = ms_json_object();

	ms_json_set(o, "table", ms_json_str(t->name));
	ms_json_set(o, "change", ms_json_str(ms_diff_change_name(t->change)));
	ms_json_set(o, "rows_from", ms_json_count(t->rows_from));
	ms_json_set(o, "rows_to", ms_json_count(t->rows_to));
	ms_json_set(o, "digest_changed", ms_json_bool(t->digest_changed));
	return o;
}

static ms_json *databases_json(const struct ms_snapdiff *d)
{
	ms_json *o = ms_json_object();

	for (size_t i = 0; i < d->n_dbs; i++) {
		ms_json *tables = ms_json_array();

		for (size_t k = 0; k < d->dbs[i].n_tables; k++)
			ms_json_push(tables, table_json(&d->dbs[i].tables[k]));
		ms_json_set(o, d->dbs[i].alias, ms_json_obj("tables", tables, NULL));
	}
	return o;
}

static int print_json(const char *pa, const struct ms_header *ha, const char *pb, const struct ms_header *hb,
		       const struct ms_snapdiff *d)
{
	ms_json *o = ms_json_object();

	ms_json_set(o, "from", snapshot_json(pa, ha));
	ms_json_set(o, "to", snapshot_json(pb, hb));
	ms_json_set(o, "identical", ms_json_bool(ms_snapdiff_empty(d)));
	ms_json_set(o, "versions", versions_json(d));
	ms_json_set(o, "packages", values_json(d->installed, d->n_installed, "name"));
	ms_json_set(o, "files", files_json(d));
	ms_json_set(o, "databases", databases_json(d));
	ms_json_set(o, "components",
		    ms_json_obj("added", ms_json_strs(d->components_added.v, d->components_added.n), "removed",
				ms_json_strs(d->components_removed.v, d->components_removed.n), NULL));
	return ms_json_print(o);
}

/* --- the command ------------------------------------------------------------------ */

/* Selects and verifies one snapshot. Returns 0, or the exit code after
 * the problem was logged. */
static int read_one(const char *dest, const char *sel, char **path, struct ms_verify_result *vr)
{
	enum ms_verify_status st;

	*path = ms_dest_select(dest, sel);
	if (!*path || ms_cli_refuse_encrypted(*path) < 0)
		return MS_EXIT_FAILURE;
	st = ms_verify_archive(*path, vr);
	if (st == MS_VERIFY_OK)
		return 0;
	return st == MS_VERIFY_BAD ? MS_EXIT_VERIFY : MS_EXIT_FAILURE;
}

int cmd_diff(struct ms_cli *cli, int argc, char **argv)
{
	struct diff_args a = { 0 };
	struct ms_verify_result vr[2];
	char *path[2] = { NULL, NULL };
	struct ms_snapdiff d;
	const char *dest;
	int n_read = 0, ret = parse_diff(argc, argv, &a);

	if (ret != 0)
		return ret;
	if (ms_cli_load_config(cli) < 0)
		return MS_EXIT_FAILURE;
	dest = a.dest ? a.dest : cli->config->dest ? cli->config->dest : MS_DEFAULT_DEST;
	for (; n_read < 2 && ret == 0; n_read++)
		ret = read_one(dest, a.sel[n_read], &path[n_read], &vr[n_read]);
	if (ret != 0)
		goto out;
	ms_snapdiff_compute(&vr[0].header, &vr[0].manifest, &vr[1].header, &vr[1].manifest, &d);
	if (a.json)
		ret = print_json(path[0], &vr[0].header, path[1], &vr[1].header, &d);
	else
		print_text(&vr[0].header, &vr[1].header, &d);
	ms_snapdiff_clear(&d);
	ret = ret < 0 ? MS_EXIT_FAILURE : ms_cli_exit_code(0);
out:
	for (int i = 0; i < 2; i++) {
		if (i < n_read && path[i])
			ms_verify_result_clear(&vr[i]);
		free(path[i]);
	}
	return ret;
}
