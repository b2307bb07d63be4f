/* SPDX-License-Identifier: MIT */
/*
 * The preload shim's internals (libweft-preload.so). See start.c for the
 * design.
 */
#ifndef WEFT_PRELOAD_SHIM_H
#define WEFT_PRELOAD_SHIM_H

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <unwind.h>
#include <weft.h>

#include "../../sched/internal.h"

/* Everything declared here stays inside the .so. */
#pragma GCC visibility push(hidden)

/*
 * libc's definition of @fn (the next one after the shim), looked up once
 * per call site. Relaxed atomics: racing lookups store the same value.
 */
void *weft_shim_dlnext(const char *name);
#define REAL(fn) ({							\
	static __typeof__(&fn) shim_real_;					\
	__typeof__(&fn) __p = __atomic_load_n(&shim_real_, __ATOMIC_RELAXED); \
	if (__builtin_expect(!__p, 0)) {				\
		__p = (__typeof__(&fn))weft_shim_dlnext(#fn);		\
		__atomic_store_n(&shim_real_, __p, __ATOMIC_RELAXED);	\
	}								\
	__p;								\
})

/* The modes weft-run asks for in WEFT_PRELOAD. */
enum shim_mode {
	SHIM_OFF = 0,		/* inert: every call goes to libc */
	SHIM_IO,		/* main on a fiber; threads stay threads */
	SHIM_MN,		/* and pthread_create makes a fiber */
};

/* Set once in __libc_start_main, cleared in a fork child. */
extern int weft_shim_mode;

/* The size of a thread's TLS copy; 0: the program has no TLS to swap. */
extern size_t shim_tls_size;
/* main()'s TLS copy, or NULL. */
extern void *shim_main_tls;

/* Is the caller a fiber of the managed runtime? */
static inline bool shim_fiber(void)
{
	struct weft_worker *w = weft__cur_worker;

	return w && w->cur && weft_shim_mode != SHIM_OFF;
}

/*
 * A pthread that is a fiber (M:N): what pthread_t points to, tagged in
 * its top bit so that it never equals a real one. Two references: the
 * fiber's and the handle's (dropped by join or detach).
 */
#define SHIM_TAG	(1ULL << 63)

struct shim_thread {
	void *(*fn)(void *);
	void *arg;
	void *result;
	uint64_t fid;
	unsigned int worker;		/* the worker it is bound to */
	unsigned int refs;		/* atomic */
	bool exiting;			/* pthread_exit() was called */
	bool main;			/* the program's main() */
	/* Deferred cancellation (pthread_cancel), atomics. */
	uint32_t cancel_pending;
	int cancel_state;		/* PTHREAD_CANCEL_ENABLE/DISABLE */
	int cancel_type;
	bool cancel_defer;		/* in a masked wait: act at its end */
	uint32_t eintr;			/* EINTR_*: a signal ended its wait */
	struct weft_wg done;		/* the fiber has finished */
	jmp_buf exit_jb;		/* pthread_exit() lands here */
	uintptr_t unwind_top;		/* the frame that set exit_jb */
	struct _Unwind_Exception unwind_exc; /* pthread_exit()'s unwind */
	void **keys;			/* pthread_getspecific values, lazily */
	void *cleanup;			/* innermost pthread_cleanup_push buf */
	void *tls;			/* its __thread variables (sched/tls.c) */
	struct shim_tls_dtor *tls_dtors; /* thread_local destructors, LIFO */
	char name[16];
};

/* A C++ thread_local's destructor, registered by the fiber itself. */
struct shim_tls_dtor {
	void (*fn)(void *);
	void *obj;
	struct shim_tls_dtor *next;
};

/* A wait with a signal mask (signal.c): see shim_mask_begin(). */
struct shim_masked {
	sigset_t mask;			/* the wait's */
	struct shim_thread *t;		/* the waiting thread */
	struct shim_masked *next;	/* the waiter before (mask_lock) */
	bool on;
};
int shim_mask_begin(const sigset_t *mask, struct shim_masked *m);
void shim_mask_end(struct shim_masked *m);

/* Run @t's thread_local destructors, newest first (pthread.c). */
void shim_tls_dtors(struct shim_thread *t);
/* At a thread's end: its thread_local, then its key destructors. */
void shim_thread_dtors(struct shim_thread *t);

/* Why a fiber's wait was interrupted by a signal (shim_thread.eintr). */
enum { EINTR_NONE, EINTR_PLAIN, EINTR_RESTART };

/* The calling fiber's shim_thread, or NULL (a plain thread). */
struct shim_thread *shim_self(void);
static inline struct shim_thread *shim_of(pthread_t th)
{
	return th & SHIM_TAG ? (struct shim_thread *)(th & ~SHIM_TAG) : NULL;
}

/* Run @fn(@arg) as the program's main: start.c. */
int shim_thread_main(struct shim_thread *t);

/*
 * A wait that weft_*() ended with -ECANCELED: act on a pending
 * pthread_cancel (does not return), or report EINTR for a signal.
 * Returns the errno to report.
 */
int shim_canceled(void);
void shim_testcancel(void);
/*
 * After -ECANCELED in a call the kernel restarts under SA_RESTART: should
 * it wait again? (Acts on a pthread_cancel first.)
 */
bool shim_restart(void);

/* Absolute timespec on @clk to a weft_now_ns() deadline. */
uint64_t shim_deadline(clockid_t clk, const struct timespec *abs);
/* A relative timeout in ms (poll-style, < 0 forever) to a deadline. */
uint64_t shim_deadline_ms(int ms);

/* Return -1 with errno = -@r for r < 0, else r. */
static inline long shim_ret(long r)
{
	if (r >= 0)
		return r;
	errno = (int)-r;
	return -1;
}

/* signal.c */
void shim_signal_init(void);
void shim_signal_main(struct shim_thread *t);
bool shim_sig_restarts(int sig);

/* fd.c */
void shim_fd_forget(int fd);
void shim_fd_changed(void);
void shim_fork_child(void);

#pragma GCC visibility pop

#endif
