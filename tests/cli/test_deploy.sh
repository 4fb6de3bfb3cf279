#!/bin/sh
# examples/deploy/migration-job.yaml: its Job is as contracts name it (kube-system/flannel-migration,
# k8s-app=flannel-migration-controller, hostNetwork, every taint tolerated, system-cluster-critical,
# the Downward API's variables), and its ClusterRole grants exactly what a migration asks for: every
# request of a rehearsal of the 10-node fixture, and of one whose node step fails, is allowed by a
# rule, and every verb of every rule is asked for by one of them (tests/k8s/deploy_rbac.lua).
. "$(dirname "$0")/lib.sh"
B=${CNI_MIGRATE:?}
SRC=${CM_SOURCE_DIR:?}
F="$SRC/examples/clusters/flannel-calico-installed-10node.yaml"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export LUA_PATH_5_4="$SRC/tests/lua/?.lua"

run "$B" --fake "$F" --trace "$TMP/migrate.jsonl" migrate
expect_rc 0
# a node step that fails: the failed node-run pod is read for its reason
mkdir -p "$TMP/lua/node"
printf 'return { host_paths = {}, main = function() return nil, "site check failed", "EBOOM" end }\n' \
    >"$TMP/lua/node/calico-check.lua"
run "$B" --fake "$F" --lua-dir "$TMP/lua" --trace "$TMP/fail.jsonl" migrate
expect_rc 1
expect_out 'calico-check'

run "$B" run "$SRC/tests/k8s/deploy_rbac.lua" "$SRC/examples/deploy/migration-job.yaml" "$TMP/migrate.jsonl" \
    "$TMP/fail.jsonl"
expect_rc 0
expect_out '^job kube-system/flannel-migration: ghcr\.io/cni-migrate/cni-migrate:[0-9.]+ migrate$'
expect_out '^[0-9]+ requests, [0-9]+ permissions, each used$'
echo "$OUT"

# a rule too many, or one too few, is found
sed 's/verbs: \[get, list, patch\]/verbs: [get, list, patch, watch]/' "$SRC/examples/deploy/migration-job.yaml" \
    >"$TMP/extra.yaml"
run "$B" run "$SRC/tests/k8s/deploy_rbac.lua" "$TMP/extra.yaml" "$TMP/migrate.jsonl" "$TMP/fail.jsonl"
expect_rc 1
expect_out 'granted but never asked for: nodes watch$'
grep -v 'pods/eviction\]' "$SRC/examples/deploy/migration-job.yaml" | sed '/^  # The drain, as kubectl/,/verbs: \[create\]/d' \
    >"$TMP/less.yaml"
run "$B" run "$SRC/tests/k8s/deploy_rbac.lua" "$TMP/less.yaml" "$TMP/migrate.jsonl"
expect_rc 1
expect_out 'the ClusterRole lacks pods/eviction create \(POST /api/v1/namespaces/[^/]+/pods/[^/]+/eviction\)'
done_ok
