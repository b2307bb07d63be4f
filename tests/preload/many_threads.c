// SPDX-License-Identifier: MIT
/*
 * many_threads.c - NTHREADS threads (128 KiB stacks), each blocked in read()
 * on its own pipe, then released one by one; prints the sum of what they
 * read. Natively that is NTHREADS + 1 kernel threads; under M:N fibers it
 * should be a handful of carriers.
 *
 * With WEFT_TEST_SHOW_THREADS=1 in the environment it also prints the most
 * OS threads the process had ("Threads:" in /proc/self/status), sampled
 * once everyone has started and again while they are released. The line
 * is for run.sh to check, not part of the output it compares.
 */
#define _GNU_SOURCE
#include <sys/resource.h>
#include <unistd.h>

#include "preload.h"

#define NTHREADS	2000

static int fds[NTHREADS][2];
static pthread_barrier_t started;
static long sum;

static int os_threads(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	int n = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

static void *blocked_reader(void *arg)
{
	int i = (intptr_t)arg, v = 0;

	pthread_barrier_wait(&started);
	CHECK_EQ(read(fds[i][0], &v, sizeof(v)), sizeof(v));
	__atomic_fetch_add(&sum, v, __ATOMIC_RELAXED);
	return NULL;
}

/* Room for two fds a thread, or say why not and skip. */
static void raise_nofile(void)
{
	struct rlimit rl;
	rlim_t need = 2 * NTHREADS + 64;

	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur >= need)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		printf("SKIP: RLIMIT_NOFILE hard limit below %lu\n",
		       (unsigned long)need);
		exit(4);
	}
	rl.rlim_cur = need;
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

int main(void)
{
	static pthread_t t[NTHREADS];
	const char *show = getenv("WEFT_TEST_SHOW_THREADS");
	pthread_attr_t a;
	int most;

	preload_init();
	raise_nofile();
	CHECK_PT(pthread_attr_init(&a));
	CHECK_PT(pthread_attr_setstacksize(&a, 128 * 1024));
	CHECK_PT(pthread_barrier_init(&started, NULL, NTHREADS + 1));
	for (int i = 0; i < NTHREADS; i++) {
		CHECK_EQ(pipe(fds[i]), 0);
		CHECK_PT(pthread_create(&t[i], &a, blocked_reader,
					(void *)(intptr_t)i));
	}
	pthread_barrier_wait(&started);
	most = os_threads();
	for (int i = 0; i < NTHREADS; i++) {
		int v = i + 1, n;

		CHECK_EQ(write(fds[i][1], &v, sizeof(v)), sizeof(v));
		if (i == NTHREADS / 2 && (n = os_threads()) > most)
			most = n;
	}
	for (int i = 0; i < NTHREADS; i++) {
		join(t[i]);
		close(fds[i][0]);
		close(fds[i][1]);
	}
	printf("%d threads blocked in read, released: sum %ld\n", NTHREADS,
	       sum);
	if (show && !strcmp(show, "1"))
		printf("most OS threads: %d\n", most);
	printf("done\n");
	return 0;
}
