// SPDX-License-Identifier: MIT
/*
 * nonblock.c - the non-blocking contract: fds the program made O_NONBLOCK
 * (pipe2, SOCK_NONBLOCK, accept4, fcntl F_SETFL, ioctl FIONBIO, EFD_NONBLOCK)
 * fail with EAGAIN at once, and go back to blocking when the flag is
 * cleared; MSG_DONTWAIT on a blocking socket; fds the program left blocking
 * never show O_NONBLOCK; SO_RCVTIMEO/SO_SNDTIMEO end a blocking call with
 * EAGAIN (or a partial count) after the timeout, also on accept, and many
 * such timeouts run at the same time rather than one after another.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "preload.h"

#define TIMEO_MS	100
#define NTIMERS		64

static bool nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	CHECK(fl >= 0);
	return fl & O_NONBLOCK;
}

static void set_nonblocking(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	CHECK(fl >= 0);
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	CHECK_EQ(fcntl(fd, F_SETFL, fl), 0);
}

struct delayed_write {
	int fd;
	const char *msg;
};

static void *writer(void *arg)
{
	struct delayed_write *w = arg;
	size_t n = strlen(w->msg);

	CHECK_EQ(write(w->fd, w->msg, n), n);
	return NULL;
}

/* A read that may block until another thread writes @msg. */
static ssize_t read_with_writer(int rfd, int wfd, const char *msg)
{
	struct delayed_write w = { wfd, msg };
	pthread_t t = spawn(writer, &w);
	char buf[64];
	ssize_t r = read(rfd, buf, sizeof(buf));

	join(t);
	return r;
}

static void test_pipe(void)
{
	char buf[4096] = { 0 };
	long total = 0;
	int fd[2];
	ssize_t r;

	CHECK_EQ(pipe2(fd, O_NONBLOCK), 0);
	printf("pipe2(O_NONBLOCK): O_NONBLOCK %s/%s\n",
	       yesno(nonblocking(fd[0])), yesno(nonblocking(fd[1])));
	CHECK_ERR(read(fd[0], buf, 1), EAGAIN);
	printf("read on empty: EAGAIN\n");
	while ((r = write(fd[1], buf, sizeof(buf))) > 0)
		total += r;
	CHECK_EQ(r, -1);
	printf("write until full: %s, bytes == F_GETPIPE_SZ: %s\n",
	       errname(errno), yesno(total == fcntl(fd[1], F_GETPIPE_SZ)));
	{
		struct iovec iov = { buf, 1 };

		CHECK_ERR(writev(fd[1], &iov, 1), EAGAIN);
	}
	printf("writev on full: EAGAIN\n");
	while (read(fd[0], buf, sizeof(buf)) > 0)
		;
	CHECK_EQ(errno, EAGAIN);

	set_nonblocking(fd[0], false);
	printf("after F_SETFL ~O_NONBLOCK: O_NONBLOCK %s\n",
	       yesno(nonblocking(fd[0])));
	printf("blocking read, writer thread: %zd\n",
	       read_with_writer(fd[0], fd[1], "hello"));
	set_nonblocking(fd[0], true);
	CHECK_ERR(read(fd[0], buf, 1), EAGAIN);
	printf("after F_SETFL O_NONBLOCK: read EAGAIN\n");

	set_nonblocking(fd[0], false);
	CHECK_EQ(ioctl(fd[0], FIONBIO, &(int){ 1 }), 0);
	CHECK_ERR(read(fd[0], buf, 1), EAGAIN);
	printf("after FIONBIO 1: O_NONBLOCK %s, read EAGAIN\n",
	       yesno(nonblocking(fd[0])));
	CHECK_EQ(ioctl(fd[0], FIONBIO, &(int){ 0 }), 0);
	printf("after FIONBIO 0: blocking read, writer thread: %zd\n",
	       read_with_writer(fd[0], fd[1], "world!"));
	close(fd[0]);
	close(fd[1]);
}

static void *eventfd_writer(void *arg)
{
	uint64_t v = 42;

	CHECK_EQ(write(*(int *)arg, &v, sizeof(v)), 8);
	return NULL;
}

static void test_eventfd(void)
{
	uint64_t v = 0;
	pthread_t t;
	int efd;

	efd = eventfd(0, EFD_NONBLOCK);
	CHECK(efd >= 0);
	CHECK_ERR(read(efd, &v, sizeof(v)), EAGAIN);
	printf("eventfd(EFD_NONBLOCK) read: EAGAIN\n");
	set_nonblocking(efd, false);
	t = spawn(eventfd_writer, &efd);
	CHECK_EQ(read(efd, &v, sizeof(v)), 8);
	join(t);
	printf("blocking eventfd read, writer thread: %llu\n",
	       (unsigned long long)v);
	close(efd);
}

static int tcp_listener(int type, struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int fd = socket(AF_INET, type, 0);

	CHECK(fd >= 0);
	*addr = (struct sockaddr_in){
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	CHECK_EQ(bind(fd, (struct sockaddr *)addr, len), 0);
	CHECK_EQ(getsockname(fd, (struct sockaddr *)addr, &len), 0);
	CHECK_EQ(listen(fd, 128), 0);
	return fd;
}

static int tcp_connect(const struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	CHECK(fd >= 0);
	CHECK_EQ(connect(fd, (const struct sockaddr *)addr, sizeof(*addr)), 0);
	return fd;
}

/* A connected blocking TCP pair over loopback. */
static void tcp_pair(int *c, int *s)
{
	struct sockaddr_in addr;
	int lfd = tcp_listener(SOCK_STREAM, &addr);

	*c = tcp_connect(&addr);
	*s = accept(lfd, NULL, NULL);
	CHECK(*s >= 0);
	close(lfd);
}

static void test_sockets(void)
{
	struct sockaddr_in addr;
	struct pollfd pfd;
	int lfd, c, s, s2, r, err;
	socklen_t len = sizeof(err);
	char buf[4096] = { 0 };
	long total = 0;
	ssize_t n;

	lfd = tcp_listener(SOCK_STREAM | SOCK_NONBLOCK, &addr);
	CHECK_ERR(accept(lfd, NULL, NULL), EAGAIN);
	CHECK_ERR(accept4(lfd, NULL, NULL, 0), EAGAIN);
	printf("accept/accept4 on SOCK_NONBLOCK listener: EAGAIN\n");

	c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CHECK(c >= 0);
	r = connect(c, (struct sockaddr *)&addr, sizeof(addr));
	printf("non-blocking connect: 0 or EINPROGRESS: %s\n",
	       yesno(r == 0 || errno == EINPROGRESS));
	pfd = (struct pollfd){ .fd = c, .events = POLLOUT };
	CHECK_EQ(poll(&pfd, 1, 10000), 1);
	CHECK_EQ(getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len), 0);
	printf("connected: POLLOUT %s, SO_ERROR %s\n",
	       yesno(pfd.revents & POLLOUT), errname(err));
	pfd = (struct pollfd){ .fd = lfd, .events = POLLIN };
	CHECK_EQ(poll(&pfd, 1, 10000), 1);
	s = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
	CHECK(s >= 0);
	printf("accept4(SOCK_NONBLOCK): O_NONBLOCK %s\n", yesno(nonblocking(s)));

	CHECK_ERR(recv(s, buf, 1, 0), EAGAIN);
	CHECK_ERR(read(s, buf, 1), EAGAIN);
	CHECK_ERR(recvfrom(s, buf, 1, 0, NULL, NULL), EAGAIN);
	{
		struct iovec iov = { buf, 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

		CHECK_ERR(recvmsg(s, &mh, 0), EAGAIN);
		CHECK_ERR(readv(s, &iov, 1), EAGAIN);
	}
	printf("recv/read/recvfrom/recvmsg/readv on empty: EAGAIN\n");
	while ((n = send(c, buf, sizeof(buf), 0)) > 0)
		total += n;
	printf("send until full: %s, sent something: %s\n", errname(errno),
	       yesno(total > 0));
	close(c);
	close(s);

	/* Plain accept() does not inherit O_NONBLOCK from the listener. */
	c = tcp_connect(&addr);
	pfd = (struct pollfd){ .fd = lfd, .events = POLLIN };
	CHECK_EQ(poll(&pfd, 1, 10000), 1);
	s = accept(lfd, NULL, NULL);
	CHECK(s >= 0);
	printf("accept() from a non-blocking listener: O_NONBLOCK %s\n",
	       yesno(nonblocking(s)));
	close(lfd);

	/* A blocking socket: MSG_DONTWAIT, and the flag never appears. */
	CHECK_ERR(recv(s, buf, 1, MSG_DONTWAIT), EAGAIN);
	printf("MSG_DONTWAIT on a blocking socket: EAGAIN\n");
	{
		struct delayed_write w = { c, "ping" };
		pthread_t t = spawn(writer, &w);

		CHECK_EQ(recv(s, buf, 4, MSG_WAITALL), 4);
		join(t);
	}
	s2 = dup(s);
	printf("blocking socket after a blocking recv: O_NONBLOCK %s, dup %s\n",
	       yesno(nonblocking(s)), yesno(nonblocking(s2)));
	set_nonblocking(s2, true);
	printf("O_NONBLOCK set on the dup: original %s\n",
	       yesno(nonblocking(s)));
	CHECK_ERR(recv(s, buf, 1, 0), EAGAIN);
	printf("recv on the original: EAGAIN\n");
	close(s2);
	close(s);
	close(c);
}

static void set_timeo(int fd, int opt, long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	CHECK_EQ(setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv)), 0);
}

/* Runs @call, which must fail with EAGAIN after about TIMEO_MS. */
#define TIMES_OUT(call) ({						\
	int64_t __t0 = now_ns();					\
	CHECK_ERR(call, EAGAIN);					\
	ms_since(__t0) >= TIMEO_MS / 2;					\
})

static void test_timeouts(void)
{
	struct sockaddr_in addr;
	struct timeval tv;
	socklen_t len = sizeof(tv);
	char buf[4096] = { 0 };
	int c, s, lfd, u[2];
	int64_t t0;

	tcp_pair(&c, &s);
	set_timeo(c, SO_RCVTIMEO, TIMEO_MS);
	CHECK_EQ(getsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, &len), 0);
	printf("SO_RCVTIMEO reads back: %ld ms\n",
	       (long)(tv.tv_sec * 1000 + tv.tv_usec / 1000));
	printf("recv timed out after >= %d ms: %s\n", TIMEO_MS / 2,
	       yesno(TIMES_OUT(recv(c, buf, 1, 0))));
	printf("read timed out after >= %d ms: %s\n", TIMEO_MS / 2,
	       yesno(TIMES_OUT(read(c, buf, 1))));
	{
		struct iovec iov = { buf, 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

		printf("recvmsg timed out after >= %d ms: %s\n", TIMEO_MS / 2,
		       yesno(TIMES_OUT(recvmsg(c, &mh, 0))));
	}
	CHECK_EQ(send(s, "0123456789", 10, 0), 10);
	t0 = now_ns();
	printf("recv(100, MSG_WAITALL) with 10 bytes there: %zd",
	       recv(c, buf, 100, MSG_WAITALL));
	printf(", after >= %d ms: %s\n", TIMEO_MS / 2,
	       yesno(ms_since(t0) >= TIMEO_MS / 2));
	{
		struct delayed_write w = { s, "data" };
		pthread_t t = spawn(writer, &w);

		printf("recv with data arriving in time: %zd\n",
		       recv(c, buf, 4, MSG_WAITALL));
		join(t);
	}
	close(c);
	close(s);

	lfd = tcp_listener(SOCK_STREAM, &addr);
	set_timeo(lfd, SO_RCVTIMEO, TIMEO_MS);
	printf("accept timed out after >= %d ms: %s\n", TIMEO_MS / 2,
	       yesno(TIMES_OUT(accept(lfd, NULL, NULL))));
	close(lfd);

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, u), 0);
	while (send(u[0], buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	CHECK_EQ(errno, EAGAIN);
	set_timeo(u[0], SO_SNDTIMEO, TIMEO_MS);
	printf("send on a full unix socket timed out after >= %d ms: %s\n",
	       TIMEO_MS / 2, yesno(TIMES_OUT(send(u[0], buf, 1, 0))));
	printf("write on a full unix socket timed out after >= %d ms: %s\n",
	       TIMEO_MS / 2, yesno(TIMES_OUT(write(u[0], buf, 1))));
	close(u[0]);
	close(u[1]);
}

static void *recv_times_out(void *arg)
{
	int fd = *(int *)arg;
	char c;

	set_timeo(fd, SO_RCVTIMEO, 2 * TIMEO_MS);
	return (void *)(intptr_t)(recv(fd, &c, 1, 0) == -1 && errno == EAGAIN);
}

/* NTIMERS threads in timed recv() at once: about one timeout, not NTIMERS. */
static void test_parallel_timeouts(void)
{
	static int fd[NTIMERS][2];
	pthread_t t[NTIMERS];
	int64_t t0 = now_ns();
	int timed_out = 0;

	for (int i = 0; i < NTIMERS; i++) {
		CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fd[i]), 0);
		t[i] = spawn(recv_times_out, &fd[i][0]);
	}
	for (int i = 0; i < NTIMERS; i++)
		timed_out += (intptr_t)join(t[i]);
	printf("%d threads in timed recv: %d timed out, concurrently: %s\n",
	       NTIMERS, timed_out, yesno(ms_since(t0) < NTIMERS * TIMEO_MS / 4));
	for (int i = 0; i < NTIMERS; i++) {
		close(fd[i][0]);
		close(fd[i][1]);
	}
}

int main(void)
{
	preload_init();
	test_pipe();
	test_eventfd();
	test_sockets();
	test_timeouts();
	test_parallel_timeouts();
	printf("done\n");
	return 0;
}
