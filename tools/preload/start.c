// SPDX-License-Identifier: MIT
/*
 * libweft-preload.so: an unmodified, dynamically linked program on weft.
 *
 * weft-run sets LD_PRELOAD to this library and WEFT_PRELOAD to the mode.
 * The library interposes __libc_start_main: in a process that asked
 * (WEFT_PRELOAD set when it started), main() runs on a fiber of a weft
 * runtime; in any other (children of system() and popen(), which inherit
 * LD_PRELOAD but not the variable, removed at start) every interposed
 * call goes straight to libc. Before main, and on threads that are not
 * fibers, the same: the shim is inert until its runtime runs.
 *
 * Modes
 *	mn	(default) pthread_create() makes a fiber: a thread-per-
 *		connection server holds thousands of connections on one OS
 *		thread per CPU. pthread sync objects are weft's (they work
 *		between fibers and plain threads alike).
 *	io	only main() is a fiber; threads stay OS threads.
 *
 * Rules that keep unmodified code correct
 *	- A fiber never changes OS thread (WEFT_BOUND): errno, __thread
 *	  variables and glibc's per-thread state keep their addresses.
 *	  New fibers go round-robin over the workers: load balances at
 *	  creation, not later.
 *	- In M:N mode each thread has its own __thread and thread_local
 *	  variables, swapped into its worker's TLS block when it runs
 *	  (sched/tls.c), and its C++ thread_local destructors run when it
 *	  ends; libc's own per-thread state (errno aside) is the worker's.
 *	- A wrapper sets errno only after its last possible switch.
 *	- Calls libc makes internally (stdio's write, getaddrinfo's
 *	  sockets) are not interposed and block the worker: never a park
 *	  inside libc with one of its locks held.
 *	- fds the program made O_NONBLOCK pass straight through (EAGAIN);
 *	  SO_RCVTIMEO/SO_SNDTIMEO become deadlines (fd.c).
 *
 * Files: start.c (this: start, modes, exit, cancel), fd.c (I/O, sleeps,
 * poll, fork), pthread.c (threads and sync), real.c (libc's own
 * functions for the weft library built into this .so, see real.h).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../../lib/log.h"
#include "shim.h"

int weft_shim_mode;

typedef int (*main_fn)(int, char **, char **);

static main_fn app_main;
static int app_argc;
static char **app_argv, **app_envp;
static int app_status;

/* The calling fiber's shim_thread: a fiber-local key of our own. */
static unsigned int self_key;

struct shim_thread *shim_self(void)
{
	return shim_fiber() ? weft_key_get(self_key) : NULL;
}

int shim_thread_main(struct shim_thread *t)
{
	weft_key_set(self_key, t);
	/* The program's frames lie below this one's. */
	t->unwind_top = (uintptr_t)__builtin_frame_address(0);
	if (!setjmp(t->exit_jb))
		t->result = t->fn(t->arg);
	/*
	 * The destructors run in this frame too: a pthread_exit() from one
	 * lands at the setjmp again, and goes on with what is left (each
	 * list only shrinks), as glibc's start_thread does. Cancellation is
	 * off: the thread is exiting.
	 */
	t->cancel_state = PTHREAD_CANCEL_DISABLE;
	shim_thread_dtors(t);
	return 0;
}

/* The program's main(), on a fiber bound to worker 0. */
static void *main_fiber(void *arg)
{
	struct shim_thread *t = arg;
	int status;

	weft_key_set(self_key, t);
	/* Its TLS holds what constructors left there: it keeps it. */
	weft__tls_adopt(t->tls, true);
	if (weft_shim_mode == SHIM_MN)
		weft_dbg("weft-run: %zu bytes of TLS per thread",
			 shim_tls_size);
	t->unwind_top = (uintptr_t)__builtin_frame_address(0);
	if (setjmp(t->exit_jb)) {
		/* pthread_exit(): its destructors; others may go on. */
		t->cancel_state = PTHREAD_CANCEL_DISABLE;
		shim_thread_dtors(t);
		return NULL;
	}
	status = app_main(app_argc, app_argv, app_envp);
	/* Returning from main() ends the process, threads or not. */
	exit(status);
}

size_t shim_tls_size;
void *shim_main_tls;

/*
 * M:N threads get their own copies of the program's __thread variables
 * (sched/tls.c); main's is made now, the others' by pthread_create().
 */
static void shim_tls_init(struct shim_thread *main_thread)
{
	ssize_t size;

	if (weft_shim_mode != SHIM_MN)
		return;
	size = weft__tls_init();
	if (size < 0) {
		weft_log("weft-run: too many modules with TLS: threads on one worker share their __thread variables");
		return;
	}
	if (size && !(main_thread->tls = weft__tls_alloc())) {
		weft_log("weft-run: no memory for TLS: threads on one worker share their __thread variables");
		return;
	}
	shim_tls_size = (size_t)size;
	shim_main_tls = main_thread->tls;
}

/* The first fiber: starts main() on a stack the size of RLIMIT_STACK. */
static void *first_fiber(void *arg)
{
	struct shim_thread *t = arg;
	struct weft_attr a = {
		.name = "main",
		.flags = WEFT_BOUND | WEFT_ON_WORKER,
		.worker = 0,
	};
	struct rlimit rl;
	int ret;

	a.stack_size = 8 << 20;
	if (!getrlimit(RLIMIT_STACK, &rl) && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur >= WEFT_STACK_MIN && rl.rlim_cur <= WEFT_STACK_MAX)
		a.stack_size = rl.rlim_cur;
	ret = weft_spawn(&t->fid, &a, main_fiber, t);
	if (!ret)
		shim_signal_main(t);	/* process signals interrupt it */
	if (ret) {
		weft_log("weft-run: cannot start main(): %s", strerror(-ret));
		app_status = 127;
		return NULL;
	}
	weft_join(t->fid, NULL);
	return NULL;
}

static int shim_main(int argc, char **argv, char **envp)
{
	static struct shim_thread t = { .main = true, .refs = 1 };
	int ret;

	app_argc = argc;
	app_argv = argv;
	app_envp = envp;
	shim_signal_init();
	shim_tls_init(&t);
	ret = weft_key_create(&self_key, NULL);
	if (!ret)
		ret = weft_run(NULL, first_fiber, &t, NULL);
	if (ret && ret != -EINVAL) {
		/* Bad WEFT_* values said so already (-EINVAL): exit. */
		weft_log("weft-run: cannot start the runtime (%s): running %s without weft",
			 strerror(-ret), argv[0]);
		weft_shim_mode = SHIM_OFF;
		return app_main(argc, argv, envp);
	}
	if (ret)
		return 1;
	/*
	 * main() called pthread_exit() and every thread has finished. glibc
	 * runs the thread_local destructors main registered before the
	 * runtime at exit: on main's copy.
	 */
	weft__tls_put(t.tls);
	return app_status;
}

int __libc_start_main(main_fn main, int argc, char **argv,
		      void (*init)(void), void (*fini)(void),
		      void (*rtld_fini)(void), void *stack_end);

int __libc_start_main(main_fn main, int argc, char **argv,
		      void (*init)(void), void (*fini)(void),
		      void (*rtld_fini)(void), void *stack_end)
{
	int (*real)(main_fn, int, char **, void (*)(void), void (*)(void),
		    void (*)(void), void *) =
		weft_shim_dlnext("__libc_start_main");
	const char *mode = getenv("WEFT_PRELOAD");

	if (!mode)
		return real(main, argc, argv, init, fini, rtld_fini, stack_end);
	if (!strcmp(mode, "mn") || !*mode) {
		weft_shim_mode = SHIM_MN;
	} else if (!strcmp(mode, "io")) {
		weft_shim_mode = SHIM_IO;
	} else {
		weft_log("WEFT_PRELOAD=\"%s\" is not valid: expected one of mn or io",
			 mode);
		exit(2);
	}
	/* Children (system(), popen(), exec) are not ours to manage. */
	unsetenv("WEFT_PRELOAD");
	app_main = main;
	return real(shim_main, argc, argv, init, fini, rtld_fini, stack_end);
}

/* ---- time ---- */

uint64_t shim_deadline(clockid_t clk, const struct timespec *abs)
{
	struct timespec now;
	int64_t d;

	if (!abs)
		return WEFT_FOREVER;
	if (clk == CLOCK_MONOTONIC) {
		/* weft_now_ns() is CLOCK_MONOTONIC. */
		if (abs->tv_sec < 0)
			return 0;
		return (uint64_t)abs->tv_sec * 1000000000ULL + abs->tv_nsec;
	}
	clock_gettime(clk, &now);
	d = (int64_t)(abs->tv_sec - now.tv_sec) * 1000000000LL +
	    (abs->tv_nsec - now.tv_nsec);
	if (d <= 0)
		return 0;
	return weft_now_ns() + d;
}

uint64_t shim_deadline_ms(int ms)
{
	if (ms < 0)
		return WEFT_FOREVER;
	return weft_now_ns() + (uint64_t)ms * 1000000ULL;
}

/* ---- cancellation (pthread_cancel) and EINTR ---- */

void shim_testcancel(void)
{
	struct shim_thread *t = shim_self();

	if (t && __atomic_load_n(&t->cancel_pending, __ATOMIC_ACQUIRE) &&
	    t->cancel_state == PTHREAD_CANCEL_ENABLE && !t->cancel_defer) {
		/* Once: the cleanup handlers may wait on their own. */
		t->cancel_state = PTHREAD_CANCEL_DISABLE;
		pthread_exit(PTHREAD_CANCELED);	/* the shim's: unwinds */
	}
}

/*
 * weft_cancel() cut a wait short: a pthread_cancel() (acted on here, at
 * this cancellation point) or a signal (EINTR).
 */
int shim_canceled(void)
{
	struct shim_thread *t = shim_self();

	shim_testcancel();
	if (t)
		__atomic_store_n(&t->eintr, EINTR_NONE, __ATOMIC_RELAXED);
	return EINTR;
}

bool shim_restart(void)
{
	struct shim_thread *t = shim_self();

	shim_testcancel();
	return t && __atomic_exchange_n(&t->eintr, EINTR_NONE,
					__ATOMIC_ACQ_REL) == EINTR_RESTART;
}
