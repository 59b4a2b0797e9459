/*
 * `modosnap create`: take a snapshot of the instance directory and the
 * Postfix files (database dumps come with their own issues) into a new
 * archive in the destination directory; optionally verify it.
 */
#include "cli/cli.h"
#include "cli/create_parts.h"
#include "cli/monitor.h"
#include "cli/offhost.h"
#include "formats/age.h"
#include "cli/options.h"
#include "cli/output.h"
#include "cli/progress.h"
#include "discover/config.h"
#include "snapshot/hooks.h"
#include "db/db.h"
#include "db/pg_dump.h"
#include "snapshot/dest.h"
#include "snapshot/prune.h"
#include "snapshot/retention.h"
#include "discover/instance.h"
#include "snapshot/snapshot.h"
#include "restore/sqlcheck.h"
#include "snapshot/space.h"
#include "formats/verify.h"
#include "base/strbuf.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct create_args {
	struct ms_instance_opts inst;
	const char *dest;
	struct ms_strv tags;
	struct ms_strv excludes;
	const char *note;
	int level;
	bool no_db;
	bool verify;      /* --verify: read the archive back */
	bool deep;        /* --verify=deep, or --pre-upgrade without --no-deep */
	bool no_deep;
	bool pre_upgrade; /* tag pre-upgrade, always verified */
	const char *to;   /* --to VERSION (with --pre-upgrade) */
	bool nightly;     /* tag nightly, one-line summary, prune afterwards */
	bool json;
	unsigned wait;    /* --wait SECONDS for the destination's lock */
	bool verified;    /* out: the new archive passed verification */
	char *aside;      /* out: an unverified pre-upgrade archive's new name (owned) */
	struct ms_prune_plan pruned; /* out: --nightly's prune (items[].removed), owned */
	struct ms_sign_key *sign_key; /* loaded before any work: signs the archive */
	struct ms_strv with, without; /* --with, --without COMPONENT */
	const char *system_root;      /* --system-root DIR */
	struct ms_create_parts parts; /* what is taken, and from where */
	struct ms_strv pushed;        /* out: the remotes that received the snapshot */
	bool to_stdout;               /* --output - */
	bool encrypt;                 /* --encrypt (with --output -) */
};

static int parse_create(int argc, char **argv, struct create_args *a)
{
	struct ms_opts o = { 0 };
	int ret = ms_opts_parse(MS_OPTS_CREATE, argc, argv, &o);

	/* the lists move to *a (cmd_create frees them) */
	a->inst = o.inst;
	a->dest = o.dest;
	a->tags = o.tags;
	a->excludes = o.excludes;
	a->note = o.note;
	a->level = (int)o.level;
	a->no_db = o.no_db;
	a->verify = o.verify;
	a->deep = o.verify_deep;
	a->no_deep = o.no_deep;
	a->pre_upgrade = o.pre_upgrade;
	a->to = o.to;
	a->nightly = o.nightly;
	a->json = o.json;
	a->wait = (unsigned)o.wait;
	a->with = o.with;
	a->without = o.without;
	a->system_root = o.system_root;
	a->to_stdout = o.output != NULL;
	a->encrypt = o.encrypt;
	if (ret != 0)
		return ret;
	if (a->to && !a->pre_upgrade)
		return ms_cli_usage_error("create", "--to needs --pre-upgrade");
	if (a->no_deep && !a->pre_upgrade)
		return ms_cli_usage_error("create", "--no-deep needs --pre-upgrade");
	if (a->pre_upgrade && a->nightly)
		return ms_cli_usage_error("create", "--pre-upgrade and --nightly exclude each other");
	if (a->encrypt && !a->to_stdout)
		return ms_cli_usage_error("create", "--encrypt needs --output - (remotes say encrypt = yes themselves)");
	if (a->to_stdout && (a->pre_upgrade || a->nightly || a->verify || a->json || a->dest))
		return ms_cli_usage_error("create", "--output - writes the archive to standard output only: no "
					  "--pre-upgrade, --nightly, --verify, --json or --dest with it");
	if (a->pre_upgrade) {
		if (!ms_strv_contains(&a->tags, MS_TAG_APT)) /* the APT hook's: tagged apt only */
			ms_strv_push(&a->tags, MS_TAG_PRE_UPGRADE);
		a->verify = true;
		a->deep = !a->no_deep && !a->no_db;
	}
	if (a->nightly)
		ms_strv_push(&a->tags, "nightly");
	return 0;
}

static void format_bytes(unsigned long long n, char *buf, size_t len)
{
	if (n >= 1024ULL * 1024)
		snprintf(buf, len, "%.1f MiB", (double)n / (1024.0 * 1024.0));
	else if (n >= 1024)
		snprintf(buf, len, "%.1f KiB", (double)n / 1024.0);
	else
		snprintf(buf, len, "%llu B", n);
}

static void print_summary(const struct ms_create_result *r, double secs)
{
	char in[32], out[32];

	format_bytes(r->archive.bytes_in, in, sizeof(in));
	format_bytes(r->archive.bytes_out, out, sizeof(out));
	printf("snapshot    %s\n", r->snapshot_id);
	printf("components  ");
	for (size_t i = 0; i < r->components.n; i++)
		printf("%s%s", i ? ", " : "", r->components.v[i]);
	printf("\nentries     %llu (%llu changed while read, %llu skipped)\n",
	       (unsigned long long)r->archive.entries, (unsigned long long)r->capture.changed,
	       (unsigned long long)r->capture.skipped);
	printf("bytes       %s in, %s out\n", in, out);
	printf("time        %.1f s\n", secs);
}

/* Probes every database for the version tags; -1 when one fails. */
static int probe_dbs(const struct ms_instance *inst, struct ms_db_probe **out)
{
	struct ms_db_probe *p = ms_xcalloc(inst->n_dbs + 1, sizeof(*p));
	int failed = 0;

	for (size_t i = 0; i < inst->n_dbs; i++)
		failed += ms_db_probe(&inst->dbs[i], &p[i]) < 0;
	*out = p;
	return failed ? -1 : 0;
}

static bool path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* A destination inside what is captured would archive earlier snapshots
 * (and the partial being written) into each new one. */
static int dest_outside_sources(const char *dest, const struct ms_instance *inst, const struct ms_create_parts *parts)
{
	char *real = realpath(dest, NULL);
	struct ms_strv dirs = { 0 };
	int ret = 0;

	if (!real)
		return ms_log_error("unable to resolve '%s': %s", dest, strerror(errno));
	ms_strv_push(&dirs, inst->dir);
	if (inst->postfix)
		ms_strv_push(&dirs, inst->postfix_dir);
	if (ms_strv_contains(&parts->only, "venv"))
		ms_strv_push(&dirs, inst->venv.path);
	ms_create_parts_sources(parts, &dirs);
	for (size_t i = 0; i < dirs.n && ret == 0; i++)
		if (path_within(real, dirs.v[i]))
			ret = ms_log_error("destination '%s' is inside a directory being captured ('%s'); choose "
					   "another --dest", dest, dirs.v[i]);
	ms_strv_clear(&dirs);
	free(real);
	return ret;
}

/* Restore runs only the statement kinds a dump writes (restore/sqlcheck.h):
 * a dump holding another (a GRANT to PUBLIC or to another role, say)
 * would make a snapshot that restore refuses. Checked here, so that what
 * create writes and calls verified, restore restores. */
static int check_dump_sql(const struct ms_instance *inst, const char *path, const struct ms_verify_result *vr)
{
	const struct ms_manifest *m = &vr->manifest;

	for (size_t i = 0; i < m->n_dbs; i++) {
		const char *role = NULL;

		for (size_t k = 0; k < inst->n_dbs; k++)
			if (!strcmp(inst->dbs[k].alias, m->dbs[i].alias))
				role = inst->dbs[k].user;
		if (ms_sqlcheck_verified(path, vr, &m->dbs[i], role) < 0)
			return ms_log_error("'%s': restore would refuse this snapshot's database '%s' (see above)", path,
					    m->dbs[i].alias);
	}
	return 0;
}

/* create --verify=deep / --pre-upgrade: the scratch-database check, its
 * "ok" lines printed when every database passed (not with --json: stdout
 * holds the one JSON document). */
static int verify_deep(struct ms_cli *cli, const struct create_args *a, const char *path,
		       const struct ms_manifest *m)
{
	struct ms_strbuf ok = MS_STRBUF_INIT;
	int ret = ms_cli_verify_deep(cli, &a->inst, path, m, a->json, &ok);

	if ((ret == MS_EXIT_OK || ret == MS_EXIT_WARNINGS) && !a->json && ms_log_get_level() >= MS_LOG_INFO)
		fputs(ms_strbuf_str(&ok), stdout);
	ms_strbuf_release(&ok);
	return ret;
}

/* Reads the new archive back, checks its dumps' SQL as restore will (and
 * with `deep`, loads its database dumps into scratch databases); only a
 * fully verified archive gets its verification record. An exit code. */
static int verify_new(struct ms_cli *cli, struct create_args *a, const struct ms_instance *inst, const char *path)
{
	const struct ms_verify_keep keep = MS_SQLCHECK_KEEP;
	struct ms_verify_result vr;
	enum ms_verify_status st = ms_verify_archive_keeping(path, &vr, &keep);
	int ret = MS_EXIT_OK;

	if (st != MS_VERIFY_OK)
		ret = MS_EXIT_VERIFY;
	else if (vr.signature.status != MS_SIG_VALID)
		ret = ms_log_error("'%s': its signature does not verify", path) < 0 ? MS_EXIT_VERIFY : 0;
	else if (check_dump_sql(inst, path, &vr) < 0)
		ret = MS_EXIT_VERIFY;
	else if (a->deep)
		ret = verify_deep(cli, a, path, &vr.manifest);
	ms_verify_result_clear(&vr);
	if (ret == MS_EXIT_OK || ret == MS_EXIT_WARNINGS) {
		a->verified = true;
		if (ms_dest_mark_verified_as(path, a->deep) < 0)
			ms_log_warn("'%s' verified, but the verification record could not be written", path);
		return MS_EXIT_OK;
	}
	return ret;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The snapshots --nightly removed: [{"id", "path"}], [] when none. */
static ms_json *pruned_json(const struct ms_prune_plan *plan)
{
	ms_json *arr = ms_json_array();

	for (size_t i = 0; i < plan->n; i++) {
		ms_json *o;

		if (!plan->items[i].removed)
			continue;
		o = ms_json_object();
		ms_json_set(o, "id", ms_json_str(plan->items[i].h.snapshot_id));
		ms_json_set(o, "path", ms_json_str(plan->items[i].it->path));
		ms_json_push(arr, o);
	}
	return arr;
}

/* With -v, one line per snapshot --nightly removed, as `prune` prints it. */
static void print_pruned(const struct ms_prune_plan *plan)
{
	for (size_t i = 0; ms_log_get_level() >= MS_LOG_DEBUG && i < plan->n; i++) {
		char *line;

		if (!plan->items[i].removed)
			continue;
		line = ms_prune_item_line(&plan->items[i]);
		printf("%s\n", line);
		free(line);
	}
}

/* --json: one object on stdout for monitoring. */
static void print_json(const struct create_args *a, const struct ms_create_result *r, double secs, int code,
		       double paused)
{
	ms_json *o = ms_json_object();

	ms_json_set(o, "path", ms_json_str(r->path));
	if (a->aside)
		ms_json_set(o, "unverified_path", ms_json_str(a->aside));
	ms_json_set(o, "snapshot_id", ms_json_str(r->snapshot_id));
	ms_json_set(o, "tags", ms_json_strs(a->tags.v, a->tags.n));
	ms_json_set(o, "components", ms_json_strs(r->components.v, r->components.n));
	ms_json_set(o, "entries", ms_json_int((long long)r->archive.entries));
	ms_json_set(o, "bytes_in", ms_json_int((long long)r->archive.bytes_in));
	ms_json_set(o, "bytes_out", ms_json_int((long long)r->archive.bytes_out));
	ms_json_set(o, "changed_files", ms_json_int((long long)r->capture.changed));
	ms_json_set(o, "seconds", ms_json_seconds(secs));
	ms_json_set(o, "paused_seconds", paused >= 0 ? ms_json_seconds(paused) : ms_json_null());
	ms_json_set(o, "verified", ms_json_bool(a->verified));
	ms_json_set(o, "encrypted", ms_json_bool(r->path && ms_dest_is_encrypted(r->path)));
	ms_json_set(o, "pruned", pruned_json(&a->pruned));
	ms_json_set(o, "pushed", ms_json_strs(a->pushed.v, a->pushed.n));
	ms_json_set(o, "warnings", ms_json_int((long long)ms_log_warning_count()));
	ms_json_set(o, "exit_status", ms_json_int(code));
	ms_json_print(o);
}

static void print_pushed(const struct create_args *a)
{
	for (size_t i = 0; i < a->pushed.n; i++)
		printf("pushed      %s\n", a->pushed.v[i]);
}

static void report(const struct create_args *a, const struct ms_create_result *r, double secs, int code,
		   double paused)
{
	char in[32], out[32];

	if (a->json) {
		print_json(a, r, secs, code, paused);
		return;
	}
	if (ms_log_get_level() < MS_LOG_INFO || !r->path)
		return;
	if (a->nightly) {
		format_bytes(r->archive.bytes_in, in, sizeof(in));
		format_bytes(r->archive.bytes_out, out, sizeof(out));
		printf("snapshot %s: %llu entries, %s in, %s out, %.1f s%s: %s\n", r->snapshot_id,
		       (unsigned long long)r->archive.entries, in, out, secs, a->verified ? ", verified" : "", r->path);
		print_pruned(&a->pruned);
		print_pushed(a);
		return;
	}
	print_summary(r, secs);
	if (paused >= 0)
		printf("paused      %.1f s (hooks pause/resume)\n", paused);
	if (a->verified)
		printf("verified    yes%s\n", a->deep ? " (databases loaded and compared)" : "");
	print_pushed(a);
	(void)code;
	printf("%s\n", r->path);
}

/* Logs "interrupted by SIGTERM: WHAT" and returns true when an interrupt
 * was received (or is held pending). */
static bool interrupted(const char *what)
{
	int sig = ms_snapshot_interrupted();

	if (!sig)
		return false;
	ms_log_error("interrupted by %s: %s", ms_snapshot_signal_name(sig), what);
	return true;
}

/* The MODOSNAP_TEST_STALL seam (util.h), ending early once an interrupt
 * is received or held pending, so that a test can interrupt a run at a
 * named point and see how it ends. */
static void stall_until_interrupted(const char *point)
{
	const char *want = getenv("MODOSNAP_TEST_STALL");

	if (!want || strcmp(want, point) != 0)
		return;
	fprintf(stderr, "modosnap: test: stalled at %s\n", point);
	for (int i = 0; i < 6000 && !ms_snapshot_interrupted(); i++)
		nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
}

/* The snapshot itself, between the pause and resume hooks; *paused gets
 * the seconds the services were paused (-1 without hooks). */
static int take(struct ms_cli *cli, const struct create_args *a, const struct ms_instance *inst,
		const struct ms_create_opts *o, long long content, struct ms_create_result *r, double *paused)
{
	struct ms_progress pg;
	struct ms_progress_line *line;
	struct ms_create_opts counted;
	struct ms_hook_env env = { "pause", o->dest, NULL, NULL, -1 };
	struct timespec t;
	sigset_t block, old;
	bool blocked = false;
	int ret;

	*paused = -1;
	/* While services are paused, an interrupt must not end the run before
	 * the resume hook: SIGINT/SIGTERM/SIGHUP are held until after it. One
	 * held pending stops the writer at its next write and forbids the
	 * publication (snapshot.c), the resume hook runs, and the run fails
	 * like any other interrupted one (create_locked). */
	if (cli->config->hook_pause || cli->config->hook_resume) {
		sigemptyset(&block);
		sigaddset(&block, SIGINT);
		sigaddset(&block, SIGTERM);
		sigaddset(&block, SIGHUP);
		sigprocmask(SIG_BLOCK, &block, &old);
		blocked = true;
	}
	if (cli->config->hook_pause) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (ms_hook_run(cli->config->hook_pause, &env) < 0) {
			env.event = "resume";
			ms_hook_run(cli->config->hook_resume, &env);
			sigprocmask(SIG_SETMASK, &old, NULL);
			return -1;
		}
	}
	ms_progress_init(&pg);
	atomic_store(&pg.total, content > 0 ? (uint64_t)content : 0);
	line = ms_progress_line_start(&pg, !a->json, true);
	stall_until_interrupted("create-snapshot");
	counted = *o;
	counted.progress = &pg.bytes;
	ret = ms_snapshot_create(inst, &counted, r);
	ms_progress_line_stop(line);
	if (cli->config->hook_pause || cli->config->hook_resume) {
		env.event = "resume";
		env.snapshot_id = r->snapshot_id;
		env.path = r->path;
		if (ms_hook_run(cli->config->hook_resume, &env) < 0)
			ret = ms_log_error("the services paused by the 'pause' hook may still be stopped");
		if (cli->config->hook_pause)
			*paused = seconds_since(&t);
	}
	if (blocked)
		sigprocmask(SIG_SETMASK, &old, NULL);
	return ret;
}

/* A directory's tree, or a single file's size. */
static long long path_bytes(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return 0;
	return S_ISDIR(st.st_mode) ? ms_space_tree_bytes(path) : (long long)st.st_size;
}

/* Will it fit? The instance and Postfix bytes plus the databases' sizes,
 * times the compression ratio of the previous snapshot, against the free
 * space minus the min_free floor (src/snapshot/space.h). */
static int check_space(struct ms_cli *cli, const struct create_args *a, const struct ms_instance *inst,
		       const struct ms_db_probe *probes, const char *dest, long long *content)
{
	long long files = ms_space_tree_bytes_excluding(inst->dir, &a->excludes), dbs = 0, t;
	struct ms_strv extra = { 0 };
	char buf[MS_SPACE_FMT_MAX];
	long long est;

	if (files < 0)
		return -1;
	if (inst->postfix && (t = ms_space_tree_bytes(inst->postfix_dir)) > 0)
		files += t;
	if (ms_strv_contains(&a->parts.only, "venv") && (t = ms_space_tree_bytes(inst->venv.path)) > 0)
		files += t;
	ms_create_parts_sources(&a->parts, &extra);
	for (size_t i = 0; i < extra.n; i++)
		if ((t = path_bytes(extra.v[i])) > 0)
			files += t;
	ms_strv_clear(&extra);
	for (size_t i = 0; !a->no_db && probes && i < inst->n_dbs; i++)
		if (probes[i].size_bytes > 0)
			dbs += probes[i].size_bytes;
	*content = files + dbs;
	est = ms_space_estimate(files, dbs, ms_space_ratio(dest));
	ms_log_debug("estimated snapshot size %s", ms_space_fmt(est, buf));
	return ms_space_check(dest, est, cli->config->min_free);
}

/* What the snapshot engine takes from the run's options and the config
 * (a and inst must outlive o). */
static void snapshot_opts(const struct ms_cli *cli, const struct create_args *a, const struct ms_instance *inst,
			  const struct ms_db_probe *probes, struct ms_create_opts *o)
{
	o->label = cli->config->label;
	ms_pg_dump_set_lock_timeout(cli->config->lock_timeout);
	o->tags = &a->tags;
	o->note = a->note;
	o->upgrade_to = a->to;
	o->level = a->level;
	o->excludes = &a->excludes;
	o->probes = probes;
	o->dump_dbs = !a->no_db;
	o->sign_key = a->sign_key;
	ms_create_parts_apply(&a->parts, inst, o);
}

/* Lock, checks, hooks, snapshot, verification. An exit code. */
static int create_locked(struct ms_cli *cli, struct create_args *a, const struct ms_instance *inst,
			 const struct ms_db_probe *probes, const char *dest, struct ms_create_result *r,
			 double *paused)
{
	struct ms_hook_env env = { "before", dest, NULL, NULL, -1 };
	struct ms_create_opts o = { 0 };
	long long content = 0;
	int ret;

	for (size_t i = 0; i < cli->config->exclude.n; i++)
		ms_strv_push(&a->excludes, cli->config->exclude.v[i]);
	if (interrupted("no snapshot taken")) /* e.g. while waiting for the lock */
		return MS_EXIT_FAILURE;
	if (ms_dest_clean_partials(dest) < 0 || ms_dest_clean_unverified(dest, MS_UNVERIFIED_KEEP) < 0 ||
	    check_space(cli, a, inst, probes, dest, &content) < 0)
		return MS_EXIT_FAILURE;
	if (ms_hook_run(cli->config->hook_before, &env) < 0) {
		ms_log_error("the 'before' hook failed: no snapshot taken");
		return MS_EXIT_FAILURE;
	}
	if (interrupted("no snapshot taken"))
		return MS_EXIT_FAILURE;
	snapshot_opts(cli, a, inst, probes, &o);
	o.dest = dest;
	ret = take(cli, a, inst, &o, content, r, paused);
	if (ret < 0)
		return MS_EXIT_FAILURE;
	if (a->pre_upgrade)
		ms_snapshot_set_aside_on_signal(r->path); /* until run_create decides */
	if (ms_space_remember(dest, r->archive.bytes_in, r->archive.bytes_out) < 0)
		ms_log_warn("the next size estimate will read this archive instead");
	/* published, but the run was asked to stop: it fails, and a
	 * pre-upgrade snapshot that was not verified is set aside */
	if (interrupted(a->verify ? "the snapshot was published but not verified" : "the snapshot was published"))
		return MS_EXIT_FAILURE;
	if (!a->verify)
		return MS_EXIT_OK;
	stall_until_interrupted("create-verify");
	ms_test_stall("create-verify-hold"); /* a second signal ends the process in here */
	ret = verify_new(cli, a, inst, r->path);
	if (interrupted("the snapshot was published, its verification may be incomplete")) {
		a->verified = false;
		return MS_EXIT_FAILURE;
	}
	return ret;
}

/* A pre-upgrade snapshot that is not verified must not pass for one
 * (restore tag:pre-upgrade, guard, prune's protections): it is renamed
 * out of the snapshot names (ARCHIVE.unverified, kept for inspection; the
 * newest MS_UNVERIFIED_KEEP are kept, see ms_dest_clean_unverified), and
 * one error names the file as it now is. r->path is cleared: nothing may
 * print or hand on the final name, which no longer exists. */
static void set_aside(struct create_args *a, struct ms_create_result *r, int ret)
{
	const char *why = ret == MS_EXIT_VERIFY ? "did not verify"
			  : ms_snapshot_interrupted() ? "was interrupted before it was verified"
						      : "could not be verified";
	char *aside = ms_xasprintf("%s.unverified", r->path), *rec;
	sigset_t all, old;

	/* no signal handler (ms_snapshot_set_aside_on_signal) in between */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	ms_snapshot_set_aside_on_signal(NULL);
	/* link + unlink rather than rename: never replace a file (one set
	 * aside in the same second); when it cannot be set aside, it must
	 * still leave the snapshot names */
	if (link(r->path, aside) < 0) {
		int err = errno;

		if (unlink(r->path) == 0) {
			ms_log_error("the pre-upgrade snapshot %s: do not upgrade; it could not be set aside as '%s' "
				     "(%s), so '%s' was removed", why, aside, strerror(err), r->path);
			free(r->path);
			r->path = NULL;
		} else
			ms_log_error("the pre-upgrade snapshot '%s' %s: do not upgrade, and remove it: it could not be "
				     "set aside (%s) nor removed (%s)", r->path, why, strerror(err), strerror(errno));
		sigprocmask(SIG_SETMASK, &old, NULL);
		free(aside);
		return;
	}
	unlink(r->path);
	sigprocmask(SIG_SETMASK, &old, NULL);
	ms_log_error("the pre-upgrade snapshot %s: do not upgrade; it was set aside as '%s', which no selector, "
		     "guard or prune sees", why, aside);
	rec = ms_xasprintf("%s.verified", r->path);
	unlink(rec); /* never leave a record for the old name */
	free(rec);
	free(r->path);
	r->path = NULL;
	a->aside = aside;
}

/* create --nightly's prune with the config's [retention] (a->pruned
 * says what went), after a successful snapshot. The exit code. */
static int nightly_prune(struct ms_cli *cli, struct create_args *a, const char *dest, int ret)
{
	struct ms_retention_policy p;

	ms_prune_policy_from_config(cli->config, &p);
	if (!ms_retention_has_rule(&p))
		ms_log_warn("create --nightly: no [retention] rule in the config: nothing pruned, so snapshots "
			    "accumulate in '%s'", dest);
	else if (ms_prune_apply(dest, &p, &a->pruned) < 0)
		ret = ms_log_error("the snapshot was taken, but pruning '%s' failed", dest) ? MS_EXIT_FAILURE : 0;
	return ret;
}

/* The remotes that take this run's snapshot ([remote:NAME] push). */
static bool wants_push(const struct ms_cli *cli, const struct create_args *a)
{
	for (size_t i = 0; i < cli->config->n_remotes; i++)
		if (ms_offhost_wants(&cli->config->remotes[i], a->pre_upgrade, a->nightly))
			return true;
	return false;
}

/* Pushes the verified snapshot to every remote that takes it (only the
 * plain ones, encrypt = no, when `plain`; only the others when
 * `encrypted`); every remote is tried. 0, or -1 when one failed (the
 * local snapshot stays). */
static int push_new(struct ms_cli *cli, struct create_args *a, const char *path, bool plain, bool encrypted)
{
	int ret = 0;

	for (size_t i = 0; path && i < cli->config->n_remotes; i++) {
		const struct ms_config_remote *rem = &cli->config->remotes[i];

		if (!ms_offhost_wants(rem, a->pre_upgrade, a->nightly) || !(rem->encrypt == 0 ? plain : encrypted))
			continue;
		if (ms_offhost_push(cli->config, rem, path) < 0)
			ret = -1;
		else
			ms_strv_push_owned(&a->pushed, ms_xasprintf("%s (%s)", rem->name, rem->url));
	}
	return ret;
}

/* The [monitor] of the config, or NULL when none. */
static const struct ms_monitor *monitor_of(const struct ms_cli *cli, struct ms_monitor *m)
{
	const char *kind = cli->config->ping_kind;

	if (!cli->config->ping_url)
		return NULL;
	m->url = cli->config->ping_url;
	m->kind = !kind				? ms_monitor_guess(m->url)
		  : !strcmp(kind, "uptime-kuma") ? MS_MON_UPTIME_KUMA
		  : !strcmp(kind, "ntfy")	? MS_MON_NTFY
						: MS_MON_HEALTHCHECKS;
	m->timeout_s = 0;
	return m;
}

static int run_create_pushing(struct ms_cli *cli, struct create_args *a);

/* --encrypt: the archive goes through a pipe to a thread that encrypts
 * it onto standard output. */
struct age_pump {
	int fd;                 /* the pipe's read end */
	struct ms_age_writer *w;
	int ret;
	int err;                /* a failed write's errno: logged by the main thread */
};

static int write_stdout(void *ctx, const void *buf, size_t len)
{
	struct age_pump *pump = ctx;
	const char *p = buf;

	while (len) {
		ssize_t n = write(STDOUT_FILENO, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			pump->err = errno;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void *pump(void *arg)
{
	struct age_pump *p = arg;
	char buf[64 << 10];
	ssize_t n;

	while ((n = read(p->fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (p->ret == 0 && ms_age_write(p->w, buf, (size_t)n) < 0))
			p->ret = -1; /* keep reading: the writer must not block */
		if (n < 0)
			break;
	}
	if (p->ret == 0 && ms_age_finish(p->w) < 0)
		p->ret = -1;
	return NULL;
}

/* create --output - [--encrypt]: the snapshot to standard output, with
 * the hooks as usual; no destination, no lock, no verification (nothing
 * to read back), no push. A summary on stderr with -v. */
static int run_create_stdout(struct ms_cli *cli, struct create_args *a)
{
	struct ms_create_parts_request pr = { &a->with, &a->without, a->system_root, false, a->no_db, false };
	struct ms_age_key keys[MS_AGE_RECIPIENT_MAX];
	struct age_pump p = { -1, NULL, 0, 0 };
	struct ms_create_result r = { 0 };
	struct ms_create_opts o = { 0 };
	struct ms_db_probe *probes = NULL;
	struct ms_instance *inst = NULL;
	pthread_t th;
	bool threaded = false;
	int fds[2] = { -1, -1 }, ret = MS_EXIT_FAILURE;
	double paused;
	size_t nk = 0;

	ms_snapshot_interrupt_gracefully();
	if (a->encrypt) {
		const char *why;

		for (size_t i = 0; i < cli->config->recipients.n && i < MS_AGE_RECIPIENT_MAX; i++)
			if (ms_age_parse_recipient(cli->config->recipients.v[i], &keys[nk++], &why) < 0)
				return ms_log_error("[encrypt] recipient: %s", why) ? MS_EXIT_FAILURE : 0;
		if (nk == 0) {
			ms_log_error("--encrypt: [encrypt] names no recipient (age1...)");
			return MS_EXIT_FAILURE;
		}
	}
	a->sign_key = ms_sign_key_load_or_create(ms_config_signing_key(cli->config));
	inst = a->sign_key ? ms_instance_discover(cli->config, &a->inst) : NULL;
	if (!inst || (!a->no_db && probe_dbs(inst, &probes) < 0) ||
	    ms_create_parts_find(cli->config, inst, &pr, &a->parts) < 0)
		goto out;
	for (size_t i = 0; i < cli->config->exclude.n; i++)
		ms_strv_push(&a->excludes, cli->config->exclude.v[i]);
	snapshot_opts(cli, a, inst, probes, &o);
	o.to_fd = true;
	o.output_fd = STDOUT_FILENO;
	if (a->encrypt) {
		if (pipe2(fds, O_CLOEXEC) < 0) {
			ms_log_error("unable to create a pipe: %s", strerror(errno));
			goto out;
		}
		p.fd = fds[0];
		p.w = ms_age_writer_new(keys, nk, write_stdout, &p);
		if (!p.w || ms_thread_start(&th, pump, &p) < 0)
			goto out;
		threaded = true;
		o.output_fd = fds[1];
	}
	ret = take(cli, a, inst, &o, 0, &r, &paused) < 0 ? MS_EXIT_FAILURE : MS_EXIT_OK;
	if (threaded) {
		close(fds[1]);
		fds[1] = -1;
		pthread_join(th, NULL);
		if (p.err)
			ms_log_error("unable to write to standard output: %s", strerror(p.err));
		if (p.ret < 0)
			ret = MS_EXIT_FAILURE;
	}
	if (ret == MS_EXIT_OK) {
		ret = ms_cli_exit_code(0);
		ms_log_debug("snapshot %s written to standard output%s", r.snapshot_id, a->encrypt ? ", encrypted" : "");
	}
out:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	ms_age_writer_free(p.w);
	for (size_t i = 0; probes && inst && i < inst->n_dbs; i++)
		ms_db_probe_clear(&probes[i]);
	free(probes);
	ms_create_result_clear(&r);
	ms_instance_free(inst);
	return ret;
}

/* create with its monitoring pings around it: a ping that fails turns a
 * success into exit 3, never a failure. */
static int run_create(struct ms_cli *cli, struct create_args *a)
{
	struct ms_monitor mon;
	const struct ms_monitor *m = monitor_of(cli, &mon);
	bool ping_failed = m && ms_monitor_start(m) < 0, refused = false;
	int ret;

	if (wants_push(cli, a) && !a->to_stdout) {
		a->verify = true; /* a remote only ever receives a verified snapshot */
		for (size_t i = 0; i < cli->config->n_remotes; i++) /* refused before any work */
			if (ms_offhost_wants(&cli->config->remotes[i], a->pre_upgrade, a->nightly) &&
			    ms_offhost_check_recipients(cli->config, &cli->config->remotes[i]) < 0)
				refused = true;
	}
	ret = refused	     ? MS_EXIT_FAILURE
	      : a->to_stdout ? run_create_stdout(cli, a)
			     : run_create_pushing(cli, a);
	if (m && ms_monitor_done(m, ret == MS_EXIT_OK || ret == MS_EXIT_WARNINGS, ms_log_tail()) < 0)
		ping_failed = true;
	if (ping_failed && ret == MS_EXIT_OK)
		ret = MS_EXIT_WARNINGS;
	return ret;
}

static int run_create_pushing(struct ms_cli *cli, struct create_args *a)
{
	struct ms_create_result r = { 0 };
	struct ms_db_probe *probes = NULL;
	struct ms_hook_env env = { "after", NULL, NULL, NULL, -1 };
	struct ms_instance *inst;
	struct timespec t0;
	int lock = -1, ret = MS_EXIT_FAILURE;
	double paused = -1;
	const char *dest;
	struct ms_create_parts_request pr = { &a->with, &a->without, a->system_root, a->pre_upgrade, a->no_db, false };
	bool existed;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* from now on an interrupt is a failure like any other: no archive
	 * under a final name unless it was complete, an error, the on_error
	 * hook, exit 1 (a second interrupt ends the process at once) */
	ms_snapshot_interrupt_gracefully();
	dest = a->dest ? a->dest : cli->config->dest ? cli->config->dest : MS_DEFAULT_DEST;
	/* first: a missing or unusable key must not cost a database dump */
	a->sign_key = ms_sign_key_load_or_create(ms_config_signing_key(cli->config));
	inst = a->sign_key ? ms_instance_discover(cli->config, &a->inst) : NULL;
	if (!inst)
		goto hooks;
	if (!a->no_db && probe_dbs(inst, &probes) < 0)
		goto out;
	existed = ms_is_dir(dest);
	if (ms_dest_prepare(dest) < 0)
		goto out;
	if (ms_create_parts_find(cli->config, inst, &pr, &a->parts) < 0)
		goto out;
	if (dest_outside_sources(dest, inst, &a->parts) < 0) {
		if (!existed)
			rmdir(dest); /* leave nothing behind in the instance */
		goto out;
	}
	lock = ms_dest_lock_wait(dest, a->wait, cli->command);
	if (lock < 0) {
		ret = lock == -2 ? MS_EXIT_LOCKED : MS_EXIT_FAILURE;
		goto out;
	}
	ret = create_locked(cli, a, inst, probes, dest, &r, &paused);
	if (a->pre_upgrade && r.path && !a->verified)
		set_aside(a, &r, ret);
	ms_snapshot_set_aside_on_signal(NULL);
	if (a->nightly && (ret == MS_EXIT_OK || ret == MS_EXIT_WARNINGS))
		ret = nightly_prune(cli, a, dest, ret);
	if ((ret == MS_EXIT_OK || ret == MS_EXIT_WARNINGS) && cli->config->encrypt_local > 0) {
		/* plain copies from the plaintext; then it is encrypted once, and
		 * the encrypted remotes receive that same ciphertext (or, if it
		 * could not be encrypted, their own encryption of the plaintext) */
		if (push_new(cli, a, r.path, true, false) < 0)
			ret = MS_EXIT_FAILURE;
		if (ms_offhost_encrypt_dest(cli->config, dest, &r.path) < 0)
			ret = MS_EXIT_FAILURE;
		if (push_new(cli, a, r.path, false, true) < 0)
			ret = MS_EXIT_FAILURE;
	} else if ((ret == MS_EXIT_OK || ret == MS_EXIT_WARNINGS) && push_new(cli, a, r.path, true, true) < 0) {
		ret = MS_EXIT_FAILURE;
	}
	if (ret == MS_EXIT_OK)
		ret = ms_cli_exit_code(0);
out:
	if (lock >= 0)
		close(lock);
	for (size_t i = 0; probes && i < inst->n_dbs; i++)
		ms_db_probe_clear(&probes[i]);
	free(probes);
hooks:
	env.event = ret == MS_EXIT_OK || ret == MS_EXIT_WARNINGS ? "after" : "on_error";
	env.dest = dest;
	env.snapshot_id = r.snapshot_id;
	env.path = r.path;
	env.exit_status = ret;
	if (ms_hook_run(ret == MS_EXIT_OK || ret == MS_EXIT_WARNINGS ? cli->config->hook_after
								      : cli->config->hook_on_error, &env) < 0 &&
	    (ret == MS_EXIT_OK || ret == MS_EXIT_WARNINGS))
		ret = MS_EXIT_FAILURE;
	report(a, &r, seconds_since(&t0), ret, paused);
	ms_create_result_clear(&r);
	ms_instance_free(inst);
	return ret;
}

int cmd_create(struct ms_cli *cli, int argc, char **argv)
{
	struct create_args a = { 0 };
	int ret = parse_create(argc, argv, &a);

	if (ret == 0)
		ret = ms_cli_load_config(cli) < 0 ? MS_EXIT_FAILURE : run_create(cli, &a);
	ms_strv_clear(&a.tags);
	ms_strv_clear(&a.excludes);
	ms_strv_clear(&a.with);
	ms_strv_clear(&a.without);
	ms_strv_clear(&a.pushed);
	ms_create_parts_clear(&a.parts);
	free(a.aside);
	ms_prune_plan_clear(&a.pruned);
	ms_sign_key_free(a.sign_key);
	return ret;
}
