--- The state a migration left, one sorted line per fact, with what differs between two runs that
--- reach the same end anyway blanked (resourceVersions, uids, timestamps, IPAM sequence numbers,
--- generated pod names, the recorded source of a setting), for tests/cli/resume_every_write.sh
--- to compare a resumed run's end with an uninterrupted one's. Run on the cluster a run saved:
---   cni-migrate --fake SAVED.yaml run migrate_state.lua
--- It first lets the simulated cluster settle for two virtual minutes: the workloads a migration
--- moved come up again on their own time, after the run has finished.
--- Prints: Calico's objects, the Nodes (labels, annotations, cordon, taints), the DaemonSets and
--- their nodeSelectors, the migration's ConfigMaps, the pods per owner (Running and Ready, each
--- with an address from its node's podCIDR), and every node's host (links, addresses, routes,
--- neighbours, FDB, iptables, sysctls, files).
local fake = require "cm.fake"
local ip = require "cm.ip"
local json = require "cm.json"
local k8s = require "cm.k8s"
local time = require "cm.time"

time.sleep(120)
local c = assert(k8s.client { qps = -1 })
local G = "crd.projectcalico.org/v1"
local out = {}
local function put(...) out[#out + 1] = table.concat({ ... }, " ") end

--- An object's metadata without what every write changes.
local function blank_meta(md)
   md.resourceVersion, md.uid, md.creationTimestamp, md.generation, md.managedFields = nil, nil, nil, nil, nil
   md.deletionTimestamp, md.deletionGracePeriodSeconds = nil, nil
   local ann = md.annotations or {}
   if ann["projectcalico.org/metadata"] then
      ann["projectcalico.org/metadata"] = ann["projectcalico.org/metadata"]:gsub('"creationTimestamp":"[^"]*"',
         '"creationTimestamp":"T"')
   end
   for _, k in ipairs { "cni-migrate.dev/cordoned", "cni-migrate.dev/migrated", "cni-migrate.dev/step-at",
      "cni-migrate.dev/held-at" } do
      if ann[k] then ann[k] = "T" end
   end
   return md
end

local function blank_calico(o)
   blank_meta(o.metadata)
   local spec = o.spec or {}
   if spec.affinityClaimTime then spec.affinityClaimTime = "T" end
   if spec.sequenceNumber then
      local base = spec.sequenceNumber
      for k, v in pairs(spec.sequenceNumberForAllocation or {}) do spec.sequenceNumberForAllocation[k] = v - base end
      spec.sequenceNumber = 0
   end
   return o
end

--- A block without its pods' allocations (Calico CNI's: which pods land on which node, under
--- which names, differs from run to run; counted in all); the tunnel address's kept as it is.
local pod_addresses = 0
local function blank_block(b)
   local spec, tunnel = b.spec, {}
   for ord, idx in pairs(spec.allocations or {}) do
      local a = idx ~= json.null and spec.attributes[idx + 1]
      if a and (a.handle_id or ""):match("^vxlan%-tunnel%-addr%-") then
         tunnel[#tunnel + 1] = { ordinal = ord - 1, attributes = a }
      elseif a then
         pod_addresses = pod_addresses + 1
      end
   end
   spec.allocations, spec.attributes, spec.unallocated, spec.sequenceNumberForAllocation = nil, nil, nil, nil
   spec.tunnel = tunnel
   return b
end

local pod_handles = 0
for _, kind in ipairs { "IPPool", "FelixConfiguration", "BlockAffinity", "IPAMBlock", "IPAMHandle",
   "ClusterInformation" } do
   for _, o in ipairs(assert(c:list { apiVersion = G, kind = kind }).items) do
      if kind == "IPAMHandle" and not o.metadata.name:match("^vxlan%-tunnel%-addr%-") then
         pod_handles = pod_handles + 1
      else
         blank_calico(o)
         if kind == "IPAMBlock" then blank_block(o) end
         put(kind, json.encode(o))
      end
   end
end
put("IPAM pods: addresses", pod_addresses, "handles", pod_handles)

local nodes = assert(c:list { apiVersion = "v1", kind = "Node" }).items
local cidr_of = {}
for _, n in ipairs(nodes) do
   cidr_of[n.metadata.name] = n.spec.podCIDR
   put("Node", n.metadata.name, json.encode { labels = n.metadata.labels or {},
      annotations = blank_meta(n.metadata).annotations or {}, unschedulable = n.spec.unschedulable or false,
      taints = n.spec.taints or {} })
end

for _, ds in ipairs(assert(c:list { apiVersion = "apps/v1", kind = "DaemonSet" }).items) do
   put("DaemonSet", ds.metadata.namespace .. "/" .. ds.metadata.name,
      json.encode(ds.spec.template.spec.nodeSelector or {}))
end

--- A saved object (JSON text) without its volatile fields.
local function blank_saved(text)
   local o = json.decode(text)
   if type(o) ~= "table" then return text end
   blank_meta(o.metadata)
   o.status = nil
   return json.encode(o)
end

for _, cm in ipairs(assert(c:list { apiVersion = "v1", kind = "ConfigMap", namespace = "kube-system" }).items) do
   local name, d = cm.metadata.name, cm.data or {}
   if name == "flannel-migration-config" then
      for _, k in ipairs { "cni-migrate.started", "cni-migrate.finished" } do
         if d[k] then d[k] = "T" end
      end
      local settings = json.decode(d["cni-migrate.settings"] or "null")
      if type(settings) == "table" then
         for _, s in pairs(settings) do s.source = nil end -- a resumed run reads some from this ConfigMap
         d["cni-migrate.settings"] = json.encode(settings)
      end
      put("ConfigMap", name, json.encode(d))
   elseif name == "cni-migrate-flannel-backup" then
      d["daemonset.json"] = blank_saved(d["daemonset.json"])
      d["configmap.json"] = blank_saved(d["configmap.json"])
      put("ConfigMap", name, json.encode(d))
   elseif name == "calico-config" then
      put("ConfigMap", name, "veth_mtu", tostring(d.veth_mtu))
   end
end

-- pods: how many each owner has, Running and Ready, with an address from their node's podCIDR
local owners = {}
for _, p in ipairs(assert(c:list { apiVersion = "v1", kind = "Pod" }).items) do
   local ref = (p.metadata.ownerReferences or {})[1]
   local owner = ref and (ref.kind .. "/" .. ref.name) or ("Pod/" .. p.metadata.name)
   local st = p.status or {}
   local ready = false
   for _, cond in ipairs(st.conditions or {}) do
      if cond.type == "Ready" and cond.status == "True" then ready = true end
   end
   local where = "hostNetwork"
   if not p.spec.hostNetwork then
      local cidr = cidr_of[p.spec.nodeName or ""]
      where = (cidr and st.podIP and ip.contains(cidr, st.podIP .. "/32")) and "podCIDR" or
         ("address %s on node %s"):format(tostring(st.podIP), tostring(p.spec.nodeName))
   end
   local key = ("%s %s %s %s %s"):format(p.metadata.namespace, owner, tostring(st.phase), ready and "Ready" or
      "NotReady", where)
   owners[key] = (owners[key] or 0) + 1
end
for key, n in pairs(owners) do put("Pods", key, n) end

--- A host's lists in a stable order (the same entries may be made in another order on resume).
local function sorted(list)
   local enc = {}
   for i, e in ipairs(list or {}) do enc[i] = json.encode(e) end
   table.sort(enc)
   return enc
end
for _, n in ipairs(nodes) do
   local h = assert(fake.host(n.metadata.name)):json()
   for _, key in ipairs { "links", "addresses", "routes", "neighbours", "fdb" } do
      for _, e in ipairs(sorted(h[key])) do put("Host", n.metadata.name, key, e) end
   end
   put("Host", n.metadata.name, "iptables", json.encode(h.iptables or {}))
   put("Host", n.metadata.name, "sysctls", json.encode(h.sysctls or {}))
   put("Host", n.metadata.name, "files", json.encode(h.files or {}))
end

table.sort(out)
for _, l in ipairs(out) do print(l) end
