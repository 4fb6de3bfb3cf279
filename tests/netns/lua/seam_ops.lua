-- A node script for tests/netns/test_host_seam.sh: the same operations through cm.netlink,
-- cm.sysctl and cm.cni on the run's host, which is the real kernel (node-run in a throwaway
-- network namespace) or a simulated host (fake.new_host():node_run). It returns each step's
-- result (OK or the code) and the state left, in a form both hosts can give: the driver
-- (seam_diff.lua) compares the two.
local cni = require "cm.cni"
local json = require "cm.json"
local netlink = require "cm.netlink"
local sysctl = require "cm.sysctl"

local function main(args)
   local steps = setmetatable({}, json.array_mt)
   local function step(what, ok, _, code)
      steps[#steps + 1] = what .. " => " .. (ok and "OK" or tostring(code))
      return ok
   end
   local function value(what, v, _, code)
      steps[#steps + 1] = what .. " => " .. (v and ("OK " .. tostring(v)) or tostring(code))
   end
   local L = netlink
   local MAC1, MAC2, MAC3 = "9e:3a:7c:00:00:01", "9e:3a:7c:00:00:02", "9e:3a:7c:00:00:03"

   -- the underlay
   step("link add eth0 veth", L.link_add { name = "eth0", kind = "veth", peer = "eth0-peer", mac = "52:54:00:00:00:11" })
   step("link set eth0 up", L.link_set("eth0", { up = true }))
   step("addr add 192.168.1.11/24 eth0", L.addr_add("eth0", "192.168.1.11/24"))
   step("addr add 192.168.1.11/24 eth0 again", L.addr_add("eth0", "192.168.1.11/24"))
   step("addr add 10.0.0.1/24 eth9", L.addr_add("eth9", "10.0.0.1/24"))
   step("addr del 10.9.9.9/24 eth0", L.addr_del("eth0", "10.9.9.9/24"))
   step("addr add fd00::11/64 eth0", L.addr_add("eth0", "fd00::11/64"))
   step("route add default", L.route_add { dst = "default", gateway = "192.168.1.1", dev = "eth0" })
   step("route add via an unreachable gateway", L.route_add { dst = "10.99.0.0/16", gateway = "172.16.0.1", dev = "eth0" })

   -- flannel.1 and what flanneld programs for a peer
   step("link add flannel.1", L.link_add { name = "flannel.1", kind = "vxlan", mtu = 1450, mac = MAC1,
      vxlan = { id = 1, port = 8472, ["local"] = "192.168.1.11", dev = "eth0", learning = false } })
   step("link add flannel.1 again", L.link_add { name = "flannel.1", kind = "bridge" })
   step("link add a long name", L.link_add { name = "a-name-longer-than-15", kind = "bridge" })
   step("link set flannel.1 mtu 20", L.link_set("flannel.1", { mtu = 20 }))
   step("link set flannel.1 up", L.link_set("flannel.1", { up = true }))
   step("link set nosuch0 up", L.link_set("nosuch0", { up = true }))
   step("addr add 10.244.1.0/32 flannel.1", L.addr_add("flannel.1", "10.244.1.0/32"))
   local peer = { dst = "10.244.2.0/24", gateway = "10.244.2.0", dev = "flannel.1" }
   step("route add peer without onlink", L.route_add(peer))
   peer.onlink = true
   step("route add peer onlink", L.route_add(peer))
   step("route add peer onlink again", L.route_add(peer))
   step("route replace peer", L.route_replace(peer))
   local n4 = { dst = "10.244.2.0", lladdr = MAC2, dev = "flannel.1" }
   step("neigh add", L.neigh_add(n4))
   step("neigh add again", L.neigh_add(n4))
   step("neigh replace", L.neigh_replace(n4))
   local f4 = { lladdr = MAC2, dev = "flannel.1", dst = "192.168.1.12" }
   step("fdb add", L.fdb_add(f4))
   step("fdb add again", L.fdb_add(f4))
   step("fdb replace", L.fdb_replace(f4))
   step("neigh add on nosuch0", L.neigh_add { dst = "10.244.3.0", lladdr = MAC3, dev = "nosuch0" })

   -- flannel-v6.1: the same VNI and port in the other family
   step("link add flannel-v6.1", L.link_add { name = "flannel-v6.1", kind = "vxlan", mtu = 1430, mac = MAC3,
      vxlan = { id = 1, port = 8472, ["local"] = "fd00::11", dev = "eth0", learning = false } })
   step("link set flannel-v6.1 up", L.link_set("flannel-v6.1", { up = true }))
   step("addr add fd00:10:244:1::/128 flannel-v6.1", L.addr_add("flannel-v6.1", "fd00:10:244:1::/128"))
   step("route add v6 peer onlink", L.route_add { family = "inet6", dst = "fd00:10:244:2::/64",
      gateway = "fd00:10:244:2::", dev = "flannel-v6.1", onlink = true })
   local n6 = { dst = "fd00:10:244:2::", lladdr = MAC2, dev = "flannel-v6.1" }
   step("neigh add v6", L.neigh_add(n6))
   step("fdb add v6", L.fdb_add { lladdr = MAC2, dev = "flannel-v6.1", dst = "fd00::12" })

   step("route add v6 via an unreachable gateway", L.route_add { dst = "fd00:99::/64", gateway = "fd00:77::1", dev = "eth0" })
   step("route add v6 default", L.route_add { family = "inet6", dst = "default", gateway = "fd00::1", dev = "eth0" })
   step("route add v6 default again", L.route_add { family = "inet6", dst = "default", gateway = "fd00::1", dev = "eth0" })
   step("route del v6 default", L.route_del { family = "inet6", dst = "default", dev = "eth0" })
   value("v4 default kept", #assert(L.routes { family = "inet", dev = "eth0" }))

   -- a link going down and up again
   step("link add tmp0", L.link_add { name = "tmp0", kind = "veth", peer = "tmp0-peer", up = true })
   step("link set tmp0 up", L.link_set("tmp0", { up = true }))
   step("addr add 10.77.0.1/24 tmp0", L.addr_add("tmp0", "10.77.0.1/24"))
   step("addr add fd77::1/64 tmp0", L.addr_add("tmp0", "fd77::1/64"))
   step("neigh add on tmp0", L.neigh_add { dst = "10.77.0.2", lladdr = MAC3, dev = "tmp0" })
   step("route add via tmp0", L.route_add { dst = "10.78.0.0/16", gateway = "10.77.0.2", dev = "tmp0" })
   step("link set tmp0 down", L.link_set("tmp0", { up = false }))
   value("tmp0 addresses when down", #assert(L.addrs { dev = "tmp0" }))
   value("tmp0 routes when down", #assert(L.routes { dev = "tmp0" }))
   value("tmp0 neighbours when down", #assert(L.neighbours { dev = "tmp0" }))
   step("link set tmp0 up again", L.link_set("tmp0", { up = true }))
   value("tmp0 addresses when up", #assert(L.addrs { dev = "tmp0" }))
   step("link del tmp0", L.link_del("tmp0"))

   -- deletes
   step("neigh del", L.neigh_del(n4))
   step("neigh del again", L.neigh_del(n4))
   step("fdb del", L.fdb_del(f4))
   step("fdb del again", L.fdb_del(f4))
   step("route del peer", L.route_del(peer))
   step("route del peer again", L.route_del(peer))
   step("route add peer back", L.route_add(peer))
   step("neigh add back", L.neigh_add(n4))
   step("fdb add back", L.fdb_add(f4))

   -- the bridge the first pod brings
   step("link add cni0", L.link_add { name = "cni0", kind = "bridge", mtu = 1450, mac = "0a:58:0a:f4:01:01" })
   step("addr add 10.244.1.1/24 cni0", L.addr_add("cni0", "10.244.1.1/24"))
   step("route add via cni0 down", L.route_add { dst = "10.244.9.0/24", dev = "cni0" })
   step("link set cni0 up", L.link_set("cni0", { up = true }))
   step("link add veth1", L.link_add { name = "veth1", kind = "veth", peer = "pod1", mac = "0a:58:0a:f4:01:07" })
   step("link set veth1 master cni0", L.link_set("veth1", { master = "cni0", up = true }))
   step("link set veth1 master nosuch0", L.link_set("veth1", { master = "nosuch0" }))
   step("link add veth2 (mtu 1400)", L.link_add { name = "veth2", kind = "veth", peer = "pod2", mtu = 1400 })
   step("link set veth2 master cni0", L.link_set("veth2", { master = "cni0" }))
   value("cni0 mtu with veth2", (L.link("cni0") or {}).mtu)
   step("link del veth2", L.link_del("veth2"))
   value("cni0 mtu without veth2", (L.link("cni0") or {}).mtu)
   value("pod2 went with veth2", select(3, L.link("pod2")))
   step("link add veth3 with veth1's peer name", L.link_add { name = "veth3", kind = "veth", peer = "pod1" })
   value("veth3 not left", select(3, L.link("veth3")))
   step("link add br1", L.link_add { name = "br1", kind = "bridge" })
   step("link set br1 mtu 1400", L.link_set("br1", { mtu = 1400 }))
   step("link set veth1 master br1", L.link_set("veth1", { master = "br1" }))
   value("br1 mtu set by hand stays", (L.link("br1") or {}).mtu)
   value("cni0 mtu without ports", (L.link("cni0") or {}).mtu)
   step("link set veth1 master cni0 again", L.link_set("veth1", { master = "cni0" }))
   step("link del br1", L.link_del("br1"))

   -- sysctls
   local rp = sysctl.name("net", "ipv4", "conf", "flannel.1", "rp_filter")
   step("sysctl set flannel.1 rp_filter 2", sysctl.set(rp, "2"))
   value("sysctl get flannel.1 rp_filter", sysctl.get(rp))
   step("sysctl set ip_forward 1", sysctl.set("net.ipv4.ip_forward", "1"))
   value("sysctl get ip_forward", sysctl.get("net.ipv4.ip_forward"))
   value("sysctl get nosuch0 rp_filter", sysctl.get("net.ipv4.conf.nosuch0.rp_filter"))
   step("sysctl set nosuch0 rp_filter", sysctl.set("net.ipv4.conf.nosuch0.rp_filter", "1"))
   step("sysctl set rp_filter to text", sysctl.set(rp, "loose"))

   -- CNI files
   local dir = args.cni_dir
   local conf = '{"name":"cbr0","cniVersion":"0.3.1","plugins":[{"type":"flannel"},{"type":"portmap"}]}\n'
   value("cni active, none yet", cni.active(dir))
   step("cni write 10-flannel.conflist", cni.write(dir .. "/10-flannel.conflist", conf))
   step("cni write 05-bad.conflist unvalidated", cni.write(dir .. "/05-bad.conflist", "{", { validate = false }))
   step("cni write 20-bad.conflist", cni.write(dir .. "/20-bad.conflist", '{"name":"x","plugins":[]}'))
   local active = cni.active(dir)
   value("cni active", active and active.path:match("[^/]+$"))
   local names = {}
   for _, e in ipairs(cni.list(dir) or {}) do names[#names + 1] = e.name end
   value("cni list", table.concat(names, " "))
   step("cni read 05-bad.conflist", cni.read(dir .. "/05-bad.conflist"))
   local backup = cni.remove(dir .. "/10-flannel.conflist", args.backup_dir)
   value("cni remove", backup and backup:sub(#args.backup_dir + 2))
   step("cni remove again", cni.remove(dir .. "/10-flannel.conflist", args.backup_dir))
   step("cni restore", cni.restore(args.backup_dir .. "/10-flannel.conflist", dir .. "/10-flannel.conflist"))
   value("cni read restored", (cni.read(dir .. "/10-flannel.conflist") or {}).name)

   -- the device goes, and what flannel programmed through it with it
   step("link del flannel.1", L.link_del("flannel.1"))
   step("link del flannel.1 again", L.link_del("flannel.1"))
   step("route del peer after", L.route_del(peer))
   step("link add vxlan.calico", L.link_add { name = "vxlan.calico", kind = "vxlan", mac = "66:aa:bb:cc:dd:01",
      vxlan = { id = 1, port = 8472, dev = "eth0" } })
   step("link set vxlan.calico up", L.link_set("vxlan.calico", { up = true }))
   value("sysctl get flannel.1 rp_filter after", sysctl.get(rp))

   -- the state left, in what both hosts show alike
   local state = setmetatable({}, json.array_mt)
   local function add(fmt, ...) state[#state + 1] = fmt:format(...) end
   for _, l in ipairs(assert(L.links())) do
      if l.kind ~= "loopback" then
         local vx = l.vxlan and ("vxlan %s:%s local %s dev %s learning %s"):format(l.vxlan.id, l.vxlan.port,
            l.vxlan["local"], l.vxlan.dev, tostring(l.vxlan.learning)) or ""
         add("link %s %s mtu %s up %s master %s mac %s %s", l.name, l.kind, l.mtu, tostring(l.up), l.master or "-",
            l.name:match("peer$") and "-" or l.name == "pod1" and "-" or l.mac, vx)
      end
   end
   for _, a in ipairs(assert(L.addrs())) do
      if a.dev ~= "lo" and not a.address:match("^fe80:") then add("addr %s %s %s", a.dev, a.address, a.family) end
   end
   for _, r in ipairs(assert(L.routes())) do
      if not r.dst:match("^fe80:") and not r.dst:match("^ff00:") then
         add("route %s %s via %s dev %s onlink %s proto %s scope %s type %s", r.family, r.dst, r.gateway or "-",
            r.dev or "-", tostring(r.onlink or false), r.protocol, r.scope, r.type)
      end
   end
   for _, n in ipairs(assert(L.neighbours())) do
      if n.state == "permanent" then add("neigh %s %s lladdr %s dev %s", n.family, n.dst, n.lladdr, n.dev) end
   end
   for _, f in ipairs(assert(L.fdb())) do
      if f.dst then add("fdb %s dev %s dst %s", f.lladdr, f.dev, f.dst) end
   end
   table.sort(state)
   return { ok = true, steps = steps, state = state }
end

return { main = main }
