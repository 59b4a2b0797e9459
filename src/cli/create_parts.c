/*
 * What `create` takes besides the instance and the databases (see
 * create_parts.h).
 */
#include "cli/create_parts.h"
#include "base/log.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

static bool asked(const struct ms_strv *with, const char *component)
{
	return with && ms_strv_contains(with, component);
}

/* The default database's parameters (DKIM directory, key files, state
 * directories). A server that does not answer costs the DKIM component
 * only what [modosnap] dkim_dir names; a database without Modoboa's tables
 * gives nothing. */
static void read_params(const struct ms_config *cfg, const struct ms_instance *inst, struct ms_create_parts *p)
{
	for (size_t i = 0; i < inst->n_dbs; i++) {
		if (strcmp(inst->dbs[i].alias, "default") != 0)
			continue;
		ms_log_mute(1); /* one line for it, below */
		p->have_params = ms_db_read_params(&inst->dbs[i], &p->params) == 0;
		ms_log_mute(0);
		if (!p->have_params)
			ms_log_warn("the default database could not be read for the DKIM directory and the key files "
				    "it names: %s", cfg->dkim_dir ? "only [modosnap] dkim_dir is captured"
								  : "no DKIM key is captured");
	}
}

/* A root of the system component, by its path relative to the system
 * root: restore puts it under its own system root. A path named as
 * written (main.cf, [paths] include) below the system root is recorded
 * without it; one outside it cannot be, and is left out. */
static void add_system_root(struct ms_create_parts *p, const struct ms_found *f)
{
	size_t n = strlen(p->system_root);
	const char *logical = f->path;

	while (n > 0 && p->system_root[n - 1] == '/')
		n--;
	if (n && strcmp(f->file, f->path) == 0) { /* as written */
		if (strncmp(f->file, p->system_root, n) != 0 || f->file[n] != '/') {
			ms_log_warn("system: '%s' (%s) is outside the system root '%s': not taken", f->file, f->reason,
				    p->system_root);
			return;
		}
		logical = f->file + n;
	}
	ms_strv_push(&p->system_roots, logical);
	ms_strv_push(&p->system_files, f->file);
	ms_log_debug("system: %s (%s)", logical, f->reason);
}

static void build_only(const struct ms_instance *inst, struct ms_create_parts *p)
{
	const struct ms_component_set *s = &p->set;

	if (s->instance)
		ms_strv_push(&p->only, "instance");
	if (s->postfix)
		ms_strv_push(&p->only, "postfix");
	for (size_t i = 0; i < inst->n_dbs; i++)
		if (ms_component_set_has_db(s, inst->dbs[i].alias))
			ms_strv_push_owned(&p->only, ms_xasprintf("db:%s", inst->dbs[i].alias));
	if (s->venv && inst->has_venv)
		ms_strv_push(&p->only, "venv");
	if (s->dkim && p->dkim_roots.n)
		ms_strv_push(&p->only, "dkim");
	if (s->system && p->system_roots.n)
		ms_strv_push(&p->only, "system");
	if (s->mail && p->srv.mail_dir)
		ms_strv_push(&p->only, "mail");
}

int ms_create_parts_find(const struct ms_config *cfg, const struct ms_instance *inst,
			 const struct ms_create_parts_request *req, struct ms_create_parts *p)
{
	struct ms_component_request cr = { &cfg->components, cfg->capture_venv == 1, cfg->mail_enabled == 1,
					   req->pre_upgrade, req->no_db, req->with, req->without };

	memset(p, 0, sizeof(*p));
	ms_components_choose(&cr, &p->set);
	p->system_root = req->system_root ? req->system_root : cfg->system_root ? cfg->system_root : "/";
	if ((p->set.dkim || p->set.system) && !req->no_db && !req->no_params)
		read_params(cfg, inst, p);
	if (ms_server_discover(inst, cfg, p->system_root, p->have_params ? &p->params : NULL, &p->srv) < 0)
		return -1;
	if (p->set.venv && !inst->has_venv) {
		if (asked(req->with, "venv") || cfg->capture_venv == 1)
			return ms_log_error("venv: no virtualenv found for the instance '%s' (set [modosnap] venv)",
					    inst->dir);
		ms_log_info("venv: no virtualenv found: not taken");
	}
	if (p->set.mail && !p->srv.mail_dir)
		return ms_log_error("mail: no Maildir store found (no mail_location in Dovecot's configuration under "
				    "'%s'): name it with [mail] dir in the config", p->system_root);
	for (size_t i = 0; p->set.dkim && i < p->srv.n_dkim; i++)
		ms_strv_push(&p->dkim_roots, p->srv.dkim[i].path);
	for (size_t i = 0; p->set.dkim && i < p->srv.dkim_missing.n; i++)
		ms_log_debug("dkim: key file missing for an enabled domain: %s", p->srv.dkim_missing.v[i]);
	for (size_t i = 0; p->set.system && i < p->srv.n_system; i++)
		add_system_root(p, &p->srv.system[i]);
	build_only(inst, p);
	return 0;
}

void ms_create_parts_apply(const struct ms_create_parts *p, const struct ms_instance *inst,
			   struct ms_create_opts *o)
{
	o->only = &p->only;
	o->venv_dir = ms_strv_contains(&p->only, "venv") ? inst->venv.path : NULL;
	o->mail_dir = NULL;
	if (ms_strv_contains(&p->only, "mail")) {
		o->mail_dir = p->srv.mail_dir;
		o->mail_layout = p->srv.mail_layout;
	}
	o->dkim_dir = p->srv.dkim_dir;
	o->dkim_roots = &p->dkim_roots;
	o->system_root = p->system_root;
	o->system_roots = &p->system_roots;
	o->system_files = &p->system_files;
}

void ms_create_parts_sources(const struct ms_create_parts *p, struct ms_strv *out)
{
	if (ms_strv_contains(&p->only, "mail"))
		ms_strv_push(out, p->srv.mail_dir);
	for (size_t i = 0; i < p->dkim_roots.n; i++)
		ms_strv_push(out, p->dkim_roots.v[i]);
	for (size_t i = 0; i < p->system_files.n; i++)
		ms_strv_push(out, p->system_files.v[i]);
}

void ms_create_parts_clear(struct ms_create_parts *p)
{
	ms_component_set_clear(&p->set);
	ms_server_clear(&p->srv);
	if (p->have_params)
		ms_modoboa_params_clear(&p->params);
	ms_strv_clear(&p->only);
	ms_strv_clear(&p->dkim_roots);
	ms_strv_clear(&p->system_roots);
	ms_strv_clear(&p->system_files);
}
