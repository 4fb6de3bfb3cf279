#!/bin/sh
# Operator control of a migration (simulated): pause mid-run and resume (nodes in flight finish,
# none starts while paused: tests/k8s/pause_mid.lua), pause and resume as commands, the deadline,
# the maintenance window (with a time zone; nodes start only inside it, the rest wait for the next
# day), the delay after each node, and a drain timeout under its two policies (stop: the node
# marked failed, the others in flight finish, exit 1 and the rerun completes; hold: the node
# uncordoned, back on flannel and marked held, the run goes on and exits 1, the rerun completes),
# a per-node step timeout (calico-node never Ready: the node fails at calico-ready). Rollback: --max-unavailable and a pause mid-run. Bad values: exit 2 naming the flag or
# variable, nothing sent.
. "$(dirname "$0")/lib.sh"
B=${CNI_MIGRATE:?}
S=${CM_SOURCE_DIR:?}
X="$S/examples/clusters"
F4="$X/flannel-calico-installed-4node.yaml"
F10="$X/flannel-calico-installed-10node.yaml"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/nodes.lua" <<'LUA'
local c = require("cm.k8s").client()
for _, n in ipairs(assert(c:list { apiVersion = "v1", kind = "Node" }).items) do
   local a, l = n.metadata.annotations or {}, n.metadata.labels or {}
   print(("%s net=%s unsched=%s step=%s held=%s failed=%s"):format(n.metadata.name,
      l["projectcalico.org/node-network-during-migration"] or "-", tostring(n.spec.unschedulable == true),
      a["cni-migrate.dev/step"] or "-", a["cni-migrate.dev/held"] or "-", a["cni-migrate.dev/failed"] or "-"))
end
LUA
nodes() { run "$B" --fake "$1" --log-level warn run "$dir/nodes.lua"; }
# the timeline as "TIME SECONDS NODE STEP TEXT" (the offset's "+" and padding gone)
tl() { printf '%s\n' "$OUT" | sed -E 's/^([^ ]+) \+ *([0-9.]+)s /\1 \2 /'; }
# cordons: "HH:MM:SS node" of each node start
cordons() { tl | awk '$4 == "cordon" { print substr($1, 12, 8), $3 }'; }

# 1. pause at +40 s, resume 120 s later, two nodes at a time
run "$B" --fake "$F10" --log-level warn run "$S/tests/k8s/pause_mid.lua" "$S/lua/migrate.lua" 40 120 \
    --max-unavailable 2
expect_rc 0
expect_out '^Migrated 10 node\(s\) to Calico'
expect_out '^paused at \+40s, resumed at \+160s: [1-9][0-9]* node\(s\) started before, [1-9][0-9]* in flight finished while paused, 0 started while paused, [1-9][0-9]* after$'
expect_out ' cluster +waiting +paused \(a test pauses\): no node starts; nodes in flight go on$'
expect_out ' cluster +going-on +nodes start again$'

# 2. the commands: paused before the run, it starts no node; the deadline ends it (exit 1)
run "$B" --fake "$F4" --log-level warn --fake-save "$dir/p.yaml" pause --reason "change freeze"
expect_rc 0
expect_out '^Paused: change freeze\. Nodes in flight finish; no node starts until cni-migrate resume\.$'
run "$B" --fake "$dir/p.yaml" --log-level warn --fake-save "$dir/p2.yaml" migrate --deadline 2m
expect_rc 1
expect_out ' cluster +waiting +paused \(change freeze\): no node starts'
expect_out '^cni-migrate: migrate: the deadline [0-9T:.-]+Z has passed; 0 node\(s\) migrated in this run \(the run can be resumed: run it again\)$'
[ -z "$(cordons)" ] || fail "a node started while paused: $(cordons)"
run "$B" --fake "$dir/p2.yaml" --log-level warn --fake-save "$dir/p3.yaml" resume
expect_rc 0
expect_out '^Resumed: nodes start again\.$'
run "$B" --fake "$dir/p3.yaml" --log-level warn resume
expect_rc 0
expect_out '^Not paused: nothing to do\.$'
run "$B" --fake "$dir/p3.yaml" --log-level warn migrate
expect_rc 0
expect_out '^Migrated 4 node\(s\) to Calico'

# 3. the deadline mid-run: nodes in flight finish, none starts after it
run "$B" --fake "$F10" --log-level warn migrate --deadline 60s --max-unavailable 2
expect_rc 1
expect_out '^cni-migrate: migrate: the deadline 2026-11-01T09:01:00\.000Z has passed; [1-9] node\(s\) migrated in this run'
late=$(cordons | awk '$1 >= "09:01:00"')
[ -z "$late" ] || fail "nodes started after the deadline: $late"

# 4. the window 10:05-10:06 Europe/Berlin (09:05-09:06 UTC in November): the rehearsal starts at
# 09:00 UTC; nodes start only inside the window; those that do not fit wait for the next day
run "$B" --fake "$F10" --log-level warn migrate --max-unavailable 2 --window-start 10:05 --window-end 10:06 \
    --window-time-zone Europe/Berlin
expect_rc 0
expect_out ' cluster +waiting +outside the maintenance window \(every day 10:05-10:06 Europe/Berlin\): no node starts'
expect_out '^Migrated 10 node\(s\) to Calico'
outside=$(cordons | awk '$1 < "09:05:00" || $1 >= "09:06:00"')
[ -z "$outside" ] || fail "nodes started outside the window: $outside"
tl | awk '$4 == "cordon"' | grep -q '^2026-11-02T09:05' || fail "no node waited for the next day's window"
CNI_MIGRATE_WINDOW_DAYS=sat run "$B" --fake "$F4" --log-level warn migrate --max-unavailable 4
expect_rc 0
expect_out '^Migrated 4 node\(s\) to Calico'
tl | awk '$4 == "cordon"' | grep -vq '^2026-11-07T00:0' && fail "a node started before Saturday"

# 5. the delay after each node: its slot waits 30 s before the next node
run "$B" --fake "$F4" --log-level warn migrate --node-delay 30s
expect_rc 0
tl | awk '$4 == "uncordon" { u = $2 } $4 == "cordon" && u { if ($2 - u < 29.9) bad = 1 } END { exit bad }' ||
    fail "a node started less than 30 s after the last one ended"

# 6. a drain that cannot finish (db's PDB allows no disruption; worker-1 and worker-2 run db pods)
PDB="--fault pdbs:namespace=apps,name=db"
# stop: both in flight fail, marked; no other node starts; the rerun (the fault gone) completes
# shellcheck disable=SC2086
run "$B" --fake "$F4" --log-level warn --fake-save "$dir/d1.yaml" $PDB migrate --skip pdb --drain-timeout 20s \
    --max-unavailable 2
expect_rc 1
expect_out '^cni-migrate: migrate: node worker-1: drain: drain node worker-1: timed out with 1 pods left: apps/db-0 \(blocked by PodDisruptionBudget apps/db'
expect_out '^also failed: worker-2$'
expect_out '^\(the run can be resumed: run it again\)$'
[ "$(cordons | wc -l)" -eq 2 ] || fail "nodes started after the failure: $(cordons)"
nodes "$dir/d1.yaml"
expect_out '^worker-1 net=flannel unsched=true step=drain held=- failed=drain: node worker-1: drain: drain node worker-1: timed out'
expect_out '^worker-3 net=flannel unsched=false step=- held=- failed=-$'
run "$B" --fake "$dir/d1.yaml" --log-level warn --fake-save "$dir/d2.yaml" migrate --max-unavailable 2
expect_rc 0
nodes "$dir/d2.yaml"
[ "$(printf '%s\n' "$OUT" | grep -c 'unsched=false step=done held=- failed=-$')" -eq 4 ] || fail "after the rerun: $OUT"
# hold: uncordoned, back on flannel, held; the others migrate; exit 1; the rerun completes
# shellcheck disable=SC2086
run "$B" --fake "$F4" --log-level warn --fake-save "$dir/h1.yaml" $PDB migrate --skip pdb --drain-timeout 20s \
    --drain-timeout-policy hold --max-unavailable 2
expect_rc 1
expect_out ' worker-1 +held +uncordoned, back on flannel, held; the run goes on without it$'
expect_out '^cni-migrate: migrate: 2 node\(s\) held, still on flannel: worker-1 \(drain timed out after 20s: --drain-timeout-policy hold\); worker-2 \(drain timed out after 20s: --drain-timeout-policy hold\)\. The migration cannot complete until they move: run it again once they are no longer held \(2 node\(s\) migrated in this run\)$'
nodes "$dir/h1.yaml"
expect_out '^worker-1 net=flannel unsched=false step=- held=drain timed out after 20s \(--drain-timeout-policy hold\) failed=-$'
expect_out '^worker-3 net=calico unsched=false step=done held=- failed=-$'
run "$B" --fake "$dir/h1.yaml" --log-level warn --fake-save "$dir/h2.yaml" migrate
expect_rc 0
nodes "$dir/h2.yaml"
[ "$(printf '%s\n' "$OUT" | grep -c 'unsched=false step=done held=- failed=-$')" -eq 4 ] || fail "after the rerun: $OUT"

# a per-node step timeout: calico-node never Ready (its image crashes), --calico-ready-timeout 30s: the
# node fails at calico-ready 30 s after its label calico (status: since then, the saved cluster's
# clock now), marked; the rerun (the fault gone) completes
run "$B" --fake "$F4" --log-level warn --fake-save "$dir/t1.yaml" \
    --fault pods:imagePrefix=quay.io/calico/node,fail=CrashLoopBackOff migrate --calico-ready-timeout 30s
expect_rc 1
expect_out '^cni-migrate: migrate: node worker-1: calico-node Ready: timed out waiting for Pod worker-1 \(Timeout\)$'
run "$B" --fake "$dir/t1.yaml" --log-level warn status # the saved cluster's clock: when it failed
expect_out '^worker-1 +failed +calico-ready +2026-11-01T09:00:14Z \(3[01]s ago\) +calico-ready: node worker-1: calico-node Ready: timed out'
run "$B" --fake "$dir/t1.yaml" --log-level warn migrate
expect_rc 0
expect_out '^Migrated 4 node\(s\) to Calico'

# 7. rollback honours --max-unavailable (watched at every node event) and a pause mid-run
run "$B" --fake "$F10" --log-level warn --fake-save "$dir/m10.yaml" migrate --max-unavailable 3
expect_rc 0
run "$B" --fake "$dir/m10.yaml" --log-level warn run "$S/tests/k8s/schedule_watch.lua" "$S/lua/rollback.lua" 3 0 - \
    --max-unavailable 3
expect_rc 0
expect_out '^Rolled back 10 node\(s\) to flannel'
expect_out '^watched [0-9]+ node events: at most 3 cordoned by us \(limit 3\), 1 control plane\(s\) at once, 0 in one zone \(limit none\); 10 node\(s\) started$'
run "$B" --fake "$dir/m10.yaml" --log-level warn run "$S/tests/k8s/pause_mid.lua" "$S/lua/rollback.lua" 30 100 \
    --max-unavailable 2
expect_rc 0
expect_out '^Rolled back 10 node\(s\) to flannel'
expect_out '^paused at \+30s, resumed at \+130s: [1-9][0-9]* node\(s\) started before, [1-9][0-9]* in flight finished while paused, 0 started while paused, [1-9][0-9]* after$'

# 8. bad values: exit 2 naming the flag or variable, nothing sent
bad() { expect_usage_error "$F4" "$dir/bad.jsonl" "$@"; } # bad EXPECTED-MESSAGE-REGEX [VAR=VALUE] ARGS...
bad '^cni-migrate: migrate: flag --window-start "25:00": expected a time of day HH:MM' migrate --window-start 25:00
bad '^cni-migrate: migrate: flag --window-start: a window needs both --window-start and --window-end$' \
    migrate --window-start 22:00
bad '^cni-migrate: migrate: environment variable CNI_MIGRATE_WINDOW_END: a window needs both' \
    CNI_MIGRATE_WINDOW_END=04:00 migrate
bad '^cni-migrate: migrate: flag --window-start and flag --window-end: the same time, an empty window$' \
    migrate --window-start 22:00 --window-end 22:00
bad '^cni-migrate: migrate: flag --window-days "someday": expected days such as mon-fri or sat,sun$' \
    migrate --window-days someday
bad '^cni-migrate: migrate: environment variable CNI_MIGRATE_WINDOW_TIME_ZONE="Mars/Olympus": expected a time zone' \
    CNI_MIGRATE_WINDOW_TIME_ZONE=Mars/Olympus migrate
bad '^cni-migrate: migrate: flag --deadline "tomorrow": expected an RFC 3339 time' migrate --deadline tomorrow
bad '^cni-migrate: migrate: flag --drain-timeout-policy "skip": expected stop or hold$' \
    migrate --drain-timeout-policy skip
bad '^cni-migrate: migrate: environment variable CNI_MIGRATE_NODE_DELAY="soon": expected a duration' \
    CNI_MIGRATE_NODE_DELAY=soon migrate
bad '^cni-migrate: pause: unknown flag --why$' pause --why x
done_ok
