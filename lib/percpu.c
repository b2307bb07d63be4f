// SPDX-License-Identifier: MIT
/*
 * percpu: set-up, the atomic implementation and teardown; the rseq fast
 * paths are inline in percpu.h, which explains both.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "percpu.h"

#define SLAB_ALIGN	128	/* 2 lines: adjacent-line prefetch */
#define MAX_CPUS	(1U << 16)

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/*
 * The highest possible CPU + 1, from /sys/devices/system/cpu/possible
 * ("0-63", "0,2-5"): every cpu_id the kernel can report is below it,
 * including CPUs hot-plugged later. 0 when it cannot be read.
 */
static unsigned int possible_from_sysfs(void)
{
	char buf[256], *p, *end;
	unsigned long v, max = 0;
	bool any = false;
	ssize_t len;
	int fd;

	fd = open("/sys/devices/system/cpu/possible", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return 0;
	buf[len] = '\0';
	/* Only the last number of the list matters; every one is checked. */
	for (p = buf; *p >= '0' && *p <= '9'; p = end + 1) {
		v = strtoul(p, &end, 10);
		if (end == p || v >= MAX_CPUS)
			return 0;
		max = v > max ? v : max;
		any = true;
		if (*end != ',' && *end != '-')
			break;
	}
	return any ? max + 1 : 0;
}

static unsigned int possible_cpus(void)
{
	int saved_errno = errno;	/* open() and sysconf() may set it */
	unsigned int n = possible_from_sysfs();
	long conf;

	if (!n) {
		conf = sysconf(_SC_NPROCESSORS_CONF);
		n = conf > 0 && conf < MAX_CPUS ? conf : CPU_SETSIZE;
	}
	errno = saved_errno;
	return n;
}

static inline struct weft_percpu_slab *slab_of(void **slot)
{
	return (struct weft_percpu_slab *)((char *)slot -
		offsetof(struct weft_percpu_slab, slot));
}

int weft_percpu_init(struct weft_percpu *pc, unsigned int capacity)
{
	size_t stride, table, len;
	unsigned int nr, cpu;
	char *map;
	int saved_errno = errno;

	if (!pc || !capacity || capacity > WEFT_PERCPU_MAX_CAPACITY)
		return -EINVAL;
	nr = possible_cpus();
	stride = align_up(sizeof(struct weft_percpu_slab) +
			  (size_t)capacity * sizeof(void *), SLAB_ALIGN);
	table = align_up(nr * sizeof(void **), SLAB_ALIGN);
	len = table + nr * stride;
	map = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED) {
		errno = saved_errno;
		return -ENOMEM;
	}
	memset(pc, 0, sizeof(*pc));
	pc->slot = (void ***)map;
	for (cpu = 0; cpu < nr; cpu++) {
		struct weft_percpu_slab *s;

		s = (struct weft_percpu_slab *)(map + table + cpu * stride);
		pc->slot[cpu] = s->slot;
	}
	pc->nr_cpus = nr;
	pc->capacity = capacity;
	pc->map = map;
	pc->map_len = len;
#ifdef WEFT_PERCPU_RSEQ
	pc->rseq = weft__rseq_feature != 0;
#endif
	return 0;
}

void weft_percpu_fini(struct weft_percpu *pc)
{
	if (pc->map)
		munmap(pc->map, pc->map_len);
	memset(pc, 0, sizeof(*pc));
}

const char *weft_percpu_mode(const struct weft_percpu *pc)
{
	return pc->rseq ? "rseq" : "atomic";
}

/* ---- the atomic implementation ---- */

/*
 * The holder may be a preempted thread of this very CPU: spin a while,
 * then give it the CPU. Acquire pairs with the release in slab_unlock():
 * the previous holder's writes to the slab, and to the objects it pushed,
 * are visible to the next.
 */
static void slab_lock(struct weft_percpu_slab *s)
{
	unsigned int n = 0;

	while (__atomic_exchange_n(&s->lock, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&s->lock, __ATOMIC_RELAXED))
			if (++n & 255)
				weft_cpu_relax();
			else
				sched_yield();
}

static void slab_unlock(struct weft_percpu_slab *s)
{
	__atomic_store_n(&s->lock, 0, __ATOMIC_RELEASE);
}

/*
 * Any slab is correct here (its lock protects it); the current CPU's is
 * merely the one likely to be cache-hot.
 */
static struct weft_percpu_slab *this_slab(struct weft_percpu *pc)
{
	unsigned int cpu = weft_cpu();

	if (unlikely(cpu >= pc->nr_cpus))
		cpu %= pc->nr_cpus;
	return slab_of(pc->slot[cpu]);
}

int weft__percpu_push_atomic(struct weft_percpu *pc, void *p)
{
	struct weft_percpu_slab *s = this_slab(pc);
	int ret = -ENOSPC;

	slab_lock(s);
	if (s->count < pc->capacity) {
		s->slot[s->count++] = p;
		ret = 0;
	}
	slab_unlock(s);
	return ret;
}

static void *slab_pop_locked(struct weft_percpu_slab *s)
{
	return s->count ? s->slot[--s->count] : NULL;
}

void *weft__percpu_pop_atomic(struct weft_percpu *pc)
{
	struct weft_percpu_slab *s = this_slab(pc);
	void *p;

	slab_lock(s);
	p = slab_pop_locked(s);
	slab_unlock(s);
	return p;
}

/* ---- teardown ---- */

/*
 * Another CPU's slab. In "atomic" mode under its lock; in "rseq" mode the
 * caller guarantees no thread uses the cache, so its own synchronisation
 * (a join, say) orders the last critical sections before these accesses.
 */
static void *slab_pop_remote(struct weft_percpu *pc, unsigned int cpu)
{
	struct weft_percpu_slab *s = slab_of(pc->slot[cpu]);
	void *p;

	if (pc->rseq)
		return slab_pop_locked(s);
	slab_lock(s);
	p = slab_pop_locked(s);
	slab_unlock(s);
	return p;
}

void *weft_percpu_pop_any(struct weft_percpu *pc)
{
	void *p = weft_percpu_pop(pc);
	unsigned int cpu;

	for (cpu = 0; !p && cpu < pc->nr_cpus; cpu++)
		p = slab_pop_remote(pc, cpu);
	return p;
}

int weft_percpu_drain(struct weft_percpu *pc, void (*fn)(void *p, void *arg),
		      void *arg)
{
	unsigned int cpu;
	int n = 0;
	void *p;

	for (cpu = 0; cpu < pc->nr_cpus; cpu++) {
		while ((p = slab_pop_remote(pc, cpu))) {
			if (fn)
				fn(p, arg);
			n++;
		}
	}
	return n;
}
