#!/bin/sh
# status: checked against the cluster at several points of a rehearsal (crash after N writes, the
# cluster saved, status --fake on it, compared by status_check.py reading the saved YAML itself),
# the step and since of a node at points of its migration found in the writes (mid-drain, after
# each label, at its end), each also over fake serve against kubectl's reading of the labels and
# Events (status_kubectl.py), on
# a finished and a rolled-back cluster, over fake serve (the same model as in process; held, failed
# and paused written with kubectl), and --watch --json following a migration over HTTP to its end.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
B=${CNI_MIGRATE:?}
F="$CM_SOURCE_DIR/examples/clusters/flannel-calico-installed-4node.yaml"
CHECK="$CM_SOURCE_DIR/tests/cli/status_check.py"
dir=$(mktemp -d)
trap 'fake_stop; rm -rf "$dir" "$FAKE_DIR"' EXIT
python3 -c 'import yaml' 2>/dev/null || { echo "SKIP: no python3 with PyYAML"; exit 77; }

# bad usage: exit 2, one line
run "$B" --fake "$F" status --bogus
expect_rc 2
expect_out '^cni-migrate: status: unknown flag --bogus$'

# before anything: not started, every node left
run "$B" --fake "$F" --log-level warn status
expect_rc 0
expect_out '^Phase: not started$'
expect_out '^Nodes: 0 done, 0 in flight, 0 held, 0 failed, 4 left \(of 4\)$'
expect_out '^NODE +STATE +STEP +SINCE +WHY$'
expect_out '^control-plane-1 \(cp\) +left +- +-$'

# points of a rehearsal, from the writes of an uninterrupted one (as the crash fault counts them):
# right after the Lease is taken (preparing), through the nodes, after flannel's DaemonSet is deleted
# (complete)
run "$B" --fake "$F" --trace "$dir/t0.jsonl" migrate
expect_rc 0
grep '"actor":"script"' "$dir/t0.jsonl" | grep -E '"verb":"(create|update|patch|delete)"' > "$dir/writes"
total=$(wc -l < "$dir/writes")
lease=$(grep -n '"verb":"create".*/leases' "$dir/writes" | head -n1 | cut -d: -f1)
flannel=$(grep -n '"verb":"delete".*/daemonsets/kube-flannel-ds' "$dir/writes" | head -n1 | cut -d: -f1)
mid=$(( (flannel - lease) / 6 ))
points="$lease $((lease + mid)) $((lease + 2 * mid)) $((lease + 3 * mid)) $((lease + 4 * mid)) $((lease + 5 * mid)) $flannel"
echo "writes: $total; crash points: $points"
seen=""
for n in $points; do
    run "$B" --fake "$F" migrate --fault "crash:afterWrites=$n" --fake-save "$dir/c$n.yaml"
    [ "$RC" -ne 0 ] || fail "crash after $n writes: the migration ended (exit 0)"
    run "$B" --fake "$dir/c$n.yaml" --log-level warn status --json
    expect_rc 0
    printf '%s\n' "$OUT" > "$dir/s$n.json"
    run python3 "$CHECK" "$dir/c$n.yaml" "$dir/s$n.json"
    expect_rc 0
    seen="$seen $(printf '%s' "$OUT" | awk '{print $2}')"
    case "$OUT" in "ok migrating 2/1/1") at=$n ;; esac # worker-3 in flight, control-plane-1 left
    # the run that crashed still holds the Lease for up to 60 s (cm.lock.DURATION)
    grep -q '"run":{"expires_in":[0-9]*,"holder":"migrate cli ' "$dir/s$n.json" || fail "crash $n: no run in $(cat "$dir/s$n.json")"
done
for p in preparing migrating complete; do
    case "$seen" in *"$p"*) ;; *) fail "no rehearsal point in phase $p: $seen" ;; esac
done
[ -n "${at:-}" ] || { fail "no point with 2 nodes done and 1 in flight: $seen"; done_ok; }
run "$B" --fake "$dir/c$at.yaml" --log-level warn status
expect_out '^Nodes: [0-9] done, 1 in flight, 0 held, 0 failed, [0-9] left \(of 4\); ETA [0-9ms]+ at the rate so far$'
expect_out '^Run: migrate \(migrate cli [^)]*\), Lease renewed .*, expires in [0-9]+s unless renewed$'
expect_out '^worker-[0-9] +in flight +(drain|flannel-gone|calico-ready) +2026-[0-9T:-]+Z \([0-9hms]+ ago\)$'

# the step a node is in, and since when, at points of worker-1's migration found in the writes: mid-drain
# (right after the run's first eviction: drain, since the cordon's write), after its label none
# (flannel-gone), after its label calico (calico-ready), after its end (done)
evict=$(grep -n '/eviction"' "$dir/writes" | head -n1 | cut -d: -f1)
w1=$(grep -n '"path":"/api/v1/nodes/worker-1"' "$dir/writes" | cut -d: -f1)
cordon=$(printf '%s\n' "$w1" | awk -v e="$evict" '$1 < e' | tail -n1)
set -- $(printf '%s\n' "$w1" | awk -v e="$evict" '$1 > e' | head -n3)
none=$1 calico=$2 end=$3
cordon_at=$(sed -n "${cordon}p" "$dir/writes" | sed -E 's/.*"t":"([^".]*)(\.[0-9]*)?Z".*/\1Z/')
# and, over fake serve, against what kubectl reads (labels, and the Events the step lies between)
for point in "$evict drain $cordon_at" "$none flannel-gone" "$calico calico-ready" "$end done"; do
    set -- $point
    run "$B" --fake "$F" migrate --fault "crash:afterWrites=$1" --fake-save "$dir/w$1.yaml"
    run "$B" --fake "$dir/w$1.yaml" --log-level warn status
    expect_rc 0
    state="in flight"
    [ "$2" = done ] && state=done
    expect_out "^worker-1 +$state +$2 +${3:-2026-[0-9T:-]+Z} \\([0-9hms]+ ago\\)\$"
    command -v kubectl >/dev/null 2>&1 || continue
    fake_start "$dir/w$1.yaml" --no-sim
    "$B" --log-level warn status --json > "$dir/k-status.json" || fail "status over HTTP at write $1"
    kubectl get nodes -o json > "$dir/k-nodes.json" || fail "kubectl get nodes"
    kubectl get events -A --field-selector source=cni-migrate -o json > "$dir/k-events.json" || fail "kubectl get events"
    fake_stop
    run python3 "$CM_SOURCE_DIR/tests/cli/status_kubectl.py" "$dir/k-nodes.json" "$dir/k-events.json" "$dir/k-status.json"
    expect_rc 0
done
command -v kubectl >/dev/null 2>&1 || echo "no kubectl: status against kubectl's reading not checked"

# a finished cluster
run "$B" --fake "$F" migrate --fake-save "$dir/end.yaml"
expect_rc 0
run "$B" --fake "$dir/end.yaml" --log-level warn status
expect_rc 0
expect_out '^Phase: done; started 2026-[0-9T:-]+Z \([0-9hms]+ ago\); finished 2026-[0-9T:-]+Z'
expect_out '^Nodes: 4 done, 0 in flight, 0 held, 0 failed, 0 left \(of 4\)$'
expect_no_out '^Run:'
run "$B" --fake "$dir/end.yaml" --log-level warn status --json
printf '%s\n' "$OUT" > "$dir/end.json"
run python3 "$CHECK" "$dir/end.yaml" "$dir/end.json"
expect_rc 0
expect_out '^ok done 4/0/0$'

# rolled back (from a crash with a node in flight), and a point while rolling back
run "$B" --fake "$dir/c$at.yaml" rollback --fake-save "$dir/rb.yaml"
expect_rc 0
run "$B" --fake "$dir/rb.yaml" --log-level warn status
expect_out '^Phase: rolled back'
expect_out '^Nodes: 4 done, 0 in flight, 0 held, 0 failed, 0 left \(of 4\)$'
run "$B" --fake "$dir/c$at.yaml" rollback --fault crash:afterWrites=40 --fake-save "$dir/rbc.yaml"
run "$B" --fake "$dir/rbc.yaml" --log-level warn status --json
printf '%s\n' "$OUT" > "$dir/rbc.json"
run python3 "$CHECK" "$dir/rbc.yaml" "$dir/rbc.json"
expect_rc 0
expect_out '^ok rolling back '

# over fake serve (frozen): the same model as in process; then held, failed and paused as the
# contracts write them (annotations, the ConfigMap's key), set with kubectl
fake_start "$dir/c$at.yaml" --no-sim
run "$B" --log-level warn status --json
expect_rc 0
printf '%s\n' "$OUT" > "$dir/http.json"
run python3 "$CHECK" "$dir/c$at.yaml" "$dir/http.json"
expect_rc 0
python3 - "$dir/http.json" "$dir/s$at.json" <<'EOF' || fail "status over HTTP differs from in process"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
for k in ("phase", "counts", "nodes", "started"):
    if a[k] != b[k]:
        print("%s: %s != %s" % (k, a[k], b[k])); sys.exit(1)
EOF
if command -v kubectl >/dev/null 2>&1; then
    kubectl annotate node control-plane-1 cni-migrate.dev/held='hook hold: zone b is busy' \
        cni-migrate.dev/held-at=2026-11-01T09:00:10Z >/dev/null || fail "kubectl annotate held"
    kubectl annotate node worker-3 'cni-migrate.dev/failed=drain: Cannot evict pod as it would violate the pod'"'"'s disruption budget.' >/dev/null ||
        fail "kubectl annotate failed"
    kubectl -n kube-system patch configmap flannel-migration-config --type merge \
        -p '{"data":{"cni-migrate.paused":"change freeze","cni-migrate.paused-at":"2026-11-01T09:00:11Z"}}' >/dev/null ||
        fail "kubectl patch paused"
    run "$B" --log-level warn status
    expect_rc 0
    expect_out '^Phase: paused \(change freeze, since 2026-11-01T09:00:11Z \([0-9hms]+ ago\)\)'
    expect_out '^Nodes: 2 done, 0 in flight, 1 held, 1 failed, 0 left \(of 4\)'
    expect_out '^control-plane-1 \(cp\) +held +- +2026-11-01T09:00:10Z \([0-9hms]+ ago\) +hook hold: zone b is busy$'
    expect_out "^worker-3 +failed +[a-z-]+ +2026-.* +drain: Cannot evict pod as it would violate the pod's disruption budget\.$"
    run "$B" --log-level warn status --json
    expect_out '"paused":\{"at":"2026-11-01T09:00:11Z","reason":"change freeze"\}'
else
    echo "no kubectl: held, failed and paused over HTTP not checked"
fi
fake_stop

# --watch --json follows a migration over HTTP from a workstation's view, and ends when it is done
fake_start "$F" --speed 100
timeout 300 "$B" --log-level warn status --watch --json > "$dir/watch.jsonl" 2> "$dir/watch.err" &
wpid=$!
sleep 1
run "$B" migrate
expect_rc 0
i=0
while kill -0 "$wpid" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
wait "$wpid"
[ $? -eq 0 ] || fail "status --watch did not end with the migration: $(cat "$dir/watch.err")"
OUT=$(cat "$dir/watch.jsonl")
python3 - "$dir/watch.jsonl" <<'EOF' || fail "status --watch"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
phases = [l["phase"] for l in lines]
done = [l["counts"]["done"] for l in lines]
assert phases[0] == "not started" and phases[-1] == "done", phases
for p in ("preparing", "migrating", "complete"):
    assert p in phases, (p, phases)
assert all(l["counts"]["in_flight"] <= 1 for l in lines), "more than one node in flight"
assert all(a <= b for a, b in zip(done, done[1:])), done
assert max(l["counts"]["in_flight"] for l in lines) == 1
print("watch: %d redraws, phases %s" % (len(lines), sorted(set(phases))))
EOF
done_ok
