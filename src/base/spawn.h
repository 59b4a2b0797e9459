/*
 * Children started with posix_spawn (hooks, rclone): what they inherit of
 * modosnap's signal state.
 */
#ifndef MS_BASE_SPAWN_H
#define MS_BASE_SPAWN_H

#include <spawn.h>

/* posix_spawnattr_init, then: the child starts with no signal blocked and
 * the default disposition of SIGINT, SIGTERM, SIGHUP and SIGPIPE, whatever
 * modosnap holds blocked (create's pause window) or ignores (SIGPIPE) or
 * handles at the time. The caller destroys attr. */
void ms_spawnattr_init_clean(posix_spawnattr_t *attr);

#endif
