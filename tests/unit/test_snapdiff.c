/*
 * Unit tests for src/snapshot/snapdiff.c. Every case starts from two identical
 * in-memory snapshots (header and manifest), applies one or two changes to
 * the second (or to both), and compares the result, rendered as one
 * canonical line per difference, with the expected text: one test per
 * table row, covering each kind of difference and what must not count as
 * one. A few plain tests cover ordering, the empty result and clearing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "formats/entry.h"
#include "formats/manifest.h"
#include "snapshot/snapdiff.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "testutil.h"

#define SHA_A "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
#define SHA_B "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
#define SHA_C "2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6"
#define SHA_E "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define DIG_1 "1111111111111111111111111111111111111111111111111111111111111111"
#define DIG_2 "2222222222222222222222222222222222222222222222222222222222222222"
#define DIG_3 "3333333333333333333333333333333333333333333333333333333333333333"

/* --- building snapshots ------------------------------------------------------ */

static struct ms_db_versions *dbver_add(struct ms_versions *v, const char *alias, const char *server,
				       long long migrations)
{
	struct ms_db_versions *db;

	v->dbs = ms_xrealloc(v->dbs, (v->n_dbs + 1) * sizeof(*v->dbs));
	db = &v->dbs[v->n_dbs++];
	memset(db, 0, sizeof(*db));
	db->alias = ms_xstrdup(alias);
	db->engine = ms_xstrdup("postgresql");
	db->server_version = server ? ms_xstrdup(server) : NULL;
	db->migrations_applied = migrations;
	return db;
}

static void add_entry(struct ms_manifest *m, const char *path, enum ms_entry_type type, const char *sha,
		      const char *link)
{
	struct ms_entry e = { 0 };

	e.path = (char *)path;
	e.type = type;
	e.size = type == MS_ENTRY_FILE ? 10 : 0;
	e.mode = type == MS_ENTRY_DIR ? 0755 : 0644;
	e.uid = e.gid = 1000;
	e.uname = e.gname = (char *)"modoboa";
	e.mtime_sec = 1764480000;
	e.link = (char *)link;
	ms_manifest_add(m, &e, sha, 0);
}

/* The baseline both sides start from. */
static void build(struct ms_header *h, struct ms_manifest *m, const char *id)
{
	struct ms_db_versions *db;
	struct ms_manifest_db *mdb;

	memset(h, 0, sizeof(*h));
	memset(m, 0, sizeof(*m));
	h->format_version = m->format_version = MS_FORMAT_VERSION;
	h->snapshot_id = ms_xstrdup(id);
	m->snapshot_id = ms_xstrdup(id);
	h->created = ms_xstrdup("2026-11-30T04:53:23Z");
	h->host = ms_xstrdup("mail");
	h->tool_version = ms_xstrdup("0.1.0");
	h->instance = ms_xstrdup("/srv/modoboa/instance");
	ms_strv_push(&h->components, "instance");
	ms_strv_push(&h->components, "postfix");
	ms_strv_push(&h->components, "db:default");
	h->versions.modoboa = ms_xstrdup("2.3.2");
	h->versions.django = ms_xstrdup("4.2.16");
	h->versions.python = ms_xstrdup("3.11.2");
	test_kv_add(&h->versions.extensions, &h->versions.n_extensions, "modoboa_webmail", "1.0.0");
	test_kv_add(&h->versions.extensions, &h->versions.n_extensions, "modoboa_contacts", "1.1.0");
	db = dbver_add(&h->versions, "default", "15.4", 120);
	test_kv_add(&db->latest, &db->n_latest, "core", "0023_a");
	test_kv_add(&db->latest, &db->n_latest, "admin", "0003_b");

	add_entry(m, "modosnap.json", MS_ENTRY_FILE, SHA_C, NULL);
	add_entry(m, "files/instance", MS_ENTRY_DIR, SHA_E, NULL);
	add_entry(m, "files/instance/manage.py", MS_ENTRY_FILE, SHA_A, NULL);
	add_entry(m, "files/instance/instance", MS_ENTRY_DIR, SHA_E, NULL);
	add_entry(m, "files/instance/instance/settings.py", MS_ENTRY_FILE, SHA_B, NULL);
	add_entry(m, "files/instance/current", MS_ENTRY_SYMLINK, SHA_E, "manage.py");
	add_entry(m, "files/instances-old/x", MS_ENTRY_FILE, SHA_A, NULL); /* not the instance component */
	add_entry(m, "files/postfix", MS_ENTRY_DIR, SHA_E, NULL);
	add_entry(m, "files/postfix/main.cf", MS_ENTRY_FILE, SHA_A, NULL);
	add_entry(m, "db/default/schema-pre.sql", MS_ENTRY_FILE, SHA_B, NULL);
	mdb = ms_manifest_add_db(m);
	mdb->alias = ms_xstrdup("default");
	mdb->engine = ms_xstrdup("postgresql");
	ms_manifest_db_add_table(mdb, "public", "msgs", 1200, DIG_1, 1);
	ms_manifest_db_add_table(mdb, "public", "users", 10, DIG_2, 1);
	ms_manifest_db_add_table(mdb, "audit", "log", 5, DIG_3, 1);
}

static struct ms_manifest_entry *entry(struct ms_manifest *m, const char *path)
{
	for (size_t i = 0; i < m->n_entries; i++)
		if (strcmp(m->entries[i].e.path, path) == 0)
			return &m->entries[i];
	fail_msg("no entry '%s' in the test manifest", path);
	return NULL;
}

static void rm_entry(struct ms_manifest *m, const char *path)
{
	struct ms_manifest_entry *e = entry(m, path);
	size_t i = (size_t)(e - m->entries);

	ms_entry_clear(&e->e);
	memmove(e, e + 1, (m->n_entries - i - 1) * sizeof(*e));
	m->n_entries--;
}

static void set_str(char **field, const char *value)
{
	free(*field);
	*field = value ? ms_xstrdup(value) : NULL;
}

static void rm_component(struct ms_header *h, const char *c)
{
	for (size_t i = 0; i < h->components.n; i++)
		if (strcmp(h->components.v[i], c) == 0) {
			free(h->components.v[i]);
			memmove(&h->components.v[i], &h->components.v[i + 1],
				(h->components.n - i) * sizeof(char *));
			h->components.n--;
			return;
		}
}

/* --- rendering the result ------------------------------------------------------- */

static const char *S(const char *s)
{
	return s ? s : "-";
}

static void render_values(struct ms_strbuf *sb, const char *what, const struct ms_diff_value *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ms_strbuf_addf(sb, "%s %s %s %s>%s\n", what, v[i].name, ms_diff_change_name(v[i].change),
			       S(v[i].from), S(v[i].to));
}

/* One line per difference; file components are listed even when unchanged. */
static char *render(const struct ms_snapdiff *d)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;

	render_values(&sb, "pkg", d->packages, d->n_packages);
	render_values(&sb, "ext", d->extensions, d->n_extensions);
	for (size_t i = 0; i < d->n_dbvers; i++) {
		const struct ms_diff_dbver *v = &d->dbvers[i];

		ms_strbuf_addf(&sb, "dbv %s %s", v->alias, ms_diff_change_name(v->change));
		if (v->change != MS_DIFF_CHANGED || v->server_changed)
			ms_strbuf_addf(&sb, " server %s>%s", S(v->server_from), S(v->server_to));
		if (v->change != MS_DIFF_CHANGED || v->migrations_changed)
			ms_strbuf_addf(&sb, " mig %lld>%lld", v->migrations_from, v->migrations_to);
		ms_strbuf_addch(&sb, '\n');
		render_values(&sb, "  app", v->latest, v->n_latest);
	}
	for (size_t i = 0; i < d->components_added.n; i++)
		ms_strbuf_addf(&sb, "comp added %s\n", d->components_added.v[i]);
	for (size_t i = 0; i < d->components_removed.n; i++)
		ms_strbuf_addf(&sb, "comp removed %s\n", d->components_removed.v[i]);
	for (size_t i = 0; i < d->n_files; i++) {
		const struct ms_diff_files *f = &d->files[i];

		ms_strbuf_addf(&sb, "files %s %zu/%zu/%zu/%zu\n", f->component, f->added, f->removed, f->changed,
			       f->metadata);
		for (size_t k = 0; k < f->n_paths; k++)
			ms_strbuf_addf(&sb, "  %s %s\n", ms_diff_change_name(f->paths[k].change), f->paths[k].path);
	}
	for (size_t i = 0; i < d->n_dbs; i++) {
		ms_strbuf_addf(&sb, "db %s\n", d->dbs[i].alias);
		for (size_t k = 0; k < d->dbs[i].n_tables; k++) {
			const struct ms_diff_table *t = &d->dbs[i].tables[k];

			ms_strbuf_addf(&sb, "  %s %s %lld>%lld%s\n", t->name, ms_diff_change_name(t->change),
				       t->rows_from, t->rows_to, t->digest_changed ? " digest" : "");
		}
	}
	return ms_strbuf_detach(&sb);
}

/* --- the table ---------------------------------------------------------------------- */

#define SAME_FILES "files instance 0/0/0/0\nfiles postfix 0/0/0/0\n"

struct diff_case {
	const char *name;
	void (*change)(struct ms_header *ha, struct ms_manifest *ma, struct ms_header *hb, struct ms_manifest *mb);
	const char *want; /* render() of the result */
};

static void c_none(struct ms_header *ha, struct ms_manifest *ma, struct ms_header *hb, struct ms_manifest *mb)
{
	(void)ha; (void)ma; (void)hb; (void)mb;
}

static void c_packages(struct ms_header *ha, struct ms_manifest *ma, struct ms_header *hb, struct ms_manifest *mb)
{
	(void)ha; (void)ma; (void)mb;
	set_str(&hb->versions.modoboa, "2.4.0");
	set_str(&hb->versions.python, NULL);
}

static void c_extensions(struct ms_header *ha, struct ms_manifest *ma, struct ms_header *hb,
			 struct ms_manifest *mb)
{
	(void)ma; (void)mb;
	set_str(&hb->versions.extensions[1].value, "1.2.0");    /* contacts changed */
	set_str(&hb->versions.extensions[0].key, "modoboa_amavis"); /* webmail removed, amavis added */
	test_kv_add(&ha->versions.extensions, &ha->versions.n_extensions, "modoboa_imap", NULL);
	test_kv_add(&hb->versions.extensions, &hb->versions.n_extensions, "modoboa_imap", "0.9"); /* unknown -> known */
}

static void c_dbserver(struct ms_header *ha, struct ms_manifest *ma, struct ms_header *hb, struct ms_manifest *mb)
{
	(void)ha; (void)ma; (void)mb;
	set_str(&hb->versions.dbs[0].server_version, "16.1");
}

static void c_migrations(struct ms_header *ha, struct ms_manifest *ma, struct ms_header *hb,
			 struct ms_manifest *mb)
{
	struct ms_db_versions *db = &hb->versions.dbs[0];

	(void)ha; (void)ma; (void)mb;
	db->migrations_applied = 125;
	set_str(&db->latest[0].value, "0024_c");
	test_kv_add(&db->latest, &db->n_latest, "contacts", "0001_initial");
}

static void c_migration_removed(struct ms_header *ha, struct ms_manifest *ma, struct ms_header *hb,
				struct ms_manifest *mb)
{
	(void)ma; (void)hb; (void)mb;
	test_kv_add(&ha->versions.dbs[0].latest, &ha->versions.dbs[0].n_latest, "dkim", "0002_x");
	ha->versions.dbs[0].migrations_applied = 121;
}

static void c_dbver_alias(struct ms_header *ha, struct ms_manifest *ma, struct ms_header *hb,
			  struct ms_manifest *mb)
{
	(void)ma; (void)mb;
	dbver_add(&hb->versions, "amavis", "10.11.6", -1);
	dbver_add(&ha->versions, "old", NULL, 7);
}

static void c_file_added_removed(struct ms_header *ha, struct ms_manifest *ma, struct ms_header *hb,
				 struct ms_manifest *mb)
{
	(void)ha; (void)ma; (void)hb;
	add_entry(mb, "files/instance/new.txt", MS_ENTRY_FILE, SHA_C, NULL);
	rm_entry(mb, "files/instance/instance/settings.py");
}

static void c_file_content(struct ms_header *ha, struct ms_manifest *ma, struct ms_header *hb,
			   struct ms_manifest *mb)
{
	(void)ha; (void)ma; (void)hb;
	snprintf(entry(mb, "files/instance/manage.py")->sha256, MS_HASH_HEX_MAX, "%s", SHA_B);
	entry(mb, "files/instance/manage.py")->e.mode = 0600; /* content wins: counted once, as changed */
	entry(mb, "files/postfix/main.cf")->e.size = 11;
}

static void c_file_kind(struct ms_header *ha, struct ms_manifest *ma, struct ms_header *hb, struct ms_manifest *mb)
{
	struct ms_manifest_entry *e = entry(mb, "files/instance/instance/settings.py");

	(void)ha; (void)ma; (void)hb;
	set_str(&entry(mb, "files/instance/current")->e.link, "instance");
	e->e.type = MS_ENTRY_SYMLINK; /* a file that became a symlink */
	e->e.size = 0;
	set_str(&e->e.link, "/etc/settings.py");
	snprintf(e->sha256, MS_HASH_HEX_MAX, "%s", SHA_E);
}

static void c_file_metadata(struct ms_header *ha, struct ms_manifest *ma, struct ms_header *hb,
			    struct ms_manifest *mb)
{
	(void)ha; (void)ma; (void)hb;
	entry(mb, "files/instance")->e.mtime_sec++;
	entry(mb, "files/instance/manage.py")->e.mode = 0755;
	entry(mb, "files/instance/instance")->e.uid = 0;
	set_str(&entry(mb, "files/postfix/main.cf")->e.gname, "postfix");
	entry(mb, "files/instance/instance/settings.py")->e.mtime_nsec = 5;
}

static void c_outside_components(struct ms_header *ha, struct ms_manifest *ma, struct ms_header *hb,
				 struct ms_manifest *mb)
{
	(void)ha; (void)ma; (void)hb;
	snprintf(entry(mb, "modosnap.json")->sha256, MS_HASH_HEX_MAX, "%s", SHA_A);
	snprintf(entry(mb, "db/default/schema-pre.sql")->sha256, MS_HASH_HEX_MAX, "%s", SHA_A);
	snprintf(entry(mb, "files/instances-old/x")->sha256, MS_HASH_HEX_MAX, "%s", SHA_B);
	entry(mb, "files/instance/manage.py")->flags = MS_MF_CHANGED;
}

static void c_tables(struct ms_header *ha, struct ms_manifest *ma, struct ms_header *hb, struct ms_manifest *mb)
{
	struct ms_manifest_db *db = &mb->dbs[0];

	(void)ha; (void)hb;
	db->tables[0].rows = 1450;
	snprintf(db->tables[0].digest, MS_HASH_HEX_MAX, "%s", DIG_3);
	snprintf(db->tables[1].digest, MS_HASH_HEX_MAX, "%s", DIG_1); /* same count, other rows */
	db->tables[2].chunks = 2; /* chunking alone is no difference */
	ms_manifest_db_add_table(db, "public", "quarantine", 12, DIG_2, 1);
	ms_manifest_db_add_table(db, "audit", "events", 2, DIG_2, 1);
	ms_manifest_db_add_table(&ma->dbs[0], "public", "aliases", 4, DIG_2, 1);
}

static void c_mysql_names(struct ms_header *ha, struct ms_manifest *ma, struct ms_header *hb,
			  struct ms_manifest *mb)
{
	struct ms_manifest_db *x = ms_manifest_add_db(ma), *y = ms_manifest_add_db(mb);

	(void)ha; (void)hb;
	x->alias = ms_xstrdup("amavis");
	y->alias = ms_xstrdup("amavis");
	x->engine = ms_xstrdup("mysql");
	y->engine = ms_xstrdup("mysql");
	ms_manifest_db_add_table(x, "amavis", "msgs", 3, DIG_1, 1);
	ms_manifest_db_add_table(y, "amavis", "msgs", 1, DIG_2, 1);
}

static void c_components(struct ms_header *ha, struct ms_manifest *ma, struct ms_header *hb,
			 struct ms_manifest *mb)
{
	(void)ha; (void)ma;
	rm_component(hb, "postfix");
	rm_entry(mb, "files/postfix/main.cf");
	rm_entry(mb, "files/postfix");
	ms_strv_push(&hb->components, "db:amavis");
	rm_component(hb, "db:default");
	ms_strv_push(&hb->components, "db:default"); /* order in the header does not matter */
}

static const struct diff_case cases[] = {
	{ "identical snapshots", c_none, SAME_FILES },
	{ "modoboa changed, python now unknown", c_packages,
	  "pkg modoboa changed 2.3.2>2.4.0\npkg python changed 3.11.2>-\n" SAME_FILES },
	{ "extensions added, removed, changed", c_extensions,
	  "ext modoboa_amavis added ->1.0.0\next modoboa_contacts changed 1.1.0>1.2.0\n"
	  "ext modoboa_imap changed ->0.9\next modoboa_webmail removed 1.0.0>-\n" SAME_FILES },
	{ "database server version", c_dbserver, "dbv default changed server 15.4>16.1\n" SAME_FILES },
	{ "migrations applied and latest per app", c_migrations,
	  "dbv default changed mig 120>125\n  app contacts added ->0001_initial\n  app core changed 0023_a>0024_c\n"
	  SAME_FILES },
	{ "an app's migrations gone", c_migration_removed,
	  "dbv default changed mig 121>120\n  app dkim removed 0002_x>-\n" SAME_FILES },
	{ "database alias in one header only", c_dbver_alias,
	  "dbv amavis added server ->10.11.6 mig -1>-1\ndbv old removed server ->- mig 7>-1\n" SAME_FILES },
	{ "file added and removed", c_file_added_removed,
	  "files instance 1/1/0/0\n  removed instance/settings.py\n  added new.txt\nfiles postfix 0/0/0/0\n" },
	{ "file content and size", c_file_content,
	  "files instance 0/0/1/0\n  changed manage.py\nfiles postfix 0/0/1/0\n  changed main.cf\n" },
	{ "symlink target and file type", c_file_kind,
	  "files instance 0/0/2/0\n  changed current\n  changed instance/settings.py\nfiles postfix 0/0/0/0\n" },
	{ "mode, owner, mtime: metadata only", c_file_metadata,
	  "files instance 0/0/0/4\n  metadata .\n  metadata instance\n  metadata instance/settings.py\n"
	  "  metadata manage.py\nfiles postfix 0/0/0/1\n  metadata main.cf\n" },
	{ "members outside the file components and flags", c_outside_components, SAME_FILES },
	{ "tables: rows, digest, added, removed, schema", c_tables,
	  SAME_FILES "db default\n  audit.events added -1>2\n  aliases removed 4>-1\n  msgs changed 1200>1450 digest\n"
	  "  quarantine added -1>12\n  users changed 10>10 digest\n" },
	{ "mysql tables are named without the database", c_mysql_names,
	  SAME_FILES "db amavis\n  msgs changed 3>1 digest\n" },
	{ "components in one snapshot only", c_components,
	  "comp added db:amavis\ncomp removed postfix\nfiles instance 0/0/0/0\n" },
};
#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static void test_case(void **state)
{
	const struct diff_case *c = *state;
	struct ms_header ha, hb;
	struct ms_manifest ma, mb;
	struct ms_snapdiff d;
	char *got;

	build(&ha, &ma, "20261130T045323Z-0a1b2c3d");
	build(&hb, &mb, "20261130T055323Z-1b2c3d4e");
	c->change(&ha, &ma, &hb, &mb);
	ms_snapdiff_compute(&ha, &ma, &hb, &mb, &d);
	got = render(&d);
	assert_string_equal(got, c->want);
	assert_int_equal(ms_snapdiff_empty(&d), strcmp(c->want, SAME_FILES) == 0);
	free(got);
	ms_snapdiff_clear(&d);
	ms_header_clear(&ha);
	ms_header_clear(&hb);
	ms_manifest_clear(&ma);
	ms_manifest_clear(&mb);
}

/* --- plain tests ------------------------------------------------------------------------ */

/* Compared the other way round, added and removed swap. */
static void test_reverse(void **state)
{
	struct ms_header ha, hb;
	struct ms_manifest ma, mb;
	struct ms_snapdiff d;
	char *got;

	(void)state;
	build(&ha, &ma, "a");
	build(&hb, &mb, "b");
	c_file_added_removed(&ha, &ma, &hb, &mb);
	ms_snapdiff_compute(&hb, &mb, &ha, &ma, &d);
	got = render(&d);
	assert_string_equal(got, "files instance 1/1/0/0\n  added instance/settings.py\n  removed new.txt\n"
			    "files postfix 0/0/0/0\n");
	free(got);
	ms_snapdiff_clear(&d);
	ms_header_clear(&ha);
	ms_header_clear(&hb);
	ms_manifest_clear(&ma);
	ms_manifest_clear(&mb);
}

/* Many files, added in reverse order: the paths come out sorted. */
static void test_many_sorted(void **state)
{
	struct ms_header ha, hb;
	struct ms_manifest ma, mb;
	struct ms_snapdiff d;

	(void)state;
	build(&ha, &ma, "a");
	build(&hb, &mb, "b");
	for (int i = 5000; i > 0; i--) {
		char path[64];

		snprintf(path, sizeof(path), "files/instance/media/f%05d", i);
		add_entry(&mb, path, MS_ENTRY_FILE, SHA_A, NULL);
	}
	ms_snapdiff_compute(&ha, &ma, &hb, &mb, &d);
	assert_int_equal(d.n_files, 2);
	assert_int_equal(d.files[0].added, 5000);
	assert_int_equal(d.files[0].n_paths, 5000);
	assert_string_equal(d.files[0].paths[0].path, "media/f00001");
	for (size_t i = 1; i < d.files[0].n_paths; i++)
		assert_true(strcmp(d.files[0].paths[i - 1].path, d.files[0].paths[i].path) < 0);
	ms_snapdiff_clear(&d);
	ms_header_clear(&ha);
	ms_header_clear(&hb);
	ms_manifest_clear(&ma);
	ms_manifest_clear(&mb);
}

static void test_empty_and_clear(void **state)
{
	struct ms_header h = { 0 };
	struct ms_manifest m = { 0 };
	struct ms_snapdiff d = { 0 };

	(void)state;
	ms_snapdiff_clear(&d); /* zeroed: a no-op */
	ms_snapdiff_compute(&h, &m, &h, &m, &d);
	assert_true(ms_snapdiff_empty(&d));
	assert_int_equal(d.n_files, 0);
	ms_snapdiff_clear(&d);
	assert_string_equal(ms_diff_change_name(MS_DIFF_ADDED), "added");
	assert_string_equal(ms_diff_change_name(MS_DIFF_REMOVED), "removed");
	assert_string_equal(ms_diff_change_name(MS_DIFF_CHANGED), "changed");
	assert_string_equal(ms_diff_change_name(MS_DIFF_METADATA), "metadata");
}

static const struct { const char *name; CMUnitTestFunction fn; } plain_tests[] = {
	{ "reversed comparison swaps added and removed", test_reverse },
	{ "5000 added files come out sorted", test_many_sorted },
	{ "empty snapshots, clearing, change names", test_empty_and_clear },
};
#define N_PLAIN (sizeof(plain_tests) / sizeof(plain_tests[0]))

int main(void)
{
	static struct CMUnitTest tests[N_CASES + N_PLAIN];
	static char names[N_CASES][160];
	size_t n = 0;

	for (size_t i = 0; i < N_CASES; i++, n++) {
		snprintf(names[n], sizeof(names[n]), "diff: %s", cases[i].name);
		tests[n] = (struct CMUnitTest){ names[n], test_case, NULL, NULL, (void *)&cases[i] };
	}
	for (size_t i = 0; i < N_PLAIN; i++, n++)
		tests[n] = (struct CMUnitTest){ plain_tests[i].name, plain_tests[i].fn, NULL, NULL, NULL };
	return _cmocka_run_group_tests("snapdiff", tests, n, NULL, NULL);
}
