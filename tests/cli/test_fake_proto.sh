#!/bin/sh
# kubectl's typed generators against `cni-migrate fake serve`: from v1.32 on they send protobuf
# bodies (the test checks that they do), before they sent JSON. Each generator runs once with an
# old kubectl (JSON, into namespace json) and once with each protobuf-sending kubectl (into its own
# namespace); the objects stored must be the same, apart from uid, resourceVersion, timestamps and
# names, and a few are checked field by field. Also: kubectl before v1.29 fetches OpenAPI v2 in
# protobuf before `create -f`/`apply`/`replace`, which must work without --validate=false.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
SDK=/usr/lib/google-cloud-sdk/bin
PROTO=""
command -v kubectl >/dev/null 2>&1 && kubectl version --client 2>/dev/null | grep -Eq 'v1\.(3[2-9])' &&
    PROTO="$(command -v kubectl)"
[ -x "$SDK/kubectl.1.33" ] && PROTO="$PROTO $SDK/kubectl.1.33"
OLD=""
for v in 1.27 1.28 1.29 1.30 1.31; do
    [ -z "$OLD" ] && [ -x "$SDK/kubectl.$v" ] && OLD="$SDK/kubectl.$v"
done
if [ -z "$PROTO" ] || [ -z "$OLD" ]; then
    echo "SKIP: needs a kubectl >= v1.32 (protobuf) and one of v1.27-v1.31 (JSON); have '$PROTO' '$OLD'"
    exit 77
fi
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

# gens KUBECTL NAMESPACE SUFFIX: every generator; cluster-scoped names end in SUFFIX.
gens() {
    K=$1 n=$2 s=$3
    for args in "create configmap c --from-literal=a=b --from-literal=empty=" \
        "create secret generic s --from-literal=user=admin --type=kubernetes.io/basic-auth" \
        "create secret generic s2 --from-literal=k=v" \
        "create serviceaccount sa" \
        "create deployment d --image=nginx:1.27 --replicas=3 --port=8080 -- sleep 10" \
        "create job j --image=busybox -- echo hi" \
        "create poddisruptionbudget p --selector=app=d --min-available=50%" \
        "create poddisruptionbudget p2 --selector=app=d --max-unavailable=1" \
        "create role r --verb=get --verb=list --resource=pods,deployments.apps --resource-name=x" \
        "create rolebinding rb --role=r --user=alice --serviceaccount=$n:sa --group=devs" \
        "create service clusterip svc --tcp=5678:8080 --tcp=443" \
        "create service clusterip headless --clusterip=None" \
        "create clusterrole cr$s --verb=get --resource=nodes --non-resource-url=/healthz" \
        "create clusterrole agg$s --aggregation-rule=team=a" \
        "create clusterrolebinding crb$s --clusterrole=cr$s --user=bob --group=ops" \
        "create priorityclass pc$s --value=1000 --description=high --preemption-policy=Never" \
        "create namespace ns$s"; do
        # shellcheck disable=SC2086 # args are words
        run "$K" -n "$n" $args
        expect_rc 0
        expect_out ' created$'
    done
}

# norm NS KUBECTL ARGS...: the object as JSON without what differs between two creations, its
# namespace NS written NS and its own uid (a Job's selector holds it) written UID.
norm() {
    ns=$1
    shift
    "$@" -o json | "$PY" -c '
import json, sys
o = json.load(sys.stdin)
m = o["metadata"]
uid = m.get("uid")
for k in ("uid", "resourceVersion", "creationTimestamp", "namespace", "name"):
    m.pop(k, None)
for mf in m.get("managedFields", []):
    mf.pop("time", None)
s = json.dumps(o, sort_keys=True).replace(sys.argv[1], "NS")
print(s.replace(uid, "UID") if uid else s)' "$ns"
}

fake_start "$CM_SOURCE_DIR/examples/clusters/flannel-3node.yaml" --no-sim # objects compared whole: nothing may act on them
run "$OLD" create namespace ns-json
gens "$OLD" ns-json json
for K in $PROTO; do
    echo "== $K"
    v=$("$K" version --client -o json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["minor"].rstrip("+"))')
    NS=ns-1$v
    run "$K" create namespace "$NS" -v=8
    expect_out 'Content-Type: application/vnd.kubernetes.protobuf'
    expect_out '^namespace/'"$NS"' created$'
    gens "$K" "$NS" "1$v"
    for r in configmap/c secret/s secret/s2 serviceaccount/sa deployment/d job/j pdb/p pdb/p2 role/r \
        rolebinding/rb service/svc service/headless; do
        want=$(norm ns-json kubectl -n ns-json get "$r")
        got=$(norm "$NS" kubectl -n "$NS" get "$r")
        [ "$want" = "$got" ] || { OUT="json:  $want
proto: $got"; fail "$K: $r differs from the one created from JSON"; }
    done
    for r in clusterrole/cr clusterrole/agg clusterrolebinding/crb priorityclass/pc namespace/ns; do
        want=$(norm ns-json kubectl get "${r}json" | sed 's/json"/SUFFIX"/g')
        got=$(norm "$NS" kubectl get "${r}1$v" | sed "s/1$v\"/SUFFIX\"/g")
        [ "$want" = "$got" ] || { OUT="json:  $want
proto: $got"; fail "$K: $r differs from the one created from JSON"; }
    done
    run kubectl -n "$NS" get secret s -o 'jsonpath={.type} {.data.user}'
    expect_out '^kubernetes.io/basic-auth YWRtaW4=$'
    run kubectl -n "$NS" get deployment d -o \
        'jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort} {.spec.template.spec.containers[0].command}'
    expect_out '^3 nginx:1\.27 8080 \["sleep","10"\]$'
    run kubectl -n "$NS" get pdb p p2 -o 'jsonpath={.items[0].spec.minAvailable} {.items[1].spec.maxUnavailable}'
    expect_out '^50% 1$'
    run kubectl -n "$NS" get rolebinding rb -o 'jsonpath={.roleRef.kind}/{.roleRef.name} {.subjects[*].kind}'
    expect_out '^Role/r User Group ServiceAccount$'
    run kubectl -n "$NS" get service svc -o 'jsonpath={.spec.ports[*].port} {.spec.ports[0].targetPort} {.spec.type}'
    expect_out '^5678 443 8080 ClusterIP$'
    run kubectl get priorityclass "pc1$v" -o 'jsonpath={.value} {.preemptionPolicy} {.description}'
    expect_out '^1000 Never high$'
    run kubectl get namespace "ns1$v" -o 'jsonpath={.spec.finalizers} {.status.phase}'
    expect_out '^\["kubernetes"\] Active$'
    run "$K" auth can-i create pods
    expect_out '^yes$'
    run "$K" -n "$NS" create configmap c
    expect_rc 1
    expect_out '^error: failed to create configmap: configmaps "c" already exists$'
done

# OpenAPI v2 for the kubectl versions that fetch it before validating on the server
for v in 1.27 1.28; do
    K="$SDK/kubectl.$v"
    [ -x "$K" ] || continue
    echo "== $K"
    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm%s\ndata:\n  a: "1"\n' "${v#1.}" > "$FAKE_DIR/cm.yaml"
    run "$K" create -f "$FAKE_DIR/cm.yaml" -v=6
    expect_out 'GET http://127\.0\.0\.1:[0-9]+/openapi/v2\?timeout=32s 200 OK'
    expect_out '^configmap/cm'"${v#1.}"' created$'
    run "$K" apply -f "$FAKE_DIR/cm.yaml"
    expect_rc 0
    expect_out '^configmap/cm'"${v#1.}"' configured$'
    run "$K" replace -f "$FAKE_DIR/cm.yaml"
    expect_out '^configmap/cm'"${v#1.}"' replaced$'
done
run curl -s "$URL/openapi/v2"
expect_out '"swagger":"2.0"'
fake_stop
[ "${FAKE_RC:-0}" -eq 0 ] || fail "fake serve exited $FAKE_RC after SIGTERM"
done_ok
