-- cm.fake hosts: a flannel cluster's nodes synthesized from a fixture, and Calico's per-node
-- migration steps played on them, with the kernel's and the kubelet's answers.
local fake = require "cm.fake"
local flannel = require "cm.flannel"
local sim = require "cm.sim"
local t = require "t"
local yaml = require "cm.yaml"

local f = assert(io.open((os.getenv("CM_SOURCE_DIR") or ".") .. "/examples/clusters/flannel-3node.yaml"))
local list = assert(yaml.decode(f:read("a")))
f:close()
local nodes, cm = {}, nil
for _, o in ipairs(list.items) do
   if o.kind == "Node" then nodes[#nodes + 1] = o end
   if o.kind == "ConfigMap" and o.metadata.name == "kube-flannel-cfg" then cm = o end
end
local conf = assert(flannel.parse_net_conf(cm.data["net-conf.json"]))

local hosts = {}
for _, n in ipairs(nodes) do
   local h = assert(fake.node_host(n))
   t.eq(h:sandbox("0123"), nil, "no CNI before flannel on " .. n.metadata.name)
   assert(sim.apply(h, assert(flannel.node_state(n, nodes, conf, { cni_conf = cm.data["cni-conf.json"] }))))
   t.eq(h:sandbox("0123"), true, "flannel networks pods on " .. n.metadata.name)
   hosts[n.metadata.name] = h
end
local w1 = hosts["worker-1"]
t.eq(w1:cni_active(), "/etc/cni/net.d/10-flannel.conflist")
t.eq(w1:link("flannel.1").mtu, 1450)
t.eq(w1:link("flannel.1").mac, "9e:3a:7c:00:00:02")
local routes = {}
for _, r in ipairs(w1:json().routes) do routes[#routes + 1] = r.dst .. " " .. (r.gateway or "-") .. " " .. r.dev end
table.sort(routes)
t.eq(routes, { "10.244.0.0/24 10.244.0.0 flannel.1", "10.244.1.0/24 - cni0", "10.244.2.0/24 10.244.2.0 flannel.1",
   "192.168.1.0/24 - eth0", "default 192.168.1.1 eth0" })
t.eq(w1:sysctl("net/ipv4/ip_forward"), "1")
t.eq(w1:sysctl("net/ipv6/conf/flannel.1/accept_ra"), "0")
t.eq(sim.apply(w1, flannel.node_state(nodes[2], nodes, conf)), true, "apply is idempotent")

-- Calico's node step: the placeholder CNI config under Calico's name, then flannel's devices go
local DUMMY = '{ "name": "dummy", "plugins": [{ "type": "flannel-migration-in-progress" }]}'
assert(w1:write("/etc/cni/net.d/10-calico.conflist", DUMMY))
local r, msg, code = w1:sandbox("0123")
t.eq(code, "FailedCreatePodSandBox")
t.match(msg, 'plugin type="flannel%-migration%-in%-progress" failed %(add%): failed to find plugin')
local calico_dev = { name = "vxlan.calico", kind = "vxlan", up = true, vxlan = { id = 1, port = 8472, dev = "eth0" } }
r, msg, code = w1:link_add(calico_dev)
t.eq({ r, msg, code }, { nil, "link add vxlan.calico: File exists", "EEXIST" }, "flannel.1 holds VNI 1 on 8472")
assert(w1:link_del("cni0"))
assert(w1:link_del("flannel.1"))
t.eq(w1:link_add(calico_dev), true, "with flannel.1 gone, Calico's device fits")
t.eq(#w1:json().neighbours, 0, "flannel's neighbours went with its device")
r, msg, code = w1:route_add { dst = "10.244.2.0/24", gateway = "10.244.2.0", dev = "flannel.1", onlink = true }
t.eq(code, "ENODEV")
-- the other nodes still route worker-1's pods through flannel.1 to its public IP
t.eq(hosts["worker-2"]:json().fdb[2].dst, "192.168.1.12")

-- Calico on worker-1, as the migration sets it up: Felix with flannel's VNI, port and MTU, the
-- node's tunnel address and MAC taken from flannel's VTEP, the /26 blocks of every node's podCIDR
local calico = require "cm.calico"
local cfg
for _, o in ipairs(assert(yaml.decode_all(assert(io.open((os.getenv("CM_SOURCE_DIR") or ".")
   .. "/examples/manifests/calico-flannel-migration.yaml")):read("a")))) do
   if o.kind == "ConfigMap" and o.metadata.name == "calico-config" then cfg = o end
end
local felix = { spec = { vxlanVNI = 1, vxlanPort = 8472, vxlanMTU = 1450 } }
local affinities = {}
for _, n in ipairs(nodes) do
   local info = assert(flannel.node_info(n))
   n.metadata.annotations[calico.ANN_VXLAN_ADDR] = info.pod_cidr:match("^[%d.]+")
   n.metadata.annotations[calico.ANN_VXLAN_MAC] = info.vtep_mac
   n.metadata.annotations[calico.ANN_IPV4] = info.public_ip .. "/32"
   local base = info.pod_cidr:match("^(%d+%.%d+%.%d+)%.")
   for _, off in ipairs { 0, 64, 128, 192 } do
      local cidr = ("%s.%d/26"):format(base, off)
      affinities[#affinities + 1] = { kind = "BlockAffinity",
         metadata = { name = n.metadata.name .. "-" .. cidr:gsub("[./]", "-") },
         spec = { node = n.metadata.name, cidr = cidr, state = "confirmed", deleted = "false", type = "host" } }
   end
end
local w1c = assert(fake.node_host(nodes[2]))
local cstate = assert(calico.node_state(nodes[2], nodes, felix, affinities, { calico_config = cfg }))
assert(sim.apply(w1c, cstate))
local vxc = w1c:link("vxlan.calico")
t.eq({ vxc.mtu, vxc.mac, vxc.vxlan.id, vxc.vxlan.port }, { 1450, "9e:3a:7c:00:00:02", 1, 8472 })
t.eq(w1c:sandbox("0123"), true, "calico networks pods once calico-node runs")
t.eq(w1c:cni_active(), "/etc/cni/net.d/10-calico.conflist")
t.match(w1c:read("/etc/cni/net.d/10-calico.conflist"), '"nodename": "worker%-1"')
t.match(w1c:read("/etc/cni/net.d/10-calico.conflist"), '"mtu": 1450')
local croutes = {}
for _, route in ipairs(w1c:json().routes) do
   if route.dev == "vxlan.calico" then croutes[#croutes + 1] = route.dst .. " via " .. route.gateway end
end
t.eq(#croutes, 8, "a route per remote /26 block")
t.eq(croutes[5], "10.244.2.0/26 via 10.244.2.0")
-- no window: worker-2, still on flannel, reaches worker-1's pods through the same VTEP address and MAC
local w2 = hosts["worker-2"]
local to_w1
for _, n in ipairs(w2:json().neighbours) do if n.dst == "10.244.1.0" then to_w1 = n.lladdr end end
t.eq(to_w1, vxc.mac, "flannel's neighbour entry on worker-2 matches vxlan.calico's MAC on worker-1")
local back
for _, e in ipairs(w1c:json().fdb) do if e.lladdr == "9e:3a:7c:00:00:03" then back = e.dst end end
t.eq(back, "192.168.1.13", "and worker-1 reaches worker-2's flannel.1 at its node IP")

-- misuse and bad documents
r, msg, code = fake.new_host { links = { { name = "flannel.1", vxlan = { id = 1, dev = "eth0" } } } }
t.eq({ r, msg, code }, { nil, "invalid host: links[0]: vxlan.dev: no link eth0", "InvalidHost" })
w1:close()
t.raises("attempt to use a closed host", function() return w1:json() end)
t.eq(tostring(w1), "cm.fake.Host (closed)")
t.raises("bad argument #1 to 'link_add' %(table expected", function() return hosts["worker-2"]:link_add("x") end)
t.done()
