// SPDX-License-Identifier: MIT
#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "topo.h"

/* A decimal number of at most @max at *@s; advances *@s past it. */
static int parse_num(const char **s, unsigned long max, unsigned long *out)
{
	const char *p = *s;
	unsigned long v = 0;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > max)
			return -EINVAL;
	}
	*s = p;
	*out = v;
	return 0;
}

/* "NxM": node i holds CPUs i*M .. i*M+M-1. */
static int parse_grid(struct weft_topo *t, const char **s)
{
	unsigned long n, m;

	if (parse_num(s, WEFT_TOPO_MAX_NODES, &n) || *(*s)++ != 'x' ||
	    parse_num(s, CPU_SETSIZE, &m) || !n || !m || n * m > CPU_SETSIZE)
		return -EINVAL;
	for (unsigned int cpu = 0; cpu < n * m; cpu++) {
		t->cpus[cpu] = cpu;
		t->node_of_cpu[cpu] = cpu / m;
	}
	t->ncpus = n * m;
	t->nnodes = n;
	return 0;
}

/* "CPU" or "CPU-CPU", lowest first. */
static int parse_range(const char **s, unsigned long *lo, unsigned long *hi)
{
	if (parse_num(s, CPU_SETSIZE - 1, lo))
		return -EINVAL;
	*hi = *lo;
	if (**s != '-')
		return 0;
	++*s;
	return parse_num(s, CPU_SETSIZE - 1, hi) || *hi < *lo ? -EINVAL : 0;
}

/* "0-3,8:4-7": node i holds the i-th list; no CPU in two nodes. */
static int parse_lists(struct weft_topo *t, const char **s)
{
	unsigned long lo, hi;
	cpu_set_t seen;

	CPU_ZERO(&seen);
	for (;;) {
		if (t->nnodes == WEFT_TOPO_MAX_NODES)
			return -EINVAL;
		do {
			if (parse_range(s, &lo, &hi))
				return -EINVAL;
			for (; lo <= hi; lo++) {
				if (CPU_ISSET(lo, &seen))
					return -EINVAL;
				CPU_SET(lo, &seen);
				t->node_of_cpu[lo] = t->nnodes;
			}
		} while (**s == ',' && ++*s);
		t->nnodes++;
		if (**s != ':')
			break;
		++*s;
	}
	for (unsigned int cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &seen))
			t->cpus[t->ncpus++] = cpu;
	return 0;
}

/* "10,20/20,10": one row per node, 10 on the diagonal, 11-255 elsewhere. */
static int parse_dist(struct weft_topo *t, const char *s)
{
	unsigned int n = t->nnodes;
	unsigned long d;

	for (unsigned int i = 0; i < n; i++) {
		for (unsigned int j = 0; j < n; j++) {
			char sep = j + 1 < n ? ',' : i + 1 < n ? '/' : '\0';

			if (parse_num(&s, 255, &d) || d < WEFT_TOPO_LOCAL ||
			    (i == j) != (d == WEFT_TOPO_LOCAL) || *s != sep)
				return -EINVAL;
			t->dist[i][j] = d;
			s += !!sep;
		}
	}
	return 0;
}

static void dist_default(struct weft_topo *t)
{
	for (unsigned int i = 0; i < t->nnodes; i++)
		for (unsigned int j = 0; j < t->nnodes; j++)
			t->dist[i][j] = i == j ? WEFT_TOPO_LOCAL
					       : WEFT_TOPO_REMOTE;
}

int weft_topo_parse(struct weft_topo *t, const char *s)
{
	bool grid = s[strspn(s, "0123456789")] == 'x';
	int ret;

	memset(t, 0, sizeof(*t));
	t->synthetic = true;
	ret = grid ? parse_grid(t, &s) : parse_lists(t, &s);
	if (ret)
		return ret;
	if (*s == ';')
		return parse_dist(t, s + 1);
	if (*s)
		return -EINVAL;
	dist_default(t);
	return 0;
}

/* The affinity CPUs and libnuma's nodes; one node where NUMA is absent. */
static void topo_machine(struct weft_topo *t)
{
	int max = numa_available() < 0 ? 0 : numa_max_node();

	if (max >= WEFT_TOPO_MAX_NODES) {
		weft_dbg("%d NUMA nodes: more than %d, seen as one", max + 1,
			 WEFT_TOPO_MAX_NODES);
		max = 0;
	}
	t->nnodes = max + 1;
	for (unsigned int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		int node;

		if (!CPU_ISSET(cpu, &t->allowed))
			continue;
		node = max ? numa_node_of_cpu(cpu) : 0;
		t->cpus[t->ncpus++] = cpu;
		t->node_of_cpu[cpu] = node >= 0 && node <= max ? node : 0;
	}
	dist_default(t);
	for (int i = 0; max && i <= max; i++) {
		for (int j = 0; j <= max; j++) {
			int d = numa_distance(i, j);	/* 0: unknown */

			if (d)
				t->dist[i][j] = d < 255 ? d : 255;
		}
	}
}

int weft_topo_init(struct weft_topo *t)
{
	const char *s = getenv("WEFT_TOPOLOGY");

	if (s && *s) {
		if (weft_topo_parse(t, s)) {
			char q[1024];

			weft_log("WEFT_TOPOLOGY=\"%s\" is not valid: expected NxM or cpu lists separated by ':' (see README.md)",
				 weft_quote(s, q, sizeof(q)));
			return -EINVAL;
		}
	} else {
		memset(t, 0, sizeof(*t));
	}
	if (sched_getaffinity(0, sizeof(t->allowed), &t->allowed))
		return -errno;
	if (!t->synthetic)
		topo_machine(t);
	return 0;
}

bool weft_topo_worker_cpu(const struct weft_topo *t, unsigned int worker,
			  unsigned int *cpu)
{
	*cpu = t->cpus[worker % t->ncpus];
	return CPU_ISSET(*cpu, &t->allowed);
}

/* Sort key of worker @j seen from node @me: 0 for @me, else the distance. */
static inline unsigned int steal_key(const struct weft_topo *t, unsigned int me,
				     unsigned int j)
{
	unsigned int node = weft_topo_node_of_worker(t, j);

	return node == me ? 0 : t->dist[me][node];
}

int weft_topo_steal_order(const struct weft_topo *t, unsigned int worker,
			  unsigned int nworkers, unsigned int *order)
{
	unsigned int me, pos[257] = { 0 };	/* count, then slot, per key */

	if (worker >= nworkers)
		return -EINVAL;
	me = weft_topo_node_of_worker(t, worker);
	/* A stable counting sort of the workers after @worker, wrapping. */
	for (unsigned int k = 1; k < nworkers; k++)
		pos[steal_key(t, me, (worker + k) % nworkers) + 1]++;
	for (unsigned int key = 1; key < 257; key++)
		pos[key] += pos[key - 1];
	for (unsigned int k = 1; k < nworkers; k++) {
		unsigned int j = (worker + k) % nworkers;

		order[pos[steal_key(t, me, j)]++] = j;
	}
	return nworkers - 1;
}

/* The nodes this process may allocate memory on, found once. */
static struct {
	pthread_once_t once;
	unsigned int n;
	unsigned char node[WEFT_TOPO_MAX_NODES];
} mems = { .once = PTHREAD_ONCE_INIT };

static void mems_find(void)
{
	struct bitmask *b;

	if (numa_available() < 0)
		return;
	b = numa_get_mems_allowed();
	if (!b)
		return;
	for (unsigned int i = 0; i < b->size && i < WEFT_TOPO_MAX_NODES; i++)
		if (numa_bitmask_isbitset(b, i))
			mems.node[mems.n++] = i;
	numa_bitmask_free(b);
}

void weft_topo_prefer_node(void *addr, size_t len, unsigned int node)
{
	unsigned long mask[WEFT_TOPO_MAX_NODES / 64 + 1] = { 0 };
	unsigned int real;

	pthread_once(&mems.once, mems_find);
	if (mems.n < 2)
		return;
	real = mems.node[node % mems.n];
	for (unsigned int i = 0; i < mems.n; i++)
		if (mems.node[i] == node)
			real = node;	/* a real node: itself */
	mask[real / 64] |= 1UL << (real % 64);
	/* Preferred, never bound: a full node must not mean OOM. */
	(void)mbind(addr, len, MPOL_PREFERRED, mask, sizeof(mask) * 8, 0);
}
