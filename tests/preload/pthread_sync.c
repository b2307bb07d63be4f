// SPDX-License-Identifier: MIT
/*
 * pthread_sync.c - the pthread API a program sees, with NTHREADS threads
 * where contention matters: identity (self, equal, join on self), mutex
 * kinds and their exact error codes (recursive depth, errorcheck EDEADLK and
 * EPERM, trylock EBUSY, timedlock and clocklock ETIMEDOUT), a mutex held
 * across a blocking read, condition variables (broadcast, timedwait on a
 * CLOCK_MONOTONIC condattr, clockwait), rwlocks (readers together, try and
 * timed forms), barriers (one PTHREAD_BARRIER_SERIAL_THREAD per round),
 * spinlocks, once, keys with destructors (run at exit and re-run when they
 * set a value again), pthread_exit values, cleanup handlers, detached
 * threads, small stacks, and __thread values that stay per thread.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <unistd.h>

#include "preload.h"

#define NTHREADS	64
#define ITERS		2000
#define TIMEO_MS	100

static bool waited(int64_t t0)
{
	return ms_since(t0) >= TIMEO_MS / 2;
}

/* ---- identity ---------------------------------------------------------- */

static pthread_t seen_self[NTHREADS];

static void *record_self(void *arg)
{
	seen_self[(intptr_t)arg] = pthread_self();
	return NULL;
}

static void test_identity(void)
{
	pthread_t t[NTHREADS];
	int same = 0, distinct = 1;

	for (int i = 0; i < NTHREADS; i++)
		t[i] = spawn(record_self, (void *)(intptr_t)i);
	for (int i = 0; i < NTHREADS; i++) {
		join(t[i]);
		same += pthread_equal(t[i], seen_self[i]) != 0;
		if (pthread_equal(seen_self[i], pthread_self()))
			distinct = 0;
	}
	for (int i = 1; i < NTHREADS; i++)
		if (pthread_equal(seen_self[i], seen_self[0]))
			distinct = 0;
	printf("pthread_self matches pthread_create: %d of %d, distinct from "
	       "main and each other: %s\n", same, NTHREADS, yesno(distinct));
	printf("pthread_join(self): %s\n",
	       errname(pthread_join(pthread_self(), NULL)));
}

/*
 * __thread values stay per thread across a blocking read, and main keeps
 * what a constructor stored before it.
 */
static __thread int tls_id = -1;
static __thread int tls_ctor;

__attribute__((constructor)) static void set_tls_ctor(void)
{
	tls_ctor = 7;
}
static int tls_pipe[NTHREADS][2];

static void *tls_user(void *arg)
{
	int i = (intptr_t)arg;
	char c;

	if (tls_id != -1)
		return NULL;
	tls_id = i;
	CHECK_EQ(read(tls_pipe[i][0], &c, 1), 1);
	return (void *)(intptr_t)(tls_id == i);
}

static void test_tls(void)
{
	pthread_t t[NTHREADS];
	int right = 0;

	tls_id = 1000;
	for (int i = 0; i < NTHREADS; i++) {
		CHECK_EQ(pipe(tls_pipe[i]), 0);
		t[i] = spawn(tls_user, (void *)(intptr_t)i);
	}
	for (int i = 0; i < NTHREADS; i++) {
		CHECK_EQ(write(tls_pipe[i][1], "x", 1), 1);
		right += (intptr_t)join(t[i]);
		close(tls_pipe[i][0]);
		close(tls_pipe[i][1]);
	}
	printf("__thread: %d of %d threads started at -1 and kept their value "
	       "across a blocking read; main's %d, set before main %d\n",
	       right, NTHREADS, tls_id, tls_ctor);
}

/*
 * Deferred cancellation: a thread blocked in read() (a cancellation
 * point) ends there, its cleanup handler runs and join sees
 * PTHREAD_CANCELED; with cancellation disabled the read completes, and the
 * pending cancel acts at the next pthread_testcancel() once enabled.
 */
static int cancel_pipe[2][2];
static int cancel_cleanups, cancel_reads;

static void cancel_cleanup(void *arg)
{
	__atomic_fetch_add(&cancel_cleanups, (intptr_t)arg, __ATOMIC_RELAXED);
}

static void *blocked_reader(void *arg)
{
	char c;

	(void)arg;
	pthread_cleanup_push(cancel_cleanup, (void *)1);
	CHECK_EQ(write(cancel_pipe[1][1], "r", 1), 1);	/* about to block */
	if (read(cancel_pipe[0][0], &c, 1) == 1)
		cancel_reads++;
	pthread_cleanup_pop(0);
	return NULL;
}

static void *disabled_reader(void *arg)
{
	char c;
	int old;

	(void)arg;
	CHECK_PT(pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old));
	pthread_cleanup_push(cancel_cleanup, (void *)10);
	CHECK_EQ(write(cancel_pipe[1][1], "r", 1), 1);
	if (read(cancel_pipe[0][0], &c, 1) == 1)
		cancel_reads++;
	CHECK_PT(pthread_setcancelstate(old, NULL));
	pthread_testcancel();
	cancel_reads += 100;		/* not reached */
	pthread_cleanup_pop(0);
	return NULL;
}

static void test_cancel(void)
{
	pthread_t t;
	char c;

	CHECK_EQ(pipe(cancel_pipe[0]), 0);
	CHECK_EQ(pipe(cancel_pipe[1]), 0);
	t = spawn(blocked_reader, NULL);
	CHECK_EQ(read(cancel_pipe[1][0], &c, 1), 1);
	CHECK_PT(pthread_cancel(t));
	printf("cancel a thread blocked in read(): join %s\n",
	       join(t) == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "a value");
	t = spawn(disabled_reader, NULL);
	CHECK_EQ(read(cancel_pipe[1][0], &c, 1), 1);
	CHECK_PT(pthread_cancel(t));
	CHECK_EQ(write(cancel_pipe[0][1], "x", 1), 1);
	printf("cancel while disabled, then testcancel: join %s\n",
	       join(t) == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "a value");
	printf("reads completed: %d, cleanup handlers: %d\n", cancel_reads,
	       cancel_cleanups);
	for (int i = 0; i < 2; i++) {
		close(cancel_pipe[i][0]);
		close(cancel_pipe[i][1]);
	}
}

/*
 * pthread_exit() from a key destructor, while the thread is exiting: join
 * sees the new value, and nothing crashes. (glibc then skips the other
 * keys' destructors, weft-run runs them: not compared.)
 */
static pthread_key_t exit_key, other_key;
static int other_dtor_runs;

static void exit_again(void *v)
{
	(void)v;
	pthread_exit((void *)42);
}

static void other_dtor(void *v)
{
	(void)v;
	other_dtor_runs++;
}

static void *sets_keys(void *arg)
{
	(void)arg;
	CHECK_PT(pthread_setspecific(exit_key, (void *)1));
	CHECK_PT(pthread_setspecific(other_key, (void *)1));
	return (void *)1;
}

static void test_exit_in_destructor(void)
{
	void *v;

	CHECK_PT(pthread_key_create(&exit_key, exit_again));
	CHECK_PT(pthread_key_create(&other_key, other_dtor));
	v = join(spawn(sets_keys, NULL));
	printf("pthread_exit in a key destructor: join %ld\n",
	       (long)(intptr_t)v);
	CHECK_PT(pthread_key_delete(exit_key));
	CHECK_PT(pthread_key_delete(other_key));
}

/* ---- mutexes ----------------------------------------------------------- */

static pthread_mutex_t counter_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t rec_static = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static pthread_mutex_t err_static = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
static long counter;

static void *increment(void *arg)
{
	pthread_mutex_t *m = arg;

	for (int i = 0; i < ITERS; i++) {
		CHECK_PT(pthread_mutex_lock(m));
		counter++;
		CHECK_PT(pthread_mutex_unlock(m));
	}
	return NULL;
}

static long run_incrementers(void *(*fn)(void *), void *arg)
{
	pthread_t t[NTHREADS];

	counter = 0;
	for (int i = 0; i < NTHREADS; i++)
		t[i] = spawn(fn, arg);
	for (int i = 0; i < NTHREADS; i++)
		join(t[i]);
	return counter;
}

static void *recursive_increment(void *arg)
{
	pthread_mutex_t *m = arg;

	for (int i = 0; i < ITERS / 4; i++) {
		for (int d = 0; d < 4; d++)
			CHECK_PT(pthread_mutex_lock(m));
		counter++;
		for (int d = 0; d < 4; d++)
			CHECK_PT(pthread_mutex_unlock(m));
	}
	return NULL;
}

/* Results of calls made from another thread while main holds a mutex. */
struct other {
	pthread_mutex_t *m;
	bool try_unlock;	/* unlocking a normal mutex not ours is UB */
	int trylock, unlock, timedlock, clocklock;
	bool timed_waited, clock_waited;
};

static void *other_thread(void *arg)
{
	struct other *o = arg;
	struct timespec ts;
	int64_t t0;

	o->trylock = pthread_mutex_trylock(o->m);
	if (o->try_unlock)
		o->unlock = pthread_mutex_unlock(o->m);
	ts = deadline_ms(CLOCK_REALTIME, TIMEO_MS);
	t0 = now_ns();
	o->timedlock = pthread_mutex_timedlock(o->m, &ts);
	o->timed_waited = waited(t0);
	ts = deadline_ms(CLOCK_MONOTONIC, TIMEO_MS);
	t0 = now_ns();
	o->clocklock = pthread_mutex_clocklock(o->m, CLOCK_MONOTONIC, &ts);
	o->clock_waited = waited(t0);
	return NULL;
}

static void contend(const char *kind, pthread_mutex_t *m, bool try_unlock)
{
	struct other o = { .m = m, .try_unlock = try_unlock };

	CHECK_PT(pthread_mutex_lock(m));
	join(spawn(other_thread, &o));
	printf("%s held by main: trylock %s", kind, errname(o.trylock));
	if (try_unlock)
		printf(", unlock %s", errname(o.unlock));
	printf(", timedlock %s (waited: %s), clocklock %s (waited: %s)\n",
	       errname(o.timedlock), yesno(o.timed_waited),
	       errname(o.clocklock), yesno(o.clock_waited));
	CHECK_PT(pthread_mutex_unlock(m));
}

static pthread_mutex_t *mutex_of(int type)
{
	pthread_mutex_t *m = malloc(sizeof(*m));
	pthread_mutexattr_t a;

	CHECK(m != NULL);
	CHECK_PT(pthread_mutexattr_init(&a));
	CHECK_PT(pthread_mutexattr_settype(&a, type));
	CHECK_PT(pthread_mutex_init(m, &a));
	CHECK_PT(pthread_mutexattr_destroy(&a));
	return m;
}

static void test_mutexes(void)
{
	pthread_mutex_t *rec = mutex_of(PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_t *chk = mutex_of(PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_t *nrm = mutex_of(PTHREAD_MUTEX_NORMAL);
	int type;

	printf("normal mutex, %d threads x %d: %ld\n", NTHREADS, ITERS,
	       run_incrementers(increment, &counter_mu));
	printf("recursive mutex (depth 4), %d threads x %d: %ld\n", NTHREADS,
	       ITERS / 4, run_incrementers(recursive_increment, rec));
	printf("static recursive initializer, %d threads x %d: %ld\n",
	       NTHREADS, ITERS / 4,
	       run_incrementers(recursive_increment, &rec_static));
	printf("errorcheck mutex, %d threads x %d: %ld\n", NTHREADS, ITERS,
	       run_incrementers(increment, chk));

	/* One call per statement: argument order is unspecified. */
	CHECK_PT(pthread_mutex_lock(rec));
	printf("recursive: relock %s", errname(pthread_mutex_lock(rec)));
	printf(", trylock %s", errname(pthread_mutex_trylock(rec)));
	printf(", unlocks %s", errname(pthread_mutex_unlock(rec)));
	printf(" %s", errname(pthread_mutex_unlock(rec)));
	printf(" %s", errname(pthread_mutex_unlock(rec)));
	printf(", extra unlock %s\n", errname(pthread_mutex_unlock(rec)));
	CHECK_PT(pthread_mutex_lock(chk));
	printf("errorcheck: relock %s", errname(pthread_mutex_lock(chk)));
	printf(", trylock %s", errname(pthread_mutex_trylock(chk)));
	printf(", unlock %s", errname(pthread_mutex_unlock(chk)));
	printf(", unlock again %s\n", errname(pthread_mutex_unlock(chk)));
	CHECK_PT(pthread_mutex_lock(&err_static));
	printf("static errorcheck initializer: relock %s\n",
	       errname(pthread_mutex_lock(&err_static)));
	CHECK_PT(pthread_mutex_unlock(&err_static));
	CHECK_PT(pthread_mutex_lock(nrm));
	printf("normal: trylock on own lock %s\n",
	       errname(pthread_mutex_trylock(nrm)));
	CHECK_PT(pthread_mutex_unlock(nrm));
	{
		pthread_mutexattr_t a;

		pthread_mutexattr_init(&a);
		pthread_mutexattr_gettype(&a, &type);
		printf("default mutexattr type is PTHREAD_MUTEX_DEFAULT: %s\n",
		       yesno(type == PTHREAD_MUTEX_DEFAULT));
		pthread_mutexattr_destroy(&a);
	}

	contend("normal", nrm, false);
	contend("recursive", rec, true);
	contend("errorcheck", chk, true);
	{
		/* POSIX leaves a free mutex's bad timespec unchecked. */
		struct timespec ts = { 0, 1000000000L };

		CHECK_PT(pthread_mutex_lock(nrm));
		printf("timedlock, held, tv_nsec 1e9: %s\n",
		       errname(pthread_mutex_timedlock(nrm, &ts)));
		CHECK_PT(pthread_mutex_unlock(nrm));
	}
	CHECK_PT(pthread_mutex_destroy(nrm));
	CHECK_PT(pthread_mutex_destroy(rec));
	CHECK_PT(pthread_mutex_destroy(chk));
	free(nrm);
	free(rec);
	free(chk);
}

/* One thread sleeps in read() holding a mutex; the others queue on it. */
static pthread_mutex_t io_mu = PTHREAD_MUTEX_INITIALIZER;
static int held_pipe[2], go_pipe[2];

static void *hold_across_read(void *arg)
{
	char c;

	(void)arg;
	CHECK_PT(pthread_mutex_lock(&io_mu));
	CHECK_EQ(write(held_pipe[1], "h", 1), 1);
	CHECK_EQ(read(go_pipe[0], &c, 1), 1);
	CHECK_EQ(c, 'g');
	counter++;
	CHECK_PT(pthread_mutex_unlock(&io_mu));
	return NULL;
}

static void *queue_on_mutex(void *arg)
{
	(void)arg;
	CHECK_PT(pthread_mutex_lock(&io_mu));
	counter++;
	CHECK_PT(pthread_mutex_unlock(&io_mu));
	return NULL;
}

static void test_mutex_across_io(void)
{
	pthread_t holder, t[NTHREADS];
	char c;

	CHECK_EQ(pipe(held_pipe), 0);
	CHECK_EQ(pipe(go_pipe), 0);
	counter = 0;
	holder = spawn(hold_across_read, NULL);
	CHECK_EQ(read(held_pipe[0], &c, 1), 1);
	CHECK_EQ(c, 'h');
	for (int i = 0; i < NTHREADS; i++)
		t[i] = spawn(queue_on_mutex, NULL);
	CHECK_EQ(write(go_pipe[1], "g", 1), 1);
	join(holder);
	for (int i = 0; i < NTHREADS; i++)
		join(t[i]);
	printf("mutex held across a blocking read, %d waiters: %ld\n",
	       NTHREADS, counter);
	close(held_pipe[0]);
	close(held_pipe[1]);
	close(go_pipe[0]);
	close(go_pipe[1]);
}

/* ---- condition variables ----------------------------------------------- */

static pthread_mutex_t cv_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t cv_done = PTHREAD_COND_INITIALIZER;
static int generation, arrived, items, taken;

static void *cv_waiter(void *arg)
{
	(void)arg;
	CHECK_PT(pthread_mutex_lock(&cv_mu));
	arrived++;
	pthread_cond_signal(&cv_done);
	while (generation == 0)
		CHECK_PT(pthread_cond_wait(&cv, &cv_mu));
	/* Then take NTHREADS items one by one from a producer. */
	for (;;) {
		while (items == 0 && taken < NTHREADS * 4)
			CHECK_PT(pthread_cond_wait(&cv, &cv_mu));
		if (taken == NTHREADS * 4)
			break;
		items--;
		taken++;
		pthread_cond_signal(&cv_done);
	}
	CHECK_PT(pthread_mutex_unlock(&cv_mu));
	return NULL;
}

static void test_cond_broadcast(void)
{
	pthread_t t[NTHREADS];

	for (int i = 0; i < NTHREADS; i++)
		t[i] = spawn(cv_waiter, NULL);
	CHECK_PT(pthread_mutex_lock(&cv_mu));
	while (arrived < NTHREADS)
		CHECK_PT(pthread_cond_wait(&cv_done, &cv_mu));
	generation = 1;
	CHECK_PT(pthread_cond_broadcast(&cv));
	for (int i = 0; i < NTHREADS * 4; i++) {
		while (items > 0)
			CHECK_PT(pthread_cond_wait(&cv_done, &cv_mu));
		items++;
		CHECK_PT(pthread_cond_signal(&cv));
	}
	while (taken < NTHREADS * 4)
		CHECK_PT(pthread_cond_wait(&cv_done, &cv_mu));
	CHECK_PT(pthread_cond_broadcast(&cv));
	CHECK_PT(pthread_mutex_unlock(&cv_mu));
	for (int i = 0; i < NTHREADS; i++)
		join(t[i]);
	printf("cond: %d waiters released by broadcast, %d items signalled "
	       "one by one, taken %d\n", arrived, NTHREADS * 4, taken);
}

static pthread_cond_t mono_cv;
static int mono_flag;

static void *mono_signaller(void *arg)
{
	(void)arg;
	CHECK_PT(pthread_mutex_lock(&cv_mu));
	mono_flag = 1;
	CHECK_PT(pthread_cond_signal(&mono_cv));
	CHECK_PT(pthread_mutex_unlock(&cv_mu));
	return NULL;
}

static void test_cond_timed(void)
{
	pthread_condattr_t ca;
	struct timespec ts;
	clockid_t clk;
	pthread_t t;
	int64_t t0;
	int r;

	CHECK_PT(pthread_condattr_init(&ca));
	CHECK_PT(pthread_condattr_setclock(&ca, CLOCK_MONOTONIC));
	CHECK_PT(pthread_condattr_getclock(&ca, &clk));
	CHECK_PT(pthread_cond_init(&mono_cv, &ca));
	printf("condattr clock is CLOCK_MONOTONIC: %s\n",
	       yesno(clk == CLOCK_MONOTONIC));
	printf("condattr_setclock(CLOCK_THREAD_CPUTIME_ID): %s\n",
	       errname(pthread_condattr_setclock(&ca, CLOCK_THREAD_CPUTIME_ID)));
	CHECK_PT(pthread_condattr_destroy(&ca));

	CHECK_PT(pthread_mutex_lock(&cv_mu));
	ts = deadline_ms(CLOCK_MONOTONIC, TIMEO_MS);
	t0 = now_ns();
	r = pthread_cond_timedwait(&mono_cv, &cv_mu, &ts);
	printf("timedwait (monotonic condattr), nobody signals: %s, "
	       "waited: %s\n", errname(r), yesno(waited(t0)));
	CHECK_EQ(pthread_mutex_trylock(&cv_mu), EBUSY);	/* relocked */

	ts = deadline_ms(CLOCK_REALTIME, TIMEO_MS);
	t0 = now_ns();
	r = pthread_cond_timedwait(&cv, &cv_mu, &ts);
	printf("timedwait (default realtime), nobody signals: %s, waited: %s\n",
	       errname(r), yesno(waited(t0)));
	ts = deadline_ms(CLOCK_MONOTONIC, TIMEO_MS);
	t0 = now_ns();
	r = pthread_cond_clockwait(&cv, &cv_mu, CLOCK_MONOTONIC, &ts);
	printf("clockwait monotonic, nobody signals: %s, waited: %s\n",
	       errname(r), yesno(waited(t0)));
	ts = (struct timespec){ 0, 0 };
	printf("timedwait, deadline in the past: %s\n",
	       errname(pthread_cond_timedwait(&cv, &cv_mu, &ts)));

	t = spawn(mono_signaller, NULL);
	ts = deadline_ms(CLOCK_MONOTONIC, 30000);
	r = 0;
	while (!mono_flag && r == 0)
		r = pthread_cond_timedwait(&mono_cv, &cv_mu, &ts);
	printf("timedwait, signalled in time: %s, flag %d\n", errname(r),
	       mono_flag);
	CHECK_PT(pthread_mutex_unlock(&cv_mu));
	join(t);
	CHECK_PT(pthread_cond_destroy(&mono_cv));
}

/* ---- rwlocks ----------------------------------------------------------- */

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_barrier_t rw_bar;

/* Every reader holds the lock while waiting for all the others. */
static void *reader_together(void *arg)
{
	(void)arg;
	CHECK_PT(pthread_rwlock_rdlock(&rw));
	pthread_barrier_wait(&rw_bar);
	CHECK_PT(pthread_rwlock_unlock(&rw));
	return NULL;
}

static void *rw_writer(void *arg)
{
	(void)arg;
	for (int i = 0; i < ITERS / 4; i++) {
		CHECK_PT(pthread_rwlock_wrlock(&rw));
		counter++;
		CHECK_PT(pthread_rwlock_unlock(&rw));
		CHECK_PT(pthread_rwlock_rdlock(&rw));
		CHECK(counter > 0);
		CHECK_PT(pthread_rwlock_unlock(&rw));
	}
	return NULL;
}

struct rw_try {
	int tryrd, trywr, timedrd, timedwr, clockwr;
	bool timed_waited;
};

static void *rw_tryer(void *arg)
{
	struct rw_try *r = arg;
	struct timespec ts;
	int64_t t0;

	r->tryrd = pthread_rwlock_tryrdlock(&rw);
	if (!r->tryrd)
		pthread_rwlock_unlock(&rw);
	r->trywr = pthread_rwlock_trywrlock(&rw);
	ts = deadline_ms(CLOCK_REALTIME, TIMEO_MS);
	r->timedrd = pthread_rwlock_timedrdlock(&rw, &ts);
	if (!r->timedrd)
		pthread_rwlock_unlock(&rw);
	ts = deadline_ms(CLOCK_REALTIME, TIMEO_MS);
	t0 = now_ns();
	r->timedwr = pthread_rwlock_timedwrlock(&rw, &ts);
	r->timed_waited = waited(t0);
	ts = deadline_ms(CLOCK_MONOTONIC, TIMEO_MS);
	r->clockwr = pthread_rwlock_clockwrlock(&rw, CLOCK_MONOTONIC, &ts);
	return NULL;
}

static void test_rwlock(void)
{
	pthread_t t[NTHREADS];
	struct rw_try r;

	pthread_barrier_init(&rw_bar, NULL, NTHREADS);
	for (int i = 0; i < NTHREADS; i++)
		t[i] = spawn(reader_together, NULL);
	for (int i = 0; i < NTHREADS; i++)
		join(t[i]);
	pthread_barrier_destroy(&rw_bar);
	printf("rwlock: %d readers held it at once\n", NTHREADS);

	printf("rwlock writers and readers, %d threads x %d: %ld\n", NTHREADS,
	       ITERS / 4, run_incrementers(rw_writer, NULL));

	CHECK_PT(pthread_rwlock_rdlock(&rw));
	join(spawn(rw_tryer, &r));
	printf("read-held: tryrdlock %s, trywrlock %s, timedrdlock %s, "
	       "timedwrlock %s (waited: %s), clockwrlock %s\n",
	       errname(r.tryrd), errname(r.trywr), errname(r.timedrd),
	       errname(r.timedwr), yesno(r.timed_waited), errname(r.clockwr));
	CHECK_PT(pthread_rwlock_unlock(&rw));
	CHECK_PT(pthread_rwlock_wrlock(&rw));
	join(spawn(rw_tryer, &r));
	printf("write-held: tryrdlock %s, trywrlock %s, timedrdlock %s, "
	       "timedwrlock %s (waited: %s), clockwrlock %s\n",
	       errname(r.tryrd), errname(r.trywr), errname(r.timedrd),
	       errname(r.timedwr), yesno(r.timed_waited), errname(r.clockwr));
	printf("write-held: own trywrlock %s\n",
	       errname(pthread_rwlock_trywrlock(&rw)));
	CHECK_PT(pthread_rwlock_unlock(&rw));
}

/* ---- barriers, spinlocks, once ------------------------------------------ */

#define ROUNDS 10

static pthread_barrier_t bar;
static int serial_count;
static int round_sum[ROUNDS];

static void *barrier_worker(void *arg)
{
	for (int r = 0; r < ROUNDS; r++) {
		int ret;

		__atomic_fetch_add(&round_sum[r], (intptr_t)arg,
				   __ATOMIC_RELAXED);
		ret = pthread_barrier_wait(&bar);
		CHECK(ret == 0 || ret == PTHREAD_BARRIER_SERIAL_THREAD);
		if (ret == PTHREAD_BARRIER_SERIAL_THREAD)
			__atomic_fetch_add(&serial_count, 1, __ATOMIC_RELAXED);
		/* Everyone of this round has arrived. */
		CHECK_EQ(__atomic_load_n(&round_sum[r], __ATOMIC_RELAXED),
			 NTHREADS * (NTHREADS - 1) / 2);
	}
	return NULL;
}

static void test_barrier(void)
{
	pthread_barrierattr_t ba;
	pthread_t t[NTHREADS];
	pthread_barrier_t b1;
	int r;

	CHECK_PT(pthread_barrierattr_init(&ba));
	CHECK_PT(pthread_barrier_init(&bar, &ba, NTHREADS));
	CHECK_PT(pthread_barrierattr_destroy(&ba));
	for (int i = 0; i < NTHREADS; i++)
		t[i] = spawn(barrier_worker, (void *)(intptr_t)i);
	for (int i = 0; i < NTHREADS; i++)
		join(t[i]);
	printf("barrier: %d threads x %d rounds, serial threads %d\n",
	       NTHREADS, ROUNDS, serial_count);
	CHECK_PT(pthread_barrier_destroy(&bar));
	printf("barrier count 0: %s\n",
	       errname(pthread_barrier_init(&b1, NULL, 0)));
	CHECK_PT(pthread_barrier_init(&b1, NULL, 1));
	r = pthread_barrier_wait(&b1);
	printf("barrier count 1: wait returns serial: %s\n",
	       yesno(r == PTHREAD_BARRIER_SERIAL_THREAD));
	pthread_barrier_destroy(&b1);
}

static pthread_spinlock_t spin;

static void *spin_increment(void *arg)
{
	(void)arg;
	for (int i = 0; i < ITERS; i++) {
		CHECK_PT(pthread_spin_lock(&spin));
		counter++;
		CHECK_PT(pthread_spin_unlock(&spin));
	}
	return NULL;
}

static void *spin_try(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)pthread_spin_trylock(&spin);
}

static void test_spin(void)
{
	CHECK_PT(pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE));
	printf("spinlock, %d threads x %d: %ld\n", NTHREADS, ITERS,
	       run_incrementers(spin_increment, NULL));
	CHECK_PT(pthread_spin_lock(&spin));
	printf("spin_trylock while held: %s\n",
	       errname((intptr_t)join(spawn(spin_try, NULL))));
	CHECK_PT(pthread_spin_unlock(&spin));
	CHECK_PT(pthread_spin_destroy(&spin));
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int once_runs, once_seen;

static void once_init(void)
{
	struct timespec ts = { 0, 20 * 1000000L };

	/* Sleeping inside the init routine: the others must wait for it. */
	nanosleep(&ts, NULL);
	__atomic_fetch_add(&once_runs, 1, __ATOMIC_RELAXED);
}

static void *once_caller(void *arg)
{
	(void)arg;
	CHECK_PT(pthread_once(&once, once_init));
	if (__atomic_load_n(&once_runs, __ATOMIC_RELAXED) == 1)
		__atomic_fetch_add(&once_seen, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void test_once(void)
{
	pthread_t t[NTHREADS];

	for (int i = 0; i < NTHREADS; i++)
		t[i] = spawn(once_caller, NULL);
	for (int i = 0; i < NTHREADS; i++)
		join(t[i]);
	printf("pthread_once from %d threads: init ran %d time(s), "
	       "finished before every return: %d\n", NTHREADS, once_runs,
	       once_seen);
}

/* ---- keys, exit, cleanup, detach ---------------------------------------- */

static pthread_key_t key, key2;
static long dtor_calls, dtor_sum, dtor2_calls;

static void key_dtor(void *v)
{
	__atomic_fetch_add(&dtor_calls, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&dtor_sum, (intptr_t)v, __ATOMIC_RELAXED);
}

/* Sets its value again once: glibc calls it a second time. */
static void key2_dtor(void *v)
{
	__atomic_fetch_add(&dtor2_calls, 1, __ATOMIC_RELAXED);
	if ((intptr_t)v == 1)
		pthread_setspecific(key2, (void *)2);
}

static int cleanup_runs;

static void cleanup(void *arg)
{
	__atomic_fetch_add(&cleanup_runs, (intptr_t)arg, __ATOMIC_RELAXED);
}

static void exit_from_deep(int i)
{
	pthread_exit((void *)(intptr_t)(i * 3));
}

static void *key_user(void *arg)
{
	int i = (intptr_t)arg;

	CHECK(pthread_getspecific(key) == NULL);
	CHECK_PT(pthread_setspecific(key, (void *)(intptr_t)(i + 1)));
	CHECK_EQ((intptr_t)pthread_getspecific(key), i + 1);
	CHECK_PT(pthread_setspecific(key2, (void *)1));
	pthread_cleanup_push(cleanup, (void *)1);
	if (i % 2)
		exit_from_deep(i);
	pthread_cleanup_pop(0);
	return (void *)(intptr_t)(i * 3);
}

static void test_keys_and_exit(void)
{
	pthread_t t[NTHREADS];
	int right = 0;

	CHECK_PT(pthread_key_create(&key, key_dtor));
	CHECK_PT(pthread_key_create(&key2, key2_dtor));
	CHECK_PT(pthread_setspecific(key, (void *)1000));
	for (int i = 0; i < NTHREADS; i++)
		t[i] = spawn(key_user, (void *)(intptr_t)i);
	for (int i = 0; i < NTHREADS; i++)
		right += (intptr_t)join(t[i]) == i * 3;
	printf("join values (half via pthread_exit): %d of %d right\n", right,
	       NTHREADS);
	printf("key destructors: %ld calls, values sum %ld; re-set value: "
	       "%ld calls\n", dtor_calls, dtor_sum, dtor2_calls);
	printf("cleanup handlers run by pthread_exit: %d\n", cleanup_runs);
	printf("main's value untouched: %ld\n", (long)(intptr_t)
	       pthread_getspecific(key));
	CHECK_PT(pthread_setspecific(key, NULL));
	CHECK_PT(pthread_key_delete(key));
	CHECK_PT(pthread_key_delete(key2));
}

static pthread_mutex_t det_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t det_cv = PTHREAD_COND_INITIALIZER;
static int det_done;

static void *detached(void *arg)
{
	char big[32 * 1024];	/* fits the 128 KiB stack it asked for */

	memset(big, (intptr_t)arg, sizeof(big));
	CHECK_PT(pthread_mutex_lock(&det_mu));
	det_done += big[sizeof(big) - 1] == (char)(intptr_t)arg;
	CHECK_PT(pthread_cond_signal(&det_cv));
	CHECK_PT(pthread_mutex_unlock(&det_mu));
	return NULL;
}

static void test_detach(void)
{
	pthread_attr_t a;
	pthread_t t;
	size_t sz;
	int st;

	CHECK_PT(pthread_attr_init(&a));
	CHECK_PT(pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED));
	CHECK_PT(pthread_attr_setstacksize(&a, 128 * 1024));
	CHECK_PT(pthread_attr_getstacksize(&a, &sz));
	CHECK_PT(pthread_attr_getdetachstate(&a, &st));
	printf("attr: stack %zu KiB, detached %s\n", sz / 1024,
	       yesno(st == PTHREAD_CREATE_DETACHED));
	for (int i = 0; i < NTHREADS / 2; i++)
		CHECK_PT(pthread_create(&t, &a, detached, (void *)(intptr_t)i));
	CHECK_PT(pthread_attr_destroy(&a));
	for (int i = NTHREADS / 2; i < NTHREADS; i++) {
		CHECK_PT(pthread_create(&t, NULL, detached,
					(void *)(intptr_t)i));
		CHECK_PT(pthread_detach(t));
	}
	CHECK_PT(pthread_mutex_lock(&det_mu));
	while (det_done < NTHREADS)
		CHECK_PT(pthread_cond_wait(&det_cv, &det_mu));
	CHECK_PT(pthread_mutex_unlock(&det_mu));
	printf("detached threads (attr and pthread_detach) finished: %d\n",
	       det_done);
}

int main(void)
{
	preload_init();
	test_identity();
	test_tls();
	test_mutexes();
	test_mutex_across_io();
	test_cond_broadcast();
	test_cond_timed();
	test_rwlock();
	test_barrier();
	test_spin();
	test_once();
	test_keys_and_exit();
	test_cancel();
	test_exit_in_destructor();
	test_detach();
	printf("done\n");
	return 0;
}
