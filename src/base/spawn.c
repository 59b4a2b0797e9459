/*
 * Children's signal state (see spawn.h).
 */
#include "base/spawn.h"

#include <signal.h>

void ms_spawnattr_init_clean(posix_spawnattr_t *attr)
{
	sigset_t none, dfl;

	posix_spawnattr_init(attr);
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGHUP);
	sigaddset(&dfl, SIGPIPE);
	posix_spawnattr_setsigmask(attr, &none);
	posix_spawnattr_setsigdefault(attr, &dfl);
	posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
}
