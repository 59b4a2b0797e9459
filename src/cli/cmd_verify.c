/*
 * `modosnap verify`: checks a snapshot end to end (every member against
 * the manifest, the signature against the trusted keys) and records the
 * verification beside it; --deep also restores each database dump into a
 * scratch database (restore/verify_deep.h).
 */
#include "cli/cli.h"
#include "discover/config.h"
#include "snapshot/dest.h"
#include "formats/sign.h"
#include "formats/verify.h"

#include <stdio.h>
#include <stdlib.h>

int cmd_verify(struct ms_cli *cli, int argc, char **argv)
{
	struct ms_read_args a = { 0 };
	struct ms_verify_result vr;
	enum ms_verify_status st;
	char *path = NULL;
	int ret = ms_cli_read_setup(cli, "verify", argc, argv, &a, &path);

	if (ret != 0)
		return ret;
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
