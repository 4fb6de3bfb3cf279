#!/bin/sh
# Least privilege of examples/deploy/rollback-job.yaml: after a migration stopped half-way (killed
# at its 120th write, 2 of its 4 nodes touched), a rollback over HTTPS as the rollback's
# ServiceAccount against fake serve --authorize succeeds with the shipped ClusterRole (also with
# --remove-calico-state, which asks for what a rollback of Canal always does: Calico's pool, IPAM and
# Felix written), and with any one rule of it removed a rollback --remove-calico-state fails with the
# API server's 403 naming the verb and the resource. pods/log
# is read only when a node step fails: for that rule the cluster's node-facts (flannel-check) fails.
# Without events create the rollback succeeds, each Event's 403 logged (Events are best-effort).
MANIFEST="${CM_SOURCE_DIR:?}/examples/deploy/rollback-job.yaml"
SA_NAME=cni-migrate-rollback
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
. "$(dirname "$0")/rbac_lib.sh"
run "$B" --fake "$CM_SOURCE_DIR/examples/clusters/flannel-calico-installed-4node.yaml" \
    --fault crash:afterWrites=120 --fake-save "$FAKE_DIR/half.yaml" migrate
expect_rc 137
F="$FAKE_DIR/half.yaml"
mkdir -p "$FAKE_DIR/lua/node"
printf 'return { host_paths = {}, main = function() return nil, "site check failed", "EBOOM" end }\n' \
    >"$FAKE_DIR/lua/node/node-facts.lua"

# the shipped ClusterRole: the rollback succeeds
start_rbac "$MANIFEST" --speed 100
run "$B" --kubeconfig "$SAK" rollback
expect_rc 0
expect_out '^Rolled back 2 node\(s\) to flannel'
expect_no_out 'forbidden'
run "$B" --kubeconfig "$SAK" rollback --remove-calico-state
expect_rc 0
expect_out ' cluster +ipam +[0-9]+ block affinit\(ies\), [0-9]+ block\(s\), [0-9]+ handle\(s\) deleted$'
expect_no_out 'forbidden'
fake_stop

rule=1
while :; do
    dropped=$("$B" run "$CM_SOURCE_DIR/tests/k8s/drop_rule.lua" "$MANIFEST" "$rule" "$FAKE_DIR/less.yaml")
    [ -n "$dropped" ] || break
    case "$dropped" in
        *pods/log*) start_rbac "$FAKE_DIR/less.yaml" --speed 100 --lua-dir "$FAKE_DIR/lua" ;;
        *) start_rbac "$FAKE_DIR/less.yaml" --speed 100 ;;
    esac
    run "$B" --kubeconfig "$SAK" rollback --remove-calico-state
    case "$dropped" in
        *events*) # best-effort: the rollback goes on, and says why each Event was not written
            expect_rc 0
            expect_out 'WARN  an Event could not be written \(the run goes on\) code=Forbidden' ;;
        *)
            expect_rc 1
            expect_denied "$dropped" ;;
    esac
    fake_stop
    rule=$((rule + 1))
done
[ "$rule" -gt 12 ] || fail "only $((rule - 1)) rules in $MANIFEST's ClusterRole"
done_ok
