/*
 * The first line of defence against hostile archives (docs/dev/design.md §5):
 * every member path is checked before anything is written. A safe path is
 * relative, non-empty, at most MS_MEMBER_PATH_MAX bytes, and has no "."
 * or ".." component and no empty component (except one trailing '/').
 * Control characters are legal in Linux file names: restore restores them
 * and every message prints them escaped (ms_printable).
 */
#ifndef MS_SAFEPATH_H
#define MS_SAFEPATH_H

/* Returns 0 when `path` is safe; otherwise -1 and, when why is non-NULL,
 * sets *why to a static lowercase reason ("absolute path", "'..'
 * component", ...). Logs nothing. */
int ms_safepath_check(const char *path, const char **why);

#endif
