/* SPDX-License-Identifier: MIT */
/*
 * Machine topology: the CPUs workers run on, the NUMA node of each, and
 * the distances between nodes, as the scheduler sees them.
 *
 * By default it is the machine's: the CPUs of the process's affinity mask,
 * their nodes and the node distance matrix from libnuma (one node holding
 * every CPU where the kernel has no NUMA). WEFT_TOPOLOGY replaces it with
 * a synthetic one, to test NUMA policy on any machine:
 *
 *	topology  := layout [ ';' distances ]
 *	layout    := N 'x' M		N nodes of M CPUs: node i holds
 *					CPUs i*M .. i*M+M-1
 *		   | cpulist { ':' cpulist }	node i holds the i-th list
 *	cpulist   := range { ',' range }
 *	range     := CPU [ '-' CPU ]
 *	distances := row { '/' row }	one row per node, ...
 *	row       := D { ',' D }	... of one distance per node
 *
 * e.g. "2x4", "0-3,8-11:4-7,12-15", "4x1;10,12,20,20/12,10,20,20/
 * 20,20,10,12/20,20,12,10". Distances are ACPI SLIT values: 10 on the
 * diagonal, 11 to 255 elsewhere; without them a node is 10 from itself
 * and 20 from every other. At most WEFT_TOPO_MAX_NODES nodes, CPU ids
 * below CPU_SETSIZE, each CPU in one node. A synthetic topology may name
 * CPUs the machine lacks: worker i runs on "virtual CPU" cpus[i % ncpus]
 * and is pinned only where that CPU is in the affinity mask.
 */
#ifndef WEFT_LIB_TOPO_H
#define WEFT_LIB_TOPO_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>

#define WEFT_TOPO_MAX_NODES	64
#define WEFT_TOPO_LOCAL		10	/* a node's distance to itself */
#define WEFT_TOPO_REMOTE	20	/* the default between two nodes */

/* Filled in by weft_topo_init() before workers start; read-only after. */
struct weft_topo {
	unsigned int ncpus;			/* CPUs workers run on */
	unsigned int nnodes;			/* node ids are 0 .. nnodes-1 */
	bool synthetic;				/* from WEFT_TOPOLOGY */
	unsigned short cpus[CPU_SETSIZE];	/* their ids, ascending */
	unsigned char node_of_cpu[CPU_SETSIZE];	/* by CPU id */
	unsigned char dist[WEFT_TOPO_MAX_NODES][WEFT_TOPO_MAX_NODES];
	cpu_set_t allowed;			/* the affinity mask */
};

/**
 * weft_topo_init() - find the topology workers will use.
 * @t: filled in.
 *
 * Reads WEFT_TOPOLOGY when it is set and not empty, else the machine.
 *
 * Return: 0, or -EINVAL after one line on stderr when WEFT_TOPOLOGY is
 * not valid, or the -errno of sched_getaffinity().
 */
int weft_topo_init(struct weft_topo *t);

/**
 * weft_topo_parse() - fill @t from a WEFT_TOPOLOGY value @s.
 *
 * Return: 0, or -EINVAL (printing nothing) when @s is not valid.
 */
int weft_topo_parse(struct weft_topo *t, const char *s);

/**
 * weft_topo_worker_cpu() - the CPU of worker @worker.
 * @cpu: set to the worker's (possibly virtual) CPU, cpus[@worker % ncpus].
 *
 * Return: true when the worker should be pinned to *@cpu, false when that
 * CPU is not in the affinity mask (a synthetic CPU the machine lacks).
 */
bool weft_topo_worker_cpu(const struct weft_topo *t, unsigned int worker,
			  unsigned int *cpu);

/* weft_topo_node_of_worker() - the node of worker @worker's CPU. */
static inline unsigned int weft_topo_node_of_worker(const struct weft_topo *t,
						    unsigned int worker)
{
	return t->node_of_cpu[t->cpus[worker % t->ncpus]];
}

/**
 * weft_topo_steal_order() - the order in which @worker looks at victims.
 * @order: filled with the @nworkers - 1 other workers' indexes: those on
 *	   @worker's node first, then by increasing node distance; within a
 *	   distance, starting just after @worker and wrapping around, so that
 *	   workers do not all try the same victim first.
 *
 * Return: the number of indexes written (@nworkers - 1), or -EINVAL when
 * @worker >= @nworkers.
 */
int weft_topo_steal_order(const struct weft_topo *t, unsigned int worker,
			  unsigned int nworkers, unsigned int *order);

/**
 * weft_topo_prefer_node() - ask for [@addr, @addr + @len) to be placed on
 * (topology) node @node: mbind(MPOL_PREFERRED) on the real memory node it
 * maps to (itself, or node % the nodes this process may allocate on, for
 * a synthetic node the machine lacks). Nothing on a machine with one
 * memory node. Advice only: memory still comes from elsewhere when the
 * node runs out, and a failure leaves the default policy.
 */
void weft_topo_prefer_node(void *addr, size_t len, unsigned int node);

#endif
