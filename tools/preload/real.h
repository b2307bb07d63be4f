/* SPDX-License-Identifier: MIT */
/*
 * Force-included (-include) when lib/ and sched/ are compiled into
 * libweft-preload.so: the libc calls weft makes for itself go to libc,
 * not to the shim's interposers of the same name (which would turn the
 * scheduler's own read() of an eventfd, or its pthread_create(), into a
 * fiber's). Each name becomes weft_real_<name>, defined in real.c by a
 * dlsym(RTLD_NEXT) lookup. The shim's own files do not include this.
 */
#ifndef WEFT_PRELOAD_REAL_H
#define WEFT_PRELOAD_REAL_H

#define read			weft_real_read
#define write			weft_real_write
#define readv			weft_real_readv
#define writev			weft_real_writev
#define pread			weft_real_pread
#define pwrite			weft_real_pwrite
#define recv			weft_real_recv
#define send			weft_real_send
#define recvmsg			weft_real_recvmsg
#define sendmsg			weft_real_sendmsg
#define accept4			weft_real_accept4
#define connect			weft_real_connect
#define poll			weft_real_poll
#define close			weft_real_close
#define fsync			weft_real_fsync
#define fdatasync		weft_real_fdatasync
#define fcntl			weft_real_fcntl
#define epoll_wait		weft_real_epoll_wait
#define sched_yield		weft_real_sched_yield
#define pthread_create		weft_real_pthread_create
#define pthread_join		weft_real_pthread_join
#define pthread_self		weft_real_pthread_self
#define pthread_mutex_init	weft_real_pthread_mutex_init
#define pthread_mutex_lock	weft_real_pthread_mutex_lock
#define pthread_mutex_unlock	weft_real_pthread_mutex_unlock
#define pthread_once		weft_real_pthread_once
#define pthread_sigmask		weft_real_pthread_sigmask
#define pthread_setname_np	weft_real_pthread_setname_np
#define pthread_getattr_np	weft_real_pthread_getattr_np

#endif
