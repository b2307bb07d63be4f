// SPDX-License-Identifier: MIT
//
// Peer benchmark "pingpong", mode=cross only: two threads bounce a counter
// through a one-slot mailbox guarded by a mutex, each waiting on its own
// condition variable for its turn; every turn change is one hand-off and the
// value is elapsed time / hand-offs. The first tenth of the hand-offs (at
// least two) warms up and is not timed. Where the threads run is up to the
// kernel (no pinning).
//
// usage: pingpong_pthread [N [cross]]   (N = hand-offs, default 100000)
// build: gcc -O2 -pthread pingpong_pthread.c -o pingpong_pthread

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mailbox {
	pthread_mutex_t lock;
	pthread_cond_t turn[2];	/* signalled when whose becomes 0 or 1 */
	int whose;		/* which thread may take the count */
	unsigned long long count;
	unsigned long long warm;	/* hand-offs before the clock starts */
	unsigned long long end;		/* hand-offs in all */
	double t0;			/* when thread 0 took count == warm */
};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [N>0 [cross]]\n", prog);
	exit(2);
}

/* Take the count when it is @me's turn, add one, hand it over, until done. */
static void play(struct mailbox *mb, int me)
{
	pthread_mutex_lock(&mb->lock);
	for (;;) {
		while (mb->whose != me && mb->count < mb->end)
			pthread_cond_wait(&mb->turn[me], &mb->lock);
		if (mb->count >= mb->end)
			break;
		if (mb->count == mb->warm)
			mb->t0 = now_ns();
		mb->count++;
		mb->whose = !me;
		pthread_cond_signal(&mb->turn[!me]);
	}
	pthread_mutex_unlock(&mb->lock);
}

static void *ponger(void *arg)
{
	play(arg, 1);
	return NULL;
}

int main(int argc, char **argv)
{
	struct mailbox mb = {
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.turn = { PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER },
	};
	unsigned long long n = 100000, warm;
	pthread_t t;
	double t1;
	int err;

	if (argc > 3 || (argc > 2 && strcmp(argv[2], "cross")))
		usage(argv[0]);
	if (argc > 1) {
		char *end = NULL;

		errno = 0;
		n = strtoull(argv[1], &end, 10);
		if (errno || end == argv[1] || *end || n == 0)
			usage(argv[0]);
	}
	n = (n + 1) & ~1ULL;
	warm = (n / 10 + 1) & ~1ULL;
	if (warm < 2)
		warm = 2;

	mb.warm = warm;
	mb.end = warm + n;
	err = pthread_create(&t, NULL, ponger, &mb);
	if (err) {
		fprintf(stderr, "pthread_create: %s\n", strerror(err));
		return 1;
	}
	play(&mb, 0);
	t1 = now_ns();
	pthread_join(t, NULL);
	if (mb.count != warm + n) {
		fprintf(stderr, "pingpong: count %llu, want %llu\n", mb.count, warm + n);
		return 1;
	}
	printf("bench=pingpong mode=cross impl=pthread value=%.2f unit=ns/handoff n=%llu\n",
	       (t1 - mb.t0) / (double)n, n);
	return 0;
}
