/* SPDX-License-Identifier: MIT */
/* What the files of sched/ share; see core.c for the design. */
#ifndef WEFT_SCHED_INTERNAL_H
#define WEFT_SCHED_INTERNAL_H

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../uapi/weft.h"
#include "../lib/compiler.h"
#include "../lib/sanitizer.h"
#include "../lib/stack.h"
#include "../lib/switch.h"

/*
 * A spinlock for the short critical sections of sync objects. Never held
 * across a switch: weft__wait() releases it after the waiter's stack is
 * idle.
 */
struct weft_spin {
	uint32_t locked;
};

static inline bool weft_spin_trylock(struct weft_spin *l)
{
	return !__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE);
}

/* The holder may be a preempted thread: spin a while, then give way. */
static inline void weft_spin_lock(struct weft_spin *l)
{
	unsigned int n = 0;

	while (unlikely(!weft_spin_trylock(l)))
		while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED))
			if (++n & 1023)
				weft_cpu_relax();
			else
				sched_yield();
}

static inline void weft_spin_unlock(struct weft_spin *l)
{
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

enum fiber_state {
	FIBER_FREE = 0,		/* the slot holds no fiber (a zero page reads so) */
	FIBER_RUNNABLE,		/* in a run queue */
	FIBER_RUNNING,
	FIBER_PARKED,		/* waiting for someone to ready it */
	FIBER_DONE,		/* returned; its slot waits to be reaped */
};

/* fiber.join: who reaps the fiber. Any other value is the joiner. */
#define JOIN_NONE	0UL	/* joinable, nobody waiting yet */
#define JOIN_DETACHED	1UL	/* reaped by whoever sees it finish */
#define JOIN_DONE	2UL	/* finished, nobody waiting yet */
#define JOIN_REAPED	3UL	/* joined or detached-and-finished: gone */

struct weft_worker;

/*
 * The fiber descriptor lives at the top of its own stack, so a fiber is
 * one allocation and its id names its stack slot:
 *	id = generation << 32 | class << 28 | index
 * The generation goes up each time the slot is reaped, so a stale id
 * never names the slot's next fiber.
 *
 * Unless noted, a field belongs to the worker running or holding the
 * fiber; handing a fiber over (a run queue, the inbox, a wake) is a
 * release/acquire pair, so the next holder sees what the last one wrote.
 */
struct weft_fiber {
	struct weft_ctx ctx;		/* saved sp */
	struct weft_fiber *next;	/* link in whichever queue holds it */
	uint64_t id;			/* READ_ONCE: looked up by any thread */
	/*
	 * JOIN_* or the joiner. Changed only by atomic exchange/CAS: the
	 * exiting side and the joining/detaching side race on it.
	 */
	uintptr_t join;
	/*
	 * seq << 8 | enum wait_state: which wait the fiber is in and how it
	 * ended. Atomic: wakers, timers and cancels race to move it from
	 * WAITING with a CAS, and only the winner readies the fiber.
	 */
	uint64_t wait_word;
	uint64_t cancel_fid;		/* atomic: a weft_cancel() pending */
	struct weft_worker *home;	/* bound: the only worker it runs on */
	uint32_t gen;			/* survives reaping; see id */
	uint8_t state;			/* enum fiber_state; READ_ONCE elsewhere */
	uint8_t cls;			/* stack class */
	uint8_t bound;			/* WEFT_BOUND */
	uint32_t index;			/* stack index in its class */
	uint32_t budget;		/* await points left before a yield */
	void *tls;			/* its TLS copy (tls.c), or NULL; on
					   the line switch_to() writes */
	uint32_t heap_idx;		/* its timer's slot: timer_w's lock */
	struct weft_worker *timer_w;	/* whose heap holds its timer */
	void *top;			/* end of its stack slot */
	void *(*fn)(void *);
	void *arg;
	void *result;			/* written before JOIN_DONE (release) */
	void *wait;			/* join: the fiber it waits for */
	/* The wait in progress, for its commit (wait.c). */
	struct weft_spin **wait_locks;
	bool *wait_done;		/* I/O: completion already reaped */
	uint64_t wait_deadline;
	uint64_t wait_seq;
	unsigned int wait_nlocks;
	struct weft_san san;
	uint64_t fls_mask;		/* which fls[] slots are set */
	void *fls[WEFT_KEYS_MAX];
	char name[WEFT_NAME_MAX];
} __attribute__((aligned(64)));

/* Private FIFO of fibers, linked through fiber.next. */
struct fifo {
	struct weft_fiber *head, *tail;
};

/*
 * The stealable run queue: a ring (Go's runq). The owner pushes at tail;
 * the owner and thieves take from head with a CAS.
 */
#define RUNQ_SIZE	256
struct runq {
	/*
	 * head (low 32 bits) and the owner's tail-pop count (high 32):
	 * CASed by the owner and thieves as one word, so a thief whose batch
	 * was computed before a tail pop fails its CAS (see runq_pop_tail).
	 */
	uint64_t hg;
	uint32_t tail;			/* written by the owner only (release) */
	struct weft_fiber *buf[RUNQ_SIZE]; /* relaxed atomics: see core.c */
};

struct weft_timer {
	uint64_t deadline;
	struct weft_fiber *f;
	uint64_t seq;			/* the wait it times out */
};

struct weft_timers {
	struct weft_spin lock;		/* protects heap, n, cap */
	uint32_t n, cap;
	struct weft_timer *heap;	/* min-heap on deadline */
	uint64_t next;			/* earliest deadline; relaxed reads */
};

struct weft_rt;
struct io_uring;

/*
 * A worker: one OS thread running fibers. The first group of fields is
 * its own (no lock, no atomics); the rest are shared and say how.
 */
struct weft_worker {
	struct weft_fiber *cur;		/* the running fiber; NULL in the loop */
	struct weft_fiber *runnext;	/* runs next; the monitor may take it */
	unsigned int streak;		/* runnext picks in a row */
	bool exited;			/* the last fiber exited: pick LIFO */
	/* Starvation watch of the queues' heads (see starving()). */
	unsigned long head_picks, head_picks_seen;
	uint64_t head_since;
	unsigned int tick;		/* scheduling rounds */
	/*
	 * Set by a context just before it switches away, run by whatever
	 * runs next on this worker right after the switch: work that must
	 * not start until the old stack is no longer in use.
	 */
	void (*post)(struct weft_worker *w, struct weft_fiber *f);
	struct weft_fiber *post_f;
	struct weft_rt *rt;
	unsigned int index;
	unsigned int budget;		/* WEFT_BUDGET */
	bool spinning;			/* counted in rt->nspinning */
	bool idle_blocked;		/* idle with no timers; see idle_sleep */
	bool pin;			/* WEFT_PIN and a real CPU */
	bool poll_owed;			/* netpoll after this switch's post */
	uint32_t tick_gen;		/* weft__tick_gen done (release) */
	uint64_t nwaits;		/* for unique wait seqs */
	struct fifo local;		/* bound fibers, never stolen */
	unsigned int *victims;		/* steal order, nearest first */
	unsigned int nvictims;
	unsigned int node;		/* NUMA node (maybe synthetic) */
	unsigned int cpu;		/* CPU it runs on, or is pinned to */
	unsigned int pending_msgs;	/* SQEs (wakes, I/O) not yet submitted */
	unsigned int inflight;		/* fibers' I/O ops in its ring; relaxed
					   atomic stores, read by closers */
	struct weft_ctx loop_ctx;	/* the scheduler loop, on the thread stack */
	struct weft_san loop_san;
	struct weft_stack_cache stacks;
	struct io_uring *ring;		/* NULL: epoll backend */
	const char *ring_flags;		/* its setup flags, in words */
	int ring_err;			/* why it has none: -errno */
	stack_t altstack;		/* the thread's previous one */
	void *altstack_mem;		/* ours, for the overflow reporter */
	pthread_t thread;
	char *tp;			/* its thread pointer */
	void *tls_cur;			/* whose TLS copy its block holds */
	clockid_t cpuclock;		/* its thread's CPU time, for the monitor */

	/* Shared with thieves and the monitor. */
	struct runq runq __attribute__((aligned(64)));
	/*
	 * Read by the monitor: switches and await points passed (relaxed,
	 * written by the owner only), and the running fiber.
	 */
	uint64_t switches __attribute__((aligned(64)));
	/*
	 * Fibers spawned and exited on this worker (release stores by the
	 * owner): live fibers are the difference of the sums, see live().
	 */
	uint64_t nspawned, nexited;
	/* weft_stats(): written by the owner (relaxed), read by anyone. */
	uint64_t nsteals;		/* fibers taken from other workers */
	uint64_t nwakes;		/* wakes sent to sleeping workers */
	uint64_t nsleeps;		/* sleeps in the kernel */
	uint64_t nspins;		/* sched_yield() calls while spinning */
	uint64_t nsubmits;		/* io_uring_enter() calls */
	uint64_t ncompletions;		/* CQEs reaped */
	uint64_t nrescued;		/* fibers the monitor moved (its atomic) */
	uint64_t nsyscalls;		/* system calls made for the scheduler */
	unsigned int io_parked;		/* epoll backend: fibers that parked
					   here on readiness (atomic) */
	struct weft_fiber *running;	/* w->cur, published for the monitor */
	/* Fibers readied here by other threads: a Treiber stack (CAS). */
	struct weft_fiber *inbox __attribute__((aligned(64)));
	/* Closers asking it to cancel I/O on an fd: a Treiber stack. */
	struct weft_fd_cancel *cancels;
	uint32_t futex;			/* no ring: 1 = wake pending */
	/*
	 * Why it was woken, stored (release) by whoever cleared its idle
	 * bit, before the wake is sent; taken (exchange) by the worker.
	 */
	uint32_t wake_reason;
	int efd;			/* io_uring backend: foreign wakes */
	uint64_t efd_buf;
	struct weft_timers timers __attribute__((aligned(64)));
};

struct weft_rt {
	struct weft_worker *workers;
	unsigned int nworkers;
	unsigned int stack_cls;		/* default stack class */
	unsigned int budget;
	unsigned int stall_ms;
	uint64_t spin_ns;
	bool use_uring;
	bool pin;
	int ring_setup;			/* WEFT_RING_SETUP: an index */
	int io_try;			/* WEFT_IO_TRY: IO_TRY_ bits */
	struct weft_fiber *main;	/* the first fiber */

	/* Read at every switch, written once: a line of their own. */
	bool shutdown __attribute__((aligned(64)));
	bool stop;			/* workers leave their loops */
	bool foreign;			/* a non-worker thread used weft */
	/* Shared; atomics. */
	unsigned int nspinning __attribute__((aligned(64)));	/* spinners */
	unsigned int nidle;		/* bits set in idle */
	unsigned int nblocked;		/* idle with no timer */
	uint64_t *idle;			/* bitmap of sleeping workers */
	/* Fibers readied from outside, and overflow: the lock's. */
	struct weft_spin inject_lock __attribute__((aligned(64)));
	struct fifo inject;
	unsigned long ninject;		/* atomic for lock-free peeks */
	/*
	 * The epoll backend (epoll.c), for workers without a ring. The fd
	 * table's chunks are installed by CAS; poller is the index + 1 of
	 * the worker blocked in epoll_wait() (0: none), seq_cst against
	 * its wakers' futex stores (see send_wake); io_waiting counts
	 * fibers parked on readiness (atomic).
	 */
	int epfd;
	int break_fd;			/* eventfd in epfd: wakes the poller */
	struct weft_pdesc **fdtab;
	unsigned int poller __attribute__((aligned(64)));
	unsigned int io_waiting;
	/* WEFT_STATS=1: the file weft-stat reads (stats.c), or NULL. */
	struct weft_stats_file *stats;
	int stats_fd;
	/* The monitor thread. */
	pthread_t monitor;
	bool has_monitor;
	uint32_t monitor_futex;		/* set to stop it */
};

/*
 * WEFT_IO_TRY: which ring operations first try the call without blocking
 * (a data-ready socket then costs one syscall and no park). Chosen by
 * measurement (Documentation/benchmarks.rst, "echo").
 */
enum { IO_TRY_SEND = 1, IO_TRY_RECV = 2 };
#define IO_TRY_DEFAULT	0

/* Count an event in a worker's statistics (its owner only). */
#define STAT_INC(w, field, n) \
	__atomic_store_n(&(w)->field, (w)->field + (n), __ATOMIC_RELAXED)

/* Per-fiber TLS for the preload shim's threads (tls.c). */
ssize_t weft__tls_init(void);
void *weft__tls_alloc(void);
void weft__tls_load(struct weft_worker *w, void *area);
void weft__tls_adopt(void *area, bool keep);
void weft__tls_leave(void);
void weft__tls_put(const void *area);

/* The worker running on this thread, or NULL. */
extern WEFT_TLS struct weft_worker *weft__cur_worker;

static inline struct weft_fiber *fiber_of_top(void *top)
{
	return (struct weft_fiber *)(((uintptr_t)top - WEFT_STACK_LINK -
				      sizeof(struct weft_fiber)) & ~63UL);
}

/* ---- waiting: the one way anything parks on an object (wait.c) ---- */

/*
 * Asymmetric Dekker barriers. Where one side of a store-then-load pair
 * runs on every hand-off and the other rarely (a cancel, a worker going to
 * sleep), the frequent side needs only a compiler barrier when the rare
 * side issues membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which makes
 * every running thread of the process execute a full barrier. Without
 * membarrier (or under TSan, which cannot see it) both sides fence.
 */
extern bool weft__membarrier;
void weft__barrier_init(void);
void weft__heavy_barrier(void);

static inline void weft__light_barrier(void)
{
	if (likely(weft__membarrier)) {
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		return;
	}
#if defined(__x86_64__) && !defined(WEFT_TSAN)
	/* A locked add of 0 to the stack top: cheaper than mfence. */
	__asm__ __volatile__("lock addl $0, (%%rsp)" ::: "memory", "cc");
#else
	{
		/* TSan models fences as nothing: a seq_cst RMW stands in. */
		static unsigned long word;

		__atomic_fetch_add(&word, 0, __ATOMIC_SEQ_CST);
	}
#endif
}

/* A private futex call; FUTEX_WAIT_BITSET takes an absolute deadline. */
static inline int weft__futex(uint32_t *uaddr, int op, uint32_t val,
			      const struct timespec *ts)
{
	return syscall(SYS_futex, uaddr, op | FUTEX_PRIVATE_FLAG, val, ts,
		       NULL, FUTEX_BITSET_MATCH_ANY);
}

/* How a wait ended (and, while it lasts, where it is). */
enum wait_state {
	WAIT_NONE = 0,
	WAIT_WAITING,		/* parked; a waker, timer or cancel may claim */
	WAIT_CLAIMED,		/* an OS thread's waker is filling it in */
	WAIT_WOKEN,
	WAIT_TIMEDOUT,
	WAIT_CANCELED,
};

/*
 * One waiter on one object's list, on the waiter's own stack. A select
 * queues one per case, all led by the first (@leader), and exactly one of
 * them can be claimed: the claim is a CAS on the leader's state.
 */
struct weft_waiter {
	/* The object's wait list: protected by the object's lock. */
	struct weft_waiter *next, *prev;
	struct weft_waiter *leader;	/* itself, or the select's first */
	struct weft_fiber *fiber;	/* NULL: an OS thread */
	uint64_t seq;			/* fiber: which of its waits this is */
	uint32_t tstate;		/* OS thread: enum wait_state, futex */
	int result;			/* for the object (e.g. -EPIPE) */
	struct weft_waiter *fired;	/* leader: the case that was claimed */
	void *data;			/* for the object (a message buffer) */
	uintptr_t aux;			/* for the object */
	bool *done;			/* I/O: set when the completion is in */
};

/*
 * Fill in @wt for the caller (a fiber or an OS thread) before putting it
 * on an object's list, with that object's lock held. @leader is NULL, or
 * the first waiter of the same select.
 */
void weft__waiter_init(struct weft_waiter *wt, struct weft_waiter *leader);

/*
 * Wait until @wt (its leader) is claimed, @deadline_ns passes, or the
 * fiber is cancelled. Called with the @nlocks spinlocks in @locks held
 * (the locks of the objects @wt is queued on); they are released once the
 * caller can no longer run on this stack, so no waker can see the waiter
 * half-parked. Returns WAIT_WOKEN, WAIT_TIMEDOUT or WAIT_CANCELED, with the
 * locks NOT held. After TIMEDOUT/CANCELED the waiter may still be on its
 * lists: relock and unlink it (a waker that finds it there fails to claim
 * it and must move on to the next).
 */
int weft__wait(struct weft_waiter *wt, struct weft_spin **locks,
	       unsigned int nlocks, uint64_t deadline_ns);

/*
 * Claim a waiter (usually with its object's lock held, after unlinking
 * it): true means the caller now owes it weft__wake_finish() after filling
 * in wt->result / wt->data; false means it had already timed out or been
 * cancelled or claimed through another case: leave it and take the next.
 */
bool weft__wake_claim(struct weft_waiter *wt);
/* Let a claimed waiter run. May be called after dropping the lock. */
void weft__wake_finish(struct weft_waiter *wt);

static inline bool weft__wake(struct weft_waiter *wt)
{
	if (!weft__wake_claim(wt))
		return false;
	weft__wake_finish(wt);
	return true;
}

/*
 * An await point that did not need to wait: spends the calling fiber's
 * budget and yields when it runs out. No-op for an OS thread.
 */
void weft__await(void);

/* Turn a wait_state into the API's return value (0 for WAIT_WOKEN). */
static inline int weft__wait_errno(int st)
{
	return st == WAIT_WOKEN ? 0 : st == WAIT_TIMEDOUT ? -ETIMEDOUT
							 : -ECANCELED;
}

/*
 * Who the caller is, for ownership checks: a fiber's id, or the thread's
 * id with the top bit set.
 */
uint64_t weft__caller_id(void);

/* core.c */
void weft__ready(struct weft_worker *w, struct weft_fiber *f);
void weft__ready_tail(struct weft_worker *w, struct weft_fiber *f);
void weft__ready_any(struct weft_fiber *f);
struct weft_worker *weft__park(struct weft_worker *w, struct weft_fiber *self);
struct weft_fiber *weft__lookup(uint64_t fid);
/* The stack slot of fiber @fid (the guard page included): 0, -EINVAL. */
int weft__fiber_stack(uint64_t fid, void **lo, size_t *size);
void weft__note_foreign(void);

/* timer.c */
int weft__timer_add(struct weft_worker *w, struct weft_fiber *f,
		    uint64_t deadline, uint64_t seq);
void weft__timer_del(struct weft_fiber *f, uint64_t seq);
void weft__timers_run(struct weft_worker *w, uint64_t now);
uint64_t weft__timers_next(struct weft_worker *w);

/* A fiber's I/O operation in flight (io.c): its CQE's user data. */
struct weft_io {
	struct weft_waiter wt;
	int res;
	bool done;			/* the CQE arrived (the ring's worker) */
};

#define WEFT__TAG_IGNORE	7	/* CQE user data nobody waits for */

/* A request to cancel a worker's I/O on @fd, on the closer's stack. */
struct weft_fd_cancel {
	struct weft_fd_cancel *next;
	int fd;
	uint32_t done;			/* set (release) once submitted */
};

void weft__cancels_run(struct weft_worker *w);
/*
 * @fd is about to be closed (or replaced by dup2): fibers waiting on it
 * return -EBADF, their ring operations are cancelled (io.c).
 */
void weft__fd_forget(int fd);
/* ... and once it is closed (or replaced): its number may come back. */
void weft__fd_closed(int fd);

/* core.c: the running runtime (or NULL); wake @w if it sleeps. */
struct weft_rt *weft__runtime(void);
void weft__kick(struct weft_worker *w);

/* io.c, core.c */
void weft__io_complete(struct weft_worker *w, struct weft_io *io, int res);
void weft__ring_flush(struct weft_worker *w);

/* epoll.c */
int weft__epoll_init(struct weft_rt *rt);
void weft__epoll_fini(struct weft_rt *rt);
void weft__epoll_break(struct weft_rt *rt);
/*
 * Take readiness events and ready the fibers waiting for them, waiting
 * until @deadline (0: not at all; UINT64_MAX: until an event or a break).
 * Returns how many fibers it readied.
 */
unsigned int weft__netpoll(struct weft_worker *w, uint64_t deadline);

/* Should a busy or spinning worker poll? No poller sleeps, fibers wait. */
static inline bool weft__netpoll_due(struct weft_rt *rt)
{
	return __atomic_load_n(&rt->io_waiting, __ATOMIC_RELAXED) &&
	       !__atomic_load_n(&rt->poller, __ATOMIC_RELAXED);
}

/* core.c: hooks for the preload shim (see core.c). */
extern void (*weft__tick_hook)(struct weft_worker *w);
extern uint32_t weft__tick_gen;
extern void (*weft__monitor_hook)(void);
void weft__monitor_kick(void);

/* stats.c */
int weft__stats_open(struct weft_rt *rt);
void weft__stats_publish(struct weft_rt *rt,
			 uint32_t (*runq_of)(struct weft_worker *w));
void weft__stats_close(struct weft_rt *rt);

/* fls.c */
void weft__fls_run_destructors(struct weft_fiber *f);

/* offload.c */
int weft__offload_init(void);
void weft__offload_fini(void);
bool weft__offload_busy(void);
unsigned int weft__offload_threads(void);
bool weft__offload_self(void);
/*
 * weft_offload() for a job that uses the caller's stack or buffers: the
 * wait for it cannot be cut short (a cancel is ignored, as for an I/O
 * operation in the ring). 0, or the error of a job never queued.
 */
int weft__offload_sync(void *(*fn)(void *), void *arg, void **result);

/* fault.c */
int weft__fault_init(void);
void weft__fault_fini(void);
int weft__altstack_init(struct weft_worker *w);
void weft__altstack_fini(struct weft_worker *w);
WEFT_COLD __attribute__((noreturn)) void weft__overflow(struct weft_fiber *f);

#endif
