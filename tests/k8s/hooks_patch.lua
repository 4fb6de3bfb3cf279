--- Applies a merge patch to one object, for the hook tests' set-up (labels on nodes, a Deployment):
---   cni-migrate --fake IN.yaml --fake-save OUT.yaml run hooks_patch.lua KIND NAMESPACE|- NAME JSON
local json = require "cm.json"
local k8s = require "cm.k8s"

local kind, ns, name, patch = ...
local api = { Node = "v1", Deployment = "apps/v1" }
assert(api[kind] and patch, "usage: hooks_patch.lua Node|Deployment NAMESPACE|- NAME JSON")
local c = assert(k8s.client { qps = -1 })
assert(c:patch({ apiVersion = api[kind], kind = kind, namespace = ns ~= "-" and ns or nil, name = name },
   assert(json.decode(patch)), { type = "merge" }))
