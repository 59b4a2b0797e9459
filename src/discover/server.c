/*
 * Discovery of the server around an instance (see server.h). The system
 * component is found by content: a file in a well-known location is a
 * root when it names the instance directory, the virtualenv, a Modoboa
 * database or the DKIM directory, because those are the files an upgrade
 * edits and a restore must put back; unrelated files beside them are left
 * alone. Well-known locations are looked up under the system root; a
 * path read from the database or from a configuration file is used as
 * written (it names this machine's file, whatever the root).
 */
#include "discover/server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "discover/config.h"
#include "discover/instance.h"
#include "discover/postfix.h"
#include "discover/pysettings.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "base/util.h"

#define SCAN_MAX_SIZE (4 * 1024 * 1024) /* a configuration file larger than this is not read */
#define SCAN_MAX_DEPTH 8

enum loc_kind { LOC_FILE, LOC_FLAT, LOC_TREE };

/* The well-known locations of the system component (logical paths). */
static const struct location {
	const char *path;
	enum loc_kind kind;
} locations[] = {
	{ "/etc/cron.d", LOC_FLAT },
	{ "/etc/uwsgi/apps-available", LOC_FLAT },
	{ "/etc/uwsgi/apps-enabled", LOC_FLAT },
	{ "/etc/supervisor/conf.d", LOC_FLAT },
	{ "/etc/dovecot", LOC_TREE },
	{ "/etc/nginx/sites-available", LOC_FLAT },
	{ "/etc/nginx/sites-enabled", LOC_FLAT },
	{ "/etc/rspamd/local.d", LOC_FLAT },
	{ "/etc/opendkim.conf", LOC_FILE },
	{ "/etc/radicale", LOC_TREE },
	{ "/etc/sudoers.d", LOC_FLAT },
};
#define N_LOCATIONS (sizeof(locations) / sizeof(locations[0]))

/* What a file must name to be captured, and the reason given. */
struct needle {
	char *text;
	char *reason;
};

/* State of one discovery run. */
struct scan {
	const char *root;        /* the system root, "/" or a directory */
	struct ms_server *out;
	struct needle *needles;
	size_t n_needles;
	struct ms_strv links;    /* logical paths of symlinks met in the locations */
	char *mail_location, *mail_location_in; /* first Dovecot mail_location and its file */
	char *mail_home, *mail_home_in;
};

/* --- paths ------------------------------------------------------------------- */

/* path is dir or below it (both logical, absolute, no trailing '/'). */
static bool path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return path[0] == '/';
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Where logical path `path` is on this machine under the root. */
static char *under_root(const char *root, const char *path)
{
	return strcmp(root, "/") == 0 ? ms_xstrdup(path) : ms_path_join(root, path);
}

/* `path` lexically normalised: "." and empty components dropped, ".."
 * removes the previous one (never above '/'). path is absolute. */
static char *normalize(const char *path)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	const char *s = path;

	while (*s) {
		size_t len;

		while (*s == '/')
			s++;
		len = strcspn(s, "/");
		if (len == 0)
			break;
		if (len == 2 && strncmp(s, "..", 2) == 0) {
			char *slash = sb.len ? strrchr(sb.buf, '/') : NULL;

			if (slash) {
				sb.len = (size_t)(slash - sb.buf);
				sb.buf[sb.len] = '\0';
			}
		} else if (!(len == 1 && s[0] == '.')) {
			ms_strbuf_addch(&sb, '/');
			ms_strbuf_add(&sb, s, len);
		}
		s += len;
	}
	if (sb.len == 0)
		ms_strbuf_addch(&sb, '/');
	return ms_strbuf_detach(&sb);
}

/* --- the roots --------------------------------------------------------------- */

/* Adds a root unless it is one already or lies inside one; a new root
 * replaces the ones inside it. Takes reason and file. */
static void found_add(struct ms_found **v, size_t *n, const char *path, char *reason, char *file)
{
	size_t j = 0;

	for (size_t i = 0; i < *n; i++)
		if (path_under(path, (*v)[i].path)) {
			free(reason);
			free(file);
			return;
		}
	for (size_t i = 0; i < *n; i++) {
		if (path_under((*v)[i].path, path)) {
			free((*v)[i].path);
			free((*v)[i].reason);
			free((*v)[i].file);
			continue;
		}
		(*v)[j++] = (*v)[i];
	}
	*n = j;
	*v = ms_xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[*n] = (struct ms_found){ ms_xstrdup(path), reason, file };
	(*n)++;
}

static void found_remove_under(struct ms_found *v, size_t *n, const char *dir)
{
	size_t j = 0;

	for (size_t i = 0; i < *n; i++) {
		if (path_under(v[i].path, dir)) {
			free(v[i].path);
			free(v[i].reason);
			free(v[i].file);
			continue;
		}
		v[j++] = v[i];
	}
	*n = j;
}

static bool found_covers(const struct ms_found *v, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (path_under(path, v[i].path))
			return true;
	return false;
}

static int found_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ms_found *)a)->path, ((const struct ms_found *)b)->path);
}

/* A root of the system component found in a well-known location. */
static void add_system(struct scan *s, const char *logical, char *reason)
{
	found_add(&s->out->system, &s->out->n_system, logical, reason, under_root(s->root, logical));
}

/* A root named as written (database, configuration file, [paths]). */
static void add_as_written(struct ms_found **v, size_t *n, const char *path, char *reason)
{
	char *p = normalize(path);

	found_add(v, n, p, reason, ms_xstrdup(p));
	free(p);
}

/* --- reading ----------------------------------------------------------------- */

/* The content of regular file `file` (never through a symlink), or NULL
 * with a warning when it cannot be read; a missing file is NULL silently. */
static char *read_text(const char *file, size_t *len)
{
	char *buf = NULL;
	struct stat st;
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);

	if (fd < 0) {
		if (errno != ENOENT && errno != ELOOP)
			ms_log_warn("unable to read '%s': %s; skipped", file, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > SCAN_MAX_SIZE)
		goto out;
	buf = ms_xmalloc((size_t)st.st_size + 1);
	if (ms_read_fd(fd, buf, (size_t)st.st_size, len) < 0) {
		ms_log_warn("unable to read '%s': %s; skipped", file, strerror(errno));
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[*len] = '\0';
out:
	close(fd);
	return buf;
}

static bool is_word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
	       c == '.';
}

/* text names `word`: an occurrence not glued to a longer name on either
 * side ("/srv/modoboa/instance" is named by "/srv/modoboa/instance/x",
 * not by "/srv/modoboa/instance2"; database "modoboa" by "dbname=modoboa",
 * not by "modoboa_x" nor by a path component as in "/srv/modoboa/env"). */
static bool names(const char *text, size_t len, const char *word)
{
	size_t wl = strlen(word);
	const char *p = text, *end = text + len;

	if (wl == 0)
		return false;
	while ((p = memmem(p, (size_t)(end - p), word, wl)) != NULL) {
		bool left = p == text || word[0] == '/' || !(is_word_char(p[-1]) || p[-1] == '/');
		bool right = p + wl == end || !(is_word_char(p[wl]) || (word[0] != '/' && p[wl] == '/'));

		if (left && right)
			return true;
		p++;
	}
	return false;
}

static void add_needle(struct scan *s, const char *text, char *reason)
{
	s->needles = ms_xrealloc(s->needles, (s->n_needles + 1) * sizeof(*s->needles));
	s->needles[s->n_needles++] = (struct needle){ ms_xstrdup(text), reason };
}

/* A path needle, also as the logical path when it lies under the root
 * (a tree laid out under a test or a mounted disk may name either). */
static void add_path_needle(struct scan *s, const char *path, const char *what)
{
	if (!path || !*path)
		return;
	add_needle(s, path, ms_xasprintf("names the %s %s", what, path));
	if (strcmp(s->root, "/") != 0 && path_under(path, s->root) && strlen(path) > strlen(s->root))
		add_needle(s, path + strlen(s->root), ms_xasprintf("names the %s %s", what, path));
}

/* --- Dovecot's mail location ------------------------------------------------- */

/* `key = value` on a line of a Dovecot file: the value (caller frees). */
static char *dovecot_setting(const char *text, const char *key)
{
	size_t kl = strlen(key);

	for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		const char *p = line + strspn(line, " \t"), *v, *e;

		if (strncmp(p, key, kl) != 0)
			continue;
		p += kl;
		p += strspn(p, " \t");
		if (*p != '=')
			continue;
		v = p + 1 + strspn(p + 1, " \t");
		e = v + strcspn(v, "#\r\n");
		while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e > v)
			return ms_xstrndup(v, (size_t)(e - v));
	}
	return NULL;
}

/* Keeps the first mail_location and mail_home met; whether text sets either. */
static bool remember_mail(struct scan *s, const char *text, const char *logical)
{
	char *loc = dovecot_setting(text, "mail_location"), *home = dovecot_setting(text, "mail_home");
	bool any = loc || home;

	if (loc && !s->mail_location) {
		s->mail_location = loc;
		s->mail_location_in = ms_xstrdup(logical);
		loc = NULL;
	}
	if (home && !s->mail_home) {
		s->mail_home = home;
		s->mail_home_in = ms_xstrdup(logical);
		home = NULL;
	}
	free(loc);
	free(home);
	return any;
}

/* Splits a Dovecot path such as "maildir:/srv/vmail/%d/%n/Maildir:LAYOUT=fs"
 * into the root before the first '%' component ("/srv/vmail") and the
 * '%' components ("%d/%n"; a trailing Maildir suffix dropped). -1 when
 * the path is not absolute or has no root. */
static int split_mail_path(const char *value, char **dir, char **layout)
{
	const char *p = value, *colon;
	char *path, *pct, *slash, *end;

	if (strncmp(p, "maildir:", 8) == 0)
		p += 8;
	if (*p != '/')
		return -1;
	colon = strchr(p, ':');
	path = colon ? ms_xstrndup(p, (size_t)(colon - p)) : ms_xstrdup(p);
	pct = strchr(path, '%');
	if (!pct) {
		*dir = normalize(path);
		*layout = NULL;
		free(path);
		return 0;
	}
	slash = pct;
	while (slash > path && *slash != '/')
		slash--;
	if (slash == path) {
		free(path);
		return -1;
	}
	*slash = '\0';
	*dir = normalize(path);
	end = strrchr(slash + 1, '%');
	end = end ? strchr(end, '/') : NULL;
	*layout = end ? ms_xstrndup(slash + 1, (size_t)(end - slash - 1)) : ms_xstrdup(slash + 1);
	free(path);
	return 0;
}

static void settle_mail(struct scan *s, const struct ms_config *cfg)
{
	struct ms_server *o = s->out;
	char *dir = NULL, *layout = NULL;

	if (s->mail_location && split_mail_path(s->mail_location, &dir, &layout) == 0)
		o->mail_from = ms_xasprintf("dovecot mail_location in %s", s->mail_location_in);
	else if (s->mail_home && split_mail_path(s->mail_home, &dir, &layout) == 0)
		o->mail_from = ms_xasprintf("dovecot mail_home in %s", s->mail_home_in);
	o->mail_dir = dir;
	o->mail_layout = layout;
	if (cfg && cfg->mail_dir) {
		free(o->mail_dir);
		free(o->mail_from);
		o->mail_dir = normalize(cfg->mail_dir);
		o->mail_from = ms_xstrdup("config");
		if (!o->mail_layout)
			o->mail_layout = ms_xstrdup("%d/%n");
	}
}

/* --- the well-known locations ------------------------------------------------ */

/* A regular file of a location: a root when it names a needle (or, under
 * /etc/dovecot, sets the mail location). */
static void scan_file(struct scan *s, const char *logical, bool dovecot)
{
	char *file = under_root(s->root, logical), *text, *reason = NULL;
	size_t len = 0;

	text = read_text(file, &len);
	free(file);
	if (!text)
		return;
	if (dovecot && remember_mail(s, text, logical))
		reason = ms_xstrdup("sets Dovecot's mail location");
	for (size_t i = 0; !reason && i < s->n_needles; i++)
		if (names(text, len, s->needles[i].text))
			reason = ms_xstrdup(s->needles[i].reason);
	if (reason)
		add_system(s, logical, reason);
	free(text);
}

static void scan_dir(struct scan *s, const char *logical, bool recursive, bool dovecot, int depth)
{
	char *dir = under_root(s->root, logical);
	struct dirent **ents = NULL;
	int n = scandir(dir, &ents, NULL, alphasort);

	if (n < 0) {
		if (errno != ENOENT && errno != ENOTDIR)
			ms_log_warn("unable to list '%s': %s; skipped", dir, strerror(errno));
		free(dir);
		return;
	}
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		char *child, *file;
		struct stat st;

		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
			free(ents[i]);
			continue;
		}
		child = ms_path_join(logical, name);
		file = ms_path_join(dir, name);
		if (lstat(file, &st) == 0) {
			if (S_ISREG(st.st_mode))
				scan_file(s, child, dovecot);
			else if (S_ISLNK(st.st_mode))
				ms_strv_push(&s->links, child);
			else if (S_ISDIR(st.st_mode) && recursive && depth < SCAN_MAX_DEPTH)
				scan_dir(s, child, recursive, dovecot, depth + 1);
		}
		free(child);
		free(file);
		free(ents[i]);
	}
	free(ents);
	free(dir);
}

/* A symlink of a location is a root when what it points to is one
 * (apps-enabled/modoboa.ini -> ../apps-available/modoboa.ini); the link
 * itself is kept, never followed. Repeated for links to links. */
static void scan_links(struct scan *s)
{
	bool added = true;

	while (added) {
		added = false;
		for (size_t i = 0; i < s->links.n; i++) {
			const char *link = s->links.v[i];
			char *file = under_root(s->root, link), target[4096], *dir, *joined, *norm;
			ssize_t len = readlink(file, target, sizeof(target) - 1);

			free(file);
			if (len <= 0 || found_covers(s->out->system, s->out->n_system, link))
				continue;
			target[len] = '\0';
			dir = ms_path_dirname(link);
			joined = target[0] == '/' ? ms_xstrdup(target) : ms_path_join(dir, target);
			norm = normalize(joined);
			if (found_covers(s->out->system, s->out->n_system, norm)) {
				add_system(s, link, ms_xasprintf("link to %s", norm));
				added = true;
			}
			free(dir);
			free(joined);
			free(norm);
		}
	}
}

static void scan_locations(struct scan *s)
{
	for (size_t i = 0; i < N_LOCATIONS; i++) {
		const struct location *l = &locations[i];
		bool dovecot = strcmp(l->path, "/etc/dovecot") == 0;

		if (l->kind == LOC_FILE)
			scan_file(s, l->path, false);
		else
			scan_dir(s, l->path, l->kind == LOC_TREE, dovecot, 0);
	}
	scan_links(s);
}

/* --- Postfix side files ------------------------------------------------------ */

/* A file of the Postfix component itself. */
static bool in_postfix_component(const struct ms_postfix *pf, const char *path)
{
	if ((pf->main_cf && strcmp(path, pf->main_cf) == 0) || (pf->master_cf && strcmp(path, pf->master_cf) == 0) ||
	    (pf->chk_path && strcmp(path, pf->chk_path) == 0))
		return true;
	for (size_t i = 0; i < pf->n_maps; i++)
		if (strcmp(path, pf->maps[i].path) == 0)
			return true;
	return false;
}

/* `$config_directory/x` and `${config_directory}/x` are the Postfix directory. */
static char *expand_postfix_path(const char *raw, const char *pfdir)
{
	static const char *const vars[] = { "${config_directory}", "$config_directory", "$(config_directory)" };

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		if (strncmp(raw, vars[i], strlen(vars[i])) == 0)
			return ms_xasprintf("%s%s", pfdir, raw + strlen(vars[i]));
	return ms_xstrdup(raw);
}

static void add_side_file(struct scan *s, const struct ms_postfix *pf, const char *path, const char *type,
			  const char *cf)
{
	struct stat st;

	if (in_postfix_component(pf, path) || lstat(path, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
		return;
	add_as_written(&s->out->system, &s->out->n_system, path,
		       ms_xasprintf("side file named by %s (%s:)", ms_path_basename(cf), type));
}

/* Every `TYPE:/path` of main.cf or master.cf: cidr, pcre and regexp
 * tables are their file; hash, btree and lmdb tables are their source
 * and the indexed file postmap makes of it. */
static void scan_side_files(struct scan *s, const struct ms_postfix *pf, const char *cf)
{
	static const struct { const char *type; const char *suffix; } types[] = {
		{ "cidr", NULL }, { "pcre", NULL }, { "regexp", NULL },
		{ "hash", ".db" }, { "btree", ".db" }, { "lmdb", ".lmdb" },
	};
	size_t len = 0;
	char *text = read_text(cf, &len);

	if (!text)
		return;
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		size_t tl = strlen(types[t].type);

		for (const char *p = text; (p = strstr(p, types[t].type)) != NULL; p += tl) {
			char *raw, *path, *indexed;
			size_t pl;

			if ((p > text && (is_word_char(p[-1]) && p[-1] != '.')) || p[tl] != ':')
				continue;
			pl = strcspn(p + tl + 1, " \t\r\n,");
			if (pl == 0)
				continue;
			raw = ms_xstrndup(p + tl + 1, pl);
			path = expand_postfix_path(raw, pf->dir);
			if (path[0] == '/') {
				add_side_file(s, pf, path, types[t].type, cf);
				if (types[t].suffix) {
					indexed = ms_xasprintf("%s%s", path, types[t].suffix);
					add_side_file(s, pf, indexed, types[t].type, cf);
					free(indexed);
				}
			}
			free(raw);
			free(path);
		}
	}
	free(text);
}

/* --- DKIM -------------------------------------------------------------------- */

static bool exists(const char *path, bool want_dir)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return false;
	return want_dir ? S_ISDIR(st.st_mode) : true;
}

static void discover_dkim(struct ms_server *o, const struct ms_config *cfg, const struct ms_modoboa_params *params)
{
	if (cfg && cfg->dkim_dir) {
		o->dkim_dir = normalize(cfg->dkim_dir);
		o->dkim_from = ms_xstrdup("config");
	} else if (params && params->dkim_dir && params->dkim_dir[0] == '/') {
		o->dkim_dir = normalize(params->dkim_dir);
		o->dkim_from = ms_xstrdup("database (admin.dkim_keys_storage_dir)");
	}
	if (o->dkim_dir && exists(o->dkim_dir, true))
		add_as_written(&o->dkim, &o->n_dkim, o->dkim_dir, ms_xasprintf("DKIM key directory (%s)", o->dkim_from));
	if (!params)
		return;
	for (size_t i = 0; i < params->n_domains; i++) {
		const struct ms_dkim_domain *d = &params->domains[i];

		if (!d->key_path || d->key_path[0] != '/')
			continue;
		if (!exists(d->key_path, false)) {
			if (d->enabled)
				ms_strv_push_owned(&o->dkim_missing, ms_xasprintf("%s: %s", d->name, d->key_path));
			continue;
		}
		o->dkim_keys++;
		add_as_written(&o->dkim, &o->n_dkim, d->key_path,
			       ms_xasprintf("DKIM key of %s (admin_domain)", d->name));
	}
	if (params->rspamd_key_map && params->rspamd_key_map[0] == '/' && exists(params->rspamd_key_map, false))
		add_as_written(&o->dkim, &o->n_dkim, params->rspamd_key_map, ms_xstrdup("database (rspamd.key_map_path)"));
	if (params->rspamd_selector_map && params->rspamd_selector_map[0] == '/' &&
	    exists(params->rspamd_selector_map, false))
		add_as_written(&o->dkim, &o->n_dkim, params->rspamd_selector_map,
			       ms_xstrdup("database (rspamd.selector_map_path)"));
	if (o->n_dkim > 1) /* qsort's base must not be NULL */
		qsort(o->dkim, o->n_dkim, sizeof(*o->dkim), found_cmp);
}

/* --- the encryption key ------------------------------------------------------ */

/* MODOBOA_ENCRYPTION_KEY=value in an .env file (optional `export `,
 * optional quotes). Caller frees (a secret). */
static char *env_file_key(const char *text)
{
	static const char key[] = "MODOBOA_ENCRYPTION_KEY";

	for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		const char *p = line + strspn(line, " \t"), *e;

		if (strncmp(p, "export ", 7) == 0)
			p += 7 + strspn(p + 7, " \t");
		if (strncmp(p, key, sizeof(key) - 1) != 0)
			continue;
		p += sizeof(key) - 1;
		p += strspn(p, " \t");
		if (*p++ != '=')
			continue;
		p += strspn(p, " \t");
		e = p + strcspn(p, "\r\n");
		while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e - p >= 2 && (*p == '"' || *p == '\'') && e[-1] == *p) {
			p++;
			e--;
		}
		return e > p ? ms_xstrndup(p, (size_t)(e - p)) : NULL;
	}
	return NULL;
}

/* The literal MODOBOA_ENCRYPTION_KEY of parsed settings (frees ps). */
static char *settings_key(struct ms_pysettings *ps)
{
	struct ms_py_binding b;
	char *key = NULL;

	if (ps && ms_pysettings_lookup(ps, "MODOBOA_ENCRYPTION_KEY", &b) == 0 && b.value->type == MS_PY_STR)
		key = ms_xstrdup(b.value->str);
	ms_pysettings_free(ps);
	return key;
}

char *ms_encryption_key_from_text(const char *name, const char *settings, size_t len, const char *env)
{
	char *key = NULL;

	if (settings) {
		ms_log_mute(1); /* read for this one key: the settings' own errors are reported elsewhere */
		key = settings_key(ms_pysettings_parse(name, settings, len));
		ms_log_mute(0);
	}
	return key ? key : env ? env_file_key(env) : NULL;
}

char *ms_encryption_key(const struct ms_instance *inst)
{
	char *key = NULL, *env, *text;
	size_t len = 0;

	if (inst->settings_path && access(inst->settings_path, R_OK) == 0)
		key = settings_key(ms_pysettings_load(inst->settings_path));
	if (key || !inst->dir)
		return key;
	env = ms_path_join(inst->dir, ".env");
	text = read_text(env, &len);
	free(env);
	if (text) {
		key = env_file_key(text);
		ms_secure_zero(text, len);
		free(text);
	}
	return key;
}

/* --- the whole run ----------------------------------------------------------- */

static void make_needles(struct scan *s, const struct ms_instance *inst)
{
	add_path_needle(s, inst->dir, "instance directory");
	if (inst->has_venv)
		add_path_needle(s, inst->venv.path, "virtualenv");
	add_path_needle(s, s->out->dkim_dir, "DKIM directory");
	for (size_t i = 0; i < inst->n_dbs; i++)
		if (inst->dbs[i].name && *inst->dbs[i].name)
			add_needle(s, inst->dbs[i].name, ms_xasprintf("names the database '%s' (%s)", inst->dbs[i].name,
								      inst->dbs[i].alias));
}

static void add_configured(struct scan *s, const struct ms_config *cfg, const struct ms_modoboa_params *params)
{
	struct ms_server *o = s->out;

	if (params && params->pdf_dir && params->pdf_dir[0] == '/' && exists(params->pdf_dir, true))
		add_as_written(&o->system, &o->n_system, params->pdf_dir, ms_xstrdup("database (pdfcredentials.storage_dir)"));
	if (params && params->rrd_dir && params->rrd_dir[0] == '/' && exists(params->rrd_dir, true))
		add_as_written(&o->system, &o->n_system, params->rrd_dir, ms_xstrdup("database (maillog.rrd_rootdir)"));
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->paths_include.n; i++) {
		if (exists(cfg->paths_include.v[i], false))
			add_as_written(&o->system, &o->n_system, cfg->paths_include.v[i], ms_xstrdup("[paths] include"));
		else
			ms_log_warn("[paths] include '%s' does not exist; skipped", cfg->paths_include.v[i]);
	}
	for (size_t i = 0; i < cfg->paths_exclude.n; i++)
		found_remove_under(o->system, &o->n_system, cfg->paths_exclude.v[i]);
}

int ms_server_discover(const struct ms_instance *inst, const struct ms_config *cfg, const char *system_root,
		       const struct ms_modoboa_params *params, struct ms_server *out)
{
	struct scan s = { 0 };
	const char *root = system_root ? system_root : cfg && cfg->system_root ? cfg->system_root : "/";

	memset(out, 0, sizeof(*out));
	if (root[0] != '/' || !ms_is_dir(root))
		return ms_log_error("system root '%s' is not an absolute path to a directory", root);
	out->system_root = normalize(root);
	s.root = out->system_root;
	s.out = out;
	discover_dkim(out, cfg, params);
	make_needles(&s, inst);
	scan_locations(&s);
	if (inst->postfix) {
		if (inst->postfix->main_cf)
			scan_side_files(&s, inst->postfix, inst->postfix->main_cf);
		if (inst->postfix->master_cf)
			scan_side_files(&s, inst->postfix, inst->postfix->master_cf);
	}
	add_configured(&s, cfg, params);
	if (out->n_system > 1)
		qsort(out->system, out->n_system, sizeof(*out->system), found_cmp);
	settle_mail(&s, cfg);
	for (size_t i = 0; i < inst->n_dbs; i++)
		out->has_amavis |= strcmp(inst->dbs[i].alias, "amavis") == 0;
	out->encryption_key = ms_encryption_key(inst);
	for (size_t i = 0; i < s.n_needles; i++) {
		free(s.needles[i].text);
		free(s.needles[i].reason);
	}
	free(s.needles);
	ms_strv_clear(&s.links);
	free(s.mail_location);
	free(s.mail_location_in);
	free(s.mail_home);
	free(s.mail_home_in);
	return 0;
}

static void found_free(struct ms_found *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].path);
		free(v[i].reason);
		free(v[i].file);
	}
	free(v);
}

void ms_server_clear(struct ms_server *s)
{
	free(s->system_root);
	free(s->dkim_dir);
	free(s->dkim_from);
	found_free(s->dkim, s->n_dkim);
	ms_strv_clear(&s->dkim_missing);
	found_free(s->system, s->n_system);
	free(s->mail_dir);
	free(s->mail_from);
	free(s->mail_layout);
	ms_free_secret(s->encryption_key);
	memset(s, 0, sizeof(*s));
}

/* --- restore's rule ---------------------------------------------------------- */

bool ms_server_system_allowed_params(const struct ms_config *cfg, const char *postfix_dir,
				     const struct ms_modoboa_params *params, const char *path)
{
	if (path[0] != '/' || strcmp(path, "/") == 0)
		return false;
	for (size_t i = 0; i < N_LOCATIONS; i++)
		if (locations[i].kind == LOC_FILE ? strcmp(path, locations[i].path) == 0
						  : path_under(path, locations[i].path) && strcmp(path, locations[i].path) != 0)
			return true;
	if (postfix_dir && path_under(path, postfix_dir) && strcmp(path, postfix_dir) != 0)
		return true;
	for (size_t i = 0; cfg && i < cfg->paths_include.n; i++)
		if (path_under(path, cfg->paths_include.v[i]))
			return true;
	if (params && ((params->pdf_dir && path_under(path, params->pdf_dir)) ||
		       (params->rrd_dir && path_under(path, params->rrd_dir))))
		return true;
	return false;
}

bool ms_server_system_allowed(const struct ms_config *cfg, const char *postfix_dir, const char *path)
{
	return ms_server_system_allowed_params(cfg, postfix_dir, NULL, path);
}
