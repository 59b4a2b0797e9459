/*
 * The file restore engine (see files.h).
 */
#include "restore/files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "restore/dbreplay.h"
#include "base/hash.h"
#include "base/log.h"
#include "restore/rooted.h"
#include "restore/safepath.h"
#include "formats/snaparchive.h"
#include "base/strbuf.h"
#include "base/util.h"

#define IO_BUF MS_FILES_IO_BUF

static bool is_postfix(const struct ms_entry *e);
static int meta_error(const char *staging, const char *rel, const char *what);

/* --- hostile manifests ---------------------------------------------------- */

int ms_files_refuse(const char *path, const char *why)
{
	char *p = ms_printable(path);

	ms_log_error("refusing member '%s': %s", p, why);
	free(p);
	return -1;
}

bool ms_files_under(const char *path, const char *prefix, size_t plen)
{
	return strncmp(path, prefix, plen) == 0 && (path[plen] == '\0' || path[plen] == '/');
}

/* --- the manifest by path ------------------------------------------------- */

static int by_path(const void *a, const void *b)
{
	const struct ms_manifest_entry *const *x = a, *const *y = b;

	return strcmp((*x)->e.path, (*y)->e.path);
}

void ms_files_index_init(struct ms_files_index *ix, const struct ms_manifest *m)
{
	ix->m = m;
	ix->n = m->n_entries;
	ix->by_path = ms_xcalloc(ix->n ? ix->n : 1, sizeof(*ix->by_path));
	for (size_t i = 0; i < ix->n; i++)
		ix->by_path[i] = &m->entries[i];
	if (ix->n)
		qsort(ix->by_path, ix->n, sizeof(*ix->by_path), by_path);
}

size_t ms_files_index_find(const struct ms_files_index *ix, const char *path, size_t len)
{
	size_t lo = 0, hi = ix->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *p = ix->by_path[mid]->e.path;
		int c = strncmp(p, path, len);

		if (c == 0 && p[len] != '\0')
			c = 1; /* p is longer: after path */
		if (c == 0)
			return (size_t)(ix->by_path[mid] - ix->m->entries);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return MS_FILES_NONE;
}

void ms_files_index_clear(struct ms_files_index *ix)
{
	free(ix->by_path);
	ix->by_path = NULL;
	ix->n = 0;
}

/* --- hostile manifests ---------------------------------------------------- */

/* The component prefix a files/ member belongs to, or NULL; *rooted says
 * whether it is a rooted one (files/dkim, files/system). */
static const char *component_of(const char *path, bool *rooted)
{
	static const char *const trees[] = { "files/instance", "files/postfix", "files/venv", "files/mail" };
	static const char *const rooted_ones[] = { "files/dkim", "files/system" };

	*rooted = false;
	for (size_t i = 0; i < sizeof(trees) / sizeof(trees[0]); i++)
		if (ms_files_under(path, trees[i], strlen(trees[i])))
			return trees[i];
	*rooted = true;
	for (size_t i = 0; i < sizeof(rooted_ones) / sizeof(rooted_ones[0]); i++)
		if (ms_files_under(path, rooted_ones[i], strlen(rooted_ones[i])))
			return rooted_ones[i];
	return NULL;
}

int ms_files_check_parent(const struct ms_files_index *ix, size_t i)
{
	const char *path = ix->m->entries[i].e.path, *slash = strrchr(path, '/');
	size_t parent = ms_files_index_find(ix, path, (size_t)(slash - path));
	const struct ms_entry *pe = parent != MS_FILES_NONE ? &ix->m->entries[parent].e : NULL;

	if (pe && parent < i && pe->type == MS_ENTRY_DIR)
		return 0;
	return ms_files_refuse(path, pe && parent < i && pe->type == MS_ENTRY_SYMLINK
				    ? "its parent is a symlink (writing through symlinks is refused)"
				    : "its parent directory is not a member before it");
}

static int check_file_member(const struct ms_files_index *ix, size_t i)
{
	const struct ms_manifest *m = ix->m;
	const struct ms_entry *e = &m->entries[i].e;
	bool rooted;
	const char *comp = component_of(e->path, &rooted);

	if (!comp)
		return ms_files_refuse(e->path, "not a member modosnap writes");
	if (rooted)
		return ms_files_check_rooted(ix, i, comp);
	if (!strcmp(comp, "files/postfix")) {
		if (e->path[strlen(comp)] != '/' || strchr(e->path + strlen(comp) + 1, '/'))
			return ms_files_refuse(e->path, "Postfix members are single files");
		if (e->type != MS_ENTRY_FILE)
			return ms_files_refuse(e->path, "Postfix members are plain files");
		if (!ms_entry_postfix_name_ok(e->path + strlen(comp) + 1))
			return ms_files_refuse(e->path, "not a file the Postfix component holds (main.cf, master.cf, "
					       "modoboa-postfix-maps.chk and *.cf maps)");
		return 0;
	}
	if (!strcmp(e->path, comp))
		return e->type == MS_ENTRY_DIR ? 0 : ms_files_refuse(e->path, "the component root is not a directory");
	if (ms_files_check_parent(ix, i) < 0)
		return -1;
	if (e->type == MS_ENTRY_HARDLINK) {
		size_t t = e->link ? ms_files_index_find(ix, e->link, strlen(e->link)) : MS_FILES_NONE;

		if (t == MS_FILES_NONE || t >= i || m->entries[t].e.type != MS_ENTRY_FILE ||
		    component_of(e->link, &rooted) != comp)
			return ms_files_refuse(e->path, "hardlink to something other than an earlier file of its component");
	}
	return 0;
}

int ms_files_check_manifest(const struct ms_manifest *m)
{
	struct ms_files_index ix;
	int ret = 0;

	ms_files_index_init(&ix, m);
	for (size_t i = 0; i < m->n_entries && ret == 0; i++) {
		const char *path = m->entries[i].e.path, *why;

		if (ms_safepath_check(path, &why) < 0)
			ret = ms_files_refuse(path, why);
		else if (!strcmp(path, MS_HEADER_NAME) || !strncmp(path, "db/", 3) || !strncmp(path, "versions/", 9))
			continue;
		else if (strncmp(path, "files/", 6) != 0)
			ret = ms_files_refuse(path, "not a member modosnap writes");
		else
			ret = check_file_member(&ix, i);
	}
	ms_files_index_clear(&ix);
	return ret;
}

bool ms_files_xattr_ok(const char *name)
{
	/* security.* (file capabilities grant privileges as setuid does; SELinux
	 * labels) and trusted.* are the system's to set, not an archive's */
	return strncmp(name, "user.", 5) == 0 || strcmp(name, "system.posix_acl_access") == 0 ||
	       strcmp(name, "system.posix_acl_default") == 0;
}

void ms_files_unsafe_count(const struct ms_manifest *m, const char *prefix, unsigned long *modes,
			   unsigned long *xattrs)
{
	size_t plen = strlen(prefix);

	*modes = *xattrs = 0;
	for (size_t i = 0; i < m->n_entries; i++) {
		const struct ms_entry *e = &m->entries[i].e;

		if (!ms_files_under(e->path, prefix, plen))
			continue;
		if (ms_files_restored_mode(e) != (e->mode & 07777) || (is_postfix(e) && e->uid != 0 &&
									  (!e->uname || strcmp(e->uname, "root"))))
			(*modes)++;
		for (size_t k = 0; k < e->n_xattrs; k++)
			if (!ms_files_xattr_ok(e->xattrs[k].name))
				(*xattrs)++;
	}
}

/* --- writing one tree ----------------------------------------------------- */

static const char *rel_of(const struct ms_files_stager *s, const char *path)
{
	return path[s->plen] == '/' ? path + s->plen + 1 : ".";
}

/* Owner by name when this machine has it, else by id; true when a name
 * was given but is unknown here. */
static bool resolve_owner(const struct ms_entry *e, uid_t *uid, gid_t *gid)
{
	struct passwd *pw = e->uname ? getpwnam(e->uname) : NULL;
	struct group *gr = e->gname ? getgrnam(e->gname) : NULL;

	*uid = pw ? pw->pw_uid : (uid_t)e->uid;
	*gid = gr ? gr->gr_gid : (gid_t)e->gid;
	return (e->uname && !pw) || (e->gname && !gr);
}

static bool is_postfix(const struct ms_entry *e)
{
	return strncmp(e->path, "files/postfix/", 14) == 0;
}

/* The owner restore gives e: as recorded, except that Postfix files belong
 * to root (whoever owns main.cf decides what the root-run master executes). */
static bool restored_owner(const struct ms_entry *e, uid_t *uid, gid_t *gid)
{
	bool by_id = resolve_owner(e, uid, gid);

	if (is_postfix(e))
		*uid = 0;
	return by_id;
}

uint32_t ms_files_restored_mode(const struct ms_entry *e)
{
	uint32_t mode = ms_entry_safe_mode(e->type, e->mode);

	return is_postfix(e) ? mode & ~(uint32_t)022 : mode;
}

static void owner_of(struct ms_files_stager *s, const struct ms_entry *e, uid_t *uid, gid_t *gid)
{
	if (restored_owner(e, uid, gid))
		s->st->owners_by_id++;
}

/* POSIX ACL xattr value (acl_ea_header: u32 version 2, then entries of u16
 * tag, u16 perm, u32 id, little-endian): the "other" entry loses its write
 * permission, as the mode does (a default ACL would give it to every new
 * file). A copy, or NULL when the value is not an ACL (set as is: the
 * kernel refuses a malformed one). */
static void *acl_without_other_write(const void *value, size_t size)
{
	unsigned char *v;

	if (size < 4 || (size - 4) % 8 != 0 || ((const unsigned char *)value)[0] != 2)
		return NULL;
	v = ms_xmalloc(size);
	memcpy(v, value, size);
	for (size_t off = 4; off + 8 <= size; off += 8)
		if (v[off] == 0x20 && v[off + 1] == 0) /* ACL_OTHER */
			v[off + 2] &= (unsigned char)~0x02; /* ACL_WRITE */
	return v;
}

static int set_xattrs(struct ms_files_stager *s, int fd, const struct ms_entry *e, const char *rel)
{
	for (size_t i = 0; i < e->n_xattrs; i++) {
		const struct ms_xattr *x = &e->xattrs[i];
		void *acl;
		int rc;

		if (!ms_files_xattr_ok(x->name)) {
			s->st->dropped_xattrs++;
			continue;
		}
		acl = strncmp(x->name, "system.posix_acl_", 17) == 0 ? acl_without_other_write(x->value, x->size)
								      : NULL;
		rc = fsetxattr(fd, x->name, acl ? acl : x->value, x->size, 0);
		free(acl);
		if (rc < 0)
			return meta_error(s->staging, rel, "extended attributes");
	}
	return 0;
}

static int meta_error(const char *staging, const char *rel, const char *what)
{
	return ms_log_error("unable to set the %s of '%s/%s': %s", what, staging, rel, strerror(errno));
}

/* Owner, mode, xattrs and times of an open file or directory. */
static int apply_meta_fd(struct ms_files_stager *s, int fd, const struct ms_entry *e, const char *rel)
{
	struct timespec ts[2];

	if (s->chown_ok) {
		uid_t uid;
		gid_t gid;

		owner_of(s, e, &uid, &gid);
		if (fchown(fd, uid, gid) < 0)
			return meta_error(s->staging, rel, "owner");
	}
	/* ACLs first: the mode set after them is the one that stays (an
	 * access ACL would otherwise bring back the bits fchmod dropped) */
	if (set_xattrs(s, fd, e, rel) < 0)
		return -1;
	if (fchmod(fd, ms_files_restored_mode(e)) < 0)
		return meta_error(s->staging, rel, "mode");
	if (ms_files_restored_mode(e) != (e->mode & 07777))
		s->st->unsafe_modes++;
	ts[0].tv_sec = ts[1].tv_sec = (time_t)e->mtime_sec;
	ts[0].tv_nsec = ts[1].tv_nsec = e->mtime_nsec;
	if (futimens(fd, ts) < 0)
		return meta_error(s->staging, rel, "times");
	return 0;
}

/* Writes a file's data, checking its SHA-256 against the manifest. */
static int write_file(struct ms_files_stager *s, struct ms_archive_reader *r, const struct ms_manifest_entry *me,
		      const char *rel)
{
	const struct ms_entry *e = &me->e;
	struct ms_hash *h = ms_hash_new(MS_HASH_SHA256);
	char hex[MS_HASH_HEX_MAX];
	int fd = openat(s->root, rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	ssize_t n;
	int ret = -1;

	if (fd < 0) {
		ms_log_error("unable to create '%s/%s': %s", s->staging, rel, strerror(errno));
		goto out;
	}
	while ((n = ms_archive_reader_read(r, s->buf, IO_BUF)) > 0) {
		ms_hash_update(h, s->buf, (size_t)n);
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, s->buf + off, (size_t)(n - off));

			if (w < 0) {
				ms_log_error("unable to write '%s/%s': %s", s->staging, rel, strerror(errno));
				goto out;
			}
			off += w;
		}
		s->st->bytes += (unsigned long long)n;
	}
	if (n < 0)
		goto out;
	ms_hash_final_hex(h, hex);
	if (strcmp(hex, me->sha256) != 0) {
		ms_log_error("member '%s': content differs from the manifest (the archive changed since it was "
			     "verified?)", e->path);
		goto out;
	}
	if (fsync(fd) < 0) {
		ms_log_error("unable to write '%s/%s': %s", s->staging, rel, strerror(errno));
		goto out;
	}
	ret = apply_meta_fd(s, fd, e, rel);
	s->st->files++;
out:
	if (fd >= 0)
		close(fd);
	ms_hash_free(h);
	return ret;
}

static int write_symlink(struct ms_files_stager *s, const struct ms_entry *e, const char *rel)
{
	struct timespec ts[2];

	if (symlinkat(e->link ? e->link : "", s->root, rel) < 0)
		return ms_log_error("unable to create '%s/%s': %s", s->staging, rel, strerror(errno));
	if (s->chown_ok) {
		uid_t uid;
		gid_t gid;

		owner_of(s, e, &uid, &gid);
		if (fchownat(s->root, rel, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			return meta_error(s->staging, rel, "owner");
	}
	ts[0].tv_sec = ts[1].tv_sec = (time_t)e->mtime_sec;
	ts[0].tv_nsec = ts[1].tv_nsec = e->mtime_nsec;
	if (utimensat(s->root, rel, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return meta_error(s->staging, rel, "times");
	s->st->symlinks++;
	return 0;
}

int ms_files_write_member(struct ms_files_stager *s, struct ms_archive_reader *r, const struct ms_manifest_entry *me,
			  const char *rel)
{
	const struct ms_entry *e = &me->e;

	switch (e->type) {
	case MS_ENTRY_DIR:
		if (strcmp(rel, ".") != 0 && mkdirat(s->root, rel, 0700) < 0)
			return ms_log_error("unable to create '%s/%s': %s", s->staging, rel, strerror(errno));
		s->st->dirs++;
		return 0;
	case MS_ENTRY_FILE:
		return write_file(s, r, me, rel);
	case MS_ENTRY_SYMLINK:
		return write_symlink(s, e, rel);
	case MS_ENTRY_HARDLINK:
		if (!e->link || linkat(s->root, rel_of(s, e->link), s->root, rel, 0) < 0)
			return ms_log_error("unable to link '%s/%s': %s", s->staging, rel, strerror(errno));
		s->st->hardlinks++;
		return 0;
	}
	return ms_log_error("member '%s': unknown type", e->path);
}

/* Directory metadata last and deepest first, so that creating children
 * does not change a directory's restored mtime. */
int ms_files_stager_dir_meta(struct ms_files_stager *s)
{
	for (size_t i = s->m->n_entries; i-- > 0;) {
		const struct ms_entry *e = &s->m->entries[i].e;
		const char *rel;
		int fd, ret;

		if (e->type != MS_ENTRY_DIR || !ms_files_under(e->path, s->prefix, s->plen))
			continue;
		rel = rel_of(s, e->path);
		fd = openat(s->root, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return ms_log_error("unable to open '%s/%s': %s", s->staging, rel, strerror(errno));
		ret = apply_meta_fd(s, fd, e, rel);
		close(fd);
		if (ret < 0)
			return -1;
	}
	return 0;
}

/* One staging run: where to write, and the manifest by path. */
struct stage_run {
	struct ms_files_stager s;
	struct ms_files_index ix;
};

static int on_stage_member(void *ctx, struct ms_archive_reader *r, const char *path)
{
	struct stage_run *run = ctx;
	struct ms_files_stager *s = &run->s;
	size_t i = ms_files_index_find(&run->ix, path, strlen(path));

	if (path[s->plen] != '\0' && path[s->plen] != '/')
		return 0; /* "files/instancefoo": another name */
	if (i == MS_FILES_NONE)
		return ms_log_error("member '%s' is not in the manifest", path);
	return ms_files_write_member(s, r, &s->m->entries[i], rel_of(s, path));
}

int ms_files_stage(const char *archive, const struct ms_manifest *m, const char *prefix, const char *staging,
		   struct ms_files_stats *stats, struct ms_progress *progress)
{
	struct stage_run run;
	struct ms_files_stager *s = &run.s;
	int ret = -1;

	memset(&run, 0, sizeof(run));
	s->m = m;
	s->prefix = prefix;
	s->plen = strlen(prefix);
	s->staging = staging;
	s->st = stats;
	s->chown_ok = geteuid() == 0;
	if (mkdir(staging, 0700) < 0)
		return ms_log_error("unable to create '%s': %s", staging, strerror(errno));
	s->root = open(staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s->root < 0) {
		ms_log_error("unable to open '%s': %s", staging, strerror(errno));
		goto out;
	}
	s->buf = ms_xmalloc(IO_BUF);
	ms_files_index_init(&run.ix, m);
	{
		/* ms_db_replay hands us every member under "<prefix>": the
		 * component root itself and "<prefix>/..." */
		char *p = ms_xstrdup(prefix);

		ret = ms_db_replay(archive, p, NULL, on_stage_member, &run, progress);
		free(p);
	}
	if (ret == 0)
		ret = ms_files_stager_dir_meta(s);
	if (ret == 0 && fsync(s->root) < 0)
		ret = ms_log_error("unable to sync '%s': %s", staging, strerror(errno));
out:
	if (s->root >= 0)
		close(s->root);
	free(s->buf);
	ms_files_index_clear(&run.ix);
	if (ret < 0)
		ms_files_remove_tree(staging);
	return ret;
}

/* --- swapping ------------------------------------------------------------- */

static int sync_parent(const char *path)
{
	char *dir = ms_path_dirname(path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret = 0;

	if (fd < 0 || fsync(fd) < 0)
		ret = -1;
	if (fd >= 0)
		close(fd);
	free(dir);
	return ret;
}

static void reset_times(const char *target, const struct ms_manifest_entry *root)
{
	struct timespec ts[2];

	if (!root)
		return;
	ts[0].tv_sec = ts[1].tv_sec = (time_t)root->e.mtime_sec;
	ts[0].tv_nsec = ts[1].tv_nsec = root->e.mtime_nsec;
	if (utimensat(AT_FDCWD, target, ts, AT_SYMLINK_NOFOLLOW) < 0)
		ms_log_warn("unable to set the times of '%s': %s", target, strerror(errno));
}

int ms_files_swap(const char *staging, const char *target, const struct ms_manifest_entry *root)
{
	struct stat st;

	if (lstat(target, &st) < 0) {
		if (errno != ENOENT)
			return ms_log_error("unable to examine '%s': %s", target, strerror(errno));
		if (rename(staging, target) < 0)
			return ms_log_error("unable to move '%s' to '%s': %s", staging, target, strerror(errno));
		reset_times(target, root);
		sync_parent(target);
		return 0;
	}
	if (renameat2(AT_FDCWD, staging, AT_FDCWD, target, RENAME_EXCHANGE) < 0)
		return ms_log_error("unable to exchange '%s' and '%s': %s", staging, target, strerror(errno));
	reset_times(target, root);
	sync_parent(target);
	/* the old tree is now at `staging`; the new one is in place */
	if (ms_files_remove_tree(staging) < 0)
		ms_log_warn("the previous content of '%s' is left in '%s'", target, staging);
	return 0;
}

/* --- removing a tree ------------------------------------------------------ */

int ms_files_remove_at(int parent, const char *name, const char *path)
{
	struct stat st;

	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : ms_log_error("unable to examine '%s': %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		struct dirent *de;
		int ret = 0;

		if (!d) {
			if (fd >= 0)
				close(fd);
			return ms_log_error("unable to open '%s': %s", path, strerror(errno));
		}
		while (ret == 0 && (de = readdir(d))) {
			char *sub;

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			sub = ms_path_join(path, de->d_name);
			ret = ms_files_remove_at(dirfd(d), de->d_name, sub);
			free(sub);
		}
		closedir(d);
		if (ret == 0 && unlinkat(parent, name, AT_REMOVEDIR) < 0)
			ret = ms_log_error("unable to remove '%s': %s", path, strerror(errno));
		return ret;
	}
	if (unlinkat(parent, name, 0) < 0)
		return ms_log_error("unable to remove '%s': %s", path, strerror(errno));
	return 0;
}

int ms_files_remove_tree(const char *path)
{
	return ms_files_remove_at(AT_FDCWD, path, path);
}

/* --- single files (Postfix) ----------------------------------------------- */

struct replacer {
	const struct ms_manifest *m;
	const char *prefix;
	const char *dir;
	int dirfd;
	struct ms_strv tmp;   /* temporary names written */
	struct ms_strv final; /* their final names */
	struct ms_files_stager s;      /* for metadata and data */
};

static int on_replace_member(void *ctx, struct ms_archive_reader *r, const char *path)
{
	struct replacer *rp = ctx;
	const struct ms_manifest_entry *me = ms_manifest_find(rp->m, path);
	const char *name = path + strlen(rp->prefix) + 1;
	char *tmp;
	int ret;

	if (path[strlen(rp->prefix)] != '/')
		return 0;
	if (!me)
		return ms_log_error("member '%s' is not in the manifest", path);
	tmp = ms_xasprintf(".%s.modosnap-%ld", name, (long)getpid());
	unlinkat(rp->dirfd, tmp, 0); /* a stale one of a crashed run with our pid */
	ret = write_file(&rp->s, r, me, tmp);
	if (ret == 0) {
		ms_strv_push(&rp->tmp, tmp);
		ms_strv_push(&rp->final, name);
	} else {
		unlinkat(rp->dirfd, tmp, 0);
	}
	free(tmp);
	return ret;
}

int ms_files_replace_each(const char *archive, const struct ms_manifest *m, const char *prefix, const char *dir,
			  struct ms_files_stats *stats, struct ms_progress *progress)
{
	struct replacer rp;
	char *p = ms_xasprintf("%s/", prefix);
	int ret = -1;

	memset(&rp, 0, sizeof(rp));
	rp.m = m;
	rp.prefix = prefix;
	rp.dir = dir;
	rp.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rp.dirfd < 0) {
		free(p);
		return ms_log_error("unable to open '%s': %s", dir, strerror(errno));
	}
	rp.s.m = m;
	rp.s.prefix = prefix;
	rp.s.plen = strlen(prefix);
	rp.s.staging = dir;
	rp.s.root = rp.dirfd;
	rp.s.chown_ok = geteuid() == 0;
	rp.s.st = stats;
	rp.s.buf = ms_xmalloc(IO_BUF);
	if (ms_db_replay(archive, p, NULL, on_replace_member, &rp, progress) < 0)
		goto out;
	for (size_t i = 0; i < rp.tmp.n; i++)
		if (renameat(rp.dirfd, rp.tmp.v[i], rp.dirfd, rp.final.v[i]) < 0) {
			ms_log_error("unable to replace '%s/%s': %s", dir, rp.final.v[i], strerror(errno));
			goto out;
		}
	ms_strv_clear(&rp.tmp);
	if (fsync(rp.dirfd) < 0)
		ms_log_warn("unable to sync '%s': %s", dir, strerror(errno));
	ret = 0;
out:
	for (size_t i = 0; i < rp.tmp.n; i++)
		unlinkat(rp.dirfd, rp.tmp.v[i], 0);
	close(rp.dirfd);
	ms_strv_clear(&rp.tmp);
	ms_strv_clear(&rp.final);
	free(rp.s.buf);
	free(p);
	return ret;
}

/* --- checking the live result --------------------------------------------- */

static int differs(const char *path, const char *what)
{
	return ms_log_error("'%s': %s differs from the snapshot", path, what);
}

int ms_files_check_entry(const struct ms_manifest_entry *me, const char *live)
{
	const struct ms_entry *e = &me->e;
	struct stat st;

	if (lstat(live, &st) < 0)
		return ms_log_error("'%s': %s", live, strerror(errno));
	if ((e->type == MS_ENTRY_DIR && !S_ISDIR(st.st_mode)) || (e->type == MS_ENTRY_SYMLINK && !S_ISLNK(st.st_mode)) ||
	    ((e->type == MS_ENTRY_FILE || e->type == MS_ENTRY_HARDLINK) && !S_ISREG(st.st_mode)))
		return differs(live, "type");
	if (e->type != MS_ENTRY_SYMLINK && (st.st_mode & 07777) != ms_files_restored_mode(e))
		return differs(live, "mode");
	if (geteuid() == 0) { /* only root restores owners */
		uid_t uid;
		gid_t gid;

		restored_owner(e, &uid, &gid);
		if (st.st_uid != uid || st.st_gid != gid)
			return differs(live, "owner");
	}
	if (e->type == MS_ENTRY_FILE) {
		char hex[MS_HASH_HEX_MAX];

		if ((uint64_t)st.st_size != e->size)
			return differs(live, "size");
		if (ms_hash_file_hex(MS_HASH_SHA256, live, hex) < 0)
			return -1;
		if (strcmp(hex, me->sha256) != 0)
			return differs(live, "content");
	}
	if (e->type != MS_ENTRY_HARDLINK &&
	    (st.st_mtim.tv_sec != e->mtime_sec || st.st_mtim.tv_nsec != e->mtime_nsec))
		return differs(live, "modification time");
	return 0;
}

int ms_files_check_live(const struct ms_manifest *m, const char *prefix, const char *target, bool each_file,
			unsigned long *checked)
{
	size_t plen = strlen(prefix);

	*checked = 0;
	for (size_t i = 0; i < m->n_entries; i++) {
		const char *path = m->entries[i].e.path;
		char *live;
		int ret;

		if (!ms_files_under(path, prefix, plen))
			continue;
		if (each_file && path[plen] == '\0')
			continue;
		live = path[plen] ? ms_path_join(target, path + plen + 1) : ms_xstrdup(target);
		ret = ms_files_check_entry(&m->entries[i], live);
		free(live);
		if (ret < 0)
			return -1;
		(*checked)++;
	}
	return 0;
}

/* --- one member into memory ----------------------------------------------- */

struct member_reader {
	const char *path;
	size_t max;
	struct ms_strbuf sb;
	bool found, failed;
	atomic_bool done; /* read: the replay stops (verify refused any second member of that path) */
};

static int on_read_member(void *ctx, struct ms_archive_reader *r, const char *path)
{
	struct member_reader *mr = ctx;
	char buf[65536];
	ssize_t n;

	if (strcmp(path, mr->path) != 0 || mr->found)
		return 0;
	mr->found = true;
	while ((n = ms_archive_reader_read(r, buf, sizeof(buf))) > 0) {
		if (mr->sb.len + (size_t)n > mr->max) {
			mr->failed = true;
			return ms_log_error("member '%s' is larger than %zu bytes", path, mr->max);
		}
		ms_strbuf_add(&mr->sb, buf, (size_t)n);
	}
	if (n < 0)
		mr->failed = true;
	atomic_store(&mr->done, true);
	return n < 0 ? -1 : 0;
}

char *ms_files_read_member(const char *archive, const char *path, size_t max, size_t *len)
{
	struct member_reader mr = { path, max, MS_STRBUF_INIT, false, false, false };

	/* stopped once read (-1 then says so, nothing logged): not the whole
	 * archive decompressed again for settings.py (0.5 s at 1 M msgs) */
	if ((ms_db_replay_until(archive, path, NULL, on_read_member, &mr, NULL, &mr.done) < 0 &&
	     !atomic_load(&mr.done)) || mr.failed || !mr.found) {
		ms_strbuf_release(&mr.sb);
		return NULL;
	}
	*len = mr.sb.len;
	return mr.sb.buf ? ms_strbuf_detach(&mr.sb) : ms_xstrdup("");
}
