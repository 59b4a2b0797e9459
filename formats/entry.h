/*
 * One archive member as the rest of modosnap sees it: the metadata that
 * the tar layer stores and the manifest records. Shared by the writer, the
 * reader, the manifest and file capture; no library types leak out.
 */
#ifndef MS_ENTRY_H
#define MS_ENTRY_H

#include <stddef.h>
#include <stdint.h>

enum ms_entry_type {
	MS_ENTRY_FILE,     /* regular file: `size` bytes of data follow */
	MS_ENTRY_DIR,
	MS_ENTRY_SYMLINK,  /* `link` is the target, stored verbatim */
	MS_ENTRY_HARDLINK, /* `link` is the member path of an earlier FILE entry */
};

struct ms_xattr {
	char *name;  /* e.g. "user.foo", "security.selinux" */
	void *value;
	size_t size;
};

struct ms_entry {
	char *path;               /* member path, relative ("files/instance/manage.py"); dirs without trailing '/' */
	enum ms_entry_type type;
	uint64_t size;            /* FILE: data length; 0 for the others */
	uint32_t mode;            /* permission bits, 07777 */
	uint32_t uid, gid;
	char *uname, *gname;      /* NULL when unknown */
	int64_t mtime_sec;
	int32_t mtime_nsec;
	char *link;               /* SYMLINK / HARDLINK target, else NULL */
	struct ms_xattr *xattrs;  /* n_xattrs extended attributes (POSIX ACLs travel as
	                             system.posix_acl_access / system.posix_acl_default) */
	size_t n_xattrs;
};

/* Longest member path a snapshot holds (FORMAT.md §4.3): with a restore
 * target of at most 240 bytes and its staging directory, every restored
 * path stays below PATH_MAX. create leaves longer paths out (warning). */
#define MS_MEMBER_PATH_MAX 3839

/* The permission bits restore gives a member: its recorded mode without
 * setuid, setgid (on non-directories) and the world-writable bit. Equal to
 * `mode & 07777` for every member create writes from a sane tree. */
uint32_t ms_entry_safe_mode(enum ms_entry_type type, uint32_t mode);

/* Whether `name` (a base name) is one the Postfix component holds:
 * main.cf, master.cf, modoboa-postfix-maps.chk, or a map `*.cf` as
 * generate_postfix_maps writes them ([A-Za-z0-9._-], not starting with
 * '.'). Anything else is neither captured nor restored. */
int ms_entry_postfix_name_ok(const char *name);

/* Frees what hangs off e (not e itself) and zeroes it. */
void ms_entry_clear(struct ms_entry *e);
/* Deep copy of src into *dst. */
void ms_entry_copy(struct ms_entry *dst, const struct ms_entry *src);
const char *ms_entry_type_name(enum ms_entry_type t); /* "file", "dir", "symlink", "hardlink" */
/* Parses a type name; -1 when unknown. */
int ms_entry_type_parse(const char *name, enum ms_entry_type *out);

#endif
