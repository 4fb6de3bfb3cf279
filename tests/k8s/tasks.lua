-- cm.k8s requests from several cm.task tasks at once against tests/k8s/apiserver.py: each task
-- yields while its request is in flight, so the requests overlap (the server sees them together)
-- and the tasks end after about the slowest request, not the sum of all.
local k8s = require "cm.k8s"
local kt = require "kt"
local t = require "t"
local task = require "cm.task"
local time = require "cm.time"

local c = assert(k8s.client { qps = -1 })
local function node(name) return { apiVersion = "v1", kind = "Node", name = name } end
for i = 1, 4 do assert(c:create { apiVersion = "v1", kind = "Node", metadata = { name = "slow-" .. i } }) end
for i = 1, 3 do
   assert(c:create { apiVersion = "v1", kind = "Pod", metadata = { name = "p" .. i, namespace = "ns1",
      labels = { fault = "slow" } } })
end

-- four tasks, each a GET the server answers after 2 s
kt.reset()
local t0 = time.now()
local tasks = {}
for i = 1, 4 do
   tasks[i] = task.spawn(function() return assert(c:get(node("slow-" .. i))).metadata.name end)
end
for i = 1, 4 do t.eq(tasks[i]:wait(), "slow-" .. i, "task " .. i .. "'s answer") end
local took = time.now() - t0
t.eq(took >= 2 and took < 6, true, ("four 2 s GETs in tasks took %.2f s, not 8"):format(took))
local most = 0
for _, r in ipairs(kt.requests()) do most = math.max(most, r.inflight) end
t.eq(most, 4, "the server had the four GETs in hand at once")

-- a list of three pages (1 s each), a watch and a slow GET, each in a task, and the main thread too
kt.reset()
t0 = time.now()
local lister = task.spawn(function()
   local n, pages = 0, 0
   for page in c:pages { apiVersion = "v1", kind = "Pod", labelSelector = "fault=slow", limit = 1 } do
      pages = pages + 1
      n = n + #page.items
   end
   return pages, n
end)
local start = assert(c:list { apiVersion = "v1", kind = "ConfigMap", namespace = "ns1", limit = 1 })
local watcher = task.spawn(function()
   local seen = {}
   for ev in c:watch { apiVersion = "v1", kind = "ConfigMap", namespace = "ns1", timeout = 2.5,
                       resourceVersion = start.metadata.resourceVersion } do
      seen[#seen + 1] = ev.type .. " " .. ev.object.metadata.name
   end
   return seen
end)
local getter = task.spawn(function() return assert(c:get(node "slow-1")).metadata.name end)
time.sleep(0.5)
assert(c:create { apiVersion = "v1", kind = "ConfigMap", metadata = { name = "during", namespace = "ns1" } })
local pages, items = lister:wait()
t.eq({ pages, items }, { 3, 3 }, "the pages iterator in a task")
t.eq(getter:wait(), "slow-1", "the slow GET in a task")
t.eq(watcher:wait(), { "ADDED during" }, "the watch in a task saw the ConfigMap made meanwhile")
took = time.now() - t0
t.eq(took >= 2.5 and took < 6, true,
   ("pages (3 s), watch (2.5 s) and a GET (2 s) together took %.2f s, not 7.5"):format(took))

-- a client closed while a task waits for its answer: the task gets Cancelled, not a hang
local c2 = assert(k8s.client { qps = -1 })
local waiting = task.spawn(function() return c2:get(node "slow-2") end)
task.yield()
task.yield()
c2:close()
local r, msg, reason = waiting:wait()
t.eq({ r, reason }, { nil, "Cancelled" }, "a request of a closed client")
t.match(msg, "client was closed")

-- a watch closed under a task that waits on it: the task wakes up to a closed watch
local w = c:watch { apiVersion = "v1", kind = "ConfigMap", namespace = "ns1", timeout = 60,
                    resourceVersion = start.metadata.resourceVersion }
w() -- the ADDED event of "during"
local stuck = task.spawn(function() return w() end)
time.sleep(0.2)
t0 = time.now()
w:close()
r, msg, reason = stuck:wait()
t.eq({ r, reason }, { nil, "TaskFailed" }, "the waiting task ends")
t.match(msg, "closed watch")
t.eq(time.now() - t0 < 1, true, "at once, not at the watch's timeout")
t.done()
