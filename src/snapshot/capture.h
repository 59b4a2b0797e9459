/*
 * File capture for `create`: walks a directory tree (or takes single
 * files) and writes every object into the archive under a member prefix,
 * recording each in the manifest. Regular files, directories, symlinks (as
 * links, never followed), hardlinks within what was captured, permissions,
 * owner and group (ids and names), mtime and extended attributes (POSIX
 * ACLs included, as system.posix_acl_* xattrs). Sockets, FIFOs and device
 * nodes are skipped and listed in the manifest. A file that changes while
 * read is re-read a bounded number of times, then archived as last read and
 * flagged MS_MF_CHANGED with a warning naming it. An unreadable file is an
 * error naming it. In Maildir mode a message renamed while the walk runs
 * (new/ -> cur/, a flag change) is captured under its new name.
 */
#ifndef MS_CAPTURE_H
#define MS_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "formats/snaparchive.h"
#include "formats/manifest.h"
#include "base/util.h"

struct ms_capture_opts {
	const struct ms_strv *excludes; /* fnmatch patterns: without '/' they match any base
	                                   name; with '/' the path relative to the root */
	int max_retries;                /* re-reads of a changing file (0 = default 3,
	                                   negative = none) */
	size_t buffer_limit;            /* files up to this size are read into memory so a
	                                   change can be retried (0 = default 16 MiB); larger
	                                   files are streamed and only flagged */
	bool maildir;                   /* Dovecot may rename or delete messages while they
	                                   are read: a file under a directory named new or
	                                   cur that vanished between listing and reading is
	                                   looked for under its new name in the sibling cur/
	                                   and its own directory (same unique part, the name
	                                   up to the first ':', neither captured already nor
	                                   still to come in this walk) and captured as that;
	                                   not found, it counts in stats.vanished without a
	                                   warning (the caller prints one summary) */
	/* Test hook, NULL outside tests: called after the names of a directory
	 * are listed and before any of them is read, with its source path. */
	void (*listed)(void *arg, const char *dir);
	void *listed_arg;
};

struct ms_capture_stats {
	uint64_t entries;
	uint64_t bytes;     /* file content bytes read */
	uint64_t changed;   /* files flagged MS_MF_CHANGED */
	uint64_t skipped;   /* sockets, FIFOs, devices */
	uint64_t vanished;  /* objects gone between listing and reading (each warned,
	                       except Maildir messages) */
	uint64_t renamed;   /* Maildir messages captured under the name they were renamed
	                       to during the walk */
};

struct ms_capture; /* opaque: remembers hardlinks and owner names across calls */

/* w, m and opts->excludes are borrowed and must outlive c; opts may be
 * NULL (defaults). Never NULL. */
struct ms_capture *ms_capture_new(struct ms_archive_writer *w, struct ms_manifest *m,
				  const struct ms_capture_opts *opts);
/* Captures the tree at `root` (itself included, as `prefix`) under member
 * paths `prefix/...`. `root` must name a directory (a symlink given as the
 * root itself is followed; nothing below it is). A hardlink member only
 * ever names an earlier member of the same call (restore accepts no link
 * across components or roots). Returns 0, or -1 after logging an error
 * naming the path at fault (the archive is then unusable). An object that
 * disappears during the walk is a warning. */
int ms_capture_tree(struct ms_capture *c, const char *root, const char *prefix);
/* Captures what `path` is -- a regular file, a symbolic link (stored as a
 * link, never followed, even as the root), or a directory (its tree, as
 * ms_capture_tree) -- as member `member`: a root of a rooted component
 * (files/dkim, files/system). The directories leading to it are used as
 * written. Excludes apply below a directory; a FIFO, socket or device is
 * skipped. A missing path is an error naming it. Same return. */
int ms_capture_path(struct ms_capture *c, const char *path, const char *member);
/* Captures the file at `path` as member `member`, always as a regular
 * file member: a symlink is followed, a file with other links is stored
 * whole (components of single files, such as the Postfix one, hold
 * nothing else). Excludes do not apply; a directory or a missing file is
 * an error; a FIFO, socket or device is skipped. Same return. */
int ms_capture_file(struct ms_capture *c, const char *path, const char *member);
void ms_capture_stats(const struct ms_capture *c, struct ms_capture_stats *st);
void ms_capture_free(struct ms_capture *c);

#endif
