/* SPDX-License-Identifier: MIT */
/*
 * The ping-pong that pingpong_bench and handoff_bench run: two fibers bounce
 * a count through two unbuffered channels of int, the pinger sending even
 * counts on @ping and the ponger answering each with count + 1 on @pong.
 * One send/receive pair is one hand-off. Local: one worker, two fibers.
 * Cross: two workers, the pinger bound to worker 0 and the ponger to
 * worker 1, so every hand-off crosses between threads.
 */
#ifndef WEFT_BENCH_PINGPONG_H
#define WEFT_BENCH_PINGPONG_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <weft.h>

#include "bench.h"

struct pingpong {
	bool cross;
	long warm;		/* hand-offs before the window, even */
	long n;			/* hand-offs in the window, even */
	/* called by the pinger as the window opens (true) and closes */
	void (*window)(struct pingpong *pp, bool open);
	void *priv;		/* for @window */
	unsigned long long ns;	/* the window's length */
	int err;		/* atomic: first failure, -errno or -EPROTO */
	struct weft_chan *ping, *pong;
};

/* About @n hand-offs measured (whole round trips), a tenth more to warm up. */
static inline void pingpong_size(struct pingpong *pp, long n)
{
	pp->n = (n + 1) & ~1L;
	pp->warm = pp->n / 10 > 2 ? (pp->n / 10 + 1) & ~1L : 2;
}

static inline void pingpong_fail(struct pingpong *pp, int err,
				 const char *what)
{
	int none = 0;

	/* the two fibers may fail at once, on two workers: the first says */
	if (__atomic_compare_exchange_n(&pp->err, &none, err, false,
					__ATOMIC_RELAXED, __ATOMIC_RELAXED))
		fprintf(stderr, "pingpong: %s: %s\n", what, strerror(-err));
}

/* Fail and close both channels, so that the other fiber stops waiting. */
static inline void pingpong_abort(struct pingpong *pp, int err,
				  const char *what)
{
	pingpong_fail(pp, err, what);
	weft_chan_close(pp->ping);
	weft_chan_close(pp->pong);
}

/* A bound fiber of a cross run checks that it runs where it was put. */
static inline bool pingpong_placed(struct pingpong *pp, int worker)
{
	int w = weft_worker();

	if (!pp->cross || w == worker)
		return true;
	pingpong_abort(pp, w < 0 ? w : -EPROTO, "fiber on the wrong worker");
	return false;
}

static inline void *pingpong_ponger(void *arg)
{
	struct pingpong *pp = arg;
	int v, err;

	if (!pingpong_placed(pp, 1))
		return NULL;
	for (long i = 0; i < (pp->warm + pp->n) / 2; i++) {
		err = weft_chan_recv(pp->ping, &v);
		if (!err) {
			v++;
			err = weft_chan_send(pp->pong, &v);
		}
		if (err) {
			pingpong_abort(pp, err, "ponger");
			break;
		}
	}
	return NULL;
}

static inline void *pingpong_pinger(void *arg)
{
	struct pingpong *pp = arg;
	unsigned long long t0 = 0;
	int v, w, err;

	if (!pingpong_placed(pp, 0))
		return NULL;
	for (v = 0; v < pp->warm + pp->n; v += 2) {
		if (v == pp->warm) {
			if (pp->window)
				pp->window(pp, true);
			t0 = bench_now_ns();
		}
		err = weft_chan_send(pp->ping, &v);
		if (!err)
			err = weft_chan_recv(pp->pong, &w);
		if (!err && w != v + 1)
			err = -EPROTO;
		if (err) {
			pingpong_abort(pp, err, "pinger");
			return NULL;
		}
	}
	pp->ns = bench_now_ns() - t0;
	if (pp->window)
		pp->window(pp, false);
	return NULL;
}

static inline void *pingpong_main(void *arg)
{
	struct pingpong *pp = arg;
	struct weft_attr attr = { .flags = WEFT_ON_WORKER | WEFT_BOUND };
	const struct weft_attr *a = pp->cross ? &attr : NULL;
	uint64_t pinger, ponger;
	int err;

	err = weft_chan_create(&pp->ping, sizeof(int), 0);
	if (err)
		goto out;
	err = weft_chan_create(&pp->pong, sizeof(int), 0);
	if (err)
		goto out_ping;
	attr.worker = 1;
	err = weft_spawn(&ponger, a, pingpong_ponger, pp);
	if (err)
		goto out_pong;
	attr.worker = 0;
	err = weft_spawn(&pinger, a, pingpong_pinger, pp);
	if (err)
		pingpong_abort(pp, err, "spawn");
	else
		weft_join(pinger, NULL);
	weft_join(ponger, NULL);
out_pong:
	weft_chan_destroy(pp->pong);
out_ping:
	weft_chan_destroy(pp->ping);
out:
	if (err)
		pingpong_fail(pp, err, "setup");
	return NULL;
}

/*
 * pingpong_run() - a whole run: its own runtime of one or two workers.
 * Return: 0, or -errno (a line on stderr says what failed).
 */
static inline int pingpong_run(struct pingpong *pp)
{
	struct weft_rt_attr rt = { .workers = pp->cross ? 2 : 1 };
	int err;

	pp->err = 0;
	err = weft_run(&rt, pingpong_main, pp, NULL);
	if (err)
		pingpong_fail(pp, err, "weft_run");
	return pp->err;
}

#endif
