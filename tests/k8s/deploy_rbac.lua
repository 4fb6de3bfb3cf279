-- deploy_rbac.lua MANIFEST TRACE...: the Job of MANIFEST has what a controller's Job needs (when it
-- has one; the caller checks the printed name, label, image and command),
-- and its ClusterRole grants exactly what the script's requests in the --trace files ask for: each
-- request is allowed by a rule, and each verb of each rule's resources was asked for at least once.
-- Discovery and SelfSubjectAccessReviews are every authenticated user's (system:discovery,
-- system:basic-user), so they need no rule. Prints what it found; raises on the first difference.
local json = require "cm.json"
local yaml = require "cm.yaml"
local t = require "t"

local manifest = arg[1]
local f = assert(io.open(manifest))
local docs = assert(yaml.decode_all(f:read("a"), manifest))
f:close()
local by_kind = {}
for _, d in ipairs(docs) do
   assert(not by_kind[d.kind], manifest .. ": two documents of kind " .. d.kind)
   by_kind[d.kind] = d
end
local sa, role, binding = by_kind.ServiceAccount, by_kind.ClusterRole, by_kind.ClusterRoleBinding
assert(sa and role and binding, manifest .. ": a ServiceAccount, a ClusterRole and a ClusterRoleBinding")
t.eq(binding.roleRef.kind, "ClusterRole")
t.eq(binding.roleRef.name, role.metadata.name)
t.eq(#binding.subjects, 1)
t.eq(binding.subjects[1].kind, "ServiceAccount")
t.eq(binding.subjects[1].name, sa.metadata.name)
t.eq(binding.subjects[1].namespace, sa.metadata.namespace)

local job = by_kind.Job
if job then
   local spec = job.spec.template.spec
   t.eq(job.metadata.namespace, "kube-system")
   t.eq(job.spec.template.metadata.labels["k8s-app"], job.metadata.labels["k8s-app"])
   t.eq(spec.serviceAccountName, sa.metadata.name)
   t.eq(sa.metadata.namespace, "kube-system")
   t.eq(spec.hostNetwork, true)
   t.eq(spec.priorityClassName, "system-cluster-critical")
   t.eq(#spec.tolerations, 1)
   t.eq(spec.tolerations[1].operator, "Exists") -- no key, no effect: every taint
   t.eq(spec.tolerations[1].key, nil)
   t.eq(spec.tolerations[1].effect, nil)
   t.eq(#spec.containers, 1)
   local env = {}
   for _, e in ipairs(spec.containers[1].env) do env[e.name] = e end
   t.eq(env.POD_NODE_NAME.valueFrom.fieldRef.fieldPath, "spec.nodeName")
   t.eq(env.POD_NAME.valueFrom.fieldRef.fieldPath, "metadata.name")
   t.eq(env.POD_NAMESPACE.valueFrom.fieldRef.fieldPath, "metadata.namespace")
   print(("job %s/%s k8s-app=%s: %s %s"):format(job.metadata.namespace, job.metadata.name,
      job.metadata.labels["k8s-app"], spec.containers[1].image, table.concat(spec.containers[1].args, " ")))
end

-- The rule grants: "group/resource verb" -> false (not asked for yet) / true.
local granted = {}
local function key_of(group, resource, verb)
   return ("%s%s %s"):format(group ~= "" and group .. "/" or "", resource, verb)
end
for _, r in ipairs(role.rules) do
   for _, g in ipairs(r.apiGroups) do
      for _, res in ipairs(r.resources) do
         for _, v in ipairs(r.verbs) do
            assert(g ~= "*" and res ~= "*" and v ~= "*", manifest .. ": a wildcard rule")
            granted[key_of(g, res, v)] = false
         end
      end
   end
end

--- The group, resource (with /subresource) of an API path; nil for discovery.
local function attributes(path)
   local group, rest = "", path:match("^/api/v1/?(.*)$")
   if not rest then group, rest = path:match("^/apis/([^/]+)/[^/]+/?(.*)$") end
   if not rest or rest == "" then return nil end
   local parts = {}
   for p in rest:gmatch("[^/]+") do parts[#parts + 1] = p end
   if parts[1] == "namespaces" and #parts > 2 then table.remove(parts, 1); table.remove(parts, 1) end
   return group, parts[1] .. (parts[3] and "/" .. parts[3] or ""), parts[2] == nil
end

local asked, missing = 0, {}
for i = 2, #arg do
   for line in io.lines(arg[i]) do
      local e = json.decode(line)
      if e.actor == "script" and e.path then
         local group, resource, collection = attributes(e.path:match("^[^?]*"))
         if group and resource ~= "selfsubjectaccessreviews" then
            -- RBAC's verb of a DELETE on a collection is deletecollection
            local key = key_of(group, resource, e.verb == "delete" and collection and "deletecollection" or e.verb)
            if granted[key] == nil and not missing[key] then
               missing[key] = true
               missing[#missing + 1] = ("%s (%s %s)"):format(key, e.method, e.path)
            end
            if granted[key] ~= nil then granted[key] = true end
            asked = asked + 1
         end
      end
   end
end
assert(#missing == 0, manifest .. ": the ClusterRole lacks " .. table.concat(missing, ", "))
local unused = {}
for key, used in pairs(granted) do
   if not used then unused[#unused + 1] = key end
end
table.sort(unused)
assert(#unused == 0, manifest .. ": granted but never asked for: " .. table.concat(unused, ", "))
local n = 0
for _ in pairs(granted) do n = n + 1 end
if job and job.spec.template.spec.containers[1].args[1] == "migrate" then
   -- preflight's RBAC check asks for the same permissions
   local checked = {}
   for _, p in ipairs(require("cm.checks").PERMISSIONS) do
      local key = key_of(p[1], p[2] .. (p[4] and "/" .. p[4] or ""), p[3])
      assert(granted[key] ~= nil, "cm.checks.PERMISSIONS has " .. key .. ", which the ClusterRole does not grant")
      checked[key] = true
   end
   for key in pairs(granted) do
      assert(checked[key], "cm.checks.PERMISSIONS lacks " .. key .. ", which the ClusterRole grants")
   end
   print(("preflight checks the same %d permissions"):format(n))
end
print(("%d requests, %d permissions, each used"):format(asked, n))
