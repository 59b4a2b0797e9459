/*
 * The snapshot destination directory (see dest.h).
 */
#include "snapshot/dest.h"
#include "formats/age.h"
#include "formats/manifest.h"
#include "formats/marker.h"
#include "formats/snapname.h"
#include "formats/verify.h"
#include "base/hash.h"
#include "base/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

/* "name (uid N)" or "uid N" for messages (caller frees). */
static char *user_of(uid_t uid)
{
	struct passwd pw, *res = NULL;
	char buf[1024];

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res)
		return ms_xasprintf("'%s' (uid %lu)", res->pw_name, (unsigned long)uid);
	return ms_xasprintf("uid %lu", (unsigned long)uid);
}

int ms_dest_check_fd(int dfd, const char *dest)
{
	struct stat st;
	char *owner, *me;

	if (fstat(dfd, &st) < 0)
		return ms_log_error("unable to stat '%s': %s", dest, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return ms_log_error("destination '%s' is not a directory", dest);
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		owner = user_of(st.st_uid);
		me = user_of(geteuid());
		if (geteuid() == 0)
			ms_log_error("unsafe destination '%s': owned by %s, not by root; run chown 0 '%s' && "
				     "chmod 0700 '%s'", dest, owner, dest, dest);
		else
			ms_log_error("unsafe destination '%s': owned by %s, neither by %s nor by root; run chown "
				     "%lu '%s' && chmod 0700 '%s' as root", dest, owner, me, (unsigned long)geteuid(),
				     dest, dest);
		free(owner);
		free(me);
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return ms_log_error("unsafe destination '%s': writable by %s (mode %04o); run chmod 0700 '%s'", dest,
				    (st.st_mode & S_IWOTH) ? "others" : "its group",
				    (unsigned)(st.st_mode & 07777), dest);
	return 0;
}

int ms_dest_check(const char *dest)
{
	int fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret;

	if (fd < 0)
		return ms_log_error("unable to open destination '%s': %s", dest, strerror(errno));
	ret = ms_dest_check_fd(fd, dest);
	close(fd);
	return ret;
}

int ms_dest_prepare(const char *dest)
{
	char *parent;
	int ret;

	if (ms_is_dir(dest))
		return ms_dest_check(dest);
	parent = ms_path_dirname(dest);
	ret = ms_mkdir_p(parent);
	free(parent);
	if (ret < 0)
		return -1;
	if (mkdir(dest, 0700) < 0 && errno != EEXIST)
		return ms_log_error("unable to create directory '%s': %s", dest, strerror(errno));
	return ms_dest_check(dest);
}

char *ms_dest_command_line(int argc, char **argv)
{
	char line[512];
	size_t n = 0;

	line[0] = '\0';
	for (int i = 0; i < argc && n + 2 < sizeof(line); i++) {
		int w = snprintf(line + n, sizeof(line) - n, "%s%s", i ? " " : "", i ? argv[i] : ms_path_basename(argv[i]));

		if (w < 0)
			break;
		n += (size_t)w;
		if (n >= sizeof(line))
			n = sizeof(line) - 1;
	}
	/* never a password: modosnap takes none on its command line */
	for (char *p = line; *p; p++)
		if (*p == '\n' || (unsigned char)*p < 0x20)
			*p = ' ';
	return ms_xstrdup(line);
}

/* "pid N: CMD" from the holder's lock file, or "" (caller frees). */
static char *holder_of(int fd)
{
	char buf[600], *end;
	long pid;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return ms_xstrdup("");
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	/* the record of a holder that is gone is stale (the lock is held by
	 * something else, e.g. flock(1)): say nothing rather than mislead */
	if (strncmp(buf, "pid ", 4) != 0 || (pid = strtol(buf + 4, &end, 10)) <= 0 || *end != ':' ||
	    (kill((pid_t)pid, 0) < 0 && errno != EPERM))
		return ms_xstrdup("");
	return ms_xasprintf(" (%s)", buf);
}

static void record_holder(int fd, const char *holder)
{
	char buf[600];
	int n = snprintf(buf, sizeof(buf), "pid %ld: %.511s\n", (long)getpid(), holder && holder[0] ? holder : "modosnap");

	if (n > 0 && ftruncate(fd, 0) == 0 && pwrite(fd, buf, (size_t)n, 0) < 0)
		ms_log_debug("unable to record the lock holder: %s", strerror(errno));
}

/* The lock file, opened in the checked destination: never through a
 * symlink, and never a file that is also linked elsewhere (its content is
 * rewritten by record_holder). The fd, or -1 after logging. */
static int open_lock(const char *dest, const char *path)
{
	int dfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd;
	struct stat st;

	if (dfd < 0)
		return ms_log_error("unable to open destination '%s': %s", dest, strerror(errno));
	if (ms_dest_check_fd(dfd, dest) < 0) {
		close(dfd);
		return -1;
	}
	fd = openat(dfd, MS_LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
	close(dfd);
	if (fd < 0)
		return ms_log_error("unable to open lock file '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_uid != geteuid()) {
		close(fd);
		return ms_log_error("unsafe lock file '%s': not a regular file of ours with one link; remove it",
				    path);
	}
	return fd;
}

int ms_dest_lock_wait(const char *dest, unsigned wait_seconds, const char *holder)
{
	char *path = ms_path_join(dest, MS_LOCK_NAME);
	int fd = open_lock(dest, path);
	struct timespec start, now, pause = { 0, 100 * 1000 * 1000 };

	if (fd < 0) {
		free(path);
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (err == EWOULDBLOCK && (double)(now.tv_sec - start.tv_sec) +
						  (double)(now.tv_nsec - start.tv_nsec) / 1e9 < (double)wait_seconds) {
			nanosleep(&pause, NULL);
			continue;
		}
		if (err == EWOULDBLOCK) {
			char *who = holder_of(fd);

			if (wait_seconds)
				ms_log_error("another modosnap run still holds the lock on '%s'%s after waiting %u s",
					     dest, who, wait_seconds);
			else
				ms_log_error("another modosnap run holds the lock on '%s'%s", dest, who);
			free(who);
			close(fd);
			free(path);
			return -2;
		}
		ms_log_error("unable to lock '%s': %s", path, strerror(err));
		close(fd);
		free(path);
		return -1;
	}
	record_holder(fd, holder);
	free(path);
	return fd;
}

int ms_dest_lock(const char *dest)
{
	return ms_dest_lock_wait(dest, 0, NULL);
}

/* Ours: a snapshot name plus ".partial", a regular file we own. */
static const char *const encrypted_files[] = { MS_ENCRYPTED_SUFFIX MS_HEADER_SUFFIX,
						   MS_ENCRYPTED_SUFFIX MS_MARKER_SUFFIX, MS_ENCRYPTED_SUFFIX };

static bool is_our_partial(int dfd, const char *name)
{
	size_t len = strlen(name), plen = strlen(MS_PARTIAL_SUFFIX);
	struct ms_snapname sn;
	struct stat st;
	char *base;
	bool ok;

	if (len <= plen || strcmp(name + len - plen, MS_PARTIAL_SUFFIX) != 0)
		return false;
	base = ms_xstrndup(name, len - plen);
	/* an encrypted snapshot's files too: NAME.age, NAME.age.header, NAME.age.ok */
	for (size_t i = 0; i < sizeof(encrypted_files) / sizeof(encrypted_files[0]); i++) {
		size_t b = strlen(base), s = strlen(encrypted_files[i]);

		if (b > s && !strcmp(base + b - s, encrypted_files[i])) {
			base[b - s] = '\0';
			break;
		}
	}
	ok = ms_snapname_parse(base, &sn) == 0;
	if (ok)
		ms_snapname_clear(&sn);
	free(base);
	if (!ok)
		return false;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
		ms_log_warn("'%s' looks like a partial snapshot but is not a regular file of ours; left alone", name);
		return false;
	}
	return true;
}

/* opendir, refusing a destination that is not safe (ms_dest_check). */
static DIR *open_dest(const char *dest)
{
	DIR *d = opendir(dest);

	if (!d) {
		ms_log_error("unable to read directory '%s': %s", dest, strerror(errno));
		return NULL;
	}
	if (ms_dest_check_fd(dirfd(d), dest) < 0) {
		closedir(d);
		return NULL;
	}
	return d;
}

int ms_dest_clean_partials(const char *dest)
{
	DIR *d = open_dest(dest);
	struct dirent *de;
	int removed = 0;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (!is_our_partial(dirfd(d), de->d_name))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0) {
			ms_log_warn("unable to remove stale '%s/%s': %s", dest, de->d_name, strerror(errno));
			continue;
		}
		ms_log_info("removed stale partial snapshot '%s/%s'", dest, de->d_name);
		removed++;
	}
	closedir(d);
	return removed;
}

/* The snapshot stamp of `NAME.unverified` when NAME is a snapshot name
 * and the entry a regular file of ours; false otherwise. */
static bool is_our_unverified(int dfd, const char *name, char stamp[17])
{
	size_t len = strlen(name), slen = strlen(MS_UNVERIFIED_SUFFIX);
	struct ms_snapname sn;
	struct stat st;
	char *base;
	bool ok;

	if (len <= slen || strcmp(name + len - slen, MS_UNVERIFIED_SUFFIX) != 0)
		return false;
	base = ms_xstrndup(name, len - slen);
	ok = ms_snapname_parse(base, &sn) == 0;
	free(base);
	if (!ok)
		return false;
	memcpy(stamp, sn.stamp, 17);
	ms_snapname_clear(&sn);
	return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid();
}

struct aside {
	char stamp[17];
	char *name;
};

static int cmp_aside_newest_first(const void *a, const void *b)
{
	const struct aside *x = a, *y = b;
	int c = strcmp(y->stamp, x->stamp);

	return c ? c : strcmp(y->name, x->name);
}

int ms_dest_clean_unverified(const char *dest, unsigned keep)
{
	DIR *d = open_dest(dest);
	struct aside *v = NULL;
	struct dirent *de;
	size_t n = 0;
	int removed = 0;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		char stamp[17];

		if (!is_our_unverified(dirfd(d), de->d_name, stamp))
			continue;
		v = ms_xrealloc(v, (n + 1) * sizeof(*v));
		memcpy(v[n].stamp, stamp, sizeof(stamp));
		v[n].name = ms_xstrdup(de->d_name);
		n++;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_aside_newest_first);
	for (size_t i = keep; i < n; i++) {
		if (unlinkat(dirfd(d), v[i].name, 0) < 0) {
			ms_log_warn("unable to remove old unverified snapshot '%s/%s': %s", dest, v[i].name,
				    strerror(errno));
			continue;
		}
		ms_log_info("removed old unverified snapshot '%s/%s' (the newest %u are kept)", dest, v[i].name, keep);
		removed++;
	}
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
	closedir(d);
	return removed;
}

static int cmp_newest_first(const void *a, const void *b)
{
	const struct ms_dest_item *x = a, *y = b;
	int c = strcmp(y->stamp, x->stamp);

	return c ? c : strcmp(y->name, x->name);
}

/* An encrypted snapshot is complete once its marker NAME.ok is there
 * (written last, after the rename of NAME.partial to NAME). */
static bool has_marker(int dfd, const char *name)
{
	char *mk = ms_xasprintf("%s%s", name, MS_MARKER_SUFFIX);
	struct stat st;
	bool ok = fstatat(dfd, mk, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);

	free(mk);
	return ok;
}

bool ms_dest_is_encrypted(const char *path)
{
	size_t n = strlen(path);

	return n > 4 && !strcmp(path + n - 4, MS_ENCRYPTED_SUFFIX);
}

/* The encrypted copy's header copy, verification record and marker (the
 * last step), from the plaintext's header h and record. */
static int encrypted_sidecars(const char *archive, const char *enc, const struct ms_header *h)
{
	struct ms_marker m = { 0 };
	char *side = ms_xasprintf("%s%s", enc, MS_HEADER_SUFFIX), *text = ms_header_encode(h), when[32];
	struct stat st;
	bool deep = false;
	int ret = -1;

	if (ms_write_file_replace(side, text, strlen(text)) < 0)
		goto out;
	if (ms_dest_verified_record(archive, when, &deep) == 1 && ms_dest_mark_verified_as(enc, deep) < 0)
		goto out;
	if (stat(enc, &st) < 0) {
		ms_log_error("unable to stat '%s': %s", enc, strerror(errno));
		goto out;
	}
	if (ms_hash_file_hex(MS_HASH_SHA256, enc, m.sha256) < 0)
		goto out;
	m.size = (long long)st.st_size;
	m.snapshot_id = h->snapshot_id;
	m.created = h->created;
	m.tags = h->tags;
	ret = ms_marker_write_file(enc, &m);
out:
	free(side);
	free(text);
	return ret;
}

char *ms_dest_encrypt(const char *archive, const struct ms_age_key *rcpt, size_t n)
{
	char *enc = ms_xasprintf("%s%s", archive, MS_ENCRYPTED_SUFFIX), *rec = ms_xasprintf("%s.verified", archive);
	struct ms_header h;
	int ret = -1;

	if (ms_read_header(archive, &h) < 0) {
		free(enc);
		free(rec);
		return NULL;
	}
	if (ms_age_encrypt_file(archive, enc, rcpt, n) == 0 && encrypted_sidecars(archive, enc, &h) == 0)
		ret = 0;
	ms_header_clear(&h);
	if (ret < 0) { /* the plaintext stays the snapshot */
		unlink(enc);
		ms_dest_remove_sidecars(enc);
		free(rec);
		free(enc);
		return NULL;
	}
	if ((unlink(rec) < 0 && errno != ENOENT) || unlink(archive) < 0)
		ms_log_warn("unable to remove '%s' after encrypting it: %s", archive, strerror(errno));
	free(rec);
	return enc;
}

int ms_dest_remove_sidecars(const char *path)
{
	static const char *const suffixes[] = { MS_MARKER_SUFFIX, MS_HEADER_SUFFIX, ".verified" };
	int ret = 0;

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		char *side = ms_xasprintf("%s%s", path, suffixes[i]);

		if (unlink(side) < 0 && errno != ENOENT)
			ret = ms_log_error("unable to remove '%s': %s", side, strerror(errno));
		free(side);
	}
	return ret;
}

int ms_dest_read_header(const char *path, struct ms_header *h)
{
	char *side, *text;
	size_t len = 0;
	int ret = -1;

	if (!ms_dest_is_encrypted(path))
		return ms_read_header(path, h);
	memset(h, 0, sizeof(*h));
	side = ms_xasprintf("%s%s", path, MS_HEADER_SUFFIX);
	text = ms_read_file(side, MS_HEADER_SIDE_MAX, &len);
	if (text)
		ret = ms_header_decode(side, text, len, h);
	free(text);
	free(side);
	return ret;
}

int ms_dest_list(const char *dest, struct ms_dest_item **items, size_t *n)
{
	DIR *d = open_dest(dest);
	struct ms_dest_item *v = NULL;
	struct dirent *de;
	size_t count = 0;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		bool encrypted = len > 4 && !strcmp(de->d_name + len - 4, MS_ENCRYPTED_SUFFIX);
		char *plain = ms_xstrndup(de->d_name, encrypted ? len - 4 : len);
		struct ms_snapname sn;
		struct stat st;
		int ok = ms_snapname_parse(plain, &sn);

		free(plain);
		if (ok < 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
		    (encrypted && !has_marker(dirfd(d), de->d_name))) {
			ms_snapname_clear(&sn);
			continue;
		}
		v = ms_xrealloc(v, (count + 1) * sizeof(*v));
		v[count].name = ms_xstrdup(de->d_name);
		v[count].path = ms_path_join(dest, de->d_name);
		memcpy(v[count].stamp, sn.stamp, sizeof(v[count].stamp));
		v[count].size = (long long)st.st_size;
		v[count].encrypted = encrypted;
		ms_snapname_clear(&sn);
		count++;
	}
	closedir(d);
	if (count > 1)
		qsort(v, count, sizeof(*v), cmp_newest_first);
	*items = v;
	*n = count;
	return 0;
}

void ms_dest_items_free(struct ms_dest_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(items[i].name);
		free(items[i].path);
	}
	free(items);
}

int ms_dest_create_file(const char *path)
{
	return ms_create_private(path);
}

int ms_dest_mark_verified(const char *archive)
{
	return ms_dest_mark_verified_as(archive, false);
}

int ms_dest_mark_verified_as(const char *archive, bool deep)
{
	char *rec = ms_xasprintf("%s.verified", archive);
	char when[32], line[128];
	struct stat st;
	time_t now = time(NULL);
	struct tm tm;
	int ret = -1, n;

	if (stat(archive, &st) < 0) {
		ms_log_error("unable to stat '%s': %s", archive, strerror(errno));
		goto out;
	}
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(line, sizeof(line), "%s %lld %lld %s\n", when, (long long)st.st_size, (long long)st.st_mtime,
		     deep ? "deep" : "shallow");
	ret = ms_write_file_replace(rec, line, (size_t)n);
out:
	free(rec);
	return ret;
}

int ms_dest_verified_at(const char *archive, char when[32])
{
	return ms_dest_verified_record(archive, when, NULL);
}

int ms_dest_verified_record(const char *archive, char when[32], bool *deep)
{
	char *rec = ms_xasprintf("%s.verified", archive);
	char buf[128] = { 0 }, how[16] = "";
	long long size = -1, mtime = -1;
	struct stat st;
	int fd, ok = 0;
	ssize_t n;

	fd = open(rec, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(rec);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	/* a record from before the fourth field is a shallow one */
	if (n > 0 && sscanf(buf, "%31s %lld %lld %15s", when, &size, &mtime, how) >= 3 && stat(archive, &st) == 0 &&
	    st.st_size == size && (long long)st.st_mtime == mtime)
		ok = 1;
	if (deep)
		*deep = ok && !strcmp(how, "deep");
	return ok;
}
