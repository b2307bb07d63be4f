/* SPDX-License-Identifier: MIT */
/*
 * check.h - checks that fibers and helper threads can make, for the tests
 * of sched/. ASSERT_* belong to the test process's own thread, so code on
 * a fiber or a helper thread records its first failure here instead, and
 * the test asserts CHECKS_PASSED() once weft_run() has returned.
 *
 *	CHECK_EQ(weft_mutex_unlock(&m), 0);
 *	...
 *	ASSERT_EQ(run_on(variant->workers, body, NULL), 0);
 *	ASSERT_CHECKS();
 */
#ifndef WEFT_TESTS_SCHED_CHECK_H
#define WEFT_TESTS_SCHED_CHECK_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <weft.h>

#include "harness.h"

static int check_nfail __th_unused;
static char check_msg[256] __th_unused;

static inline void check_fail(int line, const char *what, long long a,
			      long long b)
{
	if (__atomic_fetch_add(&check_nfail, 1, __ATOMIC_SEQ_CST))
		return;
	snprintf(check_msg, sizeof(check_msg), "line %d: %s (%lld vs %lld)",
		 line, what, a, b);
}

#define CHECK_EQ(x, y) do {						\
	long long __x = (long long)(x), __y = (long long)(y);		\
	if (__x != __y)							\
		check_fail(__LINE__, #x " == " #y, __x, __y);		\
} while (0)

#define CHECK(cond)	CHECK_EQ(!!(cond), 1)

/* In the test process, after the runtime is gone. */
#define ASSERT_CHECKS()							\
	ASSERT_EQ(__atomic_load_n(&check_nfail, __ATOMIC_SEQ_CST), 0)	\
		TH_LOG("%s", check_msg)

/* weft_run() with @workers workers (0: the default); its return value. */
static inline __th_unused int run_on(unsigned int workers,
				     void *(*fn)(void *), void *arg)
{
	struct weft_rt_attr attr = { .workers = workers };

	return weft_run(&attr, fn, arg, NULL);
}

/* A deadline @ms milliseconds from now. */
static inline __th_unused uint64_t after_ms(unsigned int ms)
{
	return weft_now_ns() + ms * 1000000ULL;
}

/* Spawn a joinable fiber; a failure is a failed check. */
static inline __th_unused uint64_t go(void *(*fn)(void *), void *arg)
{
	uint64_t fid = 0;

	CHECK_EQ(weft_spawn(&fid, NULL, fn, arg), 0);
	return fid;
}

static inline __th_unused void join(uint64_t fid)
{
	CHECK_EQ(weft_join(fid, NULL), 0);
}

/*
 * A plain OS thread, for the tests of fibers and threads together. It
 * starts with one wait that expires at once, so the runtime knows a
 * foreign thread may wake fibers (else, on one worker, its deadlock check
 * can fire while the thread is still starting), and thread_go() returns
 * only after that.
 */
struct thread_start {
	void *(*fn)(void *);
	void *arg;
	int started;
};

static inline __th_unused void *thread_trampoline(void *p)
{
	struct thread_start *ts = p;
	void *(*fn)(void *) = ts->fn;
	void *arg = ts->arg;
	struct weft_sem hello = { { 0 } };

	CHECK_EQ(weft_sem_wait_until(&hello, 1), -ETIMEDOUT);
	__atomic_store_n(&ts->started, 1, __ATOMIC_RELEASE);
	return fn(arg);
}

static inline __th_unused pthread_t thread_go(void *(*fn)(void *), void *arg)
{
	struct thread_start ts = { .fn = fn, .arg = arg };
	pthread_t t;

	if (pthread_create(&t, NULL, thread_trampoline, &ts)) {
		check_fail(__LINE__, "pthread_create", 0, 0);
		exit(1);
	}
	while (!__atomic_load_n(&ts.started, __ATOMIC_ACQUIRE))
		weft_yield();
	return t;
}

/*
 * Join an OS thread from a fiber without blocking the worker forever: the
 * thread says it is done through @done, the fiber yields until then.
 */
static inline __th_unused void thread_join(pthread_t t, int *done)
{
	while (!__atomic_load_n(done, __ATOMIC_ACQUIRE))
		weft_yield();
	pthread_join(t, NULL);
}

/* The seed of a randomised test: WEFT_TEST_SEED, or the clock; printed. */
static inline __th_unused uint64_t test_seed(void)
{
	const char *s = getenv("WEFT_TEST_SEED");
	uint64_t seed = s ? strtoull(s, NULL, 0) : weft_now_ns();

	printf("# seed=%llu\n", (unsigned long long)seed);
	fflush(stdout);
	return seed;
}

static inline __th_unused uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ULL;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

#endif
