// SPDX-License-Identifier: MIT
/*
 * The context switch: ping-pong, the argument both ways, values live in
 * callee-saved registers across a switch that scrambles every register,
 * and per-context FP control state (rounding mode, MXCSR, x87 CW).
 */
#include <fenv.h>
#include <stdint.h>
#include <weft.h>

#include "harness.h"
#include "lib/switch.h"

static struct weft_ctx main_ctx, fib_ctx;
static char stack[64 << 10] __attribute__((aligned(64)));

static void counter(void *arg, void *data)
{
	long *n = data;

	for (;;) {
		*n += (long)arg;
		arg = weft_ctx_switch(&fib_ctx, &main_ctx, (void *)(*n));
	}
}

TEST(ping_pong_1m)
{
	long n = 0, got = 0;

	weft_ctx_make(&fib_ctx, stack + sizeof(stack), counter, &n);
	for (long i = 1; i <= 1000000; i++)
		got = (long)weft_ctx_switch(&main_ctx, &fib_ctx, (void *)1);
	ASSERT_EQ(n, 1000000);
	ASSERT_EQ(got, 1000000);
}

static void scrambler(void *arg, void *data)
{
	(void)arg;
	(void)data;
	for (;;) {
#ifdef __x86_64__
		__asm__ volatile(
			"movq $-1, %%rax; movq %%rax, %%rbx; movq %%rax, %%rcx;"
			"movq %%rax, %%r8; movq %%rax, %%r9; movq %%rax, %%r10;"
			"movq %%rax, %%r11; movq %%rax, %%r12; movq %%rax, %%r13;"
			"movq %%rax, %%r14; movq %%rax, %%r15;"
			"pcmpeqd %%xmm0, %%xmm0; pcmpeqd %%xmm6, %%xmm6;"
			"pcmpeqd %%xmm15, %%xmm15"
			: : : "rax", "rbx", "rcx", "r8", "r9", "r10", "r11",
			  "r12", "r13", "r14", "r15", "xmm0", "xmm6", "xmm15");
#endif
		weft_ctx_switch(&fib_ctx, &main_ctx, NULL);
	}
}

/* Many values live across the switch: the compiler keeps some in
 * callee-saved registers and spills the rest. */
static __attribute__((noinline)) long live_values(long seed)
{
	long a = seed, b = seed * 3, c = seed * 5, d = seed * 7, e = seed * 11;
	long f = seed * 13, g = seed * 17, h = seed * 19, k = seed * 23;
	double x = seed * 0.5, y = seed * 0.25;

	for (int i = 0; i < 1000; i++) {
		weft_ctx_switch(&main_ctx, &fib_ctx, NULL);
		a += 1, b += 2, c += 3, d += 4, e += 5, f += 6, g += 7;
		h += 8, k += 9, x += 1.0, y += 2.0;
	}
	return a + b + c + d + e + f + g + h + k + (long)x + (long)y;
}

TEST(values_survive_a_scrambling_switch)
{
	long seed = 3, expect;

	weft_ctx_make(&fib_ctx, stack + sizeof(stack), scrambler, NULL);
	expect = seed * (1 + 3 + 5 + 7 + 11 + 13 + 17 + 19 + 23) +
		 1000 * (1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9) +
		 (long)(seed * 0.5 + 1000) + (long)(seed * 0.25 + 2000);
	ASSERT_EQ(live_values(seed), expect);
}

#ifdef __x86_64__
static unsigned int mxcsr_get(void)
{
	unsigned int v;

	__asm__ volatile("stmxcsr %0" : "=m"(v));
	return v;
}

static void mxcsr_set(unsigned int v)
{
	__asm__ volatile("ldmxcsr %0" : : "m"(v));
}

static unsigned short fpucw_get(void)
{
	unsigned short v;

	__asm__ volatile("fnstcw %0" : "=m"(v));
	return v;
}

static void fpucw_set(unsigned short v)
{
	__asm__ volatile("fldcw %0" : : "m"(v));
}
#endif

static int fib_round, fib_bad;

static void fp_fiber(void *arg, void *data)
{
	(void)arg;
	(void)data;
	/* A fresh context starts with the ABI defaults. */
	fib_bad |= fegetround() != FE_TONEAREST;
#ifdef __x86_64__
	fib_bad |= (mxcsr_get() & ~0x3fU) != 0x1f80;
	fib_bad |= fpucw_get() != 0x037f;
	mxcsr_set(0x1f80 | 0x8040);	/* FTZ | DAZ */
	fpucw_set(0x027f);		/* double precision */
#endif
	fesetround(FE_DOWNWARD);
#ifdef __x86_64__
	unsigned short cw = fpucw_get();
#endif
	for (;;) {
		fib_round++;
		weft_ctx_switch(&fib_ctx, &main_ctx, NULL);
		fib_bad |= fegetround() != FE_DOWNWARD;
#ifdef __x86_64__
		fib_bad |= (mxcsr_get() & 0x8040) != 0x8040;
		fib_bad |= fpucw_get() != cw;
#endif
	}
}

TEST(fp_control_is_per_context)
{
#ifdef __x86_64__
	unsigned short cw;
#endif

	fesetround(FE_UPWARD);
#ifdef __x86_64__
	cw = fpucw_get();	/* fesetround() sets the x87 rounding too */
#endif
	weft_ctx_make(&fib_ctx, stack + sizeof(stack), fp_fiber, NULL);
	for (int i = 0; i < 100; i++) {
		weft_ctx_switch(&main_ctx, &fib_ctx, NULL);
		ASSERT_EQ(fegetround(), FE_UPWARD);
#ifdef __x86_64__
		ASSERT_EQ(mxcsr_get() & 0x8040, 0);
		ASSERT_EQ(fpucw_get(), cw);
#endif
	}
	fesetround(FE_TONEAREST);
	ASSERT_EQ(fib_round, 100);
	ASSERT_EQ(fib_bad, 0);
}

/* The same through the scheduler: two fibers with different rounding. */
static void *rounding(void *arg)
{
	int mode = (int)(long)arg, bad = 0;

	fesetround(mode);
	for (int i = 0; i < 100; i++) {
		weft_yield();
		bad |= fegetround() != mode;
	}
	return (void *)(long)bad;
}

static void *two_modes(void *arg)
{
	uint64_t a, b;
	void *ra, *rb;

	(void)arg;
	weft_spawn(&a, NULL, rounding, (void *)(long)FE_UPWARD);
	weft_spawn(&b, NULL, rounding, (void *)(long)FE_TOWARDZERO);
	weft_join(a, &ra);
	weft_join(b, &rb);
	return (void *)((long)ra | (long)rb);
}

TEST(fp_control_is_per_fiber)
{
	void *r = (void *)1;

	ASSERT_EQ(weft_run(NULL, two_modes, NULL, &r), 0);
	ASSERT_NULL(r);
}

TEST_HARNESS_MAIN
