// SPDX-License-Identifier: MIT
/*
 * Stack overflow reporting. A fiber that runs into its guard page takes
 * SIGSEGV on a stack it no longer has, so the handler runs on the worker's
 * alternate signal stack. It names the fiber and its stack size in one
 * line and aborts, so that a core exists. A fault anywhere else is not
 * ours: the previous disposition is restored and the fault retried.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../lib/log.h"
#include "internal.h"

#define ALTSTACK_SIZE	(64UL << 10)

/* Written by weft_run() before any fiber runs; read by the handler. */
static struct sigaction old_segv;

static void say_overflow(struct weft_fiber *f)
{
	char buf[160], *p = buf, *end = buf + sizeof(buf) - 1;

	p = weft_fmt_str(p, end, "weft: fiber ");
	p = weft_fmt_u64(p, f->id);
	p = weft_fmt_str(p, end, " \"");
	p = weft_fmt_str(p, end - 40, f->name);
	p = weft_fmt_str(p, end, "\" overflowed its ");
	p = weft_fmt_u64(p, weft_stack_class_size(f->cls) >> 10);
	p = weft_fmt_str(p, end, " KiB stack\n");
	if (write(STDERR_FILENO, buf, p - buf) < 0)
		return;
}

void weft__overflow(struct weft_fiber *f)
{
	say_overflow(f);
	signal(SIGABRT, SIG_DFL);
	abort();
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	unsigned int cls;
	bool in_guard;
	void *top = weft_stack_find(si->si_addr, &cls, &in_guard);

	(void)sig;
	(void)uc;
	if (top && in_guard)
		weft__overflow(fiber_of_top(top));
	/* Not a guard page: let the fault happen again under the old rules. */
	sigaction(SIGSEGV, &old_segv, NULL);
}

int weft__fault_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGSEGV, &sa, &old_segv) ? -errno : 0;
}

void weft__fault_fini(void)
{
	sigaction(SIGSEGV, &old_segv, NULL);
}

int weft__altstack_init(struct weft_worker *w)
{
	stack_t ss;
	void *p = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -ENOMEM;
	ss.ss_sp = p;
	ss.ss_size = ALTSTACK_SIZE;
	ss.ss_flags = 0;
	if (sigaltstack(&ss, &w->altstack)) {
		munmap(p, ALTSTACK_SIZE);
		return -errno;
	}
	w->altstack_mem = p;
	return 0;
}

void weft__altstack_fini(struct weft_worker *w)
{
	sigaltstack(&w->altstack, NULL);
	munmap(w->altstack_mem, ALTSTACK_SIZE);
}
