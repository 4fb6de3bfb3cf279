--- status: where the migration (or a rollback) is, read from the cluster only: phase, nodes done /
--- in flight / held / failed / left, each node's state, step, since when and why, and an ETA.
--- Works from any workstation while the Job runs, and on a finished or rolled-back cluster.
---
---   cni-migrate status [--json] [--watch] [--calico-daemonset-namespace NS]
---
--- --json prints the model of cm.status (schema cni-migrate.dev/status/v1) on one line; --watch
--- redraws on every change (watches on the Nodes, flannel-migration-config and the Lease; no
--- polling) until the migration is done or rolled back (Ctrl-C stops it sooner).
local calico = require "cm.calico"
local config = require "cm.config"
local json = require "cm.json"
local lock = require "cm.lock"
local log = require "cm.log"
local proc = require "cm.proc"
local status = require "cm.status"
local task = require "cm.task"
local time = require "cm.time"

local cfg, c = config.start("status", { ... }, os.getenv)
if not cfg then return end
local ns = cfg.values.CALICO_DAEMONSET_NAMESPACE
local NODES = { apiVersion = "v1", kind = "Node" }
local CONFIG = { apiVersion = "v1", kind = "ConfigMap", namespace = ns, name = calico.MIGRATION_CONFIGMAP }
local LEASE = { apiVersion = "coordination.k8s.io/v1", kind = "Lease", namespace = ns, name = lock.NAME }

--- An object, or nil when it does not exist; a failure to read stops the command.
local function get(ref)
   local o, msg, code = c:get(ref)
   if not o and code ~= "NotFound" then proc.fail("status: reading %s %s/%s: %s (%s)", ref.kind, ns, ref.name,
      tostring(msg), tostring(code)) end
   return o
end

local cur = { nodes = {} } -- what the cluster holds: nodes by name, mc, lease; and each list's resourceVersion
local function read_nodes()
   local list, msg, code = c:list(NODES)
   if not list then proc.fail("status: listing nodes: %s (%s)", tostring(msg), tostring(code)) end
   cur.nodes = {}
   for _, n in ipairs(list.items) do cur.nodes[n.metadata.name] = n end
   cur.nodes_rv = list.metadata.resourceVersion
end
read_nodes()
cur.mc, cur.lease = get(CONFIG), get(LEASE)

local function model()
   local nodes = {}
   for _, n in pairs(cur.nodes) do nodes[#nodes + 1] = n end
   return status.model(nodes, cur.mc, cur.lease, time.wall(), cfg.values.POD_NODE_NAME)
end

local tty = cfg.opts.watch and not cfg.opts.json and log.isatty("stdout")
local last -- what the last model drawn showed, without times: a change that changes none of it is not drawn
local function draw()
   local m = model()
   local key = json.encode { m.phase, m.paused, m.started, m.finished, m.counts, m.nodes,
      m.run ~= json.null and m.run.holder or false }
   if key == last then return m end
   last = key
   if cfg.opts.json then
      io.write(status.encode(m), "\n")
   else
      io.write(tty and "\27[H\27[2J" or (cfg.opts.watch and "\n" or ""), status.text(m))
   end
   io.flush()
   return m
end

local function finished(m) return m.phase == "done" or m.phase == "rolled back" end

local m = draw()
if not cfg.opts.watch or finished(m) then return end

-- --watch: one task per watch; any change redraws; the end closes every watch
local watches, over = {}, false
local function stop_all()
   over = true
   for _, w in ipairs(watches) do w:close() end
end

--- Follows a watch from rv, applying each event; relists (fresh) when the watch ends or fails.
local function follow(ref, rv, apply, fresh)
   return task.spawn(function()
      while not over do
         local w = c:watch { apiVersion = ref.apiVersion, kind = ref.kind, namespace = ref.namespace,
            fieldSelector = ref.name and ("metadata.name=" .. ref.name) or nil, resourceVersion = rv }
         watches[#watches + 1] = w
         pcall(function()
            for ev in w do
               if ev.type == "ERROR" then break end
               if ev.object and ev.object.metadata and ev.object.metadata.resourceVersion then
                  rv = ev.object.metadata.resourceVersion
               end
               if ev.type ~= "BOOKMARK" then
                  apply(ev)
                  if finished(draw()) then stop_all() end
               end
               if over then break end
            end
         end)
         w:close()
         if not over then rv = fresh() end
      end
   end)
end

local function one(ev) -- the object of a watch on one named object (nil when it was deleted)
   if ev.type == "DELETED" then return nil end
   if ev.type == "RELIST" then return (ev.object.items or {})[1] end
   return ev.object
end
local function rv_of(o) return o and o.metadata.resourceVersion or nil end

local tasks = {
   follow(NODES, cur.nodes_rv, function(ev)
      if ev.type == "RELIST" then
         cur.nodes = {}
         for _, n in ipairs(ev.object.items or {}) do cur.nodes[n.metadata.name] = n end
      else
         cur.nodes[ev.object.metadata.name] = ev.type ~= "DELETED" and ev.object or nil
      end
   end, function() read_nodes(); return cur.nodes_rv end),
   follow(CONFIG, rv_of(cur.mc), function(ev) cur.mc = one(ev) end,
      function() cur.mc = get(CONFIG); return rv_of(cur.mc) end),
   follow(LEASE, rv_of(cur.lease), function(ev) cur.lease = one(ev) end,
      function() cur.lease = get(LEASE); return rv_of(cur.lease) end),
}
for _, t in ipairs(tasks) do t:wait() end
