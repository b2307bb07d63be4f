// SPDX-License-Identifier: MIT
/*
 * libc's own functions for the weft library inside libweft-preload.so
 * (see real.h), and the lookup every REAL() uses.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "shim.h"

void *weft_shim_dlnext(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);
	static const char msg[] = "weft: libc has no ";

	if (!p) {
		/* Before anything else works: plain writes, then abort. */
		if (write(2, msg, sizeof(msg) - 1) < 0 ||
		    write(2, name, strlen(name)) < 0 || write(2, "\n", 1) < 0)
			abort();
		abort();
	}
	return p;
}

#pragma GCC diagnostic ignored "-Wmissing-prototypes"

ssize_t weft_real_read(int fd, void *b, size_t n)
{
	return REAL(read)(fd, b, n);
}

ssize_t weft_real_write(int fd, const void *b, size_t n)
{
	return REAL(write)(fd, b, n);
}

ssize_t weft_real_readv(int fd, const struct iovec *v, int n)
{
	return REAL(readv)(fd, v, n);
}

ssize_t weft_real_writev(int fd, const struct iovec *v, int n)
{
	return REAL(writev)(fd, v, n);
}

ssize_t weft_real_pread(int fd, void *b, size_t n, off_t off)
{
	return REAL(pread)(fd, b, n, off);
}

ssize_t weft_real_pwrite(int fd, const void *b, size_t n, off_t off)
{
	return REAL(pwrite)(fd, b, n, off);
}

ssize_t weft_real_recv(int fd, void *b, size_t n, int fl)
{
	return REAL(recv)(fd, b, n, fl);
}

ssize_t weft_real_send(int fd, const void *b, size_t n, int fl)
{
	return REAL(send)(fd, b, n, fl);
}

ssize_t weft_real_recvmsg(int fd, struct msghdr *m, int fl)
{
	return REAL(recvmsg)(fd, m, fl);
}

ssize_t weft_real_sendmsg(int fd, const struct msghdr *m, int fl)
{
	return REAL(sendmsg)(fd, m, fl);
}

int weft_real_accept4(int fd, struct sockaddr *a, socklen_t *l, int fl)
{
	return REAL(accept4)(fd, a, l, fl);
}

int weft_real_connect(int fd, const struct sockaddr *a, socklen_t l)
{
	return REAL(connect)(fd, a, l);
}

int weft_real_poll(struct pollfd *p, nfds_t n, int ms)
{
	return REAL(poll)(p, n, ms);
}

int weft_real_close(int fd)
{
	return REAL(close)(fd);
}

int weft_real_fsync(int fd)
{
	return REAL(fsync)(fd);
}

int weft_real_fdatasync(int fd)
{
	return REAL(fdatasync)(fd);
}

int weft_real_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return REAL(fcntl)(fd, cmd, arg);
}

int weft_real_epoll_wait(int ep, struct epoll_event *e, int n, int ms)
{
	return REAL(epoll_wait)(ep, e, n, ms);
}

int weft_real_sched_yield(void)
{
	return REAL(sched_yield)();
}

int weft_real_pthread_create(pthread_t *t, const pthread_attr_t *a,
			     void *(*fn)(void *), void *arg)
{
	return REAL(pthread_create)(t, a, fn, arg);
}

int weft_real_pthread_join(pthread_t t, void **r)
{
	return REAL(pthread_join)(t, r);
}

pthread_t weft_real_pthread_self(void)
{
	return REAL(pthread_self)();
}

int weft_real_pthread_mutex_init(pthread_mutex_t *m,
				 const pthread_mutexattr_t *a)
{
	return REAL(pthread_mutex_init)(m, a);
}

int weft_real_pthread_mutex_lock(pthread_mutex_t *m)
{
	return REAL(pthread_mutex_lock)(m);
}

int weft_real_pthread_mutex_unlock(pthread_mutex_t *m)
{
	return REAL(pthread_mutex_unlock)(m);
}

int weft_real_pthread_once(pthread_once_t *o, void (*fn)(void))
{
	return REAL(pthread_once)(o, fn);
}

int weft_real_pthread_sigmask(int how, const sigset_t *s, sigset_t *old)
{
	return REAL(pthread_sigmask)(how, s, old);
}

int weft_real_pthread_setname_np(pthread_t t, const char *name)
{
	return REAL(pthread_setname_np)(t, name);
}

int weft_real_pthread_getattr_np(pthread_t t, pthread_attr_t *a)
{
	return REAL(pthread_getattr_np)(t, a);
}
