/*
 * `modosnap inspect`: what a snapshot of this installation would contain.
 * Discovery builds the instance model; each database is probed unless
 * --no-db; the result is printed as text or as one JSON document
 * (docs/inspect-json.md). Passwords are never printed, only whether one is set.
 */
#include "cli/cli.h"
#include "cli/create_parts.h"
#include "cli/options.h"
#include "cli/output.h"
#include "discover/config.h"
#include "db/db.h"
#include "discover/distinfo.h"
#include "discover/instance.h"
#include "discover/postfix.h"

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
	const char *system_root;     /* --system-root */
	struct ms_create_parts parts; /* what create would take */
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

static void print_components_text(const struct ms_create_parts *p)
{
	printf("\ncomponents  ");
	for (size_t i = 0; i < p->only.n; i++)
		printf(" %s", p->only.v[i]);
	printf("\n");
	if (!p->set.venv)
		printf("  venv       taken by --pre-upgrade, create --with venv or [modosnap] capture_venv = yes\n");
	if (!p->set.mail)
		printf("  mail       taken by create --with mail or [mail] enabled = yes\n");
}

/* The whole-server components: DKIM keys, service configuration, mail. */
static void print_server_text(const struct inspect *in)
{
	const struct ms_server *srv = &in->parts.srv;

	printf("\ndkim         %s", srv->dkim_dir ? srv->dkim_dir : "(no DKIM directory named)");
	if (srv->dkim_dir)
		printf(" (%s)", srv->dkim_from);
	printf("\n  keys       %zu\n", srv->dkim_keys);
	for (size_t i = 0; i < srv->n_dkim; i++)
		printf("  %-36s %s\n", srv->dkim[i].path, srv->dkim[i].reason);
	for (size_t i = 0; i < srv->dkim_missing.n; i++)
		printf("  missing    %s\n", srv->dkim_missing.v[i]);
	printf("\nsystem       under %s: %zu paths\n", in->parts.system_root, srv->n_system);
	for (size_t i = 0; i < srv->n_system; i++)
		printf("  %-36s %s\n", srv->system[i].path, srv->system[i].reason);
	printf("\nmail         %s", srv->mail_dir ? srv->mail_dir : "(no Maildir store found)");
	if (srv->mail_dir)
		printf(" (%s, mailboxes %s)", srv->mail_from, srv->mail_layout ? srv->mail_layout : "%d/%n");
	printf("\n");
	print_components_text(&in->parts);
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
	print_server_text(in);
}

static ms_json *db_json(const struct ms_dbconf *db, const struct probe_result *pr)
{
	ms_json *o = ms_json_object(), *srv, *mig, *latest;

	ms_json_set(o, "alias", ms_json_str(db->alias));
	ms_json_set(o, "engine", ms_json_str(ms_db_engine_name(db->engine)));
	ms_json_set(o, "engine_setting", ms_json_str(db->engine_setting));
	ms_json_set(o, "name", ms_json_str(db->name));
	ms_json_set(o, "user", ms_json_str(db->user));
	ms_json_set(o, "host", ms_json_str(db->host));
	ms_json_set(o, "socket", ms_json_bool(db->host[0] == '/'));
	ms_json_set(o, "port", ms_json_str(db->port));
	ms_json_set(o, "password_set", ms_json_bool(db->password != NULL));
	ms_json_set(o, "password_source", ms_json_str(db->password_source));
	if (!pr->attempted) {
		ms_json_set(o, "server", ms_json_null());
		return o;
	}
	srv = ms_json_object();
	ms_json_set(srv, "reachable", ms_json_bool(pr->ok));
	if (pr->ok) {
		ms_json_set(srv, "version", ms_json_str(pr->probe.server_version));
		ms_json_set(srv, "size_bytes", ms_json_int(pr->probe.size_bytes));
		ms_json_set(srv, "encoding", ms_json_str(pr->probe.encoding));
		mig = ms_json_null();
		if (pr->probe.has_migrations) {
			mig = ms_json_object();
			latest = ms_json_object();
			ms_json_set(mig, "applied", ms_json_int(pr->probe.n_migrations));
			for (size_t i = 0; i < pr->probe.n_heads; i++)
				ms_json_set(latest, pr->probe.heads[i].app,
						    ms_json_str(pr->probe.heads[i].name));
			ms_json_set(mig, "latest", latest);
		}
		ms_json_set(srv, "migrations", mig);
	}
	ms_json_set(o, "server", srv);
	return o;
}

static ms_json *postfix_json(const struct ms_instance *inst)
{
	const struct ms_postfix *pf = inst->postfix;
	ms_json *o = ms_json_object(), *maps = ms_json_array();

	ms_json_set(o, "dir", ms_json_str(inst->postfix_dir));
	ms_json_set(o, "found", ms_json_bool(pf != NULL));
	ms_json_set(o, "checksum_file", ms_json_str(pf ? pf->chk_path : NULL));
	for (size_t i = 0; pf && i < pf->n_maps; i++) {
		ms_json *m = ms_json_object();

		ms_json_set(m, "name", ms_json_str(pf->maps[i].name));
		ms_json_set(m, "dbtype", ms_json_str(pf->maps[i].dbtype));
		ms_json_set(m, "state", ms_json_str(ms_map_state_name(pf->maps[i].state)));
		ms_json_push(maps, m);
	}
	ms_json_set(o, "maps", maps);
	ms_json_set(o, "main_cf", ms_json_str(pf ? pf->main_cf : NULL));
	ms_json_set(o, "master_cf", ms_json_str(pf ? pf->master_cf : NULL));
	return o;
}

static ms_json *venv_json(const struct ms_instance *inst)
{
	ms_json *o = ms_json_object(), *pk = ms_json_object(), *ext = ms_json_array();

	ms_json_set(o, "path", ms_json_str(inst->venv.path));
	ms_json_set(o, "found_by", ms_json_str(inst->venv.found_by));
	ms_json_set(o, "python_version", ms_json_str(inst->venv.python_version));
	ms_json_set(pk, "modoboa", ms_json_str(ext_version(inst, "modoboa")));
	ms_json_set(pk, "Django", ms_json_str(ext_version(inst, "Django")));
	ms_json_set(o, "packages", pk);
	for (size_t i = 0; i < inst->extensions.n; i++) {
		ms_json *e = ms_json_object();

		ms_json_set(e, "app", ms_json_str(inst->extensions.v[i]));
		ms_json_set(e, "version", ms_json_str(ext_version(inst, inst->extensions.v[i])));
		ms_json_push(ext, e);
	}
	ms_json_set(o, "extensions", ext);
	return o;
}

static ms_json *strv_json(const struct ms_strv *sv)
{
	ms_json *a = ms_json_array();

	for (size_t i = 0; i < sv->n; i++)
		ms_json_push(a, ms_json_str(sv->v[i]));
	return a;
}

static ms_json *paths_json(const struct ms_found *f, size_t n)
{
	ms_json *a = ms_json_array();

	for (size_t i = 0; i < n; i++)
		ms_json_push(a, ms_json_obj("path", ms_json_str(f[i].path), "reason", ms_json_str(f[i].reason), NULL));
	return a;
}

static ms_json *dkim_json(const struct ms_server *srv)
{
	return ms_json_obj("dir", ms_json_str(srv->dkim_dir), "found_by", ms_json_str(srv->dkim_from), "keys",
			   ms_json_int((long long)srv->dkim_keys), "paths", paths_json(srv->dkim, srv->n_dkim),
			   "missing", strv_json(&srv->dkim_missing), NULL);
}

static ms_json *found_json(const char *root, const struct ms_found *f, size_t n)
{
	return ms_json_obj("root", ms_json_str(root), "paths", paths_json(f, n), NULL);
}

static ms_json *mail_json(const struct ms_create_parts *p)
{
	return ms_json_obj("dir", ms_json_str(p->srv.mail_dir), "found_by", ms_json_str(p->srv.mail_from), "layout",
			   ms_json_str(p->srv.mail_layout), "taken", ms_json_bool(p->set.mail), NULL);
}

static int print_json(const struct inspect *in)
{
	const struct ms_instance *inst = in->inst;
	ms_json *root = ms_json_object(), *dbs = ms_json_array(), *apps = ms_json_array();

	ms_json_set(root, "modosnap_version", ms_json_str(MODOSNAP_VERSION));
	ms_json_set(root, "instance", ms_json_str(inst->dir));
	ms_json_set(root, "instance_source", ms_json_str(ms_source_name(inst->dir_source)));
	ms_json_set(root, "settings", ms_json_str(inst->settings_path));
	for (size_t i = 0; i < inst->n_dbs; i++)
		ms_json_push(dbs, db_json(&inst->dbs[i], &in->probes[i]));
	ms_json_set(root, "databases", dbs);
	for (size_t i = 0; i < inst->apps.n; i++)
		ms_json_push(apps, ms_json_str(inst->apps.v[i]));
	ms_json_set(root, "modoboa_apps", apps);
	ms_json_set(root, "postfix", postfix_json(inst));
	ms_json_set(root, "virtualenv", venv_json(inst));
	ms_json_set(root, "dkim", dkim_json(&in->parts.srv));
	ms_json_set(root, "system", found_json(in->parts.system_root, in->parts.srv.system, in->parts.srv.n_system));
	ms_json_set(root, "mail", mail_json(&in->parts));
	ms_json_set(root, "components", strv_json(&in->parts.only));
	return ms_json_print(root);
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

/* What create would take; a DKIM key missing for an enabled domain is a
 * warning (exit 3): the restored database names a file that signing needs. */
static int find_parts(struct ms_cli *cli, struct inspect *in)
{
	struct ms_create_parts_request req = { NULL, NULL, in->system_root, false, in->no_db, false };

	for (size_t i = 0; i < in->inst->n_dbs; i++) /* already reported */
		if (!strcmp(in->inst->dbs[i].alias, "default") && in->probes[i].attempted && !in->probes[i].ok)
			req.no_params = true;

	if (ms_create_parts_find(cli->config, in->inst, &req, &in->parts) < 0)
		return -1;
	for (size_t i = 0; i < in->parts.srv.dkim_missing.n; i++)
		ms_log_warn("dkim: no key file for the enabled domain %s", in->parts.srv.dkim_missing.v[i]);
	return 0;
}

static int parse_options(int argc, char **argv, struct ms_instance_opts *opts, struct inspect *in)
{
	struct ms_opts o = { 0 };
	int ret = ms_opts_parse(MS_OPTS_INSPECT, argc, argv, &o);

	*opts = o.inst;
	in->no_db = o.no_db;
	in->system_root = o.system_root;
	in->json = o.json;
	ms_opts_clear(&o);
	return ret;
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
	if (find_parts(cli, &in) < 0) {
		ms_instance_free(in.inst);
		free(in.probes);
		return MS_EXIT_FAILURE;
	}
	if (in.json)
		failed += print_json(&in) < 0;
	else
		print_text(&in);
	ret = ms_cli_exit_code(failed);
	for (size_t i = 0; i < in.inst->n_dbs; i++)
		ms_db_probe_clear(&in.probes[i].probe);
	free(in.probes);
	ms_create_parts_clear(&in.parts);
	ms_instance_free(in.inst);
	return ret;
}
