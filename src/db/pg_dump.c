/*
 * The PostgreSQL dumper (see pg_dump.h). One libpq connection pins every
 * setting that changes text output, opens a REPEATABLE READ, READ ONLY
 * transaction and exports its snapshot; pg_dump (a child process given
 * that snapshot) writes the schema sections while the transaction stays
 * open, and the table rows and sequence values are read through the same
 * connection, so schema, data and sequences describe one point in time.
 * The password reaches pg_dump only through a passfile that is no file:
 * an anonymous memory file (memfd_create) the child inherits as
 * descriptor PASSFD, named by PGPASSFILE=/dev/fd/PASSFD in its
 * environment; never through argv, never on a disk where an interrupted
 * run could leave it.
 */
#include "db/pg_dump.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "db/dbmember.h"
#include "db/pg_conn.h"
#include "db/pg_parcopy.h"
#include "base/hash.h"
#include "base/spawn.h"
#include "base/log.h"
#include "db/rowdigest.h"
#include "base/strbuf.h"
#include "base/util.h"

extern char **environ;

#define PG_DUMP_MAX_OUTPUT ((size_t)256 << 20) /* schema text we accept */
#define CHILD_STDERR_MAX ((size_t)64 << 10)    /* stderr kept for messages */
#define PASSFD 3                               /* the passfile's descriptor in pg_dump */
/* Tables whose heap is at least this large are copied in parts on
 * several connections (pg_parcopy.h; MODOSNAP_TEST_PG_SPLIT_MIN, in bytes,
 * lowers it for tests). Below it, a table takes a second or less to copy
 * and the extra connections would cost more than they save. */
#define SPLIT_MIN_BYTES ((long long)64 << 20)

/* Everything one dump run needs, passed to every step. */
struct dumper {
	const struct ms_dbconf *db;  /* borrowed */
	const char *alias;           /* db->alias, for messages */
	PGconn *conn;                /* the one connection (owned) */
	struct ms_archive_writer *w; /* borrowed */
	const char *prefix;          /* "db/<alias>", borrowed */
	ms_member_cb on_member;
	void *ctx;
	struct ms_rowchunks rc;      /* the current table's chunks (owned) */
	int passfd;                  /* the in-memory passfile (close-on-exec), -1 when none */
	char *passenv;               /* "PGPASSFILE=/dev/fd/N" (owned), NULL when none */
	char **envp;                 /* the child's environment (array owned, strings borrowed) */
	char *conninfo;              /* for pg_dump --dbname, without the password */
	int server_num;              /* PQserverVersion */
	int parts;                   /* connections a large table is copied on (1: no split) */
	long long split_min;         /* heap bytes from which a table is split */
	long long block_size;        /* the server's, for heap block ranges */
	struct ms_pg_parcopy *par;   /* the extra connections, opened at the first split (owned) */
	struct ms_pg_dump *out;
};

/* --- archive members ------------------------------------------------------ */

static int write_member(struct dumper *d, const char *path, const void *buf, size_t len)
{
	return ms_db_write_member(d->w, path, buf, len, d->on_member, d->ctx);
}

/* --- session and snapshot ------------------------------------------------- */

static int start_session(struct dumper *d)
{
	PGresult *res;

	res = ms_pg_rows(d->conn, d->alias,
			 "SELECT current_setting('server_version'), pg_catalog.pg_encoding_to_char(encoding), "
			 "current_setting('block_size') "
			 "FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()",
			 0, NULL, "reading the server version", NULL);
	if (!res)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return ms_log_error("database '%s': unable to read the server version", d->alias);
	}
	d->out->server_version = ms_xstrdup(PQgetvalue(res, 0, 0));
	d->out->encoding = ms_xstrdup(PQgetvalue(res, 0, 1));
	d->block_size = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	PQclear(res);
	d->server_num = PQserverVersion(d->conn);

	/* Settings first: they fix the text of every row we read (no lock
	 * timeout; pg_dump runs while this session idles in its transaction). */
	if (ms_pg_pin_session(d->conn, d->alias, 0, false, d->out->encoding, NULL) < 0)
		return -1;

	if (ms_pg_exec(d->conn, d->alias, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
		       "starting the transaction", NULL) < 0)
		return -1;
	res = ms_pg_rows(d->conn, d->alias, "SELECT pg_catalog.pg_export_snapshot()", 0, NULL,
			 "exporting the snapshot", NULL);
	if (!res)
		return -1;
	d->out->snapshot_id = ms_xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

static int refuse_large_objects(struct dumper *d)
{
	PGresult *res = ms_pg_rows(d->conn, d->alias, "SELECT count(*) FROM pg_catalog.pg_largeobject_metadata", 0,
				   NULL, "counting large objects", NULL);
	int ret = 0;

	if (!res)
		return -1;
	if (strcmp(PQgetvalue(res, 0, 0), "0") != 0)
		ret = ms_log_error("database '%s': %s large objects are not supported", d->alias,
				   PQgetvalue(res, 0, 0));
	PQclear(res);
	return ret;
}

/* Columns: 0 schema, 1 name, 2 relkind, 3 quoted qualified name, 4 that as
 * a string literal, 5 the heap's size in bytes as the last VACUUM or
 * ANALYZE counted it (tables; NULL otherwise): read from pg_class, so no
 * table is locked here (pg_relation_size would lock each one, and wait
 * behind any exclusive lock before pg_dump even starts). Ordinary tables (with partitions and unlogged ones),
 * sequences and foreign tables outside the system schemas and not owned
 * by extensions, in schema/name byte order. */
static PGresult *list_relations(struct dumper *d)
{
	return ms_pg_rows(d->conn, d->alias,
			  "SELECT n.nspname, c.relname, c.relkind, "
			  "pg_catalog.format('%I.%I', n.nspname, c.relname), "
			  "pg_catalog.quote_literal(pg_catalog.format('%I.%I', n.nspname, c.relname)), "
			  "CASE WHEN c.relkind = 'r' THEN c.relpages::pg_catalog.int8 * "
			  "pg_catalog.current_setting('block_size')::pg_catalog.int8 END "
			  "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
			  "WHERE c.relkind IN ('r', 'S', 'f') "
			  "AND n.nspname <> 'information_schema' "
			  "AND n.nspname !~ '^pg_(catalog$|toast|temp_)' "
			  "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e "
			  "WHERE e.classid = 'pg_catalog.pg_class'::pg_catalog.regclass "
			  "AND e.objid = c.oid AND e.deptype = 'e') "
			  "ORDER BY n.nspname COLLATE \"C\", c.relname COLLATE \"C\"",
			  0, NULL, "listing tables", NULL);
}

/* PostgreSQL reserves schema names beginning with pg_ (only
 * allow_system_table_mods makes one): a restore refuses a snapshot that
 * names one (restore/sqlcheck.c), so the create refuses it first. */
static int refuse_reserved_schemas(struct dumper *d, PGresult *rels)
{
	for (int i = 0; i < PQntuples(rels); i++)
		if (!strncmp(PQgetvalue(rels, i, 0), "pg_", 3))
			return ms_log_error("database '%s': table '%s.%s' is in a schema whose name PostgreSQL "
					    "reserves for the system (pg_...): a restore would refuse it", d->alias,
					    PQgetvalue(rels, i, 0), PQgetvalue(rels, i, 1));
	return 0;
}

static int refuse_foreign_tables(struct dumper *d, PGresult *rels)
{
	struct ms_strbuf names = MS_STRBUF_INIT;
	int n = 0;

	for (int i = 0; i < PQntuples(rels); i++) {
		if (strcmp(PQgetvalue(rels, i, 2), "f") != 0)
			continue;
		ms_strbuf_addf(&names, "%s'%s.%s'", n++ ? ", " : "", PQgetvalue(rels, i, 0),
			       PQgetvalue(rels, i, 1));
	}
	if (n)
		ms_log_error("database '%s': foreign tables are not supported: %s", d->alias,
			     ms_strbuf_str(&names));
	ms_strbuf_release(&names);
	return n ? -1 : 0;
}

/* --- pg_dump as a child process ------------------------------------------- */

/* Appends key='value' quoted per libpq conninfo rules. */
static void conninfo_add(struct ms_strbuf *sb, const char *key, const char *val)
{
	ms_strbuf_addf(sb, "%s%s='", sb->len ? " " : "", key);
	for (const char *p = val; *p; p++) {
		if (*p == '\'' || *p == '\\')
			ms_strbuf_addch(sb, '\\');
		ms_strbuf_addch(sb, *p);
	}
	ms_strbuf_addch(sb, '\'');
}

static void build_conninfo(struct dumper *d)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;

	conninfo_add(&sb, "dbname", d->db->name);
	if (*d->db->user)
		conninfo_add(&sb, "user", d->db->user);
	if (*d->db->host)
		conninfo_add(&sb, "host", d->db->host);
	if (*d->db->port)
		conninfo_add(&sb, "port", d->db->port);
	conninfo_add(&sb, "connect_timeout", "10");
	conninfo_add(&sb, "application_name", "modosnap");
	d->conninfo = ms_strbuf_detach(&sb);
}

/* The in-memory passfile (when there is a password) and the child's
 * environment: ours, except that with a password PGPASSFILE names the
 * descriptor the child inherits and PGPASSWORD (which would take
 * precedence) is dropped. The memory file is 0600 (libpq ignores a
 * passfile that others could read) and close-on-exec: only pg_dump gets
 * it, through run_child's dup2. */
static int prepare_child_env(struct dumper *d)
{
	struct ms_strbuf line = MS_STRBUF_INIT;
	size_t n = 0, k = 0;
	int fd, ret = -1;

	if (d->db->password) {
		if (strpbrk(d->db->password, "\r\n"))
			return ms_log_error("database '%s': the password contains a line break, "
					    "which cannot be passed to pg_dump", d->alias);
		fd = memfd_create("modosnap-pgpass", MFD_CLOEXEC);
		if (fd >= 0 && fd <= PASSFD) {
			/* keep it above the descriptors the child is given */
			int high = fcntl(fd, F_DUPFD_CLOEXEC, PASSFD + 1);

			close(fd);
			fd = high;
		}
		if (fd < 0)
			return ms_log_error("database '%s': unable to make an in-memory password file: %s", d->alias,
					    strerror(errno));
		d->passfd = fd;
		ms_strbuf_addstr(&line, "*:*:*:*:");
		for (const char *p = d->db->password; *p; p++) {
			if (*p == ':' || *p == '\\')
				ms_strbuf_addch(&line, '\\');
			ms_strbuf_addch(&line, *p);
		}
		ms_strbuf_addch(&line, '\n');
		if (fchmod(fd, 0600) < 0 || write(fd, line.buf, line.len) != (ssize_t)line.len) {
			ms_log_error("database '%s': unable to write the in-memory password file: %s", d->alias,
				     strerror(errno));
			goto out;
		}
		d->passenv = ms_xasprintf("PGPASSFILE=/dev/fd/%d", PASSFD);
	}
	while (environ && environ[n])
		n++;
	d->envp = ms_xcalloc(n + 2, sizeof(*d->envp));
	for (size_t i = 0; i < n; i++) {
		if (d->db->password &&
		    (!strncmp(environ[i], "PGPASSFILE=", 11) || !strncmp(environ[i], "PGPASSWORD=", 11)))
			continue;
		d->envp[k++] = environ[i];
	}
	if (d->passenv)
		d->envp[k++] = d->passenv;
	d->envp[k] = NULL;
	ret = 0;
out:
	if (line.buf)
		ms_secure_zero(line.buf, line.len);
	ms_strbuf_release(&line);
	return ret;
}

/* Closes the in-memory passfile (its memory goes with the last
 * descriptor); safe to call at any point. */
static void remove_passfile(struct dumper *d)
{
	if (d->passfd >= 0)
		close(d->passfd);
	d->passfd = -1;
	free(d->passenv);
	free(d->envp);
	d->passenv = NULL;
	d->envp = NULL;
}

/* What one child run produced. */
struct child_result {
	struct ms_strbuf out; /* stdout, at most the limit given */
	struct ms_strbuf err; /* the first CHILD_STDERR_MAX bytes of stderr */
	bool too_big;         /* stdout exceeded the limit (child killed) */
	int status;           /* waitpid status */
};

/* A started child whose output is not collected yet. */
struct child {
	pid_t pid;  /* 0 when none */
	int out;    /* read end of its stdout */
	int err;    /* read end of its stderr */
};

#define CHILD_PIPE_SIZE (1 << 20) /* stdout pipe: a schema section fits while we do other work */

/* Starts path with argv/envp, stdin from /dev/null, `passfd` (when >= 0)
 * as its descriptor PASSFD, stdout and stderr into pipes read by
 * collect_child. Returns 0, or an errno value when it could not be
 * started (nothing logged). */
static int start_child(const char *path, char *const argv[], char *const envp[], int passfd, struct child *c)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int op[2], ep[2], rc;

	c->pid = 0;
	if (pipe2(op, O_CLOEXEC) < 0)
		return errno;
	if (pipe2(ep, O_CLOEXEC) < 0) {
		rc = errno;
		close(op[0]);
		close(op[1]);
		return rc;
	}
	/* best effort: a larger pipe lets a child started ahead of time
	 * finish before we read it */
	(void)fcntl(op[0], F_SETPIPE_SZ, CHILD_PIPE_SIZE);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, op[1], 1);
	posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
	if (passfd >= 0)
		posix_spawn_file_actions_adddup2(&fa, passfd, PASSFD); /* dup2 clears close-on-exec */
	/* no signal blocked or ignored (create's pause window, SIGPIPE): the
	 * SIGTERM abandon_child sends must end it */
	ms_spawnattr_init_clean(&attr);
	rc = posix_spawn(&c->pid, path, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(op[1]);
	close(ep[1]);
	if (rc != 0) {
		c->pid = 0;
		close(op[0]);
		close(ep[0]);
		return rc;
	}
	c->out = op[0];
	c->err = ep[0];
	return 0;
}

/* Reads a started child's stdout (up to max_out bytes: beyond, the child
 * is killed) and stderr until both close, then reaps it. */
static void collect_child(struct child *c, size_t max_out, struct child_result *r)
{
	struct pollfd fds[2];
	char buf[65536];

	fds[0].fd = c->out;
	fds[1].fd = c->err;
	fds[0].events = fds[1].events = POLLIN;
	while (fds[0].fd >= 0 || fds[1].fd >= 0) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			ssize_t n;

			if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(fds[i].fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				close(fds[i].fd);
				fds[i].fd = -1;
				continue;
			}
			if (i == 1) {
				if (r->err.len < CHILD_STDERR_MAX)
					ms_strbuf_add(&r->err, buf, (size_t)n);
			} else if (r->out.len + (size_t)n > max_out) {
				r->too_big = true;
				kill(c->pid, SIGTERM);
				close(fds[0].fd);
				fds[0].fd = -1;
			} else {
				ms_strbuf_add(&r->out, buf, (size_t)n);
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (fds[i].fd >= 0)
			close(fds[i].fd);
	while (waitpid(c->pid, &r->status, 0) < 0) {
		if (errno != EINTR) {
			r->status = -1;
			break;
		}
	}
	c->pid = 0;
}

/* Ends a started child whose output is no longer wanted (a failure
 * elsewhere): killed, reaped, its pipes closed. No-op when none. */
static void abandon_child(struct child *c)
{
	if (c->pid <= 0)
		return;
	kill(c->pid, SIGTERM);
	close(c->out);
	close(c->err);
	while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
		;
	c->pid = 0;
}

/* start_child then collect_child. */
static int run_child(const char *path, char *const argv[], char *const envp[], int passfd, size_t max_out,
		     struct child_result *r)
{
	struct child c;
	int rc = start_child(path, argv, envp, passfd, &c);

	if (rc == 0)
		collect_child(&c, max_out, r);
	return rc;
}

static void child_result_release(struct child_result *r)
{
	ms_strbuf_release(&r->out);
	ms_strbuf_release(&r->err);
}

/* Comparable major version: 150000 for 15.x, 90600 for 9.6.x. */
static int major_num(int version_num)
{
	return version_num >= 100000 ? version_num / 10000 * 10000 : version_num / 100 * 100;
}

/* Major of `pg_dump --version` output ("pg_dump (PostgreSQL) 15.20 ..."), or -1. */
static int parse_pg_dump_version(const char *s)
{
	const char *p = strstr(s, ") ");
	long maj, min = 0;
	char *end;

	p = p ? p + 2 : s;
	while (*p && (*p < '0' || *p > '9'))
		p++;
	if (!*p)
		return -1;
	maj = strtol(p, &end, 10);
	if (maj <= 0 || maj > 1000)
		return -1;
	if (maj < 10 && *end == '.')
		min = strtol(end + 1, NULL, 10);
	return maj >= 10 ? (int)maj * 10000 : (int)(maj * 10000 + min * 100);
}

/* The first executable pg_dump in a PATH directory, or NULL; caller frees. */
static char *which_pg_dump(void)
{
	const char *path = getenv("PATH");

	for (const char *p = path; p && *p;) {
		size_t n = strcspn(p, ":");
		char *dir = n ? ms_xstrndup(p, n) : ms_xstrdup(".");
		char *cand = ms_path_join(dir, "pg_dump");

		free(dir);
		if (ms_is_file(cand) && access(cand, X_OK) == 0)
			return cand;
		free(cand);
		p += n;
		if (*p == ':')
			p++;
	}
	return NULL;
}

static int choose_pg_dump(struct dumper *d)
{
	int want = major_num(d->server_num);
	char major[32];
	char *cand;

	if (d->server_num >= 100000)
		snprintf(major, sizeof(major), "%d", d->server_num / 10000);
	else
		snprintf(major, sizeof(major), "%d.%d", d->server_num / 10000, d->server_num / 100 % 100);
	cand = ms_xasprintf("/usr/lib/postgresql/%s/bin/pg_dump", major);
	if (access(cand, X_OK) == 0) {
		d->out->pg_dump_path = cand;
		return 0;
	}
	free(cand);
	cand = which_pg_dump();
	if (cand) {
		char *argv[] = { cand, "--version", NULL };
		struct child_result r;

		memset(&r, 0, sizeof(r));
		if (run_child(cand, argv, environ, -1, 4096, &r) == 0 && WIFEXITED(r.status) &&
		    WEXITSTATUS(r.status) == 0 && parse_pg_dump_version(ms_strbuf_str(&r.out)) >= want) {
			child_result_release(&r);
			d->out->pg_dump_path = cand;
			return 0;
		}
		child_result_release(&r);
		free(cand);
	}
	return ms_log_error("database '%s': no pg_dump for PostgreSQL %s found: install postgresql-client-%s",
			    d->alias, major, major);
}

static int lock_wait_s = 60;

/* Times the post-data pg_dump is run again when it could not connect. */
#define POST_RETRIES 3

void ms_pg_dump_set_lock_timeout(int seconds)
{
	if (seconds > 0)
		lock_wait_s = seconds;
}

/* Starts pg_dump for one schema section; its output is read by
 * finish_section. 0, or -1 after logging. pg_dump's LOCK TABLE waits at
 * most lock_wait_s: by the time the post-data section runs, the dump's
 * own connection holds its tables, and a session queued for an exclusive
 * lock on one of them would otherwise hold pg_dump, and the create, for
 * ever (the server sees no deadlock: the create waits for its child). */
static int start_section(struct dumper *d, const char *section, struct child *c)
{
	char *lock = ms_xasprintf("--lock-wait-timeout=%ds", lock_wait_s);
	char *sect = ms_xasprintf("--section=%s", section);
	char *snap = ms_xasprintf("--snapshot=%s", d->out->snapshot_id);
	char *dbn = ms_xasprintf("--dbname=%s", d->conninfo);
	char *argv[] = { d->out->pg_dump_path, "--no-password", "--schema-only", lock, sect, snap, dbn, NULL };
	int rc = start_child(d->out->pg_dump_path, argv, d->envp, d->passfd, c);

	if (rc != 0)
		ms_log_error("database '%s': unable to run '%s': %s", d->alias, d->out->pg_dump_path, strerror(rc));
	free(lock);
	free(sect);
	free(snap);
	free(dbn);
	return rc != 0 ? -1 : 0;
}

/* Collects a section's pg_dump started by start_section and writes its
 * output as `member`. 0, or -1 after logging; with `retry`, when pg_dump
 * could not connect (its first line "connection to server ... failed"),
 * -2 after a debug line only. */
static int finish_section(struct dumper *d, struct child *c, const char *section, const char *member, bool retry)
{
	char *path = ms_xasprintf("%s/%s", d->prefix, member);
	struct child_result r;
	int ret = -1;

	memset(&r, 0, sizeof(r));
	collect_child(c, PG_DUMP_MAX_OUTPUT, &r);
	if (r.too_big) {
		ms_log_error("database '%s': pg_dump output for section %s exceeds %zu MiB", d->alias, section,
			     PG_DUMP_MAX_OUTPUT >> 20);
		goto out;
	}
	if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0) {
		const char *e = ms_strbuf_str(&r.err);
		char *first = ms_xstrndup(e, strcspn(e, "\n"));
		char *line = ms_pg_one_line(first);

		char *why = *line ? ms_xstrdup(line)
			    : WIFEXITED(r.status) ? ms_xasprintf("exit status %d", WEXITSTATUS(r.status))
						  : ms_xasprintf("killed by signal %d",
								 WIFSIGNALED(r.status) ? WTERMSIG(r.status) : -1);

		retry = retry && WIFEXITED(r.status) && strstr(why, "connection to server") && strstr(why, "failed");
		if (retry)
			ms_log_debug("database '%s': pg_dump for section %s could not connect: %s", d->alias,
				     section, why);
		else
			ms_log_error("database '%s': pg_dump failed: %s", d->alias, why);
		ret = retry ? -2 : -1;
		free(why);
		free(first);
		free(line);
		goto out;
	}
	ret = write_member(d, path, r.out.buf ? r.out.buf : "", r.out.len);
out:
	child_result_release(&r);
	free(path);
	return ret;
}

/* Runs pg_dump for one schema section and writes its output as `member`. */
static int dump_section(struct dumper *d, const char *section, const char *member)
{
	struct child c;

	if (start_section(d, section, &c) < 0)
		return -1;
	return finish_section(d, &c, section, member, false);
}

/* --- table data ----------------------------------------------------------- */

/* One table's rows as they stream in: digested and cut into chunks. */
struct table_copy {
	struct ms_rowdigest dg;
	struct ms_rowchunks *rc;
};

static int copy_row(void *ctx, const char *row, size_t len)
{
	struct table_copy *tc = ctx;

	ms_rowdigest_add(&tc->dg, row, len);
	return ms_rowchunks_add(tc->rc, row, len);
}

/* The COPY statements that read table qname (regclass text) in d->parts
 * parts of its heap, by block ranges whose union is every block: the
 * columns COPY would list (no dropped or generated ones), FROM ONLY as
 * COPY reads no child table, so the parts' lines are the lines
 * `COPY qname TO STDOUT` writes. NULL when the table has no column
 * (nothing to gain); -1 in *err after logging. Caller frees the array. */
static char **split_copies(struct dumper *d, const char *qname, long long bytes, int *err)
{
	const char *param[1] = { qname };
	PGresult *res = ms_pg_rows(d->conn, d->alias,
				   "SELECT pg_catalog.string_agg(pg_catalog.quote_ident(attname), ', ' ORDER BY attnum) "
				   "FROM pg_catalog.pg_attribute WHERE attrelid = $1::pg_catalog.regclass "
				   "AND attnum > 0 AND NOT attisdropped AND attgenerated = ''",
				   1, param, "listing a table's columns", NULL);
	unsigned long long blocks = d->block_size > 0 ? (unsigned long long)bytes / (unsigned long long)d->block_size : 0;
	char **sql;

	*err = 0;
	if (!res) {
		*err = -1;
		return NULL;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0) || blocks < (unsigned long long)d->parts) {
		PQclear(res);
		return NULL;
	}
	sql = ms_xcalloc((size_t)d->parts, sizeof(*sql));
	for (int k = 0; k < d->parts; k++) {
		unsigned long long lo = blocks * (unsigned long long)k / (unsigned long long)d->parts;
		unsigned long long hi = blocks * (unsigned long long)(k + 1) / (unsigned long long)d->parts;
		char *where;

		/* operators spelled out: no search_path can put another '<' here */
		if (k == 0)
			where = ms_xasprintf("ctid OPERATOR(pg_catalog.<) '(%llu,0)'::pg_catalog.tid", hi);
		else if (k == d->parts - 1)
			where = ms_xasprintf("ctid OPERATOR(pg_catalog.>=) '(%llu,0)'::pg_catalog.tid", lo);
		else
			where = ms_xasprintf("ctid OPERATOR(pg_catalog.>=) '(%llu,0)'::pg_catalog.tid AND "
					     "ctid OPERATOR(pg_catalog.<) '(%llu,0)'::pg_catalog.tid", lo, hi);
		sql[k] = ms_xasprintf("COPY (SELECT %s FROM ONLY %s WHERE %s) TO STDOUT", PQgetvalue(res, 0, 0),
				      qname, where);
		free(where);
	}
	PQclear(res);
	return sql;
}

/* Copies table qname in parts on the extra connections (opened at the
 * first use): 1 when it is not worth splitting, else 0 or -1. */
static int dump_table_split(struct dumper *d, const char *qname, long long bytes, struct table_copy *tc,
			    const char *what)
{
	char **sql;
	int err, ret, n_sql = d->parts;

	if (d->parts < 2 || d->server_num < 140000 || bytes < d->split_min)
		return 1; /* one connection; TID range scans came in PostgreSQL 14 */
	sql = split_copies(d, qname, bytes, &err);
	if (!sql)
		return err < 0 ? -1 : 1;
	if (!d->par) {
		bool refused;

		d->par = ms_pg_parcopy_open(d->db, d->out->encoding, d->out->snapshot_id, d->parts, &refused);
		if (refused) {
			/* a create must not fail for want of a connection the
			 * server keeps for others: this table and the rest are
			 * read on the dump's own connection */
			ms_log_debug("database '%s': the server refused an extra connection: every table is read "
				     "on one connection", d->alias);
			d->parts = 1;
			ret = 1;
			goto out;
		}
	}
	ret = d->par ? ms_pg_parcopy_lock(d->par, d->alias, qname) : -1;
	if (ret == 0)
		ret = ms_pg_parcopy_run(d->par, d->alias, sql, what, d->rc.size / (size_t)d->parts, tc->rc, &tc->dg);
	else if (ret > 0)
		ms_log_debug("database '%s': %s: another session holds or waits for a lock on it: read on one "
			     "connection", d->alias, what);
out:
	for (int k = 0; k < n_sql; k++)
		free(sql[k]);
	free(sql);
	return ret;
}

static int dump_table(struct dumper *d, const char *qname, long long bytes, struct ms_pg_table *t)
{
	char *sql = ms_xasprintf("COPY %s TO STDOUT", qname);
	char *what = ms_xasprintf("copy of table '%s.%s'", t->schema, t->name), *dir;
	struct table_copy tc = { .rc = &d->rc };
	int ret = -1, split;

	ms_rowdigest_init(&tc.dg);
	dir = ms_xasprintf("%s/data/%s.%s", d->prefix, t->schema, t->name);
	ms_rowchunks_begin(&d->rc, dir, ".copy");
	free(dir);
	split = dump_table_split(d, qname, bytes, &tc, what);
	if (split < 0 || (split > 0 && ms_pg_copy_out(d->conn, d->alias, sql, what, copy_row, &tc) < 0) ||
	    ms_rowchunks_end(&d->rc) < 0)
		goto out;
	t->chunks = d->rc.chunks;
	t->rows = tc.dg.rows;
	ms_rowdigest_hex(&tc.dg, t->digest);
	ret = 0;
out:
	free(sql);
	free(what);
	return ret;
}

static int dump_tables(struct dumper *d, PGresult *rels)
{
	size_t n = 0;

	for (int i = 0; i < PQntuples(rels); i++)
		n += strcmp(PQgetvalue(rels, i, 2), "r") == 0;
	d->out->tables = ms_xcalloc(n ? n : 1, sizeof(*d->out->tables));
	for (int i = 0; i < PQntuples(rels); i++) {
		struct ms_pg_table *t;

		if (strcmp(PQgetvalue(rels, i, 2), "r") != 0)
			continue;
		t = &d->out->tables[d->out->n_tables++];
		t->schema = ms_xstrdup(PQgetvalue(rels, i, 0));
		t->name = ms_xstrdup(PQgetvalue(rels, i, 1));
		if (strchr(t->schema, '/') || strchr(t->name, '/'))
			return ms_log_error("database '%s': table '%s.%s': a name with '/' cannot be stored",
					    d->alias, t->schema, t->name);
		if (dump_table(d, PQgetvalue(rels, i, 3), strtoll(PQgetvalue(rels, i, 5), NULL, 10), t) < 0)
			return -1;
	}
	return 0;
}

/* --- sequences ------------------------------------------------------------ */

static int dump_sequences(struct dumper *d, PGresult *rels)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	char *path = ms_xasprintf("%s/sequences.sql", d->prefix);
	int ret = -1;

	for (int i = 0; i < PQntuples(rels); i++) {
		char *sql, *what;
		PGresult *res;

		if (strcmp(PQgetvalue(rels, i, 2), "S") != 0)
			continue;
		sql = ms_xasprintf("SELECT last_value, is_called FROM %s", PQgetvalue(rels, i, 3));
		what = ms_xasprintf("reading sequence '%s.%s'", PQgetvalue(rels, i, 0), PQgetvalue(rels, i, 1));
		res = ms_pg_rows(d->conn, d->alias, sql, 0, NULL, what, NULL);
		if (res && PQntuples(res) == 1)
			ms_strbuf_addf(&sb, "SELECT pg_catalog.setval(%s, %s, %s);\n", PQgetvalue(rels, i, 4),
				       PQgetvalue(res, 0, 0),
				       strcmp(PQgetvalue(res, 0, 1), "t") == 0 ? "true" : "false");
		else if (res)
			ms_log_error("database '%s': %s failed: no row", d->alias, what);
		free(sql);
		free(what);
		if (!res || PQntuples(res) != 1) {
			PQclear(res);
			goto out;
		}
		PQclear(res);
	}
	ret = write_member(d, path, sb.buf ? sb.buf : "", sb.len);
out:
	ms_strbuf_release(&sb);
	free(path);
	return ret;
}

/* --- the whole dump ------------------------------------------------------- */

static int dump_all(struct dumper *d)
{
	PGresult *rels = NULL;
	struct child post = { 0 };
	int ret = -1, rc;

	if (start_session(d) < 0 || refuse_large_objects(d) < 0)
		goto out;
	rels = list_relations(d);
	if (!rels || refuse_reserved_schemas(d, rels) < 0 || refuse_foreign_tables(d, rels) < 0)
		goto out;
	if (choose_pg_dump(d) < 0 || prepare_child_env(d) < 0)
		goto out;
	build_conninfo(d);
	if (dump_section(d, "pre-data", "schema-pre.sql") < 0)
		goto out;
	/* post-data reads the same exported snapshot: it runs while the
	 * tables are copied (its catalog queries took 0.1-0.2 s each, see
	 * docs/dev/perf-pg.md) and is collected after them, so the member
	 * order is unchanged */
	if (getenv("MODOSNAP_TEST_PG_POST_UNREACHABLE")) {
		/* test seam (docs/testing.md): this first run cannot connect */
		char *real = d->conninfo;

		d->conninfo = ms_xstrdup("host=/nonexistent-modosnap-test");
		rc = start_section(d, "post-data", &post);
		free(d->conninfo);
		d->conninfo = real;
	} else {
		rc = start_section(d, "post-data", &post);
	}
	if (rc < 0)
		goto out;
	if (dump_tables(d, rels) < 0 || dump_sequences(d, rels) < 0)
		goto out;
	rc = finish_section(d, &post, "post-data", "schema-post.sql", true);
	/* refused a connection the table parts held (max_connections, a
	 * role's CONNECTION LIMIT): again with theirs closed, reading the
	 * same snapshot, leaving their backends time to exit (a closed
	 * connection's backend still counts until it has) */
	ms_pg_parcopy_close(d->par);
	d->par = NULL;
	for (int attempt = 1; rc == -2 && attempt <= POST_RETRIES; attempt++) {
		struct child again = { 0 };

		usleep(250000u * (unsigned)attempt);
		if (start_section(d, "post-data", &again) < 0)
			goto out;
		rc = finish_section(d, &again, "post-data", "schema-post.sql", attempt < POST_RETRIES);
	}
	if (rc < 0)
		goto out;
	if (ms_pg_exec(d->conn, d->alias, "COMMIT", "committing the transaction", NULL) < 0)
		goto out;
	ret = 0;
out:
	abandon_child(&post);
	ms_pg_parcopy_close(d->par);
	d->par = NULL;
	PQclear(rels);
	remove_passfile(d);
	return ret;
}

int ms_pg_dump_database(const struct ms_dbconf *db, struct ms_archive_writer *w, const char *prefix,
			size_t chunk_size, int parts, ms_member_cb on_member, void *ctx, struct ms_pg_dump *out)
{
	const char *min = getenv("MODOSNAP_TEST_PG_SPLIT_MIN");

	struct dumper d;
	int ret;

	memset(out, 0, sizeof(*out));
	if (chunk_size == 0)
		return ms_log_error("database '%s': chunk size must be positive", db->alias);
	memset(&d, 0, sizeof(d));
	d.passfd = -1;
	d.db = db;
	d.alias = db->alias;
	d.w = w;
	d.prefix = prefix;
	d.on_member = on_member;
	d.ctx = ctx;
	d.out = out;
	d.parts = parts > 1 ? parts : 1;
	d.split_min = min && *min ? strtoll(min, NULL, 10) : SPLIT_MIN_BYTES;
	d.conn = ms_pg_connect(db);
	if (!d.conn)
		return -1;
	ms_rowchunks_init(&d.rc, w, chunk_size, on_member, ctx);
	ret = dump_all(&d);
	PQfinish(d.conn);
	ms_rowchunks_release(&d.rc);
	free(d.conninfo);
	if (ret < 0)
		ms_pg_dump_clear(out);
	return ret;
}

void ms_pg_dump_clear(struct ms_pg_dump *d)
{
	free(d->server_version);
	free(d->encoding);
	free(d->snapshot_id);
	free(d->pg_dump_path);
	for (size_t i = 0; i < d->n_tables; i++) {
		free(d->tables[i].schema);
		free(d->tables[i].name);
	}
	free(d->tables);
	memset(d, 0, sizeof(*d));
}
