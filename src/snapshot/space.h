/*
 * Will the next snapshot fit? Before `create` writes anything it estimates
 * the archive's size (bytes to capture times the compression ratio learned
 * from the newest snapshot already in the destination) and refuses when the
 * destination's filesystem would fall below a free-space floor (`min_free`;
 * by default 1 GiB or 5% of the filesystem, whichever is smaller). The
 * estimate is deliberately rough and errs on the large side.
 */
#ifndef MS_SPACE_H
#define MS_SPACE_H

#define MS_SPACE_DEFAULT_RATIO 0.5             /* when no snapshot can be learned from */
#define MS_SPACE_OVERHEAD (1024LL * 1024)      /* header, manifest, tar end marker */
#define MS_SPACE_FLOOR_MAX (1024LL * 1024 * 1024) /* default floor: 1 GiB ... */
#define MS_SPACE_FLOOR_PERCENT 5               /* ... or 5% of the filesystem if smaller */
#define MS_SPACE_FMT_MAX 32

/* Test seam: when this environment variable holds a decimal byte count it
 * replaces the free space statvfs reports for the destination (the
 * filesystem's size still comes from statvfs). For tests only. */
#define MS_SPACE_TEST_FREE_ENV "MODOSNAP_TEST_FREE_BYTES"

/* Sum of the sizes of the regular files under `dir` (borrowed), which is
 * itself not followed when it is a symlink; symlinks inside are never
 * followed and count nothing, a file with several hard links counts once,
 * entries that cannot be read are skipped (logged at debug level). Returns
 * the byte count, or -1 after logging when `dir` itself cannot be read. */
long long ms_space_tree_bytes(const char *dir);
/* The same, leaving out what create's exclude patterns leave out (a
 * pattern without '/' matches any base name, one with '/' the path
 * relative to dir); excludes may be NULL. */
struct ms_strv;
long long ms_space_tree_bytes_excluding(const char *dir, const struct ms_strv *excludes);

/* create remembers each snapshot's content and archive bytes in
 * dest/.modosnap.ratio, so that the next estimate need not read an
 * archive; 0 or -1 after logging. */
#define MS_SPACE_STATS_NAME ".modosnap.ratio"
int ms_space_remember(const char *dest, unsigned long long content_bytes, unsigned long long archive_bytes);

/* The compression ratio create remembered (ms_space_remember), else the
 * one learned from the newest readable snapshot in
 * `dest` (borrowed): archive file size / sum of its members' sizes. The
 * member sizes come from walking the archive's tar headers without reading
 * or hashing the data (the same sizes the manifest lists, but without the
 * SHA-256 work of a verify; the zstd stream is still decompressed once).
 * An unreadable archive is skipped silently (debug level) in favour of the
 * next older one, at most 3 are tried. Returns MS_SPACE_DEFAULT_RATIO when
 * dest holds no usable snapshot (none, unreadable, or less than 64 KiB of
 * members). Never fails; logging is muted while archives are read (and
 * unmuted afterwards). */
double ms_space_ratio(const char *dest);

/* (file_bytes + db_bytes) * ratio rounded up, plus MS_SPACE_OVERHEAD.
 * Negative byte counts count as 0 (unknown); a ratio that is not > 0
 * becomes MS_SPACE_DEFAULT_RATIO. Saturates at LLONG_MAX. */
long long ms_space_estimate(long long file_bytes, long long db_bytes, double ratio);

/* The floor ms_space_check uses when none is configured, for a filesystem
 * of `fs_bytes`: min(MS_SPACE_FLOOR_MAX, MS_SPACE_FLOOR_PERCENT% of it). */
long long ms_space_default_floor(long long fs_bytes);

/* Checks that writing `estimate` bytes to the filesystem of `dest`
 * (borrowed, must exist) leaves at least `floor` bytes free (blocks
 * available to unprivileged users, per statvfs; or $MODOSNAP_TEST_FREE_BYTES).
 * floor < 0 means ms_space_default_floor. Returns 0 when it fits, else -1
 * after logging exactly:
 *   not enough space in 'DEST': the snapshot needs about N and M must stay
 *   free (min_free), but only F is free
 * (one line; N, M, F as formatted by ms_space_fmt), or an error naming dest
 * when statvfs fails or the test variable is not a number. */
int ms_space_check(const char *dest, long long estimate, long long floor);

/* Formats a byte count with one decimal for messages: "0.5 MiB" / "1.5 MiB"
 * below 1 GiB, "2.0 GiB" below 1 TiB, then TiB; negative counts as 0.
 * Writes into buf and returns it. */
const char *ms_space_fmt(long long bytes, char buf[MS_SPACE_FMT_MAX]);

#endif
