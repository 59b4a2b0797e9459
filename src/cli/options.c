/*
 * The option table and the one getopt_long loop (see options.h). A
 * command is given to getopt_long with exactly the options it knows, in
 * long form only (optstring "", argv permuted: options and arguments in
 * any order, `--` ends the options); modosnap's own options also have a
 * short form and stop at the command ("+c:qvhV"). Abbreviations are
 * getopt_long's: a unique prefix of an option the command knows.
 */
#include "cli/options.h"
#include "cli/cli.h"
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
	unsigned accept;       /* the commands (C(...)) that take it */
	/* the commands that know it only to refuse it: "unknown option"
	 * naming the option, or naming the argument as getopt left it (the
	 * option's argument, when given apart) — verify, list and show once
	 * shared one option list, and refused each other's options so */
	unsigned refuse_name, refuse_arg;
	unsigned long min, max; /* MS_OPT_UINT: the range; MS_OPT_SET: min is the value */
	bool (*valid)(const char *arg); /* MS_OPT_LIST (when set), MS_OPT_FLAG_WORD */
	/* the usage error for a refused argument, "%s" standing for it;
	 * NULL: "invalid value 'X' for --NAME (expected MIN-MAX)" */
	const char *invalid;
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

static bool valid_component(const char *s)
{
	return !strcmp(s, "instance") || !strcmp(s, "postfix") || (!strncmp(s, "db:", 3) && s[3]);
}

static bool not_empty(const char *s)
{
	return *s != '\0';
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
	/* modosnap's own, before the command */
	{ STRING("config", config), .short_name = 'c', .accept = C(GLOBAL) },
	{ .name = "quiet", .short_name = 'q', .has_arg = no_argument, .kind = MS_OPT_SET, .off = AT(log_level),
	  .min = MS_LOG_QUIET, .accept = C(GLOBAL) },
	{ .name = "verbose", .short_name = 'v', .has_arg = no_argument, .kind = MS_OPT_INCR, .off = AT(log_level),
	  .accept = C(GLOBAL) },
	{ .name = "help", .short_name = 'h', .has_arg = no_argument, .kind = MS_OPT_STOP, .off = AT(help),
	  .accept = C(GLOBAL) },
	{ .name = "version", .short_name = 'V', .has_arg = no_argument, .kind = MS_OPT_STOP, .off = AT(version),
	  .accept = C(GLOBAL) },

	/* shared by several commands */
	{ STRING("instance", inst.instance_dir), .accept = C(INSPECT) | C(CREATE) | C(VERIFY) | C(RESTORE) | C(GUARD) |
	  C(CONFIG),
	  .refuse_arg = C(LIST) | C(SHOW) },
	{ STRING("postfix-dir", inst.postfix_dir), .accept = C(INSPECT) | C(CREATE) | C(RESTORE) | C(CONFIG) },
	{ STRING("dest", dest), .accept = C(CREATE) | READ | C(RESTORE) | C(PRUNE) | C(DIFF) | C(GUARD) | C(CONFIG) },
	{ FLAG("json", json), .accept = C(INSPECT) | C(CREATE) | C(VERIFY) | C(LIST) | C(SHOW) | C(RESTORE) |
	  C(PRUNE) | C(DIFF) | C(GUARD) | C(CONFIG) },
	{ FLAG("no-db", no_db), .accept = C(INSPECT) | C(CREATE) },
	{ FLAG("dry-run", dry_run), .accept = C(RESTORE) | C(PRUNE) },
	{ FLAG("allow-unsigned", allow_unsigned), .accept = C(VERIFY) | C(RESTORE), .refuse_arg = C(LIST) | C(SHOW) },

	/* create */
	{ LIST("tag", tags), .accept = C(CREATE), .valid = valid_tag,
	  .invalid = "invalid tag (use letters, digits and . _ - : +)" },
	{ STRING("note", note), .accept = C(CREATE) },
	{ UINT("level", level, 1, 19), .accept = C(CREATE), .invalid = "invalid level '%s' (expected 1-19)" },
	{ LIST("exclude", excludes), .accept = C(CREATE) },
	{ .name = "verify", .has_arg = optional_argument, .kind = MS_OPT_FLAG_WORD, .off = AT(verify),
	  .off2 = AT(verify_deep), .accept = C(CREATE), .valid = is_deep,
	  .invalid = "invalid --verify='%s' (only --verify=deep)" },
	{ FLAG("pre-upgrade", pre_upgrade), .accept = C(CREATE) },
	{ STRING("to", to), .accept = C(CREATE) },
	{ FLAG("nightly", nightly), .accept = C(CREATE) },
	{ FLAG("no-deep", no_deep), .accept = C(CREATE) },
	{ UINT("wait", wait, 0, 86400), .accept = C(CREATE), .invalid = "invalid --wait '%s' (seconds, 0-86400)" },

	/* verify */
	{ FLAG("deep", deep), .accept = C(VERIFY), .refuse_arg = C(LIST) | C(SHOW) },
	{ FLAG("all", all), .accept = C(VERIFY) },

	/* list */
	{ STRING("tag", tag), .accept = C(LIST) },
	{ UINT("last", last, 1, 1000000), .accept = C(LIST) },

	/* restore */
	{ LIST("only", only), .accept = C(RESTORE), .valid = valid_component,
	  .invalid = "invalid component '%s' (instance, postfix or db:ALIAS)" },
	{ STRING("root", root), .accept = C(RESTORE) },
	{ FLAG("no-safety-snapshot", no_safety), .accept = C(RESTORE) },
	{ FLAG("yes", yes), .accept = C(RESTORE) },
	{ FLAG("accept-snapshot-targets", accept_snapshot), .accept = C(RESTORE) },

	/* prune (a count refused: "invalid value 'X' for --keep-last (expected 0-1000000)") */
	{ UINT("keep-last", keep_last, 0, 1000000), .accept = C(PRUNE) },
	{ UINT("keep-daily", keep_daily, 0, 1000000), .accept = C(PRUNE) },
	{ UINT("keep-weekly", keep_weekly, 0, 1000000), .accept = C(PRUNE) },
	{ UINT("keep-monthly", keep_monthly, 0, 1000000), .accept = C(PRUNE) },
	{ UINT("keep-hourly", keep_hourly, 0, 1000000), .accept = C(PRUNE) },
	{ UINT("keep-yearly", keep_yearly, 0, 1000000), .accept = C(PRUNE) },
	{ .name = "keep-within", .has_arg = required_argument, .kind = MS_OPT_DURATION, .off = AT(keep_within),
	  .accept = C(PRUNE), .invalid = "invalid --keep-within '%s' (e.g. 12h, 2d, 1w, or 0)" },
	{ UINT("keep-pre-upgrade", keep_pre_upgrade, 0, 1000000), .accept = C(PRUNE) },
	{ LIST("keep-tag", keep_tag), .accept = C(PRUNE), .valid = not_empty, .invalid = "empty --keep-tag" },

	/* guard */
	{ .name = "max-age", .has_arg = required_argument, .kind = MS_OPT_DURATION, .off = AT(max_age), .min = 1,
	  .accept = C(GUARD), .invalid = "invalid --max-age '%s' (e.g. 90m, 2h, 1d)" },
	{ STRING("tag", tag), .accept = C(GUARD) },
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
	return ((e->accept | e->refuse_name | e->refuse_arg) & (1u << cmd)) != 0;
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

/* An option getopt_long did not accept: unknown, ambiguous, missing or
 * unexpected argument. argv[optind - 1] is the argument it stopped in. */
static int unknown(enum ms_opts_cmd cmd, char **argv)
{
	if (cmd != MS_OPTS_GLOBAL)
		return ms_cli_usage_error(cmds[cmd].name, "unknown or incomplete option '%s'", argv[optind - 1]);
	if (optopt)
		ms_log_error("unknown or incomplete option '-%c'; try 'modosnap --help'", optopt);
	else
		ms_log_error("unknown option '%s'; try 'modosnap --help'", argv[optind - 1]);
	return MS_EXIT_USAGE;
}

/* An option the command knows only to refuse it. */
static int refused(enum ms_opts_cmd cmd, const struct ms_opt *e, char **argv)
{
	if (e->refuse_name & (1u << cmd))
		return ms_cli_usage_error(cmds[cmd].name, "unknown option '--%s'", e->name);
	return ms_cli_usage_error(cmds[cmd].name, "unknown option '%s'", argv[optind - 1]);
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

int ms_opts_parse(enum ms_opts_cmd cmd, int argc, char **argv, struct ms_opts *o)
{
	struct option longopts[N_OPTS + 1];
	char shorts[2 * N_OPTS + 2];
	size_t n = 0, ns = 0;
	int c, ret = 0;

	if (cmd == MS_OPTS_GLOBAL)
		shorts[ns++] = '+'; /* the command and its arguments are not ours */
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct ms_opt *e = &opts[i];

		if (!knows(cmd, e))
			continue;
		longopts[n++] = (struct option){ e->name, e->has_arg, NULL, e->short_name ? e->short_name
											  : LONG_ONLY + (int)i };
		if (e->short_name) {
			shorts[ns++] = e->short_name;
			if (e->has_arg == required_argument)
				shorts[ns++] = ':';
		}
	}
	longopts[n] = (struct option){ NULL, 0, NULL, 0 };
	shorts[ns] = '\0';
	optind = 0;
	opterr = 0;
	while (ret == 0 && (c = getopt_long(argc, argv, shorts, longopts, NULL)) != -1) {
		const struct ms_opt *e = entry_of(cmd, c);

		if (!e)
			ret = unknown(cmd, argv);
		else if (!(e->accept & (1u << cmd)))
			ret = refused(cmd, e, argv);
		else
			ret = store(cmd, e, optarg, o);
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

void ms_opts_clear(struct ms_opts *o)
{
	ms_strv_clear(&o->tags);
	ms_strv_clear(&o->excludes);
	ms_strv_clear(&o->only);
	ms_strv_clear(&o->keep_tag);
}
