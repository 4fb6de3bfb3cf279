--- cm.status: where a migration (or a rollback) is, from what the cluster holds: the nodes' labels
--- and annotations, flannel-migration-config (phase, pause) and the Lease of the run that writes.
--- It reads nothing else, so `cni-migrate status` works from any workstation, while the Job runs,
--- and on a finished or rolled-back cluster. model() is pure (objects in, a table out); text()
--- and encode() print it.
---
--- The model (also `status --json`, schema "cni-migrate.dev/status/v1"; times RFC 3339 UTC,
--- durations in seconds, absent values null):
---   phase       not started | preparing | migrating | paused | complete | done | rolling back
---               | rolled back
---   direction   "migrate" or "rollback" (what "done" means for a node: on Calico, or back on flannel)
---   paused      {reason, at} while paused, else null
---   started, finished   flannel-migration-config's cni-migrate.started / cni-migrate.finished
---   now         the time the cluster was read at
---   run         {procedure, holder, renewed, expires_in} of the Lease's live holder, else null (no
---               run is writing: a run that stopped with nodes in flight is resumed by running it again)
---   counts      {total, done, in_flight, held, failed, left}
---   eta_seconds left and in-flight nodes at the rate so far (done / time since started), or null
---   nodes       [{name, state (done | in flight | held | failed | left), network (the label, or null),
---               step, since, reason, control_plane}] in the migration's order; step is the step the
---               node is in (cm.nodestep's step annotation) or, when failed, the step that failed
local calico = require "cm.calico"
local cluster = require "cm.cluster"
local json = require "cm.json"
local lock = require "cm.lock"
local nodestep = require "cm.nodestep"
local plan = require "cm.plan"

local M = {}

M.SCHEMA = "cni-migrate.dev/status/v1"
M.KEY_PAUSED = "cni-migrate.paused"
M.KEY_PAUSED_AT = "cni-migrate.paused-at"
M.STATES = { "done", "in flight", "held", "failed", "left" }

--- Whether a node's migration has begun (the preparation labels every node flannel: not yet).
local function begun(n)
   local l, a = n.metadata.labels or {}, n.metadata.annotations or {}
   local net = l[calico.LABEL_NETWORK]
   return (net ~= nil and net ~= "flannel") or l[calico.LABEL_IN_PROGRESS] ~= nil or a[nodestep.ANN_STEP] ~= nil
end

--- The phase and direction from the ConfigMap's data and the nodes.
---@param data table flannel-migration-config's data ({} when absent)
---@param nodes table[]
---@param running string|nil the procedure holding the Lease (a migration that has not saved its phase yet
---   is preparing)
---@return string phase
---@return string direction
function M.phase(data, nodes, running)
   local p = data["cni-migrate.phase"]
   if p == "rolled-back" then return "rolled back", "rollback" end
   if p == "rollback" or running == "rollback" then return "rolling back", "rollback" end
   if p == "done" or p == "complete" then return p, "migrate" end
   if (data[M.KEY_PAUSED] or "") ~= "" then return "paused", "migrate" end
   local any = false
   for _, n in ipairs(nodes) do any = any or begun(n) end
   if any then return "migrating", "migrate" end
   return (p or running) and "preparing" or "not started", "migrate"
end

--- A node's state, its step, since when, and why (held or failed).
---@return string state
---@return string|nil step
---@return string|nil since RFC 3339
---@return string|nil reason
---@param n table a Node
---@param direction string "migrate" | "rollback"
---@param completed boolean the completion has begun (its end removes the labels; calico-node runs everywhere)
function M.node_state(n, direction, completed)
   local l, a = n.metadata.labels or {}, n.metadata.annotations or {}
   local net, busy = l[calico.LABEL_NETWORK], l[calico.LABEL_IN_PROGRESS] == "true"
   local step = a[nodestep.ANN_STEP]
   local since = a[nodestep.ANN_STEP_AT]
   if a[nodestep.ANN_FAILED] then -- "STEP: message": the step it failed in
      return "failed", a[nodestep.ANN_FAILED]:match("^([%w-]+): ") or step, since, a[nodestep.ANN_FAILED]
   end
   if busy or net == "none" then return "in flight", step, since or a[nodestep.ANN_CORDONED], nil end
   if a[nodestep.ANN_HELD] then return "held", step, a[nodestep.ANN_HELD_AT], a[nodestep.ANN_HELD] end
   local done
   if direction == "rollback" then
      done = net == nil or net == "flannel" -- unlabelled: flannel (the rollback labels Calico's nodes first)
   else
      done = net == "calico" or (net == nil and (completed or a[nodestep.ANN_MIGRATED] ~= nil))
   end
   if done then return "done", step, since or a[nodestep.ANN_MIGRATED], nil end
   return "left", step, since, nil
end

local function or_null(v) if v == nil then return json.null end return v end

--- The status of the cluster from its objects.
---@param nodes table[] the Nodes
---@param mc table|nil flannel-migration-config
---@param lease table|nil the Lease (cm.lock)
---@param now number wall time (seconds since the epoch)
---@param own_node string|nil POD_NODE_NAME, for the order
---@return table model (see the head of this file)
function M.model(nodes, mc, lease, now, own_node)
   local data = mc and mc.data or {}
   local procedure, holder, left = lock.holder(lease)
   local live = holder and left > 0
   local phase, direction = M.phase(data, nodes, live and procedure or nil)
   local by_name = {}
   for _, n in ipairs(nodes) do by_name[n.metadata.name] = n end
   local counts = { total = #nodes, done = 0, in_flight = 0, held = 0, failed = 0, left = 0 }
   local list = json.array()
   for _, name in ipairs(plan.order(nodes, own_node)) do
      local n = by_name[name]
      local state, step, since, reason = M.node_state(n, direction, phase == "complete" or phase == "done")
      local key = state:gsub(" ", "_")
      counts[key] = counts[key] + 1
      local net = (n.metadata.labels or {})[calico.LABEL_NETWORK]
      list[#list + 1] = { name = name, state = state, network = or_null(net), step = or_null(step),
         since = or_null(since), reason = or_null(reason), control_plane = cluster.is_control_plane(n) }
   end
   local run = json.null
   if live then
      local spec = lease.spec
      run = { procedure = or_null(procedure), holder = holder, renewed = or_null(spec.renewTime or spec.acquireTime),
         expires_in = math.floor(left + 0.5) }
   end
   local eta = json.null
   local started = lock.epoch(data["cni-migrate.started"])
   local todo = counts.left + counts.in_flight
   if direction == "migrate" and started and counts.done > 0 and todo > 0 and now > started
      and (phase == "migrating" or phase == "paused") then
      eta = math.floor(todo * (now - started) / counts.done + 0.5)
   end
   local paused = json.null
   if phase == "paused" then paused = { reason = data[M.KEY_PAUSED], at = or_null(data[M.KEY_PAUSED_AT]) } end
   return { schema = M.SCHEMA, phase = phase, direction = direction, paused = paused,
      started = or_null(data["cni-migrate.started"]), finished = or_null(data["cni-migrate.finished"]),
      now = M.rfc3339(now), run = run, counts = counts, eta_seconds = eta, nodes = list }
end

--- RFC 3339 UTC, seconds.
function M.rfc3339(t)
   return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t))
end

--- "3s", "4m05s", "2h10m".
function M.duration(s)
   s = math.max(0, math.floor(s + 0.5))
   if s < 60 then return s .. "s" end
   if s < 3600 then return ("%dm%02ds"):format(s // 60, s % 60) end
   return ("%dh%02dm"):format(s // 3600, s % 3600 // 60)
end

--- "2026-11-01T09:00:21Z (1m08s ago)", or "-".
local function when(t, now)
   local e = lock.epoch(t)
   if not e then return "-" end
   return ("%s (%s ago)"):format(M.rfc3339(e), M.duration(now - e))
end

local function null(v)
   if v == json.null then return nil end
   return v
end

--- The model as a table a person reads at a glance.
---@param m table M.model's result
---@return string
function M.text(m)
   local now = lock.epoch(m.now)
   local c = m.counts
   local out = {}
   local head = "Phase: " .. m.phase
   if null(m.paused) then head = head .. (" (%s, since %s)"):format(m.paused.reason, when(null(m.paused.at), now)) end
   if null(m.started) then head = head .. "; started " .. when(m.started, now) end
   if null(m.finished) then head = head .. "; finished " .. when(m.finished, now) end
   out[#out + 1] = head
   if null(m.run) then
      out[#out + 1] = ("Run: %s (%s), Lease renewed %s, expires in %s unless renewed"):format(m.run.procedure,
         m.run.holder, when(null(m.run.renewed), now), M.duration(m.run.expires_in))
   elseif m.phase ~= "not started" and m.phase ~= "done" and m.phase ~= "rolled back" then
      out[#out + 1] = "Run: none holds the Lease (stopped: run the procedure again to resume)"
   end
   out[#out + 1] = ("Nodes: %d done, %d in flight, %d held, %d failed, %d left (of %d)%s"):format(c.done, c.in_flight,
      c.held, c.failed, c.left, c.total, null(m.eta_seconds) and ("; ETA %s at the rate so far"):format(
      M.duration(m.eta_seconds)) or "")
   out[#out + 1] = ""
   local rows = { { "NODE", "STATE", "STEP", "SINCE", "WHY" } }
   for _, n in ipairs(m.nodes) do
      rows[#rows + 1] = { n.name .. (n.control_plane and " (cp)" or ""), n.state, null(n.step) or "-",
         when(null(n.since), now), null(n.reason) or "" }
   end
   local width = {}
   for _, r in ipairs(rows) do
      for i = 1, 4 do width[i] = math.max(width[i] or 0, #r[i]) end
   end
   for _, r in ipairs(rows) do
      local line = ("%-" .. width[1] .. "s  %-" .. width[2] .. "s  %-" .. width[3] .. "s  %-" .. width[4] .. "s  %s")
         :format(r[1], r[2], r[3], r[4], r[5])
      out[#out + 1] = (line:gsub("%s+$", ""))
   end
   return table.concat(out, "\n") .. "\n"
end

--- The model as one line of JSON (keys sorted).
function M.encode(m)
   return json.encode(m)
end

return M
