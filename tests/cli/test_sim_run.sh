#!/bin/sh
# `run --fake FIXTURE`: a script against the simulated cluster, in process, on the virtual clock;
# the trace and the summary; the same fixture, seed and script give the same trace.
. "$(dirname "$0")/lib.sh"
B=${CNI_MIGRATE:?}
S=${CM_SOURCE_DIR:?}
F="$S/examples/clusters/flannel-3node.yaml"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/script.lua" <<'LUA'
local k8s = require "cm.k8s"
local time = require "cm.time"
local c = assert(k8s.client())
print("source", c:info().source)
print("start", time.rfc3339())
for _, n in ipairs(assert(c:list { apiVersion = "v1", kind = "Node" }).items) do
   print("node", n.metadata.name, n.spec.podCIDR)
end
assert(c:patch({ apiVersion = "v1", kind = "Node", name = "worker-1" }, { spec = { unschedulable = true } },
   { type = "merge" }))
time.sleep(3600) -- an hour of virtual time: no wall time
local w1 = assert(c:get { apiVersion = "v1", kind = "Node", name = "worker-1" })
print("later", time.rfc3339(), w1.spec.unschedulable)
for _, taint in ipairs(w1.spec.taints or {}) do print("taint", taint.key, taint.effect) end
local pods = assert(c:list { apiVersion = "v1", kind = "Pod", fieldSelector = "spec.nodeName=worker-1" })
print("pods on worker-1", #pods.items)
local r, msg, reason = c:get { apiVersion = "v1", kind = "Node", name = "nope" }
print("missing", r, msg, reason)
LUA
run "$B" --fake "$F" --trace "$dir/t1.jsonl" run "$dir/script.lua"
expect_rc 0
expect_out "^source	fake cluster .*/flannel-3node\.yaml$"
expect_out "^start	2026-11-01T09:00:00\.000Z$"
expect_out "^node	worker-2	10\.244\.2\.0/24$"
expect_out "^later	2026-11-01T10:00:00\.[0-9]{3}Z	true$"
expect_out "^pods on worker-1	5$"
expect_out '^missing	nil	nodes "nope" not found	NotFound$'
expect_out "^taint	node\.kubernetes\.io/unschedulable	NoSchedule$"
# the cluster's actors: 1 request, and the 3 kubelets' node Leases, made and renewed twice in the
# hour (the renewals nothing could see are skipped on the virtual clock)
expect_out "INFO  simulation done: 6 requests from the script, 10 from the cluster's actors get=3 list=2 watch=0 create=0 update=0 patch=1 delete=0 virtual_seconds=3600\.[0-9]+$"
# the timeline: the script's requests and the cluster's changes, in virtual time
grep -q '"actor":"script","verb":"patch","method":"PATCH","path":"/api/v1/nodes/worker-1","status":200' "$dir/t1.jsonl" ||
    fail "no patch request in the trace"
grep -q '"actor":"cluster","event":"MODIFIED","kind":"Node","namespace":"","name":"worker-1"' "$dir/t1.jsonl" ||
    fail "no Node change in the trace"
# determinism: the same fixture, seed and script give the same trace, byte for byte
run "$B" --fake "$F" --trace "$dir/t2.jsonl" run "$dir/script.lua"
expect_rc 0
cmp -s "$dir/t1.jsonl" "$dir/t2.jsonl" || fail "two runs with the same seed traced differently"
# bad input: exit 2, one line naming what is wrong, nothing run
run "$B" --fake "$dir/none.yaml" run "$dir/script.lua"
expect_rc 2
expect_out "^cni-migrate: .*/none\.yaml: No such file or directory$"
expect_lines 1
printf 'kind: Pod\nmetadata: {name: x}\n' >"$dir/bad.yaml"
run "$B" --fake "$dir/bad.yaml" run "$dir/script.lua"
expect_rc 2
expect_out "^cni-migrate: .*/bad\.yaml:1: an object needs apiVersion and kind$"
printf 'apiVersion: cni-migrate.dev/v1alpha1\nkind: FakeCluster\nmetadata: {name: x}\nspec: {startTime: soon}\n' >"$dir/st.yaml"
run "$B" --fake "$dir/st.yaml" run "$dir/script.lua"
expect_rc 2
expect_out "^cni-migrate: .*/st\.yaml: FakeCluster spec\.startTime: expected a time like 2026-11-01T09:00:00Z$"
run "$B" --fake "$F" --seed -3 run "$dir/script.lua"
expect_rc 2
expect_out "^cni-migrate: --seed: expected a non-negative integer, got '-3'$"
run "$B" --fake "$F" --trace "$dir/no/such/dir/t.jsonl" run "$dir/script.lua"
expect_rc 2
expect_out "^cni-migrate: --trace .*/no/such/dir/t\.jsonl: No such file or directory$"
printf 'apiVersion: cni-migrate.dev/v1alpha1\nkind: FakeCluster\nmetadata: {name: x}\nspec: {simulation: {podStartDelay: soon}}\n' >"$dir/sim.yaml"
run "$B" --fake "$dir/sim.yaml" run "$dir/script.lua"
expect_rc 2
expect_out "^cni-migrate: .*/sim\.yaml: FakeCluster spec\.simulation\.podStartDelay: not a duration$"
expect_lines 1
# startTime moves the virtual clock's origin
printf 'apiVersion: cni-migrate.dev/v1alpha1\nkind: FakeCluster\nmetadata: {name: x}\nspec: {startTime: "2030-01-02T03:04:05Z"}\n' >"$dir/when.yaml"
printf 'print(require("cm.time").rfc3339())\n' >"$dir/now.lua"
run "$B" --fake "$dir/when.yaml" run "$dir/now.lua"
expect_rc 0
expect_out "^2030-01-02T03:04:05\.000Z$"
done_ok
