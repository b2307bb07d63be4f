// SPDX-License-Identifier: MIT
/*
 * Self-test of tests/harness.h.
 *
 * Run plainly, every test here must pass (one skips on purpose). The
 * failure, timeout and skip paths are exercised by scenario fixtures
 * named sc_*: excluded from a plain run, they run when the binary is
 * re-executed with HARNESS_SELFTEST_MODE=<x> (only fixture sc_<x>), and
 * the outer tests check that sub-run's TAP output and exit status.
 */
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MODE_ENV "HARNESS_SELFTEST_MODE"

/* ---------------------------------------------------------------------
 * Fixtures and variants
 */

FIXTURE(counter) {
	int value;
	int setups;
	char tag[16];
};

FIXTURE_VARIANT(counter) {
	int start;
	const char *tag;
};

FIXTURE_VARIANT_ADD(counter, small) {
	.start = 1,
	.tag = "small",
};

FIXTURE_VARIANT_ADD(counter, big) {
	.start = 1000,
	.tag = "big",
};

FIXTURE_SETUP(counter)
{
	ASSERT_EQ(self->setups, 0);	/* @self starts zeroed */
	self->setups++;
	self->value = variant->start;
	snprintf(self->tag, sizeof(self->tag), "%s", variant->tag);
}

FIXTURE_TEARDOWN(counter)
{
	ASSERT_EQ(self->setups, 1);
}

TEST_F(counter, setup_saw_variant)
{
	ASSERT_EQ(self->setups, 1);
	ASSERT_EQ(self->value, variant->start);
	ASSERT_STREQ(self->tag, variant->tag);
	ASSERT_STREQ(_metadata->name,
		     variant->start == 1 ? "counter.small.setup_saw_variant"
					 : "counter.big.setup_saw_variant");
}

TEST_F(counter, each_test_gets_fresh_setup)
{
	self->value += 5;
	ASSERT_EQ(self->value, variant->start + 5);
	ASSERT_EQ(self->setups, 1);
}

FIXTURE(plain) {
	int x;
};

FIXTURE_SETUP(plain)
{
	self->x = 42;
}

FIXTURE_TEARDOWN(plain)
{
}

TEST_F(plain, no_variants)
{
	ASSERT_NULL(variant);
	ASSERT_EQ(self->x, 42);
	ASSERT_STREQ(_metadata->name, "plain.no_variants");
}

/* ---------------------------------------------------------------------
 * Checks
 */

TEST(compare_mixed_types)
{
	unsigned int umax = UINT_MAX;
	uint64_t big = UINT64_MAX;
	const char *nothing = NULL;
	char buf[4] = "abc";
	size_t len = 5;
	long neg = -1;
	int ret = 0;

	ASSERT_EQ(ret, 0);
	ASSERT_EQ(len, 5UL);
	ASSERT_EQ(len, 5);
	ASSERT_EQ(5, len);
	ASSERT_EQ(nothing, NULL);
	ASSERT_NULL(nothing);
	ASSERT_NE(buf, NULL);
	ASSERT_NE_NULL(buf);
	ASSERT_EQ(buf[0], 'a');
	ASSERT_TRUE(len);
	ASSERT_FALSE(ret);
	ASSERT_STREQ(buf, "abc");
	ASSERT_STRNE(buf, "abd");
	ASSERT_STRNE(buf, NULL);
	/* by value, not by C's usual conversions */
	ASSERT_LT(neg, 0U);
	ASSERT_LT(neg, len);
	ASSERT_NE(umax, -1);
	ASSERT_GT(big, neg);
	ASSERT_GE(big, (uint64_t)INT64_MAX);
	ASSERT_LE(len, len);
	ASSERT_EQ(-1, (long long)-1);
	EXPECT_EQ(sizeof(buf), 4);
}

TEST(operands_evaluated_once_in_order)
{
	int order[2], n = 0, i = 0;

	ASSERT_EQ(i++, 0);
	ASSERT_EQ(i, 1);
	EXPECT_NE(order[n++] = 10, order[n++] = 20);
	ASSERT_EQ(n, 2);
	ASSERT_EQ(order[0], 10);
	ASSERT_EQ(order[1], 20);
}

TEST(failure_block_runs_only_on_failure)
{
	int hits = 0;

	EXPECT_EQ(1, 1) hits++;
	ASSERT_EQ(hits, 0);
	if (hits)			/* must parse as one statement */
		ASSERT_TRUE(0);
	else
		ASSERT_FALSE(hits);
}

TEST_SIGNAL(abort_is_expected, SIGABRT)
{
	abort();
}

TEST(skip_reports_reason)
{
	SKIP(return, "skipped on purpose (%d)", 42);
	ASSERT_TRUE(0);
}

TEST_TIMEOUT(own_timeout_is_enough, 5)
{
	ASSERT_TRUE(1);
}

/* ---------------------------------------------------------------------
 * harness_run_child() / harness_run_cmd()
 */

static void chatty(void *arg)
{
	printf("out:%s\n", (const char *)arg);
	fprintf(stderr, "err line\n");
	exit(3);
}

static void flood(void *arg)
{
	static char block[8192];
	size_t i, total = *(size_t *)arg;

	memset(block, 'x', sizeof(block));
	for (i = 0; i < total; i += sizeof(block))
		fwrite(block, 1, sizeof(block), stdout);
}

static void die_by_usr1(void *arg)
{
	(void)arg;
	raise(SIGUSR1);
}

TEST(run_child_captures_output_and_status)
{
	char out[256];
	int status;

	ASSERT_EQ(harness_run_child(chatty, "hello", out, sizeof(out),
				    &status), 0);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 3);
	ASSERT_STREQ(out, "out:hello\nerr line\n");
}

TEST(run_child_drains_more_than_it_keeps)
{
	size_t total = 1 << 20;		/* far beyond the pipe buffer */
	char out[100];
	int status;

	ASSERT_EQ(harness_run_child(flood, &total, out, sizeof(out),
				    &status), 0);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	ASSERT_EQ(strlen(out), sizeof(out) - 1);
	ASSERT_EQ(harness_run_child(flood, &total, NULL, 0, &status), 0);
	ASSERT_EQ(status, 0);
}

TEST(run_child_reports_signal)
{
	int status;

	ASSERT_EQ(harness_run_child(die_by_usr1, NULL, NULL, 0, &status), 0);
	ASSERT_TRUE(WIFSIGNALED(status));
	ASSERT_EQ(WTERMSIG(status), SIGUSR1);
}

TEST(run_cmd_edits_environment)
{
	char *argv[] = {
		"sh", "-c", "echo \"$HT_FOO:${" TH_TIMEOUT_ENV "-unset}\"; exit 5",
		NULL
	};
	char *env[] = { "HT_FOO=bar baz", TH_TIMEOUT_ENV, NULL };
	char out[256];
	int status;

	ASSERT_EQ(setenv(TH_TIMEOUT_ENV, "77", 1), 0);
	ASSERT_EQ(harness_run_cmd(argv, env, out, sizeof(out), &status), 0);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 5);
	ASSERT_STREQ(out, "bar baz:unset\n");
}

TEST(run_cmd_reports_exec_failure)
{
	char *argv[] = { "/nonexistent/weft-no-such-binary", NULL };
	char out[256];
	int status;

	ASSERT_EQ(harness_run_cmd(argv, NULL, out, sizeof(out), &status), 0);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 127);
	ASSERT_STREQ(out, "harness_run_cmd: cannot execute "
			  "/nonexistent/weft-no-such-binary\n");
}

/* ---------------------------------------------------------------------
 * The harness as seen from outside: re-run this binary
 */

static char sub_out[65536];

/* Run this binary with @args, HARNESS_SELFTEST_MODE=@mode if not NULL. */
static int run_self(struct __test_metadata *_metadata, const char *mode,
		    char *const args[])
{
	char *argv[8] = { "/proc/self/exe" };
	char mode_env[64];
	char *env[] = { mode_env, TH_TIMEOUT_ENV, NULL };
	int i, status;

	snprintf(mode_env, sizeof(mode_env), mode ? "%s=%s" : "%s",
		 MODE_ENV, mode);
	for (i = 0; args && args[i]; i++) {
		ASSERT_LT(i, 6);
		argv[i + 1] = args[i];
	}
	ASSERT_EQ(harness_run_cmd(argv, env, sub_out, sizeof(sub_out),
				  &status), 0);
	ASSERT_LT(strlen(sub_out), sizeof(sub_out) - 1);
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("output:\n%s", sub_out);
	return WEXITSTATUS(status);
}

static void has(struct __test_metadata *_metadata, const char *needle)
{
	ASSERT_NE_NULL(strstr(sub_out, needle))
		TH_LOG("\"%s\" missing from:\n%s", needle, sub_out);
}

static void lacks(struct __test_metadata *_metadata, const char *needle)
{
	ASSERT_NULL(strstr(sub_out, needle))
		TH_LOG("\"%s\" unexpected in:\n%s", needle, sub_out);
}

TEST(failing_scenario_reported)
{
	char line[128];

	ASSERT_EQ(run_self(_metadata, "fail", NULL), KSFT_FAIL)
		TH_LOG("output:\n%s", sub_out);
	has(_metadata, "TAP version 13\n1..7\n");
	has(_metadata, "#  RUN           sc_fail.expect_continues ...\n");
	snprintf(line, sizeof(line), "# %s:", __FILE__);
	has(_metadata, line);
	has(_metadata, ":sc_fail.expect_continues:Expected self->x (1) == 2 (2)\n");
	has(_metadata, ":sc_fail.expect_continues:after expect\n");
	lacks(_metadata, "assert failed unexpectedly");
	has(_metadata, "#          FAIL  sc_fail.expect_continues\n"
		       "not ok 1 sc_fail.expect_continues\n");
	has(_metadata, ":sc_fail.assert_stops:Expected self->x (1) == 7 (7)\n");
	has(_metadata, ":sc_fail.assert_stops:context 99\n# second line\n");
	has(_metadata, ":sc_fail.assert_stops:teardown ran x=1\n");
	lacks(_metadata, "not reached");
	has(_metadata, "not ok 2 sc_fail.assert_stops\n");
	has(_metadata, "Expected big (18446744073709551615) == -1 (-1)\n");
	has(_metadata, "Expected p (0x1000) == NULL (0x0)\n");
	has(_metadata, "Expected s (\"abc\") == NULL (NULL)\n");
	has(_metadata, "not ok 3 sc_fail.values_printed\n");
	snprintf(line, sizeof(line),
		 "# sc_fail.wrong_signal: Test terminated unexpectedly by signal %d (",
		 SIGUSR1);
	has(_metadata, line);
	has(_metadata, "not ok 4 sc_fail.wrong_signal\n");
	snprintf(line, sizeof(line),
		 "# sc_fail.no_signal: Test exited normally, expected signal %d (",
		 SIGABRT);
	has(_metadata, line);
	has(_metadata, "not ok 5 sc_fail.no_signal\n");
	has(_metadata, "# sc_fail.odd_exit: Test exited with status 42\n"
		       "#          FAIL  sc_fail.odd_exit\n"
		       "not ok 6 sc_fail.odd_exit\n");
	has(_metadata, "#            OK  sc_fail.passes\nok 7 sc_fail.passes\n");
	has(_metadata, "# Totals: pass:1 fail:6 xfail:0 xpass:0 skip:0 error:0\n");
}

TEST(timeout_reported_and_group_killed)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* returns only once the grandchild holding the pipe died too */
	ASSERT_EQ(run_self(_metadata, "timeout", NULL), KSFT_FAIL)
		TH_LOG("output:\n%s", sub_out);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	has(_metadata, "# sc_timeout.blocks: Test terminated by timeout (1s)\n");
	has(_metadata, "not ok 1 sc_timeout.blocks # TIMEOUT\n");
	has(_metadata, "# Totals: pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0\n");
	/* 1 s, not the 30 s default; generous for slow machines */
	ASSERT_LT(t1.tv_sec - t0.tv_sec, 20);
}

TEST(all_skipped_exits_4)
{
	ASSERT_EQ(run_self(_metadata, "skip", NULL), KSFT_SKIP)
		TH_LOG("output:\n%s", sub_out);
	has(_metadata, "ok 1 sc_skip.in_setup.body # SKIP setup says no\n");
	has(_metadata, "ok 2 sc_skip.in_body.body # SKIP body says no\n");
	lacks(_metadata, "body ran");
	has(_metadata, ":sc_skip.in_setup.body:teardown ran\n");
	has(_metadata, "# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:2 error:0\n");
}

TEST(list_and_filter)
{
	char *list[] = { "-l", NULL };
	char *big[] = { "-t", "counter.big", NULL };
	char *glob[] = { "-t", "*_fresh_*", "-T", "*.small.*", NULL };
	char *none[] = { "-t", "no_such_test", NULL };

	ASSERT_EQ(run_self(_metadata, NULL, list), KSFT_PASS)
		TH_LOG("output:\n%s", sub_out);
	has(_metadata, "counter.small.setup_saw_variant\n"
		       "counter.small.each_test_gets_fresh_setup\n"
		       "counter.big.setup_saw_variant\n");
	has(_metadata, "\nglobal.list_and_filter\n");
	lacks(_metadata, "sc_");
	lacks(_metadata, "TAP version");

	ASSERT_EQ(run_self(_metadata, NULL, big), KSFT_PASS)
		TH_LOG("output:\n%s", sub_out);
	has(_metadata, "1..2\n");
	has(_metadata, "ok 1 counter.big.setup_saw_variant\n");
	has(_metadata, "ok 2 counter.big.each_test_gets_fresh_setup\n");

	ASSERT_EQ(run_self(_metadata, NULL, glob), KSFT_PASS)
		TH_LOG("output:\n%s", sub_out);
	has(_metadata, "1..1\n");
	has(_metadata, "ok 1 counter.big.each_test_gets_fresh_setup\n");

	ASSERT_EQ(run_self(_metadata, NULL, none), KSFT_FAIL)
		TH_LOG("output:\n%s", sub_out);
	has(_metadata, "Bail out! no test matches the -t filters\n");
}

/* ---------------------------------------------------------------------
 * Scenarios, run only by the tests above
 */

FIXTURE(sc_fail) {
	int x;
};

FIXTURE_SETUP(sc_fail)
{
	self->x = 1;
}

FIXTURE_TEARDOWN(sc_fail)
{
	TH_LOG("teardown ran x=%d", self->x);
}

TEST_F(sc_fail, expect_continues)
{
	EXPECT_EQ(self->x, 2);
	TH_LOG("after expect");
	ASSERT_EQ(self->x + 1, 2) TH_LOG("assert failed unexpectedly");
}

TEST_F(sc_fail, assert_stops)
{
	ASSERT_EQ(self->x, 7) TH_LOG("context %d\nsecond line", 99);
	TH_LOG("not reached");
}

TEST_F(sc_fail, values_printed)
{
	size_t big = SIZE_MAX;
	void *p = (void *)0x1000;
	const char *s = "abc";

	EXPECT_EQ(big, -1);
	EXPECT_EQ(p, NULL);
	EXPECT_STREQ(s, NULL);
}

TEST_F_SIGNAL(sc_fail, wrong_signal, SIGABRT)
{
	raise(SIGUSR1);
}

TEST_F_SIGNAL(sc_fail, no_signal, SIGABRT)
{
}

TEST_F(sc_fail, odd_exit)
{
	exit(42);
}

TEST_F(sc_fail, passes)
{
}

FIXTURE(sc_timeout) {
	int unused;
};

FIXTURE_SETUP(sc_timeout)
{
}

FIXTURE_TEARDOWN(sc_timeout)
{
}

TEST_F_TIMEOUT(sc_timeout, blocks, 1)
{
	/* a grandchild holding stdout must die with the group */
	if (fork() == 0)
		pause();
	pause();
}

FIXTURE(sc_skip) {
	int unused;
};

FIXTURE_VARIANT(sc_skip) {
	bool in_setup;
};

FIXTURE_VARIANT_ADD(sc_skip, in_setup) {
	.in_setup = true,
};

FIXTURE_VARIANT_ADD(sc_skip, in_body) {
	.in_setup = false,
};

FIXTURE_SETUP(sc_skip)
{
	if (variant->in_setup)
		SKIP(return, "setup says no");
}

FIXTURE_TEARDOWN(sc_skip)
{
	TH_LOG("teardown ran");
}

TEST_F(sc_skip, body)
{
	if (!variant->in_setup)
		SKIP(return, "body says no");
	TH_LOG("body ran");
}

int main(int argc, char **argv)
{
	const char *mode = getenv(MODE_ENV);
	static char pattern[64];

	if (mode && *mode) {
		snprintf(pattern, sizeof(pattern), "sc_%s", mode);
		harness_filter(pattern, false);
	} else {
		harness_filter("sc_*", true);
	}
	return harness_main(argc, argv);
}
