// SPDX-License-Identifier: MIT
/*
 * handoff: syscalls per cross-worker hand-off under steady load. Runs the
 * cross-worker ping-pong of pingpong.h (two workers, one bound fiber on
 * each) and, after a warm-up of a tenth of the hand-offs, counts the
 * syscalls the whole process makes during the measured window with the
 * raw_syscalls:sys_enter tracepoint: one perf counter opened on the main
 * thread before weft_run() with inherit set, so every worker thread counts
 * into it. The count includes the one ioctl that stops it.
 *
 *   bench=handoff_syscalls ... value=syscalls/handoff syscalls=M vcsw=V
 *   bench=handoff mode=cross ... value=ns/handoff (the same window)
 *
 * vcsw= is the voluntary context switches of all threads in the window
 * (getrusage): a worker that sleeps in the kernel shows there. Without
 * the tracepoint (no tracefs, no permission) the first line is replaced
 * by a '# skip' line saying why, and the latency is still measured.
 *
 * usage: handoff_bench [N]   (N = hand-offs in the window, default 1000000)
 */
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pingpong.h"

static const char *const tracepoint_ids[2] = {
	"/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
	"/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id",
};

struct counter {
	int fd;
	unsigned long long syscalls;
	long vcsw;
	char why[160];	/* why there is no counter */
};

static long vcsw_now(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) ? 0 : ru.ru_nvcsw;
}

static int counter_stop(struct counter *c)
{
	unsigned long long v;

	if (ioctl(c->fd, PERF_EVENT_IOC_DISABLE, 0) ||
	    read(c->fd, &v, sizeof(v)) != sizeof(v))
		return -1;
	c->syscalls = v;
	return 0;
}

static void counter_start(struct counter *c)
{
	ioctl(c->fd, PERF_EVENT_IOC_RESET, 0);
	ioctl(c->fd, PERF_EVENT_IOC_ENABLE, 0);
}

/* Open the counter, disabled, and check that it sees a known syscall count. */
static int counter_open(struct counter *c)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_TRACEPOINT,
		.size = sizeof(attr),
		.disabled = 1,
		.inherit = 1,
		.exclude_hv = 1,
	};
	unsigned long long id = 0;
	const char *path = NULL;
	FILE *f;

	for (size_t i = 0; i < 2 && !path; i++) {
		f = fopen(tracepoint_ids[i], "r");
		if (!f)
			continue;
		if (fscanf(f, "%llu", &id) == 1)
			path = tracepoint_ids[i];
		fclose(f);
	}
	if (!path) {
		snprintf(c->why, sizeof(c->why),
			 "no raw_syscalls/sys_enter/id under /sys/kernel/tracing or /sys/kernel/debug/tracing (tracefs not mounted?)");
		return -1;
	}
	attr.config = id;
	c->fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1,
			PERF_FLAG_FD_CLOEXEC);
	if (c->fd < 0) {
		snprintf(c->why, sizeof(c->why),
			 "perf_event_open(raw_syscalls:sys_enter): %s",
			 strerror(errno));
		return -1;
	}
	counter_start(c);
	for (int i = 0; i < 100; i++)
		syscall(SYS_getppid);
	if (counter_stop(c) || c->syscalls < 100) {
		snprintf(c->why, sizeof(c->why),
			 "raw_syscalls:sys_enter counted %llu of 100 syscalls",
			 c->syscalls);
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}

static void window(struct pingpong *pp, bool open)
{
	struct counter *c = pp->priv;

	if (open) {
		c->vcsw = vcsw_now();
		if (c->fd >= 0)
			counter_start(c);
		return;
	}
	if (c->fd >= 0 && counter_stop(c)) {
		snprintf(c->why, sizeof(c->why), "reading the counter: %s",
			 strerror(errno));
		close(c->fd);
		c->fd = -1;
	}
	c->vcsw = vcsw_now() - c->vcsw;
}

int main(int argc, char **argv)
{
	struct counter c = { .fd = -1 };
	long n = bench_arg(argc, argv, 1000000);
	struct pingpong pp = { .cross = true, .window = window, .priv = &c };

	if (argc > 2 || n <= 0 || n > (1L << 30)) {
		fprintf(stderr, "usage: %s [N>0]\n", argv[0]);
		return 2;
	}
	pingpong_size(&pp, n);

	counter_open(&c);
	if (pingpong_run(&pp))
		return 1;
	if (c.fd >= 0)
		printf("bench=handoff_syscalls impl=weft value=%.4f unit=syscalls/handoff n=%ld syscalls=%llu vcsw=%ld workers=2\n",
		       (double)c.syscalls / pp.n, pp.n, c.syscalls, c.vcsw);
	else
		printf("# skip bench=handoff_syscalls impl=weft: skipped: %s\n", c.why);
	printf("bench=handoff mode=cross impl=weft value=%.2f unit=ns/handoff n=%ld vcsw=%ld workers=2\n",
	       (double)pp.ns / pp.n, pp.n, c.vcsw);
	return 0;
}
