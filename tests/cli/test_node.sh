#!/bin/sh
# cm.node in simulation: cordon/uncordon with our annotation (an operator's cordon survives our
# uncordon), labels validated as the API server does, drain's refusals and evictions, a PDB-blocked
# drain that names the budget and ends at its timeout on the virtual clock, a StatefulSet pod
# replaced under the same name on another node that is never evicted, jittered retries that repeat
# with the seed, waits on watches.
. "$(dirname "$0")/lib.sh"
SRC=${CM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
F="$SRC/examples/clusters/flannel-3node.yaml"

cat >"$TMP/cordon.lua" <<'LUA'
local k8s = require "cm.k8s"
local node = require "cm.node"
local json = require "cm.json"
local c = assert(k8s.client { qps = -1 })
local N = { apiVersion = "v1", kind = "Node", name = "worker-1" }
assert(node.cordon(c, "worker-1") == true)
local ch, why = node.cordon(c, "worker-1")
assert(ch == false and why == "Already", why)
local n = assert(c:get(N))
assert(n.spec.unschedulable == true and node.is_cordoned_by_us(n))
assert(n.metadata.annotations[node.CORDONED_ANNOTATION]:match("^%d%d%d%d%-%d%d%-%d%dT"))
assert(node.uncordon(c, "worker-1", { only_ours = true }) == true)
n = assert(c:get(N))
assert(n.spec.unschedulable == nil and n.metadata.annotations[node.CORDONED_ANNOTATION] == nil)
-- an operator's cordon (kubectl cordon: no annotation of ours) survives our uncordon
assert(c:patch(N, { spec = { unschedulable = true } }, { type = "strategic" }))
assert(node.cordon(c, "worker-1") == false)
ch, why = node.uncordon(c, "worker-1", { only_ours = true })
assert(ch == false and why == "NotOurs", why)
n = assert(c:get(N))
assert(n.spec.unschedulable == true and not node.is_cordoned_by_us(n))
assert(node.uncordon(c, "worker-1") == true)          -- kubectl's uncordon: unconditional
print("cordon ok")
-- labels and annotations: one patch, no-op when already so, validated before anything is sent
assert(node.labels(c, "worker-1", { ["example.com/a"] = "1", ["example.com/b"] = "2" }) == true)
assert(node.labels(c, "worker-1", { ["example.com/a"] = "1" }) == false)
assert(node.labels(c, "worker-1", { ["example.com/a"] = json.null, ["example.com/b"] = "3" }) == true)
n = assert(c:get(N))
assert(n.metadata.labels["example.com/a"] == nil and n.metadata.labels["example.com/b"] == "3")
local rv = n.metadata.resourceVersion
local ok, msg, code = node.labels(c, "worker-1", { ["example.com/x"] = "not ok!" })
assert(ok == nil and code == "Invalid", code)
assert(msg:find('Node "worker-1" is invalid: metadata.labels: Invalid value: "not ok!"', 1, true), msg)
ok, msg, code = node.annotations(c, "worker-1", { ["a/b/c"] = "x" })
assert(ok == nil and code == "Invalid" and msg:find("metadata.annotations", 1, true), msg)
assert(assert(c:get(N)).metadata.resourceVersion == rv, "an invalid change was sent")
assert(node.annotations(c, "worker-1", { ["example.com/note"] = "hello" }) == true)
print("labels ok")
ok, msg, code = node.cordon(c, "no-such-node")
assert(ok == nil and code == "NotFound", code)
print("missing ok")
LUA
run "$CNI_MIGRATE" --fake "$F" run "$TMP/cordon.lua"
expect_rc 0
expect_out '^cordon ok$'
expect_out '^labels ok$'
expect_out '^missing ok$'

cat >"$TMP/drain.lua" <<'LUA'
local k8s = require "cm.k8s"
local node = require "cm.node"
local time = require "cm.time"
local c = assert(k8s.client { qps = -1 })
local function on(name)
   local l = assert(c:list { apiVersion = "v1", kind = "Pod", fieldSelector = "spec.nodeName=" .. name })
   local t = {}
   for _, p in ipairs(l.items) do t[#t + 1] = p.metadata.namespace .. "/" .. p.metadata.name end
   table.sort(t)
   return t
end
-- refused: DaemonSet and emptyDir pods, nothing evicted, the node cordoned
local before = on("worker-1")
local rep = {}
local r, msg, code = node.drain(c, "worker-1", { report = rep })
assert(r == nil and code == "Refused", code)
assert(msg:find("cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): ", 1, true), msg)
assert(msg:find("cannot delete Pods with local storage (use --delete-emptydir-data to override): ", 1, true), msg)
assert(#rep.failed == 4 and #rep.evicted == 0, #rep.failed)
assert(table.concat(on("worker-1"), " ") == table.concat(before, " "), "a refused drain evicted pods")
assert(assert(c:get { apiVersion = "v1", kind = "Node", name = "worker-1" }).spec.unschedulable == true)
print("refused ok")
-- a PDB that allows no disruption blocks web's pods; the drain ends at its timeout, naming it
assert(c:create { apiVersion = "policy/v1", kind = "PodDisruptionBudget",
   metadata = { name = "web-pdb", namespace = "apps" },
   spec = { minAvailable = 4, selector = { matchLabels = { app = "web" } } } })
time.sleep(1)
local events, retries = {}, 0
local t0 = time.now()
rep = {}
r, msg, code = node.drain(c, "worker-1", { ignore_daemonsets = true, delete_emptydir_data = true, timeout = 30,
   report = rep, on_progress = function(ev)
      events[#events + 1] = ev
      if ev.event == "blocked" then retries = retries + 1 end
   end })
local took = time.now() - t0
assert(r == nil and code == "Timeout", tostring(msg))
assert(took >= 30 and took < 30.01, took)
assert(msg:find("PodDisruptionBudget apps/web-pdb: needs 4 healthy, has 4", 1, true), msg)
assert(#rep.left == 2 and #rep.blocked == 2 and rep.blocked[1].pdb == "apps/web-pdb", #rep.blocked)
assert(rep.blocked[1].message == "needs 4 healthy, has 4", rep.blocked[1].message)
assert(#rep.evicted == 1 and rep.evicted[1]:match("^kube%-system/coredns"), rep.evicted[1])
-- 2 pods retried every 5 s +-25% for 30 s: between 2 * 30/6.25 and 2 * 30/3.75 + 2 refusals
assert(retries >= 10 and retries <= 18, retries)
print(("blocked ok: %d refusals in %.2f s"):format(retries, took))
LUA
run "$CNI_MIGRATE" --fake "$F" --seed 7 run "$TMP/drain.lua"
expect_rc 0
expect_out '^refused ok$'
expect_out '^blocked ok'
first=$(printf '%s\n' "$OUT" | grep '^blocked ok')
run "$CNI_MIGRATE" --fake "$F" --seed 7 run "$TMP/drain.lua"
[ "$(printf '%s\n' "$OUT" | grep '^blocked ok')" = "$first" ] || fail "the same seed gave other retries"

# a StatefulSet pod blocked by its PDB is deleted by someone else and comes back under the same name
# on another node: the drain counts it gone and never evicts the replacement
cat >"$TMP/sts.lua" <<'LUA'
local k8s = require "cm.k8s"
local node = require "cm.node"
local task = require "cm.task"
local time = require "cm.time"
local c = assert(k8s.client { qps = -1 })
assert(c:create { apiVersion = "apps/v1", kind = "StatefulSet", metadata = { name = "db", namespace = "default" },
   spec = { replicas = 1, serviceName = "db", selector = { matchLabels = { app = "db" } },
      template = { metadata = { labels = { app = "db" } },
         spec = { nodeSelector = { ["kubernetes.io/hostname"] = "worker-1" },
            containers = { { name = "db", image = "db:1" } } } } } })
assert(c:create { apiVersion = "policy/v1", kind = "PodDisruptionBudget",
   metadata = { name = "db", namespace = "default" },
   spec = { minAvailable = 1, selector = { matchLabels = { app = "db" } } } })
time.sleep(5)
local old = assert(c:get { apiVersion = "v1", kind = "Pod", namespace = "default", name = "db-0" })
assert(old.spec.nodeName == "worker-1", old.spec.nodeName)
-- the replacement may go to worker-2 once worker-1 is cordoned
local sts = { apiVersion = "apps/v1", kind = "StatefulSet", namespace = "default", name = "db" }
local d = task.spawn(node.drain, c, "worker-1", { ignore_daemonsets = true, delete_emptydir_data = true,
   pod_selector = "app=db", timeout = 120 })
time.sleep(3)
assert(c:patch(sts, { spec = { template = { spec = { nodeSelector = json_null } } } }))
LUA
sed -i 's/json_null/require("cm.json").null/' "$TMP/sts.lua"
cat >>"$TMP/sts.lua" <<'LUA'
assert(c:delete({ apiVersion = "v1", kind = "Pod", namespace = "default", name = "db-0" }, { gracePeriodSeconds = 0 }))
local r, msg, code = d:wait()
assert(r, msg)
local new = assert(node.wait_pod(c, { namespace = "default", selector = "app=db", state = "ready", timeout = 60 }))
assert(new.metadata.name == "db-0" and new.metadata.uid ~= old.metadata.uid)
assert(new.spec.nodeName ~= "worker-1", new.spec.nodeName)
time.sleep(10)
local now = assert(c:get { apiVersion = "v1", kind = "Pod", namespace = "default", name = "db-0" })
assert(now.metadata.uid == new.metadata.uid and not now.metadata.deletionTimestamp, "the replacement was evicted")
assert(#r.evicted == 1 and r.evicted[1] == "default/db-0", #r.evicted)
print("statefulset ok on " .. new.spec.nodeName)
-- waits on watches: the node condition holds, a pod selector that matches nothing is gone
assert(node.wait_node(c, "worker-2", { condition = "Ready", status = "True", timeout = 5 }))
assert(node.wait_pod(c, { namespace = "default", selector = "app=nothing", state = "gone", timeout = 5 }) == true)
local t0 = time.now()
local ok, msg2, code2 = node.wait_pod(c, { namespace = "default", selector = "app=nothing", timeout = 7 })
assert(ok == nil and code2 == "Timeout" and time.now() - t0 >= 7, msg2)
print("waits ok")
LUA
run "$CNI_MIGRATE" --fake "$F" run "$TMP/sts.lua"
expect_rc 0
expect_out '^statefulset ok on worker-'
expect_out '^waits ok$'
done_ok
