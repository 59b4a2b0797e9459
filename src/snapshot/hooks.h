/*
 * The configuration's hooks ([hooks] before, after, on_error, pause,
 * resume): shell command lines run by `create` with /bin/sh -c, given the
 * run's facts in MODOSNAP_* environment variables and nothing secret.
 */
#ifndef MS_HOOKS_H
#define MS_HOOKS_H

/* What a hook is told (NULL fields are left out of its environment). */
struct ms_hook_env {
	const char *event;       /* MODOSNAP_HOOK: "before", "after", ... */
	const char *dest;        /* MODOSNAP_DEST */
	const char *snapshot_id; /* MODOSNAP_SNAPSHOT_ID */
	const char *path;        /* MODOSNAP_SNAPSHOT_PATH */
	int exit_status;         /* MODOSNAP_EXIT_STATUS (-1: not yet known) */
};

/* Runs `cmd` (may be NULL: nothing to do, 0) with the caller's
 * environment (minus PGPASSWORD, PGPASSFILE, MYSQL_PWD) plus env's
 * variables, stdout and stderr both going to our stderr, stdin from
 * /dev/null. Returns 0 when it exits 0, else -1 after logging
 * "hook 'EVENT' failed (exit N): CMD" (or the signal that killed it). */
int ms_hook_run(const char *cmd, const struct ms_hook_env *env);

#endif
