/*
 * `modosnap show`: one snapshot in full — header, signer, manifest
 * summary and the entries that changed while read or were skipped (text
 * or JSON). The archive is verified first.
 */
#include "cli/cli.h"
#include "cli/output.h"
#include "snapshot/dest.h"
#include "formats/manifest.h"
#include "formats/sign.h"
#include "formats/verify.h"
#include "base/strbuf.h"

#include <stdio.h>
#include <stdlib.h>

/* "WHAT  a, b, c"; nothing when the list is empty. */
static void print_list(const char *what, struct ms_strv *pool, const struct ms_strv *v)
{
	if (v->n == 0)
		return;
	printf("%-12s ", what);
	for (size_t i = 0; i < v->n; i++)
		printf("%s%s", i ? ", " : "", ms_cli_pooled(pool, v->v[i]));
	putchar('\n');
}

/* The extension and database versions the snapshot was taken at (what a
 * restore of it belongs to: docs/restore.md reads them here). */
static void print_versions_text(struct ms_strv *pool, const struct ms_versions *v)
{
	for (size_t i = 0; i < v->n_extensions; i++)
		printf("extension    %s %s\n", ms_cli_pooled(pool, v->extensions[i].key),
		       ms_cli_pooled(pool, v->extensions[i].value ? v->extensions[i].value : "unknown"));
	for (size_t i = 0; i < v->n_dbs; i++) {
		const struct ms_db_versions *d = &v->dbs[i];

		printf("database     %s: %s %s", ms_cli_pooled(pool, d->alias), ms_cli_pooled(pool, d->engine),
		       ms_cli_pooled(pool, d->server_version ? d->server_version : "(server version unknown)"));
		if (d->migrations_applied >= 0)
			printf(", %lld migration%s applied", d->migrations_applied, d->migrations_applied == 1 ? "" : "s");
		putchar('\n');
	}
}

static void print_show_text(const char *path, const struct ms_verify_result *vr)
{
	const struct ms_header *h = &vr->header;
	unsigned long long files = 0, bytes = 0, changed = 0;
	struct ms_strv pool = { 0 };
	char sbuf[128];

	for (size_t i = 0; i < vr->manifest.n_entries; i++) {
		files += vr->manifest.entries[i].e.type == MS_ENTRY_FILE;
		bytes += vr->manifest.entries[i].e.size;
		changed += (vr->manifest.entries[i].flags & MS_MF_CHANGED) != 0;
	}
	printf("archive      %s\nsnapshot     %s\ncreated      %s\nhost         %s\ninstance     %s\n",
	       ms_cli_pooled(&pool, path), ms_cli_pooled(&pool, h->snapshot_id), ms_cli_pooled(&pool, h->created),
	       ms_cli_pooled(&pool, h->host), ms_cli_pooled(&pool, h->instance));
	printf("tool         modosnap %s\nmodoboa      %s\ndjango       %s\npython       %s\n",
	       ms_cli_pooled(&pool, h->tool_version),
	       ms_cli_pooled(&pool, h->versions.modoboa ? h->versions.modoboa : "unknown"),
	       ms_cli_pooled(&pool, h->versions.django ? h->versions.django : "unknown"),
	       ms_cli_pooled(&pool, h->versions.python ? h->versions.python : "unknown"));
	print_versions_text(&pool, &h->versions);
	print_list("components", &pool, &h->components);
	print_list("tags", &pool, &h->tags);
	if (h->note && *h->note)
		printf("note         %s\n", ms_cli_pooled(&pool, h->note));
	if (h->upgrade_to)
		printf("upgrade to   %s\n", ms_cli_pooled(&pool, h->upgrade_to));
	printf("signer       %s\n", ms_cli_sig_text(&vr->signature, sbuf, sizeof(sbuf)));
	printf("entries      %zu in the manifest (%llu files, %llu bytes; %llu changed while read; %zu skipped)\n",
	       vr->manifest.n_entries, files, bytes, changed, vr->manifest.n_skipped);
	for (size_t i = 0; i < vr->manifest.n_entries; i++)
		if (vr->manifest.entries[i].flags & MS_MF_CHANGED)
			printf("  changed while read: %s\n", ms_cli_pooled(&pool, vr->manifest.entries[i].e.path));
	for (size_t i = 0; i < vr->manifest.n_skipped; i++)
		printf("  skipped %s: %s\n", ms_cli_pooled(&pool, vr->manifest.skipped[i].reason),
		       ms_cli_pooled(&pool, vr->manifest.skipped[i].path));
	ms_strv_clear(&pool);
}

int cmd_show(struct ms_cli *cli, int argc, char **argv)
{
	struct ms_read_args a = { 0 };
	struct ms_verify_result vr;
	enum ms_verify_status st;
	char *path = NULL;
	int ret = ms_cli_read_setup(cli, "show", argc, argv, &a, &path);

	if (ret != 0)
		return ret;
	st = ms_verify_archive(path, &vr);
	if (st != MS_VERIFY_OK) {
		ret = st == MS_VERIFY_BAD ? MS_EXIT_VERIFY : MS_EXIT_FAILURE;
	} else if (a.json) {
		ms_json *o = ms_json_object();
		char *mtext = ms_manifest_encode(&vr.manifest);

		ms_json_set(o, "path", ms_json_str(path));
		ms_json_set(o, "header", ms_cli_header_json(&vr.header));
		ms_json_set(o, "signature", ms_cli_sig_json(&vr.signature));
		ms_json_set(o, "manifest", ms_json_parse(mtext));
		free(mtext);
		ms_json_print(o);
	} else {
		print_show_text(path, &vr);
	}
	ms_verify_result_clear(&vr);
	free(path);
	return ret;
}
