--- flannel-cleanup: what Calico's remove-flannel pod does on a node, and what it forgets.
--- First the placeholder CNI config under Calico's file name (so no new pod gets flannel's
--- network), then cni0, flannel.<VNI> and flannel-v6.<VNI>, then flanneld's iptables chains
--- and rules (every family and backend), then flannel's CNI config, backed up. Idempotent: a
--- second run finds nothing and changes nothing. Args and result: README.md, "Node scripts".
local calico = require "cm.calico"
local cni = require "cm.cni"
local flannel = require "cm.flannel"
local ipt = require "cm.iptables_plan"
local json = require "cm.json"
local netlink = require "cm.netlink"

local DEFAULT_BACKUP = "/var/lib/cni-migrate/backup"

--- Writes the placeholder unless a valid config other than it is already there (Calico's own).
local function placeholder(dir, name)
   local path = dir .. "/" .. name
   local conf = cni.read(path)
   if conf and not (conf.plugins[1] and conf.plugins[1].type == calico.PLACEHOLDER_PLUGIN) then
      return { path = path, written = false, kept_reason = "a valid config is there already: " .. (conf.name or "?") }
   end
   if conf then return { path = path, written = false, kept_reason = "the placeholder is there already" } end
   local ok, err, code = cni.write(path, calico.PLACEHOLDER_CNI_CONF)
   if not ok then return nil, err, code end
   return { path = path, written = true }
end

--- An empty list that stays a JSON array.
local function list() return setmetatable({}, json.array_mt) end

--- What hangs on a link and goes with it, counted: its addresses, routes (every table), neighbours
--- and FDB entries; not what the kernel made for itself (IPv6 link-local addresses, the routes of
--- its addresses). Counts, not the entries: flannel.<VNI> holds an entry or three per peer, and a
--- result that grows with the cluster would not fit the pod's 4 KiB termination message.
local function hanging(dev)
   local took = { addresses = 0, routes = 0, neighbours = 0, fdb = 0 }
   for _, a in ipairs(netlink.addrs { dev = dev } or {}) do
      if not a.address:match("^fe80:") then took.addresses = took.addresses + 1 end
   end
   for _, r in ipairs(netlink.routes { dev = dev, table = "all" } or {}) do
      if r.protocol ~= "kernel" and r.table ~= "local" then took.routes = took.routes + 1 end
   end
   for _, n in ipairs(netlink.neighbours { dev = dev } or {}) do
      if n.state == "permanent" then took.neighbours = took.neighbours + 1 end
   end
   for _, f in ipairs(netlink.fdb { dev = dev } or {}) do
      if f.dst then took.fdb = took.fdb + 1 end
   end
   return took
end

local function main(args)
   local vni = args.vni or flannel.DEFAULT_VNI
   local dir = args.cni_dir or "/etc/cni/net.d"
   local backup_dir = args.backup_dir or DEFAULT_BACKUP
   local res = { ok = true, changed = false, links = { removed = list(), absent = list(), took = {} },
      iptables = { removed = list() }, nftables = { removed = list() }, cni = { removed = list(), absent = list() } }
   local ph, err, code = placeholder(dir, args.cni_conf_name or calico.CNI_CONF_NAME)
   if not ph then return nil, "placeholder: " .. err, code end
   res.placeholder = ph
   res.changed = ph.written
   local v4, v6 = flannel.device_names(vni)
   for _, name in ipairs { "cni0", v4, v6 } do
      local took = netlink.link(name) and hanging(name)
      local ok, derr, dcode = netlink.link_del(name)
      if ok then
         table.insert(res.links.removed, name)
         res.links.took[name] = took
         res.changed = true
      elseif dcode == "ENODEV" then
         table.insert(res.links.absent, name)
      else
         return nil, derr, dcode
      end
   end
   if args.iptables ~= false then
      local removed, ierr, icode = ipt.remove(function(c) return flannel.IPTABLES_CHAINS[c] end,
         flannel.is_flannel_rule)
      if not removed then return nil, ierr, icode end
      res.iptables.removed = removed
      res.changed = res.changed or #removed > 0
   end
   if args.iptables ~= false then
      local removed, skipped, tcode = ipt.remove_nft_tables(flannel.NFT_TABLES)
      if not removed then return nil, skipped, tcode end
      res.nftables.removed, res.nftables.skipped = removed, skipped
      res.changed = res.changed or #removed > 0
   end
   local names = args.flannel_conf_names
      or { args.canal and flannel.CANAL_CNI_CONF_NAME or flannel.CNI_CONF_NAME }
   for _, name in ipairs(names) do
      local path = dir .. "/" .. name
      local backup, rerr, rcode = cni.remove(path, backup_dir)
      if backup then
         table.insert(res.cni.removed, { path = path, backup = backup })
         res.changed = true
      elseif rcode == "ENOENT" then
         table.insert(res.cni.absent, path)
      else
         return nil, rerr, rcode
      end
   end
   return res
end

return { host_paths = { "/etc/cni/net.d", DEFAULT_BACKUP }, main = main }
