// SPDX-License-Identifier: MIT
//
// Peer benchmark "skynet" (github.com/atemerev/skynet): a tree in which every
// node starts 10 detached fibers and every leaf pushes its number; each node
// makes a boost::fibers::buffered_channel (capacity 16: it must be a power of
// two), its children push their sums there, and it pushes the total to its
// parent. The sum of 0..N-1 is checked. Fibers get 16 KiB stacks
// (fixedsize_stack) and run on one thread per CPU under the work_stealing
// algorithm, reported as threads=. The value is ns per leaf (ms= gives the
// time). Boost.Fiber takes tens of seconds for a million leaves, so run.sh
// measures it on a smaller tree; per-leaf costs stay comparable.
//
// usage: skynet_boost_fiber [N [THREADS]]   (N = leaves, a power of 10,
//        default 100000; THREADS default: the CPUs)
// build: g++ -O2 -pthread skynet_boost_fiber.cc -o skynet_boost_fiber -lboost_fiber -lboost_context

#include <boost/fiber/all.hpp>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

using channel = boost::fibers::buffered_channel<std::uint64_t>;
using stack_allocator = boost::fibers::fixedsize_stack;

static const std::size_t kStackSize = 16 * 1024;

static double now_ns()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static unsigned long long parse(const char *s, const char *prog)
{
	char *end = nullptr;
	errno = 0;
	unsigned long long v = std::strtoull(s, &end, 10);
	if (errno || end == s || *end || v == 0) {
		std::fprintf(stderr, "usage: %s [N [THREADS]]\n", prog);
		std::exit(2);
	}
	return v;
}

static void skynet(stack_allocator &salloc, channel &out, std::uint64_t num,
		   std::uint64_t size)
{
	if (size == 1) {
		out.push(num);
		return;
	}
	channel rc{16};
	for (std::uint64_t i = 0; i < 10; i++)
		boost::fibers::fiber(std::allocator_arg, salloc, skynet,
				     std::ref(salloc), std::ref(rc),
				     num + i * (size / 10), size / 10).detach();
	std::uint64_t sum = 0;
	for (int i = 0; i < 10; i++)
		sum += rc.value_pop();
	out.push(sum);
}

int main(int argc, char **argv)
{
	unsigned long long n = 100000;
	unsigned threads = std::thread::hardware_concurrency();

	if (argc > 3)
		parse("", argv[0]);
	if (argc > 1)
		n = parse(argv[1], argv[0]);
	if (argc > 2)
		threads = (unsigned)parse(argv[2], argv[0]);
	if (!threads)
		threads = 1;
	for (unsigned long long s = n; s > 1; s /= 10) {
		if (s % 10) {
			std::fprintf(stderr, "skynet_boost_fiber: %llu leaves is not a power of 10\n", n);
			return 2;
		}
	}

	// The helper threads join the work_stealing pool and wait (running
	// stolen fibers) until main says it is done.
	boost::fibers::mutex mtx;
	boost::fibers::condition_variable_any cnd;
	bool done = false;
	std::vector<std::thread> helpers;
	for (unsigned i = 1; i < threads; i++)
		helpers.emplace_back([&] {
			boost::fibers::use_scheduling_algorithm<
				boost::fibers::algo::work_stealing>(threads);
			std::unique_lock<boost::fibers::mutex> lk(mtx);
			cnd.wait(lk, [&] { return done; });
		});
	boost::fibers::use_scheduling_algorithm<boost::fibers::algo::work_stealing>(threads);

	stack_allocator salloc{kStackSize};
	channel rc{2};
	double t0 = now_ns();
	boost::fibers::fiber(std::allocator_arg, salloc, skynet, std::ref(salloc),
			     std::ref(rc), 0, n).detach();
	std::uint64_t sum = rc.value_pop();
	double ns = now_ns() - t0;

	{
		std::unique_lock<boost::fibers::mutex> lk(mtx);
		done = true;
	}
	cnd.notify_all();
	for (auto &t : helpers)
		t.join();

	if (sum != n * (n - 1) / 2) {
		std::fprintf(stderr, "skynet_boost_fiber: sum %llu, want %llu\n",
			     (unsigned long long)sum, n * (n - 1) / 2);
		return 1;
	}
	std::printf("bench=skynet impl=boost.fiber value=%.2f unit=ns/leaf n=%llu ms=%.2f sum=%llu threads=%u\n",
		    ns / (double)n, n, ns / 1e6, (unsigned long long)sum, threads);
	return 0;
}
