/*
 * The snapshot engine (see snapshot.h).
 */
#include "snapshot/snapshot.h"
#include "snapshot/dest.h"
#include "formats/marker.h"
#include "formats/manifest.h"
#include "db/my_dump.h"
#include "db/pg_dump.h"
#include "discover/postfix.h"
#include "formats/snapname.h"
#include "discover/versions.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The partial file being written, for the signal handler. */
static char partial_for_signal[PATH_MAX];
/* ms_snapshot_interrupt_gracefully: the first signal is recorded, not fatal */
static volatile sig_atomic_t graceful;
static volatile sig_atomic_t interrupted_by;

/* A published archive that must not keep its name if the process dies
 * now (a pre-upgrade snapshot not verified yet) and the name it then gets. */
static char unverified_for_signal[PATH_MAX], aside_for_signal[PATH_MAX + 16];

/* A decrypted copy (and its .partial) in a private directory: removed,
 * with the directory, when a signal ends the process. */
static char plain_for_signal[PATH_MAX], plain_partial_for_signal[PATH_MAX + 16], plain_dir_for_signal[PATH_MAX];

static void on_fatal_signal(int sig)
{
	/* removed at once: publish's link() of the partial name then fails,
	 * whatever the writer is still doing */
	if (partial_for_signal[0])
		unlink(partial_for_signal);
	if (plain_for_signal[0]) {
		unlink(plain_for_signal);
		unlink(plain_partial_for_signal);
		rmdir(plain_dir_for_signal);
	}
	if (graceful && !interrupted_by) {
		interrupted_by = sig;
		return;
	}
	if (unverified_for_signal[0] && link(unverified_for_signal, aside_for_signal) == 0)
		unlink(unverified_for_signal);
	signal(sig, SIG_DFL);
	raise(sig);
}

void ms_snapshot_remove_on_signal(const char *path)
{
	sigset_t all, old;
	const char *slash = path ? strrchr(path, '/') : NULL;

	ms_snapshot_install_signal_cleanup();
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	snprintf(plain_for_signal, sizeof(plain_for_signal), "%s", path ? path : "");
	snprintf(plain_partial_for_signal, sizeof(plain_partial_for_signal), "%s.partial", path ? path : "");
	snprintf(plain_dir_for_signal, sizeof(plain_dir_for_signal), "%.*s", slash ? (int)(slash - path) : 0,
		 slash ? path : "");
	sigprocmask(SIG_SETMASK, &old, NULL);
}

void ms_snapshot_set_aside_on_signal(const char *path)
{
	sigset_t all, old;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	snprintf(unverified_for_signal, sizeof(unverified_for_signal), "%s", path ? path : "");
	snprintf(aside_for_signal, sizeof(aside_for_signal), "%s%s", path ? path : "", MS_UNVERIFIED_SUFFIX);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static const int fatal_signals[] = { SIGINT, SIGTERM, SIGHUP };

/* A fatal signal recorded by the handler, or held pending by a blocked
 * mask (create's pause window); 0 when none. */
static int pending_interrupt(void)
{
	sigset_t pend;

	if (interrupted_by)
		return interrupted_by;
	if (sigpending(&pend) == 0)
		for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++)
			if (sigismember(&pend, fatal_signals[i]) == 1)
				return fatal_signals[i];
	return 0;
}

static bool writer_cancelled(void)
{
	return graceful && pending_interrupt() != 0;
}

void ms_snapshot_interrupt_gracefully(void)
{
	graceful = 1;
	ms_snapshot_install_signal_cleanup();
}

int ms_snapshot_interrupted(void)
{
	return pending_interrupt();
}

const char *ms_snapshot_signal_name(int sig)
{
	switch (sig) {
	case SIGINT: return "SIGINT";
	case SIGTERM: return "SIGTERM";
	case SIGHUP: return "SIGHUP";
	default: return "a signal";
	}
}

void ms_snapshot_install_signal_cleanup(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal_signal;
	/* graceful: the run goes on to its next write, which fails; reads and
	 * writes in between must not fail with EINTR first */
	sa.sa_flags = graceful ? SA_RESTART : 0;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++) {
		struct sigaction old;

		/* A signal ignored by whoever started us (nohup, a supervisor)
		 * stays ignored. */
		if (sigaction(fatal_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		sigaction(fatal_signals[i], &sa, NULL);
	}
}

static void set_partial_for_signal(const char *path)
{
	sigset_t all, old;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	snprintf(partial_for_signal, sizeof(partial_for_signal), "%s", path ? path : "");
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static char *host_name(void)
{
	char buf[256];

	if (gethostname(buf, sizeof(buf)) < 0)
		return ms_xstrdup("localhost");
	buf[sizeof(buf) - 1] = '\0';
	return ms_xstrdup(buf);
}

static bool wanted(const struct ms_create_opts *o, const char *component)
{
	return !o->only || ms_strv_contains(o->only, component);
}

static bool db_wanted(const struct ms_create_opts *o, const struct ms_dbconf *db)
{
	char *c = ms_xasprintf("db:%s", db->alias);
	bool w = (db->engine == MS_DB_POSTGRESQL || db->engine == MS_DB_MYSQL) && wanted(o, c);

	free(c);
	return w;
}

static void fill_header(struct ms_header *h, const struct ms_instance *inst, const struct ms_create_opts *o,
			time_t now)
{
	memset(h, 0, sizeof(*h));
	h->format_version = MS_FORMAT_VERSION;
	ms_header_new_id((long long)now, &h->snapshot_id, &h->created);
	h->host = host_name();
	h->tool_version = ms_xstrdup(MODOSNAP_VERSION);
	h->instance = ms_xstrdup(inst->dir);
	if (inst->postfix && wanted(o, "postfix"))
		h->postfix_dir = ms_xstrdup(inst->postfix_dir);
	for (size_t i = 0; o->tags && i < o->tags->n; i++)
		ms_strv_push(&h->tags, o->tags->v[i]);
	h->note = o->note ? ms_xstrdup(o->note) : NULL;
	h->upgrade_to = o->upgrade_to ? ms_xstrdup(o->upgrade_to) : NULL;
	if (wanted(o, "instance"))
		ms_strv_push(&h->components, "instance");
	if (inst->postfix && wanted(o, "postfix"))
		ms_strv_push(&h->components, "postfix");
	for (size_t i = 0; o->dump_dbs && i < inst->n_dbs; i++)
		if (db_wanted(o, &inst->dbs[i]))
			ms_strv_push_owned(&h->components, ms_xasprintf("db:%s", inst->dbs[i].alias));
	if (o->venv_dir && wanted(o, "venv")) {
		ms_strv_push(&h->components, "venv");
		h->venv_dir = ms_xstrdup(o->venv_dir);
	}
	if (o->dkim_roots && o->dkim_roots->n && wanted(o, "dkim"))
		ms_strv_push(&h->components, "dkim");
	if (o->dkim_dir)
		h->dkim_dir = ms_xstrdup(o->dkim_dir);
	if (o->system_roots && o->system_roots->n && wanted(o, "system")) {
		ms_strv_push(&h->components, "system");
		h->system_root = ms_xstrdup(o->system_root ? o->system_root : "/");
	}
	if (o->mail_dir && wanted(o, "mail")) {
		ms_strv_push(&h->components, "mail");
		h->mail_dir = ms_xstrdup(o->mail_dir);
		h->mail_layout = o->mail_layout ? ms_xstrdup(o->mail_layout) : NULL;
	}
	if (inst->dists) {
		h->n_packages = ms_distinfo_count(inst->dists);
		h->packages = ms_xcalloc(h->n_packages + 1, sizeof(*h->packages));
		for (size_t i = 0; i < h->n_packages; i++) {
			const char *name, *version;

			ms_distinfo_at(inst->dists, i, &name, &version);
			h->packages[i].key = ms_xstrdup(name);
			h->packages[i].value = version ? ms_xstrdup(version) : NULL;
		}
	}
	ms_versions_collect(inst, o->probes, &h->versions);
}

/* Each root of a rooted component (FORMAT.md §4.3) as PREFIX/PATH, read
 * from files->v[i] (files NULL: from PATH itself). */
static int capture_roots(struct ms_capture *c, const struct ms_strv *roots, const struct ms_strv *files,
			 const char *prefix)
{
	for (size_t i = 0; i < roots->n; i++) {
		char *member = ms_path_join(prefix, roots->v[i] + strspn(roots->v[i], "/"));
		int ret = ms_capture_path(c, files ? files->v[i] : roots->v[i], member);

		free(member);
		if (ret < 0)
			return -1;
	}
	return 0;
}

/* The Maildir store, with its own capture state: Dovecot renames and
 * deletes messages while they are read (ms_capture_opts.maildir). */
static int capture_mail(struct ms_archive_writer *w, struct ms_manifest *m, const struct ms_create_opts *o,
			struct ms_capture_stats *st)
{
	struct ms_capture_opts copts = { .excludes = o->excludes, .maildir = true };
	struct ms_capture *c = ms_capture_new(w, m, &copts);
	int ret = ms_capture_tree(c, o->mail_dir, "files/mail");

	ms_capture_stats(c, st);
	if (ret == 0 && st->vanished)
		ms_log_info("mail: %llu message(s) deleted while the store was read (not in the snapshot)",
			    (unsigned long long)st->vanished);
	ms_capture_free(c);
	return ret;
}

/* Metadata of a JSON document member: owned by the running user, 0600. */
static struct ms_entry doc_entry(const char *member, size_t size, time_t now)
{
	struct ms_entry e = { 0 };

	e.path = (char *)member;
	e.type = MS_ENTRY_FILE;
	e.size = size;
	e.mode = 0600;
	e.uid = getuid();
	e.gid = getgid();
	e.mtime_sec = now;
	return e;
}

static int capture_postfix(struct ms_capture *c, const struct ms_postfix *pf)
{
	for (size_t i = 0; i < pf->n_maps; i++) {
		char *member;
		int ret;

		if (pf->maps[i].state == MS_MAP_MISSING)
			continue;
		if (!ms_entry_postfix_name_ok(pf->maps[i].name)) {
			/* restore would refuse it: only what the component holds (FORMAT.md §4.3) */
			char *p = ms_printable(pf->maps[i].path);

			ms_log_warn("'%s': named in '%s' but not a Postfix map name (*.cf); not archived", p,
				    MS_POSTFIX_CHK_NAME);
			free(p);
			continue;
		}
		member = ms_path_join("files/postfix", pf->maps[i].name);
		ret = ms_capture_file(c, pf->maps[i].path, member);
		free(member);
		if (ret < 0)
			return -1;
	}
	if (pf->chk_path && ms_capture_file(c, pf->chk_path, "files/postfix/" MS_POSTFIX_CHK_NAME) < 0)
		return -1;
	if (pf->main_cf && ms_capture_file(c, pf->main_cf, "files/postfix/main.cf") < 0)
		return -1;
	if (pf->master_cf && ms_capture_file(c, pf->master_cf, "files/postfix/master.cf") < 0)
		return -1;
	return 0;
}

static int record_member(void *ctx, const struct ms_entry *e, const char *sha256)
{
	ms_manifest_add(ctx, e, sha256, 0);
	return 0;
}

/* Connections a large PostgreSQL table is read on (pg_dump.h): two on a
 * machine with two CPUs or more, so that the server formats rows on two
 * backends (its one backend was what bounded create, docs/performance.md);
 * one on one CPU. */
static int copy_parts(void)
{
	return sysconf(_SC_NPROCESSORS_ONLN) >= 2 ? 2 : 1;
}

/* Dumps one PostgreSQL database under db/<alias> and records it. */
static int dump_pg(struct ms_archive_writer *w, struct ms_manifest *m, const struct ms_dbconf *db, size_t chunk)
{
	struct ms_pg_dump d = { 0 };
	struct ms_manifest_db *mdb;
	char *prefix = ms_xasprintf("db/%s", db->alias);
	int ret;

	/* progress for a person at a terminal; silent under cron */
	if (isatty(STDERR_FILENO))
		ms_log_info("dumping database '%s' (postgresql)", db->alias);
	ret = ms_pg_dump_database(db, w, prefix, chunk, copy_parts(), record_member, m, &d);
	if (ret == 0) {
		mdb = ms_manifest_add_db(m);
		mdb->alias = ms_xstrdup(db->alias);
		mdb->engine = ms_xstrdup("postgresql");
		mdb->server_version = d.server_version ? ms_xstrdup(d.server_version) : NULL;
		mdb->encoding = d.encoding ? ms_xstrdup(d.encoding) : NULL;
		for (size_t i = 0; i < d.n_tables; i++)
			ms_manifest_db_add_table(mdb, d.tables[i].schema, d.tables[i].name, d.tables[i].rows,
						 d.tables[i].digest, d.tables[i].chunks);
	}
	ms_pg_dump_clear(&d);
	free(prefix);
	return ret;
}

/* Dumps the MariaDB/MySQL alias dbs[first] together with every later
 * alias on the same server with the same login (one transaction, one
 * point in time for all of them), and records them; done[] marks them. */
static int dump_my_group(struct ms_archive_writer *w, struct ms_manifest *m, const struct ms_instance *inst,
			 const struct ms_create_opts *o, size_t first, bool *done, size_t chunk)
{
	const struct ms_dbconf **group = ms_xcalloc(inst->n_dbs, sizeof(*group));
	struct ms_my_dump *out;
	size_t n = 0;
	int ret;

	for (size_t i = first; i < inst->n_dbs; i++)
		if (!done[i] && db_wanted(o, &inst->dbs[i]) && ms_my_same_login(&inst->dbs[first], &inst->dbs[i])) {
			group[n++] = &inst->dbs[i];
			done[i] = true;
		}
	out = ms_xcalloc(n, sizeof(*out));
	if (isatty(STDERR_FILENO))
		for (size_t i = 0; i < n; i++)
			ms_log_info("dumping database '%s' (mysql)", group[i]->alias);
	ret = ms_my_dump_databases(group, n, w, chunk, record_member, m, out);
	for (size_t i = 0; ret == 0 && i < n; i++) {
		struct ms_manifest_db *mdb = ms_manifest_add_db(m);

		mdb->alias = ms_xstrdup(group[i]->alias);
		mdb->engine = ms_xstrdup("mysql");
		mdb->server_version = ms_xstrdup(out[i].server_version);
		mdb->encoding = ms_xstrdup(out[i].charset);
		mdb->collation = ms_xstrdup(out[i].collation);
		for (size_t k = 0; k < n; k++)
			if (k != i)
				ms_strv_push(&mdb->shared_snapshot, group[k]->alias);
		for (size_t k = 0; k < out[i].n_tables; k++)
			ms_manifest_db_add_table(mdb, out[i].tables[k].schema, out[i].tables[k].name,
						 out[i].tables[k].rows, out[i].tables[k].digest,
						 out[i].tables[k].chunks);
	}
	for (size_t i = 0; i < n; i++)
		ms_my_dump_clear(&out[i]);
	free(out);
	free(group);
	return ret;
}

static int dump_dbs(struct ms_archive_writer *w, struct ms_manifest *m, const struct ms_instance *inst,
		    const struct ms_create_opts *o)
{
	size_t chunk = o->chunk_size ? o->chunk_size : MS_CHUNK_SIZE;
	bool *done = ms_xcalloc(inst->n_dbs + 1, sizeof(*done));
	int ret = 0;

	for (size_t i = 0; o->dump_dbs && i < inst->n_dbs && ret == 0; i++) {
		const struct ms_dbconf *db = &inst->dbs[i];

		if (done[i] || !db_wanted(o, db))
			continue;
		if (db->engine == MS_DB_POSTGRESQL)
			ret = dump_pg(w, m, db, chunk);
		else if (db->engine == MS_DB_MYSQL)
			ret = dump_my_group(w, m, inst, o, i, done, chunk);
	}
	free(done);
	return ret;
}

/* The signature of the manifest's exact bytes, right after it (FORMAT.md
 * §10); nothing without a key. */
static int write_signature(struct ms_archive_writer *w, const struct ms_sign_key *key, const char *manifest,
			   size_t len, time_t now)
{
	char sha[MS_HASH_HEX_MAX], *sig;
	struct ms_entry e;
	size_t slen = 0;
	int ret;

	if (!key)
		return 0;
	sig = ms_sign_message(key, MS_SIGN_NAMESPACE, manifest, len, &slen);
	if (!sig)
		return -1;
	e = doc_entry(MS_SIGNATURE_NAME, slen, now);
	e.mode = 0644; /* public by nature */
	ret = ms_archive_write_buffer(w, &e, sig, slen, sha);
	free(sig);
	return ret;
}

/* Writes every member: header, components, manifest, signature. */
static int write_members(struct ms_archive_writer *w, const struct ms_instance *inst,
			 const struct ms_create_opts *o, const struct ms_header *h, time_t now,
			 struct ms_create_result *res)
{
	struct ms_capture_opts copts = { .excludes = o->excludes };
	struct ms_capture_stats mst = { 0 };
	struct ms_manifest m = { 0 };
	struct ms_capture *c = NULL;
	char sha[MS_HASH_HEX_MAX];
	struct ms_entry e;
	char *text;
	int ret = -1;

	m.format_version = MS_FORMAT_VERSION;
	m.snapshot_id = ms_xstrdup(h->snapshot_id);
	text = ms_header_encode(h);
	e = doc_entry(MS_HEADER_NAME, strlen(text), now);
	if (ms_archive_write_buffer(w, &e, text, e.size, sha) < 0)
		goto out;
	ms_manifest_add(&m, &e, sha, 0);
	free(text);
	text = NULL;
	c = ms_capture_new(w, &m, &copts);
	if (wanted(o, "instance") && ms_capture_tree(c, inst->dir, "files/instance") < 0)
		goto out;
	if (inst->postfix && wanted(o, "postfix") && capture_postfix(c, inst->postfix) < 0)
		goto out;
	if (o->venv_dir && wanted(o, "venv") && ms_capture_tree(c, o->venv_dir, "files/venv") < 0)
		goto out;
	if (o->dkim_roots && wanted(o, "dkim") && capture_roots(c, o->dkim_roots, NULL, "files/dkim") < 0)
		goto out;
	if (o->system_roots && wanted(o, "system") &&
	    capture_roots(c, o->system_roots, o->system_files, "files/system") < 0)
		goto out;
	if (o->mail_dir && wanted(o, "mail") && capture_mail(w, &m, o, &mst) < 0)
		goto out;
	if (dump_dbs(w, &m, inst, o) < 0)
		goto out;
	ms_capture_stats(c, &res->capture);
	res->capture.entries += mst.entries;
	res->capture.bytes += mst.bytes;
	res->capture.changed += mst.changed;
	res->capture.skipped += mst.skipped;
	res->capture.vanished += mst.vanished;
	text = ms_manifest_encode(&m);
	e = doc_entry(MS_MANIFEST_NAME, strlen(text), now);
	if (ms_archive_write_buffer(w, &e, text, e.size, sha) < 0)
		goto out;
	ret = write_signature(w, o->sign_key, text, e.size, now);
out:
	free(text);
	ms_capture_free(c);
	ms_manifest_clear(&m);
	return ret;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0 || fsync(fd) < 0) {
		ms_log_warn("unable to sync directory '%s': %s", dir, strerror(errno));
		ret = -1;
	}
	if (fd >= 0)
		close(fd);
	return ret;
}

/* fsync + close + link to the final name (never replacing one) + unlink
 * the partial name + fsync the directory. Signals are held from the link
 * on, so an interrupt cannot leave a published archive behind a failure
 * report; one received before (recorded, or held pending by create's
 * pause window) means no publication at all (logged by the caller). Once
 * linked, the archive is complete: a failing directory fsync is a warning
 * (exit 3), not a failure. */
static int publish(int fd, const char *partial, const char *final, const char *dest)
{
	sigset_t all, old;

	if (fsync(fd) < 0) {
		ms_log_error("unable to sync '%s': %s", partial, strerror(errno));
		close(fd);
		return -1;
	}
	if (close(fd) < 0)
		return ms_log_error("unable to write '%s': %s", partial, strerror(errno));
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if (pending_interrupt()) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		return -1;
	}
	if (link(partial, final) < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		return ms_log_error("unable to create '%s': %s", final, strerror(errno));
	}
	unlink(partial);
	partial_for_signal[0] = '\0';
	if (fsync_dir(dest) < 0)
		ms_log_warn("'%s' is complete, but the directory may not be on disk yet", final);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return 0;
}

/* The final name exists, or its set-aside form, or its encrypted form
 * or that form's marker ([encrypt] local = yes keeps NAME only as
 * NAME.age: a plaintext NAME beside it would be taken for a leftover of
 * that snapshot and removed) (lstat: a dangling symlink counts too). */
static bool name_taken(const char *final)
{
	static const char *const forms[] = { "", MS_UNVERIFIED_SUFFIX, MS_ENCRYPTED_SUFFIX,
					     MS_ENCRYPTED_SUFFIX MS_MARKER_SUFFIX };
	bool taken = false;

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]) && !taken; i++) {
		char *p = ms_xasprintf("%s%s", final, forms[i]);
		struct stat st;

		taken = lstat(p, &st) == 0;
		free(p);
	}
	return taken;
}

/* zstd workers: compression (half of create's CPU, docs/performance.md)
 * leaves the thread that reads the databases, digests rows and writes the
 * tar stream. Two on a machine with two CPUs or more (the memory they take
 * depends on the level, not on the data: docs/performance.md), none on one. */
static int compress_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n >= 2 ? 2 : 0;
}

/* The archive written to o->output_fd (a pipe, standard output): the
 * same members, nothing on disk. Takes h. */
static int create_to_fd(const struct ms_instance *inst, const struct ms_create_opts *o, struct ms_header *h,
			time_t now, struct ms_create_result *res)
{
	struct ms_writer_opts wopts = { o->level, compress_workers(), writer_cancelled, o->progress };
	struct ms_archive_writer *w = ms_archive_writer_open(o->output_fd, "standard output", &wopts);
	int ret = -1;

	if (w && write_members(w, inst, o, h, now, res) == 0 && ms_archive_writer_close(w, &res->archive) == 0) {
		res->snapshot_id = ms_xstrdup(h->snapshot_id);
		for (size_t i = 0; i < h->components.n; i++)
			ms_strv_push(&res->components, h->components.v[i]);
		ret = 0;
	} else if (pending_interrupt()) {
		ms_log_error("interrupted by %s: the archive on standard output is incomplete",
			     ms_snapshot_signal_name(pending_interrupt()));
	}
	ms_archive_writer_free(w);
	ms_header_clear(h);
	return ret;
}

int ms_snapshot_create(const struct ms_instance *inst, const struct ms_create_opts *o,
		       struct ms_create_result *res)
{
	struct ms_writer_opts wopts = { o->level, compress_workers(), writer_cancelled, o->progress };
	struct ms_archive_writer *w = NULL;
	struct ms_header h;
	time_t now = time(NULL);
	char *name, *final, *partial;
	int fd, ret = -1;

	memset(res, 0, sizeof(*res));
	fill_header(&h, inst, o, now);
	if (o->to_fd)
		return create_to_fd(inst, o, &h, now, res);
	name = ms_snapname_format(o->label ? o->label : h.host, now, h.versions.modoboa);
	final = ms_path_join(o->dest, name);
	/* Names have a one-second resolution: a snapshot taken in the same
	 * second as the previous one (published, or set aside as
	 * NAME.unverified by create) waits for the next second. */
	for (int tries = 0; name_taken(final) && tries < 3; tries++) {
		sleep(1);
		now = time(NULL);
		ms_header_clear(&h);
		free(name);
		free(final);
		fill_header(&h, inst, o, now);
		name = ms_snapname_format(o->label ? o->label : h.host, now, h.versions.modoboa);
		final = ms_path_join(o->dest, name);
	}
	partial = ms_xasprintf("%s%s", final, MS_PARTIAL_SUFFIX);
	set_partial_for_signal(partial);
	fd = open(partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		set_partial_for_signal(NULL);
		ms_log_error("unable to create '%s': %s", partial, strerror(errno));
		goto out;
	}
	w = ms_archive_writer_open(fd, partial, &wopts);
	if (!w || write_members(w, inst, o, &h, now, res) < 0 ||
	    ms_archive_writer_close(w, &res->archive) < 0) {
		close(fd);
		goto fail;
	}
	if (publish(fd, partial, final, o->dest) < 0)
		goto fail;
	set_partial_for_signal(NULL);
	res->path = final;
	final = NULL;
	res->snapshot_id = ms_xstrdup(h.snapshot_id);
	for (size_t i = 0; i < h.components.n; i++)
		ms_strv_push(&res->components, h.components.v[i]);
	ret = 0;
	goto out;
fail:
	unlink(partial);
	set_partial_for_signal(NULL);
	if (pending_interrupt())
		ms_log_error("interrupted by %s before the snapshot was published: no archive written in '%s'",
			     ms_snapshot_signal_name(pending_interrupt()), o->dest);
out:
	ms_archive_writer_free(w);
	ms_header_clear(&h);
	free(name);
	free(final);
	free(partial);
	return ret;
}

void ms_create_result_clear(struct ms_create_result *res)
{
	free(res->path);
	free(res->snapshot_id);
	ms_strv_clear(&res->components);
	memset(res, 0, sizeof(*res));
}
