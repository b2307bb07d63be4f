#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run.sh [BUILD_DIR [WEFT-RUN-OPTION...]] - run every program of
# tests/preload/ natively and under BUILD_DIR/tools/weft-run, and compare.
#
# The programs (one per tests/preload/*.c and *.cc, built by `make
# check-preload` into BUILD_DIR/tests/preload/) are plain pthread programs
# with no weft in them; each prints only what must be the same on every run
# and exits 0 when every check it makes itself passed. A program passes
# when its native run exits 0 and the run under weft-run prints the same
# stdout and exits the same way. stderr is not compared (a shim may warn);
# its tail is shown on failure. Options after BUILD_DIR go to weft-run,
# before the program.
#
# Two more checks: many_threads, run under weft-run with
# WEFT_TEST_SHOW_THREADS=1, had at most WEFT_TEST_MAX_THREADS OS threads
# (default 4 per CPU + 32) while its 2000 threads were blocked (skipped in
# io mode, where threads stay OS threads); and the
# fortify program really imports the __*_chk functions it is meant to test.
#
# Without weft-run (not built yet) the programs still run natively and
# must pass; the comparisons are reported as skipped.
#
# Environment: WEFT_TEST_TIMEOUT seconds per run (default 60; killed 5 s
# after), WEFT_TEST_MAX_THREADS as above.
#
# TAP 13 on stdout, a "# Totals:" line last. Exit 1 if anything failed, 4
# if everything was skipped, else 0.

set -u

here=$(cd "$(dirname "$0")" && pwd)
O=${1:-build}
(($#)) && shift
weft_args=("$@")
bindir=$O/tests/preload
weft_run=$O/tools/weft-run
limit=${WEFT_TEST_TIMEOUT:-60}
max_threads=${WEFT_TEST_MAX_THREADS:-$((4 * $(nproc) + 32))}

names=()
for src in "$here"/*.c "$here"/*.cc; do
	[[ -e $src ]] || continue
	name=${src##*/}
	names+=("${name%.*}")
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-preload.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

have_weft=
[[ -x $weft_run ]] && have_weft=1

n=0
pass=0
fail=0
skip=0
todos=0

ok() {
	((++n, ++pass))
	echo "ok $n - $1"
}

not_ok() {
	((++n, ++fail))
	echo "not ok $n - $1${2:+ # $2}"
}

skipped() {
	((++n, ++skip))
	echo "ok $n - $1 # SKIP $2"
}

todo() {
	((++n, ++todos))
	echo "not ok $n - $1 # TODO $2"
}

# diag FILE [LINES]: FILE's first LINES lines as TAP diagnostics.
diag() {
	head -n "${2:-40}" "$1" | sed 's/^/# /'
}

# run OUT -- CMD...: CMD's stdout to OUT.out, stderr to OUT.err; its status.
# The outer 2>/dev/null only hides bash's own "Segmentation fault" notes.
run() {
	local out=$1

	shift 2
	{ timeout --kill-after=5 "$limit" "$@" >"$out.out" 2>"$out.err"; } \
		2>/dev/null
}

# A status in words: 124 and 137 are timeout's.
status() {
	case $1 in
	124 | 137) echo "$1 (timed out after ${limit}s)" ;;
	*) echo "$1" ;;
	esac
}

check_program() {
	local name=$1 bin=$bindir/$1 nrc wrc

	if [[ ! -x $bin ]]; then
		not_ok "$name" "not built: make check-preload O=$O"
		return
	fi
	run "$tmp/native" -- "$bin"
	nrc=$?
	if ((nrc == 4)); then
		skipped "$name" "$(head -n 1 "$tmp/native.out")"
		return
	fi
	if ((nrc != 0)); then
		not_ok "$name" "native run exited $(status $nrc)"
		diag "$tmp/native.out"
		diag "$tmp/native.err" 10
		return
	fi
	if [[ -z $have_weft ]]; then
		skipped "$name" "$weft_run not built (native run passed)"
		return
	fi
	run "$tmp/weft" -- "$weft_run" "${weft_args[@]}" "$bin"
	wrc=$?
	if ((wrc == nrc)) && cmp -s "$tmp/native.out" "$tmp/weft.out"; then
		ok "$name"
		return
	fi
	not_ok "$name" "differs: exit native $nrc, weft-run $(status $wrc)"
	grep '^FAIL ' "$tmp/weft.out" | diag /dev/stdin
	echo "# diff -u native weft-run:"
	diff -u --label native --label weft-run "$tmp/native.out" \
		"$tmp/weft.out" | diag /dev/stdin 60
	if [[ -s $tmp/weft.err ]]; then
		echo "# weft-run stderr:"
		diag "$tmp/weft.err" 10
	fi
}

# Is weft-run asked for io mode, where threads stay OS threads?
io_mode() {
	local prev='' a

	for a in "${weft_args[@]}"; do
		case $prev/$a in
		*/--mode=io | */-mio | -m/io | --mode/io) return 0 ;;
		esac
		prev=$a
	done
	[[ ${WEFT_PRELOAD:-} == io ]]
}

check_thread_count() {
	local name="many_threads under weft-run: at most $max_threads OS threads"
	local bin=$bindir/many_threads most

	if [[ -z $have_weft ]]; then
		skipped "$name" "$weft_run not built"
		return
	fi
	if io_mode; then
		skipped "$name" "io mode: threads are OS threads"
		return
	fi
	if [[ ! -x $bin ]]; then
		not_ok "$name" "not built"
		return
	fi
	WEFT_TEST_SHOW_THREADS=1 run "$tmp/count" -- "$weft_run" \
		"${weft_args[@]}" "$bin"
	most=$(sed -n 's/^most OS threads: \([0-9]*\)$/\1/p' "$tmp/count.out")
	if [[ -z $most ]]; then
		not_ok "$name" "no count printed"
		diag "$tmp/count.out" 10
		diag "$tmp/count.err" 10
	elif ((most > max_threads)); then
		not_ok "$name" "had $most"
	else
		ok "$name"
		echo "# most OS threads under weft-run: $most"
	fi
}

check_fortify_imports() {
	local name="fortify imports the __*_chk functions it tests"
	local bin=$bindir/fortify missing='' f

	if ! command -v nm >/dev/null; then
		skipped "$name" "nm not found (binutils)"
		return
	fi
	if [[ ! -x $bin ]]; then
		not_ok "$name" "not built"
		return
	fi
	for f in __read_chk __pread_chk __recv_chk __recvfrom_chk \
		__poll_chk __ppoll_chk __fdelt_chk; do
		nm -D --undefined-only "$bin" | grep -qw "$f" ||
			missing+=" $f"
	done
	if [[ -n $missing ]]; then
		not_ok "$name" "missing:$missing"
	else
		ok "$name"
	fi
}

echo "TAP version 13"
echo "1..$((${#names[@]} + 2))"
[[ -n $have_weft ]] || echo "# $weft_run not built: native runs only"
for name in "${names[@]}"; do
	check_program "$name"
done
check_thread_count
check_fortify_imports

echo "# Totals: pass:$pass fail:$fail xfail:$todos xpass:0 skip:$skip error:0"
((fail)) && exit 1
((pass)) || exit 4
exit 0
