// SPDX-License-Identifier: MIT
/* Sleeping: deadlines are honoured and fibers wake in deadline order. */
#include <weft.h>

#include "harness.h"

static int woke[16], nwoke;
static uint64_t base;		/* deadlines from one instant: no timing */

static void *sleeper(void *arg)
{
	long i = (long)arg;
	/*
	 * 10 ms apart: timers that expire in one batch are all readied in
	 * deadline order, but after a fiber exits its worker takes the
	 * newest runnable first (spawn trees go depth-first), so a batch
	 * may run out of order. Spaced like this, each fires on its own,
	 * even under qemu.
	 */
	uint64_t deadline = base + (16 - i) * 10000000ULL;

	weft_sleep_until_ns(deadline);
	woke[nwoke++] = i;
	return (void *)(long)(weft_now_ns() < deadline);
}

static void *order(void *arg)
{
	uint64_t f[16];
	long early = 0;
	void *r;

	(void)arg;
	/*
	 * Far enough ahead that every fiber registers its deadline before
	 * the first one passes, however slowly this loop runs (shared CI
	 * machines, qemu): the order is then the timer heap's alone.
	 */
	base = weft_now_ns() + 1000000000ULL;
	for (long i = 0; i < 16; i++)
		weft_spawn(&f[i], NULL, sleeper, (void *)i);
	for (int i = 0; i < 16; i++) {
		weft_join(f[i], &r);
		early += (long)r;
	}
	return (void *)early;
}

/* One worker: the order of wake-ups is the order of one timer heap. */
TEST(wake_in_deadline_order_never_early)
{
	struct weft_rt_attr one = { .workers = 1 };
	void *r = (void *)1;

	nwoke = 0;
	ASSERT_EQ(weft_run(&one, order, NULL, &r), 0);
	ASSERT_NULL(r);
	ASSERT_EQ(nwoke, 16);
	for (int i = 0; i < 16; i++)
		ASSERT_EQ(woke[i], 15 - i);
}

static void *past(void *arg)
{
	(void)arg;
	if (weft_sleep_until_ns(0) || weft_sleep_until_ns(weft_now_ns() - 1))
		return (void *)1;
	return (void *)(long)weft_sleep_ns(0);
}

TEST(deadline_in_the_past_returns)
{
	void *r = (void *)1;

	ASSERT_EQ(weft_run(NULL, past, NULL, &r), 0);
	ASSERT_NULL(r);
}

/* A sleeper still wakes while other fibers keep the worker busy. */
static int stop;

static void *busy(void *arg)
{
	(void)arg;
	while (!stop)
		weft_yield();
	return NULL;
}

static void *wake_while_busy(void *arg)
{
	uint64_t b;

	(void)arg;
	weft_spawn(&b, NULL, busy, NULL);
	weft_sleep_ns(2000000);
	stop = 1;
	return (void *)(long)weft_join(b, NULL);
}

TEST(timers_fire_under_load)
{
	void *r = (void *)1;

	ASSERT_EQ(weft_run(NULL, wake_while_busy, NULL, &r), 0);
	ASSERT_NULL(r);
}

TEST_HARNESS_MAIN
