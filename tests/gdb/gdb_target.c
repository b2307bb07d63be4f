// SPDX-License-Identifier: MIT
/*
 * gdb_target.c - the program tests/gdb/gdb_test.sh debugs: a runtime whose
 * named fibers are parked in known functions when gdb_stop_here() is
 * called, and a fiber that aborts right after.
 *
 * Spawn is work-first: a child runs at once and parks before its spawner
 * resumes, so when the first fiber reaches gdb_stop_here() every child is
 * parked, with no sleep to wait for it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "weft.h"

static struct weft_chan *never;
/* For the test to name fibers by id; not static, so gdb finds them. */
uint64_t sleeper_id, receiver_id;

/* Where gdb stops; noinline and with a body, so a breakpoint lands. */
__attribute__((noinline)) void gdb_stop_here(void);
__attribute__((noinline)) void gdb_stop_here(void)
{
	__asm__ volatile("" ::: "memory");
}

static __attribute__((noinline)) void *sleeper_fn(void *arg)
{
	(void)arg;
	weft_sleep_ns(3600ULL * 1000000000);
	return NULL;
}

static __attribute__((noinline)) void *receiver_fn(void *arg)
{
	int v;

	(void)arg;
	weft_chan_recv(never, &v);
	return NULL;
}

static __attribute__((noinline)) void *crasher_fn(void *arg)
{
	(void)arg;
	abort();
}

static int spawn_named(uint64_t *fid, const char *name, void *(*fn)(void *))
{
	struct weft_attr a = { .name = name, .flags = WEFT_DETACHED };

	return weft_spawn(fid, &a, fn, NULL);
}

static void *main_fn(void *arg)
{
	(void)arg;
	if (weft_chan_create(&never, sizeof(int), 0) ||
	    spawn_named(&sleeper_id, "gdb-sleeper", sleeper_fn) ||
	    spawn_named(&receiver_id, "gdb-receiver", receiver_fn))
		abort();
	gdb_stop_here();
	spawn_named(NULL, "gdb-crasher", crasher_fn);
	return NULL;
}

int main(void)
{
	struct weft_rt_attr ra = { .workers = 2 };
	int ret = weft_run(&ra, main_fn, NULL, NULL);

	fprintf(stderr, "weft_run: %d\n", ret);
	return 1;
}
