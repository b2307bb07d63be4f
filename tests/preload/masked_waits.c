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
 * broken mask shows as "timed out" rather than a hang.
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
	printf("done\n");
	return 0;
}
