/*
 * Unit tests for src/snapshot/capture.c. Each case builds a tree in a fresh
 * temporary directory, captures it into a real archive file, reads that
 * back with ms_archive_reader and compares every member (order, type,
 * metadata, content, xattrs) and every manifest record with the source,
 * the SHA-256 against sha256sum(1). The archive is also extracted with GNU
 * tar and compared with diff(1). Changing files are produced by a child
 * process writing in a loop; unreadable files by dropping to uid 65534
 * (as root) or chmod 000 (otherwise), with the exact messages pinned.
 * Roots of rooted components (ms_capture_path) are files, symlinks and
 * trees side by side; Maildir mode is driven by the listing hook, which
 * renames and deletes messages as Dovecot would between a directory's
 * listing and the reading of its files.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <setjmp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "formats/snaparchive.h"
#include "snapshot/capture.h"
#include "base/hash.h"
#include "base/log.h"
#include "formats/manifest.h"
#include "base/strbuf.h"
#include "base/util.h"
#include "testutil.h"

#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SMALL_LIMIT 4096
#define PREFIX "files/instance"
#define BUSY_SIZE ((size_t)24 << 20) /* the file being rewritten */

/* --- fixture: a temporary directory per test -------------------------------- */

struct fixture {
	char *dir;     /* temporary directory, removed by the teardown */
	char *src;     /* dir/src: the tree to capture */
	char *archive; /* dir/out.tar.zst */
};

static int fx_setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	fx->dir = test_mkdtemp("ms-test-capture");
	if (chmod(fx->dir, 0755) < 0) /* the unprivileged child walks it */
		return -1;
	fx->src = ms_path_join(fx->dir, "src");
	fx->archive = ms_path_join(fx->dir, "out.tar.zst");
	if (mkdir(fx->src, 0755) < 0)
		return -1;
	*state = fx;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fixture *fx = *state;
	char *cmd = ms_xasprintf("chmod -R u+rwx '%s' 2>/dev/null", fx->dir);

	if (system(cmd) < 0)
		perror("chmod");
	free(cmd);
	test_rmtree(fx->dir);
	free(fx->dir);
	free(fx->src);
	free(fx->archive);
	free(fx);
	return 0;
}

/* --- stderr capture --------------------------------------------------------- */

/* Contents of a file descriptor from the start (caller frees). */
static char *fd_text(int fd)
{
	off_t size = lseek(fd, 0, SEEK_END);
	char *text;

	assert_true(size >= 0);
	text = calloc(1, (size_t)size + 1);
	assert_non_null(text);
	assert_int_equal(pread(fd, text, (size_t)size, 0), size);
	return text;
}

/* --- building trees ---------------------------------------------------------- */

static char *sub(const char *dir, const char *name)
{
	return ms_path_join(dir, name);
}

/* A file of len pseudo-random bytes. */
static void put_random(const char *dir, const char *name, size_t len, unsigned seed)
{
	unsigned char *buf = malloc(len ? len : 1);

	assert_non_null(buf);
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (unsigned char)(seed >> 16);
	}
	test_put_data(dir, name, buf, len, 0644);
	free(buf);
}

static void put_socket(const char *dir, const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *path = sub(dir, name);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(s >= 0);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s); /* the socket file stays */
	free(path);
}

static void set_mtime(const char *dir, const char *name, time_t sec, long nsec)
{
	struct timespec ts[2] = { { sec, nsec }, { sec, nsec } };
	char *path = sub(dir, name);

	assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
	free(path);
}

/* Sets user.test on dir/name; false (after a note) when the filesystem
 * does not support user xattrs. */
static bool put_xattr(const char *dir, const char *name)
{
	char *path = sub(dir, name);
	int r = setxattr(path, "user.test", "v\0bin", 5, 0);

	if (r < 0 && errno == ENOTSUP)
		printf("note: '%s' has no user xattr support; xattr assertions skipped\n", path);
	else
		assert_int_equal(r, 0);
	free(path);
	return r == 0;
}

/* Sets a POSIX ACL as its raw xattr (the kernel's format: version 2,
 * then tag/perm/id entries), as setfacl(1) would. ACL_USER 65534 rw
 * (plus the mask it needs) on a file; a minimal default ACL on a dir. */
static bool put_acl(const char *dir, const char *name, bool dflt)
{
	static const uint32_t version = 2;
	static const struct {
		uint16_t tag, perm;
		uint32_t id;
	} access_acl[] = {
		{ 0x01, 6, UINT32_MAX }, { 0x02, 6, 65534 }, { 0x04, 4, UINT32_MAX },
		{ 0x10, 6, UINT32_MAX }, { 0x20, 4, UINT32_MAX },
	}, default_acl[] = {
		{ 0x01, 7, UINT32_MAX }, { 0x04, 5, UINT32_MAX }, { 0x20, 0, UINT32_MAX },
	};
	unsigned char blob[4 + sizeof(access_acl)];
	size_t len = dflt ? sizeof(default_acl) : sizeof(access_acl);
	char *path = sub(dir, name);
	int r;

	memcpy(blob, &version, 4);
	memcpy(blob + 4, dflt ? (const void *)default_acl : (const void *)access_acl, len);
	r = setxattr(path, dflt ? "system.posix_acl_default" : "system.posix_acl_access", blob,
		     4 + len, 0);
	if (r < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP))
		printf("note: '%s' has no POSIX ACL support; ACL assertions skipped\n", path);
	else
		assert_int_equal(r, 0);
	free(path);
	return r == 0;
}

/* The main tree: every kind of object capture must handle. Returns
 * whether the user.test xattr could be set, *acls_out whether the ACLs. */
static bool build_tree(const char *src, bool *acls_out)
{
	bool acls;
	unsigned char bin[256];
	char *dir = sub(src, "dir"), *nested = sub(src, "dir/nested"), *uni = sub(src, "ünïcode dir");
	char *h1 = sub(src, "hard1"), *h2 = sub(src, "hard2");
	bool xattrs;

	for (int i = 0; i < 256; i++)
		bin[i] = (unsigned char)i;
	test_put_file(src, "empty", "", 0644);
	test_put_file(src, "hello.txt", "hello\n", 0600);
	test_put_data(src, "binary.bin", bin, sizeof(bin), 0750);
	test_put_file(src, "setuid", "#!/bin/sh\n", 04755);
	put_random(src, "limit.bin", SMALL_LIMIT, 1);       /* buffered: exactly the limit */
	put_random(src, "over.bin", SMALL_LIMIT + 1, 2);    /* streamed: one byte over */
	put_random(src, "big.bin", (3u << 20) + 13, 3);    /* streamed in several pieces */
	test_put_dir(src, "dir", 0750);
	test_put_dir(dir, "nested", 0755);
	test_put_file(nested, "deep.txt", "deep\n", 0644);
	test_put_file(dir, "héllo wörld ✓.txt", "non-ascii\n", 0640);
	test_put_dir(src, "ünïcode dir", 0700);
	test_put_file(uni, "ß", "sz\n", 0644);
	test_put_symlink(src, "link-out", "/etc/passwd");
	test_put_symlink(src, "dangling", "does/not/exist");
	test_put_file(src, "hard1", "linked twice\n", 0644);
	assert_int_equal(link(h1, h2), 0);
	free(h1);
	free(h2);
	h1 = sub(src, "fifo");
	assert_int_equal(mkfifo(h1, 0644), 0);
	free(h1);
	put_socket(src, "sock");
	test_put_file(src, "xattr.txt", "with xattr\n", 0644);
	xattrs = put_xattr(src, "xattr.txt");
	test_put_file(src, "acl.txt", "with an acl\n", 0640);
	acls = put_acl(src, "acl.txt", false) && put_acl(src, "dir", true);
	if (getuid() == 0) {
		char *n = sub(src, "nobody.txt"), *u = sub(src, "unnamed.txt");

		test_put_file(src, "nobody.txt", "owned by nobody\n", 0644);
		test_put_file(src, "unnamed.txt", "owned by no name\n", 0644);
		assert_int_equal(lchown(n, 65534, 65534), 0);
		assert_int_equal(lchown(u, 54321, 54321), 0);
		free(n);
		free(u);
	}
	set_mtime(src, "hello.txt", 1600000000, 123456789);
	set_mtime(src, "link-out", 1500000000, 5);
	set_mtime(dir, "nested", 1400000000, 999999999);
	free(dir);
	free(nested);
	free(uni);
	if (acls_out)
		*acls_out = acls;
	return xattrs;
}

/* --- capturing and reading back ------------------------------------------ */

struct got_entry {
	struct ms_entry e;
	unsigned char *data;
	size_t len;
};

struct got {
	struct got_entry *v;
	size_t n;
};

struct run {
	struct ms_manifest m;
	struct ms_capture_stats st;
	struct got got;
	int rc;
};

static struct ms_archive_writer *writer_open(const char *path, int *fd)
{
	struct ms_writer_opts wo = { 0 };
	struct ms_archive_writer *w;

	*fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(*fd >= 0);
	w = ms_archive_writer_open(*fd, path, &wo);
	assert_non_null(w);
	return w;
}

/* Completes the archive writer_open started. */
static void writer_close(struct ms_archive_writer *w, int fd)
{
	assert_int_equal(ms_archive_writer_close(w, NULL), 0);
	ms_archive_writer_free(w);
	assert_int_equal(close(fd), 0);
}

static void read_data(struct ms_archive_reader *r, struct got_entry *g)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	char buf[65536];
	ssize_t n;

	while ((n = ms_archive_reader_read(r, buf, sizeof(buf))) > 0)
		ms_strbuf_add(&sb, buf, (size_t)n);
	assert_int_equal(n, 0);
	g->len = sb.len;
	g->data = (unsigned char *)ms_strbuf_detach(&sb);
}

static void read_archive(const char *path, struct got *got)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct ms_archive_reader *r;
	const struct ms_entry *e;
	int rc;

	assert_true(fd >= 0);
	r = ms_archive_reader_open(fd, path);
	assert_non_null(r);
	while ((rc = ms_archive_reader_next(r, &e)) == 1) {
		struct got_entry *g;

		got->v = realloc(got->v, (got->n + 1) * sizeof(*got->v));
		assert_non_null(got->v);
		g = &got->v[got->n++];
		memset(g, 0, sizeof(*g));
		ms_entry_copy(&g->e, e);
		read_data(r, g);
	}
	assert_int_equal(rc, 0);
	ms_archive_reader_free(r);
	close(fd);
}

static void run_clear(struct run *run)
{
	for (size_t i = 0; i < run->got.n; i++) {
		ms_entry_clear(&run->got.v[i].e);
		free(run->got.v[i].data);
	}
	free(run->got.v);
	ms_manifest_clear(&run->m);
}

/* One capture call, runnable in a thread of its own (no cmocka asserts). */
struct job {
	struct ms_archive_writer *w;
	const struct ms_capture_opts *opts;
	const char *path, *member; /* a tree when member is NULL, else one file */
	bool idle;                 /* run under SCHED_IDLE (see rewriter()) */
	struct run *run;
};

static void *job_run(void *arg)
{
	struct job *j = arg;
	struct sched_param sp = { 0 };
	struct ms_capture *c = ms_capture_new(j->w, &j->run->m, j->opts);

	if (j->idle && pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) != 0)
		printf("note: SCHED_IDLE refused; the rewriter may not get to run\n");
	j->run->rc = j->member ? ms_capture_file(c, j->path, j->member)
			       : ms_capture_tree(c, j->path, PREFIX);
	ms_capture_stats(c, &j->run->st);
	ms_capture_free(c);
	return NULL;
}

/* Captures into fx->archive (in a SCHED_IDLE thread when idle) and reads
 * it back into run. */
static void capture_job(struct fixture *fx, struct job *j)
{
	int fd;
	pthread_t t;

	j->w = writer_open(fx->archive, &fd);
	if (j->idle) {
		assert_int_equal(pthread_create(&t, NULL, job_run, j), 0);
		assert_int_equal(pthread_join(t, NULL), 0);
	} else {
		job_run(j);
	}
	writer_close(j->w, fd);
	read_archive(fx->archive, &j->run->got);
}

static void capture(struct fixture *fx, const struct ms_capture_opts *opts, const char *path,
		    const char *member, struct run *run)
{
	struct job j = { .opts = opts, .path = path, .member = member, .run = run };

	capture_job(fx, &j);
}

/* --- independent oracles ------------------------------------------------------ */

static void read_source(const char *path, struct ms_strbuf *sb)
{
	char buf[65536];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		ms_strbuf_add(sb, buf, (size_t)n);
	assert_int_equal(n, 0);
	close(fd);
}

/* The archived xattrs equal the source's (names, values). */
static void check_xattrs(const char *path, const struct ms_entry *e)
{
	char names[4096], value[4096];
	ssize_t len = llistxattr(path, names, sizeof(names));
	size_t count = 0;

	if (len < 0 && errno == ENOTSUP)
		len = 0;
	assert_true(len >= 0);
	for (char *p = names; p < names + len; p += strlen(p) + 1) {
		ssize_t vlen = lgetxattr(path, p, value, sizeof(value));
		bool found = false;

		assert_true(vlen >= 0);
		for (size_t i = 0; i < e->n_xattrs; i++) {
			if (strcmp(e->xattrs[i].name, p) != 0)
				continue;
			found = true;
			assert_int_equal(e->xattrs[i].size, (size_t)vlen);
			assert_memory_equal(e->xattrs[i].value, value, (size_t)vlen);
		}
		assert_true(found);
		count++;
	}
	assert_int_equal(e->n_xattrs, count);
}

static const char *user_name(uid_t uid)
{
	struct passwd *pw = getpwuid(uid);

	return pw ? pw->pw_name : NULL;
}

static const char *group_name(gid_t gid)
{
	struct group *gr = getgrgid(gid);

	return gr ? gr->gr_name : NULL;
}

static enum ms_entry_type source_type(const struct stat *st)
{
	if (S_ISDIR(st->st_mode))
		return MS_ENTRY_DIR;
	if (S_ISLNK(st->st_mode))
		return MS_ENTRY_SYMLINK;
	return MS_ENTRY_FILE;
}

/* Content and link target of one member against its source. */
static void check_body(const struct got_entry *g, const char *path, const struct stat *st,
		       const struct ms_manifest_entry *me)
{
	struct ms_strbuf sb = MS_STRBUF_INIT;
	char hex[MS_HASH_HEX_MAX], target[4096];
	ssize_t n;

	switch (g->e.type) {
	case MS_ENTRY_FILE:
		read_source(path, &sb);
		assert_int_equal(g->e.size, (uint64_t)st->st_size);
		assert_int_equal(g->len, sb.len);
		assert_memory_equal(g->data, sb.len ? sb.buf : "", sb.len);
		test_sha256sum(path, hex);
		assert_string_equal(me->sha256, hex);
		break;
	case MS_ENTRY_SYMLINK:
		n = readlink(path, target, sizeof(target));
		assert_true(n >= 0);
		target[n] = '\0';
		assert_string_equal(g->e.link, target);
		assert_string_equal(me->sha256, SHA_EMPTY);
		break;
	default:
		assert_int_equal(g->len, 0);
		assert_string_equal(me->sha256, SHA_EMPTY);
	}
	ms_strbuf_release(&sb);
}

/* One member against the source object it came from and its manifest
 * record. earlier: members before it (for hardlink targets). */
static void check_member(const struct got_entry *g, const char *path, const struct run *run,
			 const char *root)
{
	const struct ms_manifest_entry *me = ms_manifest_find(&run->m, g->e.path);
	struct stat st, lst;

	assert_int_equal(lstat(path, &st), 0);
	assert_non_null(me);
	assert_int_equal(me->flags, 0);
	assert_int_equal(me->e.type, g->e.type);
	assert_int_equal(me->e.size, g->e.size);
	assert_int_equal(g->e.mode, st.st_mode & 07777);
	assert_int_equal(g->e.uid, st.st_uid);
	assert_int_equal(g->e.gid, st.st_gid);
	assert_str_or_null(g->e.uname, user_name(st.st_uid));
	assert_str_or_null(g->e.gname, group_name(st.st_gid));
	assert_int_equal(g->e.mtime_sec, st.st_mtim.tv_sec);
	assert_int_equal(g->e.mtime_nsec, st.st_mtim.tv_nsec);
	if (g->e.type == MS_ENTRY_HARDLINK) {
		char *first;

		assert_true(strncmp(g->e.link, PREFIX "/", strlen(PREFIX) + 1) == 0);
		first = ms_path_join(root, g->e.link + strlen(PREFIX) + 1);
		assert_int_equal(lstat(first, &lst), 0);
		assert_int_equal(lst.st_ino, st.st_ino);
		assert_non_null(ms_manifest_find(&run->m, g->e.link));
		free(first);
		check_body(g, path, &st, me);
		return;
	}
	assert_int_equal(g->e.type, source_type(&st));
	check_xattrs(path, &g->e);
	check_body(g, path, &st, me);
}

static int cmp_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* The member paths a capture of dir must produce, in order: pre-order,
 * names sorted bytewise, sockets and FIFOs left out. */
static void expected_walk(const char *dir, const char *member, struct ms_strv *out)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, cmp_name);

	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		char *path = sub(dir, names[i]->d_name), *mem = sub(member, names[i]->d_name);
		struct stat st;

		assert_int_equal(lstat(path, &st), 0);
		if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, "..") &&
		    !S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode)) {
			ms_strv_push(out, mem);
			if (S_ISDIR(st.st_mode))
				expected_walk(path, mem, out);
		}
		free(path);
		free(mem);
		free(names[i]);
	}
	free(names);
}

/* Member order and every member/manifest record against the source. */
static void check_tree(const struct run *run, const char *root)
{
	struct ms_strv want = { 0 };

	ms_strv_push(&want, PREFIX);
	expected_walk(root, PREFIX, &want);
	assert_int_equal(run->got.n, want.n);
	assert_int_equal(run->m.n_entries, want.n);
	for (size_t i = 0; i < want.n; i++) {
		const struct got_entry *g = &run->got.v[i];
		char *path = ms_path_join(root, g->e.path + strlen(PREFIX));

		assert_string_equal(g->e.path, want.v[i]);
		assert_string_equal(run->m.entries[i].e.path, want.v[i]);
		check_member(g, path, run, root);
		free(path);
	}
	assert_int_equal(run->st.entries, want.n);
	ms_strv_clear(&want);
}

static const struct got_entry *find_got(const struct run *run, const char *path)
{
	for (size_t i = 0; i < run->got.n; i++)
		if (strcmp(run->got.v[i].e.path, path) == 0)
			return &run->got.v[i];
	return NULL;
}

/* The member paths of run, in archive order, are want[]. */
static void check_paths(const struct run *run, const char *const *want, size_t n)
{
	assert_int_equal(run->got.n, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(run->got.v[i].e.path, want[i]);
}

static bool skipped_has(const struct ms_manifest *m, const char *path, const char *reason)
{
	for (size_t i = 0; i < m->n_skipped; i++)
		if (strcmp(m->skipped[i].path, path) == 0 && strcmp(m->skipped[i].reason, reason) == 0)
			return true;
	return false;
}

/* --- tests ------------------------------------------------------------------ */

static void test_tree_roundtrip(void **state)
{
	struct fixture *fx = *state;
	struct ms_capture_opts opts = { .buffer_limit = SMALL_LIMIT };
	struct run run = { 0 };
	bool acls, xattrs = build_tree(fx->src, &acls);
	char *fifo = sub(fx->src, "fifo"), *sock = sub(fx->src, "sock");
	const struct got_entry *g;

	capture(fx, &opts, fx->src, NULL, &run);
	assert_int_equal(run.rc, 0);
	check_tree(&run, fx->src);
	/* specifics the generic comparison could miss */
	g = find_got(&run, PREFIX "/hard2");
	assert_non_null(g);
	assert_int_equal(g->e.type, MS_ENTRY_HARDLINK);
	assert_string_equal(g->e.link, PREFIX "/hard1");
	g = find_got(&run, PREFIX "/link-out");
	assert_int_equal(g->e.type, MS_ENTRY_SYMLINK);
	assert_string_equal(g->e.link, "/etc/passwd");
	assert_int_equal(g->len, 0);
	assert_string_equal(find_got(&run, PREFIX "/dangling")->e.link, "does/not/exist");
	assert_int_equal(find_got(&run, PREFIX "/setuid")->e.mode, 04755);
	assert_int_equal(find_got(&run, PREFIX "/hello.txt")->e.mtime_nsec, 123456789);
	if (xattrs)
		assert_int_equal(find_got(&run, PREFIX "/xattr.txt")->e.n_xattrs, 1);
	if (acls) {
		g = find_got(&run, PREFIX "/dir");
		assert_int_equal(g->e.n_xattrs, 1);
		assert_string_equal(g->e.xattrs[0].name, "system.posix_acl_default");
		g = find_got(&run, PREFIX "/acl.txt");
		assert_int_equal(g->e.n_xattrs, 1);
		assert_string_equal(g->e.xattrs[0].name, "system.posix_acl_access");
		assert_int_equal(g->e.mode, 0664); /* group bits show the ACL mask */
	}
	if (getuid() == 0) {
		assert_string_equal(find_got(&run, PREFIX "/nobody.txt")->e.uname, "nobody");
		assert_null(find_got(&run, PREFIX "/unnamed.txt")->e.uname);
		assert_null(find_got(&run, PREFIX "/unnamed.txt")->e.gname);
	}
	assert_int_equal(run.m.n_skipped, 2);
	assert_true(skipped_has(&run.m, fifo, "fifo"));
	assert_true(skipped_has(&run.m, sock, "socket"));
	assert_int_equal(run.st.skipped, 2);
	assert_int_equal(run.st.changed, 0);
	assert_int_equal(run.st.vanished, 0);
	run_clear(&run);
	free(fifo);
	free(sock);
}

static const char *walk_src, *walk_out; /* the two trees cmp_stat compares */

/* nftw callback: mode, owner, link count and mtime of every extracted
 * object equal the source's; sockets and FIFOs were not extracted. */
static int cmp_stat(const char *fpath, const struct stat *st, int flag, struct FTW *ftw)
{
	char *other = ms_xasprintf("%s%s", walk_out, fpath + strlen(walk_src));
	struct stat ost;

	(void)flag;
	(void)ftw;
	if (S_ISFIFO(st->st_mode) || S_ISSOCK(st->st_mode)) {
		assert_int_equal(lstat(other, &ost), -1);
		free(other);
		return 0;
	}
	assert_int_equal(lstat(other, &ost), 0);
	assert_int_equal(ost.st_mode, st->st_mode);
	assert_int_equal(ost.st_uid, st->st_uid);
	assert_int_equal(ost.st_gid, st->st_gid);
	assert_int_equal(ost.st_nlink, st->st_nlink);
	if (!S_ISLNK(st->st_mode)) {
		assert_int_equal(ost.st_mtim.tv_sec, st->st_mtim.tv_sec);
		assert_int_equal(ost.st_mtim.tv_nsec, st->st_mtim.tv_nsec);
	}
	free(other);
	return 0;
}

static void test_tree_gnu_tar(void **state)
{
	struct fixture *fx = *state;
	struct ms_capture_opts opts = { .buffer_limit = SMALL_LIMIT };
	struct run run = { 0 };
	bool xattrs = build_tree(fx->src, NULL);
	char *out = sub(fx->dir, "out"), *top = sub(out, PREFIX), *xa = sub(top, "xattr.txt");
	char value[16];

	capture(fx, &opts, fx->src, NULL, &run);
	assert_int_equal(run.rc, 0);
	assert_int_equal(mkdir(out, 0700), 0);
	assert_int_equal(test_run("tar --zstd --xattrs --xattrs-include='*' -xpf '%s' -C '%s'",
			       fx->archive, out), 0);
	assert_int_equal(test_run("diff -r --no-dereference -x fifo -x sock '%s' '%s'", fx->src, top), 0);
	walk_src = fx->src;
	walk_out = top;
	assert_int_equal(nftw(fx->src, cmp_stat, 16, FTW_PHYS), 0);
	if (xattrs) {
		assert_int_equal(getxattr(xa, "user.test", value, sizeof(value)), 5);
		assert_memory_equal(value, "v\0bin", 5);
	}
	run_clear(&run);
	free(out);
	free(top);
	free(xa);
}

static void test_excludes(void **state)
{
	struct fixture *fx = *state;
	struct ms_strv ex = { 0 };
	struct ms_capture_opts opts = { .excludes = &ex };
	char *skip = sub(fx->src, "skipdir"), *s = sub(fx->src, "sub"), *o = sub(fx->src, "other");
	char *fifo = sub(skip, "fifo");
	struct run run = { 0 };
	static const char *const want[] = {
		PREFIX, PREFIX "/keep.txt", PREFIX "/other", PREFIX "/other/x.tmp",
		PREFIX "/other/y.o", PREFIX "/sub", PREFIX "/sub/keep",
	};

	ms_strv_push(&ex, "*.log");
	ms_strv_push(&ex, "skipdir");
	ms_strv_push(&ex, "sub/*.tmp");
	ms_strv_push(&ex, "/sub/*.o");
	test_put_file(fx->src, "a.log", "x", 0644);
	test_put_file(fx->src, "keep.txt", "x", 0644);
	test_put_dir(fx->src, "skipdir", 0755);
	assert_int_equal(mkfifo(fifo, 0644), 0); /* would be listed as skipped if descended */
	test_put_dir(fx->src, "sub", 0755);
	test_put_file(s, "x.tmp", "x", 0644);
	test_put_file(s, "z.o", "x", 0644);
	test_put_file(s, "keep", "x", 0644);
	test_put_file(s, "deep.log", "x", 0644);
	test_put_dir(fx->src, "other", 0755);
	test_put_file(o, "x.tmp", "x", 0644);
	test_put_file(o, "y.o", "x", 0644);
	capture(fx, &opts, fx->src, NULL, &run);
	assert_int_equal(run.rc, 0);
	check_paths(&run, want, sizeof(want) / sizeof(want[0]));
	assert_int_equal(run.m.n_skipped, 0);
	assert_int_equal(run.st.skipped, 0);
	run_clear(&run);
	ms_strv_clear(&ex);
	free(skip);
	free(s);
	free(o);
	free(fifo);
}

static void test_capture_file(void **state)
{
	struct fixture *fx = *state;
	char *f = sub(fx->src, "main.cf"), *l = sub(fx->src, "main-link.cf");
	char *fifo = sub(fx->src, "fifo"), *h = sub(fx->src, "main-hard.cf");
	int fd;
	struct ms_manifest m = { 0 };
	struct ms_archive_writer *w = writer_open(fx->archive, &fd);
	struct ms_capture *c = ms_capture_new(w, &m, NULL);
	struct run run = { 0 };

	test_put_file(fx->src, "main.cf", "myhostname = mail.example.org\n", 0644);
	test_put_symlink(fx->src, "main-link.cf", "main.cf");
	assert_int_equal(link(f, h), 0);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(ms_capture_file(c, f, "files/postfix/main.cf"), 0);
	assert_int_equal(ms_capture_file(c, l, "files/postfix/main-link.cf"), 0);
	assert_int_equal(ms_capture_file(c, h, "files/postfix/main-hard.cf"), 0);
	assert_int_equal(ms_capture_file(c, fifo, "files/postfix/fifo"), 0);
	ms_capture_stats(c, &run.st);
	ms_capture_free(c);
	writer_close(w, fd);
	read_archive(fx->archive, &run.got);
	assert_int_equal(run.got.n, 3);
	assert_int_equal(m.n_entries, 3);
	check_member(&run.got.v[0], f, &(struct run){ .m = m }, fx->src);
	assert_string_equal(run.got.v[0].e.path, "files/postfix/main.cf");
	/* single files: the link's target and the hardlink are stored whole,
	 * as restore expects Postfix members to be */
	assert_int_equal(run.got.v[1].e.type, MS_ENTRY_FILE);
	assert_null(run.got.v[1].e.link);
	assert_int_equal(run.got.v[1].e.size, strlen("myhostname = mail.example.org\n"));
	assert_int_equal(run.got.v[2].e.type, MS_ENTRY_FILE);
	assert_null(run.got.v[2].e.link);
	assert_int_equal(run.got.v[2].e.size, strlen("myhostname = mail.example.org\n"));
	assert_true(skipped_has(&m, fifo, "fifo"));
	assert_int_equal(run.st.entries, 3);
	assert_int_equal(run.st.skipped, 1);
	run.m = m;
	run_clear(&run);
	free(f);
	free(l);
	free(h);
	free(fifo);
}

typedef int capture_fn(struct ms_capture *, const char *, const char *);

/* Runs one capture call expected to fail and returns its stderr. */
static char *capture_failing(struct fixture *fx, capture_fn *fn, const char *path, const char *member)
{
	struct run run = { 0 };
	int fd;
	struct ms_archive_writer *w = writer_open(fx->archive, &fd);
	struct ms_capture *c = ms_capture_new(w, &run.m, NULL);
	int rc;

	capture_start();
	rc = fn(c, path, member);
	ms_capture_free(c);
	ms_archive_writer_free(w);
	close(fd);
	ms_manifest_clear(&run.m);
	assert_int_equal(rc, -1);
	return capture_end();
}

static void test_bad_roots(void **state)
{
	struct fixture *fx = *state;
	char *missing = sub(fx->src, "missing"), *f = sub(fx->src, "file"), *d = sub(fx->src, "d");
	char *want, *err;

	test_put_file(fx->src, "file", "x", 0644);
	test_put_dir(fx->src, "d", 0755);
	err = capture_failing(fx, ms_capture_tree, missing, PREFIX);
	want = ms_xasprintf("modosnap: error: unable to open '%s': No such file or directory\n", missing);
	assert_string_equal(err, want);
	free(want);
	free(err);
	err = capture_failing(fx, ms_capture_tree, f, PREFIX);
	want = ms_xasprintf("modosnap: error: unable to open '%s': Not a directory\n", f);
	assert_string_equal(err, want);
	free(want);
	free(err);
	err = capture_failing(fx, ms_capture_file, missing, "m");
	want = ms_xasprintf("modosnap: error: unable to stat '%s': No such file or directory\n", missing);
	assert_string_equal(err, want);
	free(want);
	free(err);
	err = capture_failing(fx, ms_capture_file, d, "m");
	want = ms_xasprintf("modosnap: error: unable to capture '%s': Is a directory\n", d);
	assert_string_equal(err, want);
	free(want);
	free(err);
	free(missing);
	free(f);
	free(d);
}

/* --- roots of rooted components (ms_capture_path) ------------------------- */

#define DKIM "files/dkim/var/lib/dkim"
#define SYS "files/system"
#define PDF SYS "/srv/modoboa/pdfcredentials"

/* A member and the source object (relative to fx->src) it comes from. */
struct rooted {
	const char *member, *source;
};

/* Every member of run, in archive order, against want[] and its source;
 * directories only when dirs (a walk that changed them changed their mtime). */
static void check_rooted(const struct run *run, const char *src, const struct rooted *want, size_t n,
			 bool dirs)
{
	assert_int_equal(run->got.n, n);
	assert_int_equal(run->m.n_entries, n);
	assert_int_equal(run->st.entries, n);
	for (size_t i = 0; i < n; i++) {
		char *path = sub(src, want[i].source);

		assert_string_equal(run->got.v[i].e.path, want[i].member);
		assert_string_equal(run->m.entries[i].e.path, want[i].member);
		if (run->got.v[i].e.type != MS_ENTRY_HARDLINK && (dirs || run->got.v[i].e.type != MS_ENTRY_DIR))
			check_member(&run->got.v[i], path, run, src);
		free(path);
	}
}

/* The roots of both rooted components: a file, a dangling symlink, a
 * symlink to a directory (kept as a link), directory trees, a root that
 * is a hardlink of a file of an earlier root (stored whole: restore takes
 * no link across roots), a root an exclude matches (excludes apply below
 * a directory only), a FIFO (skipped). */
static void test_path_roots(void **state)
{
	static const struct rooted calls[] = {
		{ SYS "/etc/cron.d/modoboa", "modoboa" },
		{ SYS "/etc/uwsgi/apps-enabled/modoboa_instance.ini", "instance.ini" },
		{ "files/dkim/srv/dkim-link", "dkim-link" },
		{ DKIM, "dkim" },
		{ "files/dkim/etc/other.pem", "other.pem" },
		{ PDF, "pdf" },
		{ SYS "/etc/skip.tmp", "skip.tmp" },
		{ SYS "/run/fifo", "fifo" },
	};
	static const struct rooted want[] = {
		{ SYS "/etc/cron.d/modoboa", "modoboa" },
		{ SYS "/etc/uwsgi/apps-enabled/modoboa_instance.ini", "instance.ini" },
		{ "files/dkim/srv/dkim-link", "dkim-link" },
		{ DKIM, "dkim" },
		{ DKIM "/a.pem", "dkim/a.pem" },
		{ DKIM "/b.pem", "dkim/b.pem" },
		{ DKIM "/sub", "dkim/sub" },
		{ DKIM "/sub/c.pem", "dkim/sub/c.pem" },
		{ "files/dkim/etc/other.pem", "other.pem" },
		{ PDF, "pdf" },
		{ PDF "/d.pem", "pdf/d.pem" },
		{ PDF "/e.pem", "pdf/e.pem" },
		{ SYS "/etc/skip.tmp", "skip.tmp" },
	};
	struct fixture *fx = *state;
	struct ms_strv ex = { 0 };
	struct ms_capture_opts opts = { .excludes = &ex };
	char *dkim = sub(fx->src, "dkim"), *pdf = sub(fx->src, "pdf"), *a = sub(dkim, "a.pem");
	char *fifo = sub(fx->src, "fifo");
	struct run run = { 0 };
	struct ms_archive_writer *w;
	struct ms_capture *c;
	int fd;

	ms_strv_push(&ex, "*.tmp");
	test_put_file(fx->src, "modoboa", "PYTHON=/srv/modoboa/env/bin/python\n", 0640);
	set_mtime(fx->src, "modoboa", 1600000000, 42);
	test_put_symlink(fx->src, "instance.ini", "../apps-available/modoboa_instance.ini");
	test_put_symlink(fx->src, "dkim-link", "dkim");
	test_put_dir(fx->src, "dkim", 0750);
	test_put_file(dkim, "a.pem", "-----BEGIN PRIVATE KEY-----\n", 0600);
	test_put_file(dkim, "junk.tmp", "x", 0644);
	test_put_dir(dkim, "sub", 0700);
	test_put_file(dkim, "sub/c.pem", "c\n", 0600);
	test_put_dir(fx->src, "pdf", 0755);
	test_put_file(fx->src, "skip.tmp", "kept: a root\n", 0644);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	{
		char *b = sub(dkim, "b.pem"), *o = sub(fx->src, "other.pem");
		char *d = sub(pdf, "d.pem"), *e = sub(pdf, "e.pem");

		assert_int_equal(link(a, b), 0);
		assert_int_equal(link(a, o), 0);
		assert_int_equal(link(a, d), 0);
		assert_int_equal(link(a, e), 0);
		free(b);
		free(o);
		free(d);
		free(e);
	}
	if (getuid() == 0)
		assert_int_equal(lchown(a, 65534, 65534), 0); /* the signer's user */
	w = writer_open(fx->archive, &fd);
	c = ms_capture_new(w, &run.m, &opts);
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		char *path = sub(fx->src, calls[i].source);

		assert_int_equal(ms_capture_path(c, path, calls[i].member), 0);
		free(path);
	}
	ms_capture_stats(c, &run.st);
	ms_capture_free(c);
	writer_close(w, fd);
	read_archive(fx->archive, &run.got);
	check_rooted(&run, fx->src, want, sizeof(want) / sizeof(want[0]), true);
	assert_int_equal(find_got(&run, SYS "/etc/uwsgi/apps-enabled/modoboa_instance.ini")->e.type,
			 MS_ENTRY_SYMLINK);
	assert_string_equal(find_got(&run, "files/dkim/srv/dkim-link")->e.link, "dkim");
	assert_int_equal(find_got(&run, DKIM "/b.pem")->e.type, MS_ENTRY_HARDLINK);
	assert_string_equal(find_got(&run, DKIM "/b.pem")->e.link, DKIM "/a.pem");
	assert_int_equal(find_got(&run, "files/dkim/etc/other.pem")->e.type, MS_ENTRY_FILE);
	assert_int_equal(find_got(&run, PDF "/d.pem")->e.type, MS_ENTRY_FILE);
	assert_int_equal(find_got(&run, PDF "/e.pem")->e.type, MS_ENTRY_HARDLINK);
	assert_string_equal(find_got(&run, PDF "/e.pem")->e.link, PDF "/d.pem");
	assert_int_equal(find_got(&run, DKIM "/a.pem")->e.mode, 0600);
	assert_true(skipped_has(&run.m, fifo, "fifo"));
	assert_int_equal(run.st.skipped, 1);
	assert_int_equal(run.st.vanished, 0);
	run_clear(&run);
	ms_strv_clear(&ex);
	free(dkim);
	free(pdf);
	free(a);
	free(fifo);
}

/* A root that is not there is an error naming it, whatever is missing. */
static void test_path_missing(void **state)
{
	struct fixture *fx = *state;
	static const struct {
		const char *path, *why;
	} cases[] = {
		{ "missing", "No such file or directory" },
		{ "nodir/x", "No such file or directory" },
		{ "file/x", "Not a directory" },
	};

	test_put_file(fx->src, "file", "x", 0644);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *path = sub(fx->src, cases[i].path);
		char *want = ms_xasprintf("modosnap: error: unable to stat '%s': %s\n", path, cases[i].why);
		char *err = capture_failing(fx, ms_capture_path, path, SYS "/x");

		assert_string_equal(err, want);
		free(err);
		free(want);
		free(path);
	}
}

/* --- unreadable files ------------------------------------------------------- */

/* Drops privileges (as root) so that the 0600/0700 root-owned objects are
 * unreadable, runs the capture with stderr into err_fd, and exits 0 when
 * it failed as it should. */
static void unreadable_child(struct fixture *fx, const char *path, bool tree, int err_fd)
{
	struct ms_manifest m = { 0 };
	struct ms_writer_opts wo = { 0 };
	int fd = open(fx->archive, O_WRONLY | O_CREAT | O_TRUNC, 0666);
	struct ms_archive_writer *w;
	struct ms_capture *c;
	int rc;

	if (getuid() == 0 && (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0))
		_exit(10);
	if (fd < 0 || dup2(err_fd, 2) < 0)
		_exit(11);
	w = ms_archive_writer_open(fd, fx->archive, &wo);
	c = w ? ms_capture_new(w, &m, NULL) : NULL;
	if (!c)
		_exit(12);
	rc = tree ? ms_capture_tree(c, fx->src, PREFIX) : ms_capture_file(c, path, "m");
	_exit(rc == -1 ? 0 : 13);
}

/* Makes path unreadable for the capture and returns its stderr. */
static char *run_unreadable(struct fixture *fx, const char *path, bool tree)
{
	char tmpl[] = "/tmp/ms-test-stderr.XXXXXX";
	int err_fd = mkstemp(tmpl), status;
	pid_t pid;
	char *text;

	assert_true(err_fd >= 0);
	unlink(tmpl);
	/* the archive must be writable by the unprivileged child */
	close(open(fx->archive, O_WRONLY | O_CREAT | O_TRUNC, 0666));
	assert_int_equal(chmod(fx->archive, 0666), 0);
	if (getuid() != 0)
		assert_int_equal(chmod(path, 0), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		unreadable_child(fx, path, tree, err_fd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	text = fd_text(err_fd);
	close(err_fd);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "child status %d, stderr: %s\n", status, text);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	return text;
}

static void test_unreadable_file(void **state)
{
	struct fixture *fx = *state;
	char *path = sub(fx->src, "secret.cf");
	char *want = ms_xasprintf("modosnap: error: unable to open '%s': Permission denied\n", path);
	char *err;

	test_put_file(fx->src, "secret.cf", "password = s3cr3t\n", 0600);
	err = run_unreadable(fx, path, false);
	assert_string_equal(err, want);
	free(err);
	err = run_unreadable(fx, path, true); /* the same file met during a walk */
	assert_string_equal(err, want);
	free(err);
	free(want);
	free(path);
}

static void test_unreadable_dir(void **state)
{
	struct fixture *fx = *state;
	char *path = sub(fx->src, "locked");
	char *want = ms_xasprintf("modosnap: error: unable to open '%s': Permission denied\n", path);
	char *err;

	test_put_file(fx->src, "a.txt", "a\n", 0644);
	test_put_dir(fx->src, "locked", 0700);
	test_put_file(path, "inside", "x\n", 0644);
	err = run_unreadable(fx, path, true);
	assert_string_equal(err, want);
	free(err);
	free(want);
	free(path);
}

/* --- changing files --------------------------------------------------------- */

/* Child: keeps rewriting path in place with 4 KiB pwrites, alternating
 * 'a' and 'b' runs, and toggles its size between `size` and size + 4 KiB
 * (cutting or growing the last page only, so it never waits long). The
 * capture runs in a SCHED_IDLE thread, so each time this wakes from its
 * short sleep it preempts the capture, even on a single CPU: mtime, ctime
 * and size keep moving during every read. Writes a byte to ready_fd once
 * running. */
static void __attribute__((noreturn)) rewriter(const char *path, size_t size, int ready_fd)
{
	struct timespec pause = { 0, 50000 };
	int fd = open(path, O_WRONLY);
	char chunk[4096];

	if (fd < 0)
		_exit(1);
	for (unsigned long i = 0;; i++) {
		memset(chunk, (i / 64 % 2) ? 'b' : 'a', sizeof(chunk));
		if (pwrite(fd, chunk, sizeof(chunk), (off_t)((i * sizeof(chunk)) % size)) < 0)
			_exit(1);
		if (i % 16 == 15 && ftruncate(fd, (off_t)(size + (i / 16 % 2) * sizeof(chunk))) < 0)
			_exit(1);
		if (i == 64 && ready_fd >= 0) {
			if (write(ready_fd, "r", 1) < 0)
				_exit(1);
			close(ready_fd);
			ready_fd = -1;
		}
		nanosleep(&pause, NULL);
	}
}

static pid_t start_rewriter(const char *path, size_t size)
{
	int p[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		rewriter(path, size, p[1]);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1); /* it has gone round a few times */
	close(p[0]);
	return pid;
}

static void stop_rewriter(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
}

/* Captures a file being rewritten; returns the run (stderr in *err).
 * Whether the rewriter gets to run during each of the three reads is up to
 * the scheduler (made near certain, see rewriter()); a capture that
 * saw the file settle was right to archive it unflagged, so that case is
 * tried again, up to 5 times, with a note. */
static void capture_changing(struct fixture *fx, size_t limit, struct run *run, char **err)
{
	struct ms_capture_opts opts = { .max_retries = 2, .buffer_limit = limit };
	char *path = sub(fx->src, "busy.db");
	struct job j = { .opts = &opts, .path = path, .member = "files/busy.db", .idle = true };
	pid_t pid;

	put_random(fx->src, "busy.db", BUSY_SIZE, 4);
	pid = start_rewriter(path, BUSY_SIZE);
	for (int round = 1;; round++) {
		memset(run, 0, sizeof(*run));
		j.run = run;
		capture_start();
		capture_job(fx, &j);
		*err = capture_end();
		if (run->st.changed || round == 5)
			break;
		printf("note: '%s' settled during capture %d; trying again\n", path, round);
		run_clear(run);
		free(*err);
	}
	stop_rewriter(pid);
	free(path);
}

static void check_changed(struct fixture *fx, const struct run *run, const char *err)
{
	char *path = sub(fx->src, "busy.db");
	char *want = ms_xasprintf("modosnap: warning: '%s' changed while being read; archived as last read\n",
				  path);

	assert_int_equal(run->rc, 0);
	assert_int_equal(run->got.n, 1);
	assert_int_equal(run->m.n_entries, 1);
	assert_int_equal(run->m.entries[0].flags, MS_MF_CHANGED);
	assert_int_equal(run->st.changed, 1);
	assert_string_equal(err, want);
	free(want);
	free(path);
}

static void test_changing_buffered(void **state)
{
	struct fixture *fx = *state;
	struct run run = { 0 };
	unsigned warned = ms_log_warning_count();
	const struct got_entry *g;
	char *err, hex[MS_HASH_HEX_MAX];

	capture_changing(fx, BUSY_SIZE * 2, &run, &err);
	check_changed(fx, &run, err);
	assert_int_equal(ms_log_warning_count(), warned + 1);
	g = &run.got.v[0];
	assert_int_equal(g->e.size, g->len);
	ms_hash_buf_hex(MS_HASH_SHA256, g->data, g->len, hex);
	assert_string_equal(run.m.entries[0].sha256, hex);
	free(err);
	run_clear(&run);
}

static void test_changing_streamed(void **state)
{
	struct fixture *fx = *state;
	struct run run = { 0 };
	const struct got_entry *g;
	char *err;

	capture_changing(fx, SMALL_LIMIT, &run, &err);
	check_changed(fx, &run, err);
	g = &run.got.v[0];
	assert_int_equal(g->e.size, g->len);
	assert_true(g->len == BUSY_SIZE || g->len == BUSY_SIZE + 4096); /* the size first seen */
	free(err);
	run_clear(&run);
}

/* --- Maildir mode ------------------------------------------------------------ */

#define BOX "example.org/alice"
#define MBOX PREFIX "/" BOX

/* What Dovecot does to a directory once it is listed, before its names
 * are read (the listing hook); paths relative to the source root. */
static const struct mail_op {
	const char *dir;
	const char *from; /* NULL: `to` is created */
	const char *to;   /* NULL: `from` is deleted */
} mail_ops[] = {
	{ BOX "/.Sent/new", BOX "/.Sent/new/9000.s", BOX "/.Sent/cur/9000.s:2,S" },
	{ BOX "/cur", BOX "/cur/2000.M2.host:2,", BOX "/cur/2000.M2.host:2,RS" },
	{ BOX "/cur", BOX "/cur/3000.M3.host:2,S", NULL },
	{ BOX "/cur", BOX "/cur/5000.x:2,", NULL },   /* its twin 5000.x:2,S is still to come */
	{ BOX "/cur", BOX "/cur/6000.y:2,S", NULL },  /* its twin 6000.y:2,A was captured */
	{ BOX "/new", BOX "/new/1000.M1.host", BOX "/cur/1000.M1.host:2,S" },
	{ BOX "/new", BOX "/new/7000.z", NULL },
	{ BOX "/new", NULL, BOX "/cur/7000.zz:2,S" }, /* another unique part, however alike */
	{ BOX "/tmp", BOX "/tmp/8000.t", NULL },      /* not a message directory */
};

static void mail_listed(void *arg, const char *dir)
{
	const char *src = arg;
	size_t len = strlen(src);

	assert_true(strncmp(dir, src, len) == 0);
	for (size_t i = 0; i < sizeof(mail_ops) / sizeof(mail_ops[0]); i++) {
		const struct mail_op *op = &mail_ops[i];
		char *from = op->from ? sub(src, op->from) : NULL, *to = op->to ? sub(src, op->to) : NULL;

		if (dir[len] == '/' && strcmp(dir + len + 1, op->dir) == 0) {
			if (!from)
				test_write_file(to, "late\n", 5, 0600);
			else if (!to)
				assert_int_equal(unlink(from), 0);
			else
				assert_int_equal(rename(from, to), 0);
		}
		free(from);
		free(to);
	}
}

/* A mailbox with a folder; each message holds its own name. */
static void build_maildir(const char *src)
{
	static const char *const msgs[] = {
		BOX "/.Sent/cur/8500.s:2,S", BOX "/.Sent/new/9000.s", BOX "/cur/2000.M2.host:2,",
		BOX "/cur/3000.M3.host:2,S", BOX "/cur/5000.x:2,", BOX "/cur/5000.x:2,S",
		BOX "/cur/6000.y:2,A", BOX "/cur/6000.y:2,S", BOX "/new/1000.M1.host",
		BOX "/new/7000.z", BOX "/tmp/8000.t",
	};

	test_mkdirs(src, BOX "/.Sent/cur");
	test_mkdirs(src, BOX "/.Sent/new");
	test_mkdirs(src, BOX "/.Sent/tmp");
	test_mkdirs(src, BOX "/cur");
	test_mkdirs(src, BOX "/new");
	test_mkdirs(src, BOX "/tmp");
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
		test_put_file(src, msgs[i], msgs[i], 0600);
}

/* Captures the mailbox with Dovecot at work; stderr in *err. */
static void capture_mail(struct fixture *fx, bool maildir, const struct ms_strv *excludes, struct run *run,
			 char **err)
{
	struct ms_capture_opts opts = { .excludes = excludes, .maildir = maildir, .listed = mail_listed,
					.listed_arg = fx->src };

	build_maildir(fx->src);
	capture_start();
	capture(fx, &opts, fx->src, NULL, run);
	*err = capture_end();
	assert_int_equal(run->rc, 0);
}

/* A message moved from new/ to cur/ or renamed within cur/ (a flag) after
 * the listing is archived under its new name, at the place of the old
 * one; one deleted is counted, silently; twins are not archived twice. */
static void test_maildir_renamed(void **state)
{
	static const struct rooted want[] = {
		{ PREFIX, "" },
		{ PREFIX "/example.org", "example.org" },
		{ MBOX, BOX },
		{ MBOX "/.Sent", BOX "/.Sent" },
		{ MBOX "/.Sent/cur", BOX "/.Sent/cur" },
		{ MBOX "/.Sent/cur/8500.s:2,S", BOX "/.Sent/cur/8500.s:2,S" },
		{ MBOX "/.Sent/new", BOX "/.Sent/new" },
		{ MBOX "/.Sent/cur/9000.s:2,S", BOX "/.Sent/cur/9000.s:2,S" },
		{ MBOX "/.Sent/tmp", BOX "/.Sent/tmp" },
		{ MBOX "/cur", BOX "/cur" },
		{ MBOX "/cur/2000.M2.host:2,RS", BOX "/cur/2000.M2.host:2,RS" },
		{ MBOX "/cur/5000.x:2,S", BOX "/cur/5000.x:2,S" },
		{ MBOX "/cur/6000.y:2,A", BOX "/cur/6000.y:2,A" },
		{ MBOX "/new", BOX "/new" },
		{ MBOX "/cur/1000.M1.host:2,S", BOX "/cur/1000.M1.host:2,S" },
		{ MBOX "/tmp", BOX "/tmp" },
	};
	struct fixture *fx = *state;
	struct run run = { 0 };
	unsigned warned = ms_log_warning_count();
	char *err, *tmp = sub(fx->src, BOX "/tmp/8000.t");
	char *want_err = ms_xasprintf("modosnap: warning: '%s' disappeared before it could be read; not archived\n",
				      tmp);

	capture_mail(fx, true, NULL, &run, &err);
	check_rooted(&run, fx->src, want, sizeof(want) / sizeof(want[0]), false);
	assert_memory_equal(find_got(&run, MBOX "/cur/1000.M1.host:2,S")->data, BOX "/new/1000.M1.host",
			    strlen(BOX "/new/1000.M1.host"));
	assert_int_equal(run.st.renamed, 3);
	assert_int_equal(run.st.vanished, 5); /* 3000, 5000:2, 6000:2,S, 7000.z, tmp/8000.t */
	assert_string_equal(err, want_err);   /* the one outside new/ and cur/ */
	assert_int_equal(ms_log_warning_count(), warned + 1);
	run_clear(&run);
	free(err);
	free(want_err);
	free(tmp);
}

/* Outside Maildir mode nothing changes: every one is a vanished object. */
static void test_maildir_off(void **state)
{
	static const char *const want[] = {
		PREFIX, PREFIX "/example.org", MBOX, MBOX "/.Sent", MBOX "/.Sent/cur",
		MBOX "/.Sent/cur/8500.s:2,S", MBOX "/.Sent/new", MBOX "/.Sent/tmp", MBOX "/cur",
		MBOX "/cur/5000.x:2,S", MBOX "/cur/6000.y:2,A", MBOX "/new", MBOX "/tmp",
	};
	struct fixture *fx = *state;
	struct run run = { 0 };
	char *err, *moved = sub(fx->src, BOX "/new/1000.M1.host");
	char *line = ms_xasprintf("modosnap: warning: '%s' disappeared before it could be read; not archived\n",
				  moved);
	size_t lines = 0;

	capture_mail(fx, false, NULL, &run, &err);
	check_paths(&run, want, sizeof(want) / sizeof(want[0]));
	assert_int_equal(run.st.renamed, 0);
	assert_int_equal(run.st.vanished, 8);
	for (const char *p = err; (p = strchr(p, '\n')); p++)
		lines++;
	assert_int_equal(lines, 8);
	assert_non_null(strstr(err, line));
	run_clear(&run);
	free(err);
	free(line);
	free(moved);
}

/* A message is never archived into a cur/ that is not archived itself
 * (restore refuses a member without its parent): excluded, it is lost. */
static void test_maildir_cur_excluded(void **state)
{
	static const char *const want[] = {
		PREFIX, PREFIX "/example.org", MBOX, MBOX "/.Sent", MBOX "/.Sent/new",
		MBOX "/.Sent/tmp", MBOX "/new", MBOX "/tmp",
	};
	struct fixture *fx = *state;
	struct ms_strv ex = { 0 };
	struct run run = { 0 };
	char *err;

	ms_strv_push(&ex, "cur");
	capture_mail(fx, true, &ex, &run, &err);
	check_paths(&run, want, sizeof(want) / sizeof(want[0]));
	assert_int_equal(run.st.renamed, 0);
	assert_int_equal(run.st.vanished, 4); /* 9000.s, 1000.M1.host, 7000.z, tmp/8000.t */
	run_clear(&run);
	ms_strv_clear(&ex);
	free(err);
}

/* --- main ------------------------------------------------------------------- */

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tree_roundtrip, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_tree_gnu_tar, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_excludes, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_capture_file, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_roots, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_path_roots, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_path_missing, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_maildir_renamed, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_maildir_off, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_maildir_cur_excluded, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_file, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_dir, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_changing_buffered, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_changing_streamed, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
