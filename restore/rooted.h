/*
 * Inside the file restore engine: what restore/files.c (trees, Postfix)
 * and restore/rooted.c (the rooted components files/dkim and
 * files/system, FORMAT.md §4.3) share. Not for use outside these two
 * files; the engine's interface is restore/files.h.
 */
#ifndef MS_ROOTED_H
#define MS_ROOTED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "formats/manifest.h"
#include "formats/snaparchive.h"
#include "restore/files.h"

#define MS_FILES_NONE SIZE_MAX

/* The manifest's members sorted by path, for lookups in O(log n): a
 * Maildir's cur/ holds 100,000 files, each of which names its parent. */
struct ms_files_index {
	const struct ms_manifest *m;
	const struct ms_manifest_entry **by_path; /* m's entries, by member path */
	size_t n;
};
void ms_files_index_init(struct ms_files_index *ix, const struct ms_manifest *m);
/* The index in m->entries of the member named by the len bytes at path,
 * or MS_FILES_NONE. */
size_t ms_files_index_find(const struct ms_files_index *ix, const char *path, size_t len);
void ms_files_index_clear(struct ms_files_index *ix);

/* The member "prefix" itself or one under "prefix/". */
bool ms_files_under(const char *path, const char *prefix, size_t plen);

/* The rules of a rooted component (rooted.c) for member i of ix->m, a
 * path under `prefix` ("files/dkim"). 0, or -1 after logging "refusing
 * member 'PATH': WHY" (ms_files_refuse). */
int ms_files_check_rooted(const struct ms_files_index *ix, size_t i, const char *prefix);
/* Logs "refusing member 'PATH': WHY"; returns -1. */
int ms_files_refuse(const char *path, const char *why);
/* The parent of member i is an earlier directory member: 0, or -1 after
 * logging why not. */
int ms_files_check_parent(const struct ms_files_index *ix, size_t i);

/* One destination of members: a directory (fd `root`, named `staging`
 * in messages) below which the members under `prefix` are written. */
struct ms_files_stager {
	const struct ms_manifest *m;
	const char *prefix;
	size_t plen;
	const char *staging;
	int root;                   /* fd of the staging directory */
	bool chown_ok;              /* running as root */
	struct ms_files_stats *st;
	char *buf;                  /* MS_FILES_IO_BUF bytes */
};
#define MS_FILES_IO_BUF ((size_t)64 << 10)

/* Writes member me (whose data r is positioned at) as `rel` below s->root
 * ("." is the root itself, already there): a file's content is checked
 * against the manifest and synced, owner/mode/xattrs/times set; a
 * directory gets its metadata later (ms_files_stager_dir_meta). A
 * hardlink's target is taken relative to s->prefix. 0, or -1 after
 * logging. */
int ms_files_write_member(struct ms_files_stager *s, struct ms_archive_reader *r, const struct ms_manifest_entry *me,
			  const char *rel);
/* The metadata of every directory member under s->prefix, deepest first
 * (creating children changes a directory's mtime). 0, or -1 after
 * logging. */
int ms_files_stager_dir_meta(struct ms_files_stager *s);

/* Removes `name` in directory fd `parent` (a tree without following
 * symlinks); `path` names it in messages. Missing is fine. 0, or -1
 * after logging. */
int ms_files_remove_at(int parent, const char *name, const char *path);

/* Compares member me with the live file `live` (ms_files_check_live's
 * rules). 0, or -1 after logging the difference. */
int ms_files_check_entry(const struct ms_manifest_entry *me, const char *live);

#endif
