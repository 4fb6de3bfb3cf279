--- cm.progress: what a run shows of its node steps while it goes. cm.nodestep.timed reports each
--- step's begin and end here; from that come the step's Event (cm.events), the Prometheus metrics
--- (cm.metrics: nodes by state, step durations, evictions; the API's requests, errors and retries
--- are counted by the client itself), and, when stderr is a terminal, a live line per node in
--- flight under the timeline (its step and since when), redrawn at each step.
---
--- start(ctx) once a run has its ctx: declares the metrics, serves them when --metrics-port (or
--- CNI_MIGRATE_METRICS_PORT) is given, and takes the nodes' states from ctx.snap.nodes.
local events = require "cm.events"
local log = require "cm.log"
local metrics = require "cm.metrics"
local proc = require "cm.proc"
local status = require "cm.status"
local time = require "cm.time"

local M = {}

M.NODES = "cni_migrate_nodes"
M.STEP_SECONDS = "cni_migrate_step_duration_seconds"
M.EVICTIONS = "cni_migrate_evictions_total"
M.STEPS_FAILED = "cni_migrate_step_failures_total"

--- The node states counted (status's words, "in flight" as in_flight).
local STATES = { "done", "in_flight", "held", "failed", "left" }

local function publish(p)
   local count = {}
   for _, s in ipairs(STATES) do count[s] = 0 end
   for _, s in pairs(p.state) do count[s] = (count[s] or 0) + 1 end
   for _, s in ipairs(STATES) do metrics.set(M.NODES, count[s], { state = s }) end
end

--- The live block on stderr: erased before a timeline line, drawn again after.
local function erase(p)
   if p.drawn > 0 then io.stderr:write(("\27[1A\27[2K"):rep(p.drawn)) end
   p.drawn = 0
end

local function draw(p)
   local names = {}
   for name in pairs(p.live) do names[#names + 1] = name end
   table.sort(names)
   for _, name in ipairs(names) do
      local l = p.live[name]
      io.stderr:write(("\27[2K  %-24s %-16s since %s (+%ds)\n"):format(name, l.step, status.rfc3339(l.wall),
         math.floor(time.now() - l.t0)))
   end
   p.drawn = #names
   io.stderr:flush()
end

--- Sets up the run's progress (see the head of this file); ctx.progress holds it.
---@param ctx table {c, cfg, snap, step, procedure}
function M.start(ctx)
   local p = { state = {}, live = {}, drawn = 0, tty = log.isatty("stderr") and log.format() == "text" }
   ctx.progress = p
   metrics.gauge(M.NODES, "Nodes by state in this run: done, in_flight, held, failed, left.")
   metrics.histogram(M.STEP_SECONDS, "How long each node step took, by procedure and step.")
   metrics.counter(M.EVICTIONS, "Pods evicted by the drains.")
   metrics.counter(M.STEPS_FAILED, "Node steps that failed, by procedure and step.")
   local direction = ctx.procedure == "rollback" and "rollback" or "migrate"
   for _, n in ipairs(ctx.snap and ctx.snap.nodes or {}) do
      p.state[n.metadata.name] = (status.node_state(n, direction, false):gsub(" ", "_"))
   end
   publish(p)
   local port = ctx.cfg.opts.metrics_port
   if port and port >= 0 then
      local got, err = metrics.serve(port)
      if not got then proc.fail("--metrics-port %d: %s", port, err) end
      ctx.step("metrics", nil, ("Prometheus metrics on http://0.0.0.0:%d/metrics"):format(got))
   end
   if p.tty then -- each timeline line goes above the live block
      local print_line = ctx.step
      ctx.step = function(...)
         erase(p)
         print_line(...)
         io.stdout:flush()
         draw(p)
      end
   end
end

--- A node step begins.
function M.begin(ctx, name, step)
   local p = ctx.progress
   if not p then return end
   if p.state[name] ~= "in_flight" then
      p.state[name] = "in_flight"
      publish(p)
   end
   if p.tty then
      p.live[name] = { step = step, t0 = time.now(), wall = time.wall() }
      erase(p)
      draw(p)
   end
end

--- A node step ended after seconds: its Event and metrics; err when it raised.
function M.finish(ctx, name, step, seconds, text, err)
   local p = ctx.progress
   local procedure = ctx.procedure or "migrate"
   if err then
      events.failed(ctx, name, step, err)
   else
      events.step(ctx, name, step, text)
   end
   if not p then return end
   local labels = { procedure = procedure, step = step }
   if err then
      metrics.add(M.STEPS_FAILED, 1, labels)
      p.state[name] = "failed"
   else
      metrics.observe(M.STEP_SECONDS, seconds, labels)
      if step == "uncordon" then p.state[name] = "done" end
   end
   publish(p)
   if p.tty and (err or step == "uncordon") then
      p.live[name] = nil
      erase(p)
      draw(p)
   end
end

--- A node held out of the run (cm.nodestep.hold wrote it): its Event (MigrationHeld, RollbackHeld),
--- the held state, and no live line.
function M.held(ctx, name, reason)
   events.held(ctx, name, reason)
   local p = ctx.progress
   if not p then return end
   p.state[name] = "held"
   publish(p)
   if p.tty and p.live[name] then
      p.live[name] = nil
      erase(p)
      draw(p)
   end
end

--- Pods a drain evicted.
function M.evicted(ctx, count)
   if ctx.progress and count > 0 then metrics.add(M.EVICTIONS, count) end
end

return M
