-- count_migrated.lua: prints how many nodes of the cluster (the kubeconfig's) carry the
-- cni-migrate.dev/migrated annotation, for scripts/bench-controller.sh.
local c = require("cm.k8s").client()
local n = 0
for page in c:pages { apiVersion = "v1", kind = "Node", limit = 500 } do
   for _, node in ipairs(assert(page).items) do
      local a = node.metadata.annotations
      if a and a["cni-migrate.dev/migrated"] then n = n + 1 end
   end
end
print(n)
