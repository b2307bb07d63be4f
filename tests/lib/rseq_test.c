// SPDX-License-Identifier: MIT
/*
 * rseq and the per-CPU caches: weft_cpu() is the CPU a thread is pinned
 * to, node and mm_cid are sane, a cache is a bounded LIFO per CPU, and
 * with four threads migrating and signalled all the while every token
 * pushed comes out exactly once.
 *
 * The binary then runs itself again with rseq off, once by glibc's
 * tunable (GLIBC_TUNABLES=glibc.pthread.rseq=0) and once by WEFT_RSEQ=0:
 * every test must pass there too, on the fallbacks, and the mode test
 * checks that the fallbacks are what ran. WEFT_TEST_RSEQ_OFF tells the
 * child which switch was thrown.
 */
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "harness.h"
#include "lib/percpu.h"
#include "lib/rseq.h"

#ifndef AT_RSEQ_FEATURE_SIZE
#define AT_RSEQ_FEATURE_SIZE	27
#endif

/* "glibc" or "weft" in a fallback child, NULL in the first run. */
static const char *rseq_off_by(void)
{
	return getenv("WEFT_TEST_RSEQ_OFF");
}

static const char *expected_mode(void)
{
#ifdef WEFT_PERCPU_RSEQ
	if (weft_rseq_on())
		return "rseq";
#endif
	return "atomic";
}

/* The CPUs this test may run on, ascending; returns how many. */
static int allowed_cpus(int *cpus)
{
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set))
		return -1;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &set))
			cpus[n++] = cpu;
	return n;
}

static int pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

/* The node sysfs gives @cpu (cpuN/nodeM), or -1. */
static int sysfs_node(int cpu)
{
	char path[64];

	for (int node = 0; node < 1024; node++) {
		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/node%d",
			 cpu, node);
		if (!access(path, F_OK))
			return node;
	}
	return -1;
}

TEST(mode)
{
	const char *by = rseq_off_by();
	unsigned long feature = getauxval(AT_RSEQ_FEATURE_SIZE);
	struct weft_percpu pc;

	ASSERT_EQ(weft_percpu_init(&pc, 4), 0);
	printf("# __rseq_size=%u feature=%lu rseq_on=%d mode=%s cpu=%d node=%d mm_cid=%d off_by=%s\n",
	       __rseq_size, feature, weft_rseq_on(), weft_percpu_mode(&pc),
	       weft_cpu(), weft_node(), weft_mm_cid(), by ? by : "-");
	EXPECT_STREQ(weft_percpu_mode(&pc), expected_mode());
	if (getenv("WEFT_TEST_RSEQ_BAD"))
		EXPECT_EQ(weft_rseq_init(), -EINVAL);
	else
		EXPECT_EQ(weft_rseq_init(), 0);
	if (by) {
		if (!strcmp(by, "glibc"))
			EXPECT_EQ(__rseq_size, 0);
		EXPECT_FALSE(weft_rseq_on());
		EXPECT_STREQ(weft_percpu_mode(&pc), "atomic");
		EXPECT_EQ(weft_mm_cid(), -1);
	} else if (__rseq_size && !getenv("WEFT_RSEQ")) {
		EXPECT_TRUE(weft_rseq_on());
#if defined(WEFT_PERCPU_RSEQ)
		EXPECT_STREQ(weft_percpu_mode(&pc), "rseq");
#endif
	}
	weft_percpu_fini(&pc);
	if (!by && !__rseq_size)
		SKIP(return, "glibc did not register rseq (valgrind, or glibc.pthread.rseq=0): fallbacks only");
}

TEST(cpu_is_the_pinned_cpu)
{
	int cpus[CPU_SETSIZE], n = allowed_cpus(cpus);

	ASSERT_GT(n, 0);
	for (int i = 0; i < n; i++) {
		ASSERT_EQ(pin(cpus[i]), 0) TH_LOG("pin to %d: %m", cpus[i]);
		ASSERT_EQ(weft_cpu(), cpus[i]);
		ASSERT_EQ(sched_getcpu(), cpus[i]);
	}
}

TEST(node_and_mm_cid)
{
	int cpus[CPU_SETSIZE], n = allowed_cpus(cpus);
	long possible = sysconf(_SC_NPROCESSORS_CONF);

	ASSERT_GT(n, 0);
	for (int i = 0; i < n; i++) {
		unsigned int cpu, node;
		int want = sysfs_node(cpus[i]);

		ASSERT_EQ(pin(cpus[i]), 0);
		ASSERT_EQ(getcpu(&cpu, &node), 0);
		ASSERT_EQ(weft_node(), node);
		if (want >= 0)
			ASSERT_EQ(weft_node(), want);
		if (weft_rseq_on() &&
		    getauxval(AT_RSEQ_FEATURE_SIZE) >= WEFT_RSEQ_MM_CID + 4) {
			ASSERT_GE(weft_mm_cid(), 0);
			ASSERT_LT(weft_mm_cid(), possible);
		} else {
			ASSERT_EQ(weft_mm_cid(), -1);
		}
	}
}

TEST(lifo_bounded_per_cpu)
{
	int cpus[CPU_SETSIZE], n = allowed_cpus(cpus);
	struct weft_percpu pc;
	char tok[9];

	ASSERT_GT(n, 0);
	ASSERT_EQ(pin(cpus[0]), 0);
	ASSERT_EQ(weft_percpu_init(&pc, 8), 0);
	ASSERT_STREQ(weft_percpu_mode(&pc), expected_mode());
	ASSERT_NULL(weft_percpu_pop(&pc));
	for (int i = 0; i < 8; i++)
		ASSERT_EQ(weft_percpu_push(&pc, &tok[i]), 0);
	ASSERT_EQ(weft_percpu_push(&pc, &tok[8]), -ENOSPC);
	ASSERT_EQ(weft_percpu_push(&pc, NULL), -EINVAL);
	for (int i = 7; i >= 0; i--)
		ASSERT_EQ(weft_percpu_pop(&pc), &tok[i]);
	ASSERT_NULL(weft_percpu_pop(&pc));
	/* Full again, then partly emptied: the bound is per slab. */
	for (int i = 0; i < 8; i++)
		ASSERT_EQ(weft_percpu_push(&pc, &tok[i]), 0);
	ASSERT_EQ(weft_percpu_pop(&pc), &tok[7]);
	ASSERT_EQ(weft_percpu_push(&pc, &tok[8]), 0);
	ASSERT_EQ(weft_percpu_pop(&pc), &tok[8]);
	ASSERT_EQ(weft_percpu_drain(&pc, NULL, NULL), 7);
	ASSERT_NULL(weft_percpu_pop(&pc));
	weft_percpu_fini(&pc);
}

TEST(bad_capacity)
{
	struct weft_percpu pc;

	ASSERT_EQ(weft_percpu_init(&pc, 0), -EINVAL);
	ASSERT_EQ(weft_percpu_init(&pc, WEFT_PERCPU_MAX_CAPACITY + 1), -EINVAL);
	ASSERT_EQ(weft_percpu_init(&pc, WEFT_PERCPU_MAX_CAPACITY), 0);
	weft_percpu_fini(&pc);
}

static void count_entry(void *p, void *arg)
{
	(void)p;
	(*(int *)arg)++;
}

TEST(slabs_are_per_cpu)
{
	int cpus[CPU_SETSIZE], n = allowed_cpus(cpus), seen = 0;
	struct weft_percpu pc;
	char a, b, c;

	ASSERT_GT(n, 0);
	if (n < 2)
		SKIP(return, "one CPU allowed: nowhere to migrate to");
	ASSERT_EQ(weft_percpu_init(&pc, 4), 0);
	ASSERT_EQ(pin(cpus[0]), 0);
	ASSERT_EQ(weft_percpu_push(&pc, &a), 0);
	ASSERT_EQ(pin(cpus[1]), 0);
	ASSERT_NULL(weft_percpu_pop(&pc));	/* cpus[0]'s entry stays there */
	ASSERT_EQ(weft_percpu_push(&pc, &b), 0);
	ASSERT_EQ(weft_percpu_push(&pc, &c), 0);
	ASSERT_EQ(pin(cpus[0]), 0);
	ASSERT_EQ(weft_percpu_pop(&pc), &a);
	ASSERT_NULL(weft_percpu_pop(&pc));
	ASSERT_EQ(weft_percpu_pop_any(&pc), &c);	/* from cpus[1] */
	ASSERT_EQ(weft_percpu_drain(&pc, count_entry, &seen), 1);
	ASSERT_EQ(seen, 1);
	ASSERT_NULL(weft_percpu_pop_any(&pc));
	weft_percpu_fini(&pc);
}

/* ---- stress ---- */

#define THREADS		4
#define OPS		(1UL << 20)	/* tokens per thread */
#define CAPACITY	64
#define MIGRATE_EVERY	1024

struct stress {
	struct weft_percpu pc;
	unsigned char *seen;		/* per token: times it came out */
	unsigned long bad;		/* popped values that were no token */
	unsigned long seed;
	int cpus[CPU_SETSIZE];
	int ncpus;
	bool stop;
	bool pop_in_handler;
	unsigned long handler_pops;
	pthread_t tid[THREADS];
};

static struct stress st;

static unsigned long xorshift(unsigned long *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void take(void *p)
{
	uintptr_t t = (uintptr_t)p;

	if (t < 1 || t > THREADS * OPS)
		__atomic_fetch_add(&st.bad, 1, __ATOMIC_RELAXED);
	else
		__atomic_fetch_add(&st.seen[t - 1], 1, __ATOMIC_RELAXED);
}

static void take_drained(void *p, void *arg)
{
	(void)arg;
	take(p);
}

/* Token i*OPS+k+1 is pushed once by thread i; pops at random between. */
static void *stress_thread(void *arg)
{
	uintptr_t first = (uintptr_t)arg * OPS + 1, next = first;
	unsigned long rng = st.seed ^ ((uintptr_t)arg + 1) * 0x9e3779b97f4a7c15UL;
	unsigned long i = 0;
	void *p;

	xorshift(&rng);
	while (next < first + OPS) {
		if (++i % MIGRATE_EVERY == 0 && st.ncpus > 1)
			pin(st.cpus[xorshift(&rng) % st.ncpus]);
		if (xorshift(&rng) & 1) {
			if (weft_percpu_push(&st.pc, (void *)next))
				take((void *)next);	/* full: keep it */
			next++;
		} else if ((p = weft_percpu_pop(&st.pc))) {
			take(p);
		}
	}
	return NULL;
}

/*
 * In "rseq" mode a signal that lands in a critical section aborts it, and
 * the handler's own pop must not be lost or repeated when the interrupted
 * push or pop starts over. (In "atomic" mode the handler could spin on a
 * lock its own thread holds, so it only interrupts.)
 */
static void on_signal(int sig)
{
	void *p;

	(void)sig;
	if (st.pop_in_handler && (p = weft_percpu_pop(&st.pc))) {
		take(p);
		__atomic_fetch_add(&st.handler_pops, 1, __ATOMIC_RELAXED);
	}
}

/* Signals abort critical sections: the abort path runs all the time. */
static void *pester(void *arg)
{
	unsigned long n = 0;

	(void)arg;
	while (!__atomic_load_n(&st.stop, __ATOMIC_RELAXED)) {
		pthread_kill(st.tid[n++ % THREADS], SIGUSR1);
		sched_yield();
	}
	return NULL;
}

TEST_TIMEOUT(stress_every_token_once, 300)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	const char *s = getenv("WEFT_TEST_SEED");
	unsigned long missing = 0, twice = 0;
	pthread_t pt;

	st.seed = s ? strtoul(s, NULL, 0) : (unsigned long)time(NULL) ^ getpid();
	printf("# seed=%lu (WEFT_TEST_SEED to repeat)\n", st.seed);
	st.ncpus = allowed_cpus(st.cpus);
	ASSERT_GT(st.ncpus, 0);
	st.seen = calloc(THREADS * OPS, 1);
	ASSERT_NE_NULL(st.seen);
	ASSERT_EQ(weft_percpu_init(&st.pc, CAPACITY), 0);
	ASSERT_STREQ(weft_percpu_mode(&st.pc), expected_mode());
	st.pop_in_handler = !strcmp(weft_percpu_mode(&st.pc), "rseq");
	ASSERT_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
	for (uintptr_t i = 0; i < THREADS; i++)
		ASSERT_EQ(pthread_create(&st.tid[i], NULL, stress_thread,
					 (void *)i), 0);
	ASSERT_EQ(pthread_create(&pt, NULL, pester, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		ASSERT_EQ(pthread_join(st.tid[i], NULL), 0);
	__atomic_store_n(&st.stop, true, __ATOMIC_RELAXED);
	ASSERT_EQ(pthread_join(pt, NULL), 0);

	/* Quiescent now: the joins order every push before the drain. */
	printf("# %lu popped by signal handlers, %d left in the cache\n",
	       st.handler_pops, weft_percpu_drain(&st.pc, take_drained, NULL));
	for (unsigned long t = 0; t < THREADS * OPS; t++) {
		missing += st.seen[t] == 0;
		twice += st.seen[t] > 1;
	}
	EXPECT_EQ(st.bad, 0);
	EXPECT_EQ(missing, 0);
	EXPECT_EQ(twice, 0);
	weft_percpu_fini(&st.pc);
	free(st.seen);
}

/* ---- the same with rseq off ---- */

FIXTURE(off) {
	char out[1 << 16];
};

FIXTURE_VARIANT(off) {
	char *env[4];
	bool glibc_off;		/* else glibc registers, weft declines */
};

FIXTURE_VARIANT_ADD(off, glibc_tunable) {
	.env = { "GLIBC_TUNABLES=glibc.pthread.rseq=0",
		 "WEFT_TEST_RSEQ_OFF=glibc", "WEFT_RSEQ", NULL },
	.glibc_off = true,
};

FIXTURE_VARIANT_ADD(off, weft_rseq_0) {
	.env = { "WEFT_RSEQ=0", "WEFT_TEST_RSEQ_OFF=weft", NULL },
};

FIXTURE_SETUP(off)
{
	if (rseq_off_by())
		SKIP(return, "already in a fallback run");
}

FIXTURE_TEARDOWN(off)
{
}

/* Runs this binary again with @env, minus the tests that run it again. */
static int rerun(char *const *env, char *out, size_t len, int *status,
		 const char *only)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *argv[] = { self, "-T", "off", "-T", "bad_weft_rseq",
			 only ? "-t" : NULL, (char *)only, NULL };

	if (n <= 0)
		return -1;
	self[n] = '\0';
	return harness_run_cmd(argv, env, out, len, status);
}

/* An emulator without binfmt_misc (qemu-user) cannot run a child. */
static bool cannot_exec(const char *out, int status)
{
	return WIFEXITED(status) && WEXITSTATUS(status) == 127 &&
	       strstr(out, "harness_run_cmd: cannot execute");
}

TEST_F_TIMEOUT(off, whole_suite, 600)
{
	int status;

	ASSERT_EQ(rerun(variant->env, self->out, sizeof(self->out), &status,
			NULL), 0);
	if (cannot_exec(self->out, status))
		SKIP(return, "cannot run this binary again: %s", self->out);
	if (!WIFEXITED(status) || WEXITSTATUS(status) ||
	    !strstr(self->out, "fail:0 "))
		TH_LOG("%s", self->out);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	/* The mode changed, and by the switch that was thrown. */
	ASSERT_NE_NULL(strstr(self->out, "rseq_on=0 mode=atomic"));
	if (variant->glibc_off)
		ASSERT_NE_NULL(strstr(self->out, "__rseq_size=0 "));
	else if (__rseq_size)
		ASSERT_NULL(strstr(self->out, "__rseq_size=0 "));
	ASSERT_NE_NULL(strstr(self->out, "# Totals: pass:"));
	ASSERT_NE_NULL(strstr(self->out, " fail:0 "));
}

/* A bad WEFT_RSEQ is reported in one line, and rseq stays on. */
TEST(bad_weft_rseq)
{
	char *env[] = { "WEFT_RSEQ=yes", "WEFT_TEST_RSEQ_BAD=1", NULL };
	char out[8192];
	int status;

	if (rseq_off_by())
		SKIP(return, "already in a fallback run");
	ASSERT_EQ(rerun(env, out, sizeof(out), &status, "mode"), 0);
	if (cannot_exec(out, status))
		SKIP(return, "cannot run this binary again: %s", out);
	if (!WIFEXITED(status) || WEXITSTATUS(status) > 0)
		TH_LOG("%s", out);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_NE(WEXITSTATUS(status), KSFT_FAIL);
	ASSERT_NE_NULL(strstr(out,
		"weft: WEFT_RSEQ=\"yes\" is not valid: expected one of 0 or 1\n"));
}

TEST_HARNESS_MAIN
