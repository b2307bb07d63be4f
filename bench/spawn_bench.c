// SPDX-License-Identifier: MIT
/* spawn: spawn and join of an empty fiber, one after another, ns/task. */
#include <weft.h>

#include "bench.h"

static long iters;

static void *empty(void *arg)
{
	return arg;
}

static void *bench(void *arg)
{
	unsigned long long t0;
	uint64_t f;

	(void)arg;
	/* Warm the stack cache: steady state is what spawn costs. */
	if (weft_spawn(&f, NULL, empty, NULL) || weft_join(f, NULL))
		return (void *)1;
	t0 = bench_now_ns();
	for (long i = 0; i < iters; i++) {
		if (weft_spawn(&f, NULL, empty, NULL) || weft_join(f, NULL))
			return (void *)1;
	}
	printf("bench=spawn impl=weft value=%.2f unit=ns/task n=%ld\n",
	       (double)(bench_now_ns() - t0) / iters, iters);
	return NULL;
}

int main(int argc, char **argv)
{
	void *ret;

	iters = bench_arg(argc, argv, 1000000);
	if (weft_run(NULL, bench, NULL, &ret) || ret)
		return 1;
	return 0;
}
