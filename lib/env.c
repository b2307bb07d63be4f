// SPDX-License-Identifier: MIT
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "log.h"

/* Decimal digits only: no sign, no hex, no spaces, no overflow. */
int weft_parse_uint(const char *s, unsigned long *out)
{
	unsigned long v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (ULONG_MAX - (*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (*s - '0');
	}
	*out = v;
	return 0;
}

/* Bytes, or a number followed by K, M or G (binary multiples). */
int weft_parse_size(const char *s, size_t *out)
{
	char num[32];
	size_t len = strlen(s);
	unsigned long v;
	unsigned int shift = 0;
	int ret;

	if (!len || len >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, len + 1);
	switch (num[len - 1]) {
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	}
	if (shift)
		num[--len] = '\0';
	ret = weft_parse_uint(num, &v);
	if (ret)
		return ret;
	if (v > (SIZE_MAX >> shift))
		return -ERANGE;
	*out = (size_t)v << shift;
	return 0;
}

static const char *env_get(const char *name)
{
	const char *s = getenv(name);

	return s && *s ? s : NULL;
}

static void fmt_size(char *buf, size_t len, size_t v)
{
	if (v && !(v & ((1UL << 30) - 1)))
		snprintf(buf, len, "%zuG", v >> 30);
	else if (v && !(v & ((1UL << 20) - 1)))
		snprintf(buf, len, "%zuM", v >> 20);
	else if (v && !(v & ((1UL << 10) - 1)))
		snprintf(buf, len, "%zuK", v >> 10);
	else
		snprintf(buf, len, "%zu", v);
}

int weft_env_size(const char *name, size_t def, size_t min, size_t max,
		  size_t *out)
{
	const char *s = env_get(name);
	char lo[24], hi[24], q[1024];
	size_t v;

	if (!s) {
		*out = def;
		return 0;
	}
	if (!weft_parse_size(s, &v) && v >= min && v <= max) {
		*out = v;
		return 0;
	}
	fmt_size(lo, sizeof(lo), min);
	fmt_size(hi, sizeof(hi), max);
	weft_log("%s=\"%s\" is not valid: expected a size from %s to %s, in bytes or with a K, M or G suffix",
		 name, weft_quote(s, q, sizeof(q)), lo, hi);
	return -EINVAL;
}

int weft_env_uint(const char *name, unsigned long def, unsigned long min,
		  unsigned long max, unsigned long *out)
{
	const char *s = env_get(name);
	char q[1024];
	unsigned long v;

	if (!s) {
		*out = def;
		return 0;
	}
	if (!weft_parse_uint(s, &v) && v >= min && v <= max) {
		*out = v;
		return 0;
	}
	weft_log("%s=\"%s\" is not valid: expected a whole number from %lu to %lu",
		 name, weft_quote(s, q, sizeof(q)), min, max);
	return -EINVAL;
}

int weft_env_bool(const char *name, bool def, bool *out)
{
	static const char *const choices[] = { "0", "1", NULL };
	int v;
	int ret = weft_env_choice(name, choices, def, &v);

	if (!ret)
		*out = v;
	return ret;
}

int weft_env_choice(const char *name, const char *const *choices, int def,
		    int *out)
{
	const char *s = env_get(name);
	char list[256], q[1024];
	size_t n = 0;
	int i;

	if (!s) {
		*out = def;
		return 0;
	}
	for (i = 0; choices[i]; i++) {
		if (!strcmp(s, choices[i])) {
			*out = i;
			return 0;
		}
	}
	list[0] = '\0';
	for (i = 0; choices[i] && n < sizeof(list); i++)
		n += snprintf(list + n, sizeof(list) - n, "%s%s",
			      i ? (choices[i + 1] ? ", " : " or ") : "",
			      choices[i]);
	weft_log("%s=\"%s\" is not valid: expected %s%s", name,
		 weft_quote(s, q, sizeof(q)), i > 1 ? "one of " : "", list);
	return -EINVAL;
}
