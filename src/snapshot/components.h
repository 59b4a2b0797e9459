/*
 * Which components a snapshot takes (docs/snapshots.md): the instance, the
 * Postfix files, every database, the DKIM keys and the service
 * configuration by default; the virtualenv in pre-upgrade snapshots; the
 * mail store only when asked. `[modosnap] components` replaces the default
 * set, `capture_venv` and `[mail] enabled` add to it, and create's --with
 * and --without decide last. Also the one-mailbox names of restore's
 * `--only mail:USER@DOMAIN`.
 */
#ifndef MS_COMPONENTS_H
#define MS_COMPONENTS_H

#include <stdbool.h>

#include "base/util.h"

/* The component kinds create chooses between ("db" is every database). */
struct ms_component_set {
	bool instance, postfix, db, venv, dkim, system, mail;
	struct ms_strv db_with;    /* db:ALIAS asked for although "db" is off */
	struct ms_strv db_without; /* db:ALIAS left out although "db" is on */
};

/* What the configuration and the run ask for. */
struct ms_component_request {
	const struct ms_strv *components; /* [modosnap] components (names checked by the config:
	                                 instance, postfix, db, db:ALIAS, venv, dkim, system, mail);
	                                 NULL or empty = the default set */
	bool capture_venv;            /* [modosnap] capture_venv = yes */
	bool mail_enabled;            /* [mail] enabled = yes */
	bool pre_upgrade;             /* create --pre-upgrade: the venv too */
	bool no_db;                   /* --no-db: no database at all */
	const struct ms_strv *with, *without; /* --with / --without, may be NULL */
};

/* Decides the set (names not a component are ignored: the config and the
 * option parser check them). Clear *out with ms_component_set_clear. */
void ms_components_choose(const struct ms_component_request *req, struct ms_component_set *out);
/* Whether database `alias` is taken. */
bool ms_component_set_has_db(const struct ms_component_set *s, const char *alias);
void ms_component_set_clear(struct ms_component_set *s);

/* USER@DOMAIN as a mailbox name: both parts non-empty, at most 255 bytes,
 * neither "." nor "..", no '/', no control character, one '@' before the
 * domain (the last one: a local part may hold '@' only quoted, which
 * Dovecot layouts do not use). */
bool ms_mailbox_valid(const char *addr);
/* The mailbox's path below the mail root: `layout` ("%d/%n", the default
 * when NULL) with %d the domain, %n the user, %u the whole address and %%
 * a '%'. NULL when the layout holds another code or yields no safe
 * relative path (nothing logged). Caller frees. */
char *ms_mailbox_path(const char *layout, const char *addr);

#endif
