--- cm.rollback: the steps of a rollback to flannel (or Canal), from any point of a migration and
--- after its completion. What the cluster shows decides each step, so a rollback stopped anywhere
--- is resumed by running it again. The node steps are cm.nodestep's, in the opposite direction:
--- Calico leaves a node through the label protocol, calico-cleanup removes what it left on the
--- host, flannel comes back; no reboot.
---
--- Each function takes the run's context ctx = {c, cfg, snap, step, durations, blocked, node,
--- run_on} and raises (error(message, 0)) on a failure of the world.
local calico = require "cm.calico"
local checks = require "cm.checks"
local cluster = require "cm.cluster"
local config = require "cm.config"
local flannel = require "cm.flannel"
local json = require "cm.json"
local proc = require "cm.proc"
local nodestep = require "cm.nodestep"
local prepare = require "cm.prepare"
local time = require "cm.time"

local M = {}

M.STEPS = { "cordon", "drain", "label-none", "calico-gone", "calico-cleanup", "delete-pods", "label-flannel",
   "flannel-ready", "flannel-check", "uncordon" }
--- The step annotation of a node that is back on flannel.
M.DONE = "rolled-back"

local G = calico.GROUP
local LABEL, BUSY = calico.LABEL_NETWORK, calico.LABEL_IN_PROGRESS

local function fail(fmt, ...) error(fmt:format(...), 0) end

local function must(what, obj, msg, code)
   if obj == nil then fail("%s: %s (%s)", what, tostring(msg), tostring(code)) end
   return obj
end

local function ds_name(ds) return ds.metadata.namespace .. "/" .. ds.metadata.name end

local function ref_of(o)
   return { apiVersion = o.apiVersion or "apps/v1", kind = o.kind or "DaemonSet", name = o.metadata.name,
      namespace = o.metadata.namespace }
end

local function decoded(text)
   local v = text and json.decode(text)
   return type(v) == "table" and v or nil
end

--- Reads the cluster and the settings. Where completion deleted flannel's DaemonSet, the copies it
--- saved stand in for the DaemonSet and its ConfigMap (snap.flannel_live says which).
---@param c userdata cm.k8s client
---@param cfg table cm.config.parse's result (resolved in place)
---@return table snap cm.cluster.read's, with flannel_live, flannel_saved_cm
function M.read(c, cfg)
   local snap, err, code = cluster.read(c, cfg)
   if code == "BadInput" then proc.usage("%s", err) end
   must("reading the cluster", snap, err, code)
   snap.flannel_live = snap.flannel_ds and true or false
   if not snap.flannel_live and snap.backup then
      local d = snap.backup.data or {}
      snap.flannel_ds = decoded(d["daemonset.json"]) or false
      if snap.flannel_ds then
         snap.flannel_info = flannel.daemonset_info(snap.flannel_ds)
         snap.flannel_saved_cm = decoded(d["configmap.json"])
         local cm_name = snap.flannel_info.configmap or (snap.flannel_info.canal and "canal-config"
            or "kube-flannel-cfg")
         local live = c:get { apiVersion = "v1", kind = "ConfigMap", namespace = snap.flannel_ds.metadata.namespace,
            name = cm_name }
         snap.flannel_cm = live or snap.flannel_saved_cm
         snap.flannel_cm_live = live ~= nil
         local text = snap.flannel_cm and snap.flannel_cm.data and snap.flannel_cm.data["net-conf.json"]
         if text then snap.net_conf, snap.net_conf_err = flannel.parse_net_conf(text) end
      end
   end
   local env, source = cluster.saved_subnet_env(snap, cfg)
   config.resolve(cfg, cluster.observe(snap, env, source))
   if snap.flannel_ds then
      cfg.values.FLANNEL_DAEMONSET_NAME = snap.flannel_ds.metadata.name
      cfg.values.FLANNEL_DAEMONSET_NAMESPACE = snap.flannel_ds.metadata.namespace
   end
   return snap
end

--- Where a node is, for a rollback: its network ("flannel", "none" or "calico"; a node without
--- the label runs flannel while flannel's DaemonSet is there, Calico after the completion) and
--- whether it is in progress.
---@param n table a Node
---@param flannel_live boolean
---@return string network
---@return boolean in_progress
function M.state(n, flannel_live)
   local l = n.metadata.labels or {}
   return l[LABEL] or (flannel_live and "flannel" or "calico"), l[BUSY] == "true"
end

--- Whether there is nothing to roll back: flannel's DaemonSet there without the migration's
--- selector, no node labelled or in progress, no migration under way.
function M.untouched(snap)
   if not snap.flannel_live then return false end
   if (snap.flannel_ds.spec.template.spec.nodeSelector or {})[LABEL] then return false end
   for _, n in ipairs(snap.nodes) do
      local l = n.metadata.labels or {}
      if l[LABEL] or l[BUSY] then return false end
   end
   local phase = snap.migration_config and (snap.migration_config.data or {})["cni-migrate.phase"] or nil
   return phase == nil or phase == prepare.ROLLED_BACK
end

--- The flanneld container's image in a DaemonSet, or nil.
local function flannel_image(info, ds)
   for _, ct in ipairs(ds.spec.template.spec.containers or {}) do
      if ct.name == info.container then return ct.image end
   end
   return nil
end

--- Rollback's own checks, before its first write.
---@return table results (cm.checks)
function M.checks(snap, cfg)
   local r = checks.results(cfg.opts.skip)
   local ns = cfg.values.CALICO_DAEMONSET_NAMESPACE
   local backup = ("ConfigMap %s/%s"):format(ns, calico.BACKUP_CONFIGMAP)
   local ds = snap.flannel_ds
   if snap.flannel_live then
      r:ok("flannel-daemonset", "DaemonSet " .. ds_name(ds), "there")
   elseif ds then
      r:ok("flannel-daemonset", "DaemonSet " .. ds_name(ds), "deleted by the completion, saved in " .. backup)
   else
      r:add("flannel-daemonset", "blocker", "DaemonSet", ("no flannel or Canal DaemonSet (looked for %s) and no "
         .. "copy of one in %s"):format(table.concat(snap.looked, ", "), backup),
         "apply flannel's manifest with the migration's nodeSelector, then run rollback again")
      return r
   end
   local image = flannel_image(snap.flannel_info, ds)
   if image and image ~= "" then
      r:ok("flannel-image", "DaemonSet " .. ds_name(ds), image)
   else
      r:add("flannel-image", "blocker", "DaemonSet " .. ds_name(ds), "no flanneld container with an image",
         "fix the DaemonSet (or its copy in " .. backup .. ")")
   end
   if snap.net_conf then
      r:ok("flannel-config", "ConfigMap " .. snap.flannel_cm.metadata.name,
         ("net-conf.json: %s, VNI %d"):format(snap.net_conf.network, snap.net_conf.vni))
   else
      r:add("flannel-config", "blocker", "ConfigMap", "no valid net-conf.json in flannel's ConfigMap or its copy: "
         .. tostring(snap.net_conf_err or "missing"), "restore flannel's ConfigMap")
   end
   if snap.calico_ds then
      r:ok("calico-manifest", "DaemonSet " .. ds_name(snap.calico_ds), "there")
   else
      r:add("calico-manifest", "warning", "DaemonSet", "calico-node is not installed: no Calico to take off the "
         .. "nodes (calico-cleanup still runs on every node that was migrated)")
   end
   local missing = {}
   for _, n in ipairs(snap.nodes) do
      if not flannel.node_info(n, cfg.values.FLANNEL_ANNOTATION_PREFIX) then missing[#missing + 1] = n.metadata.name end
   end
   if #missing == 0 then
      r:ok("vtep-mac", ("%d node(s)"):format(#snap.nodes), "flannel's VtepMAC on every node")
   else
      r:add("vtep-mac", "warning", ("%d node(s)"):format(#missing), "no flannel VtepMAC on " .. table.concat(missing,
         ", ") .. ": flanneld makes a new one there, and nodes still on Calico cannot reach it until they leave")
   end
   return r
end

-- the cluster, before the nodes ---------------------------------------------------------------

--- Marks the rollback in flannel-migration-config (what status shows).
function M.mark(ctx, phase)
   if prepare.migration_config(ctx, { ["cni-migrate.phase"] = phase }) then
      ctx.step("phase", nil, ("ConfigMap %s: cni-migrate.phase=%s"):format(calico.MIGRATION_CONFIGMAP, phase))
   end
end

--- After the completion, nodes without the label run Calico: labelled calico before calico-node
--- is restricted to such nodes, so it stays where it runs until each node's turn.
function M.label_calico(ctx)
   if ctx.snap.flannel_live then return end
   local n = 0
   for _, node in ipairs(ctx.snap.nodes) do
      if (node.metadata.labels or {})[LABEL] == nil then
         nodestep.label(ctx, node, "calico", "rollback-label-calico")
         n = n + 1
      end
   end
   if n > 0 then ctx.step("label-calico", nil, ("%s=calico on %d node(s) running Calico"):format(LABEL, n)) end
end

--- A saved object made new: no server fields, no status.
local function fresh(o)
   local md = o.metadata
   o.status = nil
   o.metadata = { name = md.name, namespace = md.namespace, labels = md.labels, annotations = md.annotations }
   return o
end

--- After the completion: flannel's ConfigMap (when it is gone too) and DaemonSet recreated from
--- the copies, the DaemonSet on nodes labelled flannel only (none yet).
function M.recreate_flannel(ctx)
   local s = ctx.snap
   if s.flannel_live then return end
   if not s.flannel_cm_live and s.flannel_saved_cm then
      local got, msg, code = ctx.c:create(fresh(s.flannel_saved_cm))
      if not got and code ~= "AlreadyExists" then must("create ConfigMap", nil, msg, code) end
      ctx.step("flannel-config", nil, ("ConfigMap %s/%s recreated from ConfigMap %s"):format(
         s.flannel_saved_cm.metadata.namespace, s.flannel_saved_cm.metadata.name, calico.BACKUP_CONFIGMAP))
   end
   local ds = fresh(s.flannel_ds)
   ds.spec.template.spec.nodeSelector = ds.spec.template.spec.nodeSelector or {}
   ds.spec.template.spec.nodeSelector[LABEL] = "flannel"
   local got, msg, code = ctx.c:create(ds)
   if not got and code == "AlreadyExists" then got, msg, code = ctx.c:get(ref_of(ds)) end
   s.flannel_ds = must("create DaemonSet " .. ds_name(ds), got, msg, code)
   s.flannel_live = true
   ctx.step("flannel-ds", nil, ("DaemonSet %s recreated from ConfigMap %s, on nodes labelled %s=flannel"):format(
      ds_name(ds), calico.BACKUP_CONFIGMAP, LABEL))
end

--- calico-node on nodes labelled calico only (the migration's selector, as Calico's manifest has it).
function M.calico_selector(ctx)
   local ds = ctx.snap.calico_ds
   if not ds or (ds.spec.template.spec.nodeSelector or {})[LABEL] == "calico" then return end
   ctx.snap.calico_ds = must("patch DaemonSet " .. ds_name(ds), ctx.c:patch(ref_of(ds),
      { spec = { template = { spec = { nodeSelector = { [LABEL] = "calico" } } } } }, { type = "strategic" }))
   ctx.step("calico-selector", nil, ("DaemonSet %s: nodeSelector %s=calico"):format(ds_name(ds), LABEL))
end

-- one node ------------------------------------------------------------------------------------

--- The node's flannel CNI config file name, and the text to write when no backup is found
--- (flannel's ConfigMap cni-conf.json; Canal's comes from its install-cni).
local function flannel_conf(ctx)
   local s = ctx.snap
   if s.flannel_info.canal then return flannel.CANAL_CNI_CONF_NAME, nil end
   return flannel.CNI_CONF_NAME, s.flannel_cm and s.flannel_cm.data and s.flannel_cm.data["cni-conf.json"]
end

--- What node-facts shows of flannel on the node, against its VtepMAC: the timeline text, or raises.
local function check_flannel(ctx, n, r)
   local name, v = n.metadata.name, ctx.cfg.values
   local info = flannel.node_info(n, v.FLANNEL_ANNOTATION_PREFIX)
   local conf = flannel_conf(ctx)
   local problems = {}
   local dev = r.flannel
   if not dev then
      problems[#problems + 1] = ("no %s"):format((flannel.device_names(v.FLANNEL_VNI)))
   elseif info and dev.mac ~= info.vtep_mac then
      problems[#problems + 1] = ("%s has MAC %s, the node's VtepMAC is %s"):format(dev.name, tostring(dev.mac),
         info.vtep_mac)
   end
   if r.calico then problems[#problems + 1] = calico.VXLAN_DEVICE .. " is still there" end
   local want = v.CNI_CONFIG_DIR .. "/" .. conf
   if (r.cni or {}).active ~= want then
      problems[#problems + 1] = ("the active CNI config is %s, not %s"):format(tostring((r.cni or {}).active), want)
   end
   if #problems > 0 then fail("node %s: flannel-check: %s", name, table.concat(problems, "; ")) end
   return ("%s VNI %s MAC %s (the node's VtepMAC), %s active"):format(dev.name, tostring(dev.vxlan and dev.vxlan.id),
      dev.mac, want)
end

--- Returns one node to flannel, from whatever state it is in.
---@param ctx table
---@param n table the Node as last read
---@param flannel_live boolean whether flannel's DaemonSet was there when the rollback started
---@return string outcome "rolled-back" | "already"
function M.node(ctx, n, flannel_live)
   local node, v, o = ctx.node, ctx.cfg.values, ctx.cfg.opts
   local need = nodestep.need
   local function timed(c, nm, step, fn) return nodestep.timed(c, nm, step, fn, function() return n end) end
   local name = n.metadata.name
   local net, busy = M.state(n, flannel_live)
   if net == "flannel" and not busy then return "already" end
   local s = ctx.snap
   local conf_name, conf_text = flannel_conf(ctx)
   if net ~= "flannel" then
      timed(ctx, name, "cordon", function()
         local was = n.spec.unschedulable
         n = nodestep.start(ctx, n, "rollback-drain")
         return was and "in progress; already unschedulable (not ours to uncordon unless we cordoned it)"
            or "in progress; cordoned"
      end)
      timed(ctx, name, "drain", function() return nodestep.drain(ctx, name) end)
      if net == "calico" then
         timed(ctx, name, "label-none", function()
            n = nodestep.label(ctx, n, "none", "rollback-calico-gone")
            return LABEL .. "=none: calico-node's DaemonSet leaves the node"
         end)
      end
      if s.calico_ds then
         timed(ctx, name, "calico-gone", function()
            need("node " .. name .. ": calico-node leaving",
               node.wait_pod(ctx.c, { namespace = s.calico_ds.metadata.namespace,
               selector = nodestep.selector_of(s.calico_ds), node = name, state = "gone",
               timeout = o.pod_gone_timeout }))
            return "calico-node's pod is gone (watched)"
         end)
      end
      timed(ctx, name, "calico-cleanup", function()
         local info = flannel.node_info(n, v.FLANNEL_ANNOTATION_PREFIX)
         local iface -- the first of FLANNEL_IFACE that names a device (flanneld also takes addresses)
         for part in v.FLANNEL_IFACE:gmatch("[^,]+") do
            if not iface and part:match("^[%w][%w._-]*$") and not part:match("^%d+%.") then iface = part end
         end
         local vtep = info and { name = (flannel.device_names(v.FLANNEL_VNI)), mac = info.vtep_mac,
            vni = v.FLANNEL_VNI, port = v.FLANNEL_PORT, ["local"] = info.public_ip:gsub("/%d+$", ""),
            mtu = v.FLANNEL_MTU > 0 and v.FLANNEL_MTU or nil,
            dev = iface } or nil
         local r = need("node " .. name .. ": calico-cleanup",
            ctx.run_on(ctx.c, name, "calico-cleanup", { cni_dir = v.CNI_CONFIG_DIR,
            cni_conf_name = calico.CNI_CONF_NAME, restore = { conf_name }, fallback = conf_text and
            { [conf_name] = conf_text } or nil, vtep = vtep }, { namespace = v.CALICO_DAEMONSET_NAMESPACE,
            timeout = o.node_step_timeout }))
         local links = table.concat(r.links and r.links.removed or {}, ", ")
         local restored = {}
         for _, x in ipairs(r.cni and r.cni.restored or {}) do
            restored[#restored + 1] = x.path .. (x.from and "" or " (written from flannel's ConfigMap)")
         end
         local made = r.vtep and r.vtep.created and ("; %s made with MAC %s"):format(r.vtep.name, r.vtep.mac) or ""
         return ("removed %s; %d route(s); %d iptables chain(s)%s; %d CNI file(s) backed up; restored %s"):format(
            links ~= "" and links or "no links", r.routes and r.routes.removed or 0,
            #(r.iptables and r.iptables.removed or {}), made, #(r.cni and r.cni.removed or {}),
            #restored > 0 and table.concat(restored, ", ") or "nothing (flannel's config is there)")
      end)
      timed(ctx, name, "delete-pods", function()
         local d = nodestep.delete_left(ctx, name)
         return ("%d pod(s) left with Calico addresses deleted%s"):format(#d,
            #d > 0 and (" (" .. table.concat(d, ", ") .. ")") or "")
      end)
      timed(ctx, name, "label-flannel", function()
         n = nodestep.label(ctx, n, "flannel", "rollback-flannel-ready")
         return LABEL .. "=flannel: flannel's DaemonSet comes"
      end)
   end
   local fds = s.flannel_ds
   timed(ctx, name, "flannel-ready", function()
      need("node " .. name .. ": flannel's pod Ready",
         node.wait_pod(ctx.c, { namespace = fds.metadata.namespace, selector = nodestep.selector_of(fds),
         node = name, state = "ready", timeout = o.flannel_ready_timeout }))
      return "flannel's pod Ready (watched)"
   end)
   timed(ctx, name, "flannel-check", function()
      local r = need("node " .. name .. ": flannel-check",
         ctx.run_on(ctx.c, name, "node-facts", { vni = v.FLANNEL_VNI, cni_dir = v.CNI_CONFIG_DIR },
         { namespace = v.CALICO_DAEMONSET_NAMESPACE, timeout = o.node_step_timeout, step = "flannel-check" }))
      return check_flannel(ctx, n, r)
   end)
   timed(ctx, name, "uncordon", function()
      local ours
      n, ours = nodestep.finish(ctx, n, M.DONE, json.null)
      return ours and "uncordoned; in-progress removed" or "in-progress removed (left cordoned: not ours)"
   end)
   return "rolled-back"
end

-- the cluster, after the nodes ----------------------------------------------------------------

--- flannel's nodeSelector as it was before the migration: the copy in flannel-migration-config,
--- else the current one without the migration's key.
function M.flannel_selector(ctx)
   local ds = must("get DaemonSet", ctx.c:get(ref_of(ctx.snap.flannel_ds)))
   local sel = ds.spec.template.spec.nodeSelector or {}
   if sel[LABEL] == nil then return end
   local mc = ctx.snap.migration_config
   local saved = mc and (mc.data or {})[prepare.KEY_FLANNEL_SELECTOR]
   local orig
   if saved then
      orig = decoded(saved)
   else
      orig = {}
      for k, val in pairs(sel) do if k ~= LABEL then orig[k] = val end end
      if next(orig) == nil then orig = nil end
   end
   local path = "/spec/template/spec/nodeSelector"
   local ops = { { op = "test", path = path .. "/" .. LABEL:gsub("~", "~0"):gsub("/", "~1"), value = sel[LABEL] } }
   ops[2] = orig and { op = "replace", path = path, value = json.object(orig) } or { op = "remove", path = path }
   ctx.snap.flannel_ds = must("patch DaemonSet " .. ds_name(ds), ctx.c:patch(ref_of(ds), ops, { type = "json" }))
   ctx.step("flannel-selector", nil, ("DaemonSet %s: nodeSelector %s"):format(ds_name(ds),
      orig and json.encode(json.object(orig)) or "removed (it had none)"))
end

--- Waits until flannel's DaemonSet has rolled out its current template (restoring the nodeSelector
--- changes it, so the DaemonSet controller replaces every flannel pod, one node at a time) and
--- every pod is available: a watch on the DaemonSet's status.
function M.wait_rollout(ctx)
   local ds = ctx.snap.flannel_ds
   local function done(o)
      local st, g = o.status or {}, o.metadata.generation or 1
      return (st.observedGeneration or 0) >= g and st.desiredNumberScheduled ~= nil
         and st.updatedNumberScheduled == st.desiredNumberScheduled
         and st.numberAvailable == st.desiredNumberScheduled and (st.numberUnavailable or 0) == 0
   end
   local cur = must("get DaemonSet " .. ds_name(ds), ctx.c:get(ref_of(ds)))
   local t0 = time.now()
   local ok = done(cur)
   if not ok then
      local timeout = ctx.cfg.opts.flannel_ready_timeout * math.max(1, #ctx.snap.nodes)
      for ev in ctx.c:watch { apiVersion = "apps/v1", kind = "DaemonSet", namespace = ds.metadata.namespace,
         fieldSelector = "metadata.name=" .. ds.metadata.name, resourceVersion = cur.metadata.resourceVersion,
         timeout = timeout } do
         local o = ev.type == "RELIST" and (ev.object.items or {})[1] or ev.object
         if ev.type == "ERROR" then fail("DaemonSet %s: watch: %s", ds_name(ds), tostring(ev.message)) end
         if o and o.metadata and done(o) then cur, ok = o, true break end
      end
   end
   if not ok then fail("DaemonSet %s: its pods did not all become available and up to date", ds_name(ds)) end
   ctx.step("flannel-rollout", nil, ("DaemonSet %s: %d pod(s) up to date and available (%.1fs)"):format(ds_name(ds),
      cur.status.desiredNumberScheduled, time.now() - t0))
end

--- Whether the rollback takes what the migration made in Calico's objects and node data away:
--- with --remove-calico-state, and always on Canal, whose own calico-node (Felix, policy only)
--- reads them and would otherwise, with the migration's VXLAN pool left, turn VXLAN on beside
--- flannel's (Felix enables it for any VXLAN pool).
---@return boolean
function M.calico_off(snap, cfg)
   return cfg.opts.remove_calico_state or (snap.flannel_info and snap.flannel_info.canal) or false
end

--- Calico's node data the migration wrote (removed when M.calico_off).
local CALICO_ANNOTATIONS = { calico.ANN_IPV4, calico.ANN_VXLAN_ADDR, calico.ANN_VXLAN_MAC }

--- The migration's labels and annotations off every node (and Calico's node data with
--- remove_calico), one patch per node that has any.
function M.labels(ctx, remove_calico)
   local nodes = must("list nodes", cluster.list_nodes(ctx.c))
   local count = 0
   for _, n in ipairs(nodes) do
      local l, a = n.metadata.labels or {}, n.metadata.annotations or {}
      local p = { metadata = { labels = {}, annotations = {} } }
      local todo = false
      for _, k in ipairs { LABEL, BUSY } do
         if l[k] ~= nil then p.metadata.labels[k], todo = json.null, true end
      end
      local keys = { nodestep.ANN_STEP, nodestep.ANN_STEP_AT, nodestep.ANN_MIGRATED, nodestep.ANN_HELD,
         nodestep.ANN_HELD_AT, nodestep.ANN_FAILED }
      if remove_calico then for _, k in ipairs(CALICO_ANNOTATIONS) do keys[#keys + 1] = k end end
      for _, k in ipairs(keys) do
         if a[k] ~= nil then p.metadata.annotations[k], todo = json.null, true end
      end
      if todo then
         p.metadata.resourceVersion = n.metadata.resourceVersion
         local ok, msg, code = ctx.c:patch({ apiVersion = "v1", kind = "Node", name = n.metadata.name }, p,
            { type = "merge" })
         if not ok and code ~= "NotFound" then must("patch Node " .. n.metadata.name, nil, msg, code) end
         count = count + 1
      end
   end
   if count > 0 then
      ctx.step("labels", nil, ("the migration's labels and annotations%s removed from %d node(s)"):format(
         remove_calico and " (and Calico's node data)" or "", count))
   end
end

--- Deletes an object; absent is done.
local function delete(ctx, ref)
   local ok, msg, code = ctx.c:delete(ref)
   if not ok and code ~= "NotFound" then must(("delete %s %s"):format(ref.kind, ref.name), nil, msg, code) end
   return ok ~= nil
end

--- The backup ConfigMap goes once flannel's DaemonSet is live again: a later migration saves anew.
function M.delete_backup(ctx)
   if not ctx.snap.backup then return end
   delete(ctx, { apiVersion = "v1", kind = "ConfigMap", namespace = ctx.cfg.values.CALICO_DAEMONSET_NAMESPACE,
      name = calico.BACKUP_CONFIGMAP })
   ctx.snap.backup = false
   ctx.step("backup", nil, ("ConfigMap %s deleted: DaemonSet %s is live again"):format(calico.BACKUP_CONFIGMAP,
      ds_name(ctx.snap.flannel_ds)))
end

--- Deletes the Calico objects of kind that pick(o) chooses; how many went.
local function delete_all(ctx, kind, pick)
   local n = 0
   for _, o in ipairs(must("list " .. kind, ctx.c:list { apiVersion = G, kind = kind }).items) do
      if pick(o) and delete(ctx, { apiVersion = G, kind = kind, name = o.metadata.name }) then n = n + 1 end
   end
   return n
end

--- What the migration made in Calico's objects: the IP pool if it made it (and the one it
--- replaced, Canal's, made again as it was), the nodes' block affinities, blocks (their addresses
--- with them) and the handles in those blocks, the FelixConfiguration fields it set, and with
--- all (--remove-calico-state) flannel-migration-config too, so that a later migration starts
--- clean. On Canal it runs without the flag as well (see M.calico_off). (The nodes' Calico
--- annotations go in M.labels.)
---@param ctx table
---@param all boolean also flannel-migration-config
function M.remove_calico_state(ctx, all)
   local c, s = ctx.c, ctx.snap
   if not s.crds then return end
   local nodes = {}
   for _, n in ipairs(s.nodes) do nodes["host:" .. n.metadata.name] = true end
   local blocks, kept, count = {}, {}, {}
   count.affinities = delete_all(ctx, "BlockAffinity", function(a) return nodes["host:" .. tostring(a.spec.node)] end)
   count.blocks = delete_all(ctx, "IPAMBlock", function(b)
      if nodes[tostring(b.spec.affinity)] then blocks[b.spec.cidr] = true else kept[b.spec.cidr] = true end
      return blocks[b.spec.cidr]
   end)
   -- the handles with no address left in a block that stays: those in the deleted blocks, and those
   -- a migration stopped between a handle and its block left pointing at no block
   count.handles = delete_all(ctx, "IPAMHandle", function(h)
      local mine = next(h.spec.block or {}) ~= nil
      for cidr in pairs(h.spec.block or {}) do mine = mine and not kept[cidr] end
      return mine
   end)
   local md = s.migration_config and s.migration_config.data or {}
   local pool, old = md[prepare.KEY_POOL_CREATED], decoded(md[prepare.KEY_POOL_REPLACED])
   if pool and pool ~= "" then
      local live, msg, code = c:get { apiVersion = G, kind = "IPPool", name = pool }
      if not live and code ~= "NotFound" then must("get IPPool " .. pool, nil, msg, code) end
      local back = live and old and old.metadata.name == pool and not calico.pool_mismatch(live.spec, old.spec)
      if not back and delete(ctx, { apiVersion = G, kind = "IPPool", name = pool }) then
         ctx.step("ippool", nil, ("IPPool %s deleted (the migration made it)"):format(pool))
      end
   end
   if old then -- the pool the migration replaced (Canal's), as it was
      local got, msg, code = c:create { apiVersion = G, kind = "IPPool", metadata = old.metadata, spec = old.spec }
      if not got and code ~= "AlreadyExists" then must("create IPPool " .. old.metadata.name, nil, msg, code) end
      if got then
         ctx.step("ippool", nil, ("IPPool %s made again as it was before the migration (vxlanMode %s, ipipMode %s)")
            :format(old.metadata.name, tostring(old.spec.vxlanMode), tostring(old.spec.ipipMode)))
      end
   end
   local fc = s.felix
   if fc then
      local diff = {}
      for _, k in ipairs { "vxlanVNI", "vxlanPort", "vxlanMTU", "vxlanEnabled" } do
         if fc.spec[k] ~= nil then diff[k] = json.null end
      end
      if next(diff) then
         must("patch FelixConfiguration default", c:patch({ apiVersion = G, kind = "FelixConfiguration",
            name = "default" }, { spec = diff }, { type = "merge" }))
         ctx.step("felix", nil, "FelixConfiguration default: the migration's VXLAN fields removed")
      end
   end
   ctx.step("ipam", nil, ("%d block affinit(ies), %d block(s), %d handle(s) deleted"):format(count.affinities,
      count.blocks, count.handles))
   if all and s.migration_config then
      delete(ctx, { apiVersion = "v1", kind = "ConfigMap", namespace = ctx.cfg.values.CALICO_DAEMONSET_NAMESPACE,
         name = calico.MIGRATION_CONFIGMAP })
      s.migration_config = false
      ctx.step("migration-config", nil, ("ConfigMap %s deleted"):format(calico.MIGRATION_CONFIGMAP))
   end
end

return M
