-- Runs a procedure (migrate.lua or rollback.lua, from its file) while a watch on the Nodes checks
-- the scheduler's limits at every event: how many nodes are cordoned by us (our annotation),
-- control planes among them, per topology.kubernetes.io/zone, the own node alone; and that a slot
-- that frees while a worker could take it is taken within a second (not in batches).
--
--   cni-migrate --fake FIXTURE run schedule_watch.lua PROCEDURE.lua MAX PER_ZONE OWN [ARGS...]
--
-- PER_ZONE 0: no zone limit; OWN "-": none. Prints one line of what it saw; raises on a breach.
local k8s = require "cm.k8s"
local task = require "cm.task"
local time = require "cm.time"

local script, max, per_zone, own = arg[1], tonumber(arg[2]), tonumber(arg[3]), arg[4]
local args = table.move(arg, 5, #arg, 1, {})
local CORDONED, ZONE = "cni-migrate.dev/cordoned", "topology.kubernetes.io/zone"
local CP = { "node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master" }

local c = assert(k8s.client { qps = -1 })
local list = assert(c:list { apiVersion = "v1", kind = "Node" })
local nodes, ours, started = {}, {}, {}
for _, n in ipairs(list.items) do nodes[n.metadata.name] = n end

local function is_cp(n)
   local l = n.metadata.labels or {}
   return l[CP[1]] ~= nil or l[CP[2]] ~= nil
end

local seen = { events = 0, most = 0, most_cp = 0, most_zone = 0, starts = 0 }
local pending -- a slot freed at this time while a worker could take it
local function fail(fmt, ...) error(("at +%.1fs: " .. fmt):format(time.now() - seen.t0, ...), 0) end

local function counts()
   local all, cps, zones, own_in = 0, 0, {}, false
   for name in pairs(ours) do
      local n = nodes[name]
      all = all + 1
      if is_cp(n) then cps = cps + 1 end
      local z = (n.metadata.labels or {})[ZONE]
      if z then zones[z] = (zones[z] or 0) + 1 end
      if name == own then own_in = true end
   end
   return all, cps, zones, own_in
end

--- Whether a worker that has not started could start now (its zone has room).
local function worker_could_start(zones)
   for name, n in pairs(nodes) do
      local z = (n.metadata.labels or {})[ZONE]
      if not started[name] and not is_cp(n) and name ~= own
         and (per_zone == 0 or not z or (zones[z] or 0) < per_zone) then
         return true
      end
   end
   return false
end

local function on_node(n)
   local name = n.metadata.name
   nodes[name] = n
   local was = ours[name]
   local now = n.spec.unschedulable and (n.metadata.annotations or {})[CORDONED] ~= nil or nil
   ours[name] = now
   local all, cps, zones, own_in = counts()
   seen.events = seen.events + 1
   seen.most, seen.most_cp = math.max(seen.most, all), math.max(seen.most_cp, cps)
   for _, k in pairs(zones) do seen.most_zone = math.max(seen.most_zone, k) end
   if all > max then fail("%d nodes cordoned by us, more than %d", all, max) end
   if cps > 1 then fail("%d control-plane nodes cordoned by us at once", cps) end
   for z, k in pairs(zones) do
      if per_zone > 0 and k > per_zone then fail("%d nodes of zone %s cordoned by us, more than %d", k, z, per_zone) end
   end
   if own_in and all > 1 then fail("the own node %s is in flight with %d other(s)", own, all - 1) end
   if now and not was then
      started[name] = true
      seen.starts = seen.starts + 1
      pending = nil
   elseif was and not now and all < max and worker_could_start(zones) then
      pending = pending or time.now()
   end
end

seen.t0 = time.now()
local w = c:watch { apiVersion = "v1", kind = "Node", resourceVersion = list.metadata.resourceVersion }
local watcher = task.spawn(function()
   local ok, err = pcall(function()
      for ev in w do
         if ev.type == "ERROR" then error("watch: " .. tostring(ev.message)) end
         if ev.object and ev.object.kind == "Node" then on_node(ev.object) end
         if pending and time.now() - pending > 1 then fail("a slot stayed free for more than 1 s while a worker waited") end
      end
   end)
   if not ok and not tostring(err):find("closed watch", 1, true) then error(err, 0) end
end)
local ticker = task.spawn(function() -- a freed slot must be taken even when no other event comes
   while not seen.done do
      time.sleep(0.5)
      if pending and time.now() - pending > 1 and not seen.done then seen.late = true end
   end
end)

local ok, err = pcall(assert(loadfile(script)), table.unpack(args))
seen.done = true
w:close()
local wok, werr = watcher:wait()
ticker:wait()
if not ok then io.stderr:write("the procedure stopped: ", tostring(err), "\n") end
assert(wok ~= nil or not werr, werr)
assert(not seen.late, "a slot stayed free for more than 1 s while a worker waited")
print(("watched %d node events: at most %d cordoned by us (limit %d), %d control plane(s) at once, %d in one zone "
   .. "(limit %s); %d node(s) started"):format(seen.events, seen.most, max, seen.most_cp, seen.most_zone,
   per_zone == 0 and "none" or tostring(per_zone), seen.starts))
if not ok then error(err, 0) end
