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
local cluster = require "cm.cluster"
local complete = require "cm.complete"
local config = require "cm.config"
local hooks = require "cm.hooks"
local lock = require "cm.lock"
local nodestep = require "cm.nodestep"
local plan = require "cm.plan"
local prepare = require "cm.prepare"
local progress = require "cm.progress"
local proc = require "cm.proc"
local schedule = require "cm.schedule"
local task = require "cm.task"
local time = require "cm.time"

local ARGS = { ... }
local cfg, c = config.start("migrate", ARGS, os.getenv)
if not cfg then return end
local hook_set = hooks.start(cfg, "migrate") -- a bad hook file: exit 2 before anything is read
local info = c:info()
local simulated = (info.source or ""):match("^fake") ~= nil
local T0, W0 = time.now(), time.wall()
local durations, blocked, notes = {}, {}, {}

local events = cfg.opts.report ~= "" and {} or nil -- the timeline's lines, for --report
local step = plan.timeline(T0, events)

local held -- the Lease (cm.lock) while this run writes
local started = false -- on_start has run: a stop calls on_failure

local ctx -- the run's context, once the preflight has read the cluster
local survey -- what the preflight read and found

--- Writes --report's page (a rehearsal's only), the outcome given.
local function write_report(ok, outcome)
   if not events then return end
   if not simulated then
      io.stderr:write("migrate: --report: only a rehearsal (--fake) writes a report; none written\n")
      return
   end
   local report = require "cm.report"
   local d = report.data(c, cfg, { ok = ok, outcome = outcome, t0 = T0, events = events, ctx = ctx,
      checks = survey and survey.results.list, steps = nodestep.STEPS, command = "migrate", args = ARGS })
   local f, err = io.open(cfg.opts.report, "w")
   if f then f, err = f:write(report.html(d)), select(2, f:close()) end
   if not f then io.stderr:write(("migrate: --report %s: %s\n"):format(cfg.opts.report, tostring(err))) end
end

local function stop(code, fmt, ...)
   if code == 2 then proc.usage("migrate: " .. fmt, ...) end
   if started then hooks.failed(hook_set, "migrate: " .. fmt:format(...)) end
   if held then held:release() end
   write_report(false, ("migrate: " .. fmt):format(...))
   proc.fail("migrate: " .. fmt, ...)
end

--- fn(...), or the run stops there with its error: every step is idempotent, so it resumes.
local function guarded(fn, ...)
   local r = table.pack(pcall(fn, ...))
   if not r[1] then stop(1, "%s\n(the run can be resumed: run it again)", tostring(r[2])) end
   return table.unpack(r, 2, r.n)
end

-- 1. preflight ------------------------------------------------------------------------------
local serr, scode
survey, serr, scode = plan.survey(c, cfg)
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

ctx = { c = c, cfg = cfg, snap = snap, step = step, durations = durations, blocked = blocked,
   dry_run = info.dryRun, bars = events and {}, holds = events and {}, procedure = "migrate" }
progress.start(ctx)

-- 2. prepare the cluster ---------------------------------------------------------------------
-- one writer at a time: a running rollback is never raced, and a rollback stops this run
if not info.dryRun then
   held = lock.acquire(c, cfg.values.CALICO_DAEMONSET_NAMESPACE, "migrate", function(text) step("lock", nil, text) end)
end
--- Why this run must stop before its next node (a rollback asked), or nil.
local function stop_asked()
   local by = held and held:stop_requested()
   return by and ("a %s asked this run to stop (Lease %s/%s): stopped before the next node"):format(by,
      cfg.values.CALICO_DAEMONSET_NAMESPACE, lock.NAME)
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
   -- the nodes are listed anew for their turns (joined ones among them): the snapshot's are let go,
   -- so that a big cluster's Nodes are not held twice
   snap.nodes = nil
   local own = cfg.values.POD_NODE_NAME
   local wake = task.signal()
   local pause = schedule.watch_pause(c, cfg.values.CALICO_DAEMONSET_NAMESPACE, snap.migration_config,
      function() wake:notify() end)
   local joined = guarded(prepare.label_joined, ctx)
   local r = schedule.run {
      list = function()
         local nodes, lerr = cluster.list_nodes(c)
         if not nodes then stop(1, "listing nodes: %s", lerr) end
         return nodes
      end,
      todo = function() return true end, -- a node done already costs nothing (a health gate may be due)
      order = function(nodes) -- the run's order, then the site's order hooks (the own node stays last)
         local by, ordered = {}, {}
         for _, n in ipairs(nodes) do by[n.metadata.name] = n end
         for _, name in ipairs(plan.order(nodes, own)) do ordered[#ordered + 1] = by[name] end
         local names = {}
         for _, n in ipairs(hooks.sequence(hook_set, ordered, own)) do
            names[#names + 1] = n.metadata.name
         end
         return names
      end,
      hold = function(n) -- the site's hold hooks, asked as the node is picked
         local st, busy = plan.state(n)
         local cur, reason = hooks.check_hold(ctx, n, st == "flannel" and not busy)
         if reason then step("held", n.metadata.name, reason) end
         return reason, cur
      end,
      start = stop_asked,
      work = function(n)
         local name = n.metadata.name
         local ok, res = pcall(function()
            if not (n.metadata.annotations or {})[calico.ANN_VXLAN_ADDR] then -- joined after the preparation
               hooks.around(ctx, n, "node-ipam", function() prepare.node_ipam(ctx, n) end)
            end
            return nodestep.migrate(ctx, n)
         end)
         if not ok then
            local _, _, gone = c:get { apiVersion = "v1", kind = "Node", name = name }
            if gone == "NotFound" then
               notes[#notes + 1] = ("node %s was deleted during its migration: skipped"):format(name)
               step("skipped", name, "the node was deleted: skipped")
               return "skipped"
            end
            nodestep.failed(ctx, name, (ctx.at or {})[name], res) -- best effort: the run's message says it all
            return "failed", tostring(res)
         end
         local hok, herr = pcall(hooks.health, ctx, n, res == "migrated") -- it marks the node itself
         if not hok then return "failed", tostring(herr) end
         return res
      end,
      gate = schedule.gate(cfg.opts, pause, W0),
      signal = wake,
      own = own, limit = cfg.opts.max_unavailable, per_zone = cfg.opts.max_unavailable_per_zone,
      delay = cfg.opts.node_delay, note = function(who, what, text) step(what, who, text) end,
   }
   pause.close()
   joined.close()
   local failed, kept = {}, {}
   for _, name in ipairs(r.order) do
      local out = r.outcomes[name]
      if out == "migrated" then migrated[#migrated + 1] = name end
      if out == "skipped" then skipped[#skipped + 1] = name end
      if out == "failed" then failed[#failed + 1] = name end
      if out == "held" then
         kept[#kept + 1] = ("%s (drain timed out after %gs: --drain-timeout-policy hold)"):format(name,
            cfg.opts.drain_timeout)
      end
   end
   for name, why in pairs(r.held) do kept[#kept + 1] = ("%s (%s)"):format(name, why) end
   if #failed > 0 then
      local also = #failed > 1 and ("\nalso failed: " .. table.concat(failed, ", ", 2)) or ""
      stop(1, "%s%s\n(the run can be resumed: run it again)", r.details[failed[1]], also)
   end
   if r.error then stop(1, "%s\n(the run can be resumed: run it again)", r.error) end -- an order or hold hook's
   if r.asked then stop(1, "%s", r.asked) end
   if r.stopped then stop(1, "%s; %d node(s) migrated in this run (the run can be resumed: run it again)", r.stopped,
      #migrated) end
   if #kept > 0 then
      table.sort(kept)
      stop(1, "%d node(s) held, still on flannel: %s. The migration cannot complete until they move: run it again "
         .. "once they are no longer held (%d node(s) migrated in this run)", #kept, table.concat(kept, "; "),
         #migrated)
   end
   guarded(hooks.step, ctx, "phase", prepare.migration_config, { ["cni-migrate.phase"] = "complete" })
end

-- 4. complete --------------------------------------------------------------------------------
local asked = stop_asked()
if asked then stop(1, "%s", asked) end
guarded(hooks.step, ctx, "backup", complete.backup)
guarded(hooks.step, ctx, "delete-flannel", complete.delete_flannel)
guarded(hooks.step, ctx, "calico-selector", complete.calico_selector)
guarded(hooks.step, ctx, "calico-rollout", complete.calico_rollout)
local final = assert(cluster.list_nodes(c))
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
for _, line in ipairs(require("cm.invariants").summary()) do print(line) end
for _, b in ipairs(blocked) do print("blocked: " .. b) end
for _, n in ipairs(notes) do print("note: " .. n) end
print(("Flannel's DaemonSet is saved in ConfigMap %s/%s for rollback."):format(cfg.values.CALICO_DAEMONSET_NAMESPACE,
   calico.BACKUP_CONFIGMAP))
write_report(true, ("Migrated %d node(s) to Calico in %.1f s of virtual time; %d skipped; %d node(s) in the cluster.")
   :format(#migrated, total, #skipped, #final))
if events then print(("Report: %s"):format(cfg.opts.report)) end
