-- What the simulated kubelets and scheduler leave in the cluster, as the real ones do
-- (tests/cli/test_fake_kubelet.sh runs it on examples/clusters/flannel-3node.yaml with worker-2's
-- kubelet stopping at 30 s): each node's Lease in kube-node-lease renewed every 10 s of the virtual
-- clock (not worker-2's once it stopped); the Scheduled, Pulled, Created, Started and Killing
-- Events in the upstream words; the simulated container's log lines. (That the renewals do not keep
-- a virtual clock going by themselves is tests/c/test_loop.c's test_virtual_background.)
local k8s = require "cm.k8s"
local time = require "cm.time"
local t = require "t"

local c = assert(k8s.client { qps = -1 })

local function lease(node)
   return assert(c:get { apiVersion = "coordination.k8s.io/v1", kind = "Lease", namespace = "kube-node-lease",
      name = node })
end
local function seconds(micro) -- "2026-11-01T09:00:20.000000Z" -> seconds after 09:00
   local h, m, s = micro:match("T(%d+):(%d+):([%d.]+)Z$")
   return math.tointeger((tonumber(h) - 9) * 3600 + tonumber(m) * 60 + math.floor(tonumber(s)))
end

time.sleep(25)
local nodes = assert(c:list { apiVersion = "v1", kind = "Node" })
for _, n in ipairs(nodes.items) do
   local l = lease(n.metadata.name)
   t.eq(l.spec.holderIdentity, n.metadata.name, "holderIdentity")
   t.eq(l.spec.leaseDurationSeconds, 40, "leaseDurationSeconds")
   t.eq(l.metadata.ownerReferences[1].kind, "Node", "owned by the Node")
   t.eq(l.metadata.ownerReferences[1].uid, n.metadata.uid, "owner uid")
   t.match(l.spec.renewTime, "^2026%-11%-01T09:00:20%.000000Z$", "renewed at 20 s, a MicroTime")
end
time.sleep(40) -- 65 s: worker-2's kubelet stopped at 30 s
t.eq(seconds(lease("worker-1").spec.renewTime), 60, "worker-1 renewed at 60 s")
t.eq(seconds(lease("worker-2").spec.renewTime), 20, "worker-2: none from 30 s, when its kubelet stopped")

-- a pod through the scheduler and a kubelet, then deleted
assert(c:create { apiVersion = "v1", kind = "Pod", metadata = { name = "p", namespace = "default" },
   spec = { nodeSelector = { ["kubernetes.io/hostname"] = "worker-1" },
      containers = { { name = "main", image = "example.com/app:1" } } } })
time.sleep(10)
local p = assert(c:get { apiVersion = "v1", kind = "Pod", namespace = "default", name = "p" })
t.eq(p.status.phase, "Running", "the pod runs")
local log = assert(c:logs { namespace = "default", name = "p" })
t.match(log, "^2026%-11%-01T09:01:0[5-9]%.%d+Z simulated container main %(image example%.com/app:1%) "
   .. "started on node worker%-1\n$", "its log")
assert(c:delete { apiVersion = "v1", kind = "Pod", namespace = "default", name = "p" })
time.sleep(10)
local evs = assert(c:list { apiVersion = "v1", kind = "Event", namespace = "default",
   fieldSelector = "involvedObject.name=p" })
local seen = {}
for _, e in ipairs(evs.items) do
   seen[#seen + 1] = ("%s %s %s [%s/%s %s] %s"):format(e.type, e.reason, e.message, e.reportingComponent,
      e.reportingInstance, e.involvedObject.fieldPath or "-", e.source.component or "-")
   if e.reason == "Scheduled" then
      t.eq(e.action, "Binding", "the scheduler's action")
      t.match(e.eventTime, "^2026%-11%-01T09:01:0%d%.%d%d%d%d%d%dZ$", "eventTime, a MicroTime")
      t.eq(e.count, nil, "an events.k8s.io Event has no count")
   else
      t.eq(e.count, 1, "count")
      t.eq(e.source.host, "worker-1", "the kubelet's host")
   end
end
t.eq(table.concat(seen, "\n"), table.concat({
   "Normal Scheduled Successfully assigned default/p to worker-1 [default-scheduler/default-scheduler-control-plane-1 -] -",
   'Normal Pulled Container image "example.com/app:1" already present on machine '
      .. "[kubelet/worker-1 spec.containers{main}] kubelet",
   "Normal Created Created container: main [kubelet/worker-1 spec.containers{main}] kubelet",
   "Normal Started Started container main [kubelet/worker-1 spec.containers{main}] kubelet",
   "Normal Killing Stopping container main [kubelet/worker-1 spec.containers{main}] kubelet",
}, "\n"), "the Events of the pod, in order")

t.done()
