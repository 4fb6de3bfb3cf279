--- rollback: returns a cluster to flannel (or Canal) from any point of a migration, and after its
--- completion, without rebooting a node. Calico's answer is a manual page (delete Calico; per node
--- drain, log in, delete a file, reboot, relabel, uncordon; patch the DaemonSet), and only before
--- the completion; this is that page, automated, from any state, resumable from any point.
---
---   cni-migrate rollback [--remove-calico-state] [--skip CHECK] [--flannel-vni N ...] [--fake FIXTURE]
---
--- 1. checks: flannel's DaemonSet there, or the copy the completion saved; flanneld's image and
---    net-conf.json known. A blocker stops the run before its first write.
--- 2. the lock: a running migration is asked to stop, and waited for; the phase says "rollback".
--- 3. the cluster: after a completion, the nodes on Calico labelled calico, flannel's DaemonSet
---    recreated from its copy (on nodes labelled flannel: none yet); calico-node on nodes
---    labelled calico only.
--- 4. the nodes that are none, calico or in progress, in the migration's order: cordon, drain,
---    Calico off (label none), calico-cleanup on the node, label flannel, flannel's pod Ready,
---    flannel.VNI with the node's VtepMAC and flannel's CNI config active, uncordon if ours.
--- 5. the end: flannel's nodeSelector as before the migration, the migration's labels and
---    annotations gone, the backup deleted; with --remove-calico-state, and always on Canal (whose
---    own calico-node reads them), what the migration made in Calico's objects too.
local calico = require "cm.calico"
local checks = require "cm.checks"
local cluster = require "cm.cluster"
local config = require "cm.config"
local hooks = require "cm.hooks"
local lock = require "cm.lock"
local nodestep = require "cm.nodestep"
local plan = require "cm.plan"
local prepare = require "cm.prepare"
local progress = require "cm.progress"
local proc = require "cm.proc"
local rollback = require "cm.rollback"
local schedule = require "cm.schedule"
local task = require "cm.task"
local time = require "cm.time"

local cfg, c = config.start("rollback", { ... }, os.getenv)
if not cfg then return end
local hook_set = hooks.start(cfg, "rollback") -- a bad hook file: exit 2 before anything is read
local info = c:info()
local simulated = (info.source or ""):match("^fake") ~= nil
local T0 = time.now()
local step = plan.timeline(T0)
local durations, blocked = {}, {}
local held -- the Lease while this run writes
local started = false -- on_start has run: a stop calls on_failure

local function stop(fmt, ...)
   if started then hooks.failed(hook_set, "rollback: " .. fmt:format(...)) end
   if held then held:release() end
   proc.fail("rollback: " .. fmt, ...)
end

-- 1. checks ---------------------------------------------------------------------------------
local ok, snap = pcall(rollback.read, c, cfg)
if not ok then
   if proc.is_failure(snap) and snap.exit == 2 then proc.usage("rollback: %s", snap.message) end
   stop("reading the cluster: %s", tostring(snap))
end
print("Settings:")
for _, line in ipairs(config.describe(cfg)) do print(line) end
local results = rollback.checks(snap, cfg)
local counts = results:counts()
if counts.blocker > 0 then
   print("")
   print(checks.format(results))
   stop("%d blocker(s): nothing was changed (fix them, or --skip CHECK to pass over one)", counts.blocker)
end
for _, r in ipairs(results.list) do
   if r.result ~= "ok" then step("checks", nil, ("%s %s: %s: %s"):format(r.result, r.check, r.object, r.message)) end
end
step("checks", nil, ("%d check(s) ok, %d warning(s), %d skipped"):format(counts.ok, counts.warning, counts.skipped))
local function nothing_to_do()
   if not rollback.untouched(snap) or cfg.opts.remove_calico_state then return false end
   print(("Nothing to roll back: DaemonSet %s/%s runs without the migration's nodeSelector and no node carries %s "
      .. "or %s."):format(snap.flannel_ds.metadata.namespace, snap.flannel_ds.metadata.name, calico.LABEL_NETWORK,
      calico.LABEL_IN_PROGRESS))
   return true
end
-- a migration that holds the Lease may be about to write: it is stopped first (below)
if not lock.busy(c, cfg.values.CALICO_DAEMONSET_NAMESPACE) and nothing_to_do() then return end
local flannel_live = snap.flannel_live
local order = plan.order(snap.nodes, cfg.values.POD_NODE_NAME)
if info.dryRun then
   for _, name in ipairs(order) do
      for _, n in ipairs(snap.nodes) do
         if n.metadata.name == name then
            local net, busy = rollback.state(n, flannel_live)
            step("plan", name, (net == "flannel" and not busy) and "on flannel: nothing to do"
               or ("%s%s: would return to flannel (node steps are not run with --dry-run=server)"):format(net,
                  busy and ", in progress" or ""))
         end
      end
   end
   print("Dry run: nothing was sent or changed.")
   return
end

-- 2. the lock -------------------------------------------------------------------------------
held = lock.acquire(c, cfg.values.CALICO_DAEMONSET_NAMESPACE, "rollback", function(text) step("lock", nil, text) end)
if not pcall(function() snap = rollback.read(c, cfg) end) then -- what a stopped migration left
   stop("reading the cluster again after taking the Lease")
end
if nothing_to_do() then
   held:release()
   return
end
local ctx = { c = c, cfg = cfg, snap = snap, step = step, durations = durations, blocked = blocked,
   node = require "cm.node", hooks = hook_set, procedure = "rollback" }
progress.start(ctx)
ctx.run_on = ctx.node.run_on
local function guarded(fn, ...)
   local r = table.pack(pcall(fn, ...))
   if not r[1] then stop("%s\n(the run can be resumed: run it again)", tostring(r[2])) end
   return table.unpack(r, 2, r.n)
end
hooks.bind(hook_set, c, cfg, "rollback")
started = true
guarded(hooks.run, hook_set, "on_start")
guarded(hooks.step, ctx, "phase", rollback.mark, "rollback")

-- 3. the cluster ----------------------------------------------------------------------------
guarded(hooks.step, ctx, "label-calico", rollback.label_calico)
guarded(hooks.step, ctx, "flannel-ds", rollback.recreate_flannel)
guarded(hooks.step, ctx, "calico-selector", rollback.calico_selector)

-- 4. the nodes ------------------------------------------------------------------------------
local back, skipped, kept, failed = {}, {}, {}, {}
local own = cfg.values.POD_NODE_NAME
local wake = task.signal()
local pause = schedule.watch_pause(c, cfg.values.CALICO_DAEMONSET_NAMESPACE, ctx.snap.migration_config,
   function() wake:notify() end)
local r = schedule.run { -- as migrate's: --max-unavailable, one control plane, per zone, pause; no window
   list = function()
      local nodes, lerr = cluster.list_nodes(c)
      if not nodes then stop("listing nodes: %s", lerr) end
      return nodes
   end,
   todo = function() return true end,
   order = function(nodes)
      local by, ordered, names = {}, {}, {}
      for _, n in ipairs(nodes) do by[n.metadata.name] = n end
      for _, name in ipairs(plan.order(nodes, own)) do ordered[#ordered + 1] = by[name] end
      for _, n in ipairs(hooks.sequence(hook_set, ordered, own)) do
         names[#names + 1] = n.metadata.name
      end
      return names
   end,
   hold = function(n)
      local net, busy = rollback.state(n, flannel_live)
      local cur, reason = hooks.check_hold(ctx, n, net ~= "flannel" and not busy)
      if reason then step("held", n.metadata.name, reason) end
      return reason, cur
   end,
   start = function() return nil end,
   work = function(n)
      local name = n.metadata.name
      local fine, res = pcall(rollback.node, ctx, n, flannel_live)
      if not fine then
         local _, _, gone = c:get { apiVersion = "v1", kind = "Node", name = name }
         if gone == "NotFound" then
            step("skipped", name, "the node was deleted: skipped")
            return "skipped"
         end
         nodestep.failed(ctx, name, (ctx.at or {})[name], res)
         return "failed", tostring(res)
      end
      local hok, herr = pcall(hooks.health, ctx, n, res == "rolled-back")
      if not hok then return "failed", tostring(herr) end
      return res
   end,
   gate = function()
      if pause.reason then return ("paused (%s)"):format(pause.reason) end
   end,
   signal = wake, own = own, limit = cfg.opts.max_unavailable, per_zone = cfg.opts.max_unavailable_per_zone,
   delay = cfg.opts.node_delay, note = function(who, what, text) step(what, who, text) end,
}
pause.close()
for _, name in ipairs(r.order) do
   local out = r.outcomes[name]
   if out == "rolled-back" then back[#back + 1] = name end
   if out == "skipped" then skipped[#skipped + 1] = name end
   if out == "failed" then failed[#failed + 1] = name end
end
for name, why in pairs(r.held) do kept[#kept + 1] = ("%s (%s)"):format(name, why) end
table.sort(kept)
if #failed > 0 then
   local also = #failed > 1 and ("\nalso failed: " .. table.concat(failed, ", ", 2)) or ""
   stop("%s%s\n(the run can be resumed: run it again)", r.details[failed[1]], also)
end
if r.error then stop("%s\n(the run can be resumed: run it again)", r.error) end -- an order or hold hook's
if #kept > 0 then
   stop("%d node(s) held by the site's hooks, not rolled back: %s. The rollback cannot complete until they move: "
      .. "run it again once they are no longer held (%d node(s) rolled back in this run)", #kept,
      table.concat(kept, "; "), #back)
end

-- 5. the end --------------------------------------------------------------------------------
guarded(hooks.step, ctx, "flannel-selector", rollback.flannel_selector)
guarded(hooks.step, ctx, "flannel-rollout", rollback.wait_rollout)
local calico_off = rollback.calico_off(snap, cfg)
guarded(hooks.step, ctx, "labels", rollback.labels, calico_off)
guarded(hooks.step, ctx, "backup", rollback.delete_backup)
if calico_off then
   guarded(hooks.step, ctx, "remove-calico-state", rollback.remove_calico_state, cfg.opts.remove_calico_state)
end
if not cfg.opts.remove_calico_state then
   guarded(hooks.step, ctx, "phase", rollback.mark, prepare.ROLLED_BACK)
end
guarded(hooks.run, hook_set, "on_finish", { command = "rollback", nodes = back, skipped = skipped,
   seconds = time.now() - T0 })
held:release()

-- summary ------------------------------------------------------------------------------------
print("")
print(("Rolled back %d node(s) to %s in %.1f s of %s time; %d skipped; %d node(s) in the cluster."):format(#back,
   snap.flannel_info.canal and "Canal" or "flannel", time.now() - T0,
   simulated and "virtual (a rehearsal's prediction)" or "real", #skipped, r.total))
for _, line in ipairs(plan.step_summary(durations, rollback.STEPS)) do print(line) end
for _, line in ipairs(require("cm.invariants").summary()) do print(line) end
for _, b in ipairs(blocked) do print("blocked: " .. b) end
if not calico_off then
   print(("Calico's objects stay (IP pool, IPAM, node data): --remove-calico-state removes them; Calico's manifest "
      .. "is yours to delete (README, \"Rolling back\")."))
elseif not cfg.opts.remove_calico_state then
   print(("Canal's IP pool and FelixConfiguration are as before the migration, its IPAM and node data removed (Canal's "
      .. "calico-node reads them); Calico's manifest is yours to delete (README, \"Rolling back\")."))
end
