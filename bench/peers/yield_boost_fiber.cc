// SPDX-License-Identifier: MIT
//
// Peer benchmark: two boost::fibers::fiber objects on one thread, each calling
// boost::this_fiber::yield() in a loop under the default round_robin
// scheduler. Each yield is counted as one switch; the value is total elapsed
// time / total yields across both fibers.
//
// usage: yield_boost_fiber [N]   (N = total yields, default 10000000)
// build: g++ -O2 -pthread yield_boost_fiber.cc -o yield_boost_fiber -lboost_fiber -lboost_context

#include <boost/fiber/all.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>

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

int main(int argc, char **argv)
{
	unsigned long long n = parse_count(argc, argv, 10000000ULL);
	unsigned long long per = (n + 1) / 2; // yields per fiber
	n = per * 2;

	auto body = [per] {
		for (unsigned long long i = 0; i < per; i++)
			boost::this_fiber::yield();
	};

	// Fibers are created ready but only run once main blocks in join(), so
	// timing from here covers the two fibers' yield loops (plus two fiber
	// launches, negligible against N).
	double t0 = now_ns();
	boost::fibers::fiber a(body);
	boost::fibers::fiber b(body);
	a.join();
	b.join();
	double t1 = now_ns();

	std::printf("bench=yield impl=boost.fiber value=%.2f unit=ns/switch n=%llu\n",
		    (t1 - t0) / (double)n, n);
	return 0;
}
