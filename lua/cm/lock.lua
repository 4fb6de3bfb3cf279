--- cm.lock: the one run that may change the cluster's network at a time. migrate and rollback
--- each hold the Lease CALICO_DAEMONSET_NAMESPACE/cni-migrate (coordination.k8s.io/v1, as
--- leader election uses it) while they write, renewing it in a task; a run killed without
--- releasing it leaves it to expire (DURATION seconds after its last renewal).
---
--- A rollback that finds a migration holding it asks it to stop (the annotation
--- cni-migrate.dev/stop on the Lease), and waits until the migration has released it (it looks
--- before each node: stop_requested) or let it expire. A migration never takes it from a
--- running rollback. Two runs of the same procedure: the second waits for the first's to expire.
local json = require "cm.json"
local proc = require "cm.proc"
local task = require "cm.task"
local time = require "cm.time"

local M = {}

M.NAME = "cni-migrate"
M.DURATION = 60 -- seconds a holder that stopped renewing keeps it (renewed every 20 s)
M.ANN_PROCEDURE = "cni-migrate.dev/procedure"
M.ANN_STOP = "cni-migrate.dev/stop"

local fail = proc.fail -- exit 1, one line (no traceback)

--- metav1.MicroTime: RFC 3339 with six fraction digits.
local function micro_time(t)
   return (time.rfc3339(t):gsub("%.(%d%d%d)Z$", ".%1000Z"))
end

--- Seconds since the epoch of an RFC 3339 UTC time (what the Lease's times are); nil if not one.
function M.epoch(s)
   local y, mo, d, h, mi, sec, frac = tostring(s):match("^(%d+)%-(%d+)%-(%d+)T(%d+):(%d+):(%d+)(%.?%d*)Z$")
   if not y then return nil end
   y, mo = tonumber(y), tonumber(mo)
   if mo <= 2 then y = y - 1 end -- days from the civil date (H. Hinnant's algorithm)
   local era = (y >= 0 and y or y - 399) // 400
   local yoe = y - era * 400
   local doy = (153 * (mo + (mo > 2 and -3 or 9)) + 2) // 5 + tonumber(d) - 1
   local days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
   return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec) + (tonumber("0" .. frac) or 0)
end

local function ref(ns)
   return { apiVersion = "coordination.k8s.io/v1", kind = "Lease", namespace = ns, name = M.NAME }
end

--- Who holds a Lease and until when: procedure, identity, seconds left (<= 0: expired or free).
function M.holder(lease)
   local spec = lease and lease.spec or {}
   local who = spec.holderIdentity
   if who == nil or who == "" or who == json.null then return nil, nil, 0 end
   local renewed = M.epoch(spec.renewTime or spec.acquireTime)
   local left = renewed and renewed + (spec.leaseDurationSeconds or M.DURATION) - time.wall() or 0
   return (lease.metadata.annotations or {})[M.ANN_PROCEDURE] or who:match("^(%w+)"), who, left
end

--- The procedure and identity holding the Lease now (nil when it is free or expired).
---@return string|nil procedure
---@return string|nil identity
function M.busy(c, ns)
   local other, who, left = M.holder(c:get(ref(ns)))
   if who and left > 0 then return other, who end
   return nil
end

local Held = {}
Held.__index = Held

--- Takes the Lease for procedure ("migrate" or "rollback"); the held lock, or raises.
---@param c userdata cm.k8s client
---@param ns string
---@param procedure string
---@param note fun(text: string)|nil told what the run waits for
---@return table held with :stop_requested(), :release()
function M.acquire(c, ns, procedure, note)
   local me = ("%s %s %s"):format(procedure, os.getenv("POD_NAME") or "cli", micro_time())
   local r = ref(ns)
   note = note or function() end
   while true do
      local lease, msg, code = c:get(r)
      if not lease and code ~= "NotFound" then
         fail("Lease %s/%s: %s (%s)", ns, M.NAME, tostring(msg), tostring(code))
      end
      local other, who, left = M.holder(lease)
      local now = micro_time()
      local spec = { holderIdentity = me, leaseDurationSeconds = M.DURATION, acquireTime = now, renewTime = now }
      local got, werr, wcode
      if not lease then
         got, werr, wcode = c:create { apiVersion = r.apiVersion, kind = "Lease", metadata = { name = M.NAME,
            namespace = ns, annotations = { [M.ANN_PROCEDURE] = procedure } }, spec = spec }
      elseif left <= 0 then
         spec.leaseTransitions = (lease.spec.leaseTransitions or 0) + (who and 1 or 0)
         got, werr, wcode = c:patch(r, { metadata = { resourceVersion = lease.metadata.resourceVersion,
            annotations = { [M.ANN_PROCEDURE] = procedure, [M.ANN_STOP] = json.null } }, spec = spec },
            { type = "merge" })
      elseif procedure == "migrate" and other == "rollback" then
         fail("a rollback is running (Lease %s/%s held by %q): migrate does not start before it ends", ns,
            M.NAME, who)
      else
         if procedure == "rollback" and other == "migrate"
            and (lease.metadata.annotations or {})[M.ANN_STOP] ~= procedure then
            lease = c:patch(r, { metadata = { resourceVersion = lease.metadata.resourceVersion,
               annotations = { [M.ANN_STOP] = procedure } } }, { type = "merge" }) or lease
            note(("asked the running migration (%s) to stop"):format(who))
         end
         note(("waiting for Lease %s/%s held by %q (it expires in %.0fs unless renewed)"):format(ns, M.NAME,
            who, left))
         for ev in c:watch { apiVersion = r.apiVersion, kind = "Lease", namespace = ns,
            fieldSelector = "metadata.name=" .. M.NAME, resourceVersion = lease.metadata.resourceVersion,
            timeout = left + 0.5 } do
            local o = ev.type == "RELIST" and (ev.object.items or {})[1] or ev.object
            if ev.type == "DELETED" or not select(2, M.holder(o)) then break end
         end
      end
      if got then
         local held = setmetatable({ c = c, ref = r, me = me, rv = got.metadata.resourceVersion }, Held)
         held.task = task.spawn(Held._renew, held)
         return held
      end
      if wcode ~= nil and wcode ~= "Conflict" and wcode ~= "AlreadyExists" then
         fail("Lease %s/%s: %s (%s)", ns, M.NAME, tostring(werr), tostring(wcode))
      end
   end
end

--- Renews the Lease every DURATION/3 until released. Between renewals a watch on it keeps what
--- others wrote to it (a rollback's stop annotation, another holder), so stop_requested reads
--- nothing, and ends the wait early when the run releases it. One watch for the whole hold (opened
--- without a timeout, each wait bounded by w:timeout): reopening it cost a request per renewal.
function Held:_renew()
   local function seen(o)
      if not (o and o.metadata) then return end
      self.rv = o.metadata.resourceVersion
      self.stop = (o.metadata.annotations or {})[M.ANN_STOP]
      local who = (o.spec or {}).holderIdentity
      if who ~= self.me and not self.released then self.lost = type(who) == "string" and who or "nobody" end
   end
   local w
   while not self.released and not self.lost do
      w = w or self.c:watch { apiVersion = self.ref.apiVersion, kind = "Lease", namespace = self.ref.namespace,
         fieldSelector = "metadata.name=" .. M.NAME, resourceVersion = self.rv }
      for ev in w:timeout(M.DURATION / 3) do
         if ev.type == "ERROR" then -- it ends after this event: the next round opens another
            w:close()
            w = nil
            break
         end
         if ev.type == "DELETED" then self.lost = "nobody" break end
         seen(ev.type == "RELIST" and (ev.object.items or {})[1] or ev.object)
         if self.released or self.lost then break end
      end
      if self.released or self.lost then break end
      local got = self.c:patch(self.ref, { metadata = { resourceVersion = self.rv },
         spec = { holderIdentity = self.me, renewTime = micro_time() } }, { type = "merge" })
      seen(got or self.c:get(self.ref))
   end
   if w then w:close() end
end

--- What asked this run to stop (the procedure that wants the Lease), or nil; raises when the
--- Lease was lost (another run took it after it expired). Reads what the renewal's watch saw.
---@return string|nil
function Held:stop_requested()
   if self.lost then
      fail("Lease %s/%s is held by %q now: this run lost it and stops", self.ref.namespace, M.NAME,
         tostring(self.lost))
   end
   return self.stop
end

--- Gives the Lease up (holderIdentity cleared, only while this run holds it) and ends the renewal.
function Held:release()
   if self.released then return end
   self.released = true
   for _ = 1, 5 do -- a renewal may cross it: read again on Conflict
      local cur = self.c:get(self.ref)
      if not cur or cur.spec.holderIdentity ~= self.me then break end
      local got, _, code = self.c:patch(self.ref, { spec = { holderIdentity = json.null, renewTime = json.null },
         metadata = { resourceVersion = cur.metadata.resourceVersion, annotations = { [M.ANN_STOP] = json.null } } },
         { type = "merge" })
      if got or code ~= "Conflict" then break end
   end
   self.task:wait(M.DURATION)
end

return M
