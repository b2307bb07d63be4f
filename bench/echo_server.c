// SPDX-License-Identifier: MIT
/*
 * echo_server: the weft side of the echo benchmark. A fiber per
 * connection, written as blocking code: recv, then send it all back,
 * until the peer closes. Every call parks only its fiber; the workers'
 * io_uring rings carry the I/O.
 *
 * usage: echo_server PORT [PIDFILE]
 * Listens on 127.0.0.1:PORT (0: any free port), prints
 * "listening port=P pid=N" on stdout once it accepts, writes its pid to
 * PIDFILE if given, and serves until killed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <weft.h>

#include "bench.h"

static int lfd;

/* As many descriptors as the hard limit allows: 10,000s of connections. */
static void raise_nofile(void)
{
	struct rlimit r;

	if (!getrlimit(RLIMIT_NOFILE, &r) && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

static void *conn(void *arg)
{
	int fd = (int)(long)arg;
	char buf[4096];
	ssize_t n;

	while ((n = weft_recv_until(fd, buf, sizeof(buf), 0,
				    WEFT_FOREVER)) > 0) {
		ssize_t off = 0;

		while (off < n) {
			ssize_t w = weft_send_until(fd, buf + off, n - off,
						    MSG_NOSIGNAL, WEFT_FOREVER);

			if (w <= 0)
				goto out;
			off += w;
		}
	}
out:
	weft_close(fd);
	return NULL;
}

static void *serve(void *arg)
{
	struct weft_attr a = { .flags = WEFT_DETACHED, .stack_size = 16 << 10 };

	(void)arg;
	for (;;) {
		int one = 1, fd = weft_accept_until(lfd, NULL, NULL,
						    SOCK_CLOEXEC, WEFT_FOREVER);

		if (fd < 0) {
			if (fd == -EMFILE || fd == -ENFILE)
				weft_sleep_ns(1000000);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (weft_spawn(NULL, &a, conn, (void *)(long)fd))
			weft_close(fd);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int one = 1;

	if (argc < 2) {
		fprintf(stderr, "usage: %s PORT [PIDFILE]\n", argv[0]);
		return 2;
	}
	raise_nofile();
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(atoi(argv[1]));
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(lfd, 4096) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len)) {
		perror("echo_server");
		return 1;
	}
	if (argc > 2) {
		FILE *f = fopen(argv[2], "w");

		if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f)) {
			perror(argv[2]);
			return 1;
		}
	}
	printf("listening port=%d pid=%d\n", ntohs(sa.sin_port), (int)getpid());
	fflush(stdout);
	return weft_run(NULL, serve, NULL, NULL) ? 1 : 0;
}
