/*
 * Engine dispatch and helpers shared by the database modules (see db.h).
 */
#include "db/db.h"

#include "base/util.h"

#include <stdlib.h>
#include <string.h>

const char *ms_db_engine_name(enum ms_db_engine e)
{
	return e == MS_DB_POSTGRESQL ? "postgresql" : "mysql";
}

const struct ms_db_ops *ms_db_ops_for(enum ms_db_engine engine)
{
	switch (engine) {
	case MS_DB_POSTGRESQL:
		return &ms_pg_ops;
	case MS_DB_MYSQL:
		return &ms_my_ops;
	}
	MS_BUG("unknown database engine");
}

int ms_db_probe(const struct ms_dbconf *db, struct ms_db_probe *out)
{
	memset(out, 0, sizeof(*out));
	return ms_db_ops_for(db->engine)->probe(db, out);
}

void ms_db_probe_clear(struct ms_db_probe *p)
{
	free(p->server_version);
	free(p->encoding);
	for (size_t i = 0; i < p->n_heads; i++) {
		free(p->heads[i].app);
		free(p->heads[i].name);
	}
	free(p->heads);
	memset(p, 0, sizeof(*p));
}

char *ms_db_describe(const struct ms_dbconf *db)
{
	const char *host = *db->host ? db->host : "local socket";

	return ms_xasprintf("%s@%s%s%s/%s", *db->user ? db->user : "(default user)", host,
			    *db->port ? ":" : "", db->port, db->name);
}
