/* SPDX-License-Identifier: MIT */
/* Helpers shared by weft's benchmarks: one result line each, see run.sh. */
#ifndef WEFT_BENCH_H
#define WEFT_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline unsigned long long bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* argv[1] as a count, or @def. */
static inline long bench_arg(int argc, char **argv, long def)
{
	return argc > 1 ? atol(argv[1]) : def;
}

/* Resident set size in bytes, from /proc/self/statm. */
static inline long bench_rss(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * 4096;
}

/* A field of /proc/self/status (VmPTE, ...) in bytes. */
static inline long bench_status_kb(const char *field)
{
	char line[256];
	long v = 0;
	size_t n = strlen(field);
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':')
			v = atol(line + n + 1) * 1024;
	fclose(f);
	return v;
}

#endif
