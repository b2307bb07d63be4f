/* SPDX-License-Identifier: MIT */
/*
 * fuzz.h - what the libFuzzer targets in tests/fuzz/ share: reading the
 * input, a private environment, capturing stderr, failing loudly.
 *
 * A target checks properties, not just survival: FUZZ_CHECK() prints the
 * failed condition and the value being parsed on the real stderr, then
 * aborts, which libFuzzer turns into a crash-* reproducer.
 *
 * Whatever the code under test writes to stderr (weft_log()) goes to a
 * pipe and is read back for checking, so a run does not print thousands
 * of "is not valid" lines. Sanitizer reports go to the real stderr.
 */
#ifndef WEFT_TESTS_FUZZ_H
#define WEFT_TESTS_FUZZ_H

#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Known bugs, reported and not fixed yet: the checks they would fail are
 * relaxed to accept today's behaviour as well, unless the target is built
 * with -DFUZZ_STRICT (make fuzz FUZZ_STRICT=1), under which the inputs in
 * tests/fuzz/known/ fail. Remove an entry together with its fix.
 *
 * FUZZ_KNOWN_LOG_NUL	fixed (lib/log.c): kept at 0 so the check is strict.
 * FUZZ_KNOWN_LOG_LF	fixed (lib/log.c weft_quote()): control characters
 *			in a value are printed as \xNN; kept at 0.
 */
#ifdef FUZZ_STRICT
#define FUZZ_KNOWN_LOG_NUL	0
#define FUZZ_KNOWN_LOG_LF	0
#else
#define FUZZ_KNOWN_LOG_NUL	0
#define FUZZ_KNOWN_LOG_LF	0
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void __sanitizer_set_report_fd(void *fd);

extern char **environ;

/* The input, consumed from the front (numbers) and split at NULs. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline uint64_t fuzz_u64(struct fuzz_in *in, unsigned int bytes)
{
	uint64_t v = 0;

	while (bytes-- && in->n) {
		v = v << 8 | *in->p++;
		in->n--;
	}
	return v;
}

/* The next NUL-terminated piece (the rest when there is no NUL), copied. */
static inline char *fuzz_str(struct fuzz_in *in, char *buf, size_t len)
{
	size_t k = 0;

	while (in->n && *in->p) {
		if (k + 1 < len)
			buf[k++] = (char)*in->p;
		in->p++;
		in->n--;
	}
	if (in->n) {		/* the NUL */
		in->p++;
		in->n--;
	}
	buf[k] = '\0';
	return buf;
}

static int fuzz_real_err = -1, fuzz_pipe[2] = { -1, -1 };
static const char *fuzz_what = "";	/* the value under test, for reports */

static inline void fuzz_setup(void)
{
	if (fuzz_real_err >= 0)
		return;
	fuzz_real_err = fcntl(2, F_DUPFD_CLOEXEC, 10);
	if (fuzz_real_err < 0 || pipe2(fuzz_pipe, O_NONBLOCK | O_CLOEXEC))
		abort();
	__sanitizer_set_report_fd((void *)(long)fuzz_real_err);
}

/* Write @s with control characters and quotes escaped, as C would. */
static inline void fuzz_put_escaped(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

__attribute__((noreturn, format(printf, 3, 4)))
static void fuzz_fail(int line, const char *cond, const char *fmt, ...)
{
	FILE *f;
	va_list ap;

	dup2(fuzz_real_err, 2);
	f = fdopen(dup(fuzz_real_err), "w");
	if (!f)
		abort();
	fprintf(f, "\nfuzz: line %d: check failed: %s\nfuzz: value \"", line,
		cond);
	fuzz_put_escaped(f, fuzz_what, strlen(fuzz_what));
	fprintf(f, "\"\nfuzz: ");
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
	abort();
}

#define FUZZ_CHECK(cond, ...)						\
	do {								\
		if (!(cond))						\
			fuzz_fail(__LINE__, #cond, "" __VA_ARGS__);	\
	} while (0)

/* Everything written to fd 2 between begin and end lands in @buf. */
static inline void fuzz_capture_begin(void)
{
	dup2(fuzz_pipe[1], 2);
}

static inline size_t fuzz_capture_end(char *buf, size_t len)
{
	size_t n = 0;
	ssize_t r;

	dup2(fuzz_real_err, 2);
	while ((r = read(fuzz_pipe[0], buf + n, len - 1 - n)) > 0)
		n += r;
	buf[n] = '\0';
	return n;	/* may hold NULs: compare with n, not strlen() */
}

/*
 * What a message shows of a value (written apart from lib/log.c's
 * weft_quote()): each byte below ' ' and 127 as \xNN, the rest as it is.
 * @buf must hold 4 bytes per byte of @s, plus one.
 */
static inline const char *fuzz_quote(const char *s, char *buf)
{
	char *p = buf;

	for (; *s; s++) {
		unsigned char c = *s;

		if (c < 32 || c == 127)
			p += sprintf(p, "\\x%02x", c);
		else
			*p++ = c;
	}
	*p = 0;
	return buf;
}

#define FUZZ_LOG_MAX	511	/* weft_log(): a line's characters, newline excluded */

/*
 * @msg (@n bytes, NULs included) is exactly one weft_log() line saying
 * @want: "@want\n", cut after FUZZ_LOG_MAX characters. @value is the
 * user's value @want quotes.
 */
static inline void fuzz_check_log_line(const char *msg, size_t n,
				       const char *want, const char *value)
{
	size_t wn = strlen(want);

	if (FUZZ_KNOWN_LOG_LF && strchr(value, '\n'))
		return;
	FUZZ_CHECK(n > 0, "said nothing");
	FUZZ_CHECK(msg[n - 1] == '\n', "no newline at the end");
	FUZZ_CHECK(memchr(msg, '\n', n) == msg + n - 1,
		   "more than one line: %zu bytes", n);
	if (wn >= FUZZ_LOG_MAX) {
		wn = FUZZ_LOG_MAX;
		/* today's cut of 511 or more: 510, the NUL, the newline */
		if (FUZZ_KNOWN_LOG_NUL && n == FUZZ_LOG_MAX + 1 &&
		    !msg[FUZZ_LOG_MAX - 1] &&
		    !memcmp(msg, want, FUZZ_LOG_MAX - 1))
			return;
	}
	FUZZ_CHECK(!memchr(msg, '\0', n), "a NUL byte at %zu of %zu",
		   (size_t)((char *)memchr(msg, '\0', n) - msg), n);
	FUZZ_CHECK(n == wn + 1 && !memcmp(msg, want, wn),
		   "said \"%.*s\", expected \"%.*s\"", (int)n, msg, (int)wn,
		   want);
}

/*
 * A private environment holding at most NAME=VALUE, swapped in around a
 * call: nothing is allocated per input (setenv() never frees a value),
 * and nothing else in the process sees it.
 */
struct fuzz_env {
	char entry[8192];
	char *vec[2];
	char **saved;
};

static inline void fuzz_env_enter(struct fuzz_env *e, const char *name,
				  const char *value)
{
	e->vec[0] = NULL;
	e->vec[1] = NULL;
	if (value) {
		snprintf(e->entry, sizeof(e->entry), "%s=%s", name, value);
		e->vec[0] = e->entry;
	}
	e->saved = environ;
	environ = e->vec;
}

static inline void fuzz_env_leave(struct fuzz_env *e)
{
	environ = e->saved;
}

#endif
