// SPDX-License-Identifier: MIT
/*
 * preload_echo_server: the server of benchmark "preload_echo", a plain
 * blocking echo server with an OS thread per connection and nothing of
 * weft in it. bench/preload_echo.sh runs this one binary twice, natively
 * and under tools/weft-run, where libweft-preload.so turns each
 * pthread_create() into a fiber and each blocking read, write and accept
 * into a parked fiber: the difference between the two runs is what the
 * preload library buys an unmodified program.
 *
 * It is written the way such servers usually are, which is where it
 * differs from peers/echo_threads: the threads get default attributes
 * (glibc's 8 MiB stack, or RLIMIT_STACK) and are detached after the
 * fact. The echo loop is the same: read up to 16 KiB, write all of it
 * back, until the peer closes. TCP_NODELAY as the other echo servers.
 * A thread that cannot be created closes its connection.
 *
 * usage: preload_echo_server PORT [PIDFILE]
 * Listens on 127.0.0.1:PORT (0: any free port), prints
 * "listening port=P pid=N" on stdout, writes its pid to PIDFILE if given,
 * and serves until killed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE	(16 * 1024)

static void die(const char *what)
{
	fprintf(stderr, "preload_echo_server: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* 10000 connections need more than the usual soft limit of 1024. */
static void raise_nofile(void)
{
	struct rlimit r;

	if (!getrlimit(RLIMIT_NOFILE, &r) && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

/* Write all of @len bytes; false if the connection is gone. */
static bool write_all(int fd, const char *buf, ssize_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		buf += w;
		len -= w;
	}
	return true;
}

static void *serve(void *arg)
{
	int fd = (int)(long)arg;
	char buf[BUF_SIZE];
	ssize_t n;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || !write_all(fd, buf, n))
			break;
	}
	close(fd);
	return NULL;
}

static int listen_on(int port)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof(sa);
	int one = 1, fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(fd, 4096) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len))
		die("listen");
	printf("listening port=%d pid=%d\n", ntohs(sa.sin_port), (int)getpid());
	fflush(stdout);
	return fd;
}

int main(int argc, char **argv)
{
	int one = 1, lfd;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s PORT [PIDFILE]\n", argv[0]);
		return 2;
	}
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	if (argc > 2) {
		FILE *f = fopen(argv[2], "w");

		if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f))
			die(argv[2]);
	}
	lfd = listen_on(atoi(argv[1]));

	for (;;) {
		pthread_t t;
		int err, fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				perror("preload_echo_server: accept4");
			if (errno == EMFILE || errno == ENFILE)
				usleep(1000);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		err = pthread_create(&t, NULL, serve, (void *)(long)fd);
		if (err) {
			fprintf(stderr, "preload_echo_server: pthread_create: %s\n",
				strerror(err));
			close(fd);
			continue;
		}
		pthread_detach(t);
	}
}
