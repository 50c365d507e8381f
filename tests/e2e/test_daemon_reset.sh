#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `sluicectl reset` leaves no program, link or pin behind: the ids the
# daemon reported are gone from the kernel (bpftool), the pin directory and
# the state file are gone, connections to the VIP are no longer steered;
# the next apply brings the data plane back. status exits 1 and /readyz
# answers 503 while the data plane is not live; /healthz stays 200.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

dl_setup
dl_start --metrics 127.0.0.1:9465 || { echo "Bail out! sluiced did not start"; exit 1; }
dl_policy "$SL_TMP/s1.yaml" 80 20
ctl apply -f "$SL_TMP/s1.yaml" >/dev/null
probe() {	# probe PATH: "CODE BODY" from the metrics listener
	sl_in_ns "$NS" curl -s -m 5 -o "$SL_TMP/probe.out" -w '%{http_code}' "http://127.0.0.1:9465$1"
	printf ' %s' "$(head -1 "$SL_TMP/probe.out")"
}
sl_check "/healthz: 200 ok" [ "$(probe /healthz)" = "200 ok" ]
sl_check "/readyz: 200 ready" [ "$(probe /readyz)" = "200 ready" ]
sl_check "/metrics still the exposition" bash -c "[[ '$(probe /metrics)' == '200 # HELP'* ]]"
st=$(ctl status -o json)
links=$(jq -r '.link_ids[]' <<<"$st" | sort -u)
progs=$(jq -r '.prog_ids[]' <<<"$st" | sort -u)
sl_log "links: $(echo $links) progs: $(echo $progs)"
sl_check "status lists pinned links and programs" [ -n "$links" -a -n "$progs" ]
for id in $links; do
	bpftool link show id "$id" >/dev/null 2>&1 || sl_fail "link $id listed by status exists"
done
line=$(dl_load 200)
sl_check "steering before reset" [ "$(dl_field "$line" ok)" -eq 200 ]

out=$(ctl reset)
sl_check "reset exits 0" [ $? -eq 0 ]
sl_log "$out"
gone() {	# gone link|prog ID: the kernel no longer knows the object
	! bpftool "$1" show id "$2" >/dev/null 2>&1
}
left=0
for id in $links; do sl_wait_for 5 gone link "$id" || { left=1; sl_log "link $id still present"; }; done
sl_check "no link left (bpftool link show id ...)" [ "$left" = 0 ]
left=0
for id in $progs; do sl_wait_for 5 gone prog "$id" || { left=1; sl_log "prog $id still present"; }; done
sl_check "no program left (bpftool prog show id ...)" [ "$left" = 0 ]
sl_check "pin directory removed" [ ! -e "$SL_BPFFS" ]
sl_check "state file removed" [ ! -e "$DL_STATE/snapshot.yaml" ]
sl_check "status after reset: generation 0, data plane removed" \
	bash -c "'$CTL' --socket '$SL_SOCK' status -o json | jq -e '.generation == 0 and (.data_plane | test(\"removed\"))' >/dev/null"
ctl status >/dev/null 2>&1
sl_check "status after reset exits 1: the data plane is not live" [ $? -eq 1 ]
sl_check "... and says why (live_why)" \
	bash -c "'$CTL' --socket '$SL_SOCK' status -o json | jq -e '.live == false and (.live_why | test(\"reset\"))' >/dev/null"
r=$(probe /readyz)
sl_check "/readyz after reset: 503 with the reason ($r)" bash -c "[[ '$r' == '503 not ready: no data plane'* ]]"
sl_check "/healthz after reset: 200 (the daemon runs)" [ "$(probe /healthz)" = "200 ok" ]
line=$(dl_load 20 2>/dev/null)
sl_check "after reset the VIP is not steered (20 of 20 fail)" [ "$(dl_field "$line" fail)" -eq 20 ]
sl_check "stats after reset is refused (exit 1)" bash -c "! '$CTL' --socket '$SL_SOCK' stats >/dev/null 2>&1"

ctl apply -f "$SL_TMP/s1.yaml" >/dev/null
sl_check "apply after reset brings the data plane back" [ -d "$SL_BPFFS" ]
ctl status >/dev/null; sl_check "status exits 0 again: live" [ $? -eq 0 ]
sl_check "/readyz 200 again" [ "$(probe /readyz)" = "200 ready" ]
line=$(dl_load 200)
sl_check "steering after re-apply" [ "$(dl_field "$line" ok)" -eq 200 ]
ctl reset >/dev/null
sl_check "second reset: pin directory removed" [ ! -e "$SL_BPFFS" ]

sl_done
