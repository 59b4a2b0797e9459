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
#include <unistd.h>

#include "pgtest.h"
#include "strbuf.h"
#include "util.h"

char tmpdir[256];
char *bindir, *sockdir, *port, *superuser;

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
	free(text);
	if (!bindir || !sockdir || !port || !superuser) {
		fprintf(stderr, "%s: '%s' lacks MS_PG_BINDIR/SOCKDIR/PORT/SUPERUSER\n", program_invocation_short_name, f);
		return -1;
	}
	return 0;
}
