/*
 * Scratch verification (verify_deep.h): each dump restored into a
 * scratch database of its own engine, checked there, and dropped.
 */
#include "restore/verify_deep.h"
#include "discover/config.h"
#include "restore/my_restore.h"
#include "restore/pg_restore.h"
#include "restore/pg_scratch.h"
#include "restore/sqlcheck.h"

#include <stdlib.h>
#include <string.h>

/* Restores one database dump into a scratch database beside the live
 * one, where the restore compares every table's rows and digest, then
 * drops it. The dump's SQL is checked first (sqlcheck.h) and runs as the
 * application's role/account; admin_user, when set, only creates and
 * drops the scratch database. Appends the result line to `ok`. Returns
 * 0, -1 when the dump did not pass the check, restore or match, -2 when
 * no scratch database could be made (not a verdict on the snapshot). */
static int deep_one(const struct ms_config *cfg, const struct ms_dbconf *live, const char *archive,
		    const struct ms_manifest *m, const struct ms_manifest_db *mdb, struct ms_strbuf *ok,
		    struct ms_progress *progress)
{
	struct ms_db_admin admin = ms_config_db_admin(cfg, mdb->alias);
	struct ms_dbconf scratch = *live;
	char *name;
	int ret;

	if (ms_sqlcheck_archive(archive, mdb, live->user) < 0)
		return -1;
	if (live->engine == MS_DB_MYSQL) {
		ret = ms_my_verify_scratch(live, &admin, archive, m, mdb->alias, progress);
	} else {
		name = ms_pg_scratch_create(live, &admin, mdb->encoding);
		if (!name)
			return -2;
		scratch.name = name;
		ret = ms_pg_restore_database(&scratch, NULL, archive, m, mdb->alias, progress);
		if (ms_pg_scratch_drop(live, &admin, name) < 0)
			ret = -1;
		free(name);
	}
	if (ret == 0)
		ms_strbuf_addf(ok, "ok: database '%s': %zu tables restored into a scratch database and checked\n",
			       mdb->alias, mdb->n_tables);
	return ret;
}

/* The live connection of mdb's alias in inst when it has the dump's
 * engine, else NULL after logging. */
static const struct ms_dbconf *live_of(const struct ms_instance *inst, const struct ms_manifest_db *mdb)
{
	for (size_t k = 0; k < inst->n_dbs; k++)
		if (strcmp(inst->dbs[k].alias, mdb->alias) == 0 && mdb->engine &&
		    strcmp(inst->dbs[k].engine == MS_DB_POSTGRESQL ? "postgresql" : "mysql", mdb->engine) == 0)
			return &inst->dbs[k];
	ms_log_error("database '%s': no %s connection for it in this instance's settings or the config file",
		     mdb->alias, mdb->engine && !strcmp(mdb->engine, "mysql") ? "MariaDB/MySQL" : "PostgreSQL");
	return NULL;
}

int ms_verify_deep(const struct ms_config *cfg, const struct ms_instance_opts *inst_opts, const char *archive,
		   const struct ms_manifest *m, struct ms_strbuf *ok, struct ms_progress *progress)
{
	struct ms_instance_opts opts = *inst_opts;
	struct ms_instance *inst;
	int failed = 0, errors = 0;

	if (m->n_dbs == 0) {
		ms_log_warn("'%s' holds no database dump: nothing for --deep to check", archive);
		return 0;
	}
	opts.dbs_only = true; /* only the connection parameters matter here */
	inst = ms_instance_discover(cfg, &opts);
	if (!inst)
		return -2;
	if (progress)
		atomic_store(&progress->total, ms_progress_member_bytes(m, "db/"));
	for (size_t i = 0; i < m->n_dbs; i++) {
		const struct ms_dbconf *live = live_of(inst, &m->dbs[i]);

		switch (live ? deep_one(cfg, live, archive, m, &m->dbs[i], ok, progress) : -2) {
		case -1: failed++; break;
		case -2: errors++; break;
		default: break;
		}
	}
	ms_instance_free(inst);
	return failed ? -1 : errors ? -2 : 0;
}
