#!/bin/sh
# cm.node in simulation: cordon/uncordon with our annotation (an operator's cordon survives our
# uncordon), labels validated as the API server does, drain's refusals and evictions, a PDB-blocked
# drain that names the budget and ends at its timeout on the virtual clock, a StatefulSet pod
# replaced under the same name on another node that is never evicted, jittered retries that repeat
# with the seed, waits on watches; beyond kubectl: grace_period, the bound on evictions in flight,
# on_blocked (fail, delete), the final re-list, the exclusion list and the controller's own pod.
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
# beyond kubectl: grace_period, a bound on evictions in flight, on_blocked's fail and delete, the
# final re-list; then the exclusion list and the controller's own pod
cat >"$TMP/beyond.lua" <<'LUA'
local k8s = require "cm.k8s"
local node = require "cm.node"
local task = require "cm.task"
local time = require "cm.time"
local c = assert(k8s.client { qps = -1 })
local function deployment(name, replicas, on)
   assert(c:create { apiVersion = "apps/v1", kind = "Deployment", metadata = { name = name, namespace = "default" },
      spec = { replicas = replicas, selector = { matchLabels = { app = name } },
         template = { metadata = { labels = { app = name } }, spec = { nodeSelector = { ["kubernetes.io/hostname"] = on },
            containers = { { name = "c", image = "example.com/" .. name .. ":1" } } } } } })
end
local function pdb(name)
   assert(c:create { apiVersion = "policy/v1", kind = "PodDisruptionBudget", metadata = { name = name, namespace = "default" },
      spec = { minAvailable = 1, selector = { matchLabels = { app = name } } } })
end
deployment("many", 9, "worker-2")
deployment("held", 1, "worker-1")
pdb("held")
time.sleep(30)

-- grace_period 0 (each pod deleted at once, never first marked terminating) and at most 3
-- evictions in flight (the trace shows them: counted below)
local graces = {}
local w = task.spawn(function()
   for ev in c:watch { apiVersion = "v1", kind = "Pod", namespace = "default", labelSelector = "app=many", timeout = 60 } do
      local md = ev.object.metadata
      -- the first change toward its end: graceful (MODIFIED with a deletionTimestamp) or not; the
      -- eviction's DisruptionTarget condition comes before either
      if ev.type ~= "ADDED" and not graces[md.name] and (ev.type == "DELETED" or md.deletionTimestamp) then
         graces[md.name] = ev.type .. (md.deletionTimestamp and " graceful" or "")
      end
   end
end)
time.sleep(1)
local r = assert(node.drain(c, "worker-2", { pod_selector = "app=many", parallel = 3, grace_period = 0, timeout = 60 }))
assert(#r.evicted == 9, #r.evicted)
local n = 0
for name, g in pairs(graces) do n = n + 1; assert(g == "DELETED", name .. ": " .. g) end
assert(n == 9, n)
print("parallel and grace ok")

-- on_blocked: after 12 s blocked, fail (named), or delete (never the default)
local t0 = time.now()
local ok, msg, code = node.drain(c, "worker-1", { pod_selector = "app=held", on_blocked = { after = 12, action = "fail" },
   timeout = 60 })
local took = time.now() - t0
assert(ok == nil and code == "Blocked", code)
assert(took >= 12 and took < 12 + 6.25, took)
assert(msg:find("blocked by PodDisruptionBudget default/held (needs 1 healthy, has 1) for ", 1, true), msg)
t0 = time.now()
r = assert(node.drain(c, "worker-1", { pod_selector = "app=held", on_blocked = { after = 12, action = "delete" }, timeout = 60 }))
took = time.now() - t0
assert(#r.deleted == 1 and #r.evicted == 0 and r.deleted[1]:match("^default/held%-"), #r.deleted)
assert(took >= 12 and took < 12 + 6.25 + 3, took)
print(("on_blocked ok: failed, then deleted after %.1f s"):format(took))

-- a pod that lands on the node after the list (bound by nodeName, as the scheduler never would on
-- a cordoned node) while the drain waits for a blocked one is drained by the final re-list
assert(node.uncordon(c, "worker-1"))
deployment("slow", 1, "worker-1")
pdb("slow")
time.sleep(30)
local d = task.spawn(node.drain, c, "worker-1", { pod_selector = "app in (slow,late)", force = true, timeout = 60 })
time.sleep(1)
assert(c:create { apiVersion = "v1", kind = "Pod", metadata = { name = "late", namespace = "default", labels = { app = "late" } },
   spec = { nodeName = "worker-1", containers = { { name = "c", image = "example.com/late:1" } } } })
time.sleep(2)
assert(c:delete { apiVersion = "policy/v1", kind = "PodDisruptionBudget", namespace = "default", name = "slow" })
r = assert(d:wait())
table.sort(r.evicted)
assert(#r.evicted == 2 and r.evicted[1] == "default/late" and r.evicted[2]:match("^default/slow%-"),
   table.concat(r.evicted, " "))
print("relist ok")
w:wait()
LUA
run "$CNI_MIGRATE" --fake "$F" --seed 3 --trace "$TMP/beyond.jsonl" run "$TMP/beyond.lua"
expect_rc 0
expect_out '^parallel and grace ok$'
expect_out '^on_blocked ok: failed, then deleted after'
expect_out '^relist ok$'
# the 9 evictions went 3 at a time, a round per answer (1 ms in process)
rounds=$(grep '"actor":"script"' "$TMP/beyond.jsonl" | grep 'pods/many-[^"]*/eviction' | sed 's/^{"t":"\([^"]*\)".*/\1/' | uniq -c |
    awk '{print $1}' | tr '\n' ' ')
[ "$rounds" = "3 3 3 " ] || fail "evictions per round: $rounds(expected 3 3 3)"

cat >"$TMP/exclude.lua" <<'LUA'
local node = require "cm.node"
local c = assert(require("cm.k8s").client { qps = -1 })
require("cm.time").sleep(30)
local coredns
for _, p in ipairs(c:list { apiVersion = "v1", kind = "Pod", fieldSelector = "spec.nodeName=worker-1" }.items) do
   if p.metadata.name:match("^coredns") then coredns = "kube-system/" .. p.metadata.name end
end
local r = assert(node.drain(c, "worker-1", { ignore_daemonsets = true, delete_emptydir_data = true, exclude = { coredns },
   timeout = 60 }))
local skipped = {}
for _, s in ipairs(r.skipped) do skipped[#skipped + 1] = s.pod .. "=" .. s.reason end
table.sort(skipped)
print("skipped " .. table.concat(skipped, " "))
print("evicted " .. table.concat(r.evicted, " "))
local ok, err = pcall(node.drain, c, "worker-1", { exclude = { "no-slash" } })
assert(not ok and err:find('exclude[1] must be "namespace/name"', 1, true), err)
-- the DaemonSets a drain found are passed on: the next drain does not ask for them again
table.sort(r.daemonsets)
print("daemonsets " .. table.concat(r.daemonsets, " "))
local r2 = assert(node.drain(c, "worker-2", { ignore_daemonsets = true, delete_emptydir_data = true, timeout = 60,
   relist = false, cordon = false, daemonsets = r.daemonsets }))
local r3 = assert(node.drain(c, "control-plane-1", { ignore_daemonsets = true, delete_emptydir_data = true, timeout = 60,
   relist = false, cordon = false, daemonsets = { "kube-system/kube-proxy" } }))
table.sort(r3.daemonsets)
print(("daemonsets asked: %d %d, %s"):format(r2.requests - #r2.evicted - 1, r3.requests - #r3.evicted - 1,
   table.concat(r3.daemonsets, " ")))
ok, err = pcall(node.drain, c, "worker-1", { daemonsets = { "kube-proxy" } })
assert(not ok and err:find('daemonsets[1] must be "namespace/name"', 1, true), err)
LUA
run env POD_NAMESPACE=apps POD_NAME=web-25lf9c8f6-8kl82 "$CNI_MIGRATE" --fake "$F" run "$TMP/exclude.lua"
expect_rc 0
expect_out '^skipped apps/web-25lf9c8f6-8kl82=excluded kube-flannel/kube-flannel-ds-[a-z0-9]+=DaemonSet kube-system/coredns-[a-z0-9-]+=excluded kube-system/kube-proxy-[a-z0-9]+=DaemonSet$'
expect_out '^evicted apps/web-25lf9c8f6-bll82$'
expect_out '^daemonsets kube-flannel/kube-flannel-ds kube-system/kube-proxy$'
# requests beyond the list and the evictions (its watch is not counted): none known none asked; kube-proxy known, flannel's asked
expect_out '^daemonsets asked: 0 1, kube-flannel/kube-flannel-ds kube-system/kube-proxy$'
# a pod view (node.pods): one list and one watch of a node's pods serve its drain, pod waits, a
# node script and the pods left (view:list()); a view is of one node; a closed one raises; a view
# of one namespace and selector serves node scripts on any node, not a drain
cat >"$TMP/view.lua" <<'LUA'
local node = require "cm.node"
local c = assert(require("cm.k8s").client { qps = -1 })
require("cm.time").sleep(30)
local v <close> = node.pods(c, "worker-1")
local r = assert(node.drain(c, "worker-1", { ignore_daemonsets = true, delete_emptydir_data = true, timeout = 60,
   relist = false, pods = v }))
print("view evicted " .. #r.evicted)
local left = {}
for _, p in ipairs(assert(v:list())) do left[#left + 1] = p.metadata.namespace .. "/" .. p.metadata.name end
table.sort(left)
print("view left " .. table.concat(left, " "))
local proxy = assert(node.wait_pod(c, { namespace = "kube-system", selector = "k8s-app=kube-proxy", node = "worker-1",
   state = "ready", timeout = 10, pods = v }))
print("view ready " .. proxy.metadata.name:match("^(kube%-proxy)"))
assert(node.wait_pod(c, { selector = "app=web", node = "worker-1", state = "gone", timeout = 10, pods = v }) == true)
local f = assert(node.run_on(c, "worker-1", "node-facts", { vni = 1 }, { pods = v }))
print("view facts " .. f.flannel.name)
local ok, err = pcall(node.run_on, c, "worker-2", "node-facts", {}, { pods = v })
assert(not ok and err:find("option 'pods' is the view of node worker-1, not of worker-2", 1, true), err)
local ns <close> = node.pods(c, { namespace = "kube-system", selector = "cni-migrate.dev/node-run=node-facts" })
ok, err = pcall(node.drain, c, "worker-1", { pods = ns })
assert(not ok and err:find("must be the view of all the pods of node worker-1", 1, true), err)
ok, err = pcall(node.run_on, c, "worker-1", "node-facts", {}, { namespace = "default", pods = ns })
assert(not ok and err:find("is the view of namespace kube-system, not of default", 1, true), err)
assert(node.run_on(c, "worker-2", "node-facts", { vni = 1 }, { pods = ns })) -- of every node's node-facts pods
v:close()
ok, err = pcall(v.list, v)
assert(not ok and err:find("closed pod view", 1, true), err)
LUA
run "$CNI_MIGRATE" --fake "$F" --trace "$TMP/view.jsonl" run "$TMP/view.lua"
expect_rc 0
expect_out '^view evicted [1-9]'
expect_out '^view left kube-flannel/kube-flannel-ds-[a-z0-9]+ kube-system/kube-proxy-[a-z0-9]+$'
expect_out '^view ready kube-proxy$'
expect_out '^view facts flannel.1$'
reads=$(grep '"actor":"script"' "$TMP/view.jsonl" | grep -E '"verb":"(list|watch)"' | grep -c '/pods"')
[ "$reads" = 4 ] || fail "two views, a drain, waits and two node scripts read pods $reads times (expected 4: a list and a watch each)"
# a view whose list fails fails the drain and view:list() (a drain once took it for a node without pods)
cat >"$TMP/viewfail.lua" <<'LUA'
local node = require "cm.node"
local c = assert(require("cm.k8s").client { qps = -1 })
local v <close> = node.pods(c, "worker-1")
local r, _, code = node.drain(c, "worker-1", { ignore_daemonsets = true, relist = false, timeout = 60, pods = v })
local l, _, lcode = v:list()
print(("view failed: drain %s %s, list %s %s"):format(tostring(r), tostring(code), tostring(l), tostring(lcode)))
LUA
run "$CNI_MIGRATE" --fake "$F" --fault requests:error=500,resources=pods,verbs=list run "$TMP/viewfail.lua"
expect_rc 0
expect_out '^view failed: drain nil InternalError, list nil InternalError$'
done_ok
