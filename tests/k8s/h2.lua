-- cm.k8s against tests/k8s/h2server.js over TLS: with "h2" the client negotiates HTTP/2 (ALPN),
-- keeps one connection and multiplexes the requests of several tasks on it; with "h1" (a server
-- that speaks HTTP/1.1 only) the same script works over HTTP/1.1, a connection per request in flight.
-- Usage: run h2.lua h2|h1
local k8s = require "cm.k8s"
local kt = require "kt"
local t = require "t"
local task = require "cm.task"
local time = require "cm.time"

local mode = assert(arg[1], "usage: h2.lua h2|h1")
local c = assert(k8s.client { qps = -1 })
local function node(name) return { apiVersion = "v1", kind = "Node", name = name } end

t.eq(assert(c:get(node "first")).metadata.name, "first", "a GET")
-- a second client: its first requests are the tasks' (discovery is cached for the run), all at once
local c2 = assert(k8s.client { qps = -1 })
local t0 = time.now()
local tasks = {}
for i = 1, 5 do
   tasks[i] = task.spawn(function() return assert(c2:get(node("slow-" .. i))).metadata.name end)
end
for i = 1, 5 do t.eq(tasks[i]:wait(), "slow-" .. i, "task " .. i) end
local took = time.now() - t0
t.eq(took >= 1 and took < 3.5, true, ("five 1 s GETs from tasks took %.2f s, not 5"):format(took))
t.eq(#assert(c2:list { apiVersion = "v1", kind = "Node" }).items, 2, "a list")
local events = {}
for ev in c2:watch { apiVersion = "v1", kind = "Node", resourceVersion = "7", timeout = 0.5 } do
   events[#events + 1] = ev.object.metadata.name
end
t.eq(events[1], "watched", "a watch stream")

local reqs = kt.requests()
local conns, most = {}, 0
for _, r in ipairs(reqs) do
   t.eq(r.proto, mode == "h2" and "2.0" or "1.1", r.method .. " " .. r.path .. ": HTTP version")
   t.eq(r.alpn, mode == "h2" and "h2" or "http/1.1", "what ALPN chose")
   conns[r.conn] = true
   most = math.max(most, r.inflight)
end
local nconns = 0
for _ in pairs(conns) do nconns = nconns + 1 end
t.eq(most, 5, "the server had the five slow GETs in hand at once")
if mode == "h2" then
   t.eq(nconns, 2, "one connection per client for every request (multiplexed)")
else
   t.eq(nconns >= 5, true, ("HTTP/1.1: a connection per request in flight (%d)"):format(nconns))
end
t.done()
