/*
 * Off-host copies for the command line (see offhost.h).
 */
#include "cli/offhost.h"
#include "cli/cli.h"
#include "formats/sign.h"
#include "formats/verify.h"
#include "base/log.h"
#include "base/util.h"
#include "formats/age.h"
#include "remote/push.h"
#include "snapshot/dest.h"
#include "snapshot/snapshot.h"
#include "base/hash.h"
#include "formats/marker.h"

#include <stdbool.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const struct ms_config_remote *ms_offhost_remote(const struct ms_config *cfg, const char *name)
{
	const struct ms_config_remote *r = ms_config_remote(cfg, name);

	if (!r)
		ms_log_error("no [remote:%s] section in the config%s%s%s", name, cfg->path ? " ('" : "",
			     cfg->path ? cfg->path : "", cfg->path ? "')" : "");
	return r;
}

void ms_offhost_rclone(const struct ms_config *cfg, const struct ms_config_remote *r, struct ms_rclone *rc)
{
	memset(rc, 0, sizeof(*rc));
	rc->binary = cfg->rclone;
	rc->config = cfg->rclone_config;
	rc->name = r->name;
	rc->url = r->url;
}

bool ms_offhost_wants(const struct ms_config_remote *r, bool pre_upgrade, bool nightly)
{
	switch (r->push < 0 ? MS_PUSH_ALWAYS : (enum ms_push_when)r->push) {
	case MS_PUSH_ALWAYS:
		return true;
	case MS_PUSH_NIGHTLY:
		return nightly;
	case MS_PUSH_PRE_UPGRADE:
		return pre_upgrade;
	default:
		return false;
	}
}

/* The [encrypt] recipients, parsed (the config checked their shape). */
static int recipients(const struct ms_config *cfg, struct ms_age_key *keys, size_t *n)
{
	const char *why;

	*n = 0;
	for (size_t i = 0; i < cfg->recipients.n; i++) {
		if (*n == MS_AGE_RECIPIENT_MAX)
			return ms_log_error("[encrypt]: at most %d recipients", MS_AGE_RECIPIENT_MAX);
		if (ms_age_parse_recipient(cfg->recipients.v[i], &keys[*n], &why) < 0)
			return ms_log_error("[encrypt] recipient '%s': %s", cfg->recipients.v[i], why);
		(*n)++;
	}
	if (*n == 0)
		return ms_log_error("[encrypt] names no recipient");
	return 0;
}

/* Encrypts path into DIR/.modosnap-push.XXXXXX/NAME.age; the file's path
 * (caller removes it and its directory), or NULL after logging. */
static char *encrypt_copy(const struct ms_config *cfg, const char *path)
{
	struct ms_age_key keys[MS_AGE_RECIPIENT_MAX];
	char *dir = ms_path_dirname(path), *tmp = ms_xasprintf("%s/.modosnap-push.XXXXXX", dir), *out = NULL;
	size_t n;

	free(dir);
	if (recipients(cfg, keys, &n) < 0)
		goto fail;
	if (!mkdtemp(tmp)) {
		ms_log_error("unable to create a directory beside '%s': %s", path, strerror(errno));
		goto fail;
	}
	out = ms_xasprintf("%s/%s.age", tmp, ms_path_basename(path));
	if (ms_age_encrypt_file(path, out, keys, n) == 0) {
		free(tmp);
		return out;
	}
	rmdir(tmp);
fail:
	free(out);
	free(tmp);
	return NULL;
}

/* Whether the remote holds a complete NAME.age for the archive at path
 * (the encrypted snapshot NAME.age itself): 1 yes, 0 no, -1 after logging
 * (the remote could not be listed). */
static int complete_on(const struct ms_rclone *rc, const char *path)
{
	struct ms_remote_file *files = NULL;
	char *name = ms_xasprintf("%s%s", ms_path_basename(path), ms_dest_is_encrypted(path) ? "" : ".age");
	size_t n = 0;
	int ret = 0;

	if (ms_remote_list(rc, &files, &n) < 0)
		ret = -1;
	for (size_t i = 0; i < n && ret == 0; i++)
		if (!strcmp(files[i].name, name)) {
			ms_log_debug("remote '%s' holds a complete '%s' already: not pushed again", rc->name, name);
			ret = 1;
		}
	ms_remote_files_free(files, n);
	free(name);
	return ret;
}

/* Pushes `file` (the archive at `path`, or its encrypted copy) with the
 * archive's id, time and tags in the marker: what prune --remote decides
 * on, even for a copy it cannot decrypt. */
static int push_with_meta(const struct ms_rclone *rc, const char *path, const char *file)
{
	struct ms_header h;
	struct ms_marker meta = { 0 };
	bool have = ms_dest_read_header(path, &h) == 0;
	int ret;

	if (have) {
		meta.snapshot_id = h.snapshot_id;
		meta.created = h.created;
		meta.tags = h.tags;
	}
	ret = ms_remote_push_meta(rc, file, have ? &meta : NULL);
	if (have)
		ms_header_clear(&h);
	return ret;
}

int ms_offhost_check_recipients(const struct ms_config *cfg, const struct ms_config_remote *r)
{
	if (r->encrypt == 0 || cfg->recipients.n > 0)
		return 0;
	return ms_log_error("%s%s%s:%d: [remote:%s] is encrypted (encrypt = yes, the default) but [encrypt] names no "
			    "recipient: add recipient = age1... (a public key), or set encrypt = no",
			    cfg->path ? "'" : "", cfg->path ? cfg->path : "the config", cfg->path ? "'" : "", r->line,
			    r->name);
}

int ms_offhost_push(const struct ms_config *cfg, const struct ms_config_remote *r, const char *path)
{
	struct ms_rclone rc;
	char *copy = NULL;
	int ret;

	if (ms_offhost_check_recipients(cfg, r) < 0)
		return ms_log_error("remote '%s': nothing pushed", r->name);

	ms_offhost_rclone(cfg, r, &rc);
	if (ms_dest_is_encrypted(path) && r->encrypt == 0)
		return ms_log_error("remote '%s' takes plain copies (encrypt = no) but '%s' is kept encrypted "
				    "([encrypt] local = yes), and this machine holds no identity to decrypt it: set "
				    "encrypt = yes for that remote", r->name, path);
	if (r->encrypt != 0) {
		/* age encryption is randomised: a second push would make another
		 * ciphertext; a complete copy under this name is this snapshot */
		int there = complete_on(&rc, path);

		if (there < 0)
			return ms_log_error("remote '%s': the push of '%s' failed; the local snapshot is kept", r->name,
					    path);
		if (there > 0)
			return 0;
		copy = ms_dest_is_encrypted(path) ? NULL : encrypt_copy(cfg, path);
		if (!copy && !ms_dest_is_encrypted(path))
			return ms_log_error("remote '%s': nothing pushed", r->name);
	}
	ret = push_with_meta(&rc, path, copy ? copy : path);
	if (copy) {
		char *dir = ms_path_dirname(copy);

		unlink(copy);
		rmdir(dir);
		free(dir);
	}
	if (ret < 0)
		ms_log_error("remote '%s': the push of '%s' failed; the local snapshot is kept", r->name, path);
	free(copy);
	return ret < 0 ? -1 : 0;
}

int ms_offhost_verify(const struct ms_config *cfg, const char *path)
{
	struct ms_verify_result vr;
	enum ms_verify_status st;
	int ret = MS_EXIT_OK;

	if (ms_dest_is_encrypted(path)) /* what can be checked without the key */
		return ms_offhost_check_marker(path);
	st = ms_verify_archive(path, &vr);
	if (st != MS_VERIFY_OK)
		ret = st == MS_VERIFY_BAD ? MS_EXIT_VERIFY : MS_EXIT_FAILURE;
	else if (ms_sign_check_trust(&vr, ms_config_signing_key(cfg), ms_config_trusted_keys(cfg), false, path) < 0)
		ret = MS_EXIT_VERIFY;
	ms_verify_result_clear(&vr);
	return ret;
}

/* --- fetching ------------------------------------------------------------ */

/* The remote file SNAPSHOT names (caller frees), or NULL after logging. */
static char *pick(const struct ms_remote_file *f, size_t n, const char *sel, const char *remote)
{
	const char *found = NULL;
	size_t matches = 0;

	if (!strcmp(sel, "latest")) {
		if (n)
			return ms_xstrdup(f[n - 1].name); /* names sort by time */
		ms_log_error("remote '%s' holds no complete snapshot", remote);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(f[i].name, sel))
			return ms_xstrdup(f[i].name);
		if (!strncmp(f[i].name, sel, strlen(sel))) {
			found = f[i].name;
			matches++;
		}
	}
	if (matches == 1)
		return ms_xstrdup(found);
	if (matches)
		ms_log_error("'%s' names %zu snapshots of remote '%s': give more of the name", sel, matches, remote);
	else
		ms_log_error("no complete snapshot named '%s' on remote '%s'", sel, remote);
	return NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

/* NAME.age in dir decrypted to NAME, the encrypted copy removed; a
 * signal that ends the process meanwhile removes the plaintext (and, for
 * a temporary one, until ms_offhost_discard). The plaintext's path
 * (caller frees), or NULL after logging. */
static char *decrypt(const char *enc, const char *identity, bool temporary)
{
	struct ms_age_identity *id = ms_age_identity_load(identity);
	char *plain = ms_xstrndup(enc, strlen(enc) - 4);
	int rc;

	if (!id) {
		free(plain);
		return NULL;
	}
	ms_snapshot_remove_on_signal(plain);
	rc = ms_age_decrypt_file(enc, plain, id);
	ms_age_identity_free(id);
	if (rc < 0 || !temporary)
		ms_snapshot_remove_on_signal(NULL);
	if (rc < 0) {
		free(plain);
		return NULL;
	}
	unlink(enc);
	ms_test_stall("decrypted");
	return plain;
}

char *ms_offhost_fetch(const struct ms_config *cfg, const struct ms_config_remote *r, const char *sel,
		       const char *dir, const char *identity, bool temporary, int *code)
{
	struct ms_remote_file *files = NULL;
	struct ms_rclone rc;
	size_t n = 0;
	char *name = NULL, *path = NULL, *plain = NULL;

	*code = MS_EXIT_FAILURE;
	ms_offhost_rclone(cfg, r, &rc);
	if (ms_remote_list(&rc, &files, &n) < 0 || !(name = pick(files, n, sel, r->name)))
		goto out;
	if (ms_remote_fetch(&rc, name, dir) < 0)
		goto out;
	path = ms_path_join(dir, name);
	if (ends_with(name, ".age")) {
		if (!identity) {
			ms_log_warn("'%s' is encrypted: its SHA-256 matches what the remote recorded, but its content "
				    "is not verified; fetch it again with --identity FILE to decrypt and verify it", path);
			*code = MS_EXIT_WARNINGS;
			goto out;
		}
		plain = decrypt(path, identity, temporary);
		if (!plain) {
			*code = MS_EXIT_VERIFY; /* a wrong identity or a tampered copy */
			free(path);
			path = NULL;
			goto out;
		}
		free(path);
		path = plain;
	}
	*code = ms_offhost_verify(cfg, path);
	if (*code != MS_EXIT_OK) {
		if (plain && temporary)
			ms_snapshot_remove_on_signal(NULL);
		free(path);
		path = NULL;
	}
out:
	ms_remote_files_free(files, n);
	free(name);
	return path;
}

/* --- encrypted snapshots in the destination ([encrypt] local) ------------ */

char *ms_offhost_encrypt_local(const struct ms_config *cfg, const char *path)
{
	struct ms_age_key keys[MS_AGE_RECIPIENT_MAX];
	size_t n;

	if (recipients(cfg, keys, &n) < 0)
		return NULL;
	return ms_dest_encrypt(path, keys, n);
}

/* Whether enc (NAME.age) is there with its marker. */
static bool complete_copy(const char *enc)
{
	struct ms_marker m;
	bool ok;

	if (!ms_is_file(enc))
		return false;
	ms_log_mute(1);
	ok = ms_marker_read_file(enc, &m) == 0;
	ms_log_mute(0);
	if (ok)
		ms_marker_clear(&m);
	return ok;
}

int ms_offhost_encrypt_dest(const struct ms_config *cfg, const char *dest, char **path)
{
	struct ms_dest_item *items = NULL;
	size_t n = 0;
	int ret = 0;

	if (ms_dest_list(dest, &items, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char *enc, *rec;
		bool is_new = *path && !strcmp(items[i].path, *path);

		if (items[i].encrypted)
			continue;
		enc = ms_xasprintf("%s%s", items[i].path, MS_ENCRYPTED_SUFFIX);
		rec = ms_xasprintf("%s.verified", items[i].path);
		if (complete_copy(enc)) {
			/* an encryption that ended before the plaintext was removed */
			unlink(rec);
			if (unlink(items[i].path) < 0)
				ret = ms_log_error("unable to remove '%s': %s", items[i].path, strerror(errno));
			else
				ms_log_info("removed '%s': its encrypted copy '%s' is complete", items[i].path, enc);
			free(enc);
			free(rec);
			continue;
		}
		free(enc);
		free(rec);
		enc = ms_offhost_encrypt_local(cfg, items[i].path);
		if (!enc) {
			ret = ms_log_error("'%s' is kept unencrypted ([encrypt] local = yes)", items[i].path);
			continue;
		}
		if (is_new) {
			free(*path);
			*path = enc;
		} else {
			ms_log_info("encrypted '%s' ([encrypt] local = yes)", enc);
			free(enc);
		}
	}
	ms_dest_items_free(items, n);
	return ret;
}

int ms_offhost_check_marker(const char *path)
{
	struct ms_marker m;
	char hex[MS_HASH_HEX_MAX];
	struct stat st;
	int r = ms_marker_read_file(path, &m), ret = MS_EXIT_VERIFY;

	if (r < 0)
		return MS_EXIT_FAILURE;
	if (r > 0) {
		ms_log_error("'%s': its marker is damaged", path);
		return MS_EXIT_VERIFY;
	}
	if (stat(path, &st) < 0) {
		ms_log_error("unable to stat '%s': %s", path, strerror(errno));
		ret = MS_EXIT_FAILURE;
	} else if ((long long)st.st_size != m.size)
		ms_log_error("'%s' has %lld bytes, its marker says %lld: the encrypted snapshot is damaged or was "
			     "altered", path, (long long)st.st_size, m.size);
	else if (ms_hash_file_hex(MS_HASH_SHA256, path, hex) < 0)
		ret = MS_EXIT_FAILURE;
	else if (strcmp(hex, m.sha256) != 0)
		ms_log_error("'%s' does not have the SHA-256 its marker records: the encrypted snapshot is damaged or "
			     "was altered", path);
	else
		ret = MS_EXIT_OK;
	ms_marker_clear(&m);
	return ret;
}

char *ms_offhost_decrypt_local(const char *path, const char *identity, int *code)
{
	char *dir = ms_path_dirname(path), *tmp = ms_xasprintf("%s/.modosnap-decrypt.XXXXXX", dir);
	char *plain = NULL, *name = ms_xstrndup(ms_path_basename(path),
						 strlen(ms_path_basename(path)) - strlen(MS_ENCRYPTED_SUFFIX));
	struct ms_age_identity *id = NULL;

	*code = MS_EXIT_FAILURE;
	free(dir);
	if (!identity) {
		ms_log_error("'%s' is encrypted ([encrypt] local = yes): give --identity FILE", path);
		*code = MS_EXIT_USAGE;
		goto out;
	}
	id = ms_age_identity_load(identity);
	if (!id)
		goto out;
	if (!mkdtemp(tmp)) {
		ms_log_error("unable to create a directory beside '%s': %s", path, strerror(errno));
		goto out;
	}
	plain = ms_path_join(tmp, name);
	ms_snapshot_remove_on_signal(plain);
	if (ms_age_decrypt_file(path, plain, id) < 0) {
		*code = MS_EXIT_VERIFY; /* a wrong identity or a damaged copy */
		ms_offhost_discard(plain);
		plain = NULL;
		goto out;
	}
	ms_test_stall("decrypted");
	*code = MS_EXIT_OK;
out:
	ms_age_identity_free(id);
	free(name);
	free(tmp);
	return plain;
}

void ms_offhost_discard(char *plain)
{
	char *dir;

	if (!plain)
		return;
	dir = ms_path_dirname(plain);
	unlink(plain);
	rmdir(dir);
	ms_snapshot_remove_on_signal(NULL);
	free(dir);
	free(plain);
}
