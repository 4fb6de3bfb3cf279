-- The simulation's faults as a script sees them (tests/cli/test_faults.sh gives the faults):
-- failing and slow pod starts, a pod stuck terminating, a node going NotReady, a PDB that never
-- allows a disruption. Run on examples/clusters/flannel-3node.yaml.
local k8s = require "cm.k8s"
local time = require "cm.time"
local t = require "t"

local c = assert(k8s.client { qps = -1 })

local function pod(name, image)
   return { apiVersion = "v1", kind = "Pod",
      metadata = { name = name, namespace = "default", labels = { app = name } },
      spec = { nodeName = "worker-1", containers = { { name = "main", image = image } } } }
end
local function get_pod(name)
   return c:get { apiVersion = "v1", kind = "Pod", namespace = "default", name = name }
end
local function waiting(p)
   local cs = (p.status.containerStatuses or {})[1] or {}
   return cs.state and cs.state.waiting or {}, cs.restartCount
end
local function condition(obj, type)
   for _, cd in ipairs(obj.status.conditions or {}) do
      if cd.type == type then return cd end
   end
   return {}
end
local function events_of(name)
   local out = {}
   local evs = assert(c:list { apiVersion = "v1", kind = "Event", namespace = "default",
      fieldSelector = "involvedObject.name=" .. name })
   for _, e in ipairs(evs.items) do out[#out + 1] = e.type .. " " .. e.reason .. ": " .. e.message end
   table.sort(out)
   return table.concat(out, "\n")
end

for name, image in pairs { broken = "example.com/broken:1", crash = "example.com/crash:1",
   slow = "example.com/slow:1", fine = "example.com/fine:1" } do
   assert(c:create(pod(name, image)))
end
assert(c:create { apiVersion = "policy/v1", kind = "PodDisruptionBudget",
   metadata = { name = "web", namespace = "apps" },
   spec = { maxUnavailable = 1, selector = { matchLabels = { app = "web" } } } })
time.sleep(30)
local slow = assert(get_pod("slow"))
t.eq(slow.status.phase, "Pending", "a slow start is not there yet")

-- the PDB of web never allows a disruption, though maxUnavailable is 1
local pdb = assert(c:get { apiVersion = "policy/v1", kind = "PodDisruptionBudget", namespace = "apps", name = "web" })
t.eq(pdb.status.disruptionsAllowed, 0, "no disruption allowed")
t.eq(pdb.status.desiredHealthy, pdb.status.expectedPods, "every pod must stay")
local webs = assert(c:list { apiVersion = "v1", kind = "Pod", namespace = "apps", labelSelector = "app=web" })
local r, msg, reason = c:evict { namespace = "apps", name = webs.items[1].metadata.name }
t.eq(r, nil, "eviction refused")
t.eq(reason, "TooManyRequests", "refused as a real server does")
print("evict: " .. tostring(msg))
time.sleep(60)

-- ErrImagePull, then ImagePullBackOff, with the kubelet's Events
local broken = assert(get_pod("broken"))
local w = waiting(broken)
t.eq(broken.status.phase, "Pending", "an image that cannot be pulled")
t.eq(w.reason, "ImagePullBackOff", "waiting reason")
t.eq(w.message, 'Back-off pulling image "example.com/broken:1"', "waiting message")
t.eq(condition(broken, "Ready").message, "containers with unready status: [main]", "Ready says why")
local ev = events_of("broken")
t.match(ev, 'Normal Pulling: Pulling image "example.com/broken:1"', "Pulling")
t.match(ev, 'Warning Failed: Failed to pull image "example.com/broken:1": rpc error: code = NotFound', "pull error")
t.match(ev, "Warning Failed: Error: ErrImagePull", "ErrImagePull")
t.match(ev, 'Normal BackOff: Back%-off pulling image "example.com/broken:1"', "BackOff")
t.match(ev, "Warning Failed: Error: ImagePullBackOff", "ImagePullBackOff")

-- a crash loop: Running, not ready, restarts counting up, the back-off in the message
local crash = assert(get_pod("crash"))
local cw, restarts = waiting(crash)
t.eq(crash.status.phase, "Running", "a crashing container's pod runs")
t.eq(cw.reason, "CrashLoopBackOff", "waiting reason")
local uid = crash.metadata.uid:gsub("%-", "%%-")
t.match(cw.message, "^back%-off %d+s restarting failed container=main pod=crash_default%(" .. uid .. "%)$",
   "waiting message")
t.eq(restarts >= 3, true, "restarts counted: " .. tostring(restarts))
t.eq(crash.status.containerStatuses[1].lastState.terminated.exitCode, 1, "the last run's exit code")
t.match(events_of("crash"), "Warning BackOff: Back%-off restarting failed container main in pod crash_default%(",
   "BackOff event")

t.eq(assert(get_pod("slow")).status.phase, "Running", "a slow start, started")
t.eq(assert(get_pod("fine")).status.phase, "Running", "an ordinary pod")

-- stuck terminating: deleted, still there long after its grace period
assert(c:delete({ apiVersion = "v1", kind = "Pod", namespace = "default", name = "fine" }, { gracePeriodSeconds = 5 }))
time.sleep(300)
local fine = get_pod("fine")
t.eq(fine and fine.metadata.deletionTimestamp ~= nil, true, "still there, terminating")

-- worker-2 went NotReady at 120 s: conditions Unknown, the unreachable taints, its pods not ready
local n2 = assert(c:get { apiVersion = "v1", kind = "Node", name = "worker-2" })
local ready = condition(n2, "Ready")
t.eq({ ready.status, ready.reason, ready.message },
   { "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status." }, "Ready condition")
t.eq(condition(n2, "MemoryPressure").status, "Unknown", "the other conditions too")
local taints = {}
for _, taint in ipairs(n2.spec.taints or {}) do taints[#taints + 1] = taint.key .. ":" .. taint.effect end
table.sort(taints)
t.eq(taints, { "node.kubernetes.io/unreachable:NoExecute", "node.kubernetes.io/unreachable:NoSchedule" }, "taints")
local on2 = assert(c:list { apiVersion = "v1", kind = "Pod", fieldSelector = "spec.nodeName=worker-2" })
t.eq(#on2.items > 0, true, "pods on worker-2")
for _, p in ipairs(on2.items) do
   t.eq(condition(p, "Ready").status, "False", "not ready: " .. p.metadata.name)
end
t.match(events_of("worker-2"), "Normal NodeNotReady: Node worker%-2 status is now: NodeNotReady", "node Event")

t.done()
