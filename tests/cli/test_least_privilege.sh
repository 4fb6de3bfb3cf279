#!/bin/sh
# Least privilege: a migration over HTTPS as the ServiceAccount of examples/deploy/migration-job.yaml
# against fake serve --authorize (test_fake_authorize.sh shows it succeeds) fails, with any one rule
# of its ClusterRole removed, with the API server's 403 naming the verb and the resource (--skip rbac
# takes it past preflight's check to the request itself), and preflight names what is missing.
# pods/log is needed only when a node step fails: without it, a failing step's error says the log
# could not be read, with the 403. Without events create the migration succeeds, each Event's 403
# logged (Events are best-effort).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
. "$(dirname "$0")/rbac_lib.sh"
F="$CM_SOURCE_DIR/examples/clusters/flannel-calico-installed-4node.yaml"
# pods/log is read when a node step fails: for that rule the cluster's calico-check fails
mkdir -p "$FAKE_DIR/lua/node"
printf 'return { host_paths = {}, main = function() return nil, "site check failed", "EBOOM" end }\n' \
    >"$FAKE_DIR/lua/node/calico-check.lua"
rule=1 # (fake_lib.sh uses i)
while :; do
    dropped=$("$B" run "$CM_SOURCE_DIR/tests/k8s/drop_rule.lua" "$MANIFEST" "$rule" "$FAKE_DIR/less.yaml")
    [ -n "$dropped" ] || break
    case "$dropped" in
        *pods/log*) start_rbac "$FAKE_DIR/less.yaml" --speed 100 --lua-dir "$FAKE_DIR/lua" ;;
        *) start_rbac "$FAKE_DIR/less.yaml" --speed 100 ;;
    esac
    run "$B" --kubeconfig "$SAK" migrate --skip rbac
    case "$dropped" in
        *events*) # best-effort: the run goes on, and says why each Event was not written
            expect_rc 0
            expect_out 'WARN  an Event could not be written \(the run goes on\) code=Forbidden'
            fake_stop
            rule=$((rule + 1))
            continue ;;
    esac
    expect_rc 1
    # the first 403: its verb and resource are those of the rule removed
    expect_denied "$dropped"
    # preflight names what is missing too (or stops at the 403 of a read it needs)
    run "$B" --kubeconfig "$SAK" preflight
    expect_rc 1
    expect_out "^rbac +blocker +this account +not allowed: |is forbidden: User \"$SA\" cannot"
    fake_stop
    rule=$((rule + 1))
done
[ "$rule" -gt 10 ] || fail "only $((rule - 1)) rules in $MANIFEST's ClusterRole"
done_ok
