# SPDX-License-Identifier: Apache-2.0
# The start shared by the benchmarks of sluiced on the tools/node.sh
# topology (sourced): the sandbox library and the node, RUNS and SECS from
# BENCH_RUNS (default 5) and BENCH_SECS (default 2), and bench_node.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/tools/sandbox.sh"
. "$ROOT/tools/node.sh"
RUNS=${BENCH_RUNS:-5}
SECS=${BENCH_SECS:-2}
mkdir -p "$SL_BUILD/bench"

# bench_node NAME [sluiced flags]: OUT is build/bench/NAME.md; the node up
# and sluiced answering (exit 1 when it does not start); bpf_stats turned
# off at exit, for a run cut short.
bench_node() {
	local name=$1
	shift
	OUT=$SL_BUILD/bench/$name.md
	dl_setup
	dl_start "$@" || { echo "bench_$name: sluiced did not start" >&2; exit 1; }
	sl_defer "sysctl -qw kernel.bpf_stats_enabled=0"
}
