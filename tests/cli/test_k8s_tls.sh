#!/bin/sh
# cm.k8s over TLS against the loopback test API server: a CA made here, a wrong CA
# refused with code TLS, insecure-skip-tls-verify, client certificates from files and
# from data, basic auth, tokenFile, exec plugins (v1, v1beta1) with expiry and re-run
# on 401 (tests/k8s/tls.lua), and the in-cluster service account with its token
# replaced mid-run (tests/k8s/incluster.lua).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../k8s/env.sh"

make_certs
P=$TMP/pki
start_server tls --tls "$P/server.crt" "$P/server.key" "$P/ca.crt"
mkdir -p "$TMP/tls/conf"
cp "$SRC/tests/k8s/plugin.sh" "$TMP/tls/conf/plugin.sh"
echo "file-token" >"$TMP/tls/conf/token"
S="https://127.0.0.1:$PORT"
# relative paths resolve against the kubeconfig's directory ($TMP/tls/conf)
cat >"$TMP/tls/conf/kubeconfig" <<YAML
apiVersion: v1
kind: Config
current-context: token
clusters:
- {name: good, cluster: {server: "$S", certificate-authority: ../../pki/ca.crt}}
- {name: good-data, cluster: {server: "$S", certificate-authority-data: $(b64 "$P/ca.crt")}}
- {name: wrong-ca, cluster: {server: "$S", certificate-authority-data: $(b64 "$P/other-ca.crt")}}
- {name: insecure, cluster: {server: "$S", insecure-skip-tls-verify: true}}
- {name: sni, cluster: {server: "$S", certificate-authority: ../../pki/ca.crt, tls-server-name: localhost}}
- {name: sni-wrong, cluster: {server: "$S", certificate-authority: ../../pki/ca.crt, tls-server-name: wrong.example}}
users:
- {name: token, user: {token: tok}}
- {name: cert-files, user: {client-certificate: ../../pki/client.crt, client-key: ../../pki/client.key}}
- {name: cert-data, user: {client-certificate-data: $(b64 "$P/client.crt"), client-key-data: $(b64 "$P/client.key")}}
- {name: basic, user: {username: admin, password: secret}}
- {name: token-file, user: {tokenFile: token}}
- name: exec
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./plugin.sh
      args: ["$TMP/tls/conf"]
      env: [{name: EXEC_GREETING, value: hello}]
      provideClusterInfo: true
      interactiveMode: Never
- name: exec-beta
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: ./plugin.sh
      args: ["$TMP/tls/conf", client.authentication.k8s.io/v1beta1]
- {name: exec-broken, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: "false"}}}
contexts:
- {name: token, context: {cluster: good, user: token}}
- {name: data, context: {cluster: good-data, user: token}}
- {name: wrong-ca, context: {cluster: wrong-ca, user: token}}
- {name: insecure, context: {cluster: insecure, user: token}}
- {name: sni, context: {cluster: sni, user: token}}
- {name: sni-wrong, context: {cluster: sni-wrong, user: token}}
- {name: cert-files, context: {cluster: good, user: cert-files}}
- {name: cert-data, context: {cluster: good, user: cert-data}}
- {name: basic, context: {cluster: good, user: basic}}
- {name: token-file, context: {cluster: good, user: token-file}}
- {name: exec, context: {cluster: good-data, user: exec}}
- {name: exec-beta, context: {cluster: good, user: exec-beta}}
- {name: exec-broken, context: {cluster: good, user: exec-broken}}
YAML
export KUBECONFIG="$TMP/tls/conf/kubeconfig"
run_lua tls tls.lua "$TMP/tls/conf"
expect_no_out 'secret|file-token|exec-[0-9]'

# in cluster: no kubeconfig anywhere, the service account directory instead
unset KUBECONFIG
mkdir -p "$TMP/sa"
cp "$P/ca.crt" "$TMP/sa/ca.crt"
echo "sa-1" >"$TMP/sa/token"
echo "kube-system" >"$TMP/sa/namespace"
run env KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$PORT" K8S_TEST_DIR="$TMP/tls" \
    "$CNI_MIGRATE" run "$SRC/tests/k8s/incluster.lua" "$TMP/sa"
expect_rc 0
expect_out '^ok: [0-9]+ checks$'

# no configuration at all
run "$CNI_MIGRATE" run "$SRC/tests/k8s/noconfig.lua"
expect_rc 0
expect_out '^ok: [0-9]+ checks$'
done_ok
