/*
 * `modosnap list`: the snapshots of a destination directory, newest
 * first, with their signer and verification record (text or JSON).
 */
#include "cli/cli.h"
#include "snapshot/dest.h"
#include "formats/manifest.h"
#include "formats/sign.h"
#include "formats/verify.h"
#include "base/strbuf.h"

#include <stdio.h>


static void print_list_text(const struct ms_dest_item *it, const struct ms_header *h, const char *when,
			    int verified, const struct ms_sig_state *sig)
{
	struct ms_strv pool = { 0 };
	char sbuf[128];

	printf("%-26s %-20s modoboa-%-8s %8.1f MiB  ", ms_cli_pooled(&pool, h->snapshot_id),
	       ms_cli_pooled(&pool, h->created), ms_cli_pooled(&pool, h->versions.modoboa ? h->versions.modoboa : "unknown"),
	       (double)it->size / (1024.0 * 1024.0));
	for (size_t i = 0; i < h->components.n; i++)
		printf("%s%s", i ? "," : "", ms_cli_pooled(&pool, h->components.v[i]));
	printf("  tags:%s", h->tags.n ? "" : "-");
	for (size_t i = 0; i < h->tags.n; i++)
		printf("%s%s", i ? "," : "", ms_cli_pooled(&pool, h->tags.v[i]));
	printf("  verified:%s  signer:%s\n", verified ? when : "never", ms_cli_sig_text(sig, sbuf, sizeof(sbuf)));
	ms_strv_clear(&pool);
}


static ms_json *list_json_item(const struct ms_dest_item *it, const struct ms_header *h, const char *when,
			      int verified, const struct ms_sig_state *sig)
{
	ms_json *o = ms_json_object();

	ms_json_set(o, "path", ms_json_str(it->path));
	ms_json_set(o, "size", ms_json_int(it->size));
	ms_json_set(o, "verified_at", verified ? ms_json_str(when) : ms_json_null());
	ms_json_set(o, "signature", ms_cli_sig_json(sig));
	ms_json_set(o, "header", ms_cli_header_json(h));
	return o;
}


/* The column names above the text lines, aligned with print_list_text. */
static void print_list_header(void)
{
	printf("%-26s %-20s %-16s %12s  %s\n", "snapshot", "created", "version", "size",
	       "components  tags  verified  signer");
}

int cmd_list(struct ms_cli *cli, int argc, char **argv)
{
	struct ms_read_args a = { 0 };
	struct ms_dest_item *items = NULL;
	ms_json *arr = NULL;
	size_t n = 0;
	int failed = 0, ret = ms_cli_read_setup(cli, "list", argc, argv, &a, NULL);

	if (ret != 0)
		return ret;
	if (ms_dest_list(ms_cli_read_dest(cli, &a), &items, &n) < 0)
		return MS_EXIT_FAILURE;
	if (a.json)
		arr = ms_json_array();
	else if (n == 0)
		printf("no snapshots in '%s'\n", ms_cli_read_dest(cli, &a));
	else
		print_list_header();
	for (size_t i = 0; i < n; i++) {
		struct ms_header h;
		struct ms_sig_state sig;
		char when[32] = "";
		int verified;

		if (ms_read_header(items[i].path, &h) < 0) {
			failed++;
			continue;
		}
		/* a damaged tail is verify's to report: here it only shows */
		ms_log_mute(1);
		if (ms_read_signature(items[i].path, &sig) < 0)
			sig.status = MS_SIG_MALFORMED, sig.problem = "unreadable archive";
		ms_log_mute(0);
		verified = ms_dest_verified_at(items[i].path, when);
		if (arr)
			ms_json_push(arr, list_json_item(&items[i], &h, when, verified, &sig));
		else
			print_list_text(&items[i], &h, when, verified, &sig);
		ms_header_clear(&h);
	}
	if (arr && ms_json_print(arr) < 0)
		failed++;
	ms_dest_items_free(items, n);
	return ms_cli_exit_code(failed);
}
