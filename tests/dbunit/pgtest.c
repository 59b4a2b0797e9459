/*
 * Shared helpers of the PostgreSQL unit tests (see pgtest.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "discover/instance.h"
#include "formats/manifest.h"
#include "pgtest.h"
#include "testutil.h"
#include "formats/snaparchive.h"
#include "formats/verify.h"
#include "base/strbuf.h"
#include "base/util.h"

char tmpdir[256];
char *bindir, *sockdir, *port, *superuser, *mysock;

int make_tmpdir(const char *name)
{
	char *dir = test_mkdtemp(name); /* unit/testutil.c */
	int n = snprintf(tmpdir, sizeof(tmpdir), "%s", dir);

	free(dir);
	return n > 0 && (size_t)n < sizeof(tmpdir) ? 0 : -1;
}

char *tpath(const char *name)
{
	return ms_path_join(tmpdir, name);
}

int run(const char *fmt, ...)
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

void write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* psql as the superuser over the socket, stopping at the first error. */

/* Runs the SQL text in database db (through a file: no shell quoting). */
int psql_sql(const char *db, const char *sql)
{
	char *f = tpath("stmt.sql");
	int rc;

	write_file(f, sql, strlen(sql));
	rc = run(PSQL " -d '%s' -f '%s' >/dev/null", PSQL_ARGS, db, f);
	free(f);
	return rc;
}

/* Output of a psql command string in db, pinned text settings (caller frees). */
char *psql_out(const char *db, const char *sql)
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
char *schema_of(const char *db)
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
char *env_value(const char *text, const char *key)
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

int read_server_env(void)
{
	const char *f = getenv("MS_TESTSRV_ENV");
	char *text;

	if (!f || access(f, R_OK) != 0) {
		fprintf(stderr, "%s: MS_TESTSRV_ENV (%s) does not name a readable file: "
				"the database servers are not running (start them with "
				"tests/harness/dbservers start FILE)\n",
			program_invocation_short_name, f ? f : "unset");
		return -1;
	}
	text = ms_read_file(f, 1 << 20, NULL);
	if (!text)
		return -1;
	bindir = env_value(text, "MS_PG_BINDIR");
	sockdir = env_value(text, "MS_PG_SOCKDIR");
	port = env_value(text, "MS_PG_PORT");
	superuser = env_value(text, "MS_PG_SUPERUSER");
	mysock = env_value(text, "MS_MY_SOCKET");
	free(text);
	if (!bindir || !sockdir || !port || !superuser || !mysock) {
		fprintf(stderr, "%s: '%s' lacks MS_PG_BINDIR/SOCKDIR/PORT/SUPERUSER or MS_MY_SOCKET\n", program_invocation_short_name, f);
		return -1;
	}
	return 0;
}

/* --- MariaDB, as root over the harness socket ----------------------------- */

int my_sql(const char *db, const char *sql)
{
	char *f = tpath("stmt.sql");
	int rc;

	write_file(f, sql, strlen(sql));
	rc = run("mariadb --no-defaults --default-character-set=utf8mb4 -uroot -S '%s' '%s' <'%s'", mysock, db, f);
	free(f);
	return rc;
}

char *my_out(const char *sql)
{
	char *in = tpath("q.sql"), *out = tpath("q.out"), *s;

	write_file(in, sql, strlen(sql));
	assert_int_equal(run("mariadb --no-defaults --default-character-set=utf8mb4 -uroot -S '%s' -N -B <'%s' >'%s'",
			     mysock, in, out),
			 0);
	s = ms_read_file(out, (size_t)1 << 30, NULL);
	assert_non_null(s);
	free(in);
	free(out);
	return s;
}

char *my_dump_of(const char *db)
{
	char *out = tpath("mydump.out"), *s;

	assert_int_equal(run("mariadb-dump --no-defaults -uroot -S '%s' --skip-dump-date --order-by-primary "
			     "--routines --triggers --events '%s' >'%s'", mysock, db, out),
			 0);
	s = ms_read_file(out, (size_t)1 << 30, NULL);
	assert_non_null(s);
	free(out);
	return s;
}

/* --- archives ------------------------------------------------------------- */

void file_entry(struct ms_entry *e, const char *path, size_t len)
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

/* Copies archive `from` to `to`, replacing `old` by `new` (same length)
 * in member `member`, and rewrites the manifest's SHA-256 of that member
 * to match: the archive stays consistent for verify, while the table's row
 * digest in "databases" no longer describes the rows. */
static void rewrite(const char *from, const char *to, const char *member, const char *old, const char *new,
		    bool same_len);

void tamper(const char *from, const char *to, const char *member, const char *old, const char *new)
{
	rewrite(from, to, member, old, new, true);
}

void forge(const char *from, const char *to, const char *member, const char *old, const char *new)
{
	rewrite(from, to, member, old, new, false);
}

static void rewrite(const char *from, const char *to, const char *member, const char *old, const char *new,
		    bool same_len)
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
	if (same_len)
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
			struct ms_strbuf nb = MS_STRBUF_INIT;

			assert_non_null(p);
			ms_strbuf_add(&nb, sb.buf, (size_t)(p - sb.buf));
			ms_strbuf_addstr(&nb, new);
			ms_strbuf_addstr(&nb, p + strlen(old));
			ms_strbuf_release(&sb);
			sb = nb;
			done = true;
		}
		{
			struct ms_entry ne = *e;

			ne.size = sb.len;
			assert_int_equal(ms_archive_write_buffer(w, &ne, sb.buf ? sb.buf : "", sb.len, sha), 0);
		}
		for (size_t i = 0; i < vr.manifest.n_entries; i++)
			if (!strcmp(vr.manifest.entries[i].e.path, e->path)) {
				memcpy(vr.manifest.entries[i].sha256, sha, sizeof(sha));
				vr.manifest.entries[i].e.size = sb.len;
			}
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


struct ms_archive_writer *snapshot_begin(const char *arch, const char *component, struct ms_manifest *mf, int *fd)
{
	struct ms_header h;
	struct ms_entry e;
	char sha[MS_HASH_HEX_MAX], *text;
	struct ms_archive_writer *w;

	*fd = open(arch, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(*fd >= 0);
	w = ms_archive_writer_open(*fd, arch, NULL);
	assert_non_null(w);
	memset(&h, 0, sizeof(h));
	memset(mf, 0, sizeof(*mf));
	h.format_version = MS_FORMAT_VERSION;
	ms_header_new_id((long long)time(NULL), &h.snapshot_id, &h.created);
	h.host = ms_xstrdup("test.example.org");
	h.tool_version = ms_xstrdup("0.1.0");
	h.instance = ms_xstrdup("/srv/modoboa/instance");
	ms_strv_push(&h.components, component);
	text = ms_header_encode(&h);
	file_entry(&e, MS_HEADER_NAME, strlen(text));
	assert_int_equal(ms_archive_write_buffer(w, &e, text, strlen(text), sha), 0);
	free(text);
	mf->format_version = MS_FORMAT_VERSION;
	mf->snapshot_id = ms_xstrdup(h.snapshot_id);
	ms_manifest_add(mf, &e, sha, 0);
	ms_header_clear(&h);
	return w;
}

void snapshot_end(struct ms_archive_writer *w, int fd, struct ms_manifest *mf)
{
	struct ms_entry e;
	char sha[MS_HASH_HEX_MAX], *text = ms_manifest_encode(mf);

	file_entry(&e, MS_MANIFEST_NAME, strlen(text));
	assert_int_equal(ms_archive_write_buffer(w, &e, text, strlen(text), sha), 0);
	free(text);
	assert_int_equal(ms_archive_writer_close(w, NULL), 0);
	ms_archive_writer_free(w);
	close(fd);
	ms_manifest_clear(mf);
}

int member_cb(void *ctx, const struct ms_entry *e, const char *sha256)
{
	ms_manifest_add(ctx, e, sha256, 0);
	return 0;
}

/* --- generated installations (scripts/mkfixture) -------------------------- */

char *fx_value(const char *env, const char *key)
{
	char *v = env_value(env, key);

	assert_non_null(v);
	return v;
}

struct ms_dbconf fx_dbconf(const char *env, const char *alias, const char *which)
{
	struct ms_dbconf d;
	char key[64], *engine;

	memset(&d, 0, sizeof(d));
	d.alias = ms_xstrdup(alias);
	snprintf(key, sizeof(key), "MS_FX_%s_ENGINE", which);
	engine = fx_value(env, key);
	d.engine = strcmp(engine, "mysql") ? MS_DB_POSTGRESQL : MS_DB_MYSQL;
	free(engine);
	d.engine_setting = ms_xstrdup(d.engine == MS_DB_MYSQL ? "django.db.backends.mysql"
							      : "django.db.backends.postgresql");
	snprintf(key, sizeof(key), "MS_FX_%s_DB", which);
	d.name = fx_value(env, key);
	snprintf(key, sizeof(key), "MS_FX_%s_USER", which);
	d.user = fx_value(env, key);
	snprintf(key, sizeof(key), "MS_FX_%s_HOST", which);
	d.host = fx_value(env, key);
	snprintf(key, sizeof(key), "MS_FX_%s_PORT", which);
	d.port = fx_value(env, key);
	snprintf(key, sizeof(key), "MS_FX_%s_PASSWORD", which);
	d.password = fx_value(env, key);
	return d;
}

void fx_dbconf_free(struct ms_dbconf *d)
{
	free(d->alias);
	free(d->engine_setting);
	free(d->name);
	free(d->user);
	free(d->host);
	free(d->port);
	ms_free_secret(d->password);
}

/* The source database of the dump and restore tests, in four parts
 * around the optional types and the large row (see pg_source_sql). */
static const char source_objects[] =
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
	"CREATE SEQUENCE app.counter START 5;\n";
static const char source_types[] =
	"CREATE TYPE app.mood AS ENUM ('sad', 'ok');\n"
	"CREATE DOMAIN posint AS integer CHECK (VALUE > 0);\n"
	"CREATE TABLE app.feel (id posint PRIMARY KEY, m app.mood);\n";
static const char source_rows[] =
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
	"  ('dup', 'dup', NULL, NULL, NULL, NULL), ('dup', 'dup', NULL, NULL, NULL, NULL);\n";
static const char source_more_rows[] =
	"INSERT INTO many SELECT g, md5(g::text) || repeat('-', g % 50) FROM generate_series(1, 5000) g;\n"
	"INSERT INTO app.msgs SELECT g % 3, sha256(g::text::bytea), decode(md5(g::text), 'hex'),\n"
	"  'Subject ' || g FROM generate_series(1, 300) g;\n";
static const char source_feel_rows[] =
	"INSERT INTO app.feel VALUES (1, 'sad'), (2, 'ok'), (3, NULL);\n";
static const char source_last_rows[] =
	"INSERT INTO measure SELECT g, date '2023-06-01' + g, g * 2 FROM generate_series(1, 400) g;\n"
	"INSERT INTO cache VALUES ('k1', 'v1'), ('k2', NULL);\n";

char *pg_source_sql(size_t big_len, bool with_types)
{
	return ms_xasprintf("%s%s%s"
			    "INSERT INTO big VALUES (1, 'small'), (2, repeat('x', %zu)), (3, 'after');\n"
			    "%s%s%s",
			    source_objects, with_types ? source_types : "", source_rows, big_len, source_more_rows,
			    with_types ? source_feel_rows : "", source_last_rows);
}

void start_locker(const char *db, const char *app, const char *table, int seconds)
{
	char *sql = ms_xasprintf("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
				 "WHERE a.application_name = '%s' AND l.mode = 'AccessExclusiveLock' "
				 "AND l.granted AND l.relation IS NOT NULL", app);
	int i;

	assert_int_equal(run("(PGAPPNAME=%s " PSQL " -d '%s' -c 'BEGIN; LOCK TABLE %s IN ACCESS EXCLUSIVE MODE; "
			     "SELECT pg_sleep(%d);' >/dev/null 2>&1 &)", app, PSQL_ARGS, db, table, seconds),
			 0);
	for (i = 0; i < 300; i++) {
		char *n = psql_out("postgres", sql);
		bool held = !strcmp(n, "1\n");

		free(n);
		if (held)
			break;
		usleep(100 * 1000);
	}
	free(sql);
	assert_true(i < 300);
}

void start_idle_session(const char *db, const char *app, int seconds)
{
	char *sql = ms_xasprintf("SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s' "
				 "AND datname = '%s' AND wait_event = 'PgSleep'", app, db);
	int i;

	assert_int_equal(run("(PGAPPNAME=%s " PSQL " -d '%s' -c 'SELECT pg_sleep(%d);' >/dev/null 2>&1 &)", app,
			     PSQL_ARGS, db, seconds),
			 0);
	for (i = 0; i < 300; i++) {
		char *n = psql_out("postgres", sql);
		bool there = !strcmp(n, "1\n");

		free(n);
		if (there)
			break;
		usleep(100 * 1000);
	}
	free(sql);
	assert_true(i < 300);
}

void stop_locker(const char *app)
{
	char *sql = ms_xasprintf("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
				 "WHERE application_name = '%s'", app);
	char *left = ms_xasprintf("SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s'", app);
	int i;

	free(psql_out("postgres", sql));
	/* ending a backend is asynchronous: until it is gone its locks are
	 * held (a CI run under ASan saw a lock still busy just after) */
	for (i = 0; i < 100; i++) {
		char *n = psql_out("postgres", left);
		bool gone = !strcmp(n, "0\n");

		free(n);
		if (gone)
			break;
		usleep(100 * 1000);
	}
	free(left);
	free(sql);
	assert_true(i < 100);
}
