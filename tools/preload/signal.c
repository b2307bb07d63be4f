// SPDX-License-Identifier: MIT
/*
 * Signals for a program whose threads are fibers.
 *
 * EINTR
 *	A handler the program installs runs through shim_handler(), which
 *	calls it and then asks the monitor thread (a futex wake: safe in a
 *	handler) to interrupt the main fiber's wait, as the kernel would
 *	interrupt the main thread's system call. The interrupted call fails
 *	with EINTR, unless the handler has SA_RESTART and the call is one
 *	the kernel restarts (read, write, socket calls without a timeout,
 *	sem_wait): that one waits again. Poll, select, epoll_wait and the
 *	sleeps always fail with EINTR, as signal(7) lists. pthread_kill() of
 *	a fiber interrupts that fiber.
 *
 * Masks
 *	Signals delivered to the process go to any worker, whichever fiber
 *	asked for a mask. ppoll, pselect, epoll_pwait and sigsuspend set the
 *	process mask to theirs for the wait, and their caller is the one a
 *	handler interrupts then (shim_mask_begin). The shim keeps one process mask: pthread_sigmask()
 *	and sigprocmask() on a fiber change it and every worker applies it
 *	(at its next tick; sleeping ones are woken to do so). A program that
 *	blocks SIGTERM in main() and sigwait()s for it in a thread then works
 *	as it did: sigwait() runs on the offload pool, whose threads have the
 *	mask of the worker that started them.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

static struct sigaction app[_NSIG];	/* what the program installed */
static sigset_t proc_mask;		/* the program's mask; the lock's */
static struct weft_spin mask_lock;

/* The main fiber's thread, interrupted for process signals. */
static struct shim_thread *main_thread;
static uint32_t main_restart;		/* SA_RESTART of the last signal */

void shim_signal_main(struct shim_thread *t)
{
	main_thread = t;
}

/*
 * Fibers in ppoll/pselect/epoll_pwait/sigsuspend with a mask, newest
 * first, and the mask every worker applies: the program's, less what any
 * of them unblocks (a signal is deliverable when some thread takes it).
 * All under mask_lock, as is the interrupt the monitor sends a waiter, so
 * that a waiter leaving can spend one sent late. handled counts handlers
 * run, last_sig is the latest signal handled (atomics).
 */
static struct shim_masked *waiters;
static sigset_t eff_mask;
static uint64_t sig_handled;
static int last_sig;
static uint64_t sig_done;		/* handlers already acted on */

/* Monitor thread: interrupt a waiter that takes the signal, else main. */
static void interrupt_waiter(void)
{
	struct shim_thread *t = main_thread;
	int sig = __atomic_load_n(&last_sig, __ATOMIC_ACQUIRE);
	struct weft_fiber *f;

	weft_spin_lock(&mask_lock);
	/* Once per handler run: a waiter may have seen it already. */
	if (__atomic_load_n(&sig_handled, __ATOMIC_SEQ_CST) == sig_done) {
		weft_spin_unlock(&mask_lock);
		return;
	}
	sig_done = __atomic_load_n(&sig_handled, __ATOMIC_SEQ_CST);
	for (struct shim_masked *m = waiters; m; m = m->next) {
		if (sig > 0 && sigismember(&m->mask, sig))
			continue;
		/* Now or at its next wait (it may not have parked yet). */
		__atomic_store_n(&m->t->eintr, EINTR_PLAIN, __ATOMIC_RELEASE);
		weft_cancel(m->t->fid);
		weft_spin_unlock(&mask_lock);
		return;
	}
	weft_spin_unlock(&mask_lock);
	if (!t || !t->fid)
		return;
	f = weft__lookup(t->fid);
	if (!f || READ_ONCE(f->state) != FIBER_PARKED)
		return;		/* running: nothing to interrupt */
	__atomic_store_n(&t->eintr,
			 __atomic_load_n(&main_restart, __ATOMIC_RELAXED) ?
			 EINTR_RESTART : EINTR_PLAIN, __ATOMIC_RELEASE);
	weft_cancel(t->fid);
}

static void shim_handler(int sig, siginfo_t *si, void *uc)
{
	const struct sigaction *a = &app[sig];
	int saved = errno;

	if (a->sa_flags & SA_SIGINFO)
		a->sa_sigaction(sig, si, uc);
	else if (a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN)
		a->sa_handler(sig);
	__atomic_store_n(&main_restart, !!(a->sa_flags & SA_RESTART),
			 __ATOMIC_RELAXED);
	__atomic_store_n(&last_sig, sig, __ATOMIC_RELEASE);
	__atomic_add_fetch(&sig_handled, 1, __ATOMIC_SEQ_CST);
	weft__monitor_kick();
	errno = saved;
}

bool shim_sig_restarts(int sig)
{
	return sig > 0 && sig < _NSIG && (app[sig].sa_flags & SA_RESTART);
}

/* Does sigaction() go through the shim for @sig? */
static bool ours(int sig)
{
	return weft_shim_mode != SHIM_OFF && sig > 0 && sig < _NSIG &&
	       sig != SIGKILL && sig != SIGSTOP;
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	struct sigaction real;
	int r;

	if (!ours(sig))
		return REAL(sigaction)(sig, act, old);
	weft__monitor_hook = interrupt_waiter;
	if (!act) {
		r = REAL(sigaction)(sig, NULL, old);
		if (!r && old && old->sa_sigaction == shim_handler)
			*old = app[sig];
		return r;
	}
	real = *act;
	if (act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN) {
		real.sa_sigaction = shim_handler;
		real.sa_flags |= SA_SIGINFO;
	}
	/* The program's handler first: a signal may come at once. */
	struct sigaction prev = app[sig];

	app[sig] = *act;
	r = REAL(sigaction)(sig, &real, old);
	if (r) {
		app[sig] = prev;
		return r;
	}
	if (old && old->sa_sigaction == shim_handler)
		*old = prev;
	return 0;
}

/* glibc's signal() calls its own sigaction: BSD semantics, SA_RESTART. */
sighandler_t signal(int sig, sighandler_t h)
{
	struct sigaction act = { .sa_handler = h, .sa_flags = SA_RESTART };
	struct sigaction old;

	if (!ours(sig))
		return REAL(signal)(sig, h);
	sigemptyset(&act.sa_mask);
	sigaddset(&act.sa_mask, sig);
	if (sigaction(sig, &act, &old))
		return SIG_ERR;
	return old.sa_handler;
}

/* ---- masks ---- */

/* Each worker, once per change: adopt the program's mask. */
static void apply_mask(struct weft_worker *w)
{
	sigset_t m;

	(void)w;
	weft_spin_lock(&mask_lock);
	m = eff_mask;
	weft_spin_unlock(&mask_lock);
	REAL(pthread_sigmask)(SIG_SETMASK, &m, NULL);
}

/*
 * eff_mask from proc_mask and the waiters; with mask_lock. Returns
 * whether it changed (then the workers must apply it: publish_mask()).
 */
static bool recompute_locked(void)
{
	sigset_t next = proc_mask;

	for (struct shim_masked *m = waiters; m; m = m->next)
		sigandset(&next, &next, &m->mask);
	if (!memcmp(&next, &eff_mask, sizeof(next)))
		return false;
	eff_mask = next;
	return true;
}

/*
 * Every worker applies eff_mask before this returns: a signal sent next
 * must not land on a worker with the old one. Woken if asleep; bounded,
 * in case one is stuck in a long call (then it applies the mask later).
 */
static void publish_mask(void)
{
	struct weft_rt *rt = weft__runtime();
	uint64_t end;
	uint32_t gen;

	weft__tick_hook = apply_mask;
	gen = __atomic_add_fetch(&weft__tick_gen, 1, __ATOMIC_RELEASE);
	apply_mask(NULL);	/* this worker at once */
	end = weft_now_ns() + 100000000ULL;
	for (unsigned int i = 0; rt && i < rt->nworkers; i++) {
		struct weft_worker *w = &rt->workers[i];

		if (w == weft__cur_worker)
			continue;
		while ((int32_t)(__atomic_load_n(&w->tick_gen,
						 __ATOMIC_ACQUIRE) - gen) < 0 &&
		       weft_now_ns() < end) {
			weft__kick(w);
			weft_yield();
		}
	}
}

static void drop_unblockable(sigset_t *set)
{
	sigdelset(set, SIGKILL);
	sigdelset(set, SIGSTOP);
}

static int fiber_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	bool changed = false;
	sigset_t next;

	if (how != SIG_BLOCK && how != SIG_UNBLOCK && how != SIG_SETMASK)
		return EINVAL;
	weft_spin_lock(&mask_lock);
	if (old)
		*old = proc_mask;
	if (set) {
		next = proc_mask;
		if (how == SIG_BLOCK)
			sigorset(&next, &next, set);
		else if (how == SIG_UNBLOCK) {
			for (int s = 1; s < _NSIG; s++)
				if (sigismember(set, s))
					sigdelset(&next, s);
		} else {
			next = *set;
		}
		drop_unblockable(&next);
		proc_mask = next;
		changed = recompute_locked();
	}
	weft_spin_unlock(&mask_lock);
	if (changed)
		publish_mask();
	return 0;
}

int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	if (!shim_fiber())
		return REAL(pthread_sigmask)(how, set, old);
	return fiber_sigmask(how, set, old);
}

int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	int r;

	if (!shim_fiber())
		return REAL(sigprocmask)(how, set, old);
	r = fiber_sigmask(how, set, old);
	return shim_ret(-r);
}

/*
 * ppoll, pselect, epoll_pwait and sigsuspend with a mask, on a fiber: for
 * the wait the caller joins the waiters, whose masks the workers apply
 * (as the kernel swaps the thread's), and a handler for a signal its mask
 * lets through ends its wait with EINTR. Such a signal may be handled as
 * the mask changes, before the wait parks: then begin returns -EINTR, or
 * the monitor's interrupt stays pending for the wait. Cancellation acts
 * at the end (shim_mask_end), once the caller has left the waiters.
 */
int shim_mask_begin(const sigset_t *mask, struct shim_masked *m)
{
	struct shim_thread *t = shim_self();
	uint64_t seen;
	bool changed;
	int sig;

	m->on = false;
	if (!mask || !t)
		return 0;
	seen = __atomic_load_n(&sig_handled, __ATOMIC_SEQ_CST);
	m->t = t;
	m->mask = *mask;
	drop_unblockable(&m->mask);
	t->cancel_defer = true;
	weft_spin_lock(&mask_lock);
	m->next = waiters;
	waiters = m;
	changed = recompute_locked();
	weft_spin_unlock(&mask_lock);
	m->on = true;
	if (changed)
		publish_mask();
	sig = __atomic_load_n(&last_sig, __ATOMIC_ACQUIRE);
	if (__atomic_load_n(&sig_handled, __ATOMIC_SEQ_CST) != seen &&
	    sig > 0 && !sigismember(&m->mask, sig)) {
		/* Ours: the monitor must not pass it on to main as well. */
		weft_spin_lock(&mask_lock);
		sig_done = __atomic_load_n(&sig_handled, __ATOMIC_SEQ_CST);
		weft_spin_unlock(&mask_lock);
		return -EINTR;
	}
	return 0;
}

void shim_mask_end(struct shim_masked *m)
{
	struct shim_masked **p;
	struct weft_fiber *f;
	uint64_t fid;
	bool changed;

	if (!m->on)
		return;
	weft_spin_lock(&mask_lock);
	for (p = &waiters; *p != m; p = &(*p)->next)
		;
	*p = m->next;
	changed = recompute_locked();
	/*
	 * An interrupt sent after the wait ended must not end the next one:
	 * spend it here, under the lock the monitor sends it with.
	 */
	f = weft__cur_worker->cur;
	fid = f->id;
	__atomic_compare_exchange_n(&f->cancel_fid, &fid, 0, false,
				    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
	__atomic_store_n(&m->t->eintr, EINTR_NONE, __ATOMIC_RELAXED);
	weft_spin_unlock(&mask_lock);
	if (changed)
		publish_mask();
	m->t->cancel_defer = false;
	/* A pthread_cancel() during the wait (its interrupt spent) acts. */
	shim_testcancel();
}

int sigsuspend(const sigset_t *mask)
{
	struct shim_masked m;

	if (!shim_fiber())
		return REAL(sigsuspend)(mask);
	if (!shim_mask_begin(mask, &m))
		while (weft_sleep_until_ns(WEFT_FOREVER) != -ECANCELED)
			;
	shim_mask_end(&m);
	errno = EINTR;
	return -1;
}

/* Seed the process mask from the thread that runs main(). */
void shim_signal_init(void)
{
	REAL(pthread_sigmask)(SIG_SETMASK, NULL, &proc_mask);
	eff_mask = proc_mask;
}

/* ---- waiting for signals: on the offload pool ---- */

struct sigw {
	const sigset_t *set;
	siginfo_t *info;
	const struct timespec *tmo;
	bool timed;			/* sigtimedwait, else sigwait */
	int ret, err;
};

static void *sigw_call(void *arg)
{
	struct sigw *s = arg;
	int sig;

	if (s->timed) {
		s->ret = REAL(sigtimedwait)(s->set, s->info, s->tmo);
		s->err = errno;
	} else {
		s->ret = REAL(sigwait)(s->set, &sig);
		if (!s->ret)
			s->err = sig;	/* the signal, for sigwait's *sig */
	}
	return NULL;
}

static int offload_sigw(struct sigw *s)
{
	return weft__offload_sync(sigw_call, s, NULL);
}

int sigwait(const sigset_t *set, int *sig)
{
	struct sigw s = { .set = set };
	int r;

	if (!shim_fiber())
		return REAL(sigwait)(set, sig);
	r = offload_sigw(&s);
	if (r)
		return -r;
	if (!s.ret)
		*sig = s.err;
	return s.ret;
}

int sigtimedwait(const sigset_t *set, siginfo_t *info,
		 const struct timespec *tmo)
{
	struct sigw s = { .set = set, .info = info, .tmo = tmo,
			  .timed = true };
	int r;

	if (!shim_fiber())
		return REAL(sigtimedwait)(set, info, tmo);
	r = offload_sigw(&s);
	if (r)
		return shim_ret(r);
	if (s.ret < 0)
		errno = s.err;
	return s.ret;
}

/* sigtimedwait() without a timeout, as glibc defines it. */
int sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
	if (!shim_fiber())
		return REAL(sigwaitinfo)(set, info);
	return sigtimedwait(set, info, NULL);
}

/* pause(): until a handler runs (the main fiber), or forever. */
int pause(void)
{
	if (!shim_fiber())
		return REAL(pause)();
	while (weft_sleep_until_ns(WEFT_FOREVER) != -ECANCELED)
		;
	shim_testcancel();
	errno = EINTR;
	return -1;
}
