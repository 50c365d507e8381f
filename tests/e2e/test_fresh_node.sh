#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# sluiced on a freshly booted host: no bpffs mounted at /sys/fs/bpf. The
# daemon runs in a private mount namespace of its own where /sys/fs/bpf is
# unmounted (whatever the rest of the machine has), mounts bpffs itself,
# says so in its log and steers. A pin root off any bpffs and a --cgroup
# outside cgroup v2 are refused at start with a clear error.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

dl_setup

# fresh_bg NAME CMD...: CMD in a new private mount namespace with nothing
# mounted at /sys/fs/bpf, then in the node netns. unshare, sh and nsenter
# all exec, so the PID sl_bg records is CMD itself.
fresh_bg() {
	local name=$1; shift
	sl_bg "$name" unshare --mount --propagation private -- sh -c '
		while mountpoint -q /sys/fs/bpf; do umount -l /sys/fs/bpf || exit 1; done
		ns=$1; shift; exec nsenter --net="/run/netns/$ns" "$@"' x "$NS" "$@" >/dev/null
}

fresh_bg sluiced "$SLUICED" --policy-dir "$DL_POL" --cgroup "$CG" --bpffs "$SL_BPFFS" \
	--socket "$SL_SOCK" --state-dir "$DL_STATE" --no-http-helper
pid=$SL_PID_sluiced
sl_defer "'$CTL' --socket '$SL_SOCK' reset"
if ! sl_wait_for 10 ctl status; then
	sed 's/^/# /' "$SL_TMP/sluiced.log"
	echo "Bail out! sluiced did not start without a bpffs"
	exit 1
fi
sl_ok "sluiced starts with no bpffs mounted"
sl_check "its log says it mounted bpffs at /sys/fs/bpf" \
	grep -q "no bpffs was mounted: mounted one at /sys/fs/bpf" "$SL_TMP/sluiced.log"
sl_check "the daemon's /sys/fs/bpf is now a bpffs holding its pins" \
	nsenter --mount="/proc/$pid/ns/mnt" sh -c \
	"[ \"\$(stat -f -c %T /sys/fs/bpf)\" = bpf_fs ] && [ -e '$SL_BPFFS/sluice_svc' ]"

dl_policy "$SL_TMP/s1.yaml" 80 20
sl_check "apply 80/20" ctl apply -f "$SL_TMP/s1.yaml" >/dev/null
line=$(dl_load 1000)
sl_log "80/20: $line"
sl_check "1000 connections steered, 0 failed" \
	[ "$(dl_field "$line" ok)" = 1000 -a "$(dl_field "$line" fail)" = 0 ]
sl_check "split near 80/20 (v1 700..900)" \
	[ "$(dl_field "$line" one)" -ge 700 -a "$(dl_field "$line" one)" -le 900 ]
sl_check "reset answers" ctl reset
kill "$pid"
sl_wait_for 5 bash -c "! kill -0 $pid 2>/dev/null"

# Refusals at start: each exits non-zero at once with a message naming the
# cause. The sockets differ so no refusal can reach the daemon above.
notbpf=$SL_TMP/not-bpffs/pins
fresh_bg badroot "$SLUICED" --policy-dir "$DL_POL" --cgroup "$CG" --bpffs "$notbpf" \
	--socket "$SL_TMP/b1.sock" --state-dir "$SL_TMP/st1" --no-http-helper
sl_check "a pin root off any bpffs: sluiced exits" \
	sl_wait_for 10 bash -c "! kill -0 $SL_PID_badroot 2>/dev/null"
sl_check "... saying it is not on a bpf filesystem" \
	grep -q "$notbpf is not on a bpf filesystem" "$SL_TMP/badroot.log"
sl_check "... and mounted nothing there" [ ! -e "$notbpf" ]

notcg=$(mktemp -d "$SL_TMP/not-cgroup.XXXX")
fresh_bg badcg "$SLUICED" --policy-dir "$DL_POL" --cgroup "$notcg" --bpffs "$SL_BPFFS-2" \
	--socket "$SL_TMP/b2.sock" --state-dir "$SL_TMP/st2" --no-http-helper
sl_check "a --cgroup outside cgroup v2: sluiced exits" \
	sl_wait_for 10 bash -c "! kill -0 $SL_PID_badcg 2>/dev/null"
sl_check "... saying it is not in a cgroup v2 hierarchy" \
	grep -q "is not in a cgroup v2 hierarchy" "$SL_TMP/badcg.log"

sl_done
