// SPDX-License-Identifier: MIT
/*
 * fortify.c - the same blocking calls as a -D_FORTIFY_SOURCE=2 -O2 build of a
 * distribution package makes them: __read_chk, __pread_chk, __recv_chk,
 * __recvfrom_chk, __poll_chk, __ppoll_chk and __fdelt_chk (FD_SET), which
 * glibc does not route through read/poll/recv, so a shim that hooks only
 * the plain names misses them. NTHREADS threads block in each at once.
 *
 * The fortified forms are used only when the buffer's size is known and
 * the length is not a constant, hence len(). run.sh checks with nm that the
 * binary really imports them.
 */
#ifndef _FORTIFY_SOURCE
#define _FORTIFY_SOURCE 2
#endif
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include "preload.h"

#define NTHREADS	64
#define TIMEO_MS	100

/* A length the compiler cannot see, so the _chk forms are called. */
static size_t __attribute__((noinline)) len(size_t n)
{
	__asm__ volatile("" : "+r"(n));
	return n;
}

static bool waited(int64_t t0)
{
	return ms_since(t0) >= TIMEO_MS / 2;
}

static int fds[NTHREADS][2];

static void *read_chk_waiter(void *arg)
{
	char buf[16];

	return (void *)(intptr_t)read(fds[(intptr_t)arg][0], buf, len(16));
}

static void *recv_chk_waiter(void *arg)
{
	char buf[16];

	return (void *)(intptr_t)recv(fds[(intptr_t)arg][0], buf, len(16), 0);
}

static void *recvfrom_chk_waiter(void *arg)
{
	char buf[16];

	return (void *)(intptr_t)recvfrom(fds[(intptr_t)arg][0], buf, len(16),
					  0, NULL, NULL);
}

static void *poll_chk_waiter(void *arg)
{
	struct pollfd p[1] = { { fds[(intptr_t)arg][0], POLLIN, 0 } };

	return (void *)(intptr_t)(poll(p, len(1), -1) == 1 &&
				  p[0].revents == POLLIN);
}

static void *ppoll_chk_waiter(void *arg)
{
	struct pollfd p[1] = { { fds[(intptr_t)arg][0], POLLIN, 0 } };
	struct timespec ts = { 30, 0 };

	return (void *)(intptr_t)(ppoll(p, len(1), &ts, NULL) == 1 &&
				  p[0].revents == POLLIN);
}

static void *select_waiter(void *arg)
{
	int fd = fds[(intptr_t)arg][0];
	fd_set rd;

	FD_ZERO(&rd);
	FD_SET(fd, &rd);	/* __fdelt_chk */
	return (void *)(intptr_t)(select(fd + 1, &rd, NULL, NULL, NULL) == 1 &&
				  FD_ISSET(fd, &rd));
}

/* NTHREADS threads block in @fn; the main thread wakes them in turn. */
static void all_blocked(const char *name, void *(*fn)(void *), bool sockets)
{
	pthread_t t[NTHREADS];
	long sum = 0;

	for (int i = 0; i < NTHREADS; i++) {
		if (sockets)
			CHECK_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, fds[i]), 0);
		else
			CHECK_EQ(pipe(fds[i]), 0);
		t[i] = spawn(fn, (void *)(intptr_t)i);
	}
	for (int i = 0; i < NTHREADS; i++) {
		CHECK_EQ(write(fds[i][1], "12345", 1 + i % 5), 1 + i % 5);
		sum += (intptr_t)join(t[i]);
		close(fds[i][0]);
		close(fds[i][1]);
	}
	printf("%d threads blocked in %s: result sum %ld\n", NTHREADS, name,
	       sum);
}

static void test_single(void)
{
	struct timeval tv = { 0, TIMEO_MS * 1000 };
	struct timespec ts = { 0, TIMEO_MS * 1000000L };
	char path[] = "/tmp/weft-preload-XXXXXX";
	struct pollfd p[1];
	char buf[16] = { 0 };
	int fd[2], f;
	int64_t t0;
	int r;

	CHECK_EQ(pipe2(fd, O_NONBLOCK), 0);
	CHECK_ERR(read(fd[0], buf, len(16)), EAGAIN);
	printf("__read_chk on an empty O_NONBLOCK pipe: EAGAIN\n");
	p[0] = (struct pollfd){ .fd = fd[0], .events = POLLIN };
	t0 = now_ns();
	r = poll(p, len(1), TIMEO_MS);
	printf("__poll_chk, %d ms: %d, waited: %s\n", TIMEO_MS, r,
	       yesno(waited(t0)));
	t0 = now_ns();
	r = ppoll(p, len(1), &ts, NULL);
	printf("__ppoll_chk, %d ms: %d, waited: %s\n", TIMEO_MS, r,
	       yesno(waited(t0)));
	close(fd[0]);
	close(fd[1]);

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
	CHECK_EQ(setsockopt(fd[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	t0 = now_ns();
	CHECK_ERR(recv(fd[0], buf, len(16), 0), EAGAIN);
	printf("__recv_chk with SO_RCVTIMEO: EAGAIN, waited: %s\n",
	       yesno(waited(t0)));
	t0 = now_ns();
	CHECK_ERR(recvfrom(fd[0], buf, len(16), 0, NULL, NULL), EAGAIN);
	printf("__recvfrom_chk with SO_RCVTIMEO: EAGAIN, waited: %s\n",
	       yesno(waited(t0)));
	t0 = now_ns();
	CHECK_ERR(read(fd[0], buf, len(16)), EAGAIN);
	printf("__read_chk with SO_RCVTIMEO: EAGAIN, waited: %s\n",
	       yesno(waited(t0)));
	close(fd[0]);
	close(fd[1]);

	f = mkstemp(path);
	CHECK(f >= 0);
	unlink(path);
	CHECK_EQ(write(f, "fortified pread", 15), 15);
	r = pread(f, buf, len(8), 10);
	printf("__pread_chk: %d '%.*s'\n", r, r > 0 ? r : 0, buf);
	close(f);
}

int main(void)
{
	preload_init();
	test_single();
	all_blocked("__read_chk", read_chk_waiter, false);
	all_blocked("__recv_chk", recv_chk_waiter, true);
	all_blocked("__recvfrom_chk", recvfrom_chk_waiter, true);
	all_blocked("__poll_chk", poll_chk_waiter, false);
	all_blocked("__ppoll_chk", ppoll_chk_waiter, false);
	all_blocked("select with __fdelt_chk", select_waiter, false);
	printf("done\n");
	return 0;
}
