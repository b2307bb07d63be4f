// SPDX-License-Identifier: MIT
/*
 * cxx_static_init.cc - a function-local static whose constructor blocks
 * (sleep_for, then a read() that another thread satisfies) while NTHREADS
 * threads reach it at once. The latecomers wait in __cxa_guard_acquire,
 * which libstdc++ implements with a raw futex, not with a pthread call: a
 * runtime that parks the constructing thread must not leave every carrier
 * stuck in that futex. The constructor runs once; everyone sees its result.
 */
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <unistd.h>
#include <vector>

#include "preload.h"

static constexpr int NTHREADS = 64;
static int ctor_pipe[2];
static std::atomic<int> ctor_runs;

struct slow {
	int value;
	slow()
	{
		char c = 0;

		ctor_runs++;
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
		CHECK_EQ(read(ctor_pipe[0], &c, 1), 1);
		value = c;
	}
};

static int get()
{
	static slow s;

	return s.value;
}

int main()
{
	std::vector<std::thread> ts;
	std::atomic<int> right{ 0 };

	preload_init();
	CHECK_EQ(pipe(ctor_pipe), 0);
	for (int i = 0; i < NTHREADS; i++)
		ts.emplace_back([&right] { right += get() == 'v'; });
	/* Another thread, outside the guard, feeds the constructor. */
	std::thread feeder([] {
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
		CHECK_EQ(write(ctor_pipe[1], "v", 1), 1);
	});
	feeder.join();
	for (auto &t : ts)
		t.join();
	std::printf("static constructed %d time(s), %d of %d threads saw it\n",
		    ctor_runs.load(), right.load(), NTHREADS);
	std::printf("done\n");
	return 0;
}
