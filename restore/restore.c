/*
 * The restore engine (restore.h): plan -> safety snapshot -> components
 * -> proof. Every decision that protects the live system is taken here,
 * before the first write: where each component goes (the command line,
 * the config or this machine's defaults, never the archive alone), which
 * database settings and passwords may be used, room on disk, every
 * connection. The command line only asks, confirms and shows the plan.
 */
#include "restore/restore.h"
#include "discover/config.h"
#include "db/db.h"
#include "restore/dbreplay.h"
#include "snapshot/dest.h"
#include "restore/files.h"
#include "discover/instance.h"
#include "formats/manifest.h"
#include "restore/my_restore.h"
#include "restore/pg_restore.h"
#include "restore/pg_scratch.h"
#include "restore/plan.h"
#include "formats/sign.h"
#include "snapshot/snapshot.h"
#include "snapshot/space.h"
#include "restore/server.h"
#include "restore/sqlcheck.h"
#include "base/strbuf.h"
#include "restore/targets.h"
#include "formats/verify.h"
#include "discover/versions.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>


#define SETTINGS_MEMBER "files/instance/instance/settings.py"
#define SETTINGS_MAX ((size_t)4 << 20)
/* The staging copy of a directory component and the old tree exist at the
 * same time; keep this much free on top of what the snapshot holds. */
#define FREE_MARGIN ((unsigned long long)64 << 20)

/* --- choosing what to restore --------------------------------------------- */

bool ms_restore_selected(const struct ms_restore_request *q, const char *component)
{
	return !q->only || q->only->n == 0 || ms_strv_contains(q->only, component);
}

char *ms_restore_under_root(const char *root, const char *path)
{
	size_t n = root ? strlen(root) : 0;

	while (n > 0 && root[n - 1] == '/')
		n--; /* "--root /" or "DIR/": no doubled slash */
	return root ? ms_xasprintf("%.*s%s%s", (int)n, root, path[0] == '/' ? "" : "/", path) : ms_xstrdup(path);
}

/* --only names must be components of the snapshot. */
static int check_only(const struct ms_restore *r)
{
	const struct ms_strv *have = &r->vr.header.components;

	for (size_t i = 0; r->req->only && i < r->req->only->n; i++)
		if (!ms_strv_contains(have, r->req->only->v[i]) &&
		    !(strncmp(r->req->only->v[i], "mail:", 5) == 0 && ms_strv_contains(have, "mail"))) {
			struct ms_strbuf sb = MS_STRBUF_INIT;

			for (size_t k = 0; k < have->n; k++)
				ms_strbuf_addf(&sb, "%s%s", k ? ", " : "", have->v[k]);
			ms_log_error("component '%s' is not in the snapshot (it holds: %s)", r->req->only->v[i],
				     sb.buf ? sb.buf : "nothing");
			ms_strbuf_release(&sb);
			return -1;
		}
	return 0;
}

static bool at_or_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Where a target sits: no link or foreign-writable directory on the way
 * (ms_target_parents_ok), and apart from the destination directory (a
 * restore must never replace or fill the backups it reads). */
int ms_restore_check_place(const struct ms_restore *r, const char *component, const char *target)
{
	const char *why;
	char *at = NULL, *dest = realpath(r->req->dest, NULL);
	int ret = 0;

	if (ms_target_parents_ok(target, &why, &at) < 0) {
		char *pa = ms_printable(at), *pt = ms_printable(target);

		ret = ms_log_error("%s target '%s' refused: '%s' on its way is %s", component, pt, pa, why);
		free(pa);
		free(pt);
	} else if (at_or_under(target, dest ? dest : r->req->dest) || at_or_under(dest ? dest : r->req->dest, target)) {
		ret = ms_log_error("%s target '%s' refused: it holds or is inside the destination directory '%s'",
				   component, target, r->req->dest);
	}
	free(at);
	free(dest);
	return ret;
}

/* Where the files go: the command line, the config or this machine's
 * defaults decide; the snapshot's recorded paths only with
 * --accept-snapshot-targets (or under --root, where every file lands below
 * the new root). The live installation is looked for where the targets
 * are, never where the archive says. */
static int choose_files(struct ms_restore *r)
{
	const struct ms_header *h = &r->vr.header;
	const struct ms_config *cfg = r->req->config;
	bool accept = r->req->accept_snapshot || r->req->root;
	struct ms_target_choice ci = { "instance", "--instance", "[modosnap] instance", r->req->inst.instance_dir, cfg->instance,
				       MS_DEFAULT_INSTANCE, h->instance, accept, r->req->root != NULL };
	struct ms_target_choice cp = { "postfix", "--postfix-dir", "[modosnap] postfix_dir", r->req->inst.postfix_dir,
				       cfg->postfix_dir, MS_DEFAULT_POSTFIX_DIR, h->postfix_dir, accept,
				       r->req->root != NULL };

	r->do_instance = ms_strv_contains(&h->components, "instance") && ms_restore_selected(r->req, "instance");
	r->do_postfix = ms_strv_contains(&h->components, "postfix") && ms_restore_selected(r->req, "postfix");
	if (r->do_instance) {
		r->live_instance = ms_target_choose(&ci, &r->instance_origin);
		if (!r->live_instance)
			return -1;
	} else {
		r->live_instance = ms_xstrdup(ci.cli ? ci.cli : ci.config ? ci.config : ci.def);
	}
	if (r->do_postfix) {
		r->live_postfix = ms_target_choose(&cp, &r->postfix_origin);
		if (!r->live_postfix)
			return -1;
	} else {
		r->live_postfix = ms_xstrdup(cp.cli ? cp.cli : cp.config ? cp.config : cp.def);
	}
	r->instance_target = ms_restore_under_root(r->req->root, r->live_instance);
	r->postfix_target = ms_restore_under_root(r->req->root, r->live_postfix);
	if (r->req->root && r->do_instance && access(r->instance_target, F_OK) == 0)
		return ms_log_error("'%s' exists: --root restores into new locations only", r->instance_target);
	if ((r->do_instance && ms_restore_check_place(r, "instance", r->instance_target) < 0) ||
	    (r->do_postfix && ms_restore_check_place(r, "postfix", r->postfix_target) < 0))
		return -1;
	return 0;
}

/* The snapshot's own settings.py, read into memory (never written to
 * disk): as it is, for the plan's comparison, and merged with the config,
 * for --accept-snapshot-targets. Absent or unreadable: both stay NULL. */
static void read_snapshot_settings(struct ms_restore *r)
{
	size_t len = 0;
	/* a snapshot without the instance (components = db:...) has none: the
	 * verified manifest says so without reading the archive again */
	char *text = ms_manifest_find(&r->vr.manifest, SETTINGS_MEMBER)
			     ? ms_files_read_member(r->archive, SETTINGS_MEMBER, SETTINGS_MAX, &len)
			     : NULL;
	struct ms_config *none = ms_config_new();
	const char *name = "snapshot's settings.py";

	r->snap_read = true;
	if (text) {
		ms_log_mute(1);
		r->snap_raw = ms_instance_from_settings_text(none, name, text, len);
		r->snap_dbs = ms_instance_from_settings_text(r->req->config, name, text, len);
		ms_log_mute(0);
	}
	ms_free_secret(text);
	ms_config_free(none);
}

/* This machine's database settings: the live settings.py at the instance
 * target (with the config over it), else the config's [db:ALIAS]
 * sections alone. NULL dbs_from with 0: nothing on this machine names a
 * database. */
static int find_db_settings(struct ms_restore *r)
{
	struct ms_instance_opts opts = { 0 };

	read_snapshot_settings(r);
	if (!r->req->root && ms_is_dir(r->live_instance)) {
		opts.instance_dir = r->live_instance;
		opts.dbs_only = true;
		r->dbs_from = ms_instance_discover(r->req->config, &opts);
		return r->dbs_from ? 0 : -1;
	}
	if (r->req->config->n_dbs == 0)
		return 0;
	r->dbs_from = ms_instance_from_config(r->req->config);
	if (!r->dbs_from)
		return -1;
	r->dbs_from->dir = ms_xstrdup(r->live_instance); /* recorded by a safety snapshot's header */
	return 0;
}

static const struct ms_dbconf *conf_of(const struct ms_instance *inst, const char *alias)
{
	for (size_t k = 0; inst && k < inst->n_dbs; k++)
		if (!strcmp(inst->dbs[k].alias, alias))
			return &inst->dbs[k];
	return NULL;
}

/* No database settings on this machine for s: the snapshot's are shown,
 * and used only when accepted. A password of this machine
 * (password_file, admin_password_file) only ever goes to a server this
 * machine names: when the config's [db:ALIAS] names the host, the
 * snapshot's settings are merged with that section; otherwise they are
 * used as they are, with the snapshot's own password, and an admin
 * password is refused. */
static int use_snapshot_conf(struct ms_restore *r, struct ms_restore_db *s)
{
	const struct ms_config_db *c = ms_config_db(r->req->config, s->alias);
	bool host_here = c && c->host;
	const struct ms_dbconf *snap = host_here ? conf_of(r->snap_dbs, s->alias) : conf_of(r->snap_raw, s->alias);
	char *where, *name;

	if (snap && r->req->accept_snapshot) {
		where = ms_db_describe(snap);
		if (!host_here && c && c->admin_user && c->admin_password) {
			ms_log_error("database '%s': admin_password_file of [db:%s] would be sent to %s, which only the "
				     "snapshot names: set host (and port) in [db:%s] to use it", s->alias, s->alias, where,
				     s->alias);
			free(where);
			return -1;
		}
		if (!host_here && c && c->password)
			ms_log_warn("database '%s': the config's password is not sent to %s, which only the snapshot "
				    "names (set host in [db:%s] to use it)", s->alias, where, s->alias);
		free(where);
		s->conf = snap;
		s->from_snapshot = true;
		return 0;
	}
	if (!snap)
		return ms_log_error("database '%s': no connection settings for it on this machine (no settings.py "
				    "at '%s' names it, nor a [db:%s] config section)", s->alias, r->live_instance,
				    s->alias);
	where = ms_db_describe(snap);
	name = ms_printable(snap->name);
	ms_log_error("database '%s': no connection settings for it on this machine (no settings.py at '%s' "
		     "names it, nor a [db:%s] config section); the snapshot's settings.py says %s database '%s' "
		     "on %s: describe it in [db:%s], or pass --accept-snapshot-targets to use the snapshot's",
		     s->alias, r->live_instance, s->alias, ms_db_engine_name(snap->engine), name, where, s->alias);
	free(name);
	free(where);
	return -1;
}

static bool same_server(const struct ms_dbconf *a, const struct ms_dbconf *b)
{
	return a->engine == b->engine && !strcmp(a->name, b->name) && !strcmp(a->host, b->host) &&
	       !strcmp(a->port, b->port) && !strcmp(a->user, b->user);
}

/* Restoring the instance puts the snapshot's settings.py in place: the
 * next run (create, the application) then connects where it says, with
 * this machine's passwords from the config. A settings.py that moves a
 * database elsewhere is refused unless accepted. */
static int check_instance_dbs(struct ms_restore *r)
{
	const struct ms_instance *live = r->live ? r->live : r->dbs_from;

	if (!r->do_instance || !r->snap_dbs || !live || r->req->accept_snapshot)
		return 0;
	for (size_t i = 0; i < r->snap_dbs->n_dbs; i++) {
		const struct ms_dbconf *snap = &r->snap_dbs->dbs[i], *now = conf_of(live, snap->alias);
		char *a, *b;

		if (!now || same_server(snap, now))
			continue;
		a = ms_db_describe(snap);
		b = ms_db_describe(now);
		ms_log_error("the snapshot's settings.py connects database '%s' to %s, this machine's to %s: restoring "
			     "it would send this machine's passwords there on the next run; pass "
			     "--accept-snapshot-targets to restore it anyway", snap->alias, a, b);
		free(a);
		free(b);
		return -1;
	}
	return 0;
}

static int choose_dbs(struct ms_restore *r)
{
	const struct ms_manifest *m = &r->vr.manifest;
	bool any = false;

	for (size_t i = 0; i < m->n_dbs; i++) {
		char *c = ms_xasprintf("db:%s", m->dbs[i].alias);

		any = any || ms_restore_selected(r->req, c);
		free(c);
	}
	if (!any)
		return 0;
	if (find_db_settings(r) < 0)
		return -1;
	r->dbs = ms_xcalloc(m->n_dbs + 1, sizeof(*r->dbs));
	for (size_t i = 0; i < m->n_dbs; i++) {
		char *c = ms_xasprintf("db:%s", m->dbs[i].alias);
		struct ms_restore_db *s;

		if (!ms_restore_selected(r->req, c)) {
			free(c);
			continue;
		}
		free(c);
		s = &r->dbs[r->n_dbs++];
		s->alias = ms_xstrdup(m->dbs[i].alias);
		s->mdb = &m->dbs[i];
		s->snap = conf_of(r->snap_raw, s->alias);
		s->conf = conf_of(r->dbs_from, s->alias);
		if (!s->conf && use_snapshot_conf(r, s) < 0)
			return -1;
		if (strcmp(ms_db_engine_name(s->conf->engine), m->dbs[i].engine) != 0)
			return ms_log_error("database '%s': the snapshot holds a %s dump, but the settings say %s",
					    s->alias, m->dbs[i].engine, ms_db_engine_name(s->conf->engine));
	}
	return 0;
}

/* Room for what the file components will write: the staging tree beside
 * the instance (on its parent's filesystem) and the temporary Postfix
 * files in their directory, from the manifest's sizes, before anything is
 * written. Each entry counts one inode and at least one block; two
 * components on one filesystem add up. */
struct room {
	const char *component;
	char *dir;                   /* the existing directory whose filesystem receives it */
	unsigned long long bytes, inodes;
	struct statvfs fs;
};

static void member_room(const struct ms_manifest *m, const char *prefix, struct room *rm)
{
	size_t plen = strlen(prefix);

	for (size_t i = 0; i < m->n_entries; i++) {
		const struct ms_entry *e = &m->entries[i].e;
		unsigned long long blocks = e->type == MS_ENTRY_FILE ? (e->size + 4095) / 4096 : 0;

		if (strncmp(e->path, prefix, plen) || (e->path[plen] != '/' && e->path[plen]))
			continue;
		rm->bytes += (blocks ? blocks : 1) * 4096;
		rm->inodes++;
	}
}

/* The nearest existing directory at or above path (targets may not exist yet). */
static char *existing_parent(const char *path)
{
	char *p = ms_xstrdup(path);

	while (!ms_is_dir(p) && strcmp(p, "/") != 0) {
		char *up = ms_path_dirname(p);

		free(p);
		p = up;
	}
	return p;
}

static int room_check(const struct room *rm, unsigned long long bytes, unsigned long long inodes)
{
	unsigned long long avail = (unsigned long long)rm->fs.f_bavail * rm->fs.f_frsize;
	char a[MS_SPACE_FMT_MAX], b[MS_SPACE_FMT_MAX];

	if (avail < bytes + FREE_MARGIN)
		return ms_log_error("not enough space for the %s component on the filesystem of '%s': %s needed "
				    "(the snapshot's files and 64 MiB to spare), %s free; nothing was changed",
				    rm->component, rm->dir, ms_space_fmt((long long)(bytes + FREE_MARGIN), a),
				    ms_space_fmt((long long)avail, b));
	if (rm->fs.f_files && rm->fs.f_favail < inodes)
		return ms_log_error("not enough inodes for the %s component on the filesystem of '%s': %llu "
				    "needed, %llu free; nothing was changed", rm->component, rm->dir, inodes,
				    (unsigned long long)rm->fs.f_favail);
	return 0;
}

/* One tree component's room: staged beside its target (same filesystem). */
static void tree_room(const struct ms_restore *r, const char *component, const char *prefix, const char *target,
		      struct room *rm)
{
	char *parent = ms_path_dirname(target);

	rm->component = component;
	rm->dir = existing_parent(parent);
	free(parent);
	member_room(&r->vr.manifest, prefix, rm);
}

static int check_space(const struct ms_restore *r)
{
	struct room rooms[4];
	size_t n = 0;
	int ret = 0;

	memset(rooms, 0, sizeof(rooms));
	if (r->do_instance)
		tree_room(r, "instance", "files/instance", r->instance_target, &rooms[n++]);
	if (r->do_postfix) {
		rooms[n].component = "postfix";
		rooms[n].dir = existing_parent(r->postfix_target);
		member_room(&r->vr.manifest, "files/postfix", &rooms[n++]);
	}
	if (r->do_venv)
		tree_room(r, "venv", "files/venv", r->venv_target, &rooms[n++]);
	if (r->do_mail) /* the whole store: an upper bound for one mailbox */
		tree_room(r, "mail", "files/mail", r->mail_target, &rooms[n++]);
	for (size_t i = 0; i < n && ret == 0; i++)
		if (statvfs(rooms[i].dir, &rooms[i].fs) < 0)
			ret = ms_log_error("unable to read the free space of '%s': %s", rooms[i].dir, strerror(errno));
	for (size_t i = 0; i < n && ret == 0; i++) {
		unsigned long long bytes = rooms[i].bytes, inodes = rooms[i].inodes;

		for (size_t k = 0; k < i; k++)
			if (rooms[k].fs.f_fsid == rooms[i].fs.f_fsid) { /* one filesystem for both */
				bytes += rooms[k].bytes;
				inodes += rooms[k].inodes;
			}
		ret = room_check(&rooms[i], bytes, inodes);
	}
	for (size_t i = 0; i < n; i++)
		free(rooms[i].dir);
	return ret;
}

/* The administrator login of [db:ALIAS], when the config names one. */
static struct ms_db_admin admin_of(const struct ms_restore *r, const char *alias)
{
	return ms_config_db_admin(r->req->config, alias);
}

/* --- connections, before the first write ------------------------------- */

/* The administrator connection of [db:ALIAS] admin_user opens. */
static int check_admin(const struct ms_restore_db *s, const struct ms_db_admin *admin)
{
	struct ms_dbconf as_admin = *s->conf;
	struct ms_db_probe p = { 0 };
	char *alias = ms_xasprintf("%s' as admin '%s", s->alias, admin->user);
	int ret;

	as_admin.alias = alias;
	as_admin.name = (char *)(s->conf->engine == MS_DB_POSTGRESQL ? "postgres" : "information_schema");
	as_admin.user = (char *)admin->user;
	as_admin.password = (char *)admin->password;
	ret = ms_db_probe(&as_admin, &p);
	ms_db_probe_clear(&p);
	free(alias);
	return ret;
}

/* Every connection the restore will need opens now, before anything is
 * written: the application's (or, for a database still to be created, the
 * administrator's that creates it) and the administrator's whenever one
 * is configured. */
static int check_connections(struct ms_restore *r)
{
	for (size_t i = 0; i < r->n_dbs; i++) {
		const struct ms_restore_db *s = &r->dbs[i];
		struct ms_db_admin admin = admin_of(r, s->alias);
		bool has_admin = admin.user != NULL;

		if (has_admin && check_admin(s, &admin) < 0)
			return ms_log_error("database '%s': the admin_user connection of [db:%s] failed: nothing "
					    "was changed", s->alias, s->alias);
		if (s->reachable || has_admin)
			continue;
		if (s->conf->engine == MS_DB_POSTGRESQL) {
			struct ms_db_probe p = { 0 };
			int rc = ms_db_probe(s->conf, &p); /* logs the server's answer */

			ms_db_probe_clear(&p);
			if (rc == 0)
				continue;
		}
		return ms_log_error("database '%s': cannot reach it with this machine's settings and no admin_user "
				    "in [db:%s] could create it: nothing was changed", s->alias, s->alias);
	}
	return 0;
}

/* --- the safety snapshot --------------------------------------------------- */

/* The components that exist now and will be replaced. */
static void safety_components(const struct ms_restore *r, struct ms_strv *only)
{
	if (r->do_instance && !r->req->root && access(r->instance_target, F_OK) == 0)
		ms_strv_push(only, "instance");
	if (r->do_postfix && !r->req->root && r->live && r->live->postfix)
		ms_strv_push(only, "postfix");
	for (size_t i = 0; i < r->n_dbs; i++)
		if (r->dbs[i].reachable)
			ms_strv_push_owned(only, ms_xasprintf("db:%s", r->dbs[i].alias));
}

/* printf on stdout, on a clean line while a progress line is drawn. */
void ms_restore_say(const struct ms_restore *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ms_progress_vprintf(r->req->progress, fmt, ap);
	va_end(ap);
}

/* A snapshot of what is about to be replaced, tagged "safety", in the same
 * destination. The instance it describes is the live one when that can be
 * discovered, else the snapshot's database settings (nothing live to
 * keep of the files then). */
static int safety_snapshot(struct ms_restore *r, const char *dest)
{
	struct ms_strv only = { 0 }, tags = { 0 }, dkim_roots = { 0 }, system_roots = { 0 }, system_files = { 0 };
	struct ms_create_opts o = { 0 };
	struct ms_create_result res = { 0 };
	struct ms_instance *inst = r->live ? r->live : r->dbs_from ? r->dbs_from : r->snap_dbs;
	struct ms_db_probe *probes;
	int ret;

	if (r->req->no_safety || r->req->dry_run)
		return 0;
	safety_components(r, &only);
	ms_restore_server_safety(r, &only, &o, &dkim_roots, &system_roots, &system_files);
	if (only.n == 0) {
		ms_log_info("safety snapshot: nothing to protect (no component exists yet)");
		return 0;
	}
	if (!inst) {
		ms_strv_clear(&only);
		ms_strv_clear(&dkim_roots);
		ms_strv_clear(&system_roots);
		ms_strv_clear(&system_files);
		return ms_log_error("no safety snapshot possible: the live installation cannot be read (use "
				    "--no-safety-snapshot to restore anyway)");
	}
	/* the versions it was taken at, databases included, as create does */
	probes = ms_xcalloc(inst->n_dbs + 1, sizeof(*probes));
	ms_log_mute(1);
	for (size_t i = 0; i < inst->n_dbs; i++)
		ms_db_probe(&inst->dbs[i], &probes[i]);
	ms_log_mute(0);
	ms_strv_push(&tags, "safety");
	o.probes = probes;
	o.dest = dest;
	o.label = r->req->config->label;
	o.tags = &tags;
	o.note = "taken by modosnap restore before replacing these components";
	o.sign_key = r->sign_key;
	o.dump_dbs = true;
	o.only = &only;
	ms_snapshot_install_signal_cleanup();
	ret = ms_snapshot_create(inst, &o, &res);
	if (ret == 0) {
		r->safety_path = ms_xstrdup(res.path);
		ms_restore_say(r, "safety snapshot: %s\n", res.path);
		fflush(stdout);
	} else {
		ms_log_error("the safety snapshot failed: nothing was restored");
	}
	ms_create_result_clear(&res);
	ms_strv_clear(&only);
	ms_strv_clear(&tags);
	ms_strv_clear(&dkim_roots);
	ms_strv_clear(&system_roots);
	ms_strv_clear(&system_files);
	for (size_t i = 0; i < inst->n_dbs; i++)
		ms_db_probe_clear(&probes[i]);
	free(probes);
	return ret;
}

/* --- doing it ------------------------------------------------------------- */

/* ".<name>.modosnap-restore" beside the target: same filesystem. */
char *ms_restore_staging_of(const char *target)
{
	char *dir = ms_path_dirname(target), *s;

	s = ms_xasprintf("%s/.%s.modosnap-restore", dir, ms_path_basename(target));
	free(dir);
	return s;
}

/* One tree component (prefix, whose member is a directory): staged
 * beside target, each file checked as written, then swapped in with one
 * rename; the old tree removed. */
int ms_restore_tree(struct ms_restore *r, const char *component, const char *prefix, const char *target)
{
	struct ms_files_stats st = { 0 };
	char *staging = ms_restore_staging_of(target), *parent = ms_path_dirname(target);
	int ret = -1;

	if (ms_mkdir_p(parent) < 0)
		goto out;
	if (access(staging, F_OK) == 0) {
		ms_log_warn("removing '%s', left behind by an interrupted restore", staging);
		if (ms_files_remove_tree(staging) < 0)
			goto out;
	}
	ms_progress_component(r->req->progress, component);
	if (ms_files_stage(r->archive, &r->vr.manifest, prefix, staging, &st, r->req->progress) < 0)
		goto out;
	ms_test_stall("files-swap");
	if (ms_files_swap(staging, target, ms_manifest_find(&r->vr.manifest, prefix)) < 0) {
		ms_files_remove_tree(staging);
		goto out;
	}
	ms_restore_say(r, "restored %s: %lu files, %lu directories, %lu symlinks, %lu hardlinks into %s\n", component,
		       st.files, st.dirs, st.symlinks, st.hardlinks, target);
	ms_restore_say_owners(r, &st);
	ret = 0;
out:
	free(staging);
	free(parent);
	return ret;
}

void ms_restore_say_owners(const struct ms_restore *r, const struct ms_files_stats *st)
{
	if (st->owners_by_id)
		ms_restore_say(r, "  %lu entries owned by a user or group name this machine lacks: restored by id\n",
			       st->owners_by_id);
}

static int restore_postfix(struct ms_restore *r)
{
	struct ms_files_stats st = { 0 };

	if (ms_mkdir_p(r->postfix_target) < 0)
		return -1;
	ms_progress_component(r->req->progress, "postfix");
	if (ms_files_replace_each(r->archive, &r->vr.manifest, "files/postfix", r->postfix_target, &st,
				  r->req->progress) < 0)
		return -1;
	ms_restore_say(r, "restored postfix: %lu files into %s\n", st.files, r->postfix_target);
	return 0;
}

static int restore_db(struct ms_restore *r, const struct ms_restore_db *s)
{
	struct ms_db_admin admin = admin_of(r, s->alias);
	int ret;

	if (s->conf->engine == MS_DB_MYSQL) {
		ret = ms_my_restore_database(s->conf, &admin, r->archive, &r->vr.manifest, s->alias, r->req->progress);
	} else {
		if (ms_pg_ensure_database(s->conf, &admin, s->mdb->encoding) < 0)
			return -1;
		ret = ms_pg_restore_database(s->conf, &admin, r->archive, &r->vr.manifest, s->alias, r->req->progress);
	}
	if (ret == 0)
		ms_restore_say(r, "restored db:%s: %zu tables into database '%s'\n", s->alias, s->mdb->n_tables, s->conf->name);
	return ret;
}

static int restore_all(struct ms_restore *r)
{
	fflush(stdout);
	if (r->do_instance && ms_restore_tree(r, "instance", "files/instance", r->instance_target) < 0)
		return -1;
	if (r->do_postfix && restore_postfix(r) < 0)
		return -1;
	for (size_t i = 0; i < r->n_dbs; i++)
		if (restore_db(r, &r->dbs[i]) < 0)
			return -1;
	return ms_restore_server_run(r);
}

/* --- proof ---------------------------------------------------------------- */

static int report(struct ms_restore *r)
{
	unsigned long n;
	int bad = 0;

	ms_restore_say(r, "verification (recomputed from the live system):\n");
	if (r->do_instance) {
		if (ms_files_check_live(&r->vr.manifest, "files/instance", r->instance_target, false, &n) < 0)
			bad++;
		else
			ms_restore_say(r, "  ok: instance: %lu entries match the snapshot\n", n);
	}
	if (r->do_postfix) {
		if (ms_files_check_live(&r->vr.manifest, "files/postfix", r->postfix_target, true, &n) < 0)
			bad++;
		else
			ms_restore_say(r, "  ok: postfix: %lu files match the snapshot\n", n);
	}
	for (size_t i = 0; i < r->n_dbs; i++) {
		const struct ms_restore_db *s = &r->dbs[i];
		/* The engines prove every table before the change is made
		 * visible, and restore_all stops at the first database that
		 * fails, so a database here passed its proof; reading every
		 * table again would only repeat it. PostgreSQL: read back inside
		 * the restore transaction after the dump's last statement, and
		 * COMMIT makes visible exactly what was read. MariaDB: read in
		 * the staging database; RENAME TABLE moves those tables
		 * unchanged, and schema-post.sql, run after it, may create no
		 * table and run no statement that writes rows (sqlcheck.c). */
		ms_restore_say(r, "  ok: db:%s: %zu tables, rows and digests match the snapshot\n", s->alias,
			       s->mdb->n_tables);
	}
	bad += ms_restore_server_report(r);
	if (bad)
		return ms_log_error("%d component(s) differ from the snapshot after the restore", bad);
	ms_restore_say(r, "next steps: restart the Modoboa application server (uwsgi/gunicorn) and its workers, "
	       "dovecot and amavis, then run 'postfix reload'%s\n",
	       r->safety_path ? "; the safety snapshot above undoes this restore" : "");
	return 0;
}

/* --- the engine's steps ---------------------------------------------------- */

/* The live installation, when there is one to read (quietly: on a fresh
 * machine there is not). */
static void discover_live(struct ms_restore *r)
{
	struct ms_instance_opts opts = r->req->inst;

	opts.instance_dir = r->live_instance;
	opts.postfix_dir = r->live_postfix; /* the one being restored: its files go into the safety snapshot */
	if (r->req->root || access(opts.instance_dir, F_OK) != 0)
		return;
	ms_log_mute(1);
	r->live = ms_instance_discover(r->req->config, &opts);
	ms_log_mute(0);
}

enum ms_restore_status ms_restore_open(struct ms_restore *r, const struct ms_restore_request *req)
{
	int lock;

	r->req = req;
	r->lock = -1;
	ms_pg_restore_set_lock_timeout(req->config->lock_timeout);
	ms_my_restore_set_lock_timeout(req->config->lock_timeout);
	r->archive = ms_dest_select(req->dest, req->selector);
	if (!r->archive)
		return MS_RESTORE_FAILED;
	if (req->dry_run)
		return MS_RESTORE_OK;
	/* one run per destination: the safety snapshot goes there */
	if (ms_dest_prepare(req->dest) < 0)
		return MS_RESTORE_FAILED;
	lock = ms_dest_lock_wait(req->dest, 0, req->lock_holder);
	if (lock < 0)
		return lock == -2 ? MS_RESTORE_LOCKED : MS_RESTORE_FAILED;
	r->lock = lock;
	return MS_RESTORE_OK;
}

/* Verify, check for hostile content, decide the targets. */
enum ms_restore_status ms_restore_prepare(struct ms_restore *r)
{
	/* the dumps' SQL members are kept as verification reads them, for the
	 * statement checker below: one read of the archive instead of one more
	 * per database */
	const struct ms_verify_keep keep = MS_SQLCHECK_KEEP;
	enum ms_verify_status st = ms_verify_archive_keeping(r->archive, &r->vr, &keep);

	if (st != MS_VERIFY_OK)
		return st == MS_VERIFY_BAD ? MS_RESTORE_VERIFY : MS_RESTORE_FAILED;
	if (ms_sign_check_trust(&r->vr, ms_config_signing_key(r->req->config), ms_config_trusted_keys(r->req->config),
				r->req->allow_unsigned, r->archive) < 0)
		return MS_RESTORE_VERIFY;
	ms_log_mute(1); /* accepted; but signed by a trusted key? */
	r->trusted = ms_sign_check_trust(&r->vr, ms_config_signing_key(r->req->config),
					 ms_config_trusted_keys(r->req->config), false, r->archive) == 0;
	ms_log_mute(0);
	if (ms_files_check_manifest(&r->vr.manifest) < 0)
		return MS_RESTORE_VERIFY;
	if (check_only(r) < 0)
		return MS_RESTORE_USAGE;
	if (choose_files(r) < 0 || choose_dbs(r) < 0)
		return MS_RESTORE_FAILED;
	/* dump SQL of a kind a dump never writes makes the archive hostile:
	 * refused before the plan and the first write, --dry-run included */
	for (size_t i = 0; i < r->n_dbs; i++)
		if (ms_sqlcheck_verified(r->archive, &r->vr, r->dbs[i].mdb, r->dbs[i].conf->user) < 0)
			return MS_RESTORE_VERIFY;
	discover_live(r);
	if (ms_restore_server_choose(r) < 0)
		return MS_RESTORE_FAILED;
	if (!r->snap_read && r->do_instance)
		read_snapshot_settings(r);
	return check_instance_dbs(r) < 0 ? MS_RESTORE_FAILED : MS_RESTORE_OK;
}

int ms_restore_db_now(const struct ms_restore *r, struct ms_restore_db *s, struct ms_table_count **now, size_t *n)
{
	struct ms_db_admin admin = admin_of(r, s->alias);
	/* without the snapshot's tables, an engine counts rows and reads no digest */
	const struct ms_manifest_db *mdb = r->req->plan_unseen ? NULL : s->mdb;
	int rc;

	ms_log_mute(1);
	rc = s->conf->engine == MS_DB_MYSQL ? ms_my_table_counts(s->conf, &admin, mdb, now, n)
					    : ms_pg_table_counts(s->conf, mdb, now, n);
	ms_log_mute(0);
	s->reachable = rc == 0;
	return rc;
}

enum ms_restore_status ms_restore_check(struct ms_restore *r)
{
	if (r->req->dry_run)
		return MS_RESTORE_OK;
	if (check_space(r) < 0 || check_connections(r) < 0)
		return MS_RESTORE_FAILED;
	if (!r->req->no_safety) {
		/* the safety snapshot is signed like any other: a missing or
		 * unreadable key stops the run before the first write */
		r->sign_key = ms_sign_key_load_or_create(ms_config_signing_key(r->req->config));
		if (!r->sign_key)
			return MS_RESTORE_FAILED;
	}
	return MS_RESTORE_OK;
}

/* The bytes restoring the chosen components reads from the archive:
 * the progress line's total. */
static uint64_t bytes_to_restore(const struct ms_restore *r)
{
	const struct ms_manifest *m = &r->vr.manifest;
	uint64_t sum = 0;

	if (r->do_instance)
		sum += ms_progress_member_bytes(m, "files/instance/");
	if (r->do_postfix)
		sum += ms_progress_member_bytes(m, "files/postfix/");
	for (size_t i = 0; i < r->n_dbs; i++) {
		char *prefix = ms_xasprintf("db/%s/", r->dbs[i].alias);

		sum += ms_progress_member_bytes(m, prefix);
		free(prefix);
	}
	return sum + ms_restore_server_bytes(r);
}

enum ms_restore_status ms_restore_run(struct ms_restore *r)
{
	struct ms_progress *p = r->req->progress;

	if (p)
		atomic_store(&p->total, bytes_to_restore(r));
	ms_progress_component(p, "safety snapshot");
	if (safety_snapshot(r, r->req->dest) < 0)
		return MS_RESTORE_FAILED;
	if (restore_all(r) < 0) {
		if (r->safety_path)
			ms_log_error("the restore stopped; each component is either as before or fully restored, and "
				     "'%s' holds what was there", r->safety_path);
		return MS_RESTORE_FAILED;
	}
	ms_progress_component(p, "checking the result");
	return report(r) < 0 ? MS_RESTORE_VERIFY : MS_RESTORE_OK;
}

void ms_restore_clear(struct ms_restore *r)
{
	if (r->lock >= 0)
		close(r->lock);
	free((char *)r->archive);
	for (size_t i = 0; i < r->n_dbs; i++)
		free(r->dbs[i].alias);
	free(r->dbs);
	ms_instance_free(r->dbs_from);
	ms_instance_free(r->snap_dbs);
	ms_instance_free(r->snap_raw);
	ms_instance_free(r->live);
	free(r->live_instance);
	free(r->live_postfix);
	free(r->instance_target);
	free(r->postfix_target);
	free(r->safety_path);
	ms_restore_server_clear(r);
	ms_sign_key_free(r->sign_key);
	ms_verify_result_clear(&r->vr);
	memset(r, 0, sizeof(*r));
	r->lock = -1;
}
