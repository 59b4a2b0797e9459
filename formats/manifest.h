/*
 * The two JSON documents of a snapshot (jansson, formats/FORMAT.md):
 * the header `modosnap.json` (first entry: what this snapshot is) and the
 * manifest `MANIFEST.json` (last entry: every other entry with its
 * metadata and SHA-256; what verify and restore trust).
 */
#ifndef MS_MANIFEST_H
#define MS_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "formats/entry.h"
#include "base/hash.h"
#include "base/util.h"

/* 3: the whole-server components (venv, dkim, system, mail: FORMAT.md §4.3)
 * and the header's paths, mail_layout and packages; 2: the optional
 * MANIFEST.json.sig member after the manifest (FORMAT.md §10). Versions 1
 * and 2 are still read. */
#define MS_FORMAT_VERSION 3
#define MS_HEADER_NAME "modosnap.json"
#define MS_MANIFEST_NAME "MANIFEST.json"

struct ms_kv {
	char *key;
	char *value; /* NULL = unknown / not installed (JSON null) */
};

/* Versions of one database at snapshot time. */
struct ms_db_versions {
	char *alias;
	char *engine;             /* "postgresql" | "mysql" */
	char *server_version;     /* NULL when not reachable */
	long long migrations_applied; /* -1: no django_migrations table / unknown */
	struct ms_kv *latest;     /* app -> latest migration name */
	size_t n_latest;
};

struct ms_versions {
	char *modoboa, *django, *python; /* NULL when unknown */
	struct ms_kv *extensions;        /* MODOBOA_APPS extension module -> version */
	size_t n_extensions;
	struct ms_db_versions *dbs;
	size_t n_dbs;
};

struct ms_header {
	int format_version;       /* MS_FORMAT_VERSION when written */
	char *snapshot_id;        /* "YYYYMMDDTHHMMSSZ-xxxxxxxx": sortable by time, unique */
	char *created;            /* "YYYY-MM-DDTHH:MM:SSZ" (UTC) */
	char *host;
	char *tool_version;
	char *instance;           /* instance directory path */
	char *postfix_dir;        /* Postfix directory the "postfix" component came from;
	                             NULL when not recorded (optional key) */
	struct ms_strv tags;
	char *note;               /* NULL when none */
	char *upgrade_to;         /* create --pre-upgrade --to VERSION: the version about to be
	                             installed; NULL when not given (optional key) */
	struct ms_strv components; /* "instance", "postfix", "db:ALIAS", "venv", "dkim",
	                              "system", "mail" */
	struct ms_versions versions;
	/* "paths" (optional keys, NULL when absent): where the tree components
	 * came from and the system root the system component is relative to */
	char *venv_dir, *mail_dir, *dkim_dir, *system_root;
	char *mail_layout;        /* the mailbox path below mail_dir, "%d/%n"; NULL = absent */
	struct ms_kv *packages;   /* every installed distribution: PEP 503 name -> version */
	size_t n_packages;
};

enum ms_mf_flags {
	MS_MF_CHANGED = 1, /* the file kept changing while read: content may be inconsistent */
};

struct ms_manifest_entry {
	struct ms_entry e;
	char sha256[MS_HASH_HEX_MAX]; /* of the content ("" digest for non-files) */
	uint32_t flags;               /* ms_mf_flags */
};

/* Something seen but deliberately not archived (sockets, FIFOs, devices). */
struct ms_skipped {
	char *path;   /* source path */
	char *reason; /* "socket", "fifo", "device" */
};

/* One table's data in a database dump (manifest "databases"). */
struct ms_manifest_table {
	char *schema;
	char *name;
	long long rows;
	char digest[MS_HASH_HEX_MAX]; /* multiset digest of the rows (FORMAT.md §7.4) */
	unsigned long chunks;         /* data members db/<alias>/data/<schema>.<name>/NNNNNN.* */
};

/* One database dumped into the snapshot. */
struct ms_manifest_db {
	char *alias;
	char *engine;          /* "postgresql" | "mysql" */
	char *server_version;
	char *encoding;        /* database encoding / default charset */
	char *collation;       /* mysql: the database's default collation; NULL otherwise */
	/* mysql: the other aliases read in the same transaction (one point in
	 * time with this one); empty when the dump had its own transaction */
	struct ms_strv shared_snapshot;
	struct ms_manifest_table *tables;
	size_t n_tables;
};

struct ms_manifest {
	int format_version;
	char *snapshot_id;             /* must equal the header's */
	struct ms_manifest_entry *entries; /* in archive order, header first, manifest itself excluded */
	size_t n_entries;
	struct ms_skipped *skipped;
	size_t n_skipped;
	struct ms_manifest_db *dbs;    /* "databases": absent (0) when no database was dumped */
	size_t n_dbs;
	size_t alloc_entries, alloc_skipped; /* capacity; grown by ms_manifest_add* (zeroed == empty) */
};

/* Fills id and created from `now` plus 4 random bytes. Caller frees both. */
void ms_header_new_id(long long now, char **id, char **created);

/* Encodes as pretty JSON text (caller frees), never NULL. */
char *ms_header_encode(const struct ms_header *h);
char *ms_manifest_encode(const struct ms_manifest *m);
/* Decodes JSON text; on error logs "'NAME': invalid header: WHAT" (or
 * manifest) and returns -1. *out is filled only on success. Unknown keys
 * are ignored (forward compatible); a format_version above
 * MS_FORMAT_VERSION is refused. */
int ms_header_decode(const char *name, const char *text, size_t len, struct ms_header *out);
int ms_manifest_decode(const char *name, const char *text, size_t len, struct ms_manifest *out);

/* Appends a copy of e with its digest and flags. */
void ms_manifest_add(struct ms_manifest *m, const struct ms_entry *e, const char *sha256, uint32_t flags);
void ms_manifest_add_skipped(struct ms_manifest *m, const char *path, const char *reason);
/* Appends an empty database record and returns it (owned by m). */
struct ms_manifest_db *ms_manifest_add_db(struct ms_manifest *m);
/* Appends a table record to db (strings copied). */
void ms_manifest_db_add_table(struct ms_manifest_db *db, const char *schema, const char *name, long long rows,
			      const char *digest, unsigned long chunks);
/* Looks an entry up by member path (linear scan is fine for
 * verify's sequential use: it keeps its own index); NULL when absent. */
const struct ms_manifest_entry *ms_manifest_find(const struct ms_manifest *m, const char *path);

void ms_header_clear(struct ms_header *h);
void ms_versions_clear(struct ms_versions *v);
void ms_manifest_clear(struct ms_manifest *m);

#endif
