/*
 * The command-line front end: global options, the command table, and
 * what every command shares (configuration loading, exit codes). Each
 * command lives in cmd_<name>.c as `int cmd_<name>(struct ms_cli *, argc, argv)`
 * and owns its options; argv[0] is the command name.
 */
#ifndef MS_CLI_H
#define MS_CLI_H

#include <stdbool.h>

/* Exit-code contract (DESIGN-NOTES §2); scripts rely on these values. */
enum ms_exit {
	MS_EXIT_OK = 0,
	MS_EXIT_FAILURE = 1,
	MS_EXIT_USAGE = 2,
	MS_EXIT_WARNINGS = 3,
	MS_EXIT_LOCKED = 4,
	MS_EXIT_VERIFY = 5,
};

#define MS_DEFAULT_CONFIG "/etc/modosnap.conf"

struct ms_config;

/* State shared by every command: global options and the loaded config. */
struct ms_cli {
	const char *config_path;  /* -c FILE, or NULL */
	struct ms_config *config; /* loaded by ms_cli_load_config */
};

struct ms_command {
	const char *name;
	int (*fn)(struct ms_cli *cli, int argc, char **argv);
	const char *usage;   /* "inspect [--instance DIR] ..." */
	const char *summary; /* one line for --help */
	const char *help;    /* paragraphs for `help COMMAND` */
};

/* The command table, terminated by an entry with name NULL. */
extern const struct ms_command ms_commands[];

const struct ms_command *ms_command_find(const char *name);

/* Loads -c FILE, else $MODOSNAP_CONFIG when set (empty: none), else
 * /etc/modosnap.conf when it exists, else an empty config. Returns 0 or -1
 * after logging. */
int ms_cli_load_config(struct ms_cli *cli);

/* Prints "modosnap: error: ...; try 'modosnap help CMD'" and returns
 * MS_EXIT_USAGE. */
int ms_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Turns "failed / warnings logged / ok" into the exit code. */
int ms_cli_exit_code(int failed);

void ms_cli_print_help(void);
int ms_cli_print_command_help(const char *name);

struct ms_instance_opts;
struct ms_manifest;
/* verify --deep's work, shared with create --pre-upgrade: every database
 * dump of the archive at `archive` (manifest m, already verified) loaded
 * into a scratch database beside its live one (connections discovered
 * with `inst`) and compared. An exit code (0, 1, 3, 5). */
int ms_cli_verify_deep(struct ms_cli *cli, const struct ms_instance_opts *inst, const char *archive,
		       const struct ms_manifest *m);

/* prune with the config's [retention] rules, for create --nightly; the
 * caller holds dest's lock. MS_EXIT_USAGE (nothing done) without a rule,
 * MS_EXIT_FAILURE when a snapshot could not be removed, else MS_EXIT_OK. */
int ms_cli_prune_with_config(struct ms_cli *cli, const char *dest);

/* Commands. */
int cmd_inspect(struct ms_cli *cli, int argc, char **argv);
int cmd_create(struct ms_cli *cli, int argc, char **argv);
int cmd_verify(struct ms_cli *cli, int argc, char **argv);
int cmd_list(struct ms_cli *cli, int argc, char **argv);
int cmd_show(struct ms_cli *cli, int argc, char **argv);
int cmd_restore(struct ms_cli *cli, int argc, char **argv);
int cmd_prune(struct ms_cli *cli, int argc, char **argv);
int cmd_diff(struct ms_cli *cli, int argc, char **argv);
int cmd_guard(struct ms_cli *cli, int argc, char **argv);

#endif
