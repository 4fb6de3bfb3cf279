--- cm.checks: the preflight checks of a migration, over what cm.cluster read. Each check gives
--- results {check, result = "ok"|"warning"|"blocker"|"skipped", object, message, fix}. Nothing
--- here writes to the cluster (the RBAC check asks SelfSubjectAccessReviews, which store nothing).
local calico = require "cm.calico"
local cluster = require "cm.cluster"
local flannel = require "cm.flannel"
local ip = require "cm.ip"

local M = {}

--- The permissions a migration uses: {group, resource, verb[, subresource]}; exactly what the
--- ClusterRole of examples/deploy/migration-job.yaml grants (tests/cli/test_deploy.sh).
M.PERMISSIONS = {
   { "", "nodes", "get" }, { "", "nodes", "list" }, { "", "nodes", "watch" }, { "", "nodes", "patch" },
   { "", "pods", "get" }, { "", "pods", "list" }, { "", "pods", "watch" }, { "", "pods", "create" },
   { "", "pods", "delete" }, { "", "pods", "deletecollection" }, { "", "pods", "create", "eviction" },
   { "", "pods", "get", "log" },
   { "", "configmaps", "get" }, { "", "configmaps", "watch" }, { "", "configmaps", "create" },
   { "", "configmaps", "patch" },
   { "apps", "daemonsets", "get" }, { "apps", "daemonsets", "watch" }, { "apps", "daemonsets", "patch" },
   { "apps", "daemonsets", "delete" },
   { "policy", "poddisruptionbudgets", "list" }, { "", "events", "create" },
   { "coordination.k8s.io", "leases", "get" }, { "coordination.k8s.io", "leases", "watch" },
   { "coordination.k8s.io", "leases", "create" }, { "coordination.k8s.io", "leases", "patch" },
   { "crd.projectcalico.org", "ippools", "list" }, { "crd.projectcalico.org", "ippools", "create" },
   { "crd.projectcalico.org", "blockaffinities", "list" }, { "crd.projectcalico.org", "blockaffinities", "create" },
   { "crd.projectcalico.org", "ipamblocks", "create" }, { "crd.projectcalico.org", "ipamhandles", "create" },
   { "crd.projectcalico.org", "felixconfigurations", "get" },
   { "crd.projectcalico.org", "felixconfigurations", "create" },
   { "crd.projectcalico.org", "felixconfigurations", "patch" },
}

--- Every check's name, of preflight and of rollback: what --skip accepts (cm.config), and the only
--- names a result can carry.
M.NAMES = {}
for _, name in ipairs { "active-cni", "addon-managed", "backend-vxlan", "block-affinity", "calico-config",
   "calico-crds", "calico-manifest", "cordoned", "direct-routing", "flannel-config", "flannel-daemonset",
   "flannel-image", "flannel-version", "ippool", "kube-subnet-mgr", "net-conf", "node-annotations", "node-facts",
   "node-podcidr", "node-ready", "node-vxlan", "pdb", "rbac", "rp-filter", "schedulable", "settings",
   "subnet-env", "vtep-mac" } do
   M.NAMES[name] = true
end

local Results = {}
Results.__index = Results

local function new_results(skip)
   return setmetatable({ list = {}, skip = skip or {} }, Results)
end

--- An empty list of results (procedures with checks of their own: rollback).
---@param skip table|nil {check = true}: blockers of these checks become "skipped"
M.results = new_results

function Results:add(check, result, object, message, fix)
   assert(M.NAMES[check], "unknown check name " .. tostring(check))
   if result == "blocker" and self.skip[check] then result = "skipped" end
   self.list[#self.list + 1] = { check = check, result = result, object = object or "-", message = message,
      fix = fix }
end

function Results:ok(check, object, message) self:add(check, "ok", object, message) end

--- Counts by result.
function Results:counts()
   local n = { ok = 0, warning = 0, blocker = 0, skipped = 0 }
   for _, r in ipairs(self.list) do n[r.result] = n[r.result] + 1 end
   return n
end

local function names(list, max)
   max = max or 5
   local out = {}
   for i = 1, math.min(#list, max) do out[i] = list[i] end
   local s = table.concat(out, ", ")
   if #list > max then s = s .. (", and %d more"):format(#list - max) end
   return s
end

local function ds_name(ds) return ds.metadata.namespace .. "/" .. ds.metadata.name end

--- flannel: found, not addon-managed, version, kube-subnet-mgr, VXLAN without DirectRouting.
local function check_flannel(r, s)
   if not s.flannel_ds then
      r:add("flannel-daemonset", "blocker", "DaemonSet", "no flannel or Canal DaemonSet (looked for "
         .. table.concat(s.looked, ", ") .. ")", "set FLANNEL_DAEMONSET_NAME and FLANNEL_DAEMONSET_NAMESPACE")
      return
   end
   local fi, obj = s.flannel_info, "DaemonSet " .. ds_name(s.flannel_ds)
   r:ok("flannel-daemonset", obj, (fi.canal and "Canal" or "flannel") .. " " .. tostring(fi.version or "?"))
   if fi.addon then
      r:add("addon-managed", "blocker", obj, ("label %s=%s: the addon manager would undo the migration's "
         .. "changes"):format(flannel.ADDON_LABEL, fi.addon), "remove flannel from the addon manager first")
   else
      r:ok("addon-managed", obj, "not managed by the addon manager")
   end
   if not fi.version then
      r:add("flannel-version", "warning", obj, "flannel's version is not known from its image",
         "check that flannel is v0.14 or later")
   elseif flannel.compare_versions(fi.version, "v0.14.0") < 0 then
      r:add("flannel-version", "warning", obj, ("flannel %s: before v0.14 backend-data has no VNI and a "
         .. "restarted flanneld may change its VTEP MAC"):format(fi.version), "upgrade flannel first")
   else
      r:ok("flannel-version", obj, "flannel " .. fi.version)
   end
   if fi.etcd or not fi.kube_subnet_mgr then
      r:add("kube-subnet-mgr", "blocker", obj, "flanneld does not run with --kube-subnet-mgr (etcd subnet "
         .. "manager): node podCIDRs are not flannel's subnets", "only kube-subnet-mgr clusters can be migrated")
   else
      r:ok("kube-subnet-mgr", obj, "--kube-subnet-mgr")
   end
   if not s.flannel_cm then
      r:add("net-conf", "blocker", obj, "flannel's ConfigMap is missing", "restore kube-flannel-cfg")
   elseif not s.net_conf then
      r:add("net-conf", "blocker", "ConfigMap " .. s.flannel_cm.metadata.name, tostring(s.net_conf_err
         or "no net-conf.json"), "fix net-conf.json")
   else
      local nc, cmo = s.net_conf, "ConfigMap " .. s.flannel_cm.metadata.namespace .. "/" .. s.flannel_cm.metadata.name
      if nc.backend_type ~= "vxlan" then
         r:add("backend-vxlan", "blocker", cmo, ("backend %s: only VXLAN can be migrated in place"):format(
            nc.backend_type), "switch flannel to the vxlan backend first")
      else
         r:ok("backend-vxlan", cmo, "vxlan, VNI " .. nc.vni .. ", port " .. nc.port)
      end
      if nc.raw.Backend and nc.raw.Backend.DirectRouting then
         r:add("direct-routing", "blocker", cmo, "Backend.DirectRouting is on: same-subnet peers route "
            .. "without VXLAN, which Calico's VXLAN mode does not do", "turn DirectRouting off first")
      else
         r:ok("direct-routing", cmo, "off")
      end
   end
end

--- Calico's manifest: DaemonSet with the migration nodeSelector, CRDs, calico-config.
local function check_calico(r, s, cfg)
   local v = cfg.values
   local obj = ("DaemonSet %s/%s"):format(v.CALICO_DAEMONSET_NAMESPACE, v.CALICO_DAEMONSET_NAME)
   if not s.calico_ds then
      r:add("calico-manifest", "blocker", obj, "Calico's DaemonSet is not installed",
         "kubectl apply Calico's flannel-migration manifest (calico.yaml)")
   else
      local sel = s.calico_ds.spec.template.spec.nodeSelector or {}
      if sel[calico.LABEL_NETWORK] ~= "calico" then
         r:add("calico-manifest", "blocker", obj, ("no nodeSelector %s=calico: calico-node would start on "
            .. "every flannel node at once"):format(calico.LABEL_NETWORK),
            "use Calico's flannel-migration manifest, not the plain one")
      else
         r:ok("calico-manifest", obj, "nodeSelector " .. calico.LABEL_NETWORK .. "=calico")
      end
   end
   if not s.crds then
      r:add("calico-crds", "blocker", "CRD ippools.crd.projectcalico.org", "Calico's CRDs are not installed",
         "kubectl apply Calico's manifest")
   else
      r:ok("calico-crds", "crd.projectcalico.org/v1", "served")
   end
   if not s.calico_config then
      r:add("calico-config", "blocker", "ConfigMap " .. v.CALICO_DAEMONSET_NAMESPACE .. "/calico-config",
         "missing (calico-node reads veth_mtu from it)", "kubectl apply Calico's manifest")
   else
      r:ok("calico-config", "ConfigMap " .. v.CALICO_DAEMONSET_NAMESPACE .. "/calico-config", "present")
   end
end

--- The pool the migration wants, and whether an existing one is compatible (field by field).
local function check_pools(r, s, cfg)
   local want = calico.pool_spec(cfg)
   local found = false
   for _, p in ipairs(s.pools or {}) do
      local obj = "IPPool " .. p.metadata.name
      if p.spec.cidr == want.cidr then
         found = true
         local bad = calico.pool_mismatch(p.spec, want)
         if bad and s.flannel_info and s.flannel_info.canal and p.spec.vxlanMode ~= "Always" then
            r:add("ippool", "warning", obj, ("Canal's pool (%s): it is deleted and created again with "
               .. "vxlanMode Always, as Calico does for Canal"):format(bad), nil)
         elseif bad then
            r:add("ippool", "blocker", obj, "incompatible: " .. bad, "edit or delete the pool")
         else
            r:ok("ippool", obj, "compatible")
         end
      elseif want.cidr ~= "" and (ip.contains(p.spec.cidr, want.cidr) or ip.contains(want.cidr, p.spec.cidr))
         and not p.spec.disabled then
         r:add("ippool", "blocker", obj, ("cidr %s overlaps flannel's network %s"):format(p.spec.cidr, want.cidr),
            "disable or delete the overlapping pool")
         found = true
      end
   end
   if not found then r:ok("ippool", "IPPool " .. calico.POOL_V4, "will be created: " .. want.cidr) end
end

--- Nodes: podCIDR inside the network and not smaller than a block, flannel's annotations,
--- VXLAN on every node, Ready, cordons, and block affinities already held by another node.
local function check_nodes(r, s, cfg)
   local v = cfg.values
   local block = math.max(v.FLANNEL_SUBNET_LEN, v.DEFAULT_IPPOOL_SIZE)
   local bad_cidr, not_flannel, not_vxlan, not_ready, cordoned, schedulable = {}, {}, {}, {}, {}, 0
   local owner = {}
   for _, a in ipairs(s.affinities or {}) do owner[a.spec.cidr] = a.spec.node end
   local conflicts = {}
   for _, n in ipairs(s.nodes) do
      local name = n.metadata.name
      local cidr = n.spec and n.spec.podCIDR
      local c = cidr and ip.cidr(cidr)
      if not c then
         bad_cidr[#bad_cidr + 1] = name .. " (no podCIDR)"
      elseif v.FLANNEL_NETWORK ~= "" and not ip.contains(v.FLANNEL_NETWORK, cidr) then
         bad_cidr[#bad_cidr + 1] = ("%s (%s outside %s)"):format(name, cidr, v.FLANNEL_NETWORK)
      elseif c.prefix > block then
         bad_cidr[#bad_cidr + 1] = ("%s (%s smaller than a /%d block)"):format(name, cidr, block)
      else
         for _, b in ipairs(calico.blocks(cidr, block)) do
            if owner[b] and owner[b] ~= name then
               conflicts[#conflicts + 1] = ("block %s of %s is affine to %s"):format(b, name, owner[b])
            end
         end
      end
      local info = flannel.node_info(n, v.FLANNEL_ANNOTATION_PREFIX)
      if not info then
         not_flannel[#not_flannel + 1] = name
      elseif info.backend_type ~= "vxlan" then
         not_vxlan[#not_vxlan + 1] = ("%s (%s)"):format(name, tostring(info.backend_type))
      end
      if cluster.node_ready(n) ~= "True" then not_ready[#not_ready + 1] = name end
      if n.spec.unschedulable then
         if not (n.metadata.annotations or {})["cni-migrate.dev/cordoned"] then cordoned[#cordoned + 1] = name end
      else
         schedulable = schedulable + 1
      end
   end
   local function report(check, list, what, fix, severity)
      if #list > 0 then
         r:add(check, severity or "blocker", ("%d node(s)"):format(#list), what .. ": " .. names(list), fix)
      else
         r:ok(check, ("%d node(s)"):format(#s.nodes), "all")
      end
   end
   report("node-podcidr", bad_cidr, "podCIDR not usable", "every node needs a podCIDR inside FLANNEL_NETWORK, "
      .. "no smaller than DEFAULT_IPPOOL_SIZE")
   report("node-annotations", not_flannel, ("no valid %s annotations"):format(v.FLANNEL_ANNOTATION_PREFIX),
      "wait for flannel to run there, or set FLANNEL_ANNOTATION_PREFIX")
   report("node-vxlan", not_vxlan, "backend-type is not vxlan", "switch those nodes' flannel to vxlan")
   report("node-ready", not_ready, "NotReady", "bring the nodes back or delete them")
   report("cordoned", cordoned, "cordoned by someone else (left cordoned after migration)", nil, "warning")
   report("block-affinity", conflicts, "blocks already affine to another node",
      "release those blocks (calicoctl ipam release) or fix the podCIDRs")
   if schedulable <= 1 and #s.nodes > 0 then
      r:add("schedulable", "warning", ("%d node(s)"):format(#s.nodes), ("%d schedulable node: the pods "
         .. "drained from a node have nowhere else to run while it migrates"):format(schedulable), nil)
   else
      r:ok("schedulable", ("%d node(s)"):format(#s.nodes), schedulable .. " schedulable")
   end
end

--- PodDisruptionBudgets that would block a drain now: a blocker before a migration starts, a
--- warning once it has (its own evictions took the budget: the drains wait for it to come back).
local function check_pdbs(r, s)
   local blocking = {}
   for _, p in ipairs(s.pdbs) do
      local st = p.status or {}
      if (st.expectedPods or 0) > 0 and (st.disruptionsAllowed or 0) == 0 then
         blocking[#blocking + 1] = ("%s/%s (disruptionsAllowed 0, %d/%d healthy)"):format(p.metadata.namespace,
            p.metadata.name, st.currentHealthy or 0, st.desiredHealthy or 0)
      end
   end
   if #blocking > 0 and s.started then
      r:add("pdb", "warning", ("%d PodDisruptionBudget(s)"):format(#blocking), "would block drains now: "
         .. names(blocking) .. "; the migration is under way (its evictions count), so the drains wait for them",
         nil)
   elseif #blocking > 0 then
      r:add("pdb", "blocker", ("%d PodDisruptionBudget(s)"):format(#blocking), "would block drains now: "
         .. names(blocking), "scale the workload up or relax the budget (or --skip pdb: drains wait for it)")
   else
      r:ok("pdb", ("%d PodDisruptionBudget(s)"):format(#s.pdbs), "none blocks a drain now")
   end
end

--- The settings: contradictions, and what could not be found.
local function check_settings(r, cfg, contradictions, disagreements)
   for _, c in ipairs(contradictions) do
      r:add("settings", "blocker", c.name, ("%s says %s but %s says %s"):format(c.source, tostring(c.value),
         c.observed_source, tostring(c.observed)), "set " .. c.name .. " to what flannel runs with, or leave it unset")
   end
   for _, d in ipairs(disagreements) do
      local parts = {}
      for _, e in ipairs(d.list) do parts[#parts + 1] = ("%s says %s"):format(e.source, tostring(e.value)) end
      r:add("settings", "blocker", d.name, "the cluster disagrees with itself: " .. table.concat(parts, "; "),
         "find which is right and set " .. d.name)
   end
   if cfg.values.FLANNEL_NETWORK == "" then
      r:add("settings", "blocker", "FLANNEL_NETWORK", "flannel's network is not known", "set FLANNEL_NETWORK")
   end
   if cfg.values.FLANNEL_MTU == 0 then
      r:add("settings", "blocker", "FLANNEL_MTU", "flannel's MTU is not known (no subnet.env, no Backend.MTU)",
         "set FLANNEL_MTU (subnet.env's FLANNEL_MTU, the interface MTU - 50)")
   end
   if cfg.values.FLANNEL_IPV6_NETWORK ~= "" then
      r:add("settings", "blocker", "FLANNEL_IPV6_NETWORK", ("flannel runs IPv6 (%s): this version migrates IPv4 "
         .. "only (no v6 VTEP, blocks or pool)"):format(cfg.values.FLANNEL_IPV6_NETWORK), "migrate IPv4-only clusters")
   end
   if #contradictions == 0 and #disagreements == 0 and cfg.values.FLANNEL_NETWORK ~= ""
      and cfg.values.FLANNEL_MTU ~= 0 then
      r:ok("settings", "-", "consistent")
   end
end

--- What node-facts found on each node: rp_filter Felix accepts, subnet.env agreeing with the
--- settings, flannel's CNI config active, flannel.VNI's MAC as the node's annotation says.
local function check_facts(r, s, cfg)
   if not s.facts then
      r:add("node-facts", "warning", "nodes", "not read (a dry run runs no node scripts): "
         .. "rp_filter, subnet.env, the active CNI config and flannel's VTEP MAC were not checked", nil)
      return
   end
   local v = cfg.values
   local failed, rpf, envbad, cni, mac, count = {}, {}, {}, {}, {}, 0
   local by_name = {}
   for _, n in ipairs(s.nodes) do by_name[n.metadata.name] = n end
   local order = {}
   for name in pairs(s.facts) do order[#order + 1] = name end
   table.sort(order)
   for _, name in ipairs(order) do
      local f = s.facts[name]
      count = count + 1
      if f.error then
         failed[#failed + 1] = ("%s (%s)"):format(name, f.error)
      else
         local sys = f.sysctls or {}
         if sys["net.ipv4.conf.all.rp_filter"] == "2" or sys["net.ipv4.conf.all.rp_filter"] == 2 then
            rpf[#rpf + 1] = name
         end
         local env = f.subnet_env
         if type(env) ~= "table" then
            if not (s.flannel_info and s.flannel_info.canal) then envbad[#envbad + 1] = name .. " (no subnet.env)" end
         elseif env.FLANNEL_NETWORK ~= v.FLANNEL_NETWORK or tonumber(env.FLANNEL_MTU) ~= v.FLANNEL_MTU then
            envbad[#envbad + 1] = ("%s (%s, MTU %s)"):format(name, tostring(env.FLANNEL_NETWORK),
               tostring(env.FLANNEL_MTU))
         end
         local active = f.cni and f.cni.active or ""
         if not (active:find("flannel", 1, true) or active:find("canal", 1, true)) then
            cni[#cni + 1] = ("%s (%s)"):format(name, active ~= "" and active or "none")
         end
         local info = by_name[name] and flannel.node_info(by_name[name], v.FLANNEL_ANNOTATION_PREFIX)
         local have = f.flannel and f.flannel.mac
         if info and (not have or have:lower() ~= info.vtep_mac) then
            mac[#mac + 1] = ("%s (flannel.%d %s, annotation %s)"):format(name, v.FLANNEL_VNI, tostring(have),
               info.vtep_mac)
         end
      end
   end
   local what = ("%d node(s)"):format(count)
   local function report(check, list, text, fix, severity)
      if #list > 0 then r:add(check, severity or "blocker", what, text .. ": " .. names(list), fix)
      else r:ok(check, what, "all") end
   end
   report("node-facts", failed, "node-facts failed", "see the node-run pod's log")
   report("rp-filter", rpf, "net.ipv4.conf.all.rp_filter=2 (loose): Felix refuses to start",
      "set rp_filter to 0 or 1, or FELIX_IGNORELOOSERPF=true")
   report("subnet-env", envbad, "subnet.env disagrees with the settings", "check FLANNEL_NETWORK and FLANNEL_MTU")
   report("active-cni", cni, "flannel's CNI config is not the active one", "check /etc/cni/net.d", "warning")
   report("vtep-mac", mac, "flannel's device MAC differs from its backend-data annotation: peers would "
      .. "send to the wrong MAC once Calico takes over", "restart flanneld on those nodes so it re-annotates")
end

--- The RBAC the run needs, by SelfSubjectAccessReview where it is served.
local function check_rbac(r, c)
   local denied = {}
   for _, p in ipairs(M.PERMISSIONS) do
      local review, msg, code = c:create({ apiVersion = "authorization.k8s.io/v1",
         kind = "SelfSubjectAccessReview", metadata = {},
         spec = { resourceAttributes = { group = p[1], resource = p[2], verb = p[3], subresource = p[4] } } })
      if not review then
         if code == "NotFound" then
            r:add("rbac", "warning", "SelfSubjectAccessReview", "not served: permissions not checked", nil)
            return
         end
         r:add("rbac", "warning", "SelfSubjectAccessReview", "failed: " .. tostring(msg), nil)
         return
      end
      if not (review.status and review.status.allowed) then
         denied[#denied + 1] = ("%s %s%s%s"):format(p[3], p[1] ~= "" and p[1] .. "/" or "", p[2],
            p[4] and "/" .. p[4] or "")
      end
   end
   if #denied > 0 then
      r:add("rbac", "blocker", "this account", "not allowed: " .. names(denied, 8),
         "grant the ClusterRole of examples/deploy/migration-job.yaml")
   else
      r:ok("rbac", "this account", #M.PERMISSIONS .. " permissions allowed")
   end
end

--- Runs every check.
---@param c userdata cm.k8s client (only for the RBAC reviews)
---@param s table cm.cluster.read's result
---@param cfg table resolved settings
---@param contradictions table[] cm.config.resolve's
---@param disagreements table[] cm.cluster.disagreements's
---@return table results with :counts()
function M.run(c, s, cfg, contradictions, disagreements)
   local r = new_results(cfg.opts.skip)
   check_settings(r, cfg, contradictions, disagreements)
   check_flannel(r, s)
   check_calico(r, s, cfg)
   if s.crds then check_pools(r, s, cfg) end
   check_nodes(r, s, cfg)
   check_pdbs(r, s)
   check_facts(r, s, cfg)
   check_rbac(r, c)
   return r
end

--- The results as a table a person reads.
---@param r table
---@return string
function M.format(r)
   local out = { ("%-18s %-8s %-34s %s"):format("CHECK", "RESULT", "OBJECT", "DETAIL") }
   for _, x in ipairs(r.list) do
      out[#out + 1] = ("%-18s %-8s %-34s %s"):format(x.check, x.result, x.object, x.message)
      if x.fix and x.result ~= "ok" then out[#out + 1] = ("%-62s fix: %s"):format("", x.fix) end
   end
   local n = r:counts()
   out[#out + 1] = ("%d ok, %d warning(s), %d blocker(s), %d skipped"):format(n.ok, n.warning, n.blocker,
      n.skipped)
   return table.concat(out, "\n")
end

return M
