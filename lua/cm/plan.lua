--- cm.plan: what a run is about to do. survey() reads the settings and the cluster and runs the
--- preflight checks (shared by `preflight` and `migrate`); order() is the order nodes migrate in;
--- state() says where a node is in the label protocol.
local calico = require "cm.calico"
local checks = require "cm.checks"
local cluster = require "cm.cluster"
local config = require "cm.config"
local log = require "cm.log"
local time = require "cm.time"

local M = {}

--- Reads settings, cluster and checks.
---@param c userdata cm.k8s client
---@param cfg table cm.config.parse's result (resolved in place)
---@return table|nil survey {cfg, snap, results, contradictions, disagreements}
---@return string|nil message
---@return string|nil code
function M.survey(c, cfg)
   local snap, err, code = cluster.read(c, cfg)
   if not snap then return nil, err, code end
   -- node-facts looks at flannel.<VNI>: the VNI as given, else as net-conf.json says
   local vni = cfg.explicit.FLANNEL_VNI and cfg.values.FLANNEL_VNI or snap.net_conf and snap.net_conf.vni
      or cfg.values.FLANNEL_VNI
   snap.facts = M.node_facts(c, snap, cfg, vni)
   local env, env_source = cluster.saved_subnet_env(snap, cfg)
   if not env then env, env_source = cluster.facts_subnet_env(snap, cfg.values.POD_NODE_NAME) end
   local observed = cluster.observe(snap, env, env_source)
   local disagreements = cluster.disagreements(observed)
   local contradictions = config.resolve(cfg, observed)
   if snap.flannel_ds then
      -- the DaemonSet found is where the rest was read from
      cfg.values.FLANNEL_DAEMONSET_NAME = snap.flannel_ds.metadata.name
      cfg.values.FLANNEL_DAEMONSET_NAMESPACE = snap.flannel_ds.metadata.namespace
   end
   local results = checks.run(c, snap, cfg, contradictions, disagreements)
   return { cfg = cfg, snap = snap, results = results, subnet_env = env, subnet_env_source = env_source }
end

--- What node-facts reports from every node still on flannel, eight at a time: {name = result
--- | {error = msg, code = code}}; nil in a server dry run, which runs no node scripts (preflight then
--- says the node checks were not made).
---@return table|nil
function M.node_facts(c, snap, cfg, vni)
   if c:info().dryRun then return nil end
   local node = require "cm.node"
   local prepare = require "cm.prepare"
   local facts, todo = {}, {}
   for _, n in ipairs(snap.nodes) do
      local st = M.state(n)
      if st == "flannel" and cluster.node_ready(n) == "True" then todo[#todo + 1] = n end
   end
   -- one list and one watch follow every node-facts pod to its end (not a watch per pod)
   local ns = cfg.values.CALICO_DAEMONSET_NAMESPACE
   local pods <close> = node.pods(c, { namespace = ns, selector = "cni-migrate.dev/node-run=node-facts" })
   prepare.each_node(todo, function(n)
      local r, msg, code = node.run_on(c, n.metadata.name, "node-facts", { vni = vni,
         cni_dir = cfg.values.CNI_CONFIG_DIR }, { namespace = ns, timeout = cfg.opts.node_step_timeout, pods = pods })
      facts[n.metadata.name] = r and M.slim_facts(r) or { error = msg, code = code }
   end)
   return facts
end

--- What a run keeps of a node's node-facts result: what the checks and the settings read of it
--- (rp_filter, subnet.env, the active CNI config, flannel.<VNI>'s MAC, the flannel.* links' MTU),
--- so that a big cluster's results (links, counts, CNI files) cost a run little memory.
---@param r table node-facts' result
---@return table
function M.slim_facts(r)
   local links = {}
   for _, l in ipairs(r.links or {}) do
      if type(l.name) == "string" and l.name:match("^flannel%.") then
         links[#links + 1] = { name = l.name, mtu = l.mtu }
      end
   end
   local rpf = "net.ipv4.conf.all.rp_filter"
   return { sysctls = { [rpf] = (r.sysctls or {})[rpf] }, subnet_env = r.subnet_env, links = links,
      cni = r.cni and { active = r.cni.active }, flannel = r.flannel and { mac = r.flannel.mac } }
end

--- Where a node is in Calico's label protocol: "flannel" (not started), "none" or "calico" with
--- in_progress, or "done" (calico without in-progress).
---@param n table a Node
---@return string state
---@return boolean in_progress
function M.state(n)
   local l = n.metadata.labels or {}
   local net, busy = l[calico.LABEL_NETWORK], l[calico.LABEL_IN_PROGRESS] == "true"
   if net == "calico" and not busy then return "done", false end
   return net or "flannel", busy
end

--- The order nodes migrate in: a node a stopped run left in progress first (it is cordoned
--- already: starting another beside it would take two nodes out at once, as a rollback after a
--- migration killed half-way did), then workers by name, control-plane nodes by name, and the node
--- the controller runs on (POD_NODE_NAME), so that a restart retries the same node first and the
--- controller's own node goes last.
---@param nodes table[] Nodes
---@param pod_node string|nil
---@return string[] names
function M.order(nodes, pod_node)
   local workers, cps, own, busy = {}, {}, nil, {}
   for _, n in ipairs(nodes) do
      local name = n.metadata.name
      if select(2, M.state(n)) then
         busy[#busy + 1] = name
      elseif name == pod_node then
         own = name
      elseif cluster.is_control_plane(n) then
         cps[#cps + 1] = name
      else
         workers[#workers + 1] = name
      end
   end
   table.sort(busy)
   table.sort(workers)
   table.sort(cps)
   for _, name in ipairs(workers) do busy[#busy + 1] = name end
   for _, name in ipairs(cps) do busy[#busy + 1] = name end
   if own then busy[#busy + 1] = own end
   return busy
end

--- The timeline's line printer: time (virtual in a rehearsal), seconds since t0, node (or
--- "cluster"), step, what happened; nothing when text is nil. With --log-format json each line is
--- a log line instead (stderr, JSON: time, level "info", msg = what happened, node, step, elapsed).
--- With events (a list, for the report) each line is also kept there as {t, node, step, text}.
---@param t0 number time.now() at the start
---@param events table[]|nil
---@return fun(name: string, node: string|nil, text: string|nil)
function M.timeline(t0, events)
   local as_log = log.format() == "json"
   return function(name, node, text)
      if not text then return end
      if events then events[#events + 1] = { t = time.now(), node = node, step = name, text = text } end
      if as_log then
         local elapsed = math.floor((time.now() - t0) * 10 + 0.5) / 10
         log.info(text, { node = node or "cluster", step = name, elapsed = elapsed })
         return
      end
      print(("%s +%7.1fs  %-16s %-16s %s"):format(time.rfc3339(), time.now() - t0, node or "cluster", name, text))
   end
end

--- The summary's lines of each step's mean and longest duration over the nodes, in steps' order.
---@param durations table step -> {seconds...}
---@param steps string[]
---@return string[]
function M.step_summary(durations, steps)
   local out = {}
   for _, s in ipairs(steps) do
      local list = durations[s]
      if list then
         if #out == 0 then out[1] = "Per step (mean / longest over nodes):" end
         local sum, max = 0, 0
         for _, d in ipairs(list) do sum, max = sum + d, math.max(max, d) end
         out[#out + 1] = ("  %-16s %7.1f s  %7.1f s"):format(s, sum / #list, max)
      end
   end
   return out
end

return M
