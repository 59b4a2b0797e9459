/*
 * Installed Python package versions without running Python: the
 * virtualenv is located from the instance, and versions are read from
 * `<site-packages>/<name>-<version>.dist-info/METADATA` headers.
 */
#ifndef MS_DISTINFO_H
#define MS_DISTINFO_H

#include <stddef.h>

struct ms_venv {
	char *path;           /* virtualenv root */
	char *found_by;       /* "config", "manage.py", "sibling env/" */
	char *python_version; /* from pyvenv.cfg `version`/`version_info`, else lib/pythonX.Y; NULL if unknown */
	char *site_packages;  /* <path>/lib/pythonX.Y/site-packages */
};

/* Locates the virtualenv of an instance: `override` (from the config) when
 * non-NULL, else the interpreter named on manage.py's first line
 * (`#!/srv/modoboa/env/bin/python3` -> /srv/modoboa/env), else a sibling
 * `env/` of the instance directory. A candidate is accepted when it has a
 * pyvenv.cfg or a lib/python3.* /site-packages directory. Returns 0 and
 * fills *out, or -1 after logging an error that says where it looked. */
int ms_venv_find(const char *instance_dir, const char *override, struct ms_venv *out);
void ms_venv_clear(struct ms_venv *v);

/* Parses METADATA text (RFC 822 headers up to the first blank line):
 * returns 0 and sets *name and *version (caller frees), or -1 when either
 * header is missing. */
int ms_distinfo_parse_metadata(const char *text, char **name, char **version);

/* Normalises a distribution or module name as PEP 503 does: lowercase,
 * runs of '-', '_' and '.' become one '-'. Caller frees. */
char *ms_pkg_normalize(const char *name);

struct ms_distinfo; /* opaque: the installed distributions of one site-packages */

/* Scans a site-packages directory. Unreadable or malformed METADATA files
 * are skipped with a debug message. NULL after logging when the directory
 * cannot be read. */
struct ms_distinfo *ms_distinfo_scan(const char *site_packages);
/* Version of the distribution named `name` (compared after normalising),
 * or NULL when not installed. Borrowed. */
const char *ms_distinfo_version(const struct ms_distinfo *d, const char *name);
/* Number of distributions found. */
size_t ms_distinfo_count(const struct ms_distinfo *d);
/* The i-th distribution (i < ms_distinfo_count, in dist-info directory
 * order): its normalised name and its version. Borrowed. */
void ms_distinfo_at(const struct ms_distinfo *d, size_t i, const char **name, const char **version);
void ms_distinfo_free(struct ms_distinfo *d);

#endif
