-- cm.netlink against the kernel, run by test_netlink.sh inside a throwaway network namespace;
-- it builds links, addresses, routes, neighbours and FDB entries (IPv4 and IPv6) and prints what
-- the shell side checks with iproute2. Arg 1: a netns file to act in by path (opts.netns).
local netlink = require "cm.netlink"
local other = ...

local function must(ok, err, code)
   if not ok then error(("%s (%s)"):format(err, code), 0) end
   return ok
end

must(netlink.link_add { name = "eth0", kind = "veth", peer = "eth0-peer", mtu = 1500 })
must(netlink.link_set("eth0", { up = true }))
must(netlink.link_set("eth0-peer", { up = true }))
must(netlink.addr_add("eth0", "192.168.1.11/24"))
must(netlink.addr_add("eth0", "fd00::11/64"))
must(netlink.link_add { name = "flannel.1", kind = "vxlan", mtu = 1450, mac = "9e:3a:7c:00:00:01", up = true,
   vxlan = { id = 1, port = 8472, ["local"] = "192.168.1.11", dev = "eth0", learning = false } })
must(netlink.addr_add("flannel.1", "10.244.1.0/32"))
must(netlink.route_add { dst = "10.244.2.0/24", gateway = "10.244.2.0", dev = "flannel.1", onlink = true })
must(netlink.neigh_add { dst = "10.244.2.0", lladdr = "9e:3a:7c:00:00:02", dev = "flannel.1" })
must(netlink.fdb_add { lladdr = "9e:3a:7c:00:00:02", dev = "flannel.1", dst = "192.168.1.12" })
must(netlink.link_add { name = "cni0", kind = "bridge", mtu = 1450 })
must(netlink.link_add { name = "veth1", kind = "veth", peer = "pod1" })
must(netlink.link_set("veth1", { master = "cni0", up = true }))
must(netlink.route_add { family = "inet6", dst = "fd00:10:244:2::/64", gateway = "fd00::12", dev = "eth0" })
must(netlink.route_add { dst = "10.244.9.0/24", type = "blackhole", protocol = "80" })

-- flannel-v6.1: IPv6 neighbours and FDB entries with IPv6 destinations
must(netlink.link_add { name = "flannel-v6.1", kind = "vxlan", mtu = 1430, mac = "9e:3a:7c:00:00:11", up = true,
   vxlan = { id = 1, port = 8472, ["local"] = "fd00::11", dev = "eth0", learning = false } })
for n = 2, 3 do
   must(netlink.neigh_add { dst = ("fd00:10:244:%d::"):format(n), lladdr = ("9e:3a:7c:00:00:1%d"):format(n),
      dev = "flannel-v6.1" })
   must(netlink.fdb_add { lladdr = ("9e:3a:7c:00:00:1%d"):format(n), dev = "flannel-v6.1", dst = ("fd00::1%d"):format(n) })
end
local n6 = {}
for _, n in ipairs(assert(netlink.neighbours { dev = "flannel-v6.1", family = "inet6" })) do
   if n.state == "permanent" then n6[#n6 + 1] = n end
end
assert(#n6 == 2 and n6[1].family == "inet6", "two permanent IPv6 neighbours")
local f6 = assert(netlink.fdb { dev = "flannel-v6.1" })
local dsts = {}
for _, e in ipairs(f6) do if e.dst then dsts[#dsts + 1] = e.dst end end
table.sort(dsts)
assert(table.concat(dsts, " ") == "fd00::12 fd00::13", "the IPv6 FDB destinations: " .. table.concat(dsts, " "))
must(netlink.neigh_del { dst = "fd00:10:244:3::", dev = "flannel-v6.1" })
must(netlink.fdb_del { lladdr = "9e:3a:7c:00:00:13", dev = "flannel-v6.1", dst = "fd00::13" })
local _, _, nc = netlink.neigh_del { dst = "fd00:10:244:3::", dev = "flannel-v6.1" }
assert(nc == "ENOENT", "a second neighbour delete: " .. tostring(nc))

-- sysctls, through /proc/sys of this namespace (the shell side reads them with sysctl(8))
local sysctl = require "cm.sysctl"
local rp = sysctl.name("net", "ipv4", "conf", "flannel.1", "rp_filter")
must(sysctl.set(rp, "2"))
assert(sysctl.get(rp) == "2", "rp_filter read back")
local _, serr, scode = sysctl.set(rp, "loose")
assert(scode == "EINVAL", serr)
_, serr, scode = sysctl.set("kernel.osrelease", "x")
assert(scode == "EACCES", serr)
_, serr, scode = sysctl.get("net.ipv4.conf.nosuch0.rp_filter")
assert(scode == "ENOENT", serr)

-- read back through cm.netlink: the shapes of hostops.h
local l = assert(netlink.link("flannel.1"))
assert(l.kind == "vxlan" and l.vxlan.id == 1 and l.vxlan.port == 8472 and l.vxlan.dev == "eth0"
   and l.vxlan["local"] == "192.168.1.11" and l.vxlan.learning == false and l.mac == "9e:3a:7c:00:00:01"
   and l.mtu == 1450 and l.up, "flannel.1 as read back")
assert(assert(netlink.link("veth1")).master == "cni0", "veth1's master")
local r = assert(netlink.routes { dev = "flannel.1", family = "inet" })
assert(#r == 1 and r[1].onlink and r[1].gateway == "10.244.2.0", "the onlink route")
local bh = assert(netlink.routes { type = "blackhole" })
assert(#bh == 1 and bh[1].protocol == "80", "the blackhole route, protocol 80")
local v6 = assert(netlink.routes { family = "inet6", dev = "eth0" })
local found = false
for _, x in ipairs(v6) do found = found or x.dst == "fd00:10:244:2::/64" end
assert(found, "the IPv6 route")
local perm = 0
for _, n in ipairs(assert(netlink.neighbours { dev = "flannel.1" })) do
   if n.state == "permanent" then perm = perm + 1 end
end
assert(perm == 1, "one permanent neighbour")

-- the kernel's errors, with its extended ack
local ok, err, code = netlink.link_add { name = "flannel.1", kind = "bridge" }
assert(not ok and code == "EEXIST", err)
ok, err, code = netlink.route_add { dst = "10.244.3.0/24", gateway = "10.244.3.0", dev = "flannel.1" }
assert(not ok and code == "ENETUNREACH" and err:find("kernel:", 1, true), err)
ok, err, code = netlink.link_del("nosuch0")
assert(not ok and code == "ENODEV", err)
ok, err, code = netlink.link_add { name = "d0", kind = "dummy" }
print(ok and "dummy: created" or ("dummy: %s %s"):format(code, err))

-- deletes
must(netlink.fdb_del { lladdr = "9e:3a:7c:00:00:02", dev = "flannel.1", dst = "192.168.1.12" })
must(netlink.neigh_del { dst = "10.244.2.0", dev = "flannel.1" })
must(netlink.route_del(bh[1]))
ok, err, code = netlink.route_del(bh[1])
assert(not ok and code == "ESRCH", err)
must(netlink.link_del("cni0"))

-- another namespace, by path
if other then
   must(netlink.link_add({ name = "br-other", kind = "bridge" }, { netns = other }))
   assert(netlink.link("br-other", { netns = other }), "br-other seen in the other netns")
   local _, _, c = netlink.link("br-other")
   assert(c == "ENODEV", "and not in ours")
   _, err, c = netlink.links { netns = "/nonexistent/netns" }
   assert(c == "ENOENT", err)
end
print("netlink ops done")
