#!/bin/sh
# Events (cm.events): five per node on a migration and on a rollback (counted in the trace), a
# Warning on a step that fails, MigrationHeld on a node held (a hook's hold, the drain timeout's
# hold policy), none of them able to stop a run (the API refusing them); and over fake serve, a
# migration over HTTP whose Events kubectl shows in `describe node` and `get events` (every
# kubectl version there is, as test_fake_kubectl finds them).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
B=${CNI_MIGRATE:?}
F="$CM_SOURCE_DIR/examples/clusters/flannel-calico-installed-4node.yaml"
dir=$(mktemp -d)
trap 'fake_stop; rm -rf "$dir" "$FAKE_DIR"' EXIT

# the Events' creates in a trace, and how many per node (from the timeline's node names)
event_creates() {
    grep '"actor":"script"' "$1" | grep '"verb":"create"' | grep -c '"path":"/api/v1/namespaces/default/events"'
}

run "$B" --fake "$F" --trace "$dir/m.jsonl" migrate --fake-save "$dir/end.yaml"
expect_rc 0
n=$(event_creates "$dir/m.jsonl")
[ "$n" -eq 20 ] || fail "a migration of 4 nodes wrote $n Events, expected 5 per node"
grep '/api/v1/namespaces/default/events' "$dir/m.jsonl" | grep -v '"status":201' && fail "an Event was refused"
run "$B" --fake "$dir/end.yaml" --trace "$dir/r.jsonl" rollback
expect_rc 0
n=$(event_creates "$dir/r.jsonl")
[ "$n" -eq 20 ] || fail "a rollback of 4 nodes wrote $n Events, expected 5 per node"

# the API refusing every Event: the run goes on, and says so once per Event
run "$B" --fake "$F" --fault requests:error=500,resources=events,verbs=create migrate
expect_rc 0
expect_out '^Migrated 4 node\(s\) to Calico'
k=$(printf '%s\n' "$OUT" | grep -c 'WARN  an Event could not be written (the run goes on) .*code=InternalError')
[ "$k" -eq 20 ] || fail "$k warnings for 20 refused Events"

# a step that fails: a Warning Event with the step and why (the drain cannot finish in 1 s)
run "$B" --fake "$F" migrate --drain-timeout 1s --fake-save "$dir/failed.yaml"
expect_rc 1
python3 - "$dir/failed.yaml" <<'EOF' || fail "no MigrationFailed Event in the saved cluster"
import sys, yaml
evs = [o for d in yaml.safe_load_all(open(sys.argv[1])) if d for o in (d.get("items") or [d])
       if o.get("kind") == "Event" and (o.get("source") or {}).get("component") == "cni-migrate"]
bad = [e for e in evs if e["reason"] == "MigrationFailed"]
assert len(bad) == 1, [e["reason"] for e in evs]
e = bad[0]
assert e["type"] == "Warning" and e["message"].startswith("drain: "), e
assert e["involvedObject"] == {"apiVersion": "v1", "kind": "Node", "name": e["involvedObject"]["name"],
                               "uid": e["involvedObject"]["name"]}, e["involvedObject"]
print("failed:", e["involvedObject"]["name"], e["message"][:80])
EOF

# a hook holding a node: MigrationHeld with its reason (and the run stops short of completing)
printf 'return { hold = function(ctx, node) if node.metadata.name == "worker-2" then return true, "zone b is busy" end end }\n' \
    > "$dir/hold.lua"
run "$B" --fake "$F" migrate --hooks "$dir/hold.lua" --fake-save "$dir/held.yaml"
python3 - "$dir/held.yaml" <<'EOF' || fail "no MigrationHeld Event for worker-2"
import sys, yaml
evs = [o for d in yaml.safe_load_all(open(sys.argv[1])) if d for o in (d.get("items") or [d])
       if o.get("kind") == "Event" and (o.get("source") or {}).get("component") == "cni-migrate"]
held = [e for e in evs if e["reason"] == "MigrationHeld"]
assert len(held) == 1 and held[0]["involvedObject"]["name"] == "worker-2", [(e["reason"], e["involvedObject"]["name"]) for e in evs]
assert held[0]["message"].startswith("zone b is busy"), held[0]["message"]
print("held:", held[0]["message"])
EOF

# the drain timeout's hold policy (db's PDB allows no disruption; worker-1 and worker-2 run db pods):
# MigrationHeld on each, with why
run "$B" --fake "$F" --fault pdbs:namespace=apps,name=db migrate --skip pdb --drain-timeout 20s \
    --drain-timeout-policy hold --max-unavailable 2 --fake-save "$dir/drain-held.yaml"
expect_rc 1
python3 - "$dir/drain-held.yaml" <<'EOF' || fail "no MigrationHeld Event for the drain timeout's holds"
import sys, yaml
evs = [o for d in yaml.safe_load_all(open(sys.argv[1])) if d for o in (d.get("items") or [d])
       if o.get("kind") == "Event" and (o.get("source") or {}).get("component") == "cni-migrate"]
held = sorted((e["involvedObject"]["name"], e["message"]) for e in evs if e["reason"] == "MigrationHeld")
why = "drain timed out after 20s (--drain-timeout-policy hold)"
assert held == [("worker-1", why), ("worker-2", why)], held
print("held:", held)
EOF

# over HTTP, read with kubectl
VERSIONS=$KUBECTLS
if [ -z "$VERSIONS" ]; then
    echo "SKIP: no kubectl on this machine (the Events were checked in simulation only)"
    exit 77
fi
fake_start "$F" --speed 100
run "$B" migrate
expect_rc 0
for K in $VERSIONS; do
    echo "== $K"
    run "$K" describe node worker-1
    expect_rc 0
    reasons=$(printf '%s\n' "$OUT" | sed -n '/^Events:/,$p' | awk '$4 == "cni-migrate" { printf "%s ", $2 }')
    [ "$reasons" = "MigrationStarted Drained FlannelRemoved CalicoReady MigrationCompleted " ] ||
        fail "$K describe node worker-1: Events $reasons"
    expect_out '^  Normal  Drained +[0-9a-z<>]+ +cni-migrate +drain: [0-9]+ evicted, 0 deleted$'
    run "$K" get events -A --field-selector source=cni-migrate
    expect_rc 0
    expect_out '^NAMESPACE +LAST SEEN +TYPE +REASON +OBJECT +MESSAGE$'
    expect_out '^default +[0-9a-z<>]+ +Normal +CalicoReady +node/control-plane-1 +calico-check: vxlan\.calico VNI 1 '
    [ "$(printf '%s\n' "$OUT" | grep -c ' node/')" -eq 20 ] || fail "$K get events: not 20 of ours"
    run "$K" get events -o wide --field-selector involvedObject.kind=Node,reason=MigrationCompleted
    expect_rc 0
    expect_out '^[0-9a-z<>]+ +Normal +MigrationCompleted +node/worker-2 +cni-migrate, cli +uncordon: uncordoned; in-progress removed +[0-9a-z<>]+ +1 +worker-2\.[0-9a-f]+$'
done
done_ok
