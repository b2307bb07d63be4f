#!/bin/bash
# SPDX-License-Identifier: MIT
#
# install_test.sh - install weft into a scratch DESTDIR and build a program
# against the installed tree the way a user would: pkg-config for the flags,
# once against libweft.so and once against libweft.a.
#
# weft.pc is generated with the real prefix (/opt/weft here, not
# /usr/local, so that a weft installed there for real cannot stand in for
# a broken install), and pkg-config is pointed at DESTDIR with
# PKG_CONFIG_SYSROOT_DIR, which prefixes every -I and -L it prints: the
# file tested is byte for byte the one a real install writes.
#
# Environment: WEFT_O the build directory (default build), WEFT_CC and
# WEFT_CFLAGS the compiler and the flags the library was built with that
# its users need too (the sanitizers); `make check` sets all three. MAKE
# the make to run (default make).
#
# TAP 13 on stdout; exit 0 pass, 1 fail, 4 skip (no pkg-config).

# The test bodies are functions run through check(), unseen by shellcheck.
# shellcheck disable=SC2317
set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
O=${WEFT_O:-build}
read -ra cc <<<"${WEFT_CC:-cc}"
read -ra cflags <<<"${WEFT_CFLAGS:-}"
prefix=/opt/weft
plan=13

echo "TAP version 13"
if ! command -v pkg-config >/dev/null; then
	echo "1..0 # SKIP pkg-config not found (apt-get install pkg-config)"
	exit 4
fi
echo "1..$plan"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-install.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/dest
log=$tmp/log

num=0
pass=0
fail=0
skip=0

ok() {
	num=$((num + 1))
	pass=$((pass + 1))
	echo "ok $num $1"
}

not_ok() {
	num=$((num + 1))
	fail=$((fail + 1))
	echo "not ok $num $1"
	[[ -s $log ]] && sed 's/^/# /' "$log"
}

skipped() {
	num=$((num + 1))
	skip=$((skip + 1))
	echo "ok $num $1 # SKIP $2"
}

# check NAME CMD...: one test, CMD's output shown only when it fails.
check() {
	local name=$1
	shift
	if "$@" >"$log" 2>&1; then
		ok "$name"
		return 0
	fi
	not_ok "$name"
	return 1
}

finish() {
	echo "# Totals: pass:$pass fail:$fail xfail:0 xpass:0 skip:$skip error:0"
	((fail == 0)) || exit 1
	exit 0
}

# A make of its own: nothing from the caller's make (jobserver, command
# line variables) or environment may move the directories under test.
wmake() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u DESTDIR -u LIBDIR \
		-u INCLUDEDIR -u MANDIR -u BINDIR -u PKGCONFIGDIR \
		"${MAKE:-make}" -C "$root" --no-print-directory O="$O" \
		PREFIX="$prefix" "$@"
}

mkvar() {
	sed -n "s/^$1[[:space:]]*:*=[[:space:]]*//p" "$root/Makefile"
}
major=$(mkvar VERSION_MAJOR)
version=$major.$(mkvar VERSION_MINOR).$(mkvar VERSION_PATCH)
lib=$dest$prefix/lib
so=libweft.so.$version

# 1
if ! check "make install PREFIX=$prefix DESTDIR=..." \
	   wmake DESTDIR="$dest" install; then
	echo "Bail out! nothing to test without an installed tree"
	exit 1
fi

# 2
installed() {
	local f bad=0
	for f in include/weft.h lib/libweft.a "lib/$so" \
		 lib/pkgconfig/weft.pc lib/libweft-preload.so bin/weft-run; do
		[[ -f $dest$prefix/$f && ! -L $dest$prefix/$f ]] ||
			{ echo "missing: $prefix/$f"; bad=1; }
	done
	for f in "libweft.so.$major" libweft.so; do
		[[ $(readlink "$lib/$f") == "$so" ]] ||
			{ echo "$prefix/lib/$f is not a link to $so"; bad=1; }
	done
	[[ ! -e $dest$prefix/bin/weft-test-run ]] ||
		{ echo "tools/weft-test-run is for developers, yet installed"; bad=1; }
	[[ $(readelf -d "$lib/$so") == *"(SONAME)"*"[libweft.so.$major]"* ]] ||
		{ echo "$so has no soname libweft.so.$major"; bad=1; }
	return "$bad"
}
check "headers, libraries, links and weft.pc installed" installed

# 2b: the installed weft-run finds the installed shim (../lib next to it)
preload_runs() {
	local out
	# A sanitizer's runtime must come first in LD_PRELOAD: not testable
	# with an uninstrumented program; the file is checked above.
	if readelf -d "$dest$prefix/lib/libweft-preload.so" |
		grep -Eq 'lib(a|t|ub)san'; then
		echo "(sanitizer build: not run)"
		return 0
	fi
	out=$(env -u WEFT_PRELOAD_LIB "$dest$prefix/bin/weft-run" -v \
		/bin/echo hello 2>&1) || { echo "$out"; return 1; }
	[[ $out == *hello* && $out == *"I/O backend"* ]] ||
		{ echo "$out"; return 1; }
}
check "installed weft-run runs a program on the installed shim" preload_runs

# 3
mans() {
	local p s bad=0
	for p in "${pages[@]}"; do
		s=${p##*.}
		[[ -f $dest$prefix/share/man/man$s/${p##*/} ]] ||
			{ echo "missing: $prefix/share/man/man$s/${p##*/}"; bad=1; }
	done
	return "$bad"
}
shopt -s nullglob
pages=("$root"/Documentation/man/*.[137])
shopt -u nullglob
if ((${#pages[@]})); then
	check "${#pages[@]} man pages installed" mans
else
	skipped "man pages installed" "no pages in Documentation/man yet"
fi

# 4
export PKG_CONFIG_PATH=$lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export PKG_CONFIG_SYSROOT_DIR=$dest
pcflags() {
	local v c l s
	v=$(pkg-config --modversion weft) &&
	c=$(pkg-config --cflags weft) &&
	l=$(pkg-config --libs weft) &&
	s=$(pkg-config --static --libs weft) || return 1
	echo "modversion: $v"
	echo "cflags: $c"
	echo "libs: $l"
	echo "static libs: $s"
	[[ $v == "$version" && " $c " == *" -I$dest$prefix/include "* &&
	   " $l " == *" -L$lib -lweft "* && " $s " == *" -luring "* &&
	   " $s " == *" -lnuma "* ]]
}
check "pkg-config weft: version $version, flags relocated to DESTDIR" pcflags

cat >"$tmp/squares.c" <<'EOF'
#include <stdint.h>
#include <stdio.h>
#include <weft.h>

#define FIBERS 16

static void *square(void *arg)
{
	uintptr_t x = (uintptr_t)arg;

	weft_yield();
	return (void *)(x * x);
}

static void *first(void *arg)
{
	uint64_t fid[FIBERS];
	uintptr_t sum = 0;
	void *r;
	int i;

	(void)arg;
	for (i = 0; i < FIBERS; i++)
		if (weft_spawn(&fid[i], NULL, square, (void *)(uintptr_t)(i + 1)))
			return NULL;
	for (i = 0; i < FIBERS; i++) {
		if (weft_join(fid[i], &r))
			return NULL;
		sum += (uintptr_t)r;
	}
	return (void *)sum;
}

int main(void)
{
	struct weft_rt_attr attr = { .workers = 2 };
	void *sum = NULL;
	int err;

	err = weft_run(&attr, first, NULL, &sum);
	if (err) {
		fprintf(stderr, "weft_run: %d\n", err);
		return 1;
	}
	printf("weft %d.%d.%d: sum of squares 1..%d = %lu\n",
	       WEFT_VERSION_MAJOR, WEFT_VERSION_MINOR, WEFT_VERSION_PATCH,
	       FIBERS, (unsigned long)(uintptr_t)sum);
	return 0;
}
EOF
want="weft $version: sum of squares 1..16 = 1496"
strict=(-std=c11 -pedantic -Wall -Wextra -Wstrict-prototypes -Werror)

# build OUT LIBS...: compile squares.c against the installed header.
build() {
	local out=$1
	shift
	# shellcheck disable=SC2046 # pkg-config's output is a word list
	"${cc[@]}" "${strict[@]}" "${cflags[@]}" $(pkg-config --cflags weft) \
		"$tmp/squares.c" -o "$tmp/$out" "$@"
}

# needs BIN LIB: BIN's dynamic section names LIB.
needs() {
	readelf -d "$1" | grep -F "(NEEDED)" | tee /dev/stderr | grep -qF "[$2]"
}

runs() {
	local got
	got=$("$tmp/$1") || { echo "exit status $?: $got"; return 1; }
	echo "got:  $got"
	echo "want: $want"
	[[ $got == "$want" ]]
}

# 5, 6: the shared library, found through an rpath into DESTDIR.
shared() {
	# shellcheck disable=SC2046
	build squares-shared $(pkg-config --libs weft) \
		-Wl,-rpath,"$lib" && needs "$tmp/squares-shared" "libweft.so.$major"
}
if check "builds with pkg-config --cflags --libs weft (libweft.so)" shared; then
	check "runs against libweft.so.$major" runs squares-shared
else
	skipped "runs against libweft.so.$major" "did not build"
fi

# 7, 8: the archive. pkg-config --static --libs names -lweft, which the
# linker resolves to libweft.so next to libweft.a; -l:libweft.a takes the
# archive, so Libs.private alone must supply what libweft.a needs.
static() {
	local libs
	libs=$(pkg-config --static --libs weft) || return 1
	# shellcheck disable=SC2086
	build squares-static ${libs//-lweft/-l:libweft.a} &&
		! needs "$tmp/squares-static" libweft.so
}
if check "builds with pkg-config --static --libs weft (libweft.a)" static; then
	check "runs with libweft.a linked in" runs squares-static
else
	skipped "runs with libweft.a linked in" "did not build"
fi

# 9: the header is usable from C++ (extern "C", no C-only syntax).
cxx=${WEFT_CXX:-c++}
if command -v "$cxx" >/dev/null; then
	echo '#include <weft.h>' >"$tmp/header.cc"
	# shellcheck disable=SC2046
	check "weft.h compiles as C++" "$cxx" -Wall -Wextra -Werror \
		-fsyntax-only $(pkg-config --cflags weft) "$tmp/header.cc"
else
	skipped "weft.h compiles as C++" "no $cxx"
fi

# 10, 11: make uninstall leaves no file behind.
check "make uninstall" wmake DESTDIR="$dest" uninstall
left() {
	find "$dest" ! -type d | sed "s,^$dest,left behind: ," | grep . && return 1
	return 0
}
check "nothing left after make uninstall" left

# 12: LIBDIR moves the libraries and weft.pc, and weft.pc follows.
libdir() {
	local d=$tmp/dest2 got
	wmake DESTDIR="$d" LIBDIR="$prefix/lib64" install || return 1
	[[ -L $d$prefix/lib64/libweft.so && -f $d$prefix/lib64/libweft.a &&
	   ! -e $d$prefix/lib ]] || { echo "not in $prefix/lib64 alone"; return 1; }
	got=$(env -u PKG_CONFIG_SYSROOT_DIR \
		PKG_CONFIG_PATH="$d$prefix/lib64/pkgconfig" \
		pkg-config --variable=libdir weft)
	echo "libdir=$got"
	[[ $got == "$prefix/lib64" ]]
}
check "LIBDIR=$prefix/lib64 install" libdir

finish
