/*
 * The configuration file reader (see config.h). inih tokenises the INI
 * syntax, but it is fed one normalised line at a time by cfg_reader(), so
 * that what the file accepts does not depend on the options the
 * distribution compiled inih with (Debian's allows multi-line values and
 * keeps parsing after an error), and so that every line number is known.
 *
 * The accepted format:
 *   - section headers `[modosnap]`, `[db:ALIAS]` (ALIAS made of letters,
 *     digits, '_' and '-'), `[retention]`, `[hooks]`, `[paths]` and
 *     `[mail]`, each at most once;
 *   - `key = value` lines (`key: value` works too); blanks around the key and
 *     the value are dropped; keys are case-sensitive; a key may appear once
 *     per section;
 *   - blank lines, and comment lines whose first non-blank character is '#'
 *     or ';';
 *   - inline comments: a ';' preceded by a space or a tab ends the line
 *     (`port = 5432 ; local`); '#' starts a comment only at the beginning of
 *     a line, and a ';' not preceded by a blank is data. A password holding
 *     " ;" therefore belongs in a password_file;
 *   - indentation is ignored and there are no continuation lines: an
 *     indented line is read on its own, so a value cannot span lines;
 *   - a UTF-8 byte order mark and CRLF line ends are accepted;
 *   - a line longer than inih's buffer (about 200 bytes once comments are
 *     removed) is an error rather than being silently split.
 * Errors are reported once, for the first faulty line, as "'FILE':LINE: ...";
 * no message ever contains a password.
 */
#include "discover/config.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/sign.h"
#include "base/util.h"

#define CFG_MAX_SIZE (1024 * 1024)
#define PASSWORD_MAX_SIZE 4096
#define OTHER_RW (S_IROTH | S_IWOTH)

enum cfg_section {
	SEC_NONE, SEC_MODOSNAP, SEC_DB, SEC_REMOTE, SEC_RETENTION, SEC_HOOKS, SEC_PATHS, SEC_MAIL, SEC_RCLONE,
	SEC_ENCRYPT, SEC_MONITOR
};

/* The sections that hold no alias, as their kind is named in the key
 * table (ms_config_key_name) and in the file. */
static const char *const section_kinds[] = { [SEC_MODOSNAP] = "modosnap", [SEC_DB] = "db",
					     [SEC_REMOTE] = "remote:NAME", [SEC_RETENTION] = "retention",
					     [SEC_HOOKS] = "hooks", [SEC_PATHS] = "paths", [SEC_MAIL] = "mail",
					     [SEC_RCLONE] = "remote", [SEC_ENCRYPT] = "encrypt",
					     [SEC_MONITOR] = "monitor" };

/* State shared by the line reader and the key handler during one load. */
struct cfg_parser {
	const char *path;         /* config file, for messages */
	mode_t mode;              /* its st_mode, for the `password` check */
	struct ms_config *cfg;    /* being filled; owned until handed over */
	const char *next;         /* text not yet handed to inih */
	int line;                 /* number of the line inih is parsing */
	enum cfg_section section; /* kind of the current section */
	char *section_name;       /* e.g. "db:default", for messages */
	size_t db;                /* index in cfg->dbs when section == SEC_DB */
	size_t remote;            /* index in cfg->remotes when section == SEC_REMOTE */
	bool seen_modosnap;       /* a [modosnap] header was read */
	struct ms_strv seen;      /* "SECTION\nKEY" for every key already set */
	int err_line;             /* line of the first error found here */
	char *err;                /* its message; NULL while all is well */
};

/* One accepted key: adding a key is adding a line to cfg_keys[]. */
struct cfg_key {
	enum cfg_section section;
	const char *name;
	size_t offset; /* of the field in struct ms_config or ms_config_db */
	/* Validates and stores value into field: 0, or -1 after cfg_fail(). */
	int (*set)(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value);
};

static int set_string(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value);
static int set_path(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value);
static int set_engine(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value);
static int set_port(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value);
static int set_password(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value);
static int set_password_file(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value);
static int set_list_item(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value);
static int set_admin_password_file(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value);
static int set_count(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value);
static int set_size(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value);
static int set_command(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value);
static int set_seconds(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value);
static int set_duration(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value);
static int set_yes_no(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value);
static int set_components(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value);
static int set_path_item(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value);
static int set_push(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value);
static int set_url(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value);
static int set_recipient(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value);
static int set_kind(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value);
static int set_ping_url(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value);
static bool valid_alias(const char *alias);

#define MAIN_KEY(name, set) { SEC_MODOSNAP, #name, offsetof(struct ms_config, name), set }
#define DB_KEY(name, set) { SEC_DB, #name, offsetof(struct ms_config_db, name), set }
#define KEEP_KEY(name) { SEC_RETENTION, #name, offsetof(struct ms_config, name), set_count }
#define HOOK_KEY(name) { SEC_HOOKS, #name, offsetof(struct ms_config, hook_##name), set_command }

static const struct cfg_key cfg_keys[] = {
	MAIN_KEY(instance, set_path),
	MAIN_KEY(postfix_dir, set_path),
	MAIN_KEY(dest, set_path),
	MAIN_KEY(venv, set_path),
	MAIN_KEY(label, set_string),
	MAIN_KEY(signing_key, set_path),
	MAIN_KEY(trusted_keys, set_path),
	MAIN_KEY(exclude, set_list_item), /* repeatable */
	MAIN_KEY(min_free, set_size),
	MAIN_KEY(lock_timeout, set_seconds),
	MAIN_KEY(system_root, set_path),
	MAIN_KEY(capture_venv, set_yes_no),
	MAIN_KEY(components, set_components),
	MAIN_KEY(dkim_dir, set_path),
	DB_KEY(engine, set_engine),
	DB_KEY(name, set_string),
	DB_KEY(user, set_string),
	DB_KEY(host, set_string),
	DB_KEY(port, set_port),
	DB_KEY(password, set_password),
	DB_KEY(password_file, set_password_file),
	DB_KEY(admin_user, set_string),
	DB_KEY(admin_password_file, set_admin_password_file),
	KEEP_KEY(keep_last),
	KEEP_KEY(keep_hourly),
	KEEP_KEY(keep_daily),
	KEEP_KEY(keep_weekly),
	KEEP_KEY(keep_monthly),
	KEEP_KEY(keep_yearly),
	{ SEC_RETENTION, "keep_within", offsetof(struct ms_config, keep_within), set_duration },
	KEEP_KEY(keep_pre_upgrade),
	KEEP_KEY(keep_apt),
	{ SEC_RETENTION, "keep_safety", offsetof(struct ms_config, keep_safety), set_duration },
	{ SEC_RETENTION, "keep_tag", offsetof(struct ms_config, keep_tag), set_list_item },
	HOOK_KEY(before),
	HOOK_KEY(after),
	HOOK_KEY(on_error),
	HOOK_KEY(pause),
	HOOK_KEY(resume),
	{ SEC_PATHS, "include", offsetof(struct ms_config, paths_include), set_path_item }, /* repeatable */
	{ SEC_PATHS, "exclude", offsetof(struct ms_config, paths_exclude), set_path_item }, /* repeatable */
	{ SEC_MAIL, "dir", offsetof(struct ms_config, mail_dir), set_path },
	{ SEC_MAIL, "enabled", offsetof(struct ms_config, mail_enabled), set_yes_no },
	{ SEC_RCLONE, "rclone_config", offsetof(struct ms_config, rclone_config), set_path },
	{ SEC_RCLONE, "rclone", offsetof(struct ms_config, rclone), set_path },
	{ SEC_REMOTE, "url", offsetof(struct ms_config_remote, url), set_url },
	{ SEC_REMOTE, "push", offsetof(struct ms_config_remote, push), set_push },
	{ SEC_REMOTE, "encrypt", offsetof(struct ms_config_remote, encrypt), set_yes_no },
	{ SEC_ENCRYPT, "recipient", offsetof(struct ms_config, recipients), set_recipient }, /* repeatable */
	{ SEC_ENCRYPT, "local", offsetof(struct ms_config, encrypt_local), set_yes_no },
	{ SEC_MONITOR, "ping_url", offsetof(struct ms_config, ping_url), set_ping_url },
	{ SEC_MONITOR, "kind", offsetof(struct ms_config, ping_kind), set_kind },
};

/* Records the first error (with the current line); later ones are dropped
 * because they are usually consequences of the first. Returns -1. */
static int cfg_fail(struct cfg_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cfg_fail(struct cfg_parser *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->err)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		MS_BUG("vsnprintf failed");
	p->err = ms_xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p->err, (size_t)n + 1, fmt, ap);
	va_end(ap);
	p->err_line = p->line;
	return -1;
}

static struct ms_config_db *cur_db(struct cfg_parser *p)
{
	return &p->cfg->dbs[p->db];
}

/* --- values ---------------------------------------------------------------- */

static int set_string(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value)
{
	(void)p;
	(void)k;
	*(char **)field = ms_xstrdup(value);
	return 0;
}

/* Repeatable keys: each line appends one item. */
static int set_list_item(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value)
{
	if (!*value)
		return cfg_fail(p, "%s needs a value", k->name);
	ms_strv_push((struct ms_strv *)field, value);
	return 0;
}

static int set_path(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value)
{
	if (value[0] != '/')
		return cfg_fail(p, "%s must be an absolute path: '%s'", k->name, value);
	return set_string(p, k, field, value);
}

/* [paths] include/exclude: an absolute path below '/', compared as a
 * logical path later, so trailing slashes are dropped ("/etc/x/" is
 * "/etc/x"). Repeatable. */
static int set_path_item(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value)
{
	size_t len = strlen(value);

	if (value[0] != '/')
		return cfg_fail(p, "%s must be an absolute path: '%s'", k->name, value);
	while (len > 1 && value[len - 1] == '/')
		len--;
	if (len == 1)
		return cfg_fail(p, "%s must name a file or directory below '/': '%s'", k->name, value);
	ms_strv_push_owned((struct ms_strv *)field, ms_xstrndup(value, len));
	return 0;
}

/* `push = always|nightly|pre-upgrade|never`. */
static int set_push(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value)
{
	static const char *const words[] = { [MS_PUSH_NEVER] = "never", [MS_PUSH_ALWAYS] = "always",
					     [MS_PUSH_NIGHTLY] = "nightly", [MS_PUSH_PRE_UPGRADE] = "pre-upgrade" };

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(value, words[i]) == 0) {
			*(int *)field = (int)i;
			return 0;
		}
	return cfg_fail(p, "invalid %s '%s' (expected always, nightly, pre-upgrade or never)", k->name, value);
}

/* rclone's REMOTE:PATH, or an absolute local path; no control character,
 * no leading '-' (never an rclone option), no trailing '/'. */
static int set_url(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value)
{
	size_t len = strlen(value);

	if (!len || value[0] == '-' || (value[0] != '/' && !strchr(value, ':')))
		return cfg_fail(p, "invalid %s '%s' (expected rclone's REMOTE:PATH, e.g. s3remote:bucket/modosnap, or "
				"an absolute path)", k->name, value);
	for (const char *c = value; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return cfg_fail(p, "invalid %s: a control character", k->name);
	while (len > 1 && value[len - 1] == '/')
		len--;
	free(*(char **)field);
	*(char **)field = ms_xstrndup(value, len);
	return 0;
}

/* An age X25519 recipient: "age1" and 58 bech32 characters. An identity
 * (AGE-SECRET-KEY-1...) here is refused without being echoed. */
static int set_recipient(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value)
{
	static const char bech32[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

	if (strncasecmp(value, "AGE-SECRET-KEY-", 15) == 0)
		return cfg_fail(p, "%s is a private key (an identity): the server keeps only public keys "
				"(age1...); keep the identity off this machine", k->name);
	if (strncmp(value, "age1", 4) != 0 || strlen(value) != 62 || strspn(value + 4, bech32) != 58)
		return cfg_fail(p, "invalid %s '%s' (expected an age public key: age1 and 58 characters, as "
				"age-keygen prints it)", k->name, value);
	if (ms_strv_contains(field, value))
		return cfg_fail(p, "duplicate %s '%s'", k->name, value);
	ms_strv_push(field, value);
	return 0;
}

static int set_kind(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value)
{
	if (strcmp(value, "healthchecks") != 0 && strcmp(value, "uptime-kuma") != 0 && strcmp(value, "ntfy") != 0)
		return cfg_fail(p, "invalid %s '%s' (expected healthchecks, uptime-kuma or ntfy)", k->name, value);
	return set_string(p, k, field, value);
}

/* http:// or https://, no control character or blank. */
static int set_ping_url(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value)
{
	if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0)
		return cfg_fail(p, "invalid %s (expected an http:// or https:// URL)", k->name);
	for (const char *c = value; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			return cfg_fail(p, "invalid %s: a blank or control character", k->name);
	return set_string(p, k, field, value);
}

static int set_yes_no(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value)
{
	if (strcmp(value, "yes") == 0)
		*(int *)field = 1;
	else if (strcmp(value, "no") == 0)
		*(int *)field = 0;
	else
		return cfg_fail(p, "invalid %s '%s' (expected yes or no)", k->name, value);
	if (field == &p->cfg->encrypt_local)
		p->cfg->encrypt_local_line = p->line;
	return 0;
}

bool ms_config_component_valid(const char *name)
{
	static const char *const names[] = { "instance", "postfix", "db", "venv", "dkim", "system", "mail" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return strncmp(name, "db:", 3) == 0 && name[3] && valid_alias(name + 3);
}

/* `components = instance postfix db dkim`: names separated by blanks or
 * commas, each checked; a repeated name counts once. */
static int set_components(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value)
{
	struct ms_strv *list = field;
	const char *s = value;

	while (*s) {
		size_t len = strcspn(s, " \t,");
		char *name;

		if (len == 0) {
			s++;
			continue;
		}
		name = ms_xstrndup(s, len);
		s += len;
		if (!ms_config_component_valid(name)) {
			cfg_fail(p, "invalid component '%s' in %s (expected instance, postfix, db, db:ALIAS, venv, "
				 "dkim, system or mail)", name, k->name);
			free(name);
			return -1;
		}
		if (ms_strv_contains(list, name))
			free(name);
		else
			ms_strv_push_owned(list, name);
	}
	if (list->n == 0)
		return cfg_fail(p, "%s needs at least one component", k->name);
	return 0;
}

/* A count of snapshots: 0 .. 1000000. */
static int set_count(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value)
{
	unsigned long n;

	if (ms_parse_ulong(value, 0, 1000000, &n) < 0)
		return cfg_fail(p, "invalid %s '%s' (expected a number of snapshots)", k->name, value);
	*(int *)field = (int)n;
	return 0;
}

static int set_seconds(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value)
{
	unsigned long n;

	if (ms_parse_ulong(value, 1, 86400, &n) < 0)
		return cfg_fail(p, "invalid %s '%s' (expected seconds, 1 to 86400)", k->name, value);
	*(int *)field = (int)n;
	return 0;
}

int ms_config_parse_duration(const char *s, long *secs)
{
	return ms_parse_duration(s, MS_DURATION_ZERO, secs);
}

static int set_duration(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value)
{
	if (ms_config_parse_duration(value, (long *)field) < 0)
		return cfg_fail(p, "invalid %s '%s' (expected a duration such as 7d, 12h or 30m, or 0)", k->name,
				value);
	return 0;
}

/* A size in bytes, with an optional K, M, G or T suffix (powers of 1024). */
static int set_size(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value)
{
	static const char suffixes[] = "KMGT";
	size_t len = strlen(value);
	unsigned long n, mult = 1;
	const char *sfx;
	char *num;
	int rc;

	if (len && (sfx = strchr(suffixes, value[len - 1])) != NULL && value[len - 1]) {
		for (const char *c = suffixes; c <= sfx; c++)
			mult *= 1024;
		len--;
	}
	num = ms_xstrndup(value, len);
	rc = ms_parse_ulong(num, 0, (unsigned long)(1ULL << 50) / mult, &n);
	free(num);
	if (rc < 0)
		return cfg_fail(p, "invalid %s '%s' (expected bytes, optionally with K, M, G or T)", k->name, value);
	*(long long *)field = (long long)(n * mult);
	return 0;
}

static int set_command(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value)
{
	if (!*value)
		return cfg_fail(p, "hook '%s' needs a command", k->name);
	return set_string(p, k, field, value);
}

static int set_engine(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value)
{
	if (strcmp(value, "postgresql") != 0 && strcmp(value, "mysql") != 0)
		return cfg_fail(p, "invalid engine '%s' (expected postgresql or mysql)", value);
	return set_string(p, k, field, value);
}

static int set_port(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value)
{
	unsigned long port;

	(void)k;
	if (ms_parse_ulong(value, 1, 65535, &port) < 0)
		return cfg_fail(p, "invalid port '%s' (expected 1-65535)", value);
	*(char **)field = ms_xasprintf("%lu", port); /* "05432" -> "5432" */
	return 0;
}

static int both_passwords(struct cfg_parser *p)
{
	return cfg_fail(p, "both password and password_file are set for [%s]", p->section_name);
}

static int set_password(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value)
{
	(void)k;
	if (cur_db(p)->password_file)
		return both_passwords(p);
	if (p->mode & OTHER_RW)
		return cfg_fail(p, "password set in a file readable or writable by other users "
				"(mode %04o); chmod 600 '%s' or use password_file",
				(unsigned)(p->mode & 07777), p->path);
	*(char **)field = ms_xstrdup(value);
	return 0;
}

/* Checks what a password file read into buf (len bytes) holds, strips one
 * trailing newline and returns a copy in *out; -1 after cfg_fail(). */
static int take_password(struct cfg_parser *p, const char *file, char *buf, size_t len, char **out)
{
	if (len > PASSWORD_MAX_SIZE)
		return cfg_fail(p, "password file '%s' is too large (limit %d bytes)", file,
				PASSWORD_MAX_SIZE);
	if (memchr(buf, '\0', len))
		return cfg_fail(p, "password file '%s' contains a NUL byte", file);
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (len == 0)
		return cfg_fail(p, "password file '%s' is empty", file);
	*out = ms_xstrndup(buf, len);
	return 0;
}

/* Reads the password from `file`, which must be a regular file that other
 * users can neither read nor write. The mode is checked on the open
 * descriptor (st_mode bits: root bypasses access checks). */
static int read_password_file(struct cfg_parser *p, const char *file, char **out)
{
	char *buf = ms_xmalloc(PASSWORD_MAX_SIZE + 1);
	struct stat st;
	size_t len = 0;
	int fd, ret = -1;

	/* O_NONBLOCK: a FIFO must be refused, not waited on. */
	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		cfg_fail(p, "unable to open password file '%s': %s", file, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		cfg_fail(p, "unable to stat password file '%s': %s", file, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		cfg_fail(p, "password file '%s' is not a regular file", file);
		goto out;
	}
	if (st.st_mode & OTHER_RW) {
		cfg_fail(p, "password file '%s' is readable or writable by other users "
			 "(mode %04o); chmod 600 '%s'", file, (unsigned)(st.st_mode & 07777), file);
		goto out;
	}
	if (ms_read_fd(fd, buf, PASSWORD_MAX_SIZE + 1, &len) < 0) {
		cfg_fail(p, "unable to read password file '%s': %s", file, strerror(errno));
		goto out;
	}
	ret = take_password(p, file, buf, len, out);
out:
	if (fd >= 0)
		close(fd);
	ms_secure_zero(buf, PASSWORD_MAX_SIZE + 1);
	free(buf);
	return ret;
}

static int set_password_file(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value)
{
	struct ms_config_db *db = cur_db(p);
	char *password = NULL;

	if (db->password)
		return both_passwords(p);
	if (value[0] != '/')
		return cfg_fail(p, "%s must be an absolute path: '%s'", k->name, value);
	if (read_password_file(p, value, &password) < 0)
		return -1;
	*(char **)field = ms_xstrdup(value);
	db->password = password;
	return 0;
}

static int set_admin_password_file(struct cfg_parser *p, const struct cfg_key *k, void *field, const char *value)
{
	struct ms_config_db *db = cur_db(p);
	char *password = NULL;

	if (value[0] != '/')
		return cfg_fail(p, "%s must be an absolute path: '%s'", k->name, value);
	if (read_password_file(p, value, &password) < 0)
		return -1;
	*(char **)field = ms_xstrdup(value);
	db->admin_password = password;
	return 0;
}

/* --- keys ------------------------------------------------------------------ */

static const struct cfg_key *find_key(enum cfg_section section, const char *name)
{
	for (size_t i = 0; i < sizeof(cfg_keys) / sizeof(cfg_keys[0]); i++)
		if (cfg_keys[i].section == section && strcmp(cfg_keys[i].name, name) == 0)
			return &cfg_keys[i];
	return NULL;
}

/* Remembers where a key was set (`modosnap config` shows it). */
static void add_origin(struct cfg_parser *p, const char *name, const char *value)
{
	struct ms_config *cfg = p->cfg;
	struct ms_config_origin *o;

	cfg->origins = ms_xrealloc(cfg->origins, (cfg->n_origins + 1) * sizeof(*cfg->origins));
	o = &cfg->origins[cfg->n_origins++];
	o->section = ms_xstrdup(p->section_name);
	o->key = ms_xstrdup(name);
	o->line = p->line;
	/* secrets: a password, and the token a monitoring URL carries */
	o->value = strcmp(name, "password") == 0 || strcmp(name, "ping_url") == 0 ? NULL : ms_xstrdup(value);
}

static int cfg_set(struct cfg_parser *p, const char *name, const char *value)
{
	const struct cfg_key *k;
	char *base, *id;

	if (p->section == SEC_NONE)
		return cfg_fail(p, "key '%s' outside any section", name);
	k = find_key(p->section, name);
	if (!k)
		return cfg_fail(p, "unknown key '%s' in section [%s]", name, p->section_name);
	id = ms_xasprintf("%s\n%s", p->section_name, name);
	if (k->set != set_list_item && k->set != set_path_item && k->set != set_recipient &&
	    ms_strv_contains(&p->seen, id)) {
		free(id);
		return cfg_fail(p, "duplicate key '%s'", name);
	}
	ms_strv_push_owned(&p->seen, id);
	base = p->section == SEC_DB		 ? (char *)cur_db(p)
	       : p->section == SEC_REMOTE ? (char *)&p->cfg->remotes[p->remote]
						: (char *)p->cfg;
	if (k->set(p, k, base + k->offset, value) < 0)
		return -1;
	add_origin(p, name, value);
	return 0;
}

/* inih's callback for each name=value pair. The section argument is unused:
 * the reader tracks sections itself (inih truncates long names). */
static int cfg_handler(void *user, const char *section, const char *name, const char *value)
{
	struct cfg_parser *p = user;

	(void)section;
	if (p->err)
		return 1; /* already failed: the reader stops at the next line */
	return cfg_set(p, name, value) == 0;
}

/* --- sections -------------------------------------------------------------- */

static bool valid_alias(const char *alias)
{
	for (const char *s = alias; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return false;
	return true;
}

static int enter_db(struct cfg_parser *p, const char *alias)
{
	struct ms_config *cfg = p->cfg;

	if (!*alias)
		return cfg_fail(p, "empty alias in section [db:]");
	if (!valid_alias(alias))
		return cfg_fail(p, "invalid alias '%s' in section [db:%s] (expected letters, "
				"digits, '_' or '-')", alias, alias);
	if (ms_config_db(cfg, alias))
		return cfg_fail(p, "duplicate section [db:%s]", alias);
	cfg->dbs = ms_xrealloc(cfg->dbs, (cfg->n_dbs + 1) * sizeof(*cfg->dbs));
	memset(&cfg->dbs[cfg->n_dbs], 0, sizeof(*cfg->dbs));
	cfg->dbs[cfg->n_dbs].alias = ms_xstrdup(alias);
	cfg->dbs[cfg->n_dbs].line = p->line;
	p->db = cfg->n_dbs++;
	p->section = SEC_DB;
	return 0;
}

static int enter_remote(struct cfg_parser *p, const char *name)
{
	struct ms_config *cfg = p->cfg;

	if (!*name || !valid_alias(name))
		return cfg_fail(p, "invalid remote name '%s' in section [remote:%s] (expected letters, digits, '_' or "
				"'-')", name, name);
	if (ms_config_remote(cfg, name))
		return cfg_fail(p, "duplicate section [remote:%s]", name);
	cfg->remotes = ms_xrealloc(cfg->remotes, (cfg->n_remotes + 1) * sizeof(*cfg->remotes));
	memset(&cfg->remotes[cfg->n_remotes], 0, sizeof(*cfg->remotes));
	cfg->remotes[cfg->n_remotes].name = ms_xstrdup(name);
	cfg->remotes[cfg->n_remotes].push = -1;
	cfg->remotes[cfg->n_remotes].encrypt = -1;
	cfg->remotes[cfg->n_remotes].line = p->line;
	p->remote = cfg->n_remotes++;
	p->section = SEC_REMOTE;
	return 0;
}

/* A section without an alias ([retention], [hooks], [paths], [mail],
 * [remote], [encrypt], [monitor]): at most once. */
static void enter_plain(struct cfg_parser *p, const char *name)
{
	enum cfg_section sec = SEC_NONE;
	char *id;

	for (size_t i = SEC_RETENTION; i < sizeof(section_kinds) / sizeof(section_kinds[0]); i++)
		if (strcmp(name, section_kinds[i]) == 0)
			sec = (enum cfg_section)i;
	if (sec == SEC_NONE) {
		cfg_fail(p, "unknown section [%s]", name);
		return;
	}
	id = ms_xasprintf("[%s]", name);
	if (ms_strv_contains(&p->seen, id)) {
		free(id);
		cfg_fail(p, "duplicate section [%s]", name);
		return;
	}
	ms_strv_push_owned(&p->seen, id);
	p->section = sec;
}

/* Handles a line starting with '['. One without ']' is left to inih, which
 * reports it as malformed. */
static void section_header(struct cfg_parser *p, const char *line, size_t len)
{
	const char *close = memchr(line, ']', len);
	char *name;

	if (!close)
		return;
	name = ms_xstrndup(line + 1, (size_t)(close - line - 1));
	free(p->section_name);
	p->section_name = name;
	p->section = SEC_NONE;
	if (strcmp(name, "modosnap") == 0) {
		if (p->seen_modosnap) {
			cfg_fail(p, "duplicate section [modosnap]");
			return;
		}
		p->seen_modosnap = true;
		p->section = SEC_MODOSNAP;
	} else if (strncmp(name, "db:", 3) == 0) {
		enter_db(p, name + 3);
	} else if (strncmp(name, "remote:", 7) == 0) {
		enter_remote(p, name + 7);
	} else {
		enter_plain(p, name);
	}
}

/* --- lines ----------------------------------------------------------------- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* End of the useful part of [s, end): a comment line is empty, and an
 * inline comment (';' after a blank) is cut off. */
static const char *strip_comment(const char *s, const char *end)
{
	if (s < end && (*s == '#' || *s == ';'))
		return s;
	for (const char *c = s + 1; c < end; c++)
		if (*c == ';' && (c[-1] == ' ' || c[-1] == '\t'))
			return c;
	return end;
}

/* inih's fgets-like reader: hands over the next line, normalised (see the
 * top of this file), and stops the parse (NULL) after the first error. */
static char *cfg_reader(char *buf, int size, void *stream)
{
	struct cfg_parser *p = stream;
	const char *start = p->next, *eol, *end;
	size_t len;

	if (p->err || !*start)
		return NULL;
	p->line++;
	eol = strchr(start, '\n');
	p->next = eol ? eol + 1 : start + strlen(start);
	end = eol ? eol : p->next;
	if (p->line == 1 && strncmp(start, "\xef\xbb\xbf", 3) == 0)
		start += 3;
	while (start < end && is_blank(*start))
		start++;
	end = strip_comment(start, end);
	len = (size_t)(end - start);
	if (size < 4 || len > (size_t)size - 3) {
		cfg_fail(p, "line too long (limit %d characters)", size < 4 ? 0 : size - 3);
		return NULL;
	}
	memcpy(buf, start, len);
	buf[len] = '\n';
	buf[len + 1] = '\0';
	if (len && start[0] == '[')
		section_header(p, start, len);
	return buf;
}

/* --- loading --------------------------------------------------------------- */

/* inih returns the line of the first malformed line or failed key; the
 * parser holds the first error it found itself. Reports the earlier one. */
static int cfg_report(const struct cfg_parser *p, int rc)
{
	if (rc > 0 && (!p->err || rc < p->err_line))
		return ms_log_error("'%s':%d: malformed line", p->path, rc);
	if (p->err)
		return ms_log_error("'%s':%d: %s", p->path, p->err_line, p->err);
	if (rc < 0)
		return ms_log_error("'%s': unable to parse (inih error %d)", p->path, rc);
	return 0;
}

/* A NUL byte would silently end the text early. */
static int check_nul(const char *path, const char *text, size_t len)
{
	size_t at = strlen(text);
	int line = 1;

	if (at == len)
		return 0;
	for (size_t i = 0; i < at; i++)
		line += text[i] == '\n';
	return ms_log_error("'%s':%d: NUL byte in line", path, line);
}

struct ms_config *ms_config_new(void)
{
	struct ms_config *cfg = ms_xcalloc(1, sizeof(struct ms_config));

	cfg->min_free = -1;
	cfg->lock_timeout = -1;
	cfg->keep_last = cfg->keep_hourly = cfg->keep_daily = cfg->keep_weekly = -1;
	cfg->keep_monthly = cfg->keep_yearly = -1;
	cfg->keep_pre_upgrade = cfg->keep_apt = -1;
	cfg->keep_within = cfg->keep_safety = -1;
	cfg->capture_venv = cfg->mail_enabled = -1;
	cfg->encrypt_local = -1;
	return cfg;
}

/* After the whole file: every [remote:NAME] names its url (reported at
 * the section's line), and an encrypted destination ([encrypt] local =
 * yes) has a recipient. An encrypted remote without one is refused when
 * something is to be pushed to it (ms_offhost_check_recipients), not here:
 * a new machine lists, verifies and restores from it with a config that
 * holds no recipient yet. */
static void check_remotes(struct cfg_parser *p)
{
	if (p->cfg->encrypt_local > 0 && p->cfg->recipients.n == 0) {
		p->line = p->cfg->encrypt_local_line;
		cfg_fail(p, "[encrypt] local = yes but [encrypt] names no recipient: add recipient = age1... (a "
			    "public key), or set local = no");
	}
	for (size_t i = 0; i < p->cfg->n_remotes && !p->err; i++) {
		const struct ms_config_remote *r = &p->cfg->remotes[i];

		p->line = r->line;
		if (!r->url)
			cfg_fail(p, "section [remote:%s] has no url", r->name);
	}
}

struct ms_config *ms_config_load(const char *path)
{
	struct cfg_parser p = { 0 };
	struct ms_config *ret = NULL;
	struct stat st;
	size_t len = 0;
	char *text;
	int rc;

	text = ms_read_file(path, CFG_MAX_SIZE, &len);
	if (!text)
		return NULL;
	if (stat(path, &st) < 0) {
		ms_log_error("unable to stat '%s': %s", path, strerror(errno));
		goto out;
	}
	if (check_nul(path, text, len) < 0)
		goto out;
	p.path = path;
	p.mode = st.st_mode;
	p.cfg = ms_config_new();
	p.next = text;
	rc = ini_parse_stream(cfg_reader, &p, cfg_handler, &p);
	if (!p.err)
		check_remotes(&p);
	if (cfg_report(&p, rc) == 0) {
		ret = p.cfg;
		p.cfg = NULL;
		ret->path = ms_xstrdup(path);
	}
out:
	ms_config_free(p.cfg);
	free(p.section_name);
	free(p.err);
	ms_strv_clear(&p.seen);
	ms_secure_zero(text, len); /* may hold passwords */
	free(text);
	return ret;
}

const char *ms_config_key_name(const char *kind, size_t i)
{
	for (size_t k = 0; k < sizeof(cfg_keys) / sizeof(cfg_keys[0]); k++)
		if (section_kinds[cfg_keys[k].section] && strcmp(section_kinds[cfg_keys[k].section], kind) == 0 &&
		    i-- == 0)
			return cfg_keys[k].name;
	return NULL;
}

const struct ms_config_origin *ms_config_origin(const struct ms_config *cfg, const char *section, const char *key)
{
	const struct ms_config_origin *found = NULL;

	for (size_t i = 0; i < cfg->n_origins; i++)
		if (strcmp(cfg->origins[i].section, section) == 0 && strcmp(cfg->origins[i].key, key) == 0)
			found = &cfg->origins[i];
	return found;
}

const char *ms_config_signing_key(const struct ms_config *cfg)
{
	return cfg && cfg->signing_key ? cfg->signing_key : MS_DEFAULT_SIGNING_KEY;
}

const char *ms_config_trusted_keys(const struct ms_config *cfg)
{
	return cfg && cfg->trusted_keys ? cfg->trusted_keys : MS_DEFAULT_TRUSTED_KEYS;
}

const struct ms_config_db *ms_config_db(const struct ms_config *cfg, const char *alias)
{
	for (size_t i = 0; i < cfg->n_dbs; i++)
		if (strcmp(cfg->dbs[i].alias, alias) == 0)
			return &cfg->dbs[i];
	return NULL;
}

struct ms_db_admin ms_config_db_admin(const struct ms_config *cfg, const char *alias)
{
	const struct ms_config_db *c = ms_config_db(cfg, alias);

	return (struct ms_db_admin){ c ? c->admin_user : NULL, c ? c->admin_password : NULL };
}

static void db_clear(struct ms_config_db *db)
{
	free(db->alias);
	free(db->engine);
	free(db->name);
	free(db->user);
	free(db->host);
	free(db->port);
	ms_free_secret(db->password);
	free(db->password_file);
	free(db->admin_user);
	ms_free_secret(db->admin_password);
	free(db->admin_password_file);
}

void ms_config_free(struct ms_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_dbs; i++)
		db_clear(&cfg->dbs[i]);
	free(cfg->dbs);
	for (size_t i = 0; i < cfg->n_origins; i++) {
		free(cfg->origins[i].section);
		free(cfg->origins[i].key);
		free(cfg->origins[i].value);
	}
	free(cfg->origins);
	free(cfg->path);
	free(cfg->instance);
	free(cfg->postfix_dir);
	free(cfg->dest);
	free(cfg->venv);
	free(cfg->label);
	free(cfg->signing_key);
	free(cfg->trusted_keys);
	ms_strv_clear(&cfg->exclude);
	ms_strv_clear(&cfg->keep_tag);
	free(cfg->hook_before);
	free(cfg->hook_after);
	free(cfg->hook_on_error);
	free(cfg->hook_pause);
	free(cfg->hook_resume);
	free(cfg->system_root);
	ms_strv_clear(&cfg->components);
	free(cfg->dkim_dir);
	ms_strv_clear(&cfg->paths_include);
	ms_strv_clear(&cfg->paths_exclude);
	free(cfg->mail_dir);
	free(cfg->rclone_config);
	free(cfg->rclone);
	for (size_t i = 0; i < cfg->n_remotes; i++) {
		free(cfg->remotes[i].name);
		free(cfg->remotes[i].url);
	}
	free(cfg->remotes);
	ms_strv_clear(&cfg->recipients);
	free(cfg->ping_url);
	free(cfg->ping_kind);
	free(cfg);
}

const struct ms_config_remote *ms_config_remote(const struct ms_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_remotes; i++)
		if (strcmp(cfg->remotes[i].name, name) == 0)
			return &cfg->remotes[i];
	return NULL;
}
