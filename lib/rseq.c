// SPDX-License-Identifier: MIT
/*
 * rseq: whether to use glibc's registration, decided once before main();
 * the fallbacks for when it is not used. See rseq.h.
 */
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "env.h"
#include "rseq.h"

#ifndef AT_RSEQ_FEATURE_SIZE
#define AT_RSEQ_FEATURE_SIZE	27	/* Linux 6.3; not in glibc 2.36 */
#endif
#define RSEQ_ORIG_FEATURE	20	/* cpu_id_start .. flags */

_Static_assert(offsetof(struct weft_rseq_area, cpu_id) == WEFT_RSEQ_CPU_ID,
	       "rseq layout");
_Static_assert(offsetof(struct weft_rseq_area, rseq_cs) == WEFT_RSEQ_CS,
	       "rseq layout");
_Static_assert(offsetof(struct weft_rseq_area, node_id) == WEFT_RSEQ_NODE_ID,
	       "rseq layout");
_Static_assert(offsetof(struct weft_rseq_area, mm_cid) == WEFT_RSEQ_MM_CID,
	       "rseq layout");
#if defined(WEFT_RSEQ_SIG) && defined(RSEQ_SIG) && \
	!defined(__AARCH64EB__)
_Static_assert(WEFT_RSEQ_SIG == RSEQ_SIG, "glibc registers another signature");
#endif

/* Written by the constructor (and weft_rseq_force_off()); see rseq.h. */
unsigned int weft__rseq_feature;
/*
 * At load time only "WEFT_RSEQ=0" matters (nothing may print yet);
 * weft_rseq_init() checks the value properly when a runtime starts.
 */
static void __attribute__((constructor)) rseq_setup(void)
{
	struct weft_rseq_area *rs = weft_rseq_area();
	int saved_errno = errno;	/* getauxval() sets it when absent */
	const char *env = getenv("WEFT_RSEQ");
	unsigned long feature;

	if ((env && !strcmp(env, "0")) || !__rseq_size ||
	    (int)READ_ONCE(rs->cpu_id) < 0)
		goto out;
	feature = getauxval(AT_RSEQ_FEATURE_SIZE);
	if (feature < RSEQ_ORIG_FEATURE)	/* before 6.3: not exported */
		feature = RSEQ_ORIG_FEATURE;
	weft__rseq_feature = feature;
out:
	errno = saved_errno;
}

int weft_rseq_init(void)
{
	bool on = true;
	int ret = weft_env_bool("WEFT_RSEQ", true, &on);

	if (!ret && !on)
		weft_rseq_force_off();
	return ret;
}

bool weft_rseq_on(void)
{
	return weft__rseq_feature &&
	       (int)weft__rseq_read(WEFT_RSEQ_CPU_ID) >= 0;
}

void weft_rseq_force_off(void)
{
	weft__rseq_feature = 0;
}

int weft__cpu_slow(void)
{
	int saved_errno = errno;
	int cpu = sched_getcpu();

	errno = saved_errno;
	return cpu >= 0 ? cpu : 0;
}

int weft__node_slow(void)
{
	int saved_errno = errno;
	unsigned int cpu, node;
	int ret = getcpu(&cpu, &node);

	errno = saved_errno;
	return ret ? 0 : (int)node;
}
