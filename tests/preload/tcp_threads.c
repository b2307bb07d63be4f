// SPDX-License-Identifier: MIT
/*
 * tcp_threads.c - a thread-per-connection TCP echo server on loopback and
 * NCLIENTS clients, each with a sending and a receiving thread, streaming
 * more than the socket buffers hold so that every side blocks; then a burst
 * of short request/response connections. Bytes are counted exactly on every
 * side and checked against a per-client pattern.
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "preload.h"

#define NCLIENTS	64
#define STREAM_BYTES	(256 * 1024)
#define NSHORT		128
#define SHORT_ROUNDS	4

static struct sockaddr_in server_addr;

static unsigned char pattern(int id, size_t off)
{
	return (unsigned char)(id * 37 + off + (off >> 8));
}

static void write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t r = write(fd, p, n);

		CHECK(r > 0);
		p += r;
		n -= r;
	}
}

/* Echoes until EOF; returns the bytes echoed. */
static void *echo_conn(void *arg)
{
	int fd = (intptr_t)arg;
	char buf[4096];
	size_t total = 0;
	ssize_t r;

	while ((r = read(fd, buf, sizeof(buf))) > 0) {
		write_all(fd, buf, r);
		total += r;
	}
	CHECK_EQ(r, 0);
	CHECK_EQ(close(fd), 0);
	return (void *)(uintptr_t)total;
}

struct acceptor {
	int lfd;
	int n;
	size_t bytes;
};

/* Accepts @n connections, a thread each; returns when all have ended. */
static void *acceptor(void *arg)
{
	struct acceptor *a = arg;
	pthread_t *t = calloc(a->n, sizeof(*t));

	CHECK(t != NULL);
	for (int i = 0; i < a->n; i++) {
		int fd = accept4(a->lfd, NULL, NULL, SOCK_CLOEXEC);

		CHECK(fd >= 0);
		t[i] = spawn(echo_conn, (void *)(intptr_t)fd);
	}
	for (int i = 0; i < a->n; i++)
		a->bytes += (uintptr_t)join(t[i]);
	free(t);
	return NULL;
}

static int connect_server(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	CHECK(fd >= 0);
	CHECK_EQ(connect(fd, (struct sockaddr *)&server_addr,
			 sizeof(server_addr)), 0);
	return fd;
}

struct client {
	int id;
	int fd;
	size_t sent;
	size_t received;
	bool pattern_ok;
};

static void *client_receiver(void *arg)
{
	struct client *c = arg;
	unsigned char buf[3000];
	ssize_t r;

	c->pattern_ok = true;
	while ((r = recv(c->fd, buf, sizeof(buf), 0)) > 0) {
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != pattern(c->id, c->received + i))
				c->pattern_ok = false;
		c->received += r;
	}
	CHECK_EQ(r, 0);
	return NULL;
}

static void *client(void *arg)
{
	struct client *c = arg;
	unsigned char buf[8192];
	pthread_t rt;

	c->fd = connect_server();
	rt = spawn(client_receiver, c);
	for (int k = 0; c->sent < STREAM_BYTES; k++) {
		size_t n = 1 + (k * 1237 + c->id * 101) % sizeof(buf);
		ssize_t r;

		if (n > STREAM_BYTES - c->sent)
			n = STREAM_BYTES - c->sent;
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(c->id, c->sent + i);
		r = send(c->fd, buf, n, 0);
		CHECK(r > 0);
		c->sent += r;
	}
	CHECK_EQ(shutdown(c->fd, SHUT_WR), 0);
	join(rt);
	CHECK_EQ(close(c->fd), 0);
	return NULL;
}

static int listener(int backlog)
{
	socklen_t len = sizeof(server_addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	CHECK(fd >= 0);
	server_addr = (struct sockaddr_in){
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	CHECK_EQ(bind(fd, (struct sockaddr *)&server_addr, len), 0);
	CHECK_EQ(getsockname(fd, (struct sockaddr *)&server_addr, &len), 0);
	CHECK_EQ(listen(fd, backlog), 0);
	return fd;
}

static void test_streams(void)
{
	static struct client c[NCLIENTS];
	struct acceptor a = { .lfd = listener(NCLIENTS), .n = NCLIENTS };
	pthread_t at, ct[NCLIENTS];
	size_t sent = 0, received = 0;
	int ok = 0;

	at = spawn(acceptor, &a);
	for (int i = 0; i < NCLIENTS; i++) {
		c[i].id = i;
		ct[i] = spawn(client, &c[i]);
	}
	for (int i = 0; i < NCLIENTS; i++) {
		join(ct[i]);
		sent += c[i].sent;
		received += c[i].received;
		ok += c[i].pattern_ok && c[i].received == STREAM_BYTES;
	}
	join(at);
	close(a.lfd);
	printf("tcp streams: %d clients, sent %zu, server echoed %zu, "
	       "received %zu, intact %d\n", NCLIENTS, sent, a.bytes, received,
	       ok);
}

/* Short connections: a writev() request, a recv(MSG_WAITALL) reply. */
static void *short_client(void *arg)
{
	int id = (intptr_t)arg, ok = 0;

	for (int r = 0; r < SHORT_ROUNDS; r++) {
		uint32_t hdr = id * SHORT_ROUNDS + r, reply[2] = { 0 };
		char body[28];
		struct iovec iov[2] = {
			{ &hdr, sizeof(hdr) }, { body, sizeof(body) },
		};
		int fd = connect_server();

		memset(body, 'a' + r, sizeof(body));
		CHECK_EQ(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
				    sizeof(int)), 0);
		CHECK_EQ(writev(fd, iov, 2), 32);
		CHECK_EQ(shutdown(fd, SHUT_WR), 0);
		CHECK_EQ(recv(fd, reply, 8, MSG_WAITALL), 8);
		ok += reply[0] == hdr && reply[1] == sizeof(body);
		CHECK_EQ(recv(fd, reply, 8, 0), 0);
		CHECK_EQ(close(fd), 0);
	}
	return (void *)(intptr_t)ok;
}

static void *short_server(void *arg)
{
	int lfd = (intptr_t)arg, served = 0;

	for (int i = 0; i < NSHORT * SHORT_ROUNDS; i++) {
		uint32_t msg[8], reply[2];
		int fd = accept(lfd, NULL, NULL);
		ssize_t r;

		CHECK(fd >= 0);
		r = recv(fd, msg, sizeof(msg), MSG_WAITALL);
		CHECK_EQ(r, 32);
		CHECK_EQ(recv(fd, msg, 1, 0), 0);
		reply[0] = msg[0];
		reply[1] = r - 4;
		CHECK_EQ(send(fd, reply, sizeof(reply), 0), 8);
		CHECK_EQ(close(fd), 0);
		served++;
	}
	return (void *)(intptr_t)served;
}

static void test_short(void)
{
	int lfd = listener(NSHORT * SHORT_ROUNDS);
	pthread_t st, ct[NSHORT];
	int ok = 0, served;

	st = spawn(short_server, (void *)(intptr_t)lfd);
	for (int i = 0; i < NSHORT; i++)
		ct[i] = spawn(short_client, (void *)(intptr_t)i);
	for (int i = 0; i < NSHORT; i++)
		ok += (intptr_t)join(ct[i]);
	served = (intptr_t)join(st);
	close(lfd);
	printf("tcp short connections: %d clients x %d, served %d, "
	       "replies right %d\n", NSHORT, SHORT_ROUNDS, served, ok);
}

int main(void)
{
	preload_init();
	test_streams();
	test_short();
	printf("done\n");
	return 0;
}
