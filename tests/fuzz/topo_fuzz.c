// SPDX-License-Identifier: MIT
/*
 * topo_fuzz - the WEFT_TOPOLOGY parser, weft_topo_parse() (lib/topo.c).
 *
 * Input: the value, up to a NUL; then two bytes for the steal-order
 * check. Properties:
 *
 *   - weft_topo_parse() accepts exactly what a second, independent parser
 *     of the grammar in lib/topo.h accepts, with the same nodes, CPUs and
 *     distances, and prints nothing either way.
 *   - What it accepts is in range: 1 to WEFT_TOPO_MAX_NODES nodes, each
 *     with a CPU, CPU ids ascending and below CPU_SETSIZE, 10 on the
 *     diagonal of the distances and 11 to 255 elsewhere.
 *   - Round trip: printing an accepted topology as cpulists and
 *     distances and parsing that gives the same struct, byte for byte.
 *   - weft_topo_init() with WEFT_TOPOLOGY set agrees with the parser, and
 *     a value it rejects gets exactly one line naming the variable.
 *   - weft_topo_steal_order() on it returns every other worker once,
 *     nearest node first.
 */
#include <errno.h>
#include <stdbool.h>

#include "lib/topo.h"
#include "fuzz.h"

/* The reference parser's result. */
struct ref_topo {
	unsigned int nnodes;
	int node_of_cpu[CPU_SETSIZE];	/* -1: not used */
	unsigned int dist[WEFT_TOPO_MAX_NODES][WEFT_TOPO_MAX_NODES];
};

/* [s, e) is one decimal number; its value, saturated at 1 << 20. */
static bool ref_num(const char *s, const char *e, unsigned long *v)
{
	if (s == e)
		return false;
	*v = 0;
	for (; s < e; s++) {
		if (*s < '0' || *s > '9')
			return false;
		*v = *v * 10 + (*s - '0');
		if (*v > 1UL << 20)
			*v = 1UL << 20;
	}
	return true;
}

/* The next piece of [*s, e) up to @sep (or e); false when none is left. */
static bool ref_split(const char **s, const char *e, char sep,
		      const char **ps, const char **pe)
{
	const char *p = *s;

	if (!p)
		return false;
	*ps = p;
	while (p < e && *p != sep)
		p++;
	*pe = p;
	*s = p < e ? p + 1 : NULL;
	return true;
}

static bool ref_grid(struct ref_topo *r, const char *s, const char *e)
{
	const char *x = memchr(s, 'x', e - s);
	unsigned long n, m;

	if (!x || !ref_num(s, x, &n) || !ref_num(x + 1, e, &m))
		return false;
	if (n < 1 || n > WEFT_TOPO_MAX_NODES || m < 1 || n * m > CPU_SETSIZE)
		return false;
	for (unsigned long cpu = 0; cpu < n * m; cpu++)
		r->node_of_cpu[cpu] = cpu / m;
	r->nnodes = n;
	return true;
}

static bool ref_lists(struct ref_topo *r, const char *s, const char *e)
{
	const char *node = s, *ns, *ne, *range, *rs, *re, *dash;
	unsigned long lo, hi;

	while (ref_split(&node, e, ':', &ns, &ne)) {
		if (r->nnodes == WEFT_TOPO_MAX_NODES)
			return false;
		range = ns;
		while (ref_split(&range, ne, ',', &rs, &re)) {
			dash = memchr(rs, '-', re - rs);
			if (!ref_num(rs, dash ? dash : re, &lo))
				return false;
			hi = lo;
			if (dash && !ref_num(dash + 1, re, &hi))
				return false;
			if (hi >= CPU_SETSIZE || lo > hi)
				return false;
			for (unsigned long c = lo; c <= hi; c++) {
				if (r->node_of_cpu[c] >= 0)
					return false;
				r->node_of_cpu[c] = r->nnodes;
			}
		}
		r->nnodes++;
	}
	return true;
}

static bool ref_dist(struct ref_topo *r, const char *s, const char *e)
{
	const char *row = s, *rs, *re, *col, *cs, *ce;
	unsigned int i = 0, j;
	unsigned long d;

	while (ref_split(&row, e, '/', &rs, &re)) {
		if (i == r->nnodes)
			return false;
		col = rs;
		j = 0;
		while (ref_split(&col, re, ',', &cs, &ce)) {
			if (j == r->nnodes || !ref_num(cs, ce, &d) || d > 255)
				return false;
			if (i == j ? d != 10 : d < 11)
				return false;
			r->dist[i][j++] = d;
		}
		if (j != r->nnodes)
			return false;
		i++;
	}
	return i == r->nnodes;
}

/* topology := layout [ ';' distances ], by splitting, not scanning. */
static bool ref_parse(struct ref_topo *r, const char *s)
{
	const char *e = s + strlen(s), *semi = memchr(s, ';', e - s);
	const char *le = semi ? semi : e;

	memset(r, 0, sizeof(*r));
	for (int c = 0; c < CPU_SETSIZE; c++)
		r->node_of_cpu[c] = -1;
	if (memchr(s, 'x', le - s) ? !ref_grid(r, s, le) : !ref_lists(r, s, le))
		return false;
	if (semi)
		return ref_dist(r, semi + 1, e);
	for (unsigned int i = 0; i < r->nnodes; i++)
		for (unsigned int j = 0; j < r->nnodes; j++)
			r->dist[i][j] = i == j ? 10 : 20;
	return true;
}

static void check_same(const struct weft_topo *t, const struct ref_topo *r)
{
	unsigned int k = 0;

	FUZZ_CHECK(t->nnodes == r->nnodes, "%u nodes, expected %u",
		   t->nnodes, r->nnodes);
	for (unsigned int c = 0; c < CPU_SETSIZE; c++) {
		if (r->node_of_cpu[c] < 0)
			continue;
		FUZZ_CHECK(k < t->ncpus && t->cpus[k] == c, "cpu %u", c);
		FUZZ_CHECK(t->node_of_cpu[c] == r->node_of_cpu[c],
			   "cpu %u on node %u, expected %d", c,
			   t->node_of_cpu[c], r->node_of_cpu[c]);
		k++;
	}
	FUZZ_CHECK(t->ncpus == k, "%u cpus, expected %u", t->ncpus, k);
	for (unsigned int i = 0; i < r->nnodes; i++)
		for (unsigned int j = 0; j < r->nnodes; j++)
			FUZZ_CHECK(t->dist[i][j] == r->dist[i][j],
				   "dist[%u][%u] %u, expected %u", i, j,
				   t->dist[i][j], r->dist[i][j]);
}

static void check_ranges(const struct weft_topo *t)
{
	unsigned int cpus_of[WEFT_TOPO_MAX_NODES] = { 0 };

	FUZZ_CHECK(t->synthetic);
	FUZZ_CHECK(t->nnodes >= 1 && t->nnodes <= WEFT_TOPO_MAX_NODES);
	FUZZ_CHECK(t->ncpus >= 1 && t->ncpus <= CPU_SETSIZE);
	for (unsigned int k = 0; k < t->ncpus; k++) {
		FUZZ_CHECK(t->cpus[k] < CPU_SETSIZE);
		FUZZ_CHECK(!k || t->cpus[k - 1] < t->cpus[k], "not ascending");
		FUZZ_CHECK(t->node_of_cpu[t->cpus[k]] < t->nnodes);
		cpus_of[t->node_of_cpu[t->cpus[k]]]++;
	}
	for (unsigned int i = 0; i < t->nnodes; i++) {
		FUZZ_CHECK(cpus_of[i], "node %u has no CPU", i);
		for (unsigned int j = 0; j < t->nnodes; j++)
			FUZZ_CHECK(i == j ? t->dist[i][j] == WEFT_TOPO_LOCAL :
					    t->dist[i][j] > WEFT_TOPO_LOCAL,
				   "dist[%u][%u] = %u", i, j, t->dist[i][j]);
	}
}

/* @t as "lo-hi,c:...;d,d/d,d": the canonical cpulist form. */
static void topo_format(const struct weft_topo *t, char *buf, size_t len)
{
	size_t n = 0;

	for (unsigned int node = 0; node < t->nnodes; node++) {
		bool first = true;

		if (node)
			n += snprintf(buf + n, len - n, ":");
		for (unsigned int k = 0; k < t->ncpus; k++) {
			unsigned int lo = t->cpus[k], hi = lo;

			if (t->node_of_cpu[lo] != node)
				continue;
			while (k + 1 < t->ncpus && t->cpus[k + 1] == hi + 1 &&
			       t->node_of_cpu[hi + 1] == node)
				hi = t->cpus[++k];
			n += snprintf(buf + n, len - n, first ? "%u" : ",%u",
				      lo);
			if (hi != lo)
				n += snprintf(buf + n, len - n, "-%u", hi);
			first = false;
		}
	}
	for (unsigned int i = 0; i < t->nnodes; i++)
		for (unsigned int j = 0; j < t->nnodes; j++)
			n += snprintf(buf + n, len - n, "%s%u",
				      !i && !j ? ";" : !j ? "/" : ",",
				      t->dist[i][j]);
	FUZZ_CHECK(n < len, "formatted topology too long");
}

static void check_steal_order(const struct weft_topo *t, struct fuzz_in *in)
{
	static unsigned int order[2 * CPU_SETSIZE];
	unsigned int nworkers = fuzz_u64(in, 2) % (2 * CPU_SETSIZE) + 1;
	unsigned int worker = fuzz_u64(in, 2) % nworkers, me, prev = 0;
	static bool seen[2 * CPU_SETSIZE];
	int n;

	FUZZ_CHECK(weft_topo_steal_order(t, nworkers, nworkers, order) ==
		   -EINVAL);
	n = weft_topo_steal_order(t, worker, nworkers, order);
	FUZZ_CHECK(n == (int)nworkers - 1, "%d of %u", n, nworkers);
	memset(seen, 0, nworkers);
	me = weft_topo_node_of_worker(t, worker);
	for (int k = 0; k < n; k++) {
		unsigned int j = order[k], node, key;

		FUZZ_CHECK(j < nworkers && j != worker && !seen[j],
			   "order[%d] = %u", k, j);
		seen[j] = true;
		node = weft_topo_node_of_worker(t, j);
		key = node == me ? 0 : t->dist[me][node];
		FUZZ_CHECK(key >= prev, "order[%d]: nearer after farther", k);
		prev = key;
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fuzz_setup();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct weft_topo t, t2;
	static struct ref_topo r;
	static char s[4096], fmt[32768], msg[4096];
	struct fuzz_in in = { data, size };
	struct fuzz_env env;
	size_t n;
	bool ok;
	int ret;

	fuzz_what = fuzz_str(&in, s, sizeof(s));
	fuzz_capture_begin();
	ret = weft_topo_parse(&t, s);
	n = fuzz_capture_end(msg, sizeof(msg));
	FUZZ_CHECK(ret == 0 || ret == -EINVAL, "returned %d", ret);
	FUZZ_CHECK(!n, "printed \"%.*s\"", (int)n, msg);
	ok = ref_parse(&r, s);
	FUZZ_CHECK(!ret == ok, "returned %d, reference %s", ret,
		   ok ? "accepts" : "rejects");

	/* weft_topo_init() as a program sees it. */
	fuzz_env_enter(&env, "WEFT_TOPOLOGY", s);
	fuzz_capture_begin();
	ret = weft_topo_init(&t2);
	n = fuzz_capture_end(msg, sizeof(msg));
	fuzz_env_leave(&env);
	if (!*s) {
		FUZZ_CHECK(!ret && !t2.synthetic && !n, "empty: the machine's");
	} else if (!ok) {
		FUZZ_CHECK(ret == -EINVAL, "init returned %d", ret);
		static char q[4 * 8192 + 1];

		snprintf(fmt, sizeof(fmt),
			 "weft: WEFT_TOPOLOGY=\"%s\" is not valid: expected NxM or cpu lists separated by ':' (see README.md)",
			 strlen(s) < 8192 ? fuzz_quote(s, q) : s);
		fuzz_check_log_line(msg, n, fmt, s);
	} else {
		FUZZ_CHECK(!ret && !n, "init returned %d", ret);
		memset(&t2.allowed, 0, sizeof(t2.allowed));
		FUZZ_CHECK(!memcmp(&t, &t2, sizeof(t)), "init != parse");
	}
	if (!ok)
		return 0;

	check_same(&t, &r);
	check_ranges(&t);
	topo_format(&t, fmt, sizeof(fmt));
	fuzz_what = fmt;
	FUZZ_CHECK(!weft_topo_parse(&t2, fmt), "format not accepted");
	FUZZ_CHECK(!memcmp(&t, &t2, sizeof(t)), "round trip differs");
	fuzz_what = s;
	check_steal_order(&t, &in);
	return 0;
}
