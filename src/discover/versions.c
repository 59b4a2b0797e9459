/*
 * Collecting the versions a snapshot records (see versions.h).
 */
#include "discover/versions.h"
#include "discover/distinfo.h"

#include <stdlib.h>
#include <string.h>

static char *dup_or_null(const char *s)
{
	return s ? ms_xstrdup(s) : NULL;
}

static void collect_db(const struct ms_dbconf *db, const struct ms_db_probe *p, struct ms_db_versions *out)
{
	out->alias = ms_xstrdup(db->alias);
	out->engine = ms_xstrdup(ms_db_engine_name(db->engine));
	out->migrations_applied = -1;
	if (!p || !p->server_version)
		return;
	out->server_version = ms_xstrdup(p->server_version);
	if (!p->has_migrations)
		return;
	out->migrations_applied = p->n_migrations;
	out->latest = ms_xcalloc(p->n_heads + 1, sizeof(*out->latest));
	for (size_t i = 0; i < p->n_heads; i++) {
		out->latest[i].key = ms_xstrdup(p->heads[i].app);
		out->latest[i].value = ms_xstrdup(p->heads[i].name);
	}
	out->n_latest = p->n_heads;
}

void ms_versions_collect(const struct ms_instance *inst, const struct ms_db_probe *probes,
			 struct ms_versions *v)
{
	const struct ms_distinfo *d = inst->dists;

	memset(v, 0, sizeof(*v));
	v->modoboa = dup_or_null(d ? ms_distinfo_version(d, "modoboa") : NULL);
	v->django = dup_or_null(d ? ms_distinfo_version(d, "Django") : NULL);
	v->python = dup_or_null(inst->has_venv ? inst->venv.python_version : NULL);
	v->extensions = ms_xcalloc(inst->extensions.n + 1, sizeof(*v->extensions));
	for (size_t i = 0; i < inst->extensions.n; i++) {
		v->extensions[i].key = ms_xstrdup(inst->extensions.v[i]);
		v->extensions[i].value = dup_or_null(d ? ms_distinfo_version(d, inst->extensions.v[i]) : NULL);
	}
	v->n_extensions = inst->extensions.n;
	v->dbs = ms_xcalloc(inst->n_dbs + 1, sizeof(*v->dbs));
	for (size_t i = 0; i < inst->n_dbs; i++)
		collect_db(&inst->dbs[i], probes ? &probes[i] : NULL, &v->dbs[i]);
	v->n_dbs = inst->n_dbs;
}
