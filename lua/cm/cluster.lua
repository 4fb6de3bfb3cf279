--- cm.cluster: reads what a migration needs to know about a cluster, once, into one table:
--- flannel's (or Canal's) DaemonSet and ConfigMap, the Nodes, Calico's DaemonSet, ConfigMaps and
--- objects, the PDBs. It writes nothing. From it come the detected settings (observe) that
--- cm.config.resolve weighs against what the operator gave.
local calico = require "cm.calico"
local flannel = require "cm.flannel"
local ip = require "cm.ip"

local M = {}

local CALICO = "crd.projectcalico.org/v1"

--- GET that tells absent from failed: object | false (NotFound) | nil, msg, code.
local function get(c, ref)
   local o, msg, code = c:get(ref)
   if o then return o end
   if code == "NotFound" then return false end
   return nil, msg, code
end

--- A list whose kind may not be served: items | false (kind not served) | nil, msg, code.
local function list(c, ref)
   local l, msg, code = c:list(ref)
   if l then return l.items end
   if code == "NotFound" or (msg and msg:find("no kind", 1, true)) or code == "UnknownKind" then return false end
   return nil, msg, code
end

--- Finds flannel's DaemonSet: where the settings say, else among the historic places.
---@return table|false ds
---@return string[] looked where it was looked for ("ns/name")
local function find_flannel(c, cfg)
   local looked, candidates = {}, {}
   local name, ns = cfg.values.FLANNEL_DAEMONSET_NAME, cfg.values.FLANNEL_DAEMONSET_NAMESPACE
   if cfg.explicit.FLANNEL_DAEMONSET_NAME or cfg.explicit.FLANNEL_DAEMONSET_NAMESPACE then
      -- Canal is looked for beside an explicit namespace, as Calico does
      candidates[1] = { namespace = ns, name = name }
      if not cfg.explicit.FLANNEL_DAEMONSET_NAME then candidates[2] = { namespace = ns, name = "canal" } end
   else
      candidates = flannel.DAEMONSET_CANDIDATES
   end
   for _, cand in ipairs(candidates) do
      looked[#looked + 1] = cand.namespace .. "/" .. cand.name
      local ds, msg, code = get(c, { apiVersion = "apps/v1", kind = "DaemonSet", namespace = cand.namespace,
         name = cand.name })
      if ds == nil then return nil, msg, code end
      if ds then return ds, looked end
   end
   return false, looked
end

--- What a run keeps of a Node: its metadata (without managedFields), spec, and of its status only
--- the Ready condition (the only one a step reads); a big cluster's Nodes then cost a run little
--- memory (a Node's images, nodeInfo, capacity, addresses and other conditions, often most of it,
--- are read by no step). Changes n in place.
---@param n table a Node
---@return table n
function M.slim_node(n)
   n.metadata.managedFields = nil
   local st = n.status
   if st then
      local ready
      for _, cond in ipairs(st.conditions or {}) do
         if cond.type == "Ready" then ready = cond end
      end
      n.status = { conditions = { ready } }
   end
   return n
end

--- Nodes a page: a page is held three times at once for a moment (its JSON text, its parsed tree,
--- its Lua table), which at 500 a page (kubectl's) was most of the controller's memory peak.
M.NODE_PAGE = 100

--- Calls fn(node) for every Node, a page (NODE_PAGE) at a time, each kept slim (slim_node), so that
--- a big cluster's whole Node list is never held at once (as c:list holds it: every page's JSON,
--- then the whole table). After an expired continue token the list starts over: fn(nil, true) says so,
--- and the nodes come again.
---@param c userdata a cm.k8s client
---@param fn fun(n: table|nil, restarted: boolean|nil)
---@return true|nil ok nil, message, code on a failure
---@return string|nil rv the list's resourceVersion, to watch from (or the message)
---@return string|nil code
function M.walk_nodes(c, fn)
   local rv
   for page, restarted, code in c:pages { apiVersion = "v1", kind = "Node", limit = M.NODE_PAGE } do
      if not page then return nil, restarted, code end
      if restarted then fn(nil, true) end
      rv = page.metadata and page.metadata.resourceVersion
      local items = page.items
      page.items = nil
      for i, n in ipairs(items) do
         items[i] = nil -- each Node goes as soon as it is slim: the page is not held beside them
         fn(M.slim_node(n))
      end
   end
   return true, rv
end

--- Every Node (walk_nodes), as a list; and the list's resourceVersion, to watch from.
---@param c userdata a cm.k8s client
---@return table[]|nil nodes
---@return string|nil rv the list's resourceVersion (or the message of a failure)
---@return string|nil code
function M.list_nodes(c)
   local nodes = {}
   local ok, rv, code = M.walk_nodes(c, function(n, restarted)
      if restarted then nodes = {} else nodes[#nodes + 1] = n end
   end)
   if not ok then return nil, rv, code end
   return nodes, rv
end

--- What a run keeps of a BlockAffinity: its name and spec (cidr, node, state, deleted).
---@param a table
---@return table
function M.slim_affinity(a)
   return { metadata = { name = a.metadata.name }, spec = a.spec }
end

--- Reads the cluster.
---@param c userdata a cm.k8s client
---@param cfg table cm.config.parse's result (names and namespaces to look in)
---@return table|nil snap {flannel_ds, flannel_info, flannel_cm, net_conf, net_conf_err, nodes,
---   calico_ds, calico_config, migration_config, backup, pools, felix, affinities, pdbs, crds, looked,
---   started (M.started)}
---@return string|nil message
---@return string|nil code "BadInput" for a malformed flannel ConfigMap or Node annotation (the message
---   names the object and field), else the API's
function M.read(c, cfg)
   local v = cfg.values
   local s = {}
   local err, code
   s.flannel_ds, s.looked, code = find_flannel(c, cfg)
   if s.flannel_ds == nil then return nil, s.looked, code end
   if s.flannel_ds then
      s.flannel_info = flannel.daemonset_info(s.flannel_ds)
      local cm_name = s.flannel_info.configmap or (s.flannel_info.canal and "canal-config" or "kube-flannel-cfg")
      s.flannel_cm, err, code = get(c, { apiVersion = "v1", kind = "ConfigMap",
         namespace = s.flannel_ds.metadata.namespace, name = cm_name })
      if s.flannel_cm == nil then return nil, err, code end
      local text = s.flannel_cm and s.flannel_cm.data and s.flannel_cm.data["net-conf.json"]
      if text then s.net_conf, s.net_conf_err = flannel.parse_net_conf(text) end
      if s.net_conf_err then -- flanneld would not start on it either: bad input, not a blocker
         return nil, ("ConfigMap %s/%s: %s"):format(s.flannel_cm.metadata.namespace, cm_name, s.net_conf_err),
            "BadInput"
      end
   end
   s.nodes, err, code = M.list_nodes(c)
   if not s.nodes then return nil, err, code end
   local prefix = cfg.explicit.FLANNEL_ANNOTATION_PREFIX and v.FLANNEL_ANNOTATION_PREFIX
      or s.flannel_info and s.flannel_info.prefix or v.FLANNEL_ANNOTATION_PREFIX
   for _, n in ipairs(s.nodes) do
      local problem = flannel.annotation_problem(n, prefix)
      if problem then return nil, ("Node %s: %s"):format(n.metadata.name, problem), "BadInput" end
   end
   table.sort(s.nodes, function(a, b) return a.metadata.name < b.metadata.name end)
   local cns = v.CALICO_DAEMONSET_NAMESPACE
   -- in this order, so a simulated run with a seed sends the same requests every time (pairs'
   -- order changes from one Lua state to the next)
   for _, kr in ipairs {
      { "calico_ds", { apiVersion = "apps/v1", kind = "DaemonSet", namespace = cns, name = v.CALICO_DAEMONSET_NAME } },
      { "calico_config", { apiVersion = "v1", kind = "ConfigMap", namespace = cns, name = "calico-config" } },
      { "migration_config",
         { apiVersion = "v1", kind = "ConfigMap", namespace = cns, name = calico.MIGRATION_CONFIGMAP } },
      { "backup", { apiVersion = "v1", kind = "ConfigMap", namespace = cns, name = calico.BACKUP_CONFIGMAP } },
   } do
      local key, ref = kr[1], kr[2]
      s[key], err, code = get(c, ref)
      if s[key] == nil then return nil, err, code end
   end
   s.pools, err, code = list(c, { apiVersion = CALICO, kind = "IPPool" })
   if s.pools == nil then return nil, err, code end
   s.crds = s.pools ~= false
   if s.crds then
      s.felix, err, code = get(c, { apiVersion = CALICO, kind = "FelixConfiguration", name = "default" })
      if s.felix == nil then return nil, err, code end
      s.affinities, err, code = list(c, { apiVersion = CALICO, kind = "BlockAffinity" })
      if s.affinities == nil then return nil, err, code end
      for i, a in ipairs(s.affinities or {}) do s.affinities[i] = M.slim_affinity(a) end
   else
      s.pools, s.affinities, s.felix = {}, {}, false
   end
   s.pdbs, err, code = list(c, { apiVersion = "policy/v1", kind = "PodDisruptionBudget" })
   if s.pdbs == nil then return nil, err, code end
   s.pdbs = s.pdbs or {}
   s.started = M.started(s)
   return s
end

--- Whether a migration has started here: its settings saved, or a node past flannel in the
--- label protocol (Calico's controller leaves no ConfigMap mark of its own).
---@param s table M.read's result
---@return boolean
function M.started(s)
   local mc = s.migration_config
   if mc and mc.data and mc.data["cni-migrate.started"] then return true end
   for _, n in ipairs(s.nodes or {}) do
      local l = n.metadata.labels or {}
      if l[calico.LABEL_IN_PROGRESS] or l[calico.LABEL_NETWORK] == "none" or l[calico.LABEL_NETWORK] == "calico" then
         return true
      end
   end
   return false
end

--- Adds one observation of a setting; several for one setting must agree (else a contradiction).
local function see(obs, name, value, source, fact)
   if value == nil then return end
   obs[name] = obs[name] or { list = {} }
   local o = obs[name]
   o.list[#o.list + 1] = { value = value, source = source }
   if o.value == nil then o.value, o.source, o.fact = value, source, fact end
   o.fact = o.fact or fact
end

--- The value of a FLANNELD_* env var that reads from a ConfigMap key of the flannel ConfigMap.
local function from_cm(v, cm)
   if type(v) ~= "table" then return v end
   local ref = v.from and v.from.configMapKeyRef
   return ref and cm and cm.data and cm.data[ref.key] or nil
end

--- What the cluster shows for the settings: {NAME = {value, source, fact, list}}. A fact is
--- something flannel is running with (mixed operation depends on it), so an explicit setting
--- that differs is a contradiction, not an override.
---@param s table M.read's result
---@param subnet_env table|nil parsed subnet.env vars, with subnet_env_source
---@param subnet_env_source string|nil
---@return table observed
function M.observe(s, subnet_env, subnet_env_source)
   local obs = {}
   if s.flannel_ds then
      local md = s.flannel_ds.metadata
      local where = ("DaemonSet %s/%s"):format(md.namespace, md.name)
      see(obs, "FLANNEL_DAEMONSET_NAME", md.name, "found: " .. where)
      see(obs, "FLANNEL_DAEMONSET_NAMESPACE", md.namespace, "found: " .. where)
      local fi = s.flannel_info
      see(obs, "FLANNEL_ANNOTATION_PREFIX", fi.prefix, where .. " --kube-annotation-prefix", true)
      -- not a fact to contradict: a value given explicitly wins (an --iface-regex flanneld, a site's name)
      see(obs, "FLANNEL_IFACE", fi.iface and table.concat(fi.iface, ","), where .. " --iface")
      local masq = from_cm(fi.flags["ip-masq"], s.flannel_cm)
      if masq ~= nil then
         see(obs, "FLANNEL_IP_MASQ", masq == true or masq == "true", where .. " --ip-masq", true)
      else
         see(obs, "FLANNEL_IP_MASQ", false, where .. " (no --ip-masq)", true)
      end
   end
   local nc = s.net_conf
   if nc then
      local where = ("net-conf.json (ConfigMap %s/%s)"):format(s.flannel_cm.metadata.namespace,
         s.flannel_cm.metadata.name)
      see(obs, "FLANNEL_NETWORK", nc.network, where, true)
      see(obs, "FLANNEL_IPV6_NETWORK", nc.ipv6_network, where, true)
      see(obs, "FLANNEL_VNI", nc.vni, where, true)
      see(obs, "FLANNEL_PORT", nc.port, where, true)
      local bmtu = nc.raw.Backend and nc.raw.Backend.MTU
      if math.type(bmtu) == "integer" then see(obs, "FLANNEL_MTU", bmtu - flannel.VXLAN_OVERHEAD, where, true) end
   end
   if subnet_env then
      see(obs, "FLANNEL_NETWORK", subnet_env.FLANNEL_NETWORK, subnet_env_source, true)
      see(obs, "FLANNEL_IPV6_NETWORK", subnet_env.FLANNEL_IPV6_NETWORK, subnet_env_source, true)
      see(obs, "FLANNEL_MTU", math.tointeger(tonumber(subnet_env.FLANNEL_MTU or "")), subnet_env_source, true)
      if subnet_env.FLANNEL_IPMASQ then
         see(obs, "FLANNEL_IP_MASQ", subnet_env.FLANNEL_IPMASQ == "true", subnet_env_source, true)
      end
   end
   -- Canal keeps the MTU in canal-config (0: detected, not known here)
   local vm = s.flannel_cm and s.flannel_cm.data and math.tointeger(tonumber(s.flannel_cm.data.veth_mtu or ""))
   if vm and vm > 0 then
      see(obs, "FLANNEL_MTU", vm, ("ConfigMap %s/%s veth_mtu"):format(s.flannel_cm.metadata.namespace,
         s.flannel_cm.metadata.name), true)
   end
   -- flannel.<VNI>'s MTU on the nodes (node-facts) is FLANNEL_MTU
   local vni_seen = nc and nc.vni or 1
   for _, name in ipairs(M.sorted_keys(s.facts or {})) do
      for _, l in ipairs(s.facts[name].links or {}) do
         if l.name == ("flannel.%d"):format(vni_seen) and math.type(l.mtu) == "integer" then
            see(obs, "FLANNEL_MTU", l.mtu, "flannel." .. vni_seen .. " on node " .. name, true)
         end
      end
   end
   -- the nodes: the VNI flannel runs with, and the podCIDR length
   local prefix = (obs.FLANNEL_ANNOTATION_PREFIX or {}).value or flannel.PREFIX
   local vnis, lens = {}, {}
   for _, n in ipairs(s.nodes or {}) do
      local info = flannel.node_info(n, prefix)
      if info and math.type(info.vni) == "integer" then vnis[info.vni] = (vnis[info.vni] or 0) + 1 end
      local cidr = n.spec and n.spec.podCIDR and ip.cidr(n.spec.podCIDR)
      if cidr and cidr.family == 4 then lens[cidr.prefix] = (lens[cidr.prefix] or 0) + 1 end
   end
   for vni, count in pairs(vnis) do
      see(obs, "FLANNEL_VNI", vni, ("nodes' %s/backend-data (%d)"):format(prefix, count), true)
   end
   for len, count in pairs(lens) do
      see(obs, "FLANNEL_SUBNET_LEN", len, ("nodes' spec.podCIDR (%d)"):format(count), true)
   end
   return obs
end

--- The keys of a table, sorted.
function M.sorted_keys(t)
   local out = {}
   for k in pairs(t) do out[#out + 1] = k end
   table.sort(out)
   return out
end

--- Observations of one setting that disagree with each other: {name, list} each.
---@param obs table M.observe's result
---@return table[]
function M.disagreements(obs)
   local out = {}
   for name, o in pairs(obs) do
      for _, e in ipairs(o.list) do
         if e.value ~= o.list[1].value then
            out[#out + 1] = { name = name, list = o.list }
            break
         end
      end
   end
   table.sort(out, function(a, b) return a.name < b.name end)
   return out
end

--- The subnet.env the run knows without asking a node: FLANNEL_SUBNET_ENV, else the copy saved
--- in flannel-migration-config (Calico's key).
---@return table|nil vars
---@return string|nil source
function M.saved_subnet_env(s, cfg)
   if cfg.values.FLANNEL_SUBNET_ENV ~= "" then
      return flannel.parse_subnet_env(cfg.values.FLANNEL_SUBNET_ENV), cfg.sources.FLANNEL_SUBNET_ENV
   end
   local text = s.migration_config and s.migration_config.data and s.migration_config.data.flannel_subnet_env
   if text and text ~= "" then
      return flannel.parse_subnet_env(text), ("ConfigMap %s/%s flannel_subnet_env"):format(
         s.migration_config.metadata.namespace, calico.MIGRATION_CONFIGMAP)
   end
   return nil
end

--- subnet.env as node-facts read it on a node: the controller's own node first (as Calico
--- reads it), else the first node by name that has one.
---@return table|nil vars
---@return string|nil source
function M.facts_subnet_env(s, prefer)
   if not s.facts then return nil end
   local names = {}
   for name in pairs(s.facts) do names[#names + 1] = name end
   table.sort(names, function(a, b)
      if (a == prefer) ~= (b == prefer) then return a == prefer end
      return a < b
   end)
   for _, name in ipairs(names) do
      local env = s.facts[name].subnet_env
      if type(env) == "table" and env.FLANNEL_NETWORK then return env, "subnet.env on node " .. name end
   end
   return nil
end

--- Whether a node is a control-plane node (any of the three labels count).
---@param n table a Node
---@return boolean
function M.is_control_plane(n)
   local l = n.metadata.labels or {}
   return l["node-role.kubernetes.io/control-plane"] ~= nil or l["node-role.kubernetes.io/master"] ~= nil
      or l["node-role.kubernetes.io/controlplane"] ~= nil
end

--- A Node's Ready condition: "True", "False", "Unknown" or nil.
function M.node_ready(n)
   for _, cond in ipairs(n.status and n.status.conditions or {}) do
      if cond.type == "Ready" then return cond.status end
   end
   return nil
end

return M
