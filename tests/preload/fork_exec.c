// SPDX-License-Identifier: MIT
/*
 * fork_exec.c - processes made while threads are blocked: fork() children
 * (from main and from another thread) that use threads, mutexes, condition
 * variables, sleeps and blocking pipe I/O before _exit() or exit();
 * fork+exec, vfork+exec and posix_spawn; system() and popen() in both
 * directions. Children report through pipes and exit statuses; only the
 * shell children write to stdout, after a flush.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "preload.h"

#define NBLOCKED 8

extern char **environ;

static int blocked_fd[NBLOCKED][2];

static void *blocked_reader(void *arg)
{
	int i = (intptr_t)arg;
	char c;

	return (void *)(intptr_t)read(blocked_fd[i][0], &c, 1);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int flag;
static int child_pipe[2];

static void *child_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	flag = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	return (void *)(intptr_t)write(child_pipe[1], "pipe", 4);
}

/* A child's work: a thread, a condvar, a sleep and a blocking read. */
static int child_body(void)
{
	struct timespec ts = { 0, 10 * 1000000L };
	char buf[8] = { 0 };
	pthread_t t;
	void *ret;
	int ok = 0;

	if (pipe(child_pipe) || pthread_create(&t, NULL, child_thread, NULL))
		return 0;
	pthread_mutex_lock(&mu);
	while (!flag)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	ok += read(child_pipe[0], buf, 4) == 4 && !strcmp(buf, "pipe");
	ok += !pthread_join(t, &ret) && (intptr_t)ret == 4;
	ok += !nanosleep(&ts, NULL);
	ok += !usleep(1000);
	return ok;
}

static void report_child(const char *what, int rfd, pid_t pid)
{
	char buf[64] = { 0 };
	int status;

	CHECK(read(rfd, buf, sizeof(buf) - 1) > 0);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	printf("%s: child says '%s', exit status %d\n", what, buf,
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static void fork_child(const char *what, bool use_exit, int code)
{
	char msg[64];
	int p[2];
	pid_t pid;

	CHECK_EQ(pipe(p), 0);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int n = snprintf(msg, sizeof(msg), "%d of 4 checks passed",
				 child_body());

		if (write(p[1], msg, n) != n)
			_exit(99);
		if (use_exit)
			exit(code);
		_exit(code);
	}
	close(p[1]);
	report_child(what, p[0], pid);
	close(p[0]);
}

static void *forking_thread(void *arg)
{
	(void)arg;
	fork_child("fork from a second thread, _exit", false, 3);
	return NULL;
}

static int exit_status(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_exec(void)
{
	char *argv[] = { "sh", "-c", "exit 6", NULL };
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		execlp("sh", "sh", "-c", "echo exec child; exit 4",
		       (char *)NULL);
		_exit(127);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	printf("fork+exec: exit status %d\n", exit_status(status));

	pid = vfork();
	CHECK(pid >= 0);
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", "exit 9", (char *)NULL);
		_exit(127);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	printf("vfork+exec: exit status %d\n", exit_status(status));

	CHECK_PT(posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ));
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	printf("posix_spawn: exit status %d\n", exit_status(status));
}

static void test_shell(void)
{
	char line[64] = { 0 };
	FILE *f;
	int st;

	printf("system(NULL) finds a shell: %s\n", yesno(system(NULL) != 0));
	fflush(stdout);
	st = system("echo hi from system");
	printf("system echo: exit status %d\n", exit_status(st));
	st = system("exit 3");
	printf("system exit 3: exit status %d\n", exit_status(st));

	f = popen("echo popen line; exit 2", "r");
	CHECK(f != NULL);
	CHECK(fgets(line, sizeof(line), f) != NULL);
	st = pclose(f);
	printf("popen r: read '%.*s', exit status %d\n",
	       (int)strcspn(line, "\n"), line, exit_status(st));

	fflush(stdout);
	f = popen("cat", "w");
	CHECK(f != NULL);
	fputs("through popen w and cat\n", f);
	st = pclose(f);
	printf("popen w: exit status %d\n", exit_status(st));
}

int main(void)
{
	pthread_t t[NBLOCKED], ft;
	int released = 0;

	preload_init();
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < NBLOCKED; i++) {
		CHECK_EQ(pipe(blocked_fd[i]), 0);
		t[i] = spawn(blocked_reader, (void *)(intptr_t)i);
	}

	fork_child("fork from main, _exit", false, 7);
	fork_child("fork from main, exit", true, 5);
	ft = spawn(forking_thread, NULL);
	join(ft);
	test_exec();
	test_shell();

	for (int i = 0; i < NBLOCKED; i++) {
		CHECK_EQ(write(blocked_fd[i][1], "r", 1), 1);
		released += (intptr_t)join(t[i]);
	}
	printf("threads blocked in read all along, released: %d\n", released);
	printf("done\n");
	return 0;
}
