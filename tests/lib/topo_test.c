// SPDX-License-Identifier: MIT
/*
 * Topology: WEFT_TOPOLOGY's forms and its errors, the machine's own, the
 * order workers steal in, and stacks placed on their cache's node.
 */
#include <limits.h>
#include <numa.h>
#include <numaif.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "lib/stack.h"
#include "lib/topo.h"

static struct weft_topo t;

TEST(grid_form)
{
	ASSERT_EQ(weft_topo_parse(&t, "2x4"), 0);
	EXPECT_TRUE(t.synthetic);
	EXPECT_EQ(t.nnodes, 2);
	ASSERT_EQ(t.ncpus, 8);
	for (unsigned int i = 0; i < 8; i++) {
		EXPECT_EQ(t.cpus[i], i);
		EXPECT_EQ(t.node_of_cpu[i], i / 4);
	}
	EXPECT_EQ(t.dist[0][0], 10);
	EXPECT_EQ(t.dist[0][1], 20);
	EXPECT_EQ(t.dist[1][0], 20);
	EXPECT_EQ(t.dist[1][1], 10);

	ASSERT_EQ(weft_topo_parse(&t, "4x2"), 0);
	EXPECT_EQ(t.nnodes, 4);
	ASSERT_EQ(t.ncpus, 8);
	EXPECT_EQ(t.node_of_cpu[5], 2);
	EXPECT_EQ(t.dist[3][1], 20);
}

TEST(list_form)
{
	ASSERT_EQ(weft_topo_parse(&t, "0-3,8-11:4-7,12-15"), 0);
	EXPECT_TRUE(t.synthetic);
	EXPECT_EQ(t.nnodes, 2);
	ASSERT_EQ(t.ncpus, 16);
	for (unsigned int i = 0; i < 16; i++) {
		EXPECT_EQ(t.cpus[i], i);	/* ascending, whatever the node */
		EXPECT_EQ(t.node_of_cpu[i], (i / 4) % 2);
	}
	EXPECT_EQ(t.dist[0][1], 20);

	ASSERT_EQ(weft_topo_parse(&t, "5:3:1000,7"), 0);
	EXPECT_EQ(t.nnodes, 3);
	ASSERT_EQ(t.ncpus, 4);
	EXPECT_EQ(t.cpus[0], 3);
	EXPECT_EQ(t.cpus[3], 1000);
	EXPECT_EQ(t.node_of_cpu[5], 0);
	EXPECT_EQ(t.node_of_cpu[3], 1);
	EXPECT_EQ(t.node_of_cpu[7], 2);
}

TEST(distance_rows)
{
	ASSERT_EQ(weft_topo_parse(&t, "0:1;10,15/25,10"), 0);
	EXPECT_EQ(t.dist[0][1], 15);
	EXPECT_EQ(t.dist[1][0], 25);	/* need not be symmetric */

	ASSERT_EQ(weft_topo_parse(&t, "4x1;10,12,20,30/12,10,30,20/"
				      "20,30,10,12/30,20,12,10"), 0);
	EXPECT_EQ(t.nnodes, 4);
	EXPECT_EQ(t.dist[0][3], 30);
	EXPECT_EQ(t.dist[2][3], 12);
	EXPECT_EQ(t.dist[3][3], 10);
}

static const char *const bad[] = {
	"abc", "2x", "x2", "0x4", "2x0", "65x1", "2x513", "2x4x",
	"2x4;", "2x2;10,20", "2x2;10,20/20,10/", "2x2;10,20/20,10,",
	"2x2;20,20/20,10", "2x2;10,10/10,10", "2x2;10,9/20,10",
	"2x2;10,256/20,10", "2x2;10,20;20,10", "2X4", " 2x4", "2x4 ",
	"0-3:3-4", "3-1", "0-1:", ":0", "0,,1", "0-", "-1", "1024",
	"0-1024", "0:1;10,20", "1x1;10,20/20,10", "0;10;",
};

TEST(bad_values_are_einval)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_EQ(weft_topo_parse(&t, bad[i]), -EINVAL)
			TH_LOG("\"%s\"", bad[i]);
}

TEST(too_many_nodes)
{
	char s[4 * 65 + 1], *p = s;

	for (int i = 0; i < 64; i++)
		p += sprintf(p, "%s%d", i ? ":" : "", i);
	ASSERT_EQ(weft_topo_parse(&t, s), 0);
	EXPECT_EQ(t.nnodes, 64);
	sprintf(p, ":64");
	EXPECT_EQ(weft_topo_parse(&t, s), -EINVAL);
}

static void init_with(void *arg)
{
	setenv("WEFT_TOPOLOGY", arg, 1);
	exit(-weft_topo_init(&t));
}

TEST(bad_values_print_one_line)
{
	char out[1024], want[256];
	int status;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_EQ(harness_run_child(init_with, (void *)bad[i], out,
					    sizeof(out), &status), 0);
		ASSERT_TRUE(WIFEXITED(status));
		ASSERT_EQ(WEXITSTATUS(status), EINVAL);
		snprintf(want, sizeof(want),
			 "weft: WEFT_TOPOLOGY=\"%s\" is not valid: expected NxM or cpu lists separated by ':' (see README.md)\n",
			 bad[i]);
		ASSERT_STREQ(out, want);
	}
}

TEST(environment_is_read)
{
	setenv("WEFT_TOPOLOGY", "2x3", 1);
	ASSERT_EQ(weft_topo_init(&t), 0);
	EXPECT_TRUE(t.synthetic);
	EXPECT_EQ(t.nnodes, 2);
	EXPECT_EQ(t.ncpus, 6);
}

/* The machine's: the affinity CPUs; one node without NUMA. */
static void check_machine(struct __test_metadata *_metadata)
{
	cpu_set_t set;
	unsigned int n = 0;

	ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
	ASSERT_EQ(weft_topo_init(&t), 0);
	EXPECT_FALSE(t.synthetic);
	ASSERT_EQ(t.ncpus, CPU_COUNT(&set));
	for (unsigned int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		EXPECT_EQ(t.cpus[n++], cpu);
		EXPECT_LT(t.node_of_cpu[cpu], t.nnodes);
	}
	ASSERT_GE(t.nnodes, 1);
	if (numa_available() < 0)
		EXPECT_EQ(t.nnodes, 1);
	for (unsigned int i = 0; i < t.nnodes; i++)
		EXPECT_EQ(t.dist[i][i], 10);
	TH_LOG("%u CPUs, %u nodes", t.ncpus, t.nnodes);
}

TEST(machine)
{
	unsetenv("WEFT_TOPOLOGY");
	check_machine(_metadata);
	setenv("WEFT_TOPOLOGY", "", 1);		/* empty: unset */
	check_machine(_metadata);
}

TEST(node_of_worker)
{
	ASSERT_EQ(weft_topo_parse(&t, "2x4"), 0);
	for (unsigned int w = 0; w < 8; w++)
		EXPECT_EQ(weft_topo_node_of_worker(&t, w), w / 4);
	EXPECT_EQ(weft_topo_node_of_worker(&t, 8), 0);	/* wraps */
	EXPECT_EQ(weft_topo_node_of_worker(&t, 13), 1);

	ASSERT_EQ(weft_topo_parse(&t, "0-3,8-11:4-7,12-15"), 0);
	EXPECT_EQ(weft_topo_node_of_worker(&t, 4), 1);
	EXPECT_EQ(weft_topo_node_of_worker(&t, 8), 0);
}

TEST(virtual_cpus_are_not_pinned)
{
	unsigned int last = CPU_SETSIZE - 1, first, cpu;
	char s[32];

	ASSERT_EQ(sched_getaffinity(0, sizeof(t.allowed), &t.allowed), 0);
	if (CPU_ISSET(last, &t.allowed))
		SKIP(return, "CPU %u exists here", last);
	for (first = 0; !CPU_ISSET(first, &t.allowed); first++)
		;
	snprintf(s, sizeof(s), "%u:%u", first, last);
	setenv("WEFT_TOPOLOGY", s, 1);
	ASSERT_EQ(weft_topo_init(&t), 0);
	EXPECT_TRUE(weft_topo_worker_cpu(&t, 0, &cpu));
	EXPECT_EQ(cpu, first);
	EXPECT_FALSE(weft_topo_worker_cpu(&t, 1, &cpu));
	EXPECT_EQ(cpu, last);
	EXPECT_EQ(weft_topo_node_of_worker(&t, 1), 1);
	EXPECT_TRUE(weft_topo_worker_cpu(&t, 2, &cpu));	/* wraps */
}

static void expect_order(struct __test_metadata *_metadata,
			 unsigned int worker, unsigned int nworkers,
			 const unsigned int *want)
{
	unsigned int order[64];

	ASSERT_EQ(weft_topo_steal_order(&t, worker, nworkers, order),
		  nworkers - 1);
	for (unsigned int i = 0; i < nworkers - 1; i++)
		EXPECT_EQ(order[i], want[i]) TH_LOG("worker %u, victim %u",
						    worker, i);
}

TEST(steal_order_two_nodes)
{
	ASSERT_EQ(weft_topo_parse(&t, "2x4"), 0);
	expect_order(_metadata, 1, 8, (unsigned int[]){ 2, 3, 0, 4, 5, 6, 7 });
	expect_order(_metadata, 6, 8, (unsigned int[]){ 7, 4, 5, 0, 1, 2, 3 });
	/* Two workers per CPU: 8-15 share CPUs 0-7. */
	expect_order(_metadata, 0, 16, (unsigned int[]){
		1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15 });
	/* Fewer workers than CPUs: all on node 0. */
	expect_order(_metadata, 2, 3, (unsigned int[]){ 0, 1 });
}

/* Node 0 is nearer node 1 than node 2, and node 2 nearer than node 3. */
#define FOUR "4x2;10,12,20,30/12,10,30,20/20,30,10,12/30,20,12,10"

TEST(steal_order_four_nodes)
{
	ASSERT_EQ(weft_topo_parse(&t, FOUR), 0);
	expect_order(_metadata, 0, 8, (unsigned int[]){ 1, 2, 3, 4, 5, 6, 7 });
	expect_order(_metadata, 1, 8, (unsigned int[]){ 0, 2, 3, 4, 5, 6, 7 });
	expect_order(_metadata, 2, 8, (unsigned int[]){ 3, 0, 1, 6, 7, 4, 5 });
	expect_order(_metadata, 5, 8, (unsigned int[]){ 4, 6, 7, 0, 1, 2, 3 });
	expect_order(_metadata, 7, 8, (unsigned int[]){ 6, 4, 5, 2, 3, 0, 1 });
}

/* For any worker: every other worker once, nearest first. */
TEST(steal_order_is_a_sorted_permutation)
{
	unsigned int order[40];

	ASSERT_EQ(weft_topo_parse(&t, FOUR), 0);
	for (unsigned int w = 0; w < 40; w++) {
		unsigned int me = weft_topo_node_of_worker(&t, w), prev = 0;
		bool seen[40] = { false };

		ASSERT_EQ(weft_topo_steal_order(&t, w, 40, order), 39);
		for (unsigned int i = 0; i < 39; i++) {
			unsigned int n = weft_topo_node_of_worker(&t, order[i]);
			unsigned int key = n == me ? 0 : t.dist[me][n];

			ASSERT_LT(order[i], 40);
			ASSERT_NE(order[i], w);
			ASSERT_FALSE(seen[order[i]]);
			seen[order[i]] = true;
			ASSERT_GE(key, prev);
			prev = key;
		}
	}
}

TEST(steal_order_spreads_first_victims)
{
	unsigned int order[7];
	bool first[8] = { false };

	ASSERT_EQ(weft_topo_parse(&t, "2x4"), 0);
	for (unsigned int w = 0; w < 8; w++) {
		ASSERT_EQ(weft_topo_steal_order(&t, w, 8, order), 7);
		ASSERT_FALSE(first[order[0]]);
		first[order[0]] = true;
	}
}

TEST(steal_order_edges)
{
	unsigned int order[1];

	ASSERT_EQ(weft_topo_parse(&t, "2x4"), 0);
	EXPECT_EQ(weft_topo_steal_order(&t, 0, 1, order), 0);
	EXPECT_EQ(weft_topo_steal_order(&t, 1, 1, order), -EINVAL);
	EXPECT_EQ(weft_topo_steal_order(&t, 0, 0, order), -EINVAL);
}

/* ---- stacks on their cache's node ---- */

FIXTURE(place) {
	struct weft_stack_cache cache[2];
	int cls;
};

FIXTURE_SETUP(place)
{
	setenv("WEFT_TOPOLOGY", "2x1", 1);
	ASSERT_EQ(weft_topo_init(&t), 0);
	ASSERT_GE(weft_stack_init(-1), 0);
	self->cls = weft_stack_class(64 << 10);
	ASSERT_GE(self->cls, 0);
	for (unsigned int w = 0; w < 2; w++)
		self->cache[w].node = weft_topo_node_of_worker(&t, w);
}

FIXTURE_TEARDOWN(place)
{
}

TEST_F(place, stack_comes_from_its_node)
{
	uint32_t i0, i1, j1;
	void *t0, *t1, *u1;
	unsigned int cls = self->cls;
	bool in_guard;

	t1 = weft_stack_get(&self->cache[1], cls, &i1);
	ASSERT_NE_NULL(t1);
	EXPECT_EQ(weft_stack_node(cls, i1), 1);
	t0 = weft_stack_get(&self->cache[0], cls, &i0);
	ASSERT_NE_NULL(t0);
	EXPECT_EQ(weft_stack_node(cls, i0), 0);
	EXPECT_NE(i0, i1);
	EXPECT_EQ(weft_stack_top(cls, i0), t0);
	EXPECT_EQ(weft_stack_top(cls, i1), t1);
	/* A second node-1 stack follows the first in its chunk. */
	u1 = weft_stack_get(&self->cache[1], cls, &j1);
	ASSERT_NE_NULL(u1);
	EXPECT_EQ(j1, i1 + 1);
	EXPECT_EQ(weft_stack_node(cls, j1), 1);
	/* Lookups find stacks of every chunk. */
	EXPECT_EQ(weft_stack_find((char *)u1 - 100, &cls, &in_guard), u1);
	EXPECT_FALSE(in_guard);
	EXPECT_EQ(weft_stack_find((char *)t0 - 100, &cls, &in_guard), t0);
	EXPECT_NULL(weft_stack_top(cls, j1 + 1));
	EXPECT_EQ(weft_stack_node(cls, j1 + 1), UINT_MAX);
}

static void count_each(unsigned int cls, uint32_t index, void *top, void *arg)
{
	unsigned int *n = arg;

	(void)cls;
	(void)index;
	(void)top;
	(*n)++;
}

TEST_F(place, pools_keep_nodes_apart)
{
	struct weft_stack_cache other = { .node = 0 };
	unsigned int cls = self->cls, n = 0;
	uint32_t i0, i1, j;
	void *t0, *t1;

	/* A node-0 stack, freed through the node-1 cache... */
	t0 = weft_stack_get(&self->cache[0], cls, &i0);
	ASSERT_NE_NULL(t0);
	weft_stack_put(&self->cache[1], cls, t0, i0);
	weft_stack_cache_drain(&self->cache[1]);
	/* ...goes back to node 0's pool: node 1 carves its own... */
	t1 = weft_stack_get(&self->cache[1], cls, &i1);
	ASSERT_NE_NULL(t1);
	EXPECT_NE(i1, i0);
	EXPECT_EQ(weft_stack_node(cls, i1), 1);
	/* ...and node 0 gets it back. */
	ASSERT_EQ(weft_stack_get(&other, cls, &j), t0);
	EXPECT_EQ(j, i0);
	weft_stack_each(count_each, &n);
	EXPECT_EQ(n, 2);
}

/* How many nodes this process may allocate on. */
static int mem_nodes(void)
{
	struct bitmask *b;
	int n;

	if (numa_available() < 0)
		return 1;
	b = numa_get_mems_allowed();
	n = numa_bitmask_weight(b);
	numa_bitmask_free(b);
	return n;
}

TEST_F(place, mbind_only_with_several_nodes)
{
	unsigned long mask[4] = { 0 };
	int mode = -1, nodes = mem_nodes();
	uint32_t index;
	char *top;

	top = weft_stack_get(&self->cache[1], self->cls, &index);
	ASSERT_NE_NULL(top);
	top[-2 * WEFT_PAGE] = 1;	/* a page below the touched top one */
	if (get_mempolicy(&mode, mask, sizeof(mask) * 8, top - 2 * WEFT_PAGE,
			  MPOL_F_ADDR) && errno == ENOSYS)
		SKIP(return, "no NUMA in this kernel");
	TH_LOG("%d memory nodes, policy %d, mask %#lx", nodes, mode, mask[0]);
	if (nodes < 2) {
		EXPECT_EQ(mode, MPOL_DEFAULT);	/* mbind skipped */
		return;
	}
	EXPECT_EQ(mode, MPOL_PREFERRED);
	EXPECT_EQ(__builtin_popcountl(mask[0]), 1);
	if (numa_bitmask_isbitset(numa_all_nodes_ptr, 1))
		EXPECT_EQ(mask[0], 1UL << 1);	/* a real node 1: itself */
}

TEST_HARNESS_MAIN
