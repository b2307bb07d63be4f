// SPDX-License-Identifier: MIT
/*
 * masked_waits.c - ppoll, pselect, epoll_pwait and sigsuspend with a signal
 * mask: a signal blocked everywhere else is delivered during the wait, its
 * handler runs and the wait fails with EINTR, and the mask is back after.
 *
 * Each case blocks SIGUSR1, makes it pending (from main, or from another
 * thread that blocks it too), then waits on a pipe that never becomes
 * readable with a mask that unblocks it: the signal can only arrive inside
 * the wait, whatever the timing. The waits have a 5 s timeout so that a
 * broken mask shows as "timed out" rather than a hang. Then: a thread
 * cancelled in ppoll, two overlapping ppolls ending out of order, and
 * the sigwait family.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <unistd.h>

#include "preload.h"

static volatile sig_atomic_t handled;

static void on_usr1(int sig)
{
	(void)sig;
	handled++;
}

static int pipefd[2];

static const char *result(int r, int err)
{
	if (r < 0)
		return errname(err);
	return r ? "ready" : "timed out";
}

static void *send_usr2(void *arg)
{
	(void)arg;
	CHECK_EQ(kill(getpid(), SIGUSR2), 0);
	return NULL;
}

static void *send_usr1(void *arg)
{
	(void)arg;
	CHECK_EQ(kill(getpid(), SIGUSR1), 0);
	return NULL;
}

/* Make SIGUSR1 pending: from main itself, or from another thread. */
static void make_pending(bool other)
{
	if (other)
		join(spawn(send_usr1, NULL));
	else
		CHECK_EQ(kill(getpid(), SIGUSR1), 0);
}

static bool still_blocked(void)
{
	sigset_t cur;

	CHECK_EQ(sigprocmask(SIG_BLOCK, NULL, &cur), 0);
	return sigismember(&cur, SIGUSR1);
}

static void report(const char *what, bool other, int r, int err, int before)
{
	printf("%s, signal from %s: %s, handler ran %d time(s), SIGUSR1 "
	       "blocked after: %s\n", what, other ? "a thread" : "main",
	       result(r, err), handled - before, yesno(still_blocked()));
}

static void test_ppoll(bool other, const sigset_t *open)
{
	struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
	struct timespec tmo = { 5, 0 };
	int before = handled, r;

	make_pending(other);
	r = ppoll(&p, 1, &tmo, open);
	report("ppoll", other, r, errno, before);
}

static void test_pselect(bool other, const sigset_t *open)
{
	struct timespec tmo = { 5, 0 };
	int before = handled, r;
	fd_set rd;

	FD_ZERO(&rd);
	FD_SET(pipefd[0], &rd);
	make_pending(other);
	r = pselect(pipefd[0] + 1, &rd, NULL, NULL, &tmo, open);
	report("pselect", other, r, errno, before);
}

static void test_epoll_pwait(bool other, const sigset_t *open)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int before = handled, ep, r;

	ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0);
	CHECK_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, pipefd[0], &ev), 0);
	make_pending(other);
	r = epoll_pwait(ep, &ev, 1, 5000, open);
	report("epoll_pwait", other, r, errno, before);
	close(ep);
}

static void test_sigsuspend(bool other, const sigset_t *open)
{
	int before = handled, r;

	make_pending(other);
	r = sigsuspend(open);
	report("sigsuspend", other, r, errno, before);
}

/* The same from a thread that is not main, while main waits for it. */
static void *in_a_thread(void *arg)
{
	const sigset_t *open = arg;

	test_ppoll(false, open);
	test_sigsuspend(false, open);
	return NULL;
}

/* A thread in ppoll with a mask, cancelled: the mask is the program's after. */
static void *ppoll_forever(void *arg)
{
	struct pollfd p = { .fd = pipefd[0], .events = POLLIN };

	ppoll(&p, 1, NULL, arg);
	return NULL;
}

static void test_cancel_in_ppoll(const sigset_t *open)
{
	pthread_t t = spawn(ppoll_forever, (void *)open);

	CHECK_PT(pthread_cancel(t));
	printf("cancel in ppoll: join %s, SIGUSR1 blocked after: %s\n",
	       join(t) == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "a value",
	       yesno(still_blocked()));
}

/*
 * Two threads in ppoll with the same mask; the first to start ends first
 * (its pipe becomes readable); the signal sent then still reaches the
 * other one.
 */
struct overlap {
	int fd[2];		/* the pipe it waits on */
	int started[2];		/* it says it is about to wait */
	const sigset_t *open;
	const char *res;
};

static void *ppoll_on(void *arg)
{
	struct overlap *o = arg;
	struct pollfd p = { .fd = o->fd[0], .events = POLLIN };
	struct timespec tmo = { 5, 0 };
	int r;

	CHECK_EQ(write(o->started[1], "s", 1), 1);
	r = ppoll(&p, 1, &tmo, o->open);
	o->res = result(r, errno);
	return NULL;
}

static void test_overlapping_waits(const sigset_t *open)
{
	struct overlap o[2];
	pthread_t t[2];
	int before = handled;
	char c;

	for (int i = 0; i < 2; i++) {
		CHECK_EQ(pipe(o[i].fd), 0);
		CHECK_EQ(pipe(o[i].started), 0);
		o[i].open = open;
		t[i] = spawn(ppoll_on, &o[i]);
		CHECK_EQ(read(o[i].started[0], &c, 1), 1);
	}
	CHECK_EQ(write(o[0].fd[1], "x", 1), 1);
	join(t[0]);
	CHECK_EQ(kill(getpid(), SIGUSR1), 0);
	join(t[1]);
	printf("overlapping ppolls: the first %s, the second %s; handler ran "
	       "%d time(s), SIGUSR1 blocked after: %s\n", o[0].res, o[1].res,
	       handled - before, yesno(still_blocked()));
	for (int i = 0; i < 2; i++) {
		close(o[i].fd[0]);
		close(o[i].fd[1]);
		close(o[i].started[0]);
		close(o[i].started[1]);
	}
}

/*
 * sigwait, sigwaitinfo and sigtimedwait: a blocked SIGUSR2 made pending is
 * taken (its handler does not run), and a timed wait with nothing pending
 * fails with EAGAIN.
 */
static void test_sigwait_family(void)
{
	struct timespec tmo = { 0, 50 * 1000000L };
	sigset_t usr2;
	siginfo_t si;
	int sig = 0, r;

	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	CHECK_EQ(sigprocmask(SIG_BLOCK, &usr2, NULL), 0);
	CHECK_EQ(kill(getpid(), SIGUSR2), 0);
	r = sigwait(&usr2, &sig);
	printf("sigwait: %d, signal %s\n", r,
	       sig == SIGUSR2 ? "SIGUSR2" : "another");
	join(spawn(send_usr2, NULL));
	r = sigwaitinfo(&usr2, &si);
	printf("sigwaitinfo (sent by a thread): %s, si_signo %s\n",
	       r == SIGUSR2 ? "SIGUSR2" : "another",
	       si.si_signo == SIGUSR2 ? "SIGUSR2" : "another");
	r = sigtimedwait(&usr2, &si, &tmo);
	printf("sigtimedwait with nothing pending: %s\n", result(r, errno));
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigset_t usr1, open;

	preload_init();
	CHECK_EQ(pipe(pipefd), 0);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	CHECK_EQ(sigprocmask(SIG_BLOCK, &usr1, NULL), 0);
	CHECK_EQ(sigprocmask(SIG_BLOCK, NULL, &open), 0);
	sigdelset(&open, SIGUSR1);
	CHECK_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
	for (int other = 0; other < 2; other++) {
		test_ppoll(other, &open);
		test_pselect(other, &open);
		test_epoll_pwait(other, &open);
		test_sigsuspend(other, &open);
	}
	printf("in another thread:\n");
	join(spawn(in_a_thread, &open));
	test_cancel_in_ppoll(&open);
	test_overlapping_waits(&open);
	test_ppoll(false, &open);	/* still works after all that */
	test_sigwait_family();
	printf("done\n");
	return 0;
}
