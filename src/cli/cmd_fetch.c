/*
 * `modosnap fetch SNAPSHOT --remote NAME [--identity FILE]`: brings a
 * snapshot back from a remote into the destination directory (the
 * disaster runbook's first step, docs/offhost.md). Only a complete copy
 * is fetched (its marker names it), checked against the SHA-256 the
 * marker records. An encrypted one (NAME.tar.zst.age) is decrypted with
 * the age identity given, which never has to be on the server, then
 * verified like any snapshot; without an identity it stays encrypted
 * (checked against its recorded hash only, which is said).
 *
 * SNAPSHOT: the name on the remote, a unique prefix of it, or 'latest'.
 */
#include "cli/cli.h"
#include "cli/offhost.h"
#include "cli/options.h"
#include "discover/config.h"
#include "formats/age.h"
#include "remote/push.h"
#include "snapshot/dest.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The remote file SNAPSHOT names (caller frees), or NULL after logging. */
static char *pick(const struct ms_remote_file *f, size_t n, const char *sel, const char *remote)
{
	const char *found = NULL;
	size_t matches = 0;

	if (!strcmp(sel, "latest")) {
		if (n)
			return ms_xstrdup(f[n - 1].name); /* names sort by time */
		ms_log_error("remote '%s' holds no complete snapshot", remote);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(f[i].name, sel))
			return ms_xstrdup(f[i].name);
		if (!strncmp(f[i].name, sel, strlen(sel))) {
			found = f[i].name;
			matches++;
		}
	}
	if (matches == 1)
		return ms_xstrdup(found);
	if (matches)
		ms_log_error("'%s' names %zu snapshots of remote '%s': give more of the name", sel, matches, remote);
	else
		ms_log_error("no complete snapshot named '%s' on remote '%s'", sel, remote);
	return NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

/* NAME.age in dir decrypted to NAME, the encrypted copy removed. The
 * plaintext's path (caller frees), or NULL after logging. */
static char *decrypt(const char *enc, const char *identity)
{
	struct ms_age_identity *id = ms_age_identity_load(identity);
	char *plain = ms_xstrndup(enc, strlen(enc) - 4);
	int rc;

	if (!id) {
		free(plain);
		return NULL;
	}
	rc = ms_age_decrypt_file(enc, plain, id);
	ms_age_identity_free(id);
	if (rc < 0) {
		free(plain);
		return NULL;
	}
	unlink(enc);
	return plain;
}

int cmd_fetch(struct ms_cli *cli, int argc, char **argv)
{
	struct ms_opts o = { 0 };
	int ret = ms_opts_parse(MS_OPTS_FETCH, argc, argv, &o), lock = -1;
	const struct ms_config_remote *r;
	struct ms_remote_file *files = NULL;
	struct ms_rclone rc;
	size_t n = 0;
	char *name = NULL, *path = NULL, *plain = NULL;
	const char *dest;

	if (ret != 0)
		goto out;
	ret = MS_EXIT_FAILURE;
	if (o.remotes.n != 1) {
		ret = ms_cli_usage_error("fetch", "fetch needs one --remote NAME");
		goto out;
	}
	if (ms_cli_load_config(cli) < 0 || !(r = ms_offhost_remote(cli->config, o.remotes.v[0])))
		goto out;
	ms_offhost_rclone(cli->config, r, &rc);
	if (ms_remote_list(&rc, &files, &n) < 0 || !(name = pick(files, n, o.args[0], r->name)))
		goto out;
	dest = o.dest ? o.dest : cli->config->dest ? cli->config->dest : MS_DEFAULT_DEST;
	if (ms_dest_prepare(dest) < 0)
		goto out;
	lock = ms_dest_lock_wait(dest, 0, cli->command);
	if (lock < 0) {
		ret = lock == -2 ? MS_EXIT_LOCKED : MS_EXIT_FAILURE;
		goto out;
	}
	if (ms_remote_fetch(&rc, name, dest) < 0)
		goto out;
	path = ms_path_join(dest, name);
	if (ends_with(name, ".age")) {
		if (!o.identity) {
			ms_log_warn("'%s' is encrypted: its SHA-256 matches what the remote recorded, but its content "
				    "is not verified; fetch it again with --identity FILE to decrypt and verify it", path);
			printf("%s\n", path);
			ret = ms_cli_exit_code(0);
			goto out;
		}
		plain = decrypt(path, o.identity);
		if (!plain) {
			ret = MS_EXIT_VERIFY; /* a wrong identity or a tampered copy */
			goto out;
		}
	}
	ret = ms_offhost_verify(cli->config, plain ? plain : path);
	if (ret != MS_EXIT_OK)
		goto out;
	printf("%s\n", plain ? plain : path);
	ret = ms_cli_exit_code(0);
out:
	if (lock >= 0)
		close(lock);
	ms_remote_files_free(files, n);
	free(name);
	free(path);
	free(plain);
	ms_opts_clear(&o);
	return ret;
}
