// SPDX-License-Identifier: MIT
/*
 * cxx_exit.cc - exit() called by a thread that is not main runs that
 * thread's thread_local destructors, then the atexit handlers, and ends
 * the process while main still waits.
 */
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "preload.h"

struct noisy {
	const char *name;
	~noisy() { std::printf("thread_local destroyed: %s\n", name); }
};

static thread_local noisy tl{"unset"};

int main()
{
	preload_init();
	std::atexit([] { std::printf("atexit handler\n"); });
	tl.name = "main's";
	/* Under weft-run, threads go round the workers: not main's next. */
	std::thread([] {}).join();
	std::thread t([] {
		tl.name = "the exiting thread's";
		std::printf("exiting from a thread\n");
		std::exit(0);
	});
	t.join();		/* never returns: the process ends */
	std::printf("not reached\n");
	return 1;
}
