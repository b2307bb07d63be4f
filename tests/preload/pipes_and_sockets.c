// SPDX-License-Identifier: MIT
/*
 * pipes_and_sockets.c - data moves between threads through every
 * read/write-shaped call: read/write/readv/writev on pipes (more data than
 * a pipe holds, so both ends block), pread/pwrite/fsync/fdatasync on a
 * file, send/recv/sendmsg/recvmsg on stream socketpairs, sendto/recvfrom
 * on datagram sockets and sendmmsg/recvmmsg on UDP.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "preload.h"

#define NPAIRS		64
#define PIPE_BYTES	(256 * 1024)

static unsigned char pattern(int pair, size_t off)
{
	return (unsigned char)(pair * 131 + off * 7 + (off >> 9));
}

struct pipe_pair {
	int fd[2];
	int id;
};

/* Writes PIPE_BYTES, alternating write() and a three-part writev(). */
static void *pipe_writer(void *arg)
{
	struct pipe_pair *p = arg;
	unsigned char buf[5000];
	size_t off = 0;
	int k = 0;

	while (off < PIPE_BYTES) {
		size_t n = 1000 + (k * 997) % 4000;
		ssize_t r;

		if (n > PIPE_BYTES - off)
			n = PIPE_BYTES - off;
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(p->id, off + i);
		if (k++ & 1) {
			struct iovec iov[3] = {
				{ buf, n / 3 },
				{ buf + n / 3, n / 3 },
				{ buf + 2 * (n / 3), n - 2 * (n / 3) },
			};
			r = writev(p->fd[1], iov, 3);
		} else {
			r = write(p->fd[1], buf, n);
		}
		/* A blocking pipe write returns only when all of it is in. */
		CHECK_EQ(r, n);
		off += r;
	}
	CHECK_EQ(close(p->fd[1]), 0);
	return NULL;
}

/* Reads to EOF, alternating read() and a two-part readv(). */
static void *pipe_reader(void *arg)
{
	struct pipe_pair *p = arg;
	unsigned char a[3001], b[1500];
	size_t off = 0;
	int k = 0;

	for (;;) {
		ssize_t r;

		if (k++ & 1) {
			struct iovec iov[2] = { { a, 700 }, { b, sizeof(b) } };

			r = readv(p->fd[0], iov, 2);
			if (r > 700)
				memmove(a + 700, b, r - 700);
		} else {
			r = read(p->fd[0], a, sizeof(a));
		}
		CHECK(r >= 0);
		if (r == 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			if (a[i] != pattern(p->id, off + i))
				fail(__FILE__, __LINE__, "pipe byte", off + i,
				     p->id, 0);
		off += r;
	}
	CHECK_EQ(close(p->fd[0]), 0);
	return (void *)(uintptr_t)off;
}

static void test_pipes(void)
{
	static struct pipe_pair pp[NPAIRS];
	pthread_t w[NPAIRS], r[NPAIRS];
	size_t total = 0;

	for (int i = 0; i < NPAIRS; i++) {
		pp[i].id = i;
		CHECK_EQ(pipe(pp[i].fd), 0);
		r[i] = spawn(pipe_reader, &pp[i]);
		w[i] = spawn(pipe_writer, &pp[i]);
	}
	for (int i = 0; i < NPAIRS; i++) {
		join(w[i]);
		total += (uintptr_t)join(r[i]);
	}
	printf("pipes: %d pairs, %zu bytes, pattern ok\n", NPAIRS, total);
}

struct file_block {
	int fd;
	int id;
	pthread_barrier_t *bar;
};

/* Each thread pwrite()s its own 4 KiB block, then pread()s its neighbour's. */
static void *file_worker(void *arg)
{
	struct file_block *f = arg;
	unsigned char buf[4096];
	int next = (f->id + 1) % NPAIRS;

	memset(buf, f->id, sizeof(buf));
	CHECK_EQ(pwrite(f->fd, buf, sizeof(buf), f->id * 4096L), 4096);
	pthread_barrier_wait(f->bar);
	CHECK_EQ(pread(f->fd, buf, sizeof(buf), next * 4096L), 4096);
	for (size_t i = 0; i < sizeof(buf); i++)
		CHECK_EQ(buf[i], next);
	return NULL;
}

static void test_file(void)
{
	static struct file_block fb[NPAIRS];
	char path[] = "/tmp/weft-preload-XXXXXX";
	pthread_barrier_t bar;
	pthread_t t[NPAIRS];
	int pfd[2];
	char c;
	int fd;

	fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK_EQ(unlink(path), 0);
	pthread_barrier_init(&bar, NULL, NPAIRS);
	for (int i = 0; i < NPAIRS; i++) {
		fb[i] = (struct file_block){ .fd = fd, .id = i, .bar = &bar };
		t[i] = spawn(file_worker, &fb[i]);
	}
	for (int i = 0; i < NPAIRS; i++)
		join(t[i]);
	pthread_barrier_destroy(&bar);
	printf("pread/pwrite: %d blocks ok, file offset %lld\n", NPAIRS,
	       (long long)lseek(fd, 0, SEEK_CUR));
	printf("pread at EOF: %zd\n", pread(fd, &c, 1, NPAIRS * 4096L));
	printf("fsync: %d\n", fsync(fd));
	printf("fdatasync: %d\n", fdatasync(fd));
	CHECK_EQ(close(fd), 0);

	CHECK_EQ(pipe(pfd), 0);
	CHECK_ERR(fsync(pfd[0]), EINVAL);
	CHECK_ERR(fdatasync(pfd[1]), EINVAL);
	printf("fsync/fdatasync on a pipe: EINVAL\n");
	close(pfd[0]);
	close(pfd[1]);
}

#define RECORDS 100

struct sock_pair {
	int fd[2];
	int acks;
};

/* Sends RECORDS 64-byte records with sendmsg() (two iovecs), each acked. */
static void *record_sender(void *arg)
{
	struct sock_pair *s = arg;

	for (int k = 0; k < RECORDS; k++) {
		unsigned char hdr[16], body[48];
		struct iovec iov[2] = { { hdr, 16 }, { body, 48 } };
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
		uint32_t ack;

		memset(hdr, k, sizeof(hdr));
		memset(body, k ^ 0x5a, sizeof(body));
		CHECK_EQ(sendmsg(s->fd[0], &mh, 0), 64);

		iov[0] = (struct iovec){ &ack, sizeof(ack) };
		mh.msg_iovlen = 1;
		CHECK_EQ(recvmsg(s->fd[0], &mh, MSG_WAITALL), 4);
		CHECK_EQ(ack, k + 1000);
		s->acks++;
	}
	return NULL;
}

/* Receives each record with recv(MSG_WAITALL) and acks it with send(). */
static void *record_receiver(void *arg)
{
	struct sock_pair *s = arg;
	int n = 0;

	for (;;) {
		unsigned char rec[64];
		uint32_t ack;
		ssize_t r = recv(s->fd[1], rec, sizeof(rec), MSG_WAITALL);

		if (r == 0)
			break;
		CHECK_EQ(r, 64);
		CHECK_EQ(rec[0], n & 0xff);
		CHECK_EQ(rec[63], (n ^ 0x5a) & 0xff);
		ack = 1000 + n++;
		CHECK_EQ(send(s->fd[1], &ack, sizeof(ack), 0), 4);
	}
	return (void *)(intptr_t)n;
}

static void test_socketpairs(void)
{
	static struct sock_pair sp[NPAIRS];
	pthread_t a[NPAIRS], b[NPAIRS];
	long records = 0, acks = 0;
	char buf[16];
	int fd[2];

	for (int i = 0; i < NPAIRS; i++) {
		CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sp[i].fd), 0);
		b[i] = spawn(record_receiver, &sp[i]);
		a[i] = spawn(record_sender, &sp[i]);
	}
	for (int i = 0; i < NPAIRS; i++) {
		join(a[i]);
		CHECK_EQ(shutdown(sp[i].fd[0], SHUT_WR), 0);
		records += (intptr_t)join(b[i]);
		acks += sp[i].acks;
		close(sp[i].fd[0]);
		close(sp[i].fd[1]);
	}
	printf("socketpairs: %d pairs, %ld records, %ld acks\n", NPAIRS,
	       records, acks);

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fd), 0);
	CHECK_EQ(write(fd[0], "peekaboo", 8), 8);
	CHECK_EQ(recv(fd[1], buf, 4, MSG_PEEK), 4);
	CHECK_EQ(recv(fd[1], buf + 4, 8, 0), 8);
	printf("MSG_PEEK then recv: %.4s|%.8s\n", buf, buf + 4);
	CHECK_EQ(close(fd[0]), 0);
	printf("recv after peer close: %zd\n", recv(fd[1], buf, 8, 0));
	CHECK_EQ(close(fd[1]), 0);
}

static void test_dgram(void)
{
	static const int sizes[] = { 1, 100, 1000 };
	char buf[2000];
	int fd[2];

	CHECK_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, fd), 0);
	memset(buf, 'd', sizeof(buf));
	for (int i = 0; i < 3; i++)
		CHECK_EQ(sendto(fd[0], buf, sizes[i], 0, NULL, 0), sizes[i]);
	printf("unix dgram sizes:");
	for (int i = 0; i < 3; i++)
		printf(" %zd", recvfrom(fd[1], buf, sizeof(buf), 0, NULL, NULL));
	printf("\n");
	CHECK_EQ(send(fd[0], buf, 100, 0), 100);
	CHECK_EQ(send(fd[0], buf, 100, 0), 100);
	printf("100-byte datagram into 10 bytes: %zd\n",
	       recv(fd[1], buf, 10, 0));
	printf("same with MSG_TRUNC: %zd\n", recv(fd[1], buf, 10, MSG_TRUNC));
	close(fd[0]);
	close(fd[1]);
}

static int udp_socket(struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	CHECK(fd >= 0);
	*addr = (struct sockaddr_in){
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	CHECK_EQ(bind(fd, (struct sockaddr *)addr, len), 0);
	CHECK_EQ(getsockname(fd, (struct sockaddr *)addr, &len), 0);
	return fd;
}

#define BATCH 8

struct mmsg_batch {
	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_in from[BATCH];
	char data[BATCH][64];
};

static void batch_init(struct mmsg_batch *b)
{
	memset(b, 0, sizeof(*b));
	for (int i = 0; i < BATCH; i++) {
		b->iov[i] = (struct iovec){ b->data[i], sizeof(b->data[i]) };
		b->mm[i].msg_hdr.msg_iov = &b->iov[i];
		b->mm[i].msg_hdr.msg_iovlen = 1;
		b->mm[i].msg_hdr.msg_name = &b->from[i];
		b->mm[i].msg_hdr.msg_namelen = sizeof(b->from[i]);
	}
}

static int mmsg_fd;

/* Blocks in recvmmsg() until all BATCH datagrams are in (flags 0). */
static void *mmsg_receiver(void *arg)
{
	struct mmsg_batch *b = arg;

	batch_init(b);
	return (void *)(intptr_t)recvmmsg(mmsg_fd, b->mm, BATCH, 0, NULL);
}

struct udp_peer {
	int fd;
	int id;
};

static void *udp_echo(void *arg)
{
	struct udp_peer *u = arg;
	struct sockaddr_in from;
	socklen_t len = sizeof(from);
	char buf[32];
	ssize_t r;

	r = recvfrom(u->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from,
		     &len);
	CHECK(r > 0);
	CHECK_EQ(sendto(u->fd, buf, r, 0, (struct sockaddr *)&from, len), r);
	return NULL;
}

static void test_udp(void)
{
	static struct udp_peer up[NPAIRS];
	struct sockaddr_in raddr, saddr, peer[NPAIRS];
	struct mmsg_batch rb, sb;
	pthread_t t, et[NPAIRS];
	int rfd, sfd, ok = 0;
	intptr_t got;

	rfd = udp_socket(&raddr);
	sfd = udp_socket(&saddr);
	CHECK_EQ(connect(sfd, (struct sockaddr *)&raddr, sizeof(raddr)), 0);

	mmsg_fd = rfd;
	t = spawn(mmsg_receiver, &rb);
	batch_init(&sb);
	for (int i = 0; i < BATCH; i++) {
		memset(sb.data[i], 'A' + i, sizeof(sb.data[i]));
		sb.iov[i].iov_len = 10 + i;
		sb.mm[i].msg_hdr.msg_name = NULL;
		sb.mm[i].msg_hdr.msg_namelen = 0;
	}
	printf("sendmmsg: %d\n", sendmmsg(sfd, sb.mm, BATCH, 0));
	got = (intptr_t)join(t);
	printf("recvmmsg (blocking, vlen %d): %ld\n", BATCH, (long)got);
	for (int i = 0; i < got; i++) {
		CHECK_EQ(rb.mm[i].msg_len, 10 + i);
		CHECK_EQ(rb.data[i][0], 'A' + i);
		CHECK_EQ(rb.from[i].sin_port, saddr.sin_port);
	}

	/* Three datagrams queued: MSG_WAITFORONE returns the three. */
	CHECK_EQ(sendmmsg(sfd, sb.mm, 3, 0), 3);
	batch_init(&rb);
	printf("recvmmsg (MSG_WAITFORONE, 3 queued): %d\n",
	       recvmmsg(rfd, rb.mm, BATCH, MSG_WAITFORONE, NULL));
	batch_init(&rb);
	CHECK_ERR(recvmmsg(rfd, rb.mm, BATCH, MSG_DONTWAIT, NULL), EAGAIN);
	printf("recvmmsg (MSG_DONTWAIT, empty): EAGAIN\n");
	close(sfd);

	/* NPAIRS threads each blocked in recvfrom() on its own socket. */
	for (int i = 0; i < NPAIRS; i++) {
		up[i] = (struct udp_peer){ .fd = udp_socket(&peer[i]), .id = i };
		et[i] = spawn(udp_echo, &up[i]);
	}
	for (int i = 0; i < NPAIRS; i++) {
		char msg[16];
		int n = snprintf(msg, sizeof(msg), "udp %d", i);

		CHECK_EQ(sendto(rfd, msg, n, 0, (struct sockaddr *)&peer[i],
				sizeof(peer[i])), n);
	}
	for (int i = 0; i < NPAIRS; i++) {
		char buf[32];
		ssize_t r = recvfrom(rfd, buf, sizeof(buf) - 1, 0, NULL, NULL);
		int id;

		CHECK(r > 0);
		buf[r] = 0;
		if (sscanf(buf, "udp %d", &id) == 1 && id >= 0 && id < NPAIRS)
			ok++;
	}
	for (int i = 0; i < NPAIRS; i++) {
		join(et[i]);
		close(up[i].fd);
	}
	printf("udp echo threads: %d of %d\n", ok, NPAIRS);
	close(rfd);
}

int main(void)
{
	preload_init();
	test_pipes();
	test_file();
	test_socketpairs();
	test_dgram();
	test_udp();
	printf("done\n");
	return 0;
}
