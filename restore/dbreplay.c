/*
 * Shared parts of the database restore engines (see dbreplay.h).
 */
#include "restore/dbreplay.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"

const struct ms_manifest_db *ms_db_find(const struct ms_manifest *m, const char *alias)
{
	for (size_t i = 0; i < m->n_dbs; i++)
		if (m->dbs[i].alias && !strcmp(m->dbs[i].alias, alias))
			return &m->dbs[i];
	return NULL;
}

int ms_db_replay(const char *archive_path, const char *prefix, const char *alias, ms_replay_cb cb, void *ctx,
		 struct ms_progress *progress)
{
	return ms_db_replay_until(archive_path, prefix, alias, cb, ctx, progress, NULL);
}

int ms_db_replay_until(const char *archive_path, const char *prefix, const char *alias, ms_replay_cb cb, void *ctx,
		       struct ms_progress *progress, const atomic_bool *stop)
{
	struct ms_archive_reader *r;
	const struct ms_entry *e;
	int fd = open(archive_path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return ms_log_error("unable to open '%s': %s", archive_path, strerror(errno));
	r = ms_archive_reader_open(fd, archive_path);
	if (!r) {
		close(fd);
		return -1;
	}
	if (progress)
		ms_archive_reader_count(r, &progress->bytes);
	while ((rc = ms_archive_reader_next(r, &e)) == 1) {
		if (stop && atomic_load(stop)) {
			rc = -1;
			break;
		}
		if (strncmp(e->path, prefix, strlen(prefix)) != 0)
			continue;
		if (alias && e->type != MS_ENTRY_FILE) {
			rc = ms_log_error("database '%s': member '%s' is not a file", alias, e->path);
			break;
		}
		if (cb(ctx, r, e->path) < 0) {
			rc = -1;
			break;
		}
	}
	ms_archive_reader_free(r);
	close(fd);
	return rc < 0 ? -1 : 0;
}

/* The manifest table whose directory name is exactly dir, or -1. */
static long find_table(const struct ms_manifest_db *mdb, const char *dir, size_t dlen)
{
	for (size_t i = 0; i < mdb->n_tables; i++) {
		const struct ms_manifest_table *t = &mdb->tables[i];
		size_t sl = strlen(t->schema), nl = strlen(t->name);

		if (sl + 1 + nl == dlen && !memcmp(dir, t->schema, sl) && dir[sl] == '.' &&
		    !memcmp(dir + sl + 1, t->name, nl))
			return (long)i;
	}
	return -1;
}

/* Parses rel = "data/<schema>.<table>/NNNNNN<ext>": 0 with *num and *ti,
 * -1 when the name is not one, -2 when it names no table of mdb. */
static int parse_chunk(const struct ms_manifest_db *mdb, const char *rel, const char *ext, unsigned long *num,
		       long *ti)
{
	const char *dir = rel + 5, *slash;
	size_t elen = strlen(ext);
	char digits[7];

	if (strncmp(rel, "data/", 5) != 0)
		return -1;
	slash = strrchr(dir, '/');
	if (!slash || strchr(dir, '/') != slash || strlen(slash + 1) != 6 + elen || strcmp(slash + 7, ext) != 0 ||
	    strspn(slash + 1, "0123456789") != 6)
		return -1;
	memcpy(digits, slash + 1, 6);
	digits[6] = '\0';
	if (ms_parse_ulong(digits, 1, 999999, num) < 0)
		return -1;
	*ti = find_table(mdb, dir, (size_t)(slash - dir));
	return *ti < 0 ? -2 : 0;
}

int ms_db_chunk(const struct ms_manifest_db *mdb, const char *alias, const char *path, const char *rel,
		const char *ext, unsigned long *seen, size_t *table)
{
	unsigned long num;
	long ti;
	int rc = parse_chunk(mdb, rel, ext, &num, &ti);

	if (rc == -1)
		return ms_log_error("database '%s': unexpected member '%s'", alias, path);
	if (rc == -2)
		return ms_log_error("database '%s': member '%s' names no table of the manifest", alias, path);
	if (num != seen[ti] + 1)
		return ms_log_error("database '%s': member '%s' is out of order", alias, path);
	seen[ti] = num;
	*table = (size_t)ti;
	return 0;
}

int ms_db_chunk_table(const struct ms_manifest_db *mdb, const char *rel, const char *ext, size_t *table)
{
	unsigned long num;
	long ti;

	if (parse_chunk(mdb, rel, ext, &num, &ti) < 0)
		return -1;
	*table = (size_t)ti;
	return 0;
}

int ms_db_check_chunks(const struct ms_manifest_db *mdb, const char *alias, const unsigned long *seen)
{
	for (size_t i = 0; i < mdb->n_tables; i++)
		if (seen[i] != mdb->tables[i].chunks)
			return ms_log_error("database '%s': table '%s.%s': %lu data members, the manifest lists %lu",
					    alias, mdb->tables[i].schema, mdb->tables[i].name, seen[i],
					    mdb->tables[i].chunks);
	return 0;
}

void ms_table_counts_free(struct ms_table_count *t, size_t n)
{
	for (size_t i = 0; t && i < n; i++) {
		free(t[i].schema);
		free(t[i].name);
	}
	free(t);
}

void ms_db_assign_lanes(const struct ms_manifest_db *mdb, unsigned loaders, unsigned char *owner)
{
	size_t n = mdb->n_tables;
	bool *taken = ms_xcalloc(n + 1, sizeof(*taken));
	long double *work = ms_xcalloc(loaders, sizeof(*work));

	for (size_t k = 0; k < n; k++) {
		size_t best = n;
		long double best_w = -1;
		unsigned lane = 0;

		for (size_t i = 0; i < n; i++) {
			const struct ms_manifest_table *t = &mdb->tables[i];
			long double w = (long double)t->rows + (long double)t->chunks * 54000.0L;

			if (!taken[i] && w > best_w) {
				best = i;
				best_w = w;
			}
		}
		for (unsigned j = 1; j < loaders; j++)
			if (work[j] < work[lane])
				lane = j;
		taken[best] = true;
		owner[best] = (unsigned char)lane;
		work[lane] += best_w;
	}
	free(taken);
	free(work);
}

long ms_db_side_pid(const char *name, const char *kind)
{
	size_t kl = strlen(kind);
	unsigned long pid;
	const char *us;
	char *digits;
	int rc;

	if (strncmp(name, kind, kl) != 0 || name[kl] != '_' || !(us = strchr(name + kl + 1, '_')))
		return -1;
	digits = ms_xstrndup(name + kl + 1, (size_t)(us - (name + kl + 1)));
	rc = ms_parse_ulong(digits, 1, (unsigned long)LONG_MAX, &pid);
	free(digits);
	return rc < 0 ? -1 : (long)pid;
}
