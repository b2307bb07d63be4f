// SPDX-License-Identifier: MIT
//
// Peer benchmark: sequential pthread_create + pthread_join of an empty thread
// (default attributes), N times.
//
// usage: spawn_pthread [N]   (N = threads, default 20000)
// build: gcc -O2 -pthread spawn_pthread.c -o spawn_pthread

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static unsigned long long parse_count(int argc, char **argv, unsigned long long def)
{
	if (argc < 2)
		return def;
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(argv[1], &end, 10);
	if (errno != 0 || end == argv[1] || *end != '\0' || v == 0) {
		fprintf(stderr, "usage: %s [N>0]\n", argv[0]);
		exit(2);
	}
	return v;
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void *empty(void *arg)
{
	return arg;
}

int main(int argc, char **argv)
{
	unsigned long long n = parse_count(argc, argv, 20000ULL);

	double t0 = now_ns();
	for (unsigned long long i = 0; i < n; i++) {
		pthread_t t;
		int err = pthread_create(&t, NULL, empty, NULL);
		if (err != 0) {
			fprintf(stderr, "pthread_create: %s\n", strerror(err));
			return 1;
		}
		err = pthread_join(t, NULL);
		if (err != 0) {
			fprintf(stderr, "pthread_join: %s\n", strerror(err));
			return 1;
		}
	}
	double t1 = now_ns();

	printf("bench=spawn impl=pthread value=%.2f unit=ns/task n=%llu\n",
	       (t1 - t0) / (double)n, n);
	return 0;
}
