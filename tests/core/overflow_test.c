// SPDX-License-Identifier: MIT
/*
 * Stack size and overflow: recursion within the size passes; beyond it the
 * fiber dies with "weft: fiber <id> "<name>" overflowed its <N> KiB stack"
 * and SIGABRT (so a core exists), in every guard mode that can catch it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>

#include "harness.h"
#include "lib/stack.h"

#define FRAME	1024

/* Uses about @depth KiB of stack, writing every byte of every frame. */
static __attribute__((noinline)) long recurse(long depth)
{
	volatile char buf[FRAME];

	memset((char *)buf, (int)depth, sizeof(buf));
	if (depth <= 0)
		return buf[0];
	return recurse(depth - 1) + buf[FRAME - 1];
}

static void *deep(void *arg)
{
	long r = recurse((long)arg);

	weft_yield();	/* canary mode checks at switch-out */
	return (void *)r;
}

static void *spawn_deep(void *arg)
{
	struct weft_attr a = { .stack_size = 64 << 10, .name = "deep" };
	uint64_t f;
	void *r;

	if (weft_spawn(&f, &a, deep, arg) || weft_join(f, &r))
		return (void *)-1L;
	return NULL;
}

TEST(within_the_size_passes)
{
	void *r = (void *)1;

	/*
	 * 64 KiB: 4 KiB guard, a header page partly used; 48 KiB of 1 KiB
	 * frames is safe, and 32 with ASan's redzones around each buffer.
	 */
#ifdef __SANITIZE_ADDRESS__
	ASSERT_EQ(weft_run(NULL, spawn_deep, (void *)32, &r), 0);
#else
	ASSERT_EQ(weft_run(NULL, spawn_deep, (void *)48, &r), 0);
#endif
	ASSERT_NULL(r);
}

static void overflow_child(void *arg)
{
	setenv("WEFT_GUARD", arg, 1);
	weft_run(NULL, spawn_deep, (void *)100000, NULL);
	exit(0);
}

/*
 * Canary mode has no protected page: the fiber scribbles over the bottom
 * of its stack, where the canary lives (the top word of the guard page),
 * as a run past the usable stack would, and yields. Found from the
 * fiber's id, so frame layouts (sanitizer redzones, return addresses)
 * cannot leave the canary in a gap.
 */
static void *past_the_end(void *arg)
{
	uint64_t id = weft_self();
	unsigned int cls = (id >> WEFT_STACK_INDEX_BITS) & 0xf;
	char *top = weft_stack_top(cls, id & ((1U << WEFT_STACK_INDEX_BITS) - 1));
	volatile char *p = top - weft_stack_class_size(cls);

	(void)arg;
	for (size_t i = 0; i < 2 * WEFT_PAGE; i++)	/* no memset: ASan */
		p[i] = 1;				/* intercepts it */
	weft_yield();
	return NULL;
}

static void *spawn_past_the_end(void *arg)
{
	struct weft_attr a = { .stack_size = 64 << 10, .name = "deep" };
	uint64_t f;

	if (weft_spawn(&f, &a, past_the_end, arg) || weft_join(f, NULL))
		return (void *)-1L;
	return NULL;
}

static void canary_child(void *arg)
{
	setenv("WEFT_GUARD", arg, 1);
	weft_run(NULL, spawn_past_the_end, NULL, NULL);
	exit(0);
}

FIXTURE(overflow) {
	char out[8192];
};

FIXTURE_VARIANT(overflow) {
	const char *guard;
	void (*child)(void *);
};

FIXTURE_VARIANT_ADD(overflow, madvise) {
	.guard = "madvise", .child = overflow_child,
};

FIXTURE_VARIANT_ADD(overflow, mprotect) {
	.guard = "mprotect", .child = overflow_child,
};

FIXTURE_VARIANT_ADD(overflow, canary) {
	.guard = "canary", .child = canary_child,
};

FIXTURE_SETUP(overflow)
{
}

FIXTURE_TEARDOWN(overflow)
{
}

TEST_F(overflow, names_the_fiber_and_aborts)
{
	int status;

	ASSERT_EQ(harness_run_child(variant->child, (void *)variant->guard,
				    self->out, sizeof(self->out), &status), 0);
	TH_LOG("child said: %s", self->out);
	ASSERT_TRUE(WIFSIGNALED(status));
	ASSERT_EQ(WTERMSIG(status), SIGABRT);
	ASSERT_EQ(strncmp(self->out, "weft: fiber ", 12), 0);
	ASSERT_NE_NULL(strstr(self->out,
			      " \"deep\" overflowed its 64 KiB stack\n"));
}

TEST_HARNESS_MAIN
