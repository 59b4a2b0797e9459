/*
 * Text that may not be UTF-8, and base64: the one implementation of each,
 * for the settings.py reader, the manifest, signatures and the command
 * line's JSON output.
 *
 * The project's rule for bytes that are not UTF-8 in JSON (docs/dev/
 * architecture.md, "Text that is not UTF-8"): a value read from the
 * installation or an archive (a path, a name, a setting) is written as a
 * JSON string when it is valid UTF-8 and as {"base64": "..."} otherwise, so
 * that no byte is lost; a key, or free text, is repaired with U+FFFD.
 */
#ifndef MS_BASE_TEXT_H
#define MS_BASE_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/strbuf.h"

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF; n bytes available), or 0. */
size_t ms_utf8_seq(const unsigned char *s, size_t n);
/* Whether the n bytes at s are well-formed UTF-8. */
bool ms_utf8_valid(const char *s, size_t n);
/* s with each byte that does not start a well-formed sequence replaced by
 * U+FFFD; caller frees. */
char *ms_utf8_lossy(const char *s);
/* Appends code point cp (at most U+10FFFF, not a surrogate) as UTF-8. */
void ms_utf8_add(struct ms_strbuf *sb, unsigned long cp);

/* Appends RFC 4648 base64 (standard alphabet) of data, with '=' padding
 * unless pad is false. */
void ms_b64_add(struct ms_strbuf *sb, const void *data, size_t len, bool pad);
/* Padded base64 of data as a new string; caller frees. */
char *ms_b64_encode(const void *data, size_t len);
/* The value (0..63) of a base64 alphabet character, -1 for any other
 * ('=' and NUL included). */
int ms_b64_value(char c);
/* Strict decoding of n characters: a multiple of 4, '=' only as final
 * padding, unused bits zero, no whitespace ("" decodes to nothing). *out
 * (NUL-terminated for convenience, caller frees) and *out_len are set only
 * on success; -1 otherwise. */
int ms_b64_decode(const char *s, size_t n, unsigned char **out, size_t *out_len);

#endif
