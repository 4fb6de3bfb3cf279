--- calico_schedule.lua: Calico's flannel-migration controller's node schedule, reproduced on the
--- fake cluster for scripts/bench-schedule.sh (calico-flannel-migration.md §2.2): the cluster is
--- prepared as `migrate` prepares it, then the nodes go strictly one after another in Calico's
--- order, each: in-progress label, cordon, drain (PDB-refused evictions retried without delay),
--- label none (no wait for flannel's pod), the remove-flannel helper pod (its end seen by a 1 s
--- poll), a fixed 10 s sleep, the non-hostNetwork pods deleted, label calico, calico-node Ready by
--- a 1 s poll, the check-calico helper pod (1 s poll), uncordon, in-progress removed. The helper
--- pods are our node scripts (flannel-cleanup, calico-check): what they do on the host is not
--- what is measured here, their time is. Prints "node phase S s" (first cordon to last uncordon).
---
---   cni-migrate --fake FIXTURE --seed N run tests/bench/calico_schedule.lua
local calico = require "cm.calico"
local config = require "cm.config"
local node = require "cm.node"
local nodestep = require "cm.nodestep"
local plan = require "cm.plan"
local prepare = require "cm.prepare"
local time = require "cm.time"

local cfg = assert(config.parse({}, os.getenv))
local c = assert(require("cm.k8s").client { qps = 20, burst = 40 })
local survey = assert(plan.survey(c, cfg))
local ctx = { c = c, cfg = cfg, snap = survey.snap, step = function() end, durations = {}, blocked = {},
   node = node }
prepare.run(ctx)
local v = cfg.values

--- Waits for fn() to be true, looking every second (Calico's wait.PollImmediate(1s, 5m)).
local function poll(what, fn)
   local t0 = time.now()
   while not fn() do
      assert(time.now() - t0 < 300, what .. ": timed out after 5 minutes")
      time.sleep(1)
   end
end

--- A helper pod's run as Calico sees it: its end noticed at the next 1 s poll after it.
local function helper(name, script, args)
   local t0 = time.now()
   assert(node.run_on(c, name, script, args, { namespace = v.CALICO_DAEMONSET_NAMESPACE, timeout = 300 }))
   local d = time.now() - t0
   time.sleep(math.ceil(d) - d)
end

local function patch(name, p)
   assert(c:patch({ apiVersion = "v1", kind = "Node", name = name }, p, { type = "merge" }))
end

local cds = survey.snap.calico_ds
local first, last
for _, name in ipairs(plan.order(survey.snap.nodes, v.POD_NODE_NAME)) do
   first = first or time.now()
   patch(name, { metadata = { labels = { [calico.LABEL_IN_PROGRESS] = "true" } } })
   patch(name, { spec = { unschedulable = true } })
   assert(node.drain(c, name, { force = true, ignore_daemonsets = true, delete_emptydir_data = true,
      cordon = false, retry_delay = 0 }))
   patch(name, { metadata = { labels = { [calico.LABEL_NETWORK] = "none" } } })
   helper(name, "flannel-cleanup", { vni = v.FLANNEL_VNI, canal = survey.snap.flannel_info.canal,
      cni_dir = v.CNI_CONFIG_DIR, cni_conf_name = calico.CNI_CONF_NAME })
   time.sleep(10)
   nodestep.delete_left(ctx, name)
   patch(name, { metadata = { labels = { [calico.LABEL_NETWORK] = "calico" } } })
   poll("calico-node Ready on " .. name, function()
      local pods = assert(c:list { apiVersion = "v1", kind = "Pod", namespace = cds.metadata.namespace,
         fieldSelector = "spec.nodeName=" .. name, labelSelector = nodestep.selector_of(cds) })
      local p = pods.items[1]
      if not p or (p.status or {}).phase ~= "Running" then return false end
      for _, cond in ipairs(p.status.conditions or {}) do
         if cond.type == "Ready" then return cond.status == "True" end
      end
      return false
   end)
   local n = assert(c:get { apiVersion = "v1", kind = "Node", name = name })
   helper(name, "calico-check", { vni = v.FLANNEL_VNI, port = v.FLANNEL_PORT, cni_dir = v.CNI_CONFIG_DIR,
      mac = (n.metadata.annotations or {})[calico.ANN_VXLAN_MAC],
      address = (n.metadata.annotations or {})[calico.ANN_VXLAN_ADDR] })
   patch(name, { spec = { unschedulable = false } })
   patch(name, { metadata = { labels = { [calico.LABEL_IN_PROGRESS] = require("cm.json").null } } })
   last = time.now()
end
print(("node phase %.1f s for %d node(s) (Calico's schedule)"):format(last - first, #survey.snap.nodes))
