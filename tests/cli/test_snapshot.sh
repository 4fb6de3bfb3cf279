#!/bin/sh
# fake snapshot round-trips: for each bundled fixture (a sample of three under the sanitizers), `fake serve FIXTURE --no-sim` (the cluster as
# the API shows it, nothing moving) is snapshotted over HTTP as any live cluster would be, and the
# rehearsal on the snapshot gives the same timeline (every step of every node, its text and its
# virtual time), the same duration and exit code as the rehearsal on the fixture. Secrets and
# managedFields (a Secret and a ConfigMap made by kubectl apply) are left out; on a terminal the
# snapshot shows its progress; the delays it could not measure are said so. With --node-facts, the
# hosts come from the nodes (below).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
B=${CNI_MIGRATE:?}
X="${CM_SOURCE_DIR:?}/examples/clusters"
dir=$(mktemp -d)
trap 'fake_stop; rm -rf "$dir" "$FAKE_DIR"' EXIT

# the timeline without its first column (the wall clock, which starts at each fixture's startTime)
timeline() { sed -E 's/^[0-9T:.-]+Z //' "$1"; }

# SNAPSHOT_FIXTURES (names, space-separated): only those (the sanitizer build's sample)
fixtures=$X/*.yaml
[ -n "${SNAPSHOT_FIXTURES:-}" ] && fixtures=$(for n in $SNAPSHOT_FIXTURES; do printf '%s/%s.yaml ' "$X" "$n"; done)
rounds=0
for f in $fixtures; do
    name=$(basename "$f" .yaml)
    rounds=$((rounds + 1))
    fake_start "$f" --no-sim
    run "$B" fake snapshot -o "$dir/$name.yaml"
    expect_rc 0
    expect_out '^[0-9]+ object\(s\) written to '
    fake_stop
    "$B" migrate --fake "$f" > "$dir/$name.a" 2>&1
    a=$?
    "$B" migrate --fake "$dir/$name.yaml" > "$dir/$name.b" 2>&1
    b=$?
    [ "$a" -eq "$b" ] || { OUT=$(cat "$dir/$name.b"); fail "$name: exit $a on the fixture, $b on its snapshot"; }
    if ! timeline "$dir/$name.a" | diff - "$(timeline "$dir/$name.b" > "$dir/$name.bt"; echo "$dir/$name.bt")" > "$dir/diff"; then
        OUT=$(head -20 "$dir/diff")
        fail "$name: the rehearsal on the snapshot differs from the one on the fixture"
    fi
    grep -Eq '^Migrated [0-9]+ node|blocker' "$dir/$name.a" || { OUT=$(tail -5 "$dir/$name.a"); fail "$name: neither migrated nor blocked"; }
done

[ "$rounds" -ge 3 ] || fail "only $rounds fixture(s) snapshotted"

# no Secret, no managedFields; the delays said; progress on a terminal (script(1) gives one)
F="$X/flannel-calico-installed-4node.yaml"
fake_start "$F"
kubectl create secret generic site-token -n kube-system --from-literal=token=hunter2 > /dev/null 2>&1 ||
    fail "kubectl create secret"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: applied, namespace: default}\ndata: {a: b}\n' |
    kubectl apply --server-side -f - > /dev/null 2>&1 || fail "kubectl apply"
run "$B" fake snapshot -o "$dir/live.yaml"
expect_rc 0
expect_out '^FakeCluster delays, from what the cluster shows:$'
expect_out '^  flannel \(app=flannel\): '
grep -q 'name: applied' "$dir/live.yaml" || fail "the applied ConfigMap is not in the snapshot"
grep -q 'managedFields' "$dir/live.yaml" && fail "managedFields in the snapshot"
grep -Eq 'kind: Secret|hunter2|site-token' "$dir/live.yaml" && fail "a Secret in the snapshot"
if command -v script > /dev/null 2>&1; then
    OUT=$(script -qec "$B fake snapshot -o $dir/tty.yaml" /dev/null 2>&1)
    expect_out 'Pod: [0-9]+'
    printf '%s' "$OUT" | grep -q "$(printf '\033\\[K')" || fail "no progress line redrawn on the terminal"
else
    echo "(no script(1): the progress on a terminal is not checked)"
fi
# --node-facts: the hosts read on the nodes by node-facts (run_on pods, which the served cluster's
# kubelets run against their simulated hosts; each host is over a termination message's 4 KiB, so
# it comes back through the pod's log). The rehearsal on that snapshot gives the same timeline and
# exit code and ends with the same hosts as the rehearsal on the fixture (which synthesizes them).
F=$X/flannel-calico-installed-10node.yaml
fake_start "$F"
run "$B" fake snapshot --node-facts -o "$dir/facts.yaml"
expect_rc 0
expect_out '^hosts read with node-facts: 10 of 10 node\(s\)$'
fake_stop
grep -q '^  hosts:$' "$dir/facts.yaml" || fail "no spec.hosts in the --node-facts snapshot"
"$B" migrate --fake "$F" --fake-save "$dir/facts.a.save" > "$dir/facts.a" 2>&1
a=$?
"$B" migrate --fake "$dir/facts.yaml" --fake-save "$dir/facts.b.save" > "$dir/facts.b" 2>&1
b=$?
[ "$a" -eq 0 ] && [ "$b" -eq 0 ] || { OUT=$(tail -5 "$dir/facts.b"); fail "--node-facts: exit $a on the fixture, $b on its snapshot"; }
# (not the last line's count of the cluster's own requests: the served cluster went on living while
# the pods ran, so a controller may have less to write at the start of the rehearsal)
timeline "$dir/facts.a" | grep -v ' simulation done: ' > "$dir/facts.at"
timeline "$dir/facts.b" | grep -v ' simulation done: ' | diff "$dir/facts.at" - > "$dir/diff" ||
    { OUT=$(head -20 "$dir/diff"); fail "--node-facts: the rehearsal on the snapshot differs from the one on the fixture"; }
OUT=$(python3 "$(dirname "$0")/snapshot_hosts.py" "$dir/facts.a.save" "$dir/facts.b.save" 2>&1) ||
    fail "--node-facts: the hosts at the end differ"

# a host that differs from a synthesized one: worker-2's eth0 at MTU 9000 and an extra route (a node
# script run in a run_on pod, as an operator's change would be). The snapshot has them, and the
# rehearsal on it sees them: flanneld's MTU there follows eth0's, so the cluster disagrees with itself
# (a blocker naming worker-2's flannel.1 at 8950); on the synthesized snapshot it migrates.
F=$X/flannel-calico-installed-4node.yaml
fake_start "$F"
cat > "$dir/plant.lua" << EOF
local node = require "cm.node"
local r, msg = node.run_on(require("cm.k8s").client(), "worker-2", "$(cd "$(dirname "$0")" && pwd)/snapshot_plant.lua",
   { mtu = 9000, route = "10.99.0.0/16" }, { step = "plant" })
assert(r and r.ok, msg)
EOF
run "$B" run "$dir/plant.lua"
expect_rc 0
run "$B" fake snapshot --node-facts -o "$dir/planted.yaml"
expect_rc 0
run "$B" fake snapshot -o "$dir/synthesized.yaml"
expect_rc 0
fake_stop
run "$B" fake host "$dir/planted.yaml" worker-2
expect_out '"dst": "10.99.0.0/16"'
expect_out '"mtu": 9000'
run "$B" fake host "$dir/synthesized.yaml" worker-2
expect_no_out '10.99.0.0/16'
run "$B" migrate --fake "$dir/planted.yaml"
expect_rc 1
expect_out 'FLANNEL_MTU .*flannel.1 on node worker-2 says 8950'
run "$B" migrate --fake "$dir/synthesized.yaml"
expect_rc 0

run "$B" fake snapshot -o "$dir/x.yaml" --bogus
expect_rc 2
expect_out 'fake snapshot: unexpected argument "--bogus"'
done_ok
