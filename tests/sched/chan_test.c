// SPDX-License-Identifier: MIT
/*
 * Channels and select: rendezvous, bounded and unbounded buffers, close,
 * tries, deadlines, cancels, fairness, OS threads, and a randomised
 * exactly-once stress, on 1, 2 and 4 workers.
 */
#include <errno.h>
#include <string.h>
#include <weft.h>

#include "check.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

FIXTURE(chan) {
	int unused;
};

FIXTURE_VARIANT(chan) {
	unsigned int workers;
};

FIXTURE_VARIANT_ADD(chan, w1) { .workers = 1 };
FIXTURE_VARIANT_ADD(chan, w2) { .workers = 2 };
FIXTURE_VARIANT_ADD(chan, w4) { .workers = 4 };

FIXTURE_SETUP(chan) {}
FIXTURE_TEARDOWN(chan) {}

#define RUN(workers, fn, arg) do {					\
	ASSERT_EQ(run_on(workers, fn, arg), 0);				\
	ASSERT_CHECKS();						\
} while (0)

static struct weft_chan *mk(size_t elem_size, size_t cap)
{
	struct weft_chan *ch = NULL;

	CHECK_EQ(weft_chan_create(&ch, elem_size, cap), 0);
	return ch;
}

/* Each test runs in its own process: these start zeroed every time. */
static struct weft_chan *ca, *cb;
static int thread_done, phase;

/* ---- arguments ---- */

TEST(bad_arguments)
{
	struct weft_chan *ch;
	struct weft_sel sel[65] = { { 0 } };
	long v = 0;

	ASSERT_EQ(weft_chan_create(NULL, 8, 0), -EINVAL);
	ASSERT_EQ(weft_chan_create(&ch, 0, 0), -EINVAL);
	ASSERT_EQ(weft_chan_create(&ch, 65537, 0), -EINVAL);
	ASSERT_EQ(weft_chan_create(&ch, 8, SIZE_MAX / 4), -ENOMEM);
	ASSERT_EQ(weft_chan_create(&ch, 65536, 1), 0);
	weft_chan_destroy(ch);
	weft_chan_destroy(NULL);
	ASSERT_EQ(weft_chan_create(&ch, sizeof(v), 1), 0);
	ASSERT_EQ(weft_chan_send_until(NULL, &v, 0), -EINVAL);
	ASSERT_EQ(weft_chan_send_until(ch, NULL, 0), -EINVAL);
	ASSERT_EQ(weft_chan_recv_until(NULL, &v, 0), -EINVAL);
	ASSERT_EQ(weft_chan_recv_until(ch, NULL, 0), -EINVAL);
	ASSERT_EQ(weft_chan_close(NULL), -EINVAL);
	ASSERT_EQ(weft_chan_len(NULL), 0);

	ASSERT_EQ(weft_select(NULL, 1, 0), -EINVAL);
	ASSERT_EQ(weft_select(sel, 0, 0), -EINVAL);
	for (int i = 0; i < 65; i++)
		sel[i].op = WEFT_SEL_RECV;
	ASSERT_EQ(weft_select(sel, 65, 0), -EINVAL);
	ASSERT_EQ(weft_select(sel, 64, 0), -EAGAIN);	/* all NULL */
	sel[0].op = 3;
	ASSERT_EQ(weft_select(sel, 1, 0), -EINVAL);
	sel[0] = (struct weft_sel){ .ch = ch, .op = WEFT_SEL_SEND };
	ASSERT_EQ(weft_select(sel, 1, 0), -EINVAL);	/* NULL elem */
	weft_chan_destroy(ch);
}

/* Outside any runtime a thread may use channels too. */
TEST(usable_without_a_runtime)
{
	struct weft_chan *ch;
	long v = 5, w = 0;

	ASSERT_EQ(weft_chan_create(&ch, sizeof(v), 2), 0);
	ASSERT_EQ(weft_chan_send(ch, &v), 0);
	ASSERT_EQ(weft_chan_recv(ch, &w), 0);
	ASSERT_EQ(w, 5);
	ASSERT_EQ(weft_chan_recv_until(ch, &w, weft_now_ns() + 1000000),
		  -ETIMEDOUT);
	weft_chan_destroy(ch);
}

/* ---- rendezvous ---- */

#define PP_ROUNDS	20000

static void *ponger(void *arg)
{
	long v;

	(void)arg;
	for (long i = 0; i < PP_ROUNDS; i++) {
		CHECK_EQ(weft_chan_recv(ca, &v), 0);
		CHECK_EQ(v, 2 * i);
		v++;
		CHECK_EQ(weft_chan_send(cb, &v), 0);
	}
	return NULL;
}

static void *pingpong(void *arg)
{
	uint64_t f;
	long v;

	(void)arg;
	ca = mk(sizeof(long), 0);
	cb = mk(sizeof(long), 0);
	f = go(ponger, NULL);
	for (long i = 0; i < PP_ROUNDS; i++) {
		v = 2 * i;
		CHECK_EQ(weft_chan_send(ca, &v), 0);
		CHECK_EQ(weft_chan_recv(cb, &v), 0);
		CHECK_EQ(v, 2 * i + 1);
	}
	join(f);
	CHECK_EQ(weft_chan_len(ca), 0);
	weft_chan_destroy(ca);
	weft_chan_destroy(cb);
	return NULL;
}

TEST_F(chan, unbuffered_pingpong)
{
	RUN(variant->workers, pingpong, NULL);
}

static void *rendezvous_tries(void *arg)
{
	long v = 7;

	(void)arg;
	ca = mk(sizeof(long), 0);
	CHECK_EQ(weft_chan_send_until(ca, &v, 0), -EAGAIN);
	CHECK_EQ(weft_chan_recv_until(ca, &v, 0), -EAGAIN);
	CHECK_EQ(weft_chan_send_until(ca, &v, after_ms(1)), -ETIMEDOUT);
	CHECK_EQ(weft_chan_recv_until(ca, &v, after_ms(1)), -ETIMEDOUT);
	CHECK_EQ(weft_chan_send_until(ca, &v, 1), -ETIMEDOUT);
	CHECK_EQ(weft_chan_recv_until(ca, &v, 1), -ETIMEDOUT);
	/* A sender that gave up left nothing behind. */
	CHECK_EQ(weft_chan_recv_until(ca, &v, 0), -EAGAIN);
	CHECK_EQ(weft_chan_len(ca), 0);
	weft_chan_destroy(ca);
	return NULL;
}

TEST_F(chan, unbuffered_try_and_timeout)
{
	RUN(variant->workers, rendezvous_tries, NULL);
}

/* ---- buffers ---- */

#define BUF_MSGS	1000

static void *buf_sender(void *arg)
{
	for (long i = (long)arg; i < BUF_MSGS; i++)
		CHECK_EQ(weft_chan_send(ca, &i), 0);
	return NULL;
}

static void *bounded(void *arg)
{
	uint64_t f;
	long v;

	(void)arg;
	ca = mk(sizeof(long), 4);
	for (v = 0; v < 4; v++)
		CHECK_EQ(weft_chan_send_until(ca, &v, 0), 0);
	CHECK_EQ(weft_chan_send_until(ca, &v, 0), -EAGAIN);
	CHECK_EQ(weft_chan_send_until(ca, &v, after_ms(1)), -ETIMEDOUT);
	CHECK_EQ(weft_chan_len(ca), 4);
	f = go(buf_sender, (void *)4L);	/* fills it up and waits */
	for (long i = 0; i < BUF_MSGS; i++) {
		CHECK_EQ(weft_chan_recv(ca, &v), 0);
		CHECK_EQ(v, i);
	}
	join(f);
	CHECK_EQ(weft_chan_len(ca), 0);
	CHECK_EQ(weft_chan_recv_until(ca, &v, 0), -EAGAIN);
	weft_chan_destroy(ca);
	return NULL;
}

TEST_F(chan, bounded_fifo_and_full)
{
	RUN(variant->workers, bounded, NULL);
}

#define UNB_MSGS	100000

static void *unbounded(void *arg)
{
	uint64_t f;
	long v;

	(void)arg;
	ca = mk(sizeof(long), WEFT_CHAN_UNBOUNDED);
	CHECK_EQ(weft_chan_recv_until(ca, &v, 0), -EAGAIN);
	/* Wrap the ring before it grows: the order must survive. */
	for (v = 0; v < 10; v++)
		CHECK_EQ(weft_chan_send_until(ca, &v, 0), 0);
	for (long i = 0; i < 7; i++) {
		CHECK_EQ(weft_chan_recv(ca, &v), 0);
		CHECK_EQ(v, i);
	}
	for (v = 10; v < UNB_MSGS; v++)
		CHECK_EQ(weft_chan_send_until(ca, &v, 0), 0);
	CHECK_EQ(weft_chan_len(ca), UNB_MSGS - 7);
	for (long i = 7; i < UNB_MSGS; i++) {
		CHECK_EQ(weft_chan_recv_until(ca, &v, 0), 0);
		CHECK_EQ(v, i);
	}
	CHECK_EQ(weft_chan_len(ca), 0);
	/* A receiver waiting on the empty channel gets the next one. */
	f = go(buf_sender, (void *)(BUF_MSGS - 1));
	CHECK_EQ(weft_chan_recv(ca, &v), 0);
	CHECK_EQ(v, BUF_MSGS - 1);
	join(f);
	weft_chan_destroy(ca);
	return NULL;
}

TEST_F(chan, unbounded_grows_in_order)
{
	RUN(variant->workers, unbounded, NULL);
}

/* Every size is copied whole, both by a rendezvous and by a buffer. */
static size_t esize;

static void fill(unsigned char *p, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed * 31 + i * 7);
}

static void *size_sender(void *arg)
{
	unsigned char *p = malloc(esize);

	(void)arg;
	for (unsigned int k = 0; k < 8; k++) {
		fill(p, esize, k);
		CHECK_EQ(weft_chan_send(k & 1 ? cb : ca, p), 0);
	}
	free(p);
	return NULL;
}

static void *sizes(void *arg)
{
	static const size_t all[] = { 1, 3, 4, 8, 12, 24, 4096, 65536 };
	unsigned char *p, *want;

	(void)arg;
	for (unsigned int s = 0; s < ARRAY_SIZE(all); s++) {
		uint64_t f;

		esize = all[s];
		p = malloc(esize);
		want = malloc(esize);
		ca = mk(esize, 0);
		cb = mk(esize, 3);
		f = go(size_sender, NULL);
		for (unsigned int k = 0; k < 8; k++) {
			memset(p, 0xee, esize);
			CHECK_EQ(weft_chan_recv(k & 1 ? cb : ca, p), 0);
			fill(want, esize, k);
			CHECK_EQ(memcmp(p, want, esize), 0);
		}
		join(f);
		weft_chan_destroy(ca);
		weft_chan_destroy(cb);
		free(p);
		free(want);
	}
	return NULL;
}

TEST_F(chan, every_message_size)
{
	RUN(variant->workers, sizes, NULL);
}

/* ---- close ---- */

static void *blocked_send(void *arg)
{
	long v = 99;

	CHECK_EQ(weft_chan_send((struct weft_chan *)arg, &v), -EPIPE);
	return NULL;
}

static void *blocked_recv(void *arg)
{
	long v;

	CHECK_EQ(weft_chan_recv((struct weft_chan *)arg, &v), -EPIPE);
	return NULL;
}

static void *closing(void *arg)
{
	uint64_t f[3];
	long v;

	(void)arg;
	/* Buffered: drained after the close, then -EPIPE. */
	ca = mk(sizeof(long), 4);
	for (v = 0; v < 3; v++)
		CHECK_EQ(weft_chan_send(ca, &v), 0);
	CHECK_EQ(weft_chan_close(ca), 0);
	CHECK_EQ(weft_chan_close(ca), -EPIPE);
	CHECK_EQ(weft_chan_send_until(ca, &v, 0), -EPIPE);
	CHECK_EQ(weft_chan_send(ca, &v), -EPIPE);
	CHECK_EQ(weft_chan_len(ca), 3);
	for (long i = 0; i < 3; i++) {
		CHECK_EQ(weft_chan_recv(ca, &v), 0);
		CHECK_EQ(v, i);
	}
	CHECK_EQ(weft_chan_recv(ca, &v), -EPIPE);
	CHECK_EQ(weft_chan_recv_until(ca, &v, 0), -EPIPE);
	weft_chan_destroy(ca);

	/* A full buffer: the waiting senders fail, the buffer drains. */
	ca = mk(sizeof(long), 1);
	v = 1;
	CHECK_EQ(weft_chan_send(ca, &v), 0);
	for (int i = 0; i < 3; i++)
		f[i] = go(blocked_send, ca);
	for (int i = 0; i < 10; i++)
		weft_yield();
	CHECK_EQ(weft_chan_close(ca), 0);
	for (int i = 0; i < 3; i++)
		join(f[i]);
	CHECK_EQ(weft_chan_recv(ca, &v), 0);
	CHECK_EQ(v, 1);
	CHECK_EQ(weft_chan_recv(ca, &v), -EPIPE);
	weft_chan_destroy(ca);

	/* Rendezvous: waiting receivers fail, and so do waiting senders. */
	ca = mk(sizeof(long), 0);
	cb = mk(sizeof(long), 0);
	for (int i = 0; i < 3; i++)
		f[i] = go(i ? blocked_recv : blocked_send, i ? ca : cb);
	for (int i = 0; i < 10; i++)
		weft_yield();
	CHECK_EQ(weft_chan_close(ca), 0);
	CHECK_EQ(weft_chan_close(cb), 0);
	for (int i = 0; i < 3; i++)
		join(f[i]);
	weft_chan_destroy(ca);
	weft_chan_destroy(cb);
	return NULL;
}

TEST_F(chan, close_fails_waiters_and_drains)
{
	RUN(variant->workers, closing, NULL);
}

/* ---- cancel ---- */

/* Four channels, so that the cancelled operations cannot meet. */
static struct weft_chan *cc, *cd;

static void *cancelled_op(void *arg)
{
	long v = 1234;
	struct weft_sel sel[2] = {
		{ .ch = cc, .op = WEFT_SEL_RECV, .elem = &v },
		{ .ch = cd, .op = WEFT_SEL_SEND, .elem = &v },
	};

	switch ((long)arg) {
	case 0:
		CHECK_EQ(weft_chan_send(ca, &v), -ECANCELED);
		break;
	case 1:
		CHECK_EQ(weft_chan_recv(cb, &v), -ECANCELED);
		break;
	default:
		CHECK_EQ(weft_select(sel, 2, WEFT_FOREVER), -ECANCELED);
	}
	return NULL;
}

static void *cancels(void *arg)
{
	uint64_t f[3];
	long v;

	(void)arg;
	ca = mk(sizeof(long), 0);
	cb = mk(sizeof(long), 0);
	cc = mk(sizeof(long), 0);
	cd = mk(sizeof(long), 0);
	for (long i = 0; i < 3; i++)
		f[i] = go(cancelled_op, (void *)i);
	for (int i = 0; i < 10; i++)
		weft_yield();
	for (int i = 0; i < 3; i++)
		CHECK_EQ(weft_cancel(f[i]), 0);
	for (int i = 0; i < 3; i++)
		join(f[i]);
	/* Nothing was delivered and nobody is left waiting. */
	CHECK_EQ(weft_chan_recv_until(ca, &v, 0), -EAGAIN);
	CHECK_EQ(weft_chan_send_until(cb, &v, 0), -EAGAIN);
	CHECK_EQ(weft_chan_send_until(cc, &v, 0), -EAGAIN);
	CHECK_EQ(weft_chan_recv_until(cd, &v, 0), -EAGAIN);
	weft_chan_destroy(ca);
	weft_chan_destroy(cb);
	weft_chan_destroy(cc);
	weft_chan_destroy(cd);
	return NULL;
}

TEST_F(chan, cancel_send_recv_select)
{
	RUN(variant->workers, cancels, NULL);
}

/* ---- select ---- */

static void *select_ready(void *arg)
{
	struct weft_chan *n, *un;
	long a = 0, b = 0, v = 42;
	struct weft_sel sel[3];

	(void)arg;
	ca = mk(sizeof(long), 2);
	cb = mk(sizeof(long), 2);
	sel[0] = (struct weft_sel){ .ch = ca, .op = WEFT_SEL_RECV, .elem = &a };
	sel[1] = (struct weft_sel){ .ch = cb, .op = WEFT_SEL_RECV, .elem = &b };
	CHECK_EQ(weft_select(sel, 2, 0), -EAGAIN);
	CHECK_EQ(weft_select(sel, 2, after_ms(1)), -ETIMEDOUT);
	CHECK_EQ(weft_select(sel, 2, 1), -ETIMEDOUT);
	CHECK_EQ(weft_chan_send(cb, &v), 0);
	sel[1].result = 1;
	CHECK_EQ(weft_select(sel, 2, 0), 1);
	CHECK_EQ(sel[1].result, 0);
	CHECK_EQ(b, 42);
	CHECK_EQ(a, 0);

	/* A send case with room fires. */
	sel[1] = (struct weft_sel){ .ch = cb, .op = WEFT_SEL_SEND, .elem = &v };
	CHECK_EQ(weft_select(sel, 2, WEFT_FOREVER), 1);
	CHECK_EQ(weft_chan_len(cb), 1);

	/* A NULL channel never fires. */
	n = NULL;
	sel[2] = (struct weft_sel){ .ch = n, .op = WEFT_SEL_RECV, .elem = &a };
	CHECK_EQ(weft_select(&sel[2], 1, after_ms(1)), -ETIMEDOUT);
	/* An unbounded channel always takes a send. */
	un = mk(sizeof(long), WEFT_CHAN_UNBOUNDED);
	sel[0] = (struct weft_sel){ .ch = un, .op = WEFT_SEL_SEND, .elem = &v };
	for (int i = 0; i < 100; i++)
		CHECK_EQ(weft_select(sel, 1, 0), 0);
	CHECK_EQ(weft_chan_len(un), 100);
	weft_chan_destroy(un);
	weft_chan_destroy(ca);
	weft_chan_destroy(cb);
	return NULL;
}

TEST_F(chan, select_ready_try_timeout)
{
	RUN(variant->workers, select_ready, NULL);
}

#define FAIR_ROUNDS	10000

static void *select_fair(void *arg)
{
	long v = 1, w, hits[2] = { 0, 0 };
	struct weft_sel sel[2];
	struct weft_chan *closed;

	(void)arg;
	/* Two sends that always have room. */
	ca = mk(sizeof(long), WEFT_CHAN_UNBOUNDED);
	cb = mk(sizeof(long), WEFT_CHAN_UNBOUNDED);
	sel[0] = (struct weft_sel){ .ch = ca, .op = WEFT_SEL_SEND, .elem = &v };
	sel[1] = (struct weft_sel){ .ch = cb, .op = WEFT_SEL_SEND, .elem = &v };
	for (int i = 0; i < FAIR_ROUNDS; i++) {
		int r = weft_select(sel, 2, WEFT_FOREVER);

		CHECK(r == 0 || r == 1);
		hits[r & 1]++;
	}
	CHECK(hits[0] >= FAIR_ROUNDS * 3 / 10);
	CHECK(hits[1] >= FAIR_ROUNDS * 3 / 10);
	CHECK_EQ(weft_chan_len(ca), hits[0]);
	CHECK_EQ(weft_chan_len(cb), hits[1]);

	/* A buffered receive and a closed channel, both always ready. */
	closed = mk(sizeof(long), 0);
	CHECK_EQ(weft_chan_close(closed), 0);
	sel[0] = (struct weft_sel){ .ch = ca, .op = WEFT_SEL_RECV, .elem = &w };
	sel[1] = (struct weft_sel){ .ch = closed, .op = WEFT_SEL_RECV,
				    .elem = &w };
	hits[0] = hits[1] = 0;
	for (int i = 0; i < FAIR_ROUNDS; i++) {
		int r = weft_select(sel, 2, 0);

		CHECK(r == 0 || r == 1);
		CHECK_EQ(sel[r & 1].result, r ? -EPIPE : 0);
		hits[r & 1]++;
		if (!r)
			CHECK_EQ(weft_chan_send(ca, &v), 0);	/* refill */
	}
	CHECK(hits[0] >= FAIR_ROUNDS * 3 / 10);
	CHECK(hits[1] >= FAIR_ROUNDS * 3 / 10);
	weft_chan_destroy(closed);
	weft_chan_destroy(ca);
	weft_chan_destroy(cb);
	return NULL;
}

TEST_F(chan, select_picks_at_random)
{
	RUN(variant->workers, select_fair, NULL);
}

static void *send_one(void *arg)
{
	long v = (long)arg;

	CHECK_EQ(weft_chan_send(cb, &v), 0);
	return NULL;
}

static void *recv_one(void *arg)
{
	long v;

	CHECK_EQ(weft_chan_recv(ca, &v), 0);
	CHECK_EQ(v, (long)arg);
	return NULL;
}

static void *close_one(void *arg)
{
	CHECK_EQ(weft_chan_close((struct weft_chan *)arg), 0);
	return NULL;
}

static void *select_waits(void *arg)
{
	long a = -1, b = -1, out = 77, v;
	struct weft_sel sel[2] = {
		{ .ch = NULL, .op = WEFT_SEL_RECV, .elem = &a },
		{ .ch = NULL, .op = WEFT_SEL_RECV, .elem = &b },
	};
	uint64_t f;

	(void)arg;
	ca = mk(sizeof(long), 0);
	cb = mk(sizeof(long), 0);
	/* Receive from whichever gets a sender. */
	sel[0].ch = ca;
	sel[1].ch = cb;
	f = go(send_one, (void *)5L);
	CHECK_EQ(weft_select(sel, 2, WEFT_FOREVER), 1);
	CHECK_EQ(sel[1].result, 0);
	CHECK_EQ(b, 5);
	CHECK_EQ(a, -1);
	join(f);
	/* The case that did not fire left no receiver behind. */
	CHECK_EQ(weft_chan_send_until(ca, &out, 0), -EAGAIN);

	/* Send to whichever gets a receiver. */
	sel[0] = (struct weft_sel){ .ch = ca, .op = WEFT_SEL_SEND,
				    .elem = &out };
	f = go(recv_one, (void *)77L);
	CHECK_EQ(weft_select(sel, 2, WEFT_FOREVER), 0);
	CHECK_EQ(sel[0].result, 0);
	join(f);
	CHECK_EQ(weft_chan_recv_until(ca, &v, 0), -EAGAIN);

	/* A close fires the case with -EPIPE. */
	f = go(close_one, cb);
	CHECK_EQ(weft_select(sel, 2, WEFT_FOREVER), 1);
	CHECK_EQ(sel[1].result, -EPIPE);
	join(f);
	f = go(close_one, ca);
	sel[1].ch = NULL;
	CHECK_EQ(weft_select(sel, 2, WEFT_FOREVER), 0);
	CHECK_EQ(sel[0].result, -EPIPE);
	join(f);
	weft_chan_destroy(ca);
	weft_chan_destroy(cb);
	return NULL;
}

TEST_F(chan, select_waits_for_a_case)
{
	RUN(variant->workers, select_waits, NULL);
}

/* One channel in two cases, and two selects meeting each other. */
static void *select_peer(void *arg)
{
	long v = 11, w = 0;
	struct weft_sel sel[2] = {
		{ .ch = ca, .op = WEFT_SEL_RECV, .elem = &w },
		{ .ch = cb, .op = WEFT_SEL_RECV, .elem = &w },
	};

	if (arg) {
		CHECK_EQ(weft_select(sel, 2, WEFT_FOREVER), 0);
		CHECK_EQ(w, 22);
	} else {
		CHECK_EQ(weft_chan_send(ca, &v), 0);
	}
	return NULL;
}

static void *select_same_channel(void *arg)
{
	long in = 0, out = 22;
	struct weft_sel sel[2] = {
		{ .ch = NULL, .op = WEFT_SEL_RECV, .elem = &in },
		{ .ch = NULL, .op = WEFT_SEL_SEND, .elem = &out },
	};
	uint64_t f;

	(void)arg;
	ca = mk(sizeof(long), 0);
	cb = mk(sizeof(long), 0);
	sel[0].ch = sel[1].ch = ca;
	/* A sender comes: the receive case fires. */
	f = go(select_peer, NULL);
	CHECK_EQ(weft_select(sel, 2, WEFT_FOREVER), 0);
	CHECK_EQ(in, 11);
	join(f);
	/* A select receiving on it comes: the send case fires. */
	f = go(select_peer, (void *)1);
	CHECK_EQ(weft_select(sel, 2, WEFT_FOREVER), 1);
	join(f);
	CHECK_EQ(weft_chan_send_until(ca, &out, 0), -EAGAIN);
	CHECK_EQ(weft_chan_recv_until(ca, &in, 0), -EAGAIN);
	weft_chan_destroy(ca);
	weft_chan_destroy(cb);
	return NULL;
}

TEST_F(chan, select_same_channel_and_select_peers)
{
	RUN(variant->workers, select_same_channel, NULL);
}

#define MANY	20

static void *select_many(void *arg)
{
	struct weft_chan *chs[MANY];
	struct weft_sel sel[MANY];
	long vals[MANY], v = 17;
	uint64_t f;

	(void)arg;
	for (int i = 0; i < MANY; i++) {
		chs[i] = mk(sizeof(long), i % 3 ? 0 : 1);
		vals[i] = -1;
		sel[i] = (struct weft_sel){ .ch = chs[i], .op = WEFT_SEL_RECV,
					    .elem = &vals[i] };
	}
	cb = chs[17];
	f = go(send_one, (void *)v);
	CHECK_EQ(weft_select(sel, MANY, WEFT_FOREVER), 17);
	CHECK_EQ(vals[17], 17);
	join(f);
	CHECK_EQ(weft_select(sel, MANY, after_ms(1)), -ETIMEDOUT);
	for (int i = 0; i < MANY; i++) {
		CHECK_EQ(weft_chan_send_until(chs[i], &v, 0),
			 i % 3 ? -EAGAIN : 0);
		weft_chan_destroy(chs[i]);
	}
	return NULL;
}

TEST_F(chan, select_with_many_cases)
{
	RUN(variant->workers, select_many, NULL);
}

/* ---- OS threads ---- */

#define THR_MSGS	2000

static void *chan_thread(void *arg)
{
	long v, w = 0;
	struct weft_sel sel[2] = {
		{ .ch = ca, .op = WEFT_SEL_RECV, .elem = &w },
		{ .ch = cb, .op = WEFT_SEL_RECV, .elem = &w },
	};

	(void)arg;
	for (long i = 0; i < THR_MSGS; i++) {
		CHECK_EQ(weft_chan_recv(ca, &v), 0);
		CHECK_EQ(v, i);
		v = -i;
		CHECK_EQ(weft_chan_send(cb, &v), 0);
	}
	CHECK_EQ(weft_select(sel, 2, after_ms(1)), -ETIMEDOUT);
	CHECK_EQ(weft_chan_recv_until(ca, &v, after_ms(1)), -ETIMEDOUT);
	__atomic_store_n(&phase, 1, __ATOMIC_RELEASE);
	/* Waits until the fiber closes it. */
	CHECK_EQ(weft_select(sel, 1, WEFT_FOREVER), 0);
	CHECK_EQ(sel[0].result, -EPIPE);
	__atomic_store_n(&thread_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *with_thread(void *arg)
{
	pthread_t t;
	long v;

	(void)arg;
	ca = mk(sizeof(long), 0);
	cb = mk(sizeof(long), 0);
	t = thread_go(chan_thread, NULL);
	for (long i = 0; i < THR_MSGS; i++) {
		CHECK_EQ(weft_chan_send(ca, &i), 0);
		CHECK_EQ(weft_chan_recv(cb, &v), 0);
		CHECK_EQ(v, -i);
	}
	while (!__atomic_load_n(&phase, __ATOMIC_ACQUIRE))
		weft_yield();
	for (int i = 0; i < 100; i++)
		weft_yield();
	CHECK_EQ(weft_chan_close(ca), 0);
	thread_join(t, &thread_done);
	weft_chan_destroy(ca);
	weft_chan_destroy(cb);
	return NULL;
}

TEST_F(chan, pingpong_with_an_os_thread)
{
	RUN(variant->workers, with_thread, NULL);
}

/* ---- destroy with waiters (a bug, handled gently) ---- */

static void *destroy_busy(void *arg)
{
	uint64_t f;

	(void)arg;
	ca = mk(sizeof(long), 0);
	f = go(blocked_recv, ca);
	for (int i = 0; i < 10; i++)
		weft_yield();
	/* Warns once, closes instead of freeing: the waiter gets -EPIPE. */
	weft_chan_destroy(ca);
	join(f);
	return NULL;
}

TEST(destroy_with_a_waiter_closes_and_leaks)
{
	RUN(1, destroy_busy, NULL);
}

/* ---- randomised stress ---- */

/*
 * Producers send unique ids over three channels (rendezvous, bounded,
 * unbounded) by plain sends, sends with short deadlines, and selects;
 * consumers take them by receives and selects; a canceller cancels
 * random fibers. A send that failed was not delivered and is retried, so
 * in the end every id must have arrived exactly once.
 */
#define ST_PRODUCERS	8
#define ST_CONSUMERS	6
#define ST_MSGS		8000
#define ST_IDS		(ST_PRODUCERS * ST_MSGS)
static uint64_t st_seed;
static struct weft_chan *st_ch[3];
static unsigned char st_seen[ST_IDS];
static uint64_t st_fids[ST_PRODUCERS + ST_CONSUMERS];
static struct weft_wg st_producing;
static int st_stop;
static long st_fails;

static int st_send(uint64_t r, long id)
{
	struct weft_sel sel[3];

	switch (r % 4) {
	case 0:
		return weft_chan_send(st_ch[(r >> 2) % 3], &id);
	case 1:
		return weft_chan_send_until(st_ch[(r >> 2) % 3], &id,
					    after_ms((r >> 4) % 2));
	default:
		for (int i = 0; i < 3; i++)
			sel[i] = (struct weft_sel){ .ch = st_ch[i],
						    .op = WEFT_SEL_SEND,
						    .elem = &id };
		return weft_select(sel, 3, r & 1 ? WEFT_FOREVER
						 : after_ms(1)) < 0 ? -1 : 0;
	}
}

static void *st_producer(void *arg)
{
	long base = (long)arg * ST_MSGS;
	uint64_t r = st_seed + (uint64_t)(long)arg * 7919;

	for (long i = 0; i < ST_MSGS; i++) {
		int ret;

		while ((ret = st_send(xorshift(&r), base + i))) {
			CHECK(ret == -ECANCELED || ret == -ETIMEDOUT ||
			      ret == -1);
			__atomic_fetch_add(&st_fails, 1, __ATOMIC_RELAXED);
		}
	}
	CHECK_EQ(weft_wg_done(&st_producing), 0);
	return NULL;
}

static void st_got(long id)
{
	CHECK(id >= 0 && id < ST_IDS);
	if (id >= 0 && id < ST_IDS)
		CHECK_EQ(__atomic_fetch_add(&st_seen[id], 1,
					    __ATOMIC_RELAXED), 0);
}

static void *st_consumer(void *arg)
{
	uint64_t r = st_seed ^ ((uint64_t)(long)arg << 32);
	struct weft_sel sel[3];
	int open = 3;
	long id;

	for (int i = 0; i < 3; i++)
		sel[i] = (struct weft_sel){ .ch = st_ch[i],
					    .op = WEFT_SEL_RECV, .elem = &id };
	while (open) {
		uint64_t x = xorshift(&r);
		int ret;

		if (x % 3 == 0 && sel[x / 3 % 3].ch) {
			ret = weft_chan_recv_until(sel[x / 3 % 3].ch, &id,
						   after_ms(1));
			if (!ret)
				st_got(id);
			else
				CHECK(ret == -ETIMEDOUT || ret == -ECANCELED ||
				      ret == -EPIPE);
			continue;
		}
		ret = weft_select(sel, 3, x & 8 ? WEFT_FOREVER : after_ms(1));
		if (ret < 0) {
			CHECK(ret == -ETIMEDOUT || ret == -ECANCELED);
			continue;
		}
		if (!sel[ret].result) {
			st_got(id);
		} else {
			CHECK_EQ(sel[ret].result, -EPIPE);
			sel[ret].ch = NULL;	/* closed and drained */
			open--;
		}
	}
	return NULL;
}

static void *st_canceller(void *arg)
{
	uint64_t r = st_seed ^ 0xabcdef;

	(void)arg;
	while (!__atomic_load_n(&st_stop, __ATOMIC_ACQUIRE)) {
		weft_cancel(st_fids[xorshift(&r) %
				    (ST_PRODUCERS + ST_CONSUMERS)]);
		for (int i = 0; i < 4; i++)
			weft_yield();
	}
	return NULL;
}

static void *chan_stress(void *arg)
{
	uint64_t c;

	(void)arg;
	st_ch[0] = mk(sizeof(long), 0);
	st_ch[1] = mk(sizeof(long), 8);
	st_ch[2] = mk(sizeof(long), WEFT_CHAN_UNBOUNDED);
	CHECK_EQ(weft_wg_add(&st_producing, ST_PRODUCERS), 0);
	for (long i = 0; i < ST_CONSUMERS; i++)
		st_fids[ST_PRODUCERS + i] = go(st_consumer, (void *)i);
	for (long i = 0; i < ST_PRODUCERS; i++)
		st_fids[i] = go(st_producer, (void *)i);
	c = go(st_canceller, NULL);
	CHECK_EQ(weft_wg_wait(&st_producing), 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(weft_chan_close(st_ch[i]), 0);
	for (int i = 0; i < ST_PRODUCERS + ST_CONSUMERS; i++)
		join(st_fids[i]);
	__atomic_store_n(&st_stop, 1, __ATOMIC_RELEASE);
	join(c);
	for (long id = 0; id < ST_IDS; id++)
		if (st_seen[id] != 1)
			CHECK_EQ(st_seen[id], 1);
	for (int i = 0; i < 3; i++)
		weft_chan_destroy(st_ch[i]);
	return NULL;
}

TEST_F(chan, stress_exactly_once_with_cancels)
{
	st_seed = test_seed();
	RUN(variant->workers, chan_stress, NULL);
	TH_LOG("%d messages, %ld failed sends retried", ST_IDS, st_fails);
}

TEST_HARNESS_MAIN
