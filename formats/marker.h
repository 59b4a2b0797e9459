/*
 * The marker of a complete copy (docs/offhost.md, formats/FORMAT.md): a
 * short text file NAME.ok written after the copy NAME, last, by a push to
 * a remote and by the local encryption of a snapshot ([encrypt] local):
 *
 *     modosnap-remote 1
 *     sha256 HEX          (of NAME as stored: the ciphertext when encrypted)
 *     size N
 *     snapshot ID         (optional: the snapshot's id, its creation time
 *     created TIME         and its tags, so that a copy that cannot be
 *     tag T ...            decrypted can still be listed and pruned)
 *
 * A marker is untrusted input: only printable lines of these shapes parse.
 */
#ifndef MS_MARKER_H
#define MS_MARKER_H

#include "base/hash.h"
#include "base/util.h"

#define MS_MARKER_SUFFIX ".ok"
#define MS_MARKER_MAX 4096 /* longest marker read */

struct ms_marker {
	char sha256[MS_HASH_HEX_MAX];
	long long size;
	char *snapshot_id, *created; /* NULL when the marker has none */
	struct ms_strv tags;
};

/* Parses a marker's text into *m (ms_marker_clear it): 0, or -1 when it
 * is not a marker (nothing logged, nothing to clear). */
int ms_marker_parse(const char *text, struct ms_marker *m);
/* The text of a marker for m (meta values with a line break are left
 * out); caller frees. */
char *ms_marker_format(const struct ms_marker *m);
void ms_marker_clear(struct ms_marker *m);

/* Local files: PATH's marker PATH.ok read and parsed (0; 1 when it is not
 * a marker, warned about; -1 when it cannot be read, logged), and written
 * atomically, mode 0600 (0 / -1 after logging). */
int ms_marker_read_file(const char *path, struct ms_marker *m);
int ms_marker_write_file(const char *path, const struct ms_marker *m);

#endif
