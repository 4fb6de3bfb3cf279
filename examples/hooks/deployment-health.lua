--- Site hook: a health gate after every node. Once a node is migrated (or rolled back), wait until
--- a Deployment has all its replicas updated and available again (the pods the drain moved are
--- back), watching it, for at most HEALTH_TIMEOUT seconds; if it does not get there, the run
--- stops (exit 1, the node annotated cni-migrate.dev/failed "health: ..."). Running it again asks
--- this gate about that node first, then goes on.
---
---   HEALTH_DEPLOYMENT=apps/web cni-migrate migrate --hooks examples/hooks/deployment-health.lua
local time = require "cm.time"

local TARGET = os.getenv("HEALTH_DEPLOYMENT") or "apps/web"
local TIMEOUT = tonumber(os.getenv("HEALTH_TIMEOUT") or "300")
local NS, NAME = TARGET:match("^([%w.-]+)/([%w.-]+)$")
assert(NS, ("HEALTH_DEPLOYMENT=%q: expected NAMESPACE/NAME"):format(TARGET))
assert(TIMEOUT and TIMEOUT > 0, "HEALTH_TIMEOUT: expected seconds")

--- Whether every replica is updated and available, as `kubectl rollout status` decides.
local function ready(d)
   local st, want = d.status or {}, d.spec.replicas or 1
   return (st.observedGeneration or 0) >= (d.metadata.generation or 1) and (st.updatedReplicas or 0) >= want
      and (st.availableReplicas or 0) >= want and (st.replicas or 0) == want
end

local function counts(d)
   local st = d.status or {}
   return ("%d/%d available, %d updated"):format(st.availableReplicas or 0, d.spec.replicas or 1,
      st.updatedReplicas or 0)
end

return {
   health = function(ctx, node)
      local ref = { apiVersion = "apps/v1", kind = "Deployment", namespace = NS, name = NAME }
      local d, msg, code = ctx.c:get(ref)
      if not d then return false, ("Deployment %s: %s (%s)"):format(TARGET, msg, code) end
      local t0 = time.now()
      while not ready(d) do
         local left = TIMEOUT - (time.now() - t0)
         if left <= 0 then
            return false, ("Deployment %s: %s after %ds (node %s)"):format(TARGET, counts(d), TIMEOUT,
               node.metadata.name)
         end
         for ev in ctx.c:watch { apiVersion = "apps/v1", kind = "Deployment", namespace = NS,
            fieldSelector = "metadata.name=" .. NAME, resourceVersion = d.metadata.resourceVersion, timeout = left } do
            if ev.type == "ERROR" then return false, ("Deployment %s: watch: %s"):format(TARGET, ev.message) end
            local o = ev.type == "RELIST" and (ev.object.items or {})[1] or ev.object
            if ev.type == "DELETED" or not o then return false, ("Deployment %s was deleted"):format(TARGET) end
            d = o
            if ready(d) then break end
         end
      end
      ctx.log.info("health: Deployment ready", { deployment = TARGET, node = node.metadata.name,
         waited = ("%.1fs"):format(time.now() - t0), replicas = counts(d) })
   end,
}
