#!/bin/sh
# The slot scheduler: a generated 20-node cluster (3 control planes, 3 zones, PDBs) migrated with
# --max-unavailable 3 --max-unavailable-per-zone 2 while a watch on the Nodes (tests/k8s/
# schedule_watch.lua) checks every event: never more than 3 nodes cordoned by us, control planes
# one at a time, at most 2 per zone, the own node last and alone, a freed slot taken at once
# (not in batches). Then the flags' bad values: exit 2 naming the flag or variable, nothing sent.
. "$(dirname "$0")/lib.sh"
B=${CNI_MIGRATE:?}
S=${CM_SOURCE_DIR:?}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

run "$B" run "$S/examples/clusters/generate.lua" --nodes 20 --control-planes 3 --zones 3 --calico-installed \
    --pdbs --statefulset 3
expect_rc 0
printf '%s\n' "$OUT" > "$dir/z20.yaml"

CM_TEST_CMD_TIMEOUT=400 run "$B" --fake "$dir/z20.yaml" --log-level warn run "$S/tests/k8s/schedule_watch.lua" \
    "$S/lua/migrate.lua" 3 2 worker-3 --max-unavailable 3 --max-unavailable-per-zone 2 --pod-node-name worker-3
expect_rc 0
expect_out '^Migrated 20 node\(s\) to Calico in [0-9.]+ s of virtual'
expect_out '^watched [0-9]+ node events: at most 3 cordoned by us \(limit 3\), 1 control plane\(s\) at once, 2 in one zone \(limit 2\); 20 node\(s\) started$'
# the order: workers by name as slots free, control planes one at a time, the own node last
order=$(printf '%s\n' "$OUT" | awk '$5 == "cordon" { printf "%s ", $4 }')
case "$order" in
    *" control-plane-1 control-plane-2 control-plane-3 worker-3 ") ;;
    *) fail "order: $order" ;;
esac

# bad values: exit 2 naming the flag or the variable, before anything is sent
F="$S/examples/clusters/flannel-calico-installed-4node.yaml"
bad() { expect_usage_error "$F" "$dir/bad.jsonl" "$@"; } # bad EXPECTED-MESSAGE-REGEX [VAR=VALUE] ARGS...: cni-migrate --fake 4node ARGS
bad '^cni-migrate: migrate: flag --max-unavailable "0": expected a number of nodes' migrate --max-unavailable 0
bad '^cni-migrate: migrate: environment variable CNI_MIGRATE_MAX_UNAVAILABLE="x%": expected' \
    CNI_MIGRATE_MAX_UNAVAILABLE=x% migrate
bad '^cni-migrate: migrate: flag --max-unavailable "150%": expected' migrate --max-unavailable 150%
bad '^cni-migrate: migrate: flag --max-unavailable-per-zone "-1": expected an integer, 0 or more$' \
    migrate --max-unavailable-per-zone -1
bad '^cni-migrate: rollback: flag --max-unavailable "two": expected' rollback --max-unavailable two
done_ok
