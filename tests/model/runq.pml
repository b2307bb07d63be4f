/* SPDX-License-Identifier: MIT */
/*
 * runq.pml - a worker's stealable ring (sched/core.c, "runq": runq_put(),
 * runq_spill(), runq_get(), runq_pop_tail(), runq_grab()) with its owner
 * and NTHIEF thieves (2).
 *
 * The owner pushes NPUSH fibers (3; -DNPUSH=5 overflows the ring) and,
 * in any order, takes from the head (runq_get()) or the newest from the
 * tail (runq_pop_tail(), after an exit). Each thief steals half the ring
 * NSTEAL times (runq_grab(); the monitor's rescue() is one more thief).
 * The ring has RUNQ_SIZE 4 slots here (256 in C): the index arithmetic is
 * the same modulo the size, and 4 already lets a thief take two of three.
 *
 * The head word q->hg is one int here, as in C one uint64_t: the head
 * in the low part, the owner's tail-pop count above it (CNT1 below
 * stands for 1ULL << 32). Every CAS compares the whole word and keeps
 * the count (HG(h, hg)); only runq_pop_tail() adds to the count.
 *
 * The code modelled (sched/core.c at 0cfedc3, line numbers):
 *	runq_put() 306	load hg (acquire) 311; slot_set 315; store tail
 *			(release) 317; a full ring: runq_spill() 286, the
 *			batch read 294, CAS hg h -> h + 2 (count kept) 295.
 *	runq_get() 326	load hg 329; tail == head: empty 343; slot 345;
 *			CAS hg h -> h + 1, on failure the new hg 346. (The
 *			one-worker path 332 has no thieves: not modelled.)
 *	runq_pop_tail() 367
 *			t = tail, h = head 370; empty 374; store tail t - 1
 *			(relaxed) 377; hg = add_fetch(&q->hg, 1 << 32,
 *			SEQ_CST) 379: the count, and the store-load barrier
 *			(an RMW drains the store buffer); slot t 383;
 *			t - h > 0: ours, no CAS 384; t == h: CAS hg h -> h + 1
 *			from the RMW's value 388, then tail t + 1 393;
 *			t < h: stolen, tail = h 396. (With one worker, 381,
 *			nobody steals: not modelled.)
 *	runq_grab() 404	load hg (acquire) 413, then tail (acquire) 415,
 *			no barrier; t == h: nothing 418; n = (t - h) -
 *			(t - h) / 2, nothing 422, over half: read apart,
 *			again 424; the batch 427; CAS hg h -> h + n with the
 *			count it read 428.
 * Callers: pick_slow() 938 (pop_tail after an exit) and 943, pick() 975
 * (runq_get), weft__ready() (runq_put), runq_steal() 440 and rescue()
 * 1924 (runq_grab).
 *
 * Why the count: a thief's batch is [h, h + (T - h + 1) / 2) for the
 * tail T it read, and the owner may pop twice (two exits in a row)
 * between that thief's load of tail and its CAS (-DOLD_BUG below). Each
 * pop adds to the count after lowering the tail, so a thief that loaded
 * hg before the pop fails its CAS and looks again; one that loaded hg
 * after it sees the lowered tail (the RMW made the tail store visible
 * first, and the thief loads hg before tail), so its batch ends below
 * the slot the pop took.
 *
 * Checked (safety): every fiber pushed is taken exactly once (by the
 * owner, a thief, or runq_spill() moving it to inject): never twice
 * (taken[] at each take), never lost (after the thieves are done the
 * owner drains the ring and every fiber has been taken).
 * Checked (liveness, run.sh -l): no cycle without progress, under weak
 * fairness: a thief's retry (a lost CAS, or tail below head while the
 * owner's pop_tail is in flight) always ends.
 *
 * Variants:
 *	(none)		the code as written (since 0cfedc3).
 *	-DSB		store buffers (memory.h): the owner's stores of tail
 *			and slots wait in its buffer; its RMW and CASes drain
 *			it first.
 *	-DBROKEN=1	runq_pop_tail() without the RMW: a plain load of hg
 *			after the tail store (the count never moves). Two
 *			pops under a thief's batch take a fiber twice, with
 *			or without -DSB. Expected to FAIL.
 *	-DBROKEN=2	the RMW relaxed: it may act before the tail store
 *			has left the store buffer (arm64's ldadd without the
 *			release half; x86's lock xadd is always a full
 *			barrier). Two pops: a thief reads the new count and
 *			the old tail. Expected to FAIL with -DSB (and to hold
 *			without it).
 *	-DBROKEN=3	runq_grab() loads tail before hg (the order the
 *			acquire on hg keeps on arm64): two pops fall between
 *			the loads. Expected to FAIL.
 *	-DOLD_BUG	the code before 0cfedc3: no count, the pop's light
 *			barrier, the thief's heavy barrier and second load of
 *			tail. Expected to FAIL (the bug 0cfedc3 fixed): the
 *			ring holds a, b, c; a thief loads head 0, tail 3:
 *			n = 2, slots 0 and 1 (a, b); the owner pops c (tail 2,
 *			2 > 0), then b (tail 1, 1 > 0), both without a CAS;
 *			the thief's CAS 0 -> 2 succeeds: b runs twice.
 */

#ifndef NPUSH
#define NPUSH	3
#endif
#ifndef NTHIEF
#define NTHIEF	2
#endif
#ifndef NSTEAL
#define NSTEAL	2
#endif
#ifndef BROKEN
#define BROKEN	0
#endif
#define SIZE	4		/* RUNQ_SIZE */

#define T_O	0		/* the owner */
#define T_T(i)	(1 + (i))	/* thief i */
#define NT	(1 + NTHIEF)

#define W_HG	0		/* q->hg: CAS by everyone, add by the owner */
#define W_TAIL	1		/* q->tail: stored by the owner only */
#define W_SLOT(i) (2 + (i) % SIZE)	/* q->buf[i % RUNQ_SIZE] */
#define NV	(2 + SIZE)

/* hg's two halves: heads stay below NPUSH + 1 here, so 16 is plenty. */
#define CNT1		16			/* 1ULL << 32 */
#define HG_HEAD(x)	((x) % CNT1)		/* HG_HEAD(hg) */
#define HG(h, x)	((x) - (x) % CNT1 + (h))	/* HG(head, hg) */
#if NPUSH >= CNT1
#error "heads would overflow into the count"
#endif

#include "memory.h"

byte taken[NPUSH + 1];		/* fiber f (1..NPUSH) taken so many times */
byte thieves_done;

/* Fiber f is someone's now: only once. */
inline TAKE(f)
{
	d_step {
		assert(f >= 1 && f <= NPUSH);
		assert(taken[f] == 0);
		taken[f] = 1
	}
}

/* CAS(&q->hg, &hg, HG(nh, hg)) by thread tid: won says if it did. */
inline CAS_HG(tid, nh)
{
	d_step {
		DRAIN(tid);
		if
		:: mem[W_HG] == hg -> mem[W_HG] = HG(nh, hg); won = 1
		:: else -> won = 0
		fi
	}
}

/*
 * runq_put(w, f): the owner queues f at the tail; a full ring moves half
 * of itself and f to inject (runq_spill()).
 */
inline PUT(f)
{
	do
	:: d_step {
			LD(T_O, W_HG, hg);	/* load(&q->hg, ACQUIRE) */
			h = HG_HEAD(hg)
		};
		LD(T_O, W_TAIL, t);	/* t = q->tail (its own) */
		if
		:: t - h < SIZE ->
			ST(T_O, W_SLOT(t), f);	/* slot_set(q, t, f) */
			ST(T_O, W_TAIL, t + 1);	/* store(&q->tail, t + 1, RELEASE) */
			break
		:: else ->
			/* runq_spill(w, f, hg): batch[i] = slot_get(q, h + i) */
			LD(T_O, W_SLOT(h), b0);
			LD(T_O, W_SLOT(h + 1), b1);
			CAS_HG(T_O, h + SIZE / 2);	/* n = RUNQ_SIZE / 2 */
			if
			:: won ->
				/* inject_push(w->rt, batch[0], f, n + 1) */
				TAKE(b0);
				TAKE(b1);
				TAKE(f);
				break
			:: else -> skip	/* a thief raced: try again */
			fi
		fi
	od;
	atomic { h = 0; t = 0; hg = 0; b0 = 0; b1 = 0; won = 0 }
}

/* runq_get(w) with several workers: the head, by CAS. */
inline GET(f)
{
	LD(T_O, W_HG, hg);		/* hg = load(&q->hg, ACQUIRE) */
	do
	:: d_step {
			h = HG_HEAD(hg);
			LD(T_O, W_TAIL, t)	/* q->tail (its own) */
		};
		if
		:: h == t -> f = 0; break	/* if (h == q->tail) NULL */
		:: else -> skip
		fi;
		LD(T_O, W_SLOT(h), f);	/* f = slot_get(q, h) */
		/* CAS(&q->hg, &hg, HG(h + 1, hg)): on failure, the new hg */
		d_step {
			DRAIN(T_O);
			if
			:: mem[W_HG] == hg -> mem[W_HG] = HG(h + 1, hg); won = 1
			:: else -> hg = mem[W_HG]; won = 0
			fi
		};
		if
		:: won -> break
		:: else -> skip
		fi
	od;
	atomic { h = 0; t = 0; hg = 0; won = 0 }
}

/* runq_pop_tail(w): the newest, from the tail. */
inline POP_TAIL(f)
{
	LD(T_O, W_TAIL, t);		/* t = q->tail */
	d_step {
		LD(T_O, W_HG, hg);	/* h = runq_head(q): acquire */
		h = HG_HEAD(hg)
	};
	if
	:: t == h -> f = 0		/* empty */
	:: else ->
		t--;
		ST(T_O, W_TAIL, t);	/* store(&q->tail, t, RELAXED) */
#if defined(OLD_BUG)
		/*
		 * weft__light_barrier(), head: with membarrier a compiler
		 * barrier only; the thief's heavy barrier stood for it.
		 */
		d_step {
			LIGHT_BARRIER(T_O);
			LD(T_O, W_HG, hg);
			h = HG_HEAD(hg)
		};
#elif BROKEN == 1
		d_step {
			LD(T_O, W_HG, hg);	/* a plain load, no count */
			h = HG_HEAD(hg)
		};
#elif BROKEN == 2
		d_step {
			/* Relaxed: the tail store may still be buffered. */
			mem[W_HG] = mem[W_HG] + CNT1;
			hg = mem[W_HG];
			h = HG_HEAD(hg)
		};
#else
		/*
		 * hg = add_fetch(&q->hg, 1 << 32, SEQ_CST): drains the
		 * buffer (the tail store first), then counts this pop.
		 */
		d_step {
			DRAIN(T_O);
			mem[W_HG] = mem[W_HG] + CNT1;
			hg = mem[W_HG];
			h = HG_HEAD(hg)
		};
#endif
		LD(T_O, W_SLOT(t), f);	/* f = slot_get(q, t) */
		if
		:: t - h > 0 -> skip	/* no batch can reach it: ours */
		:: t == h ->
			/* The last one: a thief may be taking it too. */
			CAS_HG(T_O, h + 1);
			ST(T_O, W_TAIL, t + 1);	/* store(&q->tail, t + 1, RELEASE) */
			if
			:: won -> skip
			:: else -> f = 0
			fi
		:: t - h < 0 ->
			ST(T_O, W_TAIL, h);	/* stolen: store(&q->tail, h) */
			f = 0
		fi
	fi;
	atomic { h = 0; t = 0; hg = 0; won = 0 }
}

active proctype owner()
{
	int h, t, hg;
	byte f, b0, b1, pushed;
	bool won;

progress_op:
	do
	:: pushed < NPUSH ->
		/* weft__ready() pushing runnext's old fiber, a yield, a spawn */
		pushed++;
		PUT(pushed)
	:: GET(f);			/* pick(), pick_slow(): runq_get() */
		if
		:: f != 0 -> TAKE(f); f = 0
		:: else -> skip
		fi
	:: POP_TAIL(f);			/* pick_slow() after an exit */
		if
		:: f != 0 -> TAKE(f); f = 0
		:: else -> skip
		fi
	:: pushed == NPUSH -> break
	od;
	/* The thieves are done: whatever is left, the owner takes. */
	thieves_done == NTHIEF;
	do
	:: GET(f);
		if
		:: f != 0 -> TAKE(f); f = 0
		:: else -> break
		fi
	od;
	atomic {
		f = 1;
		do
		:: f <= NPUSH -> assert(taken[f] == 1); f++
		:: else -> break
		od;
		f = 0
	}
}

/* A thief: runq_grab(v, batch) NSTEAL times (runq_steal(), rescue()). */
proctype thief(byte me)
{
	int h, t, n, hg;
	byte k, i, b[SIZE / 2];
	bool won;

	k = 0;
	do
	:: k < NSTEAL ->
		do
		::
#if BROKEN == 3
			LD(T_T(me), W_TAIL, t);	/* tail first: wrong */
			d_step {
				LD(T_T(me), W_HG, hg);
				h = HG_HEAD(hg)
			};
#else
			/*
			 * hg, then tail (acquire both): a tail pop after our
			 * hg load makes the CAS below fail.
			 */
			d_step {
				LD(T_T(me), W_HG, hg);	/* load(&q->hg, ACQUIRE) */
				h = HG_HEAD(hg)
			};
			LD(T_T(me), W_TAIL, t);	/* load(&q->tail, ACQUIRE) */
#endif
			if
			:: t == h -> break	/* return 0 */
			:: else -> skip
			fi;
#ifdef OLD_BUG
			/* head, weft__heavy_barrier(), tail again */
			d_step {
				HEAVY_BARRIER(T_T(me));
				LD(T_T(me), W_TAIL, t)
			};
#endif
			/* n = t - h; n -= n / 2, in uint32_t */
			if
			:: t - h < 0 -> goto retry	/* n wraps: > RUNQ_SIZE / 2 */
			:: else -> n = t - h; n = n - n / 2
			fi;
			if
			:: n == 0 -> break		/* return 0 */
			:: n > SIZE / 2 -> goto retry	/* h, t read apart */
			:: else -> skip
			fi;
			/* batch[i] = slot_get(q, h + i) */
			i = 0;
			do
			:: i < n -> LD(T_T(me), W_SLOT(h + i), b[i]); i++
			:: else -> break
			od;
			/* CAS(&q->hg, &hg, HG(h + n, hg), ACQ_REL): return n */
			d_step {
				DRAIN(T_T(me));
				if
				:: mem[W_HG] == hg ->
					mem[W_HG] = HG(h + n, hg);
					i = 0;
					do
					:: i < n -> TAKE(b[i]); i++
					:: else -> break
					od;
					won = 1
				:: else -> won = 0
				fi
			};
			if
			:: won -> break
			:: else -> skip
			fi;
retry:
			atomic {
				h = 0; t = 0; hg = 0; n = 0; i = 0; won = 0;
				b[0] = 0; b[1] = 0
			}
		od;
progress_steal:
		atomic {
			h = 0; t = 0; hg = 0; n = 0; i = 0; won = 0;
			b[0] = 0; b[1] = 0; k++
		}
	:: else -> break
	od;
	thieves_done++
}

init
{
	byte i;

	atomic {
		RUN_FLUSHERS();
		i = 0;
		do
		:: i < NTHIEF -> run thief(i); i++
		:: else -> break
		od
	}
}
