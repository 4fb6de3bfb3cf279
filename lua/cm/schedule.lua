--- cm.schedule: which node starts when. A slot scheduler over cm.task: up to --max-unavailable
--- nodes in flight, each in its own task; a new node starts as soon as a slot frees (not in
--- batches), at most one control-plane node at a time, at most --max-unavailable-per-zone in one
--- topology.kubernetes.io/zone, the controller's own node last and alone. A gate keeps new
--- nodes from starting while the run is paused (cni-migrate pause: the ConfigMap's key, watched),
--- outside the maintenance window, and after the deadline; nodes in flight always finish.
--- migrate and rollback both run their nodes through it.
local calico = require "cm.calico"
local cluster = require "cm.cluster"
local json = require "cm.json"
local task = require "cm.task"
local time = require "cm.time"

local M = {}

M.ZONE_LABEL = "topology.kubernetes.io/zone"
--- flannel-migration-config's keys of a pause (contracts13.md): the reason (non-empty: paused), when.
M.KEY_PAUSED = "cni-migrate.paused"
M.KEY_PAUSED_AT = "cni-migrate.paused-at"

--- How many nodes may be in flight: N, or P% of total (rounded down, at least 1).
---@param spec table {count = N} | {percent = P} (config's "unavailable" kind)
---@param total integer nodes in the cluster
---@return integer
function M.slots(spec, total)
   if spec.count then return spec.count end
   return math.max(1, total * spec.percent // 100)
end

--- Whether the maintenance window is open at wall time t; when it is closed, also the seconds after
--- which to look again (the next start of the window, at most 15 minutes, so that a change of
--- daylight saving time moves it by no more than that).
---@param o table cfg.opts (window_days, window_start, window_end, window_time_zone)
---@param t number wall time
---@return boolean open
---@return number|nil wait
function M.window(o, t)
   local days, s, e = o.window_days, o.window_start, o.window_end
   if not days and not s then return true end
   local c = assert(time.civil(t, o.window_time_zone))
   local mins = c.hour * 60 + c.min
   local function day(wday) return not days or days[wday] == true end
   local open
   if not s then
      open = day(c.wday)
   elseif s < e then
      open = day(c.wday) and mins >= s and mins < e
   else -- across midnight: the day is the one it started on
      open = (day(c.wday) and mins >= s) or (day((c.wday + 5) % 7 + 1) and mins < e)
   end
   if open then return true end
   local wait = ((s or 0) - mins) % 1440 * 60 - c.sec - (t % 1)
   if wait <= 0 then wait = wait + 86400 end
   return false, math.min(wait, 900)
end

--- The window as words, for messages: "mon,tue 22:00-04:00 Europe/Berlin".
function M.describe_window(o)
   local names = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" }
   local d = {}
   for i = 1, 7 do
      if o.window_days and o.window_days[i] then d[#d + 1] = names[i] end
   end
   local clock = o.window_start and ("%02d:%02d-%02d:%02d"):format(o.window_start // 60, o.window_start % 60,
      o.window_end // 60, o.window_end % 60)
   return table.concat({ #d > 0 and table.concat(d, ",") or "every day", clock or "all day", o.window_time_zone },
      " ")
end

--- The wall time after which no node starts, or nil: --deadline {at =} or {after =} the start.
function M.deadline_at(o, started)
   local d = o.deadline
   return d and (d.at or started + d.after) or nil
end

--- The pause reason in a flannel-migration-config object, or nil.
function M.paused(cm)
   local r = cm and (cm.data or {})[M.KEY_PAUSED]
   if r == nil or r == "" or r == json.null then return nil end
   return r
end

--- Pauses (reason non-empty) or resumes (reason nil) a migration: the ConfigMap's keys.
---@param c userdata cm.k8s client
---@param ns string CALICO_DAEMONSET_NAMESPACE
---@param reason string|nil
---@return table|nil cm the ConfigMap as written (or as it was: nothing to do)
---@return string|nil message
---@return string|nil code
---@return boolean|nil changed
function M.set_pause(c, ns, reason)
   local ref = { apiVersion = "v1", kind = "ConfigMap", namespace = ns, name = calico.MIGRATION_CONFIGMAP }
   local cur, msg, code = c:get(ref)
   if not cur and code ~= "NotFound" then return nil, msg, code end
   if M.paused(cur) == reason then return cur, nil, nil, false end
   if not cur then
      if not reason then return {}, nil, nil, false end
      local got, cmsg, ccode = c:create { apiVersion = "v1", kind = "ConfigMap", metadata = { name = ref.name,
         namespace = ns, labels = { ["app.kubernetes.io/name"] = "cni-migrate" } },
         data = { [M.KEY_PAUSED] = reason, [M.KEY_PAUSED_AT] = time.rfc3339() } }
      if got or ccode ~= "AlreadyExists" then return got, cmsg, ccode, got ~= nil end
   end
   local data = reason and { [M.KEY_PAUSED] = reason, [M.KEY_PAUSED_AT] = time.rfc3339() }
      or { [M.KEY_PAUSED] = json.null, [M.KEY_PAUSED_AT] = json.null }
   local got, pmsg, pcode = c:patch(ref, { data = data }, { type = "merge" })
   return got, pmsg, pcode, got ~= nil
end

--- Follows a watch (query: cm.k8s watch arguments) from resourceVersion rv, 10 minutes at a time,
--- each from where the last ended, and again after an error; on_event(ev) gets each event but
--- ERROR (RELIST included: ev.object is the list). w:close() ends it.
---@param c userdata
---@param query table
---@param rv string|nil
---@param on_event fun(ev: table)
---@return table w {close = fn}
function M.follow(c, query, rv, on_event)
   local w = {}
   w.task = task.spawn(function()
      while not w.closed do
         -- (10 minutes began as a way round a task's watch that the server ended after 30 minutes
         -- crashing the run, fixed in cm.task since; kept, as rehearsals' request traces count them)
         local q = { timeout = 600, resourceVersion = rv }
         for k, v in pairs(query) do q[k] = v end
         w.watch = c:watch(q)
         local failed
         local ok = pcall(function()
            for ev in w.watch do
               if ev.type == "ERROR" then
                  failed = true
                  break
               end
               on_event(ev)
            end
         end)
         if not ok or w.closed then break end
         rv = w.watch:resource_version() or rv
         if failed then time.sleep(1) end -- the watch ended on an error: again from where it was
      end
   end)
   function w.close()
      w.closed = true
      if w.watch then w.watch:close() end
      w.task:wait()
   end
   return w
end

--- Follows the pause keys from cm (the ConfigMap as last read or written; nil: not there) with a
--- watch from its resourceVersion, so that nothing written since is missed. on_change() is called
--- after each change of w.reason. w:close() ends it.
---@param c userdata
---@param ns string
---@param cm table|nil
---@param on_change fun()
---@return table w {reason = string|nil, close = fn}
function M.watch_pause(c, ns, cm, on_change)
   local w = { reason = M.paused(cm) }
   local function seen(obj)
      local r = M.paused(obj)
      if r ~= w.reason then
         w.reason = r
         on_change()
      end
   end
   local f = M.follow(c, { apiVersion = "v1", kind = "ConfigMap", namespace = ns,
      fieldSelector = "metadata.name=" .. calico.MIGRATION_CONFIGMAP }, cm and cm.metadata.resourceVersion,
      function(ev)
         if ev.type == "RELIST" then
            seen((ev.object.items or {})[1])
         elseif ev.type == "DELETED" then
            seen(nil)
         elseif ev.object and ev.object.metadata then
            seen(ev.object)
         end
      end)
   w.close = f.close
   return w
end

--- The zone of a node, or nil.
local function zone_of(n)
   return (n.metadata.labels or {})[M.ZONE_LABEL]
end

--- Runs o.work(node) for every node to do, each in its own task, as the limits allow.
---@param o table
---   list()      -> Node[]: the nodes now (called at the start, and again when none is left, so
---                  that nodes that joined meanwhile are picked up)
---   todo(n)     -> boolean: whether the node still needs work
---   order(nodes)-> string[]: the names in the order to start them (hooks' order); nodes in
---                  progress from an earlier run go first, the own node last whatever it says
---   hold(n)     -> reason|nil, Node|nil: asked as the node is picked (hooks' hold); a held node is
---                  left out; the Node returned (as the hold's annotation left it) replaces n.
---                  order and hold may raise (a site hook's error): no node starts after it, the
---                  nodes in flight finish, and r.error is the message
---   start(n)    -> reason|nil: a reason to stop before this node (a rollback asked); nil: go on
---   work(n)     -> outcome, detail: in the node's task; "failed" (detail: the message) stops new
---                  starts; a raise counts as "failed"
---   gate()      -> reason|nil, wait|nil, final: why no node may start now, seconds after which
---                  to look again (nil: when told), final when no node will start again (deadline)
---   own         the controller's own node (last and alone)
---   limit       {count =} | {percent =}; per_zone (0: none); delay (seconds after each node)
---   note(node, step, text) the timeline
---   signal      a cm.task signal that whoever changes what gate() says notifies (the pause watch)
---@return table r {outcomes = {name = outcome}, details = {name = detail}, held = {name = reason},
---   order = {names in start order}, stopped = reason|nil (failure, deadline, start's, error), asked =
---   start's reason|nil, error = what order or hold raised|nil, max = most in flight, total = nodes in
---   the cluster at the last list}
function M.run(o)
   local r = { outcomes = {}, details = {}, held = {}, order = {}, max = 0 }
   local sig = o.signal or task.signal()
   local queue, nodes, seen, total = {}, {}, {}, 0
   local flight, cps, zones = 0, 0, {}
   local stopping, said

   local function raised(err)
      r.error = r.error or tostring(err)
      stopping = stopping or r.error
   end

   local function refill()
      local list = o.list()
      total = #list
      r.total = total
      local fresh, busy = {}, {}
      for _, n in ipairs(list) do
         local name = n.metadata.name
         if not seen[name] and o.todo(n) then
            nodes[name] = n -- until it starts: a big cluster's Nodes go as their turns come
            fresh[#fresh + 1] = n
            busy[name] = (n.metadata.labels or {})[calico.LABEL_IN_PROGRESS] == "true"
         end
      end
      local names, own = {}, nil
      local ok, ordered = pcall(o.order, fresh)
      if not ok then return raised(ordered) end
      for _, name in ipairs(ordered) do
         seen[name] = true
         if name == o.own then own = name else names[#names + 1] = name end
      end
      for _, name in ipairs(names) do -- nodes in progress first: a rerun resumes them before others
         if busy[name] then queue[#queue + 1] = name end
      end
      for _, name in ipairs(names) do
         if not busy[name] then queue[#queue + 1] = name end
      end
      if own then queue[#queue + 1] = own end
   end

   local function fits(name)
      local n = nodes[name]
      if name == o.own then return flight == 0 and #queue == 1 end
      if flight >= M.slots(o.limit, total) then return false end
      if cps > 0 and cluster.is_control_plane(n) then return false end
      local z = zone_of(n)
      return not (o.per_zone > 0 and z and (zones[z] or 0) >= o.per_zone)
   end

   local function finish(name, n, ok, outcome, detail)
      if not ok then outcome, detail = "failed", tostring(outcome) end
      r.outcomes[name], r.details[name] = outcome, detail
      if outcome == "failed" and not stopping then stopping = ("node %s failed"):format(name) end
      if o.delay > 0 and outcome ~= "failed" then time.sleep(o.delay) end
      flight = flight - 1
      if cluster.is_control_plane(n) then cps = cps - 1 end
      local z = zone_of(n)
      if z then zones[z] = zones[z] - 1 end
      sig:notify()
   end

   local function launch(name)
      local n = nodes[name]
      nodes[name] = nil
      flight = flight + 1
      r.max = math.max(r.max, flight)
      r.order[#r.order + 1] = name
      if cluster.is_control_plane(n) then cps = cps + 1 end
      local z = zone_of(n)
      if z then zones[z] = (zones[z] or 0) + 1 end
      task.spawn(function() finish(name, n, pcall(o.work, n)) end)
   end

   --- Starts what fits, in queue order; true when something started or was held.
   local function start_what_fits()
      for i, name in ipairs(queue) do
         if fits(name) then
            table.remove(queue, i)
            local ok, why, cur = pcall(o.hold, nodes[name])
            if not ok then
               raised(why)
               return false
            end
            nodes[name] = cur or nodes[name]
            if why then
               r.held[name] = why
               nodes[name] = nil
               return true
            end
            why = o.start(nodes[name])
            if why then
               stopping, r.asked = why, why
               return false
            end
            launch(name)
            return true
         end
      end
      return false
   end

   refill()
   while true do
      local wait
      if not stopping and #queue > 0 then
         local why, w, final = o.gate()
         if final then stopping = why end
         if why ~= said then
            if why then
               o.note(nil, "waiting", why .. ": no node starts; nodes in flight go on")
            else
               o.note(nil, "going-on", "nodes start again")
            end
            said = why
         end
         wait = w
         if not why then
            while start_what_fits() do end
         end
      end
      if flight == 0 and (stopping or #queue == 0) then
         if stopping then break end
         refill()
         if #queue == 0 then break end
      else -- something in flight ends, the gate changes (told), or its time comes
         sig:wait(wait)
      end
   end
   r.stopped = stopping
   return r
end

--- The gate of M.run: the deadline (final), a pause (watched: pause.reason), the window.
---@param o table cfg.opts
---@param pause table|nil M.watch_pause's
---@param started number wall time the run started
function M.gate(o, pause, started)
   local deadline = M.deadline_at(o, started)
   return function()
      local now = time.wall()
      if deadline and now >= deadline then
         return ("the deadline %s has passed"):format(time.rfc3339(deadline)), nil, true
      end
      local left = deadline and deadline - now
      if pause and pause.reason then return ("paused (%s)"):format(pause.reason), left end
      local open, wait = M.window(o, now)
      if not open then
         return ("outside the maintenance window (%s)"):format(M.describe_window(o)), math.min(wait, left or wait)
      end
      return nil
   end
end

return M
