// SPDX-License-Identifier: MIT
/* Fibers: spawn, join, detach, yield order, ids, names, shutdown. */
#include <errno.h>
#include <string.h>
#include <weft.h>

#include "harness.h"

/* Runs @fn as the first fiber and returns its result as a long. */
static long run(void *(*fn)(void *), void *arg)
{
	void *res = (void *)-1L;
	int ret = weft_run(NULL, fn, arg, &res);

	return ret ? ret : (long)res;
}

static void *twice(void *arg)
{
	return (void *)((long)arg * 2);
}

/* TSan clears ~800 KiB of shadow per fiber it is told about. */
#ifdef __SANITIZE_THREAD__
#define SPAWNS	10000
#else
#define SPAWNS	100000
#endif

static void *spawn_join_100k(void *arg)
{
	(void)arg;
	for (long i = 0; i < SPAWNS; i++) {
		uint64_t f;
		void *r;

		if (weft_spawn(&f, NULL, twice, (void *)i))
			return (void *)1;
		if (weft_join(f, &r) || (long)r != 2 * i)
			return (void *)2;
	}
	return NULL;
}

TEST(spawn_join_100k)
{
	ASSERT_EQ(run(spawn_join_100k, NULL), 0);
}

/* Many fibers alive at once, joined in reverse order. TSan counts each
 * fiber as a thread and stops at 8128. */
#ifdef __SANITIZE_THREAD__
#define WIDE	4000
#else
#define WIDE	10000
#endif
static void *wide(void *arg)
{
	static uint64_t ids[WIDE];
	(void)arg;
	for (long i = 0; i < WIDE; i++)
		if (weft_spawn(&ids[i], NULL, twice, (void *)i))
			return (void *)1;
	for (long i = WIDE - 1; i >= 0; i--) {
		void *r;

		if (weft_join(ids[i], &r) || (long)r != 2 * i)
			return (void *)2;
	}
	return NULL;
}

TEST(spawn_join_wide)
{
	ASSERT_EQ(run(wide, NULL), 0);
}

static void *yielder(void *arg)
{
	weft_yield();
	return arg;
}

static void *join_errors(void *arg)
{
	struct weft_attr det = { .flags = WEFT_DETACHED };
	uint64_t f, g;
	long bad = 0;

	(void)arg;
	/* Joined twice. */
	if (weft_spawn(&f, NULL, yielder, NULL) || weft_join(f, NULL))
		return (void *)100;
	bad += weft_join(f, NULL) != -EINVAL;
	/* Detached at spawn; joined while it runs and after it finished. */
	if (weft_spawn(&g, &det, yielder, NULL))
		return (void *)101;
	bad += (weft_join(g, NULL) != -EINVAL) << 1;
	weft_yield();
	weft_yield();
	bad += (weft_join(g, NULL) != -EINVAL) << 2;
	/* Detached after spawn, then detached again. */
	if (weft_spawn(&f, NULL, yielder, NULL))
		return (void *)102;
	bad += (weft_detach(f) != 0) << 3;
	bad += (weft_detach(f) != -EINVAL) << 4;
	bad += (weft_join(f, NULL) != -EINVAL) << 5;
	/* Self, nonsense ids. */
	bad += (weft_join(weft_self(), NULL) != -EDEADLK) << 6;
	bad += (weft_join(0, NULL) != -EINVAL) << 7;
	bad += (weft_join(~0ULL, NULL) != -EINVAL) << 8;
	bad += (weft_detach(12345) != -EINVAL) << 9;
	return (void *)bad;
}

TEST(join_errors)
{
	ASSERT_EQ(run(join_errors, NULL), 0);
}

static void *finished_then_detached(void *arg)
{
	uint64_t f;

	(void)arg;
	if (weft_spawn(&f, NULL, twice, NULL))
		return (void *)1;
	weft_yield();	/* f runs to completion */
	if (weft_detach(f))
		return (void *)2;
	return (void *)(long)(weft_join(f, NULL) != -EINVAL);
}

TEST(detach_after_finish_reaps)
{
	ASSERT_EQ(run(finished_then_detached, NULL), 0);
}

static void *spawn_errors(void *arg)
{
	struct weft_attr big = { .stack_size = WEFT_STACK_MAX + 1 };
	struct weft_attr flags = { .flags = 0x80 };
	uint64_t f;
	long bad = 0;

	(void)arg;
	bad += weft_spawn(&f, &big, twice, NULL) != -EINVAL;
	bad += (weft_spawn(&f, &flags, twice, NULL) != -EINVAL) << 1;
	bad += (weft_spawn(NULL, NULL, twice, NULL) != -EINVAL) << 2;
	bad += (weft_spawn(&f, NULL, NULL, NULL) != -EINVAL) << 3;
	return (void *)bad;
}

TEST(spawn_errors)
{
	ASSERT_EQ(run(spawn_errors, NULL), 0);
}

TEST(outside_a_fiber)
{
	uint64_t f;

	EXPECT_EQ(weft_spawn(&f, NULL, twice, NULL), -EPERM);
	EXPECT_EQ(weft_yield(), -EPERM);
	EXPECT_EQ(weft_join(1, NULL), -EPERM);
	EXPECT_EQ(weft_sleep_ns(1), -EPERM);
	EXPECT_EQ(weft_self(), 0);
	EXPECT_EQ(weft_shutdown(), -EPERM);
	EXPECT_EQ(weft_run(NULL, NULL, NULL, NULL), -EINVAL);
}

static void *nested(void *arg)
{
	(void)arg;
	return (void *)(long)weft_run(NULL, twice, NULL, NULL);
}

TEST(one_runtime_at_a_time)
{
	ASSERT_EQ(run(nested, NULL), -EBUSY);
}

TEST(bad_runtime_attr)
{
	struct weft_rt_attr a = { .flags = 1 };

	EXPECT_EQ(weft_run(&a, twice, NULL, NULL), -EINVAL);
	a.flags = 0;
	a.stack_size = WEFT_STACK_MAX + 1;
	EXPECT_EQ(weft_run(&a, twice, NULL, NULL), -EINVAL);
}

TEST(run_returns_result)
{
	ASSERT_EQ(run(twice, (void *)21), 42);
	/* And the runtime can be started again. */
	ASSERT_EQ(run(twice, (void *)50), 100);
}

/* Round robin: three fibers yielding record a strictly cyclic order. */
static char order[64];
static int norder;

static void *recorder(void *arg)
{
	for (int i = 0; i < 5; i++) {
		order[norder++] = *(char *)arg;
		weft_yield();
	}
	return NULL;
}

static void *round_robin(void *arg)
{
	uint64_t f[3];

	(void)arg;
	weft_spawn(&f[0], NULL, recorder, "a");
	weft_spawn(&f[1], NULL, recorder, "b");
	weft_spawn(&f[2], NULL, recorder, "c");
	for (int i = 0; i < 3; i++)
		weft_join(f[i], NULL);
	return NULL;
}

TEST(yield_is_round_robin)
{
	struct weft_rt_attr one = { .workers = 1 };	/* no thieves */

	norder = 0;
	ASSERT_EQ(weft_run(&one, round_robin, NULL, NULL), 0);
	order[norder] = '\0';
	ASSERT_STREQ(order, "abcabcabcabcabc");
}

static uint64_t seen[1000];

static void *note_self(void *arg)
{
	seen[(long)arg] = weft_self();
	return NULL;
}

static void *ids(void *arg)
{
	(void)arg;
	for (long i = 0; i < 1000; i++) {
		uint64_t f;

		if (weft_spawn(&f, NULL, note_self, (void *)i) ||
		    weft_join(f, NULL) || seen[i] != f)
			return (void *)1;
	}
	/* A recycled slot never repeats an id. */
	for (int i = 1; i < 1000; i++)
		if (seen[i] == seen[i - 1] || !seen[i])
			return (void *)2;
	return NULL;
}

TEST(ids_are_unique)
{
	ASSERT_EQ(run(ids, NULL), 0);
}

static void *named(void *arg)
{
	char buf[WEFT_NAME_MAX], tiny[4];

	(void)arg;
	if (weft_name(0, buf, sizeof(buf)) != 6 || strcmp(buf, "worker"))
		return (void *)1;
	if (weft_name(0, tiny, sizeof(tiny)) != -ERANGE)
		return (void *)2;
	if (weft_name(0, NULL, 8) != -EINVAL)
		return (void *)3;
	return NULL;
}

static void *names(void *arg)
{
	struct weft_attr a = { .name = "worker" };
	struct weft_attr longer = {
		.name = "a-name-much-longer-than-thirty-one-characters",
	};
	char buf[64];
	uint64_t f;
	void *r;

	(void)arg;
	if (weft_spawn(&f, &a, named, NULL) || weft_join(f, &r) || r)
		return (void *)10;
	if (weft_spawn(&f, &longer, twice, NULL))
		return (void *)11;
	if (weft_name(f, buf, sizeof(buf)) != WEFT_NAME_MAX - 1)
		return (void *)12;
	weft_join(f, NULL);
	return NULL;
}

TEST(names)
{
	ASSERT_EQ(run(names, NULL), 0);
}

static long detached_done;

static void *detached(void *arg)
{
	for (long i = 0; i < (long)arg; i++)
		weft_yield();
	__atomic_add_fetch(&detached_done, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void *spawn_detached(void *arg)
{
	struct weft_attr a = { .flags = WEFT_DETACHED };

	(void)arg;
	for (long i = 0; i < 1000; i++)
		if (weft_spawn(NULL, &a, detached, (void *)(i % 7)))
			return (void *)1;
	return NULL;	/* returns before they finish */
}

TEST(run_waits_for_every_fiber)
{
	detached_done = 0;
	ASSERT_EQ(run(spawn_detached, NULL), 0);
	ASSERT_EQ(detached_done, 1000);
}

static void *forever(void *arg)
{
	(void)arg;
	for (;;)
		weft_sleep_ns(1000000000);
	return NULL;
}

static void *shut(void *arg)
{
	struct weft_attr a = { .flags = WEFT_DETACHED };

	(void)arg;
	for (int i = 0; i < 100; i++)
		weft_spawn(NULL, &a, forever, NULL);
	weft_yield();
	weft_shutdown();
	return (void *)7;
}

TEST(shutdown_abandons_the_rest)
{
	ASSERT_EQ(run(shut, NULL), 7);
	/* Abandoned slots were released: a new runtime starts cleanly. */
	ASSERT_EQ(run(spawn_join_100k, NULL), 0);
}

static void *wait_on(void *arg)
{
	return (void *)(long)weft_join(*(uint64_t *)arg, NULL);
}

/* The first fiber joins a fiber that joins it back. */
static void *deadlocked(void *arg)
{
	static uint64_t self, a;

	(void)arg;
	self = weft_self();
	weft_spawn(&a, NULL, wait_on, &self);
	weft_join(a, NULL);
	return NULL;
}

static void deadlock_child(void *arg)
{
	(void)arg;
	run(deadlocked, NULL);
}

TEST(deadlock_is_reported)
{
	char out[4096];
	int status;

#ifdef __SANITIZE_THREAD__
	/* TSan's background thread could wake a fiber, for all weft knows. */
	SKIP(return, "TSan runs a thread of its own");
#endif
	ASSERT_EQ(harness_run_child(deadlock_child, NULL, out, sizeof(out),
				    &status), 0);
	ASSERT_TRUE(WIFSIGNALED(status));
	ASSERT_EQ(WTERMSIG(status), SIGABRT);
	ASSERT_NE_NULL(strstr(out, "weft: deadlock: 2 fibers are parked"));
}

TEST_HARNESS_MAIN
