/*
 * `modosnap create`: take a snapshot of the instance directory and the
 * Postfix files (database dumps come with their own issues) into a new
 * archive in the destination directory; optionally verify it.
 */
#include "cli.h"
#include "config.h"
#include "db.h"
#include "dest.h"
#include "instance.h"
#include "snapshot.h"
#include "verify.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	bool verify;
};

static bool valid_tag(const char *t)
{
	if (!*t || strlen(t) > 64)
		return false;
	for (; *t; t++)
		if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') || (*t >= '0' && *t <= '9') ||
		      strchr("._-:+", *t)))
			return false;
	return true;
}

static int parse_create(int argc, char **argv, struct create_args *a)
{
	static const struct option longopts[] = {
		{ "instance", required_argument, NULL, 'i' },
		{ "postfix-dir", required_argument, NULL, 'p' },
		{ "dest", required_argument, NULL, 'd' },
		{ "tag", required_argument, NULL, 't' },
		{ "note", required_argument, NULL, 'n' },
		{ "level", required_argument, NULL, 'l' },
		{ "exclude", required_argument, NULL, 'x' },
		{ "no-db", no_argument, NULL, 'N' },
		{ "verify", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long level;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'i': a->inst.instance_dir = optarg; break;
		case 'p': a->inst.postfix_dir = optarg; break;
		case 'd': a->dest = optarg; break;
		case 't':
			if (!valid_tag(optarg))
				return ms_cli_usage_error("create", "invalid tag (use letters, digits and . _ - : +)");
			ms_strv_push(&a->tags, optarg);
			break;
		case 'n': a->note = optarg; break;
		case 'l':
			if (ms_parse_ulong(optarg, 1, 19, &level) < 0)
				return ms_cli_usage_error("create", "invalid level '%s' (expected 1-19)", optarg);
			a->level = (int)level;
			break;
		case 'x': ms_strv_push(&a->excludes, optarg); break;
		case 'N': a->no_db = true; break;
		case 'V': a->verify = true; break;
		default:
			return ms_cli_usage_error("create", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return ms_cli_usage_error("create", "unexpected argument '%s'", argv[optind]);
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
static int dest_outside_sources(const char *dest, const struct ms_instance *inst)
{
	char *real = realpath(dest, NULL);
	int ret = 0;

	if (!real)
		return ms_log_error("unable to resolve '%s': %s", dest, strerror(errno));
	if (path_within(real, inst->dir) || (inst->postfix && path_within(real, inst->postfix_dir)))
		ret = ms_log_error("destination '%s' is inside a directory being captured ('%s'); choose "
				   "another --dest", dest, path_within(real, inst->dir) ? inst->dir : inst->postfix_dir);
	free(real);
	return ret;
}

static int verify_new(const char *path)
{
	struct ms_verify_result vr;
	enum ms_verify_status st = ms_verify_archive(path, &vr);

	ms_verify_result_clear(&vr);
	if (st != MS_VERIFY_OK)
		return MS_EXIT_VERIFY;
	if (ms_dest_mark_verified(path) < 0)
		ms_log_warn("'%s' verified, but the verification record could not be written", path);
	return MS_EXIT_OK;
}

static int run_create(struct ms_cli *cli, struct create_args *a)
{
	struct ms_create_opts o = { 0 };
	struct ms_create_result r = { 0 };
	struct ms_db_probe *probes = NULL;
	struct ms_instance *inst;
	struct timespec t0, t1;
	int lock = -1, ret = MS_EXIT_FAILURE;
	const char *dest;
	bool existed;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	inst = ms_instance_discover(cli->config, &a->inst);
	if (!inst)
		return MS_EXIT_FAILURE;
	dest = a->dest ? a->dest : cli->config->dest ? cli->config->dest : MS_DEFAULT_DEST;
	if (!a->no_db && probe_dbs(inst, &probes) < 0)
		goto out;
	existed = ms_is_dir(dest);
	if (ms_dest_prepare(dest) < 0)
		goto out;
	if (dest_outside_sources(dest, inst) < 0) {
		if (!existed)
			rmdir(dest); /* leave nothing behind in the instance */
		goto out;
	}
	lock = ms_dest_lock(dest);
	if (lock < 0) {
		ret = lock == -2 ? MS_EXIT_LOCKED : MS_EXIT_FAILURE;
		goto out;
	}
	if (ms_dest_clean_partials(dest) < 0)
		goto out;
	for (size_t i = 0; i < cli->config->exclude.n; i++)
		ms_strv_push(&a->excludes, cli->config->exclude.v[i]);
	o = (struct ms_create_opts){ dest, cli->config->label, &a->tags, a->note, a->level, 0,
				     &a->excludes, probes, !a->no_db, 0, NULL };
	ms_snapshot_install_signal_cleanup();
	if (ms_snapshot_create(inst, &o, &r) < 0)
		goto out;
	ret = a->verify ? verify_new(r.path) : MS_EXIT_OK;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (ms_log_get_level() >= MS_LOG_INFO) {
		print_summary(&r, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
		if (a->verify && ret == MS_EXIT_OK)
			printf("verified    yes\n");
		printf("%s\n", r.path);
	}
	if (ret == MS_EXIT_OK)
		ret = ms_cli_exit_code(0);
out:
	if (lock >= 0)
		close(lock);
	for (size_t i = 0; probes && i < inst->n_dbs; i++)
		ms_db_probe_clear(&probes[i]);
	free(probes);
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
	return ret;
}
