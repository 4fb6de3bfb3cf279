#!/bin/sh
# rollback: a migration stopped at many points (killed right after its Nth API write, as kill -9
# would: --fault crash:afterWrites=N, the cluster kept with --fake-save) and after its completion,
# on the 10-node fixture (with a node an operator cordoned) and on Canal, then rolled back: the
# cluster ends as it started (tests/k8s/rollback_end.lua, host by host against `fake host` of the
# start). A rollback killed at its own writes and run again ends the same, and in the middle
# nodes on flannel and nodes on Calico reach each other (tests/k8s/rollback_mixed.lua); a
# migration after a rollback succeeds; migrate and rollback never race (the Lease); the command line; over HTTP.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
B=${CNI_MIGRATE:?}
X="${CM_SOURCE_DIR:?}/examples/clusters"
E="$CM_SOURCE_DIR/tests/k8s/rollback_end.lua"
M="$CM_SOURCE_DIR/tests/k8s/migrate_end.lua"
dir=$(mktemp -d)
trap 'fake_stop; rm -rf "$dir" "$FAKE_DIR"' EXIT
export LUA_PATH_5_4="$CM_SOURCE_DIR/tests/lua/?.lua"

# writes TRACE: the script's API writes in a trace, one per line, numbered as crash:afterWrites counts
writes() {
    grep '"actor":"script"' "$1" | grep -E '"verb":"(create|update|patch|delete)"' | cat -n
}

# hosts FIXTURE DIR: every node's simulated host at the start, as flanneld made it
hosts() {
    mkdir -p "$2"
    for n in $("$B" --fake "$1" --log-level warn run "$dir/nodes.lua"); do
        "$B" fake host "$1" "$n" >"$2/$n.json" 2>/dev/null || fail "fake host $1 $n"
    done
}
cat >"$dir/nodes.lua" <<'EOF'
local c = require("cm.k8s").client()
for _, n in ipairs(assert(c:list { apiVersion = "v1", kind = "Node" }).items) do print(n.metadata.name) end
EOF
# an operator's cordon, which neither the migration nor the rollback may undo
cat >"$dir/cordon.lua" <<'EOF'
local c = require("cm.k8s").client()
assert(c:patch({ apiVersion = "v1", kind = "Node", name = "worker-3" }, { spec = { unschedulable = true } },
   { type = "strategic" }))
EOF

# check_back START HOSTS NS DS [clean] [canal]: the cluster $dir/back.yaml against the start
check_back() {
    start=$1; shift
    run "$B" --fake "$dir/back.yaml" --log-level warn run "$E" "$start" "$@"
    expect_rc 0
    expect_out '^ok: [0-9]+ checks$'
}

# stop_and_back START N HOSTS NS DS [canal]: migrate killed after write N, rolled back, checked
stop_and_back() {
    start=$1; n=$2; shift 2
    run "$B" --fake "$start" --fault "crash:afterWrites=$n" --fake-save "$dir/stop.yaml" migrate
    [ "$RC" -eq 137 ] || [ "$RC" -eq 0 ] || fail "migrate stopped at write $n: exit $RC"
    run "$B" --fake "$dir/stop.yaml" --fake-save "$dir/back.yaml" rollback
    expect_rc 0
    expect_out '^(Rolled back [0-9]+ node\(s\) to (flannel|Canal)|Nothing to roll back)'
    [ "$RC" -eq 0 ] || { echo "(rollback after migrate write $n)" >&2; return; }
    check_back "$start" "$@"
    [ "$RC" -eq 0 ] || echo "(rollback after migrate write $n)" >&2
}

# --- the 10-node fixture, worker-3 cordoned by an operator -----------------------------------
run "$B" --fake "$X/flannel-calico-installed-10node.yaml" --fake-save "$dir/start10.yaml" run "$dir/cordon.lua"
expect_rc 0
S="$dir/start10.yaml"
hosts "$S" "$dir/h10"
[ -s "$dir/h10/worker-3.json" ] || fail "no host for worker-3"

# nothing to roll back: exit 0 and no write
run "$B" --fake "$S" --trace "$dir/t0.jsonl" rollback
expect_rc 0
expect_out '^Nothing to roll back: DaemonSet kube-flannel/kube-flannel-ds runs without'
[ "$(writes "$dir/t0.jsonl" | wc -l)" -eq 0 ] || fail "rollback of an untouched cluster wrote"

# a whole migration, its writes numbered; then the stopping points: the preparation's (the
# Lease, the saved settings, the pool, IPAM, flannel's selector), steps of the first node, each
# step of the completion, and every 60th write besides
run "$B" --fake "$S" --trace "$dir/t1.jsonl" --fake-save "$dir/end10.yaml" migrate
expect_rc 0
writes "$dir/t1.jsonl" >"$dir/w1.txt"
total=$(wc -l <"$dir/w1.txt")
[ "$total" -gt 250 ] || fail "the migration made $total writes"
first() { grep -E "$1" "$dir/w1.txt" | head -n1 | awk '{print $1}'; }
points="$(first 'leases"') $(first 'configmaps"') $(first 'ippools"') $(first 'blockaffinities"')
 $(first 'daemonsets/kube-flannel-ds"')"
w1=$(grep -E '"path":"/api/v1/nodes/worker-1"' "$dir/w1.txt" | awk '{print $1}' | tail -n 4 | tr '\n' ' ')
points="$points $w1 $((${w1%% *} + 2)) $((${w1%% *} + 8))"
points="$points $(grep -E 'configmaps"' "$dir/w1.txt" | tail -n1 | awk '{print $1}')"
points="$points $(first 'delete.*daemonsets/kube-flannel-ds') $(first 'daemonsets/calico-node"') $((total - 6)) $((total - 1))"
n=60
while [ "$n" -lt "$total" ]; do points="$points $n"; n=$((n + 60)); done
count=0
for n in $points; do
    stop_and_back "$S" "$n" "$dir/h10" kube-flannel kube-flannel-ds
    count=$((count + 1))
done
[ "$count" -ge 15 ] || fail "only $count stopping points"

# after the completion
cp "$dir/end10.yaml" "$dir/stop.yaml"
run "$B" --fake "$dir/stop.yaml" --fake-save "$dir/back.yaml" rollback
expect_rc 0
expect_out ' cluster +label-calico +projectcalico\.org/node-network-during-migration=calico on 10 node\(s\) running Calico$'
expect_out ' cluster +flannel-ds +DaemonSet kube-flannel/kube-flannel-ds recreated from ConfigMap cni-migrate-flannel-backup'
expect_out ' cluster +calico-selector +DaemonSet kube-system/calico-node: nodeSelector projectcalico\.org/node-network-during-migration=calico$'
expect_out ' worker-1 +flannel-check +flannel\.1 VNI 1 MAC 9e:3a:7c:00:00:02 \(the node.s VtepMAC\), /etc/cni/net\.d/10-flannel\.conflist active'
expect_out ' worker-3 +uncordon +in-progress removed \(left cordoned: not ours\)$'
expect_out ' cluster +flannel-selector +DaemonSet kube-flannel/kube-flannel-ds: nodeSelector removed \(it had none\)$'
expect_out '^Rolled back 10 node\(s\) to flannel in [0-9.]+ s of virtual'
for step in cordon drain label-none calico-gone calico-cleanup delete-pods label-flannel flannel-ready flannel-check uncordon; do
    k=$(printf '%s\n' "$OUT" | awk -v s="$step" '$5 == s' | wc -l)
    [ "$k" -eq 10 ] || fail "rollback step $step: $k node(s), expected 10"
done
# mixed operation held: no node step waited on a network that was not there
expect_no_out 'Timeout'
cp "$dir/back.yaml" "$dir/back-complete.yaml"
check_back "$S" "$dir/h10" kube-flannel kube-flannel-ds
# a second rollback has nothing to do
run "$B" --fake "$dir/back.yaml" rollback
expect_rc 0
expect_out '^Nothing to roll back'
# the rollback killed at its own writes, then run again: the same end
run "$B" --fake "$dir/end10.yaml" --trace "$dir/t2.jsonl" rollback
writes "$dir/t2.jsonl" >"$dir/w2.txt"
rtotal=$(wc -l <"$dir/w2.txt")
[ "$rtotal" -gt 100 ] || fail "the rollback made $rtotal writes"
for m in 1 2 3 12 $((rtotal / 3)) $((rtotal / 2)) $((rtotal - 5)) $((rtotal - 1)); do
    run "$B" --fake "$dir/end10.yaml" --fault "crash:afterWrites=$m" --fake-save "$dir/rstop.yaml" rollback
    expect_rc 137
    if [ "$m" -eq $((rtotal / 3)) ] || [ "$m" -eq $((rtotal / 2)) ]; then # mixed operation holds
        run "$B" --fake "$dir/rstop.yaml" --log-level warn run "$CM_SOURCE_DIR/tests/k8s/rollback_mixed.lua" 1
        expect_rc 0
        expect_out '^ok: [0-9]+ checks$'
    fi
    run "$B" --fake "$dir/rstop.yaml" --fake-save "$dir/back.yaml" rollback
    expect_rc 0
    check_back "$S" "$dir/h10" kube-flannel kube-flannel-ds
    [ "$RC" -eq 0 ] || echo "(rollback resumed after its write $m)" >&2
done

# a migration after a rollback succeeds (its end state is checked on Canal below)
run "$B" --fake "$dir/back-complete.yaml" migrate
expect_rc 0
expect_out '^Migrated 10 node\(s\) to Calico'
expect_out ' worker-3 +uncordon +in-progress removed \(left cordoned: not ours\)$'

# --remove-calico-state: Calico's objects and node data as at the start too; a migration after it
run "$B" --fake "$dir/end10.yaml" --fake-save "$dir/back.yaml" rollback --remove-calico-state
expect_rc 0
expect_out ' cluster +ippool +IPPool default-ipv4-ippool deleted \(the migration made it\)$'
expect_out ' cluster +ipam +40 block affinit\(ies\), 40 block\(s\), [0-9]+ handle\(s\) deleted$'
check_back "$S" "$dir/h10" kube-flannel kube-flannel-ds clean
run "$B" --fake "$dir/back.yaml" migrate
expect_rc 0
expect_out ' cluster +ippool +IPPool default-ipv4-ippool: 10\.244\.0\.0/16'
expect_out '^Migrated 10 node\(s\) to Calico'

# --- the lock: migrate and rollback never race ------------------------------------------------
# a migration killed while it held the Lease: the rollback asks it to stop and waits for it to expire
lease_write=$(first 'leases"')
run "$B" --fake "$S" --fault "crash:afterWrites=$((lease_write + 30))" --fake-save "$dir/stop.yaml" migrate
expect_rc 137
run "$B" --fake "$dir/stop.yaml" --fake-save "$dir/rstop.yaml" --fault "crash:afterWrites=3" rollback
expect_rc 137
expect_out ' cluster +lock +asked the running migration \(migrate cli [^)]*\) to stop$'
expect_out ' cluster +lock +waiting for Lease kube-system/cni-migrate held by "migrate cli '
# a migration does not start while a rollback holds the Lease
run "$B" --fake "$dir/rstop.yaml" --trace "$dir/t3.jsonl" migrate
expect_rc 1
expect_out '^cni-migrate: a rollback is running \(Lease kube-system/cni-migrate held by "rollback cli '
[ "$(writes "$dir/t3.jsonl" | grep -Ev 'selfsubjectaccessreviews|/pods' | wc -l)" -eq 0 ] || fail "migrate wrote beside a rollback"
# a running migration stops before its next node when a rollback asks (the stop annotation, put
# there 20 s into the node steps by a task beside the migration, as a rollback does)
cat >"$dir/ask.lua" <<'EOF'
local c = require("cm.k8s").client()
require("cm.task").spawn(function()
   require("cm.time").sleep(20)
   assert(c:patch({ apiVersion = "coordination.k8s.io/v1", kind = "Lease", namespace = "kube-system",
      name = "cni-migrate" }, { metadata = { annotations = { ["cni-migrate.dev/stop"] = "rollback" } } },
      { type = "merge" }))
end)
assert(loadfile(...))()
EOF
run "$B" --fake "$S" --fake-save "$dir/stop.yaml" run "$dir/ask.lua" "$CM_SOURCE_DIR/lua/migrate.lua"
expect_rc 1
expect_out '^cni-migrate: migrate: a rollback asked this run to stop \(Lease kube-system/cni-migrate\): stopped before the next node$'
expect_out ' worker-1 +uncordon +uncordoned; in-progress removed$'
run "$B" --fake "$dir/stop.yaml" --fake-save "$dir/back.yaml" rollback
expect_rc 0
expect_no_out ' lock +waiting'
check_back "$S" "$dir/h10" kube-flannel kube-flannel-ds

# --- Canal ---------------------------------------------------------------------------------------
C="$X/canal-calico-installed-3node.yaml"
hosts "$C" "$dir/hc"
run "$B" --fake "$C" --trace "$dir/tc.jsonl" --fake-save "$dir/endc.yaml" migrate
expect_rc 0
writes "$dir/tc.jsonl" >"$dir/w1.txt"
total=$(wc -l <"$dir/w1.txt")
points="$(first 'leases"') $(first 'ippools"') $(first 'daemonsets/canal"')"
points="$points $(grep -E '"path":"/api/v1/nodes/worker-1"' "$dir/w1.txt" | awk '{print $1}' | tail -n 4 | tr '\n' ' ')"
points="$points $(first 'delete.*daemonsets/canal') $(first 'daemonsets/calico-node"') $((total - 1))"
n=15
while [ "$n" -lt "$total" ]; do points="$points $n"; n=$((n + 15)); done
for n in $points; do
    stop_and_back "$C" "$n" "$dir/hc" kube-system canal canal
done
cp "$dir/endc.yaml" "$dir/stop.yaml"
run "$B" --fake "$dir/stop.yaml" --fake-save "$dir/back.yaml" rollback
expect_rc 0
expect_out '^Rolled back 3 node\(s\) to Canal'
expect_out ' worker-1 +flannel-check +flannel\.1 VNI 1 MAC [0-9a-f:]+ \(the node.s VtepMAC\), /etc/cni/net\.d/10-canal\.conflist active'
check_back "$C" "$dir/hc" kube-system canal canal
run "$B" --fake "$dir/back.yaml" --fake-save "$dir/again.yaml" migrate
expect_rc 0
expect_out '^Migrated 3 node\(s\) to Calico'
run "$B" --fake "$dir/again.yaml" --log-level warn run "$M" kube-system canal 1 canal
expect_rc 0
expect_out '^ok: [0-9]+ checks$'

# --- checks and the command line --------------------------------------------------------------
# no DaemonSet and no backup: a blocker, nothing written
cat >"$dir/nobackup.lua" <<'EOF'
local c = require("cm.k8s").client()
assert(c:delete { apiVersion = "v1", kind = "ConfigMap", namespace = "kube-system", name = "cni-migrate-flannel-backup" })
EOF
run "$B" --fake "$dir/end10.yaml" --fake-save "$dir/nob.yaml" run "$dir/nobackup.lua"
expect_rc 0
run "$B" --fake "$dir/nob.yaml" --trace "$dir/t4.jsonl" rollback
expect_rc 1
expect_out '^flannel-daemonset +blocker +DaemonSet +no flannel or Canal DaemonSet \(looked for .*\) and no copy of one in ConfigMap kube-system/cni-migrate-flannel-backup$'
expect_out '^cni-migrate: rollback: 1 blocker\(s\): nothing was changed'
[ "$(writes "$dir/t4.jsonl" | wc -l)" -eq 0 ] || fail "rollback wrote before refusing"
# flags before or after the command
run "$B" --fake "$S" --log-level warn rollback --flannel-vni 1
expect_rc 0
run "$B" --fake "$S" --log-level warn --flannel-vni 1 rollback
expect_rc 0
expect_out '^  FLANNEL_VNI +1 +flag --flannel-vni$'
run "$B" --fake "$S" rollback --bogus
expect_rc 2
expect_out '^cni-migrate: rollback: unknown flag --bogus$'
run "$B" rollback --help
expect_rc 0
expect_out '^  --remove-calico-state +rollback: also remove'
run "$B" help
expect_out '^  rollback \[FLAGS\] +return the cluster to flannel'
# --dry-run=server: nothing sent
run "$B" --fake "$dir/end10.yaml" --trace "$dir/t5.jsonl" rollback --dry-run=server
expect_rc 0
expect_out ' worker-1 +plan +calico: would return to flannel'
[ "$(writes "$dir/t5.jsonl" | wc -l)" -eq 0 ] || fail "the dry run wrote"

# --- over HTTP, with kubectl: one stopping point ----------------------------------------------
# (the stopping point: worker-1 labelled none, its flannel gone; one node to bring back)
F4="$X/flannel-calico-installed-4node.yaml"
run "$B" --fake "$F4" --trace "$dir/t6.jsonl" migrate
expect_rc 0
n=$(writes "$dir/t6.jsonl" | grep -E '"path":"/api/v1/nodes/worker-1"' | awk '{print $1}' | sed -n 4p)
run "$B" --fake "$F4" --fault "crash:afterWrites=$n" --fake-save "$dir/stop4.yaml" migrate
expect_rc 137
fake_start "$dir/stop4.yaml" --speed 100
run "$B" rollback
expect_rc 0
expect_out '^Rolled back [0-9]+ node\(s\) to flannel'
run kubectl get pods -A -l k8s-app=calico-node -o name
expect_rc 0
[ -z "$OUT" ] || fail "calico-node pods left: $OUT"
run kubectl get ds -n kube-flannel kube-flannel-ds -o 'jsonpath={.spec.template.spec.nodeSelector}'
expect_rc 0
[ -z "$OUT" ] || fail "flannel's nodeSelector: $OUT"
run kubectl get nodes -o 'jsonpath={range .items[*]}{.metadata.name} {.metadata.labels.projectcalico\.org/node-network-during-migration}{.spec.unschedulable}{"\n"}{end}'
expect_rc 0
printf '%s\n' "$OUT" | grep -Eq '^[a-z0-9-]+ $' || fail "nodes: $OUT"
printf '%s\n' "$OUT" | grep -Ev '^[a-z0-9-]+ $' | grep -q . && fail "a node kept a label or a cordon: $OUT"
run kubectl get pods -n kube-flannel -o 'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}'
[ "$(printf '%s\n' "$OUT" | grep -c '^True$')" -eq 4 ] || fail "flannel pods Ready: $OUT"
fake_stop
done_ok
