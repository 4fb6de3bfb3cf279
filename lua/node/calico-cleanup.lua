--- calico-cleanup (rollback): removes what Calico left on this node (its CNI config and
--- kubeconfig, vxlan.calico and vxlan-v6.calico, cali* workload links, Felix's routes, the
--- cali-* iptables chains, the nftables mode's ip/ip6 calico tables), makes flannel.<VNI> again
--- with the node's VtepMAC (args.vtep), and restores flannel's CNI config from the backup that
--- flannel-cleanup made, or writes it from args.fallback[name] when there is no backup.
--- Idempotent. Args and result: README.md, "Node scripts".
local calico = require "cm.calico"
local cni = require "cm.cni"
local flannel = require "cm.flannel"
local ipt = require "cm.iptables_plan"
local json = require "cm.json"
local netlink = require "cm.netlink"

local DEFAULT_BACKUP = "/var/lib/cni-migrate/backup"

--- An empty list that stays a JSON array.
local function list() return setmetatable({}, json.array_mt) end

--- flannel.<VNI> made again with the node's VtepMAC (vtep = {name, mac, vni, port, local, dev,
--- mtu}; dev defaults to the default route's), unless it is there: flanneld keeps a compatible
--- device it finds, so the peers' neighbour and FDB entries for this node stay right.
local function make_vtep(vt)
   local have = netlink.link(vt.name)
   if have then return { name = vt.name, mac = have.mac, created = false } end
   local dev = vt.dev
   if not dev then
      for _, r in ipairs(netlink.routes { family = "inet" } or {}) do
         if r.dst == "default" then dev = r.dev end
      end
   end
   local ok, err, code = netlink.link_add { name = vt.name, kind = "vxlan", mtu = vt.mtu, mac = vt.mac,
      vxlan = { id = vt.vni, port = vt.port, ["local"] = vt["local"], dev = dev, learning = false } }
   if not ok then return nil, err, code end
   return { name = vt.name, mac = vt.mac, created = true }
end

local function main(args)
   local dir = args.cni_dir or "/etc/cni/net.d"
   local backup_dir = args.backup_dir or DEFAULT_BACKUP
   local res = { ok = true, changed = false, links = { removed = list() }, routes = { removed = 0 },
      iptables = { removed = list() }, cni = { removed = list(), restored = list(), missing_backup = list() } }
   -- the CNI config first: no new pod gets Calico's network while the rest goes
   for _, path in ipairs { dir .. "/" .. (args.cni_conf_name or calico.CNI_CONF_NAME), calico.CNI_KUBECONFIG } do
      local backup, err, code = cni.remove(path, backup_dir .. "/calico")
      if backup then
         table.insert(res.cni.removed, { path = path, backup = backup })
         res.changed = true
      elseif code ~= "ENOENT" then
         return nil, err, code
      end
   end
   local links, lerr, lcode = netlink.links()
   if not links then return nil, lerr, lcode end
   for _, l in ipairs(links) do
      if l.name == calico.VXLAN_DEVICE or l.name == calico.VXLAN_DEVICE_V6
         or l.name:sub(1, #calico.WORKLOAD_PREFIX) == calico.WORKLOAD_PREFIX and l.kind == "veth" then
         local ok, err, code = netlink.link_del(l.name)
         if ok then
            table.insert(res.links.removed, l.name)
            res.changed = true
         elseif code ~= "ENODEV" then -- a veth's peer went with its pair
            return nil, err, code
         end
      end
   end
   if args.vtep then -- Calico's device is gone, so flannel's (same VNI and port) can be made
      local vtep, verr, vcode = make_vtep(args.vtep)
      if not vtep then return nil, verr, vcode end
      res.vtep = vtep
      res.changed = res.changed or vtep.created
   end
   local routes, rerr, rcode = netlink.routes { table = "all" }
   if not routes then return nil, rerr, rcode end
   for _, r in ipairs(routes) do
      if r.protocol == calico.FELIX_ROUTE_PROTOCOL then
         local ok, err, code = netlink.route_del(r)
         if ok then
            res.routes.removed = res.routes.removed + 1
            res.changed = true
         elseif code ~= "ESRCH" then
            return nil, err, code
         end
      end
   end
   local prefix = calico.IPTABLES_CHAIN_PREFIX
   local removed, ierr, icode = ipt.remove(function(c) return c:sub(1, #prefix) == prefix end)
   if not removed then return nil, ierr, icode end
   res.iptables.removed = removed
   res.changed = res.changed or #removed > 0
   local tables, skipped, tcode = ipt.remove_nft_tables(calico.NFT_TABLES) -- Felix's nftables mode
   if not tables then return nil, skipped, tcode end
   res.nftables = { removed = tables, skipped = skipped }
   res.changed = res.changed or #tables > 0
   for _, name in ipairs(args.restore or { flannel.CNI_CONF_NAME }) do
      local path, backup = dir .. "/" .. name, backup_dir .. "/" .. name
      if not cni.read(path) then -- else already there (restored before, or never removed)
         local ok, err, code = cni.restore(backup, path)
         if ok then
            table.insert(res.cni.restored, { path = path, from = backup })
            res.changed = true
         elseif code == "ENOENT" and (args.fallback or {})[name] then -- no backup: the text given
            local wok, werr, wcode = cni.write(path, args.fallback[name])
            if not wok then return nil, werr, wcode end
            table.insert(res.cni.restored, { path = path, written = true })
            res.changed = true
         elseif code == "ENOENT" then
            table.insert(res.cni.missing_backup, name)
         else
            return nil, err, code
         end
      end
   end
   return res
end

return { host_paths = { "/etc/cni/net.d", DEFAULT_BACKUP }, main = main }
