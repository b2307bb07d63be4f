// SPDX-License-Identifier: MIT
/*
 * Fiber I/O: pipes, socket pairs and TCP between fibers on one and two
 * workers, deadlines, deadline 0, cancellation (the fd stays usable, data
 * is not lost), files, poll, plain threads, close waking waiters, and
 * io_uring denied by seccomp.
 *
 * The same suite runs on each backend: io_test on the default (io_uring),
 * io_epoll_test with WEFT_BACKEND=epoll, io_seccomp_test with
 * io_uring_setup() denied (EPERM) by a seccomp filter installed before
 * main(), the real fallback path. Those two define IO_TEST_BACKEND.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <weft.h>

#include "harness.h"
#include "sched/check.h"

/* Deny io_uring_setup() with @err, as container seccomp profiles do. */
static int deny_io_uring(int err)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & 0xfff)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = 4, .filter = filter };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return -errno;
	return 0;
}

#if defined(IO_TEST_EPOLL)
#define IO_TEST_BACKEND "epoll"
__attribute__((constructor)) static void backend_epoll(void)
{
	setenv("WEFT_BACKEND", "epoll", 1);
}
#elif defined(IO_TEST_SECCOMP)
#define IO_TEST_BACKEND "epoll"
__attribute__((constructor)) static void backend_seccomp(void)
{
	if (deny_io_uring(EPERM)) {
		perror("seccomp");
		exit(1);
	}
}
#else
#define IO_TEST_BACKEND "io_uring"
#endif

static bool on_epoll(void)
{
	return !strcmp(IO_TEST_BACKEND, "epoll");
}

FIXTURE(io) {
	int unused;
};

FIXTURE_VARIANT(io) {
	unsigned int workers;
};

FIXTURE_VARIANT_ADD(io, w1) { .workers = 1 };
FIXTURE_VARIANT_ADD(io, w2) { .workers = 2 };

FIXTURE_SETUP(io)
{
	self->unused = 0;
}

FIXTURE_TEARDOWN(io)
{
}

/* ---- pipes: a reader parks until a writer fiber writes ---- */

static int pfd[2];

static void *pipe_reader(void *arg)
{
	char buf[64];
	long total = 0;

	(void)arg;
	while (total < 1000 * 8) {
		ssize_t n = weft_read(pfd[0], buf, sizeof(buf));

		CHECK(n > 0);
		if (n <= 0)
			break;
		total += n;
	}
	CHECK_EQ(total, 1000 * 8);
	return NULL;
}

static void *pipe_writer(void *arg)
{
	(void)arg;
	for (long i = 0; i < 1000; i++)
		CHECK_EQ(weft_write(pfd[1], &i, sizeof(i)), sizeof(i));
	return NULL;
}

static void *pipes(void *arg)
{
	uint64_t r, w;

	(void)arg;
	CHECK_EQ(pipe(pfd), 0);
	CHECK_EQ(weft_spawn(&r, NULL, pipe_reader, NULL), 0);
	CHECK_EQ(weft_spawn(&w, NULL, pipe_writer, NULL), 0);
	CHECK_EQ(weft_join(w, NULL), 0);
	CHECK_EQ(weft_join(r, NULL), 0);
	CHECK_EQ(weft_close(pfd[0]), 0);
	CHECK_EQ(weft_close(pfd[1]), 0);
	return NULL;
}

TEST_F(io, pipe_between_fibers)
{
	ASSERT_EQ(run_on(variant->workers, pipes, NULL), 0);
	ASSERT_CHECKS();
}

/* ---- TCP: an echo server and many clients ---- */

#define CLIENTS	64
#define ROUNDS	50

static int listen_fd;
static struct sockaddr_in server_addr;

static void *echo_conn(void *arg)
{
	int fd = (int)(long)arg;
	char buf[256];
	ssize_t n;

	while ((n = weft_recv_until(fd, buf, sizeof(buf), 0,
				    WEFT_FOREVER)) > 0)
		CHECK_EQ(weft_send_until(fd, buf, n, MSG_NOSIGNAL,
					 WEFT_FOREVER), n);
	CHECK_EQ(n, 0);
	CHECK_EQ(weft_close(fd), 0);
	return NULL;
}

static void *acceptor(void *arg)
{
	struct weft_attr det = { .flags = WEFT_DETACHED };

	(void)arg;
	for (int i = 0; i < CLIENTS; i++) {
		int fd = weft_accept_until(listen_fd, NULL, NULL, SOCK_CLOEXEC,
					   WEFT_FOREVER);

		CHECK(fd >= 0);
		if (fd >= 0)
			CHECK_EQ(weft_spawn(NULL, &det, echo_conn,
					    (void *)(long)fd), 0);
	}
	return NULL;
}

static void *client(void *arg)
{
	long id = (long)arg;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	CHECK_EQ(weft_connect_until(fd, (struct sockaddr *)&server_addr,
				    sizeof(server_addr), WEFT_FOREVER), 0);
	for (long r = 0; r < ROUNDS; r++) {
		long msg[2] = { id, r }, back[2];
		ssize_t got = 0, n;

		CHECK_EQ(weft_send_until(fd, msg, sizeof(msg), MSG_NOSIGNAL,
					 WEFT_FOREVER), sizeof(msg));
		while (got < (ssize_t)sizeof(back) &&
		       (n = weft_recv_until(fd, (char *)back + got,
					    sizeof(back) - got, 0,
					    WEFT_FOREVER)) > 0)
			got += n;
		CHECK_EQ(got, sizeof(back));
		CHECK(back[0] == id && back[1] == r);
	}
	CHECK_EQ(weft_close(fd), 0);
	return NULL;
}

static void *tcp(void *arg)
{
	socklen_t len = sizeof(server_addr);
	uint64_t a, c[CLIENTS];

	(void)arg;
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	server_addr.sin_family = AF_INET;
	server_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	server_addr.sin_port = 0;
	CHECK_EQ(bind(listen_fd, (struct sockaddr *)&server_addr, len), 0);
	CHECK_EQ(listen(listen_fd, CLIENTS), 0);
	CHECK_EQ(getsockname(listen_fd, (struct sockaddr *)&server_addr,
			     &len), 0);
	CHECK_EQ(weft_spawn(&a, NULL, acceptor, NULL), 0);
	for (long i = 0; i < CLIENTS; i++)
		CHECK_EQ(weft_spawn(&c[i], NULL, client, (void *)i), 0);
	for (int i = 0; i < CLIENTS; i++)
		CHECK_EQ(weft_join(c[i], NULL), 0);
	CHECK_EQ(weft_join(a, NULL), 0);
	CHECK_EQ(weft_close(listen_fd), 0);
	return NULL;
}

TEST_F(io, tcp_echo_many_connections)
{
	ASSERT_EQ(run_on(variant->workers, tcp, NULL), 0);
	ASSERT_CHECKS();
}

/* ---- deadlines, deadline 0, cancellation ---- */

static uint64_t blocked;

static void *read_forever(void *arg)
{
	char c;

	(void)arg;
	return (void *)weft_read(pfd[0], &c, 1);
}

static void *ends_early(void *arg)
{
	char c = 'x', got = 0;
	uint64_t t0;
	void *r;

	(void)arg;
	CHECK_EQ(pipe(pfd), 0);
	/* A deadline passes: -ETIMEDOUT, not early, and the fd works. */
	t0 = weft_now_ns();
	CHECK_EQ(weft_read_until(pfd[0], &c, 1, t0 + 5000000), -ETIMEDOUT);
	CHECK(weft_now_ns() - t0 >= 5000000);
	/* Deadline 0 on an empty pipe: -EAGAIN; on a full one: the data. */
	CHECK_EQ(weft_read_until(pfd[0], &c, 1, 0), -EAGAIN);
	CHECK_EQ(weft_write(pfd[1], "y", 1), 1);
	CHECK_EQ(weft_read_until(pfd[0], &got, 1, 0), 1);
	CHECK_EQ(got, 'y');
	/* A reader cancelled while it waits: -ECANCELED, fd still fine. */
	CHECK_EQ(weft_spawn(&blocked, NULL, read_forever, NULL), 0);
	weft_sleep_ns(2000000);	/* not for correctness: to be parked */
	CHECK_EQ(weft_cancel(blocked), 0);
	CHECK_EQ(weft_join(blocked, &r), 0);
	CHECK_EQ((long)r, -ECANCELED);
	CHECK_EQ(weft_write(pfd[1], "z", 1), 1);
	CHECK_EQ(weft_read(pfd[0], &got, 1), 1);
	CHECK_EQ(got, 'z');
	/* Poll. */
	CHECK_EQ(weft_poll_until(pfd[0], POLLIN, weft_now_ns() + 1000000),
		 -ETIMEDOUT);
	CHECK_EQ(weft_write(pfd[1], "p", 1), 1);
	CHECK(weft_poll_until(pfd[0], POLLIN, WEFT_FOREVER) & POLLIN);
	CHECK_EQ(weft_read(pfd[0], &got, 1), 1);
	CHECK_EQ(weft_close(pfd[0]), 0);
	CHECK_EQ(weft_close(pfd[1]), 0);
	return NULL;
}

TEST_F(io, deadlines_and_cancel_leave_the_fd_usable)
{
	ASSERT_EQ(run_on(variant->workers, ends_early, NULL), 0);
	ASSERT_CHECKS();
}

/* ---- others run while one fiber waits on I/O ---- */

static long ticks;

static void *ticker(void *arg)
{
	(void)arg;
	for (int i = 0; i < 1000; i++) {
		ticks++;
		weft_yield();
	}
	return (void *)(long)weft_write(pfd[1], "t", 1);
}

static void *overlap(void *arg)
{
	uint64_t r, t;
	void *res;

	(void)arg;
	ticks = 0;
	CHECK_EQ(pipe(pfd), 0);
	CHECK_EQ(weft_spawn(&r, NULL, read_forever, NULL), 0);
	CHECK_EQ(weft_spawn(&t, NULL, ticker, NULL), 0);
	CHECK_EQ(weft_join(r, &res), 0);
	CHECK_EQ((long)res, 1);
	CHECK_EQ(ticks, 1000);	/* the reader was parked all along */
	CHECK_EQ(weft_join(t, NULL), 0);
	CHECK_EQ(weft_close(pfd[0]), 0);
	CHECK_EQ(weft_close(pfd[1]), 0);
	return NULL;
}

TEST(one_worker_runs_others_while_a_fiber_reads)
{
	ASSERT_EQ(run_on(1, overlap, NULL), 0);
	ASSERT_CHECKS();
}

/* ---- files ---- */

static void *files(void *arg)
{
	char path[] = "/tmp/weft-io-XXXXXX", buf[16] = { 0 };
	int fd = mkstemp(path);

	(void)arg;
	CHECK(fd >= 0);
	close(fd);
	fd = weft_openat(AT_FDCWD, path, O_RDWR | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(weft_pwrite(fd, "hello, weft", 11, 0), 11);
	CHECK_EQ(weft_fsync(fd, true), 0);
	CHECK_EQ(weft_pread(fd, buf, 5, 7), 4);
	CHECK_EQ(memcmp(buf, "weft", 4), 0);
	CHECK_EQ(weft_pread(fd, buf, 1, -1), -EINVAL);
	CHECK_EQ(weft_close(fd), 0);
	CHECK_EQ(weft_close(fd), -EBADF);
	CHECK_EQ(weft_openat(AT_FDCWD, "/nonexistent/x", O_RDONLY, 0),
		 -ENOENT);
	unlink(path);
	return NULL;
}

TEST(files_open_read_write_sync_close)
{
	ASSERT_EQ(run_on(2, files, NULL), 0);
	ASSERT_CHECKS();
}

/* ---- a plain thread makes the system calls ---- */

TEST(os_threads_use_the_system_calls)
{
	char c;

	ASSERT_EQ(pipe(pfd), 0);
	ASSERT_EQ(weft_read_until(pfd[0], &c, 1, weft_now_ns() + 1000000),
		  -ETIMEDOUT);
	ASSERT_EQ(weft_read_until(pfd[0], &c, 1, 0), -EAGAIN);
	ASSERT_EQ(weft_write(pfd[1], "q", 1), 1);
	ASSERT_EQ(weft_read(pfd[0], &c, 1), 1);
	ASSERT_EQ(c, 'q');
	ASSERT_EQ(weft_close(pfd[0]), 0);
	ASSERT_EQ(weft_close(pfd[1]), 0);
	ASSERT_EQ(weft_close(pfd[1]), -EBADF);
}

/* ---- counters ---- */

static void *count_io(void *arg)
{
	struct weft_worker_stats st;
	char c;

	(void)arg;
	CHECK_EQ(pipe(pfd), 0);
	CHECK_EQ(weft_write(pfd[1], "c", 1), 1);
	CHECK_EQ(weft_read(pfd[0], &c, 1), 1);
	CHECK_EQ(weft_stats(weft_worker(), &st), 0);
	/* Two ring completions, or attempts that worked (epoll, WEFT_IO_TRY). */
	CHECK(st.completions + st.syscalls >= 2 && st.syscalls >= st.submits);
	if (on_epoll())
		CHECK(st.syscalls >= 2);
	CHECK_EQ(st.io_parked, 0);
	/* A reader parked on the empty pipe counts while it waits. */
	CHECK_EQ(weft_spawn(&blocked, NULL, read_forever, NULL), 0);
	weft_yield();		/* it runs first, parks, and we come back */
	CHECK_EQ(weft_stats(weft_worker(), &st), 0);
	CHECK_EQ(st.io_parked, 1);
	CHECK_EQ(weft_write(pfd[1], "d", 1), 1);
	CHECK_EQ(weft_join(blocked, NULL), 0);
	CHECK_EQ(weft_stats(weft_worker(), &st), 0);
	CHECK_EQ(st.io_parked, 0);
	CHECK_EQ(weft_close(pfd[0]), 0);
	CHECK_EQ(weft_close(pfd[1]), 0);
	return NULL;
}

TEST(io_is_counted)
{
	ASSERT_EQ(run_on(1, count_io, NULL), 0);
	ASSERT_CHECKS();
}

/* ---- closing an fd wakes the fibers blocked on it ---- */

static int sp[2];

static void *recv_blocked(void *arg)
{
	char c;

	(void)arg;
	return (void *)weft_recv_until(sp[0], &c, 1, 0, WEFT_FOREVER);
}

static void *close_wakes(void *arg)
{
	long where = (long)arg;	/* 0: same worker, 1: the other one */
	struct weft_attr a = { .flags = WEFT_ON_WORKER | WEFT_BOUND,
			       .worker = where };
	uint64_t f;
	void *r;

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	CHECK_EQ(weft_spawn(&f, &a, recv_blocked, NULL), 0);
	weft_sleep_ns(2000000);	/* not for correctness: to be parked */
	CHECK_EQ(weft_close(sp[0]), 0);
	CHECK_EQ(weft_join(f, &r), 0);
	/* Whether it was parked or not yet: the fd is closed. */
	CHECK_EQ((long)r, -EBADF);
	close(sp[1]);
	return NULL;
}

static void *close_main(void *arg)
{
	struct weft_attr me = { .flags = WEFT_ON_WORKER | WEFT_BOUND };
	uint64_t f;

	if (weft_spawn(&f, &me, close_wakes, arg))
		return (void *)1;
	return (void *)(long)weft_join(f, NULL);
}

TEST(close_wakes_a_reader_on_the_same_worker)
{
	ASSERT_EQ(run_on(2, close_main, (void *)0L), 0);
	ASSERT_CHECKS();
}

TEST(close_wakes_a_reader_on_another_worker)
{
	ASSERT_EQ(run_on(2, close_main, (void *)1L), 0);
	ASSERT_CHECKS();
}

static void *closer_thread(void *arg)
{
	(void)arg;
	usleep(2000);		/* not for correctness: to be parked */
	return (void *)(long)weft_close(sp[0]);
}

static void *thread_closes(void *arg)
{
	pthread_t t;
	void *tr;

	(void)arg;
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	CHECK_EQ(pthread_create(&t, NULL, closer_thread, NULL), 0);
	CHECK_EQ((long)recv_blocked(NULL), -EBADF);
	CHECK_EQ(pthread_join(t, &tr), 0);
	CHECK_EQ((long)tr, 0);
	close(sp[1]);
	return NULL;
}

TEST(close_from_a_thread_wakes_a_reader)
{
	ASSERT_EQ(run_on(2, thread_closes, NULL), 0);
	ASSERT_CHECKS();
}

/* ---- more kinds of fd ---- */

/* A /proc file: io_uring reads it, epoll cannot wait on it. */
static void *proc_file(void *arg)
{
	char buf[64];
	int fd = weft_openat(AT_FDCWD, "/proc/self/stat", O_RDONLY, 0);

	(void)arg;
	CHECK(fd >= 0);
	CHECK(weft_read(fd, buf, sizeof(buf)) > 0);
	CHECK_EQ(weft_close(fd), 0);
	return NULL;
}

TEST(proc_files_read)
{
	ASSERT_EQ(run_on(1, proc_file, NULL), 0);
	ASSERT_CHECKS();
}

/* connect() to a closed port, and to a listener that accepts later. */
static void *connects(void *arg)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int fl;

	(void)arg;
	CHECK_EQ(bind(l, (struct sockaddr *)&a, len), 0);
	CHECK_EQ(getsockname(l, (struct sockaddr *)&a, &len), 0);
	/* Bound, not listening: refused. */
	CHECK_EQ(weft_connect_until(c, (struct sockaddr *)&a, len,
				    WEFT_FOREVER), -ECONNREFUSED);
	CHECK_EQ(weft_close(c), 0);
	CHECK_EQ(listen(l, 4), 0);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK_EQ(weft_connect_until(c, (struct sockaddr *)&a, len,
				    WEFT_FOREVER), 0);
	/* The socket's own flags are left as they were: blocking. */
	fl = fcntl(c, F_GETFL);
	CHECK_EQ(fl & O_NONBLOCK, 0);
	fl = weft_accept_until(l, NULL, NULL, SOCK_CLOEXEC, WEFT_FOREVER);
	CHECK(fl >= 0);
	/* Nothing more to accept: the deadline passes. */
	CHECK_EQ(weft_accept_until(l, NULL, NULL, 0,
				   weft_now_ns() + 1000000), -ETIMEDOUT);
	CHECK_EQ(weft_close(fl), 0);
	CHECK_EQ(weft_close(c), 0);
	CHECK_EQ(weft_close(l), 0);
	return NULL;
}

TEST(connect_and_accept)
{
	ASSERT_EQ(run_on(1, connects, NULL), 0);
	ASSERT_CHECKS();
}

/*
 * One fiber reads a socket while another writes to it (two waiters of one
 * fd, each direction); O_NONBLOCK on the fd changes nothing: the calls
 * park. Enough data to fill the socket buffer, so the writer waits too.
 */
#define BULK	(4 << 20)

static void *bulk_reader(void *arg)
{
	static char buf[65536];
	long got = 0, sum = 0, n;

	(void)arg;
	while (got < BULK && (n = weft_recv_until(sp[1], buf, sizeof(buf), 0,
						  WEFT_FOREVER)) > 0) {
		for (long i = 0; i < n; i++)
			sum += (unsigned char)buf[i];
		got += n;
	}
	CHECK_EQ(got, BULK);
	return (void *)sum;
}

static void *bulk_writer(void *arg)
{
	static char buf[65536];
	long sent = 0, sum = 0, n;

	(void)arg;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7);
	while (sent < BULK) {
		n = weft_send_until(sp[1], buf,
				    BULK - sent < (long)sizeof(buf) ?
				    (size_t)(BULK - sent) : sizeof(buf),
				    MSG_NOSIGNAL, WEFT_FOREVER);
		CHECK(n > 0);
		if (n <= 0)
			break;
		for (long i = 0; i < n; i++)
			sum += (unsigned char)buf[i];
		sent += n;
	}
	return (void *)sum;
}

/* The far end echoes everything back. */
static void *bulk_echo(void *arg)
{
	static char buf[65536];
	long n;

	(void)arg;
	while ((n = weft_read(sp[0], buf, sizeof(buf))) > 0)
		for (long off = 0, m; off < n; off += m) {
			m = weft_write(sp[0], buf + off, n - off);
			CHECK(m > 0);
			if (m <= 0)
				return NULL;
		}
	return NULL;
}

static void *both_ways(void *arg)
{
	uint64_t r, w, e;
	void *rs, *ws;

	(void)arg;
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp), 0);
	CHECK_EQ(weft_spawn(&e, NULL, bulk_echo, NULL), 0);
	CHECK_EQ(weft_spawn(&r, NULL, bulk_reader, NULL), 0);
	CHECK_EQ(weft_spawn(&w, NULL, bulk_writer, NULL), 0);
	CHECK_EQ(weft_join(w, &ws), 0);
	CHECK_EQ(weft_join(r, &rs), 0);
	CHECK_EQ((long)rs, (long)ws);
	CHECK_EQ(shutdown(sp[1], SHUT_WR), 0);
	CHECK_EQ(weft_join(e, NULL), 0);
	CHECK_EQ(weft_close(sp[0]), 0);
	CHECK_EQ(weft_close(sp[1]), 0);
	return NULL;
}

TEST_F(io, a_reader_and_a_writer_on_one_socket)
{
	ASSERT_EQ(run_on(variant->workers, both_ways, NULL), 0);
	ASSERT_CHECKS();
}

/*
 * More operations in flight than the ring's completion queue holds (128):
 * completions that overflow it are kept by the kernel and reaped later;
 * none is lost. Each reader waits on its own pipe; then all are written.
 */
#define MANY	400

static int many[MANY][2];

static void *many_reader(void *arg)
{
	long i = (long)arg;
	char c;

	return (void *)weft_read(many[i][0], &c, 1);
}

static void *overflow(void *arg)
{
	struct weft_attr bound = { .flags = WEFT_BOUND };
	uint64_t f[MANY];
	void *r;
	long i, ok = 0;

	(void)arg;
	for (i = 0; i < MANY; i++)
		CHECK_EQ(pipe(many[i]), 0);
	/* Bound to this worker: all of them in one ring. */
	for (i = 0; i < MANY; i++)
		CHECK_EQ(weft_spawn(&f[i], &bound, many_reader, (void *)i), 0);
	weft_yield();		/* each reads and parks */
	for (i = 0; i < MANY; i++)
		CHECK_EQ(write(many[i][1], "m", 1), 1);
	for (i = 0; i < MANY; i++) {
		CHECK_EQ(weft_join(f[i], &r), 0);
		ok += (long)r == 1;
		CHECK_EQ(weft_close(many[i][0]), 0);
		CHECK_EQ(weft_close(many[i][1]), 0);
	}
	CHECK_EQ(ok, MANY);
	return NULL;
}

TEST(more_in_flight_than_the_completion_queue_holds)
{
	ASSERT_EQ(run_on(1, overflow, NULL), 0);
	ASSERT_CHECKS();
}

/* ---- io_uring denied: the epoll backend, and one line saying so ---- */

static void denied_child(void *arg)
{
	int err = (int)(long)arg;

	unsetenv("WEFT_BACKEND");
	if (deny_io_uring(err))
		exit(2);
	exit(run_on(2, tcp, NULL) || check_nfail);
}

static void denied(struct __test_metadata *_metadata, int err,
		   const char *says)
{
	char out[4096];
	int status;

	ASSERT_EQ(harness_run_child(denied_child, (void *)(long)err, out,
				    sizeof(out), &status), 0);
	TH_LOG("%s", out);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	ASSERT_NE_NULL(strstr(out, says));
}

TEST(io_uring_denied_with_eperm_falls_back_to_epoll)
{
	denied(_metadata, EPERM, "weft: I/O backend epoll: io_uring "
	       "unavailable (Operation not permitted: seccomp");
}

TEST(io_uring_denied_with_enosys_falls_back_to_epoll)
{
	denied(_metadata, ENOSYS, "weft: I/O backend epoll: io_uring "
	       "unavailable (Function not implemented)");
}

TEST_HARNESS_MAIN
