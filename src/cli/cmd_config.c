/*
 * `modosnap config`: the effective configuration and its check, as
 * `borgmatic config validate` does it. Every key the config file accepts
 * is shown with its value and where the value came from (the file and
 * line, the command line, discovery, or the default), then what discovery
 * finds (instance, settings file, Postfix directory, virtualenv,
 * databases). A refused config is the loader's error and exit 1; what
 * would fail later (no signing key yet, a destination this user cannot
 * write, no retention rule for create --nightly) is a warning (exit 3).
 * Passwords and SECRET_KEY are never printed, only whether they are set
 * and from where.
 */
#include "cli/cli.h"
#include "cli/options.h"
#include "cli/output.h"
#include "discover/config.h"
#include "discover/instance.h"
#include "formats/sign.h"
#include "snapshot/dest.h"
#include "snapshot/prune.h"
#include "snapshot/retention.h"
#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct config_args {
	struct ms_instance_opts inst;
	const char *dest;
	bool json;
};

/* One key as shown: owned strings. */
struct row {
	char *section; /* "modosnap", "db:ALIAS", "retention", "hooks", "paths", "mail", "remote",
	                  "remote:NAME", "encrypt", "monitor" */
	char *key;
	char *value;   /* NULL: not set */
	char *source;  /* "'FILE':LINE", "command line", "discovered (...)", "default", NULL when not set */
};

struct rows {
	struct row *v;
	size_t n;
};

static void add_row(struct rows *r, const char *section, const char *key, char *value, char *source)
{
	r->v = ms_xrealloc(r->v, (r->n + 1) * sizeof(*r->v));
	r->v[r->n++] = (struct row){ ms_xstrdup(section), ms_xstrdup(key), value, source };
}

static void rows_clear(struct rows *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].section);
		free(r->v[i].key);
		free(r->v[i].value);
		free(r->v[i].source);
	}
	free(r->v);
}

/* The rows of the file's lines for key (a repeatable key has several);
 * 0 when the file does not set it. */
static size_t file_rows(const struct ms_config *cfg, const char *section, const char *key, struct rows *r)
{
	size_t n = 0;

	for (size_t i = 0; i < cfg->n_origins; i++) {
		const struct ms_config_origin *o = &cfg->origins[i];

		if (strcmp(o->section, section) != 0 || strcmp(o->key, key) != 0)
			continue;
		add_row(r, section, key, o->value ? ms_xstrdup(o->value) : ms_xstrdup("set"),
			ms_xasprintf("'%s':%d", cfg->path, o->line));
		n++;
	}
	return n;
}

/* [modosnap]: the command line, then the file, then discovery/defaults. */
static void main_rows(const struct config_args *a, const struct ms_config *cfg, const struct ms_instance *inst,
		      struct rows *r)
{
	const char *key;

	for (size_t i = 0; (key = ms_config_key_name("modosnap", i)) != NULL; i++) {
		const char *cli = !strcmp(key, "instance") ? a->inst.instance_dir :
				  !strcmp(key, "postfix_dir") ? a->inst.postfix_dir :
				  !strcmp(key, "dest") ? a->dest : NULL;

		if (cli) {
			add_row(r, "modosnap", key, ms_xstrdup(cli), ms_xstrdup("command line"));
		} else if (file_rows(cfg, "modosnap", key, r) > 0) {
			continue;
		} else if (!strcmp(key, "instance") && inst && inst->dir) {
			add_row(r, "modosnap", key, ms_xstrdup(inst->dir), ms_xstrdup(ms_source_name(inst->dir_source)));
		} else if (!strcmp(key, "postfix_dir") && inst && inst->postfix_dir) {
			add_row(r, "modosnap", key, ms_xstrdup(inst->postfix_dir),
				ms_xstrdup(ms_source_name(inst->postfix_source)));
		} else if (!strcmp(key, "venv") && inst && inst->has_venv) {
			add_row(r, "modosnap", key, ms_xstrdup(inst->venv.path),
				ms_xasprintf("discovered (%s)", inst->venv.found_by ? inst->venv.found_by : "?"));
		} else if (!strcmp(key, "dest")) {
			add_row(r, "modosnap", key, ms_xstrdup(MS_DEFAULT_DEST), ms_xstrdup("default"));
		} else if (!strcmp(key, "signing_key") || !strcmp(key, "trusted_keys")) {
			add_row(r, "modosnap", key,
				ms_xstrdup(key[0] == 's' ? ms_config_signing_key(cfg) : ms_config_trusted_keys(cfg)),
				ms_xstrdup("default"));
		} else if (!strcmp(key, "lock_timeout")) {
			add_row(r, "modosnap", key, ms_xstrdup("60"), ms_xstrdup("default"));
		} else if (!strcmp(key, "system_root")) {
			add_row(r, "modosnap", key, ms_xstrdup("/"), ms_xstrdup("default"));
		} else if (!strcmp(key, "capture_venv")) {
			add_row(r, "modosnap", key, ms_xstrdup("no"), ms_xstrdup("default (yes in pre-upgrade snapshots)"));
		} else if (!strcmp(key, "components")) {
			add_row(r, "modosnap", key, ms_xstrdup("instance postfix db dkim system"), ms_xstrdup("default"));
		} else {
			add_row(r, "modosnap", key, NULL, NULL);
		}
	}
}

/* A password as shown: never its text. */
static char *password_text(const char *password, const char *source, const char *file)
{
	if (!password)
		return ms_xstrdup("not set");
	if (file)
		return ms_xasprintf("set (from password_file '%s')", file);
	return ms_xasprintf("set (from %s)", source ? source : "config");
}

static void db_rows(const struct ms_config *cfg, struct rows *r)
{
	for (size_t d = 0; d < cfg->n_dbs; d++) {
		const struct ms_config_db *db = &cfg->dbs[d];
		char *section = ms_xasprintf("db:%s", db->alias);
		const char *key;

		for (size_t i = 0; (key = ms_config_key_name("db", i)) != NULL; i++) {
			const struct ms_config_origin *o = ms_config_origin(cfg, section, key);

			if (!strcmp(key, "password"))
				add_row(r, section, key, password_text(db->password, "config", db->password_file),
					o ? ms_xasprintf("'%s':%d", cfg->path, o->line) : NULL);
			else if (!file_rows(cfg, section, key, r))
				add_row(r, section, key, NULL, NULL);
		}
		free(section);
	}
}

/* Each [remote:NAME]: the file, else the defaults (push always, encrypted). */
static void remote_rows(const struct ms_config *cfg, struct rows *r)
{
	for (size_t d = 0; d < cfg->n_remotes; d++) {
		char *section = ms_xasprintf("remote:%s", cfg->remotes[d].name);
		const char *key;

		for (size_t i = 0; (key = ms_config_key_name("remote:NAME", i)) != NULL; i++)
			if (file_rows(cfg, section, key, r) > 0)
				continue;
			else if (!strcmp(key, "push"))
				add_row(r, section, key, ms_xstrdup("always"), ms_xstrdup("default"));
			else if (!strcmp(key, "encrypt"))
				add_row(r, section, key, ms_xstrdup("yes"), ms_xstrdup("default"));
			else
				add_row(r, section, key, NULL, NULL);
		free(section);
	}
}

/* [retention]: the file, else the policy's defaults (prune.h). */
static void retention_rows(const struct ms_config *cfg, const struct ms_retention_policy *p, struct rows *r)
{
	const char *key;
	char dur[32];

	for (size_t i = 0; (key = ms_config_key_name("retention", i)) != NULL; i++) {
		if (file_rows(cfg, "retention", key, r) > 0)
			continue;
		if (!strcmp(key, "keep_pre_upgrade") || !strcmp(key, "keep_apt")) {
			add_row(r, "retention", key, ms_xasprintf("%d", key[5] == 'p' ? p->keep_pre_upgrade : p->keep_apt),
				ms_xstrdup("default"));
		} else if (!strcmp(key, "keep_safety")) {
			ms_retention_format_duration(p->keep_safety, dur, sizeof(dur));
			add_row(r, "retention", key, ms_xstrdup(dur), ms_xstrdup("default"));
		} else {
			add_row(r, "retention", key, NULL, NULL);
		}
	}
}

/* [hooks], [paths], [mail]: the file, else the default when there is one. */
static void plain_rows(const struct ms_config *cfg, const char *kind, struct rows *r)
{
	const char *key;

	for (size_t i = 0; (key = ms_config_key_name(kind, i)) != NULL; i++)
		if (file_rows(cfg, kind, key, r) > 0)
			continue;
		else if (!strcmp(kind, "mail") && !strcmp(key, "enabled"))
			add_row(r, kind, key, ms_xstrdup("no"), ms_xstrdup("default"));
		else
			add_row(r, kind, key, NULL, NULL);
}

/* Warnings for what would fail later; each is logged (exit 3). */
static void check_later(const struct ms_config *cfg, const char *dest, const struct ms_retention_policy *p)
{
	const char *key = ms_config_signing_key(cfg);
	char *parent;

	if (access(key, F_OK) < 0)
		ms_log_warn("signing key '%s' does not exist yet: create makes it on first use, and snapshots "
			    "signed by another key will not verify", key);
	if (cfg->trusted_keys && access(cfg->trusted_keys, R_OK) < 0)
		ms_log_warn("trusted_keys '%s' is not readable: %s", cfg->trusted_keys, strerror(errno));
	if (access(dest, F_OK) == 0) {
		if (access(dest, W_OK | X_OK) < 0)
			ms_log_warn("destination '%s' is not writable by this user: create and prune will fail", dest);
	} else {
		parent = ms_path_dirname(dest);
		if (access(parent, W_OK | X_OK) < 0)
			ms_log_warn("destination '%s' does not exist and '%s' is not writable: create will fail",
				    dest, parent);
		free(parent);
	}
	if (!ms_retention_has_rule(p))
		ms_log_warn("no retention rule in [retention]: create --nightly will not prune and prune needs "
			    "options");
	for (size_t i = 0; i < cfg->n_remotes; i++)
		if (cfg->remotes[i].encrypt != 0 && cfg->recipients.n == 0)
			ms_log_warn("[remote:%s] is encrypted but [encrypt] names no recipient: reading from it "
				    "works, pushing to it will fail", cfg->remotes[i].name);
}

static ms_json *db_json(const struct ms_dbconf *db, const struct ms_config *cfg)
{
	const struct ms_config_db *c = ms_config_db(cfg, db->alias);
	char *pw = password_text(db->password, db->password_source, c ? c->password_file : NULL);
	ms_json *o = ms_json_obj("alias", ms_json_str(db->alias), "engine", ms_json_str(db->engine_setting),
				 "name", ms_json_str(db->name), "user", ms_json_str(db->user),
				 "host", ms_json_str(db->host), "port", ms_json_str(db->port),
				 "password", ms_json_str(pw), NULL);

	free(pw);
	return o;
}

static void print_json(const char *path, const struct rows *r, const struct ms_instance *inst,
		       const struct ms_config *cfg, bool valid)
{
	ms_json *keys = ms_json_array(), *dbs = ms_json_array(), *disc = ms_json_null();

	for (size_t i = 0; i < r->n; i++)
		ms_json_push(keys, ms_json_obj("section", ms_json_str(r->v[i].section), "key", ms_json_str(r->v[i].key),
					       "value", ms_json_str(r->v[i].value), "source",
					       ms_json_str(r->v[i].source), NULL));
	if (inst) {
		for (size_t i = 0; i < inst->n_dbs; i++)
			ms_json_push(dbs, db_json(&inst->dbs[i], cfg));
		ms_json_free(disc);
		disc = ms_json_obj("instance", ms_json_str(inst->dir), "settings", ms_json_str(inst->settings_path),
				   "postfix_dir", ms_json_str(inst->postfix_dir),
				   "venv", ms_json_str(inst->has_venv ? inst->venv.path : NULL),
				   "secret_key", ms_json_str(inst->secret_key ? "set (settings.py)" : "not set"),
				   "databases", dbs, NULL);
	} else {
		ms_json_free(dbs);
	}
	ms_json_print(ms_json_obj("config_file", ms_json_str(path), "valid", ms_json_bool(valid), "keys", keys,
				  "discovered", disc, NULL));
}

static void print_text(const char *path, const struct rows *r, const struct ms_instance *inst,
		       const struct ms_config *cfg)
{
	const char *section = "";

	printf("config file: %s\n", path ? path : "none");
	for (size_t i = 0; i < r->n; i++) {
		char *value = ms_printable(r->v[i].value ? r->v[i].value : "not set");

		if (strcmp(section, r->v[i].section) != 0)
			printf("[%s]\n", section = r->v[i].section);
		if (r->v[i].source)
			printf("  %s = %s  (%s)\n", r->v[i].key, value, r->v[i].source);
		else
			printf("  %s = %s\n", r->v[i].key, value);
		free(value);
	}
	if (!inst)
		return;
	printf("discovered:\n  instance: %s\n  settings: %s\n", inst->dir, inst->settings_path);
	printf("  postfix_dir: %s\n  venv: %s\n", inst->postfix_dir ? inst->postfix_dir : "-",
	       inst->has_venv ? inst->venv.path : "-");
	printf("  SECRET_KEY: %s\n", inst->secret_key ? "set (settings.py)" : "not set");
	for (size_t i = 0; i < inst->n_dbs; i++) {
		const struct ms_dbconf *db = &inst->dbs[i];
		const struct ms_config_db *c = ms_config_db(cfg, db->alias);
		char *pw = password_text(db->password, db->password_source, c ? c->password_file : NULL);

		printf("  database %s: %s name=%s user=%s host=%s port=%s password: %s\n", db->alias,
		       db->engine_setting, db->name, *db->user ? db->user : "-", *db->host ? db->host : "-",
		       *db->port ? db->port : "-", pw);
		free(pw);
	}
}

int cmd_config(struct ms_cli *cli, int argc, char **argv)
{
	struct ms_opts o = { 0 };
	struct config_args a;
	struct ms_retention_policy p;
	struct ms_instance *inst;
	struct rows r = { 0 };
	const char *dest;
	int ret = ms_opts_parse(MS_OPTS_CONFIG, argc, argv, &o);

	a = (struct config_args){ .inst = o.inst, .dest = o.dest, .json = o.json };
	ms_opts_clear(&o);
	if (ret != 0)
		return ret;
	if (ms_cli_load_config(cli) < 0)
		return MS_EXIT_FAILURE; /* the loader's message, naming file and line */
	inst = ms_instance_discover(cli->config, &a.inst);
	ms_prune_policy_from_config(cli->config, &p);
	main_rows(&a, cli->config, inst, &r);
	db_rows(cli->config, &r);
	retention_rows(cli->config, &p, &r);
	plain_rows(cli->config, "hooks", &r);
	plain_rows(cli->config, "paths", &r);
	plain_rows(cli->config, "mail", &r);
	plain_rows(cli->config, "remote", &r);
	remote_rows(cli->config, &r);
	plain_rows(cli->config, "encrypt", &r);
	plain_rows(cli->config, "monitor", &r);
	dest = a.dest ? a.dest : cli->config->dest ? cli->config->dest : MS_DEFAULT_DEST;
	check_later(cli->config, dest, &p);
	if (a.json)
		print_json(cli->config->path, &r, inst, cli->config, inst != NULL);
	else
		print_text(cli->config->path, &r, inst, cli->config);
	rows_clear(&r);
	ret = ms_cli_exit_code(inst == NULL);
	ms_instance_free(inst);
	return ret;
}
