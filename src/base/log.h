/*
 * Diagnostics on stderr. Every message is one line, lowercase, naming the
 * thing at fault in quotes; the level prefix is added here. Verbosity is a
 * level moved by -q / -v: errors always print, warnings unless quiet, info
 * at the default level, debug with -v. Never pass a password or SECRET_KEY.
 */
#ifndef MS_LOG_H
#define MS_LOG_H

#include <stdarg.h>

enum ms_log_level {
	MS_LOG_QUIET = 0,   /* errors only */
	MS_LOG_WARN = 1,
	MS_LOG_INFO = 2,    /* default */
	MS_LOG_DEBUG = 3,
};

/* Sets the current verbosity (clamped to the enum range). */
void ms_log_set_level(int level);
int ms_log_get_level(void);

/* Each prints "modosnap: <level>: <message>\n" to stderr (info without
 * "<level>: "; control characters, newlines too, as \xNN, so a message is
 * one line). When stderr is the systemd journal (JOURNAL_STREAM names it)
 * the line starts with its syslog priority: <3> error, <4> warning,
 * <6> info, <7> debug (<2> for MS_BUG); otherwise nothing is added.
 * ms_log_error always returns -1 so that library code can
 * `return ms_log_error(...)`. */
int ms_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ms_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ms_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ms_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* While muted nothing is printed (warnings are not counted either): for a
 * second, diagnostic pass whose own errors would only repeat the first. */
void ms_log_mute(int on);
/* While on, every message first clears the terminal line, because a
 * progress line without a newline is being drawn on stderr. */
void ms_log_status_line(int on);
/* While on, an error line identical to one of the last few printed since
 * it was turned on is not printed again: for threads that read the same
 * input side by side and would each report the same damage. */
void ms_log_dedupe(int on);

/* Number of warnings logged so far: commands turn it into exit code 3. */
unsigned ms_log_warning_count(void);
/* The last lines logged (at most 4 KB, whole lines, oldest first), as
 * they were printed: what a monitoring ping reports. Borrowed. */
const char *ms_log_tail(void);

/* Aborts with a message: for broken internal invariants only. */
#define MS_BUG(msg) ms_log_bug(__FILE__, __LINE__, (msg))
void ms_log_bug(const char *file, int line, const char *msg) __attribute__((noreturn));

#endif
