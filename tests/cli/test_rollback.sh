#!/bin/sh
# rollback on the 10-node fixture (a node an operator cordoned): a migration stopped at many points
# (killed right after its Nth API write, as kill -9 would: --fault crash:afterWrites=N, the cluster
# kept with --fake-save), then rolled back, ends as it started (tests/k8s/rollback_end.lua, host by
# host against `fake host` of the start). After the completion: test_rollback_complete.sh; Canal,
# the Lease, the checks, the command line and HTTP: test_rollback_more.sh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
. "$(dirname "$0")/rollback_lib.sh"
start10
# nothing to roll back: exit 0 and no write
run "$B" --fake "$S" --trace "$dir/t0.jsonl" rollback
expect_rc 0
expect_out '^Nothing to roll back: DaemonSet kube-flannel/kube-flannel-ds runs without'
[ "$(writes "$dir/t0.jsonl" | wc -l)" -eq 0 ] || fail "rollback of an untouched cluster wrote"

# the stopping points in the whole migration: the preparation's (the Lease, the pool, flannel's
# selector), the first node's (the 1st, 3rd, 8th and 11th writes after that selector: its cordon,
# an eviction, its later steps), and
# the completion's (the backup, flannel's DaemonSet deleted, calico-node's selector, the last label)
points="$(first 'leases"') $(first 'ippools"') $(first 'daemonsets/kube-flannel-ds"')"
w1=$(first 'daemonsets/kube-flannel-ds"')
points="$points $((w1 + 1)) $((w1 + 3)) $((w1 + 8)) $((w1 + 11))"
points="$points $(grep -E 'configmaps"' "$dir/w1.txt" | tail -n1 | awk '{print $1}')"
points="$points $(first 'delete.*daemonsets/kube-flannel-ds') $(first 'daemonsets/calico-node"') $((total - 1))"
count=0
for n in $points; do
    stop_and_back "$S" "$n" "$dir/h10" kube-flannel kube-flannel-ds
    count=$((count + 1))
done
[ "$count" -eq 11 ] || fail "$count stopping points, expected 11"

done_ok
