// SPDX-License-Identifier: MIT
/*
 * close_dup.c - close, shutdown and dup* around calls that block.
 *
 * What Linux does natively when one thread close()s an fd that another
 * thread is blocked reading: nothing, at first. The read holds its own
 * reference to the file, so it stays blocked until something happens to
 * the file itself (here: the peer closes, and it returns 0). A fiber
 * runtime may instead end the read at close() with EBADF, the way the issue
 * asks. This program prints only what both must agree on: the reader
 * returns, with EOF or EBADF; it never takes data meant for a new file that
 * reused the fd number (the io_uring "stale read" bug); and nothing hangs.
 *
 * shutdown() is different: it acts on the file, so it wakes blocked
 * callers natively too, with exact results (recv 0, accept EINVAL).
 * Everything about dup/dup2/dup3/F_DUPFD is exact.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "preload.h"

struct blocked_read {
	int fd;
	ssize_t ret;
	int err;
	char buf[16];
};

/*
 * The reader says when it is about to block; then a short sleep makes it
 * likely it did. Only likely: what is printed holds either way, as long as
 * the reader got into read() before its fd number was reused.
 */
static int ready_pipe[2];

static void let_block(void)
{
	struct timespec ts = { 0, 50 * 1000000L };
	char c;

	CHECK_EQ(read(ready_pipe[0], &c, 1), 1);
	nanosleep(&ts, NULL);
}

static void about_to_block(void)
{
	CHECK_EQ(write(ready_pipe[1], "r", 1), 1);
}

static void *reader(void *arg)
{
	struct blocked_read *b = arg;

	memset(b->buf, 0, sizeof(b->buf));
	about_to_block();
	errno = 0;
	b->ret = read(b->fd, b->buf, sizeof(b->buf) - 1);
	b->err = errno;
	return NULL;
}

static bool eof_or_ebadf(const struct blocked_read *b)
{
	return b->ret == 0 || (b->ret == -1 && b->err == EBADF);
}

/* A reader blocked on fd; fd is closed, the number reused, the peer closed. */
static void test_close_reader(const char *what, int fd[2], int kind)
{
	struct blocked_read b = { .fd = fd[0] };
	pthread_t t = spawn(reader, &b);
	char buf[16] = { 0 };
	int nfd[2];

	let_block();
	CHECK_EQ(close(fd[0]), 0);
	/* The lowest free number: most likely the one just closed. */
	if (kind == SOCK_STREAM)
		CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, nfd), 0);
	else
		CHECK_EQ(pipe(nfd), 0);
	CHECK_EQ(write(nfd[1], "fresh", 5), 5);
	CHECK_EQ(read(nfd[0], buf, sizeof(buf)), 5);
	CHECK_EQ(close(fd[1]), 0);
	join(t);
	printf("%s: reader blocked across close returned EOF or EBADF: %s, "
	       "new file's data read by its own reader: %s\n", what,
	       yesno(eof_or_ebadf(&b)), yesno(!strcmp(buf, "fresh")));
	close(nfd[0]);
	close(nfd[1]);
}

/* A reader blocked on X; dup2() puts another pipe at X, which gets data. */
static void test_dup2_over_reader(void)
{
	struct blocked_read b;
	int a[2], c[2];
	char buf[16] = { 0 };
	pthread_t t;

	CHECK_EQ(pipe(a), 0);
	CHECK_EQ(pipe(c), 0);
	b.fd = a[0];
	t = spawn(reader, &b);
	let_block();
	CHECK_EQ(dup2(c[0], a[0]), a[0]);
	CHECK_EQ(write(c[1], "other", 5), 5);
	CHECK_EQ(read(a[0], buf, sizeof(buf)), 5);
	CHECK_EQ(close(a[1]), 0);
	join(t);
	printf("dup2 over a blocked reader: reader EOF or EBADF: %s, "
	       "data read through the new file: %s\n", yesno(eof_or_ebadf(&b)),
	       yesno(!strcmp(buf, "other")));
	close(a[0]);
	close(c[0]);
	close(c[1]);
}

static int wr_fd;

static void *big_writer(void *arg)
{
	char buf[4096] = { 0 };	/* PIPE_BUF: all or nothing */

	(void)arg;
	about_to_block();
	errno = 0;
	if (write(wr_fd, buf, sizeof(buf)) == -1)
		return (void *)(intptr_t)errno;
	return NULL;
}

static void test_close_under_writer(void)
{
	char buf[4096] = { 0 };
	int fd[2], fl;
	pthread_t t;

	CHECK_EQ(pipe2(fd, O_NONBLOCK), 0);
	while (write(fd[1], buf, sizeof(buf)) > 0)
		;
	fl = fcntl(fd[1], F_GETFL);
	CHECK_EQ(fcntl(fd[1], F_SETFL, fl & ~O_NONBLOCK), 0);
	wr_fd = fd[1];
	t = spawn(big_writer, NULL);
	let_block();
	CHECK_EQ(close(fd[0]), 0);
	printf("writer blocked on a full pipe, reader closed: %s\n",
	       errname((intptr_t)join(t)));
	close(fd[1]);
}

static void *recv_one(void *arg)
{
	char c;

	about_to_block();
	return (void *)(intptr_t)recv(*(int *)arg, &c, 1, 0);
}

static void *accept_one(void *arg)
{
	about_to_block();
	errno = 0;
	if (accept(*(int *)arg, NULL, NULL) == -1)
		return (void *)(intptr_t)errno;
	return NULL;
}

static void test_shutdown(void)
{
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	pthread_t t;
	int fd[2], lfd;

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
	t = spawn(recv_one, &fd[0]);
	let_block();
	CHECK_EQ(shutdown(fd[0], SHUT_RD), 0);
	printf("recv blocked, shutdown(SHUT_RD): %ld\n",
	       (long)(intptr_t)join(t));
	close(fd[0]);
	close(fd[1]);

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(lfd >= 0);
	CHECK_EQ(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	CHECK_EQ(listen(lfd, 8), 0);
	t = spawn(accept_one, &lfd);
	let_block();
	CHECK_EQ(shutdown(lfd, SHUT_RDWR), 0);
	printf("accept blocked, shutdown(SHUT_RDWR): %s\n",
	       errname((intptr_t)join(t)));
	close(lfd);
}

static void test_dup(void)
{
	struct blocked_read b;
	char path[] = "/tmp/weft-preload-XXXXXX";
	char buf[8] = { 0 };
	int fd[2], d, d2, f, f2;
	pthread_t t;

	CHECK_EQ(pipe(fd), 0);
	d = dup(fd[0]);
	CHECK(d >= 0);
	CHECK_EQ(write(fd[1], "ab", 2), 2);
	printf("dup: read through the copy: %zd\n", read(d, buf, 1));
	printf("dup: rest through the original: %zd\n", read(fd[0], buf, 8));
	CHECK_EQ(close(fd[0]), 0);
	b.fd = d;
	t = spawn(reader, &b);
	let_block();
	CHECK_EQ(write(fd[1], "cde", 3), 3);
	join(t);
	printf("dup: blocked reader on the copy, original closed: %zd %s\n",
	       b.ret, b.buf);

	CHECK_EQ(dup2(d, d), d);
	CHECK_ERR(dup3(d, d, 0), EINVAL);
	CHECK_ERR(dup2(d, -1), EBADF);
	CHECK_ERR(dup(-1), EBADF);
	printf("dup2(fd, fd): fd; dup3(fd, fd): EINVAL; bad fds: EBADF\n");
	d2 = dup3(d, 200, O_CLOEXEC);
	CHECK_EQ(d2, 200);
	printf("dup3 O_CLOEXEC: FD_CLOEXEC %s; dup: FD_CLOEXEC %s\n",
	       yesno(fcntl(d2, F_GETFD) & FD_CLOEXEC),
	       yesno(fcntl(d, F_GETFD) & FD_CLOEXEC));
	f = fcntl(d, F_DUPFD, 100);
	f2 = fcntl(d, F_DUPFD_CLOEXEC, 100);
	printf("F_DUPFD >= 100: %s; F_DUPFD_CLOEXEC >= 100: %s, FD_CLOEXEC %s\n",
	       yesno(f >= 100), yesno(f2 >= 100 && f2 != f),
	       yesno(fcntl(f2, F_GETFD) & FD_CLOEXEC));
	CHECK_EQ(write(fd[1], "xyz", 3), 3);
	b.fd = f2;
	t = spawn(reader, &b);
	let_block();
	join(t);
	printf("F_DUPFD_CLOEXEC copy reads: %zd %s\n", b.ret, b.buf);
	CHECK_EQ(fcntl(f, F_SETFL, O_NONBLOCK), 0);
	printf("O_NONBLOCK set through F_DUPFD copy, seen on dup3 copy: %s\n",
	       yesno(fcntl(d2, F_GETFL) & O_NONBLOCK));
	CHECK_ERR(read(d2, buf, 1), EAGAIN);
	printf("read through the dup3 copy: EAGAIN\n");
	close(f);
	close(f2);
	close(d2);
	close(d);
	close(fd[1]);

	/* dup2 over an open fd closes it first; offsets are shared. */
	f = mkstemp(path);
	CHECK(f >= 0);
	unlink(path);
	CHECK_EQ(write(f, "abcdef", 6), 6);
	CHECK_EQ(lseek(f, 0, SEEK_SET), 0);
	CHECK_EQ(pipe(fd), 0);
	CHECK_EQ(dup2(f, fd[0]), fd[0]);
	CHECK_EQ(read(f, buf, 2), 2);
	CHECK_EQ(read(fd[0], buf + 2, 2), 2);
	buf[4] = 0;
	printf("dup2 over a pipe onto a file, shared offset: %s\n", buf);
	CHECK_EQ(close(fd[0]), 0);
	CHECK_ERR(close(fd[0]), EBADF);
	CHECK_ERR(close(-1), EBADF);
	printf("close twice: EBADF; close(-1): EBADF\n");
	/* The pipe's read end is gone: its writer sees EPIPE. */
	CHECK_ERR(write(fd[1], "x", 1), EPIPE);
	printf("write to the pipe whose read end dup2 replaced: EPIPE\n");
	close(fd[1]);
	close(f);
}

int main(void)
{
	int fd[2];

	preload_init();
	signal(SIGPIPE, SIG_IGN);
	CHECK_EQ(pipe(ready_pipe), 0);
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
	test_close_reader("socketpair", fd, SOCK_STREAM);
	CHECK_EQ(pipe(fd), 0);
	test_close_reader("pipe", fd, 0);
	test_dup2_over_reader();
	test_close_under_writer();
	test_shutdown();
	test_dup();
	printf("done\n");
	return 0;
}
