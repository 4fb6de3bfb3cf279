#!/bin/sh
# The README's main job (scripts/demo.sh): a rehearsal of the whole migration of the bundled
# 10-node flannel cluster (PDBs, a StatefulSet) in simulation, checked line by line, and the same
# run again with the same seed.
. "$(dirname "$0")/lib.sh"
B=${CNI_MIGRATE:?}
F="${CM_SOURCE_DIR:?}/examples/clusters/flannel-calico-installed-10node.yaml"
run "$B" --fake "$F" migrate
expect_rc 0
expect_out '^  FLANNEL_NETWORK +10\.244\.0\.0/16 +net-conf\.json \(ConfigMap kube-flannel/kube-flannel-cfg\)$'
expect_out '^  FLANNEL_MTU +1450 +subnet\.env on node control-plane-1$'
expect_out ' cluster +preflight +[0-9]+ check\(s\) ok, 0 warning\(s\), 0 skipped$'
expect_out ' cluster +ippool +IPPool default-ipv4-ippool: 10\.244\.0\.0/16, blockSize 26, natOutgoing true, vxlanMode Always$'
expect_out ' worker-1 +node-ipam +4 block\(s\) of 10\.244\.1\.0/24, VTEP 10\.244\.1\.0 9e:3a:7c:00:00:02$'
for step in cordon drain label-none flannel-gone flannel-cleanup delete-pods label-calico calico-ready calico-check uncordon; do
    n=$(printf '%s\n' "$OUT" | awk -v s="$step" '$5 == s' | wc -l)
    [ "$n" -eq 10 ] || fail "step $step: $n node(s), expected 10"
done
expect_out ' worker-1 +calico-check +vxlan\.calico VNI 1 port 8472 MAC 9e:3a:7c:00:00:02, /etc/cni/net\.d/10-calico\.conflist active'
expect_out ' cluster +delete-flannel +DaemonSet kube-flannel/kube-flannel-ds deleted \(foreground\) and gone$'
expect_out ' cluster +labels +projectcalico\.org/node-network-during-migration removed from 10 node\(s\)$'
expect_out '^Migrated 10 node\(s\) to Calico in [0-9.]+ s of virtual \(a rehearsal.s prediction\) time; 0 skipped; 10 node\(s\) in the cluster\.$'
expect_out '^  calico-ready +[0-9.]+ s +[0-9.]+ s$'
# control-plane-1 goes after the workers
last=$(printf '%s\n' "$OUT" | awk '$5 == "cordon" { n = $4 } END { print n }')
[ "$last" = "control-plane-1" ] || fail "last node: $last"
# the same fixture and seed give the same run: output and trace byte for byte, in separate processes
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for i in 1 2; do
    "$B" --fake "$F" --seed 7 --trace "$dir/t$i.jsonl" migrate >"$dir/out$i" 2>&1 || fail "seeded run $i failed"
done
cmp -s "$dir/out1" "$dir/out2" || fail "two runs with --seed 7 printed different timelines"
cmp -s "$dir/t1.jsonl" "$dir/t2.jsonl" || fail "two runs with --seed 7 wrote different traces: $(diff "$dir/t1.jsonl" "$dir/t2.jsonl" | head -4)"
done_ok
