#!/bin/bash
# SPDX-License-Identifier: MIT
#
# tests/valgrind/check.sh [--timeout S] BIN... - run test binaries under
# Valgrind's memcheck, tallied by tools/weft-test-run.
#
# Every process (the harness, each test's fork()ed child, anything
# exec()ed) runs under memcheck and exits 99 after any error or any
# definitely lost block: the harness counts a test whose child did as
# failed, weft-test-run a binary that did. Zero reports is the bar; the
# only suppressions are in tests/valgrind/weft.supp, each with its reason.
#
# Under valgrind (lib/sanitizer.h registers every fiber stack with it;
# glibc registers no rseq area, so the fallbacks of lib/rseq.h run):
#   WEFT_BACKEND=epoll	valgrind 3.19 keeps its big lock across
#			io_uring_enter(): a worker asleep in its ring stops
#			every other thread, so a test hangs with io_uring
#			(liburing issue 657). tests/io/ is not run here.
#   WEFT_WORKERS=2	valgrind runs one thread at a time: more workers
#			cost time, not coverage. Tests that ask for a
#			number of workers still get it.
#   WEFT_SPIN_US=0	a worker spinning for work only delays the one that
#			has it.
#   WEFT_TEST_TIMEOUT	every test's timeout, 300 s (memcheck is 20-50
#			times slower), unless already set.
#
# Some tests run apart from the rest of their binary (the table in
# special() below), each for a reason valgrind gives, not weft:
#   skip	not run: it cannot pass under valgrind.
#   noleak	run with --leak-check=no: its process dies of a signal by
#		design, and valgrind stops the other threads before looking
#		for leaks, so what only their stacks point to (the monitor's
#		array) reads as definitely lost. Memory errors still count.
#
# Exit status: weft-test-run's.

set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
limit=1800

case ${1-} in
--timeout) limit=$2; shift 2 ;;
--timeout=*) limit=${1#*=}; shift ;;
esac
(($#)) || { echo "usage: ${0##*/} [--timeout S] BIN..." >&2; exit 2; }

command -v valgrind >/dev/null || {
	echo "weft: valgrind not found; run: sudo apt-get install -y valgrind" >&2
	exit 2
}

export WEFT_BACKEND=epoll WEFT_WORKERS=2 WEFT_SPIN_US=0
export WEFT_TEST_TIMEOUT=${WEFT_TEST_TIMEOUT:-300}

VALGRIND=(valgrind --tool=memcheck -q --error-exitcode=99
	--leak-check=full --errors-for-leak-kinds=definite
	--show-leak-kinds=definite --trace-children=yes
	--suppressions="$here/weft.supp")

# "HOW PATTERN" lines for the binary named $1 (see above).
special() {
	case $1 in
	fiber_test)
		# timing: a thief can split the fibers across two workers
		# (and race on the test's norder++); natively too, ~1 in 150
		echo skip yield_is_round_robin
		# aborts on purpose, in a grandchild
		echo noleak deadlock_is_reported
		;;
	overflow_test)
		echo noleak names_the_fiber_and_aborts
		;;
	sleep_test)
		# timing: the 16 sleepers' deadlines are 1 ms apart, and
		# spawning one takes longer than that under valgrind
		echo skip wake_in_deadline_order_never_early
		;;
	switch_test)
		# memcheck ignores MXCSR FTZ/DAZ and the x87 precision
		# control: both read back as the defaults
		echo skip fp_control_is_per_context
		;;
	esac
}

# --one [noleak] BIN ARGS...: run BIN under memcheck. Its output passes
# through, less valgrind 3.19's note, once a process, that it lacks
# epoll_pwait2 (weft falls back to epoll_pwait). A memcheck report
# ("==PID== ..." under -q) fails the binary even where its process died
# of a signal, which skips --error-exitcode.
if [[ ${1-} == --one ]]; then
	shift
	if [[ $1 == noleak ]]; then
		VALGRIND+=(--leak-check=no)
		shift
	fi
	"${VALGRIND[@]}" "$@" 2>&1 |
		awk '/^--[0-9]+-- (WARNING: unhandled amd64-linux syscall: 441|You may be able|Read the file README_MISSING|Nevertheless we consider|it at http:\/\/valgrind)/ { next }
		     /^==[0-9]+== / { bad = 1 }
		     { print; fflush() }
		     END { exit bad }'
	rc=${PIPESTATUS[0]} reports=${PIPESTATUS[1]}
	((reports && (rc == 0 || rc == 4))) && echo "# memcheck reported errors" && rc=99
	exit "$rc"
fi

# weft-test-run runs each binary without arguments and names it by its
# file name: give it one wrapper per binary (NAME, the tests not in the
# table), and one per noleak binary (NAME+noleak, those that are).
dir=$(mktemp -d "${TMPDIR:-/tmp}/weft-valgrind.XXXXXX") || exit 2
trap 'rm -rf "$dir"' EXIT
wrappers=()
wrap() {	# NAME ARGS...
	local name=$1

	shift
	printf '#!/bin/sh\nexec %q --one' "$here/check.sh" >"$dir/$name"
	printf ' %q' "$@" >>"$dir/$name"
	echo >>"$dir/$name"
	chmod +x "$dir/$name"
	wrappers+=("$dir/$name")
}
for bin in "$@"; do
	name=${bin##*/}
	abs=$(cd "$(dirname "$bin")" && pwd)/$name
	[[ -x $abs ]] || { echo "weft: $bin: not a test binary" >&2; exit 2; }
	rest=()
	noleak=()
	while read -r how pattern; do
		[[ -n $how ]] || continue
		rest+=(-T "$pattern")
		[[ $how == noleak ]] && noleak+=(-t "$pattern")
	done < <(special "$name")
	wrap "$name" "$abs" "${rest[@]}"
	((${#noleak[@]})) && wrap "$name+noleak" noleak "$abs" "${noleak[@]}"
done

"$root/tools/weft-test-run" --timeout "$limit" "${wrappers[@]}"
