/*
 * Archive member path checks (see safepath.h).
 */
#include "restore/safepath.h"
#include "formats/entry.h"

#include <limits.h>
#include <string.h>

static int fail(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return -1;
}

int ms_safepath_check(const char *path, const char **why)
{
	size_t len = strlen(path);
	const char *p = path;

	if (len == 0)
		return fail(why, "empty path");
	if (len > MS_MEMBER_PATH_MAX)
		return fail(why, "path too long");
	if (path[0] == '/')
		return fail(why, "absolute path");
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 0)
			return fail(why, "empty path component");
		if (n == 1 && p[0] == '.')
			return fail(why, "'.' component");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return fail(why, "'..' component");
		p += n;
		if (*p == '/')
			p++;
	}
	return 0;
}
