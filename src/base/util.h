/*
 * Small utilities shared by every layer: checked allocation, file reading,
 * paths and range-checked number parsing. Allocation failure aborts.
 */
#ifndef MS_UTIL_H
#define MS_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/log.h"

void *ms_xmalloc(size_t n);
void *ms_xcalloc(size_t nmemb, size_t size);
void *ms_xrealloc(void *p, size_t n);
char *ms_xstrdup(const char *s);
char *ms_xstrndup(const char *s, size_t n);
/* Like asprintf, aborting on failure; the result is owned by the caller. */
char *ms_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reads a whole regular file into a NUL-terminated buffer (owned by the
 * caller, *len_out set when non-NULL). Refuses files larger than max_size.
 * Returns NULL after logging an error naming the path. */
char *ms_read_file(const char *path, size_t max_size, size_t *len_out);
/* Reads fd until end of file or cap bytes into buf (retrying EINTR); sets
 * *len. 0, or -1 with errno set. Logs nothing. */
int ms_read_fd(int fd, char *buf, size_t cap, size_t *len);

/* Creates path anew for writing, mode 0600 whatever the umask: an entry
 * already there is unlinked first (a symlink or hard link itself, never
 * its target), then opened O_EXCL | O_NOFOLLOW. The descriptor, or -1
 * with errno set. */
int ms_create_private(const char *path);
/* Replaces path with the len bytes at buf (mode 0600): written to
 * PATH.partial, fsynced and renamed over path, so a reader sees the old
 * file or the new one, never a part; the partial file is removed on
 * failure. 0, or -1 after logging "unable to write 'PATH': ...". */
int ms_write_file_replace(const char *path, const void *buf, size_t len);

/* Joins two path parts with exactly one '/'; caller frees. */
char *ms_path_join(const char *a, const char *b);
/* Returns the directory part of path ("." when none); caller frees. */
char *ms_path_dirname(const char *path);
/* Returns a pointer to the last component of path (borrowed). */
const char *ms_path_basename(const char *path);

bool ms_is_dir(const char *path);
/* mkdir -p: creates path and each missing parent with mode 0755 (before
 * umask). 0, or -1 after logging the directory that could not be made. */
int ms_mkdir_p(const char *path);
bool ms_is_file(const char *path);

/* Parses a decimal unsigned integer in [min, max]; the whole string must be
 * digits. Returns 0 and sets *out on success, -1 (nothing logged) otherwise. */
int ms_parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out);

/* ms_parse_duration's flags. */
#define MS_DURATION_BARE 1u /* a number without a unit is seconds ("90") */
#define MS_DURATION_ZERO 2u /* 0 is accepted ("0", "0d"; bare "0" even without MS_DURATION_BARE) */

/* Parses a duration: a decimal number with a unit s, m, h, d or w ("90s",
 * "15m", "12h", "7d", "1w"), up to 100 years; `flags` above say whether a
 * bare number and 0 are accepted. 0 and *secs set, or -1 (nothing logged,
 * *secs untouched). The config file wants a unit and takes 0 (off); the
 * command line takes bare seconds and refuses 0. */
int ms_parse_duration(const char *s, unsigned flags, long *secs);

/* A copy of s safe to print on a terminal: control characters (and DEL)
 * become \xNN, backslashes \\. Caller frees. For text that comes from
 * archives or file names. */
char *ms_printable(const char *s);

/* Overwrites memory holding a secret before it is freed. */
void ms_secure_zero(void *p, size_t n);
/* Zeroes and frees a NUL-terminated secret; NULL is a no-op. */
void ms_free_secret(char *s);

/* A NULL-terminated growable vector of owned strings. Zeroed == empty. */
struct ms_strv {
	char **v;
	size_t n;
	size_t alloc;
};
/* Appends a copy of s. */
void ms_strv_push(struct ms_strv *sv, const char *s);
/* Appends s itself, taking ownership. */
void ms_strv_push_owned(struct ms_strv *sv, char *s);
bool ms_strv_contains(const struct ms_strv *sv, const char *s);
void ms_strv_sort(struct ms_strv *sv);
void ms_strv_clear(struct ms_strv *sv);

/* Test seam for interruption tests: when $MODOSNAP_TEST_STALL equals
 * `point`, says "modosnap: test: stalled at POINT" on stderr and sleeps
 * (up to 10 minutes) so a test can kill the process right there. A no-op
 * otherwise. */
void ms_test_stall(const char *point);

/* pthread_create with every signal blocked in the new thread, so that
 * signals keep reaching the main thread (its handlers set the flags the
 * work checks). 0, or -1 (errno set; no thread). */
int ms_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg);

#endif
