#!/bin/sh
# What the simulated kubelets and scheduler leave for kubectl, as the real ones do: each node's
# Lease (kube-node-lease, renewed every 10 s of the cluster's clock, not once a kubelet stopped:
# tests/k8s/kubelet_fidelity.lua in simulation), the Scheduled, Pulled, Created, Started and Killing
# Events, a simulated container's log lines; then over `fake serve` with every kubectl version
# there is: `describe node` shows the Lease, `describe pod` and `get events` the Events with their
# sources, `logs` the container's lines; an evicted pod's DisruptionTarget condition. None of it is a request of the procedure: a rehearsal's
# trace has no script request for them (so the request budget, scripts/bench-migrate.sh, is unchanged).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
B=${CNI_MIGRATE:?}
S=$CM_SOURCE_DIR
dir=$(mktemp -d)
trap 'fake_stop; rm -rf "$dir" "$FAKE_DIR"' EXIT

run env LUA_PATH_5_4="$S/tests/lua/?.lua" "$B" --fake "$S/examples/clusters/flannel-3node.yaml" \
    --fault 'nodes:name=worker-2,notReadyAt=30s' run "$S/tests/k8s/kubelet_fidelity.lua"
expect_rc 0
expect_out '^ok: [0-9]+ checks$'

# an eviction writes the pod's DisruptionTarget condition (reason EvictionByEvictionAPI) before it
# deletes the pod, as the API server does: a watch sees it first, then the deletion
cat > "$dir/evict.lua" << 'EOF'
local c = assert(require("cm.k8s").client { qps = -1 })
local p
local list = assert(c:list { apiVersion = "v1", kind = "Pod" })
for _, x in ipairs(list.items) do
   if (x.metadata.ownerReferences or {})[1] and x.metadata.ownerReferences[1].kind == "ReplicaSet" then p = x end
end
local ref = { apiVersion = "v1", kind = "Pod", namespace = p.metadata.namespace, name = p.metadata.name }
local w = c:watch { apiVersion = "v1", kind = "Pod", namespace = ref.namespace, resourceVersion = list.metadata.resourceVersion,
   fieldSelector = "metadata.name=" .. p.metadata.name, timeout = 60 }
assert(c:evict(ref))
for ev in w do
   assert(ev.object and ev.object.status, ev.type .. " " .. tostring(ev.message))
   local cond = "none"
   for _, cd in ipairs(ev.object.status.conditions or {}) do
      if cd.type == "DisruptionTarget" then
         cond = ("%s %s %q %s"):format(cd.status, cd.reason, cd.message, cd.lastTransitionTime)
      end
   end
   print(ev.type, ev.object.metadata.deletionTimestamp and "terminating" or "running", cond)
   if ev.type == "DELETED" then break end
end
EOF
run "$B" --fake "$S/examples/clusters/flannel-calico-installed-4node.yaml" run "$dir/evict.lua"
expect_rc 0
expect_out '^MODIFIED	running	True EvictionByEvictionAPI "Eviction API: evicting" 2026-11-01T09:00:0[0-9]Z$'
expect_out '^MODIFIED	terminating	True EvictionByEvictionAPI '
expect_out '^DELETED	terminating	True EvictionByEvictionAPI '

# a rehearsal: the Leases and the kubelets' Events are the cluster's writes, none the script's
run "$B" --fake "$S/examples/clusters/flannel-calico-installed-4node.yaml" --trace "$dir/m.jsonl" migrate
expect_rc 0
[ "$(grep -c '"actor":"cluster","event":"ADDED","kind":"Lease","namespace":"kube-node-lease"' "$dir/m.jsonl")" -eq 4 ] ||
    fail "not one node Lease per node in the trace"
grep '"actor":"cluster","event":"MODIFIED","kind":"Lease","namespace":"kube-node-lease","name":"worker-1"' \
    "$dir/m.jsonl" >/dev/null || fail "worker-1's Lease was never renewed"
grep '"actor":"script"' "$dir/m.jsonl" | grep 'kube-node-lease' && fail "the script made a node Lease request"
n=$(grep '"actor":"script"' "$dir/m.jsonl" | grep '"verb":"create"' | grep -c '/events"')
[ "$n" -eq 20 ] || fail "the script created $n Events, its own 5 per node are 20"

VERSIONS=$KUBECTLS
if [ -z "$VERSIONS" ]; then
    echo "SKIP: no kubectl on this machine (the Lease, Events and logs were checked in simulation only)"
    exit 77
fi
fake_start "$S/examples/clusters/flannel-small.yaml" --speed 20
for K in $VERSIONS; do
    echo "== $K"
    run "$K" describe node worker-1
    expect_rc 0
    expect_out '^Lease:$'
    expect_out '^  HolderIdentity:  worker-1$'
    expect_out '^  AcquireTime:     <unset>$'
    expect_out '^  RenewTime:       Sun, 01 Nov 2026 09:[0-9:]+ \+0000$'
    before=$("$K" get pods -l app=web -o name)
    old=$(printf '%s\n' "$before" | head -n1)
    [ -n "$old" ] || fail "$K: no web pod"
    run "$K" delete "$old" --wait=true
    expect_rc 0
    new=""
    i=0
    while [ -z "$new" ] && [ $i -lt 100 ]; do # the ReplicaSet's new pod, started
        new=$("$K" get pods -l app=web -o name | while read -r p; do
            printf '%s\n' "$before" | grep -qx "$p" ||
                { "$K" get events --field-selector "involvedObject.name=${p#pod/},reason=Started" -o name | grep -q . && echo "${p#pod/}"; }
        done | head -n1)
        [ -n "$new" ] || sleep 0.2
        i=$((i + 1))
    done
    [ -n "$new" ] || fail "$K: no new web pod started"
    run "$K" describe pod "$new"
    expect_rc 0
    expect_out '^  Normal  Scheduled  [0-9a-z<>]+ +default-scheduler  Successfully assigned default/'"$new"' to worker-[0-9]$'
    expect_out '^  Normal  Pulled     [0-9a-z<>]+ +kubelet            Container image "nginx:1\.27" already present on machine$'
    expect_out '^  Normal  Created    [0-9a-z<>]+ +kubelet            Created container: nginx$'
    expect_out '^  Normal  Started    [0-9a-z<>]+ +kubelet            Started container nginx$'
    run "$K" get events --field-selector "involvedObject.name=${old#pod/}"
    expect_rc 0
    expect_out "^[0-9a-z<>]+ +Normal +Killing +$old +Stopping container nginx$"
    run "$K" logs "$new"
    expect_rc 0
    expect_out "^2026-11-01T09:[0-9:.]+Z simulated container nginx \(image nginx:1\.27\) started on node worker-[0-9]$"
done
done_ok
