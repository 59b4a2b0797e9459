/*
 * The rclone transport: every remote operation is one run of the `rclone`
 * binary (posix_spawn, never a shell) on one file directly under the
 * remote's url. Credentials stay in rclone's config file: the command line
 * holds only the config path, the url and file names, and the child gets a
 * clean environment (PATH, HOME, LANG=C, nothing else). Each call is
 * bounded: rclone's own --contimeout 15s --timeout 60s for the network,
 * and a kill when the whole run outlasts MS_RCLONE_KILL_S (an upload gets
 * one more second for each 64 KiB of the file, i.e. it must average 64 KiB/s;
 * a download or read-back, whose size is not known here, the bound of a
 * 64 GiB file). A failure is logged once,
 * "remote 'NAME': ACTION failed (rclone exit N): LAST LINES OF ITS STDERR".
 */
#ifndef MS_RCLONE_H
#define MS_RCLONE_H

#include <stddef.h>

/* The default bound of one rclone run, in seconds, before it is killed. */
#define MS_RCLONE_KILL_S 600L

/* One remote (borrowed strings; the caller keeps them alive). */
struct ms_rclone {
	const char *binary;   /* NULL: "rclone" from PATH */
	const char *config;   /* rclone's config file (--config), NULL: rclone's default */
	const char *name;     /* the [remote:NAME] name, for messages */
	const char *url;      /* "myremote:bucket/modosnap" (no trailing '/') */
	long kill_after_s;    /* 0: MS_RCLONE_KILL_S (the bound of a run that moves no file) */
};

/* A file of a remote: both fields owned by the array. */
struct ms_remote_file {
	char *name;
	long long size;
};

/* Files directly under url (directories left out), sorted by name
 * (strcmp); a url that does not exist yet is an empty list. *out (free
 * with ms_remote_files_free) and *n set only on success. 0 / -1 after
 * logging. */
int ms_rclone_list(const struct ms_rclone *rc, struct ms_remote_file **out, size_t *n);
/* Frees an array returned by ms_rclone_list or ms_remote_list; NULL is a no-op. */
void ms_remote_files_free(struct ms_remote_file *f, size_t n);

/* `name` below is a plain file name (no '/', no control character, not
 * "." or ".."): anything else is refused (-1, logged) before rclone runs. */

/* Copies the local file to url/name (rclone copyto, always transferred,
 * even when a file of the same size and time is there). 0 / -1. */
int ms_rclone_upload(const struct ms_rclone *rc, const char *local, const char *name);
/* Copies url/name to the local path (created or replaced). 0 / -1. */
int ms_rclone_download(const struct ms_rclone *rc, const char *name, const char *local);
/* Writes `text` (at most 60 KiB) as url/name (rclone rcat). 0 / -1. */
int ms_rclone_put_text(const struct ms_rclone *rc, const char *name, const char *text);
/* The content of url/name (rclone cat) as a NUL-terminated string the
 * caller frees; NULL after logging when it fails, or when the file holds
 * more than `max` bytes or a NUL byte. */
char *ms_rclone_get_text(const struct ms_rclone *rc, const char *name, size_t max);
/* SHA-256 of url/name as read back from the remote (rclone hashsum sha256
 * --download), 64 lowercase hex digits and a NUL in hex. 0 / -1. */
int ms_rclone_sha256(const struct ms_rclone *rc, const char *name, char hex[65]);
/* Deletes url/name (rclone deletefile); a missing file is an error. 0 / -1. */
int ms_rclone_delete(const struct ms_rclone *rc, const char *name);

#endif
