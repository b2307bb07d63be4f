// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

bool weft_debug_on;

void weft_log(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	memcpy(buf, "weft: ", 6);
	va_start(ap, fmt);
	/* Room up to the last byte, which the newline takes over. */
	n = vsnprintf(buf + 6, sizeof(buf) - 6, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	n += 6;
	if (n > (int)sizeof(buf) - 1)
		n = sizeof(buf) - 1;
	buf[n++] = '\n';
	if (write(STDERR_FILENO, buf, n) < 0)
		return;	/* nowhere left to report it */
}

void weft_bug(const char *what, const char *file, int line)
{
	weft_log("BUG: %s at %s:%d", what, file, line);
	abort();
}

char *weft_fmt_u64(char *p, unsigned long long v)
{
	char tmp[24];
	int i = 0;

	do {
		tmp[i++] = '0' + v % 10;
		v /= 10;
	} while (v);
	while (i)
		*p++ = tmp[--i];
	return p;
}

char *weft_fmt_str(char *p, char *end, const char *s)
{
	while (*s && p < end)
		*p++ = *s++;
	return p;
}

const char *weft_quote(const char *s, char *buf, size_t len)
{
	size_t n = 0;

	for (; *s && n + 5 < len; s++) {
		unsigned char c = *s;

		if (c < ' ' || c == 127) {
			static const char hex[] = "0123456789abcdef";

			buf[n++] = '\\';
			buf[n++] = 'x';
			buf[n++] = hex[c >> 4];
			buf[n++] = hex[c & 15];
		} else {
			buf[n++] = c;
		}
	}
	buf[n] = 0;
	return buf;
}
