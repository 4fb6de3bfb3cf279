--- cm.events: Kubernetes Events on the Nodes a migration or a rollback works on, for `kubectl
--- describe node` and `kubectl get events`. Best-effort: an Event that cannot be written is logged
--- (warn) and the run goes on. Five per node on a whole run (its start, drained, the old network
--- removed, the new one ready and checked, done), and one for a hold or a failure.
---
--- An Event is core/v1 as kubelet writes a node's: in namespace default, involvedObject the Node
--- with uid = its name (what `kubectl describe node` searches for), named NODE.<hex of the time in
--- ns> as client-go's recorder names them, source.component and reportingComponent "cni-migrate",
--- reportingInstance the pod (POD_NAME) or "cli", firstTimestamp = lastTimestamp, count 1.
local log = require "cm.log"
local time = require "cm.time"

local M = {}

M.COMPONENT = "cni-migrate"
M.NAMESPACE = "default"

--- The Event each node step ends with, per procedure (steps not listed have none).
M.STEPS = {
   migrate = { cordon = "MigrationStarted", drain = "Drained", ["flannel-cleanup"] = "FlannelRemoved",
      ["calico-check"] = "CalicoReady", uncordon = "MigrationCompleted" },
   rollback = { cordon = "RollbackStarted", drain = "RollbackDrained", ["calico-cleanup"] = "CalicoRemoved",
      ["flannel-check"] = "FlannelReady", uncordon = "RollbackCompleted" },
}
--- The Event of a step that failed, per procedure.
M.FAILED = { migrate = "MigrationFailed", rollback = "RollbackFailed" }
--- The Event of a node held out of the run (a hold hook, the drain timeout's hold policy), per procedure.
M.HELD = { migrate = "MigrationHeld", rollback = "RollbackHeld" }

--- metav1.Time: RFC 3339, seconds.
local function stamp(t)
   return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t))
end

--- Writes one Event on a Node; never raises (a failure is logged).
---@param ctx table {c = client}
---@param node_name string
---@param reason string UpperCamelCase (MigrationStarted, Drained, ...)
---@param message string
---@param type string|nil "Normal" (default) or "Warning"
---@return boolean written
function M.node(ctx, node_name, reason, message, type)
   local t = time.wall()
   local now = stamp(t)
   if #message > 1024 then message = message:sub(1, 1021) .. "..." end -- the API server's limit is 1 KiB
   local ev = { apiVersion = "v1", kind = "Event",
      metadata = { name = ("%s.%x"):format(node_name, math.floor(t * 1e9)), namespace = M.NAMESPACE },
      involvedObject = { apiVersion = "v1", kind = "Node", name = node_name, uid = node_name },
      reason = reason, message = message, type = type or "Normal", count = 1,
      firstTimestamp = now, lastTimestamp = now,
      source = { component = M.COMPONENT }, reportingComponent = M.COMPONENT,
      reportingInstance = os.getenv("POD_NAME") or "cli" }
   local ok, got, msg, code = pcall(ctx.c.create, ctx.c, ev)
   if ok and got then return true end
   log.warn("an Event could not be written (the run goes on)", { node = node_name, reason = reason,
      error = ok and tostring(msg) or tostring(got), code = ok and tostring(code) or "raised" })
   return false
end

--- The Event a node step ends with, if it has one (cm.nodestep.timed calls it).
---@param ctx table {c, procedure = "migrate" | "rollback" (default migrate)}
---@param node_name string
---@param step string
---@param text string|nil the step's timeline text (the Event's message)
function M.step(ctx, node_name, step, text)
   local reason = M.STEPS[ctx.procedure or "migrate"][step]
   if reason then M.node(ctx, node_name, reason, ("%s: %s"):format(step, text or "done")) end
end

--- The Warning Event of a step that failed: "STEP: message".
function M.failed(ctx, node_name, step, message)
   local prefix = ("node %s: %s: "):format(node_name, step) -- cm.nodestep's failures start so
   if message:sub(1, #prefix) == prefix then message = message:sub(#prefix + 1) end
   M.node(ctx, node_name, M.FAILED[ctx.procedure or "migrate"], ("%s: %s"):format(step, message), "Warning")
end

--- The Event of a node held out of the run: the reason.
function M.held(ctx, node_name, reason)
   M.node(ctx, node_name, M.HELD[ctx.procedure or "migrate"], reason)
end

return M
