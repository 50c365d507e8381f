#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make bench`: every bench/bench_*.sh in turn, each printing its own table of
# Sluice and its peers side by side (medians of several runs) with ratios.
# BENCH_ONLY=l4,http limits the set. Results are also kept in build/bench/.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p build/bench
rc=0
for b in bench/bench_*.sh; do
	name=${b##*/bench_}; name=${name%.sh}
	if [ -n "${BENCH_ONLY:-}" ] && [[ ",$BENCH_ONLY," != *",$name,"* ]]; then continue; fi
	echo "=== bench: $name"
	"$b" 2>&1 | tee "build/bench/$name.txt" || rc=1
done
exit $rc
