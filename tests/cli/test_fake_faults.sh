#!/bin/sh
# Injected faults against `fake serve --fault ...`: a connection closed without an answer (curl,
# and cm.k8s retrying a read over HTTP but not a write), a node gone NotReady as kubectl shows it,
# `kubectl drain --timeout` blocked by a PDB that never allows a disruption, a pod that stays
# Terminating; each fault reported on the server's stderr.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
B=${CNI_MIGRATE:?}
S=${CM_SOURCE_DIR:?}
F="$S/examples/clusters/flannel-small.yaml"
command -v curl >/dev/null || { echo "SKIP: curl is not installed"; exit 77; }
command -v kubectl >/dev/null || { echo "SKIP: kubectl is not installed"; exit 77; }

# a reset: the first list of nodes gets no answer at all, the next one does
fake_start "$F" --fault requests:error=reset,resources=nodes,times=1
run curl -sS -o /dev/null "$URL/api/v1/nodes"
[ "$RC" -eq 52 ] || [ "$RC" -eq 56 ] || fail "curl exited $RC, not 52 (empty reply) or 56 (reset)"
run curl -sS -o /dev/null -w '%{http_code}\n' "$URL/api/v1/nodes"
expect_rc 0
expect_out '^200$'
grep -q '^fault reset {"verb":"list","method":"GET","path":"/api/v1/nodes"}$' "$FAKE_DIR/stderr" ||
    fail "the server did not report the reset"

# cm.k8s over HTTP: a read is retried after two resets, a write is not
fake_start "$F" --fault requests:error=reset,verbs=get,times=2,resources=nodes --fault requests:error=reset,verbs=patch
run env LUA_PATH_5_4="$S/tests/lua/?.lua" "$B" --kubeconfig "$KUBECONFIG" run "$S/tests/k8s/faults.lua" reset
expect_rc 0
expect_out "^write: ConnectionReset: "
expect_out "^ok: "
# libcurl sends a request once more by itself when a reused connection closes without an answer,
# so the server can see each reset twice
[ "$(grep -c '^fault reset ' "$FAKE_DIR/stderr")" -ge 3 ] || fail "expected 3 resets or more on the server"

# a 429 with Retry-After over HTTP: retried after it
fake_start "$F" --fault requests:error=429,retryAfter=1,times=2,resources=nodes
run env LUA_PATH_5_4="$S/tests/lua/?.lua" "$B" --kubeconfig "$KUBECONFIG" run "$S/tests/k8s/faults.lua" retry
expect_rc 0
expect_out "^ok: "
run curl -sS -D - -o "$FAKE_DIR/body" "$URL/api/v1/nodes/worker-1"
expect_rc 0
expect_out '^HTTP/1.1 200'

# the server's Status body and header, byte for byte
fake_start "$F" --fault requests:error=429,retryAfter=3,times=1,resources=nodes
run curl -sS -D - "$URL/api/v1/nodes/worker-1"
expect_out '^HTTP/1.1 429'
expect_out '^Retry-After: 3'
expect_out '^\{"kind":"Status","apiVersion":"v1","metadata":\{\},"status":"Failure","message":"Too many requests, please try again later\.","reason":"TooManyRequests","details":\{"retryAfterSeconds":3\},"code":429\}$'

# a node NotReady, a PDB that never allows a disruption, a pod stuck terminating
fake_start "$F" --fault nodes:name=worker-2 --fault pdbs:name=web --fault terminating:name=web-7d9f8b6c5-b7m9q --seed 4
run kubectl get nodes
expect_rc 0
expect_out '^worker-2 +NotReady +<none> '
expect_out '^worker-1 +Ready +<none> '
run kubectl describe node worker-2
expect_out 'Taints: +node\.kubernetes\.io/unreachable:NoExecute'
expect_out '^ +node\.kubernetes\.io/unreachable:NoSchedule'
expect_out '^ +Ready +Unknown .* NodeStatusUnknown +Kubelet stopped posting node status\.$'
expect_out 'NodeNotReady +[0-9a-z]+ +node-controller +Node worker-2 status is now: NodeNotReady'
run kubectl get pdb web
expect_out '^web +N/A +1 +0 '
run kubectl drain worker-1 --ignore-daemonsets --delete-emptydir-data --timeout=7s
expect_rc 1
expect_out "error when evicting pods/\"web-7d9f8b6c5-x2k4p\" -n \"default\" \(will retry after 5s\): Cannot evict pod as it would violate the pod's disruption budget\."
expect_out 'error when evicting pods/"web-7d9f8b6c5-x2k4p" -n "default": global timeout reached: 7s'
grep -q '^fault pdbBlocked {"namespace":"default","pdb":"web","pod":"web-7d9f8b6c5-x2k4p"}$' "$FAKE_DIR/stderr" ||
    fail "the server did not report the refused eviction"
run kubectl delete pod web-7d9f8b6c5-b7m9q --grace-period=1 --wait=false
expect_rc 0
sleep 3
run kubectl get pod web-7d9f8b6c5-b7m9q
expect_rc 0
expect_out '^web-7d9f8b6c5-b7m9q +1/1 +Terminating '

# behind --token the faults still act: their writes are the cluster's own, which no token guards
fake_start "$F" --token s3cret --fault nodes:name=worker-2,notReadyAt=1s
sleep 2
run curl -sS -H "Authorization: Bearer s3cret" "$URL/api/v1/nodes/worker-2"
expect_out '"type":"Ready","status":"Unknown"'
expect_out '"effect":"NoExecute","key":"node.kubernetes.io/unreachable"'
fake_stop
[ "${FAKE_RC:-0}" -eq 0 ] || fail "fake serve exited $FAKE_RC after SIGTERM"

# bad flags: exit 2, one line
run "$B" fake serve "$F" --fault nodes:notReadyAt=5s
expect_rc 2
expect_out "^cni-migrate: --fault 'nodes:notReadyAt=5s': name: missing \(the node's name\)$"
expect_lines 1
done_ok
