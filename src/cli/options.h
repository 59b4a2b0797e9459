/*
 * The command line's options: one table of every option (options.c: its
 * name, whether it takes an argument, which commands accept it, how its
 * value is checked and where it is stored) and one getopt_long loop that
 * parses a command's argv against the options that command accepts. The
 * values land in struct ms_opts, from which each command takes what it
 * reads; the checks that involve several options (--to needs
 * --pre-upgrade) stay with the command. Usage errors are logged exactly as
 * the commands always printed them (exit code MS_EXIT_USAGE).
 */
#ifndef MS_CLI_OPTIONS_H
#define MS_CLI_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/util.h"
#include "discover/instance.h"

/* Who parses: modosnap's own options (before the command), or a command. */
enum ms_opts_cmd {
	MS_OPTS_GLOBAL,
	MS_OPTS_INSPECT,
	MS_OPTS_CREATE,
	MS_OPTS_VERIFY,
	MS_OPTS_LIST,
	MS_OPTS_SHOW,
	MS_OPTS_RESTORE,
	MS_OPTS_PRUNE,
	MS_OPTS_DIFF,
	MS_OPTS_GUARD,
	MS_OPTS_CONFIG,
	MS_OPTS_PUSH,
	MS_OPTS_FETCH,
	MS_OPTS_N
};

/* Every option's value. The parser writes a field only when its option is
 * given (the last one wins, lists grow), so the caller sets the defaults
 * before parsing. Strings are borrowed from argv; the lists are owned
 * (ms_opts_clear, or moved out by the caller). */
struct ms_opts {
	/* modosnap's own options */
	const char *config;         /* -c, --config FILE */
	long log_level;             /* -q sets MS_LOG_QUIET, each -v adds one */
	bool help, version;         /* -h, -V: parsing stopped there */
	int command;                /* MS_OPTS_GLOBAL: argv index of the command */

	/* positional arguments (the SNAPSHOT selectors), in order */
	const char *args[2];

	struct ms_instance_opts inst; /* --instance DIR, --postfix-dir DIR */
	const char *dest;           /* --dest DIR */
	bool json;                  /* --json */
	bool no_db;                 /* inspect, create --no-db */
	bool dry_run;               /* restore, prune --dry-run */
	bool allow_unsigned;        /* verify, restore --allow-unsigned */
	const char *system_root;    /* --system-root DIR */

	/* create */
	struct ms_strv tags;        /* --tag TAG... (checked) */
	struct ms_strv excludes;    /* --exclude PATTERN... */
	const char *note;           /* --note TEXT */
	long level;                 /* --level N, 1-19 */
	bool verify, verify_deep;   /* --verify[=deep] */
	bool pre_upgrade, no_deep, nightly;
	const char *to;             /* --to VERSION */
	struct ms_strv with, without; /* --with/--without COMPONENT... (checked) */
	const char *output;         /* --output - (checked) */
	bool encrypt;               /* --encrypt: age, to the [encrypt] recipients */
	long wait;                  /* --wait SECONDS, 0-86400 */

	/* verify */
	bool deep;                  /* --deep */
	bool all;                   /* --all: every snapshot, no SNAPSHOT */

	/* list */
	long last;                  /* --last N, 1-1000000 (0: not given) */

	/* restore */
	struct ms_strv only;        /* --only COMPONENT... (checked) */
	const char *root;           /* --root DIR */
	bool no_safety, yes, accept_snapshot;

	/* prune: counts 0-1000000 */
	long keep_last, keep_daily, keep_weekly, keep_monthly, keep_pre_upgrade;
	long keep_hourly, keep_yearly;
	long keep_within;           /* --keep-within DURATION, in seconds (0: off) */
	struct ms_strv keep_tag;    /* --keep-tag TAG... (not empty) */

	/* off-host copies */
	struct ms_strv remotes;     /* --remote NAME... (list, fetch: one) */
	const char *identity;       /* --identity FILE (an age identity: reading only) */

	/* guard, list */
	const char *tag;            /* --tag TAG (one) */
	long max_age;               /* --max-age DURATION, in seconds */
};

/* Parses argv[1..] (argv[0] is the command's name, or the program's) with
 * the options `cmd` accepts, into *o, stopping at the first problem. A
 * command's positional arguments go to o->args: exactly as many as it
 * takes, after any option or `--`. MS_OPTS_GLOBAL stops at the first
 * argument that is not an option (o->command) or at -h/-V. Returns 0, or
 * MS_EXIT_USAGE after logging the usage error. */
int ms_opts_parse(enum ms_opts_cmd cmd, int argc, char **argv, struct ms_opts *o);

/* The command `name` (MS_OPTS_N when it has no options of its own). */
enum ms_opts_cmd ms_opts_cmd_find(const char *name);

/* Whether argv[1..] asks for the command's help: -h or --help where the
 * command's options stand (not as another option's argument, not after
 * `--`), whatever else argv holds. `help` itself is MS_OPTS_N. Logs
 * nothing: ms_opts_parse reports the other problems. */
bool ms_opts_help_asked(enum ms_opts_cmd cmd, int argc, char **argv);

/* One option as help shows it (borrowed from the option table). */
struct ms_opt_help {
	const char *name;   /* "dest" */
	char short_name;    /* 'c', or 0 */
	const char *arg;    /* "DIR"; for an optional argument its word; NULL: none */
	bool optional_arg;  /* --verify[=deep] */
	bool repeatable;    /* [--tag TAG]... */
	const char *help;   /* what it does, one paragraph (help wraps it) */
};

/* The options `cmd` accepts, in the table's order (a command's without
 * -h/--help, which every command takes): sets *h to the first at or after
 * *pos and moves *pos past it (start at 0); false when none is left. */
bool ms_opts_next(enum ms_opts_cmd cmd, size_t *pos, struct ms_opt_help *h);

/* Frees the lists still in *o. */
void ms_opts_clear(struct ms_opts *o);

#endif
