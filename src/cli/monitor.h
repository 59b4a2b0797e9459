/*
 * Monitoring pings ([monitor] ping_url): a start ping before a run and a
 * success or failure ping after it, with the last lines of its output, in
 * the form healthchecks.io, Uptime Kuma or ntfy accepts, sent through
 * libcurl. A monitor that is down never fails a run: a ping that fails
 * warns and returns -1, and the caller turns it into exit 3.
 */
#ifndef MS_CLI_MONITOR_H
#define MS_CLI_MONITOR_H

#include <stdbool.h>

enum ms_monitor_kind { MS_MON_HEALTHCHECKS, MS_MON_UPTIME_KUMA, MS_MON_NTFY };

struct ms_monitor {
	const char *url;            /* the ping URL as configured (borrowed; may hold tokens) */
	enum ms_monitor_kind kind;  /* how to talk to it (ms_monitor_guess when not configured) */
	long timeout_s;             /* bound on each whole ping, seconds; <= 0: MS_MONITOR_TIMEOUT_S */
};

/* Timeout of a ping when none is configured. */
#define MS_MONITOR_TIMEOUT_S 10
/* At most this many bytes of `text` are sent: its end, from a line start. */
#define MS_MONITOR_TEXT_MAX 10240

/* The kind of the service behind url (non-NULL) when not configured:
 * a path holding "/api/push/" -> Uptime Kuma; a host starting "ntfy.",
 * or a single path segment (a topic) -> ntfy, except a single segment
 * that is a UUID (healthchecks.io's https://hc-ping.com/UUID); else
 * healthchecks. */
enum ms_monitor_kind ms_monitor_guess(const char *url);

/* url as messages may show it: without user:password@, query string
 * (tokens) and fragment. Caller frees. */
char *ms_monitor_url_shown(const char *url);

/* The start ping: healthchecks GET URL/start; ntfy POST URL ("Title:
 * modosnap started", "Priority: min"); Uptime Kuma has none (0, nothing
 * sent). 0, or -1 after a warning naming the URL (ms_monitor_url_shown). */
int ms_monitor_start(const struct ms_monitor *m);

/* The end ping: healthchecks POST URL (success) or URL/fail with text as
 * the body; Uptime Kuma GET URL?status=up|down&msg=(the last line of
 * text); ntfy POST URL with text, "Title: modosnap succeeded|failed" and
 * for a failure "Priority: high", "Tags: warning". text (the last lines
 * of the run's output; borrowed, NULL: none) is cut to its last
 * MS_MONITOR_TEXT_MAX bytes and repaired to UTF-8. 0, or -1 after a
 * warning naming the URL. */
int ms_monitor_done(const struct ms_monitor *m, bool ok, const char *text);

#endif
