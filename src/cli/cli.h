/*
 * The command-line front end: global options, the command table, and
 * what every command shares (configuration loading, exit codes). Each
 * command lives in cmd_<name>.c as `int cmd_<name>(struct ms_cli *, argc, argv)`
 * (argv[0] is the command name); the options every command accepts are
 * in one table, parsed by one loop (options.h).
 */
#ifndef MS_CLI_H
#define MS_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/output.h"
#include "discover/instance.h"

/* "row" or "rows" for a count of n. */
static inline const char *ms_cli_rows(long long n)
{
	return n == 1 ? "row" : "rows";
}

/* Exit-code contract (docs/dev/design.md §2, docs/exit-codes.md); scripts rely on these values. */
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
	char *command;            /* the command line, for lock files (owned) */
};

struct ms_command {
	const char *name;
	int (*fn)(struct ms_cli *cli, int argc, char **argv);
	const char *args;    /* its arguments in usage ("SNAPSHOT"); the options come from options.c */
	const char *summary; /* one line for --help */
	const char *help;    /* paragraphs for `help COMMAND`, then its options, then: */
	const char *status;  /* "Exit status: ..." or NULL */
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

struct ms_manifest;
struct ms_strbuf;
struct ms_header;
struct ms_sig_state;
struct ms_strv;

/* verify --deep (restore/verify_deep.h) as a command's result, with its
 * progress line on a terminal unless `quiet_line` (--json): the "ok"
 * lines, one per database, appended to *ok for the caller to print, and
 * an exit code (0, 1, 3, 5). Shared by verify and create --pre-upgrade. */
int ms_cli_verify_deep(struct ms_cli *cli, const struct ms_instance_opts *inst, const char *archive,
		       const struct ms_manifest *m, bool quiet_line, struct ms_strbuf *ok);

/* The options of the read-only commands verify, list and show. */
struct ms_read_args {
	const char *dest;
	const char *selector;
	bool json;                /* list, show --json */
	bool deep;                /* verify --deep */
	bool allow_unsigned;      /* verify --allow-unsigned */
	struct ms_instance_opts inst;
};

/* An encrypted snapshot ([encrypt] local) cannot be read without the key:
 * -1 after logging what reads it (verify/restore --identity, or age -d),
 * 0 for any other path. */
int ms_cli_refuse_encrypted(const char *path);
/* Parses the options of `cmd` (verify, list or show) and loads the
 * config; verify and show take one SNAPSHOT argument, and *path is set
 * to the archive it selects (the caller frees; pass path only for them).
 * 0 or an exit code. */
int ms_cli_read_setup(struct ms_cli *cli, const char *cmd, int argc, char **argv, struct ms_read_args *a,
		      char **path);
/* --dest, else the config's dest, else the default (borrowed). */
const char *ms_cli_read_dest(const struct ms_cli *cli, const struct ms_read_args *a);

/* "SHA256:..." for a valid signature, else "unsigned" or "bad (...)";
 * into buf, returned. */
const char *ms_cli_sig_text(const struct ms_sig_state *st, char *buf, size_t len);
/* {"status", "fingerprint", "public_key", "problem"}; a new reference. */
ms_json *ms_cli_sig_json(const struct ms_sig_state *st);
/* The header as its JSON document (json null when unreadable); a new
 * reference. */
ms_json *ms_cli_header_json(const struct ms_header *h);
/* Archive text is untrusted: s through ms_printable, the copy kept in
 * `pool` (returned, borrowed) until the caller clears it. */
const char *ms_cli_pooled(struct ms_strv *pool, const char *s);

/* Commands. */
int cmd_inspect(struct ms_cli *cli, int argc, char **argv);
int cmd_create(struct ms_cli *cli, int argc, char **argv);
int cmd_verify(struct ms_cli *cli, int argc, char **argv);
int cmd_list(struct ms_cli *cli, int argc, char **argv);
int cmd_show(struct ms_cli *cli, int argc, char **argv);
int cmd_restore(struct ms_cli *cli, int argc, char **argv);
int cmd_prune(struct ms_cli *cli, int argc, char **argv);
int cmd_config(struct ms_cli *cli, int argc, char **argv);
int cmd_diff(struct ms_cli *cli, int argc, char **argv);
int cmd_guard(struct ms_cli *cli, int argc, char **argv);
int cmd_push(struct ms_cli *cli, int argc, char **argv);
int cmd_fetch(struct ms_cli *cli, int argc, char **argv);

#endif
