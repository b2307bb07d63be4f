/* SPDX-License-Identifier: MIT */
/*
 * idle.pml - workers going to sleep against threads making work
 * (sched/core.c, "Idle and wake": idle_sleep(), idle_leave(), idle_clear(),
 * wakep_slow(), spin_stop(), the spinning rule of grace()).
 *
 * NWK workers (2; -DNWK=3) look for work, may spin, and sleep; NP threads
 * that are not workers (2: OS threads sending on a channel, the offload
 * pool, the monitor's rescue()) each make one fiber runnable and call
 * wakep() (weft__ready_any() -> inject_push() -> wakep()). Each maker's
 * fiber sits in a queue of its own, standing for inject: a worker takes it
 * by a CAS on the queue's head (inject_pop(), runq_grab()).
 *
 * Checked (safety):
 *	- when nothing can move any more (every worker asleep), every fiber
 *	  made runnable has been taken: work is never left with every worker
 *	  asleep (check, at timeout);
 *	- each sleep gets at most one wake reason: only the one that clears
 *	  the idle bit stores it, and it is consumed before the next sleep;
 *	- nspinning and nidle match the workers' own view when all is quiet.
 *
 * The code modelled (sched/core.c at 0cfedc3, line numbers):
 *	wakep_slow() 692	light barrier 698; load nidle, nspinning 699;
 *			again: CAS nspinning 0 -> 1 704; load rt->idle 708;
 *			idle_clear() each bit 714; won: store wake_reason
 *			WAKE_SPIN 715, send_wake() 717; none: fetch_sub
 *			nspinning 723; nidle != 0: again 731 (the retry
 *			0cfedc3 added).
 *	idle_clear() 609	fetch_and the bit 611; it was set: fetch_sub
 *			nidle 616.
 *	spin_stop() 1514	sub_fetch nspinning 1521, the last spinner
 *			that found work: wakep().
 *	grace() 1763, may_spin() 1748
 *			2 * nspinning < nworkers - nidle: spin 1770-1772.
 *	idle_sleep() 1713	spin_stop(w, false) 1720; futex 0 1723;
 *			fetch_or the bit 1724; add nidle 1726; heavy barrier
 *			1735; work_anywhere() 1736 (1500): idle_leave();
 *			else sleep_until() 1743, idle_leave() 1744.
 *	idle_leave() 1699	idle_clear() its own bit 1703, else exchange
 *			wake_reason until set 1705, WAKE_SPIN: spinning 1708.
 *	makers: weft__ready_any() 555 -> inject_push() 229 -> wakep() 198.
 *
 * Variants (tests/model/run.sh runs each):
 *	(none)		the code as written (since 0cfedc3).
 *	-DSB		store buffers (memory.h): the maker's store of the
 *			work may pass its loads of nidle/nspinning (an arm64
 *			stlr then ldr; x86's xchg would not, its runq_put()
 *			release store would).
 *	-DBROKEN	idle_sleep() without its heavy barrier: with -DSB,
 *			expected to FAIL (work left with every worker asleep).
 *	-DOLD_BUG	wakep_slow() before 0cfedc3, without the retry:
 *			expected to FAIL, the lost wake-up below.
 *	-DTRIES=n	the retry's bound (1000 in C): give up after n - 1
 *			retries. Unbounded by default. FAILS for every n
 *			tried (2, 3, 4): see "The bound" below.
 *	-DFIX_BITS	what wakep_slow() does (since the commit after 5f2a825;
 *			run.sh checks the code with it): retry while any idle bit is
 *			set (load rt->idle[]), not while nidle != 0, and drop
 *			the bound.
 *
 * The bug 0cfedc3 fixed (-DOLD_BUG): wakep_slow() takes nspinning 0 -> 1
 * for the worker it is about to wake before it looks at rt->idle. When it
 * then finds no bit (a sleeper cleared its own in idle_leave() after the
 * nidle load), it gives the count back, but meanwhile every other wakep()
 * returned at "nspinning != 0", trusting a spinner that never existed.
 * Spin's trail, two workers W0, W1 and two makers P0, P1:
 *	1. W1 marks itself idle; P0 queues A, wakep_slow(): nidle 1,
 *	   nspinning 0, CAS nspinning 0 -> 1.
 *	2. W1's look sees A: idle_leave() clears its own bit. P0 loads
 *	   rt->idle: no bit. P0 has not given nspinning back yet.
 *	3. W1 runs A. W1 and W0 find nothing (may_spin() says no: 2 * 1 is
 *	   not below 2 - nidle), mark themselves idle, look, sleep.
 *	4. P1 queues B, wakep_slow(): nidle 2, nspinning 1: returns.
 *	5. P0: fetch_sub(nspinning); returns.
 * Every worker sleeps with B queued, until a timer or another wake: with
 * threads besides weft's, deadlock_check() declines and the sleep has no
 * deadline, and the monitor rescues only workers that run. It needs two
 * makers that are not workers (a worker that makes work is awake and
 * looks before it sleeps), and P0 held up between its load of rt->idle
 * and its fetch_sub. The fix: after the fetch_sub, P0 sees nidle 2 and
 * starts over at the CAS, now finding W0's and W1's bits. A retry that
 * finds nspinning taken returns: that spinner's own wakep_slow() looks
 * again in its turn.
 *
 * The bound (-DTRIES=2, run.sh's idle-bound, a TODO): the retry's last
 * try has the same window as the original code, so the lost wake-up is
 * back whenever the tries run out. Spin's trail with one retry: P0 queues
 * A, CAS nspinning 0 -> 1; W1 clears its own bit (idle_leave()) but has
 * not decremented nidle yet; P0 finds no bit, fetch_sub, sees nidle 1,
 * retries: CAS 0 -> 1, again no bit; W1 decrements nidle, runs A, and W1
 * and W0 go to sleep; P1 queues B, sees nspinning 1, returns; P0
 * fetch_sub, nidle 2 but out of tries: returns. B waits with everyone
 * asleep. With n tries the same trail holds W1 between idle_clear()'s
 * two RMWs through n - 1 tries (n = 3 and 4 fail too): in C, a worker
 * preempted there for the tens of microseconds that 1000 tries take, and
 * the original window on the last one. Retrying on the bits instead
 * (-DFIX_BITS) retries only when a sleeper's bit is set, which the next
 * look clears and wakes (or someone else did): no spinning on a thread in
 * between, so no bound is needed. Bounded, even that fails on the last
 * try (run.sh --full: idle-bits-bound), but only after a sleep and a wake
 * for every try.
 *
 * Not modelled: wake_worker() (bound fibers, inbox), timers and the
 * deadlock check (a worker with a timer wakes by itself), MSG_RING delays
 * (the monitor kicks those), workers making work themselves (a worker that
 * made work is awake and looks at its own queues before it sleeps), and
 * arm64 reordering wakep_slow()'s two relaxed loads (of nidle, then
 * nspinning) with each other.
 */

#ifndef NWK
#define NWK	2		/* workers */
#endif
#ifndef NP
#define NP	2		/* threads that make work */
#endif

#define T_P(p)	(NWK + (p))	/* thread ids: workers first */
#define NT	(NWK + NP)

#define TAIL(p)	(p)		/* maker p's queue: pushed (0/1) */
#define HEAD(p)	(NP + (p))	/* taken (0/1), CAS by workers */
#define NV	(2 * NP)

#include "memory.h"

#define WAKE_SPIN	2	/* wake_reason (core.c); WAKE_PLAIN is wake_worker()'s */

#define BIT(i)		(1 << (i))

/* wakep_slow()'s retry: while workers are idle (or, FIX_BITS, asleep) */
#ifdef FIX_BITS
#define AGAIN		(idle != 0)
#else
#define AGAIN		(nidle != 0)
#endif

/* Shared words changed only by RMWs: always current in memory. */
byte idle;			/* rt->idle[0] */
byte nidle;			/* rt->nidle */
byte nspinning;			/* rt->nspinning */
byte wake_reason[NWK];		/* w->wake_reason */
bool futex[NWK];		/* w->futex: the sleep (sleep_until()) */

/*
 * idle_clear(rt, to) by thread t: fetch_and the bit, then, if it was set,
 * fetch_sub nidle (nblocked, for the deadlock check, is not modelled).
 * Whoever clears the bit owns the wake.
 */
inline IDLE_CLEAR(t, to, won)
{
	atomic {
		DRAIN(t);
		won = (idle & BIT(to)) != 0;
		idle = idle & ~BIT(to)
	};
	if
	:: won -> d_step { DRAIN(t); nidle-- }
	:: else -> skip
	fi
}

/* wakep_slow(rt), by thread t: wake one sleeper unless someone spins. */
inline WAKEP(t)
{
	/* weft__light_barrier(), then !__atomic_load_n(&rt->nidle) */
	atomic {
		LIGHT_BARRIER(t);
		if
		:: nidle == 0 -> goto done
		:: else -> skip
		fi
	};
	if
	:: nspinning != 0 -> goto done	/* __atomic_load_n(&rt->nspinning) */
	:: else -> skip
	fi;
again:
	/* CAS(nspinning, 0 -> 1): the woken one starts as a spinner. */
	atomic {
		DRAIN(t);
		if
		:: nspinning == 0 -> nspinning = 1
		:: else -> goto done
		fi
	};
	d_step { m = idle; i = 0 };	/* m = load(&rt->idle[i]) */
	do
	:: i < NWK && (m & BIT(i)) ->
		IDLE_CLEAR(t, i, won);	/* if (idle_clear(rt, to)) */
		if
		:: won ->
			/* store(&to->wake_reason, WAKE_SPIN): one per sleep */
			d_step {
				assert(wake_reason[i] == 0);
				wake_reason[i] = WAKE_SPIN
			};
			futex[i] = 1;	/* send_wake() */
			goto done
		:: else -> i++
		fi
	:: i < NWK && !(m & BIT(i)) -> i++
	:: i == NWK -> break
	od;
	/* Nobody to wake: __atomic_fetch_sub(&rt->nspinning, 1). */
	atomic { DRAIN(t); nspinning-- };
#ifndef OLD_BUG
	/*
	 * While we held nspinning, makers that saw it skipped their wake,
	 * and a worker may have gone to sleep after our load of idle: look
	 * again: load(&rt->nidle, SEQ_CST) && ++tries < 1000.
	 */
	if
#ifdef TRIES
	:: AGAIN && tries + 1 < TRIES -> tries++; goto again
#else
	:: AGAIN -> goto again
#endif
	:: else -> skip
	fi;
#endif
done:
	atomic {
		m = 0; i = 0; won = 0;
#ifdef TRIES
		tries = 0
#endif
	}
}

/* A worker: worker_loop() -> find_work() -> idle_sleep(). */
proctype worker(byte me)
{
	byte p, why, m, i, t, h;
#ifdef TRIES
	byte tries;
#endif
	bool got, won, any;
	bool spinning;			/* w->spinning, its owner's */

look:
	/* The locals die here: reset them, so old values split no states. */
	atomic {
		p = 0; why = 0; m = 0; i = 0; t = 0; h = 0;
		got = 0; won = 0; any = 0
	};
	/*
	 * pick(), then grace() and the spin loop: steal() and inject_pop()
	 * look at each queue in turn and take its fiber by a CAS on its head
	 * (runq_grab(), inject_pop()). One step per queue: a load of tail or
	 * head that a push or another taker overtakes only makes the CAS
	 * fail, as if the look had come a moment sooner.
	 */
	do
	:: p < NP ->
		d_step {
			DRAIN(me);
			if
			:: mem[TAIL(p)] > mem[HEAD(p)] -> mem[HEAD(p)]++; got = 1
			:: else -> skip
			fi;
			p++
		};
		if
		:: got -> break
		:: else -> skip
		fi
	:: else -> break
	od;
	p = 0;
	if
	:: got ->
		/* find_work() found: spin_stop(w, true) */
		if
		:: spinning ->
			d_step { DRAIN(me); spinning = 0; nspinning--;
				 t = nspinning };
			if
			:: t == 0 -> WAKEP(me)	/* the last spinner wakes one */
			:: else -> skip
			fi
		:: else -> skip
		fi;
progress_ran:
		goto look			/* runs the fiber */
	:: else -> skip
	fi;
	/* grace(): may_spin(), at most half the awake workers spin. */
	if
	:: d_step { !spinning && 2 * nspinning < NWK - nidle ->
		DRAIN(me); spinning = 1; nspinning++ };
		goto look			/* the spin loop: steal() again */
	:: else -> skip
	fi;
	/* idle_sleep(): spin_stop(w, false), the look below stands in. */
	if
	:: d_step { spinning -> DRAIN(me); spinning = 0; nspinning-- }
	:: else -> skip
	fi;
	d_step {
		assert(wake_reason[me] == 0);	/* the last one was taken */
		futex[me] = 0			/* store(&w->futex, 0) */
	};
	/* fetch_or(&rt->idle[..], bit), add_fetch(&rt->nidle, 1) */
	d_step { DRAIN(me); idle = idle | BIT(me) };
	/*
	 * Mark, barrier, look: pairs with push, barrier, look in wakep().
	 * weft__heavy_barrier() right after the nidle increment.
	 */
	d_step {
		DRAIN(me);
		nidle++;
#ifndef BROKEN
		HEAVY_BARRIER(me)
#else
		skip
#endif
	};
	/*
	 * work_anywhere(): each queue's tail - head, a step per queue
	 * (workers store no queue word here: their loads read memory).
	 */
	do
	:: p < NP ->
		d_step {
			t = mem[TAIL(p)];
			h = mem[HEAD(p)];
			if
			:: t != h -> any = 1
			:: else -> skip
			fi;
			t = 0;
			h = 0;
			p++
		};
		if
		:: any -> break
		:: else -> skip
		fi
	:: else -> break
	od;
	p = 0;
	if
	:: any -> goto leave		/* idle_leave(w); return */
	:: else -> skip
	fi;
	/* sleep_until(): until a waker's send_wake() (futex = 1). */
end_sleep:
	futex[me] == 1;
leave:
	/* idle_leave(): our own bit back, or the waker's reason. */
	IDLE_CLEAR(me, me, won);
	if
	:: won -> skip
	:: else ->
		/* exchange(&w->wake_reason, 0) until it is there */
		d_step {
			wake_reason[me] != 0 ->
			why = wake_reason[me];
			wake_reason[me] = 0;
			if
			:: why == WAKE_SPIN -> spinning = 1
			:: else -> skip
			fi
		}
	fi;
	goto look
}

/* A thread that is not a worker makes one fiber runnable. */
proctype maker(byte p)
{
	byte m, i;
#ifdef TRIES
	byte tries;
#endif
	bool won;

	/*
	 * weft__ready_any() -> inject_push(): the fiber is queued, and
	 * ninject stored (seq_cst, under the inject lock). With -DSB that
	 * store is buffered: on arm64 an stlr, which the relaxed loads in
	 * wakep_slow() may pass (an x86 xchg would not; runq_put()'s
	 * release store would).
	 */
	ST(T_P(p), TAIL(p), 1);
	WAKEP(T_P(p))			/* wakep(rt) -> wakep_slow(rt) */
}

/* When nothing can move: nothing runnable is left behind. */
active proctype check()
{
	byte p, i;

	timeout ->
	d_step {
		p = 0;
		do
		:: p < NP ->
			assert(mem[TAIL(p)] == 1 && mem[HEAD(p)] == 1);
			p++
		:: else -> break
		od;
		/* Everyone sleeps: the counters agree with the bits. */
		assert(nspinning == 0 && idle == BIT(NWK) - 1 && nidle == NWK);
		i = 0;
		do
		:: i < NWK -> assert(wake_reason[i] == 0); i++
		:: else -> break
		od
	}
}

init
{
	byte i;

	atomic {
		RUN_FLUSHERS();
		i = 0;
		do
		:: i < NWK -> run worker(i); i++
		:: else -> break
		od;
		i = 0;
		do
		:: i < NP -> run maker(i); i++
		:: else -> break
		od
	}
}
