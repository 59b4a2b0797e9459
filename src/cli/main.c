/*
 * modosnap entry point: parses the global options and dispatches to the
 * command table (cli.c). All work happens in the libraries.
 */
#include "cli/cli.h"
#include "cli/options.h"
#include "snapshot/dest.h"
#include "discover/config.h"
#include "base/log.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

/* Passwords, SECRET_KEY and map files pass through our memory: no core
 * file may ever hold them, and no other process of the same user may
 * ptrace us or read /proc/PID/mem (non-dumpable). RLIMIT_CORE 0, hard limit
 * included, covers the children too (pg_dump holds a password). 0, or -1
 * after logging (the caller goes on: a warning, not a reason to stop). */
static int disable_core_dumps(void)
{
	struct rlimit none = { 0, 0 };
	int ret = 0;

	if (setrlimit(RLIMIT_CORE, &none) < 0) {
		ms_log_warn("unable to disable core dumps (RLIMIT_CORE): %s", strerror(errno));
		ret = -1;
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		ms_log_warn("unable to disable core dumps (PR_SET_DUMPABLE): %s", strerror(errno));
		ret = -1;
	}
	return ret;
}

int main(int argc, char **argv)
{
	struct ms_cli cli = { 0 };
	struct ms_opts o = { .log_level = MS_LOG_INFO };
	const struct ms_command *cmd;
	int ret;

	/* first, before any secret is read (config, settings.py, keys) */
	disable_core_dumps();
	ms_test_stall("startup");
	/* A closed pipe is an error to report (EPIPE), not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	ret = ms_opts_parse(MS_OPTS_GLOBAL, argc, argv, &o);
	if (ret != 0)
		return ret;
	if (o.help) {
		ms_cli_print_help();
		return MS_EXIT_OK;
	}
	if (o.version) {
		printf("modosnap %s\n", MODOSNAP_VERSION);
		return MS_EXIT_OK;
	}
	cli.config_path = o.config;
	ms_log_set_level((int)o.log_level);
	if (o.command >= argc) {
		ms_cli_print_help();
		return MS_EXIT_USAGE;
	}
	cmd = ms_command_find(argv[o.command]);
	if (!cmd) {
		ms_log_error("unknown command '%s'; try 'modosnap --help'", argv[o.command]);
		return MS_EXIT_USAGE;
	}
	/* CMD --help, wherever among the command's options it stands */
	if (ms_opts_help_asked(ms_opts_cmd_find(cmd->name), argc - o.command, argv + o.command))
		return ms_cli_print_command_help(cmd->name);
	cli.command = ms_dest_command_line(argc, argv);
	ret = cmd->fn(&cli, argc - o.command, argv + o.command);
	ms_config_free(cli.config);
	free(cli.command);
	fflush(stdout);
	if (ferror(stdout)) {
		ms_log_error("unable to write to standard output");
		return MS_EXIT_FAILURE;
	}
	return ret;
}
