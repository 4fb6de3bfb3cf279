--- node-facts: what preflight needs to know about a node: rp_filter and forwarding sysctls,
--- subnet.env, the CNI configs and the active one, the links (not the per-pod veths, which
--- are counted) with their VXLAN attributes and MACs; with args.host, the host too, in the
--- simulated host's shape (for `fake snapshot --node-facts`). Args and result: README.md, "Node
--- scripts".
local calico = require "cm.calico"
local cni = require "cm.cni"
local flannel = require "cm.flannel"
local iptables = require "cm.iptables"
local iptables_plan = require "cm.iptables_plan"
local json = require "cm.json"
local netlink = require "cm.netlink"
local sysctl = require "cm.sysctl"

--- An empty list that stays a JSON array.
local function list() return setmetatable({}, json.array_mt) end

--- Whether a link is a pod's end of the node (flannel's veth on cni0, Calico's cali*): counted,
--- not listed, and not in the host (the simulated host has no per-pod devices).
local function pod_link(l)
   return l.kind == "veth" and (l.master ~= nil or l.name:sub(1, #calico.WORKLOAD_PREFIX) == calico.WORKLOAD_PREFIX)
end

--- The sysctls the simulated host holds (runtime/fake/host/host.c's defaults, and each link's).
local SYSCTLS = { "net/ipv4/ip_forward", "net/ipv4/conf/all/rp_filter", "net/ipv4/conf/default/rp_filter",
   "net/ipv4/conf/all/forwarding", "net/ipv4/conf/default/forwarding", "net/ipv6/conf/all/forwarding",
   "net/ipv6/conf/default/accept_ra", "net/bridge/bridge-nf-call-iptables" }
local LINK_SYSCTLS = { "net/ipv4/conf/%s/rp_filter", "net/ipv4/conf/%s/forwarding", "net/ipv6/conf/%s/accept_ra" }

--- What an entry's field means when absent from the simulated host's document (left out).
local DEFAULTS = { family = "inet", protocol = "boot" }

--- The fields of an entry the simulated host keeps, copied (but those at their default).
local function pick(e, keys)
   local out = {}
   for _, k in ipairs(keys) do
      if e[k] ~= DEFAULTS[k] then out[k] = e[k] end
   end
   return out
end

--- The iptables rules the dataplane model and the cleanups read, in the simulated host's shape
--- ({table = {":CHAIN", "-A ..."}}): the chains reached from filter FORWARD and nat POSTROUTING,
--- and flannel's and Calico's chains (FLANNEL-*, cali-*) wherever they are; not the rest
--- (kube-proxy's per-service chains would make a host of a large cluster megabytes). The backend
--- is the one with rules (nft first). nil when neither tool answers.
local function host_iptables()
   for _, backend in ipairs { "nft", "legacy" } do
      local text = iptables.save("ipv4", backend)
      local parsed = text and iptables_plan.parse(text)
      local rules, any = {}, false
      for tname, t in pairs(parsed or {}) do
         local keep, todo = {}, {}
         local function reach(chain)
            if chain and t.chains[chain] and not keep[chain] then keep[chain] = true; todo[#todo + 1] = chain end
         end
         for _, c in ipairs(t.order) do
            if c:match("^FLANNEL") or c:match("^cali%-") then reach(c) end
         end
         reach(tname == "filter" and "FORWARD" or tname == "nat" and "POSTROUTING" or nil)
         while #todo > 0 do
            local c = table.remove(todo)
            for _, r in ipairs(t.rules) do
               if r.chain == c then reach(iptables_plan.target(r.spec)) end
            end
         end
         local lines, ruled = {}, {}
         for _, r in ipairs(t.rules) do
            if keep[r.chain] then lines[#lines + 1], ruled[r.chain], any = r.line, true, true end
         end
         for _, c in ipairs(t.order) do -- a chain without rules is declared (":CHAIN")
            if keep[c] and not ruled[c] and not t.policy[c] then lines[#lines + 1] = ":" .. c end
         end
         if #lines > 0 then rules[tname] = lines end
      end
      if any then return rules, backend ~= "nft" and backend or nil end -- nft: the default
   end
   return nil
end

--- The files the simulated host holds that a migration reads or writes: the CNI directory's
--- (their text), subnet.env, and the plugin binaries' names (empty, as the simulation has them).
local function host_files(dir, subnet_env)
   local files = {}
   for _, e in ipairs(cni.files(dir) or {}) do
      local path = dir:gsub("/$", "") .. "/" .. e.name
      local text = e.type == "file" and cni.read_text(path)
      if not text and e.type == "link" then
         local conf = cni.read(path)
         text = conf and conf.text
      end
      if text then files[path] = text end
   end
   local env = cni.read_text(subnet_env)
   if env then files[subnet_env] = env end
   for _, e in ipairs(cni.files("/opt/cni/bin") or {}) do
      if e.type == "file" or e.type == "link" then files["/opt/cni/bin/" .. e.name] = "" end
   end
   return files
end

--- The node's host as the simulation models it (runtime/fake/host/host.h's shape): its links but
--- the pods' veths, their addresses, the main table's unicast routes, the permanent neighbours, the
--- FDB entries with a destination (VXLAN's), the sysctls, files and iptables rules above.
local function host(links, dir, subnet_env)
   local h = { links = list(), addresses = list(), routes = list(), neighbours = list(), fdb = list(),
      sysctls = {}, files = {} }
   local kept = {}
   for _, l in ipairs(links) do
      if not pod_link(l) then
         kept[l.name] = true
         h.links[#h.links + 1] = pick(l, { "name", "kind", "mtu", "mac", "up", "master", "vxlan" })
      end
   end
   for _, a in ipairs(netlink.addrs() or {}) do
      if kept[a.dev] then h.addresses[#h.addresses + 1] = pick(a, { "dev", "address", "family" }) end
   end
   for _, r in ipairs(netlink.routes() or {}) do
      if kept[r.dev] and (r.type == nil or r.type == "unicast") then
         local route = pick(r, { "dst", "family", "gateway", "dev", "onlink", "scope", "protocol", "src" })
         if route.scope == "universe" and (route.gateway or route.family == "inet6") then route.scope = nil end
         h.routes[#h.routes + 1] = route
      end
   end
   for _, n in ipairs(netlink.neighbours() or {}) do
      if kept[n.dev] and n.state == "permanent" then
         h.neighbours[#h.neighbours + 1] = pick(n, { "dst", "lladdr", "dev", "state", "family" })
      end
   end
   for _, f in ipairs(netlink.fdb() or {}) do
      if kept[f.dev] and f.dst then h.fdb[#h.fdb + 1] = pick(f, { "lladdr", "dev", "dst", "self", "permanent" }) end
   end
   local keys = { table.unpack(SYSCTLS) }
   for name in pairs(kept) do
      for _, k in ipairs(LINK_SYSCTLS) do keys[#keys + 1] = k:format(name) end
   end
   for _, k in ipairs(keys) do
      local parts = {}
      for part in k:gmatch("[^/]+") do parts[#parts + 1] = part end
      h.sysctls[k] = sysctl.get(sysctl.name(table.unpack(parts)))
   end
   h.files = host_files(dir, subnet_env)
   h.iptables, h.iptablesBackend = host_iptables()
   return h
end

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
      if pod_link(l) then
         local k = l.name:sub(1, #calico.WORKLOAD_PREFIX) == calico.WORKLOAD_PREFIX and "cali" or "veth"
         res.counts[k] = res.counts[k] + 1
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
   if args.host then res.host = host(links, dir, args.subnet_env or flannel.SUBNET_ENV) end
   return res
end

return { host_paths = { "/etc/cni/net.d", "/run/flannel", "/opt/cni/bin" }, main = main }
