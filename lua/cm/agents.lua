--- cm.agents: what the add-ons' node agents do to a simulated node's host when their pods start
--- or stop. The fake cluster's kubelets call on_pod (runtime/fake/sim/simrun.c) from inside the loop,
--- so everything here reads the cluster at once with cm.fake.request and never waits.
local calico = require "cm.calico"
local fake = require "cm.fake"
local flannel = require "cm.flannel"
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

--- flanneld (or Canal's kube-flannel container) started: it programs the node as
--- cm.flannel.node_state describes. Stopping it changes nothing on the host: its devices,
--- routes and files stay until something removes them.
---@param node string
---@param pod table
---@param host userdata
function M.flannel(node, pod, host)
   local canal = (pod.metadata.labels or {})["k8s-app"] == "canal"
   local ns = pod.metadata.namespace
   local cm = get(("/api/v1/namespaces/%s/configmaps/%s"):format(ns, canal and "canal-config" or "kube-flannel-cfg"))
   if not cm then error(("no flannel ConfigMap in %s"):format(ns), 0) end
   local conf = check(flannel.parse_net_conf(cm.data and cm.data["net-conf.json"] or ""))
   local nodes = check(get("/api/v1/nodes")).items
   local me
   for _, n in ipairs(nodes) do if n.metadata.name == node then me = n end end
   local version
   for _, c in ipairs(pod.spec.containers or {}) do
      version = version or (c.image or ""):match("/flannel:(v[%d.]+)")
   end
   local state = check(flannel.node_state(check(me, "no Node " .. node), nodes, conf,
      { cni_conf = cm.data["cni-conf.json"], version = version, canal = canal }))
   check(sim.apply(host, state))
end

--- calico-node started: install-cni's files, then, when the Node carries Calico's VXLAN
--- annotations, what Felix programs (cm.calico.node_state).
---@param node string
---@param host userdata
function M.calico_node(node, host)
   local nodes = check(get("/api/v1/nodes")).items
   local me
   for _, n in ipairs(nodes) do if n.metadata.name == node then me = n end end
   local felix = get("/apis/crd.projectcalico.org/v1/felixconfigurations/default")
   local affinities = get("/apis/crd.projectcalico.org/v1/blockaffinities")
   local config = get("/api/v1/namespaces/kube-system/configmaps/calico-config")
   local mtu = (host:link("eth0") or {}).mtu or 1500
   local state, err, code = calico.node_state(check(me, "no Node " .. node), nodes, felix,
      affinities and affinities.items or {}, { calico_config = config, mtu = mtu })
   if not state and code == "NotCalicoNode" then -- no tunnel yet: install-cni's part only
      state, err = calico.install_cni_state(node, calico.felix_vxlan(felix).mtu ~= 0
         and calico.felix_vxlan(felix).mtu or mtu - 50, config)
   end
   check(sim.apply(host, check(state, err)))
end

--- The simulation's hook: a pod started or stopped on node.
---@param node string
---@param pod table the Pod
---@param event string "started" or "stopped"
---@param host userdata the node's simulated host (a cm.fake Host)
function M.on_pod(node, pod, event, host)
   local labels = pod.metadata.labels or {}
   if event ~= "started" then return end
   if labels.app == "flannel" or labels["k8s-app"] == "canal" then M.flannel(node, pod, host) end
   if labels["k8s-app"] == "calico-node" or labels["k8s-app"] == "canal" then M.calico_node(node, host) end
end

return M
