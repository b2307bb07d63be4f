// SPDX-License-Identifier: MIT
/*
 * Fiber-local storage: like pthread keys, per fiber. A fiber's values sit
 * in its descriptor; fls_mask says which are set, so spawning clears one
 * word, not WEFT_KEYS_MAX pointers.
 */
#include <errno.h>
#include <pthread.h>

#include "internal.h"

#define DESTRUCTOR_ROUNDS	4	/* as PTHREAD_DESTRUCTOR_ITERATIONS */

/* Protected by keys_lock; read without it on get/set (a stale "used"
 * only lets a racing user of a deleted key through, as pthreads does). */
static struct {
	bool used;
	void (*destructor)(void *);
} keys[WEFT_KEYS_MAX];
static pthread_mutex_t keys_lock = PTHREAD_MUTEX_INITIALIZER;

WEFT_EXPORT int weft_key_create(unsigned int *key, void (*destructor)(void *))
{
	int ret = -EAGAIN;

	if (!key)
		return -EINVAL;
	pthread_mutex_lock(&keys_lock);
	for (unsigned int i = 0; i < WEFT_KEYS_MAX; i++) {
		if (!keys[i].used) {
			keys[i].destructor = destructor;
			__atomic_store_n(&keys[i].used, true, __ATOMIC_RELEASE);
			*key = i;
			ret = 0;
			break;
		}
	}
	pthread_mutex_unlock(&keys_lock);
	return ret;
}

static inline bool key_ok(unsigned int key)
{
	return key < WEFT_KEYS_MAX &&
	       __atomic_load_n(&keys[key].used, __ATOMIC_ACQUIRE);
}

WEFT_EXPORT int weft_key_delete(unsigned int key)
{
	int ret = -EINVAL;

	pthread_mutex_lock(&keys_lock);
	if (key_ok(key)) {
		__atomic_store_n(&keys[key].used, false, __ATOMIC_RELEASE);
		keys[key].destructor = NULL;
		ret = 0;
	}
	pthread_mutex_unlock(&keys_lock);
	return ret;
}

WEFT_EXPORT int weft_key_set(unsigned int key, const void *value)
{
	struct weft_worker *w = weft__cur_worker;
	struct weft_fiber *f;

	if (!key_ok(key))
		return -EINVAL;
	if (!w || !(f = w->cur))
		return -EPERM;
	f->fls[key] = (void *)value;
	f->fls_mask |= 1ULL << key;
	return 0;
}

WEFT_EXPORT void *weft_key_get(unsigned int key)
{
	struct weft_worker *w = weft__cur_worker;
	struct weft_fiber *f;

	if (!key_ok(key) || !w || !(f = w->cur) ||
	    !(f->fls_mask & (1ULL << key)))
		return NULL;
	return f->fls[key];
}

/* At fiber exit, on the fiber itself: destructors may set values again. */
void weft__fls_run_destructors(struct weft_fiber *f)
{
	for (int round = 0; round < DESTRUCTOR_ROUNDS && f->fls_mask; round++) {
		uint64_t mask = f->fls_mask;

		f->fls_mask = 0;
		while (mask) {
			unsigned int k = __builtin_ctzll(mask);
			void (*d)(void *) = keys[k].destructor;
			void *v = f->fls[k];

			mask &= mask - 1;
			if (v && d && key_ok(k))
				d(v);
		}
	}
	f->fls_mask = 0;
}
