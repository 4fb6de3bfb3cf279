#!/bin/sh
# cm.k8s over HTTP against the loopback test API server (tests/k8s/apiserver.py):
# requests, errors, retries, paging, dry run, rate limit (tests/k8s/requests.lua),
# watch (tests/k8s/watch.lua), and the Warning header logged once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../k8s/env.sh"

start_server http
http_kubeconfig http
run_lua http requests.lua
warn_out=$OUT
run_lua http watch.lua
OUT=$warn_out
[ "$(printf '%s\n' "$OUT" | grep -c 'Kubernetes API warning.*v1 Node warned is deprecated')" -eq 1 ] ||
    fail "the Warning header was not logged exactly once"
expect_no_out 'Bearer|tok[^a-z]'

# the run's flags: --kubeconfig (used alone), --context, --namespace, --dry-run=server
cat >"$TMP/http/other" <<YAML
current-context: t
clusters: [{name: c, cluster: {server: "http://127.0.0.1:$PORT"}}]
users: [{name: u, user: {token: tok2}}]
contexts: [{name: t, context: {cluster: c, user: u, namespace: ns1}}, {name: o, context: {cluster: c, user: u, namespace: ns2}}]
YAML
run env K8S_TEST_DIR="$TMP/http" "$CNI_MIGRATE" --kubeconfig "$TMP/http/other" --context o \
    run "$SRC/tests/k8s/flags.lua" o ns2 false
expect_rc 0
expect_out '^ok: [0-9]+ checks$'
run env K8S_TEST_DIR="$TMP/http" "$CNI_MIGRATE" --kubeconfig="$TMP/http/other" --namespace ns7 \
    --dry-run=server run "$SRC/tests/k8s/flags.lua" t ns7 true
expect_rc 0
expect_out '^ok: [0-9]+ checks$'
# -v logs each request without its credentials
run env K8S_TEST_DIR="$TMP/http" "$CNI_MIGRATE" -v --kubeconfig "$TMP/http/other" --context o \
    run "$SRC/tests/k8s/flags.lua" o ns2 false
expect_rc 0
expect_out 'DEBUG k8s request method=POST url=http://127\.0\.0\.1:[0-9]+/api/v1/namespaces/ns2/configmaps status=201 ms=[0-9.]+ bytes=[0-9]+ sent=.*flagged.* received='
expect_no_out 'tok2'
cat >"$TMP/secret.lua" <<'LUA'
local c = assert(require("cm.k8s").client())
assert(c:create { apiVersion = "v1", kind = "ConfigMap", metadata = { name = "creds" },
   data = { token = "hunter2", password = "hunter3", plain = "visible" } })
assert(c:create { apiVersion = "v1", kind = "Secret", metadata = { name = "s1" },
   data = { anything = "aHVudGVyNA==" }, stringData = { more = "hunter5" } })
assert(c:list { apiVersion = "v1", kind = "Secret" })
LUA
run env K8S_TEST_DIR="$TMP/http" "$CNI_MIGRATE" -v --kubeconfig "$TMP/http/other" run "$TMP/secret.lua"
expect_rc 0
expect_out 'sent=.*token\\":\\"\[redacted\]'
expect_out 'plain\\":\\"visible'
expect_out 'secrets status=201 .*sent=.*data\\":\\"\[redacted\]'
expect_no_out 'hunter2|hunter3|aHVudGVyNA|hunter5'

# the run's deadline stops a request in flight and raises, as it does everywhere
cat >"$TMP/slow.lua" <<'LUA'
local c = assert(require("cm.k8s").client())
c:get { apiVersion = "v1", kind = "Node", name = "slow" }
print("not reached")
LUA
run "$CNI_MIGRATE" --timeout 1 run "$TMP/slow.lua"
expect_rc 1
expect_out 'slow\.lua:2: run exceeded its deadline of 1s$'
expect_no_out 'not reached'

run "$CNI_MIGRATE" --dry-run=client run "$SRC/tests/k8s/flags.lua"
expect_rc 2
expect_out "^cni-migrate: --dry-run: expected server or none, got 'client'$"
done_ok
