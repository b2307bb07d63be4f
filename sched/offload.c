// SPDX-License-Identifier: MIT
/*
 * The offload pool: calls with no asynchronous form (getaddrinfo, flock,
 * waitpid, slow filesystem metadata) run on a few plain threads while the
 * calling fiber parks.
 *
 * A job is @fn, @arg and a pointer to its caller's struct offload_call (on
 * the caller's stack), in a bounded FIFO ring. The caller waits on the
 * call's waiter through the common protocol (wait.c) with the pool's
 * spinlock as the wait's lock, so no pool thread can find the call before
 * the fiber is parked and claimable. A pool thread takes the oldest job,
 * runs it with the lock dropped, then with the lock held again claims the
 * waiter and stores the result, and readies the fiber after unlocking.
 *
 * A blocking call in another thread cannot be interrupted, so a deadline
 * or weft_cancel() only ends the wait: the job stays where it is (queued
 * or running) and is detached from its call (the link between them is
 * cleared under the lock from whichever side ends it, through
 * call->where), and the thread that runs it drops the result and never
 * touches the caller's stack. Every accepted job therefore runs exactly
 * once, and whatever @fn uses must outlive it: the caller hands it over.
 *
 * Threads start on demand, when a job finds none idle, up to
 * WEFT_OFFLOAD_THREADS. An idle thread sleeps on its own futex word, on a
 * LIFO list (the most recently idle is woken first, so the others age
 * out), and exits after IDLE_NS without work. The pool belongs to the
 * running runtime: weft__offload_fini(), at the end of weft_run(),
 * detaches the calls of fibers that will never run again (after
 * weft_shutdown()), lets the threads finish every job still queued, and
 * joins them; a new runtime starts a new pool.
 *
 * Everything in struct pool is protected by pool.lock unless it says
 * otherwise. The lock is never held across a blocking call: threads run
 * jobs and sleep with it dropped, and thread creation and joins happen
 * outside it. The one system call under it is the FUTEX_WAKE of an idle
 * thread, which has to come before the submitting fiber parks.
 *
 * Rejected designs
 *	- A pthread mutex and condvar for the queue: the waiting fiber's
 *	  lock must be a weft_spin, released by the wait's commit.
 *	- A malloc per job: a failure mode per call; the ring's slots and
 *	  the callers' stack frames need none.
 *	- Dropping a queued job whose caller gave up: the caller could not
 *	  tell whether @fn ran, so nobody would know who frees @arg.
 *	- Threads that never exit: up to 256 idle threads kept for good.
 *	- Creating threads with the lock held: a clone() and an 8 MiB mmap
 *	  while every other submitter spins.
 */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../lib/env.h"
#include "../lib/log.h"
#include "internal.h"

#define QUEUE_MAX	WEFT_OFFLOAD_QUEUE_MAX	/* a power of two */
#define THREADS_MAX	256
#define THREADS_DEFAULT	4
#define IDLE_NS		1000000000ULL	/* an idle thread exits after this */

_Static_assert(!(QUEUE_MAX & (QUEUE_MAX - 1)), "QUEUE_MAX: a power of two");

/* A caller's side of a job, on its stack while it waits. */
struct offload_call {
	struct weft_waiter wt;
	/*
	 * The pointer to this call held by its job (a ring slot's or the
	 * running thread's), or NULL once the job let go of it: the thread
	 * clears it when done, the caller (through it) when it gives up.
	 */
	struct offload_call **where;
	void *result;			/* by the claimer, before the ready */
};

struct job {
	void *(*fn)(void *);
	void *arg;
	struct offload_call *call;	/* NULL: detached, result dropped */
};

enum slot_state {
	SLOT_FREE = 0,
	SLOT_STARTING,			/* reserved by a submitter */
	SLOT_LIVE,
	SLOT_DEAD,			/* exited (or exiting), not yet joined */
};

struct othread {
	pthread_t tid;			/* written by the starter only */
	struct othread *next_idle;
	struct offload_call *call;	/* the running job's; NULL: none or
					   detached */
	uint32_t kick;			/* futex: taken off the idle list */
	uint8_t state;			/* enum slot_state */
};

static struct pool {
	struct weft_spin lock;
	bool ready;			/* set up for the running runtime */
	bool stopping;			/* weft__offload_fini() runs */
	int err;			/* -EINVAL: bad WEFT_OFFLOAD_THREADS */
	unsigned int max;		/* WEFT_OFFLOAD_THREADS */
	/* STARTING and LIVE slots; atomic stores, read by the runtime. */
	unsigned int nthreads;
	/*
	 * Submissions in progress and jobs not yet finished (atomic RMW).
	 * Dropped only after the job's caller is readied, so a reader that
	 * sees 0 sees every wake the pool made.
	 */
	unsigned int pending;
	uint32_t head, len;		/* the ring: oldest job, job count */
	struct othread *idle;		/* LIFO of idle threads */
	struct othread threads[THREADS_MAX];
	struct job ring[QUEUE_MAX];
} pool;

static WEFT_TLS bool in_pool;		/* this thread is a pool thread */

/* Read WEFT_OFFLOAD_THREADS once per runtime. */
static int setup_locked(void)
{
	unsigned long v = THREADS_DEFAULT;

	if (likely(pool.ready))
		return pool.err;
	pool.err = weft_env_uint("WEFT_OFFLOAD_THREADS", THREADS_DEFAULT, 1,
				 THREADS_MAX, &v);
	pool.max = v;
	pool.ready = true;
	return pool.err;
}

/* Wake the most recently idle thread, if any, to look at the ring. */
static void kick_locked(void)
{
	struct othread *t = pool.idle;

	if (!t)
		return;
	pool.idle = t->next_idle;
	__atomic_store_n(&t->kick, 1, __ATOMIC_RELEASE);
	weft__futex(&t->kick, FUTEX_WAKE, 1, NULL);
}

static void push_locked(void *(*fn)(void *), void *arg,
			struct offload_call *call)
{
	struct job *j = &pool.ring[(pool.head + pool.len++) & (QUEUE_MAX - 1)];

	j->fn = fn;
	j->arg = arg;
	j->call = call;
	if (call)
		call->where = &j->call;
}

/* Take the oldest job; its call, if any, now hangs off @t. */
static struct job pop_locked(struct othread *t)
{
	struct job j = pool.ring[pool.head];

	pool.head = (pool.head + 1) & (QUEUE_MAX - 1);
	pool.len--;
	t->call = j.call;
	if (j.call)
		j.call->where = &t->call;
	return j;
}

/* Give @t's caller its result, unless it stopped waiting. */
static void job_done(struct othread *t, void *result)
{
	struct offload_call *call;
	bool won = false;

	weft_spin_lock(&pool.lock);
	call = t->call;
	t->call = NULL;
	if (call) {
		/* Still linked, so the caller has not left: its stack holds. */
		call->where = NULL;
		won = weft__wake_claim(&call->wt);
		if (won)
			call->result = result;
	}
	weft_spin_unlock(&pool.lock);
	/* Claimed: the caller stays parked until this readies it. */
	if (won)
		weft__wake_finish(&call->wt);
	/* After the wake: see pool.pending. */
	__atomic_sub_fetch(&pool.pending, 1, __ATOMIC_SEQ_CST);
}

/*
 * Sleep on the idle list, with the lock held and dropped meanwhile, until
 * kicked or IDLE_NS pass. False: time to exit.
 */
static bool idle_wait(struct othread *t)
{
	uint64_t deadline = weft_now_ns() + IDLE_NS;
	struct timespec ts = {
		.tv_sec = deadline / 1000000000ULL,
		.tv_nsec = deadline % 1000000000ULL,
	};
	struct othread **pp;

	t->kick = 0;
	t->next_idle = pool.idle;
	pool.idle = t;
	weft_spin_unlock(&pool.lock);
	while (!__atomic_load_n(&t->kick, __ATOMIC_ACQUIRE) &&
	       weft_now_ns() < deadline)
		weft__futex(&t->kick, FUTEX_WAIT_BITSET, 0, &ts);
	weft_spin_lock(&pool.lock);
	if (t->kick)
		return true;
	/* Timed out, and nobody took it off the list meanwhile. */
	for (pp = &pool.idle; *pp != t; pp = &(*pp)->next_idle)
		;
	*pp = t->next_idle;
	return pool.len;	/* a job nobody was kicked for: take it */
}

static void *thread_main(void *p)
{
	struct othread *t = p;

	in_pool = true;
	pthread_setname_np(pthread_self(), "weft-offload");
	weft_spin_lock(&pool.lock);
	t->state = SLOT_LIVE;
	for (;;) {
		struct job j;

		if (pool.len) {
			j = pop_locked(t);
			weft_spin_unlock(&pool.lock);
			job_done(t, j.fn(j.arg));
			weft_spin_lock(&pool.lock);
			continue;
		}
		if (pool.stopping || !idle_wait(t))
			break;
	}
	t->state = SLOT_DEAD;
	__atomic_store_n(&pool.nthreads, pool.nthreads - 1, __ATOMIC_RELAXED);
	weft_spin_unlock(&pool.lock);
	return NULL;
}

/* A slot for one more thread; *@joinable if it holds an exited one. */
static struct othread *reserve_locked(bool *joinable)
{
	unsigned int i;

	for (i = 0; i < THREADS_MAX; i++) {
		struct othread *t = &pool.threads[i];

		if (t->state == SLOT_FREE || t->state == SLOT_DEAD) {
			*joinable = t->state == SLOT_DEAD;
			t->state = SLOT_STARTING;
			__atomic_store_n(&pool.nthreads, pool.nthreads + 1,
					 __ATOMIC_RELAXED);
			return t;
		}
	}
	return NULL;	/* can't happen: nthreads < max <= THREADS_MAX */
}

/*
 * Start a thread in slot @t, without the lock. All signals blocked: they
 * keep going where they went before the pool existed.
 */
static int thread_start(struct othread *t, bool joinable)
{
	sigset_t all, old;
	int err;

	if (joinable)
		pthread_join(t->tid, NULL);	/* it is past its last lock */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&t->tid, NULL, thread_main, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -err;
}

/* Start a thread for the caller's job if none is idle; lock held. */
static void grow_locked(void)
{
	struct othread *t;
	bool joinable = false;

	if (pool.idle || pool.nthreads >= pool.max)
		return;
	t = reserve_locked(&joinable);
	if (WEFT_WARN_ON_ONCE(!t))
		return;
	weft_spin_unlock(&pool.lock);
	if (thread_start(t, joinable)) {
		weft_spin_lock(&pool.lock);
		t->state = SLOT_FREE;
		__atomic_store_n(&pool.nthreads, pool.nthreads - 1,
				 __ATOMIC_RELAXED);
		return;
	}
	weft_spin_lock(&pool.lock);
}

static int submit(void *(*fn)(void *), void *arg, void **result,
		  uint64_t deadline_ns)
{
	struct weft_spin *lock = &pool.lock;
	struct offload_call call;
	int ret, st;

	weft_spin_lock(lock);
	ret = setup_locked();
	if (unlikely(ret))
		goto out_unlock;
	/* Counted from here, so the runtime sees us while we start threads. */
	__atomic_add_fetch(&pool.pending, 1, __ATOMIC_SEQ_CST);
	ret = -EAGAIN;
	if (pool.len == QUEUE_MAX)
		goto out_unpend;
	grow_locked();			/* may drop the lock a while */
	if (pool.len == QUEUE_MAX || !pool.nthreads)
		goto out_unpend;
	weft__waiter_init(&call.wt, NULL);
	call.result = NULL;
	push_locked(fn, arg, &call);
	kick_locked();
	st = weft__wait(&call.wt, &lock, 1, deadline_ns);
	if (st == WAIT_WOKEN) {
		if (result)
			*result = call.result;
		return 0;
	}
	/* Detach the job, queued or running: it goes on without us. */
	weft_spin_lock(lock);
	if (call.where)
		*call.where = NULL;
	weft_spin_unlock(lock);
	return weft__wait_errno(st);
out_unpend:
	__atomic_sub_fetch(&pool.pending, 1, __ATOMIC_SEQ_CST);
out_unlock:
	weft_spin_unlock(lock);
	return ret;
}

/**
 * weft_offload_until() - run a blocking call on the offload pool
 * @fn:		the call
 * @arg:	its argument
 * @result:	where to store what @fn returned, or NULL
 * @deadline_ns: when to stop waiting (WEFT_FOREVER: never)
 *
 * See uapi/weft.h.
 *
 * Return: 0, -ETIMEDOUT, -ECANCELED, -EAGAIN, -EINVAL.
 */
WEFT_EXPORT int weft_offload_until(void *(*fn)(void *), void *arg,
				   void **result, uint64_t deadline_ns)
{
	struct weft_worker *w = weft__cur_worker;
	void *r;

	if (unlikely(!fn))
		return -EINVAL;
	if (w && w->cur)
		return submit(fn, arg, result, deadline_ns);
	/* Not a fiber: blocking here blocks only the caller. */
	r = fn(arg);
	if (result)
		*result = r;
	return 0;
}

WEFT_EXPORT int weft_offload(void *(*fn)(void *), void *arg, void **result)
{
	return weft_offload_until(fn, arg, result, WEFT_FOREVER);
}

/* A job of weft__offload_sync(): on the caller's stack. */
struct sync_job {
	void *(*fn)(void *);
	void *arg;
	void *result;
	struct weft_wg done;
};

static void *sync_run(void *p)
{
	struct sync_job *j = p;

	j->result = j->fn(j->arg);
	weft_wg_done(&j->done);		/* the last touch of @j */
	return NULL;
}

int weft__offload_sync(void *(*fn)(void *), void *arg, void **result)
{
	struct sync_job j = { fn, arg, NULL, WEFT_WG_INIT };
	int r;

	weft_wg_add(&j.done, 1);
	r = weft_offload(sync_run, &j, NULL);
	if (r && r != -ECANCELED)
		return r;		/* never queued */
	/* The job uses @arg and our stack: wait for it whatever happens. */
	while (weft_wg_wait(&j.done) == -ECANCELED)
		;
	if (result)
		*result = j.result;
	return 0;
}

/*
 * For weft_run()'s configuration: read WEFT_OFFLOAD_THREADS now, so a bad
 * value fails the run rather than its first offload. Optional: the first
 * weft_offload() reads it otherwise.
 */
int weft__offload_init(void)
{
	int ret;

	weft_spin_lock(&pool.lock);
	pool.ready = false;
	ret = setup_locked();
	weft_spin_unlock(&pool.lock);
	return ret;
}

/*
 * At the end of weft_run(), once no worker runs and before any fiber's
 * stack goes: detach every call (a fiber left parked by weft_shutdown()
 * is never readied), let the threads run every job still queued, join
 * them, and forget the pool. Blocks as long as a job does.
 */
void weft__offload_fini(void)
{
	pthread_t tids[THREADS_MAX];
	unsigned int i, n = 0;

	weft_spin_lock(&pool.lock);
	if (!pool.ready) {
		weft_spin_unlock(&pool.lock);
		return;
	}
	pool.stopping = true;
	for (i = 0; i < pool.len; i++)
		pool.ring[(pool.head + i) & (QUEUE_MAX - 1)].call = NULL;
	for (i = 0; i < THREADS_MAX; i++) {
		struct othread *t = &pool.threads[i];

		t->call = NULL;
		/* No fiber runs: a STARTING thread's tid is written. */
		if (t->state != SLOT_FREE)
			tids[n++] = t->tid;
	}
	while (pool.idle)
		kick_locked();
	weft_spin_unlock(&pool.lock);
	for (i = 0; i < n; i++)
		pthread_join(tids[i], NULL);
	weft_spin_lock(&pool.lock);
	for (i = 0; i < THREADS_MAX; i++)
		pool.threads[i].state = SLOT_FREE;
	pool.ready = false;
	pool.stopping = false;
	pool.head = 0;
	__atomic_store_n(&pool.nthreads, 0, __ATOMIC_RELAXED);
	weft_spin_unlock(&pool.lock);
}

/*
 * For the deadlock check: may the pool still ready a fiber? Jobs queued or
 * running, or a submission under way. Read before the run queues: a 0
 * here means every wake the pool made is already in them.
 */
bool weft__offload_busy(void)
{
	return __atomic_load_n(&pool.pending, __ATOMIC_SEQ_CST) != 0;
}

/* Pool threads alive now (for counting the process's other threads). */
unsigned int weft__offload_threads(void)
{
	return __atomic_load_n(&pool.nthreads, __ATOMIC_RELAXED);
}

/* Is the caller a pool thread? (Its weft calls are not foreign.) */
bool weft__offload_self(void)
{
	return in_pool;
}
