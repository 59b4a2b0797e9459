/*
 * The rooted components, files/dkim and files/system (FORMAT.md §4.3):
 * members at their absolute (dkim) or system-root-relative (system) path
 * below the prefix, each root — a member whose parent is not a member —
 * put back at its own target, one by one. A directory root is staged
 * beside its target and swapped in like files/instance; a file or symlink
 * root is written to a temporary name beside its target and renamed over
 * it. Everything is written before the first target is replaced, so a
 * failed write leaves every target as it was. Files beside a target are
 * not part of the snapshot and are never touched.
 */
#include "restore/rooted.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "restore/dbreplay.h"
#include "restore/safepath.h"
#include "restore/targets.h"

/* --- the manifest's rules --------------------------------------------------- */

/* The length of the root member that member i lies in (itself when it is
 * a root): its topmost ancestor that is a member. */
static size_t root_len(const struct ms_files_index *ix, const char *path, size_t len, size_t plen)
{
	size_t root = len;

	for (size_t k = len; k > plen + 1; k--)
		if (path[k - 1] == '/' && ms_files_index_find(ix, path, k - 1) != MS_FILES_NONE)
			root = k - 1;
	return root;
}

/* Member i has no member among its ancestors (a root): any member above
 * it would be the root of a tree that lacks i's parent. */
static int check_root(const struct ms_files_index *ix, size_t i, size_t plen)
{
	const struct ms_entry *e = &ix->m->entries[i].e;

	if (root_len(ix, e->path, strlen(e->path), plen) != strlen(e->path))
		return ms_files_refuse(e->path, "its parent directory is not a member before it");
	if (e->type != MS_ENTRY_FILE && e->type != MS_ENTRY_SYMLINK && e->type != MS_ENTRY_DIR)
		return ms_files_refuse(e->path, "a root is a regular file, a symlink or a directory");
	return 0;
}

int ms_files_check_rooted(const struct ms_files_index *ix, size_t i, const char *prefix)
{
	const struct ms_entry *e = &ix->m->entries[i].e;
	size_t plen = strlen(prefix), len = strlen(e->path);
	const char *slash = strrchr(e->path, '/');

	if (e->path[plen] == '\0')
		return ms_files_refuse(e->path, "the prefix of a rooted component is never a member");
	if (e->path[len - 1] == '/')
		return ms_files_refuse(e->path, "empty path component");
	if (ms_files_index_find(ix, e->path, (size_t)(slash - e->path)) == MS_FILES_NONE)
		return check_root(ix, i, plen);
	if (ms_files_check_parent(ix, i) < 0)
		return -1;
	if (e->type == MS_ENTRY_HARDLINK) {
		size_t t = e->link ? ms_files_index_find(ix, e->link, strlen(e->link)) : MS_FILES_NONE;
		size_t r = root_len(ix, e->path, len, plen);

		if (t == MS_FILES_NONE || t >= i || ix->m->entries[t].e.type != MS_ENTRY_FILE ||
		    root_len(ix, e->link, strlen(e->link), plen) != r || strncmp(e->link, e->path, r) != 0)
			return ms_files_refuse(e->path, "hardlink to something other than an earlier file of its root");
	}
	return 0;
}

void ms_files_roots(const struct ms_manifest *m, const char *prefix, struct ms_strv *roots)
{
	struct ms_files_index ix;
	size_t plen = strlen(prefix);

	ms_files_index_init(&ix, m);
	for (size_t i = 0; i < m->n_entries; i++) {
		const char *path = m->entries[i].e.path, *slash = strrchr(path, '/');

		if (strncmp(path, prefix, plen) != 0 || path[plen] != '/')
			continue;
		if (ms_files_index_find(&ix, path, (size_t)(slash - path)) == MS_FILES_NONE)
			ms_strv_push(roots, path);
	}
	ms_files_index_clear(&ix);
}

/* --- restoring the roots ---------------------------------------------------- */

/* One root on its way to its target. */
struct job {
	const struct ms_root_target *t;
	const struct ms_manifest_entry *me; /* the root member */
	size_t mlen;                        /* strlen(t->member) */
	int dirfd;                          /* the target's directory, or -1 */
	char *dir;                          /* its path, for messages */
	const char *name;                   /* the target's base name */
	char *tmp;                          /* staging directory or temporary file beside the target */
	char *tmp_path;                     /* dir/tmp, for messages */
	bool written;                       /* tmp holds what was written: removed on failure */
	bool seen;                          /* the root member came by */
	bool swapped;                       /* in place */
	bool exchanged;                     /* swapped with the old target, which is now at tmp */
	struct ms_files_stager s;
};

struct roots_run {
	const struct ms_manifest *m;
	struct ms_files_index ix;
	struct job *jobs;
	size_t n;
	struct ms_strv created; /* directories made on the way, outermost first */
	char *buf;
};

static bool is_dir_root(const struct job *j)
{
	return j->me && j->me->e.type == MS_ENTRY_DIR; /* me: NULL until check_target */
}

/* t is a root member of a rooted component, its target an absolute
 * normalised path that overlaps no other target. */
static int check_target(struct roots_run *run, size_t k)
{
	const struct ms_root_target *t = run->jobs[k].t;
	size_t i = ms_files_index_find(&run->ix, t->member, strlen(t->member));
	const char *slash = strrchr(t->member, '/'), *why = NULL;

	if (i == MS_FILES_NONE || (strncmp(t->member, "files/dkim/", 11) && strncmp(t->member, "files/system/", 13)) ||
	    ms_files_index_find(&run->ix, t->member, (size_t)(slash - t->member)) != MS_FILES_NONE ||
	    run->m->entries[i].e.type == MS_ENTRY_HARDLINK)
		return ms_log_error("'%s' is not a root of a rooted component of the snapshot", t->member);
	run->jobs[k].me = &run->m->entries[i];
	run->jobs[k].mlen = strlen(t->member);
	if (t->target[0] != '/' || ms_safepath_check(t->target + 1, &why) < 0 ||
	    t->target[strlen(t->target) - 1] == '/')
		why = why ? why : "not an absolute path";
	for (size_t o = 0; !why && o < k; o++) {
		const char *a = t->target, *b = run->jobs[o].t->target;

		if (ms_files_under(a, b, strlen(b)) || ms_files_under(b, a, strlen(a)))
			why = "it overlaps the target of another root";
	}
	if (why) {
		char *p = ms_printable(t->target);

		ms_log_error("target '%s' of '%s' refused: %s", p, t->member, why);
		free(p);
		return -1;
	}
	return 0;
}

/* Opens the directory that holds the target (no symlink on the way:
 * O_NOFOLLOW at every step), creating the missing ones, 0755 and root's
 * when running as root. */
static int open_parent(struct roots_run *run, struct job *j)
{
	const char *why;
	char *at = NULL, *p = j->dir + 1;
	int fd;

	if (ms_target_parents_ok(j->t->target, &why, &at) < 0) {
		char *pt = ms_printable(j->t->target), *pa = ms_printable(at);

		ms_log_error("target '%s' refused: '%s' on its way is %s", pt, pa, why);
		free(pt);
		free(pa);
		free(at);
		return -1;
	}
	fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ms_log_error("unable to open '/': %s", strerror(errno));
	while (fd >= 0 && *p) {
		size_t n = strcspn(p, "/");
		char *name = ms_xstrndup(p, n), *sub = ms_xstrndup(j->dir, (size_t)(p + n - j->dir));
		int next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (next < 0 && errno == ENOENT && mkdirat(fd, name, 0755) == 0) {
			next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			ms_strv_push(&run->created, sub);
			if (next >= 0 && (fchmod(next, 0755) < 0 || (geteuid() == 0 && fchown(next, 0, 0) < 0)))
				ms_log_warn("unable to set the owner and mode of '%s': %s", sub, strerror(errno));
		}
		if (next < 0)
			ms_log_error("unable to open '%s': %s", sub, strerror(errno));
		close(fd);
		fd = next;
		p += n + (p[n] == '/');
		free(name);
		free(sub);
	}
	j->dirfd = fd;
	return fd < 0 ? -1 : 0;
}

/* Opens the target's directory and makes the temporary name: a staging
 * directory for a directory root, a file name for the others. */
static int prepare(struct roots_run *run, struct job *j, struct ms_files_stats *stats)
{
	j->dir = ms_path_dirname(j->t->target);
	j->name = ms_path_basename(j->t->target);
	if (open_parent(run, j) < 0)
		return -1;
	memset(&j->s, 0, sizeof(j->s));
	j->s.m = run->m;
	j->s.prefix = j->t->member;
	j->s.plen = j->mlen;
	j->s.chown_ok = geteuid() == 0;
	j->s.st = stats;
	j->s.buf = run->buf;
	j->s.root = j->dirfd;
	j->s.staging = j->dir;
	if (!is_dir_root(j)) {
		j->tmp = ms_xasprintf(".%s.modosnap-%ld", j->name, (long)getpid());
		j->tmp_path = ms_path_join(j->dir, j->tmp);
		unlinkat(j->dirfd, j->tmp, 0); /* a stale one of a crashed run with our pid */
		return 0;
	}
	j->tmp = ms_xasprintf(".%s.modosnap-restore", j->name);
	j->tmp_path = ms_path_join(j->dir, j->tmp);
	if (faccessat(j->dirfd, j->tmp, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		ms_log_warn("removing '%s', left behind by an interrupted restore", j->tmp_path);
		if (ms_files_remove_at(j->dirfd, j->tmp, j->tmp_path) < 0)
			return -1;
	}
	if (mkdirat(j->dirfd, j->tmp, 0700) < 0)
		return ms_log_error("unable to create '%s': %s", j->tmp_path, strerror(errno));
	j->written = true;
	j->s.staging = j->tmp_path;
	j->s.root = openat(j->dirfd, j->tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (j->s.root < 0)
		return ms_log_error("unable to open '%s': %s", j->tmp_path, strerror(errno));
	return 0;
}

static int on_root_member(void *ctx, struct ms_archive_reader *r, const char *path)
{
	struct roots_run *run = ctx;
	struct job *j = NULL;
	size_t i;

	for (size_t k = 0; k < run->n && !j; k++)
		if (ms_files_under(path, run->jobs[k].t->member, run->jobs[k].mlen))
			j = &run->jobs[k];
	if (!j)
		return 0;
	i = ms_files_index_find(&run->ix, path, strlen(path));
	if (i == MS_FILES_NONE)
		return ms_log_error("member '%s' is not in the manifest", path);
	if (path[j->mlen] == '\0')
		j->seen = true;
	if (is_dir_root(j))
		return ms_files_write_member(&j->s, r, &run->m->entries[i], path[j->mlen] ? path + j->mlen + 1 : ".");
	if (path[j->mlen] != '\0')
		return ms_log_error("member '%s' lies below a root that is not a directory", path);
	j->written = true;
	return ms_files_write_member(&j->s, r, &run->m->entries[i], j->tmp);
}

/* After the pass: every root arrived, directory roots get their
 * directories' metadata and are synced. */
static int finish_writing(struct roots_run *run)
{
	for (size_t k = 0; k < run->n; k++) {
		struct job *j = &run->jobs[k];

		if (!j->seen)
			return ms_log_error("member '%s' is not in the archive", j->t->member);
		if (!is_dir_root(j))
			continue;
		if (ms_files_stager_dir_meta(&j->s) < 0)
			return -1;
		if (fsync(j->s.root) < 0)
			return ms_log_error("unable to sync '%s': %s", j->tmp_path, strerror(errno));
	}
	return 0;
}

/* Puts each temporary in the place of its target: renamed over a file or
 * symlink, exchanged with a directory (or with anything, for a directory
 * root), whose old content is then removed. */
static int swap_all(struct roots_run *run)
{
	for (size_t k = 0; k < run->n; k++) {
		struct job *j = &run->jobs[k];
		struct stat st;
		bool exists = fstatat(j->dirfd, j->name, &st, AT_SYMLINK_NOFOLLOW) == 0;

		if (!exists && errno != ENOENT)
			return ms_log_error("unable to examine '%s': %s", j->t->target, strerror(errno));
		if (exists && (is_dir_root(j) || S_ISDIR(st.st_mode))) {
			if (renameat2(j->dirfd, j->tmp, j->dirfd, j->name, RENAME_EXCHANGE) < 0)
				return ms_log_error("unable to exchange '%s' and '%s': %s", j->tmp_path, j->t->target,
						    strerror(errno));
			j->exchanged = true;
		} else if (renameat(j->dirfd, j->tmp, j->dirfd, j->name) < 0) {
			return ms_log_error("unable to move '%s' to '%s': %s", j->tmp_path, j->t->target,
					    strerror(errno));
		}
		j->written = false;
		j->swapped = true;
	}
	return 0;
}

/* After the swaps: a directory root's times again (a rename may touch
 * them), the old content removed, each directory synced. */
static void settle(struct roots_run *run)
{
	for (size_t k = 0; k < run->n; k++) {
		struct job *j = &run->jobs[k];

		if (!j->swapped)
			continue;
		if (is_dir_root(j)) {
			struct timespec ts[2];

			ts[0].tv_sec = ts[1].tv_sec = (time_t)j->me->e.mtime_sec;
			ts[0].tv_nsec = ts[1].tv_nsec = j->me->e.mtime_nsec;
			if (utimensat(j->dirfd, j->name, ts, AT_SYMLINK_NOFOLLOW) < 0)
				ms_log_warn("unable to set the times of '%s': %s", j->t->target, strerror(errno));
		}
		if (j->exchanged) {
			if (ms_files_remove_at(j->dirfd, j->tmp, j->tmp_path) < 0)
				ms_log_warn("the previous content of '%s' is left in '%s'", j->t->target, j->tmp_path);
		}
		if (fsync(j->dirfd) < 0)
			ms_log_warn("unable to sync '%s': %s", j->dir, strerror(errno));
	}
}

/* Removes what a failed run left: temporaries, and the directories it
 * made (deepest first; one that is not empty stays). */
static void clean_up(struct roots_run *run, bool failed)
{
	for (size_t k = 0; k < run->n; k++) {
		struct job *j = &run->jobs[k];

		if (j->written)
			ms_files_remove_at(j->dirfd, j->tmp, j->tmp_path);
		if (is_dir_root(j) && j->s.root >= 0 && j->s.root != j->dirfd)
			close(j->s.root);
		if (j->dirfd >= 0)
			close(j->dirfd);
		free(j->dir);
		free(j->tmp);
		free(j->tmp_path);
	}
	for (size_t k = run->created.n; failed && k-- > 0;)
		rmdir(run->created.v[k]);
}

int ms_files_restore_roots(const char *archive, const struct ms_manifest *m, const struct ms_root_target *t,
			   size_t n, struct ms_files_stats *stats, struct ms_progress *progress)
{
	struct roots_run run;
	int ret = -1;

	memset(&run, 0, sizeof(run));
	run.m = m;
	run.n = n;
	run.jobs = ms_xcalloc(n ? n : 1, sizeof(*run.jobs));
	run.buf = ms_xmalloc(MS_FILES_IO_BUF);
	ms_files_index_init(&run.ix, m);
	for (size_t k = 0; k < n; k++) {
		run.jobs[k].t = &t[k];
		run.jobs[k].dirfd = run.jobs[k].s.root = -1;
	}
	for (size_t k = 0; k < n; k++)
		if (check_target(&run, k) < 0)
			goto out;
	for (size_t k = 0; k < n; k++)
		if (prepare(&run, &run.jobs[k], stats) < 0)
			goto out;
	if (n && ms_db_replay(archive, "files/", NULL, on_root_member, &run, progress) < 0)
		goto out;
	if (finish_writing(&run) < 0)
		goto out;
	ms_test_stall("roots-swap");
	ret = swap_all(&run);
	settle(&run);
out:
	clean_up(&run, ret < 0);
	ms_strv_clear(&run.created);
	ms_files_index_clear(&run.ix);
	free(run.jobs);
	free(run.buf);
	return ret;
}

/* --- the proof ---------------------------------------------------------------- */

int ms_files_check_roots(const struct ms_manifest *m, const struct ms_root_target *t, size_t n,
			 unsigned long *checked)
{
	*checked = 0;
	for (size_t k = 0; k < n; k++) {
		unsigned long c;

		if (ms_files_check_live(m, t[k].member, t[k].target, false, &c) < 0)
			return -1;
		*checked += c;
	}
	return 0;
}
