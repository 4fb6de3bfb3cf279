#!/bin/sh
# Secrets: a bearer token, a client key and a Secret's data are planted, and no output of a
# migration (its log at debug level, text and JSON, the --trace timeline, the --report page, the --fake-save file
# with its Events, fake serve's log and trace, the cluster's Events as kubectl lists them) or of
# fake snapshot (the fixture it writes, its debug log) shows
# any of them. TLS is verified by default: fake serve --tls without its CA in the kubeconfig is a
# clear error. fake serve listens on loopback only unless --allow-remote.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
B=${CNI_MIGRATE:?}
F="${CM_SOURCE_DIR:?}/examples/clusters/flannel-calico-installed-1node.yaml"
command -v openssl >/dev/null || { echo "SKIP: no openssl to make a client key"; exit 77; }
D=$FAKE_DIR
TOKEN=PLANTED-TOKEN-91c2e0
SECRET=PLANTED-SECRET-DATA-7f3a
SECRET64=$(printf '%s' "$SECRET" | base64)
{ cat "$F"; printf -- '---\napiVersion: v1\nkind: Secret\nmetadata: {name: planted, namespace: kube-system}\ntype: Opaque\ndata: {token: %s}\nstringData: {password: %s}\n' "$SECRET64" "$SECRET"; } >"$D/fixture.yaml"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=planted -days 2 \
    -keyout "$D/client.key" -out "$D/client.crt" 2>/dev/null || fail "openssl: no client key"
KEYLINE=$(sed -n 2p "$D/client.key") # a line of the key's base64 body
KEY64=$(base64 -w0 "$D/client.key")
# planted DIR-OR-FILES...: none of the planted values in these files
planted() {
    for f in "$@"; do
        for v in "$TOKEN" "$SECRET" "$SECRET64" "$KEYLINE" "$(printf '%s' "$KEY64" | cut -c1-40)"; do
            if grep -rqF -- "$v" "$f"; then
                OUT=$(grep -rnF -- "$v" "$f" | cut -c1-300 | head -n3)
                fail "$f shows a planted secret"
            fi
        done
    done
}

# in process: the Secret's data, at debug level, traced, saved and in the rehearsal's report
run "$B" --fake "$D/fixture.yaml" -v --trace "$D/t.jsonl" --fake-save "$D/saved.yaml" migrate --report "$D/report.html"
expect_rc 0
printf '%s\n' "$OUT" >"$D/out.txt"
grep -q 'DEBUG' "$D/out.txt" || fail "no debug log to look in"
[ -s "$D/report.html" ] && grep -q '<svg' "$D/report.html" || fail "--report: no report with its timeline to look in"
planted "$D/out.txt" "$D/t.jsonl" "$D/saved.yaml" "$D/report.html"
grep -q 'token: W3JlZGFjdGVkXQ==' "$D/saved.yaml" || fail "--fake-save: the Secret's data key is not kept, redacted"
echo "--fake-save: $(grep -c '^  kind: Event$' "$D/saved.yaml") Event(s) looked in"
run "$B" --fake "$D/saved.yaml" --log-format json -v --fake-save "$D/saved2.yaml" rollback
expect_rc 0
printf '%s\n' "$OUT" >"$D/out2.txt"
planted "$D/out2.txt" "$D/saved2.yaml"

# over HTTPS with a bearer token, then a client certificate and key
fake_start "$D/fixture.yaml" --tls --token "$TOKEN" --speed 50 --trace "$D/serve.jsonl"
grep -qF "token: $TOKEN" "$KUBECONFIG" || fail "fake serve's kubeconfig holds no token"
run "$B" -v --log-format json migrate
expect_rc 0
printf '%s\n' "$OUT" >"$D/http.txt"
grep -q '"level":"debug"' "$D/http.txt" || fail "no debug log over HTTP to look in"
sed "s|^\( *\)token: .*|\1client-certificate-data: $(base64 -w0 "$D/client.crt")\n\1client-key-data: $KEY64\n\1token: $TOKEN|" \
    "$KUBECONFIG" >"$D/cert.kubeconfig"
run "$B" --kubeconfig "$D/cert.kubeconfig" -v rollback
expect_rc 0
printf '%s\n' "$OUT" >"$D/http2.txt"
run "$B" --kubeconfig "$D/cert.kubeconfig" -v fake snapshot -o "$D/snapshot.yaml"
expect_rc 0
printf '%s\n' "$OUT" >"$D/snapshot.txt"
grep -q 'DEBUG' "$D/snapshot.txt" || fail "fake snapshot: no debug log to look in"
grep -q '^kind: FakeCluster$' "$D/snapshot.yaml" && grep -q '^  kind: Node$' "$D/snapshot.yaml" ||
    fail "fake snapshot: no Node and FakeCluster to look in"
! grep -q 'kind: Secret$' "$D/snapshot.yaml" || fail "fake snapshot: wrote a Secret"
run kubectl --kubeconfig "$KUBECONFIG" get events -A -o yaml
expect_rc 0
printf '%s\n' "$OUT" >"$D/events.yaml"
echo "kubectl get events: $(grep -c '^  kind: Event$' "$D/events.yaml") Event(s) looked in"
# TLS verified by default: without the CA, a clear error naming the certificate problem
grep -v 'certificate-authority-data' "$KUBECONFIG" >"$D/noca.kubeconfig"
run "$B" --kubeconfig "$D/noca.kubeconfig" preflight
expect_rc 1
expect_lines 1
expect_out '^cni-migrate: preflight: reading the cluster: GET https://127\.0\.0\.1:[0-9]+/[^ ]*: SSL certificate problem: (unable to get local issuer certificate|self[- ]signed certificate.*)$'
fake_stop
planted "$D/http.txt" "$D/http2.txt" "$D/snapshot.txt" "$D/snapshot.yaml" "$D/events.yaml" "$D/serve.jsonl" "$D/stderr"

# fake serve: loopback only unless told otherwise
run "$B" fake serve "$D/fixture.yaml" --listen 0.0.0.0:0
expect_rc 2
expect_lines 1
expect_out '^cni-migrate: --listen: 0\.0\.0\.0 is not a loopback address; .* needs --allow-remote$'
done_ok
