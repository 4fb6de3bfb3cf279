--- The drain benchmark's simulated half (scripts/bench-drain.sh runs it with --fake FIXTURE --trace
--- FILE): lets the cluster settle, then drains NODE with cm.node at the client rate given (QPS;
--- <= 0: no limit) and prints the pods on it, those evicted, the drain's virtual time, the
--- longest termination grace period among them, and the virtual wall time the drain began at, so
--- that the driver counts the script's requests from then on in the trace.
---   cni-migrate --fake FIXTURE --trace FILE run tests/bench/drain_bench.lua NODE QPS BURST
local k8s = require "cm.k8s"
local node = require "cm.node"
local time = require "cm.time"

local name, qps, burst = ...
qps, burst = tonumber(qps) or 5, tonumber(burst) or 10
local c = assert(k8s.client { qps = qps > 0 and qps or -1, burst = burst })
time.sleep(120) -- every pod Running
local pods = assert(c:list { apiVersion = "v1", kind = "Pod", fieldSelector = "spec.nodeName=" .. name })
local grace = 0
for _, p in ipairs(pods.items) do grace = math.max(grace, p.spec.terminationGracePeriodSeconds or 30) end
local w = time.wall()
local start = ("%s.%03dZ"):format(os.date("!%Y-%m-%dT%H:%M:%S", math.floor(w)), math.floor(w % 1 * 1000))
local t0 = time.now()
local r, msg = node.drain(c, name, { ignore_daemonsets = true, delete_emptydir_data = true, timeout = 3600 })
assert(r, msg)
print(("start %s pods %d evicted %d virtual %.3f grace %d"):format(start, #pods.items, #r.evicted,
   time.now() - t0, grace))
