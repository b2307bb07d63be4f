// SPDX-License-Identifier: MIT
/*
 * weft-stat [options] PID - a live per-worker view of a weft process.
 *
 * Reads the statistics file the process keeps when it runs with
 * WEFT_STATS=1 (weft-run --stats): sched/stats.h has the layout and the
 * sequence-count protocol. Counters are totals; this tool turns two
 * samples into rates.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sched/stats.h"

static const char usage[] =
"usage: weft-stat [options] PID\n"
"\n"
"Show what each worker of weft process PID does, like top: runnable\n"
"fibers, fibers parked on I/O, and per second: switches, steals, wakes\n"
"of sleeping workers, ring submits and completions, system calls, sleeps.\n"
"The process must keep statistics: WEFT_STATS=1, or weft-run --stats.\n"
"\n"
"options:\n"
"  -1, --once             print one sample (rates over the interval) and exit\n"
"  -i, --interval=SECS    time between samples (default 1; 0.1 to 3600)\n"
"  -n, --count=N          stop after N screens\n"
"  -h, --help             this text\n";

static const char *prog = "weft-stat";

static void die_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry '%s --help' for more information.\n", prog);
	exit(2);
}

struct map {
	const struct weft_stats_file *f;
	size_t size;
};

/* The memfd the process keeps open (stats.h), through /proc. */
static int attach(long pid, struct map *m)
{
	char dir[64], path[320], link[256];
	struct dirent *d;
	struct stat st;
	int fd = -1;
	DIR *fds;

	snprintf(dir, sizeof(dir), "/proc/%ld/fd", pid);
	fds = opendir(dir);
	if (!fds) {
		if (errno == ENOENT)
			fprintf(stderr, "%s: no process %ld\n", prog, pid);
		else
			fprintf(stderr, "%s: %s: %s (run as its user or root)\n",
				prog, dir, strerror(errno));
		return -1;
	}
	while (fd < 0 && (d = readdir(fds))) {
		ssize_t n;

		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (!strncmp(link, "/memfd:" WEFT_STATS_NAME " ",
			     sizeof("/memfd:" WEFT_STATS_NAME)))
			fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	closedir(fds);
	if (fd < 0) {
		fprintf(stderr, "%s: process %ld keeps no weft statistics (start it with WEFT_STATS=1, or weft-run --stats)\n",
			prog, pid);
		return -1;
	}
	if (fstat(fd, &st) || st.st_size < (off_t)sizeof(*m->f)) {
		fprintf(stderr, "%s: %s: not a weft statistics file\n", prog,
			path);
		close(fd);
		return -1;
	}
	m->size = st.st_size;
	m->f = mmap(NULL, m->size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (m->f == MAP_FAILED ||
	    __atomic_load_n(&m->f->magic, __ATOMIC_ACQUIRE) != WEFT_STATS_MAGIC ||
	    m->f->version != WEFT_STATS_VERSION ||
	    m->size < sizeof(*m->f) + m->f->nworkers * sizeof(m->f->w[0])) {
		fprintf(stderr, "%s: %s: not a weft statistics file of version %d\n",
			prog, path, WEFT_STATS_VERSION);
		return -1;
	}
	return 0;
}

/* A consistent copy of the file into @out (its size); false if gone. */
static bool sample(const struct map *m, struct weft_stats_file *out)
{
	for (int tries = 0; tries < 1000; tries++) {
		uint64_t s1 = __atomic_load_n(&m->f->seq, __ATOMIC_ACQUIRE);

		if (s1 & 1) {
			usleep(100);
			continue;
		}
		memcpy(out, m->f, m->size);
		/* The copy before the second look at seq. */
#ifdef __SANITIZE_THREAD__
		if (__atomic_load_n(&m->f->seq, __ATOMIC_SEQ_CST) == s1)
#else
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&m->f->seq, __ATOMIC_RELAXED) == s1)
#endif
			return true;
	}
	return false;
}

static double rate(uint64_t a, uint64_t b, double secs)
{
	return secs > 0 ? (double)(b - a) / secs : 0;
}

static void show(const struct weft_stats_file *a,
		 const struct weft_stats_file *b, bool clear)
{
	double secs = (b->time_ns - a->time_ns) / 1e9;
	struct weft_stats_worker t = { 0 }, ta = { 0 };
	uint64_t live = 0;

	if (clear)
		fputs("\033[H\033[2J", stdout);
	for (unsigned int i = 0; i < b->nworkers; i++)
		live += b->w[i].spawned - b->w[i].exited;
	printf("weft pid %llu  backend %s  workers %u  fibers %llu  stacks %llu (%.1f MiB reserved)  shared queue %llu\n",
	       (unsigned long long)b->pid, b->backend, b->nworkers,
	       (unsigned long long)live, (unsigned long long)b->stacks,
	       b->stack_bytes / 1048576.0, (unsigned long long)b->inject);
	printf("%6s %5s %6s %6s %10s %9s %9s %9s %9s %9s %9s\n", "worker",
	       "state", "runq", "io", "switch/s", "steal/s", "wake/s",
	       "submit/s", "compl/s", "sys/s", "sleep/s");
	for (unsigned int i = 0; i < b->nworkers; i++) {
		const struct weft_stats_worker *x = &a->w[i], *y = &b->w[i];

		printf("%6u %5s %6u %6u %10.0f %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f\n",
		       i, y->idle ? "sleep" : "run", y->runq, y->io_parked,
		       rate(x->switches, y->switches, secs),
		       rate(x->steals, y->steals, secs),
		       rate(x->wakes, y->wakes, secs),
		       rate(x->submits, y->submits, secs),
		       rate(x->completions, y->completions, secs),
		       rate(x->syscalls, y->syscalls, secs),
		       rate(x->sleeps, y->sleeps, secs));
#define SUM(f) (t.f += y->f, ta.f += x->f)
		SUM(switches); SUM(steals); SUM(wakes); SUM(submits);
		SUM(completions); SUM(syscalls); SUM(sleeps);
		t.runq += y->runq;
		t.io_parked += y->io_parked;
#undef SUM
	}
	printf("%6s %5s %6u %6u %10.0f %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f\n",
	       "all", "", t.runq, t.io_parked,
	       rate(ta.switches, t.switches, secs),
	       rate(ta.steals, t.steals, secs), rate(ta.wakes, t.wakes, secs),
	       rate(ta.submits, t.submits, secs),
	       rate(ta.completions, t.completions, secs),
	       rate(ta.syscalls, t.syscalls, secs),
	       rate(ta.sleeps, t.sleeps, secs));
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "once", no_argument, NULL, '1' },
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct weft_stats_file *a, *b, *tmp;
	double interval = 1;
	long pid, count = -1;
	struct map m;
	char *end;
	bool once = false;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "1i:n:h", opts, NULL)) != -1) {
		switch (c) {
		case '1':
			once = true;
			break;
		case 'i':
			interval = strtod(optarg, &end);
			if (*end || end == optarg || !(interval >= 0.1) ||
			    interval > 3600)
				die_usage("--interval=%s: expected seconds from 0.1 to 3600",
					  optarg);
			break;
		case 'n':
			count = strtol(optarg, &end, 10);
			if (*end || end == optarg || count < 1)
				die_usage("--count=%s: expected a number >= 1",
					  optarg);
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case ':':
			die_usage("option '%s' needs a value", argv[optind - 1]);
			break;
		default:
			die_usage("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		die_usage("%s", "expected one PID");
	pid = strtol(argv[optind], &end, 10);
	if (*end || end == argv[optind] || pid <= 0)
		die_usage("'%s' is not a process id", argv[optind]);
	if (attach(pid, &m))
		return 1;
	a = malloc(m.size);
	b = malloc(m.size);
	if (!a || !b || !sample(&m, a)) {
		fprintf(stderr, "%s: cannot read a sample\n", prog);
		return 1;
	}
	for (long n = 0; count < 0 || n < count; n++) {
		struct timespec ts = { (time_t)interval,
				       (long)((interval - (time_t)interval) *
					      1e9) };

		nanosleep(&ts, NULL);
		if (!sample(&m, b) || kill((pid_t)pid, 0)) {
			printf("weft pid %ld has ended\n", pid);
			return 0;
		}
		show(a, b, !once && isatty(STDOUT_FILENO));
		if (once)
			break;
		tmp = a;
		a = b;
		b = tmp;
	}
	return 0;
}
