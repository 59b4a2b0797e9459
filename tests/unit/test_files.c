/*
 * Unit tests for restore/files.c, restore/rooted.c and restore/plan.c on
 * the file level: ms_files_check_manifest refuses each kind of hostile
 * member (table driven, exact messages) and accepts what create writes;
 * staging a small archive, swapping it over an existing tree and checking
 * the live result; the plan's counts before and after; the rooted
 * components on real archives and temporary trees (ms_files_roots,
 * ms_files_restore_roots with file, symlink and directory roots, a
 * missing parent and unrelated files beside the targets, a write failure
 * leaving every target as it was, refused targets, ms_files_check_roots);
 * restoring one mailbox of files/mail (a sub-prefix).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "restore/files.h"
#include "base/hash.h"
#include "formats/manifest.h"
#include "restore/plan.h"
#include "formats/snaparchive.h"
#include "testutil.h"
#include "base/util.h"

#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static char *dir; /* scratch directory of the whole run */

/* One member: "d:PATH", "f:PATH", "l:PATH>TARGET" (symlink), "h:PATH>TARGET",
 * "x:PATH" (a type no entry has: a device forged into the manifest). */
static void add(struct ms_manifest *m, const char *spec)
{
	struct ms_entry e;
	char *path = ms_xstrdup(spec + 2), *gt = strchr(path, '>');

	memset(&e, 0, sizeof(e));
	if (gt)
		*gt = '\0';
	e.path = path;
	e.type = spec[0] == 'd' ? MS_ENTRY_DIR : spec[0] == 'f' ? MS_ENTRY_FILE
		 : spec[0] == 'l' ? MS_ENTRY_SYMLINK : spec[0] == 'h' ? MS_ENTRY_HARDLINK : (enum ms_entry_type)7;
	e.mode = spec[0] == 'd' ? 0755 : 0644;
	e.link = gt ? gt + 1 : NULL;
	ms_manifest_add(m, &e, EMPTY_SHA, 0);
	free(path);
}

struct check_case {
	const char *name;
	const char *members[8];
	const char *error; /* NULL: accepted */
};

static const struct check_case cases[] = {
	{ "what create writes", { "f:modosnap.json", "d:files/instance", "d:files/instance/a", "f:files/instance/a/x",
				  "h:files/instance/y>files/instance/a/x", "l:files/instance/l>/etc", "f:files/postfix/main.cf",
				  "f:db/default/schema-pre.sql" }, NULL },
	{ "dot-dot", { "d:files/instance", "f:files/instance/../../etc/passwd" },
	  "modosnap: error: refusing member 'files/instance/../../etc/passwd': '..' component\n" },
	{ "absolute", { "f:/etc/passwd" }, "modosnap: error: refusing member '/etc/passwd': absolute path\n" },
	{ "dot", { "d:files/instance", "f:files/instance/./x" },
	  "modosnap: error: refusing member 'files/instance/./x': '.' component\n" },
	{ "through a symlink", { "d:files/instance", "l:files/instance/l>/etc", "f:files/instance/l/passwd" },
	  "modosnap: error: refusing member 'files/instance/l/passwd': its parent is a symlink (writing through "
	  "symlinks is refused)\n" },
	{ "parent listed later", { "d:files/instance", "f:files/instance/a/x", "d:files/instance/a" },
	  "modosnap: error: refusing member 'files/instance/a/x': its parent directory is not a member before it\n" },
	{ "hardlink across components", { "f:files/postfix/main.cf", "d:files/instance",
					  "h:files/instance/h>files/postfix/main.cf" },
	  "modosnap: error: refusing member 'files/instance/h': hardlink to something other than an earlier file of "
	  "its component\n" },
	{ "hardlink to a directory", { "d:files/instance", "d:files/instance/a", "h:files/instance/h>files/instance/a" },
	  "modosnap: error: refusing member 'files/instance/h': hardlink to something other than an earlier file of "
	  "its component\n" },
	{ "unknown place", { "f:etc/cron.d/evil" },
	  "modosnap: error: refusing member 'etc/cron.d/evil': not a member modosnap writes\n" },
	{ "unknown component", { "f:files/other/x" },
	  "modosnap: error: refusing member 'files/other/x': not a member modosnap writes\n" },
	{ "postfix subdirectory", { "f:files/postfix/sub/x" },
	  "modosnap: error: refusing member 'files/postfix/sub/x': Postfix members are single files\n" },
	{ "postfix symlink", { "l:files/postfix/main.cf>/etc/shadow" },
	  "modosnap: error: refusing member 'files/postfix/main.cf': Postfix members are plain files\n" },
	{ "instance root a file", { "f:files/instance" },
	  "modosnap: error: refusing member 'files/instance': the component root is not a directory\n" },
	{ "control character (a legal name)", { "d:files/instance", "f:files/instance/a\nb" }, NULL },
	{ "postfix file not of the component", { "f:files/postfix/authorized_keys" },
	  "modosnap: error: refusing member 'files/postfix/authorized_keys': not a file the Postfix component holds "
	  "(main.cf, master.cf, modoboa-postfix-maps.chk and *.cf maps)\n" },
	{ "postfix dot file", { "f:files/postfix/.x.cf" },
	  "modosnap: error: refusing member 'files/postfix/.x.cf': not a file the Postfix component holds "
	  "(main.cf, master.cf, modoboa-postfix-maps.chk and *.cf maps)\n" },
	{ "postfix map accepted", { "f:files/postfix/sql-domains.cf", "f:files/postfix/modoboa-postfix-maps.chk" },
	  NULL },
	/* format version 3: the venv and mail trees, the rooted dkim and system */
	{ "what create writes (version 3)", { "d:files/venv", "f:files/venv/pyvenv.cfg", "d:files/mail",
					      "d:files/dkim/var/lib/dkim", "f:files/dkim/var/lib/dkim/example.org.pem",
					      "h:files/dkim/var/lib/dkim/copy.pem>files/dkim/var/lib/dkim/example.org.pem",
					      "f:files/system/etc/cron.d/modoboa",
					      "l:files/system/etc/uwsgi/apps-enabled/modoboa.ini>../apps-available/m.ini" },
	  NULL },
	{ "venv top a file", { "f:files/venv" },
	  "modosnap: error: refusing member 'files/venv': the component root is not a directory\n" },
	{ "mail parent missing", { "d:files/mail", "f:files/mail/example.org/alice" },
	  "modosnap: error: refusing member 'files/mail/example.org/alice': its parent directory is not a member "
	  "before it\n" },
	{ "mail hardlink into the venv", { "d:files/venv", "f:files/venv/x", "d:files/mail",
					   "h:files/mail/x>files/venv/x" },
	  "modosnap: error: refusing member 'files/mail/x': hardlink to something other than an earlier file of its "
	  "component\n" },
	{ "rooted: dot-dot", { "f:files/system/../../etc/shadow" },
	  "modosnap: error: refusing member 'files/system/../../etc/shadow': '..' component\n" },
	{ "rooted: absolute below the prefix", { "f:files/dkim//etc/shadow" },
	  "modosnap: error: refusing member 'files/dkim//etc/shadow': empty path component\n" },
	{ "rooted: trailing slash", { "d:files/system/" },
	  "modosnap: error: refusing member 'files/system/': empty path component\n" },
	{ "rooted: the prefix", { "d:files/dkim" },
	  "modosnap: error: refusing member 'files/dkim': the prefix of a rooted component is never a member\n" },
	{ "rooted: a device root", { "x:files/system/dev/sda" },
	  "modosnap: error: refusing member 'files/system/dev/sda': a root is a regular file, a symlink or a "
	  "directory\n" },
	{ "rooted: a hardlink root", { "f:files/system/etc/a", "h:files/system/etc/b>files/system/etc/a" },
	  "modosnap: error: refusing member 'files/system/etc/b': a root is a regular file, a symlink or a "
	  "directory\n" },
	{ "rooted: through a symlink root", { "l:files/system/etc/x>/etc", "f:files/system/etc/x/passwd" },
	  "modosnap: error: refusing member 'files/system/etc/x/passwd': its parent is a symlink (writing through "
	  "symlinks is refused)\n" },
	{ "rooted: below a file root", { "f:files/system/etc/x", "f:files/system/etc/x/y" },
	  "modosnap: error: refusing member 'files/system/etc/x/y': its parent directory is not a member before "
	  "it\n" },
	{ "rooted: a hole in a root's tree", { "d:files/system/srv/a", "f:files/system/srv/a/b/c" },
	  "modosnap: error: refusing member 'files/system/srv/a/b/c': its parent directory is not a member before "
	  "it\n" },
	{ "rooted: a root listed after its child", { "f:files/system/srv/a/x", "d:files/system/srv/a" },
	  "modosnap: error: refusing member 'files/system/srv/a/x': its parent directory is not a member before "
	  "it\n" },
	{ "rooted: hardlink across roots", { "d:files/system/srv/a", "f:files/system/srv/a/f", "d:files/system/srv/b",
					     "h:files/system/srv/b/h>files/system/srv/a/f" },
	  "modosnap: error: refusing member 'files/system/srv/b/h': hardlink to something other than an earlier "
	  "file of its root\n" },
	{ "rooted: hardlink across components", { "d:files/dkim/k", "f:files/dkim/k/f", "d:files/system/k",
						  "h:files/system/k/h>files/dkim/k/f" },
	  "modosnap: error: refusing member 'files/system/k/h': hardlink to something other than an earlier file "
	  "of its root\n" },
	{ "rooted: unknown neighbour", { "f:files/dkimx/k" },
	  "modosnap: error: refusing member 'files/dkimx/k': not a member modosnap writes\n" },
};

static void test_check(void **state)
{
	const struct check_case *c = *state;
	struct ms_manifest m;
	char *err;
	int rc;

	memset(&m, 0, sizeof(m));
	for (size_t i = 0; i < 8 && c->members[i]; i++)
		add(&m, c->members[i]);
	capture_start();
	rc = ms_files_check_manifest(&m);
	err = capture_end();
	if (c->error) {
		assert_int_equal(rc, -1);
		assert_string_equal(err, c->error);
	} else {
		assert_int_equal(rc, 0);
		assert_string_equal(err, "");
	}
	free(err);
	ms_manifest_clear(&m);
}

/* --- staging, swapping, checking --------------------------------------- */

static void put(struct ms_archive_writer *w, struct ms_manifest *m, enum ms_entry_type type, const char *path,
		const char *data, const char *link, uint32_t mode)
{
	struct ms_entry e;
	char sha[MS_HASH_HEX_MAX];

	memset(&e, 0, sizeof(e));
	e.path = (char *)path;
	e.type = type;
	e.size = data ? strlen(data) : 0;
	e.mode = mode;
	e.uid = (uint32_t)getuid();
	e.gid = (uint32_t)getgid();
	e.mtime_sec = 1700000000;
	e.mtime_nsec = 123456789;
	e.link = (char *)link;
	assert_int_equal(ms_archive_write_buffer(w, &e, data ? data : "", e.size, sha), 0);
	ms_manifest_add(m, &e, sha, 0);
}

static void test_stage_swap_check(void **state)
{
	char *arch = ms_path_join(dir, "a.tar.zst"), *target = ms_path_join(dir, "inst");
	char *staging = ms_path_join(dir, ".inst.staging"), *live;
	struct ms_files_stats st;
	struct ms_tree_plan p;
	struct ms_manifest m;
	unsigned long n;
	int fd = open(arch, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	struct ms_archive_writer *w = ms_archive_writer_open(fd, arch, NULL);

	(void)state;
	memset(&m, 0, sizeof(m));
	memset(&st, 0, sizeof(st));
	put(w, &m, MS_ENTRY_DIR, "files/instance", NULL, NULL, 0750);
	put(w, &m, MS_ENTRY_DIR, "files/instance/sub", NULL, NULL, 0700);
	put(w, &m, MS_ENTRY_FILE, "files/instance/sub/settings.py", "SECRET_KEY = 'x'\n", NULL, 0640);
	put(w, &m, MS_ENTRY_HARDLINK, "files/instance/hard", NULL, "files/instance/sub/settings.py", 0640);
	put(w, &m, MS_ENTRY_SYMLINK, "files/instance/link", NULL, "sub/settings.py", 0777);
	assert_int_equal(ms_archive_writer_close(w, NULL), 0);
	ms_archive_writer_free(w);
	close(fd);

	/* a live tree with an extra file and a changed one */
	assert_int_equal(mkdir(target, 0755), 0);
	live = ms_path_join(target, "extra");
	assert_int_equal(close(open(live, O_WRONLY | O_CREAT, 0600)), 0);
	free(live);
	assert_int_equal(ms_plan_tree(&m, "files/instance", target, false, &p), 0);
	assert_int_equal(p.added, 4);
	assert_int_equal(p.removed, 1);
	assert_int_equal(p.replaced, 1); /* the root's mode */
	assert_string_equal(p.removed_v.v[0], "extra");
	ms_tree_plan_clear(&p);

	assert_int_equal(ms_files_stage(arch, &m, "files/instance", staging, &st, NULL), 0);
	assert_int_equal(st.files, 1);
	assert_int_equal(st.dirs, 2);
	assert_int_equal(st.hardlinks, 1);
	assert_int_equal(st.symlinks, 1);
	assert_int_equal(ms_files_swap(staging, target, ms_manifest_find(&m, "files/instance")), 0);
	assert_int_equal(access(staging, F_OK), -1); /* the old tree is gone */
	assert_int_equal(ms_files_check_live(&m, "files/instance", target, false, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(ms_plan_tree(&m, "files/instance", target, false, &p), 0);
	assert_int_equal(p.unchanged, 4);
	assert_int_equal(p.added + p.replaced + p.removed, 0);
	ms_tree_plan_clear(&p);

	/* a changed file is found by the check, naming it */
	live = ms_path_join(target, "sub/settings.py");
	assert_int_equal(chmod(live, 0600), 0);
	{
		char *err, *expect = ms_xasprintf("modosnap: error: '%s': mode differs from the snapshot\n", live);

		capture_start();
		assert_int_equal(ms_files_check_live(&m, "files/instance", target, false, &n), -1);
		err = capture_end();
		assert_string_equal(err, expect);
		free(err);
		free(expect);
	}
	assert_int_equal(chmod(live, 0640), 0);
	if (geteuid() == 0) { /* the owner is checked too */
		char *err, *expect = ms_xasprintf("modosnap: error: '%s': owner differs from the snapshot\n", live);

		assert_int_equal(chown(live, 4242, 4242), 0);
		capture_start();
		assert_int_equal(ms_files_check_live(&m, "files/instance", target, false, &n), -1);
		err = capture_end();
		assert_string_equal(err, expect);
		free(err);
		free(expect);
	}
	free(live);
	ms_manifest_clear(&m);
	free(arch);
	free(target);
	free(staging);
}

/* What the plan warns about and staging leaves out: special bits and
 * file capabilities, counted per component. */
static void test_unsafe_count(void **state)
{
	struct ms_manifest m;
	struct ms_xattr cap = { (char *)"security.capability", (void *)"\x01", 1 };
	struct ms_xattr user = { (char *)"user.note", (void *)"x", 1 };
	struct ms_entry e;
	unsigned long modes, xattrs;

	(void)state;
	assert_false(ms_files_xattr_ok("security.capability"));
	assert_true(ms_files_xattr_ok("user.note"));
	assert_true(ms_files_xattr_ok("system.posix_acl_access"));
	memset(&m, 0, sizeof(m));
	add(&m, "d:files/instance");
	memset(&e, 0, sizeof(e));
	e.type = MS_ENTRY_FILE;
	e.path = (char *)"files/instance/suid";
	e.mode = 04755;
	ms_manifest_add(&m, &e, EMPTY_SHA, 0);
	e.path = (char *)"files/instance/capped";
	e.mode = 0755;
	e.xattrs = &cap;
	e.n_xattrs = 1;
	ms_manifest_add(&m, &e, EMPTY_SHA, 0);
	e.path = (char *)"files/instance/plain";
	e.xattrs = &user;
	ms_manifest_add(&m, &e, EMPTY_SHA, 0);
	e.path = (char *)"files/postfix/main.cf";
	e.mode = 0666;
	e.xattrs = NULL;
	e.n_xattrs = 0;
	ms_manifest_add(&m, &e, EMPTY_SHA, 0);
	ms_files_unsafe_count(&m, "files/instance", &modes, &xattrs);
	assert_int_equal(modes, 1);
	assert_int_equal(xattrs, 1);
	ms_files_unsafe_count(&m, "files/postfix", &modes, &xattrs);
	assert_int_equal(modes, 1);
	assert_int_equal(xattrs, 0);
	ms_manifest_clear(&m);
}

/* Ends the capture started before the call that returned rc: it failed,
 * saying exactly `expect` (freed). */
static void assert_failed(int rc, char *expect)
{
	char *err = capture_end();

	assert_int_equal(rc, -1);
	assert_string_equal(err, expect);
	free(err);
	free(expect);
}

/* The archive of every test: a system directory root with a hardlink, a
 * file root, a symlink root whose parent is missing on the target, a DKIM
 * key; the key's digest is wrong in the manifest with `corrupt` (it comes
 * last, so that everything else is written before the failure). */
static char *make_archive(const char *where, struct ms_manifest *m, bool corrupt)
{
	char *arch = ms_path_join(where, corrupt ? "bad.tar.zst" : "a.tar.zst");
	int fd = open(arch, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	struct ms_archive_writer *w = ms_archive_writer_open(fd, arch, NULL);

	memset(m, 0, sizeof(*m));
	put(w, m, MS_ENTRY_DIR, "files/system/srv/pdf", NULL, NULL, 0750);
	put(w, m, MS_ENTRY_DIR, "files/system/srv/pdf/sub", NULL, NULL, 0700);
	put(w, m, MS_ENTRY_FILE, "files/system/srv/pdf/sub/a.pdf", "%PDF\n", NULL, 0640);
	put(w, m, MS_ENTRY_HARDLINK, "files/system/srv/pdf/b.pdf", NULL, "files/system/srv/pdf/sub/a.pdf", 0640);
	put(w, m, MS_ENTRY_FILE, "files/system/etc/cron.d/modoboa", "* * * * * modoboa\n", NULL, 0644);
	put(w, m, MS_ENTRY_SYMLINK, "files/system/etc/uwsgi/apps-enabled/modoboa.ini", NULL,
	    "../apps-available/modoboa.ini", 0777);
	put(w, m, MS_ENTRY_FILE, "files/dkim/var/lib/dkim/example.org.pem", "KEY\n", NULL, 0600);
	if (corrupt)
		m->entries[m->n_entries - 1].sha256[0] ^= 1; /* '0' <-> '1', 'a' <-> '`': another digest */
	assert_int_equal(ms_archive_writer_close(w, NULL), 0);
	ms_archive_writer_free(w);
	close(fd);
	assert_int_equal(ms_files_check_manifest(m), 0);
	return arch;
}

/* The live side: old versions of the targets, an unrelated file beside
 * each, no apps-enabled directory. */
static void make_live(const char *root)
{
	char *p;

	test_mkdirs(root, "etc/cron.d");
	test_put_file(root, "etc/cron.d/modoboa", "old cron\n", 0600);
	test_put_file(root, "etc/cron.d/other", "unrelated\n", 0644);
	test_mkdirs(root, "srv/pdf");
	test_put_file(root, "srv/pdf/stale.pdf", "stale\n", 0644);
	test_put_file(root, "srv/unrelated", "unrelated\n", 0644);
	test_mkdirs(root, "var/lib/dkim");
	test_put_file(root, "var/lib/dkim/example.org.pem", "OLD KEY\n", 0644);
	test_put_file(root, "var/lib/dkim/other.org.pem", "OTHER KEY\n", 0600);
	test_mkdirs(root, "etc/uwsgi");
	p = ms_path_join(root, "etc");
	assert_int_equal(chmod(p, 0755), 0);
	free(p);
}

struct targets {
	struct ms_root_target t[4];
	char *paths[4];
};

static void make_targets(struct targets *tg, const char *root)
{
	static const char *const members[] = { "files/system/srv/pdf", "files/system/etc/cron.d/modoboa",
					       "files/system/etc/uwsgi/apps-enabled/modoboa.ini",
					       "files/dkim/var/lib/dkim/example.org.pem" };

	for (size_t i = 0; i < 4; i++) {
		const char *logical = strchr(members[i] + 6, '/'); /* after files/dkim or files/system */

		tg->paths[i] = ms_xasprintf("%s%s", root, logical);
		tg->t[i].member = members[i];
		tg->t[i].target = tg->paths[i];
	}
}

static void free_targets(struct targets *tg)
{
	for (size_t i = 0; i < 4; i++)
		free(tg->paths[i]);
}

static void assert_content(const char *root, const char *rel, const char *text)
{
	char *p = ms_path_join(root, rel), *got = test_slurp(p);

	assert_string_equal(got, text);
	free(got);
	free(p);
}

/* No name left in directory root/rel that starts with '.' (temporaries,
 * staging directories). */
static void assert_no_dot_files(const char *root, const char *rel)
{
	char *p = ms_path_join(root, rel);
	DIR *d = opendir(p);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			assert_true(de->d_name[0] != '.');
	closedir(d);
	free(p);
}

static void test_roots(void **state)
{
	struct test_fixture *f = *state;
	struct ms_manifest m;
	struct ms_strv roots = { 0 };
	char *arch = make_archive(f->dir, &m, false);

	ms_files_roots(&m, "files/system", &roots);
	assert_int_equal(roots.n, 3);
	assert_string_equal(roots.v[0], "files/system/srv/pdf");
	assert_string_equal(roots.v[1], "files/system/etc/cron.d/modoboa");
	assert_string_equal(roots.v[2], "files/system/etc/uwsgi/apps-enabled/modoboa.ini");
	ms_strv_clear(&roots);
	ms_files_roots(&m, "files/dkim", &roots);
	assert_int_equal(roots.n, 1);
	assert_string_equal(roots.v[0], "files/dkim/var/lib/dkim/example.org.pem");
	ms_strv_clear(&roots);
	ms_manifest_clear(&m);
	free(arch);
}

static void test_restore_roots(void **state)
{
	struct test_fixture *f = *state;
	struct ms_files_stats st = { 0 };
	struct ms_manifest m;
	struct targets tg;
	struct stat sb;
	unsigned long n;
	char *arch = make_archive(f->dir, &m, false), *root = ms_path_join(f->dir, "root"), *p, buf[64];
	ssize_t len;

	make_live(root);
	make_targets(&tg, root);
	assert_int_equal(ms_files_restore_roots(arch, &m, tg.t, 4, &st, NULL), 0);
	assert_int_equal(st.files, 2 + 1);
	assert_int_equal(st.dirs, 2);
	assert_int_equal(st.hardlinks, 1);
	assert_int_equal(st.symlinks, 1);

	/* every root in place, the proof agrees */
	assert_int_equal(ms_files_check_roots(&m, tg.t, 4, &n), 0);
	assert_int_equal(n, 7);
	assert_content(root, "etc/cron.d/modoboa", "* * * * * modoboa\n");
	assert_content(root, "var/lib/dkim/example.org.pem", "KEY\n");
	len = readlink(tg.paths[2], buf, sizeof(buf) - 1);
	assert_true(len > 0);
	buf[len] = '\0';
	assert_string_equal(buf, "../apps-available/modoboa.ini");
	p = ms_path_join(root, "srv/pdf/stale.pdf"); /* a directory root is the tree it was */
	assert_int_equal(access(p, F_OK), -1);
	free(p);

	/* the missing parent was made, 0755 */
	p = ms_path_join(root, "etc/uwsgi/apps-enabled");
	assert_int_equal(lstat(p, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0755);
	free(p);

	/* the files beside the targets are as they were, nothing left behind */
	assert_content(root, "etc/cron.d/other", "unrelated\n");
	assert_content(root, "var/lib/dkim/other.org.pem", "OTHER KEY\n");
	assert_content(root, "srv/unrelated", "unrelated\n");
	assert_no_dot_files(root, "etc/cron.d");
	assert_no_dot_files(root, "etc/uwsgi/apps-enabled");
	assert_no_dot_files(root, "srv");
	assert_no_dot_files(root, "var/lib/dkim");

	/* restoring again over the restored roots changes nothing */
	assert_int_equal(ms_files_restore_roots(arch, &m, tg.t, 4, &st, NULL), 0);
	assert_int_equal(ms_files_check_roots(&m, tg.t, 4, &n), 0);

	/* a difference is named */
	assert_int_equal(chmod(tg.paths[3], 0644), 0);
	capture_start();
	assert_failed(ms_files_check_roots(&m, tg.t, 4, &n),
		      ms_xasprintf("modosnap: error: '%s': mode differs from the snapshot\n", tg.paths[3]));
	free_targets(&tg);
	ms_manifest_clear(&m);
	free(arch);
	free(root);
}

static void test_write_failure(void **state)
{
	struct test_fixture *f = *state;
	struct ms_files_stats st = { 0 };
	struct ms_manifest m;
	struct targets tg;
	char *arch = make_archive(f->dir, &m, true), *root = ms_path_join(f->dir, "root"), *p;

	make_live(root);
	make_targets(&tg, root);
	capture_start();
	assert_failed(ms_files_restore_roots(arch, &m, tg.t, 4, &st, NULL),
		      ms_xstrdup("modosnap: error: member 'files/dkim/var/lib/dkim/example.org.pem': content differs "
				 "from the manifest (the archive changed since it was verified?)\n"));

	/* every target unchanged, the temporaries and the made directory gone */
	assert_content(root, "etc/cron.d/modoboa", "old cron\n");
	assert_content(root, "srv/pdf/stale.pdf", "stale\n");
	assert_content(root, "var/lib/dkim/example.org.pem", "OLD KEY\n");
	p = ms_path_join(root, "etc/uwsgi/apps-enabled");
	assert_int_equal(access(p, F_OK), -1);
	free(p);
	assert_no_dot_files(root, "etc/cron.d");
	assert_no_dot_files(root, "srv");
	assert_no_dot_files(root, "var/lib/dkim");
	assert_no_dot_files(root, "etc/uwsgi");
	free_targets(&tg);
	ms_manifest_clear(&m);
	free(arch);
	free(root);
}

/* A target is refused before anything is written. */
static void test_refused(void **state)
{
	struct test_fixture *f = *state;
	struct ms_files_stats st = { 0 };
	struct ms_manifest m;
	struct targets tg;
	char *arch = make_archive(f->dir, &m, false), *root = ms_path_join(f->dir, "root"), *p, *q;

	make_live(root);
	make_targets(&tg, root);

	/* a symlink on the way */
	p = ms_path_join(root, "var/lib/dkim");
	q = ms_path_join(root, "var/lib/real");
	assert_int_equal(rename(p, q), 0);
	assert_int_equal(symlink("real", p), 0);
	capture_start();
	assert_failed(ms_files_restore_roots(arch, &m, tg.t, 4, &st, NULL),
		      ms_xasprintf("modosnap: error: target '%s' refused: '%s' on its way is a symbolic link (give the "
				   "real path)\n", tg.paths[3], p));
	assert_content(root, "var/lib/real/example.org.pem", "OLD KEY\n");
	free(p);
	free(q);

	/* overlapping targets */
	tg.t[3].target = tg.paths[0];
	capture_start();
	assert_failed(ms_files_restore_roots(arch, &m, tg.t, 4, &st, NULL),
		      ms_xasprintf("modosnap: error: target '%s' of 'files/dkim/var/lib/dkim/example.org.pem' refused: "
				   "it overlaps the target of another root\n", tg.paths[0]));

	/* a relative target, a member that is not a root */
	tg.t[3].target = "var/lib/dkim/example.org.pem";
	capture_start();
	assert_failed(ms_files_restore_roots(arch, &m, tg.t + 3, 1, &st, NULL),
		      ms_xstrdup("modosnap: error: target 'var/lib/dkim/example.org.pem' of "
				 "'files/dkim/var/lib/dkim/example.org.pem' refused: not an absolute path\n"));
	tg.t[3].member = "files/system/srv/pdf/sub";
	capture_start();
	assert_failed(ms_files_restore_roots(arch, &m, tg.t + 3, 1, &st, NULL),
		      ms_xstrdup("modosnap: error: 'files/system/srv/pdf/sub' is not a root of a rooted component of "
				 "the snapshot\n"));
	assert_content(root, "etc/cron.d/modoboa", "old cron\n");
	free_targets(&tg);
	ms_manifest_clear(&m);
	free(arch);
	free(root);
}

/* One mailbox: a sub-prefix of files/mail staged and swapped where the
 * mailbox was deleted, then over a changed one; the mailbox whose name
 * it starts with and the other mailboxes are left alone. */
static void test_one_mailbox(void **state)
{
	struct test_fixture *f = *state;
	struct ms_files_stats st = { 0 };
	struct ms_manifest m;
	unsigned long n;
	char *arch = ms_path_join(f->dir, "mail.tar.zst"), *vmail = ms_path_join(f->dir, "vmail");
	char *alice = ms_path_join(vmail, "example.org/alice"), *staging = ms_path_join(vmail, "example.org/.alice.r");
	char *p;
	int fd = open(arch, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	struct ms_archive_writer *w = ms_archive_writer_open(fd, arch, NULL);
	const char *prefix = "files/mail/example.org/alice";

	memset(&m, 0, sizeof(m));
	put(w, &m, MS_ENTRY_DIR, "files/mail", NULL, NULL, 0755);
	put(w, &m, MS_ENTRY_DIR, "files/mail/example.org", NULL, NULL, 0755);
	put(w, &m, MS_ENTRY_DIR, "files/mail/example.org/alice", NULL, NULL, 0700);
	put(w, &m, MS_ENTRY_DIR, "files/mail/example.org/alice/cur", NULL, NULL, 0700);
	put(w, &m, MS_ENTRY_FILE, "files/mail/example.org/alice/cur/1700000000.M1P1.host:2,S", "Subject: hi\n", NULL,
	    0600);
	put(w, &m, MS_ENTRY_DIR, "files/mail/example.org/alice2", NULL, NULL, 0700);
	put(w, &m, MS_ENTRY_FILE, "files/mail/example.org/alice2/x", "alice2\n", NULL, 0600);
	put(w, &m, MS_ENTRY_DIR, "files/mail/example.org/bob", NULL, NULL, 0700);
	put(w, &m, MS_ENTRY_FILE, "files/mail/example.org/bob/old", "old\n", NULL, 0600);
	assert_int_equal(ms_archive_writer_close(w, NULL), 0);
	ms_archive_writer_free(w);
	close(fd);
	assert_int_equal(ms_files_check_manifest(&m), 0);

	/* alice deleted; bob has a newer message */
	test_mkdirs(vmail, "example.org/bob");
	test_put_file(vmail, "example.org/bob/new", "newer\n", 0600);
	assert_int_equal(ms_files_stage(arch, &m, prefix, staging, &st, NULL), 0);
	assert_int_equal(st.files, 1);
	assert_int_equal(st.dirs, 2);
	assert_int_equal(ms_files_swap(staging, alice, ms_manifest_find(&m, prefix)), 0);
	assert_int_equal(ms_files_check_live(&m, prefix, alice, false, &n), 0);
	assert_int_equal(n, 3);
	assert_content(vmail, "example.org/bob/new", "newer\n");
	p = ms_path_join(vmail, "example.org/alice2");
	assert_int_equal(access(p, F_OK), -1);
	free(p);
	p = ms_path_join(vmail, "example.org/bob/old");
	assert_int_equal(access(p, F_OK), -1);
	free(p);

	/* over an existing, changed mailbox */
	test_put_file(alice, "cur/1700000000.M1P1.host:2,S", "changed\n", 0600);
	test_put_file(alice, "cur/extra", "x\n", 0600);
	capture_start();
	assert_failed(ms_files_check_live(&m, prefix, alice, false, &n),
		      ms_xasprintf("modosnap: error: '%s/cur': modification time differs from the snapshot\n", alice));
	assert_int_equal(ms_files_stage(arch, &m, prefix, staging, &st, NULL), 0);
	assert_int_equal(ms_files_swap(staging, alice, ms_manifest_find(&m, prefix)), 0);
	assert_int_equal(access(staging, F_OK), -1);
	assert_int_equal(ms_files_check_live(&m, prefix, alice, false, &n), 0);
	p = ms_path_join(alice, "cur/extra");
	assert_int_equal(access(p, F_OK), -1);
	free(p);
	assert_content(vmail, "example.org/bob/new", "newer\n");
	ms_manifest_clear(&m);
	free(arch);
	free(vmail);
	free(alice);
	free(staging);
}

static int setup(void **state)
{
	(void)state;
	dir = test_mkdtemp("test_files");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	test_rmtree(dir);
	free(dir);
	return 0;
}

int main(void)
{
	static struct CMUnitTest tests[sizeof(cases) / sizeof(cases[0]) + 7];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++, n++)
		tests[n] = (struct CMUnitTest){ cases[i].name, test_check, NULL, NULL, (void *)&cases[i] };
	tests[n++] = (struct CMUnitTest){ "stage, swap, check", test_stage_swap_check, NULL, NULL, NULL };
	tests[n++] = (struct CMUnitTest){ "special bits and capabilities", test_unsafe_count, NULL, NULL, NULL };
	tests[n++] = (struct CMUnitTest){ "rooted: the roots", test_roots, test_fixture_setup, test_fixture_teardown,
					  NULL };
	tests[n++] = (struct CMUnitTest){ "rooted: restore and check", test_restore_roots, test_fixture_setup,
					  test_fixture_teardown, NULL };
	tests[n++] = (struct CMUnitTest){ "rooted: a write failure", test_write_failure, test_fixture_setup,
					  test_fixture_teardown, NULL };
	tests[n++] = (struct CMUnitTest){ "rooted: refused targets", test_refused, test_fixture_setup,
					  test_fixture_teardown, NULL };
	tests[n++] = (struct CMUnitTest){ "one mailbox", test_one_mailbox, test_fixture_setup, test_fixture_teardown,
					  NULL };
	return _cmocka_run_group_tests("files", tests, n, setup, teardown);
}
