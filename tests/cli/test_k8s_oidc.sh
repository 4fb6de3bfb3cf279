#!/bin/sh
# The kubeconfig's auth-provider: oidc as client-go's plugin does it, against the loopback test API
# server and its OpenID Connect issuer (tests/k8s/apiserver.py, /idp): the id-token as the bearer
# token; past its exp, the token endpoint by discovery, the refresh grant, and the new id-token and
# refresh-token written back into the kubeconfig file that defined the user; gcp and azure fail with
# client-go's words since their removal.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../k8s/env.sh"

start_server http
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
# jwt EXP: an unsigned JWT that expires at EXP (seconds since the epoch)
jwt() { printf '%s.%s.sig' "$(printf '{"alg":"none"}' | b64url)" "$(printf '{"sub":"u","exp":%s}' "$1" | b64url)"; }
now=$(date +%s)
OLD=$(jwt $((now - 100)))
NEW=$(jwt $((now + 3600)))
D="$TMP/http"
# the cluster and context in one file, the user in another: the token goes back to the user's file
cat >"$D/a" <<YAML
apiVersion: v1
kind: Config
current-context: t
clusters: [{name: c, cluster: {server: "http://127.0.0.1:$PORT"}}]
contexts: [{name: t, context: {cluster: c, user: u}}]
YAML
user() { # user ID_TOKEN REFRESH_TOKEN [PROVIDER]
    cat <<YAML
apiVersion: v1
kind: Config
users:
- name: u
  user:
    auth-provider:
      name: ${3:-oidc}
      config:
        idp-issuer-url: http://127.0.0.1:$PORT/idp
        client-id: cid
        client-secret: se/cret
        id-token: $1
        refresh-token: $2
YAML
}
user "$OLD" rt1 >"$D/b"
chmod 600 "$D/b"
cp "$D/a" "$D/a.before"
export KUBECONFIG="$D/a:$D/b"
printf '{"tokens": ["%s"], "oidc": {"refresh_token": "rt1", "id_token": "%s", "new_refresh_token": "rt2"}}' \
    "$NEW" "$NEW" >"$D/control.json"
run_lua http oidc.lua refresh "$NEW"
grep -qF "id-token: $NEW" "$D/b" || fail "the new id-token was not written back to the user's file"
grep -q 'refresh-token: rt2' "$D/b" || fail "the new refresh-token was not written back"
grep -q 'idp-issuer-url: http://127.0.0.1' "$D/b" || fail "the rest of the config was lost"
[ "$(stat -c %a "$D/b")" = 600 ] || fail "the kubeconfig's mode changed"
cmp -s "$D/a" "$D/a.before" || fail "the file without the user changed"
# the next run: the written token is valid, nothing is refreshed
run_lua http oidc.lua valid "$NEW"
# expired, and no refresh-token: client-go's error
user "$OLD" "" >"$D/b"
run_lua http oidc.lua norefresh "$NEW"

# a failed refresh says why, as oauth2 does
user "$OLD" wrong >"$D/b"
cat >"$TMP/get.lua" <<'LUA'
local c, msg = require("cm.k8s").client()
if not c then print("client: " .. msg) return end
local _, err, reason = c:list { apiVersion = "v1", kind = "Node" }
print("list: " .. tostring(reason) .. ": " .. tostring(err))
LUA
run "$CNI_MIGRATE" run "$TMP/get.lua"
expect_rc 0
expect_out '^list: AuthFailed: failed to refresh token: oauth2: cannot fetch token: 400 Bad Request Response: .*invalid_grant'

# gcp and azure: removed from client-go, with these words; an unknown name; a missing setting
user x y gcp >"$D/b"
run "$CNI_MIGRATE" run "$TMP/get.lua"
expect_out '^client: The gcp auth plugin has been removed\.$'
expect_out '^Please use the "gke-gcloud-auth-plugin" kubectl/client-go credential plugin instead\.$'
expect_out '^See https://cloud\.google\.com/blog/products/containers-kubernetes/kubectl-auth-changes-in-gke for further details$'
user x y azure >"$D/b"
run "$CNI_MIGRATE" run "$TMP/get.lua"
expect_out '^client: The azure auth plugin has been removed\.$'
expect_out '^Please use the https://github\.com/Azure/kubelogin kubectl/client-go credential plugin instead\.$'
expect_out '^See https://kubernetes\.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins for further details$'
user x y keystone >"$D/b"
run "$CNI_MIGRATE" run "$TMP/get.lua"
expect_out '^client: no Auth Provider found for name "keystone"$'
user x y | grep -v client-id >"$D/b"
run "$CNI_MIGRATE" run "$TMP/get.lua"
expect_out '^client: Must provide client-id$'
done_ok
