/*
 * What `create` takes besides the instance and the databases: the
 * component set (snapshot/components.h) and, for the whole-server
 * components, where each lives on this machine (discover/server.h): the
 * virtualenv, the DKIM keys the default database names, the service
 * configuration found under the system root, the Maildir store.
 */
#ifndef MS_CLI_CREATE_PARTS_H
#define MS_CLI_CREATE_PARTS_H

#include <stdbool.h>

#include "db/params.h"
#include "discover/config.h"
#include "discover/instance.h"
#include "discover/server.h"
#include "snapshot/components.h"
#include "snapshot/snapshot.h"

struct ms_create_parts {
	struct ms_component_set set;
	struct ms_server srv;
	struct ms_modoboa_params params;
	bool have_params;
	const char *system_root;
	struct ms_strv only;          /* the components taken, for ms_create_opts.only */
	struct ms_strv dkim_roots;
	struct ms_strv system_roots, system_files; /* logical paths, and where each is read */
};

/* What the run asks for, from the command line. */
struct ms_create_parts_request {
	const struct ms_strv *with, *without;
	const char *system_root;      /* --system-root, or NULL */
	bool pre_upgrade, no_db;
	bool no_params;               /* the default database is known to be unreachable */
};

/* Decides the set and finds the whole-server components. A component
 * asked for by name (--with venv, --with mail) that cannot be found is an
 * error; one of the default set that is absent is left out (mentioned
 * with -v). 0, or -1 after logging. */
int ms_create_parts_find(const struct ms_config *cfg, const struct ms_instance *inst,
			 const struct ms_create_parts_request *req, struct ms_create_parts *p);
/* Points o at them (p and inst must outlive o). */
void ms_create_parts_apply(const struct ms_create_parts *p, const struct ms_instance *inst,
			   struct ms_create_opts *o);
/* Every path the snapshot reads (for the destination check): pushed to *out. */
void ms_create_parts_sources(const struct ms_create_parts *p, struct ms_strv *out);
void ms_create_parts_clear(struct ms_create_parts *p);

#endif
