#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/soak.sh [SECONDS] [BUILD_DIR] - the randomised tests, again and
# again, until SECONDS have passed (make soak DURATION=...).
#
# Each round runs the stress test (scheduler, sync, channels and I/O with
# exact invariants) with a fresh seed, on a backend and a worker count
# drawn for the round, then the I/O, sync, channel and fault suites. The
# first failure stops the soak and prints what replays it: the seed, the
# environment and the command. Exit 0 when every round passed.
set -u
secs=${1:-600} O=${2:-build}
[[ $secs =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS] [BUILD_DIR]" >&2; exit 2; }
cpus=$(nproc)
end=$((SECONDS + secs))
round=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run() {
	local what=$1
	shift
	if ! env "$@" >"$log" 2>&1; then
		echo "not ok - round $round: $what"
		echo "# replay: $*"
		grep -E '^# |^not ok' "$log" | tail -n 30
		exit 1
	fi
}

echo "# soak for ${secs}s over $O, $cpus CPUs"
while ((SECONDS < end)); do
	round=$((round + 1))
	seed=$(( (RANDOM << 30) ^ (RANDOM << 15) ^ RANDOM ))
	backends=(io_uring epoll)
	backend=${backends[RANDOM % 2]}
	workers=$((1 + RANDOM % (2 * cpus)))
	run "stress seed=$seed backend=$backend workers=$workers" \
		WEFT_TEST_SEED=$seed WEFT_BACKEND=$backend \
		WEFT_WORKERS=$workers "$O/tests/sched/stress_test"
	for t in io/io_test io/io_epoll_test sched/sync_test sched/chan_test \
		sched/fault_test; do
		run "$t" WEFT_TEST_SEED=$seed "$O/tests/$t"
	done
	echo "ok $round - seed=$seed backend=$backend workers=$workers"
done
echo "# soak: $round rounds passed in ${secs}s"
