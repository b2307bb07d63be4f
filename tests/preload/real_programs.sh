#!/bin/bash
# SPDX-License-Identifier: MIT
#
# real_programs.sh - unmodified programs from Debian's packages, run
# natively and under tools/weft-run (M:N: pthread_create makes a fiber,
# blocking calls park it): each must give the same bytes both ways.
#
#   pthread-heavy tools   xz -T4, zstd -T4, pigz -p 4: compress a file
#                         (the same bytes as natively) and decompress it
#   thread per connection microsocks (a SOCKS5 server in C) and python3's
#                         http.server (ThreadingHTTPServer): a 3 MB file
#                         through each, then 1000 connections held open
#                         at once, each served (natively 1000 threads),
#                         while the OS threads stay <= workers + 6
#   epoll                 memcached (libevent, 4 worker threads) and
#                         redis-server (its own epoll loop): a scripted
#                         session each, the same replies byte for byte
#
# The programs are Debian's, run from /usr/bin; this script installs
# nothing. The packages, for .ci/run to install (a test whose program is
# missing skips and names its package):
#
# apt: xz-utils zstd pigz microsocks python3 curl memcached redis-server
#
# Servers listen on 127.0.0.1 only, on free ports; the clients are bash's
# /dev/tcp and curl, run natively. Under weft-run the program gets
# WEFT_WORKERS=2 (or the caller's), so the bound on its OS threads is the
# same on every machine: the workers, the offload pool's 4 threads, the
# main thread and one more.
#
# Environment: WEFT_O the build directory (default build), where
# tools/weft-run and lib/libweft-preload.so are; WEFT_WORKERS.
#
# TAP 13 on stdout; exit 0 pass, 1 fail, 4 skip (weft-run not built).

# The test bodies are functions run through check(), unseen by shellcheck.
# shellcheck disable=SC2317
set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
O=${WEFT_O:-build}
[[ $O == /* ]] || O=$root/$O
weft_run=$O/tools/weft-run
export WEFT_WORKERS=${WEFT_WORKERS:-2}
threads_max=$((WEFT_WORKERS + 6))
conns=1000
plan=7

echo "TAP version 13"
if [[ ! -x $weft_run ]]; then
	echo "1..0 # SKIP $weft_run not built (make)"
	exit 4
fi
echo "1..$plan"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-real.XXXXXX") || exit 1
log=$tmp/log
num=0 pass=0 fail=0 skip=0
srv='' # the server running now, stopped on exit

cleanup() {
	stop_server
	rm -rf "$tmp"
}
trap cleanup EXIT

ok() {
	num=$((num + 1))
	pass=$((pass + 1))
	echo "ok $num $1"
}

not_ok() {
	num=$((num + 1))
	fail=$((fail + 1))
	echo "not ok $num $1"
	[[ -s $log ]] && sed 's/^/# /' "$log" | head -n 40
}

skipped() {
	num=$((num + 1))
	skip=$((skip + 1))
	echo "ok $num $1 # SKIP $2"
}

# check NAME CMD...: one test, CMD's output as diagnostics (all of it
# when it fails, a summary of a few lines when it passes).
check() {
	local name=$1
	shift
	if "$@" >"$log" 2>&1; then
		ok "$name"
		sed 's/^/# /' "$log" | head -n 4
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

# missing PROGRAM:PACKAGE...: the first that is not in /usr/bin, as a skip
# reason; nothing when all are there.
missing() {
	local a
	for a; do
		[[ -x /usr/bin/${a%%:*} ]] && continue
		echo "/usr/bin/${a%%:*} not installed (apt-get install ${a#*:})"
		return
	done
}

# test_with NAME FN PROGRAM:PACKAGE...: check NAME FN, or skip it.
test_with() {
	local name=$1 fn=$2 why
	shift 2
	why=$(missing "$@")
	if [[ -n $why ]]; then
		skipped "$name" "$why"
		return
	fi
	check "$name" "$fn"
}

# ---- pthread-heavy tools ---------------------------------------------------

# A file worth four threads: 6.9 MB of text, the same on every machine.
input=$tmp/input
seq 1 1000000 >"$input"

# both CMD...: run CMD natively and under weft-run, stdout to $tmp/native
# and $tmp/weft; pass if both exit 0 with the same bytes.
both() {
	timeout -k 5 120 "$@" >"$tmp/native" ||
		{ echo "natively: $* failed ($?)"; return 1; }
	timeout -k 5 120 "$weft_run" "$@" >"$tmp/weft" ||
		{ echo "under weft-run: $* failed ($?)"; return 1; }
	cmp "$tmp/native" "$tmp/weft" ||
		{ echo "$*: output differs under weft-run"; return 1; }
}

# compressor NAME COMPRESS... -- DECOMPRESS...: the same compressed bytes
# both ways, and the input back from them under weft-run.
compressor() {
	local -a c=() d=()
	while [[ $1 != -- ]]; do
		c+=("$1")
		shift
	done
	shift
	d=("$@")
	both "${c[@]}" "$input" || return 1
	cp "$tmp/native" "$tmp/packed"
	both "${d[@]}" "$tmp/packed" || return 1
	cmp "$tmp/weft" "$input" || { echo "${d[*]}: not the input"; return 1; }
	echo "$(wc -c <"$tmp/packed") bytes compressed, same both ways"
}

xz_t4() {
	compressor /usr/bin/xz -T4 -3 --block-size=1MiB -c -- \
		/usr/bin/xz -T4 -d -c
}
zstd_t4() {
	compressor /usr/bin/zstd -q -T4 -3 -B1048576 -c -- \
		/usr/bin/zstd -q -T4 -d -c
}
pigz_p4() {
	compressor /usr/bin/pigz -p 4 -n -c -- /usr/bin/pigz -p 4 -d -c
}

test_with "xz -T4: compresses and decompresses the same bytes under weft-run" \
	xz_t4 xz:xz-utils
test_with "zstd -T4: compresses and decompresses the same bytes under weft-run" \
	zstd_t4 zstd:zstd
test_with "pigz -p 4: compresses and decompresses the same bytes under weft-run" \
	pigz_p4 pigz:pigz

# ---- servers -----------------------------------------------------------------

# A port nobody listens on (in /proc/net/tcp*, hex): from a range that
# moves with our pid, so that parallel runs rarely meet.
free_port() {
	local used p i
	used=$(awk 'NR > 1 { split($2, a, ":"); print a[2] }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null)
	for ((i = 0; i < 1000; i++)); do
		p=$((20000 + ($$ * 7 + RANDOM + i) % 40000))
		grep -qi "^$(printf '%04X' "$p")\$" <<<"$used" || { echo "$p"; return; }
	done
	return 1
}

# start_server WRAP PORT CMD...: CMD in the background (WRAP weft-run:
# under weft-run; native: as is); returns once PORT accepts connections,
# with the server's pid in $srv (weft-run execs it). Fails if it exits or
# does not listen within 20 s.
start_server() {
	local wrap=$1 port=$2 i fd
	shift 2
	if [[ $wrap == weft-run ]]; then
		"$weft_run" "$@" >>"$tmp/server.log" 2>&1 &
	else
		"$@" >>"$tmp/server.log" 2>&1 &
	fi
	srv=$!
	for ((i = 0; i < 400; i++)); do
		if ! kill -0 "$srv" 2>/dev/null; then
			echo "$wrap: $1 exited:"
			cat "$tmp/server.log"
			srv=''
			return 1
		fi
		if exec {fd}<>"/dev/tcp/127.0.0.1/$port"; then
			exec {fd}>&-
			return 0
		fi 2>/dev/null
		sleep 0.05
	done
	echo "$wrap: $1 does not listen on $port after 20 s"
	stop_server
	return 1
}

# Stop the server; fail if it died of anything but our TERM.
stop_server() {
	local rc i
	[[ -n $srv ]] || return 0
	if ! kill -0 "$srv" 2>/dev/null; then
		wait "$srv"
		rc=$?
		srv=''
		echo "the server exited early (status $rc):"
		cat "$tmp/server.log"
		return 1
	fi
	kill -TERM "$srv" 2>/dev/null
	# A server stuck in its crash handler must not hang the suite.
	for ((i = 0; i < 200; i++)); do
		kill -0 "$srv" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$srv" 2>/dev/null; then
		kill -KILL "$srv" 2>/dev/null
		wait "$srv" 2>/dev/null
		srv=''
		echo "the server did not exit on SIGTERM within 10 s:"
		tail -n 40 "$tmp/server.log"
		return 1
	fi
	wait "$srv" 2>/dev/null
	srv=''
	return 0
}

threads_of() {
	local k v
	while read -r k v; do
		[[ $k == Threads: ]] && { echo "$v"; return; }
	done <"/proc/$1/status"
	echo -1
}

# hold HOW PORT: open $conns connections to PORT and have each served:
# HOW sends its request on a connection and reads the first reply line or
# byte (hold_socks, hold_http). One at a time, so that a short listen
# backlog (python's is 5) never overflows into SYN retries. They stay open
# in $held until release.
held=()
hold() {
	local how=$1 port=$2 i fd
	held=()
	for ((i = 1; i <= conns; i++)); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$port" ||
			{ echo "connection $i of $conns refused"; return 1; }
		held+=("$fd")
		"$how" send "$fd"
		"$how" recv "$fd" ||
			{ echo "connection $i of $conns not served"; return 1; }
	done
}

release() {
	local fd
	for fd in "${held[@]}"; do
		exec {fd}>&-
	done
	held=()
}

# SOCKS5 greeting, no authentication: the reply's first byte is 5.
hold_socks() {
	local b
	if [[ $1 == send ]]; then
		printf '\x05\x01\x00' >&"$2"
		return
	fi
	read -r -t 20 -N 1 -u "$2" b && [[ $b == $'\x05' ]]
}

# One keep-alive request; the thread then waits for the next one.
hold_http() {
	local line
	if [[ $1 == send ]]; then
		printf 'GET /small HTTP/1.1\r\nHost: localhost\r\n\r\n' >&"$2"
		return
	fi
	read -r -t 20 -u "$2" line && [[ $line == 'HTTP/1.1 200 '* ]]
}

# load WRAP HOW PORT: hold $conns connections, print the server's threads.
load() {
	local n
	hold "$2" "$3" || { release; return 1; }
	n=$(threads_of "$srv")
	release
	echo "$1: $conns connections served by $n OS threads"
	if [[ $1 == weft-run ]] && ((n > threads_max)); then
		echo "more than WEFT_WORKERS + 6 = $threads_max"
		return 1
	fi
	if [[ $1 == native ]] && ((n < conns)); then
		echo "natively fewer than $conns threads: not a thread per connection?"
		return 1
	fi
}

www=$tmp/www
mkdir -p "$www/dir"
head -c 3000000 /dev/urandom >"$www/blob"
echo hello >"$www/small"
touch "$www/dir/a" "$www/dir/b"

# The HTTP server stays native while microsocks is tested.
http_port=''
http_pid=''
start_http() {
	local save=$srv
	http_port=$(free_port) || return 1
	start_server native "$http_port" /usr/bin/python3 -m http.server \
		-b 127.0.0.1 -d "$www" "$http_port" || return 1
	http_pid=$srv srv=$save
}
stop_http() {
	[[ -n $http_pid ]] && kill -TERM "$http_pid" && wait "$http_pid"
	http_pid=''
	return 0
}

# get URL [curl options]: the body of URL, to stdout.
get() {
	/usr/bin/curl -sS --fail --max-time 30 "$@"
}

# microsocks WRAP: a file through the proxy, then the load.
socks_once() {
	local port
	port=$(free_port) || return 1
	start_server "$1" "$port" /usr/bin/microsocks -i 127.0.0.1 -p "$port" ||
		return 1
	get --socks5 "127.0.0.1:$port" "http://127.0.0.1:$http_port/blob" \
		>"$tmp/socks.$1" || { stop_server; return 1; }
	cmp "$tmp/socks.$1" "$www/blob" || { stop_server; return 1; }
	load "$1" hold_socks "$port" || { stop_server; return 1; }
	# still serving after the load
	get --socks5 "127.0.0.1:$port" "http://127.0.0.1:$http_port/small" |
		cmp - "$www/small" || { stop_server; return 1; }
	stop_server
}

socks() {
	start_http || return 1
	socks_once native && socks_once weft-run
	local rc=$?
	stop_http
	return "$rc"
}

# python3 -m http.server WRAP: the file and a listing, then the load.
http_once() {
	local port
	port=$(free_port) || return 1
	start_server "$1" "$port" /usr/bin/python3 -m http.server \
		-p HTTP/1.1 -b 127.0.0.1 -d "$www" "$port" || return 1
	{ get "http://127.0.0.1:$port/blob" | cmp - "$www/blob" &&
	  get "http://127.0.0.1:$port/dir/" >"$tmp/listing.$1" &&
	  load "$1" hold_http "$port"; } || { stop_server; return 1; }
	stop_server
}

http() {
	http_once native && http_once weft-run &&
		cmp "$tmp/listing.native" "$tmp/listing.weft-run"
}

ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
if (($(ulimit -n) < conns + 64)); then
	for t in "microsocks: a thread per connection" \
		 "python3 -m http.server: a thread per connection"; do
		skipped "$t" "RLIMIT_NOFILE is $(ulimit -n), need $((conns + 64))"
	done
else
	test_with "microsocks: a file through it, $conns connections on <= $threads_max OS threads under weft-run" \
		socks microsocks:microsocks python3:python3 curl:curl
	test_with "python3 -m http.server: a file, a listing, $conns connections on <= $threads_max OS threads under weft-run" \
		http python3:python3 curl:curl
fi

# ---- epoll programs ------------------------------------------------------------

# session WRAP PORT SCRIPT OUT CMD...: start CMD, send SCRIPT on one
# connection from each of 4 clients at once (each its own key prefix,
# after which the server closes), their replies to OUT.N.
session() {
	local wrap=$1 port=$2 script=$3 out=$4 c fd
	local -a pids=()
	shift 4
	start_server "$wrap" "$port" "$@" || return 1
	for c in 1 2 3 4; do
		(
			exec {fd}<>"/dev/tcp/127.0.0.1/$port" || exit 1
			sed "s/@/c$c/g" "$script" >&"$fd"
			timeout 30 cat <&"$fd" >"$out.$c"
		) &
		pids+=($!)
	done
	for c in "${pids[@]}"; do
		wait "$c" || { echo "$wrap: a client failed"; stop_server; return 1; }
	done
	stop_server
}

# compare_sessions NAME: the four replies, native against weft-run.
compare_sessions() {
	local c
	for c in 1 2 3 4; do
		[[ -s $tmp/$1.native.$c ]] || { echo "no reply natively"; return 1; }
		cmp "$tmp/$1.native.$c" "$tmp/$1.weft-run.$c" || return 1
	done
	echo "$(wc -c <"$tmp/$1.native.1") bytes of replies per client, same both ways"
}

memcached_script() {
	local i
	for ((i = 0; i < 200; i++)); do
		printf 'set @k%d 0 0 %d\r\nvalue-%s\r\n' "$i" $((6 + ${#i})) "$i"
	done
	for ((i = 0; i < 200; i += 3)); do
		printf 'get @k%d @k%d\r\nappend @k%d 0 0 1\r\n!\r\n' \
			"$i" $((i + 1)) "$i"
	done
	printf 'set @n 0 0 1\r\n5\r\nincr @n 37\r\ndecr @n 2\r\n'
	printf 'delete @k7\r\nget @k7 @k8 @n\r\nadd @k8 0 0 1\r\nx\r\nquit\r\n'
}

memcached() {
	local w port
	memcached_script >"$tmp/mc.script"
	for w in native weft-run; do
		port=$(free_port) || return 1
		session "$w" "$port" "$tmp/mc.script" "$tmp/mc.$w" \
			/usr/bin/memcached -l 127.0.0.1 -p "$port" -U 0 -t 4 \
			-u "$(id -un)" || return 1
	done
	compare_sessions mc
}

redis_script() {
	local i
	for ((i = 0; i < 200; i++)); do
		printf 'SET @k%d value-%d\r\nINCR @n\r\nRPUSH @l %d\r\n' \
			"$i" "$i" "$i"
	done
	printf 'GET @k17\r\nLRANGE @l 0 -1\r\nHSET @h a 1 b 2\r\nHGETALL @h\r\n'
	printf 'MGET @k1 @k2 @none\r\nDEL @k1\r\nEXISTS @k1 @k2\r\nQUIT\r\n'
}

redis() {
	local w port
	redis_script >"$tmp/redis.script"
	for w in native weft-run; do
		port=$(free_port) || return 1
		mkdir -p "$tmp/redis.$w.d"
		session "$w" "$port" "$tmp/redis.script" "$tmp/redis.$w" \
			/usr/bin/redis-server --bind 127.0.0.1 --port "$port" \
			--save '' --appendonly no --daemonize no \
			--dir "$tmp/redis.$w.d" --logfile '' || return 1
	done
	compare_sessions redis
}

test_with "memcached (libevent epoll): 4 clients' sessions the same under weft-run" \
	memcached memcached:memcached
test_with "redis-server (epoll): 4 clients' sessions the same under weft-run" \
	redis redis-server:redis-server

finish
