/*
 * `modosnap verify`, `list` and `show`: the read-only commands on the
 * snapshots of a destination directory.
 */
#include "cli/cli.h"
#include "discover/config.h"
#include "snapshot/dest.h"
#include "discover/instance.h"
#include "restore/my_restore.h"
#include "restore/pg_restore.h"
#include "restore/pg_scratch.h"
#include "restore/sqlcheck.h"
#include "base/strbuf.h"
#include "formats/manifest.h"
#include "formats/verify.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct read_args {
	const char *dest;
	const char *selector;
	bool json;
	bool deep;                /* verify --deep */
	bool allow_unsigned;      /* verify --allow-unsigned */
	struct ms_instance_opts inst;
};

/* Options shared by verify, list and show; `want_selector` says whether
 * one positional SNAPSHOT argument is required. */
static int parse_read(const char *cmd, int argc, char **argv, bool want_selector, struct read_args *a)
{
	static const struct option longopts[] = {
		{ "dest", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "deep", no_argument, NULL, 'D' },
		{ "instance", required_argument, NULL, 'i' },
		{ "allow-unsigned", no_argument, NULL, 'U' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': a->dest = optarg; break;
		case 'j':
			if (strcmp(cmd, "verify") == 0)
				return ms_cli_usage_error(cmd, "unknown option '--json'");
			a->json = true;
			break;
		case 'D':
		case 'i':
		case 'U':
			if (strcmp(cmd, "verify") != 0)
				return ms_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
			if (c == 'D')
				a->deep = true;
			else if (c == 'U')
				a->allow_unsigned = true;
			else
				a->inst.instance_dir = optarg;
			break;
		default:
			return ms_cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (want_selector) {
		if (optind >= argc)
			return ms_cli_usage_error(cmd, "missing SNAPSHOT argument");
		a->selector = argv[optind++];
	}
	if (optind < argc)
		return ms_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	return 0;
}

static const char *dest_of(const struct ms_cli *cli, const struct read_args *a)
{
	return a->dest ? a->dest : cli->config->dest ? cli->config->dest : MS_DEFAULT_DEST;
}

static int setup(struct ms_cli *cli, const char *cmd, int argc, char **argv, bool want_selector,
		 struct read_args *a)
{
	int ret = parse_read(cmd, argc, argv, want_selector, a);

	if (ret != 0)
		return ret;
	return ms_cli_load_config(cli) < 0 ? MS_EXIT_FAILURE : 0;
}

/* Restores one database dump into a scratch database beside the live
 * one, where the restore compares every table's rows and digest, then
 * drops it. The dump's SQL is checked first (sqlcheck.h) and runs as the
 * application's role/account; admin_user, when set, only creates and
 * drops the scratch database. Appends the result line to `ok`. Returns
 * 0, -1 when the dump did not pass the check, restore or match, -2 when
 * no scratch database could be made (not a verdict on the snapshot). */
static int deep_one(struct ms_cli *cli, const struct ms_dbconf *live, const char *archive,
		    const struct ms_manifest *m, const struct ms_manifest_db *mdb, struct ms_strbuf *ok)
{
	const struct ms_config_db *c = ms_config_db(cli->config, mdb->alias);
	struct ms_db_admin admin = { c ? c->admin_user : NULL, c ? c->admin_password : NULL };
	struct ms_dbconf scratch = *live;
	char *name;
	int ret;

	if (ms_sqlcheck_archive(archive, mdb, live->user) < 0)
		return -1;
	if (live->engine == MS_DB_MYSQL) {
		ret = ms_my_verify_scratch(live, &admin, archive, m, mdb->alias);
	} else {
		name = ms_pg_scratch_create(live, &admin, mdb->encoding);
		if (!name)
			return -2;
		scratch.name = name;
		ret = ms_pg_restore_database(&scratch, archive, m, mdb->alias);
		if (ms_pg_scratch_drop(live, &admin, name) < 0)
			ret = -1;
		free(name);
	}
	if (ret == 0)
		ms_strbuf_addf(ok, "ok: database '%s': %zu tables restored into a scratch database and checked\n",
			       mdb->alias, mdb->n_tables);
	return ret;
}

/* verify --deep: every dumped database, restored and compared. The "ok"
 * lines are printed only when every database passed. Returns an exit
 * code. */
int ms_cli_verify_deep(struct ms_cli *cli, const struct ms_instance_opts *inst_opts, const char *archive,
		       const struct ms_manifest *m)
{
	struct ms_instance *inst;
	struct ms_strbuf ok = MS_STRBUF_INIT;
	int failed = 0, errors = 0;

	if (m->n_dbs == 0) {
		ms_log_warn("'%s' holds no database dump: nothing for --deep to check", archive);
		return ms_cli_exit_code(0);
	}
	struct ms_instance_opts opts = *inst_opts;

	opts.dbs_only = true; /* only the connection parameters matter here */
	inst = ms_instance_discover(cli->config, &opts);
	if (!inst)
		return MS_EXIT_FAILURE;
	for (size_t i = 0; i < m->n_dbs; i++) {
		const struct ms_manifest_db *mdb = &m->dbs[i];
		const struct ms_dbconf *live = NULL;

		for (size_t k = 0; k < inst->n_dbs; k++)
			if (strcmp(inst->dbs[k].alias, mdb->alias) == 0)
				live = &inst->dbs[k];
		if (!live || !mdb->engine || strcmp(live->engine == MS_DB_POSTGRESQL ? "postgresql" : "mysql",
						    mdb->engine) != 0) {
			ms_log_error("database '%s': no %s connection for it in this instance's settings "
				     "or the config file", mdb->alias,
				     mdb->engine && !strcmp(mdb->engine, "mysql") ? "MariaDB/MySQL" : "PostgreSQL");
			errors++;
			continue;
		}
		switch (deep_one(cli, live, archive, m, mdb, &ok)) {
		case -1: failed++; break;
		case -2: errors++; break;
		default: break;
		}
	}
	ms_instance_free(inst);
	if (!failed && !errors && ok.len && ms_log_get_level() >= MS_LOG_INFO)
		fputs(ms_strbuf_str(&ok), stdout);
	ms_strbuf_release(&ok);
	if (failed)
		return MS_EXIT_VERIFY;
	return errors ? MS_EXIT_FAILURE : ms_cli_exit_code(0);
}

int cmd_verify(struct ms_cli *cli, int argc, char **argv)
{
	struct read_args a = { 0 };
	struct ms_verify_result vr;
	enum ms_verify_status st;
	char *path;
	int ret = setup(cli, "verify", argc, argv, true, &a);

	if (ret != 0)
		return ret;
	path = ms_dest_select(dest_of(cli, &a), a.selector);
	if (!path)
		return MS_EXIT_FAILURE;
	st = ms_verify_archive(path, &vr);
	if (st == MS_VERIFY_OK && ms_sign_check_trust(&vr, ms_config_signing_key(cli->config),
						      ms_config_trusted_keys(cli->config), a.allow_unsigned, path) < 0) {
		ret = MS_EXIT_VERIFY; /* not a snapshot of ours: no verification record */
	} else if (st == MS_VERIFY_OK) {
		if (ms_dest_mark_verified(path) < 0)
			ms_log_warn("'%s' verified, but the verification record could not be written", path);
		ret = ms_cli_exit_code(0);
		if (a.deep && ret != MS_EXIT_FAILURE) {
			int deep = ms_cli_verify_deep(cli, &a.inst, path, &vr.manifest);

			ret = deep != MS_EXIT_OK ? deep : ret;
		}
		/* no "ok" for an archive whose --deep check failed */
		if (ret != MS_EXIT_VERIFY && ret != MS_EXIT_FAILURE && ms_log_get_level() >= MS_LOG_INFO)
			printf("ok: %s: %llu entries, %llu bytes of content, snapshot %s, %s%s\n", path,
			       (unsigned long long)vr.entries, (unsigned long long)vr.data_bytes,
			       vr.header.snapshot_id, vr.signature.status == MS_SIG_VALID ? "signed by " : "unsigned",
			       vr.signature.status == MS_SIG_VALID ? vr.signature.fingerprint : "");
	} else {
		ret = st == MS_VERIFY_BAD ? MS_EXIT_VERIFY : MS_EXIT_FAILURE;
	}
	ms_verify_result_clear(&vr);
	free(path);
	return ret;
}

/* What `list` and `show` say about a signature (no trust decision). */
static const char *sig_status_name(enum ms_sig_status s)
{
	switch (s) {
	case MS_SIG_VALID: return "valid";
	case MS_SIG_BAD: return "bad";
	case MS_SIG_MALFORMED: return "malformed";
	case MS_SIG_NONE: break;
	}
	return "none";
}

/* "SHA256:..." for a valid signature, else "unsigned" or "bad (...)";
 * into buf. */
static const char *sig_text(const struct ms_sig_state *st, char *buf, size_t len)
{
	if (st->status == MS_SIG_VALID)
		snprintf(buf, len, "%s", st->fingerprint);
	else if (st->status == MS_SIG_NONE)
		snprintf(buf, len, "unsigned");
	else
		snprintf(buf, len, "bad (%s)", st->problem);
	return buf;
}

/* {"status": ..., "fingerprint": ... or null, "public_key": ... or null} */
static json_t *sig_json(const struct ms_sig_state *st)
{
	json_t *o = json_object();
	char *line = st->status == MS_SIG_VALID ? ms_sign_public_line(st->pubkey, NULL) : NULL;

	json_object_set_new(o, "status", json_string(sig_status_name(st->status)));
	json_object_set_new(o, "fingerprint", st->status == MS_SIG_VALID ? json_string(st->fingerprint) : json_null());
	json_object_set_new(o, "public_key", line ? json_string(line) : json_null());
	json_object_set_new(o, "problem", st->problem ? json_string(st->problem) : json_null());
	free(line);
	return o;
}

static json_t *header_json(const struct ms_header *h)
{
	char *text = ms_header_encode(h);
	json_t *j = json_loads(text, 0, NULL);

	free(text);
	return j ? j : json_null();
}

/* Archive text is untrusted: printed through ms_printable, the copies
 * kept in `pool` until the caller clears it. */
static const char *P(struct ms_strv *pool, const char *s)
{
	ms_strv_push_owned(pool, ms_printable(s));
	return pool->v[pool->n - 1];
}

static void print_list_text(const struct ms_dest_item *it, const struct ms_header *h, const char *when,
			    int verified, const struct ms_sig_state *sig)
{
	struct ms_strv pool = { 0 };
	char sbuf[128];

	printf("%-26s %-20s modoboa-%-8s %8.1f MiB  ", P(&pool, h->snapshot_id), P(&pool, h->created),
	       P(&pool, h->versions.modoboa ? h->versions.modoboa : "unknown"), (double)it->size / (1024.0 * 1024.0));
	for (size_t i = 0; i < h->components.n; i++)
		printf("%s%s", i ? "," : "", P(&pool, h->components.v[i]));
	printf("  tags:%s", h->tags.n ? "" : "-");
	for (size_t i = 0; i < h->tags.n; i++)
		printf("%s%s", i ? "," : "", P(&pool, h->tags.v[i]));
	printf("  verified:%s  signer:%s\n", verified ? when : "never", sig_text(sig, sbuf, sizeof(sbuf)));
	ms_strv_clear(&pool);
}

static json_t *list_json_item(const struct ms_dest_item *it, const struct ms_header *h, const char *when,
			      int verified, const struct ms_sig_state *sig)
{
	json_t *o = json_object();

	json_object_set_new(o, "path", json_string(it->path));
	json_object_set_new(o, "size", json_integer(it->size));
	json_object_set_new(o, "verified_at", verified ? json_string(when) : json_null());
	json_object_set_new(o, "signature", sig_json(sig));
	json_object_set_new(o, "header", header_json(h));
	return o;
}

int cmd_list(struct ms_cli *cli, int argc, char **argv)
{
	struct read_args a = { 0 };
	struct ms_dest_item *items = NULL;
	json_t *arr = NULL;
	size_t n = 0;
	int failed = 0, ret = setup(cli, "list", argc, argv, false, &a);

	if (ret != 0)
		return ret;
	if (ms_dest_list(dest_of(cli, &a), &items, &n) < 0)
		return MS_EXIT_FAILURE;
	if (a.json)
		arr = json_array();
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
			json_array_append_new(arr, list_json_item(&items[i], &h, when, verified, &sig));
		else
			print_list_text(&items[i], &h, when, verified, &sig);
		ms_header_clear(&h);
	}
	if (arr) {
		json_dumpf(arr, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(arr);
	}
	ms_dest_items_free(items, n);
	return ms_cli_exit_code(failed);
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
	printf("archive      %s\nsnapshot     %s\ncreated      %s\nhost         %s\ninstance     %s\n", P(&pool, path),
	       P(&pool, h->snapshot_id), P(&pool, h->created), P(&pool, h->host), P(&pool, h->instance));
	printf("tool         modosnap %s\nmodoboa      %s\ndjango       %s\npython       %s\n", P(&pool, h->tool_version),
	       P(&pool, h->versions.modoboa ? h->versions.modoboa : "unknown"),
	       P(&pool, h->versions.django ? h->versions.django : "unknown"),
	       P(&pool, h->versions.python ? h->versions.python : "unknown"));
	printf("components   ");
	for (size_t i = 0; i < h->components.n; i++)
		printf("%s%s", i ? ", " : "", P(&pool, h->components.v[i]));
	printf("\ntags         ");
	for (size_t i = 0; i < h->tags.n; i++)
		printf("%s%s", i ? ", " : "", P(&pool, h->tags.v[i]));
	printf("\nnote         %s\n", P(&pool, h->note ? h->note : ""));
	if (h->upgrade_to)
		printf("upgrade to   %s\n", P(&pool, h->upgrade_to));
	printf("signer       %s\n", sig_text(&vr->signature, sbuf, sizeof(sbuf)));
	printf("entries      %zu in the manifest (%llu files, %llu bytes; %llu changed while read; %zu skipped)\n",
	       vr->manifest.n_entries, files, bytes, changed, vr->manifest.n_skipped);
	for (size_t i = 0; i < vr->manifest.n_entries; i++)
		if (vr->manifest.entries[i].flags & MS_MF_CHANGED)
			printf("  changed while read: %s\n", P(&pool, vr->manifest.entries[i].e.path));
	for (size_t i = 0; i < vr->manifest.n_skipped; i++)
		printf("  skipped %s: %s\n", P(&pool, vr->manifest.skipped[i].reason), P(&pool, vr->manifest.skipped[i].path));
	ms_strv_clear(&pool);
}

int cmd_show(struct ms_cli *cli, int argc, char **argv)
{
	struct read_args a = { 0 };
	struct ms_verify_result vr;
	enum ms_verify_status st;
	char *path;
	int ret = setup(cli, "show", argc, argv, true, &a);

	if (ret != 0)
		return ret;
	path = ms_dest_select(dest_of(cli, &a), a.selector);
	if (!path)
		return MS_EXIT_FAILURE;
	st = ms_verify_archive(path, &vr);
	if (st != MS_VERIFY_OK) {
		ret = st == MS_VERIFY_BAD ? MS_EXIT_VERIFY : MS_EXIT_FAILURE;
	} else if (a.json) {
		json_t *o = json_object();
		char *mtext = ms_manifest_encode(&vr.manifest);

		json_object_set_new(o, "path", json_string(path));
		json_object_set_new(o, "header", header_json(&vr.header));
		json_object_set_new(o, "signature", sig_json(&vr.signature));
		json_object_set_new(o, "manifest", json_loads(mtext, 0, NULL));
		free(mtext);
		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(o);
	} else {
		print_show_text(path, &vr);
	}
	ms_verify_result_clear(&vr);
	free(path);
	return ret;
}
