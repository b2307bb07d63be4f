// SPDX-License-Identifier: MIT
/*
 * cxx_futures.cc - std::promise, std::future, std::shared_future,
 * std::packaged_task and std::async between threads. libstdc++ makes a
 * future wait with a raw futex system call (std::__atomic_futex_unsigned),
 * not through pthread_cond_wait: a thread waiting in future::get() while
 * the thread that will set the value has not run yet is the case that
 * matters, so it comes first. std::async's futures wait with
 * pthread_join instead.
 */
#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <stdexcept>
#include <thread>
#include <vector>

#include "preload.h"

using namespace std::chrono_literals;

static constexpr int NTHREADS = 64;
static constexpr auto TIMEO = 100ms;

static bool waited(std::chrono::steady_clock::time_point t0)
{
	return std::chrono::steady_clock::now() - t0 >= TIMEO / 2;
}

static void test_promises()
{
	std::promise<int> p;
	std::future<int> f = p.get_future();
	std::thread t([&p] {
		std::this_thread::sleep_for(10ms);
		p.set_value(42);
	});

	std::printf("future::get, set by a sleeping thread: %d\n", f.get());
	t.join();

	std::vector<std::promise<long>> ps(NTHREADS);
	std::vector<std::thread> ts;
	long sum = 0;

	for (int i = 0; i < NTHREADS; i++)
		ts.emplace_back([&ps, i] {
			std::this_thread::sleep_for(1ms);
			ps[i].set_value(i + 1);
		});
	for (auto &q : ps)
		sum += q.get_future().get();
	for (auto &th : ts)
		th.join();
	std::printf("%d promises, each set by its own thread: sum %ld\n",
		    NTHREADS, sum);

	std::promise<int> go;
	std::shared_future<int> sf = go.get_future().share();
	std::atomic<long> seen{ 0 };

	ts.clear();
	for (int i = 0; i < NTHREADS; i++)
		ts.emplace_back([&sf, &seen] { seen += sf.get(); });
	std::this_thread::sleep_for(10ms);
	go.set_value(3);
	for (auto &th : ts)
		th.join();
	std::printf("shared_future, %d waiting threads: sum %ld\n", NTHREADS,
		    seen.load());

	std::promise<int> bad;
	std::future<int> bf = bad.get_future();
	std::thread thrower([&bad] {
		std::this_thread::sleep_for(1ms);
		bad.set_exception(
			std::make_exception_ptr(std::runtime_error("boom")));
	});
	try {
		bf.get();
		std::printf("set_exception: none\n");
	} catch (const std::runtime_error &e) {
		std::printf("set_exception: %s\n", e.what());
	}
	thrower.join();
}

static void test_timeouts()
{
	std::promise<int> never;
	std::future<int> f = never.get_future();
	auto t0 = std::chrono::steady_clock::now();
	auto st = f.wait_for(TIMEO);

	std::printf("future::wait_for, never set: %s, waited: %s\n",
		    st == std::future_status::timeout ? "timeout" : "ready",
		    yesno(waited(t0)));
	t0 = std::chrono::steady_clock::now();
	st = f.wait_until(std::chrono::system_clock::now() + TIMEO);
	std::printf("future::wait_until system_clock, never set: %s, "
		    "waited: %s\n",
		    st == std::future_status::timeout ? "timeout" : "ready",
		    yesno(waited(t0)));
	never.set_value(1);
	std::printf("wait_for once set: %s\n",
		    f.wait_for(0s) == std::future_status::ready ? "ready"
								 : "timeout");
}

static void test_tasks_and_async()
{
	std::packaged_task<int(int)> task([](int x) { return x * 2; });
	std::future<int> tf = task.get_future();
	std::thread t(std::move(task), 21);

	std::printf("packaged_task on a thread: %d\n", tf.get());
	t.join();

	std::vector<std::future<long>> fs;
	long sum = 0;

	for (long i = 0; i < NTHREADS; i++)
		fs.push_back(std::async(std::launch::async, [i] {
			std::this_thread::sleep_for(1ms);
			return i * i;
		}));
	for (auto &f : fs)
		sum += f.get();
	std::printf("std::async x %d: sum of squares %ld\n", NTHREADS, sum);

	auto bad = std::async(std::launch::async,
			      []() -> int { throw std::runtime_error("boom"); });
	try {
		bad.get();
		std::printf("async exception: none\n");
	} catch (const std::runtime_error &e) {
		std::printf("async exception: %s\n", e.what());
	}
	auto lazy = std::async(std::launch::deferred, [] { return 7; });
	std::printf("deferred async: %d\n", lazy.get());
}

int main()
{
	preload_init();
	test_promises();
	test_timeouts();
	test_tasks_and_async();
	std::printf("done\n");
	return 0;
}
