/*
 * The whole-server components of a restore (see server.h).
 */
#include "restore/server.h"
#include "base/log.h"
#include "base/util.h"
#include "db/params.h"
#include "discover/config.h"
#include "discover/server.h"
#include "restore/files.h"
#include "snapshot/components.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MS_DEFAULT_VENV "/srv/modoboa/env"
#define MS_DEFAULT_MAIL_DIR "/srv/vmail"
#define MS_DEFAULT_DKIM_DIR "/var/lib/dkim"

static bool has(const struct ms_restore *r, const char *component)
{
	return ms_strv_contains(&r->vr.header.components, component);
}

static bool at_or_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* `path` without the system root (the path as the installation names it),
 * or NULL when it is not below it. */
static char *logical_of(const char *system_root, const char *path)
{
	size_t n = strlen(system_root);

	while (n > 0 && system_root[n - 1] == '/')
		n--;
	if (n == 0)
		return ms_xstrdup(path);
	if (strncmp(path, system_root, n) != 0 || (path[n] != '/' && path[n] != '\0'))
		return NULL;
	return ms_xstrdup(path[n] ? path + n : "/");
}

static char *join_root(const char *system_root, const char *logical)
{
	size_t n = strlen(system_root);

	while (n > 0 && system_root[n - 1] == '/')
		n--;
	return ms_xasprintf("%.*s%s", (int)n, system_root, logical);
}

/* --- targets ------------------------------------------------------------- */

static int choose_tree(struct ms_restore *r, const char *component, const char *config_key, const char *config,
		       const char *def, const char *snapshot, char **target, enum ms_target_origin *origin)
{
	struct ms_target_choice c = { component, NULL, config_key, NULL, config, def, snapshot,
				      r->req->accept_snapshot || r->req->root, r->req->root != NULL };
	char *live = ms_target_choose(&c, origin);

	if (!live)
		return -1;
	*target = ms_restore_under_root(r->req->root, live);
	free(live);
	return ms_restore_check_place(r, component, *target);
}

/* The mailboxes of --only mail:USER@DOMAIN, each a directory of the
 * snapshot's store. */
static int choose_mailboxes(struct ms_restore *r)
{
	const struct ms_strv *only = r->req->only;

	for (size_t i = 0; only && i < only->n; i++) {
		const char *addr;
		char *rel, *prefix;
		const struct ms_manifest_entry *e;

		if (strncmp(only->v[i], "mail:", 5) != 0)
			continue;
		addr = only->v[i] + 5;
		rel = ms_mailbox_path(r->vr.header.mail_layout, addr);
		if (!rel)
			return ms_log_error("mailbox '%s': the snapshot's mail layout '%s' gives no path for it", addr,
					    r->vr.header.mail_layout ? r->vr.header.mail_layout : "%d/%n");
		prefix = ms_path_join("files/mail", rel);
		e = ms_manifest_find(&r->vr.manifest, prefix);
		if (!e || e->e.type != MS_ENTRY_DIR) {
			ms_log_error("mailbox '%s' is not in the snapshot (no directory '%s' in its mail store)", addr, rel);
			free(rel);
			free(prefix);
			return -1;
		}
		ms_strv_push(&r->mailboxes, addr);
		ms_strv_push_owned(&r->mailbox_prefixes, prefix);
		ms_strv_push_owned(&r->mailbox_targets, ms_path_join(r->mail_target, rel));
		free(rel);
	}
	return 0;
}

/* What the live default database names: the DKIM directory, key files and
 * rspamd maps. Quiet: a fresh server has no database yet. */
static bool live_params(const struct ms_restore *r, struct ms_modoboa_params *p)
{
	const struct ms_instance *inst = r->live ? r->live : r->dbs_from;
	bool ok = false;

	for (size_t i = 0; inst && i < inst->n_dbs && !ok; i++)
		if (!strcmp(inst->dbs[i].alias, "default")) {
			ms_log_mute(1);
			ok = ms_db_read_params(&inst->dbs[i], p) == 0;
			ms_log_mute(0);
		}
	return ok;
}

static bool named_by(const struct ms_modoboa_params *p, const char *path)
{
	if ((p->rspamd_key_map && !strcmp(p->rspamd_key_map, path)) ||
	    (p->rspamd_selector_map && !strcmp(p->rspamd_selector_map, path)))
		return true;
	for (size_t i = 0; i < p->n_domains; i++)
		if (p->domains[i].key_path && !strcmp(p->domains[i].key_path, path))
			return true;
	return false;
}

static void push_root(struct ms_root_target **v, size_t *n, const char *member, char *target)
{
	*v = ms_xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[*n].member = ms_xstrdup(member);
	(*v)[*n].target = target;
	(*n)++;
}

static int choose_dkim(struct ms_restore *r, const struct ms_modoboa_params *p, bool have_params)
{
	const struct ms_config *cfg = r->req->config;
	struct ms_strv roots = { 0 };
	const char *why;
	int ret = 0;

	if (cfg->dkim_dir) {
		r->dkim_dir = ms_xstrdup(cfg->dkim_dir);
		r->dkim_from = "[modosnap] dkim_dir";
	} else if (have_params && p->dkim_dir) {
		r->dkim_dir = ms_xstrdup(p->dkim_dir);
		r->dkim_from = "the live default database (admin.dkim_keys_storage_dir)";
	} else {
		r->dkim_dir = ms_xstrdup(MS_DEFAULT_DKIM_DIR);
		r->dkim_from = "this machine's default";
	}
	ms_files_roots(&r->vr.manifest, "files/dkim", &roots);
	for (size_t i = 0; i < roots.n && ret == 0; i++) {
		const char *path = roots.v[i] + strlen("files/dkim");
		bool here = at_or_under(path, r->dkim_dir) || (have_params && named_by(p, path));
		char *pp = ms_printable(path), *dp = ms_printable(r->dkim_dir);

		if (!here && !r->req->accept_snapshot && !r->req->root)
			ret = ms_log_error("dkim: '%s' is outside the DKIM directory '%s' that %s names: name the "
					   "directory with [modosnap] dkim_dir in the config, or pass "
					   "--accept-snapshot-targets to restore it there", pp, dp, r->dkim_from);
		else if (!here && ms_target_check("dkim", path, &why) < 0)
			ret = ms_log_error("dkim target '%s' refused: %s", pp, why);
		else
			push_root(&r->dkim, &r->n_dkim, roots.v[i], ms_restore_under_root(r->req->root, path));
		free(pp);
		free(dp);
		if (ret == 0)
			ret = ms_restore_check_place(r, "dkim", r->dkim[r->n_dkim - 1].target);
	}
	ms_strv_clear(&roots);
	return ret;
}

/* A root of the system component may go where this machine's system
 * component takes files from: its well-known locations (by the logical
 * path), or its Postfix directory, [paths] include and the state
 * directories of the live database (as written, so by the target). */
static bool system_allowed(const struct ms_restore *r, const struct ms_modoboa_params *p, const char *path,
			   const char *target)
{
	const struct ms_config *cfg = r->req->config;
	char *postfix = r->live_postfix ? logical_of(r->system_root, r->live_postfix) : NULL;
	bool ok = ms_server_system_allowed_params(cfg, postfix, p, path) ||
		  ms_server_system_allowed_params(cfg, r->live_postfix, p, target);

	free(postfix);
	return ok;
}

/* A root only the snapshot proposes (e.g. a state directory its database
 * named, on a fresh machine whose database is not restored yet), accepted
 * by the administrator: not a system directory (ms_target_check), no
 * hidden component (.ssh). */
static bool proposal_ok(const struct ms_restore *r, const char *path, const char *target)
{
	const char *why;

	if (!r->req->accept_snapshot && !r->req->root)
		return false;
	return ms_target_check("system", target, &why) == 0 && !strstr(path, "/.");
}

static int choose_system(struct ms_restore *r, const struct ms_modoboa_params *p)
{
	struct ms_strv roots = { 0 };
	int ret = 0;

	ms_files_roots(&r->vr.manifest, "files/system", &roots);
	for (size_t i = 0; i < roots.n && ret == 0; i++) {
		const char *path = roots.v[i] + strlen("files/system");
		char *target = join_root(r->system_root, path);

		if (!system_allowed(r, p, path, target) && !proposal_ok(r, path, target)) {
			char *pp = ms_printable(path);

			ret = ms_log_error("system: '%s' is not a place the system component restores to (the service "
					   "directories modosnap knows, the Postfix directory, [paths] include, the state "
					   "directories the live database names): add it with [paths] include in the "
					   "config, or pass --accept-snapshot-targets to restore it there", pp);
			free(pp);
			free(target);
			break;
		}
		push_root(&r->system, &r->n_system, roots.v[i], ms_restore_under_root(r->req->root, target));
		free(target);
		ret = ms_restore_check_place(r, "system", r->system[r->n_system - 1].target);
	}
	ms_strv_clear(&roots);
	return ret;
}

int ms_restore_server_choose(struct ms_restore *r)
{
	const struct ms_config *cfg = r->req->config;
	const struct ms_header *h = &r->vr.header;
	struct ms_modoboa_params params = { 0 };
	struct ms_server live = { 0 };
	const struct ms_instance *inst = r->live ? r->live : r->dbs_from;
	bool mailbox = false, have_params = false;
	int ret = -1;

	for (size_t i = 0; r->req->only && i < r->req->only->n; i++)
		mailbox = mailbox || !strncmp(r->req->only->v[i], "mail:", 5);
	r->do_venv = has(r, "venv") && ms_restore_selected(r->req, "venv");
	r->do_dkim = has(r, "dkim") && ms_restore_selected(r->req, "dkim");
	r->do_system = has(r, "system") && ms_restore_selected(r->req, "system");
	r->do_mail = has(r, "mail") && (ms_restore_selected(r->req, "mail") || mailbox);
	if (!r->do_venv && !r->do_dkim && !r->do_system && !r->do_mail)
		return 0;
	r->system_root = ms_xstrdup(r->req->system_root ? r->req->system_root
				    : cfg->system_root      ? cfg->system_root
							    : "/");
	if (r->do_dkim || r->do_system)
		have_params = live_params(r, &params);
	if (inst) {
		ms_log_mute(1);
		if (ms_server_discover(inst, cfg, r->system_root, have_params ? &params : NULL, &live) < 0)
			memset(&live, 0, sizeof(live));
		ms_log_mute(0);
	}
	if (r->do_venv &&
	    choose_tree(r, "venv", "[modosnap] venv", cfg->venv,
			r->live && r->live->has_venv ? r->live->venv.path : MS_DEFAULT_VENV, h->venv_dir,
			&r->venv_target, &r->venv_origin) < 0)
		goto out;
	if (r->do_mail &&
	    (choose_tree(r, "mail", "[mail] dir", cfg->mail_dir, live.mail_dir ? live.mail_dir : MS_DEFAULT_MAIL_DIR,
			 h->mail_dir, &r->mail_target, &r->mail_origin) < 0 ||
	     choose_mailboxes(r) < 0))
		goto out;
	if (r->do_dkim && choose_dkim(r, &params, have_params) < 0)
		goto out;
	if (r->do_system && !r->trusted) {
		ms_log_error("system: the snapshot is not signed by a trusted key, and its service configuration "
			     "(cron jobs, sudoers, supervisor programs) would run as root: restore it only from a "
			     "signed snapshot, or leave it out with --only");
		goto out;
	}
	if (r->do_system && choose_system(r, have_params ? &params : NULL) < 0)
		goto out;
	ret = 0;
out:
	ms_server_clear(&live);
	if (have_params)
		ms_modoboa_params_clear(&params);
	return ret;
}

/* --- the safety snapshot ------------------------------------------------- */

void ms_restore_server_safety(const struct ms_restore *r, struct ms_strv *only, struct ms_create_opts *o,
			      struct ms_strv *dkim_roots, struct ms_strv *system_roots, struct ms_strv *system_files)
{
	if (r->req->root)
		return; /* new locations only: nothing there to keep */
	if (r->do_venv && access(r->venv_target, F_OK) == 0) {
		ms_strv_push(only, "venv");
		o->venv_dir = r->venv_target;
	}
	if (r->do_mail && access(r->mail_target, F_OK) == 0) {
		ms_strv_push(only, "mail");
		o->mail_dir = r->mail_target;
		o->mail_layout = r->vr.header.mail_layout;
	}
	for (size_t i = 0; r->do_dkim && i < r->n_dkim; i++)
		if (access(r->dkim[i].target, F_OK) == 0)
			ms_strv_push(dkim_roots, r->dkim[i].target);
	if (dkim_roots->n) {
		ms_strv_push(only, "dkim");
		o->dkim_roots = dkim_roots;
		o->dkim_dir = r->dkim_dir;
	}
	for (size_t i = 0; r->do_system && i < r->n_system; i++)
		if (access(r->system[i].target, F_OK) == 0) {
			ms_strv_push(system_roots, r->system[i].member + strlen("files/system"));
			ms_strv_push(system_files, r->system[i].target);
		}
	if (system_roots->n) {
		ms_strv_push(only, "system");
		o->system_roots = system_roots;
		o->system_files = system_files;
		o->system_root = r->system_root;
	}
}

/* --- doing it ------------------------------------------------------------ */

static int restore_roots(struct ms_restore *r, const char *component, const struct ms_root_target *t, size_t n)
{
	struct ms_files_stats st = { 0 };

	if (n == 0)
		return 0;
	ms_progress_component(r->req->progress, component);
	if (ms_files_restore_roots(r->archive, &r->vr.manifest, t, n, &st, r->req->progress) < 0)
		return -1;
	ms_restore_say(r, "restored %s: %zu paths (%lu files, %lu directories, %lu symlinks)\n", component, n,
		       st.files, st.dirs, st.symlinks);
	ms_restore_say_owners(r, &st);
	return 0;
}

int ms_restore_server_run(struct ms_restore *r)
{
	if (r->do_venv && ms_restore_tree(r, "venv", "files/venv", r->venv_target) < 0)
		return -1;
	if (r->do_dkim && restore_roots(r, "dkim", r->dkim, r->n_dkim) < 0)
		return -1;
	if (r->do_system && restore_roots(r, "system", r->system, r->n_system) < 0)
		return -1;
	if (r->do_mail && r->mailboxes.n == 0 && ms_restore_tree(r, "mail", "files/mail", r->mail_target) < 0)
		return -1;
	for (size_t i = 0; r->do_mail && i < r->mailboxes.n; i++) {
		char *name = ms_xasprintf("mail:%s", r->mailboxes.v[i]);
		int ret = ms_restore_tree(r, name, r->mailbox_prefixes.v[i], r->mailbox_targets.v[i]);

		free(name);
		if (ret < 0)
			return -1;
	}
	return 0;
}

/* --- proof --------------------------------------------------------------- */

static int check_tree(struct ms_restore *r, const char *component, const char *prefix, const char *target)
{
	unsigned long n = 0;

	if (ms_files_check_live(&r->vr.manifest, prefix, target, false, &n) < 0)
		return 1;
	ms_restore_say(r, "  ok: %s: %lu entries match the snapshot\n", component, n);
	return 0;
}

static int check_roots(struct ms_restore *r, const char *component, const struct ms_root_target *t, size_t n)
{
	unsigned long checked = 0;

	if (n == 0)
		return 0;
	if (ms_files_check_roots(&r->vr.manifest, t, n, &checked) < 0)
		return 1;
	ms_restore_say(r, "  ok: %s: %lu entries match the snapshot\n", component, checked);
	return 0;
}

int ms_restore_server_report(struct ms_restore *r)
{
	int bad = 0;

	if (r->do_venv)
		bad += check_tree(r, "venv", "files/venv", r->venv_target);
	if (r->do_dkim)
		bad += check_roots(r, "dkim", r->dkim, r->n_dkim);
	if (r->do_system)
		bad += check_roots(r, "system", r->system, r->n_system);
	if (r->do_mail && r->mailboxes.n == 0)
		bad += check_tree(r, "mail", "files/mail", r->mail_target);
	for (size_t i = 0; r->do_mail && i < r->mailboxes.n; i++) {
		char *name = ms_xasprintf("mail:%s", r->mailboxes.v[i]);

		bad += check_tree(r, name, r->mailbox_prefixes.v[i], r->mailbox_targets.v[i]);
		free(name);
	}
	return bad;
}

uint64_t ms_restore_server_bytes(const struct ms_restore *r)
{
	const struct ms_manifest *m = &r->vr.manifest;
	uint64_t sum = 0;

	if (r->do_venv)
		sum += ms_progress_member_bytes(m, "files/venv/");
	if (r->do_dkim)
		sum += ms_progress_member_bytes(m, "files/dkim/");
	if (r->do_system)
		sum += ms_progress_member_bytes(m, "files/system/");
	if (r->do_mail && r->mailboxes.n == 0)
		sum += ms_progress_member_bytes(m, "files/mail/");
	for (size_t i = 0; r->do_mail && i < r->mailbox_prefixes.n; i++) {
		char *prefix = ms_xasprintf("%s/", r->mailbox_prefixes.v[i]);

		sum += ms_progress_member_bytes(m, prefix);
		free(prefix);
	}
	return sum;
}

static void free_roots(struct ms_root_target *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)t[i].member);
		free((char *)t[i].target);
	}
	free(t);
}

void ms_restore_server_clear(struct ms_restore *r)
{
	free(r->venv_target);
	free(r->mail_target);
	ms_strv_clear(&r->mailboxes);
	ms_strv_clear(&r->mailbox_prefixes);
	ms_strv_clear(&r->mailbox_targets);
	free(r->system_root);
	free(r->dkim_dir);
	free_roots(r->dkim, r->n_dkim);
	free_roots(r->system, r->n_system);
}
