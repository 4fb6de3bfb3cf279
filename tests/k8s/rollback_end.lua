--- The end state of a rollback, on the cluster a `rollback --fake S --fake-save R` left (run with
--- --fake R), against the cluster the migration started from: the same DaemonSets with the same
--- pod templates (nodeSelector and affinity exactly), no migration labels or annotations, the
--- same cordons, no calico-node pod, flannel's pod Ready on every node, and every node's host as
--- flannel made it there (links, addresses, routes, neighbours, FDB, iptables, CNI config), as
--- `fake host START NODE` printed it into HOSTS/NODE.json.
--- usage: run rollback_end.lua START.yaml HOSTS FLANNEL_NS FLANNEL_DS [clean] [served=DIR]
---   clean: --remove-calico-state was given: Calico's objects and node data as at the start too,
---   and flannel-migration-config gone. On Canal (FLANNEL_DS runs a calico-node container too)
---   Calico's objects and node data are compared with the start with or without it: Canal's own
---   calico-node reads them.
---   served=DIR: the cluster is `fake serve`'s (run without --fake): its hosts are read from
---   DIR/NODE.json, as GET /cni-migrate/v1alpha1/hosts/NODE served them
local fake = require "cm.fake"
local json = require "cm.json"
local k8s = require "cm.k8s"
local t = require "t"
local yaml = require "cm.yaml"

local start_file, hosts_dir, fns, fds = ...
local flags, served = {}, nil
for i = 5, select("#", ...) do
   local a = select(i, ...)
   served = served or a:match("^served=(.+)$")
   flags[a] = true
end
local c = assert(k8s.client())
local G = "crd.projectcalico.org/v1"
local LABEL = "projectcalico.org/node-network-during-migration"
local BUSY = "projectcalico.org/node-flannel-migration-in-progress"
local CALICO_ANN = { ["projectcalico.org/IPv4Address"] = true, ["projectcalico.org/IPv4VXLANTunnelAddr"] = true,
   ["projectcalico.org/VXLANTunnelMACAddr"] = true }

local function read(path)
   local f = assert(io.open(path))
   local text = f:read("a")
   f:close()
   return text
end

-- the start, by kind and name
local start = {}
for _, doc in ipairs(assert(yaml.decode_all(read(start_file), start_file))) do
   local items = doc.kind == "List" and doc.items or { doc }
   for _, o in ipairs(items) do
      if o.metadata then
         start[o.kind] = start[o.kind] or {}
         start[o.kind][(o.metadata.namespace or "") .. "/" .. o.metadata.name] = o
      end
   end
end

-- DaemonSets: the same ones, with the same nodeSelectors and images
for key, ds in pairs(start.DaemonSet or {}) do
   local ns, name = key:match("^(.-)/(.*)$")
   local live = c:get { apiVersion = "apps/v1", kind = "DaemonSet", namespace = ns, name = name }
   t.eq(live ~= nil, true, "DaemonSet " .. key .. " there")
   t.eq(live.spec.template.spec.nodeSelector, ds.spec.template.spec.nodeSelector, key .. ": nodeSelector as at the start")
   t.eq(live.spec.template.spec.affinity, ds.spec.template.spec.affinity, key .. ": affinity as at the start")
   t.eq(live.spec.template, ds.spec.template, key .. ": pod template as at the start")
   t.eq(live.spec.selector, ds.spec.selector, key .. ": selector as at the start")
end
local fdaemon = assert(c:get { apiVersion = "apps/v1", kind = "DaemonSet", namespace = fns, name = fds })
local canal = false
for _, ct in ipairs(fdaemon.spec.template.spec.containers) do canal = canal or ct.name == "calico-node" end
local calico_too = flags.clean or canal -- Calico's objects and node data compared with the start
local _, _, code = c:get { apiVersion = "v1", kind = "ConfigMap", namespace = "kube-system",
   name = "cni-migrate-flannel-backup" }
t.eq(code, "NotFound", "the backup is gone with the DaemonSet live again")
local lease = c:get { apiVersion = "coordination.k8s.io/v1", kind = "Lease", namespace = "kube-system",
   name = "cni-migrate" }
t.eq(lease and lease.spec.holderIdentity, nil, "the Lease is free")
local mc = c:get { apiVersion = "v1", kind = "ConfigMap", namespace = "kube-system", name = "flannel-migration-config" }
if flags.clean then
   t.eq(mc, nil, "flannel-migration-config removed")
else
   -- absent when the migration stopped before its first write to the cluster (nothing to roll back)
   if mc then t.eq(mc.data["cni-migrate.phase"], "rolled-back", "flannel-migration-config says rolled back") end
end
if calico_too then
   for _, kind in ipairs { "IPPool", "BlockAffinity", "IPAMBlock", "IPAMHandle" } do
      local names = {}
      for _, o in ipairs(assert(c:list { apiVersion = G, kind = kind }).items) do names[#names + 1] = o.metadata.name end
      local want = {}
      for key in pairs(start[kind] or {}) do want[#want + 1] = key:sub(2) end
      table.sort(names)
      table.sort(want)
      t.eq(names, want, kind .. ": as at the start")
   end
   for key, p in pairs(start.IPPool or {}) do -- Canal's pool, which the migration replaced, as it was
      local live = c:get { apiVersion = G, kind = "IPPool", name = key:sub(2) }
      t.eq(live and live.spec, p.spec, "IPPool " .. key:sub(2) .. ": spec as at the start")
      t.eq(live and live.metadata.annotations, p.metadata.annotations, "IPPool " .. key:sub(2) .. ": annotations")
   end
   local fc = c:get { apiVersion = G, kind = "FelixConfiguration", name = "default" }
   local fstart = (start.FelixConfiguration or {})["/default"]
   if fstart then -- as at the start (where the migration made it, the fields it set gone)
      t.eq(fc and fc.spec, fstart.spec, "FelixConfiguration default: spec as at the start")
   end
   for _, k in ipairs { "vxlanVNI", "vxlanPort", "vxlanMTU", "vxlanEnabled" } do
      t.eq(fc and fc.spec[k], fstart and fstart.spec[k], "FelixConfiguration " .. k)
   end
end

-- nodes: labels, annotations and cordons as at the start; calico-node gone, flannel Ready
local sel = {}
for k, v in pairs(fdaemon.spec.selector.matchLabels) do sel[#sel + 1] = k .. "=" .. v end
local nodes = assert(c:list { apiVersion = "v1", kind = "Node" }).items
t.eq(#nodes > 0, true)
local calico_pods = assert(c:list { apiVersion = "v1", kind = "Pod", labelSelector = "k8s-app=calico-node" }).items
t.eq(#calico_pods, 0, "no calico-node pod")

--- A host's parts that flannel makes, each list in a canonical order.
local function parts(h)
   local out = {}
   for _, k in ipairs { "links", "addresses", "routes", "neighbours", "fdb" } do
      local list = {}
      for _, x in ipairs(h[k] or {}) do list[#list + 1] = json.encode(x) end
      table.sort(list)
      out[k] = list
   end
   out.iptables = h.iptables
   out.cni = {}
   for path, text in pairs(h.files or {}) do
      if path:match("^/etc/cni/net%.d/") or path:match("^/run/flannel/") then out.cni[path] = text end
   end
   return out
end

for _, n in ipairs(nodes) do
   local name, l, a = n.metadata.name, n.metadata.labels or {}, n.metadata.annotations or {}
   local s = start.Node["/" .. name]
   t.eq(s ~= nil, true, name .. " was there at the start")
   t.eq(l[LABEL], nil, name .. ": network label removed")
   t.eq(l[BUSY], nil, name .. ": not in progress")
   t.eq(l, s.metadata.labels or {}, name .. ": labels as at the start")
   local ann = {}
   for k, v in pairs(a) do
      if not (CALICO_ANN[k] and not calico_too) then ann[k] = v end
   end
   t.eq(ann, s.metadata.annotations or {}, name .. ": annotations as at the start")
   t.eq(n.spec.unschedulable, s.spec.unschedulable, name .. ": cordoned as at the start")
   local pods = assert(c:list { apiVersion = "v1", kind = "Pod", namespace = fns,
      labelSelector = table.concat(sel, ","), fieldSelector = "spec.nodeName=" .. name }).items
   t.eq(#pods, 1, name .. ": one flannel pod")
   local ready
   for _, cond in ipairs(pods[1].status.conditions or {}) do if cond.type == "Ready" then ready = cond.status end end
   t.eq(ready, "True", name .. ": flannel's pod Ready")
   local want = parts(json.decode(read(hosts_dir .. "/" .. name .. ".json")))
   local have = parts(served and json.decode(read(served .. "/" .. name .. ".json")) or fake.host(name):json())
   for k, v in pairs(want) do t.eq(have[k], v, name .. ": host " .. k .. " as flannel made it") end
end
t.done()
