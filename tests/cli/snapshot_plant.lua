-- A node script that changes a node's host as an operator might have: `--args` {mtu = N} sets
-- eth0's MTU, {route = CIDR} adds a route to CIDR via eth0's gateway, {rp_filter = V} sets
-- net.ipv4.conf.all.rp_filter (test_snapshot.sh plants them on `fake serve`'s hosts).
local netlink = require "cm.netlink"
local sysctl = require "cm.sysctl"

return { main = function(args)
   if args.mtu then assert(netlink.link_set("eth0", { mtu = args.mtu })) end
   if args.route then
      local gw
      for _, r in ipairs(netlink.routes()) do
         if r.dst == "default" then gw = r.gateway end
      end
      assert(netlink.route_add { dst = args.route, gateway = gw, dev = "eth0" })
   end
   if args.rp_filter then assert(sysctl.set(sysctl.name("net", "ipv4", "conf", "all", "rp_filter"), args.rp_filter)) end
   return { ok = true }
end }
