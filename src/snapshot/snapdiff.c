/*
 * Comparing two snapshots (see snapdiff.h). Every list is compared the same
 * way: both sides sorted by key (copies of borrowed pointers), then merged
 * in one pass, so the result comes out sorted and a 100k-entry manifest
 * costs two sorts, not a quadratic scan.
 */
#include "snapshot/snapdiff.h"

#include <stdlib.h>
#include <string.h>

/* Grows an array about to receive its element number n (capacity doubles
 * at every power of two). */
static void *grow(void *p, size_t n, size_t size)
{
	if (n != 0 && (n & (n - 1)) != 0)
		return p;
	return ms_xrealloc(p, (n ? 2 * n : 1) * size);
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static char *dup_or_null(const char *s)
{
	return s ? ms_xstrdup(s) : NULL;
}

static void push_value(struct ms_diff_value **v, size_t *n, const char *name, enum ms_diff_change change,
		       const char *from, const char *to)
{
	struct ms_diff_value *x;

	*v = grow(*v, *n, sizeof(**v));
	x = &(*v)[(*n)++];
	x->name = ms_xstrdup(name);
	x->change = change;
	x->from = dup_or_null(from);
	x->to = dup_or_null(to);
}

/* --- key/value lists (extensions, latest migrations) --------------------- */

static int cmp_kv(const void *x, const void *y)
{
	return strcmp((*(const struct ms_kv *const *)x)->key, (*(const struct ms_kv *const *)y)->key);
}

static const struct ms_kv **sorted_kv(const struct ms_kv *kv, size_t n)
{
	const struct ms_kv **s = ms_xcalloc(n + 1, sizeof(*s));

	for (size_t i = 0; i < n; i++)
		s[i] = &kv[i];
	qsort(s, n, sizeof(*s), cmp_kv);
	return s;
}

/* Appends to *v every key added, removed or with a different value. */
void ms_snapdiff_kv(const struct ms_kv *a, size_t na, const struct ms_kv *b, size_t nb, struct ms_diff_value **v,
		    size_t *n)
{
	const struct ms_kv **sa = sorted_kv(a, na), **sb = sorted_kv(b, nb);
	size_t i = 0, k = 0;

	while (i < na || k < nb) {
		int c = i == na ? 1 : k == nb ? -1 : strcmp(sa[i]->key, sb[k]->key);

		if (c < 0) {
			push_value(v, n, sa[i]->key, MS_DIFF_REMOVED, sa[i]->value, NULL);
			i++;
		} else if (c > 0) {
			push_value(v, n, sb[k]->key, MS_DIFF_ADDED, NULL, sb[k]->value);
			k++;
		} else {
			if (!str_eq(sa[i]->value, sb[k]->value))
				push_value(v, n, sa[i]->key, MS_DIFF_CHANGED, sa[i]->value, sb[k]->value);
			i++;
			k++;
		}
	}
	free(sa);
	free(sb);
}

/* --- versions -------------------------------------------------------------- */

static const struct ms_db_versions *find_dbver(const struct ms_versions *v, const char *alias)
{
	for (size_t i = 0; i < v->n_dbs; i++)
		if (str_eq(v->dbs[i].alias, alias))
			return &v->dbs[i];
	return NULL;
}

/* Compares one alias's versions (x or y NULL: the alias is on one side
 * only); appends to d->dbvers when anything differs. */
static void diff_dbver(const char *alias, const struct ms_db_versions *x, const struct ms_db_versions *y,
		       struct ms_snapdiff *d)
{
	struct ms_diff_dbver r = { 0 };

	r.alias = ms_xstrdup(alias);
	r.change = !x ? MS_DIFF_ADDED : !y ? MS_DIFF_REMOVED : MS_DIFF_CHANGED;
	r.server_from = dup_or_null(x ? x->server_version : NULL);
	r.server_to = dup_or_null(y ? y->server_version : NULL);
	r.migrations_from = x ? x->migrations_applied : -1;
	r.migrations_to = y ? y->migrations_applied : -1;
	if (x && y) {
		r.server_changed = !str_eq(x->server_version, y->server_version);
		r.migrations_changed = x->migrations_applied != y->migrations_applied;
		ms_snapdiff_kv(x->latest, x->n_latest, y->latest, y->n_latest, &r.latest, &r.n_latest);
		if (!r.server_changed && !r.migrations_changed && r.n_latest == 0) {
			free(r.alias);
			free(r.server_from);
			free(r.server_to);
			return;
		}
	}
	d->dbvers = grow(d->dbvers, d->n_dbvers, sizeof(*d->dbvers));
	d->dbvers[d->n_dbvers++] = r;
}

static int cmp_dbver(const void *x, const void *y)
{
	return strcmp(((const struct ms_diff_dbver *)x)->alias, ((const struct ms_diff_dbver *)y)->alias);
}

static void diff_versions(const struct ms_versions *a, const struct ms_versions *b, struct ms_snapdiff *d)
{
	const char *names[] = { "modoboa", "django", "python" };
	const char *va[] = { a->modoboa, a->django, a->python };
	const char *vb[] = { b->modoboa, b->django, b->python };

	for (size_t i = 0; i < 3; i++)
		if (!str_eq(va[i], vb[i]))
			push_value(&d->packages, &d->n_packages, names[i], MS_DIFF_CHANGED, va[i], vb[i]);
	ms_snapdiff_kv(a->extensions, a->n_extensions, b->extensions, b->n_extensions, &d->extensions, &d->n_extensions);
	for (size_t i = 0; i < a->n_dbs; i++)
		if (a->dbs[i].alias)
			diff_dbver(a->dbs[i].alias, &a->dbs[i], find_dbver(b, a->dbs[i].alias), d);
	for (size_t i = 0; i < b->n_dbs; i++)
		if (b->dbs[i].alias && !find_dbver(a, b->dbs[i].alias))
			diff_dbver(b->dbs[i].alias, NULL, &b->dbs[i], d);
	if (d->n_dbvers > 1) /* the array is NULL while empty */
		qsort(d->dbvers, d->n_dbvers, sizeof(*d->dbvers), cmp_dbver);
}

/* --- files ------------------------------------------------------------------ */

static int cmp_entry(const void *x, const void *y)
{
	return strcmp((*(const struct ms_manifest_entry *const *)x)->e.path,
		      (*(const struct ms_manifest_entry *const *)y)->e.path);
}

/* The entries of m under `root` ("files/instance": the root itself and
 * everything below it), sorted by path; *n set. Caller frees the array. */
static const struct ms_manifest_entry **component_entries(const struct ms_manifest *m, const char *root, size_t *n)
{
	const struct ms_manifest_entry **s = ms_xcalloc(m->n_entries + 1, sizeof(*s));
	size_t len = strlen(root);

	*n = 0;
	for (size_t i = 0; i < m->n_entries; i++) {
		const char *p = m->entries[i].e.path;

		if (p && strncmp(p, root, len) == 0 && (p[len] == '\0' || p[len] == '/'))
			s[(*n)++] = &m->entries[i];
	}
	qsort(s, *n, sizeof(*s), cmp_entry);
	return s;
}

static bool content_differs(const struct ms_entry *x, const char *sx, const struct ms_entry *y, const char *sy)
{
	if (x->type != y->type || !str_eq(x->link, y->link))
		return true;
	return x->type == MS_ENTRY_FILE && (x->size != y->size || strcmp(sx, sy) != 0);
}

static bool xattrs_differ(const struct ms_entry *x, const struct ms_entry *y)
{
	if (x->n_xattrs != y->n_xattrs)
		return true;
	for (size_t i = 0; i < x->n_xattrs; i++) {
		const struct ms_xattr *p = &x->xattrs[i], *q = &y->xattrs[i];

		if (!str_eq(p->name, q->name) || p->size != q->size ||
		    (p->size && memcmp(p->value, q->value, p->size) != 0))
			return true;
	}
	return false;
}

static bool metadata_differs(const struct ms_entry *x, const struct ms_entry *y)
{
	return x->mode != y->mode || x->uid != y->uid || x->gid != y->gid || !str_eq(x->uname, y->uname) ||
	       !str_eq(x->gname, y->gname) || x->mtime_sec != y->mtime_sec || x->mtime_nsec != y->mtime_nsec ||
	       xattrs_differ(x, y);
}

static void push_path(struct ms_diff_files *f, const char *member, size_t root_len, enum ms_diff_change change)
{
	struct ms_diff_path *p;

	f->paths = grow(f->paths, f->n_paths, sizeof(*f->paths));
	p = &f->paths[f->n_paths++];
	p->path = ms_xstrdup(member[root_len] ? member + root_len + 1 : ".");
	p->change = change;
	switch (change) {
	case MS_DIFF_ADDED: f->added++; break;
	case MS_DIFF_REMOVED: f->removed++; break;
	case MS_DIFF_CHANGED: f->changed++; break;
	case MS_DIFF_METADATA: f->metadata++; break;
	}
}

/* Compares the entries of one component present in both snapshots. */
static void diff_component(const char *comp, const struct ms_manifest *ma, const struct ms_manifest *mb,
			   struct ms_diff_files *f)
{
	char *root = ms_xasprintf("files/%s", comp);
	size_t na, nb, i = 0, k = 0, len = strlen(root);
	const struct ms_manifest_entry **sa = component_entries(ma, root, &na), **sb = component_entries(mb, root, &nb);

	memset(f, 0, sizeof(*f));
	f->component = ms_xstrdup(comp);
	while (i < na || k < nb) {
		int c = i == na ? 1 : k == nb ? -1 : strcmp(sa[i]->e.path, sb[k]->e.path);

		if (c < 0) {
			push_path(f, sa[i++]->e.path, len, MS_DIFF_REMOVED);
		} else if (c > 0) {
			push_path(f, sb[k++]->e.path, len, MS_DIFF_ADDED);
		} else {
			if (content_differs(&sa[i]->e, sa[i]->sha256, &sb[k]->e, sb[k]->sha256))
				push_path(f, sa[i]->e.path, len, MS_DIFF_CHANGED);
			else if (metadata_differs(&sa[i]->e, &sb[k]->e))
				push_path(f, sa[i]->e.path, len, MS_DIFF_METADATA);
			i++;
			k++;
		}
	}
	free(sa);
	free(sb);
	free(root);
}

/* --- components -------------------------------------------------------------- */

static void diff_components(const struct ms_header *ha, const struct ms_manifest *ma, const struct ms_header *hb,
			    const struct ms_manifest *mb, struct ms_snapdiff *d)
{
	struct ms_strv common = { 0 };

	for (size_t i = 0; i < ha->components.n; i++) {
		const char *c = ha->components.v[i];

		if (!ms_strv_contains(&hb->components, c))
			ms_strv_push(&d->components_removed, c);
		else if (strncmp(c, "db:", 3) != 0 && !ms_strv_contains(&common, c))
			ms_strv_push(&common, c);
	}
	for (size_t i = 0; i < hb->components.n; i++)
		if (!ms_strv_contains(&ha->components, hb->components.v[i]))
			ms_strv_push(&d->components_added, hb->components.v[i]);
	ms_strv_sort(&d->components_added);
	ms_strv_sort(&d->components_removed);
	ms_strv_sort(&common);
	d->n_files = common.n;
	d->files = ms_xcalloc(common.n + 1, sizeof(*d->files));
	for (size_t i = 0; i < common.n; i++)
		diff_component(common.v[i], ma, mb, &d->files[i]);
	ms_strv_clear(&common);
}

/* --- databases ----------------------------------------------------------------- */

static int cmp_table(const void *x, const void *y)
{
	const struct ms_manifest_table *p = *(const struct ms_manifest_table *const *)x;
	const struct ms_manifest_table *q = *(const struct ms_manifest_table *const *)y;
	int c = strcmp(p->schema ? p->schema : "", q->schema ? q->schema : "");

	return c ? c : strcmp(p->name ? p->name : "", q->name ? q->name : "");
}

static const struct ms_manifest_table **sorted_tables(const struct ms_manifest_db *db)
{
	const struct ms_manifest_table **s = ms_xcalloc(db->n_tables + 1, sizeof(*s));

	for (size_t i = 0; i < db->n_tables; i++)
		s[i] = &db->tables[i];
	qsort(s, db->n_tables, sizeof(*s), cmp_table);
	return s;
}

/* The name users know a table by: MySQL's schema is the database itself
 * and PostgreSQL's "public" is implied. */
static char *table_name(const struct ms_manifest_db *db, const struct ms_manifest_table *t)
{
	const char *name = t->name ? t->name : "";

	if (!t->schema || !*t->schema || strcmp(t->schema, "public") == 0 || str_eq(db->engine, "mysql"))
		return ms_xstrdup(name);
	return ms_xasprintf("%s.%s", t->schema, name);
}

static void push_table(struct ms_diff_db *r, const struct ms_manifest_db *db, const struct ms_manifest_table *t,
		       enum ms_diff_change change, long long from, long long to, bool digest)
{
	struct ms_diff_table *x;

	r->tables = grow(r->tables, r->n_tables, sizeof(*r->tables));
	x = &r->tables[r->n_tables++];
	x->name = table_name(db, t);
	x->change = change;
	x->rows_from = from;
	x->rows_to = to;
	x->digest_changed = digest;
}

static void diff_db(const struct ms_manifest_db *x, const struct ms_manifest_db *y, struct ms_snapdiff *d)
{
	const struct ms_manifest_table **sa = sorted_tables(x), **sb = sorted_tables(y);
	struct ms_diff_db r = { 0 };
	size_t i = 0, k = 0;

	while (i < x->n_tables || k < y->n_tables) {
		int c = i == x->n_tables ? 1 : k == y->n_tables ? -1 : cmp_table(&sa[i], &sb[k]);

		if (c < 0) {
			push_table(&r, x, sa[i], MS_DIFF_REMOVED, sa[i]->rows, -1, false);
			i++;
		} else if (c > 0) {
			push_table(&r, y, sb[k], MS_DIFF_ADDED, -1, sb[k]->rows, false);
			k++;
		} else {
			bool digest = strcmp(sa[i]->digest, sb[k]->digest) != 0;

			if (digest || sa[i]->rows != sb[k]->rows)
				push_table(&r, y, sb[k], MS_DIFF_CHANGED, sa[i]->rows, sb[k]->rows, digest);
			i++;
			k++;
		}
	}
	free(sa);
	free(sb);
	if (r.n_tables == 0)
		return;
	r.alias = ms_xstrdup(x->alias);
	d->dbs = grow(d->dbs, d->n_dbs, sizeof(*d->dbs));
	d->dbs[d->n_dbs++] = r;
}

static int cmp_db(const void *x, const void *y)
{
	return strcmp(((const struct ms_diff_db *)x)->alias, ((const struct ms_diff_db *)y)->alias);
}

static void diff_databases(const struct ms_manifest *ma, const struct ms_manifest *mb, struct ms_snapdiff *d)
{
	for (size_t i = 0; i < ma->n_dbs; i++)
		for (size_t k = 0; k < mb->n_dbs; k++)
			if (ma->dbs[i].alias && str_eq(ma->dbs[i].alias, mb->dbs[k].alias)) {
				diff_db(&ma->dbs[i], &mb->dbs[k], d);
				break;
			}
	if (d->n_dbs > 1) /* the array is NULL while empty */
		qsort(d->dbs, d->n_dbs, sizeof(*d->dbs), cmp_db);
}

/* --- public ---------------------------------------------------------------------- */

void ms_snapdiff_compute(const struct ms_header *ha, const struct ms_manifest *ma, const struct ms_header *hb,
			 const struct ms_manifest *mb, struct ms_snapdiff *out)
{
	memset(out, 0, sizeof(*out));
	diff_versions(&ha->versions, &hb->versions, out);
	if (ha->n_packages && hb->n_packages)
		ms_snapdiff_kv(ha->packages, ha->n_packages, hb->packages, hb->n_packages, &out->installed,
			       &out->n_installed);
	diff_components(ha, ma, hb, mb, out);
	diff_databases(ma, mb, out);
}

bool ms_snapdiff_empty(const struct ms_snapdiff *d)
{
	if (d->n_packages || d->n_extensions || d->n_installed || d->n_dbvers || d->n_dbs || d->components_added.n ||
	    d->components_removed.n)
		return false;
	for (size_t i = 0; i < d->n_files; i++)
		if (d->files[i].n_paths)
			return false;
	return true;
}

const char *ms_diff_change_name(enum ms_diff_change c)
{
	switch (c) {
	case MS_DIFF_ADDED: return "added";
	case MS_DIFF_REMOVED: return "removed";
	case MS_DIFF_CHANGED: return "changed";
	case MS_DIFF_METADATA: return "metadata";
	}
	return "?";
}

void ms_diff_values_free(struct ms_diff_value *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].from);
		free(v[i].to);
	}
	free(v);
}

char *ms_diff_value_line(const struct ms_diff_value *v)
{
	char *name = ms_printable(v->name), *from = ms_printable(v->from ? v->from : "unknown"),
	     *to = ms_printable(v->to ? v->to : "unknown"), *line;

	if (v->change == MS_DIFF_ADDED)
		line = ms_xasprintf("%s %s (added)", name, to);
	else if (v->change == MS_DIFF_REMOVED)
		line = ms_xasprintf("%s %s (removed)", name, from);
	else
		line = ms_xasprintf("%s %s -> %s", name, from, to);
	free(name);
	free(from);
	free(to);
	return line;
}

void ms_snapdiff_clear(struct ms_snapdiff *d)
{
	ms_diff_values_free(d->packages, d->n_packages);
	ms_diff_values_free(d->extensions, d->n_extensions);
	ms_diff_values_free(d->installed, d->n_installed);
	for (size_t i = 0; i < d->n_dbvers; i++) {
		free(d->dbvers[i].alias);
		free(d->dbvers[i].server_from);
		free(d->dbvers[i].server_to);
		ms_diff_values_free(d->dbvers[i].latest, d->dbvers[i].n_latest);
	}
	free(d->dbvers);
	for (size_t i = 0; i < d->n_files; i++) {
		for (size_t k = 0; k < d->files[i].n_paths; k++)
			free(d->files[i].paths[k].path);
		free(d->files[i].paths);
		free(d->files[i].component);
	}
	free(d->files);
	for (size_t i = 0; i < d->n_dbs; i++) {
		for (size_t k = 0; k < d->dbs[i].n_tables; k++)
			free(d->dbs[i].tables[k].name);
		free(d->dbs[i].tables);
		free(d->dbs[i].alias);
	}
	free(d->dbs);
	ms_strv_clear(&d->components_added);
	ms_strv_clear(&d->components_removed);
	memset(d, 0, sizeof(*d));
}
