/*
 * Unit tests for formats/manifest.c: header and manifest round trips
 * (every field, nulls, unicode, non-UTF-8 paths, binary xattrs, flags,
 * skipped objects, versions), the exact JSON the encoder writes, every
 * decode error with the exact text on stderr (one test per table row),
 * snapshot ids (format, order, uniqueness) and a 100k-entry round trip
 * whose work, counted as jansson allocations, grows linearly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "formats/entry.h"
#include "base/log.h"
#include "formats/manifest.h"
#include "base/util.h"
#include "testutil.h"

#define NAME "/backups/h_20261130T045323Z_modoboa-2.3.2.tar.zst"
#define ID "20261130T045323Z-0a1b2c3d"
#define SHA_E "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_A "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
#define ERR "modosnap: error: '" NAME "': "


/* --- comparison helpers ----------------------------------------------------- */

static void assert_strv_equal(const struct ms_strv *a, const struct ms_strv *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		assert_string_equal(a->v[i], b->v[i]);
}

static void assert_kv_equal(const struct ms_kv *a, size_t na, const struct ms_kv *b, size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		assert_string_equal(a[i].key, b[i].key);
		assert_str_or_null(a[i].value, b[i].value);
	}
}

static void assert_header_equal(const struct ms_header *a, const struct ms_header *b)
{
	assert_int_equal(a->format_version, b->format_version);
	assert_string_equal(a->snapshot_id, b->snapshot_id);
	assert_string_equal(a->created, b->created);
	assert_string_equal(a->host, b->host);
	assert_string_equal(a->tool_version, b->tool_version);
	assert_string_equal(a->instance, b->instance);
	assert_strv_equal(&a->tags, &b->tags);
	assert_str_or_null(a->note, b->note);
	assert_strv_equal(&a->components, &b->components);
	assert_str_or_null(a->versions.modoboa, b->versions.modoboa);
	assert_str_or_null(a->versions.django, b->versions.django);
	assert_str_or_null(a->versions.python, b->versions.python);
	assert_kv_equal(a->versions.extensions, a->versions.n_extensions, b->versions.extensions,
			b->versions.n_extensions);
	assert_int_equal(a->versions.n_dbs, b->versions.n_dbs);
	for (size_t i = 0; i < a->versions.n_dbs; i++) {
		const struct ms_db_versions *x = &a->versions.dbs[i], *y = &b->versions.dbs[i];

		assert_string_equal(x->alias, y->alias);
		assert_string_equal(x->engine, y->engine);
		assert_str_or_null(x->server_version, y->server_version);
		assert_int_equal(x->migrations_applied, y->migrations_applied);
		assert_kv_equal(x->latest, x->n_latest, y->latest, y->n_latest);
	}
	assert_str_or_null(a->venv_dir, b->venv_dir);
	assert_str_or_null(a->mail_dir, b->mail_dir);
	assert_str_or_null(a->dkim_dir, b->dkim_dir);
	assert_str_or_null(a->system_root, b->system_root);
	assert_str_or_null(a->mail_layout, b->mail_layout);
	assert_kv_equal(a->packages, a->n_packages, b->packages, b->n_packages);
}

static void assert_entry_equal(const struct ms_manifest_entry *a, const struct ms_manifest_entry *b)
{
	assert_string_equal(a->e.path, b->e.path);
	assert_int_equal(a->e.type, b->e.type);
	assert_int_equal(a->e.size, b->e.size);
	assert_int_equal(a->e.mode, b->e.mode);
	assert_int_equal(a->e.uid, b->e.uid);
	assert_int_equal(a->e.gid, b->e.gid);
	assert_str_or_null(a->e.uname, b->e.uname);
	assert_str_or_null(a->e.gname, b->e.gname);
	assert_true(a->e.mtime_sec == b->e.mtime_sec);
	assert_int_equal(a->e.mtime_nsec, b->e.mtime_nsec);
	assert_str_or_null(a->e.link, b->e.link);
	assert_int_equal(a->e.n_xattrs, b->e.n_xattrs);
	for (size_t i = 0; i < a->e.n_xattrs; i++) {
		assert_string_equal(a->e.xattrs[i].name, b->e.xattrs[i].name);
		assert_int_equal(a->e.xattrs[i].size, b->e.xattrs[i].size);
		assert_memory_equal(a->e.xattrs[i].value, b->e.xattrs[i].value, a->e.xattrs[i].size);
	}
	assert_string_equal(a->sha256, b->sha256);
	assert_int_equal(a->flags, b->flags);
}

static void assert_manifest_equal(const struct ms_manifest *a, const struct ms_manifest *b)
{
	assert_int_equal(a->format_version, b->format_version);
	assert_string_equal(a->snapshot_id, b->snapshot_id);
	assert_int_equal(a->n_entries, b->n_entries);
	for (size_t i = 0; i < a->n_entries; i++)
		assert_entry_equal(&a->entries[i], &b->entries[i]);
	assert_int_equal(a->n_skipped, b->n_skipped);
	for (size_t i = 0; i < a->n_skipped; i++) {
		assert_string_equal(a->skipped[i].path, b->skipped[i].path);
		assert_string_equal(a->skipped[i].reason, b->skipped[i].reason);
	}
}

/* --- builders --------------------------------------------------------------- */

static void full_header(struct ms_header *h)
{
	struct ms_versions *v = &h->versions;
	struct ms_db_versions *db;

	memset(h, 0, sizeof(*h));
	h->format_version = MS_FORMAT_VERSION;
	h->snapshot_id = ms_xstrdup(ID);
	h->created = ms_xstrdup("2026-11-30T04:53:23Z");
	h->host = ms_xstrdup("mail1.example.org");
	h->tool_version = ms_xstrdup("0.3.0");
	h->instance = ms_xstrdup("/srv/modoboa/instance");
	ms_strv_push(&h->tags, "pre-upgrade");
	ms_strv_push(&h->tags, "étiquette ✓");
	h->note = ms_xstrdup("before 2.4 \"upgrade\"\nline two\ttab \\ 日本語 😀");
	ms_strv_push(&h->components, "instance");
	ms_strv_push(&h->components, "postfix");
	ms_strv_push(&h->components, "db:default");
	ms_strv_push(&h->components, "db:amavis");
	v->modoboa = ms_xstrdup("2.3.2");
	v->django = ms_xstrdup("4.2.16");
	v->python = ms_xstrdup("3.11.2");
	test_kv_add(&v->extensions, &v->n_extensions, "modoboa_amavis", "1.6.3");
	test_kv_add(&v->extensions, &v->n_extensions, "modoboa_contacts", NULL);
	v->dbs = ms_xcalloc(2, sizeof(*v->dbs));
	v->n_dbs = 2;
	db = &v->dbs[0];
	db->alias = ms_xstrdup("default");
	db->engine = ms_xstrdup("postgresql");
	db->server_version = ms_xstrdup("15.8");
	db->migrations_applied = 312;
	test_kv_add(&db->latest, &db->n_latest, "admin", "0023_alter_domain_message_limit");
	test_kv_add(&db->latest, &db->n_latest, "core", "0038_auto_20240201_1210");
	db = &v->dbs[1];
	db->alias = ms_xstrdup("amavis");
	db->engine = ms_xstrdup("mysql");
	db->server_version = NULL;
	db->migrations_applied = -1;
	ms_strv_push(&h->components, "venv");
	ms_strv_push(&h->components, "dkim");
	ms_strv_push(&h->components, "system");
	ms_strv_push(&h->components, "mail");
	h->venv_dir = ms_xstrdup("/srv/modoboa/env");
	h->mail_dir = ms_xstrdup("/srv/v\xffmail"); /* not UTF-8: a byte string */
	h->dkim_dir = ms_xstrdup("/var/lib/dkim");
	h->system_root = ms_xstrdup("/");
	h->mail_layout = ms_xstrdup("%d/%n");
	test_kv_add(&h->packages, &h->n_packages, "django", "4.2.16");
	test_kv_add(&h->packages, &h->n_packages, "modoboa", "2.3.2");
}

static void set_entry(struct ms_entry *e, const char *path, enum ms_entry_type type, uint64_t size,
		      const char *link)
{
	memset(e, 0, sizeof(*e));
	e->path = (char *)path;
	e->type = type;
	e->size = size;
	e->mode = type == MS_ENTRY_DIR ? 0755 : 0644;
	e->uid = 1000;
	e->gid = 1000;
	e->uname = (char *)"modoboa";
	e->gname = (char *)"modoboa";
	e->mtime_sec = 1796014403;
	e->mtime_nsec = 123456789;
	e->link = (char *)link;
}

/* Every kind of entry and every optional field. */
static void full_manifest(struct ms_manifest *m)
{
	static const char acl[] = "\x02\x00\x00\x00\x01\x00\x06\x00\xff\xff\xff\xff\x04\x00\x04\x00";
	struct ms_xattr xa[] = {
		{ "user.bin", (void *)"a\0b\0\xff", 5 },
		{ "user.empty", (void *)"", 0 },
		{ "system.posix_acl_access", (void *)acl, sizeof(acl) - 1 },
	};
	struct ms_entry e;

	memset(m, 0, sizeof(*m));
	m->format_version = MS_FORMAT_VERSION;
	m->snapshot_id = ms_xstrdup(ID);
	set_entry(&e, "modosnap.json", MS_ENTRY_FILE, 900, NULL);
	ms_manifest_add(m, &e, SHA_A, 0);
	set_entry(&e, "files/instance", MS_ENTRY_DIR, 0, NULL);
	e.xattrs = xa;
	e.n_xattrs = 3;
	ms_manifest_add(m, &e, SHA_E, 0);
	set_entry(&e, "files/instance/mödule ✓.py", MS_ENTRY_FILE, 1, NULL);
	ms_manifest_add(m, &e, SHA_A, MS_MF_CHANGED);
	set_entry(&e, "files/instance/latin1-\xe9t\xe9.txt", MS_ENTRY_FILE, 0, NULL);
	e.uname = NULL;
	e.gname = (char *)"gr\xfcppe";
	e.uid = UINT32_MAX;
	e.gid = 0;
	e.mtime_sec = -86400;
	e.mtime_nsec = 0;
	e.mode = 07777;
	ms_manifest_add(m, &e, SHA_E, 0);
	set_entry(&e, "files/instance/link", MS_ENTRY_SYMLINK, 0, "../../etc/\xff passwd");
	ms_manifest_add(m, &e, SHA_E, 0);
	set_entry(&e, "files/instance/hard", MS_ENTRY_HARDLINK, 0, "files/instance/mödule ✓.py");
	ms_manifest_add(m, &e, SHA_E, 0);
	ms_manifest_add_skipped(m, "/srv/modoboa/instance/run/uwsgi.sock", "socket");
	ms_manifest_add_skipped(m, "/srv/modoboa/instance/fifo\xfe", "fifo");
}

/* --- round trips ------------------------------------------------------------ */

static void test_header_round_trip(void **state)
{
	struct ms_header h, back, again;
	char *text, *text2;

	(void)state;
	full_header(&h);
	text = ms_header_encode(&h);
	assert_int_equal(ms_header_decode(NAME, text, strlen(text), &back), 0);
	assert_header_equal(&h, &back);
	text2 = ms_header_encode(&back);
	assert_string_equal(text, text2);
	assert_int_equal(ms_header_decode(NAME, text2, strlen(text2), &again), 0);
	assert_header_equal(&h, &again);
	free(text);
	free(text2);
	ms_header_clear(&h);
	ms_header_clear(&back);
	ms_header_clear(&again);
}

static void test_header_nulls(void **state)
{
	struct ms_header h = { 0 }, back;
	char *text;

	(void)state;
	h.format_version = MS_FORMAT_VERSION;
	h.snapshot_id = ms_xstrdup(ID);
	h.created = ms_xstrdup("2026-11-30T04:53:23Z");
	h.host = ms_xstrdup("");
	h.tool_version = ms_xstrdup("0.3.0");
	h.instance = ms_xstrdup("/srv/\xe9t\xe9");
	text = ms_header_encode(&h);
	assert_non_null(strstr(text, "\"note\": null"));
	assert_non_null(strstr(text, "\"modoboa\": null"));
	assert_non_null(strstr(text, "\"tags\": []"));
	assert_non_null(strstr(text, "\"databases\": []"));
	assert_non_null(strstr(text, "\"base64\": \"L3Nydi/pdOk=\""));
	/* the version 3 keys are left out when empty */
	assert_null(strstr(text, "\"paths\""));
	assert_null(strstr(text, "\"packages\""));
	assert_null(strstr(text, "\"mail_layout\""));
	assert_int_equal(ms_header_decode(NAME, text, strlen(text), &back), 0);
	assert_header_equal(&h, &back);
	assert_null(back.note);
	assert_null(back.versions.python);
	free(text);
	ms_header_clear(&h);
	ms_header_clear(&back);
}

/* Plain text fields are repaired rather than refused: the encoder never fails. */
static void test_header_lossy_text(void **state)
{
	struct ms_header h = { 0 }, back;
	char *text;

	(void)state;
	full_header(&h);
	free(h.host);
	h.host = ms_xstrdup("h\xffost");
	text = ms_header_encode(&h);
	assert_int_equal(ms_header_decode(NAME, text, strlen(text), &back), 0);
	assert_string_equal(back.host, "h\xef\xbf\xbdost");
	free(text);
	ms_header_clear(&h);
	ms_header_clear(&back);
}

static void test_manifest_round_trip(void **state)
{
	struct ms_manifest m, back;
	char *text, *text2;

	(void)state;
	full_manifest(&m);
	text = ms_manifest_encode(&m);
	assert_int_equal(ms_manifest_decode(NAME, text, strlen(text), &back), 0);
	assert_manifest_equal(&m, &back);
	text2 = ms_manifest_encode(&back);
	assert_string_equal(text, text2);
	assert_non_null(strstr(text, "\"flags\": [\n        \"changed\"\n      ]"));
	assert_non_null(strstr(text, "\"value\": \"YQBiAP8=\""));
	assert_non_null(strstr(text, "\"path\": \"files/instance/mödule ✓.py\""));
	free(text);
	free(text2);
	ms_manifest_clear(&m);
	ms_manifest_clear(&back);
}

/* The exact document for one entry: pins key names, order and layout. */
static void test_manifest_exact_text(void **state)
{
	static const char expect[] =
		"{\n"
		"  \"format_version\": 1,\n"
		"  \"snapshot_id\": \"" ID "\",\n"
		"  \"entries\": [\n"
		"    {\n"
		"      \"path\": \"files/instance/settings.py\",\n"
		"      \"type\": \"file\",\n"
		"      \"size\": 1,\n"
		"      \"sha256\": \"" SHA_A "\",\n"
		"      \"mode\": 420,\n"
		"      \"uid\": 1000,\n"
		"      \"gid\": 1000,\n"
		"      \"uname\": \"modoboa\",\n"
		"      \"gname\": null,\n"
		"      \"mtime\": 1796014403,\n"
		"      \"mtime_nsec\": 123456789,\n"
		"      \"xattrs\": [\n"
		"        {\n"
		"          \"name\": \"user.x\",\n"
		"          \"value\": \"AAE=\"\n"
		"        }\n"
		"      ]\n"
		"    },\n"
		"    {\n"
		"      \"path\": {\n"
		"        \"base64\": \"ZmlsZXMv/w==\"\n"
		"      },\n"
		"      \"type\": \"symlink\",\n"
		"      \"size\": 0,\n"
		"      \"sha256\": \"" SHA_E "\",\n"
		"      \"mode\": 420,\n"
		"      \"uid\": 1000,\n"
		"      \"gid\": 1000,\n"
		"      \"uname\": \"modoboa\",\n"
		"      \"gname\": null,\n"
		"      \"mtime\": 1796014403,\n"
		"      \"mtime_nsec\": 123456789,\n"
		"      \"link\": \"settings.py\"\n"
		"    }\n"
		"  ],\n"
		"  \"skipped\": [\n"
		"    {\n"
		"      \"path\": \"/etc/postfix/sock\",\n"
		"      \"reason\": \"socket\"\n"
		"    }\n"
		"  ]\n"
		"}\n";
	struct ms_xattr xa = { (char *)"user.x", (void *)"\0\1", 2 };
	struct ms_manifest m = { 0 };
	struct ms_entry e;
	char *text;

	(void)state;
	m.format_version = 1;
	m.snapshot_id = ms_xstrdup(ID);
	set_entry(&e, "files/instance/settings.py", MS_ENTRY_FILE, 1, NULL);
	e.gname = NULL;
	e.xattrs = &xa;
	e.n_xattrs = 1;
	ms_manifest_add(&m, &e, SHA_A, 0);
	set_entry(&e, "files/\xff", MS_ENTRY_SYMLINK, 0, "settings.py");
	e.gname = NULL;
	ms_manifest_add(&m, &e, SHA_E, 0);
	ms_manifest_add_skipped(&m, "/etc/postfix/sock", "socket");
	text = ms_manifest_encode(&m);
	assert_string_equal(text, expect);
	free(text);
	ms_manifest_clear(&m);
}

static void test_add_find(void **state)
{
	struct ms_manifest m = { 0 };
	struct ms_entry e;
	char path[64];

	(void)state;
	for (int i = 0; i < 1000; i++) {
		snprintf(path, sizeof(path), "files/instance/f%04d", i);
		set_entry(&e, path, MS_ENTRY_FILE, (uint64_t)i, NULL);
		ms_manifest_add(&m, &e, SHA_A, 0);
	}
	assert_int_equal(m.n_entries, 1000);
	assert_int_equal(ms_manifest_find(&m, "files/instance/f0999")->e.size, 999);
	assert_int_equal(ms_manifest_find(&m, "files/instance/f0000")->e.size, 0);
	assert_null(ms_manifest_find(&m, "files/instance/f1000"));
	assert_null(ms_manifest_find(&m, "files/instance"));
	ms_manifest_clear(&m);
	assert_null(m.entries);
	assert_int_equal(m.n_entries, 0);
	ms_manifest_clear(&m); /* clearing twice is harmless */
}

/* Unknown keys and flags are ignored; base64 forms decode. */
static void test_forward_compatible(void **state)
{
	static const char doc[] =
		"{\"format_version\": 1, \"snapshot_id\": \"" ID "\", \"future\": {\"x\": [1]},"
		" \"entries\": [{\"path\": {\"base64\": \"YQ==\"}, \"type\": \"dir\", \"size\": 0,"
		" \"sha256\": \"" SHA_E "\", \"mode\": 493, \"uid\": 0, \"gid\": 0, \"uname\": null,"
		" \"gname\": {\"base64\": \"/w==\"}, \"mtime\": 0, \"mtime_nsec\": 0, \"link\": null,"
		" \"flags\": [\"changed\", \"someday\"], \"colour\": \"blue\"}], \"skipped\": []}";
	struct ms_manifest m;

	(void)state;
	assert_int_equal(ms_manifest_decode(NAME, doc, strlen(doc), &m), 0);
	assert_int_equal(m.n_entries, 1);
	assert_string_equal(m.entries[0].e.path, "a");
	assert_string_equal(m.entries[0].e.gname, "\xff");
	assert_int_equal(m.entries[0].e.type, MS_ENTRY_DIR);
	assert_int_equal(m.entries[0].flags, MS_MF_CHANGED);
	ms_manifest_clear(&m);
}

/* --- decode errors: one test per row ---------------------------------------- */

/* In documents below, ' stands for " (converted before decoding). */
#define ENTRY(path, type, size, sha, mode, tail)                                                  \
	"{'path':" path ",'type':" type ",'size':" size ",'sha256':" sha ",'mode':" mode            \
	",'uid':0,'gid':0,'uname':null,'gname':null,'mtime':0,'mtime_nsec':0" tail "}"
#define FILE_E(path) ENTRY("'" path "'", "'file'", "0", "'" SHA_E "'", "420", "")
#define ENTRY_T(tail) ENTRY("'a'", "'file'", "0", "'" SHA_E "'", "420", tail)
#define MANI(entries) "{'format_version':1,'snapshot_id':'" ID "','entries':[" entries "],'skipped':[]}"
#define HDR_HEAD "{'format_version':1,'snapshot_id':'" ID "','created':'2026-11-30T04:53:23Z',"
#define HDR_MID "'host':'h','tool_version':'0.3.0','instance':'/srv/modoboa/instance',"
#define HDR(tags, note, versions) \
	HDR_HEAD HDR_MID "'tags':" tags ",'note':" note ",'components':['instance'],'versions':" versions "}"
#define VERS(dbs) "{'modoboa':'2.3.2','django':null,'python':null,'extensions':{},'databases':[" dbs "]}"
#define DB(mig) "{'alias':'default','engine':'postgresql','server_version':null,"  \
	"'migrations_applied':" mig ",'latest_migrations':{}}"

struct err_case {
	const char *name;
	bool header; /* decode as header, else as manifest */
	const char *doc;
	const char *expect; /* the whole of stderr */
};

static const struct err_case err_cases[] = {
	{ "empty document", false, "",
	  ERR "invalid manifest: '[' or '{' expected near end of file at line 1\n" },
	{ "truncated JSON", false, "{\n'format_version': 1,\n",
	  ERR "invalid manifest: string or '}' expected near end of file at line 3\n" },
	{ "trailing garbage", false, MANI("") " x",
	  ERR "invalid manifest: end of file expected near 'x' at line 1\n" },
	{ "duplicate key", false, "{'format_version':1,\n'format_version':1}",
	  ERR "invalid manifest: duplicate object key near '\"format_version\"' at line 2\n" },
	{ "NUL escape in a string", false, "{'snapshot_id':'a\\u0000b'}",
	  ERR "invalid manifest: \\u0000 is not allowed without JSON_ALLOW_NUL near '\"a\\u0000b\"' at line 1\n" },
	{ "array document", false, "[1]", ERR "invalid manifest: the document is an array, not an object\n" },
	{ "missing format_version", false, "{}", ERR "invalid manifest: format_version is missing\n" },
	{ "format_version string", false, "{'format_version':'1'}",
	  ERR "invalid manifest: format_version is a string, not an integer\n" },
	{ "format_version zero", false, "{'format_version':0}",
	  ERR "invalid manifest: format_version 0 is out of range (1 or more)\n" },
	{ "newer format version", false, "{'format_version':4,'entries':'whatever'}",
	  ERR "format version 4 is newer than this modosnap supports (3)\n" },
	{ "bad snapshot id", false, "{'format_version':1,'snapshot_id':'20261130-0a1b2c3d'}",
	  ERR "invalid manifest: snapshot_id '20261130-0a1b2c3d' is not a snapshot id (YYYYMMDDTHHMMSSZ-xxxxxxxx)\n" },
	{ "entries not an array", false, "{'format_version':1,'snapshot_id':'" ID "','entries':{}}",
	  ERR "invalid manifest: entries is an object, not an array\n" },
	{ "entry not an object", false, MANI(FILE_E("a") ",7"),
	  ERR "invalid manifest: entries[1] is an integer, not an object\n" },
	{ "missing skipped", false, "{'format_version':1,'snapshot_id':'" ID "','entries':[]}",
	  ERR "invalid manifest: skipped is missing\n" },
	{ "databases not an array", false, "{'format_version':1,'snapshot_id':'" ID "','entries':[],'skipped':[],'databases':{}}",
	  ERR "invalid manifest: databases is an object, not an array\n" },
	{ "table digest not hex", false, "{'format_version':1,'snapshot_id':'" ID "','entries':[],'skipped':[],'databases':[{'alias':'default','engine':'postgresql','server_version':'15.4',"
	  "'encoding':'UTF8','tables':[{'schema':'public','name':'t','rows':1,'chunks':1,'digest':'xyz'}]}]}",
	  ERR "invalid manifest: databases[0].tables[0].digest is not a 64-digit hex string\n" },
	{ "table rows negative", false, "{'format_version':1,'snapshot_id':'" ID "','entries':[],'skipped':[],'databases':[{'alias':'default','engine':'postgresql','server_version':null,"
	  "'encoding':null,'tables':[{'schema':'public','name':'t','rows':-1,'chunks':0,'digest':'x'}]}]}",
	  ERR "invalid manifest: databases[0].tables[0].rows -1 is out of range (0 or more)\n" },
	{ "shared_snapshot not an array", false, "{'format_version':1,'snapshot_id':'" ID "','entries':[],'skipped':[],'databases':[{'alias':'a','engine':'mysql','server_version':null,"
	  "'encoding':null,'shared_snapshot':'b','tables':[]}]}",
	  ERR "invalid manifest: databases[0].shared_snapshot is a string, not an array\n" },
	{ "shared_snapshot item not a string", false, "{'format_version':1,'snapshot_id':'" ID "','entries':[],'skipped':[],'databases':[{'alias':'a','engine':'mysql','server_version':null,"
	  "'encoding':null,'collation':'c','shared_snapshot':['b',2],'tables':[]}]}",
	  ERR "invalid manifest: databases[0].shared_snapshot[1] is an integer, not a string\n" },
	{ "database without alias", false, "{'format_version':1,'snapshot_id':'" ID "','entries':[],'skipped':[],'databases':[{'engine':'postgresql','tables':[]}]}",
	  ERR "invalid manifest: databases[0].alias is missing\n" },
	{ "uppercase sha256", false,
	  MANI(FILE_E("a") "," ENTRY("'b'", "'file'", "0",
				    "'E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855'", "420", "")),
	  ERR "invalid manifest: entries[1].sha256 is not a 64-digit hex string\n" },
	{ "short sha256", false, MANI(ENTRY("'a'", "'file'", "0", "'abc'", "420", "")),
	  ERR "invalid manifest: entries[0].sha256 is not a 64-digit hex string\n" },
	{ "sha256 null", false, MANI(ENTRY("'a'", "'file'", "0", "null", "420", "")),
	  ERR "invalid manifest: entries[0].sha256 is null, not a string\n" },
	{ "unknown type", false, MANI(ENTRY("'a'", "'fifo'", "0", "'" SHA_E "'", "420", "")),
	  ERR "invalid manifest: entries[0].type 'fifo' is not an entry type (file, dir, symlink, hardlink)\n" },
	{ "duplicate path", false, MANI(FILE_E("files/x") "," FILE_E("files/y") "," FILE_E("files/x")),
	  ERR "invalid manifest: duplicate entry 'files/x'\n" },
	{ "mode out of range", false, MANI(ENTRY("'a'", "'file'", "0", "'" SHA_E "'", "4096", "")),
	  ERR "invalid manifest: entries[0].mode 4096 is out of range (0 to 07777)\n" },
	{ "mode negative", false, MANI(ENTRY("'a'", "'file'", "0", "'" SHA_E "'", "-1", "")),
	  ERR "invalid manifest: entries[0].mode -1 is out of range (0 to 07777)\n" },
	{ "mode as a float", false, MANI(ENTRY("'a'", "'file'", "0", "'" SHA_E "'", "420.0", "")),
	  ERR "invalid manifest: entries[0].mode is a number, not an integer\n" },
	{ "negative size", false, MANI(ENTRY("'a'", "'file'", "-1", "'" SHA_E "'", "420", "")),
	  ERR "invalid manifest: entries[0].size -1 is out of range (0 or more)\n" },
	{ "integer too big for JSON", false, MANI(ENTRY("'a'", "'file'", "99999999999999999999", "'" SHA_E "'", "420", "")),
	  ERR "invalid manifest: too big integer near '99999999999999999999' at line 1\n" },
	{ "empty path", false, MANI(ENTRY("''", "'file'", "0", "'" SHA_E "'", "420", "")),
	  ERR "invalid manifest: entries[0].path is empty\n" },
	{ "path an integer", false, MANI(ENTRY("5", "'file'", "0", "'" SHA_E "'", "420", "")),
	  ERR "invalid manifest: entries[0].path is an integer, not a string or a base64 object\n" },
	{ "path base64 invalid", false, MANI(ENTRY("{'base64':'YQ='}", "'file'", "0", "'" SHA_E "'", "420", "")),
	  ERR "invalid manifest: entries[0].path.base64 is not valid base64\n" },
	{ "path base64 with NUL", false, MANI(ENTRY("{'base64':'YQBi'}", "'file'", "0", "'" SHA_E "'", "420", "")),
	  ERR "invalid manifest: entries[0].path.base64 decodes to bytes containing NUL\n" },
	{ "missing mtime", false,
	  MANI("{'path':'a','type':'file','size':0,'sha256':'" SHA_E "','mode':420,'uid':0,'gid':0,"
	       "'uname':null,'gname':null}"),
	  ERR "invalid manifest: entries[0].mtime is missing\n" },
	{ "uid out of range", false,
	  MANI("{'path':'a','type':'file','size':0,'sha256':'" SHA_E "','mode':420,'uid':4294967296}"),
	  ERR "invalid manifest: entries[0].uid 4294967296 is out of range (0 to 4294967295)\n" },
	{ "uname an integer", false,
	  MANI("{'path':'a','type':'file','size':0,'sha256':'" SHA_E "','mode':420,'uid':0,'gid':0,'uname':5}"),
	  ERR "invalid manifest: entries[0].uname is an integer, not a string, a base64 object or null\n" },
	{ "mtime_nsec out of range", false,
	  MANI("{'path':'a','type':'file','size':0,'sha256':'" SHA_E "','mode':420,'uid':0,'gid':0,"
	       "'uname':null,'gname':null,'mtime':0,'mtime_nsec':1000000000}"),
	  ERR "invalid manifest: entries[0].mtime_nsec 1000000000 is out of range (0 to 999999999)\n" },
	{ "dir with a size", false, MANI(ENTRY("'d'", "'dir'", "5", "'" SHA_E "'", "493", "")),
	  ERR "invalid manifest: entries[0].size must be 0 for a dir entry\n" },
	{ "symlink with a data digest", false, MANI(ENTRY("'l'", "'symlink'", "0", "'" SHA_A "'", "511", ",'link':'x'")),
	  ERR "invalid manifest: entries[0].sha256 must be the digest of no data for a symlink entry\n" },
	{ "symlink without target", false, MANI(ENTRY("'l'", "'symlink'", "0", "'" SHA_E "'", "511", "")),
	  ERR "invalid manifest: entries[0].link is missing\n" },
	{ "symlink with empty target", false, MANI(ENTRY("'l'", "'symlink'", "0", "'" SHA_E "'", "511", ",'link':''")),
	  ERR "invalid manifest: entries[0].link is empty\n" },
	{ "file with a link", false, MANI(ENTRY_T(",'link':'b'")),
	  ERR "invalid manifest: entries[0].link is not allowed for a file entry\n" },
	{ "hardlink to a later entry", false,
	  MANI(ENTRY("'h'", "'hardlink'", "0", "'" SHA_E "'", "420", ",'link':'a'") "," FILE_E("a")),
	  ERR "invalid manifest: entries[0].link 'a' is not an earlier file entry\n" },
	{ "hardlink to a directory", false,
	  MANI(ENTRY("'d'", "'dir'", "0", "'" SHA_E "'", "493", "") ","
	       ENTRY("'h'", "'hardlink'", "0", "'" SHA_E "'", "420", ",'link':'d'")),
	  ERR "invalid manifest: entries[1].link 'd' is not an earlier file entry\n" },
	{ "xattrs not an array", false, MANI(ENTRY_T(",'xattrs':{'user.a':''}")),
	  ERR "invalid manifest: entries[0].xattrs is an object, not an array\n" },
	{ "xattr value not base64", false, MANI(ENTRY_T(",'xattrs':[{'name':'user.a','value':'a b='}]")),
	  ERR "invalid manifest: entries[0].xattrs[0].value is not valid base64\n" },
	{ "xattr value non-canonical base64", false, MANI(ENTRY_T(",'xattrs':[{'name':'user.a','value':'YR=='}]")),
	  ERR "invalid manifest: entries[0].xattrs[0].value is not valid base64\n" },
	{ "xattr name missing", false, MANI(ENTRY_T(",'xattrs':[{'value':''}]")),
	  ERR "invalid manifest: entries[0].xattrs[0].name is missing\n" },
	{ "xattr name duplicated", false,
	  MANI(ENTRY_T(",'xattrs':[{'name':'user.a','value':''},{'name':'user.a','value':'YQ=='}]")),
	  ERR "invalid manifest: entries[0].xattrs[1].name 'user.a' is a duplicate\n" },
	{ "flags not strings", false, MANI(ENTRY_T(",'flags':[1]")),
	  ERR "invalid manifest: entries[0].flags[0] is an integer, not a string\n" },
	{ "skipped without reason", false,
	  "{'format_version':1,'snapshot_id':'" ID "','entries':[],'skipped':[{'path':'/x'}]}",
	  ERR "invalid manifest: skipped[0].reason is missing\n" },
	{ "control characters quoted safely", false, MANI(FILE_E("a\\nb") "," FILE_E("a\\nb")),
	  ERR "invalid manifest: duplicate entry 'a?b'\n" },
	{ "header: bad JSON", true, "{'format_version' 1}",
	  ERR "invalid header: ':' expected near '1' at line 1\n" },
	{ "header: newer format version", true, "{'format_version':7}",
	  ERR "format version 7 is newer than this modosnap supports (3)\n" },
	{ "header: bad created", true,
	  "{'format_version':1,'snapshot_id':'" ID "','created':'2026-11-30 04:53:23'}",
	  ERR "invalid header: created '2026-11-30 04:53:23' is not a UTC time (YYYY-MM-DDTHH:MM:SSZ)\n" },
	{ "header: missing host", true, HDR_HEAD "'tool_version':'x'}", ERR "invalid header: host is missing\n" },
	{ "header: tag not a string", true, HDR("['a',2]", "null", VERS("")),
	  ERR "invalid header: tags[1] is an integer, not a string\n" },
	{ "header: note an array", true, HDR("[]", "[]", VERS("")),
	  ERR "invalid header: note is an array, not a string or null\n" },
	{ "header: missing versions", true, HDR_HEAD HDR_MID "'tags':[],'note':null,'components':[]}",
	  ERR "invalid header: versions is missing\n" },
	{ "header: extension version an integer", true,
	  HDR("[]", "null", "{'modoboa':'2.3.2','django':null,'python':null,'extensions':{'modoboa_amavis':1}}"),
	  ERR "invalid header: versions.extensions.modoboa_amavis is an integer, not a string or null\n" },
	{ "header: negative migrations_applied", true, HDR("[]", "null", VERS(DB("1") "," DB("-2"))),
	  ERR "invalid header: versions.databases[1].migrations_applied -2 is out of range (0 or more)\n" },
	{ "header: database not an object", true, HDR("[]", "null", VERS("'default'")),
	  ERR "invalid header: versions.databases[0] is a string, not an object\n" },
};

/* The document with ' turned into ". Caller frees. */
static char *unquote(const char *doc)
{
	char *s = ms_xstrdup(doc);

	for (char *p = s; *p; p++)
		if (*p == '\'')
			*p = '"';
	return s;
}

static void test_error(void **state)
{
	const struct err_case *c = *state;
	char *doc = unquote(c->doc), *err;
	struct ms_header h;
	struct ms_manifest m;
	int rc;

	memset(&h, 0x5a, sizeof(h));
	memset(&m, 0x5a, sizeof(m));
	capture_start();
	rc = c->header ? ms_header_decode(NAME, doc, strlen(doc), &h)
		       : ms_manifest_decode(NAME, doc, strlen(doc), &m);
	err = capture_end();
	assert_int_equal(rc, -1);
	assert_string_equal(err, c->expect);
	/* *out is untouched on error */
	for (size_t i = 0; i < sizeof(h); i++)
		assert_int_equal(((unsigned char *)&h)[i], 0x5a);
	for (size_t i = 0; i < sizeof(m); i++)
		assert_int_equal(((unsigned char *)&m)[i], 0x5a);
	free(err);
	free(doc);
}

/* --- snapshot ids ----------------------------------------------------------- */

static bool id_well_formed(const char *id)
{
	static const char pattern[] = "99999999T999999Z-xxxxxxxx";

	if (strlen(id) != sizeof(pattern) - 1)
		return false;
	for (size_t i = 0; pattern[i]; i++) {
		char c = id[i];
		bool ok = pattern[i] == '9'   ? (c >= '0' && c <= '9')
			  : pattern[i] == 'x' ? ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))
					      : c == pattern[i];
		if (!ok)
			return false;
	}
	return true;
}

static void test_id_format(void **state)
{
	char *id, *created;

	(void)state;
	ms_header_new_id(1796014403, &id, &created); /* 2026-11-30T04:53:23Z */
	assert_true(id_well_formed(id));
	assert_memory_equal(id, "20261130T045323Z-", 17);
	assert_string_equal(created, "2026-11-30T04:53:23Z");
	free(id);
	free(created);
	ms_header_new_id(0, &id, &created);
	assert_memory_equal(id, "19700101T000000Z-", 17);
	assert_string_equal(created, "1970-01-01T00:00:00Z");
	free(id);
	free(created);
}

/* Ids taken one second apart sort in time order, across minute, day and
 * year boundaries; ids in the same second differ. */
static void test_id_order_and_uniqueness(void **state)
{
	static const long long starts[] = { 0, 1796014403, 1798761598 /* 2026-12-31T23:59:58Z */, 4102444799 };
	struct ms_strv same = { 0 };

	(void)state;
	for (size_t s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
		char *prev = NULL, *id, *created, *prev_created = NULL;

		for (long long t = starts[s]; t < starts[s] + 130; t++) {
			ms_header_new_id(t, &id, &created);
			assert_true(id_well_formed(id));
			if (prev) {
				assert_true(strcmp(prev, id) < 0);
				assert_true(strcmp(prev_created, created) < 0);
			}
			free(prev);
			free(prev_created);
			prev = id;
			prev_created = created;
		}
		free(prev);
		free(prev_created);
	}
	for (int i = 0; i < 64; i++) {
		char *id, *created;

		ms_header_new_id(1796014403, &id, &created);
		assert_false(ms_strv_contains(&same, id));
		ms_strv_push_owned(&same, id);
		free(created);
	}
	ms_strv_clear(&same);
}

/* --- scale ------------------------------------------------------------------ */

/* Work is counted, not timed (a clock judges the machine, not the code:
 * a wall-clock bound here failed on a loaded two-core machine). What is
 * counted is every allocation jansson makes while the manifest is encoded
 * and decoded: one per JSON value, string, hash-table resize and output
 * buffer growth. */
static size_t json_allocs;

static void *counting_malloc(size_t n)
{
	json_allocs++;
	return malloc(n);
}

/* A manifest of n file entries in d%03d/ directories of 1000. */
static void many_entries(struct ms_manifest *m, int n)
{
	struct ms_entry e;
	char path[96];

	memset(m, 0, sizeof(*m));
	m->format_version = 1;
	m->snapshot_id = ms_xstrdup(ID);
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "files/instance/media/d%03d/attachment-%06d.bin", i / 1000, i);
		set_entry(&e, path, MS_ENTRY_FILE, (uint64_t)i * 1000, NULL);
		ms_manifest_add(m, &e, i % 2 ? SHA_A : SHA_E, i % 97 == 0 ? MS_MF_CHANGED : 0);
	}
}

/* Encodes and decodes n entries, checks the round trip, and returns how
 * many allocations jansson made doing it. */
static size_t round_trip_work(int n)
{
	struct ms_manifest m, back;
	json_malloc_t saved_malloc;
	json_free_t saved_free;
	char *text;
	size_t work;

	many_entries(&m, n);
	json_get_alloc_funcs(&saved_malloc, &saved_free);
	json_set_alloc_funcs(counting_malloc, free);
	json_allocs = 0;
	text = ms_manifest_encode(&m);
	assert_int_equal(ms_manifest_decode(NAME, text, strlen(text), &back), 0);
	work = json_allocs;
	json_set_alloc_funcs(saved_malloc, saved_free);
	assert_manifest_equal(&m, &back);
	free(text);
	ms_manifest_clear(&m);
	ms_manifest_clear(&back);
	return work;
}

/* 100k entries round-trip, and the work grows linearly: four times the
 * entries cost about four times the allocations (a per-entry rebuild or
 * copy of what came before would make it sixteen). Speed itself is
 * scripts/bench's business. */
static void test_100k_entries(void **state)
{
	size_t quarter, full;

	(void)state;
	quarter = round_trip_work(25000);
	full = round_trip_work(100000);
	print_message("jansson allocations: %zu for 25k entries, %zu for 100k\n", quarter, full);
	assert_true(quarter >= 25000); /* at least one per entry: the hook counted */
	assert_true(full >= 3 * quarter && full <= 5 * quarter);
}

/* Database records survive a round trip; archives without dumps carry none. */
static void test_databases_round_trip(void **state)
{
	struct ms_manifest m = { 0 }, back = { 0 };
	struct ms_manifest_db *db;
	char *text;

	(void)state;
	m.format_version = 1;
	m.snapshot_id = ms_xstrdup("20261130T045323Z-0a1b2c3d");
	text = ms_manifest_encode(&m);
	assert_null(strstr(text, "databases"));
	free(text);
	db = ms_manifest_add_db(&m);
	db->alias = ms_xstrdup("amavis");
	db->engine = ms_xstrdup("postgresql");
	db->server_version = ms_xstrdup("15.20");
	db->encoding = ms_xstrdup("LATIN1");
	ms_manifest_db_add_table(db, "public", "msgs", 1000000,
				 "00000000000000000000000000000000000000000000000000000000000000ff", 12);
	ms_manifest_db_add_table(db, "quarantine schema", "t\u00e9", 0,
				 "0000000000000000000000000000000000000000000000000000000000000000", 0);
	text = ms_manifest_encode(&m);
	assert_int_equal(ms_manifest_decode("x", text, strlen(text), &back), 0);
	assert_int_equal(back.n_dbs, 1);
	assert_string_equal(back.dbs[0].alias, "amavis");
	assert_string_equal(back.dbs[0].encoding, "LATIN1");
	assert_int_equal(back.dbs[0].n_tables, 2);
	assert_string_equal(back.dbs[0].tables[0].name, "msgs");
	assert_int_equal(back.dbs[0].tables[0].rows, 1000000);
	assert_int_equal(back.dbs[0].tables[0].chunks, 12);
	assert_string_equal(back.dbs[0].tables[0].digest,
			    "00000000000000000000000000000000000000000000000000000000000000ff");
	assert_string_equal(back.dbs[0].tables[1].schema, "quarantine schema");
	assert_null(back.dbs[0].collation);
	assert_null(strstr(text, "shared_snapshot")); /* postgresql records carry neither */
	free(text);
	ms_manifest_clear(&back);

	/* mysql: collation and the aliases of the same transaction */
	db = ms_manifest_add_db(&m);
	db->alias = ms_xstrdup("default");
	db->engine = ms_xstrdup("mysql");
	db->encoding = ms_xstrdup("utf8mb4");
	db->collation = ms_xstrdup("utf8mb4_general_ci");
	ms_strv_push(&db->shared_snapshot, "amavis");
	db = ms_manifest_add_db(&m);
	db->alias = ms_xstrdup("other");
	db->engine = ms_xstrdup("mysql");
	text = ms_manifest_encode(&m);
	memset(&back, 0, sizeof(back));
	assert_int_equal(ms_manifest_decode("x", text, strlen(text), &back), 0);
	assert_int_equal(back.n_dbs, 3);
	assert_string_equal(back.dbs[1].collation, "utf8mb4_general_ci");
	assert_int_equal(back.dbs[1].shared_snapshot.n, 1);
	assert_string_equal(back.dbs[1].shared_snapshot.v[0], "amavis");
	assert_null(back.dbs[2].collation);
	assert_int_equal(back.dbs[2].shared_snapshot.n, 0);
	assert_non_null(strstr(text, "\"shared_snapshot\": []"));
	free(text);
	ms_manifest_clear(&m);
	ms_manifest_clear(&back);
}

/* --- main ------------------------------------------------------------------- */

#define N_ERR (sizeof(err_cases) / sizeof(err_cases[0]))

static const struct { const char *name; CMUnitTestFunction fn; } plain_tests[] = {
	{ "header round trip, all fields", test_header_round_trip },
	{ "header round trip, nulls and empty lists", test_header_nulls },
	{ "header text that is not UTF-8 is repaired", test_header_lossy_text },
	{ "manifest round trip, every entry kind", test_manifest_round_trip },
	{ "manifest exact JSON text", test_manifest_exact_text },
	{ "manifest add and find", test_add_find },
	{ "unknown keys and flags are ignored", test_forward_compatible },
	{ "snapshot id format", test_id_format },
	{ "snapshot ids sort by time and are unique", test_id_order_and_uniqueness },
	{ "100k-entry round trip, linear work", test_100k_entries },
	{ "database records round trip", test_databases_round_trip },
};
#define N_PLAIN (sizeof(plain_tests) / sizeof(plain_tests[0]))

int main(void)
{
	static struct CMUnitTest tests[N_ERR + N_PLAIN];
	static char names[N_ERR][160];
	size_t n = 0;

	for (size_t i = 0; i < N_ERR; i++, n++) {
		snprintf(names[n], sizeof(names[n]), "decode error: %s", err_cases[i].name);
		tests[n] = (struct CMUnitTest){ names[n], test_error, NULL, NULL, (void *)&err_cases[i] };
	}
	for (size_t i = 0; i < N_PLAIN; i++, n++)
		tests[n] = (struct CMUnitTest){ plain_tests[i].name, plain_tests[i].fn, NULL, NULL, NULL };
	return _cmocka_run_group_tests("manifest", tests, n, NULL, NULL);
}
