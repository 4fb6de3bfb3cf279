--- The end state of a migration, object by object, on the cluster a `migrate --fake F --fake-save S`
--- left (run with --fake S): no flannel DaemonSet, its backup, calico-node everywhere without the
--- migration's selector, every node's labels, annotations, IPAM objects and host.
--- usage: run migrate_end.lua FLANNEL_NS FLANNEL_DS VNI [canal|-] [no-hosts]
--- no-hosts: over HTTP (fake serve), where fake.host is not there; the caller checks the hosts.
local fake = require "cm.fake"
local json = require "cm.json"
local k8s = require "cm.k8s"
local t = require "t"

local fns, fds, vni, canal, no_hosts = ...
canal = canal ~= nil and canal ~= "-"
no_hosts = no_hosts == "no-hosts"
local c = assert(k8s.client())
local G = "crd.projectcalico.org/v1"
local LABEL = "projectcalico.org/node-network-during-migration"

local _, _, code = c:get { apiVersion = "apps/v1", kind = "DaemonSet", namespace = fns, name = fds }
t.eq(code, "NotFound", "flannel's DaemonSet deleted")
local b = assert(c:get { apiVersion = "v1", kind = "ConfigMap", namespace = "kube-system", name = "cni-migrate-flannel-backup" })
local saved = json.decode(b.data["daemonset.json"])
t.eq(saved.metadata.name, fds, "backup holds the DaemonSet"); t.eq(saved.spec.template ~= nil, true)
t.eq(b.data.source, canal and "canal" or "flannel")
t.eq(json.decode(b.data["configmap.json"]).data["net-conf.json"] ~= nil, true, "and its ConfigMap")
local cds = assert(c:get { apiVersion = "apps/v1", kind = "DaemonSet", namespace = "kube-system", name = "calico-node" })
t.eq((cds.spec.template.spec.nodeSelector or {})[LABEL], nil, "calico-node's migration selector removed")
t.eq((cds.spec.template.spec.nodeSelector or {})["kubernetes.io/os"], "linux", "its other selector kept")
local fc = assert(c:get { apiVersion = G, kind = "FelixConfiguration", name = "default" })
t.eq(fc.spec.vxlanEnabled, nil)
local mc = assert(c:get { apiVersion = "v1", kind = "ConfigMap", namespace = "kube-system", name = "flannel-migration-config" })
t.eq(mc.data["cni-migrate.phase"], "done")

local affinities = {}
for _, a in ipairs(assert(c:list { apiVersion = G, kind = "BlockAffinity" }).items) do
   affinities[a.spec.node] = (affinities[a.spec.node] or 0) + (a.spec.state == "confirmed" and 1 or 0)
end
local nodes = assert(c:list { apiVersion = "v1", kind = "Node" }).items
t.eq(#nodes > 0, true)
for _, n in ipairs(nodes) do
   local name, l, a = n.metadata.name, n.metadata.labels or {}, n.metadata.annotations or {}
   t.eq(l[LABEL], nil, name .. ": network label removed")
   t.eq(l["projectcalico.org/node-flannel-migration-in-progress"], nil, name .. ": not in progress")
   t.eq(n.spec.unschedulable, nil, name .. ": schedulable again")
   t.eq(a["cni-migrate.dev/cordoned"], nil, name .. ": our cordon gone")
   t.eq(a["cni-migrate.dev/step"], "done", name)
   t.match(a["cni-migrate.dev/migrated"] or "", "^%d%d%d%d%-", name .. ": migrated at")
   t.eq(a["projectcalico.org/IPv4VXLANTunnelAddr"], (n.spec.podCIDR:gsub("/%d+$", "")), name .. ": VTEP")
   t.eq(affinities[name] >= 4, true, name .. ": its blocks")
   local h = assert(c:get { apiVersion = G, kind = "IPAMHandle", name = "vxlan-tunnel-addr-" .. name })
   t.eq(h.spec.handleID, "vxlan-tunnel-addr-" .. name)
   if not no_hosts then
      local host = fake.host(name)
      t.eq(host:link("vxlan.calico") ~= nil, true, name .. ": vxlan.calico")
      t.eq(host:link("flannel." .. vni), nil, name .. ": flannel." .. vni .. " gone")
      t.eq(host:link("vxlan.calico").vxlan.id, math.tointeger(vni), name .. ": vxlan.calico on flannel's VNI")
      if not canal then t.eq(host:link("cni0"), nil, name .. ": cni0 gone") end
      t.eq(host:cni_active(), "/etc/cni/net.d/10-calico.conflist", name .. ": Calico's CNI config active")
   end
   local pods = assert(c:list { apiVersion = "v1", kind = "Pod", namespace = "kube-system",
      labelSelector = "k8s-app=calico-node", fieldSelector = "spec.nodeName=" .. name }).items
   t.eq(#pods, 1, name .. ": one calico-node")
end
t.done()
