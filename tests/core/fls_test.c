// SPDX-License-Identifier: MIT
/* Fiber-local storage: isolation, destructors, limits, bad keys. */
#include <errno.h>
#include <weft.h>

#include "harness.h"

static unsigned int key;
static long destroyed;

static void destroy(void *v)
{
	__atomic_add_fetch(&destroyed, (long)v, __ATOMIC_RELAXED);
}

static void *own_value(void *arg)
{
	if (weft_key_get(key))
		return (void *)1;	/* a new fiber starts with NULL */
	if (weft_key_set(key, arg))
		return (void *)2;
	for (int i = 0; i < 10; i++) {
		weft_yield();
		if (weft_key_get(key) != arg)
			return (void *)3;
	}
	return NULL;
}

static void *isolation(void *arg)
{
	uint64_t f[8];
	void *r;
	long bad = 0;

	(void)arg;
	if (weft_key_create(&key, destroy))
		return (void *)100;
	for (long i = 0; i < 8; i++)
		weft_spawn(&f[i], NULL, own_value, (void *)(i + 1));
	for (int i = 0; i < 8; i++) {
		weft_join(f[i], &r);
		bad |= (long)r;
	}
	weft_key_delete(key);
	return (void *)bad;
}

TEST(values_are_per_fiber_and_destroyed)
{
	void *r = (void *)1;

	destroyed = 0;
	ASSERT_EQ(weft_run(NULL, isolation, NULL, &r), 0);
	ASSERT_NULL(r);
	ASSERT_EQ(destroyed, 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8);
}

static void *limits(void *arg)
{
	unsigned int keys[WEFT_KEYS_MAX], extra;
	long bad = 0;

	(void)arg;
	for (int i = 0; i < WEFT_KEYS_MAX; i++)
		bad |= weft_key_create(&keys[i], NULL) != 0;
	bad |= (weft_key_create(&extra, NULL) != -EAGAIN) << 1;
	bad |= (weft_key_create(NULL, NULL) != -EINVAL) << 2;
	bad |= (weft_key_delete(keys[3]) != 0) << 3;
	bad |= (weft_key_delete(keys[3]) != -EINVAL) << 4;
	bad |= (weft_key_set(keys[3], &extra) != -EINVAL) << 5;
	bad |= (weft_key_get(keys[3]) != NULL) << 6;
	bad |= (weft_key_set(WEFT_KEYS_MAX, &extra) != -EINVAL) << 7;
	bad |= (weft_key_create(&extra, NULL) != 0 || extra != keys[3]) << 8;
	for (int i = 0; i < WEFT_KEYS_MAX; i++)
		weft_key_delete(keys[i]);
	return (void *)bad;
}

TEST(key_limits_and_bad_keys)
{
	void *r = (void *)1;

	ASSERT_EQ(weft_run(NULL, limits, NULL, &r), 0);
	ASSERT_NULL(r);
}

TEST(outside_a_fiber)
{
	unsigned int k;

	ASSERT_EQ(weft_key_create(&k, NULL), 0);
	EXPECT_EQ(weft_key_set(k, &k), -EPERM);
	EXPECT_NULL(weft_key_get(k));
	ASSERT_EQ(weft_key_delete(k), 0);
}

TEST_HARNESS_MAIN
