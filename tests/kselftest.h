/* SPDX-License-Identifier: MIT */
/*
 * kselftest.h - minimal TAP 13 reporting, kselftest-compatible output.
 *
 * Header-only; include it from one .c file per test binary. Usage:
 *
 *	ksft_print_header();
 *	ksft_set_plan(2);
 *	ksft_test_result(x == 1, "x is one");
 *	ksft_test_result_skip("no frobnicator");
 *	ksft_finished();
 *
 * Output:
 *
 *	TAP version 13
 *	1..2
 *	ok 1 x is one
 *	ok 2 # SKIP no frobnicator
 *	# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:1 error:0
 *
 * Messages are printf formats; a trailing newline is optional (one is
 * added when missing, so kernel-style "...\n" callers also work). errno
 * is preserved across every call, so "%m" reports the caller's errno.
 */
#ifndef WEFT_TESTS_KSELFTEST_H
#define WEFT_TESTS_KSELFTEST_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KSFT_PASS	0
#define KSFT_FAIL	1
#define KSFT_XFAIL	2
#define KSFT_XPASS	3
#define KSFT_SKIP	4

#define KSFT_PRINTF(f, a) __attribute__((format(printf, f, a)))

static struct {
	unsigned int pass, fail, skip, plan;
} ksft_cnt __attribute__((unused));

static inline unsigned int ksft_test_num(void)
{
	return ksft_cnt.pass + ksft_cnt.fail + ksft_cnt.skip;
}

static inline unsigned int ksft_get_pass_cnt(void)
{
	return ksft_cnt.pass;
}

static inline unsigned int ksft_get_fail_cnt(void)
{
	return ksft_cnt.fail;
}

static inline unsigned int ksft_get_skip_cnt(void)
{
	return ksft_cnt.skip;
}

static inline void ksft_inc_pass_cnt(void)
{
	ksft_cnt.pass++;
}

static inline void ksft_inc_fail_cnt(void)
{
	ksft_cnt.fail++;
}

static inline void ksft_inc_skip_cnt(void)
{
	ksft_cnt.skip++;
}

/*
 * Format into a malloc'd string with trailing newlines removed. Returns
 * NULL only when out of memory. errno is restored first so %m works.
 */
static inline char *ksft__vformat(int err, const char *fmt, va_list ap)
{
	va_list aq;
	char *s;
	int n;

	va_copy(aq, ap);
	errno = err;
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return NULL;
	s = malloc((size_t)n + 1);
	if (!s)
		return NULL;
	errno = err;
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	while (n > 0 && s[n - 1] == '\n')
		s[--n] = '\0';
	return s;
}

/* Print @s with every line prefixed by "# " so it stays a TAP comment. */
static inline void ksft__comment(const char *s)
{
	for (;;) {
		const char *nl = strchr(s, '\n');

		if (!nl) {
			printf("# %s\n", s);
			return;
		}
		printf("# %.*s\n", (int)(nl - s), s);
		s = nl + 1;
	}
}

/*
 * Print a result line: "<ok|not ok> N[ name][ # directive]". @ok selects
 * the prefix, @name may be NULL or empty, @dir is appended after " # ".
 */
static inline void ksft__result(int ok, const char *name, const char *dir)
{
	printf("%s %u", ok ? "ok" : "not ok", ksft_test_num());
	if (name && *name)
		printf(" %s", name);
	if (dir && *dir)
		printf(" # %s", dir);
	putchar('\n');
}

/* The body shared by every printf-like entry point below. */
#define KSFT__WITH_MSG(fmt, msg, stmt) do {				\
	int __err = errno;						\
	va_list __ap;							\
	char *msg;							\
									\
	va_start(__ap, fmt);						\
	msg = ksft__vformat(__err, fmt, __ap);				\
	va_end(__ap);							\
	stmt;								\
	free(msg);							\
	errno = __err;							\
} while (0)

/* Start the TAP stream; stdout becomes line-buffered (fork-safe). */
static inline void ksft_print_header(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n");
}

static inline void ksft_set_plan(unsigned int plan)
{
	ksft_cnt.plan = plan;
	printf("1..%u\n", plan);
}

/* "# msg"; multi-line messages get "# " on every line. */
static inline KSFT_PRINTF(1, 2) void ksft_print_msg(const char *fmt, ...)
{
	KSFT__WITH_MSG(fmt, msg, ksft__comment(msg ? msg : fmt));
}

/* "# msg: strerror(errno) (errno)" */
static inline void ksft_perror(const char *msg)
{
	int err = errno;

	printf("# %s: %s (%d)\n", msg, strerror(err), err);
	errno = err;
}

/* "ok N msg" */
static inline KSFT_PRINTF(1, 2) void ksft_test_result_pass(const char *fmt,
							   ...)
{
	ksft_cnt.pass++;
	KSFT__WITH_MSG(fmt, msg, ksft__result(1, msg ? msg : fmt, NULL));
}

/* "not ok N msg" */
static inline KSFT_PRINTF(1, 2) void ksft_test_result_fail(const char *fmt,
							   ...)
{
	ksft_cnt.fail++;
	KSFT__WITH_MSG(fmt, msg, ksft__result(0, msg ? msg : fmt, NULL));
}

/* "ok N # SKIP msg" (the message is the reason, as in the kernel) */
static inline KSFT_PRINTF(1, 2) void ksft_test_result_skip(const char *fmt,
							   ...)
{
	ksft_cnt.skip++;
	KSFT__WITH_MSG(fmt, msg, {
		const char *m = msg ? msg : fmt;
		printf("ok %u # SKIP%s%s\n", ksft_test_num(),
		       *m ? " " : "", m);
	});
}

#define ksft_test_result(cond, fmt, ...) do {				\
	if (cond)							\
		ksft_test_result_pass(fmt, ##__VA_ARGS__);		\
	else								\
		ksft_test_result_fail(fmt, ##__VA_ARGS__);		\
} while (0)

/*
 * Report test @name with kselftest result @code (KSFT_PASS, KSFT_FAIL or
 * KSFT_SKIP; anything else counts as a failure). @fmt, which may be NULL,
 * becomes the directive: "ok N name # SKIP reason", "not ok N name #
 * TIMEOUT". A skip with no reason still says "# SKIP".
 */
static inline KSFT_PRINTF(3, 4) void
ksft_test_result_code(int code, const char *name, const char *fmt, ...)
{
	char *msg = NULL;
	char *dir = NULL;
	int err = errno;
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		msg = ksft__vformat(err, fmt, ap);
		va_end(ap);
	}
	if (code == KSFT_PASS)
		ksft_cnt.pass++;
	else if (code == KSFT_SKIP)
		ksft_cnt.skip++;
	else
		ksft_cnt.fail++;

	if (code == KSFT_SKIP) {
		size_t n = msg ? strlen(msg) : 0;

		dir = malloc(n + sizeof("SKIP "));
		if (dir)
			snprintf(dir, n + sizeof("SKIP "), "SKIP%s%s",
				 n ? " " : "", n ? msg : "");
	}
	ksft__result(code == KSFT_PASS || code == KSFT_SKIP, name,
		     code == KSFT_SKIP ? (dir ? dir : "SKIP") : msg);
	free(dir);
	free(msg);
	errno = err;
}

/* "# Totals: ..." preceded by a note when the plan was not met. */
static inline void ksft_print_cnts(void)
{
	if (ksft_cnt.plan && ksft_cnt.plan != ksft_test_num())
		printf("# Planned tests != run tests (%u != %u)\n",
		       ksft_cnt.plan, ksft_test_num());
	printf("# Totals: pass:%u fail:%u xfail:0 xpass:0 skip:%u error:0\n",
	       ksft_cnt.pass, ksft_cnt.fail, ksft_cnt.skip);
}

static inline void __attribute__((noreturn)) ksft__exit(int code)
{
	fflush(NULL);
	exit(code);
}

static inline void __attribute__((noreturn)) ksft_exit_pass(void)
{
	ksft_print_cnts();
	ksft__exit(KSFT_PASS);
}

static inline void __attribute__((noreturn)) ksft_exit_fail(void)
{
	ksft_print_cnts();
	ksft__exit(KSFT_FAIL);
}

/* "Bail out! msg", totals, exit(KSFT_FAIL). */
static inline KSFT_PRINTF(1, 2) void __attribute__((noreturn))
ksft_exit_fail_msg(const char *fmt, ...)
{
	KSFT__WITH_MSG(fmt, msg, printf("Bail out! %s\n", msg ? msg : fmt));
	ksft_exit_fail();
}

/*
 * Skip whatever is left: "1..0 # SKIP msg" if nothing was planned or run
 * yet, otherwise one more "ok N # SKIP msg". Exits with KSFT_SKIP.
 */
static inline KSFT_PRINTF(1, 2) void __attribute__((noreturn))
ksft_exit_skip(const char *fmt, ...)
{
	if (ksft_cnt.plan || ksft_test_num()) {
		KSFT__WITH_MSG(fmt, msg,
			       ksft_test_result_skip("%s", msg ? msg : fmt));
	} else {
		KSFT__WITH_MSG(fmt, msg,
			       printf("1..0 # SKIP %s\n", msg ? msg : fmt));
	}
	ksft_print_cnts();
	ksft__exit(KSFT_SKIP);
}

/*
 * Exit according to the counters: KSFT_FAIL on any failure or unmet plan,
 * KSFT_SKIP when everything run was skipped, KSFT_PASS otherwise.
 */
static inline void __attribute__((noreturn)) ksft_finished(void)
{
	ksft_print_cnts();
	if (ksft_cnt.fail ||
	    (ksft_cnt.plan && ksft_cnt.plan != ksft_test_num()))
		ksft__exit(KSFT_FAIL);
	if (ksft_cnt.skip && !ksft_cnt.pass)
		ksft__exit(KSFT_SKIP);
	ksft__exit(KSFT_PASS);
}

#endif /* WEFT_TESTS_KSELFTEST_H */
