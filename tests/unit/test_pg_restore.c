/*
 * Tests for restore/pg_restore against a real PostgreSQL server (the
 * `dbservers` harness; MS_TESTSRV_ENV names its env file — without it the
 * test fails, it never skips). A scratch database owned by an ordinary
 * role (no superuser) holds the shapes a Modoboa database has (identity
 * and serial keys with advanced sequences, a deferrable FK, a view, a
 * trigger and its function, jsonb, bytea with every byte value, NULL vs
 * '', non-ASCII text, no primary key, an empty table, a second schema, a
 * partitioned and an unlogged table). It is dumped with ms_pg_dump_database
 * into an archive verify accepts, changed, and restored as that role; the
 * oracle is pg_dump --schema-only, sorted COPY output and the sequences'
 * values before and after. A tampered archive whose member digests are
 * consistent but whose rows differ must fail naming the table and leave
 * the live database as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "instance.h"
#include "manifest.h"
#include "pg_dump.h"
#include "pg_restore.h"
#include "snaparchive.h"
#include "strbuf.h"
#include "testutil.h"
#include "util.h"
#include "verify.h"

#define CHUNK (16 * 1024)
#define PASSWORD "p:w\\o'rd s3cr3t"

static char tmpdir[256];
static char *bindir, *sockdir, *port, *superuser;
static char livedb[64], role[64];

/* --- helpers ------------------------------------------------------------- */

static char *tpath(const char *name)
{
	return ms_path_join(tmpdir, name);
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	va_list ap;
	char *cmd;
	int rc;

	va_start(ap, fmt);
	assert_true(vasprintf(&cmd, fmt, ap) >= 0);
	va_end(ap);
	rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
	free(cmd);
	return rc;
}

static void write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* psql as the superuser over the socket, stopping at the first error. */
#define PSQL "%s/psql -X -q -v ON_ERROR_STOP=1 -h '%s' -p '%s' -U '%s'"
#define PSQL_ARGS bindir, sockdir, port, superuser

/* Runs the SQL text in database db (through a file: no shell quoting). */
static int psql_sql(const char *db, const char *sql)
{
	char *f = tpath("stmt.sql");
	int rc;

	write_file(f, sql, strlen(sql));
	rc = run(PSQL " -d '%s' -f '%s' >/dev/null", PSQL_ARGS, db, f);
	free(f);
	return rc;
}

/* Output of a psql command string in db, pinned text settings (caller frees). */
static char *psql_out(const char *db, const char *sql)
{
	char *in = tpath("q.sql"), *out = tpath("q.out"), *s;

	write_file(in, sql, strlen(sql));
	assert_int_equal(run("PGOPTIONS='-c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=3 "
			     "-c TimeZone=UTC -c bytea_output=hex' " PSQL " -At -d '%s' -f '%s' >'%s'",
			     PSQL_ARGS, db, in, out),
			 0);
	s = ms_read_file(out, (size_t)1 << 30, NULL);
	assert_non_null(s);
	free(in);
	free(out);
	return s;
}

/* pg_dump --schema-only of db without the \restrict/\unrestrict lines (their
 * key is random per run); caller frees. */
static char *schema_of(const char *db)
{
	char *out = tpath("schema.out"), *s;

	assert_int_equal(run("%s/pg_dump -h '%s' -p '%s' -U '%s' --schema-only '%s' | "
			     "grep -v -E '^\\\\(un)?restrict ' >'%s'",
			     bindir, sockdir, port, superuser, db, out),
			 0);
	s = ms_read_file(out, (size_t)1 << 28, NULL);
	assert_non_null(s);
	free(out);
	return s;
}

/* KEY=VALUE lines of the harness env file (values may be shell-quoted
 * with '...' or backslashes, as printf %q writes them). */
static char *env_value(const char *text, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
			struct ms_strbuf sb = MS_STRBUF_INIT;
			const char *v = p + klen + 1;
			bool q = false;

			for (; *v && *v != '\n'; v++) {
				if (*v == '\'' ) {
					q = !q;
					continue;
				}
				if (*v == '\\' && !q && v[1])
					v++;
				ms_strbuf_addch(&sb, *v);
			}
			return ms_strbuf_detach(&sb);
		}
	}
	return NULL;
}

static int read_server_env(void)
{
	const char *f = getenv("MS_TESTSRV_ENV");
	char *text;

	if (!f || access(f, R_OK) != 0) {
		fprintf(stderr, "test_pg_restore: MS_TESTSRV_ENV (%s) does not name a readable file: "
				"the database servers are not running (start them with "
				"tests/harness/dbservers start FILE)\n",
			f ? f : "unset");
		return -1;
	}
	text = ms_read_file(f, 1 << 20, NULL);
	if (!text)
		return -1;
	bindir = env_value(text, "MS_PG_BINDIR");
	sockdir = env_value(text, "MS_PG_SOCKDIR");
	port = env_value(text, "MS_PG_PORT");
	superuser = env_value(text, "MS_PG_SUPERUSER");
	free(text);
	if (!bindir || !sockdir || !port || !superuser) {
		fprintf(stderr, "test_pg_restore: '%s' lacks MS_PG_BINDIR/SOCKDIR/PORT/SUPERUSER\n", f);
		return -1;
	}
	return 0;
}

/* Run as the owner role: every object belongs to it, as in Modoboa. */
static const char source_sql[] =
	"CREATE SCHEMA app;\n"
	"CREATE TABLE core_user (id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,\n"
	"  username varchar(150) NOT NULL UNIQUE, is_active boolean NOT NULL DEFAULT true,\n"
	"  joined timestamptz NOT NULL, quota bigint);\n"
	"CREATE TABLE core_mailbox (id serial PRIMARY KEY,\n"
	"  user_id integer NOT NULL REFERENCES core_user(id) DEFERRABLE INITIALLY DEFERRED,\n"
	"  address text NOT NULL, used bigint NOT NULL DEFAULT 0);\n"
	"CREATE INDEX core_mailbox_address ON core_mailbox (address);\n"
	"CREATE TABLE core_localconfig (id bigserial PRIMARY KEY, _parameters jsonb NOT NULL, raw json);\n"
	"CREATE TABLE bin (id integer PRIMARY KEY, b bytea);\n"
	"CREATE TABLE texts (a text, b text, n numeric, f double precision, i interval, d date);\n"
	"CREATE TABLE big (id integer PRIMARY KEY, payload text);\n"
	"CREATE TABLE empty_t (id integer PRIMARY KEY, x text);\n"
	"CREATE TABLE many (id integer PRIMARY KEY, t text);\n"
	"CREATE TABLE app.msgs (partition_tag integer, mail_id bytea, secret_id bytea, subject text,\n"
	"  PRIMARY KEY (partition_tag, mail_id));\n"
	"CREATE SEQUENCE app.counter START 5;\n"
	"CREATE TYPE app.mood AS ENUM ('sad', 'ok');\n"
	"CREATE DOMAIN posint AS integer CHECK (VALUE > 0);\n"
	"CREATE TABLE app.feel (id posint PRIMARY KEY, m app.mood);\n"
	"CREATE TABLE measure (id integer, logdate date NOT NULL, v integer) PARTITION BY RANGE (logdate);\n"
	"CREATE TABLE measure_2023 PARTITION OF measure FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');\n"
	"CREATE TABLE measure_2024 PARTITION OF measure FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');\n"
	"CREATE UNLOGGED TABLE cache (k text PRIMARY KEY, v text);\n"
	"CREATE VIEW dkim AS SELECT id, username FROM core_user WHERE is_active;\n"
	"CREATE FUNCTION quota_touch() RETURNS trigger LANGUAGE plpgsql AS\n"
	"  $$ BEGIN NEW.used := NEW.used + 1; RETURN NEW; END $$;\n"
	"CREATE TRIGGER mailbox_quota BEFORE INSERT OR UPDATE ON core_mailbox\n"
	"  FOR EACH ROW EXECUTE FUNCTION quota_touch();\n"
	"SET TimeZone = 'Europe/Paris';\n"
	"BEGIN;\n"
	"INSERT INTO core_mailbox (user_id, address) VALUES (3, 'carol@example.org');\n"
	"INSERT INTO core_user (username, joined, quota) VALUES\n"
	"  ('alice', '2024-03-01 10:00:00', 1024), ('bob', '2024-03-02 11:30:00.123456', NULL),\n"
	"  ('carol', '2023-12-31 23:59:59', 0);\n"
	"COMMIT;\n"
	"INSERT INTO core_mailbox (user_id, address) VALUES (1, 'alice@example.org'), (2, 'bob@example.org');\n"
	"SELECT setval(pg_get_serial_sequence('core_user', 'id'), 100);\n"
	"SELECT setval(pg_get_serial_sequence('core_mailbox', 'id'), 250, false);\n"
	"SELECT setval('app.counter', 42, false);\n"
	"INSERT INTO core_localconfig (_parameters, raw) VALUES\n"
	"  ('{\"dkim\": {\"dir\": \"/var/lib/dkim\"}, \"grüße\": [1, 2.5, null, true]}', '{ \"a\" :  1 }'),\n"
	"  ('{}', NULL);\n"
	"INSERT INTO bin SELECT 1, string_agg(set_byte('\\x00'::bytea, 0, g), ''::bytea ORDER BY g)\n"
	"  FROM generate_series(0, 255) g;\n"
	"INSERT INTO bin VALUES (2, NULL), (3, ''::bytea);\n"
	"INSERT INTO texts VALUES ('', NULL, 0.1, 0.1, '1 year 2 mons 3 days 04:05:06.7', '2024-02-29'),\n"
	"  (NULL, '', 1e-20, 1e308, '-1 day', NULL),\n"
	"  ('grüße 日本語 ✓', E'tab\\there\\nnewline\\\\back \\x01', 123456789012345678901234567890.5,\n"
	"   'NaN', NULL, 'infinity'),\n"
	"  ('dup', 'dup', NULL, NULL, NULL, NULL), ('dup', 'dup', NULL, NULL, NULL, NULL);\n"
	"INSERT INTO big VALUES (1, 'small'), (2, repeat('x', 100 * 1024)), (3, 'after');\n"
	"INSERT INTO many SELECT g, md5(g::text) || repeat('-', g % 50) FROM generate_series(1, 5000) g;\n"
	"INSERT INTO app.msgs SELECT g % 3, sha256(g::text::bytea), decode(md5(g::text), 'hex'),\n"
	"  'Subject ' || g FROM generate_series(1, 300) g;\n"
	"INSERT INTO app.feel VALUES (1, 'sad'), (2, 'ok'), (3, NULL);\n"
	"INSERT INTO measure SELECT g, date '2023-06-01' + g, g * 2 FROM generate_series(1, 400) g;\n"
	"INSERT INTO cache VALUES ('k1', 'v1'), ('k2', NULL);\n";

/* Changes made to the live database after the snapshot: rows updated and
 * deleted, a table dropped, objects added, sequences moved. */
static const char change_sql[] =
	"UPDATE core_user SET quota = 7 WHERE username = 'alice';\n"
	"DELETE FROM many WHERE id % 7 = 0;\n"
	"DELETE FROM app.msgs WHERE partition_tag = 1;\n"
	"DROP TABLE texts;\n"
	"DROP VIEW dkim;\n"
	"CREATE TABLE added (x integer PRIMARY KEY);\n"
	"INSERT INTO added VALUES (1), (2);\n"
	"CREATE SCHEMA newschema;\n"
	"CREATE TABLE newschema.t (y text);\n"
	"CREATE FUNCTION added_fn(integer) RETURNS integer LANGUAGE sql AS 'SELECT $1 + 1';\n"
	"CREATE TYPE added_type AS (a int, b text);\n"
	"SELECT nextval('core_user_id_seq'), nextval('core_user_id_seq');\n"
	"SELECT setval('app.counter', 999);\n"
	"INSERT INTO core_mailbox (user_id, address) VALUES (1, 'new@example.org');\n";

static int setup(void **state)
{
	char *sql, *src;
	int rc;

	(void)state;
	if (read_server_env() < 0)
		return -1;
	snprintf(tmpdir, sizeof(tmpdir), "%s/test_pg_restore.XXXXXX",
		 getenv("MS_TEST_TMP") ? getenv("MS_TEST_TMP") : "/tmp");
	if (getenv("MS_TEST_TMP"))
		mkdir(getenv("MS_TEST_TMP"), 0755);
	if (!mkdtemp(tmpdir))
		return -1;
	setenv("TMPDIR", tmpdir, 1);
	snprintf(livedb, sizeof(livedb), "ms_pgr_live_%d", (int)getpid());
	snprintf(role, sizeof(role), "ms_pgr_%d", (int)getpid());
	sql = ms_xasprintf("CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD 'p:w\\o''rd s3cr3t';\n"
			   "CREATE DATABASE %s OWNER %s TEMPLATE template0 ENCODING 'UTF8';\n",
			   role, livedb, role);
	rc = psql_sql("postgres", sql);
	free(sql);
	if (rc != 0)
		return -1;
	src = ms_xasprintf("SET ROLE %s;\n%s", role, source_sql);
	rc = psql_sql(livedb, src);
	free(src);
	return rc == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	char *sql;

	(void)state;
	if (!bindir)
		return 0;
	sql = ms_xasprintf("DROP DATABASE IF EXISTS %s;\nDROP ROLE IF EXISTS %s;\n", livedb, role);
	psql_sql("postgres", sql);
	free(sql);
	if (!getenv("MS_KEEP_TMP"))
		run("rm -rf '%s'", tmpdir);
	free(bindir);
	free(sockdir);
	free(port);
	free(superuser);
	return 0;
}

/* The owner role over TCP with its password: no superuser anywhere. */
static struct ms_dbconf dbconf(void)
{
	struct ms_dbconf db;

	memset(&db, 0, sizeof(db));
	db.alias = "testpg";
	db.engine = MS_DB_POSTGRESQL;
	db.name = livedb;
	db.user = role;
	db.host = "127.0.0.1";
	db.port = port;
	db.password = PASSWORD;
	return db;
}

/* Runs SQL in the live database as the owner role. */
static int as_owner(const char *sql)
{
	char *s = ms_xasprintf("SET ROLE %s;\n%s", role, sql);
	int rc = psql_sql(livedb, s);

	free(s);
	return rc;
}

/* --- building an archive ------------------------------------------------- */

static int on_member(void *ctx, const struct ms_entry *e, const char *sha256)
{
	ms_manifest_add(ctx, e, sha256, 0);
	return 0;
}

static void file_entry(struct ms_entry *e, const char *path, size_t len)
{
	memset(e, 0, sizeof(*e));
	e->path = (char *)path;
	e->type = MS_ENTRY_FILE;
	e->size = len;
	e->mode = 0600;
	e->uid = (uint32_t)getuid();
	e->gid = (uint32_t)getgid();
	e->mtime_sec = (int64_t)time(NULL);
}

/* Writes a snapshot of the live database that ms_verify_archive accepts:
 * modosnap.json, the dump's members, MANIFEST.json with "databases". */
static void write_snapshot(const char *arch, struct ms_pg_dump *d)
{
	struct ms_dbconf c = dbconf();
	struct ms_header h;
	struct ms_manifest mf;
	struct ms_manifest_db *mdb;
	struct ms_entry e;
	char sha[MS_HASH_HEX_MAX], *text;
	int fd = open(arch, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	struct ms_archive_writer *w;

	assert_true(fd >= 0);
	w = ms_archive_writer_open(fd, arch, NULL);
	assert_non_null(w);
	memset(&h, 0, sizeof(h));
	memset(&mf, 0, sizeof(mf));
	h.format_version = MS_FORMAT_VERSION;
	ms_header_new_id((long long)time(NULL), &h.snapshot_id, &h.created);
	h.host = ms_xstrdup("test.example.org");
	h.tool_version = ms_xstrdup("0.1.0");
	h.instance = ms_xstrdup("/srv/modoboa/instance");
	ms_strv_push(&h.components, "db:testpg");
	text = ms_header_encode(&h);
	file_entry(&e, MS_HEADER_NAME, strlen(text));
	assert_int_equal(ms_archive_write_buffer(w, &e, text, strlen(text), sha), 0);
	free(text);
	mf.format_version = MS_FORMAT_VERSION;
	mf.snapshot_id = ms_xstrdup(h.snapshot_id);
	ms_manifest_add(&mf, &e, sha, 0);

	assert_int_equal(ms_pg_dump_database(&c, w, "db/testpg", CHUNK, on_member, &mf, d), 0);
	mdb = ms_manifest_add_db(&mf);
	mdb->alias = ms_xstrdup("testpg");
	mdb->engine = ms_xstrdup("postgresql");
	mdb->server_version = ms_xstrdup(d->server_version);
	mdb->encoding = ms_xstrdup(d->encoding);
	for (size_t i = 0; i < d->n_tables; i++)
		ms_manifest_db_add_table(mdb, d->tables[i].schema, d->tables[i].name, d->tables[i].rows,
					 d->tables[i].digest, d->tables[i].chunks);

	text = ms_manifest_encode(&mf);
	file_entry(&e, MS_MANIFEST_NAME, strlen(text));
	assert_int_equal(ms_archive_write_buffer(w, &e, text, strlen(text), sha), 0);
	free(text);
	assert_int_equal(ms_archive_writer_close(w, NULL), 0);
	ms_archive_writer_free(w);
	close(fd);
	ms_header_clear(&h);
	ms_manifest_clear(&mf);
}

/* Copies archive `from` to `to`, replacing `old` by `new` (same length)
 * in member `member`, and rewrites the manifest's SHA-256 of that member
 * to match: the archive stays consistent for verify, while the table's row
 * digest in "databases" no longer describes the rows. */
static void tamper(const char *from, const char *to, const char *member, const char *old, const char *new)
{
	struct ms_verify_result vr;
	int in, out;
	struct ms_archive_reader *r;
	struct ms_archive_writer *w;
	const struct ms_entry *e;
	bool done = false;
	char *text;

	memset(&vr, 0, sizeof(vr));
	assert_int_equal(ms_verify_archive(from, &vr), MS_VERIFY_OK);
	assert_int_equal(strlen(old), strlen(new));
	in = open(from, O_RDONLY);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(in >= 0 && out >= 0);
	r = ms_archive_reader_open(in, from);
	w = ms_archive_writer_open(out, to, NULL);
	assert_non_null(r);
	assert_non_null(w);
	while (ms_archive_reader_next(r, &e) == 1) {
		struct ms_strbuf sb = MS_STRBUF_INIT;
		char buf[65536], sha[MS_HASH_HEX_MAX];
		ssize_t n;

		while ((n = ms_archive_reader_read(r, buf, sizeof(buf))) > 0)
			ms_strbuf_add(&sb, buf, (size_t)n);
		assert_int_equal(n, 0);
		if (!strcmp(e->path, MS_MANIFEST_NAME)) {
			ms_strbuf_release(&sb);
			break;
		}
		if (!strcmp(e->path, member)) {
			char *p = strstr(sb.buf, old);

			assert_non_null(p);
			memcpy(p, new, strlen(new));
			done = true;
		}
		assert_int_equal(ms_archive_write_buffer(w, e, sb.buf ? sb.buf : "", sb.len, sha), 0);
		for (size_t i = 0; i < vr.manifest.n_entries; i++)
			if (!strcmp(vr.manifest.entries[i].e.path, e->path))
				memcpy(vr.manifest.entries[i].sha256, sha, sizeof(sha));
		ms_strbuf_release(&sb);
	}
	assert_true(done);
	text = ms_manifest_encode(&vr.manifest);
	{
		struct ms_entry me;
		char sha[MS_HASH_HEX_MAX];

		file_entry(&me, MS_MANIFEST_NAME, strlen(text));
		assert_int_equal(ms_archive_write_buffer(w, &me, text, strlen(text), sha), 0);
	}
	free(text);
	assert_int_equal(ms_archive_writer_close(w, NULL), 0);
	ms_archive_writer_free(w);
	ms_archive_reader_free(r);
	close(in);
	close(out);
	ms_verify_result_clear(&vr);
}

/* --- the oracle ---------------------------------------------------------- */

/* Schema, every table's rows (sorted), and the sequences' values, as
 * seen by pg_dump and psql as the superuser; caller frees. */
static char *live_state(void)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	char *s, *tabs;

	s = schema_of(livedb);
	ms_strbuf_addstr(&sb, s);
	free(s);
	tabs = psql_out(livedb, "SELECT format('%I.%I', n.nspname, c.relname) COLLATE \"C\" FROM pg_class c "
				"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' "
				"AND n.nspname !~ '^(pg_|information_schema)' ORDER BY 1");
	for (char *p = tabs, *nl; *p; p = nl + 1) {
		char *sql;

		nl = strchr(p, '\n');
		assert_non_null(nl);
		*nl = '\0';
		sql = ms_xasprintf("COPY (SELECT * FROM %s x ORDER BY x::text COLLATE \"C\") TO STDOUT", p);
		s = psql_out(livedb, sql);
		ms_strbuf_addf(&sb, "-- table %s\n%s", p, s);
		free(s);
		free(sql);
	}
	free(tabs);
	s = psql_out(livedb, "SELECT schemaname, sequencename, last_value FROM pg_sequences ORDER BY 1, 2");
	ms_strbuf_addf(&sb, "-- sequences\n%s", s);
	free(s);
	return ms_strbuf_detach(&sb);
}

/* --- tests --------------------------------------------------------------- */

/* Restore as the owner role after the live database changed; the result
 * equals the original by pg_dump, sorted rows and sequence values. Then
 * ms_pg_check_database agrees, and names the table once a row changes. */
static void test_restore_round_trip(void **state)
{
	struct ms_dbconf c = dbconf();
	struct ms_pg_dump d;
	struct ms_verify_result vr;
	char *arch = tpath("snap.tar.zst"), *before, *changed, *after, *err, *s, *sql;

	(void)state;
	before = live_state();
	write_snapshot(arch, &d);
	assert_true(d.n_tables >= 10);
	for (size_t i = 0; i < d.n_tables; i++)
		if (!strcmp(d.tables[i].name, "many"))
			assert_true(d.tables[i].chunks > 1);

	assert_int_equal(as_owner(change_sql), 0);
	changed = live_state();
	assert_string_not_equal(before, changed);

	memset(&vr, 0, sizeof(vr));
	assert_int_equal(ms_verify_archive(arch, &vr), MS_VERIFY_OK);
	assert_true(vr.manifest_ok);
	capture_start();
	assert_int_equal(ms_pg_restore_database(&c, arch, &vr.manifest, "testpg"), 0);
	err = capture_end();
	assert_string_equal(err, "");
	free(err);

	after = live_state();
	assert_string_equal(before, after);
	/* The objects added after the snapshot are gone. */
	assert_null(strstr(after, "TABLE public.added "));
	assert_null(strstr(after, "added_fn"));
	assert_null(strstr(after, "added_type"));
	assert_null(strstr(after, "newschema"));
	s = psql_out(livedb, "SELECT nextval('app.counter'), nextval('core_mailbox_id_seq'), nextval('core_user_id_seq')");
	assert_string_equal(s, "42|250|101\n");
	free(s);
	/* Objects belong to the owner again (no superuser involved). */
	sql = ms_xasprintf("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
			   "WHERE n.nspname IN ('public', 'app') AND pg_get_userbyid(c.relowner) <> '%s'", role);
	s = psql_out(livedb, sql);
	assert_string_equal(s, "0\n");
	free(s);
	free(sql);

	/* (3) the live check. */
	capture_start();
	assert_int_equal(ms_pg_check_database(&c, &vr.manifest.dbs[0]), 0);
	err = capture_end();
	assert_string_equal(err, "");
	free(err);
	assert_int_equal(as_owner("UPDATE core_user SET username = 'bobby' WHERE username = 'bob';"), 0);
	capture_start();
	assert_int_equal(ms_pg_check_database(&c, &vr.manifest.dbs[0]), -1);
	err = capture_end();
	assert_string_equal(err, "modosnap: error: database 'testpg': table 'public.core_user': digest differs "
				 "from the snapshot (rows 3, expected 3)\n");
	free(err);
	assert_int_equal(as_owner("DELETE FROM app.msgs WHERE mail_id = sha256('3'::bytea);"), 0);
	capture_start();
	assert_int_equal(ms_pg_check_database(&c, &vr.manifest.dbs[0]), -1);
	err = capture_end();
	assert_string_equal(err, "modosnap: error: database 'testpg': table 'app.msgs': digest differs "
				 "from the snapshot (rows 299, expected 300)\n");
	free(err);

	/* Restoring again over that repairs it. */
	assert_int_equal(ms_pg_restore_database(&c, arch, &vr.manifest, "testpg"), 0);
	after = (free(after), live_state());
	assert_string_equal(before, after);

	ms_verify_result_clear(&vr);
	ms_pg_dump_clear(&d);
	free(before);
	free(changed);
	free(after);
	free(arch);
}

/* (2) A consistent archive whose rows do not match their digest: restore
 * fails naming the table and the live database is exactly as before. */
static void test_restore_atomic(void **state)
{
	struct ms_dbconf c = dbconf();
	struct ms_pg_dump d;
	struct ms_verify_result vr;
	char *arch = tpath("good.tar.zst"), *bad = tpath("bad.tar.zst"), *before, *after, *err;

	(void)state;
	write_snapshot(arch, &d);
	tamper(arch, bad, "db/testpg/data/public.core_user/000001.copy", "\talice\t", "\talicf\t");
	assert_int_equal(as_owner(change_sql), 0);
	before = live_state();

	memset(&vr, 0, sizeof(vr));
	assert_int_equal(ms_verify_archive(bad, &vr), MS_VERIFY_OK);
	capture_start();
	assert_int_equal(ms_pg_restore_database(&c, bad, &vr.manifest, "testpg"), -1);
	err = capture_end();
	assert_string_equal(err, "modosnap: error: database 'testpg': table 'public.core_user': digest differs "
				 "from the snapshot (rows 3, expected 3)\n");
	free(err);
	after = live_state();
	assert_string_equal(before, after);
	free(after);

	/* A psql meta-command other than `\restrict` or `\unrestrict` is refused. */
	tamper(arch, bad, "db/testpg/schema-pre.sql", "\\restrict ", "\\rastrict ");
	ms_verify_result_clear(&vr);
	memset(&vr, 0, sizeof(vr));
	assert_int_equal(ms_verify_archive(bad, &vr), MS_VERIFY_OK);
	capture_start();
	assert_int_equal(ms_pg_restore_database(&c, bad, &vr.manifest, "testpg"), -1);
	err = capture_end();
	assert_string_equal(err, "modosnap: error: database 'testpg': 'db/testpg/schema-pre.sql': line 5: "
				 "psql meta-command is not supported\n");
	free(err);
	after = live_state();
	assert_string_equal(before, after);
	free(after);

	/* An alias the snapshot does not hold. */
	capture_start();
	assert_int_equal(ms_pg_restore_database(&c, bad, &vr.manifest, "other"), -1);
	err = capture_end();
	assert_string_equal(err, "modosnap: error: database 'other': not in the snapshot\n");
	free(err);
	ms_verify_result_clear(&vr);

	/* The good archive still restores over the changed database. */
	memset(&vr, 0, sizeof(vr));
	assert_int_equal(ms_verify_archive(arch, &vr), MS_VERIFY_OK);
	assert_int_equal(ms_pg_restore_database(&c, arch, &vr.manifest, "testpg"), 0);
	after = live_state();
	assert_string_not_equal(before, after);
	ms_verify_result_clear(&vr);

	ms_pg_dump_clear(&d);
	free(before);
	free(after);
	free(arch);
	free(bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_restore_round_trip),
		cmocka_unit_test(test_restore_atomic),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
