/*
 * Tests for src/db/pg_dump.c against a real PostgreSQL server (the `dbservers`
 * harness; MS_TESTSRV_ENV names its env file — without it the test fails,
 * it never skips). A scratch database covering the shapes a Modoboa
 * database has (identity and serial keys with advanced sequences, a
 * deferrable FK, a view, a trigger and its function, json/jsonb, bytea with
 * every byte value, NULL vs '', non-ASCII text, no primary key, a 3 MB row,
 * an empty table, a second schema, a partitioned table, an unlogged table)
 * is dumped into an archive, read back and loaded into a second database
 * with psql; the oracle is pg_dump and COPY output of both databases, the
 * sequences' values, and digests recomputed from the restored rows.
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <libpq-fe.h>

#include "base/hash.h"
#include "discover/instance.h"
#include "db/pg_conn.h"
#include "db/pg_dump.h"
#include "db/pg_parcopy.h"
#include "db/rowdigest.h"
#include "formats/snaparchive.h"
#include "base/strbuf.h"
#include "pgtest.h"
#include "testutil.h"
#include "base/util.h"

#define CHUNK (64 * 1024)
#define PASSWORD "p:w\\o'rd s3cr3t"

static char srcdb[64], dstdb[64], lodb[64], role[64];

/* --- helpers ------------------------------------------------------------- */



static int setup(void **state)
{
	char *sql;
	int rc;

	(void)state;
	if (read_server_env() < 0)
		return -1;
	if (make_tmpdir("test_pg_dump") < 0)
		return -1;
	/* The dumper's private passfile goes below TMPDIR: check it is removed. */
	setenv("TMPDIR", tmpdir, 1);
	snprintf(srcdb, sizeof(srcdb), "ms_pgd_src_%d", (int)getpid());
	snprintf(dstdb, sizeof(dstdb), "ms_pgd_dst_%d", (int)getpid());
	snprintf(lodb, sizeof(lodb), "ms_pgd_lo_%d", (int)getpid());
	snprintf(role, sizeof(role), "ms_pgd_%d", (int)getpid());
	sql = ms_xasprintf("CREATE ROLE %s LOGIN SUPERUSER PASSWORD 'p:w\\o''rd s3cr3t';\n"
			   "CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8';\n"
			   "CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8';\n"
			   "CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8';\n",
			   role, srcdb, dstdb, lodb);
	/* CREATE DATABASE cannot run in a multi-statement transaction: -f runs
	 * statements one by one. */
	if (psql_sql("postgres", sql) != 0) {
		free(sql);
		return -1;
	}
	free(sql);
	sql = pg_source_sql(3 * 1024 * 1024, false);
	rc = psql_sql(srcdb, sql);
	free(sql);
	return rc == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	char *sql;

	(void)state;
	if (!bindir)
		return 0;
	sql = ms_xasprintf("DROP DATABASE IF EXISTS %s;\nDROP DATABASE IF EXISTS %s;\n"
			   "DROP DATABASE IF EXISTS %s;\nDROP ROLE IF EXISTS %s;\n",
			   srcdb, dstdb, lodb, role);
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

/* The dumper connects over TCP with a password (scram): pg_dump gets it
 * only through the private passfile. */
static struct ms_dbconf dbconf(const char *name)
{
	struct ms_dbconf db;

	memset(&db, 0, sizeof(db));
	db.alias = "testpg";
	db.engine = MS_DB_POSTGRESQL;
	db.name = (char *)name;
	db.user = role;
	db.host = "127.0.0.1";
	db.port = port;
	db.password = PASSWORD;
	return db;
}

/* Members reported through on_member. */
struct members {
	struct ms_strv paths;
	struct ms_strv shas;
};

static int on_member(void *ctx, const struct ms_entry *e, const char *sha256)
{
	struct members *m = ctx;

	assert_int_equal(e->type, MS_ENTRY_FILE);
	assert_int_equal(e->mode, 0600);
	assert_int_equal(e->uid, getuid());
	ms_strv_push(&m->paths, e->path);
	ms_strv_push(&m->shas, sha256);
	return 0;
}

/* Dumps db into archive file `arch`, large tables read on `parts`
 * connections, in chunks of at most `chunk` bytes, with the writer's
 * cancel test `cancelled` (may be NULL). */
static int dump_conf(const struct ms_dbconf *c, const char *arch, struct ms_pg_dump *out, struct members *m,
		     int parts, size_t chunk, bool (*cancelled)(void))
{
	int fd = open(arch, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	struct ms_writer_opts o = { 0, 0, cancelled, NULL };
	struct ms_archive_writer *w;
	int rc;

	assert_true(fd >= 0);
	w = ms_archive_writer_open(fd, arch, &o);
	assert_non_null(w);
	rc = ms_pg_dump_database(c, w, "db/testpg", chunk, parts, on_member, m, out);
	if (rc == 0)
		assert_int_equal(ms_archive_writer_close(w, NULL), 0);
	ms_archive_writer_free(w);
	close(fd);
	return rc;
}

static int dump_parts(const char *db, const char *arch, struct ms_pg_dump *out, struct members *m, int parts,
		      size_t chunk, bool (*cancelled)(void))
{
	struct ms_dbconf c = dbconf(db);

	return dump_conf(&c, arch, out, m, parts, chunk, cancelled);
}

/* Dumps db into archive file `arch` on one connection. */
static int dump_to(const char *db, const char *arch, struct ms_pg_dump *out, struct members *m)
{
	return dump_parts(db, arch, out, m, 1, CHUNK, NULL);
}

static const struct ms_pg_table *find_table(const struct ms_pg_dump *d, const char *schema, const char *name)
{
	for (size_t i = 0; i < d->n_tables; i++)
		if (!strcmp(d->tables[i].schema, schema) && !strcmp(d->tables[i].name, name))
			return &d->tables[i];
	return NULL;
}

/* Loads one archive member into database `into`; checks chunk shape. */
static void load_member(const char *into, const char *path, const char *data, size_t len, const struct ms_pg_dump *d)
{
	const char *rel = path + strlen("db/testpg/");
	char *f = tpath("member");

	write_file(f, data, len);
	if (!strcmp(rel, "schema-pre.sql") || !strcmp(rel, "sequences.sql") || !strcmp(rel, "schema-post.sql")) {
		assert_int_equal(run(PSQL " -d '%s' -f '%s' >/dev/null", PSQL_ARGS, into, f), 0);
	} else {
		char *tab, *slash;
		const struct ms_pg_table *t = NULL;

		assert_true(!strncmp(rel, "data/", 5));
		tab = ms_xstrdup(rel + 5);
		slash = strchr(tab, '/');
		assert_non_null(slash);
		*slash = '\0';
		assert_true(strlen(slash + 1) == 11 && !strcmp(slash + 1 + 6, ".copy"));
		for (size_t i = 0; i < d->n_tables && !t; i++) {
			char *q = ms_xasprintf("%s.%s", d->tables[i].schema, d->tables[i].name);

			if (!strcmp(q, tab))
				t = &d->tables[i];
			free(q);
		}
		assert_non_null(t);
		/* Row-aligned, bounded, no terminator. */
		assert_true(len > 0 && data[len - 1] == '\n');
		assert_true(len <= CHUNK || memchr(data, '\n', len) == data + len - 1);
		assert_false(len >= 3 && !memcmp(data + len - 3, "\\.\n", 3));
		assert_int_equal(run(PSQL " -d '%s' -c 'COPY \"%s\".\"%s\" FROM STDIN' <'%s' >/dev/null",
				     PSQL_ARGS, into, t->schema, t->name, f),
				 0);
		free(tab);
	}
	free(f);
}

/* Reads the archive back in order, checks each member's digest against
 * what on_member reported, and loads everything into database `into`. */
static void restore_archive(const char *into, const char *arch, const struct ms_pg_dump *d, const struct members *m)
{
	int fd = open(arch, O_RDONLY);
	struct ms_archive_reader *r;
	const struct ms_entry *e;
	size_t idx = 0;

	assert_true(fd >= 0);
	r = ms_archive_reader_open(fd, arch);
	assert_non_null(r);
	while (ms_archive_reader_next(r, &e) == 1) {
		struct ms_strbuf sb = MS_STRBUF_INIT;
		char buf[65536], sha[MS_HASH_HEX_MAX];
		ssize_t n;

		while ((n = ms_archive_reader_read(r, buf, sizeof(buf))) > 0)
			ms_strbuf_add(&sb, buf, (size_t)n);
		assert_int_equal(n, 0);
		assert_true(idx < m->paths.n);
		assert_string_equal(e->path, m->paths.v[idx]);
		ms_hash_buf_hex(MS_HASH_SHA256, sb.buf ? sb.buf : "", sb.len, sha);
		assert_string_equal(sha, m->shas.v[idx]);
		load_member(into, e->path, sb.buf ? sb.buf : "", sb.len, d);
		ms_strbuf_release(&sb);
		idx++;
	}
	assert_int_equal(idx, m->paths.n);
	ms_archive_reader_free(r);
	close(fd);
}

/* The digest of a table recomputed from db through psql's COPY output. */
static void digest_from(const char *db, const struct ms_pg_table *t, char hex[65], long long *rows)
{
	char *sql = ms_xasprintf("COPY \"%s\".\"%s\" TO STDOUT", t->schema, t->name);
	char *out = psql_out(db, sql);
	struct ms_rowdigest dg;

	ms_rowdigest_init(&dg);
	for (char *p = out, *nl; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		ms_rowdigest_add(&dg, p, (size_t)(nl - p + 1));
	}
	ms_rowdigest_hex(&dg, hex);
	*rows = dg.rows;
	free(out);
	free(sql);
}

/* --- tests --------------------------------------------------------------- */

static void test_round_trip(void **state)
{
	struct ms_pg_dump d;
	struct members m;
	char *arch = tpath("snap.tar.zst");
	char *s1, *s2;
	const struct ms_pg_table *t;
	static const char *const expect_tables[][2] = {
		{ "app", "msgs" }, { "public", "big" }, { "public", "bin" }, { "public", "cache" },
		{ "public", "core_localconfig" }, { "public", "core_mailbox" }, { "public", "core_user" },
		{ "public", "empty_t" }, { "public", "many" }, { "public", "measure_2023" },
		{ "public", "measure_2024" }, { "public", "texts" },
	};

	(void)state;
	memset(&m, 0, sizeof(m));
	assert_int_equal(dump_to(srcdb, arch, &d, &m), 0);
	assert_non_null(d.server_version);
	assert_string_equal(d.encoding, "UTF8");
	assert_non_null(d.snapshot_id);
	assert_non_null(strstr(d.pg_dump_path, "pg_dump"));

	/* Exactly the ordinary tables, in schema/name order. */
	assert_int_equal(d.n_tables, sizeof(expect_tables) / sizeof(expect_tables[0]));
	for (size_t i = 0; i < d.n_tables; i++) {
		assert_string_equal(d.tables[i].schema, expect_tables[i][0]);
		assert_string_equal(d.tables[i].name, expect_tables[i][1]);
	}
	t = find_table(&d, "public", "many");
	assert_int_equal(t->rows, 5000);
	assert_true(t->chunks > 1);
	t = find_table(&d, "public", "big");
	assert_int_equal(t->rows, 3);
	assert_true(t->chunks >= 2); /* the 3 MB row has a chunk of its own */
	t = find_table(&d, "public", "empty_t");
	assert_int_equal(t->rows, 0);
	assert_int_equal(t->chunks, 0);
	assert_string_equal(t->digest, "0000000000000000000000000000000000000000000000000000000000000000");
	assert_int_equal(find_table(&d, "public", "texts")->rows, 5);
	assert_int_equal(find_table(&d, "public", "measure_2023")->rows + find_table(&d, "public", "measure_2024")->rows, 400);

	/* Member layout. */
	assert_string_equal(m.paths.v[0], "db/testpg/schema-pre.sql");
	assert_string_equal(m.paths.v[m.paths.n - 2], "db/testpg/sequences.sql");
	assert_string_equal(m.paths.v[m.paths.n - 1], "db/testpg/schema-post.sql");
	assert_true(ms_strv_contains(&m.paths, "db/testpg/data/public.many/000001.copy"));
	assert_true(ms_strv_contains(&m.paths, "db/testpg/data/public.many/000002.copy"));
	assert_false(ms_strv_contains(&m.paths, "db/testpg/data/public.empty_t/000001.copy"));

	/* The private passfile directory is gone. */
	assert_int_equal(run("test -z \"$(ls -A '%s' | grep modosnap-pgpass)\"", tmpdir), 0);

	restore_archive(dstdb, arch, &d, &m);

	/* Schema identical. */
	s1 = schema_of(srcdb);
	s2 = schema_of(dstdb);
	assert_string_equal(s1, s2);
	free(s1);
	free(s2);

	/* Rows identical, digests recomputed from the restored database. */
	for (size_t i = 0; i < d.n_tables; i++) {
		char *sql = ms_xasprintf("COPY (SELECT * FROM \"%s\".\"%s\" x ORDER BY x::text COLLATE \"C\") TO STDOUT",
					 d.tables[i].schema, d.tables[i].name);
		char hex[65];
		long long rows;

		s1 = psql_out(srcdb, sql);
		s2 = psql_out(dstdb, sql);
		assert_string_equal(s1, s2);
		free(s1);
		free(s2);
		free(sql);
		digest_from(dstdb, &d.tables[i], hex, &rows);
		assert_string_equal(hex, d.tables[i].digest);
		assert_int_equal(rows, d.tables[i].rows);
	}

	/* Sequences identical. */
	s1 = psql_out(srcdb, "SELECT schemaname, sequencename, last_value FROM pg_sequences ORDER BY 1, 2");
	s2 = psql_out(dstdb, "SELECT schemaname, sequencename, last_value FROM pg_sequences ORDER BY 1, 2");
	assert_string_equal(s1, s2);
	assert_non_null(strstr(s1, "app|counter|\n"));         /* setval(..., false): not called */
	assert_non_null(strstr(s1, "public|core_user_id_seq|100\n"));
	free(s1);
	free(s2);
	s1 = psql_out(dstdb, "SELECT nextval('app.counter'), nextval('core_mailbox_id_seq'), nextval('core_user_id_seq')");
	assert_string_equal(s1, "42|250|101\n");
	free(s1);

	ms_pg_dump_clear(&d);
	ms_strv_clear(&m.paths);
	ms_strv_clear(&m.shas);
	free(arch);
}

static void test_large_objects_refused(void **state)
{
	struct ms_pg_dump d;
	struct members m;
	char *arch = tpath("lo.tar.zst"), *err;

	(void)state;
	memset(&m, 0, sizeof(m));
	assert_int_equal(psql_sql(lodb, "CREATE TABLE t (id int); SELECT lo_from_bytea(0, 'x'); "
					"SELECT lo_from_bytea(0, 'y');"),
			 0);
	capture_start();
	assert_int_equal(dump_to(lodb, arch, &d, &m), -1);
	err = capture_end();
	assert_string_equal(err, "modosnap: error: database 'testpg': 2 large objects are not supported\n");
	assert_null(d.tables);
	assert_int_equal(m.paths.n, 0);
	free(err);
	free(arch);
}

static void test_foreign_tables_refused(void **state)
{
	struct ms_pg_dump d;
	struct members m;
	char *arch = tpath("ft.tar.zst"), *err;

	(void)state;
	memset(&m, 0, sizeof(m));
	assert_int_equal(psql_sql(lodb, "SELECT lo_unlink(oid) FROM pg_largeobject_metadata;\n"
					"CREATE EXTENSION file_fdw;\n"
					"CREATE SERVER files FOREIGN DATA WRAPPER file_fdw;\n"
					"CREATE SCHEMA ext;\n"
					"CREATE FOREIGN TABLE ext.passwd (line text) SERVER files "
					"OPTIONS (filename '/etc/hostname');\n"
					"CREATE FOREIGN TABLE ext.\"Other\" (line text) SERVER files "
					"OPTIONS (filename '/etc/hostname');\n"),
			 0);
	capture_start();
	assert_int_equal(dump_to(lodb, arch, &d, &m), -1);
	err = capture_end();
	assert_string_equal(err, "modosnap: error: database 'testpg': foreign tables are not supported: "
				 "'ext.Other', 'ext.passwd'\n");
	assert_int_equal(m.paths.n, 0);
	free(err);
	free(arch);
}

static void test_bad_password(void **state)
{
	struct ms_pg_dump d;
	struct ms_dbconf c = dbconf(srcdb);
	char *arch = tpath("bad.tar.zst"), *err;
	int fd = open(arch, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	struct ms_archive_writer *w = ms_archive_writer_open(fd, arch, NULL);

	(void)state;
	c.password = "wrong";
	capture_start();
	assert_int_equal(ms_pg_dump_database(&c, w, "db/testpg", CHUNK, 1, NULL, NULL, &d), -1);
	err = capture_end();
	assert_non_null(strstr(err, "database 'testpg'"));
	assert_non_null(strstr(err, "password authentication failed"));
	assert_null(strstr(err, "wrong"));
	assert_ptr_equal(strchr(err, '\n'), err + strlen(err) - 1); /* one line */
	ms_archive_writer_free(w);
	close(fd);
	free(err);
	free(arch);
}


/* --- large tables read in parts (pg_parcopy.c) --------------------------- */

/* A scratch database of its own, created by the test (dropped with it). */
static void make_db(char *name, size_t size, const char *what)
{
	char *sql;

	snprintf(name, size, "ms_pgd_%s_%d", what, (int)getpid());
	sql = ms_xasprintf("DROP DATABASE IF EXISTS %s;\nCREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8';\n",
			   name, name);
	assert_int_equal(psql_sql("postgres", sql), 0);
	free(sql);
}

/* Waits (5 s at most) until no session is connected to database name:
 * a closed connection's backend exits just after. */
static void assert_no_sessions(const char *name)
{
	char *sql = ms_xasprintf("SELECT count(*) FROM pg_stat_activity WHERE datname = '%s'", name);
	char *left = NULL;

	for (int i = 0; i < 50; i++) {
		free(left);
		left = psql_out("postgres", sql);
		if (!strcmp(left, "0\n"))
			break;
		usleep(100000);
	}
	assert_string_equal(left, "0\n");
	free(left);
	free(sql);
}

static void drop_db(const char *name)
{
	char *sql = ms_xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name);

	psql_sql("postgres", sql);
	free(sql);
}

/* Frees two dumps and their member lists. */
static void clear_pair(struct ms_pg_dump *d1, struct members *m1, struct ms_pg_dump *d2, struct members *m2)
{
	ms_pg_dump_clear(d1);
	ms_pg_dump_clear(d2);
	ms_strv_clear(&m1->paths);
	ms_strv_clear(&m1->shas);
	ms_strv_clear(&m2->paths);
	ms_strv_clear(&m2->shas);
}

/* Tables COPY reads differently from SELECT *: a dropped and a generated
 * column, a parent whose child's rows COPY leaves out. Dumped on one and
 * on two connections: same rows and digests, the parts' smaller chunks,
 * and the split archive loads into a database equal to the source. */
static void test_split_same_rows(void **state)
{
	char src[64], dst[64], *a1 = tpath("one.tar.zst"), *a2 = tpath("two.tar.zst");
	struct ms_pg_dump d1, d2;
	struct members m1, m2;
	static const char *const split[] = { "gen_t", "parent_t", "child_t" };

	(void)state;
	memset(&m1, 0, sizeof(m1));
	memset(&m2, 0, sizeof(m2));
	make_db(src, sizeof(src), "splitsrc");
	make_db(dst, sizeof(dst), "splitdst");
	assert_int_equal(psql_sql(src, "CREATE TABLE gen_t (id int, dropme text, note text, "
				       "doubled int GENERATED ALWAYS AS (id * 2) STORED);\n"
				       "INSERT INTO gen_t (id, dropme, note) SELECT g, 'x', repeat('n', g % 50) "
				       "FROM generate_series(1, 20000) g;\n"
				       "ALTER TABLE gen_t DROP COLUMN dropme;\n"
				       "CREATE TABLE parent_t (id int, t text);\n"
				       "CREATE TABLE child_t (extra int) INHERITS (parent_t);\n"
				       "INSERT INTO parent_t SELECT g, md5(g::text) FROM generate_series(1, 20000) g;\n"
				       "INSERT INTO child_t SELECT g, 'child', g FROM generate_series(1, 20000) g;\n"
				       "CREATE TABLE small_t (id int);\nINSERT INTO small_t VALUES (1), (2);\n"
				       "ANALYZE;\n"), /* the dumper sizes tables by pg_class.relpages */
			 0);
	setenv("MODOSNAP_TEST_PG_SPLIT_MIN", "1", 1); /* every table of two heap blocks or more */
	assert_int_equal(dump_parts(src, a1, &d1, &m1, 1, CHUNK, NULL), 0);
	assert_int_equal(dump_parts(src, a2, &d2, &m2, 2, CHUNK, NULL), 0);
	unsetenv("MODOSNAP_TEST_PG_SPLIT_MIN");

	assert_int_equal(d1.n_tables, 4);
	assert_int_equal(d2.n_tables, 4);
	for (size_t i = 0; i < d1.n_tables; i++) {
		assert_string_equal(d1.tables[i].name, d2.tables[i].name);
		assert_int_equal(d1.tables[i].rows, d2.tables[i].rows);
		assert_string_equal(d1.tables[i].digest, d2.tables[i].digest);
	}
	assert_int_equal(find_table(&d2, "public", "parent_t")->rows, 20000); /* not the child's */
	assert_int_equal(find_table(&d2, "public", "small_t")->chunks, 1);  /* one block: not split */
	for (size_t i = 0; i < sizeof(split) / sizeof(split[0]); i++) {
		const struct ms_pg_table *t1 = find_table(&d1, "public", split[i]);
		const struct ms_pg_table *t2 = find_table(&d2, "public", split[i]);

		/* the parts' chunks are half as large: more of them */
		assert_true(t1->chunks >= 2);
		assert_true(t2->chunks > t1->chunks);
	}

	restore_archive(dst, a2, &d2, &m2);
	for (size_t i = 0; i < d2.n_tables; i++) {
		char *sql = ms_xasprintf("COPY (SELECT * FROM ONLY \"%s\".\"%s\" x ORDER BY x::text COLLATE \"C\") TO STDOUT",
					 d2.tables[i].schema, d2.tables[i].name);
		char *o1 = psql_out(src, sql), *o2 = psql_out(dst, sql);
		char hex[65];
		long long rows;

		assert_string_equal(o1, o2);
		digest_from(dst, &d2.tables[i], hex, &rows);
		assert_string_equal(hex, d2.tables[i].digest);
		assert_int_equal(rows, d2.tables[i].rows);
		free(o1);
		free(o2);
		free(sql);
	}
	clear_pair(&d1, &m1, &d2, &m2);
	drop_db(src);
	drop_db(dst);
	free(a1);
	free(a2);
}

/* An account the server allows two connections (its own and pg_dump's):
 * the parts' extra connections are refused, and the create reads every
 * table on its own connection instead of failing, with a debug line (and
 * runs the post-data pg_dump once more should the parts have taken its
 * connection): the same rows and digests as a dump on one connection. */
static void test_split_connection_refused(void **state)
{
	char src[64], lim[64], *a1 = tpath("lim1.tar.zst"), *a2 = tpath("lim2.tar.zst"), *sql, *err;
	struct ms_pg_dump d1, d2;
	struct members m1, m2;
	struct ms_dbconf c;
	const char *line;
	int rc;

	(void)state;
	memset(&m1, 0, sizeof(m1));
	memset(&m2, 0, sizeof(m2));
	make_db(src, sizeof(src), "splitlim");
	snprintf(lim, sizeof(lim), "ms_pgd_lim_%d", (int)getpid());
	/* not a superuser: a role's CONNECTION LIMIT does not bind those */
	sql = ms_xasprintf("DROP ROLE IF EXISTS %s;\nCREATE ROLE %s LOGIN CONNECTION LIMIT 2 PASSWORD 'lim s3cr3t';\n"
			   "ALTER DATABASE %s OWNER TO %s;\n", lim, lim, src, lim);
	assert_int_equal(psql_sql("postgres", sql), 0);
	free(sql);
	sql = ms_xasprintf("CREATE TABLE big_t AS SELECT g AS id, md5(g::text) AS t FROM generate_series(1, 20000) g;\n"
			   "ALTER TABLE big_t OWNER TO %s;\nANALYZE big_t;\n", lim);
	assert_int_equal(psql_sql(src, sql), 0);
	free(sql);
	setenv("MODOSNAP_TEST_PG_SPLIT_MIN", "1", 1);
	c = dbconf(src);
	c.user = lim;
	c.password = "lim s3cr3t";
	assert_int_equal(dump_conf(&c, a1, &d1, &m1, 1, CHUNK, NULL), 0);
	ms_log_set_level(MS_LOG_DEBUG);
	capture_start();
	rc = dump_conf(&c, a2, &d2, &m2, 2, CHUNK, NULL);
	err = capture_end();
	ms_log_set_level(MS_LOG_INFO);
	unsetenv("MODOSNAP_TEST_PG_SPLIT_MIN");
	line = strstr(err, "modosnap: debug: database 'testpg': the server refused an extra connection: every table "
			   "is read on one connection\n");
	/* pg_dump's post-data run, started before the data, may have been
	 * the one refused: it is run once more after the tables */
	if (rc != 0 || !line || strstr(err, "modosnap: error") || !strstr(err, "too many connections for role"))
		fail_msg("rc %d: [%zu bytes] %.3000s", rc, strlen(err), err);
	assert_int_equal(d2.n_tables, 1);
	assert_int_equal(d2.tables[0].rows, 20000);
	assert_string_equal(d2.tables[0].digest, d1.tables[0].digest);
	assert_int_equal(d2.tables[0].chunks, d1.tables[0].chunks); /* not split */
	free(err);
	clear_pair(&d1, &m1, &d2, &m2);
	assert_no_sessions(src);
	drop_db(src);
	sql = ms_xasprintf("DROP ROLE IF EXISTS %s", lim);
	psql_sql("postgres", sql);
	free(sql);
	free(a1);
	free(a2);
}

/* The post-data pg_dump, started before the data, could not connect (a
 * connection the parts held; here a seam points it nowhere): it runs
 * again after the tables, reading the same snapshot, and the archive
 * holds the same members with the same contents as an undisturbed dump. */
static void test_post_data_retried(void **state)
{
	char *a1 = tpath("post1.tar.zst"), *a2 = tpath("post2.tar.zst"), *err;
	struct ms_pg_dump d1, d2;
	struct members m1, m2;
	int rc;

	(void)state;
	memset(&m1, 0, sizeof(m1));
	memset(&m2, 0, sizeof(m2));
	assert_int_equal(dump_to(srcdb, a1, &d1, &m1), 0);
	setenv("MODOSNAP_TEST_PG_POST_UNREACHABLE", "1", 1);
	ms_log_set_level(MS_LOG_DEBUG);
	capture_start();
	rc = dump_to(srcdb, a2, &d2, &m2);
	err = capture_end();
	ms_log_set_level(MS_LOG_INFO);
	unsetenv("MODOSNAP_TEST_PG_POST_UNREACHABLE");
	if (rc != 0 || strstr(err, "modosnap: error") ||
	    !strstr(err, "modosnap: debug: database 'testpg': pg_dump for section post-data could not connect: "
			 "pg_dump: error: connection to server on socket \"/nonexistent-modosnap-test/"))
		fail_msg("rc %d: [%s]", rc, err);
	/* the same members in the same order, schema-post.sql once; the same
	 * data (pg_dump's scripts differ run to run: \restrict's random key) */
	assert_int_equal(m1.paths.n, m2.paths.n);
	for (size_t i = 0; i < m1.paths.n; i++) {
		size_t n = strlen(m1.paths.v[i]);

		assert_string_equal(m1.paths.v[i], m2.paths.v[i]);
		if (n < 4 || strcmp(m1.paths.v[i] + n - 4, ".sql") != 0)
			assert_string_equal(m1.shas.v[i], m2.shas.v[i]);
	}
	assert_string_equal(m2.paths.v[m2.paths.n - 1], "db/testpg/schema-post.sql");
	free(err);
	clear_pair(&d1, &m1, &d2, &m2);
	free(a1);
	free(a2);
}

/* A schema named pg_... (only allow_system_table_mods makes one) is one
 * a restore refuses: the create refuses it first, naming the table. */
static void test_reserved_schema_refused(void **state)
{
	char src[64], *a = tpath("reserved.tar.zst"), *err;
	struct ms_pg_dump d;
	struct members m;

	(void)state;
	memset(&m, 0, sizeof(m));
	make_db(src, sizeof(src), "reserved");
	assert_int_equal(psql_sql(src, "SET allow_system_table_mods = on;\nCREATE SCHEMA pg_mine;\n"
				       "CREATE TABLE pg_mine.t (a int);\nCREATE TABLE public.u (a int);\n"),
			 0);
	capture_start();
	assert_int_equal(dump_to(src, a, &d, &m), -1);
	err = capture_end();
	assert_string_equal(err, "modosnap: error: database 'testpg': table 'pg_mine.t' is in a schema whose name "
				 "PostgreSQL reserves for the system (pg_...): a restore would refuse it\n");
	free(err);
	ms_pg_dump_clear(&d);
	ms_strv_clear(&m.paths);
	ms_strv_clear(&m.shas);
	drop_db(src);
	free(a);
}

/* A part's backend is terminated while it copies: the dump fails naming
 * the table and the part, every thread ends, nothing is left running. */
static void test_split_part_killed(void **state)
{
	char src[64], *arch = tpath("killed.tar.zst"), *err, *sql;
	struct ms_pg_dump d;
	struct members m;
	pid_t killer;
	int status, rc;

	(void)state;
	memset(&m, 0, sizeof(m));
	make_db(src, sizeof(src), "splitkill");
	assert_int_equal(psql_sql(src, "CREATE TABLE killme AS SELECT g AS id, md5(g::text) AS t "
				       "FROM generate_series(1, 1000000) g;\nANALYZE killme;\n"),
			 0);
	/* terminates the first active part it sees (for 60 s at most; the
	 * activity view is read afresh at each turn) */
	sql = ms_xasprintf("DO $$ BEGIN FOR i IN 1..6000 LOOP PERFORM pg_stat_clear_snapshot(); "
			   "IF (SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '%s' "
			   "AND state = 'active' AND query LIKE 'COPY (SELECT%%' AND pid <> pg_backend_pid()) > 0 "
			   "THEN RETURN; END IF; PERFORM pg_sleep(0.01); END LOOP; END $$",
			   src);
	killer = fork();
	assert_true(killer >= 0);
	if (killer == 0)
		_exit(psql_sql("postgres", sql) == 0 ? 0 : 1);
	setenv("MODOSNAP_TEST_PG_SPLIT_MIN", "1", 1);
	capture_start();
	/* 1 KiB chunks: thousands of hand-overs, a copy that lasts */
	rc = dump_parts(src, arch, &d, &m, 2, 1024, NULL);
	err = capture_end();
	if (rc != -1 || strncmp(err, "modosnap: error: database 'testpg': copy of table 'public.killme' (part ", 72))
		fail_msg("rc %d, message: '%s'", rc, err);
	unsetenv("MODOSNAP_TEST_PG_SPLIT_MIN");
	assert_int_equal(waitpid(killer, &status, 0), killer);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(!strncmp(err, "modosnap: error: database 'testpg': copy of table 'public.killme' (part ", 72));
	assert_non_null(strstr(err, " of 2) failed: "));
	/* libpq's words: the server's FATAL, or the closed socket when it
	 * reads that first */
	if (!strstr(err, "terminating connection due to administrator command") &&
	    !strstr(err, "server closed the connection unexpectedly"))
		fail_msg("message: '%s'", err);
	assert_ptr_equal(strchr(err, '\n'), err + strlen(err) - 1); /* one line, one error */
	assert_null(d.tables);
	free(sql);
	assert_no_sessions(src); /* every connection closed */
	free(err);
	ms_strv_clear(&m.paths);
	ms_strv_clear(&m.shas);
	drop_db(src);
	free(arch);
}

static int cancel_calls;

/* The writer's cancel test: true from the 200th call on (an interrupt in
 * the middle of a split table). */
static bool cancel_later(void)
{
	return ++cancel_calls >= 200;
}

/* The archive stops taking chunks (an interrupt): the parts' queries are
 * cancelled, every thread ends, the dump fails without a message of its
 * own (whoever cancelled says why). */
static void test_split_writer_cancelled(void **state)
{
	char src[64], *arch = tpath("cancelled.tar.zst"), *err;
	struct ms_pg_dump d;
	struct members m;
	int rc;

	(void)state;
	memset(&m, 0, sizeof(m));
	make_db(src, sizeof(src), "splitcancel");
	assert_int_equal(psql_sql(src, "CREATE TABLE big_t AS SELECT g AS id, md5(g::text) AS t "
				       "FROM generate_series(1, 200000) g;\nANALYZE big_t;\n"),
			 0);
	setenv("MODOSNAP_TEST_PG_SPLIT_MIN", "1", 1);
	cancel_calls = 0;
	capture_start();
	rc = dump_parts(src, arch, &d, &m, 2, 4096, cancel_later);
	err = capture_end();
	assert_int_equal(rc, -1);
	unsetenv("MODOSNAP_TEST_PG_SPLIT_MIN");
	assert_string_equal(err, "");
	assert_true(cancel_calls >= 200);
	assert_true(m.paths.n > 1 && m.paths.n < 200); /* it stopped in the middle of big_t */
	assert_no_sessions(src);
	free(err);
	ms_strv_clear(&m.paths);
	ms_strv_clear(&m.shas);
	drop_db(src);
	free(arch);
}

/* Another session holds an exclusive lock on a table to be split: the
 * parts' lock fails at once (1: the dumper then reads the table on its
 * own connection, waiting as pg_dump does) and leaves their transactions
 * and snapshot usable; once the lock is gone the parts lock and copy. */
static void test_split_lock_busy(void **state)
{
	char src[64], *arch = tpath("lock.tar.zst"), *snap, *sql[2];
	struct ms_dbconf c;
	struct ms_pg_parcopy *p;
	struct ms_archive_writer *w;
	struct ms_rowchunks rc;
	struct ms_rowdigest dg;
	PGconn *m;
	PGresult *res;
	time_t t0;
	int fd, i;
	bool refused;

	(void)state;
	make_db(src, sizeof(src), "splitlock");
	c = dbconf(src);
	assert_int_equal(psql_sql(src, "CREATE TABLE lk AS SELECT g AS id, md5(g::text) AS t "
				       "FROM generate_series(1, 20000) g;\nANALYZE lk;\n"),
			 0);
	/* the dumper's side: a transaction whose snapshot the parts import */
	m = ms_pg_connect(&c);
	assert_non_null(m);
	PQclear(PQexec(m, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"));
	res = PQexec(m, "SELECT pg_catalog.pg_export_snapshot()");
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	snap = ms_xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	p = ms_pg_parcopy_open(&c, "UTF8", snap, 2, &refused);
	assert_non_null(p);
	assert_false(refused);
	start_locker(src, "mslocker_pgd", "lk", 120);
	t0 = time(NULL);
	capture_start();
	i = ms_pg_parcopy_lock(p, "testpg", "public.lk");
	free(capture_end());
	assert_int_equal(i, 1);
	assert_true(time(NULL) - t0 < 5); /* at once, not after a wait */
	stop_locker("mslocker_pgd");
	/* the same connections, the same snapshot: lock and copy now */
	assert_int_equal(ms_pg_parcopy_lock(p, "testpg", "public.lk"), 0);
	fd = open(arch, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	w = ms_archive_writer_open(fd, arch, NULL);
	assert_non_null(w);
	ms_rowchunks_init(&rc, w, CHUNK, NULL, NULL);
	ms_rowchunks_begin(&rc, "db/testpg/data/public.lk", ".copy");
	ms_rowdigest_init(&dg);
	sql[0] = "COPY (SELECT id, t FROM ONLY public.lk WHERE id <= 5000) TO STDOUT";
	sql[1] = "COPY (SELECT id, t FROM ONLY public.lk WHERE id > 5000) TO STDOUT";
	assert_int_equal(ms_pg_parcopy_run(p, "testpg", sql, "copy of table 'public.lk'", CHUNK / 2, &rc, &dg), 0);
	assert_int_equal(ms_rowchunks_end(&rc), 0);
	assert_int_equal(dg.rows, 20000);
	assert_true(rc.chunks >= 2);
	ms_rowchunks_release(&rc);
	assert_int_equal(ms_archive_writer_close(w, NULL), 0);
	ms_archive_writer_free(w);
	close(fd);
	ms_pg_parcopy_close(p);
	PQfinish(m);
	free(snap);
	assert_no_sessions(src);
	drop_db(src);
	free(arch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_large_objects_refused),
		cmocka_unit_test(test_foreign_tables_refused),
		cmocka_unit_test(test_bad_password),
		cmocka_unit_test(test_split_same_rows),
		cmocka_unit_test(test_split_part_killed),
		cmocka_unit_test(test_split_writer_cancelled),
		cmocka_unit_test(test_split_lock_busy),
		cmocka_unit_test(test_split_connection_refused),
		cmocka_unit_test(test_post_data_retried),
		cmocka_unit_test(test_reserved_schema_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
