// SPDX-License-Identifier: MIT
/*
 * switch: the raw cost of one fiber-to-fiber context switch, ns/switch.
 *
 * impl=weft is weft_ctx_switch() from lib/switch.h, what the scheduler uses
 * (on x86-64 a clobber-all inline switch). impl=weft-classic is the design
 * it was measured against and replaced: an out-of-line routine saving every
 * callee-saved register (see below).
 */
#include <stdint.h>

#include "bench.h"
#include "lib/switch.h"

static struct weft_ctx main_ctx, fib_ctx;
static long iters;

static void pong(void *arg, void *data)
{
	(void)data;
	for (;;)
		arg = weft_ctx_switch(&fib_ctx, &main_ctx, arg);
}

static double run_weft(void)
{
	static char stack[64 << 10] __attribute__((aligned(64)));
	unsigned long long t0;

	weft_ctx_make(&fib_ctx, stack + sizeof(stack), pong, NULL);
	weft_ctx_switch(&main_ctx, &fib_ctx, NULL);
	t0 = bench_now_ns();
	for (long i = 0; i < iters; i++)
		weft_ctx_switch(&main_ctx, &fib_ctx, (void *)i);
	return (double)(bench_now_ns() - t0) / (2.0 * iters);
}

#ifdef __x86_64__
/*
 * The alternative weft measured and dropped: a classic out-of-line switch
 * that pushes all six callee-saved registers and both FP control words and
 * reloads them unconditionally. Frame: [fp words][r15..r12][rbx][rbp][rip].
 */
void *classic_switch(struct weft_ctx *from, struct weft_ctx *to, void *arg);
__asm__(".pushsection .text\n"
	".p2align 4\n"
	"classic_switch:\n\t"
	"pushq %rbp\n\tpushq %rbx\n\tpushq %r12\n\tpushq %r13\n\t"
	"pushq %r14\n\tpushq %r15\n\t"
	"subq $8, %rsp\n\tstmxcsr (%rsp)\n\tfnstcw 4(%rsp)\n\t"
	"movq %rsp, (%rdi)\n\tmovq (%rsi), %rsp\n\t"
	"ldmxcsr (%rsp)\n\tfldcw 4(%rsp)\n\taddq $8, %rsp\n\t"
	"popq %r15\n\tpopq %r14\n\tpopq %r13\n\tpopq %r12\n\t"
	"popq %rbx\n\tpopq %rbp\n\t"
	"popq %r8\n\tmovq %rdx, %rax\n\tmovq %rdx, %rdi\n\tjmpq *%r8\n\t"
	".p2align 4\n"
	"classic_entry:\n\t"
	".cfi_startproc\n\t.cfi_undefined rip\n\t"
	"xorl %ebp, %ebp\n\tcallq classic_pong\n\tud2\n\t"
	".cfi_endproc\n"
	".popsection\n");
void classic_entry(void);

static struct weft_ctx cmain __attribute__((aligned(64)));
static struct weft_ctx cfib __attribute__((aligned(64)));

__attribute__((noreturn, used)) void classic_pong(void *arg);
__attribute__((noreturn, used)) void classic_pong(void *arg)
{
	for (;;)
		arg = classic_switch(&cfib, &cmain, arg);
}

static double run_classic(void)
{
	static char stack[64 << 10] __attribute__((aligned(64)));
	uint64_t *sp = (uint64_t *)(stack + sizeof(stack)) - 2;
	unsigned long long t0;

	*--sp = (uintptr_t)classic_entry;
	for (int i = 0; i < 6; i++)
		*--sp = 0;			/* rbp rbx r12-r15 */
	*--sp = 0x037f00001f80ULL;		/* x87 CW << 32 | MXCSR */
	cfib.sp = sp;
	classic_switch(&cmain, &cfib, NULL);
	t0 = bench_now_ns();
	for (long i = 0; i < iters; i++)
		classic_switch(&cmain, &cfib, (void *)i);
	return (double)(bench_now_ns() - t0) / (2.0 * iters);
}
#endif

/* Every run starts from the default FP state: printf leaves MXCSR's
 * precision flag set, and a switch that reloads a different MXCSR costs
 * ~30 ns more (see lib/switch.h). */
static void fp_reset(void)
{
#ifdef __x86_64__
	unsigned int mxcsr = 0x1f80;

	__asm__ volatile("ldmxcsr %0" : : "m"(mxcsr));
#endif
}

int main(int argc, char **argv)
{
	iters = bench_arg(argc, argv, 20000000);
	double v;

	fp_reset();
	v = run_weft();
	printf("bench=switch impl=weft value=%.2f unit=ns/switch n=%ld\n",
	       v, iters);
#ifdef __x86_64__
	fp_reset();
	v = run_classic();
	printf("bench=switch impl=weft-classic value=%.2f unit=ns/switch n=%ld\n",
	       v, iters);
#endif
	return 0;
}
