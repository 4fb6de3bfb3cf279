#!/bin/sh
# A migration over HTTP killed with a real kill -9 at seeded random moments, then run again to the
# end, against one `fake serve` (whose cluster goes on while no migration runs, as a real one
# does): the last run finishes (exit 0), and kubectl and the served hosts show the migrated end:
# no flannel DaemonSet, every node labelled for nothing but migrated, uncordoned, calico-node Ready,
# Calico's CNI config on every host and flannel's gone, no helper pod left; and the server's trace
# shows nothing made twice (a helper pod made while one of its name was there, an IPAM block or
# block affinity made twice). A killed run holds the Lease until it expires (30 s of real time):
# the next run waits for it, so the kills are few (KILLS, default 4; seed SEED, default 11). Each
# kill comes when the run has printed a seeded random number of its timeline's lines.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
B=${CNI_MIGRATE:?}
F="${CM_SOURCE_DIR:?}/examples/clusters/flannel-calico-installed-4node.yaml"
command -v kubectl >/dev/null || { echo "SKIP: no kubectl"; exit 77; }
seed=${SEED:-11}
kills=${KILLS:-4}
fake_start "$F" --speed 50 --trace "$FAKE_DIR/trace.jsonl"
# rand N: the next number of a seeded LCG, from 0 to N-1
rand() {
    seed=$(((seed * 1103515245 + 12345) % 2147483648))
    r=$((seed / 65536 % $1))
}
i=0
killed=0
while [ $i -lt "$kills" ]; do
    i=$((i + 1))
    "$B" migrate >"$FAKE_DIR/run$i.txt" 2>&1 &
    pid=$!
    rand 30 # the moment: when the run has printed this many timeline lines (a whole one prints ~56)
    at=$((5 + r))
    while kill -0 "$pid" 2>/dev/null && [ "$(grep -c ' +  *[0-9.]*s  ' "$FAKE_DIR/run$i.txt")" -lt "$at" ]; do
        sleep 0.05
    done
    if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
    wait "$pid"
    rc=$?
    echo "run $i: killed at timeline line $at (exit $rc): $(grep ' +  *[0-9.]*s  ' "$FAKE_DIR/run$i.txt" | tail -n1 | cut -c26-100)"
    [ "$rc" -eq 137 ] || [ "$rc" -eq 0 ] || { OUT=$(tail -n 20 "$FAKE_DIR/run$i.txt"); fail "run $i: exit $rc"; }
    [ "$rc" -eq 0 ] && break # it finished before its moment: nothing left to kill
done
[ "$killed" -ge 1 ] || fail "no run was killed: every one finished within its delay"
run "$B" migrate
expect_rc 0
expect_out '^(Migrated [0-9]+ node\(s\) to Calico in .* 4 node\(s\) in the cluster\.|The cluster is migrated already.*)$'
run kubectl get ds -A -o 'jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {.spec.template.spec.nodeSelector}{"\n"}{end}'
expect_no_out 'kube-flannel-ds'
expect_out '^kube-system/calico-node \{"kubernetes.io/os":"linux"\}$'
run kubectl get nodes -o 'jsonpath={range .items[*]}{.metadata.name} [{.metadata.labels.projectcalico\.org/node-network-during-migration}] [{.spec.unschedulable}] [{.metadata.annotations.cni-migrate\.dev/step}] {.metadata.annotations.projectcalico\.org/IPv4VXLANTunnelAddr}{"\n"}{end}'
[ "$(printf '%s\n' "$OUT" | grep -Ec '^[a-z0-9-]+ \[\] \[\] \[done\] 10\.244\.[0-9]+\.0$')" -eq 4 ] || fail "nodes after the killed runs"
i=0
while [ $i -lt 60 ]; do # calico-node's rollout, on the server's clock
    OUT=$(kubectl get pods -n kube-system -l k8s-app=calico-node -o 'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}')
    [ "$(printf '%s\n' "$OUT" | grep -c '^True$')" -eq 4 ] && break
    sleep 0.5
    i=$((i + 1))
done
[ "$(printf '%s\n' "$OUT" | grep -c '^True$')" -eq 4 ] || fail "calico-node Ready on 4 nodes: $OUT"
run kubectl get pods -A -o name
expect_no_out '^pod/cm-'
for n in $(kubectl get nodes -o 'jsonpath={.items[*].metadata.name}'); do
    run curl -fsS "$URL/cni-migrate/v1alpha1/hosts/$n"
    expect_out '"/etc/cni/net.d/10-calico.conflist"'
    expect_no_out '"/etc/cni/net.d/10-flannel.conflist"'
done
fake_stop
again=$(grep '"actor":"cluster"' "$FAKE_DIR/trace.jsonl" | grep -E '"kind":"(Pod|IPAMBlock|BlockAffinity)"' |
    sed -n 's/.*"event":"\([A-Z]*\)","kind":"\([A-Za-z]*\)","namespace":"[^"]*","name":"\([^"]*\)".*/\1 \2 \3/p' |
    awk '$2 == "Pod" && $3 !~ /^cm-/ { next }
         $1 == "ADDED" && ($2 != "Pod" ? made[$2 " " $3]++ : alive[$3]) { print $2, $3 }
         $2 == "Pod" { alive[$3] = ($1 != "DELETED") }')
[ "$(grep -c "\"actor\":\"cluster\"" "$FAKE_DIR/trace.jsonl")" -gt 0 ] || fail "no cluster events in the server's trace"
[ -z "$again" ] || fail "made twice: $again"
echo "killed $killed of $kills run(s) with kill -9 (seed ${SEED:-11}), then migrated to the end"
done_ok
