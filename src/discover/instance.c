/*
 * Discovery of one Modoboa installation (see instance.h): reads settings.py
 * through the literal-only reader, merges the config file over it, and
 * locates the Postfix directory and the virtualenv.
 */
#include "discover/instance.h"
#include "discover/config.h"
#include "discover/distinfo.h"
#include "discover/postfix.h"
#include "discover/pysettings.h"
#include "base/strbuf.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define MS_SETTINGS_MAX (4u << 20) /* settings.py larger than 4 MiB is not a settings file */

const char *ms_source_name(enum ms_source s)
{
	switch (s) {
	case MS_SRC_CLI: return "command line";
	case MS_SRC_CONFIG: return "config file";
	case MS_SRC_DISCOVERED: return "discovered";
	default: return "default";
	}
}

/* Picks command line > config > default and makes the path absolute. */
static char *pick_dir(const char *cli, const char *cfg, const char *def, enum ms_source *src)
{
	const char *p = def;
	char *abs;

	*src = MS_SRC_DEFAULT;
	if (cfg) {
		p = cfg;
		*src = MS_SRC_CONFIG;
	}
	if (cli) {
		p = cli;
		*src = MS_SRC_CLI;
	}
	abs = realpath(p, NULL);
	return abs ? abs : ms_xstrdup(p);
}

/* The settings module named in manage.py (DJANGO_SETTINGS_MODULE), as a
 * path below the instance directory, or NULL. */
static char *settings_from_manage_py(const char *dir)
{
	char *manage = ms_path_join(dir, "manage.py");
	char *text = ms_is_file(manage) ? ms_read_file(manage, MS_SETTINGS_MAX, NULL) : NULL;
	char *path = NULL;
	const char *p;

	free(manage);
	if (!text || !(p = strstr(text, "DJANGO_SETTINGS_MODULE")))
		goto out;
	p += strlen("DJANGO_SETTINGS_MODULE");
	while (*p && strchr("'\", \t", *p))
		p++;
	if (p[-1] != '\'' && p[-1] != '"')
		goto out;
	size_t n = strcspn(p, "'\"\n");
	if (n == 0 || n > 200 || (p[n] != '\'' && p[n] != '"'))
		goto out;
	struct ms_strbuf sb = MS_STRBUF_INIT;
	for (size_t i = 0; i < n; i++)
		ms_strbuf_addch(&sb, p[i] == '.' ? '/' : p[i]);
	ms_strbuf_addstr(&sb, ".py");
	path = ms_path_join(dir, ms_strbuf_str(&sb));
	ms_strbuf_release(&sb);
out:
	free(text);
	return path;
}

static int find_settings(struct ms_instance *inst)
{
	char *p = settings_from_manage_py(inst->dir);

	if (!p)
		p = ms_path_join(inst->dir, "instance/settings.py");
	inst->settings_path = p;
	return 0;
}

/* Context for reading one DATABASES alias. */
struct db_reader {
	const char *settings;          /* settings.py path, for messages */
	const char *alias;
	const struct ms_py_value *dict; /* the alias' dict, NULL when only in config */
	const struct ms_config_db *cfg; /* config section, or NULL */
	int line;
};

/* Reads one string-like key. The config value wins; a settings value must
 * be a literal. *out is set to NULL when the key is absent everywhere.
 * Returns -1 after logging when the value cannot be resolved. */
static int read_key(const struct db_reader *r, const char *key, const char *cfg_key,
		    const char *cfg_value, char **out)
{
	const struct ms_py_value *v = r->dict ? ms_py_dict_get(r->dict, key) : NULL;

	*out = NULL;
	if (cfg_value) {
		*out = ms_xstrdup(cfg_value);
		return 0;
	}
	if (!v)
		return 0;
	switch (v->type) {
	case MS_PY_STR:
	case MS_PY_INT:
		*out = ms_xstrdup(v->str);
		return 0;
	case MS_PY_NONE:
		*out = ms_xstrdup("");
		return 0;
	default:
		break;
	}
	/* The expression of a PASSWORD may hold the password itself
	 * (os.environ.get('X', 'fallback')): it is never shown. */
	if (v->type == MS_PY_EXPR && strcmp(cfg_key, "password") == 0)
		return ms_log_error("'%s':%d: cannot resolve DATABASES['%s']['%s'] (an expression) without running "
				    "Python; set it in the config file: [db:%s] password_file = FILE",
				    r->settings, v->line, r->alias, key, r->alias);
	if (v->type == MS_PY_EXPR)
		return ms_log_error("'%s':%d: cannot resolve DATABASES['%s']['%s'] = %s without running Python; "
				    "set it in the config file: [db:%s] %s = VALUE",
				    r->settings, v->line, r->alias, key, v->str, r->alias, cfg_key);
	return ms_log_error("'%s':%d: DATABASES['%s']['%s'] is a %s, expected a string",
			    r->settings, v->line, r->alias, key, ms_py_type_name(v->type));
}

static int resolve_engine(const struct db_reader *r, struct ms_dbconf *db)
{
	const char *e = db->engine_setting;

	if (!e)
		return ms_log_error("'%s':%d: DATABASES['%s'] has no ENGINE", r->settings, r->line, r->alias);
	if (strcmp(e, "django.db.backends.postgresql") == 0 ||
	    strcmp(e, "django.db.backends.postgresql_psycopg2") == 0 || strcmp(e, "postgresql") == 0) {
		db->engine = MS_DB_POSTGRESQL;
		return 0;
	}
	if (strcmp(e, "django.db.backends.mysql") == 0 || strcmp(e, "mysql") == 0) {
		db->engine = MS_DB_MYSQL;
		return 0;
	}
	if (strcmp(e, "django.db.backends.sqlite3") == 0)
		return ms_log_error("'%s':%d: DATABASES['%s'] uses SQLite ('%s'), which modosnap does not support "
				    "(PostgreSQL and MariaDB/MySQL only)", r->settings, r->line, r->alias, e);
	return ms_log_error("'%s':%d: DATABASES['%s']['ENGINE'] is '%s', which modosnap does not support "
			    "(expected django.db.backends.postgresql or django.db.backends.mysql)",
			    r->settings, r->line, r->alias, e);
}

static void dbconf_clear(struct ms_dbconf *db)
{
	free(db->alias);
	free(db->engine_setting);
	free(db->name);
	free(db->user);
	free(db->host);
	free(db->port);
	ms_free_secret(db->password);
	memset(db, 0, sizeof(*db));
}

/* MySQL's OPTIONS may name the socket instead of HOST. */
static void apply_mysql_options(const struct db_reader *r, struct ms_dbconf *db)
{
	const struct ms_py_value *opts = r->dict ? ms_py_dict_get(r->dict, "OPTIONS") : NULL;
	const struct ms_py_value *sock = opts ? ms_py_dict_get(opts, "unix_socket") : NULL;

	if (sock && sock->type == MS_PY_STR && (!r->cfg || !r->cfg->host) && !*db->host) {
		free(db->host);
		db->host = ms_xstrdup(sock->str);
	}
	if (opts && ms_py_dict_get(opts, "read_default_file"))
		ms_log_warn("'%s':%d: DATABASES['%s'] reads OPTIONS['read_default_file'], which modosnap "
			    "ignores; set its values in the config file [db:%s] section",
			    r->settings, opts->line, r->alias, r->alias);
}

static int read_db(const struct db_reader *r, struct ms_dbconf *db)
{
	const struct ms_config_db *c = r->cfg;
	char *pw = NULL;

	db->alias = ms_xstrdup(r->alias);
	if (read_key(r, "ENGINE", "engine", c ? c->engine : NULL, &db->engine_setting) < 0 ||
	    resolve_engine(r, db) < 0 ||
	    read_key(r, "NAME", "name", c ? c->name : NULL, &db->name) < 0 ||
	    read_key(r, "USER", "user", c ? c->user : NULL, &db->user) < 0 ||
	    read_key(r, "HOST", "host", c ? c->host : NULL, &db->host) < 0 ||
	    read_key(r, "PORT", "port", c ? c->port : NULL, &db->port) < 0 ||
	    read_key(r, "PASSWORD", "password", c ? c->password : NULL, &pw) < 0)
		return -1;
	if (!db->name || !*db->name) {
		ms_free_secret(pw);
		return ms_log_error("'%s':%d: DATABASES['%s'] has no NAME", r->settings, r->line, r->alias);
	}
	if (!db->user)
		db->user = ms_xstrdup("");
	if (!db->host)
		db->host = ms_xstrdup("");
	if (!db->port)
		db->port = ms_xstrdup("");
	if (pw && *pw) {
		db->password = pw;
		db->password_source = c && c->password ? (c->password_file ? "password_file" : "config")
						       : "settings.py";
	} else {
		ms_free_secret(pw);
	}
	if (db->engine == MS_DB_MYSQL)
		apply_mysql_options(r, db);
	return 0;
}

static void add_db(struct ms_instance *inst, struct ms_dbconf *db)
{
	inst->dbs = ms_xrealloc(inst->dbs, (inst->n_dbs + 1) * sizeof(*inst->dbs));
	inst->dbs[inst->n_dbs++] = *db;
}

/* Reads DATABASES' aliases in order. */
static int read_databases_dict(struct ms_instance *inst, const struct ms_config *cfg,
			       const struct ms_py_value *dbs)
{
	for (size_t i = 0; i < dbs->n; i++) {
		const struct ms_py_value *k = dbs->keys[i], *v = dbs->items[i];
		struct db_reader r = { inst->settings_path, NULL, NULL, NULL, v->line };
		struct ms_dbconf db = { 0 };

		if (k->type != MS_PY_STR)
			return ms_log_error("'%s':%d: DATABASES has a key that is not a string (%s)",
					    inst->settings_path, k->line,
					    k->type == MS_PY_EXPR ? "an expression" : ms_py_type_name(k->type));
		r.alias = k->str;
		r.cfg = ms_config_db(cfg, k->str);
		if (v->type == MS_PY_DICT)
			r.dict = v;
		else if (!(r.cfg && r.cfg->engine && r.cfg->name))
			return ms_log_error("'%s':%d: cannot resolve DATABASES['%s'] (%s) without running Python; "
					    "describe it in the config file: [db:%s] with engine, name, user, host, port and password_file",
					    inst->settings_path, v->line, k->str,
					    v->type == MS_PY_EXPR ? "an expression" : ms_py_type_name(v->type), k->str);
		if (read_db(&r, &db) < 0) {
			dbconf_clear(&db);
			return -1;
		}
		add_db(inst, &db);
	}
	return 0;
}

/* Aliases that only the config file describes. */
static int read_config_dbs(struct ms_instance *inst, const struct ms_config *cfg, bool complete_only)
{
	for (size_t i = 0; i < cfg->n_dbs; i++) {
		const struct ms_config_db *c = &cfg->dbs[i];
		struct db_reader r = { cfg->path, c->alias, NULL, c, c->line };
		struct ms_dbconf db = { 0 };
		bool seen = false;

		for (size_t j = 0; j < inst->n_dbs; j++)
			seen = seen || strcmp(inst->dbs[j].alias, c->alias) == 0;
		if (seen || (complete_only && (!c->engine || !c->name)))
			continue;
		if (!c->engine || !c->name)
			return ms_log_error("'%s':%d: [db:%s] is not in settings.py's DATABASES, so it needs at "
					    "least 'engine' and 'name'", cfg->path, c->line, c->alias);
		if (read_db(&r, &db) < 0) {
			dbconf_clear(&db);
			return -1;
		}
		add_db(inst, &db);
	}
	return 0;
}

static int read_config_only_dbs(struct ms_instance *inst, const struct ms_config *cfg)
{
	return read_config_dbs(inst, cfg, false);
}

static int read_databases(struct ms_instance *inst, const struct ms_config *cfg,
			  const struct ms_pysettings *ps)
{
	struct ms_py_binding b;

	if (ms_pysettings_lookup(ps, "DATABASES", &b) < 0) {
		if (cfg->n_dbs == 0)
			return ms_log_error("'%s': no module-level DATABASES assignment found; describe the "
					    "databases in the config file ([db:ALIAS] sections)", inst->settings_path);
		return read_config_only_dbs(inst, cfg);
	}
	if (b.modified_line)
		return ms_log_error("'%s':%d: DATABASES is changed by code modosnap cannot evaluate; "
				    "describe the databases in the config file ([db:ALIAS] sections)",
				    inst->settings_path, b.modified_line);
	if (b.conditional)
		ms_log_warn("'%s':%d: DATABASES is assigned inside a conditional block; modosnap assumes "
			    "this assignment applies", inst->settings_path, b.line);
	if (b.star_import_line)
		ms_log_warn("'%s':%d: 'import *' may replace DATABASES; modosnap ignores it",
			    inst->settings_path, b.star_import_line);
	if (b.value->type != MS_PY_DICT) {
		if (cfg->n_dbs == 0)
			return ms_log_error("'%s':%d: cannot resolve DATABASES (%s) without running Python; "
					    "describe the databases in the config file ([db:ALIAS] sections)",
					    inst->settings_path, b.line,
					    b.value->type == MS_PY_EXPR ? "an expression" : ms_py_type_name(b.value->type));
	} else if (read_databases_dict(inst, cfg, b.value) < 0) {
		return -1;
	}
	return read_config_only_dbs(inst, cfg);
}

static void read_apps(struct ms_instance *inst, const struct ms_pysettings *ps)
{
	struct ms_py_binding b;

	if (ms_pysettings_lookup(ps, "MODOBOA_APPS", &b) < 0)
		return;
	if (b.value->type != MS_PY_LIST && b.value->type != MS_PY_TUPLE) {
		ms_log_warn("'%s':%d: MODOBOA_APPS is not a literal list; extension versions are not reported",
			    inst->settings_path, b.line);
		return;
	}
	for (size_t i = 0; i < b.value->n; i++) {
		const struct ms_py_value *v = b.value->items[i];
		size_t top;

		if (v->type != MS_PY_STR)
			continue;
		ms_strv_push(&inst->apps, v->str);
		top = strcspn(v->str, ".");
		char *mod = ms_xstrndup(v->str, top);
		if (strcmp(mod, "modoboa") != 0 && !ms_strv_contains(&inst->extensions, mod))
			ms_strv_push_owned(&inst->extensions, mod);
		else
			free(mod);
	}
}

/* DATABASES, MODOBOA_APPS and SECRET_KEY of parsed settings; frees ps. */
static int read_parsed_settings(struct ms_instance *inst, const struct ms_config *cfg, struct ms_pysettings *ps)
{
	struct ms_py_binding b;
	int ret;

	ret = read_databases(inst, cfg, ps);
	if (ret == 0) {
		read_apps(inst, ps);
		if (ms_pysettings_lookup(ps, "SECRET_KEY", &b) == 0 && b.value->type == MS_PY_STR)
			inst->secret_key = ms_xstrdup(b.value->str);
	}
	ms_pysettings_free(ps);
	return ret;
}

static int read_settings(struct ms_instance *inst, const struct ms_config *cfg)
{
	struct ms_pysettings *ps;

	if (!ms_is_file(inst->settings_path) && errno == ENOENT)
		return ms_log_error("settings file '%s' not found in instance '%s'", inst->settings_path, inst->dir);
	ps = ms_pysettings_load(inst->settings_path);
	return ps ? read_parsed_settings(inst, cfg, ps) : -1;
}

static int find_postfix(struct ms_instance *inst, const struct ms_config *cfg, const struct ms_instance_opts *opts)
{
	inst->postfix_dir = pick_dir(opts->postfix_dir, cfg->postfix_dir, MS_DEFAULT_POSTFIX_DIR,
				     &inst->postfix_source);
	if (!ms_is_dir(inst->postfix_dir)) {
		if (inst->postfix_source != MS_SRC_DEFAULT)
			return ms_log_error("postfix directory '%s' not found: %s", inst->postfix_dir, strerror(ENOENT));
		ms_log_warn("postfix directory '%s' not found; no Postfix files will be captured", inst->postfix_dir);
		return 0;
	}
	inst->postfix = ms_postfix_scan(inst->postfix_dir);
	return inst->postfix ? 0 : -1;
}

static int find_venv(struct ms_instance *inst, const struct ms_config *cfg)
{
	if (ms_venv_find(inst->dir, cfg->venv, &inst->venv) < 0)
		return -1;
	inst->has_venv = true;
	inst->dists = ms_distinfo_scan(inst->venv.site_packages);
	return inst->dists ? 0 : -1;
}

struct ms_instance *ms_instance_discover(const struct ms_config *cfg, const struct ms_instance_opts *opts)
{
	struct ms_instance *inst = ms_xcalloc(1, sizeof(*inst));

	inst->dir = pick_dir(opts->instance_dir, cfg->instance, MS_DEFAULT_INSTANCE, &inst->dir_source);
	if (!ms_is_dir(inst->dir)) {
		ms_log_error("instance directory '%s' not found: %s", inst->dir, strerror(errno));
		goto fail;
	}
	if (find_settings(inst) < 0 || read_settings(inst, cfg) < 0)
		goto fail;
	if (!opts->dbs_only && (find_postfix(inst, cfg, opts) < 0 || find_venv(inst, cfg) < 0))
		goto fail;
	return inst;
fail:
	ms_instance_free(inst);
	return NULL;
}

struct ms_instance *ms_instance_from_settings_text(const struct ms_config *cfg, const char *name, const char *text,
						   size_t len)
{
	struct ms_instance *inst = ms_xcalloc(1, sizeof(*inst));
	struct ms_pysettings *ps;

	inst->settings_path = ms_xstrdup(name);
	ps = ms_pysettings_parse(name, text, len);
	if (!ps || read_parsed_settings(inst, cfg, ps) < 0) {
		ms_instance_free(inst);
		return NULL;
	}
	return inst;
}

struct ms_instance *ms_instance_from_config(const struct ms_config *cfg)
{
	struct ms_instance *inst = ms_xcalloc(1, sizeof(*inst));

	if (read_config_dbs(inst, cfg, true) < 0) {
		ms_instance_free(inst);
		return NULL;
	}
	return inst;
}

void ms_instance_free(struct ms_instance *inst)
{
	if (!inst)
		return;
	free(inst->dir);
	free(inst->settings_path);
	for (size_t i = 0; i < inst->n_dbs; i++)
		dbconf_clear(&inst->dbs[i]);
	free(inst->dbs);
	ms_strv_clear(&inst->apps);
	ms_strv_clear(&inst->extensions);
	ms_free_secret(inst->secret_key);
	free(inst->postfix_dir);
	ms_postfix_free(inst->postfix);
	if (inst->has_venv)
		ms_venv_clear(&inst->venv);
	ms_distinfo_free(inst->dists);
	free(inst);
}
