#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/demo.sh BUILD_DIR [CONNS] [SECONDS] - weft's headline in a minute.
#
# One echo workload (bench/echo_client: CONNS connections, 64-byte
# messages, closed loop) against three servers, one after the other:
#   1. an unmodified OS-thread-per-connection server (no weft code in it),
#   2. the same binary under weft-run (its threads become fibers),
#   3. weft's native echo server.
# Prints one table (req/s, server peak RSS, server OS threads, system calls
# per request, server CPU per request) and draws it with gnuplot into
# BUILD_DIR/demo.svg and BUILD_DIR/demo.png. Progress goes to stderr.
# Syscalls are counted through tracefs (mounted here when root); without
# it that column says "-".

set -u
BUILD_DIR=${1:-build} CONNS=${2:-1000} SECS=${3:-4}
B=$BUILD_DIR/bench
server=$B/preload_echo_server
[[ -x $server ]] || server=$B/peers/echo_threads
run=$BUILD_DIR/tools/weft-run
for f in "$server" "$run" "$B/echo_server" "$B/echo_client"; do
	[[ -x $f ]] || { echo "demo: $f: not built (make bench-build)" >&2; exit 1; }
done
# Each side holds CONNS fds.
(( $(ulimit -Hn) >= CONNS + 64 )) || {
	echo "demo: RLIMIT_NOFILE hard limit $(ulimit -Hn) < $((CONNS + 64))" >&2
	exit 1
}
ulimit -n "$(ulimit -Hn)"
if [[ ! -d /sys/kernel/tracing/events && $(id -u) == 0 ]]; then
	mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
fi

tmp=$(mktemp -d)
srv=''
cleanup() { [[ -n $srv ]] && kill "$srv" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

# measure LABEL CMD...: one run; appends "label|req/s|rss KiB|threads|
# syscalls/req|cpu us/req" to $tmp/rows.
measure() {
	local label=$1 line port pid peak=0 t hwm=0 out
	shift
	printf '  %-34s' "$label..." >&2
	coproc SRV { exec "$@" 0; }
	srv=$SRV_PID
	read -r -t 10 -u "${SRV[0]}" line
	if [[ ! $line =~ port=([0-9]+)\ pid=([0-9]+) ]]; then
		echo " did not start" >&2
		return 1
	fi
	port=${BASH_REMATCH[1]} pid=${BASH_REMATCH[2]}
	# Peak threads, sampled; peak RSS from the kernel (VmHWM).
	(
		while kill -0 "$pid" 2>/dev/null; do
			awk '/^Threads:/ { print $2 }' "/proc/$pid/status" \
				2>/dev/null
			sleep 0.1
		done
	) >"$tmp/threads" &
	out=$("$B/echo_client" -p "$pid" "$port" "$CONNS" "$SECS" 64 demo \
		2>/dev/null | grep '^bench=echo ')
	hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
	kill "$srv" 2>/dev/null
	wait "$srv" 2>/dev/null
	srv=''
	wait
	for t in $(cat "$tmp/threads"); do ((t > peak)) && peak=$t; done
	local rps=${out#*value=} sys=${out#*syscalls_per_req=} \
		cpu=${out#*cpu_us_per_req=}
	rps=${rps%% *} sys=${sys%% *} cpu=${cpu%% *}
	[[ $out == *syscalls_per_req=* ]] || sys=-
	if [[ -z $out ]]; then
		echo " no result" >&2
		return 1
	fi
	printf ' %8s req/s\n' "$rps" >&2
	echo "$label|$rps|${hwm:-0}|$peak|$sys|$cpu" >>"$tmp/rows"
}

echo "weft demo: echo, $CONNS connections, ${SECS}s each, $(nproc) CPUs" >&2
measure "thread per connection, native" "$server"
measure "the same binary under weft-run" "$run" "$server"
measure "weft native server" "$B/echo_server"

echo
printf '%-32s %10s %10s %10s %13s %12s\n' server req/s "peak RSS" \
	"OS threads" "syscalls/req" "CPU us/req"
while IFS='|' read -r label rps rss thr sys cpu; do
	printf '%-32s %10s %7.1f MiB %10s %13s %12s\n' "$label" "$rps" \
		"$(echo "$rss" | awk '{ print $1 / 1024 }')" "$thr" "$sys" "$cpu"
done <"$tmp/rows"
echo

if command -v gnuplot >/dev/null; then
	# Short names under the bars, in the order measured.
	awk -F'|' 'BEGIN { split("native|weft-run|weft", n, "|") }
		{ printf "\"%s\" %s %s %s\n", n[NR], $2, $3 / 1024, $4 }' \
		"$tmp/rows" >"$tmp/data"
	for term in svg png; do
		case $term in
		svg) set_term="set terminal svg size 960,420 font 'sans,11'" ;;
		png) set_term="set terminal png size 960,420" ;;
		esac
		gnuplot <<-EOF 2>/dev/null
		$set_term
		set output '$BUILD_DIR/demo.$term'
		set multiplot layout 1,3 title "echo, $CONNS connections, $(nproc) CPUs"
		set style data histograms
		set style fill solid 0.8 border -1
		set boxwidth 0.7
		set xtics font ',10'
		unset key
		set yrange [0:*]
		set title 'requests/s (higher is better)'
		plot '$tmp/data' using 2:xtic(1) lc rgb '#3b7dd8'
		set title 'server peak RSS, MiB'
		plot '$tmp/data' using 3:xtic(1) lc rgb '#d8843b'
		set title 'server OS threads'
		set logscale y
		set yrange [1:*]
		plot '$tmp/data' using 4:xtic(1) lc rgb '#5aa05a'
		unset multiplot
		EOF
	done
	echo "plots: $BUILD_DIR/demo.svg $BUILD_DIR/demo.png"
else
	echo "(no gnuplot: apt-get install gnuplot-nox for the plots)"
fi
