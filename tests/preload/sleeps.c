// SPDX-License-Identifier: MIT
/*
 * sleeps.c - nanosleep, clock_nanosleep (relative and TIMER_ABSTIME, its
 * error-number return), sleep, usleep and sched_yield: each sleeps at least
 * about as long as asked, bad arguments fail the documented way, and
 * NSLEEPERS threads sleeping at once take about one sleep, not NSLEEPERS.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <unistd.h>

#include "preload.h"

#define SLEEP_MS	100
#define NSLEEPERS	256

static bool slept_enough(int64_t t0, long ms)
{
	return ms_since(t0) >= ms / 2;
}

static void test_single(void)
{
	struct timespec ts = { 0, SLEEP_MS * 1000000L }, rem = { 7, 7 };
	struct timespec abs;
	int64_t t0;
	int r;

	t0 = now_ns();
	r = nanosleep(&ts, &rem);
	printf("nanosleep %d ms: %d, slept: %s\n", SLEEP_MS, r,
	       yesno(slept_enough(t0, SLEEP_MS)));
	ts.tv_nsec = -1;
	CHECK_ERR(nanosleep(&ts, NULL), EINVAL);
	ts.tv_nsec = 1000000000L;
	CHECK_ERR(nanosleep(&ts, NULL), EINVAL);
	printf("nanosleep tv_nsec -1 and 1e9: EINVAL\n");

	ts = (struct timespec){ 0, SLEEP_MS * 1000000L };
	t0 = now_ns();
	r = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
	printf("clock_nanosleep MONOTONIC relative: %d, slept: %s\n", r,
	       yesno(slept_enough(t0, SLEEP_MS)));
	t0 = now_ns();
	r = clock_nanosleep(CLOCK_REALTIME, 0, &ts, NULL);
	printf("clock_nanosleep REALTIME relative: %d, slept: %s\n", r,
	       yesno(slept_enough(t0, SLEEP_MS)));

	abs = deadline_ms(CLOCK_MONOTONIC, SLEEP_MS);
	r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL);
	{
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		printf("clock_nanosleep MONOTONIC absolute: %d, "
		       "woke after the deadline: %s\n", r,
		       yesno(now.tv_sec > abs.tv_sec ||
			     (now.tv_sec == abs.tv_sec &&
			      now.tv_nsec >= abs.tv_nsec)));
	}
	abs = deadline_ms(CLOCK_REALTIME, SLEEP_MS);
	t0 = now_ns();
	r = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &abs, NULL);
	printf("clock_nanosleep REALTIME absolute: %d, slept: %s\n", r,
	       yesno(slept_enough(t0, SLEEP_MS)));
	abs = (struct timespec){ 1, 0 };
	t0 = now_ns();
	r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL);
	printf("clock_nanosleep absolute in the past: %d, at once: %s\n", r,
	       yesno(ms_since(t0) < 1000));

	/* Errors come back as the return value; errno is left alone. */
	ts = (struct timespec){ 0, 1000000000L };
	errno = 0;
	r = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
	printf("clock_nanosleep tv_nsec 1e9: %s, errno untouched: %s\n",
	       errname(r), yesno(errno == 0));
	ts = (struct timespec){ 0, 1000 };
	r = clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &ts, NULL);
	printf("clock_nanosleep CLOCK_THREAD_CPUTIME_ID: %s\n", errname(r));
	r = clock_nanosleep((clockid_t)12345, 0, &ts, NULL);
	printf("clock_nanosleep bad clock: %s\n", errname(r));

	t0 = now_ns();
	r = usleep(SLEEP_MS * 1000);
	printf("usleep %d ms: %d, slept: %s\n", SLEEP_MS, r,
	       yesno(slept_enough(t0, SLEEP_MS)));
	printf("usleep 0: %d\n", usleep(0));
	t0 = now_ns();
	r = sleep(1);
	printf("sleep 1: %u, slept: %s\n", r, yesno(slept_enough(t0, 1000)));
	printf("sleep 0: %u\n", sleep(0));
	printf("sched_yield: %d\n", sched_yield());
}

static void *sleeper(void *arg)
{
	int kind = (intptr_t)arg % 4;
	struct timespec ts = { 0, SLEEP_MS * 1000000L };

	switch (kind) {
	case 0:
		CHECK_EQ(nanosleep(&ts, NULL), 0);
		break;
	case 1:
		CHECK_EQ(clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL), 0);
		break;
	case 2:
		CHECK_EQ(usleep(SLEEP_MS * 1000), 0);
		break;
	default:
		ts = deadline_ms(CLOCK_MONOTONIC, SLEEP_MS);
		CHECK_EQ(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
					 NULL), 0);
		break;
	}
	return NULL;
}

static void test_many(void)
{
	pthread_t t[NSLEEPERS];
	int64_t t0 = now_ns();

	for (int i = 0; i < NSLEEPERS; i++)
		t[i] = spawn(sleeper, (void *)(intptr_t)i);
	for (int i = 0; i < NSLEEPERS; i++)
		join(t[i]);
	printf("%d threads slept %d ms each, concurrently: %s\n", NSLEEPERS,
	       SLEEP_MS, yesno(ms_since(t0) < NSLEEPERS * SLEEP_MS / 8));
}

static int yield_turn;

/* Two threads hand a counter back and forth with sched_yield() spins. */
static void *yielder(void *arg)
{
	int me = (intptr_t)arg;

	for (int i = 0; i < 1000; i++) {
		while (__atomic_load_n(&yield_turn, __ATOMIC_ACQUIRE) % 2 != me)
			sched_yield();
		__atomic_fetch_add(&yield_turn, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

int main(void)
{
	pthread_t a, b;

	preload_init();
	test_single();
	test_many();
	a = spawn(yielder, (void *)0);
	b = spawn(yielder, (void *)1);
	join(a);
	join(b);
	printf("sched_yield ping-pong: %d turns\n", yield_turn);
	printf("done\n");
	return 0;
}
