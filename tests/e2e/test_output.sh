#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Output as data: every -o json answer holds objects, numbers and booleans
# (checked with jq), the -o yaml answer is the same data; get filters by
# name and namespace (NotFound exits 1); diff shows old -> new values and
# exits 0 / 1 / >1 like kubectl diff; unsupported combinations exit 2.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

PY=python3
$PY -c 'import yaml' 2>/dev/null || PY=/usr/bin/python3
$PY -c 'import yaml' 2>/dev/null || { echo "Bail out! no python3 yaml module (make deps)"; exit 1; }
# same_data JSON YAML: the two texts hold the same data
same_data() { $PY -c 'import json, sys, yaml; sys.exit(json.loads(sys.argv[1]) != yaml.safe_load(sys.argv[2]))' "$1" "$2"; }
jqc() {
	local name=$1 json=$2; shift 2
	if jq -e "$@" <<<"$json" >/dev/null; then sl_ok "$name"; else sl_fail "$name"; sl_log "$json"; fi
}

dl_setup
dl_start || { echo "Bail out! sluiced did not start"; exit 1; }
dl_policy "$SL_TMP/s1.yaml" 80 20
dl_policy "$SL_TMP/s2.yaml" 50 50
sed 's/subset: v2/subset: v3/' "$SL_TMP/s1.yaml" >"$SL_TMP/bad.yaml"

# ---- apply ----
j=$(ctl apply -o json -f "$SL_TMP/s1.yaml"); rc=$?
sl_check "apply -o json: exit 0" [ $rc -eq 0 ]
jqc "apply -o json: result, generation (number), counts, three added objects" "$j" \
	'.result == "applied" and (.generation | type == "number") and .counts.added == 3 and
	 ([.changes[] | select(.op == "added") | .kind] | sort == ["DestinationRule", "ServiceEntry", "VirtualService"])'
y=$(ctl apply -o yaml -f "$SL_TMP/s1.yaml")
sl_check "apply -o yaml: the same data shape (unchanged)" $PY -c 'import sys, yaml; d = yaml.safe_load(sys.argv[1]); sys.exit(not (d["result"] == "unchanged" and isinstance(d["generation"], int)))' "$y"
j=$(ctl apply -o json -f "$SL_TMP/bad.yaml" 2>&1); rc=$?
sl_check "apply -o json refused: exit 1" [ $rc -eq 1 ]
line=$(grep -n 'subset: v3' "$SL_TMP/bad.yaml" | cut -d: -f1)
jqc "apply -o json refused: the diagnostic as an object (file, line $line, col, code SL0102)" "$j" --argjson l "$line" \
	'.result == "refused" and (.diagnostics[0] | .line == $l and (.col | type == "number") and .code == "SL0102" and .severity == "error" and (.file | endswith("bad.yaml")))'

# ---- status ----
j=$(ctl status -o json)
jqc "status -o json: live is a boolean, generation a number, last_apply_ms a number" "$j" \
	'(.live | type == "boolean") and (.generation | type == "number") and (.last_apply_ms | type == "number")'
jqc "status -o json: hooks as objects, connect4 attached" "$j" \
	'.hooks | length > 0 and all(has("name") and (.attached | type == "boolean")) and (map(select(.name == "connect4"))[0].attached)'
jqc "status -o json: kernel features as objects" "$j" \
	'.kernel | length > 0 and all((.supported | type == "boolean") and (.feature | type == "string") and (.since | type == "string"))'
jqc "status -o json: counters as a name -> number map" "$j" \
	'(.counters | type == "object") and (.counters.connect_seen | type == "number") and (.counters | to_entries | all(.value | type == "number"))'
jqc "status -o json: link and program ids are numbers" "$j" '(.link_ids + .prog_ids) | length > 0 and all(type == "number")'
sl_check "status -o yaml is the same data as -o json (but uptime)" \
	same_data "$(ctl status -o json | jq -c 'del(.uptime_s)')" "$(ctl status -o yaml | grep -v '^uptime_s:')"

# ---- stats, get ----
dl_load 200 >/dev/null
j=$(ctl stats -o json)
jqc "stats -o json: rows with numeric counters" "$j" 'length > 0 and all(.opened | type == "number") and any(.level == "backend")'
sl_check "stats -o yaml: the same rows" same_data "$j" "$(ctl stats -o yaml)"
j=$(ctl get routes -o json)
jqc "get routes -o json: destinations as {host, subset, port, weight} with weight 80 / 20 as numbers" "$j" \
	'.[0].destinations | map({subset, weight}) == [{"subset": "v1", "weight": 80}, {"subset": "v2", "weight": 20}]'
jqc "get routes -o json: match conditions as objects" "$j" '.[0].match | all(has("field") and has("match") and has("value"))'
j=$(ctl get services -o json)
jqc "get services -o json: ports and subsets as objects" "$j" \
	'.[0].ports[0] == {"number": 9000, "name": "tcp", "protocol": "TCP"} and (.[0].subsets | map(.name) == ["v1", "v2"])'
j=$(ctl get endpoints -o json)
jqc "get endpoints -o json: labels and ports as maps" "$j" '.[0].labels.version == "v1" and .[0].ports.tcp == 9000'
for k in services routes endpoints workloads; do
	sl_check "get $k -o yaml is the same data as -o json" same_data "$(ctl get $k -o json)" "$(ctl get $k -o yaml)"
done
sl_check "get services tcp-echo (leading label of the host): one row" \
	bash -c "[ \"\$('$CTL' --socket '$SL_SOCK' get services tcp-echo -o json | jq length)\" = 1 ]"
sl_check "get routes tcp-echo -n weather: one row" \
	bash -c "[ \"\$('$CTL' --socket '$SL_SOCK' get routes tcp-echo -n weather -o json | jq length)\" = 1 ]"
sl_check "get routes -n other: no rows, exit 0" \
	bash -c "[ \"\$('$CTL' --socket '$SL_SOCK' get routes -n other -o json | jq length)\" = 0 ]"
out=$(ctl get services nope 2>&1); rc=$?
sl_check "get services nope: NotFound, exit 1 ($out)" [ $rc -eq 1 ]
sl_check "... and says so" grep -q 'not found' <<<"$out"

# ---- version ----
j=$(ctl version -o json)
jqc "version -o json: client and daemon" "$j" '.client == .daemon and (.client | type == "string")'
sl_check "version -o yaml: the same" same_data "$j" "$(ctl version -o yaml)"
j=$("$CTL" --socket "$SL_TMP/nobody.sock" version -o json 2>/dev/null); rc=$?
sl_check "version -o json without a daemon: daemon null, exit 3" \
	bash -c "[ $rc -eq 3 ] && jq -e '.daemon == null' <<<'$j' >/dev/null"

# ---- diff ----
ctl diff -f "$SL_TMP/s1.yaml" >"$SL_TMP/d0.txt"; rc=$?
sl_check "diff against the applied state, no change: exit 0, 'no changes'" bash -c "[ $rc -eq 0 ] && grep -q 'no changes' '$SL_TMP/d0.txt'"
ctl diff -f "$SL_TMP/s2.yaml" >"$SL_TMP/d1.txt"; rc=$?
sl_log "$(tr '\n' '|' <"$SL_TMP/d1.txt")"
sl_check "diff with a weight change: exit 1" [ $rc -eq 1 ]
sl_check "diff shows the changed object and the field old -> new" \
	bash -c "grep -q '^~ VirtualService weather/tcp-echo' '$SL_TMP/d1.txt' && grep -q 'spec.tcp\[0\].route\[0\].weight: 80 -> 50' '$SL_TMP/d1.txt' && grep -q 'spec.tcp\[0\].route\[1\].weight: 20 -> 50' '$SL_TMP/d1.txt'"
j=$(ctl diff -o json -f "$SL_TMP/s2.yaml")
jqc "diff -o json: the changes with numeric old and new" "$j" \
	'map(select(.kind == "VirtualService" and .changes)) | .[0].changes | map(select(.path == "spec.tcp[0].route[0].weight"))[0] | .old == 80 and .new == 50'
sl_check "diff -o yaml: the same data" same_data "$j" "$(ctl diff -o yaml -f "$SL_TMP/s2.yaml")"
out=$(ctl diff -f "$SL_TMP/bad.yaml" 2>&1); rc=$?
sl_check "diff of an invalid file: exit 1 with the diagnostic" bash -c "[ $rc -eq 1 ] && grep -q SL0102 <<<'$out'"
"$CTL" --socket "$SL_TMP/nobody.sock" diff -f "$SL_TMP/s2.yaml" >/dev/null 2>&1; rc=$?
sl_check "diff without a daemon: exit 3 (an error, > 1)" [ $rc -eq 3 ]

# ---- delete -o json ----
j=$(ctl delete -o json -f "$SL_TMP/s1.yaml"); rc=$?
jqc "delete -o json: exit $rc, three removed" "$j" '.result == "applied" and .counts.removed == 3'

# ---- usage errors: exit 2 ----
usage() { local rc; "$CTL" --socket "$SL_SOCK" "$@" >/dev/null 2>&1; rc=$?; [ $rc -eq 2 ]; }
sl_check "validate -o yaml: usage (2)" usage validate -o yaml -f "$SL_TMP/s1.yaml"
sl_check "trace -o yaml: usage (2)" usage trace -o yaml
sl_check "top -o json: usage (2)" usage top -o json
sl_check "reset -o json: usage (2)" usage reset -o json
sl_check "status -o xml: usage (2)" usage status -o xml
sl_check "stats --service x: usage (2)" usage stats --service x
sl_check "get services a b: usage (2)" usage get services a b
sl_done
