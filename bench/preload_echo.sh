#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/preload_echo.sh - one run of the preload_echo benchmark: a plain
# server, natively or under tools/weft-run, and the echo client.
#
# usage: bench/preload_echo.sh BUILD_DIR SERVER CONNS SECONDS [MSG_BYTES]
#                              [VAR=VALUE]...
#
#   SERVER     the server binary, relative to BUILD_DIR/bench
#              (preload_echo_server); it must know nothing of weft
#   IMPL=native    run it as it is (the default)
#   IMPL=weft-run  run it as "BUILD_DIR/tools/weft-run SERVER 0"; any
#              IMPL=weft-run-SUFFIX does too, labelled so (a variant)
#   VAR=VALUE  put in the server's environment (WEFT_WORKERS=2, ...)
#
# As bench/echo.sh, but BUILD_DIR/bench/echo_client runs with -m, so that
# besides req/s, CPU and syscalls per request it reports the server's peak
# RSS, peak thread count and the growth of KernelStack (counted from
# before the server started, so its own threads count too), as bench=
# preload_echo, preload_echo_cpu, _syscalls, _rss, _threads, _kstack and
# _mem (rss + kstack). The pid measured is the one the server prints, the
# program itself whatever weft-run does to start it. Without weft-run
# built, the weft-run rows print a '# skip' line and exit 0. Exit status:
# the client's, or 1 if the server did not come up.
#
# bench/run.sh runs it for the rows of bench "preload_echo" (BENCH_DRIVERS).

set -u

PROG=${0##*/}
usage() {
	echo "usage: $PROG BUILD_DIR SERVER CONNS SECONDS [MSG_BYTES] [VAR=VALUE]..." >&2
	exit 2
}
(($# >= 4)) || usage
BUILD_DIR=$1 SERVER=$2 CONNS=$3 SECS=$4 MSG=64
shift 4
if (($#)) && [[ $1 =~ ^[0-9]+$ ]]; then
	MSG=$1
	shift
fi
IMPL=native env=()
for a; do
	[[ $a =~ ^[A-Z_][A-Z0-9_]*= ]] || usage
	case $a in
	IMPL=*) IMPL=${a#IMPL=} ;;
	*) env+=("$a") ;;
	esac
done

server=$BUILD_DIR/bench/$SERVER
client=$BUILD_DIR/bench/echo_client
wrap=()
if [[ $IMPL == weft-run || $IMPL == weft-run-* ]]; then
	wrap=("$BUILD_DIR/tools/weft-run")
	if [[ ! -x ${wrap[0]} ]]; then
		echo "# skip bench=preload_echo impl=$IMPL conns=$CONNS: ${wrap[0]} not built"
		exit 0
	fi
fi
for f in "$server" "$client"; do
	[[ -x $f ]] || { echo "$PROG: $f: not built" >&2; exit 1; }
done

kstack_kib() {
	local k v _
	while read -r k v _; do
		[[ $k == KernelStack: ]] && { echo "$v"; return; }
	done </proc/meminfo
	echo -1
}

# The coprocess is weft-run or the server; pid is the server the client
# measures. Both are stopped, the server first.
srv_pid='' cli_pid='' pid=''
stop() {
	local p
	for p in $cli_pid $pid $srv_pid; do
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	cli_pid='' srv_pid='' pid=''
}
trap stop EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

kstack0=$(kstack_kib)
coproc SRV { exec env "${env[@]}" "${wrap[@]}" "$server" 0; }
# shellcheck disable=SC2153 # SRV_PID: set by coproc SRV
srv_pid=$SRV_PID
line=
read -r -t 10 -u "${SRV[0]}" line
if [[ ! $line =~ ^listening\ port=([0-9]+)\ pid=([0-9]+) ]]; then
	echo "# preload_echo impl=$IMPL: $SERVER did not start: ${line:-no output in 10 s}" >&2
	exit 1
fi
port=${BASH_REMATCH[1]} pid=${BASH_REMATCH[2]}

# Up means serving: one byte goes there and back.
if ! exec {probe}<>"/dev/tcp/127.0.0.1/$port"; then
	echo "# preload_echo impl=$IMPL: cannot connect to port $port" >&2
	exit 1
fi
printf x >&"$probe"
reply=
read -r -t 10 -n 1 -u "$probe" reply
exec {probe}>&-
if [[ $reply != x ]]; then
	echo "# preload_echo impl=$IMPL: $SERVER accepts but does not echo" >&2
	exit 1
fi

"$client" -p "$pid" -m -k "$kstack0" -b preload_echo \
	"$port" "$CONNS" "$SECS" "$MSG" "$IMPL" &
cli_pid=$!
wait "$cli_pid"
rc=$?
cli_pid=''
stop
exit $rc
