// SPDX-License-Identifier: MIT
/*
 * The multi-worker scheduler: placement, bound fibers, stealing,
 * cancellation, the monitor (stall reports and rescuing a stuck worker's
 * queue), the wake backends (io_uring, futex, io_uring denied by seccomp)
 * and NUMA placement on a synthetic topology.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <weft.h>

#include "harness.h"
#include "lib/stack.h"

#define ATOMIC_INC(x)	__atomic_add_fetch(&(x), 1, __ATOMIC_SEQ_CST)
#define ATOMIC_GET(x)	__atomic_load_n(&(x), __ATOMIC_SEQ_CST)
#define ATOMIC_SET(x, v) __atomic_store_n(&(x), (v), __ATOMIC_SEQ_CST)

static int run_on(unsigned int workers, void *(*fn)(void *), void *arg)
{
	struct weft_rt_attr a = { .workers = workers };
	void *r = (void *)-1;
	int ret = weft_run(&a, fn, arg, &r);

	return ret ? ret : (int)(long)r;
}

/* ---- placement and bound fibers ---- */

static void *where(void *arg)
{
	(void)arg;
	return (void *)(long)weft_worker();
}

static void *placement(void *arg)
{
	int n = weft_workers();

	(void)arg;
	if (n != 4 || weft_worker() < 0)
		return (void *)1;
	for (int i = 0; i < n; i++) {
		struct weft_attr a = { .flags = WEFT_ON_WORKER | WEFT_BOUND,
				       .worker = i };
		uint64_t f;
		void *r;

		if (weft_spawn(&f, &a, where, NULL) || weft_join(f, &r) ||
		    (long)r != i)
			return (void *)2;
	}
	{
		struct weft_attr bad = { .flags = WEFT_ON_WORKER, .worker = 4 };
		uint64_t f;

		if (weft_spawn(&f, &bad, where, NULL) != -EINVAL)
			return (void *)3;
	}
	return NULL;
}

TEST(on_worker_places_the_fiber)
{
	ASSERT_EQ(run_on(4, placement, NULL), 0);
	ASSERT_EQ(weft_worker(), -EPERM);
	ASSERT_EQ(weft_workers(), -EPERM);
}

static long moved;

/* Waits every way there is; a bound fiber must come back to its worker. */
static void *stay(void *arg)
{
	long home = weft_worker();

	(void)arg;
	for (int i = 0; i < 200; i++) {
		if (i % 3 == 0)
			weft_yield();
		else if (i % 3 == 1)
			weft_sleep_ns(1000);
		else
			weft_sleep_ns(0);
		if (weft_worker() != home)
			ATOMIC_INC(moved);
	}
	return NULL;
}

static void *bound_many(void *arg)
{
	uint64_t f[16];

	(void)arg;
	for (int i = 0; i < 16; i++) {
		struct weft_attr a = { .flags = WEFT_ON_WORKER | WEFT_BOUND,
				       .worker = i % 2 };

		if (weft_spawn(&f[i], &a, stay, NULL))
			return (void *)1;
	}
	for (int i = 0; i < 16; i++)
		weft_join(f[i], NULL);
	return NULL;
}

TEST(bound_fibers_never_move)
{
	moved = 0;
	ASSERT_EQ(run_on(2, bound_many, NULL), 0);
	ASSERT_EQ(ATOMIC_GET(moved), 0);
}

/* ---- stealing ---- */

static int seen[2];

/*
 * Each fiber yields until fibers have run on both workers: all are
 * spawned on worker 0, so only a steal by worker 1 ends the test (a
 * missing steal hangs it, and the harness's timeout fails it).
 */
static void *until_both(void *arg)
{
	(void)arg;
	for (;;) {
		int w = weft_worker();

		ATOMIC_SET(seen[w], 1);
		if (ATOMIC_GET(seen[0]) && ATOMIC_GET(seen[1]))
			return NULL;
		weft_yield();
	}
}

static void *spawn_on_zero(void *arg)
{
	uint64_t f[64];

	(void)arg;
	for (int i = 0; i < 64; i++) {
		struct weft_attr a = { .flags = WEFT_ON_WORKER, .worker = 0 };

		if (weft_spawn(&f[i], &a, until_both, NULL))
			return (void *)1;
	}
	for (int i = 0; i < 64; i++)
		weft_join(f[i], NULL);
	return NULL;
}

TEST(idle_workers_steal)
{
	seen[0] = seen[1] = 0;
	ASSERT_EQ(run_on(2, spawn_on_zero, NULL), 0);
}

/* ---- counters ---- */

static void *counted(void *arg)
{
	struct weft_worker_stats st[2], bad;
	uint64_t spawned = 0, exited = 0, steals = 0, sleeps = 0;

	(void)arg;
	if (spawn_on_zero(NULL))	/* stealing, as above */
		return (void *)1;
	/* Let both workers run out of work and sleep once. */
	weft_sleep_ns(20000000);
	for (int i = 0; i < 2; i++) {
		if (weft_stats(i, &st[i]))
			return (void *)2;
		spawned += st[i].spawned;
		exited += st[i].exited;
		steals += st[i].steals;
		sleeps += st[i].sleeps;
	}
	if (weft_stats(2, &bad) != -EINVAL || weft_stats(0, NULL) != -EINVAL)
		return (void *)3;
	/* This fiber and the 64 it spawned; all but this one finished. */
	if (spawned != 65 || exited != 64)
		return (void *)4;
	if (!steals || !sleeps || !st[0].switches || !st[1].switches)
		return (void *)5;
	return NULL;
}

TEST(counters_add_up)
{
	struct weft_worker_stats st;

	seen[0] = seen[1] = 0;
	ASSERT_EQ(run_on(2, counted, NULL), 0);
	ASSERT_EQ(weft_stats(0, &st), -EPERM);
}

/* ---- cancellation ---- */

static void *sleep_long(void *arg)
{
	(void)arg;
	return (void *)(long)weft_sleep_ns(3600ULL * 1000000000ULL);
}

static void *cancels(void *arg)
{
	uint64_t f;
	void *r;

	(void)arg;
	/* Cancel a sleeper, wherever it sleeps. */
	if (weft_spawn(&f, NULL, sleep_long, NULL))
		return (void *)1;
	weft_sleep_ns(1000000);
	if (weft_cancel(f) || weft_join(f, &r) || (long)r != -ECANCELED)
		return (void *)2;
	/* A request made before the wait cancels the next wait. */
	if (weft_cancel(weft_self()) ||
	    weft_sleep_ns(3600ULL * 1000000000ULL) != -ECANCELED)
		return (void *)3;
	/* ...and only that one. */
	if (weft_sleep_ns(1000) != 0)
		return (void *)4;
	if (weft_cancel(f) != -EINVAL || weft_cancel(0) != -EINVAL)
		return (void *)5;
	return NULL;
}

TEST(cancel_interrupts_one_wait)
{
	ASSERT_EQ(run_on(1, cancels, NULL), 0);
	ASSERT_EQ(run_on(2, cancels, NULL), 0);
}

/* ---- the monitor ---- */

static void *spin_ms(void *arg)
{
	uint64_t end = weft_now_ns() + (long)arg * 1000000ULL;

	while (weft_now_ns() < end)
		;
	return NULL;
}

static void *hog(void *arg)
{
	struct weft_attr a = { .name = "hog" };
	uint64_t f;

	if (weft_spawn(&f, &a, spin_ms, arg))
		return (void *)1;
	return (void *)(long)weft_join(f, NULL);
}

static void stall_child(void *arg)
{
	(void)arg;
	setenv("WEFT_STALL_MS", "20", 1);
	exit(run_on(1, hog, (void *)150L) ? 1 : 0);
}

TEST(monitor_reports_a_stall)
{
	char out[1024];
	int status;

	ASSERT_EQ(harness_run_child(stall_child, NULL, out, sizeof(out),
				    &status), 0);
	TH_LOG("%s", out);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	ASSERT_NE_NULL(strstr(out, "weft: stall: fiber 0x"));
	ASSERT_NE_NULL(strstr(out, "\"hog\" on worker 0 has run "));
	ASSERT_NE_NULL(strstr(out, " ms without an await point\n"));
	/* Once per stall. */
	ASSERT_NULL(strstr(strstr(out, "stall:") + 1, "stall:"));
}

static void quiet_child(void *arg)
{
	(void)arg;
	setenv("WEFT_STALL_MS", "0", 1);
	exit(run_on(1, hog, (void *)100L) ? 1 : 0);
}

TEST(monitor_is_quiet_when_told)
{
	char out[1024];
	int status;

	ASSERT_EQ(harness_run_child(quiet_child, NULL, out, sizeof(out),
				    &status), 0);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	ASSERT_NULL(strstr(out, "stall"));
}

/*
 * A fiber readies another (it lands in its worker's runnext, which no
 * thief takes) and then blocks in the kernel, waiting for what that other
 * fiber will write. Only the monitor can move it to the idle worker.
 */
static int pipefd[2];
static int go, parked_flag;
static long ran_on;

static void *writer(void *arg)
{
	char c = 'x';

	(void)arg;
	ATOMIC_SET(parked_flag, 1);
	if (weft_sleep_ns(3600ULL * 1000000000ULL) != -ECANCELED)
		return (void *)1;
	ATOMIC_SET(ran_on, weft_worker());
	return (void *)(long)(write(pipefd[1], &c, 1) != 1);
}

/* Keeps worker 1 busy until told, so nothing else runs there. */
static int occupying;

static void *occupy(void *arg)
{
	(void)arg;
	ATOMIC_SET(occupying, 1);
	while (!ATOMIC_GET(go))
		;
	return NULL;
}

/* Bound to worker 0. */
static void *stuck_main(void *arg)
{
	struct weft_attr here = { .flags = WEFT_ON_WORKER, .worker = 0 };
	struct weft_attr there = { .flags = WEFT_ON_WORKER | WEFT_BOUND,
				   .worker = 1 };
	uint64_t w, o;
	void *r;
	char c;

	(void)arg;
	if (weft_spawn(&o, &there, occupy, NULL))
		return (void *)1;
	while (!ATOMIC_GET(occupying))
		weft_yield();
	/* Worker 1 is busy: the writer runs here, and parks here. */
	if (weft_spawn(&w, &here, writer, NULL))
		return (void *)1;
	while (!ATOMIC_GET(parked_flag))
		weft_yield();
	if (weft_cancel(w))	/* readies it into our runnext */
		return (void *)2;
	ATOMIC_SET(go, 1);
	if (read(pipefd[0], &c, 1) != 1)	/* blocks worker 0 */
		return (void *)3;
	if (weft_join(w, &r) || r || weft_join(o, NULL))
		return (void *)4;
	return NULL;
}

static void *stuck(void *arg)
{
	struct weft_attr a = { .flags = WEFT_ON_WORKER | WEFT_BOUND,
			       .worker = 0 };
	uint64_t f;
	void *r;

	if (weft_spawn(&f, &a, stuck_main, arg) || weft_join(f, &r))
		return (void *)10;
	return r;
}

TEST(monitor_rescues_a_stuck_workers_queue)
{
	ASSERT_EQ(pipe(pipefd), 0);
	go = parked_flag = occupying = 0;
	ran_on = -1;
	ASSERT_EQ(run_on(2, stuck, NULL), 0);
	ASSERT_EQ(ATOMIC_GET(ran_on), 1);
	close(pipefd[0]);
	close(pipefd[1]);
}

/*
 * A fiber wakes a sleeping worker (a MSG_RING queued on its own ring) and
 * then computes without an await point, so its worker never submits the
 * wake: the monitor must notice the owed wake and kick the sleeper.
 */
static int kicked;

static void *set_kicked(void *arg)
{
	(void)arg;
	ATOMIC_SET(kicked, 1);
	return NULL;
}

static void *owe_a_wake(void *arg)
{
	struct weft_attr there = { .flags = WEFT_ON_WORKER | WEFT_BOUND,
				   .worker = 1 };
	uint64_t f;

	(void)arg;
	/* Not for correctness: to let worker 1 fall asleep first. */
	weft_sleep_ns(10000000);
	if (weft_spawn(&f, &there, set_kicked, NULL))
		return (void *)1;
	while (!ATOMIC_GET(kicked))
		;	/* no await point: this worker submits nothing */
	return (void *)(long)weft_join(f, NULL);
}

static void *owe_main(void *arg)
{
	struct weft_attr here = { .flags = WEFT_ON_WORKER | WEFT_BOUND };
	uint64_t f;
	void *r;

	if (weft_spawn(&f, &here, owe_a_wake, arg) || weft_join(f, &r))
		return (void *)10;
	return r;
}

TEST(monitor_delivers_a_wake_held_back)
{
	kicked = 0;
	ASSERT_EQ(run_on(2, owe_main, NULL), 0);
}

/* ---- wake backends ---- */

static long hops;

/* Two bound fibers on two workers ready each other through sleeps. */
static void *hopper(void *arg)
{
	(void)arg;
	for (int i = 0; i < 2000; i++) {
		ATOMIC_INC(hops);
		weft_sleep_ns(i % 10 ? 0 : 1000);
	}
	return NULL;
}

static void *cross_spawn(void *arg)
{
	uint64_t f[8];
	void *r;

	(void)arg;
	for (int i = 0; i < 8; i++) {
		struct weft_attr a = { .flags = WEFT_ON_WORKER | WEFT_BOUND,
				       .worker = i % 2 };

		if (weft_spawn(&f[i], &a, hopper, NULL))
			return (void *)1;
	}
	for (int i = 0; i < 8; i++)
		if (weft_join(f[i], &r) || r)
			return (void *)2;
	return NULL;
}

static void backend_child(void *arg)
{
	if (arg)
		setenv("WEFT_BACKEND", arg, 1);
	hops = 0;
	if (run_on(2, cross_spawn, NULL) || hops != 8 * 2000)
		exit(1);
	exit(0);
}

/* Deny io_uring_setup() with EPERM, as Docker's default profile does. */
static void no_uring_child(void *arg)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = 4, .filter = filter };

	(void)arg;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		exit(2);
	setenv("WEFT_DEBUG", "1", 1);
	backend_child(NULL);
}

TEST(wakes_work_with_each_backend)
{
	char out[4096];
	int status;

	ASSERT_EQ(harness_run_child(backend_child, NULL, out, sizeof(out),
				    &status), 0);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_EQ(harness_run_child(backend_child, "epoll", out, sizeof(out),
				    &status), 0);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_EQ(harness_run_child(no_uring_child, NULL, out, sizeof(out),
				    &status), 0);
	TH_LOG("%s", out);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_NE_NULL(strstr(out, "io_uring unavailable"));
}

/* ---- fairness and the budget ---- */

#define PAIR_N	100000

static struct weft_chan *ping;
static long third_runs, handoffs;

/* A ping-pong pair: each hand-off readies the other into runnext. */
static void *pinger(void *arg)
{
	int v = 0;

	(void)arg;
	for (long i = 0; i < PAIR_N; i++) {
		if (weft_chan_send(ping, &v) || weft_chan_recv(ping, &v))
			return (void *)1;
		handoffs += 2;
	}
	v = -1;
	return (void *)(long)weft_chan_send(ping, &v);
}

static void *ponger(void *arg)
{
	int v;

	(void)arg;
	for (;;) {
		if (weft_chan_recv(ping, &v))
			return (void *)1;
		if (v < 0)
			return NULL;
		if (weft_chan_send(ping, &v))
			return (void *)2;
	}
}

static int pair_done;

static void *third(void *arg)
{
	(void)arg;
	while (!pair_done) {
		third_runs++;
		weft_yield();
	}
	return NULL;
}

static void *fair(void *arg)
{
	uint64_t a, b, c;
	void *ra, *rb;

	(void)arg;
	if (weft_chan_create(&ping, sizeof(int), 0) ||
	    weft_spawn(&c, NULL, third, NULL) ||
	    weft_spawn(&b, NULL, ponger, NULL) ||
	    weft_spawn(&a, NULL, pinger, NULL))
		return (void *)1;
	if (weft_join(a, &ra) || weft_join(b, &rb) || ra || rb)
		return (void *)2;
	pair_done = 1;
	weft_join(c, NULL);
	weft_chan_destroy(ping);
	return NULL;
}

/*
 * One worker, so every pick is counted: the pair hands off through
 * runnext, and the third fiber (in the ring, L = 0, R = 1) must run at
 * least once every 5 * (0 + 1 + 1) picks, as core.c promises.
 */
TEST(runnext_cannot_starve_the_queue)
{
	third_runs = handoffs = pair_done = 0;
	ASSERT_EQ(run_on(1, fair, NULL), 0);
	TH_LOG("%ld hand-offs, third fiber ran %ld times", handoffs,
	       third_runs);
	ASSERT_GE(third_runs, handoffs / 10);
}

/*
 * A spawn tree runs depth-first (newest continuation first after each
 * exit), yet a fiber queued behind it still runs every few milliseconds.
 */
static uint64_t max_gap, tree_done;

/* 4^9 + ... = 349,525 fibers; TSan pays ~800 KiB of shadow per fiber. */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define TREE_DEPTH	6L
#define GAP_MAX_NS	5000000000ULL
#else
#define TREE_DEPTH	9L
#define GAP_MAX_NS	50000000ULL
#endif

static void *tree(void *arg)
{
	long depth = (long)arg;
	uint64_t kids[4];

	if (!depth)
		return NULL;
	for (int i = 0; i < 4; i++)
		if (weft_spawn(&kids[i], NULL, tree, (void *)(depth - 1)))
			return (void *)1;
	for (int i = 0; i < 4; i++)
		weft_join(kids[i], NULL);
	return NULL;
}

static void *watcher(void *arg)
{
	uint64_t last = weft_now_ns();

	(void)arg;
	while (!tree_done) {
		uint64_t now = weft_now_ns();

		if (now - last > max_gap)
			max_gap = now - last;
		last = now;
		weft_yield();
	}
	return NULL;
}

static void *tree_and_watcher(void *arg)
{
	uint64_t w, t;
	void *r;

	(void)arg;
	if (weft_spawn(&w, NULL, watcher, NULL) ||
	    weft_spawn(&t, NULL, tree, (void *)TREE_DEPTH))
		return (void *)1;
	if (weft_join(t, &r) || r)
		return (void *)2;
	tree_done = 1;
	return (void *)(long)weft_join(w, NULL);
}

TEST(spawn_trees_cannot_starve_the_queue)
{
	max_gap = tree_done = 0;
	ASSERT_EQ(run_on(1, tree_and_watcher, NULL), 0);
	TH_LOG("longest wait of the queued fiber: %llu us",
	       (unsigned long long)max_gap / 1000);
	/*
	 * 1 ms promised between takes from the queues' heads; the VM may
	 * preempt the worker now and then, and sanitizers slow every spawn
	 * by orders of magnitude.
	 */
	ASSERT_LT(max_gap, GAP_MAX_NS);
}

static struct weft_chan *box;
static long hammered, seen_at;
static int stop_hammer;

/* Every operation is ready at once: only the budget makes it yield. */
static void *hammer(void *arg)
{
	int v = 1;

	(void)arg;
	while (!stop_hammer) {
		if (weft_chan_send(box, &v) || weft_chan_recv(box, &v))
			return (void *)1;
		hammered += 2;
	}
	return NULL;
}

static void *stopper(void *arg)
{
	(void)arg;
	seen_at = hammered;
	stop_hammer = 1;
	return NULL;
}

static void *budget(void *arg)
{
	uint64_t h, s;
	void *r;

	(void)arg;
	if (weft_chan_create(&box, sizeof(int), 1) ||
	    weft_spawn(&h, NULL, hammer, NULL) ||
	    weft_spawn(&s, NULL, stopper, NULL))
		return (void *)1;
	if (weft_join(h, &r) || r || weft_join(s, NULL))
		return (void *)2;
	weft_chan_destroy(box);
	return NULL;
}

static void budget_child(void *arg)
{
	if (arg)
		setenv("WEFT_BUDGET", arg, 1);
	hammered = seen_at = stop_hammer = 0;
	if (run_on(1, budget, NULL))
		exit(1);
	printf("seen_at=%ld\n", seen_at);
	exit(0);
}

/* Without the budget the hammer never yields and the test hangs. */
TEST(budget_stops_a_fiber_whose_operations_are_always_ready)
{
	static const struct { const char *env; long max; } c[] = {
		{ NULL, 128 }, { "7", 7 }, { "1000", 1000 },
	};
	char out[256];
	int status;

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		long at;

		ASSERT_EQ(harness_run_child(budget_child, (void *)c[i].env,
					    out, sizeof(out), &status), 0);
		ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		ASSERT_EQ(sscanf(out, "seen_at=%ld", &at), 1);
		TH_LOG("WEFT_BUDGET=%s: the other fiber ran after %ld operations",
		       c[i].env ? c[i].env : "(default)", at);
		ASSERT_GT(at, 0);
		ASSERT_LE(at, c[i].max);
	}
}

/* ---- NUMA placement on a synthetic topology ---- */

static void *stack_node(void *arg)
{
	uint64_t id = weft_self();
	unsigned int cls = (id >> WEFT_STACK_INDEX_BITS) & 0xf;
	uint32_t index = id & ((1U << WEFT_STACK_INDEX_BITS) - 1);

	(void)arg;
	return (void *)(long)weft_stack_node(cls, index);
}

/* Stacks come from the spawner's node, wherever the fiber will run. */
static void *nodes(void *arg)
{
	long want[] = { 0, 0, 0, 0 };

	(void)arg;
	for (int i = 0; i < 4; i++) {
		struct weft_attr a = { .flags = WEFT_ON_WORKER | WEFT_BOUND,
				       .worker = i };
		uint64_t f;
		void *r;

		if (weft_spawn(&f, &a, stack_node, NULL) || weft_join(f, &r))
			return (void *)1;
		if ((long)r != want[i])
			return (void *)(long)(10 + i);
	}
	return NULL;
}

static void *spawn_there(void *arg)
{
	uint64_t f;
	void *r;

	(void)arg;
	if (weft_spawn(&f, NULL, stack_node, NULL) || weft_join(f, &r))
		return (void *)-1;
	return r;
}

/* A fiber on worker i spawns: its worker's cache, its worker's node. */
static void *nodes_from_each(void *arg)
{
	struct weft_attr me = { .flags = WEFT_ON_WORKER | WEFT_BOUND };
	uint64_t f;
	void *r;

	/* The first fiber may have been stolen: rerun it bound to 0. */
	if (!arg) {
		if (weft_spawn(&f, &me, nodes_from_each, &me) ||
		    weft_join(f, &r))
			return (void *)30;
		return r;
	}
	for (int i = 0; i < 4; i++) {
		struct weft_attr a = { .flags = WEFT_ON_WORKER | WEFT_BOUND,
				       .worker = i };

		if (weft_spawn(&f, &a, spawn_there, NULL) || weft_join(f, &r))
			return (void *)1;
		if ((long)r != i)
			return (void *)(long)(10 + i);
	}
	return nodes(NULL) ? (void *)20 : NULL;
}

static void numa_child(void *arg)
{
	(void)arg;
	setenv("WEFT_TOPOLOGY", "4x1", 1);
	exit(run_on(4, nodes_from_each, NULL));
}

TEST(stacks_come_from_the_spawning_workers_node)
{
	char out[1024];
	int status;

	ASSERT_EQ(harness_run_child(numa_child, NULL, out, sizeof(out),
				    &status), 0);
	TH_LOG("%s", out);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
}

TEST_HARNESS_MAIN
