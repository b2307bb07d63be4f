/* SPDX-License-Identifier: MIT */
/*
 * WEFT_* environment variables. Each parser takes the default when the
 * variable is unset or empty; a bad value prints one line naming the
 * variable and what it accepts, and returns -EINVAL.
 */
#ifndef WEFT_LIB_ENV_H
#define WEFT_LIB_ENV_H

#include <stdbool.h>
#include <stddef.h>

int weft_env_size(const char *name, size_t def, size_t min, size_t max,
		  size_t *out);
int weft_env_uint(const char *name, unsigned long def, unsigned long min,
		  unsigned long max, unsigned long *out);
int weft_env_bool(const char *name, bool def, bool *out);
/* @choices is NULL-terminated; *out is an index into it. */
int weft_env_choice(const char *name, const char *const *choices, int def,
		    int *out);

/* The parsers behind them, for values that do not come from getenv(). */
int weft_parse_size(const char *s, size_t *out);
int weft_parse_uint(const char *s, unsigned long *out);

#endif
