// SPDX-License-Identifier: MIT
/*
 * M:N threads: pthread_create() makes a fiber, and the pthread sync
 * objects are weft's, built in the program's own pthread_* storage.
 *
 * Threads
 *	A thread is a struct shim_thread (shim.h), its pthread_t that
 *	pointer with the top bit set. It runs as a bound fiber (it never
 *	changes OS thread) on the next worker in turn, with the stack size
 *	its attributes ask for (glibc's default otherwise). join waits on
 *	its wait group from a fiber or a plain thread alike; pthread_exit
 *	unwinds the stack as glibc does (C++ destructors and C cleanup
 *	handlers run) back to the fiber's start; pthread_cancel is
 *	deferred: the target's current or next wait in a cancellation
 *	point ends it.
 *
 * Sync objects
 *	pthread_mutex_t holds a weft mutex (sync.c keeps the glibc kind at
 *	offset 16 free for this, so the static initialisers of every kind
 *	work as they are); its recursion count sits next to the kind.
 *	Robust, priority and process-shared mutexes stay glibc's. Condition
 *	variables keep their clock after the weft part; rwlocks, semaphores
 *	fit as they are; barriers are built here on the wait protocol.
 *	Every object works between fibers and plain threads, and before the
 *	runtime starts (libstdc++ locks and calls pthread_once before main).
 */
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdarg.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <unwind.h>

#include "../../lib/log.h"
#include "../../sched/waitq.h"
#include "shim.h"

/* ---- sync objects are weft's in a process that was ever managed ---- */

static bool sync_weft;

__attribute__((constructor)) static void shim_sync_init(void)
{
	/* Before main and before other threads: the variable is still set. */
	sync_weft = getenv("WEFT_PRELOAD") != NULL;
}

/* ---- threads ---- */

static void **key_dtors[PTHREAD_KEYS_MAX];	/* destructors, as pointers */
static unsigned int next_worker;

static void unref(struct shim_thread *t)
{
	if (!__atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL)) {
		free(t->keys);
		free(t);
	}
}

/* Up to PTHREAD_DESTRUCTOR_ITERATIONS rounds, as glibc does. */
static void run_key_dtors(struct shim_thread *t)
{
	for (int round = 0; round < PTHREAD_DESTRUCTOR_ITERATIONS && t->keys;
	     round++) {
		bool again = false;

		for (unsigned int k = 0; k < PTHREAD_KEYS_MAX; k++) {
			void (*d)(void *) = (void (*)(void *))
				__atomic_load_n(&key_dtors[k], __ATOMIC_ACQUIRE);
			void *v = t->keys[k];

			if (!v || !d)
				continue;
			t->keys[k] = NULL;
			d(v);
			again = true;
		}
		if (!again)
			break;
	}
}

/*
 * C++ thread_local objects with destructors register them here (libstdc++'s
 * __cxa_thread_atexit). glibc would keep them in its own TLS, per OS
 * thread; a fiber's run when it ends, with its TLS still in place.
 */
int __cxa_thread_atexit_impl(void (*fn)(void *), void *obj, void *dso);

int __cxa_thread_atexit_impl(void (*fn)(void *), void *obj, void *dso)
{
	struct shim_thread *t = shim_self();
	struct shim_tls_dtor *d;

	if (!t)
		return REAL(__cxa_thread_atexit_impl)(fn, obj, dso);
	d = malloc(sizeof(*d));
	if (!d)
		return -1;
	d->fn = fn;
	d->obj = obj;
	d->next = t->tls_dtors;
	t->tls_dtors = d;
	return 0;
}

void shim_tls_dtors(struct shim_thread *t)
{
	struct shim_tls_dtor *d;

	/* A destructor may register more (a thread_local it touches). */
	while ((d = t->tls_dtors)) {
		t->tls_dtors = d->next;
		d->fn(d->obj);
		free(d);
	}
}

/*
 * exit() from a thread runs that thread's thread_local destructors before
 * the atexit handlers (glibc's __call_tls_dtors); a fiber's are ours.
 */
void exit(int status)
{
	struct shim_thread *t = shim_self();

	if (t) {
		shim_tls_dtors(t);
		/*
		 * glibc then runs those registered before the runtime
		 * started (main's, kept per OS thread): on main's copy, not
		 * on the caller's, which its own destructors just ended.
		 */
		if (!t->main && shim_main_tls)
			weft__tls_load(weft__cur_worker, shim_main_tls);
	}
	REAL(exit)(status);
}

/* glibc's order at a thread's end: thread_locals, then keys. */
void shim_thread_dtors(struct shim_thread *t)
{
	shim_tls_dtors(t);
	run_key_dtors(t);
}

static void *thread_start(void *arg)
{
	struct shim_thread *t = arg;

	weft__tls_adopt(t->tls, false);
	shim_thread_main(t);	/* and its destructors */
	weft__tls_leave();
	free(t->tls);
	t->tls = NULL;
	weft_wg_done(&t->done);
	unref(t);
	return NULL;
}

int pthread_create(pthread_t *th, const pthread_attr_t *attr,
		   void *(*fn)(void *), void *arg)
{
	struct weft_attr a = { .flags = WEFT_DETACHED | WEFT_BOUND |
					WEFT_ON_WORKER };
	pthread_attr_t def;
	struct shim_thread *t;
	size_t stack = 0;
	int detach = PTHREAD_CREATE_JOINABLE, ret;

	if (weft_shim_mode != SHIM_MN || !shim_fiber())
		return REAL(pthread_create)(th, attr, fn, arg);
	if (attr) {
		pthread_attr_getstacksize(attr, &stack);
		pthread_attr_getdetachstate(attr, &detach);
	} else if (!pthread_getattr_default_np(&def)) {
		pthread_attr_getstacksize(&def, &stack);
		pthread_attr_destroy(&def);
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return EAGAIN;
	if (shim_tls_size) {
		t->tls = weft__tls_alloc();	/* initial values, as a thread */
		if (!t->tls) {
			free(t);
			return EAGAIN;
		}
	}
	t->fn = fn;
	t->arg = arg;
	t->refs = detach == PTHREAD_CREATE_DETACHED ? 1 : 2;
	t->cancel_state = PTHREAD_CANCEL_ENABLE;
	t->cancel_type = PTHREAD_CANCEL_DEFERRED;
	weft_wg_add(&t->done, 1);
	a.stack_size = stack < WEFT_STACK_MIN ? WEFT_STACK_MIN :
		       stack > WEFT_STACK_MAX ? WEFT_STACK_MAX : stack;
	/* Load balances here: the fiber stays on this worker for good. */
	a.worker = __atomic_fetch_add(&next_worker, 1, __ATOMIC_RELAXED) %
		   (unsigned int)weft_workers();
	t->worker = a.worker;
	ret = weft_spawn(&t->fid, &a, thread_start, t);
	if (ret) {
		free(t->tls);
		free(t);
		return ret == -ENOMEM ? EAGAIN : -ret;
	}
	*th = (pthread_t)t | SHIM_TAG;
	return 0;
}

static int join_until(pthread_t th, void **res, uint64_t deadline,
		      bool cancel_point)
{
	struct shim_thread *t = shim_of(th);
	int r;

	if (t == shim_self())
		return EDEADLK;
	while ((r = weft_wg_wait_until(&t->done, deadline)) == -ECANCELED)
		if (cancel_point)
			shim_testcancel();
	if (r)
		return r == -EAGAIN ? EBUSY : -r;
	if (res)
		*res = t->result;
	unref(t);
	return 0;
}

int pthread_join(pthread_t th, void **res)
{
	if (!shim_of(th))
		return REAL(pthread_join)(th, res);
	return join_until(th, res, WEFT_FOREVER, true);
}

int pthread_tryjoin_np(pthread_t th, void **res)
{
	if (!shim_of(th))
		return REAL(pthread_tryjoin_np)(th, res);
	return join_until(th, res, 0, false);
}

int pthread_timedjoin_np(pthread_t th, void **res, const struct timespec *ts)
{
	if (!shim_of(th))
		return REAL(pthread_timedjoin_np)(th, res, ts);
	if (ts && (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L))
		return EINVAL;
	return join_until(th, res, shim_deadline(CLOCK_REALTIME, ts), true);
}

int pthread_clockjoin_np(pthread_t th, void **res, clockid_t clk,
			 const struct timespec *ts)
{
	if (!shim_of(th))
		return REAL(pthread_clockjoin_np)(th, res, clk, ts);
	if (ts && (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L))
		return EINVAL;
	return join_until(th, res, shim_deadline(clk, ts), true);
}

int pthread_detach(pthread_t th)
{
	struct shim_thread *t = shim_of(th);

	if (!t)
		return REAL(pthread_detach)(th);
	unref(t);
	return 0;
}

/*
 * Cleanup handlers (pthread_cleanup_push in C): glibc's macros register a
 * jump buffer per handler; exiting jumps into the innermost, whose code
 * runs the handler and calls __pthread_unwind_next() for the next one.
 * A fiber keeps that chain in its shim_thread, linked through the
 * buffer's first pad word.
 */
void __pthread_register_cancel(__pthread_unwind_buf_t *buf);
void __pthread_unregister_cancel(__pthread_unwind_buf_t *buf);
void __pthread_unwind_next(__pthread_unwind_buf_t *buf)
	__attribute__((noreturn));

void __pthread_register_cancel(__pthread_unwind_buf_t *buf)
{
	struct shim_thread *t = shim_self();

	if (!t) {
		REAL(__pthread_register_cancel)(buf);
		return;
	}
	buf->__pad[0] = t->cleanup;
	t->cleanup = buf;
}

void __pthread_unregister_cancel(__pthread_unwind_buf_t *buf)
{
	struct shim_thread *t = shim_self();

	if (!t) {
		REAL(__pthread_unregister_cancel)(buf);
		return;
	}
	t->cleanup = buf->__pad[0];
}

/* Jump into the innermost C cleanup handler. */
static __attribute__((noreturn)) void run_cleanup(struct shim_thread *t)
{
	__pthread_unwind_buf_t *b = t->cleanup;

	t->cleanup = b->__pad[0];
	/*
	 * The buffer is a jmp_buf without the signal mask (the macro's
	 * sigsetjmp(buf, 0) saved none, so none is read back).
	 */
#pragma GCC diagnostic push
#ifndef __clang__
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
	siglongjmp((struct __jmp_buf_tag *)(void *)b->__cancel_jmp_buf, 1);
#pragma GCC diagnostic pop
}

/*
 * Leaving a thread (pthread_exit, an acted-on cancel) unwinds its stack as
 * glibc does: a forced unwind runs the C++ destructors and catch (...)
 * blocks (which must rethrow) of every frame, and the C cleanup handlers
 * in between (their buffers sit in the frames they protect: one whose
 * frame is being unwound is jumped into, and its __pthread_unwind_next()
 * starts the unwind again from there). Past the thread function's frame
 * (t->unwind_top), or at the end of what the unwinder can read, it jumps
 * to the thread's start.
 */
static _Unwind_Reason_Code unwind_stop(int version, _Unwind_Action actions,
				       _Unwind_Exception_Class cls,
				       struct _Unwind_Exception *exc,
				       struct _Unwind_Context *ctx, void *arg)
{
	struct shim_thread *t = arg;
	uintptr_t cfa = (actions & _UA_END_OF_STACK) ? UINTPTR_MAX :
			_Unwind_GetCFA(ctx);

	(void)version;
	(void)cls;
	(void)exc;
	if (t->cleanup && (uintptr_t)t->cleanup < cfa)
		run_cleanup(t);
	if (cfa > t->unwind_top)
		longjmp(t->exit_jb, 1);
	return _URC_NO_REASON;
}

/* A catch (...) that ended without rethrowing the unwind: as glibc. */
static void unwind_done(_Unwind_Reason_Code code, struct _Unwind_Exception *exc)
{
	(void)code;
	(void)exc;
	weft_log("weft-run: FATAL: exception not rethrown (a catch (...) swallowed pthread_exit or a cancel)");
	abort();
}

static __attribute__((noreturn)) void unwind(struct shim_thread *t)
{
	/* No class, as glibc: catchable only as a forced unwind. */
	t->unwind_exc.exception_class = 0;
	t->unwind_exc.exception_cleanup = unwind_done;
	_Unwind_ForcedUnwind(&t->unwind_exc, unwind_stop, t);
	/* The unwinder gave up (a frame it cannot read): handlers only. */
	while (t->cleanup)
		run_cleanup(t);
	longjmp(t->exit_jb, 1);
}

void __pthread_unwind_next(__pthread_unwind_buf_t *buf)
{
	struct shim_thread *t = shim_self();

	if (!t)
		REAL(__pthread_unwind_next)(buf);
	unwind(t);
}

void pthread_exit(void *res)
{
	struct shim_thread *t = shim_self();

	if (!t)
		REAL(pthread_exit)(res);
	t->result = res;
	unwind(t);
}

pthread_t pthread_self(void)
{
	struct shim_thread *t = shim_self();

	return t ? (pthread_t)t | SHIM_TAG : REAL(pthread_self)();
}

int pthread_equal(pthread_t a, pthread_t b)
{
	return a == b;
}

int pthread_cancel(pthread_t th)
{
	struct shim_thread *t = shim_of(th);

	if (!t)
		return REAL(pthread_cancel)(th);
	__atomic_store_n(&t->cancel_pending, 1, __ATOMIC_RELEASE);
	if (t->cancel_state == PTHREAD_CANCEL_ENABLE)
		weft_cancel(t->fid);	/* its current or next wait */
	return 0;
}

int pthread_setcancelstate(int state, int *old)
{
	struct shim_thread *t = shim_self();

	if (!t)
		return REAL(pthread_setcancelstate)(state, old);
	if (state != PTHREAD_CANCEL_ENABLE && state != PTHREAD_CANCEL_DISABLE)
		return EINVAL;
	if (old)
		*old = t->cancel_state;
	t->cancel_state = state;
	/* A cancel that came while disabled waits for the next wait. */
	if (state == PTHREAD_CANCEL_ENABLE &&
	    __atomic_load_n(&t->cancel_pending, __ATOMIC_ACQUIRE))
		weft_cancel(t->fid);
	return 0;
}

int pthread_setcanceltype(int type, int *old)
{
	struct shim_thread *t = shim_self();

	if (!t)
		return REAL(pthread_setcanceltype)(type, old);
	if (type != PTHREAD_CANCEL_DEFERRED &&
	    type != PTHREAD_CANCEL_ASYNCHRONOUS)
		return EINVAL;
	if (old)
		*old = t->cancel_type;
	t->cancel_type = type;	/* asynchronous acts as deferred */
	return 0;
}

void pthread_testcancel(void)
{
	if (!shim_self()) {
		REAL(pthread_testcancel)();
		return;
	}
	shim_testcancel();
}

/* The OS thread a fiber thread runs on, for calls about threads. */
static pthread_t worker_thread(const struct shim_thread *t)
{
	struct weft_rt *rt = weft__runtime();

	return rt ? rt->workers[t->worker].thread : REAL(pthread_self)();
}

int pthread_kill(pthread_t th, int sig)
{
	struct shim_thread *t = shim_of(th);

	if (!t)
		return REAL(pthread_kill)(th, sig);
	if (!sig)
		return 0;
	/* Its handler runs on the worker; its wait ends with EINTR. */
	__atomic_store_n(&t->eintr, shim_sig_restarts(sig) ? EINTR_RESTART
							 : EINTR_PLAIN,
			 __ATOMIC_RELEASE);
	weft_cancel(t->fid);
	return REAL(pthread_kill)(worker_thread(t), sig);
}

int pthread_getattr_np(pthread_t th, pthread_attr_t *attr)
{
	struct shim_thread *t = shim_of(th);
	void *lo;
	size_t size;
	int r;

	if (!t)
		return REAL(pthread_getattr_np)(th, attr);
	r = weft__fiber_stack(t->fid, &lo, &size);
	if (r)
		return -r;
	r = pthread_attr_init(attr);
	if (!r)
		r = pthread_attr_setstack(attr, lo, size);
	return r;
}

int pthread_setname_np(pthread_t th, const char *name)
{
	struct shim_thread *t = shim_of(th);

	if (!t)
		return REAL(pthread_setname_np)(th, name);
	if (strlen(name) >= sizeof(t->name))
		return ERANGE;
	strcpy(t->name, name);
	return 0;
}

int pthread_getname_np(pthread_t th, char *buf, size_t len)
{
	struct shim_thread *t = shim_of(th);

	if (!t)
		return REAL(pthread_getname_np)(th, buf, len);
	if (strlen(t->name) >= len)
		return ERANGE;
	strcpy(buf, t->name);
	return 0;
}

/* Scheduling and affinity are the worker's: a fiber has none of its own. */
int pthread_setaffinity_np(pthread_t th, size_t n, const cpu_set_t *set)
{
	if (!shim_of(th))
		return REAL(pthread_setaffinity_np)(th, n, set);
	return 0;
}

int pthread_getaffinity_np(pthread_t th, size_t n, cpu_set_t *set)
{
	struct shim_thread *t = shim_of(th);

	return REAL(pthread_getaffinity_np)(t ? worker_thread(t) : th, n,
					    set);
}

int pthread_setschedparam(pthread_t th, int policy,
			  const struct sched_param *p)
{
	if (!shim_of(th))
		return REAL(pthread_setschedparam)(th, policy, p);
	return 0;
}

int pthread_getschedparam(pthread_t th, int *policy, struct sched_param *p)
{
	struct shim_thread *t = shim_of(th);

	return REAL(pthread_getschedparam)(t ? worker_thread(t) : th, policy,
					   p);
}

int pthread_getcpuclockid(pthread_t th, clockid_t *clk)
{
	struct shim_thread *t = shim_of(th);

	return REAL(pthread_getcpuclockid)(t ? worker_thread(t) : th, clk);
}

/* ---- keys: per fiber, numbered by glibc ---- */

int pthread_key_create(pthread_key_t *key, void (*dtor)(void *))
{
	int r = REAL(pthread_key_create)(key, dtor);

	if (!r && *key < PTHREAD_KEYS_MAX)
		__atomic_store_n(&key_dtors[*key], (void **)dtor,
				 __ATOMIC_RELEASE);
	return r;
}

int pthread_key_delete(pthread_key_t key)
{
	if (key < PTHREAD_KEYS_MAX)
		__atomic_store_n(&key_dtors[key], NULL, __ATOMIC_RELEASE);
	return REAL(pthread_key_delete)(key);
}

void *pthread_getspecific(pthread_key_t key)
{
	struct shim_thread *t = shim_self();

	if (!t)
		return REAL(pthread_getspecific)(key);
	return t->keys && key < PTHREAD_KEYS_MAX ? t->keys[key] : NULL;
}

int pthread_setspecific(pthread_key_t key, const void *val)
{
	struct shim_thread *t = shim_self();

	if (!t)
		return REAL(pthread_setspecific)(key, val);
	if (key >= PTHREAD_KEYS_MAX)
		return EINVAL;
	if (!t->keys) {
		t->keys = calloc(PTHREAD_KEYS_MAX, sizeof(*t->keys));
		if (!t->keys)
			return ENOMEM;
	}
	t->keys[key] = (void *)val;
	return 0;
}

/* ---- once ---- */

/* glibc's encoding: 0 not yet, 1 running, 2 done (bits above: fork). */
int pthread_once(pthread_once_t *once, void (*fn)(void))
{
	int v = __atomic_load_n(once, __ATOMIC_ACQUIRE), zero = 0;

	if (v == 2)
		return 0;
	if (!sync_weft)
		return REAL(pthread_once)(once, fn);
	if (__atomic_compare_exchange_n(once, &zero, 1, false,
					__ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)) {
		fn();
		__atomic_store_n(once, 2, __ATOMIC_RELEASE);
		return 0;
	}
	/* Another caller runs it (perhaps a parked fiber): let it finish. */
	while (__atomic_load_n(once, __ATOMIC_ACQUIRE) != 2) {
		if (shim_fiber())
			weft_yield();
		else
			REAL(sched_yield)();
	}
	return 0;
}

/* ---- mutexes ---- */

/* The fields of sync.c's struct mutex the shim reads (see its asserts). */
struct shim_mx {
	uint32_t state;
	uint32_t lock;
	uint64_t owner;
	uint32_t kind;			/* glibc's __kind */
	uint32_t count;			/* recursion beyond the first lock */
};

#define KIND_TYPE	3		/* PTHREAD_MUTEX_{NORMAL,...} */

static inline struct shim_mx *mx(pthread_mutex_t *m)
{
	return (struct shim_mx *)m;
}

static inline struct weft_mutex *wmx(pthread_mutex_t *m)
{
	return (struct weft_mutex *)m;
}

/* Robust, priority-aware or process-shared: glibc keeps those. */
static inline bool mx_glibc(pthread_mutex_t *m)
{
	return !sync_weft || (mx(m)->kind & ~KIND_TYPE);
}

static inline bool mx_mine(pthread_mutex_t *m)
{
	return __atomic_load_n(&mx(m)->owner, __ATOMIC_RELAXED) ==
	       weft__caller_id();
}

int pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a)
{
	int type = PTHREAD_MUTEX_NORMAL, robust = 0, proto = 0, pshared = 0;

	if (a) {
		pthread_mutexattr_gettype(a, &type);
		pthread_mutexattr_getrobust(a, &robust);
		pthread_mutexattr_getprotocol(a, &proto);
		pthread_mutexattr_getpshared(a, &pshared);
	}
	if (!sync_weft || robust || proto != PTHREAD_PRIO_NONE || pshared)
		return REAL(pthread_mutex_init)(m, a);
	memset(m, 0, sizeof(*m));
	mx(m)->kind = type & KIND_TYPE;
	return 0;
}

int pthread_mutex_destroy(pthread_mutex_t *m)
{
	if (mx_glibc(m))
		return REAL(pthread_mutex_destroy)(m);
	return __atomic_load_n(&mx(m)->state, __ATOMIC_RELAXED) ? EBUSY : 0;
}

/* Recursive and error-checking relocks; -1: go and lock. */
static int mx_relock(pthread_mutex_t *m, bool try)
{
	unsigned int type = mx(m)->kind & KIND_TYPE;

	if (type == PTHREAD_MUTEX_NORMAL || type == PTHREAD_MUTEX_ADAPTIVE_NP ||
	    !mx_mine(m))
		return -1;
	if (type == PTHREAD_MUTEX_ERRORCHECK)
		return try ? EBUSY : EDEADLK;
	if (mx(m)->count == UINT32_MAX)
		return EAGAIN;
	mx(m)->count++;
	return 0;
}

static int mx_lock_until(pthread_mutex_t *m, uint64_t deadline)
{
	int r = mx_relock(m, !deadline);

	if (r >= 0)
		return r;
	r = weft_mutex_lock_until(wmx(m), deadline);
	/* A cancel or signal is not for a mutex wait: wait on. */
	while (r == -ECANCELED)
		r = weft_mutex_lock_until(wmx(m), deadline);
	/* glibc: a try of a normal mutex one holds is just busy. */
	if (r == -EDEADLK && !deadline)
		return EBUSY;
	return r == -EAGAIN ? EBUSY : -r;
}

int pthread_mutex_lock(pthread_mutex_t *m)
{
	if (mx_glibc(m))
		return REAL(pthread_mutex_lock)(m);
	return mx_lock_until(m, WEFT_FOREVER);
}

int pthread_mutex_trylock(pthread_mutex_t *m)
{
	if (mx_glibc(m))
		return REAL(pthread_mutex_trylock)(m);
	return mx_lock_until(m, 0);
}

int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *ts)
{
	if (mx_glibc(m))
		return REAL(pthread_mutex_timedlock)(m, ts);
	if (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L)
		return EINVAL;
	return mx_lock_until(m, shim_deadline(CLOCK_REALTIME, ts) ?: 1);
}

int pthread_mutex_clocklock(pthread_mutex_t *m, clockid_t clk,
			    const struct timespec *ts)
{
	if (mx_glibc(m))
		return REAL(pthread_mutex_clocklock)(m, clk, ts);
	if (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L ||
	    (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC))
		return EINVAL;
	return mx_lock_until(m, shim_deadline(clk, ts) ?: 1);
}

int pthread_mutex_unlock(pthread_mutex_t *m)
{
	unsigned int type;

	if (mx_glibc(m))
		return REAL(pthread_mutex_unlock)(m);
	type = mx(m)->kind & KIND_TYPE;
	if ((type == PTHREAD_MUTEX_RECURSIVE ||
	     type == PTHREAD_MUTEX_ERRORCHECK) && !mx_mine(m))
		return EPERM;
	if (type == PTHREAD_MUTEX_RECURSIVE && mx(m)->count) {
		mx(m)->count--;
		return 0;
	}
	/*
	 * glibc lets any thread unlock a normal mutex (some programs use
	 * one as a binary semaphore): take the ownership over first.
	 */
	if ((type == PTHREAD_MUTEX_NORMAL || type == PTHREAD_MUTEX_ADAPTIVE_NP) &&
	    __atomic_load_n(&mx(m)->state, __ATOMIC_RELAXED) && !mx_mine(m))
		__atomic_store_n(&mx(m)->owner, weft__caller_id(),
				 __ATOMIC_RELAXED);
	return -weft_mutex_unlock(wmx(m));
}

/* ---- condition variables ---- */

/* After the weft condvar: the clock pthread_condattr_setclock chose. */
#define COND_CLOCK(c)	(((uint32_t *)(c))[10])
_Static_assert(sizeof(pthread_cond_t) >= 44, "pthread_cond_t");

int pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *a)
{
	clockid_t clk = CLOCK_REALTIME;

	if (!sync_weft)
		return REAL(pthread_cond_init)(c, a);
	if (a)
		pthread_condattr_getclock(a, &clk);
	memset(c, 0, sizeof(*c));
	COND_CLOCK(c) = clk;
	return 0;
}

int pthread_cond_destroy(pthread_cond_t *c)
{
	if (!sync_weft)
		return REAL(pthread_cond_destroy)(c);
	return 0;
}

static int cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m,
			   uint64_t deadline)
{
	uint32_t count = mx(m)->count;
	int r;

	if (mx_glibc(m))
		return EINVAL;	/* glibc's robust mutexes need glibc's cond */
	mx(m)->count = 0;	/* a recursive mutex is released whole */
	r = weft_cond_wait_until((struct weft_cond *)c, wmx(m), deadline);
	mx(m)->count = count;
	if (r == -ECANCELED) {
		shim_testcancel();	/* a cancellation point */
		return 0;		/* else a spurious wake-up */
	}
	return -r;
}

int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	if (!sync_weft)
		return REAL(pthread_cond_wait)(c, m);
	return cond_wait_until(c, m, WEFT_FOREVER);
}

int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
			   const struct timespec *ts)
{
	if (!sync_weft)
		return REAL(pthread_cond_timedwait)(c, m, ts);
	if (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L)
		return EINVAL;
	return cond_wait_until(c, m,
			       shim_deadline(COND_CLOCK(c), ts) ?: 1);
}

int pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m,
			   clockid_t clk, const struct timespec *ts)
{
	if (!sync_weft)
		return REAL(pthread_cond_clockwait)(c, m, clk, ts);
	if (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L ||
	    (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC))
		return EINVAL;
	return cond_wait_until(c, m, shim_deadline(clk, ts) ?: 1);
}

int pthread_cond_signal(pthread_cond_t *c)
{
	if (!sync_weft)
		return REAL(pthread_cond_signal)(c);
	return -weft_cond_signal((struct weft_cond *)c);
}

int pthread_cond_broadcast(pthread_cond_t *c)
{
	if (!sync_weft)
		return REAL(pthread_cond_broadcast)(c);
	return -weft_cond_broadcast((struct weft_cond *)c);
}

/* ---- rwlocks ---- */

_Static_assert(sizeof(pthread_rwlock_t) >= sizeof(struct weft_rwlock),
	       "pthread_rwlock_t");

#define WRW(l)	((struct weft_rwlock *)(l))

int pthread_rwlock_init(pthread_rwlock_t *l, const pthread_rwlockattr_t *a)
{
	if (!sync_weft)
		return REAL(pthread_rwlock_init)(l, a);
	memset(l, 0, sizeof(*l));
	return 0;
}

int pthread_rwlock_destroy(pthread_rwlock_t *l)
{
	if (!sync_weft)
		return REAL(pthread_rwlock_destroy)(l);
	return 0;
}

static int rw_ret(int r, uint64_t deadline)
{
	/* glibc: a try on a lock one holds is just busy. */
	if (r == -EDEADLK && !deadline)
		return EBUSY;
	return r == -EAGAIN ? EBUSY : -r;
}

static int rd_until(pthread_rwlock_t *l, uint64_t deadline)
{
	int r;

	while ((r = weft_rwlock_rdlock_until(WRW(l), deadline)) ==
	       -ECANCELED)
		;
	return rw_ret(r, deadline);
}

static int wr_until(pthread_rwlock_t *l, uint64_t deadline)
{
	int r;

	while ((r = weft_rwlock_wrlock_until(WRW(l), deadline)) ==
	       -ECANCELED)
		;
	return rw_ret(r, deadline);
}

int pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
	if (!sync_weft)
		return REAL(pthread_rwlock_rdlock)(l);
	return rd_until(l, WEFT_FOREVER);
}

int pthread_rwlock_tryrdlock(pthread_rwlock_t *l)
{
	if (!sync_weft)
		return REAL(pthread_rwlock_tryrdlock)(l);
	return rd_until(l, 0);
}

int pthread_rwlock_timedrdlock(pthread_rwlock_t *l, const struct timespec *ts)
{
	if (!sync_weft)
		return REAL(pthread_rwlock_timedrdlock)(l, ts);
	if (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L)
		return EINVAL;
	return rd_until(l, shim_deadline(CLOCK_REALTIME, ts) ?: 1);
}

int pthread_rwlock_clockrdlock(pthread_rwlock_t *l, clockid_t clk,
			       const struct timespec *ts)
{
	if (!sync_weft)
		return REAL(pthread_rwlock_clockrdlock)(l, clk, ts);
	if (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L)
		return EINVAL;
	return rd_until(l, shim_deadline(clk, ts) ?: 1);
}

int pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
	if (!sync_weft)
		return REAL(pthread_rwlock_wrlock)(l);
	return wr_until(l, WEFT_FOREVER);
}

int pthread_rwlock_trywrlock(pthread_rwlock_t *l)
{
	if (!sync_weft)
		return REAL(pthread_rwlock_trywrlock)(l);
	return wr_until(l, 0);
}

int pthread_rwlock_timedwrlock(pthread_rwlock_t *l, const struct timespec *ts)
{
	if (!sync_weft)
		return REAL(pthread_rwlock_timedwrlock)(l, ts);
	if (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L)
		return EINVAL;
	return wr_until(l, shim_deadline(CLOCK_REALTIME, ts) ?: 1);
}

int pthread_rwlock_clockwrlock(pthread_rwlock_t *l, clockid_t clk,
			       const struct timespec *ts)
{
	if (!sync_weft)
		return REAL(pthread_rwlock_clockwrlock)(l, clk, ts);
	if (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L)
		return EINVAL;
	return wr_until(l, shim_deadline(clk, ts) ?: 1);
}

int pthread_rwlock_unlock(pthread_rwlock_t *l)
{
	if (!sync_weft)
		return REAL(pthread_rwlock_unlock)(l);
	return -weft_rwlock_unlock(WRW(l));
}

/* ---- spin locks: yield to the holder, which may share our worker ---- */

int pthread_spin_init(pthread_spinlock_t *l, int pshared)
{
	(void)pshared;
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
	return 0;
}

int pthread_spin_destroy(pthread_spinlock_t *l)
{
	(void)l;
	return 0;
}

int pthread_spin_lock(pthread_spinlock_t *l)
{
	while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE)) {
		if (shim_fiber())
			weft_yield();
		else
			REAL(sched_yield)();
	}
	return 0;
}

int pthread_spin_trylock(pthread_spinlock_t *l)
{
	return __atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE) ? EBUSY : 0;
}

int pthread_spin_unlock(pthread_spinlock_t *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
	return 0;
}

/* ---- barriers, on the wait protocol ---- */

struct barrier {
	struct weft_spin lock;		/* protects everything below */
	uint32_t count;			/* arrived in this round */
	uint32_t target;
	uint32_t round;
	struct wq wq;
};
_Static_assert(sizeof(struct barrier) <= sizeof(pthread_barrier_t),
	       "pthread_barrier_t");

int pthread_barrier_init(pthread_barrier_t *pb,
			 const pthread_barrierattr_t *a, unsigned int n)
{
	struct barrier *b = (struct barrier *)pb;

	if (!sync_weft)
		return REAL(pthread_barrier_init)(pb, a, n);
	if (!n)
		return EINVAL;
	memset(pb, 0, sizeof(*pb));
	b->target = n;
	return 0;
}

int pthread_barrier_destroy(pthread_barrier_t *pb)
{
	if (!sync_weft)
		return REAL(pthread_barrier_destroy)(pb);
	return 0;
}

int pthread_barrier_wait(pthread_barrier_t *pb)
{
	struct barrier *b = (struct barrier *)pb;
	struct weft_spin *lock = &b->lock;
	struct weft_waiter wt;
	WAKE_LIST(woken);

	if (!sync_weft)
		return REAL(pthread_barrier_wait)(pb);
	weft_spin_lock(lock);
	if (++b->count == b->target) {
		b->count = 0;
		b->round++;
		wq_claim_all(&b->wq, 0, &woken);
		weft_spin_unlock(lock);
		wake_list_finish(&woken);
		return PTHREAD_BARRIER_SERIAL_THREAD;
	}
	for (;;) {
		weft__waiter_init(&wt, NULL);
		wq_push(&b->wq, &wt);
		if (weft__wait(&wt, &lock, 1, WEFT_FOREVER) == WAIT_WOKEN)
			return 0;
		/* Not a cancellation point: still queued, wait again. */
		weft_spin_lock(lock);
		if (!wq_linked(&wt)) {	/* the round ended meanwhile */
			weft_spin_unlock(lock);
			return 0;
		}
		wq_del(&b->wq, &wt);
	}
}

/* ---- semaphores ---- */

/* sync.c's struct sema: the count after the lock word. */
#define SEM_COUNT(s)	(((uint32_t *)(s))[1])
#define WSEM(s)		((struct weft_sem *)(s))

/*
 * Named semaphores (sem_open) and process-shared ones live in shared
 * memory in glibc's layout: their addresses are kept so that their calls
 * go to glibc.
 */
#define NAMED_MAX	256

static struct weft_spin named_lock;	/* serialises changes below */
static sem_t *named[NAMED_MAX];		/* atomic: read without the lock */
static unsigned int nnamed;		/* atomic */

static bool sem_glibc(sem_t *s)
{
	bool found = false;

	if (!sync_weft)
		return true;
	if (!__atomic_load_n(&nnamed, __ATOMIC_ACQUIRE))
		return false;
	/*
	 * Without the lock: a fork child must not find it held by a thread
	 * it does not have. Entries change only for semaphores nobody uses.
	 */
	for (unsigned int i = 0; i < NAMED_MAX && !found; i++)
		found = __atomic_load_n(&named[i], __ATOMIC_ACQUIRE) == s;
	return found;
}

/* Remember @s as glibc's: 0, or -1 when the table is full. */
static int keep_glibc_sem(sem_t *s)
{
	unsigned int i;

	weft_spin_lock(&named_lock);
	for (i = 0; i < NAMED_MAX && named[i] && named[i] != s; i++)
		;
	if (i < NAMED_MAX && !named[i]) {
		__atomic_store_n(&named[i], s, __ATOMIC_RELEASE);
		__atomic_add_fetch(&nnamed, 1, __ATOMIC_RELEASE);
	}
	weft_spin_unlock(&named_lock);
	return i == NAMED_MAX ? -1 : 0;
}

sem_t *sem_open(const char *name, int oflag, ...)
{
	unsigned int mode, value;
	va_list ap;
	sem_t *s;

	va_start(ap, oflag);
	mode = va_arg(ap, unsigned int);
	value = va_arg(ap, unsigned int);
	va_end(ap);
	s = REAL(sem_open)(name, oflag, mode, value);
	if (s == SEM_FAILED || !sync_weft)
		return s;
	if (keep_glibc_sem(s)) {
		REAL(sem_close)(s);
		errno = EMFILE;
		return SEM_FAILED;
	}
	return s;
}

int sem_close(sem_t *s)
{
	weft_spin_lock(&named_lock);
	for (unsigned int i = 0; i < NAMED_MAX; i++)
		if (named[i] == s) {
			__atomic_store_n(&named[i], NULL, __ATOMIC_RELEASE);
			__atomic_sub_fetch(&nnamed, 1, __ATOMIC_RELEASE);
		}
	weft_spin_unlock(&named_lock);
	return REAL(sem_close)(s);
}

int sem_init(sem_t *s, int pshared, unsigned int value)
{
	if (pshared && sync_weft) {
		/* Shared with other processes: glibc's, remembered as such. */
		int r = REAL(sem_init)(s, pshared, value);

		if (!r && keep_glibc_sem(s)) {
			errno = ENOMEM;
			return -1;
		}
		return r;
	}
	if (sem_glibc(s))
		return REAL(sem_init)(s, pshared, value);
	if (value > SEM_VALUE_MAX) {
		errno = EINVAL;
		return -1;
	}
	memset(s, 0, sizeof(*s));
	return shim_ret(weft_sem_init(WSEM(s), value));
}

int sem_destroy(sem_t *s)
{
	if (sem_glibc(s)) {
		weft_spin_lock(&named_lock);
		for (unsigned int i = 0; i < NAMED_MAX; i++)
			if (named[i] == s) {
				__atomic_store_n(&named[i], NULL,
						 __ATOMIC_RELEASE);
				__atomic_sub_fetch(&nnamed, 1,
						   __ATOMIC_RELEASE);
			}
		weft_spin_unlock(&named_lock);
		return REAL(sem_destroy)(s);
	}
	return 0;
}

static int sem_until(sem_t *s, uint64_t deadline)
{
	int r;

	/* sem_wait and sem_timedwait are restarted under SA_RESTART. */
	do
		r = weft_sem_wait_until(WSEM(s), deadline);
	while (r == -ECANCELED && shim_restart());
	if (r == -ECANCELED)
		r = -shim_canceled();	/* EINTR, or a cancellation point */
	return shim_ret(r);
}

int sem_wait(sem_t *s)
{
	if (sem_glibc(s))
		return REAL(sem_wait)(s);
	return sem_until(s, WEFT_FOREVER);
}

int sem_trywait(sem_t *s)
{
	if (sem_glibc(s))
		return REAL(sem_trywait)(s);
	return sem_until(s, 0);
}

int sem_timedwait(sem_t *s, const struct timespec *ts)
{
	if (sem_glibc(s))
		return REAL(sem_timedwait)(s, ts);
	if (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L) {
		errno = EINVAL;
		return -1;
	}
	return sem_until(s, shim_deadline(CLOCK_REALTIME, ts) ?: 1);
}

int sem_clockwait(sem_t *s, clockid_t clk, const struct timespec *ts)
{
	if (sem_glibc(s))
		return REAL(sem_clockwait)(s, clk, ts);
	if (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L ||
	    (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC)) {
		errno = EINVAL;
		return -1;
	}
	return sem_until(s, shim_deadline(clk, ts) ?: 1);
}

int sem_post(sem_t *s)
{
	if (sem_glibc(s))
		return REAL(sem_post)(s);
	return shim_ret(weft_sem_post(WSEM(s)));
}

int sem_getvalue(sem_t *s, int *val)
{
	if (sem_glibc(s))
		return REAL(sem_getvalue)(s, val);
	*val = (int)__atomic_load_n(&SEM_COUNT(s), __ATOMIC_RELAXED);
	return 0;
}

/* ---- C++ function-local statics ---- */

/*
 * libstdc++'s guard waits on a futex: a fiber would block its worker
 * while the fiber running the constructor, perhaps on the same worker,
 * is parked. The same encoding as libstdc++ (an int: 1 done, bit 8 being
 * initialised, bit 16 waiters), so a guard can pass between the two, and
 * a yield instead of the futex.
 */
#define GUARD_DONE	1
#define GUARD_PENDING	(1 << 8)

int __cxa_guard_acquire(int64_t *g);
void __cxa_guard_release(int64_t *g);
void __cxa_guard_abort(int64_t *g);

int __cxa_guard_acquire(int64_t *g)
{
	int *w = (int *)g;

	if (!shim_fiber())
		return REAL(__cxa_guard_acquire)(g);
	for (;;) {
		int v = __atomic_load_n(w, __ATOMIC_ACQUIRE), zero = 0;

		if (v & GUARD_DONE)
			return 0;
		if (!v && __atomic_compare_exchange_n(w, &zero, GUARD_PENDING,
						      false, __ATOMIC_ACQUIRE,
						      __ATOMIC_ACQUIRE))
			return 1;	/* ours to construct */
		weft_yield();
	}
}

void __cxa_guard_release(int64_t *g)
{
	int *w = (int *)g;

	/*
	 * Waiters of libstdc++'s own kind sleep on the futex, a shared one
	 * (not FUTEX_PRIVATE): wake them, and fibers (futex.c) alike.
	 */
	if (__atomic_exchange_n(w, GUARD_DONE, __ATOMIC_RELEASE) & ~0xffff)
		syscall(SYS_futex, w, FUTEX_WAKE, INT_MAX);
}

void __cxa_guard_abort(int64_t *g)
{
	int *w = (int *)g;

	if (__atomic_exchange_n(w, 0, __ATOMIC_RELEASE) & ~0xffff)
		syscall(SYS_futex, w, FUTEX_WAKE, INT_MAX);
}
