// SPDX-License-Identifier: MIT
/*
 * echo_client: the load and the meter of the echo benchmark. Plain C, one
 * thread, level-triggered epoll; it uses nothing of weft, so every server
 * (weft's bench/echo_server, the peers in bench/peers/echo_*) faces the
 * same client. bench/echo.sh starts a server and runs this against it.
 *
 * CONNS connections to 127.0.0.1:PORT each run a closed loop: send
 * MSG_BYTES, wait for all of them to come back (checked byte by byte: the
 * pattern depends on the connection and the request number), send the
 * next. After a warm-up of WARM_NS the requests completed in SECONDS are
 * counted. With -p PID the server's costs over the same window are
 * measured too:
 *
 *   cpu:      utime + stime of the whole process, /proc/PID/stat (clock
 *             ticks, all threads, live and exited)
 *   syscalls: the raw_syscalls:sys_enter tracepoint, one perf counter per
 *             thread the server has before the first connection, with
 *             inherit set, so the threads it creates later (a thread per
 *             connection, Go's Ms) count into them
 *
 * With -m also its memory and threads, from connecting to the end:
 *
 *   rss:      VmHWM of /proc/PID/status at the end, the peak RSS
 *   threads:  the peak of Threads: in /proc/PID/status, sampled every
 *             SAMPLE_NS while connecting and running
 *   kstack:   the growth of KernelStack in /proc/meminfo (a thread's
 *             kernel stack, 16 KiB on x86-64 and arm64, which RSS does not
 *             show), its peak over those samples less the value before the
 *             first connection, or less -k KIB, measured before the server
 *             started so that its own threads count too. The counter is
 *             the whole machine's: other work on it adds noise.
 *   mem:      rss + kstack, the memory the server costs
 *
 * Output, one measurement per line (n= is CONNS, the size run.sh keys on):
 *
 *   bench=echo impl=I value=REQ_PER_S unit=req/s n=C conns=C ...
 *       cpu_us_per_req=X syscalls_per_req=Y
 *   bench=echo_cpu impl=I value=X unit=us/req n=C ...
 *   bench=echo_syscalls impl=I value=Y unit=syscalls/req n=C ...
 *   bench=echo_rss impl=I value=KIB unit=KiB n=C ...             (-m)
 *   bench=echo_threads impl=I value=T unit=threads n=C ...       (-m)
 *   bench=echo_kstack impl=I value=KIB unit=KiB n=C ...          (-m)
 *   bench=echo_mem impl=I value=KIB unit=KiB n=C ...             (-m)
 *
 * The lines after the first repeat its keys as values of their own, so
 * that run.sh takes their medians and ratios. A cost that cannot be
 * measured is "na" (-1 for -m's) on the first line, and its own line
 * becomes a '# skip' line saying why. -b NAME names the bench instead of
 * "echo" (NAME, NAME_cpu, ...).
 * If CONNS descriptors (plus some slack) exceed the RLIMIT_NOFILE hard
 * limit, the one output line is a '# skip' line and the exit status 0.
 *
 * usage: echo_client [-p PID] [-m [-k KIB]] [-b NAME] PORT CONNS SECONDS
 *                    [MSG_BYTES [IMPL]]
 *        (MSG_BYTES default 64, IMPL default "unknown")
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <dirent.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"

#define WARM_NS		500000000ULL	/* warm-up before the window */
#define STALL_NS	5000000000ULL	/* no echo at all for this long: fail */
#define FD_SLACK	64		/* descriptors besides the connections */
#define MAX_COUNTERS	256		/* server threads at attach time */
#define MAX_MSG		(1 << 20)
#define SAMPLE_NS	10000000ULL	/* -m: threads and KernelStack */

struct conn {
	int fd;
	unsigned int idx;
	unsigned int seq;	/* request number on this connection */
	unsigned int sent;	/* bytes of this request written */
	unsigned int got;	/* bytes of its echo read and checked */
	bool want_out;		/* EPOLLOUT registered: a write is pending */
};

/* The server's syscall counters: one per thread it had when we attached. */
struct counters {
	int fd[MAX_COUNTERS];
	int n;
	unsigned long long syscalls;
	char why[200];		/* why there is no count */
};

/* -m: the server's memory and threads, in KiB and threads; -1 unknown. */
struct memory {
	int pid;
	long threads;		/* peak of Threads: */
	long kstack0;		/* KernelStack before */
	long kstack;		/* peak of KernelStack */
	long hwm;		/* VmHWM at the end */
	unsigned long long next_ns;	/* the next sample */
};

static const char *const tracepoint_ids[2] = {
	"/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
	"/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id",
};

static unsigned int msg_bytes = 64;
static unsigned char *scratch;

static void die(const char *what)
{
	fprintf(stderr, "echo_client: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Byte @i of request @seq on connection @idx. */
static unsigned char pattern(unsigned int idx, unsigned int seq, unsigned int i)
{
	return (unsigned char)(i * 131u + seq * 7u + idx * 13u + (i >> 8));
}

/* ---- the server's costs --------------------------------------------------- */

/* utime + stime of process @pid in clock ticks, or -1. */
static long long proc_ticks(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return -1;
	buf[len] = '\0';
	p = strrchr(buf, ')');	/* comm may hold spaces and parentheses */
	/* after "pid (comm)": state is field 3, utime 14, stime 15 */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &ut, &st) != 2)
		return -1;
	return (long long)(ut + st);
}

static int tracepoint_id(unsigned long long *id)
{
	for (size_t i = 0; i < 2; i++) {
		FILE *f = fopen(tracepoint_ids[i], "r");
		int ok;

		if (!f)
			continue;
		ok = fscanf(f, "%llu", id) == 1;
		fclose(f);
		if (ok)
			return 0;
	}
	return -1;
}

/* ---- the server's memory (-m) ------------------------------------------- */

/* The number after "FIELD:" in /proc file @path (kB or a count), or -1. */
static long proc_field(const char *path, const char *field)
{
	char buf[4096], *p;
	size_t n = strlen(field);
	ssize_t len;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return -1;
	buf[len] = '\0';
	for (p = buf; p; p = strchr(p, '\n')) {
		p += *p == '\n';
		if (!strncmp(p, field, n) && p[n] == ':')
			return atol(p + n + 1);
	}
	return -1;
}

static long max_known(long a, long b)
{
	return a < 0 ? b : b < 0 ? a : a > b ? a : b;
}

/* Take a sample of the peaks if the time for one has come (now = 0: now). */
static void memory_sample(struct memory *m, unsigned long long now)
{
	char path[64];

	if (!m->pid || (now && now < m->next_ns))
		return;
	snprintf(path, sizeof(path), "/proc/%d/status", m->pid);
	m->threads = max_known(m->threads, proc_field(path, "Threads"));
	m->kstack = max_known(m->kstack, proc_field("/proc/meminfo", "KernelStack"));
	m->next_ns = bench_now_ns() + SAMPLE_NS;
}

static void memory_end(struct memory *m)
{
	char path[64];

	memory_sample(m, 0);
	snprintf(path, sizeof(path), "/proc/%d/status", m->pid);
	m->hwm = proc_field(path, "VmHWM");
}

/* The growth of KernelStack (never below 0: it is the machine's), or -1. */
static long memory_kstack(const struct memory *m)
{
	if (m->kstack < 0 || m->kstack0 < 0)
		return -1;
	return m->kstack > m->kstack0 ? m->kstack - m->kstack0 : 0;
}

/* The memory lines; a value that could not be read becomes a '# skip'. */
static void memory_print(const struct memory *m, const char *bench,
			 const char *impl, long conns)
{
	long ks = memory_kstack(m);

	if (m->hwm >= 0)
		printf("bench=%s_rss impl=%s value=%ld unit=KiB n=%ld conns=%ld\n",
		       bench, impl, m->hwm, conns, conns);
	else
		printf("# skip bench=%s_rss impl=%s conns=%ld: no VmHWM in /proc/%d/status\n",
		       bench, impl, conns, m->pid);
	if (m->threads >= 0)
		printf("bench=%s_threads impl=%s value=%ld unit=threads n=%ld conns=%ld\n",
		       bench, impl, m->threads, conns, conns);
	else
		printf("# skip bench=%s_threads impl=%s conns=%ld: no Threads in /proc/%d/status\n",
		       bench, impl, conns, m->pid);
	if (ks < 0) {
		printf("# skip bench=%s_kstack impl=%s conns=%ld: no KernelStack in /proc/meminfo\n",
		       bench, impl, conns);
		return;
	}
	printf("bench=%s_kstack impl=%s value=%ld unit=KiB n=%ld conns=%ld kstack_before_kib=%ld kstack_peak_kib=%ld\n",
	       bench, impl, ks, conns, conns, m->kstack0, m->kstack);
	if (m->hwm >= 0)
		printf("bench=%s_mem impl=%s value=%ld unit=KiB n=%ld conns=%ld rss_kib=%ld kstack_kib=%ld\n",
		       bench, impl, m->hwm + ks, conns, conns, m->hwm, ks);
}

static void counters_close(struct counters *c)
{
	for (int i = 0; i < c->n; i++)
		close(c->fd[i]);
	c->n = 0;
}

/*
 * A disabled sys_enter counter on every thread of @pid, inherited by the
 * threads they create from now on. Sets c->why and leaves c->n 0 on failure.
 */
static void counters_open(struct counters *c, int pid)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_TRACEPOINT,
		.size = sizeof(attr),
		.disabled = 1,
		.inherit = 1,
		.exclude_hv = 1,
	};
	struct dirent *d;
	char path[64];
	DIR *dir;

	if (tracepoint_id(&attr.config)) {
		snprintf(c->why, sizeof(c->why),
			 "no raw_syscalls/sys_enter/id under /sys/kernel/tracing or /sys/kernel/debug/tracing (tracefs not mounted?)");
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = opendir(path);
	if (!dir) {
		snprintf(c->why, sizeof(c->why), "%s: %s", path,
			 strerror(errno));
		return;
	}
	while ((d = readdir(dir))) {
		int tid = atoi(d->d_name), fd;

		if (tid <= 0)
			continue;
		if (c->n == MAX_COUNTERS) {
			snprintf(c->why, sizeof(c->why),
				 "server has more than %d threads", MAX_COUNTERS);
			goto out_fail;
		}
		fd = syscall(SYS_perf_event_open, &attr, tid, -1, -1,
			     PERF_FLAG_FD_CLOEXEC);
		if (fd < 0 && errno == ESRCH)
			continue;	/* the thread exited meanwhile */
		if (fd < 0) {
			snprintf(c->why, sizeof(c->why),
				 "perf_event_open(raw_syscalls:sys_enter, tid %d): %s",
				 tid, strerror(errno));
			goto out_fail;
		}
		c->fd[c->n++] = fd;
	}
	closedir(dir);
	if (!c->n)
		snprintf(c->why, sizeof(c->why), "no threads in %s", path);
	return;
out_fail:
	closedir(dir);
	counters_close(c);
}

static void counters_enable(struct counters *c, bool on)
{
	for (int i = 0; i < c->n; i++) {
		if (on)
			ioctl(c->fd[i], PERF_EVENT_IOC_RESET, 0);
		ioctl(c->fd[i], on ? PERF_EVENT_IOC_ENABLE :
				     PERF_EVENT_IOC_DISABLE, 0);
	}
}

/* Sum the counters (an inherited counter's read includes its children). */
static void counters_read(struct counters *c)
{
	c->syscalls = 0;
	for (int i = 0; i < c->n; i++) {
		unsigned long long v;

		if (read(c->fd[i], &v, sizeof(v)) != sizeof(v)) {
			snprintf(c->why, sizeof(c->why),
				 "reading a counter: %s", strerror(errno));
			counters_close(c);
			return;
		}
		c->syscalls += v;
	}
}

/* ---- the load ------------------------------------------------------------- */

static void set_events(int ep, struct conn *c, bool out)
{
	struct epoll_event ev = {
		.events = EPOLLIN | (out ? EPOLLOUT : 0),
		.data.ptr = c,
	};

	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev))
		die("epoll_ctl");
	c->want_out = out;
}

/* Write what is left of the current request. */
static void conn_send(int ep, struct conn *c)
{
	while (c->sent < msg_bytes) {
		ssize_t w;

		for (unsigned int i = c->sent; i < msg_bytes; i++)
			scratch[i - c->sent] = pattern(c->idx, c->seq, i);
		w = write(c->fd, scratch, msg_bytes - c->sent);
		if (w < 0 && errno == EAGAIN)
			break;
		if (w <= 0)
			die("write");
		c->sent += w;
	}
	if ((c->sent < msg_bytes) != c->want_out)
		set_events(ep, c, c->sent < msg_bytes);
}

/* Read and check what has come back; true when the request is complete. */
static bool conn_recv(struct conn *c)
{
	/* nothing is owed: read one byte, to see an EOF or stray bytes */
	ssize_t r = read(c->fd, scratch, c->sent > c->got ? c->sent - c->got : 1);

	if (r < 0 && errno == EAGAIN)
		return false;
	if (r < 0)
		die("read");
	if (r == 0) {
		fprintf(stderr, "echo_client: connection %u closed by the server\n",
			c->idx);
		exit(1);
	}
	if (c->got + r > c->sent) {
		fprintf(stderr, "echo_client: connection %u: echoed more than was sent\n",
			c->idx);
		exit(1);
	}
	for (ssize_t i = 0; i < r; i++) {
		if (scratch[i] != pattern(c->idx, c->seq, c->got + i)) {
			fprintf(stderr, "echo_client: connection %u request %u byte %u: got 0x%02x, want 0x%02x\n",
				c->idx, c->seq, (unsigned int)(c->got + i),
				scratch[i], pattern(c->idx, c->seq, c->got + i));
			exit(1);
		}
	}
	c->got += r;
	return c->got == msg_bytes;
}

static int conn_open(int ep, struct conn *c, int port)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	/* blocking connect: the server's accept loop keeps up or backlogs */
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
	    fcntl(c->fd, F_SETFL, O_NONBLOCK) ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev))
		return -1;
	return 0;
}

/* Raise RLIMIT_NOFILE to its hard limit; false if @need will not fit. */
static bool nofile_fits(long need, unsigned long long *hard)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r))
		die("getrlimit");
	*hard = r.rlim_max;
	if (r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
	return r.rlim_max == RLIM_INFINITY || (unsigned long long)need <= r.rlim_max;
}

static double cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	       ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-p SERVER_PID] [-m [-k KSTACK_KIB]] [-b BENCH] PORT CONNS SECONDS [MSG_BYTES [IMPL]]\n",
		prog);
	exit(2);
}

int main(int argc, char **argv)
{
	struct counters cnt = { .n = 0 };
	struct memory mem = { .threads = -1, .kstack0 = -1, .kstack = -1,
			      .hwm = -1 };
	unsigned long long hard, t0 = 0, t1 = 0, now, warm_end, last_done;
	unsigned long long reqs = 0;
	unsigned long long req0 = 0, req1 = 0;
	long long tick0 = -1, tick1 = -1;
	double secs, ccpu0 = 0, ccpu1 = 0, wall, rps;
	struct epoll_event *evs;
	const char *impl = "unknown", *bench = "echo";
	char cpu_s[32] = "na", sys_s[32] = "na";
	int opt, pid = 0, port, ep, nev;
	bool memory = false;
	long conns;
	struct conn *cs;

	while ((opt = getopt(argc, argv, "p:mk:b:")) != -1) {
		switch (opt) {
		case 'p':
			pid = atoi(optarg);
			break;
		case 'm':
			memory = true;
			break;
		case 'k':
			mem.kstack0 = atol(optarg);
			break;
		case 'b':
			bench = optarg;
			break;
		default:
			usage(argv[0]);
		}
	}
	argc -= optind - 1;
	argv += optind - 1;
	if (argc < 4 || argc > 6)
		usage(argv[0]);
	port = atoi(argv[1]);
	conns = atol(argv[2]);
	secs = atof(argv[3]);
	if (argc > 4)
		msg_bytes = atoi(argv[4]);
	if (argc > 5)
		impl = argv[5];
	if (port <= 0 || port > 65535 || conns <= 0 || conns > 1000000 ||
	    secs <= 0 || !msg_bytes || msg_bytes > MAX_MSG || pid < 0 ||
	    (memory && !pid))
		usage(argv[0]);

	if (!nofile_fits(conns + FD_SLACK, &hard)) {
		printf("# skip bench=%s impl=%s conns=%ld: RLIMIT_NOFILE hard limit is %llu\n",
		       bench, impl, conns, hard);
		return 0;
	}
	scratch = malloc(MAX_MSG);
	cs = calloc(conns, sizeof(*cs));
	evs = calloc(conns, sizeof(*evs));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!scratch || !cs || !evs || ep < 0)
		die("setup");

	/* before the first connection, so per-connection threads inherit */
	if (pid)
		counters_open(&cnt, pid);
	else
		snprintf(cnt.why, sizeof(cnt.why), "no server pid (-p)");
	if (memory) {
		mem.pid = pid;
		if (mem.kstack0 < 0)
			mem.kstack0 = proc_field("/proc/meminfo", "KernelStack");
		memory_sample(&mem, 0);
	}

	for (long i = 0; i < conns; i++) {
		cs[i].idx = i;
		memory_sample(&mem, bench_now_ns());
		if (conn_open(ep, &cs[i], port)) {
			fprintf(stderr, "echo_client: connection %ld of %ld: %s\n",
				i + 1, conns, strerror(errno));
			return 1;
		}
	}
	for (long i = 0; i < conns; i++)
		conn_send(ep, &cs[i]);

	now = last_done = bench_now_ns();
	warm_end = now + WARM_NS;
	for (;;) {
		nev = epoll_wait(ep, evs, conns, 100);
		if (nev < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < nev; i++) {
			struct conn *c = evs[i].data.ptr;

			if (evs[i].events & EPOLLOUT)
				conn_send(ep, c);
			if (!(evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) ||
			    !conn_recv(c))
				continue;
			reqs++;
			c->seq++;
			c->sent = c->got = 0;
			conn_send(ep, c);
		}
		now = bench_now_ns();
		memory_sample(&mem, now);
		if (nev > 0)
			last_done = now;
		else if (now - last_done > STALL_NS) {
			fprintf(stderr, "echo_client: no echo for %llu s\n",
				STALL_NS / 1000000000ULL);
			return 1;
		}
		if (!t0 && now >= warm_end) {
			tick0 = pid ? proc_ticks(pid) : -1;
			counters_enable(&cnt, true);
			ccpu0 = cpu_us();
			req0 = reqs;
			t0 = bench_now_ns();
		} else if (t0 && now >= t0 + (unsigned long long)(secs * 1e9)) {
			t1 = bench_now_ns();
			req1 = reqs;
			ccpu1 = cpu_us();
			counters_enable(&cnt, false);
			tick1 = pid ? proc_ticks(pid) : -1;
			break;
		}
	}

	reqs = req1 - req0;
	wall = (t1 - t0) / 1e9;
	rps = reqs / wall;
	if (!reqs) {
		fprintf(stderr, "echo_client: no request completed in the window\n");
		return 1;
	}
	if (cnt.n)
		counters_read(&cnt);
	if (memory)
		memory_end(&mem);
	if (tick0 >= 0 && tick1 >= 0)
		snprintf(cpu_s, sizeof(cpu_s), "%.3f",
			 (tick1 - tick0) * 1e6 / sysconf(_SC_CLK_TCK) / reqs);
	if (cnt.n)
		snprintf(sys_s, sizeof(sys_s), "%.3f",
			 (double)cnt.syscalls / reqs);

	printf("bench=%s impl=%s value=%.0f unit=req/s n=%ld conns=%ld msg=%u secs=%.2f reqs=%llu cpu_us_per_req=%s syscalls_per_req=%s client_cpu_us_per_req=%.3f",
	       bench, impl, rps, conns, conns, msg_bytes, wall, reqs, cpu_s,
	       sys_s, (ccpu1 - ccpu0) / reqs);
	if (memory)
		printf(" peak_rss_kib=%ld threads=%ld kstack_kib=%ld",
		       mem.hwm, mem.threads, memory_kstack(&mem));
	putchar('\n');
	if (tick0 >= 0 && tick1 >= 0)
		printf("bench=%s_cpu impl=%s value=%s unit=us/req n=%ld conns=%ld server_cpu_s=%.2f\n",
		       bench, impl, cpu_s, conns, conns,
		       (double)(tick1 - tick0) / sysconf(_SC_CLK_TCK));
	else
		printf("# skip bench=%s_cpu impl=%s conns=%ld: %s\n", bench,
		       impl, conns, pid ? "cannot read /proc/PID/stat of the server" :
				    "no server pid (-p)");
	if (cnt.n)
		printf("bench=%s_syscalls impl=%s value=%s unit=syscalls/req n=%ld conns=%ld syscalls=%llu counters=%d\n",
		       bench, impl, sys_s, conns, conns, cnt.syscalls, cnt.n);
	else
		printf("# skip bench=%s_syscalls impl=%s conns=%ld: %s\n",
		       bench, impl, conns, cnt.why);
	if (memory)
		memory_print(&mem, bench, impl, conns);
	return 0;
}
