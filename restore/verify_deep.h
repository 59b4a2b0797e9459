/*
 * Scratch verification (verify --deep, create --pre-upgrade): every
 * database dump of an archive is restored into a scratch database beside
 * its live one, where the restore compares every table's rows and digest,
 * and dropped again. Proves that a snapshot's databases load, without
 * touching the live ones.
 */
#ifndef MS_VERIFY_DEEP_H
#define MS_VERIFY_DEEP_H

#include "base/strbuf.h"
#include "discover/instance.h"
#include "formats/manifest.h"
#include "restore/progress.h"

struct ms_config;

/* Checks every database dump of the archive at `archive` (manifest m,
 * already verified); the connections are discovered with `inst` and the
 * config (its [db:ALIAS] admin_user only creates and drops the scratch
 * databases). Appends one "ok: ..." line per database to `ok`. Returns 0
 * when every dump passed (a warning, nothing checked, when there is
 * none), -1 when a dump did not pass the check, restore or match (a
 * verdict on the snapshot), -2 when a dump could not be checked (no
 * connection or scratch database; logged, not a verdict). progress
 * (may be NULL) gets the total of the dumps' bytes, then the bytes and
 * table being loaded. */
int ms_verify_deep(const struct ms_config *cfg, const struct ms_instance_opts *inst, const char *archive,
		   const struct ms_manifest *m, struct ms_strbuf *ok, struct ms_progress *progress);

#endif
