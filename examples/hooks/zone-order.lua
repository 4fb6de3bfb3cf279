--- Site hook: migrate one zone at a time. The nodes are ordered by their topology.kubernetes.io/zone
--- label (zones by name, nodes without one last), keeping the run's own order inside a zone
--- (workers by name, then control planes); the controller's own node still goes last. With the
--- default --max-unavailable 1, a zone is done before the next one starts.
---
---   cni-migrate migrate --hooks examples/hooks/zone-order.lua
---
--- ZONE_LABEL names another label (failure-domain.beta.kubernetes.io/zone on old clusters).
local LABEL = os.getenv("ZONE_LABEL") or "topology.kubernetes.io/zone"

return {
   order = function(ctx, nodes)
      local rank, zones = {}, {}
      for i, n in ipairs(nodes) do
         rank[n] = i
         local z = (n.metadata.labels or {})[LABEL]
         if z and not zones[z] then zones[z], zones[#zones + 1] = true, z end
      end
      table.sort(zones)
      local zone_rank = {}
      for i, z in ipairs(zones) do zone_rank[z] = i end
      local out = table.move(nodes, 1, #nodes, 1, {})
      table.sort(out, function(a, b)
         local za = zone_rank[(a.metadata.labels or {})[LABEL]] or #zones + 1
         local zb = zone_rank[(b.metadata.labels or {})[LABEL]] or #zones + 1
         if za ~= zb then return za < zb end
         return rank[a] < rank[b]
      end)
      local names = {}
      for _, n in ipairs(out) do names[#names + 1] = n.metadata.name end
      ctx.log.info("zone-order: nodes by zone", { order = table.concat(names, " ") })
      return out
   end,
}
