// SPDX-License-Identifier: MIT
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "compiler.h"
#include "log.h"
#include "percpu.h"
#include "stack.h"
#include "topo.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL	102	/* Linux 6.13; not in glibc 2.36 */
#endif

#define CHUNK_BYTES	(1UL << 30)	/* one reservation, when it can be had */
#define MAX_CHUNKS	1024
#define CACHE_MAX	64		/* hot stacks per worker and class */
#define PCPU_MAX	64		/* per-CPU layer: stacks per CPU */
#define POOL_WARM	1024		/* pool stacks kept untrimmed, per class */
#define DEEP_MAGIC	0x77656674646565ULL	/* "weftdee" */
#define CANARY_MAGIC	0x7765667463616eULL	/* "weftcan" */

const char *const weft_guard_names[] = {
	"madvise", "mprotect", "canary", "none", NULL,
};

/*
 * Each chunk is made for one node (placed there with mbind) and carved
 * for caches of that node only; index = chunk << chunk_shift | slot.
 */
struct stack_class {
	/* Protects free, nfree, cur and chunk growth. */
	pthread_mutex_t lock;
	/* The shared pool, trimmed stacks, by the node of their chunk. */
	struct weft_stack_free *free[WEFT_TOPO_MAX_NODES];
	unsigned long nfree;
	unsigned int cur[WEFT_TOPO_MAX_NODES];	/* 1 + chunk carved; 0: none */
	unsigned int chunk_shift;	/* log2(stacks per chunk), set once */
	/*
	 * Written under lock, read without it by lookups: a chunk's pointer
	 * and node are stored before nchunks grows past it, a stack's guard
	 * before ncarved[] grows past its slot (release); lookups check
	 * nchunks, then ncarved[] (acquire), first.
	 */
	char *chunk[MAX_CHUNKS];
	uint32_t ncarved[MAX_CHUNKS];	/* stacks carved in each chunk */
	unsigned char node[MAX_CHUNKS];	/* the node each chunk is for */
	uint32_t nchunks;
	/*
	 * The pool's first layer, by node: per-CPU slabs changed only by
	 * restartable sequences (no lock, no atomic instruction). Made once
	 * under lock, published with release, read with acquire.
	 */
	struct weft_percpu *pcpu[WEFT_TOPO_MAX_NODES];
};

/* Whether the per-CPU layer is used: only when rseq is (else the lock). */
static int pcpu_state;		/* 0 unknown, 1 on, -1 off; atomic */

static struct stack_class classes[WEFT_STACK_CLASSES];
enum weft_guard weft_stack_guard_mode;

static void __attribute__((constructor)) classes_init(void)
{
	for (unsigned int i = 0; i < WEFT_STACK_CLASSES; i++)
		pthread_mutex_init(&classes[i].lock, NULL);
}

static bool guard_madvise_works(void)
{
	void *p = mmap(NULL, 2 * WEFT_PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	bool ok;

	if (p == MAP_FAILED)
		return false;
	ok = !madvise(p, WEFT_PAGE, MADV_GUARD_INSTALL);
	munmap(p, 2 * WEFT_PAGE);
	return ok;
}

int weft_stack_init(int want)
{
	if (want < 0)
		want = guard_madvise_works() ? WEFT_GUARD_MADVISE
					     : WEFT_GUARD_MPROTECT;
	else if (want == WEFT_GUARD_MADVISE && !guard_madvise_works())
		return -EOPNOTSUPP;
	weft_stack_guard_mode = want;
	return want;
}

int weft_stack_class(size_t size)
{
	unsigned int cls = 0;

	if (size > weft_stack_class_size(WEFT_STACK_CLASSES - 1))
		return -EINVAL;
	while (weft_stack_class_size(cls) < size)
		cls++;
	return cls;
}

static inline char *slot_base(struct stack_class *c, unsigned int cls,
			      uint32_t index)
{
	return c->chunk[index >> c->chunk_shift] +
	       ((size_t)(index & ((1U << c->chunk_shift) - 1)) << (cls + WEFT_STACK_MIN_SHIFT));
}

/* Whether stack @index of @c was ever carved; lock-free. */
static bool carved(struct stack_class *c, uint32_t index)
{
	uint32_t n = __atomic_load_n(&c->nchunks, __ATOMIC_ACQUIRE);
	uint32_t k = index >> c->chunk_shift;

	return n && k < n && (index & ((1U << c->chunk_shift) - 1)) <
			     __atomic_load_n(&c->ncarved[k], __ATOMIC_ACQUIRE);
}

void *weft_stack_top(unsigned int cls, uint32_t index)
{
	struct stack_class *c;

	if (cls >= WEFT_STACK_CLASSES)
		return NULL;
	c = &classes[cls];
	if (!carved(c, index))
		return NULL;
	return slot_base(c, cls, index) + weft_stack_class_size(cls);
}

unsigned int weft_stack_node(unsigned int cls, uint32_t index)
{
	struct stack_class *c;

	if (cls >= WEFT_STACK_CLASSES)
		return UINT_MAX;
	c = &classes[cls];
	if (!carved(c, index))
		return UINT_MAX;
	return c->node[index >> c->chunk_shift];
}

/* Map a new chunk for @node and make it the one @node carves from. */
static int chunk_add(struct stack_class *c, unsigned int cls, unsigned int node)
{
	size_t size = weft_stack_class_size(cls);
	size_t bytes = c->chunk_shift ? size << c->chunk_shift : CHUNK_BYTES;
	uint32_t n = c->nchunks;
	char *p;

	if (c->chunk_shift && (n >= MAX_CHUNKS ||
	    (n + 1) << c->chunk_shift > 1U << WEFT_STACK_INDEX_BITS))
		return -ENOMEM;
	for (;;) {
		p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p != MAP_FAILED)
			break;
		/* Strict overcommit: settle for a smaller chunk, once. */
		if (c->chunk_shift || bytes == size)
			return -ENOMEM;
		bytes >>= 1;
	}
	/* THP would commit 2 MiB for every 32 barely used stacks. */
	madvise(p, bytes, MADV_NOHUGEPAGE);
	weft_topo_prefer_node(p, bytes, node);
	if (!c->chunk_shift)
		c->chunk_shift = __builtin_ctzl(bytes / size);
	c->chunk[n] = p;
	c->node[n] = node;
	__atomic_store_n(&c->nchunks, n + 1, __ATOMIC_RELEASE);
	c->cur[node] = n + 1;
	return 0;
}

static int guard_install(char *lo)
{
	switch (weft_stack_guard_mode) {
	case WEFT_GUARD_MADVISE:
		return madvise(lo, WEFT_PAGE, MADV_GUARD_INSTALL) ? -errno : 0;
	case WEFT_GUARD_MPROTECT:
		return mprotect(lo, WEFT_PAGE, PROT_NONE) ? -errno : 0;
	default:
		return 0;
	}
}

static inline uint64_t *deep_marker(void *top)
{
	return (uint64_t *)((char *)top - WEFT_PAGE);
}

/* Carve a never-used stack from @node's chunk; called with c->lock. */
static void *carve_locked(struct stack_class *c, unsigned int cls,
			  unsigned int node, uint32_t *index)
{
	size_t size = weft_stack_class_size(cls);
	uint32_t k, slot;
	char *lo;

	if ((!c->cur[node] ||
	     c->ncarved[c->cur[node] - 1] == 1U << c->chunk_shift) &&
	    chunk_add(c, cls, node))
		return NULL;
	k = c->cur[node] - 1;
	slot = c->ncarved[k];
	*index = k << c->chunk_shift | slot;
	lo = slot_base(c, cls, *index);
	if (guard_install(lo))
		return NULL;	/* e.g. vm.max_map_count reached */
	*deep_marker(lo + size) = DEEP_MAGIC;
	/* Publishes the guard to lock-free lookups. */
	__atomic_store_n(&c->ncarved[k], slot + 1, __ATOMIC_RELEASE);
	return lo + size;
}

/* A free stack keeps its link in the last bytes of its top page. */
static inline struct weft_stack_free *free_link(void *top)
{
	return (struct weft_stack_free *)((char *)top - WEFT_STACK_LINK);
}

static inline void *link_top(struct weft_stack_free *l)
{
	return (char *)l + WEFT_STACK_LINK;
}

/* Give back what a deep call chain touched below the top page. */
static void trim(unsigned int cls, void *top)
{
	size_t size = weft_stack_class_size(cls);
	char *lo = (char *)top - size;

	if (*deep_marker(top) == DEEP_MAGIC)
		return;
	madvise(lo + WEFT_PAGE, size - 2 * WEFT_PAGE, MADV_DONTNEED);
	*deep_marker(top) = DEEP_MAGIC;
}

static inline struct weft_stack_free *cache_pop(struct weft_stack_cache *cache,
						unsigned int cls)
{
	struct weft_stack_free *l = cache->head[cls];

	if (l) {
		cache->head[cls] = l->next;
		cache->count[cls]--;
	}
	return l;
}

static inline void cache_push(struct weft_stack_cache *cache, unsigned int cls,
			      struct weft_stack_free *l)
{
	l->next = cache->head[cls];
	cache->head[cls] = l;
	cache->count[cls]++;
}

/*
 * @node's per-CPU layer of class @c, made on first use when @make. NULL
 * when rseq is off: then an atomic slab would cost more than the lock
 * it saves, which is taken once per batch.
 */
static struct weft_percpu *pcpu_of(struct stack_class *c, unsigned int node,
				   bool make)
{
	struct weft_percpu *pc = __atomic_load_n(&c->pcpu[node],
						 __ATOMIC_ACQUIRE);

	if (pc || !make || __atomic_load_n(&pcpu_state, __ATOMIC_RELAXED) < 0)
		return pc;
	pthread_mutex_lock(&c->lock);
	pc = c->pcpu[node];
	if (!pc && (pc = malloc(sizeof(*pc)))) {
		if (weft_percpu_init(pc, PCPU_MAX)) {
			free(pc);
			pc = NULL;
		} else if (strcmp(weft_percpu_mode(pc), "rseq")) {
			__atomic_store_n(&pcpu_state, -1, __ATOMIC_RELAXED);
			weft_percpu_fini(pc);
			free(pc);
			pc = NULL;
		} else {
			__atomic_store_n(&pcpu_state, 1, __ATOMIC_RELAXED);
			__atomic_store_n(&c->pcpu[node], pc, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&c->lock);
	return pc;
}

/* Refill half of @cache from @node's shared pool; called with c->lock. */
static void pool_take_locked(struct stack_class *c,
			     struct weft_stack_cache *cache, unsigned int cls,
			     unsigned int node)
{
	struct weft_stack_free *l;

	while ((l = c->free[node]) && cache->count[cls] < CACHE_MAX / 2) {
		c->free[node] = l->next;
		__atomic_store_n(&c->nfree, c->nfree - 1, __ATOMIC_RELAXED);
		cache_push(cache, cls, l);
	}
}

void *weft_stack_get(struct weft_stack_cache *cache, unsigned int cls,
		     uint32_t *index)
{
	struct stack_class *c = &classes[cls];
	struct weft_stack_free *l = cache_pop(cache, cls);
	struct weft_percpu *pc;
	unsigned int node;
	void *top = NULL;

	if (likely(l)) {
		*index = l->index;
		return link_top(l);
	}
	node = cache->node < WEFT_TOPO_MAX_NODES ? cache->node : 0;
	/* First this CPU's slab of the node's pool: no lock. */
	pc = pcpu_of(c, node, false);
	while (pc && cache->count[cls] < CACHE_MAX / 2 &&
	       (l = weft_percpu_pop(pc)))
		cache_push(cache, cls, l);
	if ((l = cache_pop(cache, cls))) {
		*index = l->index;
		return link_top(l);
	}
	pthread_mutex_lock(&c->lock);
	/* Refill from the node's pool, else carve from the node's chunk... */
	pool_take_locked(c, cache, cls, node);
	l = cache_pop(cache, cls);
	if (!l)
		top = carve_locked(c, cls, node, index);
	/* ...else, out of room for new stacks, any node's will do. */
	for (node = 0; !l && !top && node < WEFT_TOPO_MAX_NODES; node++) {
		pool_take_locked(c, cache, cls, node);
		l = cache_pop(cache, cls);
	}
	if (l) {
		*index = l->index;
		top = link_top(l);
	}
	pthread_mutex_unlock(&c->lock);
	return top;
}

/* Move @n stacks from the cold end of the cache to the shared pool. */
static void cache_spill(struct weft_stack_cache *cache, unsigned int cls,
			unsigned int n)
{
	struct stack_class *c = &classes[cls];
	struct weft_stack_free **keep = &cache->head[cls], *l, *first;
	struct weft_stack_free *rest = NULL;
	unsigned int i;
	bool warm;

	/* The hottest count - n stay; the list's tail goes. */
	for (i = 0; i < cache->count[cls] - n; i++)
		keep = &(*keep)->next;
	first = *keep;
	*keep = NULL;
	cache->count[cls] -= n;
	/*
	 * Each to its chunk's node: this CPU's slab while it has room, as
	 * it is (it will be reused soon); else the pool, trimmed once the
	 * pool holds more than POOL_WARM stacks.
	 */
	warm = __atomic_load_n(&c->nfree, __ATOMIC_RELAXED) < POOL_WARM;
	for (n = 0; (l = first); ) {
		unsigned int node = c->node[l->index >> c->chunk_shift];
		struct weft_percpu *pc = pcpu_of(c, node, true);

		first = l->next;
		if (pc && !weft_percpu_push(pc, l))
			continue;
		if (!warm)
			trim(cls, link_top(l));
		l->next = rest;
		rest = l;
		n++;
	}
	if (!rest)
		return;
	pthread_mutex_lock(&c->lock);
	while ((l = rest)) {
		unsigned int node = c->node[l->index >> c->chunk_shift];

		rest = l->next;
		l->next = c->free[node];
		c->free[node] = l;
	}
	__atomic_store_n(&c->nfree, c->nfree + n, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&c->lock);
}

void weft_stack_put(struct weft_stack_cache *cache, unsigned int cls,
		    void *top, uint32_t index)
{
	struct weft_stack_free *l = free_link(top);

	l->index = index;
	cache_push(cache, cls, l);
	/* The stack just put stays in the cache: it may still be running. */
	if (unlikely(cache->count[cls] > CACHE_MAX))
		cache_spill(cache, cls, CACHE_MAX / 2);
}

void weft_stack_cache_drain(struct weft_stack_cache *cache)
{
	for (unsigned int cls = 0; cls < WEFT_STACK_CLASSES; cls++)
		if (cache->count[cls])
			cache_spill(cache, cls, cache->count[cls]);
}

void *weft_stack_find(const void *addr, unsigned int *clsp, bool *in_guard)
{
	const char *a = addr;

	for (unsigned int cls = 0; cls < WEFT_STACK_CLASSES; cls++) {
		struct stack_class *c = &classes[cls];
		uint32_t n = __atomic_load_n(&c->nchunks, __ATOMIC_ACQUIRE);
		size_t size = weft_stack_class_size(cls);

		for (uint32_t k = 0; k < n; k++) {
			const char *base = c->chunk[k];
			size_t off;

			if (a < base || a >= base + (size << c->chunk_shift))
				continue;
			off = (a - base) & ~(size - 1);
			if (off / size >= __atomic_load_n(&c->ncarved[k],
							  __ATOMIC_ACQUIRE))
				return NULL;
			*clsp = cls;
			*in_guard = (size_t)(a - base) - off < WEFT_PAGE;
			return (char *)base + off + size;
		}
	}
	return NULL;
}

void weft_stack_each(void (*fn)(unsigned int cls, uint32_t index, void *top,
				void *arg), void *arg)
{
	for (unsigned int cls = 0; cls < WEFT_STACK_CLASSES; cls++) {
		struct stack_class *c = &classes[cls];
		uint32_t n = __atomic_load_n(&c->nchunks, __ATOMIC_ACQUIRE);
		uint32_t i, end;

		for (uint32_t k = 0; k < n; k++) {
			i = k << c->chunk_shift;
			end = i + __atomic_load_n(&c->ncarved[k],
						  __ATOMIC_ACQUIRE);
			for (; i < end; i++)
				fn(cls, i, slot_base(c, cls, i) +
				   weft_stack_class_size(cls), arg);
		}
	}
}

static inline uint64_t *canary(unsigned int cls, const void *top)
{
	return (uint64_t *)((char *)top - weft_stack_class_size(cls) +
			    WEFT_PAGE - sizeof(uint64_t));
}

void weft_stack_canary_set(unsigned int cls, void *top)
{
	*canary(cls, top) = CANARY_MAGIC;
}

bool weft_stack_canary_ok(unsigned int cls, const void *top)
{
	return *canary(cls, top) == CANARY_MAGIC;
}

/* Stacks carved so far, all classes, and the bytes they span. */
void weft_stack_usage(uint64_t *stacks, uint64_t *bytes)
{
	uint64_t n = 0, b = 0;

	for (unsigned int i = 0; i < WEFT_STACK_CLASSES; i++) {
		struct stack_class *c = &classes[i];
		uint32_t k, nk = __atomic_load_n(&c->nchunks, __ATOMIC_ACQUIRE);

		for (k = 0; k < nk && k < MAX_CHUNKS; k++) {
			uint32_t m = __atomic_load_n(&c->ncarved[k],
						     __ATOMIC_ACQUIRE);

			n += m;
			b += (uint64_t)m * weft_stack_class_size(i);
		}
	}
	*stacks = n;
	*bytes = b;
}
