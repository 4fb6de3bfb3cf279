--- The nodes as the hook tests check them, one line each, sorted: name, the migration's network
--- label, in progress, cordoned, the step annotation, held and failed (cm.hooks' annotations).
---   cni-migrate --fake SAVED.yaml run hooks_nodes.lua
local k8s = require "cm.k8s"

local c = assert(k8s.client { qps = -1 })
local list = assert(c:list { apiVersion = "v1", kind = "Node" })
local lines = {}
for _, n in ipairs(list.items) do
   local l, a = n.metadata.labels or {}, n.metadata.annotations or {}
   lines[#lines + 1] = ("%s net=%s busy=%s unsched=%s step=%s held=%s failed=%s"):format(n.metadata.name,
      l["projectcalico.org/node-network-during-migration"] or "-",
      l["projectcalico.org/node-flannel-migration-in-progress"] or "-", tostring(n.spec.unschedulable or false),
      a["cni-migrate.dev/step"] or "-", a["cni-migrate.dev/held"] or "-", a["cni-migrate.dev/failed"] or "-")
end
table.sort(lines)
print(table.concat(lines, "\n"))
local ds = c:get { apiVersion = "apps/v1", kind = "DaemonSet", namespace = "kube-flannel", name = "kube-flannel-ds" }
print("flannel DaemonSet: " .. (ds and "there" or "gone"))
