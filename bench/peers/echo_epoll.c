// SPDX-License-Identifier: MIT
//
// Peer server for benchmark "echo": a hand-written single-threaded event
// loop, the floor any runtime's echo server is measured against.
// Level-triggered epoll; nonblocking sockets; accept4 until EAGAIN; on a
// readable connection one read into a 64 KiB buffer and one write of what
// came. A read that fills the buffer reads again, a short one does not:
// level triggering reports what is left, so reading on until EAGAIN would
// only add a failing read per request (edge triggering would force it).
// A write that comes up short keeps the rest and waits for EPOLLOUT,
// reading nothing more from that connection until it has gone out.
// TCP_NODELAY as the other servers.
//
// usage: echo_epoll PORT [PIDFILE]
// Listens on 127.0.0.1:PORT (0: any free port), prints
// "listening port=P pid=N" on stdout, writes its pid to PIDFILE if given,
// and serves until killed. bench/echo.sh runs it with bench/echo_client.
// build: gcc -O2 echo_epoll.c -o echo_epoll

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE	(64 * 1024)
#define MAX_EVENTS	4096

// Bytes read but not yet written back, per connection; NULL when none.
struct pending {
	size_t len, off;
	char data[];
};

static int ep, lfd;
static struct pending **pend;	// indexed by fd
static size_t npend;
static char buf[BUF_SIZE];

static void die(const char *what)
{
	fprintf(stderr, "echo_epoll: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void raise_nofile(void)
{
	struct rlimit r;

	if (!getrlimit(RLIMIT_NOFILE, &r) && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

static void conn_close(int fd)
{
	if ((size_t)fd < npend) {
		free(pend[fd]);
		pend[fd] = NULL;
	}
	close(fd);	// also leaves the epoll set
}

static void watch(int fd, int op, unsigned int events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	if (epoll_ctl(ep, op, fd, &ev))
		die("epoll_ctl");
}

static void accept_all(void)
{
	for (;;) {
		int one = 1;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				perror("echo_epoll: accept4");
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if ((size_t)fd >= npend) {
			size_t n = fd + 1024;
			struct pending **p = realloc(pend, n * sizeof(*p));

			if (!p)
				die("realloc");
			memset(p + npend, 0, (n - npend) * sizeof(*p));
			pend = p;
			npend = n;
		}
		watch(fd, EPOLL_CTL_ADD, EPOLLIN);
	}
}

// Write @len bytes of @data to @fd; keep what does not fit. 0, or -1 to close.
static int send_back(int fd, const char *data, size_t len)
{
	struct pending *p;
	ssize_t w;

	do {
		w = write(fd, data, len);
		if (w > 0) {
			data += w;
			len -= w;
		}
	} while (len && (w > 0 || (w < 0 && errno == EINTR)));
	if (!len)
		return 0;
	if (errno != EAGAIN)
		return -1;
	p = malloc(sizeof(*p) + len);
	if (!p)
		return -1;
	p->len = len;
	p->off = 0;
	memcpy(p->data, data, len);
	pend[fd] = p;
	watch(fd, EPOLL_CTL_MOD, EPOLLOUT);
	return 0;
}

static int on_readable(int fd)
{
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n == 0)
			return -1;
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		if (send_back(fd, buf, n))
			return -1;
		if (pend[fd] || n < (ssize_t)sizeof(buf))
			return 0;
	}
}

static int on_writable(int fd)
{
	struct pending *p = pend[fd];

	while (p->off < p->len) {
		ssize_t w = write(fd, p->data + p->off, p->len - p->off);

		if (w < 0 && errno == EAGAIN)
			return 0;
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p->off += w;
	}
	free(p);
	pend[fd] = NULL;
	watch(fd, EPOLL_CTL_MOD, EPOLLIN);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	static struct epoll_event evs[MAX_EVENTS];
	socklen_t len = sizeof(sa);
	int one = 1;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s PORT [PIDFILE]\n", argv[0]);
		return 2;
	}
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(atoi(argv[1]));
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(lfd, 4096) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len))
		die("listen");
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	watch(lfd, EPOLL_CTL_ADD, EPOLLIN);
	if (argc > 2) {
		FILE *f = fopen(argv[2], "w");

		if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f))
			die(argv[2]);
	}
	printf("listening port=%d pid=%d\n", ntohs(sa.sin_port), (int)getpid());
	fflush(stdout);

	for (;;) {
		int n = epoll_wait(ep, evs, MAX_EVENTS, -1);

		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd, err;

			if (fd == lfd) {
				accept_all();
				continue;
			}
			if (pend[fd])
				err = on_writable(fd);
			else
				err = on_readable(fd);
			if (err)
				conn_close(fd);
		}
	}
}
