/*
 * Helpers shared by the unit tests that talk to the harness's PostgreSQL
 * server (test_pg_*.c): reading MS_TESTSRV_ENV, running commands and psql
 * as the superuser, temporary paths. The globals are set by
 * read_server_env() and by the test's own setup (tmpdir).
 */
#ifndef MS_PGTEST_H
#define MS_PGTEST_H

#include <stddef.h>

extern char tmpdir[256];
extern char *bindir, *sockdir, *port, *superuser;

#define PSQL "%s/psql -X -q -v ON_ERROR_STOP=1 -h '%s' -p '%s' -U '%s'"
#define PSQL_ARGS bindir, sockdir, port, superuser

char *tpath(const char *name);
int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void write_file(const char *path, const void *buf, size_t len);
int psql_sql(const char *db, const char *sql);
char *psql_out(const char *db, const char *sql);
char *schema_of(const char *db);
char *env_value(const char *text, const char *key);
int read_server_env(void);

#endif
