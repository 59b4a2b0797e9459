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
#include "snapshot/dest.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cmd_fetch(struct ms_cli *cli, int argc, char **argv)
{
	struct ms_opts o = { 0 };
	int ret = ms_opts_parse(MS_OPTS_FETCH, argc, argv, &o), lock = -1;
	const struct ms_config_remote *r;
	const char *dest;
	char *path = NULL;

	if (ret != 0)
		goto out;
	ret = MS_EXIT_FAILURE;
	if (o.remotes.n != 1) {
		ret = ms_cli_usage_error("fetch", "fetch needs one --remote NAME");
		goto out;
	}
	if (ms_cli_load_config(cli) < 0 || !(r = ms_offhost_remote(cli->config, o.remotes.v[0])))
		goto out;
	dest = o.dest ? o.dest : cli->config->dest ? cli->config->dest : MS_DEFAULT_DEST;
	if (ms_dest_prepare(dest) < 0)
		goto out;
	lock = ms_dest_lock_wait(dest, 0, cli->command);
	if (lock < 0) {
		ret = lock == -2 ? MS_EXIT_LOCKED : MS_EXIT_FAILURE;
		goto out;
	}
	path = ms_offhost_fetch(cli->config, r, o.args[0], dest, o.identity, false, &ret);
	if (path) {
		printf("%s\n", path);
		ret = ret == MS_EXIT_OK ? ms_cli_exit_code(0) : ret;
	}
out:
	if (lock >= 0)
		close(lock);
	free(path);
	ms_opts_clear(&o);
	return ret;
}
