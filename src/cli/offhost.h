/*
 * Off-host copies for the command line (docs/offhost.md): a [remote:NAME]
 * of the config as an rclone transport (remote/rclone.h), and pushing a
 * local snapshot there — encrypted to the [encrypt] recipients in the age
 * format when the remote says so — with the protocol of remote/push.h
 * (archive, read-back check, marker last).
 */
#ifndef MS_CLI_OFFHOST_H
#define MS_CLI_OFFHOST_H

#include <stdbool.h>

#include "discover/config.h"
#include "remote/rclone.h"

/* The transport of remote `name`: NULL after logging "no [remote:NAME]
 * section in the config ('FILE')". */
const struct ms_config_remote *ms_offhost_remote(const struct ms_config *cfg, const char *name);
void ms_offhost_rclone(const struct ms_config *cfg, const struct ms_config_remote *r, struct ms_rclone *rc);
/* An encrypted remote needs an [encrypt] recipient to push to it: 0, or
 * -1 after logging "'FILE':LINE: [remote:NAME] is encrypted ... names no
 * recipient ...". Reading (list, verify, fetch, restore) needs none. */
int ms_offhost_check_recipients(const struct ms_config *cfg, const struct ms_config_remote *r);
/* Whether a remote receives the copy of a new snapshot made by create
 * (pre_upgrade / nightly: the run's kind). */
bool ms_offhost_wants(const struct ms_config_remote *r, bool pre_upgrade, bool nightly);
/* Pushes the local archive `path` to remote r, encrypted when r says so
 * (NAME.tar.zst.age, written 0600 in a private directory beside the
 * archive and removed afterwards; an archive kept encrypted already,
 * NAME.age, is pushed as it is, and refused by a remote with encrypt =
 * no). An encrypted copy already complete on
 * the remote under that name is this snapshot (the ciphertext differs at
 * each encryption): nothing is pushed again. 0, or -1 after logging an
 * error naming the remote. */
int ms_offhost_push(const struct ms_config *cfg, const struct ms_config_remote *r, const char *path);
/* Verifies a local archive as `verify` does (integrity, then a signature
 * by a trusted key; an encrypted one, NAME.age, against its marker only):
 * MS_EXIT_OK, MS_EXIT_VERIFY or MS_EXIT_FAILURE, the problem logged. */
int ms_offhost_verify(const struct ms_config *cfg, const char *path);
/* Fetches SNAPSHOT (its name on remote r, a unique prefix of it, or
 * 'latest') into dir, checked against the SHA-256 its marker records. An
 * encrypted copy is decrypted with the age identity file `identity` (the
 * encrypted file then removed) and verified like any snapshot; without an
 * identity it stays encrypted, a warning says so and *code is
 * MS_EXIT_WARNINGS. Returns the local path (caller frees), or NULL with
 * *code the exit code (1 failure, 5 damaged, tampered, a wrong identity or
 * untrusted), after logging. A signal that ends the process while it
 * decrypts removes the plaintext; `temporary`: until ms_offhost_discard
 * (verify --remote), otherwise it is the fetch's product and stays. */
char *ms_offhost_fetch(const struct ms_config *cfg, const struct ms_config_remote *r, const char *sel,
		       const char *dir, const char *identity, bool temporary, int *code);

/* [encrypt] local = yes: the snapshot `path` of a destination encrypted
 * to the [encrypt] recipients (ms_dest_encrypt). Its new path, or NULL
 * after logging (the plaintext stays). */
char *ms_offhost_encrypt_local(const struct ms_config *cfg, const char *path);
/* Encrypts every plaintext snapshot of dest (create, with the lock held):
 * the run's new one (*path, replaced by its new path) and any left
 * unencrypted (an interrupted encryption, a restore's safety snapshot,
 * one taken before local = yes). A plaintext whose complete encrypted copy
 * exists is removed. 0, or -1 when one could not be encrypted (logged;
 * it stays as it was). */
int ms_offhost_encrypt_dest(const struct ms_config *cfg, const char *dest, char **path);
/* An encrypted snapshot of the destination against its marker (size and
 * SHA-256 of the ciphertext): MS_EXIT_OK, MS_EXIT_VERIFY (logged: damaged
 * or altered) or MS_EXIT_FAILURE (unreadable). */
int ms_offhost_check_marker(const char *path);
/* Decrypts the encrypted snapshot `path` with the identity file into a
 * private directory beside it (removed with its content if a signal ends
 * the process). The plaintext's path (release it with
 * ms_offhost_discard), or NULL with *code: MS_EXIT_USAGE without an
 * identity, MS_EXIT_VERIFY for a wrong identity or a damaged copy,
 * MS_EXIT_FAILURE otherwise; logged. */
char *ms_offhost_decrypt_local(const char *path, const char *identity, int *code);
void ms_offhost_discard(char *plain);

#endif
