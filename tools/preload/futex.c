// SPDX-License-Identifier: MIT
/*
 * Raw futexes from the program's own code: libstdc++ waits with
 * syscall(SYS_futex, ...) in std::future, std::atomic::wait, std::latch,
 * std::counting_semaphore and its static-initialisation guards. A fiber
 * that blocked there would block its worker, and with it the fiber that
 * is to wake it. So a fiber's FUTEX_WAIT parks on a table of ours keyed
 * by address, and every FUTEX_WAKE (from a fiber or a thread) wakes the
 * fibers waiting there before it wakes OS threads in the kernel.
 *
 * The check of the futex word and the queueing happen under the bucket's
 * lock, and a waker takes that lock after changing the word: the kernel's
 * own argument for "no lost wake-up". Other futex operations, and every
 * system call but futex, go straight to libc.
 */
#include <limits.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../../sched/waitq.h"
#include "shim.h"

#define NBUCKETS	256

static struct bucket {
	struct weft_spin lock;		/* protects q */
	struct wq q;			/* wt->data: address, aux: bitset */
} buckets[NBUCKETS];

static struct bucket *bucket_of(const void *addr)
{
	uintptr_t a = (uintptr_t)addr;

	return &buckets[(a >> 2 ^ a >> 10) % NBUCKETS];
}

/* FUTEX_WAIT on a fiber: 0, or -1 with errno as the kernel's. */
static long fiber_wait(uint32_t *addr, uint32_t val, uint64_t deadline,
		       uint32_t bitset)
{
	struct bucket *b = bucket_of(addr);
	struct weft_spin *lock = &b->lock;
	struct weft_waiter wt;
	int st;

	if (!bitset) {
		errno = EINVAL;
		return -1;
	}
	weft_spin_lock(lock);
	if (__atomic_load_n(addr, __ATOMIC_SEQ_CST) != val) {
		weft_spin_unlock(lock);
		errno = EAGAIN;
		return -1;
	}
	weft__waiter_init(&wt, NULL);
	wt.data = addr;
	wt.aux = bitset;
	wq_push(&b->q, &wt);
	st = weft__wait(&wt, &lock, 1, deadline);
	if (st == WAIT_WOKEN)
		return 0;
	weft_spin_lock(lock);
	if (wq_linked(&wt))
		wq_del(&b->q, &wt);
	weft_spin_unlock(lock);
	errno = st == WAIT_TIMEDOUT ? ETIMEDOUT : shim_canceled();
	return -1;
}

/* Wake up to @n fibers waiting on @addr; how many were woken. */
static long fiber_wake(uint32_t *addr, long n, uint32_t bitset)
{
	struct bucket *b = bucket_of(addr);
	struct weft_waiter *wt, *next;
	WAKE_LIST(woken);
	long k = 0;

	if (!__atomic_load_n(&b->q.head, __ATOMIC_ACQUIRE))
		return 0;		/* nobody here: the common case */
	weft_spin_lock(&b->lock);
	for (wt = b->q.head; wt && k < n; wt = next) {
		next = wt->next;
		if (wt->data != addr || !(wt->aux & bitset))
			continue;
		wq_del(&b->q, wt);
		if (weft__wake_claim(wt)) {
			wake_list_add(&woken, wt);
			k++;
		}
	}
	weft_spin_unlock(&b->lock);
	wake_list_finish(&woken);
	return k;
}

/* A FUTEX_WAIT timeout: relative, or absolute for FUTEX_WAIT_BITSET. */
static uint64_t futex_deadline(int cmd, int op, const struct timespec *ts)
{
	if (!ts)
		return WEFT_FOREVER;
	if (cmd == FUTEX_WAIT_BITSET)
		return shim_deadline(op & FUTEX_CLOCK_REALTIME ?
				     CLOCK_REALTIME : CLOCK_MONOTONIC, ts) ?: 1;
	return weft_now_ns() + ts->tv_sec * 1000000000ULL + ts->tv_nsec;
}

long syscall(long nr, ...)
{
	long a[6];
	va_list ap;
	int op, cmd;

	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (nr != SYS_futex || weft_shim_mode == SHIM_OFF)
		return REAL(syscall)(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	op = (int)a[1];
	cmd = op & FUTEX_CMD_MASK;
	switch (cmd) {
	case FUTEX_WAIT:
	case FUTEX_WAIT_BITSET:
		if (!shim_fiber())
			break;
		return fiber_wait((uint32_t *)a[0], (uint32_t)a[2],
				  futex_deadline(cmd, op,
						 (const struct timespec *)a[3]),
				  cmd == FUTEX_WAIT ? FUTEX_BITSET_MATCH_ANY
						    : (uint32_t)a[5]);
	case FUTEX_WAKE:
	case FUTEX_WAKE_BITSET: {
		long n = a[2] < 0 ? 0 : a[2], k, r;

		k = fiber_wake((uint32_t *)a[0], n,
			       cmd == FUTEX_WAKE ? FUTEX_BITSET_MATCH_ANY
						 : (uint32_t)a[5]);
		if (k >= n)
			return k;
		r = REAL(syscall)(nr, a[0], a[1], n - k, a[3], a[4], a[5]);
		return r < 0 ? (k ? k : r) : k + r;
	}
	default:
		break;
	}
	return REAL(syscall)(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
