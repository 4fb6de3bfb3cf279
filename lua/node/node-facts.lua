--- node-facts: what preflight needs to know about a node: rp_filter and forwarding sysctls,
--- subnet.env, the CNI configs and the active one, the links (not the per-pod veths, which
--- are counted) with their VXLAN attributes and MACs. Args and result: README.md, "Node scripts".
local calico = require "cm.calico"
local cni = require "cm.cni"
local flannel = require "cm.flannel"
local json = require "cm.json"
local netlink = require "cm.netlink"
local sysctl = require "cm.sysctl"

--- An empty list that stays a JSON array.
local function list() return setmetatable({}, json.array_mt) end

local function main(args)
   local vni = args.vni or flannel.DEFAULT_VNI
   local dir = args.cni_dir or "/etc/cni/net.d"
   local res = { ok = true, sysctls = {}, links = list(), counts = { veth = 0, cali = 0 }, cni = {} }
   local links, err, code = netlink.links()
   if not links then return nil, err, code end
   local v4 = flannel.device_names(vni)
   local underlay
   local routes = netlink.routes { family = "inet" } or {}
   for _, r in ipairs(routes) do
      if r.dst == "default" and r.dev then underlay = r.dev end
   end
   for _, l in ipairs(links) do
      if l.name:sub(1, #calico.WORKLOAD_PREFIX) == calico.WORKLOAD_PREFIX and l.kind == "veth" then
         res.counts.cali = res.counts.cali + 1
      elseif l.kind == "veth" and l.master then
         res.counts.veth = res.counts.veth + 1
      else
         res.links[#res.links + 1] = { name = l.name, kind = l.kind, mtu = l.mtu, mac = l.mac, up = l.up,
            master = l.master, vxlan = l.vxlan }
      end
      if l.name == v4 then res.flannel = { name = l.name, mac = l.mac, mtu = l.mtu, vxlan = l.vxlan } end
      if l.name == calico.VXLAN_DEVICE then
         res.calico = { name = l.name, mac = l.mac, mtu = l.mtu, vxlan = l.vxlan }
      end
   end
   local keys = { sysctl.name("net", "ipv4", "ip_forward"), sysctl.name("net", "ipv4", "conf", "all", "rp_filter"),
      sysctl.name("net", "ipv4", "conf", "default", "rp_filter") }
   for _, dev in ipairs { underlay, v4 } do
      if dev then keys[#keys + 1] = sysctl.name("net", "ipv4", "conf", dev, "rp_filter") end
   end
   for _, k in ipairs(keys) do
      local v, serr, scode = sysctl.get(k)
      if v then res.sysctls[k] = v elseif scode ~= "ENOENT" then return nil, serr, scode end
   end
   res.underlay = underlay
   local env = cni.read_text(args.subnet_env or flannel.SUBNET_ENV) -- through the host seam
   if env then res.subnet_env = flannel.parse_subnet_env(env) end
   local files = cni.list(dir)
   res.cni.files = list()
   for _, e in ipairs(files or {}) do
      -- a config no runtime can load (malformed, over the size limit, a symlink out of the directory
      -- or dangling) is bad input: the migration stops before it writes a file beside it
      local ok, cerr = cni.read(e.path)
      if not ok then return nil, cerr, "BadInput" end
      res.cni.files[#res.cni.files + 1] = e.name
   end
   local active = cni.active(dir)
   if active then
      res.cni.active, res.cni.name = active.path, active.name
      res.cni.plugins = list()
      for _, p in ipairs(active.plugins) do res.cni.plugins[#res.cni.plugins + 1] = p.type end
   end
   return res
end

return { host_paths = { "/etc/cni/net.d", "/run/flannel" }, main = main }
