// SPDX-License-Identifier: MIT
/*
 * semaphores.c - unnamed semaphores between threads (NTHREADS waiters
 * released by posts, a bounded buffer with NTHREADS producers and
 * consumers), sem_trywait/sem_timedwait/sem_clockwait results, sem_getvalue,
 * the argument errors, and the kinds a fiber runtime must leave to the
 * kernel: a process-shared semaphore in shared memory and a named one, both
 * crossing fork().
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <semaphore.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "preload.h"

#define NTHREADS	64
#define ITEMS		4096
#define SLOTS		8
#define TIMEO_MS	100

static bool waited(int64_t t0)
{
	return ms_since(t0) >= TIMEO_MS / 2;
}

static int value(sem_t *s)
{
	int v;

	CHECK_EQ(sem_getvalue(s, &v), 0);
	return v;
}

static sem_t gate, arrived;

static void *gate_waiter(void *arg)
{
	(void)arg;
	CHECK_EQ(sem_post(&arrived), 0);
	CHECK_EQ(sem_wait(&gate), 0);
	return NULL;
}

static void test_gate(void)
{
	pthread_t t[NTHREADS];

	CHECK_EQ(sem_init(&gate, 0, 0), 0);
	CHECK_EQ(sem_init(&arrived, 0, 0), 0);
	for (int i = 0; i < NTHREADS; i++)
		t[i] = spawn(gate_waiter, NULL);
	for (int i = 0; i < NTHREADS; i++)
		CHECK_EQ(sem_wait(&arrived), 0);
	for (int i = 0; i < NTHREADS; i++)
		CHECK_EQ(sem_post(&gate), 0);
	for (int i = 0; i < NTHREADS; i++)
		join(t[i]);
	printf("%d waiters released by %d posts, value after: %d\n",
	       NTHREADS, NTHREADS, value(&gate));
	sem_destroy(&gate);
	sem_destroy(&arrived);
}

/* A bounded buffer guarded by two counting semaphores and a binary one. */
static sem_t empty, full, lock;
static int ring[SLOTS], head, tail;
static long consumed_sum;

static void *producer(void *arg)
{
	int id = (intptr_t)arg;

	for (int i = id; i < ITEMS; i += NTHREADS / 2) {
		CHECK_EQ(sem_wait(&empty), 0);
		CHECK_EQ(sem_wait(&lock), 0);
		ring[head++ % SLOTS] = i + 1;
		CHECK_EQ(sem_post(&lock), 0);
		CHECK_EQ(sem_post(&full), 0);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	long sum = 0;

	(void)arg;
	for (int i = 0; i < ITEMS / (NTHREADS / 2); i++) {
		CHECK_EQ(sem_wait(&full), 0);
		CHECK_EQ(sem_wait(&lock), 0);
		sum += ring[tail++ % SLOTS];
		CHECK_EQ(sem_post(&lock), 0);
		CHECK_EQ(sem_post(&empty), 0);
	}
	__atomic_fetch_add(&consumed_sum, sum, __ATOMIC_RELAXED);
	return NULL;
}

static void test_bounded_buffer(void)
{
	pthread_t t[NTHREADS];

	CHECK_EQ(sem_init(&empty, 0, SLOTS), 0);
	CHECK_EQ(sem_init(&full, 0, 0), 0);
	CHECK_EQ(sem_init(&lock, 0, 1), 0);
	for (int i = 0; i < NTHREADS / 2; i++) {
		t[2 * i] = spawn(consumer, NULL);
		t[2 * i + 1] = spawn(producer, (void *)(intptr_t)i);
	}
	for (int i = 0; i < NTHREADS; i++)
		join(t[i]);
	printf("bounded buffer, %d producers, %d consumers: sum %ld, "
	       "values after: empty %d full %d lock %d\n", NTHREADS / 2,
	       NTHREADS / 2, consumed_sum, value(&empty), value(&full),
	       value(&lock));
	sem_destroy(&empty);
	sem_destroy(&full);
	sem_destroy(&lock);
}

static sem_t late;

static void *late_poster(void *arg)
{
	(void)arg;
	CHECK_EQ(sem_post(&late), 0);
	return NULL;
}

static void test_timed(void)
{
	struct timespec ts;
	pthread_t t;
	sem_t s;
	int64_t t0;
	int r;

	CHECK_EQ(sem_init(&s, 0, 0), 0);
	CHECK_ERR(sem_trywait(&s), EAGAIN);
	printf("sem_trywait at 0: EAGAIN\n");
	ts = deadline_ms(CLOCK_REALTIME, TIMEO_MS);
	t0 = now_ns();
	CHECK_ERR(sem_timedwait(&s, &ts), ETIMEDOUT);
	printf("sem_timedwait at 0: ETIMEDOUT, waited: %s\n", yesno(waited(t0)));
	ts = deadline_ms(CLOCK_MONOTONIC, TIMEO_MS);
	t0 = now_ns();
	CHECK_ERR(sem_clockwait(&s, CLOCK_MONOTONIC, &ts), ETIMEDOUT);
	printf("sem_clockwait MONOTONIC at 0: ETIMEDOUT, waited: %s\n",
	       yesno(waited(t0)));
	ts = deadline_ms(CLOCK_REALTIME, TIMEO_MS);
	t0 = now_ns();
	CHECK_ERR(sem_clockwait(&s, CLOCK_REALTIME, &ts), ETIMEDOUT);
	printf("sem_clockwait REALTIME at 0: ETIMEDOUT, waited: %s\n",
	       yesno(waited(t0)));
	ts = (struct timespec){ 0, 0 };
	CHECK_ERR(sem_timedwait(&s, &ts), ETIMEDOUT);
	printf("sem_timedwait, deadline in the past: ETIMEDOUT\n");
	ts = (struct timespec){ 0, 1000000000L };
	CHECK_ERR(sem_timedwait(&s, &ts), EINVAL);
	printf("sem_timedwait tv_nsec 1e9 at 0: EINVAL\n");
	ts = deadline_ms(CLOCK_MONOTONIC, TIMEO_MS);
	CHECK_ERR(sem_clockwait(&s, CLOCK_THREAD_CPUTIME_ID, &ts), EINVAL);
	printf("sem_clockwait CLOCK_THREAD_CPUTIME_ID: EINVAL\n");

	CHECK_EQ(sem_post(&s), 0);
	CHECK_EQ(sem_post(&s), 0);
	CHECK_EQ(sem_post(&s), 0);
	printf("3 posts: value %d", value(&s));
	printf(", trywait %d", sem_trywait(&s));
	ts = deadline_ms(CLOCK_REALTIME, TIMEO_MS);
	printf(", timedwait %d", sem_timedwait(&s, &ts));
	ts = deadline_ms(CLOCK_MONOTONIC, TIMEO_MS);
	printf(", clockwait %d", sem_clockwait(&s, CLOCK_MONOTONIC, &ts));
	printf(", value %d\n", value(&s));
	sem_destroy(&s);

	CHECK_EQ(sem_init(&late, 0, 0), 0);
	t = spawn(late_poster, NULL);
	ts = deadline_ms(CLOCK_MONOTONIC, 30000);
	r = sem_clockwait(&late, CLOCK_MONOTONIC, &ts);
	printf("sem_clockwait, posted by another thread in time: %d\n", r);
	join(t);
	t = spawn(late_poster, NULL);
	ts = deadline_ms(CLOCK_REALTIME, 30000);
	r = sem_timedwait(&late, &ts);
	printf("sem_timedwait, posted by another thread in time: %d\n", r);
	join(t);
	sem_destroy(&late);

	CHECK_ERR(sem_init(&s, 0, (unsigned)SEM_VALUE_MAX + 1), EINVAL);
	CHECK_EQ(sem_init(&s, 0, SEM_VALUE_MAX), 0);
	CHECK_ERR(sem_post(&s), EOVERFLOW);
	printf("sem_init above SEM_VALUE_MAX: EINVAL; post at max: EOVERFLOW\n");
	sem_destroy(&s);
}

/* A child posts; the parent waits. Both sides block in the kernel. */
static void cross_fork(const char *what, sem_t *to_parent, sem_t *to_child)
{
	int status, r;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct timespec ts = deadline_ms(CLOCK_REALTIME, 30000);

		if (sem_timedwait(to_child, &ts))
			_exit(2);
		_exit(sem_post(to_parent) ? 3 : 0);
	}
	CHECK_EQ(sem_post(to_child), 0);
	r = sem_wait(to_parent);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	printf("%s across fork: parent's wait %d, child exit %d\n", what, r,
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static void test_process_shared(void)
{
	char name[64];
	sem_t *shm, *a, *b;

	shm = mmap(NULL, 2 * sizeof(sem_t), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(shm != MAP_FAILED);
	CHECK_EQ(sem_init(&shm[0], 1, 0), 0);
	CHECK_EQ(sem_init(&shm[1], 1, 0), 0);
	cross_fork("pshared semaphore in MAP_SHARED memory", &shm[0], &shm[1]);
	sem_destroy(&shm[0]);
	sem_destroy(&shm[1]);
	munmap(shm, 2 * sizeof(sem_t));

	snprintf(name, sizeof(name), "/weft-preload-%d-a", (int)getpid());
	a = sem_open(name, O_CREAT | O_EXCL, 0600, 0);
	CHECK(a != SEM_FAILED);
	CHECK_EQ(sem_unlink(name), 0);
	snprintf(name, sizeof(name), "/weft-preload-%d-b", (int)getpid());
	b = sem_open(name, O_CREAT | O_EXCL, 0600, 0);
	CHECK(b != SEM_FAILED);
	CHECK_EQ(sem_unlink(name), 0);
	cross_fork("named semaphore", a, b);
	printf("named semaphore value after: %d\n", value(a));
	CHECK_EQ(sem_close(a), 0);
	CHECK_EQ(sem_close(b), 0);
}

int main(void)
{
	preload_init();
	test_gate();
	test_bounded_buffer();
	test_timed();
	test_process_shared();
	printf("done\n");
	return 0;
}
