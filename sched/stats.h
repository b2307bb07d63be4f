/* SPDX-License-Identifier: MIT */
/*
 * The statistics file a runtime keeps when WEFT_STATS=1, read by
 * tools/weft-stat: a memfd named WEFT_STATS_NAME that the process keeps
 * open (weft-stat opens /proc/<pid>/fd/<n>, which needs the same user or
 * root; nothing is left behind when the process dies), rewritten by the
 * monitor thread every period (10 ms by default) under a sequence count:
 * odd while it writes, so a reader copies, checks that seq did not move,
 * and tries again if it did.
 * Counters are totals since weft_run(); the reader makes rates.
 */
#ifndef WEFT_SCHED_STATS_H
#define WEFT_SCHED_STATS_H

#include <stdint.h>

#define WEFT_STATS_MAGIC	0x5441545354464557ULL	/* "WEFTSTAT" */
#define WEFT_STATS_VERSION	1
#define WEFT_STATS_NAME		"weft-stats"

struct weft_stats_worker {
	uint64_t switches;
	uint64_t spawned;
	uint64_t exited;
	uint64_t steals;
	uint64_t wakes;
	uint64_t sleeps;
	uint64_t spin_yields;
	uint64_t submits;		/* io_uring_enter() calls */
	uint64_t completions;
	uint64_t syscalls;
	uint64_t rescued;
	uint32_t io_parked;		/* fibers parked on I/O now */
	uint32_t runq;			/* runnable in its queues now */
	uint32_t idle;			/* 1: asleep in the kernel */
	uint32_t pad;
};

struct weft_stats_file {
	uint64_t magic;
	uint32_t version;
	uint32_t nworkers;
	uint64_t seq;			/* odd while being written */
	uint64_t time_ns;		/* CLOCK_MONOTONIC of the sample */
	uint64_t pid;
	uint64_t stacks;		/* stacks carved so far */
	uint64_t stack_bytes;		/* the address space they span */
	uint64_t inject;		/* runnable in the shared queue */
	char backend[16];		/* "io_uring" or "epoll" */
	struct weft_stats_worker w[];
};

#endif
