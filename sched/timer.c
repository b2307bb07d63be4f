// SPDX-License-Identifier: MIT
/*
 * Per-worker timers: a binary min-heap of sleeping fibers keyed on
 * deadline_ns. Only the owning worker touches it. Each fiber records its
 * position (heap_idx) so that a wait can later be removed early.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

static inline bool before(const struct weft_fiber *a,
			  const struct weft_fiber *b)
{
	return a->deadline_ns < b->deadline_ns;
}

static inline void place(struct weft_worker *w, uint32_t i,
			 struct weft_fiber *f)
{
	w->timers[i] = f;
	f->heap_idx = i;
}

static void sift_up(struct weft_worker *w, uint32_t i, struct weft_fiber *f)
{
	while (i) {
		uint32_t parent = (i - 1) / 2;

		if (!before(f, w->timers[parent]))
			break;
		place(w, i, w->timers[parent]);
		i = parent;
	}
	place(w, i, f);
}

static void sift_down(struct weft_worker *w, uint32_t i, struct weft_fiber *f)
{
	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= w->ntimers)
			break;
		if (c + 1 < w->ntimers && before(w->timers[c + 1], w->timers[c]))
			c++;
		if (!before(w->timers[c], f))
			break;
		place(w, i, w->timers[c]);
		i = c;
	}
	place(w, i, f);
}

int weft__timer_add(struct weft_worker *w, struct weft_fiber *f)
{
	if (w->ntimers == w->timers_cap) {
		uint32_t cap = w->timers_cap ? 2 * w->timers_cap : 64;
		void *p = realloc(w->timers, cap * sizeof(*w->timers));

		if (!p)
			return -ENOMEM;
		w->timers = p;
		w->timers_cap = cap;
	}
	f->state = FIBER_SLEEPING;
	sift_up(w, w->ntimers++, f);
	return 0;
}

static struct weft_fiber *timer_pop(struct weft_worker *w)
{
	struct weft_fiber *f = w->timers[0];
	struct weft_fiber *last = w->timers[--w->ntimers];

	if (w->ntimers)
		sift_down(w, 0, last);
	return f;
}

/* Ready every fiber whose deadline is not after @now. */
void weft__timers_run(struct weft_worker *w, uint64_t now)
{
	while (w->ntimers && w->timers[0]->deadline_ns <= now)
		weft__ready(w, timer_pop(w));
}

uint64_t weft__timers_next(const struct weft_worker *w)
{
	return w->ntimers ? w->timers[0]->deadline_ns : UINT64_MAX;
}
