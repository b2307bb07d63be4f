// SPDX-License-Identifier: MIT
/*
 * weft-run [options] [--] PROGRAM [ARGS...] - run an unmodified program on
 * weft fibers.
 *
 * Sets LD_PRELOAD to libweft-preload.so (an absolute path, found next to
 * this program in ../lib, else in the library directory it was built
 * for, or named by WEFT_PRELOAD_LIB) and WEFT_PRELOAD to the mode, turns
 * options into WEFT_* variables and execs PROGRAM. A program the shim
 * cannot reach (static, setuid, Go, another architecture) is said so in
 * one line and run unchanged; one that cannot be found or run is an
 * error, as in a shell (127, 126).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"

#ifndef WEFT_VERSION
#define WEFT_VERSION "unknown"
#endif
#ifndef WEFT_LIBDIR
#define WEFT_LIBDIR "/usr/local/lib"
#endif

#define SHIM "libweft-preload.so"

static const char usage[] =
"usage: weft-run [options] [--] PROGRAM [ARGS...]\n"
"\n"
"Run PROGRAM with its main() on a weft fiber: blocking calls made on\n"
"fibers (read, write, recv, send, accept, connect, poll, select,\n"
"epoll_wait, sleeps, ...) park the fiber instead of the OS thread, and in\n"
"M:N mode pthread_create() makes a fiber, so a thread-per-connection\n"
"server holds thousands of connections on one OS thread per CPU.\n"
"\n"
"options:\n"
"  -m, --mode=MODE        mn (default): threads are fibers; io: only main()\n"
"                         is a fiber, threads stay OS threads\n"
"  -w, --workers=N        worker threads (default: one per CPU)\n"
"  -b, --backend=NAME     io_uring (default) or epoll\n"
"  -s, --stack-size=SIZE  stack of fibers that ask for none (e.g. 256K)\n"
"      --stats            keep statistics for weft-stat (WEFT_STATS=1)\n"
"  -v, --verbose          say what weft chose at start (WEFT_DEBUG=1)\n"
"  -h, --help             this text\n"
"  -V, --version          weft's version\n"
"\n"
"Each option sets the variable in brackets below; any WEFT_* variable in\n"
"the environment is passed on as well (see weft(7)):\n"
"  --mode WEFT_PRELOAD, --workers WEFT_WORKERS, --backend WEFT_BACKEND,\n"
"  --stack-size WEFT_STACK_SIZE, --verbose WEFT_DEBUG.\n"
"Also: WEFT_PRELOAD_LIB names the shim to use instead of " SHIM ".\n"
"\n"
"Programs weft cannot reach run unchanged, with one line saying why:\n"
"static binaries, setuid/setgid programs, Go programs.\n"
"Exit status: PROGRAM's; 127 if it cannot be found, 126 if it cannot be\n"
"run, 2 for a bad option.\n";

static const char *prog = "weft-run";

static void die_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry '%s --help' for more information.\n", prog);
	exit(2);
}

/* PROGRAM as execvp() would find it; NULL if not found. */
static char *find(const char *name)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (strchr(name, '/'))
		return access(name, F_OK) ? NULL : strdup(name);
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");

		if (snprintf(buf, sizeof(buf), "%.*s/%s", (int)n,
			     n ? path : ".", name) < (int)sizeof(buf) &&
		    !access(buf, X_OK))
			return strdup(buf);
		path += n + (path[n] == ':');
	}
	return NULL;
}

/* Why the shim cannot reach @path, or NULL when it can. */
static const char *unreachable(const char *path)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	Elf64_Shdr sh, strtab;
	struct stat st;
	bool interp = false;
	char name[32];
	int fd, i;

	if (stat(path, &st))
		return NULL;
	if (st.st_mode & (S_ISUID | S_ISGID))
		return "is setuid or setgid: the loader ignores LD_PRELOAD for it";
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG)) {
		close(fd);
		return NULL;	/* a script: its interpreter gets the shim */
	}
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 ||
#if defined(__x86_64__)
	    eh.e_machine != EM_X86_64
#elif defined(__aarch64__)
	    eh.e_machine != EM_AARCH64
#else
	    0
#endif
	) {
		close(fd);
		return "is built for another architecture";
	}
	for (i = 0; i < eh.e_phnum; i++)
		if (pread(fd, &ph, sizeof(ph), eh.e_phoff + i * sizeof(ph)) ==
		    sizeof(ph) && ph.p_type == PT_INTERP)
			interp = true;
	if (!interp) {
		close(fd);
		return "is statically linked: LD_PRELOAD cannot reach it";
	}
	/* Go programs: their own scheduler, their own system calls. */
	if (eh.e_shstrndx < eh.e_shnum &&
	    pread(fd, &strtab, sizeof(strtab),
		  eh.e_shoff + eh.e_shstrndx * sizeof(sh)) == sizeof(strtab)) {
		for (i = 0; i < eh.e_shnum; i++) {
			if (pread(fd, &sh, sizeof(sh),
				  eh.e_shoff + i * sizeof(sh)) != sizeof(sh) ||
			    pread(fd, name, sizeof(name),
				  strtab.sh_offset + sh.sh_name) <= 0)
				continue;
			name[sizeof(name) - 1] = 0;
			if (!strcmp(name, ".go.buildinfo") ||
			    !strcmp(name, ".note.go.buildid")) {
				close(fd);
				return "is a Go program: it schedules its own goroutines and makes its own system calls";
			}
		}
	}
	close(fd);
	return NULL;
}

/* The shim's absolute path, or NULL. */
static char *shim_path(void)
{
	char self[PATH_MAX], buf[PATH_MAX + 32], *slash, *real;
	const char *env = getenv("WEFT_PRELOAD_LIB");
	ssize_t n;

	if (env && *env)
		return realpath(env, NULL);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		slash = strrchr(self, '/');
		if (slash) {
			*slash = 0;
			snprintf(buf, sizeof(buf), "%s/../lib/%s", self, SHIM);
			real = realpath(buf, NULL);
			if (real)
				return real;
		}
	}
	return realpath(WEFT_LIBDIR "/" SHIM, NULL);
}

static void set(const char *var, const char *val)
{
	if (setenv(var, val, 1)) {
		perror(prog);
		exit(2);
	}
}

/* What the options asked for; parse_args() fills it in. */
struct run_opts {
	const char *mode;		/* "mn" or "io" */
	const char *workers, *backend, *stack;	/* NULL: not given */
	bool stats, verbose;
	int prog;			/* argv index of PROGRAM */
	enum { RUN, HELP, VERSION } action;
};

/*
 * Parse the options before PROGRAM. 0 with @o filled in, or 2 with a
 * one-line reason in @err. No side effect (no exit, no environment), so
 * tests/fuzz/weft_run_fuzz.c can call it.
 */
static int parse_args(int argc, char **argv, struct run_opts *o, char *err,
		      size_t errlen)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "workers", required_argument, NULL, 'w' },
		{ "backend", required_argument, NULL, 'b' },
		{ "stack-size", required_argument, NULL, 's' },
		{ "stats", no_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	char q[72];
	int c;

	*o = (struct run_opts){ .mode = "mn", .action = RUN };
	opterr = 0;
	optopt = 0;
	optind = 0;		/* glibc: start over, for repeated calls */
	/* '+': options end at PROGRAM, whose own options are its own. */
	while ((c = getopt_long(argc, argv, "+:m:w:b:s:vhV", opts, NULL)) !=
	       -1) {
		switch (c) {
		case 'm':
			if (strcmp(optarg, "mn") && strcmp(optarg, "io")) {
				snprintf(err, errlen,
					 "--mode=%s: expected mn or io",
					 weft_quote(optarg, q, sizeof(q)));
				return 2;
			}
			o->mode = optarg;
			break;
		case 'w':
			o->workers = optarg;
			break;
		case 'b':
			if (strcmp(optarg, "io_uring") &&
			    strcmp(optarg, "epoll")) {
				snprintf(err, errlen,
					 "--backend=%s: expected io_uring or epoll",
					 weft_quote(optarg, q, sizeof(q)));
				return 2;
			}
			o->backend = optarg;
			break;
		case 's':
			o->stack = optarg;
			break;
		case 'S':
			o->stats = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			o->action = HELP;
			return 0;
		case 'V':
			o->action = VERSION;
			return 0;
		case ':':
		default:
			if (optopt > ' ' && optopt < 127)
				snprintf(err, errlen, "%s '-%c'",
					 c == ':' ? "option needs a value:"
						  : "unknown option",
					 optopt);
			else if (optopt)	/* not printable: its code */
				snprintf(err, errlen, "%s '-\\x%02x'",
					 c == ':' ? "option needs a value:"
						  : "unknown option",
					 optopt & 0xff);
			else
				snprintf(err, errlen, "%s '%s'",
					 c == ':' ? "option needs a value:"
						  : "unknown option",
					 weft_quote(argv[optind - 1], q, sizeof(q)));
			return 2;
		}
	}
	if (optind >= argc) {
		snprintf(err, errlen, "no PROGRAM to run");
		return 2;
	}
	o->prog = optind;
	return 0;
}

#ifndef WEFT_RUN_NO_MAIN
int main(int argc, char **argv)
{
	const char *why, *old;
	char *path, *shim, *preload, err[160];
	struct run_opts o;
	int c;

	if (parse_args(argc, argv, &o, err, sizeof(err)))
		die_usage("%s", err);
	if (o.action == HELP) {
		fputs(usage, stdout);
		return 0;
	}
	if (o.action == VERSION) {
		printf("weft-run %s\n", WEFT_VERSION);
		return 0;
	}
	if (o.workers)
		set("WEFT_WORKERS", o.workers);
	if (o.backend)
		set("WEFT_BACKEND", o.backend);
	if (o.stack)
		set("WEFT_STACK_SIZE", o.stack);
	if (o.stats)
		set("WEFT_STATS", "1");
	if (o.verbose)
		set("WEFT_DEBUG", "1");
	optind = o.prog;

	path = find(argv[optind]);
	if (!path) {
		fprintf(stderr, "%s: %s: command not found\n", prog,
			argv[optind]);
		return 127;
	}
	why = unreachable(path);
	if (why) {
		fprintf(stderr, "%s: %s %s; running it without weft\n", prog,
			argv[optind], why);
	} else {
		shim = shim_path();
		if (!shim) {
			fprintf(stderr, "%s: cannot find %s (looked in ../lib next to weft-run and in %s; WEFT_PRELOAD_LIB names another)\n",
				prog, SHIM, WEFT_LIBDIR);
			return 127;
		}
		old = getenv("LD_PRELOAD");
		if (old && *old) {
			preload = malloc(strlen(shim) + strlen(old) + 2);
			if (!preload)
				return 2;
			sprintf(preload, "%s:%s", shim, old);
		} else {
			preload = shim;
		}
		set("LD_PRELOAD", preload);
		set("WEFT_PRELOAD", o.mode);
	}
	execv(path, argv + optind);
	c = errno;
	fprintf(stderr, "%s: %s: %s\n", prog, argv[optind], strerror(c));
	return c == ENOENT ? 127 : 126;
}
#endif
