/*
 * Growable, always NUL-terminated byte buffer. Allocation failure aborts
 * (there is no sensible recovery for a backup tool out of memory while
 * formatting a message). A zeroed struct is a valid empty buffer.
 */
#ifndef MS_STRBUF_H
#define MS_STRBUF_H

#include <stddef.h>

struct ms_strbuf {
	char *buf;    /* NUL-terminated once anything was added; may be NULL when empty */
	size_t len;   /* bytes used, excluding the NUL */
	size_t alloc; /* bytes allocated */
};

#define MS_STRBUF_INIT { NULL, 0, 0 }

void ms_strbuf_add(struct ms_strbuf *sb, const void *data, size_t len);
void ms_strbuf_addstr(struct ms_strbuf *sb, const char *s);
void ms_strbuf_addch(struct ms_strbuf *sb, char c);
void ms_strbuf_addf(struct ms_strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ms_strbuf_reset(struct ms_strbuf *sb);
/* Returns the contents as "" when empty, never NULL; still owned by sb. */
const char *ms_strbuf_str(const struct ms_strbuf *sb);
/* Hands the contents to the caller (free() it) and empties sb. Never NULL. */
char *ms_strbuf_detach(struct ms_strbuf *sb);
void ms_strbuf_release(struct ms_strbuf *sb);

#endif
