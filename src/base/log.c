/*
 * stderr logging with a verbosity level (see log.h). When stderr is the
 * systemd journal each line starts with its syslog priority ("<3>"), which
 * journald strips and records, so `journalctl -p err` finds the errors.
 */
#include "base/log.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>

static int current_level = MS_LOG_INFO;
static _Atomic unsigned warnings;
/* One line at a time, whole, into stderr and the tail: a restore's second
 * loading lane logs from its own thread. */
static pthread_mutex_t emit_lock = PTHREAD_MUTEX_INITIALIZER;
static int muted;
static _Atomic int status_line; /* a progress line is being drawn on stderr */

void ms_log_status_line(int on)
{
	status_line = on;
}

void ms_log_mute(int on)
{
	muted = on;
}

void ms_log_set_level(int level)
{
	if (level < MS_LOG_QUIET)
		level = MS_LOG_QUIET;
	if (level > MS_LOG_DEBUG)
		level = MS_LOG_DEBUG;
	current_level = level;
}

int ms_log_get_level(void)
{
	return current_level;
}

/* Writes msg with every control character escaped as \xNN: messages quote
 * file names, archive members and server answers, which may hold terminal
 * escapes or newlines (one message stays one line, and nothing an archive
 * holds reaches the terminal raw). */
static void put_escaped(const char *msg)
{
	for (const unsigned char *c = (const unsigned char *)msg; *c; c++) {
		if (*c < 0x20 || *c == 0x7f)
			fprintf(stderr, "\\x%02x", *c);
		else
			fputc(*c, stderr);
	}
}

/* Parses one decimal field of JOURNAL_STREAM ending at `stop`; the end in
 * *end. Digits only: strtoull alone would take a sign or blanks. */
static bool parse_field(const char *s, char stop, unsigned long long *out, const char **end)
{
	char *e;

	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	*out = strtoull(s, &e, 10);
	if (errno || *e != stop)
		return false;
	*end = e;
	return true;
}

/* True when stderr is the journal: systemd sets JOURNAL_STREAM to
 * "<dev>:<inode>" (decimal) of the stream it connects, and a child whose
 * stderr went elsewhere inherits the variable, so it counts only while it
 * names stderr itself (systemd.exec(5)). Looked at for every line: an
 * environment read and an fstat, and a redirection is honoured at once.
 * errno is kept: a caller may still read it after logging. */
static bool stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM"), *p;
	unsigned long long dev, ino;
	struct stat st;
	int saved = errno;
	bool journal;

	journal = env && parse_field(env, ':', &dev, &p) && parse_field(p + 1, '\0', &ino, &p) &&
		  fstat(2, &st) == 0 && (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
	errno = saved;
	return journal;
}

/* The last lines logged, newest last (ms_log_tail). */
#define TAIL_MAX 4096
static char tail[TAIL_MAX];
static size_t tail_len;

static void tail_add(const char *prefix, const char *msg)
{
	size_t need = strlen("modosnap: ") + strlen(prefix) + strlen(msg) + 1;

	if (need >= TAIL_MAX)
		return;
	while (tail_len + need >= TAIL_MAX) { /* drop the oldest line */
		const char *nl = memchr(tail, '\n', tail_len);
		size_t cut = nl ? (size_t)(nl - tail) + 1 : tail_len;

		memmove(tail, tail + cut, tail_len - cut);
		tail_len -= cut;
	}
	tail_len += (size_t)snprintf(tail + tail_len, TAIL_MAX - tail_len, "modosnap: %s%s\n", prefix, msg);
}

const char *ms_log_tail(void)
{
	tail[tail_len] = '\0';
	return tail;
}

/* ms_log_dedupe: the last error messages printed while it is on. */
#define RECENT_N 4
#define RECENT_LEN 256
static bool dedupe;
static char recent[RECENT_N][RECENT_LEN];
static size_t recent_next;

void ms_log_dedupe(int on)
{
	pthread_mutex_lock(&emit_lock);
	dedupe = on != 0;
	memset(recent, 0, sizeof(recent));
	recent_next = 0;
	pthread_mutex_unlock(&emit_lock);
}

/* Under emit_lock: true when msg was printed already (and so is not
 * printed again); else it is remembered. Messages too long to remember
 * are always printed. */
static bool seen_error(const char *prefix, const char *msg)
{
	if (!dedupe || strcmp(prefix, "error: ") != 0 || strlen(msg) >= RECENT_LEN)
		return false;
	for (size_t i = 0; i < RECENT_N; i++)
		if (!strcmp(recent[i], msg))
			return true;
	snprintf(recent[recent_next], RECENT_LEN, "%s", msg);
	recent_next = (recent_next + 1) % RECENT_N;
	return false;
}

/* prio is the line's syslog priority prefix, written only for the journal. */
__attribute__((format(printf, 3, 0)))
static void vlog(const char *prio, const char *prefix, const char *fmt, va_list ap)
{
	char small[512], *msg = small;
	va_list again;
	int n;

	if (muted)
		return;
	va_copy(again, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	if (n >= (int)sizeof(small)) {
		msg = malloc((size_t)n + 1);
		if (msg)
			vsnprintf(msg, (size_t)n + 1, fmt, again);
	}
	va_end(again);
	pthread_mutex_lock(&emit_lock);
	if (seen_error(prefix, n < 0 ? fmt : msg ? msg : small)) {
		pthread_mutex_unlock(&emit_lock);
		if (msg != small)
			free(msg);
		return;
	}
	flockfile(stderr);
	if (status_line)
		fputs("\r\033[K", stderr); /* a message starts on a clean line */
	if (stderr_is_journal())
		fputs(prio, stderr);
	fprintf(stderr, "modosnap: %s", prefix);
	put_escaped(n < 0 ? fmt : msg ? msg : small);
	fputc('\n', stderr);
	funlockfile(stderr);
	tail_add(prefix, n < 0 ? fmt : msg ? msg : small);
	pthread_mutex_unlock(&emit_lock);
	if (msg != small)
		free(msg);
}

int ms_log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("<3>", "error: ", fmt, ap);
	va_end(ap);
	return -1;
}

void ms_log_warn(const char *fmt, ...)
{
	va_list ap;

	if (muted)
		return;
	warnings++;
	if (current_level < MS_LOG_WARN)
		return;
	va_start(ap, fmt);
	vlog("<4>", "warning: ", fmt, ap);
	va_end(ap);
}

void ms_log_info(const char *fmt, ...)
{
	va_list ap;

	if (current_level < MS_LOG_INFO)
		return;
	va_start(ap, fmt);
	vlog("<6>", "", fmt, ap);
	va_end(ap);
}

void ms_log_debug(const char *fmt, ...)
{
	va_list ap;

	if (current_level < MS_LOG_DEBUG)
		return;
	va_start(ap, fmt);
	vlog("<7>", "debug: ", fmt, ap);
	va_end(ap);
}

unsigned ms_log_warning_count(void)
{
	return warnings;
}

void ms_log_bug(const char *file, int line, const char *msg)
{
	fprintf(stderr, "%smodosnap: BUG at %s:%d: %s\n", stderr_is_journal() ? "<2>" : "", file, line, msg);
	abort();
}
