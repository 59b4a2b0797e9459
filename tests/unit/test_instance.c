/*
 * Unit tests for src/instance: how settings.py, manage.py, the config file
 * and the command line combine into the instance model (precedence, engine
 * spellings, sockets, config-only aliases, extensions).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "discover/config.h"
#include "discover/instance.h"
#include "base/util.h"
#include "testutil.h"

struct fx {
	char *root;    /* scratch directory, removed by fx_free */
	char *inst;    /* <root>/inst */
	char *env;     /* <root>/env (found through manage.py) */
	char *postfix; /* <root>/postfix */
};

/* Builds an instance whose manage.py names `module` and whose settings file
 * holds `settings`. */
static void fx_build(struct fx *fx, const char *module, const char *settings)
{
	char *manage, *mod_path;

	fx->root = test_mkdtemp("ms-test-inst");
	fx->inst = ms_path_join(fx->root, "inst");
	fx->env = ms_path_join(fx->root, "env");
	fx->postfix = ms_path_join(fx->root, "postfix");
	test_mkdirs(fx->root, "inst");
	test_mkdirs(fx->root, "env/lib/python3.11/site-packages/modoboa-2.3.2.dist-info");
	test_mkdirs(fx->root, "postfix");
	test_put_file(fx->env, "pyvenv.cfg", "home = /usr/bin\nversion = 3.11.2\n", 0644);
	test_put_file(fx->env, "lib/python3.11/site-packages/modoboa-2.3.2.dist-info/METADATA",
		      "Metadata-Version: 2.1\nName: modoboa\nVersion: 2.3.2\n\n", 0644);
	manage = ms_xasprintf("#!%s/bin/python\nimport os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', '%s')\n",
			      fx->env, module);
	test_put_file(fx->inst, "manage.py", manage, 0644);
	free(manage);
	mod_path = ms_xasprintf("%s.py", module);
	for (char *p = mod_path; *p && strcmp(p, ".py") != 0; p++)
		if (*p == '.')
			*p = '/';
	char *mod_dir = ms_path_dirname(mod_path);
	test_mkdirs(fx->inst, mod_dir);
	free(mod_dir);
	test_put_file(fx->inst, mod_path, settings, 0644);
	free(mod_path);
}

static void fx_free(struct fx *fx)
{
	test_rmtree(fx->root);
	free(fx->root);
	free(fx->inst);
	free(fx->env);
	free(fx->postfix);
}

static struct ms_instance *discover(struct fx *fx, struct ms_config *cfg)
{
	struct ms_instance_opts opts = { fx->inst, fx->postfix, false };

	return ms_instance_discover(cfg, &opts);
}

static void test_generated_shape(void **state)
{
	struct ms_config *cfg = ms_config_new();
	struct ms_instance *inst;
	struct fx fx;

	(void)state;
	fx_build(&fx, "mysite.settings",
		 "SECRET_KEY = 'abc'\n"
		 "MODOBOA_APPS = ('modoboa', 'modoboa.core', 'modoboa_contacts', 'modoboa_contacts.x',\n"
		 "                'modoboa_webmail')\n"
		 "DATABASES = {\n"
		 "    'default': {'ENGINE': 'django.db.backends.postgresql_psycopg2', 'NAME': 'm',\n"
		 "                'USER': 'u', 'PASSWORD': 'p', 'HOST': None, 'PORT': 5432},\n"
		 "    'amavis': {'ENGINE': 'django.db.backends.mysql', 'NAME': 'a', 'PASSWORD': '',\n"
		 "               'HOST': '', 'OPTIONS': {'unix_socket': '/run/mysqld/mysqld.sock'}},\n"
		 "}\n");
	inst = discover(&fx, cfg);
	assert_non_null(inst);
	assert_int_equal(inst->dir_source, MS_SRC_CLI);
	assert_true(strstr(inst->settings_path, "/inst/mysite/settings.py") != NULL);
	assert_int_equal(inst->n_dbs, 2);
	assert_string_equal(inst->dbs[0].alias, "default");
	assert_int_equal(inst->dbs[0].engine, MS_DB_POSTGRESQL);
	assert_string_equal(inst->dbs[0].host, "");
	assert_string_equal(inst->dbs[0].port, "5432");
	assert_string_equal(inst->dbs[0].password, "p");
	assert_string_equal(inst->dbs[0].password_source, "settings.py");
	assert_int_equal(inst->dbs[1].engine, MS_DB_MYSQL);
	assert_string_equal(inst->dbs[1].host, "/run/mysqld/mysqld.sock");
	assert_string_equal(inst->dbs[1].user, "");
	assert_null(inst->dbs[1].password);
	assert_int_equal(inst->extensions.n, 2);
	assert_string_equal(inst->extensions.v[0], "modoboa_contacts");
	assert_string_equal(inst->extensions.v[1], "modoboa_webmail");
	assert_int_equal(inst->apps.n, 5);
	assert_string_equal(inst->secret_key, "abc");
	assert_true(inst->has_venv);
	assert_string_equal(inst->venv.found_by, "manage.py");
	ms_instance_free(inst);
	ms_config_free(cfg);
	fx_free(&fx);
}

static void test_config_precedence(void **state)
{
	struct ms_config *cfg = ms_config_new();
	struct ms_instance *inst;
	struct fx fx;

	(void)state;
	fx_build(&fx, "instance.settings",
		 "import os\n"
		 "DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', 'NAME': 'm',\n"
		 "    'HOST': os.environ['H'], 'PASSWORD': os.environ.get('P')}}\n");
	cfg->dbs = ms_xcalloc(2, sizeof(*cfg->dbs));
	cfg->n_dbs = 2;
	cfg->dbs[0].alias = ms_xstrdup("default");
	cfg->dbs[0].host = ms_xstrdup("/run/postgresql");
	cfg->dbs[0].password = ms_xstrdup("from-config");
	cfg->dbs[1].alias = ms_xstrdup("amavis");
	cfg->dbs[1].engine = ms_xstrdup("mysql");
	cfg->dbs[1].name = ms_xstrdup("amavis");
	cfg->instance = ms_xstrdup("/nonexistent/ignored-because-cli-wins");
	inst = discover(&fx, cfg);
	assert_non_null(inst);
	assert_int_equal(inst->n_dbs, 2);
	assert_string_equal(inst->dbs[0].host, "/run/postgresql");
	assert_string_equal(inst->dbs[0].password, "from-config");
	assert_string_equal(inst->dbs[0].password_source, "config");
	assert_string_equal(inst->dbs[1].alias, "amavis");
	assert_int_equal(inst->dbs[1].engine, MS_DB_MYSQL);
	assert_string_equal(inst->dbs[1].host, "");
	ms_instance_free(inst);
	ms_config_free(cfg);
	fx_free(&fx);
}

static void test_config_instance_used_without_cli(void **state)
{
	struct ms_config *cfg = ms_config_new();
	struct ms_instance_opts opts = { NULL, NULL, false };
	struct ms_instance *inst;
	struct fx fx;

	(void)state;
	fx_build(&fx, "instance.settings", "DATABASES = {}\n");
	cfg->instance = ms_xstrdup(fx.inst);
	cfg->postfix_dir = ms_xstrdup(fx.postfix);
	inst = ms_instance_discover(cfg, &opts);
	assert_non_null(inst);
	assert_int_equal(inst->dir_source, MS_SRC_CONFIG);
	assert_int_equal(inst->postfix_source, MS_SRC_CONFIG);
	assert_int_equal(inst->n_dbs, 0);
	ms_instance_free(inst);
	ms_config_free(cfg);
	fx_free(&fx);
}

static void test_patch_applied(void **state)
{
	struct ms_config *cfg = ms_config_new();
	struct ms_instance *inst;
	struct fx fx;

	(void)state;
	fx_build(&fx, "instance.settings",
		 "DATABASES = {'default': {'ENGINE': 'django.db.backends.mysql', 'NAME': 'm'}}\n"
		 "DATABASES['default']['HOST'] = '127.0.0.1'\n");
	inst = discover(&fx, cfg);
	assert_non_null(inst);
	assert_string_equal(inst->dbs[0].host, "127.0.0.1");
	ms_instance_free(inst);
	ms_config_free(cfg);
	fx_free(&fx);
}

static void test_refusals(void **state)
{
	static const char *bad[] = {
		"DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': 'x'}}\n",
		"DATABASES = {'default': {'NAME': 'x'}}\n",
		"DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql'}}\n",
		"DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', 'NAME': ['x']}}\n",
		"DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', 'NAME': f('x')}}\n",
		"DATABASES = {}\nDATABASES.update(x)\n",
		"DATABASES = get_databases()\n",
		"DATABASES = {'default': get_default()}\n",
		"X = 1\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ms_config *cfg = ms_config_new();
		struct ms_instance *inst;
		struct fx fx;

		fx_build(&fx, "instance.settings", bad[i]);
		inst = discover(&fx, cfg);
		if (inst)
			fail_msg("accepted settings: %s", bad[i]);
		ms_config_free(cfg);
		fx_free(&fx);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generated_shape),
		cmocka_unit_test(test_config_precedence),
		cmocka_unit_test(test_config_instance_used_without_cli),
		cmocka_unit_test(test_patch_applied),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
