-- The dataplane model's verdicts on real network namespaces: reads each node namespace's links,
-- addresses, routes, neighbours and FDB with cm.netlink (the shapes a simulated host has) and
-- prints "A B ok" or "A B fail: why" for each pair of pods given.
--   run dataplane_verdicts.lua NODE=NETNS,... POD=IP@NODE,... A:B,...
local dp = require "cm.dataplane"
local netlink = require "cm.netlink"

local node_arg, pod_arg, pair_arg = ...
local states = {}
for name, ns in node_arg:gmatch("([^=,]+)=([^,]+)") do
   local o = { netns = "/run/netns/" .. ns }
   local function need(v, msg) return assert(v, msg) end
   states[name] = { links = need(netlink.links(o)), addresses = need(netlink.addrs({ family = "inet", netns = o.netns })),
      routes = need(netlink.routes({ family = "inet", netns = o.netns })),
      neighbours = need(netlink.neighbours({ netns = o.netns })), fdb = need(netlink.fdb({ netns = o.netns })) }
end
local pods = {}
for name, addr, node in pod_arg:gmatch("([^=,]+)=([^@,]+)@([^,]+)") do pods[name] = { ip = addr, node = node } end
local net = dp.network(states)
for a, b in pair_arg:gmatch("([^:,]+):([^,]+)") do
   local ok, why = dp.reach(net, pods[a], pods[b])
   print(("%s %s %s"):format(a, b, ok and "ok" or ("fail: " .. why)))
end
