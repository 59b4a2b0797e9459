/*
 * The versions a snapshot is tagged with (header "versions"): Modoboa,
 * Django, Python, each MODOBOA_APPS extension, and per database the server
 * version and the applied-migrations summary when it was probed.
 */
#ifndef MS_VERSIONS_H
#define MS_VERSIONS_H

#include "db/db.h"
#include "discover/instance.h"
#include "formats/manifest.h"

/* Fills *v from the discovered instance and, when probes is non-NULL, one
 * successful probe per inst->dbs entry (entries whose server_version is
 * NULL were not probed). Free with ms_versions_clear. */
void ms_versions_collect(const struct ms_instance *inst, const struct ms_db_probe *probes,
			 struct ms_versions *v);

#endif
