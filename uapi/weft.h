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

#include <stddef.h>
#include <stdint.h>

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

/**
 * struct weft_attr - how weft_spawn() creates a fiber
 * @stack_size:	stack size in bytes, rounded up to a power of two between
 *		WEFT_STACK_MIN and WEFT_STACK_MAX; 0 means the runtime default
 * @name:	a name for diagnostics, copied (truncated to WEFT_NAME_MAX - 1)
 * @flags:	WEFT_DETACHED or 0
 */
struct weft_attr {
	size_t stack_size;
	const char *name;
	unsigned int flags;
	unsigned int __pad;
	unsigned long __reserved[4];
};

/**
 * weft_run() - start a runtime and run @fn as its first fiber
 * @attr:	runtime attributes, or NULL for the defaults
 * @fn:		the first fiber's function
 * @arg:	its argument
 * @result:	where to store @fn's return value, or NULL
 *
 * Creates the workers, runs @fn(@arg) on a fiber, and returns when every
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
 * Return: 0, or -EPERM when not called from a fiber.
 */
WEFT_API int weft_sleep_ns(uint64_t ns);

/**
 * weft_sleep_until_ns() - park the calling fiber until a deadline
 * @deadline_ns:	absolute CLOCK_MONOTONIC time in nanoseconds
 *
 * Return: 0, or -EPERM when not called from a fiber.
 */
WEFT_API int weft_sleep_until_ns(uint64_t deadline_ns);

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

#ifdef __cplusplus
}
#endif

#endif /* WEFT_H */
