// SPDX-License-Identifier: MIT
/* yield: two fibers yielding to each other on one worker, ns/switch. */
#include <weft.h>

#include "bench.h"

static long iters;

static void *yielder(void *arg)
{
	(void)arg;
	for (long i = 0; i < iters; i++)
		weft_yield();
	return NULL;
}

static void *bench(void *arg)
{
	unsigned long long t0;
	uint64_t a, b;

	(void)arg;
	t0 = bench_now_ns();
	if (weft_spawn(&a, NULL, yielder, NULL) ||
	    weft_spawn(&b, NULL, yielder, NULL))
		return (void *)1;
	weft_join(a, NULL);
	weft_join(b, NULL);
	printf("bench=yield impl=weft value=%.2f unit=ns/switch n=%ld\n",
	       (double)(bench_now_ns() - t0) / (2.0 * iters), 2 * iters);
	return NULL;
}

int main(int argc, char **argv)
{
	struct weft_rt_attr one = { .workers = 1 };
	void *ret;

	iters = bench_arg(argc, argv, 10000000) / 2;
	/* Two fibers on one worker, as the peers run (Go with 1 proc). */
	if (weft_run(&one, bench, NULL, &ret) || ret)
		return 1;
	return 0;
}
