// SPDX-License-Identifier: MIT
/*
 * WEFT_* variables: every bad value makes weft_run() return -EINVAL after
 * one line naming the variable and what it accepts; good values work.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>

#include "harness.h"

struct env_case {
	const char *name, *value, *expect;
};

static void *nothing(void *arg)
{
	return arg;
}

static void run_with(void *arg)
{
	const struct env_case *c = arg;

	setenv(c->name, c->value, 1);
	exit(-weft_run(NULL, nothing, NULL, NULL));
}

static const struct env_case bad[] = {
	{ "WEFT_STACK_SIZE", "abc",
	  "weft: WEFT_STACK_SIZE=\"abc\" is not valid: expected a size from 16K to 256M, in bytes or with a K, M or G suffix\n" },
	{ "WEFT_STACK_SIZE", "1K", "expected a size from 16K to 256M" },
	{ "WEFT_STACK_SIZE", "1G", "expected a size from 16K to 256M" },
	{ "WEFT_STACK_SIZE", "64KB", "WEFT_STACK_SIZE=\"64KB\" is not valid" },
	{ "WEFT_STACK_SIZE", "-64K", "WEFT_STACK_SIZE=\"-64K\" is not valid" },
	{ "WEFT_STACK_SIZE", "99999999999999999999999", "is not valid" },
	{ "WEFT_GUARD", "foo",
	  "weft: WEFT_GUARD=\"foo\" is not valid: expected one of madvise, mprotect, canary or none\n" },
	{ "WEFT_DEBUG", "yes",
	  "weft: WEFT_DEBUG=\"yes\" is not valid: expected one of 0 or 1\n" },
	{ "WEFT_WORKERS", "0", "WEFT_WORKERS=\"0\" is not valid" },
	{ "WEFT_WORKERS", "many", "WEFT_WORKERS=\"many\" is not valid" },
	{ "WEFT_WORKERS", "5000", "WEFT_WORKERS=\"5000\" is not valid" },
	{ "WEFT_BUDGET", "0", "WEFT_BUDGET=\"0\" is not valid" },
	{ "WEFT_STALL_MS", "-1", "WEFT_STALL_MS=\"-1\" is not valid" },
	{ "WEFT_SPIN_US", "x", "WEFT_SPIN_US=\"x\" is not valid" },
	{ "WEFT_PIN", "2", "WEFT_PIN=\"2\" is not valid" },
	{ "WEFT_BACKEND", "kqueue",
	  "weft: WEFT_BACKEND=\"kqueue\" is not valid: expected one of io_uring or epoll\n" },
	{ "WEFT_RING_SETUP", "fast",
	  "weft: WEFT_RING_SETUP=\"fast\" is not valid: expected one of defer, coop, plain or sqpoll\n" },
	{ "WEFT_IO_TRY", "yes",
	  "weft: WEFT_IO_TRY=\"yes\" is not valid: expected one of none, send, recv or both\n" },
	{ "WEFT_TOPOLOGY", "2x", "WEFT_TOPOLOGY=\"2x\" is not valid" },
	{ "WEFT_RSEQ", "on", "WEFT_RSEQ=\"on\" is not valid" },
};

TEST(bad_values_name_the_variable)
{
	char out[1024];
	int status;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_EQ(harness_run_child(run_with, (void *)&bad[i], out,
					    sizeof(out), &status), 0);
		TH_LOG("%s=%s: %s", bad[i].name, bad[i].value, out);
		ASSERT_TRUE(WIFEXITED(status));
		ASSERT_EQ(WEXITSTATUS(status), EINVAL);
		ASSERT_NE_NULL(strstr(out, bad[i].expect));
		/* Exactly one line. */
		ASSERT_EQ(strchr(out, '\n'), out + strlen(out) - 1);
	}
}

static const struct env_case good[] = {
	{ "WEFT_STACK_SIZE", "64K", "stack=64KiB" },
	{ "WEFT_STACK_SIZE", "1M", "stack=1024KiB" },
	{ "WEFT_STACK_SIZE", "65536", "stack=64KiB" },
	{ "WEFT_STACK_SIZE", "100000", "stack=128KiB" },	/* rounded up */
	{ "WEFT_GUARD", "madvise", "guard=madvise" },
	{ "WEFT_GUARD", "mprotect", "guard=mprotect" },
	{ "WEFT_GUARD", "canary", "guard=canary" },
	{ "WEFT_GUARD", "none", "guard=none" },
	{ "WEFT_GUARD", "", "guard=madvise" },		/* empty: default */
	{ "WEFT_WORKERS", "3", "workers=3" },
	{ "WEFT_BUDGET", "7", "budget=7" },
};

TEST(good_values_are_used)
{
	char out[1024];
	int status;

	setenv("WEFT_DEBUG", "1", 1);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ASSERT_EQ(harness_run_child(run_with, (void *)&good[i], out,
					    sizeof(out), &status), 0);
		TH_LOG("%s=%s: %s", good[i].name, good[i].value, out);
		ASSERT_TRUE(WIFEXITED(status));
		ASSERT_EQ(WEXITSTATUS(status), 0);
		ASSERT_NE_NULL(strstr(out, good[i].expect));
	}
	unsetenv("WEFT_DEBUG");
}

TEST_HARNESS_MAIN
