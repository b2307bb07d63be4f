// SPDX-License-Identifier: MIT
/*
 * The epoll backend: fiber I/O where io_uring is not available (denied by
 * seccomp or kernel.io_uring_disabled, or WEFT_BACKEND=epoll), with the
 * semantics of the ring backend (io.c): every call parks only its fiber,
 * O_NONBLOCK on the fd makes no difference, deadlines and weft_cancel()
 * end the wait and leave the fd usable, weft_close() wakes the waiters
 * with -EBADF.
 *
 * Readiness, not completion (Go's netpoller)
 *	A fiber first tries the call without blocking (MSG_DONTWAIT, or
 *	RWF_NOWAIT through preadv2/pwritev2, so the fd's own flags stay as
 *	they are). On EAGAIN it parks on the fd's descriptor until the fd
 *	becomes ready, then tries again. Each fd is added to the runtime's
 *	one epoll instance once, edge-triggered for every event, the first
 *	time a fiber has to wait on it, and stays there until weft_close();
 *	an fd closed with plain close(2) and reused would keep a stale
 *	descriptor, so fds that fibers wait on are closed with weft_close()
 *	(the preload shim does that for close(2)).
 *
 * No lost edge
 *	Each descriptor counts the read and write edges seen (rseq, wseq).
 *	A fiber loads the count before its attempt; after EAGAIN it takes
 *	the descriptor's lock and parks only if the count has not moved: an
 *	edge after the load either moved it (try again) or finds the waiter
 *	queued. A fd that was ready before it was added is reported by the
 *	add itself.
 *
 * Drained streams
 *	A short read of a stream socket or a pipe leaves it empty, and new
 *	data makes a new edge: the next read of that fd parks at once when
 *	no edge came since (no EAGAIN round trip). An echo server's read
 *	then costs one recv(), as in a hand-written epoll loop.
 *
 * Who polls
 *	One worker at a time sleeps in epoll_wait() as the poller (the
 *	first to go idle); the others sleep on their futex. The poller is
 *	woken for work by the break eventfd, which sits in the same epoll
 *	instance. Busy workers poll without blocking at their 64-round tick
 *	and before they spin, while no poller sleeps and fibers wait. A
 *	poller readies the fibers it finds onto its own worker; wakep()
 *	brings in others to steal them.
 *
 * Files
 *	A regular file is always "ready", and epoll refuses it. Reads and
 *	writes that RWF_NOWAIT says would block (data not cached) and fsync
 *	go to the offload pool; openat and close run on the worker.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../lib/log.h"
#include "io.h"
#include "waitq.h"

/* The fd table: 64 Ki chunks of 1 Ki descriptors, made on first use. */
#define CHUNK_SHIFT	10
#define NCHUNKS		(1U << 16)
#define BREAK_DATA	UINT64_MAX	/* the break eventfd's epoll data */

enum { WANT_R = 1, WANT_W = 2 };

struct weft_pdesc {
	struct weft_spin lock;
	/*
	 * Edges seen: stored with the lock held (release), loaded by
	 * fibers before their attempt (acquire).
	 */
	uint32_t rseq, wseq;
	/*
	 * rseq + 1 while a short read left the stream empty, else 0. A
	 * hint written by readers without the lock: it only saves the
	 * attempt while no edge has come since (see "Drained streams").
	 */
	uint32_t drained;
	uint8_t registered;		/* in epfd; relaxed, set once per fd */
	/*
	 * A hang-up or error was seen (set with the lock held, before the
	 * rseq store): no edge may follow, so a short read proves nothing.
	 */
	uint8_t hup;
	/*
	 * weft_close() is under way (the lock's): nobody may park, since
	 * the close that follows makes no event.
	 */
	uint8_t closing;
	uint8_t stream;			/* a stream socket or a pipe */
	struct wq waiters;		/* the lock's; wt->aux: WANT_ bits */
};

int weft__epoll_init(struct weft_rt *rt)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET,
				  .data.u64 = BREAK_DATA };

	rt->fdtab = calloc(NCHUNKS, sizeof(*rt->fdtab));
	if (!rt->fdtab)
		return -ENOMEM;
	rt->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (rt->epfd < 0)
		return -errno;
	rt->break_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (rt->break_fd < 0)
		return -errno;
	/* Edge-triggered and never read: each write is a new edge. */
	if (epoll_ctl(rt->epfd, EPOLL_CTL_ADD, rt->break_fd, &ev))
		return -errno;
	return 0;
}

void weft__epoll_fini(struct weft_rt *rt)
{
	unsigned int i;

	if (rt->fdtab)
		for (i = 0; i < NCHUNKS; i++)
			free(rt->fdtab[i]);
	free(rt->fdtab);
	rt->fdtab = NULL;
	if (rt->break_fd >= 0)
		close(rt->break_fd);
	if (rt->epfd >= 0)
		close(rt->epfd);
	rt->break_fd = rt->epfd = -1;
}

/* @fd's descriptor, made if @make; NULL for a bad fd or no memory. */
static struct weft_pdesc *pdesc(struct weft_rt *rt, int fd, bool make)
{
	struct weft_pdesc *c, *none = NULL;
	unsigned int i = (unsigned int)fd >> CHUNK_SHIFT;

	if (fd < 0 || i >= NCHUNKS)
		return NULL;
	c = __atomic_load_n(&rt->fdtab[i], __ATOMIC_ACQUIRE);
	if (!c) {
		if (!make)
			return NULL;
		c = calloc(1U << CHUNK_SHIFT, sizeof(*c));
		if (!c)
			return NULL;
		/* Release: the zeroed chunk before its pointer. */
		if (!__atomic_compare_exchange_n(&rt->fdtab[i], &none, c, false,
						 __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE)) {
			free(c);
			c = none;
		}
	}
	return &c[fd & ((1U << CHUNK_SHIFT) - 1)];
}

/* Add @fd to the epoll instance: 0, -EPERM for a regular file, -errno. */
static int pdesc_register(struct weft_worker *w, struct weft_pdesc *d,
			  int fd)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET,
		.data.u64 = (uint32_t)fd,
	};
	struct stat st;
	int type = 0;
	socklen_t len = sizeof(type);

	STAT_INC(w, nsyscalls, 1);
	if (epoll_ctl(w->rt->epfd, EPOLL_CTL_ADD, fd, &ev) && errno != EEXIST)
		return -errno;
	/* Once per fd: is a short read proof that it is empty? */
	STAT_INC(w, nsyscalls, 2);
	d->stream = !fstat(fd, &st) &&
		    (S_ISFIFO(st.st_mode) ||
		     (S_ISSOCK(st.st_mode) &&
		      !getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) &&
		      type == SOCK_STREAM));
	__atomic_store_n(&d->registered, 1, __ATOMIC_RELAXED);
	return 0;
}

/* Which readiness @a waits for. */
static unsigned int want_of(const struct io_args *a)
{
	switch (a->kind) {
	case IO_READ: case IO_READV: case IO_RECV: case IO_RECVMSG:
	case IO_ACCEPT:
		return WANT_R;
	case IO_WRITE: case IO_WRITEV: case IO_SEND: case IO_SENDMSG:
	case IO_CONNECT:
		return WANT_W;
	case IO_POLL:
		return (a->len & (POLLIN | POLLPRI | POLLRDHUP) ? WANT_R : 0) |
		       (a->len & POLLOUT ? WANT_W : 0) | (a->len ? 0 : WANT_R);
	default:
		return 0;
	}
}

/* Bytes a read asks for: a reply shorter than this drained a stream. */
static size_t read_len(const struct io_args *a)
{
	const struct iovec *iov = a->buf;
	size_t n = 0, cnt = a->len, i;

	switch (a->kind) {
	case IO_READ:
		return a->len;
	case IO_RECV:
		return a->flags & MSG_PEEK ? 0 : a->len;
	case IO_RECVMSG:
		if (a->flags & MSG_PEEK)
			return 0;
		iov = ((const struct msghdr *)a->buf)->msg_iov;
		cnt = ((const struct msghdr *)a->buf)->msg_iovlen;
		/* fall through */
	case IO_READV:
		for (i = 0; i < cnt; i++)
			n += iov[i].iov_len;
		return n;
	default:
		return 0;
	}
}

static long ret_of(long r)
{
	return r < 0 ? -errno : r;
}

/* poll(2) without a timeout: revents, or -EAGAIN when none. */
static long poll_now(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r = poll(&p, 1, 0);

	if (r < 0)
		return -errno;
	return r ? p.revents : -EAGAIN;
}

/*
 * The call, without blocking the worker: -EAGAIN when it would block,
 * -EOPNOTSUPP when the fd cannot say (RWF_NOWAIT on a tty, /proc).
 */
static long try_now(const struct io_args *a, bool nowait_ok)
{
	struct iovec one = { a->buf, a->len };
	off_t off = (off_t)a->off;
	long r;

	switch (a->kind) {
	case IO_READ:
	case IO_READV:
	case IO_WRITE:
	case IO_WRITEV:
		if (!nowait_ok) {
			r = poll_now(a->fd, want_of(a) == WANT_R ? POLLIN
								 : POLLOUT);
			return r < 0 ? r : weft__sys_io(a);
		}
		if (a->kind == IO_READ)
			r = preadv2(a->fd, &one, 1, off, RWF_NOWAIT);
		else if (a->kind == IO_READV)
			r = preadv2(a->fd, a->buf, a->len, off, RWF_NOWAIT);
		else if (a->kind == IO_WRITE)
			r = pwritev2(a->fd, &one, 1, off, RWF_NOWAIT);
		else
			r = pwritev2(a->fd, a->buf, a->len, off, RWF_NOWAIT);
		return ret_of(r);
	case IO_RECV:
		return ret_of(recv(a->fd, a->buf, a->len,
				   a->flags | MSG_DONTWAIT));
	case IO_SEND:
		return ret_of(send(a->fd, a->buf, a->len,
				   a->flags | MSG_DONTWAIT));
	case IO_RECVMSG:
		return ret_of(recvmsg(a->fd, a->buf, a->flags | MSG_DONTWAIT));
	case IO_SENDMSG:
		return ret_of(sendmsg(a->fd, a->buf, a->flags | MSG_DONTWAIT));
	case IO_ACCEPT:
		/*
		 * accept4() has no "don't wait" flag: ask poll() first. Only
		 * another thread accepting the same connection in between
		 * can make the accept block (briefly: until the next one).
		 */
		r = poll_now(a->fd, POLLIN);
		return r < 0 ? r : weft__sys_io(a);
	case IO_POLL:
		return poll_now(a->fd, a->len);
	default:
		return weft__sys_io(a);
	}
}

long weft__io_try(const struct io_args *a)
{
	return try_now(a, true);
}

static void *offload_io(void *arg)
{
	return (void *)(intptr_t)weft__sys_io(arg);
}

/*
 * A call that may block in the kernel, on the offload pool. Like a ring
 * operation it is not abandoned (it uses the caller's buffers): a cancel
 * does not end the wait, and the call keeps its result.
 */
static long offloaded(const struct io_args *a)
{
	void *res;
	int r = weft__offload_sync(offload_io, (void *)a, &res);

	return r ? r : (long)(intptr_t)res;
}

/*
 * Park until @d has a @want edge past @rs/@ws. 0: try again; -ETIMEDOUT,
 * -ECANCELED, or -EBADF when the fd was closed with weft_close().
 */
static int park(struct weft_worker *w, struct weft_pdesc *d,
		unsigned int want, uint32_t rs, uint32_t ws, uint64_t deadline)
{
	struct weft_rt *rt = w->rt;
	struct weft_spin *lock = &d->lock;
	struct weft_waiter wt;
	int st;

	weft_spin_lock(lock);
	if (d->closing) {
		weft_spin_unlock(lock);
		return -EBADF;
	}
	if (((want & WANT_R) && d->rseq != rs) ||
	    ((want & WANT_W) && d->wseq != ws)) {
		weft_spin_unlock(lock);
		return 0;
	}
	weft__waiter_init(&wt, NULL);
	wt.aux = want;
	wq_push(&d->waiters, &wt);
	/* Before the wait: a worker going idle sees a fiber waits. */
	__atomic_add_fetch(&rt->io_waiting, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&w->io_parked, 1, __ATOMIC_RELAXED);
	st = weft__wait(&wt, &lock, 1, deadline);
	__atomic_sub_fetch(&w->io_parked, 1, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&rt->io_waiting, 1, __ATOMIC_RELAXED);
	if (st == WAIT_WOKEN)
		return wt.result;
	weft_spin_lock(lock);
	if (wq_linked(&wt))
		wq_del(&d->waiters, &wt);
	weft_spin_unlock(lock);
	return weft__wait_errno(st);
}

/* connect(2) on a socket that may be blocking, without blocking. */
static long connect_io(struct weft_worker *w, const struct io_args *a,
		       uint64_t deadline)
{
	struct io_args p = { IO_POLL, a->fd, NULL, POLLOUT, IO_NOW, 0, NULL,
			     0 };
	int fl = fcntl(a->fd, F_GETFL), err = 0;
	socklen_t len = sizeof(err);
	long r;

	if (fl < 0)
		return -errno;
	/*
	 * O_NONBLOCK only for the call: the connection goes on after it is
	 * cleared. Another thread using the fd in these two syscalls would
	 * see the flag.
	 */
	if (!(fl & O_NONBLOCK) && fcntl(a->fd, F_SETFL, fl | O_NONBLOCK))
		return -errno;
	r = ret_of(connect(a->fd, a->buf, a->len));
	if (!(fl & O_NONBLOCK))
		fcntl(a->fd, F_SETFL, fl);
	STAT_INC(w, nsyscalls, 4);
	if (r != -EINPROGRESS)
		return r;
	r = weft__epoll_io(w, &p, deadline);
	if (r < 0)
		return r;
	if (getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &err, &len))
		return -errno;
	return -err;
}

static long epoll_io_one(struct weft_worker *w, const struct io_args *a,
			 uint64_t deadline);

/*
 * recv(MSG_WAITALL) waits for all @len bytes (or EOF, an error, the
 * deadline): the attempts themselves cannot wait, so gather here.
 */
static long recv_all(struct weft_worker *w, const struct io_args *a,
		     uint64_t deadline)
{
	struct io_args b = *a;
	size_t got = 0;
	long r;

	b.flags &= ~MSG_WAITALL;
	while (got < a->len) {
		b.buf = (char *)a->buf + got;
		b.len = a->len - got;
		r = epoll_io_one(w, &b, deadline);
		if (r <= 0)
			return got ? (long)got : r;
		got += r;
		w = weft__cur_worker;
	}
	return got;
}

long weft__epoll_io(struct weft_worker *w, const struct io_args *a,
		    uint64_t deadline)
{
	if (a->kind == IO_RECV && (a->flags & MSG_WAITALL) && a->len)
		return recv_all(w, a, deadline);
	return epoll_io_one(w, a, deadline);
}

static long epoll_io_one(struct weft_worker *w, const struct io_args *a,
			 uint64_t deadline)
{
	unsigned int want = want_of(a);
	size_t asked = read_len(a);
	bool nowait_ok = true;
	struct weft_pdesc *d;
	long r;
	int ret;

	switch (a->kind) {
	case IO_CONNECT:
		return connect_io(w, a, deadline);
	case IO_FSYNC:
		return offloaded(a);
	case IO_OPENAT:
	case IO_CLOSE:
		STAT_INC(w, nsyscalls, 1);
		return weft__sys_io(a);
	default:
		break;
	}
	d = pdesc(w->rt, a->fd, true);
	if (!d)
		return a->fd < 0 ? -EBADF : -ENOMEM;
	for (;;) {
		uint32_t rs = __atomic_load_n(&d->rseq, __ATOMIC_ACQUIRE);
		uint32_t ws = __atomic_load_n(&d->wseq, __ATOMIC_ACQUIRE);

		if (!asked || !deadline ||
		    __atomic_load_n(&d->hup, __ATOMIC_RELAXED) ||
		    __atomic_load_n(&d->drained, __ATOMIC_RELAXED) != rs + 1) {
			STAT_INC(w, nsyscalls, 1);
			r = try_now(a, nowait_ok);
			if (r == -EOPNOTSUPP && nowait_ok) {
				nowait_ok = false;	/* a tty, /proc: poll */
				continue;
			}
			if (r != -EAGAIN) {
				if (r > 0 && (size_t)r < asked && d->stream)
					__atomic_store_n(&d->drained, rs + 1,
							 __ATOMIC_RELAXED);
				if (r >= 0)
					weft__await();
				return r;
			}
			if (!deadline)
				return -EAGAIN;
		}
		if (!__atomic_load_n(&d->registered, __ATOMIC_RELAXED)) {
			ret = pdesc_register(w, d, a->fd);
			/* A regular file: it would block on the disk. */
			if (ret == -EPERM)
				return offloaded(a);
			if (ret)
				return ret;
		}
		ret = park(w, d, want, rs, ws, deadline);
		w = weft__cur_worker;	/* it may resume on another */
		if (ret)
			return ret == -ETIMEDOUT && !deadline ? -EAGAIN : ret;
	}
}

/*
 * Before closing @fd: wake its waiters with -EBADF and take it out of the
 * epoll instance (a dup of it would keep reporting under this number).
 */
void weft__epoll_close(struct weft_rt *rt, int fd)
{
	struct weft_pdesc *d = pdesc(rt, fd, false);
	bool registered;
	WAKE_LIST(woken);

	/*
	 * Even if not registered yet: a fiber may be between its attempt
	 * and its registration, and must not park on an fd about to go.
	 */
	if (!d)
		return;
	weft_spin_lock(&d->lock);
	d->closing = 1;
	registered = __atomic_load_n(&d->registered, __ATOMIC_RELAXED);
	__atomic_store_n(&d->registered, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&d->drained, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&d->hup, 0, __ATOMIC_RELAXED);
	d->stream = 0;
	/* Attempts under way try again (and find the fd closed). */
	__atomic_store_n(&d->rseq, d->rseq + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&d->wseq, d->wseq + 1, __ATOMIC_RELEASE);
	wq_claim_all(&d->waiters, -EBADF, &woken);
	weft_spin_unlock(&d->lock);
	if (registered)
		epoll_ctl(rt->epfd, EPOLL_CTL_DEL, fd, NULL);
	wake_list_finish(&woken);
}

/* After the close (or dup2 over @fd): the number may be reused. */
void weft__epoll_closed(struct weft_rt *rt, int fd)
{
	struct weft_pdesc *d = pdesc(rt, fd, false);

	if (!d)
		return;
	weft_spin_lock(&d->lock);
	d->closing = 0;
	weft_spin_unlock(&d->lock);
}

/* One readiness event: count the edge, ready the fibers it concerns. */
static unsigned int event(struct weft_rt *rt, const struct epoll_event *ev)
{
	struct weft_pdesc *d = pdesc(rt, (int)ev->data.u64, false);
	unsigned int got = 0, n = 0;
	struct weft_waiter *wt, *next;
	WAKE_LIST(woken);

	if (!d)
		return 0;
	if (ev->events & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP |
			  EPOLLERR))
		got |= WANT_R;
	if (ev->events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		got |= WANT_W;
	weft_spin_lock(&d->lock);
	if (ev->events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		__atomic_store_n(&d->hup, 1, __ATOMIC_RELAXED);
	if (got & WANT_R)
		__atomic_store_n(&d->rseq, d->rseq + 1, __ATOMIC_RELEASE);
	if (got & WANT_W)
		__atomic_store_n(&d->wseq, d->wseq + 1, __ATOMIC_RELEASE);
	for (wt = d->waiters.head; wt; wt = next) {
		next = wt->next;
		if (!(wt->aux & got))
			continue;
		wq_del(&d->waiters, wt);
		if (weft__wake_claim(wt)) {
			wt->result = 0;
			wake_list_add(&woken, wt);
			n++;
		}
	}
	weft_spin_unlock(&d->lock);
	wake_list_finish(&woken);
	return n;
}

unsigned int weft__netpoll(struct weft_worker *w, uint64_t deadline)
{
	struct weft_rt *rt = w->rt;
	struct epoll_event ev[64];
	struct timespec ts, *tsp = NULL;
	unsigned int readied = 0;
	int i, n;

	if (deadline != UINT64_MAX) {
		uint64_t now = deadline ? weft_now_ns() : 0;
		uint64_t d = deadline > now ? deadline - now : 0;

		ts.tv_sec = d / 1000000000ULL;
		ts.tv_nsec = d % 1000000000ULL;
		tsp = &ts;
	}
	STAT_INC(w, nsyscalls, 1);
	n = epoll_pwait2(rt->epfd, ev, ARRAY_SIZE(ev), tsp, NULL);
	if (n < 0 && errno == ENOSYS)	/* before Linux 5.11 */
		n = epoll_wait(rt->epfd, ev, ARRAY_SIZE(ev),
			       !tsp ? -1 : ts.tv_sec > 1000000 ? 1000000000
			       : ts.tv_sec * 1000 + (ts.tv_nsec + 999999) /
							    1000000);
	for (i = 0; i < n; i++) {
		if (ev[i].data.u64 != BREAK_DATA) {
			readied += event(rt, &ev[i]);
			continue;
		}
		/*
		 * A break is for the blocked poller. A poll that did not
		 * block took it from under it: send it again.
		 */
		if (!deadline &&
		    __atomic_load_n(&rt->poller, __ATOMIC_SEQ_CST))
			weft__epoll_break(rt);
	}
	return readied;
}

void weft__epoll_break(struct weft_rt *rt)
{
	uint64_t one = 1;

	if (write(rt->break_fd, &one, sizeof(one)) < 0)
		WEFT_WARN_ON_ONCE(errno != EAGAIN);
}
