#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/echo.sh - one run of the echo benchmark: a server and its client.
#
# usage: bench/echo.sh BUILD_DIR SERVER CONNS SECONDS [MSG_BYTES] [VAR=VALUE]...
#
#   SERVER   the server binary, relative to BUILD_DIR/bench (echo_server,
#            peers/echo_epoll, ...), or an impl name: weft (echo_server),
#            epoll, threads, go (peers/echo_IMPL)
#   VAR=VALUE  put in the server's environment (WEFT_BACKEND=epoll, ...);
#            IMPL=name labels the result lines instead (weft-epoll, ...)
#
# Starts the server on a free port ("SERVER 0" must print
# "listening port=P pid=N" first), checks that it echoes a byte, runs
# BUILD_DIR/bench/echo_client against it with its pid (so the client
# measures the server's CPU time and syscalls too), then kills the server.
# Prints the client's lines; its own start with '#'. impl= is weft for
# echo_server and IMPL for peers/echo_IMPL. Exit status: the client's, or 1
# if the server did not come up.
#
# bench/run.sh runs it for the rows of bench "echo" (BENCH_DRIVERS).

set -u

PROG=${0##*/}
usage() {
	echo "usage: $PROG BUILD_DIR SERVER|IMPL CONNS SECONDS [MSG_BYTES] [VAR=VALUE]..." >&2
	exit 2
}
(($# >= 4)) || usage
BUILD_DIR=$1 SERVER=$2 CONNS=$3 SECS=$4 MSG=64
shift 4
if (($#)) && [[ $1 =~ ^[0-9]+$ ]]; then
	MSG=$1
	shift
fi
label='' env=()
for a; do
	[[ $a =~ ^[A-Z_][A-Z0-9_]*= ]] || usage
	case $a in
	IMPL=*) label=${a#IMPL=} ;;
	*) env+=("$a") ;;
	esac
done

case $SERVER in
*/* | echo_*) ;;
weft) SERVER=echo_server ;;
*) SERVER=peers/echo_$SERVER ;;
esac
IMPL=${SERVER##*/}
IMPL=${IMPL#echo_}
[[ $IMPL == server ]] && IMPL=weft
[[ -n $label ]] && IMPL=$label
server=$BUILD_DIR/bench/$SERVER
client=$BUILD_DIR/bench/echo_client
for f in "$server" "$client"; do
	[[ -x $f ]] || { echo "$PROG: $f: not built" >&2; exit 1; }
done

# The server is a coprocess: its first line says where it listens. The
# client runs in the background, so that a TERM (run.sh's timeout) is
# handled at once and takes both down.
srv_pid='' cli_pid=''
stop() {
	local p
	for p in $cli_pid $srv_pid; do
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	cli_pid='' srv_pid=''
}
trap stop EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

coproc SRV { exec env "${env[@]}" "$server" 0; }
# shellcheck disable=SC2153 # SRV_PID: set by coproc SRV
srv_pid=$SRV_PID
line=
read -r -t 10 -u "${SRV[0]}" line
if [[ ! $line =~ ^listening\ port=([0-9]+)\ pid=([0-9]+) ]]; then
	echo "# echo impl=$IMPL: $SERVER did not start: ${line:-no output in 10 s}" >&2
	exit 1
fi
port=${BASH_REMATCH[1]} pid=${BASH_REMATCH[2]}

# Up means serving: one byte goes there and back.
if ! exec {probe}<>"/dev/tcp/127.0.0.1/$port"; then
	echo "# echo impl=$IMPL: cannot connect to port $port" >&2
	exit 1
fi
printf x >&"$probe"
reply=
read -r -t 10 -n 1 -u "$probe" reply
exec {probe}>&-
if [[ $reply != x ]]; then
	echo "# echo impl=$IMPL: $SERVER accepts but does not echo" >&2
	exit 1
fi

"$client" -p "$pid" "$port" "$CONNS" "$SECS" "$MSG" "$IMPL" &
cli_pid=$!
wait "$cli_pid"
rc=$?
cli_pid=''
stop
exit $rc
