#!/bin/sh
# rollback on the 10-node fixture (a node an operator cordoned) after the completion: it ends as it
# started (tests/k8s/rollback_end.lua); a rollback killed at its own writes and run again ends the
# same, and in its middle nodes on flannel and nodes on Calico reach each other
# (tests/k8s/rollback_mixed.lua); flannel's CNI config written from its ConfigMap where the backup
# is gone; --remove-calico-state; a migration after a rollback.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
. "$(dirname "$0")/rollback_lib.sh"
start10
# after the completion
cp "$END" "$dir/stop.yaml"
run "$B" --fake "$dir/stop.yaml" --fake-save "$dir/back.yaml" rollback
expect_rc 0
expect_out ' cluster +label-calico +projectcalico\.org/node-network-during-migration=calico on 10 node\(s\) running Calico$'
expect_out ' cluster +flannel-ds +DaemonSet kube-flannel/kube-flannel-ds recreated from ConfigMap cni-migrate-flannel-backup'
expect_out ' cluster +calico-selector +DaemonSet kube-system/calico-node: nodeSelector projectcalico\.org/node-network-during-migration=calico$'
expect_out ' worker-1 +flannel-check +flannel\.1 VNI 1 MAC 9e:3a:7c:00:00:02 \(the node.s VtepMAC\), /etc/cni/net\.d/10-flannel\.conflist active'
expect_out ' worker-3 +uncordon +in-progress removed \(left cordoned: not ours\)$'
expect_out ' cluster +flannel-selector +DaemonSet kube-flannel/kube-flannel-ds: nodeSelector removed \(it had none\)$'
expect_out '^Rolled back 10 node\(s\) to flannel in [0-9.]+ s of virtual'
for step in cordon drain label-none calico-gone calico-cleanup delete-pods label-flannel flannel-ready flannel-check uncordon; do
    k=$(printf '%s\n' "$OUT" | awk -v s="$step" '$5 == s' | wc -l)
    [ "$k" -eq 10 ] || fail "rollback step $step: $k node(s), expected 10"
done
# mixed operation held: no node step waited on a network that was not there
expect_no_out 'Timeout'
cp "$dir/back.yaml" "$dir/back-complete.yaml"
check_back "$S" "$H" kube-flannel kube-flannel-ds
# a second rollback has nothing to do
run "$B" --fake "$dir/back.yaml" rollback
expect_rc 0
expect_out '^Nothing to roll back'
# the rollback killed at its own writes, then run again: the same end
run "$B" --fake "$END" --trace "$dir/t2.jsonl" rollback
writes "$dir/t2.jsonl" >"$dir/w2.txt"
rtotal=$(wc -l <"$dir/w2.txt")
[ "$rtotal" -gt 100 ] || fail "the rollback made $rtotal writes"
for m in 1 3 $((rtotal / 3)) $((rtotal / 2)) $((rtotal - 5)) $((rtotal - 1)); do
    run "$B" --fake "$END" --fault "crash:afterWrites=$m" --fake-save "$dir/rstop.yaml" rollback
    expect_rc 137
    if [ "$m" -eq $((rtotal / 3)) ] || [ "$m" -eq $((rtotal / 2)) ]; then # mixed operation holds
        run "$B" --fake "$dir/rstop.yaml" --log-level warn run "$CM_SOURCE_DIR/tests/k8s/rollback_mixed.lua" 1
        expect_rc 0
        expect_out '^ok: [0-9]+ checks$'
    fi
    run "$B" --fake "$dir/rstop.yaml" --fake-save "$dir/back.yaml" rollback
    expect_rc 0
    check_back "$S" "$H" kube-flannel kube-flannel-ds
    [ "$RC" -eq 0 ] || echo "(rollback resumed after its write $m)" >&2
done

# a node whose copy of flannel's CNI config (flannel-cleanup's backup) is gone: calico-cleanup
# writes it from flannel's ConfigMap (cni-conf.json), and the host ends as flannel made it
cat >"$dir/nocopy.lua" <<'EOF'
assert(require("cm.fake").host("worker-1"):remove("/var/lib/cni-migrate/backup/10-flannel.conflist"))
EOF
run "$B" --fake "$END" --fake-save "$dir/nocopy.yaml" run "$dir/nocopy.lua"
expect_rc 0
run "$B" --fake "$dir/nocopy.yaml" --fake-save "$dir/back.yaml" rollback
expect_rc 0
expect_out ' worker-1 +calico-cleanup .*restored /etc/cni/net\.d/10-flannel\.conflist \(written from flannel.s ConfigMap\) \([0-9.]+s\)$'
expect_out ' worker-2 +calico-cleanup .*restored /etc/cni/net\.d/10-flannel\.conflist \([0-9.]+s\)$'
check_back "$S" "$H" kube-flannel kube-flannel-ds

# a migration after a rollback succeeds (its end state is checked on Canal below)
run "$B" --fake "$dir/back-complete.yaml" migrate
expect_rc 0
expect_out '^Migrated 10 node\(s\) to Calico'
expect_out ' worker-3 +uncordon +in-progress removed \(left cordoned: not ours\)$'

# --remove-calico-state: Calico's objects and node data as at the start too; a migration after it
run "$B" --fake "$END" --fake-save "$dir/back.yaml" rollback --remove-calico-state
expect_rc 0
expect_out ' cluster +ippool +IPPool default-ipv4-ippool deleted \(the migration made it\)$'
expect_out ' cluster +ipam +40 block affinit\(ies\), 40 block\(s\), [0-9]+ handle\(s\) deleted$'
check_back "$S" "$H" kube-flannel kube-flannel-ds clean
run "$B" --fake "$dir/back.yaml" migrate
expect_rc 0
expect_out ' cluster +ippool +IPPool default-ipv4-ippool: 10\.244\.0\.0/16'
expect_out '^Migrated 10 node\(s\) to Calico'

done_ok
