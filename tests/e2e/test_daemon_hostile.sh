#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Hostile policy input gets a clear refusal, fast, and changes nothing
# (issue 10): symlink loops in the policy directory, YAML nested 130,000
# deep, a FIFO, /dev/zero, a link out of the tree, and an empty apply
# (refused unless --allow-empty, as kubectl refuses an empty apply).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

dl_setup
# the policy directory: one good policy and three links back to itself
dl_policy "$DL_POL/s1.yaml" 80 20
for l in l1 l2 l3; do ln -s . "$DL_POL/$l"; done
ln -s /etc/passwd "$DL_POL/outside.yaml"
dl_start || { echo "Bail out! sluiced did not start with a looping policy dir"; sed "s/^/# /" "$DL_LOG" | tail; exit 1; }
sl_ok "sluiced starts on a policy dir with three '. ' symlinks"
sl_check "and loads the one policy in it (generation 1)" sl_wait_for 5 bash -c "[ \"\$('$CTL' --socket '$SL_SOCK' status -o json | jq -r .generation)\" = 1 ]"
sl_check "a link out of the tree is not read as policy (no error about /etc/passwd)" \
	bash -c "! grep -q 'outside.yaml' '$DL_LOG'"
t0=$SECONDS
touch "$DL_POL/s1.yaml"
sl_check "the directory watch reloads it and the socket answers" timeout 10 "$CTL" --socket "$SL_SOCK" status
out=$(timeout 10 "$CTL" validate -f "$DL_POL" 2>&1)
sl_check "validate of the looping dir finishes and sees one file" grep -q "valid: 3 objects" <<<"$out"
gen=$(dl_gen)

python3 -c "
n = 130000
print('apiVersion: networking.istio.io/v1beta1\nkind: ServiceEntry\nmetadata: {name: deep}\nspec: {hosts: ' + '[' * n + ']' * n + '}')" >"$SL_TMP/deep.yaml"
out=$(timeout 20 "$CTL" --socket "$SL_SOCK" apply -f "$SL_TMP/deep.yaml" 2>&1); rc=$?
sl_check "YAML nested 130,000 deep: apply refused (exit $rc) with SL0012 at its place" \
	bash -c "[ $rc = 1 ] && grep -q 'deep.yaml:4:[0-9]*: error\[SL0012\]: YAML nested more than 64' <<<'$out'"
mkfifo "$SL_TMP/fifo.yaml"
out=$(timeout 10 "$CTL" --socket "$SL_SOCK" apply -f "$SL_TMP/fifo.yaml" 2>&1); rc=$?
sl_check "a FIFO: refused at once (exit $rc), not a regular file" \
	bash -c "[ $rc = 1 ] && grep -q 'not a regular file' <<<'$out'"
out=$(timeout 10 "$CTL" validate -f /dev/zero 2>&1); rc=$?
sl_check "/dev/zero: refused at once (exit $rc), not a regular file" \
	bash -c "[ $rc = 1 ] && grep -q 'not a regular file' <<<'$out'"
sl_check "none of it changed the live generation ($gen)" [ "$(dl_gen)" = "$gen" ]

# an apply whose client hangs up before the answer (as a timed-out client
# does) must not land silently: the daemon drops it and says so. The set
# sent carries 4,000 more ServiceEntries, so that loading it takes the
# daemon far longer than the client takes to hang up after its last byte,
# also on a loaded machine.
dl_extra_se >"$SL_TMP/s1b.yaml"
python3 - "$SL_SOCK" "$SL_TMP/s1b.yaml" <<'PY'
import socket, sys
data = open(sys.argv[2], "rb").read() + b"".join(
    b"---\napiVersion: networking.istio.io/v1beta1\nkind: ServiceEntry\n"
    b"metadata: {name: hang%d, namespace: weather}\n"
    b"spec: {hosts: [hang%d.weather.svc.cluster.local], addresses: [198.19.%d.%d],"
    b" ports: [{number: 9000, name: tcp, protocol: TCP}], resolution: STATIC,"
    b" endpoints: [{address: 10.1.0.1}]}\n" % (i, i, i // 250, i % 250 + 1)
    for i in range(4000))
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"SLUICE1 apply 1 -\n" + b"%d %s\n" % (len(data), sys.argv[2].encode()) + data)
s.shutdown(socket.SHUT_RDWR)
s.close()
PY
sl_check "an apply whose client hung up is dropped, and logged" \
	sl_wait_for 5 grep -q "apply dropped (source apply): the client disconnected" "$DL_LOG"
sl_check "... the generation stays ($gen)" [ "$(dl_gen)" = "$gen" ]

# an empty apply would remove everything apply set: refused unless asked
ctl apply -q -f "$SL_TMP/s1b.yaml"
gen=$(dl_gen)
: >"$SL_TMP/empty.yaml"
out=$(ctl apply -f "$SL_TMP/empty.yaml" 2>&1); rc=$?
sl_log "$out"
sl_check "an empty apply is refused (exit $rc) and says how to empty on purpose" \
	bash -c "[ $rc = 1 ] && grep -q 'allow-empty' <<<'$out'"
sl_check "the objects stay (3 of the policy dir + 1 applied) and the generation too" \
	bash -c "[ \"\$('$CTL' --socket '$SL_SOCK' status -o json | jq -r .objects)\" = 4 ] && [ \"\$('$CTL' --socket '$SL_SOCK' status -o json | jq -r .generation)\" = '$gen' ]"
line=$(dl_load 200)
sl_check "and still steer (200 connections, 0 failed)" [ "$(dl_field "$line" fail)" = 0 ]
sl_check "apply --allow-empty empties apply's share on purpose (the policy dir's 3 stay)" \
	bash -c "'$CTL' --socket '$SL_SOCK' apply --allow-empty -f '$SL_TMP/empty.yaml' >/dev/null && [ \"\$('$CTL' --socket '$SL_SOCK' status -o json | jq -r .objects)\" = 3 ]"
sl_done
