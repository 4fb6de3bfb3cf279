#!/bin/sh
# The fake serve command's contract: exit codes and messages for bad input, loopback only unless
# --allow-remote, the kubeconfig it writes, --token, --tls, a clean stop on SIGTERM.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
B=${CNI_MIGRATE:?}
FIXTURE="$CM_SOURCE_DIR/examples/clusters/flannel-3node.yaml"
if ! command -v curl >/dev/null 2>&1; then
    echo "SKIP: no curl on this machine"
    exit 77
fi

run "$B" fake
expect_rc 2
expect_out "^cni-migrate: fake: expected 'serve', got 'nothing'"
run "$B" fake serve
expect_rc 2
expect_out '^cni-migrate: fake serve: missing FIXTURE'
run "$B" fake serve "$FIXTURE" --frob
expect_rc 2
expect_out "^cni-migrate: fake serve: unknown flag '--frob'"
run "$B" fake serve "$FAKE_DIR/none.yaml"
expect_rc 2
expect_out "^cni-migrate: .*/none\.yaml: No such file or directory$"
printf 'apiVersion: v1\nkind: Node\nmetadata:\n  name: a\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  namespace: x\n' > "$FAKE_DIR/bad.yaml"
run "$B" fake serve "$FAKE_DIR/bad.yaml"
expect_rc 2
expect_out "^cni-migrate: .*/bad\.yaml:6: Deployment has no metadata\.name$"
printf 'kind: Node\nmetadata: {name: a\n' > "$FAKE_DIR/broken.yaml"
run "$B" fake serve "$FAKE_DIR/broken.yaml"
expect_rc 2
expect_out "^cni-migrate: .*/broken\.yaml:3: "
run "$B" fake serve "$FIXTURE" --listen 0.0.0.0:0
expect_rc 2
expect_out '^cni-migrate: --listen: 0\.0\.0\.0 is not a loopback address; .* needs --allow-remote$'
run "$B" fake serve "$FIXTURE" --listen localhost
expect_rc 2
expect_out "^cni-migrate: --listen: 'localhost' is not HOST:PORT"

# the kubeconfig, and the token it carries
fake_start "$FIXTURE" --token t0k3n
case "$URL" in http://127.0.0.1:[0-9]*) ;; *) fail "unexpected URL '$URL'" ;; esac
OUT=$(cat "$KUBECONFIG")
expect_out "^    server: $URL$"
expect_out '^    token: t0k3n$'
expect_out '^current-context: fake$'
run curl -s "$URL/api/v1/nodes"
expect_out '^\{"kind":"Status","apiVersion":"v1","metadata":\{\},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401\}$'
run curl -s -H 'Authorization: Bearer t0k3n' "$URL/api/v1/nodes/control-plane-1"
expect_out '"name":"control-plane-1"'
run curl -s -H 'Authorization: Bearer t0k3n' "$URL/version"
expect_out '"gitVersion":"v1\.32\.0-cni-migrate-fake"'
# a watch whose client goes away is closed within a few seconds, not at its timeout
before=$(ls "/proc/$FAKE_PID/fd" | wc -l)
watchers=""
for i in 1 2 3; do
    curl -sN -H 'Authorization: Bearer t0k3n' "$URL/api/v1/pods?watch=1" > /dev/null &
    watchers="$watchers $!"
done
sleep 1
during=$(ls "/proc/$FAKE_PID/fd" | wc -l)
[ "$during" -eq $((before + 3)) ] || fail "expected 3 more descriptors with 3 watches open: $before, then $during"
kill $watchers
wait $watchers 2>/dev/null
sleep 3
after=$(ls "/proc/$FAKE_PID/fd" | wc -l)
[ "$after" -eq "$before" ] || fail "watches of gone clients still open: $before descriptors before, $after after"
fake_stop
[ "$FAKE_RC" -eq 0 ] || fail "fake serve exited $FAKE_RC after SIGTERM, not 0"

# TLS: the CA in the kubeconfig verifies the server's certificate
fake_start "$FIXTURE" --tls
case "$URL" in https://127.0.0.1:[0-9]*) ;; *) fail "unexpected URL '$URL'" ;; esac
sed -n 's/^    certificate-authority-data: //p' "$KUBECONFIG" | base64 -d > "$FAKE_DIR/ca.pem"
run curl -s --cacert "$FAKE_DIR/ca.pem" "$URL/api/v1/namespaces/kube-flannel/configmaps/kube-flannel-cfg"
expect_out '"net-conf.json"'
run curl -s "$URL/api"
[ "$RC" -ne 0 ] || fail "curl trusted the fake's certificate without its CA"
fake_stop
[ "$FAKE_RC" -eq 0 ] || fail "fake serve --tls exited $FAKE_RC after SIGTERM, not 0"
done_ok
