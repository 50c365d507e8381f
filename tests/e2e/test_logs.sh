#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Logs: sluiced's --log-level hides what is below it; --log-format json
# writes one parseable object per line; a refused apply puts its
# file:line:col diagnostics in the log whatever its source (sluicectl or the
# policy directory); journald's stream gets <N> priority prefixes. sluice-http's
# access log: off by default, one well-formed line per request when on, and
# no request can break a line.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
. "$(dirname "$0")/http_common.sh"
hx_require

dl_setup
# a policy with an error on a known line: subset v3 is not defined
dl_s1 80 20 | sed 's/subset: v2/subset: v3/' >"$SL_TMP/bad.yaml"
badline=$(grep -n 'subset: v3' "$SL_TMP/bad.yaml" | cut -d: -f1)

# ---- --log-level warn, text ----
dl_start --log-level warn || { echo "Bail out! sluiced did not start"; exit 1; }
ctl apply -f "$SL_TMP/bad.yaml" >/dev/null 2>&1
sl_check "warn: the startup's info lines are not written" bash -c "! grep -q 'ready: control socket' '$DL_LOG'"
sl_check "warn: the refused apply is, at level warn" grep -q " sluiced: warn: apply refused (source apply" "$DL_LOG"
sl_check "warn: with its diagnostic: bad.yaml:$badline:COL: error[SL0102] (from sluicectl apply)" \
	grep -Eq "sluiced: warn: +$SL_TMP/bad.yaml:$badline:[0-9]+: error\[SL0102\]: subset \"v3\"" "$DL_LOG"
ctl reset >/dev/null
kill "$DL_PID"; wait "$DL_PID" 2>/dev/null

# ---- --log-format json, a refusal from the policy directory ----
dl_start --log-format json || { echo "Bail out! sluiced did not start"; exit 1; }
cp "$SL_TMP/bad.yaml" "$DL_POL/zz-bad.yaml"
sl_wait_for 10 grep -q 'apply refused (source policy-dir' "$DL_LOG"
rm -f "$DL_POL/zz-bad.yaml"
sl_check "json: every line is one object with ts, level and msg" python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert set(o) == {"ts", "level", "msg"} and o["level"] in ("debug", "info", "warn", "error"), line
    n += 1
assert n > 5, n' "$DL_LOG"
sl_check "json: the policy-dir refusal's diagnostic is a record of its own, level warn" python3 -c '
import json, sys
hits = [o for o in map(json.loads, open(sys.argv[1])) if "zz-bad.yaml:%s:" % sys.argv[2] in o["msg"]]
assert hits and all(o["level"] == "warn" for o in hits) and "error[SL0102]" in hits[0]["msg"], hits' \
	"$DL_LOG" "$badline"
ctl reset >/dev/null
kill "$DL_PID"; wait "$DL_PID" 2>/dev/null

# ---- journald: JOURNAL_STREAM names stderr (device:inode) -> <N> prefixes ----
jlog=$SL_TMP/journal.log
: >"$jlog"
js="$(stat -c '%d:%i' "$jlog")"
JOURNAL_STREAM=$js nsenter --net="/run/netns/$NS" "$SLUICED" --policy-dir "$DL_POL" --cgroup "$CG" \
	--bpffs "$SL_BPFFS" --socket "$SL_SOCK" --state-dir "$DL_STATE" --no-http-helper 2>>"$jlog" &
jpid=$!
sl_defer "kill $jpid"
sl_wait_for 10 ctl status
ctl apply -f "$SL_TMP/bad.yaml" >/dev/null 2>&1
sl_check "journald: info lines carry <6>" grep -q '^<6>.* sluiced: info: ready: control socket' "$jlog"
sl_check "journald: the refusal carries <4> (warning)" grep -q '^<4>.* sluiced: warn: apply refused' "$jlog"
sl_check "journald: every line has a priority" bash -c "! grep -qv '^<[0-7]>' '$jlog'"
ctl reset >/dev/null
kill "$jpid"; wait "$jpid" 2>/dev/null

# ---- sluice-http's access log ----
P="$SL_TMP/http.yaml"
cat >"$P" <<'YAML'
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: kv, namespace: t}
spec:
  hosts: [kv.t.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: @IP@, ports: {http: 9461}}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: kv, namespace: t}
spec:
  hosts: [kv]
  http:
  - name: teapot
    match: [{uri: {prefix: /brew}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: kv}}]
  - name: default
    route: [{destination: {host: kv}}]
YAML
hx_subst "$P"
hx_backend v1 9461
# off by default: a proxy without --access-log writes no request lines
hx_proxy "$P" 15001
hx_get --port 15001 --host kv -n 3 >/dev/null
sl_check "off by default: no access line in sluice-http's output" bash -c "! grep -q '\"GET ' '$SL_TMP/proxy.log'"
kill "$HX_PID"; wait "$HX_PID" 2>/dev/null
alog=$SL_TMP/access.log
hx_proxy "$P" 15001 --access-log "$alog"
for i in 1 2 3; do curl -s -o /dev/null -H "Host: kv" -H "x-request-id: req-$i" "http://$HX_IP:15001/item/$i?x=1"; done
curl -s -o /dev/null -H "Host: kv" "http://$HX_IP:15001/brew"
# a hostile user-agent: a quote and a tab try to close the field and forge others
curl -s -o /dev/null -H "Host: kv" -H $'User-Agent: evil" 200 - 0 0 0 "\tx' "http://$HX_IP:15001/ua"
sl_wait_for 5 bash -c "[ \$(wc -l <'$alog') -ge 5 ]"
sl_log "$(head -1 "$alog")"
sl_check "one line per request (5)" [ "$(wc -l <"$alog")" -eq 5 ]
sl_check "the request line, code, route, service and x-request-id" \
	grep -q '"GET /item/2?x=1 HTTP/1.1" 200 - [0-9]* [0-9]* [0-9]* "curl/[^"]*" "req-2" "kv" "'"$HX_IP"':9461" kv.t.svc.cluster.local - default -$' "$alog"
sl_check "a fault abort: 418, flag FI, route teapot" grep -q '"GET /brew HTTP/1.1" 418 FI .* teapot -$' "$alog"
ua=$(grep '"GET /ua ' "$alog")
sl_log "$ua"
sl_check "the hostile user-agent is escaped (\\x22, \\x09), the line keeps its fields" \
	python3 -c '
import shlex, sys
line = sys.argv[1]
assert "\\x22" in line and "\\x09" in line and "\t" not in line, line
f = shlex.split(line.replace("\\x", "%x"))
assert len(f) == 15 and f[2] == "200" and f[7].startswith("evil%x22"), f' "$ua"
sl_check "bytes: request and response counted" awk '$4 == 200 { if ($6 < 50 || $7 < 50) bad = 1 } END { exit bad }' "$alog"

sl_done
