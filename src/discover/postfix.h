/*
 * The Postfix side of a Modoboa installation: the `sql-*.cf` maps written by
 * `manage.py generate_postfix_maps`, its checksum file
 * `modoboa-postfix-maps.chk` (lines `<file>:<dbtype>:<md5 hex>`), main.cf
 * and master.cf. Map files contain database passwords: nothing here ever
 * returns or prints their content.
 */
#ifndef MS_POSTFIX_H
#define MS_POSTFIX_H

#include <stdbool.h>
#include <stddef.h>

#define MS_POSTFIX_CHK_NAME "modoboa-postfix-maps.chk"

enum ms_map_state {
	MS_MAP_MATCHES,    /* md5 equals the one recorded in the .chk file */
	MS_MAP_EDITED,     /* recorded, but the file changed since */
	MS_MAP_UNRECORDED, /* present, not listed in the .chk file (or no .chk) */
	MS_MAP_MISSING,    /* listed in the .chk file, file absent */
};

struct ms_chk_entry {
	char *file;   /* as written in the .chk file (a base name) */
	char *dbtype; /* e.g. "postgres", "mysql" */
	char md5[33]; /* lowercase hex */
};

/* Parses .chk text. Returns 0 and an array of the well-formed lines
 * (NULL when none; caller frees with ms_chk_entries_free). Blank lines are
 * ignored; a line that is not `<file>:<dbtype>:<checksum>` is skipped with
 * the warning "'FILE':LINE: malformed line in checksum file (expected
 * FILE:DBTYPE:MD5); ignored" (the first 5; then one "'FILE': N more
 * malformed lines ignored"), so the run ends with exit status 3 and the
 * maps it names are reported as unrecorded. Never fails. */
int ms_chk_parse(const char *filename, const char *text, struct ms_chk_entry **out, size_t *n_out);
void ms_chk_entries_free(struct ms_chk_entry *e, size_t n);

struct ms_postfix_map {
	char *name;              /* base name, e.g. "sql-domains.cf" */
	char *path;              /* full path */
	enum ms_map_state state;
	char *dbtype;            /* from the .chk file, NULL when unrecorded */
	char md5[33];            /* actual md5, "" when missing */
};

struct ms_postfix {
	char *dir;
	struct ms_postfix_map *maps; /* sorted by name; includes MISSING entries */
	size_t n_maps;
	char *chk_path;              /* NULL when there is no .chk file */
	char *main_cf;               /* full path, NULL when absent */
	char *master_cf;             /* full path, NULL when absent */
};

/* Scans `dir`. Returns NULL after logging when the directory, the .chk
 * file or a map cannot be read (malformed .chk lines are only warnings). */
struct ms_postfix *ms_postfix_scan(const char *dir);
const char *ms_map_state_name(enum ms_map_state s);
void ms_postfix_free(struct ms_postfix *p);

#endif
