/*
 * The option table and the one getopt_long loop (see options.h). A
 * command is given to getopt_long with exactly the options it accepts, in
 * long form only but -h (optstring "h", argv permuted: options and
 * arguments in any order, `--` ends the options); modosnap's own options
 * also have a short form and stop at the command ("+c:qvhV"). Abbreviations
 * are getopt_long's: a unique prefix of an option the command accepts. Any
 * other option, another command's included, is "unknown or incomplete".
 */
#include "cli/options.h"
#include "cli/cli.h"
#include "discover/config.h"
#include "snapshot/components.h"
#include "base/log.h"
#include "base/util.h"

#include <getopt.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* How a value is checked and stored at `off` in struct ms_opts. */
enum ms_opt_kind {
	MS_OPT_FLAG,      /* bool: true */
	MS_OPT_FLAG_WORD, /* bool: true; with =WORD (`valid`) also the bool at off2 */
	MS_OPT_STOP,      /* bool: true, and parsing stops (-h, -V) */
	MS_OPT_STRING,    /* const char *: the argument */
	MS_OPT_LIST,      /* struct ms_strv: the argument appended (`valid` when set) */
	MS_OPT_UINT,      /* long: the argument, an integer in min-max */
	MS_OPT_DURATION,  /* long: seconds, from "90", "90s", "15m", "2h", "3d", "1w"; min 0 or 1 */
	MS_OPT_SET,       /* long: min */
	MS_OPT_INCR,      /* long: one more */
};

#define C(x) (1u << MS_OPTS_##x)
#define AT(field) offsetof(struct ms_opts, field)

struct ms_opt {
	const char *name;
	char short_name;       /* modosnap's own options only */
	int has_arg;           /* no_argument, required_argument, optional_argument */
	enum ms_opt_kind kind;
	size_t off, off2;
	unsigned accept;       /* the commands (C(...)) that take it; any other refuses it */
	unsigned long min, max; /* MS_OPT_UINT: the range; MS_OPT_SET: min is the value */
	bool (*valid)(const char *arg); /* MS_OPT_STRING, MS_OPT_LIST (when set), MS_OPT_FLAG_WORD */
	/* the usage error for a refused argument, "%s" standing for it;
	 * NULL: "invalid value 'X' for --NAME (expected MIN-MAX)" */
	const char *invalid;
	/* for help (ms_opts_next): the argument's name ("DIR"; for an
	 * optional argument its one word), and what the option does (help
	 * wraps it; a command may word it its own way: cli.c) */
	const char *arg, *help;
};

static bool valid_tag(const char *t)
{
	if (!*t || strlen(t) > 64)
		return false;
	for (; *t; t++)
		if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') || (*t >= '0' && *t <= '9') ||
		      strchr("._-:+", *t)))
			return false;
	return true;
}

/* A component of a snapshot (never "db" alone), or one mailbox
 * (mail:USER@DOMAIN): what restore --only takes. */
static bool valid_component(const char *s)
{
	if (!strncmp(s, "mail:", 5))
		return ms_mailbox_valid(s + 5);
	return strcmp(s, "db") != 0 && ms_config_component_valid(s);
}

static bool not_empty(const char *s)
{
	return *s != '\0';
}

static bool is_dash(const char *s)
{
	return !strcmp(s, "-");
}

static bool is_deep(const char *s)
{
	return !strcmp(s, "deep");
}

/* The shapes of the entries below. */
#define FLAG(n, field) .name = n, .has_arg = no_argument, .kind = MS_OPT_FLAG, .off = AT(field)
#define STRING(n, field) .name = n, .has_arg = required_argument, .kind = MS_OPT_STRING, .off = AT(field)
#define LIST(n, field) .name = n, .has_arg = required_argument, .kind = MS_OPT_LIST, .off = AT(field)
#define UINT(n, field, lo, hi) \
	.name = n, .has_arg = required_argument, .kind = MS_OPT_UINT, .off = AT(field), .min = lo, .max = hi
#define READ (C(VERIFY) | C(LIST) | C(SHOW))

static const struct ms_opt opts[] = {
	/* modosnap's own, before the command; -h/--help also in every command */
	{ STRING("config", config), .short_name = 'c', .accept = C(GLOBAL), .arg = "FILE",
	  .help = "configuration file (default " MS_DEFAULT_CONFIG " when it exists)" },
	{ .name = "quiet", .short_name = 'q', .has_arg = no_argument, .kind = MS_OPT_SET, .off = AT(log_level),
	  .min = MS_LOG_QUIET, .accept = C(GLOBAL), .help = "print nothing but errors" },
	{ .name = "verbose", .short_name = 'v', .has_arg = no_argument, .kind = MS_OPT_INCR, .off = AT(log_level),
	  .accept = C(GLOBAL), .help = "print more (repeat for debug output)" },
	{ .name = "help", .short_name = 'h', .has_arg = no_argument, .kind = MS_OPT_STOP, .off = AT(help),
	  .accept = ~0u, .help = "show this help" },
	{ .name = "version", .short_name = 'V', .has_arg = no_argument, .kind = MS_OPT_STOP, .off = AT(version),
	  .accept = C(GLOBAL), .help = "show the version" },

	/* shared by several commands */
	{ STRING("instance", inst.instance_dir), .accept = C(INSPECT) | C(CREATE) | C(VERIFY) | C(RESTORE) | C(GUARD) |
	  C(CONFIG),
	  .arg = "DIR", .help = "the instance directory (default /srv/modoboa/instance)" },
	{ STRING("postfix-dir", inst.postfix_dir), .accept = C(INSPECT) | C(CREATE) | C(RESTORE) | C(CONFIG), .arg = "DIR",
	  .help = "the Postfix configuration directory (default /etc/postfix)" },
	{ STRING("dest", dest), .accept = C(CREATE) | READ | C(RESTORE) | C(PRUNE) | C(DIFF) | C(GUARD) | C(CONFIG) |
	  C(PUSH) | C(FETCH),
	  .arg = "DIR",
	  .help = "destination directory (default /var/backups/modosnap)" },
	{ FLAG("no-db", no_db), .accept = C(INSPECT) | C(CREATE), .help = "do not connect to the databases" },
	{ STRING("system-root", system_root), .accept = C(INSPECT) | C(CREATE) | C(RESTORE),
	  .arg = "DIR",
	  .help = "look for the system's service configuration under DIR (default /; also "
		  "[modosnap] system_root)" },
	{ FLAG("dry-run", dry_run), .accept = C(RESTORE) | C(PRUNE), .help = "print the plan, change nothing" },
	{ FLAG("allow-unsigned", allow_unsigned), .accept = C(VERIFY) | C(RESTORE),
	  .help = "accept an unsigned snapshot, or one signed by an untrusted key, with a warning (exit 3)" },
	{ LIST("remote", remotes), .accept = C(VERIFY) | C(LIST) | C(PRUNE) | C(PUSH) | C(FETCH), .valid = not_empty,
	  .invalid = "empty --remote", .arg = "NAME",
	  .help = "the [remote:NAME] of the config (push: repeatable, default every remote; verify, list, prune, "
		  "fetch: one)" },
	{ STRING("identity", identity), .accept = C(VERIFY) | C(RESTORE) | C(FETCH), .arg = "FILE",
	  .help = "an age identity file (AGE-SECRET-KEY-1...) that decrypts an encrypted snapshot; kept off the "
		  "server, given only when reading" },
	{ FLAG("json", json), .accept = C(INSPECT) | C(CREATE) | C(VERIFY) | C(LIST) | C(SHOW) | C(RESTORE) |
	  C(PRUNE) | C(DIFF) | C(GUARD) | C(CONFIG), .help = "print JSON instead of text" },

	/* create */
	{ LIST("tag", tags), .accept = C(CREATE), .valid = valid_tag,
	  .invalid = "invalid tag (use letters, digits and . _ - : +)", .arg = "TAG",
	  .help = "tag the snapshot (repeatable)" },
	{ STRING("note", note), .accept = C(CREATE), .arg = "TEXT", .help = "free text stored in the header" },
	{ UINT("level", level, 1, 19), .accept = C(CREATE), .invalid = "invalid level '%s' (expected 1-19)",
	  .arg = "N", .help = "zstd level 1-19 (default 1)" },
	{ LIST("exclude", excludes), .accept = C(CREATE), .arg = "PATTERN",
	  .help = "leave out matching files (repeatable; also 'exclude =' in "
		  "the config): without '/' it matches any base name, with "
		  "'/' the path relative to the instance directory" },
	{ .name = "verify", .has_arg = optional_argument, .kind = MS_OPT_FLAG_WORD, .off = AT(verify),
	  .off2 = AT(verify_deep), .accept = C(CREATE), .valid = is_deep,
	  .invalid = "invalid --verify='%s' (only --verify=deep)", .arg = "deep",
	  .help = "read the new archive back and verify it; =deep also loads "
		  "every database dump into a scratch database and compares" },
	{ FLAG("pre-upgrade", pre_upgrade), .accept = C(CREATE),
	  .help = "tag 'pre-upgrade' and always verify (deep unless --no-deep): "
		  "exits non-zero unless the snapshot is verified" },
	{ STRING("to", to), .accept = C(CREATE), .arg = "VERSION",
	  .help = "with --pre-upgrade: the Modoboa version about to be installed" },
	{ FLAG("no-deep", no_deep), .accept = C(CREATE),
	  .help = "with --pre-upgrade: verify the archive only, load no database" },
	{ LIST("with", with), .accept = C(CREATE), .valid = ms_config_component_valid,
	  .invalid = "invalid component '%s' (instance, postfix, db, db:ALIAS, venv, dkim, system or mail)",
	  .arg = "COMPONENT",
	  .help = "also take COMPONENT (venv, mail, ...) in this run (repeatable)" },
	{ .name = "output", .has_arg = required_argument, .kind = MS_OPT_STRING, .off = AT(output),
	  .accept = C(CREATE), .valid = is_dash, .invalid = "invalid --output '%s' (only -: standard output)",
	  .arg = "-",
	  .help = "write the archive to standard output (and nothing else there), for a pipe into ssh, "
		  "borg or restic; nothing is kept in the destination" },
	{ FLAG("encrypt", encrypt), .accept = C(CREATE),
	  .help = "with --output -: encrypt the archive to the [encrypt] recipients (the age format)" },
	{ LIST("without", without), .accept = C(CREATE), .valid = ms_config_component_valid,
	  .invalid = "invalid component '%s' (instance, postfix, db, db:ALIAS, venv, dkim, system or mail)",
	  .arg = "COMPONENT", .help = "leave COMPONENT out of this run (repeatable)" },
	{ FLAG("nightly", nightly), .accept = C(CREATE),
	  .help = "tag 'nightly', a one-line summary, then prune with the "
		  "config's [retention] rules (quiet with -q, for cron); "
		  "not with --pre-upgrade" },
	{ UINT("wait", wait, 0, 86400), .accept = C(CREATE), .invalid = "invalid --wait '%s' (seconds, 0-86400)",
	  .arg = "SECONDS", .help = "wait that long for another run's lock instead of exit 4" },

	/* verify */
	{ FLAG("deep", deep), .accept = C(VERIFY),
	  .help = "also restore each PostgreSQL dump into a scratch database and compare every table" },
	{ FLAG("all", all), .accept = C(VERIFY), .help = "verify every snapshot in the destination (no SNAPSHOT)" },

	/* list */
	{ STRING("tag", tag), .accept = C(LIST), .arg = "TAG", .help = "only the snapshots tagged TAG" },
	{ UINT("last", last, 1, 1000000), .accept = C(LIST), .arg = "N",
	  .help = "only the N newest snapshots (after --tag)" },

	/* restore */
	{ LIST("only", only), .accept = C(RESTORE), .valid = valid_component,
	  .invalid = "invalid component '%s' (instance, postfix, db:ALIAS, venv, dkim, system, mail or "
		     "mail:USER@DOMAIN)",
	  .arg = "COMPONENT",
	  .help = "restore only COMPONENT: instance, postfix, db:ALIAS, venv, dkim, system, mail, or "
		  "mail:USER@DOMAIN for one mailbox (repeatable)" },
	{ STRING("root", root), .accept = C(RESTORE), .arg = "DIR",
	  .help = "put the files under DIR (new locations only)" },
	{ FLAG("no-safety-snapshot", no_safety), .accept = C(RESTORE),
	  .help = "do not take the safety snapshot first" },
	{ FLAG("yes", yes), .accept = C(RESTORE), .help = "do not ask (needed without a terminal)" },
	{ FLAG("accept-snapshot-targets", accept_snapshot), .accept = C(RESTORE),
	  .help = "use the snapshot's targets where nothing here names one" },

	/* prune (a count refused: "invalid value 'X' for --keep-last (expected 0-1000000)") */
	{ UINT("keep-last", keep_last, 0, 1000000), .accept = C(PRUNE), .arg = "N",
	  .help = "keep the N newest snapshots" },
	{ UINT("keep-daily", keep_daily, 0, 1000000), .accept = C(PRUNE), .arg = "N",
	  .help = "keep the newest snapshot of each of N days" },
	{ UINT("keep-weekly", keep_weekly, 0, 1000000), .accept = C(PRUNE), .arg = "N",
	  .help = "keep the newest snapshot of each of N weeks" },
	{ UINT("keep-monthly", keep_monthly, 0, 1000000), .accept = C(PRUNE), .arg = "N",
	  .help = "keep the newest snapshot of each of N months" },
	{ UINT("keep-hourly", keep_hourly, 0, 1000000), .accept = C(PRUNE), .arg = "N",
	  .help = "keep the newest snapshot of each of N hours (local time)" },
	{ UINT("keep-yearly", keep_yearly, 0, 1000000), .accept = C(PRUNE), .arg = "N",
	  .help = "keep the newest snapshot of each of N years" },
	{ .name = "keep-within", .has_arg = required_argument, .kind = MS_OPT_DURATION, .off = AT(keep_within),
	  .accept = C(PRUNE), .invalid = "invalid --keep-within '%s' (e.g. 12h, 2d, 1w, or 0)", .arg = "DURATION",
	  .help = "keep every snapshot younger than the newest one minus DURATION" },
	{ UINT("keep-pre-upgrade", keep_pre_upgrade, 0, 1000000), .accept = C(PRUNE), .arg = "N",
	  .help = "keep the N newest 'pre-upgrade' snapshots (default 3)" },
	{ LIST("keep-tag", keep_tag), .accept = C(PRUNE), .valid = not_empty, .invalid = "empty --keep-tag",
	  .arg = "TAG", .help = "keep every snapshot tagged TAG (repeatable)" },

	/* guard */
	{ .name = "max-age", .has_arg = required_argument, .kind = MS_OPT_DURATION, .off = AT(max_age), .min = 1,
	  .accept = C(GUARD), .invalid = "invalid --max-age '%s' (e.g. 90m, 2h, 1d)", .arg = "DURATION",
	  .help = "the snapshot must be younger (default 24h; 90m, 2h, 1d, 1w)" },
	{ STRING("tag", tag), .accept = C(GUARD), .arg = "TAG",
	  .help = "the tag the snapshot must carry (default pre-upgrade)" },
};

#define N_OPTS (sizeof(opts) / sizeof(opts[0]))
/* getopt_long's value for an option without a short form: past any char */
#define LONG_ONLY 256

/* Each command's name (for its usage errors) and positional arguments. */
static const struct {
	const char *name;
	int n_args;
	const char *missing;
} cmds[MS_OPTS_N] = {
	[MS_OPTS_GLOBAL] = { NULL, 0, NULL },
	[MS_OPTS_INSPECT] = { "inspect", 0, NULL },
	[MS_OPTS_CREATE] = { "create", 0, NULL },
	[MS_OPTS_VERIFY] = { "verify", 1, "missing SNAPSHOT argument" },
	[MS_OPTS_LIST] = { "list", 0, NULL },
	[MS_OPTS_SHOW] = { "show", 1, "missing SNAPSHOT argument" },
	[MS_OPTS_RESTORE] = { "restore", 1, "missing SNAPSHOT argument" },
	[MS_OPTS_PRUNE] = { "prune", 0, NULL },
	[MS_OPTS_DIFF] = { "diff", 2, "missing SNAPSHOT argument (two are needed)" },
	[MS_OPTS_GUARD] = { "guard", 0, NULL },
	[MS_OPTS_CONFIG] = { "config", 0, NULL },
	[MS_OPTS_PUSH] = { "push", 1, "missing SNAPSHOT argument" },
	[MS_OPTS_FETCH] = { "fetch", 1, "missing SNAPSHOT argument" },
};

enum ms_opts_cmd ms_opts_cmd_find(const char *name)
{
	for (int c = MS_OPTS_GLOBAL + 1; c < MS_OPTS_N; c++)
		if (!strcmp(cmds[c].name, name))
			return (enum ms_opts_cmd)c;
	return MS_OPTS_N;
}

/* The usage error for an argument the option refuses. */
static int invalid(enum ms_opts_cmd cmd, const struct ms_opt *e, const char *arg)
{
	const char *at = e->invalid ? strstr(e->invalid, "%s") : NULL;
	char *msg;
	int ret;

	if (!e->invalid)
		msg = ms_xasprintf("invalid value '%s' for --%s (expected %lu-%lu)", arg, e->name, e->min, e->max);
	else if (at)
		msg = ms_xasprintf("%.*s%s%s", (int)(at - e->invalid), e->invalid, arg, at + 2);
	else
		msg = ms_xstrdup(e->invalid);
	ret = ms_cli_usage_error(cmds[cmd].name, "%s", msg);
	free(msg);
	return ret;
}

/* Stores one option's value. 0, or the exit code of a usage error. */
static int store(enum ms_opts_cmd cmd, const struct ms_opt *e, const char *arg, struct ms_opts *o)
{
	char *field = (char *)o + e->off;
	unsigned long n;
	long secs;

	switch (e->kind) {
	case MS_OPT_FLAG:
	case MS_OPT_STOP:
		*(bool *)field = true;
		break;
	case MS_OPT_FLAG_WORD:
		if (arg && !e->valid(arg))
			return invalid(cmd, e, arg);
		*(bool *)field = true;
		if (arg)
			*(bool *)((char *)o + e->off2) = true;
		break;
	case MS_OPT_STRING:
		if (e->valid && !e->valid(arg))
			return invalid(cmd, e, arg);
		*(const char **)field = arg;
		break;
	case MS_OPT_LIST:
		if (e->valid && !e->valid(arg))
			return invalid(cmd, e, arg);
		ms_strv_push((struct ms_strv *)field, arg);
		break;
	case MS_OPT_UINT:
		if (ms_parse_ulong(arg, e->min, e->max, &n) < 0)
			return invalid(cmd, e, arg);
		*(long *)field = (long)n;
		break;
	case MS_OPT_DURATION:
		if (ms_parse_duration(arg, MS_DURATION_BARE | (e->min == 0 ? MS_DURATION_ZERO : 0), &secs) < 0)
			return invalid(cmd, e, arg);
		*(long *)field = secs;
		break;
	case MS_OPT_SET:
		*(long *)field = (long)e->min;
		break;
	case MS_OPT_INCR:
		(*(long *)field)++;
		break;
	}
	return 0;
}

static bool knows(enum ms_opts_cmd cmd, const struct ms_opt *e)
{
	return (e->accept & (1u << cmd)) != 0;
}

/* The table entry of what getopt_long returned, NULL for its '?'. */
static const struct ms_opt *entry_of(enum ms_opts_cmd cmd, int c)
{
	if (c >= LONG_ONLY)
		return &opts[c - LONG_ONLY];
	for (size_t i = 0; i < N_OPTS; i++)
		if (c != '?' && opts[i].short_name == c && knows(cmd, &opts[i]))
			return &opts[i];
	return NULL;
}

/* An option getopt_long did not accept: unknown (to this command),
 * ambiguous, missing or unexpected argument. It is named as typed: a
 * short one by its letter (getopt may still stand in its cluster), a long
 * one by its argv element (optopt 0, or the entry's LONG_ONLY value). */
static int unknown(enum ms_opts_cmd cmd, char **argv)
{
	char letter[3] = { '-', (char)optopt, '\0' };
	const char *what = optopt > 0 && optopt < LONG_ONLY ? letter : argv[optind - 1];

	if (cmd == MS_OPTS_GLOBAL) {
		ms_log_error("unknown or incomplete option '%s'; try 'modosnap --help'", what);
		return MS_EXIT_USAGE;
	}
	return ms_cli_usage_error(cmds[cmd].name, "unknown or incomplete option '%s'", what);
}

/* The positional arguments after the options: exactly the command's. */
static int positionals(enum ms_opts_cmd cmd, int argc, char **argv, struct ms_opts *o)
{
	for (int i = 0; i < cmds[cmd].n_args; i++) {
		if (optind >= argc && o->all)
			break; /* verify --all stands for its SNAPSHOT */
		if (optind >= argc)
			return ms_cli_usage_error(cmds[cmd].name, "%s", cmds[cmd].missing);
		o->args[i] = argv[optind++];
	}
	if (optind < argc)
		return ms_cli_usage_error(cmds[cmd].name, "unexpected argument '%s'", argv[optind]);
	return 0;
}

/* getopt_long's tables for the options `cmd` knows, and a fresh start.
 * Every long option returns LONG_ONLY + its index, so that an error on it
 * is told apart from one on a short option (unknown()). */
struct getopt_tables {
	struct option longopts[N_OPTS + 1];
	char shorts[2 * N_OPTS + 2];
};

static void getopt_start(enum ms_opts_cmd cmd, struct getopt_tables *t)
{
	size_t n = 0, ns = 0;

	if (cmd == MS_OPTS_GLOBAL)
		t->shorts[ns++] = '+'; /* the command and its arguments are not ours */
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct ms_opt *e = &opts[i];

		if (!knows(cmd, e))
			continue;
		t->longopts[n++] = (struct option){ e->name, e->has_arg, NULL, LONG_ONLY + (int)i };
		if (e->short_name) {
			t->shorts[ns++] = e->short_name;
			if (e->has_arg == required_argument)
				t->shorts[ns++] = ':';
		}
	}
	t->longopts[n] = (struct option){ NULL, 0, NULL, 0 };
	t->shorts[ns] = '\0';
	optind = 0;
	opterr = 0;
}

int ms_opts_parse(enum ms_opts_cmd cmd, int argc, char **argv, struct ms_opts *o)
{
	struct getopt_tables t;
	int c, ret = 0;

	getopt_start(cmd, &t);
	while (ret == 0 && (c = getopt_long(argc, argv, t.shorts, t.longopts, NULL)) != -1) {
		const struct ms_opt *e = entry_of(cmd, c);

		ret = e ? store(cmd, e, optarg, o) : unknown(cmd, argv);
		if (ret == 0 && e && e->kind == MS_OPT_STOP)
			return 0;
	}
	if (ret != 0)
		return ret;
	if (cmd == MS_OPTS_GLOBAL) {
		o->command = optind;
		return 0;
	}
	return positionals(cmd, argc, argv, o);
}

bool ms_opts_help_asked(enum ms_opts_cmd cmd, int argc, char **argv)
{
	struct getopt_tables t;
	int c;

	getopt_start(cmd, &t);
	while ((c = getopt_long(argc, argv, t.shorts, t.longopts, NULL)) != -1) {
		const struct ms_opt *e = entry_of(cmd, c);

		if (e && e->kind == MS_OPT_STOP)
			return true;
	}
	return false;
}

bool ms_opts_next(enum ms_opts_cmd cmd, size_t *pos, struct ms_opt_help *h)
{
	for (; *pos < N_OPTS; (*pos)++) {
		const struct ms_opt *e = &opts[*pos];

		if (!knows(cmd, e) || (cmd != MS_OPTS_GLOBAL && e->kind == MS_OPT_STOP))
			continue;
		*h = (struct ms_opt_help){
			.name = e->name,
			.short_name = e->short_name,
			.arg = e->has_arg == no_argument ? NULL : e->arg ? e->arg : "VALUE",
			.optional_arg = e->has_arg == optional_argument,
			.repeatable = e->kind == MS_OPT_LIST,
			.help = e->help ? e->help : "",
		};
		(*pos)++;
		return true;
	}
	return false;
}

void ms_opts_clear(struct ms_opts *o)
{
	ms_strv_clear(&o->tags);
	ms_strv_clear(&o->excludes);
	ms_strv_clear(&o->only);
	ms_strv_clear(&o->keep_tag);
	ms_strv_clear(&o->with);
	ms_strv_clear(&o->without);
	ms_strv_clear(&o->remotes);
}
