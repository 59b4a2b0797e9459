/*
 * Where restored files go: decided by the live side (command line, config
 * file, this machine's defaults), never by the archive. A snapshot records
 * the instance and Postfix directories it was taken from; restore shows
 * them and uses one only when nothing on this machine names the target
 * and the administrator accepted the snapshot's paths
 * (--accept-snapshot-targets). Every target, whatever its origin, must
 * pass ms_target_check.
 */
#ifndef MS_TARGETS_H
#define MS_TARGETS_H

#include <stdbool.h>

/* Longest accepted target: member paths are at most MS_MEMBER_PATH_MAX
 * bytes, and the staging directory beside the target adds ~20, so any
 * restored path stays below PATH_MAX. */
#define MS_TARGET_MAX 240

enum ms_target_origin {
	MS_TARGET_CLI,      /* --instance / --postfix-dir */
	MS_TARGET_CONFIG,   /* [modosnap] instance / postfix_dir */
	MS_TARGET_DEFAULT,  /* this machine's default, equal to the snapshot's */
	MS_TARGET_SNAPSHOT, /* the snapshot's, accepted with --accept-snapshot-targets */
};

/* One component's candidates; NULL = not given. */
struct ms_target_choice {
	const char *component;  /* "instance", "postfix", "venv" or "mail" */
	const char *cli_option; /* "--instance", for messages; NULL: none */
	const char *config_key; /* "[modosnap] instance", for messages */
	const char *cli, *config, *def, *snapshot;
	bool accept_snapshot;
	bool under_root;        /* the path will be used below --root */
};

/* Returns 0 when `path` may receive component `component` ("instance",
 * "postfix", "venv", "mail" or "dkim"): absolute, normalised (no empty, "." or ".." component, no
 * trailing '/'), no control character, at most MS_TARGET_MAX bytes, not
 * `/` nor a system directory (/etc, /usr, /root, /boot, /proc, ... and
 * their contents; /home, /srv, /var, /opt, /tmp, ... themselves), except
 * that the Postfix component may go to /etc/postfix or /etc/postfix-NAME.
 * Otherwise -1 with *why set to a static reason. Logs nothing. */
int ms_target_check(const char *component, const char *path, const char **why);

/* Every existing ancestor of `path` (not the last component) is a real
 * directory (no symbolic link), owned by root or the running user, and
 * not writable by group or others unless sticky (/tmp): nothing on the
 * way can be swapped for a link to elsewhere. 0, or -1 with *why set to a
 * static reason and *at to the ancestor at fault (caller frees). Logs
 * nothing. */
int ms_target_parents_ok(const char *path, const char **why, char **at);

/* Picks the target: command line, else config, else the default when the
 * snapshot recorded the same path (or none), else the snapshot's path if
 * accepted (which must then also have no hidden component, not be under
 * /var or /usr, and, when it exists, already hold the component —
 * manage.py or instance/settings.py; main.cf; pyvenv.cfg; for the mail
 * store, nothing but directories at its top — unless under_root). Returns the chosen path (caller frees) and its origin, or NULL
 * after logging an error that names the snapshot's path and how to name a
 * target ("... name the target with --instance or [modosnap] instance in the config, or
 * pass --accept-snapshot-targets ..."), or why the path is refused. */
char *ms_target_choose(const struct ms_target_choice *c, enum ms_target_origin *origin);

const char *ms_target_origin_name(enum ms_target_origin o);

#endif
