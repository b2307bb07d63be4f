// SPDX-License-Identifier: MIT
//
// Peer benchmark: glibc swapcontext() between two contexts. Each swapcontext
// call counts as one switch. Note that glibc's swapcontext saves/restores the
// signal mask, i.e. performs an rt_sigprocmask system call per switch.
//
// usage: switch_ucontext [N]   (N = total switches, default 2000000)
// build: gcc -O2 -pthread switch_ucontext.c -o switch_ucontext

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <ucontext.h>

#define STACK_SIZE (64 * 1024)

static ucontext_t main_ctx, child_ctx;

static unsigned long long parse_count(int argc, char **argv, unsigned long long def)
{
	if (argc < 2)
		return def;
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(argv[1], &end, 10);
	if (errno != 0 || end == argv[1] || *end != '\0' || v == 0) {
		fprintf(stderr, "usage: %s [N>0]\n", argv[0]);
		exit(2);
	}
	return v;
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void child_entry(void)
{
	for (;;)
		swapcontext(&child_ctx, &main_ctx);
}

int main(int argc, char **argv)
{
	unsigned long long n = parse_count(argc, argv, 2000000ULL);
	unsigned long long rounds = (n + 1) / 2; /* one round = 2 switches */
	n = rounds * 2;

	void *stack = malloc(STACK_SIZE);
	if (!stack) {
		perror("malloc");
		return 1;
	}
	if (getcontext(&child_ctx) != 0) {
		perror("getcontext");
		return 1;
	}
	child_ctx.uc_stack.ss_sp = stack;
	child_ctx.uc_stack.ss_size = STACK_SIZE;
	child_ctx.uc_link = NULL;
	makecontext(&child_ctx, child_entry, 0);

	/* Warm up: first entry into the child. */
	swapcontext(&main_ctx, &child_ctx);

	double t0 = now_ns();
	for (unsigned long long i = 0; i < rounds; i++)
		swapcontext(&main_ctx, &child_ctx);
	double t1 = now_ns();

	printf("bench=switch impl=ucontext value=%.2f unit=ns/switch n=%llu\n",
	       (t1 - t0) / (double)n, n);
	free(stack);
	return 0;
}
