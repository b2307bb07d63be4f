// SPDX-License-Identifier: MIT
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "compiler.h"
#include "log.h"
#include "stack.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL	102	/* Linux 6.13; not in glibc 2.36 */
#endif

#define CHUNK_BYTES	(1UL << 30)	/* one reservation, when it can be had */
#define MAX_CHUNKS	1024
#define CACHE_MAX	64		/* hot stacks per worker and class */
#define DEEP_MAGIC	0x77656674646565ULL	/* "weftdee" */
#define CANARY_MAGIC	0x7765667463616eULL	/* "weftcan" */

const char *const weft_guard_names[] = {
	"madvise", "mprotect", "canary", "none", NULL,
};

struct stack_class {
	/* Protects free, nfree and chunk growth. */
	pthread_mutex_t lock;
	struct weft_stack_free *free;	/* the shared pool, trimmed stacks */
	unsigned long nfree;
	unsigned int chunk_shift;	/* log2(stacks per chunk), set once */
	/*
	 * Written under lock, read without it by lookups: a chunk pointer is
	 * stored before ncarved grows past its first index (release), and
	 * lookups check the index against ncarved (acquire) first.
	 */
	char *chunk[MAX_CHUNKS];
	uint32_t ncarved;
};

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

void *weft_stack_top(unsigned int cls, uint32_t index)
{
	struct stack_class *c;

	if (cls >= WEFT_STACK_CLASSES)
		return NULL;
	c = &classes[cls];
	if (index >= __atomic_load_n(&c->ncarved, __ATOMIC_ACQUIRE))
		return NULL;
	return slot_base(c, cls, index) + weft_stack_class_size(cls);
}

static int chunk_add(struct stack_class *c, unsigned int cls)
{
	size_t size = weft_stack_class_size(cls);
	size_t bytes = c->chunk_shift ? size << c->chunk_shift : CHUNK_BYTES;
	unsigned int n = c->ncarved >> c->chunk_shift;
	char *p;

	if (c->chunk_shift && n >= MAX_CHUNKS)
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
	if (!c->chunk_shift) {
		c->chunk_shift = __builtin_ctzl(bytes / size);
		n = 0;
	}
	c->chunk[n] = p;
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

/* Carve the next never-used stack of the class; called with c->lock. */
static void *carve_locked(struct stack_class *c, unsigned int cls)
{
	uint32_t index = c->ncarved;
	size_t size = weft_stack_class_size(cls);
	uint32_t limit = MAX_CHUNKS << c->chunk_shift;
	char *lo;

	if (c->chunk_shift && limit > 1U << WEFT_STACK_INDEX_BITS)
		limit = 1U << WEFT_STACK_INDEX_BITS;
	if (c->chunk_shift && index >= limit)
		return NULL;
	if ((!c->chunk_shift || !(index & ((1U << c->chunk_shift) - 1))) &&
	    chunk_add(c, cls))
		return NULL;
	lo = slot_base(c, cls, index);
	if (guard_install(lo))
		return NULL;	/* e.g. vm.max_map_count reached */
	*deep_marker(lo + size) = DEEP_MAGIC;
	/* Publishes the chunk pointer and the guard to lock-free lookups. */
	__atomic_store_n(&c->ncarved, index + 1, __ATOMIC_RELEASE);
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

void *weft_stack_get(struct weft_stack_cache *cache, unsigned int cls,
		     uint32_t *index)
{
	struct stack_class *c = &classes[cls];
	struct weft_stack_free *l = cache_pop(cache, cls);
	void *top = NULL;

	if (likely(l)) {
		*index = l->index;
		return link_top(l);
	}
	pthread_mutex_lock(&c->lock);
	/* Refill half a cache from the shared pool, or carve a new one. */
	while (c->free && cache->count[cls] < CACHE_MAX / 2) {
		l = c->free;
		c->free = l->next;
		c->nfree--;
		cache_push(cache, cls, l);
	}
	l = cache_pop(cache, cls);
	if (l) {
		*index = l->index;
		top = link_top(l);
	} else {
		*index = c->ncarved;
		top = carve_locked(c, cls);
	}
	pthread_mutex_unlock(&c->lock);
	return top;
}

/* Move @n stacks from the cold end of the cache to the shared pool. */
static void cache_spill(struct weft_stack_cache *cache, unsigned int cls,
			unsigned int n)
{
	struct stack_class *c = &classes[cls];
	struct weft_stack_free **keep = &cache->head[cls], *l, *first, *last;
	unsigned int i;

	/* The hottest count - n stay; the list's tail goes. */
	for (i = 0; i < cache->count[cls] - n; i++)
		keep = &(*keep)->next;
	first = *keep;
	*keep = NULL;
	cache->count[cls] -= n;
	for (l = first, last = NULL; l; last = l, l = l->next)
		trim(cls, link_top(l));
	pthread_mutex_lock(&c->lock);
	last->next = c->free;
	c->free = first;
	c->nfree += n;
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
		uint32_t n = __atomic_load_n(&c->ncarved, __ATOMIC_ACQUIRE);
		size_t size = weft_stack_class_size(cls);

		if (!n)
			continue;
		for (uint32_t k = 0; k <= (n - 1) >> c->chunk_shift; k++) {
			const char *base = c->chunk[k];
			size_t off;

			if (a < base || a >= base + (size << c->chunk_shift))
				continue;
			off = (a - base) & ~(size - 1);
			if (((k << c->chunk_shift) + (off / size)) >= n)
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
		uint32_t n = __atomic_load_n(&c->ncarved, __ATOMIC_ACQUIRE);

		for (uint32_t i = 0; i < n; i++)
			fn(cls, i, slot_base(c, cls, i) +
			   weft_stack_class_size(cls), arg);
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
