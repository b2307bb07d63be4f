/* SPDX-License-Identifier: MIT */
/* What the files of sched/ share; see core.c for the design. */
#ifndef WEFT_SCHED_INTERNAL_H
#define WEFT_SCHED_INTERNAL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "../uapi/weft.h"
#include "../lib/compiler.h"
#include "../lib/sanitizer.h"
#include "../lib/stack.h"
#include "../lib/switch.h"

enum fiber_state {
	FIBER_FREE = 0,		/* the slot holds no fiber (a zero page reads so) */
	FIBER_RUNNABLE,		/* in a run queue */
	FIBER_RUNNING,
	FIBER_PARKED,		/* waiting for someone to ready it */
	FIBER_SLEEPING,		/* in its worker's timer heap */
	FIBER_DONE,		/* returned; its slot waits to be reaped */
};

/* fiber.join: who reaps the fiber. Any other value is the joiner. */
#define JOIN_NONE	0UL	/* joinable, nobody waiting yet */
#define JOIN_DETACHED	1UL	/* reaped by whoever sees it finish */
#define JOIN_DONE	2UL	/* finished, nobody waiting yet */
#define JOIN_REAPED	3UL	/* joined or detached-and-finished: gone */

/*
 * The fiber descriptor lives at the top of its own stack, so a fiber is
 * one allocation and its id names its stack slot:
 *	id = generation << 32 | class << 28 | index
 * The generation goes up each time the slot is reaped, so a stale id
 * never names the slot's next fiber.
 */
struct weft_fiber {
	struct weft_ctx ctx;		/* saved sp; only its worker touches it */
	struct weft_fiber *next;	/* run queue link; owned by the queue */
	uint64_t id;
	/*
	 * JOIN_* or the joiner. Changed only by atomic exchange/CAS: the
	 * exiting side and the joining/detaching side race on it.
	 */
	uintptr_t join;
	uint32_t gen;			/* survives reaping; see id */
	uint8_t state;			/* enum fiber_state; owner: its worker */
	uint8_t cls;			/* stack class */
	uint32_t index;			/* stack index in its class */
	uint32_t heap_idx;		/* position in the timer heap */
	void *top;			/* end of its stack slot */
	void *(*fn)(void *);
	void *arg;
	void *result;			/* written before JOIN_DONE (release) */
	uint64_t deadline_ns;		/* when sleeping */
	void *wait;			/* what it is parked on, for its post */
	struct weft_san san;
	uint64_t fls_mask;		/* which fls[] slots are set */
	void *fls[WEFT_KEYS_MAX];
	char name[WEFT_NAME_MAX];
} __attribute__((aligned(64)));

/* FIFO of runnable fibers, linked through fiber.next. */
struct runq {
	struct weft_fiber *head, *tail;
};

struct weft_rt;

/* A worker: one OS thread running fibers. Only its own thread touches it. */
struct weft_worker {
	struct weft_fiber *cur;		/* the running fiber; NULL in the loop */
	struct runq runq;
	/*
	 * Set by a context just before it switches away, run by whatever
	 * runs next on this worker right after the switch: work that must
	 * not start until the old stack is no longer in use.
	 */
	void (*post)(struct weft_worker *w, struct weft_fiber *f);
	struct weft_fiber *post_f;
	unsigned int tick;		/* switches, for periodic timer checks */
	struct weft_ctx loop_ctx;	/* the scheduler loop, on the thread stack */
	struct weft_san loop_san;
	struct weft_fiber **timers;	/* min-heap on deadline_ns */
	uint32_t ntimers, timers_cap;
	long nlive;			/* fibers spawned here minus exits here */
	struct weft_stack_cache stacks;
	struct weft_rt *rt;
	stack_t altstack;		/* the thread's previous one */
	void *altstack_mem;		/* ours, for the overflow reporter */
};

struct weft_rt {
	struct weft_worker *workers;
	unsigned int nworkers;
	unsigned int stack_cls;		/* default stack class */
	bool shutdown;			/* weft_shutdown() was called */
	struct weft_fiber *main;	/* the first fiber */
};

/* The worker running on this thread, or NULL. */
extern WEFT_TLS struct weft_worker *weft__cur_worker;

static inline struct weft_fiber *fiber_of_top(void *top)
{
	return (struct weft_fiber *)(((uintptr_t)top - WEFT_STACK_LINK -
				      sizeof(struct weft_fiber)) & ~63UL);
}

/* core.c */
void weft__ready(struct weft_worker *w, struct weft_fiber *f);
struct weft_worker *weft__park(struct weft_worker *w, struct weft_fiber *self);
struct weft_fiber *weft__lookup(uint64_t fid);

/* timer.c */
int weft__timer_add(struct weft_worker *w, struct weft_fiber *f);
void weft__timers_run(struct weft_worker *w, uint64_t now);
uint64_t weft__timers_next(const struct weft_worker *w);

/* fls.c */
void weft__fls_run_destructors(struct weft_fiber *f);

/* fault.c */
int weft__fault_init(void);
void weft__fault_fini(void);
int weft__altstack_init(struct weft_worker *w);
void weft__altstack_fini(struct weft_worker *w);
WEFT_COLD __attribute__((noreturn)) void weft__overflow(struct weft_fiber *f);

#endif
