#!/bin/sh
# The async core: 50 cm.task tasks in one simulated run, each waiting on its own thing (a timer, an
# API request, a watch event, another task's end), each resumed at its own event's virtual time and
# in that order, the loop never nested (depth 1 inside tasks, max depth 1); a wait that cannot yield
# raises instead of running a loop inside the loop.
. "$(dirname "$0")/lib.sh"
SRC=${CM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
F="$SRC/examples/clusters/flannel-3node.yaml"

cat >"$TMP/fifty.lua" <<'LUA'
local k8s = require "cm.k8s"
local task = require "cm.task"
local time = require "cm.time"
local c = assert(k8s.client { qps = -1 })
local t0 = time.now()
local order = {}          -- {name, expected virtual time} in the order tasks resumed
local function at() return time.now() - t0 end
local function resumed(name, want, slack)
   local d, maxd = task._depth()
   assert(d == 1 and maxd == 1, ("%s: loop depth %d, max %d"):format(name, d, maxd))
   local got = at()
   assert(got >= want - 1e-9 and got <= want + (slack or 1e-9),
      ("%s resumed at %.4f s, its event was at %.4f s"):format(name, got, want))
   order[#order + 1] = { name, want }
end
local tasks = {}
-- 15 timers, at 0.5 s steps, spawned in reverse order
for i = 15, 1, -1 do
   tasks[#tasks + 1] = task.spawn(function()
      time.sleep(i * 0.5)
      resumed("sleep" .. i, i * 0.5)
   end)
end
-- 15 watches, each on its own ConfigMap, created by one writer task at i*0.7+0.05 s
for i = 1, 15 do
   tasks[#tasks + 1] = task.spawn(function()
      for ev in c:watch { apiVersion = "v1", kind = "ConfigMap", namespace = "default",
                          fieldSelector = "metadata.name=w" .. i, timeout = 60 } do
         if ev.type == "ADDED" then
            resumed("watch" .. i, i * 0.7 + 0.05, 0.01)
            return
         end
      end
      error("watch" .. i .. " ended without its event")
   end)
end
local writer = task.spawn(function()
   for i = 1, 15 do
      time.sleep(i * 0.7 + 0.05 - at())
      assert(c:create { apiVersion = "v1", kind = "ConfigMap", metadata = { name = "w" .. i, namespace = "default" } })
   end
end)
-- 12 requests, each sent at its own time (0.31 s steps); a long watch elsewhere never holds them back
for i = 1, 12 do
   tasks[#tasks + 1] = task.spawn(function()
      time.sleep(i * 0.31)
      local n = assert(c:get { apiVersion = "v1", kind = "Node", name = "worker-1" })
      assert(n.metadata.name == "worker-1")
      resumed("get" .. i, i * 0.31, 0.005)
   end)
end
-- 8 joins, each on one of the sleepers (sleep2j-1 ends at j - 0.5 s)
for j = 1, 8 do
   local target = tasks[17 - 2 * j]        -- the task that sleeps (2*j-1)*0.5 s
   tasks[#tasks + 1] = task.spawn(function()
      local _, msg, code = target:wait()
      assert(not code, msg)
      resumed("join" .. j, j - 0.5, 1e-9)
   end)
end
assert(#tasks == 50)
local function join(t)
   local a, msg, code = t:wait()
   assert(not (a == nil and code), msg)
end
for _, t in ipairs(tasks) do join(t) end
join(writer)
assert(#order == 50, #order)
for k = 2, #order do
   assert(order[k][2] >= order[k - 1][2], ("%s resumed before %s"):format(order[k][1], order[k - 1][1]))
end
local d, maxd = task._depth()
print(("resumed %d tasks in event order; depth now %d, max %d; virtual %.2f s"):format(#order, d, maxd, at()))

-- a wait across a C call boundary cannot yield: it raises, it never runs a loop inside the loop
local t = task.spawn(function()
   table.sort({ 3, 2, 1 }, function(a, b) time.sleep(0.1); return a < b end)
end)
local ok, msg = t:wait()
assert(ok == nil and msg:find("cannot wait here: a task cannot wait across a C call boundary", 1, true), msg)
print("a wait that cannot yield raises")
LUA
run "$CNI_MIGRATE" --fake "$F" run "$TMP/fifty.lua"
expect_rc 0
expect_out '^resumed 50 tasks in event order; depth now 0, max 1; virtual 10\.55 s$'
expect_out '^a wait that cannot yield raises$'

# a node operation in a task: drain's report and its on_progress callback (which waits itself) work
# there as on the main thread (they raised "attempt to index a nil value" in a task, when each wait
# left a value on the task's stack)
cat >"$TMP/drain_task.lua" <<'LUA'
local k8s = require "cm.k8s"
local node = require "cm.node"
local task = require "cm.task"
local time = require "cm.time"
local c = assert(k8s.client { qps = -1 })
local events = 0
local t = task.spawn(function()
   local report = {}
   local r = assert(node.drain(c, "worker-1", { ignore_daemonsets = true, delete_emptydir_data = true,
      report = report, on_progress = function() events = events + 1; time.sleep(0.01) end }))
   return #r.evicted, #report.evicted
end)
local a, b = t:wait()
assert(a, b)
print(("drained in a task: %d evicted, report %d, %d progress events"):format(a, b, events))
LUA
run "$CNI_MIGRATE" --fake "$F" run "$TMP/drain_task.lua"
expect_rc 0
expect_out '^drained in a task: 3 evicted, report 3, [1-9][0-9]* progress events$'

# task.signal: every waiter wakes at the notify's time; a wait with a timeout ends with Timeout
cat >"$TMP/signal.lua" <<'LUA'
local task = require "cm.task"
local time = require "cm.time"
local s, t0, got = task.signal(), time.now(), {}
for i = 1, 3 do
   task.spawn(function() assert(s:wait()) got[#got + 1] = ("w%d@%.1f"):format(i, time.now() - t0) end)
end
task.spawn(function() time.sleep(2) s:notify() end)
assert(s:wait(5) == true)
local ok, msg, code = s:wait(1)
assert(ok == nil and code == "Timeout", msg)
task.yield()
print(table.concat(got, " ") .. (" then a timeout at %.1f"):format(time.now() - t0))
LUA
run "$CNI_MIGRATE" --fake "$F" run "$TMP/signal.lua"
expect_rc 0
expect_out '^w1@2\.0 w2@2\.0 w3@2\.0 then a timeout at 3\.0$'
# a task's watch that the server ends every 30 minutes (its timeoutSeconds) and that wakes with
# nothing to deliver is waited on again and again in one call: each wait must leave the task's
# stack as it found it (each left one more value there, past the slots a C function may use, and
# the run wrote over the watch beside it: a crash at its end, or the main thread's sleep woken early)
cat >"$TMP/long.lua" <<'LUA'
local k8s = require "cm.k8s"
local task = require "cm.task"
local time = require "cm.time"
local c = assert(k8s.client { qps = -1 })
local t0 = time.now()
local w = task.spawn(function()
   local n = 0
   for ev in c:watch { apiVersion = "v1", kind = "ConfigMap", namespace = "default", timeout = 36000 } do
      assert(ev.type ~= "ERROR", ev.message)
      n = n + 1
   end
   local node = assert(c:get { apiVersion = "v1", kind = "Node", name = "worker-1" })
   return n, node.metadata.name, time.now() - t0
end)
time.sleep(30000)
print(("the main thread slept until %.1f s"):format(time.now() - t0))
local n, name, at = w:wait()
print(("the watch delivered %s event(s) and ended at %.1f s; then the task read %s"):format(n, at, name))
LUA
run "$CNI_MIGRATE" --fake "$F" --trace "$TMP/long.jsonl" run "$TMP/long.lua"
expect_rc 0
expect_out '^the main thread slept until 30000\.0 s$'
expect_out '^the watch delivered 0 event\(s\) and ended at 36000\.0 s; then the task read worker-1$'
[ "$(grep -c '"verb":"watch"' "$TMP/long.jsonl")" -eq 20 ] || fail "the watch was not opened again every 30 minutes"

# the same on the main thread: a watch that wakes with nothing to deliver (a quiet cluster, the server
# ending the stream every 30 minutes, Leases renewed) waits again in a loop; each wait nested one
# more C frame, and two days of it overflowed a 512 KiB stack (segfault)
cat >"$TMP/quiet.lua" <<'LUA'
local k8s = require "cm.k8s"
local time = require "cm.time"
local c = assert(k8s.client { qps = -1 })
local t0, n = time.now(), 0
for _ in c:watch { apiVersion = "v1", kind = "ConfigMap", namespace = "default", name = "never",
                   timeout = 2 * 86400 } do n = n + 1 end
print(("the main thread's watch ended at %.0f s with %d event(s)"):format(time.now() - t0, n))
LUA
run sh -c 'ulimit -s 512 && exec "$0" "$@"' "$CNI_MIGRATE" --fake "$SRC/examples/clusters/flannel-1node.yaml" \
    --log-level warn run "$TMP/quiet.lua"
expect_rc 0
expect_out '^the main thread.s watch ended at 172800 s with 0 event\(s\)$'
done_ok
