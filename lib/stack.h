/* SPDX-License-Identifier: MIT */
/*
 * Stack arena: fixed-size stacks carved from large MAP_NORESERVE
 * reservations, one guard page at the bottom of each, recycled through
 * per-worker caches.
 *
 * Stacks come in power-of-two size classes, WEFT_STACK_MIN (class 0) to
 * WEFT_STACK_MAX. Every stack of a class has an index, so that
 * (class, index) names it for good: its memory is reserved once and never
 * unmapped while the process runs, only trimmed. The top WEFT_STACK_HDR
 * bytes of each stack belong to the caller (the fiber descriptor lives
 * there); the usable stack grows down from below them.
 *
 * Memory: a stack costs its top page while cached "hot". Stacks that
 * overflow a worker's cache go first to a per-CPU slab of the class's
 * shared pool (lib/percpu.h: restartable sequences, no lock; used only
 * when rseq is), then to the pool itself under its lock. Once the pool
 * holds more than 1024 stacks of a class, the pages a deep call chain
 * touched below a stack's top page are given back as it enters
 * (MADV_DONTNEED), unless the "deep" marker at the bottom of the top page
 * shows the stack never went that deep.
 *
 * NUMA: a cache belongs to a node (lib/topo.h); what it takes from the
 * shared pool comes from reservations made for that node and placed on it
 * (MPOL_PREFERRED), while any are left. A stack goes back to the pool of
 * the node it was made for, whichever cache held it last.
 */
#ifndef WEFT_LIB_STACK_H
#define WEFT_LIB_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WEFT_STACK_CLASSES	15	/* 16 KiB .. 256 MiB */
#define WEFT_STACK_MIN_SHIFT	14
#define WEFT_STACK_INDEX_BITS	28
#define WEFT_PAGE		4096UL

enum weft_guard {
	WEFT_GUARD_MADVISE,	/* MADV_GUARD_INSTALL: a PTE marker, no VMA */
	WEFT_GUARD_MPROTECT,	/* PROT_NONE page: 2 VMAs per stack */
	WEFT_GUARD_CANARY,	/* a word checked at every switch-out */
	WEFT_GUARD_NONE,
};

extern const char *const weft_guard_names[];	/* NULL-terminated */

/*
 * A free stack, threaded through the last WEFT_STACK_LINK bytes of its own
 * top page; the caller's header must leave them alone.
 */
struct weft_stack_free {
	struct weft_stack_free *next;
	uint32_t index;
};
#define WEFT_STACK_LINK		16

/* Per-worker cache: touched only by its worker, so it needs no lock. */
struct weft_stack_cache {
	struct weft_stack_free *head[WEFT_STACK_CLASSES];
	unsigned int count[WEFT_STACK_CLASSES];
	unsigned int node;	/* set by the owner before its first get */
};

/*
 * weft_stack_init() - choose the guard mode.
 * @want: the mode asked for, or -1 to pick the best the kernel offers.
 * Returns the mode in use, or -errno when @want cannot be had.
 */
int weft_stack_init(int want);
/* Stacks carved so far (all classes) and the address space they span. */
void weft_stack_usage(uint64_t *stacks, uint64_t *bytes);

/* Set by weft_stack_init() before any stack is handed out. */
extern enum weft_guard weft_stack_guard_mode;
static inline enum weft_guard weft_stack_guard(void)
{
	return weft_stack_guard_mode;
}

/* The class for @size bytes (rounded up to a power of two), or -EINVAL. */
int weft_stack_class(size_t size);
static inline size_t weft_stack_class_size(unsigned int cls)
{
	return 1UL << (cls + WEFT_STACK_MIN_SHIFT);
}

/*
 * weft_stack_get() - a stack of class @cls, from @cache when it can.
 * Returns its top (the end of the caller's header area) and its index
 * in *@index, or NULL when memory ran out.
 */
void *weft_stack_get(struct weft_stack_cache *cache, unsigned int cls,
		     uint32_t *index);
/* weft_stack_put() - give a stack back, as weft_stack_get() returned it. */
void weft_stack_put(struct weft_stack_cache *cache, unsigned int cls,
		    void *top, uint32_t index);
/* weft_stack_cache_drain() - hand every cached stack to the shared pool;
 * none of them may be in use. */
void weft_stack_cache_drain(struct weft_stack_cache *cache);

/* The top of stack (@cls, @index), or NULL when it was never carved. */
void *weft_stack_top(unsigned int cls, uint32_t index);
/* The node stack (@cls, @index) was made for, or UINT_MAX when never carved. */
unsigned int weft_stack_node(unsigned int cls, uint32_t index);

/*
 * weft_stack_find() - which stack holds @addr; async-signal-safe.
 * Returns the stack's top, and whether @addr lies in its guard page.
 */
void *weft_stack_find(const void *addr, unsigned int *cls, bool *in_guard);

/* Calls @fn for every stack ever carved; no stack may be got or put meanwhile. */
void weft_stack_each(void (*fn)(unsigned int cls, uint32_t index, void *top,
				void *arg), void *arg);

/* Canary mode: write and check the word at the bottom of a stack. */
void weft_stack_canary_set(unsigned int cls, void *top);
bool weft_stack_canary_ok(unsigned int cls, const void *top);

#endif
