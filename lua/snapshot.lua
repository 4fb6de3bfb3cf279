--- snapshot: a fixture of a live cluster, for rehearsing on it (`cni-migrate fake snapshot [-o FILE]`).
---
--- Reads what a rehearsal needs from any cluster cm.k8s reaches: Namespaces, Nodes, Pods, the
--- workload controllers (DaemonSets, Deployments, ReplicaSets, StatefulSets, Jobs) and PDBs,
--- ConfigMaps (flannel's, Calico's, the migration's), Calico's CRDs and every object of them.
--- Secrets are never read; managedFields are left out. Each kind is listed page by page (500 a
--- page), with progress on stderr when it is a terminal. Writes one List (YAML, as
--- `kubectl get -o yaml` prints it) and a FakeCluster document with the delays the cluster shows:
--- flannel's and calico-node's start (pod started to container running) and readiness (running
--- to Ready) times, median over their pods, printed on stderr; a delay the pods do not show is
--- left at the simulation's default (said so). Nodes' hosts are synthesized by the simulation;
--- with --node-facts each Ready node's host is read there by node-facts (a run_on pod, as
--- preflight runs it) and written as FakeCluster spec.hosts, so the simulated hosts start as the
--- real ones.
local cluster = require "cm.cluster"
local k8s = require "cm.k8s"
local node = require "cm.node"
local prepare = require "cm.prepare"
local proc = require "cm.proc"
local yaml = require "cm.yaml"

local USAGE = [[
usage: cni-migrate fake snapshot [-o FILE] [--node-facts] [--kubeconfig FILE] [--context NAME]

Writes a fixture of the cluster (stdout, or FILE written whole or not at all): Namespaces, Nodes,
Pods, DaemonSets, Deployments, ReplicaSets, StatefulSets, Jobs, PodDisruptionBudgets, ConfigMaps,
Calico's CRDs and their objects; no Secrets, no managedFields; and a FakeCluster document with the
delays the cluster shows (printed on stderr). Rehearse on it: cni-migrate migrate --fake FILE

  --node-facts   each Ready node's host (links, addresses, routes, neighbours, FDB entries,
                 sysctls, CNI files, subnet.env, flannel's and Calico's iptables chains) read on the
                 node by node-facts in a pod of kube-system (image: CNI_MIGRATE_IMAGE, else the
                 release's), 8 nodes at a time; other nodes' hosts are synthesized (said so)
]]

local KINDS = {
   { "v1", "Namespace" }, { "v1", "Node" }, { "v1", "ConfigMap" }, { "apps/v1", "DaemonSet" },
   { "apps/v1", "Deployment" }, { "apps/v1", "ReplicaSet" }, { "apps/v1", "StatefulSet" }, { "batch/v1", "Job" },
   { "policy/v1", "PodDisruptionBudget" }, { "v1", "Pod" }, { "v1", "ServiceAccount" },
   { "rbac.authorization.k8s.io/v1", "ClusterRole" }, { "rbac.authorization.k8s.io/v1", "ClusterRoleBinding" },
   { "rbac.authorization.k8s.io/v1", "Role" }, { "rbac.authorization.k8s.io/v1", "RoleBinding" },
}
local CALICO_GROUP = "crd.projectcalico.org"
--- The CRDs kept: Calico's, and the policy API its manifests install (AdminNetworkPolicy's group).
local CRD_GROUPS = { [CALICO_GROUP] = true, ["policy.networking.k8s.io"] = true }

local args = { ... }
local out, node_facts
local i = 1
while i <= #args do
   local a = args[i]
   if a == "-o" or a == "--output" then
      out = args[i + 1]
      if not out then proc.usage("fake snapshot: %s needs a FILE", a) end
      i = i + 1
   elseif a:match("^%-%-output=") then
      out = a:sub(10)
   elseif a == "--node-facts" then
      node_facts = true
   elseif a == "-h" or a == "--help" then
      io.write(USAGE)
      return
   else
      proc.usage("fake snapshot: unexpected argument %q (see --help)", a)
   end
   i = i + 1
end

local c, cerr = k8s.client { qps = 50, burst = 100 }
if not c then proc.usage("fake snapshot: %s", cerr) end
local tty = os.execute("test -t 2") == true

local function progress(text, done)
   if tty then io.stderr:write("\r\27[K" .. text .. (done and "\n" or "")) end
end

local items = {}

--- Every object of a kind, page by page, managedFields left out; returns how many.
local function take(api, kind)
   local n = 0
   for page, msg, code in c:pages { apiVersion = api, kind = kind, limit = 500 } do
      if not page then
         proc.fail("fake snapshot: listing %s %s: %s (%s)", api, kind, tostring(msg), tostring(code))
      end
      for _, o in ipairs(page.items) do
         o.apiVersion, o.kind = api, kind
         o.metadata.managedFields = nil
         items[#items + 1] = o
         n = n + 1
      end
      progress(("%s: %d"):format(kind, n))
   end
   progress(("%s: %d"):format(kind, n), true)
   return n
end

for _, k in ipairs(KINDS) do take(k[1], k[2]) end
-- Calico's CRDs, then every object of each (served version)
local crds = {}
local CRD = { apiVersion = "apiextensions.k8s.io/v1", kind = "CustomResourceDefinition", limit = 500 }
for page, msg, code in c:pages(CRD) do
   if not page then
      proc.fail("fake snapshot: listing CustomResourceDefinitions: %s (%s)", tostring(msg), tostring(code))
   end
   for _, crd in ipairs(page.items) do
      if CRD_GROUPS[crd.spec.group] then
         crd.apiVersion, crd.kind = "apiextensions.k8s.io/v1", "CustomResourceDefinition"
         crd.metadata.managedFields = nil
         items[#items + 1] = crd
         if crd.spec.group == CALICO_GROUP then crds[#crds + 1] = crd end
      end
   end
end
progress(("CustomResourceDefinition (Calico's): %d"):format(#crds), true)
table.sort(crds, function(a, b) return a.metadata.name < b.metadata.name end)
for _, crd in ipairs(crds) do
   local version
   for _, v in ipairs(crd.spec.versions or {}) do
      if v.served and (v.storage or not version) then version = v.name end
   end
   if version then take(CALICO_GROUP .. "/" .. version, crd.spec.names.kind) end
end

--- With --node-facts: each Ready Node's host as node-facts reads it on the node ({name = host}),
--- eight at a time; a node not Ready or whose pod fails keeps a synthesized host (said so).
local function hosts()
   local nodes, got, done, failed, total = {}, {}, 0, 0, 0
   for _, o in ipairs(items) do
      if o.kind == "Node" then
         total = total + 1
         if cluster.node_ready(o) == "True" then nodes[#nodes + 1] = o
         else io.stderr:write(("node %s: not Ready: its host is synthesized\n"):format(o.metadata.name)) end
      end
   end
   prepare.each_node(nodes, function(n)
      local name = n.metadata.name
      local r, msg, code = node.run_on(c, name, "node-facts", { host = true }, { timeout = 120 })
      if r and r.host then
         got[name] = r.host
      else
         failed = failed + 1
         io.stderr:write(("node %s: node-facts: %s (%s): its host is synthesized\n"):format(name, tostring(msg),
            tostring(code)))
      end
      done = done + 1
      progress(("node-facts: %d of %d node(s)"):format(done, #nodes))
   end)
   progress("")
   io.stderr:write(("hosts read with node-facts: %d of %d node(s)\n"):format(done - failed, total))
   return next(got) and got or nil
end

--- Seconds from an RFC 3339 time; nil when absent or malformed.
local function seconds(t)
   local y, mo, d, h, mi, s = tostring(t):match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)")
   if not y then return nil end
   local days = os.time { year = tonumber(y), month = tonumber(mo), day = tonumber(d), hour = 0 } // 86400
   return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s)
end

local function median(xs)
   if #xs == 0 then return nil end
   table.sort(xs)
   local m = #xs // 2
   return #xs % 2 == 1 and xs[m + 1] or (xs[m] + xs[m + 1]) / 2
end

--- The start and readiness delays of the pods of DaemonSets whose name matches pattern: median
--- seconds, nil for one the pods do not show (startTime, the first container's startedAt, the
--- Ready condition's lastTransitionTime, in that order and within 10 minutes).
local function delays(pattern)
   local owners = {}
   for _, o in ipairs(items) do
      if o.kind == "DaemonSet" and o.metadata.name:match(pattern) then owners[o.metadata.uid] = o end
   end
   local starts, readies, selector = {}, {}, nil
   for _, p in ipairs(items) do
      local ref = p.kind == "Pod" and (p.metadata.ownerReferences or {})[1]
      local ds = ref and owners[ref.uid]
      if ds then
         local keys = {}
         for k, v in pairs(ds.spec.selector and ds.spec.selector.matchLabels or {}) do
            keys[#keys + 1] = k .. "=" .. v
         end
         table.sort(keys)
         selector = selector or table.concat(keys, ",")
         local st = p.status or {}
         local t0 = seconds(st.startTime)
         local cs = (st.containerStatuses or {})[1]
         local t1 = cs and cs.state and cs.state.running and seconds(cs.state.running.startedAt)
         local t2
         for _, cond in ipairs(st.conditions or {}) do
            if cond.type == "Ready" and cond.status == "True" then t2 = seconds(cond.lastTransitionTime) end
         end
         if t0 and t1 and t2 and t0 <= t1 and t1 <= t2 and t2 - t0 <= 600 then
            starts[#starts + 1], readies[#readies + 1] = t1 - t0, t2 - t1
         end
      end
   end
   return selector, median(starts), median(readies), #starts
end

local rules, lines = {}, {}
for _, agent in ipairs { { "flannel", "flannel" }, { "calico-node", "^calico%-node$" }, { "canal", "^canal$" } } do
   local selector, start, ready, n = delays(agent[2])
   if selector then
      if start and (start >= 1 or ready >= 1) then -- timestamps have a second's resolution: 0 was not measured
         rules[#rules + 1] = { selector = selector, startDelay = start >= 1 and ("%gs"):format(start) or nil,
            readyDelay = ready >= 1 and ("%gs"):format(ready) or nil }
         lines[#lines + 1] = ("%s (%s): start %gs, ready %gs (median of %d pod(s); under 1s: the default kept)")
            :format(agent[1], selector, start, ready, n)
      elseif start then
         lines[#lines + 1] = ("%s (%s): start and Ready within the same second on its %d pod(s) (below the "
            .. "timestamps' resolution): the simulation's defaults kept"):format(agent[1], selector, n)
      else
         lines[#lines + 1] = ("%s (%s): its pods do not show their start and Ready times; the simulation's "
            .. "defaults kept"):format(agent[1], selector)
      end
   end
end
io.stderr:write("FakeCluster delays, from what the cluster shows:\n")
for _, l in ipairs(lines) do io.stderr:write("  " .. l .. "\n") end
if #lines == 0 then io.stderr:write("  no flannel, Canal or calico-node pods: the simulation's defaults kept\n") end

local fc = { apiVersion = "cni-migrate.dev/v1alpha1", kind = "FakeCluster", metadata = { name = "snapshot" },
   spec = { startTime = os.date("!%Y-%m-%dT%H:%M:%SZ"), simulation = #rules > 0 and { pods = rules } or nil,
      hosts = node_facts and hosts() or nil } }
-- in the order they were last written (resourceVersion, where it is a number, as etcd's are), as
-- --fake-save writes them: the cluster's history starts over in that order
for k, o in ipairs(items) do o._at = k end
table.sort(items, function(a, b)
   local x, y = tonumber(a.metadata.resourceVersion), tonumber(b.metadata.resourceVersion)
   if x and y and x ~= y then return x < y end
   return a._at < b._at
end)
for _, o in ipairs(items) do o._at = nil end
local list = { apiVersion = "v1", kind = "List", metadata = { resourceVersion = "" }, items = items }
local text = yaml.encode_all { list, fc }
if not out then
   io.write(text)
else
   local tmp = out .. ".tmp"
   local f, err = io.open(tmp, "w")
   if not f or not f:write(text) or not f:close() or not os.rename(tmp, out) then
      os.remove(tmp)
      proc.fail("fake snapshot: -o %s: %s", out, tostring(err or "cannot write it"))
   end
end
io.stderr:write(("%d object(s) written to %s\n"):format(#items, out or "stdout"))
