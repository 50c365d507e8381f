# SPDX-License-Identifier: Apache-2.0
# The sandbox library (sourced, bash) of the end-to-end tests, the
# benchmarks and `make demo`: namespaces, the test cgroup, the private pin
# root and control socket, background processes and their cleanup, TAP
# output. tests/e2e/lib.sh is the tests' entry to it; tools/node.sh builds
# the sluiced node on top of it, tools/xdp_topo.sh the XDP topology.
#
# Traffic safety: every test builds its own namespaces, veths and a test
# cgroup below the cgroup v2 root, with names carrying $SL_ID (unique per
# run); cgroup hooks attach only to that test cgroup; clients run inside the
# test namespaces or target 127.0.0.0/8. Everything made is registered with
# sl_defer and torn down by the EXIT trap, also on failure. Processes are
# killed only by the PIDs we started.
#
# Output is TAP: sl_ok / sl_fail print "ok - name" / "not ok - name".

set -uo pipefail

SL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SL_BUILD=${SL_BUILD:-$SL_ROOT/build}
SL_ID=${SL_ID:-$$}
SL_FAILED=0
# Scratch dir of this run; also holds the cleanup list, kept in a file so
# that sl_defer works from command substitutions ($(sl_netns x)) too.
SL_TMP=$(mktemp -d "/tmp/sluice-e2e.$SL_ID.XXXXXX")
SL_CLEANUP_FILE="$SL_TMP/.cleanup"
: >"$SL_CLEANUP_FILE"

sl_ok()   { echo "ok - $*"; }
sl_fail() { echo "not ok - $*"; SL_FAILED=$((SL_FAILED + 1)); }
sl_log()  { echo "# $*"; }
sl_skip() { echo "ok - $* # SKIP"; }

# sl_check NAME CMD...: ok when CMD succeeds.
sl_check() {
	local name=$1; shift
	if "$@"; then sl_ok "$name"; else sl_fail "$name"; fi
}

# sl_defer CMD: run CMD (a one-line string, eval'd) at exit, last registered
# first. Safe to call from subshells: the list lives in a file.
sl_defer() { printf '%s\n' "${1//$'\n'/; }" >>"$SL_CLEANUP_FILE"; }

sl_cleanup() {
	[ -f "$SL_CLEANUP_FILE" ] || return 0
	local cmds=() i
	mapfile -t cmds <"$SL_CLEANUP_FILE"
	: >"$SL_CLEANUP_FILE"
	for ((i = ${#cmds[@]} - 1; i >= 0; i--)); do
		eval "${cmds[$i]}" >/dev/null 2>&1 || true
	done
	# SL_KEEP_LOGS=DIR keeps the run's logs (debugging a failure)
	[ -n "${SL_KEEP_LOGS:-}" ] && mkdir -p "$SL_KEEP_LOGS" && cp "$SL_TMP"/*.log "$SL_KEEP_LOGS"/ 2>/dev/null
	rm -rf "$SL_TMP"
}
trap 'sl_cleanup' EXIT
trap 'exit 130' INT TERM

sl_require_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "Bail out! end-to-end tests need root"
		exit 1
	fi
}

# sl_need_built PROGRAM...: bail out (the run cannot start) when one is
# not built.
sl_need_built() {
	local b
	for b in "$@"; do
		[ -x "$b" ] || { echo "Bail out! $b is not built (make)"; exit 1; }
	done
}

# The cgroup v2 mount point, from /proc/mounts (never hard-coded).
sl_cgroup2_root() {
	awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts
}

# sl_ensure_bpffs: the shell side of sl_bpffs_ensure (user/lib/dp_mounts.c),
# for scripts that pin before any Sluice binary runs: mount a bpffs at
# /sys/fs/bpf when none is there, with the options sluiced uses.
sl_ensure_bpffs() {
	if [ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" != bpf_fs ]; then
		mount -t bpf -o mode=0700,nosuid,nodev,noexec bpf /sys/fs/bpf
	fi
}

# sl_mkcgroup NAME: create <cgroup2 root>/sluice-test-$SL_ID/NAME; prints the
# absolute path. Removed at exit (after the processes in it are gone).
sl_mkcgroup() {
	local root parent dir
	root=$(sl_cgroup2_root)
	parent="$root/sluice-test-$SL_ID"
	if [ ! -d "$parent" ]; then
		mkdir -p "$parent"
		sl_defer "rmdir '$parent'"
	fi
	dir="$parent/$1"
	mkdir -p "$dir"
	sl_defer "sl_kill_cgroup '$dir'; rmdir '$dir'"
	echo "$dir"
}

# Kill what is left in a test cgroup we created (only ever our own cgroup).
sl_kill_cgroup() {
	local dir=$1 pid
	[ -f "$dir/cgroup.procs" ] || return 0
	for pid in $(cat "$dir/cgroup.procs"); do kill -9 "$pid" 2>/dev/null; done
	sleep 0.1
}

# sl_netns NAME: create netns sl<id>-NAME with lo up; prints the netns name.
sl_netns() {
	local ns="sl${SL_ID}-$1"
	ip netns add "$ns"
	sl_defer "ip netns del '$ns'"
	ip -n "$ns" link set lo up
	echo "$ns"
}

# sl_in_ns NS CMD...: run in the network namespace only, keeping /sys
# (unlike `ip netns exec`), so bpffs and the cgroup mount stay visible.
sl_in_ns() {
	local ns=$1; shift
	nsenter --net="/run/netns/$ns" "$@"
}

# sl_in_cgroup_ns CGROUP_DIR NS CMD...: join the cgroup first, then the netns.
sl_in_cgroup_ns() {
	local cg=$1 ns=$2; shift 2
	sh -c 'echo $$ > "$1/cgroup.procs" && shift 2 && exec nsenter --net="/run/netns/$0" "$@"' \
		"$ns" "$cg" x "$@"
}

# sl_kill_tree PID: kill PID and every process descended from it (all of
# them started by us), children first found, then the signal sent.
sl_kill_tree() {
	local pid=$1 kids k
	kids=$(pgrep -P "$pid" 2>/dev/null)
	for k in $kids; do sl_kill_tree "$k"; done
	kill "$pid" 2>/dev/null
	sleep 0.05
	kill -9 "$pid" 2>/dev/null
	return 0
}

# sl_bg NAME CMD...: start CMD (a program or a shell function) in the
# background, log to $SL_TMP/NAME.log, remember its PID in SL_PID_<NAME> and
# kill it with its descendants at exit (a function runs in a subshell whose
# children would otherwise survive).
sl_bg() {
	local name=$1; shift
	"$@" >"$SL_TMP/$name.log" 2>&1 &
	local pid=$!
	printf -v "SL_PID_${name//[^a-zA-Z0-9_]/_}" '%s' "$pid"
	sl_defer "sl_kill_tree $pid"
	echo "$pid"
}

# sl_wait_for SECONDS CMD...: poll CMD every 50 ms until it succeeds.
sl_wait_for() {
	local deadline=$((SECONDS + $1)); shift
	while ! "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.05
	done
}

# sl_mkca DIR NAME: a self-signed test CA (P-256), DIR/NAME.key and DIR/NAME.crt.
sl_mkca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=sluice test $2" -keyout "$1/$2.key" -out "$1/$2.crt" 2>/dev/null
}

# sl_mkcert DIR CA NAME CN SAN...: DIR/NAME.key and DIR/NAME.crt for CN, signed
# by the CA DIR/CA.{crt,key}, with these subjectAltNames (DNS:x, URI:y, IP:z).
sl_mkcert() {
	local d=$1 ca=$2 n=$3 cn=$4 san
	shift 4
	san=$(IFS=,; echo "$*")
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$cn" \
		-keyout "$d/$n.key" -out "$d/$n.csr" 2>/dev/null &&
	printf 'subjectAltName=%s\n' "$san" >"$d/$n.ext" &&
	openssl x509 -req -in "$d/$n.csr" -CA "$d/$ca.crt" -CAkey "$d/$ca.key" -CAcreateserial \
		-days 2 -extfile "$d/$n.ext" -out "$d/$n.crt" 2>/dev/null
}

# sl_median: the median of the numbers on stdin (space or newline
# separated), 0 when none. For benchmarks.
sl_median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'; }

# sl_prog_stats NAME: "run_time_ns run_cnt" of the newest BPF program of
# that name (bpf_stats must be on for them to move). For benchmarks.
sl_prog_stats() {
	bpftool -j prog show | jq -r --arg n "$1" '[.[] | select(.name == $n)] | max_by(.id) |
		"\(.run_time_ns // 0) \(.run_cnt // 0)"'
}

# sl_ns_per_run BEFORE AFTER: ns per run between two sl_prog_stats lines.
sl_ns_per_run() {
	awk -v b="$1" -v a="$2" 'BEGIN { split(b, x, " "); split(a, y, " ");
		printf "%.1f", (y[2] > x[2]) ? (y[1] - x[1]) / (y[2] - x[2]) : 0 }'
}

# sl_bpf_ns CMD...: run CMD (its output goes where the caller sends it)
# with bpf_stats on; sets SL_NS_C4 and SL_NS_OPS to the ns per run of
# sluice_connect4 and sluice_sockops over it. For benchmarks (they defer
# turning bpf_stats off, for a run cut short).
sl_bpf_ns() {
	local c0 o0 c1 o1
	sysctl -qw kernel.bpf_stats_enabled=1
	c0=$(sl_prog_stats sluice_connect4); o0=$(sl_prog_stats sluice_sockops)
	"$@"
	c1=$(sl_prog_stats sluice_connect4); o1=$(sl_prog_stats sluice_sockops)
	sysctl -qw kernel.bpf_stats_enabled=0
	SL_NS_C4=$(sl_ns_per_run "$c0" "$c1")
	SL_NS_OPS=$(sl_ns_per_run "$o0" "$o1")
}

# Pin root private to this test run.
SL_BPFFS="/sys/fs/bpf/sluice-test-$SL_ID"
SL_SOCK="$SL_TMP/sluiced.sock"

SLUICED=$SL_BUILD/sluiced
CTL=$SL_BUILD/sluicectl
CONNBENCH=$SL_BUILD/connbench

# ctl ARGS: sluicectl on this test's daemon.
ctl() { "$CTL" --socket "$SL_SOCK" "$@"; }

# Field of a connbench summary line: dl_field LINE KEY. Empty when absent,
# so a numeric test on a missing field fails instead of passing on 0.
dl_field() {
	echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1
}

sl_done() {
	[ "$SL_FAILED" -eq 0 ]
	exit $?
}
