#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The USDT probes are in the ELF notes of both libraries (readelf -n),
# each with its documented arguments. Skips when the build had no
# <sys/sdt.h> (package systemtap-sdt-dev). TAP. WEFT_O: the build dir.
set -u
O=${WEFT_O:-build}
probes=(spawn switch park ready wake steal submit)
libs=("$O/lib/libweft.so" "$O/lib/libweft-preload.so")

if ! command -v readelf >/dev/null; then
	echo "1..0 # SKIP readelf not found (binutils)"
	exit 4
fi
notes=$(readelf -n "${libs[0]}" 2>/dev/null)
if [[ $notes != *stapsdt* ]]; then
	echo "1..0 # SKIP built without <sys/sdt.h> (apt-get install systemtap-sdt-dev)"
	exit 4
fi
echo "1..$(( ${#probes[@]} * ${#libs[@]} ))"
n=0 fails=0
for lib in "${libs[@]}"; do
	notes=$(readelf -n "$lib" 2>/dev/null)
	for p in "${probes[@]}"; do
		n=$((n + 1))
		if grep -A2 "Provider: weft" <<<"$notes" |
			grep -q "Name: $p\$"; then
			echo "ok $n - ${lib##*/}: probe weft:$p"
		else
			echo "not ok $n - ${lib##*/}: probe weft:$p missing"
			fails=$((fails + 1))
		fi
	done
done
((fails == 0))
