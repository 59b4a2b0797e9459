/*
 * Restore plans for file components (see plan.h).
 */
#include "restore/plan.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/hash.h"
#include "base/log.h"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Does the live object differ from the member? */
static bool changed(const struct ms_manifest_entry *me, const char *live, const struct stat *st)
{
	const struct ms_entry *e = &me->e;

	switch (e->type) {
	case MS_ENTRY_DIR:
		return !S_ISDIR(st->st_mode) || (st->st_mode & 07777) != (e->mode & 07777);
	case MS_ENTRY_SYMLINK: {
		char buf[4096];
		ssize_t n;

		if (!S_ISLNK(st->st_mode))
			return true;
		n = readlink(live, buf, sizeof(buf) - 1);
		if (n < 0)
			return true;
		buf[n] = '\0';
		return !e->link || strcmp(buf, e->link) != 0;
	}
	case MS_ENTRY_FILE:
	case MS_ENTRY_HARDLINK:
		break;
	}
	if (!S_ISREG(st->st_mode) || (st->st_mode & 07777) != (e->mode & 07777))
		return true;
	if (e->type == MS_ENTRY_HARDLINK)
		return false; /* content is its target's, compared there */
	if ((uint64_t)st->st_size != e->size || st->st_mtim.tv_sec != e->mtime_sec ||
	    st->st_mtim.tv_nsec != e->mtime_nsec)
		return true;
	{
		char hex[MS_HASH_HEX_MAX];

		ms_log_mute(1);
		if (ms_hash_file_hex(MS_HASH_SHA256, live, hex) < 0) {
			ms_log_mute(0);
			return true;
		}
		ms_log_mute(0);
		return strcmp(hex, me->sha256) != 0;
	}
}

/* Live entries under dir (relative path rel) absent from the sorted list. */
static int walk_removed(const char *dir, const char *rel, char **sorted, size_t n, struct ms_tree_plan *p)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int ret = 0;

	if (!d)
		return ms_log_error("unable to read '%s': %s", dir, strerror(errno));
	while (ret == 0 && (de = readdir(d))) {
		char *r, *path, *key;
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		r = *rel ? ms_path_join(rel, de->d_name) : ms_xstrdup(de->d_name);
		path = ms_path_join(dir, de->d_name);
		key = r;
		if (!bsearch(&key, sorted, n, sizeof(*sorted), cmp_str)) {
			p->removed++;
			ms_strv_push(&p->removed_v, r);
		} else if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			ret = walk_removed(path, r, sorted, n, p);
		}
		free(r);
		free(path);
	}
	closedir(d);
	return ret;
}

int ms_plan_tree(const struct ms_manifest *m, const char *prefix, const char *target, bool each_file,
		 struct ms_tree_plan *p)
{
	size_t plen = strlen(prefix), n = 0;
	char **sorted = ms_xcalloc(m->n_entries + 1, sizeof(char *));
	struct stat st, tst;
	int ret = 0;

	memset(p, 0, sizeof(*p));
	p->target_exists = lstat(target, &tst) == 0;
	for (size_t i = 0; i < m->n_entries; i++) {
		const struct ms_manifest_entry *me = &m->entries[i];
		const char *path = me->e.path;
		char *live;

		if (strncmp(path, prefix, plen) != 0 || (path[plen] != '\0' && path[plen] != '/'))
			continue;
		if (path[plen] == '\0') {
			if (!each_file && p->target_exists && changed(me, target, &tst))
				p->replaced++; /* the component's root directory itself */
			continue;
		}
		sorted[n++] = (char *)path + plen + 1;
		live = ms_path_join(target, path + plen + 1);
		if (lstat(live, &st) < 0) {
			p->added++;
			ms_strv_push(&p->added_v, path + plen + 1);
		} else if (changed(me, live, &st)) {
			p->replaced++;
			ms_strv_push(&p->replaced_v, path + plen + 1);
		} else {
			p->unchanged++;
		}
		free(live);
	}
	qsort(sorted, n, sizeof(*sorted), cmp_str);
	if (!each_file && p->target_exists && S_ISDIR(tst.st_mode))
		ret = walk_removed(target, "", sorted, n, p);
	free(sorted);
	return ret;
}

/* Adds b's counts and lists (paths prefixed with `at`) to a. */
static void merge(struct ms_tree_plan *a, const struct ms_tree_plan *b, const char *at)
{
	const struct ms_strv *from[] = { &b->added_v, &b->replaced_v, &b->removed_v };
	struct ms_strv *to[] = { &a->added_v, &a->replaced_v, &a->removed_v };

	a->added += b->added;
	a->replaced += b->replaced;
	a->removed += b->removed;
	a->unchanged += b->unchanged;
	for (size_t k = 0; k < 3; k++)
		for (size_t i = 0; i < from[k]->n; i++)
			ms_strv_push_owned(to[k], ms_path_join(at, from[k]->v[i]));
}

int ms_plan_roots(const struct ms_manifest *m, const struct ms_root_target *t, size_t n, struct ms_tree_plan *p)
{
	memset(p, 0, sizeof(*p));
	p->target_exists = true;
	for (size_t i = 0; i < n; i++) {
		const struct ms_manifest_entry *root = ms_manifest_find(m, t[i].member);
		struct ms_tree_plan one;
		struct stat st;

		if (!root)
			continue;
		if (lstat(t[i].target, &st) < 0) {
			p->added++;
			ms_strv_push(&p->added_v, t[i].target);
			continue;
		}
		if (root->e.type != MS_ENTRY_DIR) {
			if (changed(root, t[i].target, &st)) {
				p->replaced++;
				ms_strv_push(&p->replaced_v, t[i].target);
			} else {
				p->unchanged++;
			}
			continue;
		}
		if (ms_plan_tree(m, t[i].member, t[i].target, false, &one) < 0)
			return -1;
		merge(p, &one, t[i].target);
		ms_tree_plan_clear(&one);
	}
	return 0;
}

void ms_tree_plan_clear(struct ms_tree_plan *p)
{
	ms_strv_clear(&p->added_v);
	ms_strv_clear(&p->replaced_v);
	ms_strv_clear(&p->removed_v);
	memset(p, 0, sizeof(*p));
}
