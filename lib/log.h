/* SPDX-License-Identifier: MIT */
/*
 * Diagnostics on stderr: one write(2) per line, each line starting "weft: ",
 * so that lines from several threads never interleave.
 */
#ifndef WEFT_LIB_LOG_H
#define WEFT_LIB_LOG_H

#include <stdbool.h>
#include "compiler.h"

/* Set once at start-up from WEFT_DEBUG; read-only afterwards. */
extern bool weft_debug_on;

void weft_log(const char *fmt, ...) WEFT_PRINTF(1, 2);

#define weft_dbg(...)				\
	do {					\
		if (unlikely(weft_debug_on))	\
			weft_log(__VA_ARGS__);	\
	} while (0)

/* For "can't happen" paths: logs once per call site and goes on. */
#define WEFT_WARN_ON_ONCE(cond)						\
	({								\
		static bool __warned;					\
		bool __c = !!(cond);					\
		if (unlikely(__c) && !__atomic_exchange_n(&__warned, true, \
							  __ATOMIC_RELAXED)) \
			weft_log("warning: %s at %s:%d", #cond,		\
				 __FILE__, __LINE__);			\
		__c;							\
	})

/* Only where going on would corrupt memory or lose work. */
#define WEFT_BUG_ON(cond)						\
	do {								\
		if (unlikely(cond))					\
			weft_bug(#cond, __FILE__, __LINE__);		\
	} while (0)

__attribute__((noreturn)) void weft_bug(const char *what, const char *file,
					int line);

/* Async-signal-safe formatting helpers for fault handlers. */
char *weft_fmt_u64(char *p, unsigned long long v);
char *weft_fmt_str(char *p, char *end, const char *s);
/*
 * @s for a one-line message: control characters as \xNN, the rest as it
 * is, cut to fit @len. Returns @buf.
 */
const char *weft_quote(const char *s, char *buf, size_t len);

#endif
