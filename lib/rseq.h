/* SPDX-License-Identifier: MIT */
/*
 * rseq: the current CPU, NUMA node and concurrency id without a system
 * call, read from the restartable-sequences area that glibc (2.35+)
 * registers for every thread it creates.
 *
 * The area lives at the thread pointer + __rseq_offset. The kernel writes
 * cpu_id_start, cpu_id, node_id and mm_cid whenever the thread returns to
 * user space on a CPU other than the last one, so reading them is one
 * load; user space writes only rseq_cs (lib/percpu.h does, to enter a
 * critical section) and never the fields the kernel owns.
 *
 * glibc 2.36 reports __rseq_size = 20, the original ABI, yet registers 32
 * bytes, and since Linux 6.3 the kernel fills node_id and mm_cid of every
 * registration. So they are read when the kernel's feature size
 * (getauxval(AT_RSEQ_FEATURE_SIZE), 28 on 6.18) covers them: node_id from
 * 24, mm_cid from 28. Fields past 32 bytes would need a larger
 * registration and are not used.
 *
 * Fallback: when glibc did not register (__rseq_size == 0: the tunable
 * GLIBC_TUNABLES=glibc.pthread.rseq=0, valgrind, a kernel before 4.18)
 * or WEFT_RSEQ=0, weft_cpu() is sched_getcpu(), weft_node() is getcpu()
 * and weft_mm_cid() is -1.
 *
 * The choice is made once, by a constructor, before main(): afterwards
 * weft__rseq_feature is read-only, except that weft_rseq_force_off() may
 * clear it before other threads use weft.
 */
#ifndef WEFT_LIB_RSEQ_H
#define WEFT_LIB_RSEQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/rseq.h>

#include "compiler.h"

/*
 * The kernel's struct rseq as of Linux 6.3. The uapi header that ships
 * with glibc 2.36 stops at flags, so the layout is spelled out here.
 */
struct weft_rseq_area {
	uint32_t cpu_id_start;	/* kernel's: a possible CPU, always */
	uint32_t cpu_id;	/* kernel's: current CPU, or -1 / -2 */
	uint64_t rseq_cs;	/* ours: the active critical section, or 0 */
	uint32_t flags;		/* deprecated; never written */
	uint32_t node_id;	/* kernel's, when the feature size >= 24 */
	uint32_t mm_cid;	/* kernel's, when the feature size >= 28 */
};

/* Offsets in struct weft_rseq_area, for asm. */
#define WEFT_RSEQ_CPU_ID	4
#define WEFT_RSEQ_CS		8
#define WEFT_RSEQ_NODE_ID	20
#define WEFT_RSEQ_MM_CID	24

/*
 * The signature the kernel checks in the 4 bytes before an abort handler
 * (glibc registers it as RSEQ_SIG): the operand of "ud1 sig(%rip), %edi"
 * on x86-64, "brk #0x45e0" on aarch64 (code is little-endian even on a
 * big-endian data build, so it is emitted with .inst).
 */
#if defined(__x86_64__)
#define WEFT_RSEQ_SIG		0x53053053
#elif defined(__aarch64__)
#define WEFT_RSEQ_SIG		0xd428bc00
#endif

/*
 * 0 when rseq is not used: glibc did not register, or WEFT_RSEQ=0, or
 * weft_rseq_force_off(). Otherwise the kernel's rseq feature size (at
 * least 20), which says which fields it fills. Set before main().
 */
extern unsigned int weft__rseq_feature;

int weft__cpu_slow(void);
int weft__node_slow(void);

/*
 * This thread's area. The thread pointer is read with a volatile asm, not
 * __builtin_thread_pointer(), which the compiler may reuse across a call:
 * a fiber that switched in that call may have resumed on another thread.
 */
static inline struct weft_rseq_area *weft_rseq_area(void)
{
	char *tp;

#if defined(__x86_64__)
	__asm__ __volatile__("movq %%fs:0, %0" : "=r"(tp));
#elif defined(__aarch64__)
	__asm__ __volatile__("mrs %0, tpidr_el0" : "=r"(tp));
#else
	tp = __builtin_thread_pointer();
#endif
	return (struct weft_rseq_area *)(tp + __rseq_offset);
}

/* A kernel-written field of this thread's area, with one load. */
static inline uint32_t weft__rseq_read(ptrdiff_t field)
{
#if defined(__x86_64__)
	uint32_t v;

	/* %fs: is the thread pointer; one load, not two. */
	__asm__ __volatile__("movl %%fs:(%1), %0"
			     : "=r"(v)
			     : "r"(__rseq_offset + field));
	return v;
#else
	return READ_ONCE(*(uint32_t *)((char *)weft_rseq_area() + field));
#endif
}

/**
 * weft_rseq_init() - check WEFT_RSEQ when a runtime starts.
 *
 * A constructor already took "0" into account; this validates the value
 * (weft_run() checks every WEFT_* variable) and applies a "0" set since.
 *
 * Return: 0, or -EINVAL after one line when WEFT_RSEQ is neither 0 nor 1.
 */
int weft_rseq_init(void);

/**
 * weft_rseq_on() - whether this thread reads its CPU from rseq.
 *
 * Return: true when weft uses rseq (glibc registered it, __rseq_size > 0,
 * and neither WEFT_RSEQ=0 nor weft_rseq_force_off() said otherwise) and
 * this thread's registration holds (cpu_id >= 0).
 */
bool weft_rseq_on(void);

/**
 * weft_rseq_force_off() - use the fallbacks from now on: sched_getcpu(),
 * getcpu(), no mm_cid, and atomic per-CPU caches for those created after.
 *
 * For tests and benchmarks; call it before other threads use weft.
 * Caches created earlier keep their implementation.
 */
void weft_rseq_force_off(void);

/**
 * weft_cpu() - the CPU this thread is running on.
 *
 * Stale as soon as it is returned (the thread may migrate): use it as a
 * hint, or inside an rseq critical section.
 *
 * Return: rseq's cpu_id, else sched_getcpu(), else 0.
 */
static inline int weft_cpu(void)
{
	if (likely(weft__rseq_feature)) {
		int cpu = (int)weft__rseq_read(WEFT_RSEQ_CPU_ID);

		if (likely(cpu >= 0))
			return cpu;
	}
	return weft__cpu_slow();
}

/**
 * weft_node() - the NUMA node of the CPU this thread is running on.
 *
 * Return: rseq's node_id when the kernel fills it, else getcpu()'s node,
 * else 0.
 */
static inline int weft_node(void)
{
	if (likely(weft__rseq_feature >= WEFT_RSEQ_NODE_ID + 4) &&
	    likely((int)weft__rseq_read(WEFT_RSEQ_CPU_ID) >= 0))
		return (int)weft__rseq_read(WEFT_RSEQ_NODE_ID);
	return weft__node_slow();
}

/**
 * weft_mm_cid() - this thread's concurrency id: a number below
 * min(threads, CPUs) that no other running thread of the process holds
 * at the same time, dense where CPU numbers are sparse.
 *
 * Return: rseq's mm_cid when the kernel fills it, else -1.
 */
static inline int weft_mm_cid(void)
{
	if (likely(weft__rseq_feature >= WEFT_RSEQ_MM_CID + 4) &&
	    likely((int)weft__rseq_read(WEFT_RSEQ_CPU_ID) >= 0))
		return (int)weft__rseq_read(WEFT_RSEQ_MM_CID);
	return -1;
}

#endif
