// SPDX-License-Identifier: MIT
/*
 * cxx_threads.cc - the C++ standard thread library, which reaches the
 * pthread and nanosleep calls through libstdc++: std::thread ids and join
 * errors, std::mutex, recursive_mutex, timed_mutex, shared_mutex, call_once,
 * condition_variable (notify_one/all, wait_for and wait_until timeouts),
 * this_thread::sleep_for, and thread_local counters and destructors, which
 * must stay per thread. Futures are in cxx_futures.cc.
 */
#include <atomic>
#include <cstdint>
#include <pthread.h>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <queue>
#include <set>
#include <shared_mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "preload.h"

using namespace std::chrono_literals;

static constexpr int NTHREADS = 64;
static constexpr int ITERS = 2000;
static constexpr auto TIMEO = 100ms;

static bool waited(std::chrono::steady_clock::time_point t0)
{
	return std::chrono::steady_clock::now() - t0 >= TIMEO / 2;
}

static void test_ids_and_join()
{
	std::vector<std::thread> ts;
	std::vector<std::thread::id> ids(NTHREADS);
	std::set<std::thread::id> seen;
	int matched = 0;

	for (int i = 0; i < NTHREADS; i++)
		ts.emplace_back([&ids, i] {
			ids[i] = std::this_thread::get_id();
		});
	for (int i = 0; i < NTHREADS; i++) {
		std::thread::id id = ts[i].get_id();

		ts[i].join();
		matched += id == ids[i];
		seen.insert(ids[i]);
	}
	seen.insert(std::this_thread::get_id());
	std::printf("std::thread ids: %d match get_id, %zu distinct with main\n",
		    matched, seen.size());
	try {
		ts[0].join();
		std::printf("second join: no exception\n");
	} catch (const std::system_error &e) {
		std::printf("second join: system_error, invalid_argument %s\n",
			    yesno(e.code() == std::errc::invalid_argument));
	}
}

static void test_mutexes()
{
	std::vector<std::thread> ts;
	std::mutex m;
	std::recursive_mutex rm;
	std::shared_mutex sm;
	long n = 0, rn = 0, sn = 0, reads = 0;

	auto body = [&] {
		for (int k = 0; k < ITERS; k++) {
			{
				std::lock_guard<std::mutex> g(m);
				n++;
			}
			{
				std::lock_guard<std::recursive_mutex> a(rm);
				std::lock_guard<std::recursive_mutex> b(rm);
				rn++;
			}
			if (k % 4 == 0) {
				std::unique_lock<std::shared_mutex> w(sm);
				sn++;
			} else {
				std::shared_lock<std::shared_mutex> r(sm);
				if (sn >= 0)
					__atomic_fetch_add(&reads, 1,
							   __ATOMIC_RELAXED);
			}
		}
	};

	for (int i = 0; i < NTHREADS; i++)
		ts.emplace_back(body);
	for (auto &t : ts)
		t.join();
	std::printf("std::mutex %ld, recursive_mutex (depth 2) %ld, "
		    "shared_mutex writes %ld reads %ld\n", n, rn, sn, reads);

	std::timed_mutex tm;
	bool got = true, slept = false;

	tm.lock();
	std::thread([&] {
		auto t0 = std::chrono::steady_clock::now();

		got = tm.try_lock_for(TIMEO);
		slept = waited(t0);
		if (got)
			tm.unlock();
	}).join();
	tm.unlock();
	std::printf("timed_mutex held elsewhere: try_lock_for %s, waited: %s\n",
		    got ? "true" : "false", yesno(slept));
	std::thread([&] { got = m.try_lock(); if (got) m.unlock(); }).join();
	std::printf("std::mutex free: try_lock from a thread %s\n",
		    got ? "true" : "false");
}

static void test_condition_variable()
{
	std::mutex m;
	std::condition_variable cv;
	std::queue<int> q;
	std::vector<std::thread> ts;
	long sum = 0;
	int done_producers = 0;
	constexpr int PER = 128;

	for (int i = 0; i < NTHREADS / 2; i++) {
		ts.emplace_back([&, i] {
			for (int k = 0; k < PER; k++) {
				std::lock_guard<std::mutex> g(m);
				q.push(i * PER + k + 1);
				cv.notify_one();
			}
			std::lock_guard<std::mutex> g(m);
			done_producers++;
			cv.notify_all();
		});
		ts.emplace_back([&] {
			std::unique_lock<std::mutex> lk(m);
			for (;;) {
				cv.wait(lk, [&] {
					return !q.empty() ||
					       done_producers == NTHREADS / 2;
				});
				if (q.empty())
					break;
				sum += q.front();
				q.pop();
			}
		});
	}
	for (auto &t : ts)
		t.join();
	std::printf("condition_variable queue: %d producers, %d consumers, "
		    "sum %ld\n", NTHREADS / 2, NTHREADS / 2, sum);

	std::unique_lock<std::mutex> lk(m);
	auto t0 = std::chrono::steady_clock::now();
	std::cv_status st = cv.wait_for(lk, TIMEO);
	std::printf("wait_for, nobody notifies: %s, waited: %s\n",
		    st == std::cv_status::timeout ? "timeout" : "no_timeout",
		    yesno(waited(t0)));
	t0 = std::chrono::steady_clock::now();
	bool pred = cv.wait_until(lk, t0 + TIMEO, [] { return false; });
	std::printf("wait_until with a false predicate: %s, waited: %s\n",
		    pred ? "true" : "false", yesno(waited(t0)));
	t0 = std::chrono::steady_clock::now();
	st = cv.wait_until(lk, std::chrono::system_clock::now() + TIMEO);
	std::printf("wait_until system_clock: %s, waited: %s\n",
		    st == std::cv_status::timeout ? "timeout" : "no_timeout",
		    yesno(waited(t0)));
	lk.unlock();
	t0 = std::chrono::steady_clock::now();
	std::this_thread::sleep_for(TIMEO);
	std::printf("sleep_for: waited: %s\n", yesno(waited(t0)));
}

static std::once_flag once;
static std::atomic<int> once_runs;

static thread_local long tl_count;
static std::atomic<int> tl_dtors;

struct tl_object {
	long uses = 0;
	~tl_object()
	{
		if (uses == ITERS)
			tl_dtors++;
	}
};
static thread_local tl_object tl_obj;

static void test_once_and_thread_local()
{
	std::vector<std::thread> ts;
	std::vector<long> counts(NTHREADS);
	int right = 0;

	for (int i = 0; i < NTHREADS; i++)
		ts.emplace_back([&counts, i] {
			std::call_once(once, [] {
				std::this_thread::sleep_for(10ms);
				once_runs++;
			});
			for (int k = 0; k < ITERS; k++) {
				tl_count++;
				tl_obj.uses++;
				if (k % 500 == 0)	/* let the others run */
					std::this_thread::sleep_for(1ms);
			}
			counts[i] = tl_count;
		});
	for (auto &t : ts)
		t.join();
	for (long c : counts)
		right += c == ITERS;
	std::printf("call_once from %d threads: ran %d time(s)\n", NTHREADS,
		    once_runs.load());
	std::printf("thread_local counters: %d of %d threads saw exactly %d, "
		    "main's %ld; destructors with %d uses: %d\n", right,
		    NTHREADS, ITERS, tl_count, ITERS, tl_dtors.load());
}

/*
 * libstdc++ keeps the exceptions being handled in a per-thread list: each
 * thread, parked inside its catch block, must rethrow its own.
 */
static void test_exceptions_across_waits()
{
	std::vector<std::thread> ts;
	std::atomic<int> right{0};

	for (int i = 0; i < NTHREADS; i++)
		ts.emplace_back([&right, i] {
			try {
				throw i;
			} catch (int) {
				std::this_thread::sleep_for(1ms);
				try {
					throw;
				} catch (int v) {
					std::this_thread::sleep_for(1ms);
					right += v == i &&
						 std::uncaught_exceptions() == 0;
				}
			}
		});
	for (auto &t : ts)
		t.join();
	std::printf("exceptions rethrown across a wait: %d of %d right\n",
		    right.load(), NTHREADS);
}

/*
 * pthread_exit() and a cancel unwind a C++ thread's stack: destructors of
 * every frame run, catch (...) sees the unwind (and rethrows it), and a
 * cleanup handler pushed in C++ runs.
 */
static std::atomic<int> unwind_dtors, unwind_catches, unwind_cleanups;

struct counted {
	~counted() { unwind_dtors++; }
};

static void unwind_cleanup(void *)
{
	unwind_cleanups++;
}

static void exit_deep(int i)
{
	counted c;

	pthread_cleanup_push(unwind_cleanup, nullptr);
	if (i >= 0)
		pthread_exit(reinterpret_cast<void *>(static_cast<intptr_t>(i)));
	std::this_thread::sleep_for(std::chrono::hours(1)); /* cancelled */
	pthread_cleanup_pop(0);
}

static void *exit_thread(void *arg)
{
	counted c;

	try {
		exit_deep(static_cast<int>(reinterpret_cast<intptr_t>(arg)));
	} catch (...) {
		unwind_catches++;
		throw;
	}
	return nullptr;
}

static void test_exit_unwinds()
{
	std::vector<pthread_t> ts(NTHREADS);
	int right = 0;

	for (int i = 0; i < NTHREADS; i++)
		if (pthread_create(&ts[i], nullptr, exit_thread,
				   reinterpret_cast<void *>(
					   static_cast<intptr_t>(i % 2 ? i : -1))))
			std::abort();
	for (int i = 0; i < NTHREADS; i += 2)
		pthread_cancel(ts[i]);
	for (int i = 0; i < NTHREADS; i++) {
		void *v;

		pthread_join(ts[i], &v);
		right += i % 2 ? v == reinterpret_cast<void *>(
					      static_cast<intptr_t>(i))
			       : v == PTHREAD_CANCELED;
	}
	std::printf("pthread_exit/cancel in C++: %d of %d joined right, "
		    "destructors %d, catch (...) %d, cleanup handlers %d\n",
		    right, NTHREADS, unwind_dtors.load(),
		    unwind_catches.load(), unwind_cleanups.load());
}

int main()
{
	preload_init();
	test_ids_and_join();
	test_mutexes();
	test_condition_variable();
	test_once_and_thread_local();
	test_exceptions_across_waits();
	test_exit_unwinds();
	std::printf("done\n");
	return 0;
}
