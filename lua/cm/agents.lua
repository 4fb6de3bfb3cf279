--- cm.agents: what the add-ons' node agents do to a simulated node's host when their pods start,
--- stop, or see the cluster's network data change. The fake cluster's kubelets call on_pod
--- (runtime/fake/sim/simrun.c) from inside the loop, so everything here reads the cluster at once
--- with cm.fake.request and never waits.
local calico = require "cm.calico"
local fake = require "cm.fake"
local flannel = require "cm.flannel"
local ip = require "cm.ip"
local sim = require "cm.sim"

local M = {}

--- A GET on the simulated cluster; nil when the object or kind is not there.
---@param path string
---@return table|nil
local function get(path)
   return (fake.request("GET", path))
end

--- Fails the agent with the message of a failed step (the simulation logs it with the node).
local function check(ok, err)
   if not ok then error(err, 0) end
   return ok
end

--- The agents' informer: the Nodes and IPAMBlocks as the cluster has them, listed once and then
--- kept from each change (fake.on_change), and a log of the nodes whose network data may have
--- changed (the Node, or a block affine to it): a running agent's resync programs only the peers
--- logged since it last looked, as flanneld and Felix do from their watches. nil outside a --fake
--- run's loop (then each agent lists).
local informer

--- Whether a Node change can matter to an agent: its podCIDR, addresses or annotations (but the
--- migration's own, cni-migrate.dev/) differ.
local function network_changed(obj, prev)
   if not prev then return true end
   local function ann(o)
      local out = {}
      for k, v in pairs(o.metadata.annotations or {}) do
         if not k:find("^cni%-migrate%.dev/") then out[k] = v end
      end
      return out
   end
   local a, b = ann(obj), ann(prev)
   for k, v in pairs(a) do if b[k] ~= v then return true end end
   for k in pairs(b) do if a[k] == nil then return true end end
   if (obj.spec or {}).podCIDR ~= (prev.spec or {}).podCIDR then return true end
   local x, y = (obj.status or {}).addresses or {}, (prev.status or {}).addresses or {}
   if #x ~= #y then return true end
   for i = 1, #x do
      if x[i].type ~= y[i].type or x[i].address ~= y[i].address then return true end
   end
   return false
end

--- The informer, made at the first agent's start.
local function inform()
   if informer ~= nil then return informer or nil end
   local inf = { nodes = {}, blocks = {}, by_host = {}, blocks_v = {}, log = {}, config = 0 }
   local function place(b, on)
      local host, cidr = calico.block_host(b)
      if host then
         inf.by_host[host] = inf.by_host[host] or {}
         inf.by_host[host][b.metadata.name] = on and cidr or nil
         inf.blocks_v[host] = (inf.blocks_v[host] or 0) + 1
         inf.log[#inf.log + 1] = host
      end
   end
   -- what the agents read of a Node (cm.flannel.node_info, cm.calico.node_vxlan) and of a block
   -- (cm.calico.block_host): fake.on_change copies only that much
   local ok = pcall(fake.on_change, { "Node" }, function(typ, obj, prev)
      local name = obj.metadata.name
      inf.nodes[name] = typ ~= "DELETED" and obj or nil
      if network_changed(obj, typ == "MODIFIED" and prev or nil) then inf.log[#inf.log + 1] = name end
   end, { "kind", "metadata.name", "metadata.annotations", "spec.podCIDR", "status.addresses" })
   if not ok then
      informer = false
      return nil
   end
   fake.on_change({ "IPAMBlock" }, function(typ, obj, prev)
      if prev then place(prev, false) end
      inf.blocks[obj.metadata.name] = typ ~= "DELETED" and obj or nil
      place(obj, typ ~= "DELETED")
   end, { "kind", "metadata.name", "spec.affinity", "spec.deleted", "spec.cidr", "spec.node", "spec.state" })
   fake.on_change({ "FelixConfiguration", "IPPool" }, function() inf.config = inf.config + 1 end)
   for _, n in ipairs(check(get("/api/v1/nodes")).items) do inf.nodes[n.metadata.name] = n end
   local blocks = get("/apis/crd.projectcalico.org/v1/ipamblocks")
   for _, b in ipairs(blocks and blocks.items or {}) do
      inf.blocks[b.metadata.name] = b
      place(b, true)
   end
   inf.log = {}
   informer = inf
   return inf
end

--- The Nodes (and the IPAMBlocks) as a list: the informer's, else listed now.
local function list_nodes(inf)
   if not inf then return check(get("/api/v1/nodes")).items end
   local out = {}
   for _, n in pairs(inf.nodes) do out[#out + 1] = n end
   return out
end

local function list_blocks(inf)
   if not inf then
      local blocks = get("/apis/crd.projectcalico.org/v1/ipamblocks")
      return blocks and blocks.items or {}
   end
   local out = {}
   for _, b in pairs(inf.blocks) do out[#out + 1] = b end
   return out
end

--- What each running agent last programmed, by "node/flannel" or "node/calico": {seq = the
--- informer's log length then, dev, peers = {name -> entries}, and what a full look read}.
local synced = {}

--- The names logged since seq, sorted, and whether node itself is among them.
local function changed_since(inf, seq, node)
   local set, own = {}, false
   for i = seq + 1, #inf.log do
      local n = inf.log[i]
      if n == node then own = true else set[n] = true end
   end
   local names = {}
   for n in pairs(set) do names[#names + 1] = n end
   table.sort(names)
   return names, own
end

--- A host entry's key on its device (routes by dst, neighbours by dst, FDB by MAC and dst).
local KEYS = {
   routes = function(r) return r.dst end,
   neighbours = function(n) return n.dst end,
   fdb = function(f) return f.lladdr .. " " .. f.dst end,
}

--- Whether two peers' entries are the same.
local function same_entries(a, b)
   if a == b then return true end
   for k in pairs(KEYS) do
      local x, y = a and a[k] or {}, b and b[k] or {}
      if #x ~= #y then return false end
      for i = 1, #x do
         for f, v in pairs(x[i]) do if y[i][f] ~= v then return false end end
         for f in pairs(y[i]) do if x[i][f] == nil then return false end end
      end
   end
   return true
end

--- The peers' entries every agent keeps for a peer, once: by device (and flannel's annotation
--- prefix), then peer name, {node = the informer's Node they were made from, v = the version of
--- its blocks, e = entries}. Every node's agent programs the same entries for a peer, so N agents
--- keep one table per peer between them instead of N copies, made once per change of the peer.
local shared = {}

--- A peer's entries for an agent on dev: the shared ones while the peer's Node (and blocks, v) are
--- those they were made from; else make(node) (nil: none), shared from now on.
local function shared_entries(inf, dev, name, v, make)
   local by_name = shared[dev]
   if not by_name then
      by_name = {}
      shared[dev] = by_name
   end
   local slot, node = by_name[name], inf.nodes[name]
   if slot and slot.node == node and slot.v == v then return slot.e end
   local e = node and make(node) or nil
   by_name[name] = { node = node, v = v, e = e }
   return e
end

--- An agent's whole look (node_state's peers, by name) keeps the shared entries of each peer
--- whose entries are the same (all but a peer whose blocks another peer routes already).
local function share_peers(inf, dev, peers, v_of, make)
   for name, mine in pairs(peers) do
      local e = shared_entries(inf, dev, name, v_of(name), make)
      if e ~= mine and same_entries(e, mine) then peers[name] = e end
   end
end

--- A resync from the change: for each peer logged since the agent last looked, what it no longer
--- wants of that peer goes (as cm.sim.prune does: only on the agent's device), and what it wants
--- is added or replaced (as cm.sim.apply does). entries_of(name) gives a peer's entries (nil: none).
local function update_peers(a, host, names, entries_of)
   for _, name in ipairs(names) do
      local old, new = a.peers[name], entries_of(name)
      if not same_entries(old, new) then
         local want = {}
         for k, key in pairs(KEYS) do
            want[k] = {}
            for _, e in ipairs(new and new[k] or {}) do want[k][key(e)] = true end
         end
         for _, r in ipairs(old and old.routes or {}) do
            if not want.routes[r.dst] then host:route_del(r.dst, a.dev) end
         end
         for _, n in ipairs(old and old.neighbours or {}) do
            if not want.neighbours[n.dst] then host:neigh_del(a.dev, n.dst) end
         end
         for _, f in ipairs(old and old.fdb or {}) do
            if not want.fdb[KEYS.fdb(f)] then host:fdb_del(a.dev, f.lladdr, f.dst) end
         end
         if new then
            check(sim.apply(host, { links = {}, addresses = {}, routes = new.routes, neighbours = new.neighbours,
               fdb = new.fdb, sysctls = {}, files = {} }))
         end
         a.peers[name] = new
      end
   end
end

--- A container of a pod (or of its init containers) by name, else the first that matches.
local function container(pod, name, init)
   local list = init and pod.spec.initContainers or pod.spec.containers
   for _, c in ipairs(list or {}) do
      if c.name == name then return c end
   end
   return nil
end

--- A container's environment as the kubelet gives it: value, or a ConfigMap key of the pod's
--- namespace (configMapKeyRef); the fieldRefs a node agent reads (spec.nodeName, metadata.*).
---@return table name -> value
local function environment(pod, c)
   local env, maps = {}, {}
   for _, e in ipairs(c and c.env or {}) do
      if e.value ~= nil then
         env[e.name] = tostring(e.value)
      elseif e.valueFrom and e.valueFrom.configMapKeyRef then
         local ref = e.valueFrom.configMapKeyRef
         if maps[ref.name] == nil then
            maps[ref.name] = get(("/api/v1/namespaces/%s/configmaps/%s"):format(pod.metadata.namespace,
               ref.name)) or false
         end
         local v = maps[ref.name] and maps[ref.name].data and maps[ref.name].data[ref.key]
         if v ~= nil then env[e.name] = v end
      elseif e.valueFrom and e.valueFrom.fieldRef then
         local path = e.valueFrom.fieldRef.fieldPath
         env[e.name] = path == "spec.nodeName" and pod.spec.nodeName or path == "metadata.name" and
            pod.metadata.name or path == "metadata.namespace" and pod.metadata.namespace or nil
      end
   end
   return env
end

--- The device flanneld uses: the first --iface that names a link or one of the host's addresses;
--- without --iface, the device of the default route.
local function flannel_iface(host, ifaces)
   if not ifaces then
      for _, r in ipairs(host:section("routes") or {}) do
         if r.dst == "default" then return r.dev end
      end
      error("failed to get default interface: no default route", 0)
   end
   for _, want in ipairs(ifaces) do
      if host:link(want) then return want end
      for _, a in ipairs(host:section("addresses") or {}) do
         if ip.parse(want) and a.address:match("^([^/]+)") == want then return a.dev end
      end
   end
   error(("failed to find interface to use that matches %s"):format(table.concat(ifaces, ",")), 0)
end

--- flanneld (or Canal's kube-flannel container) runs: it programs the node as
--- cm.flannel.node_state describes, with its container's flags and environment
--- (--kube-annotation-prefix, --iface, --ip-masq, and their FLANNELD_ variables), and on a
--- resync removes the peers' entries of nodes that are gone or changed. Stopping it changes
--- nothing on the host: its devices, routes and files stay until something removes them.
---@param node string
---@param pod table
---@param host userdata
function M.flannel(node, pod, host, resync)
   local canal = (pod.metadata.labels or {})["k8s-app"] == "canal"
   local ns = pod.metadata.namespace
   local inf, key = inform(), node .. "/flannel"
   local cm = get(("/api/v1/namespaces/%s/configmaps/%s"):format(ns, canal and "canal-config" or "kube-flannel-cfg"))
   local a = synced[key]
   synced[key] = nil
   if resync and inf and a and cm and a.cm_rv == cm.metadata.resourceVersion and a.pod == pod.metadata.uid
      and host:link(a.dev) then
      local names, own = changed_since(inf, a.seq, node)
      if not own then
         a.seq = #inf.log
         update_peers(a, host, names, function(name)
            return shared_entries(inf, a.dev .. " " .. (a.prefix or ""), name, 0, function(n)
               return flannel.peer_entries(n, a.prefix, a.dev)
            end)
         end)
         synced[key] = a
         return
      end
   end
   local c = container(pod, "kube-flannel") or pod.spec.containers[1]
   local argv = {}
   for _, w in ipairs(c.command or {}) do argv[#argv + 1] = w end
   for _, w in ipairs(c.args or {}) do argv[#argv + 1] = w end
   local args = flannel.flanneld_args(argv, environment(pod, c))
   if not cm then error(("no flannel ConfigMap in %s"):format(ns), 0) end
   local conf = check(flannel.parse_net_conf(cm.data and cm.data["net-conf.json"] or ""))
   local seq = inf and #inf.log
   local nodes = list_nodes(inf)
   local me
   for _, n in ipairs(nodes) do if n.metadata.name == node then me = n end end
   local iface = flannel_iface(host, args.iface)
   local peer_entries -- the shared entries of the informer's Nodes
   if inf then
      peer_entries = function(other, prefix, dev)
         if inf.nodes[other.metadata.name] ~= other then return flannel.peer_entries(other, prefix, dev) end
         return shared_entries(inf, dev .. " " .. (prefix or ""), other.metadata.name, 0, function(n)
            return flannel.peer_entries(n, prefix, dev)
         end)
      end
   end
   local state = check(flannel.node_state(check(me, "no Node " .. node), nodes, conf,
      { cni_conf = cm.data["cni-conf.json"], peer_entries = peer_entries,
         version = flannel.image_version { spec = { template = { spec = pod.spec } } },
         canal = canal, prefix = args.prefix, iface = iface, ipmasq = args.ipmasq,
         mtu = (host:link(iface) or {}).mtu }))
   check(sim.apply(host, state))
   check(sim.prune(host, state, state.links[1].name))
   if inf then
      synced[key] = { seq = seq, dev = state.links[1].name, peers = state.peers, prefix = args.prefix,
         cm_rv = cm.metadata.resourceVersion, pod = pod.metadata.uid }
   end
end

--- What Felix programs on dev for a peer Node from the informer's blocks affine to it (nil: none).
local function calico_peer(inf, dev)
   return function(n)
      local p = calico.node_vxlan(n)
      local cidrs = {}
      for _, cidr in pairs(p and inf.by_host[n.metadata.name] or {}) do cidrs[#cidrs + 1] = cidr end
      local e = p and calico.peer_entries(p, cidrs, dev)
      return e and #e.routes > 0 and e or nil
   end
end

--- calico-node runs: install-cni's files (CNI_CONF_NAME, CNI_NETWORK_CONFIG and CNI_MTU of its
--- install-cni init container, so Calico's calico-config or Canal's canal-config), then what
--- Felix programs when the Node carries Calico's VXLAN annotations and VXLAN is on
--- (cm.calico.vxlan_enabled): vxlan.calico and, for every other node with VTEP data, a route per
--- block affine to it, a neighbour and an FDB entry (cm.calico.node_state). With VXLAN off Felix
--- removes vxlan.calico. Canal's calico-node (CALICO_NETWORKING_BACKEND=none) does policy only.
---@param node string
---@param pod table
---@param host userdata
function M.calico_node(node, pod, host, resync)
   local inf, key = inform(), node .. "/calico"
   local a = synced[key]
   synced[key] = nil
   if resync and inf and a and a.config == inf.config and a.pod == pod.metadata.uid and host:link(a.dev) then
      local names, own = changed_since(inf, a.seq, node)
      if not own then
         a.seq = #inf.log
         update_peers(a, host, names, function(name)
            return shared_entries(inf, a.dev, name, inf.blocks_v[name] or 0, calico_peer(inf, a.dev))
         end)
         synced[key] = a
         return
      end
   end
   local install = container(pod, "install-cni", true)
   local ienv = environment(pod, install)
   local main = container(pod, "calico-node") or {}
   local backend = environment(pod, main).CALICO_NETWORKING_BACKEND
   local config = ienv.CNI_NETWORK_CONFIG and { data = { cni_network_config = ienv.CNI_NETWORK_CONFIG,
      veth_mtu = ienv.CNI_MTU or "0" } } or nil
   local conf_name = ienv.CNI_CONF_NAME or calico.CNI_CONF_NAME
   local seq, felix_changes = inf and #inf.log, inf and inf.config
   local nodes = list_nodes(inf)
   local me
   for _, n in ipairs(nodes) do if n.metadata.name == node then me = n end end
   check(me, "no Node " .. node)
   local felix = get("/apis/crd.projectcalico.org/v1/felixconfigurations/default")
   local pools = get("/apis/crd.projectcalico.org/v1/ippools")
   local mtu = (host:link("eth0") or {}).mtu or 1500
   local vx = calico.felix_vxlan(felix)
   local enabled = backend ~= "none" and calico.vxlan_enabled(felix, pools and pools.items or {})
   local state, err, code
   if enabled then
      state, err, code = calico.node_state(me, nodes, felix, list_blocks(inf),
         { calico_config = config, mtu = mtu, conf_name = conf_name })
   end
   if not state and (not enabled or code == "NotCalicoNode") then -- install-cni's part only
      if host:link(calico.VXLAN_DEVICE) then check(host:link_del(calico.VXLAN_DEVICE)) end
      state, err = calico.install_cni_state(node, vx.mtu ~= 0 and vx.mtu or mtu - 50, config, conf_name)
   end
   check(sim.apply(host, check(state, err)))
   if enabled then
      check(sim.prune(host, state, calico.VXLAN_DEVICE))
      if inf and state.peers then
         share_peers(inf, calico.VXLAN_DEVICE, state.peers, function(name) return inf.blocks_v[name] or 0 end,
            calico_peer(inf, calico.VXLAN_DEVICE))
         synced[key] = { seq = seq, dev = calico.VXLAN_DEVICE, peers = state.peers, config = felix_changes,
            pod = pod.metadata.uid }
      end
   end
end

--- The simulation's hook: a network agent's pod (runtime/fake/sim cm_sim_network_agent) started or stopped
--- on node, or (resync) a running agent's pod
--- when the cluster's network data changed.
---@param node string
---@param pod table the Pod
---@param event string "started", "stopped" or "resync"
---@param host userdata the node's simulated host (a cm.fake Host)
function M.on_pod(node, pod, event, host)
   local labels = pod.metadata.labels or {}
   if event ~= "started" and event ~= "resync" then return end
   -- a Node deleted under its running agents: nothing is left to program (its host is gone)
   if event == "resync" and not get("/api/v1/nodes/" .. node) then return end
   local resync = event == "resync"
   if labels.app == "flannel" or labels["k8s-app"] == "canal" then M.flannel(node, pod, host, resync) end
   if labels["k8s-app"] == "calico-node" or labels["k8s-app"] == "canal" then M.calico_node(node, pod, host, resync) end
end

return M
