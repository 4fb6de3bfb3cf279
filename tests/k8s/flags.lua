-- The run's Kubernetes flags reach k8s.client(): flags.lua CONTEXT NAMESPACE DRY_RUN(true|false)
local k8s = require "cm.k8s"
local kt = require "kt"
local t = require "t"

local context, namespace, dry = arg[1], arg[2], arg[3] == "true"
kt.control { tokens = { "tok", "tok2" } }
local c = assert(k8s.client())
t.eq(c:info().context, context)
t.eq(c:info().namespace, namespace)
kt.reset()
local made = assert(c:create { apiVersion = "v1", kind = "ConfigMap", metadata = { name = "flagged" } })
t.eq(made.metadata.namespace, namespace)
local r = kt.requests()[#kt.requests()]
t.eq(r.path, "/api/v1/namespaces/" .. namespace .. "/configmaps")
t.eq(kt.query(r, "dryRun"), dry and "All" or nil)
local _, _, reason = c:get { apiVersion = "v1", kind = "ConfigMap", name = "flagged" }
t.eq(reason, dry and "NotFound" or nil, "created unless dry run")
if not dry then assert(c:delete { apiVersion = "v1", kind = "ConfigMap", name = "flagged" }) end
t.done()
