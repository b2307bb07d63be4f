// SPDX-License-Identifier: MIT
/*
 * The weft scheduler core.
 *
 * Glossary
 *	fiber	a function running on its own fixed-size stack, with its
 *		descriptor (struct weft_fiber) at the top of that stack. Its id
 *		encodes the stack slot and a generation (see internal.h).
 *	worker	an OS thread that runs fibers, one at a time. Its scheduler
 *		loop runs on the thread's own stack and is entered only when
 *		the worker has nothing to run.
 *	context	a saved stack pointer (lib/switch.h); switching saves the
 *		callee-saved registers on the old stack and pops the new one's.
 *	post	work a context leaves for whatever runs next on its worker,
 *		to be done once its own stack is no longer in use (reaping a
 *		finished fiber, publishing a joiner).
 *
 * Who owns what
 *	A worker owns its run queue, timer heap, stack cache and counters:
 *	only its own thread touches them, so they take no lock. A fiber's
 *	context, state and fls belong to the worker running or holding it.
 *	fiber.join is the one field two parties race on (the exiting fiber
 *	and its joiner or detacher): it changes only by atomic exchange/CAS.
 *
 * Switching
 *	A fiber that blocks (park, sleep, join, exit) or yields switches
 *	straight to the next runnable fiber of its worker; only when the
 *	run queue is empty does it switch to the worker's loop, which waits
 *	for the next timer. A hand-off between two fibers is one switch, not
 *	two (no g0 bounce as in Go).
 *
 * Park/wake protocol (join shown; every wait follows it)
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
 * Timers
 *	Sleeping fibers sit in their worker's min-heap. It is checked every
 *	64 switches while fibers run, at every yield that finds nothing else
 *	to run, and whenever the loop runs; the loop sleeps until the earliest
 *	deadline (clock_nanosleep, TIMER_ABSTIME).
 *
 * Stacks
 *	lib/stack.c carves stacks from 1 GiB MAP_NORESERVE reservations, one
 *	guard page each (MADV_GUARD_INSTALL: a page-table marker, no VMA, so
 *	a million stacks stay within vm.max_map_count). A worker recycles
 *	stacks through its own cache, so spawn takes no lock and makes no
 *	syscall in steady state. The stack top is offset by 0-960 bytes per
 *	slot so that hot frames of different fibers do not alias in L1d.
 *
 * Rejected designs
 *	- ucontext: swapcontext makes a sigprocmask syscall (231 ns here).
 *	- Switching through the loop on every park (Go's g0): twice the
 *	  switches per hand-off.
 *	- Descriptors in a separate heap: a second allocation per spawn and a
 *	  second cache miss per switch; an id would need a lookup table.
 *	- mprotect guard pages by default: two VMAs each, ~32,750 stacks max.
 *	- Copying or segmented stacks: C code holds pointers into its stack.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/env.h"
#include "../lib/log.h"
#include "internal.h"

#define DEFAULT_STACK	(256UL << 10)
#define TIMER_TICKS	64

WEFT_TLS struct weft_worker *weft__cur_worker;

/* Set while weft_run() runs; there is one runtime per process. */
static struct weft_rt *running_rt;

/* ---- run queue ---- */

static inline void runq_push(struct runq *q, struct weft_fiber *f)
{
	f->next = NULL;
	if (q->tail)
		q->tail->next = f;
	else
		q->head = f;
	q->tail = f;
}

static inline struct weft_fiber *runq_pop(struct runq *q)
{
	struct weft_fiber *f = q->head;

	if (f) {
		q->head = f->next;
		if (!q->head)
			q->tail = NULL;
	}
	return f;
}

void weft__ready(struct weft_worker *w, struct weft_fiber *f)
{
	f->state = FIBER_RUNNABLE;
	runq_push(&w->runq, f);
}

/* ---- switching ---- */

static void post_run(struct weft_worker *w)
{
	void (*fn)(struct weft_worker *, struct weft_fiber *) = w->post;

	w->post = NULL;
	fn(w, w->post_f);
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
	w->cur = next;
	if (next)
		next->state = FIBER_RUNNING;
	weft_san_leave(ssan, next ? &next->san : &w->loop_san, dying);
	w = weft_ctx_switch(self ? &self->ctx : &w->loop_ctx,
			    next ? &next->ctx : &w->loop_ctx, w);
	weft_san_enter(ssan);
	if (w->post)
		post_run(w);
	return w;
}

/* Switch to the next runnable fiber, or to the loop. */
static struct weft_worker *schedule(struct weft_worker *w,
				    struct weft_fiber *self, bool dying)
{
	if (unlikely(!(++w->tick % TIMER_TICKS)) && w->ntimers)
		weft__timers_run(w, weft_now_ns());
	return switch_to(w, self, runq_pop(&w->runq), dying);
}

/* The calling fiber waits; someone else will weft__ready() it. */
struct weft_worker *weft__park(struct weft_worker *w, struct weft_fiber *self)
{
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
	if (f->id != fid || f->state == FIBER_FREE)
		return NULL;
	return f;
}

/* Give a finished (or abandoned) fiber's slot back; @f's stack is idle. */
static void reap(struct weft_worker *w, struct weft_fiber *f)
{
	weft_san_stack_gone(&f->san);
	f->state = FIBER_FREE;
	f->gen++;
	f->id = 0;
	weft_stack_put(&w->stacks, f->cls, f->top, f->index);
}

/* Post of a fiber's last switch: publish JOIN_DONE, wake the joiner. */
static void exit_commit(struct weft_worker *w, struct weft_fiber *f)
{
	uintptr_t old;

	f->state = FIBER_DONE;
	old = __atomic_exchange_n(&f->join, JOIN_DONE, __ATOMIC_ACQ_REL);
	if (old == JOIN_DETACHED) {
		__atomic_store_n(&f->join, JOIN_REAPED, __ATOMIC_RELAXED);
		reap(w, f);
	} else if (old != JOIN_NONE) {
		weft__ready(w, (struct weft_fiber *)old);
	}
}

/*
 * Post of a fiber's last switch straight to its joiner: the joiner was
 * published in join (so only this exit can ready it), and is running now.
 */
static void exit_handoff(struct weft_worker *w, struct weft_fiber *f)
{
	(void)w;
	f->state = FIBER_DONE;
	__atomic_store_n(&f->join, JOIN_DONE, __ATOMIC_RELEASE);
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
	f->result = result;
	w->nlive--;
	w->post_f = f;
	if (f == w->rt->main && w->rt->shutdown) {
		/* Nothing else will run: go straight back to the loop. */
		w->post = exit_commit;
		switch_to(w, f, NULL, true);
	}
	j = __atomic_load_n(&f->join, __ATOMIC_ACQUIRE);
	if (j > JOIN_REAPED) {
		/* A joiner waits: hand the worker to it directly. */
		w->post = exit_handoff;
		switch_to(w, f, (struct weft_fiber *)j, true);
	}
	w->post = exit_commit;
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

static int spawn(struct weft_worker *w, struct weft_fiber **out,
		 const struct weft_attr *attr, void *(*fn)(void *), void *arg)
{
	unsigned int cls = w->rt->stack_cls;
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
	top = weft_stack_get(&w->stacks, cls, &index);
	if (unlikely(!top))
		return -ENOMEM;
	f = fiber_of_top(top);
	f->id = make_id(f->gen ? f->gen : (f->gen = 1), cls, index);
	f->join = attr && (attr->flags & WEFT_DETACHED) ? JOIN_DETACHED
							: JOIN_NONE;
	f->cls = cls;
	f->index = index;
	f->top = top;
	f->fn = fn;
	f->arg = arg;
	f->fls_mask = 0;
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
	w->nlive++;
	weft__ready(w, f);
	*out = f;
	return 0;
}

WEFT_EXPORT int weft_spawn(uint64_t *fid, const struct weft_attr *attr,
			   void *(*fn)(void *), void *arg)
{
	struct weft_worker *w = weft__cur_worker;
	struct weft_fiber *f;
	int ret;

	if (unlikely(!w || !w->cur))
		return -EPERM;
	if (unlikely(!fn || (!fid && !(attr && (attr->flags & WEFT_DETACHED)))))
		return -EINVAL;
	if (unlikely(attr && (attr->flags & ~WEFT_DETACHED)))
		return -EINVAL;
	ret = spawn(w, &f, attr, fn, arg);
	if (likely(!ret) && fid)
		*fid = f->id;
	return ret;
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
		self->state = FIBER_PARKED;
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

WEFT_EXPORT int weft_yield(void)
{
	struct weft_worker *w = weft__cur_worker;
	struct weft_fiber *self;

	if (unlikely(!w || !(self = w->cur)))
		return -EPERM;
	if (unlikely(!w->runq.head)) {
		if (!w->ntimers)
			return 0;
		weft__timers_run(w, weft_now_ns());
		if (!w->runq.head)
			return 0;
	}
	weft__ready(w, self);
	schedule(w, self, false);
	return 0;
}

WEFT_EXPORT uint64_t weft_self(void)
{
	struct weft_worker *w = weft__cur_worker;

	return w && w->cur ? w->cur->id : 0;
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

WEFT_EXPORT int weft_sleep_until_ns(uint64_t deadline_ns)
{
	struct weft_worker *w = weft__cur_worker;
	struct weft_fiber *self;
	int ret;

	if (unlikely(!w || !(self = w->cur)))
		return -EPERM;
	if (deadline_ns <= weft_now_ns())
		return weft_yield();
	self->deadline_ns = deadline_ns;
	ret = weft__timer_add(w, self);
	if (ret)
		return ret;
	weft__park(w, self);
	return 0;
}

WEFT_EXPORT int weft_sleep_ns(uint64_t ns)
{
	if (!ns)
		return weft_yield();
	return weft_sleep_until_ns(weft_now_ns() + ns);
}

WEFT_EXPORT int weft_shutdown(void)
{
	struct weft_rt *rt = __atomic_load_n(&running_rt, __ATOMIC_ACQUIRE);

	if (!rt)
		return -EPERM;
	__atomic_store_n(&rt->shutdown, true, __ATOMIC_RELEASE);
	return 0;
}

/* ---- the loop ---- */

static WEFT_COLD void deadlock(struct weft_worker *w)
{
	weft_log("deadlock: %ld fibers are parked and nothing can wake them",
		 w->nlive);
	abort();
}

/* Sleep until @deadline or until a fiber is readied from outside. */
static void idle_wait(uint64_t deadline)
{
	struct timespec ts = {
		.tv_sec = deadline / 1000000000ULL,
		.tv_nsec = deadline % 1000000000ULL,
	};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

static void worker_loop(struct weft_worker *w)
{
	struct weft_rt *rt = w->rt;

	for (;;) {
		struct weft_fiber *f = runq_pop(&w->runq);

		if (f) {
			w = switch_to(w, NULL, f, false);
			continue;
		}
		if (rt->main->state == FIBER_DONE &&
		    (!w->nlive || __atomic_load_n(&rt->shutdown,
						  __ATOMIC_ACQUIRE)))
			return;
		if (w->ntimers) {
			uint64_t now = weft_now_ns();
			uint64_t next = weft__timers_next(w);

			if (next > now)
				idle_wait(next);
			weft__timers_run(w, weft_now_ns());
			continue;
		}
		deadlock(w);
	}
}

/* At shutdown: release the slot of every fiber that never finished. */
static void abandon(unsigned int cls, uint32_t index, void *top, void *arg)
{
	struct weft_worker *w = arg;
	struct weft_fiber *f = fiber_of_top(top);

	(void)cls;
	(void)index;
	if (f->state == FIBER_FREE || f == w->rt->main)
		return;
	__atomic_store_n(&f->join, JOIN_REAPED, __ATOMIC_RELAXED);
	reap(w, f);
}

static int config(const struct weft_rt_attr *attr, struct weft_rt *rt)
{
	size_t stack;
	int guard, ret;

	if (attr && (attr->flags || attr->workers > 1))
		return attr->flags ? -EINVAL : -EOPNOTSUPP;
	ret = weft_env_bool("WEFT_DEBUG", false, &weft_debug_on);
	if (!ret)
		ret = weft_env_size("WEFT_STACK_SIZE", DEFAULT_STACK,
				    WEFT_STACK_MIN, WEFT_STACK_MAX, &stack);
	if (!ret)
		ret = weft_env_choice("WEFT_GUARD", weft_guard_names, -1,
				      &guard);
	if (ret)
		return ret;
	if (attr && attr->stack_size) {
		if (attr->stack_size > WEFT_STACK_MAX)
			return -EINVAL;
		stack = attr->stack_size;
	}
	rt->stack_cls = weft_stack_class(stack);
	guard = weft_stack_init(guard);
	if (guard < 0) {
		weft_log("WEFT_GUARD=madvise: MADV_GUARD_INSTALL is not supported by this kernel (Linux 6.13+); use mprotect, canary or none");
		return guard;
	}
	weft_dbg("guard=%s stack=%zuKiB workers=1", weft_guard_names[guard],
		 weft_stack_class_size(rt->stack_cls) >> 10);
	return 0;
}

WEFT_EXPORT int weft_run(const struct weft_rt_attr *attr,
			 void *(*fn)(void *), void *arg, void **result)
{
	struct weft_worker worker = { 0 };
	struct weft_rt rt = { .workers = &worker, .nworkers = 1 };
	struct weft_rt *expect = NULL;
	struct weft_worker *w = &worker;
	pthread_attr_t pa;
	void *lo = NULL;
	size_t size = 0;
	int ret;

	if (!fn)
		return -EINVAL;
	if (!__atomic_compare_exchange_n(&running_rt, &expect, &rt, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return -EBUSY;
	ret = config(attr, &rt);
	if (ret)
		goto out_unclaim;
	ret = weft__fault_init();
	if (ret)
		goto out_unclaim;
	w->rt = &rt;
	ret = weft__altstack_init(w);
	if (ret)
		goto out_fault;
	if (!pthread_getattr_np(pthread_self(), &pa)) {
		pthread_attr_getstack(&pa, &lo, &size);
		pthread_attr_destroy(&pa);
	}
	weft_san_thread(&w->loop_san, lo, size);
	weft__cur_worker = w;

	ret = spawn(w, &rt.main, NULL, fn, arg);
	if (ret)
		goto out_worker;
	worker_loop(w);
	if (result)
		*result = rt.main->result;
	if (rt.shutdown)
		weft_stack_each(abandon, w);
	__atomic_store_n(&rt.main->join, JOIN_REAPED, __ATOMIC_RELAXED);
	reap(w, rt.main);
out_worker:
	free(w->timers);
	weft_stack_cache_drain(&w->stacks);
	weft__cur_worker = NULL;
	weft__altstack_fini(w);
out_fault:
	weft__fault_fini();
out_unclaim:
	__atomic_store_n(&running_rt, NULL, __ATOMIC_RELEASE);
	return ret;
}
