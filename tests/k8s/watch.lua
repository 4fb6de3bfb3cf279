-- cm.k8s watch against tests/k8s/apiserver.py: streams the server ends and the
-- client resumes without loss or duplication, bookmarks, 410 (as an answer and as
-- an ERROR event) then relist, the deadline.
local k8s = require "cm.k8s"
local kt = require "kt"
local t = require "t"
local time = require "cm.time"

kt.control { tokens = { "tok" }, watch_max = 2 }
local c = assert(k8s.client())
local CM = { apiVersion = "v1", kind = "ConfigMap", namespace = "w" }
local function cm(name) return { apiVersion = "v1", kind = "ConfigMap", namespace = "w", name = name } end

local start = assert(c:list(CM)).metadata.resourceVersion
for i = 1, 5 do
   assert(c:create { apiVersion = "v1", kind = "ConfigMap", metadata = { name = "c" .. i, namespace = "w" },
      data = { i = tostring(i) } })
end
assert(c:patch(cm "c2", { data = { i = "two" } }))
assert(c:delete(cm "c3"))

-- the server ends the stream every 2 events: 7 events, each once, in order
kt.reset()
local seen = {}
local w = c:watch { apiVersion = "v1", kind = "ConfigMap", namespace = "w", resourceVersion = start, timeout = 10 }
for ev in w do
   seen[#seen + 1] = ev.type .. " " .. ev.object.metadata.name
   if #seen == 7 then break end
end
t.eq(seen, { "ADDED c1", "ADDED c2", "ADDED c3", "ADDED c4", "ADDED c5", "MODIFIED c2", "DELETED c3" })
local reqs = kt.requests()
t.eq(#reqs, 4, "four streams of at most two events")
local rvs = {}
for i, r in ipairs(reqs) do
   t.eq(r.path, "/api/v1/namespaces/w/configmaps")
   t.eq(kt.query(r, "watch"), "1")
   t.eq(kt.query(r, "allowWatchBookmarks"), "true")
   rvs[i] = tonumber(kt.query(r, "resourceVersion"))
end
t.eq(rvs[1], tonumber(start))
t.eq(rvs[2] > rvs[1] and rvs[3] > rvs[2] and rvs[4] > rvs[3], true, "each stream resumes after the last event")
t.eq(w:resource_version(), reqs[4] and tostring(rvs[4] + 1) or nil, "where to go on from")
w:close()
w:close() -- idempotent
t.raises("closed watch", w.resource_version, w)

-- a watch answered 429 with Retry-After opens again when told
kt.control { tokens = { "tok" }, watch_429 = true }
kt.reset()
local t1 = time.now()
w = c:watch { apiVersion = "v1", kind = "ConfigMap", namespace = "w", resourceVersion = start, timeout = 10 }
local first = w()
w:close()
t.eq(first.type .. " " .. first.object.metadata.name, "ADDED c1", "after the 429")
t.eq(time.now() - t1 >= 0.9, true, "waited for Retry-After")
t.eq(#kt.requests(), 2)

-- the deadline ends the loop; old events are not replayed to a watch from now
local last
local t0 = time.now()
local n = 0
for _ in c:watch { apiVersion = "v1", kind = "ConfigMap", namespace = "w", timeout = 0.6 } do n = n + 1 end
t.eq(n, 0, "a watch from now sees no old event")
t.eq(time.now() - t0 >= 0.5 and time.now() - t0 < 3, true, "ended at its timeout")

-- bookmarks move the resourceVersion on and are delivered when asked for
kt.control { tokens = { "tok" }, bookmarks = true }
local now = assert(c:list(CM)).metadata.resourceVersion
local node = assert(c:create { apiVersion = "v1", kind = "Node", metadata = { name = "elsewhere" } })
w = c:watch { apiVersion = "v1", kind = "ConfigMap", namespace = "w", resourceVersion = now, timeout = 2,
   bookmarks = true }
last = w()
w:close()
t.eq(last.type, "BOOKMARK")
t.eq(last.object.metadata.resourceVersion, node.metadata.resourceVersion)

-- too old: an ERROR event with 410, then a RELIST event and the watch goes on
local function relist_case(mode)
   local cur = assert(c:list(CM)).metadata.resourceVersion
   kt.control { tokens = { "tok" }, compacted = tonumber(cur), watch_410 = mode }
   local events = {}
   w = c:watch { apiVersion = "v1", kind = "ConfigMap", namespace = "w", resourceVersion = start, timeout = 5 }
   for ev in w do
      events[#events + 1] = ev
      if ev.type == "RELIST" then
         assert(c:create { apiVersion = "v1", kind = "ConfigMap", metadata = { name = "after-" .. mode,
            namespace = "w" } })
      end
      if #events == 2 then break end
   end
   t.eq(events[1].type, "RELIST", mode)
   local names = {}
   for _, item in ipairs(events[1].object.items) do names[#names + 1] = item.metadata.name end
   t.eq(#names >= 4, true, "the relist holds the collection")
   t.eq(events[2] and events[2].type .. " " .. events[2].object.metadata.name, "ADDED after-" .. mode)
end
relist_case("event")
relist_case("http")

-- a watch that fails: one ERROR event with the message and code, then the loop ends (no raise)
kt.control { tokens = { "tok" } }
local failed = {}
for ev in c:watch { apiVersion = "v1", kind = "Gadget", timeout = 5 } do failed[#failed + 1] = ev end
t.eq(#failed, 1, "one event")
t.eq({ failed[1].type, failed[1].code }, { "ERROR", "NotFound" })
t.match(failed[1].message, "Gadget")
kt.control { tokens = { "someone-else" } }
failed = {}
for ev in c:watch { apiVersion = "v1", kind = "ConfigMap", namespace = "w", timeout = 5 } do failed[#failed + 1] = ev end
t.eq({ #failed, failed[1].type, failed[1].code }, { 1, "ERROR", "Unauthorized" }, "refused credentials")
kt.control { tokens = { "tok" } }
w = c:watch(CM)
w:close()
w:close() -- idempotent
t.raises("closed watch", w)

-- a watch whose client is closed raises
w = c:watch(CM)
c:close()
t.raises("closed Kubernetes client", w)
t.done()
