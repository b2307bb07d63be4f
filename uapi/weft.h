/* SPDX-License-Identifier: MIT */
/*
 * weft - a kernel-assisted user-space fiber scheduler.
 *
 * The public API. Every action returns 0 (or a count) on success and a
 * negative errno value on failure; weft never reads or writes errno, because
 * a fiber may resume on another thread and compilers cache errno's address.
 * Every time value is in nanoseconds; deadlines are absolute CLOCK_MONOTONIC.
 */
#ifndef WEFT_H
#define WEFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_VERSION_MAJOR	0
#define WEFT_VERSION_MINOR	1
#define WEFT_VERSION_PATCH	0

#if defined(__GNUC__)
#define WEFT_API __attribute__((visibility("default")))
#else
#define WEFT_API
#endif

/* Longest fiber name kept, including the terminating NUL. */
#define WEFT_NAME_MAX		32
/* Number of fiber-local storage keys. */
#define WEFT_KEYS_MAX		64
/* Smallest and largest stack a fiber can ask for. */
#define WEFT_STACK_MIN		(16UL << 10)
#define WEFT_STACK_MAX		(256UL << 20)

/**
 * struct weft_rt_attr - how weft_run() sets up the runtime
 * @workers:	worker threads; 0 means one per CPU in the affinity mask
 *		(or WEFT_WORKERS)
 * @stack_size:	default fiber stack size in bytes; 0 means WEFT_STACK_SIZE
 *		or the built-in default (256 KiB)
 * @flags:	reserved, must be 0
 *
 * Zero-initialise it (or pass NULL) and set what you need: fields added
 * later take 0 as "the default".
 */
struct weft_rt_attr {
	unsigned int workers;
	unsigned int flags;
	size_t stack_size;
	unsigned long __reserved[8];
};

/* weft_attr.flags */
#define WEFT_DETACHED		(1U << 0)	/* start detached */
#define WEFT_ON_WORKER		(1U << 1)	/* start on worker @worker */
#define WEFT_BOUND		(1U << 2)	/* never move to another worker */

/* A deadline that never comes; a deadline of 0 means "do not wait". */
#define WEFT_FOREVER		UINT64_MAX

/**
 * struct weft_attr - how weft_spawn() creates a fiber
 * @stack_size:	stack size in bytes, rounded up to a power of two between
 *		WEFT_STACK_MIN and WEFT_STACK_MAX; 0 means the runtime default
 * @name:	a name for diagnostics, copied (truncated to WEFT_NAME_MAX - 1)
 * @flags:	WEFT_DETACHED, WEFT_ON_WORKER, WEFT_BOUND, or 0
 * @worker:	with WEFT_ON_WORKER, the worker (0 .. workers - 1) to start
 *		on; otherwise ignored and the fiber starts on the caller's
 *		worker (idle workers steal it from there)
 *
 * A fiber may move between workers whenever it waits, unless WEFT_BOUND:
 * a bound fiber runs only on the worker it started on, so thread-local
 * variables keep their addresses across waits.
 */
struct weft_attr {
	size_t stack_size;
	const char *name;
	unsigned int flags;
	unsigned int worker;
	unsigned long __reserved[4];
};

/**
 * weft_run() - start a runtime and run @fn as its first fiber
 * @attr:	runtime attributes, or NULL for the defaults
 * @fn:		the first fiber's function
 * @arg:	its argument
 * @result:	where to store @fn's return value, or NULL
 *
 * Creates the workers (the calling thread becomes worker 0), runs @fn(@arg)
 * on a fiber, and returns when every
 * fiber has finished, or, after weft_shutdown(), as soon as the first fiber
 * has returned. One runtime runs at a time in a process.
 *
 * Return: 0, -EINVAL for a bad attribute or WEFT_* variable (a line on
 * stderr names it), -EBUSY if a runtime is already running, -ENOMEM, or
 * -EAGAIN when a worker thread could not be created.
 */
WEFT_API int weft_run(const struct weft_rt_attr *attr, void *(*fn)(void *),
		      void *arg, void **result);

/**
 * weft_shutdown() - stop waiting for the other fibers
 *
 * After this call weft_run() returns as soon as its first fiber returns;
 * fibers still alive then are never resumed and their stacks are released
 * without unwinding.
 *
 * Return: 0, or -EPERM when no runtime is running.
 */
WEFT_API int weft_shutdown(void);

/**
 * weft_spawn() - create a fiber
 * @fid:	where to store the new fiber's id, or NULL (only when detached)
 * @attr:	attributes, or NULL for the defaults
 * @fn:		the function the fiber runs
 * @arg:	its argument
 *
 * The fiber is runnable at once; it runs when a worker picks it. Must be
 * called from a fiber.
 *
 * Return: 0, -EINVAL for a bad attribute or a NULL @fid on a joinable fiber,
 * -EPERM when not called from a fiber, -ENOMEM when no stack can be had.
 */
WEFT_API int weft_spawn(uint64_t *fid, const struct weft_attr *attr,
			void *(*fn)(void *), void *arg);

/**
 * weft_join() - wait for a fiber to finish and reap it
 * @fid:	the fiber
 * @result:	where to store its return value, or NULL
 *
 * Return: 0, -EINVAL if @fid is not a joinable fiber (detached, already
 * joined, being joined by another fiber, or never existed), -EDEADLK if
 * @fid is the caller, -EPERM when not called from a fiber.
 */
WEFT_API int weft_join(uint64_t fid, void **result);

/**
 * weft_detach() - let a fiber be reaped when it finishes
 * @fid:	the fiber
 *
 * Return: 0, or -EINVAL if @fid is not a joinable fiber.
 */
WEFT_API int weft_detach(uint64_t fid);

/**
 * weft_yield() - let other runnable fibers run
 *
 * Return: 0, or -EPERM when not called from a fiber.
 */
WEFT_API int weft_yield(void);

/**
 * weft_self() - the calling fiber's id
 *
 * Return: the id (never 0), or 0 when not called from a fiber.
 */
WEFT_API uint64_t weft_self(void);

/**
 * weft_name() - copy a fiber's name
 * @fid:	the fiber (0 for the caller)
 * @buf:	where to copy it, NUL-terminated
 * @len:	size of @buf
 *
 * Return: the name's length, -EINVAL for an unknown fiber or a NULL/empty
 * @buf, -ERANGE when @buf is too small.
 */
WEFT_API int weft_name(uint64_t fid, char *buf, size_t len);

/**
 * weft_now_ns() - the CLOCK_MONOTONIC time in nanoseconds
 *
 * Return: the time.
 */
WEFT_API uint64_t weft_now_ns(void);

/**
 * weft_sleep_ns() - park the calling fiber for a while
 * @ns:		how long, in nanoseconds; 0 behaves like weft_yield()
 *
 * Return: 0, -ECANCELED when weft_cancel() cut it short, or -EPERM when
 * not called from a fiber.
 */
WEFT_API int weft_sleep_ns(uint64_t ns);

/**
 * weft_sleep_until_ns() - park the calling fiber until a deadline
 * @deadline_ns:	absolute CLOCK_MONOTONIC time in nanoseconds
 *
 * Return: 0, -ECANCELED when weft_cancel() cut it short, or -EPERM when
 * not called from a fiber.
 */
WEFT_API int weft_sleep_until_ns(uint64_t deadline_ns);

/*
 * I/O. Each call parks only the calling fiber while the operation runs on
 * its worker's io_uring, and returns what the system call would (a count,
 * a file descriptor, 0) or -errno. The _until variants take a deadline
 * (0: only what can be done at once, -EAGAIN otherwise; WEFT_FOREVER).
 * A deadline or weft_cancel() that ends the wait cancels the operation
 * and returns -ETIMEDOUT or -ECANCELED, the file descriptor still usable;
 * an operation that completed anyway returns its result (data read is
 * never dropped). O_NONBLOCK on the fd makes no difference: the fiber
 * waits. A plain OS thread makes the system call itself. Every successful
 * call is an await point.
 *
 * Where io_uring is unavailable (denied by seccomp or
 * kernel.io_uring_disabled: one line on stderr says so) or
 * WEFT_BACKEND=epoll, the same calls wait for readiness with epoll and
 * then make the system call without blocking; regular-file reads and
 * writes that would wait for the disk, and fsync, go to the offload pool.
 * There, an fd that fibers have waited on must be closed with
 * weft_close() (not close(2)) before its number is reused.
 */
WEFT_API ssize_t weft_read_until(int fd, void *buf, size_t len,
				 uint64_t deadline_ns);
WEFT_API ssize_t weft_read(int fd, void *buf, size_t len);
WEFT_API ssize_t weft_write_until(int fd, const void *buf, size_t len,
				  uint64_t deadline_ns);
WEFT_API ssize_t weft_write(int fd, const void *buf, size_t len);
/* At a file offset (>= 0, else -EINVAL). */
WEFT_API ssize_t weft_pread(int fd, void *buf, size_t len, off_t off);
WEFT_API ssize_t weft_pwrite(int fd, const void *buf, size_t len, off_t off);
WEFT_API ssize_t weft_readv_until(int fd, const struct iovec *iov,
				  int iovcnt, uint64_t deadline_ns);
WEFT_API ssize_t weft_writev_until(int fd, const struct iovec *iov,
				   int iovcnt, uint64_t deadline_ns);
WEFT_API ssize_t weft_recv_until(int fd, void *buf, size_t len, int flags,
				 uint64_t deadline_ns);
WEFT_API ssize_t weft_send_until(int fd, const void *buf, size_t len,
				 int flags, uint64_t deadline_ns);
WEFT_API ssize_t weft_recvmsg_until(int fd, struct msghdr *msg, int flags,
				    uint64_t deadline_ns);
WEFT_API ssize_t weft_sendmsg_until(int fd, const struct msghdr *msg,
				    int flags, uint64_t deadline_ns);
/* @flags: accept4() flags. Return: the new file descriptor. */
WEFT_API int weft_accept_until(int fd, struct sockaddr *addr,
			       socklen_t *addrlen, int flags,
			       uint64_t deadline_ns);
WEFT_API int weft_connect_until(int fd, const struct sockaddr *addr,
				socklen_t addrlen, uint64_t deadline_ns);
/* Wait until @fd has one of @events (POLLIN...). Return: the revents. */
WEFT_API int weft_poll_until(int fd, short events, uint64_t deadline_ns);
/* openat(2); O_CLOEXEC is always added. */
WEFT_API int weft_openat(int dirfd, const char *path, int flags,
			 unsigned int mode);
/* Fibers blocked on @fd (on any worker) are woken with -EBADF. */
WEFT_API int weft_close(int fd);
WEFT_API int weft_fsync(int fd, bool datasync);

/**
 * weft_key_create() - create a fiber-local storage key
 * @key:	where to store the key
 * @destructor:	called with the value when a fiber that set a non-NULL
 *		value finishes, or NULL
 *
 * Return: 0, -EINVAL for a NULL @key, -EAGAIN when all WEFT_KEYS_MAX keys
 * are in use.
 */
WEFT_API int weft_key_create(unsigned int *key, void (*destructor)(void *));

/**
 * weft_key_delete() - give a key back
 * @key:	the key
 *
 * Values still set are not destroyed.
 *
 * Return: 0, or -EINVAL for a key not in use.
 */
WEFT_API int weft_key_delete(unsigned int key);

/**
 * weft_key_set() - set the calling fiber's value for a key
 * @key:	the key
 * @value:	the value
 *
 * Return: 0, -EINVAL for a key not in use, -EPERM when not called from a
 * fiber.
 */
WEFT_API int weft_key_set(unsigned int key, const void *value);

/**
 * weft_key_get() - the calling fiber's value for a key
 * @key:	the key
 *
 * Return: the value, or NULL when unset, the key is not in use, or the
 * caller is not a fiber.
 */
WEFT_API void *weft_key_get(unsigned int key);

/**
 * weft_worker() - which worker runs the caller
 *
 * Return: the worker's index (0 .. workers - 1), or -EPERM when the caller
 * is not a worker thread.
 */
WEFT_API int weft_worker(void);

/**
 * weft_workers() - how many workers the running runtime has
 *
 * Return: the count, or -EPERM when no runtime is running.
 */
WEFT_API int weft_workers(void);

/**
 * struct weft_worker_stats - what one worker has done since weft_run()
 * @switches:	context switches, and await points passed without one
 * @spawned:	fibers spawned on it
 * @exited:	fibers that finished on it
 * @steals:	fibers it took from other workers' queues
 * @wakes:	wakes it sent to sleeping workers
 * @sleeps:	times it slept in the kernel, out of work
 * @spin_yields: sched_yield() calls while spinning for work
 * @submits:	io_uring_enter() calls it made
 * @completions: io_uring completions it reaped
 * @rescued:	fibers the monitor moved off it while it was stuck
 * @syscalls:	system calls it made: sleeps, wakes, ring submits, polls,
 *		and the epoll backend's I/O attempts
 * @io_parked:	fibers parked on I/O there now (in its ring, or waiting
 *		for readiness)
 */
struct weft_worker_stats {
	uint64_t switches;
	uint64_t spawned;
	uint64_t exited;
	uint64_t steals;
	uint64_t wakes;
	uint64_t sleeps;
	uint64_t spin_yields;
	uint64_t submits;
	uint64_t completions;
	uint64_t rescued;
	uint64_t syscalls;
	uint64_t io_parked;
	uint64_t __reserved[12];
};

/**
 * weft_stats() - read a worker's counters
 * @worker:	0 .. weft_workers() - 1
 * @st:		filled in
 *
 * Callable from any thread while a runtime runs (not racing with
 * weft_run() returning). Each counter is read on its own: the set is not
 * one snapshot.
 *
 * Return: 0, -EINVAL for a bad @worker or a NULL @st, -EPERM when no
 * runtime is running.
 */
WEFT_API int weft_stats(unsigned int worker, struct weft_worker_stats *st);

/**
 * weft_cancel() - interrupt a fiber's wait
 * @fid:	the fiber
 *
 * The fiber's current wait, or its next one if it is not waiting, returns
 * -ECANCELED: sleeps, locks, condition variables, semaphores, wait groups,
 * channel operations and select. One request cancels one wait. Joins are
 * not cancelled.
 *
 * Return: 0, or -EINVAL for an unknown or finished fiber.
 */
WEFT_API int weft_cancel(uint64_t fid);

/*
 * Synchronisation. Every object works between fibers on any workers and
 * plain OS threads (which block in the kernel). A zeroed object is ready to
 * use, so static ones need no init call (WEFT_*_INIT says so). Waits take
 * an absolute deadline in weft_now_ns() time: 0 means "only if it can be
 * done now" (-EBUSY for mutexes and rwlocks, -EAGAIN for the rest
 * otherwise), WEFT_FOREVER never expires. A wait that expires returns
 * -ETIMEDOUT, one cancelled by weft_cancel() -ECANCELED. Objects must not
 * be moved while in use; destroying one that has waiters is a bug.
 *
 * Each successful operation is an await point: it spends the fiber's
 * budget (WEFT_BUDGET) and yields when the budget runs out, so a fiber
 * whose operations are always ready cannot starve the others.
 */

struct weft_mutex { uint64_t __opaque[5]; };
struct weft_cond { uint64_t __opaque[4]; };
struct weft_rwlock { uint64_t __opaque[6]; };
struct weft_sem { uint64_t __opaque[4]; };
struct weft_wg { uint64_t __opaque[4]; };
struct weft_chan;

#define WEFT_MUTEX_INIT		{ { 0 } }
#define WEFT_COND_INIT		{ { 0 } }
#define WEFT_RWLOCK_INIT	{ { 0 } }
#define WEFT_WG_INIT		{ { 0 } }

/**
 * weft_mutex_lock_until() - take a mutex
 * @m:		the mutex
 * @deadline_ns: when to give up (0: try once, WEFT_FOREVER: never)
 *
 * Not recursive. Waiters are served in FIFO order: a running fiber may
 * barge in ahead of the waiter being woken, but a waiter loses that race
 * at most once (the next unlock hands the mutex to it directly).
 *
 * Return: 0, -EBUSY (deadline 0 and held), -ETIMEDOUT, -ECANCELED,
 * -EDEADLK when the caller already holds it.
 */
WEFT_API int weft_mutex_lock_until(struct weft_mutex *m, uint64_t deadline_ns);
WEFT_API int weft_mutex_lock(struct weft_mutex *m);
WEFT_API int weft_mutex_trylock(struct weft_mutex *m);
/* Return: 0, or -EPERM when the caller does not hold @m. */
WEFT_API int weft_mutex_unlock(struct weft_mutex *m);

/**
 * weft_cond_wait_until() - wait for a condition
 * @c:		the condition variable
 * @m:		a mutex the caller holds; released while waiting, held again
 *		on return, whatever the return value
 * @deadline_ns: when to give up
 *
 * Return: 0 (woken; check the condition again), -EAGAIN for a deadline
 * of 0, -ETIMEDOUT, -ECANCELED, -EPERM when the caller does not hold @m.
 */
WEFT_API int weft_cond_wait_until(struct weft_cond *c, struct weft_mutex *m,
				  uint64_t deadline_ns);
WEFT_API int weft_cond_wait(struct weft_cond *c, struct weft_mutex *m);
WEFT_API int weft_cond_signal(struct weft_cond *c);
WEFT_API int weft_cond_broadcast(struct weft_cond *c);

/*
 * Reader-writer lock. Writer-preferring: once a writer waits, new readers
 * wait behind it, so writers never starve. The lock calls return 0,
 * -EBUSY (deadline 0), -ETIMEDOUT, -ECANCELED, -EDEADLK when the caller
 * holds it for writing, or -EAGAIN at INT32_MAX readers.
 */
WEFT_API int weft_rwlock_rdlock_until(struct weft_rwlock *l,
				      uint64_t deadline_ns);
WEFT_API int weft_rwlock_wrlock_until(struct weft_rwlock *l,
				      uint64_t deadline_ns);
WEFT_API int weft_rwlock_rdlock(struct weft_rwlock *l);
WEFT_API int weft_rwlock_wrlock(struct weft_rwlock *l);
/* Return: 0, or -EPERM when the lock is not held. */
WEFT_API int weft_rwlock_unlock(struct weft_rwlock *l);

/*
 * Counting semaphore. weft_sem_init() returns 0, or -EINVAL for a count
 * over INT32_MAX; waits return 0, -EAGAIN (deadline 0), -ETIMEDOUT or
 * -ECANCELED.
 */
WEFT_API int weft_sem_init(struct weft_sem *s, unsigned int count);
WEFT_API int weft_sem_wait_until(struct weft_sem *s, uint64_t deadline_ns);
WEFT_API int weft_sem_wait(struct weft_sem *s);
/* Return: 0, or -EOVERFLOW when the count would pass INT32_MAX. */
WEFT_API int weft_sem_post(struct weft_sem *s);

/*
 * Wait group: weft_wg_add() raises a counter, weft_wg_done() lowers it,
 * weft_wg_wait*() waits for zero. add and done return 0, or -EINVAL when
 * the counter would go negative or past INT32_MAX; waits return 0,
 * -EAGAIN (deadline 0), -ETIMEDOUT or -ECANCELED.
 */
WEFT_API int weft_wg_add(struct weft_wg *wg, int n);
WEFT_API int weft_wg_done(struct weft_wg *wg);
WEFT_API int weft_wg_wait_until(struct weft_wg *wg, uint64_t deadline_ns);
WEFT_API int weft_wg_wait(struct weft_wg *wg);

/* weft_chan_create() capacity for a channel that never fills. */
#define WEFT_CHAN_UNBOUNDED	SIZE_MAX

/**
 * weft_chan_create() - make a channel
 * @chp:	where to store it
 * @elem_size:	bytes per message (1 .. 65536), copied in and out
 * @capacity:	messages it buffers: 0 for an unbuffered (rendezvous)
 *		channel, WEFT_CHAN_UNBOUNDED for one that never fills
 *
 * Return: 0, -EINVAL, -ENOMEM.
 */
WEFT_API int weft_chan_create(struct weft_chan **chp, size_t elem_size,
			      size_t capacity);
/*
 * Frees @ch; nobody may use it any more. One that still has waiters is a
 * bug: weft warns once, closes it (the waiters get -EPIPE) and leaks it
 * rather than free memory they will touch.
 */
WEFT_API void weft_chan_destroy(struct weft_chan *ch);

/**
 * weft_chan_send_until() - send a message
 * @ch:		the channel
 * @elem:	the message (elem_size bytes), copied
 * @deadline_ns: when to give up
 *
 * Return: 0 once a receiver has it (unbuffered) or it is buffered, -EAGAIN
 * (deadline 0 and it would wait), -EPIPE when @ch is closed, -ETIMEDOUT,
 * -ECANCELED, -EINVAL for a NULL argument, -ENOMEM when an unbounded
 * channel cannot grow.
 */
WEFT_API int weft_chan_send_until(struct weft_chan *ch, const void *elem,
				  uint64_t deadline_ns);
WEFT_API int weft_chan_send(struct weft_chan *ch, const void *elem);

/**
 * weft_chan_recv_until() - receive a message
 * @ch:		the channel
 * @elem:	where to copy it (elem_size bytes)
 * @deadline_ns: when to give up
 *
 * Messages buffered before a close are still delivered.
 *
 * Return: 0, -EAGAIN, -EPIPE when @ch is closed and empty, -ETIMEDOUT,
 * -ECANCELED, -EINVAL for a NULL argument.
 */
WEFT_API int weft_chan_recv_until(struct weft_chan *ch, void *elem,
				  uint64_t deadline_ns);
WEFT_API int weft_chan_recv(struct weft_chan *ch, void *elem);

/**
 * weft_chan_close() - close a channel
 * @ch:		the channel
 *
 * Waiting senders get -EPIPE; receivers drain what is buffered, then get
 * -EPIPE.
 *
 * Return: 0, -EPIPE when already closed, -EINVAL for NULL.
 */
WEFT_API int weft_chan_close(struct weft_chan *ch);

/* Messages buffered now (a snapshot). */
WEFT_API size_t weft_chan_len(struct weft_chan *ch);

/* struct weft_sel.op */
#define WEFT_SEL_SEND		1
#define WEFT_SEL_RECV		2

/**
 * struct weft_sel - one case of weft_select()
 * @ch:		the channel (a NULL channel's case never fires)
 * @op:		WEFT_SEL_SEND or WEFT_SEL_RECV
 * @elem:	the message to send, or where to receive
 * @result:	set for the case that fired: 0, or -EPIPE when @ch is closed
 */
struct weft_sel {
	struct weft_chan *ch;
	int op;
	int result;
	void *elem;
};

/**
 * weft_select() - do one of several channel operations
 * @cases:	the cases
 * @n:		how many (1 .. 64)
 * @deadline_ns: when to give up (0: only a case ready now)
 *
 * When several cases are ready, one is picked at random, so none starves.
 *
 * Return: the index of the case that fired (its @result says how), -EAGAIN
 * (deadline 0 and none ready), -ETIMEDOUT, -ECANCELED, -EINVAL, -ENOMEM
 * (an unbounded channel could not grow, or more than 8 cases could not
 * get their waiters).
 */
WEFT_API int weft_select(struct weft_sel *cases, unsigned int n,
			 uint64_t deadline_ns);

/* ---- offload: blocking calls on a pool of threads ---- */

/* Jobs weft_offload_until() queues at most. */
#define WEFT_OFFLOAD_QUEUE_MAX	4096

/**
 * weft_offload_until() - run a blocking call on a thread of the offload pool
 * @fn:		the call: anything with no asynchronous form (getaddrinfo,
 *		flock, waitpid, metadata on a slow filesystem)
 * @arg:	its argument
 * @result:	where to store what @fn returned, or NULL
 * @deadline_ns: when to stop waiting (WEFT_FOREVER: never)
 *
 * From a fiber: queues @fn(@arg) for a small pool of plain threads and
 * parks until it returns, so the worker runs other fibers meanwhile. The
 * pool starts on first use, grows on demand to WEFT_OFFLOAD_THREADS
 * threads (default 4), which exit after a second without work, and queues
 * at most WEFT_OFFLOAD_QUEUE_MAX jobs, run first in first out. From any
 * other thread: runs @fn(@arg) itself, ignoring @deadline_ns.
 *
 * A job once accepted (0, -ETIMEDOUT, -ECANCELED) runs exactly once, to
 * completion: a blocking call cannot be interrupted, so a deadline or
 * weft_cancel() ends only the wait, and @fn's return value is dropped.
 * Whatever @fn uses must therefore outlive @fn, not the wait: hand it
 * over (e.g. a reference count that @fn and the caller each drop), never
 * free it just because the wait ended. A deadline already past (0) queues
 * the job and returns -ETIMEDOUT at once: fire and forget. weft_run()
 * returns only after every accepted job has returned, so a job that
 * blocks forever keeps it from returning.
 *
 * @fn runs on a plain thread with every signal blocked, and may use what
 * any thread can: weft's sync objects and channels, and
 * weft_offload_until() itself, which runs inline there.
 *
 * Return: 0, -ETIMEDOUT, -ECANCELED, -EAGAIN when WEFT_OFFLOAD_QUEUE_MAX
 * jobs wait already or no thread can be started, -EINVAL for a NULL @fn
 * or a bad WEFT_OFFLOAD_THREADS.
 */
WEFT_API int weft_offload_until(void *(*fn)(void *), void *arg,
				void **result, uint64_t deadline_ns);
WEFT_API int weft_offload(void *(*fn)(void *), void *arg, void **result);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_H */
