--- What a migration that stopped (under injected faults) must have left, on the cluster it saved:
--- at most one node cordoned by the migration (the one in flight), every node labelled in Calico's
--- protocol consistently with where its step is, and a loadable CNI config active on every host
--- (no node left without pod networking), once the cluster has settled for a virtual minute (a run
--- stopped at its start saved the cluster before its agents had written anything). Prints
--- "ok: N checks" or raises naming the node.
---   cni-migrate --fake SAVED.yaml run fault_stop.lua
local calico = require "cm.calico"
local fake = require "cm.fake"
local json = require "cm.json"
local k8s = require "cm.k8s"
local time = require "cm.time"

time.sleep(60)

local c = assert(k8s.client { qps = -1 })
local checks, cordoned = 0, {}
for _, n in ipairs(assert(c:list { apiVersion = "v1", kind = "Node" }).items) do
   local name, ann, labels = n.metadata.name, n.metadata.annotations or {}, n.metadata.labels or {}
   if ann["cni-migrate.dev/cordoned"] and (n.spec or {}).unschedulable then cordoned[#cordoned + 1] = name end
   local net, step = labels[calico.LABEL_NETWORK], ann["cni-migrate.dev/step"]
   assert(net == nil or net == "flannel" or net == "none" or net == "calico",
      ("node %s: label %s=%s"):format(name, calico.LABEL_NETWORK, tostring(net)))
   assert(step ~= "done" or (net == "calico" or net == nil) and not labels[calico.LABEL_IN_PROGRESS],
      ("node %s: step done but labelled %s, in-progress %s"):format(name, tostring(net),
         tostring(labels[calico.LABEL_IN_PROGRESS])))
   local files = assert(fake.host(name)):json().files or {}
   local active
   for path, text in pairs(files) do
      if path:match("^/etc/cni/net%.d/[^/]+%.conflist$") and type(json.decode(text)) == "table"
         and (not active or path < active) then active = path end
   end
   assert(active, ("node %s: no CNI config in /etc/cni/net.d"):format(name))
   checks = checks + 3
end
assert(#cordoned <= 1, "cordoned by the migration: " .. table.concat(cordoned, ", "))
print(("ok: %d checks"):format(checks + 1))
