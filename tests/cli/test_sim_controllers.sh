#!/bin/sh
# `run --fake`: Jobs, a Deployment rollout and a foreground deletion through cm.k8s, with the
# containers' lifetimes from the fixture's FakeCluster document; the same seed gives the same
# run; a bad container setting is refused with the file's name.
. "$(dirname "$0")/lib.sh"
B=${CNI_MIGRATE:?}
S=${CM_SOURCE_DIR:?}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
F="$dir/cluster.yaml"
cat "$S/examples/clusters/flannel-3node.yaml" >"$F"
cat >>"$F" <<'YAML'
---
apiVersion: cni-migrate.dev/v1alpha1
kind: FakeCluster
metadata: {name: controllers}
spec:
  simulation:
    pods:
    - {selector: "job-name=backup", runFor: 30}
    - {selector: "job-name=flaky", runFor: 5, exitCode: 2}
YAML
cat >"$dir/script.lua" <<'LUA'
local k8s = require "cm.k8s"
local time = require "cm.time"
local c = assert(k8s.client())
local function cond(o, type)
   for _, x in ipairs(o.status and o.status.conditions or {}) do
      if x.type == type and x.status == "True" then return x end
   end
end
local function job(name, backoff)
   assert(c:create { apiVersion = "batch/v1", kind = "Job", metadata = { name = name, namespace = "default" },
      spec = { completions = 2, backoffLimit = backoff, template = { spec = { restartPolicy = "Never",
         containers = { { name = "main", image = "busybox" } } } } } })
end
job("backup", 6)
job("flaky", 1)
local start = time.now()
local left = { backup = true, flaky = true }
while next(left) and time.now() - start < 900 do
   time.sleep(1)
   for _, name in ipairs { "backup", "flaky" } do -- in order: pairs() would differ from run to run
      local j = left[name] and assert(c:get { apiVersion = "batch/v1", kind = "Job", namespace = "default", name = name })
      local done = j and (cond(j, "Complete") or cond(j, "Failed"))
      if done then
         left[name] = nil
         print(("job %s %s %s succeeded=%d failed=%d after %ds"):format(name, done.type, done.reason,
            j.status.succeeded or 0, j.status.failed or 0, math.floor(time.now() - start)))
      end
   end
end
local web = { apiVersion = "apps/v1", kind = "Deployment", namespace = "apps", name = "web" }
assert(c:patch(web, { spec = { template = { spec = { containers = { { name = "nginx", image = "nginx:1.28" } } } } } },
   { type = "strategic" }))
start = time.now()
while time.now() - start < 900 do
   time.sleep(1)
   local d = assert(c:get(web))
   local p = cond(d, "Progressing")
   if p and p.reason == "NewReplicaSetAvailable" and d.status.updatedReplicas == d.spec.replicas then
      print(("rollout revision %s updated=%d after %ds"):format(d.metadata.annotations["deployment.kubernetes.io/revision"],
         d.status.updatedReplicas, math.floor(time.now() - start)))
      break
   end
end
local d = assert(c:delete(web, { propagationPolicy = "Foreground" }))
print("deleting with finalizers", table.concat(d.metadata.finalizers, ","))
start = time.now()
while c:get(web) and time.now() - start < 300 do time.sleep(1) end
local rs = assert(c:list { apiVersion = "apps/v1", kind = "ReplicaSet", namespace = "apps", labelSelector = "app=web" }).items
local pods = assert(c:list { apiVersion = "v1", kind = "Pod", namespace = "apps", labelSelector = "app=web" }).items
print(("deployment gone: %s, replicasets %d, pods %d"):format(tostring(c:get(web) == nil), #rs, #pods))
LUA
run "$B" --fake "$F" --seed 4 --trace "$dir/t1.jsonl" run "$dir/script.lua"
expect_rc 0
expect_out "^job backup Complete CompletionsReached succeeded=2 failed=0 after [0-9]+s$"
expect_out "^job flaky Failed BackoffLimitExceeded succeeded=0 failed=2 after [0-9]+s$"
expect_out "^rollout revision 2 updated=[0-9]+ after [0-9]+s$"
expect_out "^deleting with finalizers	foregroundDeletion$"
expect_out "^deployment gone: true, replicasets 0, pods 0$"
first=$OUT
run "$B" --fake "$F" --seed 4 --trace "$dir/t2.jsonl" run "$dir/script.lua"
expect_rc 0
[ "$OUT" = "$first" ] || fail "the same seed printed differently"
cmp -s "$dir/t1.jsonl" "$dir/t2.jsonl" || fail "two runs with the same seed traced differently"
printf 'apiVersion: cni-migrate.dev/v1alpha1\nkind: FakeCluster\nmetadata: {name: x}\nspec: {simulation: {pods: [{selector: "a=b", runFor: later}]}}\n' >"$dir/bad.yaml"
run "$B" --fake "$dir/bad.yaml" run "$dir/script.lua"
expect_rc 2
expect_out "^cni-migrate: .*/bad\.yaml: FakeCluster spec\.simulation\.pods\[0\]\.runFor: not a duration$"
expect_lines 1
done_ok
