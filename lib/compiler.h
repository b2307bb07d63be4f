/* SPDX-License-Identifier: MIT */
/* Compiler helpers shared by every file of the library. */
#ifndef WEFT_LIB_COMPILER_H
#define WEFT_LIB_COMPILER_H

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)

#define WEFT_EXPORT	__attribute__((visibility("default")))
#define WEFT_TLS	__attribute__((tls_model("initial-exec"))) __thread
#define WEFT_NOINLINE	__attribute__((noinline))
#define WEFT_COLD	__attribute__((cold, noinline))
#define WEFT_PRINTF(f, a) __attribute__((format(printf, f, a)))

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - __builtin_offsetof(type, member)))

/* A spin-wait hint: lets the sibling hyperthread (or the host) run. */
static inline void weft_cpu_relax(void)
{
#if defined(__x86_64__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

#define READ_ONCE(x)	__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define WEFT_TSAN 1
#endif
#endif
#ifdef __SANITIZE_ADDRESS__
#define WEFT_ASAN 1
#endif
#ifdef __SANITIZE_THREAD__
#define WEFT_TSAN 1
#endif

#endif
