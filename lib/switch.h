/* SPDX-License-Identifier: MIT */
/*
 * Context switch: the one place that moves the CPU from one stack to another.
 *
 * A context is a saved stack pointer. What the ABI says a callee must
 * preserve (x86-64: rbx rbp r12-r15, the MXCSR control bits and the x87
 * control word; AArch64: x19-x29 x30 d8-d15 and FPCR) is either saved on
 * the suspended stack or, on x86-64, spilled by the compiler around the
 * switch. The fs base (TLS) is never touched: it belongs to the OS thread.
 * A fresh context starts with the ABI's default FP control state.
 */
#ifndef WEFT_LIB_SWITCH_H
#define WEFT_LIB_SWITCH_H

#include <stddef.h>

struct weft_ctx {
	void *sp;
};

/*
 * weft_ctx_switch() - save the running context in @from and resume @to.
 * @arg travels to the resumed side: it is the value its own
 * weft_ctx_switch() returns, or, for a context made by weft_ctx_make(),
 * the first argument of its entry function. Returns when something
 * switches back to @from, with that switcher's @arg.
 */
#if defined(__x86_64__)
/*
 * x86-64: a "clobber-all" inline switch. It saves only rbp, the MXCSR and
 * x87 control words and the resume address, and declares every other
 * register clobbered, so the compiler spills just what is live at the
 * call site instead of all six callee-saved registers. Measured here
 * (bench/switch_bench.c): 2.0 ns against 3.5 ns for the classic
 * save-all-and-ret routine. The FP control words are reloaded only when
 * they differ from the switcher's: ldmxcsr and fldcw cost more than the
 * rest of the switch together (and ~30 ns when ldmxcsr changes the value).
 *
 * Frame at the saved sp: [resume rip][MXCSR:4, x87 CW:2, pad:2][rbp],
 * below 128 bytes of skipped red zone. The resume address is reached with
 * an indirect jmp: ret would mispredict through the return-stack buffer.
 */
static inline __attribute__((always_inline)) void *
weft_ctx_switch(struct weft_ctx *from, struct weft_ctx *to, void *arg)
{
	register void *rdx __asm__("rdx") = arg;
	register struct weft_ctx *rsi __asm__("rsi") = from;
	register struct weft_ctx *rdi __asm__("rdi") = to;

	__asm__ volatile(
		"leaq	-128(%%rsp), %%rsp\n\t"
		"pushq	%%rbp\n\t"
		"subq	$8, %%rsp\n\t"
		"stmxcsr (%%rsp)\n\t"
		"fnstcw	4(%%rsp)\n\t"
		"movl	(%%rsp), %%ecx\n\t"
		"movzwl	4(%%rsp), %%r8d\n\t"
		"leaq	1f(%%rip), %%rax\n\t"
		"pushq	%%rax\n\t"
		"movq	%%rsp, (%%rsi)\n\t"
		"movq	(%%rdi), %%rsp\n\t"
		"popq	%%rax\n\t"
		"jmpq	*%%rax\n"
		"1:\n\t"
		/*
		 * ecx and r8d hold the switcher's FP control words: reload
		 * ours only if they differ. MXCSR's low 6 bits are sticky
		 * status flags, which the ABI does not preserve: a ldmxcsr
		 * that changes them costs ~30 ns, so they do not count.
		 */
		"xorl	(%%rsp), %%ecx\n\t"
		"testl	$0xffc0, %%ecx\n\t"
		"jnz	2f\n\t"
		"cmpw	%%r8w, 4(%%rsp)\n\t"
		"je	3f\n"
		"2:\n\t"
		"ldmxcsr (%%rsp)\n\t"
		"fldcw	4(%%rsp)\n"
		"3:\n\t"
		"addq	$8, %%rsp\n\t"
		"popq	%%rbp\n\t"
		"leaq	128(%%rsp), %%rsp\n\t"
		: "+r"(rdx), "+r"(rsi), "+r"(rdi)
		:
		: "rax", "rbx", "rcx", "r8", "r9", "r10", "r11", "r12", "r13",
		  "r14", "r15", "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3",
		  "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
		  "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "st", "st(1)",
		  "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)");
	return rdx;
}
#else
void *weft_ctx_switch(struct weft_ctx *from, struct weft_ctx *to, void *arg);
#endif

/*
 * weft_ctx_make() - prepare @ctx to run entry(arg, data) on a fresh stack
 * whose highest address (exclusive) is @top; @top is rounded down to 16.
 * @entry must never return: it leaves by switching away for good.
 */
void weft_ctx_make(struct weft_ctx *ctx, void *top,
		   void (*entry)(void *arg, void *data), void *data);

#endif
