#!/bin/sh
# Injected faults in `run --fake` (runtime/fake/sim/fault.c): the rate of API errors (the same seed
# gives the same count, another seed can differ, the count within binomial bounds), faults drawn
# apart from the simulation's other randomness, cm.k8s against 429/500/409 and resets and a
# watch the server keeps ending, the simulation's faults (tests/k8s/sim_faults.lua), the trace and
# the summary, and strict checking of spec.faults and --fault.
. "$(dirname "$0")/lib.sh"
B=${CNI_MIGRATE:?}
S=${CM_SOURCE_DIR:?}
F="$S/examples/clusters/flannel-3node.yaml"
L="$S/tests/k8s/faults.lua"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# --- the rate: 400 reads, each failing with probability 0.25 (mean 100, sd 8.7; bounds 5 sd)
rate() { # rate SEED TRACE: the count the script saw, checked against the summary and the trace
    run "$B" --fake "$F" --seed "$1" --trace "$2" --fault requests:error=500,rate=0.25,verbs=get,resources=nodes \
        run "$L" count 400
    expect_rc 0
    n=$(printf '%s\n' "$OUT" | sed -n 's/^failed \([0-9]*\) of 400$/\1/p')
    [ -n "$n" ] || { fail "no count"; n=0; }
    expect_out "INFO  faults injected: $n error=$n reset=0 watchDrop=0 "
    traced=$(grep -c '"actor":"fault","fault":"error","verb":"get","method":"GET","path":"/api/v1/nodes/worker-1","code":500' "$2")
    [ "$traced" -eq "$n" ] || fail "the trace has $traced faults, the script saw $n"
}
rate 1 "$dir/r1.jsonl"
n1=$n
[ "$n1" -ge 57 ] && [ "$n1" -le 143 ] || fail "seed 1: $n1 failures of 400 at rate 0.25 is outside 57..143"
rate 1 "$dir/r1b.jsonl"
[ "$n" -eq "$n1" ] || fail "the same seed gave $n1 then $n failures"
cmp -s "$dir/r1.jsonl" "$dir/r1b.jsonl" || fail "the same seed traced differently"
differs=0
for seed in 2 3 4 5 6; do
    rate "$seed" "$dir/r$seed.jsonl"
    [ "$n" -ge 57 ] && [ "$n" -le 143 ] || fail "seed $seed: $n failures of 400 is outside 57..143"
    [ "$n" -ne "$n1" ] && differs=1
done
[ "$differs" -eq 1 ] || fail "six seeds gave the same count $n1"

# --- faults have a random stream of their own: a rule that draws for every request but never
# fires leaves the simulation's run (uids, names, sandbox ids, delays) as it was
cat >"$dir/churn.lua" <<'LUA'
local k8s = require "cm.k8s"
local time = require "cm.time"
local c = assert(k8s.client())
for _, p in ipairs(assert(c:list { apiVersion = "v1", kind = "Pod", namespace = "apps" }).items) do
   assert(c:delete { apiVersion = "v1", kind = "Pod", namespace = "apps", name = p.metadata.name })
end
time.sleep(60)
LUA
run "$B" --fake "$F" --seed 9 --trace "$dir/plain.jsonl" run "$dir/churn.lua"
expect_rc 0
run "$B" --fake "$F" --seed 9 --trace "$dir/drawn.jsonl" --fault requests:error=500,rate=0 run "$dir/churn.lua"
expect_rc 0
expect_out "INFO  faults injected: 0 "
grep -q '"actor":"cluster","event":"ADDED","kind":"Pod","namespace":"apps"' "$dir/plain.jsonl" ||
    fail "the ReplicaSet made no new pods"
cmp -s "$dir/plain.jsonl" "$dir/drawn.jsonl" || fail "drawing faults changed the simulation's run"

# --- cm.k8s: a 429 with Retry-After is retried after it
run "$B" --fake "$F" --fault requests:error=429,retryAfter=2,times=3,resources=nodes run "$L" retry
expect_rc 0
expect_out "^waited 6 s$"
expect_out "^ok: "
expect_out "INFO  faults injected: 3 error=3 "
# ... a 500 with Retry-After too
run "$B" --fake "$F" --fault requests:error=500,retryAfter=1,times=2,resources=nodes run "$L" retry
expect_rc 0
expect_out "^waited 2 s$"
# a 429 without Retry-After, a 500 without: surfaced at once, as the README says
run "$B" --fake "$F" --fault requests:error=429,times=1,resources=nodes run "$L" surface
expect_rc 0
expect_out "^message: Too many requests: the server is overloaded$"
expect_out "^reason: TooManyRequests$"
run "$B" --fake "$F" --fault requests:error=500,times=1,verbs=get,resources=nodes run "$L" surface
expect_rc 0
expect_out "^message: Internal error occurred: etcdserver: request timed out$"
expect_out "^reason: InternalError$"
# a 409 on a write, as NewConflict words it
run "$B" --fake "$F" --fault requests:error=409,resources=nodes run "$L" conflict
expect_rc 0
expect_out '^message: Operation cannot be fulfilled on nodes "worker-1": the object has been modified; please apply your changes to the latest version and try again$'
expect_out "^reason: Conflict$"
# a reset: a read is retried, a write is not
run "$B" --fake "$F" --fault requests:error=reset,verbs=get,times=2,resources=nodes \
    --fault requests:error=reset,verbs=patch run "$L" reset
expect_rc 0
expect_out "^write: ConnectionReset: "
expect_out "^ok: "
expect_out "INFO  faults injected: 3 error=0 reset=3 "
# a watch the server ends every few seconds: resumed with nothing lost or repeated
run "$B" --fake "$F" --trace "$dir/w.jsonl" --fault watchDrops:resources=configmaps,within=5s run "$L" watch 30
expect_rc 0
expect_out "^events 30$"
expect_out "^ok: "
drops=$(grep -c '"actor":"fault","fault":"watchDrop","resource":"configmaps","namespace":"default"' "$dir/w.jsonl")
[ "$drops" -ge 6 ] || fail "only $drops watch drops in 40 s at most 5 s apart"
expect_out "INFO  faults injected: $drops error=0 reset=0 watchDrop=$drops "

# --- the simulation's faults, from the fixture's FakeCluster document this time
cp "$F" "$dir/fx.yaml"
cat >>"$dir/fx.yaml" <<'YAML'
---
apiVersion: cni-migrate.dev/v1alpha1
kind: FakeCluster
metadata: {name: faults}
spec:
  faults:
    pods:
    - {imagePrefix: example.com/broken, fail: ErrImagePull}
    - {imagePrefix: example.com/crash, fail: CrashLoopBackOff}
    - {imagePrefix: example.com/slow, startDelay: 60s}
    terminating:
    - {namespace: default, name: fine}
    nodes:
    - {name: worker-2, notReadyAt: 2m}
    pdbs:
    - {namespace: apps, name: web}
YAML
run env LUA_PATH_5_4="$S/tests/lua/?.lua" "$B" --fake "$dir/fx.yaml" --trace "$dir/s.jsonl" run "$S/tests/k8s/sim_faults.lua"
expect_rc 0
expect_out "^ok: "
expect_out "^evict: Cannot evict pod as it would violate the pod's disruption budget\.$"
expect_out "INFO  faults injected: [0-9]+ error=0 reset=0 watchDrop=0 slowStart=1 failedStart=[0-9]+ nodeNotReady=1 pdbBlocked=1 stuckTerminating=1$"
grep -q '"t":"2026-11-01T09:02:00.000Z","actor":"fault","fault":"nodeNotReady","node":"worker-2"' "$dir/s.jsonl" ||
    fail "no nodeNotReady at 2 min in the trace"
grep -q '"actor":"fault","fault":"failedStart","namespace":"default","pod":"broken","node":"worker-1","reason":"ErrImagePull","attempt":1' "$dir/s.jsonl" ||
    fail "no failedStart in the trace"

# --- strict checking: one line naming the file, line and field (or the flag), exit 2
run "$B" --fake "$F" --fault requests:error=500,rate=2 run "$L" count 1
expect_rc 2
expect_out "^cni-migrate: --fault 'requests:error=500,rate=2': rate: expected a probability from 0 to 1$"
expect_lines 1
run "$B" --fake "$F" --fault requests:colour=red run "$L" count 1
expect_rc 2
expect_out "^cni-migrate: --fault 'requests:colour=red': 'colour=red' is not KEY=VALUE with a field of requests$"
run "$B" --fake "$F" --fault outages:node=x run "$L" count 1
expect_rc 2
expect_out "^cni-migrate: --fault 'outages:node=x': expected SECTION:KEY=VALUE,\.\.\. with SECTION one of requests, watchDrops, pods, nodes, pdbs, terminating, crash$"
run "$B" --fault requests:error=500 run "$L" count 1
expect_rc 2
expect_out "^cni-migrate: --fault needs --fake"
run "$B" --fake "$F" --fault pods:selector=app=web,tier,startDelay=soon run "$L" count 1
expect_rc 2
expect_out "^cni-migrate: --fault 'pods:selector=app=web,tier,startDelay=soon': startDelay: expected a duration \(seconds, or like 90s, 5m\)$"
bad() { # bad YAML-LINES...: a FakeCluster document with these lines under spec.faults
    { printf 'apiVersion: cni-migrate.dev/v1alpha1\nkind: FakeCluster\nmetadata: {name: x}\nspec:\n  faults:\n'
      printf '%s\n' "$@"; } >"$dir/bad.yaml"
    run "$B" --fake "$dir/bad.yaml" run "$L" count 1
    expect_rc 2
    expect_lines 1
}
bad '    requests:' '    - error: 500' '      rate: 0.5' '      verbs: [get, lst]'
expect_out "^cni-migrate: .*/bad\.yaml:9: FakeCluster spec\.faults\.requests\[0\]\.verbs: unknown verb 'lst' \(get, list, watch, create, update, patch, delete\)$"
bad '    requests:' '    - error: 409' '      verbs: [get]'
expect_out "^cni-migrate: .*/bad\.yaml:8: FakeCluster spec\.faults\.requests\[0\]\.verbs: a 409 Conflict answers update, patch and delete only$"
bad '    nodes:' '    - {name: worker-1}' '    - notReadyAt: 30s'
expect_out "^cni-migrate: .*/bad\.yaml:8: FakeCluster spec\.faults\.nodes\[1\]\.name: missing \(the node's name\)$"
bad '    pods:' '    - imagePrefix: x/' '      fail: OOMKilled'
expect_out "^cni-migrate: .*/bad\.yaml:8: FakeCluster spec\.faults\.pods\[0\]\.fail: expected ErrImagePull or CrashLoopBackOff$"
bad '    watchDrops:' '    - within: 10s' '      every: 3'
expect_out "^cni-migrate: .*/bad\.yaml:8: FakeCluster spec\.faults\.watchDrops\[0\]\.every: unknown field \(watchDrops has rate, resources, within, times\)$"
bad '    outages: []'
expect_out "^cni-migrate: .*/bad\.yaml:6: FakeCluster spec\.faults\.outages: unknown section"
bad '    terminating:' '    - rate: 0.5'
expect_out "^cni-migrate: .*/bad\.yaml:7: FakeCluster spec\.faults\.terminating\[0\]: needs imagePrefix, selector, namespace or name to say which pods$"
done_ok
