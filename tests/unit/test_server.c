/*
 * Unit tests for src/discover/server.c on a generated tree laid out like
 * an installer's system under a scratch system root: which files of the
 * well-known locations are taken and why (and which unrelated ones are
 * not), the apps-enabled symlink, the Postfix side files, the DKIM roots
 * and missing keys from the database's parameters, [paths] include and
 * exclude, Dovecot's mail location, MODOBOA_ENCRYPTION_KEY, and restore's
 * rule for system roots.
 */
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
#include "discover/instance.h"
#include "discover/postfix.h"
#include "discover/server.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "testutil.h"

/* A file of the tree, text after test_subst (@D@: the scratch directory). */
struct tree_file {
	const char *path; /* below the scratch directory */
	const char *text; /* NULL: a symlink to `link` */
	const char *link;
};

static const struct tree_file tree[] = {
	{ "root/etc/cron.d/modoboa", "*/5 * * * * root /srv/modoboa/env/bin/python /srv/modoboa/instance/manage.py qcleanup\n", NULL },
	{ "root/etc/cron.d/sysstat", "*/10 * * * * root /usr/lib/sysstat/debian-sa1 1 1\n", NULL },
	{ "root/etc/cron.d/other", "0 0 * * * root /srv/modoboa/instance2/run\n", NULL },
	{ "root/etc/uwsgi/apps-available/modoboa_instance.ini", "[uwsgi]\nvirtualenv = @D@/root/srv/modoboa/env\n", NULL },
	{ "root/etc/uwsgi/apps-available/other.ini", "[uwsgi]\nchdir = /srv/other\n", NULL },
	{ "root/etc/uwsgi/apps-enabled/modoboa_instance.ini", NULL, "../apps-available/modoboa_instance.ini" },
	{ "root/etc/uwsgi/apps-enabled/other.ini", NULL, "/etc/uwsgi/apps-available/other.ini" },
	{ "root/etc/supervisor/conf.d/policyd.conf", "command=/srv/modoboa/env/bin/python manage.py policy_daemon\n", NULL },
	{ "root/etc/supervisor/conf.d/rq.conf", "directory=/srv/modoboa/instance\n", NULL },
	{ "root/etc/dovecot/dovecot.conf", "protocols = imap lmtp\n!include conf.d/*.conf\n", NULL },
	{ "root/etc/dovecot/dovecot-sql.conf.ext", "driver = pgsql\nconnect = host=localhost dbname=modoboa user=modoboa "
						  "password=Sup3rS3cret\n", NULL },
	{ "root/etc/dovecot/conf.d/10-mail.conf", "# where mail lives\nmail_location = maildir:/srv/vmail/%d/%n/Maildir\n", NULL },
	{ "root/etc/dovecot/conf.d/10-ssl.conf", "ssl = required\n", NULL },
	{ "root/etc/nginx/sites-available/default", "root /var/www/html;\n", NULL },
	{ "root/etc/nginx/sites-available/modoboa", "location /sitestatic/ { alias /srv/modoboa/instance/sitestatic/; }\n", NULL },
	{ "root/etc/opendkim.conf", "KeyTable refile:@D@/dkim/keytable.txt\n", NULL },
	{ "root/etc/radicale/config", "[auth]\ntype = htpasswd\n", NULL },
	{ "root/srv/modoboa/instance/instance/settings.py", "SECRET_KEY = 'x'\nMODOBOA_ENCRYPTION_KEY = 'enc-literal'\n", NULL },
	{ "pf/main.cf", "# cidr:/nothing/commented\nsmtpd_client_restrictions = check_client_access cidr:@D@/pf/client.cidr,\n"
			"  check_sender_access hash:${config_directory}/access\n"
			"virtual_alias_maps = proxy:pgsql:@D@/pf/sql-aliases.cf\n", NULL },
	{ "pf/master.cf", "smtp inet n - y - - smtpd\n  -o header_checks=pcre:@D@/pf/missing.pcre\n"
			  "  -o body_checks=regexp:$config_directory/body.regexp\n", NULL },
	{ "pf/client.cidr", "192.0.2.0/24 OK\n", NULL },
	{ "pf/access", "spam@example.com REJECT\n", NULL },
	{ "pf/access.db", "(db)", NULL },
	{ "pf/body.regexp", "/x/ REJECT\n", NULL },
	{ "pf/sql-aliases.cf", "hosts = localhost\n", NULL },
	{ "dkim/example.test.pem", "-----BEGIN PRIVATE KEY-----\n", NULL },
	{ "dkim/keys.map", "example.test @D@/dkim/example.test.pem\n", NULL },
	{ "keys/example.org.pem", "-----BEGIN PRIVATE KEY-----\n", NULL },
	{ "rspamd/selectors.map", "example.test modoboa\n", NULL },
	{ "pdf/account.pdf", "%PDF", NULL },
	{ "extra.conf", "mine\n", NULL },
};

static void make_tree(const char *dir)
{
	for (size_t i = 0; i < sizeof(tree) / sizeof(tree[0]); i++) {
		char *path = ms_path_join(dir, tree[i].path), *parent = ms_path_dirname(path);

		test_mkdirs(parent, NULL);
		if (tree[i].text) {
			char *text = test_subst(tree[i].text, dir, NULL);

			test_write_file(path, text, strlen(text), 0644);
			free(text);
		} else {
			assert_int_equal(symlink(tree[i].link, path), 0);
		}
		free(parent);
		free(path);
	}
	test_mkdirs(dir, "root/etc/sudoers.d");
}

/* The instance, its Postfix directory and its databases as discovery
 * would have them; freed by free_instance. */
struct fake {
	struct ms_instance inst;
	struct ms_postfix pf;
	struct ms_dbconf dbs[2];
};

static void make_instance(struct fake *f, const char *dir)
{
	memset(f, 0, sizeof(*f));
	f->inst.dir = ms_path_join(dir, "root/srv/modoboa/instance");
	f->inst.settings_path = ms_path_join(dir, "root/srv/modoboa/instance/instance/settings.py");
	f->inst.has_venv = true;
	f->inst.venv.path = ms_path_join(dir, "root/srv/modoboa/env");
	f->dbs[0] = (struct ms_dbconf){ .alias = "default", .name = "modoboa" };
	f->dbs[1] = (struct ms_dbconf){ .alias = "amavis", .name = "amavis" };
	f->inst.dbs = f->dbs;
	f->inst.n_dbs = 2;
	f->pf.dir = ms_path_join(dir, "pf");
	f->pf.main_cf = ms_path_join(dir, "pf/main.cf");
	f->pf.master_cf = ms_path_join(dir, "pf/master.cf");
	f->pf.maps = ms_xcalloc(1, sizeof(*f->pf.maps));
	f->pf.maps[0].path = ms_path_join(dir, "pf/sql-aliases.cf");
	f->pf.n_maps = 1;
	f->inst.postfix = &f->pf;
}

static void free_instance(struct fake *f)
{
	free(f->inst.dir);
	free(f->inst.settings_path);
	free(f->inst.venv.path);
	free(f->pf.dir);
	free(f->pf.main_cf);
	free(f->pf.master_cf);
	free(f->pf.maps[0].path);
	free(f->pf.maps);
}

/* What the `default` database of the tree says. */
static void make_params(struct ms_modoboa_params *p, const char *dir)
{
	char *s;

	memset(p, 0, sizeof(*p));
	s = ms_path_join(dir, "dkim");
	ms_params_set(p, 0, s);
	free(s);
	s = ms_path_join(dir, "dkim/keys.map");
	ms_params_set(p, 1, s);
	free(s);
	s = ms_path_join(dir, "rspamd/selectors.map");
	ms_params_set(p, 2, s);
	free(s);
	s = ms_path_join(dir, "pdf");
	ms_params_set(p, 3, s);
	free(s);
	s = ms_path_join(dir, "rrd"); /* does not exist */
	ms_params_set(p, 4, s);
	free(s);
	s = ms_path_join(dir, "dkim/example.test.pem");
	ms_params_add_domain(p, "example.test", s, true);
	free(s);
	s = ms_path_join(dir, "keys/example.org.pem");
	ms_params_add_domain(p, "example.org", s, true);
	free(s);
	s = ms_path_join(dir, "dkim/broken.example.pem");
	ms_params_add_domain(p, "broken.example", s, true);
	free(s);
	s = ms_path_join(dir, "dkim/off.example.pem");
	ms_params_add_domain(p, "off.example", s, false);
	free(s);
	ms_params_add_domain(p, "relay.example", NULL, false);
}

static char *listing(const struct ms_found *v, size_t n)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;

	for (size_t i = 0; i < n; i++)
		ms_strbuf_addf(&sb, "%s\t%s\n", v[i].path, v[i].reason);
	return ms_strbuf_detach(&sb);
}

static int line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lines of @text in strcmp order: discovery sorts by path, and
 * where the scratch directory sorts against "/etc" depends on where the
 * suite runs (/tmp/... after it, /check/... before it). */
static char *sorted_lines(char *text)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	char **v = NULL;
	size_t n = 0;

	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		v = realloc(v, (n + 1) * sizeof(*v));
		assert_non_null(v);
		v[n++] = line;
	}
	if (n)
		qsort(v, n, sizeof(*v), line_cmp);
	for (size_t i = 0; i < n; i++)
		ms_strbuf_addf(&sb, "%s\n", v[i]);
	free(v);
	free(text);
	return ms_strbuf_detach(&sb);
}

static void assert_listing(const struct ms_found *v, size_t n, const char *dir, const char *expect)
{
	char *want = sorted_lines(test_subst(expect, dir, NULL)), *got = listing(v, n);

	assert_string_equal(got, want);
	free(got);
	free(want);
}

/* Listed in any order: assert_listing sorts it as discovery does. */
static const char expect_system[] =
	"/etc/cron.d/modoboa\tnames the instance directory @D@/root/srv/modoboa/instance\n"
	"/etc/dovecot/conf.d/10-mail.conf\tsets Dovecot's mail location\n"
	"/etc/dovecot/dovecot-sql.conf.ext\tnames the database 'modoboa' (default)\n"
	"/etc/nginx/sites-available/modoboa\tnames the instance directory @D@/root/srv/modoboa/instance\n"
	"/etc/opendkim.conf\tnames the DKIM directory @D@/dkim\n"
	"/etc/supervisor/conf.d/rq.conf\tnames the instance directory @D@/root/srv/modoboa/instance\n"
	"/etc/uwsgi/apps-available/modoboa_instance.ini\tnames the virtualenv @D@/root/srv/modoboa/env\n"
	"/etc/uwsgi/apps-enabled/modoboa_instance.ini\tlink to /etc/uwsgi/apps-available/modoboa_instance.ini\n"
	"@D@/extra.conf\t[paths] include\n"
	"@D@/pdf\tdatabase (pdfcredentials.storage_dir)\n"
	"@D@/pf/access\tside file named by main.cf (hash:)\n"
	"@D@/pf/access.db\tside file named by main.cf (hash:)\n"
	"@D@/pf/body.regexp\tside file named by master.cf (regexp:)\n"
	"@D@/pf/client.cidr\tside file named by main.cf (cidr:)\n";

static const char expect_dkim[] =
	"@D@/dkim\tDKIM key directory (database (admin.dkim_keys_storage_dir))\n"
	"@D@/keys/example.org.pem\tDKIM key of example.org (admin_domain)\n"
	"@D@/rspamd/selectors.map\tdatabase (rspamd.selector_map_path)\n";

static struct ms_config *config(const char *dir)
{
	struct ms_config *cfg = ms_config_new();

	ms_strv_push_owned(&cfg->paths_include, ms_path_join(dir, "extra.conf"));
	ms_strv_push_owned(&cfg->paths_include, ms_path_join(dir, "nothere"));
	ms_strv_push(&cfg->paths_exclude, "/etc/supervisor/conf.d/policyd.conf");
	return cfg;
}

static const struct ms_found *found(const struct ms_server *s, const char *path)
{
	for (size_t i = 0; i < s->n_system; i++)
		if (strcmp(s->system[i].path, path) == 0)
			return &s->system[i];
	fail_msg("%s not discovered", path);
	return NULL;
}

static void test_discover(void **state)
{
	const struct test_fixture *fx = *state;
	char *root = ms_path_join(fx->dir, "root"), *err, *want;
	struct ms_config *cfg = config(fx->dir);
	struct ms_modoboa_params params;
	struct ms_server s;
	struct fake f;

	make_tree(fx->dir);
	make_instance(&f, fx->dir);
	make_params(&params, fx->dir);
	capture_start();
	assert_int_equal(ms_server_discover(&f.inst, cfg, root, &params, &s), 0);
	err = capture_end();
	want = ms_xasprintf("modosnap: warning: [paths] include '%s/nothere' does not exist; skipped\n", fx->dir);
	assert_string_equal(err, want);
	free(want);
	free(err);

	assert_string_equal(s.system_root, root);
	assert_listing(s.system, s.n_system, fx->dir, expect_system);
	want = ms_path_join(root, "etc/cron.d/modoboa");
	assert_string_equal(found(&s, "/etc/cron.d/modoboa")->file, want); /* found under the root */
	free(want);
	want = ms_path_join(fx->dir, "extra.conf");
	assert_string_equal(found(&s, want)->file, want); /* as written */
	free(want);

	want = ms_path_join(fx->dir, "dkim");
	assert_string_equal(s.dkim_dir, want);
	free(want);
	assert_string_equal(s.dkim_from, "database (admin.dkim_keys_storage_dir)");
	assert_listing(s.dkim, s.n_dkim, fx->dir, expect_dkim);
	assert_int_equal(s.dkim_keys, 2);
	assert_int_equal(s.dkim_missing.n, 1);
	want = ms_xasprintf("broken.example: %s/dkim/broken.example.pem", fx->dir);
	assert_string_equal(s.dkim_missing.v[0], want);
	free(want);

	assert_string_equal(s.mail_dir, "/srv/vmail");
	assert_string_equal(s.mail_layout, "%d/%n");
	assert_string_equal(s.mail_from, "dovecot mail_location in /etc/dovecot/conf.d/10-mail.conf");
	assert_true(s.has_amavis);
	assert_string_equal(s.encryption_key, "enc-literal");

	ms_server_clear(&s);
	assert_null(s.system);
	ms_modoboa_params_clear(&params);
	free_instance(&f);
	ms_config_free(cfg);
	free(root);
}

/* Without the database: DKIM from [modosnap] dkim_dir; [mail] dir wins
 * over Dovecot; mail_home when mail_location is relative to it; the
 * encryption key from .env; no amavis alias is no warning. */
static void test_without_database(void **state)
{
	const struct test_fixture *fx = *state;
	char *root = ms_path_join(fx->dir, "root"), *err, *want;
	struct ms_config *cfg = ms_config_new();
	struct ms_server s;
	struct fake f;

	make_tree(fx->dir);
	make_instance(&f, fx->dir);
	f.inst.n_dbs = 1;
	test_put_file(fx->dir, "root/etc/dovecot/conf.d/10-mail.conf",
		      "mail_location = maildir:~/Maildir\nmail_home = /var/vmail/%d/%n\n", 0644);
	test_put_file(fx->dir, "root/srv/modoboa/instance/instance/settings.py", "SECRET_KEY = 'x'\n", 0644);
	test_put_file(fx->dir, "root/srv/modoboa/instance/.env",
		      "DEBUG=False\nexport MODOBOA_ENCRYPTION_KEY=\"enc-env\"\n", 0600);
	cfg->dkim_dir = ms_path_join(fx->dir, "keys");
	cfg->system_root = ms_xstrdup(root);
	capture_start();
	assert_int_equal(ms_server_discover(&f.inst, cfg, NULL, NULL, &s), 0);
	err = capture_end();
	assert_string_equal(err, "");
	free(err);
	assert_string_equal(s.system_root, root);
	assert_string_equal(s.dkim_from, "config");
	assert_int_equal(s.n_dkim, 1);
	assert_string_equal(s.dkim[0].path, cfg->dkim_dir);
	assert_int_equal(s.dkim_keys, 0);
	assert_string_equal(s.mail_dir, "/var/vmail");
	assert_string_equal(s.mail_layout, "%d/%n");
	assert_string_equal(s.mail_from, "dovecot mail_home in /etc/dovecot/conf.d/10-mail.conf");
	assert_false(s.has_amavis);
	assert_string_equal(s.encryption_key, "enc-env");
	ms_server_clear(&s);

	cfg->mail_dir = ms_xstrdup("/data/mail/");
	assert_int_equal(ms_server_discover(&f.inst, cfg, NULL, NULL, &s), 0);
	assert_string_equal(s.mail_dir, "/data/mail");
	assert_string_equal(s.mail_from, "config");
	ms_server_clear(&s);

	/* a system root that is not a directory */
	want = ms_path_join(fx->dir, "extra.conf");
	capture_start();
	assert_int_equal(ms_server_discover(&f.inst, cfg, want, NULL, &s), -1);
	err = capture_end();
	free(want);
	want = ms_xasprintf("modosnap: error: system root '%s/extra.conf' is not an absolute path to a directory\n",
			    fx->dir);
	assert_string_equal(err, want);
	free(want);
	free(err);
	free_instance(&f);
	ms_config_free(cfg);
	free(root);
}

/* An empty root: nothing found, nothing warned. */
static void test_empty_root(void **state)
{
	const struct test_fixture *fx = *state;
	struct ms_server s;
	struct fake f;
	char *err;

	make_instance(&f, fx->dir);
	f.inst.postfix = NULL;
	capture_start();
	assert_int_equal(ms_server_discover(&f.inst, NULL, fx->dir, NULL, &s), 0);
	err = capture_end();
	assert_string_equal(err, "");
	free(err);
	assert_int_equal(s.n_system, 0);
	assert_int_equal(s.n_dkim, 0);
	assert_null(s.dkim_dir);
	assert_null(s.mail_dir);
	assert_null(s.encryption_key);
	ms_server_clear(&s);
	free_instance(&f);
}

static void test_allowed(void **state)
{
	static const struct { const char *path; bool ok; } cases[] = {
		{ "/etc/cron.d/modoboa", true },
		{ "/etc/cron.d", false },
		{ "/etc/cron.daily/x", false },
		{ "/etc/dovecot/conf.d/10-mail.conf", true },
		{ "/etc/opendkim.conf", true },
		{ "/etc/opendkim.conf.d/x", false },
		{ "/etc/uwsgi/apps-enabled/modoboa.ini", true },
		{ "/etc/passwd", false },
		{ "/etc/postfix/client.cidr", true },
		{ "/etc/postfix", false },
		{ "/opt/tools/bin/x", true },
		{ "/opt/tools", true },
		{ "/opt/toolsx", false },
		{ "/srv/pdf/a.pdf", true },
		{ "relative/x", false },
		{ "/", false },
	};
	struct ms_config *cfg = ms_config_new();
	struct ms_modoboa_params p = { 0 };

	(void)state;
	ms_strv_push(&cfg->paths_include, "/opt/tools");
	ms_params_set(&p, 3, "/srv/pdf");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (ms_server_system_allowed_params(cfg, "/etc/postfix", &p, cases[i].path) != cases[i].ok)
			fail_msg("'%s' should be %s", cases[i].path, cases[i].ok ? "allowed" : "refused");
	}
	assert_false(ms_server_system_allowed(cfg, "/etc/postfix", "/srv/pdf/a.pdf"));
	assert_true(ms_server_system_allowed(NULL, NULL, "/etc/sudoers.d/modoboa"));
	ms_modoboa_params_clear(&p);
	ms_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_discover, test_fixture_setup, test_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_without_database, test_fixture_setup, test_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_empty_root, test_fixture_setup, test_fixture_teardown),
		cmocka_unit_test(test_allowed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
