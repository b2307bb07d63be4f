/* SPDX-License-Identifier: MIT */
/*
 * preload.h - helpers shared by the programs in tests/preload/.
 *
 * The programs are ordinary pthread programs with no weft in them. run.sh
 * runs each one natively and under weft-run and compares stdout and exit
 * status, so what a program prints must be the same on every run and in
 * both worlds: counts, errno names and yes/no verdicts, never times,
 * pointers, fd numbers or thread ids. Only the main thread prints, and
 * stdout is line buffered, so a program that hangs still shows how far it
 * got.
 *
 * A failed CHECK prints "FAIL file:line: what" on stdout and exits 1, from
 * whichever thread saw it. Times are measured loosely: a timeout is
 * checked as "took at least half of what was asked", never printed.
 */
#ifndef WEFT_TESTS_PRELOAD_H
#define WEFT_TESTS_PRELOAD_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline const char *errname(int e)
{
	const char *s = e ? strerrorname_np(e) : "0";

	return s ? s : "E?";
}

static inline const char *yesno(bool b)
{
	return b ? "yes" : "no";
}

static inline void fail(const char *file, int line, const char *what,
			long long a, long long b, int err)
{
	printf("FAIL %s:%d: %s (%lld vs %lld, errno %s)\n", file, line, what,
	       a, b, errname(err));
	fflush(stdout);
	exit(1);
}

/* CHECK(cond): cond holds. */
#define CHECK(cond) do {						\
	if (!(cond))							\
		fail(__FILE__, __LINE__, #cond, 0, 0, errno);		\
} while (0)

/* CHECK_EQ(a, b): integers a and b are equal. */
#define CHECK_EQ(a, b) do {						\
	long long __a = (long long)(a), __b = (long long)(b);		\
	if (__a != __b)							\
		fail(__FILE__, __LINE__, #a " == " #b, __a, __b, errno);\
} while (0)

/* CHECK_ERR(call, err): a libc call returned -1 with errno err. */
#define CHECK_ERR(call, err) do {					\
	errno = 0;							\
	long long __r = (long long)(call);				\
	if (__r != -1 || errno != (err))				\
		fail(__FILE__, __LINE__, #call " fails with " #err,	\
		     __r, -1, errno);					\
} while (0)

/* CHECK_PT(call): a pthread-style call returned 0 (else an errno value). */
#define CHECK_PT(call) do {						\
	int __e = (call);						\
	if (__e)							\
		fail(__FILE__, __LINE__, #call, __e, 0, __e);		\
} while (0)

static inline int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline int64_t ms_since(int64_t t0)
{
	return (now_ns() - t0) / 1000000;
}

/* An absolute deadline @ms from now on @clock, for the *timed* calls. */
static inline struct timespec deadline_ms(clockid_t clock, long ms)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

static inline pthread_t spawn(void *(*fn)(void *), void *arg)
{
	pthread_t t;

	CHECK_PT(pthread_create(&t, NULL, fn, arg));
	return t;
}

static inline void *join(pthread_t t)
{
	void *ret;

	CHECK_PT(pthread_join(t, &ret));
	return ret;
}

/* Line-buffered stdout: partial output survives a hang or a kill. */
static inline void preload_init(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
}

#endif /* WEFT_TESTS_PRELOAD_H */
