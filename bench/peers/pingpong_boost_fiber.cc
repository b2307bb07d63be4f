// SPDX-License-Identifier: MIT
//
// Peer benchmark "pingpong": two fibers bounce a counter through two
// boost::fibers::unbuffered_channel<int>; every push/pop pair is one
// hand-off and the value is elapsed time / hand-offs. The first tenth of the
// hand-offs (at least two) warms up and is not timed.
//
//   mode=local  both fibers on the main thread (round_robin)
//   mode=cross  one fiber on each of two threads (round_robin each); a
//               thread with nothing to run sleeps in its scheduler's
//               condition variable until the other wakes it
//
// usage: pingpong_boost_fiber [N [local|cross]]   (N = hand-offs, default
//        1000000; no mode: both, one line each)
// build: g++ -O2 -pthread pingpong_boost_fiber.cc -o pingpong_boost_fiber -lboost_fiber -lboost_context

#include <boost/fiber/all.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <thread>

using channel = boost::fibers::unbuffered_channel<int>;

static double now_ns()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void usage(const char *prog)
{
	std::fprintf(stderr, "usage: %s [N>0 [local|cross]]\n", prog);
	std::exit(2);
}

// Echo every count it is sent, plus one, @rounds times.
static void ponger(channel &ping, channel &pong, unsigned long long rounds)
{
	for (unsigned long long i = 0; i < rounds; i++) {
		int v = ping.value_pop();
		pong.push(v + 1);
	}
}

// Send @warm + @n counts and check the replies; return the ns the last @n took.
static double pinger(channel &ping, channel &pong, unsigned long long warm,
		     unsigned long long n)
{
	double t0 = 0;
	for (unsigned long long v = 0; v < warm + n; v += 2) {
		if (v == warm)
			t0 = now_ns();
		ping.push((int)v);
		int w = pong.value_pop();
		if (w != (int)v + 1) {
			std::fprintf(stderr, "pingpong: got %d, want %d\n", w, (int)v + 1);
			std::exit(1);
		}
	}
	return now_ns() - t0;
}

static double run(bool cross, unsigned long long warm, unsigned long long n)
{
	channel ping, pong;
	unsigned long long rounds = (warm + n) / 2;
	double ns = 0;

	if (!cross) {
		boost::fibers::fiber b([&] { ponger(ping, pong, rounds); });
		boost::fibers::fiber a([&] { ns = pinger(ping, pong, warm, n); });
		a.join();
		b.join();
		return ns;
	}
	std::thread t([&] {
		boost::fibers::fiber b([&] { ponger(ping, pong, rounds); });
		b.join();
	});
	boost::fibers::fiber a([&] { ns = pinger(ping, pong, warm, n); });
	a.join();
	t.join();
	return ns;
}

int main(int argc, char **argv)
{
	unsigned long long n = 1000000;
	bool modes[2] = { true, true }; // local, cross

	if (argc > 3)
		usage(argv[0]);
	if (argc > 1) {
		char *end = nullptr;
		errno = 0;
		n = std::strtoull(argv[1], &end, 10);
		if (errno || end == argv[1] || *end || n == 0)
			usage(argv[0]);
	}
	if (argc > 2) {
		if (!std::strcmp(argv[2], "local"))
			modes[1] = false;
		else if (!std::strcmp(argv[2], "cross"))
			modes[0] = false;
		else
			usage(argv[0]);
	}
	n = (n + 1) & ~1ULL; // whole round trips
	unsigned long long warm = (n / 10 + 1) & ~1ULL;
	if (warm < 2)
		warm = 2;
	if (warm + n > 0x7fffffffULL)
		usage(argv[0]);

	for (int m = 0; m < 2; m++) {
		if (!modes[m])
			continue;
		double ns = run(m == 1, warm, n);
		std::printf("bench=pingpong mode=%s impl=boost.fiber value=%.2f unit=ns/handoff n=%llu threads=%d\n",
			    m ? "cross" : "local", ns / (double)n, n, m ? 2 : 1);
		std::fflush(stdout);
	}
	return 0;
}
