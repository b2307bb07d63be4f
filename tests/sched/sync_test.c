// SPDX-License-Identifier: MIT
/*
 * Mutexes, condition variables, reader-writer locks, semaphores and wait
 * groups: results, tries, deadlines, cancels, order, OS threads, and a
 * randomised stress, on 1, 2 and 4 workers.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <weft.h>

#include "check.h"

FIXTURE(sync) {
	int unused;
};

FIXTURE_VARIANT(sync) {
	unsigned int workers;
};

FIXTURE_VARIANT_ADD(sync, w1) { .workers = 1 };
FIXTURE_VARIANT_ADD(sync, w2) { .workers = 2 };
FIXTURE_VARIANT_ADD(sync, w4) { .workers = 4 };

FIXTURE_SETUP(sync) {}
FIXTURE_TEARDOWN(sync) {}

#define RUN(workers, fn, arg) do {					\
	ASSERT_EQ(run_on(workers, fn, arg), 0);				\
	ASSERT_CHECKS();						\
} while (0)

/* Each test runs in its own process: these start zeroed every time. */
static struct weft_mutex mx = WEFT_MUTEX_INIT;
static struct weft_cond cv = WEFT_COND_INIT;
static struct weft_rwlock rw = WEFT_RWLOCK_INIT;
static struct weft_sem sem;
static struct weft_wg wg = WEFT_WG_INIT;
static long counter;
static int order[16], norder;
static int arrival[16], narrival;
static int phase, thread_done;

static void record(int what)
{
	order[__atomic_fetch_add(&norder, 1, __ATOMIC_RELAXED)] = what;
}

/*
 * On one worker nothing runs between arrive() and the wait right after
 * it, so arrival[] is the order in which the waiters queued (not the
 * order they were spawned in: the scheduler runs the newest first).
 */
static void arrive(int what)
{
	arrival[__atomic_fetch_add(&narrival, 1, __ATOMIC_RELAXED)] = what;
}

static void wait_phase(int want)
{
	while (__atomic_load_n(&phase, __ATOMIC_ACQUIRE) < want)
		weft_yield();
}

/* ---- mutex ---- */

static void *mutex_held_elsewhere(void *arg)
{
	(void)arg;
	CHECK_EQ(weft_mutex_trylock(&mx), -EBUSY);
	CHECK_EQ(weft_mutex_lock_until(&mx, 0), -EBUSY);
	CHECK_EQ(weft_mutex_lock_until(&mx, after_ms(1)), -ETIMEDOUT);
	CHECK_EQ(weft_mutex_lock_until(&mx, 1), -ETIMEDOUT);	/* past */
	CHECK_EQ(weft_mutex_unlock(&mx), -EPERM);
	return NULL;
}

static void *mutex_errors(void *arg)
{
	(void)arg;
	CHECK_EQ(weft_mutex_unlock(&mx), -EPERM);
	CHECK_EQ(weft_mutex_lock(&mx), 0);
	CHECK_EQ(weft_mutex_lock(&mx), -EDEADLK);
	CHECK_EQ(weft_mutex_trylock(&mx), -EDEADLK);
	CHECK_EQ(weft_mutex_lock_until(&mx, after_ms(1)), -EDEADLK);
	join(go(mutex_held_elsewhere, NULL));
	CHECK_EQ(weft_mutex_unlock(&mx), 0);
	CHECK_EQ(weft_mutex_unlock(&mx), -EPERM);
	CHECK_EQ(weft_mutex_trylock(&mx), 0);
	CHECK_EQ(weft_mutex_unlock(&mx), 0);
	CHECK_EQ(weft_mutex_lock_until(&mx, after_ms(1)), 0);
	CHECK_EQ(weft_mutex_unlock(&mx), 0);
	return NULL;
}

TEST_F(sync, mutex_errors_and_try)
{
	RUN(variant->workers, mutex_errors, NULL);
}

#define MX_FIBERS	8
#define MX_ITERS	3000
static int inside;

static void *mutex_adder(void *arg)
{
	long id = (long)arg;

	for (int i = 0; i < MX_ITERS; i++) {
		int ret;

		switch ((i + id) % 3) {
		case 0:
			ret = weft_mutex_lock(&mx);
			break;
		case 1:
			ret = weft_mutex_lock_until(&mx, WEFT_FOREVER - 1);
			break;
		default:
			while ((ret = weft_mutex_trylock(&mx)) == -EBUSY)
				weft_yield();
		}
		CHECK_EQ(ret, 0);
		CHECK_EQ(__atomic_fetch_add(&inside, 1, __ATOMIC_RELAXED), 0);
		counter++;
		if (!(i % 16))
			weft_yield();	/* let the others pile up */
		__atomic_fetch_sub(&inside, 1, __ATOMIC_RELAXED);
		CHECK_EQ(weft_mutex_unlock(&mx), 0);
	}
	return NULL;
}

static void *mutex_exclusion(void *arg)
{
	uint64_t f[MX_FIBERS];

	(void)arg;
	for (long i = 0; i < MX_FIBERS; i++)
		f[i] = go(mutex_adder, (void *)i);
	for (int i = 0; i < MX_FIBERS; i++)
		join(f[i]);
	CHECK_EQ(counter, MX_FIBERS * MX_ITERS);
	return NULL;
}

TEST_F(sync, mutex_exclusion)
{
	RUN(variant->workers, mutex_exclusion, NULL);
}

static void *mutex_fifo_waiter(void *arg)
{
	arrive((long)arg);
	CHECK_EQ(weft_mutex_lock(&mx), 0);
	record((long)arg);
	CHECK_EQ(weft_mutex_unlock(&mx), 0);
	return NULL;
}

static void *mutex_fifo(void *arg)
{
	uint64_t f[5];

	(void)arg;
	CHECK_EQ(weft_mutex_lock(&mx), 0);
	for (long i = 0; i < 5; i++)
		f[i] = go(mutex_fifo_waiter, (void *)i);
	weft_yield();				/* all five queue */
	CHECK_EQ(narrival, 5);
	CHECK_EQ(weft_mutex_unlock(&mx), 0);	/* wakes the first */
	CHECK_EQ(weft_mutex_trylock(&mx), 0);	/* and barges in first */
	weft_yield();				/* it loses, goes first */
	CHECK_EQ(norder, 0);
	CHECK_EQ(weft_mutex_unlock(&mx), 0);	/* hands it over */
	CHECK_EQ(weft_mutex_trylock(&mx), -EBUSY);
	for (int i = 0; i < 5; i++)
		join(f[i]);
	CHECK_EQ(norder, 5);
	for (int i = 0; i < 5; i++)
		CHECK_EQ(order[i], arrival[i]);
	return NULL;
}

/* One worker, so the order is exact: FIFO, and a waiter loses once. */
TEST(mutex_fifo_and_bounded_barging)
{
	RUN(1, mutex_fifo, NULL);
}

static void *mutex_cancelled(void *arg)
{
	(void)arg;
	CHECK_EQ(weft_mutex_lock(&mx), -ECANCELED);
	return NULL;
}

static void *mutex_times_out(void *arg)
{
	(void)arg;
	CHECK_EQ(weft_mutex_lock_until(&mx, after_ms(2)), -ETIMEDOUT);
	return NULL;
}

static void *mutex_cancel(void *arg)
{
	uint64_t a, b, c, d;

	(void)arg;
	CHECK_EQ(weft_mutex_lock(&mx), 0);
	a = go(mutex_cancelled, NULL);
	b = go(mutex_times_out, NULL);
	c = go(mutex_fifo_waiter, (void *)7);
	d = go(mutex_cancelled, NULL);
	weft_yield();
	CHECK_EQ(weft_cancel(a), 0);
	CHECK_EQ(weft_cancel(d), 0);
	join(a);
	join(b);
	join(d);
	/* Those that left did not break the list: c still gets the lock. */
	CHECK_EQ(norder, 0);
	CHECK_EQ(weft_mutex_unlock(&mx), 0);
	join(c);
	CHECK_EQ(norder, 1);
	CHECK_EQ(weft_mutex_trylock(&mx), 0);
	CHECK_EQ(weft_mutex_unlock(&mx), 0);
	return NULL;
}

TEST_F(sync, mutex_timeout_and_cancel)
{
	RUN(variant->workers, mutex_cancel, NULL);
}

#define MXT_ITERS	2000

static void *mutex_thread(void *arg)
{
	(void)arg;
	CHECK_EQ(weft_mutex_trylock(&mx), -EBUSY);
	CHECK_EQ(weft_mutex_lock_until(&mx, after_ms(1)), -ETIMEDOUT);
	CHECK_EQ(weft_mutex_unlock(&mx), -EPERM);
	__atomic_store_n(&phase, 1, __ATOMIC_RELEASE);
	CHECK_EQ(weft_mutex_lock(&mx), 0);	/* until the fiber lets go */
	counter++;
	CHECK_EQ(weft_mutex_lock(&mx), -EDEADLK);
	CHECK_EQ(weft_mutex_unlock(&mx), 0);
	for (int i = 0; i < MXT_ITERS; i++) {
		CHECK_EQ(weft_mutex_lock(&mx), 0);
		CHECK_EQ(__atomic_fetch_add(&inside, 1, __ATOMIC_RELAXED), 0);
		counter++;
		__atomic_fetch_sub(&inside, 1, __ATOMIC_RELAXED);
		CHECK_EQ(weft_mutex_unlock(&mx), 0);
	}
	__atomic_store_n(&thread_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *mutex_fiber_adder(void *arg)
{
	(void)arg;
	for (int i = 0; i < MXT_ITERS; i++) {
		CHECK_EQ(weft_mutex_lock(&mx), 0);
		CHECK_EQ(__atomic_fetch_add(&inside, 1, __ATOMIC_RELAXED), 0);
		counter++;
		if (!(i % 8))
			weft_yield();
		__atomic_fetch_sub(&inside, 1, __ATOMIC_RELAXED);
		CHECK_EQ(weft_mutex_unlock(&mx), 0);
	}
	return NULL;
}

static void *mutex_with_thread(void *arg)
{
	uint64_t f[3];
	pthread_t t;

	(void)arg;
	CHECK_EQ(weft_mutex_lock(&mx), 0);
	t = thread_go(mutex_thread, NULL);
	wait_phase(1);
	for (int i = 0; i < 100; i++)
		weft_yield();		/* the thread most likely waits */
	CHECK_EQ(counter, 0);
	CHECK_EQ(weft_mutex_unlock(&mx), 0);
	for (long i = 0; i < 3; i++)
		f[i] = go(mutex_fiber_adder, NULL);
	for (int i = 0; i < 3; i++)
		join(f[i]);
	thread_join(t, &thread_done);
	CHECK_EQ(counter, 1 + 4 * MXT_ITERS);
	return NULL;
}

TEST_F(sync, mutex_with_an_os_thread)
{
	RUN(variant->workers, mutex_with_thread, NULL);
}

/* ---- condition variable ---- */

static void *cond_cancelled(void *arg)
{
	(void)arg;
	CHECK_EQ(weft_mutex_lock(&mx), 0);
	CHECK_EQ(weft_cond_wait(&cv, &mx), -ECANCELED);
	CHECK_EQ(weft_mutex_unlock(&mx), 0);	/* held again */
	return NULL;
}

static void *cond_errors(void *arg)
{
	uint64_t f;

	(void)arg;
	CHECK_EQ(weft_cond_wait(&cv, &mx), -EPERM);
	CHECK_EQ(weft_cond_signal(&cv), 0);
	CHECK_EQ(weft_cond_broadcast(&cv), 0);
	CHECK_EQ(weft_mutex_lock(&mx), 0);
	CHECK_EQ(weft_cond_wait_until(&cv, &mx, 0), -EAGAIN);
	CHECK_EQ(weft_cond_wait_until(&cv, &mx, after_ms(1)), -ETIMEDOUT);
	CHECK_EQ(weft_cond_wait_until(&cv, &mx, 1), -ETIMEDOUT);
	CHECK_EQ(weft_mutex_unlock(&mx), 0);
	CHECK_EQ(weft_mutex_unlock(&mx), -EPERM);
	f = go(cond_cancelled, NULL);
	CHECK_EQ(weft_cancel(f), 0);
	join(f);
	return NULL;
}

TEST_F(sync, cond_errors_timeout_cancel)
{
	RUN(variant->workers, cond_errors, NULL);
}

/*
 * A cancel that lands while a woken waiter retakes the mutex: the wake-up
 * is kept (0) and the cancel goes to the fiber's next wait.
 */
static void *cond_woken_then_cancelled(void *arg)
{
	(void)arg;
	CHECK_EQ(weft_mutex_lock(&mx), 0);
	CHECK_EQ(weft_cond_wait(&cv, &mx), 0);
	CHECK_EQ(weft_mutex_unlock(&mx), 0);
	CHECK_EQ(weft_sem_wait_until(&sem, after_ms(1000)), -ECANCELED);
	return NULL;
}

static void *cond_cancel_in_relock(void *arg)
{
	uint64_t f;

	(void)arg;
	f = go(cond_woken_then_cancelled, NULL);
	weft_yield();				/* it waits on cv */
	CHECK_EQ(weft_mutex_lock(&mx), 0);
	CHECK_EQ(weft_cond_signal(&cv), 0);
	CHECK_EQ(weft_cancel(f), 0);
	weft_yield();				/* it waits for mx */
	CHECK_EQ(weft_mutex_unlock(&mx), 0);
	join(f);
	return NULL;
}

/* One worker, so the cancel surely lands during the relock. */
TEST(cond_cancel_during_relock_is_kept)
{
	RUN(1, cond_cancel_in_relock, NULL);
}

static int ready;

static void *cond_waiter(void *arg)
{
	(void)arg;
	CHECK_EQ(weft_mutex_lock(&mx), 0);
	while (!ready)
		CHECK_EQ(weft_cond_wait(&cv, &mx), 0);
	counter++;
	CHECK_EQ(weft_mutex_unlock(&mx), 0);
	return NULL;
}

static void *cond_broadcast(void *arg)
{
	uint64_t f[8];

	(void)arg;
	for (int i = 0; i < 8; i++)
		f[i] = go(cond_waiter, NULL);
	for (int i = 0; i < 20; i++)
		weft_yield();
	CHECK_EQ(weft_mutex_lock(&mx), 0);
	ready = 1;
	CHECK_EQ(weft_cond_broadcast(&cv), 0);
	CHECK_EQ(weft_mutex_unlock(&mx), 0);
	for (int i = 0; i < 8; i++)
		join(f[i]);
	CHECK_EQ(counter, 8);
	return NULL;
}

TEST_F(sync, cond_broadcast_wakes_all)
{
	RUN(variant->workers, cond_broadcast, NULL);
}

/* A bounded queue with two condition variables, signal only. */
#define Q_CAP		4
#define Q_PRODUCERS	4
#define Q_ITEMS		2000
static struct weft_cond not_full, not_empty;
static long q[Q_CAP];
static int q_head, q_len;
static long q_sum;

static void *q_producer(void *arg)
{
	long base = (long)arg * Q_ITEMS;

	for (long i = 1; i <= Q_ITEMS; i++) {
		CHECK_EQ(weft_mutex_lock(&mx), 0);
		while (q_len == Q_CAP)
			CHECK_EQ(weft_cond_wait(&not_full, &mx), 0);
		q[(q_head + q_len++) % Q_CAP] = base + i;
		CHECK_EQ(weft_cond_signal(&not_empty), 0);
		CHECK_EQ(weft_mutex_unlock(&mx), 0);
	}
	return NULL;
}

static void *q_consumer(void *arg)
{
	(void)arg;
	for (int i = 0; i < Q_ITEMS; i++) {
		CHECK_EQ(weft_mutex_lock(&mx), 0);
		while (!q_len)
			CHECK_EQ(weft_cond_wait(&not_empty, &mx), 0);
		q_sum += q[q_head];
		q_head = (q_head + 1) % Q_CAP;
		q_len--;
		CHECK_EQ(weft_cond_signal(&not_full), 0);
		CHECK_EQ(weft_mutex_unlock(&mx), 0);
	}
	return NULL;
}

static void *cond_queue(void *arg)
{
	uint64_t f[2 * Q_PRODUCERS];
	long n = (long)Q_PRODUCERS * Q_ITEMS;

	(void)arg;
	for (long i = 0; i < Q_PRODUCERS; i++) {
		f[2 * i] = go(q_consumer, NULL);
		f[2 * i + 1] = go(q_producer, (void *)i);
	}
	for (int i = 0; i < 2 * Q_PRODUCERS; i++)
		join(f[i]);
	CHECK_EQ(q_len, 0);
	CHECK_EQ(q_sum, n * (n + 1) / 2);
	return NULL;
}

TEST_F(sync, cond_signal_bounded_queue)
{
	RUN(variant->workers, cond_queue, NULL);
}

static int from_thread, from_fiber;

static void *cond_thread(void *arg)
{
	(void)arg;
	CHECK_EQ(weft_mutex_lock(&mx), 0);
	while (!from_fiber)
		CHECK_EQ(weft_cond_wait(&cv, &mx), 0);
	CHECK_EQ(weft_cond_wait_until(&cv, &mx, after_ms(1)), -ETIMEDOUT);
	from_thread = 1;
	CHECK_EQ(weft_cond_signal(&cv), 0);
	CHECK_EQ(weft_mutex_unlock(&mx), 0);
	__atomic_store_n(&thread_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *cond_with_thread(void *arg)
{
	pthread_t t;

	(void)arg;
	t = thread_go(cond_thread, NULL);
	for (int i = 0; i < 100; i++)
		weft_yield();
	CHECK_EQ(weft_mutex_lock(&mx), 0);
	from_fiber = 1;
	CHECK_EQ(weft_cond_signal(&cv), 0);
	while (!from_thread)
		CHECK_EQ(weft_cond_wait(&cv, &mx), 0);
	CHECK_EQ(weft_mutex_unlock(&mx), 0);
	thread_join(t, &thread_done);
	return NULL;
}

TEST_F(sync, cond_with_an_os_thread)
{
	RUN(variant->workers, cond_with_thread, NULL);
}

/* ---- reader-writer lock ---- */

static void *rw_reader_alongside(void *arg)
{
	(void)arg;
	CHECK_EQ(weft_rwlock_rdlock_until(&rw, 0), 0);
	CHECK_EQ(weft_rwlock_wrlock_until(&rw, 0), -EBUSY);
	CHECK_EQ(weft_rwlock_wrlock_until(&rw, after_ms(1)), -ETIMEDOUT);
	CHECK_EQ(weft_rwlock_unlock(&rw), 0);
	return NULL;
}

static void *rw_shut_out(void *arg)
{
	(void)arg;
	CHECK_EQ(weft_rwlock_rdlock_until(&rw, 0), -EBUSY);
	CHECK_EQ(weft_rwlock_rdlock_until(&rw, after_ms(1)), -ETIMEDOUT);
	CHECK_EQ(weft_rwlock_wrlock_until(&rw, 0), -EBUSY);
	CHECK_EQ(weft_rwlock_wrlock_until(&rw, 1), -ETIMEDOUT);
	CHECK_EQ(weft_rwlock_unlock(&rw), -EPERM);
	return NULL;
}

static void *rw_cancelled(void *arg)
{
	if (arg)
		CHECK_EQ(weft_rwlock_wrlock(&rw), -ECANCELED);
	else
		CHECK_EQ(weft_rwlock_rdlock(&rw), -ECANCELED);
	return NULL;
}

static void *rw_basic(void *arg)
{
	uint64_t a, b;

	(void)arg;
	CHECK_EQ(weft_rwlock_unlock(&rw), -EPERM);
	CHECK_EQ(weft_rwlock_rdlock(&rw), 0);
	join(go(rw_reader_alongside, NULL));
	CHECK_EQ(weft_rwlock_unlock(&rw), 0);
	CHECK_EQ(weft_rwlock_unlock(&rw), -EPERM);

	CHECK_EQ(weft_rwlock_wrlock(&rw), 0);
	CHECK_EQ(weft_rwlock_wrlock(&rw), -EDEADLK);
	CHECK_EQ(weft_rwlock_rdlock(&rw), -EDEADLK);
	join(go(rw_shut_out, NULL));
	a = go(rw_cancelled, NULL);
	b = go(rw_cancelled, (void *)1);
	CHECK_EQ(weft_cancel(a), 0);
	CHECK_EQ(weft_cancel(b), 0);
	join(a);
	join(b);
	CHECK_EQ(weft_rwlock_unlock(&rw), 0);
	CHECK_EQ(weft_rwlock_wrlock_until(&rw, 0), 0);
	CHECK_EQ(weft_rwlock_unlock(&rw), 0);
	return NULL;
}

TEST_F(sync, rwlock_errors_try_timeout_cancel)
{
	RUN(variant->workers, rw_basic, NULL);
}

static void *rw_recorder(void *arg)
{
	long what = (long)arg;

	if (what == 'W')
		CHECK_EQ(weft_rwlock_wrlock(&rw), 0);
	else
		CHECK_EQ(weft_rwlock_rdlock(&rw), 0);
	record(what);
	CHECK_EQ(weft_rwlock_unlock(&rw), 0);
	return NULL;
}

static void *rw_preference(void *arg)
{
	uint64_t w, r, r2, w2;

	(void)arg;
	/* A waiting writer goes before readers that come after it. */
	CHECK_EQ(weft_rwlock_rdlock(&rw), 0);
	w = go(rw_recorder, (void *)'W');
	weft_yield();
	r = go(rw_recorder, (void *)'R');
	weft_yield();
	CHECK_EQ(weft_rwlock_rdlock_until(&rw, 0), -EBUSY);
	CHECK_EQ(norder, 0);
	CHECK_EQ(weft_rwlock_unlock(&rw), 0);
	join(w);
	join(r);
	CHECK_EQ(norder, 2);
	CHECK_EQ(order[0], 'W');
	CHECK_EQ(order[1], 'R');

	/* A writer's unlock lets the queued readers in before the next one. */
	norder = 0;
	CHECK_EQ(weft_rwlock_wrlock(&rw), 0);
	r = go(rw_recorder, (void *)'R');
	w2 = go(rw_recorder, (void *)'W');
	r2 = go(rw_recorder, (void *)'R');
	weft_yield();
	CHECK_EQ(weft_rwlock_unlock(&rw), 0);
	join(r);
	join(w2);
	join(r2);
	CHECK_EQ(norder, 3);
	CHECK_EQ(order[0], 'R');
	CHECK_EQ(order[1], 'R');
	CHECK_EQ(order[2], 'W');
	return NULL;
}

/* One worker, so the order is exact. */
TEST(rwlock_writer_preference)
{
	RUN(1, rw_preference, NULL);
}

static void *rw_writer_gives_up(void *arg)
{
	(void)arg;
	CHECK_EQ(weft_rwlock_wrlock_until(&rw, after_ms(2)), -ETIMEDOUT);
	return NULL;
}

static void *rw_writer_timeout(void *arg)
{
	uint64_t w, r;

	(void)arg;
	CHECK_EQ(weft_rwlock_rdlock(&rw), 0);
	w = go(rw_writer_gives_up, NULL);
	for (int i = 0; i < 10; i++)
		weft_yield();
	r = go(rw_recorder, (void *)'R');
	/* The writer gives up: the reader behind it comes in beside us. */
	join(w);
	join(r);
	CHECK_EQ(norder, 1);
	CHECK_EQ(weft_rwlock_unlock(&rw), 0);
	CHECK_EQ(weft_rwlock_wrlock_until(&rw, 0), 0);
	CHECK_EQ(weft_rwlock_unlock(&rw), 0);
	return NULL;
}

TEST_F(sync, rwlock_writer_timeout_admits_readers)
{
	RUN(variant->workers, rw_writer_timeout, NULL);
}

#define RW_ITERS	2000
static long rw_a, rw_b;

static void *rw_writer(void *arg)
{
	(void)arg;
	for (int i = 0; i < RW_ITERS; i++) {
		CHECK_EQ(weft_rwlock_wrlock(&rw), 0);
		rw_a++;
		if (!(i % 8))
			weft_yield();
		rw_b++;
		CHECK_EQ(weft_rwlock_unlock(&rw), 0);
	}
	return NULL;
}

static void *rw_reader(void *arg)
{
	(void)arg;
	for (int i = 0; i < RW_ITERS; i++) {
		CHECK_EQ(weft_rwlock_rdlock(&rw), 0);
		CHECK_EQ(rw_a, rw_b);
		if (!(i % 8))
			weft_yield();
		CHECK_EQ(rw_a, rw_b);
		CHECK_EQ(weft_rwlock_unlock(&rw), 0);
	}
	return NULL;
}

static void *rw_mix(void *arg)
{
	uint64_t f[8];

	(void)arg;
	for (int i = 0; i < 8; i++)
		f[i] = go(i & 1 ? rw_reader : rw_writer, NULL);
	for (int i = 0; i < 8; i++)
		join(f[i]);
	CHECK_EQ(rw_a, 4 * RW_ITERS);
	CHECK_EQ(rw_b, 4 * RW_ITERS);
	return NULL;
}

TEST_F(sync, rwlock_readers_and_writers)
{
	RUN(variant->workers, rw_mix, NULL);
}

/* ---- semaphore ---- */

static void *sem_cancelled(void *arg)
{
	(void)arg;
	CHECK_EQ(weft_sem_wait(&sem), -ECANCELED);
	return NULL;
}

static void *sem_taker(void *arg)
{
	(void)arg;
	CHECK_EQ(weft_sem_wait(&sem), 0);
	return NULL;
}

static void *sem_counts(void *arg)
{
	struct weft_sem zero = { { 0 } };
	uint64_t f;

	(void)arg;
	CHECK_EQ(weft_sem_wait_until(&zero, 0), -EAGAIN);
	CHECK_EQ(weft_sem_init(&sem, (unsigned int)INT32_MAX + 1), -EINVAL);
	CHECK_EQ(weft_sem_init(&sem, 3), 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(weft_sem_wait_until(&sem, 0), 0);
	CHECK_EQ(weft_sem_wait_until(&sem, 0), -EAGAIN);
	CHECK_EQ(weft_sem_wait_until(&sem, after_ms(1)), -ETIMEDOUT);
	CHECK_EQ(weft_sem_wait_until(&sem, 1), -ETIMEDOUT);
	CHECK_EQ(weft_sem_post(&sem), 0);
	CHECK_EQ(weft_sem_post(&sem), 0);
	CHECK_EQ(weft_sem_wait(&sem), 0);
	CHECK_EQ(weft_sem_wait_until(&sem, after_ms(1)), 0);
	CHECK_EQ(weft_sem_wait_until(&sem, 0), -EAGAIN);

	f = go(sem_cancelled, NULL);
	CHECK_EQ(weft_cancel(f), 0);
	join(f);
	/* A post with a waiter hands the unit over: none is left. */
	f = go(sem_taker, NULL);
	weft_yield();
	CHECK_EQ(weft_sem_post(&sem), 0);
	join(f);
	CHECK_EQ(weft_sem_wait_until(&sem, 0), -EAGAIN);

	CHECK_EQ(weft_sem_init(&sem, INT32_MAX), 0);
	CHECK_EQ(weft_sem_post(&sem), -EOVERFLOW);
	CHECK_EQ(weft_sem_wait_until(&sem, 0), 0);
	CHECK_EQ(weft_sem_post(&sem), 0);
	return NULL;
}

TEST_F(sync, sem_counts_try_timeout_cancel)
{
	RUN(variant->workers, sem_counts, NULL);
}

static void *sem_fifo_waiter(void *arg)
{
	arrive((long)arg);
	CHECK_EQ(weft_sem_wait(&sem), 0);
	record((long)arg);
	return NULL;
}

static void *sem_fifo(void *arg)
{
	uint64_t f[5];

	(void)arg;
	for (long i = 0; i < 5; i++)
		f[i] = go(sem_fifo_waiter, (void *)i);
	weft_yield();
	CHECK_EQ(narrival, 5);
	/* One unit at a time: the order they run in is the grant order. */
	for (int i = 0; i < 5; i++) {
		CHECK_EQ(weft_sem_post(&sem), 0);
		while (__atomic_load_n(&norder, __ATOMIC_RELAXED) <= i)
			weft_yield();
	}
	for (int i = 0; i < 5; i++)
		join(f[i]);
	CHECK_EQ(norder, 5);
	for (int i = 0; i < 5; i++)
		CHECK_EQ(order[i], arrival[i]);
	return NULL;
}

TEST(sem_waiters_in_fifo_order)
{
	RUN(1, sem_fifo, NULL);
}

/* A fiber and an OS thread play ping-pong with two semaphores. */
#define PP_ROUNDS	2000
static struct weft_sem ping, pong;

static void *sem_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < PP_ROUNDS; i++) {
		CHECK_EQ(weft_sem_wait(&ping), 0);
		counter++;
		CHECK_EQ(weft_sem_post(&pong), 0);
	}
	CHECK_EQ(weft_sem_wait_until(&ping, after_ms(1)), -ETIMEDOUT);
	__atomic_store_n(&thread_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *sem_with_thread(void *arg)
{
	pthread_t t;

	(void)arg;
	t = thread_go(sem_thread, NULL);
	for (int i = 0; i < PP_ROUNDS; i++) {
		CHECK_EQ(weft_sem_post(&ping), 0);
		CHECK_EQ(weft_sem_wait(&pong), 0);
		CHECK_EQ(counter, i + 1);
	}
	thread_join(t, &thread_done);
	return NULL;
}

TEST_F(sync, sem_pingpong_with_an_os_thread)
{
	RUN(variant->workers, sem_with_thread, NULL);
}

/* ---- wait group ---- */

static void *wg_worker(void *arg)
{
	(void)arg;
	weft_yield();
	__atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
	CHECK_EQ(weft_wg_done(&wg), 0);
	return NULL;
}

static void *wg_waiter(void *arg)
{
	(void)arg;
	CHECK_EQ(weft_wg_wait(&wg), 0);
	CHECK_EQ(__atomic_load_n(&counter, __ATOMIC_RELAXED), 16);
	return NULL;
}

static void *wg_cancelled(void *arg)
{
	(void)arg;
	CHECK_EQ(weft_wg_wait(&wg), -ECANCELED);
	return NULL;
}

static void *wg_thread(void *arg)
{
	(void)arg;
	CHECK_EQ(weft_wg_done(&wg), 0);
	__atomic_store_n(&thread_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *wg_basic(void *arg)
{
	uint64_t w[4], f[16], c;
	pthread_t t;

	(void)arg;
	CHECK_EQ(weft_wg_wait(&wg), 0);
	CHECK_EQ(weft_wg_wait_until(&wg, 0), 0);
	CHECK_EQ(weft_wg_done(&wg), -EINVAL);
	CHECK_EQ(weft_wg_add(&wg, INT_MAX), 0);
	CHECK_EQ(weft_wg_add(&wg, 1), -EINVAL);
	CHECK_EQ(weft_wg_add(&wg, -INT_MAX), 0);

	CHECK_EQ(weft_wg_add(&wg, 16), 0);
	for (int i = 0; i < 4; i++)
		w[i] = go(wg_waiter, NULL);
	for (int i = 0; i < 16; i++)
		f[i] = go(wg_worker, NULL);
	CHECK_EQ(weft_wg_wait(&wg), 0);
	CHECK_EQ(counter, 16);
	for (int i = 0; i < 16; i++)
		join(f[i]);
	for (int i = 0; i < 4; i++)
		join(w[i]);

	CHECK_EQ(weft_wg_add(&wg, 1), 0);
	CHECK_EQ(weft_wg_wait_until(&wg, 0), -EAGAIN);
	CHECK_EQ(weft_wg_wait_until(&wg, after_ms(1)), -ETIMEDOUT);
	c = go(wg_cancelled, NULL);
	CHECK_EQ(weft_cancel(c), 0);
	join(c);
	/* An OS thread's done releases a fiber. */
	t = thread_go(wg_thread, NULL);
	CHECK_EQ(weft_wg_wait(&wg), 0);
	thread_join(t, &thread_done);
	return NULL;
}

TEST_F(sync, wg_counts_waiters_timeout_cancel)
{
	RUN(variant->workers, wg_basic, NULL);
}

/* A thread waits for fibers. */
static void *wg_thread_waits(void *arg)
{
	(void)arg;
	CHECK_EQ(weft_wg_wait(&wg), 0);
	CHECK_EQ(__atomic_load_n(&counter, __ATOMIC_RELAXED), 16);
	__atomic_store_n(&thread_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *wg_with_thread(void *arg)
{
	uint64_t f[16];
	pthread_t t;

	(void)arg;
	CHECK_EQ(weft_wg_add(&wg, 16), 0);
	t = thread_go(wg_thread_waits, NULL);
	for (int i = 0; i < 16; i++)
		f[i] = go(wg_worker, NULL);
	for (int i = 0; i < 16; i++)
		join(f[i]);
	thread_join(t, &thread_done);
	return NULL;
}

TEST_F(sync, wg_os_thread_waits_for_fibers)
{
	RUN(variant->workers, wg_with_thread, NULL);
}

/* ---- randomised stress ---- */

/*
 * Fibers do random operations on a mutex, an rwlock, a semaphore of 2 and
 * a condition variable, and count their successes; a canceller cancels
 * random fibers meanwhile. Every count must match exactly.
 */
#define ST_FIBERS	24
#define ST_OPS		5000
static uint64_t st_seed;
static uint64_t st_fids[ST_FIBERS];
static long st_mx_ok, st_mx_count, st_rw_ok, st_rw_count, st_sem_inside;
static long st_cancels, st_done;

static void st_mutex(uint64_t r)
{
	int ret = r & 1 ? weft_mutex_lock(&mx)
			: weft_mutex_lock_until(&mx, after_ms(r % 3));

	if (ret) {
		CHECK(ret == -ECANCELED || ret == -ETIMEDOUT);
		return;
	}
	CHECK_EQ(__atomic_fetch_add(&inside, 1, __ATOMIC_RELAXED), 0);
	st_mx_count++;
	if (r & 6)
		weft_yield();
	__atomic_fetch_sub(&inside, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&st_mx_ok, 1, __ATOMIC_RELAXED);
	CHECK_EQ(weft_mutex_unlock(&mx), 0);
}

static void st_rwlock(uint64_t r)
{
	bool write = !(r & 3);
	int ret;

	ret = write ? weft_rwlock_wrlock_until(&rw, r & 4 ? WEFT_FOREVER
							 : after_ms(1))
		    : weft_rwlock_rdlock_until(&rw, r & 4 ? WEFT_FOREVER
							  : after_ms(1));
	if (ret) {
		CHECK(ret == -ECANCELED || ret == -ETIMEDOUT);
		return;
	}
	if (write) {
		st_rw_count++;
		__atomic_fetch_add(&st_rw_ok, 1, __ATOMIC_RELAXED);
	}
	if (r & 8)
		weft_yield();
	CHECK_EQ(weft_rwlock_unlock(&rw), 0);
}

static void st_sem(uint64_t r)
{
	int ret = weft_sem_wait_until(&sem, r & 1 ? WEFT_FOREVER : 0);

	if (ret) {
		CHECK(ret == -ECANCELED || ret == -EAGAIN);
		return;
	}
	CHECK(__atomic_add_fetch(&st_sem_inside, 1, __ATOMIC_RELAXED) <= 2);
	weft_yield();
	__atomic_fetch_sub(&st_sem_inside, 1, __ATOMIC_RELAXED);
	CHECK_EQ(weft_sem_post(&sem), 0);
}

static void *st_fiber(void *arg)
{
	uint64_t r = st_seed + (long)arg * 0x9e3779b97f4a7c15ULL;

	for (int i = 0; i < ST_OPS; i++) {
		uint64_t x = xorshift(&r);

		switch (x % 3) {
		case 0:
			st_mutex(x >> 8);
			break;
		case 1:
			st_rwlock(x >> 8);
			break;
		default:
			st_sem(x >> 8);
		}
	}
	__atomic_fetch_add(&st_done, 1, __ATOMIC_RELEASE);
	CHECK_EQ(weft_wg_done(&wg), 0);
	return NULL;
}

static void *st_canceller(void *arg)
{
	uint64_t r = st_seed ^ 0x5555;

	(void)arg;
	while (__atomic_load_n(&st_done, __ATOMIC_ACQUIRE) < ST_FIBERS) {
		uint64_t fid = st_fids[xorshift(&r) % ST_FIBERS];

		if (fid && !weft_cancel(fid))
			st_cancels++;
		weft_yield();
	}
	return NULL;
}

static void *sync_stress(void *arg)
{
	uint64_t c;

	(void)arg;
	CHECK_EQ(weft_sem_init(&sem, 2), 0);
	CHECK_EQ(weft_wg_add(&wg, ST_FIBERS), 0);
	for (long i = 0; i < ST_FIBERS; i++)
		CHECK_EQ(weft_spawn(&st_fids[i], NULL, st_fiber, (void *)i), 0);
	c = go(st_canceller, NULL);
	CHECK_EQ(weft_wg_wait(&wg), 0);
	for (int i = 0; i < ST_FIBERS; i++)
		join(st_fids[i]);
	join(c);
	CHECK_EQ(st_mx_count, st_mx_ok);
	CHECK_EQ(st_rw_count, st_rw_ok);
	CHECK_EQ(st_sem_inside, 0);
	/* Both units are back. */
	CHECK_EQ(weft_sem_wait_until(&sem, 0), 0);
	CHECK_EQ(weft_sem_wait_until(&sem, 0), 0);
	CHECK_EQ(weft_sem_wait_until(&sem, 0), -EAGAIN);
	CHECK_EQ(weft_mutex_trylock(&mx), 0);
	CHECK_EQ(weft_rwlock_wrlock_until(&rw, 0), 0);
	return NULL;
}

TEST_F(sync, stress_random_ops_with_cancels)
{
	st_seed = test_seed();
	RUN(variant->workers, sync_stress, NULL);
	TH_LOG("mutex %ld, writes %ld, cancels %ld", st_mx_ok, st_rw_ok,
	       st_cancels);
}

TEST_HARNESS_MAIN
