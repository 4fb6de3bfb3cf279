--- A node that went NotReady comes back, as its kubelet would post when it returns: Ready and
--- the other conditions True/False again, the unreachable taints gone.
---   cni-migrate --fake SAVED.yaml --fake-save BACK.yaml run node_back.lua NODE
local k8s = require "cm.k8s"
local name = assert(..., "usage: node_back.lua NODE")
local c = assert(k8s.client { qps = -1 })
local ref = { apiVersion = "v1", kind = "Node", name = name }
local n = assert(c:get(ref))
local taints = {}
for _, t in ipairs(n.spec.taints or {}) do
   if t.key ~= "node.kubernetes.io/unreachable" then taints[#taints + 1] = t end
end
assert(c:patch(ref, { spec = { taints = taints } }, { type = "merge" }))
local conds = {}
for _, cd in ipairs(n.status.conditions or {}) do
   cd.status = cd.type == "Ready" and "True" or "False"
   cd.reason, cd.message = cd.type == "Ready" and "KubeletReady" or nil, nil
   conds[#conds + 1] = cd
end
assert(c:patch({ apiVersion = "v1", kind = "Node", name = name, subresource = "status" },
   { status = { conditions = conds } }, { type = "merge" }))
print("back: " .. name)
