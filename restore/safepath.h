/*
 * The first line of defence against hostile archives (DESIGN-NOTES §5):
 * every member path is checked before anything is written. A safe path is
 * relative, non-empty, at most PATH_MAX-1 bytes, and has no "." or ".."
 * component, no empty component (except one trailing '/'), and no control
 * character.
 */
#ifndef MS_SAFEPATH_H
#define MS_SAFEPATH_H

/* Returns 0 when `path` is safe; otherwise -1 and, when why is non-NULL,
 * sets *why to a static lowercase reason ("absolute path", "'..'
 * component", ...). Logs nothing. */
int ms_safepath_check(const char *path, const char **why);

#endif
