-- cm.dataplane over simulated hosts read in place (dp.view: the host's route_to, neigh_to and
-- fdb_to lookups) gives the same verdicts, why and hops as over their copies (host:json()), the
-- shape the model checks against the real kernel (tests/netns/test_dataplane.sh): flannel nodes,
-- a node on Calico (mixed pairs), a broken FDB entry, a missing neighbour, a more specific route.
local calico = require "cm.calico"
local dp = require "cm.dataplane"
local fake = require "cm.fake"
local flannel = require "cm.flannel"
local sim = require "cm.sim"
local t = require "t"
local yaml = require "cm.yaml"
local src = os.getenv("CM_SOURCE_DIR") or "."
local f = assert(io.open(src .. "/examples/clusters/flannel-calico-installed-4node.yaml"))
local list = assert(yaml.decode(f:read("a")))
f:close()
local nodes, cm = {}, nil
for _, o in ipairs(list.items) do
   if o.kind == "Node" then nodes[#nodes + 1] = o end
   if o.kind == "ConfigMap" and o.metadata.name == "kube-flannel-cfg" then cm = o end
end
local conf = assert(flannel.parse_net_conf(cm.data["net-conf.json"]))
local hosts, pods = {}, {}
for _, n in ipairs(nodes) do
   local h = assert(fake.node_host(n))
   assert(sim.apply(h, assert(flannel.node_state(n, nodes, conf, { cni_conf = cm.data["cni-conf.json"] }))))
   hosts[n.metadata.name] = h
   local info = assert(flannel.node_info(n))
   pods[#pods + 1] = { ip = info.pod_cidr:match("^(%d+%.%d+%.%d+)%.") .. ".5", node = n.metadata.name }
end
t.eq(#nodes >= 4, true, "four nodes")
-- the last node on Calico, as the migration sets it up (flannel's VNI, port, MTU, VTEP address and MAC)
local last = nodes[#nodes]
local felix = { spec = { vxlanVNI = 1, vxlanPort = 8472, vxlanMTU = 1450 } }
local blocks = {}
for _, n in ipairs(nodes) do
   local info = assert(flannel.node_info(n))
   n.metadata.annotations[calico.ANN_VXLAN_ADDR] = info.pod_cidr:match("^[%d.]+")
   n.metadata.annotations[calico.ANN_VXLAN_MAC] = info.vtep_mac
   n.metadata.annotations[calico.ANN_IPV4] = info.public_ip .. "/32"
   blocks[#blocks + 1] = { kind = "BlockAffinity", metadata = { name = n.metadata.name },
      spec = { node = n.metadata.name, cidr = info.pod_cidr:gsub("/24$", "/26"), state = "confirmed",
         deleted = "false", type = "host" } }
end
local hl = hosts[last.metadata.name]
assert(hl:link_del("cni0"))
assert(hl:link_del("flannel.1"))
assert(sim.apply(hl, assert(calico.node_state(last, nodes, felix, blocks, {}))))
pods[#pods].calico = true
-- breakage: node 2's FDB entry for node 1's MAC sends to an address no node has; node 3 lost its
-- neighbour for node 1; node 1 has a /25 inside node 2's /24 through a device that is not VXLAN
local h1, h2, h3 = hosts[nodes[1].metadata.name], hosts[nodes[2].metadata.name], hosts[nodes[3].metadata.name]
local mac1 = h1:link("flannel.1").mac
assert(h2:fdb_replace { lladdr = mac1, dev = "flannel.1", dst = "192.0.2.99" })
for _, e in ipairs(h3:json().fdb) do
   if e.lladdr == mac1 then assert(h2:fdb_del("flannel.1", mac1, e.dst)) end
end
local p1 = pods[1].ip:match("^(%d+%.%d+%.%d+)%.") .. ".0"
assert(h3:neigh_del("flannel.1", p1))
local p2 = pods[2].ip:match("^(%d+%.%d+%.%d+)%.") .. ".128/25"
assert(h1:route_replace { dst = p2, dev = "eth0", gateway = "192.168.1.1" })
local copies, views = {}, {}
for name, h in pairs(hosts) do
   copies[name], views[name] = h:json(), dp.view(h)
end
local ok_n, fail_n = 0, 0
for _, a in ipairs(pods) do
   for _, b in ipairs(pods) do
      if a ~= b then
         local want = { dp.reach(dp.network(copies), a, b) }
         local got = { dp.reach(dp.network(views), a, b) }
         t.eq(got, want, ("%s -> %s"):format(a.ip, b.ip))
         if want[1] then ok_n = ok_n + 1 else fail_n = fail_n + 1 end
      end
   end
end
t.eq(ok_n > 0 and fail_n > 0, true, ("some pairs reach (%d), some do not (%d)"):format(ok_n, fail_n))
local b2 = { ip = pods[2].ip:match("^(%d+%.%d+%.%d+)%.") .. ".130", node = pods[2].node }
t.match(select(2, dp.reach(dp.network(views), pods[1], b2)), "leaves by eth0, not a VXLAN device",
   "the longer prefix wins")
t.eq(dp.route(views[pods[1].node], "192.0.2.1").dst, "default")
t.eq(dp.route(views[pods[1].node], "fd00::1"), nil, "IPv4 only")
t.done()
