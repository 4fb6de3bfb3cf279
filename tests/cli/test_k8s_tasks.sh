#!/bin/sh
# cm.k8s from several cm.task tasks at once (tests/k8s/tasks.lua) against the loopback test API
# server: requests, pages and watches of different tasks are in flight together; then the same
# in simulation, where tasks overlap on the virtual clock and two runs trace the same.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../k8s/env.sh"

start_server http
http_kubeconfig http
run_lua http tasks.lua

# simulation: three tasks each read and patch their node; each request takes 1 ms of virtual time
F="$SRC/examples/clusters/flannel-3node.yaml"
cat >"$TMP/sim.lua" <<'LUA'
local k8s = require "cm.k8s"
local task = require "cm.task"
local time = require "cm.time"
local c = assert(k8s.client { qps = -1 })
local t0 = time.now()
local tasks = {}
for i, name in ipairs { "worker-1", "worker-2", "control-plane-1" } do
   tasks[i] = task.spawn(function()
      for _ = 1, 5 do
         local n = assert(c:get { apiVersion = "v1", kind = "Node", name = name })
         assert(c:patch({ apiVersion = "v1", kind = "Node", name = name },
            { metadata = { labels = { ["example.com/seen"] = n.metadata.resourceVersion } } }))
      end
      return name
   end)
end
for i = 1, 3 do assert(tasks[i]:wait()) end
print(("virtual ms %.0f"):format((time.now() - t0) * 1000))
LUA
run "$CNI_MIGRATE" --fake "$F" --trace "$TMP/t1.jsonl" run "$TMP/sim.lua"
expect_rc 0
# 10 requests each, overlapping: 10 ms of virtual time (plus one discovery), not 30
expect_out '^virtual ms 1[01]$'
run "$CNI_MIGRATE" --fake "$F" --trace "$TMP/t2.jsonl" run "$TMP/sim.lua"
expect_rc 0
cmp -s "$TMP/t1.jsonl" "$TMP/t2.jsonl" || fail "two runs of the same tasks traced differently"
done_ok
