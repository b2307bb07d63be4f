#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/run.sh - run the weft benchmarks and their peer implementations.
#
# usage: bench/run.sh [-r RUNS] [-b BENCH] [--table] [-v] BUILD_DIR
#
#   -r RUNS    measured runs per binary (default 5); the median is reported
#   -b BENCH   run only this benchmark (see the table below)
#   --table    also print a human-readable summary table at the end
#   -v         also echo every raw result / comment line of every run
#   BUILD_DIR  build tree: weft benches in BUILD_DIR/bench/<bench>_bench,
#              peers in BUILD_DIR/bench/peers/<bench>_<impl>
#
# Environment: WEFT_BENCH_TIMEOUT  seconds one invocation may run (default 600)
#
# Every benchmark binary prints one line per result,
#     bench=NAME impl=IMPL value=X unit=U [key=val ...]
# plus optional lines starting with '#'. One invocation is one run. Within a
# benchmark, the weft binary and each peer are run alternately (round robin),
# RUNS rounds. Results are grouped by (bench=, mode=, impl=, n=) and reported
# as
#     bench=NAME [mode=M] impl=IMPL value=MEDIAN unit=U runs=R [other keys, last run]
# followed, for every peer result, by
#     bench=NAME [mode=M] impl=weft/PEER value=RATIO unit=ratio [n=N]
# mode= names a variant of a bench (pingpong mode=local, mode=cross): results
# of different modes are never compared with each other.
# (weft median / peer median; all units are costs, so < 1 means weft is
# cheaper). For the benches in SIZED_BENCHES (n= is a problem size, e.g.
# parked) ratios are per n=: a peer result is compared with the weft result
# of the same n=, or of the nearest n= (then named in weft_n=); elsewhere n=
# is an iteration count and the ratio line carries no n=. Every other line
# this script prints starts with '#', so its output obeys the same contract.
# A binary's '# skip ...' lines (a result it could not measure, and why) are
# passed on once.
#
# A missing peer binary is skipped (toolchain or library not available); a
# binary that exits 0 with a '# skip' line and no result (it cannot run on
# this machine) is dropped quietly, weft or peer; a failing peer is
# reported and dropped. A missing or failing weft binary is an
# error: the remaining benchmarks still run, and the script exits 1 at the end.

set -u

# ---------------------------------------------------------------------------
# Benchmark table: one row per job.
#   BENCH  IMPL  BINARY (relative to BUILD_DIR/bench)  [ARGS...]
# IMPL "weft" marks the weft binary; every other IMPL is a peer, named as it
# prints itself in impl=. Rows of a bench run in this order in every round.
# To add a benchmark, add its rows here (weft first).
#
# parked: weft and go are measured at n=100000 and n=1000000. pthread runs at
# n=10000 only: each parked OS thread pins a 64 KiB stack mapping plus a
# 16 KiB kernel stack, and 10^5..10^6 threads exceed pid_max/threads-max on
# ordinary machines. Its ratio is taken against weft's nearest n (100000).
#
# pingpong: each row is one mode. Cross-thread wake-ups through the kernel
# take ~20 us here, so boost.fiber and pthread run fewer hand-offs in cross.
# skynet: Boost.Fiber needs seconds for 10^6 leaves (its cost per leaf grows
# with the tree), so it runs 10^5, and weft and go run both sizes; the
# value is ns/leaf, which at n=1000000 is also the time in ms.
# handoff: weft only; also prints bench=handoff_syscalls (needs tracefs).
# rseq: weft only; the binary times its own implementations against each
# other (rseq, atomic, xadd; CPU reads) and prints rseq's ratio to each.
# echo: a server under bench/echo_client's closed loop (CONNS connections,
# 64-byte messages, SECONDS measured after 0.5 s of warm-up; the client
# shares the cores with the server). The rows run through bench/echo.sh
# (BENCH_DRIVERS): BINARY is the server, ARGS are CONNS SECONDS, and n= is
# CONNS. Each run prints bench=echo (req/s), echo_cpu (the server's CPU
# time, us/req) and echo_syscalls (the server's syscalls/req, counted with
# tracefs). req/s is the one unit here that is not a cost: for bench=echo a
# weft/peer ratio > 1 means weft is faster. 10000 connections need an
# RLIMIT_NOFILE hard limit >= 10064; below that the client skips the row.
# Variants of weft's server take VAR=VALUE arguments (the server's
# environment, IMPL= the label): the epoll backend, the setup flags and
# the direct first attempts (WEFT_RING_SETUP, WEFT_IO_TRY in weft(7)).
# preload_echo: one plain thread-per-connection server with nothing of weft
# in it (bench/preload_echo_server.c), natively and under tools/weft-run,
# through bench/preload_echo.sh (IMPL= chooses) and the echo client as
# above. Besides req/s, cpu and syscalls it reports the server's peak RSS
# (preload_echo_rss), peak OS threads (_threads), the growth of
# KernelStack in /proc/meminfo (_kstack: 16 KiB per thread that RSS does
# not show; machine-wide, so noisy) and their sum (_mem). Without
# weft-run built, its rows skip.
BENCH_TABLE='
switch   weft            switch_bench
switch   boost.context   peers/switch_boost_context
switch   ucontext        peers/switch_ucontext

yield    weft            yield_bench
yield    go              peers/yield_go
yield    boost.fiber     peers/yield_boost_fiber

spawn    weft            spawn_bench
spawn    go              peers/spawn_go
spawn    pthread         peers/spawn_pthread

parked   weft            parked_bench            100000
parked   weft            parked_bench            1000000
parked   go              peers/parked_go         100000
parked   go              peers/parked_go         1000000
parked   pthread         peers/parked_pthread    10000

pingpong weft            pingpong_bench          10000000 local
pingpong weft            pingpong_bench          1000000 cross
pingpong go              peers/pingpong_go       4000000 local
pingpong go              peers/pingpong_go       4000000 cross
pingpong boost.fiber     peers/pingpong_boost_fiber 4000000 local
pingpong boost.fiber     peers/pingpong_boost_fiber 100000 cross
pingpong pthread         peers/pingpong_pthread  100000 cross

skynet   weft            skynet_bench            1000000
skynet   weft            skynet_bench            100000
skynet   go              peers/skynet_go         1000000
skynet   go              peers/skynet_go         100000
skynet   boost.fiber     peers/skynet_boost_fiber 100000

handoff  weft            handoff_bench           1000000

rseq     weft            rseq_bench

echo     weft            echo_server             100 3
echo     weft            echo_server             1000 3
echo     weft            echo_server             10000 3
echo     weft-try-send   echo_server             1000 3 WEFT_IO_TRY=send IMPL=weft-try-send
echo     weft-try-recv   echo_server             1000 3 WEFT_IO_TRY=recv IMPL=weft-try-recv
echo     weft-coop       echo_server             1000 3 WEFT_RING_SETUP=coop IMPL=weft-coop
echo     weft-epoll      echo_server             100 3 WEFT_BACKEND=epoll IMPL=weft-epoll
echo     weft-epoll      echo_server             1000 3 WEFT_BACKEND=epoll IMPL=weft-epoll
echo     weft-epoll      echo_server             10000 3 WEFT_BACKEND=epoll IMPL=weft-epoll
echo     epoll           peers/echo_epoll        100 3
echo     epoll           peers/echo_epoll        1000 3
echo     epoll           peers/echo_epoll        10000 3
echo     threads         peers/echo_threads      100 3
echo     threads         peers/echo_threads      1000 3
echo     threads         peers/echo_threads      10000 3
echo     go              peers/echo_go           100 3
echo     go              peers/echo_go           1000 3
echo     go              peers/echo_go           10000 3

preload_echo weft-run    preload_echo_server     100 3 IMPL=weft-run
preload_echo weft-run    preload_echo_server     1000 3 IMPL=weft-run
preload_echo weft-run    preload_echo_server     5000 3 IMPL=weft-run
preload_echo weft-run    preload_echo_server     10000 3 IMPL=weft-run
preload_echo native      preload_echo_server     100 3 IMPL=native
preload_echo native      preload_echo_server     1000 3 IMPL=native
preload_echo native      preload_echo_server     5000 3 IMPL=native
preload_echo native      preload_echo_server     10000 3 IMPL=native
'
# Benchmarks whose n= is a problem size (results compared per n=). For the
# others n= is just an iteration count and weft is compared with each peer
# whatever the counts.
SIZED_BENCHES='parked skynet echo preload_echo'

# Benchmarks run through a driver script in bench/ (rows: BENCH DRIVER): run.sh
# runs "bench/DRIVER BUILD_DIR BINARY ARGS..." instead of the binary; the
# binary is still checked for (a missing peer is skipped as usual).
BENCH_DRIVERS='
echo     echo.sh
preload_echo preload_echo.sh
'

# Targets, shown in --table next to weft's value: BENCH[/MODE] UNIT MAX.
# Targets relative to a peer cannot be written here; read them off the
# ratio lines (at n=1000 conns; 100 and 10000 too):
#   echo      weft/epoll >= 1.0, weft/go >= 1.3  (req/s, higher is better)
#   echo_cpu  weft/epoll <= 0.9                  (server CPU us/req)
#   preload_echo      weft-run/native >= 1.5 at n=1000 (req/s)
#   preload_echo_rss  weft-run/native <= 0.6 at n=1000
#   preload_echo_mem  weft-run/native <= 0.4 at n=5000 (rss + kstack)
BENCH_TARGETS='
pingpong/local     ns/handoff        25
skynet             ns/leaf           120
handoff_syscalls   syscalls/handoff  0
echo_syscalls      syscalls/req      0.1
preload_echo_threads threads         8
'
# ---------------------------------------------------------------------------

PROG=${0##*/}

usage() {
	cat <<EOF
usage: $PROG [-r RUNS] [-b BENCH] [--table] [-v] BUILD_DIR
  -r RUNS    measured runs per binary (default 5); the median is reported
  -b BENCH   run only this benchmark (one of: ${BENCHES[*]})
  --table    also print a human-readable summary table at the end
  -v         also echo every raw line of every run (as '# run=R/RUNS ...')
  BUILD_DIR  weft benches: BUILD_DIR/bench/<bench>_bench,
             peers: BUILD_DIR/bench/peers/<bench>_<impl>
environment: WEFT_BENCH_TIMEOUT  seconds one invocation may run (default 600)
EOF
	exit 0
}

die_usage() {
	echo "$PROG: $*" >&2
	echo "usage: $PROG [-r RUNS] [-b BENCH] [--table] [-v] BUILD_DIR" >&2
	exit 2
}

# ---- load the table --------------------------------------------------------
BENCH_SRC=.
[[ $0 == */* ]] && BENCH_SRC=${0%/*}
declare -A DRIVER=()
while read -r t_bench t_driver; do
	[[ -z $t_bench || $t_bench == \#* ]] && continue
	DRIVER[$t_bench]=$t_driver
done <<<"$BENCH_DRIVERS"

JOB_BENCH=() JOB_IMPL=() JOB_BIN=() JOB_ARGS=()
BENCHES=()
while read -r t_bench t_impl t_bin t_args; do
	[[ -z $t_bench || $t_bench == \#* ]] && continue
	JOB_BENCH+=("$t_bench") JOB_IMPL+=("$t_impl")
	JOB_BIN+=("$t_bin") JOB_ARGS+=("$t_args")
	[[ " ${BENCHES[*]-} " == *" $t_bench "* ]] || BENCHES+=("$t_bench")
done <<<"$BENCH_TABLE"

# ---- options ---------------------------------------------------------------
RUNS=5 ONLY='' TABLE=0 VERBOSE=0 BUILD_DIR=''
while (($# > 0)); do
	case $1 in
	-r) (($# >= 2)) || die_usage "-r needs a value"; RUNS=$2; shift 2 ;;
	-r*) RUNS=${1#-r}; shift ;;
	-b) (($# >= 2)) || die_usage "-b needs a value"; ONLY=$2; shift 2 ;;
	-b*) ONLY=${1#-b}; shift ;;
	--table) TABLE=1; shift ;;
	-v) VERBOSE=1; shift ;;
	-h | --help) usage ;;
	--) shift; break ;;
	-*) die_usage "unknown option: $1" ;;
	*) [[ -z $BUILD_DIR ]] || die_usage "more than one BUILD_DIR"; BUILD_DIR=$1; shift ;;
	esac
done
if (($# > 0)); then
	[[ -z $BUILD_DIR && $# -eq 1 ]] || die_usage "more than one BUILD_DIR"
	BUILD_DIR=$1
fi
[[ -n $BUILD_DIR ]] || die_usage "missing BUILD_DIR"
[[ -d $BUILD_DIR ]] || die_usage "BUILD_DIR '$BUILD_DIR' is not a directory"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die_usage "RUNS must be a positive integer: '$RUNS'"
if [[ -n $ONLY && " ${BENCHES[*]} " != *" $ONLY "* ]]; then
	die_usage "unknown bench '$ONLY' (known: ${BENCHES[*]})"
fi

TIMEOUT=${WEFT_BENCH_TIMEOUT:-600}
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die_usage "WEFT_BENCH_TIMEOUT must be a positive integer"
# --foreground keeps the benchmark in our process group, so ^C reaches it.
TIMEOUT_CMD=()
command -v timeout >/dev/null 2>&1 && TIMEOUT_CMD=(timeout --foreground -k 10 "$TIMEOUT")

# ---- environment line ------------------------------------------------------
print_env() {
	local kernel cpu cores nodes d
	kernel=$(uname -r 2>/dev/null || echo unknown)
	cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)
	[[ -n $cpu ]] || cpu=$(uname -m 2>/dev/null || echo unknown)
	cpu=${cpu//\"/}
	cores=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
	nodes=0
	for d in /sys/devices/system/node/node[0-9]*; do
		[[ -d $d ]] && ((nodes++))
	done
	((nodes > 0)) || nodes=1
	printf '# env: kernel=%s cpu="%s" cores=%s nodes=%s date=%s\n' \
		"$kernel" "$cpu" "$cores" "$nodes" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}

# handoff and echo count syscalls through tracefs, which a fresh machine
# may not have mounted: mount it when we can (as root), as perf would need
# too.
mount_tracefs() {
	[[ -e /sys/kernel/tracing/events/raw_syscalls ]] && return 0
	[[ $(id -u) == 0 && -d /sys/kernel/tracing ]] || return 0
	mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null &&
		echo "# mounted tracefs on /sys/kernel/tracing for syscall counts"
	return 0
}

# ---- helpers ---------------------------------------------------------------
# median VALUE... -> median; integers stay integers, otherwise 2 decimals.
median() {
	printf '%s\n' "$@" | sort -g | awk '
		{ v[NR] = $1; if ($1 !~ /^-?[0-9]+$/) frac = 1 }
		END {
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf(frac ? "%.2f\n" : "%.0f\n", m)
		}'
}

# ratio A B -> A/B with 3 decimals, or nothing when B is 0.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 != 0) printf("%.3f\n", a / b) }'
}

# Results of the bench being run, keyed "bench|impl|n" (n empty if absent).
declare -A VALUES UNIT EXTRA IS_WEFT
KEYS=()     # keys in first-seen order
ACCEPTED=0  # result lines accepted by the last parse_output
SKIPPED=0   # the last parse_output saw a '# skip' line
FAILED=0    # a weft binary was missing or failed
SUMMARY=()  # --table rows: bench|n|weft value|weft impl|peer|peer value|unit|ratio|note

# parse_output JOB ROUND OUTPUT: record the result lines of one run.
parse_output() {
	local j=$1 round=$2 out=$3 line tok key b i v u n m extra
	local -a toks
	ACCEPTED=0 SKIPPED=0
	while IFS= read -r line; do
		[[ -z ${line//[[:space:]]/} ]] && continue
		((VERBOSE)) && printf '# run=%s/%s %s\n' "$round" "$RUNS" "$line"
		[[ $line == '# skip '* ]] && SKIPPED=1
		((round == 1 && !VERBOSE)) && [[ $line == '# skip '* ]] && echo "$line"
		[[ $line == \#* ]] && continue
		if [[ $line != bench=* ]]; then
			echo "# warn bench=${JOB_BENCH[j]} impl=${JOB_IMPL[j]}: ignoring line: $line"
			continue
		fi
		read -r -a toks <<<"$line"
		b='' i='' v='' u='' n='' m='' extra=''
		for tok in "${toks[@]}"; do
			case $tok in
			bench=*) b=${tok#bench=} ;;
			impl=*) i=${tok#impl=} ;;
			value=*) v=${tok#value=} ;;
			unit=*) u=${tok#unit=} ;;
			n=*) n=${tok#n=}; extra+=" $tok" ;;
			mode=*) m=" $tok" ;;
			*) extra+=" $tok" ;;
			esac
		done
		if [[ -z $b || -z $i || -z $u ]] ||
			! [[ $v =~ ^[-+]?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$ ]]; then
			echo "# warn bench=${JOB_BENCH[j]} impl=${JOB_IMPL[j]}: malformed result: $line"
			continue
		fi
		b+=$m # "pingpong mode=local": a mode is a bench of its own
		key="$b|$i|$n"
		if [[ -z ${UNIT[$key]+set} ]]; then
			KEYS+=("$key")
			VALUES[$key]=
		fi
		VALUES[$key]+=" $v"
		UNIT[$key]=$u
		EXTRA[$key]=$extra # keys of the last run win
		[[ ${JOB_IMPL[j]} == weft || ${JOB_IMPL[j]} == weft-* ]] &&
			IS_WEFT[$key]=1
		((ACCEPTED++))
	done <<<"$out"
}

# run_bench NAME: RUNS rounds over the bench's binaries, alternating, then
# report the medians and ratios.
run_bench() {
	local name=$1 j round path out rc why
	local -a jobs=() argv=() skips=()
	local -A live=()

	VALUES=() UNIT=() EXTRA=() IS_WEFT=() KEYS=()

	for j in "${!JOB_BENCH[@]}"; do
		[[ ${JOB_BENCH[j]} == "$name" ]] || continue
		jobs+=("$j")
		path=$BUILD_DIR/bench/${JOB_BIN[j]}
		if [[ -f $path && -x $path ]]; then
			live[$j]=1
		elif [[ ${JOB_IMPL[j]} == weft ]]; then
			echo "# error bench=$name impl=weft: $path not built"
			FAILED=1
		elif [[ " ${skips[*]-} " != *" ${JOB_IMPL[j]} "* ]]; then
			skips+=("${JOB_IMPL[j]}")
			echo "# skip bench=$name impl=${JOB_IMPL[j]}: not built (missing toolchain/library)"
		fi
	done

	for ((round = 1; round <= RUNS; round++)); do
		for j in "${jobs[@]}"; do
			[[ -n ${live[$j]-} ]] || continue
			path=$BUILD_DIR/bench/${JOB_BIN[j]}
			read -r -a argv <<<"${JOB_ARGS[j]}"
			if [[ -n ${DRIVER[$name]-} ]]; then
				argv=("$BUILD_DIR" "${JOB_BIN[j]}" "${argv[@]}")
				path=$BENCH_SRC/${DRIVER[$name]}
			fi
			out=$("${TIMEOUT_CMD[@]}" "$path" "${argv[@]}")
			rc=$?
			ACCEPTED=0 SKIPPED=0
			((rc == 0)) && parse_output "$j" "$round" "$out"
			((rc == 0 && ACCEPTED > 0)) && continue
			if ((rc == 0 && SKIPPED)); then
				unset "live[$j]" # cannot run here; it said why
				continue
			fi

			# failed: drop this binary for the remaining rounds
			unset "live[$j]"
			why="exit status $rc"
			((rc == 124 || rc == 137)) && why="timed out after ${TIMEOUT}s (exit status $rc)"
			((rc == 0)) && why="no result line"
			if [[ ${JOB_IMPL[j]} == weft ]]; then
				echo "# error bench=$name impl=weft: ${JOB_BIN[j]}${JOB_ARGS[j]:+ ${JOB_ARGS[j]}}: $why (run $round)"
				FAILED=1
			else
				echo "# fail bench=$name impl=${JOB_IMPL[j]}: ${JOB_BIN[j]}${JOB_ARGS[j]:+ ${JOB_ARGS[j]}}: $why (run $round); dropped"
			fi
		done
	done

	report_bench "$name" "${skips[@]}"
}

# report_bench NAME [SKIPPED_PEER...]: medians, then weft/peer ratios.
report_bench() {
	local name=$1 key b i n runs pk wk best bestd d wn r nkeys tn note
	local -a vals=() wkeys=() pkeys=() wimpls=()
	local -A med=() used=()
	shift

	for key in "${KEYS[@]}"; do
		IFS='|' read -r b i n <<<"$key"
		read -r -a vals <<<"${VALUES[$key]}"
		runs=${#vals[@]}
		med[$key]=$(median "${vals[@]}")
		echo "bench=$b impl=$i value=${med[$key]} unit=${UNIT[$key]} runs=$runs${EXTRA[$key]}"
		if [[ -n ${IS_WEFT[$key]-} ]]; then
			wkeys+=("$key")
			[[ " ${wimpls[*]-} " == *" $i "* ]] || wimpls+=("$i")
		else
			pkeys+=("$key")
		fi
	done

	# Each peer result against each weft impl (normally just "weft") of the
	# same bench=: the same n= if there is one; otherwise, for a sized bench
	# the nearest n=, else the first.
	local sized=0
	[[ " $SIZED_BENCHES " == *" $name "* ]] && sized=1
	for pk in "${pkeys[@]}"; do
		IFS='|' read -r b i n <<<"$pk"
		local compared=0 wi tn=-
		((sized)) && tn=${n:--}
		for wi in "${wimpls[@]}"; do
			best='' bestd=''
			for wk in "${wkeys[@]}"; do
				[[ $wk == "$b|$wi|"* ]] || continue
				wn=${wk##*|}
				if [[ $wn == "$n" ]]; then best=$wk; break; fi
				[[ -z $best ]] && best=$wk
				((sized)) || continue
				[[ $wn =~ ^[0-9]+$ && $n =~ ^[0-9]+$ ]] || continue
				d=$((wn > n ? wn - n : n - wn))
				if [[ -z $bestd ]] || ((d < bestd)); then best=$wk bestd=$d; fi
			done
			[[ -n $best ]] || continue
			# A weft variant (weft-epoll, ...) only at its own n=.
			[[ $wi != weft && ${best##*|} != "$n" ]] && continue
			compared=1 used[$best]=1
			wn=${best##*|}
			nkeys=''
			if ((sized)); then
				[[ -n $n ]] && nkeys=" n=$n"
				[[ $wn != "$n" ]] && nkeys+=" weft_n=${wn:-none}"
			fi
			[[ ${UNIT[$best]} == "${UNIT[$pk]}" ]] ||
				echo "# warn bench=$b impl=$wi/$i: units differ (${UNIT[$best]} vs ${UNIT[$pk]})"
			r=$(ratio "${med[$best]}" "${med[$pk]}")
			if [[ -n $r ]]; then
				echo "bench=$b impl=$wi/$i value=$r unit=ratio$nkeys"
			else
				echo "# warn bench=$b impl=$wi/$i: peer value is 0, no ratio"
				r=-
			fi
			note=''
			[[ $wn != "$n" ]] && ((sized)) && note="weft n=${wn:-none}"
			SUMMARY+=("$b|$tn|${med[$best]}|$wi|$i|${med[$pk]}|${UNIT[$pk]}|$r|$note")
		done
		((compared)) || SUMMARY+=("$b|$tn|-|-|$i|${med[$pk]}|${UNIT[$pk]}|-")
	done
	for wk in "${wkeys[@]}"; do
		[[ -n ${used[$wk]-} ]] && continue
		IFS='|' read -r b i n <<<"$wk"
		tn=-
		((sized)) && tn=${n:--}
		SUMMARY+=("$b|$tn|${med[$wk]}|$i|-|-|${UNIT[$wk]}|-")
	done
	for i in "$@"; do
		SUMMARY+=("$name|-|-|-|$i|not built|-|-")
	done
}

# table_row BENCH N WEFT_IMPL WEFT PEER PEER_VALUE UNIT RATIO [NOTE]
table_row() {
	printf '# %-21s %-8s %-10s %10s  %-14s %10s  %-16s %9s%s\n' "$1" "$2" "$3" \
		"$4" "$5" "$6" "$7" "$8" "${9:+  ($9)}"
}

# target_note BENCH UNIT WEFT_VALUE NOTE -> NOTE, plus how weft's value
# stands against BENCH's target, if it has one in that unit.
target_note() {
	local t_bench t_unit t_max
	while read -r t_bench t_unit t_max; do
		[[ $t_bench == "$1" && $t_unit == "$2" && $3 != - ]] || continue
		awk -v v="$3" -v max="$t_max" -v note="$4" 'BEGIN {
			t = "target <= " max ((v + 0 <= max + 0) ? ": met" : ": MISSED")
			print (note == "" ? t : note ", " t)
		}'
		return
	done <<<"$BENCH_TARGETS"
	echo "$4"
}

print_table() {
	local row b n wv wi pi pv u r note
	echo "#"
	echo "# summary: median of $RUNS run(s); weft/peer < 1 means weft is cheaper"
	table_row bench n weft value peer value unit weft/peer
	table_row --------------------- -------- ---------- ---------- -------------- ---------- ---------------- ---------
	for row in "${SUMMARY[@]}"; do
		IFS='|' read -r b n wv wi pi pv u r note <<<"$row"
		b=${b/ mode=//}
		note=$(target_note "$b" "$u" "$wv" "$note")
		table_row "$b" "$n" "$wi" "$wv" "$pi" "$pv" "$u" "$r" "$note"
	done
}

# ---- main ------------------------------------------------------------------
print_env
for bench in "${BENCHES[@]}"; do
	[[ -z $ONLY || $bench == "$ONLY" ]] || continue
	[[ $bench == handoff || $bench == echo || $bench == preload_echo ]] &&
		mount_tracefs
	run_bench "$bench"
done
((TABLE)) && print_table
if ((FAILED)); then
	echo "# FAILED: a weft benchmark binary is missing or failed" >&2
	exit 1
fi
exit 0
