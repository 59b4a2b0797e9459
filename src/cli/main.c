/*
 * modosnap entry point: parses the global options and dispatches to the
 * command table (cli.c). All work happens in the libraries.
 */
#include "cli/cli.h"
#include "snapshot/dest.h"
#include "discover/config.h"
#include "base/log.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

static const struct option global_options[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

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
	const struct ms_command *cmd;
	int level = MS_LOG_INFO, c, ret;

	/* first, before any secret is read (config, settings.py, keys) */
	disable_core_dumps();
	ms_test_stall("startup");
	/* A closed pipe is an error to report (EPIPE), not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+c:qvhV", global_options, NULL)) != -1) {
		switch (c) {
		case 'c':
			cli.config_path = optarg;
			break;
		case 'q':
			level = MS_LOG_QUIET;
			break;
		case 'v':
			level++;
			break;
		case 'h':
			ms_cli_print_help();
			return MS_EXIT_OK;
		case 'V':
			printf("modosnap %s\n", MODOSNAP_VERSION);
			return MS_EXIT_OK;
		default:
			if (optopt)
				ms_log_error("unknown or incomplete option '-%c'; try 'modosnap --help'", optopt);
			else
				ms_log_error("unknown option '%s'; try 'modosnap --help'", argv[optind - 1]);
			return MS_EXIT_USAGE;
		}
	}
	ms_log_set_level(level);
	if (optind >= argc) {
		ms_cli_print_help();
		return MS_EXIT_USAGE;
	}
	cmd = ms_command_find(argv[optind]);
	if (!cmd) {
		ms_log_error("unknown command '%s'; try 'modosnap --help'", argv[optind]);
		return MS_EXIT_USAGE;
	}
	cli.command = ms_dest_command_line(argc, argv);
	ret = cmd->fn(&cli, argc - optind, argv + optind);
	ms_config_free(cli.config);
	free(cli.command);
	fflush(stdout);
	if (ferror(stdout)) {
		ms_log_error("unable to write to standard output");
		return MS_EXIT_FAILURE;
	}
	return ret;
}
