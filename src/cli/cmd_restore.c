/*
 * `modosnap restore`: the command line of the restore engine
 * (restore/restore.h). It reads the options, shows the plan the engine
 * prepared, asks (or requires --yes; -q hides the plan, so it needs
 * --yes) and turns the engine's result into the exit code. --json prints
 * the plan and the result as one document at the end, so it never asks:
 * it needs --yes, or --dry-run.
 * docs/restore.md is the user's guide.
 */
#include "cli/cli.h"
#include "cli/offhost.h"
#include "snapshot/snapdiff.h"
#include "discover/distinfo.h"
#include "discover/server.h"
#include "cli/options.h"
#include "cli/progress.h"
#include "discover/config.h"
#include "db/db.h"
#include "restore/dbreplay.h"
#include "restore/files.h"
#include "formats/manifest.h"
#include "restore/plan.h"
#include "restore/restore.h"
#include "snapshot/dest.h"
#include "base/strbuf.h"
#include "discover/versions.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct restore_args {
	const char *dest;
	const char *selector;
	struct ms_strv only;       /* --only COMPONENT... */
	const char *root;          /* --root DIR */
	bool dry_run, no_safety, yes;
	bool allow_unsigned;       /* --allow-unsigned */
	bool accept_snapshot;      /* --accept-snapshot-targets */
	bool json;                 /* --json: the plan and the result as one document */
	struct ms_instance_opts inst;
	const char *system_root;   /* --system-root DIR */
	const char *identity;      /* --identity FILE: decrypts a remote's encrypted copy */
};


static int parse_restore(int argc, char **argv, struct restore_args *a)
{
	struct ms_opts o = { 0 };
	int ret = ms_opts_parse(MS_OPTS_RESTORE, argc, argv, &o);

	/* only moves to *a (cmd_restore frees it) */
	a->dest = o.dest;
	a->selector = o.args[0];
	a->only = o.only;
	a->root = o.root;
	a->dry_run = o.dry_run;
	a->no_safety = o.no_safety;
	a->yes = o.yes;
	a->allow_unsigned = o.allow_unsigned;
	a->accept_snapshot = o.accept_snapshot;
	a->json = o.json;
	a->inst = o.inst;
	a->system_root = o.system_root;
	a->identity = o.identity;
	if (ret != 0)
		return ret;
	if (a->root && a->root[0] != '/')
		return ms_cli_usage_error("restore", "--root needs an absolute directory");
	if (a->root && a->root[strspn(a->root, "/")] == '\0')
		return ms_cli_usage_error("restore", "--root / is the live system: leave --root out");
	if (ms_log_get_level() == MS_LOG_QUIET && !a->dry_run && !a->yes)
		return ms_cli_usage_error("restore", "-q hides the plan it would ask about: add --yes");
	if (a->json && !a->dry_run && !a->yes)
		return ms_cli_usage_error("restore", "--json prints the plan with the result, not before asking: add --yes "
				   "(or --dry-run)");
	return 0;
}

/* --- the plan ------------------------------------------------------------- */


static void print_list(const char *what, const struct ms_strv *v)
{
	for (size_t i = 0; i < v->n; i++) {
		char *p = ms_printable(v->v[i]);

		printf("      %s %s\n", what, p);
		free(p);
	}
}


/* The files of one component as JSON (pushed to arr). */
static void plan_files_json(const char *component, const char *target, enum ms_target_origin origin,
			    bool each_file, const struct ms_tree_plan *p, const char *taken_from, ms_json *arr)
{
	ms_json_push(arr, ms_json_obj("component", ms_json_str(component), "target", ms_json_str(target),
				      "target_exists", ms_json_bool(p->target_exists), "origin",
				      ms_json_str(ms_target_origin_name(origin)), "taken_from", ms_json_str(taken_from),
				      "added", ms_json_int((long long)p->added), "replaced",
				      ms_json_int((long long)p->replaced), "removed",
				      each_file ? ms_json_null() : ms_json_int((long long)p->removed), "unchanged",
				      ms_json_int((long long)p->unchanged), NULL));
}

/* The files of one component: text, or JSON pushed to arr (not NULL). */
/* One file component of the plan: `snap` is where the snapshot took it
 * from, `live` where it goes back before --root (NULL: not shown). */
static int plan_files(const struct ms_restore *r, const char *component, const char *prefix,
		      const char *target, bool each_file, const char *snap, const char *live,
		      enum ms_target_origin origin, ms_json *arr)
{
	struct ms_tree_plan p;
	char *t = ms_printable(target);
	unsigned long modes, xattrs;

	if (ms_plan_tree(&r->vr.manifest, prefix, target, each_file, &p) < 0) {
		free(t);
		return -1;
	}
	if (snap && live && !strcmp(snap, live))
		snap = NULL; /* taken from where it goes back */
	if (arr)
		plan_files_json(component, target, origin, each_file, &p, snap, arr);
	else
		printf("  %-14s -> %s%s (%s)\n", component, t, p.target_exists ? "" : " (does not exist: created)",
		       ms_target_origin_name(origin));
	if (snap && !arr) {
		char *sp = ms_printable(snap);

		printf("      the snapshot was taken from %s\n", sp);
		free(sp);
	}
	ms_files_unsafe_count(&r->vr.manifest, prefix, &modes, &xattrs);
	if ((modes || xattrs) && each_file)
		ms_log_warn("%s: %lu files with special or group/other-writable bits or an owner other than root, and "
			    "%lu extended attributes other than user.* and ACLs, in the snapshot: restored owned by "
			    "root, without them", component, modes, xattrs);
	else if (modes || xattrs)
		ms_log_warn("%s: %lu entries with setuid, setgid or world-writable bits and %lu extended attributes "
			    "other than user.* and ACLs in the snapshot: restored without them",
			    component, modes, xattrs);
	if (!arr && each_file)
		printf("      %lu added, %lu replaced, %lu unchanged (other files there are left alone)\n", p.added,
		       p.replaced, p.unchanged);
	else if (!arr)
		printf("      %lu added, %lu replaced, %lu removed, %lu unchanged\n", p.added, p.replaced, p.removed,
		       p.unchanged);
	if (!arr && ms_log_get_level() > MS_LOG_INFO) {
		print_list("add    ", &p.added_v);
		print_list("replace", &p.replaced_v);
		print_list("remove ", &p.removed_v);
	}
	ms_tree_plan_clear(&p);
	free(t);
	return 0;
}


/* One table of the plan: created, or what replacing it changes — the row
 * count, or, with the count unchanged, the content (digests: a migration
 * that rewrites rows). With -v, unchanged tables too. */
static const char *table_change(const struct ms_manifest_table *t, const struct ms_table_count *live)
{
	if (!live)
		return "created";
	if (live->rows != t->rows)
		return "rows";
	return strcmp(live->digest, t->digest) != 0 ? "content" : "unchanged";
}

/* The same as JSON: {"schema", "name", "rows_now" (null when created),
 * "rows_snapshot", "change": created, rows, content or unchanged}. */
static ms_json *plan_table_json(const struct ms_manifest_table *t, const struct ms_table_count *live)
{
	return ms_json_obj("schema", ms_json_str(t->schema), "name", ms_json_str(t->name), "rows_now",
			   live ? ms_json_int(live->rows) : ms_json_null(), "rows_snapshot", ms_json_int(t->rows),
			   "change", ms_json_str(table_change(t, live)), NULL);
}

static void plan_table(const struct ms_manifest_table *t, const struct ms_table_count *live)
{
	char *ps = ms_printable(t->schema), *pn = ms_printable(t->name);

	if (!live)
		printf("      table %s.%s: created, %lld %s\n", ps, pn, t->rows, ms_cli_rows(t->rows));
	else if (live->rows != t->rows)
		printf("      table %s.%s: %lld %s now, %lld in the snapshot\n", ps, pn, live->rows,
		       ms_cli_rows(live->rows), t->rows);
	else if (strcmp(live->digest, t->digest) != 0)
		printf("      table %s.%s: %lld %s now and in the snapshot, content differs\n", ps, pn, live->rows,
		       ms_cli_rows(live->rows));
	else if (ms_log_get_level() > MS_LOG_INFO)
		printf("      table %s.%s: %lld %s, unchanged\n", ps, pn, live->rows, ms_cli_rows(live->rows));
	free(ps);
	free(pn);
}

/* The head of one database's JSON object (its tables are added after). */
static ms_json *plan_db_json(const struct ms_restore_db *s, const char *where)
{
	char *snap_where = s->snap ? ms_db_describe(s->snap) : NULL, *c = ms_xasprintf("db:%s", s->alias);
	ms_json *o = ms_json_obj("component", ms_json_str(c), "engine", ms_json_str(s->mdb->engine),
				 "database", ms_json_str(s->conf->name), "server", ms_json_str(where), "settings",
				 ms_json_str(s->from_snapshot ? "snapshot" : "this machine"), "snapshot_database",
				 ms_json_str(s->snap ? s->snap->name : NULL), "snapshot_server", ms_json_str(snap_where),
				 NULL);

	free(snap_where);
	free(c);
	return o;
}

/* One database: text, or JSON pushed to arr (not NULL). */
static void plan_db(struct ms_restore *r, struct ms_restore_db *s, ms_json *arr)
{
	struct ms_table_count *now = NULL;
	size_t n = 0;
	char *where = ms_db_describe(s->conf);
	ms_json *o = arr ? plan_db_json(s, where) : NULL, *tables = arr ? ms_json_array() : NULL,
		*removed = arr ? ms_json_array() : NULL;
	int rc;

	if (!arr) {
		char *pw = ms_printable(where), *pn = ms_printable(s->conf->name), *pa = ms_printable(s->alias);

		printf("  db:%-11s -> %s database '%s' on %s (%s)\n", pa, s->mdb->engine, pn, pw,
		       s->from_snapshot ? "the snapshot's settings, accepted" : "this machine's settings");
		free(pw);
		free(pn);
		free(pa);
	}
	free(where);
	if (!arr && s->snap && !s->from_snapshot &&
	    (strcmp(s->snap->name, s->conf->name) || strcmp(s->snap->host, s->conf->host) ||
	     strcmp(s->snap->port, s->conf->port) || strcmp(s->snap->user, s->conf->user))) {
		char *sw = ms_db_describe(s->snap), *pw = ms_printable(sw), *pn = ms_printable(s->snap->name);

		printf("      the snapshot's settings.py names database '%s' on %s%s\n", pn, pw,
		       r->do_instance ? " (the restored settings.py will point there)" : "");
		free(sw);
		free(pw);
		free(pn);
	}
	rc = ms_restore_db_now(r, s, &now, &n);
	if (rc < 0 && !arr)
		printf("      not reachable now (missing database or server down): it will be created if possible\n");
	for (size_t i = 0; i < s->mdb->n_tables; i++) {
		const struct ms_manifest_table *t = &s->mdb->tables[i];
		const struct ms_table_count *live = NULL;

		for (size_t k = 0; k < n && !live; k++)
			if (!strcmp(now[k].schema, t->schema) && !strcmp(now[k].name, t->name))
				live = &now[k];
		if (arr)
			ms_json_push(tables, plan_table_json(t, live));
		else
			plan_table(t, live);
	}
	for (size_t k = 0; k < n; k++) {
		bool kept = false;

		for (size_t i = 0; i < s->mdb->n_tables && !kept; i++)
			kept = !strcmp(now[k].schema, s->mdb->tables[i].schema) &&
			       !strcmp(now[k].name, s->mdb->tables[i].name);
		if (!kept && arr)
			ms_json_push(removed, ms_json_obj("schema", ms_json_str(now[k].schema), "name",
							  ms_json_str(now[k].name), "rows_now", ms_json_int(now[k].rows),
							  NULL));
		else if (!kept)
			printf("      table %s.%s: removed (%lld %s, not in the snapshot)\n", now[k].schema,
			       now[k].name, now[k].rows, ms_cli_rows(now[k].rows));
	}
	if (arr) {
		ms_json_set(o, "reachable", ms_json_bool(rc >= 0));
		ms_json_set(o, "tables", tables);
		ms_json_set(o, "removed_tables", removed);
		ms_json_push(arr, o);
	}
	ms_table_counts_free(now, n);
}


/* Every installed distribution that differs from the snapshot's list
 * ("modoboa 2.4.0 -> 2.3.2": installed now -> in the snapshot), or with
 * plan its "packages" array; nothing when either side has no list. */
static void plan_packages(const struct ms_restore *r, ms_json *plan)
{
	const struct ms_header *h = &r->vr.header;
	struct ms_diff_value *d = NULL;
	size_t n = 0, nlive;
	struct ms_kv *live;
	ms_json *arr = plan ? ms_json_array() : NULL;

	if (!h->n_packages || !r->live || !r->live->dists) {
		if (plan)
			ms_json_set(plan, "packages", arr);
		return;
	}
	nlive = ms_distinfo_count(r->live->dists);
	live = ms_xcalloc(nlive + 1, sizeof(*live));
	for (size_t i = 0; i < nlive; i++)
		ms_distinfo_at(r->live->dists, i, (const char **)&live[i].key, (const char **)&live[i].value);
	ms_snapdiff_kv(live, nlive, h->packages, h->n_packages, &d, &n);
	if (n && !plan)
		printf("  packages (installed -> snapshot)%s:\n", r->do_venv ? ", put back with the virtualenv" : "");
	for (size_t i = 0; i < n; i++) {
		char *line = ms_diff_value_line(&d[i]);

		if (plan)
			ms_json_push(arr, ms_json_obj("name", ms_json_str(d[i].name), "change",
						      ms_json_str(ms_diff_change_name(d[i].change)), "installed",
						      ms_json_str(d[i].from), "snapshot", ms_json_str(d[i].to), NULL));
		else
			printf("      %s\n", line);
		free(line);
	}
	if (plan)
		ms_json_set(plan, "packages", arr);
	ms_diff_values_free(d, n);
	free(live);
}

/* Installed vs snapshot versions; pins to match: a text line, or with
 * plan (not NULL) its "versions" {"installed", "snapshot", "pins"} when
 * they differ (null otherwise). */
static void plan_versions(struct ms_restore *r, ms_json *plan)
{
	const struct ms_versions *snap = &r->vr.header.versions;
	struct ms_versions now = { 0 };
	struct ms_strbuf pins = MS_STRBUF_INIT;
	bool differ = false;

	if (plan)
		ms_json_set(plan, "versions", ms_json_null());
	if (!r->live || !r->live->has_venv || !snap->modoboa)
		return;
	ms_versions_collect(r->live, NULL, &now);
	if (!now.modoboa || strcmp(now.modoboa, snap->modoboa) != 0)
		differ = true;
	ms_strbuf_addf(&pins, "pip install 'modoboa==%s'", snap->modoboa);
	for (size_t i = 0; i < snap->n_extensions; i++) {
		const char *have = NULL;
		char *pkg;

		if (!snap->extensions[i].value)
			continue;
		for (size_t k = 0; k < now.n_extensions; k++)
			if (!strcmp(now.extensions[k].key, snap->extensions[i].key))
				have = now.extensions[k].value;
		if (!have || strcmp(have, snap->extensions[i].value) != 0)
			differ = true;
		pkg = ms_xstrdup(snap->extensions[i].key);
		for (char *p = pkg; *p; p++)
			if (*p == '_')
				*p = '-';
		ms_strbuf_addf(&pins, " '%s==%s'", pkg, snap->extensions[i].value);
		free(pkg);
	}
	if (differ && r->do_venv) {
		if (plan)
			ms_json_set(plan, "versions", ms_json_obj("installed", ms_json_str(now.modoboa), "snapshot",
								  ms_json_str(snap->modoboa), "pins", ms_json_null(),
								  NULL));
		else
			printf("  versions: installed Modoboa %s, snapshot %s: the virtualenv is restored too\n",
			       now.modoboa ? now.modoboa : "unknown", snap->modoboa);
	} else if (differ) {
		ms_log_warn("the installed versions differ from the snapshot's (Modoboa %s installed, %s in the "
			    "snapshot): to match, run in the virtualenv: %s", now.modoboa ? now.modoboa : "unknown",
			    snap->modoboa, pins.buf);
		if (plan)
			ms_json_set(plan, "versions", ms_json_obj("installed", ms_json_str(now.modoboa), "snapshot",
								  ms_json_str(snap->modoboa), "pins",
								  ms_json_str(pins.buf), NULL));
		else
			printf("  versions: installed Modoboa %s, snapshot %s; to match: %s\n",
			       now.modoboa ? now.modoboa : "unknown", snap->modoboa, pins.buf);
	}
	ms_strbuf_release(&pins);
	ms_versions_clear(&now);
}


/* MODOBOA_ENCRYPTION_KEY (Modoboa 2.9.1: settings.py or .env) encrypts
 * stored credentials too: the snapshot's, from its settings.py and .env
 * read into memory, against the live installation's. */
static void check_encryption_key(struct ms_restore *r)
{
	size_t slen = 0, elen = 0;
	char *settings = ms_files_read_member(r->archive, "files/instance/instance/settings.py", 1 << 20, &slen);
	char *env = ms_files_read_member(r->archive, "files/instance/.env", 1 << 20, &elen);
	char *snap = ms_encryption_key_from_text("snapshot's settings.py", settings, slen, env);
	char *live = ms_encryption_key(r->dbs_from);

	if (snap && (!live || strcmp(snap, live) != 0))
		ms_log_warn("MODOBOA_ENCRYPTION_KEY here %s the snapshot's: the credentials Modoboa stored encrypted "
			    "in the databases will not be readable; restore the instance component too, or put the "
			    "snapshot's MODOBOA_ENCRYPTION_KEY back (settings.py or .env)",
			    live ? "differs from" : "is not set, unlike");
	ms_free_secret(settings);
	ms_free_secret(env);
	ms_free_secret(snap);
	ms_free_secret(live);
}

/* Only databases restored while settings.py's SECRET_KEY changed: stored
 * encrypted credentials will not decrypt. */
static void check_secret_key(struct ms_restore *r)
{
	if (r->do_instance || r->n_dbs == 0 || !r->dbs_from || !r->snap_raw)
		return;
	if (r->dbs_from->secret_key && r->snap_raw->secret_key && strcmp(r->dbs_from->secret_key, r->snap_raw->secret_key))
		ms_log_warn("the current settings.py's SECRET_KEY differs from the snapshot's: passwords stored "
			    "encrypted in the databases (e.g. DKIM or relay credentials) will not be readable; "
			    "restore the instance component too, or put the snapshot's SECRET_KEY back");
	check_encryption_key(r);
}


/* The text plan's first line. */
static void print_plan_head(const struct ms_restore *r)
{
	char *a = ms_printable(r->archive);

	char *id = ms_printable(r->vr.header.snapshot_id), *host = ms_printable(r->vr.header.host),
	     *ver = ms_printable(r->vr.header.versions.modoboa ? r->vr.header.versions.modoboa : "unknown"),
	     *when = ms_printable(r->vr.header.created);

	printf("restore %s (snapshot %s, Modoboa %s, taken %s on %s)\n", a, id, ver, when, host);
	free(a);
	free(id);
	free(host);
	free(ver);
	free(when);
}

/* A rooted component (dkim, system): each root at its own path. */
static int plan_roots(const struct ms_restore *r, const char *component, const struct ms_root_target *t, size_t n,
		      ms_json *arr)
{
	struct ms_tree_plan p;

	if (ms_plan_roots(&r->vr.manifest, t, n, &p) < 0)
		return -1;
	if (arr) {
		ms_json *targets = ms_json_array();

		for (size_t i = 0; i < n; i++)
			ms_json_push(targets, ms_json_str(t[i].target));
		ms_json_push(arr, ms_json_obj("component", ms_json_str(component), "targets", targets, "added",
					      ms_json_int((long long)p.added), "replaced",
					      ms_json_int((long long)p.replaced), "removed", ms_json_int((long long)p.removed),
					      "unchanged", ms_json_int((long long)p.unchanged), NULL));
	} else {
		printf("  %-14s -> %zu paths, each put back at its own place:\n", component, n);
		for (size_t i = 0; i < n; i++) {
			char *tp = ms_printable(t[i].target);

			printf("      %s\n", tp);
			free(tp);
		}
		printf("      %lu added, %lu replaced, %lu removed, %lu unchanged (other files there are left "
		       "alone)\n", p.added, p.replaced, p.removed, p.unchanged);
	}
	if (!arr && ms_log_get_level() > MS_LOG_INFO) {
		print_list("add    ", &p.added_v);
		print_list("replace", &p.replaced_v);
		print_list("remove ", &p.removed_v);
	}
	ms_tree_plan_clear(&p);
	return 0;
}

/* Every component's part of the plan (text, or JSON pushed to arr). */
static int plan_components(struct ms_restore *r, ms_json *arr)
{
	const struct ms_header *h = &r->vr.header;

	if (r->do_instance && plan_files(r, "instance", "files/instance", r->instance_target, false, h->instance,
					 r->live_instance, r->instance_origin, arr) < 0)
		return -1;
	if (r->do_postfix && plan_files(r, "postfix", "files/postfix", r->postfix_target, true, h->postfix_dir,
					r->live_postfix, r->postfix_origin, arr) < 0)
		return -1;
	for (size_t i = 0; i < r->n_dbs; i++)
		plan_db(r, &r->dbs[i], arr);
	if (r->do_venv && plan_files(r, "venv", "files/venv", r->venv_target, false, h->venv_dir, r->venv_target,
				     r->venv_origin, arr) < 0)
		return -1;
	if (r->do_dkim && plan_roots(r, "dkim", r->dkim, r->n_dkim, arr) < 0)
		return -1;
	if (r->do_system && plan_roots(r, "system", r->system, r->n_system, arr) < 0)
		return -1;
	if (r->do_mail && r->mailboxes.n == 0 &&
	    plan_files(r, "mail", "files/mail", r->mail_target, false, h->mail_dir, r->mail_target, r->mail_origin,
		       arr) < 0)
		return -1;
	for (size_t i = 0; r->do_mail && i < r->mailboxes.n; i++) {
		char *name = ms_xasprintf("mail:%s", r->mailboxes.v[i]);
		int rc = plan_files(r, name, r->mailbox_prefixes.v[i], r->mailbox_targets.v[i], false, NULL, NULL,
				    r->mail_origin, arr);

		free(name);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* The plan's head as JSON: the snapshot restored from. */
static ms_json *plan_json(const struct ms_restore *r)
{
	const struct ms_header *h = &r->vr.header;

	return ms_json_obj("archive", ms_json_str(r->archive), "snapshot_id", ms_json_str(h->snapshot_id), "modoboa",
			   ms_json_str(h->versions.modoboa), "created", ms_json_str(h->created), "host",
			   ms_json_str(h->host), NULL);
}

/* The plan as text, or with plan (not NULL) into that JSON object:
 * "components" (one object each, [] when nothing is restored) and
 * "versions". */
static int print_plan(struct ms_restore *r, ms_json *plan)
{
	ms_json *arr = plan ? ms_json_array() : NULL;

	if (!plan)
		print_plan_head(r);
	if (plan_components(r, arr) < 0) {
		ms_json_free(arr);
		return -1;
	}
	if (plan)
		ms_json_set(plan, "components", arr);
	else if (!r->do_instance && !r->do_postfix && r->n_dbs == 0)
		printf("  nothing to restore\n");
	plan_versions(r, plan);
	plan_packages(r, plan);
	check_secret_key(r);
	fflush(stdout);
	return 0;
}

/* --- confirmation and the run ---------------------------------------------- */

static int confirm(bool yes)
{
	char line[16];

	if (yes)
		return 0;
	if (!isatty(STDIN_FILENO))
		return ms_log_error("refusing to restore without confirmation: no terminal to ask on (use --yes)");
	fprintf(stderr, "Replace the components above with the snapshot's? [y/N] ");
	if (!fgets(line, sizeof(line), stdin) || (line[0] != 'y' && line[0] != 'Y'))
		return ms_log_error("restore cancelled: nothing was changed");
	return 0;
}


static void quiet_stdout(void)
{
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	fflush(stdout);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		close(fd);
	}
}

/* --json: what the engine prints while it runs goes to stderr (to
 * /dev/null with -q), so that stdout holds the one document. The saved
 * stdout for restore_stdout, or -1. */
static int divert_stdout(void)
{
	int saved, fd = ms_log_get_level() == MS_LOG_QUIET ? open("/dev/null", O_WRONLY | O_CLOEXEC)
							 : dup(STDERR_FILENO);

	fflush(stdout);
	saved = fd >= 0 ? dup(STDOUT_FILENO) : -1;
	if (saved >= 0)
		dup2(fd, STDOUT_FILENO);
	if (fd >= 0)
		close(fd);
	return saved;
}

static void restore_stdout(int saved)
{
	fflush(stdout);
	if (saved >= 0) {
		dup2(saved, STDOUT_FILENO);
		close(saved);
	}
}

static int exit_of(enum ms_restore_status st)
{
	switch (st) {
	case MS_RESTORE_OK: return MS_EXIT_OK;
	case MS_RESTORE_USAGE: return MS_EXIT_USAGE;
	case MS_RESTORE_LOCKED: return MS_EXIT_LOCKED;
	case MS_RESTORE_VERIFY: return MS_EXIT_VERIFY;
	case MS_RESTORE_FAILED: break;
	}
	return MS_EXIT_FAILURE;
}

/* open -> prepare -> plan -> check -> confirm -> run. With --json the
 * plan goes into *plan (set once prepared) instead of stdout. */
static enum ms_restore_status run_steps(struct ms_restore *r, const struct restore_args *a, ms_json **plan)
{
	enum ms_restore_status st = ms_restore_open(r, r->req);
	struct ms_progress_line *line;
	int saved;

	if (st != MS_RESTORE_OK)
		return st;
	if (ms_log_get_level() == MS_LOG_QUIET && !a->dry_run && !a->json)
		quiet_stdout(); /* -q: nothing but errors (cron) */
	st = ms_restore_prepare(r);
	if (st != MS_RESTORE_OK)
		return st;
	if (a->json)
		*plan = plan_json(r);
	if (print_plan(r, *plan) < 0)
		return MS_RESTORE_FAILED;
	st = ms_restore_check(r);
	if (st != MS_RESTORE_OK || a->dry_run)
		return st;
	if (confirm(a->yes) < 0)
		return MS_RESTORE_FAILED;
	if (!a->json) {
		line = ms_progress_line_start(r->req->progress, true, false);
		st = ms_restore_run(r);
		ms_progress_line_stop(line);
		return st;
	}
	saved = divert_stdout();
	st = ms_restore_run(r);
	restore_stdout(saved);
	return st;
}

/* --json: {"dry_run", "plan", "result": {"exit_code", "restored",
 * "safety_snapshot"}}; nothing when the plan was never made. */
static int print_json(const struct ms_restore *r, const struct restore_args *a, ms_json *plan, int ret)
{
	if (!plan)
		return 0;
	return ms_json_print(ms_json_obj("dry_run", ms_json_bool(a->dry_run), "plan", plan, "result",
					 ms_json_obj("exit_code", ms_json_int(ret), "restored",
						     ms_json_bool(!a->dry_run && (ret == MS_EXIT_OK ||
										 ret == MS_EXIT_WARNINGS)),
						     "safety_snapshot", ms_json_str(r->safety_path), NULL),
					 NULL));
}

static int run_restore(struct ms_cli *cli, struct restore_args *a)
{
	struct ms_restore_request req = {
		.config = cli->config,
		.dest = a->dest ? a->dest : cli->config->dest ? cli->config->dest : MS_DEFAULT_DEST,
		.selector = a->selector,
		.only = &a->only,
		.root = a->root,
		.lock_holder = cli->command,
		.inst = a->inst,
		.dry_run = a->dry_run,
		.no_safety = a->no_safety,
		/* -q: quiet_stdout() hides the plan (a real restore then has --yes) */
		.plan_unseen = ms_log_get_level() == MS_LOG_QUIET && !a->dry_run && !a->json,
		.allow_unsigned = a->allow_unsigned,
		.accept_snapshot = a->accept_snapshot,
		.system_root = a->system_root,
	};
	struct ms_restore r;
	struct ms_progress pg;
	ms_json *plan = NULL;
	int ret;

	memset(&r, 0, sizeof(r));
	ms_progress_init(&pg);
	req.progress = &pg;
	r.req = &req;
	ret = exit_of(run_steps(&r, a, &plan));
	if (ret == MS_EXIT_OK)
		ret = ms_cli_exit_code(0);
	if (print_json(&r, a, plan, ret) < 0 && ret == MS_EXIT_OK)
		ret = MS_EXIT_FAILURE;
	ms_restore_clear(&r);
	return ret;
}

/* SNAPSHOT as REMOTE:SNAPSHOT, REMOTE a [remote:NAME] of the config:
 * fetched into the destination first (decrypted with --identity,
 * verified), and restored from there. Sets *fetched (caller frees) and
 * returns 0; -1 when SNAPSHOT names no remote (a local selector); an exit
 * code when the fetch failed. */
static int fetch_remote(struct ms_cli *cli, const struct restore_args *a, char **fetched)
{
	const char *colon = strchr(a->selector, ':');
	const char *dest = a->dest ? a->dest : cli->config->dest ? cli->config->dest : MS_DEFAULT_DEST;
	const struct ms_config_remote *r = NULL;
	char *name;
	int code = MS_EXIT_FAILURE;

	if (colon && colon > a->selector && strncmp(a->selector, "tag:", 4) != 0) {
		name = ms_xstrndup(a->selector, (size_t)(colon - a->selector));
		r = ms_config_remote(cli->config, name);
		free(name);
	}
	if (!r)
		return -1;
	if (ms_dest_prepare(dest) < 0)
		return MS_EXIT_FAILURE;
	*fetched = ms_offhost_fetch(cli->config, r, colon + 1, dest, a->identity, false, &code);
	if (*fetched && code == MS_EXIT_WARNINGS) {
		ms_log_error("'%s' is encrypted: restore it with --identity FILE", *fetched);
		free(*fetched);
		*fetched = NULL;
		return MS_EXIT_USAGE;
	}
	return *fetched ? 0 : code;
}

/* A local selector that names an encrypted snapshot ([encrypt] local):
 * decrypted with --identity into a private directory (*plain, for
 * ms_offhost_discard) and restored from there. 0 with *plain set, -1 for
 * any other selector (left to the restore engine, which reports a bad
 * one), or an exit code. */
static int decrypt_local(struct ms_cli *cli, const struct restore_args *a, char **plain)
{
	const char *dest = a->dest ? a->dest : cli->config->dest ? cli->config->dest : MS_DEFAULT_DEST;
	char *path;
	int code = -1;

	ms_log_mute(1);
	path = ms_dest_select(dest, a->selector);
	ms_log_mute(0);
	if (path && ms_dest_is_encrypted(path)) {
		*plain = ms_offhost_decrypt_local(path, a->identity, &code);
		if (*plain)
			ms_log_info("decrypted '%s' for this restore; the copy is removed afterwards", path);
	}
	free(path);
	return code;
}

int cmd_restore(struct ms_cli *cli, int argc, char **argv)
{
	struct restore_args a;
	char *fetched = NULL, *plain = NULL;
	int ret;

	memset(&a, 0, sizeof(a));
	ret = parse_restore(argc, argv, &a);
	if (ret == 0)
		ret = ms_cli_load_config(cli) < 0 ? MS_EXIT_FAILURE : fetch_remote(cli, &a, &fetched);
	if (ret == -1) /* a local snapshot */
		ret = decrypt_local(cli, &a, &plain);
	if (ret == -1)
		ret = run_restore(cli, &a);
	else if (ret == 0) {
		a.selector = fetched ? fetched : plain;
		ret = run_restore(cli, &a);
	}
	ms_offhost_discard(plain);
	free(fetched);
	ms_strv_clear(&a.only);
	return ret;
}
