--- migrate: moves a live cluster from flannel (VXLAN) or Canal to Calico, node by node, as
--- Calico's flannel-migration controller does, without its bugs, resumable from any point.
---
---   cni-migrate migrate [--flannel-vni N ...] [--skip CHECK] [--dry-run=server] [--fake FIXTURE]
---
--- 1. preflight: the settings (flag > environment > cluster > default) and every check;
---    a blocker stops the run before its first write, unless --skip names that check.
--- 2. prepare the cluster: flannel's settings saved, calico-config's MTU, FelixConfiguration,
---    the IP pool, every node's IPAM (blocks, VTEP address, node data), flannel's nodeSelector.
--- 3. migrate the nodes: workers by name, control planes, the controller's own node last;
---    per node: cordon, drain, flannel off, clean up, Calico on, check, uncordon.
--- 4. complete: back up and delete flannel's DaemonSet, calico-node everywhere, labels gone.
local calico = require "cm.calico"
local checks = require "cm.checks"
local complete = require "cm.complete"
local config = require "cm.config"
local hooks = require "cm.hooks"
local lock = require "cm.lock"
local nodestep = require "cm.nodestep"
local plan = require "cm.plan"
local prepare = require "cm.prepare"
local progress = require "cm.progress"
local proc = require "cm.proc"
local time = require "cm.time"

local cfg, c = config.start("migrate", { ... }, os.getenv)
if not cfg then return end
local hook_set = hooks.start(cfg, "migrate") -- a bad hook file: exit 2 before anything is read
local info = c:info()
local simulated = (info.source or ""):match("^fake") ~= nil
local T0 = time.now()
local durations, blocked, notes = {}, {}, {}

local step = plan.timeline(T0)

local held -- the Lease (cm.lock) while this run writes
local started = false -- on_start has run: a stop calls on_failure

local function stop(code, fmt, ...)
   if code == 2 then proc.usage("migrate: " .. fmt, ...) end
   if started then hooks.failed(hook_set, "migrate: " .. fmt:format(...)) end
   if held then held:release() end
   proc.fail("migrate: " .. fmt, ...)
end

--- fn(...), or the run stops there with its error: every step is idempotent, so it resumes.
local function guarded(fn, ...)
   local r = table.pack(pcall(fn, ...))
   if not r[1] then stop(1, "%s\n(the run can be resumed: run it again)", tostring(r[2])) end
   return table.unpack(r, 2, r.n)
end

-- 1. preflight ------------------------------------------------------------------------------
local survey, serr, scode = plan.survey(c, cfg)
if not survey then
   if scode == "BadInput" then stop(2, "%s", serr) end
   stop(1, "reading the cluster: %s", serr)
end
local snap = survey.snap
print("Settings:")
for _, line in ipairs(config.describe(cfg)) do print(line) end

--- Where the cluster is: flannel to migrate, a completion to finish, finished, or neither.
local function where()
   if snap.flannel_ds then return "flannel" end
   local labelled = false
   for _, n in ipairs(snap.nodes) do
      if (n.metadata.labels or {})[calico.LABEL_NETWORK] ~= nil then labelled = true end
   end
   local sel = snap.calico_ds and (snap.calico_ds.spec.template.spec.nodeSelector or {})[calico.LABEL_NETWORK]
   local phase = snap.migration_config and (snap.migration_config.data or {})["cni-migrate.phase"]
   if snap.calico_ds and (labelled or sel or phase == "complete") then return "complete" end
   if snap.calico_ds and #snap.pools > 0 then return "finished" end
   return "neither"
end
local state = where()
if state == "finished" then
   print(("The cluster is migrated already: no flannel DaemonSet (looked for %s), calico-node %s/%s without "
      .. "the migration's nodeSelector, and no node carries %s."):format(table.concat(snap.looked, ", "),
      snap.calico_ds.metadata.namespace, snap.calico_ds.metadata.name, calico.LABEL_NETWORK))
   return
end
if state == "neither" then
   stop(1, "neither flannel nor Calico here: no flannel or Canal DaemonSet (looked for %s) and no migrated "
      .. "Calico (DaemonSet %s/%s, IP pools). Set FLANNEL_DAEMONSET_NAME/NAMESPACE if flannel is elsewhere.",
      table.concat(snap.looked, ", "), cfg.values.CALICO_DAEMONSET_NAMESPACE, cfg.values.CALICO_DAEMONSET_NAME)
end

local counts = survey.results:counts()
if state == "flannel" and counts.blocker > 0 then
   print("")
   print(checks.format(survey.results))
   stop(1, "%d blocker(s): nothing was changed (fix them, or --skip CHECK to pass over one)", counts.blocker)
end
for _, r in ipairs(survey.results.list) do
   if r.result == "warning" or r.result == "skipped" then
      step("preflight", nil, ("%s %s: %s: %s"):format(r.result, r.check, r.object, r.message))
   end
end
step("preflight", nil, ("%d check(s) ok, %d warning(s), %d skipped"):format(counts.ok, counts.warning, counts.skipped))

local ctx = { c = c, cfg = cfg, snap = snap, step = step, durations = durations, blocked = blocked,
   dry_run = info.dryRun, procedure = "migrate" }
progress.start(ctx)

-- 2. prepare the cluster ---------------------------------------------------------------------
-- one writer at a time: a running rollback is never raced, and a rollback stops this run
if not info.dryRun then
   held = lock.acquire(c, cfg.values.CALICO_DAEMONSET_NAMESPACE, "migrate", function(text) step("lock", nil, text) end)
end
local function rollback_asked()
   local by = held and held:stop_requested()
   if by then stop(1, "a %s asked this run to stop (Lease %s/%s): stopped before the next node", by,
      cfg.values.CALICO_DAEMONSET_NAMESPACE, lock.NAME) end
end
if not info.dryRun then -- a dry run checks the hook files and calls none
   ctx.hooks = hook_set
   hooks.bind(hook_set, c, cfg, "migrate")
   started = true
   guarded(hooks.run, hook_set, "on_start")
end
if state == "flannel" then guarded(prepare.run, ctx) end

-- 3. migrate the nodes -----------------------------------------------------------------------
local migrated, skipped = {}, {}
if info.dryRun then
   for _, name in ipairs(plan.order(snap.nodes, cfg.values.POD_NODE_NAME)) do
      step("plan", name, "would migrate (node steps are not run with --dry-run=server)")
   end
   print(("Dry run: every write was sent with dryRun=All; nothing changed. %d node(s) would migrate."):format(
      #snap.nodes))
   return
end
if state == "flannel" then
   local has_node, node = pcall(require, "cm.node")
   if not has_node then stop(1, "the node steps need cm.node, which this build lacks; the cluster is prepared "
      .. "and the run can be resumed with a build that has it") end
   ctx.node = node
   local seen, kept = {}, {}
   while true do -- nodes that join during the run are picked up on the next pass
      local list, lerr = c:list { apiVersion = "v1", kind = "Node" }
      if not list then stop(1, "listing nodes: %s", lerr) end
      local by_name, todo = {}, {}
      for _, n in ipairs(list.items) do by_name[n.metadata.name] = n end
      for _, name in ipairs(plan.order(list.items, cfg.values.POD_NODE_NAME)) do
         if not seen[name] then todo[#todo + 1] = by_name[name] end
      end
      if #todo == 0 then break end
      todo = guarded(hooks.sequence, hook_set, todo, cfg.values.POD_NODE_NAME) -- the site's order hooks
      for _, n in ipairs(todo) do
         local name = n.metadata.name
         rollback_asked()
         seen[name] = true
         local st, busy = plan.state(n)
         local reason
         n, reason = guarded(hooks.check_hold, ctx, n, st == "flannel" and not busy)
         if reason then -- kept out of this run, on flannel
            kept[#kept + 1] = ("%s (%s)"):format(name, reason)
            step("held", name, reason)
         else
            if not (n.metadata.annotations or {})[calico.ANN_VXLAN_ADDR] then -- joined after the preparation
               guarded(hooks.around, ctx, n, "node-ipam", function()
                  prepare.label_flannel(ctx, n)
                  prepare.node_ipam(ctx, n)
               end)
            end
            local ok, res = pcall(nodestep.migrate, ctx, n)
            if not ok then
               local _, _, gone = c:get { apiVersion = "v1", kind = "Node", name = name }
               if gone ~= "NotFound" then stop(1, "%s\n(the run can be resumed: run it again)", tostring(res)) end
               skipped[#skipped + 1] = name
               notes[#notes + 1] = ("node %s was deleted during its migration: skipped"):format(name)
               step("skipped", name, "the node was deleted: skipped")
            else
               if res == "migrated" then migrated[#migrated + 1] = name end
               guarded(hooks.health, ctx, n, res == "migrated")
            end
         end
      end
   end
   if #kept > 0 then
      stop(1, "%d node(s) held by the site's hooks, still on flannel: %s. The migration cannot complete until they "
         .. "move: run it again once they are no longer held (%d node(s) migrated in this run)", #kept,
         table.concat(kept, "; "), #migrated)
   end
   guarded(hooks.step, ctx, "phase", prepare.migration_config, { ["cni-migrate.phase"] = "complete" })
end

-- 4. complete --------------------------------------------------------------------------------
rollback_asked()
guarded(hooks.step, ctx, "backup", complete.backup)
guarded(hooks.step, ctx, "delete-flannel", complete.delete_flannel)
guarded(hooks.step, ctx, "calico-selector", complete.calico_selector)
guarded(hooks.step, ctx, "calico-rollout", complete.calico_rollout)
local final = assert(c:list { apiVersion = "v1", kind = "Node" }).items
guarded(hooks.step, ctx, "labels", complete.labels, final)
guarded(hooks.step, ctx, "phase", prepare.migration_config, { ["cni-migrate.phase"] = "done",
   ["cni-migrate.finished"] = time.rfc3339() })
guarded(hooks.run, hook_set, "on_finish", { command = "migrate", nodes = migrated, skipped = skipped,
   seconds = time.now() - T0 })

held:release()

-- summary ------------------------------------------------------------------------------------
local total = time.now() - T0
print("")
print(("Migrated %d node(s) to Calico in %.1f s of %s time; %d skipped; %d node(s) in the cluster."):format(
   #migrated, total, simulated and "virtual (a rehearsal's prediction)" or "real", #skipped, #final))
for _, line in ipairs(plan.step_summary(durations, nodestep.STEPS)) do print(line) end
for _, b in ipairs(blocked) do print("blocked: " .. b) end
for _, n in ipairs(notes) do print("note: " .. n) end
print(("Flannel's DaemonSet is saved in ConfigMap %s/%s for rollback."):format(cfg.values.CALICO_DAEMONSET_NAMESPACE,
   calico.BACKUP_CONFIGMAP))
