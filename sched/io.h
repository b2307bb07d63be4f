/* SPDX-License-Identifier: MIT */
/*
 * One fiber I/O call, as io.c hands it to a backend: the worker's
 * io_uring (io.c) or the epoll backend (epoll.c).
 */
#ifndef WEFT_SCHED_IO_H
#define WEFT_SCHED_IO_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

enum io_kind {
	IO_READ, IO_WRITE, IO_READV, IO_WRITEV, IO_RECV, IO_SEND,
	IO_RECVMSG, IO_SENDMSG, IO_ACCEPT, IO_CONNECT, IO_POLL, IO_OPENAT,
	IO_CLOSE, IO_FSYNC,
};

struct io_args {
	enum io_kind kind;
	int fd;
	void *buf;			/* or iovec, msghdr, sockaddr, path */
	size_t len;			/* or iovcnt, socklen, poll events */
	uint64_t off;			/* file offset (-1: the current one) */
	int flags;			/* msg, accept, open flags */
	void *aux;			/* socklen_t * for accept */
	unsigned int mode;		/* openat mode */
};

#define IO_NOW	((uint64_t)-1)	/* no file offset: the current position */

/* io.c: the plain (blocking) system call; -errno. */
long weft__sys_io(const struct io_args *a);

/* epoll.c: the epoll backend. */
long weft__epoll_io(struct weft_worker *w, const struct io_args *a,
		    uint64_t deadline);
void weft__epoll_close(struct weft_rt *rt, int fd);
void weft__epoll_closed(struct weft_rt *rt, int fd);
/* The call without blocking (MSG_DONTWAIT, RWF_NOWAIT): -EAGAIN if not. */
long weft__io_try(const struct io_args *a);

#endif
