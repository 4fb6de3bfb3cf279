--- Mixed operation in the middle of a rollback (run --fake on the cluster a rollback killed part-way
--- left): some nodes back on flannel, some still on Calico, and every node's host can reach every
--- other node's pods: its VXLAN device (flannel.VNI or vxlan.calico) has a neighbour entry and an
--- FDB entry for the other node's VTEP (its flannel VtepMAC, at its public IP) and a route into
--- the other node's podCIDR through it.
--- usage: run rollback_mixed.lua VNI
local fake = require "cm.fake"
local flannel = require "cm.flannel"
local ip = require "cm.ip"
local k8s = require "cm.k8s"
local t = require "t"

local vni = ...
local c = assert(k8s.client())
local nodes = assert(c:list { apiVersion = "v1", kind = "Node" }).items
local kinds = { flannel = 0, calico = 0 }
local dev_of = {}
for _, n in ipairs(nodes) do
   local h = fake.host(n.metadata.name)
   if h:link("flannel." .. vni) then
      dev_of[n.metadata.name], kinds.flannel = "flannel." .. vni, kinds.flannel + 1
   elseif h:link("vxlan.calico") then
      dev_of[n.metadata.name], kinds.calico = "vxlan.calico", kinds.calico + 1
   end
end
t.eq(kinds.flannel > 0 and kinds.calico > 0, true, ("a mixed cluster (%d flannel, %d calico)"):format(kinds.flannel,
   kinds.calico))
for _, n in ipairs(nodes) do
   local name, dev = n.metadata.name, dev_of[n.metadata.name]
   if dev then
      local h = fake.host(name):json()
      for _, other in ipairs(nodes) do
         local peer = other.metadata.name ~= name and dev_of[other.metadata.name] and flannel.node_info(other)
         if peer then
            local vtep, what = ip.host(peer.pod_cidr, 0), ("%s (%s) -> %s"):format(name, dev, peer.name)
            local neigh, fdb, route = false, false, false
            for _, e in ipairs(h.neighbours or {}) do
               if e.dev == dev and e.dst == vtep and e.lladdr == peer.vtep_mac then neigh = true end
            end
            for _, e in ipairs(h.fdb or {}) do
               if e.dev == dev and e.dst == peer.public_ip and e.lladdr == peer.vtep_mac then fdb = true end
            end
            for _, r in ipairs(h.routes or {}) do
               if r.dev == dev and r.dst ~= "default" and ip.contains(peer.pod_cidr, r.dst) then
                  route = true
               end
            end
            t.eq(neigh, true, what .. ": neighbour " .. vtep .. " " .. peer.vtep_mac)
            t.eq(fdb, true, what .. ": FDB " .. peer.vtep_mac .. " dst " .. peer.public_ip)
            t.eq(route, true, what .. ": a route into " .. peer.pod_cidr)
         end
      end
   end
end
t.done()
