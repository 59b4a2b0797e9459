/*
 * Archive member metadata (see entry.h): ownership helpers for struct
 * ms_entry and the stable type names the manifest stores.
 */
#include "formats/entry.h"
#include "base/util.h"

#include <stdlib.h>
#include <string.h>

static const char *const type_names[] = {
	[MS_ENTRY_FILE] = "file",
	[MS_ENTRY_DIR] = "dir",
	[MS_ENTRY_SYMLINK] = "symlink",
	[MS_ENTRY_HARDLINK] = "hardlink",
};

#define N_TYPES (sizeof(type_names) / sizeof(type_names[0]))

void ms_entry_clear(struct ms_entry *e)
{
	free(e->path);
	free(e->uname);
	free(e->gname);
	free(e->link);
	for (size_t i = 0; i < e->n_xattrs; i++) {
		free(e->xattrs[i].name);
		free(e->xattrs[i].value);
	}
	free(e->xattrs);
	memset(e, 0, sizeof(*e));
}

static char *dup_or_null(const char *s)
{
	return s ? ms_xstrdup(s) : NULL;
}

/* Values are copied with one spare NUL byte so that text attributes can be
 * used as strings; size excludes it. */
static void copy_xattrs(struct ms_entry *dst, const struct ms_entry *src)
{
	dst->xattrs = NULL;
	dst->n_xattrs = src->n_xattrs;
	if (!src->n_xattrs)
		return;
	dst->xattrs = ms_xcalloc(src->n_xattrs, sizeof(*dst->xattrs));
	for (size_t i = 0; i < src->n_xattrs; i++) {
		const struct ms_xattr *x = &src->xattrs[i];

		dst->xattrs[i].name = ms_xstrdup(x->name);
		dst->xattrs[i].value = ms_xcalloc(1, x->size + 1);
		if (x->size)
			memcpy(dst->xattrs[i].value, x->value, x->size);
		dst->xattrs[i].size = x->size;
	}
}

/* dst is overwritten without being cleared first: pass a zeroed or
 * already-cleared struct. */
void ms_entry_copy(struct ms_entry *dst, const struct ms_entry *src)
{
	*dst = *src;
	dst->path = dup_or_null(src->path);
	dst->uname = dup_or_null(src->uname);
	dst->gname = dup_or_null(src->gname);
	dst->link = dup_or_null(src->link);
	copy_xattrs(dst, src);
}

const char *ms_entry_type_name(enum ms_entry_type t)
{
	if ((size_t)t >= N_TYPES)
		return "unknown";
	return type_names[t];
}

int ms_entry_type_parse(const char *name, enum ms_entry_type *out)
{
	for (size_t i = 0; i < N_TYPES; i++) {
		if (strcmp(name, type_names[i]) == 0) {
			*out = (enum ms_entry_type)i;
			return 0;
		}
	}
	return -1;
}

uint32_t ms_entry_safe_mode(enum ms_entry_type type, uint32_t mode)
{
	mode &= 07777;
	if (type == MS_ENTRY_SYMLINK)
		return mode; /* a link's own bits mean nothing */
	mode &= ~(uint32_t)0002; /* world-writable */
	mode &= ~(uint32_t)04000; /* setuid */
	if (type != MS_ENTRY_DIR)
		mode &= ~(uint32_t)02000; /* setgid: on a directory it only sets the group of new files */
	return mode;
}

int ms_entry_postfix_name_ok(const char *name)
{
	size_t len = strlen(name);

	if (!strcmp(name, "main.cf") || !strcmp(name, "master.cf") || !strcmp(name, "modoboa-postfix-maps.chk"))
		return 1;
	if (len < 4 || len > 255 || name[0] == '.' || strcmp(name + len - 3, ".cf") != 0)
		return 0;
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '.' ||
		      *c == '_' || *c == '-'))
			return 0;
	return 1;
}
