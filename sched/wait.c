// SPDX-License-Identifier: MIT
/*
 * Waiting on objects: the one park/wake protocol every sync object,
 * channel, select and sleep goes through.
 *
 * A fiber's wait word is seq << 8 | state. seq names one wait of one fiber
 * and is unique in the process (a worker counter with the worker's index in
 * its low bits), so a late waker, timer or cancel holding an old word can
 * never hit a later wait. Whoever moves the word out of WAIT_WAITING with a
 * CAS owns the fiber's wake-up; everyone else leaves it alone.
 *
 * Fiber, step by step:
 *	1. With the object's lock held, the fiber queues a waiter naming
 *	   itself and a fresh seq (weft__waiter_init), then switches away
 *	   (weft__wait). Nobody can claim it yet: its word still holds an
 *	   older seq, and the lock hides the waiter.
 *	2. Once its stack is idle, wait_commit (the switch's post) adds its
 *	   timer, stores seq|WAITING (release), and only then drops the
 *	   locks: a waker that finds the waiter finds it claimable.
 *	3. A waker CASes WAITING -> WOKEN (acq_rel) and readies it; a timer
 *	   CASes -> TIMEDOUT; a cancel -> CANCELED. One wins.
 *	4. Cancel is Dekker-style: weft_cancel() stores cancel_fid then
 *	   loads the word; the commit stores the word then loads cancel_fid,
 *	   so at least one of them sees the other. The barrier is
 *	   asymmetric (internal.h): membarrier in the rare weft_cancel(),
 *	   a compiler barrier in the commit every wait makes. Whoever acts
 *	   first spends the request by CAS on cancel_fid, then claims the
 *	   wait: one request, one cancelled wait (cancel_try()).
 *
 * An OS thread waits the same way on its waiter's tstate with a futex;
 * its waker first CASes WAITING -> CLAIMED, fills the result in, then
 * stores WOKEN (release) and wakes the futex, so the thread never reads a
 * half-written result, and its timeout cannot steal a claimed wake.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define STATE(word)	((unsigned int)((word) & 0xff))

static uint64_t next_seq(struct weft_worker *w)
{
	return ++w->nwaits << 10 | w->index;
}

void weft__waiter_init(struct weft_waiter *wt, struct weft_waiter *leader)
{
	struct weft_worker *w = weft__cur_worker;
	struct weft_fiber *f = w ? w->cur : NULL;

	wt->next = wt->prev = NULL;
	wt->leader = leader ? leader : wt;
	wt->fiber = f;
	wt->fired = NULL;
	wt->done = NULL;
	wt->result = 0;
	if (leader)
		return;
	if (f) {
		wt->seq = next_seq(w);
	} else {
		weft__note_foreign();
		wt->tstate = WAIT_WAITING;
	}
}

static void unlock_all(struct weft_spin **locks, unsigned int n)
{
	while (n--)
		weft_spin_unlock(locks[n]);
}

/* Move @f's wait @word to @to; the winner readies it. */
static bool claim(struct weft_fiber *f, uint64_t word, unsigned int to)
{
	return __atomic_compare_exchange_n(&f->wait_word, &word,
					   (word & ~0xffULL) | to, false,
					   __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

/*
 * Act on a cancel request for @fid against the fiber's current wait.
 * One request cancels one wait: whoever takes the request (this CAS, or
 * the fiber's own early check in weft__wait) spends it, and only then
 * claims a wait with it. If that wait ended otherwise in between, the
 * request is put back for the next wait, and looked at again: the fiber
 * may have committed its next wait without seeing it (found by the Spin
 * model, tests/model/wait.pml: a request spent early, then a later wait
 * cancelled by the same request).
 */
static void cancel_try(struct weft_fiber *f, uint64_t fid)
{
	for (;;) {
		uint64_t word = __atomic_load_n(&f->wait_word, __ATOMIC_SEQ_CST);
		uint64_t expect = fid;

		/* The id read after the word proves the word is @fid's. */
		if (__atomic_load_n(&f->id, __ATOMIC_ACQUIRE) != fid ||
		    STATE(word) != WAIT_WAITING)
			return;		/* armed for its next wait */
		if (!__atomic_compare_exchange_n(&f->cancel_fid, &expect, 0,
						 false, __ATOMIC_ACQ_REL,
						 __ATOMIC_RELAXED))
			return;		/* spent by someone else */
		if (claim(f, word, WAIT_CANCELED)) {
			weft__ready_any(f);
			return;
		}
		/* That wait ended otherwise: back for the next one. */
		__atomic_store_n(&f->cancel_fid, fid, __ATOMIC_SEQ_CST);
		weft__heavy_barrier();
	}
}

/* Post of a waiting fiber's switch: make it claimable (step 2). */
static void wait_commit(struct weft_worker *w, struct weft_fiber *f)
{
	uint64_t word = f->wait_seq << 8 | WAIT_WAITING;
	uint64_t fid = f->id;
	bool *done = f->wait_done;	/* f may run elsewhere once unlocked */
	bool no_timer;

	/*
	 * The timer first: once the word says WAITING a cancel may ready
	 * the fiber, which then reads timer_w. Only this worker fires its
	 * timers, so this one cannot fire before the store below.
	 */
	no_timer = f->wait_deadline != WEFT_FOREVER &&
		   weft__timer_add(w, f, f->wait_deadline, f->wait_seq);
	/* Release: a waker that takes the lock after us sees WAITING. */
	__atomic_store_n(&f->wait_word, word, __ATOMIC_RELEASE);
	/* The locks array is on f's stack: done with it before any ready. */
	unlock_all(f->wait_locks, f->wait_nlocks);
	if (unlikely(no_timer) && claim(f, word, WAIT_TIMEDOUT)) {
		weft__ready(w, f);	/* no memory for a timer: time out */
		return;
	}
	/*
	 * An I/O wait whose completion this worker reaped between queueing
	 * it and this commit (its claim found the word not yet WAITING).
	 * The ring's completions run on this thread: no race with them.
	 */
	if (done && *done && claim(f, word, WAIT_WOKEN)) {
		weft__ready(w, f);
		return;
	}
	/*
	 * From here the fiber may already run elsewhere: touch nothing but
	 * the word (the CAS fails if this wait is over) and the cancel
	 * request, compared with the id read before the unlock. The word's
	 * store before the cancel's load: see step 4.
	 */
	weft__light_barrier();
	if (__atomic_load_n(&f->cancel_fid, __ATOMIC_RELAXED) == fid)
		cancel_try(f, fid);
}

static int thread_wait(struct weft_waiter *wt, struct weft_spin **locks,
		       unsigned int nlocks, uint64_t deadline)
{
	struct timespec ts = {
		.tv_sec = deadline / 1000000000ULL,
		.tv_nsec = deadline % 1000000000ULL,
	};

	unlock_all(locks, nlocks);
	for (;;) {
		uint32_t s = __atomic_load_n(&wt->tstate, __ATOMIC_ACQUIRE);
		uint32_t expect = WAIT_WAITING;

		if (s == WAIT_WOKEN)
			return WAIT_WOKEN;
		if (s == WAIT_CLAIMED || deadline == WEFT_FOREVER) {
			weft__futex(&wt->tstate, FUTEX_WAIT_BITSET, s, NULL);
			continue;
		}
		if (weft_now_ns() < deadline &&
		    (weft__futex(&wt->tstate, FUTEX_WAIT_BITSET, s, &ts) == 0 ||
		     weft_now_ns() < deadline))
			continue;
		if (__atomic_compare_exchange_n(&wt->tstate, &expect,
						WAIT_TIMEDOUT, false,
						__ATOMIC_ACQUIRE,
						__ATOMIC_ACQUIRE))
			return WAIT_TIMEDOUT;
	}
}

int weft__wait(struct weft_waiter *wt, struct weft_spin **locks,
	       unsigned int nlocks, uint64_t deadline)
{
	struct weft_worker *w = weft__cur_worker;
	struct weft_fiber *self = wt->fiber;
	uint64_t word, expect;

	if (!self)
		return thread_wait(wt, locks, nlocks, deadline);
	/*
	 * Not yet claimable (its word holds an older seq), so giving up
	 * here needs no CAS: a waker that finds the waiter fails its claim.
	 */
	if (deadline != WEFT_FOREVER && deadline <= weft_now_ns()) {
		unlock_all(locks, nlocks);
		return WAIT_TIMEDOUT;
	}
	expect = self->id;
	if (__atomic_load_n(&self->cancel_fid, __ATOMIC_RELAXED) == expect &&
	    __atomic_compare_exchange_n(&self->cancel_fid, &expect, 0, false,
					__ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
		/* The request, spent here: nobody else may use it. */
		unlock_all(locks, nlocks);
		return WAIT_CANCELED;
	}
	self->wait_locks = locks;
	self->wait_nlocks = nlocks;
	self->wait_done = wt->done;
	self->wait_deadline = deadline;
	self->wait_seq = wt->seq;
	WRITE_ONCE(self->state, FIBER_PARKED);
	w->post = wait_commit;
	w->post_f = self;
	weft__park(w, self);
	/* Acquire: pairs with the winner's CAS, so its writes are seen. */
	word = __atomic_load_n(&self->wait_word, __ATOMIC_ACQUIRE);
	if (self->timer_w && STATE(word) != WAIT_TIMEDOUT)
		weft__timer_del(self, wt->seq);
	return STATE(word);
}

bool weft__wake_claim(struct weft_waiter *wt)
{
	struct weft_waiter *l = wt->leader;
	uint32_t expect = WAIT_WAITING;
	bool won;

	if (l->fiber)
		won = claim(l->fiber, l->seq << 8 | WAIT_WAITING, WAIT_WOKEN);
	else
		won = __atomic_compare_exchange_n(&l->tstate, &expect,
						  WAIT_CLAIMED, false,
						  __ATOMIC_ACQUIRE,
						  __ATOMIC_RELAXED);
	if (won)
		l->fired = wt;
	return won;
}

void weft__wake_finish(struct weft_waiter *wt)
{
	struct weft_waiter *l = wt->leader;

	if (l->fiber) {
		weft__ready_any(l->fiber);
		return;
	}
	/* Release: the result is written before the thread sees WOKEN. */
	__atomic_store_n(&l->tstate, WAIT_WOKEN, __ATOMIC_RELEASE);
	weft__futex(&l->tstate, FUTEX_WAKE, 1, NULL);
}

WEFT_EXPORT int weft_cancel(uint64_t fid)
{
	struct weft_fiber *f = weft__lookup(fid);

	if (!f || READ_ONCE(f->state) == FIBER_DONE)
		return -EINVAL;
	__atomic_store_n(&f->cancel_fid, fid, __ATOMIC_SEQ_CST);
	weft__heavy_barrier();
	/* Ids only change when a slot is reaped, and never come back. */
	if (__atomic_load_n(&f->id, __ATOMIC_ACQUIRE) != fid)
		return -EINVAL;
	cancel_try(f, fid);
	return 0;
}

bool weft__membarrier;

/* Once per runtime: can the rare side of a barrier pair use membarrier? */
void weft__barrier_init(void)
{
#ifndef WEFT_TSAN
	if (!weft__membarrier &&
	    !syscall(SYS_membarrier,
		     MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0))
		weft__membarrier = true;
#endif
}

void weft__heavy_barrier(void)
{
	/* Cannot fail once registered. */
	if (weft__membarrier)
		syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
	else
		weft__light_barrier();	/* a full fence without membarrier */
}

void weft__await(void)
{
	struct weft_worker *w = weft__cur_worker;
	struct weft_fiber *f = w ? w->cur : NULL;

	if (!f)
		return;
	/* An await point: the monitor's stall clock starts over. */
	__atomic_store_n(&w->switches, w->switches + 1, __ATOMIC_RELAXED);
	if (unlikely(!--f->budget)) {
		f->budget = w->budget;
		weft_yield();
	}
}

uint64_t weft__caller_id(void)
{
	struct weft_worker *w = weft__cur_worker;

	if (w && w->cur)
		return w->cur->id;
	return 1ULL << 63 | (uint64_t)gettid();
}

WEFT_EXPORT int weft_sleep_until_ns(uint64_t deadline_ns)
{
	struct weft_worker *w = weft__cur_worker;
	struct weft_waiter wt;
	int st;

	if (unlikely(!w || !w->cur))
		return -EPERM;
	if (deadline_ns <= weft_now_ns()) {
		weft__await();
		return 0;
	}
	weft__waiter_init(&wt, NULL);
	st = weft__wait(&wt, NULL, 0, deadline_ns);
	return st == WAIT_CANCELED ? -ECANCELED : 0;
}

WEFT_EXPORT int weft_sleep_ns(uint64_t ns)
{
	uint64_t now = weft_now_ns();

	if (!ns)
		return weft_yield();
	/* Saturate: a huge @ns means forever, not a wrapped past deadline. */
	return weft_sleep_until_ns(ns < WEFT_FOREVER - now ? now + ns
							  : WEFT_FOREVER);
}
