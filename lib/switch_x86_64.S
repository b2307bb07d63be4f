// SPDX-License-Identifier: MIT
/*
 * x86-64: the first frame of a fiber. The switch itself is inline, in
 * switch.h; this file builds what that switch expects to find.
 *
 * A fresh context, from its saved sp upwards:
 *	0: weft_ctx_entry	8: MXCSR, x87 CW	16: rbp = 0 (rsp + 8 on entry)
 *	24..151: the red zone the switch skips
 *	152: entry	160: data	168: 0
 */
	.text

	.globl	weft_ctx_make
	.hidden	weft_ctx_make
	.type	weft_ctx_make, @function
	.p2align 4
/* void weft_ctx_make(struct weft_ctx *ctx, void *top,
 *		      void (*entry)(void *arg, void *data), void *data) */
weft_ctx_make:
	.cfi_startproc
	andq	$-16, %rsi
	movq	$0, -8(%rsi)
	movq	%rcx, -16(%rsi)		/* data */
	movq	%rdx, -24(%rsi)		/* entry */
	movq	$0, -160(%rsi)		/* rbp */
	movl	$0x1f80, -168(%rsi)	/* MXCSR: the ABI default */
	movl	$0x037f, -164(%rsi)	/* x87 control word: the ABI default */
	leaq	weft_ctx_entry(%rip), %rax
	movq	%rax, -176(%rsi)
	leaq	-176(%rsi), %rax
	movq	%rax, (%rdi)
	ret
	.cfi_endproc
	.size	weft_ctx_make, .-weft_ctx_make

/*
 * Reached by the switch's jmp with rsp at the FP words and the switcher's
 * arg in rdx. rip is marked undefined so that gdb, perf and the unwinder
 * stop here instead of walking into garbage.
 */
	.type	weft_ctx_entry, @function
	.p2align 4
weft_ctx_entry:
	.cfi_startproc
	.cfi_undefined rip
	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	xorl	%ebp, %ebp
	movq	%rdx, %rdi		/* arg */
	movq	144(%rsp), %rax		/* entry */
	movq	152(%rsp), %rsi		/* data */
	leaq	160(%rsp), %rsp		/* top - 8 */
	andq	$-16, %rsp
	callq	*%rax
	ud2				/* entry functions never return */
	.cfi_endproc
	.size	weft_ctx_entry, .-weft_ctx_entry

	.section .note.GNU-stack,"",@progbits
