/*
 * The Postfix side of a Modoboa installation (see postfix.h): lists the
 * map files of a Postfix directory, the `sql-*.cf` files plus any file the
 * checksum file names, and compares the MD5 of each with the one Modoboa
 * recorded when it generated the map, to tell generated maps from edited
 * ones. Map files hold database passwords: they are only ever hashed here,
 * never read into memory that outlives the hashing.
 */
#include "discover/postfix.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/util.h"

#define CHK_MAX_SIZE (1024 * 1024)

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Copies 32 hex digits at p into md5 (lowercase); -1 when they are not. */
static int copy_md5(const char *p, char md5[33])
{
	for (int i = 0; i < 32; i++) {
		char c = p[i];

		if (!is_hex(c))
			return -1;
		md5[i] = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
	}
	md5[32] = '\0';
	return 0;
}

/* The checksum field. Normally 32 hex digits. For a map it refused to
 * regenerate because it had been edited, Modoboa writes the repr of its
 * own record instead — `{'dbtype': 'postgres', 'checksum': '<md5>'}` — and
 * that md5 is still the one it generated, so it is what we compare with. */
static int chk_parse_md5(const char *f, const char *end, char md5[33])
{
	static const char key[] = "'checksum': '";
	const char *k;

	if (end - f == 32)
		return copy_md5(f, md5);
	if (*f != '{' || end[-1] != '}')
		return -1;
	k = memmem(f, (size_t)(end - f), key, sizeof(key) - 1);
	if (!k || end - (k + sizeof(key) - 1) < 33 + 1 || k[sizeof(key) - 1 + 32] != '\'')
		return -1;
	return copy_md5(k + sizeof(key) - 1, md5);
}

/* Parses "<file>:<dbtype>:<checksum>" in [s, end) into *e; -1 when the
 * line has another shape. <file> must be a plain base name, since it is
 * joined to the Postfix directory later. */
static int chk_parse_line(const char *s, const char *end, struct ms_chk_entry *e)
{
	const char *c1 = memchr(s, ':', (size_t)(end - s));
	const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
	size_t flen;

	if (!c2 || c1 == s || c2 == c1 + 1 || c2 + 1 == end)
		return -1;
	flen = (size_t)(c1 - s);
	if (memchr(s, '/', flen) || (flen == 1 && s[0] == '.') ||
	    (flen == 2 && s[0] == '.' && s[1] == '.'))
		return -1;
	if (chk_parse_md5(c2 + 1, end, e->md5) < 0)
		return -1;
	e->file = ms_xstrndup(s, flen);
	e->dbtype = ms_xstrndup(c1 + 1, (size_t)(c2 - c1 - 1));
	return 0;
}

/* Malformed lines named one by one before the rest are only counted. */
#define CHK_WARN_MAX 5

int ms_chk_parse(const char *filename, const char *text, struct ms_chk_entry **out, size_t *n_out)
{
	struct ms_chk_entry *v = NULL;
	const char *pos = text;
	size_t n = 0, bad = 0;
	int line = 0;

	while (*pos) {
		const char *s = pos, *eol = strchr(pos, '\n'), *end;

		line++;
		end = eol ? eol : s + strlen(s);
		pos = eol ? eol + 1 : end;
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			end--;
		if (end == s)
			continue;
		v = ms_xrealloc(v, (n + 1) * sizeof(*v));
		if (chk_parse_line(s, end, &v[n]) < 0) {
			/* Modoboa's own bookkeeping, not a map: one bad line must
			 * not stop every snapshot (the file is still captured as is) */
			if (bad++ < CHK_WARN_MAX)
				ms_log_warn("'%s':%d: malformed line in checksum file (expected "
					    "FILE:DBTYPE:MD5); ignored", filename, line);
			continue;
		}
		n++;
	}
	if (bad > CHK_WARN_MAX)
		ms_log_warn("'%s': %zu more malformed lines ignored", filename, bad - CHK_WARN_MAX);
	if (n == 0) {
		free(v);
		v = NULL;
	}
	*out = v;
	*n_out = n;
	return 0;
}

void ms_chk_entries_free(struct ms_chk_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].file);
		free(e[i].dbtype);
	}
	free(e);
}

const char *ms_map_state_name(enum ms_map_state s)
{
	switch (s) {
	case MS_MAP_MATCHES:
		return "matches";
	case MS_MAP_EDITED:
		return "edited";
	case MS_MAP_UNRECORDED:
		return "unrecorded";
	case MS_MAP_MISSING:
		return "missing";
	}
	return "unknown";
}

/* --- scanning --------------------------------------------------------------- */

static bool is_sql_map(const char *name)
{
	size_t len = strlen(name);

	return len > 7 && strncmp(name, "sql-", 4) == 0 && strcmp(name + len - 3, ".cf") == 0;
}

/* Base names of the sql-*.cf regular files (symlinks followed) of `dir`;
 * -1 after logging. */
static int list_maps(const char *dir, struct ms_strv *names)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int ret = 0;

	if (!d && errno == ENOENT)
		return ms_log_error("postfix directory '%s' not found: %s", dir, strerror(errno));
	if (!d)
		return ms_log_error("unable to read postfix directory '%s': %s", dir, strerror(errno));
	for (;;) {
		char *path;

		errno = 0;
		de = readdir(d);
		if (!de)
			break;
		if (!is_sql_map(de->d_name))
			continue;
		path = ms_path_join(dir, de->d_name);
		if (ms_is_file(path))
			ms_strv_push(names, de->d_name);
		else
			ms_log_debug("skipping '%s': not a regular file", path);
		free(path);
	}
	if (errno)
		ret = ms_log_error("unable to read postfix directory '%s': %s", dir, strerror(errno));
	closedir(d);
	return ret;
}

/* Reads and parses the checksum file when there is one (p->chk_path set). */
static int load_chk(struct ms_postfix *p, struct ms_chk_entry **chk, size_t *n_chk)
{
	char *path = ms_path_join(p->dir, MS_POSTFIX_CHK_NAME);
	char *text;
	int ret;

	*chk = NULL;
	*n_chk = 0;
	if (!ms_is_file(path)) {
		free(path);
		return 0;
	}
	p->chk_path = path;
	text = ms_read_file(path, CHK_MAX_SIZE, NULL);
	if (!text)
		return -1;
	ret = ms_chk_parse(path, text, chk, n_chk);
	free(text);
	return ret;
}

static const struct ms_chk_entry *find_chk(const struct ms_chk_entry *chk, size_t n, const char *file)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(chk[i].file, file) == 0)
			return &chk[i];
	return NULL;
}

/* Appends the map `name` with its state; -1 after logging when it cannot
 * be hashed. */
static int add_map(struct ms_postfix *p, const char *name, const struct ms_chk_entry *rec)
{
	char hex[MS_HASH_HEX_MAX];
	struct ms_postfix_map *m;

	p->maps = ms_xrealloc(p->maps, (p->n_maps + 1) * sizeof(*p->maps));
	m = &p->maps[p->n_maps++];
	memset(m, 0, sizeof(*m));
	m->name = ms_xstrdup(name);
	m->path = ms_path_join(p->dir, name);
	m->dbtype = rec ? ms_xstrdup(rec->dbtype) : NULL;
	if (!ms_is_file(m->path)) {
		m->state = MS_MAP_MISSING;
		return 0;
	}
	if (ms_hash_file_hex(MS_HASH_MD5, m->path, hex) < 0)
		return -1;
	memcpy(m->md5, hex, sizeof(m->md5) - 1); /* an MD5 is 32 hex digits */
	m->md5[sizeof(m->md5) - 1] = '\0';
	if (!rec)
		m->state = MS_MAP_UNRECORDED;
	else
		m->state = strcmp(m->md5, rec->md5) == 0 ? MS_MAP_MATCHES : MS_MAP_EDITED;
	return 0;
}

static int cmp_map(const void *a, const void *b)
{
	return strcmp(((const struct ms_postfix_map *)a)->name, ((const struct ms_postfix_map *)b)->name);
}

/* Adds the sql-*.cf files, then the files only the checksum file names. */
static int add_maps(struct ms_postfix *p, const struct ms_strv *names,
		    const struct ms_chk_entry *chk, size_t n_chk)
{
	for (size_t i = 0; i < names->n; i++)
		if (add_map(p, names->v[i], find_chk(chk, n_chk, names->v[i])) < 0)
			return -1;
	for (size_t i = 0; i < n_chk; i++) {
		if (ms_strv_contains(names, chk[i].file) || find_chk(chk, i, chk[i].file))
			continue; /* already added, or listed twice */
		if (add_map(p, chk[i].file, &chk[i]) < 0)
			return -1;
	}
	if (p->n_maps > 1)
		qsort(p->maps, p->n_maps, sizeof(*p->maps), cmp_map);
	return 0;
}

static char *file_or_null(const char *dir, const char *name)
{
	char *path = ms_path_join(dir, name);

	if (ms_is_file(path))
		return path;
	free(path);
	return NULL;
}

struct ms_postfix *ms_postfix_scan(const char *dir)
{
	struct ms_postfix *p = ms_xcalloc(1, sizeof(*p));
	struct ms_strv names = { 0 };
	struct ms_chk_entry *chk = NULL;
	size_t n_chk = 0;
	int ret = -1;

	p->dir = ms_xstrdup(dir);
	if (list_maps(dir, &names) < 0 || load_chk(p, &chk, &n_chk) < 0)
		goto out;
	if (add_maps(p, &names, chk, n_chk) < 0)
		goto out;
	p->main_cf = file_or_null(dir, "main.cf");
	p->master_cf = file_or_null(dir, "master.cf");
	ret = 0;
out:
	ms_chk_entries_free(chk, n_chk);
	ms_strv_clear(&names);
	if (ret < 0) {
		ms_postfix_free(p);
		return NULL;
	}
	return p;
}

void ms_postfix_free(struct ms_postfix *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_maps; i++) {
		free(p->maps[i].name);
		free(p->maps[i].path);
		free(p->maps[i].dbtype);
	}
	free(p->maps);
	free(p->dir);
	free(p->chk_path);
	free(p->main_cf);
	free(p->master_cf);
	free(p);
}
