#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/model/run.sh [--full] [-j JOBS] [NAME...] - model-check weft's
# concurrency protocols with Spin, and print TAP.
#
# Each check generates a verifier (spin -a), compiles it (gcc) and runs an
# exhaustive search of one model (*.pml here) with some -D flags:
#	pass	the property holds in every interleaving;
#	broken	a deliberately broken variant (a barrier removed, a step
#		moved): Spin must find the violation, or the model proves
#		nothing about that barrier;
#	todo	the code as written, where the model found a real bug (see
#		the model's header): "not ok ... # TODO" until the C code
#		is fixed; it does not fail the run.
# A bug fixed in C keeps its old code as a variant (-DOLD_BUG), checked
# as broken: the model still catches what it once found.
# --full adds the larger configurations and the liveness runs that take
# minutes and gigabytes. NAME selects checks whose name starts with it.
#
# Needs spin and gcc; skips (exit 4) without them. Last line:
# "weft-model: N passed, N failed, N todo". Exit 1 if anything failed.

set -u

here=$(cd "$(dirname "$0")" && pwd)
jobs=2
full=0
pick=()

while (($#)); do
	case $1 in
	--full) full=1; shift ;;
	-j) jobs=$2; shift 2 ;;
	-j*) jobs=${1#-j}; shift ;;
	-h|--help) sed -n '4,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) pick+=("$1"); shift ;;
	esac
done

echo "TAP version 13"
for tool in spin gcc; do
	if ! command -v $tool >/dev/null; then
		echo "1..0 # SKIP $tool not installed (apt-get install spin gcc)"
		exit 4
	fi
done

# name | model | spin -D flags | pan build flags | pan run flags | expect |
# what it shows (no '#' or '|' in it)
checks=(
"wait-cancel-sb|wait.pml|-DSB -DCANCEL_ONLY|-DSAFETY||pass|a cancel racing the commit always ends the wait (Dekker, step 4)"
"wait-cancel-sb-broken|wait.pml|-DSB -DCANCEL_ONLY -DBROKEN|-DSAFETY||broken|weft_cancel() without its heavy barrier loses the cancel"
"wait-count|wait.pml|-DCANCEL_COUNT|-DSAFETY||pass|park/wake: one of woken/timed out/cancelled wins, no lost wake-up, runs once, only after its switch, one weft_cancel() cancels one wait or stays armed (cancel_try())"
"wait-count-sb|wait.pml|-DCANCEL_COUNT -DSB|-DSAFETY||pass|the same with store buffers and the membarriers of weft_cancel() and cancel_try()"
"wait-count-old|wait.pml|-DCANCEL_COUNT -DOLD_BUG|-DSAFETY||broken|weft_cancel() before 5f2a825: one request cancels two waits"
"wait-prompt|wait.pml|-DCANCEL_PROMPT|-DSAFETY||todo|a wait that starts after weft_cancel() returned, the request unspent, ends cancelled (a request held by a commit's cancel_try() is skipped)"
"idle|idle.pml|-DFIX_BITS|-DSAFETY -DCOLLAPSE||pass|work never left with every worker asleep, one reason per sleep (wakep_slow retries while an idle bit is set)"
"idle-3w|idle.pml|-DFIX_BITS -DNWK=3 -DNP=1|-DSAFETY -DCOLLAPSE||pass|3 workers, one maker: work never left with everyone asleep, one reason per sleep"
"idle-sb|idle.pml|-DFIX_BITS -DSB|-DSAFETY -DCOLLAPSE||pass|the same with store buffers and idle_sleep's membarrier"
"idle-sb-broken|idle.pml|-DFIX_BITS -DSB -DBROKEN|-DSAFETY||broken|idle_sleep() without its heavy barrier sleeps on work"
"idle-old|idle.pml|-DOLD_BUG|-DSAFETY -DCOLLAPSE||broken|wakep_slow() before 0cfedc3 (no retry) loses a wake-up"
"idle-bound|idle.pml|-DTRIES=2|-DSAFETY -DCOLLAPSE||broken|a bounded retry while nidle != 0 (5f2a825's tries < 1000): out of tries, the lost wake-up is back"
"idle-nidle|idle.pml||-DSAFETY -DCOLLAPSE||pass|retrying while nidle != 0, unbounded, is correct too (the bits are what the code reads)"
"runq|runq.pml||-DSAFETY -DCOLLAPSE||pass|every fiber taken once: tail pops counted in hg vs thieves' batches"
"runq-sb|runq.pml|-DSB|-DSAFETY -DCOLLAPSE||pass|the same with store buffers: the pop's RMW orders tail before head"
"runq-spill-sb|runq.pml|-DSB -DNPUSH=5 -DNTHIEF=1|-DSAFETY -DCOLLAPSE||pass|a full ring spilling to inject, one thief, store buffers"
"runq-sb-broken-nocount|runq.pml|-DSB -DBROKEN=1|-DSAFETY||broken|runq_pop_tail() with a plain load of hg, no count: a fiber taken twice"
"runq-sb-broken-relaxed|runq.pml|-DSB -DBROKEN=2|-DSAFETY||broken|the count's RMW passing the tail store (relaxed, arm64): a fiber taken twice"
"runq-broken-order|runq.pml|-DBROKEN=3|-DSAFETY||broken|runq_grab() loading tail before hg: a fiber taken twice"
"runq-old|runq.pml|-DOLD_BUG|-DSAFETY||broken|runq_pop_tail() before 0cfedc3: two pops under a thief's batch take a fiber twice"
"runq-live|runq.pml|-DNTHIEF=1|-DNP -DCOLLAPSE|-l -f|pass|no cycle without progress (weak fairness): a thief's retries end"
"join|join.pml||-DSAFETY||pass|join vs exit: no lost wake-up, joiner runs once after its switch, one reap"
"join-detach|join.pml|-DDETACH|-DSAFETY||pass|join/detach vs exit: one reap (exit_commit CASes DETACHED to REAPED)"
"join-detach-old|join.pml|-DDETACH -DOLD_BUG|-DSAFETY||broken|exit_commit() before 0cfedc3 (DONE, then REAPED): double reap"
"join-broken|join.pml|-DBROKEN -DDETACH|-DSAFETY||broken|a joiner published before its switch is run while still running"
)
# The store-buffer runs cover every sequentially consistent execution too
# (flush each store at once); the plain ones give shorter trails.
if ((full)); then
	checks+=(
"wait-count-nomembarrier|wait.pml|-DCANCEL_COUNT -DSB -DNO_MEMBARRIER|-DSAFETY||pass|the same with full fences on both sides (no membarrier)"
"wait-count-3|wait.pml|-DNW=3 -DCANCEL_COUNT -DSB|-DSAFETY -DCOLLAPSE||pass|one request, one cancelled wait: three waits, store buffers"
"wait-count-old-sb|wait.pml|-DCANCEL_COUNT -DOLD_BUG -DSB|-DSAFETY||broken|weft_cancel() before 5f2a825, store buffers: one request cancels two waits"
"idle-sb-nomembarrier|idle.pml|-DFIX_BITS -DSB -DNO_MEMBARRIER|-DSAFETY -DCOLLAPSE||pass|full fences on both sides"
"idle-live|idle.pml|-DFIX_BITS|-DNP -DCOLLAPSE -DNFAIR=3|-l -f|pass|no cycle without progress: wakep_slow's retry ends (weak fairness)"
"idle-bits-bound|idle.pml|-DFIX_BITS -DTRIES=2|-DSAFETY -DCOLLAPSE||broken|the bit retry with a bound: the last try still loses a wake-up"
"runq-spill-2-sb|runq.pml|-DSB -DNPUSH=5 -DNSTEAL=1|-DSAFETY -DCOLLAPSE||pass|a ring spilling to inject, two thieves, store buffers"
"runq-live-2|runq.pml|-DNSTEAL=1|-DNP -DCOLLAPSE|-l -f|pass|no cycle without progress, two thieves"
	)
fi

selected=()
for c in "${checks[@]}"; do
	name=${c%%|*}
	if ((${#pick[@]})); then
		for p in "${pick[@]}"; do
			[[ $name == "$p"* ]] && selected+=("$c") && break
		done
	else
		selected+=("$c")
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/weft-model.XXXXXX")
keep=0
cleanup()
{
	((keep)) || rm -rf "$work"
}
trap cleanup EXIT

# One check in $work/$i: spin, gcc, pan. Writes $work/$i/status.
run_one()
{
	local i=$1 model=$2 dflags=$3 cflags=$4 pflags=$5 expect=$6
	local d=$work/$i start end opt=-O1

	mkdir -p "$d" && cd "$d" || return
	start=$(date +%s.%N)
	# shellcheck disable=SC2086
	if ! spin -a $dflags "$here/$model" >spin.log 2>&1; then
		echo error >status
		return
	fi
	# A violation turns up in a few states: compile fast, search slow.
	[[ $expect == pass ]] || opt=-O0
	# shellcheck disable=SC2086
	if ! gcc -w $opt $cflags -o pan pan.c >gcc.log 2>&1; then
		echo error >status
		return
	fi
	# shellcheck disable=SC2086
	timeout 600 ./pan -m1000000 $pflags >pan.out 2>&1
	end=$(date +%s.%N)
	echo "$start $end" >elapsed
	if grep -q "max search depth too small\|out of memory\|pan: error" pan.out; then
		echo error >status
	elif grep -q "errors: 0$" pan.out; then
		echo holds >status
	elif grep -q "errors: [1-9]" pan.out; then
		echo violated >status
	else
		echo error >status
	fi
}

i=0
for c in "${selected[@]}"; do
	i=$((i + 1))
	IFS='|' read -r name model dflags cflags pflags expect what <<<"$c"
	while (($(jobs -rp | wc -l) >= jobs)); do
		wait -n
	done
	run_one "$i" "$model" "$dflags" "$cflags" "$pflags" "$expect" &
done
wait

echo "1..${#selected[@]}"
pass=0 fail=0 todo=0 xpass=0
i=0
for c in "${selected[@]}"; do
	i=$((i + 1))
	IFS='|' read -r name model dflags cflags pflags expect what <<<"$c"
	d=$work/$i
	status=$(cat "$d/status" 2>/dev/null || echo error)
	states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' "$d/pan.out" 2>/dev/null)
	secs=$(awk '{ printf "%.1f", $2 - $1 }' "$d/elapsed" 2>/dev/null)
	first=$(grep -m1 -E "^pan:[0-9]+:" "$d/pan.out" 2>/dev/null)
	case $expect:$status in
	pass:holds)
		echo "ok $i $name: $what"; pass=$((pass + 1)) ;;
	broken:violated)
		echo "ok $i $name: $what"; pass=$((pass + 1)) ;;
	todo:violated)
		echo "not ok $i $name: $what # TODO known bug, see $model"
		todo=$((todo + 1)) ;;
	todo:holds)
		echo "ok $i $name: $what # TODO the model no longer shows the bug"
		xpass=$((xpass + 1)) ;;
	*)
		echo "not ok $i $name: $what"; fail=$((fail + 1)); keep=1
		echo "# expected $expect, got $status; files in $d"
		;;
	esac
	echo "# $name: spin ${dflags:+$dflags }$model: ${states:-?} states, ${secs:-?} s${first:+; $first}"
done

echo "# Totals: pass:$pass fail:$fail xfail:$todo xpass:$xpass skip:0 error:0"
echo "weft-model: $pass passed, $fail failed, $todo todo"
((fail == 0))
