-- The dataplane model's verdicts on real network namespaces: reads each node namespace's links,
-- addresses, routes, neighbours and FDB with cm.netlink, and its IPv4 iptables rules with
-- iptables-save (the shapes a simulated host has), and prints "A B ok", "A B ok (what rewrote
-- the source)" or "A B fail: why" for each pair of pods given.
--   run dataplane_verdicts.lua NODE=NETNS,... POD=IP@NODE,... A:B,...
local dp = require "cm.dataplane"
local netlink = require "cm.netlink"

local node_arg, pod_arg, pair_arg = ...

--- A namespace's iptables-save, as a simulated host keeps it: {table = {":CHAIN POLICY", "-A ..."}}.
local function iptables_of(ns)
   local f = assert(io.popen("ip netns exec " .. ns .. " iptables-save"))
   local text = f:read("a")
   assert(f:close(), "iptables-save in " .. ns)
   local t, cur = {}, nil
   for line in text:gmatch("[^\n]+") do
      local name = line:match("^%*(%S+)")
      if name then
         cur = {}
         t[name] = cur
      elseif cur and (line:match("^:") or line:match("^%-A ")) then
         cur[#cur + 1] = line
      end
   end
   return t
end

local states = {}
for name, ns in node_arg:gmatch("([^=,]+)=([^,]+)") do
   local o = { netns = "/run/netns/" .. ns }
   local function need(v, msg) return assert(v, msg) end
   states[name] = { links = need(netlink.links(o)), addresses = need(netlink.addrs({ family = "inet", netns = o.netns })),
      routes = need(netlink.routes({ family = "inet", netns = o.netns })),
      neighbours = need(netlink.neighbours({ netns = o.netns })), fdb = need(netlink.fdb({ netns = o.netns })),
      iptables = iptables_of(ns) }
end
local pods = {}
for name, addr, node in pod_arg:gmatch("([^=,]+)=([^@,]+)@([^,]+)") do pods[name] = { ip = addr, node = node } end
local net = dp.network(states)
for a, b in pair_arg:gmatch("([^:,]+):([^,]+)") do
   local ok, why, _, seen = dp.reach(net, pods[a], pods[b])
   print(("%s %s %s"):format(a, b, not ok and ("fail: " .. why) or seen and ("ok (" .. seen .. ")") or "ok"))
end
