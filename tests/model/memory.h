/* SPDX-License-Identifier: MIT */
/*
 * memory.h - the memory the weft models run on.
 *
 * Spin runs one statement at a time, so by default every load sees the
 * last store to its word: sequential consistency. The barriers the C code
 * relies on are then comments, and the models check the protocols' logic.
 *
 * With -DSB each thread also gets a store buffer, the reordering that the
 * Dekker pairs in weft exist to forbid (store, then load another word):
 *	- A plain store (relaxed or release: a mov on x86, and an arm64 stlr
 *	  that a later relaxed ldr may pass) goes into the thread's FIFO
 *	  buffer, two entries deep; a full buffer stalls the thread.
 *	- A load looks in its own thread's buffer first (newest entry), then
 *	  memory.
 *	- A flusher process per thread moves the oldest entry to memory at
 *	  any moment.
 *	- RMWs (CAS, exchange, fetch_add: lock-prefixed on x86, acquire and
 *	  release on arm64) and full fences drain the thread's buffer first
 *	  and then act on memory.
 *	- weft__light_barrier() with membarrier registered (internal.h) is
 *	  __atomic_signal_fence(): a compiler barrier only, nothing here.
 *	- weft__heavy_barrier() is membarrier(PRIVATE_EXPEDITED): every
 *	  running thread of the process executes a full barrier before it
 *	  returns. Modelled as one step that drains every buffer (the IPIs
 *	  are collapsed into one instant, the usual simplification).
 *	- -DNO_MEMBARRIER: registration failed (or TSan); both barriers are
 *	  full fences of the calling thread only.
 * Stores stay in program order (FIFO): x86-TSO. arm64 may also reorder
 * relaxed stores with each other and loads with loads; the words modelled
 * here are ordered by release stores or acquire loads where that matters,
 * which keeps that order on arm64 as well.
 *
 * A model defines NT (threads) and NV (shared words), names its words as
 * indexes into mem[], and includes this file.
 */
#ifndef WEFT_MODEL_MEMORY_H
#define WEFT_MODEL_MEMORY_H

int mem[NV];

#ifdef SB

#define SBD	2		/* entries per store buffer (LD below unrolls 2) */

byte sb_n[NT];			/* entries in thread t's buffer */
byte sb_var[NT * SBD];		/* [t * SBD + i]: word of entry i, oldest first */
int sb_val[NT * SBD];
byte sb_i;			/* scratch for DRAIN_ALL, always 0 between steps */

/* A plain store by thread t: into its buffer (waits while full). */
inline ST(tid_, var_, val_)
{
	atomic {
		sb_n[tid_] < SBD ->
		sb_var[tid_ * SBD + sb_n[tid_]] = var_;
		sb_val[tid_ * SBD + sb_n[tid_]] = val_;
		sb_n[tid_]++
	}
}

/* A load by thread t: its own newest buffered store to v, else memory. */
inline LD(tid_, var_, res_)
{
	d_step {
		if
		:: sb_n[tid_] == 2 && sb_var[tid_ * SBD + 1] == var_ ->
			res_ = sb_val[tid_ * SBD + 1]
		:: else ->
			if
			:: sb_n[tid_] >= 1 && sb_var[tid_ * SBD] == var_ ->
				res_ = sb_val[tid_ * SBD]
			:: else ->
				res_ = mem[var_]
			fi
		fi
	}
}

/* The oldest entry of t's buffer reaches memory (inside d_step/atomic). */
inline FLUSH1(tid_)
{
	mem[sb_var[tid_ * SBD]] = sb_val[tid_ * SBD];
	sb_var[tid_ * SBD] = sb_var[tid_ * SBD + 1];
	sb_val[tid_ * SBD] = sb_val[tid_ * SBD + 1];
	sb_var[tid_ * SBD + 1] = 0;
	sb_val[tid_ * SBD + 1] = 0;
	sb_n[tid_]--
}

/* Drain t's buffer: the first half of an RMW or fence (inside atomic). */
inline DRAIN(tid_)
{
	do
	:: sb_n[tid_] > 0 -> FLUSH1(tid_)
	:: else -> break
	od;
	skip		/* a break may not leave a d_step: land here */
}

inline DRAIN_ALL()
{
	sb_i = 0;
	do
	:: sb_i < NT -> DRAIN(sb_i); sb_i++
	:: else -> break
	od;
	sb_i = 0
}

/* The store buffer's own agent: flushes thread t's oldest entry. */
proctype flusher(byte tid_)
{
end:	do
	:: d_step { sb_n[tid_] > 0 -> FLUSH1(tid_) }
	od
}

/* An RMW that waits (a lock): t's buffer must have drained first. */
#define BUF_EMPTY(tid_)	(sb_n[tid_] == 0)

/* Start the flushers (call from init, before the model's threads). */
inline RUN_FLUSHERS()
{
	sb_i = 0;
	do
	:: sb_i < NT -> run flusher(sb_i); sb_i++
	:: else -> break
	od;
	sb_i = 0
}

#else /* sequentially consistent */

inline ST(tid_, var_, val_)
{
	mem[var_] = val_
}

inline LD(tid_, var_, res_)
{
	res_ = mem[var_]
}

#define DRAIN(t)	skip
#define BUF_EMPTY(t)	(1)
#define DRAIN_ALL()	skip
#define RUN_FLUSHERS()	skip

#endif

/*
 * The asymmetric barrier pair of internal.h, as the first part of a
 * d_step or atomic step (a fence acts just before the next access).
 */
#ifdef NO_MEMBARRIER
#define LIGHT_BARRIER(tid_)	DRAIN(tid_)	/* a full fence */
#define HEAVY_BARRIER(tid_)	DRAIN(tid_)
#else
#define LIGHT_BARRIER(tid_)	skip		/* a compiler barrier */
#define HEAVY_BARRIER(tid_)	DRAIN_ALL()	/* membarrier() */
#endif

#endif
