/*
 * Reading a whole snapshot archive once and checking it against its own
 * manifest (FORMAT.md "What a verifier checks"): zstd frame checksums,
 * every member's metadata, size and SHA-256, no member missing, extra or
 * duplicated, header first and manifest last, header and manifest naming
 * the same snapshot. Used by `verify`, `show` and, before any write, by
 * restore.
 */
#ifndef MS_VERIFY_H
#define MS_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "formats/snaparchive.h"
#include "formats/manifest.h"
#include "formats/sign.h"

enum ms_verify_status {
	MS_VERIFY_OK = 0,
	MS_VERIFY_ERROR = -1, /* could not read at all (open/permission): not a verdict */
	MS_VERIFY_BAD = -2,   /* the archive is corrupt, truncated, or disagrees with its manifest */
};

/* A member ms_verify_archive_keeping kept in memory as it read it: its
 * bytes (data, len), or data NULL when it did not fit in the budget. Its
 * content is proven only when the whole verification returned OK. */
struct ms_kept_member {
	char *path;
	char *data;
	size_t len;
};

/* Which members to keep (want(path, ctx) true), within `budget` bytes in
 * all: memory stays bounded whatever the archive says. */
struct ms_verify_keep {
	bool (*want)(const char *path, void *ctx);
	void *ctx;
	size_t budget;
};

struct ms_verify_result {
	struct ms_header header;     /* valid when header_ok */
	bool header_ok;
	struct ms_manifest manifest; /* valid when manifest_ok */
	bool manifest_ok;
	struct ms_sig_state signature; /* MANIFEST.json.sig, checked against the manifest's
	                                  bytes (MS_SIG_NONE when absent); the trust decision
	                                  is ms_sign_check_trust's */
	uint64_t entries;            /* members read, manifest and signature included */
	uint64_t data_bytes;         /* member data bytes hashed */
	struct ms_archive_stats stats;
	struct ms_kept_member *kept; /* ms_verify_archive_keeping's, in archive order */
	size_t n_kept;
};

/* Verifies the archive at `path`; the first problem found is logged,
 * naming the member ("'ARCHIVE': entry 'PATH': ..."), or "truncated
 * archive". Fill-in of *res happens as far as reading got; clear it with
 * ms_verify_result_clear in every case. The optional signature member
 * after the manifest is checked cryptographically into res->signature; a
 * malformed or bad signature does not make the archive BAD here (callers
 * decide with ms_sign_check_trust), but a signature member that is not a
 * small regular file, or any member after it, does. */
enum ms_verify_status ms_verify_archive(const char *path, struct ms_verify_result *res);
/* The same, also keeping the members `keep` wants in res->kept (one read
 * of the archive where a caller would otherwise read it again). */
enum ms_verify_status ms_verify_archive_keeping(const char *path, struct ms_verify_result *res,
						const struct ms_verify_keep *keep);

/* Reads only the first member and decodes the header (for `list`): 0, or
 * -1 after logging. */
int ms_read_header(const char *path, struct ms_header *h);

/* Reads the archive without hashing members, only far enough to check the
 * signature of its manifest (for `list`): 0 and *st filled, or -1 after
 * logging. The members themselves are not checked against the manifest. */
int ms_read_signature(const char *path, struct ms_sig_state *st);

void ms_verify_result_clear(struct ms_verify_result *res);

#endif
