// SPDX-License-Identifier: MIT
/*
 * Mutexes, condition variables, reader-writer locks, semaphores and wait
 * groups, for fibers on any worker and for plain OS threads.
 *
 * Each object is a zeroed-is-ready layout inside its public opaque struct:
 * a spinlock (struct weft_spin) that guards its state and its FIFO wait
 * list(s) of struct weft_waiter (waitq.h), and everyone parks through
 * weft__wait() (wait.c): queue a waiter with the lock held, let
 * weft__wait() drop the lock once the waiter's stack is idle, and on a
 * timeout or cancel relock and unlink the waiter if no waker did. A waker
 * unlinks, claims (a claim that fails means the waiter is leaving: take
 * the next), fills in the result and finishes the wake after dropping the
 * lock.
 *
 * Mutex: one state word. Lock and unlock without contention are one CAS
 * each and never touch the spinlock. Once somebody waits, unlock takes the
 * slow path and wakes the first waiter to compete for the lock again
 * ("wake and compete", as Go's sync.Mutex and glibc do): a running fiber
 * may barge in meanwhile, which keeps the lock busy instead of idle while
 * the woken waiter is scheduled. A woken waiter that loses goes back to
 * the head of the list and is marked: the next unlock hands the lock to it
 * directly, so a waiter loses at most once and waiters are served in FIFO
 * order. While a woken waiter is on its way (MX_WOKEN) unlock wakes no
 * other, so contention does not stampede.
 *
 * A condvar waiter queues on the condvar before it releases the mutex (so
 * no signal is lost), and after a wake-up retakes the mutex in the same
 * way as any locker. A cancel that lands during that retake is kept for
 * the fiber's next wait rather than thrown away with the wake-up.
 *
 * The other objects hand over directly under their spinlock: a semaphore
 * post gives its unit to the first waiter; an rwlock unlock gives the lock
 * to the readers queued behind a writer (as one batch) or else to the next
 * writer, and readers queue behind any waiting writer, so neither side
 * starves; a wait group wakes all its waiters at zero. No barging there,
 * and a woken waiter never retries.
 *
 * Every operation that succeeds without waiting is an await point
 * (weft__await()); one that waited has already given up the worker.
 *
 * Rejected designs
 *	- Always handing the mutex to the first waiter: a lock convoy, the
 *	  lock stays held by a fiber that is not running yet.
 *	- Pure barging: a waiter can lose forever to a fiber that relocks
 *	  in a loop.
 *	- Moving condvar waiters onto the mutex's list at signal time (wait
 *	  morphing): two objects' locks on the signal path for a saving
 *	  that only shows when the signaller holds the mutex.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"
#include "waitq.h"

#define CHECK_FITS(impl, pub)						\
	_Static_assert(sizeof(struct impl) <= sizeof(struct pub) &&	\
		       _Alignof(struct impl) <= _Alignof(struct pub),	\
		       #impl " does not fit in " #pub)

/* ---- mutex ---- */

#define MX_LOCKED	1U	/* somebody holds it */
#define MX_WAITERS	2U	/* somebody queued: unlock goes slow */
#define MX_WOKEN	4U	/* a woken waiter is coming to compete */

/* What a hand-off leaves in the waiter's result. */
#define MX_HANDED	1

struct mutex {
	/*
	 * MX_*. Changed by CAS on the fast paths; MX_WAITERS and MX_WOKEN
	 * change only with @lock held.
	 */
	uint32_t state;
	struct weft_spin lock;		/* protects @wq and the waiters */
	/*
	 * weft__caller_id() of the holder, 0 while none (relaxed atomics):
	 * written by the holder only, so a caller who reads its own id is
	 * the holder.
	 */
	uint64_t owner;
	/*
	 * Unused here: where pthread_mutex_t keeps its kind (offset 16) and
	 * the preload shim its recursion count, so that a pthread mutex,
	 * static initialisers included, is a weft mutex (tools/preload).
	 */
	uint32_t kind;
	uint32_t count;
	struct wq wq;			/* waiter.aux: 1 once it lost */
};
CHECK_FITS(mutex, weft_mutex);
_Static_assert(offsetof(struct mutex, kind) == 16, "pthread_mutex_t.__kind");

static inline struct mutex *to_mutex(struct weft_mutex *m)
{
	return (struct mutex *)m;
}

static inline bool mutex_trylock_fast(struct mutex *m)
{
	uint32_t s = 0;

	return __atomic_compare_exchange_n(&m->state, &s, MX_LOCKED, false,
					   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/*
 * The contended path of a lock. @waited says the caller has waited
 * already (cond_wait), so success is no await point. Returns 0 with the
 * lock held and @m->owner set, or -EBUSY, -ETIMEDOUT, -ECANCELED.
 */
static WEFT_NOINLINE int mutex_lock_slow(struct mutex *m, uint64_t me,
					 uint64_t deadline, bool waited)
{
	struct weft_spin *lock = &m->lock;
	struct weft_waiter wt;
	bool lost = false;
	uint32_t s;
	int st;

	weft_spin_lock(lock);
	for (;;) {
		s = __atomic_load_n(&m->state, __ATOMIC_RELAXED);
		if (!(s & MX_LOCKED)) {
			if (!__atomic_compare_exchange_n(&m->state, &s,
							 s | MX_LOCKED, false,
							 __ATOMIC_ACQUIRE,
							 __ATOMIC_RELAXED))
				continue;
			break;
		}
		if (!deadline) {
			weft_spin_unlock(lock);
			return -EBUSY;
		}
		/* Before queueing: an unlock from now on goes slow. */
		if (!(s & MX_WAITERS) &&
		    !__atomic_compare_exchange_n(&m->state, &s,
						 s | MX_WAITERS, false,
						 __ATOMIC_RELAXED,
						 __ATOMIC_RELAXED))
			continue;
		weft__waiter_init(&wt, NULL);
		wt.aux = lost;
		if (lost)
			wq_push_head(&m->wq, &wt);
		else
			wq_push(&m->wq, &wt);
		st = weft__wait(&wt, &lock, 1, deadline);
		if (st == WAIT_WOKEN && wt.result == MX_HANDED) {
			WRITE_ONCE(m->owner, me);
			return 0;
		}
		weft_spin_lock(lock);
		if (st != WAIT_WOKEN) {
			if (wq_linked(&wt)) {
				wq_del(&m->wq, &wt);
				if (wq_empty(&m->wq))
					__atomic_fetch_and(&m->state,
							   ~MX_WAITERS,
							   __ATOMIC_RELAXED);
			}
			weft_spin_unlock(lock);
			return weft__wait_errno(st);
		}
		/* Woken to compete: try again, first in line if we lose. */
		__atomic_fetch_and(&m->state, ~MX_WOKEN, __ATOMIC_RELAXED);
		waited = lost = true;
	}
	WRITE_ONCE(m->owner, me);
	weft_spin_unlock(lock);
	if (!waited)
		weft__await();
	return 0;
}

/* The caller holds @m, known; no await point. */
static WEFT_NOINLINE void mutex_unlock_slow(struct mutex *m)
{
	struct weft_waiter *wt = NULL;
	uint32_t s, rest;

	weft_spin_lock(&m->lock);
	s = __atomic_load_n(&m->state, __ATOMIC_RELAXED);
	if (!(s & MX_WOKEN))
		wt = wq_claim(&m->wq);
	rest = wq_empty(&m->wq) ? 0 : MX_WAITERS;
	if (s & MX_WOKEN) {
		/* Its waker's job is done: leave the lock to the race. */
		__atomic_fetch_and(&m->state, ~MX_LOCKED, __ATOMIC_RELEASE);
	} else if (!wt) {
		/* Every waiter was leaving anyway. */
		__atomic_store_n(&m->state, 0, __ATOMIC_RELEASE);
	} else if (wt->aux) {
		/* It lost a race once: give it the lock, still held. */
		wt->result = MX_HANDED;
		__atomic_store_n(&m->state, MX_LOCKED | rest,
				 __ATOMIC_RELAXED);
	} else {
		wt->result = 0;
		__atomic_store_n(&m->state, MX_WOKEN | rest,
				 __ATOMIC_RELEASE);
	}
	weft_spin_unlock(&m->lock);
	if (wt)
		weft__wake_finish(wt);
}

static inline int mutex_unlock(struct mutex *m)
{
	uint32_t s = MX_LOCKED;

	if (unlikely(READ_ONCE(m->owner) != weft__caller_id()))
		return -EPERM;
	WRITE_ONCE(m->owner, 0);
	if (!__atomic_compare_exchange_n(&m->state, &s, 0, false,
					 __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		mutex_unlock_slow(m);
	return 0;
}

/**
 * weft_mutex_lock_until() - take a mutex
 * @mx:		the mutex
 * @deadline_ns: when to give up (0: try once, WEFT_FOREVER: never)
 *
 * A waiter woken by an unlock competes with running callers; if it loses
 * it goes back to the head of the list and the next unlock hands it the
 * lock, so each waiter loses at most once.
 *
 * Return: 0, -EBUSY, -ETIMEDOUT, -ECANCELED, -EDEADLK.
 */
WEFT_EXPORT int weft_mutex_lock_until(struct weft_mutex *mx,
				      uint64_t deadline_ns)
{
	struct mutex *m = to_mutex(mx);
	uint64_t me = weft__caller_id();

	if (likely(mutex_trylock_fast(m))) {
		WRITE_ONCE(m->owner, me);
		weft__await();
		return 0;
	}
	if (READ_ONCE(m->owner) == me)
		return -EDEADLK;
	return mutex_lock_slow(m, me, deadline_ns, false);
}

/**
 * weft_mutex_lock() - take a mutex, waiting as long as it takes
 * @mx:		the mutex
 *
 * Return: 0, -ECANCELED, -EDEADLK.
 */
WEFT_EXPORT int weft_mutex_lock(struct weft_mutex *mx)
{
	return weft_mutex_lock_until(mx, WEFT_FOREVER);
}

/**
 * weft_mutex_trylock() - take a mutex if it is free
 * @mx:		the mutex
 *
 * Return: 0, -EBUSY, -EDEADLK.
 */
WEFT_EXPORT int weft_mutex_trylock(struct weft_mutex *mx)
{
	return weft_mutex_lock_until(mx, 0);
}

/**
 * weft_mutex_unlock() - release a mutex
 * @mx:		the mutex
 *
 * Return: 0, or -EPERM when the caller does not hold @mx.
 */
WEFT_EXPORT int weft_mutex_unlock(struct weft_mutex *mx)
{
	int ret = mutex_unlock(to_mutex(mx));

	if (!ret)
		weft__await();
	return ret;
}

/* ---- condition variable ---- */

struct condvar {
	struct weft_spin lock;		/* protects @wq */
	struct wq wq;
};
CHECK_FITS(condvar, weft_cond);

static inline struct condvar *to_cond(struct weft_cond *c)
{
	return (struct condvar *)c;
}

/*
 * Take @m back after a condvar wait, whatever happens: the caller must
 * hold it on return. A cancel that arrives meanwhile is not lost: it is
 * reported if the wait failed anyway, else requested again for the
 * fiber's next wait (the wake-up it got must not be thrown away).
 */
static int mutex_relock(struct mutex *m, uint64_t me, int ret)
{
	bool canceled = false;

	if (likely(mutex_trylock_fast(m))) {
		WRITE_ONCE(m->owner, me);
		return ret;
	}
	while (mutex_lock_slow(m, me, WEFT_FOREVER, true) == -ECANCELED)
		canceled = true;
	if (canceled) {
		if (ret)
			return -ECANCELED;
		weft_cancel(weft_self());
	}
	return ret;
}

/**
 * weft_cond_wait_until() - wait for a condition
 * @cv:		the condition variable
 * @mx:		a mutex the caller holds; released while waiting, held
 *		again on return, whatever the return value
 * @deadline_ns: when to give up; 0 returns -EAGAIN without releasing @mx
 *
 * A cancel that arrives while the mutex is being retaken after a wake-up
 * is kept for the fiber's next wait.
 *
 * Return: 0 (woken; check the condition again), -EAGAIN, -ETIMEDOUT,
 * -ECANCELED, -EPERM when the caller does not hold @mx.
 */
WEFT_EXPORT int weft_cond_wait_until(struct weft_cond *cv,
				     struct weft_mutex *mx,
				     uint64_t deadline_ns)
{
	struct condvar *c = to_cond(cv);
	struct mutex *m = to_mutex(mx);
	struct weft_spin *lock = &c->lock;
	uint64_t me = weft__caller_id();
	struct weft_waiter wt;
	int st;

	if (READ_ONCE(m->owner) != me)
		return -EPERM;
	if (!deadline_ns)
		return -EAGAIN;
	weft_spin_lock(lock);
	weft__waiter_init(&wt, NULL);
	wq_push(&c->wq, &wt);
	/* Queued first, so a signal sent right after this is not lost. */
	mutex_unlock(m);
	st = weft__wait(&wt, &lock, 1, deadline_ns);
	if (st != WAIT_WOKEN) {
		weft_spin_lock(lock);
		if (wq_linked(&wt))
			wq_del(&c->wq, &wt);
		weft_spin_unlock(lock);
	}
	return mutex_relock(m, me, weft__wait_errno(st));
}

WEFT_EXPORT int weft_cond_wait(struct weft_cond *cv, struct weft_mutex *mx)
{
	return weft_cond_wait_until(cv, mx, WEFT_FOREVER);
}

/**
 * weft_cond_signal() - wake one waiter of a condition variable
 * @cv:		the condition variable
 *
 * Return: 0.
 */
WEFT_EXPORT int weft_cond_signal(struct weft_cond *cv)
{
	struct condvar *c = to_cond(cv);
	struct weft_waiter *wt;

	weft_spin_lock(&c->lock);
	wt = wq_claim(&c->wq);
	weft_spin_unlock(&c->lock);
	if (wt)
		weft__wake_finish(wt);
	weft__await();
	return 0;
}

/**
 * weft_cond_broadcast() - wake every waiter of a condition variable
 * @cv:		the condition variable
 *
 * Return: 0.
 */
WEFT_EXPORT int weft_cond_broadcast(struct weft_cond *cv)
{
	struct condvar *c = to_cond(cv);
	WAKE_LIST(woken);

	weft_spin_lock(&c->lock);
	wq_claim_all(&c->wq, 0, &woken);
	weft_spin_unlock(&c->lock);
	wake_list_finish(&woken);
	weft__await();
	return 0;
}

/* ---- reader-writer lock ---- */

struct rwlock {
	struct weft_spin lock;		/* protects everything below */
	int32_t state;			/* readers in, or -1: a writer */
	uint64_t writer;		/* the writer's caller id, 0: none */
	struct wq rq;			/* readers; aux: caller id */
	struct wq wq;			/* writers; aux: caller id */
};
CHECK_FITS(rwlock, weft_rwlock);

static inline struct rwlock *to_rwlock(struct weft_rwlock *l)
{
	return (struct rwlock *)l;
}

/* Let every queued reader in. */
static void rw_admit_readers(struct rwlock *l, struct wake_list *woken)
{
	l->state += wq_claim_all(&l->rq, 0, woken);
}

/* Give the free lock to the first writer, if any. */
static bool rw_admit_writer(struct rwlock *l, struct wake_list *woken)
{
	struct weft_waiter *wt = wq_claim(&l->wq);

	if (!wt)
		return false;
	l->state = -1;
	l->writer = wt->aux;
	wt->result = 0;
	wake_list_add(woken, wt);
	return true;
}

/*
 * Queue the caller on @q and wait; on a timeout or cancel unlink it, and
 * if it was the last writer, let in the readers queued behind it.
 */
static int rw_wait(struct rwlock *l, struct wq *q, uint64_t me,
		   uint64_t deadline)
{
	struct weft_spin *lock = &l->lock;
	struct weft_waiter wt;
	WAKE_LIST(woken);
	int st;

	weft__waiter_init(&wt, NULL);
	wt.aux = me;
	wq_push(q, &wt);
	st = weft__wait(&wt, &lock, 1, deadline);
	if (st == WAIT_WOKEN)
		return 0;
	weft_spin_lock(lock);
	if (wq_linked(&wt)) {
		wq_del(q, &wt);
		if (q == &l->wq && wq_empty(q) && l->state >= 0)
			rw_admit_readers(l, &woken);
	}
	weft_spin_unlock(lock);
	wake_list_finish(&woken);
	return weft__wait_errno(st);
}

/**
 * weft_rwlock_rdlock_until() - take a reader-writer lock for reading
 * @rl:		the lock
 * @deadline_ns: when to give up (0: try once, WEFT_FOREVER: never)
 *
 * Waits while a writer holds the lock or waits for it, so a fiber that
 * takes the read lock twice can deadlock against a writer.
 *
 * Return: 0, -EBUSY, -ETIMEDOUT, -ECANCELED, -EDEADLK when the caller
 * holds it for writing, -EAGAIN when INT32_MAX readers hold it.
 */
WEFT_EXPORT int weft_rwlock_rdlock_until(struct weft_rwlock *rl,
					 uint64_t deadline_ns)
{
	struct rwlock *l = to_rwlock(rl);
	uint64_t me = weft__caller_id();

	weft_spin_lock(&l->lock);
	if (likely(l->state >= 0 && wq_empty(&l->wq))) {
		if (unlikely(l->state == INT32_MAX)) {
			weft_spin_unlock(&l->lock);
			return -EAGAIN;
		}
		l->state++;
		weft_spin_unlock(&l->lock);
		weft__await();
		return 0;
	}
	if (l->state < 0 && l->writer == me) {
		weft_spin_unlock(&l->lock);
		return -EDEADLK;
	}
	if (!deadline_ns) {
		weft_spin_unlock(&l->lock);
		return -EBUSY;
	}
	return rw_wait(l, &l->rq, me, deadline_ns);
}

/**
 * weft_rwlock_wrlock_until() - take a reader-writer lock for writing
 * @rl:		the lock
 * @deadline_ns: when to give up (0: try once, WEFT_FOREVER: never)
 *
 * Return: 0, -EBUSY, -ETIMEDOUT, -ECANCELED, -EDEADLK when the caller
 * holds it for writing already.
 */
WEFT_EXPORT int weft_rwlock_wrlock_until(struct weft_rwlock *rl,
					 uint64_t deadline_ns)
{
	struct rwlock *l = to_rwlock(rl);
	uint64_t me = weft__caller_id();

	weft_spin_lock(&l->lock);
	if (likely(l->state == 0)) {
		l->state = -1;
		l->writer = me;
		weft_spin_unlock(&l->lock);
		weft__await();
		return 0;
	}
	if (l->state < 0 && l->writer == me) {
		weft_spin_unlock(&l->lock);
		return -EDEADLK;
	}
	if (!deadline_ns) {
		weft_spin_unlock(&l->lock);
		return -EBUSY;
	}
	return rw_wait(l, &l->wq, me, deadline_ns);
}

WEFT_EXPORT int weft_rwlock_rdlock(struct weft_rwlock *rl)
{
	return weft_rwlock_rdlock_until(rl, WEFT_FOREVER);
}

WEFT_EXPORT int weft_rwlock_wrlock(struct weft_rwlock *rl)
{
	return weft_rwlock_wrlock_until(rl, WEFT_FOREVER);
}

/**
 * weft_rwlock_unlock() - release a reader-writer lock
 * @rl:		the lock
 *
 * A writer's unlock lets in every reader queued behind it as one batch,
 * then the next writer once they are done; the last reader's unlock lets
 * in the next writer. So neither side starves.
 *
 * Return: 0, or -EPERM when the lock is not held, or held for writing by
 * somebody else.
 */
WEFT_EXPORT int weft_rwlock_unlock(struct weft_rwlock *rl)
{
	struct rwlock *l = to_rwlock(rl);
	WAKE_LIST(woken);

	weft_spin_lock(&l->lock);
	if (l->state < 0) {
		if (l->writer != weft__caller_id()) {
			weft_spin_unlock(&l->lock);
			return -EPERM;
		}
		l->writer = 0;
		l->state = 0;
		rw_admit_readers(l, &woken);
		if (!l->state)
			rw_admit_writer(l, &woken);
	} else if (l->state > 0) {
		/* Readers queue only behind a writer: none left, let them. */
		if (!--l->state && !rw_admit_writer(l, &woken))
			rw_admit_readers(l, &woken);
	} else {
		weft_spin_unlock(&l->lock);
		return -EPERM;
	}
	weft_spin_unlock(&l->lock);
	wake_list_finish(&woken);
	weft__await();
	return 0;
}

/* ---- semaphore ---- */

struct sema {
	struct weft_spin lock;		/* protects @wq; held to add */
	/*
	 * Units available (atomics). Never above 0 while anybody waits: a
	 * post with a waiter gives its unit to the waiter instead, so a
	 * unit taken without @lock never jumps the queue.
	 */
	uint32_t count;
	struct wq wq;
};
CHECK_FITS(sema, weft_sem);

static inline struct sema *to_sem(struct weft_sem *s)
{
	return (struct sema *)s;
}

/**
 * weft_sem_init() - set a semaphore's count
 * @sm:		the semaphore, not in use
 * @count:	units available
 *
 * A zeroed semaphore is one with a count of 0.
 *
 * Return: 0, or -EINVAL for a count over INT32_MAX.
 */
WEFT_EXPORT int weft_sem_init(struct weft_sem *sm, unsigned int count)
{
	struct sema *s = to_sem(sm);

	if (count > INT32_MAX)
		return -EINVAL;
	memset(sm, 0, sizeof(*sm));
	__atomic_store_n(&s->count, count, __ATOMIC_RELEASE);
	return 0;
}

static bool sem_trydown(struct sema *s)
{
	uint32_t c = __atomic_load_n(&s->count, __ATOMIC_RELAXED);

	while (c)
		if (__atomic_compare_exchange_n(&s->count, &c, c - 1, false,
						__ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return true;
	return false;
}

/**
 * weft_sem_wait_until() - take a unit of a semaphore
 * @sm:		the semaphore
 * @deadline_ns: when to give up (0: try once, WEFT_FOREVER: never)
 *
 * Waiters are served in FIFO order.
 *
 * Return: 0, -EAGAIN, -ETIMEDOUT, -ECANCELED.
 */
WEFT_EXPORT int weft_sem_wait_until(struct weft_sem *sm, uint64_t deadline_ns)
{
	struct sema *s = to_sem(sm);
	struct weft_spin *lock = &s->lock;
	struct weft_waiter wt;
	int st;

	if (likely(sem_trydown(s)))
		goto out_await;
	weft_spin_lock(lock);
	if (sem_trydown(s)) {
		weft_spin_unlock(lock);
		goto out_await;
	}
	if (!deadline_ns) {
		weft_spin_unlock(lock);
		return -EAGAIN;
	}
	weft__waiter_init(&wt, NULL);
	wq_push(&s->wq, &wt);
	st = weft__wait(&wt, &lock, 1, deadline_ns);
	if (st == WAIT_WOKEN)
		return 0;	/* the poster handed us its unit */
	weft_spin_lock(lock);
	if (wq_linked(&wt))
		wq_del(&s->wq, &wt);
	weft_spin_unlock(lock);
	return weft__wait_errno(st);
out_await:
	weft__await();
	return 0;
}

WEFT_EXPORT int weft_sem_wait(struct weft_sem *sm)
{
	return weft_sem_wait_until(sm, WEFT_FOREVER);
}

/**
 * weft_sem_post() - give a unit back to a semaphore
 * @sm:		the semaphore
 *
 * Return: 0, or -EOVERFLOW when the count would pass INT32_MAX.
 */
WEFT_EXPORT int weft_sem_post(struct weft_sem *sm)
{
	struct sema *s = to_sem(sm);
	struct weft_waiter *wt;

	weft_spin_lock(&s->lock);
	wt = wq_claim(&s->wq);
	if (!wt) {
		if (__atomic_load_n(&s->count, __ATOMIC_RELAXED) >=
		    INT32_MAX) {
			weft_spin_unlock(&s->lock);
			return -EOVERFLOW;
		}
		__atomic_fetch_add(&s->count, 1, __ATOMIC_RELEASE);
	}
	weft_spin_unlock(&s->lock);
	if (wt)
		weft__wake_finish(wt);
	weft__await();
	return 0;
}

/* ---- wait group ---- */

struct waitgroup {
	struct weft_spin lock;		/* protects @wq and @count */
	uint32_t __pad;
	int64_t count;			/* also read locklessly */
	struct wq wq;
};
CHECK_FITS(waitgroup, weft_wg);

static inline struct waitgroup *to_wg(struct weft_wg *wg)
{
	return (struct waitgroup *)wg;
}

/**
 * weft_wg_add() - raise (or lower) a wait group's counter
 * @wgp:	the wait group
 * @n:		how much to add; may be negative
 *
 * When the counter reaches zero every waiter wakes.
 *
 * Return: 0, or -EINVAL when the counter would go negative or past
 * INT32_MAX.
 */
WEFT_EXPORT int weft_wg_add(struct weft_wg *wgp, int n)
{
	struct waitgroup *wg = to_wg(wgp);
	WAKE_LIST(woken);
	int64_t c;

	weft_spin_lock(&wg->lock);
	c = wg->count + n;
	if (c < 0 || c > INT32_MAX) {
		weft_spin_unlock(&wg->lock);
		return -EINVAL;
	}
	__atomic_store_n(&wg->count, c, __ATOMIC_RELEASE);
	if (!c)
		wq_claim_all(&wg->wq, 0, &woken);
	weft_spin_unlock(&wg->lock);
	wake_list_finish(&woken);
	weft__await();
	return 0;
}

WEFT_EXPORT int weft_wg_done(struct weft_wg *wgp)
{
	return weft_wg_add(wgp, -1);
}

/**
 * weft_wg_wait_until() - wait for a wait group's counter to reach zero
 * @wgp:	the wait group
 * @deadline_ns: when to give up (0: only check, WEFT_FOREVER: never)
 *
 * Return: 0, -EAGAIN, -ETIMEDOUT, -ECANCELED.
 */
WEFT_EXPORT int weft_wg_wait_until(struct weft_wg *wgp, uint64_t deadline_ns)
{
	struct waitgroup *wg = to_wg(wgp);
	struct weft_spin *lock = &wg->lock;
	struct weft_waiter wt;
	int st;

	if (__atomic_load_n(&wg->count, __ATOMIC_ACQUIRE) == 0)
		goto out_await;
	weft_spin_lock(lock);
	if (!wg->count) {
		weft_spin_unlock(lock);
		goto out_await;
	}
	if (!deadline_ns) {
		weft_spin_unlock(lock);
		return -EAGAIN;
	}
	weft__waiter_init(&wt, NULL);
	wq_push(&wg->wq, &wt);
	st = weft__wait(&wt, &lock, 1, deadline_ns);
	if (st == WAIT_WOKEN)
		return 0;
	weft_spin_lock(lock);
	if (wq_linked(&wt))
		wq_del(&wg->wq, &wt);
	weft_spin_unlock(lock);
	return weft__wait_errno(st);
out_await:
	weft__await();
	return 0;
}

WEFT_EXPORT int weft_wg_wait(struct weft_wg *wgp)
{
	return weft_wg_wait_until(wgp, WEFT_FOREVER);
}
