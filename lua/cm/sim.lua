--- cm.sim: how a simulated node's host looks before any network add-on runs, for the fake
--- cluster. Add-ons' effects come from their own libraries (cm.flannel.node_state and apply).
local fake = require "cm.fake"
local ip = require "cm.ip"

local M = {}

--- The CNI plugins the kubernetes-cni package installs in /opt/cni/bin (kubeadm's nodes).
M.STANDARD_PLUGINS = { "bandwidth", "bridge", "dhcp", "firewall", "host-device", "host-local", "ipvlan",
   "loopback", "macvlan", "portmap", "ptp", "sbr", "static", "tuning", "vlan", "vrf" }

--- The node's InternalIP.
---@param node table a Node
---@return string|nil
function M.internal_ip(node)
   for _, a in ipairs(node.status and node.status.addresses or {}) do
      if a.type == "InternalIP" and ip.parse(a.address) == 4 then return a.address end
   end
   return nil
end

--- A kubeadm node's host before any CNI: lo, the underlay device with the InternalIP and a
--- default route, the sysctls kubeadm's preflight wants, the standard CNI plugin binaries.
---@param node table a Node
---@param opts table|nil {iface = "eth0", prefix = 24, mtu = 1500}
---@return userdata|nil host a cm.fake Host
---@return string|nil message
---@return string|nil code
function M.base_host(node, opts)
   opts = opts or {}
   local addr = M.internal_ip(node)
   if not addr then
      return nil, ("node %s: no IPv4 InternalIP in status.addresses"):format(node.metadata.name), "InvalidNode"
   end
   local iface, prefix = opts.iface or "eth0", opts.prefix or 24
   local cidr = ("%s/%d"):format(addr, prefix)
   local a, b, c, d = addr:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
   local h = fake.new_host()
   local steps = {
      function() return h:link_add { name = iface, kind = "device", mtu = opts.mtu or 1500, up = true,
         mac = ("52:54:%02x:%02x:%02x:%02x"):format(tonumber(a), tonumber(b), tonumber(c), tonumber(d)) } end,
      function() return h:addr_add(iface, cidr) end,
      function() return h:route_add { dst = "default", gateway = ip.host(cidr, 1), dev = iface } end,
      function() return h:sysctl_set("net/ipv4/ip_forward", "1") end,
      function() return h:sysctl_set("net/bridge/bridge-nf-call-iptables", "1") end,
   }
   for _, p in ipairs(M.STANDARD_PLUGINS) do
      steps[#steps + 1] = function() return h:write("/opt/cni/bin/" .. p, "") end
   end
   for _, step in ipairs(steps) do
      local ok, err, code = step()
      if not ok then
         h:close()
         return nil, ("node %s: %s"):format(node.metadata.name, err), code
      end
   end
   return h
end

return M
