/*
 * The progress line of create, restore and verify --deep: one line on
 * stderr, redrawn twice a second by a thread of its own while the work
 * goes on — what is being done, bytes done of the total, the rate, the
 * share and the time left. Only on a terminal, never with -q or --json;
 * log lines clear it first (ms_log_status_line). The engines fill a
 * struct ms_progress (restore/progress.h) handed down to them.
 */
#ifndef MS_CLI_PROGRESS_H
#define MS_CLI_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "restore/progress.h"

/* The rate, smoothed over the ticks (an exponential moving average), so
 * that the time left does not swing with every burst. Zero it to start. */
struct ms_progress_rate {
	double mib_s;       /* the smoothed rate, MiB/s; 0 until the first tick that moved time */
	double secs;        /* elapsed seconds at the last tick */
	uint64_t bytes;     /* bytes done at the last tick */
	bool primed;        /* mib_s holds a measurement */
};

/* Share of each new tick in the smoothed rate. */
#define MS_PROGRESS_SMOOTHING 0.2

/* Feeds one tick: `secs` elapsed since the start and `bytes` done then. */
void ms_progress_rate_tick(struct ms_progress_rate *r, double secs, uint64_t bytes);

/* The line's text into buf (size > 0): "WHAT  DONE MiB of TOTAL MiB (P%),
 * R MiB/s, T left". `what` may be "" and is shortened when long;
 * `estimate` marks the total as approximate ("~"); total 0 (unknown)
 * shows bytes and rate only. The time left appears only once 5 s or 5 %
 * are done (before, a rate is a guess). Pure: no clock, no terminal. */
void ms_progress_text(char *buf, size_t size, const char *what, double secs, uint64_t done, uint64_t total,
		      bool estimate, double mib_s);

struct ms_progress_line; /* opaque */

/* Starts drawing p (its total and what it names, read every tick) when
 * `wanted` (not --json), the verbosity is at least info and stderr is a
 * terminal; else returns NULL and draws nothing. `estimate`: p->total is
 * a guess (create). The drawing thread blocks every signal. p is
 * borrowed until ms_progress_line_stop. */
struct ms_progress_line *ms_progress_line_start(struct ms_progress *p, bool wanted, bool estimate);

/* Stops drawing and erases the line; NULL is a no-op. */
void ms_progress_line_stop(struct ms_progress_line *l);

#endif
