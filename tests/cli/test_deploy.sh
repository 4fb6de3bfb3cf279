#!/bin/sh
# examples/deploy/migration-job.yaml and rollback-job.yaml: the migration's Job is as contracts name it (kube-system/flannel-migration,
# k8s-app=flannel-migration-controller, hostNetwork, every taint tolerated, system-cluster-critical,
# the Downward API's variables), and its ClusterRole grants exactly what a migration asks for: every
# request of a rehearsal of the 10-node fixture, and of one whose node step fails, is allowed by a
# rule, and every verb of every rule is asked for by one of them (tests/k8s/deploy_rbac.lua); preflight's
# RBAC check asks for the same permissions; the rollback's ClusterRole is exactly what rollbacks ask
# for after a migration killed early, half-way and after a completion, and when a node step fails.
. "$(dirname "$0")/lib.sh"
B=${CNI_MIGRATE:?}
SRC=${CM_SOURCE_DIR:?}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export LUA_PATH_5_4="$SRC/tests/lua/?.lua"

# as in the Job: the controller's own pod (whose image the node-run pods take) on control-plane-1,
# named by the Downward API's variables
cat >"$TMP/own.lua" <<'LUA'
assert(require("cm.k8s").client():create { apiVersion = "v1", kind = "Pod", metadata = { namespace = "kube-system",
   name = "flannel-migration-x7k2p", labels = { ["k8s-app"] = "flannel-migration-controller" } },
   spec = { nodeName = "control-plane-1", hostNetwork = true, restartPolicy = "Never",
      tolerations = { { operator = "Exists" } },
      containers = { { name = "cni-migrate", image = "registry.example.com/cni-migrate:1", args = { "migrate" } } } } })
LUA
run "$B" --fake "$SRC/examples/clusters/flannel-calico-installed-10node.yaml" --fake-save "$TMP/start.yaml" run "$TMP/own.lua"
expect_rc 0
F="$TMP/start.yaml"
export POD_NAMESPACE=kube-system POD_NAME=flannel-migration-x7k2p POD_NODE_NAME=control-plane-1
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
expect_out '^job kube-system/flannel-migration k8s-app=flannel-migration-controller: ghcr\.io/cni-migrate/cni-migrate:[0-9.]+ migrate$'
expect_out '^[0-9]+ requests, [0-9]+ permissions, each used$'
expect_out '^preflight checks the same [0-9]+ permissions$'
echo "$OUT"

# rollback-job.yaml: the requests of rollbacks after a migration killed early (at its 60th write)
# and half-way (200th), after a completed one whose flannel ConfigMap an operator then deleted, and
# of Canal's after its completion (Calico's objects put back as they were: pools, IPAM, Felix)
run "$B" --fake "$F" --fake-save "$TMP/done.yaml" migrate
expect_rc 0
cat >"$TMP/rm-cm.lua" <<'LUA'
assert(require("cm.k8s").client():delete { apiVersion = "v1", kind = "ConfigMap", namespace = "kube-flannel",
   name = "kube-flannel-cfg" })
LUA
run "$B" --fake "$TMP/done.yaml" --fake-save "$TMP/done-nocm.yaml" run "$TMP/rm-cm.lua"
expect_rc 0
for n in 60 200; do
    run "$B" --fake "$F" --fault crash:afterWrites=$n --fake-save "$TMP/half$n.yaml" migrate
    expect_rc 137
done
for start in half60 half200 done-nocm; do
    run "$B" --fake "$TMP/$start.yaml" --trace "$TMP/rollback-$start.jsonl" rollback
    expect_rc 0
    expect_out 'rolled back|Rolled back'
done
run "$B" --fake "$SRC/examples/clusters/canal-calico-installed-3node.yaml" --fake-save "$TMP/canal0.yaml" run "$TMP/own.lua"
expect_rc 0
run "$B" --fake "$TMP/canal0.yaml" --fake-save "$TMP/canal.yaml" migrate
expect_rc 0
run "$B" --fake "$TMP/canal.yaml" --trace "$TMP/rollback-canal.jsonl" rollback
expect_rc 0
expect_out '^Rolled back 3 node\(s\) to Canal'
# and one whose node step fails
printf 'return { host_paths = {}, main = function() return nil, "site cleanup failed", "EBOOM" end }\n' \
    >"$TMP/lua/node/calico-cleanup.lua"
run "$B" --fake "$TMP/half200.yaml" --lua-dir "$TMP/lua" --trace "$TMP/rollback-fail.jsonl" rollback
expect_rc 1
expect_out 'calico-cleanup'
run "$B" run "$SRC/tests/k8s/deploy_rbac.lua" "$SRC/examples/deploy/rollback-job.yaml" "$TMP"/rollback-*.jsonl
expect_rc 0
expect_out '^job kube-system/flannel-migration-rollback k8s-app=flannel-migration-rollback: ghcr\.io/cni-migrate/cni-migrate:[0-9.]+ rollback$'
expect_out '^[0-9]+ requests, [0-9]+ permissions, each used$'
echo "$OUT"

# a rule too many, or one too few, is found
sed 's/verbs: \[get, list, watch, patch\]/verbs: [get, list, watch, patch, update]/' "$SRC/examples/deploy/migration-job.yaml" \
    >"$TMP/extra.yaml"
run "$B" run "$SRC/tests/k8s/deploy_rbac.lua" "$TMP/extra.yaml" "$TMP/migrate.jsonl" "$TMP/fail.jsonl"
expect_rc 1
expect_out 'granted but never asked for: nodes update$'
grep -v 'pods/eviction\]' "$SRC/examples/deploy/migration-job.yaml" | sed '/^  # The drain, as kubectl/,/verbs: \[create\]/d' \
    >"$TMP/less.yaml"
run "$B" run "$SRC/tests/k8s/deploy_rbac.lua" "$TMP/less.yaml" "$TMP/migrate.jsonl"
expect_rc 1
expect_out 'the ClusterRole lacks pods/eviction create \(POST /api/v1/namespaces/[^/]+/pods/[^/]+/eviction\)'
done_ok
