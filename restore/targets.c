/*
 * Restore targets decided by the live side (see targets.h).
 */
#include "restore/targets.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"

static int fail(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return -1;
}

/* path is dir itself or inside it */
static bool at_or_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static int check_shape(const char *path, const char **why)
{
	size_t len = strlen(path);

	if (len == 0)
		return fail(why, "empty path");
	if (path[0] != '/')
		return fail(why, "not an absolute path");
	if (len > MS_TARGET_MAX)
		return fail(why, "longer than 240 bytes");
	for (const char *c = path; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return fail(why, "control character in path");
	if (len == 1)
		return fail(why, "the root directory");
	if (path[len - 1] == '/')
		return fail(why, "not normalised (trailing '/')");
	for (const char *p = path + 1;;) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return fail(why, "not normalised (empty, '.' or '..' component)");
		p += n;
		if (!*p)
			break;
		p++;
	}
	return 0;
}

int ms_target_check(const char *component, const char *path, const char **why)
{
	/* the system's own trees: never a restore target, nor anything in them */
	static const char *const system_trees[] = {
		"/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/root",
		"/run", "/sbin", "/sys", "/usr", "/var/lib/dpkg", "/var/lib/apt", "/var/spool", "/var/run",
		"/var/lock",
	};
	/* directories that hold others: never replaced themselves */
	static const char *const containers[] = {
		"/home", "/media", "/mnt", "/opt", "/srv", "/tmp", "/var", "/var/backups", "/var/cache",
		"/var/lib", "/var/local", "/var/log", "/var/mail", "/var/opt", "/var/spool", "/var/tmp",
		"/var/www",
	};
	bool postfix = strcmp(component, "postfix") == 0;

	if (check_shape(path, why) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(containers) / sizeof(containers[0]); i++)
		if (strcmp(path, containers[i]) == 0)
			return fail(why, "a system directory");
	if (postfix && (strcmp(path, "/etc/postfix") == 0 || strncmp(path, "/etc/postfix-", 13) == 0) &&
	    !strchr(path + 6, '/'))
		return 0;
	for (size_t i = 0; i < sizeof(system_trees) / sizeof(system_trees[0]); i++)
		if (at_or_under(path, system_trees[i]))
			return fail(why, postfix ? "a system directory (Postfix targets there are /etc/postfix or "
						   "/etc/postfix-NAME)"
						 : "a system directory");
	return 0;
}

const char *ms_target_origin_name(enum ms_target_origin o)
{
	switch (o) {
	case MS_TARGET_CLI: return "command line";
	case MS_TARGET_CONFIG: return "config file";
	case MS_TARGET_DEFAULT: return "default";
	default: return "snapshot, accepted";
	}
}

/* A mail store holds domain directories at its top, nothing else. */
static bool only_dirs_in(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	bool ok = d != NULL;

	while (ok && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && de->d_type != DT_DIR)
			ok = false;
	if (d)
		closedir(d);
	return ok;
}

/* What the snapshot alone may propose (the administrator did not name
 * it): no hidden component (.ssh, .config), nothing under /var or /usr,
 * and an existing directory only when it already holds the component
 * (manage.py or instance/settings.py; main.cf). */
static int snapshot_path_ok(const char *component, const char *path, const char **why)
{
	char *probe;
	bool looks;

	for (const char *p = path; (p = strchr(p, '/')); p++)
		if (p[1] == '.')
			return fail(why, "a hidden directory (only a path named on this machine may be one)");
	if (at_or_under(path, "/var") || at_or_under(path, "/usr"))
		return fail(why, "under /var or /usr (only a path named on this machine may be there)");
	if (!ms_is_dir(path))
		return 0;
	if (!strcmp(component, "postfix")) {
		probe = ms_path_join(path, "main.cf");
		looks = ms_is_file(probe);
	} else if (!strcmp(component, "venv")) {
		probe = ms_path_join(path, "pyvenv.cfg");
		looks = ms_is_file(probe);
	} else if (!strcmp(component, "mail")) {
		probe = NULL;
		looks = only_dirs_in(path);
	} else {
		probe = ms_path_join(path, "manage.py");
		looks = ms_is_file(probe);
		free(probe);
		probe = ms_path_join(path, "instance/settings.py");
		looks = looks || ms_is_file(probe);
	}
	free(probe);
	return looks ? 0 : fail(why, "an existing directory that does not hold the component (only a path named on "
				     "this machine may replace it)");
}

int ms_target_parents_ok(const char *path, const char **why, char **at)
{
	char *p = ms_xstrdup(path);
	struct stat st;
	int ret = 0;

	*at = NULL;
	for (char *s = p + 1;; s++) {
		char saved = *s;

		if (saved != '/' && saved != '\0')
			continue;
		*s = '\0';
		if (lstat(p, &st) < 0) { /* the rest does not exist yet: created by restore */
			*s = saved;
			break;
		}
		if (saved == '\0') /* the target itself: replaced, not traversed */
			break;
		if (S_ISLNK(st.st_mode))
			ret = fail(why, "a symbolic link (give the real path)");
		else if (!S_ISDIR(st.st_mode))
			ret = fail(why, "not a directory");
		else if (st.st_uid != 0 && st.st_uid != geteuid())
			ret = fail(why, "owned by another user");
		else if ((st.st_mode & 022) && !(st.st_mode & S_ISVTX))
			ret = fail(why, "writable by group or others");
		if (ret < 0) {
			*at = ms_xstrdup(p);
			break;
		}
		*s = saved;
	}
	free(p);
	return ret;
}

static char *refuse(const struct ms_target_choice *c, const char *path, const char *why)
{
	char *p = ms_printable(path);

	ms_log_error("%s target '%s' refused: %s", c->component, p, why);
	free(p);
	return NULL;
}

char *ms_target_choose(const struct ms_target_choice *c, enum ms_target_origin *origin)
{
	const char *path, *why;

	if (c->cli) {
		path = c->cli;
		*origin = MS_TARGET_CLI;
	} else if (c->config) {
		path = c->config;
		*origin = MS_TARGET_CONFIG;
	} else if (!c->snapshot || strcmp(c->snapshot, c->def) == 0) {
		path = c->def;
		*origin = MS_TARGET_DEFAULT;
	} else if (c->accept_snapshot) {
		path = c->snapshot;
		*origin = MS_TARGET_SNAPSHOT;
	} else {
		char *p = ms_printable(c->snapshot);

		ms_log_error("the snapshot's %s directory is '%s', not this machine's default '%s': name the "
			     "target with %s%s%s in the config, or pass --accept-snapshot-targets to restore into '%s'",
			     c->component, p, c->def, c->cli_option ? c->cli_option : "", c->cli_option ? " or " : "",
			     c->config_key, p);
		free(p);
		return NULL;
	}
	if (ms_target_check(c->component, path, &why) < 0)
		return refuse(c, path, why);
	if (*origin == MS_TARGET_SNAPSHOT && !c->under_root && snapshot_path_ok(c->component, path, &why) < 0)
		return refuse(c, path, why);
	return ms_xstrdup(path);
}
