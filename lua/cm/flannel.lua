--- cm.flannel: what flannel (VXLAN) leaves in a cluster, read the way flanneld reads it.
--- Sources: flannel's net-conf.json and subnet.env formats, its manifest, and the defaults
--- Calico's migration controller assumes (../shared/reference/datamodel.md, section C).
local ip = require "cm.ip"
local json = require "cm.json"

local M = {}

--- flanneld's default VXLAN settings: VNI 1, and port 0 meaning the kernel's 8472.
M.DEFAULT_VNI = 1
M.DEFAULT_PORT = 8472
M.DEFAULT_SUBNET_LEN = 24
--- The annotation prefix (flanneld --kube-annotation-prefix).
M.PREFIX = "flannel.alpha.coreos.com"
--- VXLAN over IPv4 costs 50 bytes of MTU (flannel's encapOverhead).
M.VXLAN_OVERHEAD = 50
--- The CNI config install-cni copies from the ConfigMap key cni-conf.json (kube-flannel.yml).
M.DEFAULT_CNI_CONF = [[
{
  "name": "cbr0",
  "cniVersion": "0.3.1",
  "plugins": [
    {
      "type": "flannel",
      "delegate": {
        "hairpinMode": true,
        "isDefaultGateway": true
      }
    },
    {
      "type": "portmap",
      "capabilities": {
        "portMappings": true
      }
    }
  ]
}
]]

--- Parses flannel's net-conf.json and fills in flanneld's defaults.
---@param text string the net-conf.json text
---@return table|nil conf {network, ipv6_network, subnet_len, backend_type, vni, port, raw}
---@return string|nil message
---@return string|nil code "InvalidNetConf"
function M.parse_net_conf(text)
   local raw, err = json.decode(text)
   if not raw then
      return nil, "net-conf.json: " .. err, "InvalidNetConf"
   end
   if type(raw) ~= "table" or json.is_array(raw) then
      return nil, "net-conf.json: expected a JSON object", "InvalidNetConf"
   end
   local network = raw.Network
   if network ~= nil and not ip.is_cidr(network) then
      return nil, ("net-conf.json: Network: %q is not a CIDR"):format(tostring(network)), "InvalidNetConf"
   end
   local v6 = raw.IPv6Network
   if v6 ~= nil and v6 ~= "" and not ip.is_cidr(v6) then
      return nil, ("net-conf.json: IPv6Network: %q is not a CIDR"):format(tostring(v6)), "InvalidNetConf"
   end
   if network == nil and (v6 == nil or v6 == "") then
      return nil, "net-conf.json: Network: missing", "InvalidNetConf"
   end
   local function integer(v, lo, hi) return math.type(v) == "integer" and v >= lo and v <= hi end
   if raw.SubnetLen ~= nil and not integer(raw.SubnetLen, 1, 32) then
      return nil, ("net-conf.json: SubnetLen: %s is not a prefix length from 1 to 32"):format(
         json.encode(raw.SubnetLen)), "InvalidNetConf"
   end
   if raw.Backend ~= nil and (type(raw.Backend) ~= "table" or json.is_array(raw.Backend)) then
      return nil, "net-conf.json: Backend: expected a JSON object", "InvalidNetConf"
   end
   local backend = raw.Backend or {}
   for _, f in ipairs { { "VNI", 0, 16777215 }, { "Port", 0, 65535 } } do
      local v = backend[f[1]]
      if v ~= nil and not integer(v, f[2], f[3]) then
         return nil, ("net-conf.json: Backend.%s: %s is not an integer from %d to %d"):format(f[1], json.encode(v),
            f[2], f[3]), "InvalidNetConf"
      end
   end
   if backend.Type ~= nil and type(backend.Type) ~= "string" then
      return nil, "net-conf.json: Backend.Type: expected a string", "InvalidNetConf"
   end
   local btype = backend.Type or "udp" -- flanneld's default backend when none is named
   local port = backend.Port
   if port == nil or port == 0 then port = M.DEFAULT_PORT end
   return {
      network = network,
      ipv6_network = v6 ~= "" and v6 or nil,
      subnet_len = raw.SubnetLen or M.DEFAULT_SUBNET_LEN,
      backend_type = btype,
      vni = backend.VNI or M.DEFAULT_VNI,
      port = port,
      raw = raw,
   }
end

--- Parses /run/flannel/subnet.env (or the ConfigMap copy, where ';' stands for a newline).
---@param text string
---@return table vars name -> value
function M.parse_subnet_env(text)
   local vars = {}
   for line in (text:gsub(";", "\n") .. "\n"):gmatch("([^\n]*)\n") do
      local k, v = line:match("^%s*([%w_]+)%s*=%s*(.-)%s*$")
      if k then vars[k] = v end
   end
   return vars
end

--- Checks subnet.env text as FLANNEL_SUBNET_ENV gives it (';' for newlines): KEY=VALUE lines,
--- the networks and subnets CIDRs, the MTU an integer, FLANNEL_IPMASQ true or false.
---@param text string
---@return boolean ok
---@return string|nil why the first wrong line
function M.check_subnet_env(text)
   local kinds = { FLANNEL_NETWORK = "cidr", FLANNEL_SUBNET = "cidr", FLANNEL_IPV6_NETWORK = "cidr",
      FLANNEL_IPV6_SUBNET = "cidr", FLANNEL_MTU = "int", FLANNEL_IPMASQ = "bool" }
   for line in (text:gsub(";", "\n") .. "\n"):gmatch("([^\n]*)\n") do
      if line:match("%S") then
         local k, v = line:match("^%s*([%w_]+)%s*=%s*(.-)%s*$")
         if not k then return false, ("%q is not KEY=VALUE"):format(line) end
         local kind = kinds[k]
         if (kind == "cidr" and not ip.is_cidr(v)) or (kind == "int" and not v:match("^%d+$"))
            or (kind == "bool" and v ~= "true" and v ~= "false") then
            return false, ("%s: %q is not %s"):format(k, v, kind == "cidr" and "a CIDR"
               or kind == "int" and "an integer" or "true or false")
         end
      end
   end
   return true
end

--- Finds flannel's ConfigMap and DaemonSet among objects (plain flannel or Canal).
---@param objects table[] Kubernetes objects
---@return table found {configmap, daemonset, canal}
function M.find(objects)
   local found = {}
   for _, o in ipairs(objects) do
      local name = o.metadata and o.metadata.name
      if o.kind == "ConfigMap" and (name == "kube-flannel-cfg" or name == "canal-config") then
         found.configmap = o
      elseif o.kind == "DaemonSet" and (name == "kube-flannel-ds" or name == "canal") then
         found.daemonset = o
         found.canal = name == "canal"
      end
   end
   return found
end

--- The flannel version a DaemonSet runs: the tag of its flannel container's image.
---@param ds table a DaemonSet
---@return string|nil tag such as "v0.28.9"
function M.image_version(ds)
   local spec = ds.spec and ds.spec.template and ds.spec.template.spec or {}
   for _, c in ipairs(spec.containers or {}) do
      local tag = c.image and c.image:match("/flannel:([^@]+)")
      if tag then return tag end
   end
   return nil
end

--- Compares flannel versions ("v0.27.4", "v0.10.0-amd64"): -1, 0 or 1; unknown text sorts last.
---@param a string
---@param b string
---@return integer
function M.compare_versions(a, b)
   local function parts(v)
      local x, y, z = tostring(v):match("^v?(%d+)%.(%d+)%.?(%d*)")
      if not x then return { math.maxinteger, 0, 0 } end
      return { tonumber(x), tonumber(y), tonumber(z) or 0 }
   end
   local pa, pb = parts(a), parts(b)
   for i = 1, 3 do
      if pa[i] ~= pb[i] then return pa[i] < pb[i] and -1 or 1 end
   end
   return 0
end

--- Whether flanneld of this version recreates flannel.<VNI> when it is deleted (v0.27.4 on),
--- so a migration must stop flanneld before it deletes the device.
---@param version string
---@return boolean
function M.recreates_device(version)
   return M.compare_versions(version, "v0.27.4") >= 0
end

--- flanneld's settings from its container's command line and environment, as flanneld reads
--- them: a flag given on the command line (`--flag=value`, `--flag value`, `--flag` for a
--- boolean) wins; otherwise a non-empty FLANNELD_<FLAG> variable (dashes as underscores).
---@param args string[] the container's command and args, in order
---@param env table|nil name -> value (already resolved)
---@return table opts {prefix, iface (list), ipmasq, public_ip, subnet_file}
function M.flanneld_args(args, env)
   local BOOL = { ["ip-masq"] = true, ["kube-subnet-mgr"] = true }
   local given = {}
   local i = 1
   while i <= #args do
      local name, value = args[i]:match("^%-%-?([%w-]+)=(.*)$")
      if not name then
         name = args[i]:match("^%-%-?([%w-]+)$")
         if name and not BOOL[name] and args[i + 1] then
            value = args[i + 1]
            i = i + 1
         elseif name then
            value = "true"
         end
      end
      if name then
         if name == "iface" then
            given.iface = given.iface or {}
            given.iface[#given.iface + 1] = value -- repeatable: the first that exists is used
         else
            given[name] = value
         end
      end
      i = i + 1
   end
   local function setting(name)
      if given[name] ~= nil then return given[name] end
      local v = env and env["FLANNELD_" .. name:upper():gsub("-", "_")]
      if v ~= nil and v ~= "" then return v end
      return nil
   end
   local iface = given.iface
   if not iface and setting("iface") then
      iface = {}
      for part in setting("iface"):gmatch("[^,]+") do iface[#iface + 1] = part end
   end
   local masq = setting("ip-masq")
   return {
      prefix = setting("kube-annotation-prefix") or M.PREFIX,
      iface = iface,
      ipmasq = masq ~= nil and masq ~= "false" and masq ~= "0",
      public_ip = setting("public-ip"),
   }
end

--- Reads what flannel recorded on a Node: its annotations and podCIDR.
---@param node table a Node
---@param prefix string|nil the annotation prefix (default flannel.alpha.coreos.com)
---@return table|nil info {name, pod_cidr, vtep_mac, public_ip, backend_type, vni}
---@return string|nil message
---@return string|nil code "NotFlannelNode"
function M.node_info(node, prefix)
   prefix = prefix or M.PREFIX
   local name = node.metadata and node.metadata.name or "?"
   local ann = node.metadata and node.metadata.annotations or {}
   local function missing(what)
      return nil, ("node %s: %s"):format(name, what), "NotFlannelNode"
   end
   local pod_cidr = node.spec and node.spec.podCIDR
   if not ip.is_cidr(pod_cidr) then return missing("no spec.podCIDR") end
   local data = ann[prefix .. "/backend-data"]
   local decoded = data and json.decode(data)
   if type(decoded) ~= "table" then return missing("no valid " .. prefix .. "/backend-data annotation") end
   local mac
   for k, v in pairs(decoded) do -- Go matches JSON keys case-insensitively: VtepMAC, VtepMac
      if type(k) == "string" and k:lower() == "vtepmac" then mac = v end
   end
   if type(mac) ~= "string" or not mac:match("^%x%x:%x%x:%x%x:%x%x:%x%x:%x%x$") then
      return missing("no VtepMAC in " .. prefix .. "/backend-data")
   end
   local public_ip = ann[prefix .. "/public-ip-overwrite"] or ann[prefix .. "/public-ip"]
   if not ip.parse(public_ip or "") then return missing("no valid " .. prefix .. "/public-ip annotation") end
   return {
      name = name,
      pod_cidr = pod_cidr,
      vtep_mac = mac:lower(),
      public_ip = public_ip,
      backend_type = ann[prefix .. "/backend-type"],
      vni = decoded.VNI,
      kube_subnet_manager = ann[prefix .. "/kube-subnet-manager"] == "true",
   }
end

--- What is malformed in the flannel annotations a Node carries (an absent one is not: flanneld may
--- not have run there yet): backend-data that is not a JSON object, or with a VtepMAC that is not a
--- MAC or a VNI that is not an integer; a public-ip that is not an address.
---@param node table a Node
---@param prefix string|nil the annotation prefix (default flannel.alpha.coreos.com)
---@return string|nil problem "annotation NAME: why", nil when none
function M.annotation_problem(node, prefix)
   prefix = prefix or M.PREFIX
   local ann = node.metadata and node.metadata.annotations or {}
   local key = prefix .. "/backend-data"
   local data = ann[key]
   if data then
      local decoded, err = json.decode(data)
      if type(decoded) ~= "table" or json.is_array(decoded) then
         return ("annotation %s: %s"):format(key, err or "expected a JSON object")
      end
      for k, v in pairs(decoded) do -- Go matches JSON keys case-insensitively: VtepMAC, VtepMac
         if type(k) == "string" and k:lower() == "vtepmac" and not (type(v) == "string"
            and v:match("^%x%x:%x%x:%x%x:%x%x:%x%x:%x%x$")) then
            return ("annotation %s: VtepMAC %s is not a MAC address"):format(key, json.encode(v))
         end
      end
      if decoded.VNI ~= nil and math.type(decoded.VNI) ~= "integer" then
         return ("annotation %s: VNI %s is not an integer"):format(key, json.encode(decoded.VNI))
      end
   end
   for _, name in ipairs { "public-ip", "public-ip-overwrite", "public-ipv6", "public-ipv6-overwrite" } do
      local v = ann[prefix .. "/" .. name]
      if v and v ~= "" and not ip.parse(v) then
         return ("annotation %s/%s: %q is not an IP address"):format(prefix, name, v)
      end
   end
   return nil
end

--- The masquerade and forward rules flanneld keeps (iptables-save lines, by table).
---@param network string the cluster CIDR
---@param subnet string the node's podCIDR
---@param version string the flannel version (chains since v0.20.0)
---@return table rules {nat = {...}, filter = {...}}
function M.iptables_rules(network, subnet, version)
   local masq, fwd = ' -m comment --comment "flanneld masq"', ' -m comment --comment "flanneld forward"'
   if M.compare_versions(version, "v0.20.0") < 0 then
      return {
         nat = {
            ("-A POSTROUTING -s %s -d %s%s -j RETURN"):format(network, network, masq),
            ("-A POSTROUTING -s %s ! -d 224.0.0.0/4%s -j MASQUERADE"):format(network, masq),
            ("-A POSTROUTING ! -s %s -d %s%s -j RETURN"):format(network, subnet, masq),
            ("-A POSTROUTING ! -s %s -d %s%s -j MASQUERADE"):format(network, network, masq),
         },
         filter = {
            ("-A FORWARD -s %s%s -j ACCEPT"):format(network, fwd),
            ("-A FORWARD -d %s%s -j ACCEPT"):format(network, fwd),
         },
      }
   end
   return {
      nat = {
         "-A POSTROUTING" .. masq .. " -j FLANNEL-POSTRTG",
         "-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000" .. masq .. " -j RETURN",
         ("-A FLANNEL-POSTRTG -s %s -d %s%s -j RETURN"):format(subnet, network, masq),
         ("-A FLANNEL-POSTRTG -s %s -d %s%s -j RETURN"):format(network, subnet, masq),
         ("-A FLANNEL-POSTRTG ! -s %s -d %s%s -j RETURN"):format(network, subnet, masq),
         ("-A FLANNEL-POSTRTG -s %s ! -d 224.0.0.0/4%s -j MASQUERADE --random-fully"):format(network, masq),
         ("-A FLANNEL-POSTRTG ! -s %s -d %s%s -j MASQUERADE --random-fully"):format(network, network, masq),
      },
      filter = {
         "-A FORWARD" .. fwd .. " -j FLANNEL-FWD",
         ("-A FLANNEL-FWD -s %s%s -j ACCEPT"):format(network, fwd),
         ("-A FLANNEL-FWD -d %s%s -j ACCEPT"):format(network, fwd),
      },
   }
end

--- flanneld's own iptables chains (v0.20.0 on): FLANNEL-POSTRTG in nat, FLANNEL-FWD in filter.
M.IPTABLES_CHAINS = { ["FLANNEL-POSTRTG"] = true, ["FLANNEL-FWD"] = true }
--- flanneld's tables in nftables mode (EnableNFTables, v0.25.0 on).
M.NFT_TABLES = { { family = "ip", name = "flannel-ipv4" }, { family = "ip6", name = "flannel-ipv6" } }
--- The comments of flanneld's rules; before v0.20.0 they sat directly in POSTROUTING/FORWARD.
M.IPTABLES_COMMENTS = { "flanneld masq", "flanneld forward" }
--- The device names flanneld creates for a VNI: IPv4 and IPv6.
---@param vni integer
---@return string v4, string v6
function M.device_names(vni)
   return ("flannel.%d"):format(vni), ("flannel-v6.%d"):format(vni)
end
--- The CNI config file names of flannel and of Canal (install-cni's CNI_CONF_NAME).
M.CNI_CONF_NAME = "10-flannel.conflist"
M.CANAL_CNI_CONF_NAME = "10-canal.conflist"
M.SUBNET_ENV = "/run/flannel/subnet.env"

--- Whether a rule (cm.iptables_plan's) is one of flanneld's, by its comment (v0.16 and later
--- carry it; v0.15.1 and earlier rules, without comments, cannot be told from others).
---@param rule table {chain, spec}
---@return boolean
function M.is_flannel_rule(rule)
   for _, c in ipairs(M.IPTABLES_COMMENTS) do
      if rule.spec:find('--comment "' .. c .. '"', 1, true) then
         return true
      end
   end
   return false
end

--- What flanneld (VXLAN, kube subnet manager) programs on a node while it runs there:
--- links, addresses, routes, neighbours, FDB entries, sysctls, files and iptables rules.
--- Peers are the other nodes flannel knows (annotated, with a podCIDR).
---@param node table the Node
---@param nodes table[] every Node of the cluster (the node itself is skipped)
---@param conf table parse_net_conf's result
---@param opts table|nil {iface = "eth0", mtu = 1500, ipmasq = true, has_pods = true,
---   version = "v0.28.9", canal = false, cni_conf = text, prefix = ...,
---   peer_entries = function(other Node, prefix, dev) giving what peer_entries does (a cache of it)}
---@return table|nil state in cm.sim's host shape; its peers: each peer's own entries by name (peer_entries)
---@return string|nil message
---@return string|nil code
function M.node_state(node, nodes, conf, opts)
   opts = opts or {}
   local me, err, code = M.node_info(node, opts.prefix)
   if not me then return nil, err, code end
   local dev = ("flannel.%d"):format(conf.vni)
   local mtu = (conf.raw and conf.raw.Backend and conf.raw.Backend.MTU or opts.mtu or 1500) - M.VXLAN_OVERHEAD
   local len = ip.cidr(me.pod_cidr).prefix
   local gw = ip.host(me.pod_cidr, 1)
   local st = {
      links = { { name = dev, kind = "vxlan", mtu = mtu, mac = me.vtep_mac, up = true,
         vxlan = { id = conf.vni, port = conf.port, ["local"] = me.public_ip, dev = opts.iface or "eth0",
            learning = false } } },
      addresses = { { dev = dev, address = ip.host(me.pod_cidr, 0) .. "/32" } },
      routes = {}, neighbours = {}, fdb = {},
      sysctls = { [("net/ipv6/conf/%s/accept_ra"):format(dev)] = "0" },
      files = opts.canal and {} -- Canal's CNI config and binaries are calico-node's install-cni's
         or { ["/etc/cni/net.d/10-flannel.conflist"] = opts.cni_conf or M.DEFAULT_CNI_CONF,
            ["/opt/cni/bin/flannel"] = "" }, -- the binary install-cni-plugin copies
      iptables = M.iptables_rules(conf.network, me.pod_cidr, opts.version or "v0.28.9"),
   }
   if opts.ipmasq == false then st.iptables.nat = {} end -- nat rules come with --ip-masq only
   if not opts.canal then
      st.files["/run/flannel/subnet.env"] = ("FLANNEL_NETWORK=%s\nFLANNEL_SUBNET=%s/%d\nFLANNEL_MTU=%d\n"
         .. "FLANNEL_IPMASQ=%s\n"):format(conf.network, gw, len, mtu, tostring(opts.ipmasq ~= false))
   end
   if opts.has_pods ~= false and not opts.canal then -- cni0 appears with the first pod
      st.links[#st.links + 1] = { name = "cni0", kind = "bridge", mtu = mtu, up = true }
      st.addresses[#st.addresses + 1] = { dev = "cni0", address = ("%s/%d"):format(gw, len) }
      st.routes[#st.routes + 1] = { dst = ip.cidr(me.pod_cidr).network .. "/" .. len, dev = "cni0",
         scope = "link", protocol = "kernel", src = gw }
   end
   local peers = {}
   st.peers = {} -- the same entries by peer (for an agent that updates one peer at a time)
   for _, other in ipairs(nodes) do
      local p = other.metadata.name ~= me.name and (opts.peer_entries or M.peer_entries)(other, opts.prefix, dev)
      if p then peers[#peers + 1], st.peers[p.name] = p, p end
   end
   table.sort(peers, function(a, b) return a.name < b.name end)
   for _, p in ipairs(peers) do
      st.neighbours[#st.neighbours + 1] = p.neighbours[1]
      st.fdb[#st.fdb + 1] = p.fdb[1]
      st.routes[#st.routes + 1] = p.routes[1]
   end
   return st
end

--- What flanneld programs on its VXLAN device dev for one other node (node_state's, a peer at a
--- time, as flanneld does on a lease's change): a neighbour, an FDB entry and a route; nil when
--- that node is no flannel VXLAN node with a subnet lease of kube-subnet-mgr.
---@param other table the other Node
---@param prefix string|nil the annotation prefix
---@param dev string the VXLAN device (flannel.VNI)
---@return table|nil entries {name, neighbours = {n}, fdb = {f}, routes = {r}}
function M.peer_entries(other, prefix, dev)
   local p = M.node_info(other, prefix)
   if not (p and p.kube_subnet_manager and p.backend_type == "vxlan") then return nil end
   local vtep = ip.host(p.pod_cidr, 0)
   return { name = p.name,
      neighbours = { { dst = vtep, lladdr = p.vtep_mac, dev = dev, state = "permanent" } },
      fdb = { { lladdr = p.vtep_mac, dev = dev, dst = p.public_ip, self = true, permanent = true } },
      routes = { { dst = p.pod_cidr, gateway = vtep, dev = dev, onlink = true } } }
end

--- Where flannel's DaemonSet is looked for, newest layout first (datamodel.md C.1, D).
M.DAEMONSET_CANDIDATES = {
   { namespace = "kube-flannel", name = "kube-flannel-ds" },
   { namespace = "kube-system", name = "kube-flannel-ds" },
   { namespace = "kube-system", name = "kube-flannel-ds-amd64" },
   { namespace = "kube-system", name = "canal" },
   { namespace = "kube-flannel", name = "canal" },
}
--- The label kube-addon-manager owns its objects by: it would undo our edits.
M.ADDON_LABEL = "addonmanager.kubernetes.io/mode"

--- What a flannel (or Canal) DaemonSet says about how flanneld runs: its container, its flags
--- (as args or FLANNELD_* environment variables), the ConfigMap it mounts, its version.
---@param ds table a DaemonSet
---@return table info {canal, container, version, flags = {name = value|true}, configmap,
---   prefix, iface (a list, or nil), ip_masq, kube_subnet_mgr, etcd, addon}
function M.daemonset_info(ds)
   local spec = ds.spec and ds.spec.template and ds.spec.template.spec or {}
   local info = { flags = {}, canal = ds.metadata.name == "canal" }
   for _, c in ipairs(spec.containers or {}) do
      local argv = {}
      for _, a in ipairs(c.command or {}) do argv[#argv + 1] = a end
      for _, a in ipairs(c.args or {}) do argv[#argv + 1] = a end
      local is_flanneld = c.name == "kube-flannel"
      for _, a in ipairs(argv) do if a:find("flanneld", 1, true) then is_flanneld = true end end
      if c.name == "calico-node" then info.canal = true end
      if is_flanneld then
         info.container = c.name
         info.version = (c.image or ""):match("/flannel:([^@]+)")
         for i, a in ipairs(argv) do
            local k, v = a:match("^%-%-?([%w-]+)=(.*)$")
            if not k then
               k = a:match("^%-%-?([%w-]+)$")
               local nxt = argv[i + 1]
               v = (nxt and not nxt:match("^%-")) and nxt or true -- --flag value, or a boolean --flag
            end
            if k then info.flags[k] = v end
         end
         local env = {}
         for _, e in ipairs(c.env or {}) do -- flanneld reads FLANNELD_<FLAG> too
            local k = e.name:match("^FLANNELD_(.+)$")
            if k then
               local v = e.value
               if v == nil and e.valueFrom then v = { from = e.valueFrom } end
               info.flags[k:lower():gsub("_", "-")] = v
               env[e.name] = e.value
            end
         end
         info.iface = M.flanneld_args(argv, env).iface -- repeatable: the list, in flanneld's order
      end
   end
   for _, v in ipairs(spec.volumes or {}) do
      if v.configMap and (v.configMap.name == "kube-flannel-cfg" or v.configMap.name == "canal-config"
         or v.name == "flannel-cfg") then
         info.configmap = v.configMap.name
      end
   end
   local f = info.flags
   info.prefix = type(f["kube-annotation-prefix"]) == "string" and f["kube-annotation-prefix"] or nil
   info.ip_masq = f["ip-masq"] == true or f["ip-masq"] == "true"
   info.kube_subnet_mgr = f["kube-subnet-mgr"] == true or f["kube-subnet-mgr"] == "true"
   info.etcd = f["etcd-endpoints"] ~= nil
   info.addon = (ds.metadata.labels or {})[M.ADDON_LABEL]
   return info
end

return M
