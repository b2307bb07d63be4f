// SPDX-License-Identifier: MIT
/*
 * Randomised stress over every worker: up to a million fibers, each doing
 * a random mix of yields, sleeps, mutex-protected increments, semaphore
 * round trips, I/O round trips through shared pipes (under the pipe's
 * mutex: a fiber parks in I/O holding it) and channel sends, checked
 * against exact invariants:
 *	- every fiber finishes (a wait group reaches zero, a count matches);
 *	- no wake-up is lost (the run ends: a lost one hangs it, and the
 *	  harness's timeout fails it);
 *	- the counter under the mutex equals the increments made;
 *	- every message is received exactly once (a bitmap, duplicates
 *	  counted);
 *	- every byte written to a pipe comes back to its writer unchanged.
 * The seed is printed; WEFT_TEST_SEED=n replays a run's choices (not its
 * interleaving).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <weft.h>

#include "harness.h"
#include "sched/check.h"

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define SCALE	50		/* sanitizers: 1/50 of the work */
#define ALIVE	2000		/* TSan stops at 8128 threads (fibers) */
#else
#define SCALE	1
#define ALIVE	20000
#endif

#define NPIPES	16

struct stress {
	uint64_t seed;
	long nfibers;		/* fibers in all */
	unsigned int alive;	/* at most this many at once */
	unsigned int workers;
	struct weft_mutex lock;
	long counter;		/* lock's */
	long increments;	/* atomic: what counter must reach */
	long finished;		/* atomic */
	long received, duplicates;	/* collectors' (atomic) */
	unsigned char *seen;	/* one bit per fiber: its message arrived */
	struct weft_chan *msgs;
	struct weft_sem slots;	/* throttles the spawners */
	struct weft_sem ping, pong;
	struct weft_wg done;
	int pipes[NPIPES][2];	/* I/O round trips, each under ... */
	struct weft_mutex pipe_lock[NPIPES];	/* ... its lock */
	long io_trips;		/* atomic */
};

static struct stress S;

static void *worker_fiber(void *arg)
{
	long id = (long)arg;
	uint64_t r = S.seed ^ ((uint64_t)id * 0x9e3779b97f4a7c15ULL);
	int ops = 1 + (int)(xorshift(&r) % 4);

	for (int i = 0; i < ops; i++) {
		switch (xorshift(&r) % 6) {
		case 0:
			CHECK_EQ(weft_yield(), 0);
			break;
		case 1:
			CHECK_EQ(weft_sleep_ns(xorshift(&r) % 20000), 0);
			break;
		case 2:
		case 3:
			CHECK_EQ(weft_mutex_lock(&S.lock), 0);
			S.counter++;
			CHECK_EQ(weft_mutex_unlock(&S.lock), 0);
			__atomic_add_fetch(&S.increments, 1, __ATOMIC_RELAXED);
			break;
		case 4:
			/* A round trip through two semaphores. */
			CHECK_EQ(weft_sem_post(&S.ping), 0);
			CHECK_EQ(weft_sem_wait(&S.pong), 0);
			break;
		case 5: {
			/* Through a shared pipe and back, under its lock. */
			unsigned int k = xorshift(&r) % NPIPES;
			long back = -1;

			CHECK_EQ(weft_mutex_lock(&S.pipe_lock[k]), 0);
			CHECK_EQ(weft_write(S.pipes[k][1], &id, sizeof(id)),
				 sizeof(id));
			CHECK_EQ(weft_read(S.pipes[k][0], &back, sizeof(back)),
				 sizeof(back));
			CHECK_EQ(weft_mutex_unlock(&S.pipe_lock[k]), 0);
			CHECK_EQ(back, id);
			__atomic_add_fetch(&S.io_trips, 1, __ATOMIC_RELAXED);
			break;
		}
		}
	}
	/* Every fiber sends exactly one message: its id. */
	CHECK_EQ(weft_chan_send(S.msgs, &id), 0);
	__atomic_add_fetch(&S.finished, 1, __ATOMIC_RELAXED);
	CHECK_EQ(weft_sem_post(&S.slots), 0);
	CHECK_EQ(weft_wg_done(&S.done), 0);
	return NULL;
}

/* Answers every ping with a pong; stops at a ping from the end. */
static void *ponger(void *arg)
{
	(void)arg;
	for (;;) {
		CHECK_EQ(weft_sem_wait(&S.ping), 0);
		if (__atomic_load_n(&S.finished, __ATOMIC_RELAXED) ==
		    S.nfibers)
			return NULL;
		CHECK_EQ(weft_sem_post(&S.pong), 0);
	}
}

static void *collector(void *arg)
{
	long id;

	(void)arg;
	while (!weft_chan_recv(S.msgs, &id)) {
		unsigned char bit = 1 << (id % 8);

		if (id < 0 || id >= S.nfibers) {
			CHECK(0);
			continue;
		}
		if (__atomic_fetch_or(&S.seen[id / 8], bit,
				      __ATOMIC_RELAXED) & bit)
			__atomic_add_fetch(&S.duplicates, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&S.received, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* One per worker, bound there: spawns its share, throttled. */
static void *spawner(void *arg)
{
	long first = (long)arg, step = S.workers;
	struct weft_attr a = { .flags = WEFT_DETACHED,
			       .stack_size = 16 << 10 };

	for (long id = first; id < S.nfibers; id += step) {
		CHECK_EQ(weft_sem_wait(&S.slots), 0);
		CHECK_EQ(weft_spawn(NULL, &a, worker_fiber, (void *)id), 0);
	}
	return NULL;
}

static void *stress_main(void *arg)
{
	uint64_t sp[64], col[4], pong;

	(void)arg;
	S.workers = weft_workers() < 64 ? weft_workers() : 64;
	for (int i = 0; i < NPIPES; i++)
		CHECK_EQ(pipe(S.pipes[i]), 0);
	CHECK_EQ(weft_chan_create(&S.msgs, sizeof(long), 64), 0);
	CHECK_EQ(weft_sem_init(&S.slots, S.alive), 0);
	CHECK_EQ(weft_wg_add(&S.done, S.nfibers), 0);
	CHECK_EQ(weft_spawn(&pong, NULL, ponger, NULL), 0);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(weft_spawn(&col[i], NULL, collector, NULL), 0);
	for (unsigned int i = 0; i < S.workers; i++) {
		struct weft_attr a = { .flags = WEFT_ON_WORKER | WEFT_BOUND,
				       .worker = i };

		CHECK_EQ(weft_spawn(&sp[i], &a, spawner, (void *)(long)i), 0);
	}
	for (unsigned int i = 0; i < S.workers; i++)
		CHECK_EQ(weft_join(sp[i], NULL), 0);
	CHECK_EQ(weft_wg_wait(&S.done), 0);
	/* Stop the ponger, then the collectors. */
	CHECK_EQ(weft_sem_post(&S.ping), 0);
	CHECK_EQ(weft_join(pong, NULL), 0);
	CHECK_EQ(weft_chan_close(S.msgs), 0);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(weft_join(col[i], NULL), 0);
	weft_chan_destroy(S.msgs);
	for (int i = 0; i < NPIPES; i++) {
		CHECK_EQ(weft_close(S.pipes[i][0]), 0);
		CHECK_EQ(weft_close(S.pipes[i][1]), 0);
	}
	return NULL;
}

static void stress(struct __test_metadata *_metadata, long nfibers,
		   unsigned int alive, unsigned int workers)
{
	long bytes = (nfibers + 7) / 8;

	memset(&S, 0, sizeof(S));
	S.seed = test_seed() | 1;
	S.nfibers = nfibers;
	S.alive = alive;
	S.workers = workers;
	S.seen = calloc(1, bytes);
	ASSERT_NE_NULL(S.seen);
	TH_LOG("fibers=%ld alive<=%u workers=%u", nfibers, alive, workers);
	for (int i = 0; i < NPIPES; i++)
		memset(&S.pipe_lock[i], 0, sizeof(S.pipe_lock[i]));
	ASSERT_EQ(run_on(workers, stress_main, NULL), 0);
	ASSERT_CHECKS();
	ASSERT_EQ(S.finished, nfibers);
	ASSERT_EQ(S.counter, S.increments);
	ASSERT_EQ(S.received, nfibers);
	ASSERT_EQ(S.duplicates, 0);
	TH_LOG("io round trips=%ld", S.io_trips);
	for (long i = 0; i < nfibers; i++)
		if (!(S.seen[i / 8] & (1 << (i % 8))))
			ASSERT_EQ(i, -1) TH_LOG("message %ld lost", i);
	free(S.seen);
}

TEST_TIMEOUT(million_fibers_over_every_worker, 120)
{
	stress(_metadata, 1000000 / SCALE, ALIVE, 0);
}

TEST_TIMEOUT(many_fibers_on_four_workers, 60)
{
	stress(_metadata, 200000 / SCALE, ALIVE / 4, 4);
}

TEST_TIMEOUT(many_fibers_on_one_worker, 60)
{
	stress(_metadata, 100000 / SCALE, 1000, 1);
}

TEST_HARNESS_MAIN
