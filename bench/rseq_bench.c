// SPDX-License-Identifier: MIT
/*
 * rseq: the per-CPU cache's push + pop with rseq critical sections
 * against the atomic fallback (spinlock, sched_getcpu) and against a bare
 * lock xadd, in one thread pinned to its CPU; then reading the current
 * CPU from rseq, sched_getcpu(), getcpu() and the getcpu system call.
 * Implementations alternate, ROUNDS rounds; each line is the median round,
 * in ns per operation (a push, a pop, an xadd or a read), followed by
 * rseq's ratio to each other implementation (< 1: rseq is cheaper).
 *
 * usage: rseq_bench [N]	N push + pop pairs per round (10000000)
 *
 * The atomic cache here runs with glibc's rseq registered, so its
 * sched_getcpu() reads rseq too; with GLIBC_TUNABLES=glibc.pthread.rseq=0
 * it goes through the vDSO, which is what a machine without rseq pays.
 */
#include <sched.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"
#include "lib/percpu.h"
#include "lib/rseq.h"

#define ROUNDS	5

enum { PC_RSEQ, PC_ATOMIC, XADD, NR_OPS };
enum { CPU_RSEQ, CPU_SCHED_GETCPU, CPU_GETCPU, CPU_SYSCALL, NR_CPU };

static const char *const op_name[NR_OPS] = { "rseq", "atomic", "xadd" };
static const char *const cpu_name[NR_CPU] = {
	"rseq", "sched_getcpu", "getcpu", "syscall",
};

static struct weft_percpu caches[2];
static unsigned long counter;
static volatile unsigned long sink;

/* ns per push or pop of @n pairs on @pc; -1 if the cache misbehaves. */
static double time_cache(struct weft_percpu *pc, long n)
{
	static char token;
	unsigned long long t0 = bench_now_ns();

	for (long i = 0; i < n; i++) {
		if (weft_percpu_push(pc, &token) ||
		    weft_percpu_pop(pc) != &token)
			return -1;
	}
	return (double)(bench_now_ns() - t0) / (2.0 * n);
}

static double time_xadd(long n)
{
	unsigned long long t0 = bench_now_ns();
	unsigned long sum = 0;

	for (long i = 0; i < 2 * n; i++)
		sum += __atomic_fetch_add(&counter, 1, __ATOMIC_SEQ_CST);
	sink = sum;
	return (double)(bench_now_ns() - t0) / (2.0 * n);
}

static double time_cpu(int how, long n)
{
	unsigned long long t0 = bench_now_ns();
	unsigned int cpu, node;
	unsigned long sum = 0;

	for (long i = 0; i < n; i++) {
		switch (how) {
		case CPU_RSEQ:
			sum += weft__rseq_read(WEFT_RSEQ_CPU_ID);
			break;
		case CPU_SCHED_GETCPU:
			sum += sched_getcpu();
			break;
		case CPU_GETCPU:
			getcpu(&cpu, &node);
			sum += cpu;
			break;
		default:
			syscall(SYS_getcpu, &cpu, &node, NULL);
			sum += cpu;
			break;
		}
	}
	sink = sum;
	return (double)(bench_now_ns() - t0) / n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * One line per implementation measured (res[i][0] >= 0), the median of
 * its rounds, then the first one's ratio to each of the others.
 */
static void report(const char *bench, const char *const *names, int nr,
		   double (*res)[ROUNDS], const long *n, const char *unit)
{
	double med[8];

	for (int i = 0; i < nr; i++) {
		med[i] = -1;
		if (res[i][0] < 0)
			continue;
		qsort(res[i], ROUNDS, sizeof(res[i][0]), cmp_double);
		med[i] = res[i][ROUNDS / 2];
		printf("bench=%s impl=%s value=%.2f unit=%s n=%ld\n",
		       bench, names[i], med[i], unit, n[i]);
	}
	for (int i = 1; i < nr; i++)
		if (med[0] > 0 && med[i] > 0)
			printf("bench=%s impl=%s/%s value=%.3f unit=ratio\n",
			       bench, names[0], names[i], med[0] / med[i]);
}

int main(int argc, char **argv)
{
	long n = bench_arg(argc, argv, 10000000);
	double ops[NR_OPS][ROUNDS], cpus[NR_CPU][ROUNDS];
	long ops_n[NR_OPS], cpus_n[NR_CPU];
	bool have_rseq;
	cpu_set_t one;

	if (n <= 0)
		return 1;
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	sched_setaffinity(0, sizeof(one), &one);	/* quieter, if allowed */

	have_rseq = weft_rseq_on();
	if (weft_percpu_init(&caches[PC_RSEQ], 64))
		return 1;
	weft_rseq_force_off();		/* the next cache is the fallback */
	if (weft_percpu_init(&caches[PC_ATOMIC], 64))
		return 1;
	printf("# rseq: __rseq_size=%u, caches: %s and %s\n", __rseq_size,
	       weft_percpu_mode(&caches[PC_RSEQ]),
	       weft_percpu_mode(&caches[PC_ATOMIC]));
	if (!caches[PC_RSEQ].rseq)
		printf("# rseq is not in use here: no impl=rseq results\n");

	for (int i = 0; i < NR_OPS; i++)
		ops_n[i] = 2 * n;
	for (int i = 0; i < NR_CPU; i++)
		cpus_n[i] = i == CPU_SYSCALL ? n / 20 : n;
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = PC_RSEQ; i <= PC_ATOMIC; i++) {
			ops[i][r] = -1;
			if (i == PC_RSEQ && !caches[i].rseq)
				continue;
			ops[i][r] = time_cache(&caches[i], n);
			if (ops[i][r] < 0) {
				printf("# the %s cache lost an entry\n",
				       op_name[i]);
				return 1;
			}
		}
		ops[XADD][r] = time_xadd(n);
		for (int i = 0; i < NR_CPU; i++)
			cpus[i][r] = i == CPU_RSEQ && !have_rseq ? -1 :
				     time_cpu(i, cpus_n[i]);
	}
	report("rseq", op_name, NR_OPS, ops, ops_n, "ns/op");
	report("rseq_cpu", cpu_name, NR_CPU, cpus, cpus_n, "ns/call");
	weft_percpu_fini(&caches[PC_RSEQ]);
	weft_percpu_fini(&caches[PC_ATOMIC]);
	return 0;
}
