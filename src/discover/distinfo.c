/*
 * Python package versions without running Python (see distinfo.h): finds
 * the virtualenv of a Modoboa instance from the config, manage.py's "#!"
 * line or a sibling env/ directory, reads its Python version from
 * pyvenv.cfg, and reads `Name:`/`Version:` from the METADATA file of every
 * `*.dist-info` directory in its site-packages. Discovery probes files that
 * may legitimately be absent, so those reads are quiet; only the final
 * verdict is logged as an error.
 */
#include "discover/distinfo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/strbuf.h"
#include "base/util.h"

#define SMALL_FILE_MAX (1024 * 1024)
#define METADATA_MAX (16 * 1024 * 1024)

struct dist {
	char *key;     /* normalised name, for lookups */
	char *name;    /* as written in METADATA */
	char *version;
};

struct ms_distinfo {
	char *dir;
	struct dist *dists; /* in dist-info directory name order */
	size_t n;
};

/* Reads a regular file without logging: the caller decides whether its
 * absence matters. Returns the NUL-terminated text (caller frees), or NULL
 * with errno set. */
static char *read_quiet(const char *path, size_t max)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	char chunk[8192];
	struct stat st;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0)
		err = errno;
	else if (!S_ISREG(st.st_mode))
		err = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
	while (!err) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			err = errno;
		else if (n == 0)
			break;
		else if (sb.len + (size_t)n > max)
			err = EFBIG;
		else
			ms_strbuf_add(&sb, chunk, (size_t)n);
	}
	close(fd);
	if (err) {
		ms_strbuf_release(&sb);
		errno = err;
		return NULL;
	}
	return ms_strbuf_detach(&sb);
}

/* --- lines of text ---------------------------------------------------------- */

/* Steps through text one line at a time: sets [*start, *end) to the next
 * line without its "\n" or "\r\n" and returns true, false at the end. */
static bool next_line(const char **pos, const char **start, const char **end)
{
	const char *s = *pos, *eol;

	if (!*s)
		return false;
	eol = strchr(s, '\n');
	*pos = eol ? eol + 1 : s + strlen(s);
	*start = s;
	*end = eol ? eol : *pos;
	if (*end > s && (*end)[-1] == '\r')
		(*end)--;
	return true;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* If [s, end) is "NAME<blanks>SEP<blanks>VALUE" with NAME equal to `name`
 * (ignoring case) and a non-empty VALUE, returns a copy of VALUE without
 * trailing blanks; otherwise NULL. */
static char *field_value(const char *s, const char *end, char sep, const char *name)
{
	const char *at = memchr(s, sep, (size_t)(end - s));
	const char *name_end = at;
	size_t len = strlen(name);

	if (!at)
		return NULL;
	while (name_end > s && is_blank(name_end[-1]))
		name_end--;
	if ((size_t)(name_end - s) != len || strncasecmp(s, name, len) != 0)
		return NULL;
	for (at++; at < end && is_blank(*at); at++)
		;
	while (end > at && is_blank(end[-1]))
		end--;
	return end > at ? ms_xstrndup(at, (size_t)(end - at)) : NULL;
}

/* --- METADATA --------------------------------------------------------------- */

int ms_distinfo_parse_metadata(const char *text, char **name, char **version)
{
	const char *pos = text, *s, *e;
	char *n = NULL, *v = NULL;

	while (next_line(&pos, &s, &e) && e > s) {
		if (is_blank(*s))
			continue; /* continuation of a folded header */
		if (!n)
			n = field_value(s, e, ':', "name");
		if (!v)
			v = field_value(s, e, ':', "version");
	}
	if (!n || !v) {
		free(n);
		free(v);
		return -1;
	}
	*name = n;
	*version = v;
	return 0;
}

char *ms_pkg_normalize(const char *name)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;

	for (const char *s = name; *s; s++) {
		if (*s == '-' || *s == '_' || *s == '.') {
			if (sb.len == 0 || sb.buf[sb.len - 1] != '-')
				ms_strbuf_addch(&sb, '-');
		} else if (*s >= 'A' && *s <= 'Z') {
			ms_strbuf_addch(&sb, (char)(*s - 'A' + 'a'));
		} else {
			ms_strbuf_addch(&sb, *s);
		}
	}
	return ms_strbuf_detach(&sb);
}

/* --- the virtualenv --------------------------------------------------------- */

/* Finds <venv>/lib/python3.N/site-packages directories; returns the
 * highest N (and how many there are in *count), or -1 when there is none. */
static long best_python_minor(const char *venv, size_t *count)
{
	char *lib = ms_path_join(venv, "lib");
	DIR *dir = opendir(lib);
	struct dirent *de;
	long best = -1;

	*count = 0;
	while (dir && (de = readdir(dir))) {
		unsigned long minor;
		char *sp;

		if (strncmp(de->d_name, "python3.", 8) != 0 ||
		    ms_parse_ulong(de->d_name + 8, 0, 999, &minor) < 0)
			continue;
		sp = ms_xasprintf("%s/%s/site-packages", lib, de->d_name);
		if (ms_is_dir(sp)) {
			(*count)++;
			if ((long)minor > best)
				best = (long)minor;
		}
		free(sp);
	}
	if (dir)
		closedir(dir);
	free(lib);
	return best;
}

static bool venv_usable(const char *venv)
{
	char *cfg = ms_path_join(venv, "pyvenv.cfg");
	bool ok = ms_is_file(cfg);
	size_t count;

	free(cfg);
	return ok || best_python_minor(venv, &count) >= 0;
}

/* "3.11.2.final.0" -> "3.11.2": at most three dotted numbers. NULL when
 * the text does not start with a digit. */
static char *version_numbers(const char *v)
{
	const char *s = v;

	if (*s < '0' || *s > '9')
		return NULL;
	for (int parts = 0; parts < 3; parts++) {
		while (*s >= '0' && *s <= '9')
			s++;
		if (parts == 2 || s[0] != '.' || s[1] < '0' || s[1] > '9')
			break;
		s++;
	}
	return ms_xstrndup(v, (size_t)(s - v));
}

/* The Python version named by <venv>/pyvenv.cfg (`version`, which the
 * standard venv module writes, else `version_info`, which virtualenv and
 * uv write), or NULL. */
static char *pyvenv_version(const char *venv)
{
	char *path = ms_path_join(venv, "pyvenv.cfg");
	char *text = read_quiet(path, SMALL_FILE_MAX);
	char *version = NULL, *info = NULL, *ret = NULL;
	const char *pos = text, *s, *e;

	while (text && next_line(&pos, &s, &e)) {
		while (s < e && is_blank(*s))
			s++;
		if (!version)
			version = field_value(s, e, '=', "version");
		if (!info)
			info = field_value(s, e, '=', "version_info");
	}
	if (version)
		ret = version_numbers(version);
	if (!ret && info)
		ret = version_numbers(info);
	free(version);
	free(info);
	free(text);
	free(path);
	return ret;
}

/* Fills *v for the virtualenv at `path`, found by `found_by`. */
static int venv_fill(const char *path, const char *found_by, struct ms_venv *v)
{
	size_t count;
	long minor = best_python_minor(path, &count);

	if (minor < 0)
		return ms_log_error("virtualenv '%s' (found by %s) has no lib/python3.*/site-packages "
				    "directory", path, found_by);
	if (count > 1)
		ms_log_debug("virtualenv '%s' has %zu lib/python3.*/site-packages directories: "
			     "using python3.%ld", path, count, minor);
	v->path = ms_xstrdup(path);
	v->found_by = ms_xstrdup(found_by);
	v->site_packages = ms_xasprintf("%s/lib/python3.%ld/site-packages", path, minor);
	v->python_version = pyvenv_version(path);
	if (!v->python_version)
		v->python_version = ms_xasprintf("3.%ld", minor);
	ms_log_debug("virtualenv '%s' (found by %s), python %s", path, found_by, v->python_version);
	return 0;
}

/* The virtualenv named by manage.py's "#!" line (".../bin/python3" gives
 * "..."), or NULL. *seen describes what was found, for the error message. */
static char *manage_py_venv(const char *instance_dir, char **seen)
{
	char *path = ms_path_join(instance_dir, "manage.py");
	char *text = read_quiet(path, SMALL_FILE_MAX);
	char *cmd = NULL, *interp = NULL, *bin = NULL, *venv = NULL;
	const char *pos = text, *s, *e, *t;

	if (!text) {
		*seen = ms_xasprintf("'%s' (%s)", path, strerror(errno));
		goto out;
	}
	if (!next_line(&pos, &s, &e) || e - s < 2 || strncmp(s, "#!", 2) != 0) {
		*seen = ms_xasprintf("'%s' (no #! line)", path);
		goto out;
	}
	for (s += 2; s < e && is_blank(*s); s++)
		;
	while (e > s && is_blank(e[-1]))
		e--;
	cmd = ms_xstrndup(s, (size_t)(e - s));
	*seen = ms_xasprintf("manage.py interpreter '%s'", cmd);
	for (t = s; t < e && !is_blank(*t); t++)
		;
	interp = ms_xstrndup(s, (size_t)(t - s));
	bin = ms_path_dirname(interp);
	/* Not realpath(): bin/python3 is a symlink out of the virtualenv. */
	if (interp[0] == '/' && strcmp(ms_path_basename(bin), "bin") == 0)
		venv = ms_path_dirname(bin);
out:
	free(bin);
	free(interp);
	free(cmd);
	free(text);
	free(path);
	return venv;
}

/* <parent of instance_dir>/env */
static char *sibling_env(const char *instance_dir)
{
	size_t len = strlen(instance_dir);
	char *dir, *parent, *env;

	while (len > 1 && instance_dir[len - 1] == '/')
		len--;
	dir = ms_xstrndup(instance_dir, len);
	parent = ms_path_dirname(dir);
	env = ms_path_join(parent, "env");
	free(parent);
	free(dir);
	return env;
}

static int venv_not_found(const char *instance_dir, const struct ms_strv *looked)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;

	for (size_t i = 0; i < looked->n; i++)
		ms_strbuf_addf(&sb, "%s%s", i ? ", " : "", looked->v[i]);
	ms_log_error("no virtualenv found for instance '%s' (looked at: %s); set 'venv' in the "
		     "config file", instance_dir, ms_strbuf_str(&sb));
	ms_strbuf_release(&sb);
	return -1;
}

int ms_venv_find(const char *instance_dir, const char *override, struct ms_venv *out)
{
	struct ms_venv v = { 0 };
	struct ms_strv looked = { 0 };
	char *seen = NULL, *cand;
	int ret = -1;

	if (override) {
		if (!venv_usable(override))
			return ms_log_error("virtualenv '%s' set in the config file has neither "
					    "pyvenv.cfg nor lib/python3.*/site-packages", override);
		ret = venv_fill(override, "config", &v);
		goto out;
	}
	cand = manage_py_venv(instance_dir, &seen);
	ms_strv_push_owned(&looked, seen);
	if (cand && venv_usable(cand)) {
		ret = venv_fill(cand, "manage.py", &v);
	} else {
		free(cand);
		cand = sibling_env(instance_dir);
		ms_strv_push_owned(&looked, ms_xasprintf("'%s'", cand));
		if (venv_usable(cand))
			ret = venv_fill(cand, "sibling env/", &v);
		else
			venv_not_found(instance_dir, &looked);
	}
	free(cand);
out:
	ms_strv_clear(&looked);
	if (ret == 0)
		*out = v;
	return ret;
}

void ms_venv_clear(struct ms_venv *v)
{
	if (!v)
		return;
	free(v->path);
	free(v->found_by);
	free(v->python_version);
	free(v->site_packages);
	memset(v, 0, sizeof(*v));
}

/* --- site-packages ---------------------------------------------------------- */

static struct dist *find_dist(const struct ms_distinfo *d, const char *key)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->dists[i].key, key) == 0)
			return &d->dists[i];
	return NULL;
}

/* Adds the distribution described by <dir>/<entry>/METADATA; skips it with
 * a debug message when that file is unreadable or lacks a header. */
static void add_dist(struct ms_distinfo *d, const char *entry)
{
	char *meta = ms_xasprintf("%s/%s/METADATA", d->dir, entry);
	char *text = read_quiet(meta, METADATA_MAX);
	char *name = NULL, *version = NULL, *key = NULL;
	struct dist *dup;

	if (!text) {
		ms_log_debug("skipping '%s': %s", meta, strerror(errno));
		goto out;
	}
	if (ms_distinfo_parse_metadata(text, &name, &version) < 0) {
		ms_log_debug("skipping '%s': no Name or Version header", meta);
		goto out;
	}
	key = ms_pkg_normalize(name);
	dup = find_dist(d, key);
	if (dup) {
		ms_log_warn("'%s' is installed twice in '%s' (versions %s and %s); using %s",
			    dup->name, d->dir, dup->version, version, dup->version);
		goto out;
	}
	d->dists = ms_xrealloc(d->dists, (d->n + 1) * sizeof(*d->dists));
	d->dists[d->n++] = (struct dist){ key, name, version };
	key = name = version = NULL;
out:
	free(key);
	free(name);
	free(version);
	free(text);
	free(meta);
}

/* Names of the *.dist-info entries of `dir`, sorted; -1 after logging. */
static int list_dist_info(const char *path, struct ms_strv *names)
{
	DIR *dir = opendir(path);
	struct dirent *de;
	int ret = 0;

	if (!dir)
		return ms_log_error("unable to read directory '%s': %s", path, strerror(errno));
	for (;;) {
		size_t len;

		errno = 0;
		de = readdir(dir);
		if (!de)
			break;
		len = strlen(de->d_name);
		if (len > 10 && strcmp(de->d_name + len - 10, ".dist-info") == 0)
			ms_strv_push(names, de->d_name);
	}
	if (errno)
		ret = ms_log_error("unable to read directory '%s': %s", path, strerror(errno));
	closedir(dir);
	ms_strv_sort(names);
	return ret;
}

struct ms_distinfo *ms_distinfo_scan(const char *site_packages)
{
	struct ms_strv names = { 0 };
	struct ms_distinfo *d;

	if (list_dist_info(site_packages, &names) < 0) {
		ms_strv_clear(&names);
		return NULL;
	}
	d = ms_xcalloc(1, sizeof(*d));
	d->dir = ms_xstrdup(site_packages);
	for (size_t i = 0; i < names.n; i++)
		add_dist(d, names.v[i]);
	ms_strv_clear(&names);
	ms_log_debug("'%s': %zu installed distributions", site_packages, d->n);
	return d;
}

const char *ms_distinfo_version(const struct ms_distinfo *d, const char *name)
{
	char *key = ms_pkg_normalize(name);
	const struct dist *dist = find_dist(d, key);

	free(key);
	return dist ? dist->version : NULL;
}

size_t ms_distinfo_count(const struct ms_distinfo *d)
{
	return d->n;
}

void ms_distinfo_at(const struct ms_distinfo *d, size_t i, const char **name, const char **version)
{
	*name = d->dists[i].key;
	*version = d->dists[i].version;
}

void ms_distinfo_free(struct ms_distinfo *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->dists[i].key);
		free(d->dists[i].name);
		free(d->dists[i].version);
	}
	free(d->dists);
	free(d->dir);
	free(d);
}
