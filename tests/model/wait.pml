/* SPDX-License-Identifier: MIT */
/*
 * wait.pml - one fiber's park/wake protocol (sched/wait.c) against a
 * waker, its timer and weft_cancel(), all racing.
 *
 * The fiber makes NW waits in a row. Each may have a deadline (a timer on
 * the worker it parks on, which may also fail to allocate); a waker takes
 * every waiter it finds on the object's list and claims it; one
 * weft_cancel() runs at any moment. Line numbers are sched/wait.c's unless
 * another file is named (as of this model's writing: the function names
 * are the anchors).
 *
 * Checked (safety, every interleaving):
 *	- exactly one of woken / timed out / cancelled wins each wait (wins[]);
 *	- the fiber is readied only while parked and after its switch away
 *	  (READY: never run twice, never on two stacks);
 *	- no lost wake-up: every wait ends, the fiber finishes (an invalid end
 *	  state, or the final assert, otherwise);
 *	- the fiber reads its own wait's word when it resumes.
 *
 * Variants (tests/model/run.sh runs each):
 *	-DSB		store buffers (memory.h): the Dekker pair of step 4
 *			must hold with the membarrier in weft_cancel().
 *	-DCANCEL_ONLY	no waker, no deadlines, one wait: only the cancel can
 *			end it, so a lost cancel is a deadlock.
 *	-DBROKEN	weft_cancel() without its heavy barrier: with -DSB
 *			-DCANCEL_ONLY the cancel is lost; expected to FAIL.
 *	-DCANCEL_COUNT	also check "One request cancels one wait" (uapi
 *			weft.h): one weft_cancel() ends exactly one wait, or is
 *			still pending at the end. The code as written FAILS,
 *			see below.
 *	-DFIX_CANCEL	a proposed fix for that: the request is a bit in the
 *			wait word itself, set by CAS; the commit publishes
 *			WAITING by CAS from the word the fiber last saw.
 *
 * The bug (-DCANCEL_COUNT): one weft_cancel() cancels two waits.
 * weft_cancel() stores cancel_fid (wait.c:245), runs membarrier (246),
 * then claims whatever wait the word it loads (247) belongs to. In that
 * window the fiber may consume the request itself, by weft__wait()'s
 * early check (186-189) or by its commit's check (wait_commit(),
 * 133-135, which wins the CAS and clears cancel_fid), run, return
 * -ECANCELED, and park again: the commit of that next wait finds
 * cancel_fid 0, and weft_cancel()'s load then sees the new seq|WAITING
 * and cancels the second wait too. Spin's trail: wait 1 committed;
 * cancel stores cancel_fid; the commit's load sees it, cancel_claim()
 * wins wait 1; the fiber waits again, wait 2 committed; the cancel loads
 * seq 2 WAITING and wins it. The window is a membarrier() (IPIs to every
 * CPU), or any preemption of the caller.
 */

#ifndef NW
#ifdef CANCEL_ONLY
#define NW	1
#else
#define NW	2
#endif
#endif

/* Threads, for the store buffers: the fiber runs on a worker. */
#define T_W(i)	(i)		/* worker i: the fiber, commits, timers */
#define T_C	2		/* the weft_cancel() caller */
#define T_K	3		/* the waker */
#define NT	4

/* Shared words (memory.h's mem[]). */
#define WORD	0		/* f->wait_word */
#define CFID	1		/* f->cancel_fid */
#define LOCK	2		/* the object's weft_spin (internal.h) */
#define LIST	3		/* its wait list (waitq.h): waiter seq, 0 empty */
#define NV	4

#include "memory.h"

/* enum wait_state (internal.h); the word is seq << 8 | state, here * 16. */
#define WAITING		1
#define WOKEN		3
#define TIMEDOUT	4
#define CANCELED	5
#define PENDING		8		/* FIX_CANCEL: a cancel is pending */
#define MK(seq, st)	((seq) * 16 + (st))
#define SEQ(w)		((w) / 16)
#define STATE(w)	((w) % 8)	/* without PENDING */
#define FID		7		/* the fiber's id */

/* enum fiber_state (internal.h) */
#define RUNNABLE	1
#define RUNNING		2
#define PARKED		3

byte fstate = RUNNING;		/* f->state */
bool on_cpu = 1;		/* the fiber's stack is in use */
byte fw;			/* the worker the fiber runs on */
byte wins[NW + 1];		/* claims won per wait (seq) */
byte creq[2];			/* w->post = wait_commit, w->post_f = f: seq */
bool ctimed[2];			/* f->wait_deadline != WEFT_FOREVER */
int cprev[2];			/* FIX_CANCEL: the word the fiber last saw */
bool busy[2];			/* worker i is in a commit: f cannot run there */
byte heap[2];			/* worker i's timer heap: the entry's seq */
byte timer_w;			/* f->timer_w: worker + 1, 0 for NULL */
byte ncanceled;			/* waits that returned WAIT_CANCELED */
bool fiber_done;
bool cancel_done;
byte nrequests;			/* weft_cancel() calls that returned 0 */

/* weft__ready()/weft__ready_any()/weft__ready_tail(): f runs once. */
inline READY()
{
	d_step {
		assert(fstate == PARKED && !on_cpu);
		fstate = RUNNABLE
	}
}

/*
 * claim() (wait.c:78), the CAS from WAITING, by thread t. The winner
 * owns the fiber's wake-up; one winner per wait.
 */
inline CLAIM(t, w, to, won)
{
	atomic {
		DRAIN(t);
		if
		:: mem[WORD] == w ->
			mem[WORD] = MK(SEQ(w), to);
			wins[SEQ(w)]++;
			assert(wins[SEQ(w)] == 1);
			won = 1
		:: else ->
			won = 0
		fi
	}
}

/* cancel_claim() (wait.c:85) by thread t. */
inline CANCEL_CLAIM(t, w, won)
{
	CLAIM(t, w, CANCELED, won);		/* wait.c:87 */
	if
	:: won ->
		/* wait.c:89: CAS(cancel_fid, fid -> 0), one request per wait */
		atomic {
			DRAIN(t);
			if
			:: mem[CFID] == FID -> mem[CFID] = 0
			:: else -> skip
			fi
		};
		READY()				/* wait.c:91 */
	:: else -> skip
	fi
}

/* weft_spin_lock() (internal.h): an RMW, so it drains t's buffer. */
inline LOCK_ACQ(t)
{
	atomic { BUF_EMPTY(t) && mem[LOCK] == 0 -> mem[LOCK] = 1 }
}

/* weft_spin_unlock(): a release store. */
inline LOCK_REL(t)
{
	ST(t, LOCK, 0)
}

/* Not woken: the caller relocks and unlinks its waiter if still there. */
inline UNLINK(t, k)
{
	LOCK_ACQ(t);
	LD(t, LIST, r);
	if
	:: r == k -> ST(t, LIST, 0)		/* wq_del() */
	:: else -> skip
	fi;
	LOCK_REL(t)
}

proctype fiber()
{
	byte k = 1, st;
	int r, prev;
	bool timed;

	do
	:: k > NW -> break
	:: else ->
		/*
		 * The object (sync.c, chan.c): its lock, weft__waiter_init()
		 * with a fresh seq k, wq_push(). The lock is held into
		 * weft__wait(), wait.c:169.
		 */
		LOCK_ACQ(T_W(fw));
		ST(T_W(fw), LIST, k);
		/* wait.c:186: a pending cancel ends the wait at once. */
#ifdef FIX_CANCEL
		LD(T_W(fw), WORD, prev);
		if
		:: prev / PENDING % 2 == 1 ->
			/* Only the fiber clears PENDING. */
			ST(T_W(fw), WORD, prev - PENDING);
#else
		LD(T_W(fw), CFID, r);
		if
		:: r == FID ->
			ST(T_W(fw), CFID, 0);		/* wait.c:187 */
#endif
			LOCK_REL(T_W(fw));		/* wait.c:188 unlock_all */
			ncanceled++;
			UNLINK(T_W(fw), k);
			k++
		:: else ->
#ifdef CANCEL_ONLY
			timed = 0;
#else
			if
			:: timed = 1	/* a deadline: wait_deadline */
			:: timed = 0	/* WEFT_FOREVER */
			fi;
#endif
			fstate = PARKED;		/* wait.c:196 */
			/*
			 * wait.c:197-199: w->post = wait_commit, then
			 * weft__park() -> switch_to() (core.c): the stack
			 * is idle from here, the worker runs the post.
			 */
			d_step {
				on_cpu = 0;
				creq[fw] = k;
				ctimed[fw] = timed;
				cprev[fw] = prev;
				busy[fw] = 1
			};
			/*
			 * Readied; some worker picks it (not one still in a
			 * commit: a worker runs one thing at a time).
			 */
			if
			:: d_step { fstate == RUNNABLE && !busy[0] ->
				fstate = RUNNING; on_cpu = 1; fw = 0 }
			:: d_step { fstate == RUNNABLE && !busy[1] ->
				fstate = RUNNING; on_cpu = 1; fw = 1 }
			fi;
			/* wait.c:201: the word, acquire. */
			LD(T_W(fw), WORD, r);
			st = STATE(r);
			assert(SEQ(r) == k && wins[k] == 1);
			assert(st == WOKEN || st == TIMEDOUT || st == CANCELED);
			/* wait.c:202-203 -> weft__timer_del() (timer.c) */
			if
			:: timer_w != 0 && st != TIMEDOUT ->
				atomic {	/* under the heap's lock */
					if
					:: heap[timer_w - 1] == k ->
						heap[timer_w - 1] = 0
					:: else -> skip
					fi;
					timer_w = 0
				}
			:: else -> skip
			fi;
			if
			:: st == CANCELED -> ncanceled++
			:: else -> skip
			fi;
			if
			:: st != WOKEN -> UNLINK(T_W(fw), k)
			:: else -> skip
			fi;
			k++
		fi
	od;
	fiber_done = 1
}

/* A worker: runs wait_commit() as a switch's post, and its timers. */
proctype worker(byte me)
{
	byte k;
	int word, r;
	bool nomem, won;

end:	do
	:: creq[me] != 0 ->
		/* post_run() (core.c) -> wait_commit(), wait.c:96 */
		d_step {
			k = creq[me];
			creq[me] = 0;
			nomem = 0;
			word = MK(k, WAITING)		/* wait.c:98 */
		};
		/*
		 * wait.c:108: weft__timer_add() before the word. Only this
		 * worker fires its timers, and it is busy here.
		 */
		if
		:: ctimed[me] ->
			if
			:: atomic { heap[me] = k; timer_w = me + 1 }
			:: nomem = 1	/* realloc failed: no_timer */
			fi
		:: else -> skip
		fi;
#ifdef FIX_CANCEL
		/*
		 * Publish WAITING only over the word the fiber last saw: a
		 * cancel that set PENDING since then makes the CAS fail, and
		 * this wait is cancelled right here.
		 */
		atomic {
			DRAIN(T_W(me));
			if
			:: mem[WORD] == cprev[me] ->
				mem[WORD] = word;
				won = 0
			:: else ->
				assert(mem[WORD] == cprev[me] + PENDING);
				mem[WORD] = MK(k, CANCELED);
				wins[k]++;
				assert(wins[k] == 1);
				won = 1
			fi
		};
		LOCK_REL(T_W(me));			/* unlock_all() */
		if
		:: won ->
			READY();
			goto committed
		:: else -> skip
		fi;
#else
		ST(T_W(me), WORD, word);		/* wait.c:111, release */
		LOCK_REL(T_W(me));			/* wait.c:113 unlock_all */
#endif
		if
		:: nomem ->
			CLAIM(T_W(me), word, TIMEDOUT, won);	/* wait.c:114 */
			if
			:: won ->
				READY();		/* wait.c:115 */
				goto committed
			:: else -> skip
			fi
		:: else -> skip
		fi;
		/* wait.c:123: the I/O "done" path is not modelled. */
#ifndef FIX_CANCEL
		/* wait.c:133-134: weft__light_barrier(), load cancel_fid */
		d_step { LIGHT_BARRIER(T_W(me)); LD(T_W(me), CFID, r) };
		if
		:: r == FID ->
			CANCEL_CLAIM(T_W(me), word, won)	/* wait.c:135 */
		:: else -> skip
		fi;
#endif
committed:
		busy[me] = 0
	:: heap[me] != 0 ->
		/*
		 * weft__timers_run() (timer.c): the entry's deadline passed.
		 * Entry removal, the CAS and timer_w = NULL happen under the
		 * heap's lock, as weft__timer_del() does.
		 */
		atomic {
			k = heap[me];
			heap[me] = 0;
			CLAIM(T_W(me), MK(k, WAITING), TIMEDOUT, won);
			if
			:: won -> timer_w = 0
			:: else -> skip
			fi
		};
		if
		:: won -> READY()			/* weft__ready_tail() */
		:: else -> skip
		fi
	od
}

#ifndef CANCEL_ONLY
/*
 * The waker (weft_mutex_unlock(), weft_chan_send(), ...): comes along
 * whenever a waiter is queued, takes the object's lock, unlinks the head
 * (wq_claim(), waitq.h) and claims it (weft__wake_claim(), wait.c:207),
 * then readies it after the unlock (weft__wake_finish(), wait.c:225).
 */
active proctype waker()
{
	byte k;
	int r;
	bool won;

end:	do
	:: atomic { mem[LIST] != 0 && BUF_EMPTY(T_K) && mem[LOCK] == 0 ->
			mem[LOCK] = 1 }
		LD(T_K, LIST, r);
		k = r;
		ST(T_K, LIST, 0);				/* wq_del() */
		CLAIM(T_K, MK(k, WAITING), WOKEN, won);		/* wait.c:214 */
		LOCK_REL(T_K);
		if
		:: won -> READY()				/* wait.c:230 */
		:: else -> skip
		fi
	od
}
#endif

/* weft_cancel(), wait.c:238, once, at any moment. */
active proctype canceller()
{
	int w;
	bool won;

	if
	:: fiber_done -> goto out		/* wait.c:243: -EINVAL */
	:: else -> nrequests++
	fi;
#ifdef FIX_CANCEL
	do
	:: LD(T_C, WORD, w);
		if
		:: STATE(w) == WAITING ->
			CLAIM(T_C, w, CANCELED, won);
			if
			:: won -> READY(); break
			:: else -> skip	/* woken meanwhile: look again */
			fi
		:: else ->
			if
			:: w / PENDING % 2 == 1 -> break	/* merged */
			:: else -> skip
			fi;
			atomic {
				DRAIN(T_C);
				if
				:: mem[WORD] == w -> mem[WORD] = w + PENDING;
					won = 1
				:: else -> won = 0
				fi
			};
			if
			:: won -> break		/* its next wait takes it */
			:: else -> skip
			fi
		fi
	od;
#else
	/* wait.c:245: seq_cst store (xchg on x86, drains) */
	atomic { DRAIN(T_C); mem[CFID] = FID };
	/* wait.c:246-247: weft__heavy_barrier(), load the word */
#ifdef BROKEN
	LD(T_C, WORD, w);
#else
	d_step { HEAVY_BARRIER(T_C); LD(T_C, WORD, w) };
#endif
	/* wait.c:252: the id check; one fiber here, it always passes. */
	if
	:: STATE(w) == WAITING ->
		CANCEL_CLAIM(T_C, w, won)		/* wait.c:255 */
	:: else -> skip
	fi;
#endif
out:
	cancel_done = 1
}

/* When nothing can move: every wait ended, the request is accounted for. */
active proctype check()
{
	timeout ->
	assert(fiber_done && cancel_done);
#ifdef CANCEL_COUNT
#ifdef FIX_CANCEL
	assert(ncanceled + (mem[WORD] / PENDING % 2) == nrequests);
#else
	assert(ncanceled + (mem[CFID] == FID) == nrequests);
#endif
#endif
}

init
{
	atomic {
		RUN_FLUSHERS();
		run worker(0);
		run worker(1);
		run fiber()
	}
}
