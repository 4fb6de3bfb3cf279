--- cm.nodestep: one node's migration in Calico's label protocol, step by step (names in
--- contracts.md "Migration state"). The node's state is read from its labels, so a node is
--- resumed at the step it stopped in; every step is idempotent. Label changes, our cordon and
--- the step annotation go in one merge patch each (guarded by the resourceVersion read).
---
--- The step annotation (cni-migrate.dev/step, and step-at: since when) says the step the node is
--- in, for `cni-migrate status`. It rides on the writes the steps make anyway (no request of its
--- own): each such write names the step that comes after it, so the cordon says "drain", the
--- network label none "flannel-gone" (then also flannel's cleanup on the host and the pods left),
--- calico "calico-ready" (then also the check), the end "done".
local calico = require "cm.calico"
local json = require "cm.json"
local time = require "cm.time"

local M = {}

M.STEPS = { "in-progress", "cordon", "drain", "label-none", "flannel-gone", "flannel-cleanup", "delete-pods",
   "label-calico", "calico-ready", "calico-check", "uncordon", "done" }
M.ANN_STEP = "cni-migrate.dev/step"
M.ANN_MIGRATED = "cni-migrate.dev/migrated"
M.ANN_CORDONED = "cni-migrate.dev/cordoned"
M.ANN_STEP_AT = "cni-migrate.dev/step-at" -- when the step annotation last changed (status's "since")
M.ANN_HELD = "cni-migrate.dev/held" -- why the node is held out of the run (contracts13.md)
M.ANN_HELD_AT = "cni-migrate.dev/held-at"
M.ANN_FAILED = "cni-migrate.dev/failed" -- "STEP: message" of the failure that stopped the run on it

local function fail(fmt, ...) error(fmt:format(...), 0) end

local function node_ref(name) return { apiVersion = "v1", kind = "Node", name = name } end

--- A label selector from a DaemonSet's matchLabels ("app=flannel").
function M.selector_of(ds)
   local parts = {}
   for k, v in pairs(ds.spec.selector and ds.spec.selector.matchLabels or {}) do parts[#parts + 1] = k .. "=" .. v end
   table.sort(parts)
   return table.concat(parts, ",")
end

--- Patches the node (merge) with the resourceVersion it was read at; on Conflict reads it again
--- and asks build for the patch anew. build(node) -> patch or nil (nothing to do). unguarded:
--- without the resourceVersion, for a patch that is right whatever changed since the read.
function M.patch_node(ctx, n, build, unguarded)
   local name = n.metadata.name
   for _ = 1, 5 do
      local p = build(n)
      if not p then return n end
      p.metadata = p.metadata or {}
      if not unguarded then p.metadata.resourceVersion = n.metadata.resourceVersion end
      local got, msg, code = ctx.c:patch(node_ref(n.metadata.name), p, { type = "merge" })
      if got then return got end
      if code ~= "Conflict" then fail("node %s: patch: %s (%s)", n.metadata.name, tostring(msg), tostring(code)) end
      n = ctx.c:get(node_ref(name))
      if not n then fail("node %s: gone", name) end
   end
   fail("node %s: patch kept conflicting", name)
end

--- in-progress label and our cordon, in one patch (cordoned only when it was schedulable); step
--- is the step annotation it leaves: the step that comes next (default "drain").
function M.start(ctx, n, step)
   step = step or "drain"
   return M.patch_node(ctx, n, function(cur)
      local l, a = cur.metadata.labels or {}, cur.metadata.annotations or {}
      local p = { metadata = { labels = {}, annotations = {} } }
      local todo = false
      if l[calico.LABEL_IN_PROGRESS] ~= "true" then p.metadata.labels[calico.LABEL_IN_PROGRESS], todo = "true", true end
      if not cur.spec.unschedulable then
         p.spec = { unschedulable = true }
         p.metadata.annotations[M.ANN_CORDONED] = time.rfc3339()
         todo = true
      end
      if a[M.ANN_STEP] ~= step then
         p.metadata.annotations[M.ANN_STEP], p.metadata.annotations[M.ANN_STEP_AT], todo = step, time.rfc3339(), true
      end
      if a[M.ANN_FAILED] then p.metadata.annotations[M.ANN_FAILED], todo = json.null, true end
      return todo and p or nil
   end)
end

--- Removes the failed mark of a node whose migration resumes past its start (M.start does it
--- otherwise; a health hook's mark is cm.hooks' to clear).
function M.clear_failed(ctx, n)
   return M.patch_node(ctx, n, function(cur)
      local f = (cur.metadata.annotations or {})[M.ANN_FAILED]
      if not f or f:match("^health: ") then return nil end
      return { metadata = { annotations = { [M.ANN_FAILED] = json.null } } }
   end)
end

--- The node scripts a node's migration runs; their pods stay until the node's end (run_on's
--- keep), then go in one request.
M.SCRIPTS = { "flannel-cleanup", "calico-check" }

--- Deletes the node's script pods (M.SCRIPTS) in one request (deletecollection).
---@return table|nil list the deleted pods, as listed
---@return string|nil message
---@return string|nil code
function M.delete_script_pods(ctx, name)
   local ns = ctx.cfg.values.CALICO_DAEMONSET_NAMESPACE
   return ctx.c:delete_collection({ apiVersion = "v1", kind = "Pod", namespace = ns,
      labelSelector = ("cni-migrate.dev/node-run in (%s)"):format(table.concat(M.SCRIPTS, ",")),
      fieldSelector = "spec.nodeName=" .. name }, { gracePeriodSeconds = 0 })
end

--- Marks a node failed: "STEP: message" (the message's first line).
---@return table|nil node, string|nil message, string|nil code
function M.failed(ctx, name, step, message)
   local line = tostring(message):match("^[^\n]*"):sub(1, 500)
   return ctx.c:patch(node_ref(name), { metadata = { annotations = {
      [M.ANN_FAILED] = ("%s: %s"):format(step or "start", line) } } }, { type = "merge" })
end

--- Holds a node out of the run, the one home of a hold (a hold hook's, cm.hooks; the drain
--- timeout's "hold" policy): the held annotation (reason) and its time in one patch, then its
--- Event, the nodes gauge's held state and no live line (cm.progress.held). back (the drain
--- timeout) also puts the node back as it was: uncordoned if the cordon was ours, not in
--- progress, no step. Without back, a node held for this reason already is left as it is.
---@param ctx table the run's ctx
---@param n table the Node as last read
---@param reason string
---@param back boolean|nil
---@return table n the Node as patched
function M.hold(ctx, n, reason, back)
   if not back and (n.metadata.annotations or {})[M.ANN_HELD] == reason then return n end
   n = M.patch_node(ctx, n, function(cur)
      local a = { [M.ANN_HELD] = reason, [M.ANN_HELD_AT] = time.rfc3339() }
      local p = { metadata = { annotations = a } }
      if back then
         p.metadata.labels = { [calico.LABEL_IN_PROGRESS] = json.null }
         a[M.ANN_STEP], a[M.ANN_STEP_AT] = json.null, json.null
         if (cur.metadata.annotations or {})[M.ANN_CORDONED] then
            p.spec = { unschedulable = json.null }
            a[M.ANN_CORDONED] = json.null
         end
      end
      return p
   end, not back)
   require("cm.progress").held(ctx, n.metadata.name, reason) -- (cm.progress requires this module)
   return n
end

--- The network label, and the step annotation: step, the step that comes next. Unguarded: it
--- sets one label whatever else changed on the node since it was read (the drain's cordon taint
--- always has), and setting it again is harmless; a guarded patch conflicted and read the node
--- again on most nodes.
function M.label(ctx, n, value, step)
   return M.patch_node(ctx, n, function(cur)
      local l = cur.metadata.labels or {}
      if l[calico.LABEL_NETWORK] == value then return nil end
      return { metadata = { labels = { [calico.LABEL_NETWORK] = value },
         annotations = { [M.ANN_STEP] = step, [M.ANN_STEP_AT] = time.rfc3339() } } }
   end, true)
end

--- uncordon if we cordoned, in-progress removed, the step annotation set to step and
--- cni-migrate.dev/migrated to migrated (json.null removes it): the end of a node's migration
--- ("done", the time) and of its rollback. Returns the node and whether the cordon was ours.
function M.finish(ctx, n, step, migrated)
   local ours = false
   local got = M.patch_node(ctx, n, function(cur)
      local a = cur.metadata.annotations or {}
      local l = cur.metadata.labels or {}
      ours = a[M.ANN_CORDONED] ~= nil
      if l[calico.LABEL_IN_PROGRESS] == nil and not ours and a[M.ANN_STEP] == step then return nil end
      local p = { metadata = { labels = { [calico.LABEL_IN_PROGRESS] = json.null },
         annotations = { [M.ANN_STEP] = step, [M.ANN_STEP_AT] = time.rfc3339(), [M.ANN_MIGRATED] = migrated } } }
      if ours then
         p.spec = { unschedulable = json.null }
         p.metadata.annotations[M.ANN_CORDONED] = json.null
      end
      return p
   end)
   return got, ours
end

--- Deletes the non-hostNetwork pods left on the node (DaemonSet pods the drain ignored, pods
--- bound by nodeName): they have the old network's addresses and must come back with the new one's.
--- view: the node's pod view (cm.node.pods) to read them from instead of a list.
function M.delete_left(ctx, name, view)
   local items, msg, code
   if view then
      items, msg, code = view:list()
   else
      local pods
      pods, msg, code = ctx.c:list { apiVersion = "v1", kind = "Pod", fieldSelector = "spec.nodeName=" .. name }
      items = pods and pods.items
   end
   if not items then fail("node %s: list pods: %s (%s)", name, tostring(msg), tostring(code)) end
   table.sort(items, function(a, b) -- a list's order: by namespace, then name
      return a.metadata.namespace .. "/" .. a.metadata.name < b.metadata.namespace .. "/" .. b.metadata.name
   end)
   local deleted = {}
   local own = os.getenv("POD_NAME")
   for _, p in ipairs(items) do
      local md = p.metadata
      if not p.spec.hostNetwork and not md.deletionTimestamp and md.name ~= own then
         local ok, dmsg, dcode = ctx.c:delete { apiVersion = "v1", kind = "Pod", namespace = md.namespace,
            name = md.name }
         if not ok and dcode ~= "NotFound" then
            fail("node %s: delete pod %s/%s: %s (%s)", name, md.namespace, md.name, tostring(dmsg), tostring(dcode))
         end
         deleted[#deleted + 1] = md.namespace .. "/" .. md.name
      end
   end
   return deleted
end

--- Runs one step, timed: the timeline line and the step's duration, reported to cm.progress (its
--- Event, metrics, the live line; a step that raises is reported and raises on), between the
--- site's before_step and after_step hooks (cm.hooks; node() gives them the Node as last read).
--- With ctx.bars (a list, for the report) also {node, step, t0, t1, text, failed} of each step, the
--- one that failed too.
function M.timed(ctx, name, step, fn, node)
   if name then -- where each node is, for the failed annotation
      ctx.at = ctx.at or {}
      ctx.at[name] = step
   end
   local progress = require "cm.progress" -- (cm.hooks and cm.progress require this module)
   require("cm.hooks").around(ctx, node, step, function()
      local t0 = time.now()
      progress.begin(ctx, name, step)
      local ok, text = pcall(fn)
      local d = time.now() - t0
      if ctx.bars then
         ctx.bars[#ctx.bars + 1] = { node = name, step = step, t0 = t0, t1 = t0 + d, failed = not ok,
            text = ok and text or tostring(text) }
      end
      if not ok then
         progress.finish(ctx, name, step, d, nil, tostring(text))
         error(text, 0)
      end
      ctx.durations[step] = ctx.durations[step] or {}
      table.insert(ctx.durations[step], d)
      ctx.step(step, name, text and (text .. (d >= 0.05 and (" (%.1fs)"):format(d) or "")) or nil)
      progress.finish(ctx, name, step, d, text)
   end)
end

--- v, or raises "what: msg (code)": need(what, call(...)) keeps all of a call's failure.
function M.need(what, v, msg, code)
   if v == nil then fail("%s: %s (%s)", what, tostring(msg), tostring(code)) end
   return v
end

--- Drains the node as kubectl drain --force --ignore-daemonsets --delete-emptydir-data (never the
--- controller's own pod); PDBs that held it up go to ctx.blocked. The timeline text; or, when
--- it timed out and may_hold (the "hold" policy), nil and why. view: the node's pod view.
function M.drain(ctx, name, may_hold, view)
   local report = {}
   local holds = ctx.holds and {} -- pod -> {node, pdb, pod, t0, t1}: how long a PDB held it (the report)
   local function progress(ev)
      local h = holds[ev.pod]
      if ev.event == "blocked" and ev.pdb and not h then
         h = { node = name, pdb = ev.pdb, pod = ev.pod, t0 = time.now() }
         holds[ev.pod] = h
         ctx.holds[#ctx.holds + 1] = h
      end
      if h then h.t1 = time.now() end
   end
   local res, msg, code = ctx.node.drain(ctx.c, name, { force = true, ignore_daemonsets = true,
      delete_emptydir_data = true, cordon = false, timeout = ctx.cfg.opts.drain_timeout, report = report,
      relist = false, -- pods bound to the node during the drain: the delete-pods step deletes them
      -- the DaemonSets earlier drains found, not asked again: one deleted since has its pods left
      -- by the drain, and the delete-pods step deletes them
      daemonsets = ctx.daemonsets, pods = view,
      on_progress = holds and progress or nil })
   if res then ctx.daemonsets = res.daemonsets end
   for _, b in ipairs(report.blocked or {}) do
      ctx.blocked[#ctx.blocked + 1] = ("%s: drain waited on PDB %s for %s"):format(name, tostring(b.pdb),
         tostring(b.pod))
   end
   if not res and code == "Timeout" and may_hold then return nil, tostring(msg) end
   M.need("node " .. name .. ": drain", res, msg, code)
   require("cm.progress").evicted(ctx, #(res.evicted or {}))
   return ("%d evicted, %d deleted"):format(#(res.evicted or {}), #(res.deleted or {}))
end

--- Migrates one node, from whatever state it is in.
---@param ctx table {c, cfg, snap, node (cm.node), step, durations, blocked}
---@param n table the Node as last read
---@return string outcome "migrated" | "already" | "held" (the drain timed out under the "hold" policy)
function M.migrate(ctx, n)
   local node, v, o = ctx.node, ctx.cfg.values, ctx.cfg.opts
   local need, label, selector_of = M.need, M.label, M.selector_of
   local function timed(c, nm, step, fn) return M.timed(c, nm, step, fn, function() return n end) end
   local name = n.metadata.name
   local l = n.metadata.labels or {}
   local net, busy = l[calico.LABEL_NETWORK], l[calico.LABEL_IN_PROGRESS] == "true"
   if net == "calico" and not busy then return "already" end
   local fds = ctx.snap.flannel_ds
   local canal = ctx.snap.flannel_info.canal
   -- the node's pods, listed once and followed on one watch by every step below (no list or
   -- watch of their own): the drain, both waits, both node scripts, the pods left
   local pods <close> = node.pods(ctx.c, name)
   if net == "none" or net == "calico" then n = M.clear_failed(ctx, n) end
   if net ~= "calico" then
      if net ~= "none" then
         timed(ctx, name, "cordon", function()
            local was = n.spec.unschedulable
            n = M.start(ctx, n)
            return was and "in progress; already unschedulable (not ours to uncordon unless we cordoned it)"
               or "in progress; cordoned"
         end)
      end
      local held -- the drain timed out under the "hold" policy (only while the node is still on flannel)
      timed(ctx, name, "drain", function()
         local text, why = M.drain(ctx, name, net ~= "none" and o.drain_timeout_policy == "hold", pods)
         held = why
         return text or ("timed out after %gs: %s"):format(o.drain_timeout, why)
      end)
      if held then
         timed(ctx, name, "held", function()
            local why = ("drain timed out after %gs (--drain-timeout-policy hold)"):format(o.drain_timeout)
            n = M.hold(ctx, n, why, true)
            return "uncordoned, back on flannel, held; the run goes on without it"
         end)
         return "held"
      end
      if net ~= "none" then
         timed(ctx, name, "label-none", function()
            n = label(ctx, n, "none", "flannel-gone")
            return calico.LABEL_NETWORK .. "=none: flannel's DaemonSet leaves the node"
         end)
      end
      timed(ctx, name, "flannel-gone", function()
         need("node " .. name .. ": flannel's pod leaving",
            node.wait_pod(ctx.c, { namespace = fds.metadata.namespace, selector = selector_of(fds), node = name,
            state = "gone", timeout = o.pod_gone_timeout, pods = pods }))
         return "flannel's pod is gone (watched)"
      end)
      timed(ctx, name, "flannel-cleanup", function()
         local r = need("node " .. name .. ": flannel-cleanup",
            node.run_on(ctx.c, name, "flannel-cleanup", { vni = v.FLANNEL_VNI, canal = canal,
            cni_dir = v.CNI_CONFIG_DIR, cni_conf_name = calico.CNI_CONF_NAME },
            { namespace = v.CALICO_DAEMONSET_NAMESPACE, timeout = o.node_step_timeout, pods = pods, keep = true }))
         local links = table.concat(r.links and r.links.removed or {}, ", ")
         local rules = 0
         for _, x in ipairs(r.iptables and r.iptables.removed or {}) do rules = rules + (x.rules or 0) end
         return ("removed %s; %d iptables rule(s); %d CNI file(s) backed up; placeholder %s %s"):format(
            links ~= "" and links or "no links", rules, #(r.cni and r.cni.removed or {}),
            r.placeholder and r.placeholder.path or "?",
            r.placeholder and r.placeholder.written and "written" or "kept")
      end)
      timed(ctx, name, "delete-pods", function()
         local d = M.delete_left(ctx, name, pods)
         return ("%d pod(s) left with flannel addresses deleted%s; the runtime sees the CNI directory change "
            .. "(inotify), so their replacements wait for Calico's config"):format(#d,
            #d > 0 and (" (" .. table.concat(d, ", ") .. ")") or "")
      end)
      timed(ctx, name, "label-calico", function()
         n = label(ctx, n, "calico", "calico-ready")
         return calico.LABEL_NETWORK .. "=calico: calico-node's DaemonSet comes"
      end)
   end
   local cds = ctx.snap.calico_ds
   timed(ctx, name, "calico-ready", function()
      need("node " .. name .. ": calico-node Ready",
         node.wait_pod(ctx.c, { namespace = cds.metadata.namespace, selector = selector_of(cds), node = name,
         state = "ready", timeout = o.calico_ready_timeout, pods = pods }))
      return "calico-node Ready (watched)"
   end)
   timed(ctx, name, "calico-check", function()
      local r = need("node " .. name .. ": calico-check",
         node.run_on(ctx.c, name, "calico-check", { vni = v.FLANNEL_VNI, port = v.FLANNEL_PORT,
         mac = (n.metadata.annotations or {})[calico.ANN_VXLAN_MAC],
         address = (n.metadata.annotations or {})[calico.ANN_VXLAN_ADDR], cni_dir = v.CNI_CONFIG_DIR },
         { namespace = v.CALICO_DAEMONSET_NAMESPACE, timeout = o.node_step_timeout, pods = pods, keep = true }))
      if r.ok == false then
         fail("node %s: calico-check: %s", name, table.concat(r.problems or {}, "; "))
      end
      local link = r.link or {}
      return ("%s VNI %s port %s MAC %s, %s active"):format(tostring(link.name),
         tostring(link.vxlan and link.vxlan.id), tostring(link.vxlan and link.vxlan.port), tostring(link.mac),
         tostring(r.active_cni))
   end)
   timed(ctx, name, "uncordon", function()
      need("node " .. name .. ": delete the node-run pods", M.delete_script_pods(ctx, name))
      local ours
      n, ours = M.finish(ctx, n, "done", time.rfc3339())
      return ours and "uncordoned; in-progress removed" or "in-progress removed (left cordoned: not ours)"
   end)
   return "migrated"
end

return M
