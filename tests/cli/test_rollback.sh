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

# the stopping points in the whole migration: the preparation's (the Lease, the saved settings,
# the pool, IPAM, flannel's selector), steps of the first node, each step of the completion, and
# every 90th write besides
points="$(first 'leases"') $(first 'configmaps"') $(first 'ippools"') $(first 'blockaffinities"')
 $(first 'daemonsets/kube-flannel-ds"')"
w1=$(grep -E '"path":"/api/v1/nodes/worker-1"' "$dir/w1.txt" | awk '{print $1}' | tail -n 4 | tr '\n' ' ')
points="$points $w1 $((${w1%% *} + 2)) $((${w1%% *} + 8))"
points="$points $(grep -E 'configmaps"' "$dir/w1.txt" | tail -n1 | awk '{print $1}')"
points="$points $(first 'delete.*daemonsets/kube-flannel-ds') $(first 'daemonsets/calico-node"') $((total - 6)) $((total - 1))"
n=90
while [ "$n" -lt "$total" ]; do points="$points $n"; n=$((n + 90)); done
count=0
for n in $points; do
    stop_and_back "$S" "$n" "$dir/h10" kube-flannel kube-flannel-ds
    count=$((count + 1))
done
[ "$count" -ge 14 ] || fail "only $count stopping points"

done_ok
