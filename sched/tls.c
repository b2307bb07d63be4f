// SPDX-License-Identifier: MIT
/*
 * Per-fiber thread-local storage, for the preload shim's M:N threads.
 *
 * A program's __thread and thread_local variables live in each OS thread's
 * static TLS block, at an offset from the thread pointer that is the same
 * in every thread. Fibers of one worker share its thread, so without help
 * they would share those variables. Here each fiber that asks (the shim's
 * pthreads and main) gets an area holding its own copy of the blocks of
 * the program's modules, and the worker swaps it in when it switches to
 * the fiber: the fiber sees its variables at their usual addresses (a
 * bound fiber never changes thread, so an address taken stays right).
 *
 * Lazy: a worker remembers whose copy its block holds (w->tls_cur), and
 * copies only when a fiber with another area runs; fibers without one
 * (weft's own, and every fiber of a native program) copy nothing.
 *
 * Not swapped: libc's block (errno, locale, malloc's cache: libc never
 * switches in the middle of using them, and errno is set by the shim after
 * its last switch), the dynamic loader's, weft's own and its libraries'
 * (libnuma, liburing: the worker's state), the sanitizer runtimes' and
 * those of allocators and RCU (their per-thread state is linked into
 * global lists by address, so a copy must never move: it stays the OS
 * thread's). Modules loaded later with dlopen() keep their TLS per thread.
 *
 * Everything here is set up once, before any worker starts
 * (weft__tls_init(), on the thread that becomes worker 0), and read-only
 * afterwards; a worker's block and tls_cur are its own thread's.
 */
#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define TLS_REGIONS_MAX	32

struct tls_region {
	ptrdiff_t off;			/* from the thread pointer */
	size_t at;			/* its place in an area */
	size_t len;			/* the segment's memory size */
	const void *image;		/* initial contents */
	size_t filesz;			/* bytes of image; zeros after */
};

static struct {
	unsigned int n;
	size_t size;			/* of an area */
	struct tls_region r[TLS_REGIONS_MAX];
	uintptr_t skip[2];		/* libc's and weft's load bases */
	char *tp;			/* the initial thread's */
	size_t static_size;		/* of the static TLS block (the loader's) */
} tls;

static bool skipped(const struct dl_phdr_info *info)
{
	static const char *const runtimes[] = {
		"ld-linux", "ld64.so", "libasan", "libtsan", "liblsan",
		"libubsan", "libhwasan", "libclang_rt", "libmemusage",
		"libnuma.so", "liburing.so",	/* weft's, used by workers */
		/*
		 * Libraries that link each thread's TLS into a global list
		 * (one copy per thread, at its own address): allocators'
		 * caches and RCU's reader registry. Their state is the OS
		 * thread's, and they never switch while using it.
		 */
		"libjemalloc", "libtcmalloc", "libmimalloc", "libhoard",
		"libtbbmalloc", "libsnmalloc", "liburcu",
	};
	const char *base = strrchr(info->dlpi_name, '/');

	if (info->dlpi_addr == tls.skip[0] || info->dlpi_addr == tls.skip[1])
		return true;
	base = base ? base + 1 : info->dlpi_name;
	for (size_t i = 0; i < sizeof(runtimes) / sizeof(*runtimes); i++)
		if (!strncmp(base, runtimes[i], strlen(runtimes[i])))
			return true;
	return false;
}

/*
 * Is [@off, @off + @len) from the thread pointer inside the static TLS
 * block, at the same offset in every thread? A module dlopen()ed before
 * weft__tls_init() may have its block on the heap instead.
 */
static bool in_static_tls(ptrdiff_t off, size_t len)
{
	size_t size = tls.static_size;

#if defined(__x86_64__)
	/* The block ends at the thread pointer (the TCB follows). */
	return off < 0 && (size_t)-off <= size && (size_t)-off >= len;
#else
	/* It follows the thread pointer (the TCB comes first). */
	return off >= 0 && (size_t)off + len <= size;
#endif
}

static int add_module(struct dl_phdr_info *info, size_t size, void *data)
{
	int *err = data;

	(void)size;
	if (!info->dlpi_tls_modid || !info->dlpi_tls_data || skipped(info))
		return 0;
	for (unsigned int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		struct tls_region *r;

		if (ph->p_type != PT_TLS || !ph->p_memsz)
			continue;
		if (!in_static_tls((char *)info->dlpi_tls_data - tls.tp,
				   ph->p_memsz))
			continue;	/* dynamic TLS: stays per thread */
		if (tls.n == TLS_REGIONS_MAX) {
			*err = -E2BIG;
			return 1;
		}
		r = &tls.r[tls.n++];
		r->off = (char *)info->dlpi_tls_data - tls.tp;
		r->at = tls.size;
		r->len = ph->p_memsz;
		r->image = (const char *)info->dlpi_addr + ph->p_vaddr;
		r->filesz = ph->p_filesz;
		tls.size += (r->len + 15) & ~(size_t)15;
	}
	return 0;
}

/*
 * Find the TLS segments of the modules loaded now. Returns the size of an
 * area (0: nothing to swap), or -E2BIG with more modules than it handles.
 */
ssize_t weft__tls_init(void)
{
	void (*static_info)(size_t *, size_t *);
	Dl_info self, libc;
	size_t align;
	int err = 0;

	tls.n = 0;
	tls.size = 0;
	tls.tp = __builtin_thread_pointer();
	/* glibc's loader says how big the static block is (GLIBC_PRIVATE). */
	static_info = (void (*)(size_t *, size_t *))
		dlsym(RTLD_DEFAULT, "_dl_get_tls_static_info");
	if (!static_info)
		return 0;	/* cannot tell static from dynamic: swap none */
	static_info(&tls.static_size, &align);
	if (dladdr((void *)weft__tls_init, &self))
		tls.skip[0] = (uintptr_t)self.dli_fbase;
	if (dladdr((void *)gnu_get_libc_version, &libc))
		tls.skip[1] = (uintptr_t)libc.dli_fbase;
	dl_iterate_phdr(add_module, &err);
	if (err) {
		tls.n = 0;
		tls.size = 0;
		return err;
	}
	return (ssize_t)tls.size;
}

/* A new area: the modules' initial contents, as in a new thread. */
void *weft__tls_alloc(void)
{
	char *area = tls.size ? malloc(tls.size) : NULL;

	for (unsigned int i = 0; area && i < tls.n; i++) {
		const struct tls_region *r = &tls.r[i];

		memcpy(area + r->at, r->image, r->filesz);
		memset(area + r->at + r->filesz, 0, r->len - r->filesz);
	}
	return area;
}

/* The block at @tp into @area, and back. */
static void save(const char *tp, void *area)
{
	for (unsigned int i = 0; i < tls.n; i++)
		memcpy((char *)area + tls.r[i].at, tp + tls.r[i].off,
		       tls.r[i].len);
}

static void restore(char *tp, const void *area)
{
	for (unsigned int i = 0; i < tls.n; i++)
		memcpy(tp + tls.r[i].off, (const char *)area + tls.r[i].at,
		       tls.r[i].len);
}

/* On @w's thread: its block becomes @area's copy (NULL: nobody's). */
void weft__tls_load(struct weft_worker *w, void *area)
{
	if (w->tls_cur)
		save(w->tp, w->tls_cur);
	if (area)
		restore(w->tp, area);
	w->tls_cur = area;
}

/*
 * The running fiber takes @area as its TLS from now on. With @keep, the
 * area takes what the block holds (the initial thread's values, for
 * main()); otherwise the block takes the area's.
 */
void weft__tls_adopt(void *area, bool keep)
{
	struct weft_worker *w = weft__cur_worker;

	if (!area)
		return;
	w->cur->tls = area;
	if (keep) {
		weft__tls_load(w, NULL);	/* the owner's copy, if any */
		save(w->tp, area);
		w->tls_cur = area;
	} else if (w->tls_cur != area) {
		weft__tls_load(w, area);
	}
}

/* The calling thread's block takes @area's copy (no worker needed). */
void weft__tls_put(const void *area)
{
	if (area)
		restore(__builtin_thread_pointer(), area);
}

/* The running fiber is done with its area: the caller may free it. */
void weft__tls_leave(void)
{
	struct weft_worker *w = weft__cur_worker;
	struct weft_fiber *f = w->cur;

	if (w->tls_cur && w->tls_cur == f->tls)
		w->tls_cur = NULL;	/* stale copy: the next one overwrites */
	f->tls = NULL;
}
