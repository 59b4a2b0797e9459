/*
 * What changed between two snapshots, computed from their decoded headers
 * and manifests only (no I/O): versions (Modoboa, Django, Python,
 * extensions, per database the server version and migrations), files per
 * component (content changes apart from metadata-only ones), database
 * tables (rows and content digests) and components present in one
 * snapshot only. `modosnap diff` prints the result.
 */
#ifndef MS_SNAPDIFF_H
#define MS_SNAPDIFF_H

#include <stdbool.h>
#include <stddef.h>

#include "formats/manifest.h"
#include "base/util.h"

enum ms_diff_change {
	MS_DIFF_ADDED,    /* only in the second snapshot */
	MS_DIFF_REMOVED,  /* only in the first snapshot */
	MS_DIFF_CHANGED,  /* in both, different (files: content, type or link target) */
	MS_DIFF_METADATA, /* files only: same content, different mode, owner, mtime or xattrs */
};

/* One named value that differs: a package version, an extension, an
 * app's latest migration. */
struct ms_diff_value {
	char *name;
	enum ms_diff_change change;
	char *from, *to;  /* NULL: absent (added/removed) or unknown */
};

/* Versions of one database alias (header.versions.dbs). */
struct ms_diff_dbver {
	char *alias;
	enum ms_diff_change change;     /* ADDED / REMOVED: alias in one header only */
	bool server_changed;            /* CHANGED only */
	char *server_from, *server_to;  /* NULL: unknown (or the side that lacks the alias) */
	bool migrations_changed;        /* CHANGED only */
	long long migrations_from, migrations_to; /* -1: unknown */
	struct ms_diff_value *latest;   /* apps whose latest migration differs, by app name */
	size_t n_latest;
};

/* One file whose state differs; path relative to the component's root
 * ("." for the root itself). */
struct ms_diff_path {
	char *path;
	enum ms_diff_change change;
};

/* Files of one component present in both snapshots ("instance", "postfix"). */
struct ms_diff_files {
	char *component;
	size_t added, removed, changed, metadata;
	struct ms_diff_path *paths;  /* every differing path, sorted by path */
	size_t n_paths;
};

/* One table that differs. */
struct ms_diff_table {
	char *name;                  /* "name" ("schema.name" outside PostgreSQL's public schema) */
	enum ms_diff_change change;  /* ADDED, REMOVED or CHANGED (rows or digest) */
	long long rows_from, rows_to; /* -1 on the side that lacks the table */
	bool digest_changed;         /* CHANGED only */
};

/* The tables of one database alias dumped in both snapshots. */
struct ms_diff_db {
	char *alias;
	struct ms_diff_table *tables; /* sorted by schema, then name */
	size_t n_tables;
};

struct ms_snapdiff {
	struct ms_diff_value *packages;   /* "modoboa", "django", "python" that differ, in that order */
	size_t n_packages;
	struct ms_diff_value *extensions; /* sorted by module name */
	size_t n_extensions;
	struct ms_diff_dbver *dbvers;     /* aliases whose versions differ, sorted */
	size_t n_dbvers;
	struct ms_diff_files *files;      /* every file component in both snapshots, sorted (even unchanged) */
	size_t n_files;
	struct ms_diff_db *dbs;           /* aliases dumped in both snapshots whose tables differ, sorted */
	size_t n_dbs;
	struct ms_diff_value *installed;  /* every installed distribution (header "packages") that
	                                     differs, sorted by name; none when either header lacks the list */
	size_t n_installed;
	struct ms_strv components_added;  /* header components only in the second snapshot, sorted */
	struct ms_strv components_removed; /* ... only in the first */
};

/* Compares snapshot a (the earlier one, normally) with snapshot b and fills
 * *out, which the caller clears with ms_snapdiff_clear. The inputs are
 * borrowed and not kept. File components are the header components that are
 * not "db:ALIAS"; their entries are the manifest entries under
 * "files/COMPONENT/". Never fails. */
void ms_snapdiff_compute(const struct ms_header *ha, const struct ms_manifest *ma, const struct ms_header *hb,
			 const struct ms_manifest *mb, struct ms_snapdiff *out);

/* Appends to *v every key of a and b added, removed or with a different
 * value, sorted by key (package lists: installed now vs in a snapshot). */
void ms_snapdiff_kv(const struct ms_kv *a, size_t na, const struct ms_kv *b, size_t nb, struct ms_diff_value **v,
		    size_t *n);
/* "modoboa 2.4.0 -> 2.3.2", "django-foo 1.2 (added)", "bar 0.9 (removed)";
 * non-printable bytes escaped. Caller frees. */
char *ms_diff_value_line(const struct ms_diff_value *v);
void ms_diff_values_free(struct ms_diff_value *v, size_t n);

/* True when the two snapshots differ in nothing ms_snapdiff_compute looks at. */
bool ms_snapdiff_empty(const struct ms_snapdiff *d);

/* "added", "removed", "changed", "metadata". */
const char *ms_diff_change_name(enum ms_diff_change c);

/* Frees what hangs off d and zeroes it; a zeroed struct is a no-op. */
void ms_snapdiff_clear(struct ms_snapdiff *d);

#endif
