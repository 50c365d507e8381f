#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# policies/examples/ validates as one set (exit 0), each S2 step validates
# with its base, and the canonical JSON dump says what the scenarios mean.
set -uo pipefail
cd "$(dirname "$0")/../.."
CTL=${SLUICECTL:-build/sluicectl}
EX=policies/examples
if [ ! -x "$CTL" ]; then echo "Bail out! $CTL not built"; exit 1; fi
fail=0
ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; fail=1; }
check() { local n=$1; shift; if "$@"; then ok "$n"; else nok "$n"; fi; }

out=$(mktemp); err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT

"$CTL" validate -f "$EX/" >/dev/null 2>"$err"
rc=$?
check "examples validate as one set (exit 0)" test "$rc" -eq 0
check "examples carry no warnings (info lines aside: skipped Kubernetes kinds)" \
	sh -c "! grep -v ': info\[' '$err' | grep -q ."
grep -v ': info\[' "$err" | sed 's/^/# /'
check "the Kubernetes example's skipped kinds say so, one info line each (3)" \
	test "$(grep -c ': info\[SL0014\]' "$err")" -eq 3

for s in "$EX"/s2-forecast-progressive/.steps/*.yaml; do
	"$CTL" validate -q -f "$EX/s2-forecast-progressive/base.yaml" -f "$s" >/dev/null 2>&1
	check "S2 $(basename "$s") validates with base.yaml" test $? -eq 0
done

"$CTL" validate -q -f - <"$EX/s1-tcp-echo.yaml" >/dev/null 2>&1
check "validate -f - reads stdin" test $? -eq 0
e=$(printf 'kind: Nope\n' | "$CTL" validate -f - 2>&1 >/dev/null)
check "stdin errors are named <stdin>" grep -qF '<stdin>:1:7: error[SL0003]' <<<"$e"

"$CTL" validate -o json -f "$EX/" >"$out" 2>/dev/null
check "validate -o json emits valid JSON" jq -e . "$out" >/dev/null

j() { jq -r "$1" "$out"; }
# S1: 80/20 by normalised weight (parts per million)
check "S1 tcp-echo weights 800000/200000" \
	test "$(j '.virtualServices[] | select(.name=="tcp-echo") | .tcp[0].route | map(.weight) | join(",")')" = "800000,200000"
check "S1 subset v2 selects endpoint 1" \
	test "$(j '.services[] | select(.host=="tcp-echo.weather.svc.cluster.local") | .subsets[] | select(.name=="v2") | .endpoints | join(",")')" = "1"
# S2 step 1: weight 0 stays 0, v1 gets everything
check "S2 step1 weights 1000000/0" \
	test "$(j '.virtualServices[] | select(.namespace=="forecast-canary") | .http[0].route | map(.weight) | join(",")')" = "1000000,0"
# S3: regex header match on user-agent (lower-cased name)
check "S3 user-agent regex" \
	test "$(j '.virtualServices[] | select(.namespace=="forecast-ua") | .http[0].match[0].headers[0] | "\(.name) \(.match.kind) \(.match.value)"')" = "user-agent regex .*Chrome.*"
# S4: sourceLabels resolve to the frontend-v2 workload, which has a cgroup
check "S4 sourceLabels -> frontend-v2" \
	test "$(j '. as $m | .virtualServices[] | select(.name=="forecast" and .namespace=="gray") | .http[0].match[0].sourceWorkloads | map($m.workloads[.].name) | join(",")')" = "frontend-v2"
check "S4 frontend endpoints come from WorkloadEntries" \
	test "$(j '.services[] | select(.host=="frontend.gray.svc.cluster.local") | .endpoints | map(.workload) | join(",")')" = "gray/frontend-v1,gray/frontend-v2"
# S5: one gateway VS and one mesh VS with identical routes
check "S5 gateway binds catalog-vs-from-gw" \
	test "$(j '.gateways[] | select(.name=="catalog-gateway") | .virtualServices | join(",")')" = "istioinaction/catalog-vs-from-gw"
check "S5 gateway and mesh routes are identical" \
	test "$(jq -c '[.virtualServices[] | select(.namespace=="istioinaction") | .http] | .[0] == .[1]' "$out")" = "true"
check "S5 mesh VS owns the catalog service" \
	test "$(j '.services[] | select(.host=="catalog.istioinaction.svc.cluster.local") | .virtualService')" = "istioinaction/catalog"
# S6: registry-only mesh and the external service
check "S6 outbound REGISTRY_ONLY" test "$(j '.outboundTrafficPolicy')" = "REGISTRY_ONLY"
check "S6 api.example.com is MESH_EXTERNAL" \
	test "$(j '.services[] | select(.host=="api.example.com") | .location')" = "MESH_EXTERNAL"
# S7: the gateway TCP server at its bind VIP, served by the 80/20 tcp route
check "S7 gateway TCP server bind 198.18.7.10:9000 -> edge/tcp-echo-from-edge" \
	test "$(j '.gateways[] | select(.name=="edge-gateway") | .servers[0] | "\(.protocol) \(.bind) \(.port) \(.tcpVirtualService)"')" = "TCP 198.18.7.10 9000 edge/tcp-echo-from-edge"
check "S7 weights 800000/200000" \
	test "$(j '.virtualServices[] | select(.name=="tcp-echo-from-edge") | .tcp[0].route | map(.weight) | join(",")')" = "800000,200000"
check "S5 HTTP gateway server has no bind" \
	test "$(j '.gateways[] | select(.name=="catalog-gateway") | .servers[0] | "\(.bind) \(.tcpVirtualService)"')" = "null null"
# S11: the TLS passthrough server and its SNI routes
check "S11 gateway TLS server on 443 is PASSTHROUGH" \
	test "$(j '.gateways[] | select(.name=="tls-gateway") | .servers[0] | "\(.protocol) \(.port) \(.tls.mode) \(.bind)"')" = "TLS 443 PASSTHROUGH null"
check "S11 api.example splits 800000/200000 between v1 and v2" \
	test "$(j '.virtualServices[] | select(.name=="by-sni") | .tls[1] | "\(.match[0].sniHosts | join(",")) \(.route | map("\(.subset)=\(.weight)") | join(","))"')" = "api.example v1=800000,v2=200000"

# diff between S2 steps: one VirtualService route changed
d=$("$CTL" diff -f "$EX/s2-forecast-progressive/base.yaml" -f "$EX/s2-forecast-progressive/.steps/step2-50-50.yaml" \
	--against "$EX/s2-forecast-progressive" 2>&1)
rc=$?
check "diff step1 -> step2 shows the changed route" grep -q '^    ~ http\[0\]' <<<"$d"
check "diff with changes exits 1, as kubectl diff (got $rc)" test "$rc" -eq 1
check "diff step1 -> step2 leaves DestinationRule unchanged" bash -c '! grep -q "DestinationRule" <<<"$1"' _ "$d"
S2=$EX/s2-forecast-progressive
d=$("$CTL" diff -o json -f "$S2/base.yaml" -f "$S2/.steps/step4-drop-v1.yaml" \
	--against "$S2/base.yaml" --against "$S2/.steps/step3-0-100.yaml" 2>&1)
check "diff -o json step3 -> step4 (repeated --against): DR and VS changed" \
	test "$(jq -r 'map("\(.op) \(.kind) \(.route // "")") | join(";")' <<<"$d")" = \
	"changed DestinationRule ;changed VirtualService ;changed VirtualService http[0]"
"$CTL" diff -f "$EX/" --socket "/nonexistent/sluice-$$.sock" >/dev/null 2>&1
check "diff without --against and no daemon exits 3" test $? -eq 3
d=$("$CTL" diff -f "$EX/" --against "$EX/" 2>&1)
rc=$?
check "diff of a set with itself: no changes" test "$d" = "no changes"
check "diff without changes exits 0 (got $rc)" test "$rc" -eq 0
exit $fail
