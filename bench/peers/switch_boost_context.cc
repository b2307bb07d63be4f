// SPDX-License-Identifier: MIT
//
// Peer benchmark: raw context switch with Boost.Context's low-level fcontext
// API (make_fcontext / jump_fcontext). Two contexts (main and one child) hand
// control back and forth; every jump_fcontext call counts as one switch.
//
// usage: switch_boost_context [N]   (N = total switches, default 20000000)
// build: g++ -O2 -pthread switch_boost_context.cc -o switch_boost_context -lboost_context

#include <boost/context/detail/fcontext.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace ctx = boost::context::detail;

static const std::size_t kStackSize = 64 * 1024;

static unsigned long long parse_count(int argc, char **argv, unsigned long long def)
{
	if (argc < 2)
		return def;
	char *end = nullptr;
	errno = 0;
	unsigned long long v = std::strtoull(argv[1], &end, 10);
	if (errno != 0 || end == argv[1] || *end != '\0' || v == 0) {
		std::fprintf(stderr, "usage: %s [N>0]\n", argv[0]);
		std::exit(2);
	}
	return v;
}

static double now_ns()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

// Child: bounce straight back to whoever jumped in. Never returns (returning
// from an fcontext entry function terminates the thread).
static void child_entry(ctx::transfer_t t)
{
	for (;;)
		t = ctx::jump_fcontext(t.fctx, nullptr);
}

int main(int argc, char **argv)
{
	unsigned long long n = parse_count(argc, argv, 20000000ULL);
	unsigned long long rounds = (n + 1) / 2; // one round = 2 switches
	n = rounds * 2;

	void *stack = std::malloc(kStackSize);
	if (!stack) {
		std::perror("malloc");
		return 1;
	}
	// x86-64 and aarch64 stacks grow down: make_fcontext wants the top.
	ctx::fcontext_t child = ctx::make_fcontext(static_cast<char *>(stack) + kStackSize,
						   kStackSize, child_entry);

	// Warm up (first entry into the child is not a steady-state switch).
	child = ctx::jump_fcontext(child, nullptr).fctx;

	double t0 = now_ns();
	for (unsigned long long i = 0; i < rounds; i++)
		child = ctx::jump_fcontext(child, nullptr).fctx;
	double t1 = now_ns();

	std::printf("bench=switch impl=boost.context value=%.2f unit=ns/switch n=%llu\n",
		    (t1 - t0) / (double)n, n);
	// The child is left suspended; its stack is simply released.
	std::free(stack);
	return 0;
}
