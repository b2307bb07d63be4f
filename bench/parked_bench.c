// SPDX-License-Identifier: MIT
/*
 * parked: RSS growth per parked fiber, guard pages on, bytes/task. Each
 * fiber parks in a sleep that never ends; once all are parked the RSS is
 * read and weft_shutdown() abandons them. pte= reports the page-table
 * growth too: RSS does not count it, and the kernel charges it all the
 * same.
 */
#include <weft.h>

#include "bench.h"

static long n, started;

static void *parker(void *arg)
{
	(void)arg;
	started++;
	weft_sleep_ns(3600ULL * 1000000000ULL);
	return NULL;
}

static void *bench(void *arg)
{
	struct weft_attr attr = { .flags = WEFT_DETACHED };
	long rss0, pte0;

	(void)arg;
	rss0 = bench_rss();
	pte0 = bench_status_kb("VmPTE");
	for (long i = 0; i < n; i++)
		if (weft_spawn(NULL, &attr, parker, NULL))
			return (void *)1;
	while (started < n)
		weft_yield();
	printf("bench=parked impl=weft value=%ld unit=bytes/task n=%ld pte=%ld\n",
	       (bench_rss() - rss0) / n, n,
	       (bench_status_kb("VmPTE") - pte0) / n);
	weft_shutdown();
	return NULL;
}

int main(int argc, char **argv)
{
	void *ret;

	n = bench_arg(argc, argv, 100000);
	if (weft_run(NULL, bench, NULL, &ret) || ret)
		return 1;
	return 0;
}
