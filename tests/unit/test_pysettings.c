/*
 * Unit tests for the settings.py reader (src/discover/pysettings.c). Three tables:
 * real-world-shaped settings files with the values and bindings each must
 * yield, malformed files with the exact message each must print, and
 * robustness sweeps (every truncation of a realistic file, seeded byte
 * mutations, hostile nesting, many names) that must neither crash nor leak
 * under ASan/LSan or valgrind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "discover/pysettings.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "testutil.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------------
 * Helpers
 */

/* Runs the parser with stderr captured into buf. */
static struct ms_pysettings *parse_capture(const char *src, size_t len, char *buf, size_t size)
{
	struct ms_pysettings *s;
	char *err;

	capture_start();
	s = ms_pysettings_parse("settings.py", src, len);
	err = capture_end();
	snprintf(buf, size, "%s", err);
	free(err);
	return s;
}

/* Follows "key/key/#index/@index" below v: a dict key, an item index, or
 * (with '@') a dict key index. */
static const struct ms_py_value *walk_path(const struct ms_py_value *v, const char *path)
{
	char seg[128];

	while (path && *path) {
		const char *slash = strchr(path, '/');
		size_t n = slash ? (size_t)(slash - path) : strlen(path);

		assert_true(n < sizeof(seg));
		memcpy(seg, path, n);
		seg[n] = '\0';
		path = slash ? slash + 1 : NULL;
		if (seg[0] == '#' || seg[0] == '@') {
			unsigned long k;

			assert_int_equal(ms_parse_ulong(seg + 1, 0, 1000000, &k), 0);
			if (k >= v->n)
				fail_msg("index %lu out of range (n = %zu)", k, v->n);
			v = seg[0] == '#' ? v->items[k] : v->keys[k];
		} else {
			const struct ms_py_value *next = ms_py_dict_get(v, seg);

			if (!next)
				fail_msg("no key '%s' in %s", seg, ms_py_type_name(v->type));
			v = next;
		}
	}
	return v;
}

/* ------------------------------------------------------------------------
 * Settings that parse
 */

#define NO_N (-1)

/* One value to find under a module-level name. */
struct exp {
	const char *name;
	const char *path;   /* below the bound value; NULL for the value itself */
	enum ms_py_type type;
	const char *str;    /* expected content ("True"/"False" for booleans); NULL: unchecked */
	int n;              /* expected item count, NO_N: unchecked */
	size_t len;         /* content length when it holds NULs; 0: strlen(str) */
	int line;           /* expected value line; 0: unchecked */
};

#define E_STR(nm, path, s) { nm, path, MS_PY_STR, s, NO_N, 0, 0 }
#define E_EXPR(nm, path, s) { nm, path, MS_PY_EXPR, s, NO_N, 0, 0 }
#define E_INT(nm, path, s) { nm, path, MS_PY_INT, s, NO_N, 0, 0 }
#define E_FLOAT(nm, path, s) { nm, path, MS_PY_FLOAT, s, NO_N, 0, 0 }
#define E_BOOL(nm, path, s) { nm, path, MS_PY_BOOL, s, NO_N, 0, 0 }
#define E_NONE(nm, path) { nm, path, MS_PY_NONE, NULL, NO_N, 0, 0 }
#define E_BYTES(nm, path, s, len) { nm, path, MS_PY_BYTES, s, NO_N, len, 0 }
#define E_N(nm, path, type, n) { nm, path, type, NULL, n, 0, 0 }
#define E_LINE(nm, path, type, s, line) { nm, path, type, s, NO_N, 0, line }

/* How a name must be bound. */
struct bexp {
	const char *name;
	int line;
	bool conditional;
	int modified_line;
	int star_import_line;
};

struct ok_case {
	const char *title;
	const char *src;
	struct exp exps[16];   /* terminated by name == NULL */
	struct bexp binds[6];
	const char *absent[6]; /* names that must not be bound */
};

/* The installer's settings.py, paraphrased (docs/dev/modoboa.md). */
#define MODOBOA_GENERATED \
	"# -*- coding: utf-8 -*-\n" \
	"\"\"\"\n" \
	"Django settings for instance project.\n" \
	"\"\"\"\n" \
	"import os\n" \
	"\n" \
	"BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))\n" \
	"SECRET_KEY = 'x7#k$v(2)=q@ml!'\n" \
	"DEBUG = False\n" \
	"ALLOWED_HOSTS = [\n" \
	"    'mail.example.com',\n" \
	"    '127.0.0.1',\n" \
	"    'localhost',\n" \
	"]\n" \
	"MODOBOA_APPS = (\n" \
	"    'modoboa',\n" \
	"    'modoboa.core',\n" \
	"    'modoboa.lib',\n" \
	"    'modoboa.admin',\n" \
	"    # Modoboa extensions here.\n" \
	"    'modoboa_amavis',\n" \
	"    'modoboa_webmail',\n" \
	")\n" \
	"DATABASES = {\n" \
	"    'default': {\n" \
	"        'ENGINE': 'django.db.backends.postgresql',\n" \
	"        'NAME': 'modoboa',\n" \
	"        'USER': 'modoboa',\n" \
	"        'PASSWORD': 's3cr3t',\n" \
	"        'HOST': '127.0.0.1',\n" \
	"        'PORT': '',\n" \
	"        'ATOMIC_REQUESTS': True,\n" \
	"    },\n" \
	"    'amavis': {\n" \
	"        'ENGINE': 'django.db.backends.mysql',\n" \
	"        'NAME': 'amavis',\n" \
	"        'USER': 'amavis',\n" \
	"        'PASSWORD': 'other',\n" \
	"        'HOST': 'localhost',\n" \
	"        'PORT': '',\n" \
	"        'ATOMIC_REQUESTS': True,\n" \
	"        'OPTIONS': {'init_command': 'SET foreign_key_checks = 0;'},\n" \
	"    },\n" \
	"}\n" \
	"TIME_ZONE = 'Europe/Paris'\n" \
	"LOGGING = {\n" \
	"    'version': 1,\n" \
	"    'disable_existing_loggers': False,\n" \
	"    'handlers': {\n" \
	"        'syslog-auth': {\n" \
	"            'class': 'logging.handlers.SysLogHandler',\n" \
	"            'facility': SysLogHandler.LOG_AUTH,\n" \
	"        },\n" \
	"    },\n" \
	"}\n"

/* Arbitrary Python around the settings: must not confuse the reader. */
#define ARBITRARY_PYTHON \
	"import logging.config, sys\n" \
	"from functools import lru_cache\n" \
	"from django.utils.translation import gettext_lazy as _\n" \
	"\n" \
	"LANGUAGES = (\n" \
	"    ('en', _('English')),\n" \
	"    ('fr', _('French')),\n" \
	")\n" \
	"\n" \
	"@lru_cache(maxsize=None)\n" \
	"def read_secret(path: str = \"/etc/x\") -> str:\n" \
	"    \"\"\"Docstring with 'quotes', {braces} and DATABASES = {.\"\"\"\n" \
	"    with open(path) as fh:\n" \
	"        return fh.read().strip()\n" \
	"\n" \
	"class Router:\n" \
	"    route_app_labels = {'amavis'}\n" \
	"\n" \
	"    def db_for_read(self, model, **hints):\n" \
	"        return 'amavis' if model._meta.app_label in self.route_app_labels else None\n" \
	"\n" \
	"async def noop(): await asyncio.sleep(0)\n" \
	"\n" \
	"LOGGING_CONFIG = None\n" \
	"logging.config.dictConfig({\n" \
	"    'version': 1,\n" \
	"    'handlers': {'console': {'class': 'logging.StreamHandler'}},\n" \
	"})\n" \
	"X = [y async for y in z] if False else []\n" \
	"assert DEBUG is not None, \"x\"\n" \
	"print(\"settings loaded\", file=sys.stderr)\n" \
	"global_counter = 0\n" \
	"global_counter += 1\n" \
	"F = f'{LANGUAGES[0][0]!r:>{10}}' rf\"\\d{{x}}\"\n" \
	"G = lambda *a, **k: {'a': a, 'k': k}\n" \
	"DATABASE_ROUTERS = ['instance.settings.Router']\n"

static const struct ok_case ok_cases[] = {
	{
		"generated modoboa settings",
		MODOBOA_GENERATED,
		{
			E_N("DATABASES", NULL, MS_PY_DICT, 2),
			E_STR("DATABASES", "@0", "default"),
			E_STR("DATABASES", "default/ENGINE", "django.db.backends.postgresql"),
			E_STR("DATABASES", "default/PASSWORD", "s3cr3t"),
			E_STR("DATABASES", "default/PORT", ""),
			E_BOOL("DATABASES", "default/ATOMIC_REQUESTS", "True"),
			E_STR("DATABASES", "amavis/ENGINE", "django.db.backends.mysql"),
			E_STR("DATABASES", "amavis/OPTIONS/init_command", "SET foreign_key_checks = 0;"),
			E_LINE("DATABASES", "amavis/HOST", MS_PY_STR, "localhost", 39),
			E_N("MODOBOA_APPS", NULL, MS_PY_TUPLE, 6),
			E_STR("MODOBOA_APPS", "#4", "modoboa_amavis"),
			E_N("ALLOWED_HOSTS", NULL, MS_PY_LIST, 3),
			E_EXPR("BASE_DIR", NULL, "os.path.dirname(os.path.dirname(os.path.abspath(__file__)))"),
			E_STR("SECRET_KEY", NULL, "x7#k$v(2)=q@ml!"),
			E_BOOL("DEBUG", NULL, "False"),
			E_EXPR("LOGGING", "handlers/syslog-auth/facility", "SysLogHandler.LOG_AUTH"),
		},
		{ { "DATABASES", 24, false, 0, 0 }, { "LOGGING", 46, false, 0, 0 } },
		{ "os", "instance" },
	},
	{
		"double quotes and no trailing commas",
		"DATABASES = {\n"
		"    \"default\": {\n"
		"        \"ENGINE\": \"django.db.backends.postgresql_psycopg2\",\n"
		"        \"NAME\": \"modoboa\",\n"
		"        \"PASSWORD\": \"it's\",\n"
		"        \"HOST\": \"\",\n"
		"        \"PORT\": \"5432\"\n"
		"    }\n"
		"}\n",
		{
			E_STR("DATABASES", "default/ENGINE", "django.db.backends.postgresql_psycopg2"),
			E_STR("DATABASES", "default/PASSWORD", "it's"),
			E_STR("DATABASES", "default/HOST", ""),
			E_STR("DATABASES", "default/PORT", "5432"),
			E_N("DATABASES", "default", MS_PY_DICT, 5),
		},
		{ { "DATABASES", 1, false, 0, 0 } },
		{ NULL },
	},
	{
		"comments between keys and after values",
		"DATABASES = {  # the databases\n"
		"    # the main one\n"
		"    'default': {\n"
		"        'ENGINE': 'django.db.backends.mysql',  # engine\n"
		"        # 'ENGINE': 'django.db.backends.sqlite3',\n"
		"        'PASSWORD': 'pa#ss',  # '#' in a string is no comment\n"
		"        'HOST': 'db'  # a comment before the comma\n"
		"        ,\n"
		"        'PORT': '3306',\n"
		"    }, # done\n"
		"}\n",
		{
			E_STR("DATABASES", "default/ENGINE", "django.db.backends.mysql"),
			E_STR("DATABASES", "default/PASSWORD", "pa#ss"),
			E_STR("DATABASES", "default/HOST", "db"),
			E_LINE("DATABASES", "default/PORT", MS_PY_STR, "3306", 9),
			E_N("DATABASES", "default", MS_PY_DICT, 4),
		},
		{ { "DATABASES", 1, false, 0, 0 } },
		{ NULL },
	},
	{
		"implicit concatenation across lines",
		"DATABASES = {\n"
		"    'default': {\n"
		"        'PASSWORD': ('abc'\n"
		"                     \"def\"  # between the parts\n"
		"                     '''ghi'''),\n"
		"        'NAME': 'mod' 'oboa',\n"
		"        'HOST': 'local'\n"
		"                'host',\n"
		"    },\n"
		"}\n",
		{
			E_LINE("DATABASES", "default/PASSWORD", MS_PY_STR, "abcdefghi", 3),
			E_STR("DATABASES", "default/NAME", "modoboa"),
			E_STR("DATABASES", "default/HOST", "localhost"),
		},
		{ { "DATABASES", 1, false, 0, 0 } },
		{ NULL },
	},
	{
		"trailing commas everywhere",
		"A = [1, 2,]\n"
		"B = (1,)\n"
		"C = {'a': 1,}\n"
		"D = {1, 2,}\n"
		"E = {'a': [1,], 'b': (2, 3,), }\n"
		"F = (\n  'x',\n  'y',\n)\n",
		{
			E_N("A", NULL, MS_PY_LIST, 2),
			E_N("B", NULL, MS_PY_TUPLE, 1),
			E_INT("B", "#0", "1"),
			E_N("C", NULL, MS_PY_DICT, 1),
			E_N("D", NULL, MS_PY_SET, 2),
			E_N("E", "a", MS_PY_LIST, 1),
			E_N("E", "b", MS_PY_TUPLE, 2),
			E_N("F", NULL, MS_PY_TUPLE, 2),
			E_STR("F", "#1", "y"),
		},
		{ { "F", 6, false, 0, 0 } },
		{ NULL },
	},
	{
		"nested options dict",
		"DATABASES = {\n"
		"    'default': {\n"
		"        'ENGINE': 'django.db.backends.mysql',\n"
		"        'OPTIONS': {\n"
		"            'init_command': \"SET sql_mode='STRICT_TRANS_TABLES'\",\n"
		"            'charset': 'utf8mb4',\n"
		"            'ssl': {'ca': '/etc/mysql/ca.pem'},\n"
		"            'connect_timeout': 10,\n"
		"        },\n"
		"    },\n"
		"}\n",
		{
			E_STR("DATABASES", "default/OPTIONS/init_command", "SET sql_mode='STRICT_TRANS_TABLES'"),
			E_STR("DATABASES", "default/OPTIONS/ssl/ca", "/etc/mysql/ca.pem"),
			E_INT("DATABASES", "default/OPTIONS/connect_timeout", "10"),
			E_N("DATABASES", "default/OPTIONS", MS_PY_DICT, 4),
		},
		{ { "DATABASES", 1, false, 0, 0 } },
		{ NULL },
	},
	{
		"constants and numbers",
		"FLAGS = {'a': True, 'b': False, 'c': None, 'd': 0, 'e': -1, 'f': 1_000,\n"
		"         'g': 0x1F, 'h': 0o17, 'i': 0b101, 'j': 1.5, 'k': - 2.5e-3,\n"
		"         'l': .5, 'm': 1j, 'n': 10., 'o': 00, 'p': -x, 'q': +7}\n",
		{
			E_BOOL("FLAGS", "a", "True"),
			E_BOOL("FLAGS", "b", "False"),
			E_NONE("FLAGS", "c"),
			E_INT("FLAGS", "e", "-1"),
			E_INT("FLAGS", "f", "1_000"),
			E_INT("FLAGS", "g", "0x1F"),
			E_INT("FLAGS", "h", "0o17"),
			E_INT("FLAGS", "i", "0b101"),
			E_FLOAT("FLAGS", "j", "1.5"),
			E_FLOAT("FLAGS", "k", "-2.5e-3"),
			E_FLOAT("FLAGS", "l", ".5"),
			E_EXPR("FLAGS", "m", "1j"),
			E_FLOAT("FLAGS", "n", "10."),
			E_INT("FLAGS", "o", "00"),
			E_EXPR("FLAGS", "p", "-x"),
			E_INT("FLAGS", "q", "+7"),
		},
		{ { "FLAGS", 1, false, 0, 0 } },
		{ NULL },
	},
	{
		"MODOBOA_APPS list extended with +=",
		"MODOBOA_APPS = [\n"
		"    'modoboa',\n"
		"    'modoboa.core',\n"
		"]\n"
		"MODOBOA_APPS += ['modoboa_contacts']\n"
		"MODOBOA_APPS.append('modoboa_radicale')\n",
		{
			E_N("MODOBOA_APPS", NULL, MS_PY_LIST, 2),
			E_STR("MODOBOA_APPS", "#1", "modoboa.core"),
		},
		{ { "MODOBOA_APPS", 1, false, 5, 0 } },
		{ NULL },
	},
	{
		"triple-quoted strings holding DATABASES are ignored",
		"\"\"\"\n"
		"DATABASES = {\n"
		"    'default': {'NAME': 'wrong'},\n"
		"}\n"
		"\"\"\"\n"
		"NOTE = '''\n"
		"DATABASES = {'default': {}}\n"
		"'''\n"
		"DATABASES = {'default': {'NAME': 'right'}}\n"
		"HELP = \"\"\" ' \" '' \"\" \"\"\"\n",
		{
			E_STR("DATABASES", "default/NAME", "right"),
			E_STR("NOTE", NULL, "\nDATABASES = {'default': {}}\n"),
			E_STR("HELP", NULL, " ' \" '' \"\" "),
		},
		{ { "DATABASES", 9, false, 0, 0 } },
		{ NULL },
	},
	{
		"assignments in def and class bodies are ignored",
		"def get_databases():\n"
		"    DATABASES = {'default': {}}\n"
		"    return DATABASES\n"
		"\n"
		"class Conf:\n"
		"    DATABASES = {'x': 1}\n"
		"    def m(self):\n"
		"        CACHES = 1\n"
		"async def f():\n"
		"    SECRET_KEY = 'no'\n"
		"@decorator\n"
		"def g(): DEBUG = True\n"
		"@decorator(\n"
		"    arg=1)\n"
		"class H(Base, metaclass=Meta): ALLOWED_HOSTS = []\n",
		{ { 0 } },
		{ { 0 } },
		{ "DATABASES", "CACHES", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS" },
	},
	{
		"module-level binding after a def that assigns the same name",
		"def helper():\n"
		"    DATABASES = 'inner'\n"
		"    if True:\n"
		"        DATABASES = 'inner2'\n"
		"\n"
		"DATABASES = {'default': {'NAME': 'outer'}}\n"
		"def later():\n"
		"    DATABASES['default']['NAME'] = 'patched in a function'\n",
		{ E_STR("DATABASES", "default/NAME", "outer") },
		{ { "DATABASES", 6, false, 0, 0 } },
		{ NULL },
	},
	{
		"DATABASES inside if/else is conditional",
		"import os\n"
		"if os.environ.get('TESTING'):\n"
		"    DATABASES = {\n"
		"        'default': {'ENGINE': 'django.db.backends.sqlite3'},\n"
		"    }\n"
		"else:\n"
		"    DATABASES = {\n"
		"        'default': {'ENGINE': 'django.db.backends.postgresql'},\n"
		"    }\n"
		"DEBUG = False\n",
		{ E_STR("DATABASES", "default/ENGINE", "django.db.backends.postgresql") },
		{ { "DATABASES", 7, true, 0, 0 }, { "DEBUG", 10, false, 0, 0 } },
		{ NULL },
	},
	{
		"re-assigned later: the last one wins",
		"DATABASES = {'default': {'NAME': 'first'}}\n"
		"DATABASES['default']['HOST'] = 'h'\n"
		"DATABASES.update({})\n"
		"from local import *\n"
		"DATABASES = {'default': {'NAME': 'second'}}\n",
		{
			E_STR("DATABASES", "default/NAME", "second"),
			E_N("DATABASES", "default", MS_PY_DICT, 1),
		},
		{ { "DATABASES", 5, false, 0, 0 } },
		{ NULL },
	},
	{
		"subscript patches with literal keys are applied",
		"DATABASES = {\n"
		"    'default': {\n"
		"        'NAME': 'modoboa',\n"
		"        'HOST': '127.0.0.1',\n"
		"    },\n"
		"}\n"
		"DATABASES['default']['HOST'] = '/run/postgresql'\n"
		"DATABASES[\"default\"][\"CONN_MAX_AGE\"] = 60\n"
		"DATABASES['default']['OPTIONS'] = {'sslmode': 'require'}\n"
		"DATABASES['default']['OPTIONS']['sslmode'] = 'verify-full'\n"
		"DATABASES['amavis'] = {'NAME': 'amavis'}\n"
		"DATABASES['default']['PASSWORD'] = os.environ['PW']\n",
		{
			E_LINE("DATABASES", "default/HOST", MS_PY_STR, "/run/postgresql", 7),
			E_INT("DATABASES", "default/CONN_MAX_AGE", "60"),
			E_STR("DATABASES", "default/OPTIONS/sslmode", "verify-full"),
			E_STR("DATABASES", "amavis/NAME", "amavis"),
			E_EXPR("DATABASES", "default/PASSWORD", "os.environ['PW']"),
			E_N("DATABASES", "default", MS_PY_DICT, 5),
			E_STR("DATABASES", "default/@1", "HOST"),
			E_N("DATABASES", NULL, MS_PY_DICT, 2),
		},
		{ { "DATABASES", 1, false, 0, 0 } },
		{ NULL },
	},
	{
		".update() marks the name modified",
		"DATABASES = {'default': {'NAME': 'a'}}\n"
		"DEBUG = True\n"
		"DATABASES['default'].update({'HOST': 'x'})\n"
		"DATABASES.update(amavis={})\n",
		{ E_STR("DATABASES", "default/NAME", "a") },
		{ { "DATABASES", 1, false, 3, 0 }, { "DEBUG", 2, false, 0, 0 } },
		{ NULL },
	},
	{
		"mutations that cannot be applied",
		"DATABASES = {'default': {'NAME': 'a'}}\n"
		"for alias in DATABASES:\n"
		"    DATABASES[alias]['CONN_MAX_AGE'] = 0\n"
		"CACHES = {'default': {}}\n"
		"CACHES[KEY] = 1\n"
		"LOGGING = {'a': 1}\n"
		"LOGGING['missing']['x'] = 1\n"
		"X = {}\n"
		"if DEBUG:\n"
		"    X['a'] = 1\n"
		"del LOGGING['a']\n"
		"Y = {'a': 1}\n"
		"del Z, Y['a']\n"
		"W = {'a': 1}\n"
		"W['a'] += 1\n"
		"V = {'a': 1}\n"
		"V['a'].x = 1\n",
		{
			E_N("X", NULL, MS_PY_DICT, 0),
			E_N("CACHES", NULL, MS_PY_DICT, 1),
			E_INT("W", "a", "1"),
		},
		{
			{ "DATABASES", 1, false, 3, 0 }, { "CACHES", 4, false, 5, 0 },
			{ "LOGGING", 6, false, 7, 0 }, { "X", 8, false, 10, 0 },
			{ "Y", 12, false, 13, 0 }, { "W", 14, false, 15, 0 },
		},
		{ NULL },
	},
	{
		"star imports after the binding",
		"from .base import *\n"
		"DATABASES = {'default': {}}\n"
		"SECRET_KEY = 'k'\n"
		"try:\n"
		"    from .local_settings import *\n"
		"except ImportError:\n"
		"    pass\n"
		"DEBUG = False\n"
		"from .extra import *\n",
		{ E_N("DATABASES", NULL, MS_PY_DICT, 1) },
		{
			{ "DATABASES", 2, false, 0, 5 }, { "SECRET_KEY", 3, false, 0, 5 },
			{ "DEBUG", 8, false, 0, 9 },
		},
		{ NULL },
	},
	{
		"os.environ values are expressions",
		"import os\n"
		"DATABASES = {\n"
		"    'default': {\n"
		"        'ENGINE': 'django.db.backends.postgresql',\n"
		"        'NAME': os.environ['DB_NAME'],\n"
		"        'USER': os.environ.get('DB_USER', 'modoboa'),\n"
		"        'PASSWORD': os.environ.get(\"DB_PASSWORD\"),\n"
		"        'HOST': os.getenv('DB_HOST', default='localhost'),\n"
		"        'PORT': int(os.environ.get('DB_PORT', 5432)),\n"
		"        'ATOMIC_REQUESTS': True,\n"
		"    }\n"
		"}\n",
		{
			E_LINE("DATABASES", "default/NAME", MS_PY_EXPR, "os.environ['DB_NAME']", 5),
			E_EXPR("DATABASES", "default/USER", "os.environ.get('DB_USER', 'modoboa')"),
			E_EXPR("DATABASES", "default/PASSWORD", "os.environ.get(\"DB_PASSWORD\")"),
			E_EXPR("DATABASES", "default/HOST", "os.getenv('DB_HOST', default='localhost')"),
			E_EXPR("DATABASES", "default/PORT", "int(os.environ.get('DB_PORT', 5432))"),
			E_BOOL("DATABASES", "default/ATOMIC_REQUESTS", "True"),
			E_STR("DATABASES", "default/ENGINE", "django.db.backends.postgresql"),
			E_N("DATABASES", "default", MS_PY_DICT, 7),
		},
		{ { "DATABASES", 2, false, 0, 0 } },
		{ NULL },
	},
	{
		"env() and config() helpers are expressions",
		"from decouple import config\n"
		"import environ\n"
		"env = environ.Env()\n"
		"SECRET_KEY = env('SECRET_KEY')\n"
		"DEBUG = config('DEBUG', default=False, cast=bool)\n"
		"DATABASES = {\n"
		"    'default': env.db('DATABASE_URL', default='postgres:///modoboa'),\n"
		"    'amavis': {\n"
		"        'PASSWORD': config('AMAVIS_PW', default='y'),\n"
		"        'NAME': 'amavis',\n"
		"    },\n"
		"}\n",
		{
			E_EXPR("SECRET_KEY", NULL, "env('SECRET_KEY')"),
			E_EXPR("DEBUG", NULL, "config('DEBUG', default=False, cast=bool)"),
			E_EXPR("DATABASES", "default", "env.db('DATABASE_URL', default='postgres:///modoboa')"),
			E_EXPR("DATABASES", "amavis/PASSWORD", "config('AMAVIS_PW', default='y')"),
			E_STR("DATABASES", "amavis/NAME", "amavis"),
			E_EXPR("env", NULL, "environ.Env()"),
		},
		{ { "DATABASES", 6, false, 0, 0 } },
		{ NULL },
	},
	{
		"operators, pathlib and sqlite",
		"from pathlib import Path\n"
		"BASE_DIR = Path(__file__).resolve().parent.parent\n"
		"DATABASES = {\n"
		"    'default': {\n"
		"        'ENGINE': 'django.db.backends.sqlite3',\n"
		"        'NAME': BASE_DIR / 'db.sqlite3',\n"
		"    }\n"
		"}\n"
		"MEDIA_ROOT = os.path.join(BASE_DIR, 'media')\n"
		"X = 'a' + 'b'\n"
		"Y = '%s/x' % BASE_DIR\n"
		"Z = 'a' if DEBUG else 'b'\n"
		"W = [1] * 3\n"
		"V = {'a': 1}['a']\n",
		{
			E_EXPR("DATABASES", "default/NAME", "BASE_DIR / 'db.sqlite3'"),
			E_EXPR("BASE_DIR", NULL, "Path(__file__).resolve().parent.parent"),
			E_EXPR("MEDIA_ROOT", NULL, "os.path.join(BASE_DIR, 'media')"),
			E_EXPR("X", NULL, "'a' + 'b'"),
			E_EXPR("Y", NULL, "'%s/x' % BASE_DIR"),
			E_EXPR("Z", NULL, "'a' if DEBUG else 'b'"),
			E_EXPR("W", NULL, "[1] * 3"),
			E_EXPR("V", NULL, "{'a': 1}['a']"),
		},
		{ { "DATABASES", 3, false, 0, 0 } },
		{ NULL },
	},
	{
		"annotated assignments",
		"from typing import Any, Dict\n"
		"DATABASES: Dict[str, Dict[str, Any]] = {'default': {'NAME': 'modoboa'}}\n"
		"TIMEOUT: int = 30\n"
		"UNSET: str\n",
		{
			E_STR("DATABASES", "default/NAME", "modoboa"),
			E_INT("TIMEOUT", NULL, "30"),
		},
		{ { "DATABASES", 2, false, 0, 0 }, { "TIMEOUT", 3, false, 0, 0 } },
		{ "UNSET", "Dict" },
	},
	{
		"CRLF line endings",
		"DATABASES = {\r\n"
		"    'default': {\r\n"
		"        'NAME': 'modoboa',\r\n"
		"        'PASSWORD': '''a\r\nb''',\r\n"
		"    },\r\n"
		"}\r\n"
		"if True:\r\n"
		"    X = 1\r\n"
		"Y = (1 +\r\n"
		"  2)\r\n"
		"Z = 'a\\\r\nb'\r\n",
		{
			E_STR("DATABASES", "default/NAME", "modoboa"),
			E_LINE("DATABASES", "default/PASSWORD", MS_PY_STR, "a\nb", 4),
			E_EXPR("Y", NULL, "1 + 2"), /* quoted on one line */
			E_STR("Z", NULL, "ab"),
		},
		{ { "DATABASES", 1, false, 0, 0 }, { "X", 9, true, 0, 0 }, { "Z", 12, false, 0, 0 } },
		{ NULL },
	},
	{
		"CR line endings",
		"A = 1\rB = '''x\ry'''\rif A:\r    C = 2\rD = 3\r",
		{ E_STR("B", NULL, "x\ny") },
		{ { "C", 5, true, 0, 0 }, { "D", 6, false, 0, 0 } },
		{ NULL },
	},
	{
		"UTF-8 byte order mark",
		"\xef\xbb\xbf" "DATABASES = {'default': {'NAME': 'bom'}}\n",
		{ E_STR("DATABASES", "default/NAME", "bom") },
		{ { "DATABASES", 1, false, 0, 0 } },
		{ NULL },
	},
	{
		"string escapes",
		"A = 'a\\n\\t\\\\\\'\\\"\\x41\\101\\u00e9\\U0001F600\\z\\\n"
		"b'\n"
		"B = '\\N{EM DASH}'\n"
		"C = '\\ud800'\n"
		"D = '\\7\\a\\b\\f\\v\\r'\n"
		"E = '\\xe9'\n"
		"F = 'modoboa\\0x'\n"
		"G = '\\x00'\n",
		{
			E_STR("A", NULL, "a\n\t\\'\"AA\xc3\xa9\xf0\x9f\x98\x80\\zb"),
			E_EXPR("B", NULL, "'\\N{EM DASH}'"),
			E_EXPR("C", NULL, "'\\ud800'"),
			E_STR("D", NULL, "\a\a\b\f\v\r"),
			E_STR("E", NULL, "\xc3\xa9"),
			E_EXPR("F", NULL, "'modoboa\\0x'"),
			E_EXPR("G", NULL, "'\\x00'"),
		},
		{ { "A", 1, false, 0, 0 }, { "B", 3, false, 0, 0 } },
		{ NULL },
	},
	{
		"bytes literals",
		"A = b'\\x00\\xff'\n"
		"B = rb'\\d' Br\"\\n\"\n"
		"C = b'abc' b\"def\"\n"
		"D = B'\\n\\u1234\\777'\n",
		{
			E_BYTES("A", NULL, "\0\xff", 2),
			E_BYTES("B", NULL, "\\d\\n", 0),
			E_BYTES("C", NULL, "abcdef", 0),
			E_BYTES("D", NULL, "\n\\u1234\xff", 0),
		},
		{ { "D", 4, false, 0, 0 } },
		{ NULL },
	},
	{
		"raw strings",
		"A = r'^\\d+$'\n"
		"B = R'\\''\n"
		"C = r'''a\\\n"
		"b'''\n"
		"D = r\"C:\\new\"\n",
		{
			E_STR("A", NULL, "^\\d+$"),
			E_STR("B", NULL, "\\'"),
			E_STR("C", NULL, "a\\\nb"),
			E_STR("D", NULL, "C:\\new"),
		},
		{ { "D", 5, false, 0, 0 } },
		{ NULL },
	},
	{
		"backslash continuations",
		"SECRET_KEY = \\\n"
		"    'abc'\n"
		"DATABASES = {'default': \\\n"
		"    {'NAME': 'x'}}\n"
		"X = 1 + \\\n"
		"    2\n"
		"Y = 'a' \\\n"
		"    'b'\n"
		"if True and \\\n"
		"   False:\n"
		"    Z = 1\n",
		{
			E_LINE("SECRET_KEY", NULL, MS_PY_STR, "abc", 2),
			E_STR("DATABASES", "default/NAME", "x"),
			E_EXPR("X", NULL, "1 + \\ 2"),
			E_STR("Y", NULL, "ab"),
		},
		{ { "SECRET_KEY", 1, false, 0, 0 }, { "Z", 11, true, 0, 0 } },
		{ NULL },
	},
	{
		"semicolon-separated statements",
		"import os; DEBUG = True; SECRET_KEY = 'a;b'; X = 1;\n"
		"if DEBUG: A = 1; B = {'k': 'v;w'}\n"
		"C = 3 ; D = 4\n",
		{
			E_STR("SECRET_KEY", NULL, "a;b"),
			E_STR("B", "k", "v;w"),
			E_INT("D", NULL, "4"),
		},
		{
			{ "DEBUG", 1, false, 0, 0 }, { "X", 1, false, 0, 0 }, { "A", 2, true, 0, 0 },
			{ "B", 2, true, 0, 0 }, { "C", 3, false, 0, 0 },
		},
		{ NULL },
	},
	{
		"unicode text",
		"# Paramètres généraux — ça marche\n"
		"SITE_NAME = 'Messagerie Société'\n"
		"PASSWORD_HINT = \"пароль ✓\"\n"
		"café = 'x'\n"
		"EMOJI = '\\U0001F4E7'\n",
		{
			E_STR("SITE_NAME", NULL, "Messagerie Société"),
			E_STR("PASSWORD_HINT", NULL, "пароль ✓"),
			E_STR("EMOJI", NULL, "\xf0\x9f\x93\xa7"),
		},
		{ { "café", 4, false, 0, 0 } },
		{ NULL },
	},
	{
		"containers of every shape",
		"EMPTY_T = ()\n"
		"ONE_T = (1,)\n"
		"PAREN = (1)\n"
		"PAREN_S = ('x')\n"
		"BARE = 1, 'a'\n"
		"BARE1 = 'only',\n"
		"SET = {'a', 'b'}\n"
		"EMPTY_D = {}\n"
		"EMPTY_L = []\n"
		"NESTED = [[1, [2, (3, {4: {'five': [6]}})]]]\n",
		{
			E_N("EMPTY_T", NULL, MS_PY_TUPLE, 0),
			E_N("ONE_T", NULL, MS_PY_TUPLE, 1),
			E_INT("PAREN", NULL, "1"),
			E_STR("PAREN_S", NULL, "x"),
			E_N("BARE", NULL, MS_PY_TUPLE, 2),
			E_STR("BARE", "#1", "a"),
			E_N("BARE1", NULL, MS_PY_TUPLE, 1),
			E_N("SET", NULL, MS_PY_SET, 2),
			E_N("EMPTY_D", NULL, MS_PY_DICT, 0),
			E_N("EMPTY_L", NULL, MS_PY_LIST, 0),
			E_INT("NESTED", "#0/#1/#1/#1/@0", "4"),
			E_INT("NESTED", "#0/#1/#1/#1/#0/five/#0", "6"),
		},
		{ { "NESTED", 10, false, 0, 0 } },
		{ NULL },
	},
	{
		"chained assignment shares the value",
		"A = B = {'k': 'v'}\n"
		"A['k'] = 'w'\n"
		"C = D = E = 5\n",
		{ E_STR("B", "k", "w"), E_INT("E", NULL, "5") },
		{ { "A", 1, false, 0, 0 }, { "B", 1, false, 0, 0 }, { "D", 3, false, 0, 0 } },
		{ NULL },
	},
	{
		"try/except around imports",
		"try:\n"
		"    from .local import CACHES\n"
		"except ImportError:\n"
		"    CACHES = {'default': {'BACKEND': 'locmem'}}\n"
		"\n"
		"DATABASES = {'default': {}}\n"
		"try:\n"
		"    from .local import DATABASES\n"
		"except ImportError:\n"
		"    pass\n"
		"finally:\n"
		"    F = 1\n",
		{ E_STR("CACHES", "default/BACKEND", "locmem") },
		{ { "CACHES", 4, true, 0, 0 }, { "DATABASES", 6, false, 8, 0 }, { "F", 12, true, 0, 0 } },
		{ NULL },
	},
	{
		"lambdas, comprehensions and unpacking are expressions",
		"X = lambda a, b=1: a + b\n"
		"Y = [app for app in APPS if app]\n"
		"Z = {k: v for k, v in D.items()}\n"
		"W = {'a': lambda: 1, 'b': 2, 'c': [i for i in range(3)], 'd': (x for x in y)}\n"
		"V = {**BASE, 'extra': 1}\n"
		"U = [*BASE_APPS, 'modoboa_webmail']\n"
		"T = 1 if DEBUG else 2, 3\n"
		"S = not DEBUG\n"
		"R = *A, *B\n"
		"Q = {'a': 1, **B}\n",
		{
			E_EXPR("X", NULL, "lambda a, b=1: a + b"),
			E_EXPR("Y", NULL, "[app for app in APPS if app]"),
			E_EXPR("Z", NULL, "{k: v for k, v in D.items()}"),
			E_EXPR("W", "a", "lambda: 1"),
			E_INT("W", "b", "2"),
			E_EXPR("W", "c", "[i for i in range(3)]"),
			E_EXPR("W", "d", "(x for x in y)"),
			E_EXPR("V", NULL, "{**BASE, 'extra': 1}"),
			E_EXPR("U", NULL, "[*BASE_APPS, 'modoboa_webmail']"),
			E_N("T", NULL, MS_PY_TUPLE, 2),
			E_EXPR("T", "#0", "1 if DEBUG else 2"),
			E_EXPR("S", NULL, "not DEBUG"),
			E_EXPR("R", NULL, "*A, *B"),
			E_EXPR("Q", NULL, "{'a': 1, **B}"),
		},
		{ { "Q", 10, false, 0, 0 } },
		{ NULL },
	},
	{
		"f-strings are expressions",
		"NAME = 'modoboa'\n"
		"A = f'{NAME}_db'\n"
		"B = f\"{NAME!r:>{WIDTH}}\" 'tail'\n"
		"C = f'{DATABASES[\"default\"][\"NAME\"]}'\n"
		"D = rf'\\d{NAME}'\n"
		"E = {'k': f'''{1 + 1}\n"
		"''', 'after': 'ok'}\n"
		"F = f'{{literal}}'\n"
		"G = f'{x:{'\\''}}' if 0 else f\"{'}'}\"\n",
		{
			E_EXPR("A", NULL, "f'{NAME}_db'"),
			E_EXPR("B", NULL, "f\"{NAME!r:>{WIDTH}}\" 'tail'"),
			E_EXPR("C", NULL, "f'{DATABASES[\"default\"][\"NAME\"]}'"),
			E_EXPR("D", NULL, "rf'\\d{NAME}'"),
			E_EXPR("E", "k", "f'''{1 + 1} '''"),
			E_STR("E", "after", "ok"),
			E_EXPR("F", NULL, "f'{{literal}}'"),
		},
		{ { "F", 8, false, 0, 0 }, { "G", 9, false, 0, 0 } },
		{ NULL },
	},
	{
		"one-line compound statements",
		"if DEBUG: X = 1\n"
		"else: X = 2\n"
		"while False: Y = 1\n"
		"for i in range(1): Z = 1\n"
		"class K: W = 1\n"
		"def f(): V = 1\n"
		"with ctx() as c: U = 1\n"
		"try: T = 1\n"
		"except Exception: T = 2\n"
		"S = 0\n",
		{ E_INT("X", NULL, "2") },
		{
			{ "X", 2, true, 0, 0 }, { "Y", 3, true, 0, 0 }, { "Z", 4, true, 0, 0 },
			{ "U", 7, true, 0, 0 }, { "T", 9, true, 0, 0 }, { "S", 10, false, 0, 0 },
		},
		{ "W", "V" },
	},
	{
		"nested blocks",
		"if True:\n"
		"    def inner():\n"
		"        A = 1\n"
		"    B = 2\n"
		"    if DEBUG:\n"
		"        class C:\n"
		"            D = 3\n"
		"        E = 4\n"
		"F = 5\n"
		"def outer():\n"
		"    if True:\n"
		"        G = 6\n"
		"    H = (\n"
		"7)\n"
		"I = 8\n",
		{ E_INT("I", NULL, "8") },
		{ { "B", 4, true, 0, 0 }, { "E", 8, true, 0, 0 }, { "F", 9, false, 0, 0 }, { "I", 15, false, 0, 0 } },
		{ "A", "D", "G", "H" },
	},
	{
		"tuple unpacking",
		"A, B = 1, 'two'\n"
		"(C, D) = [3, 4]\n"
		"E, F = get()\n"
		"G, *H = 1, 2, 3\n"
		"[I, J,] = 'ij'\n",
		{
			E_INT("A", NULL, "1"),
			E_STR("B", NULL, "two"),
			E_INT("D", NULL, "4"),
			E_EXPR("E", NULL, "get()"),
			E_EXPR("F", NULL, "get()"),
		},
		{ { "C", 2, false, 0, 0 } },
		{ "G", "H", "I", "J" },
	},
	{
		"imports that rebind a name",
		"DATABASES = {'default': {}}\n"
		"CACHES = {}\n"
		"LOGGING = {}\n"
		"from .local import DATABASES\n"
		"from .other import (CACHES as C2,\n"
		"                    LOGGING)\n"
		"import json as CACHES\n",
		{ E_N("DATABASES", NULL, MS_PY_DICT, 1) },
		{ { "DATABASES", 1, false, 4, 0 }, { "LOGGING", 3, false, 5, 0 }, { "CACHES", 2, false, 7, 0 } },
		{ "C2", "json" },
	},
	{
		"python 2 era settings",
		"# -*- coding: utf-8 -*-\n"
		"DATABASES = {\n"
		"    u'default': {\n"
		"        u'ENGINE': u'django.db.backends.postgresql_psycopg2',\n"
		"        u'NAME': u'modoboa',\n"
		"        u'PASSWORD': U'p\\xe4ss',\n"
		"    }\n"
		"}\n"
		"print 'settings loaded'\n",
		{
			E_STR("DATABASES", "default/ENGINE", "django.db.backends.postgresql_psycopg2"),
			E_STR("DATABASES", "default/PASSWORD", "p\xc3\xa4ss"),
		},
		{ { "DATABASES", 2, false, 0, 0 } },
		{ NULL },
	},
	{
		"duplicate keys: last value at the first position",
		"DATABASES = {\n"
		"    'default': {'NAME': 'one'},\n"
		"    'amavis': {},\n"
		"    'default': {'NAME': 'two'},\n"
		"    \"amavis\": {'NAME': 'amavis'},\n"
		"}\n",
		{
			E_N("DATABASES", NULL, MS_PY_DICT, 2),
			E_STR("DATABASES", "@0", "default"),
			E_STR("DATABASES", "default/NAME", "two"),
			E_STR("DATABASES", "#1/NAME", "amavis"),
		},
		{ { "DATABASES", 1, false, 0, 0 } },
		{ NULL },
	},
	{
		"match statement and match as a name",
		"match ENVIRONMENT:\n"
		"    case 'prod':\n"
		"        DEBUG = False\n"
		"    case _:\n"
		"        DEBUG = True\n"
		"match = 'not a keyword'\n"
		"case: int = 1\n",
		{ E_BOOL("DEBUG", NULL, "True") },
		{ { "DEBUG", 5, true, 0, 0 }, { "match", 6, false, 0, 0 }, { "case", 7, false, 0, 0 } },
		{ NULL },
	},
	{
		"arbitrary python around the settings",
		ARBITRARY_PYTHON,
		{
			E_N("LANGUAGES", NULL, MS_PY_TUPLE, 2),
			E_EXPR("LANGUAGES", "#1/#1", "_('French')"),
			E_STR("DATABASE_ROUTERS", "#0", "instance.settings.Router"),
			E_NONE("LOGGING_CONFIG", NULL),
			E_EXPR("X", NULL, "[y async for y in z] if False else []"),
			E_EXPR("F", NULL, "f'{LANGUAGES[0][0]!r:>{10}}' rf\"\\d{{x}}\""),
			E_EXPR("G", NULL, "lambda *a, **k: {'a': a, 'k': k}"),
		},
		{ { "global_counter", 32, false, 33, 0 }, { "DATABASE_ROUTERS", 36, false, 0, 0 } },
		{ "route_app_labels", "read_secret", "Router" },
	},
	{
		"tabs and form feeds in indentation",
		"if True:\n"
		"\tA = 1\n"
		"\f\n"
		"B = 2\n"
		"\fC = 3\n",
		{ E_INT("A", NULL, "1") },
		{ { "A", 2, true, 0, 0 }, { "B", 4, false, 0, 0 }, { "C", 5, false, 0, 0 } },
		{ NULL },
	},
	{
		"latin-1 coding declaration",
		"#!/usr/bin/env python\n"
		"# -*- coding: latin-1 -*-\n"
		"SITE = 'caf\xe9'\n"
		"RAW = r'\xe9\\\\'\n",
		{ E_STR("SITE", NULL, "caf\xc3\xa9"), E_STR("RAW", NULL, "\xc3\xa9\\\\") },
		{ { "SITE", 3, false, 0, 0 } },
		{ NULL },
	},
	{
		"other coding declarations",
		"# vim: set fileencoding=iso-8859-5 :\n"
		"X = '\xd0\xd1'\n"
		"Y = 'ascii'\n",
		{ E_EXPR("X", NULL, "'\xd0\xd1'"), E_STR("Y", NULL, "ascii") },
		{ { "Y", 3, false, 0, 0 } },
		{ NULL },
	},
	{
		"a file without a final newline",
		"DATABASES = {'default': {'NAME': 'x'}}  # no newline",
		{ E_STR("DATABASES", "default/NAME", "x") },
		{ { "DATABASES", 1, false, 0, 0 } },
		{ NULL },
	},
};

static void check_exp(const struct ms_pysettings *s, const struct exp *e)
{
	struct ms_py_binding b;
	const struct ms_py_value *v;
	size_t len;

	if (ms_pysettings_lookup(s, e->name, &b) != 0)
		fail_msg("'%s' is not bound", e->name);
	v = walk_path(b.value, e->path);
	if (v->type != e->type)
		fail_msg("%s %s: %s, expected %s", e->name, e->path ? e->path : "", ms_py_type_name(v->type),
			 ms_py_type_name(e->type));
	if (e->type == MS_PY_BOOL && e->str)
		assert_int_equal(v->boolean, strcmp(e->str, "True") == 0);
	if (e->str && e->type != MS_PY_BOOL) {
		len = e->len ? e->len : strlen(e->str);
		assert_non_null(v->str);
		if (v->len != len || memcmp(v->str, e->str, len) != 0)
			fail_msg("%s %s: got [%s] (len %zu), expected [%s]", e->name, e->path ? e->path : "",
				 v->str, v->len, e->str);
		assert_int_equal(v->str[v->len], '\0');
	}
	if (e->n != NO_N)
		assert_int_equal(v->n, (size_t)e->n);
	if (e->line)
		assert_int_equal(v->line, e->line);
}

static void check_bind(const struct ms_pysettings *s, const struct bexp *be)
{
	struct ms_py_binding b;

	if (ms_pysettings_lookup(s, be->name, &b) != 0)
		fail_msg("'%s' is not bound", be->name);
	assert_non_null(b.value);
	if (b.line != be->line || b.conditional != be->conditional || b.modified_line != be->modified_line ||
	    b.star_import_line != be->star_import_line)
		fail_msg("%s: line %d cond %d modified %d star %d, expected %d %d %d %d", be->name, b.line,
			 b.conditional, b.modified_line, b.star_import_line, be->line, be->conditional,
			 be->modified_line, be->star_import_line);
}

static void test_ok_case(void **state)
{
	const struct ok_case *c = *state;
	char err[1024];
	struct ms_pysettings *s = parse_capture(c->src, strlen(c->src), err, sizeof(err));
	struct ms_py_binding b;

	if (!s)
		fail_msg("%s: parse failed: %s", c->title, err);
	assert_string_equal(err, "");
	for (size_t i = 0; i < ARRAY_SIZE(c->exps) && c->exps[i].name; i++)
		check_exp(s, &c->exps[i]);
	for (size_t i = 0; i < ARRAY_SIZE(c->binds) && c->binds[i].name; i++)
		check_bind(s, &c->binds[i]);
	for (size_t i = 0; i < ARRAY_SIZE(c->absent) && c->absent[i]; i++)
		if (ms_pysettings_lookup(s, c->absent[i], &b) == 0)
			fail_msg("'%s' should not be bound (line %d)", c->absent[i], b.line);
	ms_pysettings_free(s);
}

/* ------------------------------------------------------------------------
 * Settings that do not parse
 */

struct bad_case {
	const char *title;
	const char *src;
	size_t len; /* 0: strlen(src) */
	const char *message;
};

#define ERR(line, what) "modosnap: error: 'settings.py':" #line ": syntax error: " what "\n"

static const struct bad_case bad_cases[] = {
	{ "unterminated string in a dict",
	  "DATABASES = {\n    'default': {\n        'NAME': 'modoboa,\n    },\n}\n", 0,
	  ERR(3, "unterminated string") },
	{ "unterminated triple-quoted string reports its start",
	  "X = 1\nDOC = '''abc\n\nDATABASES = {}\n", 0, ERR(2, "unterminated string") },
	{ "unexpected closing bracket", "X = 1\nY = 1)\n", 0, ERR(2, "unexpected ')'") },
	{ "mismatched bracket", "X = [1,\n 2)\n", 0, ERR(2, "closing ')' does not match '[' on line 1") },
	{ "dict never closed",
	  "DATABASES = {\n    'default': {\n        'NAME': 'x',\n    },\n", 0, ERR(1, "'{' never closed") },
	{ "innermost bracket never closed", "X = 1\nY = {'a': (1,\n 2,\n", 0, ERR(2, "'(' never closed") },
	{ "dict value missing", "X = {'a': }\n", 0, ERR(1, "unexpected '}'") },
	{ "two values in a row", "X = {'a' 'b': 1 2}\n", 0, ERR(1, "expected ',' or '}' in dict") },
	{ "missing colon in dict", "X = {\n 'a': 1,\n 'b' 2,\n}\n", 0, ERR(3, "expected ':' in dict") },
	{ "key without value", "X = {'a': 1, 'b'}\n", 0, ERR(1, "expected ':' in dict") },
	{ "missing comma between entries",
	  "DATABASES = {\n    'default': {\n        'NAME': 'x'\n        'HOST': 'y',\n    },\n}\n", 0,
	  ERR(4, "expected ',' or '}' in dict") },
	{ "missing comma in a list", "X = [\n 'a'\n 1,\n]\n", 0, ERR(3, "expected ',' or ']'") },
	{ "missing comma in a set", "X = {1, 2 3}\n", 0, ERR(1, "expected ',' or '}'") },
	{ "bytes and str mixed", "X = (b'a'\n 'b')\n", 0, ERR(2, "cannot mix bytes and str literals") },
	{ "truncated hex escape", "X = 1\nY = '\\x4'\n", 0, ERR(2, "truncated \\xXX escape") },
	{ "unicode escape out of range", "X = '\\U00110000'\n", 0, ERR(1, "\\U escape out of range") },
	{ "python 2 octal", "FILE_UPLOAD_PERMISSIONS = 0644\n", 0,
	  ERR(1, "leading zeros in decimal integer literals are not permitted") },
	{ "bad digit", "X = 0o78\n", 0, ERR(1, "invalid octal literal") },
	{ "invalid character", "X = $1\n", 0, ERR(1, "invalid character '$'") },
	{ "character after continuation", "X = 1 + \\ 2\n", 0,
	  ERR(1, "unexpected character after line continuation") },
	{ "continuation at end of file", "X = 1\nY = 1 + \\\n", 0,
	  ERR(2, "unexpected end of file after line continuation") },
	{ "unterminated string in a function body", "def f():\n    return 'abc\nX = 1\n", 0,
	  ERR(2, "unterminated string") },
	{ "empty list item", "X = [1, , 2]\n", 0, ERR(1, "unexpected ','") },
	{ "missing value", "X =\n", 0, ERR(1, "unexpected end of line") },
	{ "missing value before semicolon", "X = ; Y = 1\n", 0, ERR(1, "unexpected ';'") },
	{ "double equals sign", "X = = 1\n", 0, ERR(1, "unexpected '='") },
	{ "two numbers", "PORT = 5432 5433\n", 0, ERR(1, "unexpected number") },
	{ "expression ends with an operator", "X = 1 +\n", 0, ERR(1, "unexpected end of line") },
	{ "CRLF line numbers", "X = 1\r\nY = {\r\n 'a' 1}\r\n", 0, ERR(3, "expected ':' in dict") },
	{ "BOM then an error", "\xef\xbb\xbfX = (\n", 0, ERR(1, "'(' never closed") },
	{ "unterminated f-string field", "X = 1\nY = f'{a'\n", 0, ERR(2, "unterminated string") },
	{ "NUL byte", "X = 1\nY = 'a\0b'\n", 16, ERR(2, "source code cannot contain null bytes") },
	{ "non-ascii in bytes", "X = b'caf\xc3\xa9'\n", 0, ERR(1, "bytes can only contain ascii literal characters") },
	{ "invalid utf-8 in a string", "X = 'caf\xe9'\n", 0, ERR(1, "invalid utf-8 in string") },
	{ "colon in a statement", "X = 'a' : 'b'\n", 0, ERR(1, "unexpected ':'") },
	{ "nesting too deep",
	  "X = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	  "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	  "[[[\n", 0, ERR(1, "nesting too deep") }, /* 201 brackets */
};

static void test_bad_case(void **state)
{
	const struct bad_case *c = *state;
	char err[1024];
	struct ms_pysettings *s = parse_capture(c->src, c->len ? c->len : strlen(c->src), err, sizeof(err));

	if (s) {
		ms_pysettings_free(s);
		fail_msg("%s: parsed, expected: %s", c->title, c->message);
	}
	assert_string_equal(err, c->message);
}

/* ------------------------------------------------------------------------
 * Other entry points
 */

static void test_dict_get(void **state)
{
	static const char src[] =
		"D = {'a': 1, b'a': 2, 1: 3, 'x\\0y': 4, 'b': {'c': 'd'}}\n"
		"L = ['a']\n";
	struct ms_pysettings *s = ms_pysettings_parse("settings.py", src, strlen(src));
	struct ms_py_binding d, l;
	const struct ms_py_value *v;

	(void)state;
	assert_non_null(s);
	assert_int_equal(ms_pysettings_lookup(s, "D", &d), 0);
	assert_int_equal(ms_pysettings_lookup(s, "L", &l), 0);
	v = ms_py_dict_get(d.value, "a");
	assert_non_null(v);
	assert_string_equal(v->str, "1"); /* the str key, not b'a' */
	assert_null(ms_py_dict_get(d.value, "x")); /* 'x\0y' is not "x" */
	assert_null(ms_py_dict_get(d.value, "missing"));
	assert_null(ms_py_dict_get(d.value, "1")); /* int key */
	assert_string_equal(ms_py_dict_get(ms_py_dict_get(d.value, "b"), "c")->str, "d");
	assert_null(ms_py_dict_get(l.value, "a")); /* not a dict */
	assert_null(ms_py_dict_get(NULL, "a"));
	assert_int_equal(d.value->n, 5);
	assert_int_equal(ms_pysettings_lookup(s, "nope", &d), -1);
	ms_pysettings_free(s);
}

static void test_type_names(void **state)
{
	static const struct {
		enum ms_py_type t;
		const char *name;
	} names[] = {
		{ MS_PY_NONE, "None" }, { MS_PY_BOOL, "boolean" }, { MS_PY_INT, "integer" },
		{ MS_PY_FLOAT, "float" }, { MS_PY_STR, "string" }, { MS_PY_BYTES, "bytes" },
		{ MS_PY_LIST, "list" }, { MS_PY_TUPLE, "tuple" }, { MS_PY_SET, "set" },
		{ MS_PY_DICT, "dict" }, { MS_PY_EXPR, "expression" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		assert_string_equal(ms_py_type_name(names[i].t), names[i].name);
	assert_string_equal(ms_py_type_name((enum ms_py_type)99), "unknown");
}

static char *write_temp(const char *content, size_t len)
{
	char *path = ms_xstrdup("/tmp/test_pysettings.XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	close(fd);
	return path;
}

static void test_load(void **state)
{
	static const char good[] = "DATABASES = {\r\n  'default': {'NAME': 'file'},\r\n}\r\n";
	static const char bad[] = "X = 1\nY = {\n";
	char *path = write_temp(good, strlen(good)), *want, *err;
	struct ms_pysettings *s = ms_pysettings_load(path);
	struct ms_py_binding b;

	(void)state;
	assert_non_null(s);
	assert_int_equal(ms_pysettings_lookup(s, "DATABASES", &b), 0);
	assert_string_equal(ms_py_dict_get(ms_py_dict_get(b.value, "default"), "NAME")->str, "file");
	ms_pysettings_free(s);
	unlink(path);
	free(path);
	ms_pysettings_free(NULL);

	/* errors name the path, for syntax and for I/O alike */
	path = write_temp(bad, strlen(bad));
	want = ms_xasprintf("modosnap: error: '%s':2: syntax error: '{' never closed\n"
			    "modosnap: error: unable to open '/nonexistent/settings.py': No such file or directory\n",
			    path);
	capture_start();
	assert_null(ms_pysettings_load(path));
	assert_null(ms_pysettings_load("/nonexistent/settings.py"));
	err = capture_end();
	assert_string_equal(err, want);
	free(err);
	free(want);
	unlink(path);
	free(path);
}

/* ------------------------------------------------------------------------
 * Robustness
 */

static const char realistic[] = MODOBOA_GENERATED ARBITRARY_PYTHON
	"DATABASES['default']['HOST'] = \"/run/postgresql\"  # patched\r\n"
	"if DEBUG: DATABASES['default'].update(HOST='x'); X = b'\\x00' rb'\\d'\n"
	"Y = '''tri\\\nple''' f\"{x!r}\" '\\N{DASH}' '\\u00e9'\n"
	"from .local import *\n";

/* Parses while stderr is captured. *ok tells whether the outcome was
 * consistent: a handle and nothing logged, or NULL and exactly one
 * "'settings.py':LINE: syntax error: ..." line. */
static void parse_quiet(const char *src, size_t len, bool *ok)
{
	static const char prefix[] = "modosnap: error: 'settings.py':";
	long before = capture_size(), written;
	struct ms_pysettings *s = ms_pysettings_parse("settings.py", src, len);
	struct ms_py_binding b;
	char *msg;

	written = capture_size() - before;
	*ok = s ? written == 0 : written > 0 && written < 512;
	if (s) {
		if (ms_pysettings_lookup(s, "DATABASES", &b) == 0)
			(void)ms_py_dict_get(b.value, "default");
		ms_pysettings_free(s);
	}
	if (!s && *ok) {
		msg = capture_since(before);
		*ok = strncmp(msg, prefix, sizeof(prefix) - 1) == 0 && strchr(msg, '\n') == msg + written - 1 &&
		      strstr(msg, ": syntax error: ") != NULL;
		free(msg);
	}
}

/* Every truncation of a realistic file: parses, or logs exactly one line.
 * Copies are exactly sized so that ASan catches any read past the end. */
static void test_every_prefix(void **state)
{
	size_t n = sizeof(realistic) - 1, failures = 0;

	(void)state;
	capture_start();
	for (size_t len = 0; len <= n; len++) {
		char *copy = ms_xmalloc(len ? len : 1);
		bool ok;

		memcpy(copy, realistic, len);
		parse_quiet(copy, len, &ok);
		if (!ok)
			failures++;
		free(copy);
	}
	free(capture_end());
	assert_int_equal(failures, 0);
	{
		struct ms_pysettings *s = ms_pysettings_parse("settings.py", realistic, n);
		struct ms_py_binding b;

		assert_non_null(s);
		assert_int_equal(ms_pysettings_lookup(s, "DATABASES", &b), 0);
		assert_string_equal(ms_py_dict_get(ms_py_dict_get(b.value, "default"), "HOST")->str,
				    "/run/postgresql");
		assert_int_equal(b.modified_line, 93);
		assert_int_equal(b.star_import_line, 96);
		ms_pysettings_free(s);
	}
}

/* Seeded random edits with the characters that matter to a tokeniser. */
static void test_mutations(void **state)
{
	static const char alphabet[] = "'\"\\#()[]{}:,;=\n\r \tbrfu0x.*-\xc3\xa9\xef";
	size_t n = sizeof(realistic) - 1, failures = 0;
	uint32_t seed = 12345;

	(void)state;
	capture_start();
	for (int iter = 0; iter < 3000; iter++) {
		char *copy = ms_xmalloc(n + 8);
		size_t len = n;
		bool ok;

		memcpy(copy, realistic, n);
		for (int k = 0; k < 1 + iter % 4; k++) {
			size_t at;
			char ch;

			seed = seed * 1103515245u + 12345u;
			at = (seed >> 8) % len;
			ch = alphabet[(seed >> 20) % (sizeof(alphabet) - 1)];
			if (k % 3 == 2 && len > 1) {
				memmove(copy + at, copy + at + 1, len - at - 1); /* delete */
				len--;
			} else if (k % 3 == 1 && len < n + 4) {
				memmove(copy + at + 1, copy + at, len - at); /* insert */
				copy[at] = ch;
				len++;
			} else {
				copy[at] = ch; /* replace */
			}
		}
		parse_quiet(copy, len, &ok);
		if (!ok)
			failures++;
		free(copy);
	}
	free(capture_end());
	assert_int_equal(failures, 0);
}

/* 200 brackets are fine, more are refused without deep recursion. */
static void test_deep_nesting(void **state)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	struct ms_pysettings *s;
	struct ms_py_binding b;
	const struct ms_py_value *v;
	char err[1024];

	(void)state;
	ms_strbuf_addstr(&sb, "X = ");
	for (int i = 0; i < 200; i++)
		ms_strbuf_addch(&sb, '[');
	ms_strbuf_addstr(&sb, "1");
	for (int i = 0; i < 200; i++)
		ms_strbuf_addch(&sb, ']');
	ms_strbuf_addch(&sb, '\n');
	s = parse_capture(sb.buf, sb.len, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(ms_pysettings_lookup(s, "X", &b), 0);
	v = b.value;
	for (int i = 0; i < 200; i++) {
		assert_int_equal(v->type, MS_PY_LIST);
		assert_int_equal(v->n, 1);
		v = v->items[0];
	}
	assert_int_equal(v->type, MS_PY_INT);
	assert_string_equal(v->str, "1");
	ms_pysettings_free(s);

	ms_strbuf_reset(&sb);
	ms_strbuf_addstr(&sb, "X = 1\nY = ");
	for (int i = 0; i < 100000; i++)
		ms_strbuf_addch(&sb, '{');
	s = parse_capture(sb.buf, sb.len, err, sizeof(err));
	assert_null(s);
	assert_string_equal(err, ERR(2, "nesting too deep"));

	ms_strbuf_reset(&sb);
	ms_strbuf_addstr(&sb, "X = ");
	for (int i = 0; i < 5000; i++)
		ms_strbuf_addstr(&sb, "f'{");
	s = parse_capture(sb.buf, sb.len, err, sizeof(err));
	assert_null(s);
	assert_string_equal(err, ERR(1, "nesting too deep"));

	ms_strbuf_reset(&sb);
	for (int i = 0; i < 300; i++) {
		for (int k = 0; k < i; k++)
			ms_strbuf_addch(&sb, ' ');
		ms_strbuf_addstr(&sb, "if x:\n");
	}
	s = parse_capture(sb.buf, sb.len, err, sizeof(err));
	assert_null(s);
	assert_string_equal(err, ERR(201, "nesting too deep"));
	ms_strbuf_release(&sb);
}

/* An expression's text is what messages quote: one line of at most
 * MS_PY_EXPR_QUOTE_MAX bytes plus "...", never cut inside a UTF-8
 * character, control bytes shown as '?'. A 1 MB expression stays short. */
static void test_expr_excerpt(void **state)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	struct ms_pysettings *s;
	struct ms_py_binding b;
	char want[128];

	(void)state;
	ms_strbuf_addstr(&sb, "X = f(");
	for (int i = 0; i < 500000; i++)
		ms_strbuf_addstr(&sb, "1+");
	ms_strbuf_addstr(&sb, "1)\n");
	s = ms_pysettings_parse("settings.py", sb.buf, sb.len);
	assert_non_null(s);
	assert_int_equal(ms_pysettings_lookup(s, "X", &b), 0);
	assert_int_equal(b.value->type, MS_PY_EXPR);
	snprintf(want, sizeof(want), "f(%.*s...", MS_PY_EXPR_QUOTE_MAX - 2,
		 "1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+");
	assert_string_equal(b.value->str, want);
	assert_int_equal(b.value->len, MS_PY_EXPR_QUOTE_MAX + 3);
	ms_pysettings_free(s);

	/* 79 ASCII bytes, then a 3-byte character across the limit */
	ms_strbuf_reset(&sb);
	ms_strbuf_addstr(&sb, "X = g(");
	for (int i = 0; i < 75; i++)
		ms_strbuf_addch(&sb, 'a');
	ms_strbuf_addstr(&sb, ", '\xe2\x82\xac\xe2\x82\xac')\n"); /* "€€" */
	s = ms_pysettings_parse("settings.py", sb.buf, sb.len);
	assert_non_null(s);
	assert_int_equal(ms_pysettings_lookup(s, "X", &b), 0);
	assert_int_equal(b.value->type, MS_PY_EXPR);
	snprintf(want, sizeof(want), "g(%.75s, '...", sb.buf + 6);
	assert_string_equal(b.value->str, want);
	ms_pysettings_free(s);

	/* line breaks with their indentation become one space; a control
	 * byte inside a string is not copied to a terminal */
	ms_strbuf_reset(&sb);
	ms_strbuf_addstr(&sb, "X = h(1,\r\n    2,   \n\n  '\x1b[2J')\n");
	s = ms_pysettings_parse("settings.py", sb.buf, sb.len);
	assert_non_null(s);
	assert_int_equal(ms_pysettings_lookup(s, "X", &b), 0);
	assert_string_equal(b.value->str, "h(1, 2, '?[2J')");
	ms_pysettings_free(s);
	ms_strbuf_release(&sb);
}

/* Many names and a large dict with repeated keys stay fast. */
static void test_many_names(void **state)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	struct ms_pysettings *s;
	struct ms_py_binding b;
	char name[32];

	(void)state;
	for (int i = 0; i < 20000; i++)
		ms_strbuf_addf(&sb, "NAME_%d = %d\n", i, i);
	ms_strbuf_addstr(&sb, "BIG = {\n");
	for (int i = 0; i < 50000; i++)
		ms_strbuf_addf(&sb, "  'k%d': %d,\n", i % 25000, i);
	ms_strbuf_addstr(&sb, "}\n");
	s = ms_pysettings_parse("settings.py", sb.buf, sb.len);
	assert_non_null(s);
	for (int i = 0; i < 20000; i += 997) {
		snprintf(name, sizeof(name), "NAME_%d", i);
		assert_int_equal(ms_pysettings_lookup(s, name, &b), 0);
		assert_int_equal(b.line, i + 1);
	}
	assert_int_equal(ms_pysettings_lookup(s, "BIG", &b), 0);
	assert_int_equal(b.value->n, 25000);
	assert_string_equal(b.value->keys[7]->str, "k7");
	assert_string_equal(ms_py_dict_get(b.value, "k7")->str, "25007");
	ms_pysettings_free(s);
	ms_strbuf_release(&sb);
}

int main(void)
{
	static const struct CMUnitTest others[] = {
		cmocka_unit_test(test_dict_get),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_every_prefix),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_many_names),
		cmocka_unit_test(test_expr_excerpt),
	};
	struct CMUnitTest tests[ARRAY_SIZE(ok_cases) + ARRAY_SIZE(bad_cases) + ARRAY_SIZE(others)];
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(ok_cases); i++) {
		struct CMUnitTest t = { ok_cases[i].title, test_ok_case, NULL, NULL, (void *)&ok_cases[i] };

		tests[n++] = t;
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		struct CMUnitTest t = { bad_cases[i].title, test_bad_case, NULL, NULL, (void *)&bad_cases[i] };

		tests[n++] = t;
	}
	for (size_t i = 0; i < ARRAY_SIZE(others); i++)
		tests[n++] = others[i];
	return cmocka_run_group_tests_name("pysettings", tests, NULL, NULL);
}
