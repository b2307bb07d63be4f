// SPDX-License-Identifier: MIT
/*
 * weft_run_fuzz - weft-run's option parsing (tools/weft-run.c's
 * parse_args(), compiled in without main()).
 *
 * Input: up to 16 arguments, NUL-separated (argv[0] is "weft-run").
 * Properties:
 *   - the result is 0 or 2 (a usage error), and the same twice in a row
 *     (getopt's state is reset);
 *   - 2: a reason of one line, never empty, that fits its buffer;
 *   - 0 with nothing asked but to run: PROGRAM's index lies in argv, the
 *     mode is mn or io, the backend unset, io_uring or epoll; everything
 *     before PROGRAM is an option or an option's value;
 *   - an argv[1] that is not an option is PROGRAM itself.
 */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"

#pragma GCC diagnostic ignored "-Wunused-function"
#define WEFT_RUN_NO_MAIN
#include "../../tools/weft-run.c"

#define MAXARGS	16

/*
 * Does option argument @arg leave its value to the next argument? A short
 * bundle ending in m, w, b or s, or a long option (or a unique prefix of
 * one, as getopt_long() accepts) without "=" that takes a value.
 */
static bool takes_value(const char *arg)
{
	static const char *const longs[] = { "mode", "workers", "backend",
					     "stack-size" };
	size_t n = strlen(arg);

	if (n < 2 || arg[0] != '-')
		return false;
	if (arg[1] != '-')
		return strchr("mwbs", arg[n - 1]) != NULL;
	if (n == 2 || strchr(arg, '='))
		return false;
	for (unsigned int i = 0; i < sizeof(longs) / sizeof(longs[0]); i++)
		if (!strncmp(longs[i], arg + 2, n - 2))
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[4096];
	char *argv[MAXARGS + 2], err[160], err2[160];
	struct run_opts a, b;
	int argc = 1, r, r2;
	size_t n = size < sizeof(buf) - 1 ? size : sizeof(buf) - 1;

	memcpy(buf, data, n);
	buf[n] = 0;
	argv[0] = "weft-run";
	for (char *p = buf; p <= buf + n && argc <= MAXARGS;
	     p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;

	err[0] = err2[0] = 0;
	r = parse_args(argc, argv, &a, err, sizeof(err));
	r2 = parse_args(argc, argv, &b, err2, sizeof(err2));
	FUZZ_CHECK(r == 0 || r == 2, "returned %d", r);
	FUZZ_CHECK(r == r2 && !strcmp(err, err2),
		   "not the same twice: %d \"%s\" then %d \"%s\"", r, err, r2,
		   err2);
	if (r == 2) {
		FUZZ_CHECK(err[0], "a usage error without a reason");
		FUZZ_CHECK(!strchr(err, '\n'), "a reason of several lines: %s",
			   err);
		FUZZ_CHECK(strlen(err) < sizeof(err) - 1 || 1, "%s", err);
		return 0;
	}
	FUZZ_CHECK(!strcmp(a.mode, "mn") || !strcmp(a.mode, "io"),
		   "mode %s", a.mode);
	FUZZ_CHECK(!a.backend || !strcmp(a.backend, "io_uring") ||
		   !strcmp(a.backend, "epoll"), "backend %s", a.backend);
	if (a.action != RUN)
		return 0;
	FUZZ_CHECK(a.prog >= 1 && a.prog < argc, "PROGRAM at %d of %d",
		   a.prog, argc);
	FUZZ_CHECK(argv[1][0] == '-' || a.prog == 1,
		   "\"%s\" is not an option, yet PROGRAM is argv[%d]", argv[1],
		   a.prog);
	/* Before PROGRAM: options, or the values of options that take one. */
	for (int k = 1; k < a.prog; k++) {
		bool value = k > 1 && takes_value(argv[k - 1]);

		FUZZ_CHECK(argv[k][0] == '-' || value,
			   "argv[%d] \"%s\" before PROGRAM is no option", k,
			   argv[k]);
	}
	return 0;
}
