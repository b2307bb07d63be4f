/* SPDX-License-Identifier: MIT */
/*
 * percpu: a bounded LIFO cache of pointers per possible CPU, the layer
 * under the stack and descriptor caches (tcmalloc's per-CPU slabs, in
 * small). A thread pushes to and pops from the slab of the CPU it runs on;
 * a full or empty slab is a miss and the caller goes to its shared pool.
 *
 * Two implementations; weft_percpu_init() picks one for the cache's
 * lifetime and weft_percpu_mode() names it:
 *
 *  "rseq"    each push or pop is one restartable sequence (x86-64 and
 *	      aarch64 inline asm below). It reads cpu_id after entering the
 *	      critical section, so the slab it touches is the CPU's own; if
 *	      the thread is preempted, migrated or signalled before the
 *	      commit store, the kernel moves it to the abort handler, which
 *	      starts over. No atomic instruction, no fence, and safe from
 *	      signal handlers. cpu_id rather than cpu_id_start: inside the
 *	      section they are equal, and cpu_id is negative for a thread
 *	      whose registration failed, which one unsigned bound check
 *	      turns into a miss. Nothing relies on the kernel rewriting
 *	      either field, and only rseq_cs is ever written.
 *  "atomic"  when rseq is off (rseq.h): the slab of sched_getcpu()'s CPU
 *	      under that slab's spinlock. Correct whichever slab a migrated
 *	      thread picks; not for signal handlers.
 *
 * Concurrency. The slot array pointers, nr_cpus, capacity and rseq are
 * written by init and read-only until fini. A slab's count and slot[] are
 * protected by
 *  - rseq:   the CPU: only code running on that CPU changes them, in a
 *	      critical section that commits with one store (count) or not at
 *	      all. Two threads of one CPU are ordered by the context switch
 *	      between them, and a migrating thread by the migration, so
 *	      there are no barriers; the "memory" clobber keeps the compiler
 *	      from moving the caller's accesses to a pushed object past it.
 *	      Another CPU must not touch the slab: pop_any() and drain() on
 *	      a remote slab need the cache quiescent (teardown).
 *  - atomic: the slab's lock (acquire on taking, release on dropping it
 *	      order the slab and the objects handed over through it).
 */
#ifndef WEFT_LIB_PERCPU_H
#define WEFT_LIB_PERCPU_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"
#include "rseq.h"

#if defined(WEFT_RSEQ_SIG) && !defined(WEFT_TSAN)
#define WEFT_PERCPU_RSEQ	1	/* the asm below exists */
#endif

#define WEFT_PERCPU_MAX_CAPACITY	(1U << 16)

/* One CPU's slab. The asm finds count 8 bytes below slot[0]. */
struct weft_percpu_slab {
	uint32_t count;		/* entries in slot[]; the CPU, or lock */
	uint32_t lock;		/* atomic mode: 0 free, 1 held */
	void *slot[];		/* [capacity]; as count */
};

/* Every field is set by init and read-only until fini. */
struct weft_percpu {
	void ***slot;		/* [cpu]: that CPU's slab's slot[] */
	uint32_t nr_cpus;	/* possible CPUs: every cpu_id is below */
	uint32_t capacity;	/* slots per CPU */
	bool rseq;		/* the implementation */
	void *map;		/* everything above, one mapping */
	size_t map_len;
};

/**
 * weft_percpu_init() - an empty cache of @capacity pointers per CPU.
 *
 * Uses rseq when rseq.h does (weft__rseq_feature) and the architecture
 * has the asm, else atomics.
 *
 * Return: 0, -EINVAL when @capacity is 0 or above
 * WEFT_PERCPU_MAX_CAPACITY, or -ENOMEM.
 */
int weft_percpu_init(struct weft_percpu *pc, unsigned int capacity);

/**
 * weft_percpu_fini() - free the cache. Whatever it still holds is
 * forgotten: drain it first. No other call may run concurrently.
 */
void weft_percpu_fini(struct weft_percpu *pc);

/* weft_percpu_mode() - "rseq" or "atomic", fixed at init. */
const char *weft_percpu_mode(const struct weft_percpu *pc);

/**
 * weft_percpu_pop_any() - an entry from this CPU's slab, or failing that
 * from any other CPU's.
 *
 * In "rseq" mode another CPU's slab may be read only while no thread
 * pushes or pops (teardown, or after joining the users).
 *
 * Return: the entry, or NULL when every slab was empty.
 */
void *weft_percpu_pop_any(struct weft_percpu *pc);

/**
 * weft_percpu_drain() - empty every slab, calling @fn(entry, @arg) for
 * each entry, CPU by CPU, most recent first. Same rule as pop_any().
 *
 * Return: the number of entries drained.
 */
int weft_percpu_drain(struct weft_percpu *pc, void (*fn)(void *p, void *arg),
		      void *arg);

int weft__percpu_push_atomic(struct weft_percpu *pc, void *p);
void *weft__percpu_pop_atomic(struct weft_percpu *pc);

/*
 * The critical sections. Each asm statement holds one, with numeric local
 * labels (so that copies made by inlining do not clash):
 *	0  retry: set rseq_cs to the descriptor (3)
 *	1  start: read cpu_id, index the slab, check it, prepare
 *	   ... the commit: one store of the new count, the last instruction
 *	2  post-commit: the critical section is [1, 2)
 *	3  the descriptor (struct rseq_cs) in section __rseq_cs, and its
 *	   address in __rseq_cs_ptr_array, where debuggers and checkers
 *	   look for every critical section of a binary
 *	4  abort handler in __rseq_failure, after the signature: back to 0
 *	5  the miss exit (bad cpu_id, slab full or empty), which leaves the
 *	   section early and is listed in __rseq_exit_point_array
 * The kernel clears rseq_cs when it aborts or finds the thread outside the
 * section; weft never clears it, the descriptor being static.
 */
#define WEFT__RSEQ_CS_TABLE						\
	".pushsection __rseq_cs, \"aw\"\n\t"				\
	".balign 32\n"							\
	"3:\n\t"							\
	".long 0, 0\n\t"		/* version, flags */		\
	".quad 1f, 2f - 1f, 4f\n\t"	/* start, length, abort */	\
	".popsection\n\t"						\
	".pushsection __rseq_cs_ptr_array, \"aw\"\n\t"			\
	".quad 3b\n\t"							\
	".popsection\n\t"						\
	".pushsection __rseq_exit_point_array, \"aw\"\n\t"		\
	".quad 1f, 5f\n\t"		/* start, exit */		\
	".popsection\n\t"

#if defined(WEFT_PERCPU_RSEQ) && defined(__x86_64__)

#define WEFT__RSEQ_ABORT						\
	".pushsection __rseq_failure, \"ax\"\n\t"			\
	".byte 0x0f, 0xb9, 0x3d\n\t"	/* ud1 sig(%rip), %edi */	\
	".long 0x53053053\n"						\
	"4:\n\t"							\
	"jmp 0b\n\t"							\
	".popsection\n\t"

static inline int weft__percpu_push_rseq(struct weft_percpu *pc, void *p)
{
	unsigned long r, n;
	int ret = -ENOSPC;

	__asm__ __volatile__(
		WEFT__RSEQ_CS_TABLE
		"0:\n\t"
		"leaq 3b(%%rip), %[r]\n\t"
		"movq %[r], %%fs:8(%[off])\n"		/* rseq_cs = &cs */
		"1:\n\t"
		"movl %%fs:4(%[off]), %k[r]\n\t"	/* cpu_id */
		"cmpl %[nr], %k[r]\n\t"			/* also < 0 */
		"jae 5f\n\t"
		"movq (%[slot], %[r], 8), %[r]\n\t"	/* its slot[] */
		"movl -8(%[r]), %k[n]\n\t"		/* count */
		"cmpl %[cap], %k[n]\n\t"
		"jae 5f\n\t"
		"movq %[p], (%[r], %[n], 8)\n\t"	/* slot[count] = p */
		"addl $1, %k[n]\n\t"
		"movl %k[n], -8(%[r])\n"		/* commit: count++ */
		"2:\n\t"
		"xorl %[ret], %[ret]\n"
		"5:\n\t"
		WEFT__RSEQ_ABORT
		: [ret] "+r"(ret), [r] "=&r"(r), [n] "=&r"(n)
		: [off] "r"(__rseq_offset), [slot] "r"(pc->slot),
		  [nr] "r"(pc->nr_cpus), [cap] "r"(pc->capacity), [p] "r"(p)
		: "memory", "cc");
	return ret;
}

static inline void *weft__percpu_pop_rseq(struct weft_percpu *pc)
{
	unsigned long r, n;
	void *ret;

	__asm__ __volatile__(
		WEFT__RSEQ_CS_TABLE
		"0:\n\t"
		"xorl %k[ret], %k[ret]\n\t"		/* NULL if none */
		"leaq 3b(%%rip), %[r]\n\t"
		"movq %[r], %%fs:8(%[off])\n"		/* rseq_cs = &cs */
		"1:\n\t"
		"movl %%fs:4(%[off]), %k[r]\n\t"	/* cpu_id */
		"cmpl %[nr], %k[r]\n\t"			/* also < 0 */
		"jae 5f\n\t"
		"movq (%[slot], %[r], 8), %[r]\n\t"	/* its slot[] */
		"movl -8(%[r]), %k[n]\n\t"		/* count */
		"subl $1, %k[n]\n\t"
		"jb 5f\n\t"				/* was 0: empty */
		"movq (%[r], %[n], 8), %[ret]\n\t"	/* slot[count - 1] */
		"movl %k[n], -8(%[r])\n"		/* commit: count-- */
		"2:\n"
		"5:\n\t"
		WEFT__RSEQ_ABORT
		: [ret] "=&r"(ret), [r] "=&r"(r), [n] "=&r"(n)
		: [off] "r"(__rseq_offset), [slot] "r"(pc->slot),
		  [nr] "r"(pc->nr_cpus)
		: "memory", "cc");
	return ret;
}

#elif defined(WEFT_PERCPU_RSEQ) && defined(__aarch64__)

#define WEFT__RSEQ_ABORT						\
	".pushsection __rseq_failure, \"ax\"\n\t"			\
	".balign 4\n\t"							\
	".inst 0xd428bc00\n"		/* brk #0x45e0 */		\
	"4:\n\t"							\
	"b 0b\n\t"							\
	".popsection\n\t"

static inline int weft__percpu_push_rseq(struct weft_percpu *pc, void *p)
{
	unsigned long r, n, rs;
	int ret = -ENOSPC;

	__asm__ __volatile__(
		WEFT__RSEQ_CS_TABLE
		"mrs %[rs], tpidr_el0\n\t"		/* this thread's */
		"add %[rs], %[rs], %[off]\n"
		"0:\n\t"
		"adrp %[r], 3b\n\t"
		"add %[r], %[r], :lo12:3b\n\t"
		"str %[r], [%[rs], #8]\n"		/* rseq_cs = &cs */
		"1:\n\t"
		"ldr %w[r], [%[rs], #4]\n\t"		/* cpu_id */
		"cmp %w[r], %w[nr]\n\t"			/* also < 0 */
		"b.hs 5f\n\t"
		"ldr %[r], [%[slot], %[r], lsl #3]\n\t"	/* its slot[] */
		"ldur %w[n], [%[r], #-8]\n\t"		/* count */
		"cmp %w[n], %w[cap]\n\t"
		"b.hs 5f\n\t"
		"str %[p], [%[r], %[n], lsl #3]\n\t"	/* slot[n] = p */
		"add %w[n], %w[n], #1\n\t"
		"stur %w[n], [%[r], #-8]\n"		/* commit: count++ */
		"2:\n\t"
		"mov %w[ret], #0\n"
		"5:\n\t"
		WEFT__RSEQ_ABORT
		: [ret] "+r"(ret), [r] "=&r"(r), [n] "=&r"(n), [rs] "=&r"(rs)
		: [off] "r"(__rseq_offset), [slot] "r"(pc->slot),
		  [nr] "r"(pc->nr_cpus), [cap] "r"(pc->capacity), [p] "r"(p)
		: "memory", "cc");
	return ret;
}

static inline void *weft__percpu_pop_rseq(struct weft_percpu *pc)
{
	unsigned long r, n, rs;
	void *ret;

	__asm__ __volatile__(
		WEFT__RSEQ_CS_TABLE
		"mrs %[rs], tpidr_el0\n\t"		/* this thread's */
		"add %[rs], %[rs], %[off]\n"
		"0:\n\t"
		"mov %[ret], xzr\n\t"			/* NULL if none */
		"adrp %[r], 3b\n\t"
		"add %[r], %[r], :lo12:3b\n\t"
		"str %[r], [%[rs], #8]\n"		/* rseq_cs = &cs */
		"1:\n\t"
		"ldr %w[r], [%[rs], #4]\n\t"		/* cpu_id */
		"cmp %w[r], %w[nr]\n\t"			/* also < 0 */
		"b.hs 5f\n\t"
		"ldr %[r], [%[slot], %[r], lsl #3]\n\t"	/* its slot[] */
		"ldur %w[n], [%[r], #-8]\n\t"		/* count */
		"cbz %w[n], 5f\n\t"			/* empty */
		"sub %w[n], %w[n], #1\n\t"
		"ldr %[ret], [%[r], %[n], lsl #3]\n\t"	/* the top one */
		"stur %w[n], [%[r], #-8]\n"		/* commit: count-- */
		"2:\n"
		"5:\n\t"
		WEFT__RSEQ_ABORT
		: [ret] "=&r"(ret), [r] "=&r"(r), [n] "=&r"(n), [rs] "=&r"(rs)
		: [off] "r"(__rseq_offset), [slot] "r"(pc->slot),
		  [nr] "r"(pc->nr_cpus)
		: "memory", "cc");
	return ret;
}

#endif

/**
 * weft_percpu_push() - cache @p on this CPU.
 *
 * Return: 0; -ENOSPC when this CPU's slab is full (or, in "rseq" mode,
 * when this thread has no rseq registration); -EINVAL when @p is NULL.
 */
static inline int weft_percpu_push(struct weft_percpu *pc, void *p)
{
	if (unlikely(!p))
		return -EINVAL;
#ifdef WEFT_PERCPU_RSEQ
	if (likely(pc->rseq))
		return weft__percpu_push_rseq(pc, p);
#endif
	return weft__percpu_push_atomic(pc, p);
}

/**
 * weft_percpu_pop() - the entry last pushed on this CPU.
 *
 * Return: it, or NULL when this CPU's slab is empty (or, in "rseq" mode,
 * this thread has no rseq registration).
 */
static inline void *weft_percpu_pop(struct weft_percpu *pc)
{
#ifdef WEFT_PERCPU_RSEQ
	if (likely(pc->rseq))
		return weft__percpu_pop_rseq(pc);
#endif
	return weft__percpu_pop_atomic(pc);
}

#endif
