// SPDX-License-Identifier: MIT
/*
 * env_fuzz - the WEFT_* value parsers of lib/env.c.
 *
 * Input: one byte choosing a check (bit 7: the variable is unset), 24
 * bytes of numbers (a default and a range, or a value to format), then
 * the value, up to a NUL; after it, for the choice check, the choices,
 * NUL-separated. Properties:
 *
 *   weft_parse_uint()	accepts exactly the non-empty strings of decimal
 *			digits up to ULONG_MAX, with the value strtoul()
 *			gives; -ERANGE when the leading digits pass
 *			ULONG_MAX, -EINVAL for anything else.
 *   weft_parse_size()	the same number followed by nothing, K, M or G
 *			(either case), times 2^0/10/20/30; -ERANGE past
 *			SIZE_MAX; -EINVAL for anything else, and for
 *			strings of 32 characters or more.
 *   round trips	parse(format(v)) == v in every notation.
 *   weft_env_*()	unset or empty: the default, silently; a value
 *			that parses and lies in [min, max] (or equals a
 *			choice): that value, silently; anything else:
 *			-EINVAL and exactly one line, "weft: NAME=\"VALUE\"
 *			is not valid: expected ...", whose bounds parse
 *			back to min and max or which lists every choice
 *			(but see the known bugs in fuzz.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>

#include "lib/env.h"
#include "fuzz.h"

#define NAME	"WEFT_FUZZ"

static const char *const bool_choices[] = { "0", "1", NULL };

/*
 * An independent decimal reader, comparing digit strings. The error is
 * that of the first problem from the left: leading digits past ULONG_MAX
 * are -ERANGE even when something else follows them.
 */
static int ref_uint(const char *s, unsigned long *out)
{
	size_t digits = strspn(s, "0123456789"), zeros = strspn(s, "0");
	size_t n, nmax;
	char max[32];

	if (zeros == digits && zeros)
		zeros--;	/* keep one 0 */
	n = digits - zeros;
	nmax = snprintf(max, sizeof(max), "%lu", ULONG_MAX);
	if (n > nmax || (n == nmax && memcmp(s + zeros, max, n) > 0))
		return -ERANGE;
	if (!digits || s[digits])
		return -EINVAL;
	*out = strtoul(s, NULL, 10);
	return 0;
}

static unsigned int suffix_shift(char c)
{
	switch (c) {
	case 'k': case 'K': return 10;
	case 'm': case 'M': return 20;
	case 'g': case 'G': return 30;
	}
	return 0;
}

static int ref_size(const char *s, size_t *out)
{
	char num[64];
	size_t len = strlen(s);
	unsigned long v;
	unsigned int shift;
	int ret;

	if (!len || len >= 32)
		return -EINVAL;
	shift = suffix_shift(s[len - 1]);
	memcpy(num, s, len + 1);
	if (shift)
		num[len - 1] = '\0';
	ret = ref_uint(num, &v);
	if (ret)
		return ret;
	if (shift && v > (SIZE_MAX >> shift))
		return -ERANGE;
	*out = (size_t)v << shift;
	return 0;
}

/* The notation error messages use: the largest suffix that is exact. */
static void fmt_size(char *buf, size_t len, size_t v)
{
	static const char suffix[] = "GMK";

	for (int i = 0; i < 3; i++) {
		unsigned int shift = 30 - 10 * i;

		if (v && !(v & (((size_t)1 << shift) - 1))) {
			snprintf(buf, len, "%zu%c", v >> shift, suffix[i]);
			return;
		}
	}
	snprintf(buf, len, "%zu", v);
}

static void check_parse_uint(const char *s)
{
	unsigned long v = 0, r = 0;
	int ret = weft_parse_uint(s, &v), want = ref_uint(s, &r);
	char back[32];

	FUZZ_CHECK(ret == want, "returned %d, expected %d", ret, want);
	if (ret)
		return;
	FUZZ_CHECK(v == r, "parsed %lu, expected %lu", v, r);
	/* format(parse(s)) is s without its leading zeros */
	snprintf(back, sizeof(back), "%lu", v);
	s += strspn(s, "0");
	FUZZ_CHECK(!strcmp(back, *s ? s : "0"), "%lu printed as %s", v, back);
}

static void check_parse_size(const char *s)
{
	size_t v = 0, r = 0;
	int ret = weft_parse_size(s, &v), want = ref_size(s, &r);

	FUZZ_CHECK(ret == want, "returned %d, expected %d", ret, want);
	if (!ret)
		FUZZ_CHECK(v == r, "parsed %zu, expected %zu", v, r);
}

/* parse(format(v)) == v, for @v in each notation it can be written in. */
static void check_round_trips(uint64_t v)
{
	static const char sfx[] = " kKmMgG";
	char buf[64];
	unsigned long u;
	size_t z;

	snprintf(buf, sizeof(buf), "%lu", (unsigned long)v);
	fuzz_what = buf;
	FUZZ_CHECK(!weft_parse_uint(buf, &u) && u == v);
	snprintf(buf, sizeof(buf), "%0*lu", (int)(v % 32), (unsigned long)v);
	FUZZ_CHECK(!weft_parse_size(buf, &z) && z == v, "zero-padded");
	for (int i = 0; i < 7; i++) {
		unsigned int shift = suffix_shift(sfx[i]);
		size_t x = v >> shift;	/* fits once shifted back */

		snprintf(buf, sizeof(buf), "%zu%.*s", x, i > 0, &sfx[i]);
		FUZZ_CHECK(!weft_parse_size(buf, &z) && z == x << shift);
	}
	fmt_size(buf, sizeof(buf), v);
	FUZZ_CHECK(!weft_parse_size(buf, &z) && z == v, "as in messages");
}

/* The line rejecting @value: "weft: NAME=\"VALUE\" is not valid: ..." */
static void check_line(const char *msg, size_t n, const char *value,
		       const char *tail)
{
	static char want[16384 * 5], q[16384 * 4 + 1];

	snprintf(want, sizeof(want),
		 "weft: " NAME "=\"%s\" is not valid: expected %s",
		 strlen(value) < 16384 ? fuzz_quote(value, q) : value, tail);
	fuzz_check_log_line(msg, n, want, value);
}

static void check_env_uint(struct fuzz_in *in, bool unset)
{
	unsigned long def = fuzz_u64(in, 8), min = fuzz_u64(in, 8),
		      max = fuzz_u64(in, 8), v = 0, pv = 0;
	char value[4096], msg[4096], tail[128];
	struct fuzz_env env;
	bool good;
	size_t n;
	int ret;

	fuzz_what = fuzz_str(in, value, sizeof(value));
	fuzz_env_enter(&env, NAME, unset ? NULL : value);
	fuzz_capture_begin();
	ret = weft_env_uint(NAME, def, min, max, &v);
	n = fuzz_capture_end(msg, sizeof(msg));
	fuzz_env_leave(&env);

	if (unset || !*value) {
		FUZZ_CHECK(!ret && v == def && !n, "unset: %d %lu", ret, v);
		return;
	}
	good = !ref_uint(value, &pv) && pv >= min && pv <= max;
	FUZZ_CHECK(ret == (good ? 0 : -EINVAL), "returned %d", ret);
	if (good) {
		FUZZ_CHECK(v == pv && !n, "accepted as %lu, said %zu bytes",
			   v, n);
		return;
	}
	snprintf(tail, sizeof(tail), "a whole number from %lu to %lu", min,
		 max);
	check_line(msg, n, value, tail);
}

static void check_env_size(struct fuzz_in *in, bool unset)
{
	size_t def = fuzz_u64(in, 8), min = fuzz_u64(in, 8),
	       max = fuzz_u64(in, 8), v = 0, pv = 0, back;
	char value[4096], msg[4096], lo[32], hi[32], tail[160];
	struct fuzz_env env;
	bool good;
	size_t n;
	int ret;

	fuzz_what = fuzz_str(in, value, sizeof(value));
	fuzz_env_enter(&env, NAME, unset ? NULL : value);
	fuzz_capture_begin();
	ret = weft_env_size(NAME, def, min, max, &v);
	n = fuzz_capture_end(msg, sizeof(msg));
	fuzz_env_leave(&env);

	if (unset || !*value) {
		FUZZ_CHECK(!ret && v == def && !n, "unset: %d %zu", ret, v);
		return;
	}
	good = !ref_size(value, &pv) && pv >= min && pv <= max;
	FUZZ_CHECK(ret == (good ? 0 : -EINVAL), "returned %d", ret);
	if (good) {
		FUZZ_CHECK(v == pv && !n, "accepted as %zu, said %zu bytes",
			   v, n);
		return;
	}
	/* The bounds the message gives are sizes that parse back. */
	fmt_size(lo, sizeof(lo), min);
	fmt_size(hi, sizeof(hi), max);
	FUZZ_CHECK(!weft_parse_size(lo, &back) && back == min, "min %s", lo);
	FUZZ_CHECK(!weft_parse_size(hi, &back) && back == max, "max %s", hi);
	snprintf(tail, sizeof(tail),
		 "a size from %s to %s, in bytes or with a K, M or G suffix",
		 lo, hi);
	check_line(msg, n, value, tail);
}

/* "a", "a or b", "a, b or c": the list a rejection names. */
static void choice_list(char *buf, size_t len, const char *const *choices)
{
	size_t n = 0;
	int k = 0;

	while (choices[k])
		k++;
	n = snprintf(buf, len, "%s", k > 1 ? "one of " : "");
	for (int i = 0; i < k && n < len; i++)
		n += snprintf(buf + n, len - n, "%s%s",
			      !i ? "" : i + 1 < k ? ", " : " or ", choices[i]);
}

/*
 * weft_env_choice() with the choices after the value in the input (or
 * "0"/"1" through weft_env_bool() when there are none).
 */
static void check_env_choice(struct fuzz_in *in, bool unset)
{
	static char value[4096], pool[4096], msg[4096], tail[8192];
	const char *choices[9];
	int def = (int)fuzz_u64(in, 1) % 8, v = -100, want = -1, ret, k = 0;
	struct fuzz_env env;
	bool as_bool, b = def & 1;
	size_t used = 0, n;

	fuzz_what = fuzz_str(in, value, sizeof(value));
	while (in->n && k < 8 && used < sizeof(pool)) {
		choices[k] = fuzz_str(in, pool + used, sizeof(pool) - used);
		used += strlen(choices[k]) + 1;
		k++;
	}
	choices[k] = NULL;
	as_bool = !k;
	if (as_bool)
		memcpy(choices, bool_choices, sizeof(bool_choices));
	for (int i = 0; choices[i] && want < 0; i++)
		if (!strcmp(value, choices[i]))
			want = i;

	fuzz_env_enter(&env, NAME, unset ? NULL : value);
	fuzz_capture_begin();
	if (as_bool) {
		ret = weft_env_bool(NAME, def & 1, &b);
		v = b;
	} else {
		ret = weft_env_choice(NAME, choices, def, &v);
	}
	n = fuzz_capture_end(msg, sizeof(msg));
	fuzz_env_leave(&env);

	if (unset || !*value) {
		if (as_bool)
			def &= 1;
		FUZZ_CHECK(!ret && v == def && !n, "unset: %d %d", ret, v);
		return;
	}
	if (want >= 0) {
		FUZZ_CHECK(!ret && v == want && !n, "%d %d, said %zu bytes",
			   ret, v, n);
		return;
	}
	FUZZ_CHECK(ret == -EINVAL, "returned %d", ret);
	choice_list(tail, sizeof(tail), choices);
	/*
	 * weft_env_choice() builds the list in 256 bytes: longer is cut. A
	 * choice with a newline in it is the caller's own doing.
	 */
	if (strlen(tail) < 255 && !strchr(tail, '\n'))
		check_line(msg, n, value, tail);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fuzz_setup();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	static char s[4096];
	unsigned int op = fuzz_u64(&in, 1);
	bool unset = op & 0x80;

	fuzz_what = "";
	switch (op % 6) {
	case 0:
		fuzz_what = fuzz_str(&in, s, sizeof(s));
		check_parse_uint(s);
		break;
	case 1:
		fuzz_what = fuzz_str(&in, s, sizeof(s));
		check_parse_size(s);
		break;
	case 2:
		check_round_trips(fuzz_u64(&in, 8));
		break;
	case 3:
		check_env_uint(&in, unset);
		break;
	case 4:
		check_env_size(&in, unset);
		break;
	case 5:
		check_env_choice(&in, unset);
		break;
	}
	return 0;
}
