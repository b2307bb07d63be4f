/* SPDX-License-Identifier: MIT */
/*
 * AArch64 (AAPCS64, ELF) context switch. See switch.h for the contract.
 *
 * A suspended context is a 176-byte frame at its saved sp, holding what
 * AAPCS64 makes a callee preserve, plus FPCR:
 *
 *	sp +   0	x29 (fp)	sp +   8	x30 (lr, resume pc)
 *	sp +  16	x19		sp +  24	x20
 *	sp +  32	x21		sp +  40	x22
 *	sp +  48	x23		sp +  56	x24
 *	sp +  64	x25		sp +  72	x26
 *	sp +  80	x27		sp +  88	x28
 *	sp +  96	d8		sp + 104	d9
 *	sp + 112	d10		sp + 120	d11
 *	sp + 128	d12		sp + 136	d13
 *	sp + 144	d14		sp + 152	d15
 *	sp + 160	FPCR		sp + 168	(padding, keeps sp 16-aligned)
 *
 * {x29, x30} at the bottom make the frame a standard frame record. The
 * CFI below describes this layout; since every suspended stack has the
 * same layout, it stays right across the "mov sp" that changes stacks.
 *
 * Only d8-d15 (the low 64 bits of v8-v15) are callee-saved; the upper
 * halves are not, so they are not kept. FPCR holds only control bits
 * (rounding, FZ, DN, AHP, trap enables); the sticky flags live in FPSR,
 * which is caller-saved and is left alone. FPCR writes can be slow, so
 * the switch only writes it when the resumed side's value differs.
 *
 * struct weft_ctx is { void *sp; }: the saved sp is at offset 0.
 */

#define FRAME_SIZE	176
#define OFF_FP		0
#define OFF_X19		16
#define OFF_X21		32
#define OFF_X23		48
#define OFF_X25		64
#define OFF_X27		80
#define OFF_D8		96
#define OFF_D10		112
#define OFF_D12		128
#define OFF_D14		144
#define OFF_FPCR	160
#define CTX_SP		0

/*
 * With -mbranch-protection=bti (or standard), put BTI landing pads on the
 * functions that may be called indirectly and mark the object BTI
 * compatible, so it does not switch BTI off for the whole link.
 * "hint #34" is "bti c", and a NOP where BTI is not implemented.
 */
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define BTI_C	hint	#34
#else
#define BTI_C
#endif

	.text

/*
 * void *weft_ctx_switch(struct weft_ctx *from, struct weft_ctx *to,
 *			 void *arg)
 * x0 = from, x1 = to, x2 = arg.
 */
	.p2align 4
	.globl	weft_ctx_switch
	.hidden	weft_ctx_switch
	.type	weft_ctx_switch, %function
weft_ctx_switch:
	.cfi_startproc
	BTI_C
	stp	x29, x30, [sp, #-FRAME_SIZE]!
	.cfi_def_cfa_offset FRAME_SIZE
	.cfi_offset x29, -FRAME_SIZE + OFF_FP
	.cfi_offset x30, -FRAME_SIZE + OFF_FP + 8
	stp	x19, x20, [sp, #OFF_X19]
	.cfi_offset x19, -FRAME_SIZE + OFF_X19
	.cfi_offset x20, -FRAME_SIZE + OFF_X19 + 8
	stp	x21, x22, [sp, #OFF_X21]
	.cfi_offset x21, -FRAME_SIZE + OFF_X21
	.cfi_offset x22, -FRAME_SIZE + OFF_X21 + 8
	stp	x23, x24, [sp, #OFF_X23]
	.cfi_offset x23, -FRAME_SIZE + OFF_X23
	.cfi_offset x24, -FRAME_SIZE + OFF_X23 + 8
	stp	x25, x26, [sp, #OFF_X25]
	.cfi_offset x25, -FRAME_SIZE + OFF_X25
	.cfi_offset x26, -FRAME_SIZE + OFF_X25 + 8
	stp	x27, x28, [sp, #OFF_X27]
	.cfi_offset x27, -FRAME_SIZE + OFF_X27
	.cfi_offset x28, -FRAME_SIZE + OFF_X27 + 8
	stp	d8, d9, [sp, #OFF_D8]
	.cfi_offset d8, -FRAME_SIZE + OFF_D8
	.cfi_offset d9, -FRAME_SIZE + OFF_D8 + 8
	stp	d10, d11, [sp, #OFF_D10]
	.cfi_offset d10, -FRAME_SIZE + OFF_D10
	.cfi_offset d11, -FRAME_SIZE + OFF_D10 + 8
	stp	d12, d13, [sp, #OFF_D12]
	.cfi_offset d12, -FRAME_SIZE + OFF_D12
	.cfi_offset d13, -FRAME_SIZE + OFF_D12 + 8
	stp	d14, d15, [sp, #OFF_D14]
	.cfi_offset d14, -FRAME_SIZE + OFF_D14
	.cfi_offset d15, -FRAME_SIZE + OFF_D14 + 8
	mrs	x9, fpcr
	str	x9, [sp, #OFF_FPCR]

	/* Change stacks. sp cannot be the data register of a str/ldr. */
	mov	x10, sp
	str	x10, [x0, #CTX_SP]
	ldr	x10, [x1, #CTX_SP]
	mov	sp, x10

	/* From here on we are on the resumed side's frame. */
	ldr	x10, [sp, #OFF_FPCR]
	cmp	x9, x10
	b.eq	1f
	msr	fpcr, x10
1:
	ldp	d14, d15, [sp, #OFF_D14]
	ldp	d12, d13, [sp, #OFF_D12]
	ldp	d10, d11, [sp, #OFF_D10]
	ldp	d8, d9, [sp, #OFF_D8]
	ldp	x27, x28, [sp, #OFF_X27]
	ldp	x25, x26, [sp, #OFF_X25]
	ldp	x23, x24, [sp, #OFF_X23]
	ldp	x21, x22, [sp, #OFF_X21]
	ldp	x19, x20, [sp, #OFF_X19]
	ldp	x29, x30, [sp], #FRAME_SIZE
	.cfi_def_cfa_offset 0
	.cfi_restore x29
	.cfi_restore x30
	.cfi_restore x19
	.cfi_restore x20
	.cfi_restore x21
	.cfi_restore x22
	.cfi_restore x23
	.cfi_restore x24
	.cfi_restore x25
	.cfi_restore x26
	.cfi_restore x27
	.cfi_restore x28
	.cfi_restore d8
	.cfi_restore d9
	.cfi_restore d10
	.cfi_restore d11
	.cfi_restore d12
	.cfi_restore d13
	.cfi_restore d14
	.cfi_restore d15
	mov	x0, x2
	ret
	.cfi_endproc
	.size	weft_ctx_switch, . - weft_ctx_switch

/*
 * First code run by a context made by weft_ctx_make(). weft_ctx_switch()
 * "returns" here (via ret, so no BTI landing pad is needed) with
 * x0 = arg, x19 = data, x20 = entry, x29 = 0 and sp = the rounded top.
 *
 * This is the outermost frame: x30 is undefined for the DWARF unwinder
 * (gdb, perf --call-graph dwarf, _Unwind_Backtrace stop here) and x29 = 0
 * ends frame-pointer walks, since entry's frame record stores it as the
 * caller's fp. sp is 16-aligned here, as AAPCS64 requires at the call.
 */
	.p2align 4
	.type	weft_ctx_entry, %function
weft_ctx_entry:
	.cfi_startproc
	.cfi_undefined x30
	mov	x29, xzr
	mov	x1, x19
	blr	x20
	/* entry() must not return. */
	brk	#0x3e8
	.cfi_endproc
	.size	weft_ctx_entry, . - weft_ctx_entry

/*
 * void weft_ctx_make(struct weft_ctx *ctx, void *top,
 *		      void (*entry)(void *arg, void *data), void *data)
 * x0 = ctx, x1 = top, x2 = entry, x3 = data.
 *
 * Builds a switch frame just below the rounded top, so that restoring it
 * leaves sp at the rounded top: x29 = 0, x30 = weft_ctx_entry,
 * x19 = data, x20 = entry, every other register zero. FPCR = 0 is the
 * ABI's default (round to nearest, no flush-to-zero, no default NaN, no
 * traps): a fresh fiber starts with it whatever its creator had set, as
 * on x86-64 with the default MXCSR and x87 control word.
 */
	.p2align 4
	.globl	weft_ctx_make
	.hidden	weft_ctx_make
	.type	weft_ctx_make, %function
weft_ctx_make:
	.cfi_startproc
	BTI_C
	and	x1, x1, #-16
	sub	x1, x1, #FRAME_SIZE
	adr	x9, weft_ctx_entry
	stp	xzr, x9, [x1, #OFF_FP]
	stp	x3, x2, [x1, #OFF_X19]
	stp	xzr, xzr, [x1, #OFF_X21]
	stp	xzr, xzr, [x1, #OFF_X23]
	stp	xzr, xzr, [x1, #OFF_X25]
	stp	xzr, xzr, [x1, #OFF_X27]
	stp	xzr, xzr, [x1, #OFF_D8]
	stp	xzr, xzr, [x1, #OFF_D10]
	stp	xzr, xzr, [x1, #OFF_D12]
	stp	xzr, xzr, [x1, #OFF_D14]
	stp	xzr, xzr, [x1, #OFF_FPCR]
	str	x1, [x0, #CTX_SP]
	ret
	.cfi_endproc
	.size	weft_ctx_make, . - weft_ctx_make

#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
/*
 * GNU property note: NT_GNU_PROPERTY_TYPE_0 (5), owner "GNU", one
 * property GNU_PROPERTY_AARCH64_FEATURE_1_AND (0xc0000000) with the
 * BTI bit (1). Not PAC: nothing here signs return addresses (the
 * functions are leaves, and x30 is stored raw in the switch frame).
 */
	.pushsection .note.gnu.property, "a"
	.p2align 3
	.long	4
	.long	16
	.long	5
	.asciz	"GNU"
	.long	0xc0000000
	.long	4
	.long	1
	.long	0
	.popsection
#endif

	.section .note.GNU-stack, "", %progbits
