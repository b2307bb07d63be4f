/* SPDX-License-Identifier: MIT */
/*
 * Standalone check of lib/switch_aarch64.S (no test harness).
 *
 *   aarch64-linux-gnu-gcc -O2 -static -Ilib lib/switch_aarch64.S \
 *       tests/arch/switch_aarch64_check.c -o /tmp/sw && qemu-aarch64 /tmp/sw
 *
 * Prints one "ok N - what" or "not ok N - what" line per check and exits
 * non-zero if any failed.
 */
#if !defined(__aarch64__)
#error "this test is for AArch64 only"
#endif

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <unwind.h>

#include "switch.h"

_Static_assert(offsetof(struct weft_ctx, sp) == 0,
	       "switch_aarch64.S expects the saved sp at offset 0");

#define STACK_SIZE (64 * 1024)
#define PINGPONGS 1000000UL

static int failures;
static int checks;

static void check(int cond, const char *what)
{
	checks++;
	if (!cond)
		failures++;
	printf("%sok %d - %s\n", cond ? "" : "not ", checks, what);
	fflush(stdout);
}

static void *new_stack_top(void)
{
	/* Deliberately misaligned top: weft_ctx_make() must round it. */
	char *base = malloc(STACK_SIZE);

	if (!base) {
		perror("malloc");
		exit(2);
	}
	return base + STACK_SIZE - 8;
}

static uint64_t read_fpcr(void)
{
	uint64_t v;

	__asm__ volatile("mrs %0, fpcr" : "=r"(v));
	return v;
}

static void write_fpcr(uint64_t v)
{
	__asm__ volatile("msr fpcr, %0" : : "r"(v));
}

/* FPCR control bits that every implementation (and qemu) keeps. */
#define FPCR_AHP	(1UL << 26)
#define FPCR_DN		(1UL << 25)
#define FPCR_FZ		(1UL << 24)
#define FPCR_RMODE(m)	((uint64_t)(m) << 22)

/* ---------------------------------------------------------------- */
/* 1. ping-pong and argument passing */

struct pingpong {
	struct weft_ctx main, fiber;
	unsigned long counter;
	int first_arg_ok;
	int data_ok;
};

static struct pingpong pp;

static void pingpong_entry(void *arg, void *data)
{
	struct pingpong *p = data;
	uintptr_t v = (uintptr_t)arg;

	p->data_ok = (p == &pp);
	p->first_arg_ok = (v == 0x1234);
	for (;;) {
		p->counter++;
		/* Reply with a value derived from what we got. */
		v = (uintptr_t)weft_ctx_switch(&p->fiber, &p->main,
					       (void *)(v * 2 + 1));
	}
}

static void test_pingpong(void)
{
	/* Call through a pointer too, so BTI builds check the landing pad. */
	void *(*volatile sw)(struct weft_ctx *, struct weft_ctx *, void *) =
		weft_ctx_switch;
	int replies_ok = 1;
	uintptr_t r;

	weft_ctx_make(&pp.fiber, new_stack_top(), pingpong_entry, &pp);
	check(((uintptr_t)pp.fiber.sp & 15) == 0,
	      "weft_ctx_make leaves a 16-byte aligned sp");

	r = (uintptr_t)sw(&pp.main, &pp.fiber, (void *)0x1234);
	check(pp.first_arg_ok, "entry gets the first switch's arg as arg");
	check(pp.data_ok, "entry gets weft_ctx_make's data as data");
	check(r == 0x1234 * 2 + 1, "fiber's arg comes back as switch's return");

	for (unsigned long i = 1; i < PINGPONGS; i++) {
		r = (uintptr_t)weft_ctx_switch(&pp.main, &pp.fiber,
					       (void *)i);
		if (r != i * 2 + 1)
			replies_ok = 0;
	}
	check(replies_ok, "1000000 ping-pongs: every reply matches");
	check(pp.counter == PINGPONGS, "1000000 ping-pongs: counter matches");
}

/* ---------------------------------------------------------------- */
/* 2. callee-saved registers survive a switch */

struct regs {
	uint64_t x[10];		/* x19..x28 */
	uint64_t d[8];		/* d8..d15 */
	uint64_t fpcr;
	uint64_t pad;
};

/*
 * Offsets are hard-coded in the asm below. Everything happens in one asm
 * statement: load the pattern, call weft_ctx_switch(), store what the
 * registers hold when it returns. Splitting it would let the compiler
 * save and restore the registers itself and hide a broken switch.
 */
struct probe {
	struct regs in;			/* 0 */
	struct regs out;		/* 160 */
	struct weft_ctx *from;		/* 320 */
	struct weft_ctx *to;		/* 328 */
	void *arg;			/* 336 */
	void *ret;			/* 344 */
	uint64_t fpcr_before;		/* 352 */
};

_Static_assert(sizeof(struct regs) == 160, "regs layout");
_Static_assert(offsetof(struct probe, out) == 160, "probe layout");
_Static_assert(offsetof(struct probe, from) == 320, "probe layout");
_Static_assert(offsetof(struct probe, to) == 328, "probe layout");
_Static_assert(offsetof(struct probe, arg) == 336, "probe layout");
_Static_assert(offsetof(struct probe, ret) == 344, "probe layout");
_Static_assert(offsetof(struct probe, fpcr_before) == 352, "probe layout");

static void __attribute__((noinline)) switch_with_pattern(struct probe *pr)
{
	register struct probe *p __asm__("x0") = pr;

	__asm__ volatile(
		"str	x0, [sp, #-16]!\n\t"
		"mrs	x9, fpcr\n\t"
		"str	x9, [x0, #352]\n\t"
		"ldp	x19, x20, [x0, #0]\n\t"
		"ldp	x21, x22, [x0, #16]\n\t"
		"ldp	x23, x24, [x0, #32]\n\t"
		"ldp	x25, x26, [x0, #48]\n\t"
		"ldp	x27, x28, [x0, #64]\n\t"
		"ldp	d8, d9, [x0, #80]\n\t"
		"ldp	d10, d11, [x0, #96]\n\t"
		"ldp	d12, d13, [x0, #112]\n\t"
		"ldp	d14, d15, [x0, #128]\n\t"
		"ldr	x9, [x0, #144]\n\t"
		"msr	fpcr, x9\n\t"
		"ldr	x1, [x0, #328]\n\t"
		"ldr	x2, [x0, #336]\n\t"
		"ldr	x0, [x0, #320]\n\t"
		"bl	weft_ctx_switch\n\t"
		"ldr	x9, [sp], #16\n\t"
		"str	x0, [x9, #344]\n\t"
		"stp	x19, x20, [x9, #160]\n\t"
		"stp	x21, x22, [x9, #176]\n\t"
		"stp	x23, x24, [x9, #192]\n\t"
		"stp	x25, x26, [x9, #208]\n\t"
		"stp	x27, x28, [x9, #224]\n\t"
		"stp	d8, d9, [x9, #240]\n\t"
		"stp	d10, d11, [x9, #256]\n\t"
		"stp	d12, d13, [x9, #272]\n\t"
		"stp	d14, d15, [x9, #288]\n\t"
		"mrs	x10, fpcr\n\t"
		"str	x10, [x9, #304]\n\t"
		"ldr	x10, [x9, #352]\n\t"
		"msr	fpcr, x10\n\t"
		: "+r"(p)
		:
		: "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9",
		  "x10", "x11", "x12", "x13", "x14", "x15", "x16", "x17",
		  "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25",
		  "x26", "x27", "x28", "x30",
		  "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7",
		  "v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15",
		  "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23",
		  "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31",
		  "cc", "memory");
}

static void fill(struct regs *r, uint64_t seed, uint64_t fpcr)
{
	for (int i = 0; i < 10; i++)
		r->x[i] = seed ^ (0x0101010101010101ULL * (uint64_t)(i + 1));
	for (int i = 0; i < 8; i++)
		r->d[i] = ~seed ^ (0x1000100010001000ULL * (uint64_t)(i + 3));
	r->fpcr = fpcr;
	r->pad = 0;
}

static int same(const struct regs *a, const struct regs *b, const char *who)
{
	int ok = 1;

	for (int i = 0; i < 10; i++)
		if (a->x[i] != b->x[i]) {
			printf("# %s: x%d %#llx != %#llx\n", who, 19 + i,
			       (unsigned long long)b->x[i],
			       (unsigned long long)a->x[i]);
			ok = 0;
		}
	for (int i = 0; i < 8; i++)
		if (a->d[i] != b->d[i]) {
			printf("# %s: d%d %#llx != %#llx\n", who, 8 + i,
			       (unsigned long long)b->d[i],
			       (unsigned long long)a->d[i]);
			ok = 0;
		}
	if (a->fpcr != b->fpcr) {
		printf("# %s: fpcr %#llx != %#llx\n", who,
		       (unsigned long long)b->fpcr,
		       (unsigned long long)a->fpcr);
		ok = 0;
	}
	return ok;
}

static struct weft_ctx regs_main, regs_fiber;
static uint64_t fpcr_in_fiber;
static int fiber_regs_ok;

static void regs_entry(void *arg, void *data)
{
	struct probe pr;

	(void)data;
	fpcr_in_fiber = read_fpcr();
	memset(&pr, 0, sizeof(pr));
	/* Clobber every callee-saved register (and FPCR), switch back. */
	fill(&pr.in, 0xf1be5f1be5f1be50ULL,
	     FPCR_AHP | FPCR_FZ | FPCR_RMODE(3));
	pr.from = &regs_fiber;
	pr.to = &regs_main;
	pr.arg = (void *)((uintptr_t)arg + 1);
	switch_with_pattern(&pr);
	/* main clobbered everything with its own pattern before resuming us */
	fiber_regs_ok = same(&pr.in, &pr.out, "fiber") &&
			pr.ret == (void *)0xbeef;
	weft_ctx_switch(&regs_fiber, &regs_main, (void *)0xdead);
	abort();
}

static void test_callee_saved(void)
{
	uint64_t fpcr0 = read_fpcr();
	struct probe pr;

	/* A fresh fiber starts with FPCR = 0, whatever its creator had. */
	write_fpcr(FPCR_DN | FPCR_RMODE(2));
	weft_ctx_make(&regs_fiber, new_stack_top(), regs_entry, NULL);
	write_fpcr(fpcr0);

	memset(&pr, 0, sizeof(pr));
	fill(&pr.in, 0x0123456789abcdefULL, FPCR_DN | FPCR_RMODE(1));
	pr.from = &regs_main;
	pr.to = &regs_fiber;
	pr.arg = (void *)0x100;
	switch_with_pattern(&pr);
	check(same(&pr.in, &pr.out, "main"),
	      "x19-x28, d8-d15, FPCR survive a switch away and back (main)");
	check(pr.ret == (void *)0x101, "arg main->fiber->main");
	check(fpcr_in_fiber == 0,
	      "a fresh fiber starts with the default FPCR (0)");
	check(read_fpcr() == fpcr0, "FPCR restored after the probe");

	/* Resume the fiber with a different pattern live in main. */
	memset(&pr, 0, sizeof(pr));
	fill(&pr.in, 0xa5a5a5a55a5a5a5aULL, FPCR_FZ | FPCR_RMODE(2));
	pr.from = &regs_main;
	pr.to = &regs_fiber;
	pr.arg = (void *)0xbeef;
	switch_with_pattern(&pr);
	check(fiber_regs_ok,
	      "x19-x28, d8-d15, FPCR survive a switch away and back (fiber)");
	check(same(&pr.in, &pr.out, "main 2") && pr.ret == (void *)0xdead,
	      "registers and arg survive a second round (main)");
}

/* ---------------------------------------------------------------- */
/* 3. outermost frame: unwinders stop, entry returning traps */

static struct weft_ctx unw_main, unw_fiber;
static int unw_frames;
static _Unwind_Reason_Code unw_rc;
static void *unw_prev_fp, *unw_lr;

static _Unwind_Reason_Code count_frame(struct _Unwind_Context *uc, void *p)
{
	(void)uc;
	(void)p;
	unw_frames++;
	return unw_frames > 64 ? _URC_NORMAL_STOP : _URC_NO_REASON;
}

static void __attribute__((noinline)) unwind_here(void)
{
	unw_rc = _Unwind_Backtrace(count_frame, NULL);
	__asm__ volatile("" ::: "memory");
}

/* Strip a pointer authentication code (pac-ret builds); NOP before v8.3. */
static void *strip_pac(void *lr)
{
	register void *x30 __asm__("x30") = lr;

	__asm__("hint #7" : "+r"(x30));	/* xpaclri */
	return x30;
}

static void unw_entry(void *arg, void *data)
{
	void **frame = __builtin_frame_address(0);

	(void)arg;
	(void)data;
	/* entry's frame record: {caller's x29, caller's x30} */
	unw_prev_fp = frame[0];
	unw_lr = strip_pac(frame[1]);
	unwind_here();
	weft_ctx_switch(&unw_fiber, &unw_main, NULL);
	abort();
}

static void ret_entry(void *arg, void *data)
{
	(void)arg;
	(void)data;
}

static void on_trap(int sig)
{
	_exit(sig == SIGTRAP ? 42 : 43);
}

static void test_outermost(void)
{
	struct weft_ctx m, f;
	int status;
	pid_t pid;

	weft_ctx_make(&unw_fiber, new_stack_top(), unw_entry, NULL);
	weft_ctx_switch(&unw_main, &unw_fiber, NULL);
	check(unw_rc == _URC_END_OF_STACK && unw_frames < 8,
	      "DWARF unwind from a fiber ends at the trampoline");
	printf("# _Unwind_Backtrace rc %d, %d frames\n", (int)unw_rc,
	       unw_frames);
	check(unw_prev_fp == NULL, "frame-pointer chain ends (x29 = 0)");
	/* lr points just past "blr x20", at the trap */
	check(unw_lr && *(const uint32_t *)unw_lr == 0xd4207d00u,
	      "entry returns onto brk #0x3e8");

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		signal(SIGTRAP, on_trap);
		weft_ctx_make(&f, new_stack_top(), ret_entry, NULL);
		weft_ctx_switch(&m, &f, NULL);
		_exit(0);
	}
	check(pid > 0 && waitpid(pid, &status, 0) == pid &&
	      WIFEXITED(status) && WEXITSTATUS(status) == 42,
	      "entry returning traps (SIGTRAP)");
}

int main(void)
{
	test_pingpong();
	test_callee_saved();
	test_outermost();
	printf("1..%d\n", checks);
	return failures ? 1 : 0;
}
