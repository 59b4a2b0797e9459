/*
 * The instance model: everything discovery learns about one Modoboa
 * installation — instance directory and settings file, the databases of
 * DATABASES (merged with the config file), MODOBOA_APPS, the Postfix
 * directory and the virtualenv with its package versions. Precedence for
 * every value: command line > config file > discovery > defaults.
 */
#ifndef MS_INSTANCE_H
#define MS_INSTANCE_H

#include <stdbool.h>
#include <stddef.h>

#include "db/dbconf.h"
#include "discover/distinfo.h"
#include "base/util.h"

#define MS_DEFAULT_INSTANCE "/srv/modoboa/instance"
#define MS_DEFAULT_POSTFIX_DIR "/etc/postfix"

struct ms_config;
struct ms_postfix;

/* Where a path came from, for messages. */
enum ms_source { MS_SRC_DEFAULT, MS_SRC_DISCOVERED, MS_SRC_CONFIG, MS_SRC_CLI };

struct ms_instance {
	char *dir;                 /* absolute instance directory */
	enum ms_source dir_source;
	char *settings_path;       /* the settings.py used */
	struct ms_dbconf *dbs;     /* in settings.py order, config-only aliases last */
	size_t n_dbs;
	struct ms_strv apps;       /* MODOBOA_APPS entries */
	struct ms_strv extensions; /* top-level modules of non-core MODOBOA_APPS entries */
	char *secret_key;          /* secret; NULL when not a literal */
	char *postfix_dir;
	enum ms_source postfix_source;
	struct ms_postfix *postfix; /* NULL when the directory is absent (warned) */
	bool has_venv;
	struct ms_venv venv;
	struct ms_distinfo *dists;  /* NULL without a venv */
};

/* What the command line says (NULL = not given). */
struct ms_instance_opts {
	const char *instance_dir;
	const char *postfix_dir;
	bool dbs_only; /* only settings.py and the config: no Postfix, no virtualenv */
};

/* Discovers the installation. Fatal problems (no instance directory,
 * unreadable or malformed settings.py, unresolvable or unsupported
 * database settings) log one error naming file, line, alias and key, and
 * return NULL. Non-fatal ones (no Postfix directory, no virtualenv) are
 * logged as warnings and leave the matching fields empty. */
struct ms_instance *ms_instance_discover(const struct ms_config *cfg, const struct ms_instance_opts *opts);
/* The databases, MODOBOA_APPS and SECRET_KEY that a settings.py text
 * says (e.g. a snapshot's, read from the archive into memory: nothing is
 * written to disk), merged with the config as discovery does; `name`
 * stands for the file in messages. Only dbs, apps, extensions and
 * secret_key are set (dir is NULL). NULL after logging. */
struct ms_instance *ms_instance_from_settings_text(const struct ms_config *cfg, const char *name, const char *text,
						   size_t len);
/* The databases that the config's [db:ALIAS] sections alone describe (a
 * machine without settings.py): those with at least engine and name (the
 * others only add to settings.py's values). Only dbs is set. NULL after
 * logging. */
struct ms_instance *ms_instance_from_config(const struct ms_config *cfg);
void ms_instance_free(struct ms_instance *inst);

const char *ms_source_name(enum ms_source s);

#endif
