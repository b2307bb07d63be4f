/* SPDX-License-Identifier: MIT */
/*
 * FIFO wait lists of struct weft_waiter, for sync.c and chan.c. Every
 * function here runs with the owning object's spinlock held.
 *
 * A waiter is unlinked when its ->prev points to itself. Whoever unlinks
 * it leaves that mark, so a waiter that timed out or was cancelled can
 * tell, after relocking, whether a waker took it off the list already
 * (and then failed to claim it). Once unlinked, ->next is free for the
 * waker's own use: a wake_list chains claimed waiters through it.
 */
#ifndef WEFT_SCHED_WAITQ_H
#define WEFT_SCHED_WAITQ_H

#include <stdbool.h>
#include <stddef.h>

#include "internal.h"

struct wq {
	struct weft_waiter *head, *tail;
};

static inline bool wq_empty(const struct wq *q)
{
	return !q->head;
}

static inline bool wq_linked(const struct weft_waiter *wt)
{
	return wt->prev != wt;
}

static inline void wq_push(struct wq *q, struct weft_waiter *wt)
{
	wt->next = NULL;
	wt->prev = q->tail;
	if (q->tail)
		q->tail->next = wt;
	else
		q->head = wt;
	q->tail = wt;
}

static inline void wq_push_head(struct wq *q, struct weft_waiter *wt)
{
	wt->prev = NULL;
	wt->next = q->head;
	if (q->head)
		q->head->prev = wt;
	else
		q->tail = wt;
	q->head = wt;
}

static inline void wq_del(struct wq *q, struct weft_waiter *wt)
{
	if (wt->prev)
		wt->prev->next = wt->next;
	else
		q->head = wt->next;
	if (wt->next)
		wt->next->prev = wt->prev;
	else
		q->tail = wt->prev;
	wt->prev = wt;
}

/*
 * Unlink waiters from the head until one can be claimed; NULL when none
 * can. The caller owes the one returned a weft__wake_finish().
 */
static inline struct weft_waiter *wq_claim(struct wq *q)
{
	struct weft_waiter *wt;

	while ((wt = q->head)) {
		wq_del(q, wt);
		if (weft__wake_claim(wt))
			return wt;
	}
	return NULL;
}

/*
 * Claimed waiters that still need weft__wake_finish(), in the order they
 * were claimed, chained through ->next (free once unlinked).
 */
struct wake_list {
	struct weft_waiter *head, **tail;
};

#define WAKE_LIST(name) struct wake_list name = { NULL, &name.head }

static inline void wake_list_add(struct wake_list *l, struct weft_waiter *wt)
{
	wt->next = NULL;
	*l->tail = wt;
	l->tail = &wt->next;
}

/*
 * Claim every waiter of @q, set each one's result to @result and add it
 * to @l. Returns how many.
 */
static inline unsigned int wq_claim_all(struct wq *q, int result,
					struct wake_list *l)
{
	struct weft_waiter *wt;
	unsigned int n = 0;

	while ((wt = wq_claim(q))) {
		wt->result = result;
		wake_list_add(l, wt);
		n++;
	}
	return n;
}

/* Let every waiter of @l run; call after dropping the lock. */
static inline void wake_list_finish(struct wake_list *l)
{
	struct weft_waiter *wt = l->head;

	while (wt) {
		struct weft_waiter *next = wt->next;	/* read it first */

		weft__wake_finish(wt);
		wt = next;
	}
}

#endif
