/* SPDX-License-Identifier: MIT */
/*
 * harness.h - header-only unit test harness with kselftest-style output.
 *
 * Include from exactly one .c file per test binary.
 *
 *	#include "harness.h"
 *
 *	TEST(arith)
 *	{
 *		ASSERT_EQ(1 + 1, 2);
 *	}
 *
 *	FIXTURE(buf) { char *p; };
 *	FIXTURE_VARIANT(buf) { size_t len; };
 *	FIXTURE_VARIANT_ADD(buf, small) { .len = 16 };
 *	FIXTURE_VARIANT_ADD(buf, large) { .len = 1 << 20 };
 *	FIXTURE_SETUP(buf) { self->p = malloc(variant->len); }
 *	FIXTURE_TEARDOWN(buf) { free(self->p); }
 *	TEST_F(buf, writable) { ASSERT_NE_NULL(self->p) TH_LOG("oom"); }
 *
 *	TEST_HARNESS_MAIN
 *
 * Tests are named "global.test", "fixture.test" or "fixture.variant.test".
 * Every test runs in its own fork()ed child, leader of its own process
 * group, under a timeout (TH_DEFAULT_TIMEOUT s; TEST_TIMEOUT and friends
 * set one per test; the environment variable WEFT_TEST_TIMEOUT, if set,
 * overrides both, 0 meaning no timeout). When the test ends, whatever is
 * left of its process group is SIGKILLed.
 *
 * Every FIXTURE needs both a FIXTURE_SETUP and a FIXTURE_TEARDOWN. Setup
 * gets a zeroed @self. The body runs unless setup SKIPped; teardown runs
 * whenever setup returned, also after a failed ASSERT in the body.
 *
 * ASSERT_* fail and end the test (teardown runs, then the process exits;
 * no longjmp, so it is safe on any stack). EXPECT_* fail and carry on.
 * Both may be followed by a statement that runs only on failure:
 *
 *	ASSERT_EQ(ret, 0) TH_LOG("errno %d", errno);
 *
 * Operands are integers or pointers (floating point is a compile error),
 * each evaluated exactly once, left first, and compared by mathematical
 * value whatever their types: -1 < 0U holds, (unsigned)-1 != -1. Failures
 * print "# file:line:name:Expected a (x) == b (y)".
 *
 * ASSERT/EXPECT/SKIP/TH_LOG need `_metadata` in scope: helpers that use
 * them take `struct __test_metadata *_metadata`. Use ASSERT from the test
 * process only (in a fork of it, it just exits 1).
 *
 * Command line: -l lists tests, -t PATTERN runs only matching tests, -T
 * PATTERN excludes; repeatable. A PATTERN is a shell glob matched against
 * the full name, the test name, the fixture name and "fixture.variant".
 *
 * Exit status: KSFT_FAIL (1) if anything failed, KSFT_SKIP (4) if every
 * test skipped, KSFT_PASS (0) otherwise.
 */
#ifndef WEFT_TESTS_HARNESS_H
#define WEFT_TESTS_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest.h"

#ifndef TH_LOG_STREAM
#define TH_LOG_STREAM stdout
#endif
#ifndef TH_DEFAULT_TIMEOUT
#define TH_DEFAULT_TIMEOUT 30
#endif
#define TH_TIMEOUT_ENV "WEFT_TEST_TIMEOUT"

#define __th_unused __attribute__((unused))

/* Shared (MAP_SHARED) between the runner and the test process. */
struct __th_results {
	char reason[1024];		/* SKIP reason */
};

struct __test_metadata {
	const char *name;		/* "fixture[.variant].test" */
	int trigger;			/* ASSERT/EXPECT failure-block latch */
	bool failed;
	bool skipped;
	bool setup_done;
	bool in_teardown;
	pid_t pid;			/* the test process */
	void *self;
	const void *variant;
	void (*teardown)(struct __test_metadata *);
	struct __th_results *results;
};

struct __th_fixture;

struct __th_test {
	const char *name;
	void (*fn)(struct __test_metadata *);
	struct __th_fixture *fixture;
	int termsig;			/* 0: must not die by a signal */
	unsigned int timeout;		/* seconds; 0: default */
	struct __th_test *next;
};

struct __th_variant {
	const char *name;
	const void *data;
	struct __th_variant *next;
};

struct __th_fixture {
	const char *name;
	struct __th_variant *variants, **vtail;
	struct __th_test *tests, **ttail;
	struct __th_fixture *next;
};

static struct __th_fixture __th_global __th_unused = { .name = "global" };
static struct __th_fixture *__th_fixtures __th_unused;
static struct __th_fixture **__th_ftail __th_unused = &__th_fixtures;

static inline void __th_register_fixture(struct __th_fixture *f)
{
	if (f->ttail)
		return;
	f->vtail = &f->variants;
	f->ttail = &f->tests;
	*__th_ftail = f;
	__th_ftail = &f->next;
}

static inline void __th_register_test(struct __th_test *t)
{
	__th_register_fixture(t->fixture);
	*t->fixture->ttail = t;
	t->fixture->ttail = &t->next;
}

static inline void __th_register_variant(struct __th_fixture *f,
					 struct __th_variant *v)
{
	__th_register_fixture(f);
	*f->vtail = v;
	f->vtail = &v->next;
}

/* ---------------------------------------------------------------------
 * Test definition
 */

#define __TH_TEST(test, signo, secs)					\
	static void __th_test_##test(struct __test_metadata *);		\
	static struct __th_test __th_t_##test = {			\
		.name = #test,						\
		.fn = __th_test_##test,					\
		.fixture = &__th_global,				\
		.termsig = (signo),					\
		.timeout = (secs),					\
	};								\
	static void __attribute__((constructor)) __th_reg_##test(void)	\
	{								\
		__th_register_test(&__th_t_##test);			\
	}								\
	static void __th_test_##test(					\
		struct __test_metadata __th_unused *_metadata)

/* A test; it passes if it returns (or exits 0) with no failed check. */
#define TEST(test)			__TH_TEST(test, 0, 0)
/* A test that passes only if it dies by signal @signo. */
#define TEST_SIGNAL(test, signo)	__TH_TEST(test, signo, 0)
/* A test with its own timeout of @secs seconds. */
#define TEST_TIMEOUT(test, secs)	__TH_TEST(test, 0, secs)

#define FIXTURE_DATA(fix)	struct __th_data_##fix
#define FIXTURE_VARIANT(fix)	struct __th_variant_##fix

#define __TH_FIXTURE_ARGS(fix)						\
	struct __test_metadata __th_unused *_metadata,			\
	FIXTURE_DATA(fix) __th_unused *self,				\
	const FIXTURE_VARIANT(fix) __th_unused *variant

/* FIXTURE(name) { members }; -- the per-test state, reached as @self. */
#define FIXTURE(fix)							\
	FIXTURE_VARIANT(fix);						\
	FIXTURE_DATA(fix);						\
	static struct __th_fixture __th_fix_##fix = { .name = #fix };	\
	static void __th_setup_##fix(__TH_FIXTURE_ARGS(fix));		\
	static void __th_teardown_##fix(__TH_FIXTURE_ARGS(fix));	\
	static void __th_td_##fix(struct __test_metadata *_metadata)	\
	{								\
		__th_teardown_##fix(_metadata, _metadata->self,		\
				    _metadata->variant);		\
	}								\
	static void __attribute__((constructor)) __th_regf_##fix(void)	\
	{								\
		__th_register_fixture(&__th_fix_##fix);			\
	}								\
	FIXTURE_DATA(fix)

#define FIXTURE_SETUP(fix)						\
	static void __th_setup_##fix(__TH_FIXTURE_ARGS(fix))
#define FIXTURE_TEARDOWN(fix)						\
	static void __th_teardown_##fix(__TH_FIXTURE_ARGS(fix))

/*
 * FIXTURE_VARIANT(fix) { members };  -- parameters, reached as @variant.
 * FIXTURE_VARIANT_ADD(fix, name) { .member = value, ... };
 * Every test of a fixture with variants runs once per variant.
 */
#define FIXTURE_VARIANT_ADD(fix, var)					\
	static const FIXTURE_VARIANT(fix) __th_vd_##fix##_##var;	\
	static struct __th_variant __th_v_##fix##_##var = {		\
		.name = #var,						\
		.data = &__th_vd_##fix##_##var,				\
	};								\
	static void __attribute__((constructor))			\
	__th_regv_##fix##_##var(void)					\
	{								\
		__th_register_variant(&__th_fix_##fix,			\
				      &__th_v_##fix##_##var);		\
	}								\
	static const FIXTURE_VARIANT(fix) __th_vd_##fix##_##var =

static inline void __th_teardown(struct __test_metadata *m)
{
	if (m->setup_done && !m->in_teardown && m->teardown) {
		m->in_teardown = true;
		m->teardown(m);
	}
}

static inline void __attribute__((noreturn))
__th_test_exit(struct __test_metadata *m)
{
	fflush(NULL);
	_exit(m->failed ? KSFT_FAIL : m->skipped ? KSFT_SKIP : KSFT_PASS);
}

static inline void *__th_self_alloc(struct __test_metadata *m, size_t size)
{
	m->self = calloc(1, size ? size : 1);
	if (!m->self) {
		fprintf(TH_LOG_STREAM, "# %s: cannot allocate fixture\n",
			m->name);
		m->failed = true;
		__th_test_exit(m);
	}
	return m->self;
}

#define __TH_TEST_F(fix, test, signo, secs)				\
	static void __th_tf_##fix##_##test(__TH_FIXTURE_ARGS(fix));	\
	static void __th_tw_##fix##_##test(				\
		struct __test_metadata *_metadata)			\
	{								\
		FIXTURE_DATA(fix) *self =				\
			__th_self_alloc(_metadata, sizeof(*self));	\
									\
		_metadata->teardown = __th_td_##fix;			\
		__th_setup_##fix(_metadata, self, _metadata->variant);	\
		_metadata->setup_done = true;				\
		if (!_metadata->skipped)				\
			__th_tf_##fix##_##test(_metadata, self,		\
					       _metadata->variant);	\
		__th_teardown(_metadata);				\
		free(self);						\
	}								\
	static struct __th_test __th_t_##fix##_##test = {		\
		.name = #test,						\
		.fn = __th_tw_##fix##_##test,				\
		.fixture = &__th_fix_##fix,				\
		.termsig = (signo),					\
		.timeout = (secs),					\
	};								\
	static void __attribute__((constructor))			\
	__th_reg_##fix##_##test(void)					\
	{								\
		__th_register_test(&__th_t_##fix##_##test);		\
	}								\
	static void __th_tf_##fix##_##test(__TH_FIXTURE_ARGS(fix))

#define TEST_F(fix, test)		__TH_TEST_F(fix, test, 0, 0)
#define TEST_F_SIGNAL(fix, test, signo)	__TH_TEST_F(fix, test, signo, 0)
#define TEST_F_TIMEOUT(fix, test, secs)	__TH_TEST_F(fix, test, 0, secs)

/* ---------------------------------------------------------------------
 * Checks
 */

static inline void __attribute__((format(printf, 4, 5)))
__th_log(struct __test_metadata *m, const char *file, int line,
	 const char *fmt, ...)
{
	const char *s, *nl;
	va_list ap;
	char *msg;
	int err = errno;

	va_start(ap, fmt);
	msg = ksft__vformat(err, fmt, ap);
	va_end(ap);
	s = msg ? msg : fmt;
	nl = strchr(s, '\n');
	fprintf(TH_LOG_STREAM, "# %s:%d:%s:%.*s\n", file, line, m->name,
		nl ? (int)(nl - s) : (int)strlen(s), s);
	while (nl) {		/* continuation lines stay TAP comments */
		s = nl + 1;
		nl = strchr(s, '\n');
		fprintf(TH_LOG_STREAM, "# %.*s\n",
			nl ? (int)(nl - s) : (int)strlen(s), s);
	}
	free(msg);
	errno = err;
}

/* TH_LOG(fmt, ...) -- "# file:line:test:message" */
#define TH_LOG(fmt, ...)						\
	__th_log(_metadata, __FILE__, __LINE__, fmt, ##__VA_ARGS__)

static inline void __attribute__((format(printf, 2, 3)))
__th_skip(struct __test_metadata *m, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = ksft__vformat(errno, fmt, ap);
	va_end(ap);
	snprintf(m->results->reason, sizeof(m->results->reason), "%s",
		 msg ? msg : fmt);
	free(msg);
	m->skipped = true;
}

/*
 * SKIP(statement, fmt, ...) -- mark the test skipped with a reason, then
 * run @statement (normally `return`). In FIXTURE_SETUP it also skips the
 * body. A failure recorded before or after still makes the test fail.
 */
#define SKIP(statement, fmt, ...) do {					\
	__th_skip(_metadata, fmt, ##__VA_ARGS__);			\
	statement;							\
} while (0)

/* End the test as failed: teardown (in the test process only), exit. */
static inline void __attribute__((noreturn))
__th_abort(struct __test_metadata *m)
{
	m->failed = true;
	if (getpid() == m->pid)
		__th_teardown(m);
	fflush(NULL);
	_exit(KSFT_FAIL);
}

static inline int __th_bail(struct __test_metadata *m, bool is_assert)
{
	if (is_assert)
		__th_abort(m);
	return 0;
}

/* An operand reduced to its value bits and how to read them. */
struct __th_val {
	unsigned long long u;
	bool is_signed;
	bool is_ptr;
};

/* 5 is pointer_type_class, 8 real_type_class, for both gcc and clang. */
#define __TH_IS_PTR(x)	(__builtin_classify_type(x) == 5)
#define __TH_IS_SIGNED(x) _Generic((x),					\
	signed char: 1, short: 1, int: 1, long: 1, long long: 1,	\
	char: ((char)-1 < 0), default: 0)
#define __TH_NO_FLOAT(x) sizeof(struct {				\
	_Static_assert(__builtin_classify_type(x) != 8,			\
		"ASSERT/EXPECT: floating-point operands are not supported"); \
	int __th_pad; })

/* Evaluates @x exactly once; the other uses are compile-time only. */
#define __TH_VAL(x) ((struct __th_val){					\
	.u = __builtin_choose_expr(__TH_IS_PTR(x), (uintptr_t)(x), (x)), \
	.is_signed = __TH_IS_SIGNED(x),					\
	.is_ptr = __TH_IS_PTR(x) + 0 * __TH_NO_FLOAT(x),		\
})

enum { __TH_EQ, __TH_NE, __TH_LT, __TH_LE, __TH_GT, __TH_GE };

/* Order of two values as mathematical integers: -1, 0 or 1. */
static inline int __th_order(struct __th_val a, struct __th_val b)
{
	bool an = a.is_signed && (long long)a.u < 0;
	bool bn = b.is_signed && (long long)b.u < 0;

	if (an != bn)
		return an ? -1 : 1;
	/* same sign: two's complement bits order like the values */
	return a.u < b.u ? -1 : a.u > b.u;
}

static inline void __th_fmt_val(char *buf, size_t len, struct __th_val v)
{
	if (v.is_ptr)
		snprintf(buf, len, "0x%llx", v.u);
	else if (v.is_signed)
		snprintf(buf, len, "%lld", (long long)v.u);
	else
		snprintf(buf, len, "%llu", v.u);
}

/* Returns 1 (after logging) when "a op b" does not hold. */
static inline int __th_cmp(struct __test_metadata *m, const char *file,
			   int line, int op, const char *as,
			   struct __th_val a, const char *bs,
			   struct __th_val b)
{
	static const char *const ops[] = { "==", "!=", "<", "<=", ">", ">=" };
	int o = __th_order(a, b);
	char x[32], y[32];
	bool ok;

	switch (op) {
	case __TH_EQ:
		ok = o == 0;
		break;
	case __TH_NE:
		ok = o != 0;
		break;
	case __TH_LT:
		ok = o < 0;
		break;
	case __TH_LE:
		ok = o <= 0;
		break;
	case __TH_GT:
		ok = o > 0;
		break;
	default:
		ok = o >= 0;
		break;
	}
	if (ok)
		return 0;
	__th_fmt_val(x, sizeof(x), a);
	__th_fmt_val(y, sizeof(y), b);
	__th_log(m, file, line, "Expected %s (%s) %s %s (%s)",
		 as, x, ops[op], bs, y);
	m->failed = true;
	return 1;
}

static inline int __th_str(struct __test_metadata *m, const char *file,
			   int line, bool eq, const char *as, const char *a,
			   const char *bs, const char *b)
{
	bool same = (a && b) ? !strcmp(a, b) : a == b;

	if (same == eq)
		return 0;
	__th_log(m, file, line, "Expected %s (%s%s%s) %s %s (%s%s%s)",
		 as, a ? "\"" : "", a ? a : "NULL", a ? "\"" : "",
		 eq ? "==" : "!=",
		 bs, b ? "\"" : "", b ? b : "NULL", b ? "\"" : "");
	m->failed = true;
	return 1;
}

/*
 * One `for` statement: safe after if/else, and a following statement
 * becomes its body, run once when the check failed. The increment then
 * ends the test (ASSERT) or the loop (EXPECT).
 */
#define __TH_CHECK(check, is_assert)					\
	for (_metadata->trigger = (check); _metadata->trigger;		\
	     _metadata->trigger = __th_bail(_metadata, is_assert))

/* @as and @bs are stringified by the public macros, before expansion. */
#define __TH_CMP(a, as, op, b, bs, is_assert) __TH_CHECK(({		\
	struct __th_val __th_a = __TH_VAL(a);				\
	__th_cmp(_metadata, __FILE__, __LINE__, op, as, __th_a,		\
		 bs, __TH_VAL(b));					\
}), is_assert)

#define __TH_STR(a, as, eq, b, bs, is_assert) __TH_CHECK(({		\
	const char *__th_a = (a);					\
	__th_str(_metadata, __FILE__, __LINE__, eq, as, __th_a,		\
		 bs, (b));						\
}), is_assert)

#define ASSERT_EQ(a, b)		__TH_CMP(a, #a, __TH_EQ, b, #b, true)
#define ASSERT_NE(a, b)		__TH_CMP(a, #a, __TH_NE, b, #b, true)
#define ASSERT_LT(a, b)		__TH_CMP(a, #a, __TH_LT, b, #b, true)
#define ASSERT_LE(a, b)		__TH_CMP(a, #a, __TH_LE, b, #b, true)
#define ASSERT_GT(a, b)		__TH_CMP(a, #a, __TH_GT, b, #b, true)
#define ASSERT_GE(a, b)		__TH_CMP(a, #a, __TH_GE, b, #b, true)
#define ASSERT_TRUE(x)		__TH_CMP(x, #x, __TH_NE, 0, "0", true)
#define ASSERT_FALSE(x)		__TH_CMP(x, #x, __TH_EQ, 0, "0", true)
#define ASSERT_NULL(x)		__TH_CMP(x, #x, __TH_EQ, NULL, "NULL", true)
#define ASSERT_NE_NULL(x)	__TH_CMP(x, #x, __TH_NE, NULL, "NULL", true)
#define ASSERT_STREQ(a, b)	__TH_STR(a, #a, true, b, #b, true)
#define ASSERT_STRNE(a, b)	__TH_STR(a, #a, false, b, #b, true)

#define EXPECT_EQ(a, b)		__TH_CMP(a, #a, __TH_EQ, b, #b, false)
#define EXPECT_NE(a, b)		__TH_CMP(a, #a, __TH_NE, b, #b, false)
#define EXPECT_LT(a, b)		__TH_CMP(a, #a, __TH_LT, b, #b, false)
#define EXPECT_LE(a, b)		__TH_CMP(a, #a, __TH_LE, b, #b, false)
#define EXPECT_GT(a, b)		__TH_CMP(a, #a, __TH_GT, b, #b, false)
#define EXPECT_GE(a, b)		__TH_CMP(a, #a, __TH_GE, b, #b, false)
#define EXPECT_TRUE(x)		__TH_CMP(x, #x, __TH_NE, 0, "0", false)
#define EXPECT_FALSE(x)		__TH_CMP(x, #x, __TH_EQ, 0, "0", false)
#define EXPECT_NULL(x)		__TH_CMP(x, #x, __TH_EQ, NULL, "NULL", false)
#define EXPECT_NE_NULL(x)	__TH_CMP(x, #x, __TH_NE, NULL, "NULL", false)
#define EXPECT_STREQ(a, b)	__TH_STR(a, #a, true, b, #b, false)
#define EXPECT_STRNE(a, b)	__TH_STR(a, #a, false, b, #b, false)

/* ---------------------------------------------------------------------
 * Running children with captured output
 */

extern char **environ;

static inline int __th_pipe(int fds[2])
{
	if (pipe(fds))
		return -1;
	fcntl(fds[0], F_SETFD, FD_CLOEXEC);
	fcntl(fds[1], F_SETFD, FD_CLOEXEC);
	return 0;
}

/* In the child: stdin from /dev/null, stdout and stderr into @wfd. */
static inline void __th_redirect(int rfd, int wfd)
{
	int fd = open("/dev/null", O_RDONLY);

	if (fd > 0) {
		dup2(fd, 0);
		close(fd);
	}
	dup2(wfd, 1);
	dup2(wfd, 2);
	if (wfd > 2)
		close(wfd);
	if (rfd > 2)
		close(rfd);
}

/*
 * Read @fd to EOF, keeping the first @outlen - 1 bytes NUL-terminated in
 * @out and discarding the rest (so the writer never blocks), then reap.
 */
static inline int __th_collect(pid_t pid, int fd, char *out, size_t outlen,
			       int *status)
{
	char scratch[4096];
	size_t len = 0;
	int err = 0;
	int st;

	for (;;) {
		bool keep = out && len + 1 < outlen;
		char *dst = keep ? out + len : scratch;
		size_t room = keep ? outlen - 1 - len : sizeof(scratch);
		ssize_t n = read(fd, dst, room);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			err = errno;
		if (n <= 0)
			break;
		if (keep)
			len += (size_t)n;
	}
	if (out && outlen)
		out[len] = '\0';
	close(fd);
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			err = errno;
			st = 0;
			break;
		}
	}
	if (status)
		*status = st;
	errno = err;
	return err ? -1 : 0;
}

/*
 * harness_run_child() - run @fn(@arg) in a fork()ed child and capture its
 * stdout and stderr, merged in write order, into @out (NUL-terminated,
 * truncated to @outlen - 1 bytes; @out may be NULL to discard). stdin is
 * /dev/null and stdout is line-buffered in the child, which exits 0 when
 * @fn returns. Returns 0 with the waitpid() status in *@status (may be
 * NULL), or -1 with errno set. Output is read until every writer has
 * closed it: a grandchild that keeps the child's stdout keeps this waiting.
 */
static inline int harness_run_child(void (*fn)(void *), void *arg,
				    char *out, size_t outlen, int *status)
{
	int fds[2];
	pid_t pid;

	if (__th_pipe(fds))
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int err = errno;

		close(fds[0]);
		close(fds[1]);
		errno = err;
		return -1;
	}
	if (pid == 0) {
		__th_redirect(fds[0], fds[1]);
		setvbuf(stdout, NULL, _IOLBF, 0);
		fn(arg);
		fflush(NULL);
		_exit(0);
	}
	close(fds[1]);
	return __th_collect(pid, fds[0], out, outlen, status);
}

static inline bool __th_env_is(const char *entry, const char *name)
{
	size_t len = strcspn(name, "=");

	return !strncmp(entry, name, len) && entry[len] == '=';
}

/* environ, minus names in @extra, plus the "NAME=VALUE" ones of @extra */
static inline char **__th_env(char *const extra[])
{
	size_t n = 0, m = 0, k = 0, i, j;
	char **env;

	while (environ && environ[n])
		n++;
	while (extra && extra[m])
		m++;
	env = calloc(n + m + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (i = 0; i < n; i++) {
		for (j = 0; j < m; j++)
			if (__th_env_is(environ[i], extra[j]))
				break;
		if (j == m)
			env[k++] = environ[i];
	}
	for (j = 0; j < m; j++)
		if (strchr(extra[j], '='))
			env[k++] = extra[j];
	return env;
}

/* @file searched in PATH of @env, as execvp() would; malloc'd result. */
static inline char *__th_which(const char *file, char *const env[])
{
	const char *path = "/usr/local/bin:/usr/bin:/bin";
	size_t flen = strlen(file);

	if (strchr(file, '/'))
		return strdup(file);
	for (; *env; env++)
		if (!strncmp(*env, "PATH=", 5))
			path = *env + 5;
	for (;;) {
		size_t dlen = strcspn(path, ":");
		char *cand = malloc(dlen + flen + 3);

		if (!cand)
			return NULL;
		snprintf(cand, dlen + flen + 3, "%.*s/%s",
			 dlen ? (int)dlen : 1, dlen ? path : ".", file);
		if (!access(cand, X_OK))
			return cand;
		free(cand);
		if (!path[dlen])
			return strdup(file);
		path += dlen + 1;
	}
}

/*
 * harness_run_cmd() - like harness_run_child(), but the child execs
 * @argv (argv[0] looked up in PATH like execvp()) with the current
 * environment edited by @envp_extra (may be NULL): "NAME=VALUE" sets,
 * a bare "NAME" removes. If the exec fails the child prints
 * "harness_run_cmd: cannot execute ..." and exits 127. Everything that
 * allocates happens before fork(), so it is safe in threaded tests.
 */
static inline int harness_run_cmd(char *const argv[],
				  char *const envp_extra[],
				  char *out, size_t outlen, int *status)
{
	char **env = __th_env(envp_extra);
	char *path = env ? __th_which(argv[0], env) : NULL;
	int fds[2], err;
	pid_t pid = -1;

	if (!path || __th_pipe(fds))
		goto fail;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		goto fail;
	}
	if (pid == 0) {
		static const char msg[] = "harness_run_cmd: cannot execute ";

		__th_redirect(fds[0], fds[1]);
		execve(path, argv, env);
		if (write(2, msg, sizeof(msg) - 1) > 0 &&
		    write(2, path, strlen(path)) > 0)
			(void)!write(2, "\n", 1);
		_exit(127);
	}
	close(fds[1]);
	free(path);
	free(env);
	return __th_collect(pid, fds[0], out, outlen, status);
fail:
	err = errno;
	free(path);
	free(env);
	errno = err;
	return -1;
}

/* ---------------------------------------------------------------------
 * The runner
 */

struct __th_case {
	struct __th_fixture *f;
	struct __th_variant *v;
	struct __th_test *t;
	char *name;
};

struct __th_filter {
	const char *pattern;
	bool exclude;
};

static struct __th_filter *__th_filters __th_unused;
static size_t __th_nfilters __th_unused;

/*
 * harness_filter() - as -t @pattern (or -T if @exclude); call before
 * harness_main(). @pattern is not copied.
 */
static inline void harness_filter(const char *pattern, bool exclude)
{
	struct __th_filter *f;

	f = realloc(__th_filters, (__th_nfilters + 1) * sizeof(*f));
	if (!f) {
		perror("harness_filter");
		exit(KSFT_FAIL);
	}
	f[__th_nfilters].pattern = pattern;
	f[__th_nfilters++].exclude = exclude;
	__th_filters = f;
}

static inline bool __th_matches(const char *pat, const struct __th_case *c)
{
	bool hit = !fnmatch(pat, c->name, 0) ||
		   !fnmatch(pat, c->t->name, 0) ||
		   !fnmatch(pat, c->f->name, 0);

	if (!hit && c->v) {
		size_t len = strlen(c->f->name) + 1 + strlen(c->v->name);
		char *fv = strndup(c->name, len);

		hit = fv && !fnmatch(pat, fv, 0);
		free(fv);
	}
	return hit;
}

static inline bool __th_selected(const struct __th_case *c)
{
	bool any_include = false, included = false;
	size_t i;

	for (i = 0; i < __th_nfilters; i++) {
		bool hit = __th_matches(__th_filters[i].pattern, c);

		if (__th_filters[i].exclude) {
			if (hit)
				return false;
		} else {
			any_include = true;
			included |= hit;
		}
	}
	return included || !any_include;
}

static inline char *__th_case_name(const struct __th_case *c)
{
	const char *v = c->v ? c->v->name : "";
	size_t len = strlen(c->f->name) + strlen(v) + strlen(c->t->name) + 3;
	char *s = malloc(len);

	if (s)
		snprintf(s, len, "%s%s%s.%s", c->f->name, c->v ? "." : "", v,
			 c->t->name);
	return s;
}

/* Every (fixture, variant, test) that the filters select, in order. */
static inline struct __th_case *__th_cases(size_t *count)
{
	struct __th_case *cases = NULL, c;
	struct __th_fixture *f;
	size_t n = 0;

	for (f = __th_fixtures; f; f = f->next) {
		struct __th_variant *v = f->variants;

		do {
			for (c.t = f->tests; c.t; c.t = c.t->next) {
				struct __th_case *more;

				c.f = f;
				c.v = v;
				c.name = __th_case_name(&c);
				more = realloc(cases, (n + 1) * sizeof(c));
				if (!c.name || !more)
					ksft_exit_fail_msg("out of memory");
				cases = more;
				if (__th_selected(&c))
					cases[n++] = c;
				else
					free(c.name);
			}
			v = v ? v->next : NULL;
		} while (v);
	}
	*count = n;
	return cases;
}

static inline void __attribute__((noreturn))
__th_child(const struct __th_case *c, struct __th_results *res,
	   const sigset_t *mask)
{
	struct __test_metadata m;

	setpgid(0, 0);
	sigprocmask(SIG_SETMASK, mask, NULL);
	memset(&m, 0, sizeof(m));
	m.name = c->name;
	m.pid = getpid();
	m.variant = c->v ? c->v->data : NULL;
	m.results = res;
	c->t->fn(&m);
	__th_test_exit(&m);
}

/* A blocked fatal signal arrived while a test ran: clean up, die by it. */
static inline void __attribute__((noreturn)) __th_interrupted(pid_t pid,
							      int sig)
{
	sigset_t set;

	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	printf("Bail out! interrupted by signal %d (%s)\n", sig,
	       strsignal(sig));
	fflush(NULL);
	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	_exit(KSFT_FAIL);
}

/*
 * Wait for @pid for at most @timeout seconds (0: forever). SIGCHLD and
 * the signals in @set are blocked, so sigtimedwait() cannot miss the exit.
 */
static inline bool __th_wait(pid_t pid, unsigned int timeout,
			     const sigset_t *set, int *status)
{
	struct timespec end, now, left;
	siginfo_t info;
	int sig;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += timeout;
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return false;
		if (r < 0 && errno != EINTR) {
			*status = -1;
			return false;
		}
		if (!timeout) {
			sig = sigwaitinfo(set, &info);
		} else {
			clock_gettime(CLOCK_MONOTONIC, &now);
			left.tv_sec = end.tv_sec - now.tv_sec;
			left.tv_nsec = end.tv_nsec - now.tv_nsec;
			if (left.tv_nsec < 0) {
				left.tv_nsec += 1000000000L;
				left.tv_sec--;
			}
			if (left.tv_sec < 0)
				break;
			sig = sigtimedwait(set, &info, &left);
		}
		if (sig > 0 && sig != SIGCHLD)
			__th_interrupted(pid, sig);
	}
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	return true;
}

static inline void __th_run_case(const struct __th_case *c,
				 struct __th_results *res,
				 unsigned int timeout, const sigset_t *mask,
				 const sigset_t *waitset)
{
	const char *word = "FAIL", *dir = NULL;
	int code = KSFT_FAIL, status = 0;
	bool timed_out;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	ksft_print_msg(" RUN           %s ...", c->name);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		ksft_print_msg("%s: fork: %s", c->name, strerror(errno));
		goto report;
	}
	if (pid == 0)
		__th_child(c, res, mask);
	setpgid(pid, pid);
	timed_out = __th_wait(pid, timeout, waitset, &status);
	kill(-pid, SIGKILL);		/* whatever the test left behind */

	if (timed_out) {
		ksft_print_msg("%s: Test terminated by timeout (%us)",
			       c->name, timeout);
		dir = "TIMEOUT";
	} else if (status == -1) {
		ksft_print_msg("%s: waitpid: %s", c->name, strerror(errno));
	} else if (WIFEXITED(status)) {
		int rc = WEXITSTATUS(status);

		if (rc == KSFT_SKIP) {
			code = KSFT_SKIP;
		} else if (rc == KSFT_PASS && c->t->termsig) {
			ksft_print_msg("%s: Test exited normally, expected signal %d (%s)",
				       c->name, c->t->termsig,
				       strsignal(c->t->termsig));
		} else if (rc == KSFT_PASS) {
			code = KSFT_PASS;
		} else if (rc != KSFT_FAIL) {
			ksft_print_msg("%s: Test exited with status %d",
				       c->name, rc);
		}
	} else if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);

		if (c->t->termsig && sig == c->t->termsig)
			code = KSFT_PASS;
		else
			ksft_print_msg("%s: Test terminated unexpectedly by signal %d (%s)",
				       c->name, sig, strsignal(sig));
	}
report:
	if (code == KSFT_PASS)
		word = "OK";
	else if (code == KSFT_SKIP)
		word = "SKIP";
	ksft_print_msg("         %4s  %s", word, c->name);
	res->reason[sizeof(res->reason) - 1] = '\0';
	if (code == KSFT_SKIP && res->reason[0])
		ksft_test_result_code(code, c->name, "%s", res->reason);
	else if (dir)
		ksft_test_result_code(code, c->name, "%s", dir);
	else
		ksft_test_result_code(code, c->name, NULL);
}

/* WEFT_TEST_TIMEOUT in seconds, or -1 when unset or empty. */
static inline long __th_env_timeout(void)
{
	const char *s = getenv(TH_TIMEOUT_ENV);
	unsigned long v;
	char *end;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || *s == '-' || v > UINT_MAX / 2)
		ksft_exit_fail_msg("invalid %s=%s", TH_TIMEOUT_ENV, s);
	return (long)v;
}

static inline void __th_usage(FILE *f, const char *argv0)
{
	fprintf(f,
		"usage: %s [-l] [-t PATTERN]... [-T PATTERN]...\n"
		"  -l          list the selected tests and exit\n"
		"  -t PATTERN  run only tests matching PATTERN\n"
		"  -T PATTERN  do not run tests matching PATTERN\n"
		"PATTERN: shell glob against the full, test, fixture or\n"
		"fixture.variant name. %s=S sets every timeout (0: none).\n",
		argv0, TH_TIMEOUT_ENV);
}

static inline void __th_free(struct __th_case *cases, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(cases[i].name);
	free(cases);
	free(__th_filters);
	__th_filters = NULL;
	__th_nfilters = 0;
}

/* harness_main() - parse the command line, run the tests, exit status. */
static inline int harness_main(int argc, char **argv)
{
	bool list = false, filtered;
	struct __th_results *res;
	struct __th_case *cases;
	sigset_t waitset, mask;
	size_t i, n;
	long tmo;
	int opt;

	while ((opt = getopt(argc, argv, "hlt:T:")) != -1) {
		switch (opt) {
		case 'l':
			list = true;
			break;
		case 't':
		case 'T':
			harness_filter(optarg, opt == 'T');
			break;
		case 'h':
			__th_usage(stdout, argv[0]);
			return KSFT_PASS;
		default:
			__th_usage(stderr, argv[0]);
			return KSFT_FAIL;
		}
	}
	if (optind < argc) {
		__th_usage(stderr, argv[0]);
		return KSFT_FAIL;
	}
	filtered = false;
	for (i = 0; i < __th_nfilters; i++)
		filtered |= !__th_filters[i].exclude;

	cases = __th_cases(&n);
	if (list) {
		for (i = 0; i < n; i++)
			printf("%s\n", cases[i].name);
		__th_free(cases, n);
		return KSFT_PASS;
	}

	ksft_print_header();
	tmo = __th_env_timeout();
	if (!n && filtered)
		ksft_exit_fail_msg("no test matches the -t filters");
	if (!n)
		ksft_exit_skip("no tests");
	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED)
		ksft_exit_fail_msg("mmap: %s", strerror(errno));

	/* held until the end: waited for, or delivered once we are done */
	sigemptyset(&waitset);
	sigaddset(&waitset, SIGCHLD);
	sigaddset(&waitset, SIGINT);
	sigaddset(&waitset, SIGTERM);
	sigaddset(&waitset, SIGHUP);
	sigprocmask(SIG_BLOCK, &waitset, &mask);

	ksft_set_plan((unsigned int)n);
	for (i = 0; i < n; i++) {
		unsigned int t = cases[i].t->timeout;

		if (tmo >= 0)
			t = (unsigned int)tmo;	/* the environment wins */
		else if (!t)
			t = TH_DEFAULT_TIMEOUT;
		__th_run_case(&cases[i], res, t, &mask, &waitset);
	}
	ksft_print_cnts();

	munmap(res, sizeof(*res));
	__th_free(cases, n);
	fflush(NULL);
	sigprocmask(SIG_SETMASK, &mask, NULL);

	if (ksft_get_fail_cnt())
		return KSFT_FAIL;
	if (!ksft_get_pass_cnt())
		return KSFT_SKIP;
	return KSFT_PASS;
}

#define TEST_HARNESS_MAIN						\
	int main(int argc, char **argv)					\
	{								\
		return harness_main(argc, argv);			\
	}

#endif /* WEFT_TESTS_HARNESS_H */
