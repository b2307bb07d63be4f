#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# weft-run and weft-stat as a new user meets them: --help, a typo, a
# program that does not exist, one weft cannot reach (static), a program
# that runs, and weft-stat on a process with and without statistics.
# TAP. WEFT_O names the build directory (default build).
set -u
O=${WEFT_O:-build}
run=$O/tools/weft-run stat=$O/tools/weft-stat
n=0 fails=0
tmp=$(mktemp -d)
trap 'kill $bg 2>/dev/null; rm -rf "$tmp"' EXIT
bg=

ok() {
	n=$((n + 1))
	if "$@" >"$tmp/out" 2>&1; then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
		sed 's/^/# /' "$tmp/out"
		fails=$((fails + 1))
	fi
}

# Output of "$@" (stdout and stderr) must contain $want; exit status $rc.
says() {
	local rc=$1 want=$2 out got
	shift 2
	out=$("$@" 2>&1)
	got=$?
	[[ $got == "$rc" && $out == *"$want"* ]] && return 0
	echo "exit $got (want $rc), output:"
	echo "$out"
	return 1
}

# A sanitizer build's shim needs its runtime first in LD_PRELOAD, which
# an uninstrumented program does not have: only the option checks run.
san=
if readelf -d "$O/lib/libweft-preload.so" 2>/dev/null |
	grep -Eq 'lib(a|t|ub)san'; then
	san="the shim is built with a sanitizer"
fi
skip() {
	n=$((n + 1))
	echo "ok $n - $desc # SKIP $san"
}

echo "1..9"
desc="weft-run --help documents options and variables"
ok says 0 "WEFT_WORKERS" "$run" --help
desc="weft-run with a typo in an option: one line and exit 2"
ok says 2 "unknown option '--wrokers=2'" "$run" --wrokers=2 true
desc="weft-run with a program that does not exist: exit 127"
ok says 127 "no-such-program: command not found" "$run" no-such-program
desc="weft-run --mode=bad: exit 2, names the accepted values"
ok says 2 "expected mn or io" "$run" --mode=bad true
if [[ -n $san ]]; then
	for desc in "a static program" "a program runs on weft" \
		"weft-stat --once" "weft-stat without statistics" \
		"weft-stat on a gone process"; do
		skip
	done
	exit 0
fi
printf 'int main(void){return 3;}\n' >"$tmp/static.c"
if cc -static -o "$tmp/static" "$tmp/static.c" 2>/dev/null; then
	desc="a static program runs unchanged, after one line saying why"
	ok says 3 "statically linked" "$run" "$tmp/static"
else
	n=$((n + 1))
	echo "ok $n - static program # SKIP no static libc to build one"
fi
desc="a program runs on weft, its arguments and exit status intact"
ok says 7 "a b" "$run" -v sh -c 'echo "$0 $1"; exit 7' a b

# weft-stat on a process that keeps statistics.
WEFT_WORKERS=2 "$run" --stats sleep 5 &
bg=$!
for _ in $(seq 100); do
	ls -l /proc/$bg/fd 2>/dev/null | grep -q memfd:weft-stats && break
	sleep 0.05
done
desc="weft-stat --once shows every worker of a weft-run --stats process"
table() {
	local out
	out=$("$stat" --once -i 0.2 "$bg") || return 1
	echo "$out"
	[[ $out == *"workers 2"* && $out == *"switch/s"* ]] &&
		grep -Eq '^ +0 +(run|sleep) ' <<<"$out" &&
		grep -Eq '^ +1 +(run|sleep) ' <<<"$out" &&
		grep -Eq '^ +all ' <<<"$out"
}
ok table
desc="weft-stat on a process without statistics says how to get them"
ok says 1 "WEFT_STATS=1" "$stat" --once $$
kill "$bg" 2>/dev/null
wait "$bg" 2>/dev/null
desc="weft-stat on a process that has gone: no process"
ok says 1 "no process $bg" "$stat" --once "$bg"
((fails == 0))
