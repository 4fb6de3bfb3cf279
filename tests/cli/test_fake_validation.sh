#!/bin/sh
# kubectl against `cni-migrate fake serve`: fieldValidation as the API server does it (kubectl
# sends Strict for create, replace and apply; --validate=warn sends Warn, --validate=false
# Ignore), for a built-in kind and for a custom resource whose CRD has a schema with
# x-kubernetes-preserve-unknown-fields; server-side apply refusing unknown fields; and the 422s of
# bad label keys and values and of too many annotations. Run with kubectl v1.32 (PATH) and the
# other versions the machine has among v1.27 and v1.33.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
VERSIONS=$KUBECTLS
if [ -z "$VERSIONS" ]; then
    echo "SKIP: no kubectl on this machine"
    exit 77
fi
D=$FAKE_DIR
cat > "$D/deploy.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: typo
spec:
  replicas: 1
  replica: 2
  selector: {matchLabels: {app: typo}}
  template:
    metadata: {labels: {app: typo}}
    spec:
      containers:
      - name: c
        image: nginx
        imagePullPolicyy: Always
YAML
cat > "$D/crd.yaml" <<'YAML'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
              free: {type: object, x-kubernetes-preserve-unknown-fields: true}
YAML
cat > "$D/widget.yaml" <<'YAML'
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
spec:
  size: 1
  colour: red
  free: {anything: {goes: here}}
YAML
BAD='Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.replica", unknown field "spec.template.spec.containers\[0\].imagePullPolicyy"$'

fields() {
    K=$1
    run "$K" create -f "$D/deploy.yaml"
    expect_rc 1
    expect_out '^Error from server \(BadRequest\): error when creating "'"$D"'/deploy.yaml": '"$BAD"
    run "$K" apply -f "$D/deploy.yaml"
    expect_rc 1
    expect_out '^Error from server \(BadRequest\): error when creating "'"$D"'/deploy.yaml": '"$BAD"
    run "$K" apply --server-side -f "$D/deploy.yaml"
    expect_rc 1
    expect_out '^Error from server: failed to create typed patch object \(default/typo; apps/v1, Kind=Deployment\): errors:$'
    expect_out '^  \.spec\.replica: field not declared in schema$'
    run "$K" create -f "$D/deploy.yaml" --validate=warn
    expect_rc 0
    expect_out '^Warning: unknown field "spec\.replica"$'
    expect_out '^Warning: unknown field "spec\.template\.spec\.containers\[0\]\.imagePullPolicyy"$'
    expect_out '^deployment\.apps/typo created$'
    run "$K" get deployment typo -o 'jsonpath={.spec.replicas} [{.spec.replica}] [{.spec.template.spec.containers[0].imagePullPolicyy}]'
    expect_out '^1 \[\] \[\]$'
    run "$K" replace -f "$D/deploy.yaml"
    expect_rc 1
    expect_out '^Error from server \(BadRequest\): error when replacing "'"$D"'/deploy.yaml": '"$BAD"
    run "$K" replace -f "$D/deploy.yaml" --validate=false
    expect_rc 0
    expect_no_out 'Warning'
    run "$K" delete deployment typo
    expect_rc 0
    # a custom resource: the CRD's schema decides, preserved fields stay
    run "$K" create -f "$D/widget.yaml"
    expect_rc 1
    expect_out '^Error from server \(BadRequest\): error when creating "'"$D"'/widget.yaml": Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec\.colour"$'
    run "$K" create -f "$D/widget.yaml" --validate=warn
    expect_out '^Warning: unknown field "spec\.colour"$'
    expect_out '^widget\.example\.com/w created$'
    run "$K" get widget w -o 'jsonpath={.spec}'
    expect_out '^\{"free":\{"anything":\{"goes":"here"\}\},"size":1\}$'
    run "$K" delete widget w
    expect_rc 0
}

metadata() {
    K=$1
    run "$K" create configmap ok --from-literal=a=b
    expect_rc 0
    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\n  labels:\n    -x: "a b"\n' > "$D/labels.yaml"
    run "$K" create -f "$D/labels.yaml"
    expect_rc 1
    expect_out '^The ConfigMap "bad" is invalid: $'
    expect_out "^\* metadata\.labels: Invalid value: \"-x\": name part must consist of alphanumeric characters, '-', '_' or '\.', and must start and end with an alphanumeric character \(e\.g\. 'MyName',  or 'my\.name',  or '123-abc', regex used for validation is '\(\[A-Za-z0-9\]\[-A-Za-z0-9_\.\]\*\)\?\[A-Za-z0-9\]'\)$"
    expect_out "^\* metadata\.labels: Invalid value: \"a b\": a valid label must be an empty string or consist of alphanumeric characters"
    run "$K" label configmap ok 'Bad_Prefix/x=1'
    expect_rc 1
    expect_out "^The ConfigMap \"ok\" is invalid: metadata\.labels: Invalid value: \"Bad_Prefix/x\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters"
    big=$(head -c 90000 /dev/zero | tr '\0' x)
    run "$K" annotate configmap ok "a=$big" "b=$big" "c=$big"
    expect_rc 1
    expect_out '^The ConfigMap "ok" is invalid: metadata\.annotations: Too long: may not be more than 262144 bytes$'
    run "$K" annotate configmap ok "Example.COM/Mixed-Case=1"
    expect_rc 0
    run "$K" delete configmap ok
    expect_rc 0
}

for K in $VERSIONS; do
    echo "== $K"
    # --no-sim: the API server's checks alone. With the simulation on, the Deployment controller
    # writes the new Deployment's status between kubectl replace's GET and its PUT once in a
    # while (often under ctest -j), and the PUT is a 409 Conflict, as a real API server answers it.
    fake_start "$CM_SOURCE_DIR/examples/clusters/flannel-1node.yaml" --no-sim
    run "$K" create -f "$D/crd.yaml"
    expect_out '^customresourcedefinition\.apiextensions\.k8s\.io/widgets\.example\.com created$'
    fields "$K"
    metadata "$K"
done
fake_stop
[ "${FAKE_RC:-0}" -eq 0 ] || fail "fake serve exited $FAKE_RC after SIGTERM"
done_ok
