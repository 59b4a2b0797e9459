/*
 * `modosnap push SNAPSHOT [--remote NAME]...`: copies a local snapshot
 * off the host (docs/offhost.md), to the named remotes or to every
 * [remote:NAME] of the config. The snapshot is verified first (a damaged
 * or untrusted one is never copied), and each remote only ever shows a
 * complete, checked copy (remote/push.h). Pushing again completes an
 * interrupted push, or does nothing.
 */
#include "cli/cli.h"
#include "cli/offhost.h"
#include "cli/options.h"
#include "discover/config.h"
#include "snapshot/dest.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int cmd_push(struct ms_cli *cli, int argc, char **argv)
{
	struct ms_opts o = { 0 };
	int ret = ms_opts_parse(MS_OPTS_PUSH, argc, argv, &o), lock = -1;
	const char *dest;
	char *path = NULL;

	if (ret != 0)
		goto out;
	ret = MS_EXIT_FAILURE;
	if (ms_cli_load_config(cli) < 0)
		goto out;
	if (cli->config->n_remotes == 0) {
		ms_log_error("no [remote:NAME] section in the config: nowhere to push (docs/offhost.md)");
		goto out;
	}
	for (size_t i = 0; i < o.remotes.n; i++)
		if (!ms_offhost_remote(cli->config, o.remotes.v[i]))
			goto out;
	dest = o.dest ? o.dest : cli->config->dest ? cli->config->dest : MS_DEFAULT_DEST;
	path = ms_dest_select(dest, o.args[0]);
	if (!path)
		goto out;
	/* prune must not remove it while it is read */
	lock = ms_dest_lock_wait(dest, 0, cli->command);
	if (lock < 0) {
		ret = lock == -2 ? MS_EXIT_LOCKED : MS_EXIT_FAILURE;
		goto out;
	}
	ret = ms_offhost_verify(cli->config, path);
	if (ret != MS_EXIT_OK) {
		ms_log_error("'%s' was not pushed: a remote only receives a verified snapshot", path);
		goto out;
	}
	for (size_t i = 0; i < cli->config->n_remotes; i++) {
		const struct ms_config_remote *r = &cli->config->remotes[i];

		if (o.remotes.n && !ms_strv_contains(&o.remotes, r->name))
			continue;
		if (ms_offhost_push(cli->config, r, path) < 0)
			ret = MS_EXIT_FAILURE;
		else if (ms_log_get_level() >= MS_LOG_INFO)
			printf("pushed %s to %s (%s)\n", ms_path_basename(path), r->name, r->url);
	}
	if (ret == MS_EXIT_OK)
		ret = ms_cli_exit_code(0);
out:
	if (lock >= 0)
		close(lock);
	free(path);
	ms_opts_clear(&o);
	return ret;
}
