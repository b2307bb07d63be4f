// SPDX-License-Identifier: MIT
//
// Peer server for benchmark "echo": an OS thread per connection, blocking
// read and write, the code a fiber-per-connection server is written like.
// The main thread accepts; each connection gets a detached thread with a
// 64 KiB stack (the kernel adds its own stack per thread) that reads up to
// 16 KiB and writes all of it back, until the peer closes. TCP_NODELAY as
// the other servers. A thread that cannot be created closes its
// connection (with a message on stderr).
//
// usage: echo_threads PORT [PIDFILE]
// Listens on 127.0.0.1:PORT (0: any free port), prints
// "listening port=P pid=N" on stdout, writes its pid to PIDFILE if given,
// and serves until killed. bench/echo.sh runs it with bench/echo_client.
// build: gcc -O2 -pthread echo_threads.c -o echo_threads

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define STACK_SIZE	(64 * 1024)
#define BUF_SIZE	(16 * 1024)

static void die(const char *what)
{
	fprintf(stderr, "echo_threads: %s: %s\n", what, strerror(errno));
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

static void *conn(void *arg)
{
	int fd = (int)(long)arg;
	char buf[BUF_SIZE];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0 ||
	       (n < 0 && errno == EINTR)) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, n - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				goto out;
			off += w;
		}
	}
out:
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	pthread_attr_t attr;
	int one = 1, lfd;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s PORT [PIDFILE]\n", argv[0]);
		return 2;
	}
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(atoi(argv[1]));
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(lfd, 4096) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len))
		die("listen");
	if (pthread_attr_init(&attr) ||
	    pthread_attr_setstacksize(&attr, STACK_SIZE) ||
	    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED))
		die("pthread_attr");
	if (argc > 2) {
		FILE *f = fopen(argv[2], "w");

		if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f))
			die(argv[2]);
	}
	printf("listening port=%d pid=%d\n", ntohs(sa.sin_port), (int)getpid());
	fflush(stdout);

	for (;;) {
		pthread_t t;
		int err, fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				perror("echo_threads: accept4");
			if (errno == EMFILE || errno == ENFILE)
				usleep(1000);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		err = pthread_create(&t, &attr, conn, (void *)(long)fd);
		if (err) {
			fprintf(stderr, "echo_threads: pthread_create: %s\n",
				strerror(err));
			close(fd);
		}
	}
}
