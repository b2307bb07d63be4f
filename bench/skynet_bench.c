// SPDX-License-Identifier: MIT
/*
 * skynet (github.com/atemerev/skynet): a tree in which every node spawns 10
 * fibers and every leaf returns its number; the sum of 0..N-1 is checked.
 * All workers (one per CPU), 16 KiB stacks. The value is ns per leaf, which
 * is also the time in ms for N = 1000000 (ms= says it for any N).
 *
 * sync=join: a node joins its 10 children and adds up their return values;
 * a node's number and level travel in the argument pointer, so nothing is
 * allocated but the fibers. sync=chan: as Go does it, a node makes a
 * channel of capacity 10 and its detached children send their sums there.
 *
 * usage: skynet_bench [N [join|chan]]   (N = leaves, a power of 10, default
 *        1000000; default sync: join, the faster)
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <weft.h>

#include "bench.h"

#define FANOUT		10
#define LEVELS_MAX	9	/* 10^9 leaves; the sum of 10^10 overflows */

static const struct weft_attr child_attr = { .stack_size = WEFT_STACK_MIN };
static const struct weft_attr detached_attr = {
	.stack_size = WEFT_STACK_MIN,
	.flags = WEFT_DETACHED,
};
/* Leaves under a node of each level: 1, 10, 100, ... */
static uint64_t span[LEVELS_MAX + 1];
static atomic_int failed;

static void fail(int err, const char *what)
{
	if (!atomic_exchange(&failed, err))
		fprintf(stderr, "skynet: %s: %s\n", what, strerror(-err));
}

/* A join node's argument: leaf number << 8 | level (0 for a leaf). */
static void *node_join(void *arg)
{
	uint64_t num = (uintptr_t)arg >> 8, sum = 0;
	unsigned int level = (uintptr_t)arg & 0xff;
	uint64_t kids[FANOUT];
	void *ret;
	int err;

	if (!level)
		return (void *)(uintptr_t)num;
	for (int i = 0; i < FANOUT; i++) {
		uintptr_t a = (num + i * span[level - 1]) << 8 | (level - 1);

		err = weft_spawn(&kids[i], &child_attr, node_join, (void *)a);
		if (err) {
			fail(err, "weft_spawn");
			kids[i] = 0;
		}
	}
	for (int i = 0; i < FANOUT; i++) {
		if (kids[i] && !weft_join(kids[i], &ret))
			sum += (uintptr_t)ret;
	}
	return (void *)(uintptr_t)sum;
}

struct chan_node {
	struct weft_chan *out;	/* the parent's channel */
	uint64_t num;
	unsigned int level;
};

/* A chan node's argument lives on its parent's stack until it has sent. */
static void *node_chan(void *arg)
{
	struct chan_node self = *(struct chan_node *)arg, kids[FANOUT];
	struct weft_chan *rc;
	uint64_t sum = 0, v;
	int sent = 0, err;

	if (!self.level)
		goto out;
	err = weft_chan_create(&rc, sizeof(uint64_t), FANOUT);
	if (err) {
		fail(err, "weft_chan_create");
		goto out;
	}
	for (int i = 0; i < FANOUT; i++) {
		kids[i] = (struct chan_node){
			.out = rc,
			.num = self.num + i * span[self.level - 1],
			.level = self.level - 1,
		};
		err = weft_spawn(NULL, &detached_attr, node_chan, &kids[i]);
		if (err)
			fail(err, "weft_spawn");
		else
			sent++;
	}
	/* Every child gets its message in, even after an error: it uses
	 * @kids[] and @rc until it has sent. */
	while (sent) {
		err = weft_chan_recv(rc, &v);
		if (err) {
			fail(err, "weft_chan_recv");
			continue;
		}
		sum += v;
		sent--;
	}
	weft_chan_destroy(rc);
	self.num = sum;
out:
	err = weft_chan_send(self.out, &self.num);
	if (err)
		fail(err, "weft_chan_send");
	return NULL;
}

struct skynet {
	uint64_t leaves;
	unsigned int levels;
	bool chan;
	uint64_t sum;
	unsigned long long ns;
	int workers;
};

static void *bench(void *arg)
{
	struct skynet *sk = arg;
	struct chan_node root = { .level = sk->levels };
	unsigned long long t0;
	uint64_t fid;
	void *ret = NULL;
	int err;

	sk->workers = weft_workers();
	if (sk->chan) {
		err = weft_chan_create(&root.out, sizeof(uint64_t), 1);
		if (err) {
			fail(err, "weft_chan_create");
			return NULL;
		}
	}
	t0 = bench_now_ns();
	if (sk->chan)
		err = weft_spawn(NULL, &detached_attr, node_chan, &root);
	else
		err = weft_spawn(&fid, &child_attr, node_join,
				 (void *)(uintptr_t)sk->levels);
	if (!err && sk->chan)
		err = weft_chan_recv(root.out, &sk->sum);
	else if (!err)
		err = weft_join(fid, &ret);
	sk->ns = bench_now_ns() - t0;
	if (!sk->chan)
		sk->sum = (uintptr_t)ret;
	if (err)
		fail(err, "root");
	if (sk->chan)
		weft_chan_destroy(root.out);
	return NULL;
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [N [join|chan]]   (N: a power of 10)\n", prog);
	exit(2);
}

int main(int argc, char **argv)
{
	long leaves = bench_arg(argc, argv, 1000000);
	struct skynet sk = { .leaves = leaves > 0 ? leaves : 0 };
	uint64_t want;
	int err;

	if (argc > 3 || (argc > 2 && strcmp(argv[2], "join") &&
			 strcmp(argv[2], "chan")))
		usage(argv[0]);
	sk.chan = argc > 2 && !strcmp(argv[2], "chan");
	span[0] = 1;
	for (int i = 1; i <= LEVELS_MAX; i++)
		span[i] = span[i - 1] * FANOUT;
	while (sk.levels < LEVELS_MAX && span[sk.levels] < sk.leaves)
		sk.levels++;
	if (span[sk.levels] != sk.leaves)
		usage(argv[0]);

	err = weft_run(NULL, bench, &sk, NULL);
	if (err) {
		fprintf(stderr, "skynet: weft_run: %s\n", strerror(-err));
		return 1;
	}
	want = sk.leaves / 2 * (sk.leaves - 1);
	if (sk.sum != want)
		fprintf(stderr, "skynet: sum %llu, want %llu\n",
			(unsigned long long)sk.sum, (unsigned long long)want);
	if (failed || sk.sum != want)
		return 1;
	printf("bench=skynet impl=weft value=%.2f unit=ns/leaf n=%llu ms=%.2f sum=%llu sync=%s workers=%d\n",
	       (double)sk.ns / sk.leaves, (unsigned long long)sk.leaves,
	       sk.ns / 1e6, (unsigned long long)sk.sum,
	       sk.chan ? "chan" : "join", sk.workers);
	return 0;
}
