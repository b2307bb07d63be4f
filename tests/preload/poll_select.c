// SPDX-License-Identifier: MIT
/*
 * poll_select.c - readiness and timeouts of poll/ppoll/select/pselect and
 * epoll_wait/epoll_pwait: exact revents (POLLIN, POLLOUT, POLLHUP, POLLNVAL,
 * negative fds ignored), timeouts that expire (no sooner than asked, more or
 * less), select's timeval counted down, and many threads parked in each
 * call at once, woken one by one from the main thread.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <unistd.h>

#include "preload.h"

#define TIMEO_MS	100
#define NWAITERS	64
#define NEPOLL		8

/* The names of the bits in @ev; good for four uses in one printf(). */
static const char *events(short ev)
{
	static char bufs[4][64];
	static int next;
	char *buf = bufs[next++ % 4];

	buf[0] = 0;
	if (ev & POLLIN)
		strcat(buf, "|POLLIN");
	if (ev & POLLOUT)
		strcat(buf, "|POLLOUT");
	if (ev & POLLERR)
		strcat(buf, "|POLLERR");
	if (ev & POLLHUP)
		strcat(buf, "|POLLHUP");
	if (ev & POLLNVAL)
		strcat(buf, "|POLLNVAL");
	return buf[0] ? buf + 1 : "0";
}

static bool slept_enough(int64_t t0)
{
	return ms_since(t0) >= TIMEO_MS / 2;
}

/*
 * An fd number that is not open, yet inside the fd table: select() ignores
 * numbers past the table's end, which depends on how many fds were open.
 */
static int closed_fd(void)
{
	int fd = dup(1);

	CHECK(fd >= 0);
	CHECK_EQ(close(fd), 0);
	return fd;
}

static void test_poll(void)
{
	struct pollfd p[3];
	int fd[2];
	int64_t t0;
	int r;

	CHECK_EQ(pipe(fd), 0);
	p[0] = (struct pollfd){ .fd = fd[0], .events = POLLIN };
	t0 = now_ns();
	r = poll(p, 1, TIMEO_MS);
	printf("poll empty pipe, %d ms: %d, revents %s, waited: %s\n",
	       TIMEO_MS, r, events(p[0].revents), yesno(slept_enough(t0)));
	printf("poll empty pipe, 0 ms: %d\n", poll(p, 1, 0));
	t0 = now_ns();
	r = poll(NULL, 0, TIMEO_MS);
	printf("poll no fds, %d ms: %d, waited: %s\n", TIMEO_MS, r,
	       yesno(slept_enough(t0)));

	CHECK_EQ(write(fd[1], "x", 1), 1);
	p[0] = (struct pollfd){ .fd = fd[0], .events = POLLIN | POLLOUT };
	p[1] = (struct pollfd){ .fd = fd[1], .events = POLLIN | POLLOUT };
	p[2] = (struct pollfd){ .fd = -1, .events = POLLIN, .revents = 7 };
	r = poll(p, 3, -1);
	printf("poll data: %d, read end %s, write end %s, fd -1 %s\n", r,
	       events(p[0].revents), events(p[1].revents),
	       events(p[2].revents));

	CHECK_EQ(close(fd[1]), 0);
	p[0] = (struct pollfd){ .fd = fd[0], .events = POLLIN };
	p[1] = (struct pollfd){ .fd = closed_fd(), .events = POLLIN };
	r = poll(p, 2, TIMEO_MS);
	printf("poll writer closed, data left: %d, %s; closed fd %s\n", r,
	       events(p[0].revents), events(p[1].revents));
	CHECK_EQ(read(fd[0], &(char){ 0 }, 1), 1);
	r = poll(p, 1, TIMEO_MS);
	printf("poll writer closed, drained: %d, %s\n", r,
	       events(p[0].revents));
	p[0].events = 0;
	r = poll(p, 1, 0);
	printf("poll events 0 on a hung-up pipe: %d, %s\n", r,
	       events(p[0].revents));
	close(fd[0]);
}

static void test_ppoll(void)
{
	struct timespec ts = { 0, TIMEO_MS * 1000000L };
	struct pollfd p;
	sigset_t mask;
	int fd[2];
	int64_t t0;
	int r;

	CHECK_EQ(pipe(fd), 0);
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	p = (struct pollfd){ .fd = fd[0], .events = POLLIN };
	t0 = now_ns();
	r = ppoll(&p, 1, &ts, NULL);
	printf("ppoll empty pipe, %d ms: %d, waited: %s\n", TIMEO_MS, r,
	       yesno(slept_enough(t0)));
	t0 = now_ns();
	r = ppoll(&p, 1, &ts, &mask);
	printf("ppoll with sigmask, %d ms: %d, waited: %s\n", TIMEO_MS, r,
	       yesno(slept_enough(t0)));
	CHECK_EQ(write(fd[1], "x", 1), 1);
	r = ppoll(&p, 1, NULL, NULL);
	printf("ppoll data, no timeout: %d, %s\n", r, events(p.revents));
	ts.tv_nsec = 1000000000L;
	CHECK_ERR(ppoll(&p, 1, &ts, NULL), EINVAL);
	printf("ppoll tv_nsec 1e9: EINVAL\n");
	close(fd[0]);
	close(fd[1]);
}

static void test_select(void)
{
	struct timeval tv;
	struct timespec ts;
	fd_set rd, wr;
	int fd[2];
	int64_t t0;
	int r;

	CHECK_EQ(pipe(fd), 0);
	FD_ZERO(&rd);
	FD_SET(fd[0], &rd);
	tv = (struct timeval){ 0, TIMEO_MS * 1000 };
	t0 = now_ns();
	r = select(fd[0] + 1, &rd, NULL, NULL, &tv);
	printf("select empty pipe, %d ms: %d, set cleared %s, waited: %s, "
	       "timeval zeroed: %s\n", TIMEO_MS, r, yesno(!FD_ISSET(fd[0], &rd)),
	       yesno(slept_enough(t0)), yesno(!tv.tv_sec && !tv.tv_usec));
	tv = (struct timeval){ 0, TIMEO_MS * 1000 };
	t0 = now_ns();
	r = select(0, NULL, NULL, NULL, &tv);
	printf("select no fds, %d ms: %d, waited: %s\n", TIMEO_MS, r,
	       yesno(slept_enough(t0)));

	CHECK_EQ(write(fd[1], "x", 1), 1);
	FD_ZERO(&rd);
	FD_ZERO(&wr);
	FD_SET(fd[0], &rd);
	FD_SET(fd[1], &rd);
	FD_SET(fd[0], &wr);
	FD_SET(fd[1], &wr);
	tv = (struct timeval){ 10, 0 };
	r = select((fd[0] > fd[1] ? fd[0] : fd[1]) + 1, &rd, &wr, NULL, &tv);
	printf("select data: %d, read end r%d w%d, write end r%d w%d, "
	       "timeval not above 10 s: %s\n", r, FD_ISSET(fd[0], &rd),
	       FD_ISSET(fd[0], &wr), FD_ISSET(fd[1], &rd), FD_ISSET(fd[1], &wr),
	       yesno(tv.tv_sec < 10 || (tv.tv_sec == 10 && !tv.tv_usec)));

	FD_ZERO(&rd);
	FD_SET(fd[0], &rd);
	ts = (struct timespec){ 0, TIMEO_MS * 1000000L };
	r = pselect(fd[0] + 1, &rd, NULL, NULL, &ts, NULL);
	printf("pselect data: %d, set %d\n", r, FD_ISSET(fd[0], &rd));
	CHECK_EQ(read(fd[0], &(char){ 0 }, 1), 1);
	t0 = now_ns();
	r = pselect(fd[0] + 1, &rd, NULL, NULL, &ts, NULL);
	printf("pselect empty pipe, %d ms: %d, waited: %s, timespec kept: %s\n",
	       TIMEO_MS, r, yesno(slept_enough(t0)),
	       yesno(ts.tv_nsec == TIMEO_MS * 1000000L));

	FD_ZERO(&rd);
	r = closed_fd();
	FD_SET(r, &rd);
	tv = (struct timeval){ 0, 0 };
	CHECK_ERR(select(r + 1, &rd, NULL, NULL, &tv), EBADF);
	CHECK_ERR(select(-1, NULL, NULL, NULL, &tv), EINVAL);
	printf("select closed fd: EBADF, nfds -1: EINVAL\n");
	close(fd[0]);
	close(fd[1]);
}

static int wfd[NWAITERS][2];

static void *poll_waiter(void *arg)
{
	int i = (intptr_t)arg;
	struct pollfd p = { .fd = wfd[i][0], .events = POLLIN };

	CHECK_EQ(poll(&p, 1, -1), 1);
	return (void *)(intptr_t)(p.revents == POLLIN);
}

static void *select_waiter(void *arg)
{
	int i = (intptr_t)arg;
	fd_set rd;

	FD_ZERO(&rd);
	FD_SET(wfd[i][0], &rd);
	CHECK_EQ(select(wfd[i][0] + 1, &rd, NULL, NULL, NULL), 1);
	return (void *)(intptr_t)(FD_ISSET(wfd[i][0], &rd) != 0);
}

static void *ppoll_waiter(void *arg)
{
	int i = (intptr_t)arg;
	struct pollfd p = { .fd = wfd[i][0], .events = POLLIN };
	struct timespec ts = { 30, 0 };

	CHECK_EQ(ppoll(&p, 1, &ts, NULL), 1);
	return (void *)(intptr_t)(p.revents == POLLIN);
}

/* NWAITERS threads wait in @fn on their own pipes; each is woken in turn. */
static void wake_one_by_one(const char *name, void *(*fn)(void *))
{
	pthread_t t[NWAITERS];
	int woken = 0;

	for (int i = 0; i < NWAITERS; i++) {
		CHECK_EQ(pipe(wfd[i]), 0);
		t[i] = spawn(fn, (void *)(intptr_t)i);
	}
	for (int i = NWAITERS - 1; i >= 0; i--) {
		CHECK_EQ(write(wfd[i][1], "x", 1), 1);
		woken += (intptr_t)join(t[i]);
		close(wfd[i][0]);
		close(wfd[i][1]);
	}
	printf("%d threads in %s, woken with the right event: %d\n", NWAITERS,
	       name, woken);
}

static int epfd, efd_stop, done_pipe[2];

/*
 * An NEPOLL-thread pool on one epoll fd: NWAITERS one-shot pipes, each
 * consumed by exactly one waiter, and a level-triggered eventfd that stops
 * them all.
 */
static void *epoll_waiter(void *arg)
{
	int consumed = 0;

	(void)arg;
	for (;;) {
		struct epoll_event ev;
		int r = epoll_wait(epfd, &ev, 1, -1);
		char c;

		CHECK_EQ(r, 1);
		if (ev.data.fd == efd_stop)
			break;
		CHECK_EQ(read(ev.data.fd, &c, 1), 1);
		consumed++;
		CHECK_EQ(write(done_pipe[1], "d", 1), 1);
	}
	return (void *)(intptr_t)consumed;
}

static void test_epoll_threads(void)
{
	struct epoll_event ev;
	pthread_t t[NEPOLL];
	int consumed = 0;
	uint64_t one = 1;
	char buf[NWAITERS];

	epfd = epoll_create1(EPOLL_CLOEXEC);
	CHECK(epfd >= 0);
	efd_stop = eventfd(0, 0);
	CHECK(efd_stop >= 0);
	CHECK_EQ(pipe(done_pipe), 0);
	for (int i = 0; i < NEPOLL; i++)
		t[i] = spawn(epoll_waiter, NULL);
	/* Added while the waiters are (probably) parked already. */
	for (int i = 0; i < NWAITERS; i++) {
		CHECK_EQ(pipe(wfd[i]), 0);
		ev = (struct epoll_event){ .events = EPOLLIN | EPOLLONESHOT,
					   .data.fd = wfd[i][0] };
		CHECK_EQ(epoll_ctl(epfd, EPOLL_CTL_ADD, wfd[i][0], &ev), 0);
		CHECK_EQ(write(wfd[i][1], "x", 1), 1);
	}
	for (size_t got = 0; got < NWAITERS;) {
		ssize_t r = read(done_pipe[0], buf, NWAITERS - got);

		CHECK(r > 0);
		got += r;
	}
	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = efd_stop };
	CHECK_EQ(epoll_ctl(epfd, EPOLL_CTL_ADD, efd_stop, &ev), 0);
	CHECK_EQ(write(efd_stop, &one, sizeof(one)), 8);
	for (int i = 0; i < NEPOLL; i++)
		consumed += (intptr_t)join(t[i]);
	printf("epoll: %d threads consumed %d one-shot events, all stopped\n",
	       NEPOLL, consumed);
	for (int i = 0; i < NWAITERS; i++) {
		close(wfd[i][0]);
		close(wfd[i][1]);
	}
	close(done_pipe[0]);
	close(done_pipe[1]);
	close(efd_stop);
	close(epfd);
}

static void test_epoll(void)
{
	struct epoll_event ev, out[4];
	sigset_t mask;
	int fd[2], ep;
	int64_t t0;
	int r;

	CHECK_EQ(pipe(fd), 0);
	ep = epoll_create1(0);
	CHECK(ep >= 0);
	ev = (struct epoll_event){ .events = EPOLLIN | EPOLLET, .data.u32 = 7 };
	CHECK_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, fd[0], &ev), 0);
	t0 = now_ns();
	r = epoll_wait(ep, out, 4, TIMEO_MS);
	printf("epoll_wait empty, %d ms: %d, waited: %s\n", TIMEO_MS, r,
	       yesno(slept_enough(t0)));
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	t0 = now_ns();
	r = epoll_pwait(ep, out, 4, TIMEO_MS, &mask);
	printf("epoll_pwait empty, %d ms: %d, waited: %s\n", TIMEO_MS, r,
	       yesno(slept_enough(t0)));
	printf("epoll_wait 0 ms: %d\n", epoll_wait(ep, out, 4, 0));
	CHECK_EQ(write(fd[1], "xy", 2), 2);
	r = epoll_wait(ep, out, 4, -1);
	printf("epoll_wait data: %d, events %s, data %u\n", r,
	       events(out[0].events), out[0].data.u32);
	printf("edge-triggered, not re-armed: %d\n", epoll_wait(ep, out, 4, 0));
	CHECK_ERR(epoll_wait(ep, out, 0, 0), EINVAL);
	CHECK_ERR(epoll_wait(fd[0], out, 4, 0), EINVAL);
	printf("epoll_wait maxevents 0: EINVAL, on a pipe: EINVAL\n");
	close(ep);
	close(fd[0]);
	close(fd[1]);
}

int main(void)
{
	preload_init();
	test_poll();
	test_ppoll();
	test_select();
	wake_one_by_one("poll", poll_waiter);
	wake_one_by_one("ppoll", ppoll_waiter);
	wake_one_by_one("select", select_waiter);
	test_epoll();
	test_epoll_threads();
	printf("done\n");
	return 0;
}
