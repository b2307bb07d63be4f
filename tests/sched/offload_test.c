// SPDX-License-Identifier: MIT
/*
 * The offload pool: results, many callers at once within the pool's size,
 * jobs that block on their own thread without stopping the worker,
 * deadlines, cancels and fire-and-forget (the job still runs, exactly
 * once, and never touches the caller afterwards), a full queue, threads
 * and other callers, a bad WEFT_OFFLOAD_THREADS, and no thread left once
 * weft_run() returns. On 1 and 2 workers.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <weft.h>

#include "check.h"

FIXTURE(offload) {
	int unused;
};

FIXTURE_VARIANT(offload) {
	unsigned int workers;
};

FIXTURE_VARIANT_ADD(offload, w1) { .workers = 1 };
FIXTURE_VARIANT_ADD(offload, w2) { .workers = 2 };

FIXTURE_SETUP(offload) {}
FIXTURE_TEARDOWN(offload) {}

#define RUN(workers, fn, arg) do {					\
	ASSERT_EQ(run_on(workers, fn, arg), 0);				\
	ASSERT_CHECKS();						\
} while (0)

#define SENTINEL	((void *)0x5e47)

/* Each test runs in its own process: these start zeroed every time. */
static int pfd[2];			/* a pipe blocking jobs read */
static struct weft_sem started;		/* a blocking job began */
static struct weft_sem finished;	/* a blocking job returned */
static long ndone;			/* jobs that ran to the end */
static int running, max_running;	/* jobs running at once */

static unsigned int count_tasks(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	unsigned int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void *nothing(void *arg)
{
	return arg;
}

/*
 * The process's threads before a runtime: after one thread has come and
 * gone, so that a sanitizer's own helper thread is already counted.
 */
static unsigned int tasks_at_rest(void)
{
	pthread_t t;

	if (!pthread_create(&t, NULL, nothing, NULL))
		pthread_join(t, NULL);
	return count_tasks();
}

static void make_pipe(void)
{
	CHECK_EQ(pipe(pfd), 0);
}

static void *square(void *arg)
{
	long x = (long)arg;

	return (void *)(x * x);
}

static void *tid_of(void *arg)
{
	(void)arg;
	return (void *)(long)gettid();
}

/* Read one byte from the pipe, blocking its thread; the byte's value. */
static void *block_on_pipe(void *arg)
{
	unsigned char c = 0;

	(void)arg;
	CHECK_EQ(weft_sem_post(&started), 0);	/* from a plain thread */
	CHECK_EQ(read(pfd[0], &c, 1), 1);
	__atomic_fetch_add(&ndone, 1, __ATOMIC_SEQ_CST);
	CHECK_EQ(weft_sem_post(&finished), 0);
	return (void *)(long)c;
}

static void *count_job(void *arg)
{
	(void)arg;
	__atomic_fetch_add(&ndone, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void release_pipe(unsigned char c)
{
	CHECK_EQ(write(pfd[1], &c, 1), 1);
}

/* ---- results ---- */

static void *results(void *arg)
{
	void *r = SENTINEL;

	(void)arg;
	for (long i = 0; i < 100; i++) {
		CHECK_EQ(weft_offload(square, (void *)i, &r), 0);
		CHECK_EQ((long)r, i * i);
	}
	CHECK_EQ(weft_offload_until(square, (void *)7L, &r, WEFT_FOREVER), 0);
	CHECK_EQ((long)r, 49);
	CHECK_EQ(weft_offload_until(square, (void *)8L, &r, after_ms(10000)),
		 0);
	CHECK_EQ((long)r, 64);
	CHECK_EQ(weft_offload(count_job, NULL, NULL), 0);	/* no result */
	CHECK_EQ(__atomic_load_n(&ndone, __ATOMIC_SEQ_CST), 1);
	r = SENTINEL;
	CHECK_EQ(weft_offload(NULL, NULL, &r), -EINVAL);
	CHECK_EQ(weft_offload_until(NULL, NULL, &r, 0), -EINVAL);
	CHECK(r == SENTINEL);
	/* It ran on another thread. */
	CHECK_EQ(weft_offload(tid_of, NULL, &r), 0);
	CHECK((long)r != gettid());
	return NULL;
}

TEST_F(offload, results)
{
	RUN(variant->workers, results, NULL);
}

/* ---- many callers at once ---- */

#define MANY	1000

static void *counted_square(void *arg)
{
	int now = __atomic_add_fetch(&running, 1, __ATOMIC_SEQ_CST);
	int max = __atomic_load_n(&max_running, __ATOMIC_RELAXED);

	while (now > max &&
	       !__atomic_compare_exchange_n(&max_running, &max, now, false,
					    __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
	sched_yield();		/* let the others pile up */
	__atomic_sub_fetch(&running, 1, __ATOMIC_SEQ_CST);
	return square(arg);
}

static void *one_caller(void *arg)
{
	long i = (long)arg;
	void *r = SENTINEL;

	CHECK_EQ(weft_offload(counted_square, (void *)i, &r), 0);
	CHECK_EQ((long)r, i * i);
	CHECK_EQ(weft_offload(tid_of, NULL, &r), 0);
	CHECK((long)r != gettid());
	return NULL;
}

static void *many(void *arg)
{
	static uint64_t fids[MANY];

	(void)arg;
	for (long i = 0; i < MANY; i++)
		fids[i] = go(one_caller, (void *)i);
	for (long i = 0; i < MANY; i++)
		join(fids[i]);
	return NULL;
}

TEST_F(offload, many_callers_within_the_pool)
{
	setenv("WEFT_OFFLOAD_THREADS", "4", 1);
	RUN(variant->workers, many, NULL);
	ASSERT_LE(max_running, 4);
	ASSERT_GE(max_running, 1);
}

/* ---- a job that blocks does not block the worker ---- */

static void *reader(void *arg)
{
	void *r = SENTINEL;

	(void)arg;
	CHECK_EQ(weft_offload(block_on_pipe, NULL, &r), 0);
	CHECK_EQ((long)r, 'x');
	return NULL;
}

static void *blocking(void *arg)
{
	uint64_t a;

	(void)arg;
	make_pipe();
	a = go(reader, NULL);
	/*
	 * The job blocks in read() until this fiber writes: on one worker
	 * the reader shares our thread, so we run only because it parked.
	 */
	CHECK_EQ(weft_sem_wait(&started), 0);
	release_pipe('x');
	join(a);
	CHECK_EQ(ndone, 1);
	return NULL;
}

TEST_F(offload, blocking_job_leaves_the_worker_free)
{
	RUN(variant->workers, blocking, NULL);
}

/* ---- deadlines, cancels, fire and forget ---- */

static void *churn(void *arg)
{
	char buf[4096];

	memset(buf, 0xa5, sizeof(buf));		/* scribble on a stack */
	weft_yield();
	return (void *)(long)buf[(long)arg];
}

/* Fibers that reuse stacks, the abandoned caller's among them. */
static void reuse_stacks(void)
{
	for (long i = 0; i < 16; i++)
		join(go(churn, (void *)i));
}

static void *timeout_caller(void *arg)
{
	void *r = SENTINEL;

	(void)arg;
	CHECK_EQ(weft_offload_until(block_on_pipe, NULL, &r, after_ms(20)),
		 -ETIMEDOUT);
	CHECK(r == SENTINEL);
	return NULL;
}

static void *deadline(void *arg)
{
	(void)arg;
	make_pipe();
	join(go(timeout_caller, NULL));
	reuse_stacks();
	/* The job goes on after its caller left, and ends cleanly. */
	CHECK_EQ(__atomic_load_n(&ndone, __ATOMIC_SEQ_CST), 0);
	release_pipe('d');
	CHECK_EQ(weft_sem_wait(&finished), 0);
	CHECK_EQ(__atomic_load_n(&ndone, __ATOMIC_SEQ_CST), 1);
	reuse_stacks();
	return NULL;
}

TEST_F(offload, deadline_leaves_the_job_running)
{
	RUN(variant->workers, deadline, NULL);
	ASSERT_EQ(ndone, 1);
}

static void *cancel_caller(void *arg)
{
	void *r = SENTINEL;

	(void)arg;
	CHECK_EQ(weft_offload(block_on_pipe, NULL, &r), -ECANCELED);
	CHECK(r == SENTINEL);
	return NULL;
}

static void *cancel(void *arg)
{
	uint64_t a;

	(void)arg;
	make_pipe();
	a = go(cancel_caller, NULL);
	CHECK_EQ(weft_sem_wait(&started), 0);
	CHECK_EQ(weft_cancel(a), 0);
	join(a);
	reuse_stacks();
	release_pipe('c');
	CHECK_EQ(weft_sem_wait(&finished), 0);
	CHECK_EQ(__atomic_load_n(&ndone, __ATOMIC_SEQ_CST), 1);
	return NULL;
}

TEST_F(offload, cancel_leaves_the_job_running)
{
	RUN(variant->workers, cancel, NULL);
	ASSERT_EQ(ndone, 1);
}

#define FORGET	100

static void *forget(void *arg)
{
	void *r = SENTINEL;

	(void)arg;
	/* A past deadline queues the job and does not wait for it. */
	for (int i = 0; i < FORGET; i++)
		CHECK_EQ(weft_offload_until(count_job, NULL, &r, 0),
			 -ETIMEDOUT);
	/* A cancel already pending: the same. */
	CHECK_EQ(weft_cancel(weft_self()), 0);
	CHECK_EQ(weft_offload(count_job, NULL, &r), -ECANCELED);
	CHECK(r == SENTINEL);
	/* One thread, FIFO: this one runs after those queued before it. */
	CHECK_EQ(weft_offload(count_job, NULL, NULL), 0);
	CHECK_EQ(__atomic_load_n(&ndone, __ATOMIC_SEQ_CST), FORGET + 2);
	return NULL;
}

TEST_F(offload, past_deadline_still_runs_the_job_once)
{
	setenv("WEFT_OFFLOAD_THREADS", "1", 1);
	RUN(variant->workers, forget, NULL);
	/* weft_run() returned: every accepted job has run, once. */
	ASSERT_EQ(ndone, FORGET + 2);
}

/* ---- a full queue ---- */

static void *full(void *arg)
{
	uint64_t a;
	int ret, n = 0;

	(void)arg;
	make_pipe();
	a = go(reader, NULL);
	/* The one thread is stuck in the reader's job: the rest queue. */
	CHECK_EQ(weft_sem_wait(&started), 0);
	while ((ret = weft_offload_until(count_job, NULL, NULL, 0)) ==
	       -ETIMEDOUT)
		n++;
	CHECK_EQ(ret, -EAGAIN);
	CHECK_EQ(n, WEFT_OFFLOAD_QUEUE_MAX);
	CHECK_EQ(weft_offload_until(count_job, NULL, NULL, WEFT_FOREVER),
		 -EAGAIN);
	CHECK_EQ(__atomic_load_n(&ndone, __ATOMIC_SEQ_CST), 0);
	release_pipe('x');
	join(a);
	/* Room again once the thread takes the next job. */
	while ((ret = weft_offload(count_job, NULL, NULL)) == -EAGAIN)
		weft_yield();
	CHECK_EQ(ret, 0);
	CHECK_EQ(__atomic_load_n(&ndone, __ATOMIC_SEQ_CST),
		 WEFT_OFFLOAD_QUEUE_MAX + 2);
	return NULL;
}

TEST_F(offload, full_queue_says_eagain)
{
	setenv("WEFT_OFFLOAD_THREADS", "1", 1);
	RUN(variant->workers, full, NULL);
}

/* ---- callers that are not fibers ---- */

static int thread_done;

static void *nested(void *arg)
{
	void *r = SENTINEL;

	/* On a pool thread: runs inline. */
	CHECK_EQ(weft_offload(tid_of, NULL, &r), 0);
	CHECK_EQ((long)r, gettid());
	return arg;
}

static void *plain_thread(void *arg)
{
	void *r = SENTINEL;

	(void)arg;
	CHECK_EQ(weft_offload_until(tid_of, NULL, &r, 1), 0);
	CHECK_EQ((long)r, gettid());
	CHECK_EQ(weft_offload(NULL, NULL, &r), -EINVAL);
	__atomic_store_n(&thread_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *not_fibers(void *arg)
{
	void *r = NULL;

	(void)arg;
	thread_join(thread_go(plain_thread, NULL), &thread_done);
	CHECK_EQ(weft_offload(nested, SENTINEL, &r), 0);
	CHECK(r == SENTINEL);
	return NULL;
}

TEST_F(offload, threads_run_the_call_themselves)
{
	void *r = SENTINEL;

	/* Outside any runtime too. */
	ASSERT_EQ(weft_offload(tid_of, NULL, &r), 0);
	ASSERT_EQ((long)r, gettid());
	RUN(variant->workers, not_fibers, NULL);
}

/* ---- threads: bounded, gone when idle and when the runtime ends ---- */

static unsigned int tasks_before;

static void *hold_job(void *arg)
{
	(void)arg;
	CHECK_EQ(weft_sem_post(&started), 0);
	CHECK_EQ(weft_sem_wait(&finished), 0);	/* until all have started */
	return NULL;
}

static void *hold_caller(void *arg)
{
	(void)arg;
	CHECK_EQ(weft_offload(hold_job, NULL, NULL), 0);
	return NULL;
}

#define HOLD	2

static void *idle_exit(void *arg)
{
	unsigned int base = count_tasks(), peak;
	uint64_t fids[HOLD], give_up;
	int i;

	(void)arg;
	for (i = 0; i < HOLD; i++)
		fids[i] = go(hold_caller, NULL);
	for (i = 0; i < HOLD; i++)
		CHECK_EQ(weft_sem_wait(&started), 0);
	peak = count_tasks();
	CHECK_EQ(peak, base + HOLD);	/* one thread per job at once */
	for (i = 0; i < HOLD; i++)
		CHECK_EQ(weft_sem_post(&finished), 0);
	for (i = 0; i < HOLD; i++)
		join(fids[i]);
	/* Idle threads leave after a second. */
	give_up = after_ms(10000);
	while (count_tasks() > base && weft_now_ns() < give_up)
		weft_sleep_ns(10000000);
	CHECK_EQ(count_tasks(), base);
	return NULL;
}

TEST_F(offload, idle_threads_exit)
{
	setenv("WEFT_OFFLOAD_THREADS", "2", 1);
	RUN(variant->workers, idle_exit, NULL);
}

static void *leftovers(void *arg)
{
	uint64_t fids[8];
	int i;

	(void)arg;
	make_pipe();
	/* An abandoned job, still blocked when this fiber returns. */
	join(go(timeout_caller, NULL));
	for (i = 0; i < 8; i++)
		fids[i] = go(hold_caller, NULL);
	for (i = 0; i < 3; i++)		/* the pool's other 3 threads */
		CHECK_EQ(weft_sem_wait(&started), 0);
	CHECK(count_tasks() <= tasks_before + (unsigned int)weft_workers() +
			       1 + 4);	/* workers, monitor, pool */
	for (i = 0; i < 8; i++)
		CHECK_EQ(weft_sem_post(&finished), 0);
	for (i = 0; i < 8; i++)
		join(fids[i]);
	/* Still queued behind the others, or running: either is fine. */
	for (i = 0; i < FORGET; i++)
		CHECK_EQ(weft_offload_until(count_job, NULL, NULL, 0),
			 -ETIMEDOUT);
	release_pipe('l');
	return NULL;
}

TEST_F(offload, no_thread_outlives_the_runtime)
{
	setenv("WEFT_OFFLOAD_THREADS", "4", 1);
	tasks_before = tasks_at_rest();
	RUN(variant->workers, leftovers, NULL);
	ASSERT_EQ(count_tasks(), tasks_before);
	ASSERT_EQ(ndone, FORGET + 1);
	/* A second runtime gets a fresh pool. */
	ndone = 0;
	RUN(variant->workers, results, NULL);
	ASSERT_EQ(count_tasks(), tasks_before);
}

/* A fiber left parked by weft_shutdown(): its job must not ready it. */
static int main_left;

static void *until_main_left(void *arg)
{
	(void)arg;
	CHECK_EQ(weft_sem_post(&started), 0);
	while (!__atomic_load_n(&main_left, __ATOMIC_ACQUIRE))
		sched_yield();
	return NULL;
}

static void *abandoned(void *arg)
{
	(void)arg;
	/* Readied only if the job beat the runtime's end; never after. */
	CHECK_EQ(weft_offload(until_main_left, NULL, NULL), 0);
	return NULL;
}

static void *shut_down(void *arg)
{
	(void)arg;
	CHECK_EQ(weft_detach(go(abandoned, NULL)), 0);
	CHECK_EQ(weft_sem_wait(&started), 0);
	CHECK_EQ(weft_shutdown(), 0);
	__atomic_store_n(&main_left, 1, __ATOMIC_RELEASE);
	return NULL;
}

TEST_F(offload, shutdown_with_a_caller_parked)
{
	tasks_before = tasks_at_rest();
	RUN(variant->workers, shut_down, NULL);
	ASSERT_EQ(count_tasks(), tasks_before);
}

/* ---- the deadlock check still works ---- */

static void *wait_on(void *arg)
{
	return (void *)(long)weft_join(*(uint64_t *)arg, NULL);
}

/* Offload, so an idle pool thread is left, then deadlock. */
static void *deadlocked(void *arg)
{
	static uint64_t self, a;
	void *r = NULL;

	(void)arg;
	weft_offload(square, (void *)3L, &r);
	if ((long)r != 9)
		exit(1);
	self = weft_self();
	weft_spawn(&a, NULL, wait_on, &self);
	weft_join(a, NULL);
	return NULL;
}

static void deadlock_child(void *arg)
{
	(void)arg;
	exit(run_on(1, deadlocked, NULL) ? 2 : 3);
}

TEST(deadlock_after_offload_is_reported)
{
	char out[4096];
	int status;

#ifdef __SANITIZE_THREAD__
	SKIP(return, "TSan runs a thread of its own");
#endif
	ASSERT_EQ(harness_run_child(deadlock_child, NULL, out, sizeof(out),
				    &status), 0);
	ASSERT_TRUE(WIFSIGNALED(status)) TH_LOG("%s", out);
	ASSERT_EQ(WTERMSIG(status), SIGABRT);
	ASSERT_NE_NULL(strstr(out, "weft: deadlock: 2 fibers are parked"));
}

/* ---- WEFT_OFFLOAD_THREADS ---- */

static void *offload_twice(void *arg)
{
	int ret = weft_offload(square, arg, NULL);

	CHECK_EQ(weft_offload(square, NULL, NULL), ret);	/* no 2nd line */
	return (void *)(long)ret;
}

static void run_with(void *arg)
{
	void *r = NULL;
	int ret;

	setenv("WEFT_OFFLOAD_THREADS", arg, 1);
	ret = weft_run(NULL, offload_twice, NULL, &r);
	exit(ret ? -ret : -(int)(long)r);
}

TEST(bad_offload_threads_names_the_variable)
{
	static const char *const bad[] = { "0", "257", "four", "-1", "4k" };
	char out[1024], want[128];
	int status;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_EQ(harness_run_child(run_with, (void *)bad[i], out,
					    sizeof(out), &status), 0);
		TH_LOG("WEFT_OFFLOAD_THREADS=%s: %s", bad[i], out);
		ASSERT_TRUE(WIFEXITED(status));
		ASSERT_EQ(WEXITSTATUS(status), EINVAL);
		snprintf(want, sizeof(want),
			 "weft: WEFT_OFFLOAD_THREADS=\"%s\" is not valid: expected a whole number from 1 to 256\n",
			 bad[i]);
		ASSERT_STREQ(out, want);	/* exactly one line */
	}
	ASSERT_EQ(harness_run_child(run_with, (void *)"256", out, sizeof(out),
				    &status), 0);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	ASSERT_STREQ(out, "");
}

TEST_HARNESS_MAIN
