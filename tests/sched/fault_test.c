// SPDX-License-Identifier: MIT
/*
 * Faults injected from outside, each in a child process: what weft does on
 * the bad day. MADV_GUARD_INSTALL refused (seccomp) -> mprotect guards;
 * the address space exhausted while the stack arena grows (RLIMIT_AS) ->
 * spawn says -ENOMEM and the runtime goes on; RLIMIT_NOFILE exhausted ->
 * -EMFILE from I/O, and a runtime that cannot get its own fds says so,
 * leaking none; a worker thread that cannot be created (seccomp on clone3
 * and clone) -> a clear error; a storm of signals while fibers are parked
 * on I/O -> every byte arrives once.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <weft.h>

#include "harness.h"
#include "sched/check.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

/* Make system call @nr fail with @err (first argument @arg0 if >= 0). */
static int deny(long nr, long arg0, int err)
{
	struct sock_filter any[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & 0xfff)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	/* madvise: only for one advice (the third argument). */
	struct sock_filter one[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, args[2])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arg0, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & 0xfff)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = 4, .filter = any };

	if (arg0 >= 0) {
		prog.len = sizeof(one) / sizeof(one[0]);
		prog.filter = one;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return -errno;
	return 0;
}

static unsigned int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned int n = 0;

	if (!d)
		return 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Child tests report through their exit status and output. */
static void child_exit(void)
{
	if (check_nfail)
		printf("%s\n", check_msg);
	exit(check_nfail ? 1 : 0);
}

static int run_child(void (*fn)(void *), void *arg, char *out, size_t len)
{
	int status;

	if (harness_run_child(fn, arg, out, len, &status))
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status)
				 : 128 + WTERMSIG(status);
}

/* ---- MADV_GUARD_INSTALL refused ---- */

static void *yield_once(void *arg)
{
	(void)arg;
	weft_yield();
	return NULL;
}

static void *spawn_some(void *arg)
{
	uint64_t f[64];

	(void)arg;
	for (int i = 0; i < 64; i++)
		f[i] = go(yield_once, NULL);
	for (int i = 0; i < 64; i++)
		join(f[i]);
	return NULL;
}

static void guard_child(void *arg)
{
	(void)arg;
	CHECK_EQ(deny(SYS_madvise, MADV_GUARD_INSTALL, EINVAL), 0);
	setenv("WEFT_DEBUG", "1", 1);
	CHECK_EQ(run_on(2, spawn_some, NULL), 0);
	child_exit();
}

TEST(guard_madvise_refused_falls_back_to_mprotect)
{
	char out[4096];

	ASSERT_EQ(run_child(guard_child, NULL, out, sizeof(out)), 0)
		TH_LOG("%s", out);
	ASSERT_NE_NULL(strstr(out, "guard=mprotect"));
}

/* ---- the address space runs out while the arena grows ---- */

/* This process's address space in use: VmSize. */
static unsigned long long vm_size(void)
{
	unsigned long long kib = 0;
	char line[128];
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %llu kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib << 10;
}

static void *arena_full(void *arg)
{
	struct weft_attr big = { .stack_size = 64 << 20 };
	struct rlimit rl;
	uint64_t f, g;
	int r;

	(void)arg;
	/*
	 * From here, room for small things, not for one 64 MiB stack (the
	 * arena halves a reservation it cannot get, down to one stack).
	 */
	getrlimit(RLIMIT_AS, &rl);
	rl.rlim_cur = vm_size() + (32ULL << 20);
	CHECK_EQ(setrlimit(RLIMIT_AS, &rl), 0);
	/* A new class needs a fresh 1 GiB reservation: there is no room. */
	r = weft_spawn(&f, &big, yield_once, NULL);
	CHECK_EQ(r, -ENOMEM);
	/* The default class, already reserved, still works. */
	g = go(yield_once, NULL);
	join(g);
	return NULL;
}

static void arena_child(void *arg)
{
	struct rlimit rl;

	(void)arg;
	(void)rl;
	CHECK_EQ(run_on(1, arena_full, NULL), 0);
	child_exit();
}

TEST(spawn_says_enomem_when_the_arena_cannot_grow)
{
	char out[4096];

	ASSERT_EQ(run_child(arena_child, NULL, out, sizeof(out)), 0)
		TH_LOG("%s", out);
}

static void *never(void *arg);

/* ---- file descriptors run out ---- */

static int lfd;

static void *no_fds(void *arg)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int c, hog[64], n = 0, fd;

	(void)arg;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(lfd >= 0);
	CHECK_EQ(bind(lfd, (struct sockaddr *)&a, len), 0);
	CHECK_EQ(listen(lfd, 4), 0);
	CHECK_EQ(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(c >= 0);
	CHECK_EQ(weft_connect_until(c, (struct sockaddr *)&a, len,
				    WEFT_FOREVER), 0);
	/* Take every fd left. */
	while (n < 64 && (fd = dup(0)) >= 0)
		hog[n++] = fd;
	CHECK(n < 64);
	CHECK_EQ(weft_accept_until(lfd, NULL, NULL, 0, WEFT_FOREVER), -EMFILE);
	/* One back: the connection still waits, and is accepted. */
	close(hog[--n]);
	fd = weft_accept_until(lfd, NULL, NULL, 0, WEFT_FOREVER);
	CHECK(fd >= 0);
	weft_close(fd);
	while (n)
		close(hog[--n]);
	weft_close(c);
	weft_close(lfd);
	return NULL;
}

static void nofile_child(void *arg)
{
	unsigned int before;
	struct rlimit rl;

	(void)arg;
	/*
	 * Only 0, 1 and 2: an fd inherited from the shell or make would
	 * leave lower ones free below it, and the limit below would not
	 * mean "no fd at all" (the case that once closed stdin).
	 */
	CHECK_EQ(close_range(3, ~0U, 0), 0);
	before = count_fds();
	rl = (struct rlimit){ before + 24, before + 24 };
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
	CHECK_EQ(run_on(2, no_fds, NULL), 0);
	/* Nothing of the runtime's is left open. */
	CHECK_EQ(count_fds(), before);
	/*
	 * No fd to spare at all (count_fds() saw ".", ".." and its own):
	 * the runtime cannot start, says so, and leaves nothing open.
	 */
	rl.rlim_cur = before - 3;
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
	CHECK_EQ(run_on(2, never, NULL), -EMFILE);
	rl.rlim_cur = rl.rlim_max;
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
	CHECK_EQ(count_fds(), before);
	child_exit();
}

TEST(fds_run_out_emfile_and_nothing_leaks)
{
	char out[4096];

	ASSERT_EQ(run_child(nofile_child, NULL, out, sizeof(out)), 0)
		TH_LOG("%s%s", out, check_msg);
}

/* ---- a worker thread cannot be created ---- */

static void *never(void *arg)
{
	(void)arg;
	CHECK(0);		/* the first fiber must not run */
	return NULL;
}

static void thread_child(void *arg)
{
	(void)arg;
	/* glibc creates threads with clone3, then clone. */
	CHECK_EQ(deny(SYS_clone3, -1, EAGAIN), 0);
	CHECK_EQ(deny(SYS_clone, -1, EAGAIN), 0);
	CHECK_EQ(run_on(2, never, NULL), -EAGAIN);
	/* exit() would run LeakSanitizer, which needs a thread: none here. */
	if (check_nfail)
		printf("%s\n", check_msg);
	fflush(NULL);
	_exit(check_nfail ? 1 : 0);
}

TEST(a_worker_that_cannot_start_is_a_clear_error)
{
	char out[4096];

	ASSERT_EQ(run_child(thread_child, NULL, out, sizeof(out)), 0)
		TH_LOG("%s%s", out, check_msg);
	ASSERT_NE_NULL(strstr(out, "cannot start worker 1"));
}

/* ---- a signal storm while fibers wait on I/O ---- */

#define STORM_PAIRS	16
#define STORM_MSGS	2000

static int storm_fd[STORM_PAIRS][2];
static int storming;			/* atomic */
static unsigned long storm_signals;

static void on_usr1(int sig)
{
	(void)sig;
	__atomic_add_fetch(&storm_signals, 1, __ATOMIC_RELAXED);
}

static void *stormer(void *arg)
{
	pid_t pid = getpid();
	sigset_t usr1;

	(void)arg;
	/* Not to itself: the kernel prefers the sender for its own signal. */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);
	while (__atomic_load_n(&storming, __ATOMIC_RELAXED))
		kill(pid, SIGUSR1);	/* any thread, any worker */
	return NULL;
}

static void *storm_reader(void *arg)
{
	long i = (long)arg, sum = 0;
	int v;

	for (int k = 0; k < STORM_MSGS; k++) {
		CHECK_EQ(weft_read(storm_fd[i][0], &v, sizeof(v)), sizeof(v));
		sum += v;
	}
	return (void *)sum;
}

static void *storm_writer(void *arg)
{
	long i = (long)arg;

	for (int k = 0; k < STORM_MSGS; k++) {
		CHECK_EQ(weft_write(storm_fd[i][1], &k, sizeof(k)), sizeof(k));
		if (!(k & 63)) {
			/* Readers park meanwhile; go on after a signal. */
			unsigned long s0 = __atomic_load_n(&storm_signals,
							   __ATOMIC_RELAXED);

			while (__atomic_load_n(&storm_signals,
					       __ATOMIC_RELAXED) == s0)
				weft_sleep_ns(20000);
		}
	}
	return NULL;
}

static void *storm(void *arg)
{
	uint64_t r[STORM_PAIRS], w[STORM_PAIRS];
	void *sum;

	(void)arg;
	for (long i = 0; i < STORM_PAIRS; i++) {
		CHECK_EQ(pipe(storm_fd[i]), 0);
		r[i] = go(storm_reader, (void *)i);
		w[i] = go(storm_writer, (void *)i);
	}
	for (int i = 0; i < STORM_PAIRS; i++) {
		CHECK_EQ(weft_join(r[i], &sum), 0);
		CHECK_EQ((long)sum, (long)STORM_MSGS * (STORM_MSGS - 1) / 2);
		join(w[i]);
		weft_close(storm_fd[i][0]);
		weft_close(storm_fd[i][1]);
	}
	return NULL;
}

TEST(signal_storm_during_parked_io_loses_nothing)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	pthread_t t;

	sigaction(SIGUSR1, &sa, NULL);	/* no SA_RESTART */
	__atomic_store_n(&storming, 1, __ATOMIC_RELAXED);
	ASSERT_EQ(pthread_create(&t, NULL, stormer, NULL), 0);
	ASSERT_EQ(run_on(2, storm, NULL), 0);
	__atomic_store_n(&storming, 0, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	signal(SIGUSR1, SIG_DFL);
	ASSERT_CHECKS();
	TH_LOG("%lu signals", storm_signals);
	/* Every writer saw STORM_MSGS / 64 signals go by. */
	ASSERT_GE(storm_signals, STORM_MSGS / 64);
}

TEST_HARNESS_MAIN
