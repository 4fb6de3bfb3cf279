#!/bin/sh
# rollback, beyond a migration stopped at each of its writes (rollback_every_write.sh, run by
# ctest in shards): nothing to roll back; migrate and rollback never race (the Lease: a killed
# migration waited for, migrate refused beside a rollback, a running migration stopped by a
# rollback's request); Canal after its completion, rolled back (with --remove-calico-state too:
# Canal's pool as it was), then migrated again; the checks (zero writes on a blocker), the command
# line, the dry run; one rollback over HTTP, checked with kubectl and tests/k8s/rollback_end.lua,
# and a migration after it over HTTP, checked with kubectl and tests/k8s/migrate_end.lua.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fake_lib.sh"
. "$(dirname "$0")/rollback_lib.sh"
start10
# nothing to roll back: exit 0 and no write
run "$B" --fake "$S" --trace "$dir/t0.jsonl" rollback
expect_rc 0
expect_out '^Nothing to roll back: DaemonSet kube-flannel/kube-flannel-ds runs without'
[ "$(writes "$dir/t0.jsonl" | wc -l)" -eq 0 ] || fail "rollback of an untouched cluster wrote"

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
expect_no_out 'stack traceback' # a failure of the world, not of the code: one line
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
run "$B" --fake "$S" --fake-save "$dir/stop.yaml" --trace "$dir/ask.jsonl" run "$dir/ask.lua" \
    "$CM_SOURCE_DIR/lua/migrate.lua"
expect_rc 1
expect_out '^cni-migrate: migrate: a rollback asked this run to stop \(Lease kube-system/cni-migrate\): stopped before the next node$'
# the stop was seen on the one watch of the Lease the run keeps while it holds it (renewals
# every 20 s do not open it again)
lw=$(grep '"actor":"script"' "$dir/ask.jsonl" | grep '"verb":"watch"' | grep -c '/leases"')
lp=$(grep '"actor":"script"' "$dir/ask.jsonl" | grep '"verb":"patch"' | grep -c '/leases/cni-migrate"')
[ "$lw" -eq 1 ] && [ "$lp" -ge 3 ] || fail "the Lease: $lw watch(es), $lp patch(es) (expected 1 watch; patched by the stop, a renewal and the release)"
expect_out ' worker-1 +uncordon +uncordoned; in-progress removed$'
run "$B" --fake "$dir/stop.yaml" --fake-save "$dir/back.yaml" rollback
expect_rc 0
expect_no_out ' lock +waiting'
check_back "$S" "$H" kube-flannel kube-flannel-ds

# --- Canal after its completion ------------------------------------------------------------------
C="$X/canal-calico-installed-3node.yaml"
hosts "$C" "$dir/hc"
run "$B" --fake "$C" --fake-save "$dir/endc.yaml" migrate
expect_rc 0
cp "$dir/endc.yaml" "$dir/stop.yaml"
run "$B" --fake "$dir/stop.yaml" --fake-save "$dir/back.yaml" rollback
expect_rc 0
expect_out '^Rolled back 3 node\(s\) to Canal'
expect_out ' worker-1 +flannel-check +flannel\.1 VNI 1 MAC [0-9a-f:]+ \(the node.s VtepMAC\), /etc/cni/net\.d/10-canal\.conflist active'
check_back "$C" "$dir/hc" kube-system canal
run "$B" --fake "$dir/back.yaml" --fake-save "$dir/again.yaml" migrate
expect_rc 0
expect_out '^Migrated 3 node\(s\) to Calico'
run "$B" --fake "$dir/again.yaml" --log-level warn run "$M" kube-system canal 1 canal
expect_rc 0
expect_out '^ok: [0-9]+ checks$'
# --remove-calico-state: the pool the migration replaced (Canal's, without VXLAN) made again as it
# was, also after a second migration (which kept the first one's pool); then a migration again
run "$B" --fake "$dir/again.yaml" --fake-save "$dir/back.yaml" rollback --remove-calico-state
expect_rc 0
expect_out ' cluster +ippool +IPPool default-ipv4-ippool deleted \(the migration made it\)$'
expect_out ' cluster +ippool +IPPool default-ipv4-ippool made again as it was before the migration \(vxlanMode Never, ipipMode Never\)$'
check_back "$C" "$dir/hc" kube-system canal clean
run "$B" --fake "$dir/back.yaml" --fake-save "$dir/again.yaml" migrate
expect_rc 0
expect_out ' cluster +ippool +IPPool default-ipv4-ippool deleted \(Canal.s, vxlanMode is Never, the migration needs Always\)$'
expect_out '^Migrated 3 node\(s\) to Calico'

# --- checks and the command line --------------------------------------------------------------
# rollback's checks, each a blocker with nothing written: no DaemonSet and no backup; flanneld's
# image not known (the saved copy's container has none); flannel's net-conf.json not valid
cat >"$dir/nobackup.lua" <<'EOF'
local c = require("cm.k8s").client()
assert(c:delete { apiVersion = "v1", kind = "ConfigMap", namespace = "kube-system", name = "cni-migrate-flannel-backup" })
EOF
cat >"$dir/noimage.lua" <<'EOF'
local c = require("cm.k8s").client()
local json = require "cm.json"
local ref = { apiVersion = "v1", kind = "ConfigMap", namespace = "kube-system", name = "cni-migrate-flannel-backup" }
local ds = json.decode(assert(c:get(ref)).data["daemonset.json"])
for _, ct in ipairs(ds.spec.template.spec.containers) do if ct.name == "kube-flannel" then ct.image = nil end end
assert(c:patch(ref, { data = { ["daemonset.json"] = json.encode(ds) } }, { type = "merge" }))
EOF
cat >"$dir/badconf.lua" <<'EOF'
assert(require("cm.k8s").client():patch({ apiVersion = "v1", kind = "ConfigMap", namespace = "kube-flannel",
   name = "kube-flannel-cfg" }, { data = { ["net-conf.json"] = '{"Network": 12}' } }, { type = "merge" }))
EOF
for spec in 'nobackup:^flannel-daemonset +blocker +DaemonSet +no flannel or Canal DaemonSet \(looked for .*\) and no copy of one in ConfigMap kube-system/cni-migrate-flannel-backup$' \
    'noimage:^flannel-image +blocker +DaemonSet kube-flannel/kube-flannel-ds +no flanneld container with an image$' \
    'badconf:^flannel-config +blocker +ConfigMap +no valid net-conf\.json in flannel.s ConfigMap or its copy: net-conf\.json: Network: "12" is not a CIDR$'; do
    script=${spec%%:*}
    run "$B" --fake "$END" --fake-save "$dir/bad.yaml" run "$dir/$script.lua"
    expect_rc 0
    run "$B" --fake "$dir/bad.yaml" --trace "$dir/t4.jsonl" rollback
    expect_rc 1
    expect_out "${spec#*:}"
    expect_out '^cni-migrate: rollback: 1 blocker\(s\): nothing was changed'
    [ "$(writes "$dir/t4.jsonl" | wc -l)" -eq 0 ] || fail "rollback wrote before refusing ($script)"
done
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
run "$B" --fake "$END" --trace "$dir/t5.jsonl" rollback --dry-run=server
expect_rc 0
expect_out ' worker-1 +plan +calico: would return to flannel'
[ "$(writes "$dir/t5.jsonl" | wc -l)" -eq 0 ] || fail "the dry run wrote"

# --- over HTTP, with kubectl and the end-state check: one stopping point ---------------------
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
# and the whole end state, as in simulation (tests/k8s/rollback_end.lua through the runtime's HTTP
# client), with every host as the server serves it against `fake host` of the start
hosts "$F4" "$dir/h4"
mkdir -p "$dir/s4"
for f in "$dir/h4"/*.json; do
    node=$(basename "$f" .json)
    curl -fsS "$URL/cni-migrate/v1alpha1/hosts/$node" >"$dir/s4/$node.json" || fail "GET hosts/$node"
done
run "$B" run "$E" "$F4" "$dir/h4" kube-flannel kube-flannel-ds served="$dir/s4"
expect_rc 0
expect_out '^ok: [0-9]+ checks$'
# a migration after the rollback, over HTTP too, succeeds: kubectl and tests/k8s/migrate_end.lua
# through the runtime's HTTP client show the migrated end
run "$B" migrate
expect_rc 0
expect_out '^Migrated 4 node\(s\) to Calico'
run kubectl get ds -A -o 'jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {.spec.template.spec.nodeSelector}{"\n"}{end}'
expect_rc 0
expect_no_out 'kube-flannel-ds'
expect_out '^kube-system/calico-node \{"kubernetes.io/os":"linux"\}$'
run kubectl get nodes -o 'jsonpath={range .items[*]}{.metadata.name} [{.metadata.labels.projectcalico\.org/node-network-during-migration}] [{.spec.unschedulable}] [{.metadata.annotations.cni-migrate\.dev/step}]{"\n"}{end}'
expect_rc 0
[ "$(printf '%s\n' "$OUT" | grep -Ec '^[a-z0-9-]+ \[\] \[\] \[done\]$')" -eq 4 ] || fail "nodes after the migration after the rollback: $OUT"
run "$B" --log-level warn run "$M" kube-flannel kube-flannel-ds 1 - no-hosts
expect_rc 0
expect_out '^ok: [0-9]+ checks$'
fake_stop
done_ok

