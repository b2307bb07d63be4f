/* SPDX-License-Identifier: MIT */
/*
 * USDT probes (systemtap's <sys/sdt.h>, read by bpftrace, perf, gdb): a
 * nop and an ELF note each, nothing else until a tracer attaches. Without
 * the header (package systemtap-sdt-dev) they compile to nothing.
 *
 *	WEFT_PROBE(spawn, fid, worker)
 *
 * Probes, provider "weft" (Documentation/tracing.rst has one-liners):
 *	spawn(fid, worker)		a fiber was created
 *	switch(worker, from, to)	a worker switched (0: its loop)
 *	park(fid)			a fiber waits
 *	ready(fid, worker)		a waiting fiber became runnable
 *	wake(from, to)			a worker woke a sleeping one (-1: none)
 *	steal(thief, victim, fid)	a fiber moved to an idle worker
 *	submit(worker, entries)		an io_uring_enter() with SQEs
 */
#ifndef WEFT_LIB_PROBE_H
#define WEFT_LIB_PROBE_H

#if defined(__has_include)
#if __has_include(<sys/sdt.h>) && !defined(WEFT_NO_PROBES)
#define SDT_USE_VARIADIC 1
#include <sys/sdt.h>
#define WEFT_HAVE_PROBES 1
#endif
#endif

#ifdef WEFT_HAVE_PROBES
#define WEFT_PROBE(name, ...)	STAP_PROBEV(weft, name, ##__VA_ARGS__)
#else
#define WEFT_PROBE(name, ...)	do { } while (0)
#endif

#endif
