/*
 * stderr logging with a verbosity level (see log.h).
 */
#include "log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static int current_level = MS_LOG_INFO;
static unsigned warnings;
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

__attribute__((format(printf, 2, 0)))
static void vlog(const char *prefix, const char *fmt, va_list ap)
{
	if (muted)
		return;
	if (status_line)
		fputs("\r\033[K", stderr); /* a message starts on a clean line */
	fprintf(stderr, "modosnap: %s", prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int ms_log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("error: ", fmt, ap);
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
	vlog("warning: ", fmt, ap);
	va_end(ap);
}

void ms_log_info(const char *fmt, ...)
{
	va_list ap;

	if (current_level < MS_LOG_INFO)
		return;
	va_start(ap, fmt);
	vlog("", fmt, ap);
	va_end(ap);
}

void ms_log_debug(const char *fmt, ...)
{
	va_list ap;

	if (current_level < MS_LOG_DEBUG)
		return;
	va_start(ap, fmt);
	vlog("debug: ", fmt, ap);
	va_end(ap);
}

unsigned ms_log_warning_count(void)
{
	return warnings;
}

void ms_log_bug(const char *file, int line, const char *msg)
{
	fprintf(stderr, "modosnap: BUG at %s:%d: %s\n", file, line, msg);
	abort();
}
