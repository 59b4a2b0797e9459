/*
 * Helpers shared by the libFuzzer targets (see fuzzutil.h).
 */
#include "fuzzutil.h"

#include <sanitizer/common_interface_defs.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

char *fz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

int fz_memfd(const void *data, size_t size, unsigned mode, char path[32])
{
	const char *p = data;
	int fd = memfd_create("fuzz-input", MFD_CLOEXEC);

	if (fd < 0 || fchmod(fd, mode) < 0) {
		perror("fuzz harness: memfd");
		abort();
	}
	while (size) {
		ssize_t n = write(fd, p, size);

		if (n <= 0) {
			perror("fuzz harness: write to memfd");
			abort();
		}
		p += n;
		size -= (size_t)n;
	}
	if (lseek(fd, 0, SEEK_SET) < 0)
		abort();
	snprintf(path, 32, "/proc/self/fd/%d", fd);
	return fd;
}

void fz_fail(const char *file, int line, const char *what)
{
	char msg[512];

	/* Through the sanitizer's report channel: libFuzzer keeps it open when
	 * -close_fd_mask=2 silences the target's own stderr. */
	snprintf(msg, sizeof(msg), "fuzz property broken at %s:%d: %s", file, line, what);
	__sanitizer_report_error_summary(msg);
	__builtin_trap();
}
