/*
 * `modosnap guard`: the upgrade gate. Exits 0 only when the destination
 * holds a snapshot of this instance with the tag (default `pre-upgrade`),
 * verified (its verification record matches the archive), newer than
 * --max-age, and taken at the versions installed now — so an upgrade
 * script can make the backup mandatory with `modosnap guard || exit 1`.
 * Otherwise it says why the newest candidate does not qualify and exits 1.
 * --json prints the verdict as one object too (the error stays on stderr).
 */
#include "cli/cli.h"
#include "cli/options.h"
#include "discover/config.h"
#include "snapshot/dest.h"
#include "discover/instance.h"
#include "formats/manifest.h"
#include "formats/verify.h"
#include "discover/versions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_MAX_AGE (24 * 3600L)

struct guard_args {
	struct ms_instance_opts inst;
	const char *dest;
	const char *tag;
	long max_age; /* seconds */
	bool json;    /* --json */
};

static void format_age(long secs, char *buf, size_t len)
{
	if (secs < 120)
		snprintf(buf, len, "%lds", secs);
	else if (secs < 3600)
		snprintf(buf, len, "%ldm", secs / 60);
	else if (secs < 2 * 86400)
		snprintf(buf, len, "%ldh %ldm", secs / 3600, secs % 3600 / 60);
	else
		snprintf(buf, len, "%ldd %ldh", secs / 86400, secs % 86400 / 3600);
}

static int parse_guard(int argc, char **argv, struct guard_args *a)
{
	struct ms_opts o = { .tag = "pre-upgrade", .max_age = DEFAULT_MAX_AGE };
	int ret = ms_opts_parse(MS_OPTS_GUARD, argc, argv, &o);

	a->inst = o.inst;
	a->dest = o.dest;
	a->tag = o.tag;
	a->max_age = o.max_age;
	a->json = o.json;
	ms_opts_clear(&o);
	return ret;
}

/* "2026-11-30T07:34:29Z" -> time_t; -1 when malformed. */
static time_t parse_created(const char *s)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = s ? strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
	return end && !*end ? timegm(&tm) : (time_t)-1;
}

/* NULL when the snapshot's versions are the installed ones, else a
 * description of the first difference (caller frees). */
static char *version_difference(const struct ms_versions *snap, const struct ms_versions *now)
{
	if (!snap->modoboa || !now->modoboa || strcmp(snap->modoboa, now->modoboa) != 0)
		return ms_xasprintf("was taken at Modoboa %s, %s is installed", snap->modoboa ? snap->modoboa : "unknown",
				    now->modoboa ? now->modoboa : "unknown");
	for (size_t i = 0; i < now->n_extensions; i++) {
		const char *had = NULL, *have = now->extensions[i].value;

		for (size_t k = 0; k < snap->n_extensions; k++)
			if (!strcmp(snap->extensions[k].key, now->extensions[i].key))
				had = snap->extensions[k].value;
		if ((had || have) && (!had || !have || strcmp(had, have) != 0))
			return ms_xasprintf("was taken at %s %s, %s is installed", now->extensions[i].key,
					    had ? had : "(absent)", have ? have : "(absent)");
	}
	return NULL;
}

/* Why the snapshot at `path` does not qualify (caller frees), or NULL. */
static char *disqualify(const struct guard_args *a, const struct ms_header *h, const char *path,
			const struct ms_instance *inst, const struct ms_versions *now, time_t t_now)
{
	time_t created = parse_created(h->created);
	char when[32], age[32], lim[32];

	if (created == (time_t)-1)
		return ms_xstrdup("has no readable creation time");
	if (created > t_now + 300)
		return ms_xasprintf("is dated in the future (%s): check the clocks", h->created);
	if (t_now - created > a->max_age) {
		format_age((long)(t_now - created), age, sizeof(age));
		format_age(a->max_age, lim, sizeof(lim));
		return ms_xasprintf("is %s old, more than --max-age %s", age, lim);
	}
	if (ms_dest_verified_at(path, when) != 1)
		return ms_xasprintf("was not verified (run 'modosnap verify %s')", h->snapshot_id);
	for (size_t i = 0; i < inst->n_dbs; i++) {
		char *c = ms_xasprintf("db:%s", inst->dbs[i].alias);
		bool has = ms_strv_contains(&h->components, c);

		free(c);
		if (!has)
			return ms_xasprintf("holds no dump of database '%s'", inst->dbs[i].alias);
	}
	return version_difference(&h->versions, now);
}

/* The snapshot guard found, or the newest candidate and why it does not
 * qualify (strings owned). */
struct guard_result {
	bool found;            /* a candidate (tag and instance match) */
	bool ok;               /* it qualifies */
	char *id, *path, *created, *modoboa;
	long age;              /* seconds, -1 when its time is unreadable */
	char *why;             /* NULL when ok */
};

static void guard_result_clear(struct guard_result *g)
{
	free(g->id);
	free(g->path);
	free(g->created);
	free(g->modoboa);
	free(g->why);
}

/* Records candidate h at path into *g (why: owned, NULL when it qualifies). */
static void take_candidate(struct guard_result *g, const struct ms_header *h, const char *path, time_t t_now,
			   char *why)
{
	time_t created = parse_created(h->created);

	guard_result_clear(g);
	*g = (struct guard_result){
		.found = true,
		.ok = why == NULL,
		.id = ms_xstrdup(h->snapshot_id),
		.path = ms_xstrdup(path),
		.created = h->created ? ms_xstrdup(h->created) : NULL,
		.modoboa = ms_xstrdup(h->versions.modoboa ? h->versions.modoboa : "unknown"),
		.age = created == (time_t)-1 ? -1 : (long)(t_now - created),
		.why = why,
	};
}

/* Finds the newest qualifying snapshot, else the newest candidate, into
 * *g. 0, or -1 when the destination cannot be read (logged). */
static int find_qualifying(const struct guard_args *a, const char *dest, const struct ms_instance *inst,
			   const struct ms_versions *now, struct guard_result *g)
{
	struct ms_dest_item *items = NULL;
	time_t t_now = time(NULL);
	size_t n = 0;

	if (ms_dest_list(dest, &items, &n) < 0)
		return -1;
	for (size_t i = 0; i < n && !g->ok; i++) {
		struct ms_header h;
		char *w;
		int rc;

		ms_log_mute(1); /* an unreadable archive is simply not a candidate */
		rc = ms_dest_read_header(items[i].path, &h);
		ms_log_mute(0);
		if (rc < 0)
			continue;
		if (ms_strv_contains(&h.tags, a->tag) && h.instance && !strcmp(h.instance, inst->dir)) {
			w = disqualify(a, &h, items[i].path, inst, now, t_now);
			if (!w || !g->found)
				take_candidate(g, &h, items[i].path, t_now, w);
			else
				free(w);
		}
		ms_header_clear(&h);
	}
	ms_dest_items_free(items, n);
	return 0;
}

/* The verdict as text: the "ok" line on stdout, or why not on stderr. */
static void print_verdict(const struct guard_args *a, const char *dest, const struct ms_instance *inst,
			  const struct guard_result *g)
{
	char age[32];

	if (g->ok && ms_log_get_level() >= MS_LOG_INFO) {
		format_age(g->age, age, sizeof(age));
		printf("ok: %s (tag %s, %s old, verified, Modoboa %s): %s\n", g->id, a->tag, age, g->modoboa, g->path);
	} else if (g->found && !g->ok) {
		ms_log_error("no usable '%s' snapshot of '%s': the newest, %s, %s", a->tag, inst->dir, g->id, g->why);
	} else if (!g->ok && !strcmp(a->tag, "pre-upgrade")) {
		ms_log_error("no snapshot tagged '%s' of '%s' in '%s': take one with 'modosnap create --pre-upgrade'",
			     a->tag, inst->dir, dest);
	} else if (!g->ok) {
		ms_log_error("no snapshot tagged '%s' of '%s' in '%s'", a->tag, inst->dir, dest);
	}
}

/* The verdict as one JSON object: {"ok", "tag", "instance", "dest",
 * "snapshot": {"id", "path", "created", "age_seconds", "modoboa"} or null,
 * "reason": why not, or null}. The error line is still logged. */
static int print_verdict_json(const struct guard_args *a, const char *dest, const struct ms_instance *inst,
			      const struct guard_result *g)
{
	ms_json *o = ms_json_object(), *snap = ms_json_null();

	if (g->found)
		snap = ms_json_obj("id", ms_json_str(g->id), "path", ms_json_str(g->path), "created",
				   ms_json_str(g->created), "age_seconds", ms_json_count(g->age), "modoboa",
				   ms_json_str(g->modoboa), NULL);
	ms_json_set(o, "ok", ms_json_bool(g->ok));
	ms_json_set(o, "tag", ms_json_str(a->tag));
	ms_json_set(o, "instance", ms_json_str(inst->dir));
	ms_json_set(o, "dest", ms_json_str(dest));
	ms_json_set(o, "max_age_seconds", ms_json_int(a->max_age));
	ms_json_set(o, "snapshot", snap);
	ms_json_set(o, "reason", ms_json_str(g->ok ? NULL : g->found ? g->why : "no snapshot with that tag"));
	if (!g->ok)
		print_verdict(a, dest, inst, g); /* the error line */
	return ms_json_print(o);
}

int cmd_guard(struct ms_cli *cli, int argc, char **argv)
{
	struct guard_args a;
	struct ms_instance *inst;
	struct ms_versions now;
	struct guard_result g = { .found = false };
	const char *dest;
	int ret;

	memset(&a, 0, sizeof(a));
	memset(&now, 0, sizeof(now));
	ret = parse_guard(argc, argv, &a);
	if (ret != 0)
		return ret;
	if (ms_cli_load_config(cli) < 0)
		return MS_EXIT_FAILURE;
	dest = a.dest ? a.dest : cli->config->dest ? cli->config->dest : MS_DEFAULT_DEST;
	/* only what the versions need; a missing Postfix directory is not
	 * the guard's business */
	ms_log_mute(1);
	inst = ms_instance_discover(cli->config, &a.inst);
	ms_log_mute(0);
	if (!inst)
		inst = ms_instance_discover(cli->config, &a.inst); /* again, to show why */
	if (!inst)
		return MS_EXIT_FAILURE;
	ms_versions_collect(inst, NULL, &now);
	if (find_qualifying(&a, dest, inst, &now, &g) < 0)
		ret = MS_EXIT_FAILURE;
	else if (a.json && print_verdict_json(&a, dest, inst, &g) < 0)
		ret = MS_EXIT_FAILURE;
	else if (!a.json)
		print_verdict(&a, dest, inst, &g);
	if (ret == 0)
		ret = g.ok ? MS_EXIT_OK : MS_EXIT_FAILURE;
	guard_result_clear(&g);
	ms_versions_clear(&now);
	ms_instance_free(inst);
	return ret;
}
