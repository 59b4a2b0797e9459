/*
 * The progress line (progress.h): pure formatting and rate smoothing,
 * and the thread that draws them.
 */
#include "cli/progress.h"
#include "base/log.h"
#include "base/util.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIB 1048576.0
#define WHAT_MAX 40 /* characters of "what" shown; the rest is cut */

struct ms_progress_line {
	struct ms_progress *p; /* borrowed */
	bool estimate;
	pthread_t thread;
	atomic_bool stop;
	struct timespec t0;
	struct ms_progress_rate rate;
};

void ms_progress_rate_tick(struct ms_progress_rate *r, double secs, uint64_t bytes)
{
	double dt = secs - r->secs, now;

	if (dt <= 0)
		return;
	now = (double)(bytes >= r->bytes ? bytes - r->bytes : 0) / MIB / dt;
	r->mib_s = r->primed ? r->mib_s + MS_PROGRESS_SMOOTHING * (now - r->mib_s) : now;
	r->primed = true;
	r->secs = secs;
	r->bytes = bytes;
}

/* "42 s", "3 min 05 s", "2 h 07 min". */
static void format_left(char *buf, size_t size, double secs)
{
	long s = secs < 0 ? 0 : secs > 359999 ? 359999 : (long)(secs + 0.5);

	if (s < 60)
		snprintf(buf, size, "%ld s", s);
	else if (s < 3600)
		snprintf(buf, size, "%ld min %02ld s", s / 60, s % 60);
	else
		snprintf(buf, size, "%ld h %02ld min", s / 3600, s % 3600 / 60);
}

void ms_progress_text(char *buf, size_t size, const char *what, double secs, uint64_t done, uint64_t total,
		      bool estimate, double mib_s)
{
	double mib = (double)done / MIB, all = (double)total / MIB;
	const char *sep = *what ? "  " : "", *cut = strlen(what) > WHAT_MAX ? "..." : "";
	int wlen = *cut ? WHAT_MAX - 3 : WHAT_MAX;
	char left[32];
	double share;

	if (total == 0) {
		snprintf(buf, size, "%.*s%s%s%.1f MiB, %.1f MiB/s", wlen, what, cut, sep, mib, mib_s);
		return;
	}
	share = done < total ? 100.0 * (double)done / (double)total : estimate ? 99.0 : 100.0;
	if (share > 99.0 && done < total)
		share = 99.0; /* "100 %" only when it is */
	if (mib_s > 0 && (secs >= 5.0 || done * 20 >= total)) {
		format_left(left, sizeof(left), done < total ? (all - mib) / mib_s : 0);
		snprintf(buf, size, "%.*s%s%s%.1f MiB of %s%.1f MiB (%.0f%%), %.1f MiB/s, %s%s left", wlen, what, cut,
			 sep, mib, estimate ? "~" : "", all, share, mib_s, estimate ? "~" : "", left);
	} else {
		snprintf(buf, size, "%.*s%s%s%.1f MiB of %s%.1f MiB (%.0f%%), %.1f MiB/s", wlen, what, cut, sep, mib,
			 estimate ? "~" : "", all, share, mib_s);
	}
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void *line_main(void *arg)
{
	struct ms_progress_line *l = arg;
	struct timespec tick = { 0, 500 * 1000 * 1000 };
	char what[256], line[512];

	while (!atomic_load(&l->stop)) {
		double secs = seconds_since(&l->t0);
		uint64_t done = atomic_load(&l->p->bytes);

		ms_progress_rate_tick(&l->rate, secs, done);
		ms_progress_describe(l->p, what, sizeof(what));
		ms_progress_text(line, sizeof(line), what, secs, done, atomic_load(&l->p->total), l->estimate,
				 l->rate.mib_s);
		ms_progress_draw(l->p, line);
		nanosleep(&tick, NULL);
	}
	ms_progress_draw(l->p, NULL);
	return NULL;
}

struct ms_progress_line *ms_progress_line_start(struct ms_progress *p, bool wanted, bool estimate)
{
	struct ms_progress_line *l;
	sigset_t all, old;
	int rc;

	if (!wanted || ms_log_get_level() < MS_LOG_INFO || !isatty(STDERR_FILENO))
		return NULL;
	l = ms_xcalloc(1, sizeof(*l));
	l->p = p;
	l->estimate = estimate;
	atomic_init(&l->stop, false);
	clock_gettime(CLOCK_MONOTONIC, &l->t0);
	/* signals are for the main thread (partial-file clean-up, the pause
	 * window, the restore's interrupt): the drawing thread blocks them */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&l->thread, NULL, line_main, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		free(l);
		return NULL;
	}
	ms_log_status_line(1);
	return l;
}

void ms_progress_line_stop(struct ms_progress_line *l)
{
	if (!l)
		return;
	atomic_store(&l->stop, true);
	pthread_join(l->thread, NULL);
	ms_log_status_line(0);
	free(l);
}
