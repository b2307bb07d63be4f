// SPDX-License-Identifier: MIT
/*
 * Channels and select.
 *
 * A channel is a spinlock, a ring of messages, and two FIFO wait lists:
 * senders (waiter.data points at the message) and receivers (waiter.data
 * points where the message goes). Messages are copied exactly once on a
 * rendezvous, straight from the sender's buffer into the receiver's:
 *	- a sender that finds a waiting receiver claims it, copies the
 *	  message into it and wakes it (this is the whole unbuffered hot
 *	  path: lock, unlink, claim, copy, unlock, wake);
 *	- else it puts the message in the ring if there is room;
 *	- else it queues itself and waits for a receiver to take the message
 *	  out of its buffer.
 * A receiver mirrors that: ring first (and then a waiting sender's message
 * moves into the slot it freed, so FIFO order holds), else a waiting
 * sender, else it queues. So receivers wait only while the ring is empty,
 * senders only while it is full, and never both at once.
 *
 * The ring of a bounded channel is allocated at create time. An unbounded
 * one starts empty and doubles when full; the send that finds it full
 * drops the lock around malloc() (select, which holds several locks,
 * allocates with them held) and frees the old ring after unlocking.
 * It never shrinks.
 *
 * Select locks every channel involved in address order (each one once),
 * then tries the cases starting at a random one, so that when several are
 * ready each gets its turn. If none is ready it queues one waiter per case,
 * all led by the first, and waits: a waker's claim is a CAS on the leader,
 * so exactly one case fires, and the leader's ->fired says which. The
 * others are then unlinked under the locks again.
 *
 * close() fails every waiting sender and receiver with -EPIPE. Receivers
 * still drain the ring afterwards.
 *
 * Rejected designs
 *	- Lock-free rings (Vyukov) for buffered channels: the wait lists
 *	  need the lock anyway, and one uncontended lock costs less than the
 *	  extra atomics on every operation.
 *	- A random permutation of the cases per select (Go): a random
 *	  starting point gives each of the ready cases its turn for less.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "internal.h"
#include "waitq.h"

#define ELEM_MAX	65536
#define RING_MIN	16	/* first ring of an unbounded channel */
#define SEL_MAX		64
#define SEL_ONSTACK	8	/* more cases: waiters on the heap */

struct weft_chan {
	/* Protects all but @esize and @cap, which never change. */
	struct weft_spin lock;
	uint32_t esize;			/* bytes per message */
	size_t cap;			/* 0, n or WEFT_CHAN_UNBOUNDED */
	char *buf;			/* ring of @size messages */
	size_t size;
	size_t head;			/* slot of the oldest message */
	size_t len;			/* messages in the ring */
	struct wq sendq;		/* waiter.data: the message */
	struct wq recvq;		/* waiter.data: where it goes */
	bool closed;
} __attribute__((aligned(64)));

static inline void elem_copy(void *dst, const void *src, size_t n)
{
	if (likely(n == 8))
		memcpy(dst, src, 8);
	else if (n == 4)
		memcpy(dst, src, 4);
	else
		memcpy(dst, src, n);
}

static inline void ring_put(struct weft_chan *ch, const void *elem)
{
	size_t i = ch->head + ch->len;

	if (i >= ch->size)
		i -= ch->size;
	elem_copy(ch->buf + i * ch->esize, elem, ch->esize);
	ch->len++;
}

static inline void ring_get(struct weft_chan *ch, void *elem)
{
	elem_copy(elem, ch->buf + ch->head * ch->esize, ch->esize);
	if (++ch->head == ch->size)
		ch->head = 0;
	ch->len--;
}

/*
 * Double the full ring of an unbounded channel, with @ch locked. With
 * @drop, the lock is released around malloc() (and the caller must look
 * at the channel afresh). The old ring goes to *@garbage, for the caller
 * to free after unlocking. Returns 0 or -ENOMEM, with the lock held.
 */
static WEFT_NOINLINE int chan_grow(struct weft_chan *ch, bool drop,
				   void **garbage)
{
	size_t old = ch->size, size = old ? old * 2 : RING_MIN;
	size_t bytes, first;
	char *buf;

	if (__builtin_mul_overflow(size, (size_t)ch->esize, &bytes))
		return -ENOMEM;
	if (drop)
		weft_spin_unlock(&ch->lock);
	buf = malloc(bytes);
	if (drop)
		weft_spin_lock(&ch->lock);
	if (!buf)
		return -ENOMEM;
	if (ch->size != old) {
		/* Somebody grew it meanwhile (sizes only go up). */
		free(buf);
		return 0;
	}
	if (ch->len) {
		first = old - ch->head < ch->len ? old - ch->head : ch->len;
		memcpy(buf, ch->buf + ch->head * ch->esize,
		       first * ch->esize);
		memcpy(buf + first * ch->esize, ch->buf,
		       (ch->len - first) * ch->esize);
	}
	free(*garbage);		/* a second grow in one call: rare */
	*garbage = ch->buf;
	ch->buf = buf;
	ch->size = size;
	ch->head = 0;
	return 0;
}

/*
 * Send @elem if it can be done now, with @ch locked. Returns 0 (and in
 * *@woken a receiver to wake after unlocking, if one took it), -EPIPE
 * when closed, -EAGAIN when it would wait, -ENOBUFS when the unbounded
 * ring must grow first.
 */
static inline int send_locked(struct weft_chan *ch, const void *elem,
			      struct weft_waiter **woken)
{
	struct weft_waiter *wt;

	if (unlikely(ch->closed))
		return -EPIPE;
	if (!wq_empty(&ch->recvq) && (wt = wq_claim(&ch->recvq))) {
		elem_copy(wt->data, elem, ch->esize);
		wt->result = 0;
		*woken = wt;
		return 0;
	}
	if (ch->len < ch->cap) {
		if (unlikely(ch->len == ch->size))
			return -ENOBUFS;
		ring_put(ch, elem);
		return 0;
	}
	return -EAGAIN;
}

/* The receiving side of send_locked(): 0, -EPIPE or -EAGAIN. */
static inline int recv_locked(struct weft_chan *ch, void *elem,
			      struct weft_waiter **woken)
{
	struct weft_waiter *wt;

	if (ch->len) {
		ring_get(ch, elem);
		/* A sender waits only on a full ring: it takes the slot. */
		if (!wq_empty(&ch->sendq) && (wt = wq_claim(&ch->sendq))) {
			ring_put(ch, wt->data);
			wt->result = 0;
			*woken = wt;
		}
		return 0;
	}
	if (!wq_empty(&ch->sendq) && (wt = wq_claim(&ch->sendq))) {
		elem_copy(elem, wt->data, ch->esize);
		wt->result = 0;
		*woken = wt;
		return 0;
	}
	return unlikely(ch->closed) ? -EPIPE : -EAGAIN;
}

/* Queue the caller on @q with @data and wait; called with @ch locked. */
static int chan_wait(struct weft_chan *ch, struct wq *q, void *data,
		     uint64_t deadline)
{
	struct weft_spin *lock = &ch->lock;
	struct weft_waiter wt;
	int st;

	weft__waiter_init(&wt, NULL);
	wt.data = data;
	wq_push(q, &wt);
	st = weft__wait(&wt, &lock, 1, deadline);
	if (likely(st == WAIT_WOKEN))
		return wt.result;
	weft_spin_lock(lock);
	if (wq_linked(&wt))
		wq_del(q, &wt);
	weft_spin_unlock(lock);
	return weft__wait_errno(st);
}

/* Unlock, then free and wake what the operation left, and await. */
static inline int chan_done(struct weft_chan *ch, int ret,
			    struct weft_waiter *woken, void *garbage)
{
	weft_spin_unlock(&ch->lock);
	if (unlikely(garbage))
		free(garbage);
	if (woken)
		weft__wake_finish(woken);
	if (likely(!ret))
		weft__await();
	return ret;
}

/**
 * weft_chan_create() - make a channel
 * @chp:	where to store it
 * @elem_size:	bytes per message (1 .. 65536)
 * @capacity:	messages it buffers: 0 for a rendezvous channel,
 *		WEFT_CHAN_UNBOUNDED for one that never fills
 *
 * A bounded channel's buffer is allocated here; an unbounded one's grows
 * by doubling as it fills, and never shrinks.
 *
 * Return: 0, -EINVAL, -ENOMEM (also when @capacity * @elem_size does not
 * fit in memory).
 */
WEFT_EXPORT int weft_chan_create(struct weft_chan **chp, size_t elem_size,
				 size_t capacity)
{
	struct weft_chan *ch;
	size_t bytes = 0;

	if (!chp || !elem_size || elem_size > ELEM_MAX)
		return -EINVAL;
	if (capacity != WEFT_CHAN_UNBOUNDED &&
	    __builtin_mul_overflow(capacity, elem_size, &bytes))
		return -ENOMEM;
	if (posix_memalign((void **)&ch, _Alignof(struct weft_chan),
			   sizeof(*ch)))
		return -ENOMEM;
	memset(ch, 0, sizeof(*ch));
	ch->esize = elem_size;
	ch->cap = capacity;
	if (bytes) {
		ch->buf = malloc(bytes);
		if (!ch->buf) {
			free(ch);
			return -ENOMEM;
		}
		ch->size = capacity;
	}
	*chp = ch;
	return 0;
}

/**
 * weft_chan_destroy() - free a channel
 * @ch:		the channel, or NULL
 *
 * Nobody may use it any more. Destroying a channel that somebody still
 * waits on is a bug: weft warns once, closes it (the waiters get -EPIPE)
 * and leaks it rather than free memory they will touch.
 */
WEFT_EXPORT void weft_chan_destroy(struct weft_chan *ch)
{
	bool destroyed_with_waiters;

	if (!ch)
		return;
	weft_spin_lock(&ch->lock);
	destroyed_with_waiters = !wq_empty(&ch->sendq) || !wq_empty(&ch->recvq);
	weft_spin_unlock(&ch->lock);
	if (WEFT_WARN_ON_ONCE(destroyed_with_waiters)) {
		weft_chan_close(ch);
		return;
	}
	free(ch->buf);
	free(ch);
}

/**
 * weft_chan_send_until() - send a message
 * @ch:		the channel
 * @elem:	the message (elem_size bytes), copied
 * @deadline_ns: when to give up (0: only if it can be done now)
 *
 * Return: 0 once a receiver has it or it is buffered, -EAGAIN, -EPIPE when
 * @ch is closed (also while waiting), -ETIMEDOUT, -ECANCELED, -EINVAL for
 * a NULL argument, -ENOMEM when an unbounded channel cannot grow.
 */
WEFT_EXPORT int weft_chan_send_until(struct weft_chan *ch, const void *elem,
				     uint64_t deadline_ns)
{
	struct weft_waiter *woken = NULL;
	void *garbage = NULL;
	int ret;

	if (unlikely(!ch || !elem))
		return -EINVAL;
	weft_spin_lock(&ch->lock);
	while (unlikely((ret = send_locked(ch, elem, &woken)) == -ENOBUFS))
		if ((ret = chan_grow(ch, true, &garbage)))
			break;
	if (likely(ret != -EAGAIN) || !deadline_ns)
		return chan_done(ch, ret, woken, garbage);
	return chan_wait(ch, &ch->sendq, (void *)elem, deadline_ns);
}

WEFT_EXPORT int weft_chan_send(struct weft_chan *ch, const void *elem)
{
	return weft_chan_send_until(ch, elem, WEFT_FOREVER);
}

/**
 * weft_chan_recv_until() - receive a message
 * @ch:		the channel
 * @elem:	where to copy it (elem_size bytes)
 * @deadline_ns: when to give up (0: only if it can be done now)
 *
 * Messages buffered before a close are still delivered.
 *
 * Return: 0, -EAGAIN, -EPIPE when @ch is closed and empty, -ETIMEDOUT,
 * -ECANCELED, -EINVAL for a NULL argument.
 */
WEFT_EXPORT int weft_chan_recv_until(struct weft_chan *ch, void *elem,
				     uint64_t deadline_ns)
{
	struct weft_waiter *woken = NULL;
	int ret;

	if (unlikely(!ch || !elem))
		return -EINVAL;
	weft_spin_lock(&ch->lock);
	ret = recv_locked(ch, elem, &woken);
	if (likely(ret != -EAGAIN) || !deadline_ns)
		return chan_done(ch, ret, woken, NULL);
	return chan_wait(ch, &ch->recvq, elem, deadline_ns);
}

WEFT_EXPORT int weft_chan_recv(struct weft_chan *ch, void *elem)
{
	return weft_chan_recv_until(ch, elem, WEFT_FOREVER);
}

/**
 * weft_chan_close() - close a channel
 * @ch:		the channel
 *
 * Waiting senders and receivers get -EPIPE; later receivers drain what is
 * buffered, then get -EPIPE.
 *
 * Return: 0, -EPIPE when already closed, -EINVAL for a NULL @ch.
 */
WEFT_EXPORT int weft_chan_close(struct weft_chan *ch)
{
	WAKE_LIST(woken);

	if (unlikely(!ch))
		return -EINVAL;
	weft_spin_lock(&ch->lock);
	if (ch->closed) {
		weft_spin_unlock(&ch->lock);
		return -EPIPE;
	}
	ch->closed = true;
	wq_claim_all(&ch->sendq, -EPIPE, &woken);
	wq_claim_all(&ch->recvq, -EPIPE, &woken);
	weft_spin_unlock(&ch->lock);
	wake_list_finish(&woken);
	weft__await();
	return 0;
}

/**
 * weft_chan_len() - how many messages a channel buffers now
 * @ch:		the channel
 *
 * Return: the count, a snapshot (0 for a NULL @ch).
 */
WEFT_EXPORT size_t weft_chan_len(struct weft_chan *ch)
{
	size_t n;

	if (unlikely(!ch))
		return 0;
	weft_spin_lock(&ch->lock);
	n = ch->len;
	weft_spin_unlock(&ch->lock);
	return n;
}

/* ---- select ---- */

/*
 * A thread's xorshift64 state. Used only inside sel_random(), which never
 * switches, so a fiber that moves between threads reads the right one.
 */
static WEFT_TLS uint64_t sel_rng;

static WEFT_NOINLINE unsigned int sel_random(unsigned int n)
{
	uint64_t x = sel_rng;

	if (unlikely(!x))
		x = (weft_now_ns() ^ (uintptr_t)&sel_rng) | 1;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	sel_rng = x;
	return (unsigned int)(((x >> 32) * n) >> 32);
}

/* Collect the cases' locks in address order, each once. */
static unsigned int sel_locks(const struct weft_sel *cases, unsigned int n,
			      struct weft_spin **locks)
{
	unsigned int i, j, nl = 0;

	for (i = 0; i < n; i++) {
		struct weft_spin *l;

		if (!cases[i].ch)
			continue;
		l = &cases[i].ch->lock;
		for (j = nl; j && (uintptr_t)locks[j - 1] > (uintptr_t)l; j--)
			;
		if (j && locks[j - 1] == l)
			continue;
		memmove(&locks[j + 1], &locks[j], (nl - j) * sizeof(*locks));
		locks[j] = l;
		nl++;
	}
	return nl;
}

static void lock_all(struct weft_spin **locks, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		weft_spin_lock(locks[i]);
}

static void unlock_all(struct weft_spin **locks, unsigned int n)
{
	while (n--)
		weft_spin_unlock(locks[n]);
}

static inline struct wq *sel_queue(const struct weft_sel *c)
{
	return c->op == WEFT_SEL_SEND ? &c->ch->sendq : &c->ch->recvq;
}

/* One case, if it can be done now, with its channel locked. */
static int sel_try(struct weft_sel *c, struct weft_waiter **woken,
		   void **garbage)
{
	int ret;

	if (!c->ch)
		return -EAGAIN;
	if (c->op == WEFT_SEL_RECV)
		return recv_locked(c->ch, c->elem, woken);
	while ((ret = send_locked(c->ch, c->elem, woken)) == -ENOBUFS)
		if ((ret = chan_grow(c->ch, false, garbage)))
			break;
	return ret;
}

/*
 * Nothing ready: queue a waiter per case, all led by @wt[0], and wait.
 * Called with the @nl @locks held; returns with them released.
 */
static int sel_wait(struct weft_sel *cases, unsigned int n,
		    struct weft_waiter *wt, struct weft_spin **locks,
		    unsigned int nl, uint64_t deadline)
{
	struct weft_waiter *fired;
	unsigned int i, queued = 0;
	int st;

	weft__waiter_init(&wt[0], NULL);
	wt[0].prev = &wt[0];		/* unlinked, for a NULL case 0 */
	for (i = 0; i < n; i++) {
		if (!cases[i].ch)
			continue;
		if (i)
			weft__waiter_init(&wt[i], &wt[0]);
		wt[i].data = cases[i].elem;
		wq_push(sel_queue(&cases[i]), &wt[i]);
		queued++;
	}
	st = weft__wait(&wt[0], locks, nl, deadline);
	/* The case that fired was unlinked by its waker; unlink the rest. */
	if (st != WAIT_WOKEN || queued > 1) {
		lock_all(locks, nl);
		for (i = 0; i < n; i++)
			if (cases[i].ch && wq_linked(&wt[i]))
				wq_del(sel_queue(&cases[i]), &wt[i]);
		unlock_all(locks, nl);
	}
	if (st != WAIT_WOKEN)
		return weft__wait_errno(st);
	fired = wt[0].fired;
	i = fired - wt;
	cases[i].result = fired->result;
	return i;
}

/**
 * weft_select() - do one of several channel operations
 * @cases:	the cases; a case whose channel is NULL never fires
 * @n:		how many (1 .. 64)
 * @deadline_ns: when to give up (0: only a case ready now)
 *
 * When several cases are ready, the one done is picked at random. A case
 * on a closed channel is ready: it fires with result -EPIPE (a receive
 * only once the channel is drained).
 *
 * Return: the index of the case that fired (its @result says how), -EAGAIN
 * (deadline 0 and none ready), -ETIMEDOUT, -ECANCELED, -EINVAL for a bad
 * argument, -ENOMEM when more than 8 cases wait and no memory is left for
 * their waiters, or a send case's unbounded channel cannot grow.
 */
WEFT_EXPORT int weft_select(struct weft_sel *cases, unsigned int n,
			    uint64_t deadline_ns)
{
	struct weft_waiter onstack[SEL_ONSTACK], *wt = onstack;
	struct weft_spin *locks[SEL_MAX];
	struct weft_waiter *woken = NULL;
	void *garbage = NULL;
	unsigned int i, k, nl;
	int ret;

	if (unlikely(!cases || !n || n > SEL_MAX))
		return -EINVAL;
	for (i = 0; i < n; i++)
		if ((cases[i].op != WEFT_SEL_SEND &&
		     cases[i].op != WEFT_SEL_RECV) ||
		    (cases[i].ch && !cases[i].elem))
			return -EINVAL;
	/* Before taking any lock: malloc() may take its own. */
	if (n > SEL_ONSTACK && deadline_ns) {
		wt = malloc(n * sizeof(*wt));
		if (!wt)
			return -ENOMEM;
	}
	nl = sel_locks(cases, n, locks);
	lock_all(locks, nl);
	i = n > 1 ? sel_random(n) : 0;
	for (k = 0; k < n; k++, i = i + 1 == n ? 0 : i + 1) {
		ret = sel_try(&cases[i], &woken, &garbage);
		if (ret == -EAGAIN)
			continue;
		unlock_all(locks, nl);
		free(garbage);
		if (woken)
			weft__wake_finish(woken);
		if (ret == -ENOMEM)
			goto out;
		cases[i].result = ret;
		weft__await();
		ret = i;
		goto out;
	}
	if (!deadline_ns) {
		unlock_all(locks, nl);
		ret = -EAGAIN;
		goto out;
	}
	ret = sel_wait(cases, n, wt, locks, nl, deadline_ns);
out:
	if (wt != onstack)
		free(wt);
	return ret;
}
