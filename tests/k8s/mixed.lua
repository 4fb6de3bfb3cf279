-- mixed.lua (run --fake on a flannel-calico-installed fixture): Calico's migration data by hand
-- (pool, FelixConfiguration with flannel's VNI and port, four /26 blocks per node, each node's VTEP
-- annotations), then the first half of the nodes moved to calico-node, the flannel cleanup done on
-- their hosts as the node script does it. At that mixed point every flannel node's host has the
-- route, neighbour and FDB entry for every Calico node, and every Calico node's host has them for
-- every flannel node. Then a node joins, changes its MAC and goes, and FelixConfiguration turns
-- VXLAN off and on: the peers follow.
local fake = require "cm.fake"
local flannel = require "cm.flannel"
local k8s = require "cm.k8s"
local t = require "t"
local time = require "cm.time"
local json = require "cm.json"

local nulls = {} -- a new block's allocations: 64 JSON nulls
for i = 1, 64 do nulls[i] = json.null end

local c = assert(k8s.client())
local LABEL = "projectcalico.org/node-network-during-migration"
local CRD = "crd.projectcalico.org/v1"

assert(c:create { apiVersion = CRD, kind = "IPPool", metadata = { name = "default-ipv4-ippool" },
   spec = { cidr = "10.244.0.0/16", blockSize = 26, vxlanMode = "Always", ipipMode = "Never", natOutgoing = true } })
assert(c:create { apiVersion = CRD, kind = "FelixConfiguration", metadata = { name = "default" },
   spec = { vxlanVNI = 1, vxlanPort = 8472, vxlanMTU = 1450 } })

--- The blocks, affinities and VTEP annotations the migration's IPAM pass writes for a node.
local function ipam(node)
   local info = assert(flannel.node_info(node))
   local base = info.pod_cidr:match("^(%d+%.%d+%.%d+)%.")
   local unallocated = {}
   for i = 0, 63 do unallocated[#unallocated + 1] = i end
   for _, off in ipairs { 0, 64, 128, 192 } do
      local cidr = ("%s.%d/26"):format(base, off)
      local bname = cidr:gsub("[./]", "-")
      assert(c:create { apiVersion = CRD, kind = "BlockAffinity", metadata = { name = node.metadata.name .. "-" .. bname },
         spec = { node = node.metadata.name, cidr = cidr, state = "confirmed", deleted = "false", type = "host" } })
      assert(c:create { apiVersion = CRD, kind = "IPAMBlock", metadata = { name = bname },
         spec = { cidr = cidr, affinity = "host:" .. node.metadata.name, allocations = nulls,
            unallocated = unallocated, attributes = json.array(), strictAffinity = false, deleted = false } })
   end
   assert(c:patch({ apiVersion = "v1", kind = "Node", name = node.metadata.name }, { metadata = { annotations = {
      ["projectcalico.org/IPv4VXLANTunnelAddr"] = info.pod_cidr:match("^[%d.]+"),
      ["projectcalico.org/VXLANTunnelMACAddr"] = info.vtep_mac,
      ["projectcalico.org/IPv4Address"] = info.public_ip .. "/32" } } }))
   return info
end
local nodes = assert(c:list { apiVersion = "v1", kind = "Node" }).items
table.sort(nodes, function(a, b) return a.metadata.name < b.metadata.name end)
local infos = {}
for _, n in ipairs(nodes) do infos[n.metadata.name] = ipam(n) end

-- flannel only where labelled flannel; every node is, for now
for _, n in ipairs(nodes) do
   assert(c:patch({ apiVersion = "v1", kind = "Node", name = n.metadata.name },
      { metadata = { labels = { [LABEL] = "flannel" } } }))
end
local ds = assert(c:list { apiVersion = "apps/v1", kind = "DaemonSet", labelSelector = "app=flannel" }).items[1]
assert(c:patch({ apiVersion = "apps/v1", kind = "DaemonSet", namespace = ds.metadata.namespace, name = ds.metadata.name },
   { spec = { template = { spec = { nodeSelector = { [LABEL] = "flannel" } } } } }))
time.sleep(60)

-- the first half moves to Calico: flannel's pod goes, the node script removes its devices
local calico_nodes, flannel_nodes = {}, {}
for i, n in ipairs(nodes) do
   if i <= #nodes // 2 then calico_nodes[#calico_nodes + 1] = n.metadata.name
   else flannel_nodes[#flannel_nodes + 1] = n.metadata.name end
end
for _, name in ipairs(calico_nodes) do
   assert(c:patch({ apiVersion = "v1", kind = "Node", name = name }, { metadata = { labels = { [LABEL] = "none" } } }))
end
time.sleep(30)
for _, name in ipairs(calico_nodes) do
   local pods = assert(c:list { apiVersion = "v1", kind = "Pod", labelSelector = "app=flannel",
      fieldSelector = "spec.nodeName=" .. name }).items
   t.eq(#pods, 0, "flannel's pod gone from " .. name)
   local h = fake.host(name)
   assert(h:link_del("flannel.1"))
   if h:link("cni0") then assert(h:link_del("cni0")) end
   assert(c:patch({ apiVersion = "v1", kind = "Node", name = name }, { metadata = { labels = { [LABEL] = "calico" } } }))
end
time.sleep(60)

--- What a host has on dev toward a peer: {route = gateway, neigh = lladdr, fdb = dst}.
local function toward(name, dev, dst_cidr, vtep, mac)
   local h = fake.host(name):json()
   local got = {}
   for _, r in ipairs(h.routes) do
      if r.dev == dev and r.dst == dst_cidr and r.onlink then got.route = r.gateway end
   end
   for _, n in ipairs(h.neighbours) do if n.dev == dev and n.dst == vtep then got.neigh = n.lladdr end end
   for _, f in ipairs(h.fdb) do if f.dev == dev and f.lladdr == mac then got.fdb = f.dst end end
   return got
end

local function check_mixed(what)
   for _, cn in ipairs(calico_nodes) do
      local vx = fake.host(cn):link("vxlan.calico")
      t.eq(vx and { vx.mac, vx.vxlan.id, vx.vxlan.port }, { infos[cn].vtep_mac, 1, 8472 },
         what .. ": vxlan.calico on " .. cn .. " reuses flannel's MAC, VNI and port")
      t.eq(fake.host(cn):link("flannel.1"), nil, what .. ": no flannel.1 left on " .. cn)
   end
   for _, fname in ipairs(flannel_nodes) do
      local f = infos[fname]
      local fvtep = f.pod_cidr:match("^[%d.]+")
      for _, cn in ipairs(calico_nodes) do
         local cinfo = infos[cn]
         local cvtep = cinfo.pod_cidr:match("^[%d.]+")
         t.eq(toward(fname, "flannel.1", cinfo.pod_cidr, cvtep, cinfo.vtep_mac),
            { route = cvtep, neigh = cinfo.vtep_mac, fdb = cinfo.public_ip },
            ("%s: flannel node %s reaches Calico node %s"):format(what, fname, cn))
         local base = f.pod_cidr:match("^(%d+%.%d+%.%d+)%.")
         for _, off in ipairs { 0, 64, 128, 192 } do
            t.eq(toward(cn, "vxlan.calico", ("%s.%d/26"):format(base, off), fvtep, f.vtep_mac),
               { route = fvtep, neigh = f.vtep_mac, fdb = f.public_ip },
               ("%s: Calico node %s reaches flannel node %s's block .%d"):format(what, cn, fname, off))
         end
      end
   end
   -- Calico nodes reach each other through their blocks too
   for _, a in ipairs(calico_nodes) do
      for _, b in ipairs(calico_nodes) do
         if a ~= b then
            local bi = infos[b]
            local bvtep = bi.pod_cidr:match("^[%d.]+")
            t.eq(toward(a, "vxlan.calico", bvtep .. "/26", bvtep, bi.vtep_mac),
               { route = bvtep, neigh = bi.vtep_mac, fdb = bi.public_ip }, ("%s: Calico %s to Calico %s"):format(what, a, b))
         end
      end
   end
end
check_mixed("mixed")

-- a node joins with flannel's and Calico's data: flannel nodes and Calico nodes both learn it
local proto = nodes[#nodes]
local joined = { apiVersion = "v1", kind = "Node", metadata = { name = "worker-99", labels = {
   ["kubernetes.io/hostname"] = "worker-99", ["kubernetes.io/os"] = "linux" }, annotations = {
   ["flannel.alpha.coreos.com/backend-data"] = '{"VNI":1,"VtepMAC":"9e:3a:7c:00:00:99"}',
   ["flannel.alpha.coreos.com/backend-type"] = "vxlan",
   ["flannel.alpha.coreos.com/kube-subnet-manager"] = "true",
   ["flannel.alpha.coreos.com/public-ip"] = "192.168.1.99" } },
   spec = { podCIDR = "10.244.99.0/24", podCIDRs = { "10.244.99.0/24" } },
   status = { addresses = { { type = "InternalIP", address = "192.168.1.99" } },
      conditions = proto.status.conditions, nodeInfo = proto.status.nodeInfo } }
local created = assert(c:create(joined))
infos["worker-99"] = ipam(created)
time.sleep(5)
local w = infos["worker-99"]
for _, fname in ipairs(flannel_nodes) do
   t.eq(toward(fname, "flannel.1", w.pod_cidr, "10.244.99.0", w.vtep_mac),
      { route = "10.244.99.0", neigh = w.vtep_mac, fdb = w.public_ip }, "flannel node " .. fname .. " learns worker-99")
end
for _, cn in ipairs(calico_nodes) do
   t.eq(toward(cn, "vxlan.calico", "10.244.99.64/26", "10.244.99.0", w.vtep_mac),
      { route = "10.244.99.0", neigh = w.vtep_mac, fdb = w.public_ip }, "Calico node " .. cn .. " learns worker-99")
end

-- its MAC changes (flannel re-created its device): both kinds of peers replace the entries
assert(c:patch({ apiVersion = "v1", kind = "Node", name = "worker-99" }, { metadata = { annotations = {
   ["flannel.alpha.coreos.com/backend-data"] = '{"VNI":1,"VtepMAC":"9e:3a:7c:00:01:99"}',
   ["projectcalico.org/VXLANTunnelMACAddr"] = "9e:3a:7c:00:01:99" } } }))
time.sleep(5)
t.eq(toward(flannel_nodes[1], "flannel.1", w.pod_cidr, "10.244.99.0", "9e:3a:7c:00:00:99"),
   { route = "10.244.99.0", neigh = "9e:3a:7c:00:01:99" },
   "the old MAC's FDB entry is gone from " .. flannel_nodes[1] .. ", its neighbour entry replaced")
t.eq(toward(flannel_nodes[1], "flannel.1", w.pod_cidr, "10.244.99.0", "9e:3a:7c:00:01:99"),
   { route = "10.244.99.0", neigh = "9e:3a:7c:00:01:99", fdb = w.public_ip }, "and the new MAC's are there")
t.eq(toward(calico_nodes[1], "vxlan.calico", "10.244.99.0/26", "10.244.99.0", "9e:3a:7c:00:01:99"),
   { route = "10.244.99.0", neigh = "9e:3a:7c:00:01:99", fdb = w.public_ip }, "Felix follows the new MAC")

-- it goes: its entries go everywhere (its blocks are left behind, as IPAM GC would take time)
assert(c:delete { apiVersion = "v1", kind = "Node", name = "worker-99" })
time.sleep(5)
t.eq(toward(flannel_nodes[1], "flannel.1", w.pod_cidr, "10.244.99.0", "9e:3a:7c:00:01:99"), {},
   "flannel forgets a deleted node")
t.eq(toward(calico_nodes[1], "vxlan.calico", "10.244.99.0/26", "10.244.99.0", "9e:3a:7c:00:01:99"), {},
   "Felix forgets a deleted node")
check_mixed("after the join and the leave")

-- FelixConfiguration vxlanEnabled: false takes vxlan.calico away (what Calico's controller does at
-- every start); cleared, the pool's vxlanMode brings it back
assert(c:patch({ apiVersion = CRD, kind = "FelixConfiguration", name = "default" }, { spec = { vxlanEnabled = false } }))
time.sleep(5)
for _, cn in ipairs(calico_nodes) do
   t.eq(fake.host(cn):link("vxlan.calico"), nil, "vxlanEnabled false: no vxlan.calico on " .. cn)
end
assert(c:patch({ apiVersion = CRD, kind = "FelixConfiguration", name = "default" }, { spec = { vxlanEnabled = json.null } }))
time.sleep(5)
check_mixed("vxlanEnabled cleared")
t.done()
