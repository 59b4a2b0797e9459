/*
 * `modosnap inspect`: what a snapshot of this installation would contain.
 * Discovery builds the instance model; each database is probed unless
 * --no-db; the result is printed as text or as one JSON document
 * (docs/inspect-json.md). Passwords are never printed, only whether one is set.
 */
#include "cli/cli.h"
#include "discover/config.h"
#include "db/db.h"
#include "discover/distinfo.h"
#include "discover/instance.h"
#include "discover/postfix.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One database's probe outcome. */
struct probe_result {
	bool attempted;
	bool ok;
	struct ms_db_probe probe;
};

struct inspect {
	struct ms_instance *inst;
	struct probe_result *probes; /* one per inst->dbs */
	bool json;
	bool no_db;
};

static void format_size(long long bytes, char *buf, size_t len)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%lld B", bytes);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
}

/* Name of the distribution that provides a top-level module. */
static const char *ext_version(const struct ms_instance *inst, const char *module)
{
	return inst->dists ? ms_distinfo_version(inst->dists, module) : NULL;
}

static void print_db_text(const struct ms_dbconf *db, const struct probe_result *pr)
{
	char size[32];

	printf("  %s\n", db->alias);
	printf("    engine     %s (%s)\n", ms_db_engine_name(db->engine), db->engine_setting);
	printf("    name       %s\n", db->name);
	printf("    user       %s\n", *db->user ? db->user : "(default)");
	if (db->host[0] == '/')
		printf("    socket     %s\n", db->host);
	else
		printf("    host       %s\n", *db->host ? db->host : "(default local socket)");
	printf("    port       %s\n", *db->port ? db->port : "(default)");
	printf("    password   %s\n", db->password ? "set" : "not set");
	if (db->password)
		printf("    (from)     %s\n", db->password_source);
	if (!pr->attempted)
		return;
	if (!pr->ok) {
		printf("    server     unreachable (see the error above)\n");
		return;
	}
	format_size(pr->probe.size_bytes, size, sizeof(size));
	printf("    server     %s %s\n", db->engine == MS_DB_POSTGRESQL ? "PostgreSQL" : "MariaDB/MySQL",
	       pr->probe.server_version);
	printf("    size       %s (%lld bytes)\n", size, pr->probe.size_bytes);
	printf("    encoding   %s\n", pr->probe.encoding);
	if (!pr->probe.has_migrations) {
		printf("    migrations none (no django_migrations table)\n");
		return;
	}
	printf("    migrations %lld applied; latest per app:\n", pr->probe.n_migrations);
	for (size_t i = 0; i < pr->probe.n_heads; i++)
		printf("      %-24s %s\n", pr->probe.heads[i].app, pr->probe.heads[i].name);
}

static void print_postfix_text(const struct ms_instance *inst)
{
	const struct ms_postfix *pf = inst->postfix;

	printf("\npostfix      %s (%s)\n", inst->postfix_dir, ms_source_name(inst->postfix_source));
	if (!pf) {
		printf("  (directory not found)\n");
		return;
	}
	printf("  checksums  %s\n", pf->chk_path ? pf->chk_path : "(no " MS_POSTFIX_CHK_NAME ")");
	for (size_t i = 0; i < pf->n_maps; i++)
		printf("  %-36s %-9s %s\n", pf->maps[i].name, pf->maps[i].dbtype ? pf->maps[i].dbtype : "-",
		       ms_map_state_name(pf->maps[i].state));
	printf("  main.cf    %s\n", pf->main_cf ? pf->main_cf : "(not found)");
	printf("  master.cf  %s\n", pf->master_cf ? pf->master_cf : "(not found)");
}

static void print_venv_text(const struct ms_instance *inst)
{
	static const char *core[] = { "modoboa", "Django" };

	printf("\nvirtualenv   %s (found by %s)\n", inst->venv.path, inst->venv.found_by);
	printf("  python     %s\n", inst->venv.python_version ? inst->venv.python_version : "(unknown)");
	for (size_t i = 0; i < 2; i++) {
		const char *v = ext_version(inst, core[i]);

		printf("  %-24s %s\n", core[i], v ? v : "(not installed)");
	}
	for (size_t i = 0; i < inst->extensions.n; i++) {
		const char *v = ext_version(inst, inst->extensions.v[i]);

		printf("  %-24s %s (extension)\n", inst->extensions.v[i], v ? v : "(not installed)");
	}
}

static void print_text(const struct inspect *in)
{
	const struct ms_instance *inst = in->inst;

	printf("instance     %s (%s)\n", inst->dir, ms_source_name(inst->dir_source));
	printf("settings     %s\n", inst->settings_path);
	printf("\ndatabases\n");
	for (size_t i = 0; i < inst->n_dbs; i++)
		print_db_text(&inst->dbs[i], &in->probes[i]);
	print_postfix_text(inst);
	print_venv_text(inst);
}

static json_t *jstr_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *db_json(const struct ms_dbconf *db, const struct probe_result *pr)
{
	json_t *o = json_object(), *srv, *mig, *latest;

	json_object_set_new(o, "alias", json_string(db->alias));
	json_object_set_new(o, "engine", json_string(ms_db_engine_name(db->engine)));
	json_object_set_new(o, "engine_setting", json_string(db->engine_setting));
	json_object_set_new(o, "name", json_string(db->name));
	json_object_set_new(o, "user", json_string(db->user));
	json_object_set_new(o, "host", json_string(db->host));
	json_object_set_new(o, "socket", json_boolean(db->host[0] == '/'));
	json_object_set_new(o, "port", json_string(db->port));
	json_object_set_new(o, "password_set", json_boolean(db->password != NULL));
	json_object_set_new(o, "password_source", jstr_or_null(db->password_source));
	if (!pr->attempted) {
		json_object_set_new(o, "server", json_null());
		return o;
	}
	srv = json_object();
	json_object_set_new(srv, "reachable", json_boolean(pr->ok));
	if (pr->ok) {
		json_object_set_new(srv, "version", json_string(pr->probe.server_version));
		json_object_set_new(srv, "size_bytes", json_integer(pr->probe.size_bytes));
		json_object_set_new(srv, "encoding", json_string(pr->probe.encoding));
		mig = json_null();
		if (pr->probe.has_migrations) {
			mig = json_object();
			latest = json_object();
			json_object_set_new(mig, "applied", json_integer(pr->probe.n_migrations));
			for (size_t i = 0; i < pr->probe.n_heads; i++)
				json_object_set_new(latest, pr->probe.heads[i].app,
						    json_string(pr->probe.heads[i].name));
			json_object_set_new(mig, "latest", latest);
		}
		json_object_set_new(srv, "migrations", mig);
	}
	json_object_set_new(o, "server", srv);
	return o;
}

static json_t *postfix_json(const struct ms_instance *inst)
{
	const struct ms_postfix *pf = inst->postfix;
	json_t *o = json_object(), *maps = json_array();

	json_object_set_new(o, "dir", json_string(inst->postfix_dir));
	json_object_set_new(o, "found", json_boolean(pf != NULL));
	json_object_set_new(o, "checksum_file", jstr_or_null(pf ? pf->chk_path : NULL));
	for (size_t i = 0; pf && i < pf->n_maps; i++) {
		json_t *m = json_object();

		json_object_set_new(m, "name", json_string(pf->maps[i].name));
		json_object_set_new(m, "dbtype", jstr_or_null(pf->maps[i].dbtype));
		json_object_set_new(m, "state", json_string(ms_map_state_name(pf->maps[i].state)));
		json_array_append_new(maps, m);
	}
	json_object_set_new(o, "maps", maps);
	json_object_set_new(o, "main_cf", jstr_or_null(pf ? pf->main_cf : NULL));
	json_object_set_new(o, "master_cf", jstr_or_null(pf ? pf->master_cf : NULL));
	return o;
}

static json_t *venv_json(const struct ms_instance *inst)
{
	json_t *o = json_object(), *pk = json_object(), *ext = json_array();

	json_object_set_new(o, "path", json_string(inst->venv.path));
	json_object_set_new(o, "found_by", json_string(inst->venv.found_by));
	json_object_set_new(o, "python_version", jstr_or_null(inst->venv.python_version));
	json_object_set_new(pk, "modoboa", jstr_or_null(ext_version(inst, "modoboa")));
	json_object_set_new(pk, "Django", jstr_or_null(ext_version(inst, "Django")));
	json_object_set_new(o, "packages", pk);
	for (size_t i = 0; i < inst->extensions.n; i++) {
		json_t *e = json_object();

		json_object_set_new(e, "app", json_string(inst->extensions.v[i]));
		json_object_set_new(e, "version", jstr_or_null(ext_version(inst, inst->extensions.v[i])));
		json_array_append_new(ext, e);
	}
	json_object_set_new(o, "extensions", ext);
	return o;
}

static int print_json(const struct inspect *in)
{
	const struct ms_instance *inst = in->inst;
	json_t *root = json_object(), *dbs = json_array(), *apps = json_array();
	int ret;

	json_object_set_new(root, "modosnap_version", json_string(MODOSNAP_VERSION));
	json_object_set_new(root, "instance", json_string(inst->dir));
	json_object_set_new(root, "instance_source", json_string(ms_source_name(inst->dir_source)));
	json_object_set_new(root, "settings", json_string(inst->settings_path));
	for (size_t i = 0; i < inst->n_dbs; i++)
		json_array_append_new(dbs, db_json(&inst->dbs[i], &in->probes[i]));
	json_object_set_new(root, "databases", dbs);
	for (size_t i = 0; i < inst->apps.n; i++)
		json_array_append_new(apps, json_string(inst->apps.v[i]));
	json_object_set_new(root, "modoboa_apps", apps);
	json_object_set_new(root, "postfix", postfix_json(inst));
	json_object_set_new(root, "virtualenv", venv_json(inst));
	ret = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(root);
	return ret == 0 ? 0 : ms_log_error("unable to write the JSON document");
}

/* Probes every database; returns the number that failed. */
static int probe_all(struct inspect *in)
{
	int failed = 0;

	in->probes = ms_xcalloc(in->inst->n_dbs + 1, sizeof(*in->probes));
	if (in->no_db)
		return 0;
	for (size_t i = 0; i < in->inst->n_dbs; i++) {
		struct probe_result *pr = &in->probes[i];

		pr->attempted = true;
		pr->ok = ms_db_probe(&in->inst->dbs[i], &pr->probe) == 0;
		failed += !pr->ok;
	}
	return failed;
}

static int parse_options(int argc, char **argv, struct ms_instance_opts *opts, struct inspect *in)
{
	static const struct option longopts[] = {
		{ "instance", required_argument, NULL, 'i' },
		{ "postfix-dir", required_argument, NULL, 'p' },
		{ "no-db", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'i': opts->instance_dir = optarg; break;
		case 'p': opts->postfix_dir = optarg; break;
		case 'n': in->no_db = true; break;
		case 'j': in->json = true; break;
		default:
			return ms_cli_usage_error("inspect", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return ms_cli_usage_error("inspect", "unexpected argument '%s'", argv[optind]);
	return 0;
}

int cmd_inspect(struct ms_cli *cli, int argc, char **argv)
{
	struct ms_instance_opts opts = { 0 };
	struct inspect in = { 0 };
	int failed, ret;

	if ((ret = parse_options(argc, argv, &opts, &in)) != 0)
		return ret;
	if (ms_cli_load_config(cli) < 0)
		return MS_EXIT_FAILURE;
	in.inst = ms_instance_discover(cli->config, &opts);
	if (!in.inst)
		return MS_EXIT_FAILURE;
	failed = probe_all(&in);
	if (in.json)
		failed += print_json(&in) < 0;
	else
		print_text(&in);
	ret = ms_cli_exit_code(failed);
	for (size_t i = 0; i < in.inst->n_dbs; i++)
		ms_db_probe_clear(&in.probes[i].probe);
	free(in.probes);
	ms_instance_free(in.inst);
	return ret;
}
