-- cm.task: tasks in flight on the run's loop; waits yield in tasks and run the loop on the main thread.
local t = require "t"
local task = require "cm.task"
local time = require "cm.time"

-- two workers interleave at their sleeps: the order of their steps follows their wake-up times
-- (a at 0.3, 0.6, 0.9 s; b at 0.75, 1.5 s), so it proves they overlap. Each wake-up is aimed at
-- its time from the start, so a slow step (valgrind, a loaded machine) does not push the later ones:
-- only one wake-up's lateness has to stay under the 150 ms margins of the real clock used here
-- (50 ms was too little under valgrind on a machine loaded 6 times over its cores: a2 came after b1)
local order = {}
local start = time.now()
local function worker(name, delay, n)
   for i = 1, n do
      time.sleep(math.max(0, start + i * delay - time.now()))
      order[#order + 1] = name .. i
   end
   return name, n
end
local a = task.spawn(worker, "a", 0.3, 3)
local b = task.spawn(worker, "b", 0.75, 2)
t.eq(a:done(), false, "a task starts at the loop's next turn")
t.eq({ a:wait() }, { "a", 3 })
t.eq({ b:wait() }, { "b", 2 })
t.eq({ a:wait() }, { "a", 3 }, "waiting again gives the same results")
t.eq(table.concat(order, " "), "a1 a2 b1 a3 b2")
t.eq(a:done(), true)
t.match(tostring(a), "^cm%.task%.Task %(done%)$")

-- a failing task: its error and traceback come back from wait
local bad = task.spawn(function() local x = nil; return x.field end)
local r, msg, code = bad:wait()
t.eq({ r, code }, { nil, "TaskFailed" })
t.match(msg, "test_task%.lua:%d+: attempt to index a nil value %(local 'x'%)\nstack traceback:")
t.match(tostring(bad), "%(failed%)")

-- wait with a timeout
local slow = task.spawn(time.sleep, 5)
r, msg, code = slow:wait(0.03)
t.eq({ r, msg, code }, { nil, "timed out after 0.03 s waiting for a task", "Timeout" })
t.eq(slow:done(), false)

-- tasks that spawn and wait for tasks; sleeps inside pcall still yield
local nested = task.spawn(function()
   local inner = task.spawn(function(x) time.sleep(0.01) return x * 2 end, 21)
   local ok, v = pcall(function() time.sleep(0.01) return inner:wait() end)
   return ok, v
end)
t.eq({ nested:wait() }, { true, 42 })

-- task.yield lets the others run
local seen = {}
local y1 = task.spawn(function() for i = 1, 3 do seen[#seen + 1] = "x" .. i; task.yield() end end)
local y2 = task.spawn(function() for i = 1, 3 do seen[#seen + 1] = "y" .. i; task.yield() end end)
y1:wait()
y2:wait()
t.eq(table.concat(seen, " "), "x1 y1 x2 y2 x3 y3")

-- a script's own coroutine may sleep too (it waits on the loop instead of yielding)
local co = coroutine.wrap(function() time.sleep(0.01) coroutine.yield("slept") return "end" end)
t.eq(co(), "slept")
t.eq(co(), "end")

-- misuse raises
t.raises("bad argument #1 to '[%w.]*spawn' %(function expected", task.spawn, 42)
local self_waiter
self_waiter = task.spawn(function() return self_waiter:wait() end)
r, msg = self_waiter:wait()
t.match(msg, "a task cannot wait for itself")
t.done()
