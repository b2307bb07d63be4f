/* SPDX-License-Identifier: MIT */
/*
 * wait.pml - one fiber's park/wake protocol (sched/wait.c) against a
 * waker, its timer and weft_cancel(), all racing.
 *
 * The fiber makes NW waits in a row. Each may have a deadline (a timer on
 * the worker it parks on, which may also fail to allocate); a waker takes
 * every waiter it finds on the object's list and claims it; one
 * weft_cancel() runs at any moment. Line numbers are sched/wait.c's as of
 * 5f2a825 (the function names are the anchors); -DOLD_BUG's are those of
 * the file before it (git show 5f2a825^:sched/wait.c).
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
 *	-DBROKEN	weft_cancel() without its heavy barrier (274): with
 *			-DSB -DCANCEL_ONLY the cancel is lost; expected to FAIL.
 *	-DCANCEL_COUNT	also check "One request cancels one wait" (uapi
 *			weft.h), as an account taken when nothing can move:
 *			waits that returned WAIT_CANCELED + (cancel_fid still
 *			holds the request) == weft_cancel() calls that returned
 *			0. More than one cancelled wait, or a request neither
 *			used nor still armed (lost), fails it.
 *	-DCANCEL_PROMPT	also check "its next one" (uapi weft.h): a wait whose
 *			early check (213) starts after weft_cancel() returned
 *			0, while no wait had yet been decided cancelled (the
 *			CAS that spends the request in 214, or a claim to
 *			CANCELED, 111), ends cancelled. The current code FAILS
 *			it, see below.
 *	-DOLD_BUG	the code before 5f2a825 (cancel_claim()): with
 *			-DCANCEL_COUNT, one request cancels two waits, see
 *			below; expected to FAIL.
 * (A proposed fix with the request as a bit of the wait word,
 * -DFIX_CANCEL, was dropped: 5f2a825 fixed it with cancel_try() instead.)
 *
 * The old bug (-DOLD_BUG -DCANCEL_COUNT): one weft_cancel() cancelled two
 * waits. weft_cancel() stored cancel_fid (old 245), ran membarrier (246),
 * then claimed whatever wait the word it loaded (247) belonged to. In that
 * window the fiber could consume the request itself, by weft__wait()'s
 * early check (old 186-189) or by its commit's check (old 133-135), run,
 * return -ECANCELED and park again: the next commit found cancel_fid 0,
 * and weft_cancel()'s load then saw the new seq|WAITING and cancelled the
 * second wait too. The fix: whoever acts on a request spends it first, by
 * CAS on cancel_fid (214, or 107 in cancel_try()), and puts it back (116)
 * if the wait it then fails to claim ended otherwise.
 *
 * What -DCANCEL_PROMPT finds in the current code: a request in flight
 * (spent by cancel_try()'s CAS, 107, not yet put back, 116) is invisible
 * to a wait that starts meanwhile. Trail: wait 1 committed (137); the
 * cancel stores cancel_fid (273); the commit's load sees it (160) and its
 * cancel_try() spends it (107); the waker claims wait 1 WOKEN (243), so
 * the commit's claim (111) fails; weft_cancel()'s own cancel_try() finds
 * cancel_fid 0 (107) and returns 0; the fiber runs on the other worker,
 * its wait 2's early check finds cancel_fid 0 (213), wait 2 commits and
 * its commit's load finds 0 (160); wait 2 ends otherwise (Spin's trail:
 * its timer fires, TIMEDOUT; the waker's 243 does as well); only then
 * does the first commit put the request back (116), for wait 3. Wait 2
 * started after weft_cancel() returned and was not cancelled. The
 * request is not lost (-DCANCEL_COUNT holds): it cancels a later wait,
 * or stays armed. A fiber woken again and again while commits hold the
 * request can put its cancel off for as long as that goes on.
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
#define MK(seq, st)	((seq) * 16 + (st))
#define SEQ(w)		((w) / 16)
#define STATE(w)	((w) % 16)
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
bool busy[2];			/* worker i is in a commit: f cannot run there */
byte heap[2];			/* worker i's timer heap: the entry's seq */
byte timer_w;			/* f->timer_w: worker + 1, 0 for NULL */
byte ncanceled;			/* waits that returned WAIT_CANCELED */
byte ndecided;			/* waits decided cancelled (CAS won) */
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
 * claim() (wait.c:80), the CAS from WAITING, by thread t. The winner
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
			if
			:: to == CANCELED -> ndecided++
			:: else -> skip
			fi;
			won = 1
		:: else ->
			won = 0
		fi
	}
}

/* CAS(cancel_fid, FID -> 0) by thread t: spend the request. */
inline SPEND(t, got)
{
	atomic {
		DRAIN(t);
		if
		:: mem[CFID] == FID -> mem[CFID] = 0; got = 1
		:: else -> got = 0
		fi
	}
}

#ifdef OLD_BUG
/* cancel_claim() (old wait.c:85) by thread t, on the word w it loaded. */
inline CANCEL(t, w, got, won)
{
	CLAIM(t, w, CANCELED, won);		/* old 87 */
	if
	:: won ->
		SPEND(t, got);			/* old 89, relaxed CAS */
		READY()				/* old 91 */
	:: else -> skip
	fi
}
#else
/*
 * cancel_try() (wait.c:97) by thread t: spend the request, then claim
 * the current wait with it; put it back if that wait ended otherwise.
 */
inline CANCEL(t, w, got, won)
{
	do
	:: LD(t, WORD, w);			/* 100, seq_cst: a plain mov */
		/* 104: the id check; one fiber, never reaped: it passes. */
		if
		:: STATE(w) != WAITING -> break	/* 105-106: armed */
		:: else -> skip
		fi;
		SPEND(t, got);			/* 107 */
		if
		:: !got -> break		/* 110: spent by someone else */
		:: else -> skip
		fi;
		CLAIM(t, w, CANCELED, won);	/* 111 */
		if
		:: won -> READY(); break	/* 112-113 */
		:: else -> skip
		fi;
		/* 116: back for the next wait, seq_cst (xchg, drains) */
		atomic { DRAIN(t); mem[CFID] = FID };
		d_step { HEAVY_BARRIER(t) }	/* 117, then 100 again */
	od
}
#endif

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
	int r;
	bool timed, got, owed;

	do
	:: k > NW -> break
	:: else ->
		/*
		 * The object (sync.c, chan.c): its lock, weft__waiter_init()
		 * with a fresh seq k, wq_push(). The lock is held into
		 * weft__wait(), wait.c:195.
		 */
		LOCK_ACQ(T_W(fw));
		ST(T_W(fw), LIST, k);
		/*
		 * wait.c:212-219: a request ends the wait at once. The wait
		 * starts here: is a returned request still unspent?
		 */
		d_step {
			LD(T_W(fw), CFID, r);		/* 213 */
			owed = cancel_done && nrequests == 1 && ndecided == 0
		};
		got = 0;
		if
		:: r == FID ->
#ifdef OLD_BUG
			ST(T_W(fw), CFID, 0);		/* old 187 */
			got = 1
#else
			SPEND(T_W(fw), got)		/* 214 */
#endif
		:: else -> skip
		fi;
		if
		:: got ->
			ndecided++;
			LOCK_REL(T_W(fw));		/* 217 unlock_all */
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
			fstate = PARKED;		/* 225 */
			/*
			 * 226-228: w->post = wait_commit, then weft__park()
			 * -> switch_to() (core.c): the stack is idle from
			 * here, the worker runs the post.
			 */
			d_step {
				on_cpu = 0;
				creq[fw] = k;
				ctimed[fw] = timed;
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
			/* 230: the word, acquire. */
			LD(T_W(fw), WORD, r);
			st = STATE(r);
			assert(SEQ(r) == k && wins[k] == 1);
			assert(st == WOKEN || st == TIMEDOUT || st == CANCELED);
#ifdef CANCEL_PROMPT
			assert(!owed || st == CANCELED);
#endif
			/* 231-232 -> weft__timer_del() (timer.c) */
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
	int word, r, w;
	bool nomem, won, got;

end:	do
	:: creq[me] != 0 ->
		/* post_run() (core.c) -> wait_commit(), wait.c:122 */
		d_step {
			k = creq[me];
			creq[me] = 0;
			nomem = 0;
			word = MK(k, WAITING)		/* 124 */
		};
		/*
		 * 134-135: weft__timer_add() before the word. Only this
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
		ST(T_W(me), WORD, word);		/* 137, release */
		LOCK_REL(T_W(me));			/* 139 unlock_all */
		if
		:: nomem ->
			CLAIM(T_W(me), word, TIMEDOUT, won);	/* 140 */
			if
			:: won ->
				READY();		/* 141 */
				goto committed
			:: else -> skip
			fi
		:: else -> skip
		fi;
		/* 149: the I/O "done" path is not modelled. */
		/* 159-160: weft__light_barrier(), load cancel_fid */
		d_step { LIGHT_BARRIER(T_W(me)); LD(T_W(me), CFID, r) };
		if
		:: r == FID ->
#ifdef OLD_BUG
			w = word;		/* old 135: its own word */
#endif
			CANCEL(T_W(me), w, got, won)	/* 161 */
		:: else -> skip
		fi;
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
 * (wq_claim(), waitq.h) and claims it (weft__wake_claim(), wait.c:236),
 * then readies it after the unlock (weft__wake_finish(), wait.c:254).
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
		CLAIM(T_K, MK(k, WAITING), WOKEN, won);		/* 243 */
		LOCK_REL(T_K);
		if
		:: won -> READY()				/* 259 */
		:: else -> skip
		fi
	od
}
#endif

/* weft_cancel(), wait.c:267, once, at any moment. */
active proctype canceller()
{
	int w;
	bool won, got;

	if
	:: fiber_done -> goto out		/* 271: -EINVAL */
	:: else -> skip
	fi;
	/* 273: seq_cst store (xchg on x86, drains) */
	atomic { DRAIN(T_C); mem[CFID] = FID };
	/* 274: weft__heavy_barrier() */
#ifndef BROKEN
	d_step { HEAVY_BARRIER(T_C) };
#endif
	/* 276: the id check; one fiber, never reaped: it passes. */
#ifdef OLD_BUG
	/* old 247: load the word; old 255: claim it if WAITING */
	LD(T_C, WORD, w);
	if
	:: STATE(w) == WAITING -> CANCEL(T_C, w, got, won)
	:: else -> skip
	fi;
#else
	CANCEL(T_C, w, got, won);		/* 278 */
#endif
	nrequests++;				/* 279: return 0 */
out:
	cancel_done = 1
}

/* When nothing can move: every wait ended, the request is accounted for. */
active proctype check()
{
	timeout ->
	assert(fiber_done && cancel_done);
#ifdef CANCEL_COUNT
	assert(ncanceled + (mem[CFID] == FID) == nrequests);
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
