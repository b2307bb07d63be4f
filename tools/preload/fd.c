// SPDX-License-Identifier: MIT
/*
 * Blocking calls made on fibers become weft await points: I/O, poll and
 * friends, sleeps, getaddrinfo. Everything else, and every call from a
 * plain thread or an fd the program made O_NONBLOCK, goes to libc.
 *
 * Per-fd state (cached, a table like epoll.c's)
 *	O_NONBLOCK and SO_RCVTIMEO/SO_SNDTIMEO, read with fcntl() and
 *	getsockopt() the first time a fiber blocks on the fd, then cached
 *	under a generation: an fd created or closed through the shim is
 *	forgotten, and F_SETFL, FIONBIO or a timeout change (which may
 *	concern dups of the same file) bump the generation of them all.
 *	A fiber's blocking call on a blocking fd becomes weft_*_until()
 *	with the socket's timeout as its deadline (expired: EAGAIN, as the
 *	kernel says); on an O_NONBLOCK fd it goes to libc and says EAGAIN.
 *
 * Waiting on several fds (poll with n > 1, select, epoll_wait)
 *	One system call looks first; if nothing is ready, the fds go into a
 *	temporary epoll instance (or the program's own, for epoll_wait) and
 *	the fiber waits on that one fd with weft_poll_until(), then looks
 *	again. Signal masks of ppoll/pselect/epoll_pwait are not applied.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "shim.h"

/* ---- per-fd state ---- */

#define CHUNK_SHIFT	10
#define NCHUNKS		(1U << 16)

struct fdst {
	uint32_t gen;			/* fd_gen when read; 0: unknown */
	bool nonblock;
	uint64_t rcv_ns, snd_ns;	/* SO_RCVTIMEO, SO_SNDTIMEO; 0: none */
};

static struct fdst *fdtab[NCHUNKS];	/* chunks installed by CAS */
static uint32_t fd_gen = 1;		/* atomic */

void shim_fd_changed(void)
{
	__atomic_add_fetch(&fd_gen, 1, __ATOMIC_RELEASE);
}

static struct fdst *fdst_slot(int fd, bool make)
{
	unsigned int i = (unsigned int)fd >> CHUNK_SHIFT;
	struct fdst *c, *none = NULL;

	if (fd < 0 || i >= NCHUNKS)
		return NULL;
	c = __atomic_load_n(&fdtab[i], __ATOMIC_ACQUIRE);
	if (!c && make) {
		c = calloc(1U << CHUNK_SHIFT, sizeof(*c));
		if (c && !__atomic_compare_exchange_n(&fdtab[i], &none, c,
						      false, __ATOMIC_ACQ_REL,
						      __ATOMIC_ACQUIRE)) {
			free(c);
			c = none;
		}
	}
	return c ? &c[fd & ((1U << CHUNK_SHIFT) - 1)] : NULL;
}

void shim_fd_forget(int fd)
{
	struct fdst *s = fdst_slot(fd, false);

	if (s)
		__atomic_store_n(&s->gen, 0, __ATOMIC_RELEASE);
}

static uint64_t timeo_ns(int fd, int opt)
{
	struct timeval tv = { 0 };
	socklen_t len = sizeof(tv);

	if (getsockopt(fd, SOL_SOCKET, opt, &tv, &len))
		return 0;		/* not a socket */
	return (uint64_t)tv.tv_sec * 1000000000ULL + tv.tv_usec * 1000ULL;
}

/* @fd's state, read now if unknown; NULL for a bad fd. */
static struct fdst *fdst(int fd)
{
	uint32_t gen = __atomic_load_n(&fd_gen, __ATOMIC_ACQUIRE);
	struct fdst *s = fdst_slot(fd, true);
	int fl;

	if (!s)
		return NULL;
	if (__atomic_load_n(&s->gen, __ATOMIC_ACQUIRE) == gen)
		return s;
	fl = REAL(fcntl)(fd, F_GETFL);
	if (fl < 0)
		return NULL;
	s->nonblock = fl & O_NONBLOCK;
	s->rcv_ns = timeo_ns(fd, SO_RCVTIMEO);
	s->snd_ns = timeo_ns(fd, SO_SNDTIMEO);
	__atomic_store_n(&s->gen, gen, __ATOMIC_RELEASE);
	return s;
}

/* Should a call on @fd park the fiber? Fills *@s. */
static bool parks(int fd, struct fdst **s)
{
	if (!shim_fiber())
		return false;
	*s = fdst(fd);
	return *s && !(*s)->nonblock;
}

static uint64_t after(uint64_t ns)
{
	return ns ? weft_now_ns() + ns : WEFT_FOREVER;
}

/* A weft result as the system call's: -ETIMEDOUT from a socket timeout
 * is EAGAIN, a cancelled wait EINTR (or the thread's cancellation). */
static long io_ret(long r)
{
	if (r >= 0)
		return r;
	if (r == -ETIMEDOUT)
		r = -EAGAIN;
	else if (r == -ECANCELED)
		r = -shim_canceled();
	errno = (int)-r;
	return -1;
}

/*
 * @call again while a signal with SA_RESTART interrupted it: the kernel
 * restarts these, unless the socket has a timeout (@timeo).
 */
#define RESTARTING(timeo, call) ({					\
	long __r;							\
	do								\
		__r = (call);						\
	while (__r == -ECANCELED && !(timeo) && shim_restart());	\
	__r;								\
})

/* ---- read and write ---- */

ssize_t read(int fd, void *buf, size_t n)
{
	struct fdst *s;

	if (!parks(fd, &s))
		return REAL(read)(fd, buf, n);
	return io_ret(RESTARTING(s->rcv_ns,
				 weft_read_until(fd, buf, n, after(s->rcv_ns))));
}

ssize_t write(int fd, const void *buf, size_t n)
{
	struct fdst *s;

	if (!parks(fd, &s))
		return REAL(write)(fd, buf, n);
	return io_ret(RESTARTING(s->snd_ns,
				 weft_write_until(fd, buf, n, after(s->snd_ns))));
}

ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	struct fdst *s;

	if (!parks(fd, &s))
		return REAL(readv)(fd, iov, cnt);
	return io_ret(RESTARTING(s->rcv_ns,
				 weft_readv_until(fd, iov, cnt, after(s->rcv_ns))));
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	struct fdst *s;

	if (!parks(fd, &s))
		return REAL(writev)(fd, iov, cnt);
	return io_ret(RESTARTING(s->snd_ns,
				 weft_writev_until(fd, iov, cnt, after(s->snd_ns))));
}

ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	struct fdst *s;

	if (!parks(fd, &s) || off < 0)
		return REAL(pread)(fd, buf, n, off);
	return io_ret(weft_pread(fd, buf, n, off));
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	struct fdst *s;

	if (!parks(fd, &s) || off < 0)
		return REAL(pwrite)(fd, buf, n, off);
	return io_ret(weft_pwrite(fd, buf, n, off));
}

/* 64-bit off_t everywhere weft runs: the same calls. */
ssize_t pread64(int fd, void *buf, size_t n, off_t off)
{
	return pread(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	return pwrite(fd, buf, n, off);
}

/* ---- sockets ---- */

ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	struct fdst *s;

	if ((flags & MSG_DONTWAIT) || !parks(fd, &s))
		return REAL(recv)(fd, buf, n, flags);
	return io_ret(RESTARTING(s->rcv_ns,
				 weft_recv_until(fd, buf, n, flags,
						 after(s->rcv_ns))));
}

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	struct fdst *s;

	if ((flags & MSG_DONTWAIT) || !parks(fd, &s))
		return REAL(send)(fd, buf, n, flags);
	return io_ret(RESTARTING(s->snd_ns,
				 weft_send_until(fd, buf, n, flags,
						 after(s->snd_ns))));
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct fdst *s;

	if ((flags & MSG_DONTWAIT) || !parks(fd, &s))
		return REAL(recvmsg)(fd, msg, flags);
	return io_ret(RESTARTING(s->rcv_ns,
				 weft_recvmsg_until(fd, msg, flags,
						    after(s->rcv_ns))));
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct fdst *s;

	if ((flags & MSG_DONTWAIT) || !parks(fd, &s))
		return REAL(sendmsg)(fd, msg, flags);
	return io_ret(RESTARTING(s->snd_ns,
				 weft_sendmsg_until(fd, msg, flags,
						    after(s->snd_ns))));
}

ssize_t recvfrom(int fd, void *buf, size_t n, int flags,
		 struct sockaddr *addr, socklen_t *alen)
{
	struct iovec iov = { buf, n };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct fdst *s;
	long r;

	if ((flags & MSG_DONTWAIT) || !parks(fd, &s))
		return REAL(recvfrom)(fd, buf, n, flags, addr, alen);
	if (addr && alen) {
		m.msg_name = addr;
		m.msg_namelen = *alen;
	}
	r = RESTARTING(s->rcv_ns, weft_recvmsg_until(fd, &m, flags,
							    after(s->rcv_ns)));
	if (r >= 0 && addr && alen)
		*alen = m.msg_namelen;
	return io_ret(r);
}

ssize_t sendto(int fd, const void *buf, size_t n, int flags,
	       const struct sockaddr *addr, socklen_t alen)
{
	struct iovec iov = { (void *)buf, n };
	struct msghdr m = { .msg_name = (void *)addr, .msg_namelen = alen,
			    .msg_iov = &iov, .msg_iovlen = 1 };
	struct fdst *s;

	if ((flags & MSG_DONTWAIT) || !parks(fd, &s))
		return REAL(sendto)(fd, buf, n, flags, addr, alen);
	if (!addr)
		m.msg_namelen = 0;
	return io_ret(RESTARTING(s->snd_ns,
				 weft_sendmsg_until(fd, &m, flags,
						    after(s->snd_ns))));
}

int recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags,
	     struct timespec *timeout)
{
	uint64_t end = WEFT_FOREVER;
	struct fdst *s;
	unsigned int i;
	long r = 0;

	if ((flags & MSG_DONTWAIT) || !parks(fd, &s))
		return REAL(recvmmsg)(fd, vec, vlen, flags, timeout);
	if (timeout)
		end = weft_now_ns() + timeout->tv_sec * 1000000000ULL +
		      timeout->tv_nsec;
	for (i = 0; i < vlen; i++) {
		/* MSG_WAITFORONE: only the first one waits. */
		if (i && (flags & MSG_WAITFORONE)) {
			r = REAL(recvmsg)(fd, &vec[i].msg_hdr,
					  (flags & ~MSG_WAITFORONE) |
					  MSG_DONTWAIT);
			if (r < 0)
				r = -errno;
		} else {
			r = weft_recvmsg_until(fd, &vec[i].msg_hdr,
					       flags & ~MSG_WAITFORONE,
					       after(s->rcv_ns));
		}
		if (r < 0)
			break;
		vec[i].msg_len = r;
		/* The timeout is only looked at after each datagram. */
		if (weft_now_ns() >= end) {
			i++;
			break;
		}
	}
	if (i)
		return i;
	return io_ret(r);
}

int sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)
{
	struct fdst *s;
	unsigned int i;
	long r = 0;

	if ((flags & MSG_DONTWAIT) || !parks(fd, &s))
		return REAL(sendmmsg)(fd, vec, vlen, flags);
	for (i = 0; i < vlen; i++) {
		r = weft_sendmsg_until(fd, &vec[i].msg_hdr, flags,
				       after(s->snd_ns));
		if (r < 0)
			break;
		vec[i].msg_len = r;
	}
	if (i)
		return i;
	return io_ret(r);
}

int accept4(int fd, struct sockaddr *addr, socklen_t *alen, int flags)
{
	struct fdst *s;
	long r;

	if (!parks(fd, &s)) {
		r = REAL(accept4)(fd, addr, alen, flags);
	} else {
		r = io_ret(RESTARTING(s->rcv_ns,
				      weft_accept_until(fd, addr, alen, flags,
							after(s->rcv_ns))));
	}
	if (r >= 0)
		shim_fd_forget(r);
	return r;
}

int accept(int fd, struct sockaddr *addr, socklen_t *alen)
{
	return accept4(fd, addr, alen, 0);
}

int connect(int fd, const struct sockaddr *addr, socklen_t alen)
{
	struct fdst *s;
	long r;

	if (!parks(fd, &s))
		return REAL(connect)(fd, addr, alen);
	r = RESTARTING(s->snd_ns, weft_connect_until(fd, addr, alen,
							  after(s->snd_ns)));
	/* A socket timeout leaves the connection in progress. */
	return io_ret(r == -ETIMEDOUT ? -EINPROGRESS : r);
}

/* ---- polling ---- */

/*
 * Wait until something in @fds may be ready (a temporary epoll instance,
 * or a single fd), until @deadline. 0 or -errno.
 */
static int wait_any(struct pollfd *fds, nfds_t n, uint64_t deadline)
{
	int ep, r = 0;
	nfds_t i;

	if (n == 1) {
		r = weft_poll_until(fds[0].fd, fds[0].events, deadline);
		return r < 0 ? r : 0;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return -errno;
	for (i = 0; i < n; i++) {
		struct epoll_event ev = {
			.events = (uint32_t)fds[i].events,
			.data.u32 = (uint32_t)i,
		};

		if (fds[i].fd < 0)
			continue;
		if (!epoll_ctl(ep, EPOLL_CTL_ADD, fds[i].fd, &ev))
			continue;
		if (errno == EEXIST) {	/* one fd twice: both event sets */
			for (nfds_t j = 0; j < i; j++)
				if (fds[j].fd == fds[i].fd)
					ev.events |= fds[j].events;
			epoll_ctl(ep, EPOLL_CTL_MOD, fds[i].fd, &ev);
			continue;
		}
		/* EPERM (a file: always ready), EBADF (POLLNVAL): look now. */
		REAL(close)(ep);
		return 0;
	}
	r = weft_poll_until(ep, POLLIN, deadline);
	REAL(close)(ep);
	return r < 0 ? r : 0;
}

/* poll() for a fiber: look, wait, look again. */
static int fiber_poll(struct pollfd *fds, nfds_t n, uint64_t deadline)
{
	int r;

	for (;;) {
		r = REAL(poll)(fds, n, 0);
		if (r || !deadline)
			return r;
		r = wait_any(fds, n, deadline);
		if (r == -ETIMEDOUT) {
			r = REAL(poll)(fds, n, 0);
			return r;
		}
		if (r < 0)
			return io_ret(r);
	}
}

int poll(struct pollfd *fds, nfds_t n, int ms)
{
	if (!shim_fiber() || !ms)
		return REAL(poll)(fds, n, ms);
	return fiber_poll(fds, n, shim_deadline_ms(ms));
}

/*
 * masked(mask, call): @call with the process mask set to @mask for its
 * duration (shim_mask_begin), EINTR without waiting when a handler ran as
 * the mask changed; errno set after the mask is back (that may switch).
 */
#define masked(mask, call) ({						\
	struct shim_masked __m;						\
	int __r = -1, __e = EINTR;					\
									\
	if (!shim_mask_begin(mask, &__m)) {				\
		__r = (call);						\
		__e = errno;						\
	}								\
	shim_mask_end(&__m);						\
	errno = __e;							\
	__r;								\
})

int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *tmo,
	  const sigset_t *mask)
{
	uint64_t deadline = WEFT_FOREVER;

	if (!shim_fiber() || (tmo && !tmo->tv_sec && !tmo->tv_nsec) ||
	    (tmo && (tmo->tv_sec < 0 || tmo->tv_nsec < 0 ||
		     tmo->tv_nsec >= 1000000000L)))
		return REAL(ppoll)(fds, n, tmo, mask);	/* EINVAL */
	if (tmo)
		deadline = weft_now_ns() + tmo->tv_sec * 1000000000ULL +
			   tmo->tv_nsec;
	return masked(mask, fiber_poll(fds, n, deadline));
}

/* select() through poll(): fd_sets to pollfds and back. */
static int fiber_select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex,
			uint64_t deadline)
{
	struct pollfd stack[64], *p = stack;
	int i, n = 0, r;

	if (nfds < 0 || nfds > FD_SETSIZE) {
		errno = EINVAL;
		return -1;
	}
	if (nfds > (int)ARRAY_SIZE(stack)) {
		p = calloc(nfds, sizeof(*p));
		if (!p) {
			errno = ENOMEM;
			return -1;
		}
	}
	for (i = 0; i < nfds; i++) {
		short ev = (rd && FD_ISSET(i, rd) ? POLLIN : 0) |
			   (wr && FD_ISSET(i, wr) ? POLLOUT : 0) |
			   (ex && FD_ISSET(i, ex) ? POLLPRI : 0);

		if (ev)
			p[n++] = (struct pollfd){ .fd = i, .events = ev };
	}
	r = fiber_poll(p, n, deadline);
	if (r >= 0) {
		if (rd)
			FD_ZERO(rd);
		if (wr)
			FD_ZERO(wr);
		if (ex)
			FD_ZERO(ex);
		r = 0;
		for (i = 0; i < n; i++) {
			short re = p[i].revents;

			if (re & POLLNVAL) {
				r = -1;
				errno = EBADF;
				break;
			}
			if (rd && (re & (POLLIN | POLLHUP | POLLERR)) &&
			    (p[i].events & POLLIN)) {
				FD_SET(p[i].fd, rd);
				r++;
			}
			if (wr && (re & (POLLOUT | POLLERR)) &&
			    (p[i].events & POLLOUT)) {
				FD_SET(p[i].fd, wr);
				r++;
			}
			if (ex && (re & POLLPRI) && (p[i].events & POLLPRI)) {
				FD_SET(p[i].fd, ex);
				r++;
			}
		}
	}
	if (p != stack)
		free(p);
	return r;
}

int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
	uint64_t deadline = WEFT_FOREVER, now;
	int r;

	if (!shim_fiber() || (tv && !tv->tv_sec && !tv->tv_usec))
		return REAL(select)(nfds, rd, wr, ex, tv);
	now = weft_now_ns();
	if (tv)
		deadline = now + tv->tv_sec * 1000000000ULL +
			   tv->tv_usec * 1000ULL;
	r = fiber_select(nfds, rd, wr, ex, deadline);
	if (tv && r >= 0) {
		/* Linux leaves the time not slept in *tv. */
		uint64_t t = weft_now_ns(), left = deadline > t ?
						   deadline - t : 0;

		tv->tv_sec = left / 1000000000ULL;
		tv->tv_usec = left % 1000000000ULL / 1000;
	}
	return r;
}

int pselect(int nfds, fd_set *rd, fd_set *wr, fd_set *ex,
	    const struct timespec *ts, const sigset_t *mask)
{
	uint64_t deadline = WEFT_FOREVER;

	if (!shim_fiber() || (ts && !ts->tv_sec && !ts->tv_nsec))
		return REAL(pselect)(nfds, rd, wr, ex, ts, mask);
	if (ts)
		deadline = weft_now_ns() + ts->tv_sec * 1000000000ULL +
			   ts->tv_nsec;
	return masked(mask, fiber_select(nfds, rd, wr, ex, deadline));
}

int epoll_wait(int ep, struct epoll_event *ev, int max, int ms)
{
	uint64_t deadline;
	int r;

	if (!shim_fiber() || !ms)
		return REAL(epoll_wait)(ep, ev, max, ms);
	deadline = shim_deadline_ms(ms);
	for (;;) {
		r = REAL(epoll_wait)(ep, ev, max, 0);
		if (r)
			return r;
		r = weft_poll_until(ep, POLLIN, deadline);
		if (r == -ETIMEDOUT)
			return REAL(epoll_wait)(ep, ev, max, 0);
		if (r < 0)
			return io_ret(r);
	}
}

int epoll_pwait(int ep, struct epoll_event *ev, int max, int ms,
		const sigset_t *mask)
{
	if (!shim_fiber() || !ms)
		return REAL(epoll_pwait)(ep, ev, max, ms, mask);
	return masked(mask, epoll_wait(ep, ev, max, ms));
}

/* ---- sleeping ---- */

static uint64_t ts_ns(const struct timespec *ts)
{
	return ts->tv_sec * 1000000000ULL + ts->tv_nsec;
}

/* Sleep until @deadline; 0, or EINTR with *@rem the time left. */
static int fiber_sleep_until(uint64_t deadline, struct timespec *rem)
{
	int r = weft_sleep_until_ns(deadline);
	uint64_t now, left;

	if (!r)
		return 0;
	r = shim_canceled();
	if (rem) {
		now = weft_now_ns();
		left = deadline > now ? deadline - now : 0;
		rem->tv_sec = left / 1000000000ULL;
		rem->tv_nsec = left % 1000000000ULL;
	}
	return r;
}

int nanosleep(const struct timespec *req, struct timespec *rem)
{
	int r;

	if (!shim_fiber())
		return REAL(nanosleep)(req, rem);
	if (!req || req->tv_nsec < 0 || req->tv_nsec >= 1000000000L ||
	    req->tv_sec < 0) {
		errno = EINVAL;
		return -1;
	}
	r = fiber_sleep_until(weft_now_ns() + ts_ns(req), rem);
	if (r) {
		errno = r;
		return -1;
	}
	return 0;
}

int clock_nanosleep(clockid_t clk, int flags, const struct timespec *req,
		    struct timespec *rem)
{
	uint64_t deadline;

	if (!shim_fiber() || (clk != CLOCK_REALTIME &&
			      clk != CLOCK_MONOTONIC && clk != CLOCK_BOOTTIME))
		return REAL(clock_nanosleep)(clk, flags, req, rem);
	if (!req || req->tv_nsec < 0 || req->tv_nsec >= 1000000000L)
		return EINVAL;
	if (flags & TIMER_ABSTIME)
		deadline = shim_deadline(clk == CLOCK_BOOTTIME ?
					 CLOCK_REALTIME : clk, req);
	else
		deadline = weft_now_ns() + ts_ns(req);
	/* Returns the error, and never sets errno. */
	return fiber_sleep_until(deadline,
				 flags & TIMER_ABSTIME ? NULL : rem);
}

unsigned int sleep(unsigned int s)
{
	struct timespec rem = { 0 };
	uint64_t deadline;

	if (!shim_fiber())
		return REAL(sleep)(s);
	deadline = weft_now_ns() + s * 1000000000ULL;
	if (!fiber_sleep_until(deadline, &rem))
		return 0;
	return rem.tv_sec + (rem.tv_nsec > 0);
}

int usleep(useconds_t us)
{
	int r;

	if (!shim_fiber())
		return REAL(usleep)(us);
	r = fiber_sleep_until(weft_now_ns() + us * 1000ULL, NULL);
	if (r) {
		errno = r;
		return -1;
	}
	return 0;
}

int sched_yield(void)
{
	if (!shim_fiber())
		return REAL(sched_yield)();
	weft_yield();
	return 0;
}

/* ---- files ---- */

int fsync(int fd)
{
	if (!shim_fiber())
		return REAL(fsync)(fd);
	return io_ret(weft_fsync(fd, false));
}

int fdatasync(int fd)
{
	if (!shim_fiber())
		return REAL(fdatasync)(fd);
	return io_ret(weft_fsync(fd, true));
}

/* ---- fds coming and going ---- */

int close(int fd)
{
	int r;

	if (weft_shim_mode == SHIM_OFF || !weft__runtime())
		return REAL(close)(fd);
	/* Wakes fibers blocked on it and cancels their ring operations. */
	r = weft_close(fd);
	shim_fd_forget(fd);
	return shim_ret(r);
}

int dup(int fd)
{
	int r = REAL(dup)(fd);

	if (r >= 0)
		shim_fd_forget(r);
	return r;
}

int dup2(int fd, int to)
{
	int r;

	if (fd != to && weft_shim_mode != SHIM_OFF && weft__runtime())
		weft__fd_forget(to);	/* it is closed in passing */
	r = REAL(dup2)(fd, to);
	if (fd != to && weft_shim_mode != SHIM_OFF && weft__runtime())
		weft__fd_closed(to);
	if (r >= 0)
		shim_fd_forget(r);
	return r;
}

int dup3(int fd, int to, int flags)
{
	int r;

	if (fd != to && weft_shim_mode != SHIM_OFF && weft__runtime())
		weft__fd_forget(to);
	r = REAL(dup3)(fd, to, flags);
	if (fd != to && weft_shim_mode != SHIM_OFF && weft__runtime())
		weft__fd_closed(to);
	if (r >= 0)
		shim_fd_forget(r);
	return r;
}

int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;
	int r;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	r = REAL(fcntl)(fd, cmd, arg);
	if (r >= 0 && cmd == F_SETFL)
		shim_fd_changed();
	else if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
		shim_fd_forget(r);
	return r;
}

int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl(fd, cmd, arg);
}

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;
	int r;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	r = REAL(ioctl)(fd, req, arg);
	if (r >= 0 && req == FIONBIO)
		shim_fd_changed();
	return r;
}

int setsockopt(int fd, int level, int opt, const void *val, socklen_t len)
{
	int r = REAL(setsockopt)(fd, level, opt, val, len);

	if (!r && level == SOL_SOCKET &&
	    (opt == SO_RCVTIMEO || opt == SO_SNDTIMEO))
		shim_fd_changed();
	return r;
}

int socket(int domain, int type, int proto)
{
	int r = REAL(socket)(domain, type, proto);

	if (r >= 0)
		shim_fd_forget(r);
	return r;
}

int socketpair(int domain, int type, int proto, int sv[2])
{
	int r = REAL(socketpair)(domain, type, proto, sv);

	if (!r) {
		shim_fd_forget(sv[0]);
		shim_fd_forget(sv[1]);
	}
	return r;
}

int pipe(int fd[2])
{
	int r = REAL(pipe)(fd);

	if (!r) {
		shim_fd_forget(fd[0]);
		shim_fd_forget(fd[1]);
	}
	return r;
}

int pipe2(int fd[2], int flags)
{
	int r = REAL(pipe2)(fd, flags);

	if (!r) {
		shim_fd_forget(fd[0]);
		shim_fd_forget(fd[1]);
	}
	return r;
}

int eventfd(unsigned int count, int flags)
{
	int r = REAL(eventfd)(count, flags);

	if (r >= 0)
		shim_fd_forget(r);
	return r;
}

/* ---- fork ---- */

/*
 * The child has one thread: the caller's, on the fiber's stack, with no
 * runtime around it. The shim goes inert there, and weft's objects
 * (pthread mutexes included) treat it as a plain thread.
 */
void shim_fork_child(void)
{
	weft_shim_mode = SHIM_OFF;
	weft__cur_worker = NULL;
}

pid_t fork(void)
{
	pid_t r = REAL(fork)();

	if (!r)
		shim_fork_child();
	return r;
}

/* ---- name resolution: no asynchronous form, so the offload pool ---- */

struct gai {
	const char *node, *service;
	const struct addrinfo *hints;
	struct addrinfo **res;
	int ret;
};

static void *gai_call(void *arg)
{
	struct gai *g = arg;

	g->ret = REAL(getaddrinfo)(g->node, g->service, g->hints, g->res);
	return NULL;
}

int getaddrinfo(const char *node, const char *service,
		const struct addrinfo *hints, struct addrinfo **res)
{
	struct gai g = { node, service, hints, res, EAI_SYSTEM };

	if (!shim_fiber() || weft__offload_sync(gai_call, &g, NULL))
		return REAL(getaddrinfo)(node, service, hints, res);
	return g.ret;
}

/* ---- fortified forms (-D_FORTIFY_SOURCE) ---- */

ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen);
ssize_t __pread64_chk(int fd, void *buf, size_t n, off_t off,
		      size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen,
		       int flags, struct sockaddr *addr, socklen_t *alen);
int __poll_chk(struct pollfd *fds, nfds_t n, int ms, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *tmo,
		const sigset_t *mask, size_t fdslen);

ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	if (n > buflen)
		return REAL(__read_chk)(fd, buf, n, buflen);	/* aborts */
	return read(fd, buf, n);
}

ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
	if (n > buflen)
		return REAL(__pread_chk)(fd, buf, n, off, buflen);
	return pread(fd, buf, n, off);
}

ssize_t __pread64_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
	if (n > buflen)
		return REAL(__pread64_chk)(fd, buf, n, off, buflen);
	return pread(fd, buf, n, off);
}

ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
	if (n > buflen)
		return REAL(__recv_chk)(fd, buf, n, buflen, flags);
	return recv(fd, buf, n, flags);
}

ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen,
		       int flags, struct sockaddr *addr, socklen_t *alen)
{
	if (n > buflen)
		return REAL(__recvfrom_chk)(fd, buf, n, buflen, flags, addr,
					    alen);
	return recvfrom(fd, buf, n, flags, addr, alen);
}

int __poll_chk(struct pollfd *fds, nfds_t n, int ms, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		return REAL(__poll_chk)(fds, n, ms, fdslen);
	return poll(fds, n, ms);
}

int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *tmo,
		const sigset_t *mask, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		return REAL(__ppoll_chk)(fds, n, tmo, mask, fdslen);
	return ppoll(fds, n, tmo, mask);
}
