/*
 * The real `modosnap restore` binary (MODOSNAP, run through system()) on
 * hostile archives crafted with the project's own writer: a '..'
 * component, an absolute member path, a file written through an earlier
 * symlink member, hardlinks out of their component, a device node and a
 * FIFO (made with GNU tar), members missing from the manifest and members
 * outside the known components. Each must be refused before the first
 * write with exit code 5 and an exact error message naming the member,
 * with and without --only and with --dry-run; afterwards the --root directory
 * is still empty (no staging directory either), the attack's target does
 * not exist and the --dest directory holds no archive. A well-formed
 * archive built the same way restores, so the refusals are the hostile
 * members' doing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "formats/manifest.h"
#include "formats/snaparchive.h"
#include "testutil.h"
#include "base/util.h"

#define SETTINGS "SECRET_KEY = 'x'\nDATABASES = {}\n"
#define README "a plain file\n"

/* One test's scratch tree: T/root (--root), T/dest (--dest), T/arch (the
 * archives, outside --dest), T/outside (what an attack would write into). */
struct scratch {
	char *t, *root, *dest, *arch, *outside;
};

/* An archive being built; every member is added to the manifest unless
 * the caller says otherwise. */
struct builder {
	char *path;
	int fd;
	struct ms_archive_writer *w;
	struct ms_manifest mf;
};

/* --- helpers ------------------------------------------------------------- */

static char *mkdir_in(const char *t, const char *name)
{
	char *p = ms_path_join(t, name);

	assert_int_equal(mkdir(p, 0700), 0);
	return p;
}

static void scratch_new(struct scratch *s)
{
	s->t = test_mkdtemp("hostile");
	s->root = mkdir_in(s->t, "root");
	s->dest = mkdir_in(s->t, "dest");
	s->arch = mkdir_in(s->t, "arch");
	s->outside = mkdir_in(s->t, "outside");
}

static void scratch_free(struct scratch *s)
{
	test_rmtree(s->t);
	free(s->t);
	free(s->root);
	free(s->dest);
	free(s->arch);
	free(s->outside);
}

static void entry_of(struct ms_entry *e, enum ms_entry_type type, const char *path, size_t len, const char *link)
{
	memset(e, 0, sizeof(*e));
	e->path = (char *)path;
	e->type = type;
	e->size = type == MS_ENTRY_FILE ? len : 0;
	e->mode = type == MS_ENTRY_DIR ? 0755 : type == MS_ENTRY_SYMLINK ? 0777 : 0644;
	e->uid = (uint32_t)getuid();
	e->gid = (uint32_t)getgid();
	e->mtime_sec = (int64_t)time(NULL);
	e->link = (char *)link;
}

/* Adds one member; `listed` false leaves it out of the manifest. */
static void add(struct builder *b, enum ms_entry_type type, const char *path, const char *data, const char *link,
		bool listed)
{
	struct ms_entry e;
	char sha[MS_HASH_HEX_MAX];
	size_t len = data ? strlen(data) : 0;

	entry_of(&e, type, path, len, link);
	assert_int_equal(ms_archive_write_buffer(b->w, &e, data ? data : "", len, sha), 0);
	if (listed)
		ms_manifest_add(&b->mf, &e, sha, 0);
}

static void add_dir(struct builder *b, const char *path)
{
	add(b, MS_ENTRY_DIR, path, NULL, NULL, true);
}

static void add_file(struct builder *b, const char *path, const char *data)
{
	add(b, MS_ENTRY_FILE, path, data, NULL, true);
}

/* Starts archive `name` in s->arch whose header lists `components`
 * (NULL-terminated), and writes the header member. */
static void begin(struct builder *b, const struct scratch *s, const char *name, const char *const *components)
{
	struct ms_header h;
	struct ms_entry e;
	char sha[MS_HASH_HEX_MAX], *text;

	memset(b, 0, sizeof(*b));
	b->path = ms_path_join(s->arch, name);
	b->fd = open(b->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(b->fd >= 0);
	b->w = ms_archive_writer_open(b->fd, b->path, NULL);
	assert_non_null(b->w);
	memset(&h, 0, sizeof(h));
	h.format_version = MS_FORMAT_VERSION;
	ms_header_new_id((long long)time(NULL), &h.snapshot_id, &h.created);
	h.host = ms_xstrdup("test.example.org");
	h.tool_version = ms_xstrdup("0.1.0");
	h.instance = ms_xstrdup("/srv/modoboa/instance");
	for (size_t i = 0; components[i]; i++)
		ms_strv_push(&h.components, components[i]);
	text = ms_header_encode(&h);
	entry_of(&e, MS_ENTRY_FILE, MS_HEADER_NAME, strlen(text), NULL);
	assert_int_equal(ms_archive_write_buffer(b->w, &e, text, strlen(text), sha), 0);
	free(text);
	b->mf.format_version = MS_FORMAT_VERSION;
	b->mf.snapshot_id = ms_xstrdup(h.snapshot_id);
	ms_manifest_add(&b->mf, &e, sha, 0);
	ms_header_clear(&h);
}

/* Writes the manifest and closes; returns the archive's path (owned). */
static char *end(struct builder *b)
{
	struct ms_entry e;
	char sha[MS_HASH_HEX_MAX], *text = ms_manifest_encode(&b->mf);

	entry_of(&e, MS_ENTRY_FILE, MS_MANIFEST_NAME, strlen(text), NULL);
	assert_int_equal(ms_archive_write_buffer(b->w, &e, text, strlen(text), sha), 0);
	free(text);
	assert_int_equal(ms_archive_writer_close(b->w, NULL), 0);
	ms_archive_writer_free(b->w);
	assert_int_equal(close(b->fd), 0);
	ms_manifest_clear(&b->mf);
	return b->path;
}

static const char *const only_instance[] = { "instance", NULL };

/* The well-formed instance tree every archive starts with. */
static void good_tree(struct builder *b)
{
	add_dir(b, "files/instance");
	add_dir(b, "files/instance/instance");
	add_file(b, "files/instance/instance/settings.py", SETTINGS);
	add_file(b, "files/instance/README", README);
	add(b, MS_ENTRY_HARDLINK, "files/instance/README.link", NULL, "files/instance/README", true);
	add(b, MS_ENTRY_SYMLINK, "files/instance/current", NULL, "instance", true);
}

static int sh(const char *cmd)
{
	int st = system(cmd);

	assert_true(st != -1 && WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* Runs `modosnap restore ARCHIVE --yes --no-safety-snapshot --root
 * s->root --dest s->dest EXTRA`; stdout and stderr land in T/out, T/err.
 * These archives are built as an attacker would (the project's writer,
 * no signature): without --allow-unsigned they stop at the signature
 * check (expect_refusal shows it); EXTRA holds --allow-unsigned to reach
 * the checks behind it. */
static int restore(const struct scratch *s, const char *archive, const char *extra)
{
	const char *bin = getenv("MODOSNAP");
	char *cmd;
	int rc;

	assert_non_null(bin);
	cmd = ms_xasprintf("MODOSNAP_CONFIG= '%s' restore '%s' --yes --no-safety-snapshot --root '%s' --dest '%s' %s"
			   " </dev/null >'%s/out' 2>'%s/err'", bin, archive, s->root, s->dest, extra, s->t, s->t);
	rc = sh(cmd);
	free(cmd);
	return rc;
}

static void assert_empty_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			fail_msg("'%s' is not empty: it holds '%s'", dir, de->d_name);
	closedir(d);
}

/* --dest holds at most the lock file: no archive, no ".partial". */
static void assert_dest_clean(const char *dest)
{
	DIR *d = opendir(dest);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, ".modosnap.lock"))
			fail_msg("'%s' got '%s'", dest, de->d_name);
	closedir(d);
}

static void assert_absent(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == 0)
		fail_msg("'%s' exists", path);
	assert_int_equal(errno, ENOENT);
}

/* The refusal, identical under each way of asking, and nothing written.
 * An archive that verifies stops first at the signature (it is unsigned),
 * then, with --allow-unsigned, at the check behind it; one that does not
 * verify stops at verification either way. */
static void expect_refusal(const struct scratch *s, const char *archive, bool verifies, const char *err_lines)
{
	static const char *const variants[] = { "--only instance", "", "--dry-run --only instance",
						"--allow-unsigned --only instance", "--allow-unsigned",
						"--allow-unsigned --dry-run --only instance" };
	char *unsigned_err = ms_xasprintf("modosnap: error: '%s': snapshot is not signed (use --allow-unsigned to "
					  "accept it)\n", archive);
	char *allowed_err = ms_xasprintf("modosnap: warning: '%s': snapshot is not signed; accepted because of "
					 "--allow-unsigned\n%s", archive, err_lines);

	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		char *out_path = ms_path_join(s->t, "out"), *err_path = ms_path_join(s->t, "err"), *out, *err;
		int rc = restore(s, archive, variants[i]);
		const char *want = !verifies ? err_lines : strstr(variants[i], "--allow-unsigned") ? allowed_err
												 : unsigned_err;

		out = test_slurp(out_path);
		err = test_slurp(err_path);
		if (rc != 5 || strcmp(err, want) != 0)
			fail_msg("restore %s: exit %d, stderr:\n%sexpected exit 5, stderr:\n%s", variants[i], rc, err,
				 want);
		assert_string_equal(out, "");
		assert_empty_dir(s->root);
		assert_dest_clean(s->dest);
		assert_empty_dir(s->outside);
		free(out);
		free(err);
		free(out_path);
		free(err_path);
	}
	free(unsigned_err);
	free(allowed_err);
}

/* `modosnap verify` accepts the archive: what restore refuses is a member
 * that is consistent with its manifest. (These archives are unsigned:
 * accepted with a warning, exit 3.) */
static void assert_verifies(const struct scratch *s, const char *archive)
{
	char *cmd = ms_xasprintf("MODOSNAP_CONFIG= '%s' verify --allow-unsigned '%s' >'%s/out' 2>'%s/err'",
				 getenv("MODOSNAP"), archive, s->t, s->t);

	assert_int_equal(sh(cmd), 3);
	free(cmd);
}

/* --- tests ---------------------------------------------------------------- */

/* The control: the same construction without a hostile member restores. */
static void test_good_archive_restores(void **state)
{
	struct scratch s;
	struct builder b;
	char *arch, *inst, *p, *q, *text, *out_path, link[64];
	struct stat a, c;
	ssize_t n;

	(void)state;
	scratch_new(&s);
	begin(&b, &s, "good.tar.zst", only_instance);
	good_tree(&b);
	arch = end(&b);
	assert_verifies(&s, arch);
	assert_int_equal(restore(&s, arch, "--only instance"), 5); /* not signed */
	assert_int_equal(restore(&s, arch, "--allow-unsigned --only instance"), 3);
	inst = ms_path_join(s.root, "srv/modoboa/instance");
	p = ms_path_join(inst, "instance/settings.py");
	text = test_slurp(p);
	assert_string_equal(text, SETTINGS);
	free(text);
	free(p);
	p = ms_path_join(inst, "README");
	text = test_slurp(p);
	assert_string_equal(text, README);
	free(text);
	q = ms_path_join(inst, "README.link");
	assert_int_equal(lstat(p, &a), 0);
	assert_int_equal(lstat(q, &c), 0);
	assert_true(a.st_ino == c.st_ino && a.st_nlink == 2);
	free(q);
	free(p);
	p = ms_path_join(inst, "current");
	n = readlink(p, link, sizeof(link) - 1);
	assert_int_equal(n, 8);
	link[n] = '\0';
	assert_string_equal(link, "instance");
	free(p);
	p = ms_path_join(s.root, "srv/modoboa/.instance.modosnap-restore");
	assert_absent(p);
	free(p);
	out_path = ms_path_join(s.t, "out");
	text = test_slurp(out_path);
	q = ms_xasprintf("\nrestored instance: 2 files, 2 directories, 1 symlinks, 1 hardlinks into %s\n", inst);
	if (!strstr(text, q))
		fail_msg("stdout lacks '%s':\n%s", q + 1, text);
	free(q);
	free(text);
	free(out_path);
	assert_dest_clean(s.dest);
	free(inst);
	free(arch);
	scratch_free(&s);
}

/* Builds an archive: the good tree, then `hostile` (which adds members). */
static char *hostile_archive(const struct scratch *s, const char *name, const char *const *components,
			     void (*hostile)(struct builder *b, const struct scratch *s))
{
	struct builder b;

	begin(&b, s, name, components);
	good_tree(&b);
	hostile(&b, s);
	return end(&b);
}

static void refuse_case(const struct scratch *s, const char *archive, bool verifies, const char *err_lines)
{
	if (verifies)
		assert_verifies(s, archive);
	expect_refusal(s, archive, verifies, err_lines);
}

static void dotdot(struct builder *b, const struct scratch *s)
{
	(void)s;
	add_file(b, "files/instance/../../evil", "x\n");
}

static void test_dotdot(void **state)
{
	struct scratch s;
	char *arch, *p;

	(void)state;
	scratch_new(&s);
	arch = hostile_archive(&s, "dotdot.tar.zst", only_instance, dotdot);
	refuse_case(&s, arch, true, "modosnap: error: refusing member 'files/instance/../../evil': '..' component\n");
	p = ms_path_join(s.root, "srv/evil");
	assert_absent(p);
	free(p);
	free(arch);
	scratch_free(&s);
}

/* An absolute member path naming a file in T/outside. */
static void absolute(struct builder *b, const struct scratch *s)
{
	char *p = ms_path_join(s->outside, "evil");

	add_file(b, p, "x\n");
	free(p);
}

static void test_absolute(void **state)
{
	struct scratch s;
	char *arch, *p, *want;

	(void)state;
	scratch_new(&s);
	arch = hostile_archive(&s, "absolute.tar.zst", only_instance, absolute);
	p = ms_path_join(s.outside, "evil");
	want = ms_xasprintf("modosnap: error: refusing member '%s': absolute path\n", p);
	refuse_case(&s, arch, true, want);
	assert_absent(p);
	free(want);
	free(p);
	free(arch);
	scratch_free(&s);
}

static void through_symlink_abs(struct builder *b, const struct scratch *s)
{
	add(b, MS_ENTRY_SYMLINK, "files/instance/link", NULL, s->outside, true);
	add_file(b, "files/instance/link/evil", "x\n");
}

static void through_symlink_up(struct builder *b, const struct scratch *s)
{
	(void)s;
	add(b, MS_ENTRY_SYMLINK, "files/instance/link", NULL, "..", true);
	add_dir(b, "files/instance/link/evil");
}

/* Even a symlink that stays inside the tree is not a parent to write into. */
static void through_symlink_inside(struct builder *b, const struct scratch *s)
{
	(void)s;
	add_file(b, "files/instance/current/evil", "x\n");
}

static void test_through_symlink(void **state)
{
	static void (*const kinds[])(struct builder *, const struct scratch *) = {
		through_symlink_abs, through_symlink_up, through_symlink_inside,
	};
	static const char *const members[] = {
		"files/instance/link/evil", "files/instance/link/evil", "files/instance/current/evil",
	};

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct scratch s;
		char *arch, *p, *want;

		scratch_new(&s);
		arch = hostile_archive(&s, "symlink.tar.zst", only_instance, kinds[i]);
		want = ms_xasprintf("modosnap: error: refusing member '%s': its parent is a symlink (writing through "
				    "symlinks is refused)\n", members[i]);
		refuse_case(&s, arch, true, want);
		p = ms_path_join(s.outside, "evil");
		assert_absent(p);
		free(p);
		p = ms_path_join(s.root, "srv/modoboa/evil");
		assert_absent(p);
		free(p);
		free(want);
		free(arch);
		scratch_free(&s);
	}
}

static const char *const with_postfix[] = { "instance", "postfix", NULL };

static void hardlink_postfix(struct builder *b, const struct scratch *s)
{
	(void)s;
	add_file(b, "files/postfix/main.cf", "myhostname = x\n");
	add(b, MS_ENTRY_HARDLINK, "files/instance/h", NULL, "files/postfix/main.cf", true);
}

static void hardlink_nonmember(struct builder *b, const struct scratch *s)
{
	(void)s;
	add(b, MS_ENTRY_HARDLINK, "files/instance/h", NULL, "etc/passwd", true);
}

static void hardlink_absolute(struct builder *b, const struct scratch *s)
{
	(void)s;
	add(b, MS_ENTRY_HARDLINK, "files/instance/h", NULL, "/etc/passwd", true);
}

/* A later member cannot be a hardlink target either. */
static void hardlink_forward(struct builder *b, const struct scratch *s)
{
	(void)s;
	add(b, MS_ENTRY_HARDLINK, "files/instance/h", NULL, "files/instance/later", true);
	add_file(b, "files/instance/later", "x\n");
}

/* Nor a directory of the component. */
static void hardlink_dir(struct builder *b, const struct scratch *s)
{
	(void)s;
	add(b, MS_ENTRY_HARDLINK, "files/instance/h", NULL, "files/instance/instance", true);
}

/* Only a hardlink into the other component gets past the manifest decoder
 * (its target is an earlier file entry): restore's member check refuses
 * it. The others already fail verification: the manifest must name an
 * earlier file as a hardlink's target (member 7 is the first hostile one). */
static void test_hardlink_out(void **state)
{
	static const struct {
		void (*add)(struct builder *, const struct scratch *);
		const char *link; /* NULL: refused by the member check */
	} kinds[] = {
		{ hardlink_postfix, NULL },
		{ hardlink_nonmember, "etc/passwd" },
		{ hardlink_absolute, "/etc/passwd" },
		{ hardlink_forward, "files/instance/later" },
		{ hardlink_dir, "files/instance/instance" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct scratch s;
		char *arch, *want;

		scratch_new(&s);
		arch = hostile_archive(&s, "hardlink.tar.zst", with_postfix, kinds[i].add);
		if (!kinds[i].link)
			want = ms_xstrdup("modosnap: error: refusing member 'files/instance/h': hardlink to something "
					  "other than an earlier file of its component\n");
		else
			want = ms_xasprintf("modosnap: error: '%s': invalid manifest: entries[7].link '%s' is not "
					    "an earlier file entry\n"
					    "modosnap: error: '%s': entry 'MANIFEST.json': damaged\n",
					    arch, kinds[i].link, arch);
		refuse_case(&s, arch, !kinds[i].link, want);
		free(want);
		free(arch);
		scratch_free(&s);
	}
}

/* The writer cannot store a device or a FIFO: GNU tar re-packs the good
 * archive's members (same order, same header and manifest) plus `node`. */
static void special_node(bool device)
{
	static const char *const order = "modosnap.json files/instance files/instance/instance "
		"files/instance/instance/settings.py files/instance/README files/instance/README.link "
		"files/instance/current files/instance/node MANIFEST.json";
	struct scratch s;
	struct builder b;
	char *good, *x, *node, *arch, *cmd, *want;

	scratch_new(&s);
	begin(&b, &s, "good.tar.zst", only_instance);
	good_tree(&b);
	good = end(&b);
	x = mkdir_in(s.t, "x");
	cmd = ms_xasprintf("tar --zstd -xf '%s' -C '%s'", good, x);
	assert_int_equal(sh(cmd), 0);
	free(cmd);
	node = ms_path_join(x, "files/instance/node");
	if (device) {
		cmd = ms_xasprintf("mknod '%s' c 1 3", node);
		assert_int_equal(sh(cmd), 0);
		free(cmd);
	} else {
		assert_int_equal(mkfifo(node, 0600), 0);
	}
	arch = ms_path_join(s.arch, "node.tar.zst");
	cmd = ms_xasprintf("tar --format=pax --zstd -cf '%s' -C '%s' --no-recursion %s", arch, x, order);
	assert_int_equal(sh(cmd), 0);
	free(cmd);
	want = ms_xasprintf("modosnap: error: '%s': entry 'files/instance/node': unsupported entry type\n"
			    "modosnap: error: '%s': the damage follows entry 'files/instance/current' (the manifest "
			    "could not be reached)\n", arch, arch);
	refuse_case(&s, arch, false, want);
	free(want);
	free(node);
	free(x);
	free(arch);
	free(good);
	scratch_free(&s);
}

static void test_device(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip(); /* mknod needs root; test_fifo covers the same path */
	special_node(true);
}

static void test_fifo(void **state)
{
	(void)state;
	special_node(false);
}

static void unlisted_middle(struct builder *b, const struct scratch *s)
{
	(void)s;
	add(b, MS_ENTRY_FILE, "files/instance/instance/evil.py", "import os\n", NULL, false);
	add_file(b, "files/instance/after", "x\n");
}

static void unlisted_last(struct builder *b, const struct scratch *s)
{
	(void)s;
	add(b, MS_ENTRY_FILE, "files/instance/evil", "x\n", NULL, false);
}

static void test_not_in_manifest(void **state)
{
	struct scratch s;
	char *arch, *want;

	(void)state;
	scratch_new(&s);
	arch = hostile_archive(&s, "unlisted.tar.zst", only_instance, unlisted_middle);
	want = ms_xasprintf("modosnap: error: '%s': entry 'files/instance/instance/evil.py': manifest expects "
			    "'files/instance/after' here\n", arch);
	refuse_case(&s, arch, false, want);
	free(want);
	free(arch);
	scratch_free(&s);

	scratch_new(&s);
	arch = hostile_archive(&s, "unlisted.tar.zst", only_instance, unlisted_last);
	want = ms_xasprintf("modosnap: error: '%s': entry 'files/instance/evil': not listed in the manifest\n", arch);
	refuse_case(&s, arch, false, want);
	free(want);
	free(arch);
	scratch_free(&s);
}

static void outside_etc(struct builder *b, const struct scratch *s)
{
	(void)s;
	add_file(b, "etc/cron.d/evil", "* * * * * root sh -c evil\n");
}

static void outside_files(struct builder *b, const struct scratch *s)
{
	(void)s;
	add_file(b, "files/other/evil", "x\n");
}

static void test_unknown_component(void **state)
{
	static void (*const kinds[])(struct builder *, const struct scratch *) = { outside_etc, outside_files };
	static const char *const members[] = { "etc/cron.d/evil", "files/other/evil" };

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct scratch s;
		char *arch, *want;

		scratch_new(&s);
		arch = hostile_archive(&s, "unknown.tar.zst", only_instance, kinds[i]);
		want = ms_xasprintf("modosnap: error: refusing member '%s': not a member modosnap writes\n",
				    members[i]);
		refuse_case(&s, arch, true, want);
		free(want);
		free(arch);
		scratch_free(&s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_archive_restores),
		cmocka_unit_test(test_dotdot),
		cmocka_unit_test(test_absolute),
		cmocka_unit_test(test_through_symlink),
		cmocka_unit_test(test_hardlink_out),
		cmocka_unit_test(test_device),
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_not_in_manifest),
		cmocka_unit_test(test_unknown_component),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
