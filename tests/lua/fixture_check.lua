-- fixture_check.lua FIXTURE: checks that a fixture is a consistent cluster: unique uids, owners
-- that exist, pods on nodes that exist with IPs from the node's podCIDR and tolerating its
-- NoSchedule and NoExecute taints (as the scheduler placed them; not mirror pods), flannel nodes
-- whose annotations cm.flannel can read, DaemonSets with one pod per node.
local flannel = require "cm.flannel"
local ip = require "cm.ip"
local t = require "t"
local yaml = require "cm.yaml"

local path = assert(arg[1], "usage: fixture_check.lua FIXTURE")
local f = assert(io.open(path, "rb"))
local list = assert(yaml.decode(f:read("a"), path))
f:close()
t.eq(list.kind, "List")

local by_uid, nodes, pods_by_owner = {}, {}, {}
for _, o in ipairs(list.items) do
   t.eq(by_uid[o.metadata.uid], nil, "unique uid " .. o.metadata.uid)
   by_uid[o.metadata.uid] = o
   if o.kind == "Node" then nodes[o.metadata.name] = o end
end
local node_list = {}
for _, n in pairs(nodes) do node_list[#node_list + 1] = n end
t.eq(#node_list > 0, true, "has nodes")
-- the annotation prefix flanneld runs with (its --kube-annotation-prefix)
local prefix
for _, o in ipairs(list.items) do
   if o.kind == "DaemonSet" and o.spec.template.metadata.labels.app == "flannel" then
      for _, c in ipairs(o.spec.template.spec.containers) do
         for _, a in ipairs(c.args or {}) do prefix = a:match("^%-%-kube%-annotation%-prefix=(.+)$") or prefix end
      end
   end
end
for _, n in ipairs(node_list) do
   local info, err = flannel.node_info(n, prefix)
   t.eq(err, nil, "flannel annotations of " .. n.metadata.name)
   t.eq(info and info.backend_type, "vxlan")
end
--- Whether a toleration of the pod matches the taint (the scheduler's rule).
local function tolerates(pod, taint)
   for _, tl in ipairs(pod.spec.tolerations or {}) do
      local key = tl.key == nil or tl.key == "" or tl.key == taint.key
      local value = tl.operator == "Exists" or (tl.value or "") == (taint.value or "")
      local effect = tl.effect == nil or tl.effect == "" or tl.effect == taint.effect
      if (tl.key ~= nil and tl.key ~= "" or tl.operator == "Exists") and key and value and effect then return true end
   end
   return false
end
for _, o in ipairs(list.items) do
   for _, ref in ipairs(o.metadata.ownerReferences or {}) do
      local owner = by_uid[ref.uid]
      t.eq(owner and owner.metadata.name, ref.name, ("owner of %s %s"):format(o.kind, o.metadata.name))
      pods_by_owner[ref.uid] = (pods_by_owner[ref.uid] or 0) + (o.kind == "Pod" and 1 or 0)
   end
   if o.kind == "Pod" then
      local n = nodes[o.spec.nodeName]
      t.eq(n ~= nil, true, "node of pod " .. o.metadata.name)
      local mirror = (o.metadata.ownerReferences or {})[1] and o.metadata.ownerReferences[1].kind == "Node"
      for _, taint in ipairs(n and not mirror and n.spec.taints or {}) do
         if taint.effect == "NoSchedule" or taint.effect == "NoExecute" then
            t.eq(tolerates(o, taint), true, ("pod %s tolerates node %s's taint %s:%s"):format(o.metadata.name,
               n.metadata.name, taint.key, taint.effect))
         end
      end
      if n and not o.spec.hostNetwork then
         t.eq(ip.contains(n.spec.podCIDR, o.status.podIP), true, ("pod %s IP %s in %s"):format(o.metadata.name,
            o.status.podIP, n.spec.podCIDR))
      elseif n then
         t.eq(o.status.podIP, n.status.addresses[1].address, "hostNetwork pod IP " .. o.metadata.name)
      end
   end
end
for _, o in ipairs(list.items) do
   if o.kind == "DaemonSet" then
      local want = o.spec.template.spec.nodeSelector and o.status.desiredNumberScheduled or #node_list
      t.eq(pods_by_owner[o.metadata.uid] or 0, want, "one pod per selected node for " .. o.metadata.name)
      t.eq(o.status.numberReady, want)
   elseif o.kind == "ReplicaSet" or o.kind == "StatefulSet" then
      t.eq(pods_by_owner[o.metadata.uid], o.spec.replicas, "replicas of " .. o.metadata.name)
   end
end
t.done()
