/*
 * `modosnap list`: the snapshots of a destination directory, newest
 * first, with their signer and verification record (text or JSON);
 * --tag keeps those with one tag, --last the N newest of what is left.
 */
#include "cli/cli.h"
#include "cli/offhost.h"
#include "cli/options.h"
#include "remote/push.h"
#include "discover/config.h"
#include "snapshot/dest.h"
#include "formats/manifest.h"
#include "formats/sign.h"
#include "formats/verify.h"
#include "base/strbuf.h"

#include <stdio.h>
#include <stdlib.h>


/* What a verification record says (snapshot/dest.h). */
struct list_verified {
	char when[32];
	int ok;    /* 1: a record matching the archive */
	bool deep; /* it was verify --deep */
};

static void print_list_text(const struct ms_dest_item *it, const struct ms_header *h,
			    const struct list_verified *v, const struct ms_sig_state *sig)
{
	struct ms_strv pool = { 0 };
	char sbuf[128];

	printf("%-26s %-20s modoboa-%-8s %8.1f MiB  ", ms_cli_pooled(&pool, h->snapshot_id),
	       ms_cli_pooled(&pool, h->created), ms_cli_pooled(&pool, h->versions.modoboa ? h->versions.modoboa : "unknown"),
	       (double)it->size / (1024.0 * 1024.0));
	if (it->encrypted)
		printf("encrypted");
	for (size_t i = 0; i < h->components.n; i++)
		printf("%s%s", i ? "," : "", ms_cli_pooled(&pool, h->components.v[i]));
	printf("  tags:%s", h->tags.n ? "" : "-");
	for (size_t i = 0; i < h->tags.n; i++)
		printf("%s%s", i ? "," : "", ms_cli_pooled(&pool, h->tags.v[i]));
	printf("  verified:%s%s  signer:%s\n", v->ok ? v->when : "never", v->deep ? " (deep)" : "",
	       it->encrypted ? "(encrypted)" : ms_cli_sig_text(sig, sbuf, sizeof(sbuf)));
	ms_strv_clear(&pool);
}


static ms_json *list_json_item(const struct ms_dest_item *it, const struct ms_header *h,
			      const struct list_verified *v, const struct ms_sig_state *sig)
{
	ms_json *o = ms_json_object();

	ms_json_set(o, "path", ms_json_str(it->path));
	ms_json_set(o, "size", ms_json_int(it->size));
	ms_json_set(o, "verified_at", v->ok ? ms_json_str(v->when) : ms_json_null());
	ms_json_set(o, "verified_deep", ms_json_bool(v->deep));
	ms_json_set(o, "encrypted", ms_json_bool(it->encrypted));
	ms_json_set(o, "signature", it->encrypted ? ms_json_null() : ms_cli_sig_json(sig));
	ms_json_set(o, "header", ms_cli_header_json(h));
	return o;
}


/* The column names above the text lines, aligned with print_list_text. */
static void print_list_header(void)
{
	printf("%-26s %-20s %-16s %12s  %s\n", "snapshot", "created", "version", "size",
	       "components  tags  verified  signer");
}

struct list_args {
	const char *dest;
	const char *tag;  /* --tag TAG, or NULL */
	size_t last;      /* --last N, 0: all */
	bool json;
	char *remote;     /* --remote NAME: that remote's snapshots instead (owned) */
};

static int parse_list(struct ms_cli *cli, int argc, char **argv, struct list_args *a)
{
	struct ms_opts o = { 0 };
	int ret = ms_opts_parse(MS_OPTS_LIST, argc, argv, &o);

	a->dest = o.dest;
	a->tag = o.tag;
	a->last = (size_t)o.last;
	a->json = o.json;
	a->remote = o.remotes.n ? ms_xstrdup(o.remotes.v[0]) : NULL;
	if (ret == 0 && o.remotes.n > 1)
		ret = ms_cli_usage_error("list", "list takes one --remote NAME");
	if (ret == 0 && a->remote && (a->tag || a->last))
		ret = ms_cli_usage_error("list", "--remote lists the remote's files: no --tag or --last with it");
	ms_opts_clear(&o);
	if (ret != 0)
		return ret;
	if (ms_cli_load_config(cli) < 0)
		return MS_EXIT_FAILURE;
	if (!a->dest)
		a->dest = cli->config->dest ? cli->config->dest : MS_DEFAULT_DEST;
	return 0;
}

/* The header of items[i], when it is to be listed: 1 (h filled), 0 when
 * --tag leaves it out, -1 when unreadable (logged). */
static int read_listed(const struct list_args *a, const struct ms_dest_item *it, struct ms_header *h)
{
	if (ms_dest_read_header(it->path, h) < 0)
		return -1;
	if (a->tag && !ms_strv_contains(&h->tags, a->tag)) {
		ms_header_clear(h);
		return 0;
	}
	return 1;
}

/* One snapshot, as text or pushed to arr. */
static void list_one(const struct ms_dest_item *it, const struct ms_header *h, ms_json *arr)
{
	struct list_verified v = { .ok = 0 };
	struct ms_sig_state sig;

	/* a damaged tail is verify's to report: here it only shows */
	ms_log_mute(1);
	if (it->encrypted || ms_read_signature(it->path, &sig) < 0)
		sig.status = MS_SIG_MALFORMED, sig.problem = "unreadable archive";
	ms_log_mute(0);
	v.ok = ms_dest_verified_record(it->path, v.when, &v.deep);
	if (arr)
		ms_json_push(arr, list_json_item(it, h, &v, &sig));
	else
		print_list_text(it, h, &v, &sig);
}

/* What an empty listing says: nothing there, or nothing --tag keeps. */
static void print_none(const struct list_args *a, size_t n)
{
	if (n == 0)
		printf("no snapshots in '%s'\n", a->dest);
	else
		printf("no snapshots tagged '%s' in '%s'\n", a->tag, a->dest);
}

/* list --remote NAME: the complete snapshots of a remote (half-uploaded
 * ones are not shown), oldest first: name and size, or JSON
 * [{"name", "size"}]. */
static int list_remote(struct ms_cli *cli, const struct list_args *a)
{
	const struct ms_config_remote *r = ms_offhost_remote(cli->config, a->remote);
	struct ms_remote_file *files = NULL;
	struct ms_rclone rc;
	size_t n = 0;
	int ret = MS_EXIT_FAILURE;

	if (!r)
		return MS_EXIT_FAILURE;
	ms_offhost_rclone(cli->config, r, &rc);
	if (ms_remote_list(&rc, &files, &n) < 0)
		return MS_EXIT_FAILURE;
	if (a->json) {
		ms_json *arr = ms_json_array();

		for (size_t i = 0; i < n; i++)
			ms_json_push(arr, ms_json_obj("name", ms_json_str(files[i].name), "size",
						      ms_json_int(files[i].size), NULL));
		ret = ms_json_print(arr) < 0 ? MS_EXIT_FAILURE : ms_cli_exit_code(0);
	} else {
		struct ms_strv pool = { 0 };

		if (n == 0)
			printf("no complete snapshot on remote '%s' (%s)\n", r->name, r->url);
		for (size_t i = 0; i < n; i++)
			printf("%-64s %10.1f MiB\n", ms_cli_pooled(&pool, files[i].name),
			       (double)files[i].size / (1024.0 * 1024.0));
		ms_strv_clear(&pool);
		ret = ms_cli_exit_code(0);
	}
	ms_remote_files_free(files, n);
	return ret;
}

int cmd_list(struct ms_cli *cli, int argc, char **argv)
{
	struct list_args a = { 0 };
	struct ms_dest_item *items = NULL;
	ms_json *arr = NULL;
	size_t n = 0, shown = 0;
	int failed = 0, ret = parse_list(cli, argc, argv, &a);

	if (ret != 0 || a.remote) {
		if (ret == 0)
			ret = list_remote(cli, &a);
		free(a.remote);
		return ret;
	}
	if (ms_dest_list(a.dest, &items, &n) < 0)
		return MS_EXIT_FAILURE;
	if (a.json)
		arr = ms_json_array();
	for (size_t i = 0; i < n && (a.last == 0 || shown < a.last); i++) {
		struct ms_header h;
		int rc = read_listed(&a, &items[i], &h);

		if (rc < 0)
			failed++;
		if (rc <= 0)
			continue;
		if (!arr && shown == 0)
			print_list_header();
		list_one(&items[i], &h, arr);
		shown++;
		ms_header_clear(&h);
	}
	if (!arr && shown == 0 && !failed)
		print_none(&a, n);
	if (arr && ms_json_print(arr) < 0)
		failed++;
	ms_dest_items_free(items, n);
	return ms_cli_exit_code(failed);
}
