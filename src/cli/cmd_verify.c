/*
 * `modosnap verify`: checks a snapshot end to end (every member against
 * the manifest, the signature against the trusted keys) and records the
 * verification beside it, saying whether it was deep; --deep also
 * restores each database dump into a scratch database
 * (restore/verify_deep.h). --all checks every snapshot of the destination
 * and exits with the worst result; --json prints one document instead of
 * the "ok" lines (errors stay on stderr).
 */
#include "cli/cli.h"
#include "cli/offhost.h"
#include "cli/options.h"
#include "restore/files.h"
#include "cli/progress.h"
#include "discover/config.h"
#include "restore/verify_deep.h"
#include "snapshot/dest.h"
#include "snapshot/snapshot.h"
#include "formats/sign.h"
#include "formats/verify.h"
#include "base/log.h"
#include "base/strbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct verify_args {
	const char *dest;      /* --dest, else the config's, else the default */
	const char *selector;  /* SNAPSHOT, NULL with --all */
	bool all, deep, json, allow_unsigned;
	struct ms_instance_opts inst;
	char *remote;          /* --remote NAME: the remote's copy (owned) */
	char *identity;        /* --identity FILE (owned) */
};

/* What verifying one archive found. */
struct verify_outcome {
	const char *record;    /* where the verification record goes: the archive, or the
	                          encrypted snapshot it was decrypted from */
	int ret;               /* its exit code: 0, 1, 3 or 5 */
	bool deep;             /* the deep check ran and passed */
	struct ms_strbuf deep_ok; /* its "ok: ..." lines, one per database */
};

static int parse_verify(struct ms_cli *cli, int argc, char **argv, struct verify_args *a)
{
	struct ms_opts o = { 0 };
	int ret = ms_opts_parse(MS_OPTS_VERIFY, argc, argv, &o);

	a->dest = o.dest;
	a->selector = o.args[0];
	a->all = o.all;
	a->deep = o.deep;
	a->json = o.json;
	a->allow_unsigned = o.allow_unsigned;
	a->inst = o.inst;
	a->remote = o.remotes.n ? ms_xstrdup(o.remotes.v[0]) : NULL;
	a->identity = o.identity ? ms_xstrdup(o.identity) : NULL;
	if (ret == 0 && o.remotes.n > 1)
		ret = ms_cli_usage_error("verify", "verify takes one --remote NAME");
	ms_opts_clear(&o);
	if (ret != 0)
		return ret;
	if (a->all && a->selector)
		return ms_cli_usage_error("verify", "give SNAPSHOT or --all, not both");
	if (a->remote && (a->all || a->deep))
		return ms_cli_usage_error("verify", "--remote verifies one copy: no --all or --deep with it");
	if (ms_cli_load_config(cli) < 0)
		return MS_EXIT_FAILURE;
	if (!a->dest)
		a->dest = cli->config->dest ? cli->config->dest : MS_DEFAULT_DEST;
	return 0;
}

/* --deep on a verified archive: the exit code (0, 1, 3, 5); the record
 * says deep only when every dump passed. */
static int check_deep(struct ms_cli *cli, const struct verify_args *a, const char *path,
		      const struct ms_verify_result *vr, struct verify_outcome *out)
{
	int rc = ms_cli_verify_deep(cli, &a->inst, path, &vr->manifest, a->json, &out->deep_ok);

	if (rc != MS_EXIT_OK && rc != MS_EXIT_WARNINGS)
		return rc;
	out->deep = true;
	if (ms_dest_mark_verified_as(out->record, true) < 0)
		ms_log_warn("'%s' verified, but the verification record could not be written", out->record);
	return MS_EXIT_OK;
}

/* Verifies one archive into *vr and *out (out->ret). */
static void verify_path(struct ms_cli *cli, const struct verify_args *a, const char *path,
			struct ms_verify_result *vr, struct verify_outcome *out)
{
	unsigned warnings = ms_log_warning_count();
	enum ms_verify_status st = ms_verify_archive(path, vr);

	if (st != MS_VERIFY_OK) {
		out->ret = st == MS_VERIFY_BAD ? MS_EXIT_VERIFY : MS_EXIT_FAILURE;
		return;
	}
	if (ms_sign_check_trust(vr, ms_config_signing_key(cli->config), ms_config_trusted_keys(cli->config),
				a->allow_unsigned, path) < 0) {
		out->ret = MS_EXIT_VERIFY; /* not a snapshot of ours: no verification record */
		return;
	}
	if (ms_dest_mark_verified_as(out->record, false) < 0)
		ms_log_warn("'%s' verified, but the verification record could not be written", out->record);
	out->ret = a->deep ? check_deep(cli, a, path, vr, out) : MS_EXIT_OK;
	if (out->ret == MS_EXIT_OK && ms_log_warning_count() > warnings)
		out->ret = MS_EXIT_WARNINGS;
}

static const char *status_name(int ret)
{
	switch (ret) {
	case MS_EXIT_OK: return "ok";
	case MS_EXIT_WARNINGS: return "warnings";
	case MS_EXIT_VERIFY: return "bad";
	}
	return "failed";
}

/* The text of one result: the "ok" lines (none for an archive whose
 * --deep check failed), or with --all one line for a failure too (its
 * reason is the error above it on stderr). */
static void print_outcome(const struct verify_args *a, const char *path, const struct ms_verify_result *vr,
			  const struct verify_outcome *out)
{
	if (ms_log_get_level() < MS_LOG_INFO)
		return;
	if (out->ret == MS_EXIT_OK || out->ret == MS_EXIT_WARNINGS) {
		fputs(ms_strbuf_str(&out->deep_ok), stdout);
		printf("ok: %s: %llu entries, %llu bytes of content, snapshot %s, %s%s%s\n", path,
		       (unsigned long long)vr->entries, (unsigned long long)vr->data_bytes, vr->header.snapshot_id,
		       vr->signature.status == MS_SIG_VALID ? "signed by " : "unsigned",
		       vr->signature.status == MS_SIG_VALID ? vr->signature.fingerprint : "", out->deep ? ", deep" : "");
	} else if (a->all) {
		printf("%s: %s\n", status_name(out->ret), path);
	}
}

static ms_json *outcome_json(const char *path, const struct ms_verify_result *vr, const struct verify_outcome *out)
{
	ms_json *o = ms_json_object();

	ms_json_set(o, "path", ms_json_str(path));
	ms_json_set(o, "snapshot_id", ms_json_str(vr->header_ok ? vr->header.snapshot_id : NULL));
	ms_json_set(o, "status", ms_json_str(status_name(out->ret)));
	ms_json_set(o, "exit_code", ms_json_int(out->ret));
	ms_json_set(o, "deep", ms_json_bool(out->deep));
	ms_json_set(o, "entries", ms_json_int((long long)vr->entries));
	ms_json_set(o, "data_bytes", ms_json_int((long long)vr->data_bytes));
	ms_json_set(o, "signature", ms_cli_sig_json(&vr->signature));
	return o;
}

/* An encrypted snapshot of the destination without --identity: only its
 * ciphertext against its marker, which is said (a warning: exit 3). */
static int verify_ciphertext(const struct verify_args *a, const char *path, ms_json **json)
{
	int ret = ms_offhost_check_marker(path);

	if (ret == MS_EXIT_OK) {
		ms_log_warn("'%s' is encrypted: its SHA-256 matches its marker, but its content is not verified "
			    "without --identity FILE", path);
		ret = MS_EXIT_WARNINGS;
	}
	if (a->json) {
		*json = ms_json_obj("path", ms_json_str(path), "status", ms_json_str(status_name(ret)), "exit_code",
				    ms_json_int(ret), "encrypted", ms_json_bool(true), "content_verified",
				    ms_json_bool(false), NULL);
	} else if (ret == MS_EXIT_WARNINGS && ms_log_get_level() >= MS_LOG_INFO) {
		printf("ok, encrypted: %s (its SHA-256 matches its marker; the content needs --identity)\n", path);
	} else if (a->all && ms_log_get_level() >= MS_LOG_INFO) {
		printf("%s: %s\n", status_name(ret), path);
	}
	return ret;
}

/* Verifies `path` and reports it (text, or pushed to arr). Its exit code.
 * An encrypted snapshot is decrypted with --identity into a private
 * directory, verified there and reported under its own name. */
static int verify_one(struct ms_cli *cli, const struct verify_args *a, const char *path, ms_json **json)
{
	struct ms_verify_result vr;
	struct verify_outcome out = { .record = path, .ret = MS_EXIT_OK, .deep_ok = MS_STRBUF_INIT };
	char *plain = NULL;

	if (ms_dest_is_encrypted(path)) {
		if (!a->identity)
			return verify_ciphertext(a, path, json);
		plain = ms_offhost_decrypt_local(path, a->identity, &out.ret);
		if (!plain) {
			memset(&vr, 0, sizeof(vr));
			goto report;
		}
	}
	verify_path(cli, a, plain ? plain : path, &vr, &out);
report:
	if (a->json)
		*json = outcome_json(path, &vr, &out);
	else
		print_outcome(a, path, &vr, &out);
	ms_offhost_discard(plain);
	ms_strbuf_release(&out.deep_ok);
	ms_verify_result_clear(&vr);
	return out.ret;
}

/* The worst of two exit codes: a damaged or untrusted snapshot (5), one
 * that could not be checked (1), warnings (3), ok (0). */
static int worst(int a, int b)
{
	static const int order[] = { MS_EXIT_OK, MS_EXIT_WARNINGS, MS_EXIT_FAILURE, MS_EXIT_VERIFY };
	int ra = 0, rb = 0;

	for (int i = 0; i < 4; i++) {
		ra = order[i] == a ? i : ra;
		rb = order[i] == b ? i : rb;
	}
	return ra >= rb ? a : b;
}

/* --all: every snapshot of the destination, then a summary line. */
static int verify_all(struct ms_cli *cli, const struct verify_args *a)
{
	struct ms_dest_item *items = NULL;
	ms_json *arr = a->json ? ms_json_array() : NULL;
	size_t n = 0, counts[4] = { 0 };
	int ret = MS_EXIT_OK;

	if (ms_dest_list(a->dest, &items, &n) < 0) {
		ms_json_free(arr);
		return MS_EXIT_FAILURE;
	}
	for (size_t i = 0; i < n; i++) {
		ms_json *o = NULL;
		int r = verify_one(cli, a, items[i].path, &o);

		counts[r == MS_EXIT_OK || r == MS_EXIT_WARNINGS ? 0 : r == MS_EXIT_VERIFY ? 1 : 2]++;
		ret = worst(ret, r);
		if (arr)
			ms_json_push(arr, o);
	}
	if (arr && ms_json_print(arr) < 0)
		ret = worst(ret, MS_EXIT_FAILURE);
	else if (!arr && n == 0 && ms_log_get_level() >= MS_LOG_INFO)
		printf("no snapshots in '%s'\n", a->dest);
	else if (!arr && ms_log_get_level() >= MS_LOG_INFO)
		printf("%zu %s: %zu ok, %zu bad, %zu not checked\n", n, n == 1 ? "snapshot" : "snapshots", counts[0],
		       counts[1], counts[2]);
	ms_dest_items_free(items, n);
	return ret;
}

/* verify --remote NAME SNAPSHOT: the remote's copy downloaded into a
 * private directory (beside the destination when it exists), checked
 * against its marker, decrypted with --identity and verified; removed
 * afterwards. Without an identity an encrypted copy is checked against
 * its recorded hash only, which is said (exit 3). */
static int verify_remote(struct ms_cli *cli, const struct verify_args *a)
{
	const struct ms_config_remote *r = ms_offhost_remote(cli->config, a->remote);
	const char *base = ms_is_dir(a->dest) ? a->dest : getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
	char *tmp = ms_xasprintf("%s/.modosnap-verify.XXXXXX", base), *path;
	int code = MS_EXIT_FAILURE;

	if (!r || !mkdtemp(tmp)) {
		if (r)
			ms_log_error("unable to create a directory in '%s': %s", base, strerror(errno));
		free(tmp);
		return MS_EXIT_FAILURE;
	}
	path = ms_offhost_fetch(cli->config, r, a->selector, tmp, a->identity, true, &code);
	if (path && ms_log_get_level() >= MS_LOG_INFO)
		printf("%s: %s on remote '%s' (%s)\n", code == MS_EXIT_OK ? "ok" : "ok, encrypted",
		       ms_path_basename(path), r->name,
		       code == MS_EXIT_OK ? "decrypted where needed, integrity and signature verified"
					  : "its SHA-256 matches the marker; the content needs --identity");
	ms_files_remove_tree(tmp);
	ms_snapshot_remove_on_signal(NULL);
	free(path);
	free(tmp);
	return code == MS_EXIT_OK ? ms_cli_exit_code(0) : code;
}

int cmd_verify(struct ms_cli *cli, int argc, char **argv)
{
	struct verify_args a = { 0 };
	ms_json *o = NULL;
	char *path;
	int ret = parse_verify(cli, argc, argv, &a);

	if (ret != 0 || a.remote) {
		if (ret == 0)
			ret = verify_remote(cli, &a);
		free(a.remote);
		free(a.identity);
		return ret;
	}
	if (a.all) {
		ret = verify_all(cli, &a);
	} else {
		path = ms_dest_select(a.dest, a.selector);
		if (!path)
			return MS_EXIT_FAILURE;
		ret = verify_one(cli, &a, path, &o);
		if (o && ms_json_print(o) < 0)
			ret = worst(ret, MS_EXIT_FAILURE);
		free(path);
	}
	free(a.remote);
	free(a.identity);
	/* a warning before any archive was read (the config) counts too */
	return ret == MS_EXIT_OK ? ms_cli_exit_code(0) : ret;
}
