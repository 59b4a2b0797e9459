/*
 * Checked allocation, file and path helpers (see util.h).
 */
#include "base/util.h"
#include "base/log.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void oom(void)
{
	fputs("modosnap: error: out of memory\n", stderr);
	abort();
}

void *ms_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		oom();
	return p;
}

void *ms_xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (!p)
		oom();
	return p;
}

void *ms_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		oom();
	return q;
}

char *ms_xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		oom();
	return p;
}

char *ms_xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (!p)
		oom();
	return p;
}

char *ms_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	return s;
}

char *ms_read_file(const char *path, size_t max_size, size_t *len_out)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ms_log_error("unable to open '%s': %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		ms_log_error("unable to stat '%s': %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		ms_log_error("'%s' is not a regular file", path);
		goto fail;
	}
	if ((unsigned long long)st.st_size > max_size) {
		ms_log_error("'%s' is too large (%lld bytes, limit %zu)", path,
			     (long long)st.st_size, max_size);
		goto fail;
	}
	buf = ms_xmalloc((size_t)st.st_size + 1);
	for (;;) {
		ssize_t n;

		if (len == (size_t)st.st_size) {
			/* The file may have grown; one more byte tells. */
			char extra;

			n = read(fd, &extra, 1);
			if (n == 0)
				break;
			if (n < 0 && errno == EINTR)
				continue;
			if (n > 0)
				ms_log_error("'%s' changed while being read", path);
			else
				ms_log_error("unable to read '%s': %s", path, strerror(errno));
			goto fail;
		}
		n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ms_log_error("unable to read '%s': %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break; /* shrank: return what is there */
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (len_out)
		*len_out = len;
	return buf;
fail:
	free(buf);
	close(fd);
	return NULL;
}

char *ms_path_join(const char *a, const char *b)
{
	size_t la = strlen(a);

	while (la > 1 && a[la - 1] == '/')
		la--;
	while (*b == '/')
		b++;
	if (la == 1 && a[0] == '/')
		return ms_xasprintf("/%s", b);
	return ms_xasprintf("%.*s/%s", (int)la, a, b);
}

char *ms_path_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return ms_xstrdup(".");
	while (slash > path && slash[-1] == '/')
		slash--;
	if (slash == path)
		return ms_xstrdup("/");
	return ms_xstrndup(path, (size_t)(slash - path));
}

const char *ms_path_basename(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

bool ms_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int ms_mkdir_p(const char *path)
{
	char *parent;
	int ret = 0;

	if (ms_is_dir(path))
		return 0;
	parent = ms_path_dirname(path);
	if (strcmp(parent, path) != 0)
		ret = ms_mkdir_p(parent);
	free(parent);
	if (ret == 0 && mkdir(path, 0755) < 0 && errno != EEXIST)
		ret = ms_log_error("unable to create directory '%s': %s", path, strerror(errno));
	return ret;
}

bool ms_is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int ms_parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	unsigned long v;
	char *end;

	if (!s || !*s)
		return -1;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int ms_parse_duration(const char *s, unsigned flags, long *secs)
{
	static const struct { char unit; long secs; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }, { 'w', 604800 },
	};
	unsigned long n, min = (flags & MS_DURATION_ZERO) ? 0 : 1;
	size_t len = s ? strlen(s) : 0;
	long mult = 0;
	char *num;
	int rc;

	if (len == 0)
		return -1;
	for (size_t i = 0; len > 1 && i < sizeof(units) / sizeof(units[0]); i++)
		if (s[len - 1] == units[i].unit) {
			mult = units[i].secs;
			len--;
			break; /* one unit: "5ms" is not 5 minutes */
		}
	if (mult == 0 && (flags & MS_DURATION_BARE))
		mult = 1;
	if (mult == 0 && !((flags & MS_DURATION_ZERO) && strcmp(s, "0") == 0))
		return -1; /* no unit: only "0", when 0 is accepted */
	if (mult == 0)
		mult = 1;
	num = ms_xstrndup(s, len);
	rc = ms_parse_ulong(num, min, 100UL * 365 * 86400 / (unsigned long)mult, &n);
	free(num);
	if (rc < 0)
		return -1;
	*secs = (long)n * mult;
	return 0;
}

char *ms_printable(const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	char *out, *o;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		n += (*p < 0x20 || *p == 0x7f) ? 4 : *p == '\\' ? 2 : 1;
	out = o = ms_xmalloc(n + 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			*o++ = '\\';
			*o++ = 'x';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		} else if (*p == '\\') {
			*o++ = '\\';
			*o++ = '\\';
		} else {
			*o++ = (char)*p;
		}
	}
	*o = '\0';
	return out;
}

void ms_secure_zero(void *p, size_t n)
{
	if (p && n)
		explicit_bzero(p, n);
}

void ms_free_secret(char *s)
{
	if (!s)
		return;
	ms_secure_zero(s, strlen(s));
	free(s);
}

void ms_strv_push_owned(struct ms_strv *sv, char *s)
{
	if (sv->n + 2 > sv->alloc) {
		sv->alloc = sv->alloc ? sv->alloc * 2 : 8;
		sv->v = ms_xrealloc(sv->v, sv->alloc * sizeof(*sv->v));
	}
	sv->v[sv->n++] = s;
	sv->v[sv->n] = NULL;
}

void ms_strv_push(struct ms_strv *sv, const char *s)
{
	ms_strv_push_owned(sv, ms_xstrdup(s));
}

bool ms_strv_contains(const struct ms_strv *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return true;
	return false;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void ms_strv_sort(struct ms_strv *sv)
{
	if (sv->n > 1)
		qsort(sv->v, sv->n, sizeof(*sv->v), cmp_str);
}

void ms_strv_clear(struct ms_strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = sv->alloc = 0;
}

int ms_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(thread, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	return 0;
}

void ms_test_stall(const char *point)
{
	const char *want = getenv("MODOSNAP_TEST_STALL");

	if (!want || strcmp(want, point) != 0)
		return;
	fprintf(stderr, "modosnap: test: stalled at %s\n", point);
	for (int i = 0; i < 600; i++)
		sleep(1);
}

int ms_read_fd(int fd, char *buf, size_t cap, size_t *len)
{
	*len = 0;
	while (*len < cap) {
		ssize_t n = read(fd, buf + *len, cap - *len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		*len += (size_t)n;
	}
	return 0;
}

int ms_create_private(const char *path)
{
	int fd;

	if (unlink(path) < 0 && errno != ENOENT)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0 && fchmod(fd, 0600) < 0) {
		int err = errno;

		close(fd);
		unlink(path);
		errno = err;
		return -1;
	}
	return fd;
}

int ms_write_file_replace(const char *path, const void *buf, size_t len)
{
	char *tmp = ms_xasprintf("%s.partial", path);
	int fd = ms_create_private(tmp), ret = -1;
	bool wrote = fd >= 0 && write(fd, buf, len) == (ssize_t)len && fsync(fd) == 0;

	if (fd >= 0 && close(fd) != 0)
		wrote = false;
	if (!wrote || rename(tmp, path) < 0) {
		ms_log_error("unable to write '%s': %s", path, strerror(errno));
		unlink(tmp);
	} else {
		ret = 0;
	}
	free(tmp);
	return ret;
}
