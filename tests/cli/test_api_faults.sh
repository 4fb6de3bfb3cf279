#!/bin/sh
# A migration under API faults (runtime/fake's fault filter): 5% 500s and 429s with and without
# Retry-After, reset connections, dropped watches, slow and failing calico-node starts, a node going
# NotReady in its drain, a PDB that never allows a disruption, a pod stuck Terminating. Each run
# completes, or stops with exit 1 and a clear last line (never a hang, a traceback or another
# code), leaving what tests/k8s/fault_stop.lua checks (at most one node cordoned by the run, labels
# consistent with the steps, a CNI config on every host); run again on what it saved, with the
# faults off (and the NotReady node back: tests/k8s/node_back.lua), it reaches the end state of an
# uninterrupted run (tests/k8s/migrate_state.lua).
# The drain scenarios give --drain-timeout 2m: without a limit the drain waits, as kubectl's does.
. "$(dirname "$0")/lib.sh"
B=${CNI_MIGRATE:?}
F="${CM_SOURCE_DIR:?}/examples/clusters/flannel-calico-installed-4node.yaml"
S="$CM_SOURCE_DIR/tests/k8s/migrate_state.lua"
C="$CM_SOURCE_DIR/tests/k8s/fault_stop.lua"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

run "$B" --fake "$F" --fake-save "$dir/end0.yaml" migrate
expect_rc 0
"$B" --fake "$dir/end0.yaml" --log-level warn run "$S" >"$dir/state0.txt" 2>&1 || fail "state of the uninterrupted run"

runs=0
completed=0
stopped=0
resumed=0
while read -r name seed flags; do
    [ -n "$name" ] || continue
    runs=$((runs + 1))
    # shellcheck disable=SC2086 # the scenario's flags, one word each
    run "$B" --fake "$F" --seed "$seed" $flags --fake-save "$dir/stop.yaml" migrate
    injected=$(printf '%s\n' "$OUT" | sed -n 's/.*INFO  faults injected: \([0-9]*\) .*/\1/p')
    [ "${injected:-0}" -gt 0 ] || fail "$name: no fault injected"
    case $RC in
    0) completed=$((completed + 1)); how="completed" ;;
    1) stopped=$((stopped + 1))
       last=$(printf '%s\n' "$OUT" | grep -v 'INFO  \(simulation done\|faults injected\)' | tail -n1)
       reason=$(printf '%s\n' "$OUT" | grep '^cni-migrate: ' | tail -n1)
       printf '%s\n' "$reason" | grep -Eq '^cni-migrate: migrate: .{10,}' || fail "$name: stopped without a reason line"
       printf '%s\n' "$OUT" | grep -q 'stack traceback' && fail "$name: stopped with a traceback"
       how="stopped: $(echo "$reason" | cut -c14-160)"
       [ "$last" = "(the run can be resumed: run it again)" ] || echo "$name: ends with: $last" ;;
    *) fail "$name: exit $RC" ; how="exit $RC" ;;
    esac
    echo "$name ($injected fault(s)): $how"
    run "$B" --fake "$dir/stop.yaml" --log-level warn run "$C"
    expect_out '^ok: [0-9]+ checks$'
    [ "$RC" -eq 0 ] || echo "($name: what the stopped run left)" >&2
    if [ "$name" = not-ready ]; then # NotReady is a blocker until the node is back, as an operator sees to
        run "$B" --fake "$dir/stop.yaml" --fake-save "$dir/stop.yaml" run "$CM_SOURCE_DIR/tests/k8s/node_back.lua" worker-2
        expect_out '^back: worker-2$'
    fi
    run "$B" --fake "$dir/stop.yaml" --fake-save "$dir/end.yaml" migrate
    [ "$RC" -eq 0 ] || fail "$name: the rerun without faults: exit $RC"
    "$B" --fake "$dir/end.yaml" --log-level warn run "$S" >"$dir/state.txt" 2>&1 || fail "$name: state after the rerun"
    if cmp -s "$dir/state.txt" "$dir/state0.txt"; then
        resumed=$((resumed + 1))
    else
        fail "$name: the rerun without faults ended elsewhere than an uninterrupted run"
        diff "$dir/state0.txt" "$dir/state.txt" | cut -c1-300 | head -10 >&2
    fi
done <<'EOF2'
errors      3 --fault requests:error=500,rate=0.05 --fault requests:error=429,retryAfter=1,rate=0.05 --fault requests:error=429,rate=0.05
retry-after 4 --fault requests:error=429,retryAfter=1,rate=0.05 --fault requests:error=500,retryAfter=2,rate=0.05
resets      3 --fault requests:error=reset,rate=0.05
watch-drops 3 --fault watchDrops:rate=0.5,within=10s
slow-calico 3 --fault pods:imagePrefix=quay.io/calico/,startDelay=60s
fail-calico 3 --fault pods:imagePrefix=quay.io/calico/,rate=0.5,fail=ErrImagePull
not-ready   3 --fault nodes:name=worker-2,notReadyAt=8s --drain-timeout 2m
pdb         3 --fault pdbs:namespace=kube-system,name=calico-kube-controllers --drain-timeout 2m
stuck       3 --fault terminating:namespace=kube-system,selector=k8s-app=kube-dns --drain-timeout 2m
mixed       5 --fault requests:error=500,rate=0.02 --fault watchDrops:rate=0.3,within=20s --fault pods:imagePrefix=quay.io/calico/,startDelay=20s
EOF2
echo "fault runs: $runs, completed $completed, stopped resumably $stopped; reruns without faults at the uninterrupted end state: $resumed"
done_ok
