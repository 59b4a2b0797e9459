/*
 * libFuzzer target: the snapshot signature check (formats/sign.c): the
 * armored OpenSSH SSHSIG parser and Ed25519 verification, the public key
 * line parser and the trusted-keys file reader.
 * Input: a flag byte, a 2-byte little-endian length L, L bytes of armored
 * signature, then the signed message (the manifest's bytes).
 *   bit 0  also read the signature bytes as a public key line and as a
 *          trusted-keys file
 * Checked: the status is consistent with its problem text and fingerprint;
 * a VALID signature stops being valid when the message changes by one byte;
 * a key line that parses prints back as a line that parses to the same key.
 */
#include "fuzzutil.h"
#include "formats/sign.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void check_state(const struct ms_sig_state *st)
{
	char fp[MS_SIGN_FP_MAX];

	FZ_ASSERT(st->status >= MS_SIG_NONE && st->status <= MS_SIG_VALID);
	FZ_ASSERT((st->problem != NULL) == (st->status == MS_SIG_MALFORMED || st->status == MS_SIG_BAD));
	if (st->status == MS_SIG_VALID || st->status == MS_SIG_BAD) {
		ms_sign_fingerprint(st->pubkey, fp);
		FZ_ASSERT(strcmp(fp, st->fingerprint) == 0);
	} else if (st->fingerprint[0]) {
		/* MALFORMED after the key was read (e.g. a wrong namespace) keeps
		 * the key's fingerprint; sign.h says "" (docs/testing.md) */
		FZ_ASSERT(st->status == MS_SIG_MALFORMED);
		ms_sign_fingerprint(st->pubkey, fp);
		FZ_ASSERT(strcmp(fp, st->fingerprint) == 0);
	}
	FZ_ASSERT(memchr(st->fingerprint, '\0', sizeof(st->fingerprint)) != NULL);
}

static void check_key_line(const char *line)
{
	unsigned char pk[MS_SIGN_PK_LEN], pk2[MS_SIGN_PK_LEN];
	const char *why = NULL;
	char *again;

	if (ms_sign_parse_public_line(line, pk, &why) < 0) {
		FZ_ASSERT(why != NULL);
		return;
	}
	again = ms_sign_public_line(pk, "fuzz");
	FZ_ASSERT(ms_sign_parse_public_line(again, pk2, &why) == 0);
	FZ_ASSERT(memcmp(pk, pk2, sizeof(pk)) == 0);
	free(again);
}

static void check_keyring(const uint8_t *data, size_t size)
{
	char path[32];
	int fd = fz_memfd(data, size, 0600, path);
	struct ms_sign_keyring *kr = ms_sign_keyring_load(path);
	unsigned char zero[MS_SIGN_PK_LEN] = { 0 };

	if (kr)
		ms_sign_keyring_has(kr, zero);
	ms_sign_keyring_free(kr);
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ms_sig_state st;
	size_t sig_len, msg_len;
	uint8_t *sig, *msg;

	if (size < 3)
		return 0;
	sig_len = (size_t)(data[1] | data[2] << 8);
	if (sig_len > size - 3)
		sig_len = size - 3;
	msg_len = size - 3 - sig_len;
	/* Separate exact-size copies: an overread of either shows. */
	sig = malloc(sig_len ? sig_len : 1);
	msg = malloc(msg_len + 1);
	if (!sig || !msg)
		abort();
	memcpy(sig, data + 3, sig_len);
	memcpy(msg, data + 3 + sig_len, msg_len);

	memset(&st, 0xa5, sizeof(st));
	ms_sign_verify(sig, sig_len, MS_SIGN_NAMESPACE, msg, msg_len, &st);
	check_state(&st);
	if (st.status == MS_SIG_VALID) {
		struct ms_sig_state st2;

		msg[msg_len] = 'x'; /* one byte more: no longer what was signed */
		ms_sign_verify(sig, sig_len, MS_SIGN_NAMESPACE, msg, msg_len + 1, &st2);
		check_state(&st2);
		FZ_ASSERT(st2.status == MS_SIG_BAD);
		ms_sign_verify(sig, sig_len, "other", msg, msg_len, &st2);
		FZ_ASSERT(st2.status != MS_SIG_VALID);
	}
	if (data[0] & 1) {
		char *line = fz_strndup(sig, sig_len);

		check_key_line(line);
		free(line);
		check_keyring(sig, sig_len);
	}
	free(sig);
	free(msg);
	return 0;
}
