// SPDX-License-Identifier: MIT
/*
 * pingpong: ns per hand-off through an unbuffered channel of int, two fibers
 * bouncing a count (see pingpong.h). mode=local runs them on one worker,
 * mode=cross on two, one bound fiber on each. The first tenth of the
 * hand-offs (at least two) warms up and is not timed.
 *
 * usage: pingpong_bench [N [local|cross]]   (N = hand-offs, default
 *        10000000; no mode: both, one line each)
 */
#include "pingpong.h"

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [N>0 [local|cross]]\n", prog);
	exit(2);
}

int main(int argc, char **argv)
{
	bool modes[2] = { true, true };	/* local, cross */
	long n = bench_arg(argc, argv, 10000000);

	if (argc > 3 || n <= 0 || n > (1L << 30))
		usage(argv[0]);
	if (argc > 2) {
		if (!strcmp(argv[2], "local"))
			modes[1] = false;
		else if (!strcmp(argv[2], "cross"))
			modes[0] = false;
		else
			usage(argv[0]);
	}
	for (int m = 0; m < 2; m++) {
		struct pingpong pp = { .cross = m };

		if (!modes[m])
			continue;
		pingpong_size(&pp, n);
		if (pingpong_run(&pp))
			return 1;
		printf("bench=pingpong mode=%s impl=weft value=%.2f unit=ns/handoff n=%ld workers=%d\n",
		       m ? "cross" : "local", (double)pp.ns / pp.n, pp.n,
		       m ? 2 : 1);
		fflush(stdout);
	}
	return 0;
}
