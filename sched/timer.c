// SPDX-License-Identifier: MIT
/*
 * Per-worker timers: a binary min-heap of (deadline, fiber, wait seq)
 * entries, one per timed wait.
 *
 * A timed wait adds its entry on the worker it parks on; the entry's
 * firing is a CAS on the fiber's wait word from "waiting in wait seq" to
 * "timed out", so an entry that outlived its wait (the fiber was woken
 * first) fails the CAS and is dropped. A fiber woken early removes its own
 * entry, possibly from another worker (it may have moved): that is why the
 * heap has a lock. The lock is taken only by timed waits and by the
 * owner's periodic check when it has timers, never by untimed waits.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

static inline void place(struct weft_timers *t, uint32_t i,
			 const struct weft_timer *e)
{
	t->heap[i] = *e;
	e->f->heap_idx = i;	/* under t->lock; read only under it */
}

static void sift_up(struct weft_timers *t, uint32_t i, struct weft_timer e)
{
	while (i) {
		uint32_t parent = (i - 1) / 2;

		if (t->heap[parent].deadline <= e.deadline)
			break;
		place(t, i, &t->heap[parent]);
		i = parent;
	}
	place(t, i, &e);
}

static void sift_down(struct weft_timers *t, uint32_t i, struct weft_timer e)
{
	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= t->n)
			break;
		if (c + 1 < t->n && t->heap[c + 1].deadline < t->heap[c].deadline)
			c++;
		if (e.deadline <= t->heap[c].deadline)
			break;
		place(t, i, &t->heap[c]);
		i = c;
	}
	place(t, i, &e);
}

static void remove_at(struct weft_timers *t, uint32_t i)
{
	struct weft_timer last = t->heap[--t->n];

	if (i == t->n)
		return;
	if (i && last.deadline < t->heap[(i - 1) / 2].deadline)
		sift_up(t, i, last);
	else
		sift_down(t, i, last);
}

int weft__timer_add(struct weft_worker *w, struct weft_fiber *f,
		    uint64_t deadline, uint64_t seq)
{
	struct weft_timers *t = &w->timers;
	struct weft_timer e = { .deadline = deadline, .f = f, .seq = seq };

	weft_spin_lock(&t->lock);
	if (t->n == t->cap) {
		uint32_t cap = t->cap ? 2 * t->cap : 64;
		void *p = realloc(t->heap, cap * sizeof(*t->heap));

		if (!p) {
			weft_spin_unlock(&t->lock);
			return -ENOMEM;
		}
		t->heap = p;
		t->cap = cap;
	}
	f->timer_w = w;
	sift_up(t, t->n++, e);
	__atomic_store_n(&t->next, t->heap[0].deadline, __ATOMIC_RELAXED);
	weft_spin_unlock(&t->lock);
	return 0;
}

/* @f, woken before its deadline, takes its entry out of the heap. */
void weft__timer_del(struct weft_fiber *f, uint64_t seq)
{
	struct weft_worker *w = f->timer_w;
	struct weft_timers *t = &w->timers;
	uint32_t i;

	weft_spin_lock(&t->lock);
	i = f->heap_idx;
	if (i < t->n && t->heap[i].f == f && t->heap[i].seq == seq)
		remove_at(t, i);
	f->timer_w = NULL;
	__atomic_store_n(&t->next, t->n ? t->heap[0].deadline : UINT64_MAX,
			 __ATOMIC_RELAXED);
	weft_spin_unlock(&t->lock);
}

/* Fire every entry whose deadline is not after @now; ready the fibers. */
void weft__timers_run(struct weft_worker *w, uint64_t now)
{
	struct weft_timers *t = &w->timers;

	if (__atomic_load_n(&t->next, __ATOMIC_RELAXED) > now)
		return;
	weft_spin_lock(&t->lock);
	while (t->n && t->heap[0].deadline <= now) {
		struct weft_timer e = t->heap[0];
		uint64_t word = e.seq << 8 | WAIT_WAITING;

		remove_at(t, 0);
		/*
		 * The CAS decides between this timeout and a waker or a
		 * cancel; acquire pairs with the release in the wait's
		 * commit, so timer_w below is the fiber's current one.
		 */
		if (__atomic_compare_exchange_n(&e.f->wait_word, &word,
						e.seq << 8 | WAIT_TIMEDOUT,
						false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED)) {
			e.f->timer_w = NULL;
			weft__ready_tail(w, e.f);
		}
	}
	__atomic_store_n(&t->next, t->n ? t->heap[0].deadline : UINT64_MAX,
			 __ATOMIC_RELAXED);
	weft_spin_unlock(&t->lock);
}

uint64_t weft__timers_next(struct weft_worker *w)
{
	return __atomic_load_n(&w->timers.next, __ATOMIC_RELAXED);
}
