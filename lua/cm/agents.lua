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
   local state = host:json()
   if not ifaces then
      for _, r in ipairs(state.routes or {}) do
         if r.dst == "default" then return r.dev end
      end
      error("failed to get default interface: no default route", 0)
   end
   for _, want in ipairs(ifaces) do
      if host:link(want) then return want end
      for _, a in ipairs(state.addresses or {}) do
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
function M.flannel(node, pod, host)
   local canal = (pod.metadata.labels or {})["k8s-app"] == "canal"
   local ns = pod.metadata.namespace
   local c = container(pod, "kube-flannel") or pod.spec.containers[1]
   local argv = {}
   for _, a in ipairs(c.command or {}) do argv[#argv + 1] = a end
   for _, a in ipairs(c.args or {}) do argv[#argv + 1] = a end
   local args = flannel.flanneld_args(argv, environment(pod, c))
   local cm = get(("/api/v1/namespaces/%s/configmaps/%s"):format(ns, canal and "canal-config" or "kube-flannel-cfg"))
   if not cm then error(("no flannel ConfigMap in %s"):format(ns), 0) end
   local conf = check(flannel.parse_net_conf(cm.data and cm.data["net-conf.json"] or ""))
   local nodes = check(get("/api/v1/nodes")).items
   local me
   for _, n in ipairs(nodes) do if n.metadata.name == node then me = n end end
   local iface = flannel_iface(host, args.iface)
   local state = check(flannel.node_state(check(me, "no Node " .. node), nodes, conf,
      { cni_conf = cm.data["cni-conf.json"],
         version = flannel.image_version { spec = { template = { spec = pod.spec } } },
         canal = canal, prefix = args.prefix, iface = iface, ipmasq = args.ipmasq,
         mtu = (host:link(iface) or {}).mtu }))
   check(sim.apply(host, state))
   check(sim.prune(host, state, state.links[1].name))
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
function M.calico_node(node, pod, host)
   local install = container(pod, "install-cni", true)
   local ienv = environment(pod, install)
   local main = container(pod, "calico-node") or {}
   local backend = environment(pod, main).CALICO_NETWORKING_BACKEND
   local config = ienv.CNI_NETWORK_CONFIG and { data = { cni_network_config = ienv.CNI_NETWORK_CONFIG,
      veth_mtu = ienv.CNI_MTU or "0" } } or nil
   local conf_name = ienv.CNI_CONF_NAME or calico.CNI_CONF_NAME
   local nodes = check(get("/api/v1/nodes")).items
   local me
   for _, n in ipairs(nodes) do if n.metadata.name == node then me = n end end
   check(me, "no Node " .. node)
   local felix = get("/apis/crd.projectcalico.org/v1/felixconfigurations/default")
   local pools = get("/apis/crd.projectcalico.org/v1/ippools")
   local blocks = get("/apis/crd.projectcalico.org/v1/ipamblocks")
   local mtu = (host:link("eth0") or {}).mtu or 1500
   local vx = calico.felix_vxlan(felix)
   local enabled = backend ~= "none" and calico.vxlan_enabled(felix, pools and pools.items or {})
   local state, err, code
   if enabled then
      state, err, code = calico.node_state(me, nodes, felix, blocks and blocks.items or {},
         { calico_config = config, mtu = mtu, conf_name = conf_name })
   end
   if not state and (not enabled or code == "NotCalicoNode") then -- install-cni's part only
      if host:link(calico.VXLAN_DEVICE) then check(host:link_del(calico.VXLAN_DEVICE)) end
      state, err = calico.install_cni_state(node, vx.mtu ~= 0 and vx.mtu or mtu - 50, config, conf_name)
   end
   check(sim.apply(host, check(state, err)))
   if enabled then check(sim.prune(host, state, calico.VXLAN_DEVICE)) end
end

--- The simulation's hook: a pod started or stopped on node, or (resync) a running agent's pod
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
   if labels.app == "flannel" or labels["k8s-app"] == "canal" then M.flannel(node, pod, host) end
   if labels["k8s-app"] == "calico-node" or labels["k8s-app"] == "canal" then M.calico_node(node, pod, host) end
end

return M
