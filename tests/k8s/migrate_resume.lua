--- Resume of the cluster preparation: the first run dies right after its Nth API write (as kill -9
--- would: the write reached the cluster, nothing after it ran), a second run goes on from what is
--- in the cluster. Prints the end state with the fields that differ between runs anyway
--- (resourceVersion, uid, timestamps, sequence numbers) blanked, for tests/cli/test_migrate.sh to
--- compare with an uninterrupted run's (N = 0). Prints "writes W" with the first run's write count.
local config = require "cm.config"
local json = require "cm.json"
local k8s = require "cm.k8s"
local plan = require "cm.plan"
local prepare = require "cm.prepare"

local N = math.tointeger(tonumber((...) or "0"))
local real = assert(k8s.client { qps = -1 })

--- A client whose writes after the Nth raise "crash", as if the process had died.
local function crashing(limit)
   local writes = 0
   local proxy = {}
   for _, m in ipairs { "get", "list", "watch", "info", "pages" } do
      proxy[m] = function(_, ...) return real[m](real, ...) end
   end
   for _, m in ipairs { "create", "update", "patch", "delete" } do
      proxy[m] = function(_, obj, ...)
         if obj.kind == "SelfSubjectAccessReview" then return real[m](real, obj, ...) end -- stores nothing
         if limit and writes >= limit then error("crash", 0) end
         writes = writes + 1 -- counted when sent: tasks in flight together stop at exactly N
         return real[m](real, obj, ...)
      end
   end
   return proxy, function() return writes end
end

local function prepare_once(c)
   local cfg = assert(config.parse({ "--flannel-mtu", "1450" }, function() return nil end))
   -- the survey writes only node-facts' pods, through cm.node (C), which needs the real client
   local survey = assert(plan.survey(real, cfg))
   prepare.run { c = c, cfg = cfg, snap = survey.snap, step = function() end }
end

local c1, count = crashing(N > 0 and N or nil)
local ok, err = pcall(prepare_once, c1)
if N == 0 then assert(ok, err) end
io.write("writes ", count(), ok and " (finished)" or "", "\n")
if not ok then assert(err == "crash", err) prepare_once(real) end

local G = "crd.projectcalico.org/v1"
local function blank(o)
   local md = o.metadata
   md.resourceVersion, md.uid, md.creationTimestamp, md.generation, md.managedFields = nil, nil, nil, nil, nil
   local ann = md.annotations or {}
   if ann["projectcalico.org/metadata"] then
      ann["projectcalico.org/metadata"] = ann["projectcalico.org/metadata"]:gsub('"creationTimestamp":"[^"]*"',
         '"creationTimestamp":"T"')
   end
   ann["cni-migrate.dev/cordoned"] = ann["cni-migrate.dev/cordoned"] and "T"
   local spec = o.spec or {}
   if spec.affinityClaimTime then spec.affinityClaimTime = "T" end
   if spec.sequenceNumber then
      local base = spec.sequenceNumber
      for k, v in pairs(spec.sequenceNumberForAllocation or {}) do spec.sequenceNumberForAllocation[k] = v - base end
      spec.sequenceNumber = 0
   end
   return o
end
local out = {}
for _, kind in ipairs { "IPPool", "FelixConfiguration", "BlockAffinity", "IPAMBlock", "IPAMHandle" } do
   for _, o in ipairs(assert(real:list { apiVersion = G, kind = kind }).items) do
      out[#out + 1] = kind .. " " .. json.encode(blank(o))
   end
end
for _, n in ipairs(assert(real:list { apiVersion = "v1", kind = "Node" }).items) do
   out[#out + 1] = "Node " .. json.encode { name = n.metadata.name, labels = n.metadata.labels,
      annotations = n.metadata.annotations, unschedulable = n.spec.unschedulable or false }
end
local mc = assert(real:get { apiVersion = "v1", kind = "ConfigMap", namespace = "kube-system",
   name = "flannel-migration-config" })
mc.data["cni-migrate.started"] = "T"
out[#out + 1] = "flannel-migration-config " .. json.encode(mc.data)
out[#out + 1] = "calico-config veth_mtu " .. assert(real:get { apiVersion = "v1", kind = "ConfigMap",
   namespace = "kube-system", name = "calico-config" }).data.veth_mtu
out[#out + 1] = "flannel selector " .. json.encode(assert(real:get { apiVersion = "apps/v1", kind = "DaemonSet",
   namespace = "kube-flannel", name = "kube-flannel-ds" }).spec.template.spec.nodeSelector)
table.sort(out)
for _, l in ipairs(out) do print(l) end
