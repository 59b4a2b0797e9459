/*
 * Free-space pre-check for `create` (see space.h): counting the bytes of a
 * tree, learning the compression ratio from the last snapshot, and
 * comparing the estimate with what statvfs says is free.
 */
#include "snapshot/space.h"
#include "snapshot/dest.h"
#include "formats/snaparchive.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <fcntl.h>
#include <limits.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define RATIO_TRIES 3                        /* archives tried by ms_space_ratio */
#define RATIO_MIN_SAMPLE (64LL * 1024)       /* members below this teach nothing */

/* A file with several hard links, counted once at the end. */
struct inode_ref {
	dev_t dev;
	ino_t ino;
	long long size;
};

struct tree_walk {
	const struct ms_strv *excludes; /* create's exclude patterns, may be NULL */
	size_t root_len;          /* of the walked root's path, for relative names */
	long long bytes;          /* files with one link */
	struct inode_ref *multi;  /* files with several links */
	size_t n_multi, alloc_multi;
};

static void add_file(struct tree_walk *w, const struct stat *st)
{
	if (st->st_nlink <= 1) {
		w->bytes += (long long)st->st_size;
		return;
	}
	if (w->n_multi == w->alloc_multi) {
		w->alloc_multi = w->alloc_multi ? 2 * w->alloc_multi : 64;
		w->multi = ms_xrealloc(w->multi, w->alloc_multi * sizeof(*w->multi));
	}
	w->multi[w->n_multi].dev = st->st_dev;
	w->multi[w->n_multi].ino = st->st_ino;
	w->multi[w->n_multi].size = (long long)st->st_size;
	w->n_multi++;
}

/* Walks the directory open on dfd (consumed); `path` is for messages. */
/* The same rule as capture's excludes: a pattern without '/' matches any
 * base name, one with '/' the path relative to the root. */
static bool excluded(const struct tree_walk *w, const char *dir, const char *name)
{
	bool hit = false;
	char *rel;

	if (!w->excludes || w->excludes->n == 0)
		return false;
	rel = strlen(dir) > w->root_len ? ms_xasprintf("%s/%s", dir + w->root_len + 1, name) : ms_xstrdup(name);
	for (size_t i = 0; i < w->excludes->n && !hit; i++) {
		const char *pat = w->excludes->v[i];

		if (!strchr(pat, '/'))
			hit = fnmatch(pat, name, 0) == 0;
		else
			hit = fnmatch(pat[0] == '/' ? pat + 1 : pat, rel, FNM_PATHNAME) == 0;
	}
	free(rel);
	return hit;
}

static void walk_dir(struct tree_walk *w, int dfd, const char *path)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;

	if (!d) {
		ms_log_debug("unable to read directory '%s': %s", path, strerror(errno));
		close(dfd);
		return;
	}
	while ((de = readdir(d))) {
		struct stat st;
		char *sub;
		int fd;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (excluded(w, path, de->d_name))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			ms_log_debug("unable to stat '%s/%s': %s", path, de->d_name, strerror(errno));
			continue;
		}
		if (S_ISREG(st.st_mode)) {
			add_file(w, &st);
			continue;
		}
		if (!S_ISDIR(st.st_mode))
			continue;
		sub = ms_path_join(path, de->d_name);
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			ms_log_debug("unable to open directory '%s': %s", sub, strerror(errno));
		else
			walk_dir(w, fd, sub);
		free(sub);
	}
	closedir(d);
}

static int cmp_inode(const void *a, const void *b)
{
	const struct inode_ref *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return 0;
}

long long ms_space_tree_bytes(const char *dir)
{
	return ms_space_tree_bytes_excluding(dir, NULL);
}

long long ms_space_tree_bytes_excluding(const char *dir, const struct ms_strv *excludes)
{
	struct tree_walk w = { 0 };
	long long total;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return ms_log_error("unable to open directory '%s': %s", dir, strerror(errno));
	w.excludes = excludes;
	w.root_len = strlen(dir);
	walk_dir(&w, fd, dir);
	total = w.bytes;
	if (w.n_multi)
		qsort(w.multi, w.n_multi, sizeof(*w.multi), cmp_inode);
	for (size_t i = 0; i < w.n_multi; i++)
		if (i == 0 || cmp_inode(&w.multi[i - 1], &w.multi[i]) != 0)
			total += w.multi[i].size;
	free(w.multi);
	return total;
}

/* Sum of the member sizes of the archive at path, or -1 (muted: the
 * caller only wants to know whether it could be read). */
static long long member_bytes(const char *path)
{
	struct ms_archive_reader *r = NULL;
	const struct ms_entry *e;
	long long sum = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ms_log_mute(1);
	r = ms_archive_reader_open(fd, path);
	if (!r) {
		sum = -1;
		goto out;
	}
	while ((rc = ms_archive_reader_next(r, &e)) == 1)
		sum += (long long)e->size;
	if (rc < 0)
		sum = -1;
out:
	ms_log_mute(0);
	ms_archive_reader_free(r);
	close(fd);
	return sum;
}

int ms_space_remember(const char *dest, unsigned long long content_bytes, unsigned long long archive_bytes)
{
	char *path = ms_path_join(dest, MS_SPACE_STATS_NAME);
	char line[64];
	int n = snprintf(line, sizeof(line), "%llu %llu\n", content_bytes, archive_bytes);
	/* never through a symlink planted in the destination; 0600 whatever the umask */
	int ret = ms_write_file_replace(path, line, (size_t)n);

	free(path);
	return ret;
}

/* The ratio create remembered, or a negative number. */
static double remembered_ratio(const char *dest)
{
	char *path = ms_path_join(dest, MS_SPACE_STATS_NAME);
	unsigned long long in = 0, out = 0;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	double ratio = -1;

	if (fd >= 0 && !f)
		close(fd);

	if (f && fscanf(f, "%llu %llu", &in, &out) == 2 && in >= RATIO_MIN_SAMPLE && out > 0)
		ratio = (double)out / (double)in;
	if (f)
		fclose(f);
	free(path);
	return ratio;
}

double ms_space_ratio(const char *dest)
{
	struct ms_dest_item *items = NULL;
	double ratio = remembered_ratio(dest);
	size_t n = 0;

	if (ratio > 0)
		return ratio;
	ratio = MS_SPACE_DEFAULT_RATIO;

	ms_log_mute(1);
	if (ms_dest_list(dest, &items, &n) < 0)
		n = 0;
	ms_log_mute(0);
	for (size_t i = 0; i < n && i < RATIO_TRIES; i++) {
		long long sum = member_bytes(items[i].path);

		if (sum < 0) {
			ms_log_debug("'%s' could not be read to learn the compression ratio", items[i].path);
			continue;
		}
		if (sum < RATIO_MIN_SAMPLE || items[i].size <= 0) {
			ms_log_debug("'%s' is too small to learn the compression ratio from", items[i].path);
			break;
		}
		ratio = (double)items[i].size / (double)sum;
		ms_log_debug("compression ratio %.3f learned from '%s'", ratio, items[i].path);
		break;
	}
	ms_dest_items_free(items, n);
	return ratio;
}

long long ms_space_estimate(long long file_bytes, long long db_bytes, double ratio)
{
	long double raw, scaled;
	long long est;

	if (!(ratio > 0) || ratio > DBL_MAX) /* NaN, <= 0, infinite */
		ratio = MS_SPACE_DEFAULT_RATIO;
	raw = (long double)(file_bytes > 0 ? file_bytes : 0) + (long double)(db_bytes > 0 ? db_bytes : 0);
	scaled = raw * (long double)ratio;
	if (scaled >= (long double)(LLONG_MAX - MS_SPACE_OVERHEAD - 1))
		return LLONG_MAX;
	est = (long long)scaled;
	if ((long double)est < scaled) /* round up */
		est++;
	return est + MS_SPACE_OVERHEAD;
}

long long ms_space_default_floor(long long fs_bytes)
{
	long long pct = fs_bytes > 0 ? fs_bytes / 100 * MS_SPACE_FLOOR_PERCENT +
					fs_bytes % 100 * MS_SPACE_FLOOR_PERCENT / 100 : 0;

	return pct < MS_SPACE_FLOOR_MAX ? pct : MS_SPACE_FLOOR_MAX;
}

const char *ms_space_fmt(long long bytes, char buf[MS_SPACE_FMT_MAX])
{
	static const char *const units[] = { "MiB", "GiB", "TiB" };
	double v = bytes > 0 ? (double)bytes / (1024.0 * 1024.0) : 0.0;
	size_t u = 0;

	while (u + 1 < sizeof(units) / sizeof(units[0]) && v >= 1024.0) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, MS_SPACE_FMT_MAX, "%.1f %s", v, units[u]);
	return buf;
}

/* Bytes free for us on dest's filesystem and the filesystem's size. */
static int free_bytes(const char *dest, long long *avail, long long *size)
{
	const char *seam = getenv(MS_SPACE_TEST_FREE_ENV);
	struct statvfs sv;

	if (statvfs(dest, &sv) < 0)
		return ms_log_error("unable to read the free space of '%s': %s", dest, strerror(errno));
	*size = (long long)((unsigned long long)sv.f_blocks * sv.f_frsize);
	*avail = (long long)((unsigned long long)sv.f_bavail * sv.f_frsize);
	if (seam) {
		unsigned long v;

		if (ms_parse_ulong(seam, 0, LLONG_MAX, &v) < 0)
			return ms_log_error("invalid %s '%s': not a byte count", MS_SPACE_TEST_FREE_ENV, seam);
		*avail = (long long)v;
	}
	return 0;
}

int ms_space_check(const char *dest, long long estimate, long long floor)
{
	char need[MS_SPACE_FMT_MAX], keep[MS_SPACE_FMT_MAX], have[MS_SPACE_FMT_MAX];
	long long avail = 0, size = 0;

	if (free_bytes(dest, &avail, &size) < 0)
		return -1;
	if (floor < 0)
		floor = ms_space_default_floor(size);
	if (estimate < 0)
		estimate = 0;
	if (avail - estimate >= floor)
		return 0;
	return ms_log_error("not enough space in '%s': the snapshot needs about %s and %s must stay free (min_free), "
			    "but only %s is free", dest, ms_space_fmt(estimate, need), ms_space_fmt(floor, keep),
			    ms_space_fmt(avail, have));
}
