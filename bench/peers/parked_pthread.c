// SPDX-License-Identifier: MIT
//
// Peer benchmark "parked": memory cost of a parked OS thread.
// Reads RSS (/proc/self/statm) and KernelStack (/proc/meminfo), starts n
// threads with 64 KiB stacks that each block on a shared condition variable,
// waits until all of them have reported in (no sleeps), reads both again and
// reports the RSS growth per thread as value= and the KernelStack growth per
// thread as kstack= (an OS thread also pins a kernel stack, ~16 KiB on
// x86-64, which RSS does not show; KernelStack is system-wide, so other
// activity on the machine adds noise). Then releases and joins them.
// If pthread_create fails (e.g. EAGAIN), the figures are computed over the
// threads actually created and created=K is added.
//
// usage: parked_pthread [n]   (n = threads, default 10000)
// build: gcc -O2 -pthread parked_pthread.c -o parked_pthread

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STACK_SIZE (64 * 1024)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t started_cv = PTHREAD_COND_INITIALIZER; /* main waits */
static pthread_cond_t release_cv = PTHREAD_COND_INITIALIZER; /* threads wait */
static unsigned long started;
static int released;

static unsigned long parse_count(int argc, char **argv, unsigned long def)
{
	if (argc < 2)
		return def;
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(argv[1], &end, 10);
	if (errno != 0 || end == argv[1] || *end != '\0' || v == 0) {
		fprintf(stderr, "usage: %s [n>0]\n", argv[0]);
		exit(2);
	}
	return v;
}

static long long rss_bytes(void)
{
	long long size, resident;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f || fscanf(f, "%lld %lld", &size, &resident) != 2) {
		perror("/proc/self/statm");
		exit(1);
	}
	fclose(f);
	return resident * sysconf(_SC_PAGESIZE);
}

/* KernelStack: from /proc/meminfo in bytes, or -1 if unavailable. */
static long long kernel_stack_bytes(void)
{
	char line[256];
	long long kb = -1;
	FILE *f = fopen("/proc/meminfo", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "KernelStack: %lld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

static void *parked(void *arg)
{
	pthread_mutex_lock(&lock);
	started++;
	pthread_cond_signal(&started_cv);
	while (!released)
		pthread_cond_wait(&release_cv, &lock);
	pthread_mutex_unlock(&lock);
	return arg;
}

int main(int argc, char **argv)
{
	unsigned long n = parse_count(argc, argv, 10000);
	pthread_t *threads = calloc(n, sizeof(*threads));
	pthread_attr_t attr;
	unsigned long created = 0;
	int err = 0;

	if (!threads) {
		perror("calloc");
		return 1;
	}
	pthread_attr_init(&attr);
	err = pthread_attr_setstacksize(&attr, STACK_SIZE);
	if (err != 0) {
		fprintf(stderr, "pthread_attr_setstacksize: %s\n", strerror(err));
		return 1;
	}

	long long rss0 = rss_bytes();
	long long ks0 = kernel_stack_bytes();

	for (; created < n; created++) {
		err = pthread_create(&threads[created], &attr, parked, NULL);
		if (err != 0) {
			fprintf(stderr, "# pthread_create #%lu: %s; measuring %lu threads\n",
				created + 1, strerror(err), created);
			break;
		}
	}

	pthread_mutex_lock(&lock);
	while (started < created)
		pthread_cond_wait(&started_cv, &lock);
	pthread_mutex_unlock(&lock);

	long long rss1 = rss_bytes();
	long long ks1 = kernel_stack_bytes();

	pthread_mutex_lock(&lock);
	released = 1;
	pthread_cond_broadcast(&release_cv);
	pthread_mutex_unlock(&lock);
	for (unsigned long i = 0; i < created; i++)
		pthread_join(threads[i], NULL);
	pthread_attr_destroy(&attr);
	free(threads);

	if (created == 0) {
		fprintf(stderr, "parked_pthread: no thread could be created\n");
		return 1;
	}

	printf("# rss_before=%lld rss_after=%lld kernelstack_before=%lld kernelstack_after=%lld\n",
	       rss0, rss1, ks0, ks1);
	printf("bench=parked impl=pthread value=%.0f unit=bytes/task n=%lu stack=%d",
	       (double)(rss1 - rss0) / (double)created, n, STACK_SIZE);
	if (ks0 >= 0 && ks1 >= 0)
		printf(" kstack=%.0f", (double)(ks1 - ks0) / (double)created);
	if (created < n)
		printf(" created=%lu", created);
	printf("\n");
	return 0;
}
