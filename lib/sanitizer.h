/* SPDX-License-Identifier: MIT */
/*
 * Telling ASan, TSan and Valgrind about stack switches. Each helper is empty
 * unless the build (SANITIZE=...) or the run (valgrind) needs it.
 */
#ifndef WEFT_LIB_SANITIZER_H
#define WEFT_LIB_SANITIZER_H

#include <stddef.h>
#include "compiler.h"

#ifdef WEFT_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save,
				    const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save,
				     const void **bottom_old,
				     size_t *size_old);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#endif

#ifdef WEFT_TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define WEFT_VALGRIND 1
#endif
#endif

/* Per-context sanitizer state, kept beside each saved context. */
struct weft_san {
	const void *bottom;	/* lowest usable address of the stack */
	size_t size;
	void *asan_fake;	/* ASan fake stack of the suspended context */
	void *tsan;		/* TSan fiber */
	unsigned int vg_id;	/* Valgrind stack id */
};

/* Before switching from @from to @to; @dying when @from never resumes. */
static inline void weft_san_leave(struct weft_san *from, struct weft_san *to,
				  int dying)
{
#ifdef WEFT_ASAN
	__sanitizer_start_switch_fiber(dying ? NULL : &from->asan_fake,
				       to->bottom, to->size);
#endif
#ifdef WEFT_TSAN
	__tsan_switch_to_fiber(to->tsan, 0);
#endif
	(void)from, (void)to, (void)dying;
}

/* First thing after a switch lands in @self. */
static inline void weft_san_enter(struct weft_san *self)
{
#ifdef WEFT_ASAN
	__sanitizer_finish_switch_fiber(self->asan_fake, NULL, NULL);
#endif
	(void)self;
}

/* A stack starts (or stops) being a fiber's. */
static inline void weft_san_stack_new(struct weft_san *s, void *lo,
				      size_t size)
{
	s->bottom = lo;
	s->size = size;
	s->asan_fake = NULL;
#ifdef WEFT_ASAN
	/* Frames of fibers that never returned left their redzones behind. */
	__asan_unpoison_memory_region(lo, size);
#endif
#ifdef WEFT_TSAN
	s->tsan = __tsan_create_fiber(0);
#endif
#ifdef WEFT_VALGRIND
	s->vg_id = VALGRIND_STACK_REGISTER(lo, (char *)lo + size);
#endif
}

static inline void weft_san_stack_gone(struct weft_san *s)
{
#ifdef WEFT_TSAN
	__tsan_destroy_fiber(s->tsan);
#endif
#ifdef WEFT_VALGRIND
	VALGRIND_STACK_DEREGISTER(s->vg_id);
#endif
	(void)s;
}

/* The OS thread's own stack, as a context to switch back to. */
static inline void weft_san_thread(struct weft_san *s, const void *lo,
				   size_t size)
{
	s->bottom = lo;
	s->size = size;
	s->asan_fake = NULL;
#ifdef WEFT_TSAN
	s->tsan = __tsan_get_current_fiber();
#endif
}

#endif
