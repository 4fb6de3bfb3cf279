--- cm.prepare: the cluster's preparation, as Calico's controller does it (its §2.1 steps 5-15),
--- with its bugs fixed. Every step reads what is there and writes only what differs, so a run
--- killed anywhere is resumed by running it again. The objects are those of datamodel.md A.12.
---
--- Each function takes the run's context ctx = {c, cfg, snap, step = function(name, node, text)}
--- and returns nothing or raises (error(message, 0)) on a failure of the world.
local calico = require "cm.calico"
local cluster = require "cm.cluster"
local flannel = require "cm.flannel"
local hooks = require "cm.hooks"
local ip = require "cm.ip"
local json = require "cm.json"
local time = require "cm.time"

local M = {}

local G = calico.GROUP

local function fail(fmt, ...) error(fmt:format(...), 0) end

local function must(what, obj, msg, code)
   if obj == nil then fail("%s: %s (%s)", what, tostring(msg), tostring(code)) end
   return obj
end

--- RFC 3339 to the second, as metav1.Time serialises.
local function now_seconds() return (time.rfc3339():gsub("%.%d+Z$", "Z")) end

local function ref_of(o)
   return { apiVersion = o.apiVersion, kind = o.kind, name = o.metadata.name, namespace = o.metadata.namespace }
end

--- The subnet.env text to keep: what was read, or the three values Calico needs.
local function subnet_env_text(ctx)
   local v = ctx.cfg.values
   if v.FLANNEL_SUBNET_ENV ~= "" then return v.FLANNEL_SUBNET_ENV end
   local saved = ctx.snap.migration_config and ctx.snap.migration_config.data
      and ctx.snap.migration_config.data.flannel_subnet_env
   if saved and saved ~= "" then return saved end
   return ("FLANNEL_NETWORK=%s;FLANNEL_MTU=%d;FLANNEL_IPMASQ=%s;"):format(v.FLANNEL_NETWORK, v.FLANNEL_MTU,
      tostring(v.FLANNEL_IP_MASQ))
end

--- The settings as saved in the ConfigMap: {NAME: {value, source}}.
local function settings_json(cfg)
   local t = {}
   for name, value in pairs(cfg.values) do t[name] = { value = value, source = cfg.sources[name] } end
   return json.encode(t)
end

--- Writes keys of ConfigMap flannel-migration-config (created when missing).
---@param ctx table
---@param data table key -> string
function M.migration_config(ctx, data)
   local c, ns = ctx.c, ctx.cfg.values.CALICO_DAEMONSET_NAMESPACE
   local cur = ctx.snap.migration_config
   if not cur then
      local obj = { apiVersion = "v1", kind = "ConfigMap", metadata = { name = calico.MIGRATION_CONFIGMAP,
         namespace = ns, labels = { ["app.kubernetes.io/name"] = "cni-migrate" } }, data = data }
      ctx.snap.migration_config = must("create ConfigMap " .. calico.MIGRATION_CONFIGMAP, c:create(obj))
      return true
   end
   local diff = {}
   for k, val in pairs(data) do
      if (cur.data or {})[k] ~= val then diff[k] = val end
   end
   if next(diff) == nil then return false end
   ctx.snap.migration_config = must("patch ConfigMap " .. calico.MIGRATION_CONFIGMAP,
      c:patch(ref_of(cur), { data = diff }, { type = "merge" }))
   return true
end

--- Keys of flannel-migration-config that rollback reads: flannel's nodeSelector as it was before
--- the migration's (JSON, "null" for none), the IP pool the migration creates ("" if it kept one),
--- and the pool it replaces (Canal's, as JSON: name, labels, annotations and spec; "" for none).
M.KEY_FLANNEL_SELECTOR = "cni-migrate.flannel-node-selector"
M.KEY_POOL_CREATED = "cni-migrate.pool-created"
M.KEY_POOL_REPLACED = "cni-migrate.pool-replaced"
--- The phase a finished rollback leaves.
M.ROLLED_BACK = "rolled-back"

--- Whether M.pool replaces pool p, which is in the migration's CIDR but not what it needs: Canal's
--- pool without VXLAN (Calico's controller does the same); any other mismatch is a failure.
local function replaced(ctx, p) return ctx.snap.flannel_info.canal and p.spec.vxlanMode ~= "Always" end

--- Whether a pool named name is there.
local function has_pool(pools, name)
   for _, p in ipairs(pools) do
      if p.metadata.name == name then return true end
   end
   return false
end

--- Saves flannel's settings (Calico's flannel_subnet_env, and ours) and marks the phase.
function M.save_config(ctx)
   local data = { flannel_subnet_env = subnet_env_text(ctx), ["cni-migrate.settings"] = settings_json(ctx.cfg),
      ["cni-migrate.phase"] = "prepare" }
   local mc = ctx.snap.migration_config
   local md = mc and mc.data or {}
   local again = md["cni-migrate.phase"] == M.ROLLED_BACK -- a migration after a rollback starts anew
   if again or not md["cni-migrate.started"] then data["cni-migrate.started"] = time.rfc3339() end
   if md["cni-migrate.phase"] and md["cni-migrate.phase"] ~= "prepare" and not again then
      data["cni-migrate.phase"] = nil -- a resumed run keeps its later phase
   end
   if again or not md[M.KEY_FLANNEL_SELECTOR] then -- for rollback: the nodeSelector before ours
      local sel = {}
      for k, val in pairs(ctx.snap.flannel_ds.spec.template.spec.nodeSelector or {}) do
         if k ~= calico.LABEL_NETWORK then sel[k] = val end
      end
      data[M.KEY_FLANNEL_SELECTOR] = ctx.snap.flannel_ds.spec.template.spec.nodeSelector
         and json.encode(json.object(sel)) or "null"
   end
   -- written before M.pool changes a pool: "" when one is kept. After a rollback that left the
   -- pool an earlier migration made (and the copy of the one it replaced), those stay the record.
   local made = md[M.KEY_POOL_CREATED]
   if made == nil or (again and not (made ~= "" and has_pool(ctx.snap.pools, made))) then
      local want, kept, old = calico.pool_spec(ctx.cfg), false, nil
      for _, p in ipairs(ctx.snap.pools) do
         if p.spec.cidr == want.cidr then
            if not calico.pool_mismatch(p.spec, want) then kept = true elseif replaced(ctx, p) then old = p end
         end
      end
      data[M.KEY_POOL_CREATED] = kept and "" or calico.POOL_V4
      data[M.KEY_POOL_REPLACED] = old and json.encode { metadata = { name = old.metadata.name,
         labels = old.metadata.labels, annotations = old.metadata.annotations }, spec = old.spec } or ""
   end
   if M.migration_config(ctx, data) then ctx.step("save-config", nil, "ConfigMap " .. calico.MIGRATION_CONFIGMAP) end
end

--- calico-config veth_mtu = FLANNEL_MTU.
function M.veth_mtu(ctx)
   local cc = must("ConfigMap calico-config", ctx.snap.calico_config or nil, "missing", "NotFound")
   local want = tostring(ctx.cfg.values.FLANNEL_MTU)
   if (cc.data or {}).veth_mtu == want then return end
   ctx.snap.calico_config = must("patch calico-config", ctx.c:patch(ref_of(cc), { data = { veth_mtu = want } },
      { type = "merge" }))
   ctx.step("veth-mtu", nil, "calico-config veth_mtu=" .. want)
end

--- Whether VXLAN must be held off: some node lacks its VTEP data and none has left flannel yet
--- (once one runs Calico, turning VXLAN off would take it down there: Calico's restart hazard).
local function hold_vxlan(ctx)
   local missing = false
   for _, n in ipairs(ctx.snap.nodes) do
      local net = (n.metadata.labels or {})[calico.LABEL_NETWORK]
      if net == "none" or net == "calico" then return false end
      if not (n.metadata.annotations or {})[calico.ANN_VXLAN_MAC] then missing = true end
   end
   return missing
end

--- FelixConfiguration default: flannel's VNI, port and MTU; vxlanEnabled false until every
--- node's VTEP data is written (see hold_vxlan).
function M.felix(ctx)
   local v = ctx.cfg.values
   local want = { vxlanVNI = v.FLANNEL_VNI, vxlanPort = v.FLANNEL_PORT, vxlanMTU = v.FLANNEL_MTU }
   local off = hold_vxlan(ctx)
   if off then want.vxlanEnabled = false end
   local fc = ctx.snap.felix
   if not fc then
      local spec = { bpfConnectTimeLoadBalancing = "TCP", bpfHostNetworkedNATWithoutCTLB = "Enabled",
         floatingIPs = "Disabled" }
      for k, val in pairs(want) do spec[k] = val end
      ctx.felix_dry = ctx.dry_run -- a dry run's create leaves nothing to patch later
      ctx.snap.felix = must("create FelixConfiguration default", ctx.c:create { apiVersion = G,
         kind = "FelixConfiguration", metadata = { name = "default", annotations = {
            ["projectcalico.org/metadata"] = json.encode { creationTimestamp = now_seconds() } } }, spec = spec })
      ctx.step("felix-vxlan", nil, ("FelixConfiguration default created: vni %d, port %d, mtu %d%s"):format(
         want.vxlanVNI, want.vxlanPort, want.vxlanMTU, off and ", vxlanEnabled false" or ""))
      return
   end
   local diff = {}
   for k, val in pairs(want) do
      if fc.spec[k] ~= val then diff[k] = val end
   end
   if next(diff) == nil then return end
   ctx.snap.felix = must("patch FelixConfiguration default", ctx.c:patch(ref_of(fc), { spec = diff },
      { type = "merge" }))
   ctx.step("felix-vxlan", nil, "FelixConfiguration default: " .. json.encode(diff))
end

--- vxlanEnabled cleared: Felix derives VXLAN from the pool from now on.
function M.felix_clear(ctx)
   local fc = ctx.snap.felix
   if not fc or fc.spec.vxlanEnabled == nil or ctx.felix_dry then return end
   ctx.snap.felix = must("patch FelixConfiguration default", ctx.c:patch(ref_of(fc),
      { spec = { vxlanEnabled = json.null } }, { type = "merge" }))
   ctx.step("felix-vxlan-on", nil, "FelixConfiguration default: vxlanEnabled cleared")
end

--- The IP pool: an existing compatible one is kept; Canal's non-VXLAN one is replaced.
function M.pool(ctx)
   local want = calico.pool_spec(ctx.cfg)
   for _, p in ipairs(ctx.snap.pools) do
      if p.spec.cidr == want.cidr then
         local bad = calico.pool_mismatch(p.spec, want)
         if not bad then return end
         if not replaced(ctx, p) then
            fail("IPPool %s: %s", p.metadata.name, bad)
         end
         must("delete IPPool " .. p.metadata.name,
            ctx.c:delete { apiVersion = G, kind = "IPPool", name = p.metadata.name })
         ctx.step("ippool", nil, ("IPPool %s deleted (Canal's, %s)"):format(p.metadata.name, bad))
      end
   end
   local created = must("create IPPool " .. calico.POOL_V4, ctx.c:create { apiVersion = G, kind = "IPPool",
      metadata = { name = calico.POOL_V4, annotations = {
         ["projectcalico.org/metadata"] = json.encode { creationTimestamp = now_seconds() } } }, spec = want })
   ctx.snap.pools[#ctx.snap.pools + 1] = created
   ctx.step("ippool", nil, ("IPPool %s: %s, blockSize %d, natOutgoing %s, vxlanMode Always"):format(
      calico.POOL_V4, want.cidr, want.blockSize, tostring(want.natOutgoing)))
end

--- Creates obj, or returns the existing one when it is there already: object, created.
local function create_or_get(c, obj)
   local o, msg, code = c:create(obj)
   if o then return o, true end
   if code ~= "AlreadyExists" then fail("create %s %s: %s (%s)", obj.kind, obj.metadata.name, tostring(msg),
      tostring(code)) end
   return must("get " .. obj.kind .. " " .. obj.metadata.name, c:get(ref_of(obj))), false
end

--- The tunnel address handle: created holding one address in block, or its count raised.
local function ensure_handle(ctx, node, block_cidr)
   local h = create_or_get(ctx.c, calico.tunnel_handle(node, block_cidr))
   if (h.spec.block or {})[block_cidr] then return end
   h.spec.block = h.spec.block or {}
   h.spec.block[block_cidr] = 1
   must("update IPAMHandle " .. h.metadata.name, ctx.c:update(h))
end

--- One node's IPAM: host affinity for every block of its podCIDR, the VTEP address (the
--- podCIDR's network address) assigned with handle vxlan-tunnel-addr-NODE, then Calico's node
--- data (IPv4Address public-ip/32, the VTEP address and flannel's VtepMAC) and the network=flannel
--- label of a node that has no migration label yet, in one patch. A block affine to another node
--- is an error naming both. Returns whether anything was written.
---@param ctx table
---@param n table the Node
---@return boolean
function M.node_ipam(ctx, n)
   local c, v = ctx.c, ctx.cfg.values
   local name = n.metadata.name
   local info, err = flannel.node_info(n, v.FLANNEL_ANNOTATION_PREFIX)
   if not info then fail("%s", err) end
   if info.backend_type ~= "vxlan" then fail("node %s: flannel backend %s, not vxlan", name,
      tostring(info.backend_type)) end
   local size = math.max(v.FLANNEL_SUBNET_LEN, v.DEFAULT_IPPOOL_SIZE)
   local blocks = calico.blocks(info.pod_cidr, size)
   if #blocks == 0 then fail("node %s: podCIDR %s is smaller than a /%d block", name, info.pod_cidr, size) end
   local vtep = ip.host(info.pod_cidr, 0)
   local confirmed = ctx.affinities
   local wrote = false
   local claim_time = now_seconds()
   local seq0 = math.tointeger(math.floor(time.wall() * 1e6)) * 1000
   for i, b in ipairs(blocks) do
      local aff = must("BlockAffinity", calico.affinity(name, b, "confirmed"))
      if not (confirmed[aff.metadata.name] == name and not ctx.recheck) then
         -- the block is the claim: whoever creates it owns it; its confirmed affinity follows
         if i == 1 then ensure_handle(ctx, name, b) end
         local blk = calico.block(name, b, claim_time, seq0 + i - 1)
         if i == 1 then calico.assign_tunnel(blk, 0, name) end
         local got, created = create_or_get(c, blk)
         if not created then
            if got.spec.affinity ~= "host:" .. name then
               fail("block %s of node %s is affine to %s (IPAMBlock %s)", b, name,
                  tostring(got.spec.affinity):gsub("^host:", ""), got.metadata.name)
            end
            if i == 1 then
               local changed, taken = calico.assign_tunnel(got, 0, name)
               if taken then fail("node %s: VTEP address %s is taken by %s", name, vtep, taken) end
               if changed then must("update IPAMBlock " .. got.metadata.name, c:update(got)) end
            end
         end
         local a, made = create_or_get(c, aff)
         if not made and (a.spec.node ~= name or a.spec.state ~= "confirmed") then
            if a.spec.node ~= name then fail("block %s of node %s is affine to %s", b, name, a.spec.node) end
            a.spec.state = "confirmed"
            must("update BlockAffinity " .. a.metadata.name, c:update(a))
         end
         wrote = true
      end
   end
   local ann = n.metadata.annotations or {}
   local want = { [calico.ANN_IPV4] = info.public_ip:match("/") and info.public_ip or info.public_ip .. "/32",
      [calico.ANN_VXLAN_ADDR] = vtep, [calico.ANN_VXLAN_MAC] = info.vtep_mac }
   local diff = {}
   for k, val in pairs(want) do
      if ann[k] ~= val then diff[k] = val end
   end
   local labels = n.metadata.labels or {}
   local label = labels[calico.LABEL_NETWORK] == nil and { [calico.LABEL_NETWORK] = "flannel" } or nil
   if next(diff) or label then
      must("patch Node " .. name, c:patch({ apiVersion = "v1", kind = "Node", name = name },
         { metadata = { annotations = next(diff) and diff or nil, labels = label } }, { type = "merge" }))
      for k, val in pairs(diff) do ann[k] = val end
      n.metadata.annotations = ann
      if label then
         labels[calico.LABEL_NETWORK] = "flannel"
         n.metadata.labels = labels
      end
      wrote = true
   end
   if wrote then
      ctx.step("node-ipam", name, ("%d block(s) of %s, VTEP %s %s"):format(#blocks, info.pod_cidr, vtep,
         info.vtep_mac))
   end
   return wrote
end

--- Nodes that join while the nodes migrate: each is labelled network=flannel as soon as the run
--- sees it (a list, then a watch of Nodes), so that flannel's DaemonSet, which by then selects only
--- labelled nodes, gives it a network at once; its IPAM and migration come at its turn. Without
--- this, pods the drains evict could be scheduled onto it with no network at all, and a drain
--- waiting on their PodDisruptionBudget would wait for a node that only gets its turn after it.
--- Returns {close = fn}.
---@param ctx table
---@return table
function M.label_joined(ctx)
   local c = ctx.c
   local done = {}
   local function seen(n)
      local name = n.metadata and n.metadata.name
      if not name or done[name] or (n.metadata.labels or {})[calico.LABEL_NETWORK] ~= nil then return end
      -- Calico's node data: not a node that joined (its label removed by hand); its turn decides
      if (n.metadata.annotations or {})[calico.ANN_VXLAN_ADDR] then return end
      done[name] = true
      local ok, msg, code = c:patch({ apiVersion = "v1", kind = "Node", name = name },
         { metadata = { labels = { [calico.LABEL_NETWORK] = "flannel" } } }, { type = "merge" })
      if ok then
         ctx.step("joined", name, calico.LABEL_NETWORK .. "=flannel: a node that joined gets flannel now, "
            .. "Calico at its turn")
      elseif code ~= "NotFound" then
         done[name] = nil -- seen again on its next change
         require("cm.log").warn("a joined node could not be labelled", { node = name, error = tostring(msg),
            code = tostring(code) })
      end
   end
   local ok, rv, code = cluster.walk_nodes(c, function(n) if n then seen(n) end end)
   must("list Nodes", ok, rv, code)
   return require("cm.schedule").follow(c, { apiVersion = "v1", kind = "Node" }, rv,
      function(ev)
         if ev.type == "RELIST" then
            for _, n in ipairs(ev.object.items or {}) do seen(n) end
         elseif ev.type ~= "DELETED" and ev.object then
            seen(ev.object)
         end
      end)
end

--- flannel's DaemonSet only on nodes labelled flannel (its other selectors kept).
function M.flannel_selector(ctx)
   local ds = ctx.snap.flannel_ds
   local sel = ds.spec.template.spec.nodeSelector or {}
   if sel[calico.LABEL_NETWORK] == "flannel" then return end
   ctx.snap.flannel_ds = must("patch DaemonSet " .. ds.metadata.name, ctx.c:patch(ref_of(ds),
      { spec = { template = { spec = { nodeSelector = { [calico.LABEL_NETWORK] = "flannel" } } } } },
      { type = "strategic" }))
   ctx.step("flannel-selector", nil, ("DaemonSet %s/%s nodeSelector %s=flannel"):format(ds.metadata.namespace,
      ds.metadata.name, calico.LABEL_NETWORK))
end

--- Runs fn(node) for every node, M.PARALLEL at a time (cm.task); the first failure raises
--- once the others have stopped.
M.PARALLEL = 8
function M.each_node(nodes, fn)
   local task = require "cm.task"
   local next_i, failure = 1, nil
   local function worker()
      while not failure and next_i <= #nodes do
         local n = nodes[next_i]
         next_i = next_i + 1
         local ok, err = pcall(fn, n)
         if not ok then failure = failure or err end
      end
      return true
   end
   local workers = {}
   for i = 1, math.min(M.PARALLEL, #nodes) do workers[i] = task.spawn(worker) end
   for _, w in ipairs(workers) do
      local ok, err = w:wait()
      if not ok then failure = failure or err end
   end
   if failure then error(failure, 0) end
end

--- The whole preparation, in Calico's order; each step is a cluster step for the site's hooks.
---@param ctx table
function M.run(ctx)
   -- the affinities confirmed when the run read the cluster: name -> node (what each node's IPAM
   -- finds done); those it makes are not kept, as no node's IPAM is made twice in a run
   ctx.affinities = {}
   for _, a in ipairs(ctx.snap.affinities) do
      if a.spec.state == "confirmed" then ctx.affinities[a.metadata.name] = a.spec.node end
   end
   hooks.step(ctx, "save-config", M.save_config)
   hooks.step(ctx, "veth-mtu", M.veth_mtu)
   hooks.step(ctx, "felix-vxlan", M.felix)
   hooks.step(ctx, "ippool", M.pool)
   hooks.step(ctx, "node-ipam", function()
      M.each_node(ctx.snap.nodes, function(n) M.node_ipam(ctx, n) end)
   end)
   hooks.step(ctx, "felix-vxlan-on", M.felix_clear)
   hooks.step(ctx, "flannel-selector", M.flannel_selector)
end

return M
