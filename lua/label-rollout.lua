--- label-rollout: moves nodes from flannel to calico-node one by one (or N at a time) with the
--- node label Calico's migration uses, and prints a timeline: the DaemonSet step of a migration,
--- without the network and IPAM steps. Meant for a rehearsal on a simulated cluster with Calico's
--- manifest installed (examples/clusters/flannel-calico-installed-4node.yaml):
---
---   cni-migrate --fake examples/clusters/flannel-calico-installed-4node.yaml run label-rollout [N]
---
--- For each node: label it `none` (flannel's DaemonSet leaves it), wait until its flannel pod is
--- gone, label it `calico` (calico-node's DaemonSet comes), wait until calico-node is Running and
--- Ready there. Flannel's DaemonSet is first restricted to nodes labelled `flannel`, as Calico's
--- controller does.
local calico = require "cm.calico"
local k8s = require "cm.k8s"
local log = require "cm.log"
local proc = require "cm.proc"
local task = require "cm.task"
local time = require "cm.time"

local concurrency = math.tointeger(tonumber((...) or "1"))
if not concurrency or concurrency < 1 then
   proc.usage("usage: cni-migrate run label-rollout [CONCURRENCY]")
end
local POLL, STEP_TIMEOUT = 2, 600
local c, cerr = k8s.client()
if not c then proc.usage("label-rollout: %s", cerr) end
local started = time.now()

--- The flannel DaemonSet: kube-flannel-ds in kube-flannel (current manifests) or kube-system.
local function flannel_daemonset()
   for _, ns in ipairs { "kube-flannel", "kube-system" } do
      local ds = c:get { apiVersion = "apps/v1", kind = "DaemonSet", namespace = ns, name = "kube-flannel-ds" }
      if ds then return ds end
   end
   return nil
end

local function set_label(node, value)
   return assert(c:patch({ apiVersion = "v1", kind = "Node", name = node },
      { metadata = { labels = { [calico.LABEL_NETWORK] = value } } }, { type = "merge" }))
end

local function ready(pod)
   for _, cond in ipairs(pod.status and pod.status.conditions or {}) do
      if cond.type == "Ready" then return cond.status == "True" end
   end
   return false
end

--- Waits until want(pods of the DaemonSet's pods on node) holds; returns the seconds waited.
local function wait_pods(node, namespace, selector, want, what)
   local t0 = time.now()
   while true do
      local pods = assert(c:list { apiVersion = "v1", kind = "Pod", namespace = namespace,
         labelSelector = selector, fieldSelector = "spec.nodeName=" .. node })
      if want(pods.items) then return time.now() - t0 end
      if time.now() - t0 > STEP_TIMEOUT then
         error(("node %s: %s did not happen within %d s"):format(node, what, STEP_TIMEOUT), 0)
      end
      time.sleep(POLL)
   end
end

local function elapsed()
   return ("+%6.1fs"):format(time.now() - started)
end

--- One node's step; returns its timings.
local function migrate_node(node, flannel_ns)
   print(("%s %-16s label %s=none"):format(elapsed(), node, calico.LABEL_NETWORK))
   set_label(node, "none")
   local gone = wait_pods(node, flannel_ns, "app=flannel", function(pods) return #pods == 0 end,
      "flannel's pod leaving")
   print(("%s %-16s flannel gone after %.1fs; label calico"):format(elapsed(), node, gone))
   set_label(node, "calico")
   local up = wait_pods(node, "kube-system", "k8s-app=calico-node", function(pods)
      return #pods == 1 and pods[1].status.phase == "Running" and ready(pods[1])
   end, "calico-node becoming ready")
   print(("%s %-16s calico-node ready after %.1fs"):format(elapsed(), node, up))
   return { node = node, flannel_gone = gone, calico_ready = up }
end

local ds = flannel_daemonset()
if not ds then
   proc.usage("no flannel DaemonSet (kube-flannel-ds) in kube-flannel or kube-system")
end
local nodes = assert(c:list { apiVersion = "v1", kind = "Node" }).items
table.sort(nodes, function(a, b) return a.metadata.name < b.metadata.name end)
log.info("rollout starts", { nodes = #nodes, concurrency = concurrency })
for _, n in ipairs(nodes) do
   local labels = n.metadata.labels or {}
   if labels[calico.LABEL_NETWORK] == nil then set_label(n.metadata.name, "flannel") end
end
assert(c:patch({ apiVersion = "apps/v1", kind = "DaemonSet", namespace = ds.metadata.namespace,
   name = ds.metadata.name }, { spec = { template = { spec = { nodeSelector = {
      [calico.LABEL_NETWORK] = "flannel" } } } } }, { type = "strategic" }))

local queue, results, failures = {}, {}, {}
for _, n in ipairs(nodes) do
   if (n.metadata.labels or {})[calico.LABEL_NETWORK] ~= "calico" then queue[#queue + 1] = n.metadata.name end
end
local function worker()
   while #queue > 0 do
      local node = table.remove(queue, 1)
      local ok, r = pcall(migrate_node, node, ds.metadata.namespace)
      if ok then results[#results + 1] = r else failures[#failures + 1] = r end
   end
   return true
end
local workers = {}
for i = 1, math.min(concurrency, #queue) do workers[i] = task.spawn(worker) end
for _, w in ipairs(workers) do assert(w:wait()) end

print(("%d node(s) moved to calico-node, %d failed, in %.1f s of %s time"):format(#results, #failures,
   time.now() - started, c:info().source:match("^fake") and "virtual" or "real"))
for _, f in ipairs(failures) do print("failed: " .. f) end
log.info("rollout done", { moved = #results, failed = #failures,
   seconds = math.floor((time.now() - started) * 1000 + 0.5) / 1000 })
if #failures > 0 then proc.fail("%d node(s) failed", #failures) end
