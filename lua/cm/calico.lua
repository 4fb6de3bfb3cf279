--- cm.calico: what Calico (KDD, VXLAN) records and programs, as its components do it.
--- Sources: ../shared/reference/datamodel.md, section A (A.7 FelixConfiguration, A.9 Node
--- annotations, A.12 the worked example) and Calico's flannel-migration manifest.
local ip = require "cm.ip"
local json = require "cm.json"

local M = {}

--- The node labels of Calico's migration (its IPAM garbage collector reads them too).
M.LABEL_NETWORK = "projectcalico.org/node-network-during-migration" -- flannel | none | calico
M.LABEL_IN_PROGRESS = "projectcalico.org/node-flannel-migration-in-progress" -- "true"
--- The k8s Node annotations that hold a Calico node's fields in KDD mode.
M.ANN_IPV4 = "projectcalico.org/IPv4Address"
M.ANN_VXLAN_ADDR = "projectcalico.org/IPv4VXLANTunnelAddr"
M.ANN_VXLAN_MAC = "projectcalico.org/VXLANTunnelMACAddr"
--- Felix's VXLAN defaults when FelixConfiguration does not set them.
M.DEFAULT_VXLAN_VNI = 4096
M.DEFAULT_VXLAN_PORT = 4789
--- Calico IPAM's block size when an IPPool does not set blockSize.
M.DEFAULT_BLOCK_SIZE = 26
M.VXLAN_DEVICE = "vxlan.calico"
M.CNI_CONF_NAME = "10-calico.conflist"
M.CNI_KUBECONFIG = "/etc/cni/net.d/calico-kubeconfig"
M.VXLAN_DEVICE_V6 = "vxlan-v6.calico"
--- Host ends of workload veths are cali<11 hex>; Felix's chains are cali-*.
M.WORKLOAD_PREFIX = "cali"
M.IPTABLES_CHAIN_PREFIX = "cali-"
--- Felix's nftables dataplane keeps its rules in tables of its own.
M.NFT_TABLES = { { family = "ip", name = "calico" }, { family = "ip6", name = "calico" } }
--- The route protocol Felix programs its routes with (felix's default deviceRouteProtocol: 80).
M.FELIX_ROUTE_PROTOCOL = "80"
--- The placeholder Calico's migration controller writes under CNI_CONF_NAME while a node has
--- no network: it sorts first and fails every new sandbox (no such plugin binary).
M.PLACEHOLDER_CNI_CONF = '{ "name": "dummy", "plugins": [{ "type": "flannel-migration-in-progress" }]}\n'
M.PLACEHOLDER_PLUGIN = "flannel-migration-in-progress"
--- Calico's ConfigMap of the migration (key flannel_subnet_env), in calico-node's namespace.
M.MIGRATION_CONFIGMAP = "flannel-migration-config"
--- Ours: the flannel DaemonSet and ConfigMap saved for rollback (contracts.md "Migration state").
M.BACKUP_CONFIGMAP = "cni-migrate-flannel-backup"
M.GROUP = "crd.projectcalico.org/v1"

--- Felix's VXLAN settings from the FelixConfiguration "default" (nil: all defaults).
---@param fc table|nil a FelixConfiguration
---@return table {vni, port, mtu} (mtu 0: auto, the host's MTU - 50)
function M.felix_vxlan(fc)
   local spec = fc and fc.spec or {}
   return { vni = spec.vxlanVNI or M.DEFAULT_VXLAN_VNI, port = spec.vxlanPort or M.DEFAULT_VXLAN_PORT,
      mtu = spec.vxlanMTU or 0 }
end

--- Whether Felix runs VXLAN, as its encapsulation resolver decides: FelixConfiguration's
--- vxlanEnabled when it is set, else whether an enabled IPv4 pool has vxlanMode Always or
--- CrossSubnet.
---@param fc table|nil the FelixConfiguration "default"
---@param pools table[] the IPPool objects
---@return boolean
function M.vxlan_enabled(fc, pools)
   local explicit = fc and fc.spec and fc.spec.vxlanEnabled
   if explicit ~= nil then return explicit == true end
   for _, p in ipairs(pools or {}) do
      local spec = p.spec or {}
      if not spec.disabled and (spec.vxlanMode == "Always" or spec.vxlanMode == "CrossSubnet")
         and ip.parse(spec.cidr and spec.cidr:match("^[^/]+") or "") == 4 then
         return true
      end
   end
   return false
end

--- What Calico recorded on a Node for VXLAN: its tunnel address, MAC and node IP.
---@param node table a Node
---@return table|nil info {name, tunnel_addr, mac, ip}
---@return string|nil message
---@return string|nil code "NotCalicoNode"
function M.node_vxlan(node)
   local name = node.metadata and node.metadata.name or "?"
   local ann = node.metadata and node.metadata.annotations or {}
   local tunnel, mac = ann[M.ANN_VXLAN_ADDR], ann[M.ANN_VXLAN_MAC]
   if ip.parse(tunnel or "") ~= 4 then
      return nil, ("node %s: no %s annotation"):format(name, M.ANN_VXLAN_ADDR), "NotCalicoNode"
   end
   if type(mac) ~= "string" or not mac:match("^%x%x:%x%x:%x%x:%x%x:%x%x:%x%x$") then
      return nil, ("node %s: no valid %s annotation"):format(name, M.ANN_VXLAN_MAC), "NotCalicoNode"
   end
   local node_ip = (ann[M.ANN_IPV4] or ""):match("^([%d.]+)")
   if not node_ip then
      for _, a in ipairs(node.status and node.status.addresses or {}) do
         if a.type == "InternalIP" and ip.parse(a.address) == 4 then node_ip = a.address end
      end
   end
   return { name = name, tunnel_addr = tunnel, mac = mac:lower(), ip = node_ip }
end

--- The CNI config install-cni writes: calico-config's cni_network_config with its placeholders
--- filled in for the node.
---@param calico_config table the ConfigMap kube-system/calico-config
---@param node_name string
---@param mtu integer the workload MTU (veth_mtu when non-zero, else detected)
---@return string|nil text
---@return string|nil message
---@return string|nil code "InvalidConfig"
function M.cni_conflist(calico_config, node_name, mtu)
   local template = calico_config.data and calico_config.data.cni_network_config
   if type(template) ~= "string" then
      return nil, "ConfigMap calico-config: no cni_network_config", "InvalidConfig"
   end
   local veth = tonumber(calico_config.data.veth_mtu or "0") or 0
   local text = template:gsub("__KUBERNETES_NODE_NAME__", node_name)
      :gsub("__CNI_MTU__", tostring(veth ~= 0 and veth or mtu))
      :gsub("__KUBECONFIG_FILEPATH__", M.CNI_KUBECONFIG)
   local _, err = json.decode(text)
   if err then return nil, "ConfigMap calico-config: cni_network_config: " .. err, "InvalidConfig" end
   return text
end

--- What calico-node's install-cni init container leaves on a node: the CNI config (from
--- calico-config, when given), the kubeconfig it names, the plugin binaries and the node name
--- file the plugin needs. A state in cm.sim's host shape (files only).
---@param node_name string
---@param mtu integer the workload MTU
---@param calico_config table|nil the ConfigMap kube-system/calico-config
---@param conf_name string|nil the file name (install-cni's CNI_CONF_NAME; default 10-calico.conflist)
---@return table|nil state
---@return string|nil message
---@return string|nil code
function M.install_cni_state(node_name, mtu, calico_config, conf_name)
   local st = { links = {}, addresses = {}, routes = {}, neighbours = {}, fdb = {}, sysctls = {},
      files = { ["/var/lib/calico/nodename"] = node_name, ["/opt/cni/bin/calico"] = "",
         ["/opt/cni/bin/calico-ipam"] = "", [M.CNI_KUBECONFIG] = "# kubeconfig for the calico CNI plugin\n" } }
   if calico_config then
      local text, err, code = M.cni_conflist(calico_config, node_name, mtu)
      if not text then return nil, err, code end
      st.files["/etc/cni/net.d/" .. (conf_name or M.CNI_CONF_NAME)] = text
   end
   return st
end

--- What calico-node (install-cni, then Felix) programs on a node with VXLAN: vxlan.calico with
--- the node's tunnel address and MAC, a route, neighbour and FDB entry per remote block, the
--- CNI config and binaries, and /var/lib/calico/nodename. Felix routes what its route resolver
--- reads: each IPAMBlock affine to another node (`affinity: host:NODE`) goes via that node's
--- VTEP (its IPv4VXLANTunnelAddr, VXLANTunnelMACAddr and node IP); BlockAffinity objects
--- (confirmed ones) are accepted in their place.
---@param node table the Node (with Calico's VXLAN annotations)
---@param nodes table[] every Node
---@param felix table|nil the FelixConfiguration "default"
---@param blocks table[] the IPAMBlock (or BlockAffinity) objects
---@param opts table|nil {iface = "eth0", mtu = 1500 (the host's), calico_config = ConfigMap,
---   conf_name = install-cni's CNI_CONF_NAME}
---@return table|nil state in cm.sim's host shape; its peers: each peer's own entries by name (peer_entries)
---@return string|nil message
---@return string|nil code
function M.node_state(node, nodes, felix, blocks, opts)
   opts = opts or {}
   local me, err, code = M.node_vxlan(node)
   if not me then return nil, err, code end
   local vx = M.felix_vxlan(felix)
   local mtu = vx.mtu ~= 0 and vx.mtu or (opts.mtu or 1500) - 50
   local dev = M.VXLAN_DEVICE
   local st, serr, scode = M.install_cni_state(me.name, mtu, opts.calico_config, opts.conf_name)
   if not st then return nil, serr, scode end
   st.links = { { name = dev, kind = "vxlan", mtu = mtu, mac = me.mac, up = true,
      vxlan = { id = vx.vni, port = vx.port, ["local"] = me.ip, dev = opts.iface or "eth0", learning = false } } }
   st.addresses = { { dev = dev, address = me.tunnel_addr .. "/32" } }
   local peers = {}
   for _, other in ipairs(nodes) do
      local p = other.metadata.name ~= me.name and M.node_vxlan(other)
      if p then peers[p.name] = p end
   end
   local cidrs, names = {}, {} -- peer -> the CIDRs of its blocks; the peers with blocks
   for _, b in ipairs(blocks) do
      local host, cidr = M.block_host(b)
      if host and peers[host] then
         if not cidrs[host] then cidrs[host], names[#names + 1] = {}, host end
         table.insert(cidrs[host], cidr)
      end
   end
   table.sort(names) -- node, then block: the order of the affinities' names
   local seen = {}
   st.peers = {} -- the same entries by peer (for an agent that updates one peer at a time)
   for _, name in ipairs(names) do
      local e = M.peer_entries(peers[name], cidrs[name], dev, seen)
      st.peers[name] = e
      for _, k in ipairs { "routes", "neighbours", "fdb" } do
         for _, x in ipairs(e[k]) do st[k][#st[k] + 1] = x end
      end
   end
   return st
end

--- The node an IPAMBlock (or a BlockAffinity) routes to, and its CIDR; nil when none (deleted,
--- unconfirmed, no host affinity, or no valid CIDR).
---@param b table
---@return string|nil host
---@return string|nil cidr
function M.block_host(b)
   local spec = b.spec or {}
   local host
   if b.kind == "BlockAffinity" then
      host = spec.state == "confirmed" and spec.deleted ~= "true" and spec.node or nil
   else
      host = spec.deleted ~= true and type(spec.affinity) == "string" and spec.affinity:match("^host:(.+)$") or nil
   end
   if host and ip.is_cidr(spec.cidr) then return host, spec.cidr end
   return nil
end

--- What Felix programs on vxlan.calico (dev) for one other node (node_state's, a peer at a time,
--- as Felix does on a change of that node or its blocks): a route per block affine to it, and
--- with at least one route its neighbour and FDB entry.
---@param p table the peer, as node_vxlan gives it
---@param cidrs string[] its blocks' CIDRs (sorted here)
---@param dev string
---@param seen table|nil CIDRs routed already (node_state's, over all peers), added to
---@return table entries {routes = {...}, neighbours = {n}|{}, fdb = {f}|{}}
function M.peer_entries(p, cidrs, dev, seen)
   seen = seen or {}
   table.sort(cidrs)
   local e = { routes = {}, neighbours = {}, fdb = {} }
   for _, cidr in ipairs(cidrs) do
      if not seen[cidr] then
         seen[cidr] = true
         e.routes[#e.routes + 1] = { dst = cidr, gateway = p.tunnel_addr, dev = dev, onlink = true }
      end
   end
   if #e.routes > 0 then
      e.neighbours[1] = { dst = p.tunnel_addr, lladdr = p.mac, dev = dev, state = "permanent" }
      e.fdb[1] = { lladdr = p.mac, dev = dev, dst = p.ip, self = true, permanent = true }
   end
   return e
end

M.POOL_V4 = "default-ipv4-ippool"

--- The IPPool block size that keeps flannel's per-node subnets whole: flannel's subnet length, or
--- the default block size (Calico's, or the one given) when that is smaller than a block.
---@param subnet_len integer flannel's SubnetLen
---@param default integer|nil the smallest block wanted (default DEFAULT_BLOCK_SIZE)
---@return integer
function M.block_size(subnet_len, default)
   return math.max(subnet_len, default or M.DEFAULT_BLOCK_SIZE)
end

--- What Calico must keep of a flannel network config (cm.flannel.parse_net_conf's), and the
--- warnings that apply to migrating it in place.
---@param conf table
---@return table keep {ippool_cidr, ippool_block_size, felix_vxlan_vni, felix_vxlan_port}
---@return string[] warnings
function M.from_flannel(conf)
   local warnings = {}
   if conf.backend_type ~= "vxlan" then
      warnings[#warnings + 1] = ("backend %q: only vxlan can be migrated in place"):format(conf.backend_type)
   end
   if conf.port ~= M.DEFAULT_VXLAN_PORT then
      warnings[#warnings + 1] = ("VXLAN port %d differs from Calico's default %d: the migration sets "
         .. "FelixConfiguration vxlanPort to %d"):format(conf.port, M.DEFAULT_VXLAN_PORT, conf.port)
   end
   return { ippool_cidr = conf.network, ippool_block_size = M.block_size(conf.subnet_len),
      felix_vxlan_vni = conf.vni, felix_vxlan_port = conf.port }, warnings
end

--- The IPPool spec the migration wants, from the settings (datamodel.md A.2, A.12), with the
--- defaults clientv3 adds on Create.
---@param cfg table resolved settings
---@return table spec
function M.pool_spec(cfg)
   local v = cfg.values
   return { cidr = v.FLANNEL_NETWORK, blockSize = math.max(v.FLANNEL_SUBNET_LEN, v.DEFAULT_IPPOOL_SIZE),
      natOutgoing = v.FLANNEL_IP_MASQ, ipipMode = "Never", vxlanMode = "Always", nodeSelector = "all()",
      allowedUses = json.array { "Workload", "Tunnel" }, assignmentMode = "Automatic" }
end

--- Why an existing pool's spec cannot serve as the migration's, naming the field; nil if it can.
---@param have table the pool's spec
---@param want table pool_spec's
---@return string|nil
function M.pool_mismatch(have, want)
   local function norm(k, val)
      if val == nil then
         if k == "natOutgoing" or k == "disabled" then return false end
         if k == "ipipMode" or k == "vxlanMode" then return "Never" end
         if k == "blockSize" then return M.DEFAULT_BLOCK_SIZE end
      end
      return val
   end
   for _, k in ipairs { "cidr", "blockSize", "natOutgoing", "vxlanMode", "ipipMode", "disabled" } do
      local h, w = norm(k, have[k]), norm(k, want[k])
      if h ~= w then return ("%s is %s, the migration needs %s"):format(k, tostring(h), tostring(w)) end
   end
   return nil
end

--- The blocks of size len inside an IPv4 CIDR, in address order.
---@param cidr string
---@param len integer
---@return string[]
function M.blocks(cidr, len)
   local c = ip.cidr(cidr)
   local out = {}
   if not c or c.family ~= 4 or c.prefix > len then return out end
   for i = 0, (1 << (len - c.prefix)) - 1 do
      out[#out + 1] = ("%s/%d"):format(ip.v4_string(c.value + (i << (32 - len))), len)
   end
   return out
end

--- CIDRToName: 10.244.1.0/26 -> 10-244-1-0-26 (datamodel.md A.0.7; IPv4).
---@param cidr string
---@return string
function M.cidr_name(cidr)
   return (cidr:gsub("[./]", "-"))
end

--- A BlockAffinity's name: <node>-<cidr as a name> (A.4.1). The hashed form of names of 253
--- characters and more is not done: such a node is refused.
---@return string|nil name
---@return string|nil message
---@return string|nil code
function M.affinity_name(node, cidr)
   local name = node .. "-" .. M.cidr_name(cidr)
   if #name >= 253 then
      return nil, ("node %s: its BlockAffinity names would need Calico's hashed form (not supported)"):format(node),
         "Unsupported"
   end
   return name
end

--- projectcalico.org/hostname-hash: base32 of SHA3-256 of the node name (A.4.2).
function M.hostname_hash(node)
   local sha3 = require "cm.sha3"
   return sha3.base32(sha3.sha3_256(node))
end

local function calico_meta(name, labels)
   local m = { creationTimestamp = json.null }
   if labels then m.labels = labels end
   return { name = name, labels = labels, annotations = { ["projectcalico.org/metadata"] = json.encode(m) } }
end

--- A BlockAffinity as libcalico-go writes it (A.4, A.12 step 2).
---@param node string
---@param cidr string the block
---@param state string "pending" | "confirmed"
---@return table|nil obj
---@return string|nil message
---@return string|nil code
function M.affinity(node, cidr, state)
   local name, err, code = M.affinity_name(node, cidr)
   if not name then return nil, err, code end
   local labels = { ["projectcalico.org/affinity-type"] = "host",
      ["projectcalico.org/hostname-hash"] = M.hostname_hash(node), ["projectcalico.org/ip-version"] = "4" }
   return { apiVersion = M.GROUP, kind = "BlockAffinity", metadata = calico_meta(name, labels),
      spec = { cidr = cidr, deleted = "false", node = node, state = state, type = "host" } }
end

--- A new IPAMBlock affine to node (A.3, A.12 step 3): every ordinal free.
---@param node string
---@param cidr string
---@param now string RFC 3339, seconds
---@param seq integer the sequence number to start at (UnixNano of creation)
---@return table
function M.block(node, cidr, now, seq)
   local size = 1 << (32 - ip.cidr(cidr).prefix)
   local alloc, free = {}, {}
   for i = 1, size do alloc[i], free[i] = json.null, i - 1 end
   return { apiVersion = M.GROUP, kind = "IPAMBlock", metadata = calico_meta(M.cidr_name(cidr)),
      spec = { cidr = cidr, affinity = "host:" .. node, affinityClaimTime = now, allocations = json.array(alloc),
         unallocated = json.array(free), attributes = json.array {}, sequenceNumber = seq,
         sequenceNumberForAllocation = json.object {}, deleted = false, strictAffinity = false } }
end

--- The VXLAN tunnel address handle of a node.
function M.tunnel_handle_id(node) return "vxlan-tunnel-addr-" .. node end

--- The attributes Calico gives a node's VXLAN tunnel address (A.12 step 3).
function M.tunnel_attributes(node)
   return { handle_id = M.tunnel_handle_id(node), secondary = { node = node, type = "vxlanTunnelAddress" } }
end

--- Assigns ordinal to the tunnel address of node in block (in place), as AssignIP stores it:
--- the attribute reused or appended, the ordinal out of unallocated, the sequence numbers.
--- Returns false when the ordinal is taken by something else (with what takes it).
---@param block table an IPAMBlock
---@param ordinal integer
---@param node string
---@return boolean changed
---@return string|nil taken_by
function M.assign_tunnel(block, ordinal, node)
   local spec = block.spec
   local want = M.tunnel_attributes(node)
   local cur = spec.allocations[ordinal + 1]
   if cur ~= nil and cur ~= json.null then
      local a = spec.attributes[cur + 1] or {}
      local sec = a.secondary or {}
      if a.handle_id == want.handle_id and sec.node == node and sec.type == "vxlanTunnelAddress" then
         return false
      end
      return false, a.handle_id or "another allocation"
   end
   local idx
   for i, a in ipairs(spec.attributes) do
      local sec = a.secondary or {}
      if a.handle_id == want.handle_id and sec.node == node and sec.type == want.secondary.type then idx = i - 1 end
   end
   if not idx then
      spec.attributes[#spec.attributes + 1] = want
      idx = #spec.attributes - 1
   end
   spec.allocations[ordinal + 1] = idx
   for i, o in ipairs(spec.unallocated) do
      if o == ordinal then table.remove(spec.unallocated, i) break end
   end
   if getmetatable(spec.sequenceNumberForAllocation) == nil then
      spec.sequenceNumberForAllocation = json.object(spec.sequenceNumberForAllocation or {})
   end
   spec.sequenceNumberForAllocation[tostring(ordinal)] = spec.sequenceNumber
   spec.sequenceNumber = spec.sequenceNumber + 1
   return true
end

--- The IPAMHandle of a node's tunnel address (A.12 step 4).
function M.tunnel_handle(node, block_cidr)
   local id = M.tunnel_handle_id(node)
   return { apiVersion = M.GROUP, kind = "IPAMHandle", metadata = calico_meta(id:lower()),
      spec = { handleID = id, block = { [block_cidr] = 1 }, deleted = false } }
end

return M
