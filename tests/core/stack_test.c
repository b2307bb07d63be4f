// SPDX-License-Identifier: MIT
/*
 * The stack arena: each guard mode forced, its cost in VMAs, and
 * recycling without growth.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>

#include "harness.h"
#include "lib/stack.h"

#define N	2000

static int map_lines(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0, c;

	if (!f)
		return -1;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static long parked;

static void *park(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&parked, 1, __ATOMIC_RELAXED);
	weft_sleep_ns(3600ULL * 1000000000ULL);
	return NULL;
}

/* Parks N fibers and prints how many VMAs that added. */
static void *count_vmas(void *arg)
{
	struct weft_attr a = { .flags = WEFT_DETACHED };
	uint64_t f;
	int before;

	(void)arg;
	/* The first stack maps the arena chunk; count from there. */
	weft_spawn(&f, NULL, park, NULL);
	weft_yield();
	before = map_lines();
	for (int i = 0; i < N; i++)
		if (weft_spawn(NULL, &a, park, NULL))
			return (void *)1;
	while (__atomic_load_n(&parked, __ATOMIC_RELAXED) < N + 1)
		weft_yield();
	printf("vmas=%d\n", map_lines() - before);
	weft_shutdown();
	return NULL;
}

static void guard_child(void *arg)
{
	setenv("WEFT_GUARD", arg, 1);
	setenv("WEFT_DEBUG", "1", 1);
	exit(weft_run(NULL, count_vmas, NULL, NULL) ? 1 : 0);
}

FIXTURE(guard) {
	char out[4096];
};

FIXTURE_VARIANT(guard) {
	const char *mode;
	int min_vmas, max_vmas;
};

/*
 * Sanitizer runtimes map memory of their own as the test runs: SLACK
 * VMAs are allowed for that, far fewer than one per stack.
 */
#define SLACK	64

/* A PTE marker per stack: the arena stays one VMA. */
FIXTURE_VARIANT_ADD(guard, madvise) {
	.mode = "madvise", .min_vmas = 0, .max_vmas = SLACK,
};

/* Two VMAs per stack: why madvise is the default. */
FIXTURE_VARIANT_ADD(guard, mprotect) {
	.mode = "mprotect", .min_vmas = 2 * N - 4, .max_vmas = 2 * N + SLACK,
};

FIXTURE_VARIANT_ADD(guard, canary) {
	.mode = "canary", .min_vmas = 0, .max_vmas = SLACK,
};

FIXTURE_VARIANT_ADD(guard, none) {
	.mode = "none", .min_vmas = 0, .max_vmas = SLACK,
};

FIXTURE_SETUP(guard)
{
}

FIXTURE_TEARDOWN(guard)
{
}

TEST_F(guard, forced_mode_is_used)
{
	char want[64];
	int status, vmas;
	char *p;

	ASSERT_EQ(harness_run_child(guard_child, (void *)variant->mode,
				    self->out, sizeof(self->out), &status), 0);
	TH_LOG("%s", self->out);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	snprintf(want, sizeof(want), "weft: guard=%s ", variant->mode);
	ASSERT_NE_NULL(strstr(self->out, want));
#ifdef __SANITIZE_THREAD__
	SKIP(return, "TSan maps memory for every fiber: VMAs are not ours");
#endif
	p = strstr(self->out, "vmas=");
	ASSERT_NE_NULL(p);
	vmas = atoi(p + 5);
	ASSERT_GE(vmas, variant->min_vmas);
	ASSERT_LE(vmas, variant->max_vmas);
}

static void *empty(void *arg)
{
	return arg;
}

/* TSan clears ~800 KiB of shadow per fiber it is told about. */
#ifdef __SANITIZE_THREAD__
#define CHURN	10000
#else
#define CHURN	100000
#endif

static void *churn(void *arg)
{
	int cls = weft_stack_class(256 << 10);

	(void)arg;
	for (int i = 0; i < CHURN; i++) {
		uint64_t f;

		if (weft_spawn(&f, NULL, empty, NULL) || weft_join(f, NULL))
			return (void *)1;
	}
	/* Two stacks ever carved: this fiber's and the one recycled. */
	if (!weft_stack_top(cls, 1) || weft_stack_top(cls, 2))
		return (void *)2;
	return NULL;
}

/* One worker: with more, the joiner may move and use another's cache. */
TEST(recycling_carves_no_new_stacks)
{
	struct weft_rt_attr one = { .workers = 1 };
	void *r = (void *)1;

	ASSERT_EQ(weft_run(&one, churn, NULL, &r), 0);
	ASSERT_NULL(r);
}

TEST(size_classes)
{
	EXPECT_EQ(weft_stack_class(1), 0);
	EXPECT_EQ(weft_stack_class(16 << 10), 0);
	EXPECT_EQ(weft_stack_class((16 << 10) + 1), 1);
	EXPECT_EQ(weft_stack_class(256 << 10), 4);
	EXPECT_EQ(weft_stack_class(256UL << 20), WEFT_STACK_CLASSES - 1);
	EXPECT_LT(weft_stack_class((256UL << 20) + 1), 0);
}

TEST_HARNESS_MAIN
