// SPDX-License-Identifier: MIT
/*
 * Blocking-style I/O for fibers, on the worker's io_uring.
 *
 * A fiber that does I/O queues one SQE on its worker's ring, whose user
 * data is a struct weft_io on its own stack, and waits through the common
 * wait protocol (wait.c). Nothing is submitted at once: SQEs go in with
 * whatever the worker submits next (its idle sleep, or its flush every 64
 * rounds), so a worker makes at most one io_uring_enter() per turn however
 * many fibers wait on I/O. The worker that owns the ring reaps the CQE and
 * readies the fiber; the fiber is bound to that worker while its
 * operation is in flight, because only that thread may submit to the ring
 * (SINGLE_ISSUER) and the ring writes into the fiber's buffers.
 *
 * Deadlines and weft_cancel() end the wait early; the operation may still
 * be in flight then, so the fiber asks the ring to cancel it and waits,
 * uncancellably, for its completion before its stack (and buffers) can be
 * reused. An operation that completed anyway keeps its result: data read
 * is never dropped. Otherwise the call returns -ETIMEDOUT or -ECANCELED,
 * and the file descriptor stays usable.
 *
 * Closing an fd cancels the operations other fibers have in flight on it,
 * in every worker's ring, before the close: they return -EBADF.
 *
 * A thread that is not a fiber makes the plain system call (blocking, or
 * with poll() for a deadline). A worker without a ring (io_uring denied,
 * WEFT_BACKEND=epoll) waits for readiness instead: epoll.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "io.h"

static void prep(struct io_uring_sqe *sqe, const struct io_args *a)
{
	switch (a->kind) {
	case IO_READ:
		io_uring_prep_read(sqe, a->fd, a->buf, a->len, a->off);
		break;
	case IO_WRITE:
		io_uring_prep_write(sqe, a->fd, a->buf, a->len, a->off);
		break;
	case IO_READV:
		io_uring_prep_readv(sqe, a->fd, a->buf, a->len, a->off);
		break;
	case IO_WRITEV:
		io_uring_prep_writev(sqe, a->fd, a->buf, a->len, a->off);
		break;
	case IO_RECV:
		io_uring_prep_recv(sqe, a->fd, a->buf, a->len, a->flags);
		break;
	case IO_SEND:
		io_uring_prep_send(sqe, a->fd, a->buf, a->len, a->flags);
		break;
	case IO_RECVMSG:
		io_uring_prep_recvmsg(sqe, a->fd, a->buf, a->flags);
		break;
	case IO_SENDMSG:
		io_uring_prep_sendmsg(sqe, a->fd, a->buf, a->flags);
		break;
	case IO_ACCEPT:
		io_uring_prep_accept(sqe, a->fd, a->buf, a->aux, a->flags);
		break;
	case IO_CONNECT:
		io_uring_prep_connect(sqe, a->fd, a->buf, a->len);
		break;
	case IO_POLL:
		io_uring_prep_poll_add(sqe, a->fd, a->len);
		break;
	case IO_OPENAT:
		io_uring_prep_openat(sqe, a->fd, a->buf, a->flags, a->mode);
		break;
	case IO_CLOSE:
		io_uring_prep_close(sqe, a->fd);
		break;
	case IO_FSYNC:
		io_uring_prep_fsync(sqe, a->fd, a->flags);
		break;
	}
}

/* The plain system call: for a caller that is not a fiber, and files. */
long weft__sys_io(const struct io_args *a)
{
	long r = -1;

	switch (a->kind) {
	case IO_READ:
		r = a->off == (uint64_t)-1 ? read(a->fd, a->buf, a->len)
					   : pread(a->fd, a->buf, a->len, a->off);
		break;
	case IO_WRITE:
		r = a->off == (uint64_t)-1 ? write(a->fd, a->buf, a->len)
					   : pwrite(a->fd, a->buf, a->len, a->off);
		break;
	case IO_READV:
		r = a->off == (uint64_t)-1 ? readv(a->fd, a->buf, a->len)
					   : preadv(a->fd, a->buf, a->len, a->off);
		break;
	case IO_WRITEV:
		r = a->off == (uint64_t)-1 ? writev(a->fd, a->buf, a->len)
					   : pwritev(a->fd, a->buf, a->len, a->off);
		break;
	case IO_RECV:
		r = recv(a->fd, a->buf, a->len, a->flags);
		break;
	case IO_SEND:
		r = send(a->fd, a->buf, a->len, a->flags);
		break;
	case IO_RECVMSG:
		r = recvmsg(a->fd, a->buf, a->flags);
		break;
	case IO_SENDMSG:
		r = sendmsg(a->fd, a->buf, a->flags);
		break;
	case IO_ACCEPT:
		r = accept4(a->fd, a->buf, a->aux, a->flags);
		break;
	case IO_CONNECT:
		r = connect(a->fd, a->buf, a->len);
		break;
	case IO_POLL: {
		struct pollfd p = { .fd = a->fd, .events = a->len };

		r = poll(&p, 1, -1);
		if (r > 0)
			r = p.revents;
		break;
	}
	case IO_OPENAT:
		r = openat(a->fd, a->buf, a->flags, a->mode);
		break;
	case IO_CLOSE:
		r = close(a->fd);
		break;
	case IO_FSYNC:
		r = a->flags ? fdatasync(a->fd) : fsync(a->fd);
		break;
	}
	return r < 0 ? -errno : r;
}

/* Which readiness a thread's deadline waits for before the call. */
static short ready_events(const struct io_args *a)
{
	switch (a->kind) {
	case IO_READ: case IO_READV: case IO_RECV: case IO_RECVMSG:
	case IO_ACCEPT:
		return POLLIN;
	case IO_WRITE: case IO_WRITEV: case IO_SEND: case IO_SENDMSG:
	case IO_CONNECT:
		return POLLOUT;
	case IO_POLL:
		return a->len;
	default:
		return 0;
	}
}

static long thread_io(const struct io_args *a, uint64_t deadline)
{
	short ev = ready_events(a);

	if (deadline != WEFT_FOREVER && ev) {
		uint64_t now = weft_now_ns();
		int ms = deadline > now ? (deadline - now + 999999) / 1000000 : 0;
		struct pollfd p = { .fd = a->fd, .events = ev };
		int r = poll(&p, 1, ms);

		if (r < 0)
			return -errno;
		if (!r)
			return deadline ? -ETIMEDOUT : -EAGAIN;
		if (a->kind == IO_POLL)
			return p.revents;
	}
	return weft__sys_io(a);
}

static struct io_uring_sqe *get_sqe(struct weft_worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(w->ring);

	if (!sqe) {		/* the SQ is full: submit what is queued */
		weft__ring_flush(w);
		sqe = io_uring_get_sqe(w->ring);
	}
	/* SQPOLL: its kernel thread takes the entries when it gets to them. */
	while (!sqe && (w->ring->flags & IORING_SETUP_SQPOLL)) {
		io_uring_sqring_wait(w->ring);
		sqe = io_uring_get_sqe(w->ring);
	}
	return sqe;
}

/* A completion for @io, on the worker that owns the ring. */
void weft__io_complete(struct weft_worker *w, struct weft_io *io, int res)
{
	(void)w;
	io->res = res;
	io->done = true;
	if (weft__wake_claim(&io->wt))
		weft__wake_finish(&io->wt);
}

/* Which WEFT_IO_TRY bit lets @kind try the call before the ring. */
static int try_bit(enum io_kind kind)
{
	switch (kind) {
	case IO_WRITE: case IO_WRITEV: case IO_SEND: case IO_SENDMSG:
		return IO_TRY_SEND;
	case IO_READ: case IO_READV: case IO_RECV: case IO_RECVMSG:
		return IO_TRY_RECV;
	default:
		return 0;
	}
}

static long fiber_io(struct weft_worker *w, struct weft_fiber *self,
		     const struct io_args *a, uint64_t deadline)
{
	struct weft_worker *home = self->home;
	uint8_t bound = self->bound;
	struct io_uring_sqe *sqe;
	struct weft_io io;
	int st;

	if (w->rt->io_try & try_bit(a->kind)) {
		long r = weft__io_try(a);

		STAT_INC(w, nsyscalls, 1);
		if (r != -EAGAIN && r != -EOPNOTSUPP) {
			if (r >= 0)
				weft__await();
			return r;
		}
	}
	sqe = get_sqe(w);
	if (!sqe)
		return -EBUSY;
	prep(sqe, a);
	io_uring_sqe_set_data(sqe, &io);
	w->pending_msgs++;
	io.done = false;
	io.res = 0;
	/* Stay on this worker: its ring writes our buffers and reaps. */
	self->bound = 1;
	self->home = w;
	__atomic_store_n(&w->inflight, w->inflight + 1, __ATOMIC_RELAXED);
	weft__waiter_init(&io.wt, NULL);
	io.wt.done = &io.done;
	st = weft__wait(&io.wt, NULL, 0, deadline ? deadline : 1);
	if (!io.done) {
		/* Ended early: cancel it and wait for the ring to let go. */
		sqe = get_sqe(w);
		if (sqe) {
			io_uring_prep_cancel64(sqe, (uintptr_t)&io, 0);
			io_uring_sqe_set_data64(sqe, WEFT__TAG_IGNORE);
			w->pending_msgs++;
		}
		while (!io.done) {
			weft__waiter_init(&io.wt, NULL);
			io.wt.done = &io.done;
			weft__wait(&io.wt, NULL, 0, WEFT_FOREVER);
		}
	}
	__atomic_store_n(&w->inflight, w->inflight - 1, __ATOMIC_RELAXED);
	self->bound = bound;
	self->home = home;
	if (io.res == -ECANCELED)
		return st == WAIT_WOKEN ? -EBADF	/* closed meanwhile */
		       : st == WAIT_CANCELED ? -ECANCELED
		       : deadline ? -ETIMEDOUT : -EAGAIN;
	if (io.res >= 0)
		weft__await();
	return io.res;
}

static long do_io(const struct io_args *a, uint64_t deadline)
{
	struct weft_worker *w = weft__cur_worker;
	struct weft_fiber *self = w ? w->cur : NULL;

	if (!self)
		return thread_io(a, deadline);
	if (!w->ring)
		return weft__epoll_io(w, a, deadline);
	return fiber_io(w, self, a, deadline);
}

WEFT_EXPORT ssize_t weft_read_until(int fd, void *buf, size_t len,
				    uint64_t deadline_ns)
{
	struct io_args a = { IO_READ, fd, buf, len, IO_NOW, 0, NULL, 0 };

	return do_io(&a, deadline_ns);
}

WEFT_EXPORT ssize_t weft_read(int fd, void *buf, size_t len)
{
	return weft_read_until(fd, buf, len, WEFT_FOREVER);
}

/*
 * A blocking write to a pipe or a stream socket returns once all of it is
 * in (or on an error or the deadline: then the count so far). The ring
 * and the epoll backend may take part of it at a time: go on from there.
 * A copy of the iovec (and msghdr) is advanced, never the caller's.
 */
#define IOV_COPY	64

static long write_all(struct io_args *a, uint64_t deadline)
{
	struct iovec iov[IOV_COPY];
	struct msghdr msg;
	size_t cnt = 0;
	long done = 0, r;

	for (;;) {
		r = do_io(a, deadline);
		if (r <= 0)
			return done ? done : r;
		done += r;
		switch (a->kind) {
		case IO_WRITE:
		case IO_SEND:
			a->buf = (char *)a->buf + r;
			a->len -= r;
			if (!a->len)
				return done;
			continue;
		case IO_WRITEV:
			if (!cnt) {
				if (a->len > IOV_COPY)
					return done;	/* as writev(2) may */
				cnt = a->len;
				memcpy(iov, a->buf, cnt * sizeof(*iov));
				a->buf = iov;
			}
			break;
		case IO_SENDMSG:
			if (!cnt) {
				msg = *(struct msghdr *)a->buf;
				if (msg.msg_iovlen > IOV_COPY)
					return done;
				cnt = msg.msg_iovlen;
				memcpy(iov, msg.msg_iov, cnt * sizeof(*iov));
				msg.msg_iov = iov;
				/* Ancillary data went with the first part. */
				msg.msg_control = NULL;
				msg.msg_controllen = 0;
				a->buf = &msg;
			}
			break;
		default:
			return done;
		}
		/* Drop what went out from the front of iov[0..cnt). */
		size_t i = 0, left = r;

		while (i < cnt && left >= iov[i].iov_len)
			left -= iov[i++].iov_len;
		if (i == cnt)
			return done;
		memmove(iov, iov + i, (cnt - i) * sizeof(*iov));
		cnt -= i;
		iov[0].iov_base = (char *)iov[0].iov_base + left;
		iov[0].iov_len -= left;
		if (a->kind == IO_WRITEV)
			a->len = cnt;
		else
			msg.msg_iovlen = cnt;
	}
}

WEFT_EXPORT ssize_t weft_write_until(int fd, const void *buf, size_t len,
				     uint64_t deadline_ns)
{
	struct io_args a = { IO_WRITE, fd, (void *)buf, len, IO_NOW, 0, NULL, 0 };

	return write_all(&a, deadline_ns);
}

WEFT_EXPORT ssize_t weft_write(int fd, const void *buf, size_t len)
{
	return weft_write_until(fd, buf, len, WEFT_FOREVER);
}

WEFT_EXPORT ssize_t weft_pread(int fd, void *buf, size_t len, off_t off)
{
	struct io_args a = { IO_READ, fd, buf, len, off, 0, NULL, 0 };

	if (off < 0)
		return -EINVAL;
	return do_io(&a, WEFT_FOREVER);
}

WEFT_EXPORT ssize_t weft_pwrite(int fd, const void *buf, size_t len,
				off_t off)
{
	struct io_args a = { IO_WRITE, fd, (void *)buf, len, off, 0, NULL, 0 };

	if (off < 0)
		return -EINVAL;
	return do_io(&a, WEFT_FOREVER);
}

WEFT_EXPORT ssize_t weft_readv_until(int fd, const struct iovec *iov,
				     int iovcnt, uint64_t deadline_ns)
{
	struct io_args a = { IO_READV, fd, (void *)iov, iovcnt, IO_NOW, 0,
			     NULL, 0 };

	if (iovcnt < 0)
		return -EINVAL;
	return do_io(&a, deadline_ns);
}

WEFT_EXPORT ssize_t weft_writev_until(int fd, const struct iovec *iov,
				      int iovcnt, uint64_t deadline_ns)
{
	struct io_args a = { IO_WRITEV, fd, (void *)iov, iovcnt, IO_NOW, 0,
			     NULL, 0 };

	if (iovcnt < 0)
		return -EINVAL;
	return write_all(&a, deadline_ns);
}

WEFT_EXPORT ssize_t weft_recv_until(int fd, void *buf, size_t len,
				    int flags, uint64_t deadline_ns)
{
	struct io_args a = { IO_RECV, fd, buf, len, IO_NOW, flags, NULL, 0 };

	return do_io(&a, deadline_ns);
}

WEFT_EXPORT ssize_t weft_send_until(int fd, const void *buf, size_t len,
				    int flags, uint64_t deadline_ns)
{
	struct io_args a = { IO_SEND, fd, (void *)buf, len, IO_NOW, flags, NULL,
			     0 };

	return write_all(&a, deadline_ns);
}

WEFT_EXPORT ssize_t weft_recvmsg_until(int fd, struct msghdr *msg, int flags,
				       uint64_t deadline_ns)
{
	struct io_args a = { IO_RECVMSG, fd, msg, 0, IO_NOW, flags, NULL, 0 };

	return do_io(&a, deadline_ns);
}

WEFT_EXPORT ssize_t weft_sendmsg_until(int fd, const struct msghdr *msg,
				       int flags, uint64_t deadline_ns)
{
	struct io_args a = { IO_SENDMSG, fd, (void *)msg, 0, IO_NOW, flags, NULL,
			     0 };

	return write_all(&a, deadline_ns);
}

WEFT_EXPORT int weft_accept_until(int fd, struct sockaddr *addr,
				  socklen_t *addrlen, int flags,
				  uint64_t deadline_ns)
{
	struct io_args a = { IO_ACCEPT, fd, addr, 0, IO_NOW, flags, addrlen, 0 };

	return do_io(&a, deadline_ns);
}

WEFT_EXPORT int weft_connect_until(int fd, const struct sockaddr *addr,
				   socklen_t addrlen, uint64_t deadline_ns)
{
	struct io_args a = { IO_CONNECT, fd, (void *)addr, addrlen, IO_NOW, 0,
			     NULL, 0 };

	return do_io(&a, deadline_ns);
}

WEFT_EXPORT int weft_poll_until(int fd, short events, uint64_t deadline_ns)
{
	struct io_args a = { IO_POLL, fd, NULL, (unsigned short)events, IO_NOW, 0,
			     NULL, 0 };

	return do_io(&a, deadline_ns);
}

WEFT_EXPORT int weft_openat(int dirfd, const char *path, int flags,
			    unsigned int mode)
{
	struct io_args a = { IO_OPENAT, dirfd, (void *)path, 0, IO_NOW,
			     flags | O_CLOEXEC, NULL, mode };

	if (!path)
		return -EINVAL;
	return do_io(&a, WEFT_FOREVER);
}

/* Queue a cancel of every operation on @fd in @w's ring. */
static void cancel_fd_here(struct weft_worker *w, int fd)
{
	struct io_uring_sqe *sqe = get_sqe(w);

	if (sqe) {
		io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(sqe, WEFT__TAG_IGNORE);
		w->pending_msgs++;
	}
}

/* On worker @w: run the cancels other threads asked of it. */
void weft__cancels_run(struct weft_worker *w)
{
	struct weft_fd_cancel *c, *next;

	c = __atomic_exchange_n(&w->cancels, NULL, __ATOMIC_ACQUIRE);
	if (!c)
		return;
	for (next = c; next; next = next->next)
		cancel_fd_here(w, next->fd);
	/* Submitted before the closers go on to close the fd. */
	weft__ring_flush(w);
	while (c) {
		next = c->next;
		__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
		c = next;
	}
}

/* Wait until the workers asked in @req have submitted their cancels. */
static void cancels_wait(struct weft_fd_cancel *req, unsigned int n,
			 bool fiber)
{
	for (unsigned int i = 0; i < n; i++)
		while (!__atomic_load_n(&req[i].done, __ATOMIC_ACQUIRE)) {
			if (fiber)
				weft_yield();
			else
				sched_yield();
		}
}

/*
 * Before closing @fd: fibers blocked on it hold the file in some ring and
 * would wait forever; cancel their operations in every ring (they return
 * -EBADF). Another worker's ring only takes SQEs from its own thread, so
 * it is asked, and this caller waits until the cancel is submitted
 * (briefly: a worker looks at its requests at every pick and wake-up).
 */
static void cancel_fd_everywhere(struct weft_worker *self, int fd)
{
	struct weft_rt *rt = weft__runtime();
	struct weft_fd_cancel req[64];
	unsigned int i, n = 0;

	if (!rt)
		return;
	for (i = 0; i < rt->nworkers; i++) {
		struct weft_worker *w = &rt->workers[i];
		struct weft_fd_cancel *old;

		if (!__atomic_load_n(&w->inflight, __ATOMIC_RELAXED) ||
		    !w->ring)
			continue;
		if (w == self) {
			cancel_fd_here(w, fd);
			continue;
		}
		if (n == ARRAY_SIZE(req)) {
			cancels_wait(req, n, self);	/* rare: a batch */
			n = 0;
		}
		req[n].fd = fd;
		req[n].done = 0;
		old = __atomic_load_n(&w->cancels, __ATOMIC_RELAXED);
		do
			req[n].next = old;
		while (!__atomic_compare_exchange_n(&w->cancels, &old, &req[n],
						    false, __ATOMIC_SEQ_CST,
						    __ATOMIC_RELAXED));
		weft__kick(w);
		n++;
	}
	cancels_wait(req, n, self);
}

void weft__fd_closed(int fd)
{
	if (weft__runtime())
		weft__epoll_closed(weft__runtime(), fd);
}

void weft__fd_forget(int fd)
{
	struct weft_worker *w = weft__cur_worker;

	cancel_fd_everywhere(w && w->cur ? w : NULL, fd);
	if (weft__runtime())
		weft__epoll_close(weft__runtime(), fd);
}

WEFT_EXPORT int weft_close(int fd)
{
	struct io_args a = { IO_CLOSE, fd, NULL, 0, IO_NOW, 0, NULL, 0 };

	int r;

	if (fd < 0)
		return -EBADF;
	weft__fd_forget(fd);
	r = do_io(&a, WEFT_FOREVER);
	weft__fd_closed(fd);
	return r;
}

WEFT_EXPORT int weft_fsync(int fd, bool datasync)
{
	struct io_args a = { IO_FSYNC, fd, NULL, 0, IO_NOW,
			     datasync ? IORING_FSYNC_DATASYNC : 0, NULL, 0 };

	return do_io(&a, WEFT_FOREVER);
}
