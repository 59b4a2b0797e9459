/*
 * Reading Modoboa's parameters from the `default` database (see
 * params.h): the engine-neutral part and the MariaDB/MySQL reader, which
 * needs nothing of the client library beyond my_conn.h's string rows.
 * PostgreSQL's reader is pg_params.c (it reads libpq results).
 */
#include "db/params.h"

#include <stdlib.h>
#include <string.h>

#include "db/my_conn.h"
#include "base/strbuf.h"
#include "base/util.h"

const char *const ms_params_keys[MS_PARAMS_N][2] = {
	{ "admin", "dkim_keys_storage_dir" },
	{ "rspamd", "key_map_path" },
	{ "rspamd", "selector_map_path" },
	{ "pdfcredentials", "storage_dir" },
	{ "maillog", "rrd_rootdir" },
};

static char **param_field(struct ms_modoboa_params *p, size_t i)
{
	char **fields[MS_PARAMS_N] = { &p->dkim_dir, &p->rspamd_key_map, &p->rspamd_selector_map, &p->pdf_dir,
				       &p->rrd_dir };

	if (i >= MS_PARAMS_N)
		MS_BUG("parameter index out of range");
	return fields[i];
}

static char *nonempty_dup(const char *s)
{
	return s && *s ? ms_xstrdup(s) : NULL;
}

void ms_params_set(struct ms_modoboa_params *p, size_t i, const char *value)
{
	char **f = param_field(p, i);

	free(*f);
	*f = nonempty_dup(value);
}

void ms_params_add_domain(struct ms_modoboa_params *p, const char *name, const char *key_path, bool enabled)
{
	struct ms_dkim_domain *d;

	p->domains = ms_xrealloc(p->domains, (p->n_domains + 1) * sizeof(*p->domains));
	d = &p->domains[p->n_domains++];
	d->name = ms_xstrdup(name);
	d->key_path = nonempty_dup(key_path);
	d->enabled = enabled;
}

void ms_modoboa_params_clear(struct ms_modoboa_params *p)
{
	for (size_t i = 0; i < MS_PARAMS_N; i++)
		free(*param_field(p, i));
	for (size_t i = 0; i < p->n_domains; i++) {
		free(p->domains[i].name);
		free(p->domains[i].key_path);
	}
	free(p->domains);
	memset(p, 0, sizeof(*p));
}

/* --- MariaDB / MySQL --------------------------------------------------------- */

/* Which of core_localconfig and admin_domain exist: *cfg, *dom. */
static int my_tables(struct st_mysql *m, const char *alias, bool *cfg, bool *dom)
{
	struct ms_my_rows r = { 0 };

	if (ms_my_select(m, alias,
			 "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() "
			 "AND table_name IN ('core_localconfig', 'admin_domain')",
			 "looking for Modoboa's parameter tables", &r) < 0)
		return -1;
	*cfg = *dom = false;
	for (size_t i = 0; i < r.n_rows; i++) {
		const char *t = ms_my_cell(&r, i, 0);

		*cfg |= t && strcmp(t, "core_localconfig") == 0;
		*dom |= t && strcmp(t, "admin_domain") == 0;
	}
	ms_my_rows_clear(&r);
	return 0;
}

/* Each parameter is a path: only a JSON string counts (NULL for a JSON
 * null, another type or a missing key). JSON_EXTRACT, JSON_TYPE and
 * JSON_UNQUOTE are in every MariaDB and MySQL version Django supports
 * (JSON_VALUE is not, before MySQL 8.0.21). */
static int my_localconfig(struct st_mysql *m, const char *alias, struct ms_modoboa_params *out)
{
	struct ms_strbuf sql = MS_STRBUF_INIT;
	struct ms_my_rows r = { 0 };
	int ret;

	ms_strbuf_addstr(&sql, "SELECT ");
	for (size_t i = 0; i < MS_PARAMS_N; i++)
		ms_strbuf_addf(&sql, "%sCASE JSON_TYPE(JSON_EXTRACT(_parameters, '$.%s.%s')) WHEN 'STRING' "
			       "THEN JSON_UNQUOTE(JSON_EXTRACT(_parameters, '$.%s.%s')) END", i ? ", " : "",
			       ms_params_keys[i][0], ms_params_keys[i][1], ms_params_keys[i][0], ms_params_keys[i][1]);
	ms_strbuf_addstr(&sql, " FROM core_localconfig ORDER BY id LIMIT 1");
	ret = ms_my_select(m, alias, ms_strbuf_str(&sql), "reading core_localconfig._parameters", &r);
	for (size_t i = 0; ret == 0 && r.n_rows > 0 && i < MS_PARAMS_N; i++)
		ms_params_set(out, i, ms_my_cell(&r, 0, i));
	ms_my_rows_clear(&r);
	ms_strbuf_release(&sql);
	return ret;
}

static int my_domains(struct st_mysql *m, const char *alias, struct ms_modoboa_params *out)
{
	struct ms_my_rows r = { 0 };

	if (ms_my_select(m, alias, "SELECT name, dkim_private_key_path, enable_dkim FROM admin_domain ORDER BY name",
			 "reading admin_domain", &r) < 0)
		return -1;
	for (size_t i = 0; i < r.n_rows; i++) {
		const char *on = ms_my_cell(&r, i, 2);

		ms_params_add_domain(out, ms_my_cell(&r, i, 0) ? ms_my_cell(&r, i, 0) : "", ms_my_cell(&r, i, 1),
				     on && strcmp(on, "0") != 0);
	}
	ms_my_rows_clear(&r);
	return 0;
}

static int my_read_params(const struct ms_dbconf *db, struct ms_modoboa_params *out)
{
	struct st_mysql *m = ms_my_connect(db, NULL, NULL, 0);
	bool has_cfg, has_dom;
	int ret = -1;

	if (!m)
		return -1;
	if (ms_my_exec(m, db->alias, "SET SESSION lock_wait_timeout = " MS_PARAMS_LOCK_TIMEOUT
		       ", innodb_lock_wait_timeout = " MS_PARAMS_LOCK_TIMEOUT, "setting the lock timeouts") < 0)
		goto out;
	if (my_tables(m, db->alias, &has_cfg, &has_dom) < 0)
		goto out;
	if (has_cfg && my_localconfig(m, db->alias, out) < 0)
		goto out;
	if (has_dom && my_domains(m, db->alias, out) < 0)
		goto out;
	ret = 0;
out:
	ms_my_close(m);
	return ret;
}

int ms_db_read_params(const struct ms_dbconf *db, struct ms_modoboa_params *out)
{
	int ret;

	memset(out, 0, sizeof(*out));
	ret = db->engine == MS_DB_POSTGRESQL ? ms_pg_read_params(db, out) : my_read_params(db, out);
	if (ret < 0)
		ms_modoboa_params_clear(out);
	return ret;
}
