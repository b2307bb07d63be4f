// SPDX-License-Identifier: MIT
/*
 * The weft scheduler core.
 *
 * Glossary
 *	fiber	a function running on its own fixed-size stack, with its
 *		descriptor (struct weft_fiber) at the top of that stack. Its id
 *		encodes the stack slot and a generation (see internal.h).
 *	worker	an OS thread that runs fibers, one at a time; one per CPU by
 *		default. Its scheduler loop runs on the thread's own stack and
 *		is entered only when the worker has nothing to run.
 *	context	a saved stack pointer (lib/switch.h); switching saves the
 *		callee-saved registers on the old stack and pops the new one's.
 *	post	work a context leaves for whatever runs next on its worker,
 *		to be done once its own stack is no longer in use (reaping a
 *		finished fiber, publishing a waiter).
 *	ready	make a parked fiber runnable; "wake" is reserved for workers.
 *	bound	a fiber that never changes worker (WEFT_BOUND).
 *
 * Where runnable fibers wait (all per worker except inject)
 *	runnext	the fiber readied last by this worker: it runs next, so a
 *		message and its reply stay hot in one core's cache. Never
 *		stolen, only rescued by the monitor (so it changes by
 *		exchange when there are several workers). At most 3 picks in
 *		a row while other work waits, so a ping-pong pair cannot
 *		starve the queue.
 *	runq	a 256-slot ring (Go's runq): the owner pushes at the tail;
 *		the owner and thieves take from the head by CAS. A full ring
 *		moves half of itself to inject. With one worker nobody
 *		steals, and the owner takes without a CAS.
 *	local	a private FIFO of bound fibers: never stolen.
 *	inbox	a Treiber stack where other threads push fibers readied for
 *		this worker (bound ones, or spawned with WEFT_ON_WORKER).
 *	inject	the runtime's FIFO under a spinlock: fibers readied by
 *		threads that are not workers, and ring overflow. Checked
 *		every 64 rounds and whenever the rest is empty.
 *	A worker picks: runnext (capped), then local and runq alternately,
 *	then inject; with nothing, its loop steals, then sleeps. After a
 *	fiber exits it takes the ring's newest instead (Chase-Lev's pop), so
 *	a spawn tree runs depth-first; heads left waiting 1 ms go first.
 *	Spawn is work-first: the child runs at once and the spawner waits in
 *	runnext, pushing the older continuation to the ring for thieves.
 *
 * Fairness guarantee
 *	A runnable fiber in a worker's queues runs after at most
 *	5 * (L + R + 1) picks of that worker that take from the heads of
 *	its queues, where L and R are the local and ring lengths when it
 *	was queued: runnext yields to the queues after 3 picks in a row
 *	(hand-offs from exiting fibers aside), and local and runq
 *	alternate. Picks that do not take from the heads (runnext, the
 *	newest-first pick after an exit) cannot hold them off for more than
 *	STARVE_NS (1 ms), checked every 64 rounds; inject is polled then
 *	too. Budgets (below) bound a pick's length in await points.
 *	tests/sched/sched_test.c checks both.
 *
 * Who owns what
 *	A worker's first group of fields (internal.h) is touched only by
 *	its own thread (runnext aside: the monitor may take it). runq.hg
 *	(head and a tail-pop count) is CASed by everyone; runq.tail is
 *	stored by the owner (release) and loaded by thieves (acquire); the
 *	owner's newest-first pop lowers it first, then counts itself in hg
 *	with an RMW, which fails the CAS of any thief that read hg before
 *	(runq_pop_tail). The inbox
 *	is pushed by CAS and emptied by exchange. A fiber's fields belong
 *	to the worker holding it; handing it over through any queue is a
 *	release/acquire pair. fiber.join and fiber.wait_word are the fields
 *	two parties race on: they change only by exchange/CAS.
 *
 * Park/wake protocol (see wait.c for objects; join shown here)
 *	1. The waiter decides to wait (join sees JOIN_NONE).
 *	2. It sets its worker's post to join_commit and switches away.
 *	3. The next context on the worker runs join_commit: CAS(target.join,
 *	   JOIN_NONE -> waiter), acq_rel. Only now, with the waiter's stack
 *	   idle, can the waker see it. If the CAS fails the target finished
 *	   in between (JOIN_DONE): the waiter is made runnable at once.
 *	4. The exiting fiber, in its own post (exit_commit, after its stack
 *	   is idle), stores its result and exchanges join -> JOIN_DONE
 *	   (acq_rel: the result is visible to whoever reads JOIN_DONE, and it
 *	   sees a joiner published in 3). A joiner found there is readied.
 *	No wake-up is lost: exactly one side of the exchange/CAS sees the
 *	other, and neither publishes before its stack is idle.
 *
 * Idle and wake (Go's spinning protocol, io_uring for the sleep)
 *	A worker without work spins a while (WEFT_SPIN_US) stealing half of
 *	a victim's ring, nearest NUMA node first; at most half the awake
 *	workers spin, and a worker that may not looks for GRACE_NS first
 *	(the spinner stops as soon as it picks up the message just sent,
 *	and the reply is what this one waits for). Then it stops counting
 *	as spinning, marks itself in rt->idle (seq_cst RMW), and looks at
 *	every queue once more before it sleeps in io_uring_enter(GETEVENTS)
 *	on its own ring (or a futex). Whoever makes stealable work stores
 *	it, then checks for spinners and sleepers, and wakes one sleeper
 *	only when nobody spins: this Dekker pair (mark, barrier, look versus
 *	push, barrier, look) means work is never left with everyone asleep.
 *	The barrier is asymmetric (internal.h): membarrier on the sleeper's
 *	side, a compiler barrier on the hot pusher's. The waker clears the
 *	sleeper's bit and stores a wake reason, so each sleep gets one wake.
 *	A worker wakes a worker with IORING_OP_MSG_RING queued on its own
 *	ring: it is submitted with whatever the waker submits next (its own
 *	idle sleep, at the latest every 64 rounds, or at a yield with
 *	nothing to switch to), so the hand-off costs no syscall of its own.
 *	A waker stuck in one long fiber would hold the wake back: the
 *	monitor kicks the sleeper's eventfd when a wake stays owed. A thread
 *	that is not a worker has no ring: it writes the sleeper's eventfd
 *	(one syscall, the cheapest correct way), on which every ring keeps a
 *	read armed. Without io_uring, a futex.
 *
 * Cooperative preemption
 *	Every await point (yield, sleep, lock, channel, select, later I/O)
 *	spends the fiber's budget (WEFT_BUDGET, default 128), refilled at
 *	every switch in. An await point that finds the budget spent yields
 *	even when its operation was ready.
 *
 * The monitor (like Go's sysmon)
 *	A thread that samples each worker's switch count every few ms. A
 *	worker that spent WEFT_STALL_MS of CPU time in one fiber without an
 *	await point is reported once (fiber id, name, worker, time). A
 *	worker stuck for two periods with fibers in its ring or runnext has
 *	them moved to inject, and a sleeper woken to run them: fibers queued
 *	behind a blocking call run elsewhere. Its bound fibers and timers
 *	wait for it.
 *
 * Termination
 *	Each worker counts the fibers spawned and exited on it; a worker
 *	that runs out of work sums them (exits first, see live()) and stops
 *	every worker when none is left. After weft_shutdown(), the first
 *	fiber's exit does.
 *	Deadlock: when every worker sleeps with no timer, fibers remain, and
 *	the process has no thread besides weft's, nothing can ever ready
 *	them: weft says so and aborts.
 *
 * Rejected designs
 *	- ucontext: swapcontext makes a sigprocmask syscall (231 ns here).
 *	- Switching through the loop on every park (Go's g0): twice the
 *	  switches per hand-off.
 *	- Descriptors in a separate heap: a second allocation per spawn and a
 *	  second cache miss per switch; an id would need a lookup table.
 *	- mprotect guard pages by default: two VMAs each, ~32,750 stacks max.
 *	- Copying or segmented stacks: C code holds pointers into its stack.
 *	- A stealable runnext (Go): thieves would take the reply away from
 *	  the core whose cache holds the message.
 *	- Readying a fiber onto the worker it last ran on: a remote push
 *	  and a wake per hand-off; the waker's own runnext keeps it local.
 *	- Stealing by request (private deques): a thief would wait for the
 *	  victim's next switch, and the monitor could not rescue a stuck
 *	  worker's queue.
 */
#include <dirent.h>
#include <errno.h>
#include <liburing.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../lib/env.h"
#include "../lib/log.h"
#include "../lib/probe.h"
#include "../lib/rseq.h"
#include "../lib/topo.h"
#include "internal.h"

#define DEFAULT_STACK	(256UL << 10)
#define TICK_PERIOD	64	/* rounds between timer checks, flushes and
				   inject polls; a power of two */
#define RUNNEXT_MAX	3	/* runnext picks in a row while others wait */
#define SPIN_YIELD_NS	20000	/* spin this long before sched_yield()ing */
#define GRACE_NS	5000	/* look this long before deciding to sleep */
#define STARVE_NS	1000000	/* the queues' heads wait at most this long */
#define DEADLOCK_RECHECK_NS 100000000	/* undecided deadlock: look again */
#define MAX_WORKERS	1024

#define WAKE_PLAIN	1	/* wake_reason: there is work for you */
#define WAKE_SPIN	2	/* ...and you count as spinning already */

/*
 * CQE user data: a fiber's struct weft_io (a pointer, so even), or an odd
 * tag. WEFT__TAG_IGNORE (internal.h) is 7.
 */
#define TAG_WAKE	1	/* a MSG_RING wake arrived */
#define TAG_EFD		3	/* the eventfd read completed */
#define TAG_MSG		5	/* our MSG_RING failed (bits 8+: target) */

WEFT_TLS struct weft_worker *weft__cur_worker;

/* Set while weft_run() runs; there is one runtime per process. */
static struct weft_rt *running_rt;

static void wakep_slow(struct weft_rt *rt);
static void flush_msgs(struct weft_worker *w);

/* Some stealable work appeared: make sure someone looks for it. */
static inline void wakep(struct weft_rt *rt)
{
	if (rt->nworkers > 1)
		wakep_slow(rt);
}
static void wake_worker(struct weft_worker *from, struct weft_worker *to);

/* ---- queues ---- */

static inline void fifo_push(struct fifo *q, struct weft_fiber *f)
{
	f->next = NULL;
	if (q->tail)
		q->tail->next = f;
	else
		q->head = f;
	q->tail = f;
}

static inline struct weft_fiber *fifo_pop(struct fifo *q)
{
	struct weft_fiber *f = q->head;

	if (f) {
		q->head = f->next;
		if (!q->head)
			q->tail = NULL;
	}
	return f;
}

static void inject_push(struct weft_rt *rt, struct weft_fiber *first,
			struct weft_fiber *last, unsigned long n)
{
	weft_spin_lock(&rt->inject_lock);
	last->next = NULL;
	if (rt->inject.tail)
		rt->inject.tail->next = first;
	else
		rt->inject.head = first;
	rt->inject.tail = last;
	__atomic_store_n(&rt->ninject, rt->ninject + n, __ATOMIC_SEQ_CST);
	weft_spin_unlock(&rt->inject_lock);
}

static struct weft_fiber *inject_pop(struct weft_rt *rt)
{
	struct weft_fiber *f;

	if (!__atomic_load_n(&rt->ninject, __ATOMIC_RELAXED))
		return NULL;
	weft_spin_lock(&rt->inject_lock);
	f = fifo_pop(&rt->inject);
	if (f)
		__atomic_store_n(&rt->ninject, rt->ninject - 1,
				 __ATOMIC_RELAXED);
	weft_spin_unlock(&rt->inject_lock);
	return f;
}

/*
 * The ring's slots are relaxed atomics: a thief may read a slot the owner
 * is overwriting, but then its CAS on head fails and the value is dropped.
 */
static inline struct weft_fiber *slot_get(struct runq *q, uint32_t i)
{
	return __atomic_load_n(&q->buf[i % RUNQ_SIZE], __ATOMIC_RELAXED);
}

static inline void slot_set(struct runq *q, uint32_t i, struct weft_fiber *f)
{
	__atomic_store_n(&q->buf[i % RUNQ_SIZE], f, __ATOMIC_RELAXED);
}

#define HG_HEAD(hg)	((uint32_t)(hg))
#define HG(head, hg)	(((hg) & ~0xffffffffULL) | (uint32_t)(head))

static inline uint32_t runq_head(struct runq *q)
{
	return HG_HEAD(__atomic_load_n(&q->hg, __ATOMIC_ACQUIRE));
}

static inline uint32_t runq_len(struct runq *q)
{
	return __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE) - runq_head(q);
}

/* Full ring: move half of it and @f to inject. False if a thief raced. */
static bool runq_spill(struct weft_worker *w, struct weft_fiber *f,
		       uint64_t hg)
{
	struct runq *q = &w->runq;
	uint32_t n = RUNQ_SIZE / 2, i, h = HG_HEAD(hg);
	struct weft_fiber *batch[RUNQ_SIZE / 2];

	for (i = 0; i < n; i++)
		batch[i] = slot_get(q, h + i);
	if (!__atomic_compare_exchange_n(&q->hg, &hg, HG(h + n, hg), false,
					 __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		return false;
	for (i = 0; i + 1 < n; i++)
		batch[i]->next = batch[i + 1];
	batch[n - 1]->next = f;
	inject_push(w->rt, batch[0], f, n + 1);
	return true;
}

/* Owner: queue @f at the ring's tail. */
static void runq_put(struct weft_worker *w, struct weft_fiber *f)
{
	struct runq *q = &w->runq;

	for (;;) {
		uint64_t hg = __atomic_load_n(&q->hg, __ATOMIC_ACQUIRE);
		uint32_t t = q->tail;

		if (t - HG_HEAD(hg) < RUNQ_SIZE) {
			slot_set(q, t, f);
			/* Release: the slot (and f) before the new tail. */
			__atomic_store_n(&q->tail, t + 1, __ATOMIC_RELEASE);
			return;
		}
		if (runq_spill(w, f, hg))
			return;
	}
}

/* Owner: take from the ring's head. */
static struct weft_fiber *runq_get(struct weft_worker *w)
{
	struct runq *q = &w->runq;
	uint64_t hg = __atomic_load_n(&q->hg, __ATOMIC_ACQUIRE);
	uint32_t h = HG_HEAD(hg);

	if (w->rt->nworkers == 1) {
		/* Nobody steals: the owner needs no CAS. */
		if (h == q->tail)
			return NULL;
		__atomic_store_n(&q->hg, HG(h + 1, hg), __ATOMIC_RELAXED);
		return slot_get(q, h);
	}
	for (;;) {
		struct weft_fiber *f;

		h = HG_HEAD(hg);
		if (h == q->tail)
			return NULL;
		f = slot_get(q, h);
		if (__atomic_compare_exchange_n(&q->hg, &hg, HG(h + 1, hg),
						false, __ATOMIC_RELEASE,
						__ATOMIC_ACQUIRE))
			return f;
	}
}

/*
 * Owner: take the newest fiber, from the tail (Chase-Lev's pop). Used
 * after an exit, so that a spawn tree goes on depth-first with its
 * newest continuation.
 *
 * Thieves take half the ring at once, so the classic "a thief can only
 * reach the last slot" does not hold: a thief that read tail 3 takes
 * slots 0 and 1, and two quick pops would hand the owner slot 1 too
 * (found by the Spin model, tests/model/runq.pml). So each pop counts
 * itself in the high half of hg with an RMW after lowering the tail: a
 * thief that read hg before it fails its CAS and looks again; one that
 * read it after sees the lowered tail, and its batch ends below it. The
 * RMW is also the store-load barrier between tail and head.
 */
static struct weft_fiber *runq_pop_tail(struct weft_worker *w)
{
	struct runq *q = &w->runq;
	uint32_t t = q->tail, h = runq_head(q);
	struct weft_fiber *f;
	uint64_t hg;

	if (t == h)
		return NULL;
	t--;
	__atomic_store_n(&q->tail, t, __ATOMIC_RELAXED);
	if (w->rt->nworkers > 1)
		hg = __atomic_add_fetch(&q->hg, 1ULL << 32, __ATOMIC_SEQ_CST);
	else
		hg = __atomic_load_n(&q->hg, __ATOMIC_RELAXED);
	h = HG_HEAD(hg);
	f = slot_get(q, t);
	if ((int32_t)(t - h) > 0)
		return f;		/* no batch can reach it: ours */
	if (t == h) {
		/* The last one: a thief may be taking it too. */
		bool won = __atomic_compare_exchange_n(&q->hg, &hg,
						       HG(h + 1, hg), false,
						       __ATOMIC_ACQ_REL,
						       __ATOMIC_RELAXED);

		__atomic_store_n(&q->tail, t + 1, __ATOMIC_RELEASE);
		return won ? f : NULL;
	}
	__atomic_store_n(&q->tail, h, __ATOMIC_RELEASE);	/* stolen */
	return NULL;
}

/*
 * Thief: take half of @v's ring into @batch. Acquire on head and tail
 * pairs with the owner's release, so the slots read are the ones pushed.
 */
static uint32_t runq_grab(struct weft_worker *v, struct weft_fiber **batch)
{
	struct runq *q = &v->runq;

	for (;;) {
		/*
		 * hg, then tail (acquire both): a tail pop after our hg
		 * load makes the CAS below fail (see runq_pop_tail).
		 */
		uint64_t hg = __atomic_load_n(&q->hg, __ATOMIC_ACQUIRE);
		uint32_t h = HG_HEAD(hg);
		uint32_t t = __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE);
		uint32_t n;

		if (t == h)
			return 0;
		n = t - h;
		n -= n / 2;
		if (!n)
			return 0;
		if (n > RUNQ_SIZE / 2)
			continue;	/* h and t read at different times */
		for (uint32_t i = 0; i < n; i++)
			batch[i] = slot_get(q, h + i);
		if (__atomic_compare_exchange_n(&q->hg, &hg, HG(h + n, hg),
						false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			return n;
	}
}

/* Steal half of @v's ring: return one fiber, queue the rest on ours. */
static struct weft_fiber *runq_steal(struct weft_worker *w,
				     struct weft_worker *v)
{
	struct weft_fiber *batch[RUNQ_SIZE / 2];
	uint32_t n = runq_grab(v, batch), i;

	if (!n)
		return NULL;
	for (i = 1; i < n; i++)
		runq_put(w, batch[i]);
	STAT_INC(w, nsteals, n);
	return batch[0];
}

/* Any thread: give @f to worker @to through its inbox. */
static void inbox_push(struct weft_worker *to, struct weft_fiber *f)
{
	struct weft_fiber *old = __atomic_load_n(&to->inbox, __ATOMIC_RELAXED);

	do
		f->next = old;
	while (!__atomic_compare_exchange_n(&to->inbox, &old, f, false,
					    __ATOMIC_SEQ_CST,
					    __ATOMIC_RELAXED));
}

/* Owner: move the inbox to local (bound) and the ring (the rest). */
static void inbox_drain(struct weft_worker *w)
{
	struct weft_fiber *f, *rev = NULL;

	f = __atomic_exchange_n(&w->inbox, NULL, __ATOMIC_ACQUIRE);
	while (f) {			/* LIFO -> FIFO */
		struct weft_fiber *next = f->next;

		f->next = rev;
		rev = f;
		f = next;
	}
	while (rev) {
		struct weft_fiber *next = rev->next;

		if (rev->bound)
			fifo_push(&w->local, rev);
		else
			runq_put(w, rev);
		rev = next;
	}
}

static inline bool has_work(struct weft_worker *w)
{
	return READ_ONCE(w->runnext) || w->local.head || READ_ONCE(w->inbox) ||
	       READ_ONCE(w->cancels) ||
	       runq_len(&w->runq);
}

/* ---- readying ---- */

/*
 * runnext is the owner's, but the monitor may take it from a stuck
 * worker: with several workers it changes only by exchange. With one,
 * nobody else touches it.
 */
static inline struct weft_fiber *runnext_swap(struct weft_worker *w,
					      struct weft_fiber *f)
{
	struct weft_fiber *old;

	if (w->rt->nworkers > 1)
		return __atomic_exchange_n(&w->runnext, f, __ATOMIC_ACQ_REL);
	old = READ_ONCE(w->runnext);
	WRITE_ONCE(w->runnext, f);
	return old;
}

/*
 * Ready @f from worker @w (running a fiber, its loop or a post). Unbound
 * fibers go to @w's runnext; the one they push out goes to the ring,
 * where others may steal it.
 */
void weft__ready(struct weft_worker *w, struct weft_fiber *f)
{
	struct weft_fiber *old;

	WEFT_PROBE(ready, f->id, w->index);
	WRITE_ONCE(f->state, FIBER_RUNNABLE);
	if (unlikely(f->bound) && f->home != w) {
		inbox_push(f->home, f);
		wake_worker(w, f->home);
		return;
	}
	old = runnext_swap(w, f);
	if (old) {
		if (old->bound) {
			fifo_push(&w->local, old);
		} else {
			runq_put(w, old);
			wakep(w->rt);
		}
	}
}

/* Queue @f at the back: yield, spawn, timers (in deadline order). */
void weft__ready_tail(struct weft_worker *w, struct weft_fiber *f)
{
	WRITE_ONCE(f->state, FIBER_RUNNABLE);
	if (unlikely(f->bound) && f->home != w) {
		inbox_push(f->home, f);
		wake_worker(w, f->home);
	} else if (f->bound) {
		fifo_push(&w->local, f);
	} else {
		runq_put(w, f);
		wakep(w->rt);
	}
}

/* Ready @f from any thread. */
void weft__ready_any(struct weft_fiber *f)
{
	struct weft_worker *w = weft__cur_worker;
	struct weft_rt *rt;

	if (w) {
		weft__ready(w, f);
		return;
	}
	rt = __atomic_load_n(&running_rt, __ATOMIC_ACQUIRE);
	weft__note_foreign();
	WRITE_ONCE(f->state, FIBER_RUNNABLE);
	if (f->bound) {
		inbox_push(f->home, f);
		wake_worker(NULL, f->home);
	} else {
		inject_push(rt, f, f, 1);
		if (rt->nworkers == 1)
			wake_worker(NULL, &rt->workers[0]);
		else
			wakep(rt);
	}
}

struct weft_rt *weft__runtime(void)
{
	return __atomic_load_n(&running_rt, __ATOMIC_ACQUIRE);
}

void weft__kick(struct weft_worker *w)
{
	wake_worker(weft__cur_worker, w);
	if (weft__cur_worker && weft__cur_worker->ring)
		flush_msgs(weft__cur_worker);	/* the closer waits on it */
}

void weft__note_foreign(void)
{
	struct weft_rt *rt = __atomic_load_n(&running_rt, __ATOMIC_ACQUIRE);

	if (weft__offload_self())
		return;		/* covered by weft__offload_busy() */
	if (rt && !__atomic_load_n(&rt->foreign, __ATOMIC_RELAXED))
		__atomic_store_n(&rt->foreign, true, __ATOMIC_SEQ_CST);
}

/* ---- waking workers ---- */

static inline uint64_t bit_of(unsigned int i)
{
	return 1ULL << (i % 64);
}

/* Clear @w's idle bit; true if it was set (whoever clears it wakes it). */
static bool idle_clear(struct weft_rt *rt, struct weft_worker *w)
{
	uint64_t old = __atomic_fetch_and(&rt->idle[w->index / 64],
					  ~bit_of(w->index), __ATOMIC_SEQ_CST);

	if (!(old & bit_of(w->index)))
		return false;
	__atomic_fetch_sub(&rt->nidle, 1, __ATOMIC_SEQ_CST);
	/* idle_blocked was written before the bit was set (seq_cst). */
	if (w->idle_blocked)
		__atomic_fetch_sub(&rt->nblocked, 1, __ATOMIC_SEQ_CST);
	return true;
}

static void efd_kick(struct weft_worker *to)
{
	uint64_t one = 1;

	if (write(to->efd, &one, sizeof(one)) < 0)
		WEFT_WARN_ON_ONCE(1);
}

/* Send the wake that @to's cleared idle bit is owed. */
static void send_wake(struct weft_worker *from, struct weft_worker *to)
{
	WEFT_PROBE(wake, from ? (int)from->index : -1, to->index);
	if (from)
		STAT_INC(from, nwakes, 1);
	if (!to->ring) {
		/*
		 * Store, then look for the poller: pairs with the poller's
		 * claim, then look at its futex word (sleep_until).
		 */
		__atomic_store_n(&to->futex, 1, __ATOMIC_SEQ_CST);
		if (from)
			STAT_INC(from, nsyscalls, 1);
		if (__atomic_load_n(&to->rt->poller, __ATOMIC_SEQ_CST) ==
		    to->index + 1)
			weft__epoll_break(to->rt);
		else
			weft__futex(&to->futex, FUTEX_WAKE, 1, NULL);
		return;
	}
	if (from && from->ring) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(from->ring);

		if (!sqe) {
			io_uring_submit(from->ring);
			STAT_INC(from, nsubmits, 1);
			STAT_INC(from, nsyscalls, 1);
			from->pending_msgs = 0;
			sqe = io_uring_get_sqe(from->ring);
		}
		if (sqe) {
			io_uring_prep_msg_ring(sqe, to->ring->ring_fd, 0,
					       TAG_WAKE, 0);
			sqe->user_data = (uint64_t)to->index << 8 | TAG_MSG;
			sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
			from->pending_msgs++;
			return;
		}
	}
	if (from)
		STAT_INC(from, nsyscalls, 1);
	efd_kick(to);
}

/* Wake @to if it sleeps: after making work for it (inbox, stop). */
static void wake_worker(struct weft_worker *from, struct weft_worker *to)
{
	struct weft_rt *rt = to->rt;

	/* Pairs with the sleeper's mark-then-look (see idle_sleep). */
	weft__light_barrier();
	if (!(__atomic_load_n(&rt->idle[to->index / 64], __ATOMIC_RELAXED) &
	      bit_of(to->index)))
		return;
	if (idle_clear(rt, to)) {
		__atomic_store_n(&to->wake_reason, WAKE_PLAIN, __ATOMIC_RELEASE);
		send_wake(from, to);
	}
}

static void wakep_slow(struct weft_rt *rt)
{
	struct weft_worker *w = weft__cur_worker;
	unsigned int zero = 0, i;

	/* The work's store before the loads below; see idle_sleep. */
	weft__light_barrier();
	if (!__atomic_load_n(&rt->nidle, __ATOMIC_RELAXED) ||
	    __atomic_load_n(&rt->nspinning, __ATOMIC_RELAXED))
		return;
	/* The woken one starts as a spinner, so the next ready stays quiet. */
again:
	if (!__atomic_compare_exchange_n(&rt->nspinning, &zero, 1, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		return;
	for (i = 0; i < (rt->nworkers + 63) / 64; i++) {
		uint64_t m = __atomic_load_n(&rt->idle[i], __ATOMIC_RELAXED);

		while (m) {
			struct weft_worker *to =
				&rt->workers[i * 64 + __builtin_ctzll(m)];

			if (idle_clear(rt, to)) {
				__atomic_store_n(&to->wake_reason, WAKE_SPIN,
						 __ATOMIC_RELEASE);
				send_wake(w, to);
				return;
			}
			m &= m - 1;
		}
	}
	__atomic_fetch_sub(&rt->nspinning, 1, __ATOMIC_SEQ_CST);
	/*
	 * While we held nspinning at 1 with nobody to wake, a worker may
	 * have gone to sleep after its last look, and another maker may
	 * have seen our 1 and left its work to us (found by the Spin model,
	 * tests/model/idle.pml): look again while any idle bit is set. Not
	 * while nidle says so: a worker between clearing its bit and its
	 * nidle decrement would keep us spinning, and a bound on the tries
	 * brings the lost wake-up back (the model again). Each pass either
	 * wakes a sleeper or finds none set, so this ends.
	 */
	for (i = 0; i < (rt->nworkers + 63) / 64; i++)
		if (__atomic_load_n(&rt->idle[i], __ATOMIC_SEQ_CST)) {
			zero = 0;
			goto again;
		}
}

/* Submit queued MSG_RING wakes now. */
static void flush_msgs(struct weft_worker *w)
{
	if (w->pending_msgs) {
		WEFT_PROBE(submit, w->index, w->pending_msgs);
		io_uring_submit(w->ring);
		STAT_INC(w, nsubmits, 1);
		w->pending_msgs = 0;
	}
}

/* ---- switching ---- */

static void post_run(struct weft_worker *w)
{
	void (*fn)(struct weft_worker *, struct weft_fiber *) = w->post;

	w->post = NULL;
	fn(w, w->post_f);
	if (unlikely(w->poll_owed)) {
		w->poll_owed = false;
		weft__netpoll(w, 0);
	}
}

static void check_canary(struct weft_fiber *f)
{
	if (!weft_stack_canary_ok(f->cls, f->top))
		weft__overflow(f);
}

/*
 * Leave @self (the loop when NULL) for @next (the loop when NULL) and come
 * back here when something switches to @self again. Returns the worker
 * that resumed us: a fiber must never reuse a worker pointer, or a TLS
 * address, computed before a switch.
 */
static struct weft_worker *switch_to(struct weft_worker *w,
				     struct weft_fiber *self,
				     struct weft_fiber *next, bool dying)
{
	struct weft_san *ssan = self ? &self->san : &w->loop_san;

	if (unlikely(weft_stack_guard() == WEFT_GUARD_CANARY) && self)
		check_canary(self);
	WEFT_PROBE(switch, w->index, self ? self->id : 0,
		   next ? next->id : 0);
	w->cur = next;
	if (next) {
		WRITE_ONCE(next->state, FIBER_RUNNING);
		next->budget = w->budget;
	}
	/* For the monitor: who runs, and that something switched. */
	/* Release: the monitor may read next's name and id. */
	__atomic_store_n(&w->running, next, __ATOMIC_RELEASE);
	__atomic_store_n(&w->switches, w->switches + 1, __ATOMIC_RELAXED);
	/* Its own __thread variables, for a fiber that has them (tls.c). */
	if (next && unlikely(next->tls) && next->tls != w->tls_cur)
		weft__tls_load(w, next->tls);
	weft_san_leave(ssan, next ? &next->san : &w->loop_san, dying);
	w = weft_ctx_switch(self ? &self->ctx : &w->loop_ctx,
			    next ? &next->ctx : &w->loop_ctx, w);
	weft_san_enter(ssan);
	if (w->post)
		post_run(w);
	return w;
}

static void ring_drain(struct weft_worker *w);

/*
 * Submit what is queued (wakes, I/O) and, with I/O in flight, reap what
 * completed: one io_uring_enter() for both.
 */
void weft__ring_flush(struct weft_worker *w)
{
	if (w->inflight) {
		WEFT_PROBE(submit, w->index, w->pending_msgs);
		io_uring_submit_and_get_events(w->ring);
		STAT_INC(w, nsubmits, 1);
		STAT_INC(w, nsyscalls, 1);
		w->pending_msgs = 0;
		ring_drain(w);
	} else if (w->pending_msgs) {
		flush_msgs(w);
	}
}

/*
 * Hooks for the preload shim (tools/preload; NULL in libweft). The tick
 * hook runs on each worker once per change of weft__tick_gen (e.g. to
 * apply the program's signal mask on every worker); the monitor hook runs
 * on the monitor thread after weft__monitor_kick(), which is safe in a
 * signal handler.
 */
void (*weft__tick_hook)(struct weft_worker *w);
uint32_t weft__tick_gen;
void (*weft__monitor_hook)(void);
static uint32_t monitor_poke;

void weft__monitor_kick(void)
{
	struct weft_rt *rt = __atomic_load_n(&running_rt, __ATOMIC_ACQUIRE);

	__atomic_store_n(&monitor_poke, 1, __ATOMIC_RELEASE);
	if (rt)
		weft__futex(&rt->monitor_futex, FUTEX_WAKE, 1, NULL);
}

static inline void tick_hook(struct weft_worker *w)
{
	uint32_t gen = __atomic_load_n(&weft__tick_gen, __ATOMIC_ACQUIRE);

	if (unlikely(gen != w->tick_gen)) {
		if (weft__tick_hook)
			weft__tick_hook(w);
		/* Release: the hook's work is done, for whoever waits. */
		__atomic_store_n(&w->tick_gen, gen, __ATOMIC_RELEASE);
	}
}

/* Every TICK_PERIOD rounds: timers, submissions and completions. */
static WEFT_NOINLINE void tick(struct weft_worker *w)
{
	tick_hook(w);
	weft__timers_run(w, weft_now_ns());
	if (w->ring) {
		weft__ring_flush(w);
	} else if (weft__netpoll_due(w->rt)) {
		/*
		 * A parking fiber may still hold the lock of the fd it waits
		 * on (until its post): then poll right after the switch.
		 */
		if (w->post)
			w->poll_owed = true;
		else
			weft__netpoll(w, 0);
	}
}

/*
 * Every 64 rounds: have the heads of @w's queues waited STARVE_NS with
 * nothing taken from them (runnext and newest-first picks only)? Then
 * this round serves them first.
 */
static bool starving(struct weft_worker *w)
{
	uint64_t now;

	if (w->head_picks != w->head_picks_seen ||
	    (!w->local.head && !runq_len(&w->runq))) {
		w->head_picks_seen = w->head_picks;
		w->head_since = 0;
		return false;
	}
	now = weft_now_ns();
	if (!w->head_since)
		w->head_since = now;
	return now - w->head_since >= STARVE_NS;
}

/* pick() when the fast path does not apply. */
static WEFT_NOINLINE struct weft_fiber *pick_slow(struct weft_worker *w,
						  bool periodic)
{
	bool exited = w->exited, fifo = false;
	struct weft_fiber *f;

	w->exited = false;
	if (periodic) {
		tick(w);
		if ((f = inject_pop(w->rt)))
			return f;
		fifo = starving(w);
	}
	if (READ_ONCE(w->inbox))
		inbox_drain(w);
	if (unlikely(READ_ONCE(w->cancels)))
		weft__cancels_run(w);
	if (READ_ONCE(w->runnext) && (f = runnext_swap(w, NULL))) {
		if (!w->local.head && !runq_len(&w->runq)) {
			w->streak = 0;	/* nobody else waits */
			return f;
		}
		/*
		 * A hand-off from a fiber that exited cannot be half of a
		 * ping-pong: it does not count against the cap. Every 64th
		 * round the queues go first all the same.
		 */
		if (!fifo && (exited || w->streak < RUNNEXT_MAX)) {
			w->streak += !exited;
			return f;
		}
		/* Others have waited long enough: runnext queues up too. */
		if (f->bound)
			fifo_push(&w->local, f);
		else
			runq_put(w, f);
	}
	w->streak = 0;
	/*
	 * After an exit, the newest continuation: depth-first for spawn
	 * trees. When the oldest starve, they go first.
	 */
	if (exited && !fifo && (f = runq_pop_tail(w)))
		return f;
	w->head_picks++;
	if (w->local.head && (w->tick & 1))
		return fifo_pop(&w->local);
	if ((f = runq_get(w)))
		return f;
	if (w->local.head)
		return fifo_pop(&w->local);
	return inject_pop(w->rt);
}

/*
 * The next fiber to run from @w's own queues, or NULL. The fast path is
 * a hand-off: runnext, nothing in the inbox, not a periodic round.
 */
static inline struct weft_fiber *pick(struct weft_worker *w)
{
	bool periodic = !(++w->tick & (TICK_PERIOD - 1));
	struct weft_fiber *f = READ_ONCE(w->runnext);

	if (unlikely(periodic || w->exited || READ_ONCE(w->inbox) ||
		     READ_ONCE(w->cancels)))
		return pick_slow(w, periodic);
	if (f) {
		/* A hand-off. */
		if (likely(w->streak < RUNNEXT_MAX) &&
		    (w->rt->nworkers == 1 || (f = runnext_swap(w, NULL)))) {
			if (w->rt->nworkers == 1)
				WRITE_ONCE(w->runnext, NULL);
			w->streak++;
			return f;
		}
	} else if (!w->local.head) {
		/* A yield, or a wait with others queued: the ring's head. */
		w->streak = 0;
		w->head_picks++;
		if ((f = runq_get(w)))
			return f;
	}
	return pick_slow(w, false);
}

/* Switch to the next runnable fiber, or to the loop. */
static struct weft_worker *schedule(struct weft_worker *w,
				    struct weft_fiber *self, bool dying)
{
	struct weft_fiber *next = pick(w);

	if (unlikely(__atomic_load_n(&w->rt->stop, __ATOMIC_RELAXED)) &&
	    next) {
		/* Stopping: leave it queued for abandon() and go home. */
		fifo_push(&w->local, next);
		next = NULL;
	}
	return switch_to(w, self, next, dying);
}

/* The calling fiber waits; someone else will weft__ready() it. */
struct weft_worker *weft__park(struct weft_worker *w, struct weft_fiber *self)
{
	WEFT_PROBE(park, self->id);
	return schedule(w, self, false);
}

/* ---- fibers ---- */

static inline uint64_t make_id(uint32_t gen, unsigned int cls, uint32_t index)
{
	return (uint64_t)gen << 32 | (uint64_t)cls << WEFT_STACK_INDEX_BITS |
	       index;
}

struct weft_fiber *weft__lookup(uint64_t fid)
{
	unsigned int cls = (fid >> WEFT_STACK_INDEX_BITS) & 0xf;
	uint32_t index = fid & ((1U << WEFT_STACK_INDEX_BITS) - 1);
	void *top = weft_stack_top(cls, index);
	struct weft_fiber *f;

	if (!top)
		return NULL;
	f = fiber_of_top(top);
	if (__atomic_load_n(&f->id, __ATOMIC_ACQUIRE) != fid ||
	    READ_ONCE(f->state) == FIBER_FREE)
		return NULL;
	return f;
}

/* Give a finished (or abandoned) fiber's slot back; @f's stack is idle. */
static void reap(struct weft_worker *w, struct weft_fiber *f)
{
	weft_san_stack_gone(&f->san);
	WRITE_ONCE(f->state, FIBER_FREE);
	f->gen++;
	__atomic_store_n(&f->id, 0, __ATOMIC_RELEASE);
	weft_stack_put(&w->stacks, f->cls, f->top, f->index);
}

static void stop_all(struct weft_rt *rt)
{
	struct weft_worker *self = weft__cur_worker;
	unsigned int i;

	__atomic_store_n(&rt->stop, true, __ATOMIC_SEQ_CST);
	for (i = 0; i < rt->nworkers; i++)
		if (&rt->workers[i] != self)
			wake_worker(self, &rt->workers[i]);
	if (self && self->ring)
		flush_msgs(self);
	__atomic_store_n(&rt->monitor_futex, 1, __ATOMIC_RELEASE);
	weft__futex(&rt->monitor_futex, FUTEX_WAKE, 1, NULL);
}

/*
 * Fibers alive: spawns minus exits, summed over the workers. Exits are
 * read first: a fiber's spawn was counted (release) before it was handed
 * to anyone, so every exit this sees has its spawn seen too, and 0 means
 * every fiber spawned so far has exited: none is left to spawn more.
 */
static long live(struct weft_rt *rt)
{
	uint64_t spawned = 0, exited = 0;
	unsigned int i;

	for (i = 0; i < rt->nworkers; i++)
		exited += __atomic_load_n(&rt->workers[i].nexited,
					  __ATOMIC_ACQUIRE);
	for (i = 0; i < rt->nworkers; i++)
		spawned += __atomic_load_n(&rt->workers[i].nspawned,
					   __ATOMIC_ACQUIRE);
	return spawned - exited;
}

/*
 * One fiber fewer, counted on its worker only (a shared counter bounced
 * between workers on every spawn and exit). The worker that finds nothing
 * to do sees the count reach 0 (find_work()). After weft_shutdown(), the
 * first fiber's exit stops everything at once.
 */
static void fiber_gone(struct weft_worker *w, struct weft_fiber *f)
{
	struct weft_rt *rt = w->rt;

	__atomic_store_n(&w->nexited, w->nexited + 1, __ATOMIC_RELEASE);
	if (f == rt->main && __atomic_load_n(&rt->shutdown, __ATOMIC_ACQUIRE))
		stop_all(rt);
}

/* Post of a fiber's last switch: publish JOIN_DONE, wake the joiner. */
static void exit_commit(struct weft_worker *w, struct weft_fiber *f)
{
	uintptr_t old;

	WRITE_ONCE(f->state, FIBER_DONE);
	/*
	 * Detached: straight to REAPED, never through DONE, where a stray
	 * weft_join() or second weft_detach() would reap it too (found by
	 * the Spin model, tests/model/join.pml).
	 */
	old = __atomic_load_n(&f->join, __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(&f->join, &old,
					    old == JOIN_DETACHED ? JOIN_REAPED
								 : JOIN_DONE,
					    false, __ATOMIC_ACQ_REL,
					    __ATOMIC_RELAXED))
		;
	if (old == JOIN_DETACHED) {
		reap(w, f);
	} else if (old != JOIN_NONE) {
		weft__ready(w, (struct weft_fiber *)old);
	}
	fiber_gone(w, f);
}

/*
 * Post of a fiber's last switch straight to its joiner: the joiner was
 * published in join (so only this exit can ready it), and is running now.
 */
static void exit_handoff(struct weft_worker *w, struct weft_fiber *f)
{
	WRITE_ONCE(f->state, FIBER_DONE);
	__atomic_store_n(&f->join, JOIN_DONE, __ATOMIC_RELEASE);
	fiber_gone(w, f);
}

/*
 * A fresh read of the worker: a fiber may have moved since it started, and
 * the compiler may keep a TLS address across the call to the fiber's
 * function.
 */
static WEFT_NOINLINE struct weft_worker *this_worker(void)
{
	return weft__cur_worker;
}

static __attribute__((noreturn)) void fiber_exit(struct weft_fiber *f,
						  void *result)
{
	struct weft_worker *w = this_worker();
	uintptr_t j;

	if (f->fls_mask)
		weft__fls_run_destructors(f);
	if (unlikely(f->tls))
		weft__tls_leave();	/* the block's copy is nobody's */
	f->result = result;
	w->post_f = f;
	j = __atomic_load_n(&f->join, __ATOMIC_ACQUIRE);
	if (j > JOIN_REAPED && (!((struct weft_fiber *)j)->bound ||
				((struct weft_fiber *)j)->home == w)) {
		/* A joiner waits: hand the worker to it directly. */
		w->post = exit_handoff;
		switch_to(w, f, (struct weft_fiber *)j, true);
	}
	w->post = exit_commit;
	w->exited = true;
	schedule(w, f, true);
	__builtin_unreachable();
}

static void fiber_main(void *arg, void *data)
{
	struct weft_worker *w = arg;
	struct weft_fiber *f = data;

	weft_san_enter(&f->san);
	if (w->post)
		post_run(w);
	fiber_exit(f, f->fn(f->arg));
}

/* Hashes the slot index into a 0-960 byte offset, in 64-byte steps. */
static inline size_t top_offset(uint32_t index)
{
	return ((index * 0x9e3779b1U) >> 28) * 64;
}

/* Post of a work-first spawn: the spawner waits in runnext. */
static void spawn_commit(struct weft_worker *w, struct weft_fiber *f)
{
	weft__ready(w, f);
}

/*
 * Create a fiber and make it run: on another worker (WEFT_ON_WORKER), at
 * once (from a fiber: work first), or next (from the loop). @fid gets its
 * id, or is NULL.
 */
static int spawn(struct weft_worker *w, const struct weft_attr *attr,
		 void *(*fn)(void *), void *arg, uint64_t *fid)
{
	struct weft_rt *rt = w->rt;
	struct weft_worker *on = w;
	unsigned int cls = rt->stack_cls;
	struct weft_fiber *f;
	uint32_t index;
	void *top;
	char *lo;

	if (attr && attr->stack_size) {
		int c = weft_stack_class(attr->stack_size);

		if (c < 0)
			return c;
		cls = c;
	}
	if (attr && (attr->flags & WEFT_ON_WORKER)) {
		if (attr->worker >= rt->nworkers)
			return -EINVAL;
		on = &rt->workers[attr->worker];
	}
	top = weft_stack_get(&w->stacks, cls, &index);
	if (unlikely(!top))
		return -ENOMEM;
	f = fiber_of_top(top);
	f->join = attr && (attr->flags & WEFT_DETACHED) ? JOIN_DETACHED
							: JOIN_NONE;
	f->cls = cls;
	f->index = index;
	f->top = top;
	f->fn = fn;
	f->arg = arg;
	f->fls_mask = 0;
	f->tls = NULL;
	f->bound = attr && (attr->flags & WEFT_BOUND);
	f->home = on;
	f->timer_w = NULL;
	f->name[0] = '\0';
	if (attr && attr->name) {
		strncpy(f->name, attr->name, WEFT_NAME_MAX - 1);
		f->name[WEFT_NAME_MAX - 1] = '\0';
	}
	lo = (char *)top - weft_stack_class_size(cls);
	if (unlikely(weft_stack_guard() == WEFT_GUARD_CANARY))
		weft_stack_canary_set(cls, top);
	weft_san_stack_new(&f->san, lo + WEFT_PAGE,
			   (char *)f - lo - WEFT_PAGE);
	weft_ctx_make(&f->ctx, (char *)f - top_offset(index), fiber_main, f);
	/* Release: a lookup that sees the id sees the fiber. */
	__atomic_store_n(&f->id, make_id(f->gen ? f->gen : (f->gen = 1), cls,
					 index), __ATOMIC_RELEASE);
	/* Counted before anyone can see it (release): see live(). */
	__atomic_store_n(&w->nspawned, w->nspawned + 1, __ATOMIC_RELEASE);
	WEFT_PROBE(spawn, f->id, w->index);
	if (fid)	/* before it can run, finish and be reaped elsewhere */
		*fid = f->id;
	if (on != w) {
		WRITE_ONCE(f->state, FIBER_RUNNABLE);
		inbox_push(on, f);
		wake_worker(w, on);
	} else if (w->cur) {
		/*
		 * Work first (Cilk): the child runs now and the spawner
		 * waits in runnext, which pushes the older continuation to
		 * the ring for thieves. A spawn tree then runs depth-first
		 * on warm stacks, where queueing the children would keep a
		 * million cold ones alive, breadth-first, with idle workers
		 * stealing the biggest pieces.
		 */
		w->post = spawn_commit;
		w->post_f = w->cur;
		switch_to(w, w->cur, f, false);
	} else {
		weft__ready(w, f);
	}
	return 0;
}

WEFT_EXPORT int weft_spawn(uint64_t *fid, const struct weft_attr *attr,
			   void *(*fn)(void *), void *arg)
{
	struct weft_worker *w = weft__cur_worker;

	if (unlikely(!w || !w->cur))
		return -EPERM;
	if (unlikely(!fn || (!fid && !(attr && (attr->flags & WEFT_DETACHED)))))
		return -EINVAL;
	if (unlikely(attr && (attr->flags & ~(WEFT_DETACHED | WEFT_ON_WORKER |
					      WEFT_BOUND))))
		return -EINVAL;
	return spawn(w, attr, fn, arg, fid);
}

/* Post of a joiner's switch: publish it, unless the target just finished. */
static void join_commit(struct weft_worker *w, struct weft_fiber *self)
{
	struct weft_fiber *target = self->wait;
	uintptr_t expect = JOIN_NONE;

	if (!__atomic_compare_exchange_n(&target->join, &expect,
					 (uintptr_t)self, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		weft__ready(w, self);	/* JOIN_DONE came first */
}

WEFT_EXPORT int weft_join(uint64_t fid, void **result)
{
	struct weft_worker *w = weft__cur_worker;
	struct weft_fiber *self, *f;
	uintptr_t j;

	if (unlikely(!w || !(self = w->cur)))
		return -EPERM;
	f = weft__lookup(fid);
	if (unlikely(!f))
		return -EINVAL;
	if (unlikely(f == self))
		return -EDEADLK;
	j = __atomic_load_n(&f->join, __ATOMIC_ACQUIRE);
	if (j == JOIN_NONE) {
		self->wait = f;
		WRITE_ONCE(self->state, FIBER_PARKED);
		w->post = join_commit;
		w->post_f = self;
		w = weft__park(w, self);
		j = __atomic_load_n(&f->join, __ATOMIC_ACQUIRE);
	}
	/* Claim the reaping: a racing second joiner or detacher loses. */
	if (j != JOIN_DONE && j != (uintptr_t)self)
		return -EINVAL;
	if (!__atomic_compare_exchange_n(&f->join, &j, JOIN_REAPED, false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return -EINVAL;
	if (result)
		*result = f->result;
	reap(w, f);
	return 0;
}

WEFT_EXPORT int weft_detach(uint64_t fid)
{
	struct weft_worker *w = weft__cur_worker;
	struct weft_fiber *f = weft__lookup(fid);
	uintptr_t j = JOIN_NONE;

	if (!f)
		return -EINVAL;
	if (__atomic_compare_exchange_n(&f->join, &j, JOIN_DETACHED, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return 0;
	if (j != JOIN_DONE || !w ||
	    !__atomic_compare_exchange_n(&f->join, &j, JOIN_REAPED, false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return -EINVAL;
	reap(w, f);	/* it had finished: detaching reaps it */
	return 0;
}

/* Post of a yield: the yielder queues at the back. */
static void yield_commit(struct weft_worker *w, struct weft_fiber *f)
{
	weft__ready_tail(w, f);
}

WEFT_EXPORT int weft_yield(void)
{
	struct weft_worker *w = weft__cur_worker;
	struct weft_fiber *self;

	if (unlikely(!w || !(self = w->cur)))
		return -EPERM;
	if (unlikely(!has_work(w) &&
		     !__atomic_load_n(&w->rt->ninject, __ATOMIC_RELAXED))) {
		/* An await point even without a switch: tell the monitor. */
		__atomic_store_n(&w->switches, w->switches + 1,
				 __ATOMIC_RELAXED);
		/* Nothing here will switch: send the wakes we owe now. */
		if (unlikely(w->pending_msgs))
			flush_msgs(w);
		if (weft__timers_next(w) > weft_now_ns())
			return 0;
		weft__timers_run(w, weft_now_ns());
		if (!has_work(w))
			return 0;
	}
	/*
	 * Queue ourselves only after the switch (yield_commit): a thief
	 * must never find a fiber whose registers are not saved yet.
	 */
	w->post = yield_commit;
	w->post_f = self;
	schedule(w, self, false);
	return 0;
}

WEFT_EXPORT uint64_t weft_self(void)
{
	struct weft_worker *w = weft__cur_worker;

	return w && w->cur ? w->cur->id : 0;
}

WEFT_EXPORT int weft_worker(void)
{
	struct weft_worker *w = weft__cur_worker;

	return w ? (int)w->index : -EPERM;
}

WEFT_EXPORT int weft_workers(void)
{
	struct weft_rt *rt = __atomic_load_n(&running_rt, __ATOMIC_ACQUIRE);

	return rt ? (int)rt->nworkers : -EPERM;
}

WEFT_EXPORT int weft_stats(unsigned int worker, struct weft_worker_stats *st)
{
	struct weft_rt *rt = __atomic_load_n(&running_rt, __ATOMIC_ACQUIRE);
	struct weft_worker *w;

	if (!st)
		return -EINVAL;
	if (!rt || !rt->workers)
		return -EPERM;
	if (worker >= rt->nworkers)
		return -EINVAL;
	w = &rt->workers[worker];
	memset(st, 0, sizeof(*st));
	/* Each counter on its own; the set is not one snapshot. */
	st->switches = __atomic_load_n(&w->switches, __ATOMIC_RELAXED);
	st->spawned = __atomic_load_n(&w->nspawned, __ATOMIC_RELAXED);
	st->exited = __atomic_load_n(&w->nexited, __ATOMIC_RELAXED);
	st->steals = __atomic_load_n(&w->nsteals, __ATOMIC_RELAXED);
	st->wakes = __atomic_load_n(&w->nwakes, __ATOMIC_RELAXED);
	st->sleeps = __atomic_load_n(&w->nsleeps, __ATOMIC_RELAXED);
	st->spin_yields = __atomic_load_n(&w->nspins, __ATOMIC_RELAXED);
	st->submits = __atomic_load_n(&w->nsubmits, __ATOMIC_RELAXED);
	st->completions = __atomic_load_n(&w->ncompletions, __ATOMIC_RELAXED);
	st->rescued = __atomic_load_n(&w->nrescued, __ATOMIC_RELAXED);
	st->syscalls = __atomic_load_n(&w->nsyscalls, __ATOMIC_RELAXED);
	st->io_parked = __atomic_load_n(&w->inflight, __ATOMIC_RELAXED) +
			__atomic_load_n(&w->io_parked, __ATOMIC_RELAXED);
	return 0;
}

int weft__fiber_stack(uint64_t fid, void **lo, size_t *size)
{
	struct weft_fiber *f = weft__lookup(fid);

	if (!f)
		return -EINVAL;
	*size = weft_stack_class_size(f->cls);
	*lo = (char *)f->top - *size;
	return 0;
}

WEFT_EXPORT int weft_name(uint64_t fid, char *buf, size_t len)
{
	struct weft_worker *w = weft__cur_worker;
	struct weft_fiber *f;
	size_t n;

	if (!buf || !len)
		return -EINVAL;
	f = fid ? weft__lookup(fid) : (w ? w->cur : NULL);
	if (!f)
		return -EINVAL;
	n = strnlen(f->name, WEFT_NAME_MAX);
	if (n >= len)
		return -ERANGE;
	memcpy(buf, f->name, n + 1);
	return n;
}

WEFT_EXPORT uint64_t weft_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

WEFT_EXPORT int weft_shutdown(void)
{
	struct weft_rt *rt = __atomic_load_n(&running_rt, __ATOMIC_ACQUIRE);

	if (!rt)
		return -EPERM;
	__atomic_store_n(&rt->shutdown, true, __ATOMIC_RELEASE);
	if (READ_ONCE(rt->main->state) == FIBER_DONE)
		stop_all(rt);
	return 0;
}

/* ---- idle: stealing and sleeping ---- */

static struct weft_fiber *steal(struct weft_worker *w)
{
	struct weft_rt *rt = w->rt;
	struct weft_fiber *f;
	unsigned int i;

	for (i = 0; i < w->nvictims; i++) {
		f = runq_steal(w, &rt->workers[w->victims[i]]);
		if (f) {
			WEFT_PROBE(steal, w->index, w->victims[i], f->id);
			return f;
		}
	}
	return inject_pop(rt);
}

/* Is there anything, anywhere, this worker could run? */
static bool work_anywhere(struct weft_worker *w)
{
	struct weft_rt *rt = w->rt;
	unsigned int i;

	if (has_work(w) || __atomic_load_n(&rt->ninject, __ATOMIC_SEQ_CST))
		return true;
	for (i = 0; i < w->nvictims; i++)
		if (runq_len(&rt->workers[w->victims[i]].runq))
			return true;
	return false;
}

/* Stop spinning; the last spinner to find work wakes a replacement (Go). */
static void spin_stop(struct weft_worker *w, bool found)
{
	struct weft_rt *rt = w->rt;

	if (!w->spinning)
		return;
	w->spinning = false;
	if (!__atomic_sub_fetch(&rt->nspinning, 1, __ATOMIC_SEQ_CST) && found)
		wakep(rt);
}

static WEFT_COLD __attribute__((noreturn)) void deadlock(struct weft_rt *rt)
{
	unsigned int i;

	weft_log("deadlock: %ld fibers are parked and nothing can wake them",
		 live(rt));
	for (i = 0; weft_debug_on && i < rt->nworkers; i++) {
		struct weft_worker *w = &rt->workers[i];

		weft_dbg("worker %u: idle=%d runnext=%p inbox=%p local=%p runq=%u timers=%u",
			 i, !!(__atomic_load_n(&rt->idle[i / 64],
					       __ATOMIC_RELAXED) & bit_of(i)),
			 (void *)READ_ONCE(w->runnext),
			 (void *)READ_ONCE(w->inbox), (void *)w->local.head,
			 runq_len(&w->runq), w->timers.n);
	}
	abort();
}

/*
 * Does the process run threads weft did not start? One of them might
 * still ready a fiber with its first weft call, so no deadlock can be
 * declared. Counted from /proc/self/task; unknown counts as yes.
 */
static bool other_threads(struct weft_rt *rt)
{
	unsigned int n = 0, mine = rt->nworkers + rt->has_monitor +
				   weft__offload_threads();
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	if (!d)
		return true;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	if (n > mine)
		weft_dbg("every fiber is parked, but %u threads besides weft's may wake one",
			 n - mine);
	return n > mine;
}

/*
 * Every worker counted itself idle with no timer. Returns true when only
 * other threads (or a busy offload pool) stood in the way of a verdict. Those still between
 * counting and their last look (they may be about to find work) are caught
 * by looking at every queue: all were pushed before their pushers went
 * idle, and no worker runs to push more. A thread outside the workers
 * might still: then no verdict (one that used weft, or any that exists).
 */
static bool deadlock_check(struct weft_rt *rt)
{
	unsigned int i;

	/*
	 * First: its 0 means the pool's wakes are in the queues. A busy
	 * pool will wake someone, or be idle when the caller looks again.
	 */
	if (weft__offload_busy())
		return true;
	/* Fibers wait on fds: the poller sleeps in epoll_wait(). */
	if (__atomic_load_n(&rt->io_waiting, __ATOMIC_SEQ_CST) ||
	    __atomic_load_n(&rt->foreign, __ATOMIC_SEQ_CST) ||
	    __atomic_load_n(&rt->stop, __ATOMIC_SEQ_CST) ||
	    __atomic_load_n(&rt->ninject, __ATOMIC_SEQ_CST))
		return false;
	for (i = 0; i < rt->nworkers; i++) {
		struct weft_worker *v = &rt->workers[i];

		if (READ_ONCE(v->inbox) || runq_len(&v->runq) ||
		    weft__timers_next(v) != UINT64_MAX)
			return false;
	}
	if (__atomic_load_n(&rt->nblocked, __ATOMIC_SEQ_CST) != rt->nworkers)
		return false;
	/*
	 * Threads besides weft's may be on their way out (an idle offload
	 * thread exits after 1 s): the caller looks again later.
	 */
	if (other_threads(rt))
		return true;
	deadlock(rt);
}

static void ring_drain(struct weft_worker *w)
{
	struct io_uring_cqe *cqe;

	while (!io_uring_peek_cqe(w->ring, &cqe)) {
		uint64_t ud = cqe->user_data;

		if (!(ud & 1)) {
			weft__io_complete(w, (struct weft_io *)(uintptr_t)ud,
					  cqe->res);
		} else if (ud == TAG_EFD) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(w->ring);

			if (sqe) {
				io_uring_prep_read(sqe, w->efd, &w->efd_buf,
						   sizeof(w->efd_buf), 0);
				sqe->user_data = TAG_EFD;
				w->pending_msgs++;
			}
		} else if ((ud & 0xff) == TAG_MSG) {
			/* A MSG_RING failed (its CQ full?): kick the fd. */
			efd_kick(&w->rt->workers[ud >> 8]);
		}
		io_uring_cqe_seen(w->ring, cqe);
		STAT_INC(w, ncompletions, 1);
	}
}

static void sleep_until(struct weft_worker *w, uint64_t deadline)
{
	struct weft_rt *rt = w->rt;
	unsigned int zero = 0;

	STAT_INC(w, nsleeps, 1);
	struct timespec ts = {
		.tv_sec = deadline / 1000000000ULL,
		.tv_nsec = deadline % 1000000000ULL,
	};

	if (w->ring) {
		struct __kernel_timespec kts;
		struct io_uring_cqe *cqe;
		uint64_t now = weft_now_ns();

		if (deadline != UINT64_MAX) {
			uint64_t d = deadline > now ? deadline - now : 0;

			kts.tv_sec = d / 1000000000ULL;
			kts.tv_nsec = d % 1000000000ULL;
		}
		/* Submits the queued wakes and sleeps: one syscall. */
		STAT_INC(w, nsubmits, 1);
		STAT_INC(w, nsyscalls, 1);
		io_uring_submit_and_wait_timeout(w->ring, &cqe, 1,
				deadline == UINT64_MAX ? NULL : &kts, NULL);
		w->pending_msgs = 0;
		ring_drain(w);
		return;
	}
	if (rt->epfd >= 0 && __atomic_compare_exchange_n(&rt->poller, &zero,
							 w->index + 1, false,
							 __ATOMIC_SEQ_CST,
							 __ATOMIC_RELAXED)) {
		/*
		 * The poller (epoll.c): claim, then look at the futex word;
		 * a waker stores the word, then looks for the poller, and
		 * breaks its epoll_wait() instead of waking the futex.
		 */
		if (!__atomic_load_n(&w->futex, __ATOMIC_SEQ_CST))
			weft__netpoll(w, deadline);
		__atomic_store_n(&rt->poller, 0, __ATOMIC_SEQ_CST);
		return;
	}
	while (!__atomic_load_n(&w->futex, __ATOMIC_ACQUIRE)) {
		int ret;

		STAT_INC(w, nsyscalls, 1);
		ret = weft__futex(&w->futex, FUTEX_WAIT_BITSET, 0,
				  deadline == UINT64_MAX ? NULL : &ts);

		if (ret && errno == ETIMEDOUT)
			break;
	}
}

/*
 * Leave the idle set. If a waker cleared our bit first, it owes us a
 * reason (it is storing it now) and a wake message (a spurious wake-up
 * later): take the reason, and with it the spinning it counted for us.
 */
static void idle_leave(struct weft_worker *w)
{
	uint32_t why;

	if (idle_clear(w->rt, w))
		return;
	while (!(why = __atomic_exchange_n(&w->wake_reason, 0,
					   __ATOMIC_ACQUIRE)))
		weft_cpu_relax();
	if (why == WAKE_SPIN)
		w->spinning = true;
}

/* Sleep until woken or the next timer; see "Idle and wake" above. */
static void idle_sleep(struct weft_worker *w)
{
	struct weft_rt *rt = w->rt;
	uint64_t deadline = weft__timers_next(w);
	bool last;

	/* No longer spinning: no wakep, the look below stands in for it. */
	spin_stop(w, false);
	/* In-flight I/O will complete: not blocked for good. */
	w->idle_blocked = deadline == UINT64_MAX && !w->inflight;
	__atomic_store_n(&w->futex, 0, __ATOMIC_RELAXED);
	__atomic_fetch_or(&rt->idle[w->index / 64], bit_of(w->index),
			  __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&rt->nidle, 1, __ATOMIC_SEQ_CST);
	last = w->idle_blocked &&
	       __atomic_add_fetch(&rt->nblocked, 1, __ATOMIC_SEQ_CST) ==
		       rt->nworkers;
	/*
	 * Mark, barrier, look: pairs with push, barrier, look in wakep()
	 * and wake_worker(). Going to sleep is rare next to making work,
	 * so this side takes the heavy barrier (internal.h).
	 */
	weft__heavy_barrier();
	if (work_anywhere(w) || __atomic_load_n(&rt->stop, __ATOMIC_SEQ_CST)) {
		idle_leave(w);
		flush_msgs(w);
		return;
	}
	if (unlikely(last) && deadlock_check(rt))
		deadline = weft_now_ns() + DEADLOCK_RECHECK_NS;	/* look again */
	sleep_until(w, deadline);
	idle_leave(w);
}

/* May @w become a spinner? At most half the awake workers spin. */
static bool may_spin(struct weft_rt *rt)
{
	return 2 * __atomic_load_n(&rt->nspinning, __ATOMIC_RELAXED) <
	       rt->nworkers - __atomic_load_n(&rt->nidle, __ATOMIC_RELAXED);
}

/*
 * Before deciding against spinning, look for work for GRACE_NS while
 * checking the rule again: a spinner usually stops within a few hundred
 * nanoseconds, as soon as it finds the work just made for it (a message
 * to a fiber it holds), and the reply to that message is what this
 * worker waits for. Without this grace two workers handing a message back
 * and forth would sleep and wake once per hand-off. Returns work found,
 * or NULL with w->spinning saying whether to spin on.
 */
static struct weft_fiber *grace(struct weft_worker *w)
{
	struct weft_rt *rt = w->rt;
	uint64_t start = weft_now_ns();
	struct weft_fiber *f;

	for (;;) {
		if (may_spin(rt)) {
			w->spinning = true;
			__atomic_add_fetch(&rt->nspinning, 1, __ATOMIC_SEQ_CST);
			return NULL;
		}
		if ((f = pick(w)) || (f = steal(w)))
			return f;
		if (weft_now_ns() - start >= GRACE_NS)
			return NULL;
		weft_cpu_relax();
	}
}

/*
 * Find work for an empty worker: timers, spinning thieves, then sleep.
 * Returns NULL when the runtime stops.
 */
static struct weft_fiber *find_work(struct weft_worker *w)
{
	struct weft_rt *rt = w->rt;
	struct weft_fiber *f;

	if (!live(rt))
		stop_all(rt);	/* the last fiber has exited */
	for (;;) {
		if (__atomic_load_n(&rt->stop, __ATOMIC_ACQUIRE)) {
			spin_stop(w, false);
			return NULL;
		}
		tick_hook(w);
		weft__timers_run(w, weft_now_ns());
		if ((f = pick(w)))
			break;
		if (w->ring)
			weft__ring_flush(w);
		else if (weft__netpoll_due(rt))
			weft__netpoll(w, 0);
		if ((f = pick(w)))
			break;
		/*
		 * With I/O in flight, wait in the ring: it returns as soon as
		 * a completion (or a wake) arrives, where spinning would have
		 * to poll the kernel for completions.
		 */
		if (rt->nworkers > 1 && !w->spinning && rt->spin_ns &&
		    !w->inflight && (f = grace(w)))
			break;
		if (w->spinning && !w->inflight) {
			uint64_t start = weft_now_ns(), now = start;

			do {
				if ((f = steal(w)) || (f = pick(w)))
					goto found;
				/*
				 * Past the first few microseconds, let
				 * whatever else wants this CPU (perhaps the
				 * fiber that will make our work) run.
				 */
				if (now - start > SPIN_YIELD_NS) {
					if (weft__netpoll_due(rt))
						weft__netpoll(w, 0);
					sched_yield();
					STAT_INC(w, nspins, 1);
					STAT_INC(w, nsyscalls, 1);
				}
				else
					weft_cpu_relax();
				now = weft_now_ns();
			} while (!__atomic_load_n(&rt->stop,
						  __ATOMIC_RELAXED) &&
				 now - start < rt->spin_ns &&
				 weft__timers_next(w) > now);
		}
		idle_sleep(w);
	}
found:
	spin_stop(w, true);
	return f;
}

static void worker_loop(struct weft_worker *w)
{
	struct weft_fiber *f;

	for (;;) {
		f = pick(w);
		if (!f && !(f = find_work(w)))
			return;
		if (unlikely(__atomic_load_n(&w->rt->stop, __ATOMIC_RELAXED))) {
			fifo_push(&w->local, f);
			return;
		}
		w = switch_to(w, NULL, f, false);
	}
}

/* ---- the monitor ---- */

/* Runnable fibers in @w's queues, roughly (racy reads, for weft-stat). */
static uint32_t worker_runnable(struct weft_worker *w)
{
	return runq_len(&w->runq) + !!READ_ONCE(w->runnext);
}

struct watch {
	bool woken;			/* its wake_reason was set last time */
	uint64_t switches;
	uint64_t since;			/* wall clock when it last changed */
	uint64_t since_cpu;		/* the worker's CPU time then */
	bool reported;
};

/* CPU time the worker's thread has used: a stall is time on a CPU. */
static uint64_t cpu_ns(const struct weft_worker *w)
{
	struct timespec ts;

	if (clock_gettime(w->cpuclock, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void say_stall(struct weft_worker *w, struct weft_fiber *f,
		      uint64_t ms)
{
	char name[WEFT_NAME_MAX];

	/*
	 * Acquiring w->running made the fiber's spawn visible. It may have
	 * finished since, and its slot been reused: the line may then name
	 * the next fiber, but it reads mapped, terminated memory.
	 */
	memcpy(name, f->name, WEFT_NAME_MAX);
	name[WEFT_NAME_MAX - 1] = '\0';
	weft_log("stall: fiber %#llx \"%s\" on worker %u has run %llu ms without an await point",
		 (unsigned long long)__atomic_load_n(&f->id, __ATOMIC_RELAXED),
		 name, w->index, (unsigned long long)ms);
}

/* Take the fibers queued behind a stuck worker and let others run them. */
static void rescue(struct weft_rt *rt, struct weft_worker *w)
{
	struct weft_fiber *batch[RUNQ_SIZE / 2];
	uint32_t n, i;

	struct weft_fiber *f = __atomic_exchange_n(&w->runnext, NULL,
						   __ATOMIC_ACQ_REL);

	if (f && f->bound)
		inbox_push(w, f);	/* cannot move: back to its owner */
	else if (f)
		inject_push(rt, f, f, 1);
	if (f && !f->bound)
		__atomic_add_fetch(&w->nrescued, 1, __ATOMIC_RELAXED);
	while ((n = runq_grab(w, batch))) {
		__atomic_add_fetch(&w->nrescued, n, __ATOMIC_RELAXED);
		for (i = 0; i + 1 < n; i++)
			batch[i]->next = batch[i + 1];
		inject_push(rt, batch[0], batch[n - 1], n);
		weft_dbg("monitor: moved %u fibers off stuck worker %u", n,
			 w->index);
	}
	wakep(rt);
}

static void *monitor_main(void *arg)
{
	struct weft_rt *rt = arg;
	struct watch *watch = calloc(rt->nworkers, sizeof(*watch));
	uint64_t period_ns = 1000000ULL * (rt->stall_ms && rt->stall_ms < 40 ?
					   (rt->stall_ms + 3) / 4 : 10);
	uint64_t stuck_ns = 2 * period_ns;
	unsigned int i;

	if (!watch)
		return NULL;
	while (!__atomic_load_n(&rt->monitor_futex, __ATOMIC_ACQUIRE)) {
		struct timespec ts = {
			.tv_sec = period_ns / 1000000000ULL,
			.tv_nsec = period_ns % 1000000000ULL,
		};
		uint64_t now;

		weft__futex(&rt->monitor_futex, FUTEX_WAIT, 0, &ts);
		if (__atomic_exchange_n(&monitor_poke, 0, __ATOMIC_ACQ_REL) &&
		    weft__monitor_hook)
			weft__monitor_hook();
		if (rt->stats)
			weft__stats_publish(rt, worker_runnable);
		now = weft_now_ns();
		for (i = 0; i < rt->nworkers; i++) {
			struct weft_worker *w = &rt->workers[i];
			uint64_t s = __atomic_load_n(&w->switches,
						     __ATOMIC_RELAXED);
			struct weft_fiber *f = __atomic_load_n(&w->running,
							       __ATOMIC_ACQUIRE);

			/*
			 * A wake owed to it since the last look: the MSG_RING
			 * may still sit unsubmitted in a waker that runs one
			 * long fiber. Kick its eventfd instead.
			 */
			if (__atomic_load_n(&w->wake_reason, __ATOMIC_RELAXED)) {
				if (watch[i].woken && w->ring)
					efd_kick(w);
				watch[i].woken = true;
			} else {
				watch[i].woken = false;
			}
			if (s != watch[i].switches || !f) {
				watch[i].switches = s;
				watch[i].since = now;
				watch[i].since_cpu = rt->stall_ms ? cpu_ns(w) : 0;
				watch[i].reported = false;
				continue;
			}
			/*
			 * CPU time, not wall time: a worker the kernel
			 * preempted, or one blocked in a system call, is not
			 * running a fiber that forgot its await points.
			 */
			if (rt->stall_ms && !watch[i].reported) {
				uint64_t ran = cpu_ns(w) - watch[i].since_cpu;

				if (ran >= rt->stall_ms * 1000000ULL) {
					say_stall(w, f, ran / 1000000);
					watch[i].reported = true;
				}
			}
			if (rt->nworkers > 1 && now - watch[i].since >= stuck_ns &&
			    (runq_len(&w->runq) ||
			     __atomic_load_n(&w->runnext, __ATOMIC_RELAXED)))
				rescue(rt, w);
		}
	}
	free(watch);
	return NULL;
}

/* ---- setting up and tearing down ---- */

/* At shutdown: release the slot of every fiber that never finished. */
static void abandon(unsigned int cls, uint32_t index, void *top, void *arg)
{
	struct weft_worker *w = arg;
	struct weft_fiber *f = fiber_of_top(top);

	(void)cls;
	(void)index;
	if (READ_ONCE(f->state) == FIBER_FREE || f == w->rt->main)
		return;
	__atomic_store_n(&f->join, JOIN_REAPED, __ATOMIC_RELAXED);
	reap(w, f);
}

static const char *const backend_names[] = { "io_uring", "epoll", NULL };
static const char *const ring_setup_names[] = {
	"defer", "coop", "plain", "sqpoll", NULL,
};
static const char *const io_try_names[] = {
	"none", "send", "recv", "both", NULL,
};

struct config {
	unsigned int workers;
	int backend;
	bool stats;			/* WEFT_STATS */
};

static int config(const struct weft_rt_attr *attr, struct weft_rt *rt,
		  struct config *c, const struct weft_topo *topo)
{
	unsigned long workers, budget, stall_ms, spin_us;
	int io_try = 0;
	size_t stack;
	bool pin;
	int guard, ret;

	if (attr && attr->flags)
		return -EINVAL;
	ret = weft_env_bool("WEFT_DEBUG", false, &weft_debug_on);
	if (!ret)
		ret = weft_env_size("WEFT_STACK_SIZE", DEFAULT_STACK,
				    WEFT_STACK_MIN, WEFT_STACK_MAX, &stack);
	if (!ret)
		ret = weft_env_choice("WEFT_GUARD", weft_guard_names, -1,
				      &guard);
	if (!ret)
		ret = weft_env_uint("WEFT_WORKERS", topo->ncpus, 1, MAX_WORKERS,
				    &workers);
	if (!ret)
		ret = weft_env_uint("WEFT_BUDGET", 128, 1, 1000000, &budget);
	if (!ret)
		ret = weft_env_uint("WEFT_STALL_MS", 50, 0, 3600000,
				    &stall_ms);
	if (!ret)
		ret = weft_env_uint("WEFT_SPIN_US", 50, 0, 1000000, &spin_us);
	if (!ret)
		ret = weft_env_bool("WEFT_PIN", false, &pin);
	if (!ret)
		ret = weft_env_choice("WEFT_BACKEND", backend_names, 0,
				      &c->backend);
	if (!ret)
		ret = weft_env_choice("WEFT_RING_SETUP", ring_setup_names, 0,
				      &rt->ring_setup);
	if (!ret)
		ret = weft_env_bool("WEFT_STATS", false, &c->stats);
	if (!ret)
		ret = weft_env_choice("WEFT_IO_TRY", io_try_names, IO_TRY_DEFAULT,
				      &io_try);
	if (!ret)
		ret = weft_rseq_init();		/* WEFT_RSEQ */
	if (!ret)
		ret = weft__offload_init();	/* WEFT_OFFLOAD_THREADS */
	if (ret)
		return ret;
	if (attr && attr->workers) {
		if (attr->workers > MAX_WORKERS)
			return -EINVAL;
		workers = attr->workers;
	}
	if (attr && attr->stack_size) {
		if (attr->stack_size > WEFT_STACK_MAX)
			return -EINVAL;
		stack = attr->stack_size;
	}
	c->workers = workers;
	rt->budget = budget;
	rt->stall_ms = stall_ms;
	rt->pin = pin;
	rt->spin_ns = spin_us * 1000ULL;
	rt->io_try = io_try;
	rt->stack_cls = weft_stack_class(stack);
	guard = weft_stack_init(guard);
	if (guard < 0) {
		weft_log("WEFT_GUARD=madvise: MADV_GUARD_INSTALL is not supported by this kernel (Linux 6.13+); use mprotect, canary or none");
		return guard;
	}
	weft_dbg("guard=%s stack=%zuKiB workers=%lu budget=%lu",
		 weft_guard_names[guard],
		 weft_stack_class_size(rt->stack_cls) >> 10, workers, budget);
	return 0;
}

/*
 * A ring for idle sleeps, wakes and fiber I/O, made on the worker's own
 * thread with the setup WEFT_RING_SETUP names, or the next one the kernel
 * takes: defer (SINGLE_ISSUER|DEFER_TASKRUN: completions are posted only
 * inside the worker's own io_uring_enter), coop (COOP_TASKRUN), plain, or
 * sqpoll (a kernel thread polls the SQ; SINGLE_ISSUER).
 */
static int ring_init(struct weft_worker *w)
{
	static const struct {
		unsigned int flags;
		const char *name;
	} setups[] = {
		{ IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		  "SINGLE_ISSUER|DEFER_TASKRUN" },
		{ IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN" },
		{ 0, "no flags" },
		{ IORING_SETUP_SQPOLL | IORING_SETUP_SINGLE_ISSUER,
		  "SQPOLL|SINGLE_ISSUER" },
	};
	struct io_uring_params p;
	struct io_uring_sqe *sqe;
	unsigned int i = w->rt->ring_setup;
	int ret = -ENOSYS;

	w->ring = calloc(1, sizeof(*w->ring));
	if (!w->ring)
		return -ENOMEM;
	/* sqpoll falls back to defer; the others down the list. */
	for (; i < ARRAY_SIZE(setups); i = i == 3 ? 0 : i + 1) {
		memset(&p, 0, sizeof(p));
		p.flags = setups[i].flags;
		p.sq_thread_idle = 10;		/* ms before its thread sleeps */
		ret = io_uring_queue_init_params(64, w->ring, &p);
		if (ret != -EINVAL || i == 2)
			break;
	}
	if (ret) {
		free(w->ring);
		w->ring = NULL;
		return ret;
	}
	w->ring_flags = setups[i].name;
	sqe = io_uring_get_sqe(w->ring);
	io_uring_prep_read(sqe, w->efd, &w->efd_buf, sizeof(w->efd_buf), 0);
	sqe->user_data = TAG_EFD;
	io_uring_submit(w->ring);
	return 0;
}

static void ring_fini(struct weft_worker *w)
{
	if (w->ring) {
		io_uring_queue_exit(w->ring);
		free(w->ring);
		w->ring = NULL;
	}
}

struct start {
	struct weft_worker *w;
	int backend;
	int ret;			/* atomic: 1 until the worker says */
};

static void pin_to(struct weft_worker *w)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set))
		weft_dbg("worker %u: cannot pin to CPU %u", w->index, w->cpu);
}

/*
 * One line on which I/O backend runs and why: always when io_uring was
 * wanted and refused (the program runs slower than it could), otherwise
 * with WEFT_DEBUG=1.
 */
static void backend_say(const struct config *c, const struct weft_worker *w)
{
	if (w->ring)
		weft_dbg("I/O backend io_uring (%s)", w->ring_flags);
	else if (c->backend == 0)
		weft_log("I/O backend epoll: io_uring unavailable (%s%s)",
			 strerror(-w->ring_err), w->ring_err == -EPERM ?
			 ": seccomp or kernel.io_uring_disabled" : "");
	else
		weft_dbg("I/O backend epoll (WEFT_BACKEND=epoll)");
}

/* Per-thread setup, on the worker's own thread. */
static int worker_init(struct weft_worker *w, int backend)
{
	pthread_attr_t pa;
	void *lo = NULL;
	size_t size = 0;
	int ret;

	if (w->pin)
		pin_to(w);
	ret = weft__altstack_init(w);
	if (ret)
		return ret;
	if (backend == 0) {
		w->ring_err = ring_init(w);
		if (w->ring_err)
			weft_dbg("worker %u: io_uring unavailable (%s): epoll",
				 w->index, strerror(-w->ring_err));
	}
	if (!pthread_getattr_np(pthread_self(), &pa)) {
		pthread_attr_getstack(&pa, &lo, &size);
		pthread_attr_destroy(&pa);
	}
	weft_san_thread(&w->loop_san, lo, size);
	w->tp = __builtin_thread_pointer();
	pthread_getcpuclockid(pthread_self(), &w->cpuclock);
	weft__cur_worker = w;
	return 0;
}

/* Its ring stays: others may be sending it a wake; workers_free() goes. */
static void worker_fini(struct weft_worker *w)
{
	weft_stack_cache_drain(&w->stacks);
	weft__cur_worker = NULL;
	weft__altstack_fini(w);
}

static void *worker_main(void *arg)
{
	struct start *s = arg;
	struct weft_worker *w = s->w;
	int ret = worker_init(w, s->backend);

	__atomic_store_n(&s->ret, ret, __ATOMIC_RELEASE);
	weft__futex((uint32_t *)&s->ret, FUTEX_WAKE, 1, NULL);
	if (ret)
		return NULL;
	worker_loop(w);
	worker_fini(w);
	return NULL;
}

static int start_worker(struct weft_worker *w, int backend)
{
	struct start s = { .w = w, .backend = backend, .ret = 1 };
	int ret;

	ret = pthread_create(&w->thread, NULL, worker_main, &s);
	if (ret)
		return -ret;
	while (__atomic_load_n(&s.ret, __ATOMIC_ACQUIRE) == 1)
		weft__futex((uint32_t *)&s.ret, FUTEX_WAIT, 1, NULL);
	if (s.ret)
		pthread_join(w->thread, NULL);
	return s.ret;
}

static int workers_alloc(struct weft_rt *rt, unsigned int n,
			 const struct weft_topo *topo)
{
	unsigned int i;

	rt->workers = aligned_alloc(64, n * sizeof(*rt->workers));
	rt->idle = calloc((n + 63) / 64, sizeof(*rt->idle));
	if (!rt->workers || !rt->idle)
		return -ENOMEM;
	memset(rt->workers, 0, n * sizeof(*rt->workers));
	rt->nworkers = n;
	/* Before anything can fail: workers_free() closes what is >= 0. */
	for (i = 0; i < n; i++)
		rt->workers[i].efd = -1;
	for (i = 0; i < n; i++) {
		struct weft_worker *w = &rt->workers[i];

		w->rt = rt;
		w->index = i;
		w->budget = rt->budget;
		w->timers.next = UINT64_MAX;
		w->node = weft_topo_node_of_worker(topo, i);
		w->pin = weft_topo_worker_cpu(topo, i, &w->cpu) && rt->pin;
		w->stacks.node = w->node;
		w->victims = calloc(n, sizeof(*w->victims));
		if (!w->victims)
			return -ENOMEM;
		w->nvictims = weft_topo_steal_order(topo, i, n, w->victims);
		w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (w->efd < 0)
			return -errno;
	}
	return 0;
}

static void workers_free(struct weft_rt *rt)
{
	unsigned int i;

	for (i = 0; rt->workers && i < rt->nworkers; i++) {
		ring_fini(&rt->workers[i]);
		free(rt->workers[i].victims);
		free(rt->workers[i].timers.heap);
		if (rt->workers[i].efd >= 0)
			close(rt->workers[i].efd);
	}
	free(rt->workers);
	free(rt->idle);
}

WEFT_EXPORT int weft_run(const struct weft_rt_attr *attr,
			 void *(*fn)(void *), void *arg, void **result)
{
	struct weft_rt rt = { 0 };
	struct weft_rt *expect = NULL;
	struct weft_topo topo;
	uint64_t main_id;
	struct config c;
	struct weft_worker *w;
	unsigned int i, started = 1;
	int ret;

	if (!fn)
		return -EINVAL;
	if (!__atomic_compare_exchange_n(&running_rt, &expect, &rt, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return -EBUSY;
	weft__barrier_init();
	ret = weft_topo_init(&topo);
	if (ret)
		goto out_unclaim;
	ret = config(attr, &rt, &c, &topo);
	if (!ret)
		ret = weft__fault_init();
	if (ret)
		goto out_unclaim;
	rt.epfd = rt.break_fd = -1;
	ret = workers_alloc(&rt, c.workers, &topo);
	if (!ret)
		ret = weft__epoll_init(&rt);
	if (ret)
		goto out_workers;
	w = &rt.workers[0];
	ret = worker_init(w, c.backend);
	if (ret)
		goto out_workers;
	rt.use_uring = w->ring != NULL;
	backend_say(&c, w);
	c.backend = !rt.use_uring;	/* the others do as worker 0 */
	/* The first fiber waits on worker 0 until the others are up. */
	ret = spawn(w, NULL, fn, arg, &main_id);
	if (ret)
		goto out_worker0;
	rt.main = weft__lookup(main_id);
	for (; started < c.workers; started++) {
		ret = start_worker(&rt.workers[started], c.backend);
		if (ret) {
			weft_log("cannot start worker %u: %s", started,
				 strerror(-ret));
			break;
		}
	}
	if (ret) {
		/* Stop the ones that started; the first fiber never runs. */
		stop_all(&rt);
		for (i = 1; i < started; i++)
			pthread_join(rt.workers[i].thread, NULL);
		weft_stack_each(abandon, w);
		__atomic_store_n(&rt.main->join, JOIN_REAPED, __ATOMIC_RELAXED);
		reap(w, rt.main);
		ret = ret == -EAGAIN || ret == -ENOMEM ? ret : -EAGAIN;
		goto out_worker0;
	}
	if (c.stats && weft__stats_open(&rt))
		c.stats = false;	/* said why; run without */
	if (rt.stall_ms || c.workers > 1 || c.stats) {
		sigset_t all, old;

		/* No signal of the program's may land on the monitor. */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		rt.has_monitor = !pthread_create(&rt.monitor, NULL,
						 monitor_main, &rt);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	worker_loop(w);
	for (i = 1; i < c.workers; i++)
		pthread_join(rt.workers[i].thread, NULL);
	if (rt.has_monitor) {
		__atomic_store_n(&rt.monitor_futex, 1, __ATOMIC_RELEASE);
		weft__futex(&rt.monitor_futex, FUTEX_WAKE, 1, NULL);
		pthread_join(rt.monitor, NULL);
	}
	weft__stats_close(&rt);
	weft__offload_fini();		/* before any stack goes */
	if (result)
		*result = rt.main->result;
	weft_stack_each(abandon, w);
	__atomic_store_n(&rt.main->join, JOIN_REAPED, __ATOMIC_RELAXED);
	reap(w, rt.main);
out_worker0:
	worker_fini(w);
out_workers:
	workers_free(&rt);
	weft__epoll_fini(&rt);
	weft__fault_fini();
out_unclaim:
	__atomic_store_n(&running_rt, NULL, __ATOMIC_RELEASE);
	return ret;
}
