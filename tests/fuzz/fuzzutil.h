/*
 * Helpers shared by the libFuzzer targets in this directory (one target per
 * fuzz_<name>.c file). Inputs that a module reads from a path are handed
 * over through an anonymous memory file (memfd), so no run touches the disk.
 */
#ifndef MS_FUZZUTIL_H
#define MS_FUZZUTIL_H

#include <stddef.h>
#include <stdint.h>

/* A NUL-terminated copy of data[0..size) (caller frees). */
char *fz_strndup(const uint8_t *data, size_t size);

/* Creates a memfd holding data[0..size) with the given mode, writes its
 * path ("/proc/self/fd/N") into path (at least 32 bytes) and returns the
 * fd (caller closes). Aborts on failure: the harness, not the target, is
 * broken then. */
int fz_memfd(const void *data, size_t size, unsigned mode, char path[32]);

/* Trap with a message on stderr: a property the harness checks is broken. */
#define FZ_ASSERT(cond)                                                        \
	do {                                                                   \
		if (!(cond))                                                   \
			fz_fail(__FILE__, __LINE__, #cond);                    \
	} while (0)
void fz_fail(const char *file, int line, const char *what) __attribute__((noreturn));

#endif
