/*
 * Snapshot archive file names (docs/dev/design.md §3, formats/FORMAT.md):
 *   <label>_<YYYYMMDDTHHMMSSZ>_modoboa-<version>.tar.zst
 * The label (host name unless configured) and the version are reduced to
 * characters that are safe in a file name and cannot contain the '_'
 * separator, so that every name parses back unambiguously.
 */
#ifndef MS_SNAPNAME_H
#define MS_SNAPNAME_H

#include <time.h>

#define MS_SNAPNAME_SUFFIX ".tar.zst"
#define MS_SNAPNAME_STAMP_LEN 16 /* YYYYMMDDTHHMMSSZ */

struct ms_snapname {
	char *label;
	char stamp[MS_SNAPNAME_STAMP_LEN + 1];
	char *version;
};

/* Builds the file name for a snapshot taken at `when` (UTC). label and
 * version are sanitised: characters outside [A-Za-z0-9.+-] become '-';
 * an empty or NULL label becomes "modoboa", a NULL version "unknown".
 * Caller frees. */
char *ms_snapname_format(const char *label, time_t when, const char *version);

/* Parses a base name. Returns 0 and fills *out (free with
 * ms_snapname_clear), or -1 (nothing logged) when it is not a snapshot
 * name. */
int ms_snapname_parse(const char *name, struct ms_snapname *out);
void ms_snapname_clear(struct ms_snapname *n);

#endif
