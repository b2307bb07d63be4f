/* SPDX-License-Identifier: MIT */
/*
 * join.pml - weft_join() and weft_detach() against the target fiber's exit
 * (sched/core.c, "Park/wake protocol": join_commit() versus exit_commit()
 * and exit_handoff(), fiber_exit()).
 *
 * One fiber F runs and exits; two fibers join it; with -DDETACH a third
 * party detaches it too, at any moment.
 *
 * The code modelled (sched/core.c at 0cfedc3, line numbers):
 *	fiber_exit() 1134	f->result 1142; load join (acquire) 1144; a
 *			joiner waits: switch_to() it 1149, post
 *			exit_handoff(); else post exit_commit(),
 *			schedule() 1151-1153.
 *	exit_commit() 1088	load join 1098, CAS loop 1099: DETACHED ->
 *			REAPED, anything else -> DONE (one step here: a CAS
 *			that succeeds is atomic with its read, and a failed
 *			one changes nothing); DETACHED: reap() 1106; a
 *			joiner: weft__ready() 1108.
 *	exit_handoff() 1117	store join DONE (release) 1120, on the
 *			joiner's side of the switch (post_run()).
 *	weft_join() 1291	load join 1304; NONE: PARKED, post
 *			join_commit(), weft__park() 1305-1310, load join
 *			again 1311; claim: not DONE and not self: -EINVAL
 *			1314; CAS j -> REAPED 1316; result 1320; reap() 1321.
 *	join_commit() 1280	CAS NONE -> self 1285, else weft__ready(self)
 *			1288 (DONE came first).
 *	weft_detach() 1325	CAS NONE -> DETACHED 1333; DONE: CAS DONE ->
 *			REAPED 1337, reap() 1340; else -EINVAL.
 *
 * Checked (safety):
 *	- a joiner is readied (or switched to) only while parked, after its
 *	  switch away, and only once;
 *	- F is reaped exactly once, only after its stack is idle (its post
 *	  ran), and a joiner that returns 0 reads F's result;
 *	- no lost wake-up: every joiner returns (invalid end state if not);
 *	- one joiner (or the detach) wins, the other gets -EINVAL.
 *
 * Variants:
 *	-DDETACH	a weft_detach() races with the joiners and the exit.
 *	-DOLD_BUG	exit_commit() before 0cfedc3: exchange join for
 *			JOIN_DONE, then, finding JOIN_DETACHED, store
 *			JOIN_REAPED and reap. With -DDETACH, expected to
 *			FAIL: a detached fiber reaped twice. In between the
 *			exchange and the store, join reads JOIN_DONE: a
 *			weft_join() (or a second weft_detach()) passes
 *			weft__lookup() (FIBER_DONE, not yet FREE), CASes
 *			JOIN_DONE -> JOIN_REAPED and reaps; exit_commit()
 *			reaps again: the stack slot goes back to the arena
 *			twice. Spin's trail: both joiners see JOIN_NONE and
 *			park; the detach wins; their join_commit() CASes fail
 *			and ready them; F's exit exchanges DETACHED for DONE;
 *			a joiner loads DONE, claims and reaps; exit_commit()
 *			reaps.
 *	-DBROKEN	the joiner publishes itself in F's join word before it
 *			switches away (in weft_join() rather than in the post,
 *			join_commit()): F's exit may then switch to a fiber
 *			still running. Expected to FAIL.
 *
 * Every word here changes by exchange or CAS (acq_rel), so the model runs
 * sequentially consistent only.
 */

#define NT	1
#define NV	1
#include "memory.h"		/* unused: RMWs only */

/* fiber.join (internal.h): JOIN_* or a joiner */
#define NONE		0	/* JOIN_NONE */
#define DETACHED	1	/* JOIN_DETACHED */
#define DONE		2	/* JOIN_DONE */
#define REAPED		3	/* JOIN_REAPED */
#define J(i)		(4 + (i))	/* joiner i's struct weft_fiber * */

#define RESULT		42

/* enum fiber_state */
#define RUNNABLE	1
#define RUNNING		2
#define PARKED		3

byte join;			/* F's fiber.join */
byte result;			/* F's fiber.result */
bool f_idle;			/* F's stack is idle: its post has run */
byte nreaped;			/* reap(w, F) calls */
byte jstate[2] = RUNNING;	/* the joiners' fiber.state */
bool jon_cpu[2] = 1;		/* the joiners' stacks in use */
bool handoff[2];		/* switched to by F's exit: post exit_handoff */
byte nwon;			/* weft_join() or weft_detach() returned 0 */
byte ndone;

/* weft__ready(w, J(i)), or a switch straight to it. */
inline READY(i)
{
	d_step {
		assert(jstate[i] == PARKED && !jon_cpu[i]);
		jstate[i] = RUNNABLE
	}
}

/* reap(w, F): only once, only with F's stack idle. */
inline REAP()
{
	d_step {
		assert(f_idle && nreaped == 0);
		nreaped++
	}
}

/* The target: runs, then fiber_exit(F, result). */
active proctype target()
{
	byte j, old;

	result = RESULT;		/* f->result = result */
	j = join;			/* j = load(&f->join, ACQUIRE) */
	if
	:: j >= J(0) ->
		/*
		 * A joiner waits: switch_to() it directly, post
		 * exit_handoff, which runs on its side of the switch.
		 */
		d_step {
			READY(j - J(0));
			handoff[j - J(0)] = 1
		}
	:: else ->
		/*
		 * w->post = exit_commit; schedule(): the post runs on the
		 * worker once F's stack is idle.
		 */
		f_idle = 1;
#ifndef OLD_BUG
		/*
		 * The CAS loop: DETACHED -> REAPED, anything else -> DONE,
		 * so that no one ever sees JOIN_DONE on a fiber this exit
		 * reaps.
		 */
		d_step {
			old = join;
			if
			:: old == DETACHED -> join = REAPED
			:: else -> join = DONE
			fi
		};
		if
		:: old == DETACHED ->
			REAP()
#else
		/* old = exchange(&f->join, JOIN_DONE, ACQ_REL) */
		d_step { old = join; join = DONE };
		if
		:: old == DETACHED ->
			join = REAPED;		/* store(&f->join, REAPED) */
			REAP()
#endif
		:: old >= J(0) ->
			READY(old - J(0))	/* weft__ready(w, old) */
		:: else -> skip
		fi
	fi
}

proctype joiner(byte me)
{
	byte j, e;

	/* weft_join(): j = load(&f->join, ACQUIRE) */
	j = join;
	if
	:: j == NONE ->
#ifdef BROKEN
		/* Published before the switch: the bug this variant shows. */
		d_step {
			if
			:: join == NONE -> join = J(me); e = 1
			:: else -> e = 0
			fi
		};
#endif
		/* self->wait = f; state = PARKED; w->post = join_commit */
		jstate[me] = PARKED;
		/* weft__park() -> switch_to(): the stack is idle */
		jon_cpu[me] = 0;
		/*
		 * join_commit(w, self), on the next context of the worker:
		 * CAS(&target->join, JOIN_NONE -> self, ACQ_REL); failed:
		 * JOIN_DONE came first, weft__ready(w, self).
		 */
#ifdef BROKEN
		if
		:: e -> skip
		:: else -> READY(me)
		fi;
#else
		atomic {
			if
			:: join == NONE -> join = J(me)
			:: else -> READY(me)
			fi
		};
#endif
		/* Readied: it runs again. */
		d_step {
			jstate[me] == RUNNABLE ->
			jstate[me] = RUNNING;
			jon_cpu[me] = 1
		};
		/* post_run(): exit_handoff(w, F) when F switched to us. */
		if
		:: handoff[me] ->
			d_step { f_idle = 1; join = DONE }
		:: else -> skip
		fi;
		j = join		/* j = load(&f->join, ACQUIRE) */
	:: else -> skip
	fi;
	/* Claim the reaping: a racing second joiner or detacher loses. */
	if
	:: j != DONE && j != J(me) -> goto einval
	:: else -> skip
	fi;
	/* CAS(&f->join, &j, JOIN_REAPED, ACQUIRE) */
	atomic {
		if
		:: join == j -> join = REAPED; e = 1
		:: else -> e = 0
		fi
	};
	if
	:: e ->
		assert(result == RESULT);	/* *result = f->result */
		REAP();
		nwon++
	:: else -> skip
	fi;
einval:
	ndone++
}

#ifdef DETACH
/* weft_detach(fid), by a third fiber. */
active proctype detacher()
{
	byte j;
	bool e;

	/* CAS(&f->join, JOIN_NONE -> JOIN_DETACHED) */
	atomic {
		if
		:: join == NONE -> join = DETACHED; e = 1
		:: else -> j = join; e = 0
		fi
	};
	if
	:: e -> nwon++
	:: else ->
		/* It had finished: CAS(JOIN_DONE -> JOIN_REAPED), reap. */
		atomic {
			if
			:: j == DONE && join == DONE -> join = REAPED; e = 1
			:: else -> e = 0
			fi
		};
		if
		:: e -> REAP(); nwon++
		:: else -> skip
		fi
	fi;
	ndone++
}
#define NPARTY	3
#else
#define NPARTY	2
#endif

/* When all is over: F was reaped once, by the one that won. */
active proctype check()
{
	timeout ->
	assert(ndone == NPARTY && nwon == 1 && nreaped == 1 && join == REAPED)
}

init
{
	atomic {
		run joiner(0);
		run joiner(1)
	}
}
