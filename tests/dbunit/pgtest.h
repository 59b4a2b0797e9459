/*
 * Helpers shared by the unit tests that talk to the harness's PostgreSQL
 * and MariaDB servers (test_pg_*.c, test_my_*.c): reading MS_TESTSRV_ENV,
 * running commands, psql and the MariaDB client as the superusers,
 * temporary paths, the PostgreSQL source fixture, test snapshots and
 * generated installations. The globals are set by
 * read_server_env() and by the test's own setup (tmpdir).
 */
#ifndef MS_PGTEST_H
#define MS_PGTEST_H

#include <stdbool.h>
#include <stddef.h>

extern char tmpdir[256];
extern char *bindir, *sockdir, *port, *superuser, *mysock;

#define PSQL "%s/psql -X -q -v ON_ERROR_STOP=1 -h '%s' -p '%s' -U '%s'"
#define PSQL_ARGS bindir, sockdir, port, superuser

/* Makes tmpdir "<MS_TEST_TMP or /tmp>/<name>.XXXXXX" (MS_TEST_TMP
 * created when missing, the directory 0700): 0, or -1. */
int make_tmpdir(const char *name);
char *tpath(const char *name);
int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void write_file(const char *path, const void *buf, size_t len);
int psql_sql(const char *db, const char *sql);
char *psql_out(const char *db, const char *sql);
char *schema_of(const char *db);
/* Starts a psql session named `app` (application_name) in the background
 * that takes ACCESS EXCLUSIVE on `table` in db and sleeps `seconds`
 * holding it; returns once the lock is granted (fails the test after
 * 30 s). stop_locker(app) terminates it and returns once it is gone
 * (its locks with it). */
void start_locker(const char *db, const char *app, const char *table, int seconds);
/* A session connected to db that holds no lock (it sleeps `seconds`),
 * application_name `app`; returns once the server shows it. Ended by
 * stop_locker(app). */
void start_idle_session(const char *db, const char *app, int seconds);
void stop_locker(const char *app);
char *env_value(const char *text, const char *key);
int read_server_env(void);

/* MariaDB as root over the harness socket (mysock): run SQL in db (0 or
 * the client's status), the -N -B output of SQL, and mariadb-dump
 * --skip-dump-date --order-by-primary --routines --triggers --events of
 * db, the independent oracle (callers free). */
int my_sql(const char *db, const char *sql);
char *my_out(const char *sql);
char *my_dump_of(const char *db);

struct ms_entry;
/* A 0600 file entry owned by the caller, mtime now. */
void file_entry(struct ms_entry *e, const char *path, size_t len);
/* Copies archive `from` to `to`, replacing `old` by `new` (same length)
 * in member `member`, with the manifest's SHA-256 of that member
 * rewritten to match: verify accepts it, the row digests do not. */
void tamper(const char *from, const char *to, const char *member, const char *old, const char *new);
/* Like tamper, but `new` may have any length: what an attacker does to
 * an archive (member rewritten, its size and SHA-256 in the manifest
 * recomputed); verify accepts the result. */
void forge(const char *from, const char *to, const char *member, const char *old, const char *new);

struct ms_manifest;
struct ms_archive_writer;
/* A test snapshot at `arch`: its header (holding `component`) written and
 * listed in *mf (initialised here), *fd open; the caller adds the dump's
 * members (member_cb with ctx mf lists them) and its "databases" record. */
struct ms_archive_writer *snapshot_begin(const char *arch, const char *component, struct ms_manifest *mf, int *fd);
/* Writes the manifest, closes the archive and fd, clears *mf. */
void snapshot_end(struct ms_archive_writer *w, int fd, struct ms_manifest *mf);
/* ms_member_cb that lists the member in the manifest `ctx`. */
int member_cb(void *ctx, const struct ms_entry *e, const char *sha256);

/* A generated installation's fixture.env text: KEY's value (asserted
 * present; caller frees), and the connection settings.py gives alias
 * ("DEFAULT"/"AMAVIS" for `which`), freed with fx_dbconf_free. */
struct ms_dbconf;
char *fx_value(const char *env, const char *key);
struct ms_dbconf fx_dbconf(const char *env, const char *alias, const char *which);
void fx_dbconf_free(struct ms_dbconf *d);

/* SQL that fills an empty database with the PostgreSQL source fixture of
 * the dump and restore tests: the kinds of objects a Modoboa database
 * holds (identity, serial and bigserial keys, deferred foreign keys,
 * jsonb, bytea, partitions, an unlogged table, a view, a trigger, a
 * sequence in another schema) and the edge cases of COPY text, with one
 * row of table `big` big_len bytes long; with_types adds an enum, a
 * domain and a table using them (app.feel). Caller frees. */
char *pg_source_sql(size_t big_len, bool with_types);

#endif
