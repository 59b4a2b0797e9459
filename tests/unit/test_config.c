/*
 * Unit tests for src/discover/config.c: every key, every error with the exact text
 * on stderr, the file mode rules for passwords, and the comment and line
 * syntax the reader accepts. Each case writes its files into a fresh
 * temporary directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "discover/config.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "testutil.h"

#define SECRET_INLINE "s3cr3t-inline"
#define SECRET_FILE "hunter2-file"

/* --- fixture: a temporary directory per test -------------------------------- */

/* Password files every case may refer to as @D@/NAME. */
static void make_password_files(const char *dir)
{
	static const struct { const char *name; const char *text; mode_t mode; } files[] = {
		{ "pw600", SECRET_FILE "\n", 0600 },
		{ "pw640", SECRET_FILE "\n", 0640 },
		{ "pw644", SECRET_FILE "\n", 0644 },
		{ "pw602", SECRET_FILE "\n", 0602 },
		{ "pwcrlf", SECRET_FILE "\r\n", 0600 },
		{ "pwbare", SECRET_FILE, 0600 },
		{ "pwtwo", SECRET_FILE "\n\n", 0600 },
		{ "pwempty", "", 0600 },
		{ "pwnl", "\n", 0600 },
	};
	char *path;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		path = ms_path_join(dir, files[i].name);
		test_write_file(path, files[i].text, strlen(files[i].text), files[i].mode);
		free(path);
	}
	path = ms_path_join(dir, "pwdir");
	assert_int_equal(mkdir(path, 0700), 0);
	free(path);
}

/* test_fixture_setup, plus the password files every case may name. */
static int fx_setup(void **state)
{
	test_fixture_setup(state);
	make_password_files(((struct test_fixture *)*state)->dir);
	return 0;
}


/* --- helpers ---------------------------------------------------------------- */

/* Writes the config text (after subst) as <dir>/modosnap.conf with `mode`. */
static char *write_config(const struct test_fixture *fx, const char *text, mode_t mode)
{
	char *path = ms_path_join(fx->dir, "modosnap.conf");
	char *body = test_subst(text, fx->dir, path);

	test_write_file(path, body, strlen(body), mode);
	free(body);
	return path;
}

/* Loads the config, expecting success and nothing on stderr. */
static struct ms_config *load_ok(const char *path)
{
	struct ms_config *cfg;
	char *err;

	capture_start();
	cfg = ms_config_load(path);
	err = capture_end();
	assert_string_equal(err, "");
	free(err);
	assert_non_null(cfg);
	return cfg;
}

/* --- errors ----------------------------------------------------------------- */

struct err_case {
	const char *name;
	const char *text;   /* config file: @D@ is the temporary directory */
	mode_t mode;
	const char *expect; /* stderr after "modosnap: error: '<config>'" */
};

static const struct err_case err_cases[] = {
	{ "unknown key in [modosnap]", "[modosnap]\ndest = /b\nfoo = 1\n", 0600,
	  ":3: unknown key 'foo' in section [modosnap]" },
	{ "unknown key in [db:x]", "[db:default]\nengine = mysql\ndatabase = m\n", 0600,
	  ":3: unknown key 'database' in section [db:default]" },
	{ "db key in [modosnap]", "[modosnap]\nport = 5432\n", 0600,
	  ":2: unknown key 'port' in section [modosnap]" },
	{ "keys are case-sensitive", "[modosnap]\nDest = /b\n", 0600,
	  ":2: unknown key 'Dest' in section [modosnap]" },
	{ "unknown section", "# header\n[bar]\n", 0600, ":2: unknown section [bar]" },
	{ "unknown section without db: prefix", "[default]\nengine = mysql\n", 0600,
	  ":1: unknown section [default]" },
	{ "section names are case-sensitive", "[Modosnap]\n", 0600, ":1: unknown section [Modosnap]" },
	{ "duplicate key", "[modosnap]\ndest = /a\nlabel = x\ndest = /b\n", 0600,
	  ":4: duplicate key 'dest'" },
	{ "duplicate key in db", "[db:a]\nport = 1\n[db:b]\nport = 2\nport = 3\n", 0600,
	  ":5: duplicate key 'port'" },
	{ "duplicate password", "[db:a]\npassword = " SECRET_INLINE "\npassword = x\n", 0600,
	  ":3: duplicate key 'password'" },
	{ "duplicate [db:x]", "[db:a]\nname = m\n[db:b]\n[db:a]\n", 0600, ":4: duplicate section [db:a]" },
	{ "duplicate [db:x] without keys", "[db:a]\n[db:a]\n", 0600, ":2: duplicate section [db:a]" },
	{ "duplicate [modosnap]", "[modosnap]\ndest = /a\n[modosnap]\n", 0600,
	  ":3: duplicate section [modosnap]" },
	{ "keep count not a number", "[retention]\nkeep_daily = x\n", 0600,
	  ":2: invalid keep_daily 'x' (expected a number of snapshots)" },
	{ "keep count negative", "[retention]\nkeep_last = -1\n", 0600,
	  ":2: invalid keep_last '-1' (expected a number of snapshots)" },
	{ "keep_apt not a number", "[retention]\nkeep_apt = three\n", 0600,
	  ":2: invalid keep_apt 'three' (expected a number of snapshots)" },
	{ "keep_safety without a unit", "[retention]\nkeep_safety = 7\n", 0600,
	  ":2: invalid keep_safety '7' (expected a duration such as 7d, 12h or 30m, or 0)" },
	{ "keep_safety unknown unit", "[retention]\nkeep_safety = 7y\n", 0600,
	  ":2: invalid keep_safety '7y' (expected a duration such as 7d, 12h or 30m, or 0)" },
	{ "keep_safety negative", "[retention]\nkeep_safety = -1d\n", 0600,
	  ":2: invalid keep_safety '-1d' (expected a duration such as 7d, 12h or 30m, or 0)" },
	{ "keep_safety unit alone", "[retention]\nkeep_safety = d\n", 0600,
	  ":2: invalid keep_safety 'd' (expected a duration such as 7d, 12h or 30m, or 0)" },
	{ "keep_safety over 100 years", "[retention]\nkeep_safety = 36501d\n", 0600,
	  ":2: invalid keep_safety '36501d' (expected a duration such as 7d, 12h or 30m, or 0)" },
	{ "keep_safety empty", "[retention]\nkeep_safety =\n", 0600,
	  ":2: invalid keep_safety '' (expected a duration such as 7d, 12h or 30m, or 0)" },
	{ "keep_within without a unit", "[retention]\nkeep_within = 3600\n", 0600,
	  ":2: invalid keep_within '3600' (expected a duration such as 7d, 12h or 30m, or 0)" },
	{ "keep_hourly not a count", "[retention]\nkeep_hourly = -1\n", 0600,
	  ":2: invalid keep_hourly '-1' (expected a number of snapshots)" },
	{ "keep_yearly too many", "[retention]\nkeep_yearly = 1000001\n", 0600,
	  ":2: invalid keep_yearly '1000001' (expected a number of snapshots)" },
	{ "min_free bad suffix", "[modosnap]\nmin_free = 5X\n", 0600,
	  ":2: invalid min_free '5X' (expected bytes, optionally with K, M, G or T)" },
	{ "lock_timeout zero", "[modosnap]\nlock_timeout = 0\n", 0600,
	  ":2: invalid lock_timeout '0' (expected seconds, 1 to 86400)" },
	{ "lock_timeout not a number", "[modosnap]\nlock_timeout = 1m\n", 0600,
	  ":2: invalid lock_timeout '1m' (expected seconds, 1 to 86400)" },
	{ "empty hook", "[hooks]\nbefore =\n", 0600, ":2: hook 'before' needs a command" },
	{ "unknown hook", "[hooks]\nduring = true\n", 0600, ":2: unknown key 'during' in section [hooks]" },
	{ "duplicate [hooks]", "[hooks]\nafter = true\n[hooks]\n", 0600, ":3: duplicate section [hooks]" },
	{ "duplicate [retention]", "[retention]\n[retention]\n", 0600, ":2: duplicate section [retention]" },
	{ "port not a number", "[db:default]\nport = x\n", 0600,
	  ":2: invalid port 'x' (expected 1-65535)" },
	{ "port 0", "[db:default]\nport = 0\n", 0600, ":2: invalid port '0' (expected 1-65535)" },
	{ "port 65536", "[db:default]\nport = 65536\n", 0600,
	  ":2: invalid port '65536' (expected 1-65535)" },
	{ "port negative", "[db:default]\nport = -1\n", 0600,
	  ":2: invalid port '-1' (expected 1-65535)" },
	{ "port empty", "[db:default]\nport =\n", 0600, ":2: invalid port '' (expected 1-65535)" },
	{ "port with sign", "[db:default]\nport = +5432\n", 0600,
	  ":2: invalid port '+5432' (expected 1-65535)" },
	{ "engine oracle", "[db:default]\nengine = oracle\n", 0600,
	  ":2: invalid engine 'oracle' (expected postgresql or mysql)" },
	{ "engine is Django's name", "[db:default]\nengine = django.db.backends.mysql\n", 0600,
	  ":2: invalid engine 'django.db.backends.mysql' (expected postgresql or mysql)" },
	{ "engine case", "[db:default]\nengine = PostgreSQL\n", 0600,
	  ":2: invalid engine 'PostgreSQL' (expected postgresql or mysql)" },
	{ "password then password_file", "[db:default]\npassword = " SECRET_INLINE
	  "\npassword_file = @D@/pw600\n", 0600,
	  ":3: both password and password_file are set for [db:default]" },
	{ "password_file then password", "[db:default]\npassword_file = @D@/pw600\npassword = "
	  SECRET_INLINE "\n", 0600, ":3: both password and password_file are set for [db:default]" },
	{ "malformed line", "[modosnap]\ndest = /a\njunk\n", 0600, ":3: malformed line" },
	{ "unterminated section", "[modosnap\ndest = /a\n", 0600, ":1: malformed line" },
	{ "continuation line", "[modosnap]\ndest = /a\n    /b\n", 0600, ":3: malformed line" },
	{ "malformed before handler error", "[modosnap]\njunk\nfoo = 1\n", 0600, ":2: malformed line" },
	{ "handler error before malformed", "[modosnap]\nfoo = 1\njunk\n", 0600,
	  ":2: unknown key 'foo' in section [modosnap]" },
	{ "malformed before section error", "junk\n[bar]\n", 0600, ":1: malformed line" },
	{ "first of two key errors", "[modosnap]\nfoo = 1\nbar = 2\n", 0600,
	  ":2: unknown key 'foo' in section [modosnap]" },
	{ "empty alias", "[db:]\nname = x\n", 0600, ":1: empty alias in section [db:]" },
	{ "alias with a blank", "[db: default]\n", 0600,
	  ":1: invalid alias ' default' in section [db: default] (expected letters, digits, '_' or '-')" },
	{ "key outside any section", "# c\ndest = /a\n[modosnap]\n", 0600,
	  ":2: key 'dest' outside any section" },
	{ "key after an unknown section is not reached", "[bar]\nfoo = 1\n", 0600,
	  ":1: unknown section [bar]" },
	{ "relative instance", "[modosnap]\ninstance = srv/modoboa/instance\n", 0600,
	  ":2: instance must be an absolute path: 'srv/modoboa/instance'" },
	{ "relative postfix_dir", "[modosnap]\npostfix_dir = etc/postfix\n", 0600,
	  ":2: postfix_dir must be an absolute path: 'etc/postfix'" },
	{ "relative dest", "[modosnap]\ndest = ./backups\n", 0600,
	  ":2: dest must be an absolute path: './backups'" },
	{ "relative venv", "[modosnap]\nvenv = ~/env\n", 0600,
	  ":2: venv must be an absolute path: '~/env'" },
	{ "empty dest", "[modosnap]\ndest =\n", 0600, ":2: dest must be an absolute path: ''" },
	{ "relative signing_key", "[modosnap]\nsigning_key = keys/signing.key\n", 0600,
	  ":2: signing_key must be an absolute path: 'keys/signing.key'" },
	{ "relative trusted_keys", "[modosnap]\ntrusted_keys = trusted_keys\n", 0600,
	  ":2: trusted_keys must be an absolute path: 'trusted_keys'" },
	{ "duplicate signing_key", "[modosnap]\nsigning_key = /a\nsigning_key = /b\n", 0600,
	  ":3: duplicate key 'signing_key'" },
	{ "signing_key in [db:x]", "[db:default]\nsigning_key = /a\n", 0600,
	  ":2: unknown key 'signing_key' in section [db:default]" },
	{ "relative password_file", "[db:default]\npassword_file = default.pass\n", 0600,
	  ":2: password_file must be an absolute path: 'default.pass'" },
	{ "password in a 0644 config", "[db:default]\nuser = m\npassword = " SECRET_INLINE "\n", 0644,
	  ":3: password set in a file readable or writable by other users (mode 0644); "
	  "chmod 600 '@F@' or use password_file" },
	{ "password in a 0604 config", "[db:default]\npassword = " SECRET_INLINE "\n", 0604,
	  ":2: password set in a file readable or writable by other users (mode 0604); "
	  "chmod 600 '@F@' or use password_file" },
	{ "password in a 0602 config", "[db:default]\npassword = " SECRET_INLINE "\n", 0602,
	  ":2: password set in a file readable or writable by other users (mode 0602); "
	  "chmod 600 '@F@' or use password_file" },
	{ "password_file 0644", "[db:default]\npassword_file = @D@/pw644\n", 0600,
	  ":2: password file '@D@/pw644' is readable or writable by other users (mode 0644); "
	  "chmod 600 '@D@/pw644'" },
	{ "password_file 0602", "[db:default]\npassword_file = @D@/pw602\n", 0600,
	  ":2: password file '@D@/pw602' is readable or writable by other users (mode 0602); "
	  "chmod 600 '@D@/pw602'" },
	{ "password_file missing", "[db:default]\npassword_file = @D@/nope\n", 0600,
	  ":2: unable to open password file '@D@/nope': No such file or directory" },
	{ "password_file a directory", "[db:default]\npassword_file = @D@/pwdir\n", 0600,
	  ":2: password file '@D@/pwdir' is not a regular file" },
	{ "password_file empty", "[db:default]\npassword_file = @D@/pwempty\n", 0600,
	  ":2: password file '@D@/pwempty' is empty" },
	{ "password_file only a newline", "[db:default]\npassword_file = @D@/pwnl\n", 0600,
	  ":2: password file '@D@/pwnl' is empty" },
	{ "capture_venv not yes or no", "[modosnap]\ncapture_venv = true\n", 0600,
	  ":2: invalid capture_venv 'true' (expected yes or no)" },
	{ "mail enabled not yes or no", "[mail]\nenabled = Yes\n", 0600,
	  ":2: invalid enabled 'Yes' (expected yes or no)" },
	{ "unknown component", "[modosnap]\ncomponents = instance, mailbox\n", 0600,
	  ":2: invalid component 'mailbox' in components (expected instance, postfix, db, db:ALIAS, venv, "
	  "dkim, system or mail)" },
	{ "component db: without alias", "[modosnap]\ncomponents = db:\n", 0600,
	  ":2: invalid component 'db:' in components (expected instance, postfix, db, db:ALIAS, venv, "
	  "dkim, system or mail)" },
	{ "components empty", "[modosnap]\ncomponents = ,\n", 0600,
	  ":2: components needs at least one component" },
	{ "duplicate components", "[modosnap]\ncomponents = db\ncomponents = mail\n", 0600,
	  ":3: duplicate key 'components'" },
	{ "relative system_root", "[modosnap]\nsystem_root = mnt/old\n", 0600,
	  ":2: system_root must be an absolute path: 'mnt/old'" },
	{ "relative dkim_dir", "[modosnap]\ndkim_dir = dkim\n", 0600,
	  ":2: dkim_dir must be an absolute path: 'dkim'" },
	{ "relative include", "[paths]\ninclude = etc/x\n", 0600,
	  ":2: include must be an absolute path: 'etc/x'" },
	{ "include /", "[paths]\ninclude = //\n", 0600,
	  ":2: include must name a file or directory below '/': '//'" },
	{ "empty exclude", "[paths]\nexclude =\n", 0600, ":2: exclude must be an absolute path: ''" },
	{ "include in [modosnap]", "[modosnap]\ninclude = /etc/x\n", 0600,
	  ":2: unknown key 'include' in section [modosnap]" },
	{ "relative mail dir", "[mail]\ndir = vmail\n", 0600, ":2: dir must be an absolute path: 'vmail'" },
	{ "unknown key in [mail]", "[mail]\nlayout = %d/%n\n", 0600, ":2: unknown key 'layout' in section [mail]" },
	{ "duplicate [paths]", "[paths]\ninclude = /a\n[paths]\n", 0600, ":3: duplicate section [paths]" },
	{ "duplicate [mail]", "[mail]\n[mail]\n", 0600, ":2: duplicate section [mail]" },
	{ "remote without url", "[remote:off]\npush = never\n", 0600, ":1: section [remote:off] has no url" },
	{ "remote url relative", "[remote:off]\nurl = bucket/x\n", 0600,
	  ":2: invalid url 'bucket/x' (expected rclone's REMOTE:PATH, e.g. s3remote:bucket/modosnap, or an "
	  "absolute path)" },
	{ "remote url an option", "[remote:off]\nurl = --config=x:y\n", 0600,
	  ":2: invalid url '--config=x:y' (expected rclone's REMOTE:PATH, e.g. s3remote:bucket/modosnap, or an "
	  "absolute path)" },
	{ "remote push word", "[remote:off]\nurl = s3:b\npush = daily\n", 0600,
	  ":3: invalid push 'daily' (expected always, nightly, pre-upgrade or never)" },
	{ "remote bad name", "[remote:o ff]\n", 0600,
	  ":1: invalid remote name 'o ff' in section [remote:o ff] (expected letters, digits, '_' or '-')" },
	{ "duplicate remote", "[remote:off]\nurl = s3:b\nencrypt = no\n[remote:off]\n", 0600,
	  ":4: duplicate section [remote:off]" },
	{ "encrypted destination without recipient", "[encrypt]\nlocal = yes\n", 0600,
	  ":2: [encrypt] local = yes but [encrypt] names no recipient: add recipient = age1... (a public key), or "
	  "set local = no" },
	{ "identity as recipient", "[encrypt]\nrecipient = AGE-SECRET-KEY-1QQQ\n", 0600,
	  ":2: recipient is a private key (an identity): the server keeps only public keys (age1...); keep the "
	  "identity off this machine" },
	{ "recipient malformed", "[encrypt]\nrecipient = age1xyz\n", 0600,
	  ":2: invalid recipient 'age1xyz' (expected an age public key: age1 and 58 characters, as age-keygen "
	  "prints it)" },
	{ "recipient twice", "[encrypt]\nrecipient = age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\nrecipient = age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n", 0600,
	  ":3: duplicate recipient 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p'" },
	{ "ping_url not http", "[monitor]\nping_url = ftp://x\n", 0600,
	  ":2: invalid ping_url (expected an http:// or https:// URL)" },
	{ "monitor kind", "[monitor]\nping_url = https://x/y\nkind = slack\n", 0600,
	  ":3: invalid kind 'slack' (expected healthchecks, uptime-kuma or ntfy)" },
	{ "line too long", "[modosnap]\nlabel = "
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", 0600, ":2: line too long (limit 197 characters)" },
};

static void test_error(void **state)
{
	const struct test_fixture *fx = *state;
	const struct err_case *c = fx->row;
	char *path = write_config(fx, c->text, c->mode);
	char *tail = test_subst(c->expect, fx->dir, path);
	char *expect = ms_xasprintf("modosnap: error: '%s'%s\n", path, tail);
	struct ms_config *cfg;
	char *err;

	capture_start();
	cfg = ms_config_load(path);
	err = capture_end();
	assert_null(cfg);
	assert_string_equal(err, expect);
	assert_null(strstr(err, SECRET_INLINE));
	assert_null(strstr(err, SECRET_FILE));
	free(err);
	free(expect);
	free(tail);
	free(path);
}

/* --- values ----------------------------------------------------------------- */

struct val_case {
	const char *name;
	const char *text;   /* config file: @D@ is the temporary directory */
	mode_t mode;
	const char *alias;  /* NULL: a field of struct ms_config */
	size_t offset;      /* of the char * field checked */
	const char *expect; /* NULL: the field is unset; @D@ substituted */
};

#define TOP(f) NULL, offsetof(struct ms_config, f)
#define DB(a, f) a, offsetof(struct ms_config_db, f)

static const struct val_case val_cases[] = {
	{ "instance", "[modosnap]\ninstance = /srv/modoboa/instance\n", 0644, TOP(instance),
	  "/srv/modoboa/instance" },
	{ "postfix_dir", "[modosnap]\npostfix_dir = /etc/postfix\n", 0644, TOP(postfix_dir),
	  "/etc/postfix" },
	{ "dest", "[modosnap]\ndest = /var/backups/modosnap\n", 0644, TOP(dest), "/var/backups/modosnap" },
	{ "venv", "[modosnap]\nvenv = /srv/modoboa/env\n", 0644, TOP(venv), "/srv/modoboa/env" },
	{ "label", "[modosnap]\nlabel = mail1\n", 0644, TOP(label), "mail1" },
	{ "signing_key", "[modosnap]\nsigning_key = @D@/keys/signing.key\n", 0644, TOP(signing_key),
	  "@D@/keys/signing.key" },
	{ "trusted_keys", "[modosnap]\ntrusted_keys = /etc/modosnap/trusted_keys\n", 0644, TOP(trusted_keys),
	  "/etc/modosnap/trusted_keys" },
	{ "signing_key unset", "[modosnap]\nlabel = mail1\n", 0644, TOP(signing_key), NULL },
	{ "unset key", "[modosnap]\nlabel = mail1\n", 0644, TOP(dest), NULL },
	{ "engine postgresql", "[db:default]\nengine = postgresql\n", 0644, DB("default", engine),
	  "postgresql" },
	{ "engine mysql", "[db:amavis]\nengine = mysql\n", 0644, DB("amavis", engine), "mysql" },
	{ "name", "[db:default]\nname = modoboa\n", 0644, DB("default", name), "modoboa" },
	{ "user", "[db:default]\nuser = modoboa\n", 0644, DB("default", user), "modoboa" },
	{ "host", "[db:default]\nhost = /run/postgresql\n", 0644, DB("default", host), "/run/postgresql" },
	{ "empty host", "[db:default]\nhost =\n", 0644, DB("default", host), "" },
	{ "port", "[db:default]\nport = 5432\n", 0644, DB("default", port), "5432" },
	{ "port bounds", "[db:a]\nport = 1\n[db:b]\nport = 65535\n", 0644, DB("b", port), "65535" },
	{ "port leading zero", "[db:default]\nport = 05432\n", 0644, DB("default", port), "5432" },
	{ "password in a 0600 config", "[db:default]\npassword = " SECRET_INLINE "\n", 0600,
	  DB("default", password), SECRET_INLINE },
	{ "password in a 0640 config", "[db:default]\npassword = " SECRET_INLINE "\n", 0640,
	  DB("default", password), SECRET_INLINE },
	{ "password_file path", "[db:default]\npassword_file = @D@/pw600\n", 0644,
	  DB("default", password_file), "@D@/pw600" },
	{ "password_file newline stripped", "[db:default]\npassword_file = @D@/pw600\n", 0644,
	  DB("default", password), SECRET_FILE },
	{ "password_file 0640", "[db:default]\npassword_file = @D@/pw640\n", 0644,
	  DB("default", password), SECRET_FILE },
	{ "password_file CRLF stripped", "[db:default]\npassword_file = @D@/pwcrlf\n", 0644,
	  DB("default", password), SECRET_FILE },
	{ "password_file without newline", "[db:default]\npassword_file = @D@/pwbare\n", 0644,
	  DB("default", password), SECRET_FILE },
	{ "password_file: only one newline stripped", "[db:default]\npassword_file = @D@/pwtwo\n",
	  0644, DB("default", password), SECRET_FILE "\n" },
	{ "inline ; comment", "[db:default]\nport = 5432 ; local socket\n", 0644, DB("default", port),
	  "5432" },
	{ "inline ; comment after a tab", "[modosnap]\nlabel = a\t;comment\n", 0644, TOP(label), "a" },
	{ "; without a blank is data", "[db:default]\npassword = a;b;c\n", 0600,
	  DB("default", password), "a;b;c" },
	{ "inline # is data", "[modosnap]\nlabel = x # y\n", 0644, TOP(label), "x # y" },
	{ "comment after a section header", "[db:default] ; the main one\nname = m\n", 0644,
	  DB("default", name), "m" },
	{ "# and ; comment lines", "# top\n; also\n[modosnap]\n  # indented\nlabel = m\n", 0644,
	  TOP(label), "m" },
	{ "indented keys", "[modosnap]\n  dest = /a\n\tlabel = l\n", 0644, TOP(label), "l" },
	{ "indented section", "  [modosnap]\n  dest = /a\n", 0644, TOP(dest), "/a" },
	{ "key: value", "[modosnap]\nlabel: m2\n", 0644, TOP(label), "m2" },
	{ "blanks around = dropped", "[modosnap]\nlabel\t=   m3   \n", 0644, TOP(label), "m3" },
	{ "CRLF line ends", "[modosnap]\r\ndest = /a\r\nlabel = crlf\r\n", 0644, TOP(label), "crlf" },
	{ "UTF-8 BOM", "\xef\xbb\xbf[modosnap]\nlabel = bom\n", 0644, TOP(label), "bom" },
	{ "no final newline", "[modosnap]\nlabel = last", 0644, TOP(label), "last" },
	{ "= inside a value", "[db:default]\npassword = a=b\n", 0600, DB("default", password), "a=b" },
	{ "alias with _ and -", "[db:my_db-2]\nname = x\n", 0644, DB("my_db-2", name), "x" },
	{ "long line under the limit", "[modosnap]\nlabel = "
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxx ; a long comment does not count\n", 0644, TOP(label),
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxx" },
};

static void test_value(void **state)
{
	const struct test_fixture *fx = *state;
	const struct val_case *c = fx->row;
	char *path = write_config(fx, c->text, c->mode);
	struct ms_config *cfg = load_ok(path);
	const char *base = (const char *)cfg;
	const char *got;

	if (c->alias) {
		base = (const char *)ms_config_db(cfg, c->alias);
		assert_non_null(base);
	}
	got = *(char *const *)(base + c->offset);
	if (c->expect) {
		char *expect = test_subst(c->expect, fx->dir, path);

		assert_non_null(got);
		assert_string_equal(got, expect);
		free(expect);
	} else {
		assert_null(got);
	}
	assert_string_equal(cfg->path, path);
	ms_config_free(cfg);
	free(path);
}

/* --- whole files and edge cases --------------------------------------------- */

static void test_full_example(void **state)
{
	const struct test_fixture *fx = *state;
	char *path = write_config(fx,
		"; modosnap configuration\n"
		"[modosnap]\n"
		"instance = /srv/modoboa/instance\n"
		"postfix_dir = /etc/postfix\n"
		"dest = /var/backups/modosnap\n"
		"venv = /srv/modoboa/env\n"
		"label = mail1\n"
		"\n"
		"[db:default]            ; one section per DATABASES alias\n"
		"engine = postgresql     ; postgresql | mysql\n"
		"name = modoboa\n"
		"user = modoboa\n"
		"host = /run/postgresql  ; host name, IP, or socket dir/path\n"
		"port = 5432\n"
		"password_file = @D@/pw600   ; or: password = ...\n"
		"\n"
		"[db:amavis]\n"
		"engine = mysql\n"
		"name = amavis\n", 0644);
	struct ms_config *cfg = load_ok(path);
	const struct ms_config_db *db;
	char *pwfile = ms_path_join(fx->dir, "pw600");

	assert_string_equal(cfg->instance, "/srv/modoboa/instance");
	assert_string_equal(cfg->postfix_dir, "/etc/postfix");
	assert_string_equal(cfg->dest, "/var/backups/modosnap");
	assert_string_equal(cfg->venv, "/srv/modoboa/env");
	assert_string_equal(cfg->label, "mail1");
	assert_int_equal(cfg->n_dbs, 2);
	db = ms_config_db(cfg, "default");
	assert_non_null(db);
	assert_string_equal(db->alias, "default");
	assert_string_equal(db->engine, "postgresql");
	assert_string_equal(db->name, "modoboa");
	assert_string_equal(db->user, "modoboa");
	assert_string_equal(db->host, "/run/postgresql");
	assert_string_equal(db->port, "5432");
	assert_string_equal(db->password, SECRET_FILE);
	assert_string_equal(db->password_file, pwfile);
	assert_int_equal(db->line, 9);
	db = ms_config_db(cfg, "amavis");
	assert_non_null(db);
	assert_string_equal(db->engine, "mysql");
	assert_null(db->user);
	assert_null(db->host);
	assert_null(db->port);
	assert_null(db->password);
	assert_null(db->password_file);
	assert_int_equal(db->line, 17);
	assert_ptr_equal(&cfg->dbs[1], db);
	assert_null(ms_config_db(cfg, "Default"));
	assert_null(ms_config_db(cfg, "other"));
	ms_config_free(cfg);
	free(pwfile);
	free(path);
}

/* [retention], [hooks] and min_free land in their fields; unset ones stay -1/NULL. */
static void test_routine_keys(void **state)
{
	const struct test_fixture *fx = *state;
	char *path = write_config(fx,
		"[modosnap]\nmin_free = 2G\nlock_timeout = 5\n"
		"[retention]\nkeep_last = 7\nkeep_monthly = 0\nkeep_tag = release\nkeep_tag = keep-me\n"
		"keep_apt = 5\nkeep_safety = 12h\nkeep_hourly = 24\nkeep_yearly = 3\nkeep_within = 2d\n"
		"[hooks]\nbefore = systemctl is-active postfix\nresume = systemctl start amavis\n", 0600);
	struct ms_config *cfg = ms_config_load(path);

	assert_non_null(cfg);
	assert_int_equal(cfg->min_free, 2LL << 30);
	assert_int_equal(cfg->lock_timeout, 5);
	assert_int_equal(cfg->keep_last, 7);
	assert_int_equal(cfg->keep_monthly, 0);
	assert_int_equal(cfg->keep_daily, -1);
	assert_int_equal(cfg->keep_pre_upgrade, -1);
	assert_int_equal(cfg->keep_apt, 5);
	assert_int_equal(cfg->keep_safety, 12 * 3600);
	assert_int_equal(cfg->keep_hourly, 24);
	assert_int_equal(cfg->keep_yearly, 3);
	assert_int_equal(cfg->keep_within, 2 * 86400);
	assert_int_equal(cfg->keep_tag.n, 2);
	assert_string_equal(cfg->keep_tag.v[1], "keep-me");
	assert_string_equal(cfg->hook_before, "systemctl is-active postfix");
	assert_string_equal(cfg->hook_resume, "systemctl start amavis");
	assert_null(cfg->hook_after);
	ms_config_free(cfg);
	cfg = ms_config_new();
	assert_int_equal(cfg->min_free, -1);
	assert_int_equal(cfg->lock_timeout, -1);
	assert_int_equal(cfg->keep_weekly, -1);
	assert_int_equal(cfg->keep_apt, -1);
	assert_int_equal(cfg->keep_safety, -1);
	assert_int_equal(cfg->keep_hourly, -1);
	assert_int_equal(cfg->keep_yearly, -1);
	assert_int_equal(cfg->keep_within, -1);
	ms_config_free(cfg);
	free(path);
}

/* The keys of issue 13's components: [modosnap] system_root, capture_venv,
 * components and dkim_dir, [paths] and [mail]; unset ones stay -1/NULL/empty. */
static void test_component_keys(void **state)
{
	const struct test_fixture *fx = *state;
	char *path = write_config(fx,
		"[modosnap]\nsystem_root = /mnt/old\ncapture_venv = yes\n"
		"components = instance,postfix db:default\tdkim, system db:default\ndkim_dir = /var/lib/dkim\n"
		"[paths]\ninclude = /etc/fail2ban/jail.local\ninclude = /opt/tools/\nexclude = /etc/cron.d/modoboa\n"
		"[mail]\ndir = /srv/vmail\nenabled = no\n", 0600);
	struct ms_config *cfg = load_ok(path);
	static const char *const components[] = { "instance", "postfix", "db:default", "dkim", "system" };

	assert_string_equal(cfg->system_root, "/mnt/old");
	assert_int_equal(cfg->capture_venv, 1);
	assert_int_equal(cfg->components.n, 5);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(cfg->components.v[i], components[i]);
	assert_string_equal(cfg->dkim_dir, "/var/lib/dkim");
	assert_int_equal(cfg->paths_include.n, 2);
	assert_string_equal(cfg->paths_include.v[0], "/etc/fail2ban/jail.local");
	assert_string_equal(cfg->paths_include.v[1], "/opt/tools");
	assert_int_equal(cfg->paths_exclude.n, 1);
	assert_string_equal(cfg->paths_exclude.v[0], "/etc/cron.d/modoboa");
	assert_string_equal(cfg->mail_dir, "/srv/vmail");
	assert_int_equal(cfg->mail_enabled, 0);
	assert_string_equal(ms_config_origin(cfg, "paths", "include")->value, "/opt/tools/");
	assert_int_equal(ms_config_origin(cfg, "mail", "enabled")->line, 12);
	assert_string_equal(ms_config_key_name("paths", 1), "exclude");
	assert_null(ms_config_key_name("paths", 2));
	assert_string_equal(ms_config_key_name("mail", 0), "dir");
	assert_true(ms_config_component_valid("db:amavis"));
	assert_false(ms_config_component_valid("mail:alice@example.org"));
	ms_config_free(cfg);
	cfg = ms_config_new();
	assert_null(cfg->system_root);
	assert_int_equal(cfg->capture_venv, -1);
	assert_int_equal(cfg->mail_enabled, -1);
	assert_int_equal(cfg->components.n, 0);
	ms_config_free(cfg);
	free(path);
}

/* Issue 14's sections: [remote], [remote:NAME], [encrypt], [monitor]. */
static void test_offhost_keys(void **state)
{
	const struct test_fixture *fx = *state;
	char *path = write_config(fx,
		"[remote]\nrclone_config = /etc/modosnap/rclone.conf\n"
		"[remote:offsite]\nurl = s3remote:bucket/modosnap/\npush = nightly\n"
		"[remote:disk]\nurl = /mnt/usb/modosnap\nencrypt = no\npush = pre-upgrade\n"
		"[encrypt]\nrecipient = age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n"
		"[monitor]\nping_url = https://hc-ping.com/abc\nkind = healthchecks\n", 0600);
	struct ms_config *cfg = load_ok(path);
	const struct ms_config_remote *r;

	assert_string_equal(cfg->rclone_config, "/etc/modosnap/rclone.conf");
	assert_null(cfg->rclone);
	assert_int_equal(cfg->n_remotes, 2);
	r = ms_config_remote(cfg, "offsite");
	assert_non_null(r);
	assert_string_equal(r->url, "s3remote:bucket/modosnap");
	assert_int_equal(r->push, MS_PUSH_NIGHTLY);
	assert_int_equal(r->encrypt, -1);
	r = ms_config_remote(cfg, "disk");
	assert_string_equal(r->url, "/mnt/usb/modosnap");
	assert_int_equal(r->push, MS_PUSH_PRE_UPGRADE);
	assert_int_equal(r->encrypt, 0);
	assert_null(ms_config_remote(cfg, "none"));
	assert_int_equal(cfg->recipients.n, 1);
	assert_string_equal(cfg->ping_url, "https://hc-ping.com/abc");
	assert_string_equal(cfg->ping_kind, "healthchecks");
	assert_int_equal(ms_config_origin(cfg, "remote:disk", "push")->line, 9);
	assert_string_equal(ms_config_key_name("remote:NAME", 0), "url");
	assert_string_equal(ms_config_key_name("monitor", 1), "kind");
	ms_config_free(cfg);
	free(path);
}

/* keep_safety's durations: a unit is required except for 0 (off). */
static void test_durations(void **state)
{
	static const struct { const char *text; long secs; } ok[] = {
		{ "0", 0 }, { "7d", 7 * 86400 }, { "12h", 12 * 3600 }, { "30m", 1800 }, { "90s", 90 },
		{ "2w", 14 * 86400 }, { "0d", 0 }, { "36500d", 36500L * 86400 },
	};
	static const char *const bad[] = { "", "7", "d", "7x", "7 d", "+7d", "-7d", "7dd", "1.5d", "36501d", "00" };

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		long secs = -1;

		assert_int_equal(ms_config_parse_duration(ok[i].text, &secs), 0);
		assert_int_equal(secs, ok[i].secs);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		long secs = 42;

		if (ms_config_parse_duration(bad[i], &secs) == 0 || secs != 42)
			fail_msg("'%s' accepted", bad[i]);
	}
}

/* The one duration parser under both: the command line's flags take bare
 * seconds and refuse 0; MS_DURATION_BARE | MS_DURATION_ZERO takes both. */
static void test_duration_flags(void **state)
{
	static const struct { const char *text; unsigned flags; long secs; } cases[] = {
		{ "90", MS_DURATION_BARE, 90 },
		{ "15m", MS_DURATION_BARE, 900 },
		{ "1w", MS_DURATION_BARE, 604800 },
		{ "0", MS_DURATION_BARE, -1 },
		{ "0s", MS_DURATION_BARE, -1 },
		{ "s", MS_DURATION_BARE, -1 },
		{ "", MS_DURATION_BARE, -1 },
		{ "1x", MS_DURATION_BARE, -1 },
		{ "5ms", MS_DURATION_BARE, -1 },
		{ "5ms", 0, -1 },
		{ "1hd", MS_DURATION_ZERO, -1 },
		{ "3153600001", MS_DURATION_BARE, -1 },
		{ "3153600001", MS_DURATION_BARE | MS_DURATION_ZERO, -1 },
		{ "3153600000", MS_DURATION_BARE, 3153600000L },
		{ "0", MS_DURATION_BARE | MS_DURATION_ZERO, 0 },
		{ "0", 0, -1 },
		{ "7d", 0, 7 * 86400 },
		{ "90", 0, -1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long secs = -1;
		int rc = ms_parse_duration(cases[i].text, cases[i].flags, &secs);

		if ((rc == 0) != (cases[i].secs >= 0) || secs != cases[i].secs)
			fail_msg("'%s' flags %u: rc %d, %ld seconds", cases[i].text, cases[i].flags, rc, secs);
	}
}

static void test_empty_file(void **state)
{
	const struct test_fixture *fx = *state;
	char *path = write_config(fx, "# nothing set\n\n", 0644);
	struct ms_config *cfg = load_ok(path);

	assert_string_equal(cfg->path, path);
	assert_null(cfg->instance);
	assert_null(cfg->postfix_dir);
	assert_null(cfg->dest);
	assert_null(cfg->venv);
	assert_null(cfg->label);
	assert_int_equal(cfg->n_dbs, 0);
	assert_null(ms_config_db(cfg, "default"));
	ms_config_free(cfg);
	free(path);
}

/* ms_config_db_admin: what the engines get of [db:ALIAS] (borrowed). */
static void test_db_admin(void **state)
{
	const struct test_fixture *fx = *state;
	char *path = write_config(fx, "[db:amavis]\nadmin_user = root\nadmin_password_file = @D@/pw600\n"
				      "[db:default]\nname = modoboa\n", 0600);
	struct ms_config *cfg = load_ok(path);
	struct ms_db_admin a = ms_config_db_admin(cfg, "amavis");

	assert_string_equal(a.user, "root");
	assert_string_equal(a.password, SECRET_FILE);
	assert_ptr_equal(a.password, ms_config_db(cfg, "amavis")->admin_password);
	a = ms_config_db_admin(cfg, "default");
	assert_null(a.user);
	assert_null(a.password);
	a = ms_config_db_admin(cfg, "nosuch");
	assert_null(a.user);
	assert_null(a.password);
	ms_config_free(cfg);
	free(path);
}

static void test_empty_section(void **state)
{
	const struct test_fixture *fx = *state;
	char *path = write_config(fx, "[modosnap]\n[db:default]\n", 0644);
	struct ms_config *cfg = load_ok(path);
	const struct ms_config_db *db = ms_config_db(cfg, "default");

	assert_non_null(db);
	assert_int_equal(db->line, 2);
	assert_null(db->engine);
	ms_config_free(cfg);
	free(path);
}

static void test_new_and_free(void **state)
{
	struct ms_config *cfg = ms_config_new();

	(void)state;
	assert_non_null(cfg);
	assert_null(cfg->path);
	assert_null(cfg->dest);
	assert_int_equal(cfg->n_dbs, 0);
	assert_null(ms_config_db(cfg, "default"));
	ms_config_free(cfg);
	ms_config_free(NULL);
}

/* The signing key paths fall back to the defaults, read nothing and
 * create nothing at load time. */
static void test_signing_key_defaults(void **state)
{
	const struct test_fixture *fx = *state;
	char *path = write_config(fx, "[modosnap]\nsigning_key = @D@/none/signing.key\n", 0644);
	struct ms_config *cfg = load_ok(path), *empty = ms_config_new();
	char *expect = ms_path_join(fx->dir, "none/signing.key"), *dir = ms_path_join(fx->dir, "none");

	assert_string_equal(ms_config_signing_key(cfg), expect);
	assert_string_equal(ms_config_trusted_keys(cfg), "/etc/modosnap/trusted_keys");
	assert_string_equal(ms_config_signing_key(empty), "/etc/modosnap/signing.key");
	assert_string_equal(ms_config_trusted_keys(empty), "/etc/modosnap/trusted_keys");
	assert_false(ms_is_dir(dir));
	ms_config_free(cfg);
	ms_config_free(empty);
	free(expect);
	free(dir);
	free(path);
}

static void expect_load_error(const char *path, const char *expect)
{
	struct ms_config *cfg;
	char *err;

	capture_start();
	cfg = ms_config_load(path);
	err = capture_end();
	assert_null(cfg);
	assert_string_equal(err, expect);
	free(err);
}

static void test_missing_file(void **state)
{
	const struct test_fixture *fx = *state;
	char *path = ms_path_join(fx->dir, "nope.conf");
	char *expect = ms_xasprintf("modosnap: error: unable to open '%s': No such file or directory\n",
				    path);

	expect_load_error(path, expect);
	free(expect);
	free(path);
}

static void test_nul_byte(void **state)
{
	const struct test_fixture *fx = *state;
	char *path = ms_path_join(fx->dir, "nul.conf");
	char *expect = ms_xasprintf("modosnap: error: '%s':2: NUL byte in line\n", path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "[modosnap]\nlabel = a\0b\n", 23), 23);
	close(fd);
	expect_load_error(path, expect);
	free(expect);
	free(path);
}

/* --- main ------------------------------------------------------------------- */

#define N_ERR (sizeof(err_cases) / sizeof(err_cases[0]))
#define N_VAL (sizeof(val_cases) / sizeof(val_cases[0]))

static const struct { const char *name; CMUnitTestFunction fn; } plain_tests[] = {
	{ "full example from config.h", test_full_example },
	{ "retention, hooks and min_free", test_routine_keys },
	{ "keep_safety durations", test_durations },
	{ "component keys", test_component_keys },
	{ "off-host keys: [remote], [remote:NAME], [encrypt], [monitor]", test_offhost_keys },
	{ "duration flags", test_duration_flags },
	{ "empty file", test_empty_file },
	{ "ms_config_db_admin", test_db_admin },
	{ "sections without keys", test_empty_section },
	{ "ms_config_new and ms_config_free(NULL)", test_new_and_free },
	{ "missing file", test_missing_file },
	{ "NUL byte", test_nul_byte },
	{ "signing_key and trusted_keys defaults", test_signing_key_defaults },
};
#define N_PLAIN (sizeof(plain_tests) / sizeof(plain_tests[0]))

int main(void)
{
	static struct CMUnitTest tests[N_ERR + N_VAL + N_PLAIN];
	static char names[N_ERR + N_VAL][160];
	size_t n = 0;

	for (size_t i = 0; i < N_ERR; i++, n++) {
		snprintf(names[n], sizeof(names[n]), "error: %s", err_cases[i].name);
		tests[n] = (struct CMUnitTest){ names[n], test_error, fx_setup, test_fixture_teardown,
						(void *)&err_cases[i] };
	}
	for (size_t i = 0; i < N_VAL; i++, n++) {
		snprintf(names[n], sizeof(names[n]), "value: %s", val_cases[i].name);
		tests[n] = (struct CMUnitTest){ names[n], test_value, fx_setup, test_fixture_teardown,
						(void *)&val_cases[i] };
	}
	for (size_t i = 0; i < N_PLAIN; i++, n++)
		tests[n] = (struct CMUnitTest){ plain_tests[i].name, plain_tests[i].fn, fx_setup,
						test_fixture_teardown, NULL };
	return _cmocka_run_group_tests("config", tests, n, NULL, NULL);
}
