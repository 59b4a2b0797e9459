/*
 * SHA-256 in a second thread (see hashpipe.h): a ring of buffers filled by
 * the caller and hashed in order by the thread; a buffer marked final ends
 * the digest, which the caller waits for.
 */
#include "base/hashpipe.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

struct slot {
	unsigned char *buf;
	size_t len;
	bool final; /* the digest ends after this buffer */
};

struct ms_hashpipe {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t posted;   /* a slot was posted, or quit */
	pthread_cond_t freed;    /* a slot was hashed, or a digest is done */
	struct slot slots[MS_HASHPIPE_SLOTS];
	size_t head;             /* the next slot to hash */
	size_t count;            /* slots posted and not hashed yet */
	size_t tail;             /* the slot being filled (not posted) */
	struct ms_hash *h;       /* the thread's */
	char hex[MS_HASH_HEX_MAX];
	bool done;               /* hex holds a finished digest */
	bool quit;
};

static void *hash_run(void *arg)
{
	struct ms_hashpipe *p = arg;

	for (;;) {
		struct slot *s;

		pthread_mutex_lock(&p->mu);
		while (p->count == 0 && !p->quit)
			pthread_cond_wait(&p->posted, &p->mu);
		if (p->count == 0) { /* quit */
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		s = &p->slots[p->head];
		pthread_mutex_unlock(&p->mu);
		ms_hash_update(p->h, s->buf, s->len);
		pthread_mutex_lock(&p->mu);
		if (s->final) {
			ms_hash_final_hex(p->h, p->hex);
			ms_hash_free(p->h);
			p->h = ms_hash_new(MS_HASH_SHA256);
			p->done = true;
		}
		s->len = 0;
		s->final = false;
		p->head = (p->head + 1) % MS_HASHPIPE_SLOTS;
		p->count--;
		pthread_cond_signal(&p->freed);
		pthread_mutex_unlock(&p->mu);
	}
}

struct ms_hashpipe *ms_hashpipe_new(void)
{
	struct ms_hashpipe *p = ms_xcalloc(1, sizeof(*p));
	sigset_t all, old;
	int rc;

	for (size_t i = 0; i < MS_HASHPIPE_SLOTS; i++)
		p->slots[i].buf = ms_xmalloc(MS_HASHPIPE_SLOT);
	p->h = ms_hash_new(MS_HASH_SHA256);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->posted, NULL);
	pthread_cond_init(&p->freed, NULL);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&p->thread, NULL, hash_run, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		p->quit = true; /* nothing to join */
		ms_hashpipe_free(p);
		return NULL;
	}
	return p;
}

/* Posts the slot being filled (final: it ends the digest) and moves to the
 * next one once it is free. */
static void post(struct ms_hashpipe *p, bool final)
{
	pthread_mutex_lock(&p->mu);
	p->slots[p->tail].final = final;
	p->count++;
	p->tail = (p->tail + 1) % MS_HASHPIPE_SLOTS;
	pthread_cond_signal(&p->posted);
	while (p->count == MS_HASHPIPE_SLOTS) /* the next slot to fill is still being hashed */
		pthread_cond_wait(&p->freed, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

void *ms_hashpipe_space(struct ms_hashpipe *p, size_t *len)
{
	struct slot *s = &p->slots[p->tail];

	*len = MS_HASHPIPE_SLOT - s->len; /* a full slot is posted at once */
	return s->buf + s->len;
}

void ms_hashpipe_commit(struct ms_hashpipe *p, size_t len)
{
	struct slot *s = &p->slots[p->tail];

	s->len += len;
	if (s->len == MS_HASHPIPE_SLOT)
		post(p, false);
}

void ms_hashpipe_update(struct ms_hashpipe *p, const void *data, size_t len)
{
	const unsigned char *d = data;

	while (len > 0) {
		size_t room;
		void *dst = ms_hashpipe_space(p, &room);
		size_t n = room < len ? room : len;

		memcpy(dst, d, n);
		ms_hashpipe_commit(p, n);
		d += n;
		len -= n;
	}
}

void ms_hashpipe_final_hex(struct ms_hashpipe *p, char hex[MS_HASH_HEX_MAX])
{
	post(p, true);
	pthread_mutex_lock(&p->mu);
	while (!p->done)
		pthread_cond_wait(&p->freed, &p->mu);
	p->done = false;
	memcpy(hex, p->hex, MS_HASH_HEX_MAX);
	pthread_mutex_unlock(&p->mu);
}

void ms_hashpipe_free(struct ms_hashpipe *p)
{
	bool started;

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	started = !p->quit;
	p->quit = true;
	pthread_cond_signal(&p->posted);
	pthread_mutex_unlock(&p->mu);
	if (started)
		pthread_join(p->thread, NULL);
	pthread_cond_destroy(&p->posted);
	pthread_cond_destroy(&p->freed);
	pthread_mutex_destroy(&p->mu);
	ms_hash_free(p->h);
	for (size_t i = 0; i < MS_HASHPIPE_SLOTS; i++)
		free(p->slots[i].buf);
	free(p);
}
