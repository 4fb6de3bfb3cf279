-- Pauses a running procedure (migrate.lua or rollback.lua, from its file) at virtual time PAUSE_AT
-- (seconds from the start) as `cni-migrate pause` does, and resumes it RESUME_AFTER seconds later,
-- while a watch on the Nodes records when each node starts (our cordon) and ends (uncordon).
-- Checks: nodes started before the pause; none starts while paused (one whose start was already
-- under way may, within a second); the nodes in flight at the pause finish during it; nodes start
-- again after the resume.
--
--   cni-migrate --fake FIXTURE run pause_mid.lua PROCEDURE.lua PAUSE_AT RESUME_AFTER [ARGS...]
local k8s = require "cm.k8s"
local schedule = require "cm.schedule"
local task = require "cm.task"
local time = require "cm.time"

local script, pause_at, resume_after = arg[1], tonumber(arg[2]), tonumber(arg[3])
local args = table.move(arg, 4, #arg, 1, {})
local c = assert(k8s.client { qps = -1 })
local t0 = time.now()
local starts, ends, ours = {}, {}, {}
local paused_at, resumed_at

local list = assert(c:list { apiVersion = "v1", kind = "Node" })
local w = c:watch { apiVersion = "v1", kind = "Node", resourceVersion = list.metadata.resourceVersion }
local watcher = task.spawn(function()
   pcall(function()
      for ev in w do
         local n = ev.object
         if n and n.kind == "Node" then
            local now = n.spec.unschedulable and (n.metadata.annotations or {})["cni-migrate.dev/cordoned"] ~= nil
            local name = n.metadata.name
            if now and not ours[name] then starts[#starts + 1] = { name, time.now() - t0 } end
            if ours[name] and not now then ends[#ends + 1] = { name, time.now() - t0 } end
            ours[name] = now or nil
         end
      end
   end)
end)
local operator = task.spawn(function()
   time.sleep(pause_at)
   assert(schedule.set_pause(c, "kube-system", "a test pauses"))
   paused_at = time.now() - t0
   time.sleep(resume_after)
   resumed_at = time.now() - t0 -- as the resume is sent: the run may see it before its answer comes back
   assert(schedule.set_pause(c, "kube-system", nil))
end)

local ok, err = pcall(assert(loadfile(script)), table.unpack(args))
w:close()
watcher:wait()
operator:wait()
if not ok then error(err, 0) end
assert(paused_at and resumed_at, "the run ended before the pause and the resume")
local before, during, after, in_flight, ended_during = 0, 0, 0, {}, 0
for _, s in ipairs(starts) do
   if s[2] < paused_at then
      before = before + 1
      in_flight[s[1]] = true
   elseif s[2] <= paused_at + 1 then
      before = before + 1 -- under way when the pause came
      in_flight[s[1]] = true
   elseif s[2] < resumed_at then
      during = during + 1
   else
      after = after + 1
   end
end
for _, e in ipairs(ends) do
   if e[2] < paused_at then in_flight[e[1]] = nil end
   if e[2] >= paused_at and e[2] < resumed_at and in_flight[e[1]] then ended_during = ended_during + 1 end
end
assert(before > 0, "no node started before the pause")
assert(during == 0, ("%d node(s) started while paused"):format(during))
assert(after > 0, "no node started after the resume")
local flying = 0
for _ in pairs(in_flight) do flying = flying + 1 end
assert(ended_during == flying, ("%d node(s) in flight at the pause, %d finished during it"):format(flying, ended_during))
print(("paused at +%.0fs, resumed at +%.0fs: %d node(s) started before, %d in flight finished while paused, "
   .. "0 started while paused, %d after"):format(paused_at, resumed_at, before, ended_during, after))
