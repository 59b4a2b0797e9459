/*
 * Snapshot signatures (FORMAT.md §10): an Ed25519 signature of the exact
 * bytes of MANIFEST.json, in OpenSSH's SSHSIG format (PROTOCOL.sshsig,
 * namespace "modosnap", hash sha512), armored, stored as the member
 * MANIFEST.json.sig. `ssh-keygen -Y verify` checks it without modosnap.
 * Keys: a PEM PKCS#8 Ed25519 private key file (0600) with its public half
 * beside it as one OpenSSH line (PATH.pub), and a trusted-keys file of
 * OpenSSH public key lines. The only module besides hash.c that uses
 * libcrypto. Key material is never logged.
 */
#ifndef MS_SIGN_H
#define MS_SIGN_H

#include <stdbool.h>
#include <stddef.h>

#define MS_SIGNATURE_NAME "MANIFEST.json.sig"
#define MS_SIGN_NAMESPACE "modosnap"
#define MS_DEFAULT_SIGNING_KEY "/etc/modosnap/signing.key"
#define MS_DEFAULT_TRUSTED_KEYS "/etc/modosnap/trusted_keys"
/* The largest signature member a reader accepts (ours are 315 bytes). */
#define MS_SIGNATURE_MAX 4096
#define MS_SIGN_PK_LEN 32
/* "SHA256:" + 43 base64 characters + NUL */
#define MS_SIGN_FP_MAX 51

struct ms_verify_result;

/* --- keys ------------------------------------------------------------------ */

struct ms_sign_key; /* opaque: an Ed25519 private key */

/* Loads the private key at `path` (absolute). When neither it nor
 * PATH.pub exists, creates it first: the parent directory (0700) if
 * missing, the key (O_CREAT|O_EXCL|O_NOFOLLOW, 0600) and PATH.pub (0644,
 * "ssh-ed25519 AAAA... modosnap@HOST"). A key file that group or other
 * users may access, a PATH.pub that does not match it, or a PATH.pub
 * without the key is refused. NULL after logging an error naming the file. */
struct ms_sign_key *ms_sign_key_load_or_create(const char *path);
/* Loads an existing key only (same checks, never creates anything). */
struct ms_sign_key *ms_sign_key_load(const char *path);
/* NULL is a no-op. */
void ms_sign_key_free(struct ms_sign_key *k);
/* The key's public half. */
void ms_sign_key_public(const struct ms_sign_key *k, unsigned char pk[MS_SIGN_PK_LEN]);

/* --- signatures -------------------------------------------------------------- */

/* Signs msg for namespace ns: returns the armored SSHSIG text (owned by
 * the caller, NUL-terminated, *len its length), or NULL after logging. */
char *ms_sign_message(const struct ms_sign_key *k, const char *ns, const void *msg, size_t msg_len,
		      size_t *len);

enum ms_sig_status {
	MS_SIG_NONE = 0,  /* no signature member: unsigned */
	MS_SIG_MALFORMED, /* not a well-formed modosnap SSHSIG */
	MS_SIG_BAD,       /* well-formed, but does not verify against the manifest */
	MS_SIG_VALID,     /* the manifest was signed by `pubkey` */
};

struct ms_sig_state {
	enum ms_sig_status status;
	const char *problem;                  /* static text for MALFORMED and BAD, else NULL */
	unsigned char pubkey[MS_SIGN_PK_LEN]; /* the signer's key: set for VALID and BAD */
	char fingerprint[MS_SIGN_FP_MAX];     /* its "SHA256:..." for VALID and BAD, else "" */
};

/* Checks the armored signature sig (sig_len bytes, untrusted) over msg
 * for namespace ns; fills *st (never logs). */
void ms_sign_verify(const void *sig, size_t sig_len, const char *ns, const void *msg, size_t msg_len,
		    struct ms_sig_state *st);

/* --- public keys ------------------------------------------------------------- */

/* OpenSSH's fingerprint of an Ed25519 key: "SHA256:" + unpadded base64. */
void ms_sign_fingerprint(const unsigned char pk[MS_SIGN_PK_LEN], char fp[MS_SIGN_FP_MAX]);
/* "ssh-ed25519 AAAA...[ COMMENT]" (no newline); owned by the caller. */
char *ms_sign_public_line(const unsigned char pk[MS_SIGN_PK_LEN], const char *comment);
/* Parses one OpenSSH public key line "ssh-ed25519 BASE64 [comment]":
 * 0 and pk set, or -1 with *why a static reason. */
int ms_sign_parse_public_line(const char *line, unsigned char pk[MS_SIGN_PK_LEN], const char **why);

struct ms_sign_keyring; /* opaque: a set of trusted public keys */

/* Reads a trusted-keys file: one public key line per line, blank lines
 * and '#' comments allowed, only ssh-ed25519. A missing file gives an
 * empty keyring. NULL after logging "'FILE':LINE: ..." or an I/O error.
 * A file that group or other users may write is refused. */
struct ms_sign_keyring *ms_sign_keyring_load(const char *path);
bool ms_sign_keyring_has(const struct ms_sign_keyring *kr, const unsigned char pk[MS_SIGN_PK_LEN]);
/* NULL is a no-op. */
void ms_sign_keyring_free(struct ms_sign_keyring *kr);

/* The public half of the signing key at `signing_key_path`, which is
 * trusted implicitly: read from PATH.pub, else derived from the private
 * key when it can be read. 1 and pk set, 0 when there is neither file,
 * -1 after logging (a malformed PATH.pub, an unreadable key). */
int ms_sign_own_public(const char *signing_key_path, unsigned char pk[MS_SIGN_PK_LEN]);

/* The trust decision on a verified archive (vr from ms_verify_archive,
 * which returned MS_VERIFY_OK): 0 when the signature is valid and its key
 * is trusted (the signing key's own public half, or a key of
 * trusted_keys_path); 0 after a warning when the archive is unsigned or
 * signed by an untrusted key and allow_unsigned is true; -1 after one
 * error line otherwise — a malformed or bad signature is refused even
 * with allow_unsigned:
 *   'ARCHIVE': snapshot is not signed (use --allow-unsigned to accept it)
 *   'ARCHIVE': signature by key SHA256:..., which is not trusted (add it
 *     to 'TRUSTED_KEYS' or use --allow-unsigned)
 *   'ARCHIVE': bad signature (REASON)
 * Callers map -1 to exit code 5. All paths are borrowed. */
int ms_sign_check_trust(const struct ms_verify_result *vr, const char *signing_key_path,
			const char *trusted_keys_path, bool allow_unsigned, const char *archive_name);

#endif
