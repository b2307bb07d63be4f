#!/bin/bash
# SPDX-License-Identifier: MIT
#
# gdb_test.sh - tools/gdb/weft.py in gdb's batch mode, on a live process
# and on core files.
#
# tests/gdb/gdb_target.c parks two named fibers (one asleep, one on a
# channel), stops in gdb_stop_here() with its first fiber running, then
# aborts in a third. One gdb session runs it: before weft_run() (no
# runtime), at the breakpoint (fibers, workers, bt, weft gcore), and at the
# abort. A second session reads the core weft gcore wrote; a third, when
# the kernel writes cores to the working directory, the core of the abort.
#
# Environment: WEFT_O the build directory (default build); MAKE the make to
# run (default make). The target is built by the Makefile's test rule.
#
# TAP 13 on stdout; exit 0 pass, 1 fail, 4 skip (no gdb, or gdb cannot
# run a program here).

set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
O=${WEFT_O:-build}
target=$O/tests/gdb/gdb_target		# for make -C "$root"
bin=$target
[[ $bin == /* ]] || bin=$root/$bin
plan=13

echo "TAP version 13"
if ! command -v gdb >/dev/null; then
	echo "1..0 # SKIP gdb not found (apt-get install gdb)"
	exit 4
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-gdb.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

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
	[[ -n ${2:-} && -s $2 ]] && sed 's/^/# /' "$2"
}

skipped() {
	num=$((num + 1))
	skip=$((skip + 1))
	echo "ok $num $1 # SKIP $2"
}

finish() {
	echo "# Totals: pass:$pass fail:$fail xfail:0 xpass:0 skip:$skip error:0"
	((fail == 0)) || exit 1
	exit 0
}

# gdb_batch LOG ARGS...: gdb in batch mode with weft.py, output to LOG.
gdb_batch() {
	local log=$1
	shift
	timeout 60 gdb -nx -batch -q -iex 'set debuginfod enabled off' \
		-ex 'set pagination off' -ex 'set confirm off' \
		-ex 'set width 0' -ex "source $root/tools/gdb/weft.py" \
		"$@" >"$log" 2>&1 </dev/null
}

# section LOG START END: the lines of LOG from the one matching START to
# the one before the next matching END (a marker echoed between commands).
section() {
	sed -n "/^=== $2\$/,/^=== $3\$/p" "$1"
}

# expect NAME TEXT REGEX...: one test, passing if TEXT matches every
# extended REGEX (each on some line); TEXT is shown when it fails.
expect() {
	local name=$1 text=$2 re
	shift 2
	for re in "$@"; do
		if ! grep -Eq -- "$re" <<<"$text"; then
			printf '%s\n' "missing: $re" "$text" >"$tmp/why"
			not_ok "$name" "$tmp/why"
			return 1
		fi
	done
	ok "$name"
}

if ! "${MAKE:-make}" -C "$root" --no-print-directory O="$O" "$target" \
	>"$tmp/build" 2>&1; then
	echo "1..1"
	not_ok "build $target" "$tmp/build"
	finish
fi

# Room for a gcore: it holds each 1 GiB stack reservation whole.
free_kib=$(df -Pk "$tmp" | awk 'NR == 2 { print $4 }')
gcore_ok=$((${free_kib:-0} > 2 * 1024 * 1024))

# The live session's commands, each group after a marker for section().
cmds=()
mark() { cmds+=(-ex "echo === $1\\n"); }
cmd() { cmds+=(-ex "$1"); }
regs='info registers pc sp'
cmd 'break main'
cmd 'break gdb_stop_here'
cmd run
mark nort;	cmd 'weft fibers'
mark stop;	cmd continue
mark fibers;	cmd 'weft fibers'
mark workers;	cmd 'weft workers'
mark regs0;	cmd "$regs"
mark bt-name;	cmd 'weft bt gdb-sleeper'
mark bt-id;	cmd 'eval "weft bt 0x%lx", receiver_id'
mark bt-expr;	cmd 'weft bt receiver_id 3'
mark bt-running; cmd 'weft bt running_rt->main->id'
mark regs1;	cmd "$regs"
mark bad;	cmd 'weft bt 0x12345'; cmd 'weft bt nosuch'
mark gcore;	((gcore_ok)) && cmd "weft gcore $tmp/gcore"
mark abort;	cmd continue; cmd 'weft fibers'; cmd 'weft bt gdb-crasher'
mark end;	cmd kill
live=$tmp/live
gdb_batch "$live" "${cmds[@]}" "$bin"

if ! grep -q 'hit Breakpoint 2, gdb_stop_here' "$live"; then
	why='ptrace: |Could not trace the inferior'
	if grep -Eq "$why" "$live"; then
		echo "1..0 # SKIP gdb cannot run a program here:" \
		     "$(grep -Em1 "$why" "$live")"
		exit 4
	fi
	echo "1..1"
	not_ok "gdb runs $target to gdb_stop_here" "$live"
	finish
fi
echo "1..$plan"

# 1
expect "no runtime yet: a one-line message" "$(section "$live" nort stop)" \
	'^weft: no runtime running'

# 2
fibers=$(section "$live" fibers workers)
expect "weft fibers: the named fibers, parked" "$fibers" \
	'^ +0x[0-9a-f]+ +parked +.* sleeper_fn +gdb-sleeper$' \
	'^ +0x[0-9a-f]+ +parked +.* receiver_fn +gdb-receiver$' \
	'^3 fibers: 2 parked, 1 running$'

# 3
expect "weft fibers: the first fiber marked running on worker 0" "$fibers" \
	'^\* +0x[0-9a-f]+ +running +w0 +256K +main_fn +\(main\)$'

# 4
expect "weft workers: two, worker 0 running the first fiber" \
	"$(section "$live" workers regs0)" \
	'^0 +[0-9]+ \(LWP [0-9]+\) +fiber +0x[0-9a-f]+ ' '^1 +[0-9]+ \(LWP'

# 5
expect "weft bt NAME: a sleeping fiber's backtrace" \
	"$(section "$live" bt-name bt-id)" \
	'^#0 .* weft_ctx_switch ' 'in weft_sleep_ns ' \
	'in sleeper_fn .*gdb_target\.c' 'weft_ctx_entry'

# 6
expect "weft bt ID: a fiber waiting on a channel" \
	"$(section "$live" bt-id bt-expr)" \
	'^fiber 0x[0-9a-f]+ "gdb-receiver" parked' 'in weft_chan_recv ' \
	'in receiver_fn .*gdb_target\.c'

# 7
bt3=$(section "$live" bt-expr bt-running)
if [[ $(grep -c '^#' <<<"$bt3") == 3 ]]; then
	ok "weft bt EXPR 3: three frames"
else
	printf '%s\n' "$bt3" >"$tmp/why"
	not_ok "weft bt EXPR 3: three frames" "$tmp/why"
fi

# 8
expect "weft bt of the running fiber: its worker's thread" \
	"$(section "$live" bt-running regs1)" \
	'^running on worker 0' '^#0 +gdb_stop_here ' 'in main_fn '

# 9
regs0=$(grep -E '^(pc|sp) ' <<<"$(section "$live" regs0 bt-name)")
regs1=$(grep -E '^(pc|sp) ' <<<"$(section "$live" regs1 bad)")
if [[ -n $regs0 && $regs0 == "$regs1" ]]; then
	ok "the thread's registers are left as they were"
else
	printf '%s\n' "before: $regs0" "after:  $regs1" >"$tmp/why"
	not_ok "the thread's registers are left as they were" "$tmp/why"
fi

# 10
expect "unknown fibers: one-line errors" "$(section "$live" bad gcore)" \
	'^weft: no fiber 0x12345$' '^weft: no fiber named nosuch$'

# 11
expect "after abort(): the crashed fiber running, its bt" \
	"$(section "$live" abort end)" \
	'^\* +0x[0-9a-f]+ +running +w0 .* crasher_fn +gdb-crasher$' \
	'in crasher_fn ' 'abort'

# 12
if ((!gcore_ok)); then
	skipped "weft gcore core file" "less than 2 GiB free in $tmp"
else
	core=$tmp/core-session
	gdb_batch "$core" -ex 'weft fibers' -ex 'weft bt gdb-sleeper' \
		-ex 'weft bt receiver_id' "$bin" "$tmp/gcore"
	expect "weft gcore core file: fibers and their backtraces" \
		"$(cat "$core")" \
		'^ +0x[0-9a-f]+ +parked +.* gdb-sleeper$' \
		'^\* +0x[0-9a-f]+ +running +w0 .* main_fn' \
		'in sleeper_fn ' 'in receiver_fn '
	rm -f "$tmp/gcore"
fi

# 13: the kernel's core of the abort, where it writes one here.
pattern=$(cat /proc/sys/kernel/core_pattern 2>/dev/null)
if [[ -z $pattern || $pattern == *[/\|]* ]]; then
	skipped "kernel core dump" "core_pattern is '${pattern:-?}'"
elif ! (ulimit -c unlimited 2>/dev/null); then
	skipped "kernel core dump" "ulimit -c unlimited not allowed"
else
	mkdir "$tmp/k"
	{ (cd "$tmp/k" && ulimit -c unlimited && exec "$bin") >/dev/null 2>&1; } \
		2>/dev/null
	kcore=$(find "$tmp/k" -maxdepth 1 -name 'core*' -type f | head -1)
	if [[ -z $kcore ]]; then
		skipped "kernel core dump" "no core written (pattern '$pattern')"
	else
		gdb_batch "$tmp/kcore" -ex 'weft fibers' \
			-ex 'weft bt gdb-receiver' -ex 'weft bt gdb-crasher' \
			"$bin" "$kcore"
		expect "kernel core of the abort: fibers and backtraces" \
			"$(cat "$tmp/kcore")" \
			'^\* +0x[0-9a-f]+ +running +w0 .* gdb-crasher$' \
			'^ +0x[0-9a-f]+ +parked +.* gdb-receiver$' \
			'in receiver_fn ' 'in crasher_fn '
	fi
fi

finish
