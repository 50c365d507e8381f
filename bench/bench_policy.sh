#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Policy front-end benchmark: `sluicectl validate` (libyaml parse, schema
# checks, regex compilation, resolution, reference validation) over N
# generated services (SE + DR + VS each), median wall time and peak RSS of
# RUNS runs, side by side with a parse-only peer (PyYAML's libyaml loader,
# which does no validation at all). Target: 10,000 services in <= 1 s.
# Env: N (default 10000), RUNS (default 5).
set -uo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
RUNS=${RUNS:-5}
CTL=build/sluicectl
DIR=build/bench/policy-$N
[ -x "$CTL" ] || { echo "bench_policy: $CTL not built" >&2; exit 1; }
if [ ! -f "$DIR/.done" ]; then
	rm -rf "$DIR"
	python3 bench/gen_policy.py "$N" "$DIR" 10 && touch "$DIR/.done"
fi

# run_n LABEL CMD...: RUNS times under /usr/bin/time; prints "median_s max_rss_kb"
run_n() {
	shift
	local i t out tf
	local -a secs=() rss=()
	tf=$(mktemp)
	for ((i = 0; i < RUNS; i++)); do
		/usr/bin/time -o "$tf" -f "TIME %e %M" "$@" >/dev/null 2>&1
		out=$(grep '^TIME' "$tf")
		secs+=("$(awk '{print $2}' <<<"$out")")
		rss+=("$(awk '{print $3}' <<<"$out")")
	done
	rm -f "$tf"
	t=$(printf '%s\n' "${secs[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
	echo "$t $(printf '%s\n' "${rss[@]}" | sort -g | tail -1)"
}

if ! "$CTL" validate -q -f "$DIR" >/dev/null; then
	echo "bench_policy: generated policy does not validate" >&2
	exit 1
fi
read -r s_t s_rss < <(run_n sluice "$CTL" validate -q -f "$DIR")
peer="PyYAML CSafeLoader (parse only)"
if python3 -c 'import yaml; yaml.CSafeLoader' 2>/dev/null; then
	read -r p_t p_rss < <(run_n peer python3 -c '
import glob, sys, yaml
for f in sorted(glob.glob(sys.argv[1] + "/*.yaml")):
    with open(f) as fh:
        list(yaml.load_all(fh, Loader=yaml.CSafeLoader))' "$DIR")
else
	p_t=NA p_rss=NA
fi
bytes=$(du -sb "$DIR" | awk '{print $1}')
printf 'policy front-end: %d services (%d objects, %.1f MB YAML), median of %d runs\n' \
	"$N" $((N * 3)) "$(awk -v b="$bytes" 'BEGIN{print b/1048576}')" "$RUNS"
printf '%-36s %10s %12s\n' "tool" "time (s)" "peak RSS (MB)"
printf '%-36s %10s %12.1f\n' "sluicectl validate (full checks)" "$s_t" "$(awk -v k="$s_rss" 'BEGIN{print k/1024}')"
if [ "$p_t" != NA ]; then
	printf '%-36s %10s %12.1f\n' "$peer" "$p_t" "$(awk -v k="$p_rss" 'BEGIN{print k/1024}')"
	printf 'ratio sluice/peer time: %s\n' "$(awk -v a="$s_t" -v b="$p_t" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "NA"}')"
fi
verdict=$(awk -v t="$s_t" 'BEGIN{print (t <= 1.0) ? "met" : "MISSED"}')
echo "target <= 1 s for 10,000 services: $verdict"

# Hostile input (issue 10): a 260 KB document nested 130,000 levels deep is
# refused by the depth check before libyaml composes it (which took 32 s).
python3 -c "
n = 130000
print('apiVersion: networking.istio.io/v1beta1\nkind: ServiceEntry\nmetadata: {name: deep}\nspec: {hosts: ' + '[' * n + ']' * n + '}')" >"$DIR.deep.yaml"
read -r d_t _ < <(run_n deep sh -c '"$0" validate -q -f "$1" 2>/dev/null; [ $? = 1 ]' "$CTL" "$DIR.deep.yaml")
printf '%-36s %10s\n' "refusal of YAML nested 130,000 deep" "$d_t"
rm -f "$DIR.deep.yaml"
