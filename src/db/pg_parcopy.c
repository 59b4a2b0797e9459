/*
 * One large table copied on several connections (see pg_parcopy.h).
 *
 * Hand-over: a copy thread fills its own buffer with whole rows; when the
 * next row would not fit, it publishes the buffer and waits until the
 * calling thread has written it into the archive (a row longer than the
 * buffer is published on its own, straight from libpq's memory). The
 * calling thread sleeps until some thread has published, writes that
 * chunk, and hands the buffer back. Memory: one chunk per connection.
 * On a failed write the calling thread raises `abort`, cancels every
 * query still running (PQcancel: callable from another thread) and joins;
 * a thread that fails raises `abort` too, so the others stop at their
 * next hand-over.
 */
#include "db/pg_parcopy.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/log.h"
#include "base/util.h"
#include "db/pg_conn.h"

struct part {
	struct ms_pg_parcopy *p; /* back pointer */
	PGconn *conn;            /* owned */
	PGcancel *cancel;        /* made before any thread uses conn (owned) */
	pthread_t thread;
	bool started;
	/* the run, set by the calling thread before the threads start */
	const char *sql;
	char *buf;               /* chunk_size bytes (owned) */
	size_t cap, len;
	struct ms_rowdigest dg;
	/* under p->mu */
	const char *pub;         /* a chunk waiting to be written, or NULL */
	size_t pub_len;
	bool taken;              /* the calling thread is writing pub: it stays valid until then */
	bool done;               /* the thread has finished (its result is set) */
	int rc;                  /* 0, or -1 with err set (or after an abort) */
	char *err;               /* the failure's one-line message (owned) */
};

struct ms_pg_parcopy {
	int n;
	struct part *parts;
	pthread_mutex_t mu;
	pthread_cond_t cv;       /* a chunk was published, a part finished, or a chunk was written */
	bool abort;
};

/* COPY TO STDOUT emits no notices; should the server send one anyway, a
 * copy thread must not log it (only the calling thread logs). */
static void quiet_notice(void *arg, const PGresult *res)
{
	(void)arg;
	(void)res;
}

struct ms_pg_parcopy *ms_pg_parcopy_open(const struct ms_dbconf *db, const char *encoding,
					 const char *snapshot_id, int n, bool *refused)
{
	struct ms_pg_parcopy *p = ms_xcalloc(1, sizeof(*p));

	*refused = false;
	p->n = n;
	p->parts = ms_xcalloc((size_t)n, sizeof(*p->parts));
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	for (int i = 0; i < n; i++) {
		struct part *pt = &p->parts[i];
		char *lit, *sql;
		int rc;

		pt->p = p;
		pt->conn = ms_pg_connect_quiet(db);
		if (!pt->conn) {
			*refused = true;
			goto fail;
		}
		PQsetNoticeReceiver(pt->conn, quiet_notice, NULL);
		pt->cancel = PQgetCancel(pt->conn);
		if (ms_pg_pin_session(pt->conn, db->alias, 0, false, encoding, NULL) < 0 ||
		    ms_pg_exec(pt->conn, db->alias, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
			       "starting a copy connection's transaction", NULL) < 0)
			goto fail;
		/* SET TRANSACTION SNAPSHOT takes a literal, not a parameter */
		lit = PQescapeLiteral(pt->conn, snapshot_id, strlen(snapshot_id));
		if (!lit) {
			ms_pg_error(pt->conn, db->alias, "importing the dump's snapshot", NULL);
			goto fail;
		}
		sql = ms_xasprintf("SET TRANSACTION SNAPSHOT %s", lit);
		PQfreemem(lit);
		rc = ms_pg_exec(pt->conn, db->alias, sql, "importing the dump's snapshot", NULL);
		free(sql);
		if (rc < 0)
			goto fail;
	}
	return p;
fail:
	ms_pg_parcopy_close(p);
	return NULL;
}

int ms_pg_parcopy_parts(const struct ms_pg_parcopy *p)
{
	return p->n;
}

void ms_pg_parcopy_close(struct ms_pg_parcopy *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->n; i++) {
		if (p->parts[i].cancel)
			PQfreeCancel(p->parts[i].cancel);
		if (p->parts[i].conn)
			PQfinish(p->parts[i].conn);
		free(p->parts[i].buf);
		free(p->parts[i].err);
	}
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->parts);
	free(p);
}

/* --- the copy threads ----------------------------------------------------- */

/* Publishes len bytes at buf and waits until they are written: 0, or -1
 * when the run was aborted. */
static int publish(struct part *pt, const char *buf, size_t len)
{
	struct ms_pg_parcopy *p = pt->p;
	int ret;

	pthread_mutex_lock(&p->mu);
	if (!p->abort) {
		pt->pub = buf;
		pt->pub_len = len;
		pthread_cond_broadcast(&p->cv);
		/* after an abort, a chunk the calling thread is writing stays
		 * ours to keep (it may point into libpq's memory) until it is
		 * done with it */
		while (pt->pub && (!p->abort || pt->taken))
			pthread_cond_wait(&p->cv, &p->mu);
	}
	pt->pub = NULL;
	ret = p->abort ? -1 : 0;
	pthread_mutex_unlock(&p->mu);
	return ret;
}

/* Adds one row: into the buffer, or published first when it does not fit. */
static int take_row(struct part *pt, const char *row, size_t len)
{
	ms_rowdigest_add(&pt->dg, row, len);
	if (pt->len + len > pt->cap && pt->len) {
		if (publish(pt, pt->buf, pt->len) < 0)
			return -1;
		pt->len = 0;
	}
	if (len > pt->cap)
		return publish(pt, row, len);
	memcpy(pt->buf + pt->len, row, len);
	pt->len += len;
	return 0;
}

/* The thread's failure: its message, and every other part told to stop. */
static int fail(struct part *pt, const PGresult *res)
{
	char *msg = pt->conn ? ms_pg_message(pt->conn, res) : ms_xstrdup("");

	pthread_mutex_lock(&pt->p->mu);
	if (!pt->p->abort)
		pt->err = msg;
	else
		free(msg); /* stopped because something else failed: that is the message */
	pt->p->abort = true;
	pthread_cond_broadcast(&pt->p->cv);
	pthread_mutex_unlock(&pt->p->mu);
	return -1;
}

static int copy_part(struct part *pt)
{
	PGresult *res = PQexec(pt->conn, pt->sql);
	int n, ret;

	if (PQresultStatus(res) != PGRES_COPY_OUT) {
		ret = fail(pt, res);
		PQclear(res);
		return ret;
	}
	PQclear(res);
	for (;;) {
		char *row = NULL;
		int rc;

		n = PQgetCopyData(pt->conn, &row, 0);
		if (n < 0)
			break;
		rc = take_row(pt, row, (size_t)n);
		PQfreemem(row);
		if (rc < 0)
			return -1; /* aborted: the connection is left mid-COPY */
	}
	if (n != -1)
		return fail(pt, NULL);
	res = PQgetResult(pt->conn);
	ret = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : fail(pt, res);
	do
		PQclear(res);
	while ((res = PQgetResult(pt->conn)) != NULL);
	if (ret == 0 && pt->len && publish(pt, pt->buf, pt->len) < 0)
		ret = -1;
	pt->len = 0;
	return ret;
}

static void *part_main(void *arg)
{
	struct part *pt = arg;
	int rc = copy_part(pt);

	ms_sha256_thread_end();
	pthread_mutex_lock(&pt->p->mu);
	pt->rc = rc;
	pt->done = true;
	pthread_cond_broadcast(&pt->p->cv);
	pthread_mutex_unlock(&pt->p->mu);
	return NULL;
}

/* --- the calling thread --------------------------------------------------- */

int ms_pg_parcopy_lock(struct ms_pg_parcopy *p, const char *alias, const char *qname)
{
	char *sql = ms_xasprintf("SAVEPOINT modosnap_lock; LOCK TABLE %s IN ACCESS SHARE MODE NOWAIT", qname);
	int ret = 0;

	for (int i = 0; i < p->n && ret == 0; i++) {
		PGresult *res = PQexec(p->parts[i].conn, sql);
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		if (PQresultStatus(res) == PGRES_COMMAND_OK) {
			PQclear(res);
			continue;
		}
		if (state && !strcmp(state, "55P03")) {
			/* busy: undo the failed LOCK, keep the transaction and
			 * its snapshot; a part that got the lock keeps it (it
			 * only reads) */
			ret = 1;
			PQclear(res);
			res = PQexec(p->parts[i].conn, "ROLLBACK TO SAVEPOINT modosnap_lock");
			if (PQresultStatus(res) != PGRES_COMMAND_OK)
				ret = ms_pg_error(p->parts[i].conn, alias, "locking a table for its parts", res);
		} else {
			ret = ms_pg_error(p->parts[i].conn, alias, "locking a table for its parts", res);
		}
		PQclear(res);
	}
	free(sql);
	return ret;
}


/* Cancels the query of every part still running (after an abort). */
static void cancel_running(struct ms_pg_parcopy *p)
{
	for (int i = 0; i < p->n; i++) {
		char errbuf[256];
		bool running;

		pthread_mutex_lock(&p->mu);
		running = p->parts[i].started && !p->parts[i].done;
		pthread_mutex_unlock(&p->mu);
		if (running && p->parts[i].cancel)
			(void)PQcancel(p->parts[i].cancel, errbuf, (int)sizeof(errbuf));
	}
}

/* Writes chunks as they are published until every part has finished or
 * the run is aborted. 0, or -1 when a write failed. */
static int gather(struct ms_pg_parcopy *p, struct ms_rowchunks *rc)
{
	int ret = 0;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct part *ready = NULL;
		const char *buf;
		size_t len;
		int running = 0;

		for (int i = 0; i < p->n; i++) {
			if (p->parts[i].started && !p->parts[i].done)
				running++;
			if (!ready && p->parts[i].pub)
				ready = &p->parts[i];
		}
		if (p->abort || (!ready && !running))
			break;
		if (!ready) {
			pthread_cond_wait(&p->cv, &p->mu);
			continue;
		}
		buf = ready->pub;
		len = ready->pub_len;
		ready->taken = true;
		pthread_mutex_unlock(&p->mu);
		ret = ms_rowchunks_put(rc, buf, len);
		pthread_mutex_lock(&p->mu);
		ready->pub = NULL;
		ready->taken = false;
		if (ret < 0)
			p->abort = true;
		pthread_cond_broadcast(&p->cv);
		if (ret < 0)
			break;
	}
	pthread_mutex_unlock(&p->mu);
	return ret;
}

int ms_pg_parcopy_run(struct ms_pg_parcopy *p, const char *alias, char *const sql[], const char *what,
		      size_t chunk_size, struct ms_rowchunks *rc, struct ms_rowdigest *dg)
{
	sigset_t all, old;
	int ret = 0, wrote;
	bool aborted, failed = false;

	p->abort = false;
	for (int i = 0; i < p->n; i++) {
		struct part *pt = &p->parts[i];

		pt->sql = sql[i];
		if (pt->cap != chunk_size) {
			free(pt->buf);
			pt->buf = ms_xmalloc(chunk_size);
			pt->cap = chunk_size;
		}
		pt->len = 0;
		pt->pub = NULL;
		pt->taken = false;
		pt->done = false;
		pt->rc = 0;
		ms_rowdigest_init(&pt->dg);
	}
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (int i = 0; i < p->n; i++) {
		int e = pthread_create(&p->parts[i].thread, NULL, part_main, &p->parts[i]);

		pthread_mutex_lock(&p->mu);
		p->parts[i].started = e == 0;
		if (e != 0) {
			p->abort = true; /* the parts started stop at their next hand-over */
			pthread_cond_broadcast(&p->cv);
		}
		pthread_mutex_unlock(&p->mu);
		if (e != 0) {
			ms_log_error("database '%s': %s: unable to start a copy thread: %s", alias, what,
				     strerror(e));
			ret = -1;
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	wrote = ret == 0 ? gather(p, rc) : -1;
	pthread_mutex_lock(&p->mu);
	aborted = p->abort;
	pthread_mutex_unlock(&p->mu);
	if (aborted)
		cancel_running(p);
	for (int i = 0; i < p->n; i++) {
		struct part *pt = &p->parts[i];

		if (!pt->started)
			continue;
		pthread_join(pt->thread, NULL);
		pt->started = false;
		/* the one part whose failure stopped the run (none when a
		 * write failed: that has been reported) */
		if (pt->err && wrote == 0)
			ms_log_error("database '%s': %s (part %d of %d) failed: %s", alias, what, i + 1, p->n,
				     pt->err);
		if (pt->rc < 0 || pt->err)
			failed = true;
		free(pt->err);
		pt->err = NULL;
		ms_rowdigest_merge(dg, &pt->dg);
	}
	return ret < 0 || wrote < 0 || failed ? -1 : 0;
}
