/*
 * The command table, help output and what commands share (see cli.h).
 * Only commands that work are in the table, and so in --help.
 */
#include "cli/cli.h"
#include "cli/options.h"
#include "cli/output.h"
#include "cli/progress.h"
#include "discover/config.h"
#include "formats/manifest.h"
#include "formats/sign.h"
#include "restore/verify_deep.h"
#include "snapshot/dest.h"
#include "base/strbuf.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cmd_help(struct ms_cli *cli, int argc, char **argv);

const struct ms_command ms_commands[] = {
	{
		"inspect", cmd_inspect, "",
		"show what a snapshot of this Modoboa server would contain",
		"Reads the instance's settings.py (without running Python), the Postfix\n"
		"directory and the virtualenv, and prints: the instance directory and\n"
		"settings file, every DATABASES entry (never the password itself), the\n"
		"Postfix maps and whether each still matches its recorded checksum, and\n"
		"the installed versions of Modoboa, its extensions and Django. Unless\n"
		"--no-db is given it also connects to each database and prints the\n"
		"server version, the database size and the applied Django migrations.\n",
		"Exit status: 0 ok, 1 an error (bad settings, unreachable database),\n"
		"2 usage error, 3 completed with warnings (e.g. no virtualenv found).\n",
	},
	{
		"create", cmd_create, "",
		"take a snapshot: instance directory, Postfix files, databases",
		"Writes one archive <label>_<YYYYMMDDTHHMMSSZ>_modoboa-<version>.tar.zst\n"
		"(pax tar in zstd, mode 0600) into the destination directory (created\n"
		"0700), atomically: an interrupted run leaves no file under a final name.\n"
		"Components: 'instance' (the whole instance directory), 'postfix' (the\n"
		"sql-*.cf maps, modoboa-postfix-maps.chk, main.cf, master.cf) and\n"
		"'db:ALIAS' for each database of DATABASES (PostgreSQL or MariaDB/MySQL),\n"
		"each dumped inside one consistent transaction. The header records the\n"
		"versions found (Modoboa, extensions, Django, Python, and per database the\n"
		"server version and applied migrations, unless --no-db). Before writing,\n"
		"the size is estimated and the run refused when less than min_free would\n"
		"stay free. Hooks from the config's [hooks] run before and after, and\n"
		"pause/resume around the reads. Prints a summary (a progress line on a\n"
		"terminal) and the archive path as the last line.\n",
		"Exit status: 0 ok, 1 failure, 3 completed with warnings (a file kept\n"
		"changing while read, a MyISAM table), 4 another run holds the lock,\n"
		"5 verification failed.\n",
	},
	{
		"verify", cmd_verify, "SNAPSHOT",
		"check a snapshot against its manifest",
		"Reads the whole archive once: zstd checksums, every entry's size, SHA-256\n"
		"and metadata against the manifest, no entry missing, extra or duplicated,\n"
		"header and manifest in agreement. On success records the time beside the\n"
		"archive (SNAPSHOT.verified; the archive is not modified).\n"
		"The manifest's signature must come from this machine's signing key or a key\n"
		"of trusted_keys; --allow-unsigned accepts an unsigned snapshot, or one signed\n"
		"by an untrusted key, with a warning (exit 3). A bad signature is refused.\n"
		"With --deep, each PostgreSQL dump is also restored into a scratch database\n"
		"beside the live one (the role needs CREATEDB), where every table's rows and\n"
		"content digest are compared with the manifest; the scratch database is\n"
		"dropped afterwards. Connection parameters come from the instance's\n"
		"settings.py and the config file, as for create.\n"
		"SNAPSHOT: a path, or in the destination directory a snapshot id or unique\n"
		"id prefix, 'latest', or 'tag:NAME'.\n",
		"Exit status: 0 ok, 1 cannot read, 3 accepted with --allow-unsigned,\n"
		"5 verification failed (the first bad entry, or the signature problem, is\n"
		"named on stderr).\n",
	},
	{
		"list", cmd_list, "",
		"list the snapshots in the destination directory, newest first",
		"Shows id, time, Modoboa version, size, components, tags, when each last\n"
		"passed verify and the key that signed it, under a header line; an empty\n"
		"destination says so. Reads each archive through to its signature,\n"
		"without hashing its members.\n",
		NULL,
	},
	{
		"show", cmd_show, "SNAPSHOT",
		"show a snapshot's header and manifest summary",
		"Reads (and checks) the whole archive and prints its header, the versions\n"
		"it was taken at, and a summary of its manifest. With --json, the header\n"
		"and the full manifest as one JSON document.\n",
		NULL,
	},
	{
		"restore", cmd_restore, "SNAPSHOT",
		"put an installation back from a snapshot, verified and atomic per component",
		"Verifies the whole archive and its signature first (--allow-unsigned\n"
		"accepts an unsigned or untrusted one) and refuses hostile content. Prints the\n"
		"plan: per component the target, what is added, replaced and removed (-v\n"
		"lists the files), per database the tables and row counts now and in the\n"
		"snapshot, and the package pins when the installed versions differ. With\n"
		"--dry-run it stops there. Otherwise it asks for confirmation on a\n"
		"terminal (--yes skips the question; without a terminal --yes is needed),\n"
		"takes a safety snapshot (tag 'safety') of the components it will replace,\n"
		"restores each component atomically (directory swap, per-file rename,\n"
		"one transaction or a staging database per database) and proves the\n"
		"result by recomputing every file hash and table digest.\n"
		"COMPONENT: instance, postfix or db:ALIAS. --root DIR puts the files under\n"
		"DIR (new locations only); databases are still restored unless --only\n"
		"leaves them out. Targets and database connections come from this machine\n"
		"(--instance, --postfix-dir, the config, the live settings.py), never from\n"
		"the archive: when nothing here names one, the snapshot's is shown and used\n"
		"only with --accept-snapshot-targets. Every connection is tried and the\n"
		"free space checked before the first write.\n",
		NULL,
	},
	{
		"prune", cmd_prune, "",
		"delete old snapshots by retention rules, keeping pre-upgrade ones",
		"Keeps, for each rule, the newest snapshot of each of the N most recent\n"
		"periods that have snapshots: --keep-last (the N newest), --keep-hourly,\n"
		"--keep-daily, --keep-weekly (ISO weeks), --keep-monthly, --keep-yearly\n"
		"(periods in local time); --keep-within keeps everything that young (from\n"
		"the newest snapshot), --keep-tag every snapshot with that tag. A snapshot\n"
		"kept by any rule stays; the others are deleted with their verification\n"
		"records. Always kept: the newest N snapshots tagged 'pre-upgrade'\n"
		"(--keep-pre-upgrade, default 3) and the newest 'pre-upgrade' snapshot\n"
		"that passed verify, and any archive whose header cannot be read (with a\n"
		"warning); 'safety' and 'apt' snapshots by keep_safety and keep_apt in the\n"
		"config (see docs/prune.md). Options override the config's [retention]\n"
		"keys; with no rule at all prune refuses. Prints one line per snapshot,\n"
		"newest first (keep, with the rules that kept it, or remove) and a\n"
		"summary.\n",
		"Exit status: 0 ok, 1 a deletion failed, 2 usage error, 3 an unreadable\n"
		"archive was kept, 4 another run holds the lock.\n",
	},
	{
		"diff", cmd_diff, "SNAPSHOT SNAPSHOT",
		"show what changed between two snapshots: versions, files, databases",
		"Reads and verifies both archives (a damaged one is exit status 5, as for\n"
		"verify), then prints what changed from the first to the second: the\n"
		"Modoboa, Django and Python versions, each extension, and per database the\n"
		"server version, the applied migrations and each app's latest migration;\n"
		"per file component the files added, removed, changed (content, type or\n"
		"symlink target) and changed in metadata only (mode, owner, mtime), with\n"
		"the paths under -v; per database the tables added or removed and each\n"
		"table's row count and content change; components present in one snapshot\n"
		"only. Prints 'no differences' when there are none (see docs/diff.md).\n"
		"SNAPSHOT: a path, or in the destination directory a snapshot id or unique\n"
		"id prefix, 'latest', or 'tag:NAME'.\n",
		"Exit status: 0 compared (whether or not they differ), 1 cannot read or\n"
		"select a snapshot, 2 usage error, 5 a snapshot failed verification.\n",
	},
	{
		"guard", cmd_guard, "",
		"exit 0 only if a fresh, verified snapshot at the installed versions exists",
		"The upgrade gate: exits 0 when the destination holds a snapshot of this\n"
		"instance tagged TAG (default pre-upgrade), verified (its verification\n"
		"record matches the archive), newer than --max-age (default 24h; 90m, 2h,\n"
		"1d, 1w) and taken at the Modoboa and extension versions installed now.\n"
		"Otherwise it says why the newest candidate does not qualify and exits 1.\n"
		"Use it in upgrade scripts: modosnap guard --max-age 2h || exit 1\n",
		NULL,
	},
	{
		"config", cmd_config, "",
		"print the effective configuration and check it",
		"Prints every key of the configuration file with its value and where it\n"
		"came from ('FILE':LINE, command line, discovered or default), and what\n"
		"discovery finds: instance, settings file, Postfix directory, virtualenv\n"
		"and databases. Passwords and secrets are never printed: 'set (from\n"
		"password_file ...)' or 'not set'. A configuration the loader refuses is\n"
		"exit status 1 with its message; things that would fail later (no signing\n"
		"key yet, a destination that is not writable, no retention rule for\n"
		"create --nightly) are warnings.\n",
		"Exit status: 0 valid, 1 invalid (the error names file and line), 2 usage\n"
		"error, 3 valid with warnings.\n",
	},
	{
		"push", cmd_push, "SNAPSHOT",
		"copy a snapshot off this host (rclone remotes)",
		"Verifies SNAPSHOT (integrity and a trusted signature: a remote only ever\n"
		"receives a verified snapshot), then copies it to each --remote NAME, or\n"
		"to every [remote:NAME] of the config, through rclone: encrypted to the\n"
		"[encrypt] recipients in the age format unless the remote says encrypt =\n"
		"no. The archive is uploaded, its size and SHA-256 read back from the\n"
		"remote, and a small marker written last: listing shows only complete\n"
		"copies, and pushing again completes an interrupted push (or does\n"
		"nothing). create pushes by itself after its verification, per remote's\n"
		"push = always|nightly|pre-upgrade|never. SNAPSHOT as for verify.\n",
		"Exit status: 0 pushed, 1 a remote failed (named; the local snapshot\n"
		"stays), 2 usage error, 4 another run holds the destination, 5 the\n"
		"snapshot is damaged or not signed by a trusted key.\n",
	},
	{
		"fetch", cmd_fetch, "SNAPSHOT",
		"bring a snapshot back from a remote into the destination",
		"Downloads the complete copy SNAPSHOT (its name on the remote, a unique\n"
		"prefix of it, or 'latest') of --remote NAME into the destination\n"
		"directory, checked against the SHA-256 its marker records. An encrypted\n"
		"copy is decrypted with --identity FILE (an age identity, kept off the\n"
		"server) and then verified like any snapshot; without an identity it is\n"
		"kept encrypted, checked against its recorded hash only (a warning says\n"
		"so). Prints the path of the fetched snapshot: restore it from there.\n",
		"Exit status: 0 fetched and verified, 1 failure (the remote or the\n"
		"download, named), 2 usage error, 3 fetched encrypted without an identity,\n"
		"4 another run holds the destination, 5 damaged, tampered, a wrong\n"
		"identity, or not signed by a trusted key.\n",
	},
	{
		"help", cmd_help, "[COMMAND]",
		"show the help of a command",
		"Without COMMAND, lists the commands; with one, shows its options.\n"
		"'modosnap COMMAND --help' (or -h) shows the same.\n",
		NULL,
	},
	{ NULL, NULL, NULL, NULL, NULL, NULL },
};

/* Where a command words an option its own way (the option table holds the
 * general wording, options.c). */
static const struct {
	const char *cmd, *opt, *help;
} own_words[] = {
	{ "inspect", "json", "print one JSON document (see docs/inspect-json.md)" },
	{ "create", "no-db", "files only: do not connect to or dump the databases" },
	{ "create", "json", "print a JSON summary (for monitoring) instead of text" },
	{ "verify", "instance", "with --deep: the instance directory (default /srv/modoboa/instance)" },
	{ "show", "json", "print the header and the full manifest as one JSON document" },
	{ "restore", "dry-run", "print the plan and stop" },
	{ "prune", "dry-run", "print the plan, delete nothing (takes no lock)" },
	{ "prune", "json", "print the plan as a JSON array" },
	{ "diff", "json", "print one JSON object (every path listed)" },
};

const struct ms_command *ms_command_find(const char *name)
{
	for (const struct ms_command *c = ms_commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/* "--dest DIR", "--verify[=deep]", "-c, --config FILE" into sb. */
static void add_option(struct ms_strbuf *sb, const struct ms_opt_help *h)
{
	if (h->short_name)
		ms_strbuf_addf(sb, "-%c, ", h->short_name);
	ms_strbuf_addf(sb, "--%s", h->name);
	if (h->arg)
		ms_strbuf_addf(sb, h->optional_arg ? "[=%s]" : " %s", h->arg);
}

/* The usage line of `name` (options.h's command `cmd`): its arguments,
 * then every option it accepts, wrapped under the first. */
static void print_usage(const char *name, enum ms_opts_cmd cmd, const char *args)
{
	struct ms_strbuf line = MS_STRBUF_INIT, word = MS_STRBUF_INIT;
	struct ms_opt_help h;
	size_t pos = 0;
	int indent;

	ms_strbuf_addf(&line, "usage: modosnap %s", name);
	indent = (int)line.len + 1;
	if (*args)
		ms_strbuf_addf(&line, " %s", args);
	while (cmd != MS_OPTS_N && ms_opts_next(cmd, &pos, &h)) {
		ms_strbuf_reset(&word);
		ms_strbuf_addch(&word, '[');
		add_option(&word, &h);
		ms_strbuf_addstr(&word, h.repeatable ? "]..." : "]");
		if (line.len + 1 + word.len > 79) {
			printf("%s\n", ms_strbuf_str(&line));
			ms_strbuf_reset(&line);
			ms_strbuf_addf(&line, "%*s", indent - 1, "");
		}
		ms_strbuf_addf(&line, " %s", ms_strbuf_str(&word));
	}
	printf("%s\n", ms_strbuf_str(&line));
	ms_strbuf_release(&line);
	ms_strbuf_release(&word);
}

static const char *option_words(const char *name, const struct ms_opt_help *h)
{
	for (size_t i = 0; i < sizeof(own_words) / sizeof(own_words[0]); i++)
		if (!strcmp(own_words[i].cmd, name) && !strcmp(own_words[i].opt, h->name))
			return own_words[i].help;
	return h->help;
}

/* Prints text from column `col` (the cursor stands there), its words
 * wrapped at column 79, each further line indented to `col`. */
static void print_wrapped(const char *text, int col)
{
	int at = col;

	while (*text) {
		size_t len = strcspn(text, " ");

		if (at > col && at + 1 + (int)len > 79) {
			printf("\n%*s", col, "");
			at = col;
		} else if (at > col) {
			putchar(' ');
			at++;
		}
		printf("%.*s", (int)len, text);
		at += (int)len;
		text += len;
		text += strspn(text, " ");
	}
	putchar('\n');
}

/* One entry per option the command accepts, "  --dest DIR  what it
 * does", the descriptions aligned. */
static void print_options(const char *name, enum ms_opts_cmd cmd)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	struct ms_opt_help h;
	size_t pos = 0;
	int width = 0;

	while (ms_opts_next(cmd, &pos, &h)) {
		ms_strbuf_reset(&sb);
		add_option(&sb, &h);
		if ((int)sb.len > width)
			width = (int)sb.len;
	}
	pos = 0;
	while (ms_opts_next(cmd, &pos, &h)) {
		ms_strbuf_reset(&sb);
		add_option(&sb, &h);
		printf("  %-*s  ", width, ms_strbuf_str(&sb));
		print_wrapped(option_words(name, &h), width + 4);
	}
	ms_strbuf_release(&sb);
}

void ms_cli_print_help(void)
{
	printf("usage: modosnap [-c FILE] [-q | -v] COMMAND [ARGS]\n"
	       "\n"
	       "Consistent, verified snapshots of a Modoboa mail server.\n"
	       "\n"
	       "commands:\n");
	for (const struct ms_command *c = ms_commands; c->name; c++)
		printf("  %-10s %s\n", c->name, c->summary);
	printf("\nglobal options:\n");
	print_options("", MS_OPTS_GLOBAL);
	printf("\n"
	       "exit status: 0 ok, 1 failure, 2 usage error, 3 completed with warnings,\n"
	       "4 another run holds the lock, 5 verification failed.\n"
	       "Run 'modosnap help COMMAND' (or 'modosnap COMMAND --help') for the options\n"
	       "of a command.\n");
}

int ms_cli_print_command_help(const char *name)
{
	const struct ms_command *c = ms_command_find(name);
	enum ms_opts_cmd cmd;
	struct ms_opt_help h;
	size_t pos = 0;

	if (!c) {
		ms_log_error("unknown command '%s'; try 'modosnap --help'", name);
		return MS_EXIT_USAGE;
	}
	cmd = ms_opts_cmd_find(name);
	print_usage(name, cmd, c->args);
	printf("\n%s\n%s", c->summary, c->help);
	if (cmd != MS_OPTS_N && ms_opts_next(cmd, &pos, &h)) {
		printf("\noptions:\n");
		print_options(name, cmd);
	}
	if (c->status)
		printf("\n%s", c->status);
	return MS_EXIT_OK;
}

static int cmd_help(struct ms_cli *cli, int argc, char **argv)
{
	(void)cli;
	if (argc > 2)
		return ms_cli_usage_error("help", "too many arguments");
	if (argc == 2)
		return ms_cli_print_command_help(argv[1]);
	ms_cli_print_help();
	return MS_EXIT_OK;
}

int ms_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	ms_log_error("%s; try 'modosnap help %s'", msg ? msg : "usage error", cmd);
	free(msg);
	return MS_EXIT_USAGE;
}

int ms_cli_load_config(struct ms_cli *cli)
{
	const char *path = cli->config_path;

	if (!path) {
		const char *env = getenv("MODOSNAP_CONFIG");

		if (env)
			path = *env ? env : NULL;
		else if (access(MS_DEFAULT_CONFIG, F_OK) == 0)
			path = MS_DEFAULT_CONFIG;
	}
	cli->config = path ? ms_config_load(path) : ms_config_new();
	return cli->config ? 0 : -1;
}

int ms_cli_exit_code(int failed)
{
	if (failed)
		return MS_EXIT_FAILURE;
	return ms_log_warning_count() ? MS_EXIT_WARNINGS : MS_EXIT_OK;
}

/* --- what verify, list and show share ----------------------------------- */


/* The options of verify, list and show (options.c refuses the ones the
 * command does not take); verify and show take one SNAPSHOT. */
static int parse_read(const char *cmd, int argc, char **argv, struct ms_read_args *a)
{
	struct ms_opts o = { 0 };
	int ret = ms_opts_parse(ms_opts_cmd_find(cmd), argc, argv, &o);

	a->dest = o.dest;
	a->selector = o.args[0];
	a->json = o.json;
	a->deep = o.deep;
	a->allow_unsigned = o.allow_unsigned;
	a->inst = o.inst;
	ms_opts_clear(&o);
	return ret;
}


const char *ms_cli_read_dest(const struct ms_cli *cli, const struct ms_read_args *a)
{
	return a->dest ? a->dest : cli->config->dest ? cli->config->dest : MS_DEFAULT_DEST;
}


int ms_cli_read_setup(struct ms_cli *cli, const char *cmd, int argc, char **argv, struct ms_read_args *a,
		      char **path)
{
	int ret = parse_read(cmd, argc, argv, a);

	if (ret != 0)
		return ret;
	if (ms_cli_load_config(cli) < 0)
		return MS_EXIT_FAILURE;
	if (path)
		*path = ms_dest_select(ms_cli_read_dest(cli, a), a->selector);
	if (path && *path && ms_cli_refuse_encrypted(*path) < 0) {
		free(*path);
		*path = NULL;
	}
	return path && !*path ? MS_EXIT_FAILURE : 0;
}

int ms_cli_refuse_encrypted(const char *path)
{
	if (!ms_dest_is_encrypted(path))
		return 0;
	return ms_log_error("'%s' is encrypted ([encrypt] local = yes): verify and restore read it with --identity "
			    "FILE; to read it otherwise, decrypt a copy: age -d -i FILE -o COPY.tar.zst '%s'", path,
			    path);
}


/* What `list` and `show` say about a signature (no trust decision). */
static const char *sig_status_name(enum ms_sig_status s)
{
	switch (s) {
	case MS_SIG_VALID: return "valid";
	case MS_SIG_BAD: return "bad";
	case MS_SIG_MALFORMED: return "malformed";
	case MS_SIG_NONE: break;
	}
	return "none";
}


/* "SHA256:..." for a valid signature, else "unsigned" or "bad (...)";
 * into buf. */
const char *ms_cli_sig_text(const struct ms_sig_state *st, char *buf, size_t len)
{
	if (st->status == MS_SIG_VALID)
		snprintf(buf, len, "%s", st->fingerprint);
	else if (st->status == MS_SIG_NONE)
		snprintf(buf, len, "unsigned");
	else
		snprintf(buf, len, "bad (%s)", st->problem);
	return buf;
}


/* {"status": ..., "fingerprint": ... or null, "public_key": ... or null} */
ms_json *ms_cli_sig_json(const struct ms_sig_state *st)
{
	ms_json *o = ms_json_object();
	char *line = st->status == MS_SIG_VALID ? ms_sign_public_line(st->pubkey, NULL) : NULL;

	ms_json_set(o, "status", ms_json_str(sig_status_name(st->status)));
	ms_json_set(o, "fingerprint", ms_json_str(st->status == MS_SIG_VALID ? st->fingerprint : NULL));
	ms_json_set(o, "public_key", ms_json_str(line));
	ms_json_set(o, "problem", ms_json_str(st->problem));
	free(line);
	return o;
}


ms_json *ms_cli_header_json(const struct ms_header *h)
{
	char *text = ms_header_encode(h);
	ms_json *j = ms_json_parse(text);

	free(text);
	return j;
}


/* Archive text is untrusted: printed through ms_printable, the copies
 * kept in `pool` until the caller clears it. */
const char *ms_cli_pooled(struct ms_strv *pool, const char *s)
{
	ms_strv_push_owned(pool, ms_printable(s));
	return pool->v[pool->n - 1];
}

int ms_cli_verify_deep(struct ms_cli *cli, const struct ms_instance_opts *inst, const char *archive,
		       const struct ms_manifest *m, bool quiet_line, struct ms_strbuf *ok)
{
	struct ms_progress pg;
	struct ms_progress_line *line;
	int rc;

	ms_progress_init(&pg);
	/* the total before the first draw: the line says "of N MiB" from the
	 * start, however short the run */
	atomic_store(&pg.total, ms_progress_member_bytes(m, "db/"));
	line = ms_progress_line_start(&pg, !quiet_line, false);
	rc = ms_verify_deep(cli->config, inst, archive, m, ok, &pg);
	ms_progress_line_stop(line);
	if (rc == -1)
		return MS_EXIT_VERIFY;
	return rc < 0 ? MS_EXIT_FAILURE : ms_cli_exit_code(0);
}
