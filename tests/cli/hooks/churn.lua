--- A site hook file for tests/cli/test_node_churn.sh: the cluster changes under a running migration.
--- Once control-plane-1 is drained (CHURN_JOIN_EARLY=1: as worker-1's drain starts), worker-4 joins
--- (a copy of worker-3 with its own podCIDR, addresses and VTEP MAC); as worker-2's drain starts,
--- worker-2 is deleted.
local function node_ref(name) return { apiVersion = "v1", kind = "Node", name = name } end

--- worker-4 joins: a copy of worker-3 as flanneld would have annotated it (the simulated flanneld
--- annotates no node), without the migration's label.
local function join(ctx)
   local n = assert(ctx.c:get(node_ref("worker-3")))
   local md = n.metadata
   local ann = md.annotations
   ann["flannel.alpha.coreos.com/backend-data"] = '{"VNI":1,"VtepMAC":"9e:3a:7c:00:00:09"}'
   ann["flannel.alpha.coreos.com/public-ip"] = "192.168.1.19"
   for k in pairs(ann) do if k:match("^projectcalico%.org/") or k:match("^cni%-migrate%.dev/") then ann[k] = nil end end
   md.labels["kubernetes.io/hostname"] = "worker-4"
   md.labels["projectcalico.org/node-network-during-migration"] = nil
   local node4 = { apiVersion = "v1", kind = "Node", metadata = { name = "worker-4", labels = md.labels,
      annotations = ann }, spec = { podCIDR = "10.244.9.0/24", podCIDRs = { "10.244.9.0/24" } },
      status = n.status }
   node4.status.addresses = { { type = "InternalIP", address = "192.168.1.19" }, { type = "Hostname", address = "worker-4" } }
   assert(ctx.c:create(node4))
end

-- CHURN_JOIN_EARLY=1: worker-4 joins as worker-1's drain starts, so that the pods it evicts may
-- be scheduled there
local early = os.getenv("CHURN_JOIN_EARLY") == "1"

return {
   after_step = function(ctx, node, step)
      if not early and node and node.metadata.name == "control-plane-1" and step == "drain" then join(ctx) end
   end,
   before_step = function(ctx, node, step)
      if early and node and node.metadata.name == "worker-1" and step == "drain" then join(ctx) end
      if node and node.metadata.name == "worker-2" and step == "drain" then
         assert(ctx.c:delete(node_ref("worker-2")))
      end
   end,
}
