--- cm.invariants: what a migration (or a rollback) must never do, checked in a rehearsal after
--- every change of the simulated cluster (cm.fake.on_change). The first change that breaks one
--- is reported with its virtual time and the objects involved (cm.fake.violation), and the
--- rehearsal then exits 1 whatever the procedure says.
---
---   restart     only pods on nodes being migrated (labelled in progress) restart: a running
---               pod that is not hostNetwork is deleted or evicted nowhere else
---   pod-ip      a pod keeps its IP: its status.podIP never changes to another address
---   cordoned    never more nodes cordoned by us (annotation cni-migrate.dev/cordoned) than
---               allowed: --max-unavailable (N or P% of the nodes), 1 without it
---   placeholder no pod that is not hostNetwork becomes Running on a node whose active CNI
---               config is the migration's placeholder (it would have no network)
---   affinity    a node's podCIDR is covered by IPAM blocks affine to it (BlockAffinity,
---               confirmed) when it is switched to Calico (labelled network=calico)
---   reach       Running pods on different nodes (neither being migrated) reach each other, each
---               under its own address (not masqueraded by a leftover flannel chain), per
---               the dataplane model (cm.dataplane) over the simulated hosts: REACH_PAIRS pairs
---               drawn at most every REACH_EVERY seconds of virtual time, and at the summary
---
--- Only the objects' changes are read, and each node's simulated host at a pod's start: the
--- checks keep their own small indexes, so a 1,000-node rehearsal stays fast.
local calico = require "cm.calico"
local dataplane = require "cm.dataplane"
local fake = require "cm.fake"
local ip = require "cm.ip"
local json = require "cm.json"
local time = require "cm.time"

local M = {}

M.NAMES = { "restart", "pod-ip", "cordoned", "placeholder", "affinity", "reach" }
M.REACH_PAIRS = 8
M.REACH_EVERY = 10
M.ANN_CORDONED = "cni-migrate.dev/cordoned" -- cm.nodestep's; here too so this module stands alone

local state -- nil until watch(); then the indexes and the results

--- The most nodes we may have cordoned: max (the --max-unavailable of cm.config, {count =} or
--- {percent =}; or its text, "N" or "P%"; nil: 1) of total nodes, as cm.schedule counts them.
---@param max table|string|integer|nil
---@param total integer
---@return integer
function M.allowance(max, total)
   if type(max) ~= "table" then
      max = max and require("cm.config").KINDS.unavailable(tostring(max)) or { count = 1 }
   end
   return require("cm.schedule").slots(max, total)
end

--- --max-unavailable as given: "3", "10%".
local function limit_text(max)
   if type(max) ~= "table" then return tostring(max or 1) end
   return max.percent and (max.percent .. "%") or tostring(max.count)
end

local function name_of(o)
   local md = o.metadata or {}
   return md.namespace and (md.namespace .. "/" .. md.name) or md.name
end

--- Records a broken invariant: the first of each kind is reported (logged with the time, the
--- run fails); the later ones are counted.
local function broken(inv, fmt, ...)
   local r = state.results[inv]
   r.broken = r.broken + 1
   if r.broken == 1 then
      r.first = fmt:format(...)
      r.at = time.now()
      fake.violation(("%s: %s"):format(inv, r.first))
   end
end

local function node_changed(typ, n)
   local name = n.metadata.name
   local nodes = state.nodes
   if typ == "DELETED" then
      nodes[name] = nil
      state.count = state.count - 1
      return
   end
   local labels, ann = n.metadata.labels or {}, n.metadata.annotations or {}
   local old = nodes[name]
   if not old then state.count = state.count + 1 end
   local now = { busy = labels[calico.LABEL_IN_PROGRESS] == "true", net = labels[calico.LABEL_NETWORK],
      ours = n.spec and n.spec.unschedulable == true and ann[M.ANN_CORDONED] ~= nil, cidr = n.spec and n.spec.podCIDR }
   for _, a in ipairs(n.status and n.status.addresses or {}) do
      if a.type == "InternalIP" and ip.parse(a.address) == 4 then now.ip = a.address end
   end
   nodes[name] = now
   if now.ours ~= (old and old.ours or false) then
      state.cordoned = state.cordoned + (now.ours and 1 or -1)
      local allowed = M.allowance(state.max, state.count)
      if now.ours and state.cordoned > allowed then
         local list = {}
         for k, v in pairs(nodes) do if v.ours then list[#list + 1] = k end end
         table.sort(list)
         broken("cordoned", "%d nodes cordoned by the migration (%s), at most %d allowed (--max-unavailable %s)",
            state.cordoned, table.concat(list, ", "), allowed, limit_text(state.max))
      end
   end
   if now.net == "calico" and (old and old.net) ~= "calico" and old then
      M.check_affinity(name, now.cidr)
   end
end

--- Whether the IPv4 cidr is covered by the blocks (CIDRs) given.
local function covered(cidr, blocks)
   local want = ip.cidr(cidr)
   if not want or want.family ~= 4 then return true end -- IPv6 podCIDRs: not checked
   local sum, seen = 0, {}
   for b in pairs(blocks) do
      local bc = ip.cidr(b)
      if bc and bc.family == 4 and not seen[b] then
         seen[b] = true
         if bc.prefix <= want.prefix and ip.contains(b, cidr) then return true end
         if bc.prefix > want.prefix and ip.contains(cidr, b) then sum = sum + (1 << (32 - bc.prefix)) end
      end
   end
   return sum >= (1 << (32 - want.prefix))
end

--- The affinity invariant for a node switching to Calico now.
function M.check_affinity(name, cidr)
   if not cidr then return end
   local blocks = state.affine[name] or {}
   if not covered(cidr, blocks) then
      local have = {}
      for b in pairs(blocks) do have[#have + 1] = b end
      table.sort(have)
      broken("affinity", "node %s switched to Calico (%s=calico) with podCIDR %s not covered by blocks affine "
         .. "to it (confirmed BlockAffinities: %s)", name, calico.LABEL_NETWORK, cidr,
         #have > 0 and table.concat(have, ", ") or "none")
   end
end

local function affinity_changed(typ, a)
   local spec = a.spec or {}
   local node, cidr = spec.node, spec.cidr
   if not node or not cidr then return end
   local set = state.affine[node] or {}
   state.affine[node] = set
   local live = typ ~= "DELETED" and spec.state == "confirmed" and spec.deleted ~= "true" and spec.deleted ~= true
   set[cidr] = live or nil
end

--- Whether the active CNI config of node's simulated host is the migration's placeholder.
local function placeholder_active(node)
   local host = fake.host(node)
   if not host then return false end
   local path = host:cni_active()
   local text = path and host:read(path)
   local conf = text and json.decode(text)
   local first = type(conf) == "table" and type(conf.plugins) == "table" and conf.plugins[1]
   return type(first) == "table" and first.type == calico.PLACEHOLDER_PLUGIN, path
end

local function running(p)
   return p and p.status and p.status.phase == "Running"
end

--- The Running pods (not hostNetwork, with an IP) as a list the reach check draws from.
local function track_running(p, live)
   local set, uid = state.running, p.metadata.uid
   local at = set.at[uid]
   if live and not at then
      set[#set + 1] = { uid = uid, ip = p.status.podIP, node = p.spec.nodeName, name = name_of(p) }
      set.at[uid] = #set
   elseif not live and at then
      local last = set[#set]
      set[at], set.at[last.uid] = last, at
      set[#set], set.at[uid] = nil, nil
   end
end

local function pod_changed(typ, p, prev)
   local spec, md = p.spec or {}, p.metadata
   if spec.hostNetwork then return end
   track_running(p, typ ~= "DELETED" and not md.deletionTimestamp and running(p) and p.status.podIP ~= nil
      and spec.nodeName ~= nil)
   local node = spec.nodeName
   local old_ip, new_ip = prev and prev.status and prev.status.podIP, p.status and p.status.podIP
   if old_ip and new_ip and old_ip ~= "" and new_ip ~= "" and old_ip ~= new_ip then
      broken("pod-ip", "pod %s on node %s changed its IP from %s to %s", name_of(p), tostring(node), old_ip, new_ip)
   end
   local phase = p.status and p.status.phase
   local ended = state.ended
   local ends = (typ == "DELETED" or md.deletionTimestamp) and not ended[md.uid]
   if typ == "DELETED" then ended[md.uid] = nil elseif ends then ended[md.uid] = true end
   if ends and node and phase == "Running" then
      local n = state.nodes[node]
      if not (n and n.busy) then
         broken("restart", "pod %s was %s on node %s, which is not being migrated (no %s=true); its IP was %s",
            name_of(p), typ == "DELETED" and "deleted" or "deleted (evicted or terminating)", node,
            calico.LABEL_IN_PROGRESS, tostring(new_ip))
      end
   end
   if node and typ ~= "DELETED" and running(p) and not running(prev) then
      local ph, path = placeholder_active(node)
      if ph then
         broken("placeholder", "pod %s became Running on node %s while its active CNI config %s is the migration's "
            .. "placeholder (no network)", name_of(p), node, tostring(path))
      end
   end
end

--- A draw from the check's own generator (xorshift: the same pairs on every run of a seed).
local function draw(n)
   local x = state.rand
   x = x ~ (x << 13) & 0xffffffff
   x = x ~ (x >> 17)
   x = x ~ (x << 5) & 0xffffffff
   state.rand = x
   return x % n + 1
end

--- Whether a node's pods are Calico's (cm.dataplane.calico_networked of its host).
local function calico_networked(node)
   local host = fake.host(node)
   return host ~= nil and dataplane.calico_networked(host)
end

--- The reach invariant on REACH_PAIRS pairs drawn now (the hosts read in place as the walks need
--- them: cm.dataplane.view).
function M.check_reach()
   local pods = state.running
   state.last_reach = time.now()
   if #pods < 2 then return end
   local by_ip, cal = {}, {}
   for name, n in pairs(state.nodes) do if n.ip then by_ip[n.ip] = name end end
   local states = setmetatable({}, { __index = function(t, node)
      local h = state.nodes[node] and fake.host(node)
      t[node] = h and dataplane.view(h) or false
      return t[node]
   end })
   local net = dataplane.network(states, by_ip)
   state.reach_checks = state.reach_checks + 1
   for _ = 1, M.REACH_PAIRS * 4 do
      if state.reach_tried >= state.reach_checks * M.REACH_PAIRS then break end
      local a, b = pods[draw(#pods)], pods[draw(#pods)]
      local na, nb = state.nodes[a.node], state.nodes[b.node]
      if a.node ~= b.node and na and nb and not na.busy and not nb.busy then
         state.reach_tried = state.reach_tried + 1
         if cal[a.node] == nil then cal[a.node] = calico_networked(a.node) end
         if cal[b.node] == nil then cal[b.node] = calico_networked(b.node) end
         local ok, why, _, seen = dataplane.reach(net, { ip = a.ip, node = a.node, calico = cal[a.node] },
            { ip = b.ip, node = b.node, calico = cal[b.node] })
         if not ok then
            broken("reach", "pod %s (%s on %s) cannot reach pod %s (%s on %s) per the dataplane model: %s", a.name,
               a.ip, a.node, b.name, b.ip, b.node, why)
         elseif seen then
            broken("reach", "pod %s (%s on %s) reaches pod %s (%s on %s) under another source address, which a "
               .. "NetworkPolicy admitting it would drop (calico#12920), per the dataplane model: %s", a.name, a.ip,
               a.node, b.name, b.ip, b.node, seen)
         end
      end
   end
end

local HANDLERS = { Node = node_changed, BlockAffinity = affinity_changed, Pod = pod_changed }
--- What the handlers read of each kind's objects (fake.on_change copies only that much).
local FIELDS = {
   Node = { "kind", "metadata.name", "metadata.labels", "metadata.annotations", "spec.unschedulable", "spec.podCIDR",
      "status.addresses" },
   BlockAffinity = { "kind", "spec.node", "spec.cidr", "spec.state", "spec.deleted" },
   Pod = { "kind", "metadata.name", "metadata.namespace", "metadata.uid", "metadata.deletionTimestamp",
      "spec.hostNetwork", "spec.nodeName", "status.phase", "status.podIP" },
}

--- Starts checking, in a --fake run (elsewhere nothing happens). Call it before the first write.
---@param opts table|nil {max_unavailable = cm.config's {count =}|{percent =}, or "N"|"P%"|nil}
---@return boolean watching whether the run is a rehearsal (the checks are on)
function M.watch(opts)
   opts = opts or {}
   if state then
      state.max = opts.max_unavailable or state.max
      return true
   end
   local list = fake.request and pcall(fake.request, "GET", "/api/v1/nodes")
   if not list then return false end
   state = { nodes = {}, affine = {}, ended = {}, running = { at = {} }, rand = 2463534242, last_reach = time.now(),
      reach_checks = 0, reach_tried = 0, count = 0, cordoned = 0, changes = 0, results = {},
      max = opts.max_unavailable }
   for _, inv in ipairs(M.NAMES) do state.results[inv] = { broken = 0 } end
   for _, n in ipairs(fake.request("GET", "/api/v1/nodes").items) do node_changed("ADDED", n) end
   local affs = fake.request("GET", "/apis/crd.projectcalico.org/v1/blockaffinities")
   for _, a in ipairs(affs and affs.items or {}) do affinity_changed("ADDED", a) end
   state.cordoned_at_start = state.cordoned
   for _, p in ipairs(fake.request("GET", "/api/v1/pods").items) do pod_changed("ADDED", p, nil) end
   local function changed(typ, obj, prev)
      state.changes = state.changes + 1
      HANDLERS[obj.kind](typ, obj, prev)
      if time.now() - state.last_reach >= M.REACH_EVERY then M.check_reach() end
   end
   for kind, fields in pairs(FIELDS) do fake.on_change({ kind }, changed, fields) end
   return true
end

--- The results so far: nil when not watching, else {changes = n, list = {{name, broken, first, at}}}.
---@return table|nil
function M.results()
   if not state then return nil end
   local list = {}
   for _, inv in ipairs(M.NAMES) do
      local r = state.results[inv]
      list[#list + 1] = { name = inv, broken = r.broken, first = r.first, at = r.at }
   end
   return { changes = state.changes, list = list, reach_pairs = state.reach_tried, reach_checks = state.reach_checks }
end

--- One line per invariant, for a procedure's summary.
---@return string[]
function M.summary()
   if state then M.check_reach() end -- the end state too
   local res = M.results()
   if not res then return {} end
   local out = { ("Safety invariants, checked after each of %d change(s) of the simulated cluster:"):format(
      res.changes) }
   for _, r in ipairs(res.list) do
      local sample = r.name == "reach" and (" (%d pair(s) sampled in %d check(s))"):format(res.reach_pairs,
         res.reach_checks) or ""
      out[#out + 1] = r.broken == 0 and ("  %-12s held%s"):format(r.name, sample)
         or ("  %-12s BROKEN %d time(s); first at +%.1fs: %s"):format(r.name, r.broken, r.at, r.first)
   end
   return out
end

return M
