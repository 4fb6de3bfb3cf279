#!/bin/sh
# kubectl against `cni-migrate fake serve --no-sim` (the API server alone, a frozen cluster whose clock
# starts at 2026-11-01T09:00Z) on examples/clusters/flannel-small.yaml: get (wide, json,
# yaml, selectors), label/annotate, cordon/uncordon, the three patch types, create, server-side apply,
# delete, Calico custom resources (schema errors, 415 for SMP), watch, drain (evicting; blocked by a PDB until --timeout). Run with every kubectl version
# the machine has among v1.32 (PATH) and v1.33 (gcloud SDK), and v1.27 (all but watch).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
FIXTURE="$CM_SOURCE_DIR/examples/clusters/flannel-small.yaml"
SDK=/usr/lib/google-cloud-sdk/bin
VERSIONS=""
command -v kubectl >/dev/null 2>&1 && VERSIONS="$(command -v kubectl)"
[ -x "$SDK/kubectl.1.33" ] && VERSIONS="$VERSIONS $SDK/kubectl.1.33"
if [ -z "$VERSIONS" ]; then
    echo "SKIP: no kubectl on this machine"
    exit 77
fi

reads() {
    K=$1
    run "$K" get nodes
    expect_rc 0
    expect_lines 5
    expect_out '^worker-1 +Ready +<none> +6[0-9]m +v1\.32\.0$'
    expect_out '^cp-1 +Ready +control-plane '
    run "$K" get nodes -o wide
    expect_out '^worker-2 +Ready .* 10\.0\.0\.12 +<none> +Debian GNU/Linux 12 \(bookworm\) +6\.1\.0-28-amd64 +containerd://1\.7\.24$'
    run "$K" get pods -A -o wide --field-selector spec.nodeName=worker-3
    expect_rc 0
    expect_lines 4
    expect_out '^default +db-0 +1/1 +Running +0 +6[0-9]m +10\.244\.3\.20 +worker-3 '
    run "$K" get pods -l 'app in (web,db),app!=db' -o name
    expect_lines 3
    expect_out '^pod/web-7d9f8b6c5-x2k4p$'
    run "$K" get pods -A --field-selector spec.hostNetwork=true,status.phase=Running -o name
    expect_lines 4
    run "$K" get pods --field-selector spec.foo=bar
    expect_rc 1
    expect_out 'field selector "spec.foo=bar": field label not supported: spec.foo$'
    run "$K" get pods -l 'app in web'
    expect_rc 1
    expect_out "unable to parse requirement: found 'web' expected: '\('"
    run "$K" get node worker-1 -o json
    expect_out '"flannel.alpha.coreos.com/backend-type": "vxlan"'
    expect_out '"podCIDR": "10.244.1.0/24"'
    run "$K" get pods -n kube-flannel -o yaml
    expect_out '^kind: List$'
    expect_out '^  kind: Pod$'
    run "$K" get services -o wide
    expect_out '^web +ClusterIP +10\.96\.0\.20 +<none> +80/TCP +6[0-9]m +app=web$'
    run "$K" describe pod db-0
    expect_rc 0
    expect_out '^Events: +<none>$'
    run "$K" get pdb
    expect_out '^db +1 +N/A +0 '
    run "$K" get pods nope
    expect_rc 1
    expect_out '^Error from server \(NotFound\): pods "nope" not found$'
}

labels() {
    K=$1
    run "$K" label node worker-1 a=b
    expect_out '^node/worker-1 labeled$'
    run "$K" label node worker-1 a=c
    expect_rc 1
    expect_out "'a' already has a value \(b\), and --overwrite is false"
    run "$K" label node worker-1 a=c --overwrite
    expect_rc 0
    run "$K" annotate node worker-1 example.com/x=y
    expect_out '^node/worker-1 annotated?$'
    run "$K" get nodes -l a=c -o name
    expect_out '^node/worker-1$'
    run "$K" label node worker-1 a-
    expect_out '^node/worker-1 unlabeled$'
    run "$K" get nodes -l a -o name
    expect_empty
    run "$K" cordon worker-2
    expect_out '^node/worker-2 cordoned$'
    run "$K" cordon worker-2
    expect_out '^node/worker-2 already cordoned$'
    run "$K" get nodes worker-2
    expect_out '^worker-2 +Ready,SchedulingDisabled '
    run "$K" get nodes --field-selector spec.unschedulable=true -o name
    expect_out '^node/worker-2$'
    expect_lines 1
    run "$K" uncordon worker-2
    expect_out '^node/worker-2 uncordoned$'
}

patches() {
    K=$1
    run "$K" patch node worker-2 -p '{"metadata":{"labels":{"p":"smp"}}}'
    expect_out '^node/worker-2 patched$'
    run "$K" patch node worker-2 --type=merge -p '{"metadata":{"labels":{"m":"merge","p":null}}}'
    expect_rc 0
    run "$K" patch node worker-2 --type=json -p '[{"op":"test","path":"/metadata/labels/m","value":"merge"},{"op":"add","path":"/metadata/labels/j~1x","value":"json"}]'
    expect_rc 0
    run "$K" get node worker-2 -o 'jsonpath={.metadata.labels.m} {.metadata.labels.j/x} [{.metadata.labels.p}]'
    expect_out '^merge json \[\]$'
    run "$K" patch node worker-2 --type=json -p '[{"op":"test","path":"/metadata/labels/m","value":"nope"}]'
    expect_rc 1
    expect_out '^The request is invalid: the server rejected our request due to an error in our request$'
    run "$K" patch deployment web -p '{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.28"}]}}}}'
    expect_rc 0
    run "$K" get deployment web -o 'jsonpath={.metadata.generation} {.spec.template.spec.containers[*].name}={.spec.template.spec.containers[*].image}'
    expect_out '^2 nginx=nginx:1\.28$'
}

writes() {
    K=$1
    cat > "$FAKE_DIR/cm.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata:
  name: demo
data:
  a: "1"
YAML
    run "$K" create -f "$FAKE_DIR/cm.yaml"
    expect_out '^configmap/demo created$'
    run "$K" create -f "$FAKE_DIR/cm.yaml"
    expect_rc 1
    expect_out 'configmaps "demo" already exists$'
    sed -i 's/"1"/"2"/' "$FAKE_DIR/cm.yaml"
    run "$K" apply --server-side -f "$FAKE_DIR/cm.yaml"
    expect_rc 1
    expect_out '^error: Apply failed with 1 conflict: conflict with "kubectl-create" using v1: \.data\.a$'
    run "$K" apply --server-side --force-conflicts -f "$FAKE_DIR/cm.yaml"
    expect_out '^configmap/demo serverside-applied$'
    run "$K" get configmap demo -o 'jsonpath={.data.a}'
    expect_out '^2$'
    run "$K" patch configmap demo --type=merge -p '{"data":{"a":"9"}}'
    expect_rc 0
    run "$K" apply --server-side -f "$FAKE_DIR/cm.yaml"
    expect_rc 1
    expect_out '^error: Apply failed with 1 conflict: conflict with "kubectl-patch" using v1: \.data\.a$'
    run "$K" apply --server-side --force-conflicts -f "$FAKE_DIR/cm.yaml"
    expect_out '^configmap/demo serverside-applied$'
    run "$K" get configmap demo -o 'jsonpath={.data.a}'
    expect_out '^2$'
    run "$K" delete -f "$FAKE_DIR/cm.yaml"
    expect_out '^configmap "demo" deleted$'
    run "$K" get configmap demo
    expect_rc 1
    printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n' > "$FAKE_DIR/ns.yaml"
    run "$K" create -f "$FAKE_DIR/ns.yaml"
    expect_out '^namespace/team-a created$'
    run "$K" create -f "$FAKE_DIR/cm.yaml" -n nowhere
    expect_rc 1
    expect_out 'namespaces "nowhere" not found$'
    # typed generators send protobuf from v1.32 on (test_fake_proto.sh covers them all)
    run "$K" create namespace team-b
    expect_out '^namespace/team-b created$'
}

crds() {
    K=$1
    run "$K" get crd ippools.crd.projectcalico.org
    expect_out '^ippools\.crd\.projectcalico\.org +[0-9-]+T'
    cat > "$FAKE_DIR/pool.yaml" <<'YAML'
apiVersion: crd.projectcalico.org/v1
kind: IPPool
metadata:
  name: default-ipv4-ippool
spec:
  cidr: 10.244.0.0/16
  blockSize: 26
  vxlanMode: Always
  natOutgoing: true
  nodeSelector: all()
YAML
    run "$K" apply --server-side -f "$FAKE_DIR/pool.yaml"
    expect_out '^ippool\.crd\.projectcalico\.org/default-ipv4-ippool serverside-applied$'
    run "$K" get ippools
    expect_out '^default-ipv4-ippool +[0-9-]+T'
    sed 's/vxlanMode: Always/vxlanMode: Sometimes/; s/blockSize: 26/blockSize: "x"/; s/name: default-ipv4-ippool/name: bad/' \
        "$FAKE_DIR/pool.yaml" > "$FAKE_DIR/bad-pool.yaml"
    run "$K" create -f "$FAKE_DIR/bad-pool.yaml"
    expect_rc 1
    expect_out '^\* spec\.blockSize: Invalid value: "string": spec\.blockSize in body must be of type integer: "string"$'
    expect_out '^\* spec\.vxlanMode: Unsupported value: "Sometimes": supported values: "Never", "Always", "CrossSubnet"$'
    run "$K" patch ippool default-ipv4-ippool -p '{"spec":{"blockSize":24}}'
    expect_rc 1
    expect_out 'application/strategic-merge-patch\+json is not supported by crd\.projectcalico\.org/v1, Kind=IPPool'
    run "$K" patch ippool default-ipv4-ippool --type=merge -p '{"spec":{"blockSize":24}}'
    expect_rc 0
    run "$K" get ippool default-ipv4-ippool -o 'jsonpath={.spec.blockSize} {.metadata.generation}'
    expect_out '^24 2$'
}

watch() {
    K=$1
    "$K" get pods -w > "$FAKE_DIR/watch.out" 2>&1 &
    wpid=$!
    sleep 1
    "$K" label pod db-0 watched=yes >/dev/null
    sleep 1
    kill "$wpid" 2>/dev/null
    wait "$wpid" 2>/dev/null
    OUT=$(cat "$FAKE_DIR/watch.out")
    expect_out '^db-0 +1/1 +Running'
    n=$(grep -c '^db-0 ' "$FAKE_DIR/watch.out")
    [ "$n" -eq 2 ] || fail "get -w: expected db-0 twice (listed, then modified), got $n"
}

drains() {
    K=$1
    run "$K" drain worker-1 --ignore-daemonsets --delete-emptydir-data --timeout=30s
    expect_rc 0
    expect_out 'ignoring DaemonSet-managed Pods: kube-flannel/kube-flannel-ds-b'
    expect_out '^pod/web-7d9f8b6c5-x2k4p evicted$'
    expect_out '^node/worker-1 drained$'
    run "$K" get pods -A -o name --field-selector spec.nodeName=worker-1
    expect_lines 1
    expect_out '^pod/kube-flannel-ds-b$'
    run "$K" get pdb web -o 'jsonpath={.status.disruptionsAllowed} {.status.disruptedPods}'
    expect_out '^0 \{"web-7d9f8b6c5-x2k4p":'
    run "$K" drain worker-3 --ignore-daemonsets --delete-emptydir-data --timeout=7s
    expect_rc 1
    expect_out "error when evicting pods/\"db-0\" -n \"default\" \(will retry after 5s\): Cannot evict pod as it would violate the pod's disruption budget\."
    expect_out 'error when evicting pods/"db-0" -n "default": global timeout reached: 7s'
    run "$K" drain worker-3 --ignore-daemonsets
    expect_rc 1
    expect_out 'cannot delete Pods with local storage \(use --delete-emptydir-data to override\): default/web-7d9f8b6c5-z5n8w'
}

for K in $VERSIONS; do
    echo "== $K"
    fake_start "$FIXTURE" --no-sim
    reads "$K"
    labels "$K"
    patches "$K"
    writes "$K"
    crds "$K"
    watch "$K"
    drains "$K"
done
if [ -x "$SDK/kubectl.1.27" ]; then
    echo "== $SDK/kubectl.1.27"
    fake_start "$FIXTURE" --no-sim
    reads "$SDK/kubectl.1.27"
    labels "$SDK/kubectl.1.27"
    patches "$SDK/kubectl.1.27"
    writes "$SDK/kubectl.1.27"
    crds "$SDK/kubectl.1.27"
    drains "$SDK/kubectl.1.27"
fi
fake_stop
[ "${FAKE_RC:-0}" -eq 0 ] || fail "fake serve exited $FAKE_RC after SIGTERM"
done_ok
