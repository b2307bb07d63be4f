#!/bin/bash
# SPDX-License-Identifier: MIT
#
# tests/fuzz/run.sh [-t SECONDS] FUZZER... - run libFuzzer targets, each
# for SECONDS (default 20), one after the other.
#
# A target named NAME starts from its seeds, tests/fuzz/corpus/NAME/, and
# the inputs of tests/fuzz/known/NAME/ (known bugs, which the checks
# tolerate unless built with FUZZ_STRICT); with tests/fuzz/NAME.dict as
# its dictionary when there is one. What it learns goes to corpus/NAME/
# beside the binary, never to the seeds. Its output (libFuzzer's, and
# anything the code under test printed outside the checks' capture) goes
# to NAME.log there; a failing target's tail is shown, with the input that
# failed, saved as crash-NAME-*.
#
# Last line: "fuzz: N passed, N failed". Exit status 1 if any failed.

set -u

secs=20
if [[ ${1-} == -t ]]; then
	secs=$2
	shift 2
fi
(($#)) || { echo "usage: ${0##*/} [-t SECONDS] FUZZER..." >&2; exit 2; }
src=$(cd "$(dirname "$0")" && pwd)

passed=0
failed=0
for bin in "$@"; do
	name=${bin##*/}
	out=$(dirname "$bin")
	log=$out/$name.log
	work=$out/corpus/$name
	mkdir -p "$work"
	args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048
	      -print_final_stats=1 -artifact_prefix="$out/crash-$name-")
	[[ -f $src/$name.dict ]] && args+=(-dict="$src/$name.dict")
	dirs=("$work")
	for d in "$src/corpus/$name" "$src/known/$name"; do
		[[ -d $d ]] && dirs+=("$d")
	done

	start=$SECONDS
	"$bin" "${args[@]}" "${dirs[@]}" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
	if ((rc == 0)); then
		echo "ok $name: ${runs:-?} runs in $((SECONDS - start)) s, ${cov:-cov: ?}, corpus $(ls "$work" | wc -l)"
		passed=$((passed + 1))
	else
		echo "not ok $name: exit $rc; the last of $log:"
		grep -a -v '^#[0-9]' "$log" | tail -n 40 | sed 's/^/# /'
		failed=$((failed + 1))
	fi
done
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
