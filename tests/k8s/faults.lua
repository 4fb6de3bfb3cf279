-- cm.k8s against injected faults (tests/cli/test_faults.sh and test_fake_faults.sh give the
-- faults with --fault): `run faults.lua MODE [N]`, one mode per run.
local k8s = require "cm.k8s"
local task = require "cm.task"
local time = require "cm.time"
local t = require "t"

local mode, n = ...
local c = assert(k8s.client { qps = -1 })
local worker1 = { apiVersion = "v1", kind = "Node", name = "worker-1" }

local modes = {}

-- N reads; prints how many failed (a 500 without Retry-After is not retried)
function modes.count()
   local failed = 0
   for _ = 1, tonumber(n) do
      local r, _, reason = c:get(worker1)
      if not r then
         t.eq(reason, "InternalError", "the injected answer")
         failed = failed + 1
      end
   end
   print("failed " .. failed .. " of " .. n)
end

-- a 429 with Retry-After is retried after it, and the read succeeds
function modes.retry()
   local t0 = time.now()
   local r, msg = c:get(worker1)
   t.eq(r and r.metadata.name, "worker-1", "the read succeeds after the retries: " .. tostring(msg))
   print(("waited %.0f s"):format(time.now() - t0))
end

-- an answer the client does not retry: printed as the script sees it
function modes.surface()
   local a = table.pack(c:get(worker1))
   t.eq({ a.n, a[1] }, { 3, nil }, "nil, message, code")
   print("message: " .. a[2])
   print("reason: " .. a[3])
   t.eq(c:get(worker1).metadata.name, "worker-1", "the next read succeeds")
end

-- a write that gets a 409 Conflict
function modes.conflict()
   local r, msg, reason = c:patch(worker1, { metadata = { labels = { x = "y" } } })
   t.eq(r, nil, "no object")
   print("message: " .. msg)
   print("reason: " .. reason)
end

-- a read is retried after a reset; a write is not, and says so
function modes.reset()
   local r, msg = c:get(worker1)
   t.eq(r and r.metadata.name, "worker-1", "the read succeeds after the resets: " .. tostring(msg))
   local w, wmsg, reason = c:patch(worker1, { metadata = { labels = { x = "y" } } })
   t.eq(w, nil, "the write is not retried")
   print("write: " .. tostring(reason) .. ": " .. tostring(wmsg))
end

-- a watch the server keeps ending early: resumed with no event lost or repeated
function modes.watch()
   local count = tonumber(n or 30)
   local list = assert(c:list { apiVersion = "v1", kind = "ConfigMap", namespace = "default" })
   local writer = task.spawn(function()
      for i = 1, count do
         time.sleep(1)
         assert(c:create { apiVersion = "v1", kind = "ConfigMap",
            metadata = { name = "cm-" .. i, namespace = "default" } })
      end
      return true
   end)
   local seen, order = {}, {}
   for ev in c:watch { apiVersion = "v1", kind = "ConfigMap", namespace = "default",
      resourceVersion = list.metadata.resourceVersion, timeout = count + 10 } do
      local name = ev.object.metadata.name
      t.eq(ev.type, "ADDED", "only additions")
      t.eq(seen[name], nil, "delivered once: " .. name)
      seen[name] = true
      order[#order + 1] = name
   end
   t.eq(writer:wait(), true, "the writer finished")
   for i = 1, count do t.eq(order[i], "cm-" .. i, "in order") end
   print("events " .. #order)
end

assert(modes[mode], "unknown mode")()
t.done()
