/*
 * Hooks (see hooks.h).
 */
#include "snapshot/hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "base/spawn.h"
#include "base/util.h"

extern char **environ;

/* The caller's environment minus our variables, plus env's. */
static char **hook_environ(const struct ms_hook_env *env)
{
	size_t n = 0, k = 0;
	char **out;

	while (environ[n])
		n++;
	out = ms_xcalloc(n + 6, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		/* never a password: client libraries' variables stay with us */
		if (!strncmp(environ[i], "PGPASSWORD=", 11) || !strncmp(environ[i], "PGPASSFILE=", 11) ||
		    !strncmp(environ[i], "MYSQL_PWD=", 10))
			continue;
		if (strncmp(environ[i], "MODOSNAP_", 9) != 0 || !strncmp(environ[i], "MODOSNAP_CONFIG=", 16))
			out[k++] = ms_xstrdup(environ[i]);
	}
	out[k++] = ms_xasprintf("MODOSNAP_HOOK=%s", env->event);
	if (env->dest)
		out[k++] = ms_xasprintf("MODOSNAP_DEST=%s", env->dest);
	if (env->snapshot_id)
		out[k++] = ms_xasprintf("MODOSNAP_SNAPSHOT_ID=%s", env->snapshot_id);
	if (env->path)
		out[k++] = ms_xasprintf("MODOSNAP_SNAPSHOT_PATH=%s", env->path);
	if (env->exit_status >= 0)
		out[k++] = ms_xasprintf("MODOSNAP_EXIT_STATUS=%d", env->exit_status);
	return out;
}

int ms_hook_run(const char *cmd, const struct ms_hook_env *env)
{
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char **envp;
	pid_t pid;
	int st, rc, ret = -1;

	if (!cmd)
		return 0;
	envp = hook_environ(env);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	/* stdout is the command's output (--json, the archive path): a hook's
	 * chatter goes to stderr with the diagnostics */
	posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
	/* the hook starts with no signal blocked and default dispositions,
	 * whatever create holds blocked around the pause window */
	ms_spawnattr_init_clean(&attr);
	fflush(NULL);
	rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0) {
		ms_log_error("hook '%s' could not start: %s", env->event, strerror(rc));
		goto out;
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			ms_log_error("hook '%s': %s", env->event, strerror(errno));
			goto out;
		}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		ret = 0;
	else if (WIFEXITED(st))
		ms_log_error("hook '%s' failed (exit %d): %s", env->event, WEXITSTATUS(st), cmd);
	else
		ms_log_error("hook '%s' was killed by signal %d: %s", env->event, WTERMSIG(st), cmd);
out:
	for (char **e = envp; *e; e++)
		free(*e);
	free(envp);
	return ret;
}
