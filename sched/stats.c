// SPDX-License-Identifier: MIT
/*
 * WEFT_STATS=1: the monitor publishes every worker's counters in a file
 * that tools/weft-stat maps (layout and protocol: stats.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../lib/log.h"
#include "internal.h"
#include "stats.h"

static size_t file_size(const struct weft_rt *rt)
{
	return sizeof(struct weft_stats_file) +
	       rt->nworkers * sizeof(struct weft_stats_worker);
}

int weft__stats_open(struct weft_rt *rt)
{
	struct weft_stats_file *f;
	size_t size = file_size(rt);
	int fd;

	/* Nameless: nothing is left behind, however the process ends. */
	fd = memfd_create(WEFT_STATS_NAME, MFD_CLOEXEC);
	if (fd < 0) {
		weft_log("WEFT_STATS=1: cannot create the statistics file: %m");
		return -errno;
	}
	if (ftruncate(fd, size)) {
		close(fd);
		return -ENOSPC;
	}
	f = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (f == MAP_FAILED) {
		close(fd);
		return -ENOMEM;
	}
	rt->stats_fd = fd;		/* open: weft-stat finds it in /proc */
	f->version = WEFT_STATS_VERSION;
	f->nworkers = rt->nworkers;
	f->pid = getpid();
	snprintf(f->backend, sizeof(f->backend), "%s",
		 rt->use_uring ? "io_uring" : "epoll");
	/* Release: a reader that sees the magic sees the rest. */
	__atomic_store_n(&f->magic, WEFT_STATS_MAGIC, __ATOMIC_RELEASE);
	rt->stats = f;
	return 0;
}

/* Monitor thread, every period: one consistent sample (seqlock). */
void weft__stats_publish(struct weft_rt *rt, uint32_t (*runq_of)(
				 struct weft_worker *w))
{
	struct weft_stats_file *f = rt->stats;
	uint64_t seq = f->seq;

	/*
	 * The odd seq before the data (a reader's copy fails its check):
	 * acq_rel keeps the stores below after it.
	 */
	__atomic_exchange_n(&f->seq, seq + 1, __ATOMIC_ACQ_REL);
	f->time_ns = weft_now_ns();
	weft_stack_usage(&f->stacks, &f->stack_bytes);
	f->inject = __atomic_load_n(&rt->ninject, __ATOMIC_RELAXED);
	for (unsigned int i = 0; i < rt->nworkers; i++) {
		struct weft_worker *w = &rt->workers[i];
		struct weft_stats_worker *s = &f->w[i];

#define GET(x) __atomic_load_n(&w->x, __ATOMIC_RELAXED)
		s->switches = GET(switches);
		s->spawned = GET(nspawned);
		s->exited = GET(nexited);
		s->steals = GET(nsteals);
		s->wakes = GET(nwakes);
		s->sleeps = GET(nsleeps);
		s->spin_yields = GET(nspins);
		s->submits = GET(nsubmits);
		s->completions = GET(ncompletions);
		s->syscalls = GET(nsyscalls);
		s->rescued = GET(nrescued);
		s->io_parked = GET(inflight) + GET(io_parked);
#undef GET
		s->runq = runq_of(w);
		s->idle = !!(__atomic_load_n(&rt->idle[i / 64],
					     __ATOMIC_RELAXED) &
			     (1ULL << (i % 64)));
	}
	/* The data before the even seq. */
	__atomic_store_n(&f->seq, seq + 2, __ATOMIC_RELEASE);
}

void weft__stats_close(struct weft_rt *rt)
{
	if (!rt->stats)
		return;
	munmap(rt->stats, file_size(rt));
	close(rt->stats_fd);
	rt->stats = NULL;
}
