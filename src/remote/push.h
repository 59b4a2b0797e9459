/*
 * The push protocol on top of the rclone transport: a remote never shows
 * a half-uploaded snapshot as valid. An archive NAME is uploaded, read
 * back (size and SHA-256 from the remote), and only then is its marker
 * NAME.ok written, the last step:
 *
 *     modosnap-remote 1
 *     sha256 HEX
 *     size N
 *
 * A snapshot of the remote is an archive whose marker exists and names the
 * archive's size; an archive without one is a killed push, replaced by the
 * next push of that name.
 */
#ifndef MS_PUSH_H
#define MS_PUSH_H

#include <stddef.h>

#include "base/util.h"
#include "formats/marker.h"
#include "remote/rclone.h"

/* The marker's suffix (formats/marker.h). */
#define MS_REMOTE_MARKER MS_MARKER_SUFFIX

/* Uploads archive `path` (its base name kept) to rc, checks size and
 * SHA-256 read back from the remote, then writes the marker NAME.ok last.
 * A complete pair already there with the same SHA-256: nothing to do (0).
 * An archive without its marker (a killed push): replaced. A complete
 * pair of that name with another SHA-256 is never replaced (-1). 0 / -1
 * after logging naming the remote. */
int ms_remote_push(const struct ms_rclone *rc, const char *path);

/* ms_remote_push with the meta of `meta` (its snapshot id, creation time
 * and tags: what prune --remote decides on) written into the marker;
 * meta may be NULL. */
int ms_remote_push_meta(const struct ms_rclone *rc, const char *path, const struct ms_marker *meta);
/* Reads NAME's marker into *out (ms_marker_clear it; the meta fields are
 * NULL / empty when the marker has none, e.g. written by an older
 * modosnap). 0, 1 when it is not a modosnap marker (warned), -1 after
 * logging. */
int ms_remote_info(const struct ms_rclone *rc, const char *name, struct ms_marker *out);
/* The complete snapshots of the remote, sorted by name: archive names
 * whose marker exists and names the archive's size (half-uploaded ones are
 * left out; a marker that cannot be parsed is warned about and left out).
 * *out (ms_remote_files_free) and *n set only on success. 0 / -1. */
int ms_remote_list(const struct ms_rclone *rc, struct ms_remote_file **out, size_t *n);
/* Downloads NAME into dir (as NAME.partial, made 0600 and renamed to NAME
 * when size and SHA-256 match the marker; removed when they do not). An
 * existing dir/NAME is never replaced: used as it is when it has the
 * marker's size and SHA-256 (an earlier fetch's), refused otherwise.
 * 0 / -1. */
int ms_remote_fetch(const struct ms_rclone *rc, const char *name, const char *dir);
/* Removes NAME's marker first (so that NAME stops being listed), then the
 * archive. A half-uploaded NAME (no marker) is removed too. 0 / -1. */
int ms_remote_delete(const struct ms_rclone *rc, const char *name);

#endif
